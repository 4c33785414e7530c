//! Leasing under limits ([`QueueOptions::limit`](crate::QueueOptions::limit) and the group
//! limits): one transaction on a connection of its own, which first takes the queue's
//! advisory lock, so that leasers of every process take turns, and then leases in one
//! statement that counts, after the lock, the running jobs and the recent starts of each
//! group. Counting after the lock is what makes the limits hold across processes: the
//! statement's snapshot is taken after the previous leaser committed.
//!
//! A group at its limit holds back none of the others: its jobs are left out before the due
//! jobs are taken in rank order. Of the others, at most 1,000 due jobs are looked at per lease.

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};

use super::sql::KEY_TURN;
use crate::error::JobError;
use crate::options::{Limit, Limits};

/// A connection for limited leases, and its statement.
pub(super) struct LimitedLeaser {
    client: Client,
    lease: Statement,
}

/// The limits as the statement's parameters: a limit is `-1` where there is none.
pub(super) struct LimitParams {
    groups: Vec<String>,
    concurrency: Vec<i32>,
    starts: Vec<i32>,
    windows: Vec<i64>,
    every: [i64; 3],
    queue: [i64; 3],
    longest_window: i64,
}

fn parts(limit: Option<Limit>) -> [i64; 3] {
    match limit {
        None => [-1, -1, 0],
        Some(limit) => {
            let concurrency = limit.concurrency.map_or(-1, i64::from);
            let (starts, window) = limit.starts.map_or((-1, 0), |(starts, per)| {
                (i64::from(starts), i64::try_from(per.as_millis()).unwrap_or(i64::MAX))
            });
            [concurrency, starts, window]
        }
    }
}

impl LimitParams {
    pub(super) fn new(limits: &Limits) -> Self {
        let mut params = LimitParams {
            groups: Vec::new(),
            concurrency: Vec::new(),
            starts: Vec::new(),
            windows: Vec::new(),
            every: parts(limits.every_group),
            queue: parts(limits.queue),
            longest_window: 0,
        };
        for (group, limit) in &limits.groups {
            let [concurrency, starts, window] = parts(Some(*limit));
            params.groups.push(group.clone());
            params.concurrency.push(i32::try_from(concurrency).unwrap_or(i32::MAX));
            params.starts.push(i32::try_from(starts).unwrap_or(i32::MAX));
            params.windows.push(window);
        }
        params.longest_window = params
            .windows
            .iter()
            .copied()
            .chain([params.every[2], params.queue[2]])
            .max()
            .unwrap_or(0);
        params
    }
}

/// The room a limit leaves, in SQL: `conc`, `starts`, `win` name its parts, `running` and
/// `started` what counts against them; NULL for no limit.
fn room(conc: &str, starts: &str, win: &str, running: &str, started: &str) -> String {
    format!(
        "LEAST(CASE WHEN {conc} < 0 THEN NULL ELSE {conc} - ({running}) END, \
               CASE WHEN {starts} < 0 THEN NULL ELSE {starts} - ({started}) END)",
        started = started.replace("{win}", win),
    )
}

impl LimitedLeaser {
    pub(super) async fn connect(url: &str) -> Result<Self, JobError> {
        let (client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .map_err(|e| JobError::backend("connecting for limited leases", e))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "PostgreSQL connection for limited leases ended");
            }
        });
        let group_room = room(
            "d.conc",
            "d.starts",
            "d.win",
            "SELECT count(*) FROM actor_jobs x WHERE x.queue = $1 AND x.state = 'running' AND x.grp = c.grp",
            "SELECT count(*) FROM actor_job_starts s WHERE s.queue = $1 AND s.grp = c.grp AND s.at > $2 - {win}",
        );
        let queue_room = room(
            "$14::bigint",
            "$15::bigint",
            "$16::bigint",
            "SELECT count(*) FROM actor_jobs x WHERE x.queue = $1 AND x.state = 'running'",
            "SELECT count(*) FROM actor_job_starts s WHERE s.queue = $1 AND s.grp = '' AND s.at > $2 - {win}",
        );
        let statement = format!(
            "WITH lim AS (SELECT * FROM unnest($7::text[], $8::integer[], $9::integer[], $10::bigint[]) \
               AS l(grp, conc, starts, win)), \
             expired_dead AS ( \
               UPDATE actor_jobs SET state = 'dead', error = $6, retry_at = NULL, \
                 lease_token = NULL, lease_until = NULL, updated_at = $2 \
               WHERE queue = $1 AND state = 'running' AND lease_until <= $2 AND attempt >= max_attempts \
               RETURNING id, attempt, leased_by, started_at), \
             expired AS ( \
               SELECT j.id, j.attempt AS prev, j.leased_by AS prev_worker, j.started_at AS prev_started \
               FROM actor_jobs j WHERE j.queue = $1 AND j.state = 'running' AND j.lease_until <= $2 \
                 AND j.attempt < j.max_attempts AND {KEY_TURN} \
               ORDER BY j.lease_until, j.id LIMIT $3 FOR UPDATE SKIP LOCKED), \
             due AS ( \
               SELECT j.id, j.grp, j.rank FROM actor_jobs j \
               WHERE j.queue = $1 AND j.state IN ('queued', 'failed') AND j.visible_at <= $2 AND {KEY_TURN} \
               ORDER BY j.rank, j.id LIMIT 1000 FOR UPDATE SKIP LOCKED), \
             limits AS ( \
               SELECT g.grp, coalesce(l.conc, $11::integer) AS conc, coalesce(l.starts, $12::integer) AS starts, \
                 coalesce(l.win, $13::bigint) AS win \
               FROM (SELECT DISTINCT grp FROM due WHERE grp IS NOT NULL) g LEFT JOIN lim l ON l.grp = g.grp), \
             rooms AS (SELECT c.grp, {group_room} AS room FROM limits c CROSS JOIN LATERAL (SELECT c.conc, c.starts, c.win) d), \
             ranked AS ( \
               SELECT u.id, u.rank, r.room, row_number() OVER (PARTITION BY u.grp ORDER BY u.rank, u.id) AS nth \
               FROM due u LEFT JOIN rooms r ON r.grp = u.grp), \
             ready AS ( \
               SELECT id, NULL::integer AS prev, NULL::text AS prev_worker, NULL::bigint AS prev_started \
               FROM ranked WHERE room IS NULL OR nth <= room ORDER BY rank, id \
               LIMIT GREATEST(LEAST($3, coalesce(({queue_room}), $3)) - (SELECT count(*) FROM expired), 0)), \
             picked AS (SELECT * FROM expired UNION ALL SELECT * FROM ready), \
             leased AS ( \
               UPDATE actor_jobs j SET state = 'running', attempt = j.attempt + 1, \
                 lease_token = nextval('actor_jobs_lease_token'), lease_until = $4, \
                 leased_by = $5, started_at = $2, updated_at = $2, retry_at = NULL, \
                 error = CASE WHEN picked.prev IS NULL THEN j.error ELSE $6 END \
               FROM picked WHERE j.id = picked.id \
               RETURNING j.id, j.key, j.idempotency_key, j.payload, j.attempt, j.lease_token, j.rank, j.grp, \
                 j.trace), \
             history AS ( \
               INSERT INTO actor_job_attempts (job_id, attempt, worker, started_at, ended_at, outcome) \
               SELECT id, attempt, coalesce(leased_by, ''), coalesce(started_at, $2), $2, 'expired' FROM expired_dead \
               UNION ALL \
               SELECT id, prev, coalesce(prev_worker, ''), coalesce(prev_started, $2), $2, 'expired' \
                 FROM picked WHERE prev IS NOT NULL AND id IN (SELECT id FROM leased)), \
             started AS ( \
               INSERT INTO actor_job_starts (queue, grp, at) \
               SELECT $1, '', $2 FROM leased WHERE $15::bigint >= 0 \
               UNION ALL SELECT $1, grp, $2 FROM leased WHERE grp IS NOT NULL), \
             forgotten AS (DELETE FROM actor_job_starts WHERE queue = $1 AND at <= $2 - $17::bigint) \
             SELECT id, key, idempotency_key, payload, attempt, lease_token, trace FROM leased \
             ORDER BY rank, id"
        );
        let lease = client
            .prepare(&statement)
            .await
            .map_err(|e| JobError::backend("preparing the limited lease", e))?;
        Ok(LimitedLeaser { client, lease })
    }

    /// Whether the connection is gone (the next lease reconnects).
    pub(super) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Leases up to `max` jobs within the limits, in one transaction under the queue's lock.
    #[expect(clippy::too_many_arguments, reason = "the lease statement's parameters")]
    pub(super) async fn lease(
        &mut self,
        queue: &str,
        now: i64,
        max: i64,
        until: i64,
        worker: &str,
        expired: &str,
        limits: &LimitParams,
    ) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        let tx = self.client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock(7412252, hashtext($1))", &[&queue]).await?;
        let [every_conc, every_starts, every_win] = limits.every;
        let every_conc = i32::try_from(every_conc).unwrap_or(i32::MAX);
        let every_starts = i32::try_from(every_starts).unwrap_or(i32::MAX);
        let [queue_conc, queue_starts, queue_win] = limits.queue;
        let params: [&(dyn ToSql + Sync); 17] = [
            &queue,
            &now,
            &max,
            &until,
            &worker,
            &expired,
            &limits.groups,
            &limits.concurrency,
            &limits.starts,
            &limits.windows,
            &every_conc,
            &every_starts,
            &every_win,
            &queue_conc,
            &queue_starts,
            &queue_win,
            &limits.longest_window,
        ];
        let rows = tx.query(&self.lease, &params).await?;
        tx.commit().await?;
        Ok(rows)
    }
}
