//! The on-disk format: frame and snapshot headers, record pages, and file names.
//!
//! This is the only place that knows byte offsets; `docs/internals/wal.md` and
//! `docs/internals/records.md` are its specification and must change together with it.
//! Invariants owned here:
//! - all integers are little-endian and explicitly sized (never `usize` on disk);
//! - a header is trusted only after its own checksum matched, so a flipped length field can
//!   never make a reader allocate or read garbage;
//! - the payload checksum is itself covered by the header checksum, binding payload to header;
//! - a record page is accepted only when its magic, version and page index equal what they
//!   must be and its checksum covers every other byte of the page, so no byte of a page goes
//!   unchecked.

use crate::error::{FrameDefect, PageDefect};

/// Frame magic, the bytes `EFWL` read as a little-endian u32.
pub(crate) const FRAME_MAGIC: u32 = u32::from_le_bytes(*b"EFWL");
/// Snapshot magic, the bytes `EFSN` read as a little-endian u32.
pub(crate) const SNAPSHOT_MAGIC: u32 = u32::from_le_bytes(*b"EFSN");
pub(crate) const FRAME_VERSION: u32 = 1;
/// Snapshot trailer magic, the bytes `EFSE` read as a little-endian u32.
pub(crate) const SNAPSHOT_TRAILER_MAGIC: u32 = u32::from_le_bytes(*b"EFSE");
/// Snapshots are written in version 2: header, payload, trailer (size and checksum follow the
/// payload, so a snapshot streams out without knowing its size first). Version 1 (size and
/// checksum in the header) is still read.
pub(crate) const SNAPSHOT_VERSION: u32 = 2;
pub(crate) const SNAPSHOT_VERSION_HEADED: u32 = 1;

/// Size of a frame header: magic u32, version u32, op u64, payload size u32, payload checksum
/// u32, header checksum u32.
pub const FRAME_HEADER_SIZE: usize = 28;
/// Size of a snapshot header: magic u32, version u32, op u64, then (version 1) payload size u64
/// and payload checksum u32 or (version 2) 12 zero bytes, then the header checksum u32.
pub const SNAPSHOT_HEADER_SIZE: usize = 32;
/// Size of a version-2 snapshot trailer: magic u32, version u32, op u64, payload size u64,
/// payload checksum u32, trailer checksum u32.
pub const SNAPSHOT_TRAILER_SIZE: usize = 32;
/// The largest payload one WAL entry may carry (64 MiB). Part of the format: a reader treats a
/// larger announced size as a defect, so raising it needs a format version bump.
pub const PAYLOAD_SIZE_MAX: u32 = 64 * 1024 * 1024;

pub(crate) const SEGMENT_PREFIX: &str = "wal-";
pub(crate) const SEGMENT_SUFFIX: &str = ".log";
pub(crate) const SNAPSHOT_PREFIX: &str = "snapshot-";
pub(crate) const SNAPSHOT_SUFFIX: &str = ".snap";
pub(crate) const TEMPORARY_SUFFIX: &str = ".tmp";
pub(crate) const LOCK_NAME: &str = "LOCK";

/// Size of one record of the record file. Records are opaque to this crate.
pub const RECORD_SIZE: usize = 128;
/// Records per page of the record file: a page is one header slot plus this many record slots.
pub const RECORDS_PER_PAGE: u64 = 31;
/// Size of one page of the record file, the unit in which it is written, read and checked.
pub const RECORD_PAGE_SIZE: usize = 4096;
/// The name of the record file in its directory.
pub const RECORDS_FILE_NAME: &str = "transfers.records";
/// Record page magic, the bytes `EFRECORD` read as a little-endian u64.
pub(crate) const RECORD_PAGE_MAGIC: u64 = u64::from_le_bytes(*b"EFRECORD");
pub(crate) const RECORD_PAGE_VERSION: u32 = 1;
/// Where the checksummed part of a page starts: right after the checksum field. Header bytes
/// 0..20 (magic, version, page index) are checked by value instead.
const RECORD_PAGE_CHECKSUMMED: usize = 24;
/// The page size in bytes, as a u64 for offsets.
pub(crate) const RECORD_PAGE_SIZE_U64: u64 = RECORD_PAGE_SIZE as u64;

const _: () = assert!(RECORD_SIZE * (1 + RECORDS_PER_PAGE as usize) == RECORD_PAGE_SIZE);
const _: () = assert!(RECORD_PAGE_CHECKSUMMED < RECORD_SIZE);

/// Fills in the header (slot 0) of a page whose record slots 1..=31 are already written:
/// magic, version, `page_index`, zeroed reserved bytes, then the checksum over bytes 24..4096.
pub(crate) fn record_page_seal(page: &mut [u8; RECORD_PAGE_SIZE], page_index: u64) {
    page[0..8].copy_from_slice(&RECORD_PAGE_MAGIC.to_le_bytes());
    page[8..12].copy_from_slice(&RECORD_PAGE_VERSION.to_le_bytes());
    page[12..20].copy_from_slice(&page_index.to_le_bytes());
    page[RECORD_PAGE_CHECKSUMMED..RECORD_SIZE].fill(0);
    let page_checksum = checksum(&page[RECORD_PAGE_CHECKSUMMED..]);
    page[20..24].copy_from_slice(&page_checksum.to_le_bytes());
}

/// Verifies the page read at index `page_index`. Checks run cheapest first: magic, version,
/// page index, checksum, then that the (checksummed) reserved bytes are zero.
pub(crate) fn record_page_verify(
    page: &[u8; RECORD_PAGE_SIZE],
    page_index: u64,
) -> Result<(), PageDefect> {
    if u64_at(page, 0) != RECORD_PAGE_MAGIC {
        return Err(PageDefect::BadMagic);
    }
    let version = u32_at(page, 8);
    if version != RECORD_PAGE_VERSION {
        return Err(PageDefect::UnsupportedVersion { version });
    }
    let found = u64_at(page, 12);
    if found != page_index {
        return Err(PageDefect::IndexMismatch {
            expected: page_index,
            found,
        });
    }
    if checksum(&page[RECORD_PAGE_CHECKSUMMED..]) != u32_at(page, 20) {
        return Err(PageDefect::Checksum);
    }
    if page[RECORD_PAGE_CHECKSUMMED..RECORD_SIZE]
        .iter()
        .any(|byte| *byte != 0)
    {
        return Err(PageDefect::ReservedNotZero);
    }
    Ok(())
}

/// A decoded frame header whose own checksum matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    pub(crate) op: u64,
    pub(crate) payload_size: u32,
    pub(crate) payload_checksum: u32,
}

pub(crate) fn checksum(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

pub(crate) fn frame_header_encode(op: u64, payload: &[u8]) -> [u8; FRAME_HEADER_SIZE] {
    let payload_size =
        u32::try_from(payload.len()).expect("callers reject payloads above PAYLOAD_SIZE_MAX");
    assert!(payload_size <= PAYLOAD_SIZE_MAX);
    let mut header = [0u8; FRAME_HEADER_SIZE];
    header[0..4].copy_from_slice(&FRAME_MAGIC.to_le_bytes());
    header[4..8].copy_from_slice(&FRAME_VERSION.to_le_bytes());
    header[8..16].copy_from_slice(&op.to_le_bytes());
    header[16..20].copy_from_slice(&payload_size.to_le_bytes());
    header[20..24].copy_from_slice(&checksum(payload).to_le_bytes());
    let header_checksum = checksum(&header[0..24]);
    header[24..28].copy_from_slice(&header_checksum.to_le_bytes());
    header
}

/// Decodes and verifies a frame header. Checks run in the order that gives the most precise
/// defect: magic, header checksum, then the fields the checksum vouches for.
pub(crate) fn frame_header_decode(
    header: &[u8; FRAME_HEADER_SIZE],
) -> Result<FrameHeader, FrameDefect> {
    if u32_at(header, 0) != FRAME_MAGIC {
        return Err(FrameDefect::BadMagic);
    }
    if checksum(&header[0..24]) != u32_at(header, 24) {
        return Err(FrameDefect::HeaderChecksum);
    }
    let version = u32_at(header, 4);
    if version != FRAME_VERSION {
        return Err(FrameDefect::UnsupportedVersion { version });
    }
    let payload_size = u32_at(header, 16);
    if payload_size > PAYLOAD_SIZE_MAX {
        return Err(FrameDefect::PayloadTooLarge { size: payload_size });
    }
    Ok(FrameHeader {
        op: u64_at(header, 8),
        payload_size,
        payload_checksum: u32_at(header, 20),
    })
}

/// A decoded snapshot header whose own checksum matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SnapshotHeader {
    pub(crate) op: u64,
    /// Version 1 only: the payload's size and checksum (version 2 keeps them in the trailer).
    pub(crate) payload: Option<PayloadSeal>,
}

/// A snapshot payload's size and checksum, from a version-1 header or a version-2 trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PayloadSeal {
    pub(crate) size: u64,
    pub(crate) checksum: u32,
}

/// The version-2 header: it carries only the op; the trailer seals the payload.
pub(crate) fn snapshot_header_encode(op: u64) -> [u8; SNAPSHOT_HEADER_SIZE] {
    let mut header = [0u8; SNAPSHOT_HEADER_SIZE];
    header[0..4].copy_from_slice(&SNAPSHOT_MAGIC.to_le_bytes());
    header[4..8].copy_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    header[8..16].copy_from_slice(&op.to_le_bytes());
    let header_checksum = checksum(&header[0..28]);
    header[28..32].copy_from_slice(&header_checksum.to_le_bytes());
    header
}

/// The version-1 header, which older elevenfold wrote (kept to test that they still read).
#[cfg(test)]
pub(crate) fn snapshot_header_encode_v1(op: u64, payload: &[u8]) -> [u8; SNAPSHOT_HEADER_SIZE] {
    let payload_size = u64::try_from(payload.len()).expect("usize fits in u64 on our targets");
    let mut header = [0u8; SNAPSHOT_HEADER_SIZE];
    header[0..4].copy_from_slice(&SNAPSHOT_MAGIC.to_le_bytes());
    header[4..8].copy_from_slice(&SNAPSHOT_VERSION_HEADED.to_le_bytes());
    header[8..16].copy_from_slice(&op.to_le_bytes());
    header[16..24].copy_from_slice(&payload_size.to_le_bytes());
    header[24..28].copy_from_slice(&checksum(payload).to_le_bytes());
    let header_checksum = checksum(&header[0..28]);
    header[28..32].copy_from_slice(&header_checksum.to_le_bytes());
    header
}

pub(crate) fn snapshot_header_decode(
    header: &[u8; SNAPSHOT_HEADER_SIZE],
) -> Result<SnapshotHeader, String> {
    if u32_at(header, 0) != SNAPSHOT_MAGIC {
        return Err("bad snapshot magic".to_owned());
    }
    if checksum(&header[0..28]) != u32_at(header, 28) {
        return Err("snapshot header checksum mismatch".to_owned());
    }
    let op = u64_at(header, 8);
    match u32_at(header, 4) {
        SNAPSHOT_VERSION_HEADED => Ok(SnapshotHeader {
            op,
            payload: Some(PayloadSeal {
                size: u64_at(header, 16),
                checksum: u32_at(header, 24),
            }),
        }),
        SNAPSHOT_VERSION if header[16..28].iter().all(|byte| *byte == 0) => {
            Ok(SnapshotHeader { op, payload: None })
        }
        SNAPSHOT_VERSION => Err("snapshot header reserved bytes are not zero".to_owned()),
        version => Err(format!("unsupported snapshot version {version}")),
    }
}

pub(crate) fn snapshot_trailer_encode(op: u64, seal: PayloadSeal) -> [u8; SNAPSHOT_TRAILER_SIZE] {
    let mut trailer = [0u8; SNAPSHOT_TRAILER_SIZE];
    trailer[0..4].copy_from_slice(&SNAPSHOT_TRAILER_MAGIC.to_le_bytes());
    trailer[4..8].copy_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    trailer[8..16].copy_from_slice(&op.to_le_bytes());
    trailer[16..24].copy_from_slice(&seal.size.to_le_bytes());
    trailer[24..28].copy_from_slice(&seal.checksum.to_le_bytes());
    let trailer_checksum = checksum(&trailer[0..28]);
    trailer[28..32].copy_from_slice(&trailer_checksum.to_le_bytes());
    trailer
}

/// Decodes a version-2 trailer whose own checksum matches, returning its op and seal.
pub(crate) fn snapshot_trailer_decode(
    trailer: &[u8; SNAPSHOT_TRAILER_SIZE],
) -> Result<(u64, PayloadSeal), String> {
    if u32_at(trailer, 0) != SNAPSHOT_TRAILER_MAGIC {
        return Err("bad snapshot trailer magic".to_owned());
    }
    if checksum(&trailer[0..28]) != u32_at(trailer, 28) {
        return Err("snapshot trailer checksum mismatch".to_owned());
    }
    let version = u32_at(trailer, 4);
    if version != SNAPSHOT_VERSION {
        return Err(format!("unsupported snapshot trailer version {version}"));
    }
    let seal = PayloadSeal {
        size: u64_at(trailer, 16),
        checksum: u32_at(trailer, 24),
    };
    Ok((u64_at(trailer, 8), seal))
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    let field: [u8; 4] = bytes[offset..offset + 4]
        .try_into()
        .expect("slice is 4 bytes long");
    u32::from_le_bytes(field)
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    let field: [u8; 8] = bytes[offset..offset + 8]
        .try_into()
        .expect("slice is 8 bytes long");
    u64::from_le_bytes(field)
}

/// The size of the frame holding `payload_size` bytes of payload.
pub(crate) fn frame_size(payload_size: u32) -> u64 {
    FRAME_HEADER_SIZE as u64 + u64::from(payload_size)
}

pub(crate) fn segment_name(first_op: u64) -> String {
    format!("{SEGMENT_PREFIX}{first_op:020}{SEGMENT_SUFFIX}")
}

pub(crate) fn snapshot_name(op: u64) -> String {
    format!("{SNAPSHOT_PREFIX}{op:020}{SNAPSHOT_SUFFIX}")
}

/// What a file name in the data directory stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    Segment { first_op: u64 },
    Snapshot { op: u64 },
    Temporary,
    Lock,
    Records,
    Other,
}

/// Classifies a file name. Only the exact names we write match (20 decimal digits), so a
/// stray `wal-1.log` copied in by hand is reported as "other" instead of being half-trusted.
pub(crate) fn file_kind(name: &str) -> FileKind {
    if name.ends_with(TEMPORARY_SUFFIX) {
        return FileKind::Temporary;
    }
    if name == LOCK_NAME {
        return FileKind::Lock;
    }
    if name == RECORDS_FILE_NAME {
        return FileKind::Records;
    }
    if let Some(first_op) = name_number(name, SEGMENT_PREFIX, SEGMENT_SUFFIX) {
        return FileKind::Segment { first_op };
    }
    if let Some(op) = name_number(name, SNAPSHOT_PREFIX, SNAPSHOT_SUFFIX) {
        return FileKind::Snapshot { op };
    }
    FileKind::Other
}

fn name_number(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if digits.len() != 20 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}
