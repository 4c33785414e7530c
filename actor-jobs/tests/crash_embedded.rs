//! The crash test of the embedded queue: worker processes running jobs from an
//! `EmbeddedQueue` are killed with `SIGKILL` at random moments; afterwards no job is lost,
//! every job succeeded, and each job's side effect, deduplicated by its idempotency key,
//! happened exactly once.
//!
//! A `harness = false` test that re-executes itself as its child (`ACTOR_TEST_CHILD=jobs`).
//! `cargo test -p actor-jobs --test crash_embedded` runs 500 jobs and 5 kills;
//! `-- --jobs 10000 --kills 20 --seed <n>` runs the long version, or replays a run.
//!
//! The child opens the store, enqueues every job (idempotency key `job-<n>`,
//! so a restarted child enqueues nothing twice) and runs them on a [`Consumer`] of 4 workers.
//! A job's handler records its side effect durably in the tree `effects` under
//! `(n, round, attempt)`, then completes the job with `2 n`. One extra job (`poison`) fails on
//! every attempt. The child prints `enq <n> <id>` for each acknowledged enqueue, `eff <n>` for
//! each side effect and `finished` once every job is finished; it never exits by itself.
//!
//! The parent kills a child after a random number of lines, `kills` times, then runs a last
//! child until `finished` and checks the store.

#![expect(clippy::print_stdout, reason = "the crash test reports on stdout")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use actor_core::actor;
use actor_jobs::{
    ConsumerSpec, EmbeddedQueue, EnqueueOptions, JobBackend, JobId, JobState, JobStatus,
    QueueOptions, RetryPolicy, Work,
};
use actor_store::{Store, Tree};
use actor_test_support::{BoxError, Killed, Rng, child_command, run_and_kill, self_exe_child};

/// Prints one line to the parent, flushed at once.
fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Attempts allowed for an ordinary job: far more than kills can interrupt it.
const ATTEMPTS: u32 = 50;
/// Attempts allowed for the poison job.
const POISON_ATTEMPTS: u32 = 3;
/// The payload that makes a handler fail.
const POISON: u64 = u64::MAX;

type Queue = EmbeddedQueue<u64, u64>;
type Effects = Tree<(u64, u32, u32), u32>;

fn queue_options() -> QueueOptions {
    QueueOptions::new().visibility_timeout(Duration::from_secs(30)).retry(RetryPolicy {
        max_attempts: ATTEMPTS,
        backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
    })
}

struct Worker {
    effects: Effects,
    round: u32,
}

#[actor]
impl Worker {
    async fn run(&mut self, work: Work<u64, u64, Queue>) {
        let n = *work.payload();
        if n == POISON {
            let _ = work.fail("poison").await;
            return;
        }
        // The side effect, durable, under the job's identity and this attempt.
        if self.effects.insert(&(n, self.round, work.attempt()), &std::process::id()).await.is_err()
        {
            return;
        }
        say(format_args!("eff {n}"));
        let _ = work.complete(2 * n).await;
    }
}

async fn child(dir: &Path, total: u64, round: u32) -> Result<(), BoxError> {
    let store = Store::open(dir)?;
    let queue = Queue::open(&store, "crash", queue_options()).await?;
    let effects: Effects = store.tree("effects")?;
    say(format_args!("open"));
    let consumer = ConsumerSpec::new(
        4,
        move || Ok(Worker { effects: effects.clone(), round }),
        WorkerMessage::run,
    )
    .spawn(queue.clone())?;
    let poison = EnqueueOptions::new().idempotency_key("poison").max_attempts(POISON_ATTEMPTS);
    queue.enqueue(POISON, poison).await?;
    // 16 enqueuers, so that enqueues share flushes.
    let mut tasks = Vec::new();
    for lane in 0..16 {
        let queue = queue.clone();
        tasks.push(tokio::spawn(async move {
            for n in (lane..total).step_by(16) {
                let id = queue
                    .enqueue(n, EnqueueOptions::new().idempotency_key(format!("job-{n}")))
                    .await?;
                say(format_args!("enq {n} {id}"));
            }
            Ok::<(), BoxError>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    queue.wait_idle().await?;
    say(format_args!("finished"));
    drop(consumer);
    std::future::pending::<()>().await;
    Ok(())
}

/// The child: `[dir, total, round]` after the program name. Prints `error <message>` and
/// exits with status 2 if it cannot run.
fn child_main() -> ! {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = || -> Result<(), BoxError> {
        let usage = "the child needs <dir> <total> <round>";
        let dir = args.first().ok_or(usage)?;
        let total: u64 = args.get(1).ok_or(usage)?.parse()?;
        let round: u32 = args.get(2).ok_or(usage)?.parse()?;
        let runtime = tokio::runtime::Runtime::new()?;
        runtime.block_on(child(Path::new(dir), total, round))
    };
    match run() {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            println!("error {e}");
            std::process::exit(2);
        }
    }
}

/// What a run found.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Report {
    /// Children killed with `SIGKILL`.
    pub kills: u32,
    /// Jobs (not counting the poison job).
    pub jobs: u64,
    /// Enqueues acknowledged to the parent (a restarted child acknowledges again).
    pub enqueues_acknowledged: u64,
    /// Jobs lost: acknowledged but missing, or not succeeded at the end.
    pub lost: u64,
    /// Side effects recorded, with repeats.
    pub effects: u64,
    /// Jobs whose side effect happened more than once (a kill between effect and ack).
    pub repeated: u64,
    /// Jobs with no side effect, after deduplication (must be 0).
    pub missing_effects: u64,
    /// The poison job's final status and attempts.
    pub poison: (JobStatus, u32),
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "kills={} jobs={} enqueues_acknowledged={} lost={} effects={} repeated={} missing_effects={} poison={}@{}",
            self.kills,
            self.jobs,
            self.enqueues_acknowledged,
            self.lost,
            self.effects,
            self.repeated,
            self.missing_effects,
            self.poison.0,
            self.poison.1
        )
    }
}

impl Report {
    /// Whether the run met the contract: nothing lost, every effect exactly once after
    /// deduplication, the poison job dead after exactly its attempts.
    fn ok(&self) -> bool {
        self.lost == 0
            && self.missing_effects == 0
            && self.poison == (JobStatus::Dead, POISON_ATTEMPTS)
    }
}

/// Runs one child until `stop_after` lines (or `finished`), then kills it. Returns the
/// acknowledged enqueues it reported, and whether it finished.
fn run_child(
    dir: &Path,
    total: u64,
    round: u32,
    stop_after: Option<u64>,
) -> Result<(BTreeMap<u64, JobId>, bool), BoxError> {
    let (total, round) = (total.to_string(), round.to_string());
    let child = child_command("jobs", &[dir.as_os_str(), total.as_ref(), round.as_ref()])?;
    let mut read = 0;
    let Killed { lines, .. } = run_and_kill(child, |line| {
        read += u64::from(line.is_some());
        line != Some("finished") && stop_after.is_none_or(|n| read < n)
    })?;
    let finished = lines.iter().any(|l| l == "finished");
    let mut enqueued = BTreeMap::new();
    for line in &lines {
        let mut parts = line.split(' ');
        if let (Some("enq"), Some(n), Some(id)) = (parts.next(), parts.next(), parts.next()) {
            enqueued.insert(n.parse()?, JobId(id.parse()?));
        }
    }
    Ok((enqueued, finished))
}

/// Checks the store after the last child.
async fn verify(
    dir: &Path,
    total: u64,
    acknowledged: &BTreeMap<u64, JobId>,
) -> Result<Report, BoxError> {
    let store = Store::open(dir)?;
    let queue = Queue::open(&store, "crash", queue_options()).await?;
    let effects: Effects = store.tree("effects")?;
    let mut lost = 0;
    for (n, id) in acknowledged {
        match queue.status(*id).await? {
            Some(record) if record.payload == *n => {}
            other => {
                lost += 1;
                println!("LOST: job {n} (id {id}) acknowledged, found {other:?}");
            }
        }
    }
    let mut by_job: BTreeMap<u64, u64> = BTreeMap::new();
    let mut count = 0;
    for entry in effects.iter() {
        let ((n, _round, _attempt), _pid) = entry?;
        *by_job.entry(n).or_default() += 1;
        count += 1;
    }
    let mut succeeded = BTreeSet::new();
    let mut poison = (JobStatus::Queued, 0);
    for status in JobStatus::ALL {
        for id in queue.list(status, usize::MAX).await? {
            let Some(record) = queue.status(id).await? else { continue };
            if record.payload == POISON {
                poison = (record.status(), record.attempt);
            } else if record.state == (JobState::Succeeded { result: 2 * record.payload }) {
                succeeded.insert(record.payload);
            } else {
                println!("NOT SUCCEEDED: job {} is {:?}", record.payload, record.state);
            }
        }
    }
    lost += total - succeeded.len() as u64;
    let missing_effects = (0..total).filter(|n| !by_job.contains_key(n)).count() as u64;
    let repeated = by_job.values().filter(|&&c| c > 1).count() as u64;
    drop(effects);
    queue.close().await;
    store.close().await?;
    Ok(Report {
        kills: 0,
        jobs: total,
        enqueues_acknowledged: 0,
        lost,
        effects: count,
        repeated,
        missing_effects,
        poison,
    })
}

/// Runs `kills` killed children and a last one to the end over `total` jobs, then checks the
/// store. `seed` picks the moments of the kills.
///
/// # Errors
///
/// A child that could not run or ended on its own, or a store that fails to reopen.
fn parent(total: u64, kills: u32, seed: u64) -> Result<Report, BoxError> {
    let dir = std::env::temp_dir().join(format!("actor-rs-crash_jobs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    println!("seed={seed} dir={}", dir.display());
    let mut rng = Rng::new(seed);
    let mut acknowledged = BTreeMap::new();
    let mut enqueues = 0;
    // About two lines per job (an enqueue and an effect): spread the kills over them.
    let span = (2 * total / u64::from(kills.max(1))).max(2) * 2;
    for round in 0..kills {
        let stop_after = rng.below(span);
        let (enqueued, _) = run_child(&dir, total, round, Some(stop_after))?;
        enqueues += enqueued.len() as u64;
        acknowledged.extend(enqueued);
    }
    let (enqueued, finished) = run_child(&dir, total, kills, None)?;
    if !finished {
        return Err("the last child did not finish".into());
    }
    enqueues += enqueued.len() as u64;
    acknowledged.extend(enqueued);
    let runtime = tokio::runtime::Runtime::new()?;
    let mut report = runtime.block_on(verify(&dir, total, &acknowledged))?;
    report.kills = kills;
    report.enqueues_acknowledged = enqueues;
    if report.ok() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(report)
}

fn main() -> Result<(), BoxError> {
    if self_exe_child().is_some() {
        child_main();
    }
    let jobs = actor_test_support::arg("--jobs")?.unwrap_or(500);
    let kills = actor_test_support::arg("--kills")?.unwrap_or(5);
    let seed = match actor_test_support::arg("--seed")? {
        Some(seed) => seed,
        None => Rng::from_time().1,
    };
    let started = std::time::Instant::now();
    let report = parent(jobs, kills, seed)?;
    println!("{report} in {:.1} s", started.elapsed().as_secs_f64());
    if report.ok() && report.effects >= jobs {
        Ok(())
    } else {
        Err(format!("seed {seed}: the contract was broken: {report}").into())
    }
}
