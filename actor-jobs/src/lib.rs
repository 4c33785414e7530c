//! A durable job queue for actor-core services: enqueue long work, answer at once, run it at
//! least once on a pool of worker actors, and let clients poll or wait for the outcome.
//!
//! (Crate docs: see below.)

#![warn(missing_docs)]
#![warn(clippy::unwrap_used)]

mod backend;
mod clock;
mod error;
mod model;
mod options;

#[cfg(feature = "consumer")]
pub mod consumer;
#[cfg(feature = "embedded")]
pub mod embedded;
#[cfg(feature = "postgres")]
pub mod postgres;

pub use backend::JobBackend;
#[cfg(feature = "consumer")]
pub use consumer::{Consumer, ConsumerSpec, ConsumerStats, JobKey, Work};
#[cfg(feature = "embedded")]
pub use embedded::EmbeddedQueue;
pub use error::{Cause, JobError};
pub use model::{
    FailOutcome, JobId, JobRecord, JobState, JobStatus, Lease, Leased, Millis, QueueStats,
};
pub use options::{EnqueueOptions, QueueOptions, RetryPolicy};
#[cfg(feature = "postgres")]
pub use postgres::{PgOptions, PgQueue};
