//! Integration tests of actor-store: one binary, one module per topic.

mod basic;
mod damage;
mod faults;
mod journal;
mod kv;
mod model;
mod schema;
mod support;
