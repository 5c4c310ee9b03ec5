//! Snapshot files: atomic write and streaming verification.
//!
//! Invariants owned here:
//! - a snapshot file under its final name is complete and durable: it is written under a
//!   temporary name, fsynced, renamed, and the directory fsynced;
//! - a snapshot is used only if its header checksum, the op in its name, its size and its
//!   payload checksum all agree.

use std::io;
use std::path::{Path, PathBuf};

use crate::error::StorageError;
use crate::format::{self, SNAPSHOT_HEADER_SIZE, TEMPORARY_SUFFIX};
use crate::vfs::{Vfs, VfsFile};

/// Verification reads snapshots in chunks of this size, so `inspect` never holds a whole
/// snapshot in memory.
const VERIFY_CHUNK_SIZE: usize = 1 << 20;

/// The outcome of reading one snapshot file.
pub(crate) struct SnapshotRead {
    pub(crate) file_size: u64,
    /// The payload (if asked for) when the file verified, else why it did not.
    pub(crate) verdict: Result<Vec<u8>, String>,
}

/// Reads and verifies the snapshot at `path`, whose name says it is at `name_op`. I/O errors are
/// errors; a file that fails verification is a verdict, so the caller can fall back.
pub(crate) fn snapshot_read<V: Vfs>(
    vfs: &V,
    path: &Path,
    name_op: u64,
    payload_keep: bool,
) -> Result<SnapshotRead, StorageError> {
    let file = vfs
        .open_read(path)
        .map_err(|error| StorageError::io(path, "open", error))?;
    let file_size = file
        .size()
        .map_err(|error| StorageError::io(path, "stat", error))?;
    let verdict = snapshot_verify(&file, file_size, name_op, payload_keep)
        .map_err(|error| StorageError::io(path, "read", error))?;
    Ok(SnapshotRead { file_size, verdict })
}

fn snapshot_verify<F: VfsFile>(
    file: &F,
    file_size: u64,
    name_op: u64,
    payload_keep: bool,
) -> io::Result<Result<Vec<u8>, String>> {
    let mut header = [0u8; SNAPSHOT_HEADER_SIZE];
    if file.read_at(0, &mut header)? < SNAPSHOT_HEADER_SIZE {
        return Ok(Err(format!(
            "file of {file_size} bytes is shorter than a snapshot header"
        )));
    }
    let header = match format::snapshot_header_decode(&header) {
        Ok(header) => header,
        Err(reason) => return Ok(Err(reason)),
    };
    if header.op != name_op {
        return Ok(Err(format!(
            "header op {} does not match the file name",
            header.op
        )));
    }
    let payload_size = file_size - SNAPSHOT_HEADER_SIZE as u64;
    if header.payload_size != payload_size {
        return Ok(Err(format!(
            "header payload size {} does not match the {payload_size} bytes present",
            header.payload_size
        )));
    }
    // The size was checked against the real file, so this allocation is bounded by the disk.
    let mut payload = Vec::new();
    let mut chunk = vec![0u8; VERIFY_CHUNK_SIZE];
    let mut crc = 0u32;
    let mut position = SNAPSHOT_HEADER_SIZE as u64;
    while position < file_size {
        let want = usize::try_from(file_size - position)
            .unwrap_or(usize::MAX)
            .min(chunk.len());
        let read = file.read_at(position, &mut chunk[..want])?;
        if read == 0 {
            return Ok(Err("file shrank while being read".to_owned()));
        }
        crc = crc32c::crc32c_append(crc, &chunk[..read]);
        if payload_keep {
            payload.extend_from_slice(&chunk[..read]);
        }
        position += read as u64;
    }
    if crc != header.payload_checksum {
        return Ok(Err("snapshot payload checksum mismatch".to_owned()));
    }
    Ok(Ok(payload))
}

/// Writes `snapshot-{op}.snap` atomically and returns its path. With `durable` false (the
/// not-durable sync mode) the fsyncs are skipped but the rename still gives atomicity.
pub(crate) fn snapshot_write<V: Vfs>(
    vfs: &V,
    dir: &Path,
    op: u64,
    payload: &[u8],
    durable: bool,
) -> Result<PathBuf, StorageError> {
    let path = dir.join(format::snapshot_name(op));
    let mut temporary_name = format::snapshot_name(op);
    temporary_name.push_str(TEMPORARY_SUFFIX);
    let temporary = dir.join(temporary_name);
    // A leftover from a failed attempt in this process would make `create` fail.
    match vfs.remove(&temporary) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => {
            return Err(StorageError::io(&temporary, "remove", error));
        }
        _ => {}
    }
    // Direct I/O for a durable snapshot: its bytes reach the disk by `sync_data`, not through
    // the page cache (a file from `create_direct` must end with `sync_data`).
    let created = if durable {
        vfs.create_direct(&temporary)
    } else {
        vfs.create(&temporary)
    };
    let mut file = created.map_err(|error| StorageError::io(&temporary, "create", error))?;
    let header = format::snapshot_header_encode(op, payload);
    file.append(&header)
        .map_err(|error| StorageError::io(&temporary, "write", error))?;
    file.append(payload)
        .map_err(|error| StorageError::io(&temporary, "write", error))?;
    if durable {
        file.sync_data()
            .map_err(|error| StorageError::io(&temporary, "sync_data", error))?;
    }
    drop(file);
    vfs.rename(&temporary, &path)
        .map_err(|error| StorageError::io(&path, "rename", error))?;
    if durable {
        // IMPORTANT: without this fsync the rename may not survive a crash, and the WAL
        // segments deleted next would then be the only copy of the ops this snapshot covers.
        vfs.sync_dir(dir)
            .map_err(|error| StorageError::io(dir, "sync_dir", error))?;
    }
    Ok(path)
}
