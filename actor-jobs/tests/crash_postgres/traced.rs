//! Trace context across processes: the test process enqueues jobs inside a span of its own,
//! and a worker process (`ACTOR_TEST_CHILD=pg-traced`) runs them. Each attempt's span there
//! must continue the enqueuer's trace, with the enqueuer's span as its remote parent, and the
//! handler must run inside it.
//!
//! Both processes record spans with `actor_test_support::spans`, whose propagator writes W3C
//! `traceparent` fields as OpenTelemetry's does. The child prints
//! `traced <n> <trace> <remote parent> <depth>` for each job it handles.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use actor_core::actor;
use actor_jobs::{ConsumerSpec, EnqueueOptions, JobBackend, JobState, PgOptions, PgQueue};
use actor_test_support::BoxError;
use actor_test_support::spans::SpanRecorder;
use tracing::Instrument;

use super::{Event, Jobs, Work, Workers, queue_options, say};

/// Jobs enqueued inside the traced span.
const JOBS: u64 = 5;
/// Their numbers start here, apart from the other cases'.
const FIRST: u64 = 7_000;

/// Reports the trace its handler runs in, then completes the job.
struct Reporter {
    recorder: SpanRecorder,
}

#[actor]
impl Reporter {
    async fn run(&mut self, work: actor_jobs::Work<Work, u32, Jobs>) {
        let lineage = self.recorder.lineage(&tracing::Span::current());
        let n = work.payload().n;
        let (trace, remote) = lineage
            .last()
            .map(|root| (root.trace.clone(), root.remote_parent.clone().unwrap_or_default()))
            .unwrap_or_default();
        let _ = work.complete(std::process::id()).await;
        say(format_args!("traced {n} {trace} {remote} {}", lineage.len()));
    }
}

async fn child(url: &str, queue: &str, recorder: SpanRecorder) -> Result<(), BoxError> {
    let options = PgOptions::new()
        .queue(queue_options())
        .connections(2)
        .poll_interval(Duration::from_millis(20))
        .worker(format!("traced-{}", std::process::id()));
    let jobs: Jobs = PgQueue::connect(url, queue, options).await?;
    let build = move || Ok(Reporter { recorder: recorder.clone() });
    let _consumer = ConsumerSpec::new(2, build, ReporterMessage::run).spawn(jobs)?;
    say(format_args!("ready"));
    std::future::pending::<()>().await;
    Ok(())
}

/// The child process.
pub(super) fn child_main() -> ! {
    super::child_process("traced", |url, queue| async move {
        child(&url, &queue, SpanRecorder::install_global()).await
    })
}

/// What the case found: (jobs whose handler continued the enqueuer's trace, problems).
///
/// # Errors
///
/// A database that cannot be reached, or processes that cannot be started.
pub(super) fn run(url: &str) -> Result<(u64, Vec<String>), BoxError> {
    let queue = format!("pg-traced-{}", std::process::id());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (recorder, _guard) = SpanRecorder::install();
    let jobs = runtime.block_on(super::open(url, &queue, "parent"))?;
    let request = tracing::info_span!("request");
    let sender = recorder.record_of(&request).ok_or("the request span is not recorded")?;
    let mut ids = BTreeMap::new();
    runtime.block_on(
        async {
            for n in FIRST..FIRST + JOBS {
                ids.insert(n, jobs.enqueue(Work { n, first_ms: 0 }, EnqueueOptions::new()).await?);
            }
            Ok::<_, BoxError>(())
        }
        .instrument(request.clone()),
    )?;
    let (tx, rx) = std::sync::mpsc::channel();
    let mut workers =
        Workers { url: url.to_owned(), queue: queue.clone(), children: Vec::new(), tx };
    workers.start_as("pg-traced")?;
    let mut problems = Vec::new();
    let mut continued = 0;
    let mut reported = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while reported < JOBS {
        if Instant::now() > deadline {
            problems.push(format!("the child reported {reported} of {JOBS} jobs within 60 s"));
            break;
        }
        let Ok(Event { line, .. }) = rx.recv_timeout(Duration::from_millis(100)) else { continue };
        if line.starts_with("error") || line == "exited" {
            return Err(format!("the traced child failed: {line}").into());
        }
        let fields: Vec<&str> = line.split(' ').collect();
        let ["traced", n, trace, remote, depth] = fields[..] else { continue };
        reported += 1;
        if trace == sender.trace && remote == sender.span && depth == "2" {
            continued += 1;
        } else {
            problems.push(format!(
                "job {n} ran in trace {trace} under {remote} at depth {depth}, not in trace {} \
                 under {} at depth 2 (the attempt's span, and the handler's message span in it)",
                sender.trace, sender.span
            ));
        }
    }
    drop(workers);
    runtime.block_on(async {
        for (&n, &id) in &ids {
            let record = jobs.status(id).await?.ok_or("a job vanished")?;
            if !matches!(record.state, JobState::Succeeded { .. }) {
                problems.push(format!("job {n} did not succeed: {:?}", record.state));
            }
        }
        Ok::<_, BoxError>(())
    })?;
    Ok((continued, problems))
}
