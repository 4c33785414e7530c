//! The floor: a hand-written tokio `mpsc` + `oneshot` actor, what any channel actor pays at
//! least; and `Arc<tokio::sync::Mutex<u64>>`, the shared-state alternative.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, mpsc};

use crate::counter::{Baseline, Counter, Locked};
use crate::measure::{self, Done, POOL_QUEUE, POOL_WORKERS, Run, Sizes, System, Threads};

/// The floor, in the peers' terms.
pub(crate) struct Floor;

impl System for Floor {
    type Counter = Baseline;

    async fn counter() -> Baseline {
        Baseline::spawn().0
    }

    fn spawn(n: u64) -> impl Future<Output = Run> + Send + 'static {
        spawn(n)
    }

    fn pool(jobs: u64, sleep: Option<Duration>) -> impl Future<Output = Run> + Send + 'static {
        pool(jobs, sleep)
    }
}

/// The mutex's workloads (the counter ones only).
pub(crate) fn run_mutex(workload: &str, sizes: &Sizes) -> Option<Run> {
    measure::tokio_runtime(Threads::Two).block_on(measure::counter_workload(
        workload,
        sizes,
        || async { Locked::default() },
    ))
}

async fn spawn(n: u64) -> Run {
    measure::spawn_workload(
        n,
        async |n| (0..n).map(|_| Baseline::spawn()).collect::<Vec<_>>(),
        async |actors| {
            for (actor, _) in &actors {
                assert_eq!(actor.get().await, 0);
            }
            // Stop all (drop the senders), then wait for all.
            let (senders, tasks): (Vec<_>, Vec<_>) = actors.into_iter().unzip();
            drop(senders);
            for task in tasks {
                task.await.expect("floor actor");
            }
        },
    )
    .await
}

/// Four tasks sharing one bounded receiver behind an async mutex, one producer.
async fn pool(jobs: u64, sleep: Option<Duration>) -> Run {
    let done = Arc::new(Done::new(jobs));
    let (tx, rx) = mpsc::channel::<u64>(POOL_QUEUE);
    let rx = Arc::new(Mutex::new(rx));
    let start = Instant::now();
    let workers: Vec<_> = (0..POOL_WORKERS)
        .map(|_| {
            let (rx, done) = (Arc::clone(&rx), Arc::clone(&done));
            tokio::spawn(async move {
                loop {
                    let job = rx.lock().await.recv().await;
                    let Some(job) = job else { return };
                    if let Some(d) = sleep {
                        tokio::time::sleep(d).await;
                    }
                    std::hint::black_box(job);
                    done.tick();
                }
            })
        })
        .collect();
    for n in 0..jobs {
        tx.send(n).await.expect("send");
    }
    done.wait().await;
    let elapsed = start.elapsed();
    drop(tx);
    for worker in workers {
        worker.await.expect("worker");
    }
    Run::timed(jobs, elapsed)
}
