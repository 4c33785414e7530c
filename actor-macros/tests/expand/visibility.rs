//! A public actor type whose handlers are private, the most common way to write one: the message
//! enum is as visible as the `Actor` impl needs, the handle as visible as its methods.

use actor_core::actor;

pub struct Counter {
    total: u64,
}

#[actor]
impl Counter {
    fn add(&mut self, by: u64) -> u64 {
        self.total += by;
        self.total
    }

    pub(crate) async fn total(&self) -> u64 {
        self.total
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let counter = Counter { total: 0 }.spawn().unwrap();
    assert_eq!(counter.add(2).await, Ok(2));
    assert_eq!(counter.total().await, Ok(2));
    counter.tell(CounterMessage::add(1)).await.unwrap();
    assert_eq!(counter.total().await, Ok(3));
}
