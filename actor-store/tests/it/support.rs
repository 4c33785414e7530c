//! Shared helpers: temporary directories and a seeded random generator.

use std::path::Path;

pub(crate) use actor_test_support::{Rng, TempDir};

/// Waits (up to 5 s) until sled's background threads let go of the database in `dir`: a test
/// that drops a raw `sled::Db` and reopens the directory at once would otherwise find it locked.
pub(crate) async fn wait_unlocked(dir: &Path) {
    let lock_file = dir.join("db");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline
        && matches!(
            std::fs::File::open(&lock_file).map(|file| file.try_lock()),
            Ok(Err(std::fs::TryLockError::WouldBlock))
        )
    {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}
