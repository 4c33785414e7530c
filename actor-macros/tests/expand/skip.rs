//! `#[actor(skip)]` keeps constructors and helpers out of the message set.

use actor_core::actor;

struct Greeter {
    greeting: String,
}

#[actor]
impl Greeter {
    /// A constructor: no receiver, so it is skipped.
    #[actor(skip)]
    fn new(greeting: &str) -> Self {
        Greeter { greeting: greeting.to_owned() }
    }

    /// A helper that borrows: not a handler.
    #[actor(skip)]
    fn render(&self, name: &str) -> String {
        format!("{}, {name}!", self.greeting)
    }

    fn greet(&self, name: String) -> String {
        self.render(&name)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let greeter = Greeter::new("Hello").spawn().unwrap();
    assert_eq!(greeter.greet("Ada".into()).await.unwrap(), "Hello, Ada!");
}
