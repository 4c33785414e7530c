//! `#[actor(tell)]`: a fire-and-forget handler. Its message has no reply slot (so it is as small
//! as a hand-written one) and the handle's method returns once the message is enqueued.

use actor_core::actor;

struct Metrics {
    hits: u64,
}

#[actor]
impl Metrics {
    /// Counts a hit; callers never wait for it.
    #[actor(tell)]
    fn hit(&mut self, n: u64) {
        self.hits += n;
    }

    fn hits(&self) -> u64 {
        self.hits
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let metrics = Metrics { hits: 0 }.spawn().unwrap();
    metrics.hit(2).await.unwrap();
    metrics.try_tell(MetricsMessage::hit(3)).unwrap();
    // Messages from one sender are handled in order, so the ask sees both hits.
    assert_eq!(metrics.hits().await, Ok(5));
    assert_eq!(std::mem::size_of::<MetricsMessage>(), 16, "no reply slot in `Hit`");
}
