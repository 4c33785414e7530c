use actor_core::actor;

struct Versioned;

// `version` belongs to the remote protocol, and `remote` is a flag.
#[actor(version = 2)]
impl Versioned {
    fn ping(&mut self) {}
}

struct Valued;

#[actor(remote = true, version = 0)]
impl Valued {
    fn ping(&mut self) {}
}

struct Generic<T>(T);

// The wire names an actor by its type's name: no generics.
#[actor(remote)]
impl<T: Send + 'static> Generic<T> {
    fn ping(&mut self) {}
}

fn main() {}
