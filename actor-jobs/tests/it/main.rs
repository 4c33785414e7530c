//! Integration tests of actor-jobs: one binary. `conformance` runs the same cases against every
//! backend; the others test what only one backend or the consumer does.

mod conformance;
mod consumer;
mod damage;
mod embedded;
mod limits;
mod metrics;
mod schedule;
mod support;
mod tracing;
