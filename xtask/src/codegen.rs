//! `cargo xtask codegen [--check]`: what is generated and committed, so that it cannot go stale.
//!
//! - the `#[actor]` expansion goldens of actor-macros;
//! - the quick start in the top-level README, copied from actor-core's README (which is
//!   compiled and run as a doctest).

use std::fs;

use crate::{cargo, root};

const BEGIN: &str = "<!-- quickstart:begin";
const END: &str = "<!-- quickstart:end -->";

/// The goldens are checked by an ordinary test of actor-macros; regenerating is the same test
/// with `UPDATE_EXPAND=1`, so check and update can never disagree on the expected output.
pub(crate) fn run(check: bool) -> Result<(), String> {
    let args = ["test", "--quiet", "-p", "actor-macros", "--lib", "golden"];
    if check {
        cargo(&args, &[])
            .map_err(|_| "expansion goldens are stale; run `cargo xtask codegen`".to_owned())?;
    } else {
        cargo(&args, &[("UPDATE_EXPAND", "1")])?;
    }
    quick_start(check)?;
    if !check {
        println!("xtask codegen: expansions and README quick start regenerated; review `git diff`");
    }
    Ok(())
}

/// The marked block of `text`, markers included.
fn block(text: &str, file: &str) -> Result<(usize, usize), String> {
    let start = text.find(BEGIN).ok_or_else(|| format!("{file}: no `{BEGIN}` marker"))?;
    let end = text[start..].find(END).ok_or_else(|| format!("{file}: no `{END}` marker"))?;
    Ok((start, start + end + END.len()))
}

fn quick_start(check: bool) -> Result<(), String> {
    let read = |path: &std::path::Path| {
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let source_path = root().join("actor-core").join("README.md");
    let target_path = root().join("README.md");
    let source = read(&source_path)?;
    let target = read(&target_path)?;
    let (a, b) = block(&source, "actor-core/README.md")?;
    let (c, d) = block(&target, "README.md")?;
    if source[a..b] == target[c..d] {
        return Ok(());
    }
    if check {
        return Err("README.md's quick start differs from actor-core/README.md's; run `cargo xtask codegen`".to_owned());
    }
    let updated = format!("{}{}{}", &target[..c], &source[a..b], &target[d..]);
    fs::write(&target_path, updated).map_err(|e| format!("cannot write README.md: {e}"))
}
