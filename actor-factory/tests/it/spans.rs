//! With message spans, a job's handling is a child of the span it was submitted in, whoever
//! hands it to the worker later, retries included.

use std::time::Duration;

use actor_test_support::spans::SpanRecorder;
use tracing::Instrument;

use crate::support::{Log, Task, quiet_panics, spec};

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_jobs_message_span_is_a_child_of_its_submitters_span() {
    quiet_panics();
    let (recorder, _guard) = SpanRecorder::install();
    let log = Log::default();
    let factory = spec(1, &log).message_spans(true).spawn().unwrap();
    let submit = |name: &'static str, task: Task, retrying: bool| {
        let factory = factory.clone();
        async move {
            if retrying {
                factory.submit_retrying(1, task, actor_factory::JobOptions::new()).await.unwrap();
            } else {
                factory.submit(1, task).await.unwrap();
            }
        }
        .instrument(tracing::info_span!("request", name))
    };
    // One worker: `b` waits behind `a` and is handed over by `a`'s ending, inside `a`'s
    // message span; `c` panics once and is retried.
    submit("a", Task::Sleep(Duration::from_millis(10), 1), false).await;
    submit("b", Task::Record(2), false).await;
    submit("c", Task::Panic, true).await;
    factory.drain().await;

    let spans = recorder.spans();
    let name_of = |id: u64| {
        spans
            .iter()
            .rev()
            .find(|s| s.id == id && s.name == "request")
            .and_then(|s| s.fields.get("name").cloned())
    };
    let parents: Vec<Option<String>> = recorder
        .named("message")
        .iter()
        .filter(|m| m.fields.get("message").map(String::as_str) == Some("work"))
        .map(|m| m.parent.and_then(name_of))
        .collect();
    let expected = ["a", "b", "c", "c"].map(|n| Some(n.to_owned()));
    assert_eq!(parents, expected, "each handling's parent is its submitter's span");

    // Without message spans (the default), the workers create none.
    let quiet = spec(1, &log).spawn().unwrap();
    let before = recorder.named("message").len();
    quiet
        .submit(2, Task::Record(3))
        .instrument(tracing::info_span!("request", name = "d"))
        .await
        .unwrap();
    quiet.drain().await;
    assert_eq!(recorder.named("message").len(), before);
}
