//! [`JobBackend`]: the one interface of every queue, embedded or PostgreSQL.

use std::future::Future;
use std::time::Duration;

use crate::error::JobError;
use crate::model::{FailOutcome, JobId, JobRecord, JobStatus, Lease, Leased, Millis, QueueStats};
use crate::options::{EnqueueOptions, QueueOptions};

/// A durable job queue: what producers, workers and pollers call, whatever stores the jobs.
///
/// [`EmbeddedQueue`](crate::EmbeddedQueue) (feature `embedded`) and
/// [`PgQueue`](crate::PgQueue) (feature `postgres`) implement it with the same semantics and
/// pass the same conformance suite, so moving from one to the other changes the constructor
/// and nothing else. The contract is in the [crate docs](crate#contracts).
///
/// # Cancel safety
///
/// Every method may be dropped at any `.await` (by a `timeout`, a `select!`, or an HTTP server
/// whose client went away) without leaving a job half changed or unleasable. An operation whose
/// future is dropped either took effect entirely or not at all; each method says which it may
/// have been. The waiting methods (`wait_*`) change nothing: dropping them has no effect.
pub trait JobBackend<P, R>: Clone + Send + Sync + 'static {
    /// Enqueues a job; returns its id once it is durable, or, with an idempotency key already
    /// known, the existing job's id (enqueueing nothing).
    ///
    /// # Errors
    ///
    /// A store or database error; the job may then or may not have been recorded (enqueue
    /// again with the same idempotency key to be sure).
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, the job may or may not have been enqueued. With an idempotency
    /// key, enqueueing again returns the job if it was.
    fn enqueue(
        &self,
        payload: P,
        options: EnqueueOptions,
    ) -> impl Future<Output = Result<JobId, JobError>> + Send;

    /// Enqueues many jobs at once, in order, each with its own options (idempotency keys are
    /// honoured per job); returns their ids in the same order once all are durable. Much
    /// cheaper per job than [`enqueue`](Self::enqueue): one write for the whole batch.
    ///
    /// # Errors
    ///
    /// As [`enqueue`](Self::enqueue): none or all of the batch may have been recorded.
    ///
    /// # Cancel safety
    ///
    /// As [`enqueue`](Self::enqueue), for the whole batch.
    fn enqueue_many(
        &self,
        jobs: Vec<(P, EnqueueOptions)>,
    ) -> impl Future<Output = Result<Vec<JobId>, JobError>> + Send;

    /// Leases up to `max` due jobs for the visibility timeout, returning them once their leases
    /// are durable; empty if none is due (see [`wait_for_work`](Self::wait_for_work)). Expired
    /// leases are taken back first: their jobs become due again, or dead at their last attempt.
    ///
    /// # Errors
    ///
    /// A store or database error; no job was leased then.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped after the lease took effect, its jobs stay leased to nobody
    /// until the visibility timeout, and are then delivered again: delayed, never lost.
    fn lease(&self, max: usize) -> impl Future<Output = Result<Vec<Leased<P>>, JobError>> + Send;

    /// Completes a leased job with its result; returns once durable.
    ///
    /// # Errors
    ///
    /// [`JobError::LeaseLost`] if the lease expired or was superseded (nothing is written).
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, the job may or may not be completed; if not, its lease
    /// expires and it runs again.
    fn complete(
        &self,
        lease: Lease,
        result: R,
    ) -> impl Future<Output = Result<(), JobError>> + Send;

    /// Fails this attempt of a leased job: it is retried after the backoff
    /// ([`RetryPolicy`](crate::RetryPolicy)), or is dead at its last attempt.
    ///
    /// # Errors
    ///
    /// As [`complete`](Self::complete).
    ///
    /// # Cancel safety
    ///
    /// As [`complete`](Self::complete).
    fn fail(
        &self,
        lease: Lease,
        error: String,
    ) -> impl Future<Output = Result<FailOutcome, JobError>> + Send;

    /// Extends a lease by the visibility timeout from now.
    ///
    /// # Errors
    ///
    /// As [`complete`](Self::complete).
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, the lease may or may not be extended.
    fn extend(&self, lease: Lease) -> impl Future<Output = Result<(), JobError>> + Send;

    /// Cancels a job that is queued, waiting for its retry, or running. A running attempt
    /// learns of it through [`cancelled`](Self::cancelled), and at its next `complete`,
    /// `fail`, `extend` or `snooze`, which fail with [`JobError::Cancelled`]; the job ends
    /// `Cancelled` and is not retried.
    ///
    /// # Errors
    ///
    /// [`JobError::InvalidState`] for a finished job, [`JobError::NotFound`].
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, the job may or may not be cancelled.
    fn cancel(&self, id: JobId) -> impl Future<Output = Result<(), JobError>> + Send;

    /// Resolves once job `id` is cancelled (at once if it already is); until then it waits.
    /// A handler selects on it to stop work that was cancelled.
    ///
    /// # Errors
    ///
    /// [`JobError::NotFound`] if there is no such job (or it was purged), a backend error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits.
    fn cancelled(&self, id: JobId) -> impl Future<Output = Result<(), JobError>> + Send;

    /// Puts a running job back in the queue, due after `delay`, without spending an attempt:
    /// its next run has the same attempt number as this one. For a handler that finds it
    /// cannot work yet (a resource is busy, a rate limit upstream).
    ///
    /// # Errors
    ///
    /// As [`complete`](Self::complete).
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, the job may or may not be snoozed; if not, its lease runs on.
    fn snooze(
        &self,
        lease: Lease,
        delay: Duration,
    ) -> impl Future<Output = Result<(), JobError>> + Send;

    /// Puts a dead or cancelled job back in the queue with a fresh set of attempts.
    ///
    /// # Errors
    ///
    /// [`JobError::InvalidState`] for a job that is not dead or cancelled,
    /// [`JobError::NotFound`].
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, the job may or may not be requeued.
    fn requeue(&self, id: JobId) -> impl Future<Output = Result<(), JobError>> + Send;

    /// Removes finished jobs (succeeded, dead, cancelled) last changed more than `age` ago,
    /// with their idempotency keys; returns how many. Ids are never reused.
    ///
    /// # Errors
    ///
    /// A store or database error; some of the jobs may have been removed.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, some, all or none of the jobs are removed.
    fn purge(&self, age: Duration) -> impl Future<Output = Result<usize, JobError>> + Send;

    /// The job's record, as durably stored (`None`: no such job).
    ///
    /// # Errors
    ///
    /// A store or database error, or a record that cannot be decoded.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it reads only.
    fn status(
        &self,
        id: JobId,
    ) -> impl Future<Output = Result<Option<JobRecord<P, R>>, JobError>> + Send;

    /// Up to `limit` ids of jobs in `status`, oldest first.
    ///
    /// # Errors
    ///
    /// A database error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it reads only.
    fn list(
        &self,
        status: JobStatus,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<JobId>, JobError>> + Send;

    /// Up to `limit` ids of jobs in `status`, newest first (for dashboards: the latest failures, say).
    ///
    /// # Errors
    ///
    /// A database error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it reads only.
    fn recent(
        &self,
        status: JobStatus,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<JobId>, JobError>> + Send;

    /// Job counts by status, and how many are due and how long the oldest has waited.
    ///
    /// # Errors
    ///
    /// A database error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it reads only.
    fn stats(&self) -> impl Future<Output = Result<QueueStats, JobError>> + Send;

    /// Waits until job `id` is finished (succeeded, dead or cancelled) and returns its record.
    /// A change that lands between a check and the wait is never missed.
    ///
    /// # Errors
    ///
    /// [`JobError::NotFound`] if there is no such job (or it was purged while waiting).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping it has no effect.
    fn wait_for(&self, id: JobId)
    -> impl Future<Output = Result<JobRecord<P, R>, JobError>> + Send;

    /// Waits until the queue holds no unfinished job (none queued, running or waiting for a
    /// retry). A change that lands between a check and the wait is never missed.
    ///
    /// # Errors
    ///
    /// A database error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping it has no effect.
    fn wait_idle(&self) -> impl Future<Output = Result<(), JobError>> + Send;

    /// Waits until a job may be leasable: one was enqueued, failed or requeued, a retry or a
    /// delayed job became due, or a lease expired. May return early; call
    /// [`lease`](Self::lease) after it.
    ///
    /// # Errors
    ///
    /// A database error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping it has no effect.
    fn wait_for_work(&self) -> impl Future<Output = Result<(), JobError>> + Send;

    /// Drops this handle. If it is the last one, waits until the queue has carried out every
    /// change it accepted and released what it holds (the embedded queue's hold on its store,
    /// so that the store can be closed and reopened at once; a PostgreSQL queue's connections).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the queue finishes its work whether or not this is awaited.
    fn close(self) -> impl Future<Output = ()> + Send;

    /// The queue's clock, in wall-clock milliseconds: the wall time read when the queue was
    /// opened, advanced by tokio's clock (so paused-time tests drive leases and backoff).
    fn now(&self) -> Millis;

    /// The queue's options.
    fn options(&self) -> &QueueOptions;
}
