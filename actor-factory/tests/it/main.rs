//! Integration tests of actor-factory: one binary.

mod factory;
mod support;
