//! Opening a store's files: sled's database, the format marker, the acknowledgement ledger,
//! the lock, and the creation of a new store beside the target, renamed into place.

use super::*;
use crate::error::{Cause, because, because_of};

pub(super) fn open_db(path: &Path, options: &StoreOptions) -> Result<sled::Db, StoreError> {
    let mut config = sled::Config::new().path(path).flush_every_ms(None);
    if let Some(bytes) = options.cache_bytes {
        config = config.cache_capacity(bytes);
    }
    let open_error =
        |reason: String| StoreError::Open { path: path.to_path_buf(), source: because(reason) };
    let open_cause = |source: Cause| StoreError::Open { path: path.to_path_buf(), source };
    // sled 0.34 panics on some kinds of damage instead of returning an error; a damaged store
    // must be reported, never crash the application.
    let db = catch_unwind(AssertUnwindSafe(|| config.open()));
    let db = match db {
        Ok(Ok(db)) => db,
        Ok(Err(sled::Error::Io(e))) if e.to_string().contains("could not acquire lock") => {
            return Err(StoreError::Locked { path: path.to_path_buf() });
        }
        Ok(Err(e)) => return Err(open_cause(Arc::new(e))),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no message");
            return Err(open_error(format!(
                "the storage engine panicked while recovering: {message}"
            )));
        }
    };
    check_format(&db, path)?;
    Ok(db)
}

/// Compares the commit sled recovered with the acknowledgement ledger: the meta tree, the
/// commit numbering for the writer, and what was lost if acknowledged commits are missing
/// (an error unless `salvage`).
pub(super) fn check_ledger(
    db: &sled::Db,
    path: &Path,
    salvage: bool,
) -> Result<(sled::Tree, Commits, Option<DamageReport>), StoreError> {
    let open_error =
        |reason: String| StoreError::Open { path: path.to_path_buf(), source: because(reason) };
    let open_cause = |source: Cause| StoreError::Open { path: path.to_path_buf(), source };
    let meta = db.open_tree(META_TREE).map_err(|e| open_cause(Arc::new(e)))?;
    let recovered = match meta.get(COMMIT_KEY).map_err(|e| open_cause(Arc::new(e)))? {
        None => 0,
        Some(bytes) => u64::from_be_bytes(bytes.as_ref().try_into().map_err(|_| {
            open_error(format!("the commit marker is damaged ({} bytes)", bytes.len()))
        })?),
    };
    let acknowledged = match ledger::read(path)? {
        Some(acknowledged) => acknowledged,
        None => {
            // A store written before the ledger existed: what it holds is taken as complete.
            let adopted = ledger::Acknowledged { seq: recovered, ..Default::default() };
            if !salvage {
                ledger::write_whole(path, &adopted)?;
            }
            adopted
        }
    };
    let damage = (acknowledged.seq > recovered).then(|| DamageReport {
        acknowledged: acknowledged.seq,
        recovered,
        trees: acknowledged
            .trees
            .iter()
            .filter(|&(_, &at)| at > recovered)
            .map(|(tree, _)| Arc::clone(tree))
            .collect(),
    });
    if let Some(report) = &damage {
        tracing::error!(path = %path.display(), %report, "the store lost acknowledged writes");
        if !salvage {
            return Err(StoreError::Damaged { path: path.to_path_buf(), report: report.clone() });
        }
    }
    let last = acknowledged.seq.max(recovered);
    let ledger = if salvage { None } else { Some(Ledger::open(path, acknowledged)?) };
    Ok((meta.clone(), Commits { meta, last, ledger }, damage))
}

/// Reads the format marker, or writes it into a new database.
pub(super) fn check_format(db: &sled::Db, path: &Path) -> Result<(), StoreError> {
    let open_error =
        |reason: String| StoreError::Open { path: path.to_path_buf(), source: because(reason) };
    let open_cause = |source: Cause| StoreError::Open { path: path.to_path_buf(), source };
    let meta = db.open_tree(META_TREE).map_err(|e| open_cause(Arc::new(e)))?;
    match meta.get(FORMAT_KEY).map_err(|e| open_cause(Arc::new(e)))? {
        Some(found) => {
            let bytes: [u8; 4] = found.as_ref().try_into().map_err(|_| {
                open_error(format!("the format marker is damaged ({} bytes)", found.len()))
            })?;
            let found = u32::from_be_bytes(bytes);
            if found == FORMAT_VERSION {
                Ok(())
            } else {
                Err(StoreError::UnsupportedFormat {
                    path: path.to_path_buf(),
                    found,
                    supported: FORMAT_VERSION,
                })
            }
        }
        None => {
            let others = db.tree_names().into_iter().any(|name| {
                name.as_ref() != META_TREE.as_bytes() && name.as_ref() != b"__sled__default"
            });
            Err(open_error(if others || !db.is_empty() {
                "the directory holds a sled database that was not written by actor-store (no format marker)"
                    .to_owned()
            } else {
                // A store is created elsewhere and moved into place with its marker, so an
                // empty database here is damage (sled reads a log it cannot parse as empty).
                "the database holds no format marker: its files are damaged".to_owned()
            }))
        }
    }
}

/// Waits (up to [`RELEASE_WAIT`]) until no thread of this process holds sled's lock on
/// `lock_file`: sled's background I/O threads may hold a dropped database a moment longer.
#[expect(clippy::disallowed_methods, reason = "opening a store is documented as blocking")]
pub(super) fn wait_released(lock_file: &Path) {
    let deadline = std::time::Instant::now() + RELEASE_WAIT;
    while lock_held(lock_file) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Whether something (in this process or another) holds sled's file lock on `lock_file`.
pub(super) fn lock_held(lock_file: &Path) -> bool {
    matches!(
        std::fs::File::open(lock_file).map(|file| file.try_lock()),
        Ok(Err(std::fs::TryLockError::WouldBlock))
    )
}

/// Whether `path` holds sled's files.
pub(super) fn holds_database(path: &Path) -> bool {
    path.join("conf").exists() || path.join("db").exists()
}

/// Creates a new store at `path`: built in a sibling directory with its format marker flushed,
/// then renamed into place, so that a crash during creation never leaves a half-made store that
/// would later look damaged.
pub(super) fn create(path: &Path) -> Result<(), StoreError> {
    let open_error =
        |reason: String| StoreError::Open { path: path.to_path_buf(), source: because(reason) };
    let open_cause = |source: Cause| StoreError::Open { path: path.to_path_buf(), source };
    let name =
        path.file_name().ok_or_else(|| open_error("the path has no directory name".to_owned()))?;
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| open_cause(Arc::new(e)))?;
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let staging =
        parent.join(format!(".{}.creating-{}-{nonce}", name.to_string_lossy(), std::process::id()));
    let built = (|| -> Result<(), String> {
        let db = sled::Config::new().path(&staging).open().map_err(|e| e.to_string())?;
        db.open_tree(META_TREE)
            .and_then(|meta| meta.insert(FORMAT_KEY, &FORMAT_VERSION.to_be_bytes()))
            .and_then(|_| db.flush())
            .map_err(|e| e.to_string())?;
        drop(db);
        wait_released(&staging.join("db"));
        ledger::write_whole(&staging, &ledger::Acknowledged::default())
            .map_err(|e| e.to_string())?;
        Ok(())
    })();
    if let Err(reason) = built {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(open_error(reason));
    }
    // Renaming onto an empty directory replaces it; onto anything else it fails.
    match std::fs::rename(&staging, path) {
        Ok(()) => Ok(()),
        // Another opener created the store first: use theirs.
        Err(_) if holds_database(path) => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(open_cause(because_of("cannot create the store", e)))
        }
    }
}
