//! Spawn options in the attribute: mailbox capacity, shared-handler limit, default name.

use actor_core::{TrySendError, actor};

struct Worker;

#[actor(mailbox = 2, max_shared = 4, name = "worker")]
impl Worker {
    async fn block(&mut self, gate: tokio::sync::oneshot::Receiver<()>) {
        let _ = gate.await;
    }

    fn ping(&self) {}
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let worker = Worker.spawn().unwrap();
    assert_eq!(worker.actor_ref().name(), "worker");
    let (open, gate) = tokio::sync::oneshot::channel();
    worker.tell(WorkerMessage::block(gate)).await.unwrap();
    tokio::task::yield_now().await;
    worker.try_tell(WorkerMessage::ping()).unwrap();
    worker.try_tell(WorkerMessage::ping()).unwrap();
    assert!(matches!(worker.try_tell(WorkerMessage::ping()), Err(TrySendError::Full(_))), "capacity 2");
    open.send(()).unwrap();
    assert_eq!(worker.ping().await, Ok(()));
}
