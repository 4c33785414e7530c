//! [`Reply`]: the sending half of a request, carried inside a message.
//!
//! A message that expects an answer carries a `Reply<T>`; the handler calls [`Reply::send`].
//! If the reply is dropped unsent (the handler panicked, the actor was killed with the message
//! still queued, or the handler forgot to answer), the asker is told why instead of hanging.
//!
//! A reply slot made with [`Reply::callback`] calls a function instead of waking an asker: a
//! bridge (a network server, another runtime) then answers from the actor's task, with no task
//! of its own waiting for each request.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::drop_cause::DropCause;
use crate::error::AskError;

/// The reply slot of a request; see the [module docs](self).
#[must_use = "a request expects a reply: call `Reply::send`"]
pub struct Reply<T: 'static> {
    /// `None` once sent, or for a message sent fire-and-forget (nobody is waiting).
    tx: Option<Slot<T>>,
}

/// Where a reply goes.
enum Slot<T: 'static> {
    /// To an asker awaiting the receiver.
    Channel(oneshot::Sender<Result<T, AskError>>),
    /// To a function (boxed twice, so that a reply slot stays two words).
    Callback(Box<Callback<T>>),
}

/// The function of [`Reply::callback`]; `None` once called. Dropped uncalled (a deferred
/// answer that never ran because another one panicked), it is called with `Stopped`.
struct Callback<T>(Option<Answer<T>>);

/// What [`Reply::callback`] calls.
type Answer<T> = Box<dyn FnOnce(Result<T, AskError>) + Send>;

impl<T> Callback<T> {
    fn call(&mut self, outcome: Result<T, AskError>) {
        if let Some(answer) = self.0.take() {
            answer(outcome);
        }
    }
}

impl<T> Drop for Callback<T> {
    fn drop(&mut self) {
        self.call(Err(AskError::Stopped));
    }
}

impl<T: 'static> Slot<T> {
    fn deliver(self, outcome: Result<T, AskError>) {
        match self {
            // The asker may have gone away; the reply is then discarded, as documented.
            Slot::Channel(tx) => {
                let _ = tx.send(outcome);
            }
            Slot::Callback(mut callback) => callback.call(outcome),
        }
    }
}

/// The receiving half of a request, awaited by the asker.
pub(crate) type ReplyReceiver<T> = oneshot::Receiver<Result<T, AskError>>;

impl<T: 'static> Reply<T> {
    /// Creates a connected reply slot and the receiver the asker awaits.
    pub(crate) fn channel() -> (Self, ReplyReceiver<T>) {
        let (tx, rx) = oneshot::channel();
        (Reply { tx: Some(Slot::Channel(tx)) }, rx)
    }

    /// A reply slot that calls `answer` with the outcome, exactly once, on the thread that
    /// sends or drops the reply (the actor's task, or wherever a handler moved the slot): `Ok`
    /// with the value sent, or the error an asker would get
    /// ([`AskError::Panicked`] with the panic's message if the handler panicked,
    /// [`AskError::Stopped`] if the message was dropped unhandled or the handler dropped the
    /// slot). A slot that is [leaked](std::mem::forget) never calls it.
    ///
    /// Send the message carrying it with [`ActorRef::tell`](crate::ActorRef::tell) or
    /// `try_tell`: nothing waits for the reply, and `answer` runs where the handler answers,
    /// usually the actor's task, so keep it short and non-blocking. If the send fails, the
    /// message and its slot come back in the error; dropping them calls `answer` with
    /// [`AskError::Stopped`].
    ///
    /// `answer` must not panic: it runs while the runtime answers other requests, sometimes
    /// during the unwinding of a panicking handler, where a second panic aborts the process.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use actor_core::{Actor, Context, Reply};
    ///
    /// struct Doubler;
    ///
    /// impl Actor for Doubler {
    ///     type Message = (u64, Reply<u64>);
    ///
    ///     async fn handle(&mut self, (n, reply): Self::Message, _ctx: &Context<Self>) {
    ///         reply.send(2 * n);
    ///     }
    /// }
    ///
    /// let doubler = actor_core::spawn(Doubler).unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let reply = Reply::callback(move |outcome| {
    ///     let _ = tx.send(outcome);
    /// });
    /// doubler.tell((21, reply)).await.unwrap();
    /// doubler.shutdown().await;
    /// assert_eq!(rx.recv().unwrap(), Ok(42));
    /// # }
    /// ```
    pub fn callback(answer: impl FnOnce(Result<T, AskError>) + Send + 'static) -> Self {
        Reply { tx: Some(Slot::Callback(Box::new(Callback(Some(Box::new(answer)))))) }
    }

    /// A reply slot nobody waits on: what a message sent with `tell` carries.
    pub fn discard() -> Self {
        Reply { tx: None }
    }

    /// Sends the reply. Does nothing if nobody is waiting any more (the asker timed out or was
    /// dropped, or the message was sent fire-and-forget).
    pub fn send(mut self, value: T) {
        if let Some(tx) = self.tx.take() {
            tx.deliver(Ok(value));
        }
    }

    /// Whether somebody is still waiting for this reply (always, for a
    /// [callback](Self::callback) not yet called).
    pub fn is_wanted(&self) -> bool {
        match &self.tx {
            Some(Slot::Channel(tx)) => !tx.is_closed(),
            Some(Slot::Callback(_)) => true,
            None => false,
        }
    }
}

impl<T: 'static> Drop for Reply<T> {
    fn drop(&mut self) {
        let Some(tx) = self.tx.take() else { return };
        if std::thread::panicking() {
            // Unwinding through the handler: its asker learns the panic's message once the
            // runtime has caught it.
            let Err(tx) = defer(tx) else { return };
            tx.deliver(Err(AskError::Panicked(Arc::from("the reply was dropped by a panic"))));
            return;
        }
        let error = match crate::drop_cause::drop_cause() {
            DropCause::Panicked => AskError::Panicked(current_panic()),
            _ => AskError::Stopped,
        };
        tx.deliver(Err(error));
    }
}

/// A reply to answer with the message of the panic being unwound.
type Deferred = Box<dyn FnOnce(&Arc<str>)>;

thread_local! {
    /// While the runtime polls a handler: the replies dropped while it unwinds from a panic,
    /// answered once the runtime has caught the panic and knows its message.
    static DEFERRED: RefCell<Option<Vec<Deferred>>> = const { RefCell::new(None) };
    /// While the runtime drops a handler that panicked: the panic's message.
    static PANIC: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// Defers the answer of `tx` to the runtime's catch of the current panic, if a handler is
/// being polled; otherwise hands `tx` back.
fn defer<T: 'static>(tx: Slot<T>) -> Result<(), Slot<T>> {
    DEFERRED.with(|deferred| match deferred.borrow_mut().as_mut() {
        Some(list) => {
            list.push(Box::new(move |panic: &Arc<str>| {
                tx.deliver(Err(AskError::Panicked(Arc::clone(panic))));
            }));
            Ok(())
        }
        None => Err(tx),
    })
}

fn current_panic() -> Arc<str> {
    PANIC.with(|panic| panic.borrow().clone()).unwrap_or_else(|| Arc::from("the actor panicked"))
}

/// Runs `poll` (the runtime's poll of a handler, panics caught) collecting the replies dropped
/// while a panic unwinds; returns its outcome and them.
pub(crate) fn collecting_panics<R>(poll: impl FnOnce() -> R) -> (R, Vec<Deferred>) {
    let previous = DEFERRED.with(|deferred| deferred.replace(Some(Vec::new())));
    let outcome = poll();
    let collected = DEFERRED.with(|deferred| deferred.replace(previous)).unwrap_or_default();
    (outcome, collected)
}

/// Answers the collected replies with `panic`'s message, then runs `drop` (which drops the
/// handler that panicked) with replies dropped inside it reporting the same message.
pub(crate) fn after_panic<R>(
    panic: &Arc<str>,
    collected: Vec<Deferred>,
    drop: impl FnOnce() -> R,
) -> R {
    for answer in collected {
        answer(panic);
    }
    struct Reset(Option<Arc<str>>);
    impl std::ops::Drop for Reset {
        fn drop(&mut self) {
            let previous = self.0.take();
            PANIC.with(|panic| *panic.borrow_mut() = previous);
        }
    }
    let _reset = Reset(PANIC.with(|current| current.replace(Some(Arc::clone(panic)))));
    drop()
}

impl<T: 'static> fmt::Debug for Reply<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply").field("wanted", &self.is_wanted()).finish()
    }
}

/// Turns what the asker received into the ask's result.
pub(crate) fn settle<T>(
    received: Result<Result<T, AskError>, oneshot::error::RecvError>,
) -> Result<T, AskError> {
    match received {
        Ok(outcome) => outcome,
        // The sender is dropped without running `Reply::drop` only if it was leaked or the
        // reply's own destructor was skipped; the actor is gone either way.
        Err(_) => Err(AskError::Stopped),
    }
}
