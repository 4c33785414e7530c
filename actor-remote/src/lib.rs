//! Actors across processes and hosts, over core NATS request-reply.
//!
//! There is no cluster protocol here: NATS is the engine. A served name is a subject
//! (`actors.<name>`), the server's interest graph is the registry, a queue group spreads a
//! name served by several processes over all of them, and "no responders" is an immediate
//! [`RemoteError::NotFound`]. TLS and authentication are the server's job
//! ([`Node::from_client`] takes a client configured for them).
//!
//! `#[actor(remote)]` makes an actor servable: its arguments and replies must be serde types.
//! Besides the local handle it generates a remote handle (`CounterRemote` for `Counter`) with
//! the same async methods, each returning `Result<T, RemoteError>` (or
//! `Result<T, RemoteError<E>>` for a handler returning `Result<T, E>`).
//!
//! # Quick start
//!
//! ```
//! use actor_core::actor;
//! use actor_remote::{Node, RemoteError};
//!
//! struct Counter {
//!     count: u64,
//! }
//!
//! #[actor(remote)]
//! impl Counter {
//!     fn add(&mut self, by: u64) -> u64 {
//!         self.count += by;
//!         self.count
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let Ok(url) = std::env::var("ACTOR_NATS_URL") else { return Ok(()) };
//! # let name = format!("doc-counter-{}", std::process::id());
//! // One process serves the counter under a name...
//! let node = Node::connect(&url).await?;
//! let served = node.serve(&name, Counter { count: 0 }.spawn()?).await?;
//!
//! // ...and any process asks it by that name.
//! let counter: CounterRemote = node.resolve(&name).await?;
//! assert_eq!(counter.add(2).await?, 2);
//! assert_eq!(counter.add(3).await?, 5);
//!
//! served.stop().await;
//! assert!(matches!(counter.add(1).await, Err(RemoteError::NotFound { .. })));
//! # Ok(())
//! # }
//! ```
//!
//! # Contracts
//!
//! - **Ask** waits for the reply up to the handle's timeout ([`DEFAULT_TIMEOUT`], or
//!   `with_timeout`). Its errors are typed: [`NotFound`](RemoteError::NotFound) (nothing
//!   serves the name: at once, not after the timeout), [`Timeout`](RemoteError::Timeout)
//!   (the message may or may not have been handled), [`Codec`](RemoteError::Codec) (a message
//!   or reply that does not decode, on either side), [`Version`](RemoteError::Version),
//!   [`UnknownMessage`](RemoteError::UnknownMessage), [`WrongActor`](RemoteError::WrongActor),
//!   [`Handler`](RemoteError::Handler) (the handler's own error),
//!   [`Panicked`](RemoteError::Panicked) and [`Stopped`](RemoteError::Stopped); a served
//!   factory adds [`Busy`](RemoteError::Busy) and [`Unanswered`](RemoteError::Unanswered).
//! - **Tell is at most once.** A remote tell (a handler marked `#[actor(tell)]`) is published
//!   and forgotten: if nothing serves the name, the process dies, or the connection drops, the
//!   message is lost and nobody is told. Work that must not be lost belongs in a durable job
//!   queue (actor-jobs), which delivers at least once.
//! - **A versioned wire format** ([`wire`]): every request carries its frame version, the
//!   actor's type tag, the message's tag and the sender's protocol version (`#[actor(remote,
//!   version = N)]`, default 1). A server refuses a message of a newer version with
//!   [`RemoteError::Version`], an unknown message with
//!   [`UnknownMessage`](RemoteError::UnknownMessage), and bytes that do not parse with a
//!   decode error. No input makes a server panic, and it keeps serving.
//! - **Arguments and replies are JSON** objects with named fields (the handler's argument
//!   names): a newer release can add an argument of type `Option<T>`, which reads as `None`
//!   from an older sender, and add fields with `#[serde(default)]` to argument types. Any other
//!   change to a message needs a new protocol version. The actor's type tag is its type's
//!   name, without its module, unless `#[actor(remote, tag = "billing.Counter")]` names it:
//!   give two actor types of one name their own tags if they may be served under one name.
//! - **Pools over processes.** Every subscription serving a name joins its queue group: each
//!   ask goes to exactly one of them, and when one process dies, asks go to the others. A
//!   process may serve several actors under one name (each `serve` is one more member), or
//!   one actor whose `&self` handlers run concurrently; serve a supervised actor's handle so
//!   that a panic restarts it in place and its name stays served.
//! - **A factory served as a pool** ([`Node::serve_factory`], feature `factory`, on by
//!   default): each ask of a [`PoolRemote`] is one job of the factory of one serving process,
//!   with its routing and its replacement of crashed workers (a call queued for a crashed
//!   worker goes to the replacement). A call never waits for room: a full or draining factory
//!   answers [`Busy`](RemoteError::Busy) at once (with `DropOldest`, the oldest queued call is
//!   evicted instead, and answered [`Unanswered`](RemoteError::Unanswered)). The caller's
//!   timeout travels with the call, and a call still queued when it has passed is discarded,
//!   not run. The worker answers through the job's [`Call`]; a call dropped unanswered
//!   answers at once with [`Panicked`](RemoteError::Panicked),
//!   [`Stopped`](RemoteError::Stopped) or [`Unanswered`](RemoteError::Unanswered), never by
//!   the caller's timeout. Serving stops when the factory starts draining; calls that reach
//!   it after that get `Busy`.
//! - **Failure you can see.** When a serving process dies, asks in flight to it end with
//!   [`Timeout`](RemoteError::Timeout), and new asks get [`NotFound`](RemoteError::NotFound)
//!   as soon as the NATS server has noticed (at once for a killed process on a live host:
//!   its socket closes). [`Target::down`] and [`Target::watch`] ping a name and report it
//!   down when nothing serves it or it stops answering.
//! - **Serving stops** when [`Served`] is dropped or stopped, or the actor stops: the
//!   subscription goes first, so new asks find nothing (or another process), then the calls in
//!   flight are answered.
//! - **Trace context crosses the wire**: with a propagator installed
//!   ([`actor_core::trace::set_propagator`]), each request made inside a span carries the
//!   caller's trace context (up to 64 KiB of it), and the server handles it inside a span
//!   `remote` that continues it; a request without one gets no span. A context that does not
//!   parse is ignored, never a reason to refuse the message.
//! - **Order.** A node's messages to one served actor are enqueued in the order they were
//!   sent while the actor's mailbox has room. Those that find it full wait for room in the
//!   serving loop, each handled once and answered, but not necessarily in the order sent.
//! - **No task per call.** A served actor's reply is encoded and published from the actor's
//!   own task, through a reply slot that carries the request's reply subject
//!   ([`ReplyTo`]); a served factory's from its worker's. The exceptions await the call in
//!   the serving loop: a message that finds the mailbox full (and those after it while it
//!   waits), a served handle with a timeout (`with_timeout`, or `#[actor(timeout)]`), and a
//!   hand-written [`Serve`] without [`start`](Serve::start). A reply that finds the
//!   connection's queue full is published by a task.
//!
//! # Cancel safety
//!
//! Dropping an ask after it was published leaves the message to be handled; its reply is
//! discarded. Each public future documents what a drop leaves behind.

#![warn(missing_docs)]
#![warn(clippy::unwrap_used)]

mod error;
mod node;
mod pool;
mod reply_to;
mod serve;
mod target;
pub mod wire;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use error::{Cause, RemoteError};
pub use node::{DEFAULT_PREFIX, Node, RemoteHandle};
pub use pool::{Call, PoolRemote, PoolRequest, Responder};
pub use serve::{CallResult, Refusal, ReplyTo, Serve, Served};
pub use target::{DEFAULT_TIMEOUT, Down, Target, Watch};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
