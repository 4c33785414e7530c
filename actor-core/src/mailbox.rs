//! Mailboxes: bounded by default (senders feel backpressure), unbounded only when asked for.
//!
//! A mailbox is a tokio mpsc channel of the actor's own message enum: a message is moved into
//! the channel's slot, never boxed, and nothing is allocated per message.

use std::task::Poll;

use tokio::sync::{Semaphore, mpsc};

use crate::drop_cause::{DropCause, dropping};

use crate::error::{SendError, TrySendError};

/// How an actor's mailbox is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mailbox {
    /// At most this many queued messages; `tell` waits for room and `try_tell` hands the message
    /// back when full.
    Bounded(usize),
    /// No limit: `tell` never waits. Use only where the producer is bounded some other way, since
    /// an unbounded mailbox turns overload into memory growth.
    Unbounded,
}

impl Mailbox {
    /// The default capacity of a bounded mailbox.
    pub const DEFAULT_CAPACITY: usize = 1024;

    /// The capacity, or `None` for an unbounded mailbox.
    pub fn capacity(self) -> Option<usize> {
        match self {
            Mailbox::Bounded(n) => Some(n),
            Mailbox::Unbounded => None,
        }
    }
}

impl Default for Mailbox {
    fn default() -> Self {
        Mailbox::Bounded(Self::DEFAULT_CAPACITY)
    }
}

/// The sending side of a mailbox. Unbounded mailboxes are bounded channels whose bound can never
/// be reached, so that every send takes the same code path with no dispatch.
pub(crate) type MailboxSender<M> = mpsc::Sender<M>;

/// The receiving side of a mailbox, owned by the actor's task. Messages still queued when it
/// is dropped are dropped as [`DropCause::Unhandled`].
pub(crate) struct MailboxReceiver<M>(Option<mpsc::Receiver<M>>);

impl<M> MailboxReceiver<M> {
    #[inline]
    fn rx(&mut self) -> &mut mpsc::Receiver<M> {
        // Taken only by `drop`.
        self.0.as_mut().expect("the receiver is present until the mailbox is dropped")
    }

    /// Polls for the next message; `None` once closed and empty.
    #[inline]
    pub(crate) fn poll_recv(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Option<M>> {
        self.rx().poll_recv(cx)
    }

    /// Refuses new messages; those already queued can still be received.
    pub(crate) fn close(&mut self) {
        self.rx().close();
    }

    /// Closes the mailbox and drops every queued message as [`DropCause::Unhandled`]. Returns
    /// once no sender is between reserving a slot and filling it, so nothing arrives later.
    pub(crate) async fn discard_all(&mut self) {
        let rx = self.rx();
        rx.close();
        while let Some(msg) = rx.recv().await {
            dropping(DropCause::Unhandled, || drop(msg));
        }
    }
}

impl<M> Drop for MailboxReceiver<M> {
    fn drop(&mut self) {
        // The channel drops what is still queued in its own destructor, on this thread.
        let rx = self.0.take();
        dropping(DropCause::Unhandled, || drop(rx));
    }
}

/// The channel bound that stands for "unbounded": tokio's largest, about 2^61 messages.
/// Channels allocate their slots in small blocks as messages arrive, never up front.
const UNBOUNDED: usize = Semaphore::MAX_PERMITS;

/// The largest capacity of a bounded mailbox.
pub(crate) const MAX_CAPACITY: usize = UNBOUNDED - 1;

/// Creates a mailbox; the capacity must already be validated (`1..=MAX_CAPACITY`).
pub(crate) fn channel<M>(mailbox: Mailbox) -> (MailboxSender<M>, MailboxReceiver<M>) {
    let (tx, rx) = mpsc::channel(match mailbox {
        Mailbox::Bounded(n) => n,
        Mailbox::Unbounded => UNBOUNDED,
    });
    (tx, MailboxReceiver(Some(rx)))
}

/// The number of messages that can be enqueued without waiting (`None` if unbounded).
pub(crate) fn free_capacity<M>(tx: &MailboxSender<M>) -> Option<usize> {
    (tx.max_capacity() < UNBOUNDED).then(|| tx.capacity())
}

/// Converts tokio's error, keeping the message.
#[inline]
pub(crate) fn send_error<M>(error: mpsc::error::SendError<M>) -> SendError<M> {
    SendError(error.0)
}

/// Converts tokio's error, keeping the message.
#[inline]
pub(crate) fn try_send_error<M>(error: mpsc::error::TrySendError<M>) -> TrySendError<M> {
    match error {
        mpsc::error::TrySendError::Full(msg) => TrySendError::Full(msg),
        mpsc::error::TrySendError::Closed(msg) => TrySendError::Closed(msg),
    }
}
