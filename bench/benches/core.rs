//! actor-core against a hand-written tokio actor, in the same process.
//!
//! Run with `cargo xtask bench` (or `cargo bench -p bench --bench core -- [--quick]
//! [--markdown PATH]`). Prints one JSON object per line:
//! `{"workload":…,"system":…,"per_sec":…,"p50_us":…,"p99_us":…,"rss_mb":…}`.
//!
//! - `baseline`: a tokio `mpsc` channel (capacity 1024, as actor-core's default mailbox) and a
//!   task looping over it, replies on `oneshot`: the floor any channel actor pays.
//! - `mutex`: an `Arc<tokio::sync::Mutex<u64>>` shared by the tasks (contended workload only).
//! - `actor-core`: the same counter as a hand-written [`actor_core::Actor`].
//! - `macro`: the same counter written with `#[actor]`, driven through its generated handle
//!   (tell and ask only).
//!
//! Every workload is driven from a spawned task on a two-worker runtime, as a request handler
//! would drive it. Throughput workloads alternate systems over several rounds and report each
//! system's median round. The `spawn` workload runs each system in a child process of its own,
//! so that their peak memory (`VmHWM`) is never shared, three times alternately, and reports
//! each system's median run.

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

use actor_core::{Actor, ActorRef, Context, Mailbox, Reply};
use bench::counter::{Baseline, Counter, Locked, Macro, Run, ask, contended, tell};
use bench::sample::{Sample, median, percentiles};

// ---- actor-core ----

struct Total(u64);

enum TotalMsg {
    Add(u64),
    Get(Reply<u64>),
}

impl Actor for Total {
    type Message = TotalMsg;

    async fn handle(&mut self, msg: TotalMsg, _ctx: &Context<Self>) {
        match msg {
            TotalMsg::Add(n) => self.0 += n,
            TotalMsg::Get(reply) => reply.send(self.0),
        }
    }
}

#[derive(Clone)]
struct Core(ActorRef<Total>);

impl Core {
    fn spawn() -> Self {
        Core(actor_core::spawn(Total(0)).expect("inside a runtime"))
    }

    /// With message spans and metrics on (or off), under the child process's subscriber and
    /// recorder.
    fn spawn_observed(on: bool) -> Self {
        let options = actor_core::SpawnOptions::new().with_message_spans(on).with_metrics(on);
        Core(options.spawn(Total(0)).expect("inside a runtime"))
    }

    fn spawn_with(capacity: usize) -> Self {
        let options = actor_core::SpawnOptions::new().with_mailbox(Mailbox::Bounded(capacity));
        Core(options.spawn(Total(0)).expect("inside a runtime"))
    }
}

impl Counter for Core {
    async fn add(&self, n: u64) {
        self.0.tell(TotalMsg::Add(n)).await.unwrap_or_else(|_| panic!("actor alive"));
    }

    async fn get(&self) -> u64 {
        self.0.ask(TotalMsg::Get).await.expect("actor replies")
    }
}

// ---- measurements ----

/// Reads back a `spawn` sample printed by a child process.
fn parse_sample(line: &str) -> Option<Sample> {
    let field = |name: &str| -> Option<&str> {
        let start = line.find(&format!("\"{name}\":"))? + name.len() + 3;
        let rest = &line[start..];
        let end = rest.find([',', '}'])?;
        Some(rest[..end].trim_matches('"'))
    };
    let number = |name: &str| field(name).and_then(|v| v.parse::<f64>().ok());
    let workload = match field("workload")? {
        "spawn" => "spawn",
        "observed_tell" => "observed_tell",
        "observed_ask" => "observed_ask",
        _ => return None,
    };
    let system = match field("system")? {
        "baseline" => "baseline",
        "actor-core" => "actor-core",
        "macro" => "macro",
        "on" => "on",
        "off" => "off",
        _ => return None,
    };
    Some(Sample {
        workload,
        system,
        per_sec: number("per_sec")?,
        p50_us: number("p50_us"),
        p99_us: number("p99_us"),
        rss_mb: number("rss_mb"),
    })
}

/// Peak resident set size of this process, in MiB (Linux only).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn sample(workload: &'static str, system: &'static str, run: Run) -> Sample {
    let ops = run.ops;
    let (p50_us, p99_us) = percentiles(run.latencies);
    Sample {
        workload,
        system,
        per_sec: ops as f64 / run.elapsed.as_secs_f64(),
        p50_us,
        p99_us,
        rss_mb: None,
    }
}

struct Sizes {
    rounds: usize,
    tell: u64,
    ask: u64,
    tasks: u64,
    per_task: u64,
    spawn: u64,
}

const FULL: Sizes = Sizes {
    rounds: 5,
    tell: 5_000_000,
    ask: 1_000_000,
    tasks: 1_000,
    per_task: 2_000,
    spawn: 100_000,
};
const QUICK: Sizes =
    Sizes { rounds: 1, tell: 200_000, ask: 50_000, tasks: 100, per_task: 200, spawn: 5_000 };

async fn throughput(sizes: &Sizes, only: &dyn Fn(&str) -> bool) -> Vec<Sample> {
    let mut results = Vec::new();
    let (mut base, mut core, mut generated) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..sizes.rounds * usize::from(only("tell")) {
        let (b, task) = Baseline::spawn();
        base.push(sample("tell", "baseline", tell(b, sizes.tell).await));
        task.await.expect("baseline actor");
        core.push(sample("tell", "actor-core", tell(Core::spawn(), sizes.tell).await));
        generated.push(sample("tell", "macro", tell(Macro::spawn(), sizes.tell).await));
    }
    results.extend(median(base).into_iter().chain(median(core)).chain(median(generated)));

    let (mut base, mut core, mut generated) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..sizes.rounds * usize::from(only("ask")) {
        let (b, task) = Baseline::spawn();
        base.push(sample("ask", "baseline", ask(b, sizes.ask).await));
        task.await.expect("baseline actor");
        core.push(sample("ask", "actor-core", ask(Core::spawn(), sizes.ask).await));
        generated.push(sample("ask", "macro", ask(Macro::spawn(), sizes.ask).await));
    }
    results.extend(median(base).into_iter().chain(median(core)).chain(median(generated)));

    let (mut base, mut core, mut locked) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..sizes.rounds * usize::from(only("contended")) {
        let (b, task) = Baseline::spawn();
        base.push(sample("contended", "baseline", contended(b, sizes.tasks, sizes.per_task).await));
        task.await.expect("baseline actor");
        let run = contended(Core::spawn(), sizes.tasks, sizes.per_task).await;
        core.push(sample("contended", "actor-core", run));
        let run = contended(Locked::default(), sizes.tasks, sizes.per_task).await;
        locked.push(sample("contended", "mutex", run));
    }
    results.extend(median(base).into_iter().chain(median(core)).chain(median(locked)));
    results
}

/// The mailbox capacities the `mailbox` workload compares.
const CAPACITIES: [usize; 5] = [16, 64, 256, 1024, 4096];

/// `tell` and `contended` at each of [`CAPACITIES`], the floor's channel and actor-core's
/// mailbox of the same capacity, interleaved; one sample per workload, system and capacity.
async fn mailbox_sweep(sizes: &Sizes) -> Vec<(Sample, usize)> {
    let mut results = Vec::new();
    for capacity in CAPACITIES {
        let (mut base_tell, mut core_tell, mut base_cont, mut core_cont) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..sizes.rounds {
            let (b, task) = Baseline::spawn_with(capacity);
            base_tell.push(sample("mailbox_tell", "baseline", tell(b, sizes.tell).await));
            task.await.expect("baseline actor");
            let run = tell(Core::spawn_with(capacity), sizes.tell).await;
            core_tell.push(sample("mailbox_tell", "actor-core", run));
            let (b, task) = Baseline::spawn_with(capacity);
            let run = contended(b, sizes.tasks, sizes.per_task).await;
            base_cont.push(sample("mailbox_contended", "baseline", run));
            task.await.expect("baseline actor");
            let run = contended(Core::spawn_with(capacity), sizes.tasks, sizes.per_task).await;
            core_cont.push(sample("mailbox_contended", "actor-core", run));
        }
        for rounds in [base_tell, core_tell, base_cont, core_cont] {
            results.extend(median(rounds).map(|sample| (sample, capacity)));
        }
    }
    results
}

/// A recorder that only counts: what a metrics exporter costs at least.
struct Counting;

#[derive(Default)]
struct Cell(std::sync::atomic::AtomicU64);

impl metrics::CounterFn for Cell {
    fn increment(&self, n: u64) {
        self.0.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }
    fn absolute(&self, n: u64) {
        self.0.store(n, std::sync::atomic::Ordering::Relaxed);
    }
}

impl metrics::GaugeFn for Cell {
    fn increment(&self, _: f64) {}
    fn decrement(&self, _: f64) {}
    fn set(&self, v: f64) {
        self.0.store(v.to_bits(), std::sync::atomic::Ordering::Relaxed);
    }
}

impl metrics::HistogramFn for Cell {
    fn record(&self, v: f64) {
        self.0.store(v.to_bits(), std::sync::atomic::Ordering::Relaxed);
    }
}

impl metrics::Recorder for Counting {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::from_arc(std::sync::Arc::new(Cell::default()))
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::from_arc(std::sync::Arc::new(Cell::default()))
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::from_arc(std::sync::Arc::new(Cell::default()))
    }
}

/// `tell` and `ask` with message spans and metrics off and on, in a child process that has a
/// `tracing` subscriber (the registry, which creates and tracks every span) and a recorder.
async fn observed(sizes: &Sizes) -> Vec<Sample> {
    let (mut tell_off, mut tell_on, mut ask_off, mut ask_on) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..sizes.rounds {
        tell_off.push(sample(
            "observed_tell",
            "off",
            tell(Core::spawn_observed(false), sizes.tell).await,
        ));
        tell_on.push(sample(
            "observed_tell",
            "on",
            tell(Core::spawn_observed(true), sizes.tell).await,
        ));
        ask_off.push(sample(
            "observed_ask",
            "off",
            ask(Core::spawn_observed(false), sizes.ask).await,
        ));
        ask_on.push(sample("observed_ask", "on", ask(Core::spawn_observed(true), sizes.ask).await));
    }
    [tell_off, tell_on, ask_off, ask_on].into_iter().filter_map(median).collect()
}

/// Runs the `observed` workloads in a child process (its subscriber and recorder are global)
/// and reads their samples back.
fn observed_in_child(quick: bool, rounds: usize) -> Vec<Sample> {
    child_samples(&["--child-observed", "--rounds", &rounds.to_string()], quick)
}

/// Runs this benchmark again as a child process with `args` and reads the samples it prints.
fn child_samples(args: &[&str], quick: bool) -> Vec<Sample> {
    let exe = std::env::current_exe().expect("own executable");
    let mut command = Command::new(exe);
    command.args(args);
    if quick {
        command.arg("--quick");
    }
    let output = command.output().expect("run the child");
    assert!(
        output.status.success(),
        "child {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).lines().filter_map(parse_sample).collect()
}

/// Spawns `n` actors, asks each once, stops them all; run alone in a child process.
async fn spawn_workload(system: &str, n: u64) -> Sample {
    let system = if system == "baseline" { "baseline" } else { "actor-core" };
    let run = tokio::spawn(async move {
        let start = Instant::now();
        if system == "baseline" {
            let actors: Vec<_> = (0..n).map(|_| Baseline::spawn()).collect();
            for (actor, _) in &actors {
                assert_eq!(actor.get().await, 0);
            }
            // Stop all, then wait for all: the same pattern as actor-core's `stop` + `stopped`.
            let (senders, tasks): (Vec<_>, Vec<_>) = actors.into_iter().unzip();
            drop(senders);
            for task in tasks {
                task.await.expect("baseline actor");
            }
        } else {
            let actors: Vec<_> = (0..n).map(|_| Core::spawn()).collect();
            for actor in &actors {
                assert_eq!(actor.get().await, 0);
            }
            for actor in &actors {
                actor.0.stop();
            }
            for actor in &actors {
                actor.0.stopped().await;
            }
        }
        start.elapsed()
    })
    .await
    .expect("spawn driver");
    Sample {
        workload: "spawn",
        system,
        per_sec: n as f64 / run.as_secs_f64(),
        p50_us: None,
        p99_us: None,
        rss_mb: peak_rss_mb(),
    }
}

/// Runs the `spawn` workload for `system` in a child process and reads its sample back.
fn spawn_in_child(system: &str, quick: bool) -> Sample {
    child_samples(&["--child-spawn", system], quick)
        .into_iter()
        .next()
        .expect("the spawn child prints its sample")
}

fn markdown(samples: &[Sample], quick: bool) -> String {
    let find = |workload: &str, system: &str| {
        samples.iter().find(|s| s.workload == workload && s.system == system)
    };
    let mut md = String::new();
    md.push_str("# Benchmarks\n\n");
    md.push_str("Written by `cargo xtask bench`; do not edit by hand.\n");
    md.push_str(
        "Ratios are actor-core / baseline, measured in the same run on the same machine; absolute numbers on a shared \
         2-core machine are noise, ratios are not.\n",
    );
    md.push_str("The baseline is a hand-written tokio `mpsc` (capacity 1,024) + `oneshot` actor; actor-core's mailbox is its own (`actor-core/src/mailbox/queue.rs`), of the same default capacity; `macro` is the same counter written with `#[actor]`.\n");
    if quick {
        md.push_str("\n**This table comes from a `--quick` run and is not representative.**\n");
    }
    md.push_str("\n| workload | baseline /s | actor-core /s | ratio | target | p50 µs (base / core) | p99 µs (base / core) | peak RSS MiB (base / core) |\n");
    md.push_str("|---|---|---|---|---|---|---|---|\n");
    let fmt = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.1}"));
    for (workload, target) in [("tell", 1.0), ("ask", 0.95), ("contended", 0.95), ("spawn", 1.0)] {
        let (Some(base), Some(core)) = (find(workload, "baseline"), find(workload, "actor-core"))
        else {
            continue;
        };
        let ratio = core.per_sec / base.per_sec;
        let met = if ratio >= target { "met" } else { "missed" };
        let _ = writeln!(
            md,
            "| {workload} | {:.0} | {:.0} | **{ratio:.2}×** | ≥ {target}× ({met}) | {} / {} | {} / {} | {} / {} |",
            base.per_sec,
            core.per_sec,
            fmt(base.p50_us),
            fmt(core.p50_us),
            fmt(base.p99_us),
            fmt(core.p99_us),
            fmt(base.rss_mb),
            fmt(core.rss_mb),
        );
    }
    if let (Some(base), Some(core)) = (find("spawn", "baseline"), find("spawn", "actor-core"))
        && let (Some(b), Some(c)) = (base.rss_mb, core.rss_mb)
    {
        let _ = writeln!(
            md,
            "\nspawn peak memory: actor-core / baseline = **{:.2}×** (target ≤ 1.0×).",
            c / b
        );
    }
    for workload in ["tell", "ask"] {
        if let (Some(core), Some(generated)) =
            (find(workload, "actor-core"), find(workload, "macro"))
        {
            let _ = writeln!(
                md,
                "{workload}: the `#[actor]` handle / hand-written actor-core = **{:.2}×** (target ≥ 0.95×).",
                generated.per_sec / core.per_sec
            );
        }
    }
    if let (Some(base), Some(locked)) = (find("contended", "baseline"), find("contended", "mutex"))
    {
        let _ = writeln!(
            md,
            "contended, `Arc<tokio::sync::Mutex<u64>>`: {:.0}/s, {:.2}× the baseline actor.",
            locked.per_sec,
            locked.per_sec / base.per_sec
        );
    }
    md
}

/// The cost of message spans and metrics, if it was measured.
fn observed_markdown(samples: &[Sample]) -> String {
    let find = |workload: &str, system: &str| {
        samples.iter().find(|s| s.workload == workload && s.system == system).map(|s| s.per_sec)
    };
    let mut md = String::new();
    for (workload, label) in [("observed_tell", "tell"), ("observed_ask", "ask")] {
        if let (Some(off), Some(on)) = (find(workload, "off"), find(workload, "on")) {
            let _ = writeln!(
                md,
                "{label} with message spans and metrics on (a `tracing` registry and a counting recorder installed): {on:.0}/s, **{:.2}×** of the same actor with both off ({off:.0}/s).",
                on / off
            );
        }
    }
    if md.is_empty() { md } else { format!("\n{md}") }
}

/// The mailbox-capacity table, if the sweep ran.
fn sweep_markdown(sweep: &[(Sample, usize)]) -> String {
    if sweep.is_empty() {
        return String::new();
    }
    let find = |workload: &str, system: &str, capacity: usize| {
        sweep
            .iter()
            .find(|(s, c)| s.workload == workload && s.system == system && *c == capacity)
            .map_or(f64::NAN, |(s, _)| s.per_sec)
    };
    let mut md = String::from(
        "\n### Mailbox capacity\n\n`tell` (one sender) and `contended` (1,000 asking tasks) with the floor's channel and actor-core's mailbox both of the capacity shown; per second, median round.\n\n| capacity | tell floor | tell actor-core | ratio | contended floor | contended actor-core | ratio |\n|---|---|---|---|---|---|---|\n",
    );
    for capacity in CAPACITIES {
        let (bt, ct) = (
            find("mailbox_tell", "baseline", capacity),
            find("mailbox_tell", "actor-core", capacity),
        );
        let (bc, cc) = (
            find("mailbox_contended", "baseline", capacity),
            find("mailbox_contended", "actor-core", capacity),
        );
        let _ = writeln!(
            md,
            "| {capacity} | {bt:.0} | {ct:.0} | {:.2}× | {bc:.0} | {cc:.0} | {:.2}× |",
            ct / bt,
            cc / bc
        );
    }
    md
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let mut sizes = if quick { QUICK } else { FULL };
    if let Some(i) = args.iter().position(|a| a == "--rounds")
        && let Some(rounds) = args.get(i + 1).and_then(|r| r.parse().ok())
    {
        sizes.rounds = rounds;
    }
    let sizes = &sizes;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    if args.iter().any(|a| a == "--child-observed") {
        tracing::subscriber::set_global_default(tracing_subscriber::registry())
            .expect("no other subscriber");
        metrics::set_global_recorder(Counting).expect("no other recorder");
        for sample in runtime.block_on(observed(sizes)) {
            println!("{}", sample.json());
        }
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--child-spawn") {
        let system = args.get(i + 1).map_or("actor-core", String::as_str);
        let sample = runtime.block_on(spawn_workload(system, sizes.spawn));
        println!("{}", sample.json());
        return;
    }

    // `--only tell,ask` runs a subset, for quick comparisons while optimising.
    let only: Vec<&str> = match args.iter().position(|a| a == "--only") {
        Some(i) => args.get(i + 1).map_or(Vec::new(), |list| list.split(',').collect()),
        None => vec!["tell", "ask", "contended", "spawn", "mailbox", "observed"],
    };
    let selected = |workload: &str| only.contains(&workload);
    let mut samples = runtime.block_on(throughput(sizes, &selected));
    for sample in &samples {
        println!("{}", sample.json());
    }
    if selected("observed") {
        for sample in observed_in_child(quick, sizes.rounds) {
            println!("{}", sample.json());
            samples.push(sample);
        }
    }
    let mut sweep = Vec::new();
    if selected("mailbox") {
        sweep = runtime.block_on(mailbox_sweep(sizes));
        for (sample, capacity) in &sweep {
            println!("{}", sample.json_with(&[("capacity", *capacity as f64)]));
        }
    }
    if selected("spawn") {
        // Alternate the systems, one process per run, and keep each system's median run.
        let (mut base, mut core) = (Vec::new(), Vec::new());
        for _ in 0..sizes.rounds.min(3) {
            base.push(spawn_in_child("baseline", quick));
            core.push(spawn_in_child("actor-core", quick));
        }
        for sample in median(base).into_iter().chain(median(core)) {
            println!("{}", sample.json());
            samples.push(sample);
        }
    }
    if let Some(i) = args.iter().position(|a| a == "--markdown")
        && let Some(path) = args.get(i + 1)
    {
        let md = markdown(&samples, quick) + &observed_markdown(&samples) + &sweep_markdown(&sweep);
        std::fs::write(path, md).expect("write the markdown table");
    }
}
