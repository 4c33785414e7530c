//! [`DropCause`]: why a value carried by a message is being dropped.
//!
//! A message can carry a value whose destructor reports back to someone: a [`Reply`] tells its
//! asker why no answer came, a factory job tells its factory whether it was handled. Such a
//! destructor calls [`drop_cause`] to learn whether the message was handled, was never handled
//! (its actor stopped with it still queued), was dropped with its handler in the middle of its
//! work (a kill, or the watchdog failing a stuck actor), or was dropped while cleaning up after
//! a panic.
//!
//! ```
//! use actor_core::{Actor, Context, DropCause, drop_cause};
//! use std::sync::{Arc, Mutex};
//!
//! /// Records how it ended when it is dropped.
//! struct Ticket(Arc<Mutex<Vec<DropCause>>>);
//!
//! impl Drop for Ticket {
//!     fn drop(&mut self) {
//!         self.0.lock().unwrap().push(drop_cause());
//!     }
//! }
//!
//! struct Clerk;
//!
//! impl Actor for Clerk {
//!     type Message = Ticket;
//!
//!     async fn handle(&mut self, ticket: Ticket, ctx: &Context<Self>) {
//!         // Fails after this handler: the tickets still queued are never handled.
//!         ctx.fail("closing early");
//!         drop(ticket);
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let log = Arc::new(Mutex::new(Vec::new()));
//! let clerk = actor_core::spawn(Clerk)?;
//! clerk.tell(Ticket(Arc::clone(&log))).await?;
//! clerk.tell(Ticket(Arc::clone(&log))).await?;
//! clerk.stopped().await;
//! assert_eq!(*log.lock().unwrap(), [DropCause::Handled, DropCause::Unhandled]);
//! # Ok(())
//! # }
//! ```
//!
//! [`Reply`]: crate::Reply

use std::cell::Cell;

/// Why a value is being dropped on this thread; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropCause {
    /// An ordinary drop: the handler finished with the value, or code outside any actor
    /// dropped it.
    Handled,
    /// The actor accepted the message but will never handle it: the actor stopped, failed or
    /// was killed with the message still in its mailbox.
    Unhandled,
    /// The handler holding the value was dropped in the middle of its work: the actor was
    /// killed at an await point of the handler.
    Interrupted,
    /// The handler holding the value was dropped in the middle of its work because the
    /// watchdog found it stuck ([`heartbeat`](crate::heartbeat)): it had made no progress for
    /// `busy_for`, and its actor fails with [`Stuck`](crate::heartbeat::Stuck).
    Stuck {
        /// How long the handler had been busy, as the watchdog counted it.
        busy_for: std::time::Duration,
    },
    /// The value is dropped while unwinding from a panic, or while the runtime cleans up a
    /// handler that panicked.
    Panicked,
}

thread_local! {
    /// Set while the runtime drops values for a reason other than an ordinary drop.
    static CAUSE: Cell<Option<DropCause>> = const { Cell::new(None) };
}

/// Why values are being dropped on this thread right now; see the [module docs](self).
pub fn drop_cause() -> DropCause {
    if std::thread::panicking() {
        return DropCause::Panicked;
    }
    CAUSE.with(Cell::get).unwrap_or(DropCause::Handled)
}

/// Runs `f` (which drops something) with [`drop_cause`] answering `cause`.
pub(crate) fn dropping<R>(cause: DropCause, f: impl FnOnce() -> R) -> R {
    struct Reset(Option<DropCause>);
    impl Drop for Reset {
        fn drop(&mut self) {
            CAUSE.with(|current| current.set(self.0));
        }
    }
    let _reset = Reset(CAUSE.with(|current| current.replace(Some(cause))));
    f()
}
