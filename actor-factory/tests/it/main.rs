//! Integration tests of actor-factory: one binary.

mod durable;
mod factory;
mod stream;
mod support;
