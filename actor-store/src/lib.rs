//! Durable actors on sled for the `actor-core` runtime.
//!
//! - [`Store`]: a sled database whose only writer is an actor. Writes are applied in the
//!   writer's mailbox order and acknowledged once durable; writes that arrive together share
//!   one flush (group commit).
//! - [`Tree`]: a typed, ordered map in a store: keys of any [`Key`] type (encoded so that
//!   range scans follow key order), values of any serde type, versioned and checksummed.
//! - [`DurableKv`]: a key-value actor over a tree: get, set, delete, range, compare-and-swap.
//! - [`Persisted`]: state rebuilt from a journal of events and snapshots, for making any actor
//!   persistent; it fits `#[actor]` as an ordinary field ([`journal`]).
//!
//! The durable job queue built on this store is the `actor-jobs` crate.
//!
//! # Quick start
//!
//! ```
//! use actor_store::{DurableKv, Store};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("actor-store-doc-quick-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let store = Store::open(&dir)?;
//! let kv = DurableKv::new(store.tree::<String, u64>("visits")?).spawn()?;
//!
//! kv.set("home".to_owned(), 1).await?; // returns once durable
//! assert_eq!(kv.get("home".to_owned()).await?, Some(1));
//! kv.compare_and_swap("home".to_owned(), Some(1), Some(2)).await??;
//! assert_eq!(kv.get("home".to_owned()).await?, Some(2));
//! # kv.stop(); kv.stopped().await; store.close().await?; std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
//!
//! # Durability contract
//!
//! - **When a write returns `Ok`**, sled has written it and every write applied before it to
//!   its log and `fsync`ed the log: a crash of the process (panic, `SIGKILL`, abort) after that
//!   point does not lose it. The crash test (`tests/crash.rs`, run by `cargo test -p
//!   actor-store`) checks this with real `SIGKILL`s.
//! - **When a write returns `Err`**, it was not acknowledged: it may or may not be present
//!   after a crash. A write or flush error puts the store into a failed state
//!   ([`Store::failure`]): every waiting and later write gets [`StoreError::Failed`]. Reopen
//!   the store to continue; every acknowledged write will be there.
//! - **Order**: writes are applied in the order they reach the writer's mailbox. Recovery
//!   restores a prefix of that order (sled replays its log in order, and a batch or a
//!   compare-and-swap is atomic).
//! - **Reads** see every write the writer has applied, even one whose flush has not finished:
//!   a value you read is guaranteed durable only once its write was acknowledged.
//! - **Power loss**: sled 0.34 relies on `fsync` reaching stable storage. It does not promise
//!   more than the file system and the disk do (a disk that acknowledges `fsync` from a
//!   volatile cache can lose acknowledged writes on power loss), and sled 0.34 is a beta whose
//!   authors call its on-disk format unstable. This crate has been tested against process
//!   crashes, not against power cuts.
//! - **Damage**: a value whose checksum, version or encoding is wrong is reported as
//!   [`StoreError::Corrupt`] naming the tree and the key; it is never returned as a value. sled
//!   treats a damaged record of its log as the torn end of the log and silently recovers an
//!   older state; the store keeps an independent record of every acknowledged group commit (an
//!   acknowledgement ledger beside sled's files, checked on open), so a store that lost
//!   acknowledged writes fails to open with [`StoreError::Damaged`], naming the trees that
//!   lost writes, and is never served as if it were complete. Open it with
//!   [`StoreOptions::salvage`] to read what survived, or accept the loss with
//!   [`Store::repair`]. A store that fails to open is reported as [`StoreError::Open`], never
//!   replaced by an empty one. A missing store is created. The damage test (`tests/it/damage.rs`)
//!   flips a byte at 200 seeded random offsets of the files, one per run, and checks that every
//!   acknowledged key then reads as its value or as a typed error. The ledger is written at
//!   every commit without an `fsync` and synced once a second: after a power cut (not a process
//!   crash) it may lag, and damage that removes only the last second of acknowledged writes is
//!   then not detected.
//! - **Types**: a tree records the [`Schema`] of its keys and values when it is created;
//!   opening it with other types is [`StoreError::SchemaMismatch`], never a misread value.
//!   [`Store::migrate_tree`] changes a tree's value type.
//! - **Cancel safety**: a write is one message to the writer. A write's future dropped at an
//!   await (a `timeout`, a `select!`) either never sent it, and nothing changes, or sent it,
//!   and it is applied and flushed in full like any other write; it is never half applied, and
//!   no other writer waits for it. The caller does not learn which: read the key, or write
//!   idempotently.
//! - **Exclusive access**: one process, and one [`Store`] in it, opens a directory at a time
//!   ([`StoreError::Locked`] otherwise).
//!
//! # Performance
//!
//! A flush costs an `fsync`; group commit shares it among every write that arrived meanwhile,
//! so throughput grows with the number of concurrent writers (`cargo xtask bench`, workloads
//! `durable_*`, and `BENCHMARKS.md`). To keep a single sequential writer's latency close to the
//! `fsync` itself, a writer that is alone keeps its task polling for its acknowledgement for
//! up to 500 µs instead of sleeping, and the flusher thread polls 50 µs for the next write
//! before sleeping: a little CPU spent for two thread wake-ups saved per write.
//!
//! # Encodings
//!
//! Keys: [`codec`]'s order-preserving encoding. Values: a version byte
//! ([`codec::VALUE_VERSION`]), a CRC-32 of key and payload, and the bincode 2 payload. The
//! database carries a format version ([`FORMAT_VERSION`]) checked on open. A value type change
//! is a [`Store::migrate_tree`]; the tree's [`Schema`] refuses the new type until then.

pub mod codec;
mod error;
pub mod fault;
pub mod journal;
pub mod kv;
mod ledger;
pub mod schema;
mod store;
mod tree;
mod writer;

pub use codec::Key;
pub use error::{CasConflict, Cause, Corruption, DamageReport, StoreError};
pub use journal::{Persist, PersistOptions, Persisted};
pub use kv::{DurableKv, DurableKvHandle};
pub use schema::Schema;
pub use store::{FORMAT_VERSION, Store, StoreOptions, StoreStats};
pub use tree::{Batch, Iter, Tree};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
