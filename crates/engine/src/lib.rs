//! The replicated state machine: the command alphabet, its log encoding, and deterministic apply.
//!
//! Pure: no I/O, no clock, no randomness, no threads. A `Batch` (one log entry, the unit of group
//! commit) carries its own timestamp, so applying the same batches in the same order always
//! yields the same state and replies, on any machine: that is what makes recovery by replay and
//! the simulator's state-hash checks possible.
//!
//! Product commands (credit, promotions) are `Request` variants here; each composes ledger
//! transfers, so conservation holds by construction.
//!
//! This crate does NOT decide when to batch, when to sync, or what time it is: the shell does.

mod codec;
mod machine;

#[cfg(test)]
mod tests;

pub use codec::{DecodeError, decode_batch, encode_batch};
pub use machine::{StateMachine, StateMachineError, StateRestore};

use credit::{Command, CreditResult, Program};
use ledger::{
    Account, CreateAccountResult, CreateTransferResult, LimitChange, SetLimitResult, Transfer,
};
use promotions::{Campaign, PromotionResult};

/// Most events in one request: fits a 1 MiB message of 128-byte events, like the reference.
pub const REQUEST_EVENTS_MAX: usize = 8189;

/// One client request: events of one kind, applied in order; linked chains may not span requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    CreateAccounts(Vec<Account>),
    CreateTransfers(Vec<Transfer>),
    SetAccountLimits(Vec<LimitChange>),
    /// Credit programs (product configurations).
    CreatePrograms(Vec<Program>),
    /// Credit commands: lines, purchases, repayments, day-close.
    Credit(Vec<Command>),
    /// Promotion campaigns (each creates its budget account).
    CreateCampaigns(Vec<Campaign>),
    /// Promotions commands: funding, coupons, payments carrying coupons, red-packet grabs.
    Promotions(Vec<promotions::Command>),
}

impl Request {
    #[must_use]
    pub fn event_count(&self) -> usize {
        match self {
            Request::CreateAccounts(events) => events.len(),
            Request::CreateTransfers(events) => events.len(),
            Request::SetAccountLimits(events) => events.len(),
            Request::CreatePrograms(events) => events.len(),
            Request::Credit(events) => events.len(),
            Request::CreateCampaigns(events) => events.len(),
            Request::Promotions(events) => events.len(),
        }
    }

    /// Engine timestamps the request takes: one per event, except credit commands, which take
    /// one per ledger event they may post (a day-close chunk many, a payment with coupons five).
    #[must_use]
    pub fn timestamp_count(&self) -> u64 {
        match self {
            Request::Credit(commands) => commands.iter().map(Command::timestamp_count).sum(),
            Request::Promotions(commands) => commands
                .iter()
                .map(promotions::Command::timestamp_count)
                .sum(),
            other => other.event_count() as u64,
        }
    }

    #[must_use]
    pub fn operation_name(&self) -> &'static str {
        match self {
            Request::CreateAccounts(_) => "create_accounts",
            Request::CreateTransfers(_) => "create_transfers",
            Request::SetAccountLimits(_) => "set_account_limits",
            Request::CreatePrograms(_) => "create_programs",
            Request::Credit(_) => "credit",
            Request::CreateCampaigns(_) => "create_campaigns",
            Request::Promotions(_) => "promotions",
        }
    }
}

/// One result per event of the matching request, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    CreateAccounts(Vec<CreateAccountResult>),
    CreateTransfers(Vec<CreateTransferResult>),
    SetAccountLimits(Vec<SetLimitResult>),
    CreatePrograms(Vec<CreditResult>),
    Credit(Vec<CreditResult>),
    CreateCampaigns(Vec<PromotionResult>),
    Promotions(Vec<PromotionResult>),
}

/// One log entry: many requests coalesced by group commit, applied atomically in order.
///
/// `timestamp` is the batch's last timestamp; request `r` taking `n` timestamps
/// (`Request::timestamp_count`) takes the `n` after those of the requests before it. A batch with no requests is a pulse:
/// it only advances time (expiring due pending transfers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub timestamp: u64,
    pub requests: Vec<Request>,
}

impl Batch {
    #[must_use]
    pub fn event_count(&self) -> u64 {
        self.requests.iter().map(|r| r.event_count() as u64).sum()
    }

    #[must_use]
    pub fn timestamp_count(&self) -> u64 {
        self.requests.iter().map(Request::timestamp_count).sum()
    }
}
