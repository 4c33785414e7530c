//! Every option of the attribute: mailbox, shared-handler limit, name, stuck threshold and the
//! handle's default timeout.

use std::time::Duration;

use actor_core::{AskError, actor};

struct Worker;

#[actor(mailbox = 8, max_shared = 2, name = "worker", stuck_after = "30s", timeout = "250ms")]
impl Worker {
    async fn work(&self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let worker = Worker.spawn().unwrap();
    assert_eq!(worker.actor_ref().name(), "worker");
    assert_eq!(worker.work(100).await, Ok(100));
    assert_eq!(worker.work(1_000).await, Err(AskError::Timeout), "the default timeout");
    assert_eq!(worker.with_timeout(Duration::from_secs(2)).work(1_000).await, Ok(1_000));
    assert_eq!(worker.actor_ref().free_capacity(), Some(8));
}
