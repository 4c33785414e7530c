use actor_core::actor;

struct Empty;

#[actor]
impl Empty {
    #[actor(skip)]
    fn new() -> Self {
        Empty
    }
}

fn main() {
    // The stand-ins carry every generated item: using them adds no error.
    let _ = Empty.spawn();
}
