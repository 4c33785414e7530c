//! What only the embedded queue does: restarts, where every job found running belonged to a
//! process that is gone.

use actor_jobs::{EmbeddedQueue, EnqueueOptions, JobBackend, JobId, JobState};
use actor_store::Store;

use crate::support::{TempDir, options};

type Queue = EmbeddedQueue<String, u64>;

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
        queue.close().await;
        store.close().await.unwrap();
        (a, b, c)
    };
    let store = Store::open(dir.path()).unwrap();
    let queue = Queue::open(&store, "work", options()).await.unwrap();
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.failed, stats.dead, stats.queued, stats.running), (1, 1, 1, 0));
    let record = queue.status(b).await.unwrap().unwrap();
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
    queue.close().await;
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_queue_opened_with_other_payload_types_is_refused() {
    let dir = TempDir::new("jobs-types");
    let store = Store::open(dir.path()).unwrap();
    let queue = Queue::open(&store, "work", options()).await.unwrap();
    queue.enqueue("a".to_owned(), EnqueueOptions::new()).await.unwrap();
    queue.close().await;
    let wrong = EmbeddedQueue::<u64, u64>::open(&store, "work", options()).await;
    assert!(
        matches!(
            wrong,
            Err(actor_jobs::JobError::Store(actor_store::StoreError::SchemaMismatch { .. }))
        ),
        "{wrong:?}"
    );
    store.close().await.unwrap();
}
