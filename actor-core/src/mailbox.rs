//! Mailboxes: bounded by default (senders feel backpressure), unbounded only when asked for.
//!
//! A mailbox is a tokio mpsc channel of the actor's own message enum: a message is moved into
//! the channel's slot, never boxed, and nothing is allocated per message. The channel itself is
//! tokio's unbounded one; the bound is counted in the actor's cell ([`Bound`]), so that room is
//! given back to senders in batches instead of under a lock per message.

use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

use tokio::sync::{Notify, mpsc};

use crate::drop_cause::{DropCause, dropping};

use crate::error::{SendError, TrySendError};

/// How an actor's mailbox is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mailbox {
    /// At most this many queued messages; `tell` waits for room and `try_tell` hands the message
    /// back when full.
    ///
    /// A message counts against the capacity from the moment it is accepted until the actor
    /// gives its place back, which it does in batches: after 32 messages taken (half the
    /// capacity, if that is smaller) and whenever it waits, for mail or inside a handler. So the
    /// mailbox never holds more than the capacity, while a sender waiting on a full mailbox is
    /// woken once per batch instead of once per message. Waiting senders are woken in the order
    /// they began to wait; a sender arriving when room is free may take it first.
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

/// The sending side of a mailbox: tokio's unbounded channel, bounded by the actor's [`Bound`].
/// Every send takes the same code path, with no dispatch on the kind of mailbox.
pub(crate) struct MailboxSender<M>(mpsc::UnboundedSender<M>);

impl<M> Clone for MailboxSender<M> {
    fn clone(&self) -> Self {
        MailboxSender(self.0.clone())
    }
}

impl<M> MailboxSender<M> {
    /// Enqueues `msg`, waiting for room in `bound` first.
    ///
    /// Cancel safe: until the future returns, nothing was enqueued and no room taken; room it
    /// was woken for passes to the next waiting sender.
    #[inline]
    pub(crate) async fn send(&self, bound: &Bound, msg: M) -> Result<(), SendError<M>> {
        if !bound.try_acquire() && !self.wait_for_room(bound).await {
            return Err(SendError(msg));
        }
        self.0.send(msg).map_err(|refused| {
            bound.give_back();
            SendError(refused.0)
        })
    }

    /// Waits until this sender holds a place in `bound`; false once the mailbox is closed.
    #[cold]
    async fn wait_for_room(&self, bound: &Bound) -> bool {
        loop {
            let mut room = pin!(bound.room.notified());
            // Registered before checking, so room made after the check wakes this waiter.
            room.as_mut().enable();
            if self.0.is_closed() {
                return false;
            }
            if bound.try_acquire_after_wait() {
                return true;
            }
            room.await;
        }
    }

    /// Enqueues `msg` if there is room now.
    #[inline]
    pub(crate) fn try_send(&self, bound: &Bound, msg: M) -> Result<(), TrySendError<M>> {
        if !bound.try_acquire() {
            return Err(if self.0.is_closed() {
                TrySendError::Closed(msg)
            } else {
                TrySendError::Full(msg)
            });
        }
        self.0.send(msg).map_err(|refused| {
            bound.give_back();
            TrySendError::Closed(refused.0)
        })
    }

    /// Whether the receiver closed or is gone.
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

/// The bound of a mailbox, kept in the actor's cell: how many messages are queued against its
/// capacity, and the senders waiting for room.
///
/// A message counts from the moment a sender takes its place until the actor gives the place
/// back. The actor gives places back in batches: after [`RELEASE_BATCH`] messages (half the
/// capacity if that is smaller), and whenever its task is about to wait (for mail or in a
/// handler). So the queue never
/// holds more than the capacity, and a sender waiting on a full mailbox is woken once per batch
/// rather than once per message.
#[repr(C)]
pub(crate) struct Bound {
    /// The capacity; [`UNBOUNDED`] for an unbounded mailbox, which skips all counting.
    capacity: u32,
    /// After how many taken messages the actor gives their places back.
    batch: u32,
    /// Places taken by senders and not yet given back.
    queued: AtomicUsize,
    /// Senders waiting for room; each woken sender wakes the next while room is left.
    room: Notify,
}

/// The largest number of places the actor gives back at once.
pub(crate) const RELEASE_BATCH: u32 = 32;

impl Bound {
    /// The bound of a mailbox; the capacity must already be validated (`1..=MAX_CAPACITY`).
    pub(crate) fn new(mailbox: Mailbox) -> Self {
        let capacity = match mailbox {
            // Validated: at most `MAX_CAPACITY`.
            Mailbox::Bounded(n) => u32::try_from(n).unwrap_or(UNBOUNDED - 1),
            Mailbox::Unbounded => UNBOUNDED,
        };
        Bound {
            capacity,
            batch: (capacity / 2).clamp(1, RELEASE_BATCH),
            queued: AtomicUsize::new(0),
            room: Notify::new(),
        }
    }

    /// Takes a place if one is free.
    #[inline]
    fn try_acquire(&self) -> bool {
        if self.capacity == UNBOUNDED {
            return true;
        }
        let mut queued = self.queued.load(Ordering::Relaxed);
        loop {
            if queued >= self.capacity as usize {
                return false;
            }
            match self.queued.compare_exchange_weak(
                queued,
                queued + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => queued = now,
            }
        }
    }

    /// [`try_acquire`](Self::try_acquire) for a registered waiter: ordered after its
    /// registration, and passing the wake-up on while room is left.
    fn try_acquire_after_wait(&self) -> bool {
        let mut queued = self.queued.load(Ordering::SeqCst);
        loop {
            if queued >= self.capacity as usize {
                return false;
            }
            match self.queued.compare_exchange_weak(
                queued,
                queued + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => {
                    if queued + 1 < self.capacity as usize {
                        self.room.notify_one();
                    }
                    return true;
                }
                Err(now) => queued = now,
            }
        }
    }

    /// Gives back a place whose message could not be enqueued (the mailbox closed meanwhile).
    #[cold]
    fn give_back(&self) {
        self.release(1);
    }

    fn release(&self, places: usize) {
        // Ordered before the wake-up check: a waiter either sees the room or is woken.
        self.queued.fetch_sub(places, Ordering::SeqCst);
        self.room.notify_one();
    }

    /// Wakes every waiting sender, to find the mailbox closed.
    pub(crate) fn wake_all(&self) {
        self.room.notify_waiters();
    }

    /// The number of messages that can be enqueued without waiting (`None` if unbounded).
    pub(crate) fn free(&self) -> Option<usize> {
        (self.capacity != UNBOUNDED)
            .then(|| (self.capacity as usize).saturating_sub(self.queued.load(Ordering::Acquire)))
    }
}

/// The receiving side of a mailbox, owned by the actor's task. Messages still queued when it
/// is dropped are dropped as [`DropCause::Unhandled`].
pub(crate) struct MailboxReceiver<M> {
    /// Taken only by `drop`.
    rx: Option<mpsc::UnboundedReceiver<M>>,
    /// Messages taken whose places have not been given back yet; kept here, in the task, so
    /// that taking a message writes nothing the senders read.
    unreleased: usize,
}

impl<M> MailboxReceiver<M> {
    #[inline]
    fn rx(&mut self) -> &mut mpsc::UnboundedReceiver<M> {
        self.rx.as_mut().expect("the receiver is present until the mailbox is dropped")
    }

    /// Polls for the next message; `None` once closed and empty. Gives back the places of the
    /// messages taken before when there is none, and every `batch` messages.
    #[inline]
    pub(crate) fn poll_recv(
        &mut self,
        bound: &Bound,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<M>> {
        let polled = self.rx().poll_recv(cx);
        match polled {
            Poll::Ready(Some(_)) if bound.capacity != UNBOUNDED => {
                self.unreleased += 1;
                if self.unreleased >= bound.batch as usize {
                    self.flush(bound);
                }
            }
            Poll::Ready(_) => {}
            Poll::Pending => self.flush(bound),
        }
        polled
    }

    /// Gives back the places of every message taken; called whenever the task is about to
    /// wait, so that room is never withheld while the actor waits.
    #[inline]
    pub(crate) fn flush(&mut self, bound: &Bound) {
        if self.unreleased > 0 {
            bound.release(std::mem::take(&mut self.unreleased));
        }
    }

    /// Refuses new messages; those already queued can still be received. Senders waiting for
    /// room are woken to find the mailbox closed.
    pub(crate) fn close(&mut self, bound: &Bound) {
        self.rx().close();
        bound.wake_all();
    }

    /// Closes the mailbox and drops every queued message as [`DropCause::Unhandled`]. Returns
    /// once no sender is between taking a place and enqueueing, so nothing arrives later.
    pub(crate) async fn discard_all(&mut self, bound: &Bound) {
        self.close(bound);
        let rx = self.rx();
        while let Some(msg) = rx.recv().await {
            dropping(DropCause::Unhandled, || drop(msg));
        }
    }
}

impl<M> Drop for MailboxReceiver<M> {
    fn drop(&mut self) {
        // The channel drops what is still queued in its own destructor, on this thread.
        let rx = self.rx.take();
        dropping(DropCause::Unhandled, || drop(rx));
    }
}

/// The capacity that stands for "unbounded".
const UNBOUNDED: u32 = u32::MAX;

/// The largest capacity of a bounded mailbox: a little over four billion messages.
pub(crate) const MAX_CAPACITY: usize = UNBOUNDED as usize - 1;

/// Creates a mailbox's channel; its bound is the cell's.
pub(crate) fn channel<M>() -> (MailboxSender<M>, MailboxReceiver<M>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (MailboxSender(tx), MailboxReceiver { rx: Some(rx), unreleased: 0 })
}
