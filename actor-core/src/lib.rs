//! A tokio actor runtime that costs what a hand-written channel actor costs.
//!
//! An actor is your own struct; its messages are one enum (never boxed); it runs in one tokio
//! task that owns the state. Write the methods, put [`#[actor]`](macro@actor) on the `impl`
//! block, and callers get a typed handle with one async method per message.
//!
//! # Quick start
//!
//! ```
//! use actor_core::{Context, actor};
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("the total would pass {limit}")]
//! pub struct Overflow {
//!     limit: u64,
//! }
//!
//! pub struct Counter {
//!     total: u64,
//!     limit: u64,
//! }
//!
//! #[actor(timeout = "5s")]
//! impl Counter {
//!     /// A hook, not a message: runs in the actor's task before the first message.
//!     /// An `Err` fails the start, with this error as its source.
//!     async fn on_start(&mut self, ctx: &Context<Self>) -> Result<(), Overflow> {
//!         println!("{} starting at {}", ctx.name(), self.total);
//!         if self.total > self.limit { Err(Overflow { limit: self.limit }) } else { Ok(()) }
//!     }
//!
//!     /// Exclusive (`&mut self`). An `Err` goes back to the caller; the actor keeps running.
//!     pub fn add(&mut self, by: u64) -> Result<u64, Overflow> {
//!         let total = self.total + by;
//!         if total > self.limit {
//!             return Err(Overflow { limit: self.limit });
//!         }
//!         self.total = total;
//!         Ok(total)
//!     }
//!
//!     /// Shared (`&self`): may run concurrently with other shared handlers.
//!     pub async fn total(&self) -> u64 {
//!         self.total
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // `start` returns once `on_start` succeeded: a `CounterHandle`.
//!     let counter = Counter { total: 0, limit: 100 }.start().await?;
//!     assert_eq!(counter.add(40).await?, 40); // `?` works: `CallError<Overflow>` is an `Error`
//!     counter.tell(CounterMessage::add(2)).await?; // fire and forget
//!     assert_eq!(counter.total().await?, 42);
//!     let refused = counter.add(1_000).await.unwrap_err();
//!     assert_eq!(refused.to_string(), "the total would pass 100");
//!     counter.shutdown().await; // stop, handle what was accepted, wait
//!     Ok(())
//! }
//! ```
//!
//! # What `#[actor]` generates
//!
//! Next to the impl block: `CounterMessage` (one variant per handler, with its reply slot, and
//! a fire-and-forget constructor per handler, such as `CounterMessage::add(2)`), the [`Actor`]
//! impl that dispatches each variant to its method, and `CounterHandle`, the actor's one
//! handle type: cloneable, with one async method per handler returning `Result<T, AskError>`,
//! or `Result<T, CallError<E>>` for a method returning `Result<T, E>` (an [`Error`] whenever
//! `E` is `Display + Debug`, so `?` works); plus `tell`, `try_tell`, `with_timeout`, `stop`,
//! `kill`, `stopped`, `shutdown`, `downgrade`, `lookup` and `actor_ref`. The actor type gets
//! `spawn`, `spawn_with(options)`, `start` and `start_with(options)` (these two wait for
//! `on_start`). The expansion of a counter is shown in the docs of `actor-macros`.
//!
//! [`Error`]: std::error::Error
//!
//! In the block:
//!
//! - **Handlers.** A method taking `&mut self` is exclusive; one taking `&self` is shared and
//!   may run concurrently with other shared handlers (async ones while they await). Either may
//!   take `ctx: &Context<Self>` anywhere among its arguments: it is supplied by the runtime.
//! - **Hooks.** Methods named `on_start`, `on_stop` and `on_panic` are the [`Actor`] trait's
//!   hooks, not messages: `async fn on_start(&mut self, ctx: &Context<Self>) -> Result<(), E>`
//!   (the context, `async` and the `Result` are optional), `on_stop(&mut self, ctx, reason:
//!   &StopReason)` (each argument optional), `on_panic(&mut self, ctx, panic: &str) ->
//!   PanicAction` (the context optional). A signature that does not fit, a second hook of a
//!   kind, or a near miss such as `on_started` is a compile error saying what is expected;
//!   `#[actor(handler)]` keeps a method with a hook's name as a message.
//! - **Answering later.** A handler that takes `reply: Reply<T>` instead of returning `T`
//!   answers through the slot, when and from where it likes (a background task, another
//!   actor); the caller still awaits a `T`. Dropping the slot unanswered gives the caller
//!   [`AskError::Stopped`].
//! - **Method options.** `#[actor(skip)]` keeps a helper out of the messages; `#[actor(tell)]`
//!   on a method returning nothing makes it fire-and-forget (its message carries no reply
//!   slot, and the handle's method only enqueues).
//! - **Actor options**, on the attribute: `mailbox = N` or `mailbox = unbounded`,
//!   `max_shared = N`, `name = "..."`, `stuck_after = "30s"` (see [`heartbeat`]), and
//!   `timeout = "5s"`, the handle's default timeout for every call (`with_timeout(d)` on a
//!   handle overrides it), and `vis = "pub(crate)"`, the handle's visibility.
//!
//! The message enum is `pub`, and the handle is as visible as the most visible handler. A
//! handle cannot be more visible than the actor type it names: for a private struct with `pub`
//! handlers, say how visible the handle is with `vis = "pub(crate)"` (the compiler otherwise
//! reports the private type in a public interface, E0446). An input the macro cannot accept gets one spanned
//! error per problem and nothing else: no follow-on errors about missing items.
//!
//! # Without the macro
//!
//! The low-level path, for code generic over actors and for what the attribute does not
//! express (the example `hand_written` shows one). [`Actor`] is an ordinary trait: one message
//! type, an exclusive [`Actor::handle`], optionally [`Actor::handle_shared`] and the lifecycle
//! hooks. [`ActorRef`] is its handle, offering [`tell`](ActorRef::tell),
//! [`try_tell`](ActorRef::try_tell) and [`ask`](ActorRef::ask); every API that hands out a
//! reference ([`Context::spawn_child`], [`Supervisor::child`](supervision::Supervisor::child),
//! [`registry::lookup`]) gives an [`ActorRef`] or an `#[actor]` handle, whichever you ask for
//! (see [`Handle`]).
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
//! `tell` and `ask` wait for room; `try_tell` never waits. A mailbox never holds more than its
//! capacity; the actor gives room back to senders in batches, at its next take from the
//! mailbox, at most 32 messages late, and whenever it waits (see [`Mailbox::Bounded`]). A
//! `tell` or `ask` dropped while waiting for room enqueued nothing and passes its wake-up on.
//! Unbounded mailboxes exist only when asked for with [`Mailbox::Unbounded`].
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
//! **Cost.** A `tell` pushes the message enum into the mailbox's buffer under one lock: nothing
//! is boxed or allocated per message, and the actor is woken only if it was waiting. An idle
//! actor costs its state plus about a kilobyte (a tokio task, its cell and its mailbox; the
//! `million_actors` example measures it). Per-message tracing is at `TRACE` level inside the
//! actor's span, so it costs a level check when disabled.
//!
//! # Seeing inside
//!
//! - **Message spans**, opt-in ([`SpawnOptions::with_message_spans`], [`set_message_spans`]):
//!   one `tracing` span per handled message, the child of the span current where it was sent,
//!   so a request's trace follows it through a chain of actors. Off, they cost one branch per
//!   message.
//! - **Metrics** (feature `metrics`), opt-in per actor or globally: messages, handler time,
//!   mailbox depth, panics, restarts, stuck handlers and supervisor decisions through the
//!   `metrics` facade; see the `metrics` module.
//! - **Live inspection** ([`inspect`]): a snapshot of every listed actor (name, kind, state,
//!   mailbox, time in its handler, parent and children), as a value and as a tree.
//!
//! # Layout
//!
//! - [`actor`](mod@actor): the [`Actor`] trait and [`Dispatch`].
//! - [`actor_ref`]: [`ActorRef`] and [`WeakActorRef`].
//! - [`handle`](mod@handle): [`Handle`], what generated handles and [`ActorRef`] share, and
//!   [`WeakHandle`].
//! - [`blocking`](fn@blocking): calls from threads outside the runtime.
//! - [`context`]: [`Context`], what handlers reach: children, background tasks, timers.
//! - [`control`]: [`ActorControl`], untyped stop/kill/wait/link, and [`ActorId`].
//! - [`supervision`]: supervisors, child specifications, restart strategies and intensity.
//! - [`heartbeat`]: stuck-actor detection.
//! - [`inspect`]: live inspection; [`trace`]: message spans; `metrics` (feature): metrics.
//! - [`drop_cause`](mod@drop_cause): why a message is being dropped, for values that must not
//!   be lost silently.
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
mod blocking;
pub mod context;
pub mod control;
pub mod drop_cause;
pub mod error;
pub mod handle;
pub mod heartbeat;
pub mod inspect;
pub mod mailbox;
#[cfg(feature = "metrics")]
pub mod metrics;
mod private;
pub mod registry;
pub mod reply;
mod runtime;
pub mod spawn;
pub mod supervision;
pub mod trace;

pub use crate::actor::{Actor, Dispatch, PanicAction};
pub use crate::actor_ref::{ActorRef, WeakActorRef};
pub use crate::blocking::blocking;
pub use crate::context::{Context, TaskHandle};
pub use crate::control::{ActorControl, ActorId, LinkedExit};
pub use crate::drop_cause::{DropCause, drop_cause};
pub use crate::error::{
    AskError, BlockingError, BoxError, CallError, RegistryError, SendError, SpawnError, StopReason,
    TrySendError,
};
pub use crate::handle::{Handle, WeakHandle};
pub use crate::mailbox::Mailbox;
#[doc(hidden)]
pub use crate::private::__private;
pub use crate::reply::Reply;
pub use crate::spawn::{SpawnOptions, spawn, start};
pub use crate::trace::set_message_spans;
/// Turns an inherent `impl` block into an actor; see the [crate docs](crate#quick-start).
pub use actor_macros::actor;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
