//! `cargo xtask codegen [--check]`: the committed `#[actor]` expansion goldens.

use crate::cargo;

/// The goldens are checked by an ordinary test of actor-macros; regenerating is the same test
/// with `UPDATE_EXPAND=1`, so check and update can never disagree on the expected output.
pub(crate) fn run(check: bool) -> Result<(), String> {
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
