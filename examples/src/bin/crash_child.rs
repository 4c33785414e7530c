//! The child process of the crash tests, as a binary that integration tests can find
//! (`CARGO_BIN_EXE_crash_child`). Usage: `crash_child --child <dir> <round>` (the store crash
//! test) or `crash_child --jobs-child <dir> <total> <round>` (the durable-jobs crash test).

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|a| a == "--jobs-child") {
        examples::crash_jobs::child_main(&args[2..])
    }
    examples::crash::child_main(&args[2..])
}
