//! Code shared by the runnable examples (in `examples/`) and their tests.

pub mod crash;
pub mod crash_jobs;
pub mod job_service;
pub mod pg_jobs;

/// Prints one line to stdout and flushes it at once: how child processes report to their
/// parent. A parent that went away is ignored.
pub fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
