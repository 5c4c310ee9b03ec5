//! The state machine: applies batches to the ledger, and snapshots it.
//!
//! Invariant: `apply` is a pure function of (state, batch). Batches must arrive with strictly
//! increasing timestamps; the shell guarantees it and `apply` asserts it.

use std::fmt;

use ledger::{Ledger, SnapshotError};

use crate::{Batch, Reply, Request};

const SNAPSHOT_MAGIC: &[u8; 8] = b"EFSTATE1";

/// Why a state snapshot cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateMachineError {
    BadMagic,
    Ledger(SnapshotError),
}

impl fmt::Display for StateMachineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateMachineError::BadMagic => write!(f, "not a state snapshot (bad magic)"),
            StateMachineError::Ledger(_) => write!(f, "ledger snapshot is invalid"),
        }
    }
}

impl std::error::Error for StateMachineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StateMachineError::BadMagic => None,
            StateMachineError::Ledger(error) => Some(error),
        }
    }
}

/// The whole deterministic state of one shard.
pub struct StateMachine {
    ledger: Ledger,
    /// The number of the last batch applied (its log op).
    op: u64,
}

impl StateMachine {
    /// An empty state. `hash_key` only changes hash-table layout, never a result.
    #[must_use]
    pub fn new(hash_key: u64) -> StateMachine {
        StateMachine {
            ledger: Ledger::new(hash_key),
            op: 0,
        }
    }

    #[must_use]
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
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
            return Vec::new();
        }
        let mut timestamp = batch.timestamp - batch.event_count();
        let mut replies = Vec::with_capacity(batch.requests.len());
        for request in &batch.requests {
            assert!(request.event_count() > 0, "requests are never empty");
            timestamp += request.event_count() as u64;
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
            });
        }
        assert_eq!(timestamp, batch.timestamp);
        replies
    }

    /// The snapshot encoding of the whole state. Equal states encode to equal bytes, so a hash
    /// of this is the state hash the simulator compares.
    #[must_use]
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(&self.op.to_le_bytes());
        self.ledger.encode_snapshot(&mut out);
        out
    }

    pub fn decode_snapshot(bytes: &[u8], hash_key: u64) -> Result<StateMachine, StateMachineError> {
        if bytes.len() < 16 || &bytes[..8] != SNAPSHOT_MAGIC {
            return Err(StateMachineError::BadMagic);
        }
        let op = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
        let ledger =
            Ledger::decode_snapshot(&bytes[16..], hash_key).map_err(StateMachineError::Ledger)?;
        Ok(StateMachine { ledger, op })
    }
}
