//! A recording `metrics` recorder (feature `metrics`): every metric of the test process by its
//! rendered key (`name{label=value,...}`, labels sorted), for exact assertions.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

/// A metric's name and labels, as `name{label=value,...}` with labels sorted.
fn render(key: &Key) -> String {
    let mut labels: Vec<String> =
        key.labels().map(|label| format!("{}={}", label.key(), label.value())).collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

#[derive(Debug, Default)]
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
#[derive(Debug, Default)]
pub struct Recording {
    values: Mutex<BTreeMap<String, Arc<Value>>>,
}

impl Recording {
    fn value(&self, key: &Key) -> Arc<Value> {
        Arc::clone(self.values.lock().unwrap().entry(render(key)).or_default())
    }
    /// A counter's value (0 if never registered).
    pub fn counter(&self, key: &str) -> u64 {
        self.values.lock().unwrap().get(key).map_or(0, |v| v.counter.load(Ordering::SeqCst))
    }
    /// A gauge's value, if registered.
    pub fn gauge(&self, key: &str) -> Option<f64> {
        self.values.lock().unwrap().get(key).map(|v| *v.gauge.lock().unwrap())
    }
    /// How many samples a histogram recorded.
    pub fn samples(&self, key: &str) -> usize {
        self.values.lock().unwrap().get(key).map_or(0, |v| v.samples.lock().unwrap().len())
    }

    /// Every key recorded so far, rendered.
    pub fn keys(&self) -> Vec<String> {
        self.values.lock().unwrap().keys().cloned().collect()
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
pub fn recording() -> &'static Recording {
    static RECORDING: OnceLock<&'static Recording> = OnceLock::new();
    RECORDING.get_or_init(|| {
        let recording: &'static Recording = Box::leak(Box::default());
        metrics::set_global_recorder(recording).expect("no other recorder in this test binary");
        recording
    })
}
