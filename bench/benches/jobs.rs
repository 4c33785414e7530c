//! actor-jobs: durable jobs through the embedded queue and through PostgreSQL, with the
//! baselines in the same run.
//!
//! Run with `cargo xtask bench` (or `cargo bench -p bench --bench jobs -- [--quick]
//! [--only WORKLOADS] [--markdown-append PATH]`). The PostgreSQL workloads run when
//! `ACTOR_PG_URL` points at a server (`.ci/postgres.sh start`).
//!
//! Workloads, all with no-op jobs (the handler completes at once, without awaiting the
//! acknowledgement) and 4 workers per consumer:
//!
//! - `jobs_noop`: jobs per second through enqueue, processing and acknowledgement on the
//!   embedded queue; 4 producers enqueue in batches of 500 while the consumer runs, timed
//!   until the queue is idle. `fsyncs_per_job`: the store's flushes during the run, per job.
//!   Baseline `sled-queue`: a hand-written queue on raw sled (4 producer threads, 4 worker
//!   threads, a flush after each of the three state changes of a job).
//! - `pg_jobs_noop`: the same on PostgreSQL, the workers in 1 and in 4 processes of their own
//!   (`postgres-1proc`, `postgres-4proc`); the embedded queue runs in the same round for
//!   comparison. `commits_per_job`: `pg_stat_database.xact_commit` of the database before and
//!   after (every transaction of every process, read-only ones included), per job.
//! - `pg_jobs_latency`: enqueue to handler start with idle workers in another process's
//!   view of the queue (woken by `LISTEN`/`NOTIFY`), one job at a time; p50 and p99.
//! - `pg_enqueue_many`: one `enqueue_many` of many jobs (100,000; 20,000 with `--quick`).

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::io::BufRead as _;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actor_core::actor;
use actor_jobs::{
    ConsumerSpec, EmbeddedQueue, EnqueueOptions, JobBackend, PgOptions, PgQueue, QueueOptions, Work,
};
use actor_store::Store;
use tokio::sync::mpsc;

use bench::sample::{Sample, percentiles};

const PRODUCERS: u64 = 4;
const WORKERS: usize = 4;
const BATCH: u64 = 500;

struct Sizes {
    rounds: usize,
    jobs: u64,
    pg_jobs: u64,
    latency_samples: usize,
    bulk: u64,
}

const FULL: Sizes =
    Sizes { rounds: 3, jobs: 200_000, pg_jobs: 100_000, latency_samples: 300, bulk: 100_000 };
const QUICK: Sizes =
    Sizes { rounds: 1, jobs: 20_000, pg_jobs: 10_000, latency_samples: 50, bulk: 20_000 };

/// A sample and its extra fields.
struct Measured {
    sample: Sample,
    extra: Vec<(&'static str, f64)>,
}

fn measured(
    workload: &'static str,
    system: &'static str,
    jobs: u64,
    elapsed: Duration,
) -> Measured {
    Measured {
        sample: Sample {
            workload,
            system,
            per_sec: jobs as f64 / elapsed.as_secs_f64(),
            p50_us: None,
            p99_us: None,
            rss_mb: None,
        },
        extra: Vec::new(),
    }
}

/// A fresh directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir()
            .join(format!("actor-rs-bench-jobs-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The worker: completes every job at once and lets the acknowledgement go.
struct Noop<B> {
    backend: PhantomData<fn() -> B>,
}

#[actor]
impl<B: JobBackend<u64, ()>> Noop<B> {
    fn run(&mut self, work: Work<u64, (), B>) {
        drop(work.complete(()));
    }
}

fn noop<B: JobBackend<u64, ()>>() -> Noop<B> {
    Noop { backend: PhantomData }
}

/// Enqueues `jobs` jobs from `PRODUCERS` tasks in batches of `BATCH`.
async fn produce<B: JobBackend<u64, ()>>(queue: &B, jobs: u64) {
    let per_producer = jobs / PRODUCERS;
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let queue = queue.clone();
            tokio::spawn(async move {
                let mut next = 0;
                while next < per_producer {
                    let n = BATCH.min(per_producer - next);
                    let batch = (next..next + n).map(|i| (p << 32 | i, EnqueueOptions::new()));
                    queue.enqueue_many(batch.collect()).await.expect("enqueue");
                    next += n;
                }
            })
        })
        .collect();
    for producer in producers {
        producer.await.expect("producer");
    }
}

/// The embedded queue and a consumer of `WORKERS` workers.
async fn embedded(jobs: u64) -> Measured {
    type Queue = EmbeddedQueue<u64, ()>;
    let dir = Scratch::new("embedded");
    let store = Store::open(&dir.0).expect("open store");
    let queue = Queue::open(&store, "bench", QueueOptions::new()).await.expect("queue");
    let consumer = ConsumerSpec::new(WORKERS, || Ok(noop()), NoopMessage::run)
        .spawn(queue.clone())
        .expect("consumer");
    let flushes = store.stats().flushes;
    let jobs = jobs / PRODUCERS * PRODUCERS;
    let start = Instant::now();
    produce(&queue, jobs).await;
    queue.wait_idle().await.expect("wait");
    let elapsed = start.elapsed();
    let flushed = store.stats().flushes - flushes;
    let stats = consumer.shutdown().await;
    assert_eq!(stats.succeeded, jobs, "every job succeeded once: {stats}");
    queue.close().await;
    store.close().await.expect("close");
    let mut m = measured("jobs_noop", "actor-jobs-embedded", jobs, elapsed);
    m.extra.push(("fsyncs_per_job", flushed as f64 / jobs as f64));
    m
}

/// The hand-written durable queue on raw sled: a flush after each state change.
fn sled_queue(jobs: u64) -> Measured {
    let dir = Scratch::new("sled-queue");
    let db = sled::Config::new().path(&dir.0).flush_every_ms(None).open().expect("open sled");
    let tree = db.open_tree("jobs").expect("tree");
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    let rx = std::sync::Mutex::new(rx);
    let per_producer = jobs / PRODUCERS;
    let start = Instant::now();
    std::thread::scope(|scope| {
        for p in 0..PRODUCERS {
            let (db, tree, tx) = (&db, &tree, tx.clone());
            scope.spawn(move || {
                for i in 0..per_producer {
                    let id = p << 32 | i;
                    tree.insert(id.to_be_bytes(), &b"queued"[..]).expect("insert");
                    db.flush().expect("flush");
                    tx.send(id).expect("send");
                }
            });
        }
        drop(tx);
        for _ in 0..WORKERS {
            let (db, tree, rx) = (&db, &tree, &rx);
            scope.spawn(move || {
                loop {
                    let next = rx.lock().expect("receiver").recv();
                    let Ok(id) = next else { return };
                    tree.insert(id.to_be_bytes(), &b"running"[..]).expect("insert");
                    db.flush().expect("flush");
                    tree.insert(id.to_be_bytes(), &b"done"[..]).expect("insert");
                    db.flush().expect("flush");
                }
            });
        }
    });
    let mut m = measured("jobs_noop", "sled-queue", per_producer * PRODUCERS, start.elapsed());
    m.extra.push(("fsyncs_per_job", 3.0));
    m
}

type PgJobs = PgQueue<u64, ()>;

async fn pg_queue(url: &str, queue: &str) -> PgJobs {
    let options = PgOptions::new().poll_interval(Duration::from_millis(10));
    PgJobs::connect(url, queue, options).await.expect("connect to PostgreSQL")
}

/// A worker process of `pg_jobs_noop`: consumes `queue` until killed.
fn pg_worker(url: &str, queue: &str) -> ! {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    // Dies with the benchmark: its stdin closes when the parent goes, however it goes.
    std::thread::spawn(|| {
        let mut sink = String::new();
        let _ = std::io::stdin().read_line(&mut sink);
        std::process::exit(0);
    });
    runtime.block_on(async {
        let jobs = pg_queue(url, queue).await;
        let _consumer = ConsumerSpec::new(WORKERS, || Ok(noop()), NoopMessage::run)
            .spawn(jobs)
            .expect("consumer");
        println!("ready");
        std::future::pending::<()>().await;
    });
    std::process::exit(0)
}

/// Committed transactions of the database so far, once every other session's counts are in.
async fn commits(url: &str) -> i64 {
    let (client, connection) =
        tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .await
        .expect("read pg_stat_database");
    row.get(0)
}

/// Removes a benchmark queue's rows (and their attempts), so that runs do not accumulate.
async fn forget(url: &str, queue: &str) {
    let (client, connection) =
        tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
        .execute(
            "DELETE FROM actor_job_attempts WHERE job_id IN (SELECT id FROM actor_jobs WHERE queue = $1)",
            &[&queue],
        )
        .await
        .expect("delete attempts");
    client.execute("DELETE FROM actor_jobs WHERE queue = $1", &[&queue]).await.expect("delete");
}

fn unique_queue(tag: &str) -> String {
    static ROUND: AtomicU64 = AtomicU64::new(0);
    format!("bench-{tag}-{}-{}", std::process::id(), ROUND.fetch_add(1, Ordering::Relaxed))
}

/// `PgQueue` with the workers in `processes` processes of their own.
async fn postgres(url: &str, processes: usize, jobs: u64) -> Measured {
    let queue = unique_queue("noop");
    let exe = std::env::current_exe().expect("current exe");
    let mut children: Vec<std::process::Child> = (0..processes)
        .map(|_| {
            std::process::Command::new(&exe)
                .args(["--pg-worker", url, &queue])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("start a worker process")
        })
        .collect();
    for child in &mut children {
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line).expect("ready line");
        assert_eq!(line.trim(), "ready");
    }
    let handle = pg_queue(url, &queue).await;
    let jobs = jobs / PRODUCERS * PRODUCERS;
    // Every session's counts reach `pg_stat_database` when it ends or goes idle for long
    // enough: settle before counting, and count after the sessions of the run ended.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let before = commits(url).await;
    let start = Instant::now();
    produce(&handle, jobs).await;
    handle.wait_idle().await.expect("wait");
    let elapsed = start.elapsed();
    let stats = handle.stats().await.expect("stats");
    assert_eq!(stats.succeeded, jobs, "every job succeeded once");
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    handle.close().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = commits(url).await;
    forget(url, &queue).await;
    let system = if processes == 1 { "postgres-1proc" } else { "postgres-4proc" };
    let mut m = measured("pg_jobs_noop", system, jobs, elapsed);
    // The two reads of the counters are transactions of their own.
    m.extra.push(("commits_per_job", (after - before - 1).max(0) as f64 / jobs as f64));
    m
}

/// The latency worker: reports each job's payload (its sequence number) as it starts.
struct Timed {
    started: mpsc::UnboundedSender<(u64, Instant)>,
}

#[actor]
impl Timed {
    fn run(&mut self, work: Work<u64, (), PgJobs>) {
        let _ = self.started.send((*work.payload(), Instant::now()));
        drop(work.complete(()));
    }
}

/// Enqueue to handler start, one job at a time, with idle workers behind their own handle.
async fn pg_latency(url: &str, samples: usize) -> Measured {
    let queue = unique_queue("latency");
    let producer = pg_queue(url, &queue).await;
    // Its own connections and listener: woken by the notification, as another process is.
    let consumer_side = PgJobs::connect(url, &queue, PgOptions::new()).await.expect("connect");
    let (started, mut starts) = mpsc::unbounded_channel();
    let consumer = ConsumerSpec::new(
        WORKERS,
        move || Ok(Timed { started: started.clone() }),
        TimedMessage::run,
    )
    .spawn(consumer_side.clone())
    .expect("consumer");
    // Let the consumer go idle (waiting for a notification) first.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut latencies = Vec::with_capacity(samples);
    let start = Instant::now();
    for n in 0..samples as u64 {
        let sent = Instant::now();
        producer.enqueue(n, EnqueueOptions::new()).await.expect("enqueue");
        let (seq, at) = starts.recv().await.expect("a start");
        assert_eq!(seq, n);
        latencies.push(at.duration_since(sent).as_nanos() as u64);
        // Idle again before the next one.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = start.elapsed();
    consumer.shutdown().await;
    consumer_side.close().await;
    producer.close().await;
    forget(url, &queue).await;
    let (p50_us, p99_us) = percentiles(latencies);
    let mut m = measured("pg_jobs_latency", "postgres-listen", samples as u64, elapsed);
    m.sample.p50_us = p50_us;
    m.sample.p99_us = p99_us;
    m
}

/// One `enqueue_many` of `jobs` jobs.
async fn pg_bulk(url: &str, jobs: u64) -> Measured {
    let queue = unique_queue("bulk");
    let handle = pg_queue(url, &queue).await;
    let batch: Vec<_> = (0..jobs).map(|i| (i, EnqueueOptions::new())).collect();
    let start = Instant::now();
    let ids = handle.enqueue_many(batch).await.expect("enqueue_many");
    let elapsed = start.elapsed();
    assert_eq!(ids.len() as u64, jobs);
    handle.close().await;
    forget(url, &queue).await;
    measured("pg_enqueue_many", "postgres-unnest", jobs, elapsed)
}

async fn run(sizes: &Sizes, only: &dyn Fn(&str) -> bool) -> Vec<Measured> {
    let mut results = Vec::new();
    let median_of = |rounds: Vec<Measured>| -> Option<Measured> {
        let mut rounds = rounds;
        rounds.sort_by(|a, b| a.sample.per_sec.total_cmp(&b.sample.per_sec));
        let mid = rounds.len() / 2;
        (!rounds.is_empty()).then(|| rounds.swap_remove(mid))
    };
    if only("jobs_noop") {
        let (mut sled, mut ours) = (Vec::new(), Vec::new());
        for _ in 0..sizes.rounds {
            let jobs = sizes.jobs / 20;
            sled.push(tokio::task::spawn_blocking(move || sled_queue(jobs)).await.expect("sled"));
            ours.push(embedded(sizes.jobs).await);
        }
        results.extend(median_of(sled));
        results.extend(median_of(ours));
    }
    let url = std::env::var("ACTOR_PG_URL").ok().filter(|u| !u.is_empty());
    let pg_selected =
        ["pg_jobs_noop", "pg_jobs_latency", "pg_enqueue_many"].iter().any(|w| only(w));
    match url {
        Some(url) => {
            if only("pg_jobs_noop") {
                let (mut one, mut four, mut local) = (Vec::new(), Vec::new(), Vec::new());
                for _ in 0..sizes.rounds {
                    one.push(postgres(&url, 1, sizes.pg_jobs).await);
                    four.push(postgres(&url, 4, sizes.pg_jobs).await);
                    let mut embedded = embedded(sizes.pg_jobs).await;
                    embedded.sample.workload = "pg_jobs_noop";
                    local.push(embedded);
                }
                results.extend(median_of(one));
                results.extend(median_of(four));
                results.extend(median_of(local));
            }
            if only("pg_jobs_latency") {
                results.push(pg_latency(&url, sizes.latency_samples).await);
            }
            if only("pg_enqueue_many") {
                let mut rounds = Vec::new();
                for _ in 0..sizes.rounds {
                    rounds.push(pg_bulk(&url, sizes.bulk).await);
                }
                results.extend(median_of(rounds));
            }
        }
        None if pg_selected => {
            eprintln!(
                "the PostgreSQL workloads are skipped: set ACTOR_PG_URL (`.ci/postgres.sh start`)"
            );
        }
        None => {}
    }
    results
}

fn markdown(results: &[Measured]) -> String {
    let find = |workload: &str, system: &str| {
        results.iter().find(|m| m.sample.workload == workload && m.sample.system == system)
    };
    let extra = |m: &Measured, name: &str| {
        m.extra.iter().find(|(n, _)| *n == name).map_or(f64::NAN, |(_, v)| *v)
    };
    let mut md = String::from("\n## Durable jobs (actor-jobs)\n");
    if let (Some(sled), Some(ours)) =
        (find("jobs_noop", "sled-queue"), find("jobs_noop", "actor-jobs-embedded"))
    {
        md.push_str(&format!(
            "\nNo-op jobs, 4 producers enqueueing in batches of 500, 4 workers, enqueue + process + acknowledge (`jobs_noop`): \
             the embedded queue **{:.0} jobs/s** at **{:.3} fsyncs per job**; a hand-written queue on raw sled (`sled-queue`, 3 fsyncs per job) {:.0} jobs/s: **{:.1}×**.\n",
            ours.sample.per_sec,
            extra(ours, "fsyncs_per_job"),
            sled.sample.per_sec,
            ours.sample.per_sec / sled.sample.per_sec,
        ));
    }
    if let (Some(one), Some(four)) =
        (find("pg_jobs_noop", "postgres-1proc"), find("pg_jobs_noop", "postgres-4proc"))
    {
        let local = find("pg_jobs_noop", "actor-jobs-embedded");
        md.push_str(&format!(
            "\nThe same on PostgreSQL (local server, `fsync` on), the workers in separate processes (`pg_jobs_noop`): \
             1 process **{:.0} jobs/s** ({:.3} commits per job), 4 processes **{:.0} jobs/s** (**{:.3} commits per job**){}.\n",
            one.sample.per_sec,
            extra(one, "commits_per_job"),
            four.sample.per_sec,
            extra(four, "commits_per_job"),
            local.map_or(String::new(), |l| format!("; the embedded queue in the same rounds {:.0} jobs/s", l.sample.per_sec)),
        ));
    }
    if let Some(latency) = find("pg_jobs_latency", "postgres-listen") {
        md.push_str(&format!(
            "\nPickup latency on PostgreSQL, enqueue to handler start with idle workers woken by `LISTEN`/`NOTIFY` (`pg_jobs_latency`): p50 **{:.2} ms**, p99 {:.2} ms.\n",
            latency.sample.p50_us.unwrap_or(f64::NAN) / 1e3,
            latency.sample.p99_us.unwrap_or(f64::NAN) / 1e3,
        ));
    }
    if let Some(bulk) = find("pg_enqueue_many", "postgres-unnest") {
        md.push_str(&format!(
            "\nBulk enqueue on PostgreSQL, one `enqueue_many` call (`pg_enqueue_many`): **{:.0} jobs/s**.\n",
            bulk.sample.per_sec
        ));
    }
    md.push_str(&where_the_time_goes(
        find("pg_jobs_noop", "postgres-4proc").map(|m| extra(m, "commits_per_job")),
        find("jobs_noop", "actor-jobs-embedded").map(|m| extra(m, "fsyncs_per_job")),
    ));
    md
}

/// Where a job's time went before batching and where it goes now, with this run's counts.
fn where_the_time_goes(commits_per_job: Option<f64>, fsyncs_per_job: Option<f64>) -> String {
    let measured = |value: Option<f64>, what: &str| {
        value.map_or(format!("not measured in this run ({what})"), |v| {
            format!("**{v:.3}** in this run")
        })
    };
    format!(
        "\n### Where the time goes, per job\n\n\
         Before batching (8.3 k jobs/s embedded, 2.3 k and 2.8 k jobs/s on PostgreSQL with 1 and 4 processes): \
         a job was three durable transactions, enqueue, reclaim + lease, complete, and each waited for its own WAL flush or sled flush; \
         the flush, not the work, set the rate, and idle workers polled every 100 ms.\n\n\
         Now, on PostgreSQL: producers enqueue in batches (`enqueue_many`, one statement of `unnest` arrays); \
         one lease statement claims up to a process's prefetch (its workers twice over, growing with the rate, at most 1,024), expired leases included; \
         completions, failures and lease extensions of all workers of a process go out together in one `acknowledge` statement, \
         cut at 1,000 items or 2 ms, and are answered after its commit. \
         Commits per job at 4 processes: 3 before, {}. \
         What is left per job is CPU in the server: the job row updated twice (lease, finish) with its partial indexes, \
         one row of attempt history, and the rows' encoding and decoding in the worker; with two cores shared by the server, \
         the benchmark's producers and the worker processes, that is the limit.\n\n\
         On the embedded queue: enqueues, leases and acknowledgements go through the store's writer, which commits everything that arrived \
         while the previous flush ran as one batch. Fsyncs per job: 3 before, {}. \
         What is left is sled: a job is four writes to its tree (its payload and its state at enqueue, its state again when it is leased and when it ends), \
         and a profile puts about a third of the time in sled's node copy-on-write; the 50 k jobs/s target is missed for that reason, \
         not for flushes.\n",
        measured(commits_per_job, "`pg_jobs_noop` needs ACTOR_PG_URL"),
        measured(fsyncs_per_job, "`jobs_noop`"),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--pg-worker") {
        pg_worker(&args[1], &args[2]);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let sizes = if quick { QUICK } else { FULL };
    let only: Vec<&str> = match args.iter().position(|a| a == "--only") {
        Some(i) => args.get(i + 1).map_or(Vec::new(), |list| list.split(',').collect()),
        None => vec!["jobs_noop", "pg_jobs_noop", "pg_jobs_latency", "pg_enqueue_many"],
    };
    let selected = |workload: &str| only.contains(&workload);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let results = runtime.block_on(run(&sizes, &selected));
    for m in &results {
        println!("{}", m.sample.json_with(&m.extra));
    }
    if !results.is_empty() {
        bench::sample::append_markdown(&args, &markdown(&results));
    }
}
