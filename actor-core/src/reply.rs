//! [`Reply`]: the sending half of a request, carried inside a message.
//!
//! A message that expects an answer carries a `Reply<T>`; the handler calls [`Reply::send`].
//! If the reply is dropped unsent (the handler panicked, the actor was killed with the message
//! still queued, or the handler forgot to answer), the asker is told why instead of hanging.

use std::fmt;

use tokio::sync::oneshot;

use crate::drop_cause::DropCause;
use crate::error::AskError;

/// The reply slot of a request; see the [module docs](self).
#[must_use = "a request expects a reply: call `Reply::send`"]
pub struct Reply<T> {
    /// `None` once sent, or for a message sent fire-and-forget (nobody is waiting).
    tx: Option<oneshot::Sender<Result<T, AskError>>>,
}

/// The receiving half of a request, awaited by the asker.
pub(crate) type ReplyReceiver<T> = oneshot::Receiver<Result<T, AskError>>;

impl<T> Reply<T> {
    /// Creates a connected reply slot and the receiver the asker awaits.
    pub(crate) fn channel() -> (Self, ReplyReceiver<T>) {
        let (tx, rx) = oneshot::channel();
        (Reply { tx: Some(tx) }, rx)
    }

    /// A reply slot nobody waits on: what a message sent with `tell` carries.
    pub fn discard() -> Self {
        Reply { tx: None }
    }

    /// Sends the reply. Does nothing if nobody is waiting any more (the asker timed out or was
    /// dropped, or the message was sent fire-and-forget).
    pub fn send(mut self, value: T) {
        if let Some(tx) = self.tx.take() {
            // The asker may have gone away; the reply is then discarded, as documented.
            let _ = tx.send(Ok(value));
        }
    }

    /// Whether somebody is still waiting for this reply.
    pub fn is_wanted(&self) -> bool {
        self.tx.as_ref().is_some_and(|tx| !tx.is_closed())
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let error = match crate::drop_cause::drop_cause() {
                DropCause::Panicked => AskError::Panicked,
                _ => AskError::Stopped,
            };
            let _ = tx.send(Err(error));
        }
    }
}

impl<T> fmt::Debug for Reply<T> {
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
