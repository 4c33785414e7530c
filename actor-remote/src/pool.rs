//! A factory served as a pool: the [`PoolRequest`] it answers, the [`Call`] its workers
//! receive as their job's payload, and the [`PoolRemote`] handle callers use.
//!
//! Serving a factory ([`Node::serve_factory`](crate::Node::serve_factory)) turns each ask into
//! a job of the factory: it is routed, queued with backpressure, handed to a replacement if
//! its worker crashes, and answered by the worker through the job's [`Call`]. Every process
//! serving the name joins its queue group, so the pool spans them all.

use std::fmt;
use std::marker::PhantomData;

use crate::error::RemoteError;
use crate::node::RemoteHandle;
use crate::serve::{Refusal, ReplyTo};
use crate::target::Target;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The message tag of a pool's requests.
pub(crate) const CALL: &str = "call";

/// A request a served factory answers: its reply type, and the type tag and protocol version
/// it is sent with (callers and servers must agree on both; a server refuses a newer version).
///
/// ```
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Resize {
///     image: String,
///     width: u32,
/// }
///
/// impl actor_remote::PoolRequest for Resize {
///     type Reply = Vec<u8>;
///     const TAG: &'static str = "Resize";
/// }
/// ```
pub trait PoolRequest: Serialize + DeserializeOwned + Send + 'static {
    /// What the worker answers (a `Result` if it can fail in its own way).
    type Reply: Serialize + DeserializeOwned + Send + 'static;
    /// The type tag the server checks, as an actor's type name is checked.
    const TAG: &'static str;
    /// The protocol version; bump it when a change cannot be read by older servers.
    const VERSION: u32 = 1;
}

/// A remote call as a served factory's worker receives it, as its job's payload: the request,
/// and the place its answer goes.
///
/// Answer with [`answer`](Call::answer) (or split it with [`into_parts`](Call::into_parts)).
/// A call dropped unanswered answers the caller by itself, at once, with an error saying why:
/// [`RemoteError::Panicked`] if the worker panicked with it (the panic's message is not
/// carried), [`RemoteError::Stopped`] if its worker was killed, and
/// [`RemoteError::Unanswered`] if it was dropped otherwise (evicted from the queue for room,
/// expired, a stuck worker, or a handler or discard hook that did not answer).
///
/// Keep the [`Job`](actor_factory::Job) until the answer is sent (read the call with
/// `payload()`, take it with `take()` to answer): the job's slot stays busy while it lives, so
/// the factory's concurrency, stuck-worker detection and `drain` cover the work.
pub struct Call<Q: PoolRequest> {
    request: Q,
    reply: Responder<Q::Reply>,
}

impl<Q: PoolRequest> fmt::Debug for Call<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call").field("tag", &Q::TAG).finish_non_exhaustive()
    }
}

impl<Q: PoolRequest> Call<Q> {
    /// The request.
    pub fn request(&self) -> &Q {
        &self.request
    }

    /// Answers the caller with `reply`.
    pub fn answer(self, reply: Q::Reply) {
        self.reply.answer(reply);
    }

    /// When the caller gives up waiting: its timeout, counted from when this process received
    /// the call (so a little after the caller started). `None` for a tell. A worker doing
    /// long work can stop once it has passed: nobody reads the answer then. (A call still
    /// queued then is discarded without running.)
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        self.reply.deadline
    }

    /// The request by value, and the responder that answers it.
    pub fn into_parts(self) -> (Q, Responder<Q::Reply>) {
        (self.request, self.reply)
    }
}

/// Answers one remote call; dropped unanswered, it answers with an error saying why (see
/// [`Call`]).
pub struct Responder<R> {
    to: Option<ReplyTo>,
    deadline: Option<tokio::time::Instant>,
    reply: PhantomData<fn(R)>,
}

impl<R> fmt::Debug for Responder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder").field("answered", &self.to.is_none()).finish()
    }
}

impl<R> Responder<R> {
    /// When the caller gives up waiting; see [`Call::deadline`].
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        self.deadline
    }
}

impl<R: Serialize> Responder<R> {
    /// Sends `reply` to the caller (a reply that cannot be encoded reaches it as a codec
    /// error). If the caller has gone (its ask timed out), the reply is dropped.
    pub fn answer(mut self, reply: R) {
        // Encoded while still armed: a panicking `Serialize` drops this responder, which then
        // answers `Panicked`.
        let json = serde_json::to_vec(&reply).map_err(|e| Refusal::encode(&e));
        if let Some(to) = self.to.take() {
            to.answer(json);
        }
    }
}

impl<R> Drop for Responder<R> {
    fn drop(&mut self) {
        let Some(to) = self.to.take() else { return };
        let refusal = match actor_core::drop_cause() {
            actor_core::DropCause::Panicked => {
                Refusal::panicked("the worker panicked while it held the call")
            }
            actor_core::DropCause::Interrupted | actor_core::DropCause::Unhandled => {
                Refusal::stopped()
            }
            actor_core::DropCause::Stuck { busy_for } => Refusal::unanswered(&format!(
                "the worker was stuck for {busy_for:?} and was replaced"
            )),
            _ => Refusal::unanswered(
                "the pool dropped the call (its job was evicted for room or expired, or the \
                 worker did not answer)",
            ),
        };
        to.answer(Err(refusal));
    }
}

/// A handle to a factory served under a name (by one process or many): each ask is one job of
/// one of the serving processes' factories.
pub struct PoolRemote<Q> {
    target: Target,
    request: PhantomData<fn(Q)>,
}

impl<Q> Clone for PoolRemote<Q> {
    fn clone(&self) -> Self {
        PoolRemote { target: self.target.clone(), request: PhantomData }
    }
}

impl<Q> fmt::Debug for PoolRemote<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolRemote").field("target", &self.target).finish()
    }
}

impl<Q: PoolRequest> RemoteHandle for PoolRemote<Q> {
    const ACTOR: &'static str = Q::TAG;
    const VERSION: u32 = Q::VERSION;

    fn from_target(target: Target) -> Self {
        PoolRemote { target, request: PhantomData }
    }

    fn target(&self) -> &Target {
        &self.target
    }
}

impl<Q: PoolRequest> PoolRemote<Q> {
    /// This handle with asks that give up after `timeout`.
    pub fn with_timeout(self, timeout: std::time::Duration) -> Self {
        PoolRemote { target: self.target.with_timeout(timeout), request: PhantomData }
    }

    /// Asks the pool: the request becomes a job of one serving process's factory, and this
    /// waits for its worker's answer (up to the handle's timeout, which travels with the
    /// request: a job still queued when it has passed is discarded, not run).
    ///
    /// # Errors
    ///
    /// As an actor's ask, and [`Busy`](RemoteError::Busy) (the process's factory had no room,
    /// or was draining: the call was not queued), [`Stopped`](RemoteError::Stopped) (its worker
    /// was killed), [`Panicked`](RemoteError::Panicked) and
    /// [`Unanswered`](RemoteError::Unanswered).
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped after the request was published, the job is still queued and
    /// runs unless the handle's timeout passes first; its answer is discarded.
    pub async fn ask(&self, request: &Q) -> Result<Q::Reply, RemoteError> {
        self.target.ask(CALL, request).await
    }

    /// [`ask`](Self::ask) for a pool whose reply is a `Result`: the worker's error comes back
    /// as [`RemoteError::Handler`], as from an actor's handler.
    ///
    /// # Errors
    ///
    /// As [`ask`](Self::ask), and [`Handler`](RemoteError::Handler).
    ///
    /// # Cancel safety
    ///
    /// As [`ask`](Self::ask).
    pub async fn ask_result<T, E>(&self, request: &Q) -> Result<T, RemoteError<E>>
    where
        Q: PoolRequest<Reply = Result<T, E>>,
        T: DeserializeOwned,
        E: DeserializeOwned,
    {
        self.target.ask_result(CALL, request).await
    }

    /// Sends the request at most once, as [`Target::tell`]: it becomes a job (without a
    /// time-to-live) if a serving process receives it and has room, and nobody is told
    /// otherwise. Under [`Backpressure::DropOldest`](actor_factory::Backpressure::DropOldest)
    /// it may evict the oldest queued call, which is then answered
    /// [`Unanswered`](RemoteError::Unanswered).
    ///
    /// # Errors
    ///
    /// The request could not be encoded, or the connection is closed.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, the request may or may not have been sent.
    pub async fn tell(&self, request: &Q) -> Result<(), RemoteError> {
        self.target.tell(CALL, request).await
    }
}

#[cfg(feature = "factory")]
pub(crate) use self::served::FactoryService;

#[cfg(feature = "factory")]
mod served {
    use std::hash::Hash;
    use std::marker::PhantomData;
    use std::sync::Arc;

    use actor_core::Actor;
    use actor_factory::{Factory, JobOptions, SubmitError};

    use super::{CALL, Call, PoolRequest, Responder};
    use crate::serve::{CALLER_TIMEOUT, CallResult, Refusal, ReplyTo, Serve};

    /// A factory as a served handle: each call is submitted as a job.
    pub(crate) struct FactoryService<W: Actor, K, Q: PoolRequest> {
        pub(crate) factory: Factory<W, K, Call<Q>>,
        pub(crate) key: Arc<dyn Fn(&Q) -> K + Send + Sync>,
    }

    impl<W: Actor, K, Q: PoolRequest> Clone for FactoryService<W, K, Q> {
        fn clone(&self) -> Self {
            FactoryService { factory: self.factory.clone(), key: Arc::clone(&self.key) }
        }
    }

    impl<W, K, Q> FactoryService<W, K, Q>
    where
        W: Actor,
        K: Hash + Eq + Clone + Send + Sync + 'static,
        Q: PoolRequest,
    {
        /// Submits the call as a job, never waiting for room: a remote caller is told at once
        /// (and may ask again, maybe reaching another process), and the serving loop holds no
        /// waiting submitters. A job lives no longer than its caller waits. Full and draining
        /// are both `Busy`: the call was not queued.
        fn submit(&self, message: &str, args: &[u8], reply: ReplyTo) {
            if message != CALL {
                return reply.answer(Err(Refusal::unknown(message)));
            }
            let request: Q = match crate::__private::args(args) {
                Ok(request) => request,
                Err(refusal) => return reply.answer(Err(refusal)),
            };
            let key = (self.key)(&request);
            let ttl = reply.caller_timeout();
            let options = ttl.map_or_else(JobOptions::new, |ttl| JobOptions::new().ttl(ttl));
            let deadline = ttl.map(|ttl| tokio::time::Instant::now() + ttl);
            let reply = Responder { to: Some(reply), deadline, reply: PhantomData };
            let call = Call { request, reply };
            if let Err(SubmitError::Full { payload, .. } | SubmitError::Closed { payload, .. }) =
                self.factory.try_submit_with(key, call, options)
            {
                let (_, mut responder) = payload.into_parts();
                if let Some(reply) = responder.to.take() {
                    reply.answer(Err(Refusal::busy()));
                }
            }
        }
    }

    impl<W, K, Q> Serve for FactoryService<W, K, Q>
    where
        W: Actor,
        K: Hash + Eq + Clone + Send + Sync + 'static,
        Q: PoolRequest,
    {
        const ACTOR: &'static str = Q::TAG;
        const VERSION: u32 = Q::VERSION;

        /// Awaited only if [`start`](Serve::start) declined, which it never does: the call
        /// goes the same way, its answer awaited here.
        async fn call(&self, message: &str, args: &[u8]) -> CallResult {
            let timeout = CALLER_TIMEOUT.try_with(|timeout| *timeout).ok().flatten();
            let (reply, answer) = ReplyTo::local(timeout);
            self.submit(message, args, reply);
            // The slot answers before it goes, even when it is dropped unanswered; a closed
            // channel would mean it was leaked.
            answer.await.unwrap_or_else(|_| Err(Refusal::unanswered("the call was leaked")))
        }

        /// The worker answers from its own task: no task here waits for the job.
        fn start(&self, message: &str, args: &[u8], reply: ReplyTo) -> Result<(), ReplyTo> {
            self.submit(message, args, reply);
            Ok(())
        }

        async fn stopped(&self) {
            self.factory.closed().await;
        }
    }
}
