use actor_core::actor;

struct Store;

#[actor]
impl Store {
    fn put<T: Send + 'static>(&mut self, value: T) {
        drop(value);
    }
}

fn main() {}
