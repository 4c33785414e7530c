//! The job service of the `job_service` example: an HTTP front end (axum) over a durable job
//! queue (`actor-jobs`) consumed by a factory of workers, on the embedded store or on
//! PostgreSQL. A package of its own, so that the light examples never compile HTTP or
//! PostgreSQL crates.

pub mod client;
pub mod service;

/// Any error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Prints one line to stdout and flushes it at once: how child processes report to their
/// parent. A parent that went away is ignored.
pub fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
