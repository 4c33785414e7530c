//! The counter workloads the core benchmark and the peers benchmark share: the `Counter`
//! operations, the hand-written baseline actor, the mutex, the `#[actor]` counter, and the
//! drivers of `tell`, `ask` and `contended`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actor_core::actor;
use tokio::sync::{Mutex, mpsc, oneshot};

/// The operations every system offers; monomorphised, so it costs nothing itself.
pub trait Counter: Clone + Send + Sync + 'static {
    /// A fire-and-forget add.
    fn add(&self, n: u64) -> impl Future<Output = ()> + Send;
    /// A request for the total.
    fn get(&self) -> impl Future<Output = u64> + Send;
}

// ---- the hand-written channel actor: the baseline, or floor ----

enum BaseMsg {
    Add(u64),
    Get(oneshot::Sender<u64>),
}

/// A tokio `mpsc` channel (capacity 1,024, as actor-core's default mailbox) and a task looping
/// over it, replies on `oneshot`: the floor any channel actor pays.
#[derive(Clone, Debug)]
pub struct Baseline(mpsc::Sender<BaseMsg>);

impl Baseline {
    /// Spawns the actor; it ends when every sender is dropped.
    pub fn spawn() -> (Self, tokio::task::JoinHandle<()>) {
        Self::spawn_with(1024)
    }

    /// [`Baseline::spawn`] with a channel of `capacity`.
    pub fn spawn_with(capacity: usize) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel(capacity);
        let task = tokio::spawn(async move {
            let mut total = 0u64;
            while let Some(msg) = rx.recv().await {
                match msg {
                    BaseMsg::Add(n) => total += n,
                    BaseMsg::Get(reply) => {
                        let _ = reply.send(total);
                    }
                }
            }
        });
        (Baseline(tx), task)
    }
}

impl Counter for Baseline {
    async fn add(&self, n: u64) {
        self.0.send(BaseMsg::Add(n)).await.expect("baseline actor alive");
    }

    async fn get(&self) -> u64 {
        let (tx, rx) = oneshot::channel();
        self.0.send(BaseMsg::Get(tx)).await.expect("baseline actor alive");
        rx.await.expect("baseline actor replies")
    }
}

// ---- #[actor] ----

struct MacroTotal {
    total: u64,
}

#[actor]
impl MacroTotal {
    /// Fire-and-forget: no reply slot in the message.
    #[actor(tell)]
    fn add(&mut self, n: u64) {
        self.total += n;
    }

    fn get(&self) -> u64 {
        self.total
    }
}

/// The counter written with `#[actor]`, driven through its generated handle.
#[derive(Clone, Debug)]
pub struct Macro(MacroTotalHandle);

impl Macro {
    pub fn spawn() -> Self {
        Macro(MacroTotal { total: 0 }.spawn().expect("inside a runtime"))
    }

    /// Asks the actor to stop.
    #[allow(dead_code, reason = "the core benchmark stops its hand-written actor only")]
    pub fn stop(&self) {
        self.0.stop();
    }

    /// Waits until the actor has stopped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits.
    #[allow(dead_code, reason = "the core benchmark stops its hand-written actor only")]
    pub async fn stopped(&self) {
        self.0.stopped().await;
    }
}

impl Counter for Macro {
    async fn add(&self, n: u64) {
        self.0.add(n).await.unwrap_or_else(|_| panic!("actor alive"));
    }

    async fn get(&self) -> u64 {
        self.0.get().await.expect("actor replies")
    }
}

// ---- mutex ----

/// The counter as shared state behind an async mutex.
#[derive(Clone, Debug, Default)]
pub struct Locked(Arc<Mutex<u64>>);

impl Counter for Locked {
    async fn add(&self, n: u64) {
        *self.0.lock().await += n;
    }

    async fn get(&self) -> u64 {
        *self.0.lock().await
    }
}

// ---- drivers ----

/// One measured run of one workload.
#[derive(Debug)]
pub struct Run {
    /// Operations completed.
    pub ops: u64,
    pub elapsed: Duration,
    /// Per-operation latencies in nanoseconds, where the workload times them.
    pub latencies: Vec<u64>,
    /// Resident memory the workload added at its peak, in MiB, where it is measured.
    #[allow(dead_code, reason = "only the peers benchmark measures memory through a Run")]
    pub rss_added_mb: Option<f64>,
}

impl Run {
    /// A run of `ops` operations, timed as a whole.
    pub fn timed(ops: u64, elapsed: Duration) -> Self {
        Run { ops, elapsed, latencies: Vec::new(), rss_added_mb: None }
    }
}

/// `n` fire-and-forget adds from one task, then one ask that sees them all.
///
/// # Cancel safety
///
/// The adds run on a spawned task: if this future is dropped, that task still runs them to
/// the end (the counter gets all `n`) and its result is discarded.
pub async fn tell<C: Counter>(counter: C, n: u64) -> Run {
    tokio::spawn(async move {
        let start = Instant::now();
        for _ in 0..n {
            counter.add(1).await;
        }
        assert_eq!(counter.get().await, n, "every tell was handled before the ask");
        Run::timed(n, start.elapsed())
    })
    .await
    .expect("tell driver")
}

/// `n` sequential round trips from one task, each timed.
///
/// # Cancel safety
///
/// As [`tell`]: the round trips finish on their spawned task, which changes nothing.
pub async fn ask<C: Counter>(counter: C, n: u64) -> Run {
    tokio::spawn(async move {
        let mut latencies = Vec::with_capacity(n as usize);
        let start = Instant::now();
        for _ in 0..n {
            let t = Instant::now();
            std::hint::black_box(counter.get().await);
            latencies.push(t.elapsed().as_nanos() as u64);
        }
        Run { ops: n, elapsed: start.elapsed(), latencies, rss_added_mb: None }
    })
    .await
    .expect("ask driver")
}

/// `tasks` tasks each doing `per_task` timed round trips to one shared counter: an ask per
/// operation for the actors, a lock per operation for the mutex.
///
/// # Cancel safety
///
/// As [`tell`]: the spawned tasks finish their round trips, which change nothing; only the
/// latencies are lost.
pub async fn contended<C: Counter>(counter: C, tasks: u64, per_task: u64) -> Run {
    let start = Instant::now();
    let drivers: Vec<_> = (0..tasks)
        .map(|_| {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_task as usize);
                for _ in 0..per_task {
                    let t = Instant::now();
                    std::hint::black_box(counter.get().await);
                    latencies.push(t.elapsed().as_nanos() as u64);
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity((tasks * per_task) as usize);
    for driver in drivers {
        latencies.extend(driver.await.expect("contended driver"));
    }
    Run { ops: tasks * per_task, elapsed: start.elapsed(), latencies, rss_added_mb: None }
}
