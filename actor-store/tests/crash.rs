//! The durability contract, tested with real crashes: a process writing to a store is killed
//! with `SIGKILL` at random moments; the store is reopened and every acknowledged write must be
//! there with the right bytes (sled's `test_crash_recovery.rs` is the model).
//!
//! A `harness = false` test that re-executes itself: the parent runs this binary again as the
//! child (`ACTOR_TEST_CHILD=writer`). The child opens the store and runs 8 writer tasks
//! (100-byte values, each write awaited until durable) and a persistent counter actor
//! (journal + snapshots); after each acknowledgement it prints a line. The parent kills it after
//! a random number of acknowledgements (one time in ten before it has acknowledged anything),
//! reopens the store, times the reopen and first read, and checks every write acknowledged in
//! every round so far, and the counter.
//!
//! `cargo test -p actor-store --test crash` runs 5 kills; `-- --kills 50 --seed <n>` runs more,
//! or replays a run. The last line is `kills=<k> acknowledged=<n> lost=0 recovered_ms_max=<ms>`.

#![expect(clippy::print_stdout, reason = "the crash test reports on stdout")]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use actor_core::actor;
use actor_store::{Persist, PersistOptions, Persisted, Store, StoreError, Tree};
use actor_test_support::{BoxError, Killed, Rng, child_command, run_and_kill, self_exe_child};
use serde::{Deserialize, Serialize};

const WRITERS: u64 = 8;

/// The expected 100 bytes of the value stored under `key`.
fn value_of(key: (u32, u64)) -> Vec<u8> {
    let mut x = (u64::from(key.0) << 40) ^ key.1 ^ 0x9e37_79b9_7f4a_7c15;
    (0..100)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Count {
    n: u64,
}

#[derive(Serialize, Deserialize)]
struct Incremented;

impl Persist for Count {
    type Event = Incremented;
    fn apply(&mut self, _event: &Incremented) {
        self.n += 1;
    }
}

/// A persistent actor: its count survives every kill.
struct Counter {
    count: Persisted<Count>,
}

#[actor]
impl Counter {
    async fn increment(&mut self) -> Result<u64, StoreError> {
        self.count.persist(Incremented).await?;
        Ok(self.count.n)
    }
}

fn recover_counter(store: &Store) -> Result<Persisted<Count>, StoreError> {
    Persisted::recover_with(
        store,
        "counter",
        Count::default,
        PersistOptions::new().snapshot_every(100),
    )
}

/// The child: write until killed, reporting every acknowledgement.
async fn child(dir: &Path, round: u32) -> Result<(), BoxError> {
    let store = Store::open(dir)?;
    let tree: Tree<(u32, u64), Vec<u8>> = store.tree("crash")?;
    let counter = Counter { count: recover_counter(&store)? }.spawn()?;
    println!("open");
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let tree = tree.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let key = (round, w << 32 | i);
                tree.insert(&key, &value_of(key)).await?;
                let mut out = std::io::stdout().lock();
                writeln!(out, "ack {} {}", key.0, key.1)?;
                out.flush()?;
            }
            Ok::<(), BoxError>(())
        }));
    }
    tasks.push(tokio::spawn(async move {
        loop {
            let n = counter.increment().await?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "cnt {n}")?;
            out.flush()?;
        }
    }));
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// What the parent learned from the children.
#[derive(Default)]
struct Acknowledged {
    writes: BTreeMap<(u32, u64), ()>,
    counter: u64,
    total: u64,
}

/// Runs one child and kills it after `kill_after` acknowledgements.
fn crash_once(
    dir: &Path,
    round: u32,
    kill_after: u64,
    acked: &mut Acknowledged,
) -> Result<(), BoxError> {
    let round = round.to_string();
    let child = child_command("writer", &[dir.as_os_str(), round.as_ref()])?;
    let mut acks = 0;
    let Killed { lines, stderr } = run_and_kill(child, |line| {
        acks += u64::from(line.is_some_and(|l| l.starts_with("ack ") || l.starts_with("cnt ")));
        acks < kill_after
    })?;
    if kill_after > 0 && !lines.iter().any(|l| l == "open") {
        return Err(format!("the child could not open the store: {stderr}").into());
    }
    for line in &lines {
        let mut parts = line.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("ack"), Some(r), Some(i)) => {
                acked.writes.insert((r.parse()?, i.parse()?), ());
                acked.total += 1;
            }
            (Some("cnt"), Some(n), None) => {
                acked.counter = acked.counter.max(n.parse()?);
                acked.total += 1;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Reopens the store and checks every acknowledged write; returns (lost, reopen time).
async fn verify(dir: &Path, acked: &Acknowledged) -> Result<(u64, f64), BoxError> {
    let started = Instant::now();
    let store = Store::open(dir)?;
    let tree: Tree<(u32, u64), Vec<u8>> = store.tree("crash")?;
    let _first = tree.iter().next().transpose()?;
    let recovered_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut lost = 0;
    for key in acked.writes.keys() {
        match tree.get(key)? {
            Some(value) if value == value_of(*key) => {}
            Some(_) => return Err(format!("wrong bytes under {key:?}").into()),
            None => {
                lost += 1;
                println!("LOST: acknowledged write {key:?} is missing");
            }
        }
    }
    let counter = recover_counter(&store)?;
    if counter.n < acked.counter {
        lost += acked.counter - counter.n;
        println!("LOST: counter recovered {} < acknowledged {}", counter.n, acked.counter);
    }
    drop((tree, counter));
    store.close().await?;
    Ok((lost, recovered_ms))
}

/// What a crash run found.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Report {
    /// Children killed.
    pub kills: u32,
    /// Writes and counter increments acknowledged to the parent.
    pub acknowledged: u64,
    /// Acknowledged writes (and increments) missing after a reopen.
    pub lost: u64,
    /// The longest reopen plus first read, in milliseconds.
    pub recovered_ms_max: f64,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "kills={} acknowledged={} lost={} recovered_ms_max={:.1}",
            self.kills, self.acknowledged, self.lost, self.recovered_ms_max
        )
    }
}

/// Runs `kills` rounds: start the child writing round `round`, kill it at a moment picked from
/// `seed`, reopen and check. Prints every loss as it is found.
///
/// # Errors
///
/// A child that could not open the store or ended on its own, a store that fails to reopen,
/// or a value with wrong bytes.
fn parent(kills: u32, seed: u64) -> Result<Report, BoxError> {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("actor-rs-crash_store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let runtime = tokio::runtime::Runtime::new()?;
    let mut rng = Rng::new(seed);
    let mut acked = Acknowledged::default();
    let (mut lost, mut recovered_ms_max) = (0, 0f64);
    println!("seed={seed} dir={}", dir.display());
    for round in 0..kills {
        // One kill in ten lands before the child has acknowledged anything.
        let kill_after = if rng.below(10) == 0 { 0 } else { 1 + rng.below(3000) };
        crash_once(&dir, round, kill_after, &mut acked)?;
        let (round_lost, ms) = runtime.block_on(verify(&dir, &acked))?;
        lost += round_lost;
        recovered_ms_max = recovered_ms_max.max(ms);
    }
    if lost == 0 {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(Report { kills, acknowledged: acked.total, lost, recovered_ms_max })
}

/// The child: `[dir, round]` after the program name. Writes until killed; prints `error
/// <message>` and exits with status 2 if it cannot.
fn child_main() -> ! {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = || -> Result<(), BoxError> {
        let dir = args.first().ok_or("the child needs <dir> <round>")?;
        let round: u32 = args.get(1).ok_or("the child needs <dir> <round>")?.parse()?;
        let runtime = tokio::runtime::Runtime::new()?;
        runtime.block_on(child(Path::new(dir), round))
    };
    match run() {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            println!("error {e}");
            std::process::exit(2);
        }
    }
}

fn main() -> Result<(), BoxError> {
    if self_exe_child().is_some() {
        child_main();
    }
    let kills = actor_test_support::arg("--kills")?.unwrap_or(5);
    let seed = match actor_test_support::arg("--seed")? {
        Some(seed) => seed,
        None => Rng::from_time().1,
    };
    let report = parent(kills, seed)?;
    println!("{report}");
    if report.lost == 0 && report.acknowledged > 0 {
        Ok(())
    } else {
        Err(format!("seed {seed}: acknowledged writes were lost, or none were made: {report}")
            .into())
    }
}
