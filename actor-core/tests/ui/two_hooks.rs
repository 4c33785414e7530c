use actor_core::actor;

struct Engine;

#[actor]
impl Engine {
    fn on_stop(&mut self) {}

    async fn on_stop(&mut self) {}

    fn rev(&mut self) {}
}

fn main() {
    let _ = Engine.spawn();
}
