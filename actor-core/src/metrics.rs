//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`): the
//! application installs the exporter it runs (Prometheus, StatsD, OpenTelemetry) and the
//! actors it spawns with metrics on report to it.
//!
//! Metrics are opt-in per actor ([`SpawnOptions::with_metrics`](crate::SpawnOptions::with_metrics))
//! or for every actor ([`set_metrics`]). Labels are the actor's `kind` (its type's name, without generics) and
//! `name` (the name given at spawn, or the kind): never an id, so their number stays that of
//! the actor kinds and names an application chooses. Give per-session actors a shared name.
//!
//! | metric | type | what |
//! |---|---|---|
//! | `actor_messages_total` | counter | messages handled |
//! | `actor_handler_seconds` | histogram | time in exclusive and synchronous shared handlers (an asynchronous shared handler is counted, not timed) |
//! | `actor_mailbox_depth` | gauge | messages waiting, as of the actor's last take from its mailbox |
//! | `actor_panics_total` | counter | handler panics |
//! | `actor_restarts_total` | counter | restarts in place (by a supervisor) |
//! | `actor_stuck_total` | counter | handlers failed by the stuck-actor watchdog |
//! | `actor_supervisor_restarts_total` | counter | restarts decided by a supervisor, by `child` |
//! | `actor_supervisor_escalations_total` | counter | escalations, by `child` |
//!
//! An actor with metrics off pays one branch per message; without the feature, nothing.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use metrics::{Counter, Gauge, Histogram, Label};

static BY_DEFAULT: AtomicBool = AtomicBool::new(false);

/// Turns metrics on (or off) for every actor spawned from now on whose options do not say
/// otherwise.
pub fn set_metrics(on: bool) {
    BY_DEFAULT.store(on, Ordering::Relaxed);
}

pub(crate) fn by_default() -> bool {
    BY_DEFAULT.load(Ordering::Relaxed)
}

/// One actor's handles, registered once at spawn.
pub(crate) struct ActorMetrics {
    labels: [Label; 2],
    messages: Counter,
    handler: Histogram,
    depth: Gauge,
    /// When the handler in hand began: kept here, not in the task's future, so that metrics
    /// do not make every actor's future bigger. Only the actor's task touches it.
    started: Cell<Option<Instant>>,
}

impl ActorMetrics {
    pub(crate) fn new(kind: &'static str, name: &str) -> Self {
        let labels = [Label::new("kind", kind), Label::new("name", name.to_owned())];
        ActorMetrics {
            messages: metrics::counter!("actor_messages_total", labels.iter()),
            handler: metrics::histogram!("actor_handler_seconds", labels.iter()),
            depth: metrics::gauge!("actor_mailbox_depth", labels.iter()),
            started: Cell::new(None),
            labels,
        }
    }

    /// A message was taken, with `waiting` more behind it; its handler begins now.
    #[inline]
    pub(crate) fn taken(&self, waiting: usize) {
        self.messages.increment(1);
        self.depth.set(waiting as f64);
        self.started.set(Some(Instant::now()));
    }

    /// The handler of the message taken last has finished.
    #[inline]
    pub(crate) fn handled(&self) {
        if let Some(started) = self.started.take() {
            self.handler.record(started.elapsed().as_secs_f64());
        }
    }

    #[cold]
    pub(crate) fn panicked(&self) {
        metrics::counter!("actor_panics_total", self.labels.iter()).increment(1);
    }

    #[cold]
    pub(crate) fn restarted(&self) {
        metrics::counter!("actor_restarts_total", self.labels.iter()).increment(1);
    }

    #[cold]
    pub(crate) fn stuck(&self) {
        metrics::counter!("actor_stuck_total", self.labels.iter()).increment(1);
    }
}

/// A supervisor restarts `child`.
pub(crate) fn supervisor_restart(child: &str) {
    metrics::counter!("actor_supervisor_restarts_total", "child" => child.to_owned()).increment(1);
}

/// A supervisor escalates the failure of `child`.
pub(crate) fn supervisor_escalation(child: &str) {
    metrics::counter!("actor_supervisor_escalations_total", "child" => child.to_owned())
        .increment(1);
}
