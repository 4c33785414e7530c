//! The crash test behind `examples/crash_store.rs` and the `crash` integration test: kill a
//! process that is writing to a store with `SIGKILL` at random moments, reopen the store, and
//! check that every acknowledged write is there with the right bytes.
//!
//! The parent ([`parent`]) starts a child program ([`child_main`]: the example itself with
//! `--child <dir> <round>`, or the `crash_child` binary). The child opens the store and runs 8
//! writer tasks (100-byte values, each write awaited until durable) and a persistent counter
//! actor (journal + snapshots); after each acknowledgement it prints a line to the parent. The
//! parent kills it after a random number of acknowledgements (one time in ten before it has
//! acknowledged anything), reopens the store, times the reopen and first read, and checks
//! every write acknowledged in every round so far, and the counter.

#![expect(clippy::print_stdout, reason = "the crash test reports on stdout")]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use actor_core::actor;
use actor_store::{Persist, PersistOptions, Persisted, Store, StoreError, Tree};
use serde::{Deserialize, Serialize};

/// Any error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

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

/// SplitMix64, to pick the moments of the kills.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

/// What the parent learned from the children.
#[derive(Default)]
struct Acknowledged {
    writes: BTreeMap<(u32, u64), ()>,
    counter: u64,
    total: u64,
}

/// What a child killed by [`run_and_kill`] printed: every stdout line, and its stderr.
pub(crate) struct Killed {
    pub(crate) lines: Vec<String>,
    pub(crate) stderr: String,
}

/// Starts `exe args` and reads its stdout lines while `more` says so (asked first with `None`,
/// then with each line read), then kills it with `SIGKILL` and collects what it printed before
/// it died.
///
/// # Errors
///
/// A child that cannot be started, that ended on its own, or that printed an `error` line.
pub(crate) fn run_and_kill(
    exe: &Path,
    args: &[&OsStr],
    mut more: impl FnMut(Option<&str>) -> bool,
) -> Result<Killed, BoxError> {
    let mut child =
        Command::new(exe).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let mut go_on = more(None);
    while go_on {
        let Ok(line) = rx.recv() else { break };
        go_on = more(Some(&line));
        lines.push(line);
    }
    child.kill()?; // SIGKILL
    let status = child.wait()?;
    // Everything the child printed before it died is still in the pipe.
    lines.extend(rx.iter());
    reader.join().map_err(|_| "reader thread panicked")?;
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        std::io::Read::read_to_string(&mut err, &mut stderr)?;
    }
    if status.success() || lines.iter().any(|l| l.starts_with("error")) {
        let errors: Vec<&String> = lines.iter().filter(|l| l.starts_with("error")).collect();
        return Err(format!("the child ended on its own ({status}): {errors:?} {stderr}").into());
    }
    Ok(Killed { lines, stderr })
}

/// Runs one child and kills it after `kill_after` acknowledgements.
fn crash_once(
    exe: &Path,
    dir: &Path,
    round: u32,
    kill_after: u64,
    acked: &mut Acknowledged,
) -> Result<(), BoxError> {
    let round = round.to_string();
    let args = [OsStr::new("--child"), dir.as_os_str(), OsStr::new(&round)];
    let mut acks = 0;
    let Killed { lines, stderr } = run_and_kill(exe, &args, |line| {
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
pub struct Report {
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

/// Runs `kills` rounds: start `exe --child <dir> <round>`, kill it at a moment picked from
/// `seed`, reopen and check. Prints every loss as it is found.
///
/// # Errors
///
/// A child that could not open the store or ended on its own, a store that fails to reopen,
/// or a value with wrong bytes.
pub fn parent(exe: &Path, kills: u32, seed: u64) -> Result<Report, BoxError> {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("actor-rs-crash_store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let runtime = tokio::runtime::Runtime::new()?;
    let mut rng = Rng(seed);
    let mut acked = Acknowledged::default();
    let (mut lost, mut recovered_ms_max) = (0, 0f64);
    println!("seed={seed} dir={}", dir.display());
    for round in 0..kills {
        // One kill in ten lands before the child has acknowledged anything.
        let kill_after = if rng.below(10) == 0 { 0 } else { 1 + rng.below(3000) };
        crash_once(exe, &dir, round, kill_after, &mut acked)?;
        let (round_lost, ms) = runtime.block_on(verify(&dir, &acked))?;
        lost += round_lost;
        recovered_ms_max = recovered_ms_max.max(ms);
    }
    if lost == 0 {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(Report { kills, acknowledged: acked.total, lost, recovered_ms_max })
}

/// The child's entry point: `args` are `[dir, round]`. Writes until killed; prints `error
/// <message>` and exits with status 2 if it cannot.
pub fn child_main(args: &[String]) -> ! {
    let run = || -> Result<(), BoxError> {
        let dir = args.first().ok_or("--child <dir> <round>")?;
        let round: u32 = args.get(1).ok_or("--child <dir> <round>")?.parse()?;
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
