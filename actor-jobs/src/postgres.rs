//! [`PgQueue`]: the job queue in PostgreSQL, for worker processes on many hosts (feature
//! `postgres`).
//!
//! The same contract as [`EmbeddedQueue`](crate::EmbeddedQueue) and the same conformance
//! suite; what changes is who may run the workers: any number of processes, on any hosts,
//! pointed at one database.
//!
//! - **Rows.** A job is a row of `actor_jobs` (payload and result as `jsonb`, so `psql` can
//!   read them); every attempt is a row of `actor_job_attempts` (which worker, when, how it
//!   ended).
//! - **Leases** are taken with `SELECT ... FOR UPDATE SKIP LOCKED` in one statement that also
//!   marks the jobs running and records the attempts, so two processes never lease one job.
//!   Each lease gets a token from a sequence; completing, failing or extending needs the
//!   current token and an unexpired lease, so a worker that was paused or cut off past its
//!   lease cannot complete or overwrite a job another worker took over
//!   ([`JobError::LeaseLost`]).
//! - **Per-key order across processes:** only the oldest unfinished job of a key can be
//!   leased.
//! - **Expired leases** are taken back by whichever process leases next. Unlike the embedded
//!   queue, a restarted process cannot know that the jobs it ran are abandoned (other processes
//!   may still run theirs), so its jobs run again when their leases expire.
//! - **Durability:** a call returns after its transaction committed; with PostgreSQL's defaults
//!   (`fsync`, `synchronous_commit = on`) the commit was flushed, so a crash of the server loses
//!   no enqueue that returned.
//! - **Clocks:** times are computed by the clients (wall-clock milliseconds, advanced by tokio's
//!   clock), so hosts need synchronised clocks (NTP) and leases far longer than their skew.
//! - **Schema:** created and migrated by [`PgQueue::connect`] under an advisory lock, versioned
//!   in `actor_jobs_schema`; a database migrated by a newer release is refused.
//! - **Connections** are re-established after a server restart; the call that found the
//!   connection broken fails with [`JobError::Backend`] (it may or may not have taken effect)
//!   and the next call reconnects.
//! - **Table hygiene.** Finished jobs stay until purged: [`QueueOptions::retention`] purges them
//!   in batches of 1,000 rows. `SKIP LOCKED` queues make dead tuples at every state change;
//!   autovacuum keeps up with them unless a long transaction (on any table of the database)
//!   holds back the oldest snapshot, in which case the ready index bloats and leasing slows.
//!   Keep transactions short, and for a busy queue lower `autovacuum_vacuum_scale_factor` on
//!   `actor_jobs` (to 0.01, say) so it is vacuumed every few thousand changes.

mod many;
mod pool;
mod rows;
mod schema;
mod sql;

use std::fmt;
use std::marker::PhantomData;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio_postgres::types::ToSql;

use self::pool::Pool;
use self::rows::{db_id, get, job_id};
pub use self::schema::SCHEMA_VERSION;
use crate::backend::JobBackend;
use crate::clock::{Clock, duration_ms};
use crate::error::JobError;
use crate::model::{FailOutcome, JobId, JobRecord, JobStatus, Lease, Leased, Millis, QueueStats};
use crate::options::{EXPIRED, EnqueueOptions, QueueOptions};

/// Rows removed per purge statement.
const PURGE_BATCH: i64 = 1_000;

/// How a [`PgQueue`] connects and behaves.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Leases, retries, dead letters and retention, as for every backend.
    pub queue: QueueOptions,
    /// Connections to open (default 4); statements are pipelined on each.
    pub connections: usize,
    /// How often an idle consumer or a waiter looks for changes made by other processes
    /// (default 100 ms).
    pub poll_interval: Duration,
    /// This process's name in `actor_job_attempts` (default `<hostname>-<pid>`).
    pub worker: String,
}

impl Default for PgOptions {
    fn default() -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".to_owned());
        PgOptions {
            queue: QueueOptions::default(),
            connections: 4,
            poll_interval: Duration::from_millis(100),
            worker: format!("{host}-{}", std::process::id()),
        }
    }
}

impl PgOptions {
    /// The defaults.
    pub fn new() -> Self {
        PgOptions::default()
    }

    /// Sets the queue options (leases, retries, retention).
    pub fn queue(mut self, options: QueueOptions) -> Self {
        self.queue = options;
        self
    }

    /// Sets the number of connections (at least 1).
    pub fn connections(mut self, connections: usize) -> Self {
        self.connections = connections.max(1);
        self
    }

    /// Sets how often idle consumers and waiters look for changes of other processes.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets this process's worker name.
    pub fn worker(mut self, name: impl Into<String>) -> Self {
        self.worker = name.into();
        self
    }
}

/// A job queue in PostgreSQL; see the [module docs](self) and [`JobBackend`] for its
/// operations. Cheap to clone.
pub struct PgQueue<P, R> {
    inner: Arc<Inner>,
    types: PhantomData<fn(P) -> R>,
}

impl<P, R> Clone for PgQueue<P, R> {
    fn clone(&self) -> Self {
        PgQueue { inner: Arc::clone(&self.inner), types: PhantomData }
    }
}

impl<P, R> fmt::Debug for PgQueue<P, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgQueue")
            .field("queue", &self.inner.name)
            .field("worker", &self.inner.options.worker)
            .finish_non_exhaustive()
    }
}

struct Inner {
    name: String,
    options: PgOptions,
    pool: Pool,
    clock: Clock,
    /// Notified when this process changed a job.
    changed: Notify,
}

fn ms(value: Millis) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl<P, R> PgQueue<P, R>
where
    P: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// Connects to the database at `url` (a `postgres://` URL), creates or migrates the
    /// schema, and serves the queue `name`. With [`QueueOptions::retention`], a task of this
    /// handle purges finished jobs (each process does; they share the work).
    ///
    /// # Errors
    ///
    /// [`JobError::Backend`] if the server cannot be reached, [`JobError::UnsupportedSchema`]
    /// if its schema is newer than this release's.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, no queue is made; a migration is committed whole or not at all.
    pub async fn connect(url: &str, name: &str, options: PgOptions) -> Result<Self, JobError> {
        schema::migrate(url).await?;
        let pool = Pool::open(url, options.connections).await?;
        let queue = PgQueue {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                options,
                pool,
                clock: Clock::start(),
                changed: Notify::new(),
            }),
            types: PhantomData,
        };
        if let Some(retention) = queue.inner.options.queue.retention {
            tokio::spawn(sweep(Arc::downgrade(&queue.inner), retention));
        }
        Ok(queue)
    }

    /// This process's worker name, as recorded in `actor_job_attempts`.
    pub fn worker(&self) -> &str {
        &self.inner.options.worker
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    fn changed(&self) {
        self.inner.changed.notify_waiters();
    }

    /// Why a fenced update changed nothing: the job is unknown, or the lease is lost.
    async fn lost(&self, id: JobId) -> JobError {
        match state_of(&self.inner, id).await {
            Ok(Some(_)) => JobError::LeaseLost(id),
            Ok(None) => JobError::NotFound(id),
            Err(error) => error,
        }
    }

    /// A change of an idle job by id (`cancel`, `requeue`: parameters id, queue, now); when no
    /// row changed, reports why.
    async fn transition(
        &self,
        id: JobId,
        operation: &'static str,
        statement: fn(&sql::Statements) -> &tokio_postgres::Statement,
    ) -> Result<(), JobError> {
        let now = ms(self.now());
        let name = &self.inner.name;
        let row = self
            .inner
            .pool
            .with(operation, |live| async move {
                live.client.query_opt(statement(&live.st), &[&db_id(id), name, &now]).await
            })
            .await?;
        if row.is_some() {
            self.changed();
            return Ok(());
        }
        match state_of(&self.inner, id).await? {
            Some(status) => Err(JobError::InvalidState { id, status, operation }),
            None => Err(JobError::NotFound(id)),
        }
    }

    /// Waits for a change of this process, or `poll` (changes of other processes), or `at`.
    async fn wait_change(&self, at: Option<Millis>) {
        let notified = self.inner.changed.notified();
        let poll = self.inner.options.poll_interval;
        let wait = at.map_or(poll, |at| self.inner.clock.until(at).min(poll));
        tokio::select! {
            () = notified => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

async fn state_of(inner: &Inner, id: JobId) -> Result<Option<JobStatus>, JobError> {
    let name = &inner.name;
    let row = inner
        .pool
        .with("reading a job's state", |live| async move {
            live.client.query_opt(&live.st.state_of, &[&db_id(id), name]).await
        })
        .await?;
    row.map(|row| rows::status(get(&row, "state")?)).transpose()
}

async fn purge_once(inner: &Inner, cutoff: Millis) -> Result<i64, JobError> {
    let name = &inner.name;
    let row = inner
        .pool
        .with("purging finished jobs", |live| async move {
            live.client.query_one(&live.st.purge, &[name, &ms(cutoff), &PURGE_BATCH]).await
        })
        .await?;
    get(&row, "removed")
}

/// Purges finished jobs older than `retention` now and then, while the queue lives.
async fn sweep(inner: std::sync::Weak<Inner>, retention: Duration) {
    let every = (retention / 10).clamp(Duration::from_millis(10), Duration::from_secs(60));
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = inner.upgrade() else { return };
        let cutoff = inner.clock.now().saturating_sub(duration_ms(retention));
        loop {
            match purge_once(&inner, cutoff).await {
                Ok(removed) if removed >= PURGE_BATCH => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(queue = %inner.name, %error, "retention could not purge jobs");
                    break;
                }
            }
        }
    }
}

impl<P, R> JobBackend<P, R> for PgQueue<P, R>
where
    P: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    async fn enqueue(&self, payload: P, options: EnqueueOptions) -> Result<JobId, JobError> {
        let now = self.now();
        let payload = rows::encode(JobId(0), "payload", &payload)?;
        let attempts = i32::try_from(options.attempts_under(&self.inner.options.queue.retry))
            .unwrap_or(i32::MAX);
        let visible_at = ms(options.visible_from(now));
        let name = &self.inner.name;
        let (key, idem) = (&options.key, &options.idempotency_key);
        let inserted = self
            .inner
            .pool
            .with("enqueueing a job", |live| async move {
                let params: [&(dyn ToSql + Sync); 7] =
                    [name, key, idem, &payload, &attempts, &ms(now), &visible_at];
                live.client.query_opt(&live.st.enqueue, &params).await
            })
            .await?;
        if let Some(row) = inserted {
            self.changed();
            return job_id(&row, "id");
        }
        // An idempotency key already known: the first job's id.
        let existing = self
            .inner
            .pool
            .with("finding a job by its idempotency key", |live| async move {
                live.client.query_opt(&live.st.by_idempotency, &[name, idem]).await
            })
            .await?;
        match existing {
            Some(row) => job_id(&row, "id"),
            // Its job was purged between the insert and the lookup.
            None => Err(JobError::backend(
                "enqueueing a job",
                std::io::Error::other("the job of its idempotency key was purged meanwhile; retry"),
            )),
        }
    }

    async fn enqueue_many(&self, jobs: Vec<(P, EnqueueOptions)>) -> Result<Vec<JobId>, JobError> {
        many::enqueue_many(self, jobs).await
    }

    async fn lease(&self, max: usize) -> Result<Vec<Leased<P>>, JobError> {
        let now = self.now();
        let until = ms(self.inner.options.queue.lease_until(now));
        let name = &self.inner.name;
        let worker = &self.inner.options.worker;
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let found = self
            .inner
            .pool
            .with("leasing jobs", |live| async move {
                live.client.execute(&live.st.reclaim, &[name, &ms(now), &EXPIRED]).await?;
                let params: [&(dyn ToSql + Sync); 5] = [name, &ms(now), &max, &until, worker];
                live.client.query(&live.st.lease, &params).await
            })
            .await?;
        found.iter().map(rows::leased).collect()
    }

    async fn complete(&self, lease: Lease, result: R) -> Result<(), JobError> {
        let now = ms(self.now());
        let result = rows::encode(lease.id, "result", &result)?;
        let token = i64::try_from(lease.token).unwrap_or(i64::MAX);
        let done = self
            .inner
            .pool
            .with("completing a job", |live| async move {
                let params: [&(dyn ToSql + Sync); 4] = [&db_id(lease.id), &token, &result, &now];
                live.client.query_opt(&live.st.complete, &params).await
            })
            .await?;
        if done.is_none() {
            return Err(self.lost(lease.id).await);
        }
        self.changed();
        Ok(())
    }

    async fn fail(&self, lease: Lease, error: String) -> Result<FailOutcome, JobError> {
        let now = ms(self.now());
        let delays = self.inner.options.queue.retry.delays_ms();
        let token = i64::try_from(lease.token).unwrap_or(i64::MAX);
        let row = self
            .inner
            .pool
            .with("failing a job", |live| async move {
                let params: [&(dyn ToSql + Sync); 5] =
                    [&db_id(lease.id), &token, &error, &now, &delays];
                live.client.query_opt(&live.st.fail, &params).await
            })
            .await?;
        let Some(row) = row else { return Err(self.lost(lease.id).await) };
        self.changed();
        Ok(match rows::status(get(&row, "state")?)? {
            JobStatus::Dead => FailOutcome::Dead,
            _ => FailOutcome::Retrying {
                at: u64::try_from(get::<i64>(&row, "visible_at")?).unwrap_or(0),
            },
        })
    }

    async fn extend(&self, lease: Lease) -> Result<(), JobError> {
        let now = self.now();
        let until = ms(self.inner.options.queue.lease_until(now));
        let token = i64::try_from(lease.token).unwrap_or(i64::MAX);
        let row = self
            .inner
            .pool
            .with("extending a lease", |live| async move {
                let params: [&(dyn ToSql + Sync); 4] = [&db_id(lease.id), &token, &until, &ms(now)];
                live.client.query_opt(&live.st.extend, &params).await
            })
            .await?;
        match row {
            Some(_) => Ok(()),
            None => Err(self.lost(lease.id).await),
        }
    }

    async fn cancel(&self, id: JobId) -> Result<(), JobError> {
        self.transition(id, "cancel", |st| &st.cancel).await
    }

    async fn requeue(&self, id: JobId) -> Result<(), JobError> {
        self.transition(id, "requeue", |st| &st.requeue).await
    }

    async fn purge(&self, age: Duration) -> Result<usize, JobError> {
        let cutoff = self.now().saturating_sub(duration_ms(age));
        let mut total = 0usize;
        loop {
            let removed = purge_once(&self.inner, cutoff).await?;
            total += usize::try_from(removed).unwrap_or(0);
            if removed < PURGE_BATCH {
                self.changed();
                return Ok(total);
            }
        }
    }

    async fn status(&self, id: JobId) -> Result<Option<JobRecord<P, R>>, JobError> {
        let name = &self.inner.name;
        let row = self
            .inner
            .pool
            .with("reading a job", |live| async move {
                live.client.query_opt(&live.st.status, &[&db_id(id), name]).await
            })
            .await?;
        row.as_ref().map(rows::record).transpose()
    }

    async fn list(&self, status: JobStatus, limit: usize) -> Result<Vec<JobId>, JobError> {
        let name = &self.inner.name;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let state = status.as_str();
        let found = self
            .inner
            .pool
            .with("listing jobs", |live| async move {
                live.client.query(&live.st.list, &[name, &state, &limit]).await
            })
            .await?;
        found.iter().map(|row| job_id(row, "id")).collect()
    }

    async fn stats(&self) -> Result<QueueStats, JobError> {
        let now = self.now();
        let name = &self.inner.name;
        let found = self
            .inner
            .pool
            .with("counting jobs", |live| async move {
                live.client.query(&live.st.stats, &[name, &ms(now)]).await
            })
            .await?;
        let mut stats = QueueStats::default();
        let mut oldest: Option<i64> = None;
        for row in &found {
            let count = u64::try_from(get::<i64>(row, "jobs")?).unwrap_or(0);
            match rows::status(get(row, "state")?)? {
                JobStatus::Queued => stats.queued = count,
                JobStatus::Running => stats.running = count,
                JobStatus::Succeeded => stats.succeeded = count,
                JobStatus::Failed => stats.failed = count,
                JobStatus::Dead => stats.dead = count,
                JobStatus::Cancelled => stats.cancelled = count,
            }
            stats.due += u64::try_from(get::<i64>(row, "due")?).unwrap_or(0);
            if let Some(at) = get::<Option<i64>>(row, "oldest")? {
                oldest = Some(oldest.map_or(at, |o| o.min(at)));
            }
        }
        stats.oldest_due_ms =
            oldest.map_or(0, |at| now.saturating_sub(u64::try_from(at).unwrap_or(0)));
        Ok(stats)
    }

    async fn wait_for(&self, id: JobId) -> Result<JobRecord<P, R>, JobError> {
        loop {
            // Registered before the check: a change of this process in between wakes us.
            let notified = self.inner.changed.notified();
            let mut notified = pin!(notified);
            notified.as_mut().enable();
            match self.status(id).await? {
                None => return Err(JobError::NotFound(id)),
                Some(record) if record.status().is_finished() => return Ok(record),
                Some(_) => {}
            }
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(self.inner.options.poll_interval) => {}
            }
        }
    }

    async fn wait_idle(&self) -> Result<(), JobError> {
        loop {
            let notified = self.inner.changed.notified();
            let mut notified = pin!(notified);
            notified.as_mut().enable();
            if self.stats().await?.unfinished() == 0 {
                return Ok(());
            }
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(self.inner.options.poll_interval) => {}
            }
        }
    }

    async fn wait_for_work(&self) -> Result<(), JobError> {
        let name = &self.inner.name;
        let row = self
            .inner
            .pool
            .with("finding the next due job", |live| async move {
                live.client.query_one(&live.st.next_due, &[name]).await
            })
            .await?;
        let next = get::<Option<i64>>(&row, "next")?.map(|at| u64::try_from(at).unwrap_or(0));
        if next.is_some_and(|at| at <= self.now()) {
            return Ok(());
        }
        self.wait_change(next).await;
        Ok(())
    }

    async fn close(self) {
        // The connections close when the last handle is dropped.
        drop(self);
    }

    fn now(&self) -> Millis {
        self.inner.clock.now()
    }

    fn options(&self) -> &QueueOptions {
        &self.inner.options.queue
    }
}
