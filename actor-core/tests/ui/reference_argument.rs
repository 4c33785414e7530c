use actor_core::actor;

struct Greeter;

#[actor]
impl Greeter {
    fn greet(&self, name: &str) -> String {
        format!("hello {name}")
    }
}

fn main() {
    // The stand-ins carry every generated item: using them adds no error.
    let _ = Greeter.spawn();
}
