//! Message spans: one per handled message, a child of the sender's span, none when off.

use std::sync::{Arc, Mutex};

use actor_core::{SpawnOptions, actor};
use tracing::Instrument;
use tracing::span::{Attributes, Id};
use tracing::subscriber::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A span as recorded: its name, its `actor` and `message` fields, its parent.
#[derive(Debug, Clone)]
struct Recorded {
    id: u64,
    name: &'static str,
    actor: Option<String>,
    message: Option<String>,
    parent: Option<u64>,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Recorded>>>, Arc<Mutex<Vec<u64>>>);

#[derive(Default)]
struct Fields {
    actor: Option<String>,
    message: Option<String>,
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "actor" => self.actor = Some(format!("{value:?}")),
            "message" => self.message = Some(format!("{value:?}")),
            _ => {}
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        self.1.lock().unwrap().push(id.into_u64());
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let parent = if attrs.is_root() {
            None
        } else if let Some(parent) = attrs.parent() {
            Some(parent.into_u64())
        } else {
            ctx.current_span().id().map(Id::into_u64)
        };
        self.0.lock().unwrap().push(Recorded {
            id: id.into_u64(),
            name: attrs.metadata().name(),
            actor: fields.actor,
            message: fields.message,
            parent,
        });
    }
}

impl Recorder {
    fn messages(&self) -> Vec<Recorded> {
        self.0.lock().unwrap().iter().filter(|s| s.name == "message").cloned().collect()
    }
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
    let recorder = Recorder::default();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(recorder.clone()));
    let front = chain(true);
    let request = tracing::info_span!("request");
    let request_id = request.id().expect("enabled").into_u64();
    let answer = front.request(21).instrument(request).await.unwrap();
    assert_eq!(answer, 42);

    let messages = recorder.messages();
    let described: Vec<(Option<&str>, Option<&str>)> =
        messages.iter().map(|s| (s.actor.as_deref(), s.message.as_deref())).collect();
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
    let recorder = Recorder::default();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(recorder.clone()));
    let front = chain(false);
    assert_eq!(front.request(1).await.unwrap(), 2);
    assert!(recorder.messages().is_empty(), "{:#?}", recorder.messages());
}

#[tokio::test]
async fn a_message_sent_outside_any_span_starts_a_trace_of_its_own() {
    let recorder = Recorder::default();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(recorder.clone()));
    let back = Back.spawn_with(SpawnOptions::new().with_message_spans(true)).unwrap();
    for n in 0..3 {
        back.compute(n).await.unwrap();
    }
    let messages = recorder.messages();
    assert_eq!(messages.len(), 3);
    // Not children of the actor's own span: each message is a root.
    assert!(messages.iter().all(|s| s.parent.is_none()), "{messages:#?}");
}

/// A message's span ends when its handler is done and the actor waits, not when the next
/// message comes.
#[tokio::test]
async fn a_message_span_ends_when_the_actor_waits_again() {
    let recorder = Recorder::default();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(recorder.clone()));
    let back = Back.spawn_with(SpawnOptions::new().with_message_spans(true)).unwrap();
    assert_eq!(back.compute(1).await.unwrap(), 2);
    // On this one thread, the actor finishes and waits for mail before the next line runs.
    tokio::task::yield_now().await;
    let span = recorder.messages()[0].id;
    assert!(recorder.1.lock().unwrap().contains(&span), "the message's span is closed");
}
