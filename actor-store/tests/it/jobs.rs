//! The embedded job queue's own behaviour: restarts and purging. What every backend must do is
//! in `conformance.rs`.

use std::time::Duration;

use actor_store::{EnqueueOptions, JobId, JobQueue, JobState, QueueOptions, RetryPolicy, Store};

use crate::support::{TempDir, wait_unlocked};

type Queue = JobQueue<String, u64>;

fn options() -> QueueOptions {
    QueueOptions::new().visibility_timeout(Duration::from_secs(30)).retry(RetryPolicy {
        max_attempts: 3,
        backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(60),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_running_jobs_are_due_at_once_and_the_last_attempt_is_dead() {
    let dir = TempDir::new("jobs-restart");
    let (a, b, c) = {
        let store = Store::open(dir.path()).unwrap();
        let queue = Queue::open(&store, "work", options()).await.unwrap();
        let a = queue.enqueue("a".to_owned(), EnqueueOptions::new()).await.unwrap();
        let b = queue.enqueue("b".to_owned(), EnqueueOptions::new().max_attempts(1)).await.unwrap();
        let c = queue
            .enqueue("c".to_owned(), EnqueueOptions::new().idempotency_key("k"))
            .await
            .unwrap();
        let leased = queue.lease(2).await.unwrap();
        assert_eq!(leased.len(), 2);
        // The process "dies" with a and b running: nothing completes them.
        store.close().await.unwrap();
        (a, b, c)
    };
    wait_unlocked(dir.path()).await;
    let store = Store::open(dir.path()).unwrap();
    let queue = Queue::open(&store, "work", options()).await.unwrap();
    let stats = queue.stats();
    assert_eq!((stats.failed, stats.dead, stats.queued, stats.running), (1, 1, 1, 0));
    let record = queue.status(b).unwrap().unwrap();
    assert!(matches!(record.state, JobState::Dead { .. }), "{record:?}");
    // a is due at once (no lease timeout to wait for), with its attempt counted.
    let leased = queue.lease(10).await.unwrap();
    let got: Vec<(JobId, u32)> = leased.iter().map(|j| (j.id, j.attempt)).collect();
    assert_eq!(got, vec![(a, 2), (c, 1)]);
    // Idempotency keys and ids survive the restart.
    let again = queue.enqueue("c".to_owned(), EnqueueOptions::new().idempotency_key("k")).await;
    assert_eq!(again.unwrap(), c);
    let d = queue.enqueue("d".to_owned(), EnqueueOptions::new()).await.unwrap();
    assert_eq!(d, JobId(c.0 + 1));
    store.close().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn purge_removes_old_finished_jobs_only() {
    let dir = TempDir::new("jobs-purge");
    let store = Store::open(dir.path()).unwrap();
    let queue = Queue::open(&store, "work", options()).await.unwrap();
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(
            queue
                .enqueue(format!("j{n}"), EnqueueOptions::new().idempotency_key(format!("k{n}")))
                .await
                .unwrap(),
        );
    }
    for job in queue.lease(3).await.unwrap() {
        queue.complete(job.lease, 0).await.unwrap();
    }
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert_eq!(queue.purge(Duration::from_secs(60)).await.unwrap(), 3);
    assert!(queue.status(ids[0]).unwrap().is_none());
    assert_eq!(queue.stats().succeeded, 0);
    assert_eq!(queue.stats().queued, 2);
    // A purged idempotency key may be used again: it makes a new job.
    let again = queue.enqueue("j0".to_owned(), EnqueueOptions::new().idempotency_key("k0")).await;
    assert!(again.unwrap() > ids[4]);
    store.close().await.unwrap();
}
