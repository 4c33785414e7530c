//! The job-backend conformance suite: every backend (the embedded `JobQueue`, PostgreSQL's
//! `PgQueue`) runs the same cases, with tokio's paused time, so lease deadlines and backoffs are
//! checked to the millisecond.
//!
//! The PostgreSQL run needs a server: `ACTOR_PG_URL` (`.ci/run` starts one; locally,
//! `.ci/postgres.sh start` and `export ACTOR_PG_URL=$(.ci/postgres.sh url)`). Without it the
//! run is skipped with a message, except under `CI=true`, where it fails.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actor_store::jobs::{FailOutcome, Lease, Leased};
use actor_store::postgres::{PgOptions, PgQueue};
use actor_store::{
    EnqueueOptions, JobBackend, JobError, JobId, JobQueue, JobState, JobStatus, QueueOptions,
    RetryPolicy, Store,
};

use crate::support::TempDir;

fn options() -> QueueOptions {
    QueueOptions::new().visibility_timeout(Duration::from_secs(30)).retry(RetryPolicy {
        max_attempts: 3,
        backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(60),
    })
}

async fn lease_one<B: JobBackend<String, u64>>(queue: &B) -> Leased<String> {
    let mut leased = queue.lease(1).await.unwrap();
    assert_eq!(leased.len(), 1, "expected one due job");
    leased.pop().unwrap()
}

async fn state<B: JobBackend<String, u64>>(queue: &B, id: JobId) -> JobState<u64> {
    queue.status(id).await.unwrap().expect("the job exists").state
}

async fn lifecycle<B: JobBackend<String, u64>>(queue: B) {
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

async fn idempotency<B: JobBackend<String, u64>>(queue: B) {
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

async fn lease_deadline<B: JobBackend<String, u64>>(queue: B) {
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

async fn dead_letters<B: JobBackend<String, u64>>(queue: B) {
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

async fn cancel<B: JobBackend<String, u64>>(queue: B) {
    let a = queue.enqueue("a".to_owned(), EnqueueOptions::new()).await.unwrap();
    let b = queue.enqueue("b".to_owned(), EnqueueOptions::new()).await.unwrap();
    let running = lease_one(&queue).await;
    assert_eq!(running.id, a);
    assert!(matches!(
        queue.cancel(a).await,
        Err(JobError::InvalidState { status: JobStatus::Running, operation: "cancel", .. })
    ));
    queue.cancel(b).await.unwrap();
    assert_eq!(state(&queue, b).await, JobState::Cancelled);
    assert!(queue.lease(5).await.unwrap().is_empty(), "a cancelled job was leased");
    assert_eq!(queue.stats().await.unwrap().cancelled, 1);
    let missing = JobId(u64::MAX >> 2);
    assert!(matches!(queue.cancel(missing).await, Err(JobError::NotFound(_))));
}

async fn keys<B: JobBackend<String, u64>>(queue: B) {
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

async fn stats_age<B: JobBackend<String, u64>>(queue: B) {
    queue.enqueue("old".to_owned(), EnqueueOptions::new()).await.unwrap();
    tokio::time::advance(Duration::from_millis(2_500)).await;
    queue.enqueue("new".to_owned(), EnqueueOptions::new()).await.unwrap();
    let delayed = EnqueueOptions::new().delay(Duration::from_secs(60));
    queue.enqueue("later".to_owned(), delayed).await.unwrap();
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.queued, stats.oldest_queued_ms), (3, 2_500));
    let leased = queue.lease(10).await.unwrap();
    assert_eq!(leased.len(), 2, "a delayed job was leased early");
}

/// Runs every case, each on a fresh queue from `open`.
async fn suite<B, F, Fut>(mut open: F)
where
    B: JobBackend<String, u64>,
    F: FnMut(QueueOptions) -> Fut,
    Fut: Future<Output = B>,
{
    lifecycle(open(options()).await).await;
    idempotency(open(options()).await).await;
    lease_deadline(open(options()).await).await;
    dead_letters(open(options()).await).await;
    cancel(open(options()).await).await;
    keys(open(options()).await).await;
    stats_age(open(options()).await).await;
}

#[tokio::test(start_paused = true)]
async fn the_embedded_backend_passes_the_conformance_suite() {
    let dir = TempDir::new("conformance");
    let store = Store::open(dir.path()).unwrap();
    let mut n = 0;
    suite(|options| {
        n += 1;
        let store = store.clone();
        async move { JobQueue::<String, u64>::open(&store, &format!("q{n}"), options).await.unwrap() }
    })
    .await;
    store.close().await.unwrap();
}

/// The PostgreSQL server for tests, or `None` (skipped) when none is configured outside CI.
pub(crate) fn postgres_url() -> Option<String> {
    match std::env::var("ACTOR_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI=true but ACTOR_PG_URL is not set: .ci/run must start PostgreSQL")
        }
        _ => {
            eprintln!(
                "SKIPPED: no PostgreSQL server (set ACTOR_PG_URL; `.ci/postgres.sh start` starts one)"
            );
            None
        }
    }
}

/// A queue name no other test run uses.
pub(crate) fn unique_queue(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{tag}-{}-{nanos}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

#[tokio::test(start_paused = true)]
async fn the_postgres_backend_passes_the_conformance_suite() {
    let Some(url) = postgres_url() else { return };
    suite(|options| {
        let url = url.clone();
        async move {
            let options = PgOptions::new().queue(options).connections(2);
            PgQueue::<String, u64>::connect(&url, &unique_queue("conformance"), options)
                .await
                .unwrap()
        }
    })
    .await;
}
