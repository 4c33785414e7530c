//! Priorities with aging, cancelling a running job, snooze.

use std::time::Duration;

use actor_jobs::{EnqueueOptions, FailOutcome, JobBackend, JobError, JobId, JobState};

use super::basics::{lease_one, state};

/// High priority overtakes low, and low still runs under a steady stream of high: with the
/// default aging (1 s a level), a job of priority 0 waits at most 5 s longer than in plain
/// order behind jobs of priority 5.
pub(super) async fn priorities<B: JobBackend<String, u64>>(queue: B) {
    let high = || EnqueueOptions::new().priority(5);
    let low = queue.enqueue("low".to_owned(), EnqueueOptions::new()).await.unwrap();
    let first_high = queue.enqueue("high 0".to_owned(), high()).await.unwrap();
    let mut order: Vec<JobId> = Vec::new();
    let mut low_ran_at = None;
    for second in 0..10u64 {
        if second > 0 {
            tokio::time::advance(Duration::from_secs(1)).await;
            queue.enqueue(format!("high {second}"), high()).await.unwrap();
        }
        let job = lease_one(&queue).await;
        if job.id == low {
            low_ran_at = Some(second);
        }
        order.push(job.id);
        queue.complete(job.lease, 0).await.unwrap();
        // Steady load: a high job is always waiting when the low one runs.
        if low_ran_at == Some(second) {
            assert!(queue.stats().await.unwrap().due >= 1, "the high jobs kept coming");
        }
    }
    assert_eq!(order[0], first_high, "high priority overtakes low");
    let ran = low_ran_at.expect("the low-priority job was starved");
    assert!((5..=6).contains(&ran), "the low job ran at second {ran}, not once it had aged 5 s");
    // Negative priorities go after everything due, aging the same way.
    let later =
        queue.enqueue("later".to_owned(), EnqueueOptions::new().priority(-3)).await.unwrap();
    let now = queue.enqueue("now".to_owned(), EnqueueOptions::new()).await.unwrap();
    let leased: Vec<JobId> = queue.lease(10).await.unwrap().iter().map(|job| job.id).collect();
    let (at_now, at_later) = (
        leased.iter().position(|&id| id == now).unwrap(),
        leased.iter().position(|&id| id == later).unwrap(),
    );
    assert!(at_now < at_later, "{leased:?}");
}

/// Cancelling a running job reaches its handler (`cancelled` resolves), refuses the attempt's
/// changes with `Cancelled`, and the job is not retried.
pub(super) async fn cancel_running<B: JobBackend<String, u64>>(queue: B) {
    let id = queue.enqueue("long".to_owned(), EnqueueOptions::new()).await.unwrap();
    let job = lease_one(&queue).await;
    let waiter = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.cancelled(id).await })
    };
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished(), "cancelled resolved before the cancel");
    queue.cancel(id).await.unwrap();
    // No virtual-time bound here: paused time would run it out while PostgreSQL answers.
    // The cancel is committed, so the waiter's next look (within a sweep) finds it.
    waiter.await.unwrap().unwrap();
    assert_eq!(state(&queue, id).await, JobState::Cancelled);
    assert!(matches!(queue.extend(job.lease).await, Err(JobError::Cancelled(j)) if j == id));
    assert!(matches!(queue.complete(job.lease, 1).await, Err(JobError::Cancelled(_))));
    assert!(matches!(queue.fail(job.lease, "x".into()).await, Err(JobError::Cancelled(_))));
    // Not retried, not even after its lease would have ended.
    tokio::time::advance(Duration::from_secs(60)).await;
    assert!(queue.lease(5).await.unwrap().is_empty(), "a cancelled job ran again");
    assert_eq!(state(&queue, id).await, JobState::Cancelled);
    // Already cancelled: resolves at once.
    queue.cancelled(id).await.unwrap();
}

/// Snoozing puts the job back for later without spending an attempt.
pub(super) async fn snooze<B: JobBackend<String, u64>>(queue: B) {
    let options = EnqueueOptions::new().max_attempts(2);
    let id = queue.enqueue("not yet".to_owned(), options).await.unwrap();
    for _ in 0..5 {
        let job = lease_one(&queue).await;
        assert_eq!(job.attempt, 1, "a snooze spent an attempt");
        queue.snooze(job.lease, Duration::from_secs(10)).await.unwrap();
        assert_eq!(state(&queue, id).await, JobState::Queued);
        // (Acknowledgements on PostgreSQL wait out a batching window of a few milliseconds,
        // which paused time skips: look before acknowledging.)
        tokio::time::advance(Duration::from_millis(9_900)).await;
        let early = queue.lease(1).await.unwrap();
        assert!(early.is_empty(), "due before its snooze ended: {early:?}");
        assert!(matches!(queue.complete(job.lease, 1).await, Err(JobError::LeaseLost(_))));
        tokio::time::advance(Duration::from_millis(100)).await;
    }
    // Both attempts are still there.
    let job = lease_one(&queue).await;
    assert!(matches!(queue.fail(job.lease, "1".into()).await, Ok(FailOutcome::Retrying { .. })));
    tokio::time::advance(Duration::from_secs(60)).await;
    let job = lease_one(&queue).await;
    assert_eq!(job.attempt, 2);
    assert_eq!(queue.fail(job.lease, "2".into()).await.unwrap(), FailOutcome::Dead);
}

/// The options of [`group_limits`]: two of `acme` at once, one of any other group.
pub(super) fn group_limit_options(options: actor_jobs::QueueOptions) -> actor_jobs::QueueOptions {
    options
        .group_limit("acme", actor_jobs::Limit::concurrency(2))
        .every_group(actor_jobs::Limit::concurrency(1))
}

/// A group limited to 2 never has 3 running; every other group is limited to 1; jobs
/// without a group are not limited.
pub(super) async fn group_limits<B: JobBackend<String, u64>>(queue: B) {
    let group = |g: &str| EnqueueOptions::new().group(g);
    for n in 0..6 {
        queue.enqueue(format!("acme {n}"), group("acme")).await.unwrap();
    }
    for n in 0..3 {
        queue.enqueue(format!("globex {n}"), group("globex")).await.unwrap();
    }
    for n in 0..2 {
        queue.enqueue(format!("free {n}"), EnqueueOptions::new()).await.unwrap();
    }
    let count = |jobs: &[actor_jobs::Leased<String>], prefix: &str| {
        jobs.iter().filter(|job| job.payload.starts_with(prefix)).count()
    };
    let first = queue.lease(100).await.unwrap();
    assert_eq!(
        (count(&first, "acme"), count(&first, "globex"), count(&first, "free")),
        (2, 1, 2),
        "{first:?}"
    );
    assert!(queue.lease(100).await.unwrap().is_empty(), "a group went over its limit");
    // One acme job ends: one more may start, no more.
    let acme: Vec<_> = first.iter().filter(|job| job.payload.starts_with("acme")).collect();
    queue.complete(acme[0].lease, 0).await.unwrap();
    let next = queue.lease(100).await.unwrap();
    assert_eq!((count(&next, "acme"), next.len()), (1, 1), "{next:?}");
    // A failure frees its place too (the retry waits for the backoff).
    queue.fail(acme[1].lease, "x".into()).await.unwrap();
    let after_failure = queue.lease(100).await.unwrap();
    assert_eq!(count(&after_failure, "acme"), 1, "{after_failure:?}");
    assert_eq!(queue.stats().await.unwrap().running, 2 + 1 + 2 - 2 + 1 + 1);
}

/// A queue limited to 50 starts a second, leased as fast as it allows for 10 s: within 10%
/// of 500 starts, and never more than 50 in any second.
pub(super) async fn rate_limit<B: JobBackend<String, u64>>(queue: B) {
    let jobs: Vec<(String, EnqueueOptions)> =
        (0..1_000).map(|n| (format!("job {n}"), EnqueueOptions::new())).collect();
    queue.enqueue_many(jobs).await.unwrap();
    let start = queue.now();
    let mut starts = Vec::new();
    while queue.now() < start + 10_000 {
        for job in queue.lease(100).await.unwrap() {
            starts.push(queue.now());
            queue.complete(job.lease, 0).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let within: Vec<_> = starts.iter().filter(|&&at| at < start + 10_000).collect();
    assert!((450..=550).contains(&within.len()), "{} starts in 10 s", within.len());
    for (i, &at) in starts.iter().enumerate() {
        let in_window = starts[..=i].iter().filter(|&&before| before + 1_000 > at).count();
        assert!(in_window <= 50, "{in_window} starts within a second ending at {at}");
    }
}

/// A trace context given at enqueue is stored with the job: read back by `status`, handed to
/// every attempt's lease, carried by bulk enqueues; a job enqueued without one (and outside
/// any traced span) has none.
pub(super) async fn trace_contexts<B: JobBackend<String, u64>>(queue: B) {
    use actor_core::trace::TraceContext;
    let context = |n: u32| -> TraceContext {
        [("traceparent", format!("00-{n:032x}-{n:016x}-01")), ("tracestate", "k=v".to_owned())]
            .into_iter()
            .collect()
    };
    let traced = EnqueueOptions::new().trace_context(context(1));
    let one = queue.enqueue("traced".to_owned(), traced).await.unwrap();
    let plain = queue.enqueue("plain".to_owned(), EnqueueOptions::new()).await.unwrap();
    let many = queue
        .enqueue_many(vec![
            ("bulk traced".to_owned(), EnqueueOptions::new().trace_context(context(2))),
            ("bulk plain".to_owned(), EnqueueOptions::new()),
        ])
        .await
        .unwrap();
    let stored = |id| {
        let queue = queue.clone();
        async move { queue.status(id).await.unwrap().unwrap().trace }
    };
    assert_eq!(stored(one).await, Some(context(1)));
    assert_eq!(stored(plain).await, None);
    assert_eq!(stored(many[0]).await, Some(context(2)));
    assert_eq!(stored(many[1]).await, None);
    let mut leased = queue.lease(10).await.unwrap();
    leased.sort_by_key(|job| job.id);
    let traces: Vec<_> = leased.iter().map(|job| job.trace.clone()).collect();
    assert_eq!(traces, [Some(context(1)), None, Some(context(2)), None]);
    // The next attempt carries it too.
    queue.fail(leased[0].lease, "again".to_owned()).await.unwrap();
    for job in &leased[1..] {
        queue.complete(job.lease, 0).await.unwrap();
    }
    tokio::time::advance(Duration::from_secs(60)).await;
    let again = lease_one(&queue).await;
    assert_eq!((again.id, again.attempt, again.trace), (one, 2, Some(context(1))));
    queue.complete(again.lease, 0).await.unwrap();
}
