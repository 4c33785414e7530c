//! [`Store`]: opening a database, its writer actor, and the typed trees in it.

use std::collections::HashSet;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use actor_core::{AskError, CallError, Mailbox, SpawnOptions};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::Key;
use crate::error::{DamageReport, StoreError};
use crate::fault::FaultPlan;
use crate::ledger::{self, Ledger};
use crate::schema::Schema;
use crate::tree::Tree;
use crate::writer::{Applied, COMMIT_KEY, Commits, Health, WriteOp, Writer, WriterHandle};

mod open;
use open::{check_ledger, create, holds_database, lock_held, open_db, wait_released};

/// The on-disk format this release reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Names starting with this are the store's own trees.
pub(crate) const RESERVED: &str = "__actor_store";
const META_TREE: &str = "__actor_store/meta";
const FORMAT_KEY: &[u8] = b"format";
/// How long [`Store::close`] waits for the storage engine's threads to release the files.
const RELEASE_WAIT: Duration = Duration::from_secs(5);

/// Paths opened by this process: sled's file lock does not stop a second open in the same
/// process from failing confusingly, so this set reports it as [`StoreError::Locked`].
static OPEN: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// How to open a [`Store`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    mailbox: usize,
    cache_bytes: Option<u64>,
    faults: Option<Arc<FaultPlan>>,
    salvage: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { mailbox: 4096, cache_bytes: None, faults: None, salvage: false }
    }
}

impl StoreOptions {
    /// The defaults: a writer mailbox of 4,096 writes, sled's default cache.
    pub fn new() -> Self {
        StoreOptions::default()
    }

    /// How many writes may wait in the writer's mailbox before writers wait for room
    /// (backpressure). Values below 1 are raised to 1.
    pub fn writer_mailbox(mut self, capacity: usize) -> Self {
        self.mailbox = capacity.max(1);
        self
    }

    /// The storage engine's page cache size in bytes.
    pub fn cache_bytes(mut self, bytes: u64) -> Self {
        self.cache_bytes = Some(bytes);
        self
    }

    /// Injects write or flush failures from `plan`; see [`fault`](crate::fault).
    pub fn faults(mut self, plan: Arc<FaultPlan>) -> Self {
        self.faults = Some(plan);
        self
    }

    /// Opens the store read-only, even if it is damaged ([`StoreError::Damaged`]): reads see
    /// what the storage engine recovered, [`Store::damage`] says what was lost, and every write
    /// fails with [`StoreError::ReadOnly`]. For copying out what survived; see also
    /// [`Store::repair`].
    pub fn salvage(mut self) -> Self {
        self.salvage = true;
        self
    }
}

/// Counters of a store's write path; see [`Store::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    /// Writes applied.
    pub writes: u64,
    /// Flushes started: with group commit, usually far fewer than writes.
    pub flushes: u64,
}

/// A durable store: a sled database whose only writer is an actor; see the
/// [crate docs](crate) for the durability contract.
///
/// `Store` is a cheap handle: clones share the database and the writer. The database stays open
/// while any handle or [`Tree`] of it lives; [`Store::close`] stops the writer after a last
/// flush.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    meta: sled::Tree,
    path: PathBuf,
    writer: WriterHandle,
    health: Arc<Health>,
    recovered: bool,
    /// What a store opened for salvage lost.
    damage: Option<DamageReport>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        unregister(&self.path);
    }
}

/// Forgets that this process has the store at `path` open.
fn unregister(path: &Path) {
    let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(paths) = open.as_mut() {
        paths.remove(path);
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store in directory `path`, creating it if it does not exist, and starts its
    /// writer actor on the current tokio runtime.
    ///
    /// Opening recovers whatever the last process made durable. It blocks while the storage
    /// engine reads its log; call it from `spawn_blocking` if that matters to you.
    ///
    /// # Errors
    ///
    /// [`StoreError::Open`] if the database cannot be opened or is damaged (it is never
    /// replaced by an empty one), [`StoreError::Locked`] if it is open already,
    /// [`StoreError::UnsupportedFormat`] if a newer release wrote it, and
    /// [`StoreError::NoRuntime`] outside a tokio runtime.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Store::open_with(path, StoreOptions::default())
    }

    /// [`Store::open`] with options.
    ///
    /// # Errors
    ///
    /// As [`Store::open`].
    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(StoreError::NoRuntime);
        }
        let recovered = holds_database(&path);
        if !recovered {
            create(&path)?;
        }
        let key = std::fs::canonicalize(&path)
            .map_err(|e| StoreError::Open { path: path.clone(), source: Arc::new(e) })?;
        {
            let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
            if !open.get_or_insert_with(HashSet::new).insert(key.clone()) {
                return Err(StoreError::Locked { path });
            }
        }
        let opened = open_db(&path, &options).and_then(|db| {
            let checked = check_ledger(&db, &path, options.salvage)?;
            Ok((db, checked))
        });
        let (db, (meta, commits, damage)) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                unregister(&key);
                return Err(e);
            }
        };
        let health = Arc::new(Health { read_only: options.salvage, ..Health::default() });
        let spawned = Writer::new(db.clone(), Arc::clone(&health), options.faults, commits)
            .and_then(|w| {
                w.spawn_with(
                    SpawnOptions::new()
                        .with_name("actor-store-writer")
                        .with_mailbox(Mailbox::Bounded(options.mailbox)),
                )
                .map_err(|_| StoreError::NoRuntime)
            });
        // From here on `Inner` owns the registration in `OPEN`.
        let writer = match spawned {
            Ok(writer) => writer,
            Err(e) => {
                unregister(&key);
                return Err(e);
            }
        };
        Ok(Store {
            inner: Arc::new(Inner { db, meta, path: key, writer, health, recovered, damage }),
        })
    }

    /// What a store opened with [`StoreOptions::salvage`] lost, if it is damaged.
    pub fn damage(&self) -> Option<&DamageReport> {
        self.inner.damage.as_ref()
    }

    /// Accepts the loss of a damaged store: records that the state the storage engine recovers
    /// is complete, so that the store opens again, and returns what was lost (`None` if it was
    /// not damaged). The lost writes are gone for good; copy the directory first if you want to
    /// keep the damaged files. Blocks like [`Store::open`]; the store must not be open.
    ///
    /// # Errors
    ///
    /// [`StoreError::Locked`] if the store is open, [`StoreError::Open`] if it cannot be
    /// opened at all.
    pub fn repair(path: impl AsRef<Path>) -> Result<Option<DamageReport>, StoreError> {
        let path = path.as_ref();
        let key = std::fs::canonicalize(path)
            .map_err(|e| StoreError::Open { path: path.to_path_buf(), source: Arc::new(e) })?;
        if OPEN
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|open| open.contains(&key))
        {
            return Err(StoreError::Locked { path: path.to_path_buf() });
        }
        let db = open_db(path, &StoreOptions::default())?;
        let (_, commits, damage) = check_ledger(&db, path, true)?;
        drop(commits);
        let repaired = match damage {
            Some(report) => {
                let acknowledged = ledger::Acknowledged {
                    seq: report.recovered,
                    trees: ledger::read(path)?
                        .unwrap_or_default()
                        .trees
                        .into_iter()
                        .map(|(tree, at)| (tree, at.min(report.recovered)))
                        .collect(),
                };
                ledger::write_whole(path, &acknowledged)?;
                tracing::warn!(path = %path.display(), %report, "damaged store repaired: its lost writes are given up");
                Some(report)
            }
            None => None,
        };
        drop(db);
        wait_released(&path.join("db"));
        Ok(repaired)
    }

    /// The tree named `name`, with keys of type `K` and values of type `V`; created empty if
    /// it does not exist (its creation and its [`Schema`] are durable with the next flush).
    ///
    /// The tree remembers the schema of the types it was created with: opening it with types
    /// of another shape is refused (see [`schema`](crate::schema)), so a value is never read
    /// as a type it was not written as. Change a tree's value type with
    /// [`Store::migrate_tree`].
    ///
    /// # Errors
    ///
    /// [`StoreError::SchemaMismatch`] if the tree was created with other types,
    /// [`StoreError::ReservedTreeName`] for names starting with `__actor_store`, or a storage
    /// error.
    pub fn tree<K: Key, V: DeserializeOwned>(&self, name: &str) -> Result<Tree<K, V>, StoreError> {
        if name.starts_with(RESERVED) {
            return Err(StoreError::ReservedTreeName(Arc::from(name)));
        }
        self.check_schema(name, &Schema::of::<K, V>())?;
        self.tree_unchecked(name)
    }

    /// Compares `schema` with the one recorded for tree `name`, recording it if there is none
    /// (a new tree, or one created before schemas were recorded).
    fn check_schema(&self, name: &str, schema: &Schema) -> Result<(), StoreError> {
        let key = schema_key(name);
        let bytes = schema.to_bytes();
        let stored = match self.inner.meta.get(&key)? {
            Some(stored) => stored,
            None if self.inner.health.read_only => return Ok(()),
            None => match self.inner.meta.compare_and_swap(
                &key,
                None::<&[u8]>,
                Some(bytes.as_slice()),
            )? {
                Ok(()) => return Ok(()),
                Err(conflict) => conflict.current.unwrap_or_default(),
            },
        };
        if stored.as_ref() == bytes.as_slice() {
            return Ok(());
        }
        let stored = Schema::from_bytes(&stored).ok_or_else(|| StoreError::Corrupt {
            tree: Arc::from(META_TREE),
            key: crate::error::printable(&key),
            kind: crate::error::Corruption::Checksum,
        })?;
        Err(StoreError::SchemaMismatch { tree: Arc::from(name), stored, requested: schema.clone() })
    }

    /// Rewrites every value of tree `name` from type `Old` to type `New` with `convert`, and
    /// records `New` as the tree's schema: one atomic, durable step (all values and the
    /// schema, or nothing, even across a crash). Returns how many values were converted.
    ///
    /// This is the way to change a tree's value type; a tree opened with a new type without
    /// migrating fails with [`StoreError::SchemaMismatch`]. The tree is read and rewritten in
    /// memory at once, so it suits trees that fit in memory comfortably.
    ///
    /// # Errors
    ///
    /// [`StoreError::SchemaMismatch`] if the tree was not created with `K` and `Old`,
    /// [`StoreError::Corrupt`] if a value cannot be read as `Old`, [`StoreError::Encode`], or a
    /// write error.
    ///
    /// # Cancel safety
    ///
    /// The migration is one message to the writer. If the future is dropped, the tree is either
    /// migrated whole (the message was sent) or untouched; never half converted.
    pub async fn migrate_tree<K, Old, New>(
        &self,
        name: &str,
        mut convert: impl FnMut(&K, Old) -> New,
    ) -> Result<usize, StoreError>
    where
        K: Key,
        Old: Serialize + DeserializeOwned,
        New: Serialize + DeserializeOwned,
    {
        let old = self.tree::<K, Old>(name)?;
        let new_schema = Schema::of::<K, New>();
        let tree_name: Arc<str> = Arc::from(name);
        let mut entries = Vec::new();
        for entry in old.iter() {
            let (key, value) = entry?;
            let new = convert(&key, value);
            let key = crate::codec::key_bytes(&key);
            let value = crate::codec::encode_value(&tree_name, &key, &new)?;
            entries.push((key, value));
        }
        let count = entries.len();
        self.submit(WriteOp::Retype {
            tree: old.raw().clone(),
            meta: self.inner.meta.clone(),
            schema_key: schema_key(name),
            schema: new_schema.to_bytes(),
            entries,
        })
        .await?;
        Ok(count)
    }

    pub(crate) fn tree_unchecked<K: Key, V>(&self, name: &str) -> Result<Tree<K, V>, StoreError> {
        let tree = self.inner.db.open_tree(name)?;
        Ok(Tree::new(self.clone(), Arc::from(name), tree))
    }

    /// Waits until every write sent before this call is durable.
    ///
    /// # Errors
    ///
    /// [`StoreError::Failed`] if the store failed, [`StoreError::Closed`] if it was closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits. The writes it covers are made durable by their own group
    /// commits whether or not this future is polled to the end.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.submit(WriteOp::Sync).await.map(drop)
    }

    /// Stops the writer after the writes already sent are applied and flushed. Later writes
    /// through any handle fail with [`StoreError::Closed`].
    ///
    /// If this is the last handle (no clone and no [`Tree`] of the store is left), `close`
    /// also waits until the storage engine has released the database files, so the store can
    /// be reopened at once. Otherwise the files stay locked until the last handle is dropped.
    ///
    /// # Errors
    ///
    /// The store's failure, if it failed.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, the handle it took is dropped with it, exactly as a handle
    /// dropped without `close`: acknowledged writes are durable already, and the writer stops
    /// when the last handle is gone. Nothing is left half closed.
    pub async fn close(self) -> Result<(), StoreError> {
        let flushed = self.flush().await;
        self.inner.writer.stop();
        self.inner.writer.stopped().await;
        let result = match flushed {
            Err(StoreError::Closed | StoreError::ReadOnly) => Ok(()),
            other => other,
        };
        let Ok(inner) = Arc::try_unwrap(self.inner) else {
            return result;
        };
        let lock_file = inner.path.join("db");
        drop(inner);
        // sled's background I/O threads may hold the database a moment longer; its file lock
        // tells when they let go.
        let deadline = tokio::time::Instant::now() + RELEASE_WAIT;
        while lock_held(&lock_file) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        result
    }

    /// The failure that stopped the store from accepting writes, if any.
    pub fn failure(&self) -> Option<StoreError> {
        self.inner.health.check().err()
    }

    /// The write path's counters.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            writes: self.inner.health.writes.load(Ordering::Relaxed),
            flushes: self.inner.health.flushes.load(Ordering::Relaxed),
        }
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Whether opening found an existing store (rather than creating one).
    pub fn was_recovered(&self) -> bool {
        self.inner.recovered
    }

    /// Sends a write to the writer and waits until it is durable.
    pub(crate) async fn submit(&self, op: WriteOp) -> Result<Applied, StoreError> {
        let health = &self.inner.health;
        let alone = health.in_flight.fetch_add(1, Ordering::Relaxed) == 0;
        let _in_flight = InFlight(health);
        let asked = self.inner.writer.write(op);
        let answer = if alone {
            // A lone writer would otherwise wait for the flusher thread to wake a parked runtime
            // worker (tens of microseconds here); instead its task stays runnable for up to
            // `LONE_SPIN` and sees the acknowledgement at once. With company, flushes are
            // shared and the ordinary wake-up is cheap in comparison.
            let mut asked = std::pin::pin!(asked);
            let deadline = Instant::now() + LONE_SPIN;
            std::future::poll_fn(|cx| match asked.as_mut().poll(cx) {
                Poll::Pending
                    if health.in_flight.load(Ordering::Relaxed) == 1
                        && Instant::now() < deadline =>
                {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                other => other,
            })
            .await
        } else {
            asked.await
        };
        match answer {
            Ok(applied) => Ok(applied),
            Err(CallError::Handler(error)) => Err(error),
            Err(CallError::Ask(AskError::Panicked(panic))) => Err(StoreError::Failed {
                cause: crate::error::because(format!("the writer panicked: {panic}")),
            }),
            Err(CallError::Ask(_)) => Err(StoreError::Closed),
        }
    }
}

/// How long a lone writer's task keeps polling for its acknowledgement before it sleeps.
const LONE_SPIN: Duration = Duration::from_micros(500);

/// Counts a write in flight while it lives.
struct InFlight<'a>(&'a Health);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The meta key of tree `name`'s schema.
fn schema_key(name: &str) -> Vec<u8> {
    let mut key = b"schema/".to_vec();
    key.extend_from_slice(name.as_bytes());
    key
}
