//! ledger crate.
