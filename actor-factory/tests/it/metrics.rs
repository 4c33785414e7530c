//! The factory's metrics (feature `metrics`): exact counts from a scripted run.

use actor_test_support::metrics::recording;

use crate::support::{Log, Task, quiet_panics, spec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_runs_replacements_and_depth_are_recorded_exactly() {
    quiet_panics();
    let recording = recording();
    let log = Log::default();
    let factory = spec(2, &log).name("metered-pool").spawn().unwrap();
    for n in 0..50 {
        factory.submit(n, Task::Record(n)).await.unwrap();
    }
    factory.submit(50, Task::Panic).await.unwrap();
    factory.submit(51, Task::Panic).await.unwrap();
    let stats = factory.drain().await;
    assert_eq!((stats.processed, stats.failed, stats.replaced), (50, 2, 2));

    let label = "{factory=metered-pool}";
    assert_eq!(recording.samples(&format!("actor_factory_wait_seconds{label}")), 52);
    assert_eq!(recording.samples(&format!("actor_factory_run_seconds{label}")), 50);
    assert_eq!(recording.counter(&format!("actor_factory_replacements_total{label}")), 2);
    assert_eq!(recording.gauge(&format!("actor_factory_queued{label}")), Some(0.0));
    assert_eq!(recording.gauge(&format!("actor_factory_in_flight{label}")), Some(0.0));
}
