//! Panic isolation: the asker learns of the panic, queued askers are answered, nobody hangs.

use actor_core::{AskError, StopReason};
use futures_util::future::{join, join_all};

use crate::support::{Probe, ProbeMsg, events_of, pause};

#[tokio::test]
async fn a_panic_answers_its_asker_and_every_queued_asker() {
    let probe = actor_core::spawn(Probe::default()).unwrap();
    let gate = pause(&probe).await;

    // `join` and `join_all` poll in order, so the panic is queued first and the echoes behind it.
    let asks = join(
        probe.ask(ProbeMsg::Panic),
        join_all((0..100).map(|i| probe.ask(move |reply| ProbeMsg::Echo(i, reply)))),
    );
    let release = async {
        tokio::task::yield_now().await;
        gate.send(()).unwrap();
    };
    let ((panicked, queued), ()) = join(asks, release).await;

    assert_eq!(
        panicked,
        Err(AskError::Panicked("boom".into())),
        "the asker learns the panic's message"
    );
    assert_eq!(queued.len(), 100);
    assert!(queued.iter().all(|r| *r == Err(AskError::Stopped)), "{queued:?}");
    match probe.stopped().await {
        StopReason::Panicked(message) => assert_eq!(&*message, "boom"),
        other => panic!("expected Panicked, got {other:?}"),
    }
}

#[tokio::test]
async fn a_panic_after_an_await_still_reports_the_panic() {
    let probe = actor_core::spawn(Probe::default()).unwrap();
    assert_eq!(
        probe.ask(ProbeMsg::PanicAfterAwait).await,
        Err(AskError::Panicked("boom after await".into()))
    );
    assert!(matches!(probe.stopped().await, StopReason::Panicked(_)));
}

#[tokio::test]
async fn on_stop_runs_after_a_panic_and_other_actors_are_unaffected() {
    let probe = Probe::default();
    let events = probe.events.clone();
    let probe = actor_core::spawn(probe).unwrap();
    let bystander = actor_core::spawn(Probe::default()).unwrap();

    assert_eq!(probe.ask(ProbeMsg::Panic).await, Err(AskError::Panicked("boom".into())));
    probe.stopped().await;
    assert_eq!(events_of(&events), ["start", "stop: panicked: boom"]);

    bystander.tell(ProbeMsg::Add(5)).await.unwrap();
    assert_eq!(bystander.ask(ProbeMsg::Total).await, Ok(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_on_a_multi_threaded_runtime_loses_no_asker() {
    let _serial = crate::support::REAL_TIME.lock().await;
    let probe = actor_core::spawn(Probe::default()).unwrap();
    let asks: Vec<_> = (0..1_000u64)
        .map(|i| {
            let probe = probe.clone();
            tokio::spawn(async move {
                if i == 500 {
                    probe.ask(ProbeMsg::Panic).await.map(|()| i)
                } else {
                    probe.ask(|reply| ProbeMsg::Echo(i, reply)).await
                }
            })
        })
        .collect();
    let mut panicked = 0;
    for (i, ask) in join_all(asks).await.into_iter().enumerate() {
        match ask.unwrap() {
            Ok(n) => assert_eq!(n, i as u64),
            Err(AskError::Panicked(_)) => panicked += 1,
            Err(AskError::Stopped | AskError::Closed) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(panicked, 1, "exactly the panicking asker sees the panic");
}

/// A callback reply slot is called exactly once with what an asker would get: the value, the
/// panic's message (dropped while unwinding, or held by a future dropped after its panic), and
/// `Stopped` for a message left queued when the actor ended.
#[tokio::test]
async fn a_callback_reply_is_called_once_with_the_outcome_an_asker_gets() {
    type Outcome = (&'static str, Result<String, AskError>);
    fn slot<T: std::fmt::Debug + Send>(
        tx: &std::sync::mpsc::Sender<Outcome>,
        label: &'static str,
    ) -> actor_core::Reply<T> {
        let tx = tx.clone();
        actor_core::Reply::callback(move |outcome: Result<T, AskError>| {
            tx.send((label, outcome.map(|value| format!("{value:?}")))).unwrap();
        })
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let probe = actor_core::spawn(Probe::default()).unwrap();
    let gate = pause(&probe).await;
    probe.tell(ProbeMsg::Echo(7, slot(&tx, "echo"))).await.unwrap();
    probe.tell(ProbeMsg::Panic(slot(&tx, "panic"))).await.unwrap();
    probe.tell(ProbeMsg::Echo(8, slot(&tx, "queued"))).await.unwrap();
    gate.send(()).unwrap();
    probe.stopped().await;

    let after_await = actor_core::spawn(Probe::default()).unwrap();
    after_await.tell(ProbeMsg::PanicAfterAwait(slot(&tx, "after await"))).await.unwrap();
    after_await.stopped().await;
    drop(tx);

    let got: Vec<_> = rx.iter().collect();
    assert_eq!(
        got,
        [
            ("echo", Ok("7".to_owned())),
            ("panic", Err(AskError::Panicked("boom".into()))),
            ("queued", Err(AskError::Stopped)),
            ("after await", Err(AskError::Panicked("boom after await".into()))),
        ]
    );
}
