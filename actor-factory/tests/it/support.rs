//! A worker that does what each job says, and a quiet panic hook.

use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use actor_core::{Context, actor};
use actor_factory::{FactorySpec, Job};

/// What a test job asks its worker to do.
#[derive(Debug, Clone)]
pub(crate) enum Task {
    /// Record (key, seq) and finish.
    Record(u64),
    /// Panic ("on purpose").
    Panic,
    /// Never finish.
    Hang,
    /// Sleep, then record.
    Sleep(Duration, u64),
    /// Record, then stop the worker (`ctx.stop()`).
    StopSelf(u64),
    /// Record, then fail the worker (`ctx.fail(..)`).
    FailSelf(u64),
}

pub(crate) type Log = Arc<Mutex<Vec<(u64, u64)>>>;

pub(crate) struct Worker {
    pub(crate) log: Log,
}

#[actor]
impl Worker {
    pub(crate) async fn work(&mut self, job: Job<u64, Task>, ctx: &Context<Self>) {
        let key = *job.key();
        match job.payload().cloned() {
            Some(Task::Record(seq)) => self.log.lock().unwrap().push((key, seq)),
            Some(Task::Panic) => panic!("crash on purpose"),
            Some(Task::Hang) => std::future::pending::<()>().await,
            Some(Task::Sleep(d, seq)) => {
                tokio::time::sleep(d).await;
                self.log.lock().unwrap().push((key, seq));
            }
            Some(Task::StopSelf(seq)) => {
                self.log.lock().unwrap().push((key, seq));
                ctx.stop();
            }
            Some(Task::FailSelf(seq)) => {
                self.log.lock().unwrap().push((key, seq));
                ctx.fail("gave up on purpose");
            }
            None => {}
        }
    }

    /// How many records the shared log holds (a message outside the factory's jobs).
    pub(crate) fn recorded(&self) -> usize {
        self.log.lock().unwrap().len()
    }
}

/// A factory of `workers` test workers that record into `log`.
pub(crate) fn spec(workers: usize, log: &Log) -> FactorySpec<Worker, u64, Task> {
    let log = log.clone();
    FactorySpec::new(workers, move || Ok(Worker { log: log.clone() }), WorkerMessage::work)
}

/// Silences the panics the tests cause on purpose; others print as usual.
pub(crate) fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str));
            if message != Some("crash on purpose") {
                default(info);
            }
        }));
    });
}

/// SplitMix64.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}
