//! Compile-fail tests for `#[actor]`: every rejected input gets its spanned error, and nothing
//! but the macro's own errors (`tests/ui/`). The expansions that must compile and run are
//! tested in actor-macros (`tests/fixtures.rs`).
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p actor-core ui`.

#[test]
fn ui() {
    // Compiling the cases loads every core; keep real-time tests from running meanwhile.
    let _serial = crate::support::REAL_TIME.blocking_lock();
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
