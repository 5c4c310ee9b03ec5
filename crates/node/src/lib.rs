//! node crate.
