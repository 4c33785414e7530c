//! [`Supervisor`], the handle to a running supervisor, and the supervisor's own actor, which
//! starts the children in its `on_start` hook and stops them in its `on_stop` hook.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, broadcast};

use super::events::SupervisionEvent;
use super::group::{RunningChild, Shared};
use super::lock;
use super::restart::{Link, RestartWindow};
use super::spec::{ChildSpec, SupervisorSpec};
use crate::actor;
use crate::actor_ref::ActorRef;
use crate::context::Context;
use crate::control::ActorControl;
use crate::error::{RegistryError, SpawnError, StopReason};
use crate::handle::Handle;

/// A running supervisor.
#[derive(Clone)]
pub struct Supervisor {
    actor: SupervisorActorHandle,
    shared: Arc<Shared>,
    events: broadcast::Sender<SupervisionEvent>,
}

impl Supervisor {
    /// Spawns the supervisor of `spec` and waits until it has started its children.
    pub(super) async fn start(spec: SupervisorSpec) -> Result<Supervisor, SpawnError> {
        let events = spec.events.clone();
        let actor = SupervisorActor::new(spec);
        let shared = Arc::clone(&actor.shared);
        let actor = actor.spawn()?;
        if actor.ready().await.is_err() {
            let reason = actor.stopped().await;
            let name = Arc::from(actor.actor_ref().name());
            return Err(SpawnError::Start { actor: name, source: Arc::new(reason) });
        }
        Ok(Supervisor { actor, shared, events })
    }

    /// The child named `name`, as the handle type `H` (its `#[actor]` handle, or an
    /// `ActorRef`). The handle stays valid across the child's restarts.
    ///
    /// # Errors
    ///
    /// [`RegistryError::NotFound`] if no child has this name, [`RegistryError::WrongType`] if
    /// it is not an `H::Actor`.
    pub fn child<H: Handle>(&self, name: &str) -> Result<H, RegistryError> {
        let children = lock(&self.shared.children);
        let child = children
            .iter()
            .find(|child| &*child.name == name)
            .ok_or_else(|| RegistryError::NotFound(name.to_owned()))?;
        match child.actor_ref.downcast_ref::<ActorRef<H::Actor>>() {
            Some(actor_ref) => Ok(H::from_ref(actor_ref.clone())),
            None => Err(RegistryError::WrongType {
                name: name.to_owned(),
                expected: std::any::type_name::<H::Actor>(),
                found: child.type_name,
            }),
        }
    }

    /// Supervision events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SupervisionEvent> {
        self.events.subscribe()
    }

    /// The nested supervisor started as child `name` (see [`ChildSpec::supervisor`]), in its
    /// current incarnation. References to its children survive their own restarts, not a
    /// restart of the nested supervisor itself, which starts them afresh.
    ///
    /// # Errors
    ///
    /// [`RegistryError::NotFound`] if no child has this name, [`RegistryError::WrongType`] if
    /// it is not a supervisor, [`RegistryError::NotAlive`] if it has stopped.
    pub async fn nested(&self, name: &str) -> Result<Supervisor, RegistryError> {
        let actor = self.child::<SupervisorActorHandle>(name).map_err(|error| match error {
            RegistryError::WrongType { name, found, .. } => {
                RegistryError::WrongType { name, expected: "a nested supervisor", found }
            }
            other => other,
        })?;
        let (shared, events) = actor.attach().await.map_err(|_| RegistryError::NotAlive)?;
        Ok(Supervisor { actor, shared, events })
    }

    /// Stops the supervisor: its children stop in reverse start order, each killed if it does
    /// not stop within its shutdown timeout.
    pub fn stop(&self) {
        self.actor.stop();
    }

    /// Waits until the supervisor and all its children have stopped.
    ///
    /// Cancel safe.
    pub async fn stopped(&self) -> StopReason {
        self.actor.stopped().await
    }

    /// [`stop`](Self::stop), then [`stopped`](Self::stopped).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not undo the stop request: the supervisor and its children
    /// stop anyway.
    pub async fn shutdown(&self) -> StopReason {
        self.actor.shutdown().await
    }

    /// Control over the supervisor itself.
    pub fn control(&self) -> ActorControl {
        self.actor.actor_ref().control()
    }
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor").field("actor", self.actor.actor_ref()).finish_non_exhaustive()
    }
}

/// The supervisor's own actor.
pub(super) struct SupervisorActor {
    shared: Arc<Shared>,
    specs: Vec<ChildSpec>,
}

impl SupervisorActor {
    pub(super) fn new(spec: SupervisorSpec) -> Self {
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

// Children report escalations without waiting: the mailbox must always have room.
#[actor(mailbox = unbounded)]
impl SupervisorActor {
    /// Starts every child in order (a restart of a nested supervisor starts them afresh).
    async fn on_start(&mut self, ctx: &Context<Self>) -> Result<(), SpawnError> {
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
            crate::inspect::adopt(started.control.id(), ctx.id());
            lock(&self.shared.children).push(RunningChild {
                name: Arc::clone(&spec.name),
                control: started.control,
                actor_ref: started.actor_ref,
                type_name: started.type_name,
                shutdown_timeout: spec.shutdown_timeout,
            });
        }
        Ok(())
    }

    /// Stops the children in reverse start order, killing those that overrun their timeout.
    async fn on_stop(&mut self, reason: &StopReason) {
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

    /// A child exceeded the restart intensity: fail, so that this supervisor's own
    /// supervisor decides.
    #[actor(tell)]
    pub(super) fn escalate(&mut self, ctx: &Context<Self>, reason: StopReason) {
        ctx.fail(IntensityExceeded { reason });
    }

    /// Answered once `on_start` has started every child.
    pub(super) fn ready(&self) {}

    /// What a [`Supervisor`] handle to this incarnation needs.
    pub(super) fn attach(&self) -> (Arc<Shared>, broadcast::Sender<SupervisionEvent>) {
        (Arc::clone(&self.shared), self.shared.events.clone())
    }
}
