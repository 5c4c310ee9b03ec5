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
use std::path::Path;

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
        })
    }

    fn open_append(&self, path: &Path) -> io::Result<OsFile> {
        Ok(OsFile {
            file: OpenOptions::new().read(true).append(true).open(path)?,
        })
    }

    fn create(&self, path: &Path) -> io::Result<OsFile> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(path)?;
        Ok(OsFile { file })
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

impl VfsFile for OsFile {
    fn size(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    #[cfg(unix)]
    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
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

    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        // The file is opened with O_APPEND, so this always lands at the end.
        self.file.write_all(data)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn truncate(&mut self, size: u64) -> io::Result<()> {
        self.file.set_len(size)
    }
}
