//! [`Factory`]: a pool of worker actors fed from queues the factory owns.
//!
//! # How jobs move
//!
//! A submitted job goes into a queue owned by the factory: the shared queue (queuer modes) or
//! the queue of the worker slot its routing picked. A worker's mailbox holds at most the one job
//! it is handling: when that job's [`Job`] is dropped (the handler finished with it), the
//! factory hands the slot its next job. So queued jobs never sit in a worker's mailbox, and a
//! worker that panics, hangs or stops loses nothing but the job it was handling, which is
//! reported failed exactly once (or run once more, for jobs submitted with
//! [`Factory::submit_retrying`]). The replacement worker takes the slot's queue in order.

mod admission;
mod autoscale;
mod dispatch;
mod effects;
mod health;
mod routing;
mod spec;
mod state;
#[cfg(feature = "metrics")]
mod telemetry;
mod workers;

use std::fmt;
use std::hash::Hash;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use actor_core::{Actor, ActorRef, Handle, SpawnError};
use tokio::sync::Notify;
// tokio's clock, so that tests on paused time see deadlines.
use tokio::time::Instant;

use crate::error::SubmitError;
use crate::job::{JobOptions, SubmissionId};
use crate::stats::FactoryStats;

pub use self::autoscale::{Autoscale, Scaler, ScalerLoad};
use self::effects::Effects;
pub use self::spec::{Backpressure, FactorySpec, Routing};
use self::spec::{Build, OnDiscard, OnFailure, Wrap};
use self::state::{Entry, Running, Slot, State};

/// A pool of worker actors and the queues of their jobs; see the [crate docs](crate).
///
/// A cheap handle: clones share the factory.
pub struct Factory<W: Actor, K, M> {
    shared: Arc<Shared<W, K, M>>,
}

impl<W: Actor, K, M> Clone for Factory<W, K, M> {
    fn clone(&self) -> Self {
        Factory { shared: Arc::clone(&self.shared) }
    }
}

impl<W: Actor, K, M> fmt::Debug for Factory<W, K, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Factory").field("name", &self.shared.name).finish_non_exhaustive()
    }
}

impl<W, K, M> Factory<W, K, M>
where
    W: Actor,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + 'static,
{
    /// Queues a job; with [`Backpressure::Wait`], waits for room.
    ///
    /// # Errors
    ///
    /// The job back, if the queue is full (with [`Backpressure::Reject`]) or the factory is
    /// draining.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. The job is queued at one instant, under the factory's lock, and the future
    /// returns at that instant: if it is dropped before, the job was not queued (it is dropped
    /// with the future) and the submitter no longer counts among those waiting for room
    /// ([`FactoryStats::waiting`]); room it was woken for passes to the next waiter.
    pub async fn submit(&self, key: K, payload: M) -> Result<SubmissionId, SubmitError<K, M>> {
        self.shared.submit(key, payload, None, JobOptions::new(), true).await
    }

    /// [`Factory::submit`] with options (a time-to-live).
    ///
    /// # Errors
    ///
    /// As [`Factory::submit`].
    ///
    /// # Cancel safety
    ///
    /// As [`Factory::submit`].
    pub async fn submit_with(
        &self,
        key: K,
        payload: M,
        options: JobOptions,
    ) -> Result<SubmissionId, SubmitError<K, M>> {
        self.shared.submit(key, payload, None, options, true).await
    }

    /// Queues a job that is run once more if its handler panics, hangs or stops its worker
    /// (on the replacement worker, ahead of the jobs queued behind it); it is reported failed
    /// only if the second attempt fails too. Keeps a clone of the payload for that.
    ///
    /// # Errors
    ///
    /// As [`Factory::submit`].
    ///
    /// # Cancel safety
    ///
    /// As [`Factory::submit`].
    pub async fn submit_retrying(
        &self,
        key: K,
        payload: M,
        options: JobOptions,
    ) -> Result<SubmissionId, SubmitError<K, M>>
    where
        M: Clone,
    {
        let retry = payload.clone();
        self.shared.submit(key, payload, Some(retry), options, true).await
    }

    /// Queues a job without waiting: a full queue returns it in [`SubmitError::Full`] whatever
    /// the policy, except [`Backpressure::DropOldest`], which makes room.
    ///
    /// # Errors
    ///
    /// As [`Factory::submit`].
    pub fn try_submit(&self, key: K, payload: M) -> Result<SubmissionId, SubmitError<K, M>> {
        self.try_submit_with(key, payload, JobOptions::new())
    }

    /// [`Factory::try_submit`] with options (a time-to-live).
    ///
    /// # Errors
    ///
    /// As [`Factory::try_submit`].
    pub fn try_submit_with(
        &self,
        key: K,
        payload: M,
        options: JobOptions,
    ) -> Result<SubmissionId, SubmitError<K, M>> {
        let mut fx = Effects { now: Some(Instant::now()), ..Effects::default() };
        let span = self.shared.submitter_span();
        let result = {
            let mut st = self.shared.lock();
            self.shared.accept(&mut st, key, payload, options, span, &mut fx)
        };
        self.shared.run(fx);
        result
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> FactoryStats {
        self.shared.lock().stats()
    }

    /// The number of worker slots that take new jobs (slots being retired by a resize are not
    /// counted).
    pub fn workers(&self) -> usize {
        self.shared.lock().slots.iter().filter(|s| !s.retiring).count()
    }

    /// Handles of the workers running now, in slot order, as the handle type you ask for
    /// (the workers' `#[actor]` handle or an [`ActorRef`]): to reach every worker at once, for
    /// example to reload its configuration. A message sent this way goes straight to the
    /// worker's mailbox: it is not a job, is not queued, routed or counted by the factory, and
    /// a worker that is replaced later does not see it.
    pub fn handles<H: Handle<Actor = W>>(&self) -> Vec<H> {
        let st = self.shared.lock();
        st.slots.iter().filter_map(|s| s.worker.clone()).map(H::from_ref).collect()
    }

    /// The number of workers, watched: it changes with every resize (by hand or by the
    /// autoscaler).
    pub fn watch_workers(&self) -> tokio::sync::watch::Receiver<usize> {
        self.shared.workers.subscribe()
    }

    /// Grows or shrinks the pool to `workers` (at least 1). New workers start at once and take
    /// queued jobs. A slot removed by shrinking takes no new jobs, finishes the ones queued
    /// for it, then stops its worker: no job is lost. Keyed routing spreads keys over the new
    /// number of workers from now on.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] if a new worker could not be built or spawned.
    pub fn resize(&self, workers: usize) -> Result<(), SpawnError> {
        self.shared.resize(workers)
    }

    /// Resolves once the factory no longer accepts jobs: [`drain`](Self::drain) was called.
    /// For whatever feeds the factory from outside (a served name, a consumer) and should
    /// stop feeding it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits.
    pub async fn closed(&self) {
        let mut closed = self.shared.closed.subscribe();
        // The sender lives as long as `self`: the wait ends only by the flag.
        let _ = closed.wait_for(|closed| *closed).await;
    }

    /// Stops accepting jobs, waits until every queued and running job has ended, stops the
    /// workers and returns the final counters.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the factory stops accepting jobs at the first poll, and the rest is waiting.
    /// If the future is dropped, the factory still refuses new jobs and its queued and running
    /// jobs still end; the workers are stopped by the next `drain`, which waits again.
    pub async fn drain(&self) -> FactoryStats {
        self.shared.lock().accepting = false;
        self.shared.closed.send_replace(true);
        // Wake submitters waiting for room: they get `Closed` now.
        self.shared.room.notify_waiters();
        loop {
            let mut idle = pin!(self.shared.idle.notified());
            idle.as_mut().enable();
            if self.shared.lock().is_idle() {
                break;
            }
            idle.await;
        }
        let workers: Vec<ActorRef<W>> =
            self.shared.lock().slots.iter().filter_map(|s| s.worker.clone()).collect();
        for worker in &workers {
            worker.stop();
        }
        for worker in &workers {
            worker.stopped().await;
        }
        let stats = self.shared.lock().stats();
        tracing::info!(factory = %self.shared.name, %stats, "factory drained");
        stats
    }
}

struct Shared<W: Actor, K, M> {
    me: Weak<Shared<W, K, M>>,
    name: Arc<str>,
    routing: Routing<K>,
    capacity: usize,
    backpressure: Backpressure,
    build: Mutex<Build<W>>,
    wrap: Wrap<W, K, M>,
    /// The threshold after which actor-core's watchdog fails a worker's job as stuck.
    stuck_after: Option<Duration>,
    /// Whether the workers have message spans: then each job carries its submitter's span.
    traced: bool,
    on_discard: Option<OnDiscard<K, M>>,
    on_failure: Option<OnFailure<K>>,
    state: Mutex<State<W, K, M>>,
    /// Notified when queued jobs leave the queue (room for waiting submitters).
    room: Notify,
    /// Notified when no job is queued or running.
    idle: Notify,
    /// The number of workers taking new jobs, updated by every resize.
    workers: tokio::sync::watch::Sender<usize>,
    /// Set once the factory stops accepting jobs.
    closed: tokio::sync::watch::Sender<bool>,
    #[cfg(feature = "metrics")]
    metrics: telemetry::FactoryMetrics,
}

impl<W, K, M> Shared<W, K, M>
where
    W: Actor,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + 'static,
{
    fn lock(&self) -> MutexGuard<'_, State<W, K, M>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The span a job submitted here continues, if the workers trace messages: read before
    /// the lock is taken.
    fn submitter_span(&self) -> Option<Box<tracing::Span>> {
        if !self.traced {
            return None;
        }
        let span = tracing::Span::current();
        (!span.is_none()).then(|| Box::new(span))
    }
}

#[cfg(feature = "metrics")]
impl<W, K, M> Shared<W, K, M>
where
    W: Actor,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + 'static,
{
    /// Sets the depth gauges from the state, after a change under the lock.
    fn record_depth(&self, st: &State<W, K, M>) {
        let in_flight = st.slots.iter().filter(|slot| slot.current.is_some()).count();
        self.metrics.depth(st.queued, in_flight);
    }
}
