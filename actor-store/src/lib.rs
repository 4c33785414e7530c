//! Durable actors on sled for the `actor-core` runtime.
//!
//! This crate is not built yet: it exposes nothing, so that nobody can depend on an API that
//! does not keep its promises. Its design (a writer actor that is the sole owner of its sled
//! database, group commit, acknowledgement only after the data is durable, recovery that reports
//! corruption instead of starting empty, a durable job queue) is described in `ARCHITECTURE.md`
//! at the repository root.
