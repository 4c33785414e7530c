//! Wake-ups: a connection of its own `LISTEN`s on the queue's channel, and each notification
//! wakes this process's waiters, so an idle worker leases a new job within milliseconds of its
//! enqueue. Lost notifications (a broken connection, a restarted server) are covered by the
//! waiters' periodic sweep; after reconnecting, the listener wakes every waiter once, since it
//! may have missed some.
//!
//! A notification whose payload is `cancel:<id>` names a running job that was cancelled: it
//! is kept in [`Cancels`] for the handler of this process waiting on it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, NoTls};

/// The queue's notification channel: fixed length and plain characters whatever the queue's
/// name (FNV-1a of the name).
pub(super) fn channel(queue: &str) -> String {
    let hash = queue
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("actor_jobs_{hash:016x}")
}

/// Running jobs cancelled lately, as the channel announced them, for
/// [`JobBackend::cancelled`](crate::JobBackend::cancelled).
#[derive(Default)]
pub(super) struct Cancels {
    ids: Mutex<HashSet<u64>>,
    /// Notified with every announced cancel, and after a reconnection (waiters look again).
    pub(super) changed: Notify,
}

/// Cancels remembered at most; beyond, the set starts over (a waiter reads the job's state
/// whenever it wakes, so nothing is missed).
const REMEMBERED: usize = 10_000;

impl Cancels {
    /// Whether `id` was announced cancelled; forgets it.
    pub(super) fn take(&self, id: crate::JobId) -> bool {
        self.ids.lock().unwrap_or_else(PoisonError::into_inner).remove(&id.0)
    }

    fn announce(&self, id: u64) {
        {
            let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
            if ids.len() >= REMEMBERED {
                ids.clear();
            }
            ids.insert(id);
        }
        self.changed.notify_waiters();
    }
}

/// Listens on `channel` until the task is aborted, waking `changed` on every notification and
/// recording announced cancels in `cancels`.
pub(super) async fn run(url: String, channel: String, changed: Arc<Notify>, cancels: Arc<Cancels>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match listen(&url, &channel, &changed, &cancels).await {
            Ok(()) => backoff = Duration::from_millis(100),
            Err(error) => {
                tracing::warn!(%error, %channel, "listening for new jobs failed; reconnecting");
            }
        }
        // Whatever was missed meanwhile: the waiters look again.
        changed.notify_waiters();
        cancels.changed.notify_waiters();
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// One connection's life: returns when it ends.
async fn listen(
    url: &str,
    channel: &str,
    changed: &Notify,
    cancels: &Cancels,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls).await?;
    // The connection delivers notifications only while it is polled, and the `LISTEN` below
    // completes only while it is polled: both happen in this one loop.
    let quoted = channel.replace('"', "\"\"");
    let statement = format!("LISTEN \"{quoted}\"");
    let mut subscribe = std::pin::pin!(client.batch_execute(&statement));
    let mut subscribed = false;
    loop {
        let message = std::future::poll_fn(|cx| {
            if !subscribed && let std::task::Poll::Ready(done) = subscribe.as_mut().poll(cx) {
                subscribed = true;
                return std::task::Poll::Ready(Step::Subscribed(done));
            }
            connection.poll_message(cx).map(|message| match message {
                Some(Ok(AsyncMessage::Notification(note))) => Step::Notified(
                    note.payload().strip_prefix("cancel:").and_then(|id| id.parse().ok()),
                ),
                Some(Ok(_)) => Step::Other,
                Some(Err(error)) => Step::Failed(error),
                None => Step::Ended,
            })
        })
        .await;
        match message {
            Step::Subscribed(Err(error)) | Step::Failed(error) => return Err(error),
            // Listening from now on: anything enqueued before is found by looking.
            Step::Subscribed(Ok(())) => {
                changed.notify_waiters();
                cancels.changed.notify_waiters();
            }
            Step::Notified(cancelled) => {
                if let Some(id) = cancelled {
                    cancels.announce(id);
                }
                changed.notify_waiters();
            }
            Step::Other => {}
            Step::Ended => return Ok(()),
        }
    }
}

/// What the listening connection did.
enum Step {
    Subscribed(Result<(), tokio_postgres::Error>),
    /// A notification; the job it announces cancelled, if it does.
    Notified(Option<u64>),
    Other,
    Failed(tokio_postgres::Error),
    Ended,
}
