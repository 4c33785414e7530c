//! Supervisors: actors that start children from specifications and restart them in place when
//! they fail, within a restart intensity, escalating when it is exceeded.
//!
//! A restart keeps the child's task, mailbox and references: a handle taken before the restart
//! reaches the new incarnation, and messages queued behind the one that crashed are handled by
//! the new incarnation in order. The message that crashed is not handled again; its asker gets
//! [`AskError::Panicked`](crate::AskError::Panicked). The old incarnation's `on_stop` runs and
//! its state is dropped before the new one's `on_start`; they never run at the same time.
//!
//! ```
//! use std::time::Duration;
//! use actor_core::supervision::{ChildSpec, Restart, SupervisorSpec, SupervisionEvent};
//! # use actor_core::{Actor, Context, Reply};
//! # struct Flaky { calls: u32 }
//! # enum FlakyMsg { Call(Reply<u32>), Crash }
//! # impl Actor for Flaky {
//! #     type Message = FlakyMsg;
//! #     async fn handle(&mut self, msg: FlakyMsg, _ctx: &Context<Self>) {
//! #         match msg { FlakyMsg::Call(r) => { self.calls += 1; r.send(self.calls) } FlakyMsg::Crash => panic!("crash") }
//! #     }
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let spec = SupervisorSpec::new()
//!     .intensity(3, Duration::from_secs(5))
//!     .child(ChildSpec::new("flaky", || Ok(Flaky { calls: 0 })).restart(Restart::Permanent));
//! let mut events = spec.subscribe();
//! let supervisor = spec.spawn().await?;
//!
//! let flaky = supervisor.child::<Flaky>("flaky").expect("started");
//! assert_eq!(flaky.ask(FlakyMsg::Call).await?, 1);
//! flaky.tell(FlakyMsg::Crash).await?;
//! // The same reference reaches the new incarnation, whose state is fresh.
//! assert_eq!(flaky.ask(FlakyMsg::Call).await?, 1);
//! assert!(matches!(events.recv().await?, SupervisionEvent::Started { .. }));
//! assert!(matches!(events.recv().await?, SupervisionEvent::Restarting { .. }));
//! # Ok(())
//! # }
//! ```

use std::any::Any;
use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;

use crate::actor::Actor;
use crate::actor_ref::{ActorRef, WeakActorRef};
use crate::context::Context;
use crate::control::{ActorControl, RESTART};
use crate::error::{BoxError, SpawnError, StopReason};
use crate::mailbox::Mailbox;
use crate::runtime::{self, Decision, Restarter};
use crate::spawn::SpawnOptions;

/// Which children restart when one of them fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Strategy {
    /// Only the failed child restarts.
    #[default]
    OneForOne,
    /// Every child restarts: all stop in reverse start order, then all start in start order.
    OneForAll,
    /// The failed child and every child started after it restart, the same way.
    RestForOne,
}

/// When a child is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// After any exit it did not get from outside: a panic, a failure, or stopping itself.
    #[default]
    Permanent,
    /// Only after an abnormal exit (a panic or a failure).
    Transient,
    /// Never.
    Temporary,
}

/// What a supervisor reports; see [`SupervisorSpec::subscribe`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SupervisionEvent {
    /// A child's incarnation started (`on_start` succeeded); the first is incarnation 1.
    Started {
        /// The child's name in its specification.
        child: Arc<str>,
        /// Which incarnation started.
        incarnation: u64,
    },
    /// A child ended with `reason` and will start again after `delay`.
    Restarting {
        /// The child's name.
        child: Arc<str>,
        /// Why its incarnation ended.
        reason: StopReason,
        /// The backoff before the new incarnation.
        delay: Duration,
    },
    /// A child stopped for good.
    Stopped {
        /// The child's name.
        child: Arc<str>,
        /// Why.
        reason: StopReason,
    },
    /// A child's handler made no progress for longer than its threshold; the child is failed
    /// (see [`heartbeat`](crate::heartbeat)) and then restarted per its restart type.
    Stuck {
        /// The child's name.
        child: Arc<str>,
        /// How long its handler had made no progress.
        busy_for: Duration,
    },
    /// The restart intensity was exceeded: the supervisor stops its children and fails.
    Escalated {
        /// The child whose failure exceeded it.
        child: Arc<str>,
        /// That child's reason.
        reason: StopReason,
    },
}

impl fmt::Display for SupervisionEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SupervisionEvent::Started { child, incarnation } => {
                write!(f, "{child} started (incarnation {incarnation})")
            }
            SupervisionEvent::Restarting { child, reason, delay } => {
                write!(f, "{child} restarting in {delay:?}: {reason}")
            }
            SupervisionEvent::Stopped { child, reason } => write!(f, "{child} stopped: {reason}"),
            SupervisionEvent::Stuck { child, busy_for } => {
                write!(f, "{child} stuck: no progress for {busy_for:?}")
            }
            SupervisionEvent::Escalated { child, reason } => {
                write!(f, "{child} exceeded the restart intensity: {reason}")
            }
        }
    }
}

/// Exponential backoff between restarts: `initial`, doubling with each restart still inside the
/// intensity window, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
}

impl Backoff {
    /// A backoff starting at `initial` and capped at `max`.
    pub fn exponential(initial: Duration, max: Duration) -> Self {
        Backoff { initial, max }
    }

    fn delay(self, recent_restarts: usize) -> Duration {
        let doublings =
            u32::try_from(recent_restarts.saturating_sub(1)).unwrap_or(u32::MAX).min(31);
        self.initial.saturating_mul(1 << doublings).min(self.max)
    }
}

/// How to start one child, and when to restart it.
pub struct ChildSpec {
    name: Arc<str>,
    restart: Restart,
    shutdown_timeout: Duration,
    stuck_after: Option<Duration>,
    start: Box<dyn FnMut(Link, Option<Duration>) -> Result<Started, SpawnError> + Send>,
}

struct Started {
    control: ActorControl,
    actor_ref: Box<dyn Any + Send + Sync>,
}

impl ChildSpec {
    /// A child named `name` whose state `factory` builds, for the first incarnation and for
    /// every restart. A factory error counts as a failed restart. Defaults: `Restart::Permanent`,
    /// 5 s to stop gracefully before being killed, the actor type's spawn options.
    pub fn new<A, F>(name: impl Into<Arc<str>>, factory: F) -> Self
    where
        A: Actor,
        F: FnMut() -> Result<A, BoxError> + Send + 'static,
    {
        let factory = Arc::new(Mutex::new(factory));
        let name = name.into();
        let child_name = Arc::clone(&name);
        let start = move |link: Link,
                          stuck_after: Option<Duration>|
              -> Result<Started, SpawnError> {
            let build = Arc::clone(&factory);
            let first =
                lock(&build)().map_err(|error| SpawnError::Start(Arc::from(error.to_string())))?;
            let restarter = ChildRestarter { build: Box::new(move || lock(&build)()), link };
            let mut options = A::default_options().with_name(child_name.to_string());
            if let Some(threshold) = stuck_after {
                options = options.with_stuck_after(threshold);
            }
            let actor_ref = runtime::spawn_restartable(first, options, Some(Box::new(restarter)))?;
            Ok(Started { control: actor_ref.control(), actor_ref: Box::new(actor_ref) })
        };
        ChildSpec {
            name,
            restart: Restart::Permanent,
            shutdown_timeout: Duration::from_secs(5),
            stuck_after: None,
            start: Box::new(start),
        }
    }

    /// A nested supervisor, built afresh from `spec` for each incarnation.
    pub fn supervisor(
        name: impl Into<Arc<str>>,
        mut spec: impl FnMut() -> SupervisorSpec + Send + 'static,
    ) -> Self {
        ChildSpec::new(name, move || Ok(SupervisorActor::new(spec())))
    }

    /// When this child is restarted.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Monitors the child for stuck handlers (see [`heartbeat`](crate::heartbeat)): one that
    /// makes no progress for longer than `threshold` fails the child, which is then restarted
    /// per its restart type, and a [`SupervisionEvent::Stuck`] is reported.
    pub fn stuck_after(mut self, threshold: Duration) -> Self {
        self.stuck_after = Some(threshold);
        self
    }

    /// How long the child gets to stop gracefully when its supervisor stops, before it is
    /// killed.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("name", &self.name)
            .field("restart", &self.restart)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A factory that panicked leaves nothing half-written that the next call depends on.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A supervisor's configuration and children, in start order.
pub struct SupervisorSpec {
    strategy: Strategy,
    max_restarts: usize,
    window: Duration,
    backoff: Option<Backoff>,
    children: Vec<ChildSpec>,
    events: broadcast::Sender<SupervisionEvent>,
}

impl SupervisorSpec {
    /// One-for-one, at most 3 restarts in 5 s, no backoff, no children yet.
    pub fn new() -> Self {
        SupervisorSpec {
            strategy: Strategy::OneForOne,
            max_restarts: 3,
            window: Duration::from_secs(5),
            backoff: None,
            children: Vec::new(),
            events: broadcast::channel(1024).0,
        }
    }

    /// Which children restart when one fails.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// More than `max_restarts` restarts within any `window` makes the supervisor stop its
    /// children and fail, escalating to its own supervisor.
    pub fn intensity(mut self, max_restarts: usize, window: Duration) -> Self {
        self.max_restarts = max_restarts;
        self.window = window;
        self
    }

    /// Waits between restarts, growing while restarts keep coming.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// Adds a child; children start in the order they were added and stop in reverse.
    pub fn child(mut self, child: ChildSpec) -> Self {
        self.children.push(child);
        self
    }

    /// Supervision events from now on, including the first children starting.
    pub fn subscribe(&self) -> broadcast::Receiver<SupervisionEvent> {
        self.events.subscribe()
    }

    /// Starts the supervisor and returns once it has started its children, in order.
    ///
    /// # Errors
    ///
    /// As [`spawn`](fn@crate::spawn); [`SpawnError::Start`] if a child could not be started (the
    /// children already started are stopped again).
    pub async fn spawn(self) -> Result<Supervisor, SpawnError> {
        let events = self.events.clone();
        let actor = SupervisorActor::new(self);
        let shared = Arc::clone(&actor.shared);
        let actor = crate::spawn(actor)?;
        if actor.ask(SupervisorMsg::Ready).await.is_err() {
            let reason = actor.stopped().await;
            return Err(SpawnError::Start(Arc::from(reason.to_string())));
        }
        Ok(Supervisor { actor, shared, events })
    }
}

impl Default for SupervisorSpec {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SupervisorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisorSpec")
            .field("strategy", &self.strategy)
            .field("max_restarts", &self.max_restarts)
            .field("window", &self.window)
            .field("backoff", &self.backoff)
            .field("children", &self.children)
            .finish()
    }
}

/// A running supervisor.
#[derive(Clone)]
pub struct Supervisor {
    actor: ActorRef<SupervisorActor>,
    shared: Arc<Shared>,
    events: broadcast::Sender<SupervisionEvent>,
}

impl Supervisor {
    /// The reference to the child named `name`, if it is running and is an `A`. It stays valid
    /// across the child's restarts.
    pub fn child<A: Actor>(&self, name: &str) -> Option<ActorRef<A>> {
        let children = lock(&self.shared.children);
        children
            .iter()
            .find(|child| &*child.name == name)?
            .actor_ref
            .downcast_ref::<ActorRef<A>>()
            .cloned()
    }

    /// Supervision events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SupervisionEvent> {
        self.events.subscribe()
    }

    /// The nested supervisor started as child `name` (see [`ChildSpec::supervisor`]), in its
    /// current incarnation. References to its children survive their own restarts, not a
    /// restart of the nested supervisor itself, which starts them afresh.
    pub async fn nested(&self, name: &str) -> Option<Supervisor> {
        let actor = self.child::<SupervisorActor>(name)?;
        let (shared, events) = actor.ask(SupervisorMsg::Handle).await.ok()?;
        Some(Supervisor { actor, shared, events })
    }

    /// Stops the supervisor: its children stop in reverse start order, each killed if it does
    /// not stop within its shutdown timeout.
    pub fn stop(&self) {
        self.actor.stop();
    }

    /// Waits until the supervisor and all its children have stopped.
    pub async fn stopped(&self) -> StopReason {
        self.actor.stopped().await
    }

    /// Control over the supervisor itself.
    pub fn control(&self) -> ActorControl {
        self.actor.control()
    }
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor").field("actor", &self.actor).finish_non_exhaustive()
    }
}

/// State shared by a supervisor and its children's restarters.
struct Shared {
    strategy: Strategy,
    children: Mutex<Vec<RunningChild>>,
    window: Mutex<RestartWindow>,
    events: broadcast::Sender<SupervisionEvent>,
    /// The children restarting together after a sibling failed (one-for-all, rest-for-one).
    group: Mutex<Option<Group>>,
    group_changed: Notify,
}

/// A group restart in progress, by child index (start order).
#[derive(Default)]
struct Group {
    members: BTreeSet<usize>,
    stopped: BTreeSet<usize>,
    started: BTreeSet<usize>,
}

impl Shared {
    /// Waits until `ready` holds for the group in progress (or there is none).
    async fn wait_group(&self, ready: impl Fn(&Group) -> bool) {
        loop {
            let notified = self.group_changed.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a change in between is not missed.
            notified.as_mut().enable();
            if lock(&self.group).as_ref().is_none_or(&ready) {
                return;
            }
            notified.await;
        }
    }

    fn update_group(&self, change: impl FnOnce(&mut Group)) {
        {
            let mut group = lock(&self.group);
            if let Some(current) = group.as_mut() {
                change(current);
                let done = current.members.is_empty() || current.started == current.members;
                if done {
                    *group = None;
                }
            }
        }
        self.group_changed.notify_waiters();
    }

    /// Starts a group restart for the failure of child `index` and asks the other members to
    /// end their incarnations. Returns whether `index` is now in a group.
    fn begin_group(&self, index: usize) -> bool {
        if self.strategy == Strategy::OneForOne {
            return false;
        }
        let siblings: Vec<(usize, ActorControl)> = {
            let children = lock(&self.children);
            children
                .iter()
                .enumerate()
                .filter(|(i, child)| {
                    let in_scope = self.strategy == Strategy::OneForAll || *i >= index;
                    in_scope && (*i == index || child.control.is_alive())
                })
                .map(|(i, child)| (i, child.control.clone()))
                .collect()
        };
        {
            let mut group = lock(&self.group);
            let group = group.get_or_insert_with(Group::default);
            group.members.extend(siblings.iter().map(|(i, _)| *i));
        }
        for (i, control) in siblings.iter().rev() {
            if *i != index {
                control.cell.request(RESTART);
            }
        }
        self.group_changed.notify_waiters();
        true
    }

    /// Whether child `index` is restarting because a sibling failed: a member of the group that
    /// has not stopped yet. (A member whose new incarnation fails again is a failure of its own.)
    fn in_group(&self, index: usize) -> bool {
        lock(&self.group)
            .as_ref()
            .is_some_and(|group| group.members.contains(&index) && !group.stopped.contains(&index))
    }
}

struct RunningChild {
    name: Arc<str>,
    control: ActorControl,
    actor_ref: Box<dyn Any + Send + Sync>,
    shutdown_timeout: Duration,
}

/// The sliding window of recent restarts.
struct RestartWindow {
    restarts: VecDeque<Instant>,
    max_restarts: usize,
    window: Duration,
    backoff: Option<Backoff>,
    escalated: bool,
}

impl RestartWindow {
    /// Records a restart now, or returns `None` if it would exceed the intensity.
    fn admit(&mut self) -> Option<Duration> {
        let now = Instant::now();
        while self.restarts.front().is_some_and(|&at| now.duration_since(at) >= self.window) {
            self.restarts.pop_front();
        }
        if self.restarts.len() >= self.max_restarts {
            return None;
        }
        self.restarts.push_back(now);
        Some(self.backoff.map_or(Duration::ZERO, |backoff| backoff.delay(self.restarts.len())))
    }
}

/// What a child's task needs to ask its supervisor.
struct Link {
    shared: Arc<Shared>,
    /// The child's position in start order.
    index: usize,
    supervisor: WeakActorRef<SupervisorActor>,
    name: Arc<str>,
    restart: Restart,
    incarnation: u64,
}

struct ChildRestarter<A> {
    build: Box<dyn FnMut() -> Result<A, BoxError> + Send>,
    link: Link,
}

impl<A: Actor> Restarter<A> for ChildRestarter<A> {
    fn decide(&mut self, reason: &StopReason) -> Decision {
        let link = &self.link;
        let wanted = match link.restart {
            Restart::Permanent => true,
            Restart::Transient => reason.is_abnormal(),
            Restart::Temporary => false,
        };
        let event = |event| {
            // Nobody listening is fine.
            let _ = link.shared.events.send(event);
        };
        // Restarting because a sibling failed: not counted against the intensity.
        if link.shared.in_group(link.index) {
            if link.restart == Restart::Temporary {
                event(SupervisionEvent::Stopped {
                    child: Arc::clone(&link.name),
                    reason: reason.clone(),
                });
                return Decision::Stop;
            }
            event(SupervisionEvent::Restarting {
                child: Arc::clone(&link.name),
                reason: reason.clone(),
                delay: Duration::ZERO,
            });
            return Decision::Restart(Duration::ZERO);
        }
        if !wanted {
            event(SupervisionEvent::Stopped {
                child: Arc::clone(&link.name),
                reason: reason.clone(),
            });
            return Decision::Stop;
        }
        let admitted = {
            let mut window = lock(&link.shared.window);
            if window.escalated {
                None
            } else {
                let admitted = window.admit();
                window.escalated = admitted.is_none();
                admitted.map(Ok).or(Some(Err(())))
            }
        };
        match admitted {
            Some(Ok(delay)) => {
                link.shared.begin_group(link.index);
                tracing::info!(child = %link.name, %reason, ?delay, "restarting child");
                event(SupervisionEvent::Restarting {
                    child: Arc::clone(&link.name),
                    reason: reason.clone(),
                    delay,
                });
                Decision::Restart(delay)
            }
            Some(Err(())) => {
                tracing::warn!(child = %link.name, %reason, "restart intensity exceeded; escalating");
                event(SupervisionEvent::Escalated {
                    child: Arc::clone(&link.name),
                    reason: reason.clone(),
                });
                if let Some(supervisor) = link.supervisor.upgrade() {
                    // Unbounded mailbox: this cannot fail for lack of room.
                    let _ = supervisor.try_tell(SupervisorMsg::Escalate(reason.clone()));
                }
                Decision::Stop
            }
            // Another child already escalated: the supervisor is stopping everything.
            None => Decision::Stop,
        }
    }

    fn build(&mut self) -> Result<A, BoxError> {
        (self.build)()
    }

    fn started(&mut self) {
        let index = self.link.index;
        self.link.shared.update_group(|group| {
            group.started.insert(index);
        });
        self.link.incarnation += 1;
        let _ = self.link.shared.events.send(SupervisionEvent::Started {
            child: Arc::clone(&self.link.name),
            incarnation: self.link.incarnation,
        });
    }

    fn restarts_on_normal_exit(&self) -> bool {
        self.link.restart == Restart::Permanent
    }

    fn turn_to_stop(&mut self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let index = self.link.index;
        Box::pin(self.link.shared.wait_group(move |group| {
            group.members.range(index + 1..).all(|later| group.stopped.contains(later))
        }))
    }

    fn stopped(&mut self) {
        let index = self.link.index;
        self.link.shared.update_group(|group| {
            group.stopped.insert(index);
        });
    }

    fn turn_to_start(&mut self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let index = self.link.index;
        Box::pin(self.link.shared.wait_group(move |group| {
            group.stopped.is_superset(&group.members)
                && group.members.range(..index).all(|earlier| group.started.contains(earlier))
        }))
    }

    fn stuck_reporter(&self) -> Option<crate::heartbeat::StuckReport> {
        let events = self.link.shared.events.clone();
        let child = Arc::clone(&self.link.name);
        Some(Box::new(move |busy_for| {
            let _ = events.send(SupervisionEvent::Stuck { child: Arc::clone(&child), busy_for });
        }))
    }

    fn gone(&mut self) {
        let index = self.link.index;
        self.link.shared.update_group(|group| {
            group.members.remove(&index);
            group.stopped.remove(&index);
            group.started.remove(&index);
        });
    }
}

/// The supervisor's own actor.
struct SupervisorActor {
    shared: Arc<Shared>,
    specs: Vec<ChildSpec>,
}

enum SupervisorMsg {
    Escalate(StopReason),
    /// Answered once `on_start` has started every child.
    Ready(crate::reply::Reply<()>),
    /// What a [`Supervisor`] handle to this incarnation needs.
    Handle(HandleReply),
}

type HandleReply = crate::reply::Reply<(Arc<Shared>, broadcast::Sender<SupervisionEvent>)>;

impl SupervisorActor {
    fn new(spec: SupervisorSpec) -> Self {
        let shared = Arc::new(Shared {
            strategy: spec.strategy,
            group: Mutex::new(None),
            group_changed: Notify::new(),
            children: Mutex::new(Vec::new()),
            window: Mutex::new(RestartWindow {
                restarts: VecDeque::new(),
                max_restarts: spec.max_restarts,
                window: spec.window,
                backoff: spec.backoff,
                escalated: false,
            }),
            events: spec.events,
        });
        SupervisorActor { shared, specs: spec.children }
    }
}

/// Why a supervisor failed.
#[derive(Debug, thiserror::Error)]
#[error("restart intensity exceeded: {reason}")]
struct IntensityExceeded {
    reason: StopReason,
}

impl Actor for SupervisorActor {
    type Message = SupervisorMsg;

    fn default_options() -> SpawnOptions {
        // Children report escalations without waiting: the mailbox must always have room.
        SpawnOptions::new().with_mailbox(Mailbox::Unbounded)
    }

    async fn on_start(&mut self, ctx: &Context<Self>) -> Result<(), BoxError> {
        {
            let mut window = lock(&self.shared.window);
            window.restarts.clear();
            window.escalated = false;
        }
        let supervisor = ctx.actor_ref().downgrade();
        for (index, spec) in self.specs.iter_mut().enumerate() {
            let link = Link {
                shared: Arc::clone(&self.shared),
                index,
                supervisor: supervisor.clone(),
                name: Arc::clone(&spec.name),
                restart: spec.restart,
                incarnation: 0,
            };
            let started = (spec.start)(link, spec.stuck_after)?;
            lock(&self.shared.children).push(RunningChild {
                name: Arc::clone(&spec.name),
                control: started.control,
                actor_ref: started.actor_ref,
                shutdown_timeout: spec.shutdown_timeout,
            });
        }
        Ok(())
    }

    async fn on_stop(&mut self, _ctx: &Context<Self>, reason: &StopReason) {
        let children = std::mem::take(&mut *lock(&self.shared.children));
        for child in children.iter().rev() {
            child.control.stop();
            if tokio::time::timeout(child.shutdown_timeout, child.control.stopped()).await.is_err()
            {
                tracing::warn!(child = %child.name, "child did not stop in time; killing it");
                child.control.kill();
                child.control.stopped().await;
            }
        }
        tracing::debug!(%reason, "supervisor stopped");
    }

    async fn handle(&mut self, msg: SupervisorMsg, ctx: &Context<Self>) {
        match msg {
            SupervisorMsg::Escalate(reason) => ctx.fail(IntensityExceeded { reason }),
            SupervisorMsg::Ready(reply) => reply.send(()),
            SupervisorMsg::Handle(reply) => {
                reply.send((Arc::clone(&self.shared), self.shared.events.clone()));
            }
        }
    }
}
