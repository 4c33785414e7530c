//! The consumer's task: lease as many jobs as there is room for, submit them to the factory,
//! wait for work when there is none, and scale the factory on the durable backlog.

use std::sync::Arc;
use std::time::Duration;

use actor_core::Actor;
use actor_factory::{Autoscale, Factory, Scaler, ScalerLoad};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument;

use super::stats::Counters;
use super::work::{JobKey, Ticket};
use crate::backend::JobBackend;
use crate::model::Leased;

/// Everything the feeding task owns.
pub(super) struct Feed<W: Actor, P, R, B: JobBackend<P, R>> {
    pub(super) backend: B,
    pub(super) factory: Factory<W, JobKey, Ticket<P, R, B>>,
    pub(super) counters: Arc<Counters>,
    pub(super) stopped: watch::Receiver<bool>,
    pub(super) max_in_flight: Option<usize>,
    pub(super) autoscale: Option<Autoscale>,
}

/// How long to wait before leasing again after the backend failed.
const RETRY: Duration = Duration::from_secs(1);

/// At most this many jobs leased ahead of the workers by the adaptive default.
const MAX_PREFETCH: usize = 1_024;

/// How much work the adaptive default leases ahead: this long at the recent rate.
const PREFETCH_AHEAD: f64 = 0.5;

/// Acknowledgements not yet durable, beyond which the consumer stops leasing (a slow
/// database or disk slows the consumer instead of piling up acknowledgements).
const MAX_ACKING: usize = 4_096;

/// The consumer's recent throughput, in jobs handed back per second.
struct Rate {
    at: Instant,
    total: u64,
    per_sec: f64,
}

impl Rate {
    fn update(&mut self, total: u64) {
        let elapsed = self.at.elapsed().as_secs_f64();
        if elapsed >= 0.05 {
            let recent = (total - self.total) as f64 / elapsed;
            self.per_sec =
                if self.per_sec == 0.0 { recent } else { 0.5 * self.per_sec + 0.5 * recent };
            self.at = Instant::now();
            self.total = total;
        }
    }
}

pub(super) async fn run<W, P, R, B>(mut feed: Feed<W, P, R, B>)
where
    W: Actor,
    P: Send + Sync + 'static,
    R: Send + 'static,
    B: JobBackend<P, R>,
{
    let mut scaler = feed.autoscale.map(|policy| (Scaler::new(policy), Instant::now()));
    let mut rate = Rate { at: Instant::now(), total: 0, per_sec: 0.0 };
    loop {
        if *feed.stopped.borrow() {
            return;
        }
        if let Some((scaler, next)) = scaler.as_mut()
            && Instant::now() >= *next
        {
            *next = Instant::now() + scaler.policy().period();
            scale(&feed, scaler).await;
        }
        let wake = scaler.as_ref().map(|(_, next)| *next);
        rate.update(feed.counters.handed_back_total());
        let workers = feed.factory.workers();
        // By default, enough to keep every worker busy for a moment at the recent rate: few
        // for slow jobs (whose leases would tick while they wait), many for fast ones (one
        // lease statement for many jobs).
        let limit = feed
            .max_in_flight
            .unwrap_or_else(|| {
                let ahead = (rate.per_sec * PREFETCH_AHEAD) as usize;
                (workers * 2).max(workers + ahead).min(MAX_PREFETCH.max(workers * 2))
            })
            .max(1);
        let held = feed.counters.held();
        let room = limit.saturating_sub(held);
        // Refill in batches: lease when half of the buffer is free (or it is empty), not for
        // every job that ends.
        let refill = room >= (limit / 2).max(1) || held == 0;
        if !refill || feed.counters.acking() >= MAX_ACKING {
            let settled = feed.counters.settled.notified();
            let mut settled = std::pin::pin!(settled);
            settled.as_mut().enable();
            let still_full = {
                let held = feed.counters.held();
                let room = limit.saturating_sub(held);
                !(room >= (limit / 2).max(1) || held == 0) || feed.counters.acking() >= MAX_ACKING
            };
            if still_full {
                tokio::select! {
                    () = settled => {}
                    _ = feed.stopped.changed() => {}
                    () = sleep_until(wake) => {}
                }
            }
            continue;
        }
        let leased = match feed.backend.lease(room).await {
            Ok(leased) => leased,
            Err(error) => {
                tracing::error!(%error, "cannot lease jobs; retrying in 1 s");
                tokio::select! {
                    () = tokio::time::sleep(RETRY) => {}
                    _ = feed.stopped.changed() => {}
                }
                continue;
            }
        };
        if leased.is_empty() {
            tokio::select! {
                waited = feed.backend.wait_for_work() => {
                    if let Err(error) = waited {
                        tracing::warn!(%error, "cannot wait for work; polling again in 1 s");
                        tokio::time::sleep(RETRY).await;
                    }
                }
                _ = feed.stopped.changed() => {}
                () = sleep_until(wake) => {}
            }
            continue;
        }
        feed.counters.leased(leased.len());
        for leased in leased {
            let key = match &leased.key {
                Some(key) => JobKey::Key(key.clone()),
                None => JobKey::Id(leased.id),
            };
            let span = attempt_span(feed.counters.name(), &leased);
            let ticket = Ticket {
                leased,
                backend: feed.backend.clone(),
                counters: Arc::clone(&feed.counters),
                settled: false,
                leased_at: tokio::time::Instant::now(),
                types: std::marker::PhantomData,
            };
            // Refused only while draining: the ticket's drop fails this attempt, so the job
            // runs again.
            let submitted = feed.factory.submit(key, ticket).instrument(span).await;
            if let Err(error) = submitted {
                tracing::warn!(%error, "the factory refused a leased job");
            }
        }
    }
}

/// The span of one attempt: a root, or the continuation of the enqueuer's trace. The factory
/// hands it to the worker with the job, so the worker's message span is its child.
fn attempt_span<P>(queue: &str, leased: &Leased<P>) -> tracing::Span {
    let span = tracing::info_span!(
        parent: None,
        "job",
        queue,
        job = leased.id.0,
        attempt = leased.attempt,
        "otel.name" = tracing::field::Empty,
    );
    if !span.is_disabled() {
        span.record("otel.name", format!("{queue}.job"));
        if let Some(context) = &leased.trace {
            actor_core::trace::continue_trace(&span, context);
        }
    }
    span
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// One autoscaling decision on the durable backlog and the factory's load.
async fn scale<W, P, R, B>(feed: &Feed<W, P, R, B>, scaler: &mut Scaler)
where
    W: Actor,
    P: Send + Sync + 'static,
    R: Send + 'static,
    B: JobBackend<P, R>,
{
    let stats = match feed.backend.stats().await {
        Ok(stats) => stats,
        Err(error) => {
            tracing::warn!(%error, "cannot read the queue's backlog to autoscale");
            return;
        }
    };
    let factory = feed.factory.stats();
    let load = ScalerLoad {
        workers: feed.factory.workers(),
        queued: stats.due + factory.queued as u64,
        oldest_wait: (stats.due > 0).then(|| Duration::from_millis(stats.oldest_due_ms)),
        some_idle: factory.in_flight < factory.workers,
    };
    if let Some(workers) = scaler.decide(Instant::now(), load) {
        tracing::info!(
            workers,
            due = stats.due,
            oldest_due_ms = stats.oldest_due_ms,
            "autoscaling on the durable backlog"
        );
        if let Err(error) = feed.factory.resize(workers) {
            tracing::error!(%error, "autoscaling could not start a worker");
        }
    }
}
