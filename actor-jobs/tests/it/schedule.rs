//! Periodic jobs: one job per tick across schedulers (three PostgreSQL handles standing for
//! three processes), catch-up after a pause, time zones, typed errors.

use std::collections::BTreeSet;
use std::time::Duration;

use actor_jobs::{
    CatchUp, EmbeddedQueue, JobBackend, JobStatus, PgOptions, PgQueue, Schedule, ScheduleError,
    Scheduler,
};
use actor_store::Store;

use crate::support::{TempDir, options, postgres_url, unique_name};

fn every_second() -> Schedule<String> {
    Schedule::new("heartbeat", "* * * * * *", |tick| format!("tick {}", tick.at))
        .unwrap()
        .catch_up(CatchUp::Skip)
}

/// Runs three schedulers, one on each of `queues`, for 100 ticks of a schedule ticking every
/// second; returns the idempotency keys of the jobs enqueued.
async fn hundred_ticks<B: JobBackend<String, u64>>(queues: [B; 3]) -> Vec<String> {
    let schedule = every_second();
    let start = queues[0].now();
    let first = schedule.next_after(start).unwrap();
    let schedulers: Vec<Scheduler> =
        queues.iter().map(|queue| Scheduler::spawn(queue.clone(), vec![every_second()])).collect();
    // Until half a second after the hundredth tick, far from any tick.
    let until = first + 99_500;
    tokio::time::sleep(Duration::from_millis(until - start)).await;
    for scheduler in schedulers {
        scheduler.stop().await;
    }
    // Each handle's clock is the wall time it read when it opened, advanced by tokio's: like
    // processes on different hosts, they differ, and a stopping scheduler enqueues the ticks
    // due by its own clock. The ticks expected run from the first to the last due by the
    // fastest clock, at least 100.
    let fastest = queues.iter().map(JobBackend::now).max().unwrap();
    let queue = &queues[0];
    let mut keys = Vec::new();
    for id in queue.list(JobStatus::Queued, 10_000).await.unwrap() {
        let record = queue.status(id).await.unwrap().unwrap();
        keys.push(record.idempotency_key.unwrap());
    }
    let last = schedule.last_at_or_before(fastest).unwrap();
    let expected: BTreeSet<String> =
        (0..=(last - first) / 1_000).map(|n| schedule.tick_key(first + n * 1_000)).collect();
    assert!(expected.len() >= 100, "{} ticks", expected.len());
    let found: BTreeSet<String> = keys.iter().cloned().collect();
    assert_eq!(keys.len(), found.len(), "a tick was enqueued twice");
    assert_eq!(found, expected, "one job per tick, for every tick");
    keys
}

#[tokio::test(start_paused = true)]
async fn three_schedulers_on_the_embedded_queue_enqueue_each_tick_once() {
    let dir = TempDir::new("cron");
    let store = Store::open(dir.path()).unwrap();
    let queue = EmbeddedQueue::<String, u64>::open(&store, "cron", options()).await.unwrap();
    let keys = hundred_ticks([queue.clone(), queue.clone(), queue]).await;
    assert_eq!(keys.len(), 100, "one clock: exactly the 100 ticks");
    store.close().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn three_processes_on_postgres_enqueue_each_tick_once() {
    let Some(url) = postgres_url() else { return };
    let name = unique_name("cron");
    let open = || async {
        let options = PgOptions::new().queue(options()).connections(2);
        PgQueue::<String, u64>::connect(&url, &name, options).await.unwrap()
    };
    let queues = [open().await, open().await, open().await];
    let keys = hundred_ticks(queues).await;
    assert!(keys.len() >= 100, "{} jobs", keys.len());
}

#[tokio::test(start_paused = true)]
async fn missed_ticks_follow_the_catch_up_policy() {
    let dir = TempDir::new("cron-catch-up");
    let store = Store::open(dir.path()).unwrap();
    let queue = EmbeddedQueue::<String, u64>::open(&store, "cron", options()).await.unwrap();
    let hourly = |catch_up| {
        Schedule::new("hourly", "0 * * * *", |tick| format!("{}", tick.at))
            .unwrap()
            .catch_up(catch_up)
    };
    let now = queue.now();
    let latest = hourly(CatchUp::Latest).last_at_or_before(now).unwrap();
    // Skip: nothing before the next tick.
    Scheduler::spawn(queue.clone(), vec![hourly(CatchUp::Skip)]).stop().await;
    assert_eq!(queue.stats().await.unwrap().queued, 0);
    // Latest: the latest missed tick, once, however many schedulers start.
    for _ in 0..3 {
        let scheduler = Scheduler::spawn(queue.clone(), vec![hourly(CatchUp::Latest)]);
        tokio::task::yield_now().await;
        queue.wait_for_work().await.unwrap();
        scheduler.stop().await;
    }
    let ids = queue.list(JobStatus::Queued, 10).await.unwrap();
    assert_eq!(ids.len(), 1);
    let record = queue.status(ids[0]).await.unwrap().unwrap();
    assert_eq!(record.idempotency_key.unwrap(), hourly(CatchUp::Skip).tick_key(latest));
    // Last(3): the two before it as well, oldest first.
    let scheduler = Scheduler::spawn(queue.clone(), vec![hourly(CatchUp::Last(3))]);
    let mut ids = Vec::new();
    while ids.len() < 3 {
        queue.wait_for_work().await.unwrap();
        tokio::task::yield_now().await;
        ids = queue.list(JobStatus::Queued, 10).await.unwrap();
    }
    scheduler.stop().await;
    assert_eq!(ids.len(), 3);
    let mut ticks = Vec::new();
    for id in ids {
        ticks.push(queue.status(id).await.unwrap().unwrap().payload.parse::<u64>().unwrap());
    }
    ticks.sort_unstable();
    assert_eq!(ticks, [latest - 7_200_000, latest - 3_600_000, latest]);
    store.close().await.unwrap();
}

#[test]
fn ticks_follow_the_time_zone_and_bad_input_is_a_typed_error() {
    let nine_in_paris = Schedule::new("morning", "0 9 * * *", |_| ()).unwrap();
    let nine_in_paris = nine_in_paris.time_zone("Europe/Paris").unwrap();
    // 2026-01-15 00:00 UTC and 2026-07-15 00:00 UTC.
    let (winter, summer) = (1_768_435_200_000_u64, 1_784_073_600_000_u64);
    assert_eq!(nine_in_paris.next_after(winter), Some(winter + 8 * 3_600_000), "09:00 CET");
    assert_eq!(nine_in_paris.next_after(summer), Some(summer + 7 * 3_600_000), "09:00 CEST");
    match Schedule::new("broken", "61 * * * *", |_| ()) {
        Err(error @ ScheduleError::Expression { .. }) => {
            assert!(std::error::Error::source(&error).is_some(), "the parser's error is kept");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Schedule::new("x", "* * * * *", |_| ()).unwrap().time_zone("Mars/Olympus"),
        Err(ScheduleError::TimeZone { .. })
    ));
}
