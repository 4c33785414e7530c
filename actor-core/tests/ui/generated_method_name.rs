use actor_core::actor;

struct Mailer;

#[actor]
impl Mailer {
    fn tell(&mut self, message: String) -> usize {
        message.len()
    }
}

fn main() {
    // The stand-ins carry every generated item: using them adds no error.
    let _ = Mailer.spawn();
}
