//! A key-value store behind a router actor: the flagship example for actor-core.
//!
//! - `Router` is registered under a name, so any task finds it without a global sender.
//! - It owns one `Shard` child per partition, spawned by its `on_start` hook, and forwards each
//!   request to the shard that owns the key; a shard's state is a plain `HashMap` that no lock
//!   ever guards.
//! - The router's request handlers are shared (`async fn ..(&self)`): while one waits for its
//!   shard, others run, so one slow shard does not hold up the rest.
//! - A shard's reads are shared handlers too; its writes are exclusive (`&mut self`).
//! - A timer reports the router's request count every 100 ms; it stops with the router.
//! - Stopping the router stops its shards first; nothing accepted is lost.
//!
//! Run with `cargo run -p examples --example kv_router`.

#![expect(clippy::print_stdout, reason = "an example reports on stdout")]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actor_core::{AskError, Context, SpawnError, StopReason, actor, registry};

/// One partition of the store.
#[derive(Default)]
struct Shard {
    data: HashMap<String, String>,
}

#[actor]
impl Shard {
    /// Stores a value, returning the one it replaced (exclusive).
    fn put(&mut self, key: String, value: String) -> Option<String> {
        self.data.insert(key, value)
    }

    /// Reads a value (shared: reads run side by side).
    fn get(&self, key: String) -> Option<String> {
        self.data.get(&key).cloned()
    }

    /// How many keys this shard holds.
    fn size(&self) -> usize {
        self.data.len()
    }
}

/// Routes each key to its shard.
struct Router {
    partitions: usize,
    shards: Vec<ShardHandle>,
    requests: AtomicU64,
}

#[actor(max_shared = 64)]
impl Router {
    /// Spawns the shards as children: they stop before the router does.
    async fn on_start(&mut self, ctx: &Context<Self>) -> Result<(), SpawnError> {
        for _ in 0..self.partitions {
            self.shards.push(ctx.spawn_child(Shard::default())?);
        }
        ctx.send_interval(Duration::from_millis(100), RouterMessage::report);
        Ok(())
    }

    fn on_stop(&mut self, reason: &StopReason) {
        println!("router stopped ({reason}) after {} requests", self.requests.get_mut());
    }

    /// Stores a value in its shard.
    async fn put(&self, key: String, value: String) -> Result<Option<String>, AskError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.shard(&key).put(key, value).await
    }

    /// Reads a value from its shard.
    async fn get(&self, key: String) -> Result<Option<String>, AskError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.shard(&key).get(key).await
    }

    /// The number of keys in each shard.
    async fn sizes(&self) -> Result<Vec<usize>, AskError> {
        let mut sizes = Vec::with_capacity(self.shards.len());
        for shard in &self.shards {
            sizes.push(shard.size().await?);
        }
        Ok(sizes)
    }

    #[actor(tell)]
    fn report(&self) {
        println!("router: {} requests so far", self.requests.load(Ordering::Relaxed));
    }

    #[actor(skip)]
    fn shard(&self, key: &str) -> &ShardHandle {
        // FNV-1a: stable across runs, unlike the standard library's seeded hasher.
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        &self.shards[(hash % self.shards.len() as u64) as usize]
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let router =
        Router { partitions: 4, shards: Vec::new(), requests: AtomicU64::new(0) }.start().await?;
    registry::register("kv", router.actor_ref())?;

    // Clients anywhere in the program find the store by name.
    let clients: Vec<_> = (0..8)
        .map(|client| {
            tokio::spawn(async move {
                let kv = RouterHandle::lookup("kv")?;
                for i in 0..500 {
                    let key = format!("user:{}", (client * 500 + i) % 1_000);
                    kv.put(key.clone(), format!("client {client} write {i}")).await?;
                    let read = kv.get(key).await?;
                    assert!(read.is_some(), "a write is visible to the next read of its client");
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .collect();
    for client in clients {
        client.await?.map_err(|e| e.to_string())?;
    }

    let sizes = router.sizes().await?;
    println!("keys per shard: {sizes:?} (total {})", sizes.iter().sum::<usize>());
    assert_eq!(sizes.iter().sum::<usize>(), 1_000);

    let reason = router.shutdown().await;
    assert!(!reason.is_abnormal());
    assert!(RouterHandle::lookup("kv").is_err(), "a stopped actor leaves the registry");
    println!("done");
    Ok(())
}
