//! `#[actor]` end to end, through generated handles.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use actor_core::{AskError, CallError, Context, StopReason, actor};
use futures_util::future::join_all;
use tokio::sync::Barrier;

/// Records overlap between handlers.
#[derive(Default)]
pub(crate) struct Ledger {
    balance: i64,
    active_shared: AtomicUsize,
    max_shared: AtomicUsize,
    exclusive_running: AtomicBool,
    violations: AtomicUsize,
}

#[derive(Debug, PartialEq)]
pub(crate) struct Insufficient {
    pub(crate) missing: i64,
}

impl Ledger {
    fn enter_shared(&self) {
        if self.exclusive_running.load(Ordering::SeqCst) {
            self.violations.fetch_add(1, Ordering::SeqCst);
        }
        let now = self.active_shared.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_shared.fetch_max(now, Ordering::SeqCst);
    }
}

#[actor(max_shared = 16)]
impl Ledger {
    /// Adds to the balance (exclusive, with an await inside).
    pub(crate) async fn deposit(&mut self, amount: i64) -> i64 {
        if self.active_shared.load(Ordering::SeqCst) != 0
            || self.exclusive_running.swap(true, Ordering::SeqCst)
        {
            self.violations.fetch_add(1, Ordering::SeqCst);
        }
        tokio::task::yield_now().await;
        self.balance += amount;
        self.exclusive_running.store(false, Ordering::SeqCst);
        self.balance
    }

    /// Takes from the balance; an overdraft is the caller's error, not the actor's.
    pub(crate) fn withdraw(&mut self, amount: i64) -> Result<i64, Insufficient> {
        if amount > self.balance {
            return Err(Insufficient { missing: amount - self.balance });
        }
        self.balance -= amount;
        Ok(self.balance)
    }

    /// Reads the balance after a yield (shared: may overlap with other reads).
    pub(crate) async fn audit(&self) -> i64 {
        self.enter_shared();
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        self.active_shared.fetch_sub(1, Ordering::SeqCst);
        self.balance
    }

    /// Waits at the barrier: only finishes if another `meet` overlaps.
    pub(crate) async fn meet(&self, barrier: Arc<Barrier>) {
        barrier.wait().await;
    }

    /// Overlap statistics: (max concurrent shared handlers, violations).
    pub(crate) fn stats(&self) -> (usize, usize) {
        (self.max_shared.load(Ordering::SeqCst), self.violations.load(Ordering::SeqCst))
    }

    /// Panics on purpose.
    pub(crate) fn explode(&mut self) -> i64 {
        panic!("ledger exploded")
    }

    /// The actor's own name, through its context.
    pub(crate) fn name(&self, ctx: &Context<Self>) -> String {
        ctx.name().to_owned()
    }
}

#[tokio::test]
async fn shared_handlers_overlap() {
    let ledger = Ledger::default().spawn().unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let (a, b) = tokio::join!(ledger.meet(barrier.clone()), ledger.meet(barrier.clone()));
    assert_eq!((a, b), (Ok(()), Ok(())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_handlers_never_overlap_with_anything() {
    let _serial = crate::support::REAL_TIME.lock().await;
    let ledger = Ledger::default().spawn().unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                for i in 0..100 {
                    if (i + t) % 4 == 0 {
                        ledger.deposit(1).await.unwrap();
                    } else {
                        let audits = (0..4).map(|_| ledger.audit());
                        for audit in join_all(audits).await {
                            audit.unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    for task in join_all(tasks).await {
        task.unwrap();
    }
    let (max_shared, violations) = ledger.stats().await.unwrap();
    assert_eq!(violations, 0, "an exclusive handler overlapped with another handler");
    assert!(max_shared > 1, "shared handlers never overlapped");
    assert!(max_shared <= 16, "the max_shared option was not applied ({max_shared})");
    assert_eq!(ledger.audit().await, Ok(200));
}

#[tokio::test]
async fn an_err_goes_to_the_caller_and_the_actor_keeps_running() {
    let ledger = Ledger::default().spawn().unwrap();
    ledger.deposit(10).await.unwrap();
    assert_eq!(ledger.withdraw(15).await, Err(CallError::Handler(Insufficient { missing: 5 })));
    assert_eq!(ledger.withdraw(4).await, Ok(6));
    assert!(ledger.is_alive());
}

#[tokio::test]
async fn a_panic_reaches_the_caller_as_a_typed_error() {
    let ledger = Ledger::default().spawn().unwrap();
    assert!(matches!(ledger.explode().await, Err(AskError::Panicked(_))));
    match ledger.stopped().await {
        StopReason::Panicked(message) => assert_eq!(&*message, "ledger exploded"),
        other => panic!("expected Panicked, got {other:?}"),
    }
    assert_eq!(ledger.withdraw(1).await, Err(CallError::Ask(AskError::Closed)));
}

#[tokio::test]
async fn fire_and_forget_and_context_arguments() {
    let ledger =
        Ledger::default().spawn_with(actor_core::SpawnOptions::new().with_name("books")).unwrap();
    ledger.tell(LedgerMessage::deposit(3)).await.unwrap();
    ledger.try_tell(LedgerMessage::deposit(4)).unwrap();
    assert_eq!(ledger.audit().await, Ok(7));
    assert_eq!(ledger.name().await.unwrap(), "books");
}
