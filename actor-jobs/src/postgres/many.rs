//! Bulk enqueue: ids reserved in one statement, every row inserted by one more (`unnest` of
//! arrays), idempotency keys honoured per job.

use std::collections::HashMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_postgres::types::ToSql;

use super::rows::{self, get, job_id};
use super::{PgQueue, ms};
use crate::backend::JobBackend;
use crate::error::JobError;
use crate::model::JobId;
use crate::options::EnqueueOptions;

pub(super) async fn enqueue_many<P, R>(
    queue: &PgQueue<P, R>,
    jobs: Vec<(P, EnqueueOptions)>,
) -> Result<Vec<JobId>, JobError>
where
    P: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let now = queue.now();
    let retry = queue.inner.options.queue.retry;
    let count = i32::try_from(jobs.len()).map_err(|_| {
        JobError::backend(
            "enqueueing jobs",
            std::io::Error::other("more than 2^31 jobs in one batch"),
        )
    })?;
    let (name, channel) = (&queue.inner.name, &queue.inner.channel);
    let reserved = queue
        .inner
        .pool
        .with("reserving job ids", |live| async move {
            live.client.query(&live.st.reserve_ids, &[&count]).await
        })
        .await?;
    let ids: Vec<i64> = reserved.iter().map(|row| get(row, "id")).collect::<Result<_, _>>()?;
    let mut keys = Vec::with_capacity(jobs.len());
    let mut idems = Vec::with_capacity(jobs.len());
    let mut payloads = Vec::with_capacity(jobs.len());
    let mut attempts = Vec::with_capacity(jobs.len());
    let mut visible = Vec::with_capacity(jobs.len());
    let mut priorities = Vec::with_capacity(jobs.len());
    let mut ranks = Vec::with_capacity(jobs.len());
    let mut groups = Vec::with_capacity(jobs.len());
    let mut traces = Vec::with_capacity(jobs.len());
    let aging = queue.inner.options.queue.aging_ms();
    for (payload, options) in &jobs {
        let caller = options.trace.is_none().then(actor_core::trace::current_context).flatten();
        traces.push(rows::trace_json(options.trace.as_ref().or(caller.as_ref())));
        let due = options.visible_from(now);
        priorities.push(options.priority);
        ranks.push(crate::options::rank(due, options.priority, aging));
        groups.push(options.group.clone());
        payloads.push(rows::encode(JobId(0), "payload", payload)?);
        attempts.push(i32::try_from(options.attempts_under(&retry)).unwrap_or(i32::MAX));
        visible.push(ms(due));
        keys.push(options.key.clone());
        idems.push(options.idempotency_key.clone());
    }
    let (ids_ref, keys_ref, idems_ref, payloads_ref, attempts_ref, visible_ref) =
        (&ids, &keys, &idems, &payloads, &attempts, &visible);
    let (priorities_ref, ranks_ref, groups_ref, traces_ref) =
        (&priorities, &ranks, &groups, &traces);
    let inserted = queue
        .inner
        .pool
        .with("enqueueing jobs", |live| async move {
            let params: [&(dyn ToSql + Sync); 13] = [
                name,
                ids_ref,
                keys_ref,
                idems_ref,
                payloads_ref,
                attempts_ref,
                &ms(now),
                visible_ref,
                channel,
                priorities_ref,
                ranks_ref,
                groups_ref,
                traces_ref,
            ];
            live.client.query(&live.st.enqueue_many, &params).await
        })
        .await?;
    let inserted: std::collections::HashSet<i64> =
        inserted.iter().map(|row| get(row, "id")).collect::<Result<_, _>>()?;
    // Rows not inserted had an idempotency key already known (or repeated in the batch).
    let mut existing: HashMap<String, JobId> = HashMap::new();
    let missing: Vec<String> = ids
        .iter()
        .zip(&idems)
        .filter(|(id, _)| !inserted.contains(id))
        .filter_map(|(_, idem)| idem.clone())
        .collect();
    if !missing.is_empty() {
        let missing_ref = &missing;
        let found = queue
            .inner
            .pool
            .with("finding jobs by their idempotency keys", |live| async move {
                live.client
                    .query(
                        "SELECT id, idempotency_key FROM actor_jobs \
                         WHERE queue = $1 AND idempotency_key = ANY($2)",
                        &[name, missing_ref],
                    )
                    .await
            })
            .await?;
        for row in &found {
            existing.insert(get(row, "idempotency_key")?, job_id(row, "id")?);
        }
    }
    queue.changed();
    ids.iter()
        .zip(&idems)
        .map(|(&id, idem)| {
            if inserted.contains(&id) {
                return Ok(JobId(u64::try_from(id).unwrap_or(0)));
            }
            idem.as_ref().and_then(|key| existing.get(key).copied()).ok_or_else(|| {
                JobError::backend(
                    "enqueueing jobs",
                    std::io::Error::other("a job of the batch was neither inserted nor found"),
                )
            })
        })
        .collect()
}
