//! tell / try_tell / ask: ordering, backpressure, typed errors.

use std::time::Duration;

use actor_core::{AskError, Mailbox, SpawnError, SpawnOptions, TrySendError};
use futures_util::future::join_all;

use crate::support::{Probe, ProbeMsg, pause, poll_once};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_from_one_sender_arrive_in_order() {
    let _serial = crate::support::REAL_TIME.lock().await;
    let probe = actor_core::spawn(Probe::default()).unwrap();
    let senders: Vec<_> = (0..4u32)
        .map(|sender| {
            let probe = probe.clone();
            tokio::spawn(async move {
                for seq in 0..2_000 {
                    probe.tell(ProbeMsg::Record { sender, seq }).await.unwrap();
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.unwrap();
    }
    let log = probe.ask(ProbeMsg::Log).await.unwrap();
    assert_eq!(log.len(), 8_000);
    for sender in 0..4 {
        let seqs: Vec<u32> =
            log.iter().filter(|(s, _)| *s == sender).map(|(_, seq)| *seq).collect();
        assert_eq!(seqs, (0..2_000).collect::<Vec<_>>(), "sender {sender} out of order");
    }
}

#[tokio::test]
async fn try_tell_on_a_full_mailbox_returns_every_refused_message() {
    let probe =
        SpawnOptions::new().with_mailbox(Mailbox::Bounded(1000)).spawn(Probe::default()).unwrap();
    let gate = pause(&probe).await;
    assert_eq!(probe.free_capacity(), Some(1000));

    let mut accepted = 0u64;
    let mut accepted_sum = 0u64;
    let mut refused = 0u64;
    for i in 0..100_000u64 {
        match probe.try_tell(ProbeMsg::Add(i)) {
            Ok(()) => {
                accepted += 1;
                accepted_sum += i;
            }
            Err(TrySendError::Full(ProbeMsg::Add(returned))) => {
                assert_eq!(returned, i, "the refused message must come back unchanged");
                refused += 1;
            }
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!((accepted, refused), (1000, 99_000));
    assert_eq!(probe.free_capacity(), Some(0));

    gate.send(()).unwrap();
    assert_eq!(probe.ask(ProbeMsg::Total).await.unwrap(), accepted_sum);
}

#[tokio::test]
async fn tell_waits_for_room_instead_of_failing() {
    let probe =
        SpawnOptions::new().with_mailbox(Mailbox::Bounded(2)).spawn(Probe::default()).unwrap();
    let gate = pause(&probe).await;
    probe.tell(ProbeMsg::Add(1)).await.unwrap();
    probe.tell(ProbeMsg::Add(2)).await.unwrap();

    let mut third = Box::pin(probe.tell(ProbeMsg::Add(4)));
    assert!(poll_once(&mut third).await.is_pending(), "tell must wait while the mailbox is full");

    gate.send(()).unwrap();
    third.await.unwrap();
    assert_eq!(probe.ask(ProbeMsg::Total).await.unwrap(), 7);
}

#[tokio::test]
async fn unbounded_mailbox_accepts_everything() {
    let probe =
        SpawnOptions::new().with_mailbox(Mailbox::Unbounded).spawn(Probe::default()).unwrap();
    let gate = pause(&probe).await;
    for _ in 0..100_000 {
        probe.try_tell(ProbeMsg::Add(1)).unwrap();
    }
    assert_eq!(probe.free_capacity(), None);
    gate.send(()).unwrap();
    assert_eq!(probe.ask(ProbeMsg::Total).await.unwrap(), 100_000);
}

#[tokio::test]
async fn a_stopped_actor_refuses_messages_and_hands_them_back() {
    let probe = actor_core::spawn(Probe::default()).unwrap();
    probe.stop();
    probe.stopped().await;

    let refused = probe.tell(ProbeMsg::Add(9)).await.unwrap_err();
    assert!(matches!(refused.0, ProbeMsg::Add(9)));
    match probe.try_tell(ProbeMsg::Add(8)) {
        Err(TrySendError::Closed(ProbeMsg::Add(8))) => {}
        other => panic!("expected Closed with the message, got {other:?}"),
    }
    assert_eq!(probe.ask(ProbeMsg::Total).await, Err(AskError::Closed));
}

#[tokio::test(start_paused = true)]
async fn ask_timeout_gives_up_and_the_actor_keeps_going() {
    let probe = actor_core::spawn(Probe::default()).unwrap();
    let gate = pause(&probe).await;

    let started = tokio::time::Instant::now();
    let result = probe.ask_timeout(Duration::from_secs(3), |reply| ProbeMsg::Echo(1, reply)).await;
    assert_eq!(result, Err(AskError::Timeout));
    assert_eq!(started.elapsed(), Duration::from_secs(3));

    gate.send(()).unwrap();
    let answer = probe.ask_timeout(Duration::from_secs(3), |reply| ProbeMsg::Echo(2, reply)).await;
    assert_eq!(answer, Ok(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_asks_racing_a_kill_all_complete() {
    let _serial = crate::support::REAL_TIME.lock().await;
    let probe = actor_core::spawn(Probe::default()).unwrap();
    let asks: Vec<_> = (0..10_000u64)
        .map(|i| {
            let probe = probe.clone();
            tokio::spawn(async move {
                probe.ask(|reply| ProbeMsg::Echo(i, reply)).await.map(|n| (n, i))
            })
        })
        .collect();
    // Let some of them through before the kill.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    probe.kill();

    let results = tokio::time::timeout(Duration::from_secs(60), join_all(asks))
        .await
        .expect("an ask hung after the actor was killed");
    let (mut answered, mut refused) = (0, 0);
    for result in results {
        match result.unwrap() {
            Ok((n, i)) => {
                assert_eq!(n, i);
                answered += 1;
            }
            Err(AskError::Stopped | AskError::Closed) => refused += 1,
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(answered + refused, 10_000);
    assert!(matches!(probe.stopped().await, actor_core::StopReason::Killed));
}

#[tokio::test]
async fn weak_references_do_not_keep_an_actor_alive() {
    let probe = actor_core::spawn(Probe::default()).unwrap();
    let weak = probe.downgrade();
    let control = probe.control();
    assert!(weak.upgrade().is_some());

    drop(probe);
    assert!(matches!(control.stopped().await, actor_core::StopReason::Normal));
    assert!(weak.upgrade().is_none());
}

#[tokio::test]
async fn invalid_options_are_typed_errors() {
    let zero = SpawnOptions::new().with_mailbox(Mailbox::Bounded(0)).spawn(Probe::default());
    assert!(matches!(zero.unwrap_err(), SpawnError::ZeroCapacity));
    let zero_shared = SpawnOptions::new().with_max_shared(0).spawn(Probe::default());
    assert!(matches!(zero_shared.unwrap_err(), SpawnError::ZeroSharedLimit));
    let huge =
        SpawnOptions::new().with_mailbox(Mailbox::Bounded(usize::MAX)).spawn(Probe::default());
    assert!(matches!(huge.unwrap_err(), SpawnError::CapacityTooLarge(usize::MAX)));
    let largest = u32::MAX as usize - 1;
    let largest =
        SpawnOptions::new().with_mailbox(Mailbox::Bounded(largest)).spawn(Probe::default());
    assert_eq!(largest.unwrap().free_capacity(), Some(u32::MAX as usize - 1));
}

#[test]
fn spawning_outside_a_runtime_is_an_error_not_a_panic() {
    assert!(matches!(actor_core::spawn(Probe::default()).unwrap_err(), SpawnError::NoRuntime));
}

/// The room a mailbox gives back is never lost: a sender dropped while waiting for room passes
/// its wake-up on, and the next waiting sender gets in (cancel safety of `tell`).
#[tokio::test]
async fn a_tell_dropped_while_waiting_passes_the_room_on() {
    let probe =
        SpawnOptions::new().with_mailbox(Mailbox::Bounded(2)).spawn(Probe::default()).unwrap();
    let gate = pause(&probe).await;
    probe.tell(ProbeMsg::Add(1)).await.unwrap();
    probe.tell(ProbeMsg::Add(2)).await.unwrap();

    let mut dropped = Box::pin(probe.tell(ProbeMsg::Add(100)));
    assert!(poll_once(&mut dropped).await.is_pending());
    let mut waiting = Box::pin(probe.tell(ProbeMsg::Add(4)));
    assert!(poll_once(&mut waiting).await.is_pending());
    assert_eq!(probe.free_capacity(), Some(0));

    gate.send(()).unwrap();
    drop(dropped);
    waiting.await.unwrap();
    assert_eq!(probe.ask(ProbeMsg::Total).await.unwrap(), 7, "the dropped tell enqueued nothing");
}

/// The bound holds under concurrency: senders on both threads, tiny mailboxes, waiting
/// senders and `try_tell` senders that retry a full mailbox. Every message arrives, in order per sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_mailboxes_deliver_everything_in_order_under_concurrent_senders() {
    let _serial = crate::support::REAL_TIME.lock().await;
    for capacity in [1, 2, 3, 7, 64] {
        let probe = SpawnOptions::new()
            .with_mailbox(Mailbox::Bounded(capacity))
            .spawn(Probe::default())
            .unwrap();
        let senders: Vec<_> = (0..6u32)
            .map(|sender| {
                let probe = probe.clone();
                tokio::spawn(async move {
                    for seq in 0..2_000 {
                        if seq % 5 == 0 {
                            // The waiting path and the immediate path, interleaved.
                            let mut msg = ProbeMsg::Record { sender, seq };
                            loop {
                                match probe.try_tell(msg) {
                                    Ok(()) => break,
                                    Err(TrySendError::Full(back)) => {
                                        msg = back;
                                        tokio::task::yield_now().await;
                                    }
                                    Err(other) => panic!("unexpected: {other:?}"),
                                }
                            }
                        } else {
                            probe.tell(ProbeMsg::Record { sender, seq }).await.unwrap();
                        }
                    }
                })
            })
            .collect();
        for sender in senders {
            sender.await.unwrap();
        }
        let log = probe.ask(ProbeMsg::Log).await.unwrap();
        assert_eq!(log.len(), 12_000, "capacity {capacity}");
        for sender in 0..6 {
            let seqs: Vec<u32> =
                log.iter().filter(|(s, _)| *s == sender).map(|(_, seq)| *seq).collect();
            assert_eq!(
                seqs,
                (0..2_000).collect::<Vec<_>>(),
                "capacity {capacity}, sender {sender}"
            );
        }
        probe.shutdown().await;
    }
}

/// Senders waiting for room on a mailbox that closes get their messages back; none hangs.
#[tokio::test]
async fn senders_waiting_for_room_get_their_messages_back_when_the_actor_stops() {
    let probe =
        SpawnOptions::new().with_mailbox(Mailbox::Bounded(1)).spawn(Probe::default()).unwrap();
    let gate = pause(&probe).await;
    probe.tell(ProbeMsg::Add(1)).await.unwrap();
    let waiting: Vec<_> = (0..3u64)
        .map(|n| {
            let probe = probe.clone();
            tokio::spawn(async move { probe.tell(ProbeMsg::Add(10 + n)).await })
        })
        .collect();
    tokio::task::yield_now().await;
    probe.stop();
    drop(gate);
    for (n, waiting) in waiting.into_iter().enumerate() {
        match waiting.await.unwrap() {
            Err(actor_core::SendError(ProbeMsg::Add(back))) => assert_eq!(back, 10 + n as u64),
            Ok(()) => {}
            Err(other) => panic!("unexpected: {other:?}"),
        }
    }
    assert!(matches!(probe.stopped().await, actor_core::StopReason::Normal));
}

/// A stopped actor's mailbox holds nothing: its room reads as the whole capacity again.
#[tokio::test]
async fn a_stopped_actors_mailbox_reads_empty() {
    let probe =
        SpawnOptions::new().with_mailbox(Mailbox::Bounded(4)).spawn(Probe::default()).unwrap();
    let gate = pause(&probe).await;
    for n in 0..4 {
        probe.try_tell(ProbeMsg::Add(n)).unwrap();
    }
    assert_eq!(probe.free_capacity(), Some(0));
    probe.kill();
    drop(gate);
    probe.stopped().await;
    assert_eq!(probe.free_capacity(), Some(4));
}
