use actor_core::actor;

struct Messy;

#[actor(mailbox = 0)]
impl Messy {
    fn by_value(self) {}

    fn borrowed(&self, name: &str) {}

    fn generic<T>(&self, value: T) {}
}

fn main() {
    // The shells of the generated types exist, so naming them adds no error.
    let _handle: Option<MessyHandle> = None;
    let _message: Option<MessyMessage> = None;
}
