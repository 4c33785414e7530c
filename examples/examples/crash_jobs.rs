//! The durable-jobs crash test: worker processes running jobs from a durable queue are killed
//! with `SIGKILL` at random moments; afterwards no job is lost, every job succeeded, and each
//! job's side effect, deduplicated by its idempotency key, happened exactly once. See
//! `examples/src/crash_jobs.rs` for how.
//!
//! Run with `cargo run --release -p examples --example crash_jobs` (10,000 jobs, 20 kills); the
//! last line is `kills=20 jobs=10000 ... lost=0 ... missing_effects=0 poison=dead@3`. The exit
//! status is non-zero if the contract was broken. `--quick` runs 1,000 jobs and 5 kills;
//! `--jobs <n>`, `--kills <n>` and `--seed <n>` change the run.

#![expect(clippy::print_stdout, reason = "an example reports on stdout")]

use examples::crash::BoxError;
use examples::crash_jobs;

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|a| a == "--jobs-child") {
        crash_jobs::child_main(&args[2..]);
    }
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1));
    let quick = args.iter().any(|a| a == "--quick");
    let jobs = value("--jobs").map_or(Ok(if quick { 1_000 } else { 10_000 }), |n| n.parse())?;
    let kills = value("--kills").map_or(Ok(if quick { 5 } else { 20 }), |n| n.parse())?;
    let seed = match value("--seed") {
        Some(seed) => seed.parse()?,
        None => {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as u64
        }
    };
    let started = std::time::Instant::now();
    let report = crash_jobs::parent(&std::env::current_exe()?, jobs, kills, seed)?;
    println!("elapsed_s={:.1}", started.elapsed().as_secs_f64());
    println!("{report}");
    if report.ok() { Ok(()) } else { Err("the durable-jobs contract was broken".into()) }
}
