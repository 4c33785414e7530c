//! The crash test: kill a process that is writing to a store with `SIGKILL` at random moments,
//! reopen the store, and check that every acknowledged write is there with the right bytes.
//! See `examples/src/crash.rs` for how.
//!
//! Run with `cargo run --release -p examples --example crash_store -- --kills 50`; the last line
//! is `kills=50 acknowledged=<n> lost=0 recovered_ms_max=<ms>`. The exit status is non-zero if
//! anything acknowledged was lost. `--quick` runs 5 kills; `--seed <n>` replays a run.

#![expect(clippy::print_stdout, reason = "an example reports on stdout")]

use examples::crash::{self, BoxError};

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|a| a == "--child") {
        crash::child_main(&args[2..]);
    }
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1));
    let kills = if args.iter().any(|a| a == "--quick") {
        5
    } else {
        value("--kills").map_or(Ok(50), |k| k.parse())?
    };
    let seed = match value("--seed") {
        Some(seed) => seed.parse()?,
        None => {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as u64
        }
    };
    let report = crash::parent(&std::env::current_exe()?, kills, seed)?;
    println!("{report}");
    if report.lost == 0 { Ok(()) } else { Err("acknowledged writes were lost".into()) }
}
