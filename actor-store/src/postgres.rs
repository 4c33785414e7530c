//! [`PgQueue`]: the job queue on PostgreSQL, for worker processes on many hosts (feature
//! `postgres`).
//!
//! The same contract as the embedded [`JobQueue`](crate::JobQueue) (the [`jobs`](crate::jobs)
//! module docs), and the same conformance tests; what changes is who may run the workers: any
//! number of processes, on any hosts, pointed at one database.
//!
//! - **Rows.** A job is a row of `actor_jobs` (payload and result as `jsonb`, so `psql` can
//!   read them); every attempt is a row of `actor_job_attempts` (which worker, when, how it
//!   ended). Status polling and queue depth are queries.
//! - **Leases** are taken with `SELECT ... FOR UPDATE SKIP LOCKED` in one statement that also
//!   marks the jobs running and records the attempts, so two processes never lease one job.
//!   Each lease gets a token from a sequence; completing, failing or extending needs the
//!   current token and an unexpired lease, so a worker that was paused or cut off past its
//!   lease cannot complete or overwrite a job another worker took over
//!   ([`JobError::LeaseLost`]).
//! - **Per-key order across processes:** only the oldest unfinished job of a key can be
//!   leased, so a key's jobs run one at a time in enqueue order whichever process runs them.
//! - **Expired leases** are taken back by whichever process leases next; unlike the embedded
//!   queue, a restarted process cannot know that the jobs it ran are abandoned (other processes
//!   may still run theirs), so its jobs run again when their leases expire.
//! - **Durability:** a call returns after its transaction committed; with PostgreSQL's defaults
//!   (`fsync`, `synchronous_commit = on`) that is after the commit was flushed, so a crash of
//!   the server loses no enqueue that returned.
//! - **Clocks:** times are computed by the clients (wall-clock milliseconds, advanced by tokio's
//!   clock as in the embedded queue), so hosts need synchronised clocks (NTP) and leases far
//!   longer than their skew.
//! - **Schema:** created and migrated by [`PgQueue::connect`] under an advisory lock, versioned
//!   in `actor_jobs_schema`; a database migrated by a newer release is refused.
//! - **Connections** are re-established after a server restart; the call that found the
//!   connection broken fails with [`JobError::Backend`] (it may or may not have taken effect,
//!   as with any lost connection) and the next call reconnects.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement};

use crate::jobs::{
    EnqueueOptions, FailOutcome, JobBackend, JobError, JobId, JobRecord, JobState, JobStatus,
    Lease, Leased, Millis, QueueOptions, QueueStats,
};

/// The schema version this release creates and reads.
pub const SCHEMA_VERSION: i32 = 1;

/// Migrations, in order: the statements that bring the schema from version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &[r"
    CREATE SEQUENCE actor_jobs_lease_token;
    CREATE TABLE actor_jobs (
        id bigserial PRIMARY KEY,
        queue text NOT NULL,
        key text,
        idempotency_key text,
        payload jsonb NOT NULL,
        state text NOT NULL,
        result jsonb,
        error text,
        attempt integer NOT NULL DEFAULT 0,
        max_attempts integer NOT NULL,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        visible_at bigint NOT NULL,
        retry_at bigint,
        started_at bigint,
        lease_token bigint,
        lease_until bigint
    );
    CREATE UNIQUE INDEX actor_jobs_idempotency ON actor_jobs (queue, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    CREATE INDEX actor_jobs_ready ON actor_jobs (queue, visible_at, id)
        WHERE state IN ('queued', 'failed');
    CREATE INDEX actor_jobs_leases ON actor_jobs (queue, lease_until) WHERE state = 'running';
    CREATE INDEX actor_jobs_keys ON actor_jobs (queue, key, id)
        WHERE key IS NOT NULL AND state IN ('queued', 'running', 'failed');
    CREATE INDEX actor_jobs_status ON actor_jobs (queue, state, id);
    CREATE TABLE actor_job_attempts (
        id bigserial PRIMARY KEY,
        job_id bigint NOT NULL REFERENCES actor_jobs (id) ON DELETE CASCADE,
        attempt integer NOT NULL,
        worker text NOT NULL,
        started_at bigint NOT NULL,
        ended_at bigint,
        outcome text
    );
    CREATE INDEX actor_job_attempts_job ON actor_job_attempts (job_id, attempt);
"];

const COLUMNS: &str = "id, key, idempotency_key, payload, state, result, error, attempt, \
    max_attempts, created_at, updated_at, visible_at, retry_at, started_at, lease_token, lease_until";

/// How a [`PgQueue`] connects and behaves.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Leases, retries and dead letters, as for the embedded queue.
    pub queue: QueueOptions,
    /// Connections to open (default 4); statements are pipelined on each.
    pub connections: usize,
    /// How often an idle consumer looks for jobs enqueued by other processes (default 100 ms).
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

    /// Sets the queue options (leases, retries).
    pub fn queue(mut self, options: QueueOptions) -> Self {
        self.queue = options;
        self
    }

    /// Sets the number of connections (at least 1).
    pub fn connections(mut self, connections: usize) -> Self {
        self.connections = connections.max(1);
        self
    }

    /// Sets the poll interval of idle consumers.
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

/// A job queue in PostgreSQL; see the [module docs](self). Cheap to clone.
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
    url: String,
    name: String,
    options: PgOptions,
    connections: Vec<Connection>,
    next: AtomicUsize,
    base_ms: Millis,
    base: tokio::time::Instant,
    /// Notified when this process enqueued or finished a job.
    changed: Notify,
}

/// One connection, re-established when it breaks.
struct Connection {
    live: Mutex<Option<Arc<Live>>>,
    reconnect: tokio::sync::Mutex<()>,
}

struct Live {
    client: Client,
    st: Statements,
}

struct Statements {
    enqueue: Statement,
    by_idempotency: Statement,
    reclaim: Statement,
    lease: Statement,
    complete: Statement,
    fail: Statement,
    extend: Statement,
    cancel: Statement,
    requeue: Statement,
    state_of: Statement,
    status: Statement,
    list: Statement,
    stats: Statement,
    next_due: Statement,
}

fn backend(error: impl fmt::Display) -> JobError {
    JobError::Backend { reason: Arc::from(error.to_string()) }
}

/// A PostgreSQL error with the server's message, when there is one.
fn pg(error: tokio_postgres::Error) -> JobError {
    match error.as_db_error() {
        Some(db) => backend(format!("{}: {} ({})", db.severity(), db.message(), db.code().code())),
        None => backend(error),
    }
}

fn wall_ms() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as Millis)
}

fn ms(value: Millis) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn decode<T: DeserializeOwned>(
    id: i64,
    what: &str,
    value: serde_json::Value,
) -> Result<T, JobError> {
    serde_json::from_value(value)
        .map_err(|e| backend(format!("job {id}: cannot decode its {what}: {e}")))
}

fn status_name(status: JobStatus) -> &'static str {
    status.as_str()
}

fn status_of(name: &str) -> Result<JobStatus, JobError> {
    JobStatus::ALL
        .into_iter()
        .find(|s| s.as_str() == name)
        .ok_or_else(|| backend(format!("unknown job state `{name}` in actor_jobs")))
}

async fn connect_one(url: &str) -> Result<Live, JobError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.map_err(pg)?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "PostgreSQL connection ended");
        }
    });
    let prepare = |sql: String| {
        let client = &client;
        async move { client.prepare(&sql).await.map_err(pg) }
    };
    let retry_state = "CASE WHEN attempt >= max_attempts THEN 'dead' ELSE 'failed' END";
    let st = Statements {
        enqueue: prepare(
            "INSERT INTO actor_jobs (queue, key, idempotency_key, payload, state, max_attempts, \
             created_at, updated_at, visible_at) VALUES ($1, $2, $3, $4, 'queued', $5, $6, $6, $7) \
             ON CONFLICT (queue, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
             RETURNING id"
                .to_owned(),
        )
        .await?,
        by_idempotency: prepare(
            "SELECT id FROM actor_jobs WHERE queue = $1 AND idempotency_key = $2".to_owned(),
        )
        .await?,
        reclaim: prepare(format!(
            "WITH expired AS ( \
               UPDATE actor_jobs SET state = {retry_state}, \
                 error = 'attempt ' || attempt || ' did not finish within its lease (the worker hung, crashed or lost its process)', \
                 retry_at = $2, lease_token = NULL, lease_until = NULL, updated_at = $2 \
               WHERE queue = $1 AND state = 'running' AND lease_until <= $2 RETURNING id, attempt) \
             UPDATE actor_job_attempts a SET ended_at = $2, outcome = 'expired' \
             FROM expired e WHERE a.job_id = e.id AND a.attempt = e.attempt AND a.ended_at IS NULL"
        ))
        .await?,
        lease: prepare(
            "WITH picked AS ( \
               SELECT j.id FROM actor_jobs j \
               WHERE j.queue = $1 AND j.state IN ('queued', 'failed') AND j.visible_at <= $2 \
                 AND (j.key IS NULL OR j.id = (SELECT min(k.id) FROM actor_jobs k \
                      WHERE k.queue = j.queue AND k.key = j.key \
                        AND k.state IN ('queued', 'running', 'failed'))) \
               ORDER BY j.visible_at, j.id LIMIT $3 FOR UPDATE SKIP LOCKED), \
             leased AS ( \
               UPDATE actor_jobs j SET state = 'running', attempt = j.attempt + 1, \
                 lease_token = nextval('actor_jobs_lease_token'), lease_until = $4, \
                 started_at = $2, updated_at = $2, retry_at = NULL \
               FROM picked WHERE j.id = picked.id \
               RETURNING j.id, j.key, j.idempotency_key, j.payload, j.attempt, j.lease_token, j.visible_at), \
             history AS ( \
               INSERT INTO actor_job_attempts (job_id, attempt, worker, started_at) \
               SELECT id, attempt, $5, $2 FROM leased) \
             SELECT id, key, idempotency_key, payload, attempt, lease_token FROM leased \
             ORDER BY visible_at, id"
                .to_owned(),
        )
        .await?,
        complete: prepare(
            "WITH done AS ( \
               UPDATE actor_jobs SET state = 'succeeded', result = $3, error = NULL, \
                 lease_token = NULL, lease_until = NULL, updated_at = $4 \
               WHERE id = $1 AND state = 'running' AND lease_token = $2 AND lease_until > $4 \
               RETURNING id, attempt), \
             history AS ( \
               UPDATE actor_job_attempts a SET ended_at = $4, outcome = 'succeeded' \
               FROM done WHERE a.job_id = done.id AND a.attempt = done.attempt AND a.ended_at IS NULL) \
             SELECT id FROM done"
                .to_owned(),
        )
        .await?,
        fail: prepare(format!(
            "WITH failed AS ( \
               UPDATE actor_jobs SET state = {retry_state}, error = $3::text, \
                 retry_at = CASE WHEN attempt >= max_attempts THEN NULL \
                   ELSE $4::bigint + LEAST(power(2, LEAST(attempt - 1, 40))::numeric * $5::bigint, $6::bigint)::bigint END, \
                 visible_at = CASE WHEN attempt >= max_attempts THEN visible_at \
                   ELSE $4::bigint + LEAST(power(2, LEAST(attempt - 1, 40))::numeric * $5::bigint, $6::bigint)::bigint END, \
                 lease_token = NULL, lease_until = NULL, updated_at = $4::bigint \
               WHERE id = $1::bigint AND state = 'running' AND lease_token = $2::bigint AND lease_until > $4::bigint \
               RETURNING id, attempt, state, visible_at), \
             history AS ( \
               UPDATE actor_job_attempts a SET ended_at = $4::bigint, outcome = 'failed' \
               FROM failed WHERE a.job_id = failed.id AND a.attempt = failed.attempt AND a.ended_at IS NULL) \
             SELECT state, visible_at FROM failed"
        ))
        .await?,
        extend: prepare(
            "UPDATE actor_jobs SET lease_until = $3, updated_at = $4 \
             WHERE id = $1 AND state = 'running' AND lease_token = $2 AND lease_until > $4 \
             RETURNING id"
                .to_owned(),
        )
        .await?,
        cancel: prepare(
            "UPDATE actor_jobs SET state = 'cancelled', updated_at = $3 \
             WHERE id = $1 AND queue = $2 AND state IN ('queued', 'failed') RETURNING id"
                .to_owned(),
        )
        .await?,
        requeue: prepare(
            "UPDATE actor_jobs SET state = 'queued', attempt = 0, error = NULL, retry_at = NULL, \
             visible_at = $3, updated_at = $3 \
             WHERE id = $1 AND queue = $2 AND state IN ('dead', 'cancelled') RETURNING id"
                .to_owned(),
        )
        .await?,
        state_of: prepare("SELECT state FROM actor_jobs WHERE id = $1 AND queue = $2".to_owned())
            .await?,
        status: prepare(format!(
            "SELECT {COLUMNS} FROM actor_jobs WHERE id = $1 AND queue = $2"
        ))
        .await?,
        list: prepare(
            "SELECT id FROM actor_jobs WHERE queue = $1 AND state = $2 ORDER BY id LIMIT $3"
                .to_owned(),
        )
        .await?,
        stats: prepare(
            "SELECT state, count(*), min(visible_at) FILTER \
               (WHERE state IN ('queued', 'failed') AND visible_at <= $2) \
             FROM actor_jobs WHERE queue = $1 GROUP BY state"
                .to_owned(),
        )
        .await?,
        next_due: prepare(
            "SELECT least( \
               (SELECT min(visible_at) FROM actor_jobs WHERE queue = $1 AND state IN ('queued', 'failed')), \
               (SELECT min(lease_until) FROM actor_jobs WHERE queue = $1 AND state = 'running'))"
                .to_owned(),
        )
        .await?,
    };
    Ok(Live { client, st })
}

/// Creates or migrates the schema, under an advisory lock so that processes starting together
/// migrate once.
async fn migrate(url: &str) -> Result<(), JobError> {
    let (mut client, connection) = tokio_postgres::connect(url, NoTls).await.map_err(pg)?;
    let connection = tokio::spawn(connection);
    let tx = client.transaction().await.map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock(7412251, 1)", &[]).await.map_err(pg)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS actor_jobs_schema (\
           one integer PRIMARY KEY CHECK (one = 1), version integer NOT NULL)",
    )
    .await
    .map_err(pg)?;
    let found: i32 = tx
        .query_opt("SELECT version FROM actor_jobs_schema", &[])
        .await
        .map_err(pg)?
        .map_or(0, |row| row.get(0));
    if found > SCHEMA_VERSION {
        return Err(backend(format!(
            "the database has job schema version {found}; this release reads version {SCHEMA_VERSION}"
        )));
    }
    for (from, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tracing::info!(from, to = from + 1, "migrating the job schema");
        tx.batch_execute(migration).await.map_err(pg)?;
    }
    tx.execute(
        "INSERT INTO actor_jobs_schema (one, version) VALUES (1, $1) \
         ON CONFLICT (one) DO UPDATE SET version = $1",
        &[&SCHEMA_VERSION],
    )
    .await
    .map_err(pg)?;
    tx.commit().await.map_err(pg)?;
    drop(client);
    let _ = connection.await;
    Ok(())
}

impl<P, R> PgQueue<P, R>
where
    P: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// Connects to the database at `url` (a `postgres://` URL), creates or migrates the
    /// schema, and serves the queue `name`.
    ///
    /// # Errors
    ///
    /// [`JobError::Backend`] if the server cannot be reached, or its schema is newer than this
    /// release's.
    pub async fn connect(url: &str, name: &str, options: PgOptions) -> Result<Self, JobError> {
        migrate(url).await?;
        let mut connections = Vec::new();
        for _ in 0..options.connections.max(1) {
            let live = connect_one(url).await?;
            connections.push(Connection {
                live: Mutex::new(Some(Arc::new(live))),
                reconnect: tokio::sync::Mutex::new(()),
            });
        }
        Ok(PgQueue {
            inner: Arc::new(Inner {
                url: url.to_owned(),
                name: name.to_owned(),
                options,
                connections,
                next: AtomicUsize::new(0),
                base_ms: wall_ms(),
                base: tokio::time::Instant::now(),
                changed: Notify::new(),
            }),
            types: PhantomData,
        })
    }

    /// This process's worker name, as recorded in `actor_job_attempts`.
    pub fn worker(&self) -> &str {
        &self.inner.options.worker
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Runs `op` on a live connection, reconnecting once if the connection was found broken.
    async fn with<T, F, Fut>(&self, op: F) -> Result<T, JobError>
    where
        F: Fn(Arc<Live>) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let n = self.inner.next.fetch_add(1, Ordering::Relaxed) % self.inner.connections.len();
        let conn = &self.inner.connections[n];
        let live = self.live(conn).await?;
        match op(Arc::clone(&live)).await {
            Ok(value) => Ok(value),
            Err(error) if live.client.is_closed() => {
                // The server went away (restarted, say): drop the connection; the next call
                // reconnects. This call may or may not have taken effect.
                let mut slot = conn.live.lock().unwrap_or_else(PoisonError::into_inner);
                if slot.as_ref().is_some_and(|l| Arc::ptr_eq(l, &live)) {
                    *slot = None;
                }
                Err(pg(error))
            }
            Err(error) => Err(pg(error)),
        }
    }

    async fn live(&self, conn: &Connection) -> Result<Arc<Live>, JobError> {
        let current = conn.live.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(live) = current
            && !live.client.is_closed()
        {
            return Ok(live);
        }
        let _reconnecting = conn.reconnect.lock().await;
        let current = conn.live.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(live) = current
            && !live.client.is_closed()
        {
            return Ok(live);
        }
        let live = Arc::new(connect_one(&self.inner.url).await?);
        *conn.live.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&live));
        Ok(live)
    }

    fn now_ms(&self) -> Millis {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.inner.base);
        self.inner.base_ms + elapsed.as_millis() as Millis
    }

    fn record(row: &Row) -> Result<JobRecord<P, R>, JobError> {
        let id: i64 = row.get(0);
        let state_name: String = row.get(4);
        let error: Option<String> = row.get(6);
        let state = match status_of(&state_name)? {
            JobStatus::Queued => JobState::Queued,
            JobStatus::Running => JobState::Running {
                token: row.get::<_, Option<i64>>(14).unwrap_or(0) as u64,
                until: row.get::<_, Option<i64>>(15).unwrap_or(0) as u64,
            },
            JobStatus::Succeeded => {
                let result: Option<serde_json::Value> = row.get(5);
                JobState::Succeeded {
                    result: decode(id, "result", result.unwrap_or(serde_json::Value::Null))?,
                }
            }
            JobStatus::Failed => JobState::Failed {
                error: error.unwrap_or_default(),
                retry_at: row.get::<_, Option<i64>>(12).unwrap_or(0) as u64,
            },
            JobStatus::Dead => JobState::Dead { error: error.unwrap_or_default() },
            JobStatus::Cancelled => JobState::Cancelled,
        };
        Ok(JobRecord {
            id: JobId(id as u64),
            key: row.get(1),
            idempotency_key: row.get(2),
            payload: decode(id, "payload", row.get(3))?,
            state,
            attempt: row.get::<_, i32>(7) as u32,
            max_attempts: row.get::<_, i32>(8) as u32,
            created_at: row.get::<_, i64>(9) as u64,
            updated_at: row.get::<_, i64>(10) as u64,
            visible_at: row.get::<_, i64>(11) as u64,
            started_at: row.get::<_, Option<i64>>(13).map(|v| v as u64),
        })
    }

    /// The job's state as stored (`None`: no such job in this queue).
    async fn state_of(&self, id: JobId) -> Result<Option<String>, JobError> {
        let name = self.inner.name.clone();
        let row = self
            .with(|live| {
                let name = name.clone();
                async move {
                    live.client.query_opt(&live.st.state_of, &[&(id.0 as i64), &name]).await
                }
            })
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Why a fenced update changed nothing: the job is unknown, or the lease is lost.
    async fn lost(&self, id: JobId) -> JobError {
        match self.state_of(id).await {
            Ok(Some(_)) => JobError::LeaseLost(id),
            Ok(None) => JobError::NotFound(id),
            Err(error) => error,
        }
    }

    /// Why a change of an idle job changed nothing: the job is unknown, or in another state.
    async fn invalid(&self, id: JobId, operation: &'static str) -> JobError {
        match self.state_of(id).await {
            Ok(Some(state)) => match status_of(&state) {
                Ok(status) => JobError::InvalidState { id, status, operation },
                Err(error) => error,
            },
            Ok(None) => JobError::NotFound(id),
            Err(error) => error,
        }
    }

    /// Runs a state change of one job by its id (`cancel`, `requeue`: parameters id, queue,
    /// now); when no row changed, reports why as an error of `operation`.
    async fn transition(
        &self,
        id: JobId,
        operation: &'static str,
        statement: fn(&Statements) -> &Statement,
    ) -> Result<(), JobError> {
        let now = self.now_ms();
        let name = self.inner.name.clone();
        let row = self
            .with(|live| {
                let name = name.clone();
                async move {
                    live.client
                        .query_opt(statement(&live.st), &[&(id.0 as i64), &name, &ms(now)])
                        .await
                }
            })
            .await?;
        match row {
            Some(_) => {
                self.inner.changed.notify_waiters();
                Ok(())
            }
            None => Err(self.invalid(id, operation).await),
        }
    }
}

impl<P, R> JobBackend<P, R> for PgQueue<P, R>
where
    P: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    async fn enqueue(&self, payload: P, options: EnqueueOptions) -> Result<JobId, JobError> {
        let now = self.now_ms();
        let (idempotency_key, key, max_attempts, delay) = options.into_parts();
        let payload = serde_json::to_value(&payload)
            .map_err(|e| backend(format!("cannot encode the payload: {e}")))?;
        let max_attempts = i32::try_from(
            max_attempts.unwrap_or(self.inner.options.queue.retry.max_attempts).max(1),
        )
        .unwrap_or(i32::MAX);
        let visible_at = now + delay.map_or(0, |d| d.as_millis() as Millis);
        let name = self.inner.name.clone();
        let inserted = self
            .with(|live| {
                let (name, key, idem, payload) =
                    (name.clone(), key.clone(), idempotency_key.clone(), payload.clone());
                async move {
                    let params: [&(dyn ToSql + Sync); 7] =
                        [&name, &key, &idem, &payload, &max_attempts, &ms(now), &ms(visible_at)];
                    live.client.query_opt(&live.st.enqueue, &params).await
                }
            })
            .await?;
        if let Some(row) = inserted {
            self.inner.changed.notify_waiters();
            return Ok(JobId(row.get::<_, i64>(0) as u64));
        }
        // An idempotency key already known: the first job's id.
        let existing = self
            .with(|live| {
                let (name, idem) = (name.clone(), idempotency_key.clone());
                async move { live.client.query_opt(&live.st.by_idempotency, &[&name, &idem]).await }
            })
            .await?;
        existing
            .map(|row| JobId(row.get::<_, i64>(0) as u64))
            .ok_or_else(|| backend("an idempotent enqueue found neither a new nor an old job"))
    }

    async fn lease(&self, max: usize) -> Result<Vec<Leased<P>>, JobError> {
        let now = self.now_ms();
        let until = now + self.inner.options.queue.visibility_timeout.as_millis() as Millis;
        let name = self.inner.name.clone();
        let worker = self.inner.options.worker.clone();
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let rows = self
            .with(|live| {
                let (name, worker) = (name.clone(), worker.clone());
                async move {
                    live.client.execute(&live.st.reclaim, &[&name, &ms(now)]).await?;
                    let params: [&(dyn ToSql + Sync); 5] =
                        [&name, &ms(now), &max, &ms(until), &worker];
                    live.client.query(&live.st.lease, &params).await
                }
            })
            .await?;
        rows.iter()
            .map(|row| {
                let id = JobId(row.get::<_, i64>(0) as u64);
                let payload = serde_json::from_value(row.get(3))
                    .map_err(|e| backend(format!("job {id}: cannot decode its payload: {e}")))?;
                Ok(Leased {
                    id,
                    key: row.get(1),
                    idempotency_key: row.get(2),
                    payload,
                    attempt: row.get::<_, i32>(4) as u32,
                    lease: Lease { id, token: row.get::<_, i64>(5) as u64 },
                })
            })
            .collect()
    }

    async fn complete(&self, lease: Lease, result: R) -> Result<(), JobError> {
        let now = self.now_ms();
        let result = serde_json::to_value(&result)
            .map_err(|e| backend(format!("cannot encode the result: {e}")))?;
        let done = self
            .with(|live| {
                let result = result.clone();
                async move {
                    let params: [&(dyn ToSql + Sync); 4] =
                        [&(lease.id.0 as i64), &(lease.token as i64), &result, &ms(now)];
                    live.client.query_opt(&live.st.complete, &params).await
                }
            })
            .await?;
        if done.is_none() {
            return Err(self.lost(lease.id).await);
        }
        self.inner.changed.notify_waiters();
        Ok(())
    }

    async fn fail(&self, lease: Lease, error: String) -> Result<FailOutcome, JobError> {
        let now = self.now_ms();
        let retry = self.inner.options.queue.retry;
        let backoff = ms(retry.backoff.as_millis() as Millis);
        let max_backoff = ms(retry.max_backoff.as_millis() as Millis);
        let row = self
            .with(|live| {
                let error = error.clone();
                async move {
                    let params: [&(dyn ToSql + Sync); 6] = [
                        &(lease.id.0 as i64),
                        &(lease.token as i64),
                        &error,
                        &ms(now),
                        &backoff,
                        &max_backoff,
                    ];
                    live.client.query_opt(&live.st.fail, &params).await
                }
            })
            .await?;
        let Some(row) = row else { return Err(self.lost(lease.id).await) };
        self.inner.changed.notify_waiters();
        Ok(match row.get::<_, &str>(0) {
            "dead" => FailOutcome::Dead,
            _ => FailOutcome::Retrying { at: row.get::<_, i64>(1) as u64 },
        })
    }

    async fn extend(&self, lease: Lease) -> Result<(), JobError> {
        let now = self.now_ms();
        let until = now + self.inner.options.queue.visibility_timeout.as_millis() as Millis;
        let row = self
            .with(|live| async move {
                let params: [&(dyn ToSql + Sync); 4] =
                    [&(lease.id.0 as i64), &(lease.token as i64), &ms(until), &ms(now)];
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

    async fn status(&self, id: JobId) -> Result<Option<JobRecord<P, R>>, JobError> {
        let name = self.inner.name.clone();
        let row = self
            .with(|live| {
                let name = name.clone();
                async move { live.client.query_opt(&live.st.status, &[&(id.0 as i64), &name]).await }
            })
            .await?;
        row.as_ref().map(Self::record).transpose()
    }

    async fn list(&self, status: JobStatus, limit: usize) -> Result<Vec<JobId>, JobError> {
        let name = self.inner.name.clone();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .with(|live| {
                let name = name.clone();
                async move {
                    live.client.query(&live.st.list, &[&name, &status_name(status), &limit]).await
                }
            })
            .await?;
        Ok(rows.iter().map(|row| JobId(row.get::<_, i64>(0) as u64)).collect())
    }

    async fn stats(&self) -> Result<QueueStats, JobError> {
        let now = self.now_ms();
        let name = self.inner.name.clone();
        let rows = self
            .with(|live| {
                let name = name.clone();
                async move { live.client.query(&live.st.stats, &[&name, &ms(now)]).await }
            })
            .await?;
        let mut stats = QueueStats::default();
        let mut oldest: Option<i64> = None;
        for row in &rows {
            let count = row.get::<_, i64>(1) as u64;
            match status_of(row.get::<_, &str>(0))? {
                JobStatus::Queued => stats.queued = count,
                JobStatus::Running => stats.running = count,
                JobStatus::Succeeded => stats.succeeded = count,
                JobStatus::Failed => stats.failed = count,
                JobStatus::Dead => stats.dead = count,
                JobStatus::Cancelled => stats.cancelled = count,
            }
            if let Some(at) = row.get::<_, Option<i64>>(2) {
                oldest = Some(oldest.map_or(at, |o| o.min(at)));
            }
        }
        stats.oldest_queued_ms = oldest.map_or(0, |at| now.saturating_sub(at.max(0) as u64));
        Ok(stats)
    }

    async fn wait_for_work(&self) {
        let changed = self.inner.changed.notified();
        let now = self.now_ms();
        let name = self.inner.name.clone();
        let next = self
            .with(|live| {
                let name = name.clone();
                async move { live.client.query_one(&live.st.next_due, &[&name]).await }
            })
            .await
            .ok()
            .and_then(|row| row.get::<_, Option<i64>>(0));
        let poll = self.inner.options.poll_interval;
        let wait = match next {
            Some(at) if (at.max(0) as u64) <= now => return,
            Some(at) => Duration::from_millis(at.max(0) as u64 - now).min(poll),
            None => poll,
        };
        tokio::select! {
            () = changed => {}
            () = tokio::time::sleep(wait) => {}
        }
    }

    fn now(&self) -> Millis {
        self.now_ms()
    }
}
