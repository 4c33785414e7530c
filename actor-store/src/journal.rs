//! Persistent actors: state rebuilt from a journal of events and periodic snapshots.
//!
//! An actor keeps its durable state in a [`Persisted<S>`] field. Every change is an event:
//! [`Persisted::persist`] records it durably in the store's journal, *then* applies it to the
//! state, so a change is never visible (or acknowledged by the handler that made it) before it
//! would survive a crash. Every [`PersistOptions::snapshot_every`] events the state itself is
//! written, together with the removal of the events it covers, in one atomic batch; recovery
//! reads the latest snapshot and replays only the events after it.
//!
//! This fits `#[actor]` as an ordinary field:
//!
//! ```
//! use actor_core::actor;
//! use actor_store::{Persist, Persisted, Store, StoreError};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Default, Serialize, Deserialize)]
//! struct Balance {
//!     cents: i64,
//! }
//!
//! #[derive(Serialize, Deserialize)]
//! enum Event {
//!     Deposited(i64),
//!     Withdrew(i64),
//! }
//!
//! impl Persist for Balance {
//!     type Event = Event;
//!     fn apply(&mut self, event: &Event) {
//!         match event {
//!             Event::Deposited(n) => self.cents += n,
//!             Event::Withdrew(n) => self.cents -= n,
//!         }
//!     }
//! }
//!
//! struct Account {
//!     balance: Persisted<Balance>,
//! }
//!
//! #[actor]
//! impl Account {
//!     async fn deposit(&mut self, cents: i64) -> Result<i64, StoreError> {
//!         self.balance.persist(Event::Deposited(cents)).await?;
//!         Ok(self.balance.cents)
//!     }
//!
//!     fn balance(&self) -> i64 {
//!         self.balance.cents
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("actor-store-doc-journal-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let store = Store::open(&dir)?;
//! let account = Account { balance: Persisted::recover(&store, "alice", Balance::default)? }.spawn()?;
//! assert_eq!(account.deposit(250).await?, 250);
//! account.stop();
//! account.stopped().await;
//!
//! // A new incarnation (after a restart, or in the next process) finds the same balance.
//! let again = Persisted::recover(&store, "alice", Balance::default)?;
//! assert_eq!(again.cents, 250);
//! # drop(again); store.close().await?; std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
//!
//! Inside a supervisor, build the field in the child's factory, so that every restart
//! recovers the state: `ChildSpec::new("alice", move || Ok(Account { balance:
//! Persisted::recover(&store, "alice", Balance::default)? }))`.

use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Corruption, StoreError, printable};
use crate::store::{RESERVED, Store};
use crate::tree::Tree;

const JOURNAL_TREE: &str = "__actor_store/journal";

/// State that can be rebuilt from its events; see the [module docs](self).
pub trait Persist: Serialize + DeserializeOwned + Send + 'static {
    /// A change to the state, as recorded in the journal.
    type Event: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// Applies one event. Must be deterministic: recovery replays the same events and must
    /// reach the same state. It cannot fail: validate in the handler, before persisting.
    fn apply(&mut self, event: &Self::Event);
}

/// How often [`Persisted`] writes snapshots.
#[derive(Debug, Clone, Copy)]
pub struct PersistOptions {
    snapshot_every: u64,
}

impl Default for PersistOptions {
    fn default() -> Self {
        PersistOptions { snapshot_every: 1000 }
    }
}

impl PersistOptions {
    /// A snapshot every 1,000 events.
    pub fn new() -> Self {
        PersistOptions::default()
    }

    /// A snapshot every `events` events (at least 1): recovery replays fewer than `events`
    /// events after the latest snapshot.
    pub fn snapshot_every(mut self, events: u64) -> Self {
        self.snapshot_every = events.max(1);
        self
    }
}

/// Keys of the journal tree: `(id, 0)` holds the snapshot, `(id, n)` event `n` (from 1).
type JournalKey = (String, u64);

/// The latest owner of each journal recovered in this process, per store directory: two owners
/// of one journal would overwrite each other's events, so recovering a journal fences off the
/// previous owner (a supervisor builds a new incarnation before it drops the old one).
static OWNERS: Mutex<Option<HashMap<OwnerKey, Arc<AtomicU64>>>> = Mutex::new(None);

/// A journal: the store's directory and the journal's id.
type OwnerKey = (std::path::PathBuf, String);

/// Durable state of type `S`, rebuilt on recovery; see the [module docs](self).
///
/// Read the state through `Deref`; change it only with [`Persisted::persist`].
pub struct Persisted<S: Persist> {
    state: S,
    id: String,
    seq: u64,
    snapshot_seq: u64,
    options: PersistOptions,
    /// The journal's current owner generation, and ours.
    owner: Arc<AtomicU64>,
    generation: u64,
    events: Tree<JournalKey, S::Event>,
    snapshots: Tree<JournalKey, (u64, S)>,
}

impl<S: Persist + fmt::Debug> fmt::Debug for Persisted<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Persisted")
            .field("id", &self.id)
            .field("seq", &self.seq)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<S: Persist> Deref for Persisted<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.state
    }
}

impl<S: Persist> Persisted<S> {
    /// Rebuilds the state recorded under `id`: the latest snapshot, then every later event.
    /// A journal that does not exist yet starts from `init()`.
    ///
    /// Recovery is synchronous (reads only), so it can run in a supervisor's child factory.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] naming the journal key if a snapshot or event cannot be
    /// decoded or an event is missing ([`Corruption::JournalGap`]).
    ///
    /// # One owner
    ///
    /// Recovering a journal supersedes any earlier `Persisted` of the same id in this process:
    /// the older one's [`persist`](Persisted::persist) fails with
    /// [`StoreError::Superseded`]. This is what a supervisor's restart needs (the new
    /// incarnation is built before the old one is dropped) and what keeps two owners from
    /// overwriting each other's events. Across processes, the store's lock keeps one owner.
    pub fn recover(store: &Store, id: &str, init: impl FnOnce() -> S) -> Result<Self, StoreError> {
        Persisted::recover_with(store, id, init, PersistOptions::default())
    }

    /// [`Persisted::recover`] with options.
    ///
    /// # Errors
    ///
    /// As [`Persisted::recover`].
    pub fn recover_with(
        store: &Store,
        id: &str,
        init: impl FnOnce() -> S,
        options: PersistOptions,
    ) -> Result<Self, StoreError> {
        debug_assert!(JOURNAL_TREE.starts_with(RESERVED));
        let events: Tree<JournalKey, S::Event> = store.tree_unchecked(JOURNAL_TREE)?;
        let snapshots: Tree<JournalKey, (u64, S)> = store.tree_unchecked(JOURNAL_TREE)?;
        let owner = {
            let mut owners = OWNERS.lock().unwrap_or_else(PoisonError::into_inner);
            let key = (store.path().to_path_buf(), id.to_owned());
            Arc::clone(owners.get_or_insert_with(HashMap::new).entry(key).or_default())
        };
        let generation = owner.fetch_add(1, Ordering::SeqCst) + 1;
        let mut persisted = Persisted {
            state: init(),
            id: id.to_owned(),
            seq: 0,
            snapshot_seq: 0,
            options,
            owner,
            generation,
            events,
            snapshots,
        };
        if let Some((seq, state)) = persisted.snapshots.get(&(id.to_owned(), 0))? {
            persisted.state = state;
            persisted.seq = seq;
            persisted.snapshot_seq = seq;
        }
        let from = (id.to_owned(), persisted.seq + 1);
        let to = (id.to_owned(), u64::MAX);
        for entry in persisted.events.range(from..=to) {
            let ((_, seq), event) = entry?;
            if seq != persisted.seq + 1 {
                let mut key = Vec::new();
                crate::codec::Key::encode_key(&(id.to_owned(), seq), &mut key);
                return Err(StoreError::Corrupt {
                    tree: Arc::from(JOURNAL_TREE),
                    key: printable(&key),
                    kind: Corruption::JournalGap { expected: persisted.seq + 1, found: seq },
                });
            }
            persisted.state.apply(&event);
            persisted.seq = seq;
        }
        Ok(persisted)
    }

    /// Records `event` durably, then applies it to the state. Returns once both happened; on
    /// error the state is unchanged. Writes a snapshot when one is due.
    ///
    /// If this future is dropped before it completes, the event may or may not be recorded
    /// and the in-memory state is unchanged; the next `persist` takes the same sequence
    /// number and replaces it.
    ///
    /// # Errors
    ///
    /// The store's error; the event is then not acknowledged. If a due snapshot fails, the
    /// event is recorded and applied and the error is returned (the store has failed).
    pub async fn persist(&mut self, event: S::Event) -> Result<(), StoreError> {
        self.check_owner()?;
        let seq = self.seq + 1;
        let mut batch = self.events.batch();
        batch.insert(&(self.id.clone(), seq), &event)?;
        self.events.apply(batch).await?;
        self.state.apply(&event);
        self.seq = seq;
        if seq - self.snapshot_seq >= self.options.snapshot_every {
            self.snapshot().await?;
        }
        Ok(())
    }

    /// Writes a snapshot of the current state now and removes the events it covers, in one
    /// atomic batch.
    ///
    /// # Errors
    ///
    /// The store's error.
    pub async fn snapshot(&mut self) -> Result<(), StoreError> {
        self.check_owner()?;
        let mut batch = self.snapshots.batch();
        batch.insert_ref(&(self.id.clone(), 0), &(self.seq, &self.state))?;
        for seq in self.snapshot_seq + 1..=self.seq {
            batch.remove(&(self.id.clone(), seq));
        }
        self.snapshots.apply(batch).await?;
        self.snapshot_seq = self.seq;
        Ok(())
    }

    fn check_owner(&self) -> Result<(), StoreError> {
        if self.owner.load(Ordering::SeqCst) == self.generation {
            Ok(())
        } else {
            Err(StoreError::Superseded { id: Arc::from(self.id.as_str()) })
        }
    }

    /// The number of events recorded so far (the sequence number of the last one).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The journal's id.
    pub fn id(&self) -> &str {
        &self.id
    }
}
