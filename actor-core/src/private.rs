//! The only items that `#[actor]` expansions name, through `::actor_core::__private`. Not a
//! public API: it may change in any release.

#[doc(hidden)]
pub mod __private {
    use std::time::Duration;

    pub use crate::actor::{Actor, Dispatch, PanicAction};
    pub use crate::actor_ref::ActorRef;
    pub use crate::context::Context;
    pub use crate::error::{
        AskError, BoxError, CallError, RegistryError, SendError, SpawnError, StopReason,
        TrySendError,
    };
    pub use crate::handle::{Handle, WeakHandle};
    pub use crate::mailbox::Mailbox;
    pub use crate::registry::lookup;
    pub use crate::reply::Reply;
    pub use crate::spawn::{SpawnOptions, spawn};

    /// The dispatch of an actor whose shared handlers are all synchronous.
    pub type SyncDispatch<M> = Dispatch<std::future::Ready<()>, M>;

    /// Sends a request and awaits the reply, within `timeout` if there is one.
    #[inline]
    pub async fn call<A: Actor, R: 'static>(
        actor: &ActorRef<A>,
        timeout: Option<Duration>,
        make: impl FnOnce(Reply<R>) -> A::Message,
    ) -> Result<R, AskError> {
        match timeout {
            None => actor.ask(make).await,
            Some(timeout) => actor.ask_timeout(timeout, make).await,
        }
    }

    /// `Result<Result<T, E>, AskError>` → `Result<T, CallError<E>>`.
    #[inline]
    pub fn flatten<T, E>(outcome: Result<Result<T, E>, AskError>) -> Result<T, CallError<E>> {
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(CallError::Handler(error)),
            Err(error) => Err(CallError::Ask(error)),
        }
    }
}
