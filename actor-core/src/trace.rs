//! Message spans: the process-wide default; see [`SpawnOptions::with_message_spans`].
//!
//! [`SpawnOptions::with_message_spans`]: crate::SpawnOptions::with_message_spans

use std::sync::atomic::{AtomicBool, Ordering};

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
