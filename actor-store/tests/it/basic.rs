//! Opening, typed reads and writes, reopening, group commit, open errors.

use actor_store::{Store, StoreError};

use crate::support::{TempDir, wait_unlocked};

#[tokio::test]
async fn writes_survive_close_and_reopen_in_key_order() {
    let dir = TempDir::new("reopen");
    {
        let store = Store::open(dir.path()).unwrap();
        assert!(!store.was_recovered());
        let users = store.tree::<(String, u64), String>("users").unwrap();
        for (team, n) in [("b", 2), ("a", 10), ("a", 2), ("c", 0), ("a", 1)] {
            let previous =
                users.insert(&(team.to_owned(), n), &format!("{team}{n}")).await.unwrap();
            assert_eq!(previous, None);
        }
        let previous = users.insert(&("a".to_owned(), 2), &"again".to_owned()).await.unwrap();
        assert_eq!(previous.as_deref(), Some("a2"));
        assert_eq!(users.remove(&("c".to_owned(), 0)).await.unwrap().as_deref(), Some("c0"));
        assert_eq!(users.remove(&("c".to_owned(), 0)).await.unwrap(), None);
        drop(users);
        store.close().await.unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert!(store.was_recovered());
    let users = store.tree::<(String, u64), String>("users").unwrap();
    let all: Vec<_> = users.iter().map(Result::unwrap).collect();
    let keys: Vec<_> = all.iter().map(|((t, n), _)| format!("{t}{n}")).collect();
    assert_eq!(keys, ["a1", "a2", "a10", "b2"]);
    assert_eq!(all[1].1, "again");
    let team_a: Vec<_> = users.prefix(&("a".to_owned(),)).map(|e| e.unwrap().0.1).collect();
    assert_eq!(team_a, [1, 2, 10]);
    let back: Vec<_> = users
        .range(("a".to_owned(), 2)..("b".to_owned(), 0))
        .rev()
        .map(|e| e.unwrap().0.1)
        .collect();
    assert_eq!(back, [10, 2]);
    assert_eq!(users.get(&("zz".to_owned(), 0)).unwrap(), None);
}

#[tokio::test]
async fn compare_and_swap_and_batches_are_atomic() {
    let dir = TempDir::new("cas");
    let store = Store::open(dir.path()).unwrap();
    let t = store.tree::<u32, u64>("t").unwrap();
    t.compare_and_swap(&1, None, Some(&10)).await.unwrap().unwrap();
    let conflict = t.compare_and_swap(&1, None, Some(&11)).await.unwrap().unwrap_err();
    assert_eq!(conflict.current, Some(10));
    let conflict = t.compare_and_swap(&1, Some(&9), None).await.unwrap().unwrap_err();
    assert_eq!(conflict.current, Some(10));
    t.compare_and_swap(&1, Some(&10), None).await.unwrap().unwrap();
    assert_eq!(t.get(&1).unwrap(), None);

    let mut batch = t.batch();
    for k in 0..100 {
        batch.insert(&k, &u64::from(k * 2)).unwrap();
    }
    batch.remove(&7);
    t.apply(batch).await.unwrap();
    assert_eq!(t.len(), 99);
    assert_eq!(t.get(&50).unwrap(), Some(100));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_share_flushes() {
    let dir = TempDir::new("group");
    let store = Store::open(dir.path()).unwrap();
    let t = store.tree::<u64, Vec<u8>>("t").unwrap();
    let before = store.stats();
    let mut tasks = Vec::new();
    for w in 0..256u64 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..8u64 {
                t.insert(&(w * 1000 + i), &vec![7u8; 100]).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let after = store.stats();
    let writes = after.writes - before.writes;
    let flushes = after.flushes - before.flushes;
    assert_eq!(writes, 2048);
    assert!(flushes * 4 <= writes, "{flushes} flushes for {writes} writes: no group commit");
    assert_eq!(t.len(), 2048);
}

#[tokio::test]
async fn a_store_is_opened_once() {
    let dir = TempDir::new("locked");
    let store = Store::open(dir.path()).unwrap();
    assert!(matches!(Store::open(dir.path()), Err(StoreError::Locked { .. })));
    store.close().await.unwrap();
    // Closed and dropped: it can be opened again.
    let again = Store::open(dir.path()).unwrap();
    drop(again);
}

#[tokio::test]
async fn writes_after_close_are_refused() {
    let dir = TempDir::new("closed");
    let store = Store::open(dir.path()).unwrap();
    let t = store.tree::<u8, u8>("t").unwrap();
    store.clone().close().await.unwrap();
    assert!(matches!(t.insert(&1, &1).await, Err(StoreError::Closed)));
    assert!(matches!(store.flush().await, Err(StoreError::Closed)));
}

#[tokio::test]
async fn reserved_names_and_bad_paths_are_typed_errors() {
    let dir = TempDir::new("names");
    let store = Store::open(dir.path()).unwrap();
    assert!(matches!(
        store.tree::<u8, u8>("__actor_store/journal"),
        Err(StoreError::ReservedTreeName(name)) if &*name == "__actor_store/journal"
    ));
    drop(store);

    let file = TempDir::new("file");
    std::fs::write(file.path(), b"not a directory").unwrap();
    let err = Store::open(file.path()).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
}

#[test]
fn opening_needs_a_runtime() {
    let dir = TempDir::new("nort");
    assert!(matches!(Store::open(dir.path()), Err(StoreError::NoRuntime)));
}

#[tokio::test]
async fn foreign_and_newer_databases_are_refused() {
    let dir = TempDir::new("foreign");
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("theirs").unwrap().insert(b"k", b"v").unwrap();
        db.flush().unwrap();
    }
    wait_unlocked(dir.path()).await;
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    // The cause is kept as the error's source.
    let cause = std::error::Error::source(&err).expect("a cause").to_string();
    assert!(cause.contains("not written by actor-store"), "{cause}");

    let newer = TempDir::new("newer");
    Store::open(newer.path()).unwrap().close().await.unwrap();
    {
        let db = sled::open(newer.path()).unwrap();
        db.open_tree("__actor_store/meta")
            .unwrap()
            .insert(b"format", &99u32.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    wait_unlocked(newer.path()).await;
    let err = Store::open(newer.path()).unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedFormat { found: 99, supported: 1, .. }), "{err}");
}

/// Polls `fut` once.
async fn poll_once<F: std::future::Future + Unpin>(fut: &mut F) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut *fut).poll(cx))).await
}

#[tokio::test]
async fn a_write_dropped_after_its_first_poll_is_all_or_nothing() {
    let dir = TempDir::new("cancel");
    // A writer mailbox of one: some writes are sent at their first poll, others still wait
    // for room when they are dropped.
    let store =
        Store::open_with(dir.path(), actor_store::StoreOptions::new().writer_mailbox(1)).unwrap();
    let t = store.tree::<u32, u64>("t").unwrap();
    for round in 0..50u32 {
        let mut batch = t.batch();
        for k in 0..10 {
            batch.insert(&(round * 100 + k), &u64::from(round)).unwrap();
        }
        let mut applied = Box::pin(t.apply(batch));
        let lone = round * 100 + 50;
        let mut inserted = Box::pin(t.insert(&lone, &7));
        let _ = poll_once(&mut applied).await;
        let _ = poll_once(&mut inserted).await;
        drop((applied, inserted));
    }
    // The writer is not stuck on anything dropped, and nothing is half applied.
    store.flush().await.unwrap();
    for round in 0..50u32 {
        let present: Vec<bool> =
            (0..10).map(|k| t.get(&(round * 100 + k)).unwrap().is_some()).collect();
        assert!(
            present.iter().all(|&p| p) || present.iter().all(|&p| !p),
            "round {round}: {present:?}"
        );
        if present[0] {
            assert_eq!(t.get(&(round * 100)).unwrap(), Some(u64::from(round)));
        }
        assert!(matches!(t.get(&(round * 100 + 50)).unwrap(), None | Some(7)));
    }
    t.insert(&9_999, &1).await.unwrap();
    assert_eq!(t.get(&9_999).unwrap(), Some(1));
    store.close().await.unwrap();
}
