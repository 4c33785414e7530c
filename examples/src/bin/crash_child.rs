//! The child process of the crash tests, as a binary that integration tests can find
//! (`CARGO_BIN_EXE_crash_child`). Usage: `crash_child --child <dir> <round>` (the store crash
//! test), `crash_child --jobs-child <dir> <total> <round>` (the durable-jobs crash test) or
//! `crash_child --pg-worker <url> <queue>` (a worker process of the PostgreSQL kill test).

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--jobs-child") => examples::crash_jobs::child_main(&args[2..]),
        Some("--pg-worker") => examples::pg_jobs::worker_main(&args[2..]),
        _ => examples::crash::child_main(&args[2..]),
    }
}
