//! Consumer credit lines: programs, limits, purchases, bills, installments, repayment, reward
//! coins, delinquency, co-funding.
//!
//! Pure and deterministic, like the ledger it posts to: no I/O, no clock, no randomness, no
//! floats. Every money movement is a ledger transfer (each line is a `managed` ledger account),
//! so conservation holds by construction; this crate keeps what the money means.
//!
//! This crate does NOT persist anything or speak a wire format beyond its fixed-size records.

mod bytes;
mod check;
mod coins;
mod command;
mod date;
mod funding;
pub mod math;
mod plans;
mod result;
mod snapshot;
mod state;

pub use command::{
    APPLICANT_GUARDIAN_CONFIRMED, APPLICANT_STUDENT, COMMAND_SIZE, Command, Component,
    DAY_CLOSE_LINES_MAX, FUNDERS_MAX, PROGRAM_SIZE, Program, RecordError, StatusChange,
    StudentPolicy,
};
pub use date::Date;
pub use funding::{Funder, Funding, Share};
pub use plans::{Plan, PlanStatus};
pub use result::CreditResult;
pub use snapshot::CreditSnapshotError;
pub use state::{
    Credit, Cycle, Line, LineStatus, LineView, NO_PLAN, Owed, Posting, Purchase, Purchased,
    Statement, TemporaryLimit, aging_bucket,
};

#[cfg(test)]
mod tests;
