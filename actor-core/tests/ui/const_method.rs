use actor_core::actor;

struct Limits;

#[actor]
impl Limits {
    const fn max(&self) -> u32 {
        10
    }
}

fn main() {
    // The stand-ins carry every generated item: using them adds no error.
    let _ = Limits.spawn();
}
