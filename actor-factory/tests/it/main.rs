//! Integration tests of actor-factory: one binary.

mod factory;
mod metrics;
mod self_harm;
mod spans;
mod stream;
mod support;
