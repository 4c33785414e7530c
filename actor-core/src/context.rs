//! [`Context`]: what a running handler can reach: its own reference, stopping itself, children,
//! background tasks and timers.
//!
//! Everything a context starts belongs to the current incarnation of the actor: when the actor
//! stops, its background tasks and timers are cancelled and its children are stopped (in reverse
//! order of spawning) before `on_stop` runs.

use std::fmt;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::{AbortHandle, JoinSet};

use crate::actor::Actor;
use crate::actor_ref::ActorRef;
use crate::control::{ActorCell, ActorControl, ActorId, STOP};
use crate::error::{BoxError, SpawnError, StopReason};
use crate::handle::Handle;
use crate::mailbox::MailboxSender;
use crate::registry;
use crate::runtime;
use crate::spawn::SpawnOptions;

/// How long a child gets to stop gracefully when its parent stops, before it is killed.
const CHILD_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The handler's view of its own actor; passed to every handler and hook.
pub struct Context<A: Actor> {
    cell: Arc<ActorCell>,
    /// An uncounted sender, so that the actor's own timers and tasks never keep it alive.
    tx: MailboxSender<A::Message>,
    /// Tasks, children and a recorded failure: allocated on first use, since most actors never
    /// need them and every actor's task carries its context.
    extras: Mutex<Option<Box<Extras>>>,
}

#[derive(Default)]
pub(crate) struct Extras {
    /// Background tasks and timers.
    tasks: JoinSet<()>,
    children: Vec<Child>,
    /// How many children were left after the last pruning of stopped ones.
    children_pruned_at: usize,
}

/// The parent's own reference to a child: counted like an `ActorRef`, so the child does not
/// stop when every other reference is dropped.
struct Child(ActorControl);

impl Child {
    fn new(control: ActorControl) -> Self {
        control.cell.refs.fetch_add(1, Ordering::Relaxed);
        Child(control)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.0.cell.refs.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.cell.request_final(STOP);
        }
    }
}

impl<A: Actor> Context<A> {
    pub(crate) fn new(cell: Arc<ActorCell>, tx: MailboxSender<A::Message>) -> Self {
        Context { cell, tx, extras: Mutex::new(None) }
    }

    /// Runs `f` on the extras, creating them if needed.
    fn with_extras<R>(&self, f: impl FnOnce(&mut Extras) -> R) -> R {
        let mut extras = self.extras.lock().unwrap_or_else(PoisonError::into_inner);
        f(extras.get_or_insert_with(Box::default))
    }

    /// The actor's identifier.
    pub fn id(&self) -> ActorId {
        self.cell.id
    }

    /// The actor's name.
    pub fn name(&self) -> &str {
        &self.cell.name
    }

    /// A reference to this actor, to hand to others. While it exists it keeps the actor alive
    /// (until the actor is stopped explicitly).
    pub fn actor_ref(&self) -> ActorRef<A> {
        ActorRef::new(self.tx.clone(), Arc::clone(&self.cell))
    }

    /// This actor's handle of type `H` (its `#[actor]` handle, usually inferred): what
    /// [`actor_ref`](Self::actor_ref) gives, typed.
    pub fn handle<H: Handle<Actor = A>>(&self) -> H {
        H::from_ref(self.actor_ref())
    }

    /// Stops this actor gracefully after the current handler: the mailbox closes, messages
    /// already accepted are handled, then the actor stops.
    ///
    /// A supervised child whose restart type is `Restart::Permanent` is instead restarted: its
    /// incarnation ends after the current handler and a new one handles the queued messages.
    pub fn stop(&self) {
        if self.cell.restart_on_normal_exit.load(Ordering::Relaxed) {
            self.cell.fail_with(StopReason::Normal);
        } else {
            self.cell.request(STOP);
        }
    }

    /// Ends this actor abnormally after the current handler, with [`StopReason::Failed`]. Queued
    /// messages are not handled by this incarnation.
    pub fn fail(&self, error: impl Into<BoxError>) {
        self.cell.fail_with(StopReason::failed(error));
    }

    /// Spawns a child actor with its type's default options, and returns the handle type you
    /// ask for (its `#[actor]` handle or an [`ActorRef`], usually inferred from where it is
    /// stored; name it with `ctx.spawn_child::<WorkerHandle>(worker)` otherwise).
    ///
    /// The parent owns its children, as in OTP and Akka: a child lives until it stops itself,
    /// is stopped, or its parent stops, whether or not the returned reference is kept (the
    /// parent holds one of its own). When the parent stops, its children are stopped in
    /// reverse order of spawning, each awaited for up to 5 s before it is killed, and only
    /// then does the parent's `on_stop` run.
    ///
    /// # Errors
    ///
    /// As [`spawn`](fn@crate::spawn).
    pub fn spawn_child<H: Handle>(&self, child: H::Actor) -> Result<H, SpawnError> {
        self.spawn_child_with(H::Actor::default_options(), child)
    }

    /// Spawns a child actor with the given options; see [`spawn_child`](Self::spawn_child).
    ///
    /// # Errors
    ///
    /// As [`spawn`](fn@crate::spawn).
    pub fn spawn_child_with<H: Handle>(
        &self,
        options: SpawnOptions,
        child: H::Actor,
    ) -> Result<H, SpawnError> {
        let child = runtime::spawn_actor(child, options)?;
        crate::inspect::adopt(child.id(), self.cell.id);
        let owned = Child::new(child.control());
        self.with_extras(|extras| {
            // Forget children that have stopped, amortised: a long-lived parent may start many.
            if extras.children.len() >= extras.children_pruned_at.max(8) * 2 {
                extras.children.retain(|Child(child)| child.is_alive());
                extras.children_pruned_at = extras.children.len();
            }
            extras.children.push(owned);
        });
        Ok(H::from_ref(child))
    }

    /// Runs a future in the background, owned by this actor: it is cancelled when the actor
    /// stops. Use it for work that must not block the mailbox, such as a polling loop.
    pub fn spawn_task<F>(&self, task: F) -> TaskHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.with_extras(|extras| {
            // Reap finished tasks so a long-lived actor does not accumulate them.
            while extras.tasks.try_join_next().is_some() {}
            TaskHandle(runtime::spawn_background(&mut extras.tasks, task))
        })
    }

    /// Runs a future in the background and delivers its output to this actor as a message made
    /// by `to_message`. The message is dropped if the actor has stopped by then.
    pub fn spawn_task_then<F, T>(
        &self,
        task: F,
        to_message: impl FnOnce(T) -> A::Message + Send + 'static,
    ) -> TaskHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let tx = self.tx.clone();
        self.spawn_task(async move {
            let output = task.await;
            // The actor may have stopped meanwhile; the result is then of no use to anyone.
            let _ = tx.send(to_message(output)).await;
        })
    }

    /// Sends `msg` to this actor after `delay`, unless the actor stops first.
    pub fn send_after(&self, delay: Duration, msg: A::Message) -> TaskHandle {
        let tx = self.tx.clone();
        self.spawn_task(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(msg).await;
        })
    }

    /// Sends a message made by `make` to this actor every `period`, the first after one period,
    /// until the actor stops or the handle is cancelled. A tick that finds the mailbox full waits
    /// for room, and later ticks are delayed rather than bunched up.
    pub fn send_interval(
        &self,
        period: Duration,
        mut make: impl FnMut() -> A::Message + Send + 'static,
    ) -> TaskHandle {
        let tx = self.tx.clone();
        self.spawn_task(async move {
            let start = tokio::time::Instant::now() + period;
            let mut interval = tokio::time::interval_at(start, period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                if tx.send(make()).await.is_err() {
                    break;
                }
            }
        })
    }

    /// The failure recorded by [`fail`](Self::fail) (or by a linked actor), if any.
    pub(crate) fn take_failure(&self) -> Option<StopReason> {
        self.cell.take_failure()
    }

    /// Links this actor with `other`; see [`ActorControl::link`].
    pub fn link(&self, other: &ActorControl) {
        crate::control::link(&self.cell, &other.cell);
    }

    /// Whether this actor ignores the abnormal exits of the actors linked to it (default:
    /// `false`, it fails with them). An actor that traps exits usually [`watch`](Self::watch)es
    /// them to learn why they stopped.
    pub fn trap_exits(&self, trap: bool) {
        self.cell.set_trap_exits(trap);
    }

    /// Sends this actor the message made by `to_message` when `other` stops, with its reason.
    /// The watch ends with this actor's incarnation, or when the handle is cancelled.
    pub fn watch(
        &self,
        other: &ActorControl,
        to_message: impl FnOnce(ActorId, StopReason) -> A::Message + Send + 'static,
    ) -> TaskHandle {
        let other = other.clone();
        self.spawn_task_then(
            async move { (other.id(), other.stopped().await) },
            move |(id, reason)| to_message(id, reason),
        )
    }

    /// Takes the background tasks and children of a stopping actor, if it ever had any.
    pub(crate) fn take_extras(&self) -> Option<Box<Extras>> {
        self.extras.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    /// Cancels the background tasks of `extras`, then stops (or, if `kill`, kills) its children
    /// in reverse order of spawning.
    pub(crate) async fn shutdown(extras: Box<Extras>, kill: bool) {
        let Extras { mut tasks, children, .. } = *extras;
        tasks.shutdown().await;
        for Child(child) in children.iter().rev() {
            if kill {
                child.kill();
                child.stopped().await;
                continue;
            }
            child.stop();
            if tokio::time::timeout(CHILD_STOP_TIMEOUT, child.stopped()).await.is_err() {
                tracing::warn!(child = %child.name(), "child did not stop in time; killing it");
                child.kill();
                child.stopped().await;
            }
        }
    }
}

/// Publishes `Killed` if the actor's task is dropped before it finished on its own (its runtime
/// shut down under it); a no-op after a normal stop, since the first published reason wins.
impl<A: Actor> Drop for Context<A> {
    fn drop(&mut self) {
        if self.cell.is_alive() {
            registry::remove_actor(&self.cell);
            crate::inspect::forget(self.cell.id);
            self.cell.publish(StopReason::Killed);
            tracing::debug!("actor dropped with its runtime");
        }
    }
}

impl<A: Actor> fmt::Debug for Context<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context").field("id", &self.cell.id).field("name", &self.cell.name).finish()
    }
}

/// A background task or timer started from a [`Context`]. Dropping the handle does not cancel
/// the task; the task ends with the actor or when [`cancel`](Self::cancel)led.
#[derive(Debug, Clone)]
pub struct TaskHandle(AbortHandle);

impl TaskHandle {
    /// Cancels the task at its next await point.
    pub fn cancel(&self) {
        self.0.abort();
    }

    /// Whether the task has finished (or was cancelled).
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}
