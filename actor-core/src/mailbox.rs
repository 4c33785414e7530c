//! Mailboxes: bounded by default (senders feel backpressure), unbounded only when asked for.
//!
//! A mailbox is a tokio mpsc channel of the actor's own message enum: a message is moved into
//! the channel's slot, never boxed, and nothing is allocated per message.

use std::task::{Context, Poll};

use tokio::sync::mpsc;

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

/// The sending side of a mailbox.
pub(crate) enum MailboxSender<M> {
    Bounded(mpsc::Sender<M>),
    Unbounded(mpsc::UnboundedSender<M>),
}

/// The receiving side of a mailbox, owned by the actor's task across restarts.
pub(crate) enum MailboxReceiver<M> {
    Bounded(mpsc::Receiver<M>),
    Unbounded(mpsc::UnboundedReceiver<M>),
}

/// Creates a mailbox; the capacity must already be validated (non-zero).
pub(crate) fn channel<M>(mailbox: Mailbox) -> (MailboxSender<M>, MailboxReceiver<M>) {
    match mailbox {
        Mailbox::Bounded(n) => {
            let (tx, rx) = mpsc::channel(n);
            (MailboxSender::Bounded(tx), MailboxReceiver::Bounded(rx))
        }
        Mailbox::Unbounded => {
            let (tx, rx) = mpsc::unbounded_channel();
            (MailboxSender::Unbounded(tx), MailboxReceiver::Unbounded(rx))
        }
    }
}

impl<M> MailboxSender<M> {
    /// Enqueues, waiting for room in a bounded mailbox.
    #[inline]
    pub(crate) async fn send(&self, msg: M) -> Result<(), SendError<M>> {
        match self {
            MailboxSender::Bounded(tx) => tx.send(msg).await.map_err(|e| SendError(e.0)),
            MailboxSender::Unbounded(tx) => tx.send(msg).map_err(|e| SendError(e.0)),
        }
    }

    /// Enqueues without waiting.
    #[inline]
    pub(crate) fn try_send(&self, msg: M) -> Result<(), TrySendError<M>> {
        match self {
            MailboxSender::Bounded(tx) => tx.try_send(msg).map_err(|e| match e {
                mpsc::error::TrySendError::Full(m) => TrySendError::Full(m),
                mpsc::error::TrySendError::Closed(m) => TrySendError::Closed(m),
            }),
            MailboxSender::Unbounded(tx) => tx.send(msg).map_err(|e| TrySendError::Closed(e.0)),
        }
    }

    /// Whether the receiving side has closed.
    pub(crate) fn is_closed(&self) -> bool {
        match self {
            MailboxSender::Bounded(tx) => tx.is_closed(),
            MailboxSender::Unbounded(tx) => tx.is_closed(),
        }
    }

    /// The number of messages that can be enqueued without waiting (`None` if unbounded).
    pub(crate) fn free_capacity(&self) -> Option<usize> {
        match self {
            MailboxSender::Bounded(tx) => Some(tx.capacity()),
            MailboxSender::Unbounded(_) => None,
        }
    }
}

impl<M> Clone for MailboxSender<M> {
    fn clone(&self) -> Self {
        match self {
            MailboxSender::Bounded(tx) => MailboxSender::Bounded(tx.clone()),
            MailboxSender::Unbounded(tx) => MailboxSender::Unbounded(tx.clone()),
        }
    }
}

impl<M> MailboxReceiver<M> {
    /// Receives the next message; `None` once the mailbox is closed and empty.
    #[inline]
    pub(crate) async fn recv(&mut self) -> Option<M> {
        match self {
            MailboxReceiver::Bounded(rx) => rx.recv().await,
            MailboxReceiver::Unbounded(rx) => rx.recv().await,
        }
    }

    /// Polls for the next message; `Ready(None)` once the mailbox is closed and empty.
    #[inline]
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<M>> {
        match self {
            MailboxReceiver::Bounded(rx) => rx.poll_recv(cx),
            MailboxReceiver::Unbounded(rx) => rx.poll_recv(cx),
        }
    }

    /// Stops accepting new messages; those already queued can still be received.
    pub(crate) fn close(&mut self) {
        match self {
            MailboxReceiver::Bounded(rx) => rx.close(),
            MailboxReceiver::Unbounded(rx) => rx.close(),
        }
    }
}
