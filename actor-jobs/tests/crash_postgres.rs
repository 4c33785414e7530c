//! The PostgreSQL kill test: worker processes on one PostgreSQL job queue are killed with `SIGKILL` at chosen moments
//! (in the middle of a slow job, between a job's side effect and its acknowledgement, right
//! after a claim), one is paused past its lease and resumed, one job always fails and one
//! aborts its process; afterwards every job is accounted for.
//!
//! A second case (`crash_postgres/unflushed.rs`) kills a process whose acknowledgements wait
//! unflushed in their batch: the jobs are redelivered, never lost, never reported done. A third
//! (`crash_postgres/traced.rs`) checks that a job run by another process continues the trace
//! of its enqueuer.
//!
//! A `harness = false` test that re-executes itself as its worker processes
//! (`ACTOR_TEST_CHILD=pg-worker`); it needs a server (`ACTOR_PG_URL`, and `ACTOR_PG_CONTROL` to
//! kill and restart it) and is skipped with a message without one, except under `CI=true`.
//!
//! Workers run a `Consumer` over a `PgQueue` and print what they do:
//! `claim <n> <attempt>`, `effect <n> <attempt>`, `done <n>`, `lost <n>` (a completion refused
//! because the lease was taken over). A job's side effect is a row of `pg_kill_effects`
//! (job number, key, attempt, worker), written before the job is completed.

#![expect(clippy::print_stdout, reason = "the crash test reports on stdout")]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use actor_core::actor;
use actor_jobs::{
    ConsumerSpec, EnqueueOptions, JobBackend, JobError, JobId, JobState, JobStatus, PgOptions,
    PgQueue, QueueOptions, RetryPolicy,
};
use actor_test_support::{BoxError, child_command, postgres_url, self_exe_child};
use serde::{Deserialize, Serialize};
use tokio_postgres::NoTls;

#[path = "crash_postgres/traced.rs"]
mod traced;
#[path = "crash_postgres/unflushed.rs"]
mod unflushed;

/// Prints one line to the parent, flushed at once.
fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

type Jobs = PgQueue<Work, u32>;

/// Jobs in the run, normal ones numbered `0..JOBS`.
const JOBS: u64 = 300;
/// Ordering keys.
const KEYS: u64 = 16;
/// Attempts allowed for the two bad jobs.
const ATTEMPTS: u32 = 3;
/// Attempts allowed for the others (a job can be caught in several killed processes).
const NORMAL_ATTEMPTS: u32 = 10;
/// The job killed in the middle (slow on its first attempt).
const KILL_SLOW: u64 = 40;
/// The job killed after its side effect, before its acknowledgement.
const KILL_AFTER_EFFECT: u64 = 100;
/// The job killed right after it was claimed.
const KILL_AFTER_CLAIM: u64 = 200;
/// The job whose worker is paused past its lease, then resumed.
const PAUSE: u64 = 250;
/// The job that fails on every attempt.
const ALWAYS_FAILS: u64 = 1_000;
/// The job that aborts its process on every attempt.
const ABORTS: u64 = 1_001;

/// How long a lease lasts in this test.
const LEASE: Duration = Duration::from_secs(5);

/// A job of the kill test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Work {
    /// The job's number.
    n: u64,
    /// How long it works on its first attempt, in milliseconds.
    first_ms: u64,
}

fn queue_options() -> QueueOptions {
    QueueOptions::new().visibility_timeout(LEASE).retry(RetryPolicy {
        max_attempts: NORMAL_ATTEMPTS,
        backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
    })
}

async fn open(url: &str, queue: &str, worker: &str) -> Result<PgQueue<Work, u32>, BoxError> {
    let options = PgOptions::new()
        .queue(queue_options())
        .connections(2)
        .poll_interval(Duration::from_millis(20))
        .worker(worker);
    Ok(PgQueue::connect(url, queue, options).await?)
}

struct Worker {
    effects: std::sync::Arc<tokio_postgres::Client>,
    queue: String,
}

#[actor]
impl Worker {
    async fn run(&mut self, work: actor_jobs::Work<Work, u32, Jobs>) {
        let Work { n, first_ms } = work.payload().clone();
        let attempt = work.attempt();
        say(format_args!("claim {n} {attempt}"));
        match n {
            ALWAYS_FAILS => {
                let _ = work.fail("always fails").await;
                return;
            }
            ABORTS => {
                say(format_args!("aborting"));
                std::process::abort();
            }
            _ => {}
        }
        // A target's special behaviour is for its first run, whichever attempt that is: an
        // earlier attempt may have died, unstarted, with a process killed for another job.
        let first_run = if n == PAUSE { attempt == 1 } else { self.effects_of(n).await == Some(0) };
        if first_run {
            if n == KILL_AFTER_CLAIM {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            tokio::time::sleep(Duration::from_millis(first_ms)).await;
        }
        if n != PAUSE
            && let Err(JobError::LeaseLost(_)) = work.extend().await
        {
            // Fence the side effect: a worker whose lease was taken over does nothing more.
            say(format_args!("lost {n}"));
            return;
        }
        let key = work.key().unwrap_or_default().to_owned();
        let recorded = self
            .effects
            .execute(
                "INSERT INTO pg_kill_effects (queue, n, key, attempt, worker) VALUES ($1, $2, $3, $4, $5)",
                &[&self.queue, &(n as i64), &key, &(attempt as i32), &(std::process::id() as i64)],
            )
            .await;
        if recorded.is_err() {
            return;
        }
        say(format_args!("effect {n} {attempt}"));
        if n == KILL_AFTER_EFFECT && first_run {
            // The parent kills this process now, before the acknowledgement.
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        match work.complete(std::process::id()).await {
            Ok(()) => say(format_args!("done {n}")),
            Err(JobError::LeaseLost(_)) => say(format_args!("lost {n}")),
            Err(error) => say(format_args!("error completing {n}: {error}")),
        }
    }
}

impl Worker {
    /// Side effects recorded for job `n` so far.
    async fn effects_of(&self, n: u64) -> Option<i64> {
        let row = self
            .effects
            .query_one(
                "SELECT count(*) FROM pg_kill_effects WHERE queue = $1 AND n = $2",
                &[&self.queue, &(n as i64)],
            )
            .await
            .ok()?;
        Some(row.get(0))
    }
}

async fn worker(url: &str, queue: &str) -> Result<(), BoxError> {
    let name = format!("worker-{}", std::process::id());
    let jobs = open(url, queue, &name).await?;
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(connection);
    let effects = std::sync::Arc::new(client);
    let queue_name = queue.to_owned();
    // Two workers, two jobs leased at a time: a killed process takes few jobs down with it.
    let _consumer = ConsumerSpec::new(
        2,
        move || Ok(Worker { effects: effects.clone(), queue: queue_name.clone() }),
        WorkerMessage::run,
    )
    .max_in_flight(2)
    .spawn(jobs)?;
    say(format_args!("ready"));
    std::future::pending::<()>().await;
    Ok(())
}

/// A child process: runs `body(url, queue)` (its arguments after the program name) on a
/// multi-thread runtime, and exits with 0, or with 2 after printing `error <why>`.
fn child_process<F, Fut>(role: &str, body: F) -> !
where
    F: FnOnce(String, String) -> Fut,
    Fut: std::future::Future<Output = Result<(), BoxError>>,
{
    let mut args = std::env::args().skip(1);
    let run = || -> Result<(), BoxError> {
        let usage = format!("the {role} child needs <url> <queue>");
        let url = args.next().ok_or(usage.as_str())?;
        let queue = args.next().ok_or(usage.as_str())?;
        tokio::runtime::Runtime::new()?.block_on(body(url, queue))
    };
    match run() {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            say(format_args!("error {e}"));
            std::process::exit(2);
        }
    }
}

/// A worker process.
fn worker_main() -> ! {
    child_process("worker", |url, queue| async move { worker(&url, &queue).await })
}

/// A line from a worker process.
struct Event {
    process: usize,
    line: String,
}

struct Workers {
    url: String,
    queue: String,
    children: Vec<Option<Child>>,
    tx: mpsc::Sender<Event>,
}

impl Workers {
    fn start(&mut self) -> Result<usize, BoxError> {
        self.start_as("pg-worker")
    }

    /// Starts a process of this binary in the child `role`.
    fn start_as(&mut self, role: &str) -> Result<usize, BoxError> {
        let mut child = child_command(role, &[&self.url, &self.queue])?
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let process = self.children.len();
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(Event { process, line }).is_err() {
                    break;
                }
            }
            let _ = tx.send(Event { process, line: "exited".to_owned() });
        });
        self.children.push(Some(child));
        Ok(process)
    }

    fn pid(&self, process: usize) -> Option<u32> {
        self.children.get(process)?.as_ref().map(Child::id)
    }

    fn kill(&mut self, process: usize) -> Result<(), BoxError> {
        if let Some(mut child) = self.children.get_mut(process).and_then(Option::take) {
            child.kill()?; // SIGKILL
            child.wait()?;
        }
        Ok(())
    }

    fn signal(&self, process: usize, signal: &str) -> Result<(), BoxError> {
        let pid = self.pid(process).ok_or("no such process")?;
        let status = Command::new("kill").arg(signal).arg(pid.to_string()).status()?;
        if status.success() { Ok(()) } else { Err(format!("kill {signal} {pid} failed").into()) }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for child in self.children.iter_mut().filter_map(Option::as_mut) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What the kill test found; [`Report::problems`] lists every broken expectation.
#[derive(Debug, Default)]
struct Report {
    /// Worker processes started in all (3 + replacements).
    processes: usize,
    /// SIGKILLs sent.
    kills: usize,
    /// Jobs that succeeded.
    succeeded: u64,
    /// Every broken expectation, in words.
    problems: Vec<String>,
    /// Side-effect rows written.
    effects: u64,
    /// Seconds the run took.
    seconds: f64,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "processes={} kills={} succeeded={} effects={} problems={} seconds={:.1}",
            self.processes,
            self.kills,
            self.succeeded,
            self.effects,
            self.problems.len(),
            self.seconds
        )
    }
}

/// Runs the kill test against the database at `url`, starting worker processes of this
/// binary.
///
/// # Errors
///
/// A database that cannot be reached, or worker processes that cannot be started; a broken
/// expectation is a problem in the report, not an error.
fn run(url: &str) -> Result<Report, BoxError> {
    let started = Instant::now();
    let queue = format!("pg-kill-{}-{}", std::process::id(), started.elapsed().as_nanos());
    let runtime = tokio::runtime::Runtime::new()?;
    let (jobs, db) = runtime.block_on(async {
        let jobs = open(url, &queue, "parent").await?;
        let (db, connection) = tokio_postgres::connect(url, NoTls).await?;
        tokio::spawn(connection);
        db.batch_execute(
            "CREATE TABLE IF NOT EXISTS pg_kill_effects (id bigserial PRIMARY KEY, queue text NOT NULL, \
             n bigint NOT NULL, key text NOT NULL, attempt integer NOT NULL, worker bigint NOT NULL)",
        )
        .await?;
        Ok::<_, BoxError>((jobs, db))
    })?;
    // The jobs: slow ones every 25th, the targeted ones, and two bad ones without a key.
    let mut ids = BTreeMap::new();
    runtime.block_on(async {
        for n in (0..JOBS).filter(|&n| n != PAUSE) {
            let first_ms = match n {
                KILL_SLOW => 1_500,
                _ if n % 25 == 0 => 400,
                _ => 0,
            };
            let options = EnqueueOptions::new().key(format!("k{}", n % KEYS));
            ids.insert(n, jobs.enqueue(Work { n, first_ms }, options).await?);
        }
        for n in [ALWAYS_FAILS, ABORTS] {
            let options = EnqueueOptions::new().max_attempts(ATTEMPTS);
            ids.insert(n, jobs.enqueue(Work { n, first_ms: 0 }, options).await?);
        }
        Ok::<_, BoxError>(())
    })?;

    let (tx, rx) = mpsc::channel();
    let mut workers =
        Workers { url: url.to_owned(), queue: queue.clone(), children: Vec::new(), tx };
    for _ in 0..3 {
        workers.start()?;
    }
    let mut report = Report::default();
    // Phase 1: every job but the paused one; kill on the first sight of each target.
    let mut targeted = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if Instant::now() > deadline {
            report.problems.push("phase 1 did not finish within 120 s".to_owned());
            break;
        }
        let Ok(Event { process, line }) = rx.recv_timeout(Duration::from_millis(100)) else {
            if runtime.block_on(jobs.stats())?.unfinished() == 0 {
                break;
            }
            continue;
        };
        let alive = workers.children.get(process).is_some_and(Option::is_some);
        let words: Vec<&str> = line.split(' ').collect();
        let target = words.get(1).and_then(|n| n.parse::<u64>().ok());
        match (words.first().copied(), target) {
            // A line a killed process printed before it died: old news.
            (Some(word), _) if !alive && word != "exited" => {}
            (Some("claim"), Some(n @ (KILL_SLOW | KILL_AFTER_CLAIM))) if targeted.insert(n) => {
                if n == KILL_SLOW {
                    // Let it get into its slow work first (this thread is the test's driver,
                    // not a runtime worker).
                    #[expect(
                        clippy::disallowed_methods,
                        reason = "the driver thread, not a runtime worker"
                    )]
                    std::thread::sleep(Duration::from_millis(300));
                }
                workers.kill(process)?;
                report.kills += 1;
                workers.start()?;
            }
            (Some("effect"), Some(KILL_AFTER_EFFECT)) if targeted.insert(KILL_AFTER_EFFECT) => {
                workers.kill(process)?;
                report.kills += 1;
                workers.start()?;
            }
            // The aborting job took its process down: start a replacement.
            (Some("exited"), _) if alive => {
                workers.kill(process)?;
                workers.start()?;
            }
            _ => {}
        }
    }
    // Phase 2: one slow job; its worker is paused past its lease, another worker finishes it,
    // then the paused one is resumed and must not overwrite it.
    let pause_id = runtime.block_on(
        jobs.enqueue(Work { n: PAUSE, first_ms: 7_000 }, EnqueueOptions::new().key("pause")),
    )?;
    ids.insert(PAUSE, pause_id);
    let mut stopped = None;
    let mut lost_seen = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !lost_seen {
        if Instant::now() > deadline {
            report
                .problems
                .push("phase 2 (the paused worker) did not finish within 60 s".to_owned());
            break;
        }
        let Ok(Event { process, line }) = rx.recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        if !workers.children.get(process).is_some_and(Option::is_some) {
            continue;
        }
        match line.as_str() {
            l if l == format!("claim {PAUSE} 1") => {
                workers.signal(process, "-STOP")?;
                stopped = Some(process);
            }
            l if l == format!("done {PAUSE}") && stopped.is_some_and(|s| s != process) => {
                if let Some(paused) = stopped {
                    workers.signal(paused, "-CONT")?;
                }
            }
            l if l == format!("lost {PAUSE}") && stopped == Some(process) => lost_seen = true,
            _ => {}
        }
    }
    report.processes = workers.children.len();
    drop(workers);

    // Check everything.
    runtime.block_on(async {
        let p = &mut report.problems;
        for (&n, &id) in &ids {
            let record = jobs.status(id).await?.ok_or("a job vanished")?;
            match n {
                ALWAYS_FAILS | ABORTS => {
                    if record.status() != JobStatus::Dead || record.attempt != ATTEMPTS {
                        p.push(format!("bad job {n}: {:?} at attempt {}", record.state, record.attempt));
                    }
                }
                _ => match record.state {
                    JobState::Succeeded { .. } => report.succeeded += 1,
                    ref other => p.push(format!("job {n} did not succeed: {other:?}")),
                },
            }
        }
        let stats = jobs.stats().await?;
        if stats.unfinished() != 0 {
            p.push(format!("the queue is not empty: {stats:?}"));
        }
        // Claims by distinct processes, from the attempts table.
        for n in [KILL_SLOW, KILL_AFTER_EFFECT, KILL_AFTER_CLAIM, PAUSE] {
            let id = ids[&n];
            let row = db
                .query_one(
                    "SELECT count(DISTINCT worker) FROM actor_job_attempts WHERE job_id = $1",
                    &[&(id.0 as i64)],
                )
                .await?;
            let distinct: i64 = row.get(0);
            if distinct < 2 {
                p.push(format!("killed job {n} was claimed by {distinct} process(es), not 2 or more"));
            }
        }
        // Side effects: how often each job ran, and per-key order.
        let rows = db
            .query(
                "SELECT n, key, worker, attempt FROM pg_kill_effects WHERE queue = $1 ORDER BY id",
                &[&queue],
            )
            .await?;
        report.effects = rows.len() as u64;
        let mut runs: BTreeMap<u64, u64> = BTreeMap::new();
        let mut last_of_key: BTreeMap<String, u64> = BTreeMap::new();
        for row in &rows {
            let n = row.get::<_, i64>(0) as u64;
            let key: String = row.get(1);
            *runs.entry(n).or_default() += 1;
            if n == PAUSE && row.get::<_, i32>(3) == 1 {
                // The paused worker's own side effect lands when it resumes, out of order: a
                // side effect outside the database cannot be fenced (the job row is).
                continue;
            }
            if let Some(&previous) = last_of_key.get(&key)
                && previous > n
            {
                p.push(format!("key {key}: job {n} ran after job {previous}"));
            }
            last_of_key.insert(key, n);
        }
        if runs.get(&KILL_AFTER_EFFECT) != Some(&2) {
            p.push(format!("job {KILL_AFTER_EFFECT} ran {:?} times, not exactly twice", runs.get(&KILL_AFTER_EFFECT)));
        }
        let mut attempts = BTreeMap::new();
        for row in db
            .query(
                "SELECT j.payload->>'n', count(*) FROM actor_job_attempts a JOIN actor_jobs j ON j.id = a.job_id \
                 WHERE j.queue = $1 GROUP BY 1",
                &[&queue],
            )
            .await?
        {
            let n: String = row.get(0);
            attempts.insert(n.parse::<u64>()?, row.get::<_, i64>(1));
        }
        for n in 0..JOBS {
            let ran = runs.get(&n).copied().unwrap_or(0);
            if attempts.get(&n) == Some(&1) && ran != 1 {
                p.push(format!("job {n} was never interrupted but ran {ran} times"));
            }
            if ran == 0 {
                p.push(format!("job {n} has no side effect"));
            }
        }
        // The paused worker could not overwrite the job another worker finished.
        let paused = jobs.status(ids[&PAUSE]).await?.ok_or("the paused job vanished")?;
        if let JobState::Succeeded { result } = paused.state {
            let second = runs.get(&PAUSE).copied().unwrap_or(0);
            if second < 1 {
                p.push("the paused job has no side effect".to_owned());
            }
            let by: Option<i64> = db
                .query_opt(
                    "SELECT worker FROM pg_kill_effects WHERE queue = $1 AND n = $2 AND attempt = 1",
                    &[&queue, &(PAUSE as i64)],
                )
                .await?
                .map(|row| row.get(0));
            if by == Some(i64::from(result)) {
                p.push("the paused worker's late completion overwrote the job".to_owned());
            }
        }
        if !lost_seen {
            p.push("the paused worker never reported its lost lease".to_owned());
        }
        Ok::<_, BoxError>(())
    })?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Kills the PostgreSQL server (`$ACTOR_PG_CONTROL kill`) while enqueues are running, starts it
/// again, and checks that every enqueue that returned is there. Returns (acknowledged, lost).
///
/// # Errors
///
/// The control script failing, or the server not coming back.
fn kill_server(url: &str, control: &str) -> Result<(u64, u64), BoxError> {
    let queue = format!("pg-server-kill-{}", std::process::id());
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let jobs = open(url, &queue, "enqueuer").await?;
        let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(u64, JobId)>::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        for lane in 0..4u64 {
            let (jobs, acknowledged, stop) = (jobs.clone(), acknowledged.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = lane;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let key = format!("e-{n}");
                    match jobs
                        .enqueue(
                            Work { n, first_ms: 0 },
                            EnqueueOptions::new().idempotency_key(key),
                        )
                        .await
                    {
                        Ok(id) => acknowledged.lock().map_err(|_| "poisoned")?.push((n, id)),
                        // The server is down: try again (same key, so never twice).
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    }
                    n += 4;
                }
                Ok::<_, BoxError>(())
            }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let status = tokio::process::Command::new(control).arg("kill").status().await?;
        if !status.success() {
            return Err("the control script could not kill the server".into());
        }
        let killed_at = acknowledged.lock().map_err(|_| "poisoned")?.len();
        let status = tokio::process::Command::new(control).arg("start").status().await?;
        if !status.success() {
            return Err("the control script could not start the server".into());
        }
        // Let enqueues succeed again after the restart.
        let until = Instant::now() + Duration::from_secs(30);
        while acknowledged.lock().map_err(|_| "poisoned")?.len() < killed_at + 50 {
            if Instant::now() > until {
                return Err("no enqueue succeeded after the server restarted".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for task in tasks {
            task.await??;
        }
        let acknowledged = acknowledged.lock().map_err(|_| "poisoned")?.clone();
        let mut lost = 0;
        for (n, id) in &acknowledged {
            match jobs.status(*id).await? {
                Some(record) if record.payload.n == *n => {}
                other => {
                    lost += 1;
                    say(format_args!("LOST: enqueue of {n} returned {id}, found {other:?}"));
                }
            }
        }
        Ok((acknowledged.len() as u64, lost))
    })
}

fn main() -> Result<(), BoxError> {
    match self_exe_child().as_deref() {
        Some("pg-unflushed") => unflushed::child_main(),
        Some("pg-traced") => traced::child_main(),
        Some(_) => worker_main(),
        None => {}
    }
    let Some(url) = postgres_url() else { return Ok(()) };
    let report = run(&url)?;
    println!("{report}");
    if !report.problems.is_empty() {
        return Err(format!("{report}: {:#?}", report.problems).into());
    }
    if report.succeeded != JOBS || report.kills != 3 || report.processes < 6 {
        return Err(format!("{report}: expected {JOBS} jobs, 3 kills, 6 processes or more").into());
    }
    let (redelivered, problems) = unflushed::run(&url)?;
    println!(
        "killed with acknowledgements unflushed: redelivered={redelivered} problems={}",
        problems.len()
    );
    if !problems.is_empty() {
        return Err(format!("unflushed acknowledgements: {problems:#?}").into());
    }
    let (continued, problems) = traced::run(&url)?;
    println!("jobs continuing their enqueuer's trace in another process: {continued}");
    if !problems.is_empty() {
        return Err(format!("trace context across processes: {problems:#?}").into());
    }
    match std::env::var("ACTOR_PG_CONTROL") {
        Ok(control) => {
            let (acknowledged, lost) = kill_server(&url, &control)?;
            println!("server killed and restarted: acknowledged={acknowledged} lost={lost}");
            if acknowledged <= 50 || lost > 0 {
                return Err(format!("{lost} of {acknowledged} acknowledged enqueues lost").into());
            }
        }
        Err(_) if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            return Err("CI=true but ACTOR_PG_CONTROL is not set: .ci/run must provide it".into());
        }
        Err(_) => println!("SKIPPED: killing the server needs ACTOR_PG_CONTROL=.ci/postgres.sh"),
    }
    Ok(())
}
