use actor_core::actor;

struct Echo;

#[actor]
impl Echo {
    fn echo(&self, reply: String) -> String {
        reply
    }
}

fn main() {}
