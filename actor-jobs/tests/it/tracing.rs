//! A consumed job's spans continue its enqueuer's trace: the attempt's span `job` has the
//! enqueuer's span as its remote parent, the handler's message span is its child, and retries
//! stay in the same trace. (Across processes on PostgreSQL: `tests/crash_postgres/traced.rs`.)

use std::sync::{Arc, Mutex};

use actor_core::actor;
use actor_jobs::{ConsumerSpec, EmbeddedQueue, EnqueueOptions, JobBackend, JobId, JobState};
use actor_store::Store;
use actor_test_support::spans::{SpanRecord, SpanRecorder};
use tracing::Instrument;

use crate::support::{TempDir, options};

type Queue = EmbeddedQueue<String, u64>;

/// What each attempt saw: its job, attempt, and the lineage of the span it ran in.
type Seen = Arc<Mutex<Vec<(JobId, u32, Vec<SpanRecord>)>>>;

struct Traced {
    recorder: SpanRecorder,
    seen: Seen,
}

#[actor]
impl Traced {
    async fn run(&mut self, work: actor_jobs::Work<String, u64, Queue>) {
        let lineage = self.recorder.lineage(&tracing::Span::current());
        self.seen.lock().unwrap().push((work.id(), work.attempt(), lineage));
        if work.payload() == "fail once" && work.attempt() == 1 {
            drop(work.fail("once").await);
        } else {
            drop(work.complete(0).await);
        }
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_consumed_job_continues_the_trace_of_its_enqueuer() {
    let (recorder, _guard) = SpanRecorder::install();
    let dir = TempDir::new("traced-jobs");
    let store = Store::open(dir.path()).unwrap();
    let queue = Queue::open(&store, "traced", options()).await.unwrap();
    let seen = Seen::default();
    let (r, s) = (recorder.clone(), Arc::clone(&seen));
    let consumer = ConsumerSpec::new(
        2,
        move || Ok(Traced { recorder: r.clone(), seen: s.clone() }),
        TracedMessage::run,
    )
    .spawn(queue.clone())
    .unwrap();

    let request = tracing::info_span!("request");
    let request_record = recorder.record_of(&request).unwrap();
    let (traced, retried) = async {
        let traced = queue.enqueue("work".to_owned(), EnqueueOptions::new()).await.unwrap();
        let retried = queue.enqueue("fail once".to_owned(), EnqueueOptions::new()).await.unwrap();
        (traced, retried)
    }
    .instrument(request.clone())
    .await;
    let untraced = queue.enqueue("outside".to_owned(), EnqueueOptions::new()).await.unwrap();
    for id in [traced, retried, untraced] {
        assert!(matches!(queue.wait_for(id).await.unwrap().state, JobState::Succeeded { .. }));
    }
    let _ = consumer.shutdown().await;

    // The stored context names the request's span.
    let stored = queue.status(traced).await.unwrap().unwrap().trace.unwrap();
    let expected = format!("00-{}-{}-01", request_record.trace, request_record.span);
    assert_eq!(stored.get("traceparent"), Some(expected.as_str()));
    assert_eq!(queue.status(untraced).await.unwrap().unwrap().trace, None);

    let seen = seen.lock().unwrap().clone();
    let attempts: Vec<_> = seen.iter().map(|(id, attempt, _)| (*id, *attempt)).collect();
    assert_eq!(attempts.len(), 4, "three jobs, one retried: {attempts:?}");
    for (id, attempt, lineage) in &seen {
        // The handler runs in a message span of its worker, child of the attempt's span.
        let [message, job] = &lineage[..] else {
            panic!("job {id} attempt {attempt}: lineage {lineage:#?}")
        };
        assert_eq!(message.name, "message");
        assert_eq!(message.fields.get("message").map(String::as_str), Some("run"));
        assert_eq!(job.name, "job");
        assert_eq!(job.fields.get("job"), Some(&id.0.to_string()));
        assert_eq!(job.fields.get("attempt"), Some(&attempt.to_string()));
        assert_eq!(job.fields.get("queue").map(String::as_str), Some("jobs"));
        assert_eq!(job.parent, None, "the attempt's span is a root in this process");
        assert_eq!(message.trace, job.trace, "the message span is in the attempt's trace");
        if *id == untraced {
            assert_eq!(job.remote_parent, None);
            assert_ne!(job.trace, request_record.trace, "an untraced job starts a trace");
        } else {
            assert_eq!(job.remote_parent.as_deref(), Some(request_record.span.as_str()));
            assert_eq!(job.trace, request_record.trace, "job {id} attempt {attempt}");
        }
    }
    assert!(attempts.contains(&(retried, 2)), "the retry continued the same trace");
    queue.close().await;
    store.close().await.unwrap();
}
