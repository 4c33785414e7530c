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
use std::pin::pin;
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
    let fut =
        run(actor, rx, ctx, cell.clone(), options.max_shared, KillGuard { cell: cell.clone() });
    let task = runtime.spawn(fut.instrument(span));
    // The cell is new and nobody else sets its abort handle.
    let _ = cell.abort.set(task.abort_handle());
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

async fn run<A: Actor>(
    actor: A,
    rx: MailboxReceiver<A::Message>,
    ctx: Context<A>,
    cell: Arc<ActorCell>,
    max_shared: usize,
    // A parameter, not a local: a task killed before its first poll drops it too. It is the
    // last parameter and the rebinds below come after it, so in either case it is dropped after
    // the state and the queued messages.
    guard: KillGuard,
) {
    let _guard = guard;
    let (mut actor, mut rx, ctx) = (actor, rx, ctx);
    tracing::debug!("actor started");
    let mut pending = None;
    let reason = incarnation(&mut actor, &mut rx, &ctx, &cell, max_shared, &mut pending).await;

    // Whatever is still queued will not be handled: answer its askers now.
    drop(pending);
    rx.close();
    while rx.recv().await.is_some() {}

    ctx.shutdown().await;
    if let Err(panic) = catch_unwind(actor.on_stop(&ctx, &reason)).await {
        tracing::error!(%panic, "on_stop panicked");
    }
    // Release the state (files, sockets) before anyone waiting for the stop is woken.
    drop(actor);
    drop(ctx);
    registry::remove_actor(&cell);
    tracing::debug!(%reason, "actor stopped");
    cell.publish(reason);
}

/// Runs one incarnation of the actor: `on_start`, then messages until it stops or fails.
async fn incarnation<A: Actor>(
    actor: &mut A,
    rx: &mut MailboxReceiver<A::Message>,
    ctx: &Context<A>,
    cell: &ActorCell,
    max_shared: usize,
    pending: &mut Option<A::Message>,
) -> StopReason {
    match catch_unwind(actor.on_start(ctx)).await {
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
    match catch_unwind(message_loop(actor, rx, ctx, cell, max_shared, pending)).await {
        Ok(reason) => reason,
        Err(panic) => {
            tracing::error!(%panic, "handler panicked");
            StopReason::Panicked(panic)
        }
    }
}

async fn message_loop<A: Actor>(
    actor: &mut A,
    rx: &mut MailboxReceiver<A::Message>,
    ctx: &Context<A>,
    cell: &ActorCell,
    max_shared: usize,
    pending: &mut Option<A::Message>,
) -> StopReason {
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

/// Polls `fut`, turning a panic into `Err(message)`. The future is dropped right after a panic,
/// with in-flight replies told that the actor panicked.
async fn catch_unwind<F: Future>(fut: F) -> Result<F::Output, Arc<str>> {
    let mut slot = pin!(Some(fut));
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
