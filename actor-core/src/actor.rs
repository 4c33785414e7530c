//! The [`Actor`] trait: the user's own state, one message enum, lifecycle hooks and two kinds of
//! handler.
//!
//! # Exclusive and shared handlers
//!
//! [`Actor::handle`] is the *exclusive* handler: it gets `&mut self` and runs alone. Messages
//! first pass through [`Actor::handle_shared`], which may claim them as *shared*: a shared
//! handler gets `&self` and may run concurrently with other shared handlers (up to the actor's
//! limit, [`SpawnOptions::with_max_shared`](crate::SpawnOptions::with_max_shared)). An exclusive
//! handler waits until every shared handler started before it has finished, and nothing starts
//! while it runs. This is what lets an actor keep answering `&self` queries while one of them
//! awaits a slow remote call.
//!
//! Messages are *started* in mailbox order. Shared handlers that overlap may *finish* in any
//! order; an exclusive handler always observes the effects of everything started before it.
//!
//! [`#[actor]`](macro@crate::actor) generates this impl from an `impl` block.
//!
//! # Examples
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
//! counter.tell(CounterMessage::Add(2)).await?;
//! assert_eq!(counter.ask(CounterMessage::Total).await?, 2);
//! # Ok(())
//! # }
//! ```

use std::future::{Future, Ready};

use crate::context::Context;
use crate::error::{BoxError, StopReason};
use crate::spawn::SpawnOptions;

/// An actor: state owned by one task, changed only by the messages it handles.
///
/// See the [module docs](self) for the scheduling of exclusive and shared handlers.
pub trait Actor: Sized + Send + 'static {
    /// The messages this actor handles: usually an enum, so that a message is never boxed.
    type Message: Send + 'static;

    /// The options used by [`spawn`](fn@crate::spawn) for this actor type. Override it to give
    /// every actor of the type a name, a mailbox size or a shared-handler limit.
    fn default_options() -> SpawnOptions {
        SpawnOptions::new()
    }

    /// Runs in the actor's task before the first message. An error stops the actor with
    /// [`StopReason::Failed`]; the messages already queued are then dropped, and their askers get
    /// [`AskError::Stopped`](crate::AskError::Stopped).
    fn on_start(
        &mut self,
        ctx: &Context<Self>,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = ctx;
        std::future::ready(Ok(()))
    }

    /// Runs once when the actor stops, after its last handler and after its children stopped;
    /// not run when the actor is killed.
    fn on_stop(
        &mut self,
        ctx: &Context<Self>,
        reason: &StopReason,
    ) -> impl Future<Output = ()> + Send {
        let _ = (ctx, reason);
        std::future::ready(())
    }

    /// Runs when a handler panicked, with the panic's message, and decides what follows: stop
    /// (the default: the actor stops with [`StopReason::Panicked`], and a supervisor restarts it
    /// per its strategy) or [`PanicAction::Resume`]: the actor goes on with its current state
    /// and its next message. The asker of the message that panicked gets
    /// [`AskError::Panicked`](crate::AskError::Panicked) either way, and so do the askers of
    /// shared handlers that were in flight.
    ///
    /// Resume only if a panic cannot leave the state half changed: a restart (the default with
    /// a supervisor) builds a fresh state instead. Not called for panics in `on_start`,
    /// `on_stop` or this hook itself.
    fn on_panic(
        &mut self,
        ctx: &Context<Self>,
        panic: &str,
    ) -> impl Future<Output = PanicAction> + Send {
        let _ = (ctx, panic);
        std::future::ready(PanicAction::Stop)
    }

    /// The name of a message, for its span when the actor traces its messages
    /// ([`SpawnOptions::with_message_spans`]); `#[actor]` names each message after its method.
    fn message_name(msg: &Self::Message) -> &'static str {
        let _ = msg;
        "message"
    }

    /// Handles a message exclusively: nothing else of this actor runs meanwhile.
    fn handle(
        &mut self,
        msg: Self::Message,
        ctx: &Context<Self>,
    ) -> impl Future<Output = ()> + Send;

    /// Offers a message to the shared handlers; see the [module docs](self).
    ///
    /// Return [`Dispatch::Exclusive`] with the message to have it handled by
    /// [`handle`](Actor::handle) (the default, for every message),
    /// [`Dispatch::Done`] if it was handled synchronously right here, or
    /// [`Dispatch::Pending`] with a future that handles it concurrently with other shared
    /// handlers.
    fn handle_shared<'a>(
        &'a self,
        msg: Self::Message,
        ctx: &'a Context<Self>,
    ) -> Dispatch<impl Future<Output = ()> + Send + 'a, Self::Message> {
        let _ = ctx;
        Dispatch::<Ready<()>, _>::Exclusive(msg)
    }
}

/// What an actor does after a handler panicked; see [`Actor::on_panic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PanicAction {
    /// Stop with [`StopReason::Panicked`] (a supervisor may restart it).
    #[default]
    Stop,
    /// Go on with the current state and the next message.
    Resume,
}

/// What [`Actor::handle_shared`] did with a message.
#[derive(Debug)]
pub enum Dispatch<F, M> {
    /// Handled synchronously by a shared handler.
    Done,
    /// Being handled by this future, which runs concurrently with other shared handlers.
    Pending(F),
    /// Not a shared message: handle it exclusively.
    Exclusive(M),
}

impl<M> Dispatch<Ready<()>, M> {
    /// [`Dispatch::Done`] for a `handle_shared` that never returns [`Dispatch::Pending`]: it
    /// names the future type the compiler could not infer (`Dispatch::<Ready<()>, _>::Done`).
    pub fn done() -> Self {
        Dispatch::Done
    }

    /// [`Dispatch::Exclusive`] for a `handle_shared` that never returns [`Dispatch::Pending`];
    /// see [`done`](Self::done).
    pub fn exclusive(msg: M) -> Self {
        Dispatch::Exclusive(msg)
    }
}
