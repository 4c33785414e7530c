//! The low-level path: an actor written against the `Actor` trait by hand, without `#[actor]`.
//!
//! This is the one example that does so. Reach for the trait when you need what the attribute
//! does not express; here, a router that forwards each request's [`Reply`] slot to a backend
//! and returns at once, so that it never waits for an answer and never holds a request.
//! Everything else (hooks, shared handlers, handles) the attribute writes for you: see
//! `kv_router`, which does the same job with `#[actor]`.
//!
//! What a hand-written actor consists of:
//!
//! - a message enum: one variant per request, carrying a `Reply<T>` where there is an answer;
//! - `impl Actor`: `handle` for exclusive messages, optionally `handle_shared` for messages
//!   that may run side by side, and the hooks (`on_start`, `on_stop`, `on_panic`);
//! - `ActorRef<A>` as the handle: `tell`, `try_tell` and `ask` take the message enum.
//!
//! Run with `cargo run -p examples --example hand_written`.

#![expect(clippy::print_stdout, reason = "an example reports on stdout")]

use std::collections::HashMap;

use actor_core::{Actor, ActorRef, BoxError, Context, Dispatch, Reply, StopReason};

/// A backend holding values.
#[derive(Default)]
struct Backend {
    data: HashMap<u64, String>,
    writes: u64,
}

enum BackendMsg {
    Put { key: u64, value: String, reply: Reply<Option<String>> },
    Get { key: u64, reply: Reply<Option<String>> },
}

impl Actor for Backend {
    type Message = BackendMsg;

    async fn handle(&mut self, msg: BackendMsg, _ctx: &Context<Self>) {
        match msg {
            BackendMsg::Put { key, value, reply } => {
                self.writes += 1;
                reply.send(self.data.insert(key, value));
            }
            // Reads are answered by `handle_shared`; `handle` stays total all the same.
            BackendMsg::Get { key, reply } => reply.send(self.data.get(&key).cloned()),
        }
    }

    /// Reads are shared: answered right here, while no exclusive handler runs.
    fn handle_shared<'a>(
        &'a self,
        msg: BackendMsg,
        _ctx: &'a Context<Self>,
    ) -> Dispatch<impl Future<Output = ()> + Send + 'a, BackendMsg> {
        match msg {
            BackendMsg::Get { key, reply } => {
                reply.send(self.data.get(&key).cloned());
                Dispatch::done()
            }
            other => Dispatch::exclusive(other),
        }
    }

    async fn on_stop(&mut self, _ctx: &Context<Self>, reason: &StopReason) {
        println!("backend stopped ({reason}) after {} writes", self.writes);
    }
}

/// Spreads keys over backends, handing each caller's reply slot to the backend that answers.
struct Router {
    backends: Vec<ActorRef<Backend>>,
    partitions: usize,
}

impl Actor for Router {
    type Message = BackendMsg;

    async fn on_start(&mut self, ctx: &Context<Self>) -> Result<(), BoxError> {
        for _ in 0..self.partitions {
            self.backends.push(ctx.spawn_child(Backend::default())?);
        }
        Ok(())
    }

    async fn handle(&mut self, msg: BackendMsg, _ctx: &Context<Self>) {
        let key = match &msg {
            BackendMsg::Put { key, .. } | BackendMsg::Get { key, .. } => *key,
        };
        let backend = &self.backends[(key % self.backends.len() as u64) as usize];
        // The router does not wait for the answer: the backend sends it to the caller. If the
        // backend has stopped, the message comes back in the error and dropping it drops its
        // reply slot, so the caller gets `AskError::Stopped` instead of hanging.
        if let Err(refused) = backend.tell(msg).await {
            println!("a backend refused a message: {refused}");
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let router = actor_core::start(Router { backends: Vec::new(), partitions: 3 }).await?;
    for key in 0..300 {
        router.ask(|reply| BackendMsg::Put { key, value: format!("value {key}"), reply }).await?;
    }
    let read = router.ask(|reply| BackendMsg::Get { key: 42, reply }).await?;
    assert_eq!(read.as_deref(), Some("value 42"));
    println!("key 42 = {read:?}");
    // The children stop before their parent: every write above was handled.
    let reason = router.shutdown().await;
    assert!(!reason.is_abnormal());
    println!("router stopped ({reason})");
    Ok(())
}
