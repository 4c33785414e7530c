//! A fixed set of connections, used in turn, each re-established when it is found broken (a
//! server restart, a network cut).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio_postgres::{Client, NoTls};

use super::sql::Statements;
use crate::error::JobError;

/// One live connection and its prepared statements.
pub(super) struct Live {
    pub(super) client: Client,
    pub(super) st: Statements,
}

/// One connection slot.
struct Slot {
    live: Mutex<Option<Arc<Live>>>,
    reconnect: tokio::sync::Mutex<()>,
}

/// The connections of one queue handle.
pub(super) struct Pool {
    url: String,
    slots: Vec<Slot>,
    next: AtomicUsize,
}

async fn connect(url: &str) -> Result<Live, JobError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| JobError::backend("connecting", e))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "PostgreSQL connection ended");
        }
    });
    let st = Statements::prepare(&client)
        .await
        .map_err(|e| JobError::backend("preparing statements", e))?;
    Ok(Live { client, st })
}

impl Pool {
    /// Opens `connections` connections to `url`.
    pub(super) async fn open(url: &str, connections: usize) -> Result<Pool, JobError> {
        let mut slots = Vec::new();
        for _ in 0..connections.max(1) {
            let live = connect(url).await?;
            slots.push(Slot {
                live: Mutex::new(Some(Arc::new(live))),
                reconnect: tokio::sync::Mutex::new(()),
            });
        }
        Ok(Pool { url: url.to_owned(), slots, next: AtomicUsize::new(0) })
    }

    /// Runs `op` on the next live connection. A connection found broken is dropped, so that
    /// the next call reconnects; the call that found it fails with [`JobError::Backend`] (it
    /// may or may not have taken effect, as with any lost connection).
    pub(super) async fn with<T, F, Fut>(
        &self,
        operation: &'static str,
        op: F,
    ) -> Result<T, JobError>
    where
        F: FnOnce(Arc<Live>) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let n = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let slot = &self.slots[n];
        let live = self.live(slot).await?;
        match op(Arc::clone(&live)).await {
            Ok(value) => Ok(value),
            Err(error) => {
                if live.client.is_closed() {
                    let mut current = slot.live.lock().unwrap_or_else(PoisonError::into_inner);
                    if current.as_ref().is_some_and(|l| Arc::ptr_eq(l, &live)) {
                        *current = None;
                    }
                }
                Err(JobError::backend(operation, error))
            }
        }
    }

    async fn live(&self, slot: &Slot) -> Result<Arc<Live>, JobError> {
        let current = slot.live.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(live) = current
            && !live.client.is_closed()
        {
            return Ok(live);
        }
        let _reconnecting = slot.reconnect.lock().await;
        let current = slot.live.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(live) = current
            && !live.client.is_closed()
        {
            return Ok(live);
        }
        let live = Arc::new(connect(&self.url).await?);
        *slot.live.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&live));
        Ok(live)
    }
}
