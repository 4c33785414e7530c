//! Asynchronous `&self` handlers overlap with each other; `&mut self` ones run alone.

use std::sync::Arc;

use actor_core::actor;
use tokio::sync::Barrier;

struct Meeting {
    rounds: u32,
}

#[actor]
impl Meeting {
    /// Waits at the barrier: finishes only if another `meet` runs at the same time.
    async fn meet(&self, barrier: Arc<Barrier>) -> u32 {
        barrier.wait().await;
        self.rounds
    }

    fn next_round(&mut self) -> u32 {
        self.rounds += 1;
        self.rounds
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let meeting = Meeting { rounds: 0 }.spawn().unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let (a, b) = tokio::join!(meeting.meet(barrier.clone()), meeting.meet(barrier.clone()));
    assert_eq!((a, b), (Ok(0), Ok(0)));
    assert_eq!(meeting.next_round().await, Ok(1));
}
