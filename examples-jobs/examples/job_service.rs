//! A web service for long-running jobs: `POST /jobs` answers at once with a job id, a pool of
//! workers processes the job in the background from a durable queue, and clients poll
//! `GET /jobs/{id}` until it is done. See `examples-jobs/src/service.rs` for the service.
//!
//! Run with `cargo run --release -p examples-jobs --example job_service`. The example drives itself:
//! it starts the service as a child process on loopback, sends 150 documents from 30
//! concurrent clients (each with an `Idempotency-Key`), kills the service with `SIGKILL` once
//! half of them were accepted and starts it again on the same port (clients retry what failed
//! meanwhile, with the same key), polls every job until it is finished, checks every result,
//! and prints a histogram of job durations (enqueue to completion), also written as an SVG.
//! `--quick` sends 60 small documents (and, with `ACTOR_PG_URL` set, runs the PostgreSQL
//! variant too); `--pg <url>` runs on PostgreSQL: an HTTP process and two worker processes
//! pointed at one database (the HTTP process and one worker process are killed and restarted
//! mid-run); `--serve ...` only runs one process of the service.

#![expect(clippy::print_stdout, reason = "an example reports on stdout")]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use examples_jobs::service as job_service;
use examples_jobs::{BoxError, client};
use hyper::{Method, StatusCode};
use serde_json::Value;

const CLIENTS: u64 = 30;

/// Where the service keeps its jobs.
enum Backend {
    /// The embedded store in this directory: one process serves HTTP and runs the workers.
    Embedded(PathBuf),
    /// PostgreSQL at this URL, this queue: an HTTP process and separate worker processes.
    Postgres(String, String),
}

/// Starts a process of the service (`addr` `-`: a worker process on PostgreSQL); answers it
/// and the address it listens on, if it serves HTTP.
fn start_process(backend: &Backend, addr: &str) -> Result<(Child, Option<SocketAddr>), BoxError> {
    let mut command = Command::new(std::env::current_exe()?);
    command.arg("--serve");
    match backend {
        Backend::Embedded(dir) => command.arg(dir).arg(addr),
        Backend::Postgres(url, queue) => command.arg(url).arg(addr).arg(queue),
    };
    let mut child = command.stdout(Stdio::piped()).spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().ok_or("the service printed nothing")??;
    let listening = job_service::parse_listening(&first);
    if listening.is_none() && first != "working" {
        return Err(format!("the service did not start: {first}").into());
    }
    // Keep draining what it prints.
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    Ok((child, listening))
}

/// Enqueues a document with `extra` fields (a priority, a group); answers its id.
async fn submit(addr: SocketAddr, extra: Value, retries: &AtomicU64) -> Result<u64, BoxError> {
    let mut body = serde_json::json!({ "text": "a small document", "work_ms": 0 });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let (_, answer) =
        call(addr, Method::POST, "/jobs", Some(body.to_string()), None, retries).await?;
    answer["id"].as_u64().ok_or_else(|| format!("no id in {answer}").into())
}

/// Waits until job `id` is finished; answers it.
async fn finished(addr: SocketAddr, id: u64, retries: &AtomicU64) -> Result<Value, BoxError> {
    loop {
        let (_, job) = call(addr, Method::GET, &format!("/jobs/{id}"), None, None, retries).await?;
        if matches!(job["status"].as_str(), Some("succeeded" | "dead" | "cancelled")) {
            return Ok(job);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Priorities, a rate-limited group, the schedule, the dashboard and the metrics, shown on
/// the running service.
async fn features(addr: SocketAddr, retries: &AtomicU64) -> Result<(), BoxError> {
    // A rate-limited group: 30 jobs for `partner-api`, at most 20 starts a second.
    let started = Instant::now();
    let mut ids = Vec::new();
    for _ in 0..30 {
        ids.push(submit(addr, serde_json::json!({ "group": "partner-api" }), retries).await?);
    }
    let mut starts = Vec::new();
    for id in ids {
        starts.push(finished(addr, id, retries).await?["started_at"].as_u64().unwrap_or(0));
    }
    starts.sort_unstable();
    let span_ms = starts.last().zip(starts.first()).map_or(0, |(last, first)| last - first);
    println!(
        "
rate limit: 30 jobs of the group partner-api (20 starts a second) started over {:.2} s, done after {:.2} s",
        span_ms as f64 / 1e3,
        started.elapsed().as_secs_f64()
    );
    if span_ms < 900 {
        return Err(format!("the rate limit did not hold: 30 starts within {span_ms} ms").into());
    }
    // Priorities: 40 slow jobs wait, then one of priority 5 arrives; it overtakes them.
    let mut waiting = Vec::new();
    for _ in 0..40 {
        waiting.push(submit(addr, serde_json::json!({ "work_ms": 40 }), retries).await?);
    }
    let urgent = submit(addr, serde_json::json!({ "priority": 5 }), retries).await?;
    let urgent_done = finished(addr, urgent, retries).await?["updated_at"].as_u64().unwrap_or(0);
    let mut before = 0;
    for id in waiting {
        if finished(addr, id, retries).await?["updated_at"].as_u64().unwrap_or(0) < urgent_done {
            before += 1;
        }
    }
    println!(
        "priority: a priority-5 job enqueued behind 40 waiting jobs finished after {before} of them"
    );
    // The schedule, as the dashboard sees it, and the metrics.
    let (_, overview) =
        call(addr, Method::GET, "/dashboard/api/overview", None, None, retries).await?;
    for schedule in overview["schedules"].as_array().into_iter().flatten() {
        println!(
            "schedule {}: `{}` ({}), next run at {} ms",
            schedule["name"].as_str().unwrap_or("?"),
            schedule["expression"].as_str().unwrap_or("?"),
            schedule["zone"].as_str().unwrap_or("?"),
            schedule["next"]
        );
    }
    println!("dashboard: http://{addr}/dashboard (counts {})", overview["counts"]);
    let (_, text) = client::request(addr, Method::GET, "/metrics", None, None).await?;
    println!("GET /metrics: {} lines, for example:", text.lines().count());
    // The queue's, the actors' and the pool's (factory) metrics, side by side: those of this
    // process (on PostgreSQL, the workers and their metrics are in the worker processes).
    let families = [
        "actor_jobs_finished_total",
        "actor_jobs_jobs",
        "actor_messages_total",
        "actor_factory_wait_seconds_count",
    ];
    let mut shown = 0;
    for prefix in families {
        for line in text.lines().filter(|line| line.starts_with(prefix)).take(2) {
            println!("  {line}");
            shown += 1;
        }
    }
    if shown == 0 {
        return Err("no job, actor or factory metric in /metrics".into());
    }
    Ok(())
}

fn start_service(backend: &Backend, addr: &str) -> Result<(Child, SocketAddr), BoxError> {
    let (child, listening) = start_process(backend, addr)?;
    Ok((child, listening.ok_or("the service does not listen")?))
}

/// Sends a request, retrying while the service is down (it is restarted mid-run).
async fn call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Option<String>,
    key: Option<&str>,
    retries: &AtomicU64,
) -> Result<(StatusCode, Value), BoxError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match client::request(addr, method.clone(), path, body.clone(), key).await {
            Ok((status, body)) if status != StatusCode::SERVICE_UNAVAILABLE => {
                return Ok((status, serde_json::from_str(&body)?));
            }
            Ok(_) | Err(_) if Instant::now() < deadline => {
                retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok((status, body)) => return Err(format!("{path}: {status} {body}").into()),
            Err(error) => return Err(error),
        }
    }
}

/// One client: submits its documents, then polls them until finished. Answers
/// (id, expected words, final job).
async fn run_client(
    addr: SocketAddr,
    client_no: u64,
    docs: u64,
    quick: bool,
    accepted: Arc<AtomicU64>,
    retries: Arc<AtomicU64>,
    mut restarted: tokio::sync::watch::Receiver<bool>,
) -> Result<Vec<(u64, u64, Value)>, BoxError> {
    let mut ids = Vec::new();
    for d in 0..docs {
        if d == docs / 2 {
            // Half of the documents are in: the service is killed and restarted now.
            restarted.wait_for(|r| *r).await?;
        }
        let words = 3 + (client_no * 7 + d * 13) % 40;
        let flaky = (client_no + d).is_multiple_of(10);
        let mut text: Vec<String> = (0..words).map(|w| format!("w{w}")).collect();
        if flaky {
            text[0] = "flaky".to_owned();
        }
        let work_ms = if quick {
            5 + (client_no * 31 + d * 17) % 45
        } else {
            20 + (client_no * 97 + d * 53) % 280
        };
        let body = serde_json::json!({ "text": text.join(" "), "work_ms": work_ms }).to_string();
        let key = format!("client-{client_no}-doc-{d}");
        let (status, answer) =
            call(addr, Method::POST, "/jobs", Some(body), Some(&key), &retries).await?;
        if status != StatusCode::ACCEPTED {
            return Err(format!("POST /jobs: {status} {answer}").into());
        }
        let id = answer["id"].as_u64().ok_or("no id in the answer")?;
        accepted.fetch_add(1, Ordering::Relaxed);
        ids.push((id, words));
    }
    let mut done = Vec::new();
    for (id, words) in ids {
        loop {
            let (status, job) =
                call(addr, Method::GET, &format!("/jobs/{id}"), None, None, &retries).await?;
            if status != StatusCode::OK {
                return Err(format!("GET /jobs/{id}: {status} {job}").into());
            }
            match job["status"].as_str() {
                Some("succeeded" | "dead" | "cancelled") => {
                    done.push((id, words, job));
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(25)).await,
            }
        }
    }
    Ok(done)
}

/// Buckets durations (ms) into `n` equal ranges: (lower bound, count).
fn histogram(durations: &[u64], n: u64) -> Vec<(u64, usize)> {
    let max = durations.iter().copied().max().unwrap_or(0) + 1;
    let width = max.div_ceil(n).max(1);
    let mut buckets = vec![0usize; n as usize];
    for &d in durations {
        buckets[((d / width) as usize).min(n as usize - 1)] += 1;
    }
    buckets.into_iter().enumerate().map(|(i, c)| (i as u64 * width, c)).collect()
}

fn svg(buckets: &[(u64, usize)], width_ms: u64) -> String {
    let (w, h, pad) = (640.0, 320.0, 40.0);
    let most = buckets.iter().map(|b| b.1).max().unwrap_or(1).max(1) as f64;
    let bar = (w - 2.0 * pad) / buckets.len() as f64;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <text x=\"{pad}\" y=\"20\" font-size=\"14\">Job durations, enqueue to completion (ms)</text>\n"
    );
    for (i, (lower, count)) in buckets.iter().enumerate() {
        let bh = (h - 2.0 * pad - 10.0) * (*count as f64) / most;
        let x = pad + i as f64 * bar;
        let y = h - pad - bh;
        out += &format!(
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#4a7bd0\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{count}</text>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{lower}-{}</text>\n",
            bar - 2.0,
            x + bar / 2.0,
            y - 3.0,
            x + bar / 2.0,
            h - pad + 14.0,
            lower + width_ms
        );
    }
    out += "</svg>\n";
    out
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|a| a == "--serve") {
        job_service::serve_main(&args[2..]);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1));
    let queue = format!("documents-{}", std::process::id());
    match value("--pg") {
        Some(url) => drive(&Backend::Postgres(url.clone(), queue), quick),
        None => {
            let dir: PathBuf =
                std::env::temp_dir().join(format!("actor-rs-job_service-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            drive(&Backend::Embedded(dir.clone()), quick)?;
            let _ = std::fs::remove_dir_all(&dir);
            // In CI (`--quick` with a server configured), the PostgreSQL variant runs too.
            match std::env::var("ACTOR_PG_URL") {
                Ok(url) if quick && !url.is_empty() => {
                    println!("\n--- the same on PostgreSQL, with separate worker processes ---");
                    drive(&Backend::Postgres(url, queue), quick)
                }
                _ => Ok(()),
            }
        }
    }
}

fn drive(backend: &Backend, quick: bool) -> Result<(), BoxError> {
    let per_client = if quick { 2 } else { 5 };
    let total = CLIENTS * per_client;
    // On PostgreSQL, two worker processes beside the HTTP process.
    let mut worker_processes = Vec::new();
    if let Backend::Postgres(..) = backend {
        for _ in 0..2 {
            worker_processes.push(start_process(backend, "-")?.0);
        }
    }
    let (mut service, addr) = start_service(backend, "127.0.0.1:0")?;
    match backend {
        Backend::Embedded(dir) => println!(
            "service on http://{addr} (store {}); {CLIENTS} clients, {total} documents",
            dir.display()
        ),
        Backend::Postgres(..) => println!(
            "HTTP process on http://{addr}, {} worker processes, one PostgreSQL queue; {CLIENTS} clients, {total} documents",
            worker_processes.len()
        ),
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let started = Instant::now();
    let accepted = Arc::new(AtomicU64::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let (restart, restarted) = tokio::sync::watch::channel(false);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (accepted, retries) = (Arc::clone(&accepted), Arc::clone(&retries));
            let restarted = restarted.clone();
            runtime.spawn(run_client(addr, c, per_client, quick, accepted, retries, restarted))
        })
        .collect();

    // Kill the service once half of the documents were accepted, and start it again.
    let first_half = CLIENTS * (per_client / 2);
    while accepted.load(Ordering::Relaxed) < first_half {
        std::thread::park_timeout(Duration::from_millis(1));
    }
    let (_, before) = runtime.block_on(call(addr, Method::GET, "/stats", None, None, &retries))?;
    service.kill()?; // SIGKILL
    service.wait()?;
    let at = accepted.load(Ordering::Relaxed);
    println!(
        "killed the service with SIGKILL after {at} accepted documents ({} running, {} queued, {} succeeded)",
        before["queue"]["running"], before["queue"]["queued"], before["queue"]["succeeded"]
    );
    let (new_service, _) = start_service(backend, &addr.to_string())?;
    service = new_service;
    println!("restarted it on the same port; sending the other half");
    if let Some(first) = worker_processes.first_mut() {
        // And a worker process, mid-run: its jobs run again elsewhere when their leases expire.
        first.kill()?;
        first.wait()?;
        worker_processes[0] = start_process(backend, "-")?.0;
        println!("killed a worker process with SIGKILL and started a replacement");
    }
    restart.send(true)?;

    // Watch the pool follow the durable backlog (embedded: the workers share the HTTP process).
    let pool_sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (stop_sampling, mut sampling) = tokio::sync::watch::channel(false);
    let sampler = runtime.spawn({
        let (retries, pool_sizes) = (Arc::clone(&retries), Arc::clone(&pool_sizes));
        async move {
            while !*sampling.borrow() {
                let sample = call(addr, Method::GET, "/stats", None, None, &retries).await;
                if let Ok((_, stats)) = sample
                    && let Some(workers) = stats["workers"]["workers"].as_u64()
                {
                    pool_sizes.lock().unwrap_or_else(|e| e.into_inner()).push(workers);
                }
                let _ = tokio::time::timeout(Duration::from_millis(50), sampling.changed()).await;
            }
        }
    });
    let mut jobs = Vec::new();
    for client in clients {
        jobs.extend(runtime.block_on(client)??);
    }
    let elapsed = started.elapsed();
    stop_sampling.send(true)?;
    runtime.block_on(sampler)?;
    let pool_sizes = std::mem::take(&mut *pool_sizes.lock().unwrap_or_else(|e| e.into_inner()));
    let (_, stats) = runtime.block_on(call(addr, Method::GET, "/stats", None, None, &retries))?;
    let (status, _) =
        runtime.block_on(call(addr, Method::GET, "/jobs/999999", None, None, &retries))?;
    runtime.block_on(features(addr, &retries))?;
    service.kill()?;
    service.wait()?;
    for mut worker in worker_processes {
        worker.kill()?;
        worker.wait()?;
    }

    let mut wrong = 0;
    let mut durations = Vec::new();
    let mut attempts: BTreeMap<u64, u64> = BTreeMap::new();
    for (id, words, job) in &jobs {
        let ok = job["status"] == "succeeded" && job["result"]["words"].as_u64() == Some(*words);
        if !ok {
            wrong += 1;
            println!("WRONG: job {id} expected {words} words, got {job}");
        }
        *attempts.entry(job["attempt"].as_u64().unwrap_or(0)).or_default() += 1;
        let (created, updated) = (job["created_at"].as_u64(), job["updated_at"].as_u64());
        if let (Some(c), Some(u)) = (created, updated) {
            durations.push(u.saturating_sub(c));
        }
    }
    let buckets = histogram(&durations, 10);
    let width = buckets.get(1).map_or(1, |b| b.0);
    let most = buckets.iter().map(|b| b.1).max().unwrap_or(1).max(1);
    println!("\njob durations, enqueue to completion (ms):");
    for (lower, count) in &buckets {
        let bar = "█".repeat(count * 40 / most);
        println!("{:>6}-{:<6} {bar} {count}", lower, lower + width);
    }
    let svg_path = std::env::temp_dir().join("job_service_durations.svg");
    std::fs::write(&svg_path, svg(&buckets, width))?;
    println!("(also written to {})", svg_path.display());
    println!("\nGET /stats: {stats}");
    if let (Some(peak), Some(last)) = (pool_sizes.iter().max(), pool_sizes.last()) {
        println!(
            "autoscaling on the durable backlog: 1 worker when idle, up to {peak} while jobs waited ({last} at the end of the run; {} samples)",
            pool_sizes.len()
        );
    }
    println!("attempts: {attempts:?} (flaky documents fail once; the kill interrupts a few)");
    println!(
        "documents={} finished={} wrong={wrong} client_retries={} unknown_job_status={} elapsed_s={:.1}",
        total,
        jobs.len(),
        retries.load(Ordering::Relaxed),
        status.as_u16(),
        elapsed.as_secs_f64()
    );
    let lost = total - jobs.len() as u64;
    if wrong > 0 || lost > 0 || status != StatusCode::NOT_FOUND {
        return Err(format!("{lost} documents lost, {wrong} wrong").into());
    }
    Ok(())
}
