//! Serving: the [`Serve`] trait a served handle implements (`#[actor(remote)]` generates it),
//! the loop that answers requests, and [`Served`], which keeps it going.

use std::future::Future;
use std::sync::Arc;

use async_nats::Client;
use bytes::Bytes;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tracing::Instrument;

pub use crate::reply_to::ReplyTo;
use crate::reply_to::{self, Serving};
use crate::wire::{self, Kind, Request, Status};

tokio::task_local! {
    /// How long the caller of the call being handled waits, if it said (set around
    /// [`Serve::call`]): a served factory gives a job no longer life than that.
    pub(crate) static CALLER_TIMEOUT: Option<std::time::Duration>;
}

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

    /// The reply could not be sent, for the reason `why`.
    pub(crate) fn encode_text(why: &str) -> Self {
        Refusal { status: Status::Encode, body: why.as_bytes().to_vec() }
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

    pub(crate) fn frame(&self) -> Vec<u8> {
        wire::reply(self.status, &self.body)
    }
}

/// A handle that can be served: it answers one message, given its tag and its arguments as
/// JSON. `#[actor(remote)]` implements it for the generated handle; write it by hand only for
/// a service of your own.
///
/// A request is handled in one of two ways. The serving loop first offers it to
/// [`start`](Self::start), which may take it and answer through its [`ReplyTo`] from anywhere
/// (the generated handle enqueues the message with a reply slot that answers from the actor's
/// task, so no task waits for the reply). If `start` declines (the default), the loop awaits
/// [`call`](Self::call), with the other calls in flight, and publishes what it gives.
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

    /// Takes message `message` with its JSON arguments `args` without waiting, to answer it
    /// through `reply` later; or declines it by giving `reply` back (`Err`), and the loop
    /// then awaits [`call`](Self::call) for it. The default declines.
    ///
    /// Messages are offered in the order they arrive. While a declined one is still being
    /// handled by `call`, the later ones go to `call` too, so a message taken by `start` never
    /// overtakes one waiting in `call`; the calls in flight wait side by side, and may reach
    /// the service in another order.
    ///
    /// # Errors
    ///
    /// `Err(reply)` declines the message; it is not an error of the request.
    fn start(&self, message: &str, args: &[u8], reply: ReplyTo) -> Result<(), ReplyTo> {
        let _ = (message, args);
        Err(reply)
    }

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
    let (serving, all_answered) = Serving::new(client);
    // The calls `start` declined, awaited here.
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
                if let Some(call) = receive(&serving, &service, message, calls.is_empty()) {
                    calls.push(call);
                }
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
                    Some(message) => {
                        if let Some(call) = receive(&serving, &service, message, calls.is_empty()) {
                            calls.push(call);
                        }
                    }
                    None => break,
                },
            }
        }
    }
    while calls.next().await.is_some() {}
    // The calls `start` took are answered from elsewhere: wait for the last reply slot.
    let client = serving.client.clone();
    drop(serving);
    let _ = all_answered.await;
    let _ = client.flush().await;
    tracing::debug!(%name, "stopped serving");
}

/// Handles one request: answers it at once if it is refused or a ping, offers it to
/// [`Serve::start`] if `offer`, and otherwise gives the call to await.
fn receive<'a, S: Serve>(
    serving: &Arc<Serving>,
    service: &'a S,
    message: async_nats::Message,
    offer: bool,
) -> Option<impl Future<Output = ()> + 'a> {
    let async_nats::Message { payload, reply: to, .. } = message;
    let request = match wire::read_request(&payload) {
        Ok(request) => request,
        Err(error) => {
            refuse(serving, to, Status::Decode, error.to_string().as_bytes());
            return None;
        }
    };
    let Request { kind, actor, message: name, version, timeout, trace, body } = request;
    if actor != S::ACTOR {
        refuse(serving, to, Status::WrongActor, S::ACTOR.as_bytes());
        return None;
    }
    if version > S::VERSION {
        refuse(serving, to, Status::Version, &S::VERSION.to_le_bytes());
        return None;
    }
    if kind == Kind::Ping {
        refuse(serving, to, Status::Ok, &S::VERSION.to_le_bytes());
        return None;
    }
    let span = match trace {
        Some(context) => {
            let span = tracing::info_span!(parent: None, "remote", actor, message = name);
            actor_core::trace::continue_trace(&span, &context);
            span
        }
        None => tracing::Span::none(),
    };
    let to = if kind == Kind::Tell { None } else { to };
    let mut reply = ReplyTo::new(serving, to, timeout);
    if offer {
        // A panic in `start` (a user's `Deserialize`) drops the reply slot, which answers it.
        let started = span.in_scope(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                service.start(name, body, reply)
            }))
        });
        reply = match started {
            Ok(Ok(())) | Err(_) => return None,
            Ok(Err(declined)) => declined,
        };
    }
    Some(call(service, payload, reply, span))
}

/// Answers a request with a frame of `status` and `body`, if it has a reply subject.
fn refuse(serving: &Arc<Serving>, to: Option<async_nats::Subject>, status: Status, body: &[u8]) {
    if let Some(to) = to {
        reply_to::publish(Arc::clone(serving), to, Bytes::from(wire::reply(status, body)));
    }
}

/// Awaits [`Serve::call`] for the request in `frame` (read already) and answers `reply`.
async fn call<S: Serve>(service: &S, frame: Bytes, reply: ReplyTo, span: tracing::Span) {
    let Ok(Request { message, timeout, body, .. }) = wire::read_request(&frame) else {
        return reply.answer(Err(Refusal::unanswered("the request could not be read twice")));
    };
    // A panic in a hand-written `call` or a user's serde impl answers this call only.
    let call = CALLER_TIMEOUT.scope(timeout, service.call(message, body).instrument(span));
    let outcome = match std::panic::AssertUnwindSafe(call).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => Err(Refusal::panicked(&panic_text(&*panic))),
    };
    reply.answer(outcome);
}

/// The message of a caught panic.
pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}
