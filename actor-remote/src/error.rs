//! [`RemoteError`]: why a remote call failed, typed, with its cause kept.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// Any error from the NATS client or a codec, shared so that errors stay `Clone`.
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// Why a remote call failed. `E` is the handler's own error, for handlers that return
/// `Result<T, E>`; other handlers use the default, [`Infallible`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError<E = Infallible> {
    /// No process serves this name right now (NATS had no responder): it never started, it
    /// stopped, or its process died.
    #[error("no actor is served as `{name}`")]
    NotFound {
        /// The name asked for.
        name: Arc<str>,
    },
    /// No reply within the timeout (`after`: this handle's), or the served handle's own
    /// timeout passed on the server. The message may or may not have been handled.
    #[error("`{name}` did not answer within {after:?}")]
    Timeout {
        /// The name asked.
        name: Arc<str>,
        /// The timeout that passed.
        after: Duration,
    },
    /// A message or reply could not be encoded or decoded: on this side (with the codec's
    /// error as the source) or on the server's (with its explanation).
    #[error("{what}: {detail}")]
    Codec {
        /// What could not be read or written.
        what: &'static str,
        /// The explanation.
        detail: String,
        /// The codec's error, when it happened here.
        #[source]
        source: Option<Cause>,
    },
    /// The message came from a newer protocol version than the server speaks.
    #[error("the message is of protocol version {ours}, the server speaks {theirs}")]
    Version {
        /// The sender's version.
        ours: u32,
        /// The server's version.
        theirs: u32,
    },
    /// The served actor has no handler of this name (an older server, or another actor).
    #[error("the served actor has no message `{message}`")]
    UnknownMessage {
        /// The message's tag.
        message: String,
    },
    /// Another actor type is served under this name.
    #[error("`{name}` serves a `{found}`, not a `{expected}`")]
    WrongActor {
        /// The name asked.
        name: Arc<str>,
        /// The type the handle expects.
        expected: &'static str,
        /// The type served.
        found: String,
    },
    /// The handler returned its own error (any serde type: a `String` works, and this enum
    /// is then an [`Error`](std::error::Error) as long as `E` is `Display + Debug`).
    #[error("the handler failed: {0}")]
    Handler(E),
    /// The handler panicked; the payload's message.
    #[error("the handler panicked: {0}")]
    Panicked(String),
    /// The actor stopped before it answered (for a served factory: the worker holding the
    /// call was killed).
    #[error("the actor stopped before it answered")]
    Stopped,
    /// The served factory that received the call could not queue it: its queue was full, or
    /// it was draining. The call did not run; asking again (maybe reaching another process
    /// serving the name) may succeed.
    #[error("the pool served as `{name}` had no room for the call")]
    Busy {
        /// The name asked.
        name: Arc<str>,
    },
    /// The call was queued but dropped without an answer: a served factory discarded its job
    /// (evicted for room by `DropOldest`, or expired: still queued when the caller's timeout
    /// had passed), its worker was found stuck, or the handler (or a discard hook) dropped it
    /// unanswered. The server's explanation.
    #[error("the call was dropped without an answer: {0}")]
    Unanswered(String),
    /// A subject name that NATS does not accept.
    #[error("`{name}` is not a valid name: {why}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why.
        why: &'static str,
    },
    /// The NATS connection failed.
    #[error("NATS: {what}")]
    Connection {
        /// What was being done.
        what: &'static str,
        /// The client's error.
        #[source]
        source: Cause,
    },
}

impl<E> RemoteError<E> {
    pub(crate) fn connection(
        what: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        RemoteError::Connection { what, source: Arc::new(source) }
    }

    pub(crate) fn codec(
        what: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        RemoteError::Codec { what, detail: source.to_string(), source: Some(Arc::new(source)) }
    }

    /// The same error for a call whose handler error type is `F` (only
    /// [`Handler`](RemoteError::Handler) carries one; `map` converts it).
    pub fn map_handler<F>(self, map: impl FnOnce(E) -> F) -> RemoteError<F> {
        match self {
            RemoteError::NotFound { name } => RemoteError::NotFound { name },
            RemoteError::Timeout { name, after } => RemoteError::Timeout { name, after },
            RemoteError::Codec { what, detail, source } => {
                RemoteError::Codec { what, detail, source }
            }
            RemoteError::Version { ours, theirs } => RemoteError::Version { ours, theirs },
            RemoteError::UnknownMessage { message } => RemoteError::UnknownMessage { message },
            RemoteError::WrongActor { name, expected, found } => {
                RemoteError::WrongActor { name, expected, found }
            }
            RemoteError::Handler(error) => RemoteError::Handler(map(error)),
            RemoteError::Panicked(message) => RemoteError::Panicked(message),
            RemoteError::Stopped => RemoteError::Stopped,
            RemoteError::Busy { name } => RemoteError::Busy { name },
            RemoteError::Unanswered(why) => RemoteError::Unanswered(why),
            RemoteError::InvalidName { name, why } => RemoteError::InvalidName { name, why },
            RemoteError::Connection { what, source } => RemoteError::Connection { what, source },
        }
    }
}

impl RemoteError {
    /// This error for a call whose handler error type is `E` (it carries none).
    pub fn widen<E>(self) -> RemoteError<E> {
        self.map_handler(|never| match never {})
    }
}
