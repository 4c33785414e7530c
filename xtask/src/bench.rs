//! `cargo xtask bench [--peers]`: the benchmarks, and BENCHMARKS.md.

use crate::{cargo, root};

/// Where the peers section of BENCHMARKS.md begins and ends (written by `peers/`).
const PEERS_BEGIN: &str = "<!-- peers:begin -->";
const PEERS_END: &str = "<!-- peers:end -->";

/// The peers section of `markdown` (markers included) and the text around it.
fn split_peers(markdown: &str) -> Option<(&str, &str, &str)> {
    let begin = markdown.find(PEERS_BEGIN)?;
    let end = markdown[begin..].find(PEERS_END)? + begin + PEERS_END.len();
    Some((&markdown[..begin], &markdown[begin..end], &markdown[end..]))
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
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
        vec!["bench", "--quiet", "-p", "bench", "--bench", "core", "--", "--markdown", markdown];
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
    let nats = nats_url();
    for bench in ["store", "factory", "jobs", "remote"] {
        let mut run = vec![
            "bench",
            "--quiet",
            "-p",
            "bench",
            "--bench",
            bench,
            "--",
            "--markdown-append",
            markdown,
        ];
        run.extend(rest.iter().copied());
        match (&nats, bench) {
            (Some(url), "remote") => cargo(&run, &[("ACTOR_NATS_URL", url.as_str())])?,
            _ => cargo(&run, &[])?,
        }
    }
    million_actors(markdown)?;
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

/// The NATS server for the remote benchmark: `ACTOR_NATS_URL`, or one started by
/// `.ci/nats.sh` (left running, as the PostgreSQL server is); `None` if neither works.
fn nats_url() -> Option<String> {
    if let Ok(url) = std::env::var("ACTOR_NATS_URL") {
        return Some(url);
    }
    let script = root().join(".ci").join("nats.sh");
    let started = std::process::Command::new("bash").arg(&script).arg("start").status();
    if !started.is_ok_and(|s| s.success()) {
        eprintln!("xtask bench: no NATS server (install nats-server); the remote benchmark skips");
        return None;
    }
    let url = std::process::Command::new("bash").arg(&script).arg("url").output().ok()?;
    Some(String::from_utf8_lossy(&url.stdout).trim().to_owned())
}

/// Runs the `million_actors` example and appends its figures.
fn million_actors(markdown: &str) -> Result<(), String> {
    let output = std::process::Command::new(env!("CARGO"))
        .current_dir(root())
        .args([
            "run",
            "--release",
            "--quiet",
            "-p",
            "examples",
            "--example",
            "million_actors",
            "--",
            "--json",
        ])
        .output()
        .map_err(|e| format!("cannot run million_actors: {e}"))?;
    if !output.status.success() {
        return Err(format!("million_actors failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let line = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    println!("{line}");
    let field = |name: &str| -> Option<f64> {
        let start = line.find(&format!("\"{name}\":"))? + name.len() + 3;
        let rest = &line[start..];
        rest[..rest.find([',', '}'])?].parse().ok()
    };
    let section = format!(
        "\n## A million actors\n\n`cargo run --release -p examples --example million_actors`: 1,000,000 idle actors spawned ({:.0}/s), each sent one message ({:.0}/s), all stopped ({:.0}/s); **{:.0} bytes per idle actor**, peak resident **{:.0} MiB** (target < 1,200).\n",
        field("per_sec").unwrap_or(f64::NAN),
        field("tell_per_sec").unwrap_or(f64::NAN),
        field("stop_per_sec").unwrap_or(f64::NAN),
        field("bytes_per_actor").unwrap_or(f64::NAN),
        field("rss_mb").unwrap_or(f64::NAN),
    );
    let mut md = std::fs::read_to_string(markdown).map_err(|e| e.to_string())?;
    md.push_str(&section);
    std::fs::write(markdown, md).map_err(|e| format!("cannot write {markdown}: {e}"))
}

/// Builds and runs the peers benchmark, then puts its section into BENCHMARKS.md in place of
/// the previous one (or at the end).
fn bench_peers(args: &[String]) -> Result<(), String> {
    let root = root();
    let section_file = root.join("target").join("peers-section.md");
    let manifest = root.join("peers").join("Cargo.toml");
    let target = root.join("target").join("peers");
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
