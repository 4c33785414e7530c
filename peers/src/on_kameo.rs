//! kameo, written the way its README shows: `#[derive(Actor)]`, one `Message<M>` impl per
//! message type, `spawn`, `tell(..).await` and `ask(..).await`; default (bounded, 64) mailboxes.
//! Pools are `kameo_actors::pool::ActorPool`, fed with `Dispatch`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kameo::prelude::*;
use kameo_actors::pool::{ActorPool, Dispatch};

use crate::measure::{self, Counter, Done, POOL_WORKERS, Run, Sizes, Threads};

#[derive(Actor)]
struct Total {
    total: u64,
}

struct Add(u64);

impl Message<Add> for Total {
    type Reply = ();

    async fn handle(&mut self, Add(n): Add, _ctx: &mut Context<Self, Self::Reply>) {
        self.total += n;
    }
}

struct Get;

impl Message<Get> for Total {
    type Reply = u64;

    async fn handle(&mut self, _: Get, _ctx: &mut Context<Self, Self::Reply>) -> u64 {
        self.total
    }
}

#[derive(Clone)]
struct Kameo(ActorRef<Total>);

impl Kameo {
    fn spawn() -> Self {
        Kameo(Total::spawn(Total { total: 0 }))
    }
}

impl Counter for Kameo {
    async fn add(&self, n: u64) {
        self.0.tell(Add(n)).await.unwrap_or_else(|_| panic!("kameo actor alive"));
    }

    async fn get(&self) -> u64 {
        self.0.ask(Get).await.unwrap_or_else(|_| panic!("kameo actor replies"))
    }
}

/// kameo's workloads.
pub(crate) fn run(workload: &str, sizes: &Sizes) -> Option<Run> {
    let runtime = measure::tokio_runtime(Threads::Two);
    runtime.block_on(async {
        Some(match workload {
            "tell" => measure::tell(Kameo::spawn(), sizes.tell).await,
            "ask" => measure::ask(Kameo::spawn(), sizes.ask).await,
            "contended" => measure::contended(Kameo::spawn(), sizes.tasks, sizes.per_task).await,
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
        async |n| (0..n).map(|_| Kameo::spawn()).collect::<Vec<_>>(),
        async |actors| {
            for actor in &actors {
                assert_eq!(actor.get().await, 0);
            }
            for actor in &actors {
                actor.0.stop_gracefully().await.unwrap_or_else(|_| panic!("kameo actor alive"));
            }
            for actor in &actors {
                actor.0.wait_for_shutdown().await;
            }
        },
    )
    .await
}

#[derive(Actor)]
struct Worker {
    sleep: Option<Duration>,
    done: Arc<Done>,
}

struct Work(u64);

impl Message<Work> for Worker {
    type Reply = ();

    async fn handle(&mut self, Work(job): Work, _ctx: &mut Context<Self, Self::Reply>) {
        if let Some(d) = self.sleep {
            tokio::time::sleep(d).await;
        }
        std::hint::black_box(job);
        self.done.tick();
    }
}

/// An `ActorPool` of four workers (least-connections routing), one producer telling
/// `Dispatch` to the pool actor.
async fn pool(jobs: u64, sleep: Option<Duration>) -> Run {
    let done = Arc::new(Done::new(jobs));
    let for_workers = Arc::clone(&done);
    let pool = ActorPool::spawn(ActorPool::new(POOL_WORKERS, move || {
        Worker::spawn(Worker { sleep, done: Arc::clone(&for_workers) })
    }));
    let start = Instant::now();
    for n in 0..jobs {
        pool.tell(Dispatch(Work(n))).await.unwrap_or_else(|_| panic!("kameo pool alive"));
    }
    done.wait().await;
    let elapsed = start.elapsed();
    pool.kill();
    pool.wait_for_shutdown().await;
    Run::timed(jobs, elapsed)
}
