//! Mailboxes: bounded by default (senders feel backpressure), unbounded only when asked for.
//!
//! A mailbox is a queue of the actor's own message enum: a message is moved into the queue,
//! never boxed, and nothing is allocated per message once the queue's buffer has grown to the
//! actor's load. The `queue` module says how it is built.

mod queue;

#[cfg(test)]
pub(crate) use self::queue::shared_size;
pub(crate) use self::queue::{MAX_CAPACITY, MailboxReceiver, MailboxSender, channel};

/// How an actor's mailbox is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mailbox {
    /// At most this many queued messages; `tell` waits for room and `try_tell` hands the message
    /// back when full.
    ///
    /// A message counts against the capacity from the moment it is accepted until the actor
    /// gives its place back, which it does in batches: when it takes its next batch of messages
    /// from the mailbox, after at most 32 messages within a batch, and whenever it waits, for
    /// mail or inside a handler. So the mailbox never holds more than the capacity, while a
    /// sender waiting on a full mailbox is woken once per batch instead of once per message.
    /// Waiting senders are woken about in the order they began to wait: not strictly, since a
    /// sender arriving when room is free may take it first, and the one woken for it then waits
    /// again, at the back.
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
