//! [`Work`]: a leased job as a worker actor's handler receives it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actor_factory::Job;
use tokio::sync::oneshot;

use super::stats::Counters;
use crate::backend::JobBackend;
use crate::error::JobError;
use crate::model::{FailOutcome, JobId, Lease, Leased};
use crate::telemetry::Outcome;

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
    /// When the job was leased: its run time is measured from here.
    pub(super) leased_at: tokio::time::Instant,
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
            // Handed back by `complete` or `fail`, which counted it.
            return;
        }
        // Never completed nor failed: a panic, a worker killed as stuck, a handler that dropped
        // its work, a factory that discarded it. The attempt fails, so the job runs again.
        let reason = if std::thread::panicking()
            || actor_core::drop_cause() == actor_core::DropCause::Panicked
        {
            "the handler panicked"
        } else {
            "the handler ended without completing the job (it was stopped, stuck or dropped it)"
        };
        self.counters.abandoned();
        self.counters.finished(Outcome::Abandoned, self.leased_at.elapsed());
        let (backend, lease) = (self.backend.clone(), self.leased.lease);
        let ack = Ack::send(&self.counters, move |counters| async move {
            let outcome = backend.fail(lease, reason.to_owned()).await;
            match &outcome {
                Ok(failed) => counters.failed(*failed),
                Err(error) => {
                    tracing::warn!(job = %lease.id, %error, "could not record a failed attempt; its lease will expire");
                }
            }
            outcome
        });
        drop(ack);
    }
}

/// The acknowledgement of an attempt handed back by [`Work::complete`] or [`Work::fail`]:
/// already sent when the call returned; await it to learn that it is durable.
///
/// Dropping it does not withdraw the acknowledgement: it is written all the same, and the
/// consumer's [`stats`](crate::Consumer::stats) count it once durable. A handler that does not
/// need the outcome may drop it and return at once: its worker takes the next job while the
/// acknowledgement is written together with those of the other workers (one transaction, or
/// one fsync, for many jobs). If the process dies first, the job is not lost: it runs again
/// once its lease expires (or when the embedded queue is reopened).
///
/// # Cancel safety
///
/// Cancel safe: dropping it changes nothing about the acknowledgement.
#[must_use = "the acknowledgement is sent either way; await it to learn that it is durable, or drop it explicitly"]
pub struct Ack<T> {
    answer: oneshot::Receiver<Result<T, JobError>>,
}

impl<T: Send + 'static> Ack<T> {
    /// Counts a job handed back, and writes its outcome with `write` on a task of its own.
    fn send<F, Fut>(counters: &Arc<Counters>, write: F) -> Ack<T>
    where
        F: FnOnce(Arc<Counters>) -> Fut,
        Fut: Future<Output = Result<T, JobError>> + Send + 'static,
    {
        let (tx, answer) = oneshot::channel();
        counters.handed_back();
        let task = write(Arc::clone(counters));
        let counters = Arc::clone(counters);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let outcome = task.await;
                    counters.acked();
                    let _ = tx.send(outcome);
                });
            }
            Err(_) => {
                // No runtime (a job dropped while the runtime shuts down): the lease expires
                // and the job runs again.
                counters.acked();
                let _ = tx.send(Err(JobError::Closed));
            }
        }
        Ack { answer }
    }
}

impl<T> Future for Ack<T> {
    type Output = Result<T, JobError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.answer).poll(cx).map(|answer| answer.unwrap_or(Err(JobError::Closed)))
    }
}

impl<T> fmt::Debug for Ack<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ack").finish_non_exhaustive()
    }
}

/// What settling a [`Work`] hands back: the lease, the backend, the counters, and the factory's
/// job, dropped once the outcome is recorded.
type Settled<P, R, B> = (Lease, B, Arc<Counters>, Job<JobKey, Ticket<P, R, B>>, Duration);

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

    /// The trace context stored with the job by its enqueuer, if any: what this attempt's span
    /// continues.
    pub fn trace_context(&self) -> Option<&actor_core::trace::TraceContext> {
        self.leased().trace.as_ref()
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
        let run = ticket.leased_at.elapsed();
        (lease, backend, counters, self.job, run)
    }

    /// Settles the ticket and sends the acknowledgement `write` makes from the backend, the
    /// lease, the counters and the attempt's run time; the worker's job ends here, at once.
    fn acknowledge<T: Send + 'static, F, Fut>(self, write: F) -> Ack<T>
    where
        F: FnOnce(B, Lease, Arc<Counters>, std::time::Duration) -> Fut,
        Fut: Future<Output = Result<T, JobError>> + Send + 'static,
    {
        let (lease, backend, counters, job, run) = self.settle();
        let ack = Ack::send(&counters, move |counters| write(backend, lease, counters, run));
        drop(job);
        ack
    }

    /// Acknowledges the job with its result. The acknowledgement is sent at once, and the
    /// worker is free for its next job when the handler returns; await the returned [`Ack`] to
    /// learn that it is durable.
    ///
    /// # Errors
    ///
    /// Through the [`Ack`]: [`JobError::LeaseLost`] if the lease expired first (the job may be
    /// running elsewhere; its result is not recorded), or a store or database error (the job
    /// will run again).
    ///
    /// # Cancel safety
    ///
    /// The returned [`Ack`] is cancel safe; see there.
    pub fn complete(self, result: R) -> Ack<()>
    where
        R: Send + 'static,
        P: Send + Sync + 'static,
    {
        self.acknowledge(move |backend, lease, counters, run| async move {
            let outcome = backend.complete(lease, result).await;
            counters.completed(&outcome);
            counters.finished(Counters::outcome_of(&outcome, Outcome::Succeeded), run);
            outcome
        })
    }

    /// Fails this attempt: the job is retried after the queue's backoff, or is dead. Sent at
    /// once, like [`complete`](Self::complete).
    ///
    /// # Errors
    ///
    /// As [`Work::complete`].
    ///
    /// # Cancel safety
    ///
    /// As [`Work::complete`].
    pub fn fail(self, error: impl Into<String>) -> Ack<FailOutcome>
    where
        R: Send + 'static,
        P: Send + Sync + 'static,
    {
        let error = error.into();
        self.acknowledge(move |backend, lease, counters, run| async move {
            let outcome = backend.fail(lease, error).await;
            let failed = match &outcome {
                Ok(FailOutcome::Dead) => Outcome::Dead,
                _ => Counters::outcome_of(&outcome, Outcome::Retried),
            };
            counters.finished(failed, run);
            match &outcome {
                Ok(failed) => counters.failed(*failed),
                Err(JobError::LeaseLost(_)) => counters.lost(),
                Err(JobError::Cancelled(_)) => counters.was_cancelled(),
                Err(_) => {}
            }
            outcome
        })
    }

    /// Puts the job back in the queue, due after `delay`, without spending an attempt (its
    /// next run has this attempt's number): for a handler that finds it cannot work yet. Sent
    /// at once, like [`complete`](Self::complete).
    ///
    /// # Errors
    ///
    /// As [`Work::complete`].
    ///
    /// # Cancel safety
    ///
    /// As [`Work::complete`].
    pub fn snooze(self, delay: std::time::Duration) -> Ack<()>
    where
        R: Send + 'static,
        P: Send + Sync + 'static,
    {
        self.acknowledge(move |backend, lease, counters, run| async move {
            let outcome = backend.snooze(lease, delay).await;
            counters.snoozed(&outcome);
            counters.finished(Counters::outcome_of(&outcome, Outcome::Snoozed), run);
            outcome
        })
    }

    /// Resolves once the job is cancelled ([`JobBackend::cancel`]): select on it to stop
    /// work nobody wants any more, then return (dropping the `Work`) or call
    /// [`complete`](Self::complete), which fails with [`JobError::Cancelled`]. The job ends
    /// `Cancelled` either way and is not retried.
    ///
    /// ```no_run
    /// # async fn example(work: actor_jobs::Work<String, u64, actor_jobs::EmbeddedQueue<String, u64>>) {
    /// tokio::select! {
    ///     _ = work.cancelled() => {} // stop: the job is cancelled
    ///     () = tokio::time::sleep(std::time::Duration::from_secs(60)) => {
    ///         let _ = work.complete(1).await;
    ///     }
    /// }
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// A backend error while looking (the job's state could not be read).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits.
    pub async fn cancelled(&self) -> Result<(), JobError> {
        let ticket = self.job.payload().expect("a Work holds its ticket until it is settled");
        ticket.backend.cancelled(ticket.leased.lease.id).await
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
