//! Counters and latency histograms of a factory, per worker and in total.

use std::fmt;
use std::time::Duration;

/// A log-linear histogram of durations: 4 sub-buckets per power of two (within 19%).
#[derive(Clone)]
pub(crate) struct Histogram {
    buckets: Box<[u64; 256]>,
    count: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { buckets: Box::new([0; 256]), count: 0, max: 0 }
    }
}

impl Histogram {
    pub(crate) fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1);
        let log = 63 - ns.leading_zeros() as usize;
        let sub = if log >= 2 { ((ns >> (log - 2)) & 3) as usize } else { 0 };
        self.buckets[(log * 4 + sub).min(255)] += 1;
        self.count += 1;
        self.max = self.max.max(ns);
    }

    pub(crate) fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *a += b;
        }
        self.count += other.count;
        self.max = self.max.max(other.max);
    }

    /// The value at quantile `q` (0..=1): the upper bound of its bucket, at most the maximum.
    fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let rank = ((self.count as f64 * q).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let (log, sub) = (i / 4, (i % 4) as u64);
                let upper = if log >= 2 { (4 + sub + 1) << (log - 2) } else { 1 << (log + 1) };
                return Duration::from_nanos(upper.min(self.max));
            }
        }
        Duration::from_nanos(self.max)
    }

    pub(crate) fn summary(&self) -> Latency {
        Latency {
            count: self.count,
            p50: self.quantile(0.50),
            p99: self.quantile(0.99),
            max: Duration::from_nanos(self.max),
        }
    }
}

/// Percentiles of a latency (within 19%: the histogram's resolution).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// How many durations were recorded.
    pub count: u64,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Maximum.
    pub max: Duration,
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p50 {:?} p99 {:?} max {:?}", self.p50, self.p99, self.max)
    }
}

/// Counters of one worker slot.
#[derive(Debug, Clone, Default)]
pub struct WorkerStats {
    /// The slot's id (stable while the slot exists; slots added by resizing get new ids).
    pub slot: u64,
    /// Jobs waiting in this slot's own queue (keyed routing modes).
    pub queued: usize,
    /// Whether a job is being handled now.
    pub busy: bool,
    /// Jobs handled to completion.
    pub processed: u64,
    /// Jobs whose handler panicked, hung or stopped the worker.
    pub failed: u64,
    /// How many times this slot's worker was replaced.
    pub replaced: u64,
    /// Time from dispatch to completion.
    pub processing: Latency,
}

/// A factory's counters; see [`Factory::stats`](crate::Factory::stats).
#[derive(Debug, Clone, Default)]
pub struct FactoryStats {
    /// Worker slots (including ones being retired by a resize).
    pub workers: usize,
    /// Jobs queued, not yet dispatched.
    pub queued: usize,
    /// Jobs being handled.
    pub in_flight: usize,
    /// Submitters waiting for room in a full queue ([`Backpressure::Wait`](crate::Backpressure::Wait)).
    pub waiting: usize,
    /// Jobs accepted by `submit`.
    pub submitted: u64,
    /// Jobs handled to completion.
    pub processed: u64,
    /// Jobs reported failed (after their retry, if they had one).
    pub failed: u64,
    /// Jobs retried after a failure.
    pub retried: u64,
    /// Jobs discarded (expired, dropped for room, or left when the factory stopped).
    pub discarded: u64,
    /// Workers replaced after a crash or a hang.
    pub replaced: u64,
    /// Time from submission to dispatch.
    pub queue_wait: Latency,
    /// Time from dispatch to completion.
    pub processing: Latency,
    /// Per worker slot.
    pub per_worker: Vec<WorkerStats>,
}

impl fmt::Display for FactoryStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "workers={} queued={} in_flight={} waiting={} submitted={} processed={} failed={} retried={} discarded={} replaced={} queue_wait=({}) processing=({})",
            self.workers,
            self.queued,
            self.in_flight,
            self.waiting,
            self.submitted,
            self.processed,
            self.failed,
            self.retried,
            self.discarded,
            self.replaced,
            self.queue_wait,
            self.processing
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_the_bucket_resolution() {
        let mut h = Histogram::default();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        let p50 = s.p50.as_micros() as f64;
        assert!((500.0..=500.0 * 1.25).contains(&p50), "{s}");
        let p99 = s.p99.as_micros() as f64;
        assert!((990.0..=1000.0).contains(&p99), "{s}");
        assert_eq!(s.max, Duration::from_micros(1000));
    }
}
