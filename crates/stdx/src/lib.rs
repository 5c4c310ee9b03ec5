//! stdx crate.
