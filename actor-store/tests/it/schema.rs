//! Trees remember their types: opening one with other types is a typed error, and
//! `migrate_tree` changes them.

use actor_store::{Store, StoreError};
use serde::{Deserialize, Serialize};

use crate::support::TempDir;

#[tokio::test]
async fn a_tree_opened_with_other_types_is_refused_instead_of_misread() {
    let dir = TempDir::new("schema");
    let store = Store::open(dir.path()).unwrap();
    let counts = store.tree::<u64, u64>("counts").unwrap();
    counts.insert(&1, &0).await.unwrap();
    let signed = store.tree::<u64, i64>("signed").unwrap();
    signed.insert(&1, &-1).await.unwrap();
    drop((counts, signed));
    store.close().await.unwrap();

    let store = Store::open(dir.path()).unwrap();
    // bincode would read u64 0 as "" and i64 -1 as 1; the schemas tell them apart.
    match store.tree::<u64, String>("counts") {
        Err(StoreError::SchemaMismatch { tree, stored, requested }) => {
            assert_eq!(&*tree, "counts");
            assert_eq!((&*stored.value, &*requested.value), ("u64", "str"));
        }
        other => panic!("expected a schema mismatch, got {other:?}"),
    }
    assert!(matches!(store.tree::<u64, u64>("signed"), Err(StoreError::SchemaMismatch { .. })));
    assert!(matches!(store.tree::<String, u64>("counts"), Err(StoreError::SchemaMismatch { .. })));
    let error = store.tree::<u64, String>("counts").unwrap_err().to_string();
    assert!(error.contains("counts") && error.contains("migrate"), "{error}");
    // The right types still work.
    assert_eq!(store.tree::<u64, u64>("counts").unwrap().get(&1).unwrap(), Some(0));
    assert_eq!(store.tree::<u64, i64>("signed").unwrap().get(&1).unwrap(), Some(-1));
    store.close().await.unwrap();
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct UserV1 {
    name: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct UserV2 {
    name: String,
    admin: bool,
}

#[tokio::test]
async fn migrate_tree_rewrites_every_value_and_the_schema_at_once() {
    let dir = TempDir::new("migrate");
    let store = Store::open(dir.path()).unwrap();
    let users = store.tree::<u64, UserV1>("users").unwrap();
    for id in 0..50u64 {
        users.insert(&id, &UserV1 { name: format!("user-{id}") }).await.unwrap();
    }
    drop(users);
    assert!(matches!(store.tree::<u64, UserV2>("users"), Err(StoreError::SchemaMismatch { .. })));
    let converted = store
        .migrate_tree::<u64, UserV1, UserV2>("users", |id, old| UserV2 {
            name: old.name,
            admin: *id == 0,
        })
        .await
        .unwrap();
    assert_eq!(converted, 50);
    assert!(matches!(store.tree::<u64, UserV1>("users"), Err(StoreError::SchemaMismatch { .. })));
    store.close().await.unwrap();

    let store = Store::open(dir.path()).unwrap();
    let users = store.tree::<u64, UserV2>("users").unwrap();
    assert_eq!(users.get(&0).unwrap(), Some(UserV2 { name: "user-0".into(), admin: true }));
    assert_eq!(users.get(&49).unwrap(), Some(UserV2 { name: "user-49".into(), admin: false }));
    assert_eq!(users.iter().count(), 50);
    drop(users);
    store.close().await.unwrap();
}

/// Cancel safety of `migrate_tree` and `flush`: dropped after their first poll, the tree is
/// migrated whole or not at all, and the store keeps working.
#[tokio::test]
async fn a_migration_or_flush_dropped_after_its_first_poll_leaves_the_tree_whole() {
    let dir = TempDir::new("migrate-cancel");
    // A writer mailbox of one: the migration may be sent at its first poll or still wait.
    let store =
        Store::open_with(dir.path(), actor_store::StoreOptions::new().writer_mailbox(1)).unwrap();
    let users = store.tree::<u64, UserV1>("users").unwrap();
    for id in 0..20u64 {
        users.insert(&id, &UserV1 { name: format!("user-{id}") }).await.unwrap();
    }
    drop(users);
    let mut migration = Box::pin(store.migrate_tree::<u64, UserV1, UserV2>("users", |_, old| {
        UserV2 { name: old.name, admin: false }
    }));
    let mut flush = Box::pin(store.flush());
    let _ = std::future::poll_fn(|cx| {
        let _ = migration.as_mut().poll(cx);
        let _ = flush.as_mut().poll(cx);
        std::task::Poll::Ready(())
    })
    .await;
    drop((migration, flush));
    store.flush().await.unwrap();
    match store.tree::<u64, UserV2>("users") {
        Ok(users) => {
            assert_eq!(users.iter().count(), 20, "migrated whole");
            assert!(matches!(
                store.tree::<u64, UserV1>("users"),
                Err(StoreError::SchemaMismatch { .. })
            ));
        }
        Err(StoreError::SchemaMismatch { .. }) => {
            let users = store.tree::<u64, UserV1>("users").unwrap();
            assert_eq!(users.iter().count(), 20, "untouched");
            assert_eq!(users.get(&3).unwrap(), Some(UserV1 { name: "user-3".into() }));
        }
        Err(other) => panic!("unexpected: {other}"),
    }
    store.close().await.unwrap();
}
