//! [`ReplyTo`]: where the answer to one request goes, and how it gets there from whichever
//! task answers, with no task of the serving loop waiting for it.

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_nats::{Client, Subject};
use bytes::Bytes;
use tokio::sync::oneshot;

use crate::serve::{CallResult, Refusal};
use crate::wire;

/// What every reply slot of one serving loop shares: the connection, and a token whose drop
/// (once the loop and every slot have let go of it) tells the loop that all are answered.
pub(crate) struct Serving {
    pub(crate) client: Client,
    /// The serving loop's runtime: a reply that cannot be published at once is published by a
    /// task there, whatever thread answered.
    runtime: tokio::runtime::Handle,
    _answered: oneshot::Sender<()>,
}

impl Serving {
    /// The shared part, and what resolves once it and every slot made from it are gone. Called
    /// on the serving loop's task.
    pub(crate) fn new(client: Client) -> (Arc<Self>, oneshot::Receiver<()>) {
        let (answered, all_answered) = oneshot::channel();
        let runtime = tokio::runtime::Handle::current();
        (Arc::new(Serving { client, runtime, _answered: answered }), all_answered)
    }
}

/// Where the answer to one served request goes: given to [`Serve::start`](crate::Serve::start),
/// answered once with [`answer`](Self::answer), from any task or thread.
///
/// The answer is published on the requester's reply subject from the thread that answers:
/// normally at once; if the connection's queue is full, by a task spawned for it. For a
/// `tell`, nothing is published (a refusal is logged at debug level).
///
/// Dropped unanswered, it answers by itself so that no caller waits out its timeout: with
/// [`RemoteError::Panicked`](crate::RemoteError::Panicked) if it is dropped by a panic, and
/// with [`RemoteError::Unanswered`](crate::RemoteError::Unanswered) otherwise.
///
/// A serving loop that is stopped waits, before [`Served::stop`](crate::Served::stop)
/// returns, until every `ReplyTo` it gave out has answered or been dropped.
#[must_use = "a request expects an answer: call `ReplyTo::answer`"]
pub struct ReplyTo {
    /// `None` once answered.
    route: Option<Route>,
    timeout: Option<Duration>,
}

enum Route {
    /// Published on the requester's reply subject.
    Subject(Arc<Serving>, Subject),
    /// A tell (or a request without a reply subject): nobody listens.
    Nowhere(
        #[expect(dead_code, reason = "held, not read: the loop waits for every slot to go")]
        Arc<Serving>,
    ),
    /// Given to a task of this process awaiting it.
    Local(oneshot::Sender<CallResult>),
}

impl ReplyTo {
    /// The slot for a request received by the loop sharing `serving`.
    pub(crate) fn new(
        serving: &Arc<Serving>,
        to: Option<Subject>,
        timeout: Option<Duration>,
    ) -> Self {
        let serving = Arc::clone(serving);
        let route = match to {
            Some(to) => Route::Subject(serving, to),
            None => Route::Nowhere(serving),
        };
        ReplyTo { route: Some(route), timeout }
    }

    /// A slot answered in this process: its answer arrives on the receiver. For calling a
    /// service's [`start`](crate::Serve::start) directly, in a test or for a request that came
    /// another way; `caller_timeout` is what [`caller_timeout`](Self::caller_timeout) gives.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (reply, answer) = actor_remote::ReplyTo::local(None);
    /// reply.answer(Ok(b"42".to_vec()));
    /// assert_eq!(answer.await.unwrap(), Ok(b"42".to_vec()));
    /// # }
    /// ```
    pub fn local(caller_timeout: Option<Duration>) -> (Self, oneshot::Receiver<CallResult>) {
        let (tx, rx) = oneshot::channel();
        (ReplyTo { route: Some(Route::Local(tx)), timeout: caller_timeout }, rx)
    }

    /// How long the caller waits for the answer, if it said: work for it is worth doing only
    /// that long.
    pub fn caller_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Answers the request: the reply's JSON, or a refusal.
    pub fn answer(mut self, outcome: CallResult) {
        if let Some(route) = self.route.take() {
            route.send(outcome);
        }
    }

    /// Answers with what `encode` gives, or with a [`Refusal::panicked`] if it panics (a user's
    /// `Serialize` runs there, on the task that answers).
    pub(crate) fn answer_with(self, encode: impl FnOnce() -> CallResult) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(encode))
            .unwrap_or_else(|panic| Err(Refusal::panicked(&crate::serve::panic_text(&*panic))));
        self.answer(outcome);
    }
}

impl Route {
    fn send(self, outcome: CallResult) {
        match self {
            Route::Subject(serving, to) => {
                let frame = match outcome {
                    Ok(json) => wire::reply_ok(json),
                    Err(refusal) => refusal.frame(),
                };
                publish(serving, to, Bytes::from(frame));
            }
            Route::Nowhere(_) => {
                if let Err(refusal) = outcome {
                    tracing::debug!(status = ?refusal.status, "a remote tell was refused");
                }
            }
            Route::Local(tx) => {
                let _ = tx.send(outcome);
            }
        }
    }
}

/// Publishes `frame` on `to` from this thread if the connection's queue has room now (the
/// common case: no task, no wake-up); otherwise from a task spawned on the serving loop's
/// runtime. Either way `serving` is held until the frame is queued on the connection, so the
/// loop's stop waits for it.
pub(crate) fn publish(serving: Arc<Serving>, to: Subject, frame: Bytes) {
    let now = {
        // Unconstrained: a reply is never put off because the answering task's budget is spent.
        let publishing =
            tokio::task::unconstrained(serving.client.publish(to.clone(), frame.clone()));
        pin!(publishing).poll(&mut Context::from_waker(Waker::noop()))
    };
    match now {
        Poll::Ready(outcome) => published(&serving, to, outcome),
        // The connection's queue is full: the pending publish, dropped, sent nothing (a bounded
        // channel's send is cancel safe); a task sends it.
        Poll::Pending => {
            let runtime = serving.runtime.clone();
            runtime.spawn(async move {
                let outcome = serving.client.publish(to.clone(), frame).await;
                published(&serving, to, outcome);
            });
        }
    }
}

/// After a publish: a reply larger than the server takes is replaced by a refusal saying so
/// (the caller is answered, not left to time out); other failures (a closed connection) are
/// logged.
fn published(serving: &Arc<Serving>, to: Subject, outcome: Result<(), async_nats::PublishError>) {
    let Err(error) = outcome else { return };
    if error.kind() == async_nats::client::PublishErrorKind::MaxPayloadExceeded {
        let refusal = Refusal::encode_text("the reply is larger than the server's max payload");
        publish(Arc::clone(serving), to, Bytes::from(refusal.frame()));
    } else {
        tracing::warn!(%error, "could not publish a reply");
    }
}

impl Drop for ReplyTo {
    fn drop(&mut self) {
        let Some(route) = self.route.take() else { return };
        let refusal = if std::thread::panicking() {
            Refusal::panicked("the service panicked while it held the call")
        } else {
            Refusal::unanswered("the service dropped the call without answering it")
        };
        route.send(Err(refusal));
    }
}

impl fmt::Debug for ReplyTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let to = match &self.route {
            Some(Route::Subject(_, to)) => Some(to.as_str()),
            _ => None,
        };
        f.debug_struct("ReplyTo")
            .field("answered", &self.route.is_none())
            .field("to", &to)
            .field("caller_timeout", &self.timeout)
            .finish()
    }
}
