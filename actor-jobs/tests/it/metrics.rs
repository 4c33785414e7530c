//! The metrics: a recording recorder sees exactly what a scripted run did (100 jobs, 10 of
//! them dead at their only attempt).

use actor_core::actor;
use actor_jobs::{ConsumerSpec, EmbeddedQueue, EnqueueOptions, JobBackend};
use actor_store::Store;
use actor_test_support::metrics::recording;

use crate::support::{TempDir, options};

type Queue = EmbeddedQueue<u64, u64>;

struct Tenth;

#[actor]
impl Tenth {
    async fn run(&mut self, work: actor_jobs::Work<u64, u64, Queue>) {
        let n = *work.payload();
        if n.is_multiple_of(10) {
            drop(work.fail("every tenth job fails"));
        } else {
            drop(work.complete(n));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_gauges_and_histograms_count_exactly_what_happened() {
    let recording = recording();
    let dir = TempDir::new("metrics");
    let store = Store::open(dir.path()).unwrap();
    let queue = Queue::open(&store, "metrics", options()).await.unwrap();
    let jobs = (0..100).map(|n| (n, EnqueueOptions::new().max_attempts(1))).collect();
    queue.enqueue_many(jobs).await.unwrap();
    let consumer = ConsumerSpec::new(4, || Ok(Tenth), TenthMessage::run)
        .name("metrics-test")
        .spawn(queue.clone())
        .unwrap();
    queue.wait_idle().await.unwrap();
    let stats = consumer.shutdown().await;
    assert_eq!((stats.succeeded, stats.dead), (90, 10));
    let q = "queue=metrics-test";
    assert_eq!(recording.counter(&format!("actor_jobs_started_total{{{q}}}")), 100);
    let finished = |outcome: &str| format!("actor_jobs_finished_total{{outcome={outcome},{q}}}");
    assert_eq!(recording.counter(&finished("succeeded")), 90);
    assert_eq!(recording.counter(&finished("dead")), 10);
    assert_eq!(recording.counter(&finished("retried")), 0);
    assert_eq!(recording.counter(&finished("abandoned")), 0);
    assert_eq!(recording.samples(&format!("actor_jobs_run_seconds{{outcome=succeeded,{q}}}")), 90);
    assert_eq!(recording.samples(&format!("actor_jobs_run_seconds{{outcome=dead,{q}}}")), 10);
    // The gauges, from the queue's stats.
    actor_jobs::telemetry::record_stats("metrics-test", &queue.stats().await.unwrap());
    let jobs = |state: &str| recording.gauge(&format!("actor_jobs_jobs{{{q},state={state}}}"));
    assert_eq!(
        (jobs("succeeded"), jobs("dead"), jobs("queued")),
        (Some(90.0), Some(10.0), Some(0.0))
    );
    assert_eq!(recording.gauge(&format!("actor_jobs_due{{{q}}}")), Some(0.0));
    store.close().await.unwrap();
}
