//! The per-actor loop: receive → dispatch → reply; panic isolation; the only place that spawns
//! tasks.
//!
//! An actor's task owns its state, its mailbox receiver and its [`Context`]. It runs
//! `on_start`, then takes messages in mailbox order. Each message is first offered to the shared
//! handlers ([`Actor::handle_shared`]); a message they decline is handled exclusively. While
//! shared handlers are in flight, the loop keeps taking messages as long as they are shared and
//! the limit is not reached; the first exclusive message waits, with the mailbox, until every
//! shared handler has finished.
//!
//! A panic anywhere in a handler or hook is caught at the poll of the whole message loop, so the
//! hot path pays nothing for it. The receiver and the state live outside the caught future, so a
//! panic loses no queued message.
//!
//! A kill is carried out by the task itself, at its next poll: the handler in progress is
//! dropped, then the mailbox is closed and drained like after any other stop. Aborting the task
//! instead would drop the handler at an arbitrary point, outside the guard that tells the
//! askers of its replies why.

use std::any::Any;
use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Poll, Waker};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::oneshot;
use tokio::task::{AbortHandle, JoinSet};
use tracing::Instrument;

use crate::actor::{Actor, Dispatch, PanicAction};
use crate::actor_ref::ActorRef;
use crate::context::Context;
use crate::control::{ActorCell, FAIL, KILL, RESTART, RUNNING, STOP};
use crate::drop_cause::{DropCause, dropping};
use crate::error::{BoxError, SpawnError, StopReason};
use crate::heartbeat::Heartbeat;
use crate::mailbox::{self, MailboxReceiver};
use crate::registry;
use crate::reply;
use crate::spawn::SpawnOptions;

mod finish;
mod guard;
mod message_loop;
mod restart;

use self::guard::{Interrupt, guarded};
pub(crate) use self::restart::{Decision, Restarter};

/// Spawns an actor's task; every actor starts here.
pub(crate) fn spawn_actor<A: Actor>(
    actor: A,
    options: SpawnOptions,
) -> Result<ActorRef<A>, SpawnError> {
    spawn_restartable(actor, options, None)
}

/// Spawns an actor's task, restartable in place (same task, same mailbox) if `restarter` is set.
pub(crate) fn spawn_restartable<A: Actor>(
    actor: A,
    options: SpawnOptions,
    restarter: Option<Box<dyn Restarter<A>>>,
) -> Result<ActorRef<A>, SpawnError> {
    spawn_task(actor, options, restarter, None)
}

/// Spawns an actor's task and tells `started` how its first `on_start` ended.
pub(crate) fn spawn_started<A: Actor>(
    actor: A,
    options: SpawnOptions,
    started: oneshot::Sender<Option<StopReason>>,
) -> Result<ActorRef<A>, SpawnError> {
    spawn_task(actor, options, None, Some(started))
}

fn spawn_task<A: Actor>(
    actor: A,
    options: SpawnOptions,
    restarter: Option<Box<dyn Restarter<A>>>,
    started: Option<oneshot::Sender<Option<StopReason>>>,
) -> Result<ActorRef<A>, SpawnError> {
    options.validate()?;
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| SpawnError::NoRuntime)?;
    let traced = options.message_spans();
    #[cfg(feature = "metrics")]
    let metered = options.metrics();
    let (tx, rx) = mailbox::channel(options.mailbox, traced);
    let cell =
        Arc::new(ActorCell::new(options.name, std::any::type_name::<A>(), options.max_shared));
    if let Some(restarter) = &restarter {
        cell.restart_on_normal_exit.store(restarter.restarts_on_normal_exit(), Ordering::Relaxed);
    }
    let mut heartbeat = options.stuck_after.map(|threshold| {
        let heartbeat = Heartbeat::monitor(&cell, threshold);
        if let Some(report) = restarter.as_ref().and_then(|restarter| restarter.stuck_reporter()) {
            heartbeat.on_stuck(report);
        }
        heartbeat
    });
    if crate::inspect::enabled() {
        let heartbeat = heartbeat.get_or_insert_with(Heartbeat::unmonitored);
        let kind = crate::control::kind_of::<A>();
        crate::inspect::list(&cell, kind, heartbeat, tx.depth_probe());
    }
    #[cfg(feature = "metrics")]
    let metrics = metered.then(|| {
        crate::metrics::ActorMetrics::new(crate::control::kind_of::<A>(), cell.name.as_ref())
    });
    #[cfg(not(feature = "metrics"))]
    let metrics = None::<()>;
    let extras =
        (restarter.is_some() || heartbeat.is_some() || started.is_some() || metrics.is_some())
            .then(|| {
                Box::new(TaskExtras {
                    restarter,
                    heartbeat,
                    started,
                    #[cfg(feature = "metrics")]
                    metrics,
                })
            });
    let actor_ref = ActorRef::new(tx.clone(), Arc::clone(&cell));
    let span = tracing::info_span!("actor", name = %cell.name, id = cell.id.get());
    let ctx = Context::new(Arc::clone(&cell), tx);
    let task = ActorTask { actor, rx, pending: None, waker: None, extras, cell, ctx };
    let fut = run(task);
    // A disabled span is not worth a wrapper polled on every wake-up. The task is detached: the
    // cell, not a join handle, reports how it ended.
    if span.is_disabled() {
        drop(runtime.spawn(fut));
    } else {
        drop(runtime.spawn(fut.instrument(span)));
    }
    Ok(actor_ref)
}

/// Spawns a background task owned by an actor's context.
pub(crate) fn spawn_background<F>(set: &mut JoinSet<()>, task: F) -> AbortHandle
where
    F: Future<Output = ()> + Send + 'static,
{
    set.spawn(task.in_current_span())
}

/// Everything an actor's task owns, in one place so that the task's future stores each of them
/// once. Fields drop in declaration order, the context last: if the task is dropped before it
/// finished (its runtime shut down), the state is released and queued askers are answered
/// before the context's destructor publishes `Killed`.
struct ActorTask<A: Actor> {
    actor: A,
    rx: MailboxReceiver<A::Message>,
    /// An exclusive message taken from the mailbox during a shared phase, waiting for the shared
    /// handlers to finish.
    pending: Option<A::Message>,
    /// The waker last stored in the cell, so that it is stored again only when it changes.
    waker: Option<Waker>,
    /// Supervision and stuck detection; `None` for most actors, so the task stays small.
    extras: Option<Box<TaskExtras<A>>>,
    /// The same cell as the context's, borrowed on its own while handlers borrow the context.
    cell: Arc<ActorCell>,
    ctx: Context<A>,
}

/// What only supervised or monitored actors need.
struct TaskExtras<A> {
    /// Builds new incarnations in place.
    restarter: Option<Box<dyn Restarter<A>>>,
    /// Progress record read by the stuck-actor watchdog.
    heartbeat: Option<Arc<Heartbeat>>,
    /// Told how the first `on_start` ended (`None`: it succeeded), for a caller waiting for it.
    started: Option<oneshot::Sender<Option<StopReason>>>,
    /// The actor's metric handles, if it reports metrics.
    #[cfg(feature = "metrics")]
    metrics: Option<crate::metrics::ActorMetrics>,
}

impl<A: Actor> ActorTask<A> {
    #[inline]
    fn restarter(&mut self) -> Option<&mut Box<dyn Restarter<A>>> {
        self.extras.as_mut().and_then(|extras| extras.restarter.as_mut())
    }

    #[inline]
    fn heartbeat(&self) -> Option<&Heartbeat> {
        self.extras.as_ref().and_then(|extras| extras.heartbeat.as_deref())
    }

    /// The actor's metric handles, if it reports metrics.
    #[cfg(feature = "metrics")]
    #[inline]
    fn metrics(&self) -> Option<&crate::metrics::ActorMetrics> {
        self.extras.as_ref().and_then(|extras| extras.metrics.as_ref())
    }

    /// The reason of an interruption: a kill, or the failure recorded with it (a stuck actor).
    fn interrupted(&self) -> StopReason {
        match self.cell.take_failure() {
            Some(reason) => {
                // Only the watchdog records a failure with a kill.
                #[cfg(feature = "metrics")]
                if let Some(metrics) = self.metrics() {
                    metrics.stuck();
                }
                self.cell.settle_interrupt();
                reason
            }
            None => StopReason::Killed,
        }
    }
}

/// The actor's task. A plain `fn` returning an `async move` block: an `async fn` would store its
/// argument twice in the future (once as the argument, once as the moved local).
#[expect(clippy::manual_async_fn, reason = "an `async fn` would store its argument twice")]
fn run<A: Actor>(mut task: ActorTask<A>) -> impl Future<Output = ()> + Send {
    async move {
        tracing::debug!("actor started");
        // From here on, a stop or kill request wakes the task wherever it waits.
        poll_fn(|cx| {
            task.cell.watch(&mut task.waker, cx);
            Poll::Ready(())
        })
        .await;
        let (reason, on_stop_done) = loop {
            let reason = task.incarnation().await;
            // Only a supervised actor that ended on its own may start again; the restart is a
            // cold path, boxed like the stop sequence.
            let restartable = task.extras.as_ref().is_some_and(|extras| extras.restarter.is_some())
                && !task.cell.final_stop.load(Ordering::SeqCst)
                && !matches!(reason, StopReason::Killed);
            if !restartable {
                break (reason, false);
            }
            match Box::pin(task.restart(reason)).await {
                Ok(()) => {}
                Err(stop) => break stop,
            }
        };

        // The stop sequence, in place: see `finish`.
        let reason = task.finish(reason, on_stop_done).await;
        task.release(reason);
    }
}

impl<A: Actor> ActorTask<A> {
    /// Runs one incarnation of the actor: `on_start`, then messages until it stops or fails.
    async fn incarnation(&mut self) -> StopReason {
        // A block, so that the outcome is not stored across the message loop.
        if let Some(failed) = {
            let failed = self.start().await;
            if let Some(started) = self.extras.as_mut().and_then(|extras| extras.started.take()) {
                // Nobody waiting any more is fine.
                let _ = started.send(failed.clone());
            }
            failed
        } {
            return failed;
        }
        if let Some(restarter) = self.restarter() {
            restarter.started();
        }
        // The loop borrows all of `self`; the guard needs its own handle on the cell.
        let cell = Arc::clone(&self.cell);
        loop {
            let outcome = {
                let mut handling = pin!(Some(self.message_loop()));
                guarded(&cell, handling.as_mut()).await
            };
            // However the loop ended (a panic or a kill mid-handler included), no handler is in
            // hand any more: the watchdog and inspection must not count this time as busy.
            if let Some(heartbeat) = self.heartbeat() {
                heartbeat.idle();
            }
            // Nor is the room of the messages handled withheld during a restart's backoff.
            self.rx.flush();
            return match outcome {
                Ok(reason) => reason,
                Err(Interrupt::Panicked(panic)) => {
                    tracing::error!(%panic, "handler panicked");
                    #[cfg(feature = "metrics")]
                    if let Some(metrics) = self.metrics() {
                        metrics.panicked();
                    }
                    match Box::pin(self.after_panic(&panic)).await {
                        Ok(PanicAction::Resume) => {
                            tracing::warn!("the actor resumes after the panic (on_panic)");
                            continue;
                        }
                        Ok(PanicAction::Stop) => StopReason::Panicked(panic),
                        Err(reason) => reason,
                    }
                }
                Err(Interrupt::Killed) => self.interrupted(),
            };
        }
    }

    /// Asks `on_panic` what to do after a handler panicked; a panic or a kill in the hook
    /// itself stops the actor. Boxed by its caller: it runs rarely.
    async fn after_panic(&mut self, panic: &str) -> Result<PanicAction, StopReason> {
        let outcome = {
            let mut hook = pin!(Some(self.actor.on_panic(&self.ctx, panic)));
            guarded(&self.cell, hook.as_mut()).await
        };
        match outcome {
            Ok(action) => Ok(action),
            Err(Interrupt::Panicked(again)) => {
                tracing::error!(%again, "on_panic panicked");
                Err(StopReason::Panicked(Arc::from(panic)))
            }
            Err(Interrupt::Killed) => Err(self.interrupted()),
        }
    }

    /// Runs `on_start`; returns why the actor must stop if it failed, panicked or was killed. A
    /// separate future so that its result is not kept alive across the message loop.
    async fn start(&mut self) -> Option<StopReason> {
        let outcome = {
            let mut on_start = pin!(Some(self.actor.on_start(&self.ctx)));
            guarded(&self.cell, on_start.as_mut()).await
        };
        match outcome {
            Ok(Ok(())) => None,
            Ok(Err(error)) => {
                tracing::warn!(%error, "on_start failed");
                Some(StopReason::Failed(Arc::from(error)))
            }
            Err(Interrupt::Panicked(panic)) => {
                tracing::error!(%panic, "on_start panicked");
                Some(StopReason::Panicked(panic))
            }
            Err(Interrupt::Killed) => Some(self.interrupted()),
        }
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod sizes;
