//! Test helpers shared by the actor-rs crates (`publish = false`): one copy of each.
//!
//! - [`TempDir`]: a directory removed when dropped.
//! - [`Rng`]: SplitMix64, small and seedable, for seeded random tests.
//! - [`run_and_kill`]: start a child process, read its lines, `SIGKILL` it at a chosen moment.
//! - [`postgres_url`], [`nats_url`] and [`unique_name`]: the test servers, or a skip.
//! - [`self_exe_child`]: the self-re-executing pattern of `harness = false` crash tests.
//! - [`damage`]: copy a store's directory and flip a byte of its files.
//! - `metrics` (feature `metrics`): a recording recorder.
//! - `spans` (feature `spans`): a recording `tracing` layer with trace ids, and a propagator.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

pub mod damage;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "spans")]
pub mod spans;

/// Any error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A directory under the system's temporary directory, removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh, empty directory path (not created) named after `tag`, unique in this process.
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("actor-rs-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// SplitMix64: small, seedable, good enough to pick test operations and moments.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A generator seeded from the clock; print the seed so that a failure can be replayed.
    pub fn from_time() -> (Rng, u64) {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(7, |d| d.as_nanos() as u64);
        (Rng(seed), seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` at least 1).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// What a child killed by [`run_and_kill`] printed: every stdout line, and its stderr.
#[derive(Debug)]
pub struct Killed {
    /// Its stdout, line by line, up to the moment it died.
    pub lines: Vec<String>,
    /// Its stderr.
    pub stderr: String,
}

/// Starts `command` and reads its stdout lines while `more` says so (asked first with `None`,
/// then with each line read), then kills it with `SIGKILL` and collects what it printed before
/// it died.
///
/// # Errors
///
/// A child that cannot be started, that ended on its own, or that printed an `error` line.
pub fn run_and_kill(
    mut command: Command,
    mut more: impl FnMut(Option<&str>) -> bool,
) -> Result<Killed, BoxError> {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
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

/// The environment variable that tells a self-re-executing test it is the child, and which.
pub const CHILD_ENV: &str = "ACTOR_TEST_CHILD";

/// In a `harness = false` test that re-executes itself as its own child process (sled's
/// crash tests are the model): the child role this process was started with, if any.
pub fn self_exe_child() -> Option<String> {
    std::env::var(CHILD_ENV).ok().filter(|role| !role.is_empty())
}

/// A command that runs this test binary again as the child `role`, with `args`.
///
/// # Errors
///
/// If the test binary cannot be found.
pub fn child_command<S: AsRef<std::ffi::OsStr>>(
    role: &str,
    args: &[S],
) -> Result<Command, BoxError> {
    let mut command = Command::new(std::env::current_exe()?);
    command.env(CHILD_ENV, role).args(args);
    Ok(command)
}

/// The value after `flag` in this process's arguments, parsed.
///
/// # Errors
///
/// A value that does not parse.
pub fn arg<T: std::str::FromStr>(flag: &str) -> Result<Option<T>, BoxError>
where
    T::Err: std::fmt::Display,
{
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)) {
        None => Ok(None),
        Some(value) => value.parse().map(Some).map_err(|e| format!("{flag} {value}: {e}").into()),
    }
}

/// The PostgreSQL server for tests, or `None` (skipped, with a message) when none is
/// configured outside CI. Under `CI=true` a missing server is a failure: `.ci/run` starts one.
///
/// # Panics
///
/// Under `CI=true` without `ACTOR_PG_URL`.
pub fn postgres_url() -> Option<String> {
    match std::env::var("ACTOR_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI=true but ACTOR_PG_URL is not set: .ci/run must start PostgreSQL")
        }
        _ => {
            eprintln!(
                "SKIPPED: no PostgreSQL server (set ACTOR_PG_URL; `.ci/postgres.sh start` starts one)"
            );
            None
        }
    }
}

/// The NATS server for tests, or `None` (skipped, with a message) when none is configured
/// outside CI. Under `CI=true` a missing server is a failure: `.ci/run` starts one.
///
/// # Panics
///
/// Under `CI=true` without `ACTOR_NATS_URL`.
pub fn nats_url() -> Option<String> {
    match std::env::var("ACTOR_NATS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI=true but ACTOR_NATS_URL is not set: .ci/run must start nats-server")
        }
        _ => {
            eprintln!(
                "SKIPPED: no NATS server (set ACTOR_NATS_URL; `.ci/nats.sh start` starts one)"
            );
            None
        }
    }
}

/// A name (of a queue, a subject) no other test run uses.
pub fn unique_name(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{tag}-{}-{nanos}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}
