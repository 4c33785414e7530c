use actor_core::actor;

struct Worker;

#[actor(capacity = 16)]
impl Worker {
    fn work(&mut self) {}
}

fn main() {}
