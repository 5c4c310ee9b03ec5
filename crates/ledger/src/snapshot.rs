//! The canonical 128-byte little-endian records and the snapshot encoding of a whole ledger.
//!
//! Invariants: decoding never panics on any bytes (it returns `SnapshotError`); a decoded
//! snapshot re-encodes to the same bytes; derived indexes (id index, per-account positions,
//! expiry queue) are not stored but rebuilt, so they cannot disagree with the stored data.

use std::fmt;

use crate::account::{Account, AccountBalance, AccountFlags, AccountLimits};
use crate::state::{AccountState, Ledger};
use crate::transfer::{PendingStatus, Transfer, TransferFlags};

const MAGIC: &[u8; 8] = b"EFLEDGR1";
const FAILED: u64 = u64::MAX;

/// Why a snapshot could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotError {
    BadMagic,
    Truncated { offset: u64 },
    Invalid { offset: u64, reason: &'static str },
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::BadMagic => write!(f, "not a ledger snapshot (bad magic)"),
            SnapshotError::Truncated { offset } => write!(f, "snapshot truncated at byte {offset}"),
            SnapshotError::Invalid { offset, reason } => {
                write!(f, "invalid snapshot at byte {offset}: {reason}")
            }
        }
    }
}

impl std::error::Error for SnapshotError {}

impl Account {
    /// The canonical 128-byte little-endian record (the reference engine's layout).
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 128] {
        let mut out = [0u8; 128];
        let mut w = Writer {
            buffer: &mut out,
            offset: 0,
        };
        w.u128(self.id);
        w.u128(self.debits_pending);
        w.u128(self.debits_posted);
        w.u128(self.credits_pending);
        w.u128(self.credits_posted);
        w.u128(self.user_data_128);
        w.u64(self.user_data_64);
        w.u32(self.user_data_32);
        w.u32(self.reserved);
        w.u32(self.ledger);
        w.u16(self.code);
        w.u16(self.flags.0);
        w.u64(self.timestamp);
        out
    }

    #[must_use]
    pub fn from_bytes(bytes: &[u8; 128]) -> Account {
        let u128_at = |i: usize| u128::from_le_bytes(bytes[i..i + 16].try_into().expect("16"));
        let tail: &[u8; 32] = bytes[96..].try_into().expect("32-byte tail");
        Account {
            id: u128_at(0),
            debits_pending: u128_at(16),
            debits_posted: u128_at(32),
            credits_pending: u128_at(48),
            credits_posted: u128_at(64),
            user_data_128: u128_at(80),
            user_data_64: u64::from_le_bytes(tail[0..8].try_into().expect("8")),
            user_data_32: u32::from_le_bytes(tail[8..12].try_into().expect("4")),
            reserved: u32::from_le_bytes(tail[12..16].try_into().expect("4")),
            ledger: u32::from_le_bytes(tail[16..20].try_into().expect("4")),
            code: u16::from_le_bytes(tail[20..22].try_into().expect("2")),
            flags: AccountFlags(u16::from_le_bytes(tail[22..24].try_into().expect("2"))),
            timestamp: u64::from_le_bytes(tail[24..32].try_into().expect("8")),
        }
    }
}

impl Transfer {
    /// The canonical 128-byte little-endian record (the reference engine's layout).
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 128] {
        let mut out = [0u8; 128];
        let mut w = Writer {
            buffer: &mut out,
            offset: 0,
        };
        w.u128(self.id);
        w.u128(self.debit_account_id);
        w.u128(self.credit_account_id);
        w.u128(self.amount);
        w.u128(self.pending_id);
        w.u128(self.user_data_128);
        w.u64(self.user_data_64);
        w.u32(self.user_data_32);
        w.u32(self.timeout);
        w.u32(self.ledger);
        w.u16(self.code);
        w.u16(self.flags.0);
        w.u64(self.timestamp);
        out
    }

    #[must_use]
    pub fn from_bytes(bytes: &[u8; 128]) -> Transfer {
        let u128_at = |i: usize| u128::from_le_bytes(bytes[i..i + 16].try_into().expect("16"));
        let tail: &[u8; 32] = bytes[96..].try_into().expect("32-byte tail");
        Transfer {
            id: u128_at(0),
            debit_account_id: u128_at(16),
            credit_account_id: u128_at(32),
            amount: u128_at(48),
            pending_id: u128_at(64),
            user_data_128: u128_at(80),
            user_data_64: u64::from_le_bytes(tail[0..8].try_into().expect("8")),
            user_data_32: u32::from_le_bytes(tail[8..12].try_into().expect("4")),
            timeout: u32::from_le_bytes(tail[12..16].try_into().expect("4")),
            ledger: u32::from_le_bytes(tail[16..20].try_into().expect("4")),
            code: u16::from_le_bytes(tail[20..22].try_into().expect("2")),
            flags: TransferFlags(u16::from_le_bytes(tail[22..24].try_into().expect("2"))),
            timestamp: u64::from_le_bytes(tail[24..32].try_into().expect("8")),
        }
    }
}

struct Writer<'a> {
    buffer: &'a mut [u8],
    offset: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, bytes: &[u8]) {
        self.buffer[self.offset..self.offset + bytes.len()].copy_from_slice(bytes);
        self.offset += bytes.len();
    }
    fn u128(&mut self, v: u128) {
        self.bytes(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
}

/// A bounds-checked reader: every take returns an error instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, offset: 0 }
    }
    fn take(&mut self, count: usize) -> Result<&'a [u8], SnapshotError> {
        let end = self
            .offset
            .checked_add(count)
            .filter(|&end| end <= self.bytes.len());
        let end = end.ok_or(SnapshotError::Truncated {
            offset: self.offset as u64,
        })?;
        let slice = &self.bytes[self.offset..end];
        self.offset = end;
        Ok(slice)
    }
    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }
    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.take_array::<1>()?[0])
    }
    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.take_array()?))
    }
    fn u128(&mut self) -> Result<u128, SnapshotError> {
        Ok(u128::from_le_bytes(self.take_array()?))
    }
    fn record(&mut self) -> Result<&'a [u8; 128], SnapshotError> {
        Ok(self.take(128)?.try_into().expect("take returns 128 bytes"))
    }
    fn count(&mut self, item_size: usize) -> Result<usize, SnapshotError> {
        let offset = self.offset as u64;
        let count = self.u64()?;
        let remaining = (self.bytes.len() - self.offset) as u64;
        // A count larger than the bytes left is corruption; refuse before allocating.
        if count.saturating_mul(item_size as u64) > remaining {
            return Err(SnapshotError::Invalid {
                offset,
                reason: "count exceeds snapshot size",
            });
        }
        usize::try_from(count).map_err(|_| SnapshotError::Invalid {
            offset,
            reason: "count",
        })
    }
    fn invalid(&self, reason: &'static str) -> SnapshotError {
        SnapshotError::Invalid {
            offset: self.offset as u64,
            reason,
        }
    }
}

fn status_byte(status: PendingStatus) -> u8 {
    match status {
        PendingStatus::Pending => 0,
        PendingStatus::Posted => 1,
        PendingStatus::Voided => 2,
        PendingStatus::Expired => 3,
    }
}

impl Ledger {
    /// Appends the snapshot encoding of the whole ledger to `out`. Deterministic: accounts and
    /// failed ids are sorted, so two equal ledgers encode to equal bytes.
    pub fn encode_snapshot(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.commit_timestamp.to_le_bytes());
        let mut ids: Vec<u128> = self.accounts.keys().copied().collect();
        ids.sort_unstable();
        out.extend_from_slice(&(ids.len() as u64).to_le_bytes());
        for id in ids {
            let state = &self.accounts[&id];
            out.extend_from_slice(&state.account.to_bytes());
            out.extend_from_slice(&state.limits.debit_limit.to_le_bytes());
            out.extend_from_slice(&state.limits.credit_limit.to_le_bytes());
            out.extend_from_slice(&(state.history.len() as u64).to_le_bytes());
            for row in &state.history {
                out.extend_from_slice(&row.timestamp.to_le_bytes());
                for v in [
                    row.debits_pending,
                    row.debits_posted,
                    row.credits_pending,
                    row.credits_posted,
                ] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        out.extend_from_slice(&(self.transfers.len() as u64).to_le_bytes());
        for transfer in &self.transfers {
            out.extend_from_slice(&transfer.to_bytes());
        }
        // One status byte per pending transfer, in transfer order.
        for transfer in self.transfers.iter().filter(|t| t.flags.pending()) {
            out.push(status_byte(self.pending[&transfer.id]));
        }
        let mut failed: Vec<u128> = self
            .transfer_index
            .iter()
            .filter(|(_, p)| **p == FAILED)
            .map(|(id, _)| *id)
            .collect();
        failed.sort_unstable();
        out.extend_from_slice(&(failed.len() as u64).to_le_bytes());
        for id in failed {
            out.extend_from_slice(&id.to_le_bytes());
        }
    }

    /// Decodes a snapshot, rebuilding the derived indexes. Checks referential integrity and
    /// conservation, so a snapshot that decodes is a ledger the engine could have produced.
    pub fn decode_snapshot(bytes: &[u8], hash_key: u64) -> Result<Ledger, SnapshotError> {
        let mut r = Reader::new(bytes);
        if r.take(8)? != MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let mut ledger = Ledger::new(hash_key);
        ledger.commit_timestamp = r.u64()?;
        let account_count = r.count(128 + 32 + 8)?;
        ledger.accounts.reserve(account_count);
        let mut previous_id = 0;
        for _ in 0..account_count {
            let account = Account::from_bytes(r.record()?);
            if account.id <= previous_id {
                return Err(r.invalid("accounts not sorted by id"));
            }
            previous_id = account.id;
            let limits = AccountLimits {
                debit_limit: r.u128()?,
                credit_limit: r.u128()?,
            };
            let history_count = r.count(72)?;
            let mut history = Vec::with_capacity(history_count);
            for _ in 0..history_count {
                history.push(AccountBalance {
                    timestamp: r.u64()?,
                    debits_pending: r.u128()?,
                    debits_posted: r.u128()?,
                    credits_pending: r.u128()?,
                    credits_posted: r.u128()?,
                });
            }
            let state = AccountState {
                account,
                limits,
                transfers: Vec::new(),
                history,
            };
            ledger.accounts.insert(account.id, state);
        }
        let transfer_count = r.count(128)?;
        ledger.transfers.reserve(transfer_count);
        ledger.transfer_index.reserve(transfer_count);
        let mut previous_timestamp = 0;
        for position in 0..transfer_count as u64 {
            let transfer = Transfer::from_bytes(r.record()?);
            if transfer.timestamp <= previous_timestamp
                || transfer.timestamp > ledger.commit_timestamp
            {
                return Err(r.invalid("transfer timestamps out of order"));
            }
            previous_timestamp = transfer.timestamp;
            if ledger
                .transfer_index
                .insert(transfer.id, position)
                .is_some()
            {
                return Err(r.invalid("duplicate transfer id"));
            }
            for id in [transfer.debit_account_id, transfer.credit_account_id] {
                let state = ledger
                    .accounts
                    .get_mut(&id)
                    .ok_or_else(|| r.invalid("transfer account missing"))?;
                state.transfers.push(position);
            }
            ledger.transfers.push(transfer);
        }
        for position in 0..ledger.transfers.len() {
            let transfer = ledger.transfers[position];
            if !transfer.flags.pending() {
                continue;
            }
            let status = match r.u8()? {
                0 => PendingStatus::Pending,
                1 => PendingStatus::Posted,
                2 => PendingStatus::Voided,
                3 => PendingStatus::Expired,
                _ => return Err(r.invalid("pending status")),
            };
            ledger.pending.insert(transfer.id, status);
            if status == PendingStatus::Pending && transfer.timeout != 0 {
                let expires_at = transfer.timestamp + u64::from(transfer.timeout) * 1_000_000_000;
                ledger.expiry.insert((expires_at, position as u64));
            }
        }
        let failed_count = r.count(16)?;
        for _ in 0..failed_count {
            let id = r.u128()?;
            if ledger.transfer_index.insert(id, FAILED).is_some() {
                return Err(r.invalid("failed id is also a transfer"));
            }
        }
        if r.offset != bytes.len() {
            return Err(r.invalid("trailing bytes"));
        }
        if ledger
            .ledger_totals()
            .values()
            .all(crate::state::LedgerTotals::conserved)
        {
            Ok(ledger)
        } else {
            Err(SnapshotError::Invalid {
                offset: 0,
                reason: "debits and credits differ",
            })
        }
    }
}
