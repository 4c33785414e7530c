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
//! instead would drop the receiver while senders may still be between reserving a slot and
//! filling it, and a message filled in after that would keep its asker waiting.

use std::any::Any;
use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Poll, Waker};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::task::{AbortHandle, JoinSet};
use tracing::Instrument;

use crate::actor::{Actor, Dispatch};
use crate::actor_ref::ActorRef;
use crate::context::Context;
use crate::control::{ActorCell, FAIL, KILL, RESTART, RUNNING, STOP};
use crate::drop_cause::{DropCause, dropping};
use crate::error::{BoxError, SpawnError, StopReason};
use crate::heartbeat::Heartbeat;
use crate::mailbox::{self, MailboxReceiver};
use crate::registry;
use crate::spawn::SpawnOptions;

/// Spawns an actor's task; every actor starts here.
pub(crate) fn spawn_actor<A: Actor>(
    actor: A,
    options: SpawnOptions,
) -> Result<ActorRef<A>, SpawnError> {
    spawn_restartable(actor, options, None)
}

/// What a supervised actor's task asks after an incarnation ended on its own.
pub(crate) trait Restarter<A>: Send + 'static {
    /// Whether to start a new incarnation (after a delay) or stop for good.
    fn decide(&mut self, reason: &StopReason) -> Decision;
    /// A fresh state for the next incarnation.
    fn build(&mut self) -> Result<A, BoxError>;
    /// A new incarnation's `on_start` succeeded.
    fn started(&mut self);
    /// Whether stopping itself (`Context::stop`) restarts the actor.
    fn restarts_on_normal_exit(&self) -> bool;
    /// Waits until this actor may end its old incarnation (siblings restarting together stop in
    /// reverse start order).
    fn turn_to_stop(&mut self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
    /// The old incarnation's `on_stop` finished.
    fn stopped(&mut self);
    /// Waits until this actor may start its new incarnation (in start order, once every
    /// sibling restarting with it has stopped).
    fn turn_to_start(&mut self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
    /// The actor stops for good; it no longer takes part in a group restart.
    fn gone(&mut self);
    /// What to call when the watchdog finds the actor stuck, with the time without progress.
    fn stuck_reporter(&self) -> Option<crate::heartbeat::StuckReport>;
}

/// Awaits a supervisor's turn, unless a final stop or a kill comes first (`false`).
async fn wait_turn(
    cell: &ActorCell,
    mut turn: Pin<Box<dyn Future<Output = ()> + Send + '_>>,
) -> bool {
    poll_fn(|cx| {
        // A stop or kill wakes this task through the waker stored in the cell.
        if cell.final_stop.load(Ordering::SeqCst) || cell.control.load(Ordering::SeqCst) == KILL {
            return Poll::Ready(false);
        }
        turn.as_mut().poll(cx).map(|()| true)
    })
    .await
}

/// A supervisor's answer to an ended incarnation.
pub(crate) enum Decision {
    Restart(std::time::Duration),
    Stop,
}

/// Spawns an actor's task, restartable in place (same task, same mailbox) if `restarter` is set.
pub(crate) fn spawn_restartable<A: Actor>(
    actor: A,
    options: SpawnOptions,
    restarter: Option<Box<dyn Restarter<A>>>,
) -> Result<ActorRef<A>, SpawnError> {
    options.validate()?;
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| SpawnError::NoRuntime)?;
    let (tx, rx) = mailbox::channel(options.mailbox);
    let cell =
        Arc::new(ActorCell::new(options.name, std::any::type_name::<A>(), options.max_shared));
    if let Some(restarter) = &restarter {
        cell.restart_on_normal_exit.store(restarter.restarts_on_normal_exit(), Ordering::Relaxed);
    }
    let heartbeat = options.stuck_after.map(|threshold| {
        let heartbeat = Heartbeat::monitor(&cell, threshold);
        if let Some(report) = restarter.as_ref().and_then(|restarter| restarter.stuck_reporter()) {
            heartbeat.on_stuck(report);
        }
        heartbeat
    });
    let extras = (restarter.is_some() || heartbeat.is_some())
        .then(|| Box::new(TaskExtras { restarter, heartbeat }));
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

    /// The reason of an interruption: a kill, or the failure recorded with it (a stuck actor).
    fn interrupted(&self) -> StopReason {
        match self.cell.take_failure() {
            Some(reason) => {
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

        // The stop sequence runs once: boxed, so that its futures do not enlarge every actor's
        // task for its whole life.
        Box::pin(finish(task, reason, on_stop_done)).await;
    }
}

/// Drains the mailbox, stops children and tasks, runs `on_stop` (unless killed), releases the
/// state, then publishes the reason.
async fn finish<A: Actor>(mut task: ActorTask<A>, mut reason: StopReason, on_stop_done: bool) {
    if let Some(restarter) = task.restarter() {
        restarter.gone();
    }
    // Whatever is still queued will not be handled: answer its askers now. `recv` returns `None`
    // only once no sender is between reserving a slot and filling it.
    let pending = task.pending.take();
    dropping(DropCause::Unhandled, || drop(pending));
    task.rx.discard_all().await;

    let killed = matches!(reason, StopReason::Killed);
    task.ctx.shutdown(killed).await;
    if !killed && !on_stop_done {
        let interrupted = {
            let mut on_stop = pin!(Some(task.actor.on_stop(&task.ctx, &reason)));
            guarded(&task.cell, on_stop.as_mut()).await.err()
        };
        match interrupted {
            None => {}
            Some(Interrupt::Panicked(panic)) => {
                tracing::error!(%panic, "on_stop panicked");
                reason = StopReason::Panicked(panic);
            }
            Some(Interrupt::Killed) => {
                tracing::debug!("killed during on_stop");
                reason = StopReason::Killed;
            }
        }
    }
    let ActorTask { actor, rx, pending, waker, extras, cell, ctx } = task;
    // Release the state (files, sockets) before anyone waiting for the stop is woken. The
    // context goes after the reason is published; by then its destructor has nothing to do.
    drop((actor, rx, pending, waker, extras));
    registry::remove_actor(&cell);
    tracing::debug!(%reason, "actor stopped");
    cell.publish(reason);
    drop(ctx);
}

impl<A: Actor> ActorTask<A> {
    /// Runs one incarnation of the actor: `on_start`, then messages until it stops or fails.
    async fn incarnation(&mut self) -> StopReason {
        if let Some(failed) = self.start().await {
            return failed;
        }
        if let Some(restarter) = self.restarter() {
            restarter.started();
        }
        // The loop borrows all of `self`; the guard needs its own handle on the cell.
        let cell = Arc::clone(&self.cell);
        let outcome = {
            let mut handling = pin!(Some(self.message_loop()));
            guarded(&cell, handling.as_mut()).await
        };
        match outcome {
            Ok(reason) => reason,
            Err(Interrupt::Panicked(panic)) => {
                tracing::error!(%panic, "handler panicked");
                StopReason::Panicked(panic)
            }
            Err(Interrupt::Killed) => self.interrupted(),
        }
    }

    /// After an incarnation ended on its own: asks the supervisor, and either builds the next
    /// incarnation in place (`Ok`: same mailbox, queued messages kept in order) or gives the
    /// final reason and whether `on_stop` already ran for it.
    async fn restart(&mut self, mut reason: StopReason) -> Result<(), (StopReason, bool)> {
        let Some(restarter) = self.extras.as_mut().and_then(|extras| extras.restarter.as_mut())
        else {
            return Err((reason, false));
        };
        let mut decision = restarter.decide(&reason);
        if matches!(decision, Decision::Stop) {
            return Err((reason, false));
        }
        if !wait_turn(&self.cell, restarter.turn_to_stop()).await {
            return Err((reason, false));
        }
        // The old incarnation ends as any other would: its tasks and children, then `on_stop`.
        self.ctx.shutdown(false).await;
        let interrupted = {
            let mut on_stop = pin!(Some(self.actor.on_stop(&self.ctx, &reason)));
            guarded(&self.cell, on_stop.as_mut()).await.err()
        };
        match interrupted {
            None => {}
            Some(Interrupt::Panicked(panic)) => tracing::error!(%panic, "on_stop panicked"),
            Some(Interrupt::Killed) => return Err((StopReason::Killed, true)),
        }
        loop {
            let delay = match decision {
                Decision::Stop => return Err((reason, true)),
                Decision::Restart(delay) => delay,
            };
            let Some(restarter) = self.extras.as_mut().and_then(|extras| extras.restarter.as_mut())
            else {
                return Err((reason, true));
            };
            restarter.stopped();
            if !delay.is_zero() {
                let mut sleep = pin!(Some(tokio::time::sleep(delay)));
                if guarded(&self.cell, sleep.as_mut()).await.is_err() {
                    return Err((StopReason::Killed, true));
                }
            }
            let Some(restarter) = self.extras.as_mut().and_then(|extras| extras.restarter.as_mut())
            else {
                return Err((reason, true));
            };
            if !wait_turn(&self.cell, restarter.turn_to_start()).await {
                return Err((reason, true));
            }
            match restarter.build() {
                Ok(actor) => {
                    // The old state goes now; the new incarnation starts on the same mailbox.
                    self.actor = actor;
                    if !self.cell.reset_for_restart() {
                        return Err((reason, true));
                    }
                    tracing::info!(%reason, "actor restarted");
                    return Ok(());
                }
                Err(error) => {
                    tracing::warn!(%error, "restart failed: the constructor returned an error");
                    reason = StopReason::Failed(Arc::from(error));
                    decision = restarter.decide(&reason);
                }
            }
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

    /// Handles messages until the actor stops or fails. Fields are reached through `self`
    /// rather than bound to locals, so the loop's future stores one pointer, not one per field.
    async fn message_loop(&mut self) -> StopReason {
        let mut closed = false;
        loop {
            match self.cell.control.load(Ordering::Acquire) {
                RUNNING => {}
                STOP => {
                    if !closed {
                        self.rx.close();
                        closed = true;
                    }
                }
                RESTART => return StopReason::Normal,
                FAIL => return self.ctx.take_failure().unwrap_or(StopReason::Normal),
                _ => return self.interrupted(),
            }
            let msg = match self.pending.take() {
                Some(msg) => msg,
                None => {
                    let watch = !closed;
                    let (rx, cell, waker) = (&mut self.rx, &*self.cell, &mut self.waker);
                    match poll_fn(|cx| poll_next(rx, cell, watch, waker, cx)).await {
                        Next::Message(msg) => msg,
                        Next::Closed => return StopReason::Normal,
                        Next::Control => continue,
                    }
                }
            };
            tracing::trace!("message");
            // Taken apart in one statement, so that nothing derived from the dispatch outlives it
            // except what the shared phase needs.
            let first = {
                let (first, exclusive) = match self.actor.handle_shared(msg, &self.ctx) {
                    Dispatch::Exclusive(msg) => (None, Some(msg)),
                    Dispatch::Done => continue,
                    Dispatch::Pending(first) => (Some(first), None),
                };
                if let Some(msg) = exclusive {
                    // Ends the shared borrow of the actor (`first` is `None` here).
                    drop(first);
                    if let Some(heartbeat) = self.heartbeat() {
                        heartbeat.progress();
                    }
                    self.actor.handle(msg, &self.ctx).await;
                    if let Some(heartbeat) = self.heartbeat() {
                        heartbeat.idle();
                    }
                    continue;
                }
                first
            };
            let Some(first) = first else { continue };

            // Shared phase: keep starting shared handlers until an exclusive message arrives, the
            // limit is reached or the mailbox ends; then let every one of them finish.
            let mut in_flight = FuturesUnordered::new();
            in_flight.push(first);
            let mut ended = false;
            if let Some(heartbeat) = self.heartbeat() {
                heartbeat.progress();
            }
            loop {
                let control = self.cell.control.load(Ordering::Acquire);
                if control == STOP && !closed {
                    self.rx.close();
                    closed = true;
                }
                let accepting = self.pending.is_none()
                    && !ended
                    && (control == RUNNING || control == STOP)
                    && in_flight.len() < self.cell.max_shared as usize;
                if in_flight.is_empty() && !accepting {
                    break;
                }
                let watch = !closed;
                let (rx, cell, waker) = (&mut self.rx, &*self.cell, &mut self.waker);
                let event = poll_fn(|cx| {
                    // Finished handlers first: each frees a slot.
                    if let Poll::Ready(Some(())) = in_flight.poll_next_unpin(cx) {
                        return Poll::Ready(None);
                    }
                    if accepting && let Poll::Ready(next) = poll_next(rx, cell, watch, waker, cx) {
                        return Poll::Ready(Some(next));
                    }
                    Poll::Pending
                })
                .await;
                if event.is_none()
                    && let Some(heartbeat) = self.heartbeat()
                {
                    // A shared handler finished: the phase is making progress, or, with none
                    // left in flight, waits for mail and cannot be stuck.
                    if in_flight.is_empty() {
                        heartbeat.idle();
                    } else {
                        heartbeat.progress();
                    }
                }
                match event {
                    None | Some(Next::Control) => {}
                    Some(Next::Closed) => ended = true,
                    Some(Next::Message(msg)) => {
                        tracing::trace!("message");
                        // Called on the field (not through a held `&A`), so the task is `Send`
                        // without `A: Sync`.
                        match self.actor.handle_shared(msg, &self.ctx) {
                            Dispatch::Done => {}
                            Dispatch::Pending(fut) => {
                                if in_flight.is_empty()
                                    && let Some(heartbeat) = self.heartbeat()
                                {
                                    // Busy again after waiting for mail.
                                    heartbeat.progress();
                                }
                                in_flight.push(fut);
                            }
                            Dispatch::Exclusive(msg) => self.pending = Some(msg),
                        }
                    }
                }
            }
            if let Some(heartbeat) = self.heartbeat() {
                heartbeat.idle();
            }
            if ended {
                return StopReason::Normal;
            }
        }
    }
}

/// What the actor's task wakes up for.
enum Next<M> {
    Message(M),
    /// The mailbox is closed and empty.
    Closed,
    /// A stop or failure was requested while the mailbox was empty.
    Control,
}

/// Polls the mailbox; with `watch_control`, also wakes up for a stop or failure request.
#[inline]
fn poll_next<M>(
    rx: &mut MailboxReceiver<M>,
    cell: &ActorCell,
    watch_control: bool,
    registered: &mut Option<Waker>,
    cx: &mut std::task::Context<'_>,
) -> Poll<Next<M>> {
    if let Poll::Ready(next) = rx.poll_recv(cx) {
        return Poll::Ready(next.map_or(Next::Closed, Next::Message));
    }
    if watch_control && cell.watch(registered, cx) != RUNNING {
        return Poll::Ready(Next::Control);
    }
    Poll::Pending
}

/// Why a guarded future did not complete.
enum Interrupt {
    /// It panicked, with this message.
    Panicked(Arc<str>),
    /// The actor was killed while it was pending.
    Killed,
}

/// Polls the future in `slot` unless the actor has been killed, turning a panic into
/// [`Interrupt::Panicked`]. The future is dropped (the slot set to `None`) as soon as it is
/// interrupted; replies it owned tell their askers that the actor panicked or stopped.
///
/// The caller pins the slot in its own frame, so the future is stored once, not once per layer.
fn guarded<'a, F: Future>(
    cell: &'a ActorCell,
    mut slot: Pin<&'a mut Option<F>>,
) -> impl Future<Output = Result<F::Output, Interrupt>> + 'a {
    poll_fn(move |cx| {
        if cell.control.load(Ordering::Acquire) == KILL {
            dropping(DropCause::Interrupted, || slot.set(None));
            return Poll::Ready(Err(Interrupt::Killed));
        }
        let Some(fut) = slot.as_mut().as_pin_mut() else {
            // Already completed or interrupted; `poll_fn` is not polled again after `Ready`.
            return Poll::Pending;
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => {
                slot.set(None);
                Poll::Ready(Ok(output))
            }
            Err(payload) => {
                let dropped = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    dropping(DropCause::Panicked, || slot.as_mut().set(None));
                }));
                if dropped.is_err() {
                    tracing::error!("a destructor panicked while cleaning up after a panic");
                }
                Poll::Ready(Err(Interrupt::Panicked(panic_message(payload.as_ref()))))
            }
        }
    })
}

fn panic_message(payload: &(dyn Any + Send)) -> Arc<str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Arc::from(*s)
    } else if let Some(s) = payload.downcast_ref::<String>() {
        Arc::from(s.as_str())
    } else {
        Arc::from("a panic with a non-string payload")
    }
}
