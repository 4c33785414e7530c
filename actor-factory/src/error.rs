//! [`SubmitError`]: why a factory did not accept a job (it gives the job back).

use std::fmt;

/// Why a job was not accepted; carries the job back.
pub enum SubmitError<K, M> {
    /// The queue is full and the policy is [`Backpressure::Reject`](crate::Backpressure::Reject) (or `try_submit` was used).
    Full {
        /// The job's key.
        key: K,
        /// The job's payload.
        payload: M,
    },
    /// The factory is draining or drained.
    Closed {
        /// The job's key.
        key: K,
        /// The job's payload.
        payload: M,
    },
}

impl<K, M> fmt::Display for SubmitError<K, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::Full { .. } => f.write_str("the factory's queue is full"),
            SubmitError::Closed { .. } => f.write_str("the factory no longer accepts jobs"),
        }
    }
}

impl<K, M> fmt::Debug for SubmitError<K, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The job is not printed: payloads need not be `Debug`.
        f.write_str(match self {
            SubmitError::Full { .. } => "SubmitError::Full { .. }",
            SubmitError::Closed { .. } => "SubmitError::Closed { .. }",
        })
    }
}

impl<K, M> std::error::Error for SubmitError<K, M> {}
