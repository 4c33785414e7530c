//! [`Consumer`]: a factory of worker actors fed from a durable queue (feature `consumer`).
//!
//! The consumer leases jobs from any [`JobBackend`] and submits each to an
//! [`actor_factory`] factory, so routing modes, stuck-worker replacement and stats apply to
//! durable jobs as to in-memory ones. A worker's handler receives a [`Work`]: the payload, and
//! [`Work::complete`] / [`Work::fail`]. A job is acknowledged only by `complete`.
//!
//! # Contract
//!
//! - **At least once.** A handler that panics, is stopped as stuck, or drops its `Work`
//!   without completing or failing it fails the attempt (the job is retried after the backoff,
//!   or dead at its last attempt). A process that dies leaves its jobs to lease expiry, or to
//!   the next open of an embedded queue. Make handlers idempotent, or record their effect
//!   under the job's idempotency key.
//! - **Routing**: the factory's key is the job's ordering key, or its id ([`JobKey`]); with
//!   [`Routing::KeyPersistent`](actor_factory::Routing) a key's jobs go to one worker.
//! - **Leases ahead of the workers**: at most [`ConsumerSpec::max_in_flight`] jobs are held
//!   (queued in the factory or running) at a time. By default the consumer adapts: twice the
//!   workers for slow jobs, up to about 100 ms of work at the recent rate for fast ones (at
//!   most 1,024), leased in batches of at least a quarter of that, one statement each. The
//!   rest wait in the durable queue, where their leases do not tick. Priorities order the
//!   durable queue: a job of higher priority overtakes the jobs there, not those already
//!   leased ahead; cap `max_in_flight` where overtaking matters more than throughput.
//! - **Acknowledgements are sent, not awaited, by default.** [`Work::complete`] and
//!   [`Work::fail`] send the acknowledgement at once and return an [`Ack`]; the worker takes
//!   its next job when its handler returns, and the acknowledgements of all workers share a
//!   transaction (PostgreSQL) or an fsync (embedded). A job counts as succeeded in
//!   [`ConsumerStats`] only once its acknowledgement is durable; await the `Ack` in the
//!   handler to wait for that. A process that dies with acknowledgements not yet durable loses
//!   none of their jobs: they run again.
//! - **Autoscaling on the durable backlog**: with [`ConsumerSpec::autoscale`], the factory grows
//!   and shrinks with the queue's due jobs and the age of the oldest, which the factory itself
//!   never sees (only the few jobs in flight reach it).
//! - **Leases last the visibility timeout**: a job that may run longer calls [`Work::extend`].
//! - **Stats** count jobs and attempts ([`ConsumerStats`]), not factory runs.
//! - **Traces** follow a job from its enqueuer to each attempt: every attempt has a span `job`
//!   that continues the trace context stored at enqueue (through the installed
//!   [`Propagator`](actor_core::trace::Propagator), in this process or another), and the
//!   handler runs in a child of it ([`ConsumerSpec::message_spans`]).
//!
//! # Example
//!
//! ```
//! use actor_core::actor;
//! use actor_jobs::{ConsumerSpec, EmbeddedQueue, EnqueueOptions, JobBackend, JobState, QueueOptions, Work};
//! use actor_store::Store;
//!
//! type Queue = EmbeddedQueue<String, usize>;
//!
//! struct Indexer;
//!
//! #[actor]
//! impl Indexer {
//!     async fn index(&mut self, work: Work<String, usize, Queue>) {
//!         let words = work.payload().split_whitespace().count();
//!         // Sent at once; awaiting it waits until it is durable (an error means the job
//!         // runs again).
//!         let _ = work.complete(words).await;
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("actor-jobs-doc-consumer-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let store = Store::open(&dir)?;
//! let queue = Queue::open(&store, "index", QueueOptions::new()).await?;
//! let consumer = ConsumerSpec::new(4, || Ok(Indexer), IndexerMessage::index).spawn(queue.clone())?;
//!
//! let id = queue.enqueue("to be or not to be".to_owned(), EnqueueOptions::new()).await?;
//! assert_eq!(queue.wait_for(id).await?.state, JobState::Succeeded { result: 6 });
//! let stats = consumer.shutdown().await;
//! assert_eq!((stats.succeeded, stats.retried), (1, 0));
//! # queue.close().await; store.close().await?; std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

mod feed;
mod stats;
mod work;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use actor_core::{Actor, BoxError, SpawnError};
use actor_factory::{Autoscale, Factory, FactorySpec, Routing};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use self::stats::ConsumerStats;
use self::stats::Counters;
pub use self::work::{Ack, JobKey, Ticket, Work};
use crate::backend::JobBackend;

/// How to build a [`Consumer`]: the factory's workers and routing, and how many jobs to lease.
pub struct ConsumerSpec<W: Actor, P, R, B: JobBackend<P, R>> {
    factory: FactorySpec<W, JobKey, Ticket<P, R, B>>,
    workers: usize,
    max_in_flight: Option<usize>,
    autoscale: Option<Autoscale>,
    name: Arc<str>,
}

impl<W: Actor, P, R, B: JobBackend<P, R>> fmt::Debug for ConsumerSpec<W, P, R, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerSpec")
            .field("factory", &self.factory)
            .field("max_in_flight", &self.max_in_flight)
            .field("autoscale", &self.autoscale)
            .finish()
    }
}

impl<W, P, R, B> ConsumerSpec<W, P, R, B>
where
    W: Actor,
    P: Send + Sync + 'static,
    R: Send + 'static,
    B: JobBackend<P, R>,
{
    /// A consumer whose factory has `workers` workers (at least 1) built by `build`, each job
    /// reaching a worker as the message `wrap` makes of its [`Work`]. With `#[actor]`, `wrap`
    /// is the generated constructor of the handler that takes the work: `WorkerMessage::run`.
    /// Routing defaults to [`Routing::KeyPersistent`], so that a key's jobs share a worker.
    pub fn new(
        workers: usize,
        build: impl FnMut() -> Result<W, BoxError> + Send + 'static,
        wrap: impl Fn(Work<P, R, B>) -> W::Message + Send + Sync + 'static,
    ) -> Self {
        let factory = FactorySpec::new(workers, build, move |job| wrap(Work { job }))
            .routing(Routing::KeyPersistent)
            .message_spans(true)
            .name("jobs");
        ConsumerSpec {
            factory,
            workers: workers.max(1),
            max_in_flight: None,
            autoscale: None,
            name: Arc::from("jobs"),
        }
    }

    /// The factory's routing mode.
    pub fn routing(mut self, routing: Routing<JobKey>) -> Self {
        self.factory = self.factory.routing(routing);
        self
    }

    /// The consumer's name, for its workers' names, its logs and the `queue` label of its
    /// metrics (default `jobs`).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        let name = name.into();
        self.factory = self.factory.name(Arc::clone(&name));
        self.name = name;
        self
    }

    /// Whether the workers get a span per message (default: yes). With them, each attempt's
    /// handler runs in a message span, child of the attempt's span `job` (fields `queue`,
    /// `job`, `attempt`), which continues the enqueuer's trace when one was stored (see
    /// [`EnqueueOptions::trace_context`](crate::EnqueueOptions::trace_context)). Without them,
    /// the handler runs outside any span of the job.
    pub fn message_spans(mut self, on: bool) -> Self {
        self.factory = self.factory.message_spans(on);
        self
    }

    /// Fails a job still running `threshold` after it started, and replaces its worker; the
    /// job runs again per the queue's retry policy.
    pub fn stuck_after(mut self, threshold: Duration) -> Self {
        self.factory = self.factory.stuck_after(threshold);
        self
    }

    /// At most `jobs` held at once (queued in the factory or running), instead of the adaptive
    /// default (see the [module docs](self)). A lease taken early ticks while its job waits in
    /// the factory.
    pub fn max_in_flight(mut self, jobs: usize) -> Self {
        self.max_in_flight = Some(jobs.max(1));
        self
    }

    /// Grows and shrinks the factory by `policy` on the durable backlog: the queue's due jobs
    /// and the age of the oldest.
    pub fn autoscale(mut self, policy: Autoscale) -> Self {
        let (min, max) = policy.bounds();
        self.workers = self.workers.clamp(min, max);
        self.factory = self.factory.workers(self.workers);
        self.autoscale = Some(policy);
        self
    }

    /// Starts the factory and the task that feeds it from `backend`.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] if the factory's workers could not be started.
    pub fn spawn(self, backend: B) -> Result<Consumer<W, P, R, B>, SpawnError>
    where
        P: Clone,
    {
        let factory = self.factory.spawn()?;
        let counters = Arc::new(Counters::new(Arc::clone(&self.name)));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(feed::run(feed::Feed {
            backend,
            factory: factory.clone(),
            counters: Arc::clone(&counters),
            stopped,
            max_in_flight: self.max_in_flight,
            autoscale: self.autoscale,
        }));
        Ok(Consumer { factory, stop, task, counters })
    }
}

/// Leases jobs from a durable queue and runs them on a factory; see the [module docs](self).
pub struct Consumer<W: Actor, P, R, B: JobBackend<P, R>> {
    factory: Factory<W, JobKey, Ticket<P, R, B>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    counters: Arc<Counters>,
}

impl<W: Actor, P, R, B: JobBackend<P, R>> fmt::Debug for Consumer<W, P, R, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer").field("stats", &self.counters.snapshot()).finish_non_exhaustive()
    }
}

impl<W, P, R, B> Consumer<W, P, R, B>
where
    W: Actor,
    P: Send + Sync + 'static,
    R: Send + 'static,
    B: JobBackend<P, R>,
{
    /// The factory running the jobs (its stats count factory runs; see
    /// [`stats`](Self::stats) for jobs).
    pub fn factory(&self) -> &Factory<W, JobKey, Ticket<P, R, B>> {
        &self.factory
    }

    /// What this consumer did so far.
    pub fn stats(&self) -> ConsumerStats {
        self.counters.snapshot()
    }

    /// Stops leasing, lets every leased job finish (completed or failed), stops the workers
    /// and returns the final counts.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, leasing has stopped; the jobs in flight still finish or are
    /// failed, and the workers stop once the last handle on the factory is gone.
    pub async fn shutdown(self) -> ConsumerStats {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the consumer's feeding task failed");
        }
        self.factory.drain().await;
        // Abandoned attempts are failed on tasks of their own: wait for them too.
        loop {
            let settled = self.counters.settled.notified();
            let mut settled = std::pin::pin!(settled);
            settled.as_mut().enable();
            if self.counters.in_flight() == 0 {
                break;
            }
            settled.await;
        }
        self.counters.snapshot()
    }
}
