//! Supervisors: actors that start children from specifications and restart them in place when
//! they fail, within a restart intensity, escalating when it is exceeded.
//!
//! A restart keeps the child's task, mailbox and references: a handle taken before the restart
//! reaches the new incarnation, and messages queued behind the one that crashed are handled by
//! the new incarnation in order. The message that crashed is not handled again; its asker gets
//! [`AskError::Panicked`](crate::AskError::Panicked). The old incarnation's `on_stop` runs and
//! its state is dropped before the new one's `on_start`; they never run at the same time.
//!
//! ```
//! use std::time::Duration;
//! use actor_core::supervision::{ChildSpec, Restart, SupervisorSpec, SupervisionEvent};
//! # use actor_core::{Actor, Context, Reply};
//! # struct Flaky { calls: u32 }
//! # enum FlakyMsg { Call(Reply<u32>), Crash }
//! # impl Actor for Flaky {
//! #     type Message = FlakyMsg;
//! #     async fn handle(&mut self, msg: FlakyMsg, _ctx: &Context<Self>) {
//! #         match msg { FlakyMsg::Call(r) => { self.calls += 1; r.send(self.calls) } FlakyMsg::Crash => panic!("crash") }
//! #     }
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let spec = SupervisorSpec::new()
//!     .intensity(3, Duration::from_secs(5))
//!     .child(ChildSpec::new("flaky", || Ok(Flaky { calls: 0 })).restart(Restart::Permanent));
//! let mut events = spec.subscribe();
//! let supervisor = spec.spawn().await?;
//!
//! let flaky = supervisor.child::<actor_core::ActorRef<Flaky>>("flaky")?;
//! assert_eq!(flaky.ask(FlakyMsg::Call).await?, 1);
//! flaky.tell(FlakyMsg::Crash).await?;
//! // The same reference reaches the new incarnation, whose state is fresh.
//! assert_eq!(flaky.ask(FlakyMsg::Call).await?, 1);
//! assert!(matches!(events.recv().await?, SupervisionEvent::Started { .. }));
//! assert!(matches!(events.recv().await?, SupervisionEvent::Restarting { .. }));
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! - `spec`: [`SupervisorSpec`], [`ChildSpec`], [`Strategy`], [`Restart`], [`Backoff`].
//! - `events`: [`SupervisionEvent`].
//! - `supervisor`: [`Supervisor`], the handle, and the supervisor's own actor.
//! - `group`: the state a supervisor shares with its children, and group restarts.
//! - `restart`: what a child's task decides when an incarnation ends: the intensity window.

mod events;
mod group;
mod restart;
mod spec;
mod supervisor;

use std::sync::{Mutex, MutexGuard, PoisonError};

pub use self::events::SupervisionEvent;
pub use self::spec::{Backoff, ChildSpec, Restart, Strategy, SupervisorSpec};
pub use self::supervisor::Supervisor;

fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A factory that panicked leaves nothing half-written that the next call depends on.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
