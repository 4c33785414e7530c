//! Trace context crosses the wire: the server's span `remote` continues the caller's trace,
//! and the actor's message span is its child.

use actor_core::SpawnOptions;
use actor_test_support::spans::SpanRecorder;
use tracing::Instrument;

use crate::support::{Kitchen, KitchenRemote, node, unique_name};

#[tokio::test(flavor = "current_thread")]
async fn a_remote_ask_continues_the_callers_trace_on_the_server() {
    let (recorder, _guard) = SpanRecorder::install();
    let Some(node) = node().await else { return };
    let name = unique_name("traced");
    let local =
        Kitchen::default().spawn_with(SpawnOptions::new().with_message_spans(true)).unwrap();
    let _served = node.serve(&name, local).await.unwrap();
    let remote: KitchenRemote = node.remote(&name).unwrap();
    let request = tracing::info_span!("request");
    let caller = recorder.record_of(&request).unwrap();
    remote.told().instrument(request).await.unwrap();

    let served = recorder.named("remote");
    let [served] = &served[..] else { panic!("one remote span: {served:#?}") };
    assert_eq!(served.remote_parent.as_deref(), Some(caller.span.as_str()));
    assert_eq!(served.trace, caller.trace);
    assert_eq!(served.fields.get("message").map(String::as_str), Some("told"));
    let handled: Vec<_> =
        recorder.named("message").into_iter().filter(|m| m.parent == Some(served.id)).collect();
    assert_eq!(handled.len(), 1, "the actor's message span is the child of `remote`");
    assert_eq!(handled[0].trace, caller.trace);

    // Without a span at the caller, nothing is carried: no `remote` span.
    remote.told().await.unwrap();
    assert_eq!(recorder.named("remote").len(), 1);
}
