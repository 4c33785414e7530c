//! Persistent actors: journal, snapshots, recovery, supervision, damage.

use std::sync::Arc;
use std::time::Duration;

use actor_core::actor;
use actor_core::supervision::{ChildSpec, SupervisorSpec};
use actor_store::fault::FaultPlan;
use actor_store::{
    Corruption, Persist, PersistOptions, Persisted, Store, StoreError, StoreOptions,
};
use serde::{Deserialize, Serialize};

use crate::support::{TempDir, wait_unlocked};

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct Ledger {
    total: i64,
    entries: Vec<i64>,
}

#[derive(Serialize, Deserialize)]
enum Entry {
    Add(i64),
}

impl Persist for Ledger {
    type Event = Entry;
    fn apply(&mut self, event: &Entry) {
        let Entry::Add(n) = event;
        self.total += n;
        self.entries.push(*n);
    }
}

struct Account {
    ledger: Persisted<Ledger>,
}

#[actor]
impl Account {
    async fn add(&mut self, n: i64) -> Result<i64, StoreError> {
        self.ledger.persist(Entry::Add(n)).await?;
        Ok(self.ledger.total)
    }

    fn total(&self) -> i64 {
        self.ledger.total
    }

    fn crash(&self) {
        panic!("crash on purpose");
    }
}

#[tokio::test]
async fn state_is_rebuilt_from_snapshot_and_later_events() {
    let dir = TempDir::new("journal");
    let every = PersistOptions::new().snapshot_every(1000);
    {
        let store = Store::open(dir.path()).unwrap();
        let mut ledger = Persisted::recover_with(&store, "acct", Ledger::default, every).unwrap();
        for n in 1..=2500 {
            ledger.persist(Entry::Add(n)).await.unwrap();
        }
        assert_eq!(ledger.seq(), 2500);
        // Another journal in the same store is independent.
        let mut other = Persisted::recover(&store, "other", Ledger::default).unwrap();
        other.persist(Entry::Add(-1)).await.unwrap();
        drop((ledger, other));
        store.close().await.unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let ledger = Persisted::recover_with(&store, "acct", Ledger::default, every).unwrap();
    assert_eq!(ledger.seq(), 2500);
    assert_eq!(ledger.total, 2500 * 2501 / 2);
    assert_eq!(ledger.entries, (1..=2500).collect::<Vec<_>>());
    let other = Persisted::recover(&store, "other", Ledger::default).unwrap();
    assert_eq!((other.seq(), other.total), (1, -1));
    // The snapshot replaced the events it covers: only the last 500 are left to replay.
    drop((ledger, other));
    store.close().await.unwrap();
    let db = sled::open(dir.path()).unwrap();
    let journal = db.open_tree("__actor_store/journal").unwrap();
    assert_eq!(journal.len(), 1 + 500 + 1, "snapshot + 500 events of acct + 1 of other");
}

#[tokio::test]
async fn recovering_again_supersedes_the_older_owner() {
    let dir = TempDir::new("owner");
    let store = Store::open(dir.path()).unwrap();
    let mut first = Persisted::recover(&store, "x", Ledger::default).unwrap();
    first.persist(Entry::Add(1)).await.unwrap();
    let mut second = Persisted::recover(&store, "x", Ledger::default).unwrap();
    assert_eq!(second.total, 1);
    assert!(matches!(
        first.persist(Entry::Add(100)).await,
        Err(StoreError::Superseded { id }) if &*id == "x"
    ));
    assert_eq!(first.total, 1);
    second.persist(Entry::Add(2)).await.unwrap();
    drop((first, second));
    let third = Persisted::recover(&store, "x", Ledger::default).unwrap();
    assert_eq!((third.seq(), third.total), (2, 3));
}

#[tokio::test]
async fn a_failed_persist_changes_nothing() {
    let dir = TempDir::new("persistfail");
    let plan = Arc::new(FaultPlan::new());
    let store =
        Store::open_with(dir.path(), StoreOptions::new().faults(Arc::clone(&plan))).unwrap();
    let mut ledger = Persisted::recover(&store, "acct", Ledger::default).unwrap();
    ledger.persist(Entry::Add(5)).await.unwrap();
    plan.fail_flush_at(1);
    assert!(ledger.persist(Entry::Add(7)).await.is_err());
    assert_eq!((ledger.seq(), ledger.total), (1, 5));
}

#[tokio::test]
async fn a_supervised_persistent_actor_recovers_after_a_panic() {
    let dir = TempDir::new("supervised");
    let store = Store::open(dir.path()).unwrap();
    let child_store = store.clone();
    let supervisor = SupervisorSpec::new()
        .intensity(10, Duration::from_secs(1))
        .child(ChildSpec::new("acct", move || {
            Ok(Account { ledger: Persisted::recover(&child_store, "acct", Ledger::default)? })
        }))
        .spawn()
        .await
        .unwrap();
    let account: AccountHandle = supervisor.child("acct").unwrap();
    for n in 1..=10 {
        account.add(n).await.unwrap();
    }
    assert!(account.crash().await.is_err());
    // The same handle reaches the new incarnation, rebuilt from the journal.
    assert_eq!(account.total().await.unwrap(), 55);
    assert_eq!(account.add(45).await.unwrap(), 100);
    supervisor.stop();
    supervisor.stopped().await;
}

/// Records three events in journal `acct`, then changes its second event behind the store's
/// back with `tamper(journal, key, value)`.
async fn tamper_with_second_event(
    dir: &TempDir,
    tamper: impl FnOnce(&sled::Tree, sled::IVec, sled::IVec),
) {
    {
        let store = Store::open(dir.path()).unwrap();
        let mut ledger = Persisted::recover(&store, "acct", Ledger::default).unwrap();
        for n in 1..=3 {
            ledger.persist(Entry::Add(n)).await.unwrap();
        }
        drop(ledger);
        store.close().await.unwrap();
    }
    let db = sled::open(dir.path()).unwrap();
    let journal = db.open_tree("__actor_store/journal").unwrap();
    let (key, value) = journal.iter().nth(1).unwrap().unwrap();
    tamper(&journal, key, value);
    db.flush().unwrap();
    drop((journal, db));
    wait_unlocked(dir.path()).await;
}

#[tokio::test]
async fn a_damaged_event_is_reported_with_its_key() {
    let dir = TempDir::new("damagedevent");
    tamper_with_second_event(&dir, |journal, key, value| {
        let mut damaged = value.to_vec();
        damaged[6] ^= 0x40;
        journal.insert(key, damaged).unwrap();
    })
    .await;
    let store = Store::open(dir.path()).unwrap();
    match Persisted::recover(&store, "acct", Ledger::default) {
        Err(StoreError::Corrupt { tree, key, kind }) => {
            assert_eq!(&*tree, "__actor_store/journal");
            assert!(key.contains("acct"), "{key}");
            assert_eq!(kind, Corruption::Checksum);
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_event_is_a_gap() {
    let dir = TempDir::new("gap");
    tamper_with_second_event(&dir, |journal, key, _| {
        journal.remove(key).unwrap();
    })
    .await;
    let store = Store::open(dir.path()).unwrap();
    let err = Persisted::recover(&store, "acct", Ledger::default).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Corrupt { kind: Corruption::JournalGap { expected: 2, found: 3 }, .. }
        ),
        "{err}"
    );
}
