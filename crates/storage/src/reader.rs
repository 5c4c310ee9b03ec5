//! Sequential, verified reading of segment files: one frame at a time, in bounded memory.
//!
//! Used by recovery, by replay and by `inspect`, so all three apply the same checks. Invariants
//! owned here:
//! - memory stays bounded by one read chunk plus the largest frame ([`PAYLOAD_SIZE_MAX`]), never
//!   the size of the log;
//! - a frame is returned only after its header checksum, version, size cap, payload checksum and
//!   op order all passed.

use std::path::Path;

use crate::error::{FrameDefect, StorageError};
use crate::format::{self, FRAME_HEADER_SIZE, FRAME_MAGIC};
use crate::vfs::VfsFile;

/// How much to read from a file at a time: big enough that read syscalls are rare, small
/// enough not to matter next to the 64 MiB frame cap.
const READ_CHUNK_SIZE: usize = 1 << 20;

/// A window over a file that slides forward as frames are consumed.
pub(crate) struct SegmentReader<'f, F: VfsFile> {
    file: &'f F,
    path: &'f Path,
    /// Bytes past this offset are not considered (the file size, or the validated size).
    end: u64,
    buffer: Vec<u8>,
    buffer_start: u64,
}

/// The result of reading at one offset.
pub(crate) enum FrameRead<'b> {
    /// The offset is the end: no more bytes.
    End,
    Frame {
        op: u64,
        payload: &'b [u8],
        size: u64,
    },
    Defect(FrameDefect),
}

impl<'f, F: VfsFile> SegmentReader<'f, F> {
    pub(crate) fn new(file: &'f F, path: &'f Path, end: u64) -> Self {
        SegmentReader {
            file,
            path,
            end,
            buffer: Vec::new(),
            buffer_start: 0,
        }
    }

    /// Returns up to `size` bytes starting at `position`; fewer only where `end` cuts them off
    /// (or the file turns out shorter than `end`).
    fn window(&mut self, position: u64, size: usize) -> Result<&[u8], StorageError> {
        let want_end = position
            .saturating_add(size as u64)
            .min(self.end)
            .max(position);
        let buffer_end = self.buffer_start + self.buffer.len() as u64;
        if position < self.buffer_start || position > buffer_end {
            self.buffer.clear();
            self.buffer_start = position;
        } else if want_end > buffer_end {
            // Drop what lies before `position` so the buffer does not grow with the file.
            let consumed = usize::try_from(position - self.buffer_start)
                .expect("consumed bytes are within the in-memory buffer");
            self.buffer.drain(..consumed);
            self.buffer_start = position;
        }
        let buffer_end = self.buffer_start + self.buffer.len() as u64;
        if want_end > buffer_end {
            let read_end = want_end
                .max(buffer_end + READ_CHUNK_SIZE as u64)
                .min(self.end);
            let old_size = self.buffer.len();
            let extra_size = usize::try_from(read_end - buffer_end)
                .expect("a read is at most one chunk or one frame");
            self.buffer.resize(old_size + extra_size, 0);
            let read_size = self
                .file
                .read_at(buffer_end, &mut self.buffer[old_size..])
                .map_err(|error| StorageError::io(self.path, "read", error))?;
            self.buffer.truncate(old_size + read_size);
        }
        let start = usize::try_from(position - self.buffer_start)
            .expect("position is within the in-memory buffer");
        let start = start.min(self.buffer.len());
        let stop = start.saturating_add(size).min(self.buffer.len());
        Ok(&self.buffer[start..stop])
    }

    /// Like `window`, but returns everything already buffered from `position` when that is at
    /// least `size_min` bytes, so a byte-by-byte search does not re-read the file per step.
    fn window_buffered(&mut self, position: u64, size_min: usize) -> Result<&[u8], StorageError> {
        let buffer_end = self.buffer_start + self.buffer.len() as u64;
        if position >= self.buffer_start && position + size_min as u64 <= buffer_end {
            let start = usize::try_from(position - self.buffer_start)
                .expect("position is within the in-memory buffer");
            return Ok(&self.buffer[start..]);
        }
        self.window(position, READ_CHUNK_SIZE)
    }

    /// Reads and verifies the frame at `position`. `expected_op` is the op the frame must have
    /// (None: any op, used when searching).
    pub(crate) fn frame_at(
        &mut self,
        position: u64,
        expected_op: Option<u64>,
    ) -> Result<FrameRead<'_>, StorageError> {
        if position >= self.end {
            return Ok(FrameRead::End);
        }
        let header_bytes = self.window(position, FRAME_HEADER_SIZE)?;
        if header_bytes.is_empty() {
            // The file is shorter than `end` said: nothing is there.
            return Ok(FrameRead::End);
        }
        let Ok(header_bytes) = <[u8; FRAME_HEADER_SIZE]>::try_from(header_bytes) else {
            return Ok(FrameRead::Defect(FrameDefect::TruncatedHeader));
        };
        let header = match format::frame_header_decode(&header_bytes) {
            Ok(header) => header,
            Err(defect) => return Ok(FrameRead::Defect(defect)),
        };
        let size = usize::try_from(format::frame_size(header.payload_size))
            .expect("frame size is capped at 64 MiB plus a header");
        let bytes = self.window(position, size)?;
        Ok(frame_parse(bytes, expected_op))
    }

    /// Searches byte by byte from `start` for a fully valid frame whose op is above `op_min`,
    /// and returns its byte offset.
    /// Finding one after a bad frame proves the bad frame is not a torn tail.
    pub(crate) fn valid_frame_after(
        &mut self,
        start: u64,
        op_min: u64,
    ) -> Result<Option<u64>, StorageError> {
        let magic = FRAME_MAGIC.to_le_bytes();
        let mut position = start;
        while position + FRAME_HEADER_SIZE as u64 <= self.end {
            let chunk = self.window_buffered(position, FRAME_HEADER_SIZE)?;
            if chunk.len() < FRAME_HEADER_SIZE {
                break;
            }
            let Some(index) = chunk
                .windows(magic.len())
                .position(|window| window == magic)
            else {
                // The magic may straddle the chunk boundary, so keep its last 3 bytes.
                position += (chunk.len() - (magic.len() - 1)) as u64;
                continue;
            };
            let candidate = position + index as u64;
            if let FrameRead::Frame { op, .. } = self.frame_at(candidate, None)?
                && op > op_min
            {
                return Ok(Some(candidate));
            }
            position = candidate + 1;
        }
        Ok(None)
    }
}

/// Verifies the frame at the start of `bytes` (which may hold more after it).
pub(crate) fn frame_parse(bytes: &[u8], expected_op: Option<u64>) -> FrameRead<'_> {
    if bytes.is_empty() {
        return FrameRead::End;
    }
    let Some(header_bytes) = bytes.first_chunk::<FRAME_HEADER_SIZE>() else {
        return FrameRead::Defect(FrameDefect::TruncatedHeader);
    };
    let header = match format::frame_header_decode(header_bytes) {
        Ok(header) => header,
        Err(defect) => return FrameRead::Defect(defect),
    };
    let size = format::frame_size(header.payload_size);
    let size_usize = usize::try_from(size).expect("frame size is capped at 64 MiB plus a header");
    let Some(payload) = bytes.get(FRAME_HEADER_SIZE..size_usize) else {
        return FrameRead::Defect(FrameDefect::TruncatedPayload);
    };
    if format::checksum(payload) != header.payload_checksum {
        return FrameRead::Defect(FrameDefect::PayloadChecksum);
    }
    if let Some(expected) = expected_op
        && header.op != expected
    {
        return FrameRead::Defect(FrameDefect::OpOutOfOrder {
            expected,
            found: header.op,
        });
    }
    FrameRead::Frame {
        op: header.op,
        payload,
        size,
    }
}

/// What a full verification pass over one segment found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentScan {
    pub(crate) entry_count: u64,
    /// The op of the last valid frame, if any.
    pub(crate) last_op: Option<u64>,
    /// Where the valid frames end: the offset of the first bad frame, or the file size.
    pub(crate) valid_size: u64,
    pub(crate) file_size: u64,
    pub(crate) defect: Option<FrameDefect>,
}

/// Verifies every frame of a segment named for `first_op`, stopping at the first bad one.
pub(crate) fn segment_scan<F: VfsFile>(
    file: &F,
    path: &Path,
    first_op: u64,
) -> Result<SegmentScan, StorageError> {
    let file_size = file
        .size()
        .map_err(|error| StorageError::io(path, "stat", error))?;
    let mut reader = SegmentReader::new(file, path, file_size);
    let mut scan = SegmentScan {
        entry_count: 0,
        last_op: None,
        valid_size: 0,
        file_size,
        defect: None,
    };
    loop {
        let expected_op = first_op + scan.entry_count;
        match reader.frame_at(scan.valid_size, Some(expected_op))? {
            FrameRead::End => return Ok(scan),
            FrameRead::Frame { op, size, .. } => {
                scan.entry_count += 1;
                scan.last_op = Some(op);
                scan.valid_size += size;
            }
            FrameRead::Defect(defect) => {
                scan.defect = Some(defect);
                return Ok(scan);
            }
        }
    }
}
