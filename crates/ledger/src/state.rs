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
use std::hash::BuildHasher;

use stdx::{DenseMap, IdHashBuilder, IdIndex, IdMap, id_map};

use crate::account::{Account, AccountBalance, AccountFlags, AccountLimits, LimitChange};
use crate::account_table::AccountTable;
use crate::open_pending::OpenPending;
use crate::result::{CreateAccountResult, CreateTransferResult, SetLimitResult};
use crate::transfer::{AMOUNT_MAX, PendingStatus, Transfer, TransferFlags};

const NS_PER_S: u64 = 1_000_000_000;
/// Expiry times must fit in 63 bits, like the reference engine's.
const TIMESTAMP_MAX: u64 = i64::MAX as u64;

/// Transfers whose id-index buckets `Ledger::prefetch_needs` reads together before probing them.
const PREFETCH_RUN: usize = 64;

/// What [`Ledger::prefetch_needs`] needs of a transfer a batch may create: its id, and the
/// pending transfer it resolves if it is a post or a void.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrefetchKey {
    pub id: u128,
    pub resolves: Option<u128>,
}

impl PrefetchKey {
    /// A transfer that resolves nothing.
    #[must_use]
    pub fn plain(id: u128) -> PrefetchKey {
        PrefetchKey { id, resolves: None }
    }

    /// A post or void of `pending_id`.
    #[must_use]
    pub fn resolving(id: u128, pending_id: u128) -> PrefetchKey {
        PrefetchKey {
            id,
            resolves: Some(pending_id),
        }
    }

    /// The key of `transfer`.
    #[must_use]
    pub fn of(transfer: &Transfer) -> PrefetchKey {
        let resolves =
            transfer.flags.post_pending_transfer() || transfer.flags.void_pending_transfer();
        PrefetchKey {
            id: transfer.id,
            resolves: resolves.then_some(transfer.pending_id),
        }
    }
}

pub(crate) struct AccountState {
    pub(crate) account: Account,
    pub(crate) limits: AccountLimits,
    /// Positions of the transfers touching this account, ascending.
    pub(crate) transfers: Vec<u64>,
    /// Balances after each transfer; only for accounts with the `history` flag.
    pub(crate) history: Vec<AccountBalance>,
}

enum Undo {
    AccountCreate(u128),
    Account(Account),
    TransferPush,
    Pending(u128, Option<PendingStatus>),
    /// A cold pending transfer's body left `open_pending` when it was resolved.
    OpenPendingRemove(u64, Transfer),
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

/// Where transfers below the cold floor are read back from: the shell's record file, or in
/// tests a slice (position = index). Only lookups use it; `create_transfers` never does I/O:
/// the cold transfers a batch needs are handed in beforehand (`prefetch_needs`, `prefetch`).
pub trait ColdStore {
    type Error;
    fn read(&self, position: u64) -> Result<Transfer, Self::Error>;
}

impl ColdStore for [Transfer] {
    type Error = std::convert::Infallible;
    fn read(&self, position: u64) -> Result<Transfer, Self::Error> {
        Ok(self[usize_of(position)])
    }
}

/// The ledger: accounts, balances and indexes in memory; transfers in memory from the cold floor
/// on, older ones in the shell's record file (see `evict_below`).
///
/// Memory per retained transfer below the floor: 16 bytes of id index (hash, position; the id is
/// confirmed against the record) plus 8 bytes per account side in the account's position list.
pub struct Ledger {
    pub(crate) accounts: AccountTable,
    /// Transfers at positions `cold_floor..`, in timestamp order.
    pub(crate) tail: Vec<Transfer>,
    /// Transfers below this position were evicted; the shell keeps them durably.
    pub(crate) cold_floor: u64,
    /// (hash of id, position) of every stored transfer.
    pub(crate) id_index: IdIndex,
    pub(crate) hasher: IdHashBuilder,
    /// Ids whose transfer failed with a transient code: never usable again.
    pub(crate) failed: IdMap<u128, ()>,
    /// Status of every pending transfer ever created, in the order they were created (which
    /// the snapshot keeps: no sort).
    pub(crate) pending: DenseMap<u128, PendingStatus>,
    /// Bodies of unresolved pending transfers below the cold floor, by position: expiry, post
    /// and void need them without I/O.
    pub(crate) open_pending: OpenPending,
    /// Cold transfers loaded by the shell for the batch being applied, by position.
    prefetched: IdMap<u64, Transfer>,
    /// Unresolved pending transfers with a timeout, by (expires_at, position).
    pub(crate) expiry: BTreeSet<(u64, u64)>,
    pub(crate) commit_timestamp: u64,
    undo: Vec<Undo>,
    recording: bool,
    /// Set while a product module posts its own transfers (`post_transfers`).
    posting_reserved: bool,
}

/// Transfer ids from here to `u128::MAX - 1` are reserved for transfers the engine's product
/// modules post on their own account (interest, penalties, write-offs): users get
/// `id_must_not_be_reserved`, so a generated id can never collide with a client's.
pub const RESERVED_ID_MIN: u128 = 0xFFFF_FFFF << 96;

impl Ledger {
    /// An empty ledger. `hash_key` only changes the layout of hash tables, never a result.
    #[must_use]
    pub fn new(hash_key: u64) -> Ledger {
        Ledger {
            accounts: AccountTable::new(IdHashBuilder::new(hash_key)),
            tail: Vec::new(),
            cold_floor: 0,
            id_index: IdIndex::new(),
            hasher: IdHashBuilder::new(hash_key),
            failed: id_map(hash_key),
            pending: DenseMap::new(hash_key),
            open_pending: OpenPending::new(hash_key),
            prefetched: id_map(hash_key),
            expiry: BTreeSet::new(),
            commit_timestamp: 0,
            undo: Vec::new(),
            recording: false,
            posting_reserved: false,
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

    /// Transfers stored, evicted ones included: the next transfer's position.
    #[must_use]
    pub fn transfer_count(&self) -> u64 {
        self.cold_floor + self.tail.len() as u64
    }

    /// Sizes the id index for `additional` more transfers, so storing them never rehashes (a
    /// rehash moves every entry at once: a stall proportional to the transfers stored).
    pub fn reserve_transfers(&mut self, additional: usize) {
        self.id_index.reserve(additional);
    }

    /// Positions below this were evicted (`evict_below`).
    #[must_use]
    pub fn cold_floor(&self) -> u64 {
        self.cold_floor
    }

    /// The stored transfers from `position` (at or above the cold floor) on, for the shell to
    /// write to its record file.
    #[must_use]
    pub fn transfers_from(&self, position: u64) -> &[Transfer] {
        assert!(
            position >= self.cold_floor,
            "position {position} was evicted"
        );
        &self.tail[usize_of(position - self.cold_floor)..]
    }

    /// Drops transfers below `floor` from memory. The shell calls it between batches, once the
    /// record file holds them durably; results never change, since cold transfers a batch needs
    /// are prefetched. Unresolved pending transfers keep their body in memory.
    pub fn evict_below(&mut self, floor: u64) {
        assert!(self.undo.is_empty(), "eviction happens between batches");
        assert!(
            floor <= self.transfer_count(),
            "evicting unstored transfers"
        );
        if floor <= self.cold_floor {
            return;
        }
        let count = usize_of(floor - self.cold_floor);
        for (offset, transfer) in self.tail.drain(..count).enumerate() {
            if transfer.flags.pending()
                && self.pending.get(&transfer.id) == Some(&PendingStatus::Pending)
            {
                self.open_pending
                    .insert(self.cold_floor + offset as u64, transfer);
            }
        }
        self.cold_floor = floor;
    }

    /// Appends to `needs` the cold positions that applying the transfers named by `keys` may
    /// read and that are not in memory: records of ids that may exist (idempotency), of pending
    /// transfers being resolved, and of the pending transfer an existing post or void resolved.
    /// The shell reads them, hands them in with `prefetch`, and asks again until nothing is
    /// needed (at most twice). A position may be appended more than once.
    pub fn prefetch_needs(
        &self,
        keys: impl IntoIterator<Item = PrefetchKey>,
        needs: &mut Vec<u64>,
    ) {
        // One probe per id: this pass runs over every batch, ahead of apply. A probe is a cache
        // miss on a table far larger than the caches, and with its branches it leaves the core
        // room for only a few misses in flight; so each run's home buckets are read first, in a
        // loop of independent loads that has the whole run's misses in flight at once
        // (BENCHMARKS.md, "The prefetch pass in runs").
        let mut keys = keys.into_iter();
        let mut run = [(PrefetchKey::default(), 0u64); PREFETCH_RUN];
        loop {
            let mut len = 0;
            for (slot, key) in run.iter_mut().zip(keys.by_ref()) {
                *slot = (key, self.hash(key.id));
                len += 1;
            }
            // The loads alone, a few instructions each, so that the core's reorder window
            // holds many of them (with the hashing in the same loop it held about five).
            let touched = run[..len]
                .iter()
                .fold(0, |sum, &(_, hash)| sum ^ self.id_index.touch(hash));
            std::hint::black_box(touched);
            for &(key, hash) in &run[..len] {
                self.prefetch_needs_one(key, hash, needs);
            }
            if len < PREFETCH_RUN {
                return;
            }
        }
    }

    /// `prefetch_needs` for one key whose id hashes to `hash`.
    fn prefetch_needs_one(&self, key: PrefetchKey, hash: u64, needs: &mut Vec<u64>) {
        for position in self.id_index.candidates(hash) {
            match self.available(position) {
                None => needs.push(position),
                Some(e)
                    if e.id == key.id
                        && (e.flags.post_pending_transfer() || e.flags.void_pending_transfer()) =>
                {
                    self.unavailable_candidates(e.pending_id, needs);
                }
                Some(_) => {}
            }
        }
        if let Some(pending_id) = key.resolves {
            self.unavailable_candidates(pending_id, needs);
        }
    }

    /// Hands in a cold transfer read for the coming batch.
    pub fn prefetch(&mut self, position: u64, transfer: Transfer) {
        assert!(
            position < self.cold_floor,
            "only cold transfers are prefetched"
        );
        self.prefetched.insert(position, transfer);
    }

    /// Forgets prefetched transfers; the shell calls it after each batch.
    pub fn prefetch_clear(&mut self) {
        self.prefetched.clear();
    }

    fn hash(&self, id: u128) -> u64 {
        self.hasher.hash_one(id)
    }

    /// Positions whose id may be `id` (same 64-bit hash).
    fn candidates(&self, id: u128) -> impl Iterator<Item = u64> + '_ {
        self.id_index.candidates(self.hash(id))
    }

    fn unavailable_candidates(&self, id: u128, needs: &mut Vec<u64>) {
        needs.extend(self.candidates(id).filter(|&p| self.available(p).is_none()));
    }

    /// The transfer at `position` if it is in memory (tail, open pending or prefetched).
    fn available(&self, position: u64) -> Option<Transfer> {
        if position >= self.cold_floor {
            return Some(self.tail[usize_of(position - self.cold_floor)]);
        }
        self.open_pending
            .get(&position)
            .or_else(|| self.prefetched.get(&position))
            .copied()
    }

    /// The transfer at `position`, during apply: a cold one must have been prefetched.
    fn record(&self, position: u64) -> Transfer {
        self.available(position)
            .unwrap_or_else(|| panic!("cold transfer at position {position} was not prefetched"))
    }

    /// The position of the stored transfer with this id, during apply.
    fn position_of(&self, id: u128) -> Option<u64> {
        self.id_index
            .find(self.hash(id), |p| self.record(p).id == id)
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

    /// Time reaches `timestamp` (at or after the last event): every pending transfer due by
    /// then expires now, not at the next event. The engine calls it at the end of each batch,
    /// so between batches (snapshots, lookups, product modules' own expiry) the state is caught
    /// up with the batch's time.
    pub fn advance_to(&mut self, timestamp: u64) {
        assert!(
            timestamp >= self.commit_timestamp,
            "time never goes back: {timestamp} before {}",
            self.commit_timestamp
        );
        self.expire_pending(timestamp);
        self.commit_timestamp = timestamp;
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
            let pending = self.record(position);
            let status = self.pending.insert(pending.id, PendingStatus::Expired);
            assert_eq!(status, Some(PendingStatus::Pending));
            self.close_open_pending(position);
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
        let touched = transfers
            .iter()
            .fold(0, |sum, t| sum ^ self.id_index.touch(self.hash(t.id)));
        std::hint::black_box(touched);
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
                    let previous = ledger.failed.insert(t.id, ());
                    assert!(previous.is_none(), "a transiently failed id was unused");
                }
            },
        );
    }

    /// Creates transfers on behalf of a product module (credit): like `create_transfers`, but
    /// ids from `RESERVED_ID_MIN` on are allowed. Everything else, results included, is the same.
    pub fn post_transfers(
        &mut self,
        timestamp: u64,
        transfers: &[Transfer],
        results: &mut Vec<CreateTransferResult>,
    ) {
        self.posting_reserved = true;
        self.create_transfers(timestamp, transfers, results);
        self.posting_reserved = false;
    }

    /// Reads the home bucket of the id index where a transfer with this id is found or
    /// stored, so that applying it soon after finds the bucket in cache. A product module's
    /// touch pass over a run of commands keeps many of these cache misses in flight at once,
    /// where applying one command at a time waits for each. Returns a value read, for the
    /// caller to pass to `std::hint::black_box`.
    #[must_use]
    pub fn touch_transfer_id(&self, id: u128) -> u64 {
        self.id_index.touch(self.hash(id))
    }

    /// Reads the account's balances and the end of its transfer list (where a posting appends),
    /// for a touch pass like [`Ledger::touch_transfer_id`]'s.
    #[must_use]
    pub fn touch_account(&self, id: u128) -> u64 {
        self.accounts.touch(id)
    }

    /// Reads only the index bucket a lookup of account `id` probes first: a pass of these over
    /// a run of commands, before the pass of [`Ledger::touch_account`], has the index misses of
    /// the whole run in flight at once (each is independent of the others), so the second pass
    /// waits only for the accounts themselves.
    #[must_use]
    pub fn touch_account_home(&self, id: u128) -> u64 {
        self.accounts.touch_home(id)
    }

    /// The stored transfer with this id, during apply. A cold one must have been prefetched
    /// (`prefetch_needs` lists it for a transfer with this id).
    #[must_use]
    pub fn find_transfer(&self, id: u128) -> Option<Transfer> {
        self.position_of(id).map(|position| self.record(position))
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
                    self.accounts.remove_last(id);
                }
                Undo::Account(account) => {
                    self.accounts
                        .get_mut(&account.id)
                        .expect("account exists")
                        .account = account;
                }
                Undo::TransferPush => {
                    let transfer = self.tail.pop().expect("pushed transfer exists");
                    let position = self.transfer_count();
                    let hash = self.hash(transfer.id);
                    assert!(self.id_index.remove(hash, position), "indexed");
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
                        // Undone in reverse: a status inserted later is gone already.
                        self.pending.remove_last(&id).expect("pending exists");
                    }
                },
                Undo::OpenPendingRemove(position, transfer) => {
                    self.open_pending.insert(position, transfer);
                }
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
        if t.id >= RESERVED_ID_MIN && !self.posting_reserved {
            return R::IdMustNotBeReserved;
        }
        if let Some(position) = self.position_of(t.id) {
            let e = self.record(position);
            let resolved = (e.flags.post_pending_transfer() || e.flags.void_pending_transfer())
                .then(|| {
                    let p = self
                        .position_of(e.pending_id)
                        .expect("resolved pending stored");
                    self.record(p)
                });
            return create_transfer_exists(t, &e, resolved.as_ref());
        }
        if self.failed.contains_key(&t.id) {
            return R::IdAlreadyFailed;
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
        if !self.posting_reserved && (dr.flags.managed() || cr.flags.managed()) {
            return R::AccountIsManaged;
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
            &mut self.tail,
            self.cold_floor,
            &mut self.id_index,
            self.hasher.hash_one(stored.id),
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
        if t.pending_id >= RESERVED_ID_MIN && !self.posting_reserved {
            return R::PendingIdMustNotBeReserved;
        }
        if t.timeout != 0 {
            return R::TimeoutReservedForPendingTransfer;
        }
        let Some(pending_position) = self.position_of(t.pending_id) else {
            return R::PendingTransferNotFound;
        };
        let p = self.record(pending_position);
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
        }
        if !self.posting_reserved && (dr.flags.managed() || cr.flags.managed()) {
            return R::AccountIsManaged;
        }
        if post {
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
        store_transfer(
            &mut self.tail,
            self.cold_floor,
            &mut self.id_index,
            self.hasher.hash_one(stored.id),
            [dr_state, cr_state],
            stored,
        );
        self.close_open_pending(pending_position);
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

    /// A pending transfer was resolved: a cold one's body leaves `open_pending`, but stays
    /// readable for the rest of the batch (a retry in the same batch compares against it).
    fn close_open_pending(&mut self, position: u64) {
        if let Some(transfer) = self.open_pending.remove(&position) {
            self.prefetched.insert(position, transfer);
            if self.recording {
                self.undo.push(Undo::OpenPendingRemove(position, transfer));
            }
        }
    }

    fn pending_set(&mut self, id: u128, status: PendingStatus) {
        let previous = self.pending.insert(id, status);
        if self.recording {
            self.undo.push(Undo::Pending(id, previous));
        }
    }

    // Lookups. These read committed state only; they never change it. Transfers below the
    // cold floor are read from `cold`.

    #[must_use]
    pub fn lookup_account(&self, id: u128) -> Option<(Account, AccountLimits)> {
        self.accounts
            .get(&id)
            .map(|state| (state.account, state.limits))
    }

    /// The transfer at `position`, from memory or from `cold`.
    fn read<C: ColdStore + ?Sized>(&self, position: u64, cold: &C) -> Result<Transfer, C::Error> {
        match self.available(position) {
            Some(transfer) => Ok(transfer),
            None => cold.read(position),
        }
    }

    pub fn lookup_transfer<C: ColdStore + ?Sized>(
        &self,
        id: u128,
        cold: &C,
    ) -> Result<Option<Transfer>, C::Error> {
        for position in self.candidates(id) {
            let transfer = self.read(position, cold)?;
            if transfer.id == id {
                return Ok(Some(transfer));
            }
        }
        Ok(None)
    }

    /// The status of a pending transfer, or `None` if `id` is not a pending transfer.
    #[must_use]
    pub fn pending_status(&self, id: u128) -> Option<PendingStatus> {
        self.pending.get(&id).copied()
    }

    /// The index in `positions` of the first transfer with a timestamp at or above `timestamp`.
    fn first_at_or_after<C: ColdStore + ?Sized>(
        &self,
        positions: &[u64],
        timestamp: u64,
        cold: &C,
    ) -> Result<usize, C::Error> {
        let (mut low, mut high) = (0, positions.len());
        while low < high {
            let middle = low + (high - low) / 2;
            if self.read(positions[middle], cold)?.timestamp < timestamp {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        Ok(low)
    }

    /// The range of `state.transfers` (and of its parallel history rows) inside the filter's
    /// timestamps.
    fn filter_span<C: ColdStore + ?Sized>(
        &self,
        state: &AccountState,
        filter: &AccountFilter,
        cold: &C,
    ) -> Result<std::ops::Range<usize>, C::Error> {
        let (min, max) = filter_range(filter);
        let start = self.first_at_or_after(&state.transfers, min, cold)?;
        let end = match max.checked_add(1) {
            Some(after) => self.first_at_or_after(&state.transfers, after, cold)?,
            None => state.transfers.len(),
        };
        Ok(start..end.max(start))
    }

    /// The indexes in `span` (oldest first, or newest first if `reversed`) whose transfer is on
    /// the filter's side, at most `limit` of them.
    fn filter_sides<C: ColdStore + ?Sized>(
        &self,
        state: &AccountState,
        span: std::ops::Range<usize>,
        filter: &AccountFilter,
        cold: &C,
    ) -> Result<Vec<(usize, Transfer)>, C::Error> {
        let both = filter.debits == filter.credits;
        let limit = filter.limit as usize;
        let mut picked = Vec::with_capacity(limit.min(span.len()));
        let mut visit = |index: usize| -> Result<bool, C::Error> {
            let transfer = self.read(state.transfers[index], cold)?;
            if both
                || (filter.debits && transfer.debit_account_id == filter.account_id)
                || (filter.credits && transfer.credit_account_id == filter.account_id)
            {
                picked.push((index, transfer));
            }
            Ok(picked.len() < limit)
        };
        if filter.reversed {
            for index in span.rev() {
                if !visit(index)? {
                    break;
                }
            }
        } else {
            for index in span {
                if !visit(index)? {
                    break;
                }
            }
        }
        Ok(picked)
    }

    /// The account's transfers in the filter's range, oldest first unless `reversed`.
    pub fn get_account_transfers<C: ColdStore + ?Sized>(
        &self,
        filter: &AccountFilter,
        cold: &C,
    ) -> Result<Vec<Transfer>, C::Error> {
        let Some(state) = self.accounts.get(&filter.account_id) else {
            return Ok(Vec::new());
        };
        if filter.limit == 0 {
            return Ok(Vec::new());
        }
        let span = self.filter_span(state, filter, cold)?;
        let picked = self.filter_sides(state, span, filter, cold)?;
        Ok(picked.into_iter().map(|(_, transfer)| transfer).collect())
    }

    /// The account's balance after each transfer in range (accounts with `history` only).
    pub fn get_account_balances<C: ColdStore + ?Sized>(
        &self,
        filter: &AccountFilter,
        cold: &C,
    ) -> Result<Vec<AccountBalance>, C::Error> {
        let Some(state) = self.accounts.get(&filter.account_id) else {
            return Ok(Vec::new());
        };
        if !state.account.flags.history() || filter.limit == 0 {
            return Ok(Vec::new());
        }
        // History rows are parallel to the account's transfer positions: one row per transfer.
        let span = self.filter_span(state, filter, cold)?;
        let picked = self.filter_sides(state, span, filter, cold)?;
        Ok(picked
            .into_iter()
            .map(|(index, _)| state.history[index])
            .collect())
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
    tail: &mut Vec<Transfer>,
    cold_floor: u64,
    id_index: &mut IdIndex,
    hash: u64,
    accounts: [&mut AccountState; 2],
    transfer: Transfer,
) -> u64 {
    let position = cold_floor + tail.len() as u64;
    assert!(transfer.timestamp > tail.last().map_or(0, |t| t.timestamp));
    tail.push(transfer);
    for state in accounts {
        state.transfers.push(position);
        if state.account.flags.history() {
            state
                .history
                .push(AccountBalance::of(&state.account, transfer.timestamp));
        }
    }
    id_index.insert(hash, position);
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
