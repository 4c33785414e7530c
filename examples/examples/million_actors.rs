//! A million actors: one per session, device or connection, as a service would hold them.
//!
//! Spawns 1,000,000 idle actors, sends each one message, stops them all (each handles its
//! message first), and prints the time of each phase and the resident memory: after spawning
//! (memory per idle actor) and at the peak.
//!
//! Run with `cargo run --release -p examples --example million_actors` (add `-- --quick` for
//! 100,000 actors, `-- --json` for one JSON line of figures). Numbers from a debug build are
//! meaningless.

#![expect(clippy::print_stdout, reason = "an example reports on stdout")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actor_core::actor;

/// One session: a little state of its own, counting into a total shared by all sessions.
struct Session {
    seen: u64,
    handled: Arc<AtomicU64>,
}

#[actor]
impl Session {
    /// Fire-and-forget: marks the session as seen.
    #[actor(tell)]
    fn touch(&mut self) {
        self.seen += 1;
        self.handled.fetch_add(1, Ordering::Relaxed);
    }
}

/// A figure of `/proc/self/status` in MiB (`VmRSS` now, `VmHWM` at the peak); `None` off Linux.
fn status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn rate(n: u64, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: u64 = if args.iter().any(|a| a == "--quick") { 100_000 } else { 1_000_000 };
    let json = args.iter().any(|a| a == "--json");
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    // Driven from a spawned task, as a request handler would drive it.
    runtime.block_on(async move { tokio::spawn(run(n, json)).await })??;
    Ok(())
}

async fn run(n: u64, json: bool) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let handled = Arc::new(AtomicU64::new(0));
    let before = status_mib("VmRSS:");
    let mut sessions = Vec::with_capacity(n as usize);
    let vec_mib = (n as usize * std::mem::size_of::<SessionHandle>()) as f64 / 1_048_576.0;

    let start = Instant::now();
    for _ in 0..n {
        sessions.push(Session { seen: 0, handled: Arc::clone(&handled) }.spawn()?);
    }
    let spawned = start.elapsed();
    let after_spawn = status_mib("VmRSS:");
    // What the actors take, without the vector of handles that holds them.
    let per_actor = before
        .zip(after_spawn)
        .map(|(before, after)| (after - before - vec_mib) * 1_048_576.0 / n as f64);

    let start = Instant::now();
    for session in &sessions {
        session.touch().await.map_err(|_| "a session stopped early")?;
    }
    let told = start.elapsed();

    let start = Instant::now();
    for session in &sessions {
        session.stop();
    }
    for session in &sessions {
        session.stopped().await;
    }
    let stopped = start.elapsed();
    let count = handled.load(Ordering::Relaxed);
    if count != n {
        return Err(format!("{count} of {n} messages handled").into());
    }
    let peak = status_mib("VmHWM:");

    if json {
        let opt = |v: Option<f64>| v.map_or_else(|| "null".to_owned(), |v| format!("{v:.1}"));
        println!(
            r#"{{"workload":"million_actors","system":"actor-core","per_sec":{:.0},"p50_us":null,"p99_us":null,"rss_mb":{},"actors":{n},"bytes_per_actor":{},"tell_per_sec":{:.0},"stop_per_sec":{:.0}}}"#,
            rate(n, spawned),
            opt(peak),
            opt(per_actor),
            rate(n, told),
            rate(n, stopped),
        );
        return Ok(());
    }
    println!("spawned {n} actors in {:.2} s ({:.0}/s)", spawned.as_secs_f64(), rate(n, spawned));
    if let (Some(rss), Some(per_actor)) = (after_spawn, per_actor) {
        println!("resident after spawning: {rss:.0} MiB, {per_actor:.0} bytes per idle actor");
    }
    println!("told each one message in {:.2} s ({:.0}/s)", told.as_secs_f64(), rate(n, told));
    println!(
        "stopped them all in {:.2} s ({:.0}/s); messages handled: {count}",
        stopped.as_secs_f64(),
        rate(n, stopped)
    );
    if let Some(peak) = peak {
        println!("peak resident: {peak:.0} MiB");
    }
    Ok(())
}
