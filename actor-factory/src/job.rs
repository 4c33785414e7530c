//! [`Job`]: what a worker receives; job options and the reports of jobs that did not complete.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The id a factory gives an accepted job: unique within the factory, increasing in submission
/// order. (A durable job of `actor-jobs` has a `JobId` of its own.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubmissionId(pub u64);

impl fmt::Display for SubmissionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job {}", self.0)
    }
}

/// Options of one job; see [`Factory::submit_with`](crate::Factory::submit_with).
#[derive(Debug, Clone, Copy, Default)]
pub struct JobOptions {
    pub(crate) ttl: Option<Duration>,
}

impl JobOptions {
    /// No time-to-live.
    pub fn new() -> Self {
        JobOptions::default()
    }

    /// Discard the job (reporting [`DiscardReason::Expired`]) if it is still queued `ttl` after
    /// it was submitted.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }
}

/// Why a job was discarded without being handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscardReason {
    /// Its time-to-live passed while it was queued.
    Expired,
    /// The queue was full and the policy was [`Backpressure::DropOldest`](crate::Backpressure).
    DroppedForRoom,
}

/// A job discarded unhandled, with its payload; given to the discard handler.
#[derive(Debug)]
pub struct Discarded<K, M> {
    /// The job's id.
    pub id: SubmissionId,
    /// Its key.
    pub key: K,
    /// Its payload, never handled.
    pub payload: M,
    /// Why.
    pub reason: DiscardReason,
}

/// Why a job failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureReason {
    /// The handler panicked.
    Panicked,
    /// The handler made no progress within the factory's `stuck_after` threshold; the worker
    /// was replaced.
    Stuck(Duration),
    /// The worker stopped (it stopped itself, or failed) before the job completed.
    WorkerStopped,
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureReason::Panicked => f.write_str("the handler panicked"),
            FailureReason::Stuck(after) => write!(f, "the handler was stuck for {after:?}"),
            FailureReason::WorkerStopped => f.write_str("the worker stopped"),
        }
    }
}

/// A job that failed, reported exactly once to the failure handler.
#[derive(Debug, Clone)]
pub struct Failure<K> {
    /// The job's id.
    pub id: SubmissionId,
    /// Its key.
    pub key: K,
    /// Which attempt failed (2 for a retried job).
    pub attempt: u32,
    /// Why.
    pub reason: FailureReason,
}

/// How a dispatched job ended, as its drop tells the factory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Dropped normally: the handler finished with it.
    Handled,
    /// Never handled: its worker stopped or failed with the job still in its mailbox.
    Unhandled,
    /// Dropped in the middle of its handler: the worker was killed.
    Interrupted,
    /// Dropped in the middle of its handler: the watchdog found it stuck, busy for this long.
    Stuck(std::time::Duration),
    /// Dropped while the handler panicked.
    Panicked,
}

impl Ending {
    fn now() -> Self {
        match actor_core::drop_cause() {
            actor_core::DropCause::Unhandled => Ending::Unhandled,
            actor_core::DropCause::Interrupted => Ending::Interrupted,
            actor_core::DropCause::Stuck { busy_for } => Ending::Stuck(busy_for),
            actor_core::DropCause::Panicked => Ending::Panicked,
            _ => Ending::Handled,
        }
    }
}

/// Where a job reports its end.
pub(crate) trait Home<K, M>: Send + Sync {
    fn ended(
        &self,
        slot: u64,
        generation: u64,
        id: SubmissionId,
        ending: Ending,
        unhandled: Option<M>,
    );
}

/// A job as a worker receives it: a key, a payload and the factory's bookkeeping.
///
/// The job counts as done when the `Job` is dropped; a handler that takes it by value is done
/// with it when it returns. If the handler panics, the drop happens while unwinding and the job
/// is reported failed (or retried). Take the payload out with [`Job::take`] if you need it by
/// value; keep the `Job` itself until the work is finished.
pub struct Job<K, M> {
    pub(crate) id: SubmissionId,
    pub(crate) key: K,
    pub(crate) payload: Option<M>,
    pub(crate) attempt: u32,
    pub(crate) slot: u64,
    pub(crate) generation: u64,
    pub(crate) home: Arc<dyn Home<K, M>>,
}

impl<K: fmt::Debug, M> fmt::Debug for Job<K, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("key", &self.key)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl<K, M> Job<K, M> {
    /// The job's id.
    pub fn id(&self) -> SubmissionId {
        self.id
    }

    /// The job's key.
    pub fn key(&self) -> &K {
        &self.key
    }

    /// The payload, or `None` once taken.
    pub fn payload(&self) -> Option<&M> {
        self.payload.as_ref()
    }

    /// The payload, mutably, or `None` once taken.
    pub fn payload_mut(&mut self) -> Option<&mut M> {
        self.payload.as_mut()
    }

    /// Takes the payload out; the job stays in progress until the `Job` is dropped.
    pub fn take(&mut self) -> Option<M> {
        self.payload.take()
    }

    /// 1 for the first run, 2 for a retry.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

impl<K, M> Drop for Job<K, M> {
    fn drop(&mut self) {
        let ending = Ending::now();
        let unhandled = self.payload.take();
        self.home.ended(self.slot, self.generation, self.id, ending, unhandled);
    }
}
