//! Trace context that crosses processes: [`TraceContext`], and the [`Propagator`] that reads
//! and writes it (see the [`trace`](crate::trace) module docs).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use tracing::Span;

/// A span's trace context as text fields (for W3C trace context: `traceparent` and
/// `tracestate`), as the installed [`Propagator`] writes them: what a durable job stores and a
/// remote message carries, so that the work they cause continues the sender's trace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TraceContext {
    fields: Vec<(String, String)>,
}

impl TraceContext {
    /// An empty context.
    pub fn new() -> Self {
        TraceContext::default()
    }

    /// Sets field `key` to `value`, replacing an earlier value of the same key.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        match self.fields.iter_mut().find(|(k, _)| *k == key) {
            Some((_, old)) => *old = value,
            None => self.fields.push((key, value)),
        }
    }

    /// The value of field `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The fields, in the order they were first set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }
}

impl<K: Into<String>, V: Into<String>> Extend<(K, V)> for TraceContext {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, fields: I) {
        for (key, value) in fields {
            self.insert(key, value);
        }
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for TraceContext {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(fields: I) -> Self {
        let mut context = TraceContext::new();
        context.extend(fields);
        context
    }
}

impl IntoIterator for TraceContext {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.fields.into_iter()
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for TraceContext {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(&self.fields)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for TraceContext {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = <Vec<(String, String)> as serde::Deserialize>::deserialize(deserializer)?;
        Ok(fields.into_iter().collect())
    }
}

/// Reads a span's trace context into a [`TraceContext`] and makes a span continue one: the
/// bridge to the exporter's own propagation (see the [module docs](crate::trace)).
pub trait Propagator: Send + Sync + 'static {
    /// Writes the trace context of `span` into `context` (leaving it empty if `span` belongs
    /// to no trace).
    fn inject(&self, span: &Span, context: &mut TraceContext);

    /// Makes `span`, just created, continue the trace of `context`: its parent becomes the
    /// span `context` was injected from.
    fn extract(&self, context: &TraceContext, span: &Span);
}

static INSTALLED: AtomicBool = AtomicBool::new(false);
static PROPAGATOR: RwLock<Option<Arc<dyn Propagator>>> = RwLock::new(None);

/// Installs `propagator` for the whole process, replacing the one installed before. From now
/// on durable jobs and remote messages carry the trace context of their sender.
pub fn set_propagator(propagator: impl Propagator) {
    *PROPAGATOR.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(propagator));
    INSTALLED.store(true, Ordering::Release);
}

fn propagator() -> Option<Arc<dyn Propagator>> {
    if !INSTALLED.load(Ordering::Acquire) {
        return None;
    }
    PROPAGATOR.read().unwrap_or_else(PoisonError::into_inner).clone()
}

/// The trace context of `span`, through the installed propagator: `None` without one, for a
/// disabled span, or if the propagator wrote nothing.
pub fn context_of(span: &Span) -> Option<TraceContext> {
    let propagator = propagator()?;
    if span.is_none() {
        return None;
    }
    let mut context = TraceContext::new();
    propagator.inject(span, &mut context);
    (!context.is_empty()).then_some(context)
}

/// The trace context of the current span ([`context_of`]).
pub fn current_context() -> Option<TraceContext> {
    if !INSTALLED.load(Ordering::Relaxed) {
        return None;
    }
    context_of(&Span::current())
}

/// Makes `span` continue the trace of `context`, through the installed propagator; without
/// one, or for a disabled span, nothing happens.
pub fn continue_trace(span: &Span, context: &TraceContext) {
    if span.is_none() || context.is_empty() {
        return;
    }
    if let Some(propagator) = propagator() {
        propagator.extract(context, span);
    }
}
