use actor_core::actor;

struct Echo;

#[actor]
impl Echo {
    fn echo(&self, reply: String) -> String {
        reply
    }
}

fn main() {
    // The stand-ins carry every generated item: using them adds no error.
    let _ = Echo.spawn();
}
