//! `cargo xtask ci`: everything CI checks, in the order that fails fastest.
//!
//! `--under-load` runs the same checks while two CPU-bound processes (busy loops, this program
//! re-executed with `__burn`) compete with them for the machine's cores, as CI's neighbours
//! do; `--runs N` repeats the checks N times in a row and stops at the first failure.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::{cargo, root};

/// The hidden subcommand that burns one core until killed.
pub(crate) const BURN: &str = "__burn";

/// Busy-loops forever: the load of `--under-load`.
pub(crate) fn burn() -> Result<(), String> {
    let mut x = 0u64;
    loop {
        x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
    }
}

/// Busy-loop processes, killed when dropped.
struct Load(Vec<Child>);

impl Load {
    fn start(processes: usize) -> Result<Load, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find xtask itself: {e}"))?;
        let mut children = Vec::new();
        for _ in 0..processes {
            let child = Command::new(&exe)
                .arg(BURN)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start a busy loop: {e}"))?;
            children.push(child);
        }
        Ok(Load(children))
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `cargo xtask ci [--under-load] [--runs N]`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut under_load = false;
    let mut runs = 1usize;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--under-load" => under_load = true,
            "--runs" => {
                runs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--runs expects a positive number")?;
            }
            other => return Err(format!("unknown option `{other}` for `ci`")),
        }
    }
    let _load = if under_load {
        println!("xtask ci: two busy-loop processes compete for the cores");
        Some(Load::start(2)?)
    } else {
        None
    };
    for round in 1..=runs {
        let start = Instant::now();
        let result = once();
        let took = start.elapsed().as_secs();
        match &result {
            Ok(()) => println!("xtask ci: run {round} of {runs} passed in {took} s"),
            Err(e) => println!("xtask ci: run {round} of {runs} failed after {took} s: {e}"),
        }
        result?;
    }
    Ok(())
}

/// The published library crates, in dependency order, with the features each one has.
const LIBRARIES: &[(&str, &[&str])] = &[
    ("actor-macros", &[]),
    ("actor-core", &["metrics", "serde"]),
    ("actor-store", &[]),
    ("actor-factory", &["metrics"]),
    ("actor-jobs", &["embedded", "postgres", "consumer", "cron", "metrics", "dashboard"]),
    ("actor-remote", &["factory"]),
];

/// The packages whose examples CI runs with `--quick`.
const EXAMPLE_PACKAGES: &[&str] = &["examples", "examples-jobs", "examples-remote"];

/// One CI pass; see the module docs.
fn once() -> Result<(), String> {
    cargo(&["fmt", "--all", "--check"], &[])?;
    // The peers benchmark is its own workspace; its formatting is checked here, its build
    // below.
    rustfmt_check(&root().join("peers").join("src").join("main.rs"))?;
    crate::codegen::run(true)?;
    cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"], &[])?;
    features()?;
    cargo(&["test", "--workspace"], &[])?;
    for package in EXAMPLE_PACKAGES {
        for example in examples(package)? {
            cargo(&["run", "--quiet", "-p", package, "--example", &example, "--", "--quick"], &[])?;
        }
    }
    cargo(&["doc", "--workspace", "--no-deps"], &[("RUSTDOCFLAGS", "-D warnings")])?;
    peers()?;
    package()?;
    println!("xtask ci: all checks passed");
    Ok(())
}

/// Each library alone, with its default features (what a user gets), without them, and with
/// each feature alone: feature unification in the workspace build hides a crate that does not
/// compile on its own.
fn features() -> Result<(), String> {
    for (crate_name, features) in LIBRARIES {
        // Clippy, so that warnings fail too, without rebuilding the dependencies.
        let clippy = |extra: &[&str]| {
            let mut args = vec!["clippy", "--quiet", "-p", crate_name, "--lib"];
            args.extend_from_slice(extra);
            args.extend(["--", "-D", "warnings"]);
            cargo(&args, &[])
        };
        clippy(&[])?;
        if features.is_empty() {
            continue;
        }
        clippy(&["--no-default-features"])?;
        for feature in *features {
            clippy(&["--no-default-features", "--features", feature])?;
        }
    }
    Ok(())
}

/// Checks that the peers benchmark still compiles against the workspace's crates (it is its own
/// workspace, with the peer frameworks as dependencies, so nothing else builds it).
fn peers() -> Result<(), String> {
    let manifest = root().join("peers").join("Cargo.toml");
    let target = root().join("target").join("peers");
    let manifest = manifest.to_str().ok_or("the workspace path is not UTF-8")?;
    let target = target.to_str().ok_or("the workspace path is not UTF-8")?;
    cargo(
        &["check", "--quiet", "--locked", "--manifest-path", manifest, "--target-dir", target],
        &[],
    )
}

/// Packages the library crates together and verifies them: cargo builds each packaged crate
/// against the others, as crates.io would.
fn package() -> Result<(), String> {
    forget_packaged_sources();
    let mut args = vec!["package", "--allow-dirty", "--quiet"];
    for (crate_name, _) in LIBRARIES {
        args.extend(["-p", crate_name]);
    }
    cargo(&args, &[])
}

/// Removes what an earlier `cargo package` extracted of our crates. Cargo verifies packages
/// against a local registry of the ones just packaged, and extracts them under
/// `$CARGO_HOME/registry/src/-<hash>/` (the local registry's directory starts with `-`); an
/// extraction of the same name and version is reused, so without this a second run would
/// verify against the first run's sources.
///
/// The same goes for what cargo built from those sources: a registry crate's fingerprint does
/// not look at its files, so the fingerprints of our crates are removed too, and verification
/// compiles them afresh.
fn forget_packaged_sources() {
    let fingerprints = root().join("target").join("debug").join(".fingerprint");
    if let Ok(entries) = std::fs::read_dir(&fingerprints) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if LIBRARIES.iter().any(|(library, _)| name.starts_with(&format!("{library}-"))) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let home = std::env::var_os("CARGO_HOME").map(std::path::PathBuf::from).or_else(|| {
        std::env::var_os("HOME").map(|home| std::path::PathBuf::from(home).join(".cargo"))
    });
    let Some(src) = home.map(|home| home.join("registry").join("src")) else { return };
    let Ok(registries) = std::fs::read_dir(&src) else { return };
    for registry in registries.flatten() {
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        let Ok(crates) = std::fs::read_dir(registry.path()) else { continue };
        for extracted in crates.flatten() {
            let name = extracted.file_name().to_string_lossy().into_owned();
            if LIBRARIES.iter().any(|(library, _)| name.starts_with(&format!("{library}-"))) {
                let _ = std::fs::remove_dir_all(extracted.path());
            }
        }
    }
}

/// The names of the runnable examples of `package`, from `<package>/examples/*.rs`.
pub(crate) fn examples(package: &str) -> Result<Vec<String>, String> {
    let dir = root().join(package).join("examples");
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let path = entry.path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    Ok(names)
}

/// Checks the formatting of a crate that is not a workspace member, from its root file.
fn rustfmt_check(file: &Path) -> Result<(), String> {
    println!("$ rustfmt --check {}", file.display());
    let status = Command::new("rustfmt")
        .args(["--check", "--edition", "2024"])
        .arg(file)
        .current_dir(root())
        .status()
        .map_err(|e| format!("could not run rustfmt: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} is not formatted; run `rustfmt --edition 2024 {0}`", file.display()))
    }
}
