//! Project automation, in Rust so that it runs wherever cargo does.
//!
//! - `cargo xtask ci`: everything CI checks, in the order that fails fastest: formatting,
//!   clippy (warnings denied), the whole test suite, every example, rustdoc (warnings denied),
//!   and that the library crates package.
//! - `cargo xtask codegen [--check]`: regenerates the committed `#[actor]` expansions of
//!   `actor-macros/tests/expand/`, or with `--check` fails naming every stale or orphaned one.
//! - `cargo xtask bench [ARGS]`: the benchmark against the hand-written baseline; prints one
//!   JSON object per line and rewrites `BENCHMARKS.md` (keeping its peers section). `ARGS` go to
//!   the benchmark (`--quick`, `--only tell,ask`, `--rounds N`).
//! - `cargo xtask bench --peers [ARGS]`: builds `peers/` (its own workspace, so kameo, ractor
//!   and actix are never built by the commands above) and runs it: actor-core against the
//!   hand-written floor, kameo, ractor and actix; prints JSON lines and rewrites the peers
//!   section of `BENCHMARKS.md`. `ARGS`: `--quick`, `--rounds N`, `--only WORKLOADS`.

#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reports to its user"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod bench;
mod ci;
mod codegen;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(&args[1..]),
        Some("codegen") => codegen::run(args.get(1).map(String::as_str) == Some("--check")),
        Some("bench") => bench::run(&args[1..]),
        // A CPU-bound busy loop: the load of `ci --under-load`.
        Some(ci::BURN) => ci::burn(),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci [--under-load] [--runs N] | codegen [--check] | bench [--peers] [--quick] [--only WORKLOADS] [--rounds N]>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn root() -> PathBuf {
    // xtask lives one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Runs `cargo` with `args` in the workspace root, with extra environment variables.
pub(crate) fn cargo(args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    println!("$ cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .status()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}
