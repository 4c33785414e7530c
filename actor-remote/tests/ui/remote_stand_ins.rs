use actor_core::actor;
use actor_remote::{Node, RemoteError};

struct Counter {
    count: u64,
}

// One error in the impl block: the generated remote handle and `Serve` impl still have
// stand-ins, so the code below adds no error of its own.
#[actor(remote)]
impl Counter {
    fn add(&mut self, by: u64) -> u64 {
        self.count += by;
        self.count
    }

    fn broken<'a>(&mut self, text: &'a str) -> usize {
        text.len()
    }
}

async fn use_it(node: Node) -> Result<u64, RemoteError> {
    let _served = node.serve("counter", Counter { count: 0 }.spawn().unwrap()).await?;
    let counter: CounterRemote = node.resolve("counter").await?;
    counter.add(1).await
}

fn main() {
    let _ = use_it;
}
