//! The flagship scenario: a key-value store behind a router actor, persisted by a writer actor,
//! watched by a heartbeat supervisor that resets stuck actors.
//!
//! ```text
//! supervisor (one-for-one, heartbeat 200 ms)
//! ├── kv-0    DurableKv over tree "shard-0"  ─┐
//! ├── kv-1    DurableKv over tree "shard-1"  ─┼─> the store's writer actor (group commit) -> sled
//! └── router  routes each key to its shard   ─┘
//! ```
//!
//! The program writes a batch of keys through the router, resets a key-value actor by force,
//! lets the heartbeat reset the router while one of its handlers hangs, and shows that every
//! key is intact. The data lives in a directory that outlives the process: run the command
//! again and it shows what the earlier runs wrote.
//!
//! Run with `cargo run --release -p examples --example kv_store` (again, to see the data from
//! the first run). `--data <dir>` picks the directory; `--quick` uses a fresh temporary one and
//! runs twice in one process.

#![expect(clippy::print_stdout, reason = "an example reports on stdout")]

use std::ops::Bound;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use actor_core::supervision::{ChildSpec, SupervisionEvent, SupervisorSpec};
use actor_core::{CallError, actor};
use actor_store::{DurableKv, DurableKvHandle, Store, StoreError};

type Shard = DurableKvHandle<String, String>;

/// Routes each key to the shard that owns it.
struct Router {
    shards: Vec<Shard>,
}

impl Router {
    fn shard(&self, key: &str) -> &Shard {
        // FNV-1a: stable across runs, unlike the standard library's seeded hasher.
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        &self.shards[(hash % self.shards.len() as u64) as usize]
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A shard's failure as the router passes it on: the store's error, or the shard's ask error.
type ShardError = CallError<StoreError>;

#[actor(max_shared = 1024)]
impl Router {
    async fn put(&self, key: String, value: String) -> Result<(), ShardError> {
        self.shard(&key).set(key, value).await.map(drop)
    }

    async fn get(&self, key: String) -> Result<Option<String>, ShardError> {
        self.shard(&key).get(key).await
    }

    /// Every key with `prefix`, from every shard, in key order.
    async fn scan(&self, prefix: String) -> Result<Vec<(String, String)>, ShardError> {
        let mut all = Vec::new();
        for shard in &self.shards {
            let start = Bound::Included(prefix.clone());
            let page = shard.range(start, Bound::Unbounded, usize::MAX).await?;
            all.extend(page.into_iter().take_while(|(k, _)| k.starts_with(&prefix)));
        }
        all.sort();
        Ok(all)
    }

    /// Injected fault: a backend call that never returns. The heartbeat notices.
    async fn hang(&mut self) {
        std::future::pending::<()>().await;
    }
}

async fn run(dir: &PathBuf, keys: usize) -> Result<(), BoxError> {
    let started = Instant::now();
    let store = Store::open(dir)?;
    println!(
        "store {} opened in {:.1?} (existing data: {})",
        dir.display(),
        started.elapsed(),
        store.was_recovered()
    );

    let shard_spec = |n: usize| -> Result<ChildSpec, BoxError> {
        let tree = store.tree::<String, String>(&format!("shard-{n}"))?;
        Ok(ChildSpec::new(format!("kv-{n}"), move || Ok(DurableKv::new(tree.clone())))
            .stuck_after(Duration::from_millis(200)))
    };
    let spec = SupervisorSpec::new().intensity(5, Duration::from_secs(10));
    let events = spec.subscribe();
    let supervisor = spec.child(shard_spec(0)?).child(shard_spec(1)?);
    // The router's factory finds the shards' handles through the supervisor, after they start.
    let supervisor = supervisor.spawn().await?;
    let shards: Vec<Shard> =
        (0..2).map(|n| supervisor.child(&format!("kv-{n}"))).collect::<Result<_, _>>()?;
    let router_spec = SupervisorSpec::new().intensity(5, Duration::from_secs(10));
    let router_events = router_spec.subscribe();
    let routers = router_spec
        .child({
            let shards = shards.clone();
            ChildSpec::new("router", move || Ok(Router { shards: shards.clone() }))
                .stuck_after(Duration::from_millis(200))
        })
        .spawn()
        .await?;
    let router: RouterHandle = routers.child("router")?;
    let log = tokio::spawn(print_events(events));
    let router_log = tokio::spawn(print_events(router_events));

    // What earlier runs left.
    let run = match router.get("meta:runs".to_owned()).await? {
        Some(n) => n.parse::<u64>()? + 1,
        None => 1,
    };
    let earlier = router.scan("user:".to_owned()).await?;
    if run == 1 {
        println!("run 1: the store is empty");
    } else {
        let last = earlier.last().map_or("-".to_owned(), |(k, v)| format!("{k} = {v}"));
        println!(
            "run {run}: found {} keys from {} earlier run(s); last: {last}",
            earlier.len(),
            run - 1
        );
    }

    // Write this run's keys concurrently: each `put` returns once durable.
    let started = Instant::now();
    let writes: Vec<_> = (0..keys)
        .map(|i| {
            let router = router.clone();
            tokio::spawn(async move {
                router.put(format!("user:{run:03}:{i:05}"), format!("run {run} value {i}")).await
            })
        })
        .collect();
    for write in writes {
        write.await??;
    }
    router.put("meta:runs".to_owned(), run.to_string()).await?;
    let stats = store.stats();
    println!(
        "wrote {keys} keys in {:.1?}, each acknowledged once durable ({} writes shared {} flushes so far)",
        started.elapsed(),
        stats.writes,
        stats.flushes
    );

    // Reset a key-value actor by force, as an operator would.
    supervisor.child::<Shard>("kv-0")?.actor_ref().control().fail("operator reset");
    // And let the heartbeat reset the router, whose handler hangs.
    let hung = router.clone();
    let hang = tokio::spawn(async move { hung.hang().await });
    let outcome = hang.await?;
    println!(
        "the hung call ended with: {}",
        outcome.map_or_else(|e| e.to_string(), |()| "ok".to_owned())
    );

    let mine = router.scan(format!("user:{run:03}:")).await?;
    let intact = mine.iter().enumerate().all(|(i, (k, v))| {
        *k == format!("user:{run:03}:{i:05}") && *v == format!("run {run} value {i}")
    });
    let total = router.scan("user:".to_owned()).await?.len();
    println!(
        "after the resets: {}/{keys} keys of this run intact ({}), {total} keys in all",
        mine.len(),
        if intact && mine.len() == keys { "ok" } else { "DAMAGED" }
    );
    if !intact || mine.len() != keys || total != earlier.len() + keys {
        return Err("data lost".into());
    }

    routers.shutdown().await;
    supervisor.shutdown().await;
    log.abort();
    router_log.abort();
    drop(shards);
    drop(router);
    store.close().await?;
    println!("run {run} done; run the same command again to see this data");
    Ok(())
}

async fn print_events(mut events: tokio::sync::broadcast::Receiver<SupervisionEvent>) {
    while let Ok(event) = events.recv().await {
        match event {
            SupervisionEvent::Started { incarnation: 1, .. } => {}
            other => println!("  supervision: {other}"),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let data = args.iter().position(|a| a == "--data").and_then(|i| args.get(i + 1));
    if quick {
        let dir =
            std::env::temp_dir().join(format!("actor-rs-kv_store-quick-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let result = async {
            run(&dir, 200).await?;
            run(&dir, 200).await
        }
        .await;
        let _ = std::fs::remove_dir_all(&dir);
        return result;
    }
    let dir = data.map_or_else(|| std::env::temp_dir().join("actor-rs-kv_store"), PathBuf::from);
    run(&dir, 2000).await
}
