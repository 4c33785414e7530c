use actor_core::actor;

struct Counter;

#[actor]
impl Clone for Counter {
    fn clone(&self) -> Self {
        Counter
    }
}

fn main() {}
