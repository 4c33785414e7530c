//! What every actor costs in memory, asserted on stable Rust (64-bit targets): the task's future,
//! the cell and the handle. A change that makes an idle actor bigger fails here and must say why.

use std::mem::{size_of, size_of_val};

use super::*;
use crate::control::ActorCell;
use crate::{Context, Mailbox, Reply};

/// A counter: the smallest useful actor, as the spawn benchmark uses.
struct Total(u64);

#[expect(dead_code, reason = "only the type's size matters here")]
enum Msg {
    Add(u64),
    Get(Reply<u64>),
}

impl Actor for Total {
    type Message = Msg;

    async fn handle(&mut self, msg: Msg, _ctx: &Context<Self>) {
        match msg {
            Msg::Add(n) => self.0 += n,
            Msg::Get(reply) => reply.send(self.0),
        }
    }
}

#[test]
fn an_idle_actor_stays_small() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    let _entered = runtime.enter();
    let (tx, rx) = mailbox::channel::<Msg>(Mailbox::Bounded(8), false);
    let cell = Arc::new(ActorCell::new(None, "Total", 1));
    let ctx = Context::new(Arc::clone(&cell), tx);
    let task =
        ActorTask { actor: Total(0), rx, pending: None, waker: None, extras: None, cell, ctx };
    assert!(size_of_val(&task) <= 144, "the task's state: {} bytes", size_of_val(&task));
    let fut = run(task);
    // The future tokio stores for the task: its state plus the deepest suspended call (an
    // exclusive handler in the message loop); the stop sequence and restarts are boxed.
    // With the `metrics` feature compiled in, the loop keeps whether metrics are on.
    let limit = if cfg!(feature = "metrics") { 352 } else { 344 };
    assert!(size_of_val(&fut) <= limit, "the task's future: {} bytes", size_of_val(&fut));
    assert!(size_of::<ActorCell>() <= 136, "the cell: {} bytes", size_of::<ActorCell>());
    assert_eq!(size_of::<ActorRef<Total>>(), 16, "a handle is two pointers");
    // The mailbox: one allocation of its own, no buffer until the first message.
    let mailbox = mailbox::shared_size::<Msg>();
    assert!(mailbox <= 120, "the mailbox: {mailbox} bytes");
    assert_eq!(size_of::<Context<Total>>(), 32);
}
