//! The auditor: an independent model of the ledger, fed the same batches as the node, that
//! predicts every result code and every balance.
//!
//! It shares nothing with `ledger`'s or `engine`'s implementation, only their public record types
//! and result-code enums (R5 in the house style: a model that reuses the implementation proves
//! nothing). It is written from the documented semantics (`docs/result-codes.md` for
//! precedence, ARCHITECTURE.md "Ledger semantics", `../shared/domain/ledger-semantics.md`) in
//! the plainest form: `BTreeMap`s, no indexes, no eviction, whole-struct copies for undo.
//!
//! It covers what the workload sends: account creations, single-phase, pending, post and void
//! transfers, expiry by timeout, balancing and closing transfers, linked chains, limit changes,
//! retries (`exists*`, `id_already_failed`), managed accounts and reserved ids, and the
//! validation failures the workload plants. Amounts are small, except a few near
//! `u128::MAX / 4` that make balances overflow.
//!
//! Credit programs and commands are modelled in `auditor/credit_model.rs` on top of this ledger
//! model: every transfer the credit engine posts goes through the same `create_transfer` here,
//! as the engine's postings go through the real ledger. Promotions campaigns and commands are
//! modelled in `auditor/promotions_model.rs` the same way; a payment on a credit line goes
//! through the credit model with the coupon holds linked before the line's own transfer.

pub mod credit_model;
pub mod plans_model;
pub mod promotions_model;

use std::collections::{BTreeMap, BTreeSet};

use engine::{Batch, Reply, Request};
use ledger::{
    AMOUNT_MAX, Account, AccountFlags, CreateAccountResult, CreateTransferResult, LimitChange,
    PendingStatus, RESERVED_ID_MIN, SetLimitResult, Transfer, TransferFlags,
};

pub use credit_model::{CreditModel, ModelLine, ModelPurchase, available, net_balance};
pub use promotions_model::PromotionsModel;

const NS_PER_S: u64 = 1_000_000_000;
/// Expiry times must fit in 63 bits.
const EXPIRES_AT_MAX: u64 = i64::MAX as u64;

/// An account as the model keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelAccount {
    pub account: Account,
    pub debit_limit: u128,
    pub credit_limit: u128,
}

/// A pending transfer's fate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    pub status: PendingStatus,
    pub expires_at: Option<u64>,
}

enum Undo {
    Account(u128, Option<ModelAccount>),
    Transfer(u128),
    Pending(u128, Option<Pending>),
}

/// An exact sum of u128 balances: `(carry, low)` means `carry * 2^128 + low`.
pub type Sum = (u64, u128);

fn sum_add(sum: &mut Sum, value: u128) {
    let (low, carried) = sum.1.overflowing_add(value);
    *sum = (sum.0 + u64::from(carried), low);
}

/// Per-ledger sums of all balances, exact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub debits_pending: Sum,
    pub debits_posted: Sum,
    pub credits_pending: Sum,
    pub credits_posted: Sum,
}

/// The model state.
#[derive(Default)]
pub struct Auditor {
    pub accounts: BTreeMap<u128, ModelAccount>,
    /// Every stored transfer by id, as stored (actual amount, inherited fields, timestamp).
    pub transfers: BTreeMap<u128, Transfer>,
    /// Every pending transfer ever stored, by id.
    pub pending: BTreeMap<u128, Pending>,
    /// Ids of transfers that failed with a transient code: spent.
    pub failed: BTreeSet<u128>,
    /// The op of the last batch applied.
    pub op: u64,
    /// The credit engine's state.
    pub credit: CreditModel,
    /// The promotions engine's state.
    pub promotions: PromotionsModel,
    /// The timestamp of the last batch applied (engine time).
    pub timestamp: u64,
    /// Transfers another product module (promotions) links before the one transfer of the
    /// credit command being executed, and which of them failed (`credit_model::credit_linked`).
    credit_prefix: Vec<Transfer>,
    prefix_failure: Option<usize>,
    /// The timestamp of the last ledger event or pulse: the engine pulses at the end of a
    /// batch whose credit commands left timestamps unused, which expires what is due by then.
    ledger_time: u64,
    /// The credit engine is posting: reserved ids and managed accounts are allowed.
    engine_posting: bool,
    undo: Option<Vec<Undo>>,
}

impl Auditor {
    #[must_use]
    pub fn new() -> Auditor {
        Auditor::default()
    }

    /// Applies batch `op` and returns the replies the node must have given.
    pub fn apply(&mut self, op: u64, batch: &Batch) -> Vec<Reply> {
        assert_eq!(op, self.op + 1, "the auditor is fed every batch in order");
        self.op = op;
        self.timestamp = batch.timestamp;
        if batch.requests.is_empty() {
            self.pulse(batch.timestamp);
            return Vec::new();
        }
        // Requests take the timestamps up to the batch's, in order: one per event, except credit
        // and promotions commands, which take one per ledger event they may post.
        let mut next = batch.timestamp - batch.timestamp_count() + 1;
        let mut replies = Vec::with_capacity(batch.requests.len());
        for request in &batch.requests {
            let first = next;
            next += request.timestamp_count();
            // Due pending transfers expire before each ledger request (credit commands: before
            // each ledger event they post).
            if matches!(
                request,
                Request::CreateAccounts(_)
                    | Request::CreateTransfers(_)
                    | Request::SetAccountLimits(_)
            ) {
                self.expire(first);
                self.ledger_time = next - 1;
            }
            let reply = if let Request::CreateAccounts(accounts) = request {
                Reply::CreateAccounts(self.chains(
                    accounts,
                    first,
                    |a| a.flags.linked(),
                    |a| a.id,
                    Auditor::create_account,
                    CreateAccountResult::Ok,
                    CreateAccountResult::LinkedEventFailed,
                    CreateAccountResult::LinkedEventChainOpen,
                ))
            } else if let Request::CreateTransfers(transfers) = request {
                Reply::CreateTransfers(self.chains(
                    transfers,
                    first,
                    |t| t.flags.linked(),
                    |t| t.id,
                    Auditor::create_transfer,
                    CreateTransferResult::Ok,
                    CreateTransferResult::LinkedEventFailed,
                    CreateTransferResult::LinkedEventChainOpen,
                ))
            } else if let Request::SetAccountLimits(changes) = request {
                Reply::SetAccountLimits(changes.iter().map(|c| self.set_limits(c)).collect())
            } else if let Request::CreatePrograms(programs) = request {
                Reply::CreatePrograms(programs.iter().map(|p| self.create_program(p)).collect())
            } else if let Request::Credit(commands) = request {
                let mut first = first;
                let mut results = Vec::with_capacity(commands.len());
                for command in commands {
                    results.push(self.credit_command(first, command));
                    first += command.timestamp_count();
                }
                Reply::Credit(results)
            } else if let Request::CreateCampaigns(campaigns) = request {
                Reply::CreateCampaigns(
                    campaigns
                        .iter()
                        .zip(first..)
                        .map(|(campaign, timestamp)| self.create_campaign(timestamp, campaign))
                        .collect(),
                )
            } else if let Request::Promotions(commands) = request {
                let mut first = first;
                let mut results = Vec::with_capacity(commands.len());
                for command in commands {
                    results.push(self.promotions_command(first, command));
                    first += promotions_model::ticks_of(command);
                }
                Reply::Promotions(results)
            } else {
                panic!(
                    "the workload sends no {} requests",
                    request.operation_name()
                );
            };
            replies.push(reply);
        }
        // Time reaches the batch's timestamp even where credit commands left some unused, and
        // everything due by then expires at the end of the batch (`Ledger::advance_to`).
        self.pulse(batch.timestamp);
        replies
    }

    /// Time advances with no event: due pending transfers expire.
    fn pulse(&mut self, timestamp: u64) {
        self.expire(timestamp);
        self.ledger_time = timestamp;
    }

    /// Per-ledger totals of every account's balances.
    #[must_use]
    pub fn totals(&self) -> BTreeMap<u32, Totals> {
        let mut totals: BTreeMap<u32, Totals> = BTreeMap::new();
        for model in self.accounts.values() {
            let a = &model.account;
            let t = totals.entry(a.ledger).or_default();
            sum_add(&mut t.debits_pending, a.debits_pending);
            sum_add(&mut t.debits_posted, a.debits_posted);
            sum_add(&mut t.credits_pending, a.credits_pending);
            sum_add(&mut t.credits_posted, a.credits_posted);
        }
        totals
    }

    /// Ids of pending transfers not yet posted, voided or expired.
    #[must_use]
    pub fn open_pending(&self) -> Vec<u128> {
        self.pending
            .iter()
            .filter(|(_, p)| p.status == PendingStatus::Pending)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Releases every pending transfer that expires at or before `now`, and lets go every
    /// checkout whose holds expire with them (`docs/promotions.md`: promotions releases the
    /// coupons and reservations at the same engine time the ledger expires the holds).
    fn expire(&mut self, now: u64) {
        self.promotions.expire(now);
        let due: Vec<u128> = self
            .pending
            .iter()
            .filter(|(_, p)| {
                p.status == PendingStatus::Pending && p.expires_at.is_some_and(|at| at <= now)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let p = self.transfers[&id];
            self.pending.get_mut(&id).expect("due exists").status = PendingStatus::Expired;
            let dr = &mut self
                .accounts
                .get_mut(&p.debit_account_id)
                .expect("dr")
                .account;
            dr.debits_pending -= p.amount;
            if p.flags.closing_debit() {
                dr.flags.0 &= !AccountFlags::CLOSED;
            }
            let cr = &mut self
                .accounts
                .get_mut(&p.credit_account_id)
                .expect("cr")
                .account;
            cr.credits_pending -= p.amount;
            if p.flags.closing_credit() {
                cr.flags.0 &= !AccountFlags::CLOSED;
            }
        }
    }

    /// Runs the events of one request as linked chains: a chain is a run of linked events and
    /// the event after them; it applies wholly or not at all.
    #[expect(clippy::too_many_arguments, reason = "one driver for two event kinds")]
    fn chains<E, R: Copy + PartialEq + Transient>(
        &mut self,
        events: &[E],
        first: u64,
        linked: impl Fn(&E) -> bool,
        id_of: impl Fn(&E) -> u128,
        apply: fn(&mut Auditor, &E, u64) -> R,
        ok: R,
        linked_event_failed: R,
        chain_open: R,
    ) -> Vec<R> {
        let mut results: Vec<R> = Vec::with_capacity(events.len());
        // Index of the chain's first event and whether it failed already.
        let mut chain: Option<(usize, bool)> = None;
        for (index, event) in events.iter().enumerate() {
            let timestamp = first + index as u64;
            let is_linked = linked(event);
            if chain.is_none() && is_linked {
                chain = Some((index, false));
                self.undo = Some(Vec::new());
            }
            let result = if is_linked && index + 1 == events.len() {
                chain_open
            } else if chain.is_some_and(|(_, failed)| failed) {
                linked_event_failed
            } else {
                apply(self, event, timestamp)
            };
            results.push(result);
            if result != ok {
                if let Some((start, failed)) = &mut chain
                    && !*failed
                {
                    *failed = true;
                    self.rollback();
                    for earlier in &mut results[*start..index] {
                        *earlier = linked_event_failed;
                    }
                }
                if result.transient() {
                    assert!(
                        self.failed.insert(id_of(event)),
                        "a transient failure of a spent id"
                    );
                }
            }
            if !is_linked && chain.is_some() {
                chain = None;
                self.undo = None;
            }
        }
        self.undo = None;
        results
    }

    fn rollback(&mut self) {
        let undo = self.undo.replace(Vec::new()).expect("inside a chain");
        for entry in undo.into_iter().rev() {
            match entry {
                Undo::Account(id, Some(before)) => {
                    self.accounts.insert(id, before);
                }
                Undo::Account(id, None) => {
                    self.accounts.remove(&id);
                }
                Undo::Transfer(id) => {
                    self.transfers.remove(&id);
                }
                Undo::Pending(id, Some(before)) => {
                    self.pending.insert(id, before);
                }
                Undo::Pending(id, None) => {
                    self.pending.remove(&id);
                }
            }
        }
    }

    fn save_account(&mut self, id: u128) {
        if let Some(undo) = &mut self.undo {
            undo.push(Undo::Account(id, self.accounts.get(&id).copied()));
        }
    }

    fn save_pending(&mut self, id: u128) {
        if let Some(undo) = &mut self.undo {
            undo.push(Undo::Pending(id, self.pending.get(&id).copied()));
        }
    }

    fn store_transfer(&mut self, transfer: Transfer) {
        if let Some(undo) = &mut self.undo {
            undo.push(Undo::Transfer(transfer.id));
        }
        let previous = self.transfers.insert(transfer.id, transfer);
        assert!(previous.is_none(), "ids are unique");
    }

    fn create_account(&mut self, a: &Account, timestamp: u64) -> CreateAccountResult {
        use CreateAccountResult as R;
        let known = AccountFlags::LINKED
            | AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS
            | AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS
            | AccountFlags::HISTORY
            | AccountFlags::CLOSED
            | AccountFlags::MANAGED;
        if a.timestamp != 0 {
            return R::TimestampMustBeZero;
        }
        if a.reserved != 0 {
            return R::ReservedField;
        }
        if a.flags.0 & !known != 0 {
            return R::ReservedFlag;
        }
        if a.id == 0 {
            return R::IdMustNotBeZero;
        }
        if a.id == u128::MAX {
            return R::IdMustNotBeIntMax;
        }
        if let Some(existing) = self.accounts.get(&a.id) {
            let e = &existing.account;
            // `closed` may have changed since creation.
            let flags = |f: AccountFlags| f.0 & !AccountFlags::CLOSED;
            return if flags(a.flags) != flags(e.flags) {
                R::ExistsWithDifferentFlags
            } else if a.user_data_128 != e.user_data_128 {
                R::ExistsWithDifferentUserData128
            } else if a.user_data_64 != e.user_data_64 {
                R::ExistsWithDifferentUserData64
            } else if a.user_data_32 != e.user_data_32 {
                R::ExistsWithDifferentUserData32
            } else if a.ledger != e.ledger {
                R::ExistsWithDifferentLedger
            } else if a.code != e.code {
                R::ExistsWithDifferentCode
            } else {
                R::Exists
            };
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
        self.save_account(a.id);
        self.accounts.insert(
            a.id,
            ModelAccount {
                account: Account { timestamp, ..*a },
                debit_limit: 0,
                credit_limit: 0,
            },
        );
        R::Ok
    }

    fn set_limits(&mut self, change: &LimitChange) -> SetLimitResult {
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
        let Some(model) = self.accounts.get_mut(&change.account_id) else {
            return R::AccountNotFound;
        };
        let flags = model.account.flags;
        if flags.closed() {
            return R::AccountAlreadyClosed;
        }
        if change.debit_limit.is_some() && !flags.debits_must_not_exceed_credits() {
            return R::DebitLimitRequiresDebitsMustNotExceedCredits;
        }
        if change.credit_limit.is_some() && !flags.credits_must_not_exceed_debits() {
            return R::CreditLimitRequiresCreditsMustNotExceedDebits;
        }
        if let Some(limit) = change.debit_limit {
            model.debit_limit = limit;
        }
        if let Some(limit) = change.credit_limit {
            model.credit_limit = limit;
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
        if t.id >= RESERVED_ID_MIN && !self.engine_posting {
            return R::IdMustNotBeReserved;
        }
        if let Some(existing) = self.transfers.get(&t.id) {
            let resolved = self.transfers.get(&existing.pending_id);
            return transfer_exists(t, existing, resolved);
        }
        if self.failed.contains(&t.id) {
            return R::IdAlreadyFailed;
        }
        if t.flags.post_pending_transfer() || t.flags.void_pending_transfer() {
            return self.post_or_void(t, timestamp);
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
        let pending = t.flags.pending();
        if !pending && t.timeout != 0 {
            return R::TimeoutReservedForPendingTransfer;
        }
        if !pending && (t.flags.closing_debit() || t.flags.closing_credit()) {
            return R::ClosingTransferMustBePending;
        }
        if t.ledger == 0 {
            return R::LedgerMustNotBeZero;
        }
        if t.code == 0 {
            return R::CodeMustNotBeZero;
        }
        let Some(dr) = self.accounts.get(&t.debit_account_id).copied() else {
            return R::DebitAccountNotFound;
        };
        let Some(cr) = self.accounts.get(&t.credit_account_id).copied() else {
            return R::CreditAccountNotFound;
        };
        let (dra, cra) = (dr.account, cr.account);
        if dra.ledger != cra.ledger {
            return R::AccountsMustHaveTheSameLedger;
        }
        if t.ledger != dra.ledger {
            return R::TransferMustHaveTheSameLedgerAsAccounts;
        }
        if dra.flags.closed() {
            return R::DebitAccountAlreadyClosed;
        }
        if cra.flags.closed() {
            return R::CreditAccountAlreadyClosed;
        }
        if !self.engine_posting && (dra.flags.managed() || cra.flags.managed()) {
            return R::AccountIsManaged;
        }
        // The most the debits (credits) may reach, when the account limits them.
        let dr_ceiling = dra
            .flags
            .debits_must_not_exceed_credits()
            .then(|| dra.credits_posted.saturating_add(dr.debit_limit));
        let cr_ceiling = cra
            .flags
            .credits_must_not_exceed_debits()
            .then(|| cra.debits_posted.saturating_add(cr.credit_limit));
        let mut amount = t.amount;
        if t.flags.balancing_debit() {
            let ceiling = dr_ceiling.unwrap_or(dra.credits_posted);
            let used = dra.debits_pending.saturating_add(dra.debits_posted);
            amount = amount.min(ceiling.saturating_sub(used));
        }
        if t.flags.balancing_credit() {
            let ceiling = cr_ceiling.unwrap_or(cra.debits_posted);
            let used = cra.credits_pending.saturating_add(cra.credits_posted);
            amount = amount.min(ceiling.saturating_sub(used));
        }
        if pending && dra.debits_pending.checked_add(amount).is_none() {
            return R::OverflowsDebitsPending;
        }
        if pending && cra.credits_pending.checked_add(amount).is_none() {
            return R::OverflowsCreditsPending;
        }
        if dra.debits_posted.checked_add(amount).is_none() {
            return R::OverflowsDebitsPosted;
        }
        if cra.credits_posted.checked_add(amount).is_none() {
            return R::OverflowsCreditsPosted;
        }
        let Some(dr_debits) = dra
            .debits_pending
            .checked_add(dra.debits_posted)
            .and_then(|d| d.checked_add(amount))
        else {
            return R::OverflowsDebits;
        };
        let Some(cr_credits) = cra
            .credits_pending
            .checked_add(cra.credits_posted)
            .and_then(|c| c.checked_add(amount))
        else {
            return R::OverflowsCredits;
        };
        let mut expires_at = None;
        if pending && t.timeout != 0 {
            let at = u64::from(t.timeout)
                .checked_mul(NS_PER_S)
                .and_then(|ns| timestamp.checked_add(ns))
                .filter(|at| *at <= EXPIRES_AT_MAX);
            let Some(at) = at else {
                return R::OverflowsTimeout;
            };
            expires_at = Some(at);
        }
        if dr_ceiling.is_some_and(|ceiling| dr_debits > ceiling) {
            return R::ExceedsCredits;
        }
        if cr_ceiling.is_some_and(|ceiling| cr_credits > ceiling) {
            return R::ExceedsDebits;
        }
        self.save_account(t.debit_account_id);
        self.save_account(t.credit_account_id);
        let dr = &mut self
            .accounts
            .get_mut(&t.debit_account_id)
            .expect("dr")
            .account;
        if pending {
            dr.debits_pending += amount;
        } else {
            dr.debits_posted += amount;
        }
        if t.flags.closing_debit() {
            dr.flags.0 |= AccountFlags::CLOSED;
        }
        let cr = &mut self
            .accounts
            .get_mut(&t.credit_account_id)
            .expect("cr")
            .account;
        if pending {
            cr.credits_pending += amount;
        } else {
            cr.credits_posted += amount;
        }
        if t.flags.closing_credit() {
            cr.flags.0 |= AccountFlags::CLOSED;
        }
        self.store_transfer(Transfer {
            amount,
            timestamp,
            ..*t
        });
        if pending {
            self.save_pending(t.id);
            self.pending.insert(
                t.id,
                Pending {
                    status: PendingStatus::Pending,
                    expires_at,
                },
            );
        }
        R::Ok
    }

    fn post_or_void(&mut self, t: &Transfer, timestamp: u64) -> CreateTransferResult {
        use CreateTransferResult as R;
        let post = t.flags.post_pending_transfer();
        let excluded = TransferFlags::PENDING
            | TransferFlags::BALANCING_DEBIT
            | TransferFlags::BALANCING_CREDIT
            | TransferFlags::CLOSING_DEBIT
            | TransferFlags::CLOSING_CREDIT;
        if (post && t.flags.void_pending_transfer()) || t.flags.0 & excluded != 0 {
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
        if t.pending_id >= RESERVED_ID_MIN && !self.engine_posting {
            return R::PendingIdMustNotBeReserved;
        }
        if t.timeout != 0 {
            return R::TimeoutReservedForPendingTransfer;
        }
        let Some(p) = self.transfers.get(&t.pending_id).copied() else {
            return R::PendingTransferNotFound;
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
        } else if t.amount > p.amount {
            return R::ExceedsPendingTransferAmount;
        } else if t.amount != 0 && t.amount != p.amount {
            return R::PendingTransferHasDifferentAmount;
        } else {
            p.amount
        };
        let state = self.pending[&p.id];
        match state.status {
            PendingStatus::Pending => {}
            PendingStatus::Posted => return R::PendingTransferAlreadyPosted,
            PendingStatus::Voided => return R::PendingTransferAlreadyVoided,
            PendingStatus::Expired => return R::PendingTransferExpired,
        }
        if state.expires_at.is_some_and(|at| at <= timestamp) {
            return R::PendingTransferExpired;
        }
        let dra = self.accounts[&p.debit_account_id].account;
        let cra = self.accounts[&p.credit_account_id].account;
        if post {
            if dra.flags.closed() {
                return R::DebitAccountAlreadyClosed;
            }
            if cra.flags.closed() {
                return R::CreditAccountAlreadyClosed;
            }
        }
        if !self.engine_posting && (dra.flags.managed() || cra.flags.managed()) {
            return R::AccountIsManaged;
        }
        if post {
            if dra.debits_posted.checked_add(amount).is_none() {
                return R::OverflowsDebitsPosted;
            }
            if cra.credits_posted.checked_add(amount).is_none() {
                return R::OverflowsCreditsPosted;
            }
        }
        self.save_account(p.debit_account_id);
        self.save_account(p.credit_account_id);
        let dr = &mut self
            .accounts
            .get_mut(&p.debit_account_id)
            .expect("dr")
            .account;
        dr.debits_pending -= p.amount;
        if post {
            dr.debits_posted += amount;
        } else if p.flags.closing_debit() {
            dr.flags.0 &= !AccountFlags::CLOSED;
        }
        let cr = &mut self
            .accounts
            .get_mut(&p.credit_account_id)
            .expect("cr")
            .account;
        cr.credits_pending -= p.amount;
        if post {
            cr.credits_posted += amount;
        } else if p.flags.closing_credit() {
            cr.flags.0 &= !AccountFlags::CLOSED;
        }
        let inherit = |given: u128, from: u128| if given == 0 { from } else { given };
        self.store_transfer(Transfer {
            id: t.id,
            debit_account_id: p.debit_account_id,
            credit_account_id: p.credit_account_id,
            amount,
            pending_id: t.pending_id,
            user_data_128: inherit(t.user_data_128, p.user_data_128),
            user_data_64: if t.user_data_64 == 0 {
                p.user_data_64
            } else {
                t.user_data_64
            },
            user_data_32: if t.user_data_32 == 0 {
                p.user_data_32
            } else {
                t.user_data_32
            },
            timeout: 0,
            ledger: p.ledger,
            code: p.code,
            flags: t.flags,
            timestamp,
        });
        self.save_pending(p.id);
        self.pending.get_mut(&p.id).expect("pending").status = if post {
            PendingStatus::Posted
        } else {
            PendingStatus::Voided
        };
        R::Ok
    }
}

/// The result of creating `t` when a transfer `e` with its id is stored; `p` is the pending
/// transfer `e` resolved, when `e` is a post or void.
fn transfer_exists(t: &Transfer, e: &Transfer, p: Option<&Transfer>) -> CreateTransferResult {
    use CreateTransferResult as R;
    let resolves = e.flags.post_pending_transfer() || e.flags.void_pending_transfer();
    let p = if resolves { p } else { None };
    // A post or void given zero means "the pending transfer's".
    let differs = |given: u128, stored: u128| {
        if resolves {
            given != 0 && given != stored
        } else {
            given != stored
        }
    };
    let amount_differs = if e.flags.balancing_debit() || e.flags.balancing_credit() {
        // Stored clamped from at most the amount asked.
        t.amount < e.amount
    } else if e.flags.post_pending_transfer() {
        if t.amount == AMOUNT_MAX {
            p.is_some_and(|p| p.amount != e.amount)
        } else {
            t.amount != e.amount
        }
    } else if e.flags.void_pending_transfer() {
        t.amount != 0 && t.amount != e.amount
    } else {
        t.amount != e.amount
    };
    let user_data_differs = |given: u128, stored: u128, pending: Option<u128>| match pending {
        Some(pending) if given == 0 => stored != pending,
        _ => given != stored,
    };
    if t.flags != e.flags {
        R::ExistsWithDifferentFlags
    } else if t.pending_id != e.pending_id {
        R::ExistsWithDifferentPendingId
    } else if t.timeout != e.timeout {
        R::ExistsWithDifferentTimeout
    } else if differs(t.debit_account_id, e.debit_account_id) {
        R::ExistsWithDifferentDebitAccountId
    } else if differs(t.credit_account_id, e.credit_account_id) {
        R::ExistsWithDifferentCreditAccountId
    } else if amount_differs {
        R::ExistsWithDifferentAmount
    } else if user_data_differs(t.user_data_128, e.user_data_128, p.map(|p| p.user_data_128)) {
        R::ExistsWithDifferentUserData128
    } else if user_data_differs(
        t.user_data_64.into(),
        e.user_data_64.into(),
        p.map(|p| p.user_data_64.into()),
    ) {
        R::ExistsWithDifferentUserData64
    } else if user_data_differs(
        t.user_data_32.into(),
        e.user_data_32.into(),
        p.map(|p| p.user_data_32.into()),
    ) {
        R::ExistsWithDifferentUserData32
    } else if differs(t.ledger.into(), e.ledger.into()) {
        R::ExistsWithDifferentLedger
    } else if differs(t.code.into(), e.code.into()) {
        R::ExistsWithDifferentCode
    } else {
        R::Exists
    }
}

/// Result codes that spend the id of the transfer that got them.
trait Transient {
    fn transient(self) -> bool;
}

impl Transient for CreateAccountResult {
    fn transient(self) -> bool {
        false
    }
}

impl Transient for CreateTransferResult {
    fn transient(self) -> bool {
        use CreateTransferResult as R;
        // Failures that depend on state another event may change.
        matches!(
            self,
            R::DebitAccountNotFound
                | R::CreditAccountNotFound
                | R::PendingTransferNotFound
                | R::ExceedsCredits
                | R::ExceedsDebits
                | R::DebitAccountAlreadyClosed
                | R::CreditAccountAlreadyClosed
        )
    }
}
