//! An `async fn` with `&mut self`: exclusive, and may await while holding the state.

use std::time::Duration;

use actor_core::actor;

struct Store {
    saved: Vec<u32>,
}

#[actor]
impl Store {
    /// Saves after a (simulated) write; nothing else runs meanwhile.
    async fn save(&mut self, value: u32) -> usize {
        tokio::time::sleep(Duration::from_millis(1)).await;
        self.saved.push(value);
        self.saved.len()
    }

    fn saved(&self) -> Vec<u32> {
        self.saved.clone()
    }
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let store = Store { saved: Vec::new() }.spawn().unwrap();
    let (a, b) = tokio::join!(store.save(1), store.save(2));
    assert_eq!((a, b), (Ok(1), Ok(2)));
    assert_eq!(store.saved().await, Ok(vec![1, 2]));
}
