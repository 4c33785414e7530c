//! The PostgreSQL schema: created and migrated under an advisory lock, versioned in
//! `actor_jobs_schema`, so processes starting together migrate once and a database migrated
//! by a newer release is refused.

use tokio_postgres::NoTls;

use crate::error::JobError;

/// The schema version this release creates and reads.
pub const SCHEMA_VERSION: i32 = 6;

/// Migrations, in order: the statements that bring the schema from version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &[
    r"
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
",
    // Version 2: retention removes finished jobs by age.
    r"
    CREATE INDEX actor_jobs_finished ON actor_jobs (queue, updated_at)
        WHERE state IN ('succeeded', 'dead', 'cancelled');
",
    // Version 3: an attempt's row is written once, when it ends (the running attempt is in
    // `actor_jobs`: `leased_by`, `started_at`); the foreign key, checked at every insert, goes
    // (purging removes a job's attempts itself); so does the index by state, updated at every
    // change of every job (the partial indexes of ready, running and finished jobs serve the
    // lookups by state).
    r"
    DROP INDEX IF EXISTS actor_jobs_status;
    ALTER TABLE actor_jobs ADD COLUMN leased_by text;
    UPDATE actor_jobs j SET leased_by = a.worker FROM actor_job_attempts a
        WHERE j.state = 'running' AND a.job_id = j.id AND a.attempt = j.attempt;
    DELETE FROM actor_job_attempts WHERE ended_at IS NULL;
    ALTER TABLE actor_job_attempts DROP CONSTRAINT IF EXISTS actor_job_attempts_job_id_fkey;
",
    // Version 4: priorities. Due jobs are leased by `rank` (the time they became due, minus
    // the head start their priority gives), which every change that makes a job due sets.
    r"
    ALTER TABLE actor_jobs ADD COLUMN priority smallint NOT NULL DEFAULT 0;
    ALTER TABLE actor_jobs ADD COLUMN rank bigint NOT NULL DEFAULT 0;
    UPDATE actor_jobs SET rank = visible_at;
    CREATE INDEX actor_jobs_ranked ON actor_jobs (queue, rank, id)
        WHERE state IN ('queued', 'failed');
",
    // Version 5: limit groups, and the recent starts that rate limits count ('' is the whole
    // queue's).
    r"
    ALTER TABLE actor_jobs ADD COLUMN grp text;
    CREATE INDEX actor_jobs_running_groups ON actor_jobs (queue, grp)
        WHERE state = 'running' AND grp IS NOT NULL;
    CREATE TABLE actor_job_starts (queue text NOT NULL, grp text NOT NULL, at bigint NOT NULL);
    CREATE INDEX actor_job_starts_recent ON actor_job_starts (queue, grp, at);
",
    // Version 6: the enqueuer's trace context (a JSON object of text fields, as the installed
    // propagator wrote them), for the spans of the job's attempts.
    r"
    ALTER TABLE actor_jobs ADD COLUMN trace jsonb;
",
];

/// Creates or migrates the schema.
pub(super) async fn migrate(url: &str) -> Result<(), JobError> {
    let pg = |what| move |e| JobError::backend(what, e);
    let (mut client, connection) =
        tokio_postgres::connect(url, NoTls).await.map_err(pg("connecting to migrate"))?;
    let connection = tokio::spawn(connection);
    let tx = client.transaction().await.map_err(pg("migrating the schema"))?;
    tx.execute("SELECT pg_advisory_xact_lock(7412251, 1)", &[])
        .await
        .map_err(pg("locking the schema"))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS actor_jobs_schema (\
           one integer PRIMARY KEY CHECK (one = 1), version integer NOT NULL)",
    )
    .await
    .map_err(pg("migrating the schema"))?;
    let found: i32 = tx
        .query_opt("SELECT version FROM actor_jobs_schema", &[])
        .await
        .map_err(pg("reading the schema version"))?
        .map_or(Ok(0), |row| row.try_get("version"))
        .map_err(pg("reading the schema version"))?;
    if found > SCHEMA_VERSION {
        return Err(JobError::UnsupportedSchema { found, supported: SCHEMA_VERSION });
    }
    for (from, migration) in MIGRATIONS.iter().enumerate().skip(usize::try_from(found).unwrap_or(0))
    {
        tracing::info!(from, to = from + 1, "migrating the job schema");
        tx.batch_execute(migration).await.map_err(pg("migrating the schema"))?;
    }
    tx.execute(
        "INSERT INTO actor_jobs_schema (one, version) VALUES (1, $1) \
         ON CONFLICT (one) DO UPDATE SET version = $1",
        &[&SCHEMA_VERSION],
    )
    .await
    .map_err(pg("recording the schema version"))?;
    tx.commit().await.map_err(pg("migrating the schema"))?;
    drop(client);
    let _ = connection.await;
    Ok(())
}
