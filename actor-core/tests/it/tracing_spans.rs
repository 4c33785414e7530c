//! Message spans: one per handled message, a child of the sender's span, none when off.

use actor_core::{SpawnOptions, actor};
use actor_test_support::spans::{SpanRecord, SpanRecorder};
use tracing::Instrument;

/// The message spans recorded so far.
fn messages(recorder: &SpanRecorder) -> Vec<SpanRecord> {
    recorder.named("message")
}

/// Field `name` of `span`, if recorded.
fn field<'a>(span: &'a SpanRecord, name: &str) -> Option<&'a str> {
    span.fields.get(name).map(String::as_str)
}

struct Front {
    next: MiddleHandle,
}

#[actor]
impl Front {
    async fn request(&self, n: u64) -> u64 {
        self.next.relay(n).await.expect("middle answers")
    }
}

struct Middle {
    next: BackHandle,
}

#[actor]
impl Middle {
    async fn relay(&self, n: u64) -> u64 {
        self.next.compute(n).await.expect("back answers")
    }
}

struct Back;

#[actor]
impl Back {
    fn compute(&mut self, n: u64) -> u64 {
        n * 2
    }
}

/// Spawns the chain; `traced` says whether its actors have message spans.
fn chain(traced: bool) -> FrontHandle {
    let options =
        |name: &'static str| SpawnOptions::new().with_name(name).with_message_spans(traced);
    let back = Back.spawn_with(options("back")).unwrap();
    let middle = Middle { next: back }.spawn_with(options("middle")).unwrap();
    Front { next: middle }.spawn_with(options("front")).unwrap()
}

#[tokio::test]
async fn an_ask_chain_is_one_trace_of_message_spans_in_order() {
    let (recorder, _default) = SpanRecorder::install();
    let front = chain(true);
    let request = tracing::info_span!("request");
    let request_id = request.id().expect("enabled").into_u64();
    let answer = front.request(21).instrument(request).await.unwrap();
    assert_eq!(answer, 42);

    let messages = messages(&recorder);
    let described: Vec<(Option<&str>, Option<&str>)> =
        messages.iter().map(|s| (field(s, "actor"), field(s, "message"))).collect();
    assert_eq!(
        described,
        [
            (Some("front"), Some("request")),
            (Some("middle"), Some("relay")),
            (Some("back"), Some("compute"))
        ],
        "{messages:#?}"
    );
    assert_eq!(
        messages[0].parent,
        Some(request_id),
        "the first message's parent is the caller's span"
    );
    assert_eq!(messages[1].parent, Some(messages[0].id), "{messages:#?}");
    assert_eq!(messages[2].parent, Some(messages[1].id), "{messages:#?}");
}

#[tokio::test]
async fn an_actor_without_message_spans_makes_none() {
    let (recorder, _default) = SpanRecorder::install();
    let front = chain(false);
    assert_eq!(front.request(1).await.unwrap(), 2);
    assert!(messages(&recorder).is_empty(), "{:#?}", messages(&recorder));
}

#[tokio::test]
async fn a_message_sent_outside_any_span_starts_a_trace_of_its_own() {
    let (recorder, _default) = SpanRecorder::install();
    let back = Back.spawn_with(SpawnOptions::new().with_message_spans(true)).unwrap();
    for n in 0..3 {
        back.compute(n).await.unwrap();
    }
    let messages = messages(&recorder);
    assert_eq!(messages.len(), 3);
    // Not children of the actor's own span: each message is a root.
    assert!(messages.iter().all(|s| s.parent.is_none()), "{messages:#?}");
}

/// A message's span ends when its handler is done and the actor waits, not when the next
/// message comes.
#[tokio::test]
async fn a_message_span_ends_when_the_actor_waits_again() {
    let (recorder, _default) = SpanRecorder::install();
    let back = Back.spawn_with(SpawnOptions::new().with_message_spans(true)).unwrap();
    assert_eq!(back.compute(1).await.unwrap(), 2);
    // On this one thread, the actor finishes and waits for mail before the next line runs.
    tokio::task::yield_now().await;
    assert!(messages(&recorder)[0].closed, "the message's span is closed");
}

/// Through the installed propagator, the current span's context is captured as text fields,
/// and a span continuing them joins the sender's trace.
#[tokio::test]
async fn a_trace_context_carries_a_span_to_a_span_that_continues_it() {
    use actor_core::trace::{TraceContext, context_of, continue_trace, current_context};
    let (recorder, _default) = SpanRecorder::install();
    let request = tracing::info_span!("request");
    let sender = recorder.record_of(&request).unwrap();
    let context = request.in_scope(current_context).expect("a context inside a recorded span");
    assert_eq!(context, context_of(&request).unwrap());
    let expected = format!("00-{}-{}-01", sender.trace, sender.span);
    assert_eq!(context.get("traceparent"), Some(expected.as_str()));
    assert_eq!(current_context(), None, "outside any span there is nothing to carry");

    let receiver = tracing::info_span!(parent: None, "receiver");
    continue_trace(&receiver, &context);
    let child = receiver.in_scope(|| tracing::info_span!("child"));
    let (receiver, child) =
        (recorder.record_of(&receiver).unwrap(), recorder.record_of(&child).unwrap());
    assert_eq!(receiver.remote_parent.as_deref(), Some(sender.span.as_str()));
    assert_eq!(
        (receiver.trace.as_str(), child.trace.as_str()),
        (sender.trace.as_str(), sender.trace.as_str())
    );

    // The carrier itself: a later value of a key replaces the earlier one, order is kept.
    let mut fields: TraceContext = [("a", "1"), ("b", "2")].into_iter().collect();
    fields.insert("a", "3");
    fields.extend([("c", "4")]);
    let pairs: Vec<(&str, &str)> = fields.iter().collect();
    assert_eq!(pairs, [("a", "3"), ("b", "2"), ("c", "4")]);
    assert_eq!((fields.len(), fields.get("b"), fields.get("z")), (3, Some("2"), None));
}
