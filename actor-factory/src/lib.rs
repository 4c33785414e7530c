//! Worker pools and streaming pipelines for the `actor-core` runtime.
//!
//! This crate is not built yet: it exposes nothing, so that nobody can depend on an API that
//! does not keep its promises. Its design (a factory that owns a pool of workers and a queue of
//! jobs, routing modes, worker replacement that never loses a queued job, ordered streaming
//! pipelines) is described in `ARCHITECTURE.md` at the repository root.
