//! The stop sequence: drain the mailbox, stop children and tasks, run `on_stop`, release the
//! state, publish the reason.
//!
//! It runs in the task's own future, not boxed: the mailbox is drained without waiting, and the
//! only part that may wait long (stopping children and background tasks) is boxed, and only
//! for an actor that has any. An actor that never started a task or child stops without an
//! allocation.

use std::pin::pin;

use super::*;

impl<A: Actor> ActorTask<A> {
    /// Drains the mailbox, stops children and tasks and runs `on_stop` (unless killed or
    /// already run); returns the final reason. Borrows the task, so that the task's future does
    /// not hold it twice; [`release`](Self::release) ends it.
    pub(super) async fn finish(
        &mut self,
        mut reason: StopReason,
        on_stop_done: bool,
    ) -> StopReason {
        if let Some(restarter) = self.restarter() {
            restarter.gone();
        }
        // Whatever is still queued will not be handled: answer its askers now.
        let pending = self.pending.take();
        dropping(DropCause::Unhandled, || drop(pending));
        self.rx.discard_all();

        let killed = matches!(reason, StopReason::Killed);
        if let Some(extras) = self.ctx.take_extras() {
            Box::pin(Context::<A>::shutdown(extras, killed)).await;
        }
        if !killed && !on_stop_done {
            let interrupted = {
                let mut on_stop = pin!(Some(self.actor.on_stop(&self.ctx, &reason)));
                guarded(&self.cell, on_stop.as_mut()).await.err()
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
        reason
    }

    /// Releases the state, then publishes `reason`.
    pub(super) fn release(self, reason: StopReason) {
        let ActorTask { actor, rx, pending, waker, extras, cell, ctx } = self;
        // Release the state (files, sockets) before anyone waiting for the stop is woken. The
        // context goes after the reason is published; by then its destructor has nothing to do.
        drop((actor, rx, pending, waker, extras));
        registry::remove_actor(&cell);
        crate::inspect::forget(cell.id);
        tracing::debug!(%reason, "actor stopped");
        cell.publish(reason);
        drop(ctx);
    }
}
