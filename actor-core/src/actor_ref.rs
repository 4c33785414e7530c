//! [`ActorRef`]: the typed, cloneable way to reach an actor.
//!
//! | method | waits for room | waits for a reply | on failure |
//! |---|---|---|---|
//! | [`tell`](ActorRef::tell) | yes (backpressure) | no | [`SendError`] with the message |
//! | [`try_tell`](ActorRef::try_tell) | no | no | [`TrySendError`] with the message |
//! | [`ask`](ActorRef::ask) | yes | yes | [`AskError`] |
//! | [`ask_timeout`](ActorRef::ask_timeout) | yes, within the timeout | yes, within the timeout | [`AskError`] |
//!
//! Messages from one sender are handled in the order they were sent. An actor lives while at
//! least one `ActorRef` to it exists (or until it is stopped); [`WeakActorRef`] and
//! [`ActorControl`] do not keep it alive.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::actor::Actor;
use crate::control::{ActorCell, ActorControl, ActorId, KILL, STOP};
use crate::error::{AskError, SendError, StopReason, TrySendError};
use crate::mailbox::MailboxSender;
use crate::reply::{self, Reply};

/// A typed reference to a running actor: cheap to clone, `Send + Sync`.
pub struct ActorRef<A: Actor> {
    tx: MailboxSender<A::Message>,
    cell: Arc<ActorCell>,
}

impl<A: Actor> ActorRef<A> {
    /// Creates a counted reference.
    pub(crate) fn new(tx: MailboxSender<A::Message>, cell: Arc<ActorCell>) -> Self {
        cell.refs.fetch_add(1, Ordering::Relaxed);
        ActorRef { tx, cell }
    }

    /// Sends a message without waiting for it to be handled, waiting for room in the mailbox if
    /// it is full (backpressure).
    ///
    /// # Errors
    ///
    /// [`SendError`] with the message if the actor has stopped or is stopping.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped before it completes, the message was not enqueued.
    #[inline]
    pub async fn tell(&self, msg: A::Message) -> Result<(), SendError<A::Message>> {
        if !self.accepting() {
            return Err(SendError(msg));
        }
        self.tx.send(msg).await
    }

    /// Sends a message if the mailbox has room right now; never waits.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] or [`TrySendError::Closed`], each with the message.
    #[inline]
    pub fn try_tell(&self, msg: A::Message) -> Result<(), TrySendError<A::Message>> {
        if !self.accepting() {
            return Err(TrySendError::Closed(msg));
        }
        self.tx.try_send(msg)
    }

    /// Sends a request built around a fresh [`Reply`] and waits for the answer.
    ///
    /// ```
    /// # use actor_core::{Actor, Context, Reply};
    /// # struct Echo;
    /// # enum EchoMessage { Echo(String, Reply<String>) }
    /// # impl Actor for Echo {
    /// #     type Message = EchoMessage;
    /// #     async fn handle(&mut self, msg: EchoMessage, _ctx: &Context<Self>) {
    /// #         let EchoMessage::Echo(s, reply) = msg;
    /// #         reply.send(s);
    /// #     }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let echo = actor_core::spawn(Echo)?;
    /// let answer = echo.ask(|reply| EchoMessage::Echo("hi".into(), reply)).await?;
    /// assert_eq!(answer, "hi");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`AskError::Closed`] if the request could not be enqueued, [`AskError::Stopped`] or
    /// [`AskError::Panicked`] if the actor went away before replying. An ask never hangs because
    /// the actor died.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped after the request was enqueued, the actor still handles it and
    /// the reply is discarded.
    #[inline]
    pub async fn ask<R: 'static>(
        &self,
        make: impl FnOnce(Reply<R>) -> A::Message,
    ) -> Result<R, AskError> {
        if !self.accepting() {
            return Err(AskError::Closed);
        }
        let (reply, rx) = Reply::channel();
        if self.tx.send(make(reply)).await.is_err() {
            return Err(AskError::Closed);
        }
        reply::settle(rx.await)
    }

    /// Like [`ask`](Self::ask), but gives up after `timeout` (spent waiting for room and for the
    /// reply together).
    ///
    /// # Errors
    ///
    /// As [`ask`](Self::ask), plus [`AskError::Timeout`].
    ///
    /// # Cancel safety
    ///
    /// As [`ask`](Self::ask): a request enqueued before the timeout is still handled.
    pub async fn ask_timeout<R: 'static>(
        &self,
        timeout: Duration,
        make: impl FnOnce(Reply<R>) -> A::Message,
    ) -> Result<R, AskError> {
        match tokio::time::timeout(timeout, self.ask(make)).await {
            Ok(result) => result,
            Err(_) => Err(AskError::Timeout),
        }
    }

    /// Whether the actor still accepts messages: not asked to stop. The mailbox itself closes a
    /// moment later, when the actor's task sees the request; checking here makes a stop refuse
    /// new messages from the moment `stop` returns.
    #[inline]
    fn accepting(&self) -> bool {
        self.cell.accepting()
    }

    /// Asks the actor to stop gracefully; see [`ActorControl::stop`].
    pub fn stop(&self) {
        self.cell.request_final(STOP);
    }

    /// Kills the actor; see [`ActorControl::kill`].
    pub fn kill(&self) {
        self.cell.request_final(KILL);
    }

    /// Waits until the actor has fully stopped (after `on_stop` finished) and returns why.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn stopped(&self) -> StopReason {
        self.cell.wait_stopped().await
    }

    /// Stops the actor gracefully ([`stop`](Self::stop)) and waits until it has fully stopped
    /// ([`stopped`](Self::stopped)); returns why it stopped.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, the stop was still requested; the actor stops anyway.
    pub async fn shutdown(&self) -> StopReason {
        self.stop();
        self.stopped().await
    }

    /// Whether the actor has not yet fully stopped.
    pub fn is_alive(&self) -> bool {
        self.cell.is_alive()
    }

    /// Whether the actor refuses new messages: it was asked to stop or killed (by anyone,
    /// itself included), or has stopped. A `tell` now would hand its message back.
    pub fn is_closed(&self) -> bool {
        !self.accepting() || self.tx.is_closed()
    }

    /// The actor's identifier.
    pub fn id(&self) -> ActorId {
        self.cell.id
    }

    /// The actor's name: the one given at spawn, or its type's name.
    pub fn name(&self) -> &str {
        &self.cell.name
    }

    /// How many more messages the mailbox accepts right now without waiting (`None` if
    /// unbounded).
    pub fn free_capacity(&self) -> Option<usize> {
        self.tx.free()
    }

    /// An untyped control handle that does not keep the actor alive.
    pub fn control(&self) -> ActorControl {
        ActorControl { cell: Arc::clone(&self.cell) }
    }

    /// A reference that does not keep the actor alive.
    pub fn downgrade(&self) -> WeakActorRef<A> {
        WeakActorRef { tx: self.tx.clone(), cell: Arc::clone(&self.cell) }
    }
}

impl<A: Actor> Clone for ActorRef<A> {
    fn clone(&self) -> Self {
        ActorRef::new(self.tx.clone(), Arc::clone(&self.cell))
    }
}

impl<A: Actor> Drop for ActorRef<A> {
    fn drop(&mut self) {
        if self.cell.refs.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last reference is gone: nobody can send any more, so stop once the queue is
            // handled (as a plain tokio channel actor does when its last sender drops).
            self.cell.request_final(STOP);
        }
    }
}

impl<A: Actor> PartialEq for ActorRef<A> {
    fn eq(&self, other: &Self) -> bool {
        self.cell.id == other.cell.id
    }
}

impl<A: Actor> Eq for ActorRef<A> {}

impl<A: Actor> fmt::Debug for ActorRef<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorRef")
            .field("id", &self.cell.id)
            .field("name", &self.cell.name)
            .finish()
    }
}

/// A reference that does not keep its actor alive; [`upgrade`](Self::upgrade) it to send.
pub struct WeakActorRef<A: Actor> {
    tx: MailboxSender<A::Message>,
    cell: Arc<ActorCell>,
}

impl<A: Actor> WeakActorRef<A> {
    /// A strong reference, or `None` once the actor is stopping or stopped.
    pub fn upgrade(&self) -> Option<ActorRef<A>> {
        let mut refs = self.cell.refs.load(Ordering::Acquire);
        loop {
            // Zero live references means a stop was already requested: do not resurrect. A
            // final stop or kill refuses new messages from the moment it is asked for.
            if refs == 0 || !self.cell.accepting() || self.tx.is_closed() {
                return None;
            }
            match self.cell.refs.compare_exchange_weak(
                refs,
                refs + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    return Some(ActorRef { tx: self.tx.clone(), cell: Arc::clone(&self.cell) });
                }
                Err(now) => refs = now,
            }
        }
    }

    /// The actor's identifier.
    pub fn id(&self) -> ActorId {
        self.cell.id
    }
}

impl<A: Actor> Clone for WeakActorRef<A> {
    fn clone(&self) -> Self {
        WeakActorRef { tx: self.tx.clone(), cell: Arc::clone(&self.cell) }
    }
}

impl<A: Actor> fmt::Debug for WeakActorRef<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakActorRef").field("id", &self.cell.id).finish()
    }
}
