//! A private actor type with `pub` handlers: `vis = "pub(crate)"` gives the handle a visibility
//! the private type can appear in (a `pub` handle would name it in its `Handle` impl).

use actor_core::actor;

struct Tally {
    count: u64,
}

#[actor(vis = "pub(crate)")]
impl Tally {
    pub fn bump(&mut self) -> u64 {
        self.count += 1;
        self.count
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let tally = Tally { count: 0 }.spawn().unwrap();
    assert_eq!(tally.bump().await, Ok(1));
    assert_eq!(tally.bump().await, Ok(2));
}
