//! The durable key-value actor under a supervisor.

use std::ops::Bound;
use std::time::Duration;

use actor_core::supervision::{ChildSpec, SupervisorSpec};
use actor_store::{DurableKv, DurableKvHandle, Store};

use crate::support::TempDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_actor_restarts_and_process_restarts() {
    let dir = TempDir::new("kv");
    {
        let store = Store::open(dir.path()).unwrap();
        let tree = store.tree::<String, u64>("kv").unwrap();
        let supervisor = SupervisorSpec::new()
            .child(
                ChildSpec::new("kv", move || Ok(DurableKv::new(tree.clone())))
                    .stuck_after(Duration::from_secs(5)),
            )
            .spawn()
            .await
            .unwrap();
        let kv: DurableKvHandle<String, u64> = supervisor.child("kv").unwrap();
        // 500 concurrent writers through one actor.
        let writes: Vec<_> = (0..500u64)
            .map(|i| {
                let kv = kv.clone();
                tokio::spawn(async move { kv.set(format!("k{i:03}"), i).await })
            })
            .collect();
        for w in writes {
            assert_eq!(w.await.unwrap().unwrap(), None);
        }
        assert!(store.stats().flushes < 250, "{:?}: writes did not share flushes", store.stats());
        // Restart the actor by force: the supervisor builds a new one over the same tree.
        kv.actor_ref().control().fail("reset");
        assert_eq!(kv.get("k042".to_owned()).await.unwrap(), Some(42));
        let page = kv.range(Bound::Included("k100".to_owned()), Bound::Unbounded, 3).await.unwrap();
        assert_eq!(
            page,
            [("k100".to_owned(), 100), ("k101".to_owned(), 101), ("k102".to_owned(), 102)]
        );
        assert_eq!(kv.delete("k000".to_owned()).await.unwrap(), Some(0));
        supervisor.shutdown().await;
        store.close().await.unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let kv = DurableKv::new(store.tree::<String, u64>("kv").unwrap()).spawn().unwrap();
    assert_eq!(kv.count().await.unwrap(), 499);
    assert_eq!(kv.get("k499".to_owned()).await.unwrap(), Some(499));
    assert_eq!(kv.get("k000".to_owned()).await.unwrap(), None);
}
