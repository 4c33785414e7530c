//! Admission: capacity, backpressure, ids and time-to-live of submitted jobs.

use std::hash::Hash;
use std::pin::pin;

use actor_core::Actor;
// tokio's clock, so that tests on paused time see deadlines.
use tokio::time::Instant;

use super::*;
use crate::error::SubmitError;
use crate::job::{DiscardReason, Discarded, JobOptions, SubmissionId};

/// A submitter counted in `State::waiting` until it is admitted, refused or dropped.
struct Registered<'a, W: Actor, K, M> {
    shared: &'a Shared<W, K, M>,
    /// Whether the count is still to be taken back.
    counted: bool,
}

impl<W: Actor, K, M> Registered<'_, W, K, M> {
    /// Takes the count back under a lock the caller already holds.
    fn leave(mut self, st: &mut State<W, K, M>) {
        st.waiting -= 1;
        self.counted = false;
    }
}

impl<W: Actor, K, M> Drop for Registered<'_, W, K, M> {
    fn drop(&mut self) {
        if self.counted {
            // Not `lock()`: a destructor cannot carry that method's bounds.
            self.shared.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).waiting -=
                1;
        }
    }
}

/// A job being accepted, with what its entry needs.
pub(super) struct NewJob<K, M> {
    pub(super) key: K,
    pub(super) payload: M,
    pub(super) retry: Option<M>,
    pub(super) options: JobOptions,
    /// The span its handling continues (see [`Shared::submitter_span`]).
    pub(super) span: Option<Box<tracing::Span>>,
}

/// Why `admit` refused a job.
pub(super) enum Refusal {
    Full,
    Closed,
}

impl<W, K, M> Shared<W, K, M>
where
    W: Actor,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + 'static,
{
    pub(super) async fn submit(
        &self,
        key: K,
        payload: M,
        retry: Option<M>,
        options: JobOptions,
        wait: bool,
    ) -> Result<SubmissionId, SubmitError<K, M>> {
        let wait = wait && self.backpressure == Backpressure::Wait;
        // Counted among the factory's waiting submitters from the first refusal on; the guard
        // takes the count back however this future ends, dropped included.
        let mut registered: Option<Registered<'_, W, K, M>> = None;
        let span = self.submitter_span();
        loop {
            // Registering for room costs a lock inside `Notify`: only once the queue was full.
            let mut room = pin!(self.room.notified());
            if registered.is_some() {
                room.as_mut().enable();
            }
            let mut fx = Effects { now: Some(Instant::now()), ..Effects::default() };
            let admitted = {
                let mut st = self.lock();
                let admitted = self.admit(&mut st, &mut fx);
                if let Ok(()) = admitted {
                    if let Some(registered) = registered.take() {
                        registered.leave(&mut st);
                    }
                    let job = NewJob { key, payload, retry, options, span };
                    let id = self.insert(&mut st, job, &mut fx);
                    drop(st);
                    self.run(fx);
                    return Ok(id);
                }
                if let Err(Refusal::Full) = admitted
                    && wait
                    && registered.is_none()
                {
                    st.waiting += 1;
                    registered = Some(Registered { shared: self, counted: true });
                    // Registered, so wait at the next turn rather than now: the room may have
                    // been made between this refusal and `enable`.
                    drop(st);
                    self.run(fx);
                    continue;
                }
                admitted
            };
            self.run(fx);
            match admitted {
                Err(Refusal::Full) if wait => room.await,
                Err(Refusal::Full) => return Err(SubmitError::Full { key, payload }),
                Err(Refusal::Closed) | Ok(()) => {
                    // `registered` is dropped on return, taking its count back.
                    return Err(SubmitError::Closed { key, payload });
                }
            }
        }
    }

    /// Accepts a job into a queue (or refuses it), under the lock.
    pub(super) fn accept(
        &self,
        st: &mut State<W, K, M>,
        key: K,
        payload: M,
        options: JobOptions,
        span: Option<Box<tracing::Span>>,
        fx: &mut Effects<W, K, M>,
    ) -> Result<SubmissionId, SubmitError<K, M>> {
        match self.admit(st, fx) {
            Ok(()) => {
                let job = NewJob { key, payload, retry: None, options, span };
                Ok(self.insert(st, job, fx))
            }
            Err(Refusal::Full) => Err(SubmitError::Full { key, payload }),
            Err(Refusal::Closed) => Err(SubmitError::Closed { key, payload }),
        }
    }

    /// Whether a new job fits (making room under [`Backpressure::DropOldest`]).
    pub(super) fn admit(
        &self,
        st: &mut State<W, K, M>,
        fx: &mut Effects<W, K, M>,
    ) -> Result<(), Refusal> {
        if !st.accepting {
            return Err(Refusal::Closed);
        }
        if st.queued >= self.capacity
            && (self.backpressure != Backpressure::DropOldest || !self.drop_oldest(st, fx))
        {
            return Err(Refusal::Full);
        }
        Ok(())
    }

    pub(super) fn insert(
        &self,
        st: &mut State<W, K, M>,
        job: NewJob<K, M>,
        fx: &mut Effects<W, K, M>,
    ) -> SubmissionId {
        st.next_job += 1;
        let id = SubmissionId(st.next_job);
        let now = fx.now.unwrap_or_else(Instant::now);
        let entry = Entry {
            id,
            key: job.key,
            payload: job.payload,
            retry: job.retry,
            attempt: 1,
            submitted: now,
            deadline: job.options.ttl.map(|ttl| now + ttl),
            span: job.span,
        };
        st.totals.submitted += 1;
        st.queued += 1;
        self.route(st, entry, fx);
        #[cfg(feature = "metrics")]
        self.record_depth(st);
        id
    }

    /// Discards the oldest queued job; false if nothing is queued.
    fn drop_oldest(&self, st: &mut State<W, K, M>, fx: &mut Effects<W, K, M>) -> bool {
        let central = st.central.front().map(|e| (e.id, None));
        let locals = st
            .slots
            .iter()
            .enumerate()
            .filter_map(|(pos, slot)| slot.local.front().map(|e| (e.id, Some(pos))));
        let Some((_, from)) = central.into_iter().chain(locals).min_by_key(|(id, _)| *id) else {
            return false;
        };
        let entry = match from {
            None => st.central.pop_front(),
            Some(pos) => st.slots[pos].local.pop_front(),
        };
        let Some(entry) = entry else { return false };
        st.queued -= 1;
        if from.is_none() {
            self.release_shared_key(st, &entry.key);
        } else {
            self.release_key(st, &entry.key);
        }
        self.discard(st, entry, DiscardReason::DroppedForRoom, fx);
        true
    }

    pub(super) fn discard(
        &self,
        st: &mut State<W, K, M>,
        entry: Entry<K, M>,
        reason: DiscardReason,
        fx: &mut Effects<W, K, M>,
    ) {
        st.totals.discarded += 1;
        tracing::debug!(factory = %self.name, id = entry.id.0, ?reason, "job discarded");
        fx.discards.push(Discarded {
            id: entry.id,
            key: entry.key,
            payload: entry.payload,
            reason,
        });
    }
}
