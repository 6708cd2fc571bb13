//! keyworker's core: the rules and encodings that must exist exactly once.
//!
//! This crate has no Python dependency: it is tested with `cargo test` and
//! benchmarked with `cargo bench`. `keyworker-py` binds it for Python.

pub mod credential;
pub mod limits;
pub mod revocation;
pub mod status;
