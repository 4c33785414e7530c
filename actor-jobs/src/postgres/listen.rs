//! Wake-ups: a connection of its own `LISTEN`s on the queue's channel, and each notification
//! wakes this process's waiters, so an idle worker leases a new job within milliseconds of its
//! enqueue. Lost notifications (a broken connection, a restarted server) are covered by the
//! waiters' periodic sweep; after reconnecting, the listener wakes every waiter once, since it
//! may have missed some.

use std::sync::Arc;
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

/// Listens on `channel` until the task is aborted, waking `changed` on every notification.
pub(super) async fn run(url: String, channel: String, changed: Arc<Notify>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match listen(&url, &channel, &changed).await {
            Ok(()) => backoff = Duration::from_millis(100),
            Err(error) => {
                tracing::warn!(%error, %channel, "listening for new jobs failed; reconnecting");
            }
        }
        // Whatever was missed meanwhile: the waiters look again.
        changed.notify_waiters();
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// One connection's life: returns when it ends.
async fn listen(url: &str, channel: &str, changed: &Notify) -> Result<(), tokio_postgres::Error> {
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
                Some(Ok(AsyncMessage::Notification(_))) => Step::Notified,
                Some(Ok(_)) => Step::Other,
                Some(Err(error)) => Step::Failed(error),
                None => Step::Ended,
            })
        })
        .await;
        match message {
            Step::Subscribed(Err(error)) | Step::Failed(error) => return Err(error),
            // Listening from now on: anything enqueued before is found by looking.
            Step::Subscribed(Ok(())) | Step::Notified => changed.notify_waiters(),
            Step::Other => {}
            Step::Ended => return Ok(()),
        }
    }
}

/// What the listening connection did.
enum Step {
    Subscribed(Result<(), tokio_postgres::Error>),
    Notified,
    Other,
    Failed(tokio_postgres::Error),
    Ended,
}
