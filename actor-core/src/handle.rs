//! [`Handle`]: what the typed handles of [`#[actor]`](macro@crate::actor) and [`ActorRef`]
//! have in common, so that every API that hands out a reference to an actor hands out the
//! type you ask for: inside a handler ([`Context::handle`](crate::Context::handle)), from a
//! supervisor ([`Supervisor::child`](crate::supervision::Supervisor::child)), from the registry
//! ([`registry::lookup`](crate::registry::lookup)), from a weak reference ([`WeakHandle`]).
//!
//! ```
//! use actor_core::{Handle, actor, registry};
//!
//! struct Greeter;
//!
//! #[actor]
//! impl Greeter {
//!     fn greet(&self, name: String) -> String {
//!         format!("hello, {name}")
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let greeter = Greeter.spawn()?;
//! registry::register("greeter", greeter.actor_ref())?;
//! // The same actor, as the handle type you ask for; a wrong name or type is an error.
//! let found = GreeterHandle::lookup("greeter")?;
//! assert_eq!(found.greet("Ada".into()).await?, "hello, Ada");
//! let weak = found.downgrade();
//! assert!(weak.upgrade().is_some());
//! greeter.shutdown().await;
//! assert!(weak.upgrade().is_none());
//! # Ok(())
//! # }
//! ```

use std::fmt;

use crate::actor::Actor;
use crate::actor_ref::{ActorRef, WeakActorRef};

/// A typed reference to a running actor: an [`ActorRef`], or the handle `#[actor]` generates.
/// Cheap to clone; `Send + Sync`.
pub trait Handle: Clone + Send + Sync + 'static {
    /// The actor it reaches.
    type Actor: Actor;

    /// Wraps a reference.
    fn from_ref(actor: ActorRef<Self::Actor>) -> Self;

    /// The reference underneath.
    fn actor_ref(&self) -> &ActorRef<Self::Actor>;

    /// A reference that does not keep the actor alive; [`WeakHandle::upgrade`] gives this
    /// handle type back.
    fn downgrade(&self) -> WeakHandle<Self> {
        WeakHandle { weak: self.actor_ref().downgrade() }
    }
}

impl<A: Actor> Handle for ActorRef<A> {
    type Actor = A;

    fn from_ref(actor: ActorRef<A>) -> Self {
        actor
    }

    fn actor_ref(&self) -> &ActorRef<A> {
        self
    }
}

/// A handle that does not keep its actor alive; [`upgrade`](Self::upgrade) it to call the
/// actor.
pub struct WeakHandle<H: Handle> {
    weak: WeakActorRef<H::Actor>,
}

impl<H: Handle> WeakHandle<H> {
    /// The handle, or `None` once the actor is stopping or stopped.
    pub fn upgrade(&self) -> Option<H> {
        self.weak.upgrade().map(H::from_ref)
    }
}

impl<H: Handle> Clone for WeakHandle<H> {
    fn clone(&self) -> Self {
        WeakHandle { weak: self.weak.clone() }
    }
}

impl<H: Handle> fmt::Debug for WeakHandle<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakHandle").field("id", &self.weak.id()).finish()
    }
}
