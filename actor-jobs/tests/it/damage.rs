//! Damage under the embedded queue is reported, never a lost job: a byte is flipped at seeded
//! random offsets of the store's files, one offset per run, and every acknowledged job must then
//! read as its record or as a typed error, at open or at read.

use std::time::Duration;

use actor_jobs::{EmbeddedQueue, EnqueueOptions, JobBackend, JobError, JobId, QueueOptions};
use actor_store::{Store, StoreError};
use actor_test_support::Rng;
use actor_test_support::damage::{Counts, copy_dir, flip_one_byte};

use crate::support::TempDir;

const JOBS: u64 = 200;

/// Runs; `ACTOR_DAMAGE_RUNS` overrides it.
fn runs() -> u64 {
    std::env::var("ACTOR_DAMAGE_RUNS").ok().and_then(|n| n.parse().ok()).unwrap_or(200)
}

fn kind(error: &StoreError) -> &'static str {
    match error {
        StoreError::Damaged { .. } => "damaged (lost acknowledged commits)",
        StoreError::Corrupt { .. } => "corrupt entry",
        StoreError::Open { .. } => "cannot open",
        _ => "other store error",
    }
}

fn is_damage_report(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::Damaged { .. }
            | StoreError::Corrupt { .. }
            | StoreError::Open { .. }
            | StoreError::UnsupportedFormat { .. }
            | StoreError::SchemaMismatch { .. }
            | StoreError::Storage { .. }
    )
}

/// Waits (up to 5 s) until sled's background threads let go of the database in `dir`.
async fn wait_unlocked(dir: &std::path::Path) {
    let lock_file = dir.join("db");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline
        && matches!(
            std::fs::File::open(&lock_file).map(|file| file.try_lock()),
            Ok(Err(std::fs::TryLockError::WouldBlock))
        )
    {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_bytes_under_a_job_queue_are_reported_never_lose_a_job() {
    let base = TempDir::new("damage-jobs-base");
    {
        let store = Store::open(base.path()).unwrap();
        let queue =
            EmbeddedQueue::<String, u64>::open(&store, "work", QueueOptions::new()).await.unwrap();
        for n in 0..JOBS {
            queue.enqueue(format!("job-{n}"), EnqueueOptions::new()).await.unwrap();
        }
        for leased in queue.lease(20).await.unwrap() {
            queue.complete(leased.lease, leased.id.0).await.unwrap();
        }
        queue.close().await;
        store.close().await.unwrap();
    }
    wait_unlocked(base.path()).await;
    let mut rng = Rng::new(0x0b5e_55ed);
    let mut counts = Counts::default();
    for run in 0..runs() {
        let dir = TempDir::new("damage-jobs-run");
        copy_dir(base.path(), dir.path());
        let flipped = flip_one_byte(dir.path(), &mut rng);
        counts.runs += 1;
        let store = match Store::open(dir.path()) {
            Ok(store) => store,
            Err(error) => {
                assert!(is_damage_report(&error), "run {run} ({flipped}): {error}");
                counts.saw(kind(&error));
                counts.at_open += 1;
                continue;
            }
        };
        let queue =
            match EmbeddedQueue::<String, u64>::open(&store, "work", QueueOptions::new()).await {
                Ok(queue) => queue,
                Err(JobError::Store(error)) => {
                    assert!(is_damage_report(&error), "run {run} ({flipped}): {error}");
                    counts.saw(kind(&error));
                    counts.at_open += 1;
                    let _ = store.close().await;
                    wait_unlocked(dir.path()).await;
                    continue;
                }
                Err(other) => panic!("run {run} ({flipped}): {other}"),
            };
        let mut reported = false;
        for n in 0..JOBS {
            match queue.status(JobId(n + 1)).await {
                Ok(Some(record)) => {
                    assert_eq!(record.payload, format!("job-{n}"), "run {run} ({flipped})");
                }
                Ok(None) => panic!("run {run} ({flipped}): job {} is missing", n + 1),
                Err(JobError::Store(error)) => {
                    assert!(is_damage_report(&error), "run {run} ({flipped}): {error}");
                    if !reported {
                        counts.saw(kind(&error));
                    }
                    reported = true;
                }
                Err(other) => panic!("run {run} ({flipped}): {other}"),
            }
        }
        if reported {
            counts.at_read += 1;
        } else {
            counts.harmless += 1;
        }
        queue.close().await;
        let _ = store.close().await;
        wait_unlocked(dir.path()).await;
    }
    println!("queue damage: {counts:?}");
    assert_eq!(counts.runs, counts.at_open + counts.at_read + counts.harmless);
}
