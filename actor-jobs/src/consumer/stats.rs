//! [`ConsumerStats`]: what a consumer did, counted in jobs and attempts, not factory runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::error::JobError;
use crate::model::FailOutcome;
use crate::telemetry::{self, Outcome};

/// A consumer's counters. A job that failed one attempt and succeeded on the next counts as
/// one `retried` and one `succeeded`; a job out of attempts counts as `dead`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumerStats {
    /// Attempts started: jobs leased by this consumer.
    pub attempts: u64,
    /// Jobs this consumer completed.
    pub succeeded: u64,
    /// Attempts that failed and will run again.
    pub retried: u64,
    /// Jobs whose last attempt failed here: dead letters.
    pub dead: u64,
    /// Attempts whose completion or failure came after their lease was lost (the job may have
    /// run elsewhere meanwhile).
    pub lost_leases: u64,
    /// Attempts that ended without being completed or failed (a panic, a stuck worker, a
    /// dropped `Work`): each was failed for it.
    pub abandoned: u64,
    /// Attempts put back for later by [`Work::snooze`](crate::Work::snooze), without spending
    /// an attempt.
    pub snoozed: u64,
    /// Attempts whose job was cancelled while they ran (their handler's change was refused
    /// with [`JobError::Cancelled`]).
    pub cancelled: u64,
    /// Jobs leased and not settled yet: held by the factory or a handler, or handed back and
    /// waiting for their acknowledgement to be durable.
    pub in_flight: usize,
}

/// The live counters behind [`ConsumerStats`].
#[derive(Debug)]
pub(crate) struct Counters {
    attempts: AtomicU64,
    succeeded: AtomicU64,
    retried: AtomicU64,
    dead: AtomicU64,
    lost: AtomicU64,
    snoozed: AtomicU64,
    cancelled: AtomicU64,
    abandoned: AtomicU64,
    /// Jobs handed back by handlers (or abandoned): counted once handed back.
    handed_back: AtomicU64,
    /// Leased jobs held by the factory or a handler.
    held: AtomicUsize,
    /// Acknowledgements sent and not yet durable.
    acking: AtomicUsize,
    /// Notified when a held job is handed back and when an acknowledgement is durable.
    pub(crate) settled: Notify,
    /// The consumer's name: the `queue` label of its metrics and of its jobs' spans.
    name: Arc<str>,
}

impl Counters {
    pub(crate) fn new(name: Arc<str>) -> Self {
        Counters {
            attempts: AtomicU64::new(0),
            succeeded: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dead: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            snoozed: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            abandoned: AtomicU64::new(0),
            handed_back: AtomicU64::new(0),
            held: AtomicUsize::new(0),
            acking: AtomicUsize::new(0),
            settled: Notify::new(),
            name,
        }
    }

    /// The consumer's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn leased(&self, jobs: usize) {
        self.attempts.fetch_add(jobs as u64, Ordering::Relaxed);
        self.held.fetch_add(jobs, Ordering::AcqRel);
        telemetry::started(&self.name, jobs);
    }

    /// An attempt ended with `outcome`, `run` after its lease (for the metrics).
    pub(crate) fn finished(&self, outcome: Outcome, run: Duration) {
        telemetry::finished(&self.name, outcome, run);
    }

    /// The metrics outcome of a change the handler asked for.
    pub(crate) fn outcome_of<T>(result: &Result<T, JobError>, ok: Outcome) -> Outcome {
        match result {
            Ok(_) => ok,
            Err(JobError::LeaseLost(_)) => Outcome::Lost,
            Err(JobError::Cancelled(_)) => Outcome::Cancelled,
            Err(_) => Outcome::Error,
        }
    }

    /// A held job was handed back, its acknowledgement sent.
    pub(crate) fn handed_back(&self) {
        self.acking.fetch_add(1, Ordering::AcqRel);
        self.held.fetch_sub(1, Ordering::AcqRel);
        self.handed_back.fetch_add(1, Ordering::Relaxed);
        self.settled.notify_waiters();
    }

    /// An acknowledgement is durable (or failed).
    pub(crate) fn acked(&self) {
        self.acking.fetch_sub(1, Ordering::AcqRel);
        self.settled.notify_waiters();
    }

    /// Jobs held by the factory or a handler.
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// Acknowledgements not yet durable.
    pub(crate) fn acking(&self) -> usize {
        self.acking.load(Ordering::Acquire)
    }

    /// Jobs handed back so far: the consumer's throughput.
    pub(crate) fn handed_back_total(&self) -> u64 {
        self.handed_back.load(Ordering::Relaxed)
    }

    pub(crate) fn in_flight(&self) -> usize {
        // Read `acking` after `held`: a job moves from `held` to `acking` by incrementing
        // `acking` first, so it is never missed in between.
        let held = self.held();
        held + self.acking()
    }

    pub(crate) fn completed(&self, outcome: &Result<(), JobError>) {
        match outcome {
            Ok(()) => self.succeeded.fetch_add(1, Ordering::Relaxed),
            Err(JobError::LeaseLost(_)) => self.lost.fetch_add(1, Ordering::Relaxed),
            Err(JobError::Cancelled(_)) => self.cancelled.fetch_add(1, Ordering::Relaxed),
            Err(_) => 0,
        };
    }

    pub(crate) fn snoozed(&self, outcome: &Result<(), JobError>) {
        match outcome {
            Ok(()) => self.snoozed.fetch_add(1, Ordering::Relaxed),
            Err(JobError::LeaseLost(_)) => self.lost.fetch_add(1, Ordering::Relaxed),
            Err(JobError::Cancelled(_)) => self.cancelled.fetch_add(1, Ordering::Relaxed),
            Err(_) => 0,
        };
    }

    pub(crate) fn was_cancelled(&self) {
        self.cancelled.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self, outcome: FailOutcome) {
        match outcome {
            FailOutcome::Retrying { .. } => self.retried.fetch_add(1, Ordering::Relaxed),
            FailOutcome::Dead => self.dead.fetch_add(1, Ordering::Relaxed),
        };
    }

    pub(crate) fn lost(&self) {
        self.lost.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn abandoned(&self) {
        self.abandoned.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ConsumerStats {
        ConsumerStats {
            attempts: self.attempts.load(Ordering::Relaxed),
            succeeded: self.succeeded.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            dead: self.dead.load(Ordering::Relaxed),
            lost_leases: self.lost.load(Ordering::Relaxed),
            abandoned: self.abandoned.load(Ordering::Relaxed),
            snoozed: self.snoozed.load(Ordering::Relaxed),
            cancelled: self.cancelled.load(Ordering::Relaxed),
            in_flight: self.in_flight(),
        }
    }
}

impl std::fmt::Display for ConsumerStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "attempts={} succeeded={} retried={} dead={} lost_leases={} abandoned={} in_flight={}",
            self.attempts,
            self.succeeded,
            self.retried,
            self.dead,
            self.lost_leases,
            self.abandoned,
            self.in_flight
        )
    }
}
