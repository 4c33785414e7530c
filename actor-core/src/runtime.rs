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
use crate::control::{ActorCell, FAIL, RUNNING, STOP};
use crate::error::{SpawnError, StopReason};
use crate::mailbox::{self, MailboxReceiver};
use crate::registry;
use crate::reply;
use crate::spawn::SpawnOptions;

/// Spawns an actor's task; every actor starts here.
pub(crate) fn spawn_actor<A: Actor>(
    actor: A,
    options: SpawnOptions,
) -> Result<ActorRef<A>, SpawnError> {
    options.validate()?;
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| SpawnError::NoRuntime)?;
    let (tx, rx) = mailbox::channel(options.mailbox);
    let cell = Arc::new(ActorCell::new(options.name, std::any::type_name::<A>()));
    let actor_ref = ActorRef::new(tx.clone(), Arc::clone(&cell));
    let span = tracing::info_span!("actor", name = %cell.name, id = cell.id.get());
    let ctx = Context::new(Arc::clone(&cell), tx);
    let task = ActorTask {
        actor,
        rx,
        ctx,
        pending: None,
        max_shared: options.max_shared,
        guard: KillGuard { cell: Arc::clone(&cell) },
    };
    let fut = run(task);
    // A disabled span is not worth a wrapper polled on every wake-up.
    let task =
        if span.is_disabled() { runtime.spawn(fut) } else { runtime.spawn(fut.instrument(span)) };
    cell.set_abort(task.abort_handle());
    Ok(actor_ref)
}

/// Spawns a background task owned by an actor's context.
pub(crate) fn spawn_background<F>(set: &mut JoinSet<()>, task: F) -> AbortHandle
where
    F: Future<Output = ()> + Send + 'static,
{
    set.spawn(task.in_current_span())
}

/// Publishes `Killed` if the task is dropped (aborted) before it finished on its own.
struct KillGuard {
    cell: Arc<ActorCell>,
}

impl Drop for KillGuard {
    fn drop(&mut self) {
        // A no-op when the task finished normally: the first published reason wins.
        if self.cell.stop_reason().is_none() {
            registry::remove_actor(&self.cell);
            self.cell.publish(StopReason::Killed);
            tracing::debug!("actor killed");
        }
    }
}

/// Everything an actor's task owns, in one place so that the task's future stores each of them
/// once. Fields drop in declaration order, the guard last: a killed actor releases its state and
/// answers its queued askers before `Killed` is published.
struct ActorTask<A: Actor> {
    actor: A,
    rx: MailboxReceiver<A::Message>,
    ctx: Context<A>,
    /// An exclusive message taken from the mailbox during a shared phase, waiting for the shared
    /// handlers to finish.
    pending: Option<A::Message>,
    max_shared: usize,
    guard: KillGuard,
}

async fn run<A: Actor>(mut task: ActorTask<A>) {
    tracing::debug!("actor started");
    let reason = task.incarnation().await;

    // Whatever is still queued will not be handled: answer its askers now.
    task.pending = None;
    task.rx.close();
    while task.rx.recv().await.is_some() {}

    // The stop sequence runs once: boxed, so that its futures do not enlarge every actor's task
    // for its whole life.
    Box::pin(finish(task, reason)).await;
}

/// Stops children and tasks, runs `on_stop`, releases the state, then publishes the reason.
async fn finish<A: Actor>(mut task: ActorTask<A>, reason: StopReason) {
    task.ctx.shutdown().await;
    {
        let mut on_stop = pin!(Some(task.actor.on_stop(&task.ctx, &reason)));
        if let Err(panic) = catch_unwind(on_stop.as_mut()).await {
            tracing::error!(%panic, "on_stop panicked");
        }
    }
    let ActorTask { actor, rx, ctx, pending, guard, .. } = task;
    // Release the state (files, sockets) before anyone waiting for the stop is woken.
    drop((actor, rx, ctx, pending));
    registry::remove_actor(&guard.cell);
    tracing::debug!(%reason, "actor stopped");
    guard.cell.publish(reason);
}

impl<A: Actor> ActorTask<A> {
    /// Runs one incarnation of the actor: `on_start`, then messages until it stops or fails.
    async fn incarnation(&mut self) -> StopReason {
        let started = {
            let mut on_start = pin!(Some(self.actor.on_start(&self.ctx)));
            catch_unwind(on_start.as_mut()).await
        };
        match started {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "on_start failed");
                return StopReason::Failed(Arc::from(error));
            }
            Err(panic) => {
                tracing::error!(%panic, "on_start panicked");
                return StopReason::Panicked(panic);
            }
        }
        let mut handling = pin!(Some(self.message_loop()));
        match catch_unwind(handling.as_mut()).await {
            Ok(reason) => reason,
            Err(panic) => {
                tracing::error!(%panic, "handler panicked");
                StopReason::Panicked(panic)
            }
        }
    }

    async fn message_loop(&mut self) -> StopReason {
        let ActorTask { actor, rx, ctx, pending, max_shared, guard } = self;
        let (cell, max_shared) = (&*guard.cell, *max_shared);
        let mut closed = false;
        // The waker last stored in the cell, so that it is stored again only when it changes.
        let mut waker: Option<Waker> = None;
        loop {
            match cell.control.load(Ordering::Acquire) {
                RUNNING => {}
                STOP => {
                    if !closed {
                        rx.close();
                        closed = true;
                    }
                }
                _ => return ctx.take_failure().unwrap_or(StopReason::Normal),
            }
            let msg = match pending.take() {
                Some(msg) => msg,
                None => match poll_fn(|cx| poll_next(rx, cell, !closed, &mut waker, cx)).await {
                    Next::Message(msg) => msg,
                    Next::Closed => return StopReason::Normal,
                    Next::Control => continue,
                },
            };
            tracing::trace!("message");
            let msg = match actor.handle_shared(msg, ctx) {
                Dispatch::Exclusive(msg) => msg,
                Dispatch::Done => continue,
                Dispatch::Pending(first) => {
                    // Shared phase: keep starting shared handlers until an exclusive message arrives,
                    // the limit is reached or the mailbox ends; then let every one of them finish.
                    let mut in_flight = FuturesUnordered::new();
                    in_flight.push(first);
                    let mut ended = false;
                    loop {
                        let control = cell.control.load(Ordering::Acquire);
                        if control == STOP && !closed {
                            rx.close();
                            closed = true;
                        }
                        let accepting = pending.is_none()
                            && !ended
                            && control != FAIL
                            && in_flight.len() < max_shared;
                        if in_flight.is_empty() && !accepting {
                            break;
                        }
                        tokio::select! {
                            biased;
                            Some(()) = in_flight.next() => {}
                            next = poll_fn(|cx| poll_next(rx, cell, !closed, &mut waker, cx)), if accepting => match next {
                                Next::Message(msg) => {
                                    tracing::trace!("message");
                                    // Reborrowed from `actor` (not held as `&A`) so the task is `Send` without `A: Sync`.
                                    match actor.handle_shared(msg, ctx) {
                                        Dispatch::Done => {}
                                        Dispatch::Pending(fut) => in_flight.push(fut),
                                        Dispatch::Exclusive(msg) => *pending = Some(msg),
                                    }
                                }
                                Next::Closed => ended = true,
                                Next::Control => {}
                            },
                            else => break,
                        }
                    }
                    if ended {
                        return StopReason::Normal;
                    }
                    continue;
                }
            };
            actor.handle(msg, ctx).await;
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

/// Polls the future in `slot`, turning a panic into `Err(message)`. The future is dropped (the
/// slot set to `None`) right after a panic, with in-flight replies told that the actor panicked.
///
/// The caller pins the slot in its own frame, so the future is stored once, not once per layer.
async fn catch_unwind<F: Future>(mut slot: Pin<&mut Option<F>>) -> Result<F::Output, Arc<str>> {
    poll_fn(move |cx| {
        let Some(fut) = slot.as_mut().as_pin_mut() else {
            // Already completed or panicked; `poll_fn` is not polled again after `Ready`.
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
                    reply::while_unwinding(|| slot.as_mut().set(None));
                }));
                if dropped.is_err() {
                    tracing::error!("a destructor panicked while cleaning up after a panic");
                }
                Poll::Ready(Err(panic_message(payload.as_ref())))
            }
        }
    })
    .await
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
