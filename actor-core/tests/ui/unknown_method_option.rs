use actor_core::actor;

struct Worker;

#[actor]
impl Worker {
    #[actor(hidden)]
    fn work(&mut self) {}
}

fn main() {}
