use actor_core::actor;

struct Counter;

#[actor]
impl Clone for Counter {
    fn clone(&self) -> Self {
        Counter
    }
}

fn main() {
    // The stand-ins carry every generated item: using them adds no error.
    let _ = Counter.spawn();
}
