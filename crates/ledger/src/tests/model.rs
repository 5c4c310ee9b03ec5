//! Model-based property test: `Ledger` against a naive model written from the semantics
//! (ledger-semantics.md §4) and the public docs, not from `state.rs`.
//!
//! The model keeps plain ordered maps, rolls a failed chain back by restoring a clone, and
//! decides each result code by collecting EVERY rule the event violates and returning the one
//! declared first in `ALL`. So besides the ledger's effects, this checks the claim that result
//! codes are declared in precedence order.
//!
//! Where ledger-semantics.md is silent the model follows the reference engine (TigerBeetle
//! 0.17) or, failing that, the behaviour pinned by scenarios.rs: `closed` is ignored when an
//! account is resubmitted; a resubmitted post with `AMOUNT_MAX` `exists` only if it posted the whole pending amount; a
//! balancing bound (credits plus limit) is capped at u128::MAX; only the event that broke a
//! chain can mark its id as failed.

use std::collections::{BTreeMap, BTreeSet};

use proptest::collection::vec;
use proptest::prelude::*;

use crate::{
    AMOUNT_MAX, Account, AccountBalance, AccountFilter, AccountFlags, AccountLimits,
    BalanceAtError, CreateAccountResult, CreateTransferResult, Ledger, LimitChange, PendingStatus,
    PrefetchKey, SetLimitResult, Transfer, TransferFlags,
};

const NS_PER_S: u64 = 1_000_000_000;
/// An expiry instant must fit in 63 bits (`overflows_timeout`, semantics §4.3).
const EXPIRY_MAX: u128 = (1 << 63) - 1;
/// Engine time before the first batch.
const START: u64 = NS_PER_S;
/// A late instant from which the largest timeouts overflow 63 bits and slightly smaller ones
/// do not.
const JUMP_TO: u64 = (1 << 63) - 4_294_967_000 * NS_PER_S;
/// Account ids are 1..=8; 9 is never created. All of 0..=9 and u128::MAX are probed.
const ACCOUNT_POOL: u128 = 9;
/// Transfer ids 1..=12 are a shared pool that collides often; fresh ids start at 101.
const TRANSFER_POOL: u128 = 12;

/// The code declared first in `all` among `violated`: precedence by declaration order.
fn first_declared<T: Copy + PartialEq>(all: &[T], violated: &[T]) -> Option<T> {
    all.iter().copied().find(|code| violated.contains(code))
}

/// An exact sum of u128 values as (high, low) words; tuples compare like 256-bit numbers.
fn wide(values: &[u128]) -> (u128, u128) {
    values.iter().fold((0, 0), |(high, low), v| {
        let (sum, carry) = low.overflowing_add(*v);
        (high + u128::from(carry), sum)
    })
}

/// What a balancing transfer may move: up to `bound` from `used`, where the bound is capped at
/// u128::MAX because a side's pending plus posted total must stay representable.
fn room(bound: (u128, u128), used: (u128, u128)) -> u128 {
    let bound = if bound.0 > 0 { u128::MAX } else { bound.1 };
    assert_eq!(used.0, 0, "pending plus posted never overflows");
    bound.saturating_sub(used.1)
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Balances {
    debits_pending: u128,
    debits_posted: u128,
    credits_pending: u128,
    credits_posted: u128,
}

#[derive(Clone, Debug)]
struct ModelAccount {
    /// The account as created: submitted fields, assigned timestamp, zero balances.
    created: Account,
    balances: Balances,
    closed: bool,
    limits: AccountLimits,
    /// Balances after each transfer that touched the account, oldest first (kept for every
    /// account; only history accounts expose it).
    rows: Vec<(u64, Balances)>,
}

impl ModelAccount {
    fn expected(&self) -> Account {
        let mut flags = self.created.flags.0 & !AccountFlags::CLOSED;
        if self.closed {
            flags |= AccountFlags::CLOSED;
        }
        Account {
            debits_pending: self.balances.debits_pending,
            debits_posted: self.balances.debits_posted,
            credits_pending: self.balances.credits_pending,
            credits_posted: self.balances.credits_posted,
            flags: AccountFlags(flags),
            ..self.created
        }
    }

    fn has(&self, flag: u16) -> bool {
        self.created.flags.0 & flag != 0
    }
}

#[derive(Clone, Debug)]
struct ModelTransfer {
    stored: Transfer,
    /// Some for pending transfers only.
    status: Option<PendingStatus>,
}

impl ModelTransfer {
    fn expires_at(&self) -> Option<u64> {
        (self.stored.flags.pending() && self.stored.timeout > 0)
            .then(|| self.stored.timestamp + u64::from(self.stored.timeout) * NS_PER_S)
    }
}

#[derive(Clone, Debug)]
struct Model {
    accounts: BTreeMap<u128, ModelAccount>,
    transfers: BTreeMap<u128, ModelTransfer>,
    failed: BTreeSet<u128>,
    now: u64,
}

impl Model {
    fn new() -> Model {
        Model {
            accounts: BTreeMap::new(),
            transfers: BTreeMap::new(),
            failed: BTreeSet::new(),
            now: START,
        }
    }

    fn next_expiry(&self) -> Option<u64> {
        self.transfers
            .values()
            .filter(|t| t.status == Some(PendingStatus::Pending))
            .filter_map(ModelTransfer::expires_at)
            .min()
    }

    /// Releases every unresolved pending transfer due at `instant`.
    fn expire_due(&mut self, instant: u64) {
        let due: Vec<u128> = self
            .transfers
            .values()
            .filter(|t| t.status == Some(PendingStatus::Pending))
            .filter(|t| t.expires_at().is_some_and(|at| at <= instant))
            .map(|t| t.stored.id)
            .collect();
        for id in due {
            let p = self.transfers[&id].stored;
            self.release(&p);
            self.transfers.get_mut(&id).expect("due").status = Some(PendingStatus::Expired);
        }
    }

    /// Undoes a pending reservation, and the closing it did.
    fn release(&mut self, p: &Transfer) {
        let dr = self.accounts.get_mut(&p.debit_account_id).expect("dr");
        dr.balances.debits_pending -= p.amount;
        if p.flags.closing_debit() {
            dr.closed = false;
        }
        let cr = self.accounts.get_mut(&p.credit_account_id).expect("cr");
        cr.balances.credits_pending -= p.amount;
        if p.flags.closing_credit() {
            cr.closed = false;
        }
    }

    fn record_rows(&mut self, t: &Transfer) {
        for id in [t.debit_account_id, t.credit_account_id] {
            let account = self.accounts.get_mut(&id).expect("touched");
            account.rows.push((t.timestamp, account.balances));
        }
    }

    /// Runs one batch of linked chains, with `event` deciding and applying one event.
    fn run_batch<E, R: Copy + PartialEq>(
        &mut self,
        timestamp: u64,
        events: &[E],
        linked: fn(&E) -> bool,
        [ok, chain_failed, chain_open]: [R; 3],
        event: fn(&mut Model, &E, u64) -> R,
        on_failure: fn(&mut Model, &E, R),
    ) -> Vec<R> {
        let n = events.len();
        let first = timestamp + 1 - n as u64;
        self.expire_due(first);
        let mut results = Vec::with_capacity(n);
        let mut start = 0;
        while start < n {
            let mut end = start;
            while end + 1 < n && linked(&events[end]) {
                end += 1;
            }
            let open = linked(&events[end]);
            let saved = self.clone();
            let mut chain = Vec::new();
            let mut failure = None;
            for (i, e) in events.iter().enumerate().take(end + 1).skip(start) {
                let result = if open && i == end {
                    chain_open
                } else if failure.is_some() {
                    chain_failed
                } else {
                    event(self, e, first + i as u64)
                };
                if result != ok && failure.is_none() && !(open && i == end) {
                    failure = Some(i);
                }
                chain.push(result);
            }
            if failure.is_some() || open {
                *self = saved;
                for (k, result) in chain.iter_mut().enumerate() {
                    let i = start + k;
                    if Some(i) != failure && !(open && i == end) {
                        *result = chain_failed;
                    }
                }
                if let Some(i) = failure {
                    on_failure(self, &events[i], chain[i - start]);
                }
            }
            results.extend(chain);
            start = end + 1;
        }
        self.now = timestamp;
        results
    }

    fn create_accounts(&mut self, timestamp: u64, events: &[Account]) -> Vec<CreateAccountResult> {
        use CreateAccountResult as R;
        self.run_batch(
            timestamp,
            events,
            |a| a.flags.linked(),
            [R::Ok, R::LinkedEventFailed, R::LinkedEventChainOpen],
            Model::create_account,
            |_, _, _| {},
        )
    }

    fn create_account(&mut self, a: &Account, timestamp: u64) -> CreateAccountResult {
        use CreateAccountResult as R;
        let flags = a.flags;
        let mut violated = Vec::new();
        let mut rule = |broken: bool, code: R| {
            if broken {
                violated.push(code);
            }
        };
        rule(a.timestamp != 0, R::TimestampMustBeZero);
        rule(a.reserved != 0, R::ReservedField);
        rule(flags.0 & !AccountFlags::KNOWN != 0, R::ReservedFlag);
        rule(a.id == 0, R::IdMustNotBeZero);
        rule(a.id == u128::MAX, R::IdMustNotBeIntMax);
        if let Some(e) = self.accounts.get(&a.id) {
            let e = &e.created;
            // `closed` is state, not identity: an account closed since (or created closed)
            // still `exists` (as scenarios.rs `closing_accounts` expects).
            let identity = |f: AccountFlags| f.0 & !AccountFlags::CLOSED;
            rule(
                identity(flags) != identity(e.flags),
                R::ExistsWithDifferentFlags,
            );
            rule(
                a.user_data_128 != e.user_data_128,
                R::ExistsWithDifferentUserData128,
            );
            rule(
                a.user_data_64 != e.user_data_64,
                R::ExistsWithDifferentUserData64,
            );
            rule(
                a.user_data_32 != e.user_data_32,
                R::ExistsWithDifferentUserData32,
            );
            rule(a.ledger != e.ledger, R::ExistsWithDifferentLedger);
            rule(a.code != e.code, R::ExistsWithDifferentCode);
            rule(true, R::Exists);
        }
        rule(
            flags.debits_must_not_exceed_credits() && flags.credits_must_not_exceed_debits(),
            R::FlagsAreMutuallyExclusive,
        );
        rule(a.debits_pending != 0, R::DebitsPendingMustBeZero);
        rule(a.debits_posted != 0, R::DebitsPostedMustBeZero);
        rule(a.credits_pending != 0, R::CreditsPendingMustBeZero);
        rule(a.credits_posted != 0, R::CreditsPostedMustBeZero);
        rule(a.ledger == 0, R::LedgerMustNotBeZero);
        rule(a.code == 0, R::CodeMustNotBeZero);
        if let Some(code) = first_declared(R::ALL, &violated) {
            return code;
        }
        self.accounts.insert(
            a.id,
            ModelAccount {
                created: Account { timestamp, ..*a },
                balances: Balances::default(),
                closed: flags.closed(),
                limits: AccountLimits::default(),
                rows: Vec::new(),
            },
        );
        R::Ok
    }

    fn create_transfers(
        &mut self,
        timestamp: u64,
        events: &[Transfer],
    ) -> Vec<CreateTransferResult> {
        use CreateTransferResult as R;
        self.run_batch(
            timestamp,
            events,
            |t| t.flags.linked(),
            [R::Ok, R::LinkedEventFailed, R::LinkedEventChainOpen],
            Model::create_transfer,
            |model, t, result| {
                if result.transient() {
                    model.failed.insert(t.id);
                }
            },
        )
    }

    /// Every `exists*` code that applies to resubmitting `t` over the stored `e`.
    fn exists_codes(&self, t: &Transfer, e: &Transfer, violated: &mut Vec<CreateTransferResult>) {
        use CreateTransferResult as R;
        let mut rule = |broken: bool, code: R| {
            if broken {
                violated.push(code);
            }
        };
        rule(t.flags != e.flags, R::ExistsWithDifferentFlags);
        rule(
            t.pending_id != e.pending_id,
            R::ExistsWithDifferentPendingId,
        );
        rule(t.timeout != e.timeout, R::ExistsWithDifferentTimeout);
        let post = e.flags.post_pending_transfer();
        let void = e.flags.void_pending_transfer();
        if t.flags == e.flags && (post || void) {
            // Zero fields are inherited from the pending transfer `e` resolved.
            let p = &self.transfers[&e.pending_id].stored;
            rule(
                t.debit_account_id != 0 && t.debit_account_id != e.debit_account_id,
                R::ExistsWithDifferentDebitAccountId,
            );
            rule(
                t.credit_account_id != 0 && t.credit_account_id != e.credit_account_id,
                R::ExistsWithDifferentCreditAccountId,
            );
            let same_amount = if post {
                (t.amount == AMOUNT_MAX && e.amount == p.amount) || t.amount == e.amount
            } else {
                t.amount == 0 || t.amount == e.amount
            };
            rule(!same_amount, R::ExistsWithDifferentAmount);
            let inherited = |mine: u128, stored: u128, pending: u128| {
                if mine == 0 {
                    stored != pending
                } else {
                    mine != stored
                }
            };
            rule(
                inherited(t.user_data_128, e.user_data_128, p.user_data_128),
                R::ExistsWithDifferentUserData128,
            );
            rule(
                inherited(
                    t.user_data_64.into(),
                    e.user_data_64.into(),
                    p.user_data_64.into(),
                ),
                R::ExistsWithDifferentUserData64,
            );
            rule(
                inherited(
                    t.user_data_32.into(),
                    e.user_data_32.into(),
                    p.user_data_32.into(),
                ),
                R::ExistsWithDifferentUserData32,
            );
            rule(
                t.ledger != 0 && t.ledger != e.ledger,
                R::ExistsWithDifferentLedger,
            );
            rule(t.code != 0 && t.code != e.code, R::ExistsWithDifferentCode);
        } else {
            rule(
                t.debit_account_id != e.debit_account_id,
                R::ExistsWithDifferentDebitAccountId,
            );
            rule(
                t.credit_account_id != e.credit_account_id,
                R::ExistsWithDifferentCreditAccountId,
            );
            // A balancing amount is an upper bound: any bound at least what moved is the same.
            let balancing = t.flags.balancing_debit() || t.flags.balancing_credit();
            let same_amount = if balancing {
                t.amount >= e.amount
            } else {
                t.amount == e.amount
            };
            rule(!same_amount, R::ExistsWithDifferentAmount);
            rule(
                t.user_data_128 != e.user_data_128,
                R::ExistsWithDifferentUserData128,
            );
            rule(
                t.user_data_64 != e.user_data_64,
                R::ExistsWithDifferentUserData64,
            );
            rule(
                t.user_data_32 != e.user_data_32,
                R::ExistsWithDifferentUserData32,
            );
            rule(t.ledger != e.ledger, R::ExistsWithDifferentLedger);
            rule(t.code != e.code, R::ExistsWithDifferentCode);
        }
        rule(true, R::Exists);
    }

    fn create_transfer(&mut self, t: &Transfer, timestamp: u64) -> CreateTransferResult {
        use CreateTransferResult as R;
        let f = t.flags;
        let (pending, post, void) = (
            f.pending(),
            f.post_pending_transfer(),
            f.void_pending_transfer(),
        );
        let second_phase = post || void;
        let balancing = f.balancing_debit() || f.balancing_credit();
        let closing = f.closing_debit() || f.closing_credit();
        let mut violated = Vec::new();
        macro_rules! rule {
            ($broken:expr, $code:expr) => {
                if $broken {
                    violated.push($code);
                }
            };
        }

        rule!(t.timestamp != 0, R::TimestampMustBeZero);
        rule!(f.0 & !TransferFlags::KNOWN != 0, R::ReservedFlag);
        rule!(t.id == 0, R::IdMustNotBeZero);
        rule!(t.id == u128::MAX, R::IdMustNotBeIntMax);
        rule!(t.id >= crate::RESERVED_ID_MIN, R::IdMustNotBeReserved);
        if let Some(e) = self.transfers.get(&t.id) {
            self.exists_codes(t, &e.stored, &mut violated);
        }
        rule!(self.failed.contains(&t.id), R::IdAlreadyFailed);
        let phases = u8::from(pending) + u8::from(post) + u8::from(void);
        rule!(
            phases > 1 || (second_phase && (balancing || closing)),
            R::FlagsAreMutuallyExclusive
        );
        rule!(
            !second_phase && t.debit_account_id == 0,
            R::DebitAccountIdMustNotBeZero
        );
        rule!(
            t.debit_account_id == u128::MAX,
            R::DebitAccountIdMustNotBeIntMax
        );
        rule!(
            !second_phase && t.credit_account_id == 0,
            R::CreditAccountIdMustNotBeZero
        );
        rule!(
            t.credit_account_id == u128::MAX,
            R::CreditAccountIdMustNotBeIntMax
        );
        rule!(
            t.debit_account_id != 0 && t.debit_account_id == t.credit_account_id,
            R::AccountsMustBeDifferent
        );
        rule!(!second_phase && t.pending_id != 0, R::PendingIdMustBeZero);
        rule!(second_phase && t.pending_id == 0, R::PendingIdMustNotBeZero);
        rule!(
            second_phase && t.pending_id == u128::MAX,
            R::PendingIdMustNotBeIntMax
        );
        rule!(
            second_phase && t.pending_id == t.id,
            R::PendingIdMustBeDifferent
        );
        rule!(
            second_phase && t.pending_id >= crate::RESERVED_ID_MIN,
            R::PendingIdMustNotBeReserved
        );
        rule!(
            !pending && t.timeout != 0,
            R::TimeoutReservedForPendingTransfer
        );
        rule!(closing && !pending, R::ClosingTransferMustBePending);
        rule!(!second_phase && t.ledger == 0, R::LedgerMustNotBeZero);
        rule!(!second_phase && t.code == 0, R::CodeMustNotBeZero);

        // What the transfer moves, once the accounts are known: (amount, debit, credit, stored).
        let mut effect: Option<(u128, u128, u128, Transfer)> = None;
        if !second_phase {
            let dr = self.accounts.get(&t.debit_account_id);
            let cr = self.accounts.get(&t.credit_account_id);
            rule!(dr.is_none(), R::DebitAccountNotFound);
            rule!(cr.is_none(), R::CreditAccountNotFound);
            if let (Some(dr), Some(cr)) = (dr, cr) {
                let ledger = dr.created.ledger;
                rule!(
                    ledger != cr.created.ledger,
                    R::AccountsMustHaveTheSameLedger
                );
                rule!(
                    t.ledger != ledger || t.ledger != cr.created.ledger,
                    R::TransferMustHaveTheSameLedgerAsAccounts
                );
                rule!(dr.closed, R::DebitAccountAlreadyClosed);
                rule!(cr.closed, R::CreditAccountAlreadyClosed);
                rule!(
                    dr.created.flags.managed() || cr.created.flags.managed(),
                    R::AccountIsManaged
                );
                let (d, c) = (dr.balances, cr.balances);
                let mut amount = t.amount;
                if f.balancing_debit() {
                    let room = room(
                        wide(&[d.credits_posted, dr.limits.debit_limit]),
                        wide(&[d.debits_pending, d.debits_posted]),
                    );
                    amount = amount.min(room);
                }
                if f.balancing_credit() {
                    let room = room(
                        wide(&[c.debits_posted, cr.limits.credit_limit]),
                        wide(&[c.credits_pending, c.credits_posted]),
                    );
                    amount = amount.min(room);
                }
                let fits = |values: &[u128]| wide(values).0 == 0;
                rule!(
                    pending && !fits(&[d.debits_pending, amount]),
                    R::OverflowsDebitsPending
                );
                rule!(
                    pending && !fits(&[c.credits_pending, amount]),
                    R::OverflowsCreditsPending
                );
                rule!(!fits(&[d.debits_posted, amount]), R::OverflowsDebitsPosted);
                rule!(
                    !fits(&[c.credits_posted, amount]),
                    R::OverflowsCreditsPosted
                );
                rule!(
                    !fits(&[d.debits_pending, d.debits_posted, amount]),
                    R::OverflowsDebits
                );
                rule!(
                    !fits(&[c.credits_pending, c.credits_posted, amount]),
                    R::OverflowsCredits
                );
                rule!(
                    u128::from(timestamp) + u128::from(t.timeout) * u128::from(NS_PER_S)
                        > EXPIRY_MAX,
                    R::OverflowsTimeout
                );
                rule!(
                    dr.has(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
                        && wide(&[d.debits_pending, d.debits_posted, amount])
                            > wide(&[d.credits_posted, dr.limits.debit_limit]),
                    R::ExceedsCredits
                );
                rule!(
                    cr.has(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
                        && wide(&[c.credits_pending, c.credits_posted, amount])
                            > wide(&[c.debits_posted, cr.limits.credit_limit]),
                    R::ExceedsDebits
                );
                let stored = Transfer {
                    amount,
                    timestamp,
                    ..*t
                };
                effect = Some((amount, t.debit_account_id, t.credit_account_id, stored));
            }
        } else {
            match self.transfers.get(&t.pending_id) {
                None => rule!(true, R::PendingTransferNotFound),
                Some(p) if !p.stored.flags.pending() => rule!(true, R::PendingTransferNotPending),
                Some(pt) => {
                    let p = &pt.stored;
                    rule!(
                        t.debit_account_id != 0 && t.debit_account_id != p.debit_account_id,
                        R::PendingTransferHasDifferentDebitAccountId
                    );
                    rule!(
                        t.credit_account_id != 0 && t.credit_account_id != p.credit_account_id,
                        R::PendingTransferHasDifferentCreditAccountId
                    );
                    rule!(
                        t.ledger != 0 && t.ledger != p.ledger,
                        R::PendingTransferHasDifferentLedger
                    );
                    rule!(
                        t.code != 0 && t.code != p.code,
                        R::PendingTransferHasDifferentCode
                    );
                    let amount = match (post, t.amount) {
                        (true, AMOUNT_MAX) | (false, 0) => p.amount,
                        (_, amount) => amount,
                    };
                    rule!(amount > p.amount, R::ExceedsPendingTransferAmount);
                    rule!(
                        void && amount < p.amount,
                        R::PendingTransferHasDifferentAmount
                    );
                    rule!(
                        pt.status == Some(PendingStatus::Posted),
                        R::PendingTransferAlreadyPosted
                    );
                    rule!(
                        pt.status == Some(PendingStatus::Voided),
                        R::PendingTransferAlreadyVoided
                    );
                    rule!(
                        pt.status == Some(PendingStatus::Expired)
                            || pt.expires_at().is_some_and(|at| timestamp >= at),
                        R::PendingTransferExpired
                    );
                    // A closed account takes no movement but a void (semantics §4.1 `closed`).
                    rule!(
                        post && self.accounts[&p.debit_account_id].closed,
                        R::DebitAccountAlreadyClosed
                    );
                    rule!(
                        post && self.accounts[&p.credit_account_id].closed,
                        R::CreditAccountAlreadyClosed
                    );
                    rule!(
                        self.accounts[&p.debit_account_id].created.flags.managed()
                            || self.accounts[&p.credit_account_id].created.flags.managed(),
                        R::AccountIsManaged
                    );
                    let or = |mine: u128, pending: u128| if mine != 0 { mine } else { pending };
                    let stored = Transfer {
                        id: t.id,
                        debit_account_id: p.debit_account_id,
                        credit_account_id: p.credit_account_id,
                        amount,
                        pending_id: p.id,
                        user_data_128: or(t.user_data_128, p.user_data_128),
                        user_data_64: if t.user_data_64 != 0 {
                            t.user_data_64
                        } else {
                            p.user_data_64
                        },
                        user_data_32: if t.user_data_32 != 0 {
                            t.user_data_32
                        } else {
                            p.user_data_32
                        },
                        timeout: 0,
                        ledger: p.ledger,
                        code: p.code,
                        flags: t.flags,
                        timestamp,
                    };
                    effect = Some((amount, p.debit_account_id, p.credit_account_id, stored));
                }
            }
        }

        if let Some(code) = first_declared(R::ALL, &violated) {
            return code;
        }
        let (amount, dr_id, cr_id, stored) = effect.expect("no violation implies known accounts");
        if second_phase {
            let p = self.transfers[&t.pending_id].stored;
            self.release(&p);
            if post {
                self.accounts
                    .get_mut(&dr_id)
                    .expect("dr")
                    .balances
                    .debits_posted += amount;
                self.accounts
                    .get_mut(&cr_id)
                    .expect("cr")
                    .balances
                    .credits_posted += amount;
            }
            self.transfers.get_mut(&p.id).expect("pending").status = Some(if post {
                PendingStatus::Posted
            } else {
                PendingStatus::Voided
            });
        } else {
            let dr = self.accounts.get_mut(&dr_id).expect("dr");
            if pending {
                dr.balances.debits_pending += amount;
            } else {
                dr.balances.debits_posted += amount;
            }
            dr.closed |= f.closing_debit();
            let cr = self.accounts.get_mut(&cr_id).expect("cr");
            if pending {
                cr.balances.credits_pending += amount;
            } else {
                cr.balances.credits_posted += amount;
            }
            cr.closed |= f.closing_credit();
        }
        self.record_rows(&stored);
        self.transfers.insert(
            t.id,
            ModelTransfer {
                stored,
                status: pending.then_some(PendingStatus::Pending),
            },
        );
        R::Ok
    }

    fn set_limits(&mut self, timestamp: u64, changes: &[LimitChange]) -> Vec<SetLimitResult> {
        use SetLimitResult as R;
        self.expire_due(timestamp + 1 - changes.len() as u64);
        let results = changes
            .iter()
            .map(|c| {
                let mut violated = Vec::new();
                let mut rule = |broken: bool, code: R| {
                    if broken {
                        violated.push(code);
                    }
                };
                rule(c.account_id == 0, R::AccountIdMustNotBeZero);
                rule(c.account_id == u128::MAX, R::AccountIdMustNotBeIntMax);
                rule(
                    c.debit_limit.is_none() && c.credit_limit.is_none(),
                    R::LimitMustBeGiven,
                );
                match self.accounts.get(&c.account_id) {
                    None => rule(true, R::AccountNotFound),
                    Some(a) => {
                        rule(a.closed, R::AccountAlreadyClosed);
                        rule(
                            c.debit_limit.is_some()
                                && !a.has(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
                            R::DebitLimitRequiresDebitsMustNotExceedCredits,
                        );
                        rule(
                            c.credit_limit.is_some()
                                && !a.has(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS),
                            R::CreditLimitRequiresCreditsMustNotExceedDebits,
                        );
                    }
                }
                if let Some(code) = first_declared(R::ALL, &violated) {
                    return code;
                }
                let limits = &mut self.accounts.get_mut(&c.account_id).expect("found").limits;
                if let Some(debit) = c.debit_limit {
                    limits.debit_limit = debit;
                }
                if let Some(credit) = c.credit_limit {
                    limits.credit_limit = credit;
                }
                R::Ok
            })
            .collect();
        self.now = timestamp;
        results
    }

    fn pulse(&mut self, timestamp: u64) {
        self.expire_due(timestamp);
        self.now = timestamp;
    }

    /// The account's transfers by the filter: all of them in timestamp order, then narrowed.
    fn account_transfers(&self, filter: &AccountFilter) -> Vec<Transfer> {
        let both = !filter.debits && !filter.credits;
        let mut found: Vec<Transfer> = self
            .transfers
            .values()
            .map(|t| t.stored)
            .filter(|t| {
                ((filter.debits || both) && t.debit_account_id == filter.account_id)
                    || ((filter.credits || both) && t.credit_account_id == filter.account_id)
            })
            .filter(|t| in_range(filter, t.timestamp))
            .collect();
        found.sort_by_key(|t| t.timestamp);
        if filter.reversed {
            found.reverse();
        }
        found.truncate(filter.limit as usize);
        found
    }

    fn account_balances(&self, filter: &AccountFilter) -> Vec<AccountBalance> {
        let Some(account) = self.accounts.get(&filter.account_id) else {
            return Vec::new();
        };
        if !account.has(AccountFlags::HISTORY) {
            return Vec::new();
        }
        let mut rows: Vec<AccountBalance> = account
            .rows
            .iter()
            .filter(|(ts, _)| in_range(filter, *ts))
            .map(|(ts, b)| balance(*ts, b))
            .collect();
        if filter.reversed {
            rows.reverse();
        }
        rows.truncate(filter.limit as usize);
        rows
    }

    fn balance_at(&self, id: u128, timestamp: u64) -> Result<AccountBalance, BalanceAtError> {
        let account = self
            .accounts
            .get(&id)
            .ok_or(BalanceAtError::AccountNotFound)?;
        if !account.has(AccountFlags::HISTORY) {
            return Err(BalanceAtError::HistoryNotEnabled);
        }
        if timestamp < account.created.timestamp {
            return Err(BalanceAtError::BeforeAccountCreated);
        }
        let latest = account
            .rows
            .iter()
            .rev()
            .find(|(ts, _)| *ts <= timestamp)
            .map_or(Balances::default(), |(_, b)| *b);
        Ok(balance(timestamp, &latest))
    }
}

fn in_range(filter: &AccountFilter, timestamp: u64) -> bool {
    timestamp >= filter.timestamp_min
        && (filter.timestamp_max == 0 || timestamp <= filter.timestamp_max)
}

fn balance(timestamp: u64, b: &Balances) -> AccountBalance {
    AccountBalance {
        timestamp,
        debits_pending: b.debits_pending,
        debits_posted: b.debits_posted,
        credits_pending: b.credits_pending,
        credits_posted: b.credits_posted,
    }
}

// ---------------------------------------------------------------------------------------------
// Operations. They are generated as specs; references to earlier objects ("the newest live
// pending transfer", "a fresh id") are resolved against the model just before their batch, so
// most events are meaningful while collisions, `exists` and not-found cases stay frequent.

/// How far time moves before a batch or pulse.
#[derive(Clone, Debug)]
enum Gap {
    /// This many nanoseconds more than the minimum.
    Ns(u64),
    /// The first event lands this many ns before the next expiry (if it is soon).
    BeforeExpiry(u64),
    /// To `JUMP_TO`, where the largest timeouts overflow.
    Jump,
}

/// A transfer id: unused, from the small shared pool, or the id of the n-th newest transfer.
#[derive(Clone, Copy, Debug)]
enum IdPick {
    Fresh,
    Pool(u128),
    Newest(u8),
}

/// The `pending_id` of a post or void.
#[derive(Clone, Copy, Debug)]
enum PendingPick {
    /// The n-th newest pending transfer not yet resolved (else any pending one).
    Live(u8),
    /// The n-th newest pending transfer, whatever became of it.
    AnyPending(u8),
    /// The n-th newest transfer of any kind.
    AnyTransfer(u8),
    Pool(u128),
    Fresh,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Single,
    Pending,
    Post,
    Void,
    /// Balancing flags, maybe with `pending`.
    Balancing(u16),
    /// Closing flags with `pending`.
    Closing(u16),
    /// Any flag bits but `linked` (mostly invalid combinations).
    AnyFlags(u16),
}

#[derive(Clone, Debug)]
enum TransferSpec {
    /// Resubmits the n-th newest stored transfer with a mutation (0: none).
    Again(u8, u8),
    New {
        kind: Kind,
        id: IdPick,
        dr: u128,
        cr: u128,
        amount: u128,
        /// Post: 0-1 `AMOUNT_MAX`, 2 `amount`, 3 the pending amount.
        /// Void: 0-1 zero, 2 the pending amount, 3 `amount`. Balancing: 0 `AMOUNT_MAX`.
        amount_mode: u8,
        pending: PendingPick,
        timeout: u32,
        /// Post and void: bits for dr, cr, ledger, code given (as the pending's) or left 0.
        given: u8,
        code: u16,
        user_data: (u8, u8, u8),
        /// 0: none; else one invalid or mismatching field (see `transfer_fault`).
        fault: u8,
    },
}

#[derive(Clone, Debug)]
enum AccountSpec {
    /// Resubmits the n-th existing account with a mutation (0: none).
    Again(u8, u8),
    New(Account),
}

#[derive(Clone, Debug)]
enum Op {
    /// Chains of accounts (linked flags are set from the grouping).
    Accounts(Gap, Vec<Vec<AccountSpec>>),
    /// Chains of transfers; with the flag, the last chain is left open at the end of the batch.
    Transfers(Gap, Vec<Vec<TransferSpec>>, bool),
    Limits(Gap, Vec<LimitChange>),
    Pulse(Gap),
    /// Snapshot and continue with the decoded ledger, under this hash key.
    Restart(u64),
    /// Evict transfers below a floor this far (out of 255) from the cold floor to the end.
    Evict(u8),
}

/// What to query after a step; selectors index into instants taken from the model.
#[derive(Clone, Debug, Default)]
struct Probe {
    account_id: u128,
    min: u8,
    max: u8,
    limit: u32,
    debits: bool,
    credits: bool,
    reversed: bool,
    at: u8,
}

const DEBITS_LIMITED: u16 = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;
const CREDITS_LIMITED: u16 = AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS;
const HISTORY: u16 = AccountFlags::HISTORY;

fn user_data() -> impl Strategy<Value = u8> {
    prop_oneof![5 => Just(0u8), 1 => 1u8..=2]
}

fn fault() -> impl Strategy<Value = u8> {
    prop_oneof![9 => Just(0u8), 1 => 1u8..=25]
}

fn newest_index() -> impl Strategy<Value = u8> {
    prop_oneof![4 => 0u8..=2, 1 => any::<u8>()]
}

fn amount() -> impl Strategy<Value = u128> {
    prop_oneof![
        10 => 0u128..=20,
        3 => 0u128..=300,
        1 => (u128::MAX - 40)..=u128::MAX,
        1 => (u128::MAX / 2 - 20)..=(u128::MAX / 2 + 20),
    ]
}

fn valid_account_flags() -> impl Strategy<Value = u16> {
    prop_oneof![
        8 => Just(0u16),
        3 => Just(DEBITS_LIMITED),
        3 => Just(CREDITS_LIMITED),
        4 => Just(HISTORY),
        2 => Just(DEBITS_LIMITED | HISTORY),
        2 => Just(CREDITS_LIMITED | HISTORY),
    ]
}

fn ledger() -> impl Strategy<Value = u32> {
    prop_oneof![4 => Just(1u32), 1 => Just(2)]
}

/// Most of accounts 1..=8, valid: the first batch of every case. Missing ones leave room for
/// later creations to fail validation rather than collide.
fn initial_accounts() -> impl Strategy<Value = Vec<Account>> {
    vec(
        (
            prop_oneof![30 => valid_account_flags(), 1 => Just(AccountFlags::CLOSED)],
            ledger(),
            prop::bool::weighted(0.8),
        ),
        8,
    )
    .prop_map(|fields| {
        fields
            .into_iter()
            .zip(1u128..)
            .filter(|((_, _, present), _)| *present)
            .map(|((flags, ledger, _), id)| Account {
                id,
                ledger,
                code: 1,
                flags: AccountFlags(flags),
                ..Account::default()
            })
            .collect()
    })
}

fn account_spec() -> impl Strategy<Value = AccountSpec> {
    let new = (
        1u128..=8,
        valid_account_flags(),
        ledger(),
        prop_oneof![6 => Just(1u16), 1 => Just(2)],
        (user_data(), user_data(), user_data()),
        fault(),
    )
        .prop_map(|(id, flags, ledger, code, (u1, u2, u3), fault)| {
            let mut a = Account {
                id,
                user_data_128: u1.into(),
                user_data_64: u2.into(),
                user_data_32: u3.into(),
                ledger,
                code,
                flags: AccountFlags(flags),
                ..Account::default()
            };
            match fault % 15 {
                1 => a.timestamp = 1,
                2 => a.reserved = 1,
                3 => a.flags.0 |= 1 << 4,
                4 => a.flags.0 |= 1 << 15,
                5 => a.id = 0,
                6 => a.id = u128::MAX,
                7 => a.flags.0 |= DEBITS_LIMITED | CREDITS_LIMITED,
                8 => a.debits_pending = 1,
                9 => a.debits_posted = 1,
                10 => a.credits_pending = 1,
                11 => a.credits_posted = 1,
                12 => a.ledger = 0,
                13 => a.code = 0,
                _ => {}
            }
            AccountSpec::New(a)
        });
    prop_oneof![
        1 => new,
        1 => (any::<u8>(), prop_oneof![2 => Just(0u8), 3 => 1u8..=7])
            .prop_map(|(n, mutation)| AccountSpec::Again(n, mutation)),
    ]
}

fn transfer_spec() -> impl Strategy<Value = TransferSpec> {
    use TransferFlags as F;
    let kind = prop_oneof![
        6 => Just(Kind::Single),
        5 => Just(Kind::Pending),
        4 => Just(Kind::Post),
        3 => Just(Kind::Void),
        1 => Just(Kind::Balancing(F::BALANCING_DEBIT)),
        1 => Just(Kind::Balancing(F::BALANCING_CREDIT)),
        1 => Just(Kind::Balancing(F::BALANCING_DEBIT | F::PENDING)),
        1 => Just(Kind::Balancing(F::BALANCING_CREDIT | F::PENDING)),
        1 => Just(Kind::Balancing(F::BALANCING_DEBIT | F::BALANCING_CREDIT)),
        1 => Just(Kind::Closing(F::CLOSING_DEBIT | F::PENDING)),
        1 => Just(Kind::Closing(F::CLOSING_CREDIT | F::PENDING)),
        1 => (0u16..=0x1FF).prop_map(|bits| Kind::AnyFlags(bits & !F::LINKED)),
    ];
    let id = prop_oneof![
        14 => Just(IdPick::Fresh),
        2 => (1..=TRANSFER_POOL).prop_map(IdPick::Pool),
        1 => newest_index().prop_map(IdPick::Newest),
    ];
    let pending = prop_oneof![
        8 => newest_index().prop_map(PendingPick::Live),
        3 => newest_index().prop_map(PendingPick::AnyPending),
        1 => newest_index().prop_map(PendingPick::AnyTransfer),
        1 => (1..=TRANSFER_POOL).prop_map(PendingPick::Pool),
        1 => Just(PendingPick::Fresh),
    ];
    let timeout = prop_oneof![
        3 => Just(0u32),
        4 => 1u32..=3,
        1 => (u32::MAX - 300)..=u32::MAX,
    ];
    let given = prop_oneof![3 => Just(0u8), 1 => 0u8..=15];
    let code = prop_oneof![8 => Just(1u16), 1 => Just(2)];
    let new = (
        (kind, id, 1u128..=8, 1u128..=8),
        (amount(), 0u8..4, pending, timeout),
        (
            given,
            code,
            (user_data(), user_data(), user_data()),
            fault(),
        ),
    )
        .prop_map(
            |(
                (kind, id, dr, cr),
                (amount, amount_mode, pending, timeout),
                (given, code, user_data, fault),
            )| TransferSpec::New {
                kind,
                id,
                dr,
                cr,
                amount,
                amount_mode,
                pending,
                timeout,
                given,
                code,
                user_data,
                fault,
            },
        );
    prop_oneof![
        8 => new,
        1 => (newest_index(), prop_oneof![2 => Just(0u8), 3 => 1u8..=15])
            .prop_map(|(n, mutation)| TransferSpec::Again(n, mutation)),
    ]
}

fn limit_change() -> impl Strategy<Value = LimitChange> {
    let limit = || {
        prop_oneof![
            2 => Just(None),
            3 => (0u128..=60).prop_map(Some),
            1 => ((u128::MAX - 10)..=u128::MAX).prop_map(Some),
        ]
    };
    let id = prop_oneof![
        20 => 1u128..=8,
        1 => Just(9u128),
        1 => Just(0u128),
        1 => Just(u128::MAX),
    ];
    (id, limit(), limit()).prop_map(|(account_id, debit, credit)| LimitChange {
        account_id,
        debit_limit: debit,
        credit_limit: credit,
    })
}

fn gap() -> impl Strategy<Value = Gap> {
    prop_oneof![
        30 => (0u64..=3).prop_map(Gap::Ns),
        30 => (0u64..=2_500_000_000).prop_map(Gap::Ns),
        20 => (0u64..=6).prop_map(Gap::BeforeExpiry),
        1 => Just(Gap::Jump),
    ]
}

/// A chain of 1 to 4 events, mostly 1.
fn chain<S: Strategy>(event: fn() -> S) -> impl Strategy<Value = Vec<S::Value>> {
    prop_oneof![3 => vec(event(), 1..=1), 2 => vec(event(), 2..=4)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (gap(), vec(chain(account_spec), 1..=3)).prop_map(|(g, c)| Op::Accounts(g, c)),
        12 => (gap(), vec(chain(transfer_spec), 1..=3), prop::bool::weighted(0.1))
            .prop_map(|(g, c, open)| Op::Transfers(g, c, open)),
        2 => (gap(), vec(limit_change(), 1..=3)).prop_map(|(g, c)| Op::Limits(g, c)),
        2 => gap().prop_map(Op::Pulse),
        1 => any::<u64>().prop_map(Op::Restart),
        2 => any::<u8>().prop_map(Op::Evict),
    ]
}

fn probe() -> impl Strategy<Value = Probe> {
    (
        1u128..=ACCOUNT_POOL,
        (any::<u8>(), any::<u8>(), any::<u8>()),
        prop_oneof![3 => 1u32..=6, 1 => Just(u32::MAX)],
        any::<(bool, bool, bool)>(),
    )
        .prop_map(
            |(account_id, (min, max, at), limit, (debits, credits, reversed))| Probe {
                account_id,
                min,
                max,
                limit,
                debits,
                credits,
                reversed,
                at,
            },
        )
}

/// The first batch of accounts, random steps each with its probe, and the hash key.
fn scenario() -> impl Strategy<Value = (Vec<Account>, Vec<(Op, Probe)>, u64)> {
    (
        initial_accounts(),
        vec((op(), probe()), 1..=60),
        any::<u64>(),
    )
}

// ---------------------------------------------------------------------------------------------
// Resolving specs against the model.

/// The n-th newest (modulo their number) stored transfer passing `keep`.
fn newest(model: &Model, n: u8, keep: impl Fn(&ModelTransfer) -> bool) -> Option<Transfer> {
    let mut found: Vec<Transfer> = model
        .transfers
        .values()
        .filter(|t| keep(t))
        .map(|t| t.stored)
        .collect();
    found.sort_by_key(|t| std::cmp::Reverse(t.timestamp));
    let count = found.len().max(1);
    found.get(usize::from(n) % count).copied()
}

fn take_fresh(fresh: &mut u128) -> u128 {
    *fresh += 1;
    *fresh
}

fn resolve_account(spec: &AccountSpec, model: &Model) -> Account {
    let (n, mutation) = match spec {
        AccountSpec::New(a) => return *a,
        AccountSpec::Again(n, mutation) => (*n, *mutation),
    };
    let existing: Vec<Account> = model.accounts.values().map(|a| a.created).collect();
    let Some(e) = existing.get(usize::from(n) % existing.len().max(1)) else {
        return Account {
            id: 1,
            ledger: 1,
            code: 1,
            ..Account::default()
        };
    };
    let mut a = Account { timestamp: 0, ..*e };
    match mutation {
        1 => a.flags.0 ^= HISTORY,
        2 => a.user_data_128 ^= 1,
        3 => a.user_data_64 ^= 1,
        4 => a.user_data_32 ^= 1,
        5 => a.ledger = if a.ledger == 1 { 2 } else { 1 },
        6 => a.code = a.code.wrapping_add(1),
        7 => a.flags.0 ^= AccountFlags::CLOSED,
        _ => {}
    }
    a
}

fn resolve_transfer(spec: &TransferSpec, model: &Model, fresh: &mut u128) -> Transfer {
    use TransferFlags as F;
    let TransferSpec::New {
        kind,
        id,
        dr,
        cr,
        amount,
        amount_mode,
        pending,
        timeout,
        given,
        code,
        user_data: (u1, u2, u3),
        fault,
    } = *spec
    else {
        let TransferSpec::Again(n, mutation) = *spec else {
            unreachable!()
        };
        return match newest(model, n, |_| true) {
            Some(e) => resubmission(&e, mutation),
            None => Transfer {
                id: take_fresh(fresh),
                ..Transfer::default()
            },
        };
    };
    let id = match id {
        IdPick::Fresh => take_fresh(fresh),
        IdPick::Pool(id) => id,
        IdPick::Newest(n) => match newest(model, n, |_| true) {
            Some(t) => t.id,
            None => take_fresh(fresh),
        },
    };
    // Mostly a different account on the debit account's ledger.
    let ledger_of = |id: u128| model.accounts.get(&id).map(|a| a.created.ledger);
    let cr = (0..8)
        .map(|k| (cr + k - 1) % 8 + 1)
        .find(|&c| c != dr && (fault == 25 || ledger_of(c) == ledger_of(dr)))
        .unwrap_or(if cr == dr { dr % 8 + 1 } else { cr });
    let mut t = Transfer {
        id,
        debit_account_id: dr,
        credit_account_id: cr,
        amount,
        user_data_128: u1.into(),
        user_data_64: u2.into(),
        user_data_32: u3.into(),
        ledger: ledger_of(dr).unwrap_or(1),
        code,
        ..Transfer::default()
    };
    match kind {
        Kind::Single => {}
        Kind::Pending => {
            t.flags.0 = F::PENDING;
            t.timeout = timeout;
        }
        Kind::Closing(flags) | Kind::Balancing(flags) => {
            t.flags.0 = flags;
            if flags & F::PENDING != 0 {
                t.timeout = timeout;
            }
            if flags & (F::BALANCING_DEBIT | F::BALANCING_CREDIT) != 0 && amount_mode == 0 {
                t.amount = AMOUNT_MAX;
            }
        }
        Kind::AnyFlags(flags) => {
            t.flags.0 = flags;
            t.pending_id = pick_pending(pending, model, fresh);
        }
        Kind::Post | Kind::Void => {
            let post = matches!(kind, Kind::Post);
            t.flags.0 = if post {
                F::POST_PENDING_TRANSFER
            } else {
                F::VOID_PENDING_TRANSFER
            };
            t.pending_id = pick_pending(pending, model, fresh);
            let p = model.transfers.get(&t.pending_id).map_or(t, |p| p.stored);
            t.amount = match (post, amount_mode) {
                (true, 0 | 1) => AMOUNT_MAX,
                (true, 2) | (false, 3) => amount,
                (false, 0 | 1) => 0,
                _ => p.amount,
            };
            let keep = |bit: u8, value: u128| if given & bit != 0 { value } else { 0 };
            t.debit_account_id = keep(1, p.debit_account_id);
            t.credit_account_id = keep(2, p.credit_account_id);
            t.ledger = if given & 4 != 0 { p.ledger } else { 0 };
            t.code = if given & 8 != 0 { p.code } else { 0 };
        }
    }
    transfer_fault(&mut t, fault);
    t
}

fn pick_pending(pick: PendingPick, model: &Model, fresh: &mut u128) -> u128 {
    let is_pending = |t: &ModelTransfer| t.stored.flags.pending();
    let found = match pick {
        PendingPick::Live(n) => newest(model, n, |t| t.status == Some(PendingStatus::Pending))
            .or_else(|| newest(model, n, is_pending)),
        PendingPick::AnyPending(n) => newest(model, n, is_pending),
        PendingPick::AnyTransfer(n) => newest(model, n, |_| true),
        PendingPick::Pool(id) => return id,
        PendingPick::Fresh => None,
    };
    found.map_or_else(|| take_fresh(fresh), |t| t.id)
}

/// A stored transfer submitted again, as a client retry would, with one field changed.
fn resubmission(e: &Transfer, mutation: u8) -> Transfer {
    use TransferFlags as F;
    let mut t = Transfer { timestamp: 0, ..*e };
    match mutation {
        1 => t.amount = t.amount.wrapping_add(1),
        2 => t.amount = t.amount.saturating_sub(1),
        3 => t.debit_account_id = t.debit_account_id % 8 + 1,
        4 => t.credit_account_id = t.credit_account_id % 8 + 1,
        5 => t.flags.0 ^= F::PENDING,
        6 => t.timeout = t.timeout.wrapping_add(1),
        7 => t.pending_id = t.pending_id.wrapping_add(1),
        8 => t.user_data_128 ^= 1,
        9 => t.user_data_64 ^= 1,
        10 => t.user_data_32 ^= 1,
        11 => t.ledger = if t.ledger == 1 { 2 } else { 1 },
        12 => t.code = t.code.wrapping_add(1),
        // The inherited forms of a post or void.
        13 => {
            t.debit_account_id = 0;
            t.credit_account_id = 0;
            t.ledger = 0;
            t.code = 0;
        }
        14 => {
            t.user_data_128 = 0;
            t.user_data_64 = 0;
            t.user_data_32 = 0;
        }
        // Other amounts meaning "the same": full post, void, a larger balancing bound.
        15 => {
            t.amount = if t.flags.post_pending_transfer() {
                AMOUNT_MAX
            } else if t.flags.void_pending_transfer() {
                0
            } else {
                t.amount.saturating_add(5)
            };
        }
        _ => {}
    }
    t
}

/// Makes one field invalid or mismatching (`fault` 0: none).
fn transfer_fault(t: &mut Transfer, fault: u8) {
    use TransferFlags as F;
    let second_phase = t.flags.post_pending_transfer() || t.flags.void_pending_transfer();
    match fault {
        1 => t.timestamp = 1,
        2 => t.flags.0 |= 1 << 8,
        3 => t.id = 0,
        4 => t.id = u128::MAX,
        5 => t.flags.0 |= F::PENDING | F::POST_PENDING_TRANSFER,
        6 => t.debit_account_id = 0,
        7 => t.debit_account_id = u128::MAX,
        8 => t.credit_account_id = 0,
        9 => t.credit_account_id = u128::MAX,
        10 => t.credit_account_id = t.debit_account_id.max(1),
        11 => t.pending_id = u128::from(!second_phase),
        12 => t.pending_id = u128::MAX,
        13 => t.pending_id = t.id,
        14 => t.timeout = 1,
        15 => t.flags.0 |= F::CLOSING_DEBIT,
        16 => t.ledger = 0,
        17 => t.code = 0,
        18 => t.debit_account_id = 9,
        19 => t.credit_account_id = 9,
        20 => t.ledger = if t.ledger == 1 { 2 } else { 1 },
        21 => t.debit_account_id = t.debit_account_id % 8 + 1,
        22 => t.code = 2,
        23 => t.flags.0 |= F::BALANCING_CREDIT,
        24 => t.amount = u128::MAX - 1,
        _ => {}
    }
}

/// Flattens chains into one batch: every event but a chain's last is linked; with `open`, the
/// batch's last event is linked too. Resubmissions (`true`) keep their own `linked` flag, so
/// they can match what was stored.
fn chained<E: Copy>(chains: &[Vec<(E, bool)>], open: bool, set_linked: fn(&mut E, bool)) -> Vec<E> {
    let mut events = Vec::new();
    for (c, chain) in chains.iter().enumerate() {
        for (i, (e, resubmission)) in chain.iter().enumerate() {
            let mut e = *e;
            let last_of_batch = c + 1 == chains.len() && i + 1 == chain.len();
            if open && last_of_batch {
                set_linked(&mut e, true);
            } else if !resubmission {
                set_linked(&mut e, i + 1 < chain.len());
            }
            events.push(e);
        }
    }
    events
}

impl Model {
    /// The batch timestamp for `n` events after `gap`.
    fn batch_timestamp(&self, gap: &Gap, n: usize) -> u64 {
        let earliest = self.now + 1;
        let first = match gap {
            Gap::Ns(ns) => earliest + ns,
            // Only near expiries: time must stay well below 2^63.
            Gap::BeforeExpiry(ns) => self
                .next_expiry()
                .filter(|at| *at <= earliest + 10 * NS_PER_S)
                .map_or(earliest, |at| at.saturating_sub(*ns).max(earliest)),
            Gap::Jump => earliest.max(JUMP_TO),
        };
        first + n as u64 - 1
    }
}

// ---------------------------------------------------------------------------------------------
// Lockstep driver.

fn compare(
    ledger: &Ledger,
    cold: &[Transfer],
    model: &Model,
    probe: &Probe,
    fresh: u128,
    step: usize,
) {
    for id in (0..=ACCOUNT_POOL).chain([u128::MAX]) {
        let want = model.accounts.get(&id).map(|a| (a.expected(), a.limits));
        assert_eq!(ledger.lookup_account(id), want, "step {step}: account {id}");
    }
    let transfer_ids: BTreeSet<u128> = (0..=TRANSFER_POOL)
        .chain([u128::MAX, fresh + 1])
        .chain(model.transfers.keys().copied())
        .chain(model.failed.iter().copied())
        .collect();
    for id in transfer_ids {
        let want = model.transfers.get(&id);
        assert_eq!(
            ledger.lookup_transfer(id, cold),
            Ok(want.map(|t| t.stored)),
            "step {step}: transfer {id}"
        );
        assert_eq!(
            ledger.pending_status(id),
            want.and_then(|t| t.status),
            "step {step}: pending status of {id}"
        );
    }
    ledger.check_conservation();
    assert_eq!(
        ledger.account_count(),
        model.accounts.len() as u64,
        "step {step}"
    );
    assert_eq!(
        ledger.transfer_count(),
        model.transfers.len() as u64,
        "step {step}"
    );
    assert_eq!(
        ledger.next_expiry(),
        model.next_expiry(),
        "step {step}: next expiry"
    );

    // Instants worth probing: around every transfer and account creation, and now.
    let mut instants: Vec<u64> = vec![0, model.now];
    for t in model.transfers.values() {
        let ts = t.stored.timestamp;
        instants.extend([ts - 1, ts, ts + 1]);
    }
    for a in model.accounts.values() {
        instants.extend([a.created.timestamp - 1, a.created.timestamp]);
    }
    let pick = |selector: u8| instants[usize::from(selector) % instants.len()];
    let filter = AccountFilter {
        account_id: probe.account_id,
        timestamp_min: pick(probe.min),
        timestamp_max: pick(probe.max),
        limit: probe.limit,
        debits: probe.debits,
        credits: probe.credits,
        reversed: probe.reversed,
    };
    assert_eq!(
        ledger.get_account_transfers(&filter, cold),
        Ok(model.account_transfers(&filter)),
        "step {step}: {filter:?}"
    );
    let both_sides = AccountFilter {
        debits: false,
        credits: false,
        ..filter
    };
    assert_eq!(
        ledger.get_account_balances(&both_sides, cold),
        Ok(model.account_balances(&both_sides)),
        "step {step}: {both_sides:?}"
    );
    let at = pick(probe.at);
    let mut history_ids: Vec<u128> = model
        .accounts
        .values()
        .filter(|a| a.has(HISTORY))
        .map(|a| a.created.id)
        .collect();
    history_ids.push(probe.account_id);
    for id in history_ids {
        assert_eq!(
            ledger.balance_at(id, at),
            model.balance_at(id, at),
            "step {step}: balance of {id} at {at}"
        );
    }
}

fn set_account_linked(a: &mut Account, linked: bool) {
    a.flags.0 &= !AccountFlags::LINKED;
    if linked {
        a.flags.0 |= AccountFlags::LINKED;
    }
}

fn set_transfer_linked(t: &mut Transfer, linked: bool) {
    t.flags.0 &= !TransferFlags::LINKED;
    if linked {
        t.flags.0 |= TransferFlags::LINKED;
    }
}

fn run(initial: &[Account], ops: &[(Op, Probe)], hash_key: u64) {
    let mut ledger = Ledger::new(hash_key);
    // The record file: every transfer stored, by position (evicted ones are read from here).
    let mut cold: Vec<Transfer> = Vec::new();
    let mut model = Model::new();
    // Fresh transfer ids start above the shared pool.
    let mut fresh: u128 = 100;
    let first = (
        Op::Accounts(
            Gap::Ns(0),
            initial.iter().map(|a| vec![AccountSpec::New(*a)]).collect(),
        ),
        Probe::default(),
    );
    for (step, (op, probe)) in std::iter::once(&first).chain(ops).enumerate() {
        match op {
            Op::Accounts(gap, chains) => {
                let chains: Vec<Vec<(Account, bool)>> = chains
                    .iter()
                    .map(|c| {
                        c.iter()
                            .map(|s| {
                                let again = matches!(s, AccountSpec::Again(..));
                                (resolve_account(s, &model), again)
                            })
                            .collect()
                    })
                    .collect();
                let events = chained(&chains, false, set_account_linked);
                if events.is_empty() {
                    continue; // Only the first batch can be empty.
                }
                let timestamp = model.batch_timestamp(gap, events.len());
                let mut got = Vec::new();
                ledger.create_accounts(timestamp, &events, &mut got);
                let want = model.create_accounts(timestamp, &events);
                assert_eq!(got, want, "step {step} at {timestamp}: {events:?}");
            }
            Op::Transfers(gap, chains, open) => {
                let chains: Vec<Vec<(Transfer, bool)>> = chains
                    .iter()
                    .map(|c| {
                        c.iter()
                            .map(|s| {
                                let again = matches!(s, TransferSpec::Again(..));
                                (resolve_transfer(s, &model, &mut fresh), again)
                            })
                            .collect()
                    })
                    .collect();
                let events = chained(&chains, *open, set_transfer_linked);
                let timestamp = model.batch_timestamp(gap, events.len());
                let mut got = Vec::new();
                prefetch(&mut ledger, &events, &cold);
                ledger.create_transfers(timestamp, &events, &mut got);
                ledger.prefetch_clear();
                let want = model.create_transfers(timestamp, &events);
                assert_eq!(got, want, "step {step} at {timestamp}: {events:?}");
            }
            Op::Limits(gap, changes) => {
                let timestamp = model.batch_timestamp(gap, changes.len());
                let mut got = Vec::new();
                ledger.set_account_limits(timestamp, changes, &mut got);
                let want = model.set_limits(timestamp, changes);
                assert_eq!(got, want, "step {step} at {timestamp}: {changes:?}");
            }
            Op::Pulse(gap) => {
                let timestamp = model.batch_timestamp(gap, 1);
                ledger.pulse(timestamp);
                model.pulse(timestamp);
            }
            Op::Restart(key) => {
                let mut bytes = Vec::new();
                ledger.encode_snapshot(&mut bytes);
                let mut restore = Ledger::decode_snapshot(&bytes, *key).expect("snapshot decodes");
                for transfer in &cold[..usize_of(restore.cold_floor())] {
                    restore
                        .cold_transfer(transfer)
                        .expect("cold transfer accepted");
                }
                let decoded = restore.finish().expect("restore finishes");
                let mut again = Vec::new();
                decoded.encode_snapshot(&mut again);
                assert!(bytes == again, "step {step}: re-encoding differs");
                ledger = decoded;
            }
            Op::Evict(share) => {
                let floor = ledger.cold_floor();
                let span = ledger.transfer_count() - floor;
                ledger.evict_below(floor + span * u64::from(*share) / 255);
            }
        }
        let stored = cold.len() as u64;
        cold.extend_from_slice(ledger.transfers_from(stored.max(ledger.cold_floor())));
        assert_eq!(cold.len() as u64, ledger.transfer_count(), "step {step}");
        compare(&ledger, &cold, &model, probe, fresh, step);
    }
}

/// Hands the ledger every cold transfer it asks for, as the node does from its record file.
fn prefetch(ledger: &mut Ledger, events: &[Transfer], cold: &[Transfer]) {
    for _round in 0..2 {
        let mut needs = Vec::new();
        ledger.prefetch_needs(events.iter().map(PrefetchKey::of), &mut needs);
        for position in needs {
            ledger.prefetch(position, cold[usize_of(position)]);
        }
    }
    let mut needs = Vec::new();
    ledger.prefetch_needs(events.iter().map(PrefetchKey::of), &mut needs);
    assert!(needs.is_empty(), "two prefetch rounds suffice");
}

fn usize_of(position: u64) -> usize {
    usize::try_from(position).expect("fits")
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    // Goal: the ledger agrees with an independent model on every result code, balance, flag,
    // limit, stored transfer, pending status, query answer and snapshot round trip, and keeps
    // debits equal to credits.
    // Method: random batches (account and transfer chains, limit changes, pulses, restarts)
    // over small id pools run in lockstep on `Ledger` and `Model`; after every step all
    // observable state is compared. The model picks each code as the first declared in `ALL`
    // among every rule violated, so the precedence order is checked too.
    #[test]
    fn ledger_matches_model((initial, ops, hash_key) in scenario()) {
        run(&initial, &ops, hash_key);
    }
}
