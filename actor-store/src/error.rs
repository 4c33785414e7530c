//! [`StoreError`]: everything that can go wrong with a store, typed and named.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::schema::Schema;

/// The cause of a [`StoreError`], shared so that errors stay cheap to clone; reachable
/// through [`Error::source`](std::error::Error::source).
pub type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// A cause that is a description, with the error behind it if there is one.
#[derive(Debug)]
struct Because {
    what: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl fmt::Display for Because {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl std::error::Error for Because {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A cause that is only a description.
pub(crate) fn because(what: impl Into<String>) -> Cause {
    Arc::new(Because { what: what.into(), source: None })
}

/// A cause: `what` went wrong, because of `source`.
pub(crate) fn because_of(
    what: impl Into<String>,
    source: impl std::error::Error + Send + Sync + 'static,
) -> Cause {
    Arc::new(Because { what: what.into(), source: Some(Box::new(source)) })
}

/// An error from a store, a tree or a journal.
///
/// Causes are kept: [`Error::source`](std::error::Error::source) leads to what the storage
/// engine, the file system or the encoder reported.
///
/// Errors are cheap to clone (their payloads are shared), so that one flush failure can be
/// reported to every writer that waited on it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened (a damaged file, a permission problem, a path that is
    /// not a directory). A store that fails to open is never replaced by an empty one.
    #[error("cannot open the store at {}", path.display())]
    Open {
        /// The store's directory.
        path: PathBuf,
        /// What went wrong (the storage engine's or the file system's error).
        #[source]
        source: Cause,
    },
    /// Another handle in this process, or another process, has the store open.
    #[error("the store at {} is already open (by this process or another one)", path.display())]
    Locked {
        /// The store's directory.
        path: PathBuf,
    },
    /// The store was written in a format this release cannot read.
    #[error(
        "the store at {} has format version {found}; this release reads version {supported}",
        path.display()
    )]
    UnsupportedFormat {
        /// The store's directory.
        path: PathBuf,
        /// The format version found on disk.
        found: u32,
        /// The format version this release reads and writes.
        supported: u32,
    },
    /// A stored key or value could not be decoded: it was damaged on disk or written by
    /// something else. The damaged bytes are never returned as a value.
    #[error("corrupt data in tree `{tree}` at key {key}: {kind}")]
    Corrupt {
        /// The tree holding the damaged entry.
        tree: Arc<str>,
        /// The entry's key, printable (non-printable bytes escaped).
        key: Arc<str>,
        /// What is wrong with it.
        kind: Corruption,
    },
    /// A value could not be encoded (a serde `Serialize` impl failed).
    #[error("cannot encode a value for tree `{tree}`")]
    Encode {
        /// The tree the value was meant for.
        tree: Arc<str>,
        /// The encoder's error.
        #[source]
        source: Cause,
    },
    /// The storage engine reported an error while reading (an I/O error, or damage it found
    /// in its own files).
    #[error("the storage engine failed")]
    Storage {
        /// The engine's error.
        #[source]
        source: Cause,
    },
    /// The tree name is reserved for the store's own use.
    #[error("the tree name `{0}` is reserved (names starting with `__actor_store` are)")]
    ReservedTreeName(Arc<str>),
    /// An earlier write or flush failed; the store accepts no more writes. Reopen it to find
    /// out what is durable: every acknowledged write is.
    #[error("the store failed and accepts no more writes")]
    Failed {
        /// The first failure (an injected one, or the storage engine's error).
        #[source]
        cause: Cause,
    },
    /// The journal was recovered again, by a newer owner (a restarted incarnation, say); this
    /// older handle may no longer record events.
    #[error("the journal `{id}` was recovered by a newer owner; this handle is superseded")]
    Superseded {
        /// The journal's id.
        id: Arc<str>,
    },
    /// The store lost writes it had acknowledged: its files were damaged, and the storage
    /// engine recovered an older state (see [`DamageReport`]). The store is not served as if
    /// it were complete: open it with [`StoreOptions::salvage`](crate::StoreOptions::salvage)
    /// to read what survived, or accept the loss with [`Store::repair`](crate::Store::repair).
    #[error("the store at {} is damaged: {report}", path.display())]
    Damaged {
        /// The store's directory.
        path: PathBuf,
        /// What was lost.
        report: DamageReport,
    },
    /// The store was opened read-only for salvage; it accepts no writes.
    #[error("the store was opened read-only for salvage")]
    ReadOnly,
    /// A tree was opened with other key or value types than it was created with.
    #[error(
        "tree `{tree}` was created with {stored}, not {requested}; migrate it with `Store::migrate_tree`"
    )]
    SchemaMismatch {
        /// The tree.
        tree: Arc<str>,
        /// The schema the tree was created with.
        stored: Schema,
        /// The schema of the types it was opened with.
        requested: Schema,
    },
    /// The store's writer has stopped: the store was closed.
    #[error("the store is closed")]
    Closed,
    /// The store must be opened inside a tokio runtime, which runs its writer actor.
    #[error("a store must be opened inside a tokio runtime")]
    NoRuntime,
}

/// What a damaged store lost: acknowledged group commits that the storage engine did not
/// recover, and the trees they had written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamageReport {
    /// The last commit the store acknowledged (from its acknowledgement ledger).
    pub acknowledged: u64,
    /// The last commit the storage engine recovered.
    pub recovered: u64,
    /// Every tree that an acknowledged write of a lost commit changed: its newest
    /// acknowledged writes may be missing. Its older entries are as they were.
    pub trees: Vec<Arc<str>>,
}

impl DamageReport {
    /// How many acknowledged group commits are missing.
    pub fn lost_commits(&self) -> u64 {
        self.acknowledged.saturating_sub(self.recovered)
    }
}

impl fmt::Display for DamageReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} acknowledged commit(s) are missing (acknowledged up to {}, recovered up to {})",
            self.lost_commits(),
            self.acknowledged,
            self.recovered
        )?;
        if !self.trees.is_empty() {
            let names: Vec<&str> = self.trees.iter().map(|t| &**t).collect();
            write!(f, "; trees that lost writes: {}", names.join(", "))?;
        }
        Ok(())
    }
}

/// What is wrong with a corrupt entry; see [`StoreError::Corrupt`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Corruption {
    /// The value is shorter than its header.
    Truncated,
    /// The value's checksum does not match its key and payload.
    Checksum,
    /// The value carries an encoding version this release does not know.
    UnknownVersion(u8),
    /// The payload passed its checksum but is not a valid encoding of the expected type (the
    /// tree was opened with a different value type than it was written with).
    Decode(Arc<str>),
    /// The key is not a valid encoding of the tree's key type.
    Key(Arc<str>),
    /// The storage engine found the data it holds for this key damaged.
    Engine(Arc<str>),
    /// A journal is missing events: recovery expected `expected` and found `found`.
    JournalGap {
        /// The next sequence number recovery expected.
        expected: u64,
        /// The sequence number it found.
        found: u64,
    },
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Corruption::Truncated => f.write_str("the value is truncated"),
            Corruption::Checksum => f.write_str("checksum mismatch"),
            Corruption::UnknownVersion(v) => write!(f, "unknown encoding version {v}"),
            Corruption::Decode(reason) => write!(f, "cannot decode the value: {reason}"),
            Corruption::Key(reason) => write!(f, "cannot decode the key: {reason}"),
            Corruption::Engine(reason) => {
                write!(f, "the storage engine's data is damaged: {reason}")
            }
            Corruption::JournalGap { expected, found } => {
                write!(f, "journal gap: expected event {expected}, found {found}")
            }
        }
    }
}

/// A compare-and-swap found a different current value; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasConflict<V> {
    /// The value the key holds now (`None`: absent).
    pub current: Option<V>,
}

impl<V: fmt::Debug> fmt::Display for CasConflict<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "compare-and-swap conflict: the current value is {:?}", self.current)
    }
}

impl<V: fmt::Debug> std::error::Error for CasConflict<V> {}

/// A key's bytes, printable: ASCII as is, everything else escaped.
pub(crate) fn printable(bytes: &[u8]) -> Arc<str> {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        out.extend(std::ascii::escape_default(b).map(char::from));
    }
    out.push('"');
    Arc::from(out)
}

impl From<sled::Error> for StoreError {
    fn from(error: sled::Error) -> Self {
        StoreError::Storage { source: Arc::new(error) }
    }
}

/// Displays an error with its chain of sources, `: `-separated (for logs).
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(error) = next {
            write!(f, ": {error}")?;
            next = error.source();
        }
        Ok(())
    }
}
