//! kameo, written the way its README shows: `#[derive(Actor)]`, one `Message<M>` impl per
//! message type, `spawn`, `tell(..).await` and `ask(..).await`; default (bounded, 64) mailboxes.
//! Pools are `kameo_actors::pool::ActorPool`, fed with `Dispatch`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kameo::prelude::*;
use kameo_actors::pool::{ActorPool, Dispatch};

use crate::counter::Counter;
use crate::measure::{self, Done, POOL_WORKERS, Run, System};

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
pub(crate) struct Kameo(ActorRef<Total>);

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

/// kameo, in the peers' terms.
pub(crate) struct KameoSystem;

impl System for KameoSystem {
    type Counter = Kameo;

    async fn counter() -> Kameo {
        Kameo::spawn()
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
