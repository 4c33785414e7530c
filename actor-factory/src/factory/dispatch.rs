//! Dispatch: a free slot gets its next job, and a job's end (by its drop) decides what
//! follows: processed, retried, failed, or back in the queue for a replacement worker.

use std::hash::Hash;

use actor_core::{Actor, ActorRef, TrySendError};
// tokio's clock, so that tests on paused time see deadlines.
use tokio::time::Instant;

use super::*;
use crate::job::{DiscardReason, Ending, Failure, FailureReason, Home, Job, SubmissionId};

impl<W, K, M> Shared<W, K, M>
where
    W: Actor,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + 'static,
{
    /// Gives the slot at `pos` its next job if it is free; removes it if it is retiring and
    /// has nothing left.
    pub(super) fn dispatch(&self, st: &mut State<W, K, M>, pos: usize, fx: &mut Effects<W, K, M>) {
        let mut now = None;
        loop {
            let slot = &st.slots[pos];
            if slot.current.is_some() || slot.worker.is_none() {
                return;
            }
            let Some(entry) = self.next_for(st, pos, fx) else {
                if st.slots[pos].retiring {
                    let slot = st.slots.remove(pos);
                    let removed = &mut st.totals.removed;
                    removed.processed += slot.counters.processed;
                    removed.failed += slot.counters.failed;
                    removed.replaced += slot.counters.replaced;
                    removed.processing.merge(&slot.counters.processing);
                    fx.stop.extend(slot.worker);
                }
                return;
            };
            st.queued -= 1;
            if fx.room < st.waiting {
                fx.room += 1;
            }
            // One clock read per dispatch at most; `ended` passes the one it made.
            let now = *now.get_or_insert_with(|| fx.now.unwrap_or_else(Instant::now));
            if entry.deadline.is_some_and(|deadline| now >= deadline) {
                self.release_key(st, &entry.key);
                self.discard(st, entry, DiscardReason::Expired, fx);
                continue;
            }
            st.totals.queue_wait.record(now - entry.submitted);
            #[cfg(feature = "metrics")]
            self.metrics.waited(now - entry.submitted);
            let Some(home) = self.me.upgrade() else { return };
            let slot = &mut st.slots[pos];
            let job = Job {
                id: entry.id,
                key: entry.key.clone(),
                payload: Some(entry.payload),
                attempt: entry.attempt,
                slot: slot.id,
                generation: slot.generation,
                home,
            };
            let span = entry.span.clone();
            slot.current = Some(Running {
                id: entry.id,
                key: entry.key,
                retry: entry.retry,
                attempt: entry.attempt,
                started: now,
                undelivered: false,
                span: entry.span,
            });
            let (slot_id, generation) = (slot.id, slot.generation);
            let Some(worker) = slot.worker.as_ref() else { return };
            // Sent once the lock is released: waking the worker may wake a thread, and no
            // submitter or finishing worker should wait on the lock meanwhile.
            let delivery = Delivery {
                worker: worker.clone(),
                msg: (self.wrap)(job),
                slot: slot_id,
                generation,
                id: entry.id,
                span,
            };
            match fx.send {
                None => fx.send = Some(delivery),
                Some(_) => fx.sends.push(delivery),
            }
            return;
        }
    }

    /// The slot's running job failed: retry it once if it may, else report it.
    pub(super) fn fail(
        &self,
        st: &mut State<W, K, M>,
        pos: usize,
        running: Running<K, M>,
        reason: FailureReason,
        fx: &mut Effects<W, K, M>,
    ) {
        if let (Some(payload), 1) = (running.retry, running.attempt) {
            st.totals.retried += 1;
            st.requeue_front(
                pos,
                Entry::again(running.id, running.key, payload, None, 2, running.span),
            );
            return;
        }
        st.slots[pos].counters.failed += 1;
        self.release_key(st, &running.key);
        tracing::warn!(factory = %self.name, id = running.id.0, %reason, "job failed");
        fx.failures.push(Failure {
            id: running.id,
            key: running.key,
            attempt: running.attempt,
            reason,
        });
    }

    /// Marks the job `id` of `slot` as never delivered: its worker refused it.
    pub(super) fn undelivered(&self, slot: u64, generation: u64, id: SubmissionId) {
        let mut st = self.lock();
        let Some(pos) = st.position(slot) else { return };
        let s = &mut st.slots[pos];
        if s.generation == generation
            && let Some(running) = s.current.as_mut().filter(|running| running.id == id)
        {
            running.undelivered = true;
        }
    }
}

impl<W, K, M> Home<K, M> for Shared<W, K, M>
where
    W: Actor,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + 'static,
{
    fn ended(
        &self,
        slot: u64,
        generation: u64,
        id: SubmissionId,
        ending: Ending,
        unhandled: Option<M>,
    ) {
        // Read off the lock: the end of this job and the dispatch of the next.
        let mut fx = Effects { now: Some(Instant::now()), ..Effects::default() };
        {
            let mut st = self.lock();
            let Some(pos) = st.position(slot) else { return };
            let s = &mut st.slots[pos];
            if s.generation != generation || s.current.as_ref().map(|r| r.id) != Some(id) {
                // Its worker was already replaced; this is the old one letting go of it.
                return;
            }
            let Some(running) = s.current.take() else { return };
            let ending = if running.undelivered { Ending::Unhandled } else { ending };
            match ending {
                Ending::Handled => {
                    // The handler finished with it (a worker that stops itself afterwards
                    // refuses its next job, which then goes to the replacement).
                    s.counters.processed += 1;
                    let now = fx.now.unwrap_or_else(Instant::now);
                    s.counters.processing.record(now - running.started);
                    #[cfg(feature = "metrics")]
                    self.metrics.ran(now - running.started);
                    if s.worker.as_ref().is_some_and(ActorRef::is_closed) {
                        // The worker stopped itself: replace it now, not at the next job.
                        let gone = st.lose_worker(pos, &mut fx);
                        fx.stop.extend(gone);
                    }
                    self.release_key(&mut st, &running.key);
                }
                Ending::Unhandled => {
                    // Never handled: its worker stopped or failed first. The job goes back to
                    // the front of the slot's queue, for the replacement.
                    let gone = st.lose_worker(pos, &mut fx);
                    fx.stop.extend(gone);
                    match unhandled {
                        Some(payload) => {
                            let entry = Entry::again(
                                running.id,
                                running.key,
                                payload,
                                running.retry,
                                running.attempt,
                                running.span,
                            );
                            st.requeue_front(pos, entry);
                        }
                        None => {
                            self.fail(&mut st, pos, running, FailureReason::WorkerStopped, &mut fx)
                        }
                    }
                }
                Ending::Interrupted => {
                    // Killed in the middle of its handler.
                    let gone = st.lose_worker(pos, &mut fx);
                    fx.stop.extend(gone);
                    self.fail(&mut st, pos, running, FailureReason::WorkerStopped, &mut fx);
                }
                Ending::Stuck(busy_for) => {
                    // The watchdog failed the worker in the middle of its handler.
                    tracing::warn!(factory = %self.name, slot, ?busy_for, "worker stuck; replacing it");
                    let gone = st.lose_worker(pos, &mut fx);
                    fx.stop.extend(gone);
                    self.fail(&mut st, pos, running, FailureReason::Stuck(busy_for), &mut fx);
                }
                Ending::Panicked => {
                    // A panicking handler stops its (unsupervised) worker.
                    let gone = st.lose_worker(pos, &mut fx);
                    fx.stop.extend(gone);
                    self.fail(&mut st, pos, running, FailureReason::Panicked, &mut fx);
                }
            }
            self.dispatch(&mut st, pos, &mut fx);
            fx.idle = !st.accepting && st.is_idle();
            #[cfg(feature = "metrics")]
            self.record_depth(&st);
        }
        if ending == Ending::Panicked {
            // Still unwinding: user code (handlers, the worker factory) runs on a task instead.
            if let Some(me) = self.me.upgrade() {
                tokio::spawn(async move { me.run(fx) });
            }
        } else {
            self.run(fx);
        }
    }
}

/// A job for a worker, decided under the lock and sent after it.
pub(super) struct Delivery<W: Actor> {
    pub(super) worker: ActorRef<W>,
    pub(super) msg: W::Message,
    pub(super) slot: u64,
    pub(super) generation: u64,
    pub(super) id: SubmissionId,
    /// The submitter's span: current while the job is sent, so that the worker's message span
    /// is its child and not a child of whoever delivers it.
    pub(super) span: Option<Box<tracing::Span>>,
}

impl<W, K, M> Shared<W, K, M>
where
    W: Actor,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + 'static,
{
    /// Sends a job decided under the lock, with the lock released.
    pub(super) fn deliver(&self, delivery: Delivery<W>) {
        let Delivery { worker, msg, slot, generation, id, span } = delivery;
        let entered = span.as_deref().map(tracing::Span::enter);
        let sent = worker.try_tell(msg);
        drop(entered);
        match sent {
            Ok(()) => {}
            Err(TrySendError::Full(msg)) => {
                // Someone else filled the worker's mailbox; wait for room.
                let me = self.me.clone();
                let sending = async move {
                    if let Err(refused) = worker.tell(msg).await {
                        if let Some(me) = me.upgrade() {
                            me.undelivered(slot, generation, id);
                        }
                        drop(refused);
                    }
                };
                if let Some(span) = span {
                    tokio::spawn(tracing::Instrument::instrument(sending, *span));
                } else {
                    tokio::spawn(sending);
                }
            }
            Err(TrySendError::Closed(msg)) => {
                // The worker is stopping. Marked undelivered first, so that the job's
                // destructor sends it back to the queue, for the replacement.
                self.undelivered(slot, generation, id);
                drop(msg);
            }
        }
    }
}
