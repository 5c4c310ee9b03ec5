//! Operational errors of the storage crate.
//!
//! Owns the rule of the house error model (STYLE §3.6): typed `#[non_exhaustive]` enums whose
//! `Display` describes only this layer and whose `source()` gives the cause, so callers that
//! print the chain don't print it twice. Programmer errors (appending a wrong op) are assertions,
//! not variants here.

use std::error::Error;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a frame (a WAL entry on disk) failed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameDefect {
    /// Fewer bytes than a frame header remain in the file.
    TruncatedHeader,
    /// The first four bytes are not the frame magic.
    BadMagic,
    /// The header checksum does not match: no header field can be trusted.
    HeaderChecksum,
    /// A checksummed header with a format version this code does not read.
    UnsupportedVersion { version: u32 },
    /// A checksummed header announcing a payload above [`crate::PAYLOAD_SIZE_MAX`].
    PayloadTooLarge { size: u32 },
    /// The file ends inside the payload.
    TruncatedPayload,
    /// The payload checksum does not match.
    PayloadChecksum,
    /// A valid frame, but not the op that must come next.
    OpOutOfOrder { expected: u64, found: u64 },
}

impl fmt::Display for FrameDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameDefect::TruncatedHeader => write!(f, "file ends inside a frame header"),
            FrameDefect::BadMagic => write!(f, "bad frame magic"),
            FrameDefect::HeaderChecksum => write!(f, "frame header checksum mismatch"),
            FrameDefect::UnsupportedVersion { version } => {
                write!(f, "unsupported frame version {version}")
            }
            FrameDefect::PayloadTooLarge { size } => {
                write!(f, "frame payload size {size} above the maximum")
            }
            FrameDefect::TruncatedPayload => write!(f, "file ends inside a frame payload"),
            FrameDefect::PayloadChecksum => write!(f, "frame payload checksum mismatch"),
            FrameDefect::OpOutOfOrder { expected, found } => {
                write!(f, "frame op {found} where op {expected} was expected")
            }
        }
    }
}

/// Why a page of the record file failed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PageDefect {
    /// The file ends inside the page: `size` of its bytes are present.
    Truncated { size: u64 },
    /// The first eight bytes are not the record page magic.
    BadMagic,
    /// A page with a format version this code does not read.
    UnsupportedVersion { version: u32 },
    /// A page that names another page index than the one at its offset (a misplaced page).
    IndexMismatch { expected: u64, found: u64 },
    /// The checksum over the reserved header bytes and the record slots does not match.
    Checksum,
    /// A checksummed page whose reserved header bytes are not zero (not written by version 1).
    ReservedNotZero,
}

impl fmt::Display for PageDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageDefect::Truncated { size } => {
                write!(
                    f,
                    "file ends inside a record page ({size} of its bytes present)"
                )
            }
            PageDefect::BadMagic => write!(f, "bad record page magic"),
            PageDefect::UnsupportedVersion { version } => {
                write!(f, "unsupported record page version {version}")
            }
            PageDefect::IndexMismatch { expected, found } => {
                write!(
                    f,
                    "record page names page {found} where page {expected} belongs"
                )
            }
            PageDefect::Checksum => write!(f, "record page checksum mismatch"),
            PageDefect::ReservedNotZero => {
                write!(f, "record page has nonzero reserved header bytes")
            }
        }
    }
}

/// An operational storage failure.
#[derive(Debug)]
#[non_exhaustive]
pub enum StorageError {
    /// An I/O call failed. `operation` names the call ("read", "sync_data", "rename", ...).
    Io {
        path: PathBuf,
        operation: &'static str,
        source: io::Error,
    },
    /// Durable data failed verification where a torn write cannot explain it. The node must not
    /// start on it: an operator has to look (`elevenfold inspect`) and restore from a replica.
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// `append` was given a payload above [`crate::PAYLOAD_SIZE_MAX`]; nothing was written.
    PayloadTooLarge { size: u64, size_max: u64 },
    /// An earlier write or sync failed, so what reached the disk is unknown (fsyncgate). The
    /// [`crate::Wal`] (or [`crate::RecordFile`]) must be dropped and reopened.
    Poisoned,
    /// `replay` asked for ops that were already discarded after a snapshot.
    OpsDiscarded { after_op: u64, first_op: u64 },
    /// Another process holds the data directory lock.
    Locked { path: PathBuf },
    /// A read of records `start..end` of the record file, which holds `len` records in whole
    /// pages (or, for a reader, the `len` its writer had published). Nothing was read.
    RecordsOutOfRange { start: u64, end: u64, len: u64 },
    /// `RecordFile::truncate` to `len` records, which is not a multiple of
    /// [`crate::RECORDS_PER_PAGE`] or is above the `len_on_disk` records in whole pages.
    /// Nothing was changed.
    RecordsTruncateInvalid { len: u64, len_on_disk: u64 },
}

impl StorageError {
    pub(crate) fn io(path: impl Into<PathBuf>, operation: &'static str, source: io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            operation,
            source,
        }
    }

    pub(crate) fn corrupt(
        path: impl Into<PathBuf>,
        offset: u64,
        reason: impl fmt::Display,
    ) -> Self {
        StorageError::Corrupt {
            path: path.into(),
            offset,
            reason: reason.to_string(),
        }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Io {
                path, operation, ..
            } => {
                write!(f, "i/o error during {operation} on {}", path.display())
            }
            StorageError::Corrupt {
                path,
                offset,
                reason,
            } => {
                write!(
                    f,
                    "corrupt data in {} at offset {offset}: {reason}",
                    path.display()
                )
            }
            StorageError::PayloadTooLarge { size, size_max } => {
                write!(
                    f,
                    "payload of {size} bytes exceeds the maximum of {size_max} bytes"
                )
            }
            StorageError::Poisoned => {
                write!(
                    f,
                    "an earlier write or sync failed; the log or record file must be reopened"
                )
            }
            StorageError::OpsDiscarded { after_op, first_op } => write!(
                f,
                "cannot replay after op {after_op}: the log starts at op {first_op}"
            ),
            StorageError::Locked { path } => {
                write!(
                    f,
                    "data directory {} is locked by another process",
                    path.display()
                )
            }
            StorageError::RecordsOutOfRange { start, end, len } => write!(
                f,
                "records {start}..{end} are not in the record file, which holds {len} records"
            ),
            StorageError::RecordsTruncateInvalid { len, len_on_disk } => write!(
                f,
                "cannot cut the record file to {len} records: the length must be a multiple of \
                 {} and at most the {len_on_disk} records on disk",
                crate::RECORDS_PER_PAGE
            ),
        }
    }
}

impl Error for StorageError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            StorageError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The failure of [`crate::Wal::replay`]: either the log or the caller's callback.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReplayError<E> {
    Storage(StorageError),
    Callback(E),
}

impl<E> From<StorageError> for ReplayError<E> {
    fn from(error: StorageError) -> Self {
        ReplayError::Storage(error)
    }
}

impl<E: fmt::Display> fmt::Display for ReplayError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Storage(_) => write!(f, "reading the log failed during replay"),
            ReplayError::Callback(_) => write!(f, "applying a log entry failed during replay"),
        }
    }
}

impl<E: Error + 'static> Error for ReplayError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ReplayError::Storage(error) => Some(error),
            ReplayError::Callback(error) => Some(error),
        }
    }
}
