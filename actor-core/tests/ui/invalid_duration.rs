use actor_core::actor;

struct Engine;

#[actor(stuck_after = "soon", timeout = 5)]
impl Engine {
    fn rev(&mut self) {}
}

fn main() {
    let _ = Engine.spawn();
}
