//! Read-only inspection of a data directory, for the `elevenfold inspect` command: WAL
//! segments, snapshots and the record file.
//!
//! Invariant owned here: [`inspect`] never modifies, creates, locks or removes anything, so it is
//! safe to run next to a live node (which may make the last segment look torn mid-write, or the
//! record file end in a partial page) and on a directory that [`crate::Wal::open`] refuses.

use std::path::{Path, PathBuf};

use crate::error::{FrameDefect, PageDefect, StorageError};
use crate::format::{self, FileKind, RECORDS_PER_PAGE};
use crate::reader::{self, SegmentReader};
use crate::records;
use crate::snapshot;
use crate::vfs::{OsVfs, Vfs};

/// Everything [`inspect`] found, each list sorted by op.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Inspection {
    pub segments: Vec<SegmentInspection>,
    pub snapshots: Vec<SnapshotInspection>,
    /// The record file (`transfers.records`), if the directory holds one.
    pub records: Option<RecordsInspection>,
    /// Files that are neither segments nor snapshots nor the record file (including leftover
    /// temporary files).
    pub other_files: Vec<PathBuf>,
}

/// One segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentInspection {
    pub path: PathBuf,
    /// From the file name.
    pub first_op: u64,
    /// The op of the last valid frame.
    pub last_op: Option<u64>,
    pub entry_count: u64,
    /// The file size in bytes.
    pub size: u64,
    pub defect: Option<SegmentDefect>,
}

/// The first bad frame of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentDefect {
    pub offset: u64,
    pub reason: FrameDefect,
    /// The byte offset of a valid frame with a higher op found after the bad one. `None` in the
    /// last segment means recovery would treat the defect as a torn tail and cut it; `Some`
    /// means it would refuse.
    pub valid_frame_after: Option<u64>,
}

/// One snapshot file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotInspection {
    pub path: PathBuf,
    /// From the file name.
    pub op: u64,
    pub size: u64,
    /// `None` when the header, size and payload checksums all verified.
    pub defect: Option<String>,
}

impl SnapshotInspection {
    #[must_use]
    pub fn checksum_ok(&self) -> bool {
        self.defect.is_none()
    }
}

/// The record file, every whole page of it verified.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordsInspection {
    pub path: PathBuf,
    /// The file size in bytes.
    pub size: u64,
    /// Whole pages in the file.
    pub page_count: u64,
    /// Records in the whole pages (`page_count * 31`), good or bad.
    pub record_count: u64,
    /// Bytes after the last whole page: a torn append, which `RecordFile::open` cuts.
    pub partial_page_size: u64,
    /// Pages that failed verification.
    pub bad_page_count: u64,
    /// The first page that failed verification.
    pub defect: Option<RecordsDefect>,
}

impl RecordsInspection {
    /// Whether every whole page verified.
    #[must_use]
    pub fn pages_ok(&self) -> bool {
        self.defect.is_none()
    }
}

/// The first bad page of the record file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordsDefect {
    /// The byte offset of the page.
    pub offset: u64,
    pub reason: PageDefect,
}

/// Inspects the data directory `dir` on the real file system. See [`inspect_with`].
pub fn inspect(dir: &Path) -> Result<Inspection, StorageError> {
    inspect_with(&OsVfs, dir)
}

/// Lists and verifies every segment, snapshot and record page in `dir` without modifying
/// anything.
pub fn inspect_with<V: Vfs>(vfs: &V, dir: &Path) -> Result<Inspection, StorageError> {
    let mut names = vfs
        .list(dir)
        .map_err(|error| StorageError::io(dir, "list", error))?;
    names.sort();
    let mut inspection = Inspection {
        segments: Vec::new(),
        snapshots: Vec::new(),
        records: None,
        other_files: Vec::new(),
    };
    for name in names {
        let path = dir.join(&name);
        match format::file_kind(&name) {
            FileKind::Segment { first_op } => {
                inspection
                    .segments
                    .push(inspect_segment(vfs, path, first_op)?);
            }
            FileKind::Snapshot { op } => {
                let read = snapshot::snapshot_read(vfs, &path, op, false)?;
                inspection.snapshots.push(SnapshotInspection {
                    path,
                    op,
                    size: read.file_size,
                    defect: read.verdict.err(),
                });
            }
            FileKind::Records => inspection.records = Some(inspect_records(vfs, path)?),
            FileKind::Lock => {}
            FileKind::Temporary | FileKind::Other => inspection.other_files.push(path),
        }
    }
    // Zero-padded names sort by op already; sort anyway so the contract does not rest on it.
    inspection.segments.sort_by_key(|segment| segment.first_op);
    inspection.snapshots.sort_by_key(|snapshot| snapshot.op);
    Ok(inspection)
}

fn inspect_records<V: Vfs>(vfs: &V, path: PathBuf) -> Result<RecordsInspection, StorageError> {
    let verify = records::records_verify(vfs, &path)?;
    let page_size = format::RECORD_PAGE_SIZE as u64;
    Ok(RecordsInspection {
        path,
        size: verify.file_size,
        page_count: verify.page_count,
        record_count: verify.page_count * RECORDS_PER_PAGE,
        partial_page_size: verify.file_size % page_size,
        bad_page_count: verify.bad_page_count,
        defect: verify
            .first_defect
            .map(|(offset, reason)| RecordsDefect { offset, reason }),
    })
}

fn inspect_segment<V: Vfs>(
    vfs: &V,
    path: PathBuf,
    first_op: u64,
) -> Result<SegmentInspection, StorageError> {
    let file = vfs
        .open_read(&path)
        .map_err(|error| StorageError::io(&path, "open", error))?;
    let scan = reader::segment_scan(&file, &path, first_op)?;
    let defect = match scan.defect {
        None => None,
        Some(reason) => {
            let op_min = scan.last_op.unwrap_or(first_op.saturating_sub(1));
            let mut reader = SegmentReader::new(&file, &path, scan.file_size);
            let valid_frame_after = reader.valid_frame_after(scan.valid_size, op_min)?;
            Some(SegmentDefect {
                offset: scan.valid_size,
                reason,
                valid_frame_after,
            })
        }
    };
    Ok(SegmentInspection {
        path,
        first_op,
        last_op: scan.last_op,
        entry_count: scan.entry_count,
        size: scan.file_size,
        defect,
    })
}
