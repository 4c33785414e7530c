//! Error types and the reason an actor stopped.
//!
//! Sending never loses a message silently: [`SendError`] and [`TrySendError`] hand the message
//! back. Asking never hangs: [`AskError`] says why no reply came.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// A boxed error, as returned by [`Actor::on_start`](crate::Actor::on_start).
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// The mailbox is closed: the actor has stopped or is stopping. The message is handed back.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("the actor's mailbox is closed")]
pub struct SendError<M>(pub M);

impl<M> SendError<M> {
    /// Returns the message that could not be sent.
    pub fn into_inner(self) -> M {
        self.0
    }
}

impl<M> fmt::Debug for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

/// Why [`ActorRef::try_tell`](crate::ActorRef::try_tell) did not enqueue; the message is handed
/// back in either case.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrySendError<M> {
    /// The mailbox is at capacity.
    #[error("the actor's mailbox is full")]
    Full(M),
    /// The mailbox is closed: the actor has stopped or is stopping.
    #[error("the actor's mailbox is closed")]
    Closed(M),
}

impl<M> TrySendError<M> {
    /// Returns the message that could not be sent.
    pub fn into_inner(self) -> M {
        match self {
            TrySendError::Full(m) | TrySendError::Closed(m) => m,
        }
    }

    /// Whether the mailbox was full (rather than closed).
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full(_))
    }
}

impl<M> fmt::Debug for TrySendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<M> From<SendError<M>> for TrySendError<M> {
    fn from(e: SendError<M>) -> Self {
        TrySendError::Closed(e.0)
    }
}

/// Why an ask produced no reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum AskError {
    /// The request was never enqueued: the mailbox is closed.
    #[error("the actor is not running")]
    Closed,
    /// The request was enqueued, but the actor stopped (or was killed, or dropped the reply)
    /// before replying.
    #[error("the actor stopped before replying")]
    Stopped,
    /// The actor panicked while the request was being handled (or was in flight in a shared
    /// handler when another handler panicked); the panic's message.
    #[error("the actor panicked while handling the request: {0}")]
    Panicked(Arc<str>),
    /// No reply arrived within the timeout. The request may still be handled; its reply is
    /// discarded.
    #[error("the request timed out")]
    Timeout,
}

impl AskError {
    /// Whether the actor panicked while handling the request.
    pub fn is_panic(&self) -> bool {
        matches!(self, AskError::Panicked(_))
    }
}

/// The result of calling a generated handle method whose handler returns `Result<T, E>`: either
/// the handler's own error or the reason the request got no reply.
///
/// It is a [`std::error::Error`] whenever `E` is `Display + Debug` (a `String`, an anyhow-style
/// error, a thiserror enum), so `?` works in a function returning `Box<dyn Error>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError<E> {
    /// The handler ran and returned this error; the actor keeps running.
    Handler(E),
    /// The request got no reply.
    Ask(AskError),
}

impl<E> From<AskError> for CallError<E> {
    fn from(error: AskError) -> Self {
        CallError::Ask(error)
    }
}

impl<E> CallError<E> {
    /// The handler's error, if it was one.
    pub fn handler(&self) -> Option<&E> {
        match self {
            CallError::Handler(error) => Some(error),
            CallError::Ask(_) => None,
        }
    }

    /// The handler's error, or the reason there was no reply.
    pub fn into_handler(self) -> Result<E, AskError> {
        match self {
            CallError::Handler(error) => Ok(error),
            CallError::Ask(error) => Err(error),
        }
    }
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Handler(error) => error.fmt(f),
            CallError::Ask(error) => error.fmt(f),
        }
    }
}

impl<E: fmt::Display + fmt::Debug> Error for CallError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            // The handler's error is shown as this error's message: it has no source of its
            // own here (`E` need not be an `Error`).
            CallError::Handler(_) => None,
            CallError::Ask(error) => Some(error),
        }
    }
}

/// Why an actor could not be spawned.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// `spawn` was called outside a tokio runtime.
    #[error("spawn must be called from within a tokio runtime")]
    NoRuntime,
    /// A bounded mailbox needs room for at least one message.
    #[error("a bounded mailbox needs a capacity of at least 1")]
    ZeroCapacity,
    /// A bounded mailbox's capacity beyond what a mailbox counts (2^32 - 2 messages); use
    /// [`Mailbox::Unbounded`](crate::Mailbox::Unbounded).
    #[error("a bounded mailbox capacity of {0} is too large; use an unbounded mailbox")]
    CapacityTooLarge(usize),
    /// The actor could not start: its constructor (a supervisor's child factory, a factory's
    /// worker builder) or its `on_start` returned this error, or its `on_start` panicked.
    #[error("actor `{actor}` could not start")]
    Start {
        /// The actor's name.
        actor: Arc<str>,
        /// Why.
        #[source]
        source: Arc<dyn Error + Send + Sync + 'static>,
    },
    /// Shared handlers need a concurrency limit of at least 1.
    #[error("the shared-handler concurrency limit must be at least 1")]
    ZeroSharedLimit,
}

/// Why [`blocking`](crate::blocking) could not run a call.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BlockingError {
    /// Called on a thread of an async runtime, where blocking would stall the runtime's other
    /// tasks: await the call instead.
    #[error("a blocking call was made from inside an async runtime; await it instead")]
    InsideRuntime,
    /// The small runtime that drives blocking calls on this thread could not be made.
    #[error("cannot make the runtime that drives blocking calls")]
    Driver(#[source] Arc<std::io::Error>),
}

/// Why a registry operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Another live actor is registered under this name.
    #[error("the name `{0}` is already registered")]
    NameTaken(String),
    /// The actor has already stopped, so registering it would leave a dead entry.
    #[error("the actor has already stopped")]
    NotAlive,
    /// No live actor is registered under this name.
    #[error("no actor is registered as `{0}`")]
    NotFound(String),
    /// An actor is registered under this name, but it is of another type.
    #[error("the actor registered as `{name}` is a `{found}`, not a `{expected}`")]
    WrongType {
        /// The name looked up.
        name: String,
        /// The type the caller asked for.
        expected: &'static str,
        /// The type of the registered actor.
        found: &'static str,
    },
}

impl SpawnError {
    /// A start failure of actor `actor`, for `error`.
    pub fn start(actor: impl Into<Arc<str>>, error: impl Into<BoxError>) -> Self {
        SpawnError::Start { actor: actor.into(), source: Arc::from(error.into()) }
    }
}

/// Why an actor stopped; given to [`Actor::on_stop`](crate::Actor::on_stop) and returned by
/// [`ActorRef::stopped`](crate::ActorRef::stopped).
#[derive(Clone)]
#[non_exhaustive]
pub enum StopReason {
    /// Stopped on request, or because every [`ActorRef`](crate::ActorRef) was dropped, after
    /// handling every message it had accepted.
    Normal,
    /// Killed: stopped at once, without handling its queued messages or running `on_stop`.
    Killed,
    /// A handler or hook panicked; the panic message is kept.
    Panicked(Arc<str>),
    /// `on_start` returned an error, or a handler called
    /// [`Context::fail`](crate::Context::fail).
    Failed(Arc<dyn Error + Send + Sync + 'static>),
}

impl StopReason {
    /// Whether this is an abnormal exit (anything but [`StopReason::Normal`]).
    pub fn is_abnormal(&self) -> bool {
        !matches!(self, StopReason::Normal)
    }

    /// Wraps an error as [`StopReason::Failed`].
    pub fn failed(error: impl Into<BoxError>) -> Self {
        StopReason::Failed(Arc::from(error.into()))
    }
}

impl fmt::Debug for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Normal => f.write_str("Normal"),
            StopReason::Killed => f.write_str("Killed"),
            StopReason::Panicked(m) => f.debug_tuple("Panicked").field(m).finish(),
            StopReason::Failed(e) => f.debug_tuple("Failed").field(&e.to_string()).finish(),
        }
    }
}

/// A stop reason is an error too: what a failed start or a stopped dependency reports, with the
/// failure's own error as its source.
impl Error for StopReason {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            StopReason::Failed(error) => Some(&**error),
            _ => None,
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Normal => f.write_str("stopped normally"),
            StopReason::Killed => f.write_str("killed"),
            StopReason::Panicked(m) => write!(f, "panicked: {m}"),
            StopReason::Failed(e) => write!(f, "failed: {e}"),
        }
    }
}
