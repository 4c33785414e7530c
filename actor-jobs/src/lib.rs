//! A durable job queue for actor-core services: enqueue long work, answer at once, run it at
//! least once on a pool of worker actors, and let clients poll or wait for the outcome.
//!
//! One interface, [`JobBackend`], and two backends with the same semantics:
//!
//! - [`EmbeddedQueue`] (feature `embedded`, the default): the jobs live in an
//!   [`actor_store`] database in the process. No server to run.
//! - [`PgQueue`] (feature `postgres`): the jobs live in PostgreSQL, for worker processes on
//!   many hosts. With only this feature, neither sled nor its codec is compiled.
//!
//! [`Consumer`] (feature `consumer`) feeds a pool of worker actors
//! ([`actor_factory`]) from either backend. Moving from one backend to the other changes
//! the constructor, nothing else.
//!
//! # Quick start
//!
//! ```
//! use actor_jobs::{EmbeddedQueue, EnqueueOptions, JobBackend, JobState, QueueOptions};
//! use actor_store::Store;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("actor-jobs-doc-quick-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let store = Store::open(&dir)?;
//! let queue = EmbeddedQueue::<String, usize>::open(&store, "index", QueueOptions::new()).await?;
//!
//! // A request handler: enqueue and answer with the id at once. The key makes a retry of the
//! // same request (after a client timeout, say) return the same job.
//! let id = queue
//!     .enqueue("to be or not to be".to_owned(), EnqueueOptions::new().idempotency_key("req-7"))
//!     .await?;
//!
//! // A worker: lease, work, complete (a `Consumer` does this on a pool of actors).
//! for job in queue.lease(10).await? {
//!     let words = job.payload.split_whitespace().count();
//!     queue.complete(job.lease, words).await?;
//! }
//!
//! // A client: wait for the outcome (or poll `status`).
//! assert_eq!(queue.wait_for(id).await?.state, JobState::Succeeded { result: 6 });
//! # queue.close().await; store.close().await?; std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
//!
//! # Contracts
//!
//! These hold for every backend; the conformance suite (`tests/it/conformance`) checks them on
//! both, with paused time, and the crash tests (`tests/crash_embedded.rs`,
//! `tests/crash_postgres.rs`) with real `SIGKILL`s.
//!
//! - **Durable enqueue.** `enqueue` returns the job's id once the job is durable. With an
//!   idempotency key, enqueueing again returns the first job's id and enqueues nothing.
//! - **At least once.** A job is acknowledged only by `complete`. A worker that dies, hangs
//!   or loses its process leaves the job leased; the lease expires after the visibility
//!   timeout and the job is delivered again (an embedded queue also does it at once when it is
//!   reopened: only one process opens a store). **Handlers must be idempotent**, or record
//!   their side effect under the job's idempotency key.
//! - **Fencing.** Each lease carries a fresh token; completing, failing or extending with a
//!   token whose lease expired fails with [`JobError::LeaseLost`] and changes nothing.
//! - **Retries and dead letters.** A failed attempt is retried after the backoff of
//!   [`RetryPolicy`] (computed in one place for every backend); after `max_attempts` the job
//!   is dead and stays listed until requeued.
//! - **Order.** Jobs are leased in order of the time they become visible, then of id. Jobs
//!   sharing an ordering key run one at a time in id order, retries included.
//! - **Cancel safety.** Every future of the API may be dropped at any `.await` without leaving
//!   a job half changed, unleasable, or a later call waiting forever; each method's docs say
//!   what a dropped call may have done.
//! - **Waiting without races.** [`JobBackend::wait_for`] and [`JobBackend::wait_idle`] never
//!   miss a change that lands between their check and their wait.
//! - **Retention.** Finished jobs stay until purged, or until [`QueueOptions::retention`]
//!   removes them.
//! - **Trace context.** With a [`Propagator`](actor_core::trace::Propagator) installed,
//!   `enqueue` stores the trace context of the span current where it is called (or the one
//!   given by [`EnqueueOptions::trace_context`]); every lease carries it ([`Leased::trace`]),
//!   and the [`Consumer`]'s span of each attempt continues it, in any process.
//! - **Damage** is reported: an embedded queue over a store that lost acknowledged writes does
//!   not open ([`actor_store::StoreError::Damaged`]).
//!
//! # Layout
//!
//! - [`backend`](JobBackend): the interface and its contract.
//! - `model`, `options`, `error`: the job model, options and retry policy, [`JobError`].
//! - [`embedded`]: the queue on actor-store: an engine task that makes every change, in
//!   batches, and an in-memory index rebuilt at open.
//! - [`postgres`]: the queue on PostgreSQL: schema and migrations, statements, rows, pool.
//! - [`consumer`]: the factory fed from a queue, [`Work`], [`ConsumerStats`].

#![warn(missing_docs)]
#![warn(clippy::unwrap_used)]

mod backend;
#[cfg(any(feature = "embedded", feature = "postgres"))]
mod clock;
mod error;
mod model;
mod options;

#[cfg(feature = "consumer")]
pub mod consumer;
#[cfg(feature = "dashboard")]
pub mod dashboard;
#[cfg(feature = "embedded")]
pub mod embedded;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "cron")]
pub mod schedule;
pub mod telemetry;

pub use backend::JobBackend;
#[cfg(feature = "consumer")]
pub use consumer::{Ack, Consumer, ConsumerSpec, ConsumerStats, JobKey, Work};
#[cfg(feature = "embedded")]
pub use embedded::EmbeddedQueue;
pub use error::{Cause, JobError};
pub use model::{
    FailOutcome, JobId, JobRecord, JobState, JobStatus, Lease, Leased, Millis, QueueStats,
};
pub use options::{EnqueueOptions, Limit, Limits, QueueOptions, RetryPolicy};
#[cfg(feature = "postgres")]
pub use postgres::{PgOptions, PgQueue};
#[cfg(feature = "cron")]
pub use schedule::{CatchUp, Schedule, ScheduleError, Scheduler, Tick};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
