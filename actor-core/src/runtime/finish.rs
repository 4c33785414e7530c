//! The stop sequence: drain the mailbox, stop children and tasks, run `on_stop`, release the
//! state, publish the reason. It runs once, so it is boxed by its caller.

use std::pin::pin;

use super::*;

/// Drains the mailbox, stops children and tasks, runs `on_stop` (unless killed), releases the
/// state, then publishes the reason.
pub(super) async fn finish<A: Actor>(
    mut task: ActorTask<A>,
    mut reason: StopReason,
    on_stop_done: bool,
) {
    if let Some(restarter) = task.restarter() {
        restarter.gone();
    }
    // Whatever is still queued will not be handled: answer its askers now. `recv` returns `None`
    // only once no sender is between reserving a slot and filling it.
    let pending = task.pending.take();
    dropping(DropCause::Unhandled, || drop(pending));
    task.rx.discard_all();

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
