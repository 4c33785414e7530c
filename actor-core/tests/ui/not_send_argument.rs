use std::rc::Rc;

use actor_core::actor;

struct Counter;

#[actor]
impl Counter {
    fn add(&mut self, by: Rc<u32>) -> u32 {
        *by
    }
}

fn main() {
    let _ = async {
        let counter = Counter.spawn().unwrap();
        let _ = counter.add(Rc::new(1)).await;
    };
}
