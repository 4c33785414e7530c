//! Rows to values, by column name. Payloads and results are `jsonb`, so `psql` can read them.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

use actor_core::trace::TraceContext;

use crate::error::JobError;
use crate::model::{JobId, JobRecord, JobState, JobStatus, Lease, Leased, Millis};

/// Column `name` of `row`.
pub(super) fn get<'a, T: FromSql<'a>>(row: &'a Row, name: &str) -> Result<T, JobError> {
    row.try_get(name).map_err(|e| JobError::backend("reading a row", e))
}

/// A time column (bigint milliseconds).
fn millis(row: &Row, name: &str) -> Result<Millis, JobError> {
    Ok(u64::try_from(get::<i64>(row, name)?).unwrap_or(0))
}

fn opt_millis(row: &Row, name: &str) -> Result<Option<Millis>, JobError> {
    Ok(get::<Option<i64>>(row, name)?.map(|v| u64::try_from(v).unwrap_or(0)))
}

/// A job id as the database stores it.
pub(super) fn db_id(id: JobId) -> i64 {
    i64::try_from(id.0).unwrap_or(i64::MAX)
}

/// A job id read from column `name`.
pub(super) fn job_id(row: &Row, name: &str) -> Result<JobId, JobError> {
    Ok(JobId(u64::try_from(get::<i64>(row, name)?).unwrap_or(0)))
}

/// Encodes a payload or result.
pub(super) fn encode<T: Serialize>(
    id: JobId,
    what: &'static str,
    value: &T,
) -> Result<serde_json::Value, JobError> {
    serde_json::to_value(value).map_err(|e| JobError::Codec {
        operation: "encode",
        what,
        id,
        source: Arc::new(e),
    })
}

/// Decodes a payload or result.
pub(super) fn decode<T: DeserializeOwned>(
    id: JobId,
    what: &'static str,
    value: serde_json::Value,
) -> Result<T, JobError> {
    serde_json::from_value(value).map_err(|e| JobError::Codec {
        operation: "decode",
        what,
        id,
        source: Arc::new(e),
    })
}

/// A trace context as stored: a JSON object of its text fields.
pub(super) fn trace_json(trace: Option<&TraceContext>) -> Option<serde_json::Value> {
    let fields = trace?.iter().map(|(k, v)| (k.to_owned(), serde_json::Value::from(v)));
    Some(serde_json::Value::Object(fields.collect()))
}

/// The trace context of column `trace`. Fields that are not text are skipped: a context is a
/// hint for tracing, and a damaged one must not stop the job.
fn trace(row: &Row) -> Result<Option<TraceContext>, JobError> {
    let Some(serde_json::Value::Object(fields)) = get::<Option<serde_json::Value>>(row, "trace")?
    else {
        return Ok(None);
    };
    let context: TraceContext = fields
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(v) => Some((k, v)),
            _ => None,
        })
        .collect();
    Ok((!context.is_empty()).then_some(context))
}

/// A status stored as text.
pub(super) fn status(name: &str) -> Result<JobStatus, JobError> {
    JobStatus::from_name(name).ok_or_else(|| {
        JobError::backend(
            "reading a job's state",
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("unknown job state `{name}`"),
            ),
        )
    })
}

/// A full job record (the columns of [`COLUMNS`](super::sql::COLUMNS)).
pub(super) fn record<P: DeserializeOwned, R: DeserializeOwned>(
    row: &Row,
) -> Result<JobRecord<P, R>, JobError> {
    let id = job_id(row, "id")?;
    let error: Option<String> = get(row, "error")?;
    let state = match status(get(row, "state")?)? {
        JobStatus::Queued => JobState::Queued,
        JobStatus::Running => JobState::Running {
            token: u64::try_from(get::<Option<i64>>(row, "lease_token")?.unwrap_or(0)).unwrap_or(0),
            until: opt_millis(row, "lease_until")?.unwrap_or(0),
        },
        JobStatus::Succeeded => {
            let result: Option<serde_json::Value> = get(row, "result")?;
            JobState::Succeeded { result: decode(id, "result", result.unwrap_or_default())? }
        }
        JobStatus::Failed => JobState::Failed {
            error: error.unwrap_or_default(),
            retry_at: opt_millis(row, "retry_at")?.unwrap_or(0),
        },
        JobStatus::Dead => JobState::Dead { error: error.unwrap_or_default() },
        JobStatus::Cancelled => JobState::Cancelled,
    };
    Ok(JobRecord {
        id,
        key: get(row, "key")?,
        idempotency_key: get(row, "idempotency_key")?,
        payload: decode(id, "payload", get(row, "payload")?)?,
        state,
        attempt: u32::try_from(get::<i32>(row, "attempt")?).unwrap_or(0),
        max_attempts: u32::try_from(get::<i32>(row, "max_attempts")?).unwrap_or(0),
        priority: get::<i16>(row, "priority")?,
        group: get(row, "grp")?,
        created_at: millis(row, "created_at")?,
        updated_at: millis(row, "updated_at")?,
        visible_at: millis(row, "visible_at")?,
        started_at: opt_millis(row, "started_at")?,
        trace: trace(row)?,
    })
}

/// A leased job (the columns the lease statement returns).
pub(super) fn leased<P: DeserializeOwned>(row: &Row) -> Result<Leased<P>, JobError> {
    let id = job_id(row, "id")?;
    Ok(Leased {
        id,
        key: get(row, "key")?,
        idempotency_key: get(row, "idempotency_key")?,
        payload: decode(id, "payload", get(row, "payload")?)?,
        attempt: u32::try_from(get::<i32>(row, "attempt")?).unwrap_or(0),
        lease: Lease { id, token: u64::try_from(get::<i64>(row, "lease_token")?).unwrap_or(0) },
        trace: trace(row)?,
    })
}
