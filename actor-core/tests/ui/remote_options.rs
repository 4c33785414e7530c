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

struct Tagged;

// A tag is the remote wire's name of the actor: it needs `remote`, and fits the frame's byte.
#[actor(tag = "billing.Tagged")]
impl Tagged {
    fn ping(&mut self) {}
}

struct BadTag;

#[actor(remote, tag = "")]
impl BadTag {
    fn ping(&mut self) {}
}

fn main() {}
