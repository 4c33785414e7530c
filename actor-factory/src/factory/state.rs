//! The factory's state under its lock: worker slots, queues, per-key placement, counters.

use std::collections::{HashMap, VecDeque};

use actor_core::{Actor, ActorRef};
// tokio's clock, so that tests on paused time see deadlines.
use tokio::time::Instant;

use super::*;
use crate::job::SubmissionId;
use crate::stats::{FactoryStats, Histogram, WorkerStats};

/// A queued job.
pub(super) struct Entry<K, M> {
    pub(super) id: SubmissionId,
    pub(super) key: K,
    pub(super) payload: M,
    pub(super) retry: Option<M>,
    pub(super) attempt: u32,
    pub(super) submitted: Instant,
    pub(super) deadline: Option<Instant>,
    /// The submitter's span, if the workers trace messages (boxed: most factories do not).
    pub(super) span: Option<Box<tracing::Span>>,
}

impl<K, M> Entry<K, M> {
    /// A job that goes back to the front of its slot's queue (a retry, or a job its dead
    /// worker never got): no deadline any more, its queue wait counted from now.
    pub(super) fn again(
        id: SubmissionId,
        key: K,
        payload: M,
        retry: Option<M>,
        attempt: u32,
        span: Option<Box<tracing::Span>>,
    ) -> Self {
        let submitted = Instant::now();
        Entry { id, key, payload, retry, attempt, submitted, deadline: None, span }
    }
}

/// The job a slot's worker is handling.
pub(super) struct Running<K, M> {
    pub(super) id: SubmissionId,
    pub(super) key: K,
    pub(super) retry: Option<M>,
    pub(super) attempt: u32,
    pub(super) started: Instant,
    /// The worker refused the message (it was stopping): the job was never delivered.
    pub(super) undelivered: bool,
    /// The submitter's span, for a retry or a redelivery.
    pub(super) span: Option<Box<tracing::Span>>,
}

#[derive(Default, Clone)]
pub(super) struct SlotCounters {
    pub(super) processed: u64,
    pub(super) failed: u64,
    pub(super) replaced: u64,
    pub(super) processing: Histogram,
}

pub(super) struct Slot<W: Actor, K, M> {
    pub(super) id: u64,
    pub(super) generation: u64,
    /// `None` while the slot waits for a replacement worker.
    pub(super) worker: Option<ActorRef<W>>,
    pub(super) local: VecDeque<Entry<K, M>>,
    pub(super) current: Option<Running<K, M>>,
    pub(super) retiring: bool,
    pub(super) counters: SlotCounters,
}

impl<W: Actor, K, M> Slot<W, K, M> {
    pub(super) fn new(id: u64, worker: ActorRef<W>) -> Self {
        Slot {
            id,
            generation: 0,
            worker: Some(worker),
            local: VecDeque::new(),
            current: None,
            retiring: false,
            counters: SlotCounters::default(),
        }
    }
}

/// Where a key's jobs are (sticky queuer): the slot that holds some of them (in its queue or
/// running), how many it holds, and how many wait in the shared queue. A key with jobs in the
/// shared queue gets new jobs there too, behind them.
#[derive(Default)]
pub(super) struct KeyLoad {
    pub(super) slot: Option<u64>,
    pub(super) on_slot: usize,
    pub(super) shared: usize,
}

#[derive(Default)]
pub(super) struct Totals {
    pub(super) submitted: u64,
    pub(super) retried: u64,
    pub(super) discarded: u64,
    pub(super) replaced: u64,
    pub(super) queue_wait: Histogram,
    /// Counters of slots removed by resizing.
    pub(super) removed: SlotCounters,
}

pub(super) struct State<W: Actor, K, M> {
    pub(super) slots: Vec<Slot<W, K, M>>,
    pub(super) central: VecDeque<Entry<K, M>>,
    pub(super) queued: usize,
    pub(super) keys: HashMap<K, KeyLoad>,
    pub(super) next_job: u64,
    pub(super) next_slot: u64,
    pub(super) turn: usize,
    pub(super) rng: u64,
    pub(super) accepting: bool,
    /// Submitters waiting for room.
    pub(super) waiting: usize,
    /// Slots whose worker is gone and whose replacement is not built yet.
    pub(super) replacing: usize,
    pub(super) totals: Totals,
}

impl<W: Actor, K, M> Default for State<W, K, M> {
    fn default() -> Self {
        State {
            slots: Vec::new(),
            central: VecDeque::new(),
            queued: 0,
            keys: HashMap::new(),
            next_job: 0,
            next_slot: 0,
            turn: 0,
            rng: 0x2545_f491_4f6c_dd1d,
            accepting: true,
            waiting: 0,
            replacing: 0,
            totals: Totals::default(),
        }
    }
}

impl<W: Actor, K, M> State<W, K, M> {
    pub(super) fn next_slot_id(&mut self) -> u64 {
        self.next_slot += 1;
        self.next_slot
    }

    /// Puts a job back at the front of the queue of the slot at `pos`.
    pub(super) fn requeue_front(&mut self, pos: usize, entry: Entry<K, M>) {
        self.queued += 1;
        self.slots[pos].local.push_front(entry);
    }

    pub(super) fn position(&self, slot: u64) -> Option<usize> {
        self.slots.iter().position(|s| s.id == slot)
    }

    /// Nothing queued, running or being replaced: nothing can change until a new job comes.
    pub(super) fn is_idle(&self) -> bool {
        self.queued == 0 && self.replacing == 0 && self.slots.iter().all(|s| s.current.is_none())
    }

    /// The worker of the slot at `pos` is gone (or going): a replacement is built once the
    /// lock is released, and takes the slot's queue. Returns the old worker.
    pub(super) fn lose_worker(
        &mut self,
        pos: usize,
        fx: &mut Effects<W, K, M>,
    ) -> Option<ActorRef<W>> {
        let slot = &mut self.slots[pos];
        let worker = slot.worker.take();
        if worker.is_some() {
            self.replacing += 1;
            fx.replace.push(slot.id);
        }
        worker
    }

    pub(super) fn stats(&self) -> FactoryStats {
        let mut processed = self.totals.removed.processed;
        let mut failed = self.totals.removed.failed;
        let mut processing = self.totals.removed.processing.clone();
        let mut per_worker = Vec::with_capacity(self.slots.len());
        for slot in &self.slots {
            processed += slot.counters.processed;
            failed += slot.counters.failed;
            processing.merge(&slot.counters.processing);
            per_worker.push(WorkerStats {
                slot: slot.id,
                queued: slot.local.len(),
                busy: slot.current.is_some(),
                processed: slot.counters.processed,
                failed: slot.counters.failed,
                replaced: slot.counters.replaced,
                processing: slot.counters.processing.summary(),
            });
        }
        FactoryStats {
            workers: self.slots.len(),
            queued: self.queued,
            in_flight: self.slots.iter().filter(|s| s.current.is_some()).count(),
            waiting: self.waiting,
            submitted: self.totals.submitted,
            processed,
            failed,
            retried: self.totals.retried,
            discarded: self.totals.discarded,
            replaced: self.totals.replaced,
            queue_wait: self.totals.queue_wait.summary(),
            processing: processing.summary(),
            per_worker,
        }
    }
}
