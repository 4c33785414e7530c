//! Every handler is an asynchronous `&self` handler.

use std::time::Duration;

use actor_core::actor;

struct Clock {
    offset_ms: u64,
}

#[actor]
impl Clock {
    async fn now_ms(&self) -> u64 {
        tokio::time::sleep(Duration::from_millis(1)).await;
        self.offset_ms
    }

    async fn ping(&self) {}
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let clock = Clock { offset_ms: 7 }.spawn().unwrap();
    assert_eq!(clock.now_ms().await, Ok(7));
    assert_eq!(clock.ping().await, Ok(()));
}
