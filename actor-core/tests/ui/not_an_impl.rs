use actor_core::actor;

#[actor]
struct Counter {
    total: u64,
}

fn main() {}
