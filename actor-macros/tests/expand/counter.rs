//! The counter from the docs: exclusive and shared handlers, a value, a `Result`, and
//! fire-and-forget messages.

use actor_core::actor;

#[derive(Debug, PartialEq)]
pub struct Overflow;

pub struct Counter {
    total: u64,
}

#[actor]
impl Counter {
    /// Adds `by` and returns the new total.
    pub fn add(&mut self, by: u64) -> u64 {
        self.total += by;
        self.total
    }

    /// The current total.
    pub async fn total(&self) -> u64 {
        self.total
    }

    /// Doubles the total, unless that overflows.
    pub fn double(&mut self) -> Result<u64, Overflow> {
        self.total = self.total.checked_mul(2).ok_or(Overflow)?;
        Ok(self.total)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let counter = Counter { total: 0 }.spawn().unwrap();
    assert_eq!(counter.add(5).await, Ok(5));
    assert_eq!(counter.double().await, Ok(10));
    counter.tell(CounterMessage::add(1)).await.unwrap();
    counter.try_tell(CounterMessage::add(1)).unwrap();
    assert_eq!(counter.total().await, Ok(12));
    counter.add(u64::MAX - 12).await.unwrap();
    assert_eq!(counter.double().await, Err(actor_core::CallError::Handler(Overflow)));
    assert_eq!(counter.total().await, Ok(u64::MAX), "an `Err` does not stop the actor");
}
