//! Cancel safety: each public future dropped after its first poll leaves nothing half done
//! and nobody waiting.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use actor_remote::{Down, RemoteError, RemoteHandle};

use crate::support::{Item, Kitchen, KitchenRemote, node, unique_name};

/// Polls `future` once, then drops it.
pub(crate) async fn poll_once_then_drop(future: impl Future) {
    let mut future = pin!(future);
    std::future::poll_fn(|cx| {
        let _ = future.as_mut().poll(cx);
        Poll::Ready(())
    })
    .await;
}

#[tokio::test]
async fn a_dropped_ask_leaves_the_actor_serving_and_the_next_ask_answered() {
    let Some(node) = node().await else { return };
    let name = unique_name("dropped-ask");
    let local = Kitchen::default().spawn().unwrap();
    let _served = node.serve(&name, local.clone()).await.unwrap();
    let remote: KitchenRemote = node.resolve(&name).await.unwrap();
    // Dropped after its first poll: sent or not, nothing waits for it.
    poll_once_then_drop(remote.add(Item { name: "maybe".to_owned(), qty: 1 })).await;
    poll_once_then_drop(remote.slow(50)).await;
    let after = remote.add(Item { name: "sure".to_owned(), qty: 1 }).await.unwrap();
    assert!((1..=2).contains(&after), "the dropped add happened once or not at all: {after}");
    assert_eq!(local.count(0, None).await.unwrap().0, after);
}

#[tokio::test]
async fn a_dropped_stop_still_stops_serving_and_a_dropped_serve_serves_nothing() {
    let Some(node) = node().await else { return };
    let name = unique_name("dropped-stop");
    let served = node.serve(&name, Kitchen::default().spawn().unwrap()).await.unwrap();
    let remote: KitchenRemote = node.resolve(&name).await.unwrap();
    poll_once_then_drop(served.stop()).await;
    let down = remote.target().down(Duration::from_millis(20), 250);
    assert_eq!(tokio::time::timeout(Duration::from_secs(30), down).await, Ok(Down::NotFound));

    let other = unique_name("dropped-serve");
    poll_once_then_drop(node.serve(&other, Kitchen::default().spawn().unwrap())).await;
    let remote: KitchenRemote = node.remote(&other).unwrap();
    let down = remote.target().down(Duration::from_millis(20), 250);
    assert_eq!(tokio::time::timeout(Duration::from_secs(30), down).await, Ok(Down::NotFound));
    assert!(matches!(remote.told().await, Err(RemoteError::NotFound { .. })));
}
