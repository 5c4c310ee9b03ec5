//! The ledger state machine: validate-then-apply of accounts, transfers and limit changes.
//!
//! Invariants owned here:
//! - every rejection is decided before the first mutation of its event (the point of no return
//!   is marked in each `*_apply` function);
//! - every balance change is a debit/credit pair of the same amount, so per ledger the sum of
//!   debits equals the sum of credits, pending and posted (`check_conservation`);
//! - a linked chain applies wholly or not at all: its mutations are undone from `undo`;
//! - timestamps are strictly increasing across all events and come from the caller;
//! - hash maps are never iterated where the order could reach a result.

use std::collections::{BTreeMap, BTreeSet};

use stdx::{IdMap, id_map};

use crate::account::{Account, AccountBalance, AccountFlags, AccountLimits, LimitChange};
use crate::result::{CreateAccountResult, CreateTransferResult, SetLimitResult};
use crate::transfer::{AMOUNT_MAX, PendingStatus, Transfer, TransferFlags};

/// Marks, in the id index, an id whose transfer failed with a transient code.
const FAILED: u64 = u64::MAX;
const NS_PER_S: u64 = 1_000_000_000;
/// Expiry times must fit in 63 bits, like the reference engine's.
const TIMESTAMP_MAX: u64 = i64::MAX as u64;

pub(crate) struct AccountState {
    pub(crate) account: Account,
    pub(crate) limits: AccountLimits,
    /// Positions (in `Ledger::transfers`) of the transfers touching this account, ascending.
    pub(crate) transfers: Vec<u64>,
    /// Balances after each transfer; only for accounts with the `history` flag.
    pub(crate) history: Vec<AccountBalance>,
}

enum Undo {
    AccountCreate(u128),
    Account(Account),
    TransferPush,
    Pending(u128, Option<PendingStatus>),
    ExpiryInsert((u64, u64)),
    ExpiryRemove((u64, u64)),
}

/// A filter over one account's transfers or balance history. `timestamp_max == 0` is unbounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountFilter {
    pub account_id: u128,
    pub timestamp_min: u64,
    pub timestamp_max: u64,
    pub limit: u32,
    /// Include transfers where the account is the debit side. With `credits` both false, both.
    pub debits: bool,
    pub credits: bool,
    /// Newest first.
    pub reversed: bool,
}

/// Why a balance as of a timestamp cannot be given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BalanceAtError {
    AccountNotFound,
    HistoryNotEnabled,
    BeforeAccountCreated,
}

/// An exact sum of u128 values: `carry * 2^128 + low`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WideSum {
    pub carry: u64,
    pub low: u128,
}

impl WideSum {
    pub fn add(&mut self, value: u128) {
        let (low, overflowed) = self.low.overflowing_add(value);
        self.low = low;
        self.carry += u64::from(overflowed);
    }
}

/// Totals of one ledger, for the conservation check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LedgerTotals {
    pub debits_pending: WideSum,
    pub debits_posted: WideSum,
    pub credits_pending: WideSum,
    pub credits_posted: WideSum,
}

impl LedgerTotals {
    #[must_use]
    pub fn conserved(&self) -> bool {
        self.debits_pending == self.credits_pending && self.debits_posted == self.credits_posted
    }
}

/// The ledger: accounts, transfers, pending resolutions and indexes, all in memory.
pub struct Ledger {
    pub(crate) accounts: IdMap<u128, AccountState>,
    /// Every transfer, in timestamp order; a transfer's index here is its position.
    pub(crate) transfers: Vec<Transfer>,
    /// Transfer id to position, or `FAILED`.
    pub(crate) transfer_index: IdMap<u128, u64>,
    /// Status of every pending transfer ever created.
    pub(crate) pending: IdMap<u128, PendingStatus>,
    /// Unresolved pending transfers with a timeout, by (expires_at, position).
    pub(crate) expiry: BTreeSet<(u64, u64)>,
    pub(crate) commit_timestamp: u64,
    undo: Vec<Undo>,
    recording: bool,
}

impl Ledger {
    /// An empty ledger. `hash_key` only changes the layout of hash tables, never a result.
    #[must_use]
    pub fn new(hash_key: u64) -> Ledger {
        Ledger {
            accounts: id_map(hash_key),
            transfers: Vec::new(),
            transfer_index: id_map(hash_key),
            pending: id_map(hash_key),
            expiry: BTreeSet::new(),
            commit_timestamp: 0,
            undo: Vec::new(),
            recording: false,
        }
    }

    /// The timestamp of the last event applied.
    #[must_use]
    pub fn commit_timestamp(&self) -> u64 {
        self.commit_timestamp
    }

    #[must_use]
    pub fn account_count(&self) -> u64 {
        self.accounts.len() as u64
    }

    #[must_use]
    pub fn transfer_count(&self) -> u64 {
        self.transfers.len() as u64
    }

    /// The earliest time at which a pending transfer expires, if any: the shell uses it to
    /// schedule a `pulse` when no other traffic would advance time.
    #[must_use]
    pub fn next_expiry(&self) -> Option<u64> {
        self.expiry.first().map(|(expires_at, _)| *expires_at)
    }

    fn batch_begin(&mut self, timestamp: u64, event_count: usize) -> u64 {
        let event_count = event_count as u64;
        assert!(
            timestamp >= event_count,
            "timestamp {timestamp} too small for batch"
        );
        let first = timestamp - event_count + 1;
        assert!(
            first > self.commit_timestamp || event_count == 0,
            "timestamps must strictly increase: {first} after {}",
            self.commit_timestamp
        );
        if event_count > 0 {
            self.expire_pending(first);
        }
        first
    }

    /// Advances time with no events: expires due pending transfers.
    pub fn pulse(&mut self, timestamp: u64) {
        assert!(timestamp > self.commit_timestamp, "pulse must advance time");
        self.expire_pending(timestamp);
        self.commit_timestamp = timestamp;
    }

    /// Releases every pending transfer whose expiry is at or before `now`.
    fn expire_pending(&mut self, now: u64) {
        while let Some(&(expires_at, position)) = self.expiry.first() {
            if expires_at > now {
                break;
            }
            self.expiry.pop_first();
            let pending = self.transfers[usize_of(position)];
            let status = self.pending.insert(pending.id, PendingStatus::Expired);
            assert_eq!(status, Some(PendingStatus::Pending));
            self.release_pending(&pending, true);
        }
    }

    /// Takes a pending transfer's amount out of both pending balances; reopens the accounts it
    /// closed when `reopen`.
    fn release_pending(&mut self, pending: &Transfer, reopen: bool) {
        let dr = &mut self
            .accounts
            .get_mut(&pending.debit_account_id)
            .expect("pending dr exists")
            .account;
        dr.debits_pending = dr
            .debits_pending
            .checked_sub(pending.amount)
            .expect("pending dr");
        if reopen && pending.flags.closing_debit() {
            dr.flags.0 &= !AccountFlags::CLOSED;
        }
        let cr = &mut self
            .accounts
            .get_mut(&pending.credit_account_id)
            .expect("pending cr exists")
            .account;
        cr.credits_pending = cr
            .credits_pending
            .checked_sub(pending.amount)
            .expect("pending cr");
        if reopen && pending.flags.closing_credit() {
            cr.flags.0 &= !AccountFlags::CLOSED;
        }
    }

    /// Creates accounts. `timestamp` is the batch timestamp: event `i` of `n` gets
    /// `timestamp - n + 1 + i`. One result per event is appended to `results`.
    pub fn create_accounts(
        &mut self,
        timestamp: u64,
        accounts: &[Account],
        results: &mut Vec<CreateAccountResult>,
    ) {
        let first = self.batch_begin(timestamp, accounts.len());
        let flags = |a: &Account| a.flags.linked();
        self.run_chains(
            first,
            accounts,
            results,
            flags,
            Ledger::create_account,
            CreateAccountResult::Ok,
            CreateAccountResult::LinkedEventFailed,
            CreateAccountResult::LinkedEventChainOpen,
            |_, _, _| {},
        );
    }

    /// Creates transfers (single-phase, pending, post, void). Same timestamp rule as accounts.
    pub fn create_transfers(
        &mut self,
        timestamp: u64,
        transfers: &[Transfer],
        results: &mut Vec<CreateTransferResult>,
    ) {
        let first = self.batch_begin(timestamp, transfers.len());
        self.run_chains(
            first,
            transfers,
            results,
            |t: &Transfer| t.flags.linked(),
            Ledger::create_transfer,
            CreateTransferResult::Ok,
            CreateTransferResult::LinkedEventFailed,
            CreateTransferResult::LinkedEventChainOpen,
            |ledger: &mut Ledger, t: &Transfer, result: CreateTransferResult| {
                if result.transient() {
                    let previous = ledger.transfer_index.insert(t.id, FAILED);
                    assert!(previous.is_none(), "a transiently failed id was unused");
                }
            },
        );
    }

    /// Changes account limits. Limit changes are not linkable; each stands alone.
    pub fn set_account_limits(
        &mut self,
        timestamp: u64,
        changes: &[LimitChange],
        results: &mut Vec<SetLimitResult>,
    ) {
        let first = self.batch_begin(timestamp, changes.len());
        for (index, change) in changes.iter().enumerate() {
            results.push(self.set_account_limit(change));
            self.commit_timestamp = first + index as u64;
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one generic driver for both event kinds"
    )]
    fn run_chains<E, R: Copy + PartialEq>(
        &mut self,
        first: u64,
        events: &[E],
        results: &mut Vec<R>,
        linked: impl Fn(&E) -> bool,
        apply: fn(&mut Ledger, &E, u64) -> R,
        ok: R,
        linked_event_failed: R,
        linked_event_chain_open: R,
        on_failure: impl Fn(&mut Ledger, &E, R),
    ) {
        let results_base = results.len();
        let mut chain_start: Option<usize> = None;
        let mut chain_failed = false;
        for (index, event) in events.iter().enumerate() {
            let timestamp = first + index as u64;
            let is_linked = linked(event);
            if chain_start.is_none() && is_linked {
                chain_start = Some(index);
                chain_failed = false;
                assert!(self.undo.is_empty());
                self.recording = true;
            }
            let result = if is_linked && index == events.len() - 1 {
                linked_event_chain_open
            } else if chain_failed {
                linked_event_failed
            } else {
                apply(self, event, timestamp)
            };
            results.push(result);
            if result != ok {
                if let Some(start) = chain_start
                    && !chain_failed
                {
                    chain_failed = true;
                    self.rollback();
                    for earlier in &mut results[results_base + start..results_base + index] {
                        *earlier = linked_event_failed;
                    }
                }
                on_failure(self, event, result);
            }
            if !is_linked && chain_start.is_some() {
                chain_start = None;
                chain_failed = false;
                self.undo.clear();
                self.recording = false;
            }
            self.commit_timestamp = timestamp;
        }
        // A batch ends every chain: an open one was answered with `linked_event_chain_open`.
        self.undo.clear();
        self.recording = false;
    }

    fn rollback(&mut self) {
        while let Some(undo) = self.undo.pop() {
            match undo {
                Undo::AccountCreate(id) => {
                    self.accounts.remove(&id).expect("created account exists");
                }
                Undo::Account(account) => {
                    self.accounts
                        .get_mut(&account.id)
                        .expect("account exists")
                        .account = account;
                }
                Undo::TransferPush => {
                    let transfer = self.transfers.pop().expect("pushed transfer exists");
                    let position = self.transfers.len() as u64;
                    self.transfer_index.remove(&transfer.id).expect("indexed");
                    for id in [transfer.debit_account_id, transfer.credit_account_id] {
                        let state = self.accounts.get_mut(&id).expect("account exists");
                        assert_eq!(state.transfers.pop(), Some(position));
                        if state.account.flags.history() {
                            let row = state.history.pop().expect("history row exists");
                            assert_eq!(row.timestamp, transfer.timestamp);
                        }
                    }
                }
                Undo::Pending(id, status) => match status {
                    Some(status) => {
                        self.pending.insert(id, status);
                    }
                    None => {
                        self.pending.remove(&id).expect("pending exists");
                    }
                },
                Undo::ExpiryInsert(key) => assert!(self.expiry.remove(&key)),
                Undo::ExpiryRemove(key) => assert!(self.expiry.insert(key)),
            }
        }
    }

    fn create_account(&mut self, a: &Account, timestamp: u64) -> CreateAccountResult {
        use CreateAccountResult as R;
        if a.timestamp != 0 {
            return R::TimestampMustBeZero;
        }
        if a.reserved != 0 {
            return R::ReservedField;
        }
        if a.flags.0 & !AccountFlags::KNOWN != 0 {
            return R::ReservedFlag;
        }
        if a.id == 0 {
            return R::IdMustNotBeZero;
        }
        if a.id == u128::MAX {
            return R::IdMustNotBeIntMax;
        }
        if let Some(existing) = self.accounts.get(&a.id) {
            return create_account_exists(a, &existing.account);
        }
        if a.flags.debits_must_not_exceed_credits() && a.flags.credits_must_not_exceed_debits() {
            return R::FlagsAreMutuallyExclusive;
        }
        if a.debits_pending != 0 {
            return R::DebitsPendingMustBeZero;
        }
        if a.debits_posted != 0 {
            return R::DebitsPostedMustBeZero;
        }
        if a.credits_pending != 0 {
            return R::CreditsPendingMustBeZero;
        }
        if a.credits_posted != 0 {
            return R::CreditsPostedMustBeZero;
        }
        if a.ledger == 0 {
            return R::LedgerMustNotBeZero;
        }
        if a.code == 0 {
            return R::CodeMustNotBeZero;
        }
        // Point of no return.
        let account = Account { timestamp, ..*a };
        let state = AccountState {
            account,
            limits: AccountLimits::default(),
            transfers: Vec::new(),
            history: Vec::new(),
        };
        self.accounts.insert(a.id, state);
        if self.recording {
            self.undo.push(Undo::AccountCreate(a.id));
        }
        R::Ok
    }

    fn set_account_limit(&mut self, change: &LimitChange) -> SetLimitResult {
        use SetLimitResult as R;
        if change.account_id == 0 {
            return R::AccountIdMustNotBeZero;
        }
        if change.account_id == u128::MAX {
            return R::AccountIdMustNotBeIntMax;
        }
        if change.debit_limit.is_none() && change.credit_limit.is_none() {
            return R::LimitMustBeGiven;
        }
        let Some(state) = self.accounts.get_mut(&change.account_id) else {
            return R::AccountNotFound;
        };
        let flags = state.account.flags;
        if flags.closed() {
            return R::AccountAlreadyClosed;
        }
        if change.debit_limit.is_some() && !flags.debits_must_not_exceed_credits() {
            return R::DebitLimitRequiresDebitsMustNotExceedCredits;
        }
        if change.credit_limit.is_some() && !flags.credits_must_not_exceed_debits() {
            return R::CreditLimitRequiresCreditsMustNotExceedDebits;
        }
        // Point of no return. A limit below current use is allowed: it stops new use only.
        if let Some(limit) = change.debit_limit {
            state.limits.debit_limit = limit;
        }
        if let Some(limit) = change.credit_limit {
            state.limits.credit_limit = limit;
        }
        R::Ok
    }

    fn create_transfer(&mut self, t: &Transfer, timestamp: u64) -> CreateTransferResult {
        use CreateTransferResult as R;
        if t.timestamp != 0 {
            return R::TimestampMustBeZero;
        }
        if t.flags.0 & !TransferFlags::KNOWN != 0 {
            return R::ReservedFlag;
        }
        if t.id == 0 {
            return R::IdMustNotBeZero;
        }
        if t.id == u128::MAX {
            return R::IdMustNotBeIntMax;
        }
        if let Some(&position) = self.transfer_index.get(&t.id) {
            if position == FAILED {
                return R::IdAlreadyFailed;
            }
            let e = &self.transfers[usize_of(position)];
            let resolved = (e.flags.post_pending_transfer() || e.flags.void_pending_transfer())
                .then(|| {
                    self.lookup_transfer(e.pending_id)
                        .expect("resolved pending stored")
                });
            return create_transfer_exists(t, e, resolved.as_ref());
        }
        if t.flags.post_pending_transfer() || t.flags.void_pending_transfer() {
            return self.post_or_void_pending_transfer(t, timestamp);
        }
        if t.debit_account_id == 0 {
            return R::DebitAccountIdMustNotBeZero;
        }
        if t.debit_account_id == u128::MAX {
            return R::DebitAccountIdMustNotBeIntMax;
        }
        if t.credit_account_id == 0 {
            return R::CreditAccountIdMustNotBeZero;
        }
        if t.credit_account_id == u128::MAX {
            return R::CreditAccountIdMustNotBeIntMax;
        }
        if t.debit_account_id == t.credit_account_id {
            return R::AccountsMustBeDifferent;
        }
        if t.pending_id != 0 {
            return R::PendingIdMustBeZero;
        }
        if !t.flags.pending() && t.timeout != 0 {
            return R::TimeoutReservedForPendingTransfer;
        }
        if !t.flags.pending() && (t.flags.closing_debit() || t.flags.closing_credit()) {
            return R::ClosingTransferMustBePending;
        }
        if t.ledger == 0 {
            return R::LedgerMustNotBeZero;
        }
        if t.code == 0 {
            return R::CodeMustNotBeZero;
        }
        // One probe finds both accounts; validation and apply use the same references.
        let [dr_state, cr_state] = match self
            .accounts
            .get_disjoint_mut([&t.debit_account_id, &t.credit_account_id])
        {
            [Some(dr), Some(cr)] => [dr, cr],
            [None, _] => return R::DebitAccountNotFound,
            [Some(_), None] => return R::CreditAccountNotFound,
        };
        let (dr, cr) = (&dr_state.account, &cr_state.account);
        if dr.ledger != cr.ledger {
            return R::AccountsMustHaveTheSameLedger;
        }
        if t.ledger != dr.ledger {
            return R::TransferMustHaveTheSameLedgerAsAccounts;
        }
        if dr.flags.closed() {
            return R::DebitAccountAlreadyClosed;
        }
        if cr.flags.closed() {
            return R::CreditAccountAlreadyClosed;
        }
        let dr_ceiling = debit_ceiling(dr, &dr_state.limits);
        let cr_ceiling = credit_ceiling(cr, &cr_state.limits);
        let mut amount = t.amount;
        if t.flags.balancing_debit() {
            // Without the limit flag the ceiling is the credits posted, as in the reference.
            let ceiling = dr_ceiling.unwrap_or(dr.credits_posted);
            let used = dr.debits_pending.saturating_add(dr.debits_posted);
            amount = amount.min(ceiling.saturating_sub(used));
        }
        if t.flags.balancing_credit() {
            let ceiling = cr_ceiling.unwrap_or(cr.debits_posted);
            let used = cr.credits_pending.saturating_add(cr.credits_posted);
            amount = amount.min(ceiling.saturating_sub(used));
        }
        let pending = t.flags.pending();
        if pending {
            if dr.debits_pending.checked_add(amount).is_none() {
                return R::OverflowsDebitsPending;
            }
            if cr.credits_pending.checked_add(amount).is_none() {
                return R::OverflowsCreditsPending;
            }
        }
        if dr.debits_posted.checked_add(amount).is_none() {
            return R::OverflowsDebitsPosted;
        }
        if cr.credits_posted.checked_add(amount).is_none() {
            return R::OverflowsCreditsPosted;
        }
        let dr_debits = dr.debits_pending.checked_add(dr.debits_posted);
        let Some(dr_debits) = dr_debits.and_then(|d| d.checked_add(amount)) else {
            return R::OverflowsDebits;
        };
        let cr_credits = cr.credits_pending.checked_add(cr.credits_posted);
        let Some(cr_credits) = cr_credits.and_then(|c| c.checked_add(amount)) else {
            return R::OverflowsCredits;
        };
        let mut expires_at = None;
        if pending && t.timeout != 0 {
            let timeout_ns = u64::from(t.timeout).checked_mul(NS_PER_S);
            match timeout_ns.and_then(|ns| timestamp.checked_add(ns)) {
                Some(at) if at <= TIMESTAMP_MAX => expires_at = Some(at),
                _ => return R::OverflowsTimeout,
            }
        }
        if dr_ceiling.is_some_and(|ceiling| dr_debits > ceiling) {
            return R::ExceedsCredits;
        }
        if cr_ceiling.is_some_and(|ceiling| cr_credits > ceiling) {
            return R::ExceedsDebits;
        }

        // Point of no return.
        if self.recording {
            self.undo.push(Undo::Account(dr_state.account));
            self.undo.push(Undo::Account(cr_state.account));
            self.undo.push(Undo::TransferPush);
        }
        let (dr, cr) = (&mut dr_state.account, &mut cr_state.account);
        if pending {
            dr.debits_pending += amount;
            cr.credits_pending += amount;
        } else {
            dr.debits_posted += amount;
            cr.credits_posted += amount;
        }
        if t.flags.closing_debit() {
            dr.flags.0 |= AccountFlags::CLOSED;
        }
        if t.flags.closing_credit() {
            cr.flags.0 |= AccountFlags::CLOSED;
        }
        let stored = Transfer {
            amount,
            timestamp,
            ..*t
        };
        let position = store_transfer(
            &mut self.transfers,
            &mut self.transfer_index,
            [dr_state, cr_state],
            stored,
        );
        if pending {
            self.pending_set(t.id, PendingStatus::Pending);
            if let Some(at) = expires_at {
                self.expiry.insert((at, position));
                if self.recording {
                    self.undo.push(Undo::ExpiryInsert((at, position)));
                }
            }
        }
        R::Ok
    }

    fn post_or_void_pending_transfer(
        &mut self,
        t: &Transfer,
        timestamp: u64,
    ) -> CreateTransferResult {
        use CreateTransferResult as R;
        let post = t.flags.post_pending_transfer();
        let exclusive = TransferFlags::PENDING
            | TransferFlags::BALANCING_DEBIT
            | TransferFlags::BALANCING_CREDIT
            | TransferFlags::CLOSING_DEBIT
            | TransferFlags::CLOSING_CREDIT;
        if (post && t.flags.void_pending_transfer()) || t.flags.0 & exclusive != 0 {
            return R::FlagsAreMutuallyExclusive;
        }
        if t.debit_account_id == u128::MAX {
            return R::DebitAccountIdMustNotBeIntMax;
        }
        if t.credit_account_id == u128::MAX {
            return R::CreditAccountIdMustNotBeIntMax;
        }
        if t.debit_account_id != 0 && t.debit_account_id == t.credit_account_id {
            return R::AccountsMustBeDifferent;
        }
        if t.pending_id == 0 {
            return R::PendingIdMustNotBeZero;
        }
        if t.pending_id == u128::MAX {
            return R::PendingIdMustNotBeIntMax;
        }
        if t.pending_id == t.id {
            return R::PendingIdMustBeDifferent;
        }
        if t.timeout != 0 {
            return R::TimeoutReservedForPendingTransfer;
        }
        let p = match self.transfer_index.get(&t.pending_id) {
            Some(&position) if position != FAILED => self.transfers[usize_of(position)],
            _ => return R::PendingTransferNotFound,
        };
        if !p.flags.pending() {
            return R::PendingTransferNotPending;
        }
        if t.debit_account_id != 0 && t.debit_account_id != p.debit_account_id {
            return R::PendingTransferHasDifferentDebitAccountId;
        }
        if t.credit_account_id != 0 && t.credit_account_id != p.credit_account_id {
            return R::PendingTransferHasDifferentCreditAccountId;
        }
        if t.ledger != 0 && t.ledger != p.ledger {
            return R::PendingTransferHasDifferentLedger;
        }
        if t.code != 0 && t.code != p.code {
            return R::PendingTransferHasDifferentCode;
        }
        let amount = if post {
            if t.amount == AMOUNT_MAX {
                p.amount
            } else if t.amount > p.amount {
                return R::ExceedsPendingTransferAmount;
            } else {
                t.amount
            }
        } else {
            if t.amount > p.amount {
                return R::ExceedsPendingTransferAmount;
            }
            if t.amount != 0 && t.amount != p.amount {
                return R::PendingTransferHasDifferentAmount;
            }
            p.amount
        };
        match self
            .pending
            .get(&p.id)
            .copied()
            .expect("pending transfers have a status")
        {
            PendingStatus::Pending => {}
            PendingStatus::Posted => return R::PendingTransferAlreadyPosted,
            PendingStatus::Voided => return R::PendingTransferAlreadyVoided,
            PendingStatus::Expired => return R::PendingTransferExpired,
        }
        let expires_at = pending_expires_at(&p);
        if expires_at.is_some_and(|at| timestamp >= at) {
            return R::PendingTransferExpired;
        }
        let dr = self
            .accounts
            .get(&p.debit_account_id)
            .expect("pending dr exists")
            .account;
        let cr = self
            .accounts
            .get(&p.credit_account_id)
            .expect("pending cr exists")
            .account;
        if post {
            // A closed account takes no movement but a void, even of the transfer that closed it.
            if dr.flags.closed() {
                return R::DebitAccountAlreadyClosed;
            }
            if cr.flags.closed() {
                return R::CreditAccountAlreadyClosed;
            }
            if dr.debits_posted.checked_add(amount).is_none() {
                return R::OverflowsDebitsPosted;
            }
            if cr.credits_posted.checked_add(amount).is_none() {
                return R::OverflowsCreditsPosted;
            }
        }

        // Point of no return.
        let [Some(dr_state), Some(cr_state)] = self
            .accounts
            .get_disjoint_mut([&p.debit_account_id, &p.credit_account_id])
        else {
            unreachable!("a pending transfer's accounts exist and differ");
        };
        if self.recording {
            self.undo.push(Undo::Account(dr_state.account));
            self.undo.push(Undo::Account(cr_state.account));
            self.undo.push(Undo::TransferPush);
        }
        let (dr, cr) = (&mut dr_state.account, &mut cr_state.account);
        dr.debits_pending -= p.amount;
        cr.credits_pending -= p.amount;
        if post {
            dr.debits_posted += amount;
            cr.credits_posted += amount;
        } else {
            // Voiding a closing transfer reopens what it closed.
            if p.flags.closing_debit() {
                dr.flags.0 &= !AccountFlags::CLOSED;
            }
            if p.flags.closing_credit() {
                cr.flags.0 &= !AccountFlags::CLOSED;
            }
        }
        let stored = Transfer {
            id: t.id,
            debit_account_id: p.debit_account_id,
            credit_account_id: p.credit_account_id,
            amount,
            pending_id: t.pending_id,
            user_data_128: inherit(t.user_data_128, p.user_data_128),
            user_data_64: inherit(t.user_data_64, p.user_data_64),
            user_data_32: inherit(t.user_data_32, p.user_data_32),
            timeout: 0,
            ledger: p.ledger,
            code: p.code,
            flags: t.flags,
            timestamp,
        };
        let pending_position = *self.transfer_index.get(&p.id).expect("pending indexed");
        store_transfer(
            &mut self.transfers,
            &mut self.transfer_index,
            [dr_state, cr_state],
            stored,
        );
        let status = if post {
            PendingStatus::Posted
        } else {
            PendingStatus::Voided
        };
        self.pending_set(p.id, status);
        if let Some(at) = expires_at {
            assert!(self.expiry.remove(&(at, pending_position)));
            if self.recording {
                self.undo.push(Undo::ExpiryRemove((at, pending_position)));
            }
        }
        R::Ok
    }

    fn pending_set(&mut self, id: u128, status: PendingStatus) {
        let previous = self.pending.insert(id, status);
        if self.recording {
            self.undo.push(Undo::Pending(id, previous));
        }
    }

    // Lookups. These read committed state only; they never change it.

    #[must_use]
    pub fn lookup_account(&self, id: u128) -> Option<(Account, AccountLimits)> {
        self.accounts
            .get(&id)
            .map(|state| (state.account, state.limits))
    }

    #[must_use]
    pub fn lookup_transfer(&self, id: u128) -> Option<Transfer> {
        match self.transfer_index.get(&id) {
            Some(&position) if position != FAILED => Some(self.transfers[usize_of(position)]),
            _ => None,
        }
    }

    /// The status of a pending transfer, or `None` if `id` is not a pending transfer.
    #[must_use]
    pub fn pending_status(&self, id: u128) -> Option<PendingStatus> {
        self.pending.get(&id).copied()
    }

    /// The account's transfers in the filter's range, oldest first unless `reversed`.
    #[must_use]
    pub fn get_account_transfers(&self, filter: &AccountFilter) -> Vec<Transfer> {
        let Some(state) = self.accounts.get(&filter.account_id) else {
            return Vec::new();
        };
        let (min, max) = filter_range(filter);
        let start = state
            .transfers
            .partition_point(|&p| self.transfers[usize_of(p)].timestamp < min);
        let end = state
            .transfers
            .partition_point(|&p| self.transfers[usize_of(p)].timestamp <= max);
        let both = filter.debits == filter.credits;
        let keep = |t: &Transfer| {
            both || (filter.debits && t.debit_account_id == filter.account_id)
                || (filter.credits && t.credit_account_id == filter.account_id)
        };
        let positions = &state.transfers[start..end.max(start)];
        let limit = filter.limit as usize;
        let pick = |p: &u64| Some(self.transfers[usize_of(*p)]).filter(keep);
        if filter.reversed {
            positions
                .iter()
                .rev()
                .filter_map(pick)
                .take(limit)
                .collect()
        } else {
            positions.iter().filter_map(pick).take(limit).collect()
        }
    }

    /// The account's balance after each transfer in range (accounts with `history` only).
    #[must_use]
    pub fn get_account_balances(&self, filter: &AccountFilter) -> Vec<AccountBalance> {
        let Some(state) = self.accounts.get(&filter.account_id) else {
            return Vec::new();
        };
        let (min, max) = filter_range(filter);
        let both = filter.debits == filter.credits;
        let mut rows = Vec::new();
        let start = state.history.partition_point(|row| row.timestamp < min);
        let end = state
            .history
            .partition_point(|row| row.timestamp <= max)
            .max(start);
        let keep = |row: &AccountBalance| {
            if both {
                return true;
            }
            let transfer = self.transfer_at_timestamp(state, row.timestamp);
            (filter.debits && transfer.debit_account_id == filter.account_id)
                || (filter.credits && transfer.credit_account_id == filter.account_id)
        };
        let limit = filter.limit as usize;
        if filter.reversed {
            rows.extend(
                state.history[start..end]
                    .iter()
                    .rev()
                    .filter(|r| keep(r))
                    .take(limit),
            );
        } else {
            rows.extend(
                state.history[start..end]
                    .iter()
                    .filter(|r| keep(r))
                    .take(limit),
            );
        }
        rows
    }

    fn transfer_at_timestamp(&self, state: &AccountState, timestamp: u64) -> Transfer {
        let index = state
            .transfers
            .partition_point(|&p| self.transfers[usize_of(p)].timestamp < timestamp);
        let transfer = self.transfers[usize_of(state.transfers[index])];
        assert_eq!(transfer.timestamp, timestamp);
        transfer
    }

    /// The account's balances as of `timestamp`: after every transfer at or before it. Needs the
    /// `history` flag. Pending amounts released by expiry are not reflected (as in the reference).
    pub fn balance_at(
        &self,
        account_id: u128,
        timestamp: u64,
    ) -> Result<AccountBalance, BalanceAtError> {
        let state = self
            .accounts
            .get(&account_id)
            .ok_or(BalanceAtError::AccountNotFound)?;
        if !state.account.flags.history() {
            return Err(BalanceAtError::HistoryNotEnabled);
        }
        if timestamp < state.account.timestamp {
            return Err(BalanceAtError::BeforeAccountCreated);
        }
        let index = state
            .history
            .partition_point(|row| row.timestamp <= timestamp);
        Ok(match index.checked_sub(1) {
            Some(last) => AccountBalance {
                timestamp,
                ..state.history[last]
            },
            // The opening balance: zero since creation.
            None => AccountBalance {
                timestamp,
                ..AccountBalance::default()
            },
        })
    }

    /// Sums every account's balances per ledger, exactly (with a carry word: a sum of u128
    /// balances can exceed u128).
    #[must_use]
    pub fn ledger_totals(&self) -> BTreeMap<u32, LedgerTotals> {
        let mut totals: BTreeMap<u32, LedgerTotals> = BTreeMap::new();
        for state in self.accounts.values() {
            let a = &state.account;
            let entry = totals.entry(a.ledger).or_default();
            entry.debits_pending.add(a.debits_pending);
            entry.debits_posted.add(a.debits_posted);
            entry.credits_pending.add(a.credits_pending);
            entry.credits_posted.add(a.credits_posted);
        }
        totals
    }

    /// Asserts that per ledger the sum of debits equals the sum of credits, pending and posted.
    /// O(accounts): for tests, recovery and audits, not for every batch.
    pub fn check_conservation(&self) {
        for (ledger, t) in &self.ledger_totals() {
            assert!(
                t.conserved(),
                "debits and credits differ on ledger {ledger}: {t:?}"
            );
        }
    }
}

/// Stores a validated transfer whose balance effects are already applied, and indexes it under
/// its id and under both accounts (with a balance row for history accounts). The caller records
/// `Undo::TransferPush` when inside a chain.
fn store_transfer(
    transfers: &mut Vec<Transfer>,
    transfer_index: &mut IdMap<u128, u64>,
    accounts: [&mut AccountState; 2],
    transfer: Transfer,
) -> u64 {
    let position = transfers.len() as u64;
    assert!(transfer.timestamp > transfers.last().map_or(0, |t| t.timestamp));
    transfers.push(transfer);
    for state in accounts {
        state.transfers.push(position);
        if state.account.flags.history() {
            state
                .history
                .push(AccountBalance::of(&state.account, transfer.timestamp));
        }
    }
    let previous = transfer_index.insert(transfer.id, position);
    assert!(previous.is_none(), "transfer ids are unique");
    position
}

/// A post or void's field: zero means "the pending transfer's".
fn inherit<T: PartialEq + Default>(given: T, from: T) -> T {
    if given == T::default() { from } else { given }
}

/// The most an account's debits may reach, if its debits are limited.
fn debit_ceiling(account: &Account, limits: &AccountLimits) -> Option<u128> {
    account
        .flags
        .debits_must_not_exceed_credits()
        .then(|| account.credits_posted.saturating_add(limits.debit_limit))
}

/// The most an account's credits may reach, if its credits are limited.
fn credit_ceiling(account: &Account, limits: &AccountLimits) -> Option<u128> {
    account
        .flags
        .credits_must_not_exceed_debits()
        .then(|| account.debits_posted.saturating_add(limits.credit_limit))
}

fn pending_expires_at(p: &Transfer) -> Option<u64> {
    (p.timeout != 0).then(|| p.timestamp + u64::from(p.timeout) * NS_PER_S)
}

fn filter_range(filter: &AccountFilter) -> (u64, u64) {
    let max = if filter.timestamp_max == 0 {
        u64::MAX
    } else {
        filter.timestamp_max
    };
    (filter.timestamp_min, max)
}

#[inline]
fn usize_of(position: u64) -> usize {
    usize::try_from(position).expect("positions fit in memory")
}

fn create_account_exists(a: &Account, e: &Account) -> CreateAccountResult {
    use CreateAccountResult as R;
    // `closed` may have been set since creation by a closing transfer; compare the rest.
    let mask = !AccountFlags::CLOSED;
    if a.flags.0 & mask != e.flags.0 & mask {
        return R::ExistsWithDifferentFlags;
    }
    if a.user_data_128 != e.user_data_128 {
        return R::ExistsWithDifferentUserData128;
    }
    if a.user_data_64 != e.user_data_64 {
        return R::ExistsWithDifferentUserData64;
    }
    if a.user_data_32 != e.user_data_32 {
        return R::ExistsWithDifferentUserData32;
    }
    if a.ledger != e.ledger {
        return R::ExistsWithDifferentLedger;
    }
    if a.code != e.code {
        return R::ExistsWithDifferentCode;
    }
    R::Exists
}

/// `p` is the pending transfer `e` resolved, when `e` is a post or void.
fn create_transfer_exists(
    t: &Transfer,
    e: &Transfer,
    p: Option<&Transfer>,
) -> CreateTransferResult {
    use CreateTransferResult as R;
    if t.flags != e.flags {
        return R::ExistsWithDifferentFlags;
    }
    if t.pending_id != e.pending_id {
        return R::ExistsWithDifferentPendingId;
    }
    if t.timeout != e.timeout {
        return R::ExistsWithDifferentTimeout;
    }
    // Posts and voids inherit zero fields from their pending transfer.
    let resolves = e.flags.post_pending_transfer() || e.flags.void_pending_transfer();
    let differs = |given: u128, stored: u128| {
        if resolves {
            given != 0 && given != stored
        } else {
            given != stored
        }
    };
    if differs(t.debit_account_id, e.debit_account_id) {
        return R::ExistsWithDifferentDebitAccountId;
    }
    if differs(t.credit_account_id, e.credit_account_id) {
        return R::ExistsWithDifferentCreditAccountId;
    }
    let amount_differs = if e.flags.balancing_debit() || e.flags.balancing_credit() {
        // The stored amount was clamped from at most the requested one.
        t.amount < e.amount
    } else if e.flags.post_pending_transfer() {
        if t.amount == AMOUNT_MAX {
            // The whole pending amount, which a partial post did not take.
            p.is_some_and(|p| e.amount != p.amount)
        } else {
            t.amount != e.amount
        }
    } else if e.flags.void_pending_transfer() {
        t.amount != 0 && t.amount != e.amount
    } else {
        t.amount != e.amount
    };
    if amount_differs {
        return R::ExistsWithDifferentAmount;
    }
    // User data given as zero means the pending transfer's, which the stored one may not have.
    let user_data_differs = |given: u128, stored: u128, pending: Option<u128>| match pending {
        Some(pending) if given == 0 => stored != pending,
        _ => given != stored,
    };
    if user_data_differs(t.user_data_128, e.user_data_128, p.map(|p| p.user_data_128)) {
        return R::ExistsWithDifferentUserData128;
    }
    let u64_of = |p: &Transfer| u128::from(p.user_data_64);
    if user_data_differs(t.user_data_64.into(), e.user_data_64.into(), p.map(u64_of)) {
        return R::ExistsWithDifferentUserData64;
    }
    let u32_of = |p: &Transfer| u128::from(p.user_data_32);
    if user_data_differs(t.user_data_32.into(), e.user_data_32.into(), p.map(u32_of)) {
        return R::ExistsWithDifferentUserData32;
    }
    if differs(u128::from(t.ledger), u128::from(e.ledger)) {
        return R::ExistsWithDifferentLedger;
    }
    if differs(u128::from(t.code), u128::from(e.code)) {
        return R::ExistsWithDifferentCode;
    }
    R::Exists
}
