//! Integration tests of actor-factory: one binary.

mod factory;
mod stream;
mod support;
