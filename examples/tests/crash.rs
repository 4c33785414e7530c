//! The crash tests, small: kill a writing child process (`crash_child`) with `SIGKILL` 5 times
//! and check every acknowledged write after each kill; kill a process running durable jobs 5
//! times and check that no job is lost and no effect is missing.

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

#[test]
fn sigkilled_job_workers_lose_no_job_and_repeat_no_effect_after_deduplication() {
    let child = Path::new(env!("CARGO_BIN_EXE_crash_child"));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64);
    let report = examples::crash_jobs::parent(child, 500, 5, seed)
        .unwrap_or_else(|e| panic!("crash run failed (seed {seed}): {e}"));
    assert_eq!((report.kills, report.jobs), (5, 500));
    assert_eq!(report.lost, 0, "seed {seed}: {report}");
    assert_eq!(report.missing_effects, 0, "seed {seed}: {report}");
    assert!(report.effects >= 500, "seed {seed}: {report}");
    assert_eq!(
        report.poison,
        (actor_store::JobStatus::Dead, examples::crash_jobs::POISON_ATTEMPTS),
        "seed {seed}: {report}"
    );
}
