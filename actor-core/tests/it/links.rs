//! Monitors (`Context::watch`) and links (`ActorControl::link`, `Context::trap_exits`).

use std::time::Duration;

use actor_core::{Actor, ActorControl, ActorId, AskError, Context, LinkedExit, Reply, StopReason};

use crate::support::{Probe, ProbeMsg};

/// Watches, links and reports what it saw.
#[derive(Default)]
struct Observer {
    seen: Vec<(ActorId, String)>,
}

enum ObserverMsg {
    Watch(ActorControl),
    Link(ActorControl, bool),
    Down(ActorId, StopReason),
    Seen(Reply<Vec<(ActorId, String)>>),
}

impl Actor for Observer {
    type Message = ObserverMsg;

    async fn handle(&mut self, msg: ObserverMsg, ctx: &Context<Self>) {
        match msg {
            ObserverMsg::Watch(other) => {
                ctx.watch(&other, ObserverMsg::Down);
            }
            ObserverMsg::Link(other, trap) => {
                ctx.trap_exits(trap);
                ctx.link(&other);
                if trap {
                    ctx.watch(&other, ObserverMsg::Down);
                }
            }
            ObserverMsg::Down(id, reason) => self.seen.push((id, reason.to_string())),
            ObserverMsg::Seen(reply) => reply.send(self.seen.clone()),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_watcher_is_told_why_the_watched_actor_stopped() {
    let observer = actor_core::spawn(Observer::default()).unwrap();
    let probe = actor_core::spawn(Probe::default()).unwrap();
    observer.tell(ObserverMsg::Watch(probe.control())).await.unwrap();
    // The watch is registered once the observer has handled the message.
    assert_eq!(observer.ask(ObserverMsg::Seen).await, Ok(vec![]));

    assert_eq!(probe.ask(ProbeMsg::Panic).await, Err(AskError::Panicked("boom".into())));
    probe.stopped().await;
    // The paused clock advances only once every task is idle: the watch task has delivered.
    tokio::time::sleep(Duration::from_millis(1)).await;
    let seen = observer.ask(ObserverMsg::Seen).await.unwrap();
    assert_eq!(seen, [(probe.id(), "panicked: boom".to_owned())]);
    assert!(observer.is_alive(), "a watcher does not fail with the watched actor");
}

#[tokio::test]
async fn linked_actors_fail_together() {
    let observer = actor_core::spawn(Observer::default()).unwrap();
    let probe = actor_core::spawn(Probe::default()).unwrap();
    observer.tell(ObserverMsg::Link(probe.control(), false)).await.unwrap();
    assert_eq!(observer.ask(ObserverMsg::Seen).await, Ok(vec![]));

    assert_eq!(probe.ask(ProbeMsg::Panic).await, Err(AskError::Panicked("boom".into())));
    match observer.stopped().await {
        StopReason::Failed(error) => {
            let linked = error.downcast_ref::<LinkedExit>().expect("a LinkedExit");
            assert_eq!(linked.actor, "Probe");
            assert!(matches!(linked.reason, StopReason::Panicked(_)));
        }
        other => panic!("expected the linked actor to fail, got {other:?}"),
    }
}

#[tokio::test]
async fn a_link_works_both_ways_and_ignores_normal_stops() {
    let observer = actor_core::spawn(Observer::default()).unwrap();
    let probe = actor_core::spawn(Probe::default()).unwrap();
    observer.tell(ObserverMsg::Link(probe.control(), false)).await.unwrap();
    assert_eq!(observer.ask(ObserverMsg::Seen).await, Ok(vec![]));

    // A normal stop does not propagate.
    let other = actor_core::spawn(Probe::default()).unwrap();
    observer.tell(ObserverMsg::Link(other.control(), false)).await.unwrap();
    other.stop();
    other.stopped().await;
    assert_eq!(observer.ask(ObserverMsg::Seen).await, Ok(vec![]));

    // The observer is killed: the probe linked to it fails.
    observer.kill();
    observer.stopped().await;
    assert!(matches!(probe.stopped().await, StopReason::Failed(_)));
}

#[tokio::test(start_paused = true)]
async fn an_actor_that_traps_exits_survives_and_is_told() {
    let observer = actor_core::spawn(Observer::default()).unwrap();
    let probe = actor_core::spawn(Probe::default()).unwrap();
    observer.tell(ObserverMsg::Link(probe.control(), true)).await.unwrap();
    assert_eq!(observer.ask(ObserverMsg::Seen).await, Ok(vec![]));

    assert_eq!(probe.ask(ProbeMsg::Panic).await, Err(AskError::Panicked("boom".into())));
    probe.stopped().await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    let seen = observer.ask(ObserverMsg::Seen).await.unwrap();
    assert_eq!(seen, [(probe.id(), "panicked: boom".to_owned())]);
    assert!(observer.is_alive());
}
