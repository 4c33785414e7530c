use actor_core::actor;

struct Worker;

#[actor(mailbox = 16, mailbox = 32)]
impl Worker {
    fn work(&mut self) {}
}

fn main() {
    // The stand-ins carry every generated item: using them adds no error.
    let _ = Worker.spawn();
}
