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

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use actor_core::{Actor, ActorRef, BoxError, SpawnError, TrySendError};
use tokio::sync::Notify;
// tokio's clock, so that tests on paused time see deadlines and stuck workers.
use tokio::time::Instant;

use crate::job::{
    DiscardReason, Discarded, Ending, Failure, FailureReason, Home, Job, JobId, JobOptions,
};
use crate::stats::{FactoryStats, Histogram, WorkerStats};

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
    fn shared_queue(&self) -> bool {
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
    /// Discard the oldest queued job ([`DiscardReason::DroppedForRoom`]) and accept the new one.
    DropOldest,
}

/// Why a job was not accepted; carries the job back.
pub enum SubmitError<K, M> {
    /// The queue is full and the policy is [`Backpressure::Reject`] (or `try_submit` was used).
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

type Build<W> = Box<dyn FnMut() -> Result<W, BoxError> + Send>;
type Wrap<W, K, M> = Arc<dyn Fn(Job<K, M>) -> <W as Actor>::Message + Send + Sync>;
type OnDiscard<K, M> = Arc<dyn Fn(Discarded<K, M>) + Send + Sync>;
type OnFailure<K> = Arc<dyn Fn(Failure<K>) + Send + Sync>;

/// How to build a [`Factory`].
pub struct FactorySpec<W: Actor, K, M> {
    name: Arc<str>,
    workers: usize,
    routing: Routing<K>,
    capacity: usize,
    backpressure: Backpressure,
    stuck_after: Option<Duration>,
    stats_every: Option<Duration>,
    build: Build<W>,
    wrap: Wrap<W, K, M>,
    on_discard: Option<OnDiscard<K, M>>,
    on_failure: Option<OnFailure<K>>,
    autoscale: Option<Autoscale>,
}

/// An autoscaling policy; see [`FactorySpec::autoscale`].
#[derive(Debug, Clone, Copy)]
pub struct Autoscale {
    min: usize,
    max: usize,
    queue_per_worker: usize,
    max_wait: Option<Duration>,
    idle_for: Duration,
    every: Duration,
}

impl Autoscale {
    /// Between `min` and `max` workers (at least 1). Defaults: grow when more than 8 jobs per
    /// worker are queued, shrink after a worker was idle for 5 s with nothing queued, check
    /// every 100 ms, one worker at a time.
    pub fn new(min: usize, max: usize) -> Self {
        let min = min.max(1);
        Autoscale {
            min,
            max: max.max(min),
            queue_per_worker: 8,
            max_wait: None,
            idle_for: Duration::from_secs(5),
            every: Duration::from_millis(100),
        }
    }

    /// Grow when more than `jobs` jobs per worker are queued.
    pub fn queue_per_worker(mut self, jobs: usize) -> Self {
        self.queue_per_worker = jobs;
        self
    }

    /// Also grow when the oldest queued job has waited longer than `wait`.
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = Some(wait);
        self
    }

    /// Shrink once some worker has had nothing to do, and nothing was queued, for `idle`.
    pub fn idle_for(mut self, idle: Duration) -> Self {
        self.idle_for = idle;
        self
    }

    /// How often to decide.
    pub fn every(mut self, period: Duration) -> Self {
        self.every = period.max(Duration::from_millis(1));
        self
    }
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

    /// A job still running `threshold` after it was dispatched is failed with
    /// [`FailureReason::Stuck`], its worker is killed and replaced, and the slot's queue goes to
    /// the replacement. Checked every quarter of `threshold`.
    pub fn stuck_after(mut self, threshold: Duration) -> Self {
        self.stuck_after = Some(threshold);
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
        } = self;
        let shared = Arc::new_cyclic(|me| Shared {
            me: me.clone(),
            name,
            routing,
            capacity,
            backpressure,
            build: Mutex::new(build),
            wrap,
            on_discard,
            on_failure,
            state: Mutex::new(State::default()),
            room: Notify::new(),
            idle: Notify::new(),
        });
        let mut slots = Vec::with_capacity(workers);
        for _ in 0..workers {
            let id = shared.lock().next_slot_id();
            slots.push(Slot::new(id, shared.spawn_worker(id)?));
        }
        shared.lock().slots = slots;
        if let Some(threshold) = stuck_after {
            tokio::spawn(watch_stuck(Arc::downgrade(&shared), threshold));
        }
        if let Some(period) = stats_every {
            tokio::spawn(log_stats(Arc::downgrade(&shared), period));
        }
        if let Some(policy) = autoscale {
            tokio::spawn(autoscale_loop(Arc::downgrade(&shared), policy));
        }
        Ok(Factory { shared })
    }
}

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
    pub async fn submit(&self, key: K, payload: M) -> Result<JobId, SubmitError<K, M>> {
        self.shared.submit(key, payload, None, JobOptions::new(), true).await
    }

    /// [`Factory::submit`] with options (a time-to-live).
    ///
    /// # Errors
    ///
    /// As [`Factory::submit`].
    pub async fn submit_with(
        &self,
        key: K,
        payload: M,
        options: JobOptions,
    ) -> Result<JobId, SubmitError<K, M>> {
        self.shared.submit(key, payload, None, options, true).await
    }

    /// Queues a job that is run once more if its handler panics, hangs or stops its worker
    /// (on the replacement worker, ahead of the jobs queued behind it); it is reported failed
    /// only if the second attempt fails too. Keeps a clone of the payload for that.
    ///
    /// # Errors
    ///
    /// As [`Factory::submit`].
    pub async fn submit_retrying(
        &self,
        key: K,
        payload: M,
        options: JobOptions,
    ) -> Result<JobId, SubmitError<K, M>>
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
    pub fn try_submit(&self, key: K, payload: M) -> Result<JobId, SubmitError<K, M>> {
        let mut fx = Effects { now: Some(Instant::now()), ..Effects::default() };
        let result = {
            let mut st = self.shared.lock();
            self.shared.accept(&mut st, key, payload, None, JobOptions::new(), &mut fx)
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

    /// Stops accepting jobs, waits until every queued and running job has ended, stops the
    /// workers and returns the final counters.
    pub async fn drain(&self) -> FactoryStats {
        self.shared.lock().accepting = false;
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

/// A queued job.
struct Entry<K, M> {
    id: JobId,
    key: K,
    payload: M,
    retry: Option<M>,
    attempt: u32,
    submitted: Instant,
    deadline: Option<Instant>,
}

impl<K, M> Entry<K, M> {
    /// A job that goes back to the front of its slot's queue (a retry, or a job its dead
    /// worker never got): no deadline any more, its queue wait counted from now.
    fn again(id: JobId, key: K, payload: M, retry: Option<M>, attempt: u32) -> Self {
        Entry { id, key, payload, retry, attempt, submitted: Instant::now(), deadline: None }
    }
}

/// The job a slot's worker is handling.
struct Running<K, M> {
    id: JobId,
    key: K,
    retry: Option<M>,
    attempt: u32,
    started: Instant,
    /// The worker refused the message (it was stopping): the job was never delivered.
    undelivered: bool,
}

#[derive(Default, Clone)]
struct SlotCounters {
    processed: u64,
    failed: u64,
    replaced: u64,
    processing: Histogram,
}

struct Slot<W: Actor, K, M> {
    id: u64,
    generation: u64,
    /// `None` while the slot waits for a replacement worker.
    worker: Option<ActorRef<W>>,
    local: VecDeque<Entry<K, M>>,
    current: Option<Running<K, M>>,
    retiring: bool,
    counters: SlotCounters,
}

impl<W: Actor, K, M> Slot<W, K, M> {
    fn new(id: u64, worker: ActorRef<W>) -> Self {
        Slot {
            id,
            generation: 0,
            worker: Some(worker),
            local: VecDeque::new(),
            current: None,
            retiring: false,
            counters: SlotCounters::default(),
        }
    }
}

/// Why `admit` refused a job.
enum Refusal {
    Full,
    Closed,
}

/// Where a key's jobs are (sticky queuer): the slot that holds some of them (in its queue or
/// running), how many it holds, and how many wait in the shared queue. A key with jobs in the
/// shared queue gets new jobs there too, behind them.
#[derive(Default)]
struct KeyLoad {
    slot: Option<u64>,
    on_slot: usize,
    shared: usize,
}

#[derive(Default)]
struct Totals {
    submitted: u64,
    retried: u64,
    discarded: u64,
    replaced: u64,
    queue_wait: Histogram,
    /// Counters of slots removed by resizing.
    removed: SlotCounters,
}

struct State<W: Actor, K, M> {
    slots: Vec<Slot<W, K, M>>,
    central: VecDeque<Entry<K, M>>,
    queued: usize,
    keys: HashMap<K, KeyLoad>,
    next_job: u64,
    next_slot: u64,
    turn: usize,
    rng: u64,
    accepting: bool,
    /// Submitters waiting for room.
    waiting: usize,
    /// Slots whose worker is gone and whose replacement is not built yet.
    replacing: usize,
    totals: Totals,
}

impl<W: Actor, K, M> Default for State<W, K, M> {
    fn default() -> Self {
        State {
            slots: Vec::new(),
            central: VecDeque::new(),
            queued: 0,
            keys: HashMap::new(),
            next_job: 0,
            next_slot: 0,
            turn: 0,
            rng: 0x2545_f491_4f6c_dd1d,
            accepting: true,
            waiting: 0,
            replacing: 0,
            totals: Totals::default(),
        }
    }
}

impl<W: Actor, K, M> State<W, K, M> {
    fn next_slot_id(&mut self) -> u64 {
        self.next_slot += 1;
        self.next_slot
    }

    /// Puts a job back at the front of the queue of the slot at `pos`.
    fn requeue_front(&mut self, pos: usize, entry: Entry<K, M>) {
        self.queued += 1;
        self.slots[pos].local.push_front(entry);
    }

    fn position(&self, slot: u64) -> Option<usize> {
        self.slots.iter().position(|s| s.id == slot)
    }

    /// Nothing queued, running or being replaced: nothing can change until a new job comes.
    fn is_idle(&self) -> bool {
        self.queued == 0 && self.replacing == 0 && self.slots.iter().all(|s| s.current.is_none())
    }

    /// The worker of the slot at `pos` is gone (or going): a replacement is built once the
    /// lock is released, and takes the slot's queue. Returns the old worker.
    fn lose_worker(&mut self, pos: usize, fx: &mut Effects<W, K, M>) -> Option<ActorRef<W>> {
        let slot = &mut self.slots[pos];
        let worker = slot.worker.take();
        if worker.is_some() {
            self.replacing += 1;
            fx.replace.push(slot.id);
        }
        worker
    }

    fn stats(&self) -> FactoryStats {
        let mut processed = self.totals.removed.processed;
        let mut failed = self.totals.removed.failed;
        let mut processing = self.totals.removed.processing.clone();
        let mut per_worker = Vec::with_capacity(self.slots.len());
        for slot in &self.slots {
            processed += slot.counters.processed;
            failed += slot.counters.failed;
            processing.merge(&slot.counters.processing);
            per_worker.push(WorkerStats {
                slot: slot.id,
                queued: slot.local.len(),
                busy: slot.current.is_some(),
                processed: slot.counters.processed,
                failed: slot.counters.failed,
                replaced: slot.counters.replaced,
                processing: slot.counters.processing.summary(),
            });
        }
        FactoryStats {
            workers: self.slots.len(),
            queued: self.queued,
            in_flight: self.slots.iter().filter(|s| s.current.is_some()).count(),
            submitted: self.totals.submitted,
            processed,
            failed,
            retried: self.totals.retried,
            discarded: self.totals.discarded,
            replaced: self.totals.replaced,
            queue_wait: self.totals.queue_wait.summary(),
            processing: processing.summary(),
            per_worker,
        }
    }
}

/// What to do once the state's lock is released: user callbacks, worker replacements, drops
/// of messages that carry jobs (their destructors report back and take the lock).
struct Effects<W: Actor, K, M> {
    discards: Vec<Discarded<K, M>>,
    failures: Vec<Failure<K>>,
    replace: Vec<u64>,
    kill: Vec<ActorRef<W>>,
    stop: Vec<ActorRef<W>>,
    undelivered: Vec<W::Message>,
    room: usize,
    idle: bool,
    /// The time, if read already under this lock.
    now: Option<Instant>,
}

impl<W: Actor, K, M> Default for Effects<W, K, M> {
    fn default() -> Self {
        Effects {
            discards: Vec::new(),
            failures: Vec::new(),
            replace: Vec::new(),
            kill: Vec::new(),
            stop: Vec::new(),
            undelivered: Vec::new(),
            room: 0,
            idle: false,
            now: None,
        }
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
    on_discard: Option<OnDiscard<K, M>>,
    on_failure: Option<OnFailure<K>>,
    state: Mutex<State<W, K, M>>,
    /// Notified when queued jobs leave the queue (room for waiting submitters).
    room: Notify,
    /// Notified when no job is queued or running.
    idle: Notify,
}

fn hash_of<K: Hash>(key: &K) -> u64 {
    // Fixed keys: the same key maps to the same worker in every run.
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
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

    /// See [`Factory::resize`].
    fn resize(&self, workers: usize) -> Result<(), SpawnError> {
        let workers = workers.max(1);
        let mut fx = Effects::default();
        {
            let mut st = self.lock();
            let active = st.slots.iter().filter(|s| !s.retiring).count();
            if workers < active {
                let mut to_retire = active - workers;
                for pos in (0..st.slots.len()).rev() {
                    if to_retire == 0 {
                        break;
                    }
                    if !st.slots[pos].retiring {
                        st.slots[pos].retiring = true;
                        to_retire -= 1;
                        self.dispatch(&mut st, pos, &mut fx);
                    }
                }
            } else {
                // Slots being retired come back first.
                let mut wanted = workers - active;
                for slot in st.slots.iter_mut().filter(|s| s.retiring) {
                    if wanted == 0 {
                        break;
                    }
                    slot.retiring = false;
                    wanted -= 1;
                }
                drop(st);
                for _ in 0..wanted {
                    let id = self.lock().next_slot_id();
                    let worker = self.spawn_worker(id)?;
                    let mut st = self.lock();
                    st.slots.push(Slot::new(id, worker));
                    let pos = st.slots.len() - 1;
                    self.dispatch(&mut st, pos, &mut fx);
                }
            }
        }
        self.run(fx);
        Ok(())
    }

    fn spawn_worker(&self, slot: u64) -> Result<ActorRef<W>, SpawnError> {
        let built = {
            let mut build = self.build.lock().unwrap_or_else(PoisonError::into_inner);
            (build)()
        };
        let worker = built.map_err(|e| SpawnError::Start(Arc::from(e.to_string())))?;
        W::default_options().with_name(format!("{}-worker-{slot}", self.name)).spawn(worker)
    }

    async fn submit(
        &self,
        key: K,
        payload: M,
        retry: Option<M>,
        options: JobOptions,
        wait: bool,
    ) -> Result<JobId, SubmitError<K, M>> {
        let wait = wait && self.backpressure == Backpressure::Wait;
        let mut registered = false;
        loop {
            // Registering for room costs a lock inside `Notify`: only once the queue was full.
            let mut room = pin!(self.room.notified());
            if registered {
                room.as_mut().enable();
            }
            let mut fx = Effects { now: Some(Instant::now()), ..Effects::default() };
            let admitted = {
                let mut st = self.lock();
                let admitted = self.admit(&mut st, &mut fx);
                if let Ok(()) = admitted {
                    if registered {
                        st.waiting -= 1;
                    }
                    let id = self.insert(&mut st, key, payload, retry, options, &mut fx);
                    drop(st);
                    self.run(fx);
                    return Ok(id);
                }
                if let Err(Refusal::Full) = admitted
                    && wait
                    && !registered
                {
                    st.waiting += 1;
                }
                admitted
            };
            self.run(fx);
            match admitted {
                Err(Refusal::Full) if wait && !registered => registered = true,
                Err(Refusal::Full) if wait => room.await,
                Err(Refusal::Full) => return Err(SubmitError::Full { key, payload }),
                Err(Refusal::Closed) | Ok(()) => {
                    if registered {
                        self.lock().waiting -= 1;
                    }
                    return Err(SubmitError::Closed { key, payload });
                }
            }
        }
    }

    /// Accepts a job into a queue (or refuses it), under the lock.
    fn accept(
        &self,
        st: &mut State<W, K, M>,
        key: K,
        payload: M,
        retry: Option<M>,
        options: JobOptions,
        fx: &mut Effects<W, K, M>,
    ) -> Result<JobId, SubmitError<K, M>> {
        match self.admit(st, fx) {
            Ok(()) => Ok(self.insert(st, key, payload, retry, options, fx)),
            Err(Refusal::Full) => Err(SubmitError::Full { key, payload }),
            Err(Refusal::Closed) => Err(SubmitError::Closed { key, payload }),
        }
    }

    /// Whether a new job fits (making room under [`Backpressure::DropOldest`]).
    fn admit(&self, st: &mut State<W, K, M>, fx: &mut Effects<W, K, M>) -> Result<(), Refusal> {
        if !st.accepting {
            return Err(Refusal::Closed);
        }
        if st.queued >= self.capacity
            && (self.backpressure != Backpressure::DropOldest || !self.drop_oldest(st, fx))
        {
            return Err(Refusal::Full);
        }
        Ok(())
    }

    fn insert(
        &self,
        st: &mut State<W, K, M>,
        key: K,
        payload: M,
        retry: Option<M>,
        options: JobOptions,
        fx: &mut Effects<W, K, M>,
    ) -> JobId {
        st.next_job += 1;
        let id = JobId(st.next_job);
        let now = fx.now.unwrap_or_else(Instant::now);
        let entry = Entry {
            id,
            key,
            payload,
            retry,
            attempt: 1,
            submitted: now,
            deadline: options.ttl.map(|ttl| now + ttl),
        };
        st.totals.submitted += 1;
        st.queued += 1;
        self.route(st, entry, fx);
        id
    }

    /// Puts a new job in the queue its routing picks and starts it if that worker is free.
    fn route(&self, st: &mut State<W, K, M>, entry: Entry<K, M>, fx: &mut Effects<W, K, M>) {
        // The n-th (modulo their number) slot that takes new jobs.
        let pick = |st: &State<W, K, M>, n: u64| {
            let active = st.slots.iter().filter(|s| !s.retiring).count().max(1);
            let nth = (n % active as u64) as usize;
            (0..st.slots.len()).filter(|&pos| !st.slots[pos].retiring).nth(nth)
        };
        let pos = match &self.routing {
            Routing::Queuer => None,
            Routing::StickyQueuer => {
                let load = st.keys.entry(entry.key.clone()).or_default();
                match load.slot {
                    Some(slot) if load.shared == 0 => {
                        load.on_slot += 1;
                        st.position(slot)
                    }
                    _ => {
                        load.shared += 1;
                        None
                    }
                }
            }
            Routing::KeyPersistent => pick(st, hash_of(&entry.key)),
            Routing::CustomHash(hash) => pick(st, hash(&entry.key)),
            Routing::RoundRobin => {
                st.turn = st.turn.wrapping_add(1);
                pick(st, st.turn as u64)
            }
            Routing::Random => {
                st.rng ^= st.rng << 13;
                st.rng ^= st.rng >> 7;
                st.rng ^= st.rng << 17;
                pick(st, st.rng)
            }
        };
        match pos {
            Some(pos) => {
                st.slots[pos].local.push_back(entry);
                self.dispatch(st, pos, fx);
            }
            None => {
                st.central.push_back(entry);
                if let Some(pos) = (0..st.slots.len()).find(|&pos| {
                    let slot = &st.slots[pos];
                    !slot.retiring && slot.current.is_none() && slot.worker.is_some()
                }) {
                    self.dispatch(st, pos, fx);
                }
            }
        }
    }

    /// Discards the oldest queued job; false if nothing is queued.
    fn drop_oldest(&self, st: &mut State<W, K, M>, fx: &mut Effects<W, K, M>) -> bool {
        let central = st.central.front().map(|e| (e.id, None));
        let locals = st
            .slots
            .iter()
            .enumerate()
            .filter_map(|(pos, slot)| slot.local.front().map(|e| (e.id, Some(pos))));
        let Some((_, from)) = central.into_iter().chain(locals).min_by_key(|(id, _)| *id) else {
            return false;
        };
        let entry = match from {
            None => st.central.pop_front(),
            Some(pos) => st.slots[pos].local.pop_front(),
        };
        let Some(entry) = entry else { return false };
        st.queued -= 1;
        if from.is_none() {
            self.release_shared_key(st, &entry.key);
        } else {
            self.release_key(st, &entry.key);
        }
        self.discard(st, entry, DiscardReason::DroppedForRoom, fx);
        true
    }

    fn discard(
        &self,
        st: &mut State<W, K, M>,
        entry: Entry<K, M>,
        reason: DiscardReason,
        fx: &mut Effects<W, K, M>,
    ) {
        st.totals.discarded += 1;
        tracing::debug!(factory = %self.name, id = entry.id.0, ?reason, "job discarded");
        fx.discards.push(Discarded {
            id: entry.id,
            key: entry.key,
            payload: entry.payload,
            reason,
        });
    }

    /// One job of `key` left its slot (sticky queuer bookkeeping).
    fn release_key(&self, st: &mut State<W, K, M>, key: &K) {
        if !matches!(self.routing, Routing::StickyQueuer) {
            return;
        }
        if let Some(load) = st.keys.get_mut(key) {
            load.on_slot = load.on_slot.saturating_sub(1);
            if load.on_slot == 0 {
                load.slot = None;
                if load.shared == 0 {
                    st.keys.remove(key);
                }
            }
        }
    }

    /// One job of `key` left the shared queue without reaching a slot (sticky queuer).
    fn release_shared_key(&self, st: &mut State<W, K, M>, key: &K) {
        if !matches!(self.routing, Routing::StickyQueuer) {
            return;
        }
        if let Some(load) = st.keys.get_mut(key) {
            load.shared = load.shared.saturating_sub(1);
            if load.shared == 0 && load.on_slot == 0 {
                st.keys.remove(key);
            }
        }
    }

    /// The next job for the slot at `pos`: its own queue first, then the shared one.
    fn next_for(
        &self,
        st: &mut State<W, K, M>,
        pos: usize,
        fx: &mut Effects<W, K, M>,
    ) -> Option<Entry<K, M>> {
        if let Some(entry) = st.slots[pos].local.pop_front() {
            return Some(entry);
        }
        if st.slots[pos].retiring || !self.routing.shared_queue() {
            return None;
        }
        let slot_id = st.slots[pos].id;
        while let Some(entry) = st.central.pop_front() {
            if !matches!(self.routing, Routing::StickyQueuer) {
                return Some(entry);
            }
            let Some(load) = st.keys.get_mut(&entry.key) else { return Some(entry) };
            load.shared = load.shared.saturating_sub(1);
            load.on_slot += 1;
            let busy_elsewhere = load.slot.filter(|&other| other != slot_id);
            let other = busy_elsewhere.and_then(|other| st.position(other));
            match other {
                Some(other) => {
                    // The key is busy on another worker: its job waits there, in order.
                    st.slots[other].local.push_back(entry);
                    self.dispatch(st, other, fx);
                }
                None => {
                    if let Some(load) = st.keys.get_mut(&entry.key) {
                        load.slot = Some(slot_id);
                    }
                    return Some(entry);
                }
            }
        }
        None
    }

    /// Gives the slot at `pos` its next job if it is free; removes it if it is retiring and
    /// has nothing left.
    fn dispatch(&self, st: &mut State<W, K, M>, pos: usize, fx: &mut Effects<W, K, M>) {
        let mut now = None;
        loop {
            let slot = &st.slots[pos];
            if slot.current.is_some() || slot.worker.is_none() {
                return;
            }
            let Some(entry) = self.next_for(st, pos, fx) else {
                if st.slots[pos].retiring {
                    let slot = st.slots.remove(pos);
                    let removed = &mut st.totals.removed;
                    removed.processed += slot.counters.processed;
                    removed.failed += slot.counters.failed;
                    removed.replaced += slot.counters.replaced;
                    removed.processing.merge(&slot.counters.processing);
                    fx.stop.extend(slot.worker);
                }
                return;
            };
            st.queued -= 1;
            if fx.room < st.waiting {
                fx.room += 1;
            }
            // One clock read per dispatch at most; `ended` passes the one it made.
            let now = *now.get_or_insert_with(|| fx.now.unwrap_or_else(Instant::now));
            if entry.deadline.is_some_and(|deadline| now >= deadline) {
                self.release_key(st, &entry.key);
                self.discard(st, entry, DiscardReason::Expired, fx);
                continue;
            }
            st.totals.queue_wait.record(now - entry.submitted);
            let Some(home) = self.me.upgrade() else { return };
            let slot = &mut st.slots[pos];
            let job = Job {
                id: entry.id,
                key: entry.key.clone(),
                payload: Some(entry.payload),
                attempt: entry.attempt,
                slot: slot.id,
                generation: slot.generation,
                home,
            };
            slot.current = Some(Running {
                id: entry.id,
                key: entry.key,
                retry: entry.retry,
                attempt: entry.attempt,
                started: now,
                undelivered: false,
            });
            let (slot_id, generation) = (slot.id, slot.generation);
            let Some(worker) = slot.worker.as_ref() else { return };
            match worker.try_tell((self.wrap)(job)) {
                Ok(()) => {}
                Err(TrySendError::Full(msg)) => {
                    // Someone else filled the worker's mailbox; wait for room off the lock.
                    let worker = worker.clone();
                    let me = self.me.clone();
                    tokio::spawn(async move {
                        if let Err(refused) = worker.tell(msg).await {
                            if let Some(me) = me.upgrade() {
                                me.undelivered(slot_id, generation, entry.id);
                            }
                            drop(refused);
                        }
                    });
                }
                Err(TrySendError::Closed(msg)) => {
                    // The worker is stopping. The job comes back through its destructor, off
                    // the lock, and goes to the replacement.
                    if let Some(running) = st.slots[pos].current.as_mut() {
                        running.undelivered = true;
                    }
                    fx.undelivered.push(msg);
                }
            }
            return;
        }
    }

    /// The slot's running job failed: retry it once if it may, else report it.
    fn fail(
        &self,
        st: &mut State<W, K, M>,
        pos: usize,
        running: Running<K, M>,
        reason: FailureReason,
        fx: &mut Effects<W, K, M>,
    ) {
        if let (Some(payload), 1) = (running.retry, running.attempt) {
            st.totals.retried += 1;
            st.requeue_front(pos, Entry::again(running.id, running.key, payload, None, 2));
            return;
        }
        st.slots[pos].counters.failed += 1;
        self.release_key(st, &running.key);
        tracing::warn!(factory = %self.name, id = running.id.0, %reason, "job failed");
        fx.failures.push(Failure {
            id: running.id,
            key: running.key,
            attempt: running.attempt,
            reason,
        });
    }

    /// Runs what was decided under the lock.
    fn run(&self, fx: Effects<W, K, M>) {
        let Effects { discards, failures, replace, kill, stop, undelivered, room, idle, now: _ } =
            fx;
        for worker in kill {
            worker.kill();
        }
        for worker in stop {
            worker.stop();
        }
        drop(undelivered);
        for _ in 0..room {
            self.room.notify_one();
        }
        if idle {
            self.idle.notify_waiters();
        }
        if let Some(handler) = &self.on_discard {
            discards.into_iter().for_each(|d| handler(d));
        }
        if let Some(handler) = &self.on_failure {
            failures.into_iter().for_each(|f| handler(f));
        }
        for slot in replace {
            self.replace(slot);
        }
    }

    /// Marks the job `id` of `slot` as never delivered: its worker refused it.
    fn undelivered(&self, slot: u64, generation: u64, id: JobId) {
        let mut st = self.lock();
        let Some(pos) = st.position(slot) else { return };
        let s = &mut st.slots[pos];
        if s.generation == generation
            && let Some(running) = s.current.as_mut().filter(|running| running.id == id)
        {
            running.undelivered = true;
        }
    }

    /// Builds a new worker for `slot` and gives it the slot's queue.
    fn replace(&self, slot: u64) {
        let worker = match self.spawn_worker(slot) {
            Ok(worker) => worker,
            Err(error) => {
                let mut fx = Effects::default();
                {
                    let mut st = self.lock();
                    let central = self.routing.shared_queue() && !st.central.is_empty();
                    let has_work = st
                        .position(slot)
                        .is_some_and(|pos| !st.slots[pos].local.is_empty() || central);
                    if !st.accepting && !has_work {
                        // Draining with nothing left for this slot: no replacement is needed.
                        tracing::warn!(factory = %self.name, slot, %error, "cannot replace a worker while draining; leaving its slot empty");
                        st.replacing -= 1;
                        fx.idle = st.is_idle();
                        drop(st);
                        self.run(fx);
                        return;
                    }
                }
                tracing::error!(factory = %self.name, slot, %error, "cannot replace a worker; retrying in 100 ms");
                if let Some(me) = self.me.upgrade() {
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        me.replace(slot);
                    });
                }
                return;
            }
        };
        let mut fx = Effects::default();
        {
            let mut st = self.lock();
            st.replacing -= 1;
            match st.position(slot) {
                Some(pos) if st.slots[pos].worker.is_none() => {
                    let s = &mut st.slots[pos];
                    s.worker = Some(worker);
                    s.generation += 1;
                    s.counters.replaced += 1;
                    st.totals.replaced += 1;
                    self.dispatch(&mut st, pos, &mut fx);
                }
                _ => fx.stop.push(worker),
            }
            fx.idle = !st.accepting && st.is_idle();
        }
        self.run(fx);
    }
}

impl<W, K, M> Home<K, M> for Shared<W, K, M>
where
    W: Actor,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + 'static,
{
    fn ended(&self, slot: u64, generation: u64, id: JobId, ending: Ending, unhandled: Option<M>) {
        // Read off the lock: the end of this job and the dispatch of the next.
        let mut fx = Effects { now: Some(Instant::now()), ..Effects::default() };
        {
            let mut st = self.lock();
            let Some(pos) = st.position(slot) else { return };
            let s = &mut st.slots[pos];
            if s.generation != generation || s.current.as_ref().map(|r| r.id) != Some(id) {
                // Already failed as stuck; this is the killed worker letting go of it.
                return;
            }
            let Some(running) = s.current.take() else { return };
            let ending = if running.undelivered { Ending::Unhandled } else { ending };
            match ending {
                Ending::Handled => {
                    // The handler finished with it (a worker that stops itself afterwards
                    // refuses its next job, which then goes to the replacement).
                    s.counters.processed += 1;
                    let now = fx.now.unwrap_or_else(Instant::now);
                    s.counters.processing.record(now - running.started);
                    if s.worker.as_ref().is_some_and(ActorRef::is_closed) {
                        // The worker stopped itself: replace it now, not at the next job.
                        let gone = st.lose_worker(pos, &mut fx);
                        fx.stop.extend(gone);
                    }
                    self.release_key(&mut st, &running.key);
                }
                Ending::Unhandled => {
                    // Never handled: its worker stopped or failed first. The job goes back to
                    // the front of the slot's queue, for the replacement.
                    let gone = st.lose_worker(pos, &mut fx);
                    fx.stop.extend(gone);
                    match unhandled {
                        Some(payload) => {
                            let entry = Entry::again(
                                running.id,
                                running.key,
                                payload,
                                running.retry,
                                running.attempt,
                            );
                            st.requeue_front(pos, entry);
                        }
                        None => {
                            self.fail(&mut st, pos, running, FailureReason::WorkerStopped, &mut fx)
                        }
                    }
                }
                Ending::Interrupted => {
                    // Killed in the middle of its handler.
                    let gone = st.lose_worker(pos, &mut fx);
                    fx.stop.extend(gone);
                    self.fail(&mut st, pos, running, FailureReason::WorkerStopped, &mut fx);
                }
                Ending::Panicked => {
                    // A panicking handler stops its (unsupervised) worker.
                    let gone = st.lose_worker(pos, &mut fx);
                    fx.stop.extend(gone);
                    self.fail(&mut st, pos, running, FailureReason::Panicked, &mut fx);
                }
            }
            self.dispatch(&mut st, pos, &mut fx);
            fx.idle = !st.accepting && st.is_idle();
        }
        if ending == Ending::Panicked {
            // Still unwinding: user code (handlers, the worker factory) runs on a task instead.
            if let Some(me) = self.me.upgrade() {
                tokio::spawn(async move { me.run(fx) });
            }
        } else {
            self.run(fx);
        }
    }
}

async fn watch_stuck<W, K, M>(shared: Weak<Shared<W, K, M>>, threshold: Duration)
where
    W: Actor,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + 'static,
{
    let period = (threshold / 4).max(Duration::from_millis(1));
    loop {
        tokio::time::sleep(period).await;
        let Some(me) = shared.upgrade() else { return };
        let mut fx = Effects::default();
        {
            let mut st = me.lock();
            for pos in 0..st.slots.len() {
                let s = &mut st.slots[pos];
                let busy_for = match &s.current {
                    Some(running) if running.started.elapsed() > threshold => {
                        running.started.elapsed()
                    }
                    _ => continue,
                };
                let Some(running) = s.current.take() else { continue };
                tracing::warn!(factory = %me.name, slot = s.id, ?busy_for, "worker stuck; replacing it");
                s.generation += 1;
                let worker = st.lose_worker(pos, &mut fx);
                fx.kill.extend(worker);
                me.fail(&mut st, pos, running, FailureReason::Stuck(busy_for), &mut fx);
            }
            fx.idle = !st.accepting && st.is_idle();
        }
        me.run(fx);
    }
}

async fn log_stats<W, K, M>(shared: Weak<Shared<W, K, M>>, period: Duration)
where
    W: Actor,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + 'static,
{
    loop {
        tokio::time::sleep(period).await;
        let Some(me) = shared.upgrade() else { return };
        let stats = me.lock().stats();
        tracing::info!(factory = %me.name, %stats, "factory stats");
    }
}

async fn autoscale_loop<W, K, M>(shared: Weak<Shared<W, K, M>>, policy: Autoscale)
where
    W: Actor,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + 'static,
{
    let mut idle_since: Option<Instant> = None;
    loop {
        tokio::time::sleep(policy.every).await;
        let Some(me) = shared.upgrade() else { return };
        let now = Instant::now();
        let target = {
            let st = me.lock();
            if !st.accepting {
                return;
            }
            let active = st.slots.iter().filter(|s| !s.retiring).count();
            let oldest = st
                .central
                .front()
                .into_iter()
                .chain(st.slots.iter().filter_map(|s| s.local.front()))
                .map(|e| e.submitted)
                .min();
            let waited_too_long = policy
                .max_wait
                .zip(oldest)
                .is_some_and(|(limit, oldest)| now.saturating_duration_since(oldest) > limit);
            let some_idle = st.slots.iter().any(|s| !s.retiring && s.current.is_none());
            if st.queued > 0 || !some_idle {
                idle_since = None;
            } else {
                idle_since.get_or_insert(now);
            }
            if (st.queued > policy.queue_per_worker * active || waited_too_long)
                && active < policy.max
            {
                Some(active + 1)
            } else if idle_since.is_some_and(|since| now - since >= policy.idle_for)
                && active > policy.min
            {
                idle_since = Some(now);
                Some(active - 1)
            } else {
                None
            }
        };
        if let Some(workers) = target {
            tracing::info!(factory = %me.name, workers, "autoscaling");
            if let Err(error) = me.resize(workers) {
                tracing::error!(factory = %me.name, %error, "autoscaling could not start a worker");
            }
        }
    }
}
