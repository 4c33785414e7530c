//! Lifecycle hooks written inside `#[actor]`: `on_start`, `on_stop`, `on_panic`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actor_core::supervision::{ChildSpec, SupervisionEvent, SupervisorSpec};
use actor_core::{AskError, Context, PanicAction, SpawnError, StopReason, actor};

type Log = Arc<Mutex<Vec<String>>>;

fn entries(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

struct Journaled {
    log: Log,
    incarnation: u32,
}

#[actor]
impl Journaled {
    async fn on_start(&mut self, ctx: &Context<Self>) -> Result<(), String> {
        let _ = ctx.name();
        self.log.lock().unwrap().push(format!("start {}", self.incarnation));
        Ok(())
    }

    fn on_stop(&mut self, reason: &StopReason) {
        self.log.lock().unwrap().push(format!("stop {}: {reason}", self.incarnation));
    }

    fn record(&mut self, what: String) {
        self.log.lock().unwrap().push(format!("{what} {}", self.incarnation));
    }

    fn crash(&mut self) {
        panic!("crash on purpose");
    }
}

#[tokio::test]
async fn hooks_run_in_order_across_a_supervised_restart() {
    let log: Log = Arc::default();
    let counter = Arc::new(Mutex::new(0));
    let spec = SupervisorSpec::new().child(ChildSpec::new("journaled", {
        let (log, counter) = (Arc::clone(&log), Arc::clone(&counter));
        move || {
            let mut n = counter.lock().unwrap();
            *n += 1;
            Ok(Journaled { log: Arc::clone(&log), incarnation: *n })
        }
    }));
    let supervisor = spec.spawn().await.unwrap();
    let journaled = supervisor.child::<JournaledHandle>("journaled").unwrap();
    journaled.record("a".into()).await.unwrap();
    assert!(matches!(journaled.crash().await, Err(AskError::Panicked(_))));
    journaled.record("b".into()).await.unwrap();
    supervisor.stop();
    supervisor.stopped().await;
    assert_eq!(
        entries(&log),
        [
            "start 1",
            "a 1",
            "stop 1: panicked: crash on purpose",
            "start 2",
            "b 2",
            "stop 2: stopped normally"
        ]
    );
}

struct Picky {
    fail: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("no database")]
struct NoDatabase;

#[actor]
impl Picky {
    async fn on_start(&mut self) -> Result<(), NoDatabase> {
        if self.fail { Err(NoDatabase) } else { Ok(()) }
    }

    fn ping(&self) -> u32 {
        1
    }
}

#[tokio::test]
async fn a_failing_on_start_fails_the_start_with_its_error() {
    let picky = Picky { fail: false }.start().await.unwrap();
    assert_eq!(picky.ping().await, Ok(1));
    match (Picky { fail: true }).start().await {
        Err(SpawnError::Start { actor, source }) => {
            assert_eq!(&*actor, "Picky");
            assert!(source.downcast_ref::<NoDatabase>().is_some(), "the cause is kept: {source}");
        }
        other => panic!("expected a start failure, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_on_start_fails_the_restart_with_its_error() {
    let attempts = Arc::new(Mutex::new(0));
    let spec = SupervisorSpec::new().intensity(1, Duration::from_secs(60)).child(ChildSpec::new(
        "picky",
        {
            let attempts = Arc::clone(&attempts);
            move || {
                let mut n = attempts.lock().unwrap();
                *n += 1;
                // The first incarnation starts; every later one fails in `on_start`.
                Ok(Picky { fail: *n > 1 })
            }
        },
    ));
    let mut events = spec.subscribe();
    let supervisor = spec.spawn().await.unwrap();
    let picky = supervisor.child::<PickyHandle>("picky").unwrap();
    picky.actor_ref().control().fail("reset");
    let reason = loop {
        match events.recv().await.unwrap() {
            SupervisionEvent::Escalated { reason, .. } => break reason,
            _ => continue,
        }
    };
    assert!(reason.to_string().contains("no database"), "{reason}");
    supervisor.stopped().await;
}

struct Resilient {
    handled: u32,
    panics: Log,
}

#[actor]
impl Resilient {
    fn on_panic(&mut self, panic: &str) -> PanicAction {
        self.panics.lock().unwrap().push(panic.to_owned());
        PanicAction::Resume
    }

    fn count(&mut self) -> u32 {
        self.handled += 1;
        self.handled
    }

    fn crash(&mut self) {
        panic!("crash on purpose");
    }
}

#[tokio::test]
async fn on_panic_may_resume_the_actor_with_its_state() {
    let panics: Log = Arc::default();
    let resilient = Resilient { handled: 0, panics: Arc::clone(&panics) }.spawn().unwrap();
    assert_eq!(resilient.count().await, Ok(1));
    assert_eq!(resilient.crash().await, Err(AskError::Panicked("crash on purpose".into())));
    assert_eq!(resilient.count().await, Ok(2), "the state survived the panic");
    assert_eq!(entries(&panics), ["crash on purpose"]);
    assert!(resilient.is_alive());
    assert!(matches!(resilient.shutdown().await, StopReason::Normal));
}
