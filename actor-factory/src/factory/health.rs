//! Health: stuck workers are failed and replaced; the stats are logged periodically.

use std::hash::Hash;
use std::sync::Weak;
use std::time::Duration;

use actor_core::Actor;
// tokio's clock, so that tests on paused time see deadlines and stuck workers.

use super::*;
use crate::job::FailureReason;

pub(super) async fn watch_stuck<W, K, M>(shared: Weak<Shared<W, K, M>>, threshold: Duration)
where
    W: Actor,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + 'static,
{
    let period = (threshold / 4).max(Duration::from_millis(1));
    loop {
        tokio::time::sleep(period).await;
        let Some(me) = shared.upgrade() else { return };
        let mut fx = Effects::default();
        {
            let mut st = me.lock();
            for pos in 0..st.slots.len() {
                let s = &mut st.slots[pos];
                let busy_for = match &s.current {
                    Some(running) if running.started.elapsed() > threshold => {
                        running.started.elapsed()
                    }
                    _ => continue,
                };
                let Some(running) = s.current.take() else { continue };
                tracing::warn!(factory = %me.name, slot = s.id, ?busy_for, "worker stuck; replacing it");
                s.generation += 1;
                let worker = st.lose_worker(pos, &mut fx);
                fx.kill.extend(worker);
                me.fail(&mut st, pos, running, FailureReason::Stuck(busy_for), &mut fx);
            }
            fx.idle = !st.accepting && st.is_idle();
        }
        me.run(fx);
    }
}

pub(super) async fn log_stats<W, K, M>(shared: Weak<Shared<W, K, M>>, period: Duration)
where
    W: Actor,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + 'static,
{
    loop {
        tokio::time::sleep(period).await;
        let Some(me) = shared.upgrade() else { return };
        let stats = me.lock().stats();
        tracing::info!(factory = %me.name, %stats, "factory stats");
    }
}
