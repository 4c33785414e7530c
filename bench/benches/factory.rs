//! actor-factory's dispatch throughput against a hand-written pool, in the same process.
//!
//! Run with `cargo xtask bench` (or `cargo bench -p bench --bench factory -- [--quick]
//! [--only pool_noop,pool_1ms] [--markdown-append PATH]`).
//!
//! - `baseline-pool`: four tokio tasks sharing one bounded `mpsc` receiver behind an async
//!   mutex, fed by one producer: the floor of a pool on async channels.
//! - `actor-factory`: a `Factory` of four `#[actor]` workers (queuer routing, a queue of the
//!   same capacity, waiting for room), fed by one producer with `submit`, timed until `drain`
//!   returns.
//!
//! Workloads: `pool_noop` (jobs that do nothing) and `pool_1ms` (jobs that await a 1 ms sleep).

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use actor_core::actor;
use actor_factory::{Backpressure, FactorySpec, Job};
use bench::sample::{Sample, median};
use tokio::sync::{Mutex, mpsc};

const WORKERS: usize = 4;
const CAPACITY: usize = 1024;

struct Worker {
    sleep: Option<Duration>,
}

#[actor]
impl Worker {
    async fn work(&mut self, job: Job<u64, u64>) {
        if let Some(d) = self.sleep {
            tokio::time::sleep(d).await;
        }
        drop(job);
    }
}

async fn factory(jobs: u64, sleep: Option<Duration>) -> Duration {
    let factory = FactorySpec::new(WORKERS, move || Ok(Worker { sleep }), WorkerMessage::work)
        .queue(CAPACITY, Backpressure::Wait)
        .spawn()
        .expect("spawn the factory");
    let start = Instant::now();
    for n in 0..jobs {
        factory.submit(n, n).await.expect("submit");
    }
    let stats = factory.drain().await;
    let elapsed = start.elapsed();
    assert_eq!(stats.processed, jobs);
    elapsed
}

async fn baseline(jobs: u64, sleep: Option<Duration>) -> Duration {
    let (tx, rx) = mpsc::channel::<(u64, u64)>(CAPACITY);
    let rx = Arc::new(Mutex::new(rx));
    let start = Instant::now();
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let rx = Arc::clone(&rx);
            tokio::spawn(async move {
                let mut done = 0u64;
                loop {
                    let job = rx.lock().await.recv().await;
                    let Some(job) = job else { return done };
                    if let Some(d) = sleep {
                        tokio::time::sleep(d).await;
                    }
                    std::hint::black_box(job);
                    done += 1;
                }
            })
        })
        .collect();
    for n in 0..jobs {
        tx.send((n, n)).await.expect("send");
    }
    drop(tx);
    let mut done = 0;
    for worker in workers {
        done += worker.await.expect("worker");
    }
    let elapsed = start.elapsed();
    assert_eq!(done, jobs);
    elapsed
}

fn sample(workload: &'static str, system: &'static str, jobs: u64, elapsed: Duration) -> Sample {
    Sample {
        workload,
        system,
        per_sec: jobs as f64 / elapsed.as_secs_f64(),
        p50_us: None,
        p99_us: None,
        rss_mb: None,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only: Vec<&str> = match args.iter().position(|a| a == "--only") {
        Some(i) => args.get(i + 1).map_or(Vec::new(), |list| list.split(',').collect()),
        None => vec!["pool_noop", "pool_1ms"],
    };
    let rounds = if quick { 1 } else { 5 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut samples = Vec::new();
    for (workload, jobs, sleep) in [
        ("pool_noop", if quick { 50_000 } else { 1_000_000 }, None),
        ("pool_1ms", if quick { 200 } else { 2_000 }, Some(Duration::from_millis(1))),
    ] {
        if !only.contains(&workload) {
            continue;
        }
        let (mut base, mut fact) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let elapsed = runtime
                .block_on(async { tokio::spawn(baseline(jobs, sleep)).await.expect("baseline") });
            base.push(sample(workload, "baseline-pool", jobs, elapsed));
            let elapsed = runtime
                .block_on(async { tokio::spawn(factory(jobs, sleep)).await.expect("factory") });
            fact.push(sample(workload, "actor-factory", jobs, elapsed));
        }
        samples.extend(median(base).into_iter().chain(median(fact)));
    }
    for sample in &samples {
        println!("{}", sample.json());
    }
    if !samples.is_empty() {
        bench::sample::append_markdown(&args, &markdown(&samples));
    }
}

/// The worker-pool section of BENCHMARKS.md.
fn markdown(samples: &[Sample]) -> String {
    use std::fmt::Write as _;
    let mut md = String::new();
    md.push_str("\n## Worker pools (actor-factory)\n\n");
    md.push_str("Jobs per second through 4 workers, one producer, a queue of 1,024 jobs. `baseline-pool`: four tasks sharing one `mpsc` receiver behind an async mutex. `actor-factory`: `submit` into a factory of `#[actor]` workers, timed until `drain` returns.\n\n");
    md.push_str("| workload | baseline-pool /s | actor-factory /s | ratio | target |\n|---|---|---|---|---|\n");
    for workload in ["pool_noop", "pool_1ms"] {
        let find =
            |system: &str| samples.iter().find(|s| s.workload == workload && s.system == system);
        if let (Some(b), Some(f)) = (find("baseline-pool"), find("actor-factory")) {
            let ratio = f.per_sec / b.per_sec;
            let target = if workload == "pool_noop" {
                format!("≥ 0.8× ({})", if ratio >= 0.8 { "met" } else { "missed" })
            } else {
                "–".to_owned()
            };
            let _ = writeln!(
                md,
                "| {workload} | {:.0} | {:.0} | **{ratio:.2}×** | {target} |",
                b.per_sec, f.per_sec
            );
        }
    }
    md
}
