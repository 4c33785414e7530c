//! Live inspection: every listed actor with its state, mailbox, parent and children.

use actor_core::inspect::{self, ActorState};
use actor_core::supervision::{ChildSpec, SupervisorSpec};
use actor_core::{Actor, ActorRef, BoxError, Context, Reply};
use tokio::sync::oneshot;

/// Blocks in its handler on the gate it is given; counts the rest.
struct Gate {
    seen: u32,
}

enum GateMsg {
    Block(oneshot::Sender<()>, oneshot::Receiver<()>),
    Tick,
    Seen(Reply<u32>),
}

impl Actor for Gate {
    type Message = GateMsg;

    async fn handle(&mut self, msg: GateMsg, _ctx: &Context<Self>) {
        match msg {
            GateMsg::Block(started, gate) => {
                let _ = started.send(());
                let _ = gate.await;
            }
            GateMsg::Tick => self.seen += 1,
            GateMsg::Seen(reply) => reply.send(self.seen),
        }
    }
}

fn gate(name: &'static str) -> ChildSpec {
    ChildSpec::new(name, || -> Result<Gate, BoxError> { Ok(Gate { seen: 0 }) })
}

#[tokio::test]
async fn a_snapshot_shows_states_mailboxes_and_the_tree() {
    inspect::enable();
    let spec = SupervisorSpec::new().child(gate("busy-gate")).child(gate("idle-gate"));
    let supervisor = spec.spawn().await.unwrap();
    let busy = supervisor.child::<ActorRef<Gate>>("busy-gate").unwrap();
    let idle = supervisor.child::<ActorRef<Gate>>("idle-gate").unwrap();
    let (started, on_started) = oneshot::channel();
    let (open, gate) = oneshot::channel();
    busy.tell(GateMsg::Block(started, gate)).await.unwrap();
    on_started.await.unwrap();
    for _ in 0..3 {
        busy.tell(GateMsg::Tick).await.unwrap();
    }
    idle.tell(GateMsg::Tick).await.unwrap();
    // On this one thread, the actor finishes its handler and waits for mail before the answer
    // is read.
    assert_eq!(idle.ask(GateMsg::Seen).await.unwrap(), 1);

    let snapshot = inspect::snapshot();
    let busy_info = snapshot.get(busy.id()).expect("the busy child is listed").clone();
    assert!(matches!(busy_info.state, ActorState::Handling(_)), "{busy_info}");
    assert_eq!(busy_info.mailbox, 3, "{busy_info}");
    assert_eq!(busy_info.kind, "Gate");
    let idle_info = snapshot.get(idle.id()).expect("the idle child is listed");
    assert_eq!(idle_info.state, ActorState::Idle, "{idle_info}");
    let root = snapshot.get(supervisor.control().id()).expect("the supervisor is listed");
    assert_eq!(root.children, vec![busy.id(), idle.id()]);
    assert_eq!(busy_info.parent, Some(root.id));

    let tree = snapshot.to_string();
    let lines: Vec<&str> = tree.lines().filter(|l| l.contains("-gate")).collect();
    assert_eq!(lines.len(), 2, "{tree}");
    assert!(lines[0].starts_with("├─ busy-gate") && lines[0].contains("handling for"), "{tree}");
    assert!(lines[1].starts_with("└─ idle-gate") && lines[1].contains("idle, mailbox 0"), "{tree}");

    open.send(()).unwrap();
    let ids = [busy.id(), idle.id(), root.id];
    drop((busy, idle));
    supervisor.shutdown().await;
    let after = inspect::snapshot();
    assert!(ids.iter().all(|id| after.get(*id).is_none()), "stopped actors are gone:\n{after}");
}

/// Panics on every message, and resumes.
struct Resilient;

impl Actor for Resilient {
    type Message = Reply<()>;

    async fn on_panic(&mut self, _ctx: &Context<Self>, _panic: &str) -> actor_core::PanicAction {
        actor_core::PanicAction::Resume
    }

    async fn handle(&mut self, _reply: Reply<()>, _ctx: &Context<Self>) {
        panic!("on purpose");
    }
}

/// After a panic the actor resumes and waits for mail: it is idle, not in a handler (the
/// watchdog reads the same record, so it would otherwise count an idle actor as stuck).
#[tokio::test]
async fn an_actor_that_resumed_after_a_panic_is_idle() {
    inspect::enable();
    let actor = actor_core::spawn(Resilient).unwrap();
    assert!(actor.ask(|reply| reply).await.is_err());
    // On this one thread, the actor resumes and waits for mail before the next line runs.
    tokio::task::yield_now().await;
    let info = inspect::describe(actor.id()).expect("listed");
    assert_eq!(info.state, ActorState::Idle, "{info}");
}
