//! Every handler of a generated actor, called through its remote handle, gives what the local
//! handle gives; a name served twice is a pool.

use std::time::Duration;

use actor_remote::{Down, RemoteError, RemoteHandle};

use crate::support::{Item, Kitchen, KitchenRemote, node, unique_name};

#[tokio::test]
async fn every_message_of_a_generated_actor_round_trips() {
    let Some(node) = node().await else { return };
    let name = unique_name("kitchen");
    let local = Kitchen::default().spawn().unwrap();
    let served = node.serve(&name, local.clone()).await.unwrap();
    let remote: KitchenRemote = node.resolve(&name).await.unwrap();

    let flour = Item { name: "flour".to_owned(), qty: 3 };
    assert_eq!(remote.add(flour.clone()).await.unwrap(), 1);
    assert_eq!(remote.add(Item { name: "salt".to_owned(), qty: 1 }).await.unwrap(), 2);
    assert_eq!(remote.take("flour".to_owned()).await.unwrap(), flour);
    match remote.take("sugar".to_owned()).await {
        Err(RemoteError::Handler(error)) => assert_eq!(error, "no sugar"),
        other => panic!("expected the handler's own error, got {other:?}"),
    }
    assert_eq!(remote.count(7, Some("x".to_owned())).await.unwrap(), (1, 7, Some("x".to_owned())));
    assert_eq!(remote.count(0, None).await.unwrap(), (1, 0, None));
    assert_eq!(remote.later().await.unwrap(), 10);
    assert_eq!(remote.slow(5).await.unwrap(), 5);
    remote.clear().await.unwrap();
    assert_eq!(local.count(0, None).await.unwrap().0, 0, "the local actor was changed");
    // Messages from one node reach the actor in the order they were sent (its mailbox has
    // room): the ask after the tells sees them all.
    for n in 1..=10 {
        remote.note(n).await.unwrap();
    }
    assert_eq!(remote.told().await.unwrap(), 55);
    match remote.boom().await {
        Err(RemoteError::Panicked(message)) => assert!(message.contains("boom on purpose")),
        other => panic!("expected a panic, got {other:?}"),
    }
    // The panic stopped the actor (no supervisor): serving ends with it, and the name is gone.
    local.stopped().await;
    let down = remote.target().down(Duration::from_millis(20), 250);
    assert_eq!(tokio::time::timeout(Duration::from_secs(30), down).await, Ok(Down::NotFound));
    assert!(matches!(remote.told().await, Err(RemoteError::NotFound { .. })));
    assert!(served.is_finished());
}

#[tokio::test]
async fn a_name_served_by_two_nodes_spreads_asks_over_both_and_survives_one() {
    let Some(a) = node().await else { return };
    let Some(b) = node().await else { return };
    let name = unique_name("pool");
    let (left, right) = (Kitchen::default().spawn().unwrap(), Kitchen::default().spawn().unwrap());
    let served_left = a.serve(&name, left.clone()).await.unwrap();
    let _served_right = b.serve(&name, right.clone()).await.unwrap();
    let remote: KitchenRemote = a.remote(&name).unwrap();
    for n in 0..200 {
        remote.add(Item { name: format!("i{n}"), qty: n }).await.unwrap();
    }
    let (l, r) = (left.count(0, None).await.unwrap().0, right.count(0, None).await.unwrap().0);
    assert_eq!(l + r, 200, "every ask went to exactly one server");
    assert!(l > 0 && r > 0, "both servers took asks: {l} and {r}");
    served_left.stop().await;
    for n in 0..50 {
        remote.add(Item { name: format!("j{n}"), qty: n }).await.unwrap();
    }
    assert_eq!(right.count(0, None).await.unwrap().0, r + 50, "the survivor took them all");
}
