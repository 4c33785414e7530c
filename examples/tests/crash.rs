//! The crash test, small: kills a writing child process (`crash_child`) with `SIGKILL` 5 times
//! and checks every acknowledged write after each kill.

use std::path::Path;

#[test]
fn sigkill_never_loses_an_acknowledged_write() {
    let child = Path::new(env!("CARGO_BIN_EXE_crash_child"));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64);
    let report = examples::crash::parent(child, 5, seed)
        .unwrap_or_else(|e| panic!("crash run failed (seed {seed}): {e}"));
    assert_eq!(report.kills, 5);
    assert_eq!(report.lost, 0, "seed {seed}: {report}");
    assert!(report.acknowledged > 0, "seed {seed}: nothing was acknowledged: {report}");
}
