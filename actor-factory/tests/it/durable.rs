//! A factory consuming the durable job queue: acknowledgement only on success.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use actor_core::actor;
use actor_factory::durable::{Consumer, DurableJob};
use actor_factory::{FactorySpec, Job, Routing};
use actor_store::{
    EnqueueOptions, JobId, JobQueue, JobState, JobStatus, QueueOptions, RetryPolicy, Store,
};

use crate::support::quiet_panics;

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

type Queue = JobQueue<Work, u64>;

struct Runner {
    ran: Arc<AtomicU32>,
}

#[actor]
impl Runner {
    async fn run(&mut self, mut job: Job<String, DurableJob<Work, u64>>) {
        self.ran.fetch_add(1, Ordering::Relaxed);
        let Some(work) = job.payload_mut() else { return };
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

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let path = std::env::temp_dir().join(format!("actor-factory-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        Dir(path)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn options() -> QueueOptions {
    QueueOptions::new().visibility_timeout(Duration::from_secs(60)).retry(RetryPolicy {
        max_attempts: 3,
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(10),
    })
}

/// Waits (without a timer of its own) until every job in `ids` is finished.
async fn until_finished(queue: &Queue, ids: &[JobId]) {
    let wait = async {
        loop {
            let change = queue.wait_for_change();
            let unfinished = ids
                .iter()
                .filter(|id| !queue.status(**id).unwrap().unwrap().status().is_finished())
                .count();
            if unfinished == 0 {
                return;
            }
            change.await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait).await.expect("jobs did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_jobs_run_on_the_factory_and_are_acknowledged_once() {
    let dir = Dir::new("durable-basic");
    let store = Store::open(&dir.0).unwrap();
    let queue = Queue::open(&store, "work", options()).await.unwrap();
    let ran = Arc::new(AtomicU32::new(0));
    let r = Arc::clone(&ran);
    let consumer = Consumer::spawn(
        queue.clone(),
        FactorySpec::new(4, move || Ok(Runner { ran: Arc::clone(&r) }), RunnerMessage::run)
            .routing(Routing::KeyPersistent),
    )
    .unwrap();
    let mut ids = Vec::new();
    for n in 0..300u64 {
        let options = EnqueueOptions::new().key(format!("k{}", n % 7));
        ids.push(queue.enqueue(Work::Echo(n), options).await.unwrap());
    }
    until_finished(&queue, &ids).await;
    for (n, id) in ids.iter().enumerate() {
        let record = queue.status(*id).unwrap().unwrap();
        assert_eq!(record.state, JobState::Succeeded { result: n as u64 });
        assert_eq!(record.attempt, 1);
    }
    assert_eq!(ran.load(Ordering::Relaxed), 300, "a job ran twice");
    let stats = consumer.shutdown().await;
    assert_eq!(stats.processed, 300);
    assert_eq!(queue.stats().succeeded, 300);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_hanging_and_failing_handlers_never_acknowledge() {
    quiet_panics();
    let dir = Dir::new("durable-bad");
    let store = Store::open(&dir.0).unwrap();
    let queue = Queue::open(&store, "work", options()).await.unwrap();
    let ran = Arc::new(AtomicU32::new(0));
    let r = Arc::clone(&ran);
    let consumer = Consumer::spawn(
        queue.clone(),
        FactorySpec::new(2, move || Ok(Runner { ran: Arc::clone(&r) }), RunnerMessage::run)
            .stuck_after(Duration::from_millis(200)),
    )
    .unwrap();
    let panics = queue.enqueue(Work::PanicUntil(3), EnqueueOptions::new()).await.unwrap();
    let hangs = queue.enqueue(Work::HangUntil(2), EnqueueOptions::new()).await.unwrap();
    let fails = queue.enqueue(Work::AlwaysFail, EnqueueOptions::new()).await.unwrap();
    let fine = queue.enqueue(Work::Echo(5), EnqueueOptions::new()).await.unwrap();
    until_finished(&queue, &[panics, hangs, fails, fine]).await;

    let state = |id| queue.status(id).unwrap().unwrap();
    assert_eq!(state(panics).state, JobState::Succeeded { result: 3 }, "two panics, then success");
    assert_eq!(state(hangs).state, JobState::Succeeded { result: 2 }, "stuck once, then success");
    assert_eq!(state(fine).state, JobState::Succeeded { result: 5 });
    assert_eq!(
        state(fails).state,
        JobState::Dead { error: "attempt 3 failed".to_owned() },
        "dead after exactly three attempts"
    );
    assert_eq!(state(fails).attempt, 3);
    assert_eq!(queue.list(JobStatus::Dead, 10), vec![fails]);
    // 3 + 2 + 3 + 1 attempts.
    assert_eq!(ran.load(Ordering::Relaxed), 9);
    let stats = consumer.shutdown().await;
    assert_eq!(stats.workers, 2);
    assert_eq!(stats.replaced, 3, "two crashed workers and a stuck one were replaced");
    store.close().await.unwrap();
}
