use actor_core::{Reply, actor};

struct Oracle;

#[actor]
impl Oracle {
    /// Answers through its slot and returns a value too.
    fn both(&mut self, reply: Reply<u32>) -> u32 {
        reply.send(1);
        2
    }

    /// Fire and forget cannot apply: the slot answers a caller.
    #[actor(tell)]
    fn told(&mut self, reply: Reply<()>) {
        reply.send(());
    }

    /// Two slots.
    fn twice(&mut self, first: Reply<u32>, second: Reply<u32>) {
        first.send(1);
        second.send(2);
    }
}

#[tokio::main]
async fn main() {
    let oracle = Oracle.spawn().unwrap();
    let _ = oracle.both().await;
    let _ = oracle.told().await;
    let _ = oracle.twice().await;
}
