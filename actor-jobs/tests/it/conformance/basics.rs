//! The basic cases: lifecycle, idempotency, lease deadlines and fencing, dead letters, cancel,
//! per-key order, the oldest due job's age, bulk enqueue, purge and retention.

use std::time::Duration;

use actor_jobs::{
    EnqueueOptions, FailOutcome, JobBackend, JobError, JobId, JobState, JobStatus, Lease, Leased,
};

pub(super) async fn lease_one<B: JobBackend<String, u64>>(queue: &B) -> Leased<String> {
    let mut leased = queue.lease(1).await.unwrap();
    assert_eq!(leased.len(), 1, "expected one due job");
    leased.pop().unwrap()
}

pub(super) async fn state<B: JobBackend<String, u64>>(queue: &B, id: JobId) -> JobState<u64> {
    queue.status(id).await.unwrap().expect("the job exists").state
}

pub(super) async fn lifecycle<B: JobBackend<String, u64>>(queue: B) {
    let id = queue.enqueue("index doc 7".to_owned(), EnqueueOptions::new()).await.unwrap();
    assert_eq!(state(&queue, id).await, JobState::Queued);
    assert_eq!(queue.stats().await.unwrap().queued, 1);

    let job = lease_one(&queue).await;
    assert_eq!((job.id, job.payload.as_str(), job.attempt), (id, "index doc 7", 1));
    assert_eq!(queue.stats().await.unwrap().running, 1);
    assert!(queue.lease(10).await.unwrap().is_empty(), "a leased job is not leased twice");

    queue.complete(job.lease, 42).await.unwrap();
    let record = queue.status(id).await.unwrap().unwrap();
    assert_eq!(record.state, JobState::Succeeded { result: 42 });
    assert_eq!(record.attempt, 1);
    assert_eq!(record.payload, "index doc 7");
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.queued, stats.running, stats.succeeded), (0, 0, 1));
    assert_eq!(queue.list(JobStatus::Succeeded, 10).await.unwrap(), vec![id]);
    assert!(matches!(queue.complete(job.lease, 43).await, Err(JobError::LeaseLost(_))));
    assert!(queue.status(JobId(u64::MAX >> 2)).await.unwrap().is_none());
}

pub(super) async fn idempotency<B: JobBackend<String, u64>>(queue: B) {
    let key = || EnqueueOptions::new().idempotency_key("req-1");
    let first = queue.enqueue("a".to_owned(), key()).await.unwrap();
    let repeats: Vec<_> = (0..8)
        .map(|_| {
            let queue = queue.clone();
            tokio::spawn(async move {
                queue.enqueue("a".to_owned(), EnqueueOptions::new().idempotency_key("req-1")).await
            })
        })
        .collect();
    for repeat in repeats {
        assert_eq!(repeat.await.unwrap().unwrap(), first);
    }
    let other = queue
        .enqueue("b".to_owned(), EnqueueOptions::new().idempotency_key("req-2"))
        .await
        .unwrap();
    assert_ne!(other, first);
    let job = lease_one(&queue).await;
    queue.complete(job.lease, 1).await.unwrap();
    assert_eq!(queue.enqueue("a".to_owned(), key()).await.unwrap(), first, "after it finished too");
    let stats = queue.stats().await.unwrap();
    assert_eq!(stats.queued + stats.succeeded, 2);
}

pub(super) async fn lease_deadline<B: JobBackend<String, u64>>(queue: B) {
    let id = queue.enqueue("slow".to_owned(), EnqueueOptions::new()).await.unwrap();
    let first = lease_one(&queue).await;
    tokio::time::advance(Duration::from_millis(29_999)).await;
    assert!(queue.lease(1).await.unwrap().is_empty(), "redelivered before the lease ended");
    tokio::time::advance(Duration::from_millis(1)).await;
    let second = lease_one(&queue).await;
    assert_eq!((second.id, second.attempt), (id, 2));
    assert_ne!(second.lease.token, first.lease.token);

    // The first worker wakes up late: fenced off.
    assert!(matches!(queue.complete(first.lease, 1).await, Err(JobError::LeaseLost(_))));
    assert!(matches!(queue.fail(first.lease, "late".into()).await, Err(JobError::LeaseLost(_))));
    assert!(matches!(queue.extend(first.lease).await, Err(JobError::LeaseLost(_))));
    // The second extends its lease and finishes after the original deadline.
    tokio::time::advance(Duration::from_secs(20)).await;
    queue.extend(second.lease).await.unwrap();
    tokio::time::advance(Duration::from_secs(20)).await;
    assert!(queue.lease(1).await.unwrap().is_empty(), "an extended lease expired");
    queue.complete(second.lease, 2).await.unwrap();
    assert_eq!(state(&queue, id).await, JobState::Succeeded { result: 2 });
    let unknown = Lease { id: JobId(u64::MAX >> 2), token: 1 };
    assert!(matches!(queue.complete(unknown, 0).await, Err(JobError::NotFound(_))));
}

pub(super) async fn dead_letters<B: JobBackend<String, u64>>(queue: B) {
    let id = queue.enqueue("poison".to_owned(), EnqueueOptions::new()).await.unwrap();
    for attempt in 1..=3u32 {
        let job = lease_one(&queue).await;
        assert_eq!(job.attempt, attempt);
        match queue.fail(job.lease, format!("boom {attempt}")).await.unwrap() {
            FailOutcome::Retrying { at } => {
                // Exponential backoff from 1 s: due exactly then, not a millisecond before.
                let backoff = 1_000 << (attempt - 1);
                assert_eq!(at, queue.now() + backoff);
                assert!(matches!(state(&queue, id).await, JobState::Failed { .. }));
                tokio::time::advance(Duration::from_millis(backoff - 1)).await;
                assert!(queue.lease(1).await.unwrap().is_empty(), "retried before its backoff");
                tokio::time::advance(Duration::from_millis(1)).await;
            }
            FailOutcome::Dead => assert_eq!(attempt, 3, "dead before its last attempt"),
        }
    }
    assert_eq!(state(&queue, id).await, JobState::Dead { error: "boom 3".to_owned() });
    assert_eq!(queue.status(id).await.unwrap().unwrap().attempt, 3);
    assert_eq!(queue.list(JobStatus::Dead, 10).await.unwrap(), vec![id]);
    assert_eq!(queue.stats().await.unwrap().dead, 1);
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert!(queue.lease(1).await.unwrap().is_empty(), "a dead job was leased");

    queue.requeue(id).await.unwrap();
    let job = lease_one(&queue).await;
    assert_eq!((job.id, job.attempt), (id, 1), "a requeued job gets fresh attempts");
    assert!(matches!(
        queue.requeue(id).await,
        Err(JobError::InvalidState { status: JobStatus::Running, .. })
    ));
}

pub(super) async fn cancel<B: JobBackend<String, u64>>(queue: B) {
    let a = queue.enqueue("a".to_owned(), EnqueueOptions::new()).await.unwrap();
    let b = queue.enqueue("b".to_owned(), EnqueueOptions::new()).await.unwrap();
    let running = lease_one(&queue).await;
    assert_eq!(running.id, a);
    queue.complete(running.lease, 1).await.unwrap();
    assert!(matches!(
        queue.cancel(a).await,
        Err(JobError::InvalidState { status: JobStatus::Succeeded, operation: "cancel", .. })
    ));
    queue.cancel(b).await.unwrap();
    assert_eq!(state(&queue, b).await, JobState::Cancelled);
    assert!(queue.lease(5).await.unwrap().is_empty(), "a cancelled job was leased");
    assert_eq!(queue.stats().await.unwrap().cancelled, 1);
    let missing = JobId(u64::MAX >> 2);
    assert!(matches!(queue.cancel(missing).await, Err(JobError::NotFound(_))));
}

pub(super) async fn keys<B: JobBackend<String, u64>>(queue: B) {
    let keyed = |k: &str| EnqueueOptions::new().key(k);
    let a1 = queue.enqueue("a1".to_owned(), keyed("a")).await.unwrap();
    let a2 = queue.enqueue("a2".to_owned(), keyed("a")).await.unwrap();
    let b1 = queue.enqueue("b1".to_owned(), keyed("b")).await.unwrap();
    let free = queue.enqueue("free".to_owned(), EnqueueOptions::new()).await.unwrap();
    let leased = queue.lease(10).await.unwrap();
    assert_eq!(leased.iter().map(|j| j.id).collect::<Vec<_>>(), vec![a1, b1, free]);
    assert!(queue.lease(10).await.unwrap().is_empty(), "a2 overlapped a1");
    // a1 fails: it is retried before a2 runs, even though a2 is due now.
    queue.fail(leased[0].lease, "first try".into()).await.unwrap();
    assert!(queue.lease(10).await.unwrap().is_empty(), "a2 overtook the retry of a1");
    tokio::time::advance(Duration::from_secs(1)).await;
    let retry = lease_one(&queue).await;
    assert_eq!((retry.id, retry.attempt), (a1, 2));
    queue.complete(retry.lease, 0).await.unwrap();
    assert_eq!(lease_one(&queue).await.id, a2);
}

pub(super) async fn stats_age<B: JobBackend<String, u64>>(queue: B) {
    queue.enqueue("old".to_owned(), EnqueueOptions::new()).await.unwrap();
    tokio::time::advance(Duration::from_millis(2_500)).await;
    queue.enqueue("new".to_owned(), EnqueueOptions::new()).await.unwrap();
    let delayed = EnqueueOptions::new().delay(Duration::from_secs(60));
    queue.enqueue("later".to_owned(), delayed).await.unwrap();
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.queued, stats.due, stats.oldest_due_ms), (3, 2, 2_500));
    let leased = queue.lease(10).await.unwrap();
    assert_eq!(leased.len(), 2, "a delayed job was leased early");
}

pub(super) async fn bulk_enqueue<B: JobBackend<String, u64>>(queue: B) {
    let before = queue
        .enqueue("first".to_owned(), EnqueueOptions::new().idempotency_key("bulk-1"))
        .await
        .unwrap();
    let jobs: Vec<(String, EnqueueOptions)> = (0..500)
        .map(|n| {
            let options = match n {
                // Already known: the earlier job.
                0 => EnqueueOptions::new().idempotency_key("bulk-1"),
                // Repeated within the batch: the first occurrence.
                1 | 2 => EnqueueOptions::new().idempotency_key("bulk-2"),
                _ => EnqueueOptions::new().key(format!("k{}", n % 3)),
            };
            (format!("job {n}"), options)
        })
        .collect();
    let ids = queue.enqueue_many(jobs).await.unwrap();
    assert_eq!(ids.len(), 500);
    assert_eq!(ids[0], before, "a known idempotency key gives its job");
    assert_eq!(ids[1], ids[2], "a key repeated in the batch makes one job");
    let mut fresh: Vec<JobId> = ids[1..].to_vec();
    fresh.dedup();
    assert_eq!(fresh.len(), 498);
    assert!(fresh.windows(2).all(|w| w[0] < w[1]), "ids increase in batch order");
    assert_eq!(queue.stats().await.unwrap().queued, 499);
    let record = queue.status(ids[250]).await.unwrap().unwrap();
    assert_eq!((record.payload.as_str(), record.key.as_deref()), ("job 250", Some("k1")));
    assert!(queue.enqueue_many(Vec::new()).await.unwrap().is_empty());
}

pub(super) async fn purge_and_retention<B: JobBackend<String, u64>>(queue: B) {
    let mut ids = Vec::new();
    for n in 0..5 {
        let options = EnqueueOptions::new().idempotency_key(format!("purge-{n}"));
        ids.push(queue.enqueue(format!("j{n}"), options).await.unwrap());
    }
    for job in queue.lease(3).await.unwrap() {
        queue.complete(job.lease, 0).await.unwrap();
    }
    // Not old enough yet.
    assert_eq!(queue.purge(Duration::from_secs(60)).await.unwrap(), 0);
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert_eq!(queue.purge(Duration::from_secs(60)).await.unwrap(), 3);
    assert!(queue.status(ids[0]).await.unwrap().is_none());
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.succeeded, stats.queued), (0, 2), "unfinished jobs are kept");
    // A purged idempotency key may be used again: it makes a new job.
    let again = queue.enqueue("j0".to_owned(), EnqueueOptions::new().idempotency_key("purge-0"));
    assert!(again.await.unwrap() > ids[4]);
}
