//! A `tracing` layer that records every span, with trace ids of its own, and a
//! [`Propagator`] over them: what OpenTelemetry does, small
//! enough to assert on, in one process or across processes.
//!
//! Each root span starts a trace (a fresh id); a child inherits its parent's. The propagator
//! writes `traceparent` = `00-<trace>-<span>-01`, and reading it back makes a span continue
//! that trace, with the sender's span id as its remote parent.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use actor_core::trace::{Propagator, TraceContext};
use tracing::span::{Attributes, Id, Record};
use tracing::{Span, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A span as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanRecord {
    /// Its `tracing` id (reused once it closed).
    pub id: u64,
    /// Its name.
    pub name: &'static str,
    /// Its fields, as text (`Debug` of values that are not strings or numbers).
    pub fields: BTreeMap<String, String>,
    /// The `tracing` id of its parent in this process.
    pub parent: Option<u64>,
    /// Its trace: the root's, or the one it continues.
    pub trace: String,
    /// Its own span id in traces (unique across processes).
    pub span: String,
    /// The span id of the sender it continues (from another process, or a stored job).
    pub remote_parent: Option<String>,
    /// Whether it closed.
    pub closed: bool,
}

#[derive(Default)]
struct Inner {
    records: Vec<SpanRecord>,
    /// Open spans by `tracing` id: their index in `records`.
    open: HashMap<u64, usize>,
}

/// The recording layer; clones share the record.
#[derive(Clone, Default)]
pub struct SpanRecorder(Arc<Mutex<Inner>>);

impl std::fmt::Debug for SpanRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("SpanRecorder").field("spans", &inner.records.len()).finish()
    }
}

static NEXT: AtomicU64 = AtomicU64::new(1);

/// An id unique across processes: the process id and a counter.
fn fresh_id(width: usize) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let id = (u128::from(std::process::id()) << 64) | u128::from(n);
    let text = format!("{id:032x}");
    text[text.len() - width..].to_owned()
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }

    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SpanRecorder {
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
        let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let trace = parent
            .and_then(|p| inner.open.get(&p).map(|&i| inner.records[i].trace.clone()))
            .unwrap_or_else(|| fresh_id(32));
        let record = SpanRecord {
            id: id.into_u64(),
            name: attrs.metadata().name(),
            fields: fields.0,
            parent,
            trace,
            span: fresh_id(16),
            remote_parent: None,
            closed: false,
        };
        let index = inner.records.len();
        inner.records.push(record);
        inner.open.insert(id.into_u64(), index);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        values.record(&mut fields);
        let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&index) = inner.open.get(&id.into_u64()) {
            inner.records[index].fields.extend(fields.0);
        }
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = inner.open.remove(&id.into_u64()) {
            inner.records[index].closed = true;
        }
    }
}

impl SpanRecorder {
    /// A recorder as the default subscriber of this thread (a current-thread runtime's
    /// tasks included), with [`RecordedPropagator`] installed for the process.
    pub fn install() -> (SpanRecorder, tracing::subscriber::DefaultGuard) {
        let recorder = SpanRecorder::default();
        let subscriber = tracing_subscriber::registry().with(recorder.clone());
        let guard = tracing::subscriber::set_default(subscriber);
        actor_core::trace::set_propagator(RecordedPropagator);
        (recorder, guard)
    }

    /// A recorder as the process's global subscriber (for a child process on a multi-thread
    /// runtime), with [`RecordedPropagator`] installed.
    ///
    /// # Panics
    ///
    /// If a global subscriber is set already.
    pub fn install_global() -> SpanRecorder {
        let recorder = SpanRecorder::default();
        let subscriber = tracing_subscriber::registry().with(recorder.clone());
        tracing::subscriber::set_global_default(subscriber).expect("no global subscriber yet");
        actor_core::trace::set_propagator(RecordedPropagator);
        recorder
    }

    /// Every span recorded so far, in creation order.
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).records.clone()
    }

    /// The spans named `name`.
    pub fn named(&self, name: &str) -> Vec<SpanRecord> {
        self.spans().into_iter().filter(|s| s.name == name).collect()
    }

    /// The record of `span`, while it is open.
    pub fn record_of(&self, span: &Span) -> Option<SpanRecord> {
        let id = span.id()?.into_u64();
        let inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        inner.open.get(&id).map(|&i| inner.records[i].clone())
    }

    /// The open span `id` and its open ancestors in this process, nearest first.
    pub fn lineage(&self, span: &Span) -> Vec<SpanRecord> {
        let inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut lineage = Vec::new();
        let mut next = span.id().map(|id| id.into_u64());
        while let Some(id) = next {
            let Some(&index) = inner.open.get(&id) else { break };
            let record = inner.records[index].clone();
            next = record.parent;
            lineage.push(record);
        }
        lineage
    }

    fn continue_trace(&self, id: u64, trace: String, parent: String) {
        let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&index) = inner.open.get(&id) {
            inner.records[index].trace = trace;
            inner.records[index].remote_parent = Some(parent);
        }
    }
}

/// The propagator over the traces of whichever [`SpanRecorder`] records the span.
#[derive(Debug, Clone, Copy)]
pub struct RecordedPropagator;

fn recorder_of(span: &Span) -> Option<(u64, SpanRecorder)> {
    span.with_subscriber(|(id, dispatch)| {
        dispatch.downcast_ref::<SpanRecorder>().map(|r| (id.into_u64(), r.clone()))
    })
    .flatten()
}

impl Propagator for RecordedPropagator {
    fn inject(&self, span: &Span, context: &mut TraceContext) {
        let Some((_, recorder)) = recorder_of(span) else { return };
        if let Some(record) = recorder.record_of(span) {
            context.insert("traceparent", format!("00-{}-{}-01", record.trace, record.span));
        }
    }

    fn extract(&self, context: &TraceContext, span: &Span) {
        let Some((id, recorder)) = recorder_of(span) else { return };
        let Some(parent) = context.get("traceparent") else { return };
        let parts: Vec<&str> = parent.split('-').collect();
        if let [_, trace, parent, _] = parts[..] {
            recorder.continue_trace(id, trace.to_owned(), parent.to_owned());
        }
    }
}
