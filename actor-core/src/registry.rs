//! The registry: live actors by name, looked up with their type.
//!
//! A named entry point without a global sender: register a router actor once, and any task can
//! [`lookup`] its typed reference. An entry holds a reference, so a registered actor keeps running
//! until it is stopped, and its entries are removed when it stops (however it stops).
//!
//! ```
//! # use actor_core::{Actor, Context, Reply, registry};
//! # struct Router;
//! # impl Actor for Router {
//! #     type Message = Reply<&'static str>;
//! #     async fn handle(&mut self, reply: Reply<&'static str>, _ctx: &Context<Self>) { reply.send("pong") }
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let router = actor_core::spawn(Router)?;
//! registry::register("router", &router)?;
//!
//! let found = registry::lookup::<actor_core::ActorRef<Router>>("router")?;
//! assert_eq!(found.ask(|reply| reply).await?, "pong");
//!
//! router.stop();
//! router.stopped().await;
//! assert!(registry::lookup::<actor_core::ActorRef<Router>>("router").is_err());
//! # Ok(())
//! # }
//! ```

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

use crate::actor::Actor;
use crate::actor_ref::ActorRef;
use crate::control::{ActorCell, ActorControl, ActorId};
use crate::error::RegistryError;
use crate::handle::Handle;

struct Entry {
    control: ActorControl,
    type_name: &'static str,
    /// An `ActorRef<A>` for the actor's type `A`.
    actor_ref: Box<dyn Any + Send + Sync>,
}

static REGISTRY: LazyLock<Mutex<HashMap<String, Entry>>> = LazyLock::new(Mutex::default);

fn entries() -> MutexGuard<'static, HashMap<String, Entry>> {
    // Nothing that can panic runs under the lock, but stay usable even if something did.
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Registers `actor` under `name`. An actor may be registered under several names; the entries
/// are removed when it stops.
///
/// # Errors
///
/// [`RegistryError::NameTaken`] if a live actor already has the name;
/// [`RegistryError::NotAlive`] if `actor` has already stopped.
pub fn register<A: Actor>(
    name: impl Into<String>,
    actor: &ActorRef<A>,
) -> Result<(), RegistryError> {
    let name = name.into();
    let control = actor.control();
    control.cell.registered.store(true, Ordering::Release);
    let displaced = {
        let mut entries = entries();
        if entries.get(&name).is_some_and(|entry| entry.control.is_alive()) {
            return Err(RegistryError::NameTaken(name));
        }
        if !control.is_alive() {
            return Err(RegistryError::NotAlive);
        }
        entries.insert(
            name,
            Entry {
                control,
                type_name: std::any::type_name::<A>(),
                actor_ref: Box::new(actor.clone()),
            },
        )
    };
    // A dead entry's reference is dropped outside the lock.
    drop(displaced);
    Ok(())
}

/// Looks up the actor registered under `name`, as the handle type `H`: its `#[actor]` handle
/// (`CounterHandle`, also through `CounterHandle::lookup`) or an `ActorRef`.
///
/// # Errors
///
/// [`RegistryError::NotFound`] if no live actor has the name; [`RegistryError::WrongType`] if
/// it is not an `H::Actor`.
pub fn lookup<H: Handle>(name: &str) -> Result<H, RegistryError> {
    let entries = entries();
    let entry = entries
        .get(name)
        .filter(|entry| entry.control.is_alive())
        .ok_or_else(|| RegistryError::NotFound(name.to_owned()))?;
    match entry.actor_ref.downcast_ref::<ActorRef<H::Actor>>() {
        Some(actor_ref) => Ok(H::from_ref(actor_ref.clone())),
        None => Err(RegistryError::WrongType {
            name: name.to_owned(),
            expected: std::any::type_name::<H::Actor>(),
            found: entry.type_name,
        }),
    }
}

/// Removes the entry for `name`; returns whether there was one. The actor keeps running.
pub fn unregister(name: &str) -> bool {
    let removed = entries().remove(name);
    removed.is_some()
}

/// The names under which live actors are registered, in no particular order.
pub fn names() -> Vec<String> {
    entries()
        .iter()
        .filter(|(_, entry)| entry.control.is_alive())
        .map(|(name, _)| name.clone())
        .collect()
}

/// Removes every entry of a stopping actor.
pub(crate) fn remove_actor(cell: &ActorCell) {
    if !cell.registered.load(Ordering::Acquire) {
        return;
    }
    let id: ActorId = cell.id;
    let removed: Vec<Entry> = {
        let mut entries = entries();
        let names: Vec<String> = entries
            .iter()
            .filter(|(_, entry)| entry.control.id() == id)
            .map(|(name, _)| name.clone())
            .collect();
        names.into_iter().filter_map(|name| entries.remove(&name)).collect()
    };
    drop(removed);
}
