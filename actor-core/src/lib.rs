//! A tokio actor runtime that costs what a hand-written channel actor costs.
//!
//! An actor is your own struct; its messages are one enum (never boxed); it runs in one tokio
//! task that owns the state. Write the methods, put [`#[actor]`](macro@actor) on the `impl`
//! block, and callers get a typed handle with one async method per message.
//!
//! # Quick start
//!
//! ```
//! use actor_core::actor;
//!
//! #[derive(Debug, PartialEq, thiserror::Error)]
//! #[error("the total would overflow")]
//! pub struct Overflow;
//!
//! pub struct Counter {
//!     total: u64,
//! }
//!
//! #[actor]
//! impl Counter {
//!     /// Adds `by` and returns the new total (exclusive: `&mut self`).
//!     pub fn add(&mut self, by: u64) -> u64 {
//!         self.total += by;
//!         self.total
//!     }
//!
//!     /// The current total (shared: `&self` handlers may run concurrently).
//!     pub async fn total(&self) -> u64 {
//!         self.total
//!     }
//!
//!     /// An `Err` goes back to the caller; the actor keeps running.
//!     pub fn double(&mut self) -> Result<u64, Overflow> {
//!         self.total = self.total.checked_mul(2).ok_or(Overflow)?;
//!         Ok(self.total)
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let counter = Counter { total: 0 }.spawn()?; // a `CounterHandle`
//!     assert_eq!(counter.add(40).await?, 40);
//!     counter.tell(CounterMessage::add(2)).await?; // fire and forget
//!     assert_eq!(counter.total().await?, 42);
//!     assert_eq!(counter.double().await?, 84);
//!
//!     let quick = counter.with_timeout(std::time::Duration::from_millis(100));
//!     assert_eq!(quick.total().await?, 84);
//!
//!     counter.stop();
//!     counter.stopped().await;
//!     Ok(())
//! }
//! ```
//!
//! The attribute generates, next to the impl block: `CounterMessage` (one variant per method,
//! with its reply slot, plus a fire-and-forget constructor per method), the [`Actor`] impl that
//! dispatches each variant to its method, and `CounterHandle` (cloneable; one async method per
//! handler returning `Result<T, AskError>`, or `Result<T, CallError<E>>` for a method returning
//! `Result<T, E>`; `tell`, `try_tell`, `with_timeout`, `stop`, `stopped`). A method that takes
//! `&Context<Self>` gets the actor's context; `#[actor(skip)]` keeps a helper out of the
//! messages; `#[actor(tell)]` on a method returning nothing makes it fire-and-forget (its message
//! carries no reply slot, so it is as small as a hand-written one); `#[actor(mailbox = 64, max_shared = 8, name = "counter")]` sets the spawn
//! defaults. The expansion of this very example is shown in the docs of `actor-macros`.
//!
//! # Without the macro
//!
//! [`Actor`] is an ordinary trait: one message type, an exclusive [`Actor::handle`], optionally
//! [`Actor::handle_shared`] and the lifecycle hooks. [`ActorRef`] offers
//! [`tell`](ActorRef::tell), [`try_tell`](ActorRef::try_tell) and [`ask`](ActorRef::ask).
//!
//! ```
//! use actor_core::{Actor, Context, Reply};
//!
//! struct Counter {
//!     total: u64,
//! }
//!
//! enum CounterMessage {
//!     Add(u64),
//!     Total(Reply<u64>),
//! }
//!
//! impl Actor for Counter {
//!     type Message = CounterMessage;
//!
//!     async fn handle(&mut self, msg: CounterMessage, _ctx: &Context<Self>) {
//!         match msg {
//!             CounterMessage::Add(n) => self.total += n,
//!             CounterMessage::Total(reply) => reply.send(self.total),
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let counter = actor_core::spawn(Counter { total: 0 })?;
//! counter.tell(CounterMessage::Add(40)).await?;
//! counter.try_tell(CounterMessage::Add(2))?;
//! assert_eq!(counter.ask(CounterMessage::Total).await?, 42);
//! # Ok(())
//! # }
//! ```
//!
//! # Contracts
//!
//! **Ordering.** Messages from one sender are *started* in the order they were sent. Exclusive
//! handlers ([`Actor::handle`]) run one at a time; shared handlers
//! ([`Actor::handle_shared`]) may overlap with each other, and therefore may finish out of order,
//! but never with an exclusive handler. There is no order between different senders.
//!
//! **Delivery.** A message is accepted when `tell`/`try_tell`/`ask` returns without error. An
//! accepted message is handled unless the actor is killed, panics or fails first. A message that
//! is not accepted is handed back inside the error ([`SendError`], [`TrySendError`]). An asker
//! always gets an answer: the reply, or an [`AskError`] saying whether the actor was closed,
//! stopped or panicked, or the timeout expired. No ask hangs because its actor died.
//!
//! **Backpressure.** Mailboxes are bounded ([`Mailbox::DEFAULT_CAPACITY`] unless chosen).
//! `tell` and `ask` wait for room; `try_tell` never waits. Unbounded mailboxes exist only when
//! asked for with [`Mailbox::Unbounded`].
//!
//! **Stopping.** [`ActorRef::stop`] (or dropping the last `ActorRef`) closes the mailbox,
//! handles every message already accepted, cancels the actor's background tasks and timers,
//! stops its children, then runs [`Actor::on_stop`]. [`ActorRef::kill`] cancels the task at its
//! next await point; `on_stop` does not run. [`ActorRef::stopped`] returns only once the actor
//! has fully stopped, after `on_stop` finished and the state was dropped.
//!
//! **Panics.** A panic in a handler or hook is caught in the actor's task. The asker of the
//! message being handled gets [`AskError::Panicked`]; askers whose messages were still queued
//! get [`AskError::Stopped`]; the actor stops with [`StopReason::Panicked`]. No other task is
//! affected.
//!
//! **Cost.** A `tell` is one channel send of the message enum: nothing is boxed or allocated
//! per message. Per-message tracing is at `TRACE` level inside the actor's span, so it costs a
//! level check when disabled.
//!
//! # Layout
//!
//! - [`actor`](mod@actor): the [`Actor`] trait and [`Dispatch`].
//! - [`actor_ref`]: [`ActorRef`] and [`WeakActorRef`].
//! - [`context`]: [`Context`], what handlers reach: children, background tasks, timers.
//! - [`control`]: [`ActorControl`], untyped stop/kill/wait/link, and [`ActorId`].
//! - [`supervision`]: supervisors, child specifications, restart strategies and intensity.
//! - [`heartbeat`]: stuck-actor detection.
//! - [`registry`]: named actors with typed lookup.
//! - [`reply`]: [`Reply`], the answer slot carried by a request.
//! - [`mailbox`], [`spawn`](mod@spawn), [`error`].

#![warn(missing_docs)]
#![warn(clippy::unwrap_used)]

// Lets code generated by `#[actor]` name `::actor_core` inside this crate's own tests and docs.
#[allow(unused_extern_crates, reason = "used by macro-generated paths")]
extern crate self as actor_core;

pub mod actor;
pub mod actor_ref;
pub mod context;
pub mod control;
pub mod drop_cause;
pub mod error;
pub mod heartbeat;
pub mod mailbox;
mod private;
pub mod registry;
pub mod reply;
mod runtime;
pub mod spawn;
pub mod supervision;

pub use crate::actor::{Actor, Dispatch};
pub use crate::actor_ref::{ActorRef, WeakActorRef};
pub use crate::context::{Context, TaskHandle};
pub use crate::control::{ActorControl, ActorId, LinkedExit};
pub use crate::drop_cause::{DropCause, drop_cause};
pub use crate::error::{
    AskError, BoxError, CallError, RegistryError, SendError, SpawnError, StopReason, TrySendError,
};
pub use crate::mailbox::Mailbox;
#[doc(hidden)]
pub use crate::private::__private;
pub use crate::reply::Reply;
pub use crate::spawn::{SpawnOptions, spawn};
/// Turns an inherent `impl` block into an actor; see the [crate docs](crate#quick-start).
pub use actor_macros::actor;
