//! The file-system seam: the [`Vfs`] and [`VfsFile`] traits, and [`OsVfs`] over `std::fs`.
//!
//! Everything the WAL does to a disk goes through these few calls, so a simulator can swap in a
//! fault-injecting implementation ([`crate::MemVfs`]). The traits are deliberately small and
//! synchronous; buffering is done once, above them, in [`crate::Wal`], so both implementations
//! see the same write pattern. Invariant owned here: a call either does what it says or returns
//! an `io::Error`; none of them retries or hides an error (fsyncgate: a failed `sync_data` must
//! reach the caller).

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A directory-level file system: the operations the WAL needs, nothing more.
pub trait Vfs {
    type File: VfsFile;
    /// Held for as long as the [`crate::Wal`] lives; dropping it releases the directory.
    type Lock;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Names of the regular files in `dir`, in no particular order.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Opens an existing file for reading only.
    fn open_read(&self, path: &Path) -> io::Result<Self::File>;
    /// Opens an existing file for reading and appending.
    fn open_append(&self, path: &Path) -> io::Result<Self::File>;
    /// Creates a new, empty file for reading and appending; fails if it already exists.
    fn create(&self, path: &Path) -> io::Result<Self::File>;
    /// Creates a new, empty file to be written once from start to end and synced (a
    /// snapshot): only `append`, `sync_data` and `size` need work on it. The real file system
    /// writes it around the page cache where it can (`O_DIRECT`), so gigabytes of snapshot
    /// neither cost a kernel copy nor sit dirty in the cache where the log's next fsync would
    /// wait behind their writeback. Its content is complete only after `sync_data`. Default:
    /// [`Vfs::create`].
    fn create_direct(&self, path: &Path) -> io::Result<Self::File> {
        self.create(path)
    }
    /// Atomically replaces `to` with `from`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes creations, renames and removals of entries in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on `dir`; fails with `ErrorKind::WouldBlock` if it is held.
    fn lock_dir(&self, dir: &Path) -> io::Result<Self::Lock>;
}

/// An open file.
pub trait VfsFile {
    fn size(&self) -> io::Result<u64>;
    /// Reads at `offset`; returns fewer bytes than asked only at the end of the file.
    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> io::Result<usize>;
    /// Writes all of `data` at the end of the file. Not durable until `sync_data`.
    fn append(&mut self, data: &[u8]) -> io::Result<()>;
    /// Makes the file's data (and its size) durable: `fdatasync`.
    fn sync_data(&mut self) -> io::Result<()>;
    /// Cuts the file to `size` bytes. Not durable until `sync_data`.
    fn truncate(&mut self, size: u64) -> io::Result<()>;
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsVfs;

/// A [`std::fs::File`] behind [`VfsFile`].
#[derive(Debug)]
pub struct OsFile {
    file: File,
    /// Set when the file was opened for direct I/O ([`Vfs::create_direct`]).
    direct: Option<Box<Direct>>,
}

/// `O_DIRECT` where its value is known without a libc binding (it differs by architecture).
#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "x86")))]
const O_DIRECT: Option<i32> = Some(0o40_000);
#[cfg(all(target_os = "linux", any(target_arch = "aarch64", target_arch = "arm")))]
const O_DIRECT: Option<i32> = Some(0o200_000);
#[cfg(not(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm"
    )
)))]
const O_DIRECT: Option<i32> = None;

/// Direct I/O wants buffers, lengths and offsets aligned to the device's logical block; 4 KiB
/// covers 512-byte and 4 KiB devices.
const DIRECT_ALIGN: usize = 4096;
/// Bytes staged before each direct write.
const DIRECT_CHUNK: usize = 4 << 20;

/// The staging of a file written with `O_DIRECT`: `stage()` holds the file's content from
/// `offset` (aligned) on; everything before `offset` is written. A partial last block is
/// written padded with zeros, then the file is cut to its length, and kept staged so that
/// a later append rewrites it whole.
#[derive(Debug)]
struct Direct {
    buffer: Vec<u8>,
    /// Where the aligned staging area starts in `buffer`.
    start: usize,
    filled: usize,
    offset: u64,
    path: PathBuf,
}

impl Direct {
    fn stage(&mut self) -> &mut [u8] {
        &mut self.buffer[self.start..self.start + DIRECT_CHUNK]
    }
}

impl Vfs for OsVfs {
    type File = OsFile;
    type Lock = File;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            // A name that is not UTF-8 cannot be one of ours; skipping it is the same as
            // classifying it as "other".
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn open_read(&self, path: &Path) -> io::Result<OsFile> {
        Ok(OsFile {
            file: File::open(path)?,
            direct: None,
        })
    }

    fn open_append(&self, path: &Path) -> io::Result<OsFile> {
        Ok(OsFile {
            file: OpenOptions::new().read(true).append(true).open(path)?,
            direct: None,
        })
    }

    fn create(&self, path: &Path) -> io::Result<OsFile> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(path)?;
        Ok(OsFile { file, direct: None })
    }

    fn create_direct(&self, path: &Path) -> io::Result<OsFile> {
        #[cfg(unix)]
        if let Some(flag) = O_DIRECT {
            use std::os::unix::fs::OpenOptionsExt;
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(flag)
                .open(path)
            {
                Ok(file) => {
                    let buffer = vec![0u8; DIRECT_CHUNK + DIRECT_ALIGN];
                    let start = buffer.as_ptr().align_offset(DIRECT_ALIGN);
                    let direct = Direct {
                        buffer,
                        start,
                        filled: 0,
                        offset: 0,
                        path: path.to_path_buf(),
                    };
                    return Ok(OsFile {
                        file,
                        direct: Some(Box::new(direct)),
                    });
                }
                // A file system without direct I/O (tmpfs on older kernels) may refuse the
                // flag after creating the file: remove it and write through the cache.
                Err(error) if error.kind() == io::ErrorKind::InvalidInput => {
                    match fs::remove_file(path) {
                        Err(error) if error.kind() != io::ErrorKind::NotFound => {
                            return Err(error);
                        }
                        _ => {}
                    }
                }
                Err(error) => return Err(error),
            }
        }
        self.create(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        // Directories can be opened and fsynced on unix; elsewhere the platform gives no such
        // handle and renames are as durable as the platform makes them.
        if cfg!(unix) {
            File::open(dir)?.sync_all()
        } else {
            Ok(())
        }
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<File> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(crate::format::LOCK_NAME))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(TryLockError::WouldBlock) => Err(io::ErrorKind::WouldBlock.into()),
            Err(TryLockError::Error(error)) => Err(error),
        }
    }
}

impl OsFile {
    /// Writes the staged bytes at their offset: a full chunk moves the offset on; a partial one
    /// is written padded to the alignment and the file cut to its length (it stays staged).
    #[cfg(unix)]
    fn flush_direct(&mut self) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let Some(direct) = self.direct.as_deref_mut() else {
            return Ok(());
        };
        let filled = direct.filled;
        let offset = direct.offset;
        let length = filled.next_multiple_of(DIRECT_ALIGN);
        direct.stage()[filled..length].fill(0);
        let start = direct.start;
        match self
            .file
            .write_all_at(&direct.buffer[start..start + length], offset)
        {
            Ok(()) => {}
            // The file system took the flag but not the write: go on through the cache.
            Err(error) if error.kind() == io::ErrorKind::InvalidInput => {
                return self.leave_direct();
            }
            Err(error) => return Err(error),
        }
        if filled == DIRECT_CHUNK {
            direct.offset += DIRECT_CHUNK as u64;
            direct.filled = 0;
        } else {
            self.file.set_len(offset + filled as u64)?;
        }
        Ok(())
    }

    #[cfg(not(unix))]
    fn flush_direct(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Reopens the file for ordinary appends and writes what was staged.
    fn leave_direct(&mut self) -> io::Result<()> {
        let Some(mut direct) = self.direct.take() else {
            return Ok(());
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&direct.path)?;
        file.set_len(direct.offset)?;
        let filled = direct.filled;
        file.write_all(&direct.stage()[..filled])?;
        self.file = file;
        Ok(())
    }
}

impl VfsFile for OsFile {
    fn size(&self) -> io::Result<u64> {
        if let Some(direct) = &self.direct {
            return Ok(direct.offset + direct.filled as u64);
        }
        Ok(self.file.metadata()?.len())
    }

    #[cfg(unix)]
    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        if self.direct.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a file written with direct I/O is not read through that handle",
            ));
        }
        let mut filled = 0;
        while filled < buffer.len() {
            let position = offset + filled as u64;
            match self.file.read_at(&mut buffer[filled..], position) {
                Ok(0) => break,
                Ok(read) => filled += read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(filled)
    }

    #[cfg(not(unix))]
    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> io::Result<usize> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = &self.file;
        file.seek(SeekFrom::Start(offset))?;
        let mut filled = 0;
        while filled < buffer.len() {
            match file.read(&mut buffer[filled..]) {
                Ok(0) => break,
                Ok(read) => filled += read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(filled)
    }

    fn append(&mut self, mut data: &[u8]) -> io::Result<()> {
        while let Some(direct) = self.direct.as_deref_mut() {
            if data.is_empty() {
                return Ok(());
            }
            let filled = direct.filled;
            let taken = (DIRECT_CHUNK - filled).min(data.len());
            direct.stage()[filled..filled + taken].copy_from_slice(&data[..taken]);
            direct.filled += taken;
            data = &data[taken..];
            if direct.filled == DIRECT_CHUNK {
                self.flush_direct()?;
            }
        }
        // The file is opened with O_APPEND, so this always lands at the end.
        self.file.write_all(data)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        if self.direct.as_ref().is_some_and(|direct| direct.filled > 0) {
            self.flush_direct()?;
        }
        self.file.sync_data()
    }

    fn truncate(&mut self, size: u64) -> io::Result<()> {
        if self.direct.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a file written with direct I/O is not cut through that handle",
            ));
        }
        self.file.set_len(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic bytes, different at every offset.
    fn pattern(length: usize, seed: u8) -> Vec<u8> {
        (0..length)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 12) as u8)
            .collect()
    }

    // Goal: a file written with direct I/O holds exactly what was appended, whatever the sizes
    // of the appends against the alignment and the staging chunk, also when appended to after
    // a sync (the partial last block is rewritten) and when it falls back to the cache.
    #[test]
    fn direct_files_hold_what_was_appended() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sizes: &[&[usize]] = &[
            &[],
            &[1],
            &[DIRECT_ALIGN - 1],
            &[DIRECT_ALIGN],
            &[DIRECT_ALIGN + 1, 7],
            &[40, DIRECT_CHUNK - 40],
            &[DIRECT_CHUNK + 5000],
            &[3, DIRECT_CHUNK, 2 * DIRECT_CHUNK + 17, 1],
        ];
        for (case, appends) in sizes.iter().enumerate() {
            for mode in ["sync once", "sync between", "fall back"] {
                let path = dir
                    .path()
                    .join(format!("{case}-{}", mode.replace(' ', "-")));
                let mut file = OsVfs.create_direct(&path).expect("create");
                let mut expected = Vec::new();
                for (i, &size) in appends.iter().enumerate() {
                    let data = pattern(size, i as u8);
                    file.append(&data).expect("append");
                    expected.extend_from_slice(&data);
                    assert_eq!(file.size().expect("size"), expected.len() as u64);
                    match mode {
                        "sync between" => file.sync_data().expect("sync"),
                        "fall back" if i == 0 => file.leave_direct().expect("leave"),
                        _ => {}
                    }
                }
                file.sync_data().expect("sync");
                drop(file);
                let written = fs::read(&path).expect("read");
                assert_eq!(written.len(), expected.len(), "{case} {mode}");
                assert!(written == expected, "{case} {mode}: content differs");
            }
        }
    }

    // Goal: creating a direct file refuses an existing one, as `create` does.
    #[test]
    fn direct_files_are_new() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("taken");
        fs::write(&path, b"x").expect("write");
        let error = OsVfs.create_direct(&path).expect_err("exists");
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).expect("read"), b"x");
    }
}
