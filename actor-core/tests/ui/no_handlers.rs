use actor_core::actor;

struct Empty;

#[actor]
impl Empty {
    #[actor(skip)]
    fn new() -> Self {
        Empty
    }
}

fn main() {}
