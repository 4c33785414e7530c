//! What `#[actor(remote)]` output names, and nothing else does. Not part of the public API.

use actor_core::{AskError, CallError, SendError};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use serde;

use crate::serve::Refusal;

/// Reads a message's arguments.
///
/// # Errors
///
/// [`Refusal`] with the decoder's explanation.
pub fn args<A: DeserializeOwned>(json: &[u8]) -> Result<A, Refusal> {
    serde_json::from_slice(json).map_err(|e| Refusal::decode(&e))
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
