//! The canonical 128-byte little-endian records and the snapshot encoding of a whole ledger.
//!
//! Invariants: decoding never panics on any bytes (it returns `SnapshotError`); a decoded
//! snapshot re-encodes to the same bytes; derived indexes (id index, per-account positions,
//! expiry queue) are not stored but rebuilt, so they cannot disagree with the stored data.
//!
//! A snapshot holds only the transfers at or above the cold floor; the ones below it live in
//! the shell's record file, and restoring streams them back through [`Restore::cold_transfer`]
//! to rebuild the indexes.

use std::fmt;
use std::hash::BuildHasher;

use stdx::bytes::ByteSink;

use crate::account::{Account, AccountBalance, AccountFlags, AccountLimits, LimitChange};
use crate::state::{AccountState, Ledger};
use crate::transfer::{PendingStatus, Transfer, TransferFlags};

/// Version 3 lists accounts and pending statuses in the order they were created (the log's
/// order, so equal states list them equally) where version 2 sorted them by id; version 2 still
/// decodes (sorted is one order among others).
const MAGIC: &[u8; 8] = b"EFLEDGR3";
const MAGIC_V2: &[u8; 8] = b"EFLEDGR2";

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

/// Bytes of a limit change record (WAL and binary protocol): account id, debit limit, credit
/// limit (each u128, 0 when absent), a byte of which limits are set (bit 0 debit, bit 1
/// credit), zero padding.
pub const LIMIT_CHANGE_SIZE: usize = 64;

impl LimitChange {
    #[must_use]
    pub fn to_bytes(&self) -> [u8; LIMIT_CHANGE_SIZE] {
        let mut out = [0u8; LIMIT_CHANGE_SIZE];
        out[0..16].copy_from_slice(&self.account_id.to_le_bytes());
        out[16..32].copy_from_slice(&self.debit_limit.unwrap_or(0).to_le_bytes());
        out[32..48].copy_from_slice(&self.credit_limit.unwrap_or(0).to_le_bytes());
        out[48] =
            u8::from(self.debit_limit.is_some()) | (u8::from(self.credit_limit.is_some()) << 1);
        out
    }

    /// `None` if the set byte has unknown bits or the padding is not zero.
    #[must_use]
    pub fn from_bytes(bytes: &[u8; LIMIT_CHANGE_SIZE]) -> Option<LimitChange> {
        let set = bytes[48];
        if set & !0b11 != 0 || bytes[49..].iter().any(|b| *b != 0) {
            return None;
        }
        let u128_at = |i: usize| u128::from_le_bytes(bytes[i..i + 16].try_into().expect("16"));
        Some(LimitChange {
            account_id: u128_at(0),
            debit_limit: (set & 1 != 0).then(|| u128_at(16)),
            credit_limit: (set & 2 != 0).then(|| u128_at(32)),
        })
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

fn pending_status_of(byte: u8) -> Option<PendingStatus> {
    Some(match byte {
        0 => PendingStatus::Pending,
        1 => PendingStatus::Posted,
        2 => PendingStatus::Voided,
        3 => PendingStatus::Expired,
        _ => return None,
    })
}

impl Ledger {
    /// Appends the snapshot encoding to `sink`, with a record boundary after every account,
    /// transfer and status, so a streaming sink holds little of it at a time.
    pub fn encode_snapshot(&self, sink: &mut impl ByteSink) {
        let out = sink.bytes();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.commit_timestamp.to_le_bytes());
        out.extend_from_slice(&(self.accounts.len() as u64).to_le_bytes());
        for state in self.accounts.values() {
            let out = sink.bytes();
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
            sink.boundary();
        }
        let out = sink.bytes();
        out.extend_from_slice(&self.cold_floor.to_le_bytes());
        out.extend_from_slice(&(self.tail.len() as u64).to_le_bytes());
        for transfer in &self.tail {
            sink.bytes().extend_from_slice(&transfer.to_bytes());
            sink.boundary();
        }
        sink.bytes()
            .extend_from_slice(&(self.pending.len() as u64).to_le_bytes());
        for (id, status) in self.pending.iter() {
            let out = sink.bytes();
            out.extend_from_slice(&id.to_le_bytes());
            out.push(status_byte(*status));
            sink.boundary();
        }
        // The slab's order depends on which slots were freed: sort by position, carrying the
        // bodies along (no second lookup per position).
        let mut open: Vec<(u64, &Transfer)> = self
            .open_pending
            .iter()
            .map(|(position, transfer)| (*position, transfer))
            .collect();
        open.sort_unstable_by_key(|(position, _)| *position);
        sink.bytes()
            .extend_from_slice(&(open.len() as u64).to_le_bytes());
        for (position, transfer) in open {
            let out = sink.bytes();
            out.extend_from_slice(&position.to_le_bytes());
            out.extend_from_slice(&transfer.to_bytes());
            sink.boundary();
        }
        let mut failed: Vec<u128> = self.failed.keys().copied().collect();
        failed.sort_unstable();
        sink.bytes()
            .extend_from_slice(&(failed.len() as u64).to_le_bytes());
        for id in failed {
            sink.bytes().extend_from_slice(&id.to_le_bytes());
            sink.boundary();
        }
    }

    /// Decodes a snapshot into a [`Restore`], which takes the transfers below the cold floor
    /// back (in position order) before it yields the ledger.
    pub fn decode_snapshot(bytes: &[u8], hash_key: u64) -> Result<Restore, SnapshotError> {
        let mut r = Reader::new(bytes);
        let magic = r.take(8)?;
        if magic != MAGIC && magic != MAGIC_V2 {
            return Err(SnapshotError::BadMagic);
        }
        let mut ledger = Ledger::new(hash_key);
        ledger.commit_timestamp = r.u64()?;
        let account_count = r.count(128 + 32 + 8)?;
        ledger.accounts.reserve(account_count);
        for _ in 0..account_count {
            let account = Account::from_bytes(r.record()?);
            if account.id == 0 || ledger.accounts.get(&account.id).is_some() {
                return Err(r.invalid("account id zero or listed twice"));
            }
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
        ledger.cold_floor = r.u64()?;
        let tail_count = r.count(128)?;
        ledger.tail.reserve(tail_count);
        for _ in 0..tail_count {
            ledger.tail.push(Transfer::from_bytes(r.record()?));
        }
        let pending_count = r.count(17)?;
        ledger.pending.reserve(pending_count);
        for _ in 0..pending_count {
            let id = r.u128()?;
            let status = pending_status_of(r.u8()?).ok_or_else(|| r.invalid("pending status"))?;
            if id == 0 || ledger.pending.insert(id, status).is_some() {
                return Err(r.invalid("pending id zero or listed twice"));
            }
        }
        let open_count = r.count(8 + 128)?;
        let mut previous_position = None;
        for _ in 0..open_count {
            let position = r.u64()?;
            let transfer = Transfer::from_bytes(r.record()?);
            if previous_position.is_some_and(|p| position <= p) || position >= ledger.cold_floor {
                return Err(r.invalid("open pending positions"));
            }
            previous_position = Some(position);
            if !transfer.flags.pending()
                || ledger.pending.get(&transfer.id) != Some(&PendingStatus::Pending)
            {
                return Err(r.invalid("open pending transfer is not pending"));
            }
            ledger.open_pending.insert(position, transfer);
        }
        let failed_count = r.count(16)?;
        for _ in 0..failed_count {
            ledger.failed.insert(r.u128()?, ());
        }
        if r.offset != bytes.len() {
            return Err(r.invalid("trailing bytes"));
        }
        if ledger.failed.len() != failed_count {
            return Err(r.invalid("duplicate failed id"));
        }
        Ok(Restore {
            ledger,
            next_position: 0,
            previous_timestamp: 0,
        })
    }

    /// Indexes the transfer stored at `position` (the next one): under its id, and under both
    /// accounts.
    fn index_restored(&mut self, position: u64, transfer: &Transfer) -> Result<(), &'static str> {
        for id in [transfer.debit_account_id, transfer.credit_account_id] {
            let state = self
                .accounts
                .get_mut(&id)
                .ok_or("transfer account missing")?;
            state.transfers.push(position);
        }
        let hash = self.hasher.hash_one(transfer.id);
        self.id_index.insert(hash, position);
        Ok(())
    }
}

/// A ledger being restored from a snapshot: feed it every transfer below the cold floor, in
/// position order, then `finish`.
pub struct Restore {
    ledger: Ledger,
    next_position: u64,
    previous_timestamp: u64,
}

impl Restore {
    /// Transfers below this position must be fed back with `cold_transfer`.
    #[must_use]
    pub fn cold_floor(&self) -> u64 {
        self.ledger.cold_floor
    }

    /// Sizes the id index for every transfer up front, sparing the rehashes of growing it one
    /// transfer at a time. Call it once the record file is known to hold the cold floor's worth
    /// (the floor comes from the snapshot's bytes and is not trusted before that).
    pub fn reserve(&mut self) {
        let count = self.ledger.cold_floor + self.ledger.tail.len() as u64;
        let count = usize::try_from(count).expect("a record file that large fits in memory");
        self.ledger.id_index.reserve(count);
    }

    fn accept(&mut self, transfer: &Transfer) -> Result<u64, SnapshotError> {
        let position = self.next_position;
        let invalid = |reason| SnapshotError::Invalid {
            offset: position,
            reason,
        };
        if transfer.timestamp <= self.previous_timestamp
            || transfer.timestamp > self.ledger.commit_timestamp
        {
            return Err(invalid("transfer timestamps out of order"));
        }
        self.previous_timestamp = transfer.timestamp;
        if position < self.ledger.cold_floor
            && transfer.flags.pending()
            && self.ledger.pending.get(&transfer.id) == Some(&PendingStatus::Pending)
            && self.ledger.open_pending.get(&position) != Some(transfer)
        {
            return Err(invalid(
                "unresolved cold pending transfer missing from memory",
            ));
        }
        self.ledger
            .index_restored(position, transfer)
            .map_err(invalid)?;
        self.next_position += 1;
        Ok(position)
    }

    /// The transfer at the next position below the cold floor, read back from the record file.
    /// Errors carry the position as their offset.
    pub fn cold_transfer(&mut self, transfer: &Transfer) -> Result<(), SnapshotError> {
        if self.next_position >= self.ledger.cold_floor {
            return Err(SnapshotError::Invalid {
                offset: self.next_position,
                reason: "more cold transfers than the cold floor",
            });
        }
        self.accept(transfer)?;
        Ok(())
    }

    /// Indexes the in-memory tail and checks the whole: every cold transfer was fed, pending
    /// statuses match the transfers, debits equal credits.
    pub fn finish(mut self) -> Result<Ledger, SnapshotError> {
        if self.next_position != self.ledger.cold_floor {
            return Err(SnapshotError::Invalid {
                offset: self.next_position,
                reason: "fewer cold transfers than the cold floor",
            });
        }
        let tail = std::mem::take(&mut self.ledger.tail);
        for transfer in &tail {
            self.accept(transfer)?;
        }
        self.ledger.tail = tail;
        let ledger = &mut self.ledger;
        let floor = ledger.cold_floor;
        let open = ledger.open_pending.iter().map(|(p, t)| (*p, *t));
        let hot = (floor..).zip(ledger.tail.iter().copied());
        let mut expiry = Vec::new();
        for (position, transfer) in open.chain(hot) {
            if !transfer.flags.pending() {
                continue;
            }
            let status = ledger.pending.get(&transfer.id).copied();
            if status.is_none() {
                return Err(SnapshotError::Invalid {
                    offset: position,
                    reason: "pending transfer without a status",
                });
            }
            if status == Some(PendingStatus::Pending) && transfer.timeout != 0 {
                let expires_at = u64::from(transfer.timeout)
                    .checked_mul(1_000_000_000)
                    .and_then(|ns| ns.checked_add(transfer.timestamp))
                    .ok_or(SnapshotError::Invalid {
                        offset: position,
                        reason: "pending timeout overflows",
                    })?;
                expiry.push((expires_at, position));
            }
        }
        ledger.expiry.extend(expiry);
        if ledger
            .ledger_totals()
            .values()
            .all(crate::state::LedgerTotals::conserved)
        {
            Ok(self.ledger)
        } else {
            Err(SnapshotError::Invalid {
                offset: 0,
                reason: "debits and credits differ",
            })
        }
    }
}
