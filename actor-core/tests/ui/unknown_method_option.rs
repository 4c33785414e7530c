use actor_core::actor;

struct Worker;

#[actor]
impl Worker {
    #[actor(hidden)]
    fn work(&mut self) {}
}

fn main() {
    // The stand-ins carry every generated item: using them adds no error.
    let _ = Worker.spawn();
}
