//! Exact counts: crashes, order, stuck workers, resizing, draining, backpressure, expiry.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actor_factory::{
    Backpressure, DiscardReason, FailureReason, JobOptions, Routing, SubmissionId, SubmitError,
};

use crate::support::{Log, Rng, Task, WorkerHandle, quiet_panics, spec};

fn failures_log() -> Arc<Mutex<Vec<(SubmissionId, FailureReason)>>> {
    Arc::default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tenth_job_panics_and_is_reported_failed_exactly_once() {
    quiet_panics();
    let log = Log::default();
    let failures = failures_log();
    let factory = spec(4, &log)
        .on_failure({
            let failures = failures.clone();
            move |f| failures.lock().unwrap().push((f.id, f.reason))
        })
        .spawn()
        .unwrap();
    let mut panicking = HashSet::new();
    for n in 0..100_000u64 {
        let task = if n % 10 == 9 { Task::Panic } else { Task::Record(n) };
        let id = factory.submit(n, task).await.unwrap();
        if n % 10 == 9 {
            panicking.insert(id);
        }
    }
    let stats = factory.drain().await;
    assert_eq!(stats.processed, 90_000);
    assert_eq!(stats.failed, 10_000);
    assert_eq!(stats.replaced, 10_000);
    assert_eq!(stats.workers, 4);
    assert_eq!((stats.queued, stats.in_flight, stats.discarded), (0, 0, 0));
    assert_eq!(log.lock().unwrap().len(), 90_000);
    let failures = failures.lock().unwrap().clone();
    assert_eq!(failures.len(), 10_000);
    let reported: HashSet<SubmissionId> = failures.iter().map(|(id, _)| *id).collect();
    assert_eq!(reported, panicking, "each panicking job reported once, and only those");
    assert!(failures.iter().all(|(_, reason)| *reason == FailureReason::Panicked));
    assert!(matches!(
        factory.submit(0, Task::Record(0)).await,
        Err(SubmitError::Closed { key: 0, .. })
    ));
}

#[tokio::test]
async fn a_backlog_survives_a_thousand_crashes_in_order() {
    quiet_panics();
    let log = Log::default();
    let factory = spec(1, &log).routing(Routing::KeyPersistent).spawn().unwrap();
    // Queue everything first: 1,000 crashes happen with the backlog waiting.
    for seq in 0..2_000u64 {
        let task = if seq % 2 == 1 { Task::Panic } else { Task::Record(seq) };
        factory.submit(7, task).await.unwrap();
    }
    let stats = factory.drain().await;
    assert_eq!((stats.processed, stats.failed, stats.replaced), (1_000, 1_000, 1_000));
    let seqs: Vec<u64> = log.lock().unwrap().iter().map(|&(_, seq)| seq).collect();
    assert_eq!(seqs, (0..2_000).step_by(2).collect::<Vec<_>>());
}

/// Per-key order under 5% panics: the records of each key are increasing.
async fn per_key_order(routing: Routing<u64>) {
    quiet_panics();
    let log = Log::default();
    let factory = spec(4, &log).routing(routing).spawn().unwrap();
    let mut rng = Rng(42);
    let mut expected = BTreeMap::<u64, Vec<u64>>::new();
    for seq in 0..20_000u64 {
        let key = rng.below(50);
        if rng.below(100) < 5 {
            factory.submit(key, Task::Panic).await.unwrap();
        } else if rng.below(100) < 2 {
            factory.submit(key, Task::Sleep(Duration::from_micros(200), seq)).await.unwrap();
            expected.entry(key).or_default().push(seq);
        } else {
            factory.submit(key, Task::Record(seq)).await.unwrap();
            expected.entry(key).or_default().push(seq);
        }
    }
    let stats = factory.drain().await;
    assert_eq!(stats.processed + stats.failed, 20_000);
    let mut got = BTreeMap::<u64, Vec<u64>>::new();
    for &(key, seq) in log.lock().unwrap().iter() {
        got.entry(key).or_default().push(seq);
    }
    for (key, want) in &expected {
        let have = got.get(key).cloned().unwrap_or_default();
        if let Some(i) = (0..want.len().max(have.len())).find(|&i| want.get(i) != have.get(i)) {
            panic!("key {key}: job {i} should be seq {:?}, ran {:?}", want.get(i), have.get(i));
        }
    }
    assert_eq!(got.len(), expected.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_persistent_routing_keeps_per_key_order_under_panics() {
    per_key_order(Routing::KeyPersistent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sticky_queuer_keeps_per_key_order_under_panics() {
    per_key_order(Routing::StickyQueuer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_worker_is_replaced_by_the_watchdog_and_its_queue_completes() {
    // actor-core's watchdog counts busy time on the wall clock: real time, with a bound that
    // survives a loaded machine.
    let log = Log::default();
    let failures = failures_log();
    let threshold = Duration::from_millis(200);
    let factory = spec(1, &log)
        .stuck_after(threshold)
        .on_failure({
            let failures = failures.clone();
            move |f| failures.lock().unwrap().push((f.id, f.reason))
        })
        .spawn()
        .unwrap();
    let hung = factory.submit(1, Task::Hang).await.unwrap();
    for seq in 0..10 {
        factory.submit(1, Task::Record(seq)).await.unwrap();
    }
    let stats = tokio::time::timeout(Duration::from_secs(60), factory.drain())
        .await
        .expect("the stuck worker was never replaced");
    let detected = failures.lock().unwrap().clone();
    assert_eq!(detected.len(), 1);
    assert_eq!(detected[0].0, hung);
    let FailureReason::Stuck(busy_for) = detected[0].1 else { panic!("{:?}", detected[0].1) };
    assert!(busy_for > threshold, "{busy_for:?}");
    assert_eq!((stats.processed, stats.failed, stats.replaced), (10, 1, 1));
    assert_eq!(
        log.lock().unwrap().iter().map(|&(_, s)| s).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resizing_during_a_run_loses_nothing() {
    let log = Log::default();
    for routing in [
        Routing::Queuer,
        Routing::KeyPersistent,
        Routing::StickyQueuer,
        Routing::RoundRobin,
        Routing::Random,
    ] {
        log.lock().unwrap().clear();
        let factory = spec(4, &log).routing(routing).spawn().unwrap();
        for seq in 0..3_000u64 {
            factory.submit(seq % 97, Task::Sleep(Duration::from_micros(20), seq)).await.unwrap();
            match seq {
                1_000 => factory.resize(8).unwrap(),
                2_000 => factory.resize(2).unwrap(),
                _ => {}
            }
        }
        assert_eq!(factory.workers(), 2);
        let stats = factory.drain().await;
        assert_eq!(
            (stats.submitted, stats.processed, stats.failed, stats.discarded),
            (3_000, 3_000, 0, 0)
        );
        assert_eq!(stats.workers, 2, "retired slots are gone once their queues are done");
        let mut seqs: Vec<u64> = log.lock().unwrap().iter().map(|&(_, s)| s).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (0..3_000).collect::<Vec<_>>());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_job_runs_again_once() {
    quiet_panics();
    let log = Log::default();
    let failures = failures_log();
    let factory = spec(1, &log)
        .on_failure({
            let failures = failures.clone();
            move |f| failures.lock().unwrap().push((f.id, f.reason))
        })
        .spawn()
        .unwrap();
    let id = factory.submit_retrying(1, Task::Panic, JobOptions::new()).await.unwrap();
    factory.submit(1, Task::Record(1)).await.unwrap();
    let stats = factory.drain().await;
    assert_eq!((stats.retried, stats.failed, stats.processed, stats.replaced), (1, 1, 1, 2));
    assert_eq!(*failures.lock().unwrap(), [(id, FailureReason::Panicked)]);
}

#[tokio::test(start_paused = true)]
async fn expired_and_evicted_jobs_are_discarded_with_their_reason() {
    let log = Log::default();
    let discarded = Arc::new(Mutex::new(Vec::new()));
    let factory = spec(1, &log)
        .queue(3, Backpressure::DropOldest)
        .on_discard({
            let discarded = discarded.clone();
            move |d: actor_factory::Discarded<u64, Task>| {
                discarded.lock().unwrap().push((d.key, d.reason))
            }
        })
        .spawn()
        .unwrap();
    // The worker is busy for 100 ms; the next jobs wait in the queue.
    factory.submit(0, Task::Sleep(Duration::from_millis(100), 0)).await.unwrap();
    factory
        .submit_with(1, Task::Record(1), JobOptions::new().ttl(Duration::from_millis(50)))
        .await
        .unwrap();
    factory.submit(2, Task::Record(2)).await.unwrap();
    factory.submit(3, Task::Record(3)).await.unwrap();
    // Full (3 queued): the oldest queued job (key 1) makes room.
    factory.submit(4, Task::Record(4)).await.unwrap();
    let stats = factory.drain().await;
    assert_eq!(*discarded.lock().unwrap(), [(1, DiscardReason::DroppedForRoom)]);
    assert_eq!((stats.processed, stats.discarded), (4, 1));

    let discarded2 = Arc::new(Mutex::new(Vec::new()));
    let factory = spec(1, &log)
        .on_discard({
            let discarded = discarded2.clone();
            move |d: actor_factory::Discarded<u64, Task>| {
                discarded.lock().unwrap().push((d.key, d.reason))
            }
        })
        .spawn()
        .unwrap();
    factory.submit(0, Task::Sleep(Duration::from_millis(100), 0)).await.unwrap();
    factory
        .submit_with(1, Task::Record(1), JobOptions::new().ttl(Duration::from_millis(50)))
        .await
        .unwrap();
    factory
        .submit_with(2, Task::Record(2), JobOptions::new().ttl(Duration::from_millis(500)))
        .await
        .unwrap();
    let stats = factory.drain().await;
    assert_eq!(*discarded2.lock().unwrap(), [(1, DiscardReason::Expired)]);
    assert_eq!((stats.processed, stats.discarded), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_rejects_or_waits() {
    let log = Log::default();
    let factory = spec(1, &log).queue(2, Backpressure::Reject).spawn().unwrap();
    factory.submit(0, Task::Sleep(Duration::from_millis(100), 0)).await.unwrap();
    factory.submit(1, Task::Record(1)).await.unwrap();
    factory.submit(2, Task::Record(2)).await.unwrap();
    match factory.submit(3, Task::Record(3)).await {
        Err(SubmitError::Full { key: 3, payload: Task::Record(3) }) => {}
        other => panic!("expected the job back, got {other:?}"),
    }
    assert_eq!(factory.drain().await.processed, 3);

    let factory = spec(1, &log).queue(2, Backpressure::Wait).spawn().unwrap();
    factory.submit(0, Task::Sleep(Duration::from_millis(100), 0)).await.unwrap();
    factory.submit(1, Task::Record(1)).await.unwrap();
    factory.submit(2, Task::Record(2)).await.unwrap();
    assert!(matches!(factory.try_submit(3, Task::Record(3)), Err(SubmitError::Full { .. })));
    let start = tokio::time::Instant::now();
    factory.submit(3, Task::Record(3)).await.unwrap();
    // Room appears when the sleeping job ends and the next one is dispatched.
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    let stats = factory.drain().await;
    assert_eq!(stats.processed, 4);
    assert!(stats.queue_wait.max >= Duration::from_millis(100));
}

/// `closed` resolves when draining starts, not when it ends: a feeder stops feeding while the
/// jobs already queued still run.
#[tokio::test(start_paused = true)]
async fn closed_resolves_when_draining_starts() {
    let log = Log::default();
    let factory = spec(1, &log).spawn().unwrap();
    factory.submit(0, Task::Sleep(Duration::from_millis(100), 0)).await.unwrap();
    let mut closed = std::pin::pin!(factory.closed());
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(closed.as_mut().poll(cx)));
    assert!(first.await.is_pending(), "an accepting factory is not closed");
    let drain = tokio::spawn({
        let factory = factory.clone();
        async move { factory.drain().await }
    });
    let start = tokio::time::Instant::now();
    closed.await;
    assert!(start.elapsed() < Duration::from_millis(100), "closed before the queued job ended");
    assert!(matches!(factory.submit(1, Task::Record(1)).await, Err(SubmitError::Closed { .. })));
    assert_eq!(drain.await.unwrap().processed, 1);
    // A late waiter sees the flag at once.
    factory.closed().await;
}

/// Cancel safety of `submit`: a submitter dropped while waiting for room leaves no trace, neither
/// its job nor its place among the waiting, and the next waiter still gets the room.
#[tokio::test(start_paused = true)]
async fn a_submit_dropped_while_waiting_for_room_leaves_nothing_behind() {
    let log = Log::default();
    let factory = spec(1, &log).queue(2, Backpressure::Wait).spawn().unwrap();
    factory.submit(0, Task::Sleep(Duration::from_millis(100), 0)).await.unwrap();
    factory.submit(1, Task::Record(1)).await.unwrap();
    factory.submit(2, Task::Record(2)).await.unwrap();
    {
        let mut dropped = std::pin::pin!(factory.submit(3, Task::Record(3)));
        let first = std::future::poll_fn(|cx| std::task::Poll::Ready(dropped.as_mut().poll(cx)));
        assert!(first.await.is_pending(), "the queue is full: the submit waits");
        assert_eq!(factory.stats().waiting, 1);
    }
    assert_eq!(factory.stats().waiting, 0, "the dropped submitter is no longer counted");
    let start = tokio::time::Instant::now();
    factory.submit(4, Task::Record(4)).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(100), "woken by the first room made");
    let stats = factory.drain().await;
    assert_eq!((stats.submitted, stats.processed, stats.waiting), (4, 4, 0));
    assert!(
        log.lock().unwrap().iter().all(|&(key, _)| key != 3),
        "the dropped job never ran: {log:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn autoscaling_grows_under_load_and_shrinks_when_idle_without_losing_jobs() {
    use actor_factory::Autoscale;
    let log = Log::default();
    let factory = spec(1, &log)
        .autoscale(
            Autoscale::new(1, 4)
                .queue_per_worker(2)
                .idle_for(Duration::from_secs(1))
                .every(Duration::from_millis(50)),
        )
        .spawn()
        .unwrap();
    for seq in 0..200u64 {
        factory.submit(seq, Task::Sleep(Duration::from_millis(10), seq)).await.unwrap();
    }
    let mut most = 1;
    while factory.stats().processed < 200 {
        most = most.max(factory.workers());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(most, 4, "grew to the maximum under load");
    // Idle now: one worker retires per idle second, down to the minimum.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(factory.workers(), 1);
    let stats = factory.drain().await;
    assert_eq!((stats.processed, stats.failed, stats.discarded), (200, 0, 0));
    assert_eq!(stats.workers, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_are_reached_through_their_own_handles() {
    let log = Log::default();
    let factory = spec(3, &log).spawn().unwrap();
    for seq in 0..10 {
        factory.submit(seq % 3, Task::Record(seq)).await.unwrap();
    }
    let handles: Vec<WorkerHandle> = factory.handles();
    assert_eq!(handles.len(), 3);
    let ids: HashSet<_> = handles.iter().map(|h| h.actor_ref().id()).collect();
    assert_eq!(ids.len(), 3, "one handle per worker");
    for handle in &handles {
        // Straight to the mailbox: not a job, so not counted by the factory.
        assert!(handle.recorded().await.unwrap() <= 10);
    }
    let stats = factory.drain().await;
    assert_eq!((stats.submitted, stats.processed), (10, 10));
    assert!(handles.iter().all(|h| !h.is_alive()), "drain stops every worker");
}

#[tokio::test(start_paused = true)]
async fn an_idle_worker_that_stops_is_replaced_before_any_job_reaches_it() {
    let log = Log::default();
    let factory = spec(2, &log).spawn().unwrap();
    let workers = factory.handles::<WorkerHandle>();
    assert_eq!(workers.len(), 2);
    workers[0].actor_ref().kill();
    // Paused time advances only once every task is idle: the replacement has been made.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stats = factory.stats();
    assert_eq!((stats.replaced, stats.workers), (1, 2));
    let now = factory.handles::<WorkerHandle>();
    assert_eq!(now.len(), 2);
    assert!(now.iter().all(|w| w.actor_ref().is_alive()));
    assert!(now.iter().all(|w| w.actor_ref().id() != workers[0].actor_ref().id()));
    for seq in 0..20 {
        factory.submit(seq, Task::Record(seq)).await.unwrap();
    }
    let stats = factory.drain().await;
    assert_eq!((stats.processed, stats.failed, stats.replaced), (20, 0, 1));
}
