//! The two ways a request is served: taken by `Serve::start` and answered from the actor's
//! task, or declined (a full mailbox, a handle with a timeout) and awaited by the serving loop.
//! Order, panics on either side of the actor, stop, and a hand-written `start`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actor_core::{Mailbox, SpawnOptions, actor};
use actor_remote::{RemoteError, RemoteHandle, ReplyTo, Serve};
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::support::{node, unique_name};

/// A value whose `Serialize` panics.
#[derive(Debug, Deserialize)]
pub(crate) struct Explosive;

impl Serialize for Explosive {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("the reply exploded")
    }
}

/// An argument whose `Deserialize` panics.
#[derive(Debug, Serialize)]
pub(crate) struct Fragile;

impl<'de> Deserialize<'de> for Fragile {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        panic!("the argument broke")
    }
}

/// An argument that blows up when it is dropped on the server (where it arrives armed).
#[derive(Debug)]
pub(crate) struct Bomb {
    armed: bool,
}

impl Serialize for Bomb {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

impl<'de> Deserialize<'de> for Bomb {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <()>::deserialize(deserializer)?;
        Ok(Bomb { armed: true })
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.armed {
            panic!("the argument blew up as it was dropped");
        }
    }
}

/// Records numbers in the order it handles them; `hold` keeps it busy until released.
pub(crate) struct Ledger {
    seen: Vec<u64>,
    entered: Arc<Notify>,
    release: Arc<Notify>,
    held: Arc<AtomicBool>,
}

#[actor(remote)]
impl Ledger {
    pub(crate) async fn hold(&mut self) {
        self.entered.notify_one();
        self.release.notified().await;
        self.held.store(true, Ordering::SeqCst);
    }

    pub(crate) fn record(&mut self, n: u64) -> usize {
        self.seen.push(n);
        self.seen.len()
    }

    pub(crate) fn seen(&self) -> Vec<u64> {
        self.seen.clone()
    }

    pub(crate) fn explode(&mut self) -> Explosive {
        Explosive
    }

    pub(crate) fn fragile(&mut self, _arg: Fragile) -> u32 {
        1
    }

    pub(crate) fn bomb(&mut self, bomb: Bomb) -> u32 {
        std::mem::forget(bomb);
        1
    }

    pub(crate) async fn slow(&self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }
}

struct Gates {
    entered: Arc<Notify>,
    release: Arc<Notify>,
    held: Arc<AtomicBool>,
}

fn ledger(capacity: usize) -> (LedgerHandle, Gates) {
    let gates = Gates {
        entered: Arc::new(Notify::new()),
        release: Arc::new(Notify::new()),
        held: Arc::new(AtomicBool::new(false)),
    };
    let actor = Ledger {
        seen: Vec::new(),
        entered: Arc::clone(&gates.entered),
        release: Arc::clone(&gates.release),
        held: Arc::clone(&gates.held),
    };
    let options = SpawnOptions::new().with_mailbox(Mailbox::Bounded(capacity));
    (actor.spawn_with(options).unwrap(), gates)
}

/// Asks the actor to `hold`; returns once it is holding, with the ask's task.
async fn hold(
    remote: &LedgerRemote,
    gates: &Gates,
) -> tokio::task::JoinHandle<Result<(), RemoteError>> {
    let remote = remote.clone();
    let held = tokio::spawn(async move { remote.hold().await });
    gates.entered.notified().await;
    held
}

/// With a mailbox of one place and the actor busy, the requests are declined by `start` and
/// wait for room in the serving loop: each is handled once and answered. (Their order among
/// themselves is not kept: waiting for room is not first come, first served.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_find_the_mailbox_full_are_each_handled_once_and_answered() {
    let Some(node) = node().await else { return };
    let name = unique_name("ledger");
    let (local, gates) = ledger(1);
    let _served = node.serve(&name, local.clone()).await.unwrap();
    let remote: LedgerRemote = node.resolve(&name).await.unwrap();

    let hold = hold(&remote, &gates).await;
    // `join_all` polls in order, so the requests are published in order; the ping after the
    // first fifty is answered by the serving loop once it has received them all. The actor is
    // released then, and the last fifty arrive while the first ones still wait for room.
    let first = join_all((0..50).map(|n| remote.record(n)));
    // (The ping answers the protocol version.)
    let rest = async {
        tokio::task::yield_now().await;
        assert_eq!(remote.target().ping().await.unwrap(), 1);
        gates.release.notify_one();
        join_all((50..100).map(|n| remote.record(n))).await
    };
    let (first, rest) = tokio::join!(first, rest);
    let mut answers: Vec<usize> = first.into_iter().chain(rest).map(Result::unwrap).collect();
    answers.sort_unstable();
    assert_eq!(answers, (1..=100).collect::<Vec<_>>(), "one answer each, none twice");
    let mut seen = remote.seen().await.unwrap();
    seen.sort_unstable();
    assert_eq!(seen, (0..100).collect::<Vec<_>>(), "each handled once");
    hold.await.unwrap().unwrap();
}

/// `Served::stop` returns only once the calls the actor is still handling are answered.
#[tokio::test]
async fn stop_waits_for_the_calls_the_actor_is_handling() {
    let Some(server) = node().await else { return };
    let Some(caller) = node().await else { return };
    let name = unique_name("ledger");
    let (local, gates) = ledger(8);
    let served = server.serve(&name, local.clone()).await.unwrap();
    let remote: LedgerRemote = caller.resolve(&name).await.unwrap();
    let hold = hold(&remote, &gates).await;
    let release = {
        let release = Arc::clone(&gates.release);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            release.notify_one();
        })
    };
    served.stop().await;
    assert!(gates.held.load(Ordering::SeqCst), "stop returned before the call was answered");
    hold.await.unwrap().expect("the call in flight was answered");
    release.await.unwrap();
}

/// A reply whose `Serialize` panics is encoded on the actor's task: the caller is told
/// `Panicked` and the actor goes on. An argument whose `Deserialize` panics is answered
/// `Panicked` too, and serving goes on.
#[tokio::test]
async fn panics_in_the_users_serde_answer_panicked_and_serving_goes_on() {
    let Some(node) = node().await else { return };
    let name = unique_name("ledger");
    let (local, _gates) = ledger(8);
    let served = node.serve(&name, local.clone()).await.unwrap();
    let remote: LedgerRemote = node.resolve(&name).await.unwrap();
    for n in 0..3 {
        match remote.explode().await {
            Err(RemoteError::Panicked(message)) => assert!(message.contains("exploded")),
            other => panic!("expected a panic, got {other:?}"),
        }
        match remote.fragile(Fragile).await {
            Err(RemoteError::Panicked(message)) => assert!(message.contains("argument broke")),
            other => panic!("expected a panic, got {other:?}"),
        }
        assert_eq!(remote.record(n).await.unwrap(), n as usize + 1);
    }
    assert!(local.is_alive(), "the actor was not hurt");
    assert!(!served.is_finished());
}

/// A served handle with a timeout awaits its calls: one that runs longer is answered
/// `Timeout`.
#[tokio::test]
async fn a_served_handle_with_a_timeout_answers_timeout() {
    let Some(node) = node().await else { return };
    let name = unique_name("ledger");
    let (local, _gates) = ledger(8);
    let _served = node.serve(&name, local.with_timeout(Duration::from_millis(20))).await.unwrap();
    let remote: LedgerRemote = node.resolve(&name).await.unwrap();
    assert!(matches!(remote.slow(400).await, Err(RemoteError::Timeout { .. })));
    // A shared handler runs beside the slow one, within the timeout.
    assert_eq!(remote.seen().await.unwrap(), Vec::<u64>::new());
}

/// A hand-written service that takes its calls in `start`: it answers `now` at once, `later`
/// from a task, and drops `lost` unanswered.
#[derive(Clone)]
struct Taker;

impl Serve for Taker {
    const ACTOR: &'static str = "Taker";
    const VERSION: u32 = 1;

    async fn call(&self, _message: &str, _args: &[u8]) -> actor_remote::CallResult {
        Err(actor_remote::Refusal::unknown("call is never reached"))
    }

    fn start(&self, message: &str, _args: &[u8], reply: ReplyTo) -> Result<(), ReplyTo> {
        match message {
            "now" => reply.answer(Ok(b"1".to_vec())),
            "later" => {
                tokio::spawn(async move {
                    tokio::task::yield_now().await;
                    reply.answer(Ok(b"2".to_vec()));
                });
            }
            _ => drop(reply),
        }
        Ok(())
    }

    fn stopped(&self) -> impl std::future::Future<Output = ()> + Send {
        std::future::pending()
    }
}

#[derive(Clone, Debug)]
struct TakerRemote(actor_remote::Target);

impl RemoteHandle for TakerRemote {
    const ACTOR: &'static str = "Taker";
    const VERSION: u32 = 1;

    fn from_target(target: actor_remote::Target) -> Self {
        TakerRemote(target)
    }

    fn target(&self) -> &actor_remote::Target {
        &self.0
    }
}

#[tokio::test]
async fn a_call_taken_by_start_is_answered_from_anywhere_or_unanswered_when_dropped() {
    let Some(node) = node().await else { return };
    let name = unique_name("taker");
    let _served = node.serve(&name, Taker).await.unwrap();
    let remote: TakerRemote = node.remote(&name).unwrap();
    let ask = |message: &'static str| {
        let target = remote.target().clone();
        async move { target.ask::<u32, std::convert::Infallible>(message, &()).await }
    };
    assert_eq!(ask("now").await.unwrap(), 1);
    assert_eq!(ask("later").await.unwrap(), 2);
    match ask("lost").await {
        Err(RemoteError::Unanswered(why)) => assert!(why.contains("without answering"), "{why}"),
        other => panic!("expected Unanswered, got {other:?}"),
    }
}

/// A message refused by a full mailbox is dropped by the server; if an argument's destructor
/// panics then, the caller is answered `Panicked` (its reply is not lost), and stop still
/// returns. (One thread: once `entered` fires, the actor's task has gone back to waiting, so
/// the mailbox's count no longer changes until `release`.)
#[tokio::test]
async fn a_destructor_panicking_in_a_refused_message_still_answers_and_stop_returns() {
    let Some(node) = node().await else { return };
    let name = unique_name("ledger");
    let (local, gates) = ledger(1);
    let served = node.serve(&name, local.clone()).await.unwrap();
    let remote: LedgerRemote = node.resolve(&name).await.unwrap();
    let hold = hold(&remote, &gates).await;
    // The actor is busy: fill its mailbox (a place or two, however it counts them).
    let mut filled = 0;
    while local.try_tell(LedgerMessage::record(99)).is_ok() {
        filled += 1;
        assert!(filled < 10, "a mailbox of one place took {filled} messages");
    }
    match remote.bomb(Bomb { armed: false }).await {
        Err(RemoteError::Panicked(message)) => assert!(message.contains("panicked"), "{message}"),
        other => panic!("expected a panic, got {other:?}"),
    }
    gates.release.notify_one();
    hold.await.unwrap().unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(30), served.stop()).await;
    assert!(stopped.is_ok(), "stop waits for no lost reply");
}
