//! `drop_cause`: a value carried by a message learns whether it was handled, never handled,
//! interrupted or dropped after a panic.

use std::sync::{Arc, Mutex};

use actor_core::{Actor, Context, DropCause, drop_cause};

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<(u32, DropCause)>>>);

impl Log {
    fn of(&self, n: u32) -> Option<DropCause> {
        self.0.lock().unwrap().iter().find(|(m, _)| *m == n).map(|(_, cause)| *cause)
    }
}

struct Token(u32, Log);

impl Drop for Token {
    fn drop(&mut self) {
        self.1.0.lock().unwrap().push((self.0, drop_cause()));
    }
}

enum Order {
    Keep(Token),
    Fail(Token),
    Panic(Token),
    Hang(Token, tokio::sync::oneshot::Sender<()>),
}

struct Worker;

impl Actor for Worker {
    type Message = Order;

    async fn handle(&mut self, order: Order, ctx: &Context<Self>) {
        match order {
            Order::Keep(token) => drop(token),
            Order::Fail(token) => {
                ctx.fail("no more");
                drop(token);
            }
            Order::Panic(_token) => panic!("boom"),
            Order::Hang(_token, started) => {
                let _ = started.send(());
                std::future::pending::<()>().await;
            }
        }
    }
}

#[tokio::test]
async fn queued_messages_of_a_failed_actor_are_dropped_unhandled() {
    let log = Log::default();
    let worker = actor_core::spawn(Worker).unwrap();
    worker.tell(Order::Keep(Token(0, log.clone()))).await.unwrap();
    worker.tell(Order::Fail(Token(1, log.clone()))).await.unwrap();
    worker.tell(Order::Keep(Token(2, log.clone()))).await.unwrap();
    worker.tell(Order::Keep(Token(3, log.clone()))).await.unwrap();
    worker.stopped().await;
    assert_eq!(log.of(0), Some(DropCause::Handled));
    assert_eq!(log.of(1), Some(DropCause::Handled));
    assert_eq!(log.of(2), Some(DropCause::Unhandled));
    assert_eq!(log.of(3), Some(DropCause::Unhandled));
}

#[tokio::test]
async fn a_panic_and_a_kill_are_told_apart_from_an_ordinary_drop() {
    let log = Log::default();
    let worker = actor_core::spawn(Worker).unwrap();
    worker.tell(Order::Panic(Token(0, log.clone()))).await.unwrap();
    worker.tell(Order::Keep(Token(1, log.clone()))).await.unwrap();
    worker.stopped().await;
    assert_eq!(log.of(0), Some(DropCause::Panicked));
    assert_eq!(log.of(1), Some(DropCause::Unhandled));

    let worker = actor_core::spawn(Worker).unwrap();
    let (started, hanging) = tokio::sync::oneshot::channel();
    worker.tell(Order::Hang(Token(2, log.clone()), started)).await.unwrap();
    worker.tell(Order::Keep(Token(3, log.clone()))).await.unwrap();
    hanging.await.unwrap();
    worker.kill();
    worker.stopped().await;
    assert_eq!(log.of(2), Some(DropCause::Interrupted));
    assert_eq!(log.of(3), Some(DropCause::Unhandled));
    // Outside any actor, a drop is an ordinary one.
    drop(Token(4, log.clone()));
    assert_eq!(log.of(4), Some(DropCause::Handled));
}
