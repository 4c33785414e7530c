//! actor-store's durable writes against raw sled and a rewrite-the-whole-file writer, in the same
//! process. A binary of its own, so that its code cannot change how the message-passing
//! benchmark in `core.rs` is laid out and inlined.
//!
//! Run with `cargo xtask bench` (or `cargo bench -p bench --bench store -- [--quick]
//! [--only WORKLOADS] [--markdown-append PATH]`).
//!
//! Durable writes: acknowledged writes per second with 1, 16 and 256 concurrent writers, 100-byte
//! values (`durable_1`, `durable_16`, `durable_256`), and the time to reopen a store of many
//! keys and serve the first read (`reopen`).
//!
//! Systems:
//! - `sled-flush-each`: raw sled, one OS thread per writer, `flush` (write + fsync) after every
//!   insert: the floor without group commit.
//! - `jsonfile`: the classic design this crate replaces: a writer task owns a `HashMap`, and
//!   every write rewrites the whole map as JSON to a temporary file, fsyncs it and renames it
//!   into place before answering. Its cost grows with the map, so it runs at most
//!   `JSONFILE_MAX` writes per round (a smaller file than the others end with: in its favour).
//! - `actor-store`: `Tree::insert` from tokio tasks, acknowledged once durable (group commit).
//!
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actor_store::{Store, Tree};
use tokio::sync::{mpsc, oneshot};

use bench::sample::{Sample, median, percentiles};

const VALUE: [u8; 100] = [0x5a; 100];
const JSONFILE_MAX: u64 = 2_000;

/// Writes per round, by number of writers.
struct DurableSizes {
    rounds: usize,
    ops: [(u64, u64); 3],
    reopen_keys: u64,
}

const FULL: DurableSizes = DurableSizes {
    rounds: 3,
    ops: [(1, 2_000), (16, 8_000), (256, 25_600)],
    reopen_keys: 1_000_000,
};
const QUICK: DurableSizes =
    DurableSizes { rounds: 1, ops: [(1, 200), (16, 800), (256, 2_560)], reopen_keys: 20_000 };

/// A fresh directory under the system's temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("actor-rs-bench-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn workload(writers: u64) -> &'static str {
    match writers {
        1 => "durable_1",
        16 => "durable_16",
        _ => "durable_256",
    }
}

fn sample(
    workload: &'static str,
    system: &'static str,
    ops: u64,
    elapsed: Duration,
    latencies: Vec<u64>,
) -> Sample {
    let (p50_us, p99_us) = percentiles(latencies);
    Sample {
        workload,
        system,
        per_sec: ops as f64 / elapsed.as_secs_f64(),
        p50_us,
        p99_us,
        rss_mb: None,
    }
}

/// Raw sled, `writers` threads, flush after every insert.
fn sled_flush_each(writers: u64, ops: u64) -> Sample {
    let dir = Scratch::new("sled");
    let db = sled::Config::new().path(&dir.0).flush_every_ms(None).open().expect("open sled");
    let tree = db.open_tree("bench").expect("tree");
    let per_writer = ops / writers;
    let start = Instant::now();
    let latencies: Vec<u64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let (db, tree) = (&db, &tree);
                scope.spawn(move || {
                    let mut latencies = Vec::with_capacity(per_writer as usize);
                    for i in 0..per_writer {
                        let t = Instant::now();
                        tree.insert((w << 32 | i).to_be_bytes(), &VALUE[..]).expect("insert");
                        db.flush().expect("flush");
                        latencies.push(t.elapsed().as_nanos() as u64);
                    }
                    latencies
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("writer thread")).collect()
    });
    sample(workload(writers), "sled-flush-each", per_writer * writers, start.elapsed(), latencies)
}

enum JsonMsg {
    Set(String, String, oneshot::Sender<()>),
}

/// The rewrite-the-whole-file writer.
async fn json_writer(path: PathBuf, mut rx: mpsc::Receiver<JsonMsg>) {
    let mut map = HashMap::<String, String>::new();
    let tmp = path.with_extension("tmp");
    while let Some(JsonMsg::Set(key, value, reply)) = rx.recv().await {
        map.insert(key, value);
        let json = serde_json::to_vec(&map).expect("encode");
        let tmp = tmp.clone();
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&json)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)
        })
        .await
        .expect("writer thread")
        .expect("write the file");
        let _ = reply.send(());
    }
}

async fn jsonfile(writers: u64, ops: u64) -> Sample {
    let dir = Scratch::new("json");
    std::fs::create_dir_all(&dir.0).expect("dir");
    let (tx, rx) = mpsc::channel(1024);
    let writer = tokio::spawn(json_writer(dir.0.join("data.json"), rx));
    let per_writer = (ops.min(JSONFILE_MAX) / writers).max(1);
    let value = String::from_utf8(VALUE.to_vec()).expect("ascii");
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (tx, value) = (tx.clone(), value.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_writer as usize);
                for i in 0..per_writer {
                    let t = Instant::now();
                    let (reply, done) = oneshot::channel();
                    tx.send(JsonMsg::Set(format!("{w}:{i}"), value.clone(), reply))
                        .await
                        .expect("send");
                    done.await.expect("reply");
                    latencies.push(t.elapsed().as_nanos() as u64);
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("json writer task"));
    }
    let elapsed = start.elapsed();
    drop(tx);
    writer.await.expect("json writer");
    sample(workload(writers), "jsonfile", per_writer * writers, elapsed, latencies)
}

async fn actor_store(writers: u64, ops: u64) -> Sample {
    let dir = Scratch::new("store");
    let store = Store::open(&dir.0).expect("open store");
    let tree: Tree<u64, Vec<u8>> = store.tree("bench").expect("tree");
    let per_writer = ops / writers;
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let tree = tree.clone();
            tokio::spawn(async move {
                let value = VALUE.to_vec();
                let mut latencies = Vec::with_capacity(per_writer as usize);
                for i in 0..per_writer {
                    let t = Instant::now();
                    tree.insert(&(w << 32 | i), &value).await.expect("insert");
                    latencies.push(t.elapsed().as_nanos() as u64);
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("store writer task"));
    }
    let elapsed = start.elapsed();
    drop(tree);
    store.close().await.expect("close");
    sample(workload(writers), "actor-store", per_writer * writers, elapsed, latencies)
}

/// Fills a store with `keys` keys, then times open + first read, three times.
async fn reopen(keys: u64) -> Vec<Sample> {
    let dir = Scratch::new("reopen");
    {
        let store = Store::open(&dir.0).expect("open store");
        let tree: Tree<u64, Vec<u8>> = store.tree("bench").expect("tree");
        let value = VALUE.to_vec();
        let mut next = 0;
        while next < keys {
            let mut batch = tree.batch();
            for k in next..(next + 10_000).min(keys) {
                batch.insert(&k, &value).expect("encode");
            }
            tree.apply(batch).await.expect("apply");
            next += 10_000;
        }
        drop(tree);
        store.close().await.expect("close");
    }
    let (mut store_runs, mut sled_runs) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let start = Instant::now();
        let store = Store::open(&dir.0).expect("reopen store");
        let tree: Tree<u64, Vec<u8>> = store.tree("bench").expect("tree");
        assert_eq!(tree.get(&(keys / 2)).expect("first read"), Some(VALUE.to_vec()));
        store_runs.push(start.elapsed());
        drop(tree);
        store.close().await.expect("close");

        let start = Instant::now();
        let db = sled::open(&dir.0).expect("reopen sled");
        let raw = db.open_tree("bench").expect("tree");
        assert!(raw.first().expect("first read").is_some());
        sled_runs.push(start.elapsed());
        drop((raw, db));
        wait_unlocked(&dir.0.join("db")).await;
    }
    let summarise = |system: &'static str, mut runs: Vec<Duration>| {
        runs.sort();
        let median = runs[runs.len() / 2];
        Sample {
            workload: "reopen",
            system,
            per_sec: 1.0 / median.as_secs_f64(),
            p50_us: Some(median.as_secs_f64() * 1e6),
            p99_us: runs.last().map(|d| d.as_secs_f64() * 1e6),
            rss_mb: None,
        }
    };
    vec![summarise("sled", sled_runs), summarise("actor-store", store_runs)]
}

/// sled's background threads may hold a dropped database's lock a moment longer.
async fn wait_unlocked(lock_file: &Path) {
    for _ in 0..1000 {
        match std::fs::File::open(lock_file).map(|file| file.try_lock()) {
            Ok(Err(std::fs::TryLockError::WouldBlock)) => {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            _ => return,
        }
    }
}

/// Every durable workload; systems alternate within each round.
async fn run(sizes: &DurableSizes, only: &dyn Fn(&str) -> bool) -> Vec<Sample> {
    let mut results = Vec::new();
    for (writers, ops) in sizes.ops {
        if !only(workload(writers)) {
            continue;
        }
        let (mut sled, mut json, mut store) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..sizes.rounds {
            sled.push(
                tokio::task::spawn_blocking(move || sled_flush_each(writers, ops))
                    .await
                    .expect("sled"),
            );
            json.push(jsonfile(writers, ops).await);
            store.push(tokio::spawn(actor_store(writers, ops)).await.expect("actor-store"));
        }
        results.extend(median(sled).into_iter().chain(median(json)).chain(median(store)));
    }
    if only("reopen") {
        results.extend(tokio::spawn(reopen(sizes.reopen_keys)).await.expect("reopen"));
    }
    results
}

/// The durable-writes section of BENCHMARKS.md.
fn markdown(samples: &[Sample], reopen_keys: u64) -> String {
    use std::fmt::Write as _;
    let find = |workload: &str, system: &str| {
        samples.iter().find(|s| s.workload == workload && s.system == system)
    };
    let fmt = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.0}"));
    let mut md = String::new();
    md.push_str("\n## Durable writes (actor-store)\n\n");
    md.push_str(
        "Acknowledged durable writes per second, 100-byte values. `sled-flush-each`: raw sled, a thread per writer, \
         flush after every insert. `jsonfile`: a writer rewriting the whole map as JSON (write, fsync, rename) per write, \
         at most 2,000 writes per round. `actor-store`: `Tree::insert`, group commit.\n\n",
    );
    md.push_str("| workload | sled-flush-each /s | jsonfile /s | actor-store /s | actor-store / sled-flush-each | target | p50 µs (sled / store) | p99 µs (sled / store) |\n");
    md.push_str("|---|---|---|---|---|---|---|---|\n");
    for (workload, target) in [("durable_1", 0.8), ("durable_16", 0.0), ("durable_256", 10.0)] {
        let (Some(sled), Some(store)) =
            (find(workload, "sled-flush-each"), find(workload, "actor-store"))
        else {
            continue;
        };
        let json = find(workload, "jsonfile")
            .map_or_else(|| "–".to_owned(), |j| format!("{:.0}", j.per_sec));
        let ratio = store.per_sec / sled.per_sec;
        let target = if target == 0.0 {
            "–".to_owned()
        } else {
            format!("≥ {target}× ({})", if ratio >= target { "met" } else { "missed" })
        };
        let _ = writeln!(
            md,
            "| {workload} | {:.0} | {json} | {:.0} | **{ratio:.2}×** | {target} | {} / {} | {} / {} |",
            sled.per_sec,
            store.per_sec,
            fmt(sled.p50_us),
            fmt(store.p50_us),
            fmt(sled.p99_us),
            fmt(store.p99_us),
        );
    }
    if let (Some(sled), Some(store)) = (find("reopen", "sled"), find("reopen", "actor-store")) {
        let ms = |v: Option<f64>| v.map_or(f64::NAN, |us| us / 1e3);
        let _ = writeln!(
            md,
            "\nReopen a store of {reopen_keys} keys and serve the first read: actor-store **{:.0} ms** (median of 3, worst {:.0} ms; target < 1,000 ms), raw sled {:.0} ms.",
            ms(store.p50_us),
            ms(store.p99_us),
            ms(sled.p50_us),
        );
    }
    md
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let sizes = if quick { QUICK } else { FULL };
    let only: Vec<&str> = match args.iter().position(|a| a == "--only") {
        Some(i) => args.get(i + 1).map_or(Vec::new(), |list| list.split(',').collect()),
        None => {
            vec!["durable_1", "durable_16", "durable_256", "reopen"]
        }
    };
    let selected = |workload: &str| only.contains(&workload);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let samples = runtime.block_on(run(&sizes, &selected));
    for sample in &samples {
        println!("{}", sample.json());
    }
    if !samples.is_empty() {
        bench::sample::append_markdown(&args, &markdown(&samples, sizes.reopen_keys));
    }
}
