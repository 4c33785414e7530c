//! The kill case for batched acknowledgements: a process completes its jobs, its
//! acknowledgements wait in the batch (a window of an hour), and it is killed before the batch
//! is flushed. Those jobs must be redelivered to another process when their leases expire,
//! never lost, and never reported done by the process that died.
//!
//! The child (`ACTOR_TEST_CHILD=pg-unflushed`) prints `handled <n>` once it has completed job
//! `n` (the acknowledgement handed to the batch) and `acked <n>` if that acknowledgement ever
//! resolves, which it must not before the kill.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use actor_core::actor;
use actor_jobs::{ConsumerSpec, EnqueueOptions, JobBackend, JobId, JobState, PgOptions, PgQueue};
use actor_test_support::BoxError;

use super::{Event, Jobs, Work, Workers, queue_options, say};

/// Jobs completed, and never flushed, by the process that is killed.
const JOBS: u64 = 24;
/// Their numbers start here, apart from the other cases'.
const FIRST: u64 = 5_000;

/// Completes every job without awaiting the acknowledgement, then reports it.
struct Completer;

#[actor]
impl Completer {
    async fn run(&mut self, work: actor_jobs::Work<Work, u32, Jobs>) {
        let n = work.payload().n;
        let ack = work.complete(std::process::id());
        say(format_args!("handled {n}"));
        tokio::spawn(async move {
            if ack.await.is_ok() {
                say(format_args!("acked {n}"));
            }
        });
    }
}

async fn child(url: &str, queue: &str) -> Result<(), BoxError> {
    // One batch of up to 10,000 acknowledgements, flushed after an hour: nothing is written
    // before the kill.
    let options = PgOptions::new()
        .queue(queue_options())
        .connections(2)
        .poll_interval(Duration::from_millis(20))
        .ack_batching(10_000, Duration::from_secs(3_600))
        .worker(format!("unflushed-{}", std::process::id()));
    let jobs: Jobs = PgQueue::connect(url, queue, options).await?;
    let _consumer = ConsumerSpec::new(2, || Ok(Completer), CompleterMessage::run).spawn(jobs)?;
    say(format_args!("ready"));
    std::future::pending::<()>().await;
    Ok(())
}

/// The child process.
pub(super) fn child_main() -> ! {
    super::child_process("unflushed", |url, queue| async move { child(&url, &queue).await })
}

/// What the case found: (jobs redelivered and finished, problems).
///
/// # Errors
///
/// A database that cannot be reached, or processes that cannot be started.
pub(super) fn run(url: &str) -> Result<(u64, Vec<String>), BoxError> {
    let queue = format!("pg-unflushed-{}", std::process::id());
    let runtime = tokio::runtime::Runtime::new()?;
    let jobs = runtime.block_on(super::open(url, &queue, "parent"))?;
    let mut ids: BTreeMap<u64, JobId> = BTreeMap::new();
    runtime.block_on(async {
        for n in FIRST..FIRST + JOBS {
            ids.insert(n, jobs.enqueue(Work { n, first_ms: 0 }, EnqueueOptions::new()).await?);
        }
        Ok::<_, BoxError>(())
    })?;
    let mut problems = Vec::new();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut workers =
        Workers { url: url.to_owned(), queue: queue.clone(), children: Vec::new(), tx };
    let doomed = workers.start_as("pg-unflushed")?;
    let doomed_pid = workers.pid(doomed).ok_or("the child is gone")?;
    // Wait until the child has completed every job, then kill it.
    let mut handled = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while handled < JOBS {
        if Instant::now() > deadline {
            problems.push(format!("the child handled {handled} of {JOBS} jobs within 60 s"));
            break;
        }
        let Ok(Event { line, .. }) = rx.recv_timeout(Duration::from_millis(100)) else { continue };
        if line.starts_with("handled ") {
            handled += 1;
        } else if line.starts_with("acked ") {
            problems
                .push(format!("an acknowledgement resolved before its batch was flushed: {line}"));
        } else if line.starts_with("error") || line == "exited" {
            return Err(format!("the unflushed child failed: {line}").into());
        }
    }
    workers.kill(doomed)?;
    // Lines it printed before it died.
    while let Ok(Event { line, .. }) = rx.try_recv() {
        if line.starts_with("acked ") {
            problems
                .push(format!("an acknowledgement resolved before its batch was flushed: {line}"));
        }
    }
    // Nothing it completed reached the database.
    runtime.block_on(async {
        for (&n, &id) in &ids {
            let record = jobs.status(id).await?.ok_or("a job vanished")?;
            if matches!(record.state, JobState::Succeeded { .. }) {
                problems.push(format!(
                    "job {n} is done although its acknowledgement was never flushed"
                ));
            }
        }
        Ok::<_, BoxError>(())
    })?;
    // A normal worker takes the jobs over when their leases expire.
    workers.start()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if runtime.block_on(jobs.stats())?.unfinished() == 0 {
            break;
        }
        if Instant::now() > deadline {
            problems.push("the redelivered jobs did not finish within 60 s".to_owned());
            break;
        }
        let _ = rx.recv_timeout(Duration::from_millis(100));
    }
    drop(workers);
    let mut finished = 0;
    runtime.block_on(async {
        for (&n, &id) in &ids {
            let record = jobs.status(id).await?.ok_or("a job vanished")?;
            match record.state {
                JobState::Succeeded { result } if result != doomed_pid && record.attempt >= 2 => {
                    finished += 1;
                }
                ref other => problems.push(format!(
                    "job {n} was not redelivered and finished elsewhere: {other:?} at attempt {}",
                    record.attempt
                )),
            }
        }
        Ok::<_, BoxError>(())
    })?;
    Ok((finished, problems))
}
