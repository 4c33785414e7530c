//! Pipelines: order, exactly once, errors with ids, closing, backpressure.

use std::collections::HashSet;
use std::time::Duration;

use actor_factory::stream::{ItemId, Pipeline, Stage};

use crate::support::Rng;

fn delay(n: u64, salt: u64) -> Duration {
    let mut rng = Rng(n * 31 + salt);
    Duration::from_micros(rng.below(300))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_ordered_stages_return_every_item_once_in_order() {
    let pipeline = Pipeline::new(
        Stage::new(8, |n: u64| async move {
            tokio::time::sleep(delay(n, 1)).await;
            Ok::<_, String>(n)
        })
        .ordered(32),
    )
    .then(
        Stage::new(4, |n: u64| async move {
            tokio::time::sleep(delay(n, 2)).await;
            Ok::<_, String>(n * 3)
        })
        .ordered(16),
    )
    .then(
        Stage::new(6, |n: u64| async move {
            tokio::time::sleep(delay(n, 3)).await;
            Ok::<_, String>(format!("{n}"))
        })
        .ordered(64),
    );
    let progress = pipeline.progress();
    let (input, mut output) = pipeline.split();
    let feeder = tokio::spawn(async move {
        for n in 0..10_000u64 {
            assert_eq!(input.send(n).await.ok(), Some(ItemId(n)));
        }
    });
    let mut got = Vec::with_capacity(10_000);
    while let Some((id, result)) = output.recv().await {
        assert_eq!(id.0, got.len() as u64);
        got.push(result.unwrap());
    }
    feeder.await.unwrap();
    assert_eq!(got, (0..10_000u64).map(|n| (n * 3).to_string()).collect::<Vec<_>>());
    assert_eq!(
        (progress.submitted(), progress.succeeded(), progress.failed()),
        (10_000, 10_000, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_keep_their_place_and_their_id() {
    crate::support::quiet_panics();
    let (input, mut output) = Pipeline::new(
        Stage::new(4, |n: u64| async move {
            if n % 7 == 3 {
                return Err(format!("{n} is unlucky"));
            }
            Ok(n)
        })
        .ordered(8),
    )
    .then(
        Stage::new(4, |n: u64| async move {
            if n % 11 == 5 {
                panic!("crash on purpose");
            }
            Ok::<_, String>(n)
        })
        .ordered(8),
    )
    .split();
    tokio::spawn(async move {
        for n in 0..1_000u64 {
            input.send(n).await.unwrap();
        }
    });
    let mut seen = 0;
    while let Some((id, result)) = output.recv().await {
        assert_eq!(id.0, seen);
        match result {
            Ok(n) => assert_eq!(n, id.0),
            Err(e) if id.0 % 7 == 3 => {
                assert_eq!((e.id, e.stage), (id, 0));
                assert!(e.error.to_string().contains("unlucky"), "{e}");
            }
            Err(e) => {
                assert_eq!(id.0 % 11, 5, "{e}");
                assert_eq!((e.id, e.stage), (id, 1));
                assert!(e.to_string().contains("panicked: crash on purpose"), "{e}");
            }
        }
        seen += 1;
    }
    assert_eq!(seen, 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unordered_stages_lose_nothing_and_closing_ends_the_output() {
    let (input, mut output) = Pipeline::new(Stage::new(4, |n: u64| async move {
        tokio::time::sleep(delay(n, 9)).await;
        Ok::<_, String>(n)
    }))
    .then(Stage::new(3, |n: u64| async move { Ok::<_, String>(n + 1) }))
    .split();
    let sender = input.clone();
    tokio::spawn(async move {
        for n in 0..2_000u64 {
            sender.send(n).await.unwrap();
        }
    });
    drop(input);
    let mut got = HashSet::new();
    while let Some((id, result)) = output.recv().await {
        assert_eq!(result.unwrap(), id.0 + 1);
        assert!(got.insert(id), "{id} came out twice");
    }
    assert_eq!(got.len(), 2_000);
}

#[tokio::test(start_paused = true)]
async fn a_full_pipeline_makes_the_sender_wait() {
    // One worker that takes 10 ms per item, tiny channels: the sender is held back.
    let (input, mut output) = Pipeline::new(
        Stage::new(1, |n: u64| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok::<_, String>(n)
        })
        .capacity(1),
    )
    .split();
    let start = tokio::time::Instant::now();
    let sender = tokio::spawn(async move {
        for n in 0..10u64 {
            input.send(n).await.unwrap();
        }
        tokio::time::Instant::now()
    });
    // Nothing is read for 200 ms: the sender can place only what the channels hold.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!sender.is_finished(), "the sender should be waiting for room");
    let mut n = 0;
    while let Some((_, result)) = output.recv().await {
        assert_eq!(result.unwrap(), n);
        n += 1;
    }
    let done = sender.await.unwrap();
    assert!(done - start >= Duration::from_millis(200));
    assert_eq!(n, 10);
}
