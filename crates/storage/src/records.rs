//! The record file: a durable, append-only array of opaque 128-byte records addressed by
//! position, written in whole checksummed pages by one [`RecordFile`] and read back, verified,
//! by any number of [`RecordReader`]s on other threads.
//!
//! `docs/internals/records.md` specifies the bytes and the rules. Invariants owned here:
//! - only complete pages are ever written, each once, in page order; a page is never rewritten
//!   (only cut off by `truncate`), so a torn write can damage only pages that were never synced;
//! - `synced_len() <= len_on_disk() <= len()`, and the first two are multiples of
//!   [`RECORDS_PER_PAGE`];
//! - readers read only whole pages the writer has finished writing: the writer publishes its
//!   page count after each write returns (Release) and readers refuse positions at or above the
//!   count they load (Acquire);
//! - no record is handed out before its page passed every check (magic, version, page index,
//!   checksum, reserved bytes), and no bytes read from disk can make this code panic;
//! - after a failed write, cut or sync the writer refuses every further call (fsyncgate).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{PageDefect, StorageError};
use crate::format::{
    self, RECORD_PAGE_SIZE, RECORD_PAGE_SIZE_U64, RECORD_SIZE, RECORDS_FILE_NAME, RECORDS_PER_PAGE,
};
use crate::vfs::{Vfs, VfsFile};
use crate::wal;

/// Pages gathered in memory before one write: 1 MiB.
const WRITE_PAGE_COUNT: usize = 256;
/// Pages per read when scanning or verifying: 64 KiB, one syscall per 496 records. Measured on
/// the 2-core dev VM, 10M records from the page cache: 64 KiB reads scan at about 40M records/s,
/// 128 KiB to 1 MiB reads at 12-15M/s (the kernel's copy into a buffer that no longer stays in
/// the CPU cache dominates). From a cold cache the run-to-run noise (0.8-2.8 s for 10M) hid any
/// difference between 64 KiB and 1 MiB reads; the kernel reads ahead either way.
const READ_PAGE_COUNT: usize = 16;
/// Consecutive pages `read_many` reads with one call, at most (see `READ_PAGE_COUNT`).
const RUN_PAGE_COUNT_MAX: u64 = READ_PAGE_COUNT as u64;
const RECORDS_PER_PAGE_USIZE: usize = RECORDS_PER_PAGE as usize;

type Page = [u8; RECORD_PAGE_SIZE];

/// What the writer and its readers share: the read handle, and how far readers may read.
struct Shared<F> {
    path: PathBuf,
    /// A read-only handle; positional reads (`pread`) need no lock.
    file: F,
    /// Whole pages written to the file (durable or not). Only the writer stores it.
    page_count: AtomicU64,
}

/// The single writer of a record file. See the module docs and `docs/internals/records.md`.
///
/// It does not take the directory lock: it lives in the data directory of a [`crate::Wal`],
/// whose lock keeps other processes out, and the caller keeps to one `RecordFile` per file.
pub struct RecordFile<V: Vfs> {
    /// The append handle.
    file: V::File,
    shared: Arc<Shared<V::File>>,
    /// Whole pages in the file; mirrored in `shared.page_count` after each change.
    page_count: u64,
    /// Pages known durable: at most `page_count`.
    page_count_synced: u64,
    /// The page being filled: slots 1..=`page_fill` hold records, slot 0 is sealed when full.
    page: Box<Page>,
    page_fill: usize,
    /// Full pages sealed but not yet written; empty between calls.
    write_buffer: Vec<u8>,
    torn_tail_size: u64,
    poisoned: bool,
}

impl<V: Vfs> fmt::Debug for RecordFile<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordFile")
            .field("path", &self.shared.path)
            .field("page_count", &self.page_count)
            .field("page_count_synced", &self.page_count_synced)
            .field("page_fill", &self.page_fill)
            .field("torn_tail_size", &self.torn_tail_size)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl<V: Vfs> RecordFile<V> {
    /// Opens `dir/transfers.records`, creating the directory and the file if missing (and
    /// fsyncing the directory after a creation).
    ///
    /// It does not read the pages: the length is the file size in whole pages. A trailing
    /// partial page can only be a torn append of a page that was never synced; it is cut (see
    /// [`RecordFile::torn_tail_size`]). Then the file is `fdatasync`ed, so that everything it
    /// holds is durable and `synced_len() == len_on_disk() == len()`.
    ///
    /// Pages above the caller's own durable watermark (such as the cold floor of the snapshot
    /// the node recovers from) may hold garbage after a crash: [`RecordFile::truncate`] to the
    /// watermark before reading or appending past it.
    pub fn open(vfs: V, dir: &Path) -> Result<RecordFile<V>, StorageError> {
        wal::open_directory(&vfs, dir, true)?;
        let path = dir.join(RECORDS_FILE_NAME);
        let mut file = match vfs.open_append(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => vfs
                .create(&path)
                .map_err(|error| StorageError::io(&path, "create", error))?,
            Err(error) => return Err(StorageError::io(&path, "open", error)),
        };
        // IMPORTANT: fsync the directory so the file's name survives a crash; syncing pages
        // into a file whose name is lost would be useless. Also when the file existed: the
        // process that created it may have died, or failed, before its directory fsync.
        vfs.sync_dir(dir)
            .map_err(|error| StorageError::io(dir, "sync_dir", error))?;
        let size = file
            .size()
            .map_err(|error| StorageError::io(&path, "stat", error))?;
        let page_count = size / RECORD_PAGE_SIZE_U64;
        let torn_tail_size = size % RECORD_PAGE_SIZE_U64;
        if torn_tail_size > 0 {
            // Appends land at the end of the file, so the partial page must go before the next
            // page is written, or every later page would sit at the wrong offset.
            file.truncate(page_count * RECORD_PAGE_SIZE_U64)
                .map_err(|error| StorageError::io(&path, "truncate", error))?;
        }
        if size > 0 {
            // The previous process may have died before syncing what it wrote: make the file as
            // it is now (and the cut) durable, so `synced_len` can start at `len_on_disk`.
            file.sync_data()
                .map_err(|error| StorageError::io(&path, "sync_data", error))?;
        }
        let read_file = vfs
            .open_read(&path)
            .map_err(|error| StorageError::io(&path, "open", error))?;
        let shared = Arc::new(Shared {
            path,
            file: read_file,
            page_count: AtomicU64::new(page_count),
        });
        Ok(RecordFile {
            file,
            shared,
            page_count,
            page_count_synced: page_count,
            page: Box::new([0u8; RECORD_PAGE_SIZE]),
            page_fill: 0,
            write_buffer: Vec::new(),
            torn_tail_size,
            poisoned: false,
        })
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Bytes of a trailing partial page (a torn append) that [`RecordFile::open`] found and
    /// cut; 0 when the file was a whole number of pages.
    #[must_use]
    pub fn torn_tail_size(&self) -> u64 {
        self.torn_tail_size
    }

    /// Records in whole pages in the file, durable or not: what readers, `scan` and `truncate`
    /// may reach.
    #[must_use]
    pub fn len_on_disk(&self) -> u64 {
        self.page_count * RECORDS_PER_PAGE
    }

    /// Records appended so far: those on disk plus the ones buffered in the partial page.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len_on_disk() + self.page_fill as u64
    }

    /// Whether no record was appended (and none is on disk).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records known durable: those in pages covered by the last successful `sync` (or `open`,
    /// or a `truncate` that cut). Always a multiple of [`RECORDS_PER_PAGE`].
    #[must_use]
    pub fn synced_len(&self) -> u64 {
        self.page_count_synced * RECORDS_PER_PAGE
    }

    /// Appends `records` at positions `len()..len() + records.len()`. Every page that fills up
    /// is sealed and written before this returns (one write per MiB); the records of a partial
    /// last page stay in memory until the page fills. Nothing is durable until
    /// [`RecordFile::sync`]. After an error the file is poisoned.
    pub fn append(&mut self, records: &[[u8; RECORD_SIZE]]) -> Result<(), StorageError> {
        if self.poisoned {
            return Err(StorageError::Poisoned);
        }
        let result = self.append_inner(records);
        self.poison_on_error(result)
    }

    fn append_inner(&mut self, records: &[[u8; RECORD_SIZE]]) -> Result<(), StorageError> {
        for record in records {
            let slot = 1 + self.page_fill;
            self.page[slot * RECORD_SIZE..(slot + 1) * RECORD_SIZE].copy_from_slice(record);
            self.page_fill += 1;
            if self.page_fill == RECORDS_PER_PAGE_USIZE {
                let buffered = (self.write_buffer.len() / RECORD_PAGE_SIZE) as u64;
                format::record_page_seal(&mut self.page, self.page_count + buffered);
                self.write_buffer.extend_from_slice(&*self.page);
                self.page_fill = 0;
                if self.write_buffer.len() >= WRITE_PAGE_COUNT * RECORD_PAGE_SIZE {
                    self.buffer_flush()?;
                }
            }
        }
        self.buffer_flush()
    }

    fn buffer_flush(&mut self) -> Result<(), StorageError> {
        if self.write_buffer.is_empty() {
            return Ok(());
        }
        self.file
            .append(&self.write_buffer)
            .map_err(|error| StorageError::io(&self.shared.path, "write", error))?;
        self.page_count += (self.write_buffer.len() / RECORD_PAGE_SIZE) as u64;
        self.write_buffer.clear();
        // Published only once the write returned: a reader must never see a page mid-write.
        self.shared
            .page_count
            .store(self.page_count, Ordering::Release);
        Ok(())
    }

    /// Makes every page written so far durable (`fdatasync`, skipped when nothing new was
    /// written) and returns the new [`RecordFile::synced_len`], which then equals
    /// `len_on_disk()`. The buffered partial page is never written. After an error the file is
    /// poisoned.
    pub fn sync(&mut self) -> Result<u64, StorageError> {
        if self.poisoned {
            return Err(StorageError::Poisoned);
        }
        if self.page_count_synced < self.page_count {
            let result = self
                .file
                .sync_data()
                .map_err(|error| StorageError::io(&self.shared.path, "sync_data", error));
            self.poison_on_error(result)?;
            self.page_count_synced = self.page_count;
        }
        Ok(self.synced_len())
    }

    /// Cuts the file to its first `len` records and drops the buffered partial page, then
    /// `fdatasync`s (when anything was cut or is unsynced); afterwards `synced_len()`,
    /// `len_on_disk()` and `len()` all equal `len`. `len` must be a multiple of
    /// [`RECORDS_PER_PAGE`] and at most `len_on_disk()`, else nothing changes and the error is
    /// [`StorageError::RecordsTruncateInvalid`]. After an I/O error the file is poisoned.
    ///
    /// Used at recovery, before appending again: readers must not be reading positions at or
    /// above `len` meanwhile (those positions get new records by later appends).
    pub fn truncate(&mut self, len: u64) -> Result<(), StorageError> {
        if self.poisoned {
            return Err(StorageError::Poisoned);
        }
        let len_on_disk = self.len_on_disk();
        if !len.is_multiple_of(RECORDS_PER_PAGE) || len > len_on_disk {
            return Err(StorageError::RecordsTruncateInvalid { len, len_on_disk });
        }
        self.page_fill = 0;
        let result = self.truncate_inner(len / RECORDS_PER_PAGE);
        self.poison_on_error(result)
    }

    fn truncate_inner(&mut self, page_count: u64) -> Result<(), StorageError> {
        let path = &self.shared.path;
        if page_count < self.page_count {
            // Readers stop at the new end before its bytes go.
            self.shared.page_count.store(page_count, Ordering::Release);
            self.page_count = page_count;
            self.page_count_synced = self.page_count_synced.min(page_count);
            self.file
                .truncate(page_count * RECORD_PAGE_SIZE_U64)
                .map_err(|error| StorageError::io(path, "truncate", error))?;
            // Not needed for the positions below the cut, but it keeps the rule simple: after
            // `truncate` everything in the file is durable, and the cut bytes cannot return.
            self.file
                .sync_data()
                .map_err(|error| StorageError::io(path, "sync_data", error))?;
        } else if self.page_count_synced < self.page_count {
            self.file
                .sync_data()
                .map_err(|error| StorageError::io(path, "sync_data", error))?;
        }
        self.page_count_synced = self.page_count;
        Ok(())
    }

    /// A reader for other threads: cheap to clone, `Send + Sync` (for the [`crate::OsVfs`] and
    /// [`crate::MemVfs`] files), sharing one read handle. It sees the pages this writer has
    /// written, including those written after the reader was made.
    pub fn reader(&self) -> Result<RecordReader<V>, StorageError> {
        if self.poisoned {
            return Err(StorageError::Poisoned);
        }
        Ok(RecordReader {
            shared: Arc::clone(&self.shared),
        })
    }

    fn poison_on_error<T>(&mut self, result: Result<T, StorageError>) -> Result<T, StorageError> {
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }
}

/// Reads records back, verifying every page it reads. Many threads may read at once, also
/// while the writer appends.
///
/// The rule: a reader reads only positions below the `len_on_disk()` it loads, which the
/// writer raises only after the pages are in the file. Positions at or above it are refused
/// with [`StorageError::RecordsOutOfRange`], never read.
pub struct RecordReader<V: Vfs> {
    shared: Arc<Shared<V::File>>,
}

impl<V: Vfs> Clone for RecordReader<V> {
    fn clone(&self) -> Self {
        RecordReader {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<V: Vfs> fmt::Debug for RecordReader<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordReader")
            .field("path", &self.shared.path)
            .field("len_on_disk", &self.len_on_disk())
            .finish_non_exhaustive()
    }
}

impl<V: Vfs> RecordReader<V> {
    /// Records in the pages the writer has written so far: the positions this reader may read.
    #[must_use]
    pub fn len_on_disk(&self) -> u64 {
        self.shared.page_count.load(Ordering::Acquire) * RECORDS_PER_PAGE
    }

    /// Reads the page holding `position`, verifies it, and returns the record.
    pub fn read(&self, position: u64) -> Result<[u8; RECORD_SIZE], StorageError> {
        let len = self.len_on_disk();
        if position >= len {
            return Err(StorageError::RecordsOutOfRange {
                start: position,
                end: position.saturating_add(1),
                len,
            });
        }
        let page_index = position / RECORDS_PER_PAGE;
        let mut page = [0u8; RECORD_PAGE_SIZE];
        let pages = pages_read(&self.shared, page_index, &mut page)?;
        Ok(*record_at(&pages[0], position))
    }

    /// Reads the records at `positions` (any order, repeats allowed) and appends them to `out`
    /// in the order asked: afterwards `out[start + i]` is the record at `positions[i]`, where
    /// `start` is the length `out` had. Each distinct page is read and verified once, and runs
    /// of consecutive pages are read with one call. On error `out` is left as it was.
    pub fn read_many(
        &self,
        positions: &[u64],
        out: &mut Vec<[u8; RECORD_SIZE]>,
    ) -> Result<(), StorageError> {
        let len = self.len_on_disk();
        if let Some(&position) = positions.iter().find(|&&position| position >= len) {
            return Err(StorageError::RecordsOutOfRange {
                start: position,
                end: position.saturating_add(1),
                len,
            });
        }
        let start = out.len();
        out.resize(start + positions.len(), [0u8; RECORD_SIZE]);
        let result = self.read_many_fill(positions, &mut out[start..]);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn read_many_fill(
        &self,
        positions: &[u64],
        out: &mut [[u8; RECORD_SIZE]],
    ) -> Result<(), StorageError> {
        let mut order: Vec<usize> = (0..positions.len()).collect();
        order.sort_unstable_by_key(|&index| positions[index]);
        let mut buffer = Vec::new();
        let mut run_start = 0;
        while run_start < order.len() {
            // A run: requested pages with no gap between them, each holding a requested record.
            let first_page = positions[order[run_start]] / RECORDS_PER_PAGE;
            let mut last_page = first_page;
            let mut run_end = run_start + 1;
            while let Some(&index) = order.get(run_end) {
                let page_index = positions[index] / RECORDS_PER_PAGE;
                let extends = page_index == last_page
                    || (page_index == last_page + 1
                        && page_index - first_page < RUN_PAGE_COUNT_MAX);
                if !extends {
                    break;
                }
                last_page = page_index;
                run_end += 1;
            }
            let run_size = usize::try_from(last_page - first_page + 1)
                .expect("a run is at most RUN_PAGE_COUNT_MAX pages")
                * RECORD_PAGE_SIZE;
            buffer.resize(run_size, 0);
            let pages = pages_read(&self.shared, first_page, &mut buffer)?;
            for &index in &order[run_start..run_end] {
                let position = positions[index];
                let page_offset = usize::try_from(position / RECORDS_PER_PAGE - first_page)
                    .expect("the page is within the run");
                out[index] = *record_at(&pages[page_offset], position);
            }
            run_start = run_end;
        }
        Ok(())
    }

    /// Calls `f(position, record)` for every position in `start..end`, in order, reading the
    /// file sequentially in 64 KiB reads and verifying each page before any of its records is
    /// passed on. `end` must be at most `len_on_disk()`. On a failed check it returns
    /// [`StorageError::Corrupt`] naming the bad page's offset; the records before that page
    /// have been passed to `f` already.
    pub fn scan(
        &self,
        start: u64,
        end: u64,
        mut f: impl FnMut(u64, &[u8; RECORD_SIZE]),
    ) -> Result<(), StorageError> {
        let len = self.len_on_disk();
        if start > end || end > len {
            return Err(StorageError::RecordsOutOfRange { start, end, len });
        }
        if start == end {
            return Ok(());
        }
        let page_end = (end - 1) / RECORDS_PER_PAGE + 1;
        let mut page_index = start / RECORDS_PER_PAGE;
        let mut buffer = vec![0u8; READ_PAGE_COUNT * RECORD_PAGE_SIZE];
        while page_index < page_end {
            let chunk_page_count = (page_end - page_index).min(READ_PAGE_COUNT as u64);
            let chunk_size = usize::try_from(chunk_page_count)
                .expect("a chunk is at most READ_PAGE_COUNT pages")
                * RECORD_PAGE_SIZE;
            let chunk = &mut buffer[..chunk_size];
            let read_size = pages_fetch(&self.shared, page_index, chunk)?;
            let (pages, _) = chunk.as_chunks::<RECORD_PAGE_SIZE>();
            for (page_offset, page) in (0..).step_by(RECORD_PAGE_SIZE).zip(pages) {
                page_check(page, page_index, read_size.saturating_sub(page_offset)).map_err(
                    |defect| {
                        StorageError::corrupt(
                            &self.shared.path,
                            page_index * RECORD_PAGE_SIZE_U64,
                            defect,
                        )
                    },
                )?;
                let first = page_index * RECORDS_PER_PAGE;
                let (records, _) = page[RECORD_SIZE..].as_chunks::<RECORD_SIZE>();
                for (position, record) in (first..).zip(records) {
                    if position >= start && position < end {
                        f(position, record);
                    }
                }
                page_index += 1;
            }
        }
        Ok(())
    }
}

/// The record at `position` in its (verified) page.
fn record_at(page: &Page, position: u64) -> &[u8; RECORD_SIZE] {
    let (records, _) = page[RECORD_SIZE..].as_chunks::<RECORD_SIZE>();
    let slot = usize::try_from(position % RECORDS_PER_PAGE).expect("a slot index is below 31");
    &records[slot]
}

/// Reads the pages from `first_page` on into `buffer` (a whole number of pages) with one read,
/// unverified; returns how many bytes the file had for them.
fn pages_fetch<F: VfsFile>(
    shared: &Shared<F>,
    first_page: u64,
    buffer: &mut [u8],
) -> Result<usize, StorageError> {
    shared
        .file
        .read_at(first_page * RECORD_PAGE_SIZE_U64, buffer)
        .map_err(|error| StorageError::io(&shared.path, "read", error))
}

/// Reads the pages from `first_page` on into `buffer` (a whole number of pages) with one read,
/// and verifies each; returns them. Errors name the offset of the first bad page.
fn pages_read<'b, F: VfsFile>(
    shared: &Shared<F>,
    first_page: u64,
    buffer: &'b mut [u8],
) -> Result<&'b [Page], StorageError> {
    let path = &shared.path;
    let read_size = pages_fetch(shared, first_page, buffer)?;
    let (pages, _) = buffer.as_chunks::<RECORD_PAGE_SIZE>();
    for (page_index, (page_offset, page)) in
        (first_page..).zip((0..).step_by(RECORD_PAGE_SIZE).zip(pages))
    {
        page_check(page, page_index, read_size.saturating_sub(page_offset)).map_err(|defect| {
            StorageError::corrupt(path, page_index * RECORD_PAGE_SIZE_U64, defect)
        })?;
    }
    Ok(pages)
}

/// Verifies a page of which `present_size` bytes came from the file (the rest of the buffer is
/// stale or zero, and is never looked at).
fn page_check(page: &Page, page_index: u64, present_size: usize) -> Result<(), PageDefect> {
    if present_size < RECORD_PAGE_SIZE {
        return Err(PageDefect::Truncated {
            size: present_size as u64,
        });
    }
    format::record_page_verify(page, page_index)
}

/// What [`records_verify`] found.
pub(crate) struct RecordsVerify {
    pub(crate) file_size: u64,
    pub(crate) page_count: u64,
    pub(crate) bad_page_count: u64,
    /// The first bad page: its byte offset and defect.
    pub(crate) first_defect: Option<(u64, PageDefect)>,
}

/// Reads and verifies every whole page of the record file at `path`, without modifying it.
pub(crate) fn records_verify<V: Vfs>(vfs: &V, path: &Path) -> Result<RecordsVerify, StorageError> {
    let file = vfs
        .open_read(path)
        .map_err(|error| StorageError::io(path, "open", error))?;
    let file_size = file
        .size()
        .map_err(|error| StorageError::io(path, "stat", error))?;
    let mut verify = RecordsVerify {
        file_size,
        page_count: file_size / RECORD_PAGE_SIZE_U64,
        bad_page_count: 0,
        first_defect: None,
    };
    let mut buffer = vec![0u8; READ_PAGE_COUNT * RECORD_PAGE_SIZE];
    let mut page_index = 0;
    while page_index < verify.page_count {
        let chunk_page_count = (verify.page_count - page_index).min(READ_PAGE_COUNT as u64);
        let chunk_size = usize::try_from(chunk_page_count)
            .expect("a chunk is at most READ_PAGE_COUNT pages")
            * RECORD_PAGE_SIZE;
        let chunk = &mut buffer[..chunk_size];
        let read_size = file
            .read_at(page_index * RECORD_PAGE_SIZE_U64, chunk)
            .map_err(|error| StorageError::io(path, "read", error))?;
        let (pages, _) = chunk.as_chunks::<RECORD_PAGE_SIZE>();
        for (page_offset, page) in (0..).step_by(RECORD_PAGE_SIZE).zip(pages) {
            if let Err(defect) = page_check(page, page_index, read_size.saturating_sub(page_offset))
            {
                verify.bad_page_count += 1;
                if verify.first_defect.is_none() {
                    verify.first_defect = Some((page_index * RECORD_PAGE_SIZE_U64, defect));
                }
            }
            page_index += 1;
        }
    }
    Ok(verify)
}
