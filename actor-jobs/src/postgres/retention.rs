//! Retention: finished jobs are purged in bounded batches, by a task of each queue handle
//! (with [`QueueOptions::retention`](crate::QueueOptions::retention)) and by
//! [`JobBackend::purge`](crate::JobBackend::purge).

use std::time::Duration;

use super::rows::get;
use super::{Inner, ms};
use crate::clock::duration_ms;
use crate::error::JobError;
use crate::model::Millis;

/// Rows removed per purge statement: one statement never holds many row locks, nor makes a
/// long transaction that would hold back vacuum.
pub(super) const PURGE_BATCH: i64 = 1_000;

/// Removes at most [`PURGE_BATCH`] finished jobs that ended before `cutoff`, with their
/// attempt history; returns how many.
pub(super) async fn purge_once(inner: &Inner, cutoff: Millis) -> Result<i64, JobError> {
    let name = &inner.name;
    let row = inner
        .pool
        .with("purging finished jobs", |live| async move {
            live.client.query_one(&live.st.purge, &[name, &ms(cutoff), &PURGE_BATCH]).await
        })
        .await?;
    get(&row, "removed")
}

/// Purges finished jobs older than `retention` now and then, while the queue lives.
pub(super) async fn sweep(inner: std::sync::Weak<Inner>, retention: Duration) {
    let every = (retention / 10).clamp(Duration::from_millis(10), Duration::from_secs(60));
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = inner.upgrade() else { return };
        let cutoff = inner.clock.now().saturating_sub(duration_ms(retention));
        loop {
            match purge_once(&inner, cutoff).await {
                Ok(removed) if removed >= PURGE_BATCH => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(queue = %inner.name, %error, "retention could not purge jobs");
                    break;
                }
            }
        }
    }
}
