use actor_core::actor;

struct Ffi;

#[actor]
impl Ffi {
    extern "C" fn call(&self) -> i32 {
        0
    }
}

fn main() {
    // The stand-ins carry every generated item: using them adds no error.
    let _ = Ffi.spawn();
}
