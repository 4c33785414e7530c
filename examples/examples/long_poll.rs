//! The long-polling problem: an actor whose polling loop keeps awaiting a data-store actor must
//! keep answering its other methods within milliseconds.
//!
//! `Watcher` polls `Store` for new records, and callers keep asking it for its status. Two
//! versions are measured:
//!
//! - **naive**: the loop is an `async fn poll_loop(&mut self)` handler. While it awaits the store,
//!   it holds the actor exclusively, so every `status` call waits for the whole loop.
//! - **background**: the loop runs as a background task owned by the actor
//!   (`Context::spawn_task`); each batch comes back as an ordinary message, so `status` is
//!   answered between batches, at once.
//!
//! Run with `cargo run -p examples --example long_poll` (add `-- --quick` for a short run).

#![expect(clippy::print_stdout, reason = "an example reports on stdout")]

use std::time::{Duration, Instant};

use actor_core::{Context, actor};

/// A remote data store: each poll waits until a batch of new records is ready.
struct Store {
    next: u64,
    latency: Duration,
}

#[actor]
impl Store {
    /// Long-polls for the next batch of records.
    async fn next_batch(&self) -> Vec<u64> {
        tokio::time::sleep(self.latency).await;
        (self.next..self.next + 10).collect()
    }
}

/// Consumes the store's records and reports on them.
struct Watcher {
    store: StoreHandle,
    seen: u64,
    batches: u32,
}

#[actor]
impl Watcher {
    /// The naive loop: polls `rounds` batches while holding the actor.
    async fn poll_loop(&mut self, rounds: u32) {
        for _ in 0..rounds {
            if let Ok(batch) = self.store.next_batch().await {
                self.record(batch.len());
            }
        }
    }

    /// The right way: starts a background task that polls and sends each batch back as a
    /// message. The task belongs to the actor and ends with it; it holds a weak handle, so it
    /// does not keep the actor alive once its callers are gone.
    fn start_polling(&mut self, ctx: &Context<Self>, rounds: u32) {
        let store = self.store.clone();
        let me = ctx.handle::<WatcherHandle>().downgrade();
        ctx.spawn_task(async move {
            for _ in 0..rounds {
                let Ok(batch) = store.next_batch().await else { break };
                let Some(me) = me.upgrade() else { break };
                if me.tell(WatcherMessage::ingest(batch.len())).await.is_err() {
                    break;
                }
            }
        });
    }

    /// Applies one batch (fast).
    fn ingest(&mut self, records: usize) {
        self.record(records);
    }

    /// What the watcher has seen so far.
    fn status(&self) -> (u64, u32) {
        (self.seen, self.batches)
    }

    #[actor(skip)]
    fn record(&mut self, records: usize) {
        self.seen += records as u64;
        self.batches += 1;
    }
}

/// Calls `status` every `every` for `duration`, returning each call's response time.
async fn measure(watcher: &WatcherHandle, every: Duration, duration: Duration) -> Vec<Duration> {
    let mut times = Vec::new();
    let end = Instant::now() + duration;
    while Instant::now() < end {
        let start = Instant::now();
        watcher.status().await.expect("the watcher is running");
        times.push(start.elapsed());
        tokio::time::sleep(every).await;
    }
    times
}

fn report(label: &str, mut times: Vec<Duration>) -> Duration {
    times.sort();
    let median = times[times.len() / 2];
    let max = *times.last().expect("at least one call");
    println!(
        "{label:<11} {:>3} status calls: median {:>9.3} ms, max {:>9.3} ms",
        times.len(),
        median.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    max
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, latency) =
        if quick { (3, Duration::from_millis(50)) } else { (10, Duration::from_millis(100)) };
    let loop_time = latency * rounds;
    println!(
        "the store answers each poll after {} ms; the loop polls {rounds} times",
        latency.as_millis()
    );

    let store = Store { next: 0, latency }.spawn()?;

    let naive = Watcher { store: store.clone(), seen: 0, batches: 0 }.spawn()?;
    naive.tell(WatcherMessage::poll_loop(rounds)).await?;
    let naive_max = report("naive", measure(&naive, Duration::from_millis(20), loop_time).await);

    let background = Watcher { store: store.clone(), seen: 0, batches: 0 }.spawn()?;
    background.start_polling(rounds).await?;
    let background_max =
        report("background", measure(&background, Duration::from_millis(20), loop_time).await);

    let (seen, batches) = background.status().await?;
    println!("background loop: {batches} batches, {seen} records applied while answering");
    println!(
        "worst status response: naive {:.0} ms, background {:.3} ms",
        naive_max.as_secs_f64() * 1e3,
        background_max.as_secs_f64() * 1e3
    );
    assert!(naive_max >= latency, "the naive loop blocks status calls for at least one poll");
    Ok(())
}
