//! Health: the stats are logged periodically (stuck workers are actor-core's watchdog's).

use std::hash::Hash;
use std::sync::Weak;
use std::time::Duration;

use actor_core::Actor;

use super::*;

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
