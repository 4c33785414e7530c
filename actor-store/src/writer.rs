//! The writer actor and its flusher thread: group commit.
//!
//! The writer is the only code that changes the database. It applies each write in mailbox
//! order, then hands the write's reply to the flusher thread. The flusher takes every reply
//! waiting for it, flushes once (sled writes its buffers and calls `fsync`), and only then
//! answers them. Writes that arrive while a flush runs are applied meanwhile and share the next
//! flush: the busier the store, the more writes each flush covers.
//!
//! A write is in a group only if it was applied before the group was taken, and the group is
//! taken before its flush starts; so a flush covers every write it acknowledges. A failed
//! write or flush is never acknowledged: the store enters a failed state, every waiting writer
//! gets [`StoreError::Failed`], and so does every later write.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};

use actor_core::{Reply, actor};
use sled::IVec;
use tokio::sync::oneshot;

use crate::error::{Cause, Chain, StoreError, because, because_of};
use crate::fault::FaultPlan;
use crate::ledger::Ledger;

/// A change for the writer to apply, already encoded.
pub(crate) enum WriteOp {
    Insert {
        tree: sled::Tree,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Remove {
        tree: sled::Tree,
        key: Vec<u8>,
    },
    Cas {
        tree: sled::Tree,
        key: Vec<u8>,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    },
    Batch {
        tree: sled::Tree,
        batch: sled::Batch,
    },
    /// Rewrites the values of a tree and its schema record in one transaction
    /// ([`Store::migrate_tree`](crate::Store::migrate_tree)).
    Retype {
        tree: sled::Tree,
        meta: sled::Tree,
        schema_key: Vec<u8>,
        schema: Vec<u8>,
        entries: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// Nothing to apply: acknowledged by the next flush (a durability barrier).
    Sync,
}

impl WriteOp {
    /// The tree the write changes (`None` for a barrier).
    fn tree(&self) -> Option<&sled::Tree> {
        match self {
            WriteOp::Insert { tree, .. }
            | WriteOp::Remove { tree, .. }
            | WriteOp::Cas { tree, .. }
            | WriteOp::Batch { tree, .. }
            | WriteOp::Retype { tree, .. } => Some(tree),
            WriteOp::Sync => None,
        }
    }
}

/// What applying a write found, returned once the write is durable.
#[derive(Debug)]
pub(crate) enum Applied {
    /// The value the key held before (insert, remove).
    Previous(Option<IVec>),
    /// A compare-and-swap: `Err` carries the current value when it did not match.
    Cas(Result<(), Option<IVec>>),
    Done,
}

type WriteReply = Reply<Result<Applied, StoreError>>;

/// The store's health and counters, shared by handles, the writer and the flusher.
#[derive(Debug, Default)]
pub(crate) struct Health {
    pub(crate) failed: OnceLock<Cause>,
    /// Opened for salvage: every write is refused.
    pub(crate) read_only: bool,
    pub(crate) writes: AtomicU64,
    pub(crate) flushes: AtomicU64,
    /// Writes submitted and not yet answered; on a cache line of its own, since every writer
    /// touches it twice.
    pub(crate) in_flight: Padded,
}

/// An atomic counter alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded(AtomicU64);

impl std::ops::Deref for Padded {
    type Target = AtomicU64;

    fn deref(&self) -> &AtomicU64 {
        &self.0
    }
}

impl Health {
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        match self.failed.get() {
            Some(cause) => Err(StoreError::Failed { cause: Arc::clone(cause) }),
            None => Ok(()),
        }
    }

    /// Records the first failure; later ones are consequences.
    fn fail(&self, cause: Cause) -> StoreError {
        let cause = self.failed.get_or_init(|| cause);
        tracing::error!(cause = %Chain(&**cause), "store failed; it accepts no more writes");
        StoreError::Failed { cause: Arc::clone(cause) }
    }
}

/// A write applied and waiting for the flush that covers it.
struct Pending {
    reply: WriteReply,
    applied: Applied,
    /// The tree it changed (`None` for a durability barrier).
    tree: Option<sled::Tree>,
}

/// The writer actor: sole owner of the database's write path.
pub(crate) struct Writer {
    health: Arc<Health>,
    faults: Option<Arc<FaultPlan>>,
    to_flusher: Option<mpsc::Sender<Pending>>,
    flusher_done: Option<oneshot::Receiver<()>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("health", &self.health).finish_non_exhaustive()
    }
}

impl Writer {
    /// Starts the flusher thread for `db`.
    pub(crate) fn new(
        db: sled::Db,
        health: Arc<Health>,
        faults: Option<Arc<FaultPlan>>,
        commits: Commits,
    ) -> Result<Self, StoreError> {
        let (to_flusher, rx) = mpsc::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let flusher = Flusher { db, health: Arc::clone(&health), faults: faults.clone(), commits };
        std::thread::Builder::new()
            .name("actor-store-flush".to_owned())
            .spawn(move || {
                let mut flusher = flusher;
                flusher.run(&rx);
                // The database handle goes before the writer hears that the flusher is done,
                // so that a closed store can be reopened at once.
                drop(flusher);
                let _ = done_tx.send(());
            })
            .map_err(|e| StoreError::Storage {
                source: because_of("cannot start the flusher thread", e),
            })?;
        Ok(Writer { health, faults, to_flusher: Some(to_flusher), flusher_done: Some(done_rx) })
    }

    fn apply(&self, op: WriteOp) -> Result<Applied, StoreError> {
        if self.faults.as_ref().is_some_and(|f| f.write_fails()) {
            return Err(self.health.fail(because("injected write failure")));
        }
        let result = match op {
            WriteOp::Insert { tree, key, value } => tree.insert(key, value).map(Applied::Previous),
            WriteOp::Remove { tree, key } => tree.remove(key).map(Applied::Previous),
            WriteOp::Cas { tree, key, expected, new } => tree
                .compare_and_swap(key, expected, new)
                .map(|outcome| Applied::Cas(outcome.map_err(|conflict| conflict.current))),
            WriteOp::Batch { tree, batch } => tree.apply_batch(batch).map(|()| Applied::Done),
            WriteOp::Retype { tree, meta, schema_key, schema, entries } => {
                use sled::Transactional;
                (&tree, &meta)
                    .transaction(|(tree, meta)| {
                        for (key, value) in &entries {
                            tree.insert(key.as_slice(), value.as_slice())?;
                        }
                        meta.insert(schema_key.as_slice(), schema.as_slice())?;
                        Ok(())
                    })
                    .map(|()| Applied::Done)
                    .map_err(|e: sled::transaction::TransactionError<()>| match e {
                        sled::transaction::TransactionError::Storage(e) => e,
                        sled::transaction::TransactionError::Abort(()) => {
                            sled::Error::Unsupported("aborted".to_owned())
                        }
                    })
            }
            WriteOp::Sync => Ok(Applied::Done),
        };
        result.map_err(|e| self.health.fail(because_of("a write failed", e)))
    }
}

#[actor]
impl Writer {
    /// Applies one write, then hands its reply to the flusher, which answers after the flush
    /// that covers it: the writer never waits for a flush.
    pub(crate) fn write(&mut self, op: WriteOp, reply: Reply<Result<Applied, StoreError>>) {
        if let Err(e) = self.health.check() {
            reply.send(Err(e));
            return;
        }
        let tree = op.tree().cloned();
        match self.apply(op) {
            Ok(applied) => {
                self.health.writes.fetch_add(1, Ordering::Relaxed);
                if let Some(to_flusher) = &self.to_flusher
                    && let Err(mpsc::SendError(pending)) =
                        to_flusher.send(Pending { reply, applied, tree })
                {
                    // The flusher is gone (it cannot be, while the writer runs): never
                    // acknowledge what was not flushed.
                    pending
                        .reply
                        .send(Err(self.health.fail(because("the flusher thread stopped"))));
                }
            }
            Err(e) => reply.send(Err(e)),
        }
    }

    /// Closing the channel lets the flusher flush what is pending, answer and exit; the writer
    /// stops once it has.
    async fn on_stop(&mut self) {
        drop(self.to_flusher.take());
        if let Some(done) = self.flusher_done.take() {
            let _ = done.await;
        }
    }
}

/// The numbering of group commits and the ledger that records the acknowledged ones.
pub(crate) struct Commits {
    /// The tree holding the `commit` marker.
    pub(crate) meta: sled::Tree,
    /// The last commit number used.
    pub(crate) last: u64,
    /// `None` for a store opened read-only, which never commits.
    pub(crate) ledger: Option<Ledger>,
}

struct Flusher {
    db: sled::Db,
    health: Arc<Health>,
    faults: Option<Arc<FaultPlan>>,
    commits: Commits,
}

impl Flusher {
    fn run(&mut self, rx: &mpsc::Receiver<Pending>) {
        let mut group = Vec::new();
        let mut trees: Vec<sled::Tree> = Vec::new();
        while let Some(first) = next(rx) {
            group.push(first);
            group.extend(rx.try_iter());
            trees.clear();
            for tree in group.iter().filter_map(|pending| pending.tree.as_ref()) {
                if !trees.iter().any(|known| known.name() == tree.name()) {
                    trees.push(tree.clone());
                }
            }
            let flushed = self.flush(&trees);
            for Pending { reply, applied, .. } in group.drain(..) {
                reply.send(flushed.clone().map(|()| applied));
            }
        }
        if let Some(ledger) = self.commits.ledger.as_mut()
            && let Err(error) = ledger.sync()
        {
            tracing::warn!(%error, "cannot sync the acknowledgement ledger");
        }
    }

    /// One group commit: numbers it in sled, flushes, then records it in the ledger; only
    /// then may its writes be acknowledged.
    fn flush(&mut self, trees: &[sled::Tree]) -> Result<(), StoreError> {
        self.health.check()?;
        if self.faults.as_ref().is_some_and(|f| f.flush_fails()) {
            return Err(self.health.fail(because("injected flush failure")));
        }
        self.health.flushes.fetch_add(1, Ordering::Relaxed);
        let seq = self.commits.last + 1;
        // After every write of the group in sled's log: recovering this marker means
        // recovering the whole group.
        if let Err(e) = self.commits.meta.insert(COMMIT_KEY, &seq.to_be_bytes()) {
            return Err(self.health.fail(because_of("a write failed", e)));
        }
        if let Err(e) = self.db.flush() {
            return Err(self.health.fail(because_of("a flush failed", e)));
        }
        self.commits.last = seq;
        if let Some(ledger) = self.commits.ledger.as_mut() {
            let names: Vec<Arc<str>> = trees
                .iter()
                .map(|tree| Arc::from(String::from_utf8_lossy(&tree.name()).as_ref()))
                .collect();
            if let Err(e) = ledger.record(seq, &names) {
                return Err(self.health.fail(because_of(
                    "cannot record the commit in the acknowledgement ledger",
                    e,
                )));
            }
        }
        Ok(())
    }
}

/// The meta key holding the number of the last group commit written to sled.
pub(crate) const COMMIT_KEY: &[u8] = b"commit";

/// How long the flusher polls for the next write before it sleeps: a writer that waits for
/// each acknowledgement before its next write sends it within a few microseconds, and a
/// sleeping thread takes longer than that to wake.
const SPIN: std::time::Duration = std::time::Duration::from_micros(50);

/// The next pending write; `None` once the writer is gone.
fn next(rx: &mpsc::Receiver<Pending>) -> Option<Pending> {
    let start = std::time::Instant::now();
    loop {
        match rx.try_recv() {
            Ok(pending) => return Some(pending),
            Err(mpsc::TryRecvError::Disconnected) => return None,
            Err(mpsc::TryRecvError::Empty) if start.elapsed() < SPIN => std::hint::spin_loop(),
            Err(mpsc::TryRecvError::Empty) => return rx.recv().ok(),
        }
    }
}
