//! What a supervisor is built from: [`SupervisorSpec`] and its [`ChildSpec`]s, the restart
//! [`Strategy`], each child's [`Restart`] type, and the [`Backoff`] between restarts.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast;

use super::events::SupervisionEvent;
use super::lock;
use super::restart::{ChildRestarter, Link};
use super::supervisor::{Supervisor, SupervisorActor};
use crate::actor::Actor;
use crate::control::ActorControl;
use crate::error::{BoxError, SpawnError};
use crate::runtime;

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

    pub(super) fn delay(self, recent_restarts: usize) -> Duration {
        let doublings =
            u32::try_from(recent_restarts.saturating_sub(1)).unwrap_or(u32::MAX).min(31);
        self.initial.saturating_mul(1 << doublings).min(self.max)
    }
}

/// How to start one child, and when to restart it.
pub struct ChildSpec {
    pub(super) name: Arc<str>,
    pub(super) restart: Restart,
    pub(super) shutdown_timeout: Duration,
    pub(super) stuck_after: Option<Duration>,
    pub(super) start: Box<dyn FnMut(Link, Option<Duration>) -> Result<Started, SpawnError> + Send>,
}

/// A child's first incarnation, spawned.
pub(super) struct Started {
    pub(super) control: ActorControl,
    /// Its `ActorRef<A>`, for typed lookups.
    pub(super) actor_ref: Box<dyn Any + Send + Sync>,
    pub(super) type_name: &'static str,
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
            let first = lock(&build)()
                .map_err(|error| SpawnError::start(Arc::clone(&child_name), error))?;
            let restarter = ChildRestarter { build: Box::new(move || lock(&build)()), link };
            let mut options = A::default_options().with_name(child_name.to_string());
            if let Some(threshold) = stuck_after {
                options = options.with_stuck_after(threshold);
            }
            let actor_ref = runtime::spawn_restartable(first, options, Some(Box::new(restarter)))?;
            Ok(Started {
                control: actor_ref.control(),
                actor_ref: Box::new(actor_ref),
                type_name: std::any::type_name::<A>(),
            })
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

/// A supervisor's configuration and children, in start order.
pub struct SupervisorSpec {
    pub(super) strategy: Strategy,
    pub(super) max_restarts: usize,
    pub(super) window: Duration,
    pub(super) backoff: Option<Backoff>,
    pub(super) children: Vec<ChildSpec>,
    pub(super) events: broadcast::Sender<SupervisionEvent>,
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
        Supervisor::start(self).await
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
