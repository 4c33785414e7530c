//! [`JobQueue`]: a durable job queue with at-least-once delivery, on a [`Store`].
//!
//! A web service takes a request for long work, enqueues a job, answers at once with its
//! [`JobId`] and lets the client poll [`JobQueue::status`]; workers [`lease`](JobQueue::lease)
//! jobs, run them and [`complete`](JobQueue::complete) or [`fail`](JobQueue::fail) them. No
//! broker: the queue is a tree of the embedded store, and every state change is durable before
//! the call that made it returns.
//!
//! # Lifecycle
//!
//! ```text
//! enqueue ──▶ Queued ──lease──▶ Running{attempt} ──complete──▶ Succeeded{result}
//!               ▲  │                 │   │
//!               │  cancel            │   └─fail / lease expired─▶ Failed{retry_at} ─(due)─▶ Queued
//!               │  ▼                 │                             (at max attempts: Dead)
//!             requeue ◀── Dead ◀─────┘
//!            Cancelled
//! ```
//!
//! # Guarantees
//!
//! - **Durable enqueue.** [`JobQueue::enqueue`] returns the job's id once the job is durable
//!   (fsynced by the store's group commit). With an idempotency key
//!   ([`EnqueueOptions::idempotency_key`]), enqueueing again returns the first job's id and
//!   enqueues nothing: a client that retries a request after a timeout does not create a
//!   second job.
//! - **At least once.** A job is acknowledged only by [`JobQueue::complete`]. A worker that
//!   dies, hangs or loses its process mid-job leaves the job leased; the lease expires after
//!   the visibility timeout ([`QueueOptions::visibility_timeout`]) and the job is delivered
//!   again, or at once when the queue is reopened after a process restart (only one process
//!   opens a store, so a job running at open belonged to a process that is gone). A job can
//!   therefore run more than once: **handlers must be idempotent**, or record their side
//!   effect under the job's idempotency key (or id) so that a repeat is recognised.
//! - **Fencing.** Each lease carries a fresh token; completing, failing or extending with a
//!   token whose lease expired (and was perhaps taken by another worker) fails with
//!   [`JobError::LeaseLost`] and changes nothing.
//! - **Retries and dead letters.** A failed attempt is retried after an exponential backoff
//!   ([`RetryPolicy`]); an attempt counts whether it failed, panicked, hung past its lease or
//!   took its process down. After [`RetryPolicy::max_attempts`] attempts the job is `Dead`: it
//!   stays listed ([`JobQueue::list`]) until [`JobQueue::requeue`]d.
//! - **Order.** Jobs are leased in order of the time they become visible, then of id. Jobs that
//!   share a key ([`EnqueueOptions::key`]) run one at a time in id order: only the oldest
//!   unfinished job of a key can be leased, so a key's jobs never overlap and never overtake
//!   each other, even across retries.
//! - **Damage** is reported: a record that fails its checksum is a [`StoreError::Corrupt`]
//!   when the queue opens, and a store whose storage engine lost acknowledged writes does not
//!   open ([`StoreError::Damaged`]): never a silently dropped job.
//!
//! Finished jobs (succeeded, dead, cancelled) stay in the store with their result until
//! [`JobQueue::purge`] removes those older than a given age.
//!
//! # Clock
//!
//! Timestamps are wall-clock milliseconds since the Unix epoch, so they mean the same after a
//! restart. Within a process they advance with tokio's clock (`tokio::time::Instant`) from the
//! wall time read at open, so tests can drive leases and backoff with paused time.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::error::StoreError;
use crate::store::Store;
use crate::tree::Tree;

/// A job's id: unique within its queue, increasing in enqueue order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Milliseconds since the Unix epoch.
pub type Millis = u64;

/// A job's state, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState<R> {
    /// Waiting for a worker (visible from [`JobRecord::visible_at`]).
    Queued,
    /// Leased to a worker until `until`.
    Running {
        /// The lease's fencing token.
        token: u64,
        /// When the lease expires.
        until: Millis,
    },
    /// Completed; the handler's result.
    Succeeded {
        /// What the handler returned.
        result: R,
    },
    /// The last attempt failed; the job runs again at `retry_at`.
    Failed {
        /// Why the last attempt failed.
        error: String,
        /// When the next attempt becomes due.
        retry_at: Millis,
    },
    /// Every attempt failed; the job waits for [`JobQueue::requeue`].
    Dead {
        /// Why the last attempt failed.
        error: String,
    },
    /// Cancelled while queued.
    Cancelled,
}

/// A job's status without its payload or result: what [`JobQueue::list`] filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    /// Leased to a worker.
    Running,
    /// Completed.
    Succeeded,
    /// Waiting for a retry after a failed attempt.
    Failed,
    /// Out of attempts.
    Dead,
    /// Cancelled.
    Cancelled,
}

impl JobStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Dead,
        JobStatus::Cancelled,
    ];

    /// Whether the job is finished (succeeded, dead or cancelled).
    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Dead | JobStatus::Cancelled)
    }

    /// The lower-case name (`"queued"`, `"running"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Dead => "dead",
            JobStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<R> JobState<R> {
    /// The state's status.
    pub fn status(&self) -> JobStatus {
        match self {
            JobState::Queued => JobStatus::Queued,
            JobState::Running { .. } => JobStatus::Running,
            JobState::Succeeded { .. } => JobStatus::Succeeded,
            JobState::Failed { .. } => JobStatus::Failed,
            JobState::Dead { .. } => JobStatus::Dead,
            JobState::Cancelled => JobStatus::Cancelled,
        }
    }
}

/// A job as stored: what [`JobQueue::status`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord<P, R> {
    /// The job's id.
    pub id: JobId,
    /// Its ordering key, if any ([`EnqueueOptions::key`]).
    pub key: Option<String>,
    /// Its idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// What the handler gets.
    pub payload: P,
    /// Where it is in its lifecycle.
    pub state: JobState<R>,
    /// Attempts started so far (1 during the first run).
    pub attempt: u32,
    /// Attempts allowed before the job is dead.
    pub max_attempts: u32,
    /// When it was enqueued.
    pub created_at: Millis,
    /// When its state last changed.
    pub updated_at: Millis,
    /// When it becomes (or became) available to workers.
    pub visible_at: Millis,
    /// When its current or last attempt started.
    pub started_at: Option<Millis>,
}

impl<P, R> JobRecord<P, R> {
    /// The job's status.
    pub fn status(&self) -> JobStatus {
        self.state.status()
    }
}

/// Options for one [`JobQueue::enqueue`].
#[derive(Debug, Clone, Default)]
pub struct EnqueueOptions {
    idempotency_key: Option<String>,
    key: Option<String>,
    max_attempts: Option<u32>,
    delay: Option<Duration>,
}

impl EnqueueOptions {
    /// No key, the queue's retry policy, due at once.
    pub fn new() -> Self {
        EnqueueOptions::default()
    }

    /// A key that makes the enqueue idempotent: while a job with this key exists (until it is
    /// purged), enqueueing again returns its id and enqueues nothing.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// An ordering key: jobs with the same key run one at a time, in enqueue order.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Attempts allowed for this job (overrides [`RetryPolicy::max_attempts`]; at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts.max(1));
        self
    }

    /// Makes the job visible only after `delay`.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// (idempotency key, key, max attempts, delay), for backends.
    #[cfg_attr(
        not(feature = "postgres"),
        expect(dead_code, reason = "used by the PostgreSQL backend")
    )]
    pub(crate) fn into_parts(
        self,
    ) -> (Option<String>, Option<String>, Option<u32>, Option<Duration>) {
        (self.idempotency_key, self.key, self.max_attempts, self.delay)
    }
}

/// When failed attempts are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before a job is dead (default 5).
    pub max_attempts: u32,
    /// The delay before the second attempt (default 1 s); each later one doubles it.
    pub backoff: Duration,
    /// The longest delay between attempts (default 5 min).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt number `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        self.backoff.saturating_mul(1 << doublings).min(self.max_backoff)
    }
}

/// How a [`JobQueue`] behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueOptions {
    /// How long a lease lasts unless extended (default 30 s): a job whose worker neither
    /// completes, fails nor extends it within this time is delivered again.
    pub visibility_timeout: Duration,
    /// Retries and dead letters.
    pub retry: RetryPolicy,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions { visibility_timeout: Duration::from_secs(30), retry: RetryPolicy::default() }
    }
}

impl QueueOptions {
    /// The defaults: 30 s leases, 5 attempts, backoff from 1 s doubling to 5 min.
    pub fn new() -> Self {
        QueueOptions::default()
    }

    /// Sets the visibility timeout.
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility_timeout = timeout;
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}

/// A job leased to a worker: its payload and the lease's fencing token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leased<P> {
    /// The job's id.
    pub id: JobId,
    /// Its ordering key.
    pub key: Option<String>,
    /// Its idempotency key.
    pub idempotency_key: Option<String>,
    /// The payload.
    pub payload: P,
    /// This attempt's number (1 for the first).
    pub attempt: u32,
    /// The lease, for [`JobQueue::complete`], [`JobQueue::fail`] and [`JobQueue::extend`].
    pub lease: Lease,
}

/// A lease on a running job: the job and the fencing token of this attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The job.
    pub id: JobId,
    /// The token; a later lease of the same job has a different one.
    pub token: u64,
}

/// What [`JobQueue::fail`] did with the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// It will run again at the given time.
    Retrying {
        /// When the next attempt is due.
        at: Millis,
    },
    /// It was the last attempt: the job is dead.
    Dead,
}

/// Queue depth and job counts: [`JobQueue::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// Jobs waiting for a worker (due now or later).
    pub queued: u64,
    /// Jobs leased to workers.
    pub running: u64,
    /// Jobs completed.
    pub succeeded: u64,
    /// Jobs waiting for a retry.
    pub failed: u64,
    /// Jobs out of attempts.
    pub dead: u64,
    /// Jobs cancelled.
    pub cancelled: u64,
    /// How long the oldest due job has been waiting, in milliseconds (0 if none is).
    pub oldest_queued_ms: u64,
}

impl QueueStats {
    /// Jobs not finished yet: queued, running or waiting for a retry.
    pub fn unfinished(&self) -> u64 {
        self.queued + self.running + self.failed
    }
}

/// An error from a [`JobQueue`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The store failed, was closed, or holds damaged data.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No job has this id (never enqueued, or purged).
    #[error("no job {0}")]
    NotFound(JobId),
    /// The lease expired (the job may have been delivered to another worker) or the job was
    /// finished by someone else: this attempt may no longer change it.
    #[error("the lease on job {0} was lost (it expired, and the job may run elsewhere)")]
    LeaseLost(JobId),
    /// The job backend (a database server) failed or could not be reached; the operation may
    /// or may not have taken effect.
    #[error("the job backend failed: {reason}")]
    Backend {
        /// What went wrong.
        reason: Arc<str>,
    },
    /// The operation does not apply to a job in this status (cancelling a running job, say).
    #[error("job {id} is {status}; cannot {operation} it")]
    InvalidState {
        /// The job.
        id: JobId,
        /// Its status.
        status: JobStatus,
        /// What was attempted.
        operation: &'static str,
    },
}

/// The boundary between job consumers and where jobs are stored: [`JobQueue`] (the embedded
/// store) and, with feature `postgres`, [`PgQueue`](crate::postgres::PgQueue). Both follow the
/// contract in the [module docs](self) and pass the same conformance tests.
pub trait JobBackend<P, R>: Clone + Send + Sync + 'static {
    /// See [`JobQueue::enqueue`].
    fn enqueue(
        &self,
        payload: P,
        options: EnqueueOptions,
    ) -> impl Future<Output = Result<JobId, JobError>> + Send;
    /// See [`JobQueue::lease`].
    fn lease(&self, max: usize) -> impl Future<Output = Result<Vec<Leased<P>>, JobError>> + Send;
    /// See [`JobQueue::complete`].
    fn complete(
        &self,
        lease: Lease,
        result: R,
    ) -> impl Future<Output = Result<(), JobError>> + Send;
    /// See [`JobQueue::fail`].
    fn fail(
        &self,
        lease: Lease,
        error: String,
    ) -> impl Future<Output = Result<FailOutcome, JobError>> + Send;
    /// See [`JobQueue::extend`].
    fn extend(&self, lease: Lease) -> impl Future<Output = Result<(), JobError>> + Send;
    /// See [`JobQueue::cancel`].
    fn cancel(&self, id: JobId) -> impl Future<Output = Result<(), JobError>> + Send;
    /// See [`JobQueue::requeue`].
    fn requeue(&self, id: JobId) -> impl Future<Output = Result<(), JobError>> + Send;
    /// See [`JobQueue::status`].
    fn status(
        &self,
        id: JobId,
    ) -> impl Future<Output = Result<Option<JobRecord<P, R>>, JobError>> + Send;
    /// See [`JobQueue::list`].
    fn list(
        &self,
        status: JobStatus,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<JobId>, JobError>> + Send;
    /// See [`JobQueue::stats`].
    fn stats(&self) -> impl Future<Output = Result<QueueStats, JobError>> + Send;
    /// See [`JobQueue::wait_for_work`].
    fn wait_for_work(&self) -> impl Future<Output = ()> + Send;
    /// The backend's clock, in wall-clock milliseconds; see [`JobQueue::now`].
    fn now(&self) -> Millis;
}

impl<P, R> JobBackend<P, R> for JobQueue<P, R>
where
    P: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    async fn enqueue(&self, payload: P, options: EnqueueOptions) -> Result<JobId, JobError> {
        JobQueue::enqueue(self, payload, options).await
    }
    async fn lease(&self, max: usize) -> Result<Vec<Leased<P>>, JobError> {
        JobQueue::lease(self, max).await
    }
    async fn complete(&self, lease: Lease, result: R) -> Result<(), JobError> {
        JobQueue::complete(self, lease, result).await
    }
    async fn fail(&self, lease: Lease, error: String) -> Result<FailOutcome, JobError> {
        JobQueue::fail(self, lease, error).await
    }
    async fn extend(&self, lease: Lease) -> Result<(), JobError> {
        JobQueue::extend(self, lease).await
    }
    async fn cancel(&self, id: JobId) -> Result<(), JobError> {
        JobQueue::cancel(self, id).await
    }
    async fn requeue(&self, id: JobId) -> Result<(), JobError> {
        JobQueue::requeue(self, id).await
    }
    async fn status(&self, id: JobId) -> Result<Option<JobRecord<P, R>>, JobError> {
        JobQueue::status(self, id)
    }
    async fn list(&self, status: JobStatus, limit: usize) -> Result<Vec<JobId>, JobError> {
        Ok(JobQueue::list(self, status, limit))
    }
    async fn stats(&self) -> Result<QueueStats, JobError> {
        Ok(JobQueue::stats(self))
    }
    async fn wait_for_work(&self) {
        JobQueue::wait_for_work(self).await;
    }
    fn now(&self) -> Millis {
        JobQueue::now(self)
    }
}

/// A durable job queue; see the [module docs](self). Cheap to clone: clones share the queue.
pub struct JobQueue<P, R> {
    inner: Arc<Inner<P, R>>,
}

impl<P, R> Clone for JobQueue<P, R> {
    fn clone(&self) -> Self {
        JobQueue { inner: Arc::clone(&self.inner) }
    }
}

impl<P, R> fmt::Debug for JobQueue<P, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobQueue").field("tree", &self.inner.tree.name()).finish_non_exhaustive()
    }
}

struct Inner<P, R> {
    tree: Tree<u64, JobRecord<P, R>>,
    options: QueueOptions,
    /// Wall-clock milliseconds at `base`.
    base_ms: Millis,
    base: tokio::time::Instant,
    state: Mutex<State>,
    /// Notified when a job may have become leasable, or a write settled.
    changed: Notify,
}

/// What the queue keeps in memory: everything but payloads and results.
#[derive(Default)]
struct State {
    next_id: u64,
    next_token: u64,
    jobs: HashMap<u64, Meta>,
    /// Queued and failed jobs by (visible at, id), without those with a write in flight.
    ready: BTreeSet<(Millis, u64)>,
    /// Running jobs by (lease end, id).
    leased: BTreeSet<(Millis, u64)>,
    /// (status, id) of every job, for listing.
    by_status: BTreeSet<(JobStatus, u64)>,
    /// Unfinished jobs of each ordering key.
    keys: HashMap<String, BTreeSet<u64>>,
    idempotency: HashMap<String, u64>,
    /// Jobs per status, indexed by `JobStatus as usize`.
    counts: [u64; 6],
}

struct Meta {
    status: JobStatus,
    key: Option<String>,
    visible_at: Millis,
    /// For a running job: its lease.
    lease: Option<(u64, Millis)>,
    attempt: u32,
    /// A write for this job is in flight: no other change may start.
    pending: bool,
}

impl<P, R> JobQueue<P, R>
where
    P: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// Opens the queue `name` in `store` (tree `jobs/<name>`), creating it if needed.
    ///
    /// Jobs found running were leased by a process that is gone: each becomes due at once,
    /// or dead if that was its last attempt. This writes to the store, so `open` is `async`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] if a record is damaged, or any store error.
    pub async fn open(store: &Store, name: &str, options: QueueOptions) -> Result<Self, JobError> {
        let tree = store.tree::<u64, JobRecord<P, R>>(&format!("jobs/{name}"))?;
        let base_ms = wall_ms();
        let base = tokio::time::Instant::now();
        let mut interrupted = Vec::new();
        let mut st = State { next_id: 1, next_token: 1, ..State::default() };
        for entry in tree.iter() {
            let (id, record) = entry?;
            st.next_id = st.next_id.max(id + 1);
            if let JobState::Running { token, .. } = record.state {
                st.next_token = st.next_token.max(token + 1);
                interrupted.push(record);
                continue;
            }
            st.add(&record);
        }
        let queue = JobQueue {
            inner: Arc::new(Inner {
                tree,
                options,
                base_ms,
                base,
                state: Mutex::new(st),
                changed: Notify::new(),
            }),
        };
        if !interrupted.is_empty() {
            let now = queue.now();
            let mut batch = queue.inner.tree.batch();
            for record in &mut interrupted {
                let error = format!(
                    "attempt {} was interrupted: its process stopped while running it",
                    record.attempt
                );
                record.state = if record.attempt >= record.max_attempts {
                    JobState::Dead { error }
                } else {
                    JobState::Failed { error, retry_at: now }
                };
                // Its place in the queue is kept: it goes before jobs enqueued after it.
                record.updated_at = now;
                batch.insert(&record.id.0, record)?;
            }
            queue.inner.tree.apply(batch).await?;
            let mut st = queue.lock();
            for record in &interrupted {
                st.add(record);
            }
            drop(st);
            tracing::info!(
                queue = queue.inner.tree.name(),
                "jobs interrupted by a restart are due again"
            );
        }
        Ok(queue)
    }

    /// The queue's clock, in wall-clock milliseconds (see the [module docs](self#clock)).
    pub fn now(&self) -> Millis {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.inner.base);
        self.inner.base_ms + u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
    }

    /// The queue's options.
    pub fn options(&self) -> &QueueOptions {
        &self.inner.options
    }

    /// Enqueues a job; returns its id once it is durable (or, with an idempotency key already
    /// known, the existing job's id).
    ///
    /// # Errors
    ///
    /// A store error; the job may then or may not have been recorded.
    pub async fn enqueue(&self, payload: P, options: EnqueueOptions) -> Result<JobId, JobError> {
        let now = self.now();
        let record = {
            let mut st = loop {
                let notified = self.inner.changed.notified();
                {
                    let st = self.lock();
                    let known =
                        options.idempotency_key.as_ref().and_then(|k| st.idempotency.get(k));
                    match known {
                        // The first enqueue is not durable yet: answer once it is.
                        Some(id) if st.jobs.get(id).is_some_and(|m| m.pending) => {}
                        Some(&id) => return Ok(JobId(id)),
                        None => break st,
                    }
                }
                notified.await;
            };
            let id = st.next_id;
            st.next_id += 1;
            let visible_at = now + options.delay.map_or(0, duration_ms);
            let record = JobRecord {
                id: JobId(id),
                key: options.key,
                idempotency_key: options.idempotency_key,
                payload,
                state: JobState::Queued,
                attempt: 0,
                max_attempts: options
                    .max_attempts
                    .unwrap_or(self.inner.options.retry.max_attempts)
                    .max(1),
                created_at: now,
                updated_at: now,
                visible_at,
                started_at: None,
            };
            st.add(&record);
            st.begin(id);
            record
        };
        let written = self.inner.tree.insert(&record.id.0, &record).await;
        self.settle(&[record.id.0], written.as_ref().err());
        written?;
        Ok(record.id)
    }

    /// Leases up to `max` due jobs for the visibility timeout, returning them once their leases
    /// are durable. Empty if no job is due (see [`JobQueue::wait_for_work`]).
    ///
    /// Expired leases are taken back first: their jobs become due again (or dead, at their last
    /// attempt).
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn lease(&self, max: usize) -> Result<Vec<Leased<P>>, JobError> {
        self.reclaim_expired().await?;
        let now = self.now();
        let until = now + duration_ms(self.inner.options.visibility_timeout);
        let (ids, tokens) = {
            let mut st = self.lock();
            let mut picked = Vec::new();
            for &(visible_at, id) in &st.ready {
                if picked.len() >= max || visible_at > now {
                    break;
                }
                if !st.leasable(id) {
                    continue;
                }
                picked.push(id);
            }
            let mut tokens = Vec::with_capacity(picked.len());
            for &id in &picked {
                let token = st.next_token;
                st.next_token += 1;
                tokens.push(token);
                st.begin(id);
            }
            (picked, tokens)
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let result = self.write_leases(&ids, &tokens, now, until).await;
        match result {
            Ok(leased) => {
                let mut st = self.lock();
                for job in &leased {
                    st.set_status(
                        job.id.0,
                        JobStatus::Running,
                        until,
                        Some((job.lease.token, until)),
                    );
                    if let Some(meta) = st.jobs.get_mut(&job.id.0) {
                        meta.attempt = job.attempt;
                    }
                }
                drop(st);
                self.settle(&ids, None);
                Ok(leased)
            }
            Err(error) => {
                self.settle(&ids, Some(&error));
                Err(error.into())
            }
        }
    }

    async fn write_leases(
        &self,
        ids: &[u64],
        tokens: &[u64],
        now: Millis,
        until: Millis,
    ) -> Result<Vec<Leased<P>>, StoreError> {
        let mut batch = self.inner.tree.batch();
        let mut leased = Vec::with_capacity(ids.len());
        for (&id, &token) in ids.iter().zip(tokens) {
            let mut record = self.read(id)?;
            record.attempt += 1;
            record.state = JobState::Running { token, until };
            record.updated_at = now;
            record.started_at = Some(now);
            batch.insert(&id, &record)?;
            leased.push(Leased {
                id: record.id,
                key: record.key,
                idempotency_key: record.idempotency_key,
                payload: record.payload,
                attempt: record.attempt,
                lease: Lease { id: record.id, token },
            });
        }
        self.inner.tree.apply(batch).await?;
        Ok(leased)
    }

    /// Records the job's result and finishes it; returns once durable.
    ///
    /// # Errors
    ///
    /// [`JobError::LeaseLost`] if the lease expired or the job is no longer this lease's (then
    /// nothing changes), or a store error.
    pub async fn complete(&self, lease: Lease, result: R) -> Result<(), JobError> {
        self.finish_attempt(lease, |record, _| {
            record.state = JobState::Succeeded { result };
            JobStatus::Succeeded
        })
        .await
        .map(drop)
    }

    /// Records a failed attempt: the job is retried after the policy's backoff, or is dead if
    /// this was its last attempt. Returns once durable.
    ///
    /// # Errors
    ///
    /// As [`JobQueue::complete`].
    pub async fn fail(
        &self,
        lease: Lease,
        error: impl Into<String>,
    ) -> Result<FailOutcome, JobError> {
        let error = error.into();
        let retry = self.inner.options.retry;
        let (status, record_visible) = self
            .finish_attempt(lease, |record, now| {
                if record.attempt >= record.max_attempts {
                    record.state = JobState::Dead { error };
                    JobStatus::Dead
                } else {
                    let retry_at = now + duration_ms(retry.delay_after(record.attempt));
                    record.visible_at = retry_at;
                    record.state = JobState::Failed { error, retry_at };
                    JobStatus::Failed
                }
            })
            .await?;
        Ok(match status {
            JobStatus::Dead => FailOutcome::Dead,
            _ => FailOutcome::Retrying { at: record_visible },
        })
    }

    /// Extends a lease by the visibility timeout from now, for a job that runs long.
    ///
    /// # Errors
    ///
    /// As [`JobQueue::complete`].
    pub async fn extend(&self, lease: Lease) -> Result<(), JobError> {
        let until = self.now() + duration_ms(self.inner.options.visibility_timeout);
        self.finish_attempt(lease, |record, _| {
            record.state = JobState::Running { token: lease.token, until };
            JobStatus::Running
        })
        .await
        .map(drop)
    }

    /// Changes a running job's record if `lease` still holds it: `change` sets the new state
    /// and returns its status.
    async fn finish_attempt(
        &self,
        lease: Lease,
        change: impl FnOnce(&mut JobRecord<P, R>, Millis) -> JobStatus,
    ) -> Result<(JobStatus, Millis), JobError> {
        let id = lease.id.0;
        let now = self.now();
        {
            let mut st = self.lock();
            let Some(meta) = st.jobs.get(&id) else { return Err(JobError::NotFound(lease.id)) };
            let holds = meta.status == JobStatus::Running
                && !meta.pending
                && meta.lease.is_some_and(|(token, until)| token == lease.token && now < until);
            if !holds {
                return Err(JobError::LeaseLost(lease.id));
            }
            st.begin(id);
        }
        let mut record = match self.read(id) {
            Ok(record) => record,
            Err(error) => {
                self.settle(&[id], None);
                return Err(error.into());
            }
        };
        let status = change(&mut record, now);
        record.updated_at = now;
        let written = self.inner.tree.insert(&id, &record).await;
        if written.is_ok() {
            let lease = match record.state {
                JobState::Running { token, until } => Some((token, until)),
                _ => None,
            };
            let until = lease.map_or(record.visible_at, |(_, until)| until);
            self.lock().set_status(id, status, until, lease);
        }
        self.settle(&[id], written.as_ref().err());
        written?;
        Ok((status, record.visible_at))
    }

    /// Cancels a queued (or failed, waiting for its retry) job.
    ///
    /// # Errors
    ///
    /// [`JobError::InvalidState`] for a job that is running or finished, [`JobError::NotFound`],
    /// or a store error.
    pub async fn cancel(&self, id: JobId) -> Result<(), JobError> {
        self.change_idle(id, "cancel", &[JobStatus::Queued, JobStatus::Failed], |record, _| {
            record.state = JobState::Cancelled;
            JobStatus::Cancelled
        })
        .await
    }

    /// Puts a dead (or cancelled) job back in the queue with a fresh set of attempts.
    ///
    /// # Errors
    ///
    /// [`JobError::InvalidState`] for a job that is not dead or cancelled,
    /// [`JobError::NotFound`], or a store error.
    pub async fn requeue(&self, id: JobId) -> Result<(), JobError> {
        self.change_idle(id, "requeue", &[JobStatus::Dead, JobStatus::Cancelled], |record, now| {
            record.state = JobState::Queued;
            record.attempt = 0;
            record.visible_at = now;
            JobStatus::Queued
        })
        .await
    }

    async fn change_idle(
        &self,
        id: JobId,
        operation: &'static str,
        from: &[JobStatus],
        change: impl FnOnce(&mut JobRecord<P, R>, Millis) -> JobStatus,
    ) -> Result<(), JobError> {
        let now = self.now();
        loop {
            let notified = self.inner.changed.notified();
            {
                let mut st = self.lock();
                let Some(meta) = st.jobs.get(&id.0) else { return Err(JobError::NotFound(id)) };
                if !meta.pending {
                    if !from.contains(&meta.status) {
                        return Err(JobError::InvalidState { id, status: meta.status, operation });
                    }
                    st.begin(id.0);
                    break;
                }
            }
            notified.await;
        }
        let mut record = match self.read(id.0) {
            Ok(record) => record,
            Err(error) => {
                self.settle(&[id.0], None);
                return Err(error.into());
            }
        };
        let status = change(&mut record, now);
        record.updated_at = now;
        let written = self.inner.tree.insert(&id.0, &record).await;
        if written.is_ok() {
            let mut st = self.lock();
            if status == JobStatus::Queued
                && let Some(key) = record.key.clone()
            {
                st.keys.entry(key).or_default().insert(id.0);
            }
            st.set_status(id.0, status, record.visible_at, None);
            if let Some(meta) = st.jobs.get_mut(&id.0) {
                meta.attempt = record.attempt;
            }
        }
        self.settle(&[id.0], written.as_ref().err());
        written?;
        Ok(())
    }

    /// Takes back every lease that has expired: its job is due again (a `Failed` attempt), or
    /// dead at its last attempt.
    async fn reclaim_expired(&self) -> Result<(), JobError> {
        let now = self.now();
        let expired: Vec<u64> = {
            let mut st = self.lock();
            let expired: Vec<u64> = st
                .leased
                .iter()
                .take_while(|(until, _)| *until <= now)
                .map(|&(_, id)| id)
                .collect();
            let expired: Vec<u64> = expired
                .into_iter()
                .filter(|id| st.jobs.get(id).is_some_and(|m| !m.pending))
                .collect();
            for &id in &expired {
                st.begin(id);
            }
            expired
        };
        if expired.is_empty() {
            return Ok(());
        }
        let written = self.write_expired(&expired, now).await;
        if let Ok(records) = &written {
            let mut st = self.lock();
            for &(id, status, visible_at) in records {
                st.set_status(id, status, visible_at, None);
            }
        }
        self.settle(&expired, written.as_ref().err());
        written?;
        Ok(())
    }

    async fn write_expired(
        &self,
        ids: &[u64],
        now: Millis,
    ) -> Result<Vec<(u64, JobStatus, Millis)>, StoreError> {
        let mut batch = self.inner.tree.batch();
        let mut statuses = Vec::with_capacity(ids.len());
        for &id in ids {
            let mut record = self.read(id)?;
            let error = format!(
                "attempt {} did not finish within its lease (the worker hung, crashed or lost its process)",
                record.attempt
            );
            tracing::warn!(
                queue = self.inner.tree.name(),
                id,
                attempt = record.attempt,
                "lease expired"
            );
            let status = if record.attempt >= record.max_attempts {
                record.state = JobState::Dead { error };
                JobStatus::Dead
            } else {
                record.state = JobState::Failed { error, retry_at: now };
                JobStatus::Failed
            };
            // Due at once, in its old place in the queue.
            record.visible_at = record.visible_at.min(now);
            record.updated_at = now;
            batch.insert(&id, &record)?;
            statuses.push((id, status, record.visible_at));
        }
        self.inner.tree.apply(batch).await?;
        Ok(statuses)
    }

    /// The job's record, as stored.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] if it is damaged.
    pub fn status(&self, id: JobId) -> Result<Option<JobRecord<P, R>>, JobError> {
        Ok(self.inner.tree.get(&id.0)?)
    }

    /// Up to `limit` ids of jobs in `status`, oldest first.
    pub fn list(&self, status: JobStatus, limit: usize) -> Vec<JobId> {
        let st = self.lock();
        st.by_status
            .range((status, 0)..=(status, u64::MAX))
            .take(limit)
            .map(|&(_, id)| JobId(id))
            .collect()
    }

    /// Job counts by status, and the age of the oldest due job.
    pub fn stats(&self) -> QueueStats {
        let now = self.now();
        let st = self.lock();
        let count = |status: JobStatus| st.counts[status as usize];
        let oldest = st.ready.first().map_or(0, |&(visible_at, _)| now.saturating_sub(visible_at));
        QueueStats {
            queued: count(JobStatus::Queued),
            running: count(JobStatus::Running),
            succeeded: count(JobStatus::Succeeded),
            failed: count(JobStatus::Failed),
            dead: count(JobStatus::Dead),
            cancelled: count(JobStatus::Cancelled),
            oldest_queued_ms: oldest,
        }
    }

    /// Waits until a job may be leasable: one was enqueued, failed or requeued, a retry or a
    /// delayed job became due, or a lease expired. May return early; call
    /// [`JobQueue::lease`] after it.
    pub async fn wait_for_work(&self) {
        let notified = self.inner.changed.notified();
        let next = {
            let st = self.lock();
            let ready = st.ready.iter().find(|(_, id)| st.leasable(*id)).map(|&(at, _)| at);
            let expiry = st.leased.first().map(|&(until, _)| until);
            ready.into_iter().chain(expiry).min()
        };
        let now = self.now();
        match next {
            Some(at) if at <= now => {}
            Some(at) => {
                let wait = Duration::from_millis(at - now);
                tokio::select! {
                    () = notified => {}
                    () = tokio::time::sleep(wait) => {}
                }
            }
            None => notified.await,
        }
    }

    /// Waits until some job changes state in this process (enqueued, leased, finished...): for
    /// pollers that watch a job without a timer. May return early.
    pub async fn wait_for_change(&self) {
        self.inner.changed.notified().await;
    }

    /// Removes finished jobs (succeeded, dead, cancelled) last changed more than `age` ago,
    /// with their idempotency keys; returns how many. Ids are never reused.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn purge(&self, age: Duration) -> Result<usize, JobError> {
        let cutoff = self.now().saturating_sub(duration_ms(age));
        let candidates: Vec<u64> = {
            let mut st = self.lock();
            // The newest job stays: ids continue after it when the queue is reopened.
            let newest = st.next_id.saturating_sub(1);
            let candidates: Vec<u64> =
                [JobStatus::Succeeded, JobStatus::Dead, JobStatus::Cancelled]
                    .into_iter()
                    .flat_map(|s| st.by_status.range((s, 0)..=(s, u64::MAX)).map(|&(_, id)| id))
                    .filter(|&id| id != newest && st.jobs.get(&id).is_some_and(|m| !m.pending))
                    .collect();
            for &id in &candidates {
                st.begin(id);
            }
            candidates
        };
        let mut batch = self.inner.tree.batch();
        let mut removed = Vec::new();
        let mut read_error = None;
        for &id in &candidates {
            match self.read(id) {
                Ok(record) if record.updated_at <= cutoff => {
                    batch.remove(&id);
                    removed.push((id, record.idempotency_key));
                }
                Ok(_) => {}
                Err(error) => {
                    read_error = Some(error);
                    break;
                }
            }
        }
        let written = match read_error {
            Some(error) => Err(error),
            None if removed.is_empty() => Ok(()),
            None => self.inner.tree.apply(batch).await,
        };
        if written.is_ok() {
            let mut st = self.lock();
            for (id, idempotency_key) in &removed {
                if let Some(meta) = st.jobs.remove(id) {
                    st.by_status.remove(&(meta.status, *id));
                    st.counts[meta.status as usize] -= 1;
                }
                if let Some(key) = idempotency_key {
                    st.idempotency.remove(key);
                }
            }
        }
        self.settle(&candidates, written.as_ref().err());
        written?;
        Ok(removed.len())
    }

    fn read(&self, id: u64) -> Result<JobRecord<P, R>, StoreError> {
        self.inner.tree.get(&id)?.ok_or_else(|| StoreError::Storage {
            reason: Arc::from(format!(
                "job {id} is missing from tree `{}`",
                self.inner.tree.name()
            )),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The writes for `ids` are over: they may change again. After a failed write the store is
    /// failed, and so is every later change.
    fn settle(&self, ids: &[u64], error: Option<&StoreError>) {
        let mut st = self.lock();
        for id in ids {
            if let Some(meta) = st.jobs.get_mut(id) {
                meta.pending = false;
                if error.is_none() && matches!(meta.status, JobStatus::Queued | JobStatus::Failed) {
                    let at = meta.visible_at;
                    st.ready.insert((at, *id));
                }
            }
        }
        drop(st);
        self.inner.changed.notify_waiters();
    }
}

impl State {
    /// Whether `id` may be leased now that it is due: no write of it is in flight, and it is
    /// the oldest unfinished job of its key.
    fn leasable(&self, id: u64) -> bool {
        let Some(meta) = self.jobs.get(&id) else { return false };
        !meta.pending
            && meta
                .key
                .as_ref()
                .is_none_or(|key| self.keys.get(key).and_then(|ids| ids.first()) == Some(&id))
    }

    /// Indexes a record read from disk or about to be written.
    fn add(&mut self, record: &JobRecord<impl Sized, impl Sized>) {
        let id = record.id.0;
        let status = record.status();
        let lease = match record.state {
            JobState::Running { token, until } => Some((token, until)),
            _ => None,
        };
        if let Some(key) = &record.idempotency_key {
            self.idempotency.insert(key.clone(), id);
        }
        if let Some(key) = &record.key
            && !status.is_finished()
        {
            self.keys.entry(key.clone()).or_default().insert(id);
        }
        self.by_status.insert((status, id));
        self.counts[status as usize] += 1;
        if let Some((_, until)) = lease {
            self.leased.insert((until, id));
        }
        if matches!(status, JobStatus::Queued | JobStatus::Failed) {
            self.ready.insert((record.visible_at, id));
        }
        self.jobs.insert(
            id,
            Meta {
                status,
                key: record.key.clone(),
                visible_at: record.visible_at,
                lease,
                attempt: record.attempt,
                pending: false,
            },
        );
    }

    /// A write for `id` starts: it leaves the ready and lease indexes until it settles.
    fn begin(&mut self, id: u64) {
        if let Some(meta) = self.jobs.get_mut(&id) {
            meta.pending = true;
            self.ready.remove(&(meta.visible_at, id));
        }
    }

    /// Moves `id` to `status`; `at` is its new visible-at time, `lease` its new lease.
    fn set_status(&mut self, id: u64, status: JobStatus, at: Millis, lease: Option<(u64, Millis)>) {
        let Some(meta) = self.jobs.get_mut(&id) else { return };
        self.by_status.remove(&(meta.status, id));
        self.by_status.insert((status, id));
        self.counts[meta.status as usize] -= 1;
        self.counts[status as usize] += 1;
        if let Some((_, until)) = meta.lease.take() {
            self.leased.remove(&(until, id));
        }
        if let Some((_, until)) = lease {
            self.leased.insert((until, id));
        }
        meta.lease = lease;
        meta.status = status;
        if !matches!(status, JobStatus::Running) {
            meta.visible_at = at;
        }
        if status.is_finished()
            && let Some(key) = meta.key.clone()
            && let Some(ids) = self.keys.get_mut(&key)
        {
            ids.remove(&id);
            if ids.is_empty() {
                self.keys.remove(&key);
            }
        }
    }
}

fn duration_ms(d: Duration) -> Millis {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn wall_ms() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, duration_ms)
}
