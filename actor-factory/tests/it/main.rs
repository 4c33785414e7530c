//! Integration tests of actor-factory: one binary.

mod factory;
mod self_harm;
mod stream;
mod support;
