//! Fault injection: failed flushes and writes are never acknowledged; damage is reported.

use std::sync::Arc;

use actor_store::fault::FaultPlan;
use actor_store::{Corruption, Store, StoreError, StoreOptions};

use crate::support::{TempDir, wait_unlocked};

fn open_faulty(dir: &TempDir) -> (Store, Arc<FaultPlan>) {
    let plan = Arc::new(FaultPlan::new());
    let store =
        Store::open_with(dir.path(), StoreOptions::new().faults(Arc::clone(&plan))).unwrap();
    (store, plan)
}

#[tokio::test]
async fn a_failed_flush_acknowledges_nothing_it_covered() {
    let dir = TempDir::new("flushfail");
    let (store, plan) = open_faulty(&dir);
    let t = store.tree::<u64, u64>("t").unwrap();
    for k in 0..5 {
        t.insert(&k, &k).await.unwrap();
    }
    plan.fail_flush_at(1);
    let err = t.insert(&5, &5).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Failed { cause } if cause.to_string().contains("injected flush")),
        "{err}"
    );
    assert!(store.failure().is_some());
    // Failed stays failed: later writes and barriers are refused, not acknowledged.
    assert!(matches!(t.insert(&6, &6).await, Err(StoreError::Failed { .. })));
    assert!(matches!(store.flush().await, Err(StoreError::Failed { .. })));
    drop(t);
    assert!(store.close().await.is_err());

    let store = Store::open(dir.path()).unwrap();
    let t = store.tree::<u64, u64>("t").unwrap();
    for k in 0..5 {
        assert_eq!(t.get(&k).unwrap(), Some(k), "acknowledged write {k} lost");
    }
    assert_eq!(t.get(&6).unwrap(), None, "a write refused by a failed store was applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_in_a_failing_group_all_get_errors() {
    let dir = TempDir::new("groupfail");
    let (store, plan) = open_faulty(&dir);
    let t = store.tree::<u64, Vec<u8>>("t").unwrap();
    t.insert(&0, &vec![0; 100]).await.unwrap();
    plan.fail_flush_at(1);
    let tasks: Vec<_> = (1..=64u64)
        .map(|k| {
            let t = t.clone();
            tokio::spawn(async move { t.insert(&k, &vec![1; 100]).await })
        })
        .collect();
    let mut acknowledged = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            acknowledged += 1;
        }
    }
    assert_eq!(acknowledged, 0, "writes acknowledged after the failing flush");
}

#[tokio::test]
async fn a_failed_write_is_not_applied_and_fails_the_store() {
    let dir = TempDir::new("writefail");
    let (store, plan) = open_faulty(&dir);
    let t = store.tree::<u64, u64>("t").unwrap();
    plan.fail_write_at(3);
    t.insert(&1, &1).await.unwrap();
    t.insert(&2, &2).await.unwrap();
    let err = t.insert(&3, &3).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Failed { cause } if cause.to_string().contains("injected write")),
        "{err}"
    );
    assert!(matches!(t.insert(&4, &4).await, Err(StoreError::Failed { .. })));
    assert_eq!(t.get(&3).unwrap(), None);
    assert_eq!(t.get(&2).unwrap(), Some(2));
}

#[tokio::test]
async fn a_damaged_value_is_reported_with_its_tree_and_key() {
    let dir = TempDir::new("damaged");
    {
        let store = Store::open(dir.path()).unwrap();
        let t = store.tree::<String, String>("accounts").unwrap();
        t.insert(&"alice".to_owned(), &"100".to_owned()).await.unwrap();
        t.insert(&"bob".to_owned(), &"200".to_owned()).await.unwrap();
        drop(t);
        store.close().await.unwrap();
    }
    {
        // Damage one byte of bob's value behind the store's back.
        let db = sled::open(dir.path()).unwrap();
        let tree = db.open_tree("accounts").unwrap();
        let (key, value) = tree.iter().nth(1).unwrap().unwrap();
        let mut damaged = value.to_vec();
        let last = damaged.len() - 1;
        damaged[last] ^= 0x01;
        tree.insert(key, damaged).unwrap();
        db.flush().unwrap();
    }
    wait_unlocked(dir.path()).await;
    let store = Store::open(dir.path()).unwrap();
    let t = store.tree::<String, String>("accounts").unwrap();
    assert_eq!(t.get(&"alice".to_owned()).unwrap().as_deref(), Some("100"));
    let err = t.get(&"bob".to_owned()).unwrap_err();
    match &err {
        StoreError::Corrupt { tree, key, kind } => {
            assert_eq!(&**tree, "accounts");
            assert!(key.contains("bob"), "{key}");
            assert_eq!(*kind, Corruption::Checksum);
        }
        other => panic!("expected corruption, got {other}"),
    }
    assert!(err.to_string().contains("accounts") && err.to_string().contains("bob"), "{err}");
    let scanned: Vec<_> = t.iter().collect();
    assert!(scanned[0].is_ok());
    assert!(matches!(scanned[1], Err(StoreError::Corrupt { .. })));
    // Opening a tree with the wrong value type is refused, never misread.
    assert!(matches!(
        store.tree::<String, (u64, u64, u64)>("accounts"),
        Err(StoreError::SchemaMismatch { .. })
    ));
}

#[tokio::test]
async fn a_damaged_database_file_is_reported_never_emptied() {
    let dir = TempDir::new("garbage");
    {
        let store = Store::open(dir.path()).unwrap();
        let t = store.tree::<u64, u64>("t").unwrap();
        for k in 0..1000 {
            t.insert(&k, &k).await.unwrap();
        }
        drop(t);
        store.close().await.unwrap();
    }
    let db_file = dir.path().join("db");
    let len = std::fs::metadata(&db_file).unwrap().len();
    let mut garbage = Vec::with_capacity(len as usize);
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        garbage.push(x as u8);
    }
    std::fs::write(&db_file, garbage).unwrap();
    match Store::open(dir.path()) {
        Err(StoreError::Open { source, .. }) => assert!(!source.to_string().is_empty()),
        Err(other) => panic!("expected an open error, got {other}"),
        Ok(store) => {
            let t = store.tree::<u64, u64>("t").unwrap();
            panic!("a damaged store opened with {} of 1000 entries", t.len());
        }
    }
}
