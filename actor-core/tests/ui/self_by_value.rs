use actor_core::actor;

struct Counter;

#[actor]
impl Counter {
    fn consume(self) -> u32 {
        1
    }
}

fn main() {}
