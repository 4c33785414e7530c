//! Serving: the [`Serve`] trait a served handle implements (`#[actor(remote)]` generates it),
//! the loop that answers requests, and [`Served`], which keeps it going.

use std::future::Future;

use async_nats::Client;
use bytes::Bytes;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::wire::{self, Kind, Request, Status};

tokio::task_local! {
    /// How long the caller of the call being handled waits, if it said (set around
    /// [`Serve::call`]): a served factory gives a job no longer life than that.
    pub(crate) static CALLER_TIMEOUT: Option<std::time::Duration>;
}

/// A reply frame, or nothing (a tell).
pub type Answer = Option<Vec<u8>>;

/// What a call gives: the reply's JSON, or a refusal.
pub type CallResult = Result<Vec<u8>, Refusal>;

/// What a server can answer instead of a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub(crate) status: Status,
    pub(crate) body: Vec<u8>,
}

impl Refusal {
    /// The arguments of a message could not be read.
    pub fn decode(error: &serde_json::Error) -> Self {
        Refusal { status: Status::Decode, body: error.to_string().into_bytes() }
    }

    /// The reply could not be written.
    pub fn encode(error: &serde_json::Error) -> Self {
        Refusal { status: Status::Encode, body: error.to_string().into_bytes() }
    }

    /// No handler has this name.
    pub fn unknown(message: &str) -> Self {
        Refusal { status: Status::UnknownMessage, body: message.as_bytes().to_vec() }
    }

    /// The handler panicked.
    pub fn panicked(message: &str) -> Self {
        Refusal { status: Status::Panicked, body: message.as_bytes().to_vec() }
    }

    /// The actor stopped.
    pub fn stopped() -> Self {
        Refusal { status: Status::Stopped, body: Vec::new() }
    }

    /// The served handle's timeout passed.
    pub fn timeout() -> Self {
        Refusal { status: Status::Timeout, body: Vec::new() }
    }

    /// A served pool had no room for the call (its queue was full, or it was draining): the
    /// call was not queued.
    pub fn busy() -> Self {
        Refusal { status: Status::Busy, body: Vec::new() }
    }

    /// The call was dropped without an answer, for the reason `why`.
    pub fn unanswered(why: &str) -> Self {
        Refusal { status: Status::Unanswered, body: why.as_bytes().to_vec() }
    }

    fn frame(&self) -> Vec<u8> {
        wire::reply(self.status, &self.body)
    }
}

/// A handle that can be served: it answers one message, given its tag and its arguments as
/// JSON. `#[actor(remote)]` implements it for the generated handle; write it by hand only for
/// a service of your own.
pub trait Serve: Clone + Send + Sync + 'static {
    /// The actor's type tag: the name of the actor type.
    const ACTOR: &'static str;
    /// The protocol version of the actor's messages: bumped when a message changes in a way
    /// older servers cannot read. A server refuses messages of a newer version.
    const VERSION: u32;

    /// Handles message `message` with its JSON arguments `args`; returns the reply's JSON.
    fn call<'a>(
        &'a self,
        message: &'a str,
        args: &'a [u8],
    ) -> impl Future<Output = CallResult> + Send + 'a;

    /// Resolves when the actor has stopped: the server then stops serving its name.
    fn stopped(&self) -> impl Future<Output = ()> + Send;
}

/// Keeps a name served; serving stops when it is dropped, when [`stop`](Served::stop) is
/// called, or when the actor stops.
#[derive(Debug)]
#[must_use = "the name is served only while `Served` is kept"]
pub struct Served {
    stop: mpsc::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    /// Stops serving: the subscription goes at once (new asks find nothing, or another
    /// process), and the requests already delivered here and the calls in flight are answered
    /// before this returns (so it waits for the handlers in flight to finish).
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, serving stops all the same; the calls in flight are still
    /// answered.
    pub async fn stop(mut self) {
        let _ = self.stop.try_send(());
        let _ = (&mut self.task).await;
    }

    /// Whether the serving loop has ended (the actor stopped, or the connection closed).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.stop.try_send(());
    }
}

/// Starts the loop that answers `subscriber`'s requests with `service`.
pub(crate) fn start<S: Serve>(
    client: Client,
    subscriber: async_nats::Subscriber,
    service: S,
    name: std::sync::Arc<str>,
) -> Served {
    let (stop, stopped) = mpsc::channel(1);
    // The actor's end is awaited on a task of its own and sent as a stop: polling it in the
    // loop at every request would take its waiters' lock every time.
    let watcher = {
        let (service, stop) = (service.clone(), stop.clone());
        tokio::spawn(async move {
            service.stopped().await;
            let _ = stop.try_send(());
        })
    };
    let task = tokio::spawn(async move {
        serve_loop(client, subscriber, service, name, stopped).await;
        // It holds a handle: the actor must not outlive serving because of it.
        watcher.abort();
    });
    Served { stop, task }
}

async fn serve_loop<S: Serve>(
    client: Client,
    mut subscriber: async_nats::Subscriber,
    service: S,
    name: std::sync::Arc<str>,
    mut stop: mpsc::Receiver<()>,
) {
    let mut calls = FuturesUnordered::new();
    loop {
        tokio::select! {
            biased;
            // Calls first: a new call is polled (and its message enqueued) before the next
            // request is read. Then a stop (asked, or the actor's end), so that a busy
            // subscription never delays it.
            Some(()) = calls.next(), if !calls.is_empty() => {}
            _ = stop.recv() => break,
            message = subscriber.next() => {
                let Some(message) = message else { break };
                calls.push(answer(&client, &service, message));
            }
        }
    }
    // No new requests reach this process; answer those already delivered to it (`drain`
    // ends the stream once the server has confirmed the unsubscription) and those in flight.
    if subscriber.drain().await.is_ok() {
        loop {
            tokio::select! {
                Some(()) = calls.next(), if !calls.is_empty() => {}
                message = subscriber.next() => match message {
                    Some(message) => calls.push(answer(&client, &service, message)),
                    None => break,
                },
            }
        }
    }
    while calls.next().await.is_some() {}
    let _ = client.flush().await;
    tracing::debug!(%name, "stopped serving");
}

/// Handles one request and publishes its reply, if it has a reply subject.
async fn answer<S: Serve>(client: &Client, service: &S, message: async_nats::Message) {
    let reply = handle(service, &message.payload).await;
    if let (Some(frame), Some(to)) = (reply, message.reply)
        && let Err(error) = client.publish(to, Bytes::from(frame)).await
    {
        tracing::warn!(%error, "could not publish a reply");
    }
}

/// The reply to `frame`: never a panic, whatever the bytes.
pub(crate) async fn handle<S: Serve>(service: &S, frame: &[u8]) -> Answer {
    let request = match wire::read_request(frame) {
        Ok(request) => request,
        Err(error) => return Some(wire::reply(Status::Decode, error.to_string().as_bytes())),
    };
    let Request { kind, actor, message, version, timeout, trace, body } = request;
    if actor != S::ACTOR {
        return Some(wire::reply(Status::WrongActor, S::ACTOR.as_bytes()));
    }
    if version > S::VERSION {
        return Some(wire::reply(Status::Version, &S::VERSION.to_le_bytes()));
    }
    if kind == Kind::Ping {
        return Some(wire::reply(Status::Ok, &S::VERSION.to_le_bytes()));
    }
    let span = match trace {
        Some(context) => {
            let span = tracing::info_span!(parent: None, "remote", actor, message);
            actor_core::trace::continue_trace(&span, &context);
            span
        }
        None => tracing::Span::none(),
    };
    // A panic in a hand-written `call` or a user's serde impl answers this call only.
    let call = CALLER_TIMEOUT.scope(timeout, service.call(message, body).instrument(span));
    let call = std::panic::AssertUnwindSafe(call);
    let outcome = match call.catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => {
            let text = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            Err(Refusal::panicked(&text))
        }
    };
    if kind == Kind::Tell {
        if let Err(refusal) = &outcome {
            tracing::debug!(actor, message, status = ?refusal.status, "a remote tell was refused");
        }
        return None;
    }
    Some(match outcome {
        Ok(json) => wire::reply_ok(json),
        Err(refusal) => refusal.frame(),
    })
}
