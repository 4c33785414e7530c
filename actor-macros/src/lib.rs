//! The `#[actor]` attribute for `actor-core`.
//!
//! This crate is not built yet and exports no macro.
