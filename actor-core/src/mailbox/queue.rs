//! The mailbox's queue: a `VecDeque` under a mutex, drained by the actor a batch at a time.
//!
//! Senders push under the lock; the actor takes everything queued in one lock (it swaps the
//! shared queue with its own, empty one) and then handles the batch without touching shared
//! memory. The count of places against the capacity lives under the same lock, so a send costs
//! one lock and no other atomic operation, and the actor's wake-up is taken by the first sender
//! after the actor began to wait: no wake per message while the actor is already scheduled.
//!
//! An idle mailbox holds no buffer until its first message; the buffers it grows are kept.

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};

use tokio::sync::Notify;
use tracing::Span;

use super::Mailbox;
use crate::drop_cause::{DropCause, dropping};
use crate::error::{SendError, TrySendError};

/// After how many handled messages the actor gives their places back at most.
const RELEASE_BATCH: usize = 32;

/// The capacity that stands for "unbounded": more places than any memory holds messages.
const UNBOUNDED: u32 = u32::MAX;

/// The largest capacity of a bounded mailbox: a little over four billion messages.
pub(crate) const MAX_CAPACITY: usize = UNBOUNDED as usize - 1;

/// What senders and the actor share.
struct Shared<M> {
    state: Mutex<State<M>>,
    /// Whether the mailbox is closed; set under the lock, readable without it.
    closed: AtomicBool,
    /// Whether each message carries its sender's span (the actor traces its messages).
    traced: bool,
    /// Senders waiting for room; each woken sender wakes the next while room is left.
    room: Notify,
}

struct State<M> {
    queue: VecDeque<M>,
    /// Places taken: the messages in `queue`, plus those the actor took and has not given back.
    queued: usize,
    /// The capacity (a `u32`, so that it packs with `waiting`); [`UNBOUNDED`] for none.
    capacity: u32,
    /// Senders waiting for room, so that giving places back wakes somebody only if somebody
    /// waits (a `u32`: it packs with `capacity`).
    waiting: u32,
    /// The actor's waker while it waits for mail; taken by the sender that wakes it.
    receiver: Option<Waker>,
    /// With message spans: the span current at each sender, in step with `queue`. Boxed so
    /// that a mailbox without spans pays one pointer, not a whole queue.
    #[expect(clippy::box_collection, reason = "one pointer for the mailboxes that never trace")]
    spans: Option<Box<VecDeque<Span>>>,
}

impl<M> Shared<M> {
    fn lock(&self) -> MutexGuard<'_, State<M>> {
        // No user code runs under this lock (a message's destructor never does), so it is never
        // poisoned by a panic of the application's.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why a push failed, with the message.
enum Refused<M> {
    Full(M),
    Closed(M),
}

/// The sending side of a mailbox. Cheap to clone.
pub(crate) struct MailboxSender<M>(Arc<Shared<M>>);

impl<M> Clone for MailboxSender<M> {
    fn clone(&self) -> Self {
        MailboxSender(Arc::clone(&self.0))
    }
}

impl<M> MailboxSender<M> {
    /// Pushes `msg` if there is room; returns whether room is left after it.
    #[inline]
    fn push(&self, msg: M) -> Result<bool, Refused<M>> {
        if self.0.traced {
            return self.push_traced(msg);
        }
        let mut state = self.0.lock();
        Self::admit(&self.0, &mut state, msg)?;
        Ok(Self::pushed(state))
    }

    /// After a message was queued: releases the lock, then wakes the actor if it was waiting.
    /// Returns whether room is left.
    #[inline]
    fn pushed(mut state: MutexGuard<'_, State<M>>) -> bool {
        let room_left = state.queued < state.capacity as usize;
        let receiver = state.receiver.take();
        drop(state);
        if let Some(receiver) = receiver {
            receiver.wake();
        }
        room_left
    }

    /// Takes a place and queues `msg` under the lock, or refuses it.
    #[inline]
    fn admit(shared: &Shared<M>, state: &mut State<M>, msg: M) -> Result<(), Refused<M>> {
        // Set under this lock: the relaxed read sees it.
        if shared.closed.load(Ordering::Relaxed) {
            return Err(Refused::Closed(msg));
        }
        if state.capacity != UNBOUNDED && state.queued >= state.capacity as usize {
            return Err(Refused::Full(msg));
        }
        state.queued += 1;
        state.queue.push_back(msg);
        Ok(())
    }

    /// [`push`](Self::push) for an actor with message spans: the span current here travels
    /// with the message.
    #[cold]
    fn push_traced(&self, msg: M) -> Result<bool, Refused<M>> {
        // Taken before the lock; dropped after it if the message is refused.
        let span = Span::current();
        let mut state = self.0.lock();
        Self::admit(&self.0, &mut state, msg)?;
        if let Some(spans) = state.spans.as_mut() {
            spans.push_back(span);
        }
        Ok(Self::pushed(state))
    }

    /// Enqueues `msg`, waiting for room first.
    ///
    /// Cancel safe: until the future returns, nothing was enqueued; room it was woken for
    /// passes to the next waiting sender.
    #[inline]
    pub(crate) async fn send(&self, msg: M) -> Result<(), SendError<M>> {
        match self.push(msg) {
            Ok(_) => Ok(()),
            Err(Refused::Closed(msg)) => Err(SendError(msg)),
            Err(Refused::Full(msg)) => self.wait_and_send(msg).await,
        }
    }

    /// The slow path of [`send`](Self::send): registers for room, then retries.
    #[cold]
    async fn wait_and_send(&self, mut msg: M) -> Result<(), SendError<M>> {
        let _waiting = Waiting::new(&self.0);
        loop {
            let mut room = pin!(self.0.room.notified());
            // Registered before retrying, so room made after the retry wakes this sender.
            room.as_mut().enable();
            match self.push(msg) {
                Ok(room_left) => {
                    if room_left {
                        // Pass the wake-up on to the next waiting sender.
                        self.0.room.notify_one();
                    }
                    return Ok(());
                }
                Err(Refused::Closed(back)) => return Err(SendError(back)),
                Err(Refused::Full(back)) => msg = back,
            }
            room.await;
        }
    }

    /// Enqueues `msg` if there is room now.
    #[inline]
    pub(crate) fn try_send(&self, msg: M) -> Result<(), TrySendError<M>> {
        match self.push(msg) {
            Ok(_) => Ok(()),
            Err(Refused::Full(msg)) => Err(TrySendError::Full(msg)),
            Err(Refused::Closed(msg)) => Err(TrySendError::Closed(msg)),
        }
    }

    /// Reads how many places of the mailbox are taken (messages accepted and not yet handled,
    /// plus at most 32 handled whose places are not given back yet) without keeping it alive,
    /// for live inspection.
    pub(crate) fn depth_probe(&self) -> crate::inspect::Depth
    where
        M: Send + 'static,
    {
        let shared = Arc::downgrade(&self.0);
        Box::new(move || shared.upgrade().map_or(0, |shared| shared.lock().queued))
    }

    /// Whether the mailbox is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::Acquire)
    }

    /// The number of messages that can be enqueued without waiting (`None` if unbounded).
    pub(crate) fn free(&self) -> Option<usize> {
        let state = self.0.lock();
        (state.capacity != UNBOUNDED)
            .then(|| (state.capacity as usize).saturating_sub(state.queued))
    }
}

/// A sender counted among those waiting for room, from its first refusal until it returns or
/// is dropped.
struct Waiting<'a, M>(&'a Shared<M>);

impl<'a, M> Waiting<'a, M> {
    fn new(shared: &'a Shared<M>) -> Self {
        shared.lock().waiting += 1;
        Waiting(shared)
    }
}

impl<M> Drop for Waiting<'_, M> {
    fn drop(&mut self) {
        self.0.lock().waiting -= 1;
    }
}

/// The receiving side of a mailbox, owned by the actor's task. Messages still queued when it
/// is dropped are dropped as [`DropCause::Unhandled`], and waiting senders get theirs back.
pub(crate) struct MailboxReceiver<M> {
    shared: Arc<Shared<M>>,
    /// The batch being handled, taken from the shared queue in one swap.
    batch: VecDeque<M>,
    /// Messages taken whose places have not been given back yet.
    unreleased: usize,
    /// With message spans: the senders' spans of `batch`, and the span of the message in hand.
    spans: Option<Box<Spans>>,
}

/// What a receiver with message spans keeps, boxed: most actors have none.
struct Spans {
    /// The senders' spans of the batch, in step with it.
    batch: VecDeque<Span>,
    /// The span of the message being handled.
    current: Span,
}

impl Default for Spans {
    fn default() -> Self {
        Spans { batch: VecDeque::new(), current: Span::none() }
    }
}

impl<M> MailboxReceiver<M> {
    /// Polls for the next message; `None` once closed and empty.
    #[inline]
    pub(crate) fn poll_recv(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Option<M>> {
        // Take part in tokio's cooperative scheduling, as its own channels do: an actor under a
        // flood of messages yields now and then.
        let coop = std::task::ready!(tokio::task::coop::poll_proceed(cx));
        if (self.batch.is_empty() || self.unreleased >= RELEASE_BATCH) && self.refill(cx) {
            return Poll::Ready(None);
        }
        match self.batch.pop_front() {
            Some(msg) => {
                coop.made_progress();
                self.unreleased += 1;
                Poll::Ready(Some(msg))
            }
            None => Poll::Pending,
        }
    }

    /// Gives back the places of the messages taken and, if the batch is empty, takes what is
    /// queued; with nothing queued, leaves the waker for the next sender. Returns true if the
    /// mailbox is closed and empty.
    #[cold]
    fn refill(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        let released = std::mem::take(&mut self.unreleased);
        let (ended, wake) = {
            let mut state = self.shared.lock();
            state.queued -= released;
            if self.batch.is_empty() {
                std::mem::swap(&mut self.batch, &mut state.queue);
                if let (Some(mine), Some(theirs)) = (self.spans.as_mut(), state.spans.as_mut()) {
                    std::mem::swap(&mut mine.batch, &mut **theirs);
                }
            }
            let closed = self.shared.closed.load(Ordering::Relaxed);
            let ended = self.batch.is_empty() && closed;
            if self.batch.is_empty()
                && let Some(spans) = self.spans.as_mut()
            {
                // Waiting: the last message's span ends now, not when the next one comes.
                spans.current = Span::none();
            }
            if self.batch.is_empty() && !closed {
                match &state.receiver {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    _ => state.receiver = Some(cx.waker().clone()),
                }
            }
            (ended, released > 0 && state.waiting > 0)
        };
        if wake {
            self.shared.room.notify_one();
        }
        ended
    }

    /// The messages taken from the mailbox with its last take and not yet handled: what waits
    /// behind the message in hand, as of that take.
    #[cfg(feature = "metrics")]
    pub(crate) fn backlog(&self) -> usize {
        self.batch.len()
    }

    /// Whether the actor traces its messages.
    #[inline]
    pub(crate) fn traced(&self) -> bool {
        self.spans.is_some()
    }

    /// Opens the span of the message just received, a child of the span current where it was
    /// sent; see [`enter`](Self::enter). The sender's span is taken first, so that the spans
    /// stay in step with the messages even if `message` (the actor's code) panics.
    #[cold]
    pub(crate) fn begin_message(&mut self, actor: &str, message: impl FnOnce() -> &'static str) {
        if let Some(spans) = self.spans.as_mut() {
            let parent = spans.batch.pop_front().unwrap_or_else(Span::none);
            spans.current = Span::none();
            spans.current = crate::trace::message_span(actor, message(), parent);
        }
    }

    /// Enters the span of the message in hand, if the actor traces its messages.
    #[inline]
    pub(crate) fn enter(&self) -> Option<tracing::span::Entered<'_>> {
        self.spans.as_ref().map(|spans| spans.current.enter())
    }

    /// The span of the message in hand (a disabled one if the actor does not trace).
    pub(crate) fn current_span(&self) -> Span {
        self.spans.as_ref().map_or_else(Span::none, |spans| spans.current.clone())
    }

    /// Gives back the places of every message taken; called whenever the task is about to
    /// wait, so that room is never withheld while the actor waits.
    #[inline]
    pub(crate) fn flush(&mut self) {
        if self.unreleased > 0 {
            let released = std::mem::take(&mut self.unreleased);
            let wake = {
                let mut state = self.shared.lock();
                state.queued -= released;
                state.waiting > 0
            };
            if wake {
                self.shared.room.notify_one();
            }
        }
    }

    /// Refuses new messages; those already queued can still be received. Senders waiting for
    /// room are woken to find the mailbox closed.
    pub(crate) fn close(&mut self) {
        let waker = {
            // Under the lock, so that a sender holding it sees either all or nothing.
            let mut state = self.shared.lock();
            self.shared.closed.store(true, Ordering::Release);
            // Nobody wakes a closed mailbox's actor: let its task go (dropped off the lock).
            state.receiver.take()
        };
        drop(waker);
        self.shared.room.notify_waiters();
    }

    /// Closes the mailbox and drops every queued message as [`DropCause::Unhandled`]; nothing
    /// arrives later.
    pub(crate) fn discard_all(&mut self) {
        self.close();
        let (queued, spans) = {
            let mut state = self.shared.lock();
            let spans = state.spans.as_mut().map(|spans| std::mem::take(&mut **spans));
            // Nothing is held any more: the mailbox reads empty.
            state.queued = 0;
            (std::mem::take(&mut state.queue), spans)
        };
        self.unreleased = 0;
        let batch = std::mem::take(&mut self.batch);
        dropping(DropCause::Unhandled, || drop((batch, queued)));
        let mine = self.spans.as_mut().map(|mine| {
            (std::mem::take(&mut mine.batch), std::mem::replace(&mut mine.current, Span::none()))
        });
        drop((spans, mine));
    }
}

impl<M> Drop for MailboxReceiver<M> {
    fn drop(&mut self) {
        // Messages are dropped here, outside the lock, as unhandled.
        self.discard_all();
    }
}

/// Creates a mailbox; with `traced`, each message carries the span current at its sender.
pub(crate) fn channel<M>(mailbox: Mailbox, traced: bool) -> (MailboxSender<M>, MailboxReceiver<M>) {
    let capacity = match mailbox {
        // Validated: at most `MAX_CAPACITY`.
        Mailbox::Bounded(n) => u32::try_from(n).unwrap_or(UNBOUNDED - 1),
        Mailbox::Unbounded => UNBOUNDED,
    };
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            queued: 0,
            capacity,
            waiting: 0,
            spans: traced.then(Box::default),
            receiver: None,
        }),
        closed: AtomicBool::new(false),
        traced,
        room: Notify::new(),
    });
    let receiver = MailboxReceiver {
        shared: Arc::clone(&shared),
        batch: VecDeque::new(),
        unreleased: 0,
        spans: traced.then(Box::default),
    };
    (MailboxSender(shared), receiver)
}

/// The size of a mailbox's shared part, for the size assertions.
#[cfg(test)]
pub(crate) fn shared_size<M>() -> usize {
    std::mem::size_of::<Shared<M>>()
}

#[cfg(test)]
mod model {
    //! The queue against a model of what it promises, over random sequences of operations: the
    //! same messages come out in the same order, a send is refused exactly when the model is
    //! full or closed, and the free room is what the model says once the actor has waited.

    use std::collections::VecDeque;
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::error::TrySendError;

    /// A small deterministic generator (xorshift), so that a failure can be replayed.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    #[test]
    fn the_queue_behaves_like_its_model() {
        let mut cx = Context::from_waker(Waker::noop());
        for seed in 1..=200u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let capacity = 1 + rng.below(40) as usize;
            let (tx, mut rx) = channel::<u64>(Mailbox::Bounded(capacity), false);
            // The model: messages accepted and not yet received, and places not yet given back.
            let mut queued: VecDeque<u64> = VecDeque::new();
            let mut taken_unreleased = 0usize;
            let mut closed = false;
            let mut next = 0u64;
            for step in 0..2_000 {
                match rng.below(10) {
                    0..=4 => {
                        let held = queued.len() + taken_unreleased;
                        match tx.try_send(next) {
                            Ok(()) => {
                                assert!(!closed && held < capacity, "seed {seed} step {step}");
                                queued.push_back(next);
                            }
                            Err(TrySendError::Full(back)) => {
                                assert!(!closed && held >= capacity, "seed {seed} step {step}");
                                assert_eq!(back, next);
                            }
                            Err(TrySendError::Closed(back)) => {
                                assert!(closed, "seed {seed} step {step}");
                                assert_eq!(back, next);
                            }
                        }
                        next += 1;
                    }
                    5..=7 => match rx.poll_recv(&mut cx) {
                        Poll::Ready(Some(msg)) => {
                            assert_eq!(Some(msg), queued.pop_front(), "seed {seed} step {step}");
                            // One more place held, or the earlier ones given back.
                            let now = rx.unreleased;
                            assert!(
                                now == taken_unreleased + 1 || now == 1,
                                "seed {seed} step {step}: {taken_unreleased} -> {now}"
                            );
                            taken_unreleased = now;
                        }
                        Poll::Ready(None) => {
                            assert!(closed && queued.is_empty(), "seed {seed} step {step}");
                        }
                        Poll::Pending => {
                            assert!(!closed && queued.is_empty(), "seed {seed} step {step}");
                            assert_eq!(rx.unreleased, 0, "waiting gives every place back");
                            taken_unreleased = 0;
                        }
                    },
                    8 => {
                        // The actor waits in a handler.
                        rx.flush();
                        taken_unreleased = 0;
                        assert_eq!(tx.free(), Some(capacity - queued.len()), "seed {seed}");
                    }
                    _ => {
                        if rng.below(20) == 0 {
                            rx.close();
                            closed = true;
                            assert!(tx.is_closed());
                        }
                    }
                }
                assert!(rx.unreleased <= RELEASE_BATCH, "seed {seed} step {step}");
                assert!(queued.len() + rx.unreleased <= capacity, "seed {seed} step {step}");
            }
        }
    }
}
