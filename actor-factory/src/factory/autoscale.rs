//! Autoscaling: the pool grows with its backlog and shrinks when workers sit idle.

use std::hash::Hash;
use std::sync::Weak;
use std::time::Duration;

use actor_core::Actor;
// tokio's clock, so that tests on paused time see deadlines.
use tokio::time::Instant;

use super::*;

/// An autoscaling policy; see [`FactorySpec::autoscale`].
#[derive(Debug, Clone, Copy)]
pub struct Autoscale {
    pub(super) min: usize,
    pub(super) max: usize,
    pub(super) queue_per_worker: usize,
    pub(super) max_wait: Option<Duration>,
    pub(super) idle_for: Duration,
    pub(super) every: Duration,
}

impl Autoscale {
    /// Between `min` and `max` workers (at least 1). Defaults: grow when more than 8 jobs per
    /// worker are queued, shrink after a worker was idle for 5 s with nothing queued, check
    /// every 100 ms, one worker at a time.
    pub fn new(min: usize, max: usize) -> Self {
        let min = min.max(1);
        Autoscale {
            min,
            max: max.max(min),
            queue_per_worker: 8,
            max_wait: None,
            idle_for: Duration::from_secs(5),
            every: Duration::from_millis(100),
        }
    }

    /// Grow when more than `jobs` jobs per worker are queued.
    pub fn queue_per_worker(mut self, jobs: usize) -> Self {
        self.queue_per_worker = jobs;
        self
    }

    /// Also grow when the oldest queued job has waited longer than `wait`.
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = Some(wait);
        self
    }

    /// Shrink once some worker has had nothing to do, and nothing was queued, for `idle`.
    pub fn idle_for(mut self, idle: Duration) -> Self {
        self.idle_for = idle;
        self
    }

    /// How often to decide.
    pub fn every(mut self, period: Duration) -> Self {
        self.every = period.max(Duration::from_millis(1));
        self
    }

    /// How often the policy decides.
    pub fn period(&self) -> Duration {
        self.every
    }

    /// The bounds on the number of workers, `(min, max)`.
    pub fn bounds(&self) -> (usize, usize) {
        (self.min, self.max)
    }
}

/// What a [`Scaler`] decides on: the pool's load at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScalerLoad {
    /// Workers that take new jobs.
    pub workers: usize,
    /// Jobs waiting for a worker (in the factory, or in a durable queue feeding it).
    pub queued: u64,
    /// How long the oldest waiting job has waited.
    pub oldest_wait: Option<Duration>,
    /// Whether some worker has nothing to do.
    pub some_idle: bool,
}

/// An [`Autoscale`] policy applied over time: it remembers how long the pool has been idle.
/// The factory's own autoscaler uses it; so can a feeder that knows a backlog the factory does
/// not see (a durable queue).
#[derive(Debug, Clone)]
pub struct Scaler {
    policy: Autoscale,
    idle_since: Option<Instant>,
}

impl Scaler {
    /// A scaler for `policy`.
    pub fn new(policy: Autoscale) -> Self {
        Scaler { policy, idle_since: None }
    }

    /// The policy.
    pub fn policy(&self) -> &Autoscale {
        &self.policy
    }

    /// The number of workers the pool should have now, if it should change: one more when the
    /// backlog per worker or the oldest wait is over the policy's limit, one fewer when the pool
    /// has had an idle worker and nothing queued for the policy's idle time.
    pub fn decide(&mut self, now: Instant, load: ScalerLoad) -> Option<usize> {
        let policy = &self.policy;
        let waited_too_long =
            policy.max_wait.zip(load.oldest_wait).is_some_and(|(limit, waited)| waited > limit);
        if load.queued > 0 || !load.some_idle {
            self.idle_since = None;
        } else {
            self.idle_since.get_or_insert(now);
        }
        let per_worker = policy.queue_per_worker as u64 * load.workers as u64;
        if (load.queued > per_worker || waited_too_long) && load.workers < policy.max {
            Some(load.workers + 1)
        } else if self.idle_since.is_some_and(|since| now - since >= policy.idle_for)
            && load.workers > policy.min
        {
            self.idle_since = Some(now);
            Some(load.workers - 1)
        } else if load.workers < policy.min {
            Some(policy.min)
        } else {
            None
        }
    }
}

pub(super) async fn autoscale_loop<W, K, M>(shared: Weak<Shared<W, K, M>>, policy: Autoscale)
where
    W: Actor,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Send + 'static,
{
    let mut scaler = Scaler::new(policy);
    loop {
        tokio::time::sleep(policy.every).await;
        let Some(me) = shared.upgrade() else { return };
        let now = Instant::now();
        let load = {
            let st = me.lock();
            if !st.accepting {
                return;
            }
            let oldest = st
                .central
                .front()
                .into_iter()
                .chain(st.slots.iter().filter_map(|s| s.local.front()))
                .map(|e| e.submitted)
                .min();
            ScalerLoad {
                workers: st.slots.iter().filter(|s| !s.retiring).count(),
                queued: st.queued as u64,
                oldest_wait: oldest.map(|at| now.saturating_duration_since(at)),
                some_idle: st.slots.iter().any(|s| !s.retiring && s.current.is_none()),
            }
        };
        if let Some(workers) = scaler.decide(now, load) {
            tracing::info!(factory = %me.name, workers, "autoscaling");
            if let Err(error) = me.resize(workers) {
                tracing::error!(factory = %me.name, %error, "autoscaling could not start a worker");
            }
        }
    }
}
