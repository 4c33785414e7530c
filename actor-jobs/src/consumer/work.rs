//! [`Work`]: a leased job as a worker actor's handler receives it.

use std::fmt;
use std::sync::Arc;

use actor_factory::Job;

use super::stats::Counters;
use crate::backend::JobBackend;
use crate::error::JobError;
use crate::model::{FailOutcome, JobId, Lease, Leased};

/// How the factory routes a durable job: by its ordering key, or by its id when it has none.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobKey {
    /// The job's ordering key ([`EnqueueOptions::key`](crate::EnqueueOptions::key)).
    Key(String),
    /// A job without an ordering key, by its id.
    Id(JobId),
}

/// What the factory carries for one leased job: the lease, and what to do if the handler never
/// completes or fails it.
pub struct Ticket<P, R, B: JobBackend<P, R>> {
    pub(super) leased: Leased<P>,
    pub(super) backend: B,
    pub(super) counters: Arc<Counters>,
    pub(super) settled: bool,
    pub(super) types: std::marker::PhantomData<fn(R)>,
}

impl<P, R, B: JobBackend<P, R>> fmt::Debug for Ticket<P, R, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket").field("job", &self.leased.id).finish_non_exhaustive()
    }
}

impl<P, R, B: JobBackend<P, R>> Drop for Ticket<P, R, B> {
    fn drop(&mut self) {
        if self.settled {
            self.counters.settled();
            return;
        }
        // Never completed nor failed: a panic, a worker killed as stuck, a handler that dropped
        // its work, a factory that discarded it. The attempt fails, so the job runs again.
        let backend = self.backend.clone();
        let lease = self.leased.lease;
        let counters = Arc::clone(&self.counters);
        let reason = if std::thread::panicking()
            || actor_core::drop_cause() == actor_core::DropCause::Panicked
        {
            "the handler panicked"
        } else {
            "the handler ended without completing the job (it was stopped, stuck or dropped it)"
        };
        counters.abandoned();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    match backend.fail(lease, reason.to_owned()).await {
                        Ok(outcome) => counters.failed(outcome),
                        Err(error) => {
                            tracing::warn!(job = %lease.id, %error, "could not record a failed attempt; its lease will expire");
                        }
                    }
                    counters.settled();
                });
            }
            Err(_) => {
                tracing::warn!(job = %lease.id, "a job was dropped outside a runtime; its lease will expire");
                counters.settled();
            }
        }
    }
}

/// What settling a [`Work`] hands back: the lease, the backend, the counters, and the factory's
/// job, dropped once the outcome is recorded.
type Settled<P, R, B> = (Lease, B, Arc<Counters>, Job<JobKey, Ticket<P, R, B>>);

/// A leased durable job, as a worker's handler receives it: its payload, and the means to
/// complete or fail it. The factory counts the job done when the `Work` is dropped, so keep it
/// until the work is finished; completing or failing consumes it.
///
/// A `Work` dropped without [`complete`](Work::complete) or [`fail`](Work::fail) (its handler
/// panicked, was stopped as stuck, or returned without settling it) fails the attempt: the job
/// runs again after the queue's backoff, or is dead at its last attempt. It is never
/// acknowledged by accident.
pub struct Work<P, R, B: JobBackend<P, R>> {
    pub(super) job: Job<JobKey, Ticket<P, R, B>>,
}

impl<P, R, B: JobBackend<P, R>> fmt::Debug for Work<P, R, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Work").field("job", &self.id()).field("attempt", &self.attempt()).finish()
    }
}

impl<P, R, B: JobBackend<P, R>> Work<P, R, B> {
    fn leased(&self) -> &Leased<P> {
        // The ticket stays in the factory's job from the lease until `Work` ends: only
        // `settle` takes it, and it consumes the `Work`.
        &self.job.payload().expect("a Work holds its ticket until it is settled").leased
    }

    /// The job's id in the queue.
    pub fn id(&self) -> JobId {
        self.leased().id
    }

    /// The payload.
    pub fn payload(&self) -> &P {
        &self.leased().payload
    }

    /// This attempt's number (1 for the first delivery).
    pub fn attempt(&self) -> u32 {
        self.leased().attempt
    }

    /// The job's ordering key, if any.
    pub fn key(&self) -> Option<&str> {
        self.leased().key.as_deref()
    }

    /// The job's idempotency key, if it was enqueued with one: the key to record a side
    /// effect under, so that a repeat of this job recognises it.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.leased().idempotency_key.as_deref()
    }

    /// The lease of this attempt.
    pub fn lease(&self) -> Lease {
        self.leased().lease
    }

    /// Marks the ticket settled and hands back what completing or failing needs.
    fn settle(mut self) -> Settled<P, R, B> {
        let ticket = self.job.payload_mut().expect("a Work holds its ticket until it is settled");
        ticket.settled = true;
        let (lease, backend, counters) =
            (ticket.leased.lease, ticket.backend.clone(), Arc::clone(&ticket.counters));
        (lease, backend, counters, self.job)
    }

    /// Acknowledges the job with its result; returns once durable. The factory counts the job
    /// done when this returns.
    ///
    /// # Errors
    ///
    /// [`JobError::LeaseLost`] if the lease expired first (the job may be running elsewhere;
    /// its result is not recorded), or a store or database error (the job will run again).
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, the job may or may not be completed; if not, it runs again
    /// when its lease expires.
    pub async fn complete(self, result: R) -> Result<(), JobError> {
        let (lease, backend, counters, job) = self.settle();
        let outcome = backend.complete(lease, result).await;
        counters.completed(&outcome);
        drop(job);
        outcome
    }

    /// Fails this attempt: the job is retried after the queue's backoff, or is dead.
    ///
    /// # Errors
    ///
    /// As [`Work::complete`].
    ///
    /// # Cancel safety
    ///
    /// As [`Work::complete`].
    pub async fn fail(self, error: impl Into<String>) -> Result<FailOutcome, JobError> {
        let (lease, backend, counters, job) = self.settle();
        let outcome = backend.fail(lease, error.into()).await;
        match &outcome {
            Ok(failed) => counters.failed(*failed),
            Err(JobError::LeaseLost(_)) => counters.lost(),
            Err(_) => {}
        }
        drop(job);
        outcome
    }

    /// Extends the lease by the queue's visibility timeout from now: a job that may run longer
    /// than its lease calls this now and then, or it is delivered again meanwhile.
    ///
    /// # Errors
    ///
    /// As [`Work::complete`].
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, the lease may or may not be extended.
    pub async fn extend(&self) -> Result<(), JobError> {
        let ticket = self.job.payload().expect("a Work holds its ticket until it is settled");
        ticket.backend.extend(ticket.leased.lease).await
    }
}
