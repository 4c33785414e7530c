//! The durable job queue: leases, retries, dead letters, idempotency, restarts.

use std::time::Duration;

use actor_store::jobs::{FailOutcome, Leased};
use actor_store::{
    EnqueueOptions, JobError, JobId, JobQueue, JobState, JobStatus, QueueOptions, RetryPolicy,
    Store,
};

use crate::support::{TempDir, wait_unlocked};

type Queue = JobQueue<String, u64>;

fn options() -> QueueOptions {
    QueueOptions::new().visibility_timeout(Duration::from_secs(30)).retry(RetryPolicy {
        max_attempts: 3,
        backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(60),
    })
}

async fn lease_one(queue: &Queue) -> Leased<String> {
    let mut leased = queue.lease(1).await.unwrap();
    assert_eq!(leased.len(), 1, "expected one due job");
    leased.pop().unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_job_runs_and_its_result_is_kept() {
    let dir = TempDir::new("jobs-basic");
    let store = Store::open(dir.path()).unwrap();
    let queue = Queue::open(&store, "work", options()).await.unwrap();
    let id = queue.enqueue("index doc 7".to_owned(), EnqueueOptions::new()).await.unwrap();
    assert_eq!(queue.status(id).unwrap().unwrap().status(), JobStatus::Queued);
    assert_eq!(queue.stats().queued, 1);

    let job = lease_one(&queue).await;
    assert_eq!((job.id, job.payload.as_str(), job.attempt), (id, "index doc 7", 1));
    assert_eq!(queue.stats().running, 1);
    assert!(queue.lease(10).await.unwrap().is_empty(), "a leased job is not leased twice");

    queue.complete(job.lease, 42).await.unwrap();
    let record = queue.status(id).unwrap().unwrap();
    assert_eq!(record.state, JobState::Succeeded { result: 42 });
    assert_eq!(record.attempt, 1);
    let stats = queue.stats();
    assert_eq!((stats.queued, stats.running, stats.succeeded), (0, 0, 1));
    assert_eq!(queue.list(JobStatus::Succeeded, 10), vec![id]);
    // Completing twice is refused: the lease ended with the first.
    assert!(matches!(queue.complete(job.lease, 43).await, Err(JobError::LeaseLost(_))));
    assert!(matches!(queue.status(JobId(999)), Ok(None)));
    store.close().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_idempotency_key_makes_enqueue_return_the_first_job() {
    let dir = TempDir::new("jobs-idem");
    let store = Store::open(dir.path()).unwrap();
    let queue = Queue::open(&store, "work", options()).await.unwrap();
    let first = queue
        .enqueue("a".to_owned(), EnqueueOptions::new().idempotency_key("req-1"))
        .await
        .unwrap();
    // Concurrent repeats, and a repeat after the job finished, all get the first id.
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
    let again = queue.enqueue("a".to_owned(), EnqueueOptions::new().idempotency_key("req-1")).await;
    assert_eq!(again.unwrap(), first);
    assert_eq!(queue.stats().queued + queue.stats().succeeded, 2);
    store.close().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_expired_lease_is_redelivered_exactly_at_its_deadline_and_fenced() {
    let dir = TempDir::new("jobs-lease");
    let store = Store::open(dir.path()).unwrap();
    let queue = Queue::open(&store, "work", options()).await.unwrap();
    let id = queue.enqueue("slow".to_owned(), EnqueueOptions::new()).await.unwrap();
    let first = lease_one(&queue).await;

    tokio::time::advance(Duration::from_millis(29_999)).await;
    assert!(queue.lease(1).await.unwrap().is_empty(), "redelivered before the lease ended");
    // The first worker may still extend or finish in time; here it stays silent.
    tokio::time::advance(Duration::from_millis(1)).await;
    let second = lease_one(&queue).await;
    assert_eq!((second.id, second.attempt), (id, 2));
    assert_ne!(second.lease.token, first.lease.token);

    // The first worker wakes up late: its lease is fenced off.
    assert!(matches!(queue.complete(first.lease, 1).await, Err(JobError::LeaseLost(_))));
    assert!(matches!(queue.fail(first.lease, "late").await, Err(JobError::LeaseLost(_))));
    assert!(matches!(queue.extend(first.lease).await, Err(JobError::LeaseLost(_))));
    // The second one extends its lease and finishes after the original deadline.
    tokio::time::advance(Duration::from_secs(20)).await;
    queue.extend(second.lease).await.unwrap();
    tokio::time::advance(Duration::from_secs(20)).await;
    assert!(queue.lease(1).await.unwrap().is_empty(), "an extended lease expired");
    queue.complete(second.lease, 2).await.unwrap();
    assert_eq!(queue.status(id).unwrap().unwrap().state, JobState::Succeeded { result: 2 });
    store.close().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_job_that_always_fails_is_dead_after_exactly_max_attempts_and_can_be_requeued() {
    let dir = TempDir::new("jobs-dead");
    let store = Store::open(dir.path()).unwrap();
    let queue = Queue::open(&store, "work", options()).await.unwrap();
    let id = queue.enqueue("poison".to_owned(), EnqueueOptions::new()).await.unwrap();
    let mut attempts = 0;
    let mut backoffs = Vec::new();
    loop {
        let leased = queue.lease(1).await.unwrap();
        let Some(job) = leased.into_iter().next() else {
            // Not due yet: wait for the retry exactly.
            let before = queue.now();
            queue.wait_for_work().await;
            backoffs.push(queue.now() - before);
            continue;
        };
        attempts += 1;
        assert_eq!(job.attempt, attempts);
        match queue.fail(job.lease, format!("boom {attempts}")).await.unwrap() {
            FailOutcome::Retrying { .. } => {
                assert_eq!(queue.status(id).unwrap().unwrap().status(), JobStatus::Failed)
            }
            FailOutcome::Dead => break,
        }
    }
    assert_eq!(attempts, 3);
    assert_eq!(backoffs, vec![1_000, 2_000], "exponential backoff from 1 s");
    let record = queue.status(id).unwrap().unwrap();
    assert_eq!(record.state, JobState::Dead { error: "boom 3".to_owned() });
    assert_eq!(queue.list(JobStatus::Dead, 10), vec![id]);
    assert_eq!(queue.stats().dead, 1);
    assert!(queue.lease(1).await.unwrap().is_empty());

    queue.requeue(id).await.unwrap();
    let job = lease_one(&queue).await;
    assert_eq!((job.id, job.attempt), (id, 1), "a requeued job gets fresh attempts");
    assert!(matches!(
        queue.requeue(id).await,
        Err(JobError::InvalidState { status: JobStatus::Running, .. })
    ));
    store.close().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn queued_jobs_can_be_cancelled_running_ones_cannot() {
    let dir = TempDir::new("jobs-cancel");
    let store = Store::open(dir.path()).unwrap();
    let queue = Queue::open(&store, "work", options()).await.unwrap();
    let a = queue.enqueue("a".to_owned(), EnqueueOptions::new()).await.unwrap();
    let b = queue.enqueue("b".to_owned(), EnqueueOptions::new()).await.unwrap();
    let running = lease_one(&queue).await;
    assert_eq!(running.id, a);
    assert!(matches!(
        queue.cancel(a).await,
        Err(JobError::InvalidState { status: JobStatus::Running, operation: "cancel", .. })
    ));
    queue.cancel(b).await.unwrap();
    assert_eq!(queue.status(b).unwrap().unwrap().state, JobState::Cancelled);
    assert!(queue.lease(5).await.unwrap().is_empty(), "a cancelled job was leased");
    assert!(matches!(queue.cancel(JobId(77)).await, Err(JobError::NotFound(JobId(77)))));
    store.close().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn jobs_of_one_key_run_one_at_a_time_in_order() {
    let dir = TempDir::new("jobs-keys");
    let store = Store::open(dir.path()).unwrap();
    let queue = Queue::open(&store, "work", options()).await.unwrap();
    let a1 = queue.enqueue("a1".to_owned(), EnqueueOptions::new().key("a")).await.unwrap();
    let a2 = queue.enqueue("a2".to_owned(), EnqueueOptions::new().key("a")).await.unwrap();
    let b1 = queue.enqueue("b1".to_owned(), EnqueueOptions::new().key("b")).await.unwrap();
    let free = queue.enqueue("free".to_owned(), EnqueueOptions::new()).await.unwrap();
    let leased: Vec<JobId> = queue.lease(10).await.unwrap().iter().map(|j| j.id).collect();
    assert_eq!(leased, vec![a1, b1, free]);
    let leases = queue.lease(10).await.unwrap();
    assert!(leases.is_empty(), "a2 overlapped a1");
    // a1 fails: it is retried before a2 runs, even though a2 is due now.
    let a1_job = queue.status(a1).unwrap().unwrap();
    let JobState::Running { token, .. } = a1_job.state else { panic!("a1 is not running") };
    queue.fail(actor_store::jobs::Lease { id: a1, token }, "first try").await.unwrap();
    assert!(queue.lease(10).await.unwrap().is_empty(), "a2 overtook the retry of a1");
    tokio::time::advance(Duration::from_secs(1)).await;
    let retry = lease_one(&queue).await;
    assert_eq!((retry.id, retry.attempt), (a1, 2));
    queue.complete(retry.lease, 0).await.unwrap();
    assert_eq!(lease_one(&queue).await.id, a2);
    store.close().await.unwrap();
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
