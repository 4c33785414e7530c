use actor_core::actor;

struct Engine;

#[actor]
impl Engine {
    async fn on_strat(&mut self) {}

    fn rev(&mut self) -> u32 {
        1
    }
}

fn main() {
    let _ = async {
        let engine = Engine.spawn().unwrap();
        let _: Result<u32, _> = engine.rev().await;
    };
}
