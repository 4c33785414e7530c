//! actor-core side by side with kameo, ractor and actix, on one machine, in one run.
//!
//! Run with `cargo xtask bench --peers [--quick] [--rounds N] [--only WORKLOADS]`, which builds
//! this program (its own workspace: the peer frameworks are never built by the main
//! workspace's commands) and rewrites the peers section of `BENCHMARKS.md`.
//!
//! Systems: `floor` (a hand-written tokio `mpsc` + `oneshot` actor), `mutex`
//! (`Arc<tokio::sync::Mutex<u64>>`, counter workloads only), `actor-core` (`#[actor]`, pools
//! from actor-factory), `kameo`, `ractor`, `actix`, each written as its documentation shows.
//!
//! Workloads: `tell`, `ask` (p50/p99), `contended` (1,000 tasks asking one actor), `spawn`
//! (100,000 actors: spawn, ask each once, stop all, wait; rate and resident memory added),
//! `pool_noop` and `pool_1ms` (four workers, one producer).
//!
//! Every measurement runs in a fresh child process (`--child SYSTEM WORKLOAD`), so no system
//! inherits another's heap, threads or global state. Rounds interleave the systems, rotating
//! their order; each (workload, system) is reported as the median run with the min–max range.
//! Prints one JSON object per line:
//! `{"workload":…,"system":…,"per_sec":…,"p50_us":…,"p99_us":…,"rss_mb":…}` (for `spawn`,
//! `rss_mb` is the resident memory the actors added at their peak).

#![forbid(unsafe_code)]
#![expect(clippy::print_stdout, clippy::print_stderr, reason = "a benchmark reports on stdout")]

use bench::{counter, sample};

mod floor;
mod markdown;
mod measure;
mod on_actix;
mod on_kameo;
mod on_ractor;
mod ours;

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use measure::{FULL, QUICK, Run, Sizes, Threads, WORKLOADS, run_tokio};
use sample::Sample;

/// Every system, in the order of the tables.
pub(crate) const SYSTEMS: [&str; 8] =
    ["floor", "mutex", "actor-core", "kameo", "ractor", "actix", "floor-1t", "actor-core-1t"];

/// A child that has not finished after this long is killed and its run reported missing.
const CHILD_TIMEOUT: Duration = Duration::from_secs(180);

/// Runs one workload of one system in this process.
fn run_here(system: &str, workload: &str, sizes: &Sizes) -> Option<Run> {
    match system {
        "floor" => run_tokio::<floor::Floor>(workload, sizes, Threads::Two),
        "mutex" => floor::run_mutex(workload, sizes),
        "actor-core" => run_tokio::<ours::Ours>(workload, sizes, Threads::Two),
        "floor-1t" => run_tokio::<floor::Floor>(workload, sizes, Threads::One),
        "actor-core-1t" => run_tokio::<ours::Ours>(workload, sizes, Threads::One),
        "kameo" => run_tokio::<on_kameo::KameoSystem>(workload, sizes, Threads::Two),
        "ractor" => run_tokio::<on_ractor::RactorSystem>(workload, sizes, Threads::Two),
        "actix" => on_actix::run(workload, sizes),
        _ => None,
    }
}

/// Whether `system` takes part in `workload`.
fn applies(system: &str, workload: &str) -> bool {
    system != "mutex" || matches!(workload, "tell" | "ask" | "contended")
}

fn to_sample(workload: &'static str, system: &'static str, run: Run) -> Sample {
    let (p50_us, p99_us) = sample::percentiles(run.latencies);
    Sample {
        workload,
        system,
        per_sec: run.ops as f64 / run.elapsed.as_secs_f64(),
        p50_us,
        p99_us,
        rss_mb: run.rss_added_mb,
    }
}

/// Reads a number field of a JSON line printed by [`Sample::json`].
fn field(line: &str, name: &str) -> Option<f64> {
    let start = line.find(&format!("\"{name}\":"))? + name.len() + 3;
    let rest = &line[start..];
    let end = rest.find([',', '}'])?;
    rest[..end].parse().ok()
}

/// Runs one workload of one system in a child process and reads its sample back.
fn run_in_child(
    system: &'static str,
    workload: &'static str,
    quick: bool,
) -> Result<Sample, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
    let mut command = Command::new(exe);
    command.args(["--child", system, workload]).stdout(Stdio::piped()).stderr(Stdio::inherit());
    if quick {
        command.arg("--quick");
    }
    let mut child = command.spawn().map_err(|e| format!("start a child: {e}"))?;
    let started = Instant::now();
    // A benchmark harness, not a test: polling the child's exit is the simple portable way to
    // give up on a peer that hangs.
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > CHILD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{system} {workload}: no result after {CHILD_TIMEOUT:?}"));
        }
        #[expect(clippy::disallowed_methods, reason = "the parent runs no async runtime")]
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut out).map_err(|e| e.to_string())?;
    }
    if !status.success() {
        return Err(format!("{system} {workload}: the child failed ({status})"));
    }
    let line = out.lines().find(|l| l.starts_with('{')).ok_or("the child printed no sample")?;
    let per_sec = field(line, "per_sec").ok_or("no per_sec in the child's sample")?;
    Ok(Sample {
        workload,
        system,
        per_sec,
        p50_us: field(line, "p50_us"),
        p99_us: field(line, "p99_us"),
        rss_mb: field(line, "rss_mb"),
    })
}

/// Every run of one (workload, system), summarised.
pub(crate) struct Summary {
    /// The median run (by throughput).
    pub(crate) median: Sample,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) runs: usize,
}

fn summarise(mut runs: Vec<Sample>) -> Option<Summary> {
    if runs.is_empty() {
        return None;
    }
    runs.sort_by(|a, b| a.per_sec.total_cmp(&b.per_sec));
    let (min, max) = (runs[0].per_sec, runs[runs.len() - 1].per_sec);
    let count = runs.len();
    let median = runs.swap_remove(count / 2);
    Some(Summary { median, min, max, runs: count })
}

fn arg_value<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).map(String::as_str)
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let sizes = if quick { QUICK } else { FULL };

    if let Some(i) = args.iter().position(|a| a == "--child") {
        let (Some(system), Some(workload)) = (args.get(i + 1), args.get(i + 2)) else {
            eprintln!("usage: peers --child SYSTEM WORKLOAD [--quick]");
            return std::process::ExitCode::from(2);
        };
        let system = SYSTEMS.into_iter().find(|s| s == system);
        let workload = WORKLOADS.into_iter().find(|w| w == workload);
        let run = system.zip(workload).and_then(|(s, w)| Some((s, w, run_here(s, w, &sizes)?)));
        let Some((system, workload, run)) = run else {
            eprintln!("peers: unknown system or workload, or one that does not apply");
            return std::process::ExitCode::from(2);
        };
        println!("{}", to_sample(workload, system, run).json());
        return std::process::ExitCode::SUCCESS;
    }

    let rounds: usize = arg_value(&args, "--rounds")
        .and_then(|r| r.parse().ok())
        .unwrap_or(if quick { 1 } else { 5 });
    let only: Vec<&str> = arg_value(&args, "--only")
        .map_or_else(|| WORKLOADS.to_vec(), |list| list.split(',').collect());
    let workloads: Vec<&'static str> = WORKLOADS.into_iter().filter(|w| only.contains(w)).collect();

    let mut runs: Vec<Sample> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for round in 0..rounds {
        for &workload in &workloads {
            let systems: Vec<&'static str> =
                SYSTEMS.into_iter().filter(|s| applies(s, workload)).collect();
            // Rotate the order every round, so no system always runs first (cold) or last.
            for k in 0..systems.len() {
                let system = systems[(k + round) % systems.len()];
                match run_in_child(system, workload, quick) {
                    Ok(sample) => {
                        eprintln!("round {}/{rounds} {}", round + 1, sample.json());
                        runs.push(sample);
                    }
                    Err(message) => {
                        eprintln!("round {}/{rounds} {message}", round + 1);
                        failures.push(message);
                    }
                }
            }
        }
    }

    let mut summaries = Vec::new();
    for &workload in &workloads {
        for system in SYSTEMS {
            let (mine, rest): (Vec<Sample>, Vec<Sample>) =
                runs.into_iter().partition(|s| s.workload == workload && s.system == system);
            runs = rest;
            if let Some(summary) = summarise(mine) {
                println!("{}", summary.median.json());
                summaries.push(summary);
            }
        }
    }

    if let Some(path) = arg_value(&args, "--markdown") {
        let section = markdown::section(&summaries, &sizes, rounds, quick, &failures);
        if let Err(e) = std::fs::write(path, section) {
            eprintln!("peers: cannot write {path}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    if failures.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!("peers: {} run(s) failed", failures.len());
        std::process::ExitCode::FAILURE
    }
}
