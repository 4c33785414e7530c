//! `with_timeout` gives up with a typed error; a panic reaches the caller as a typed error.

use std::time::Duration;

use actor_core::{AskError, actor};

struct Slow;

#[actor(mailbox = unbounded)]
impl Slow {
    async fn wait(&mut self, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    fn explode(&mut self) -> u32 {
        panic!("boom")
    }
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let slow = Slow.spawn().unwrap();
    assert_eq!(slow.with_timeout(Duration::from_millis(5)).wait(50).await, Err(AskError::Timeout));
    assert_eq!(slow.wait(1).await, Ok(()));
    assert_eq!(slow.explode().await, Err(AskError::Panicked("boom".into())));
    assert!(slow.stopped().await.is_abnormal());
}
