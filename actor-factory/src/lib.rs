//! Pools of worker actors that never lose a job: the factory.
//!
//! A [`Factory`] owns a pool of worker actors and the queues of their jobs. A job is a key and a
//! payload; a worker is an ordinary actor with a handler that takes a [`Job`]. The factory
//! routes each job by its [`Routing`] mode, keeps at most one job in a worker's mailbox, and
//! hands the worker its next job when it is done with the last one.
//!
//! # Quick start
//!
//! ```
//! use actor_core::actor;
//! use actor_factory::{FactorySpec, Job, Routing};
//!
//! struct Resizer {
//!     done: u32,
//! }
//!
//! #[actor]
//! impl Resizer {
//!     // The job counts as done when `job` is dropped, at the end of the handler.
//!     async fn work(&mut self, job: Job<String, u32>) {
//!         let _pixels = job.payload().copied().unwrap_or(0) * 2;
//!         self.done += 1;
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let factory = FactorySpec::new(4, || Ok(Resizer { done: 0 }), ResizerMessage::work)
//!     .routing(Routing::KeyPersistent)
//!     .spawn()?;
//! for n in 0..100 {
//!     factory.submit(format!("image-{}", n % 10), n).await?;
//! }
//! let totals = factory.drain().await; // waits for every job, then stops the workers
//! assert_eq!(totals.processed, 100);
//! # Ok(())
//! # }
//! ```
//!
//! For streams of items through pools of async functions, with ordered output and multi-stage
//! pipelines, see [`stream`].
//!
//! # Choosing a routing mode
//!
//! - [`Routing::KeyPersistent`] (or [`Routing::CustomHash`]): updates to the same entity must
//!   happen in order, or a worker keeps per-key state (a cache, a connection). The price:
//!   head-of-line blocking, since a slow job delays the jobs of other keys queued behind it on
//!   its worker.
//! - [`Routing::StickyQueuer`]: per-key order without that blocking. A key with a job in flight
//!   keeps its next jobs on the same worker; any other job goes to the next free worker. The
//!   right mode when jobs make remote calls of uneven length and per-key order matters.
//! - [`Routing::Queuer`]: plain load balancing. The next free worker takes the next job; no
//!   order between jobs of one key.
//! - [`Routing::RoundRobin`], [`Routing::Random`]: spread without looking at load, for jobs
//!   of even cost.
//!
//! # Contracts
//!
//! - **Delivery**: every accepted job ends exactly one way: processed, failed (reported once to
//!   [`FactorySpec::on_failure`]), or discarded unhandled (expired, or dropped for room,
//!   reported to [`FactorySpec::on_discard`]). Jobs queued for a worker survive its crash,
//!   hang or stop; its replacement takes them in order. A job submitted with
//!   [`Factory::submit_retrying`] runs once more after a failure, first in its slot's queue.
//! - **Order**: jobs of one slot's queue start in submission order, one at a time. With
//!   `KeyPersistent` and `StickyQueuer`, jobs of one key therefore start in order and never
//!   overlap (with `KeyPersistent`, until a resize remaps keys).
//! - **Backpressure**: the queue holds at most [`FactorySpec::queue`] jobs; [`Backpressure`]
//!   says whether `submit` waits, refuses or drops the oldest.
//! - **Stuck workers**: with [`FactorySpec::stuck_after`], actor-core's watchdog watches the
//!   workers; a job whose handler makes no progress for the threshold is failed, its worker
//!   is failed (the handler dropped at its next await point) and replaced.
//! - **Draining**: [`Factory::drain`] refuses new jobs, lets every queued and running job end,
//!   stops the workers and returns the totals ([`FactoryStats`]).

mod error;
mod factory;
mod job;
mod stats;
pub mod stream;

pub use error::SubmitError;
pub use factory::{Autoscale, Backpressure, Factory, FactorySpec, Routing, Scaler, ScalerLoad};
pub use job::{DiscardReason, Discarded, Failure, FailureReason, Job, JobOptions, SubmissionId};
pub use stats::{FactoryStats, Latency, WorkerStats};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
