//! Batched acknowledgements: the completions, failures and lease extensions of every worker
//! of a process go to one task, which writes them in one statement (one transaction) per
//! batch and answers each caller once that transaction has committed.
//!
//! A batch is cut when it holds [`PgOptions::ack_batch`](super::PgOptions::ack_batch) items,
//! when [`PgOptions::ack_window`](super::PgOptions::ack_window) has passed since its first
//! item, or when an item names a job already in it (so that no statement changes one row
//! twice). Items that arrive while a batch is being written wait for the next one: the busier
//! the process, the more acknowledgements share a commit.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_postgres::types::ToSql;

use super::pool::Pool;
use super::rows::{self, get};
use crate::error::JobError;
use crate::model::{FailOutcome, JobId, JobStatus, Lease, Millis};

/// What an acknowledgement does to its job.
pub(super) enum Change {
    Complete(serde_json::Value),
    Fail(String),
    Extend { until: i64 },
}

/// One acknowledgement and its caller's answer slot.
pub(super) struct Ack {
    pub(super) lease: Lease,
    pub(super) change: Change,
    pub(super) answer: oneshot::Sender<Result<Option<FailOutcome>, NotApplied>>,
}

/// Why an acknowledgement changed nothing.
pub(super) enum NotApplied {
    /// Its lease is not the job's current one (expired or superseded), or the job is gone.
    Lease,
    /// The batch could not be written.
    Failed(JobError),
}

/// How the acknowledger behaves.
pub(super) struct Settings {
    pub(super) max: usize,
    pub(super) window: Duration,
    pub(super) channel: String,
    pub(super) delays: Vec<i64>,
    /// Milliseconds of waiting one priority level is worth.
    pub(super) aging: i64,
    pub(super) now: Arc<dyn Fn() -> Millis + Send + Sync>,
}

/// Runs until every sender is gone, then writes what is left and returns.
pub(super) async fn run(pool: Arc<Pool>, settings: Settings, mut rx: mpsc::Receiver<Ack>) {
    let mut carried: Option<Ack> = None;
    loop {
        let first = match carried.take() {
            Some(ack) => ack,
            None => match rx.recv().await {
                Some(ack) => ack,
                None => return,
            },
        };
        let mut batch = vec![first];
        let mut ids: HashSet<JobId> = batch.iter().map(|ack| ack.lease.id).collect();
        let deadline = Instant::now() + settings.window;
        'fill: while batch.len() < settings.max {
            let next = match rx.try_recv() {
                Ok(ack) => Some(ack),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
                Err(mpsc::error::TryRecvError::Empty) if settings.window.is_zero() => None,
                Err(mpsc::error::TryRecvError::Empty) => {
                    tokio::time::timeout_at(deadline, rx.recv()).await.ok().flatten()
                }
            };
            let Some(ack) = next else { break 'fill };
            if !ids.insert(ack.lease.id) {
                // The same job twice: it goes in the next batch.
                carried = Some(ack);
                break 'fill;
            }
            batch.push(ack);
        }
        write(&pool, &settings, batch).await;
    }
}

/// Writes one batch and answers every item of it.
async fn write(pool: &Pool, settings: &Settings, batch: Vec<Ack>) {
    let now = (settings.now)();
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    let (mut c_ids, mut c_tokens, mut c_results) = (Vec::new(), Vec::new(), Vec::new());
    let (mut f_ids, mut f_tokens, mut f_errors) = (Vec::new(), Vec::new(), Vec::new());
    let (mut e_ids, mut e_tokens, mut e_until) = (Vec::new(), Vec::new(), Vec::new());
    for ack in &batch {
        let id = rows::db_id(ack.lease.id);
        let token = i64::try_from(ack.lease.token).unwrap_or(i64::MAX);
        match &ack.change {
            Change::Complete(result) => {
                c_ids.push(id);
                c_tokens.push(token);
                c_results.push(result.clone());
            }
            Change::Fail(error) => {
                f_ids.push(id);
                f_tokens.push(token);
                f_errors.push(error.clone());
            }
            Change::Extend { until } => {
                e_ids.push(id);
                e_tokens.push(token);
                e_until.push(*until);
            }
        }
    }
    let written = {
        let (c_ids, c_tokens, c_results) = (&c_ids, &c_tokens, &c_results);
        let (f_ids, f_tokens, f_errors) = (&f_ids, &f_tokens, &f_errors);
        let (e_ids, e_tokens, e_until) = (&e_ids, &e_tokens, &e_until);
        let (delays, channel, aging) = (&settings.delays, &settings.channel, &settings.aging);
        pool.with("acknowledging jobs", |live| async move {
            let params: [&(dyn ToSql + Sync); 13] = [
                &now, c_ids, c_tokens, c_results, f_ids, f_tokens, f_errors, delays, e_ids,
                e_tokens, e_until, channel, aging,
            ];
            live.client.query(&live.st.acknowledge, &params).await
        })
        .await
    };
    let rows = match written {
        Ok(rows) => rows,
        Err(error) => {
            for ack in batch {
                let _ = ack.answer.send(Err(NotApplied::Failed(error.clone())));
            }
            return;
        }
    };
    let mut applied: std::collections::HashMap<i64, Option<FailOutcome>> =
        std::collections::HashMap::with_capacity(rows.len());
    for row in &rows {
        let outcome = outcome(row);
        match outcome {
            Ok(Some((id, outcome))) => {
                applied.insert(id, outcome);
            }
            Ok(None) => {}
            Err(error) => {
                tracing::error!(%error, "an acknowledgement's row could not be read");
            }
        }
    }
    for ack in batch {
        let answer = match applied.get(&rows::db_id(ack.lease.id)) {
            Some(outcome) => Ok(*outcome),
            None => Err(NotApplied::Lease),
        };
        let _ = ack.answer.send(answer);
    }
}

/// A row of the acknowledgement statement: the job and, for a failure, its outcome (`None`
/// for the notification row).
fn outcome(row: &tokio_postgres::Row) -> Result<Option<(i64, Option<FailOutcome>)>, JobError> {
    let kind: String = get(row, "kind")?;
    let id: i64 = get(row, "id")?;
    Ok(match kind.as_str() {
        "c" | "e" => Some((id, None)),
        "f" => {
            let failed = match rows::status(get(row, "state")?)? {
                JobStatus::Dead => FailOutcome::Dead,
                _ => FailOutcome::Retrying {
                    at: u64::try_from(get::<i64>(row, "visible_at")?).unwrap_or(0),
                },
            };
            Some((id, Some(failed)))
        }
        _ => None,
    })
}
