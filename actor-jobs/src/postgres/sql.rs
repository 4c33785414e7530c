//! The statements of the PostgreSQL backend, prepared once per connection. Each operation is
//! one statement (or one transaction), so a dropped call or a lost connection leaves no
//! half-made change: the server applies all of it or none.
//!
//! Times are parameters computed by the client (see the [clock](crate) notes); backoff comes
//! from the client too, as an array of delays by attempt, so both backends back off alike.
//!
//! A statement that makes a job leasable (enqueue, requeue, an acknowledgement that frees a
//! key or schedules a retry) also sends a notification on the queue's channel, delivered to
//! the listening processes when its transaction commits (`LISTEN`/`NOTIFY`).

use tokio_postgres::{Client, Statement};

/// The columns a job record is read from.
pub(super) const COLUMNS: &str = "id, key, idempotency_key, payload, state, result, error, attempt, \
    max_attempts, priority, grp, created_at, updated_at, visible_at, retry_at, started_at, lease_token, lease_until, trace";

/// The state after a failed or expired attempt: dead at the last one.
const RETRY_STATE: &str = "CASE WHEN attempt >= max_attempts THEN 'dead' ELSE 'failed' END";

/// Only the oldest unfinished job of a key may run: per-key order across processes.
pub(super) const KEY_TURN: &str = "(j.key IS NULL OR j.id = (SELECT min(k.id) FROM actor_jobs k \
    WHERE k.queue = j.queue AND k.key = j.key AND k.state IN ('queued', 'running', 'failed')))";

/// `$delays[attempt]` milliseconds after `$now`: when a failed attempt runs again.
fn retry_at(now: &str, delays: &str) -> String {
    format!("{now}::bigint + ({delays}::bigint[])[LEAST(attempt, 31)]")
}

/// Every statement, prepared on one connection.
pub(super) struct Statements {
    pub(super) enqueue: Statement,
    pub(super) by_idempotency: Statement,
    pub(super) lease: Statement,
    pub(super) acknowledge: Statement,
    pub(super) cancel: Statement,
    pub(super) snooze: Statement,
    pub(super) requeue: Statement,
    pub(super) state_of: Statement,
    pub(super) status: Statement,
    pub(super) list: Statement,
    pub(super) recent: Statement,
    pub(super) stats: Statement,
    pub(super) next_due: Statement,
    pub(super) busy: Statement,
    pub(super) purge: Statement,
    pub(super) reserve_ids: Statement,
    pub(super) enqueue_many: Statement,
}

impl Statements {
    pub(super) async fn prepare(client: &Client) -> Result<Statements, tokio_postgres::Error> {
        let ack_retry = retry_at("$1", "$8");
        Ok(Statements {
            enqueue: client
                .prepare(
                    "WITH ins AS ( \
                       INSERT INTO actor_jobs (queue, key, idempotency_key, payload, state, max_attempts, \
                         created_at, updated_at, visible_at, priority, rank, grp, trace) \
                       VALUES ($1, $2, $3, $4, 'queued', $5, $6, $6, $7, $9, $10, $11, $12) \
                       ON CONFLICT (queue, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
                       RETURNING id), \
                     woke AS (SELECT pg_notify($8, '') FROM ins LIMIT 1) \
                     SELECT ins.id FROM ins CROSS JOIN (SELECT count(*) FROM woke) w",
                )
                .await?,
            by_idempotency: client
                .prepare("SELECT id FROM actor_jobs WHERE queue = $1 AND idempotency_key = $2")
                .await?,
            lease: client
                .prepare(&format!(
                    "WITH expired_dead AS ( \
                       UPDATE actor_jobs SET state = 'dead', error = $6, retry_at = NULL, \
                         lease_token = NULL, lease_until = NULL, updated_at = $2 \
                       WHERE queue = $1 AND state = 'running' AND lease_until <= $2 \
                         AND attempt >= max_attempts \
                       RETURNING id, attempt, leased_by, started_at), \
                     expired AS ( \
                       SELECT j.id, j.attempt AS prev, j.leased_by AS prev_worker, \
                         j.started_at AS prev_started FROM actor_jobs j \
                       WHERE j.queue = $1 AND j.state = 'running' AND j.lease_until <= $2 \
                         AND j.attempt < j.max_attempts AND {KEY_TURN} \
                       ORDER BY j.lease_until, j.id LIMIT $3 FOR UPDATE SKIP LOCKED), \
                     ready AS ( \
                       SELECT j.id, NULL::integer AS prev, NULL::text AS prev_worker, \
                         NULL::bigint AS prev_started FROM actor_jobs j \
                       WHERE j.queue = $1 AND j.state IN ('queued', 'failed') AND j.visible_at <= $2 \
                         AND {KEY_TURN} \
                       ORDER BY j.rank, j.id \
                       LIMIT GREATEST($3 - (SELECT count(*) FROM expired), 0) FOR UPDATE SKIP LOCKED), \
                     picked AS (SELECT * FROM expired UNION ALL SELECT * FROM ready), \
                     leased AS ( \
                       UPDATE actor_jobs j SET state = 'running', attempt = j.attempt + 1, \
                         lease_token = nextval('actor_jobs_lease_token'), lease_until = $4, \
                         leased_by = $5, started_at = $2, updated_at = $2, retry_at = NULL, \
                         error = CASE WHEN picked.prev IS NULL THEN j.error ELSE $6 END \
                       FROM picked WHERE j.id = picked.id \
                       RETURNING j.id, j.key, j.idempotency_key, j.payload, j.attempt, j.lease_token, \
                         j.rank, j.trace), \
                     history AS ( \
                       INSERT INTO actor_job_attempts (job_id, attempt, worker, started_at, ended_at, outcome) \
                       SELECT id, attempt, coalesce(leased_by, ''), coalesce(started_at, $2), $2, 'expired' \
                         FROM expired_dead \
                       UNION ALL \
                       SELECT id, prev, coalesce(prev_worker, ''), coalesce(prev_started, $2), $2, 'expired' \
                         FROM picked WHERE prev IS NOT NULL AND id IN (SELECT id FROM leased)) \
                     SELECT id, key, idempotency_key, payload, attempt, lease_token, trace FROM leased \
                     ORDER BY rank, id"
                ))
                .await?,
            // A job is running exactly while it has a lease token (every other transition clears
            // it), so matching the token is the state check. Naming `state = 'running'` here
            // would let the planner pick the partial index of running jobs, whose row estimate
            // is stale under churn, and loop over every running job for each batch.
            acknowledge: client
                .prepare(&format!(
                    "WITH c AS (SELECT * FROM unnest($2::bigint[], $3::bigint[], $4::jsonb[]) AS c(id, token, result)), \
                     done AS ( \
                       UPDATE actor_jobs j SET state = 'succeeded', result = c.result, error = NULL, \
                         lease_token = NULL, lease_until = NULL, updated_at = $1 \
                       FROM c WHERE j.id = c.id AND j.lease_token = c.token \
                         AND j.lease_until > $1 \
                       RETURNING j.id, j.attempt, j.key, j.leased_by, j.started_at), \
                     f AS (SELECT * FROM unnest($5::bigint[], $6::bigint[], $7::text[]) AS f(id, token, error)), \
                     failed AS ( \
                       UPDATE actor_jobs j SET state = {RETRY_STATE}, error = f.error, \
                         retry_at = CASE WHEN j.attempt >= j.max_attempts THEN NULL ELSE {ack_retry} END, \
                         visible_at = CASE WHEN j.attempt >= j.max_attempts THEN j.visible_at ELSE {ack_retry} END, \
                         rank = CASE WHEN j.attempt >= j.max_attempts THEN j.rank \
                           ELSE {ack_retry} - j.priority::bigint * $13::bigint END, \
                         lease_token = NULL, lease_until = NULL, updated_at = $1 \
                       FROM f WHERE j.id = f.id AND j.lease_token = f.token \
                         AND j.lease_until > $1 \
                       RETURNING j.id, j.attempt, j.state, j.visible_at, j.key, j.leased_by, j.started_at), \
                     history AS ( \
                       INSERT INTO actor_job_attempts (job_id, attempt, worker, started_at, ended_at, outcome) \
                       SELECT id, attempt, coalesce(leased_by, ''), coalesce(started_at, $1), $1, 'succeeded' FROM done \
                       UNION ALL \
                       SELECT id, attempt, coalesce(leased_by, ''), coalesce(started_at, $1), $1, 'failed' FROM failed), \
                     e AS (SELECT * FROM unnest($9::bigint[], $10::bigint[], $11::bigint[]) AS e(id, token, until)), \
                     extended AS ( \
                       UPDATE actor_jobs j SET lease_until = e.until, updated_at = $1 \
                       FROM e WHERE j.id = e.id AND j.lease_token = e.token \
                         AND j.lease_until > $1 \
                       RETURNING j.id), \
                     woke AS ( \
                       SELECT pg_notify($12, '') FROM ( \
                         SELECT 1 FROM done WHERE key IS NOT NULL \
                         UNION ALL SELECT 1 FROM failed WHERE state = 'failed' OR key IS NOT NULL) w LIMIT 1) \
                     SELECT 'c'::text AS kind, id, NULL::text AS state, NULL::bigint AS visible_at FROM done \
                     UNION ALL SELECT 'f', id, state, visible_at FROM failed \
                     UNION ALL SELECT 'e', id, NULL, NULL FROM extended \
                     UNION ALL SELECT 'n', 0, NULL, NULL FROM woke"
                ))
                .await?,
            // A running job is cancelled too: its lease goes (its worker's next change fails), its
            // attempt is recorded, and the notification names it, so that the worker's
            // process wakes the handler waiting on `cancelled`.
            cancel: client
                .prepare(
                    "WITH old AS ( \
                       SELECT id, state, attempt, leased_by, started_at FROM actor_jobs \
                       WHERE id = $1 AND queue = $2 AND state IN ('queued', 'failed', 'running') FOR UPDATE), \
                     gone AS ( \
                       UPDATE actor_jobs j SET state = 'cancelled', updated_at = $3, lease_token = NULL, \
                         lease_until = NULL, retry_at = NULL \
                       FROM old WHERE j.id = old.id RETURNING j.id, j.key, old.state AS was, old.attempt, \
                         old.leased_by, old.started_at), \
                     history AS ( \
                       INSERT INTO actor_job_attempts (job_id, attempt, worker, started_at, ended_at, outcome) \
                       SELECT id, attempt, coalesce(leased_by, ''), coalesce(started_at, $3), $3, 'cancelled' \
                       FROM gone WHERE was = 'running'), \
                     woke AS ( \
                       SELECT pg_notify($4, CASE WHEN was = 'running' THEN 'cancel:' || id ELSE '' END) \
                       FROM gone WHERE was = 'running' OR key IS NOT NULL) \
                     SELECT gone.id FROM gone CROSS JOIN (SELECT count(*) FROM woke) w",
                )
                .await?,
            snooze: client
                .prepare(
                    "WITH back AS ( \
                       UPDATE actor_jobs SET state = 'queued', attempt = attempt - 1, visible_at = $4, \
                         rank = $4 - priority::bigint * $5::bigint, lease_token = NULL, lease_until = NULL, \
                         updated_at = $3 \
                       WHERE id = $1 AND lease_token = $2 AND lease_until > $3 \
                       RETURNING id, attempt + 1 AS attempt, leased_by, started_at), \
                     history AS ( \
                       INSERT INTO actor_job_attempts (job_id, attempt, worker, started_at, ended_at, outcome) \
                       SELECT id, attempt, coalesce(leased_by, ''), coalesce(started_at, $3), $3, 'snoozed' \
                       FROM back), \
                     woke AS (SELECT pg_notify($6, '') FROM back) \
                     SELECT back.id FROM back CROSS JOIN (SELECT count(*) FROM woke) w",
                )
                .await?,
            requeue: client
                .prepare(
                    "WITH back AS ( \
                       UPDATE actor_jobs SET state = 'queued', attempt = 0, error = NULL, retry_at = NULL, \
                         visible_at = $3, rank = $3 - priority::bigint * $5::bigint, updated_at = $3 \
                       WHERE id = $1 AND queue = $2 AND state IN ('dead', 'cancelled') RETURNING id), \
                     woke AS (SELECT pg_notify($4, '') FROM back) \
                     SELECT back.id FROM back CROSS JOIN (SELECT count(*) FROM woke) w",
                )
                .await?,
            state_of: client
                .prepare("SELECT state FROM actor_jobs WHERE id = $1 AND queue = $2")
                .await?,
            status: client
                .prepare(&format!("SELECT {COLUMNS} FROM actor_jobs WHERE id = $1 AND queue = $2"))
                .await?,
            list: client.prepare(&ids_in_state("ASC")).await?,
            recent: client.prepare(&ids_in_state("DESC")).await?,
            stats: client
                .prepare(
                    "SELECT state, count(*) AS jobs, count(*) FILTER (WHERE visible_at <= $2) AS due, \
                       min(visible_at) FILTER (WHERE visible_at <= $2) AS oldest \
                     FROM actor_jobs WHERE queue = $1 AND state IN ('queued', 'failed') GROUP BY state \
                     UNION ALL \
                     SELECT state, count(*), 0, NULL FROM actor_jobs \
                     WHERE queue = $1 AND state = 'running' GROUP BY state \
                     UNION ALL \
                     SELECT state, count(*), 0, NULL FROM actor_jobs \
                     WHERE queue = $1 AND state IN ('succeeded', 'dead', 'cancelled') GROUP BY state",
                )
                .await?,
            next_due: client
                .prepare(
                    "SELECT least( \
                       (SELECT min(visible_at) FROM actor_jobs WHERE queue = $1 AND state IN ('queued', 'failed')), \
                       (SELECT min(lease_until) FROM actor_jobs WHERE queue = $1 AND state = 'running')) AS next",
                )
                .await?,
            busy: client
                .prepare(
                    "SELECT EXISTS (SELECT 1 FROM actor_jobs WHERE queue = $1 AND state IN ('queued', 'failed')) \
                       OR EXISTS (SELECT 1 FROM actor_jobs WHERE queue = $1 AND state = 'running') AS busy",
                )
                .await?,
            purge: client
                .prepare(
                    "WITH gone AS ( \
                       DELETE FROM actor_jobs WHERE id IN ( \
                         SELECT id FROM actor_jobs WHERE queue = $1 \
                           AND state IN ('succeeded', 'dead', 'cancelled') AND updated_at <= $2 \
                         ORDER BY updated_at LIMIT $3) \
                       RETURNING id), \
                     history AS (DELETE FROM actor_job_attempts WHERE job_id IN (SELECT id FROM gone)) \
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
                    "WITH ins AS ( \
                       INSERT INTO actor_jobs (id, queue, key, idempotency_key, payload, state, max_attempts, \
                         created_at, updated_at, visible_at, priority, rank, grp, trace) \
                       SELECT j.id, $1, j.key, j.idem, j.payload, 'queued', j.attempts, $7, $7, j.visible, \
                         j.priority, j.rank, j.grp, j.trace \
                       FROM unnest($2::bigint[], $3::text[], $4::text[], $5::jsonb[], $6::integer[], $8::bigint[], \
                         $10::smallint[], $11::bigint[], $12::text[], $13::jsonb[]) \
                         AS j(id, key, idem, payload, attempts, visible, priority, rank, grp, trace) \
                       ON CONFLICT (queue, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
                       RETURNING id), \
                     woke AS (SELECT pg_notify($9, '') FROM ins LIMIT 1) \
                     SELECT ins.id FROM ins CROSS JOIN (SELECT count(*) FROM woke) w",
                )
                .await?,
        })
    }
}

/// Up to `$3` ids of queue `$1`'s jobs in state `$2`, in id order `direction` (`ASC` or
/// `DESC`). Each branch names the states of one partial index (ready, leases, finished), so
/// that the statement reads that index and never the whole table.
fn ids_in_state(direction: &str) -> String {
    format!(
        "SELECT id FROM ( \
           SELECT id, state FROM actor_jobs WHERE queue = $1 AND state IN ('queued', 'failed') \
           UNION ALL SELECT id, state FROM actor_jobs WHERE queue = $1 AND state = 'running' \
           UNION ALL SELECT id, state FROM actor_jobs WHERE queue = $1 \
             AND state IN ('succeeded', 'dead', 'cancelled')) j \
         WHERE state = $2 ORDER BY id {direction} LIMIT $3"
    )
}
