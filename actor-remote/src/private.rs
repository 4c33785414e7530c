//! What `#[actor(remote)]` output names, and nothing else does. Not part of the public API.

use std::cell::{Cell, RefCell};

use actor_core::{Actor, ActorRef, AskError, CallError, Reply, SendError, TrySendError};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use serde;

use crate::serve::{Refusal, ReplyTo};

/// Reads a message's arguments.
///
/// # Errors
///
/// [`Refusal`] with the decoder's explanation.
pub fn args<A: DeserializeOwned>(json: &[u8]) -> Result<A, Refusal> {
    // A panicking `Deserialize` answers with its own message.
    match std::panic::catch_unwind(|| serde_json::from_slice(json)) {
        Ok(read) => read.map_err(|e| Refusal::decode(&e)),
        Err(panic) => Err(Refusal::panicked(&crate::serve::panic_text(&*panic))),
    }
}

fn json(value: &impl Serialize) -> Result<Vec<u8>, Refusal> {
    serde_json::to_vec(value).map_err(|e| Refusal::encode(&e))
}

fn refusal(error: &AskError) -> Refusal {
    match error {
        AskError::Panicked(message) => Refusal::panicked(message),
        AskError::Timeout => Refusal::timeout(),
        _ => Refusal::stopped(),
    }
}

/// What a local handle's method returned, as a reply.
pub trait IntoAnswer {
    /// The reply's JSON, or the refusal.
    ///
    /// # Errors
    ///
    /// The refusal that stands for the local error.
    fn into_answer(self) -> Result<Vec<u8>, Refusal>;
}

impl<T: Serialize> IntoAnswer for Result<T, AskError> {
    fn into_answer(self) -> Result<Vec<u8>, Refusal> {
        match self {
            Ok(value) => json(&value),
            Err(error) => Err(refusal(&error)),
        }
    }
}

impl<T: Serialize, E: Serialize> IntoAnswer for Result<T, CallError<E>> {
    fn into_answer(self) -> Result<Vec<u8>, Refusal> {
        match self {
            Ok(value) => json(&Ok::<&T, &E>(&value)),
            Err(CallError::Handler(error)) => json(&Err::<&T, &E>(&error)),
            Err(CallError::Ask(error)) => Err(refusal(&error)),
        }
    }
}

impl<M> IntoAnswer for Result<(), SendError<M>> {
    fn into_answer(self) -> Result<Vec<u8>, Refusal> {
        match self {
            Ok(()) => json(&()),
            Err(_) => Err(Refusal::stopped()),
        }
    }
}

/// The reply of a local call.
///
/// # Errors
///
/// As [`IntoAnswer::into_answer`].
pub fn answer(outcome: impl IntoAnswer) -> Result<Vec<u8>, Refusal> {
    outcome.into_answer()
}

thread_local! {
    /// Set while a message the mailbox refused is dropped: its reply slot gives its
    /// [`ReplyTo`] back (into [`RECLAIMED`]) instead of answering.
    static RECLAIMING: Cell<bool> = const { Cell::new(false) };
    static RECLAIMED: RefCell<Option<ReplyTo>> = const { RefCell::new(None) };
}

/// Enqueues the request `make` builds around a reply slot that answers `reply` from the
/// actor's task; gives `reply` back if the mailbox has no room now (or the actor stopped), for
/// the serving loop to await the call instead.
///
/// # Errors
///
/// `Err(reply)`: not enqueued.
pub fn start<A: Actor, T: Send + 'static>(
    actor: &ActorRef<A>,
    reply: ReplyTo,
    make: impl FnOnce(Reply<T>) -> A::Message,
) -> Result<(), ReplyTo>
where
    Result<T, AskError>: IntoAnswer,
{
    let slot = Reply::callback(move |outcome: Result<T, AskError>| {
        if RECLAIMING.get() {
            RECLAIMED.set(Some(reply));
        } else {
            reply.answer_with(|| outcome.into_answer());
        }
    });
    match actor.try_tell(make(slot)) {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(message) | TrySendError::Closed(message)) => {
            /// Ends the reclaim however the drop ends: if a destructor in the message panics,
            /// the reply parked meanwhile is dropped while unwinding, which answers the caller
            /// `Panicked` (it must never stay parked: nobody would answer it).
            struct Reclaiming;
            impl Drop for Reclaiming {
                fn drop(&mut self) {
                    RECLAIMING.set(false);
                    if std::thread::panicking() {
                        drop(RECLAIMED.take());
                    }
                }
            }
            RECLAIMING.set(true);
            let reset = Reclaiming;
            drop(message);
            drop(reset);
            // The slot in the message handed its `ReplyTo` back as it was dropped.
            match RECLAIMED.take() {
                Some(reply) => Err(reply),
                None => Ok(()),
            }
        }
    }
}

/// Enqueues a `#[actor(tell)]` message and answers `reply` with `()` once it is enqueued;
/// gives `reply` back if the mailbox has no room now (or the actor stopped).
///
/// # Errors
///
/// `Err(reply)`: not enqueued.
pub fn start_tell<A: Actor>(
    actor: &ActorRef<A>,
    reply: ReplyTo,
    message: A::Message,
) -> Result<(), ReplyTo> {
    match actor.try_tell(message) {
        Ok(()) => {
            reply.answer(json(&()));
            Ok(())
        }
        Err(_) => Err(reply),
    }
}
