//! Integration tests of actor-store: one binary, one module per topic.

mod basic;
mod conformance;
mod damage;
mod faults;
mod jobs;
mod journal;
mod kv;
mod model;
mod schema;
mod support;
