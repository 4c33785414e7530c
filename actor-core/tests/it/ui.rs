//! Compile tests for `#[actor]`: every rejected input gets its spanned error (`tests/ui/`), and
//! every expansion fixture of actor-macros compiles and runs.
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p actor-core ui`.

use std::path::Path;

#[test]
fn ui() {
    // Compiling the cases loads every core; keep real-time tests from running meanwhile.
    let _serial = crate::support::REAL_TIME.blocking_lock();
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");

    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../actor-macros/tests/expand");
    let mut paths: Vec<_> = std::fs::read_dir(&fixtures)
        .expect("the expansion fixtures exist")
        .map(|entry| entry.expect("a readable entry").path())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.ends_with(".rs") && !name.ends_with(".expanded.rs")
        })
        .collect();
    paths.sort();
    assert!(paths.len() >= 10, "expected at least 10 fixtures");
    for path in paths {
        cases.pass(path);
    }
}
