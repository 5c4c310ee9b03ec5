//! Why bytes are not a valid frame (`DecodeError`), and the stable codes of error frames.
//!
//! Invariant: error codes are stable numbers, never changed or reused; new codes take new
//! numbers. Every `DecodeError` maps to exactly one code, so a server can always say why it
//! refused a frame.

use std::fmt;

use crate::Kind;

/// Why bytes are not a valid frame. Decoding returns this; it never panics.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer than 128 bytes were given to `decode_header`.
    HeaderTruncated {
        size: usize,
    },
    BadMagic,
    UnsupportedVersion {
        version: u16,
    },
    HeaderChecksum,
    ReservedNotZero,
    UnknownKind {
        kind: u8,
    },
    UnknownOperation {
        operation: u8,
    },
    /// `body_size` exceeds `BODY_SIZE_MAX`.
    FrameTooLarge {
        body_size: u32,
    },
    /// The error code is zero in an error frame, or non-zero in any other frame.
    ErrorCodeMismatch {
        error_code: u32,
    },
    BodySizeNotMultiple {
        body_size: u32,
        event_size: u32,
    },
    /// `event_count` disagrees with `body_size / event_size`.
    EventCountMismatch {
        event_count: u32,
        body_events: u32,
    },
    /// More than `EVENTS_MAX` events (or reply records).
    TooManyEvents {
        event_count: u32,
    },
    /// A request with no events.
    EmptyRequest,
    /// The body given to `decode_request`/`decode_reply` is not `body_size` bytes long.
    BodySizeMismatch {
        expected: usize,
        actual: usize,
    },
    BodyChecksum,
    /// `decode_request` was given a reply or an error, or `decode_reply` a request.
    UnexpectedKind {
        kind: Kind,
    },
    /// A limit change sets undefined flag bits or non-zero padding.
    InvalidLimitChange {
        index: u32,
    },
    /// A credit program or command record holds an unknown kind, enum value or padding.
    InvalidCreditRecord {
        index: u32,
    },
    /// A promotions campaign or command record holds an unknown kind, enum value or padding.
    InvalidPromotionsRecord {
        index: u32,
    },
    /// A reply result names a code that does not exist for its operation.
    UnknownResultCode {
        index: u32,
        code: u32,
    },
    /// A reply lists an `ok` result; only failures travel.
    OkResultListed {
        index: u32,
    },
    /// Reply results must have strictly ascending event indexes.
    ResultsOutOfOrder {
        index: u32,
    },
}

impl DecodeError {
    /// The code a server sends in the error frame answering a frame that failed this way.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::HeaderTruncated { .. }
            | DecodeError::BodySizeMismatch { .. }
            | DecodeError::BodySizeNotMultiple { .. }
            | DecodeError::EventCountMismatch { .. }
            | DecodeError::ErrorCodeMismatch { .. } => ErrorCode::BodySizeInvalid,
            DecodeError::BadMagic => ErrorCode::BadMagic,
            DecodeError::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
            DecodeError::HeaderChecksum => ErrorCode::HeaderChecksum,
            DecodeError::ReservedNotZero => ErrorCode::ReservedNotZero,
            DecodeError::UnknownKind { .. } | DecodeError::UnexpectedKind { .. } => {
                ErrorCode::UnexpectedKind
            }
            DecodeError::UnknownOperation { .. } => ErrorCode::UnknownOperation,
            DecodeError::FrameTooLarge { .. } => ErrorCode::FrameTooLarge,
            DecodeError::TooManyEvents { .. } => ErrorCode::TooManyEvents,
            DecodeError::EmptyRequest => ErrorCode::EmptyRequest,
            DecodeError::BodyChecksum => ErrorCode::BodyChecksum,
            DecodeError::InvalidLimitChange { .. }
            | DecodeError::InvalidCreditRecord { .. }
            | DecodeError::InvalidPromotionsRecord { .. }
            | DecodeError::UnknownResultCode { .. }
            | DecodeError::OkResultListed { .. }
            | DecodeError::ResultsOutOfOrder { .. } => ErrorCode::InvalidEvent,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::HeaderTruncated { size } => {
                write!(f, "header truncated: {size} of 128 bytes")
            }
            DecodeError::BadMagic => write!(f, "not an elevenfold frame (bad magic)"),
            DecodeError::UnsupportedVersion { version } => {
                write!(f, "unsupported protocol version {version}")
            }
            DecodeError::HeaderChecksum => write!(f, "header checksum mismatch"),
            DecodeError::ReservedNotZero => write!(f, "reserved header bytes are not zero"),
            DecodeError::UnknownKind { kind } => write!(f, "unknown frame kind {kind}"),
            DecodeError::UnknownOperation { operation } => {
                write!(f, "unknown operation {operation}")
            }
            DecodeError::FrameTooLarge { body_size } => {
                write!(f, "body of {body_size} bytes exceeds the limit")
            }
            DecodeError::ErrorCodeMismatch { error_code } => {
                write!(f, "error code {error_code} does not fit the frame kind")
            }
            DecodeError::BodySizeNotMultiple {
                body_size,
                event_size,
            } => write!(
                f,
                "body of {body_size} bytes is not a multiple of the {event_size}-byte event"
            ),
            DecodeError::EventCountMismatch {
                event_count,
                body_events,
            } => write!(
                f,
                "event count {event_count} disagrees with the body's {body_events} events"
            ),
            DecodeError::TooManyEvents { event_count } => {
                write!(f, "{event_count} events exceed the limit of 8189")
            }
            DecodeError::EmptyRequest => write!(f, "a request needs at least one event"),
            DecodeError::BodySizeMismatch { expected, actual } => {
                write!(f, "body is {actual} bytes, the header says {expected}")
            }
            DecodeError::BodyChecksum => write!(f, "body checksum mismatch"),
            DecodeError::UnexpectedKind { kind } => write!(f, "unexpected frame kind {kind:?}"),
            DecodeError::InvalidLimitChange { index } => {
                write!(f, "limit change {index} has undefined flag bits or padding")
            }
            DecodeError::InvalidCreditRecord { index } => {
                write!(
                    f,
                    "credit record {index} is invalid (kind, enum value or padding)"
                )
            }
            DecodeError::InvalidPromotionsRecord { index } => {
                write!(
                    f,
                    "promotions record {index} is invalid (kind, enum value or padding)"
                )
            }
            DecodeError::UnknownResultCode { index, code } => {
                write!(f, "result of event {index} has unknown code {code}")
            }
            DecodeError::OkResultListed { index } => {
                write!(f, "result of event {index} is ok, which replies never list")
            }
            DecodeError::ResultsOutOfOrder { index } => {
                write!(f, "result of event {index} is out of order")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

use stdx::named_codes as error_codes;

error_codes! {
    /// Why the server refused a frame or a connection; carried by error frames, after which
    /// the server closes the connection.
    ErrorCode {
        BadMagic = 1 => "bad_magic",
        UnsupportedVersion = 2 => "unsupported_version",
        HeaderChecksum = 3 => "header_checksum",
        ReservedNotZero = 4 => "reserved_not_zero",
        /// An unknown kind, or a frame other than a request sent to the server.
        UnexpectedKind = 5 => "unexpected_kind",
        UnknownOperation = 6 => "unknown_operation",
        /// The body exceeds `BODY_SIZE_MAX` or the server's own, lower, limit.
        FrameTooLarge = 7 => "frame_too_large",
        /// Body size, event count and event size disagree.
        BodySizeInvalid = 8 => "body_size_invalid",
        TooManyEvents = 9 => "too_many_events",
        EmptyRequest = 10 => "empty_request",
        BodyChecksum = 11 => "body_checksum",
        /// An event record is malformed (a limit change's flag bits or padding).
        InvalidEvent = 12 => "invalid_event",
        /// The frame's cluster id is not this server's.
        ClusterMismatch = 13 => "cluster_mismatch",
        /// The server is at its connection limit; try again later.
        TooManyConnections = 14 => "too_many_connections",
        /// A frame started but did not arrive completely within the server's timeout.
        FrameTimeout = 15 => "frame_timeout",
        /// The node is shutting down or has failed; the request was not applied.
        NodeUnavailable = 16 => "node_unavailable",
        /// The server does not implement this operation yet.
        OperationNotSupported = 17 => "operation_not_supported",
        /// The server failed to read stored data for a lookup (logged on the server).
        InternalError = 18 => "internal_error",
    }
}

impl ErrorCode {
    /// True when the same request may succeed on a new connection (later, or on a restarted
    /// server); false when resending the same bytes can only fail the same way.
    #[must_use]
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::TooManyConnections | ErrorCode::FrameTimeout | ErrorCode::NodeUnavailable
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
