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

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("codegen") => codegen(args.get(1).map(String::as_str) == Some("--check")),
        Some("bench") => bench(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci | codegen [--check] | bench [--peers] [--quick] [--only WORKLOADS] [--rounds N]>"
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

fn root() -> PathBuf {
    // xtask lives one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Runs `cargo` with `args` in the workspace root, with extra environment variables.
fn cargo(args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
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

fn ci() -> Result<(), String> {
    cargo(&["fmt", "--all", "--check"], &[])?;
    // The peers benchmark is its own workspace and is not built here; its formatting is checked
    // without resolving its dependencies.
    rustfmt_check(&root().join("peers").join("src").join("main.rs"))?;
    codegen(true)?;
    cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"], &[])?;
    cargo(&["test", "--workspace"], &[])?;
    for example in examples()? {
        cargo(&["run", "--quiet", "-p", "examples", "--example", &example, "--", "--quick"], &[])?;
    }
    cargo(&["doc", "--workspace", "--no-deps"], &[("RUSTDOCFLAGS", "-D warnings")])?;
    // The crates depend on each other and none is published yet: package them together.
    cargo(
        &[
            "package",
            "-p",
            "actor-macros",
            "-p",
            "actor-core",
            "-p",
            "actor-store",
            "-p",
            "actor-factory",
            "--no-verify",
            "--allow-dirty",
            "--quiet",
        ],
        &[],
    )?;
    println!("xtask ci: all checks passed");
    Ok(())
}

/// The goldens are checked by an ordinary test of actor-macros; regenerating is the same test
/// with `UPDATE_EXPAND=1`, so check and update can never disagree on the expected output.
fn codegen(check: bool) -> Result<(), String> {
    let args = ["test", "--quiet", "-p", "actor-macros", "--lib", "golden"];
    if check {
        cargo(&args, &[])
            .map_err(|_| "expansion goldens are stale; run `cargo xtask codegen`".to_owned())
    } else {
        cargo(&args, &[("UPDATE_EXPAND", "1")])?;
        println!(
            "xtask codegen: expansions regenerated; review `git diff actor-macros/tests/expand`"
        );
        Ok(())
    }
}

/// The names of the runnable examples, from `examples/examples/*.rs`.
fn examples() -> Result<Vec<String>, String> {
    let dir = root().join("examples").join("examples");
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

/// Where the peers section of BENCHMARKS.md begins and ends (written by `peers/`).
const PEERS_BEGIN: &str = "<!-- peers:begin -->";
const PEERS_END: &str = "<!-- peers:end -->";

/// The peers section of `markdown` (markers included) and the text around it.
fn split_peers(markdown: &str) -> Option<(&str, &str, &str)> {
    let begin = markdown.find(PEERS_BEGIN)?;
    let end = markdown[begin..].find(PEERS_END)? + begin + PEERS_END.len();
    Some((&markdown[..begin], &markdown[begin..end], &markdown[end..]))
}

fn bench(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "--peers") {
        let rest: Vec<String> = args.iter().filter(|a| *a != "--peers").cloned().collect();
        return bench_peers(&rest);
    }
    let markdown = root().join("BENCHMARKS.md");
    // The peers section comes from another program: keep it.
    let previous = std::fs::read_to_string(&markdown).unwrap_or_default();
    let peers = split_peers(&previous).map(|(_, section, _)| section.to_owned());
    let markdown = markdown.to_str().ok_or("the workspace path is not UTF-8")?;
    // One binary per crate under test, so that one benchmark's code cannot change how another's
    // is laid out.
    let mut core =
        vec!["bench", "--quiet", "-p", "examples", "--bench", "core", "--", "--markdown", markdown];
    core.extend(args.iter().map(String::as_str));
    cargo(&core, &[])?;
    // `--rounds N` is the core benchmark's only.
    let mut rest = Vec::new();
    let mut skip = false;
    for arg in args {
        if std::mem::take(&mut skip) {
            continue;
        }
        if arg == "--rounds" {
            skip = true;
            continue;
        }
        rest.push(arg.as_str());
    }
    for bench in ["store", "factory"] {
        let mut run = vec![
            "bench",
            "--quiet",
            "-p",
            "examples",
            "--bench",
            bench,
            "--",
            "--markdown-append",
            markdown,
        ];
        run.extend(rest.iter().copied());
        cargo(&run, &[])?;
    }
    if let Some(section) = peers {
        let mut md = std::fs::read_to_string(markdown).map_err(|e| e.to_string())?;
        md.push('\n');
        md.push_str(&section);
        md.push('\n');
        std::fs::write(markdown, md).map_err(|e| format!("cannot write {markdown}: {e}"))?;
    }
    println!("xtask bench: wrote {markdown}");
    Ok(())
}

/// Builds and runs the peers benchmark, then puts its section into BENCHMARKS.md in place of
/// the previous one (or at the end).
fn bench_peers(args: &[String]) -> Result<(), String> {
    let root = root();
    let section_file = root.join("target").join("peers-section.md");
    let manifest = root.join("peers").join("Cargo.toml");
    let target = root.join("target");
    let (manifest, target, section_path) = (
        manifest.to_str().ok_or("the workspace path is not UTF-8")?,
        target.to_str().ok_or("the workspace path is not UTF-8")?,
        section_file.to_str().ok_or("the workspace path is not UTF-8")?,
    );
    let mut run = vec![
        "run",
        "--release",
        "--locked",
        "--quiet",
        "--manifest-path",
        manifest,
        "--target-dir",
        target,
        "--",
        "--markdown",
        section_path,
    ];
    run.extend(args.iter().map(String::as_str));
    cargo(&run, &[])?;
    let section = std::fs::read_to_string(&section_file)
        .map_err(|e| format!("the peers benchmark wrote no section: {e}"))?;
    let markdown = root.join("BENCHMARKS.md");
    let previous = std::fs::read_to_string(&markdown).unwrap_or_default();
    let updated = match split_peers(&previous) {
        Some((before, _, after)) => format!("{before}{}{after}", section.trim_end()),
        None => format!("{}\n\n{}\n", previous.trim_end(), section.trim_end()),
    };
    std::fs::write(&markdown, updated)
        .map_err(|e| format!("cannot write {}: {e}", markdown.display()))?;
    println!("xtask bench --peers: wrote the peers section of {}", markdown.display());
    Ok(())
}
