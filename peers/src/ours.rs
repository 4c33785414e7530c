//! actor-core, written the way its documentation shows: one `#[actor]` attribute, driven
//! through the generated handle; pools are actor-factory factories of `#[actor]` workers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actor_core::actor;
use actor_factory::{Backpressure, FactorySpec, Job};

use crate::measure::{self, Counter, Done, POOL_QUEUE, POOL_WORKERS, Run, Sizes, Threads};

struct Total {
    total: u64,
}

#[actor]
impl Total {
    /// Fire-and-forget: no reply slot in the message.
    #[actor(tell)]
    fn add(&mut self, n: u64) {
        self.total += n;
    }

    fn get(&self) -> u64 {
        self.total
    }
}

#[derive(Clone)]
struct Core(TotalHandle);

impl Core {
    fn spawn() -> Self {
        Core(Total { total: 0 }.spawn().expect("inside a runtime"))
    }
}

impl Counter for Core {
    async fn add(&self, n: u64) {
        self.0.add(n).await.unwrap_or_else(|_| panic!("actor alive"));
    }

    async fn get(&self) -> u64 {
        self.0.get().await.expect("actor replies")
    }
}

/// actor-core's workloads.
pub(crate) fn run(workload: &str, sizes: &Sizes, threads: Threads) -> Option<Run> {
    let runtime = measure::tokio_runtime(threads);
    runtime.block_on(async {
        Some(match workload {
            "tell" => measure::tell(Core::spawn(), sizes.tell).await,
            "ask" => measure::ask(Core::spawn(), sizes.ask).await,
            "contended" => measure::contended(Core::spawn(), sizes.tasks, sizes.per_task).await,
            "spawn" => tokio::spawn(spawn(sizes.spawn)).await.expect("spawn driver"),
            "pool_noop" | "pool_1ms" => {
                let (jobs, sleep) = measure::pool_jobs(workload, sizes);
                tokio::spawn(pool(jobs, sleep)).await.expect("pool driver")
            }
            _ => return None,
        })
    })
}

async fn spawn(n: u64) -> Run {
    measure::spawn_workload(
        n,
        async |n| (0..n).map(|_| Core::spawn()).collect::<Vec<_>>(),
        async |actors| {
            for actor in &actors {
                assert_eq!(actor.get().await, 0);
            }
            for actor in &actors {
                actor.0.stop();
            }
            for actor in &actors {
                actor.0.stopped().await;
            }
        },
    )
    .await
}

struct Worker {
    sleep: Option<Duration>,
    done: Arc<Done>,
}

#[actor]
impl Worker {
    async fn work(&mut self, job: Job<u64, u64>) {
        if let Some(d) = self.sleep {
            tokio::time::sleep(d).await;
        }
        drop(job);
        self.done.tick();
    }
}

/// A factory of four workers, queuer routing, a queue of 1,024 with waiting backpressure.
async fn pool(jobs: u64, sleep: Option<Duration>) -> Run {
    let done = Arc::new(Done::new(jobs));
    let for_workers = Arc::clone(&done);
    let factory = FactorySpec::new(
        POOL_WORKERS,
        move || Ok(Worker { sleep, done: Arc::clone(&for_workers) }),
        WorkerMessage::work,
    )
    .queue(POOL_QUEUE, Backpressure::Wait)
    .spawn()
    .expect("spawn the factory");
    let start = Instant::now();
    for n in 0..jobs {
        factory.submit(n, n).await.expect("submit");
    }
    done.wait().await;
    let elapsed = start.elapsed();
    let stats = factory.drain().await;
    assert_eq!(stats.processed, jobs);
    Run::timed(jobs, elapsed)
}
