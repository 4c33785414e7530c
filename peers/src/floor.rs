//! The floor: a hand-written tokio `mpsc` + `oneshot` actor, what any channel actor pays at
//! least; and `Arc<tokio::sync::Mutex<u64>>`, the shared-state alternative.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{Mutex, mpsc, oneshot};

use crate::measure::{self, Counter, Done, POOL_QUEUE, POOL_WORKERS, Run, Sizes, Threads};

enum Msg {
    Add(u64),
    Get(oneshot::Sender<u64>),
}

/// The handle of the hand-written actor: a bounded sender (capacity 1,024).
#[derive(Clone)]
pub(crate) struct Floor(mpsc::Sender<Msg>);

impl Floor {
    fn spawn() -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel(1024);
        let task = tokio::spawn(async move {
            let mut total = 0u64;
            while let Some(msg) = rx.recv().await {
                match msg {
                    Msg::Add(n) => total += n,
                    Msg::Get(reply) => {
                        let _ = reply.send(total);
                    }
                }
            }
        });
        (Floor(tx), task)
    }
}

impl Counter for Floor {
    async fn add(&self, n: u64) {
        self.0.send(Msg::Add(n)).await.expect("floor actor alive");
    }

    async fn get(&self) -> u64 {
        let (tx, rx) = oneshot::channel();
        self.0.send(Msg::Get(tx)).await.expect("floor actor alive");
        rx.await.expect("floor actor replies")
    }
}

/// The counter as shared state behind an async mutex.
#[derive(Clone, Default)]
pub(crate) struct Locked(Arc<Mutex<u64>>);

impl Counter for Locked {
    async fn add(&self, n: u64) {
        *self.0.lock().await += n;
    }

    async fn get(&self) -> u64 {
        *self.0.lock().await
    }
}

/// The floor's workloads.
pub(crate) fn run(workload: &str, sizes: &Sizes, threads: Threads) -> Option<Run> {
    let runtime = measure::tokio_runtime(threads);
    runtime.block_on(async {
        Some(match workload {
            "tell" => measure::tell(Floor::spawn().0, sizes.tell).await,
            "ask" => measure::ask(Floor::spawn().0, sizes.ask).await,
            "contended" => measure::contended(Floor::spawn().0, sizes.tasks, sizes.per_task).await,
            "spawn" => tokio::spawn(spawn(sizes.spawn)).await.expect("spawn driver"),
            "pool_noop" | "pool_1ms" => {
                let (jobs, sleep) = measure::pool_jobs(workload, sizes);
                tokio::spawn(pool(jobs, sleep)).await.expect("pool driver")
            }
            _ => return None,
        })
    })
}

/// The mutex's workloads (the counter ones only).
pub(crate) fn run_mutex(workload: &str, sizes: &Sizes) -> Option<Run> {
    let runtime = measure::tokio_runtime(Threads::Two);
    runtime.block_on(async {
        Some(match workload {
            "tell" => measure::tell(Locked::default(), sizes.tell).await,
            "ask" => measure::ask(Locked::default(), sizes.ask).await,
            "contended" => measure::contended(Locked::default(), sizes.tasks, sizes.per_task).await,
            _ => return None,
        })
    })
}

async fn spawn(n: u64) -> Run {
    measure::spawn_workload(
        n,
        async |n| (0..n).map(|_| Floor::spawn()).collect::<Vec<_>>(),
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
async fn pool(jobs: u64, sleep: Option<std::time::Duration>) -> Run {
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
