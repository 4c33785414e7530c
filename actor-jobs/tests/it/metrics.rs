//! The metrics: a recording recorder sees exactly what a scripted run did (100 jobs, 10 of
//! them dead at their only attempt).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use actor_core::actor;
use actor_jobs::{ConsumerSpec, EmbeddedQueue, EnqueueOptions, JobBackend};
use actor_store::Store;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

use crate::support::{TempDir, options};

/// A metric's name and labels, as `name{label=value,...}` with labels sorted.
fn render(key: &Key) -> String {
    let mut labels: Vec<String> =
        key.labels().map(|label| format!("{}={}", label.key(), label.value())).collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

#[derive(Default)]
struct Value {
    counter: AtomicU64,
    gauge: Mutex<f64>,
    samples: Mutex<Vec<f64>>,
}

impl metrics::CounterFn for Value {
    fn increment(&self, value: u64) {
        self.counter.fetch_add(value, Ordering::SeqCst);
    }
    fn absolute(&self, value: u64) {
        self.counter.fetch_max(value, Ordering::SeqCst);
    }
}

impl metrics::GaugeFn for Value {
    fn increment(&self, value: f64) {
        *self.gauge.lock().unwrap() += value;
    }
    fn decrement(&self, value: f64) {
        *self.gauge.lock().unwrap() -= value;
    }
    fn set(&self, value: f64) {
        *self.gauge.lock().unwrap() = value;
    }
}

impl metrics::HistogramFn for Value {
    fn record(&self, value: f64) {
        self.samples.lock().unwrap().push(value);
    }
}

/// Records every metric of the process by its rendered key.
#[derive(Default)]
struct Recording {
    values: Mutex<BTreeMap<String, Arc<Value>>>,
}

impl Recording {
    fn value(&self, key: &Key) -> Arc<Value> {
        Arc::clone(self.values.lock().unwrap().entry(render(key)).or_default())
    }
    fn counter(&self, key: &str) -> u64 {
        self.values.lock().unwrap().get(key).map_or(0, |v| v.counter.load(Ordering::SeqCst))
    }
    fn gauge(&self, key: &str) -> Option<f64> {
        self.values.lock().unwrap().get(key).map(|v| *v.gauge.lock().unwrap())
    }
    fn samples(&self, key: &str) -> usize {
        self.values.lock().unwrap().get(key).map_or(0, |v| v.samples.lock().unwrap().len())
    }
}

impl Recorder for &'static Recording {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.value(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.value(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.value(key))
    }
}

/// The process's recorder, installed once.
fn recording() -> &'static Recording {
    static RECORDING: OnceLock<&'static Recording> = OnceLock::new();
    RECORDING.get_or_init(|| {
        let recording: &'static Recording = Box::leak(Box::default());
        metrics::set_global_recorder(recording).expect("no other recorder in this test binary");
        recording
    })
}

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
