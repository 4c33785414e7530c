use actor_core::actor;

struct Engine;

#[actor]
impl Engine {
    /// Returns a count, which a start hook cannot.
    async fn on_start(&mut self) -> u32 {
        0
    }

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
