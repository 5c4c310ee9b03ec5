//! Snapshot files: atomic write and streaming verification.
//!
//! Invariants owned here:
//! - a snapshot file under its final name is complete and durable: it is written under a
//!   temporary name, fsynced, renamed, and the directory fsynced;
//! - a snapshot is used only if its header (and, from version 2, trailer) checksums, the op in
//!   its name, header and trailer, its size and its payload checksum all agree.

use std::io;
use std::path::{Path, PathBuf};

use crate::error::StorageError;
use crate::format::{
    self, PayloadSeal, SNAPSHOT_HEADER_SIZE, SNAPSHOT_TRAILER_SIZE, TEMPORARY_SUFFIX,
};
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
    // Version 1 seals the payload in its header; version 2 in a trailer after it.
    let (seal, payload_end) = match header.payload {
        Some(seal) => (seal, file_size),
        None => {
            let Some(trailer_at) =
                file_size.checked_sub((SNAPSHOT_HEADER_SIZE + SNAPSHOT_TRAILER_SIZE) as u64)
            else {
                return Ok(Err(format!(
                    "file of {file_size} bytes is shorter than a snapshot header and trailer"
                )));
            };
            let trailer_at = trailer_at + SNAPSHOT_HEADER_SIZE as u64;
            let mut trailer = [0u8; SNAPSHOT_TRAILER_SIZE];
            if file.read_at(trailer_at, &mut trailer)? < SNAPSHOT_TRAILER_SIZE {
                return Ok(Err("file shrank while being read".to_owned()));
            }
            let (trailer_op, seal) = match format::snapshot_trailer_decode(&trailer) {
                Ok(decoded) => decoded,
                Err(reason) => return Ok(Err(reason)),
            };
            if trailer_op != header.op {
                return Ok(Err(format!(
                    "trailer op {trailer_op} does not match the header op {}",
                    header.op
                )));
            }
            (seal, trailer_at)
        }
    };
    let payload_size = payload_end - SNAPSHOT_HEADER_SIZE as u64;
    if seal.size != payload_size {
        return Ok(Err(format!(
            "sealed payload size {} does not match the {payload_size} bytes present",
            seal.size
        )));
    }
    // The size was checked against the real file, so this allocation is bounded by the disk.
    let mut payload = Vec::new();
    let mut chunk = vec![0u8; VERIFY_CHUNK_SIZE];
    let mut crc = 0u32;
    let mut position = SNAPSHOT_HEADER_SIZE as u64;
    while position < payload_end {
        let want = usize::try_from(payload_end - position)
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
    if crc != seal.checksum {
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
    let mut stream = Stream::begin(vfs, dir, op, durable)?;
    stream.append(payload)?;
    stream.finish(vfs, dir, durable)
}

/// A snapshot file being written piece by piece under its temporary name: the payload streams
/// through [`Stream::append`] (its size and checksum are counted on the way), and
/// [`Stream::finish`] seals, syncs and renames it. Dropped unfinished, it leaves only a
/// temporary file, which the next attempt at the same op or the next open deletes.
pub(crate) struct Stream<F> {
    file: F,
    op: u64,
    temporary: PathBuf,
    seal: PayloadSeal,
}

impl<F: VfsFile> Stream<F> {
    pub(crate) fn begin<V: Vfs<File = F>>(
        vfs: &V,
        dir: &Path,
        op: u64,
        durable: bool,
    ) -> Result<Stream<F>, StorageError> {
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
        // Direct I/O for a durable snapshot: its bytes reach the disk by `sync_data`, not
        // through the page cache (a file from `create_direct` must end with `sync_data`).
        let created = if durable {
            vfs.create_direct(&temporary)
        } else {
            vfs.create(&temporary)
        };
        let mut file = created.map_err(|error| StorageError::io(&temporary, "create", error))?;
        file.append(&format::snapshot_header_encode(op))
            .map_err(|error| StorageError::io(&temporary, "write", error))?;
        Ok(Stream {
            file,
            op,
            temporary,
            seal: PayloadSeal {
                size: 0,
                checksum: 0,
            },
        })
    }

    pub(crate) fn op(&self) -> u64 {
        self.op
    }

    /// Payload bytes appended so far.
    pub(crate) fn size(&self) -> u64 {
        self.seal.size
    }

    pub(crate) fn append(&mut self, payload: &[u8]) -> Result<(), StorageError> {
        self.file
            .append(payload)
            .map_err(|error| StorageError::io(&self.temporary, "write", error))?;
        self.seal.checksum = crc32c::crc32c_append(self.seal.checksum, payload);
        self.seal.size += payload.len() as u64;
        Ok(())
    }

    /// Appends the trailer, syncs (if `durable`), renames to the final name and syncs the
    /// directory; returns the final path.
    pub(crate) fn finish<V: Vfs<File = F>>(
        mut self,
        vfs: &V,
        dir: &Path,
        durable: bool,
    ) -> Result<PathBuf, StorageError> {
        let temporary = self.temporary;
        self.file
            .append(&format::snapshot_trailer_encode(self.op, self.seal))
            .map_err(|error| StorageError::io(&temporary, "write", error))?;
        if durable {
            self.file
                .sync_data()
                .map_err(|error| StorageError::io(&temporary, "sync_data", error))?;
        }
        drop(self.file);
        let path = dir.join(format::snapshot_name(self.op));
        vfs.rename(&temporary, &path)
            .map_err(|error| StorageError::io(&path, "rename", error))?;
        if durable {
            // IMPORTANT: without this fsync the rename may not survive a crash, and the WAL
            // segments deleted next would then be the only copy of the ops this snapshot
            // covers.
            vfs.sync_dir(dir)
                .map_err(|error| StorageError::io(dir, "sync_dir", error))?;
        }
        Ok(path)
    }
}
