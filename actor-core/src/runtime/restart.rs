//! Restarts in place: what a supervised actor's task asks its supervisor, and the sequence that
//! ends an incarnation and builds the next on the same task and mailbox.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;

use super::*;

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
pub(super) async fn wait_turn(
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

impl<A: Actor> ActorTask<A> {
    /// After an incarnation ended on its own: asks the supervisor, and either builds the next
    /// incarnation in place (`Ok`: same mailbox, queued messages kept in order) or gives the
    /// final reason and whether `on_stop` already ran for it.
    pub(super) async fn restart(
        &mut self,
        mut reason: StopReason,
    ) -> Result<(), (StopReason, bool)> {
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
        if let Some(extras) = self.ctx.take_extras() {
            Context::<A>::shutdown(extras, false).await;
        }
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
                    #[cfg(feature = "metrics")]
                    if let Some(metrics) = self.metrics() {
                        metrics.restarted();
                    }
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
}
