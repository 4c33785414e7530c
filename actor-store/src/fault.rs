//! Fault injection: make a store's writes or flushes fail on purpose, to test what an
//! application does when storage fails.
//!
//! A [`FaultPlan`] is passed to [`StoreOptions::faults`](crate::StoreOptions::faults). It costs
//! one relaxed atomic load per write and per flush when no fault is armed, and nothing when no
//! plan is given.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters that make the n-th write or flush fail; see the [module docs](self).
///
/// `0` means "never". Counting starts at 1 with the first write (or flush) after the plan is
/// armed, so `fail_flush_at(3)` fails the third flush from now.
#[derive(Debug, Default)]
pub struct FaultPlan {
    writes_left: AtomicU64,
    flushes_left: AtomicU64,
}

impl FaultPlan {
    /// A plan with nothing armed.
    pub fn new() -> Self {
        FaultPlan::default()
    }

    /// Arms a failure of the `n`-th write applied from now (`0` disarms).
    pub fn fail_write_at(&self, n: u64) {
        self.writes_left.store(n, Ordering::SeqCst);
    }

    /// Arms a failure of the `n`-th flush from now (`0` disarms).
    pub fn fail_flush_at(&self, n: u64) {
        self.flushes_left.store(n, Ordering::SeqCst);
    }

    pub(crate) fn write_fails(&self) -> bool {
        countdown(&self.writes_left)
    }

    pub(crate) fn flush_fails(&self) -> bool {
        countdown(&self.flushes_left)
    }
}

/// Decrements an armed counter; true when it reaches zero.
fn countdown(counter: &AtomicU64) -> bool {
    if counter.load(Ordering::Relaxed) == 0 {
        return false;
    }
    counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)) == Ok(1)
}
