//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`): the
//! application installs the exporter it already runs (Prometheus, StatsD, OpenTelemetry) and
//! the queue's figures appear in it. Without the feature, nothing here costs anything.
//!
//! Every metric carries the label `queue` (the consumer's name, or the name given to
//! [`report`]); states and outcomes are labels too, so cardinality stays bounded: no job id
//! ever becomes a label.
//!
//! | metric | kind | labels | what |
//! |---|---|---|---|
//! | `actor_jobs_started_total` | counter | queue | attempts a consumer started |
//! | `actor_jobs_finished_total` | counter | queue, outcome | attempts ended: `succeeded`, `retried`, `dead`, `snoozed`, `cancelled`, `lost` (the lease was taken over), `abandoned` (the handler never settled it), `error` (the outcome could not be written) |
//! | `actor_jobs_run_seconds` | histogram | queue, outcome | from lease to the handler's outcome |
//! | `actor_jobs_jobs` | gauge | queue, state | jobs in each state ([`report`]) |
//! | `actor_jobs_due` | gauge | queue | jobs due that no worker took yet ([`report`]) |
//! | `actor_jobs_oldest_due_seconds` | gauge | queue | how long the oldest due job has waited ([`report`]) |

#[cfg(any(feature = "consumer", feature = "metrics"))]
use std::time::Duration;

#[cfg(feature = "metrics")]
use crate::backend::JobBackend;
#[cfg(feature = "metrics")]
use crate::model::{JobStatus, QueueStats};

/// How an attempt ended, as the `outcome` label says it.
#[cfg(feature = "consumer")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "metrics"), allow(dead_code, reason = "read only by the metrics"))]
pub(crate) enum Outcome {
    Succeeded,
    Retried,
    Dead,
    Snoozed,
    Cancelled,
    Lost,
    Abandoned,
    /// The outcome could not be written (the job runs again when its lease expires).
    Error,
}

#[cfg(feature = "consumer")]
impl Outcome {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code, reason = "read only by the metrics"))]
    fn label(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Retried => "retried",
            Outcome::Dead => "dead",
            Outcome::Snoozed => "snoozed",
            Outcome::Cancelled => "cancelled",
            Outcome::Lost => "lost",
            Outcome::Abandoned => "abandoned",
            Outcome::Error => "error",
        }
    }
}

/// `jobs` attempts started by the consumer of `queue`.
#[cfg(feature = "consumer")]
#[cfg_attr(not(feature = "metrics"), allow(unused_variables, reason = "no metrics"))]
pub(crate) fn started(queue: &str, jobs: usize) {
    #[cfg(feature = "metrics")]
    metrics::counter!("actor_jobs_started_total", "queue" => queue.to_owned())
        .increment(jobs as u64);
}

/// An attempt of `queue` ended with `outcome`, `run` after its lease.
#[cfg(feature = "consumer")]
#[cfg_attr(not(feature = "metrics"), allow(unused_variables, reason = "no metrics"))]
pub(crate) fn finished(queue: &str, outcome: Outcome, run: Duration) {
    #[cfg(feature = "metrics")]
    {
        let labels = [("queue", queue.to_owned()), ("outcome", outcome.label().to_owned())];
        metrics::counter!("actor_jobs_finished_total", &labels).increment(1);
        metrics::histogram!("actor_jobs_run_seconds", &labels).record(run.as_secs_f64());
    }
}

/// Sets the gauges of `queue` from `stats`.
#[cfg(feature = "metrics")]
pub fn record_stats(queue: &str, stats: &QueueStats) {
    for status in JobStatus::ALL {
        let labels = [("queue", queue.to_owned()), ("state", status.as_str().to_owned())];
        metrics::gauge!("actor_jobs_jobs", &labels).set(stats.count(status) as f64);
    }
    metrics::gauge!("actor_jobs_due", "queue" => queue.to_owned()).set(stats.due as f64);
    metrics::gauge!("actor_jobs_oldest_due_seconds", "queue" => queue.to_owned())
        .set(stats.oldest_due_ms as f64 / 1_000.0);
}

/// Reads the stats of `queue` every `every` and sets its gauges ([`record_stats`]), until
/// the returned task is aborted or the runtime ends. One process per queue is enough: the
/// counts are the queue's, not the process's.
///
/// # Panics
///
/// Outside a tokio runtime.
#[cfg(feature = "metrics")]
pub fn report<P, R, B>(
    queue: B,
    name: impl Into<String>,
    every: Duration,
) -> tokio::task::JoinHandle<()>
where
    P: 'static,
    R: 'static,
    B: JobBackend<P, R>,
{
    let name = name.into();
    tokio::spawn(async move {
        loop {
            match queue.stats().await {
                Ok(stats) => record_stats(&name, &stats),
                Err(error) => {
                    tracing::warn!(queue = %name, %error, "cannot read the queue's stats for its metrics")
                }
            }
            tokio::time::sleep(every).await;
        }
    })
}
