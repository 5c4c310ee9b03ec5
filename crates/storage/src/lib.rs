//! Durable storage for elevenfold: a write-ahead log (WAL) of opaque, checksummed entries plus
//! snapshots, and a record file of opaque 128-byte records, kept in one data directory.
//!
//! The crate knows nothing about ledgers or the engine (R4): an entry is `(op: u64, payload:
//! &[u8])`, ops increase by exactly one, and a snapshot is `(op, payload)`. The engine writes one
//! entry per group-committed batch, calls [`Wal::sync`] once per group commit, writes a snapshot
//! from time to time, and on start loads the snapshot returned by [`Wal::open`] and replays the
//! entries after it with [`Wal::replay`].
//!
//! Invariants owned here (the byte-level format and the recovery rules are specified in
//! `docs/internals/wal.md`):
//! - every byte read back from disk is checked (header checksum before the length is trusted,
//!   payload checksum before the payload is handed out);
//! - the log is a contiguous run of ops starting at or before `snapshot.op + 1`;
//! - only a torn tail of the *last* segment is ever cut automatically; anything else that fails
//!   a check stops [`Wal::open`] with [`StorageError::Corrupt`];
//! - after any failed write or sync the [`Wal`] refuses further work (fsyncgate): the only way
//!   forward is to reopen, which re-reads what actually reached the disk.
//!
//! The record file ([`RecordFile`], specified in `docs/internals/records.md`) holds records
//! evicted from memory, addressed by position: written only in whole checksummed pages, never
//! rewritten, and verified page by page whenever a [`RecordReader`] reads it back.
//!
//! What the crate does NOT do: it does not interpret payloads, does not replicate, does not
//! retry I/O, and trusts `fsync` to mean what it says. All file access goes through the [`Vfs`]
//! trait so that a deterministic simulator can substitute [`MemVfs`] for [`OsVfs`].

#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![deny(clippy::host_endian_bytes, clippy::big_endian_bytes)]

mod error;
mod format;
mod inspect;
mod mem_vfs;
mod reader;
mod records;
mod snapshot;
mod vfs;
mod wal;

#[cfg(test)]
mod tests;

pub use error::{FrameDefect, PageDefect, ReplayError, StorageError};
pub use format::{
    FRAME_HEADER_SIZE, PAYLOAD_SIZE_MAX, RECORD_PAGE_SIZE, RECORD_SIZE, RECORDS_FILE_NAME,
    RECORDS_PER_PAGE, SNAPSHOT_HEADER_SIZE, SNAPSHOT_TRAILER_SIZE,
};
pub use inspect::{
    Inspection, RecordsDefect, RecordsInspection, SegmentDefect, SegmentInspection,
    SnapshotInspection, inspect, inspect_with,
};
pub use mem_vfs::{MemFile, MemLock, MemVfs};
pub use records::{RecordFile, RecordReader};
pub use vfs::{OsFile, OsVfs, Vfs, VfsFile};
pub use wal::{
    Options, Recovery, SkippedSnapshot, Snapshot, SnapshotStream, SnapshotWriter, SyncMode,
    TailCut, Wal, WrittenSnapshot,
};
