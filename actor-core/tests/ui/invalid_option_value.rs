use actor_core::actor;

struct Worker;

#[actor(max_shared = 0, mailbox = "big")]
impl Worker {
    fn work(&mut self) {}
}

fn main() {}
