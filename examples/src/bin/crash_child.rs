//! The child process of the crash test, as a binary that integration tests can find
//! (`CARGO_BIN_EXE_crash_child`). Usage: `crash_child --child <dir> <round>`.

fn main() {
    let args: Vec<String> = std::env::args().skip(2).collect();
    examples::crash::child_main(&args)
}
