//! Actor versus mutex: the classic comparison, measured rather than argued.
//!
//! Many tasks update one shared map of account balances. Two workloads:
//!
//! 1. **Short critical section**: each operation adds to one balance. A mutex is the right tool
//!    here and this example shows by how much: an uncontended `std::sync::Mutex` costs tens of
//!    nanoseconds, a message to an actor costs a channel round trip.
//! 2. **Critical section with I/O**: each operation must also call a slow service (1 ms) before
//!    its update counts. Holding a `tokio::sync::Mutex` across that await serialises every caller;
//!    the actor instead runs the checks concurrently (a shared `&self` handler) and applies each
//!    update afterwards, exclusively, in mailbox order. That split is sound here because the check
//!    does not read the balance; a check that did would have to be repeated inside the exclusive
//!    handler.
//!
//! Run with `cargo run --release -p examples --example actor_vs_mutex` (add `-- --quick` for a
//! short run). Numbers from a debug build are meaningless.

#![expect(clippy::print_stdout, reason = "an example reports on stdout")]

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actor_core::actor;

const ACCOUNTS: u64 = 64;

/// The bank: balances by account, owned by one actor.
#[derive(Default)]
struct Bank {
    balances: HashMap<u64, i64>,
}

#[actor]
impl Bank {
    /// Adds to a balance and returns the new one (exclusive).
    fn deposit(&mut self, account: u64, amount: i64) -> i64 {
        let balance = self.balances.entry(account).or_default();
        *balance += amount;
        *balance
    }

    /// Checks with the slow service whether a deposit is allowed (shared: many at once).
    async fn check(&self, account: u64) -> bool {
        slow_service(account).await
    }

    /// The sum of all balances.
    fn total(&self) -> i64 {
        self.balances.values().sum()
    }
}

/// A remote check that takes a millisecond.
async fn slow_service(account: u64) -> bool {
    tokio::time::sleep(Duration::from_millis(1)).await;
    account < ACCOUNTS
}

struct Row {
    workload: &'static str,
    system: &'static str,
    ops: u64,
    elapsed: Duration,
    total: i64,
}

/// Runs `per_task` operations in each of `tasks` tasks and times them.
async fn drive<F, Fut>(tasks: u64, per_task: u64, op: F) -> Duration
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let op = op.clone();
            tokio::spawn(async move {
                for i in 0..per_task {
                    op((t * 31 + i) % ACCOUNTS).await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("driver task");
    }
    start.elapsed()
}

async fn short_section(tasks: u64, per_task: u64) -> Vec<Row> {
    let ops = tasks * per_task;
    let mut rows = Vec::new();

    let map = Arc::new(std::sync::Mutex::new(HashMap::<u64, i64>::new()));
    let m = map.clone();
    let elapsed = drive(tasks, per_task, move |account| {
        let m = m.clone();
        async move {
            *m.lock().expect("not poisoned").entry(account).or_default() += 1;
        }
    })
    .await;
    let total = map.lock().expect("not poisoned").values().sum();
    rows.push(Row { workload: "short", system: "std::sync::Mutex", ops, elapsed, total });

    let map = Arc::new(tokio::sync::Mutex::new(HashMap::<u64, i64>::new()));
    let m = map.clone();
    let elapsed = drive(tasks, per_task, move |account| {
        let m = m.clone();
        async move {
            *m.lock().await.entry(account).or_default() += 1;
        }
    })
    .await;
    let total = map.lock().await.values().sum();
    rows.push(Row { workload: "short", system: "tokio::sync::Mutex", ops, elapsed, total });

    let bank = Bank::default().spawn().expect("inside a runtime");
    let b = bank.clone();
    let elapsed = drive(tasks, per_task, move |account| {
        let b = b.clone();
        async move {
            b.deposit(account, 1).await.expect("bank is running");
        }
    })
    .await;
    let total = bank.total().await.expect("bank is running");
    rows.push(Row { workload: "short", system: "actor (ask)", ops, elapsed, total });
    rows
}

async fn io_section(tasks: u64, per_task: u64) -> Vec<Row> {
    let ops = tasks * per_task;
    let mut rows = Vec::new();

    // The lock is held across the slow call, as the invariant "checked, then applied" requires
    // when the state and the check must agree.
    let map = Arc::new(tokio::sync::Mutex::new(HashMap::<u64, i64>::new()));
    let m = map.clone();
    let elapsed = drive(tasks, per_task, move |account| {
        let m = m.clone();
        async move {
            let mut guard = m.lock().await;
            if slow_service(account).await {
                *guard.entry(account).or_default() += 1;
            }
        }
    })
    .await;
    let total = map.lock().await.values().sum();
    rows.push(Row { workload: "with 1 ms I/O", system: "tokio::sync::Mutex", ops, elapsed, total });

    let bank = Bank::default().spawn().expect("inside a runtime");
    let b = bank.clone();
    let elapsed = drive(tasks, per_task, move |account| {
        let b = b.clone();
        async move {
            if b.check(account).await.expect("bank is running") {
                b.deposit(account, 1).await.expect("bank is running");
            }
        }
    })
    .await;
    let total = bank.total().await.expect("bank is running");
    rows.push(Row {
        workload: "with 1 ms I/O",
        system: "actor (shared check)",
        ops,
        elapsed,
        total,
    });
    rows
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (tasks, per_task, io_per_task) = if quick { (50, 200, 2) } else { (1_000, 1_000, 20) };
    if cfg!(debug_assertions) {
        println!("note: debug build; run with --release for meaningful numbers\n");
    }

    let mut rows = short_section(tasks, per_task).await;
    rows.extend(io_section(tasks.min(200), io_per_task).await);

    println!(
        "{tasks} tasks; short: {per_task} ops each; with I/O: {} tasks x {io_per_task} ops",
        tasks.min(200)
    );
    println!("{:<14} {:<22} {:>12} {:>10}", "workload", "system", "ops/s", "correct");
    for row in &rows {
        let per_sec = row.ops as f64 / row.elapsed.as_secs_f64();
        let correct = row.total == row.ops as i64;
        println!("{:<14} {:<22} {:>12.0} {:>10}", row.workload, row.system, per_sec, correct);
        assert!(correct, "{} lost updates: {} of {}", row.system, row.total, row.ops);
    }
    println!(
        "\nA mutex wins when the critical section is short and never awaits. An actor wins when work \
         inside it awaits: its shared handlers overlap while its state stays single-owner."
    );
}
