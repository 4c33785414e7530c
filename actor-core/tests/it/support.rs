//! A probe actor used across the tests, and small helpers.

use std::sync::{Arc, Mutex};

use actor_core::{Actor, ActorRef, Context, Reply, StopReason};
use tokio::sync::oneshot;

/// An actor that can be paused, made to panic, and asked what it saw.
#[derive(Default)]
pub(crate) struct Probe {
    pub(crate) total: u64,
    pub(crate) log: Vec<(u32, u32)>,
    /// What happened, shared with the test: survives the actor.
    pub(crate) events: Events,
}

pub(crate) type Events = Arc<Mutex<Vec<String>>>;

pub(crate) fn events_of(events: &Events) -> Vec<String> {
    events.lock().unwrap().clone()
}

#[derive(Debug)]
pub(crate) enum ProbeMsg {
    Add(u64),
    Record {
        sender: u32,
        seq: u32,
    },
    Total(Reply<u64>),
    Log(Reply<Vec<(u32, u32)>>),
    /// Pauses the actor until `gate` fires (or its sender is dropped).
    Block {
        started: oneshot::Sender<()>,
        gate: oneshot::Receiver<()>,
    },
    Echo(u64, Reply<u64>),
    Panic(Reply<()>),
    /// Panics after an await, with the reply held inside the handler's future.
    PanicAfterAwait(Reply<()>),
}

impl Actor for Probe {
    type Message = ProbeMsg;

    async fn on_start(&mut self, _ctx: &Context<Self>) -> Result<(), actor_core::BoxError> {
        self.events.lock().unwrap().push("start".into());
        Ok(())
    }

    async fn on_stop(&mut self, _ctx: &Context<Self>, reason: &StopReason) {
        // Yield so that a waiter woken too early would observe the event missing.
        tokio::task::yield_now().await;
        self.events.lock().unwrap().push(format!("stop: {reason}"));
    }

    async fn handle(&mut self, msg: ProbeMsg, _ctx: &Context<Self>) {
        match msg {
            ProbeMsg::Add(n) => self.total += n,
            ProbeMsg::Record { sender, seq } => self.log.push((sender, seq)),
            ProbeMsg::Total(reply) => reply.send(self.total),
            ProbeMsg::Log(reply) => reply.send(self.log.clone()),
            ProbeMsg::Block { started, gate } => {
                let _ = started.send(());
                let _ = gate.await;
            }
            ProbeMsg::Echo(n, reply) => reply.send(n),
            ProbeMsg::Panic(_reply) => panic!("boom"),
            ProbeMsg::PanicAfterAwait(reply) => {
                tokio::task::yield_now().await;
                if reply.is_wanted() {
                    panic!("boom after await");
                }
            }
        }
    }
}

/// Pauses `actor` until the returned sender is used or dropped. Returns once the actor is
/// inside the blocking handler, so its whole mailbox is free.
pub(crate) async fn pause(actor: &ActorRef<Probe>) -> oneshot::Sender<()> {
    let (started_tx, started_rx) = oneshot::channel();
    let (gate_tx, gate_rx) = oneshot::channel();
    actor.tell(ProbeMsg::Block { started: started_tx, gate: gate_rx }).await.unwrap();
    started_rx.await.unwrap();
    gate_tx
}

/// Polls `fut` exactly once. An ask polled once has enqueued its request (if there was room)
/// and is waiting for the reply, which makes mailbox order deterministic in tests.
pub(crate) async fn poll_once<F: std::future::Future + Unpin>(
    fut: &mut F,
) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut *fut).poll(cx))).await
}

/// Held by the tests that load the CPU and by those that measure real time, so that the
/// real-time ones are not starved by the others (the test harness runs tests on parallel
/// threads in one process).
pub(crate) static REAL_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
