//! actor-remote: asks across NATS, against a hand-written NATS request/reply client with the
//! same payload in the same run.
//!
//! Run with `cargo xtask bench` (or `cargo bench -p bench --bench remote -- [--quick]
//! [--markdown-append PATH]`), with `ACTOR_NATS_URL` pointing at a server on loopback
//! (`.ci/nats.sh start`; `cargo xtask bench` starts one if it is unset).
//!
//! Workloads, each a served `Counter::add(1)` in this process over its own connection:
//!
//! - `remote_ask_1`: one caller, one ask at a time; round trips per second, p50 and p99.
//! - `remote_ask_64`: 64 callers at once, each one ask at a time.
//!
//! Baseline `nats-raw`: a subscriber that answers each request with a reply of the size ours
//! sends, and a client that sends requests of our frame's size: the cost of NATS itself.
//! Beside it, `actor-remote-no-actor`: our serving layer answering without an actor (its
//! `Serve::start` answers at once, as the generated one hands the message on). The
//! systems take turns in an order that rotates each round; medians of 7 rounds.

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::sync::Arc;
use std::time::Instant;

use actor_core::actor;
use actor_remote::{Node, wire};
use bench::sample::{Sample, median, percentiles};
use bytes::Bytes;
use futures_util::StreamExt;

struct Counter {
    count: u64,
}

#[actor(remote)]
impl Counter {
    fn add(&mut self, by: u64) -> u64 {
        self.count += by;
        self.count
    }
}

/// Runs `callers` tasks of `each` sequential calls of `call`; per second, p50, p99.
async fn drive<F, Fut>(callers: usize, each: usize, call: F) -> (f64, Option<f64>, Option<f64>)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut nanos = Vec::with_capacity(each);
                for _ in 0..each {
                    let at = Instant::now();
                    call().await;
                    nanos.push(u64::try_from(at.elapsed().as_nanos()).unwrap_or(u64::MAX));
                }
                nanos
            })
        })
        .collect();
    let mut nanos = Vec::with_capacity(callers * each);
    for task in tasks {
        nanos.extend(task.await.expect("a caller"));
    }
    let per_sec = (callers * each) as f64 / started.elapsed().as_secs_f64();
    let (p50, p99) = percentiles(nanos);
    (per_sec, p50, p99)
}

fn sample(
    workload: &'static str,
    system: &'static str,
    (per_sec, p50, p99): (f64, Option<f64>, Option<f64>),
) -> Sample {
    Sample { workload, system, per_sec, p50_us: p50, p99_us: p99, rss_mb: None }
}

/// The hand-written floor: a raw subscriber answering `reply` to every request.
async fn raw_server(client: async_nats::Client, subject: String, reply: Bytes) {
    let mut requests = client.subscribe(subject).await.expect("subscribe");
    client.flush().await.expect("flush");
    tokio::spawn(async move {
        while let Some(message) = requests.next().await {
            if let Some(to) = message.reply {
                let _ = client.publish(to, reply.clone()).await;
            }
        }
    });
}

/// The serving layer without an actor: a hand-written [`Serve`](actor_remote::Serve) that
/// answers `add` with a constant, to tell the cost of the remote layer from the actor's.
#[derive(Clone)]
struct NoActor;

impl actor_remote::Serve for NoActor {
    const ACTOR: &'static str = "Counter";
    const VERSION: u32 = 1;

    async fn call(&self, _message: &str, _args: &[u8]) -> actor_remote::CallResult {
        Ok(b"123456".to_vec())
    }

    fn start(
        &self,
        _message: &str,
        _args: &[u8],
        reply: actor_remote::ReplyTo,
    ) -> Result<(), actor_remote::ReplyTo> {
        reply.answer(Ok(b"123456".to_vec()));
        Ok(())
    }

    async fn stopped(&self) {
        std::future::pending::<()>().await;
    }
}

/// The systems measured, in the order of the first round (later rounds rotate it, so that no
/// system always runs first or last).
const SYSTEMS: [&str; 3] = ["nats-raw", "actor-remote", "actor-remote-no-actor"];

async fn run(url: &str, rounds: usize, asks: usize) -> Vec<Sample> {
    let server = Node::connect(url).await.expect("connect");
    let caller = Node::connect(url).await.expect("connect");
    let name = format!("bench-counter-{}", std::process::id());
    let _served =
        server.serve(&name, Counter { count: 0 }.spawn().expect("spawn")).await.expect("serve");
    let counter: CounterRemote = caller.resolve(&name).await.expect("resolve");
    let bare = format!("bench-no-actor-{}", std::process::id());
    let _bare = server.serve(&bare, NoActor).await.expect("serve");
    let no_actor: CounterRemote = caller.resolve(&bare).await.expect("resolve");

    // The floor speaks frames of our sizes: a request of `add(1)` and its reply.
    let request =
        Bytes::from(wire::request(wire::Kind::Ask, "Counter", "add", 1, None, br#"{"by":1}"#));
    let reply = Bytes::from(wire::reply(wire::Status::Ok, b"123456"));
    let raw_subject = Arc::new(format!("bench-raw-{}", std::process::id()));
    raw_server(server.client().clone(), raw_subject.to_string(), reply).await;
    let raw = caller.client().clone();

    let mut results: Vec<Vec<Sample>> = (0..2 * SYSTEMS.len()).map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for (slot, callers) in [(0, 1), (1, 64)] {
            let each = if callers == 1 { asks } else { (asks * 4 / callers).max(1) };
            let workload = if callers == 1 { "remote_ask_1" } else { "remote_ask_64" };
            for turn in 0..SYSTEMS.len() {
                let system = (turn + round) % SYSTEMS.len();
                let measured = match system {
                    0 => {
                        let (raw, subject, request) =
                            (raw.clone(), Arc::clone(&raw_subject), request.clone());
                        drive(callers, each, move || {
                            let (raw, subject) = (raw.clone(), Arc::clone(&subject));
                            let request = request.clone();
                            async move {
                                raw.request(subject.to_string(), request).await.expect("raw");
                            }
                        })
                        .await
                    }
                    _ => {
                        let handle = if system == 1 { counter.clone() } else { no_actor.clone() };
                        drive(callers, each, move || {
                            let handle = handle.clone();
                            async move {
                                handle.add(1).await.expect("remote ask");
                            }
                        })
                        .await
                    }
                };
                results[slot * SYSTEMS.len() + system].push(sample(
                    workload,
                    SYSTEMS[system],
                    measured,
                ));
            }
        }
    }
    results.into_iter().filter_map(median).collect()
}

fn markdown(results: &[Sample]) -> String {
    let find = |w: &str, s: &str| results.iter().find(|r| r.workload == w && r.system == s);
    let mut md = String::from(
        "\n## Remote actors (actor-remote)\n\n\
         Asks of a served counter over NATS on loopback (one `nats-server`, the server and the \
         caller in one process over two connections), against a hand-written NATS \
         request/reply client with the same frame sizes (`nats-raw`). Median of the rounds.\n\n\
         `actor-remote-no-actor` is the serving layer without an actor (a hand-written `Serve` \
         answering a constant): the gap between it and the floor is the remote layer's, the \
         rest is the actor's.\n\n\
         | workload | actor-remote asks/s | p50 µs | p99 µs | nats-raw asks/s | ratio | no actor, ratio |\n|---|---|---|---|---|---|---|\n",
    );
    for workload in ["remote_ask_1", "remote_ask_64"] {
        if let (Some(ours), Some(floor)) =
            (find(workload, "actor-remote"), find(workload, "nats-raw"))
        {
            let bare = find(workload, "actor-remote-no-actor")
                .map_or(f64::NAN, |bare| bare.per_sec / floor.per_sec);
            md.push_str(&format!(
                "| `{workload}` | {:.0} | {:.0} | {:.0} | {:.0} | **{:.2}×** | {bare:.2}× |\n",
                ours.per_sec,
                ours.p50_us.unwrap_or(f64::NAN),
                ours.p99_us.unwrap_or(f64::NAN),
                floor.per_sec,
                ours.per_sec / floor.per_sec
            ));
        }
    }
    md
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let Ok(url) = std::env::var("ACTOR_NATS_URL") else {
        println!("remote: SKIPPED (set ACTOR_NATS_URL; `.ci/nats.sh start` starts a server)");
        return;
    };
    let (rounds, asks) = if quick { (1, 2_000) } else { (7, 20_000) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let results = runtime.block_on(run(&url, rounds, asks));
    for sample in &results {
        let ratio = results
            .iter()
            .find(|r| r.workload == sample.workload && r.system == "nats-raw")
            .map_or(f64::NAN, |floor| sample.per_sec / floor.per_sec);
        println!("{}", sample.json_with(&[("ratio_to_floor", ratio)]));
    }
    bench::sample::append_markdown(&args, &markdown(&results));
}
