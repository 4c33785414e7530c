//! Every expansion fixture (`tests/expand/<case>.rs`, whose expansions are the committed
//! goldens) compiles and runs against actor-core.

use std::path::Path;

#[test]
fn every_fixture_compiles_and_runs() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("expand");
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
    let cases = trybuild::TestCases::new();
    for path in paths {
        cases.pass(path);
    }
}
