//! The test actor, with a handler of every kind, and the connection to the test server.

use actor_core::{Reply, actor};
use actor_remote::Node;
use serde::{Deserialize, Serialize};

pub(crate) use actor_test_support::unique_name;

/// A node on the test server, or `None` to skip.
pub(crate) async fn node() -> Option<Node> {
    let url = actor_test_support::nats_url()?;
    Some(Node::connect(&url).await.expect("the test NATS server accepts connections"))
}

/// A value with named fields, carried both ways.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Item {
    pub(crate) name: String,
    pub(crate) qty: u32,
}

/// A store of items with handlers of every kind: exclusive and shared, sync and async, a
/// value, a `Result`, unit, a tell, a delegated reply, a panic.
#[derive(Default)]
pub(crate) struct Kitchen {
    items: Vec<Item>,
    told: u64,
}

#[actor(remote)]
impl Kitchen {
    pub(crate) fn add(&mut self, item: Item) -> usize {
        self.items.push(item);
        self.items.len()
    }

    pub(crate) fn take(&mut self, name: String) -> Result<Item, String> {
        let at = self.items.iter().position(|i| i.name == name).ok_or(format!("no {name}"))?;
        Ok(self.items.remove(at))
    }

    pub(crate) fn clear(&mut self) {
        self.items.clear();
    }

    #[actor(tell)]
    pub(crate) fn note(&mut self, n: u64) {
        self.told += n;
    }

    pub(crate) fn told(&self) -> u64 {
        self.told
    }

    pub(crate) fn count(&self, extra: u32, label: Option<String>) -> (usize, u32, Option<String>) {
        (self.items.len(), extra, label)
    }

    pub(crate) async fn slow(&self, ms: u64) -> u64 {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        ms
    }

    pub(crate) fn later(&mut self, reply: Reply<u64>) {
        reply.send(self.items.len() as u64 * 10);
    }

    pub(crate) fn boom(&mut self) -> u32 {
        panic!("boom on purpose")
    }
}
