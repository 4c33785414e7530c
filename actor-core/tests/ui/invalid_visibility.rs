use actor_core::actor;

struct Worker;

#[actor(vis = "public")]
impl Worker {
    fn work(&mut self) {}
}

fn main() {
    // The stand-ins carry every generated item: using them adds no error.
    let _ = Worker.spawn();
}
