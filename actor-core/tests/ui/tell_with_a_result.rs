use actor_core::actor;

struct Metrics {
    hits: u64,
}

#[actor]
impl Metrics {
    #[actor(tell)]
    fn hit(&mut self) -> u64 {
        self.hits += 1;
        self.hits
    }
}

fn main() {}
