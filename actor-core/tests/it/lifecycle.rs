//! Start, stop, kill, failure; children and background tasks end with their actor.

use actor_core::{Actor, ActorRef, AskError, BoxError, Context, Reply, StopReason};

use crate::support::{Events, Probe, ProbeMsg, events_of, pause, poll_once};

#[tokio::test]
async fn stopped_returns_only_after_on_stop_ran() {
    let probe = Probe::default();
    let events = probe.events.clone();
    let probe = actor_core::spawn(probe).unwrap();
    probe.stop();
    assert!(matches!(probe.stopped().await, StopReason::Normal));
    assert_eq!(events_of(&events), ["start", "stop: stopped normally"]);
    assert!(!probe.is_alive());
}

#[tokio::test]
async fn a_graceful_stop_handles_every_accepted_message_first() {
    let probe = Probe::default();
    let events = probe.events.clone();
    let probe = actor_core::spawn(probe).unwrap();
    let gate = pause(&probe).await;
    for _ in 0..10 {
        probe.tell(ProbeMsg::Add(1)).await.unwrap();
    }
    let mut answer = Box::pin(probe.ask(ProbeMsg::Total));
    assert!(poll_once(&mut answer).await.is_pending());
    probe.stop();
    // The mailbox closes at once.
    assert!(probe.try_tell(ProbeMsg::Add(100)).is_err());
    gate.send(()).unwrap();

    assert_eq!(answer.await, Ok(10), "the queued ask was answered after the queued tells");
    assert!(matches!(probe.stopped().await, StopReason::Normal));
    assert_eq!(events_of(&events).last().unwrap(), "stop: stopped normally");
}

#[tokio::test]
async fn kill_skips_queued_messages_and_on_stop() {
    let probe = Probe::default();
    let events = probe.events.clone();
    let probe = actor_core::spawn(probe).unwrap();
    let gate = pause(&probe).await;
    let mut queued = Box::pin(probe.ask(ProbeMsg::Total));
    assert!(poll_once(&mut queued).await.is_pending());
    probe.kill();
    assert!(matches!(probe.stopped().await, StopReason::Killed));
    assert_eq!(queued.await, Err(AskError::Stopped));
    assert_eq!(events_of(&events), ["start"]);
    drop(gate);
}

#[tokio::test]
async fn dropping_the_last_reference_stops_the_actor() {
    let probe = Probe::default();
    let events = probe.events.clone();
    let probe = actor_core::spawn(probe).unwrap();
    let control = probe.control();
    let clone = probe.clone();
    drop(probe);
    tokio::task::yield_now().await;
    assert!(control.is_alive(), "a clone still keeps it alive");
    drop(clone);
    assert!(matches!(control.stopped().await, StopReason::Normal));
    assert_eq!(events_of(&events), ["start", "stop: stopped normally"]);
}

struct Failing;

impl Actor for Failing {
    type Message = Reply<()>;

    async fn on_start(&mut self, _ctx: &Context<Self>) -> Result<(), BoxError> {
        Err("no database".into())
    }

    async fn handle(&mut self, reply: Reply<()>, _ctx: &Context<Self>) {
        reply.send(());
    }
}

#[tokio::test]
async fn a_failing_on_start_stops_the_actor_with_its_error() {
    let failing = actor_core::spawn(Failing).unwrap();
    let ask = failing.ask(|reply| reply).await;
    assert!(matches!(ask, Err(AskError::Stopped | AskError::Closed)), "{ask:?}");
    match failing.stopped().await {
        StopReason::Failed(error) => assert_eq!(error.to_string(), "no database"),
        other => panic!("expected Failed, got {other:?}"),
    }
}

/// An actor with a child, a background task, and a way to fail or stop itself.
struct Parent {
    events: Events,
    child: Option<ActorRef<Probe>>,
}

enum ParentMsg {
    Fail,
    StopSelf,
    Child(Reply<ActorRef<Probe>>),
}

/// Records its drop: tells the test that a background task was cancelled.
struct DropRecorder(Events, &'static str);

impl Drop for DropRecorder {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(self.1.to_owned());
    }
}

impl Actor for Parent {
    type Message = ParentMsg;

    async fn on_start(&mut self, ctx: &Context<Self>) -> Result<(), BoxError> {
        self.child =
            Some(ctx.spawn_child(Probe { events: self.events.clone(), ..Probe::default() })?);
        let recorder = DropRecorder(self.events.clone(), "task cancelled");
        ctx.spawn_task(async move {
            let _recorder = recorder;
            std::future::pending::<()>().await;
        });
        Ok(())
    }

    async fn on_stop(&mut self, _ctx: &Context<Self>, reason: &StopReason) {
        self.events.lock().unwrap().push(format!("parent stop: {reason}"));
    }

    async fn handle(&mut self, msg: ParentMsg, ctx: &Context<Self>) {
        match msg {
            ParentMsg::Fail => ctx.fail("gave up"),
            ParentMsg::StopSelf => ctx.stop(),
            ParentMsg::Child(reply) => reply.send(self.child.clone().unwrap()),
        }
    }
}

#[tokio::test]
async fn stopping_a_parent_cancels_its_tasks_and_stops_its_children_before_on_stop() {
    let events = Events::default();
    let parent = actor_core::spawn(Parent { events: events.clone(), child: None }).unwrap();
    let child = parent.ask(ParentMsg::Child).await.unwrap();
    let child_control = child.control();
    drop(child);
    parent.tell(ParentMsg::StopSelf).await.unwrap();
    assert!(matches!(parent.stopped().await, StopReason::Normal));
    assert!(!child_control.is_alive());

    let events = events_of(&events);
    let position = |event: &str| events.iter().position(|e| e == event).unwrap();
    assert!(position("task cancelled") < position("parent stop: stopped normally"), "{events:?}");
    // The parent's `child` field still holds a reference, so the child stopped because its
    // parent stopped it, not because its references were dropped.
    assert!(
        position("stop: stopped normally") < position("parent stop: stopped normally"),
        "{events:?}"
    );
}

#[tokio::test]
async fn ctx_fail_stops_the_actor_with_the_error_and_runs_on_stop() {
    let events = Events::default();
    let parent = actor_core::spawn(Parent { events: events.clone(), child: None }).unwrap();
    parent.tell(ParentMsg::Fail).await.unwrap();
    match parent.stopped().await {
        StopReason::Failed(error) => assert_eq!(error.to_string(), "gave up"),
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(events_of(&events).last().unwrap(), "parent stop: failed: gave up");
}

/// State that records when it is dropped.
struct Dropped(Events);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.lock().unwrap().push("state dropped".into());
    }
}

impl Actor for Dropped {
    type Message = Reply<()>;

    async fn handle(&mut self, reply: Reply<()>, _ctx: &Context<Self>) {
        reply.send(());
    }
}

#[tokio::test]
async fn an_actor_killed_before_it_ever_ran_still_reports_and_answers() {
    let events = Events::default();
    let actor = actor_core::spawn(Dropped(events.clone())).unwrap();
    // On this single-threaded runtime the actor's task has not been polled yet.
    let mut queued = Box::pin(actor.ask(|reply| reply));
    assert!(poll_once(&mut queued).await.is_pending());
    actor.kill();
    assert!(matches!(actor.stopped().await, StopReason::Killed));
    assert_eq!(
        events_of(&events),
        ["state dropped"],
        "the state is dropped before stopped returns"
    );
    assert_eq!(queued.await, Err(AskError::Stopped));
}

#[tokio::test]
async fn the_state_is_dropped_before_stopped_returns() {
    let events = Events::default();
    let actor = actor_core::spawn(Dropped(events.clone())).unwrap();
    actor.ask(|reply| reply).await.unwrap();
    actor.stop();
    actor.stopped().await;
    assert_eq!(events_of(&events), ["state dropped"]);
}

/// An actor whose handler can hang forever, holding its reply.
struct Stuck;

impl Actor for Stuck {
    type Message = Reply<()>;

    async fn on_stop(&mut self, _ctx: &Context<Self>, _reason: &StopReason) {
        panic!("on_stop must not run after a kill");
    }

    async fn handle(&mut self, reply: Reply<()>, _ctx: &Context<Self>) {
        let _reply = reply;
        std::future::pending::<()>().await;
    }
}

#[tokio::test]
async fn kill_interrupts_a_handler_that_never_finishes() {
    let stuck = actor_core::spawn(Stuck).unwrap();
    let mut hanging = Box::pin(stuck.ask(|reply| reply));
    assert!(poll_once(&mut hanging).await.is_pending());
    let mut queued = Box::pin(stuck.ask(|reply| reply));
    assert!(poll_once(&mut queued).await.is_pending());
    // Let the actor enter the handler.
    tokio::task::yield_now().await;

    stuck.kill();
    assert!(matches!(stuck.stopped().await, StopReason::Killed));
    assert_eq!(
        hanging.await,
        Err(AskError::Stopped),
        "the interrupted handler's asker is answered"
    );
    assert_eq!(queued.await, Err(AskError::Stopped));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_kills_racing_asks_never_leave_an_asker_waiting() {
    let _serial = crate::support::REAL_TIME.lock().await;
    for _ in 0..50 {
        let probe = actor_core::spawn(Probe::default()).unwrap();
        let asks: Vec<_> = (0..200u64)
            .map(|i| {
                let probe = probe.clone();
                tokio::spawn(async move { probe.ask(|reply| ProbeMsg::Echo(i, reply)).await })
            })
            .collect();
        probe.kill();
        for ask in asks {
            let result = tokio::time::timeout(std::time::Duration::from_secs(30), ask)
                .await
                .expect("an ask hung after a kill")
                .unwrap();
            assert!(
                matches!(result, Ok(_) | Err(AskError::Stopped | AskError::Closed)),
                "{result:?}"
            );
        }
        assert!(matches!(probe.stopped().await, StopReason::Killed));
    }
}
