//! ractor, written the way its documentation shows: an `Actor` impl with a message enum,
//! `Actor::spawn`, `cast` (unbounded mailbox, no waiting) and `call!` for requests. Pools are
//! `ractor::factory::Factory` with queuer routing and the default queue, fed with `cast`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::factory::queues::DefaultQueue;
use ractor::factory::routing::QueuerRouting;
use ractor::factory::{
    Factory, FactoryArguments, FactoryMessage, Job, JobOptions, Worker as FactoryWorker,
    WorkerBuilder, WorkerId,
};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::counter::Counter;
use crate::measure::{self, Done, POOL_WORKERS, Run, System};

struct Total;

enum TotalMsg {
    Add(u64),
    Get(RpcReplyPort<u64>),
}

impl Actor for Total {
    type Msg = TotalMsg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        _args: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        total: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            TotalMsg::Add(n) => *total += n,
            TotalMsg::Get(reply) => {
                if !reply.is_closed() {
                    reply.send(*total)?;
                }
            }
        }
        Ok(())
    }
}

#[derive(Clone)]
pub(crate) struct Ractor(ActorRef<TotalMsg>);

impl Ractor {
    async fn spawn() -> (Self, ractor::concurrency::JoinHandle<()>) {
        let (actor, handle) = Actor::spawn(None, Total, ()).await.expect("spawn a ractor actor");
        (Ractor(actor), handle)
    }
}

impl Counter for Ractor {
    async fn add(&self, n: u64) {
        self.0.cast(TotalMsg::Add(n)).unwrap_or_else(|_| panic!("ractor actor alive"));
    }

    async fn get(&self) -> u64 {
        ractor::call!(self.0, TotalMsg::Get).unwrap_or_else(|_| panic!("ractor actor replies"))
    }
}

/// ractor, in the peers' terms.
pub(crate) struct RactorSystem;

impl System for RactorSystem {
    type Counter = Ractor;

    async fn counter() -> Ractor {
        Ractor::spawn().await.0
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
        async |n| {
            let mut actors = Vec::with_capacity(n as usize);
            for _ in 0..n {
                actors.push(Ractor::spawn().await);
            }
            actors
        },
        async |actors| {
            for (actor, _) in &actors {
                assert_eq!(actor.get().await, 0);
            }
            for (actor, _) in &actors {
                actor.0.stop(None);
            }
            for (_, handle) in actors {
                handle.await.expect("ractor actor");
            }
        },
    )
    .await
}

#[derive(Debug)]
struct Work(u64);

struct Worker {
    sleep: Option<Duration>,
    done: Arc<Done>,
}

impl FactoryWorker for Worker {
    type Key = u64;
    type Message = Work;
    type State = ();
    type Arguments = ();

    async fn pre_start(
        &self,
        _wid: WorkerId,
        _factory: &ActorRef<FactoryMessage<u64, Work>>,
        _args: (),
    ) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _wid: WorkerId,
        _factory: &ActorRef<FactoryMessage<u64, Work>>,
        Job { key, msg, .. }: Job<u64, Work>,
        _state: &mut (),
    ) -> Result<u64, ActorProcessingErr> {
        if let Some(d) = self.sleep {
            tokio::time::sleep(d).await;
        }
        std::hint::black_box(msg.0);
        self.done.tick();
        Ok(key)
    }
}

struct Builder {
    sleep: Option<Duration>,
    done: Arc<Done>,
}

impl WorkerBuilder<Worker, ()> for Builder {
    fn build(&mut self, _wid: usize) -> (Worker, ()) {
        (Worker { sleep: self.sleep, done: Arc::clone(&self.done) }, ())
    }
}

/// A factory of four workers, queuer routing, the default queue, one producer casting
/// `Dispatch`.
async fn pool(jobs: u64, sleep: Option<Duration>) -> Run {
    let done = Arc::new(Done::new(jobs));
    let builder = Builder { sleep, done: Arc::clone(&done) };
    let definition = Factory::<
        u64,
        Work,
        (),
        Worker,
        QueuerRouting<u64, Work>,
        DefaultQueue<u64, Work>,
    >::default();
    let (factory, handle) = Actor::spawn(
        None,
        definition,
        FactoryArguments::builder()
            .num_initial_workers(POOL_WORKERS)
            .queue(DefaultQueue::default())
            .router(QueuerRouting::default())
            .worker_builder(Box::new(builder) as Box<dyn WorkerBuilder<Worker, ()>>)
            .build(),
    )
    .await
    .expect("spawn a ractor factory");
    let start = Instant::now();
    for n in 0..jobs {
        factory
            .cast(FactoryMessage::Dispatch(Job {
                key: n,
                msg: Work(n),
                options: JobOptions::default(),
                accepted: None,
            }))
            .unwrap_or_else(|_| panic!("ractor factory alive"));
    }
    done.wait().await;
    let elapsed = start.elapsed();
    factory.stop(None);
    handle.await.expect("ractor factory");
    Run::timed(jobs, elapsed)
}
