//! Damage in the database files is reported, never served: bytes are flipped at seeded random
//! offsets of a store's files, one offset per run, and every acknowledged key must then read as
//! its correct value or as a typed error, at open or at read. Never a wrong value, never a
//! missing key. (The same test for the job queue is in actor-jobs.)

use actor_store::{Store, StoreError, StoreOptions};
use actor_test_support::damage::{Counts, copy_dir, flip_one_byte};

use crate::support::{Rng, TempDir, wait_unlocked};

const KEYS: u64 = 200;

/// Runs per store; `ACTOR_DAMAGE_RUNS` overrides it.
fn runs() -> u64 {
    std::env::var("ACTOR_DAMAGE_RUNS").ok().and_then(|n| n.parse().ok()).unwrap_or(200)
}

fn value_of(key: u64) -> String {
    format!("value-{key}-{}", "x".repeat((key % 7) as usize * 10))
}

/// The kind of a damage report, for the counts.
fn kind(error: &StoreError) -> &'static str {
    match error {
        StoreError::Damaged { .. } => "damaged (lost acknowledged commits)",
        StoreError::Corrupt { .. } => "corrupt entry",
        StoreError::Open { .. } => "cannot open",
        StoreError::UnsupportedFormat { .. } => "unsupported format",
        StoreError::SchemaMismatch { .. } => "schema record damaged",
        StoreError::Storage { .. } => "storage engine error",
        _ => "other",
    }
}

/// A typed error of the kind damage must produce: never a panic, never a generic failure.
fn is_damage_report(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::Damaged { .. }
            | StoreError::Corrupt { .. }
            | StoreError::Open { .. }
            | StoreError::UnsupportedFormat { .. }
            | StoreError::SchemaMismatch { .. }
            | StoreError::Storage { .. }
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_bytes_in_a_store_are_reported_never_served() {
    let base = TempDir::new("damage-base");
    {
        let store = Store::open(base.path()).unwrap();
        let tree = store.tree::<u64, String>("data").unwrap();
        for key in 0..KEYS {
            tree.insert(&key, &value_of(key)).await.unwrap();
        }
        drop(tree);
        store.close().await.unwrap();
    }
    wait_unlocked(base.path()).await;
    let mut rng = Rng::new(0x5eed_da7a);
    let mut counts = Counts::default();
    for run in 0..runs() {
        let dir = TempDir::new("damage-run");
        copy_dir(base.path(), dir.path());
        let flipped = flip_one_byte(dir.path(), &mut rng);
        counts.runs += 1;
        let store = match Store::open(dir.path()) {
            Ok(store) => store,
            Err(error) => {
                assert!(is_damage_report(&error), "run {run} ({flipped}): {error}");
                counts.saw(kind(&error));
                counts.at_open += 1;
                continue;
            }
        };
        let tree = match store.tree::<u64, String>("data") {
            Ok(tree) => tree,
            Err(error) => {
                assert!(is_damage_report(&error), "run {run} ({flipped}): {error}");
                counts.saw(kind(&error));
                counts.at_open += 1;
                drop(store);
                wait_unlocked(dir.path()).await;
                continue;
            }
        };
        let mut reported = false;
        for key in 0..KEYS {
            match tree.get(&key) {
                Ok(Some(value)) => {
                    assert_eq!(value, value_of(key), "run {run} ({flipped}): a wrong value");
                }
                Ok(None) => panic!("run {run} ({flipped}): acknowledged key {key} is missing"),
                Err(error) => {
                    assert!(is_damage_report(&error), "run {run} ({flipped}): {error}");
                    if !reported {
                        counts.saw(kind(&error));
                    }
                    reported = true;
                }
            }
        }
        if reported {
            counts.at_read += 1;
        } else {
            counts.harmless += 1;
        }
        drop(tree);
        let _ = store.close().await;
        wait_unlocked(dir.path()).await;
    }
    println!("store damage: {counts:?}");
    assert_eq!(counts.runs, counts.at_open + counts.at_read + counts.harmless);
}

#[tokio::test]
async fn a_damaged_store_can_be_salvaged_read_only_and_repaired() {
    let dir = TempDir::new("salvage");
    {
        let store = Store::open(dir.path()).unwrap();
        let tree = store.tree::<u64, String>("data").unwrap();
        for key in 0..KEYS {
            tree.insert(&key, &value_of(key)).await.unwrap();
        }
        drop(tree);
        store.close().await.unwrap();
    }
    wait_unlocked(dir.path()).await;
    // Damage a record in the middle of sled's log: sled takes it for the torn end of the log
    // and drops everything after it.
    let db = dir.path().join("db");
    let mut bytes = std::fs::read(&db).unwrap();
    let needle = value_of(KEYS / 2);
    let at = bytes.windows(needle.len()).position(|w| w == needle.as_bytes()).unwrap();
    bytes[at] ^= 0x20;
    std::fs::write(&db, bytes).unwrap();

    let report = match Store::open(dir.path()) {
        Err(StoreError::Damaged { report, .. }) => report,
        Err(other) => panic!("expected Damaged, got {other}"),
        Ok(_) => panic!("a damaged store opened as if complete"),
    };
    assert!(report.lost_commits() > 0, "{report}");
    assert_eq!(report.trees.iter().map(|t| &**t).collect::<Vec<_>>(), ["data"], "{report}");
    // Still damaged on the next open: the report does not go away by itself.
    wait_unlocked(dir.path()).await;
    assert!(matches!(Store::open(dir.path()), Err(StoreError::Damaged { .. })));
    wait_unlocked(dir.path()).await;

    // Salvage: read what survived; writes are refused.
    let store = Store::open_with(dir.path(), StoreOptions::new().salvage()).unwrap();
    assert_eq!(store.damage(), Some(&report));
    let tree = store.tree::<u64, String>("data").unwrap();
    let survived = (0..KEYS).filter(|key| tree.get(key).unwrap().is_some()).count() as u64;
    assert!(survived < KEYS, "some writes were lost");
    assert!(matches!(tree.insert(&0, &"new".to_owned()).await, Err(StoreError::ReadOnly)));
    drop(tree);
    store.close().await.unwrap();
    wait_unlocked(dir.path()).await;

    // Repair: accept the loss explicitly; it reports what was given up, once.
    assert_eq!(Store::repair(dir.path()).unwrap(), Some(report));
    assert_eq!(Store::repair(dir.path()).unwrap(), None);
    let store = Store::open(dir.path()).unwrap();
    let tree = store.tree::<u64, String>("data").unwrap();
    assert_eq!(tree.iter().count() as u64, survived);
    tree.insert(&0, &value_of(0)).await.unwrap();
    drop(tree);
    store.close().await.unwrap();
}
