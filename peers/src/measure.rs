//! What every system's workloads share: sizes, the drivers of the counter workloads, the
//! completion signal of the pool workloads, and memory readings.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The workloads, by the names the JSON lines and the table use.
pub(crate) const WORKLOADS: [&str; 6] =
    ["tell", "ask", "contended", "spawn", "pool_noop", "pool_1ms"];

/// How much work one run of each workload does.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sizes {
    pub(crate) tell: u64,
    pub(crate) ask: u64,
    pub(crate) tasks: u64,
    pub(crate) per_task: u64,
    pub(crate) spawn: u64,
    pub(crate) pool_noop: u64,
    pub(crate) pool_1ms: u64,
}

/// The sizes of a real run.
pub(crate) const FULL: Sizes = Sizes {
    tell: 2_000_000,
    ask: 200_000,
    tasks: 1_000,
    per_task: 200,
    spawn: 100_000,
    pool_noop: 500_000,
    pool_1ms: 2_000,
};

/// The sizes of a smoke run (`--quick`): every code path, no meaningful figure.
pub(crate) const QUICK: Sizes = Sizes {
    tell: 20_000,
    ask: 5_000,
    tasks: 100,
    per_task: 20,
    spawn: 2_000,
    pool_noop: 5_000,
    pool_1ms: 100,
};

/// The workers of every pool.
pub(crate) const POOL_WORKERS: usize = 4;
/// The queue (or mailbox) capacity a pool gets where its API has one.
pub(crate) const POOL_QUEUE: usize = 1024;
/// The work of a `pool_1ms` job.
pub(crate) const JOB_SLEEP: Duration = Duration::from_millis(1);

pub(crate) use crate::counter::{Counter, Run, ask, contended, tell};

/// A tokio-based system written in its own style: its counter, and its `spawn` and pool
/// workloads. [`run_tokio`] runs every workload of it.
pub(crate) trait System {
    type Counter: Counter;
    /// A fresh counter actor.
    fn counter() -> impl Future<Output = Self::Counter> + Send;
    /// The `spawn` workload with `n` actors.
    fn spawn(n: u64) -> impl Future<Output = Run> + Send + 'static;
    /// A pool workload: `jobs` jobs, each sleeping `sleep` if set.
    fn pool(jobs: u64, sleep: Option<Duration>) -> impl Future<Output = Run> + Send + 'static;
}

/// Runs one workload of `S` on a tokio runtime, each driver in a spawned task.
pub(crate) fn run_tokio<S: System>(workload: &str, sizes: &Sizes, threads: Threads) -> Option<Run> {
    tokio_runtime(threads).block_on(async {
        match workload {
            "spawn" => Some(tokio::spawn(S::spawn(sizes.spawn)).await.expect("spawn driver")),
            "pool_noop" | "pool_1ms" => {
                let (jobs, sleep) = pool_jobs(workload, sizes);
                Some(tokio::spawn(S::pool(jobs, sleep)).await.expect("pool driver"))
            }
            _ => counter_workload(workload, sizes, S::counter).await,
        }
    })
}

/// Runs `tell`, `ask` or `contended` on a counter made by `make` (`None` for other workloads).
pub(crate) async fn counter_workload<C, F>(
    workload: &str,
    sizes: &Sizes,
    make: impl FnOnce() -> F,
) -> Option<Run>
where
    C: Counter,
    F: Future<Output = C>,
{
    Some(match workload {
        "tell" => tell(make().await, sizes.tell).await,
        "ask" => ask(make().await, sizes.ask).await,
        "contended" => contended(make().await, sizes.tasks, sizes.per_task).await,
        _ => return None,
    })
}

/// Signalled when a pool has handled its last job: every pool's job handler calls [`tick`],
/// so every system pays the same for completion tracking.
///
/// [`tick`]: Done::tick
#[derive(Debug)]
pub(crate) struct Done {
    target: u64,
    count: AtomicU64,
    notify: Notify,
}

impl Done {
    pub(crate) fn new(target: u64) -> Self {
        Done { target, count: AtomicU64::new(0), notify: Notify::new() }
    }

    /// One job handled (from any thread).
    pub(crate) fn tick(&self) {
        if self.count.fetch_add(1, Ordering::AcqRel) + 1 == self.target {
            // Stores a permit if nobody waits yet.
            self.notify.notify_one();
        }
    }

    /// Returns once `target` jobs were handled.
    pub(crate) async fn wait(&self) {
        self.notify.notified().await;
        assert_eq!(self.count.load(Ordering::Acquire), self.target, "no job handled twice");
    }
}

/// The size of a pool workload and its per-job work.
pub(crate) fn pool_jobs(workload: &str, sizes: &Sizes) -> (u64, Option<Duration>) {
    if workload == "pool_1ms" { (sizes.pool_1ms, Some(JOB_SLEEP)) } else { (sizes.pool_noop, None) }
}

/// Reads a `kB` field of `/proc/self/status` in MiB (Linux only).
fn status_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Resident memory now.
pub(crate) fn rss_mb() -> Option<f64> {
    status_mb("VmRSS:")
}

/// Peak resident memory of this process so far.
pub(crate) fn peak_rss_mb() -> Option<f64> {
    status_mb("VmHWM:")
}

/// The runtime a tokio-based system runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Threads {
    /// A two-worker multi-thread runtime: the default everywhere.
    Two,
    /// A current-thread runtime: driver and actors on one thread, as actix runs.
    One,
}

/// A tokio runtime of the given kind.
pub(crate) fn tokio_runtime(threads: Threads) -> tokio::runtime::Runtime {
    match threads {
        Threads::Two => {
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
        }
        Threads::One => tokio::runtime::Builder::new_current_thread().enable_all().build(),
    }
    .expect("runtime")
}

/// Runs the `spawn` workload's shape: `spawn_all` spawns `n` actors, `check` asks each once,
/// `stop_all` stops them and waits until all have stopped; reports the rate and the memory the
/// actors added at their peak.
pub(crate) async fn spawn_workload<T, S, F>(n: u64, spawn_all: S, check_and_stop: F) -> Run
where
    S: AsyncFnOnce(u64) -> T,
    F: AsyncFnOnce(T),
{
    // Resets the peak to the current resident size (Linux: `clear_refs` value 5), so the peak
    // read at the end belongs to this workload.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = rss_mb();
    let start = Instant::now();
    let actors = spawn_all(n).await;
    check_and_stop(actors).await;
    let elapsed = start.elapsed();
    let rss_added_mb = match (before, peak_rss_mb()) {
        (Some(before), Some(peak)) => Some((peak - before).max(0.0)),
        _ => None,
    };
    Run { ops: n, elapsed, latencies: Vec::new(), rss_added_mb }
}
