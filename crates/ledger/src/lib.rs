//! The double-entry ledger: accounts, transfers, two-phase transfers, linked chains, limits.
//!
//! Pure and deterministic: no I/O, no clock, no randomness, no dependence on hash iteration
//! order. Time arrives as a `timestamp` argument on every call that changes state; the same
//! calls in the same order always produce the same state and results.
//!
//! Semantics follow the reference engine (TigerBeetle 0.17) so users can move between them;
//! the differences are listed in ARCHITECTURE.md ("Ledger semantics"): limits that change after
//! creation, balances as of a timestamp, no `imported` events.
//!
//! This crate does NOT persist anything, speak any wire format, or know about products.

mod account;
mod account_table;
mod open_pending;
mod result;
mod snapshot;
mod state;
mod transfer;

pub use account::{Account, AccountBalance, AccountFlags, AccountLimits, LimitChange};
pub use result::{CreateAccountResult, CreateTransferResult, SetLimitResult};
pub use snapshot::{LIMIT_CHANGE_SIZE, Restore, SnapshotError};
pub use state::{
    AccountFilter, BalanceAtError, ColdStore, Ledger, LedgerTotals, PrefetchKey, RESERVED_ID_MIN,
    WideSum,
};
pub use transfer::{AMOUNT_MAX, PendingStatus, Transfer, TransferFlags};

#[cfg(test)]
mod tests;
