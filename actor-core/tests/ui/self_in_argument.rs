use actor_core::actor;

struct Counter {
    total: u64,
}

#[actor]
impl Counter {
    fn merge(&mut self, other: Self) -> u64 {
        self.total += other.total;
        self.total
    }
}

fn main() {}
