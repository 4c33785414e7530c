//! Waiting without races: for one job's outcome, and until the queue is idle. A change that
//! lands between a waiter's check and its wait is never missed.

use actor_jobs::{EnqueueOptions, JobBackend, JobError, JobId, JobState};

use super::basics::lease_one;

pub(super) async fn wait_for_outcomes<B: JobBackend<String, u64>>(queue: B) {
    // A finished job: at once.
    let done = queue.enqueue("done".to_owned(), EnqueueOptions::new()).await.unwrap();
    let job = lease_one(&queue).await;
    queue.complete(job.lease, 1).await.unwrap();
    assert_eq!(queue.wait_for(done).await.unwrap().state, JobState::Succeeded { result: 1 });
    // An unknown job: an error, not a hang.
    assert!(matches!(queue.wait_for(JobId(u64::MAX >> 2)).await, Err(JobError::NotFound(_))));

    // Many waiters, each racing the completion of its job.
    let mut ids = Vec::new();
    for n in 0..20u64 {
        ids.push(queue.enqueue(format!("job {n}"), EnqueueOptions::new()).await.unwrap());
    }
    let waiters: Vec<_> = ids
        .iter()
        .map(|&id| {
            let queue = queue.clone();
            tokio::spawn(async move { queue.wait_for(id).await })
        })
        .collect();
    let worker = {
        let queue = queue.clone();
        tokio::spawn(async move {
            let mut left = 20;
            while left > 0 {
                for job in queue.lease(3).await.unwrap() {
                    // Yield between completions so that waiters interleave with them.
                    tokio::task::yield_now().await;
                    queue.complete(job.lease, job.id.0).await.unwrap();
                    left -= 1;
                }
            }
        })
    };
    for (waiter, id) in waiters.into_iter().zip(&ids) {
        let record = waiter.await.unwrap().unwrap();
        assert_eq!(record.state, JobState::Succeeded { result: id.0 });
    }
    worker.await.unwrap();

    // A dead job is an outcome too.
    let poison =
        queue.enqueue("poison".to_owned(), EnqueueOptions::new().max_attempts(1)).await.unwrap();
    let waiter = tokio::spawn({
        let queue = queue.clone();
        async move { queue.wait_for(poison).await }
    });
    let job = lease_one(&queue).await;
    queue.fail(job.lease, "no".to_owned()).await.unwrap();
    let record = waiter.await.unwrap().unwrap();
    assert!(matches!(record.state, JobState::Dead { .. }), "{record:?}");
}

pub(super) async fn wait_until_idle<B: JobBackend<String, u64>>(queue: B) {
    // Idle at once when empty.
    queue.wait_idle().await.unwrap();
    for n in 0..10u64 {
        queue.enqueue(format!("job {n}"), EnqueueOptions::new()).await.unwrap();
    }
    let idle = tokio::spawn({
        let queue = queue.clone();
        async move { queue.wait_idle().await }
    });
    tokio::task::yield_now().await;
    assert!(!idle.is_finished(), "idle with ten queued jobs");
    let mut left = 10;
    while left > 0 {
        for job in queue.lease(4).await.unwrap() {
            tokio::task::yield_now().await;
            queue.complete(job.lease, 0).await.unwrap();
            left -= 1;
        }
    }
    idle.await.unwrap().unwrap();
    assert_eq!(queue.stats().await.unwrap().unfinished(), 0);
}
