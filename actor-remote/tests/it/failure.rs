//! Failure you can see: nothing served is not found at once; a silent server times out; a
//! watch reports a name down when its server goes.

use std::time::{Duration, Instant};

use actor_core::actor;
use actor_remote::{Down, RemoteError, RemoteHandle};

use crate::support::{Kitchen, KitchenRemote, node, unique_name};

#[tokio::test]
async fn nothing_served_is_not_found_at_once_and_a_silent_server_times_out() {
    let Some(node) = node().await else { return };
    let name = unique_name("nobody");
    let remote: KitchenRemote = node.remote(&name).unwrap();
    let started = Instant::now();
    assert!(matches!(remote.told().await, Err(RemoteError::NotFound { .. })));
    assert!(started.elapsed() < remote.target().timeout(), "not found comes without the timeout");
    assert!(matches!(
        node.resolve::<KitchenRemote>(&name).await,
        Err(RemoteError::NotFound { .. })
    ));
    assert!(matches!(node.remote::<KitchenRemote>("a b"), Err(RemoteError::InvalidName { .. })));

    // A subscriber that never answers: the ask times out.
    let silent = unique_name("silent");
    let _sub = node.client().subscribe(format!("actors.{silent}")).await.unwrap();
    node.client().flush().await.unwrap();
    let remote: KitchenRemote = node.remote(&silent).unwrap();
    let remote = remote.with_timeout(Duration::from_millis(200));
    match remote.told().await {
        Err(RemoteError::Timeout { after, .. }) => assert_eq!(after, Duration::from_millis(200)),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

/// Receives a watch's down message.
struct Watcher {
    downs: tokio::sync::mpsc::UnboundedSender<Down>,
}

#[actor]
impl Watcher {
    fn down(&mut self, down: Down) {
        let _ = self.downs.send(down);
    }
}

#[tokio::test]
async fn a_watch_delivers_a_down_message_when_the_server_stops_serving() {
    let Some(node) = node().await else { return };
    let name = unique_name("watched");
    let served = node.serve(&name, Kitchen::default().spawn().unwrap()).await.unwrap();
    let remote: KitchenRemote = node.resolve(&name).await.unwrap();
    let (downs, mut received) = tokio::sync::mpsc::unbounded_channel();
    let watcher = Watcher { downs }.spawn().unwrap();
    let every = Duration::from_millis(20);
    let _watch = remote.target().watch(every, 3, watcher.actor_ref(), WatcherMessage::down);
    served.stop().await;
    let down = tokio::time::timeout(Duration::from_secs(30), received.recv()).await;
    assert_eq!(down, Ok(Some(Down::NotFound)));
}

/// A hand-written service whose `call` panics on `boom`.
#[derive(Clone)]
struct Panicky;

impl actor_remote::Serve for Panicky {
    const ACTOR: &'static str = "Panicky";
    const VERSION: u32 = 1;

    async fn call(&self, message: &str, _args: &[u8]) -> actor_remote::CallResult {
        if message == "boom" {
            panic!("crash on purpose");
        }
        Ok(b"1".to_vec())
    }

    fn stopped(&self) -> impl std::future::Future<Output = ()> + Send {
        std::future::pending()
    }
}

#[derive(Clone, Debug)]
struct PanickyRemote(actor_remote::Target);

impl RemoteHandle for PanickyRemote {
    const ACTOR: &'static str = "Panicky";
    const VERSION: u32 = 1;

    fn from_target(target: actor_remote::Target) -> Self {
        PanickyRemote(target)
    }

    fn target(&self) -> &actor_remote::Target {
        &self.0
    }
}

#[tokio::test]
async fn a_panicking_call_answers_panicked_and_the_name_stays_served() {
    let Some(node) = node().await else { return };
    let name = unique_name("panicky");
    let served = node.serve(&name, Panicky).await.unwrap();
    let remote: PanickyRemote = node.remote(&name).unwrap();
    for _ in 0..3 {
        match remote.target().ask::<u32, std::convert::Infallible>("boom", &()).await {
            Err(RemoteError::Panicked(message)) => assert!(message.contains("crash on purpose")),
            other => panic!("expected a panic, got {other:?}"),
        }
        let fine: u32 =
            remote.target().ask::<u32, std::convert::Infallible>("fine", &()).await.unwrap();
        assert_eq!(fine, 1);
    }
    assert!(!served.is_finished());
}
