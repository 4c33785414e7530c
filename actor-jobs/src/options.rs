//! Options: of one enqueue, of a queue, and the retry policy. Policy is computed here, once,
//! and handed to the backends as values, so every backend backs off the same way.

use std::time::Duration;

use actor_core::trace::TraceContext;

#[cfg(any(feature = "embedded", feature = "postgres"))]
use crate::clock::duration_ms;
#[cfg(any(feature = "embedded", feature = "postgres"))]
use crate::model::Millis;

/// Options for one enqueue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnqueueOptions {
    pub(crate) idempotency_key: Option<String>,
    pub(crate) key: Option<String>,
    pub(crate) max_attempts: Option<u32>,
    pub(crate) delay: Option<Duration>,
    pub(crate) priority: i16,
    pub(crate) group: Option<String>,
    pub(crate) trace: Option<TraceContext>,
}

impl EnqueueOptions {
    /// No key, the queue's retry policy, due at once.
    pub fn new() -> Self {
        EnqueueOptions::default()
    }

    /// A key that makes the enqueue idempotent: while a job with this key exists (until it is
    /// purged), enqueueing again returns its id and enqueues nothing.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// An ordering key: jobs with the same key run one at a time, in enqueue order.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Attempts allowed for this job (overrides [`RetryPolicy::max_attempts`]; at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts.max(1));
        self
    }

    /// Makes the job visible only after `delay`.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// The job's priority (default 0; higher runs first). Each level is worth
    /// [`QueueOptions::aging`] of waiting: among due jobs, one of priority 2 goes before one
    /// of priority 0 that became due less than two agings before it, and after one that has
    /// waited longer. So higher priorities overtake, and lower ones are never starved: a job
    /// waits at most `aging` times the difference of priorities longer than it would in
    /// plain order.
    pub fn priority(mut self, priority: i16) -> Self {
        self.priority = priority;
        self
    }

    /// The job's limit group: a customer, a remote API, whatever the jobs share that must not
    /// be overrun. [`QueueOptions::group_limit`] and [`QueueOptions::every_group`] say how
    /// many of a group's jobs run at once and how fast they start; unlike an ordering
    /// [`key`](Self::key), a group imposes no order.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// The trace context the job's handling continues, instead of the enqueuer's.
    ///
    /// By default, with a [`Propagator`](actor_core::trace::Propagator) installed, `enqueue`
    /// stores the trace context of the span current where it is called, and the
    /// [`Consumer`](crate::Consumer)'s span of each attempt continues that trace, in this
    /// process or another. Without a propagator, no context is stored.
    pub fn trace_context(mut self, context: TraceContext) -> Self {
        self.trace = Some(context);
        self
    }

    /// The trace context given by [`trace_context`](Self::trace_context), if any.
    pub fn get_trace_context(&self) -> Option<&TraceContext> {
        self.trace.as_ref()
    }

    /// These options with the trace context to store: the one given, else the caller's
    /// (through the installed propagator). Called where `enqueue` is called, before anything
    /// is sent.
    #[cfg(any(feature = "embedded", feature = "postgres"))]
    pub(crate) fn with_caller_trace(mut self) -> Self {
        if self.trace.is_none() {
            self.trace = actor_core::trace::current_context();
        }
        self
    }

    /// The limit group, if any.
    pub fn get_group(&self) -> Option<&str> {
        self.group.as_deref()
    }

    /// The priority (see [`priority`](Self::priority)).
    pub fn get_priority(&self) -> i16 {
        self.priority
    }

    /// The idempotency key, if any.
    pub fn get_idempotency_key(&self) -> Option<&str> {
        self.idempotency_key.as_deref()
    }

    /// The ordering key, if any.
    pub fn get_key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The attempts this job is allowed under `retry`.
    #[cfg(any(feature = "embedded", feature = "postgres"))]
    pub(crate) fn attempts_under(&self, retry: &RetryPolicy) -> u32 {
        self.max_attempts.unwrap_or(retry.max_attempts).max(1)
    }

    /// When the job becomes visible, enqueued at `now`.
    #[cfg(any(feature = "embedded", feature = "postgres"))]
    pub(crate) fn visible_from(&self, now: Millis) -> Millis {
        now.saturating_add(self.delay.map_or(0, duration_ms))
    }
}

/// Where a job due at `visible_at` with `priority` goes in the order of due jobs: earlier
/// ranks first. Each priority level counts as `aging_ms` of waiting.
#[cfg(any(feature = "embedded", feature = "postgres"))]
pub(crate) fn rank(visible_at: Millis, priority: i16, aging_ms: u64) -> i64 {
    let visible_at = i64::try_from(visible_at).unwrap_or(i64::MAX);
    let head_start =
        i64::from(priority).saturating_mul(i64::try_from(aging_ms).unwrap_or(i64::MAX));
    visible_at.saturating_sub(head_start)
}

/// When failed attempts are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before a job is dead (default 5).
    pub max_attempts: u32,
    /// The delay before the second attempt (default 1 s); each later one doubles it.
    pub backoff: Duration,
    /// The longest delay between attempts (default 5 min).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt number `attempt` (1-based): `backoff` doubled for each
    /// attempt after the first, at most `max_backoff`. The only place backoff is computed.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        self.backoff.saturating_mul(1 << doublings).min(self.max_backoff)
    }

    /// The delay after each failed attempt 1, 2, ... 31 in milliseconds, for a backend that
    /// looks the delay up by attempt (every later attempt waits as long as the 31st).
    #[cfg(feature = "postgres")]
    pub(crate) fn delays_ms(&self) -> Vec<i64> {
        (1..=31)
            .map(|attempt| {
                i64::try_from(duration_ms(self.delay_after(attempt))).unwrap_or(i64::MAX)
            })
            .collect()
    }

    /// When attempt `attempt` of a job, failed at `now`, runs again; `None` if it was the last.
    #[cfg(feature = "embedded")]
    pub(crate) fn retry_at(&self, attempt: u32, max_attempts: u32, now: Millis) -> Option<Millis> {
        (attempt < max_attempts).then(|| now.saturating_add(duration_ms(self.delay_after(attempt))))
    }
}

/// How many jobs may run at once, and how many may start within a window: for a whole queue
/// ([`QueueOptions::limit`]) or a group of jobs ([`QueueOptions::group_limit`],
/// [`QueueOptions::every_group`]). On PostgreSQL the limits hold across every process of the
/// queue; give every process the same limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limit {
    /// At most this many running at once.
    pub concurrency: Option<u32>,
    /// At most this many starts (attempts begun) within any window of this length.
    pub starts: Option<(u32, Duration)>,
}

impl Limit {
    /// At most `jobs` running at once.
    pub fn concurrency(jobs: u32) -> Self {
        Limit { concurrency: Some(jobs), starts: None }
    }

    /// At most `starts` attempts begun within any window of `per`.
    pub fn rate(starts: u32, per: Duration) -> Self {
        Limit { concurrency: None, starts: Some((starts, per)) }
    }

    /// This limit, and at most `starts` begun within any window of `per` as well.
    pub fn and_rate(mut self, starts: u32, per: Duration) -> Self {
        self.starts = Some((starts, per));
        self
    }

    /// How many more may start now, given `running` and `started` (starts within the window).
    #[cfg(feature = "embedded")]
    pub(crate) fn room(&self, running: u64, started: u64) -> u64 {
        let by_running =
            self.concurrency.map_or(u64::MAX, |c| u64::from(c).saturating_sub(running));
        let by_rate = self.starts.map_or(u64::MAX, |(s, _)| u64::from(s).saturating_sub(started));
        by_running.min(by_rate)
    }
}

/// The limits of a queue: the whole queue's, named groups', and every other group's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// The whole queue's.
    pub queue: Option<Limit>,
    /// Named groups'.
    pub groups: Vec<(String, Limit)>,
    /// Every group without a limit of its own.
    pub every_group: Option<Limit>,
}

impl Limits {
    /// Whether no limit applies.
    pub fn is_empty(&self) -> bool {
        self.queue.is_none() && self.groups.is_empty() && self.every_group.is_none()
    }

    /// The limit of `group`.
    pub fn of(&self, group: &str) -> Option<Limit> {
        self.groups
            .iter()
            .find(|(name, _)| name == group)
            .map(|(_, limit)| *limit)
            .or(self.every_group)
    }
}

/// How a queue behaves, whatever its backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueOptions {
    /// How long a lease lasts unless extended (default 30 s): a job whose worker neither
    /// completes, fails nor extends it within this time is delivered again.
    pub visibility_timeout: Duration,
    /// Retries and dead letters.
    pub retry: RetryPolicy,
    /// Finished jobs (succeeded, dead, cancelled) last changed longer ago than this are removed
    /// automatically, in small batches (default: kept until purged).
    pub retention: Option<Duration>,
    /// How much waiting one level of [`EnqueueOptions::priority`] is worth (default 1 s).
    pub aging: Duration,
    /// Concurrency and rate limits (default: none).
    pub limits: Limits,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            visibility_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            retention: None,
            aging: Duration::from_secs(1),
            limits: Limits::default(),
        }
    }
}

impl QueueOptions {
    /// The defaults: 30 s leases, 5 attempts, backoff from 1 s doubling to 5 min, finished jobs
    /// kept until purged.
    pub fn new() -> Self {
        QueueOptions::default()
    }

    /// Sets the visibility timeout.
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility_timeout = timeout;
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Removes finished jobs automatically once they are older than `age`.
    pub fn retention(mut self, age: Duration) -> Self {
        self.retention = Some(age);
        self
    }

    /// Sets how much waiting one priority level is worth ([`EnqueueOptions::priority`]).
    pub fn aging(mut self, aging: Duration) -> Self {
        self.aging = aging;
        self
    }

    /// Limits the whole queue: at most `limit.concurrency` of its jobs run at once, at most
    /// `limit.starts` start per window.
    pub fn limit(mut self, limit: Limit) -> Self {
        self.limits.queue = Some(limit);
        self
    }

    /// Limits the jobs of `group` ([`EnqueueOptions::group`]).
    pub fn group_limit(mut self, group: impl Into<String>, limit: Limit) -> Self {
        let group = group.into();
        self.limits.groups.retain(|(name, _)| *name != group);
        self.limits.groups.push((group, limit));
        self
    }

    /// Limits each group that has no limit of its own, separately: `Limit::concurrency(2)`
    /// lets every customer run two jobs at once.
    pub fn every_group(mut self, limit: Limit) -> Self {
        self.limits.every_group = Some(limit);
        self
    }

    /// The aging in milliseconds.
    #[cfg(any(feature = "embedded", feature = "postgres"))]
    pub(crate) fn aging_ms(&self) -> u64 {
        duration_ms(self.aging)
    }

    /// When a lease taken at `now` expires.
    #[cfg(any(feature = "embedded", feature = "postgres"))]
    pub(crate) fn lease_until(&self, now: Millis) -> Millis {
        now.saturating_add(duration_ms(self.visibility_timeout))
    }
}

/// The message recorded for an attempt whose lease expired (the same on every backend).
#[cfg(any(feature = "embedded", feature = "postgres"))]
pub(crate) const EXPIRED: &str =
    "the attempt did not finish within its lease (the worker hung, crashed or lost its process)";

/// The message recorded for an attempt interrupted by a restart of the embedded queue.
#[cfg(feature = "embedded")]
pub(crate) fn interrupted_message(attempt: u32) -> String {
    format!("attempt {attempt} was interrupted: its process stopped while running it")
}
