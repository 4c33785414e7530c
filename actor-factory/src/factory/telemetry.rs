//! A factory's metrics through the `metrics` facade (feature `metrics`), labelled with the
//! factory's name only.
//!
//! | metric | type | what |
//! |---|---|---|
//! | `actor_factory_queued` | gauge | jobs queued, not yet dispatched |
//! | `actor_factory_in_flight` | gauge | jobs being handled |
//! | `actor_factory_wait_seconds` | histogram | time from submission to dispatch |
//! | `actor_factory_run_seconds` | histogram | time from dispatch to the end of a handled job |
//! | `actor_factory_replacements_total` | counter | workers replaced after a crash, a hang or a stop |

use std::time::Duration;

use metrics::{Counter, Gauge, Histogram};

/// A factory's metric handles, registered once at spawn.
pub(crate) struct FactoryMetrics {
    queued: Gauge,
    in_flight: Gauge,
    wait: Histogram,
    run: Histogram,
    replacements: Counter,
}

impl FactoryMetrics {
    pub(crate) fn new(factory: &str) -> Self {
        let label = || [("factory", factory.to_owned())];
        FactoryMetrics {
            queued: metrics::gauge!("actor_factory_queued", &label()),
            in_flight: metrics::gauge!("actor_factory_in_flight", &label()),
            wait: metrics::histogram!("actor_factory_wait_seconds", &label()),
            run: metrics::histogram!("actor_factory_run_seconds", &label()),
            replacements: metrics::counter!("actor_factory_replacements_total", &label()),
        }
    }

    /// The queue's depth and the jobs in flight, after a change.
    pub(crate) fn depth(&self, queued: usize, in_flight: usize) {
        self.queued.set(queued as f64);
        self.in_flight.set(in_flight as f64);
    }

    pub(crate) fn waited(&self, wait: Duration) {
        self.wait.record(wait.as_secs_f64());
    }

    pub(crate) fn ran(&self, run: Duration) {
        self.run.record(run.as_secs_f64());
    }

    pub(crate) fn replaced(&self) {
        self.replacements.increment(1);
    }
}
