//! Handlers that take the actor's context: their own reference, timers, stopping themselves.

use std::time::Duration;

use actor_core::{Context, actor};

struct Ticker {
    ticks: u32,
}

#[actor]
impl Ticker {
    /// Schedules a `tick` after `ms` milliseconds.
    fn schedule(&mut self, ctx: &Context<Self>, ms: u64) {
        ctx.send_after(Duration::from_millis(ms), TickerMessage::tick());
    }

    fn tick(&mut self) {
        self.ticks += 1;
    }

    fn ticks(&self) -> u32 {
        self.ticks
    }

    /// Stops after answering.
    async fn finish(&self, ctx: &Context<Self>) -> u32 {
        ctx.stop();
        self.ticks
    }
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let ticker = Ticker { ticks: 0 }.spawn().unwrap();
    ticker.schedule(10).await.unwrap();
    ticker.schedule(20).await.unwrap();
    tokio::time::sleep(Duration::from_millis(25)).await;
    assert_eq!(ticker.ticks().await, Ok(2));
    assert_eq!(ticker.finish().await, Ok(2));
    assert!(!ticker.stopped().await.is_abnormal());
}
