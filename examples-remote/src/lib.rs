//! The remote-actors scenario: a front process asks a `Counter` served by process B and a
//! pool (a factory of workers in each of B and C, served under one name) over NATS; B is
//! killed with `SIGKILL`, and later restarted.
//!
//! [`scenario::run`] plays the front and reports what it saw; [`serve`] is what B and C run.
//! The example (`examples/remote_cluster.rs`) and the CI test (`tests/cluster.rs`) start the
//! same scenario, the processes being the program itself in another role.

use std::time::Duration;

use actor_core::actor;
use actor_factory::{FactorySpec, Job};
use actor_remote::{Call, Node, PoolRequest};

pub mod scenario;

/// A counter, served by B alone.
#[derive(Debug, Default)]
pub struct Counter {
    count: u64,
}

#[actor(remote)]
impl Counter {
    /// Adds `by` and returns the new count.
    pub fn add(&mut self, by: u64) -> u64 {
        self.count += by;
        self.count
    }

    /// Says `slow` on stdout, then waits `ms` before answering (an ask in flight when its
    /// process dies).
    pub async fn slow(&self, ms: u64) -> u64 {
        scenario::say("slow");
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }
}

/// The pool's request: which process handled it?
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct WhoAmI;

impl PoolRequest for WhoAmI {
    /// The id of the process whose worker answered.
    type Reply = u32;
    const TAG: &'static str = "WhoAmI";
}

/// A worker of the factory each of B and C serves as the pool.
#[derive(Debug, Default)]
pub struct Worker;

#[actor]
impl Worker {
    /// Answers a pool ask with this process's id.
    pub async fn work(&mut self, mut job: Job<(), Call<WhoAmI>>) {
        if let Some(call) = job.take() {
            call.answer(std::process::id());
        }
    }
}

/// The name the counter is served under.
pub const COUNTER: &str = "demo.counter";
/// The name the pool is served under.
pub const POOL: &str = "demo.pool";

/// Any error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a serving process runs: the pool (a factory of two workers), and the counter too if `with_counter`; prints
/// `ready` once both are served, then serves until killed.
///
/// # Errors
///
/// The NATS server cannot be reached, or serving fails.
///
/// # Cancel safety
///
/// If the future is dropped, whatever it served stops being served (each `Served` is dropped
/// with it) and its actors stop; nothing is left half registered.
pub async fn serve(url: &str, prefix: &str, with_counter: bool) -> Result<(), BoxError> {
    let node = Node::connect(url).await?.with_prefix(prefix.to_owned());
    let factory = FactorySpec::new(2, || Ok(Worker), WorkerMessage::work).spawn()?;
    let _pool = node.serve_factory(POOL, factory, |_: &WhoAmI| ()).await?;
    let _counter = match with_counter {
        true => Some(node.serve(COUNTER, Counter::default().spawn()?).await?),
        false => None,
    };
    scenario::say("ready");
    std::future::pending::<()>().await;
    Ok(())
}
