//! Frame bodies: requests (engine requests and lookups) and replies (sparse results, records).
//!
//! Records are fixed-size and little-endian: accounts and transfers in the canonical 128-byte
//! layout of `ledger`, limit changes in 64 bytes, credit programs and promotions records in 256,
//! credit commands in 128, ids in 16, reply results in 8
//! (`index: u32, code: u32`, failures only, ascending by index).
//!
//! Invariants: decoding never panics; `decode_*(encode_*(x)) == x` for every valid `x`.

use credit::{COMMAND_SIZE, Command, CreditResult, PROGRAM_SIZE, Program};
use engine::{Reply, Request};
use ledger::{
    Account, CreateAccountResult, CreateTransferResult, LimitChange, SetLimitResult, Transfer,
};
use promotions::{Campaign, PromotionResult, RECORD_SIZE};

use crate::error::{DecodeError, ErrorCode};
use crate::header::{Envelope, Header, Kind, Operation};
use crate::{EVENTS_MAX, HEADER_SIZE, LIMIT_CHANGE_SIZE, RESULT_SIZE};

/// What a request frame asks for. Writes map one to one onto an engine `Request`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestBody {
    Engine(Request),
    /// Ids to look up; the reply holds the accounts found, in request order.
    LookupAccounts(Vec<u128>),
    /// Ids to look up; the reply holds the transfers found, in request order.
    LookupTransfers(Vec<u128>),
}

impl RequestBody {
    #[must_use]
    pub fn operation(&self) -> Operation {
        match self {
            RequestBody::Engine(Request::CreateAccounts(_)) => Operation::CreateAccounts,
            RequestBody::Engine(Request::CreateTransfers(_)) => Operation::CreateTransfers,
            RequestBody::Engine(Request::SetAccountLimits(_)) => Operation::SetAccountLimits,
            RequestBody::Engine(Request::CreatePrograms(_)) => Operation::CreatePrograms,
            RequestBody::Engine(Request::Credit(_)) => Operation::Credit,
            RequestBody::Engine(Request::CreateCampaigns(_)) => Operation::CreateCampaigns,
            RequestBody::Engine(Request::Promotions(_)) => Operation::Promotions,
            RequestBody::LookupAccounts(_) => Operation::LookupAccounts,
            RequestBody::LookupTransfers(_) => Operation::LookupTransfers,
        }
    }

    #[must_use]
    pub fn event_count(&self) -> usize {
        match self {
            RequestBody::Engine(request) => request.event_count(),
            RequestBody::LookupAccounts(ids) | RequestBody::LookupTransfers(ids) => ids.len(),
        }
    }
}

/// What a reply frame carries. Results list failures only, as `(event index, code)` in
/// ascending index order: an empty list means every event succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyBody {
    CreateAccounts(Vec<(u32, CreateAccountResult)>),
    CreateTransfers(Vec<(u32, CreateTransferResult)>),
    SetAccountLimits(Vec<(u32, SetLimitResult)>),
    CreatePrograms(Vec<(u32, CreditResult)>),
    Credit(Vec<(u32, CreditResult)>),
    CreateCampaigns(Vec<(u32, PromotionResult)>),
    Promotions(Vec<(u32, PromotionResult)>),
    LookupAccounts(Vec<Account>),
    LookupTransfers(Vec<Transfer>),
}

fn failures<R: Copy + PartialEq>(results: &[R], ok: R) -> Vec<(u32, R)> {
    results
        .iter()
        .enumerate()
        .filter(|(_, result)| **result != ok)
        .map(|(index, result)| {
            (
                u32::try_from(index).expect("a reply has at most EVENTS_MAX results"),
                *result,
            )
        })
        .collect()
}

impl ReplyBody {
    /// The sparse wire form of an engine reply (one result per event).
    #[must_use]
    pub fn from_engine(reply: &Reply) -> ReplyBody {
        match reply {
            Reply::CreateAccounts(results) => {
                ReplyBody::CreateAccounts(failures(results, CreateAccountResult::Ok))
            }
            Reply::CreateTransfers(results) => {
                ReplyBody::CreateTransfers(failures(results, CreateTransferResult::Ok))
            }
            Reply::SetAccountLimits(results) => {
                ReplyBody::SetAccountLimits(failures(results, SetLimitResult::Ok))
            }
            Reply::CreatePrograms(results) => {
                ReplyBody::CreatePrograms(failures(results, CreditResult::Ok))
            }
            Reply::Credit(results) => ReplyBody::Credit(failures(results, CreditResult::Ok)),
            Reply::CreateCampaigns(results) => {
                ReplyBody::CreateCampaigns(failures(results, PromotionResult::Ok))
            }
            Reply::Promotions(results) => {
                ReplyBody::Promotions(failures(results, PromotionResult::Ok))
            }
        }
    }

    #[must_use]
    pub fn operation(&self) -> Operation {
        match self {
            ReplyBody::CreateAccounts(_) => Operation::CreateAccounts,
            ReplyBody::CreateTransfers(_) => Operation::CreateTransfers,
            ReplyBody::SetAccountLimits(_) => Operation::SetAccountLimits,
            ReplyBody::CreatePrograms(_) => Operation::CreatePrograms,
            ReplyBody::Credit(_) => Operation::Credit,
            ReplyBody::CreateCampaigns(_) => Operation::CreateCampaigns,
            ReplyBody::Promotions(_) => Operation::Promotions,
            ReplyBody::LookupAccounts(_) => Operation::LookupAccounts,
            ReplyBody::LookupTransfers(_) => Operation::LookupTransfers,
        }
    }

    #[must_use]
    pub fn record_count(&self) -> usize {
        match self {
            ReplyBody::CreateAccounts(results) => results.len(),
            ReplyBody::CreateTransfers(results) => results.len(),
            ReplyBody::SetAccountLimits(results) => results.len(),
            ReplyBody::CreatePrograms(results) | ReplyBody::Credit(results) => results.len(),
            ReplyBody::CreateCampaigns(results) | ReplyBody::Promotions(results) => results.len(),
            ReplyBody::LookupAccounts(accounts) => accounts.len(),
            ReplyBody::LookupTransfers(transfers) => transfers.len(),
        }
    }
}

/// Appends a frame: a placeholder header, the body written by `body`, then the real header
/// with the body's size and checksum.
fn encode_frame(
    kind: Kind,
    operation: Option<Operation>,
    envelope: &Envelope,
    event_count: usize,
    error_code: u32,
    out: &mut Vec<u8>,
    body: impl FnOnce(&mut Vec<u8>),
) {
    assert!(
        event_count <= EVENTS_MAX,
        "{event_count} events in one frame"
    );
    let start = out.len();
    out.resize(start + HEADER_SIZE, 0);
    body(out);
    let body_bytes = &out[start + HEADER_SIZE..];
    let header = Header {
        kind,
        operation,
        envelope: *envelope,
        body_size: u32::try_from(body_bytes.len()).expect("bodies are at most BODY_SIZE_MAX"),
        body_checksum: crc32c::crc32c(body_bytes),
        event_count: u32::try_from(event_count).expect("at most EVENTS_MAX events"),
        error_code,
    };
    // Encoding never produces a frame its own decoder would refuse.
    assert_eq!(header.check_sizes(), Ok(()));
    out[start..start + HEADER_SIZE].copy_from_slice(&header.to_bytes());
}

/// A limit change as sent: valid, and in its one canonical encoding (an absent limit is zero).
fn limit_change_from_bytes(
    record: &[u8; LIMIT_CHANGE_SIZE],
    index: usize,
) -> Result<LimitChange, DecodeError> {
    LimitChange::from_bytes(record)
        .filter(|change| change.to_bytes() == *record)
        .ok_or(DecodeError::InvalidLimitChange {
            index: index as u32,
        })
}

/// Appends a request frame. Panics if the request is empty or holds more than `EVENTS_MAX`
/// events: callers check that first (a programmer error, not a wire condition).
pub fn encode_request(envelope: &Envelope, request: &RequestBody, out: &mut Vec<u8>) {
    let event_count = request.event_count();
    assert!(event_count > 0, "a request needs at least one event");
    encode_frame(
        Kind::Request,
        Some(request.operation()),
        envelope,
        event_count,
        0,
        out,
        |out| match request {
            RequestBody::Engine(Request::CreateAccounts(accounts)) => {
                out.reserve(accounts.len() * 128);
                for account in accounts {
                    out.extend_from_slice(&account.to_bytes());
                }
            }
            RequestBody::Engine(Request::CreateTransfers(transfers)) => {
                out.reserve(transfers.len() * 128);
                for transfer in transfers {
                    out.extend_from_slice(&transfer.to_bytes());
                }
            }
            RequestBody::Engine(Request::SetAccountLimits(changes)) => {
                for change in changes {
                    out.extend_from_slice(&change.to_bytes());
                }
            }
            RequestBody::Engine(Request::CreatePrograms(programs)) => {
                for program in programs {
                    program.encode(out);
                }
            }
            RequestBody::Engine(Request::Credit(commands)) => {
                out.reserve(commands.len() * COMMAND_SIZE);
                for command in commands {
                    command.encode(out);
                }
            }
            RequestBody::Engine(Request::CreateCampaigns(campaigns)) => {
                for campaign in campaigns {
                    campaign.encode(out);
                }
            }
            RequestBody::Engine(Request::Promotions(commands)) => {
                out.reserve(commands.len() * RECORD_SIZE);
                for command in commands {
                    command.encode(out);
                }
            }
            RequestBody::LookupAccounts(ids) | RequestBody::LookupTransfers(ids) => {
                for id in ids {
                    out.extend_from_slice(&id.to_le_bytes());
                }
            }
        },
    );
}

fn encode_results<R: Copy>(results: &[(u32, R)], number: fn(R) -> u32, out: &mut Vec<u8>) {
    for (index, result) in results {
        out.extend_from_slice(&index.to_le_bytes());
        out.extend_from_slice(&number(*result).to_le_bytes());
    }
}

/// Appends a reply frame. Panics on more than `EVENTS_MAX` records.
pub fn encode_reply(envelope: &Envelope, reply: &ReplyBody, out: &mut Vec<u8>) {
    encode_frame(
        Kind::Reply,
        Some(reply.operation()),
        envelope,
        reply.record_count(),
        0,
        out,
        |out| match reply {
            ReplyBody::CreateAccounts(results) => {
                encode_results(results, CreateAccountResult::number, out);
            }
            ReplyBody::CreateTransfers(results) => {
                encode_results(results, CreateTransferResult::number, out);
            }
            ReplyBody::SetAccountLimits(results) => {
                encode_results(results, SetLimitResult::number, out);
            }
            ReplyBody::CreatePrograms(results) | ReplyBody::Credit(results) => {
                encode_results(results, CreditResult::number, out);
            }
            ReplyBody::CreateCampaigns(results) | ReplyBody::Promotions(results) => {
                encode_results(results, PromotionResult::number, out);
            }
            ReplyBody::LookupAccounts(accounts) => {
                for account in accounts {
                    out.extend_from_slice(&account.to_bytes());
                }
            }
            ReplyBody::LookupTransfers(transfers) => {
                for transfer in transfers {
                    out.extend_from_slice(&transfer.to_bytes());
                }
            }
        },
    );
}

/// Appends an error frame: a code and no body. `operation` is that of the refused request, or
/// `None` when the error concerns the connection (too many connections, an unreadable header).
pub fn encode_error(
    envelope: &Envelope,
    operation: Option<Operation>,
    code: ErrorCode,
    out: &mut Vec<u8>,
) {
    encode_frame(
        Kind::Error,
        operation,
        envelope,
        0,
        code.number(),
        out,
        |_| {},
    );
}

/// The checks every body decoder starts with: the header is of `kind` and consistent, and the
/// body has the header's size and checksum.
fn check_body(header: &Header, kind: Kind, body: &[u8]) -> Result<Operation, DecodeError> {
    if header.kind != kind {
        return Err(DecodeError::UnexpectedKind { kind: header.kind });
    }
    let operation = header
        .operation
        .ok_or(DecodeError::UnknownOperation { operation: 0 })?;
    header.check_sizes()?;
    if body.len() != header.body_size as usize {
        return Err(DecodeError::BodySizeMismatch {
            expected: header.body_size as usize,
            actual: body.len(),
        });
    }
    if crc32c::crc32c(body) != header.body_checksum {
        return Err(DecodeError::BodyChecksum);
    }
    Ok(operation)
}

fn records<const N: usize>(body: &[u8]) -> impl Iterator<Item = &[u8; N]> {
    body.chunks_exact(N)
        .map(|chunk| chunk.try_into().expect("chunks_exact yields N bytes"))
}

/// Decodes the body of a request whose header `decode_header` accepted. Never panics.
pub fn decode_request(header: &Header, body: &[u8]) -> Result<RequestBody, DecodeError> {
    let operation = check_body(header, Kind::Request, body)?;
    Ok(match operation {
        Operation::CreateAccounts => RequestBody::Engine(Request::CreateAccounts(
            records::<128>(body).map(Account::from_bytes).collect(),
        )),
        Operation::CreateTransfers => RequestBody::Engine(Request::CreateTransfers(
            records::<128>(body).map(Transfer::from_bytes).collect(),
        )),
        Operation::SetAccountLimits => RequestBody::Engine(Request::SetAccountLimits(
            records::<LIMIT_CHANGE_SIZE>(body)
                .enumerate()
                .map(|(index, record)| limit_change_from_bytes(record, index))
                .collect::<Result<_, _>>()?,
        )),
        Operation::CreatePrograms => RequestBody::Engine(Request::CreatePrograms(
            records::<PROGRAM_SIZE>(body)
                .enumerate()
                .map(|(index, record)| {
                    Program::from_bytes(record).map_err(|_| DecodeError::InvalidCreditRecord {
                        index: index as u32,
                    })
                })
                .collect::<Result<_, _>>()?,
        )),
        Operation::Credit => RequestBody::Engine(Request::Credit(
            records::<COMMAND_SIZE>(body)
                .enumerate()
                .map(|(index, record)| {
                    Command::from_bytes(record).map_err(|_| DecodeError::InvalidCreditRecord {
                        index: index as u32,
                    })
                })
                .collect::<Result<_, _>>()?,
        )),
        Operation::CreateCampaigns => RequestBody::Engine(Request::CreateCampaigns(
            records::<RECORD_SIZE>(body)
                .enumerate()
                .map(|(index, record)| {
                    Campaign::from_bytes(record).map_err(|_| DecodeError::InvalidPromotionsRecord {
                        index: index as u32,
                    })
                })
                .collect::<Result<_, _>>()?,
        )),
        Operation::Promotions => RequestBody::Engine(Request::Promotions(
            records::<RECORD_SIZE>(body)
                .enumerate()
                .map(|(index, record)| {
                    promotions::Command::from_bytes(record).map_err(|_| {
                        DecodeError::InvalidPromotionsRecord {
                            index: index as u32,
                        }
                    })
                })
                .collect::<Result<_, _>>()?,
        )),
        Operation::LookupAccounts => RequestBody::LookupAccounts(
            records::<16>(body)
                .map(|id| u128::from_le_bytes(*id))
                .collect(),
        ),
        Operation::LookupTransfers => RequestBody::LookupTransfers(
            records::<16>(body)
                .map(|id| u128::from_le_bytes(*id))
                .collect(),
        ),
    })
}

fn decode_results<R>(
    body: &[u8],
    from_number: fn(u32) -> Option<R>,
) -> Result<Vec<(u32, R)>, DecodeError> {
    let mut results = Vec::with_capacity(body.len() / RESULT_SIZE);
    let mut previous: Option<u32> = None;
    for record in records::<RESULT_SIZE>(body) {
        let index = u32::from_le_bytes(record[0..4].try_into().expect("4 bytes"));
        let code = u32::from_le_bytes(record[4..8].try_into().expect("4 bytes"));
        if previous.is_some_and(|previous| index <= previous) || index as usize >= EVENTS_MAX {
            return Err(DecodeError::ResultsOutOfOrder { index });
        }
        previous = Some(index);
        if code == 0 {
            return Err(DecodeError::OkResultListed { index });
        }
        let result = from_number(code).ok_or(DecodeError::UnknownResultCode { index, code })?;
        results.push((index, result));
    }
    Ok(results)
}

/// Decodes the body of a reply whose header `decode_header` accepted. Never panics. Result
/// indexes are checked to ascend and to be below `EVENTS_MAX`; that they are below the
/// request's own event count is for the caller, which knows the request.
pub fn decode_reply(header: &Header, body: &[u8]) -> Result<ReplyBody, DecodeError> {
    let operation = check_body(header, Kind::Reply, body)?;
    Ok(match operation {
        Operation::CreateAccounts => {
            ReplyBody::CreateAccounts(decode_results(body, CreateAccountResult::from_number)?)
        }
        Operation::CreateTransfers => {
            ReplyBody::CreateTransfers(decode_results(body, CreateTransferResult::from_number)?)
        }
        Operation::SetAccountLimits => {
            ReplyBody::SetAccountLimits(decode_results(body, SetLimitResult::from_number)?)
        }
        Operation::CreatePrograms => {
            ReplyBody::CreatePrograms(decode_results(body, CreditResult::from_number)?)
        }
        Operation::Credit => ReplyBody::Credit(decode_results(body, CreditResult::from_number)?),
        Operation::CreateCampaigns => {
            ReplyBody::CreateCampaigns(decode_results(body, PromotionResult::from_number)?)
        }
        Operation::Promotions => {
            ReplyBody::Promotions(decode_results(body, PromotionResult::from_number)?)
        }
        Operation::LookupAccounts => {
            ReplyBody::LookupAccounts(records::<128>(body).map(Account::from_bytes).collect())
        }
        Operation::LookupTransfers => {
            ReplyBody::LookupTransfers(records::<128>(body).map(Transfer::from_bytes).collect())
        }
    })
}
