//! [`JobError`]: everything a queue operation can fail with, the same for every backend.

use std::error::Error;
use std::sync::Arc;

use crate::model::{JobId, JobStatus};

/// A shared error cause, kept reachable through [`Error::source`].
pub type Cause = Arc<dyn Error + Send + Sync + 'static>;

/// An error from a job queue.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The embedded store failed, was closed, or holds damaged data.
    #[cfg(feature = "embedded")]
    #[error(transparent)]
    Store(#[from] actor_store::StoreError),
    /// The database server failed or could not be reached; the operation may or may not have
    /// taken effect. The server's error (with its SQLSTATE) or the I/O error is the source.
    #[error("the job database failed while {operation}")]
    Backend {
        /// What the queue was doing.
        operation: &'static str,
        /// Why it failed.
        #[source]
        source: Cause,
    },
    /// A payload or result could not be encoded or decoded.
    #[error("cannot {operation} the {what} of job {id}")]
    Codec {
        /// `"encode"` or `"decode"`.
        operation: &'static str,
        /// `"payload"` or `"result"`.
        what: &'static str,
        /// The job (0 for one not enqueued yet).
        id: JobId,
        /// The codec's error.
        #[source]
        source: Cause,
    },
    /// No job has this id (never enqueued, or purged).
    #[error("no job {0}")]
    NotFound(JobId),
    /// The lease expired (the job may have been delivered to another worker) or the job was
    /// finished by someone else: this attempt may no longer change it.
    #[error("the lease on job {0} was lost (it expired, and the job may run elsewhere)")]
    LeaseLost(JobId),
    /// The job was cancelled while this attempt ran: the attempt may no longer change it (it
    /// ends `Cancelled`, and is not retried).
    #[error("job {0} was cancelled")]
    Cancelled(JobId),
    /// The operation does not apply to a job in this status (cancelling a finished job, say).
    #[error("job {id} is {status}; cannot {operation} it")]
    InvalidState {
        /// The job.
        id: JobId,
        /// Its status.
        status: JobStatus,
        /// What was attempted.
        operation: &'static str,
    },
    /// The queue was shut down (its store closed): it takes no more operations.
    #[error("the job queue is closed")]
    Closed,
    /// The queue's schema in the database is newer than this release reads.
    #[error("the job database has schema version {found}; this release reads up to {supported}")]
    UnsupportedSchema {
        /// The version found.
        found: i32,
        /// The newest version this release reads.
        supported: i32,
    },
}

impl JobError {
    /// A backend error with its cause.
    #[cfg(feature = "postgres")]
    pub(crate) fn backend(
        operation: &'static str,
        source: impl Error + Send + Sync + 'static,
    ) -> Self {
        JobError::Backend { operation, source: Arc::new(source) }
    }
}
