use actor_core::actor;

struct Engine;

#[actor]
impl Engine {
    #[actor(tell)]
    fn on_stop(&mut self) {}

    fn rev(&mut self) {}
}

fn main() {
    let _ = Engine.spawn();
}
