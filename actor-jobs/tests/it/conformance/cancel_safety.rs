//! Cancel safety: every mutating call's future is dropped right after its first poll (what a
//! `timeout`, a `select!` or an HTTP server whose client went away does), and the job still
//! ends correctly: it is processed, it is visible in its true state, and later jobs of its key
//! are not blocked. No call hangs afterwards.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use actor_jobs::{EnqueueOptions, JobBackend, JobError, JobId, JobState, JobStatus};

use super::basics::lease_one;

/// Polls `future` once, then drops it.
async fn drop_after_first_poll<F: Future>(future: F) {
    let mut future = pin!(future);
    std::future::poll_fn(|cx| {
        let _ = future.as_mut().poll(cx);
        Poll::Ready(())
    })
    .await;
}

/// Runs every job of the queue to success (leases expire first), and checks nothing is left.
async fn drain<B: JobBackend<String, u64>>(queue: &B) -> Vec<JobId> {
    let mut done = Vec::new();
    for _ in 0..10 {
        loop {
            let leased = queue.lease(10).await.unwrap();
            if leased.is_empty() {
                break;
            }
            for job in leased {
                queue.complete(job.lease, 7).await.unwrap();
                done.push(job.id);
            }
        }
        if queue.stats().await.unwrap().unfinished() == 0 {
            return done;
        }
        // Leases taken by dropped calls expire; retries come due.
        tokio::time::advance(Duration::from_secs(31)).await;
    }
    panic!("jobs were left unfinished: {:?}", queue.stats().await.unwrap());
}

/// The key's later job runs once the earlier one (if it exists) is done.
async fn key_not_blocked<B: JobBackend<String, u64>>(queue: &B, key: &str) {
    let later = queue.enqueue("later".to_owned(), EnqueueOptions::new().key(key)).await.unwrap();
    let done = drain(queue).await;
    assert!(done.contains(&later), "the key's later job never ran");
    assert_eq!(
        queue.status(later).await.unwrap().unwrap().state,
        JobState::Succeeded { result: 7 }
    );
}

pub(super) async fn dropped_enqueues<B: JobBackend<String, u64>>(queue: B) {
    drop_after_first_poll(queue.enqueue("plain".to_owned(), EnqueueOptions::new())).await;
    drop_after_first_poll(queue.enqueue("keyed".to_owned(), EnqueueOptions::new().key("k"))).await;
    let idem = || EnqueueOptions::new().idempotency_key("retry-after-timeout").key("k2");
    drop_after_first_poll(queue.enqueue("idem".to_owned(), idem())).await;
    // The client retries after its timeout: it gets an id, never waits forever (before the fix
    // of the pending mark, this call hung).
    let retried = queue.enqueue("idem".to_owned(), idem()).await.unwrap();
    let again = queue.enqueue("idem".to_owned(), idem()).await.unwrap();
    assert_eq!(retried, again, "one job per idempotency key");
    drop_after_first_poll(queue.enqueue_many(vec![
        ("bulk a".to_owned(), EnqueueOptions::new().key("k")),
        ("bulk b".to_owned(), EnqueueOptions::new()),
    ]))
    .await;
    key_not_blocked(&queue, "k").await;
    key_not_blocked(&queue, "k2").await;
    assert_eq!(queue.status(retried).await.unwrap().unwrap().status(), JobStatus::Succeeded);
}

pub(super) async fn dropped_lease<B: JobBackend<String, u64>>(queue: B) {
    let id = queue.enqueue("a".to_owned(), EnqueueOptions::new().key("k")).await.unwrap();
    drop_after_first_poll(queue.lease(1)).await;
    // Leased to nobody (or not at all): delivered once the lease would have expired.
    let done = drain(&queue).await;
    assert!(done.contains(&id));
    key_not_blocked(&queue, "k").await;
}

pub(super) async fn dropped_complete_and_fail<B: JobBackend<String, u64>>(queue: B) {
    let a = queue.enqueue("a".to_owned(), EnqueueOptions::new().key("k")).await.unwrap();
    let job = lease_one(&queue).await;
    drop_after_first_poll(queue.complete(job.lease, 1)).await;
    let state = queue.status(a).await.unwrap().unwrap().state;
    assert!(
        matches!(state, JobState::Succeeded { result: 1 } | JobState::Running { .. }),
        "{state:?}"
    );
    key_not_blocked(&queue, "k").await;

    let b = queue.enqueue("b".to_owned(), EnqueueOptions::new().key("k")).await.unwrap();
    let job = lease_one(&queue).await;
    assert_eq!(job.id, b);
    drop_after_first_poll(queue.fail(job.lease, "dropped".to_owned())).await;
    key_not_blocked(&queue, "k").await;
    assert_eq!(queue.status(b).await.unwrap().unwrap().status(), JobStatus::Succeeded);
}

pub(super) async fn dropped_extend<B: JobBackend<String, u64>>(queue: B) {
    let id = queue.enqueue("a".to_owned(), EnqueueOptions::new().key("k")).await.unwrap();
    let job = lease_one(&queue).await;
    drop_after_first_poll(queue.extend(job.lease)).await;
    // Extended or not, the lease is still the job's: completing works.
    queue.complete(job.lease, 3).await.unwrap();
    assert_eq!(queue.status(id).await.unwrap().unwrap().state, JobState::Succeeded { result: 3 });
    key_not_blocked(&queue, "k").await;
}

pub(super) async fn dropped_cancel_requeue_and_purge<B: JobBackend<String, u64>>(queue: B) {
    let a = queue.enqueue("a".to_owned(), EnqueueOptions::new().key("k")).await.unwrap();
    drop_after_first_poll(queue.cancel(a)).await;
    let status = queue.status(a).await.unwrap().unwrap().status();
    assert!(matches!(status, JobStatus::Cancelled | JobStatus::Queued), "{status}");
    key_not_blocked(&queue, "k").await;

    // A dead job whose requeue is dropped can be requeued (or is queued) and runs.
    let b = queue
        .enqueue("b".to_owned(), EnqueueOptions::new().key("k").max_attempts(1))
        .await
        .unwrap();
    let job = lease_one(&queue).await;
    queue.fail(job.lease, "once".to_owned()).await.unwrap();
    drop_after_first_poll(queue.requeue(b)).await;
    // Requeue again: it works, or the dropped one took effect first.
    match queue.requeue(b).await {
        Ok(()) | Err(JobError::InvalidState { status: JobStatus::Queued, .. }) => {}
        other => panic!("requeue after a dropped requeue: {other:?}"),
    }
    key_not_blocked(&queue, "k").await;
    assert_eq!(queue.status(b).await.unwrap().unwrap().status(), JobStatus::Succeeded);

    tokio::time::advance(Duration::from_secs(3600)).await;
    drop_after_first_poll(queue.purge(Duration::from_secs(60))).await;
    let removed = queue.purge(Duration::from_secs(60)).await.unwrap();
    // Four finished jobs: the dropped purge removed some, all or none, and this one the rest
    // (the embedded queue keeps its newest job, so that ids continue after it).
    assert!(removed <= 4, "{removed}");
    let stats = queue.stats().await.unwrap();
    assert!(stats.succeeded + stats.cancelled <= 1, "{stats:?}");
    let left = queue.status(a).await.unwrap();
    assert!(left.is_none() || left.is_some_and(|r| r.status().is_finished()));
}
