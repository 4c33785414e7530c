//! [`PgQueue`]: the job queue in PostgreSQL, for worker processes on many hosts (feature
//! `postgres`).
//!
//! The same contract as [`EmbeddedQueue`](crate::EmbeddedQueue) and the same conformance
//! suite; what changes is who may run the workers: any number of processes, on any hosts,
//! pointed at one database.
//!
//! - **Rows.** A job is a row of `actor_jobs` (payload and result as `jsonb`, so `psql` can
//!   read them; the running attempt's worker and start in `leased_by` and `started_at`);
//!   every ended attempt is a row of `actor_job_attempts` (which worker, when, how it ended),
//!   written with the change that ends it.
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

mod acker;
mod limited;
mod listen;
mod many;
mod options;
mod pool;
mod retention;
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
use tokio::sync::{Notify, mpsc};
use tokio_postgres::types::ToSql;

pub use self::options::PgOptions;
use self::pool::Pool;
use self::retention::{PURGE_BATCH, purge_once, sweep};
use self::rows::{db_id, get, job_id};
pub use self::schema::SCHEMA_VERSION;
use crate::backend::JobBackend;
use crate::clock::{Clock, duration_ms};
use crate::error::JobError;
use crate::model::{FailOutcome, JobId, JobRecord, JobStatus, Lease, Leased, Millis, QueueStats};
use crate::options::{EXPIRED, EnqueueOptions, QueueOptions};

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
    pool: Arc<Pool>,
    clock: Clock,
    /// Notified when this process changed a job, and on every notification of the channel.
    changed: Arc<Notify>,
    /// Running jobs announced cancelled on the channel.
    cancels: Arc<listen::Cancels>,
    /// With limits: the connection that leases under them, and the limits as parameters.
    limited: Option<(tokio::sync::Mutex<Option<limited::LimitedLeaser>>, limited::LimitParams)>,
    url: String,
    /// The queue's `LISTEN`/`NOTIFY` channel.
    channel: String,
    /// To the acknowledger task; taken by [`JobBackend::close`].
    acks: Option<mpsc::Sender<acker::Ack>>,
    acker: Option<tokio::task::JoinHandle<()>>,
    listener: tokio::task::AbortHandle,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.listener.abort();
    }
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
        let pool = Arc::new(Pool::open(url, options.connections).await?);
        let clock = Clock::start();
        let channel = listen::channel(name);
        let changed = Arc::new(Notify::new());
        let cancels = Arc::new(listen::Cancels::default());
        let listener = tokio::spawn(listen::run(
            url.to_owned(),
            channel.clone(),
            Arc::clone(&changed),
            Arc::clone(&cancels),
        ));
        let (acks, ack_rx) = mpsc::channel(options.ack_batch.saturating_mul(4).max(64));
        let settings = acker::Settings {
            max: options.ack_batch.max(1),
            window: options.ack_window,
            channel: channel.clone(),
            delays: options.queue.retry.delays_ms(),
            aging: ms(options.queue.aging_ms()),
            now: Arc::new(move || clock.now()),
        };
        let acker = tokio::spawn(acker::run(Arc::clone(&pool), settings, ack_rx));
        let limited = (!options.queue.limits.is_empty()).then(|| {
            (tokio::sync::Mutex::new(None), limited::LimitParams::new(&options.queue.limits))
        });
        let queue = PgQueue {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                options,
                pool,
                clock,
                changed,
                cancels,
                limited,
                url: url.to_owned(),
                channel,
                acks: Some(acks),
                acker: Some(acker),
                listener: listener.abort_handle(),
            }),
            types: PhantomData,
        };
        if let Some(retention) = queue.inner.options.queue.retention {
            tokio::spawn(sweep(Arc::downgrade(&queue.inner), retention));
        }
        Ok(queue)
    }

    /// Hands an acknowledgement to the acknowledger and waits until its batch committed.
    async fn acknowledge(
        &self,
        lease: Lease,
        change: acker::Change,
    ) -> Result<Option<FailOutcome>, JobError> {
        let acks = self.inner.acks.as_ref().ok_or(JobError::Closed)?;
        let (answer, answered) = tokio::sync::oneshot::channel();
        acks.send(acker::Ack { lease, change, answer }).await.map_err(|_| JobError::Closed)?;
        match answered.await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(acker::NotApplied::Lease)) => Err(self.lost(lease.id).await),
            Ok(Err(acker::NotApplied::Failed(error))) => Err(error),
            Err(_) => Err(JobError::Closed),
        }
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

    /// Why a fenced update changed nothing: the job is unknown, cancelled, or the lease is
    /// lost.
    async fn lost(&self, id: JobId) -> JobError {
        match state_of(&self.inner, id).await {
            Ok(Some(JobStatus::Cancelled)) => JobError::Cancelled(id),
            Ok(Some(_)) => JobError::LeaseLost(id),
            Ok(None) => JobError::NotFound(id),
            Err(error) => error,
        }
    }

    /// A change of a job by id (`cancel`: parameters id, queue, now, channel; `requeue`: the
    /// same and the aging); when no row changed, reports why.
    async fn transition(
        &self,
        id: JobId,
        operation: &'static str,
        statement: fn(&sql::Statements) -> &tokio_postgres::Statement,
    ) -> Result<(), JobError> {
        let now = ms(self.now());
        let aging = ms(self.inner.options.queue.aging_ms());
        let (name, channel) = (&self.inner.name, &self.inner.channel);
        let with_aging = operation == "requeue";
        let row = self
            .inner
            .pool
            .with(operation, |live| async move {
                let id = db_id(id);
                if with_aging {
                    let params: [&(dyn ToSql + Sync); 5] = [&id, name, &now, channel, &aging];
                    live.client.query_opt(statement(&live.st), &params).await
                } else {
                    let params: [&(dyn ToSql + Sync); 4] = [&id, name, &now, channel];
                    live.client.query_opt(statement(&live.st), &params).await
                }
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

    /// Up to `limit` ids of jobs in `status`, by the `statement` that orders them.
    async fn ids_in_state(
        &self,
        what: &'static str,
        statement: fn(&sql::Statements) -> &tokio_postgres::Statement,
        status: JobStatus,
        limit: usize,
    ) -> Result<Vec<JobId>, JobError> {
        let name = &self.inner.name;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let state = status.as_str();
        let found = self
            .inner
            .pool
            .with(what, |live| async move {
                live.client.query(statement(&live.st), &[name, &state, &limit]).await
            })
            .await?;
        found.iter().map(|row| job_id(row, "id")).collect()
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

impl<P, R> JobBackend<P, R> for PgQueue<P, R>
where
    P: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    async fn enqueue(&self, payload: P, options: EnqueueOptions) -> Result<JobId, JobError> {
        let now = self.now();
        let options = options.with_caller_trace();
        let trace = rows::trace_json(options.trace.as_ref());
        let payload = rows::encode(JobId(0), "payload", &payload)?;
        let attempts = i32::try_from(options.attempts_under(&self.inner.options.queue.retry))
            .unwrap_or(i32::MAX);
        let due = options.visible_from(now);
        let visible_at = ms(due);
        let priority = options.priority;
        let rank = crate::options::rank(due, priority, self.inner.options.queue.aging_ms());
        let (name, channel) = (&self.inner.name, &self.inner.channel);
        let (key, idem, group) = (&options.key, &options.idempotency_key, &options.group);
        let inserted = self
            .inner
            .pool
            .with("enqueueing a job", |live| async move {
                let params: [&(dyn ToSql + Sync); 12] = [
                    name,
                    key,
                    idem,
                    &payload,
                    &attempts,
                    &ms(now),
                    &visible_at,
                    channel,
                    &priority,
                    &rank,
                    group,
                    &trace,
                ];
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
        if let Some((leaser, params)) = &self.inner.limited {
            let mut leaser = leaser.lock().await;
            if leaser.as_ref().is_none_or(limited::LimitedLeaser::is_closed) {
                *leaser = Some(limited::LimitedLeaser::connect(&self.inner.url).await?);
            }
            let Some(connection) = leaser.as_mut() else { return Err(JobError::Closed) };
            let found = connection
                .lease(name, ms(now), max, until, worker, EXPIRED, params)
                .await
                .map_err(|e| JobError::backend("leasing jobs within limits", e));
            if found.is_err() {
                *leaser = None;
            }
            return found?.iter().map(rows::leased).collect();
        }
        let found = self
            .inner
            .pool
            .with("leasing jobs", |live| async move {
                // One statement: expired leases are taken back (their jobs leased again at once,
                // or dead at their last attempt) and due jobs leased, in one transaction.
                let params: [&(dyn ToSql + Sync); 6] =
                    [name, &ms(now), &max, &until, worker, &EXPIRED];
                live.client.query(&live.st.lease, &params).await
            })
            .await?;
        found.iter().map(rows::leased).collect()
    }

    async fn complete(&self, lease: Lease, result: R) -> Result<(), JobError> {
        let result = rows::encode(lease.id, "result", &result)?;
        self.acknowledge(lease, acker::Change::Complete(result)).await?;
        self.changed();
        Ok(())
    }

    async fn fail(&self, lease: Lease, error: String) -> Result<FailOutcome, JobError> {
        let outcome = self.acknowledge(lease, acker::Change::Fail(error)).await?;
        self.changed();
        // The acknowledger reports an outcome for every failure it applied.
        outcome.ok_or_else(|| {
            JobError::backend(
                "failing a job",
                std::io::Error::other("the failure was applied without an outcome"),
            )
        })
    }

    async fn extend(&self, lease: Lease) -> Result<(), JobError> {
        let until = ms(self.inner.options.queue.lease_until(self.now()));
        self.acknowledge(lease, acker::Change::Extend { until }).await.map(drop)
    }

    async fn cancel(&self, id: JobId) -> Result<(), JobError> {
        self.transition(id, "cancel", |st| &st.cancel).await
    }

    async fn requeue(&self, id: JobId) -> Result<(), JobError> {
        self.transition(id, "requeue", |st| &st.requeue).await
    }

    async fn cancelled(&self, id: JobId) -> Result<(), JobError> {
        let inner = &self.inner;
        loop {
            // Registered before the look: a notification after it wakes this waiter.
            let notified = inner.cancels.changed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if inner.cancels.take(id) {
                return Ok(());
            }
            match state_of(inner, id).await? {
                Some(JobStatus::Cancelled) => return Ok(()),
                Some(_) => {}
                None => return Err(JobError::NotFound(id)),
            }
            // A notification lost with a broken connection is made up for by looking again.
            let _ = tokio::time::timeout(inner.options.sweep_interval, notified).await;
        }
    }

    async fn snooze(&self, lease: Lease, delay: Duration) -> Result<(), JobError> {
        let now = self.now();
        let until = ms(now.saturating_add(crate::clock::duration_ms(delay)));
        let (now, aging) = (ms(now), ms(self.inner.options.queue.aging_ms()));
        let channel = &self.inner.channel;
        let (id, token) = (db_id(lease.id), i64::try_from(lease.token).unwrap_or(i64::MAX));
        let row = self
            .inner
            .pool
            .with("snoozing a job", |live| async move {
                let params: [&(dyn ToSql + Sync); 6] = [&id, &token, &now, &until, &aging, channel];
                live.client.query_opt(&live.st.snooze, &params).await
            })
            .await?;
        match row {
            Some(_) => {
                self.changed();
                Ok(())
            }
            None => Err(self.lost(lease.id).await),
        }
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
        self.ids_in_state("listing jobs", |st| &st.list, status, limit).await
    }

    async fn recent(&self, status: JobStatus, limit: usize) -> Result<Vec<JobId>, JobError> {
        self.ids_in_state("listing recent jobs", |st| &st.recent, status, limit).await
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
            // An index probe, not a count: waiters may poll often.
            let name = &self.inner.name;
            let row = self
                .inner
                .pool
                .with("looking for unfinished jobs", |live| async move {
                    live.client.query_one(&live.st.busy, &[name]).await
                })
                .await?;
            if !get::<bool>(&row, "busy")? {
                return Ok(());
            }
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(self.inner.options.poll_interval) => {}
            }
        }
    }

    async fn wait_for_work(&self) -> Result<(), JobError> {
        // Registered before looking: a notification that lands in between wakes us.
        let notified = self.inner.changed.notified();
        let mut notified = pin!(notified);
        notified.as_mut().enable();
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
        let sweep = self.inner.options.sweep_interval;
        let wait = next.map_or(sweep, |at| self.inner.clock.until(at).min(sweep));
        tokio::select! {
            () = notified => {}
            () = tokio::time::sleep(wait) => {}
        }
        Ok(())
    }

    async fn close(self) {
        // The last handle waits for the acknowledgements it accepted to be written; the
        // connections close with it.
        let Ok(mut inner) = Arc::try_unwrap(self.inner) else { return };
        drop(inner.acks.take());
        if let Some(acker) = inner.acker.take() {
            let _ = acker.await;
        }
    }

    fn now(&self) -> Millis {
        self.inner.clock.now()
    }

    fn options(&self) -> &QueueOptions {
        &self.inner.options.queue
    }
}
