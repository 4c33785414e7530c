//! What the benchmarks share (`publish = false`): the counter workloads (the hand-written
//! baseline actor, the mutex, the `#[actor]` counter and the drivers of `tell`, `ask` and
//! `contended`) and the sampling and reporting helpers. The core benchmark (`benches/core.rs`)
//! and the peers benchmark (`peers/`, which depends on this crate by path) use the same code.

pub mod counter;
pub mod sample;
