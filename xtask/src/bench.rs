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
    for bench in ["store", "factory", "jobs"] {
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
