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

/// A queue written by a release before trace contexts opens, migrated, with its jobs intact:
/// the types below have the shape that release stored (the store checks shapes, not names).
mod before_trace_contexts {
    use actor_jobs::{JobState, Millis};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    pub(super) struct Spec {
        pub(super) key: Option<String>,
        pub(super) idempotency_key: Option<String>,
        pub(super) payload: String,
        pub(super) max_attempts: u32,
        pub(super) priority: i16,
        pub(super) group: Option<String>,
        pub(super) created_at: Millis,
    }

    #[derive(Serialize, Deserialize)]
    pub(super) struct Progress {
        pub(super) state: JobState<u64>,
        pub(super) attempt: u32,
        pub(super) updated_at: Millis,
        pub(super) visible_at: Millis,
        pub(super) started_at: Option<Millis>,
    }

    #[derive(Serialize, Deserialize)]
    pub(super) enum Entry {
        Job(Spec),
        State(Progress),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_written_before_trace_contexts_opens_with_its_jobs() {
    use before_trace_contexts::{Entry, Progress, Spec};
    let dir = TempDir::new("jobs-v1");
    {
        let store = Store::open(dir.path()).unwrap();
        let tree = store.tree::<(u64, u8), Entry>("jobs/old").unwrap();
        for (id, payload, state) in
            [(1, "done", JobState::Succeeded { result: 7 }), (2, "waiting", JobState::Queued)]
        {
            let spec = Spec {
                key: None,
                idempotency_key: Some(format!("k{id}")),
                payload: payload.to_owned(),
                max_attempts: 3,
                priority: 0,
                group: None,
                created_at: 1,
            };
            tree.insert(&(id, 0), &Entry::Job(spec)).await.unwrap();
            let progress =
                Progress { state, attempt: 1, updated_at: 1, visible_at: 1, started_at: None };
            tree.insert(&(id, 1), &Entry::State(progress)).await.unwrap();
        }
        store.close().await.unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let queue = Queue::open(&store, "old", options()).await.unwrap();
    let done = queue.status(JobId(1)).await.unwrap().unwrap();
    assert_eq!(
        (done.payload.as_str(), done.state, done.trace),
        ("done", JobState::Succeeded { result: 7 }, None)
    );
    let leased = queue.lease(10).await.unwrap();
    assert_eq!(
        leased.iter().map(|j| (j.id, j.payload.as_str())).collect::<Vec<_>>(),
        [(JobId(2), "waiting")]
    );
    // New jobs get the next id, and the idempotency keys were kept.
    let again = queue
        .enqueue("again".to_owned(), EnqueueOptions::new().idempotency_key("k1"))
        .await
        .unwrap();
    assert_eq!(again, JobId(1));
    queue.close().await;
    store.close().await.unwrap();
    // Opened again: already migrated, nothing to do.
    let store = Store::open(dir.path()).unwrap();
    let queue = Queue::open(&store, "old", options()).await.unwrap();
    assert_eq!(queue.status(JobId(2)).await.unwrap().unwrap().payload, "waiting");
    queue.close().await;
    store.close().await.unwrap();
}
