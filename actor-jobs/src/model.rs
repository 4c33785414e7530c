//! The job model: ids, states, records, leases, outcomes and counts, the same for every
//! backend.

use std::fmt;

use actor_core::trace::TraceContext;
use serde::{Deserialize, Serialize};

/// A durable job's id: unique within its queue, increasing in enqueue order, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Milliseconds since the Unix epoch.
pub type Millis = u64;

/// A job's state, with what belongs to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState<R> {
    /// Waiting for a worker (visible from [`JobRecord::visible_at`]).
    Queued,
    /// Leased to a worker until `until`.
    Running {
        /// The lease's fencing token.
        token: u64,
        /// When the lease expires.
        until: Millis,
    },
    /// Completed; the handler's result.
    Succeeded {
        /// What the handler returned.
        result: R,
    },
    /// The last attempt failed; the job runs again at `retry_at`.
    Failed {
        /// Why the last attempt failed.
        error: String,
        /// When the next attempt becomes due.
        retry_at: Millis,
    },
    /// Every attempt failed; the job waits for a requeue.
    Dead {
        /// Why the last attempt failed.
        error: String,
    },
    /// Cancelled before it finished.
    Cancelled,
}

/// A job's status without its payload or result: what listing filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    /// Leased to a worker.
    Running,
    /// Completed.
    Succeeded,
    /// Waiting for a retry after a failed attempt.
    Failed,
    /// Out of attempts.
    Dead,
    /// Cancelled.
    Cancelled,
}

impl JobStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Dead,
        JobStatus::Cancelled,
    ];

    /// Whether the job is finished (succeeded, dead or cancelled).
    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Dead | JobStatus::Cancelled)
    }

    /// The lower-case name (`"queued"`, `"running"`...), as stored by the PostgreSQL backend.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Dead => "dead",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// The status named `name` (as [`as_str`](Self::as_str) spells it).
    pub fn from_name(name: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|status| status.as_str() == name)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<R> JobState<R> {
    /// The state's status.
    pub fn status(&self) -> JobStatus {
        match self {
            JobState::Queued => JobStatus::Queued,
            JobState::Running { .. } => JobStatus::Running,
            JobState::Succeeded { .. } => JobStatus::Succeeded,
            JobState::Failed { .. } => JobStatus::Failed,
            JobState::Dead { .. } => JobStatus::Dead,
            JobState::Cancelled => JobStatus::Cancelled,
        }
    }
}

/// A job as stored: what [`JobBackend::status`](crate::JobBackend::status) returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord<P, R> {
    /// The job's id.
    pub id: JobId,
    /// Its ordering key, if any ([`EnqueueOptions::key`](crate::EnqueueOptions::key)).
    pub key: Option<String>,
    /// Its idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// What the handler gets.
    pub payload: P,
    /// Where it is in its lifecycle.
    pub state: JobState<R>,
    /// Attempts started so far (1 during the first run).
    pub attempt: u32,
    /// Attempts allowed before the job is dead.
    pub max_attempts: u32,
    /// Its priority ([`EnqueueOptions::priority`](crate::EnqueueOptions::priority)).
    pub priority: i16,
    /// Its limit group ([`EnqueueOptions::group`](crate::EnqueueOptions::group)).
    pub group: Option<String>,
    /// When it was enqueued.
    pub created_at: Millis,
    /// When its state last changed.
    pub updated_at: Millis,
    /// When it becomes (or became) available to workers.
    pub visible_at: Millis,
    /// When its current or last attempt started.
    pub started_at: Option<Millis>,
    /// The trace context of its enqueuer, if one was stored
    /// ([`EnqueueOptions::trace_context`](crate::EnqueueOptions::trace_context)).
    pub trace: Option<TraceContext>,
}

impl<P, R> JobRecord<P, R> {
    /// The job's status.
    pub fn status(&self) -> JobStatus {
        self.state.status()
    }
}

/// A job leased to a worker: its payload and the lease's fencing token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leased<P> {
    /// The job's id.
    pub id: JobId,
    /// Its ordering key.
    pub key: Option<String>,
    /// Its idempotency key.
    pub idempotency_key: Option<String>,
    /// The payload.
    pub payload: P,
    /// This attempt's number (1 for the first).
    pub attempt: u32,
    /// The lease, for completing, failing or extending this attempt.
    pub lease: Lease,
    /// The trace context of its enqueuer, if one was stored: what the attempt's span
    /// continues ([`actor_core::trace::continue_trace`]).
    pub trace: Option<TraceContext>,
}

/// A lease on a running job: the job and the fencing token of this attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The job.
    pub id: JobId,
    /// The token; a later lease of the same job has a different one.
    pub token: u64,
}

/// What failing an attempt did with the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// It will run again at the given time.
    Retrying {
        /// When the next attempt is due.
        at: Millis,
    },
    /// It was the last attempt: the job is dead.
    Dead,
}

/// Queue depth and job counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// Jobs waiting for a worker (due now or later).
    pub queued: u64,
    /// Jobs leased to workers.
    pub running: u64,
    /// Jobs completed.
    pub succeeded: u64,
    /// Jobs waiting for a retry.
    pub failed: u64,
    /// Jobs out of attempts.
    pub dead: u64,
    /// Jobs cancelled.
    pub cancelled: u64,
    /// Jobs due now (queued or failed with their time come) that no worker has taken yet.
    pub due: u64,
    /// How long the oldest due job has been waiting, in milliseconds (0 if none is).
    pub oldest_due_ms: u64,
}

impl QueueStats {
    /// Jobs not finished yet: queued, running or waiting for a retry.
    pub fn unfinished(&self) -> u64 {
        self.queued + self.running + self.failed
    }

    /// The count of jobs in `status`.
    pub fn count(&self, status: JobStatus) -> u64 {
        match status {
            JobStatus::Queued => self.queued,
            JobStatus::Running => self.running,
            JobStatus::Succeeded => self.succeeded,
            JobStatus::Failed => self.failed,
            JobStatus::Dead => self.dead,
            JobStatus::Cancelled => self.cancelled,
        }
    }
}
