//! actor-core, written the way its documentation shows: one `#[actor]` attribute, driven
//! through the generated handle; pools are actor-factory factories of `#[actor]` workers.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actor_core::actor;
use actor_factory::{Backpressure, FactorySpec, Job};

use crate::counter::{Counter, Macro};
use crate::measure::{self, Done, POOL_QUEUE, POOL_WORKERS, Run, System};

/// actor-core, in the peers' terms.
pub(crate) struct Ours;

impl System for Ours {
    type Counter = Macro;

    async fn counter() -> Macro {
        Macro::spawn()
    }

    fn spawn(n: u64) -> impl Future<Output = Run> + Send + 'static {
        spawn(n)
    }

    fn pool(jobs: u64, sleep: Option<Duration>) -> impl Future<Output = Run> + Send + 'static {
        pool(jobs, sleep)
    }
}

async fn spawn(n: u64) -> Run {
    measure::spawn_workload(
        n,
        async |n| (0..n).map(|_| Macro::spawn()).collect::<Vec<_>>(),
        async |actors| {
            for actor in &actors {
                assert_eq!(actor.get().await, 0);
            }
            for actor in &actors {
                actor.stop();
            }
            for actor in &actors {
                actor.stopped().await;
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
