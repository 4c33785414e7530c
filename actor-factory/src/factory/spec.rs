//! [`FactorySpec`]: how to build a factory, its routing modes and backpressure policies.

use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actor_core::{Actor, BoxError, SpawnError};
use tokio::sync::Notify;

use super::*;
use crate::job::{Discarded, Failure, Job};

/// How a factory picks the worker for a job; see the [crate docs](crate#choosing-a-routing-mode).
#[non_exhaustive]
pub enum Routing<K> {
    /// The same key always goes to the same worker (a hash of the key): per-key order, and a
    /// worker can keep per-key state. A slow job delays the jobs queued behind it on its worker.
    KeyPersistent,
    /// The next free worker takes the next job: the best load balancing, no per-key order.
    Queuer,
    /// While a key has a job in flight or queued on a worker, its next jobs go to that worker;
    /// otherwise the next free worker takes it. Per-key order without head-of-line blocking
    /// between keys.
    StickyQueuer,
    /// Workers in turn.
    RoundRobin,
    /// A worker picked at random.
    Random,
    /// The worker picked by this hash of the key (modulo the number of workers).
    CustomHash(Arc<dyn Fn(&K) -> u64 + Send + Sync>),
}

impl<K> fmt::Debug for Routing<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Routing::KeyPersistent => "KeyPersistent",
            Routing::Queuer => "Queuer",
            Routing::StickyQueuer => "StickyQueuer",
            Routing::RoundRobin => "RoundRobin",
            Routing::Random => "Random",
            Routing::CustomHash(_) => "CustomHash",
        })
    }
}

impl<K> Routing<K> {
    pub(super) fn shared_queue(&self) -> bool {
        matches!(self, Routing::Queuer | Routing::StickyQueuer)
    }
}

/// What `submit` does when the factory's queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backpressure {
    /// Wait for room.
    Wait,
    /// Return the job in [`SubmitError::Full`].
    Reject,
    /// Discard the oldest queued job ([`DiscardReason::DroppedForRoom`](crate::DiscardReason::DroppedForRoom)) and accept the new one.
    DropOldest,
}

pub(super) type Build<W> = Box<dyn FnMut() -> Result<W, BoxError> + Send>;
pub(super) type Wrap<W, K, M> = Arc<dyn Fn(Job<K, M>) -> <W as Actor>::Message + Send + Sync>;
pub(super) type OnDiscard<K, M> = Arc<dyn Fn(Discarded<K, M>) + Send + Sync>;
pub(super) type OnFailure<K> = Arc<dyn Fn(Failure<K>) + Send + Sync>;

/// How to build a [`Factory`].
pub struct FactorySpec<W: Actor, K, M> {
    pub(super) name: Arc<str>,
    pub(super) workers: usize,
    pub(super) routing: Routing<K>,
    pub(super) capacity: usize,
    pub(super) backpressure: Backpressure,
    pub(super) stuck_after: Option<Duration>,
    pub(super) stats_every: Option<Duration>,
    pub(super) build: Build<W>,
    pub(super) wrap: Wrap<W, K, M>,
    pub(super) on_discard: Option<OnDiscard<K, M>>,
    pub(super) on_failure: Option<OnFailure<K>>,
    pub(super) autoscale: Option<Autoscale>,
    pub(super) message_spans: Option<bool>,
}

impl<W: Actor, K, M> fmt::Debug for FactorySpec<W, K, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FactorySpec")
            .field("name", &self.name)
            .field("workers", &self.workers)
            .field("routing", &self.routing)
            .field("capacity", &self.capacity)
            .field("backpressure", &self.backpressure)
            .finish_non_exhaustive()
    }
}

impl<W, K, M> FactorySpec<W, K, M>
where
    W: Actor,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + 'static,
{
    /// A factory of `workers` workers (at least 1), each built by `build` (also for every
    /// replacement), receiving jobs as the message `wrap` makes of them. With `#[actor]`,
    /// `wrap` is the generated constructor of the handler that takes the job:
    /// `WorkerMessage::work`.
    ///
    /// Defaults: [`Routing::Queuer`], a queue of 10,000 jobs, [`Backpressure::Wait`], no stuck
    /// detection, no handlers for discarded and failed jobs (they are counted and logged).
    pub fn new(
        workers: usize,
        build: impl FnMut() -> Result<W, BoxError> + Send + 'static,
        wrap: impl Fn(Job<K, M>) -> W::Message + Send + Sync + 'static,
    ) -> Self {
        FactorySpec {
            name: Arc::from("factory"),
            workers: workers.max(1),
            routing: Routing::Queuer,
            capacity: 10_000,
            backpressure: Backpressure::Wait,
            stuck_after: None,
            stats_every: None,
            build: Box::new(build),
            wrap: Arc::new(wrap),
            on_discard: None,
            on_failure: None,
            autoscale: None,
            message_spans: None,
        }
    }

    /// Resizes the pool by `policy` (starting from the `workers` given to `new`, clamped to
    /// the policy's bounds). Shrinking retires a slot as [`Factory::resize`] does: no job is
    /// lost.
    pub fn autoscale(mut self, policy: Autoscale) -> Self {
        self.workers = self.workers.clamp(policy.min, policy.max);
        self.autoscale = Some(policy);
        self
    }

    /// The number of workers to start with (at least 1; within the autoscaling bounds, if
    /// any).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        if let Some(policy) = &self.autoscale {
            let (min, max) = policy.bounds();
            self.workers = self.workers.clamp(min, max);
        }
        self
    }

    /// The factory's name, used for its workers' names and in its logs.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = name.into();
        self
    }

    /// The routing mode.
    pub fn routing(mut self, routing: Routing<K>) -> Self {
        self.routing = routing;
        self
    }

    /// At most `capacity` queued jobs (not counting the ones being handled), and what
    /// `submit` does beyond that.
    pub fn queue(mut self, capacity: usize, backpressure: Backpressure) -> Self {
        self.capacity = capacity.max(1);
        self.backpressure = backpressure;
        self
    }

    /// A job whose handler makes no progress for `threshold` is failed with
    /// [`FailureReason::Stuck`](crate::FailureReason::Stuck), its worker is failed and
    /// replaced, and the slot's queue goes to the replacement.
    ///
    /// The workers are spawned with
    /// [`SpawnOptions::with_stuck_after`](actor_core::SpawnOptions::with_stuck_after): the
    /// detection is actor-core's watchdog, which counts busy time on the wall clock, discounts
    /// pauses of the whole process, and drops the handler at its next await point (a handler
    /// that blocks its thread without awaiting cannot be dropped, only reported). Its
    /// [module docs](actor_core::heartbeat) give the bounds.
    pub fn stuck_after(mut self, threshold: Duration) -> Self {
        self.stuck_after = Some(threshold);
        self
    }

    /// Gives every worker a span per message
    /// ([`SpawnOptions::with_message_spans`](actor_core::SpawnOptions::with_message_spans)), or
    /// none; by default, the workers' own default options decide (and with them the
    /// process-wide default, [`actor_core::set_message_spans`]).
    ///
    /// With message spans, the span of a job's handling is a child of the span that was
    /// current where the job was submitted, whoever hands it to the worker later (a finishing
    /// worker, a replacement), retries included: a request's trace follows it through the
    /// pool.
    pub fn message_spans(mut self, on: bool) -> Self {
        self.message_spans = Some(on);
        self
    }

    /// Logs the factory's stats with `tracing` (level INFO) every `period`.
    pub fn stats_every(mut self, period: Duration) -> Self {
        self.stats_every = Some(period);
        self
    }

    /// Called with every job discarded unhandled (expired, or dropped for room). Runs on the
    /// task that discarded it; keep it short.
    pub fn on_discard(mut self, handler: impl Fn(Discarded<K, M>) + Send + Sync + 'static) -> Self {
        self.on_discard = Some(Arc::new(handler));
        self
    }

    /// Called exactly once for every job that failed for good. Runs on a task of the factory;
    /// keep it short.
    pub fn on_failure(mut self, handler: impl Fn(Failure<K>) + Send + Sync + 'static) -> Self {
        self.on_failure = Some(Arc::new(handler));
        self
    }

    /// Starts the workers.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] if a worker could not be built or spawned (outside a runtime, say).
    pub fn spawn(self) -> Result<Factory<W, K, M>, SpawnError> {
        let FactorySpec {
            name,
            workers,
            routing,
            capacity,
            backpressure,
            stuck_after,
            stats_every,
            build,
            wrap,
            on_discard,
            on_failure,
            autoscale,
            message_spans,
        } = self;
        let traced = message_spans.unwrap_or_else(|| W::default_options().message_spans());
        #[cfg(feature = "metrics")]
        let name_for_metrics = Arc::clone(&name);
        let shared = Arc::new_cyclic(|me| Shared {
            me: me.clone(),
            name,
            routing,
            capacity,
            backpressure,
            build: Mutex::new(build),
            wrap,
            stuck_after,
            traced,
            on_discard,
            on_failure,
            state: Mutex::new(State::default()),
            room: Notify::new(),
            idle: Notify::new(),
            workers: tokio::sync::watch::Sender::new(workers),
            closed: tokio::sync::watch::Sender::new(false),
            #[cfg(feature = "metrics")]
            metrics: super::telemetry::FactoryMetrics::new(&name_for_metrics),
        });
        let mut slots = Vec::with_capacity(workers);
        for _ in 0..workers {
            let id = shared.lock().next_slot_id();
            slots.push(Slot::new(id, shared.spawn_worker(id)?));
        }
        shared.lock().slots = slots;
        if let Some(period) = stats_every {
            tokio::spawn(super::health::log_stats(Arc::downgrade(&shared), period));
        }
        if let Some(policy) = autoscale {
            tokio::spawn(super::autoscale::autoscale_loop(Arc::downgrade(&shared), policy));
        }
        Ok(Factory { shared })
    }
}
