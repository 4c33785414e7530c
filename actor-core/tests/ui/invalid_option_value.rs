use actor_core::actor;

struct Worker;

#[actor(max_shared = 0, mailbox = "big")]
impl Worker {
    fn work(&mut self) {}
}

fn main() {
    // The stand-ins carry every generated item: using them adds no error.
    let _ = Worker.spawn();
}
