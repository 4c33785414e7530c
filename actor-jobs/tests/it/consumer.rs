//! A factory consuming the durable job queue: acknowledgement only on success, stats that count
//! jobs, autoscaling on the durable backlog.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use actor_core::actor;
use actor_factory::Autoscale;
use actor_jobs::{
    ConsumerSpec, EmbeddedQueue, EnqueueOptions, JobBackend, JobId, JobState, JobStatus,
    QueueOptions, RetryPolicy,
};
use actor_store::Store;

use crate::support::{TempDir, quiet_panics};

/// What a durable test job does on each attempt.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
enum Work {
    /// Succeed with this value.
    Echo(u64),
    /// Panic on attempts before `n`, then succeed.
    PanicUntil(u32),
    /// Hang on attempts before `n`, then succeed.
    HangUntil(u32),
    /// Fail every attempt.
    AlwaysFail,
}

type Queue = EmbeddedQueue<Work, u64>;

struct Runner {
    ran: Arc<AtomicU32>,
}

#[actor]
impl Runner {
    async fn run(&mut self, work: actor_jobs::Work<Work, u64, Queue>) {
        self.ran.fetch_add(1, Ordering::Relaxed);
        let attempt = work.attempt();
        match work.payload().clone() {
            Work::Echo(n) => drop(work.complete(n).await),
            Work::PanicUntil(n) if attempt < n => panic!("crash on purpose"),
            Work::HangUntil(n) if attempt < n => std::future::pending::<()>().await,
            Work::PanicUntil(_) | Work::HangUntil(_) => {
                drop(work.complete(u64::from(attempt)).await)
            }
            Work::AlwaysFail => drop(work.fail(format!("attempt {attempt} failed")).await),
        }
    }
}

fn options() -> QueueOptions {
    QueueOptions::new().visibility_timeout(Duration::from_secs(60)).retry(RetryPolicy {
        max_attempts: 3,
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(10),
    })
}

/// Waits until every job in `ids` is finished.
async fn until_finished(queue: &Queue, ids: &[JobId]) {
    let wait = async {
        for id in ids {
            queue.wait_for(*id).await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait).await.expect("jobs did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_jobs_run_on_the_factory_and_are_acknowledged_once() {
    let dir = TempDir::new("durable-basic");
    let store = Store::open(dir.path()).unwrap();
    let queue = Queue::open(&store, "work", options()).await.unwrap();
    let ran = Arc::new(AtomicU32::new(0));
    let r = Arc::clone(&ran);
    let consumer =
        ConsumerSpec::new(4, move || Ok(Runner { ran: Arc::clone(&r) }), RunnerMessage::run)
            .spawn(queue.clone())
            .unwrap();
    let mut ids = Vec::new();
    for n in 0..300u64 {
        let options = EnqueueOptions::new().key(format!("k{}", n % 7));
        ids.push(queue.enqueue(Work::Echo(n), options).await.unwrap());
    }
    until_finished(&queue, &ids).await;
    for (n, id) in ids.iter().enumerate() {
        let record = queue.status(*id).await.unwrap().unwrap();
        assert_eq!(record.state, JobState::Succeeded { result: n as u64 });
        assert_eq!(record.attempt, 1);
    }
    assert_eq!(ran.load(Ordering::Relaxed), 300, "a job ran twice");
    let stats = consumer.shutdown().await;
    assert_eq!((stats.attempts, stats.succeeded, stats.retried, stats.dead), (300, 300, 0, 0));
    assert_eq!(queue.stats().await.unwrap().succeeded, 300);
    queue.close().await;
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_hanging_and_failing_handlers_never_acknowledge() {
    quiet_panics();
    let dir = TempDir::new("durable-bad");
    let store = Store::open(dir.path()).unwrap();
    let queue = Queue::open(&store, "work", options()).await.unwrap();
    let ran = Arc::new(AtomicU32::new(0));
    let r = Arc::clone(&ran);
    let consumer =
        ConsumerSpec::new(2, move || Ok(Runner { ran: Arc::clone(&r) }), RunnerMessage::run)
            .stuck_after(Duration::from_millis(200))
            .spawn(queue.clone())
            .unwrap();
    let panics = queue.enqueue(Work::PanicUntil(3), EnqueueOptions::new()).await.unwrap();
    let hangs = queue.enqueue(Work::HangUntil(2), EnqueueOptions::new()).await.unwrap();
    let fails = queue.enqueue(Work::AlwaysFail, EnqueueOptions::new()).await.unwrap();
    let fine = queue.enqueue(Work::Echo(5), EnqueueOptions::new()).await.unwrap();
    until_finished(&queue, &[panics, hangs, fails, fine]).await;

    let mut records = std::collections::HashMap::new();
    for id in [panics, hangs, fails, fine] {
        records.insert(id, queue.status(id).await.unwrap().unwrap());
    }
    let state = |id| records[&id].clone();
    assert_eq!(state(panics).state, JobState::Succeeded { result: 3 }, "two panics, then success");
    assert_eq!(state(hangs).state, JobState::Succeeded { result: 2 }, "stuck once, then success");
    assert_eq!(state(fine).state, JobState::Succeeded { result: 5 });
    assert_eq!(
        state(fails).state,
        JobState::Dead { error: "attempt 3 failed".to_owned() },
        "dead after exactly three attempts"
    );
    assert_eq!(state(fails).attempt, 3);
    assert_eq!(queue.list(JobStatus::Dead, 10).await.unwrap(), vec![fails]);
    // 3 + 2 + 3 + 1 attempts.
    assert_eq!(ran.load(Ordering::Relaxed), 9);
    let factory = consumer.factory().stats();
    assert_eq!(factory.replaced, 3, "two crashed workers and a stuck one were replaced");
    let stats = consumer.shutdown().await;
    // Counted in jobs: three succeeded, one dead; five failed attempts ran again (two panics,
    // a hang, two failures before the last).
    assert_eq!(
        (stats.attempts, stats.succeeded, stats.dead, stats.retried),
        (9, 3, 1, 5),
        "{stats}"
    );
    assert_eq!(stats.abandoned, 3, "two panics and a hang were failed for their handlers");
    queue.close().await;
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_scales_on_the_durable_backlog() {
    let dir = TempDir::new("durable-scale");
    let store = Store::open(dir.path()).unwrap();
    let queue = Queue::open(&store, "work", options()).await.unwrap();
    let (release, released) = tokio::sync::watch::channel(false);
    struct Slow {
        released: tokio::sync::watch::Receiver<bool>,
    }
    #[actor]
    impl Slow {
        async fn run(&mut self, work: actor_jobs::Work<Work, u64, Queue>) {
            let _ = self.released.wait_for(|go| *go).await;
            let _ = work.complete(0).await;
        }
    }
    let policy = Autoscale::new(1, 6)
        .queue_per_worker(2)
        .idle_for(Duration::from_millis(200))
        .every(Duration::from_millis(20));
    let consumer =
        ConsumerSpec::new(1, move || Ok(Slow { released: released.clone() }), SlowMessage::run)
            .autoscale(policy)
            .spawn(queue.clone())
            .unwrap();
    let jobs: Vec<(Work, EnqueueOptions)> =
        (0..100).map(|n| (Work::Echo(n), EnqueueOptions::new())).collect();
    queue.enqueue_many(jobs).await.unwrap();
    // The factory holds at most 2 jobs per worker; the backlog is in the durable queue, and
    // the consumer grows the pool to its maximum on it.
    let mut workers = consumer.factory().watch_workers();
    let grown = workers.wait_for(|&n| n == 6);
    tokio::time::timeout(Duration::from_secs(30), grown)
        .await
        .expect("the pool did not grow")
        .unwrap();
    release.send(true).unwrap();
    queue.wait_idle().await.unwrap();
    let shrunk = workers.wait_for(|&n| n == 1);
    tokio::time::timeout(Duration::from_secs(30), shrunk)
        .await
        .expect("the pool did not shrink")
        .unwrap();
    let stats = consumer.shutdown().await;
    assert_eq!(stats.succeeded, 100, "{stats}");
    queue.close().await;
    store.close().await.unwrap();
}
