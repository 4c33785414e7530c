//! The guard around every poll of user code: panics caught (and their askers told the
//! message), kills carried out at the next poll.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;

use super::*;

/// Why a guarded future did not complete.
pub(super) enum Interrupt {
    /// It panicked, with this message.
    Panicked(Arc<str>),
    /// The actor was killed while it was pending.
    Killed,
}

/// Polls the future in `slot` unless the actor has been killed, turning a panic into
/// [`Interrupt::Panicked`]. The future is dropped (the slot set to `None`) as soon as it is
/// interrupted; replies it owned tell their askers that the actor panicked or stopped.
///
/// The caller pins the slot in its own frame, so the future is stored once, not once per layer.
pub(super) fn guarded<'a, F: Future>(
    cell: &'a ActorCell,
    mut slot: Pin<&'a mut Option<F>>,
) -> impl Future<Output = Result<F::Output, Interrupt>> + 'a {
    poll_fn(move |cx| {
        if cell.control.load(Ordering::Acquire) == KILL {
            dropping(cell.take_interrupt_cause(), || slot.set(None));
            return Poll::Ready(Err(Interrupt::Killed));
        }
        let Some(fut) = slot.as_mut().as_pin_mut() else {
            // Already completed or interrupted; `poll_fn` is not polled again after `Ready`.
            return Poll::Pending;
        };
        let (polled, unwound) = reply::collecting_panics(|| {
            std::panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx)))
        });
        match polled {
            Ok(poll) => {
                if !unwound.is_empty() {
                    // The handler caught a panic of its own; replies dropped by it report it.
                    let caught = Arc::from("a panic inside the handler (caught by the handler)");
                    reply::after_panic(&caught, unwound, || ());
                }
                match poll {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(output) => {
                        slot.set(None);
                        Poll::Ready(Ok(output))
                    }
                }
            }
            Err(payload) => {
                let panic = panic_message(payload.as_ref());
                let dropped = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    reply::after_panic(&panic, unwound, || {
                        dropping(DropCause::Panicked, || slot.as_mut().set(None));
                    });
                }));
                if dropped.is_err() {
                    tracing::error!("a destructor panicked while cleaning up after a panic");
                }
                Poll::Ready(Err(Interrupt::Panicked(panic)))
            }
        }
    })
}

fn panic_message(payload: &(dyn Any + Send)) -> Arc<str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Arc::from(*s)
    } else if let Some(s) = payload.downcast_ref::<String>() {
        Arc::from(s.as_str())
    } else {
        Arc::from("a panic with a non-string payload")
    }
}
