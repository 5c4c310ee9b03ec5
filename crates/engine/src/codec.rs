//! The log encoding of a `Batch`: what the WAL stores, byte for byte.
//!
//! Layout (little-endian): `version: u8 = 1`, `timestamp: u64`, `request_count: u32`, then per
//! request `operation: u8`, `event_count: u32`, and `event_count` fixed-size records: accounts and
//! transfers as their canonical 128-byte records, limit changes as 64 bytes
//! (`account_id: u128, debit_limit: u128, credit_limit: u128, set: u8` (bit 0 debit, bit 1 credit),
//! 15 zero bytes), credit programs as 256-byte and credit commands as 128-byte records
//! (`credit::Program::encode`, `credit::Command::encode`), promotions campaigns and commands as
//! 256-byte records (`promotions::Campaign::encode`, `promotions::Command::encode`).
//!
//! Invariants: decoding never panics on any bytes; `decode_batch(encode_batch(b)) == b`.
//! The WAL frames these bytes with checksums; this codec does not repeat them.

use std::fmt;

use credit::{COMMAND_SIZE, Command, PROGRAM_SIZE, Program};
use ledger::{Account, LIMIT_CHANGE_SIZE, LimitChange, Transfer};
use promotions::{Campaign, RECORD_SIZE};

use crate::{Batch, Request};

const VERSION: u8 = 1;
const OPERATION_CREATE_ACCOUNTS: u8 = 1;
const OPERATION_CREATE_TRANSFERS: u8 = 2;
const OPERATION_SET_ACCOUNT_LIMITS: u8 = 3;
const OPERATION_CREATE_PROGRAMS: u8 = 4;
const OPERATION_CREDIT: u8 = 5;
const OPERATION_CREATE_CAMPAIGNS: u8 = 6;
const OPERATION_PROMOTIONS: u8 = 7;

/// Why bytes are not a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    Truncated { offset: u64 },
    UnknownVersion(u8),
    UnknownOperation { offset: u64, operation: u8 },
    Invalid { offset: u64, reason: &'static str },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { offset } => write!(f, "batch truncated at byte {offset}"),
            DecodeError::UnknownVersion(v) => write!(f, "unknown batch version {v}"),
            DecodeError::UnknownOperation { offset, operation } => {
                write!(f, "unknown operation {operation} at byte {offset}")
            }
            DecodeError::Invalid { offset, reason } => {
                write!(f, "invalid batch at byte {offset}: {reason}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Appends the encoding of `batch` to `out`.
pub fn encode_batch(batch: &Batch, out: &mut Vec<u8>) {
    out.push(VERSION);
    out.extend_from_slice(&batch.timestamp.to_le_bytes());
    let request_count = u32::try_from(batch.requests.len()).expect("request count fits u32");
    out.extend_from_slice(&request_count.to_le_bytes());
    for request in &batch.requests {
        let count = u32::try_from(request.event_count()).expect("event count fits u32");
        match request {
            Request::CreateAccounts(accounts) => {
                out.push(OPERATION_CREATE_ACCOUNTS);
                out.extend_from_slice(&count.to_le_bytes());
                out.reserve(accounts.len() * 128);
                for account in accounts {
                    out.extend_from_slice(&account.to_bytes());
                }
            }
            Request::CreateTransfers(transfers) => {
                out.push(OPERATION_CREATE_TRANSFERS);
                out.extend_from_slice(&count.to_le_bytes());
                out.reserve(transfers.len() * 128);
                for transfer in transfers {
                    out.extend_from_slice(&transfer.to_bytes());
                }
            }
            Request::SetAccountLimits(changes) => {
                out.push(OPERATION_SET_ACCOUNT_LIMITS);
                out.extend_from_slice(&count.to_le_bytes());
                for change in changes {
                    out.extend_from_slice(&change.to_bytes());
                }
            }
            Request::CreatePrograms(programs) => {
                out.push(OPERATION_CREATE_PROGRAMS);
                out.extend_from_slice(&count.to_le_bytes());
                for program in programs {
                    program.encode(out);
                }
            }
            Request::Credit(commands) => {
                out.push(OPERATION_CREDIT);
                out.extend_from_slice(&count.to_le_bytes());
                for command in commands {
                    command.encode(out);
                }
            }
            Request::CreateCampaigns(campaigns) => {
                out.push(OPERATION_CREATE_CAMPAIGNS);
                out.extend_from_slice(&count.to_le_bytes());
                for campaign in campaigns {
                    campaign.encode(out);
                }
            }
            Request::Promotions(commands) => {
                out.push(OPERATION_PROMOTIONS);
                out.extend_from_slice(&count.to_le_bytes());
                for command in commands {
                    command.encode(out);
                }
            }
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .offset
            .checked_add(count)
            .filter(|&end| end <= self.bytes.len());
        let end = end.ok_or(DecodeError::Truncated {
            offset: self.offset as u64,
        })?;
        let slice = &self.bytes[self.offset..end];
        self.offset = end;
        Ok(slice)
    }
    fn array<const N: usize>(&mut self) -> Result<&'a [u8; N], DecodeError> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }
    fn records<const N: usize>(&mut self, count: u32) -> Result<&'a [u8], DecodeError> {
        let size = (count as usize)
            .checked_mul(N)
            .ok_or(DecodeError::Invalid {
                offset: self.offset as u64,
                reason: "event count overflows",
            })?;
        self.take(size)
    }
}

/// Decodes `count` 256-byte promotions records.
fn promotion_records<T>(
    r: &mut Reader<'_>,
    count: u32,
    offset: u64,
    decode: impl Fn(&[u8; RECORD_SIZE]) -> Result<T, &'static str>,
) -> Result<Vec<T>, DecodeError> {
    let records = r.records::<RECORD_SIZE>(count)?;
    records
        .chunks_exact(RECORD_SIZE)
        .map(|chunk| {
            decode(chunk.try_into().expect("record-size chunk"))
                .map_err(|reason| DecodeError::Invalid { offset, reason })
        })
        .collect()
}

/// Decodes one batch. Never panics; every malformed input is a `DecodeError`.
pub fn decode_batch(bytes: &[u8]) -> Result<Batch, DecodeError> {
    let mut r = Reader { bytes, offset: 0 };
    let version = r.array::<1>()?[0];
    if version != VERSION {
        return Err(DecodeError::UnknownVersion(version));
    }
    let timestamp = u64::from_le_bytes(*r.array()?);
    let request_count = u32::from_le_bytes(*r.array()?);
    // Each request takes at least 5 bytes: refuse absurd counts before allocating.
    if request_count as usize > bytes.len() / 5 {
        return Err(DecodeError::Invalid {
            offset: 9,
            reason: "request count exceeds batch size",
        });
    }
    let mut requests = Vec::with_capacity(request_count as usize);
    for _ in 0..request_count {
        let offset = r.offset as u64;
        let operation = r.array::<1>()?[0];
        let count = u32::from_le_bytes(*r.array()?);
        let request = match operation {
            OPERATION_CREATE_ACCOUNTS => Request::CreateAccounts(
                r.records::<128>(count)?
                    .chunks_exact(128)
                    .map(|c| Account::from_bytes(c.try_into().expect("128-byte chunk")))
                    .collect(),
            ),
            OPERATION_CREATE_TRANSFERS => Request::CreateTransfers(
                r.records::<128>(count)?
                    .chunks_exact(128)
                    .map(|c| Transfer::from_bytes(c.try_into().expect("128-byte chunk")))
                    .collect(),
            ),
            OPERATION_SET_ACCOUNT_LIMITS => {
                let records = r.records::<LIMIT_CHANGE_SIZE>(count)?;
                let mut changes = Vec::with_capacity(count as usize);
                for chunk in records.chunks_exact(LIMIT_CHANGE_SIZE) {
                    let record = chunk.try_into().expect("64-byte chunk");
                    changes.push(LimitChange::from_bytes(record).ok_or(DecodeError::Invalid {
                        offset,
                        reason: "limit change padding",
                    })?);
                }
                Request::SetAccountLimits(changes)
            }
            OPERATION_CREATE_PROGRAMS => {
                let records = r.records::<PROGRAM_SIZE>(count)?;
                let mut programs = Vec::with_capacity(count as usize);
                for chunk in records.chunks_exact(PROGRAM_SIZE) {
                    let record = chunk.try_into().expect("program-size chunk");
                    programs.push(Program::from_bytes(record).map_err(|_| {
                        DecodeError::Invalid {
                            offset,
                            reason: "program record",
                        }
                    })?);
                }
                Request::CreatePrograms(programs)
            }
            OPERATION_CREDIT => {
                let records = r.records::<COMMAND_SIZE>(count)?;
                let mut commands = Vec::with_capacity(count as usize);
                for chunk in records.chunks_exact(COMMAND_SIZE) {
                    let record = chunk.try_into().expect("command-size chunk");
                    commands.push(Command::from_bytes(record).map_err(|_| {
                        DecodeError::Invalid {
                            offset,
                            reason: "credit command record",
                        }
                    })?);
                }
                Request::Credit(commands)
            }
            OPERATION_CREATE_CAMPAIGNS => {
                Request::CreateCampaigns(promotion_records(&mut r, count, offset, |record| {
                    Campaign::from_bytes(record).map_err(|_| "campaign record")
                })?)
            }
            OPERATION_PROMOTIONS => {
                Request::Promotions(promotion_records(&mut r, count, offset, |record| {
                    promotions::Command::from_bytes(record).map_err(|_| "promotions command record")
                })?)
            }
            operation => return Err(DecodeError::UnknownOperation { offset, operation }),
        };
        if request.event_count() == 0 {
            return Err(DecodeError::Invalid {
                offset,
                reason: "empty request",
            });
        }
        requests.push(request);
    }
    if r.offset != bytes.len() {
        return Err(DecodeError::Invalid {
            offset: r.offset as u64,
            reason: "trailing bytes",
        });
    }
    let batch = Batch {
        timestamp,
        requests,
    };
    if batch.timestamp_count() > timestamp {
        return Err(DecodeError::Invalid {
            offset: 1,
            reason: "timestamp smaller than event count",
        });
    }
    Ok(batch)
}
