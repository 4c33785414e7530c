use actor_core::actor;

struct Limits;

#[actor]
impl Limits {
    const fn max(&self) -> u32 {
        10
    }
}

fn main() {}
