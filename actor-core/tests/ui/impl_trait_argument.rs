use actor_core::actor;

struct Greeter;

#[actor]
impl Greeter {
    fn greet(&self, name: impl Into<String>) -> String {
        name.into()
    }
}

fn main() {
    // The stand-ins carry every generated item: using them adds no error.
    let _ = Greeter.spawn();
}
