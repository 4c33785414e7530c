//! Integration tests for actor-core, through its public API only.
//!
//! One binary for the whole crate; each module is one area of the contract.

mod support;

mod drop_cause;
mod handles;
mod hooks;
mod inspect;
mod lifecycle;
mod links;
mod macro_lints;
mod macros;
mod messaging;
mod metrics;
mod ownership;
mod panics;
mod registry;
mod shared;
mod stuck;
mod supervision;
mod timers;
mod tracing_spans;
mod ui;
