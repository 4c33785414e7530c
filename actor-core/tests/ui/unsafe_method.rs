use actor_core::actor;

struct Raw;

#[actor]
impl Raw {
    unsafe fn poke(&mut self, value: u8) -> u8 {
        value
    }
}

fn main() {
    // The stand-ins carry every generated item: using them adds no error.
    let _ = Raw.spawn();
}
