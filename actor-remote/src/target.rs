//! [`Target`]: a served name as a caller sees it, and the calls every remote handle makes.

use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, RequestErrorKind};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::RemoteError;
use crate::wire::{self, Kind, Status};

/// The timeout of a remote ask unless the handle says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A served name, as a remote handle calls it: the connection, the subject, the actor type and
/// protocol version the handle speaks, and the timeout of its asks. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Target {
    client: Client,
    subject: async_nats::Subject,
    name: Arc<str>,
    actor: &'static str,
    version: u32,
    timeout: Duration,
}

/// Why a watched actor is considered down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Down {
    /// Nothing serves the name any more (its process stopped serving, or died).
    NotFound,
    /// Its serving process stopped answering pings: `misses` in a row timed out or failed on
    /// the connection. (Pings are answered by the serving loop, not by the actor: an actor
    /// stuck in a handler is not down; see actor-core's stuck detection for that.)
    Unresponsive {
        /// The pings missed.
        misses: u32,
    },
    /// Another actor type is served under the name now.
    Replaced {
        /// The type served.
        found: String,
    },
}

impl Target {
    pub(crate) fn new(
        client: Client,
        subject: async_nats::Subject,
        name: Arc<str>,
        actor: &'static str,
        version: u32,
    ) -> Self {
        Target { client, subject, name, actor, version, timeout: DEFAULT_TIMEOUT }
    }

    /// The served name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The timeout of asks.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// This target with asks that give up after `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn frame<E>(
        &self,
        kind: Kind,
        message: &str,
        args: &impl Serialize,
    ) -> Result<Bytes, RemoteError<E>> {
        let trace = actor_core::trace::current_context();
        // The arguments are written straight after the frame's head: one buffer per request.
        let timeout = (kind != Kind::Tell).then_some(self.timeout);
        let mut frame = wire::request_head(
            kind,
            self.actor,
            message,
            self.version,
            timeout,
            trace.as_ref(),
            64,
        );
        serde_json::to_writer(&mut frame, args)
            .map_err(|e| RemoteError::codec("encoding the message", e))?;
        Ok(Bytes::from(frame))
    }

    /// Sends a request and returns the reply's status and body.
    async fn request<E>(&self, frame: Bytes) -> Result<(Status, Bytes), RemoteError<E>> {
        let payload = self.send(frame).await.map_err(RemoteError::widen)?;
        let (status, body) =
            wire::read_reply(&payload).map_err(|e| RemoteError::codec("reading the reply", e))?;
        let start = payload.len() - body.len();
        Ok((status, payload.slice(start..)))
    }

    /// Sends a request frame and returns the reply's payload.
    async fn send(&self, frame: Bytes) -> Result<Bytes, RemoteError> {
        let request = async_nats::Request::new().payload(frame).timeout(Some(self.timeout));
        match self.client.send_request(self.subject.clone(), request).await {
            Ok(reply) => Ok(reply.payload),
            Err(error) => Err(match error.kind() {
                RequestErrorKind::NoResponders => {
                    RemoteError::NotFound { name: Arc::clone(&self.name) }
                }
                RequestErrorKind::TimedOut => {
                    RemoteError::Timeout { name: Arc::clone(&self.name), after: self.timeout }
                }
                _ => RemoteError::connection("sending a request", error),
            }),
        }
    }

    /// The error a refusal reply stands for.
    fn refused<E>(&self, status: Status, body: &[u8]) -> RemoteError<E> {
        let text = || String::from_utf8_lossy(body).into_owned();
        match status {
            Status::Ok => RemoteError::Codec {
                what: "reading the reply",
                detail: "an unexpected success".to_owned(),
                source: None,
            },
            Status::Decode => RemoteError::Codec {
                what: "the server could not read the message",
                detail: text(),
                source: None,
            },
            Status::Encode => RemoteError::Codec {
                what: "the server could not write the reply",
                detail: text(),
                source: None,
            },
            Status::Version => {
                let theirs =
                    body.get(..4).and_then(|b| b.try_into().ok()).map_or(0, u32::from_le_bytes);
                RemoteError::Version { ours: self.version, theirs }
            }
            Status::UnknownMessage => RemoteError::UnknownMessage { message: text() },
            Status::WrongActor => RemoteError::WrongActor {
                name: Arc::clone(&self.name),
                expected: self.actor,
                found: text(),
            },
            Status::Panicked => RemoteError::Panicked(text()),
            Status::Stopped => RemoteError::Stopped,
            Status::Timeout => {
                RemoteError::Timeout { name: Arc::clone(&self.name), after: self.timeout }
            }
            Status::Busy => RemoteError::Busy { name: Arc::clone(&self.name) },
            Status::Unanswered => RemoteError::Unanswered(text()),
        }
    }

    /// Asks `message` with `args` and decodes the reply as `R`.
    ///
    /// # Errors
    ///
    /// Any [`RemoteError`] but [`Handler`](RemoteError::Handler).
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped after the request was published, the actor may still handle
    /// the message; its reply is discarded.
    pub async fn ask<R: DeserializeOwned, E>(
        &self,
        message: &str,
        args: &impl Serialize,
    ) -> Result<R, RemoteError<E>> {
        let frame = self.frame(Kind::Ask, message, args)?;
        let (status, body) = self.request(frame).await?;
        if status != Status::Ok {
            return Err(self.refused(status, &body));
        }
        serde_json::from_slice(&body).map_err(|e| RemoteError::codec("decoding the reply", e))
    }

    /// Asks `message` of a handler that returns `Result<T, E>`: its error comes back as
    /// [`RemoteError::Handler`].
    ///
    /// # Errors
    ///
    /// Any [`RemoteError`].
    ///
    /// # Cancel safety
    ///
    /// As [`ask`](Self::ask).
    pub async fn ask_result<T: DeserializeOwned, E: DeserializeOwned>(
        &self,
        message: &str,
        args: &impl Serialize,
    ) -> Result<T, RemoteError<E>> {
        self.ask::<Result<T, E>, E>(message, args).await?.map_err(RemoteError::Handler)
    }

    /// Sends `message` with `args` at most once, without waiting for anything: it may be
    /// lost (no process serves the name, the process dies, the connection drops) and nobody
    /// is told. For work that must not be lost, enqueue a durable job (actor-jobs) instead.
    ///
    /// # Errors
    ///
    /// The message could not be encoded, or the connection is closed.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, the message may or may not have been sent.
    pub async fn tell(&self, message: &str, args: &impl Serialize) -> Result<(), RemoteError> {
        let frame = self.frame(Kind::Tell, message, args)?;
        self.client
            .publish(self.subject.clone(), frame)
            .await
            .map_err(|e| RemoteError::connection("publishing a message", e))
    }

    /// Sends raw bytes as a request and returns the reply's raw bytes: for wire tests and
    /// tools, not for calls.
    ///
    /// # Errors
    ///
    /// [`NotFound`](RemoteError::NotFound), [`Timeout`](RemoteError::Timeout) or a connection
    /// error.
    pub async fn request_raw(&self, frame: Vec<u8>) -> Result<Bytes, RemoteError> {
        self.send(Bytes::from(frame)).await
    }

    /// Checks that something serves the name and answers within the timeout; returns the
    /// server's protocol version.
    ///
    /// # Errors
    ///
    /// [`NotFound`](RemoteError::NotFound), [`Timeout`](RemoteError::Timeout),
    /// [`WrongActor`](RemoteError::WrongActor), [`Version`](RemoteError::Version) (the server
    /// speaks an older protocol than this handle) or a connection error.
    pub async fn ping(&self) -> Result<u32, RemoteError> {
        let frame = self.frame(Kind::Ping, "", &())?;
        let (status, body) = self.request(frame).await?;
        if status != Status::Ok {
            return Err(self.refused(status, &body));
        }
        body.get(..4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes).ok_or(
            RemoteError::Codec {
                what: "reading a ping's answer",
                detail: "shorter than 4 bytes".to_owned(),
                source: None,
            },
        )
    }

    /// Waits until the served actor is down: pings it every `every` (at least 1 ms; each ping
    /// waiting at most `every`) and returns once nothing serves the name, another actor type
    /// does, or `misses` pings in a row went unanswered (timed out, or failed on the
    /// connection).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping it stops the pings.
    pub async fn down(&self, every: Duration, misses: u32) -> Down {
        let every = every.max(Duration::from_millis(1));
        let pinger = self.clone().with_timeout(every);
        let mut missed = 0;
        loop {
            let started = tokio::time::Instant::now();
            match pinger.ping().await {
                Err(RemoteError::NotFound { .. }) => return Down::NotFound,
                Err(RemoteError::WrongActor { found, .. }) => return Down::Replaced { found },
                Err(RemoteError::Timeout { .. } | RemoteError::Connection { .. }) => {
                    missed += 1;
                    if missed >= misses.max(1) {
                        return Down::Unresponsive { misses: missed };
                    }
                }
                _ => missed = 0,
            }
            tokio::time::sleep_until(started + every).await;
        }
    }

    /// Watches the served actor on a task of its own and tells `actor` the message `down`
    /// makes once it is down (see [`Target::down`]). The watch holds no strong reference to
    /// `actor`, and ends when `actor` stops or the returned [`Watch`] is dropped.
    pub fn watch<A: actor_core::Actor>(
        &self,
        every: Duration,
        misses: u32,
        actor: &actor_core::ActorRef<A>,
        down: impl FnOnce(Down) -> A::Message + Send + 'static,
    ) -> Watch {
        let target = self.clone();
        let (weak, control) = (actor.downgrade(), actor.control());
        let task = tokio::spawn(async move {
            let reason = tokio::select! {
                reason = target.down(every, misses) => reason,
                _ = control.stopped() => return,
            };
            if let Some(actor) = weak.upgrade() {
                let _ = actor.tell(down(reason)).await;
            }
        });
        Watch { task }
    }
}

/// A watch started by [`Target::watch`]: dropping it stops the watch.
#[derive(Debug)]
#[must_use = "the watch stops when this is dropped"]
pub struct Watch {
    task: tokio::task::JoinHandle<()>,
}

impl Watch {
    /// Whether the watch has ended (it reported, or its actor stopped).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}
