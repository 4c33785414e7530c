//! A small supervision tree surviving injected crashes and a stuck actor, printing the
//! supervision events as they happen.
//!
//! ```text
//! root (one-for-one)
//! ├── cache      a key-value cache; crashes on demand
//! ├── fetcher    monitored for stuck handlers (100 ms)
//! └── pipeline   a nested supervisor (rest-for-one)
//!     ├── parser
//!     └── writer restarted whenever the parser restarts
//! ```
//!
//! Every caller keeps its handle across restarts: the handles are taken once, before any crash.
//! At the end it prints the live tree of every actor (`actor_core::inspect`).
//!
//! Run with `cargo run -p examples --example supervision_tree`.

#![expect(clippy::print_stdout, reason = "an example reports on stdout")]

use std::collections::HashMap;
use std::time::Duration;

use actor_core::supervision::{ChildSpec, Strategy, SupervisionEvent, SupervisorSpec};
use actor_core::{Context, actor};

#[derive(Default)]
struct Cache {
    entries: HashMap<String, String>,
}

#[actor]
impl Cache {
    fn put(&mut self, key: String, value: String) {
        self.entries.insert(key, value);
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    /// Injected fault: a bug in a handler.
    fn corrupt(&mut self) {
        panic!("cache invariant violated");
    }
}

struct Fetcher {
    fetched: u32,
}

#[actor]
impl Fetcher {
    async fn fetch(&mut self) -> u32 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.fetched += 1;
        self.fetched
    }

    /// Injected fault: a remote call that never returns.
    async fn hang(&mut self) {
        std::future::pending::<()>().await;
    }
}

struct Stage {
    name: &'static str,
}

#[actor]
impl Stage {
    fn name(&self, ctx: &Context<Self>) -> String {
        format!("{} ({})", self.name, ctx.id())
    }

    fn crash(&mut self) {
        panic!("{} crashed", self.name);
    }
}

fn describe(event: &SupervisionEvent) -> String {
    match event {
        SupervisionEvent::Started { child, incarnation } => {
            format!("started    {child} (incarnation {incarnation})")
        }
        SupervisionEvent::Restarting { child, reason, delay } => {
            format!("restarting {child} after {delay:?}: {reason}")
        }
        SupervisionEvent::Stopped { child, reason } => format!("stopped    {child}: {reason}"),
        SupervisionEvent::Stuck { child, busy_for } => {
            format!("stuck      {child}: no progress for {busy_for:?}")
        }
        SupervisionEvent::Escalated { child, reason } => format!("escalated  {child}: {reason}"),
        other => format!("{other:?}"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The injected panics are expected: one line each instead of a backtrace.
    std::panic::set_hook(Box::new(|info| println!("  (panic: {info})")));
    // List every actor from here on, for the live tree printed at the end.
    actor_core::inspect::enable();
    let pipeline = ChildSpec::supervisor("pipeline", || {
        SupervisorSpec::new()
            .strategy(Strategy::RestForOne)
            .child(ChildSpec::new("parser", || Ok(Stage { name: "parser" })))
            .child(ChildSpec::new("writer", || Ok(Stage { name: "writer" })))
    });
    let root = SupervisorSpec::new()
        .intensity(5, Duration::from_secs(10))
        .child(ChildSpec::new("cache", || Ok(Cache::default())))
        .child(
            ChildSpec::new("fetcher", || Ok(Fetcher { fetched: 0 }))
                .stuck_after(Duration::from_millis(100)),
        )
        .child(pipeline);
    let mut events = root.subscribe();
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            println!("  [root] {}", describe(&event));
        }
    });
    let root = root.spawn().await?;

    let cache: CacheHandle = root.child("cache")?;
    let fetcher: FetcherHandle = root.child("fetcher")?;

    println!("1. a handler panics");
    cache.put("a".into(), "1".into()).await?;
    println!("   corrupt() -> {:?}", cache.corrupt().await);
    cache.put("b".into(), "2".into()).await?;
    println!(
        "   the same handle answers: {} entry (the new incarnation starts empty)",
        cache.len().await?
    );

    println!("2. a handler hangs");
    println!("   fetch() -> {:?}", fetcher.fetch().await);
    let hung = fetcher.with_timeout(Duration::from_secs(2)).hang().await;
    println!("   hang() -> {hung:?} (the watchdog dropped the stuck handler)");
    println!("   fetch() -> {:?} (fresh state)", fetcher.fetch().await);

    println!("3. a grandchild crashes under rest-for-one");
    let pipeline = root.nested("pipeline").await?;
    let mut nested = pipeline.subscribe();
    tokio::spawn(async move {
        while let Ok(event) = nested.recv().await {
            println!("  [pipeline] {}", describe(&event));
        }
    });
    let parser: StageHandle = pipeline.child("parser")?;
    let writer: StageHandle = pipeline.child("writer")?;
    println!("   parser {}, writer {}", parser.name().await?, writer.name().await?);
    println!("   parser.crash() -> {:?}", parser.crash().await);
    println!(
        "   parser {}, writer {} (same tasks, new incarnations)",
        parser.name().await?,
        writer.name().await?
    );

    // Let the event printers catch up before stopping.
    tokio::time::sleep(Duration::from_millis(50)).await;
    println!("4. the live tree (actor_core::inspect::snapshot)");
    print!("{}", actor_core::inspect::snapshot());
    println!("root stopped: {}", root.shutdown().await);
    Ok(())
}
