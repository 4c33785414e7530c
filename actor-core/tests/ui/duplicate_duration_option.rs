use actor_core::actor;

struct Engine;

#[actor(timeout = "5s", timeout = "10s")]
impl Engine {
    fn rev(&mut self) {}
}

fn main() {
    let _ = Engine.spawn();
}
