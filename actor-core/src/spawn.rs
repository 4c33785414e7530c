//! Spawning actors: [`spawn`] with the actor type's defaults, or [`SpawnOptions`] to choose.

use std::borrow::Cow;

use crate::actor::Actor;
use crate::actor_ref::ActorRef;
use std::sync::Arc;

use crate::error::{SpawnError, StopReason};
use crate::mailbox::{self, Mailbox};
use crate::runtime;

/// Spawns an actor on the current tokio runtime with [`Actor::default_options`].
///
/// The actor's task starts at once; `on_start` runs before its first message, and messages sent
/// meanwhile are queued.
///
/// # Errors
///
/// [`SpawnError::NoRuntime`] outside a tokio runtime; invalid options (see [`SpawnOptions`]).
pub fn spawn<A: Actor>(actor: A) -> Result<ActorRef<A>, SpawnError> {
    runtime::spawn_actor(actor, A::default_options())
}

/// Spawns an actor like [`spawn`] and waits until its `on_start` has run: a failing `on_start`
/// fails the spawn, with its error as the source of [`SpawnError::Start`].
///
/// # Errors
///
/// As [`spawn`], and [`SpawnError::Start`] if `on_start` failed, panicked or was killed.
///
/// # Cancel safety
///
/// If the future is dropped, the actor was spawned and stops once its reference is dropped.
pub async fn start<A: Actor>(actor: A) -> Result<ActorRef<A>, SpawnError> {
    A::default_options().start(actor).await
}

/// How to spawn an actor: its name, mailbox and shared-handler concurrency limit.
///
/// ```
/// # use actor_core::{Actor, Context, Mailbox, SpawnOptions};
/// # struct Worker;
/// # impl Actor for Worker {
/// #     type Message = ();
/// #     async fn handle(&mut self, _msg: (), _ctx: &Context<Self>) {}
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let worker = SpawnOptions::new()
///     .with_name("worker-1")
///     .with_mailbox(Mailbox::Bounded(64))
///     .spawn(Worker)?;
/// assert_eq!(worker.name(), "worker-1");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnOptions {
    pub(crate) name: Option<Cow<'static, str>>,
    pub(crate) mailbox: Mailbox,
    pub(crate) max_shared: usize,
    pub(crate) stuck_after: Option<std::time::Duration>,
    pub(crate) message_spans: Option<bool>,
    #[cfg(feature = "metrics")]
    pub(crate) metrics: Option<bool>,
}

impl SpawnOptions {
    /// The default limit on shared handlers running at once.
    pub const DEFAULT_MAX_SHARED: usize = 64;

    /// Default options: no name (the type's name is used), a bounded mailbox of
    /// [`Mailbox::DEFAULT_CAPACITY`], and [`DEFAULT_MAX_SHARED`](Self::DEFAULT_MAX_SHARED).
    pub const fn new() -> Self {
        SpawnOptions {
            name: None,
            mailbox: Mailbox::Bounded(Mailbox::DEFAULT_CAPACITY),
            max_shared: Self::DEFAULT_MAX_SHARED,
            stuck_after: None,
            message_spans: None,
            #[cfg(feature = "metrics")]
            metrics: None,
        }
    }

    /// Names the actor, for tracing and debugging. Names need not be unique; see
    /// [`registry`](crate::registry) for lookup by name.
    pub fn with_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Chooses the mailbox.
    pub fn with_mailbox(mut self, mailbox: Mailbox) -> Self {
        self.mailbox = mailbox;
        self
    }

    /// Sets how many shared handlers may run at once; while the limit is reached, the actor
    /// takes no new message.
    pub fn with_max_shared(mut self, limit: usize) -> Self {
        self.max_shared = limit;
        self
    }

    /// Monitors the actor for stuck handlers: one that makes no progress for longer than
    /// `threshold` is reported and its incarnation failed with
    /// [`Stuck`](crate::heartbeat::Stuck); see [`heartbeat`](crate::heartbeat). Costs two clock
    /// reads per message.
    pub fn with_stuck_after(mut self, threshold: std::time::Duration) -> Self {
        self.stuck_after = Some(threshold);
        self
    }

    /// Gives every message the actor handles a `tracing` span of its own, or none (the
    /// default, unless [`set_message_spans`](crate::set_message_spans) turned them on for
    /// every actor).
    ///
    /// The span is named `message`, with the fields `actor` (the actor's name), `message`
    /// ([`Actor::message_name`]) and `otel.name`
    /// (`"<actor>.<message>"`, the name OpenTelemetry exporters show). Its parent is the span
    /// that was current where the message was sent (`tell`, `ask`, a timer's spawner): so a
    /// request's trace follows it through a chain of actors, and each message of an actor is
    /// its own span rather than a child of the actor's life. A message sent outside any span
    /// starts a trace of its own. An actor without message spans pays one branch per message.
    pub fn with_message_spans(mut self, on: bool) -> Self {
        self.message_spans = Some(on);
        self
    }

    /// Whether the actor's messages get spans: this option, else the process-wide default.
    pub fn message_spans(&self) -> bool {
        self.message_spans.unwrap_or_else(crate::trace::message_spans_by_default)
    }

    /// Reports the actor's metrics ([`metrics`](crate::metrics)), or not (the default, unless
    /// [`set_metrics`](crate::metrics::set_metrics) turned them on for every actor).
    #[cfg(feature = "metrics")]
    pub fn with_metrics(mut self, on: bool) -> Self {
        self.metrics = Some(on);
        self
    }

    /// Whether the actor reports metrics: this option, else the process-wide default.
    #[cfg(feature = "metrics")]
    pub fn metrics(&self) -> bool {
        self.metrics.unwrap_or_else(crate::metrics::by_default)
    }

    /// The stuck-handler threshold, if the actor is monitored.
    pub fn stuck_after(&self) -> Option<std::time::Duration> {
        self.stuck_after
    }

    /// The name, if one was given.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The mailbox.
    pub fn mailbox(&self) -> Mailbox {
        self.mailbox
    }

    /// The shared-handler concurrency limit.
    pub fn max_shared(&self) -> usize {
        self.max_shared
    }

    /// Spawns `actor` with these options; see [`spawn`].
    ///
    /// # Errors
    ///
    /// [`SpawnError::NoRuntime`] outside a tokio runtime, [`SpawnError::ZeroCapacity`] for
    /// `Mailbox::Bounded(0)`, [`SpawnError::ZeroSharedLimit`] for a shared limit of 0.
    pub fn spawn<A: Actor>(self, actor: A) -> Result<ActorRef<A>, SpawnError> {
        runtime::spawn_actor(actor, self)
    }

    /// Spawns `actor` with these options and waits until its `on_start` has run; see [`start`].
    ///
    /// # Errors
    ///
    /// As [`start`].
    ///
    /// # Cancel safety
    ///
    /// As [`start`].
    pub async fn start<A: Actor>(self, actor: A) -> Result<ActorRef<A>, SpawnError> {
        let (started, outcome) = tokio::sync::oneshot::channel();
        let actor_ref = runtime::spawn_started(actor, self, started)?;
        match outcome.await {
            Ok(None) => Ok(actor_ref),
            Ok(Some(reason)) => Err(start_failed(actor_ref.name(), reason)),
            Err(_) => Err(start_failed(actor_ref.name(), StopReason::Killed)),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), SpawnError> {
        match self.mailbox {
            Mailbox::Bounded(0) => return Err(SpawnError::ZeroCapacity),
            Mailbox::Bounded(n) if n > mailbox::MAX_CAPACITY => {
                return Err(SpawnError::CapacityTooLarge(n));
            }
            Mailbox::Bounded(_) | Mailbox::Unbounded => {}
        }
        if self.max_shared == 0 {
            return Err(SpawnError::ZeroSharedLimit);
        }
        Ok(())
    }
}

/// The error of a start that failed with `reason`: the `on_start` error itself when it returned
/// one.
fn start_failed(actor: &str, reason: StopReason) -> SpawnError {
    let source: Arc<dyn std::error::Error + Send + Sync> = match reason {
        StopReason::Failed(error) => error,
        other => Arc::new(other),
    };
    SpawnError::Start { actor: Arc::from(actor), source }
}

impl Default for SpawnOptions {
    fn default() -> Self {
        Self::new()
    }
}
