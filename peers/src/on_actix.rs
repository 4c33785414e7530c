//! actix, written the way its documentation shows: `Actor` + `Handler<M>` per message type,
//! `#[derive(Message)]`, `start()` inside a `System` (one thread: actix runs each arbiter on a
//! single-threaded runtime), `do_send` for fire-and-forget (queued even when the mailbox is
//! full) and `send(..).await` for requests. Pools are a `SyncArbiter` of four sync actors,
//! actix's pool, on four threads of their own; their 1 ms job is a `std::thread::sleep`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::counter::Counter;
use crate::measure::{self, Done, POOL_WORKERS, Run, Sizes};

struct Total {
    total: u64,
    /// Told when the actor stops (the `spawn` workload waits for every actor to stop).
    stopped: Option<Arc<Done>>,
}

impl Actor for Total {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if let Some(done) = &self.stopped {
            done.tick();
        }
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Add(u64);

impl Handler<Add> for Total {
    type Result = ();

    fn handle(&mut self, Add(n): Add, _ctx: &mut Self::Context) {
        self.total += n;
    }
}

#[derive(Message)]
#[rtype(result = "u64")]
struct Get;

impl Handler<Get> for Total {
    type Result = u64;

    fn handle(&mut self, _: Get, _ctx: &mut Self::Context) -> u64 {
        self.total
    }
}

#[derive(Clone)]
struct Actix(Addr<Total>);

impl Actix {
    fn start(stopped: Option<Arc<Done>>) -> Self {
        Actix(Total { total: 0, stopped }.start())
    }
}

impl Counter for Actix {
    async fn add(&self, n: u64) {
        self.0.do_send(Add(n));
    }

    async fn get(&self) -> u64 {
        self.0.send(Get).await.expect("actix actor replies")
    }
}

/// actix's workloads, each in a `System` of its own.
pub(crate) fn run(workload: &str, sizes: &Sizes) -> Option<Run> {
    let sizes = *sizes;
    let workload = workload.to_owned();
    System::new().block_on(async move {
        match workload.as_str() {
            "spawn" => Some(spawn(sizes.spawn).await),
            "pool_noop" | "pool_1ms" => {
                let (jobs, sleep) = measure::pool_jobs(&workload, &sizes);
                Some(pool(jobs, sleep).await)
            }
            _ => {
                measure::counter_workload(&workload, &sizes, || async { Actix::start(None) }).await
            }
        }
    })
}

async fn spawn(n: u64) -> Run {
    let stopped = Arc::new(Done::new(n));
    measure::spawn_workload(
        n,
        async |n| (0..n).map(|_| Actix::start(Some(Arc::clone(&stopped)))).collect::<Vec<_>>(),
        async |actors| {
            for actor in &actors {
                assert_eq!(actor.get().await, 0);
            }
            // An actix actor stops when its last address is dropped and its mailbox is empty.
            drop(actors);
            stopped.wait().await;
        },
    )
    .await
}

struct Worker {
    sleep: Option<Duration>,
    done: Arc<Done>,
}

impl Actor for Worker {
    type Context = SyncContext<Self>;
}

#[derive(Message)]
#[rtype(result = "()")]
struct Work(u64);

impl Handler<Work> for Worker {
    type Result = ();

    fn handle(&mut self, Work(job): Work, _ctx: &mut Self::Context) {
        if let Some(d) = self.sleep {
            #[expect(
                clippy::disallowed_methods,
                reason = "a SyncArbiter worker has a thread of its own: the 1 ms job blocks it"
            )]
            std::thread::sleep(d);
        }
        std::hint::black_box(job);
        self.done.tick();
    }
}

/// A `SyncArbiter` of four workers, one producer using `do_send`.
async fn pool(jobs: u64, sleep: Option<Duration>) -> Run {
    let done = Arc::new(Done::new(jobs));
    let for_workers = Arc::clone(&done);
    let pool =
        SyncArbiter::start(POOL_WORKERS, move || Worker { sleep, done: Arc::clone(&for_workers) });
    let start = Instant::now();
    for n in 0..jobs {
        pool.do_send(Work(n));
    }
    done.wait().await;
    let elapsed = start.elapsed();
    drop(pool);
    Run::timed(jobs, elapsed)
}
