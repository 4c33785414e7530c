//! Workers that harm themselves (stop, fail, panic) lose no accepted job and miscount none, and
//! `drain` returns counters that no longer change.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actor_factory::{FactoryStats, Routing};

use crate::support::{Log, Task, quiet_panics, spec};

fn seqs(log: &Log) -> Vec<u64> {
    log.lock().unwrap().iter().map(|&(_, seq)| seq).collect()
}

/// One worker, seven jobs queued behind a job that harms its worker: every job runs once, in
/// order, on the worker and its replacements, and the counters say so.
async fn seven_jobs_after(harm: fn(u64) -> Task) -> FactoryStats {
    quiet_panics();
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let factory = spec(1, &log).routing(Routing::Queuer).spawn().unwrap();
    factory.submit(0, harm(0)).await.unwrap();
    for seq in 1..7 {
        factory.submit(0, Task::Record(seq)).await.unwrap();
    }
    let stats = factory.drain().await;
    assert_eq!(seqs(&log), (0..7).collect::<Vec<_>>(), "every job ran once, in order");
    stats
}

#[tokio::test(start_paused = true)]
async fn a_worker_that_stops_itself_loses_none_of_its_queued_jobs() {
    let stats = seven_jobs_after(Task::StopSelf);
    let stats = stats.await;
    assert_eq!((stats.submitted, stats.processed, stats.failed), (7, 7, 0), "{stats}");
    assert_eq!(stats.replaced, 1, "{stats}");
}

#[tokio::test(start_paused = true)]
async fn a_worker_that_fails_itself_loses_none_of_its_queued_jobs() {
    let stats = seven_jobs_after(Task::FailSelf).await;
    assert_eq!((stats.submitted, stats.processed, stats.failed), (7, 7, 0), "{stats}");
    assert_eq!(stats.replaced, 1, "{stats}");
}

#[tokio::test(start_paused = true)]
async fn every_job_of_a_worker_that_keeps_stopping_itself_runs() {
    quiet_panics();
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let factory = spec(2, &log).spawn().unwrap();
    for seq in 0..40 {
        let task = match seq % 3 {
            0 => Task::StopSelf(seq),
            1 => Task::FailSelf(seq),
            _ => Task::Record(seq),
        };
        factory.submit(seq % 5, task).await.unwrap();
    }
    let stats = factory.drain().await;
    let mut ran = seqs(&log);
    ran.sort_unstable();
    assert_eq!(ran, (0..40).collect::<Vec<_>>(), "every job ran exactly once");
    assert_eq!((stats.processed, stats.failed, stats.discarded), (40, 0, 0), "{stats}");
    // Jobs 0, 1, 3, 4, ... harm their worker: 27 of them.
    assert_eq!(stats.replaced, 27, "{stats}");
}

#[tokio::test(start_paused = true)]
async fn drain_returns_final_counters_when_the_last_job_panics() {
    quiet_panics();
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let factory = spec(2, &log).spawn().unwrap();
    for seq in 0..5 {
        factory.submit(seq, Task::Record(seq)).await.unwrap();
    }
    factory.submit(9, Task::Panic).await.unwrap();
    let drained = factory.drain().await;
    assert_eq!((drained.processed, drained.failed, drained.replaced), (5, 1, 1), "{drained}");
    // Nothing changes after drain returned: the replacement existed before, and was stopped.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let later = factory.stats();
    assert_eq!(
        (later.processed, later.failed, later.replaced, later.in_flight, later.queued),
        (5, 1, 1, 0, 0),
        "{later}"
    );
}
