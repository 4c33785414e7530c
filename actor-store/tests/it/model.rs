//! Model-based test: random operations against the store and a `BTreeMap`, with restarts.
//!
//! Seeded and reproducible: a failure names its seed; `MODEL_SEED=<seed> cargo test -p
//! actor-store model` replays that run alone.

use std::collections::BTreeMap;
use std::ops::Bound;

use actor_store::{DurableKv, DurableKvHandle, Store};

use crate::support::{Rng, TempDir};

const RUNS: u64 = 256;
const MAX_OPS: u64 = 200;
const KEYS: u64 = 24;

type Kv = DurableKvHandle<u16, u32>;

fn open(dir: &TempDir) -> (Store, Kv) {
    let store = Store::open(dir.path()).unwrap();
    let kv = DurableKv::new(store.tree::<u16, u32>("model").unwrap()).spawn().unwrap();
    (store, kv)
}

async fn close(store: Store, kv: Kv) {
    kv.stop();
    kv.stopped().await;
    drop(kv);
    store.close().await.unwrap();
}

async fn run(seed: u64) {
    let mut rng = Rng::new(seed);
    let dir = TempDir::new("model");
    let (mut store, mut kv) = open(&dir);
    let mut model = BTreeMap::<u16, u32>::new();
    let ops = 1 + rng.below(MAX_OPS);
    for step in 0..ops {
        let key = rng.below(KEYS) as u16;
        let value = rng.below(1000) as u32;
        let at = format!("seed {seed}, step {step}");
        match rng.below(100) {
            0..=34 => {
                let previous = kv.set(key, value).await.unwrap();
                assert_eq!(previous, model.insert(key, value), "set: {at}");
            }
            35..=49 => {
                let removed = kv.delete(key).await.unwrap();
                assert_eq!(removed, model.remove(&key), "delete: {at}");
            }
            50..=64 => {
                // Expect the right value half the time, a wrong one otherwise.
                let expected =
                    if rng.below(2) == 0 { model.get(&key).copied() } else { Some(value + 1) };
                let new = if rng.below(4) == 0 { None } else { Some(value) };
                let outcome = kv.compare_and_swap(key, expected, new).await.unwrap();
                if model.get(&key).copied() == expected {
                    assert!(outcome.is_ok(), "cas should succeed: {at}");
                    match new {
                        Some(v) => model.insert(key, v),
                        None => model.remove(&key),
                    };
                } else {
                    let current = outcome.expect_err("cas should conflict").current;
                    assert_eq!(current, model.get(&key).copied(), "cas conflict value: {at}");
                }
            }
            65..=79 => {
                assert_eq!(kv.get(key).await.unwrap(), model.get(&key).copied(), "get: {at}");
            }
            80..=96 => {
                let end = key + rng.below(KEYS) as u16;
                let limit = rng.below(10) as usize;
                let (start, end) = (Bound::Included(key), Bound::Excluded(end));
                let got = kv.range(start, end, limit).await.unwrap();
                let want: Vec<_> =
                    model.range((start, end)).take(limit).map(|(k, v)| (*k, *v)).collect();
                assert_eq!(got, want, "range: {at}");
            }
            _ => {
                close(store, kv).await;
                (store, kv) = open(&dir);
                let all = kv.range(Bound::Unbounded, Bound::Unbounded, usize::MAX).await.unwrap();
                let want: Vec<_> = model.iter().map(|(k, v)| (*k, *v)).collect();
                assert_eq!(all, want, "after restart: {at}");
            }
        }
    }
    close(store, kv).await;
}

fn seeds(part: u64, parts: u64) -> Vec<u64> {
    if let Some(seed) = std::env::var("MODEL_SEED").ok().and_then(|s| s.parse().ok()) {
        return if part == 0 { vec![seed] } else { Vec::new() };
    }
    (0..RUNS).filter(|i| i % parts == part).map(|i| 0x5eed_0000 + i).collect()
}

#[tokio::test]
async fn store_matches_a_btreemap_first_half() {
    for seed in seeds(0, 2) {
        run(seed).await;
    }
}

#[tokio::test]
async fn store_matches_a_btreemap_second_half() {
    for seed in seeds(1, 2) {
        run(seed).await;
    }
}
