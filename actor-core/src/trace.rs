//! Tracing: message spans ([`set_message_spans`], [`SpawnOptions::with_message_spans`]) and
//! the trace context that crosses processes ([`TraceContext`], [`Propagator`]).
//!
//! [`SpawnOptions::with_message_spans`]: crate::SpawnOptions::with_message_spans
//!
//! # Trace context across processes
//!
//! `tracing` spans live in one process; a durable job or a remote call needs its trace in a
//! form that can be stored and sent. The exporter a service runs knows that form
//! (OpenTelemetry's is the W3C `traceparent` header), so actor-rs asks it through one
//! process-wide hook, [`set_propagator`], and stores or sends what it writes. Without a
//! propagator nothing is captured, and capturing costs one relaxed load.
//!
//! With OpenTelemetry (`opentelemetry` and `tracing-opentelemetry`), the propagator is a few
//! lines (not compiled here: actor-rs does not depend on OpenTelemetry):
//!
//! ```text
//! struct Otel;
//!
//! impl actor_core::trace::Propagator for Otel {
//!     fn inject(&self, span: &tracing::Span, context: &mut TraceContext) {
//!         let mut fields = std::collections::HashMap::new();
//!         let cx = span.context(); // tracing_opentelemetry::OpenTelemetrySpanExt
//!         opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut fields));
//!         context.extend(fields);
//!     }
//!
//!     fn extract(&self, context: &TraceContext, span: &tracing::Span) {
//!         let fields: std::collections::HashMap<_, _> = context.clone().into_iter().collect();
//!         let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&fields));
//!         span.set_parent(cx);
//!     }
//! }
//!
//! actor_core::trace::set_propagator(Otel);
//! ```

mod context;

use std::sync::atomic::{AtomicBool, Ordering};

pub use self::context::{
    Propagator, TraceContext, context_of, continue_trace, current_context, set_propagator,
};

static BY_DEFAULT: AtomicBool = AtomicBool::new(false);

/// Turns message spans on (or off) for every actor spawned from now on whose options do not
/// say otherwise ([`SpawnOptions::with_message_spans`](crate::SpawnOptions::with_message_spans)).
pub fn set_message_spans(on: bool) {
    BY_DEFAULT.store(on, Ordering::Relaxed);
}

pub(crate) fn message_spans_by_default() -> bool {
    BY_DEFAULT.load(Ordering::Relaxed)
}

/// The span of one message sent by a sender whose current span was `parent`.
#[cold]
pub(crate) fn message_span(
    actor: &str,
    message: &'static str,
    parent: tracing::Span,
) -> tracing::Span {
    let span = tracing::info_span!(
        parent: &parent,
        "message",
        actor = %actor,
        message,
        "otel.name" = tracing::field::Empty,
    );
    if !span.is_disabled() {
        span.record("otel.name", format!("{actor}.{message}"));
    }
    span
}
