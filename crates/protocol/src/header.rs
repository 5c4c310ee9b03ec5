//! The 128-byte frame header: its fields, their offsets, and the checks that make it trustworthy.
//!
//! Invariant: `decode_header` accepts a header only if every field is consistent with every
//! other (checksum, magic, version, kind, operation, sizes, reserved bytes), so a reader may
//! trust `body_size` to allocate and read exactly that many bytes, never more than
//! `BODY_SIZE_MAX`.

use crate::error::DecodeError;
use crate::{
    ACCOUNT_SIZE, BODY_SIZE_MAX, EVENTS_MAX, HEADER_SIZE, ID_SIZE, LIMIT_CHANGE_SIZE, MAGIC,
    RESULT_SIZE, TRANSFER_SIZE, VERSION,
};

// Field offsets (docs/protocol.md, "Header"). Magic and version never move, so any version of
// a peer can tell which version it is talking to.
const OFFSET_MAGIC: usize = 0;
const OFFSET_VERSION: usize = 8;
const OFFSET_KIND: usize = 10;
const OFFSET_OPERATION: usize = 11;
const OFFSET_BODY_SIZE: usize = 12;
const OFFSET_BODY_CHECKSUM: usize = 16;
const OFFSET_EVENT_COUNT: usize = 20;
const OFFSET_REQUEST_NUMBER: usize = 24;
const OFFSET_CLUSTER_ID: usize = 32;
const OFFSET_CLIENT_ID: usize = 48;
const OFFSET_ERROR_CODE: usize = 64;
const OFFSET_RESERVED: usize = 68;
const OFFSET_HEADER_CHECKSUM: usize = 124;

/// CRC-32C of the empty body (an error frame's): 0.
const EMPTY_BODY_CHECKSUM: u32 = 0;

/// What a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// Client to server: events to apply, or ids to look up.
    Request = 1,
    /// Server to client: the results of the request with the same request number.
    Reply = 2,
    /// Server to client: why the server is closing the connection (`error_code`).
    Error = 3,
}

impl Kind {
    #[must_use]
    pub fn from_number(number: u8) -> Option<Kind> {
        match number {
            1 => Some(Kind::Request),
            2 => Some(Kind::Reply),
            3 => Some(Kind::Error),
            _ => None,
        }
    }
}

/// What a request asks for; a reply carries the operation of its request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Operation {
    CreateAccounts = 1,
    CreateTransfers = 2,
    SetAccountLimits = 3,
    LookupAccounts = 4,
    LookupTransfers = 5,
    CreatePrograms = 6,
    Credit = 7,
    CreateCampaigns = 8,
    Promotions = 9,
}

impl Operation {
    pub const ALL: [Operation; 9] = [
        Operation::CreateAccounts,
        Operation::CreateTransfers,
        Operation::SetAccountLimits,
        Operation::LookupAccounts,
        Operation::LookupTransfers,
        Operation::CreatePrograms,
        Operation::Credit,
        Operation::CreateCampaigns,
        Operation::Promotions,
    ];

    #[must_use]
    pub fn from_number(number: u8) -> Option<Operation> {
        Operation::ALL.into_iter().find(|o| *o as u8 == number)
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Operation::CreateAccounts => "create_accounts",
            Operation::CreateTransfers => "create_transfers",
            Operation::SetAccountLimits => "set_account_limits",
            Operation::LookupAccounts => "lookup_accounts",
            Operation::LookupTransfers => "lookup_transfers",
            Operation::CreatePrograms => "create_programs",
            Operation::Credit => "credit",
            Operation::CreateCampaigns => "create_campaigns",
            Operation::Promotions => "promotions",
        }
    }

    /// Size of one event of a request of this operation.
    #[must_use]
    pub fn request_event_size(self) -> usize {
        match self {
            Operation::CreateAccounts => ACCOUNT_SIZE,
            Operation::CreateTransfers => TRANSFER_SIZE,
            Operation::SetAccountLimits => LIMIT_CHANGE_SIZE,
            Operation::LookupAccounts | Operation::LookupTransfers => ID_SIZE,
            Operation::CreatePrograms => credit::PROGRAM_SIZE,
            Operation::Credit => credit::COMMAND_SIZE,
            Operation::CreateCampaigns | Operation::Promotions => promotions::RECORD_SIZE,
        }
    }

    /// Most events one request of this operation may hold: `EVENTS_MAX`, or fewer where that
    /// many records would not fit `BODY_SIZE_MAX` (256-byte records: 4096).
    #[must_use]
    pub fn request_events_max(self) -> usize {
        EVENTS_MAX.min(BODY_SIZE_MAX as usize / self.request_event_size())
    }

    /// Size of one record of a reply to this operation.
    #[must_use]
    pub fn reply_record_size(self) -> usize {
        match self {
            Operation::CreateAccounts
            | Operation::CreateTransfers
            | Operation::SetAccountLimits
            | Operation::CreatePrograms
            | Operation::Credit
            | Operation::CreateCampaigns
            | Operation::Promotions => RESULT_SIZE,
            Operation::LookupAccounts => ACCOUNT_SIZE,
            Operation::LookupTransfers => TRANSFER_SIZE,
        }
    }
}

/// Which request a frame belongs to: the same in a request and in its reply or error frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Envelope {
    /// The cluster the client means to talk to; a server of another cluster refuses the frame.
    pub cluster_id: u128,
    /// Chosen at random by each client; echoed in replies.
    pub client_id: u128,
    /// Chosen by the client, increasing per client; a retry reuses the number. 0 in error frames
    /// that concern no particular request.
    pub request_number: u64,
}

/// A decoded header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    /// `None` only in error frames that concern no particular request.
    pub operation: Option<Operation>,
    pub envelope: Envelope,
    /// Bytes following the header; at most `BODY_SIZE_MAX`.
    pub body_size: u32,
    /// CRC-32C of the body.
    pub body_checksum: u32,
    /// Records in the body (events of a request, results or records of a reply).
    pub event_count: u32,
    /// Non-zero exactly in error frames: an `ErrorCode` number (kept raw, so a client can
    /// report a code a newer server added).
    pub error_code: u32,
}

impl Header {
    /// Total size of the frame this header starts.
    #[must_use]
    pub fn frame_size(&self) -> usize {
        HEADER_SIZE + self.body_size as usize
    }

    /// Size of one record of the body; `None` for error frames, which have no body.
    #[must_use]
    pub fn record_size(&self) -> Option<usize> {
        match (self.kind, self.operation) {
            (Kind::Request, Some(operation)) => Some(operation.request_event_size()),
            (Kind::Reply, Some(operation)) => Some(operation.reply_record_size()),
            _ => None,
        }
    }

    /// The header's 128 bytes, checksum included.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; HEADER_SIZE] {
        let mut out = [0u8; HEADER_SIZE];
        out[OFFSET_MAGIC..OFFSET_MAGIC + 8].copy_from_slice(&MAGIC);
        out[OFFSET_VERSION..OFFSET_VERSION + 2].copy_from_slice(&VERSION.to_le_bytes());
        out[OFFSET_KIND] = self.kind as u8;
        out[OFFSET_OPERATION] = self.operation.map_or(0, |o| o as u8);
        out[OFFSET_BODY_SIZE..OFFSET_BODY_SIZE + 4].copy_from_slice(&self.body_size.to_le_bytes());
        out[OFFSET_BODY_CHECKSUM..OFFSET_BODY_CHECKSUM + 4]
            .copy_from_slice(&self.body_checksum.to_le_bytes());
        out[OFFSET_EVENT_COUNT..OFFSET_EVENT_COUNT + 4]
            .copy_from_slice(&self.event_count.to_le_bytes());
        out[OFFSET_REQUEST_NUMBER..OFFSET_REQUEST_NUMBER + 8]
            .copy_from_slice(&self.envelope.request_number.to_le_bytes());
        out[OFFSET_CLUSTER_ID..OFFSET_CLUSTER_ID + 16]
            .copy_from_slice(&self.envelope.cluster_id.to_le_bytes());
        out[OFFSET_CLIENT_ID..OFFSET_CLIENT_ID + 16]
            .copy_from_slice(&self.envelope.client_id.to_le_bytes());
        out[OFFSET_ERROR_CODE..OFFSET_ERROR_CODE + 4]
            .copy_from_slice(&self.error_code.to_le_bytes());
        let checksum = crc32c::crc32c(&out[..OFFSET_HEADER_CHECKSUM]);
        out[OFFSET_HEADER_CHECKSUM..].copy_from_slice(&checksum.to_le_bytes());
        out
    }

    /// The checks on sizes and counts that need only the header.
    pub(crate) fn check_sizes(&self) -> Result<(), DecodeError> {
        if self.body_size > BODY_SIZE_MAX {
            return Err(DecodeError::FrameTooLarge {
                body_size: self.body_size,
            });
        }
        let Some(record_size) = self.record_size() else {
            // An error frame: a code, no body.
            if self.error_code == 0 {
                return Err(DecodeError::ErrorCodeMismatch {
                    error_code: self.error_code,
                });
            }
            if self.body_size != 0 || self.event_count != 0 {
                return Err(DecodeError::BodySizeMismatch {
                    expected: 0,
                    actual: self.body_size as usize,
                });
            }
            // No body decoder runs for an error frame, so its checksum is checked here: that
            // of the empty body, so that the frame re-encodes to the same bytes (fuzz finding
            // F1, docs/fuzzing.md).
            if self.body_checksum != EMPTY_BODY_CHECKSUM {
                return Err(DecodeError::BodyChecksum);
            }
            return Ok(());
        };
        if self.error_code != 0 {
            return Err(DecodeError::ErrorCodeMismatch {
                error_code: self.error_code,
            });
        }
        let body_size = self.body_size as usize;
        if !body_size.is_multiple_of(record_size) {
            return Err(DecodeError::BodySizeNotMultiple {
                body_size: self.body_size,
                event_size: record_size as u32,
            });
        }
        let body_events = body_size / record_size;
        if body_events != self.event_count as usize {
            return Err(DecodeError::EventCountMismatch {
                event_count: self.event_count,
                body_events: body_events as u32,
            });
        }
        if body_events > EVENTS_MAX {
            return Err(DecodeError::TooManyEvents {
                event_count: self.event_count,
            });
        }
        if self.kind == Kind::Request && body_events == 0 {
            return Err(DecodeError::EmptyRequest);
        }
        Ok(())
    }
}

fn u32_at(bytes: &[u8; HEADER_SIZE], offset: usize) -> u32 {
    u32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("4 bytes"))
}

/// Decodes and checks the header at the start of `bytes` (bytes past the first 128 are
/// ignored). Checks, in this order: length, magic, version, header checksum, reserved bytes,
/// kind, operation, then sizes and counts (see `docs/protocol.md`, "Validation"). Never panics.
pub fn decode_header(bytes: &[u8]) -> Result<Header, DecodeError> {
    let Some(bytes) = bytes.first_chunk::<HEADER_SIZE>() else {
        return Err(DecodeError::HeaderTruncated { size: bytes.len() });
    };
    if bytes[OFFSET_MAGIC..OFFSET_MAGIC + 8] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let version = u16::from_le_bytes([bytes[OFFSET_VERSION], bytes[OFFSET_VERSION + 1]]);
    if version != VERSION {
        return Err(DecodeError::UnsupportedVersion { version });
    }
    if crc32c::crc32c(&bytes[..OFFSET_HEADER_CHECKSUM]) != u32_at(bytes, OFFSET_HEADER_CHECKSUM) {
        return Err(DecodeError::HeaderChecksum);
    }
    if bytes[OFFSET_RESERVED..OFFSET_HEADER_CHECKSUM]
        .iter()
        .any(|b| *b != 0)
    {
        return Err(DecodeError::ReservedNotZero);
    }
    let kind = Kind::from_number(bytes[OFFSET_KIND]).ok_or(DecodeError::UnknownKind {
        kind: bytes[OFFSET_KIND],
    })?;
    let operation = match bytes[OFFSET_OPERATION] {
        0 if kind == Kind::Error => None,
        number => Some(
            Operation::from_number(number)
                .ok_or(DecodeError::UnknownOperation { operation: number })?,
        ),
    };
    let u128_at = |offset: usize| {
        u128::from_le_bytes(bytes[offset..offset + 16].try_into().expect("16 bytes"))
    };
    let header = Header {
        kind,
        operation,
        envelope: Envelope {
            cluster_id: u128_at(OFFSET_CLUSTER_ID),
            client_id: u128_at(OFFSET_CLIENT_ID),
            request_number: u64::from_le_bytes(
                bytes[OFFSET_REQUEST_NUMBER..OFFSET_REQUEST_NUMBER + 8]
                    .try_into()
                    .expect("8 bytes"),
            ),
        },
        body_size: u32_at(bytes, OFFSET_BODY_SIZE),
        body_checksum: u32_at(bytes, OFFSET_BODY_CHECKSUM),
        event_count: u32_at(bytes, OFFSET_EVENT_COUNT),
        error_code: u32_at(bytes, OFFSET_ERROR_CODE),
    };
    header.check_sizes()?;
    Ok(header)
}
