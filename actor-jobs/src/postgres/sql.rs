//! The statements of the PostgreSQL backend, prepared once per connection. Each operation is
//! one statement (or one transaction), so a dropped call or a lost connection leaves no
//! half-made change: the server applies all of it or none.
//!
//! Times are parameters computed by the client (see the [clock](crate) notes); backoff comes
//! from the client too, as an array of delays by attempt, so both backends back off alike.

use tokio_postgres::{Client, Statement};

/// The columns a job record is read from.
pub(super) const COLUMNS: &str = "id, key, idempotency_key, payload, state, result, error, attempt, \
    max_attempts, created_at, updated_at, visible_at, retry_at, started_at, lease_token, lease_until";

/// The state after a failed or expired attempt: dead at the last one.
const RETRY_STATE: &str = "CASE WHEN attempt >= max_attempts THEN 'dead' ELSE 'failed' END";

/// `$delays[attempt]` milliseconds after `$now`: when a failed attempt runs again.
fn retry_at(now: &str, delays: &str) -> String {
    format!("{now}::bigint + ({delays}::bigint[])[LEAST(attempt, 31)]")
}

/// Every statement, prepared on one connection.
pub(super) struct Statements {
    pub(super) enqueue: Statement,
    pub(super) by_idempotency: Statement,
    pub(super) reclaim: Statement,
    pub(super) lease: Statement,
    pub(super) complete: Statement,
    pub(super) fail: Statement,
    pub(super) extend: Statement,
    pub(super) cancel: Statement,
    pub(super) requeue: Statement,
    pub(super) state_of: Statement,
    pub(super) status: Statement,
    pub(super) list: Statement,
    pub(super) stats: Statement,
    pub(super) next_due: Statement,
    pub(super) purge: Statement,
    pub(super) reserve_ids: Statement,
    pub(super) enqueue_many: Statement,
}

impl Statements {
    pub(super) async fn prepare(client: &Client) -> Result<Statements, tokio_postgres::Error> {
        let fail_retry = retry_at("$4", "$5");
        Ok(Statements {
            enqueue: client
                .prepare(
                    "INSERT INTO actor_jobs (queue, key, idempotency_key, payload, state, max_attempts, \
                     created_at, updated_at, visible_at) VALUES ($1, $2, $3, $4, 'queued', $5, $6, $6, $7) \
                     ON CONFLICT (queue, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
                     RETURNING id",
                )
                .await?,
            by_idempotency: client
                .prepare("SELECT id FROM actor_jobs WHERE queue = $1 AND idempotency_key = $2")
                .await?,
            reclaim: client
                .prepare(&format!(
                    "WITH expired AS ( \
                       UPDATE actor_jobs SET state = {RETRY_STATE}, error = $3, \
                         retry_at = $2, lease_token = NULL, lease_until = NULL, updated_at = $2, \
                         visible_at = LEAST(visible_at, $2) \
                       WHERE queue = $1 AND state = 'running' AND lease_until <= $2 RETURNING id, attempt) \
                     UPDATE actor_job_attempts a SET ended_at = $2, outcome = 'expired' \
                     FROM expired e WHERE a.job_id = e.id AND a.attempt = e.attempt AND a.ended_at IS NULL"
                ))
                .await?,
            lease: client
                .prepare(
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
                     ORDER BY visible_at, id",
                )
                .await?,
            complete: client
                .prepare(
                    "WITH done AS ( \
                       UPDATE actor_jobs SET state = 'succeeded', result = $3, error = NULL, \
                         lease_token = NULL, lease_until = NULL, updated_at = $4 \
                       WHERE id = $1 AND state = 'running' AND lease_token = $2 AND lease_until > $4 \
                       RETURNING id, attempt), \
                     history AS ( \
                       UPDATE actor_job_attempts a SET ended_at = $4, outcome = 'succeeded' \
                       FROM done WHERE a.job_id = done.id AND a.attempt = done.attempt AND a.ended_at IS NULL) \
                     SELECT id FROM done",
                )
                .await?,
            fail: client
                .prepare(&format!(
                    "WITH failed AS ( \
                       UPDATE actor_jobs SET state = {RETRY_STATE}, error = $3::text, \
                         retry_at = CASE WHEN attempt >= max_attempts THEN NULL ELSE {fail_retry} END, \
                         visible_at = CASE WHEN attempt >= max_attempts THEN visible_at ELSE {fail_retry} END, \
                         lease_token = NULL, lease_until = NULL, updated_at = $4::bigint \
                       WHERE id = $1::bigint AND state = 'running' AND lease_token = $2::bigint \
                         AND lease_until > $4::bigint \
                       RETURNING id, attempt, state, visible_at), \
                     history AS ( \
                       UPDATE actor_job_attempts a SET ended_at = $4::bigint, outcome = 'failed' \
                       FROM failed WHERE a.job_id = failed.id AND a.attempt = failed.attempt AND a.ended_at IS NULL) \
                     SELECT state, visible_at FROM failed"
                ))
                .await?,
            extend: client
                .prepare(
                    "UPDATE actor_jobs SET lease_until = $3, updated_at = $4 \
                     WHERE id = $1 AND state = 'running' AND lease_token = $2 AND lease_until > $4 \
                     RETURNING id",
                )
                .await?,
            cancel: client
                .prepare(
                    "UPDATE actor_jobs SET state = 'cancelled', updated_at = $3 \
                     WHERE id = $1 AND queue = $2 AND state IN ('queued', 'failed') RETURNING id",
                )
                .await?,
            requeue: client
                .prepare(
                    "UPDATE actor_jobs SET state = 'queued', attempt = 0, error = NULL, retry_at = NULL, \
                     visible_at = $3, updated_at = $3 \
                     WHERE id = $1 AND queue = $2 AND state IN ('dead', 'cancelled') RETURNING id",
                )
                .await?,
            state_of: client
                .prepare("SELECT state FROM actor_jobs WHERE id = $1 AND queue = $2")
                .await?,
            status: client
                .prepare(&format!("SELECT {COLUMNS} FROM actor_jobs WHERE id = $1 AND queue = $2"))
                .await?,
            list: client
                .prepare(
                    "SELECT id FROM actor_jobs WHERE queue = $1 AND state = $2 ORDER BY id LIMIT $3",
                )
                .await?,
            stats: client
                .prepare(
                    "SELECT state, count(*) AS jobs, \
                       count(*) FILTER (WHERE state IN ('queued', 'failed') AND visible_at <= $2) AS due, \
                       min(visible_at) FILTER (WHERE state IN ('queued', 'failed') AND visible_at <= $2) AS oldest \
                     FROM actor_jobs WHERE queue = $1 GROUP BY state",
                )
                .await?,
            next_due: client
                .prepare(
                    "SELECT least( \
                       (SELECT min(visible_at) FROM actor_jobs WHERE queue = $1 AND state IN ('queued', 'failed')), \
                       (SELECT min(lease_until) FROM actor_jobs WHERE queue = $1 AND state = 'running')) AS next",
                )
                .await?,
            purge: client
                .prepare(
                    "WITH gone AS ( \
                       DELETE FROM actor_jobs WHERE id IN ( \
                         SELECT id FROM actor_jobs WHERE queue = $1 \
                           AND state IN ('succeeded', 'dead', 'cancelled') AND updated_at <= $2 \
                         ORDER BY updated_at LIMIT $3) \
                       RETURNING id) \
                     SELECT count(*) AS removed FROM gone",
                )
                .await?,
            reserve_ids: client
                .prepare(
                    "SELECT nextval('actor_jobs_id_seq') AS id FROM generate_series(1, $1::integer) \
                     ORDER BY 1",
                )
                .await?,
            enqueue_many: client
                .prepare(
                    "INSERT INTO actor_jobs (id, queue, key, idempotency_key, payload, state, max_attempts, \
                       created_at, updated_at, visible_at) \
                     SELECT j.id, $1, j.key, j.idem, j.payload, 'queued', j.attempts, $7, $7, j.visible \
                     FROM unnest($2::bigint[], $3::text[], $4::text[], $5::jsonb[], $6::integer[], $8::bigint[]) \
                       AS j(id, key, idem, payload, attempts, visible) \
                     ON CONFLICT (queue, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
                     RETURNING id",
                )
                .await?,
        })
    }
}
