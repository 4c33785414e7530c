//! A key-value store behind a router actor: the flagship example for actor-core.
//!
//! - `Router` is registered under a name, so any task finds it without a global sender.
//! - It owns one `Shard` child per partition and forwards each request to the shard that owns
//!   the key; a shard's state is a plain `HashMap` that no lock ever guards.
//! - Reads are shared handlers (`&self`): many run at once. Writes are exclusive.
//! - A timer reports the router's request count every 100 ms; it stops with the router.
//! - Stopping the router stops its shards first; nothing accepted is lost.
//!
//! Run with `cargo run -p examples --example kv_router`.

#![expect(clippy::print_stdout, reason = "an example reports on stdout")]

use std::collections::HashMap;
use std::future::{self, Future};
use std::time::Duration;

use actor_core::{Actor, ActorRef, BoxError, Context, Dispatch, Reply, StopReason, registry};

/// One partition of the store.
#[derive(Default)]
struct Shard {
    data: HashMap<String, String>,
}

enum ShardMsg {
    Put { key: String, value: String, reply: Reply<Option<String>> },
    Get { key: String, reply: Reply<Option<String>> },
    Len(Reply<usize>),
}

impl Actor for Shard {
    type Message = ShardMsg;

    async fn handle(&mut self, msg: ShardMsg, _ctx: &Context<Self>) {
        match msg {
            ShardMsg::Put { key, value, reply } => reply.send(self.data.insert(key, value)),
            // Reads are handled by `handle_shared`; answering here too keeps `handle` total.
            ShardMsg::Get { key, reply } => reply.send(self.data.get(&key).cloned()),
            ShardMsg::Len(reply) => reply.send(self.data.len()),
        }
    }

    fn handle_shared<'a>(
        &'a self,
        msg: ShardMsg,
        _ctx: &'a Context<Self>,
    ) -> Dispatch<impl Future<Output = ()> + Send + 'a, ShardMsg> {
        match msg {
            ShardMsg::Get { key, reply } => {
                reply.send(self.data.get(&key).cloned());
                Dispatch::<future::Ready<()>, _>::Done
            }
            other => Dispatch::Exclusive(other),
        }
    }
}

/// Routes each key to its shard.
struct Router {
    shards: Vec<ActorRef<Shard>>,
    partitions: usize,
    requests: u64,
}

enum RouterMsg {
    Put { key: String, value: String, reply: Reply<Option<String>> },
    Get { key: String, reply: Reply<Option<String>> },
    Sizes(Reply<Vec<usize>>),
    Report,
}

impl Router {
    fn shard(&self, key: &str) -> &ActorRef<Shard> {
        // FNV-1a: stable across runs, unlike the standard library's seeded hasher.
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        &self.shards[(hash % self.shards.len() as u64) as usize]
    }
}

impl Actor for Router {
    type Message = RouterMsg;

    async fn on_start(&mut self, ctx: &Context<Self>) -> Result<(), BoxError> {
        for _ in 0..self.partitions {
            self.shards.push(ctx.spawn_child(Shard::default())?);
        }
        ctx.send_interval(Duration::from_millis(100), || RouterMsg::Report);
        Ok(())
    }

    async fn on_stop(&mut self, _ctx: &Context<Self>, reason: &StopReason) {
        println!("router stopped ({reason}) after {} requests", self.requests);
    }

    async fn handle(&mut self, msg: RouterMsg, _ctx: &Context<Self>) {
        self.requests += 1;
        // Forward with `tell`, handing the caller's reply slot to the shard: the router never
        // waits for a shard, so one slow shard does not hold up the others.
        let forwarded = match msg {
            RouterMsg::Put { key, value, reply } => {
                self.shard(&key).tell(ShardMsg::Put { key, value, reply }).await.map_err(drop)
            }
            RouterMsg::Get { key, reply } => {
                self.shard(&key).tell(ShardMsg::Get { key, reply }).await.map_err(drop)
            }
            RouterMsg::Sizes(reply) => {
                let mut sizes = Vec::with_capacity(self.shards.len());
                for shard in &self.shards {
                    sizes.push(shard.ask(ShardMsg::Len).await.unwrap_or(0));
                }
                reply.send(sizes);
                Ok(())
            }
            RouterMsg::Report => {
                println!("router: {} requests so far", self.requests);
                Ok(())
            }
        };
        // A shard that stopped drops the forwarded reply, so its caller gets an error, not a hang.
        if forwarded.is_err() {
            println!("router: a shard has stopped");
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let router = actor_core::spawn(Router { shards: Vec::new(), partitions: 4, requests: 0 })?;
    registry::register("kv", &router)?;

    // Clients anywhere in the program find the store by name.
    let clients: Vec<_> = (0..8)
        .map(|client| {
            tokio::spawn(async move {
                let kv = registry::lookup::<Router>("kv")?;
                for i in 0..500 {
                    let key = format!("user:{}", (client * 500 + i) % 1_000);
                    let value = format!("client {client} write {i}");
                    kv.ask(|reply| RouterMsg::Put { key: key.clone(), value, reply }).await?;
                    let read = kv.ask(|reply| RouterMsg::Get { key, reply }).await?;
                    assert!(
                        read.is_some(),
                        "a write is visible to the next read from the same client"
                    );
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .collect();
    for client in clients {
        client.await?.map_err(|e| e.to_string())?;
    }

    let sizes = router.ask(RouterMsg::Sizes).await?;
    println!("keys per shard: {sizes:?} (total {})", sizes.iter().sum::<usize>());
    assert_eq!(sizes.iter().sum::<usize>(), 1_000);

    router.stop();
    let reason = router.stopped().await;
    assert!(!reason.is_abnormal());
    assert!(registry::lookup::<Router>("kv").is_err(), "a stopped actor leaves the registry");
    println!("done");
    Ok(())
}
