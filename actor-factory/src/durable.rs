//! A factory consuming a durable job queue ([`actor_store::JobQueue`], or any
//! [`JobBackend`], PostgreSQL included): feature `durable`.
//!
//! [`Consumer`] leases jobs from the queue and submits each to a [`Factory`] as a
//! [`DurableJob`], so routing modes, stuck-worker detection, stats and autoscaling apply to
//! durable jobs as they do to in-memory ones. The factory's key is the job's ordering key
//! ([`EnqueueOptions::key`](actor_store::EnqueueOptions::key)), or its id in decimal when it
//! has none, so [`Routing::KeyPersistent`](crate::Routing) sends a key's jobs to one worker.
//!
//! # Contract
//!
//! - A job is acknowledged only by [`DurableJob::complete`]. A handler that panics, is
//!   stopped as stuck, or drops its job without completing or failing it fails the attempt
//!   (the job is retried after the queue's backoff, or dead at its last attempt): it never
//!   acknowledges it. A process that dies leaves its jobs to the queue's lease expiry or to
//!   the next open of the queue. Delivery is therefore **at least once**: make handlers
//!   idempotent, or record their effect under the job's idempotency key.
//! - Keep the [`Job`](crate::Job) until the work is done (complete through
//!   [`Job::payload_mut`](crate::Job::payload_mut)): the factory counts a job as finished, and stops watching it for
//!   being stuck, when the `Job` is dropped.
//! - The consumer leases at most twice as many jobs as the factory has workers (or the bound
//!   given to [`Consumer::spawn_with`]); the rest wait in the durable queue. So the factory's
//!   queue stays short: autoscale it on queue wait ([`Autoscale::max_wait`](crate::Autoscale::max_wait))
//!   or with a `queue_per_worker` below 1 job, and read the backlog from
//!   [`JobQueue::stats`](actor_store::JobQueue::stats).
//! - Leases last the queue's visibility timeout. A job that may run longer should call
//!   [`DurableJob::extend`] now and then, or it is delivered again meanwhile.
//!
//! # Example
//!
//! ```
//! use actor_core::actor;
//! use actor_factory::durable::{Consumer, DurableJob};
//! use actor_factory::{FactorySpec, Job};
//! use actor_store::{EnqueueOptions, JobQueue, JobState, QueueOptions, Store};
//!
//! struct Indexer;
//!
//! #[actor]
//! impl Indexer {
//!     async fn index(&mut self, mut job: Job<String, DurableJob<String, usize>>) {
//!         let Some(work) = job.payload_mut() else { return };
//!         let words = work.payload().split_whitespace().count();
//!         // Acknowledged once durable; an error means the job will run again.
//!         let _ = work.complete(words).await;
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("actor-factory-doc-durable-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let store = Store::open(&dir)?;
//! let queue = JobQueue::<String, usize>::open(&store, "index", QueueOptions::new()).await?;
//! let consumer = Consumer::spawn(
//!     queue.clone(),
//!     FactorySpec::new(4, || Ok(Indexer), IndexerMessage::index),
//! )?;
//! let id = queue.enqueue("to be or not to be".to_owned(), EnqueueOptions::new()).await?;
//! while !queue.status(id)?.is_some_and(|job| job.status().is_finished()) {
//!     queue.wait_for_change().await;
//! }
//! assert_eq!(queue.status(id)?.unwrap().state, JobState::Succeeded { result: 6 });
//! consumer.shutdown().await;
//! # store.close().await?; std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actor_core::{Actor, SpawnError};
use actor_store::jobs::{FailOutcome, Lease, Leased};
use actor_store::{JobBackend, JobError, JobId, JobQueue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::{Factory, FactorySpec, FactoryStats};

/// A leased durable job, as a worker receives it inside a [`Job`](crate::Job); see the
/// [module docs](self).
pub struct DurableJob<P, R, B = JobQueue<P, R>>
where
    P: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    B: JobBackend<P, R>,
{
    leased: Leased<P>,
    queue: B,
    result: std::marker::PhantomData<fn(R)>,
    /// Completed or failed by the handler.
    settled: bool,
    in_flight: Arc<InFlight>,
}

impl<P, R, B> fmt::Debug for DurableJob<P, R, B>
where
    P: Serialize + DeserializeOwned + Clone + Send + Sync + fmt::Debug + 'static,
    R: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    B: JobBackend<P, R>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurableJob")
            .field("leased", &self.leased)
            .field("settled", &self.settled)
            .finish_non_exhaustive()
    }
}

impl<P, R, B> DurableJob<P, R, B>
where
    P: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    B: JobBackend<P, R>,
{
    /// The job's id in the queue.
    pub fn id(&self) -> JobId {
        self.leased.id
    }

    /// The payload.
    pub fn payload(&self) -> &P {
        &self.leased.payload
    }

    /// This attempt's number (1 for the first delivery).
    pub fn attempt(&self) -> u32 {
        self.leased.attempt
    }

    /// The job's idempotency key, if it was enqueued with one.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.leased.idempotency_key.as_deref()
    }

    /// The job's ordering key, if any.
    pub fn key(&self) -> Option<&str> {
        self.leased.key.as_deref()
    }

    /// The lease of this attempt.
    pub fn lease(&self) -> Lease {
        self.leased.lease
    }

    /// Acknowledges the job with its result; returns once durable.
    ///
    /// # Errors
    ///
    /// [`JobError::LeaseLost`] if the lease expired first (the job may be running elsewhere;
    /// its result is not recorded), or a store error (the job will run again).
    pub async fn complete(&mut self, result: R) -> Result<(), JobError> {
        self.settled = true;
        self.queue.complete(self.leased.lease, result).await
    }

    /// Fails this attempt: the job is retried after the queue's backoff, or is dead.
    ///
    /// # Errors
    ///
    /// As [`DurableJob::complete`].
    pub async fn fail(&mut self, error: impl Into<String>) -> Result<FailOutcome, JobError> {
        self.settled = true;
        self.queue.fail(self.leased.lease, error.into()).await
    }

    /// Extends the lease by the queue's visibility timeout from now.
    ///
    /// # Errors
    ///
    /// As [`DurableJob::complete`].
    pub async fn extend(&self) -> Result<(), JobError> {
        self.queue.extend(self.leased.lease).await
    }
}

impl<P, R, B> Drop for DurableJob<P, R, B>
where
    P: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    B: JobBackend<P, R>,
{
    fn drop(&mut self) {
        let in_flight = Arc::clone(&self.in_flight);
        if self.settled {
            in_flight.done();
            return;
        }
        // Never acknowledged: the attempt failed (a panic, a stuck worker, a dropped job).
        let queue = self.queue.clone();
        let lease = self.leased.lease;
        let reason = if std::thread::panicking() {
            "the handler panicked"
        } else {
            "the handler ended without completing the job (it was stopped, stuck or dropped it)"
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(error) = queue.fail(lease, reason.to_owned()).await {
                        tracing::warn!(job = %lease.id, %error, "could not record a failed attempt; its lease will expire");
                    }
                    in_flight.done();
                });
            }
            Err(_) => {
                tracing::warn!(job = %lease.id, "a job was dropped outside a runtime; its lease will expire");
                in_flight.done();
            }
        }
    }
}

/// Jobs leased and not yet settled.
struct InFlight {
    count: AtomicUsize,
    changed: Notify,
}

impl InFlight {
    fn done(&self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
        self.changed.notify_waiters();
    }
}

/// Leases jobs from a durable queue and runs them on a factory; see the [module docs](self).
pub struct Consumer<W: Actor, P, R, B = JobQueue<P, R>>
where
    P: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    B: JobBackend<P, R>,
{
    factory: Factory<W, String, DurableJob<P, R, B>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    in_flight: Arc<InFlight>,
}

impl<W: Actor, P, R, B> fmt::Debug for Consumer<W, P, R, B>
where
    P: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    B: JobBackend<P, R>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("in_flight", &self.in_flight.count.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<W, P, R, B> Consumer<W, P, R, B>
where
    W: Actor,
    P: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    B: JobBackend<P, R>,
{
    /// Spawns the factory of `spec` and a task that keeps it fed from `queue`, with at most
    /// twice as many jobs leased as the factory has workers.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] if the factory's workers could not be started.
    pub fn spawn(
        queue: B,
        spec: FactorySpec<W, String, DurableJob<P, R, B>>,
    ) -> Result<Self, SpawnError> {
        Consumer::spawn_with(queue, spec, None)
    }

    /// [`Consumer::spawn`] with a bound on the jobs leased at once (queued in the factory or
    /// running); `None` for twice the number of workers. Jobs wait in the durable queue rather
    /// than in the factory: a lease taken early ticks while the job waits.
    ///
    /// # Errors
    ///
    /// As [`Consumer::spawn`].
    pub fn spawn_with(
        queue: B,
        spec: FactorySpec<W, String, DurableJob<P, R, B>>,
        max_in_flight: Option<usize>,
    ) -> Result<Self, SpawnError> {
        let factory = spec.spawn()?;
        let in_flight = Arc::new(InFlight { count: AtomicUsize::new(0), changed: Notify::new() });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(feed(
            queue,
            factory.clone(),
            Arc::clone(&in_flight),
            stopped,
            max_in_flight,
        ));
        Ok(Consumer { factory, stop, task, in_flight })
    }

    /// The factory running the jobs (for its stats, or to resize it).
    pub fn factory(&self) -> &Factory<W, String, DurableJob<P, R, B>> {
        &self.factory
    }

    /// Jobs leased and not yet completed or failed.
    pub fn in_flight(&self) -> usize {
        self.in_flight.count.load(Ordering::Acquire)
    }

    /// Stops leasing, lets every leased job finish (and be acknowledged or failed), stops the
    /// workers and returns the factory's final counters.
    pub async fn shutdown(self) -> FactoryStats {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the durable consumer's task failed");
        }
        let stats = self.factory.drain().await;
        // Failed attempts are recorded on tasks of their own: wait for them too.
        loop {
            let changed = self.in_flight.changed.notified();
            if self.in_flight.count.load(Ordering::Acquire) == 0 {
                break;
            }
            changed.await;
        }
        stats
    }
}

async fn feed<W, P, R, B>(
    queue: B,
    factory: Factory<W, String, DurableJob<P, R, B>>,
    in_flight: Arc<InFlight>,
    mut stopped: watch::Receiver<bool>,
    max_in_flight: Option<usize>,
) where
    W: Actor,
    P: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    R: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    B: JobBackend<P, R>,
{
    loop {
        if *stopped.borrow() {
            return;
        }
        let limit = max_in_flight.unwrap_or_else(|| factory.workers() * 2).max(1);
        let room = limit.saturating_sub(in_flight.count.load(Ordering::Acquire));
        if room == 0 {
            let changed = in_flight.changed.notified();
            if in_flight.count.load(Ordering::Acquire) >= limit {
                tokio::select! {
                    () = changed => {}
                    _ = stopped.changed() => {}
                }
            }
            continue;
        }
        let leased = match queue.lease(room).await {
            Ok(leased) => leased,
            Err(error) => {
                tracing::error!(%error, "cannot lease jobs; retrying in 1 s");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stopped.changed() => {}
                }
                continue;
            }
        };
        if leased.is_empty() {
            tokio::select! {
                () = queue.wait_for_work() => {}
                _ = stopped.changed() => {}
            }
            continue;
        }
        for leased in leased {
            in_flight.count.fetch_add(1, Ordering::AcqRel);
            let key = leased.key.clone().unwrap_or_else(|| leased.id.0.to_string());
            let job = DurableJob {
                leased,
                queue: queue.clone(),
                result: std::marker::PhantomData,
                settled: false,
                in_flight: Arc::clone(&in_flight),
            };
            // Refused only while draining: the job's drop fails this attempt, so it runs again.
            if let Err(error) = factory.submit(key, job).await {
                tracing::warn!(%error, "the factory refused a leased job");
            }
        }
    }
}
