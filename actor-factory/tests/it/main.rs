//! Integration tests of actor-factory: one binary.

mod durable;
mod factory;
mod self_harm;
mod stream;
mod support;
