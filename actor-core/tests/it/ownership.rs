//! Who keeps an actor alive: children belong to their parent, weak references never revive a
//! stopping actor.

use actor_core::{Actor, ActorRef, BoxError, Context, Reply, StopReason};

use crate::support::{Probe, ProbeMsg};

/// A parent that spawns a child and keeps no reference to it.
struct Forgetful {
    child: tokio::sync::mpsc::UnboundedSender<actor_core::ActorControl>,
}

enum ForgetfulMsg {
    SpawnAndForget(Reply<()>),
    Stop,
}

impl Actor for Forgetful {
    type Message = ForgetfulMsg;

    async fn handle(&mut self, msg: ForgetfulMsg, ctx: &Context<Self>) {
        match msg {
            ForgetfulMsg::SpawnAndForget(reply) => {
                let child: ActorRef<Probe> = ctx.spawn_child(Probe::default()).unwrap();
                let _ = self.child.send(child.control());
                // The returned reference is dropped here.
                drop(child);
                reply.send(());
            }
            ForgetfulMsg::Stop => ctx.stop(),
        }
    }
}

#[tokio::test]
async fn a_child_lives_until_its_parent_stops_even_if_its_reference_is_dropped() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let parent = actor_core::spawn(Forgetful { child: tx }).unwrap();
    parent.ask(ForgetfulMsg::SpawnAndForget).await.unwrap();
    let child = rx.recv().await.unwrap();
    // Give a wrong stop every chance to happen.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(child.is_alive(), "the child stopped when its reference was dropped");
    assert!(child.stop_reason().is_none());

    parent.tell(ForgetfulMsg::Stop).await.unwrap();
    parent.stopped().await;
    assert!(matches!(child.stop_reason(), Some(StopReason::Normal)), "the parent stops its child");
}

#[tokio::test]
async fn a_weak_reference_stops_upgrading_the_moment_stop_is_called() {
    let probe = actor_core::spawn(Probe::default()).unwrap();
    let weak = probe.downgrade();
    assert!(weak.upgrade().is_some());
    probe.stop();
    assert!(weak.upgrade().is_none(), "upgraded after stop()");
    probe.stopped().await;
    assert!(weak.upgrade().is_none());
}

#[tokio::test]
async fn a_weak_reference_stops_upgrading_when_the_actor_stops_itself_or_is_killed() {
    struct Quitter;
    impl Actor for Quitter {
        type Message = Reply<()>;
        async fn handle(&mut self, reply: Reply<()>, ctx: &Context<Self>) {
            ctx.stop();
            reply.send(());
        }
    }
    let quitter = actor_core::spawn(Quitter).unwrap();
    let weak = quitter.downgrade();
    quitter.ask(|reply| reply).await.unwrap();
    assert!(weak.upgrade().is_none(), "upgraded after the actor stopped itself");

    let probe = actor_core::spawn(Probe::default()).unwrap();
    let weak = probe.downgrade();
    probe.kill();
    assert!(weak.upgrade().is_none(), "upgraded after kill()");
    probe.stopped().await;
}

struct PanicsOnStop;

impl Actor for PanicsOnStop {
    type Message = Reply<u32>;

    async fn on_start(&mut self, _ctx: &Context<Self>) -> Result<(), BoxError> {
        Ok(())
    }

    async fn on_stop(&mut self, _ctx: &Context<Self>, _reason: &StopReason) {
        panic!("cleanup failed");
    }

    async fn handle(&mut self, reply: Reply<u32>, _ctx: &Context<Self>) {
        reply.send(1);
    }
}

#[tokio::test]
async fn a_panic_in_on_stop_makes_the_stop_reason_panicked() {
    let actor = actor_core::spawn(PanicsOnStop).unwrap();
    assert_eq!(actor.ask(|reply| reply).await, Ok(1));
    actor.stop();
    match actor.stopped().await {
        StopReason::Panicked(message) => assert_eq!(&*message, "cleanup failed"),
        other => panic!("expected Panicked, got {other:?}"),
    }
}

#[tokio::test]
async fn a_probe_still_answers_after_its_weak_reference_was_upgraded() {
    let probe = actor_core::spawn(Probe::default()).unwrap();
    let strong = probe.downgrade().upgrade().unwrap();
    strong.tell(ProbeMsg::Add(2)).await.unwrap();
    assert_eq!(probe.ask(ProbeMsg::Total).await, Ok(2));
}
