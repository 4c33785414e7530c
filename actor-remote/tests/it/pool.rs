//! A factory served as a pool: asks spread over every process serving the name, each is one
//! job, a worker's failure reaches the caller typed, and draining stops serving.

use std::sync::Arc;
use std::time::Duration;

use actor_core::actor;
use actor_factory::{Backpressure, Factory, FactorySpec, Job};
use actor_remote::{Call, Down, Node, PoolRemote, PoolRequest, RemoteError, RemoteHandle, Served};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use crate::support::{node, unique_name};

/// What a worker does with a request.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum Mode {
    /// Answers at once.
    Echo,
    /// Says it started, then waits for a permit of the gate.
    Wait,
    /// Panics with the call.
    Panic,
    /// Drops the call without answering.
    Forget,
    /// Answers the milliseconds left until the call's deadline.
    Deadline,
}

#[derive(Debug, Serialize, Deserialize)]
struct Work {
    n: u64,
    mode: Mode,
}

impl PoolRequest for Work {
    /// The serving factory's label and `n * 2`.
    type Reply = (String, u64);
    const TAG: &'static str = "Work";
}

/// `Work` as a newer release would send it: the same fields, a newer protocol version.
#[derive(Debug, Serialize, Deserialize)]
#[serde(transparent)]
struct WorkV2(Work);

impl PoolRequest for WorkV2 {
    type Reply = (String, u64);
    const TAG: &'static str = "Work";
    const VERSION: u32 = 2;
}

struct PoolWorker {
    label: &'static str,
    gate: Arc<Semaphore>,
    started: mpsc::UnboundedSender<u64>,
}

#[actor]
impl PoolWorker {
    async fn work(&mut self, mut job: Job<u64, Call<Work>>) {
        let Some(call) = job.payload() else { return };
        let n = call.request().n;
        match call.request().mode {
            Mode::Echo => {}
            Mode::Wait => {
                let _ = self.started.send(n);
                let _permit = self.gate.acquire().await;
            }
            Mode::Panic => panic!("crash on purpose"),
            Mode::Forget => return,
            Mode::Deadline => {
                let left = call.deadline().map_or(u64::MAX, |deadline| {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    u64::try_from(left.as_millis()).unwrap_or(u64::MAX)
                });
                if let Some(call) = job.take() {
                    call.answer((self.label.to_owned(), left));
                }
                return;
            }
        }
        if let Some(call) = job.take() {
            call.answer((self.label.to_owned(), n * 2));
        }
    }
}

/// A factory of `workers` labelled `label`, with its gate and the receiver of `Wait` starts.
struct Pool {
    factory: Factory<PoolWorker, u64, Call<Work>>,
    gate: Arc<Semaphore>,
    started: mpsc::UnboundedReceiver<u64>,
}

fn pool(label: &'static str, workers: usize, queue: Option<(usize, Backpressure)>) -> Pool {
    let gate = Arc::new(Semaphore::new(0));
    let (tx, started) = mpsc::unbounded_channel();
    let build = {
        let gate = Arc::clone(&gate);
        move || Ok(PoolWorker { label, gate: Arc::clone(&gate), started: tx.clone() })
    };
    let mut spec = FactorySpec::new(workers, build, PoolWorkerMessage::work);
    if let Some((capacity, backpressure)) = queue {
        spec = spec.queue(capacity, backpressure);
    }
    Pool { factory: spec.spawn().unwrap(), gate, started }
}

/// A pool served under a fresh name on `node`, and a handle to it.
async fn serve(node: &Node, name: &str, pool: &Pool) -> (Served, PoolRemote<Work>) {
    let served = node.serve_factory(name, pool.factory.clone(), |w: &Work| w.n).await.unwrap();
    (served, node.resolve(name).await.unwrap())
}

/// An ask on a task of its own.
fn spawn_ask(
    remote: &PoolRemote<Work>,
    work: Work,
) -> JoinHandle<Result<(String, u64), RemoteError>> {
    let remote = remote.clone();
    tokio::spawn(async move { remote.ask(&work).await })
}

async fn second_node() -> Node {
    let url = actor_test_support::nats_url().expect("a NATS server, as for the first node");
    Node::connect(&url).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asks_spread_over_every_factory_serving_the_name_each_one_job() {
    let Some(node) = node().await else { return };
    let name = unique_name("pool-spread");
    let (a, b) = (pool("a", 2, None), pool("b", 2, None));
    // Two connections, as two processes would serve it.
    let _served_a = node.serve_factory(&name, a.factory.clone(), |w: &Work| w.n).await.unwrap();
    let other = second_node().await;
    let _served_b = other.serve_factory(&name, b.factory.clone(), |w: &Work| w.n).await.unwrap();

    let remote: PoolRemote<Work> = node.resolve(&name).await.unwrap();
    let asks = (0..200u64).map(|n| spawn_ask(&remote, Work { n, mode: Mode::Echo }));
    let mut by = [0u64; 2];
    for (n, ask) in asks.enumerate() {
        let (label, doubled) = ask.await.unwrap().unwrap();
        assert_eq!(doubled, n as u64 * 2);
        by[usize::from(label == "b")] += 1;
    }
    assert!(by[0] > 0 && by[1] > 0, "both factories answered: {by:?}");
    let (stats_a, stats_b) = (a.factory.drain().await, b.factory.drain().await);
    assert_eq!((stats_a.processed, stats_b.processed), (by[0], by[1]), "one job per ask");
}

#[tokio::test]
async fn a_worker_that_panics_or_forgets_answers_with_a_typed_error() {
    let Some(node) = node().await else { return };
    let name = unique_name("pool-failures");
    let mut p = pool("a", 1, None);
    let (_served, remote) = serve(&node, &name, &p).await;

    match remote.ask(&Work { n: 1, mode: Mode::Panic }).await {
        Err(RemoteError::Panicked(why)) => assert!(why.contains("panicked"), "{why}"),
        other => panic!("expected Panicked, got {other:?}"),
    }
    // The worker was replaced; the pool answers, and a call queued behind one that crashes
    // its worker is answered by the replacement.
    assert_eq!(remote.ask(&Work { n: 2, mode: Mode::Echo }).await.unwrap().1, 4);
    let (crashed, queued) = tokio::join!(
        remote.ask(&Work { n: 3, mode: Mode::Panic }),
        remote.ask(&Work { n: 4, mode: Mode::Echo })
    );
    assert!(matches!(crashed, Err(RemoteError::Panicked(_))), "{crashed:?}");
    assert_eq!(queued.unwrap().1, 8);
    match remote.ask(&Work { n: 5, mode: Mode::Forget }).await {
        Err(RemoteError::Unanswered(why)) => assert!(why.contains("dropped"), "{why}"),
        other => panic!("expected Unanswered, got {other:?}"),
    }
    // A worker killed in the middle of the call: stopped, at once.
    let killed = spawn_ask(&remote, Work { n: 6, mode: Mode::Wait });
    assert_eq!(p.started.recv().await, Some(6));
    for worker in p.factory.handles::<actor_core::ActorRef<PoolWorker>>() {
        worker.kill();
    }
    assert!(matches!(killed.await.unwrap(), Err(RemoteError::Stopped)));
    assert_eq!(remote.ask(&Work { n: 7, mode: Mode::Echo }).await.unwrap().1, 14);
    let stats = p.factory.drain().await;
    assert_eq!((stats.processed, stats.failed), (4, 3));
}

#[tokio::test]
async fn a_full_queue_is_busy_and_wrong_requests_are_refused() {
    let Some(node) = node().await else { return };
    let name = unique_name("pool-busy");
    let mut p = pool("a", 1, Some((1, Backpressure::Reject)));
    let (_served, remote) = serve(&node, &name, &p).await;

    // One job running (it said so), one queued (a tell: published on this connection before
    // the next ask, so the server queues it first): the queue of one is full.
    let running = spawn_ask(&remote, Work { n: 1, mode: Mode::Wait });
    assert_eq!(p.started.recv().await, Some(1));
    remote.tell(&Work { n: 2, mode: Mode::Wait }).await.unwrap();
    match remote.ask(&Work { n: 3, mode: Mode::Echo }).await {
        Err(RemoteError::Busy { name: busy }) => assert_eq!(&*busy, name),
        other => panic!("expected Busy, got {other:?}"),
    }
    p.gate.add_permits(2);
    assert_eq!(running.await.unwrap().unwrap().1, 2);
    assert_eq!(p.started.recv().await, Some(2), "the told job ran");

    let newer: PoolRemote<WorkV2> = node.remote(&name).unwrap();
    assert!(matches!(
        newer.ask(&WorkV2(Work { n: 4, mode: Mode::Echo })).await,
        Err(RemoteError::Version { ours: 2, theirs: 1 })
    ));
    let unknown = remote.target().ask::<u64, std::convert::Infallible>("nope", &()).await;
    assert!(matches!(unknown, Err(RemoteError::UnknownMessage { .. })), "{unknown:?}");
    let garbled = remote.target().ask::<u64, std::convert::Infallible>("call", &"x").await;
    assert!(matches!(garbled, Err(RemoteError::Codec { .. })), "{garbled:?}");
    assert_eq!(p.factory.drain().await.processed, 2);
}

#[tokio::test]
async fn draining_the_factory_answers_the_calls_in_flight_then_stops_serving() {
    let Some(node) = node().await else { return };
    let name = unique_name("pool-drain");
    let mut p = pool("a", 1, None);
    let (_served, remote) = serve(&node, &name, &p).await;
    let in_flight = spawn_ask(&remote, Work { n: 5, mode: Mode::Wait });
    assert_eq!(p.started.recv().await, Some(5));
    let drain = tokio::spawn({
        let factory = p.factory.clone();
        async move { factory.drain().await }
    });
    // The name goes as soon as draining starts, before the job in flight ends.
    let down = remote.target().down(Duration::from_millis(20), 250);
    assert_eq!(tokio::time::timeout(Duration::from_secs(30), down).await, Ok(Down::NotFound));
    p.gate.add_permits(1);
    assert_eq!(in_flight.await.unwrap().unwrap(), ("a".to_owned(), 10));
    assert_eq!(drain.await.unwrap().processed, 1);
}

#[tokio::test]
async fn a_dropped_ask_still_runs_its_job_and_nothing_waits() {
    let Some(node) = node().await else { return };
    let name = unique_name("pool-dropped");
    let mut p = pool("a", 1, None);
    let (_served, remote) = serve(&node, &name, &p).await;
    // Dropped after its first poll, published or not. If it was, its job runs all the same
    // (the gate is open for it) and its answer goes nowhere; the next ask, sent after it on
    // this connection, is answered after it.
    p.gate.add_permits(1);
    crate::cancel_safety::poll_once_then_drop(remote.ask(&Work { n: 7, mode: Mode::Wait })).await;
    assert_eq!(remote.ask(&Work { n: 8, mode: Mode::Echo }).await.unwrap().1, 16);
    let stats = p.factory.drain().await;
    let ran = p.started.try_recv().ok();
    assert_eq!(
        stats.processed,
        1 + u64::from(ran == Some(7)),
        "the dropped ask ran once or not at all"
    );
    assert_eq!((stats.queued, stats.in_flight, stats.waiting), (0, 0, 0));
}

#[tokio::test]
async fn a_call_still_queued_when_its_caller_gives_up_is_discarded_not_run() {
    let Some(node) = node().await else { return };
    let name = unique_name("pool-ttl");
    let mut p = pool("a", 1, None);
    let (_served, remote) = serve(&node, &name, &p).await;
    let running = spawn_ask(&remote, Work { n: 1, mode: Mode::Wait });
    assert_eq!(p.started.recv().await, Some(1));
    // Queued behind the gate by a caller that waits 100 ms: it gives up, and the job is
    // discarded rather than run for nobody once the worker is free. (The server's deadline
    // counts from its submission, a moment after the send: the second's margin covers it.)
    let impatient = remote.clone().with_timeout(Duration::from_millis(100));
    assert!(matches!(
        impatient.ask(&Work { n: 2, mode: Mode::Echo }).await,
        Err(RemoteError::Timeout { .. })
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    p.gate.add_permits(1);
    assert_eq!(running.await.unwrap().unwrap().1, 2);
    let stats = p.factory.drain().await;
    assert_eq!((stats.processed, stats.discarded), (1, 1), "{stats:?}");
}

#[tokio::test]
async fn a_call_evicted_for_room_is_answered_at_once() {
    let Some(node) = node().await else { return };
    let name = unique_name("pool-evicted");
    let mut p = pool("a", 1, Some((1, Backpressure::DropOldest)));
    let (_served, remote) = serve(&node, &name, &p).await;
    let running = spawn_ask(&remote, Work { n: 1, mode: Mode::Wait });
    assert_eq!(p.started.recv().await, Some(1));
    // Two calls for a queue of one, in either order: the later evicts the earlier, which is
    // answered at once; the later runs once the worker is free.
    let (mut a, mut b) = (
        spawn_ask(&remote, Work { n: 2, mode: Mode::Echo }),
        spawn_ask(&remote, Work { n: 3, mode: Mode::Echo }),
    );
    let (first, other) = tokio::select! {
        first = &mut a => (first, b),
        first = &mut b => (first, a),
    };
    match first.unwrap() {
        Err(RemoteError::Unanswered(why)) => assert!(why.contains("dropped"), "{why}"),
        other => panic!("expected the evicted call to be Unanswered, got {other:?}"),
    }
    p.gate.add_permits(1);
    assert_eq!(running.await.unwrap().unwrap().1, 2);
    assert!(other.await.unwrap().is_ok());
    let stats = p.factory.drain().await;
    assert_eq!((stats.processed, stats.discarded), (2, 1), "{stats:?}");
}

/// A pool whose reply is a `Result`, with a reply that cannot be serialised.
#[derive(Debug, Serialize, Deserialize)]
struct Check {
    n: i64,
}

/// A reply whose `Serialize` panics when it holds `true`.
#[derive(Debug, Deserialize)]
struct Fragile(bool);

impl Serialize for Fragile {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        assert!(!self.0, "a Serialize that panics");
        serializer.serialize_bool(false)
    }
}

impl PoolRequest for Check {
    type Reply = Result<Fragile, String>;
    const TAG: &'static str = "Check";
}

struct Checker;

#[actor]
impl Checker {
    async fn check(&mut self, mut job: Job<(), Call<Check>>) {
        if let Some(call) = job.take() {
            let n = call.request().n;
            call.answer(if n < 0 { Err(format!("{n} is negative")) } else { Ok(Fragile(n == 0)) });
        }
    }
}

#[tokio::test]
async fn a_result_reply_maps_to_handler_errors_and_a_panicking_reply_to_panicked() {
    let Some(node) = node().await else { return };
    let name = unique_name("pool-check");
    let factory = FactorySpec::new(1, || Ok(Checker), CheckerMessage::check).spawn().unwrap();
    let _served = node.serve_factory(&name, factory.clone(), |_: &Check| ()).await.unwrap();
    let remote: PoolRemote<Check> = node.resolve(&name).await.unwrap();
    assert!(matches!(remote.ask_result(&Check { n: 1 }).await, Ok(Fragile(false))));
    match remote.ask_result(&Check { n: -1 }).await {
        Err(RemoteError::Handler(why)) => assert_eq!(why, "-1 is negative"),
        other => panic!("expected the handler's error, got {other:?}"),
    }
    assert!(matches!(remote.ask_result(&Check { n: 0 }).await, Err(RemoteError::Panicked(_))));
    let stats = factory.drain().await;
    assert_eq!((stats.processed, stats.failed), (2, 1));
    // A drained factory is not served again.
    let again = node.serve_factory(&unique_name("pool-drained"), factory, |_: &Check| ()).await;
    assert!(matches!(again, Err(RemoteError::Stopped)), "{again:?}");
}

#[tokio::test]
async fn a_worker_sees_when_its_caller_gives_up() {
    let Some(node) = node().await else { return };
    let name = unique_name("pool-deadline");
    let p = pool("a", 1, None);
    let (_served, remote) = serve(&node, &name, &p).await;
    for timeout in [Duration::from_secs(5), Duration::from_secs(60)] {
        let remote = remote.clone().with_timeout(timeout);
        let (_, left) = remote.ask(&Work { n: 1, mode: Mode::Deadline }).await.unwrap();
        let timeout = u64::try_from(timeout.as_millis()).unwrap();
        assert!(left <= timeout && left > timeout / 2, "{left} ms left of {timeout}");
    }
}
