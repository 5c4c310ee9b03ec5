//! The state machine: applies batches to the ledger, and snapshots it.
//!
//! Invariant: `apply` is a pure function of (state, batch). Batches must arrive with strictly
//! increasing timestamps; the shell guarantees it and `apply` asserts it.

use std::fmt;

use credit::{Credit, CreditSnapshotError};
use ledger::{Ledger, PrefetchKey, Restore, SnapshotError, Transfer};
use promotions::{Promotions, PromotionsSnapshotError};
use stdx::bytes::ByteSink;

use crate::{Batch, Reply, Request};

const SNAPSHOT_MAGIC: &[u8; 8] = b"EFSTATE3";
/// Product commands are touched (`Credit::touch`, `Promotions::touch`) in runs of this many, then applied: long
/// enough to keep many cache misses in flight, short enough that what a run read is still in
/// cache when it applies.
const TOUCH_RUN: usize = 64;

/// Why a state snapshot cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateMachineError {
    BadMagic,
    Ledger(SnapshotError),
    Credit(CreditSnapshotError),
    Promotions(PromotionsSnapshotError),
}

impl fmt::Display for StateMachineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateMachineError::BadMagic => write!(f, "not a state snapshot (bad magic)"),
            StateMachineError::Ledger(_) => write!(f, "ledger snapshot is invalid"),
            StateMachineError::Credit(_) => write!(f, "credit snapshot is invalid"),
            StateMachineError::Promotions(_) => write!(f, "promotions snapshot is invalid"),
        }
    }
}

impl std::error::Error for StateMachineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StateMachineError::BadMagic => None,
            StateMachineError::Ledger(error) => Some(error),
            StateMachineError::Credit(error) => Some(error),
            StateMachineError::Promotions(error) => Some(error),
        }
    }
}

/// The whole deterministic state of one shard.
pub struct StateMachine {
    ledger: Ledger,
    credit: Credit,
    promotions: Promotions,
    /// The number of the last batch applied (its log op).
    op: u64,
}

impl StateMachine {
    /// An empty state. `hash_key` only changes hash-table layout, never a result.
    #[must_use]
    pub fn new(hash_key: u64) -> StateMachine {
        StateMachine {
            ledger: Ledger::new(hash_key),
            credit: Credit::new(hash_key),
            promotions: Promotions::new(hash_key),
            op: 0,
        }
    }

    #[must_use]
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    #[must_use]
    pub fn credit(&self) -> &Credit {
        &self.credit
    }

    #[must_use]
    pub fn promotions(&self) -> &Promotions {
        &self.promotions
    }

    /// The op of the last batch applied; 0 before any.
    #[must_use]
    pub fn op(&self) -> u64 {
        self.op
    }

    /// The timestamp of the last event applied.
    #[must_use]
    pub fn commit_timestamp(&self) -> u64 {
        self.ledger.commit_timestamp()
    }

    /// Applies batch number `op` (the next one), returning one reply per request.
    pub fn apply(&mut self, op: u64, batch: &Batch) -> Vec<Reply> {
        assert_eq!(op, self.op + 1, "batches apply in log order");
        assert!(
            batch.timestamp > self.ledger.commit_timestamp(),
            "batch timestamps increase"
        );
        self.op = op;
        if batch.requests.is_empty() {
            self.ledger.pulse(batch.timestamp);
            self.promotions.expire(batch.timestamp);
            return Vec::new();
        }
        let mut timestamp = batch.timestamp - batch.timestamp_count();
        let mut replies = Vec::with_capacity(batch.requests.len());
        for request in &batch.requests {
            assert!(request.event_count() > 0, "requests are never empty");
            let first = timestamp + 1;
            timestamp += request.timestamp_count();
            replies.push(match request {
                Request::CreateAccounts(accounts) => {
                    let mut results = Vec::with_capacity(accounts.len());
                    self.ledger
                        .create_accounts(timestamp, accounts, &mut results);
                    Reply::CreateAccounts(results)
                }
                Request::CreateTransfers(transfers) => {
                    let mut results = Vec::with_capacity(transfers.len());
                    self.ledger
                        .create_transfers(timestamp, transfers, &mut results);
                    Reply::CreateTransfers(results)
                }
                Request::SetAccountLimits(changes) => {
                    let mut results = Vec::with_capacity(changes.len());
                    self.ledger
                        .set_account_limits(timestamp, changes, &mut results);
                    Reply::SetAccountLimits(results)
                }
                Request::CreatePrograms(programs) => Reply::CreatePrograms(
                    programs
                        .iter()
                        .map(|p| self.credit.create_program(&self.ledger, p))
                        .collect(),
                ),
                Request::Credit(commands) => {
                    let mut next = first;
                    let mut results = Vec::with_capacity(commands.len());
                    for run in commands.chunks(TOUCH_RUN) {
                        self.credit.touch(&self.ledger, run);
                        for command in run {
                            results.push(self.credit.execute(&mut self.ledger, next, command));
                            // Past the batch's timestamps only after the last command:
                            // saturates when the batch ends at u64::MAX (no overflow panic).
                            next = next.saturating_add(command.timestamp_count());
                        }
                    }
                    Reply::Credit(results)
                }
                Request::CreateCampaigns(campaigns) => {
                    let mut next = first;
                    let mut results = Vec::with_capacity(campaigns.len());
                    for campaign in campaigns {
                        results.push(self.promotions.create_campaign(
                            &mut self.ledger,
                            next,
                            campaign,
                        ));
                        next = next.saturating_add(1);
                    }
                    Reply::CreateCampaigns(results)
                }
                Request::Promotions(commands) => {
                    let mut next = first;
                    let mut results = Vec::with_capacity(commands.len());
                    for run in commands.chunks(TOUCH_RUN) {
                        self.promotions.touch(&self.ledger, &self.credit, run);
                        for command in run {
                            results.push(self.promotions.execute(
                                &mut self.ledger,
                                &mut self.credit,
                                next,
                                command,
                            ));
                            next = next.saturating_add(command.timestamp_count());
                        }
                    }
                    Reply::Promotions(results)
                }
            });
        }
        assert_eq!(timestamp, batch.timestamp);
        // Credit commands reserve timestamps they may not use; time still reaches the batch's,
        // and everything due by then expires now: the ledger's pending transfers and, with
        // them, promotions' checkouts, so a snapshot between batches is always caught up.
        self.ledger.advance_to(batch.timestamp);
        self.promotions.expire(batch.timestamp);
        self.ledger.prefetch_clear();
        replies
    }

    /// The cold transfer positions applying `batch` may read (see `Ledger::prefetch_needs`).
    /// The shell reads them, hands them in with `prefetch`, and asks again until none remain.
    pub fn prefetch_needs(&self, batch: &Batch, needs: &mut Vec<u64>) {
        let mut keys = Vec::new();
        for request in &batch.requests {
            match request {
                Request::CreateTransfers(transfers) => {
                    self.ledger
                        .prefetch_needs(transfers.iter().map(PrefetchKey::of), needs);
                }
                // In runs of commands, so that the keys stay a few KiB (a whole request's would
                // be a fresh megabyte of pages each batch).
                Request::Credit(commands) => {
                    for run in commands.chunks(TOUCH_RUN) {
                        keys.clear();
                        Credit::prefetch_keys(run, &mut keys);
                        self.ledger.prefetch_needs(keys.iter().copied(), needs);
                    }
                }
                Request::Promotions(commands) => {
                    for run in commands.chunks(TOUCH_RUN) {
                        keys.clear();
                        self.promotions.prefetch_keys(run, &mut keys);
                        self.ledger.prefetch_needs(keys.iter().copied(), needs);
                    }
                }
                _ => {}
            }
        }
        needs.sort_unstable();
        needs.dedup();
    }

    pub fn prefetch(&mut self, position: u64, transfer: Transfer) {
        self.ledger.prefetch(position, transfer);
    }

    /// Sizes the ledger's id index for `additional` more transfers (no rehash until then).
    pub fn reserve_transfers(&mut self, additional: usize) {
        self.ledger.reserve_transfers(additional);
    }

    /// Drops transfers below `floor` from memory, once the shell's record file holds them.
    pub fn evict_below(&mut self, floor: u64) {
        self.ledger.evict_below(floor);
    }

    /// The snapshot encoding of the whole state. Equal states encode to equal bytes, so a hash
    /// of this is the state hash the simulator compares.
    #[must_use]
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_snapshot_to(&mut out);
        out
    }

    /// The snapshot encoding, appended to `sink` (a streaming sink gets it in record-aligned
    /// chunks; the concatenation is what [`StateMachine::encode_snapshot`] returns).
    pub fn encode_snapshot_to(&self, sink: &mut impl ByteSink) {
        let out = sink.bytes();
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(&self.op.to_le_bytes());
        self.credit.encode_snapshot(sink);
        self.promotions.encode_snapshot(sink);
        self.ledger.encode_snapshot(sink);
    }

    /// Decodes a snapshot; the transfers below its cold floor are then fed back from the
    /// shell's record file through the returned [`StateRestore`].
    pub fn decode_snapshot(bytes: &[u8], hash_key: u64) -> Result<StateRestore, StateMachineError> {
        if bytes.len() < 16 || &bytes[..8] != SNAPSHOT_MAGIC {
            return Err(StateMachineError::BadMagic);
        }
        let op = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
        let (credit, rest) =
            Credit::decode_snapshot(&bytes[16..], hash_key).map_err(StateMachineError::Credit)?;
        let (promotions, rest) =
            Promotions::decode_snapshot(rest, hash_key).map_err(StateMachineError::Promotions)?;
        let ledger = Ledger::decode_snapshot(rest, hash_key).map_err(StateMachineError::Ledger)?;
        Ok(StateRestore {
            ledger,
            credit,
            promotions,
            op,
        })
    }
}

/// A state being restored from a snapshot (see [`Restore`]).
pub struct StateRestore {
    ledger: Restore,
    credit: Credit,
    promotions: Promotions,
    op: u64,
}

impl StateRestore {
    #[must_use]
    pub fn op(&self) -> u64 {
        self.op
    }

    /// Transfers below this position must be fed back with `cold_transfer`, in order.
    #[must_use]
    pub fn cold_floor(&self) -> u64 {
        self.ledger.cold_floor()
    }

    /// Sizes the indexes for every transfer (see [`Restore::reserve`]).
    pub fn reserve(&mut self) {
        self.ledger.reserve();
    }

    pub fn cold_transfer(&mut self, transfer: &Transfer) -> Result<(), StateMachineError> {
        self.ledger
            .cold_transfer(transfer)
            .map_err(StateMachineError::Ledger)
    }

    /// The restored state, once the ledger's checks (conservation, cold transfers) pass and the
    /// credit lines agree with their ledger accounts (`Credit::check_ledger`; the credit
    /// decoder checked the rest of the credit invariants).
    pub fn finish(self) -> Result<StateMachine, StateMachineError> {
        let ledger = self.ledger.finish().map_err(StateMachineError::Ledger)?;
        self.credit
            .check_ledger(&ledger)
            .map_err(StateMachineError::Credit)?;
        self.promotions
            .check_ledger(&ledger, false)
            .map_err(StateMachineError::Promotions)?;
        Ok(StateMachine {
            ledger,
            credit: self.credit,
            promotions: self.promotions,
            op: self.op,
        })
    }
}
