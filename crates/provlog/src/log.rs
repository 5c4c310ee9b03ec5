//! The durable log: entries, their leaf hashes and signed checkpoints in three append-only
//! files, the tree and the key index in memory.
//!
//! Files in the log's directory (byte layout in docs/provenance.md, "The store on disk"):
//!
//! - `entries`: every entry as a big-endian `u16` length and its bytes, back to back. This is
//!   the tlog-tiles entry-bundle framing, so bundle `N` is one byte range of the file.
//! - `hashes`: every leaf hash (32 bytes), back to back: the level-0 tiles, concatenated.
//! - `checkpoints`: records of `u32 length`, `u32 CRC-32C` of the payload, payload: a signed
//!   checkpoint note, with whatever witness cosignatures it had gathered when written.
//! - `LOCK`: held while the log is open.
//!
//! Batched integration ([`Log::append`]): a batch's entries and leaf hashes are appended and
//! both files fdatasynced; only then is the checkpoint of the new size signed, appended to
//! `checkpoints` and fdatasynced, and only then published (served, indexed). So everything a
//! published checkpoint covers is durable, and a crash at any instant leaves a prefix of
//! batches: entries past the last durable checkpoint are an unfinished batch.
//!
//! Recovery ([`Log::open`]): the last checkpoint record is the log's size (a torn record at
//! the end of `checkpoints` is cut); the tail of `entries` and `hashes` past that size is cut;
//! every entry is rehashed and compared with its stored leaf hash; the tree rebuilt from the
//! leaf hashes must have the checkpoint's root, and the checkpoint must verify with the log's
//! key. Anything else (a file shorter than the checkpoint, a mismatching hash, a bad record
//! before the last) refuses to open with [`LogError::Corrupt`], naming the file and offset.
//!
//! After a failed write or sync the log refuses every further append ([`LogError::Failed`]):
//! a failed fsync may have dropped data the page cache still shows (fsyncgate), so the only way
//! forward is to reopen, which re-reads what reached the disk.
//!
//! Readers never see past the published size: tiles, bundles, proofs and lookups answer for
//! the published checkpoint, while the writer integrates the next batch.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use provenance::{
    Checkpoint, CheckpointError, CosignatureV1Verifier, ENTRY_SIZE_MAX, Ed25519Signer,
    Ed25519Verifier, HASH_SIZE, Hash, NOTE_SIZE_MAX, Note, NoteSigner, NoteVerifier,
    ProofRequestError, TILE_WIDTH, Tile, Tree, leaf_hash, open_checkpoint,
};
use storage::{OsVfs, Vfs, VfsFile};

use crate::index::{KeyIndex, key_slot};

/// File of framed entries.
pub const ENTRIES_FILE: &str = "entries";
/// File of leaf hashes.
pub const HASHES_FILE: &str = "hashes";
/// File of checkpoint records.
pub const CHECKPOINTS_FILE: &str = "checkpoints";
/// Bytes before a checkpoint record's payload: length and CRC-32C, both big-endian u32.
pub const CHECKPOINT_RECORD_HEADER: usize = 8;

/// How the log finds the index keys of an entry: calls `emit` once per key. Called at append
/// and for every entry when the log opens; must be deterministic.
pub type KeyFn = fn(entry: &[u8], emit: &mut dyn FnMut(&[u8]));

/// How a log is opened.
pub struct LogConfig {
    /// The log's key; its name is the log's origin.
    pub signer: Ed25519Signer,
    /// Witnesses whose cosignatures the log accepts.
    pub witnesses: Vec<CosignatureV1Verifier>,
    /// Index keys of an entry.
    pub keys: KeyFn,
}

/// Why the log failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum LogError {
    /// A file-system call failed.
    Io {
        operation: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// Another process holds the log's directory.
    Locked { dir: PathBuf },
    /// What is on disk is not a log this code wrote, or lost data a checkpoint covers.
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// The checkpoint on disk does not verify with the configured key and witnesses.
    Checkpoint {
        path: PathBuf,
        source: CheckpointError,
    },
    /// An earlier write or sync failed; reopen the log.
    Failed,
    /// The log's writer was shut down.
    Closed,
    /// An entry longer than 65,535 bytes (the bundle framing's limit).
    EntryTooLarge { position: usize, size: usize },
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::Io {
                operation, path, ..
            } => write!(f, "{operation} {}", path.display()),
            LogError::Locked { dir } => {
                write!(f, "{} is in use by another process", dir.display())
            }
            LogError::Corrupt {
                path,
                offset,
                reason,
            } => write!(
                f,
                "{} is corrupt at offset {offset}: {reason}",
                path.display()
            ),
            LogError::Checkpoint { path, .. } => {
                write!(f, "the checkpoint in {} does not verify", path.display())
            }
            LogError::Failed => write!(f, "an earlier write failed; reopen the log"),
            LogError::Closed => write!(f, "the log is shut down"),
            LogError::EntryTooLarge { position, size } => write!(
                f,
                "entry {position} of the batch has {size} bytes; at most {ENTRY_SIZE_MAX}"
            ),
        }
    }
}

impl std::error::Error for LogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LogError::Io { source, .. } => Some(source),
            LogError::Checkpoint { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Why a cosigned checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CosignError {
    /// Not a checkpoint of this log signed by it and cosigned by a configured witness.
    Checkpoint(CheckpointError),
    /// A size this log has not published.
    FutureSize { size: u64, published: u64 },
    /// The root is not this log's root at that size.
    RootMismatch { size: u64 },
}

impl fmt::Display for CosignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CosignError::Checkpoint(error) => write!(f, "{error}"),
            CosignError::FutureSize { size, published } => write!(
                f,
                "checkpoint size {size} is beyond the published size {published}"
            ),
            CosignError::RootMismatch { size } => {
                write!(f, "the root is not this log's root at size {size}")
            }
        }
    }
}

impl std::error::Error for CosignError {}

/// Either a cosignature refusal or a storage failure.
#[derive(Debug)]
pub enum AddCosignatureError {
    Rejected(CosignError),
    Log(LogError),
}

impl fmt::Display for AddCosignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddCosignatureError::Rejected(error) => write!(f, "{error}"),
            AddCosignatureError::Log(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for AddCosignatureError {}

/// What [`Log::open`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The size of the last checkpoint: the log's size.
    pub size: u64,
    /// The directory held no log; one was created with a size-0 checkpoint.
    pub created: bool,
    /// Checkpoint records read.
    pub checkpoint_records: u64,
    /// Bytes cut from the end of `entries`, `hashes` and `checkpoints` (an unfinished batch,
    /// a torn record).
    pub cut_entries_bytes: u64,
    pub cut_hashes_bytes: u64,
    pub cut_checkpoint_bytes: u64,
    /// Wall time of the recovery.
    pub duration: Duration,
}

/// The checkpoint readers see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub size: u64,
    pub root: Hash,
    /// The signed note, with any witness cosignatures gathered for it.
    pub note: Arc<str>,
}

struct State {
    tree: Tree,
    /// Start offset in `entries` of every entry written (published or not).
    offsets: Vec<u64>,
    /// Bytes written to `entries`.
    entries_end: u64,
    published: Published,
    /// The latest checkpoint carrying at least one witness cosignature.
    cosigned: Option<Published>,
    index: KeyIndex,
}

struct Writer<F> {
    entries: F,
    hashes: F,
    checkpoints: F,
    failed: bool,
}

/// An open log; shared between one writer and many readers (`&self` everywhere).
pub struct Log<V: Vfs = OsVfs> {
    dir: PathBuf,
    origin: String,
    signer: Ed25519Signer,
    verifier: Ed25519Verifier,
    witnesses: Vec<CosignatureV1Verifier>,
    keys: KeyFn,
    writer: Mutex<Writer<V::File>>,
    reader: V::File,
    state: RwLock<State>,
    _lock: V::Lock,
}

fn io_error(operation: &'static str, path: &Path) -> impl FnOnce(io::Error) -> LogError {
    let path = path.to_path_buf();
    move |source| LogError::Io {
        operation,
        path,
        source,
    }
}

/// Reads `length` bytes at `offset` (fewer only if the file is shorter).
fn read_exact_at<F: VfsFile>(
    file: &F,
    path: &Path,
    offset: u64,
    length: usize,
) -> Result<Vec<u8>, LogError> {
    let mut buffer = vec![0u8; length];
    let read = file
        .read_at(offset, &mut buffer)
        .map_err(io_error("read", path))?;
    buffer.truncate(read);
    Ok(buffer)
}

/// Sequential reads of a file through a buffer.
struct Sequential<'a, F> {
    file: &'a F,
    path: &'a Path,
    size: u64,
    buffer: Vec<u8>,
    /// File offset of `buffer[0]`.
    start: u64,
    /// Read position within `buffer`.
    position: usize,
}

const READ_CHUNK: usize = 8 << 20;

impl<'a, F: VfsFile> Sequential<'a, F> {
    fn new(file: &'a F, path: &'a Path, size: u64) -> Self {
        Sequential {
            file,
            path,
            size,
            buffer: Vec::new(),
            start: 0,
            position: 0,
        }
    }

    fn offset(&self) -> u64 {
        self.start + self.position as u64
    }

    /// The next `count` bytes, or `None` at the end of the file.
    fn take(&mut self, count: usize) -> Result<Option<&[u8]>, LogError> {
        if self.position + count > self.buffer.len() {
            let offset = self.offset();
            let remaining = self.size.saturating_sub(offset);
            if remaining < count as u64 {
                return Ok(None);
            }
            let length = usize::try_from(remaining.min(READ_CHUNK.max(count) as u64))
                .expect("bounded by the chunk size");
            self.buffer = read_exact_at(self.file, self.path, offset, length)?;
            self.start = offset;
            self.position = 0;
            if self.buffer.len() < count {
                return Ok(None);
            }
        }
        let slice = &self.buffer[self.position..self.position + count];
        self.position += count;
        Ok(Some(slice))
    }
}

fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> LogError {
    LogError::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason: reason.into(),
    }
}

/// One checkpoint record read back.
struct Record {
    note: String,
    size: u64,
    root: Hash,
    /// Signed by someone other than the log (a witness).
    cosigned: bool,
}

/// Parses the checkpoint records; returns them and the length of the valid prefix.
fn read_checkpoint_records(
    bytes: &[u8],
    path: &Path,
    origin: &str,
    log_key_id: u32,
) -> Result<(Vec<Record>, usize), LogError> {
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        let header = rest.get(..CHECKPOINT_RECORD_HEADER);
        let length = header.map(|h| u32::from_be_bytes(h[..4].try_into().expect("4 bytes")));
        let plausible = length
            .and_then(|l| usize::try_from(l).ok())
            .filter(|l| (1..=NOTE_SIZE_MAX).contains(l));
        let payload = plausible
            .and_then(|l| rest.get(CHECKPOINT_RECORD_HEADER..CHECKPOINT_RECORD_HEADER + l));
        let valid = match (header, payload) {
            (Some(header), Some(payload)) => {
                u32::from_be_bytes(header[4..8].try_into().expect("4 bytes"))
                    == crc32c::crc32c(payload)
            }
            _ => false,
        };
        if !valid {
            // Only the last record can be torn: each is synced before the next is written.
            // A torn one runs to the end of the file, or what follows it is zeros (a file
            // extended but not written).
            let reaches_end = match plausible {
                Some(l) => CHECKPOINT_RECORD_HEADER + l >= rest.len(),
                None => rest.len() < CHECKPOINT_RECORD_HEADER,
            };
            if reaches_end || rest.iter().all(|&b| b == 0) {
                return Ok((records, offset));
            }
            return Err(corrupt(
                path,
                offset as u64,
                "a checkpoint record fails its checksum and is not the last",
            ));
        }
        let payload = payload.expect("valid implies a payload");
        let note_text = std::str::from_utf8(payload)
            .map_err(|_| corrupt(path, offset as u64, "checkpoint record is not UTF-8"))?;
        let note = Note::parse(payload)
            .map_err(|e| corrupt(path, offset as u64, format!("checkpoint note: {e}")))?;
        let checkpoint = Checkpoint::parse_body(&note.text)
            .map_err(|e| corrupt(path, offset as u64, format!("checkpoint: {e}")))?;
        if checkpoint.origin() != origin {
            return Err(corrupt(
                path,
                offset as u64,
                format!(
                    "checkpoint of log {:?}, this log is {origin:?}",
                    checkpoint.origin()
                ),
            ));
        }
        records.push(Record {
            note: note_text.to_string(),
            size: checkpoint.size(),
            root: *checkpoint.root(),
            cosigned: note
                .signatures
                .iter()
                .any(|s| !(s.name == origin && s.key_id == log_key_id)),
        });
        offset += CHECKPOINT_RECORD_HEADER + payload.len();
    }
    Ok((records, offset))
}

fn checkpoint_record(note: &str) -> Vec<u8> {
    let payload = note.as_bytes();
    let mut record = Vec::with_capacity(CHECKPOINT_RECORD_HEADER + payload.len());
    record.extend_from_slice(
        &u32::try_from(payload.len())
            .expect("notes are at most 1 MiB")
            .to_be_bytes(),
    );
    record.extend_from_slice(&crc32c::crc32c(payload).to_be_bytes());
    record.extend_from_slice(payload);
    record
}

/// Opens `name` in `dir`, creating it if missing; returns whether it was created.
fn open_or_create<V: Vfs>(vfs: &V, path: &Path) -> Result<(V::File, bool), LogError> {
    match vfs.open_append(path) {
        Ok(file) => Ok((file, false)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            Ok((vfs.create(path).map_err(io_error("create", path))?, true))
        }
        Err(error) => Err(io_error("open", path)(error)),
    }
}

fn cut<F: VfsFile>(file: &mut F, path: &Path, size: u64) -> Result<u64, LogError> {
    let length = file.size().map_err(io_error("stat", path))?;
    if length > size {
        file.truncate(size).map_err(io_error("truncate", path))?;
        file.sync_data().map_err(io_error("sync", path))?;
    }
    Ok(length.saturating_sub(size))
}

impl Log<OsVfs> {
    /// Opens (or creates) the log in `dir` on the real file system.
    pub fn open_dir(dir: &Path, config: LogConfig) -> Result<(Log<OsVfs>, Recovery), LogError> {
        Log::open(OsVfs, dir, config)
    }
}

impl<V: Vfs> Log<V> {
    /// Opens the log in `dir`, recovering it (see the module documentation), or creates one
    /// with a signed size-0 checkpoint.
    pub fn open(vfs: V, dir: &Path, config: LogConfig) -> Result<(Log<V>, Recovery), LogError> {
        let started = Instant::now();
        vfs.create_dir_all(dir)
            .map_err(io_error("create directory", dir))?;
        let lock = vfs.lock_dir(dir).map_err(|error| {
            if error.kind() == io::ErrorKind::WouldBlock {
                LogError::Locked {
                    dir: dir.to_path_buf(),
                }
            } else {
                io_error("lock", dir)(error)
            }
        })?;
        let origin = config.signer.name().to_string();
        let verifier = config.signer.verifier();
        let paths = [ENTRIES_FILE, HASHES_FILE, CHECKPOINTS_FILE].map(|name| dir.join(name));
        let (mut entries, created_entries) = open_or_create(&vfs, &paths[0])?;
        let (mut hashes, created_hashes) = open_or_create(&vfs, &paths[1])?;
        let (mut checkpoints, created_checkpoints) = open_or_create(&vfs, &paths[2])?;
        if created_entries || created_hashes || created_checkpoints {
            // IMPORTANT: the new names must survive a crash before anything relies on them.
            vfs.sync_dir(dir).map_err(io_error("sync directory", dir))?;
        }

        // Checkpoints: the last record is the log's size.
        let checkpoints_size = checkpoints.size().map_err(io_error("stat", &paths[2]))?;
        let checkpoint_bytes = read_exact_at(
            &checkpoints,
            &paths[2],
            0,
            usize::try_from(checkpoints_size).expect("checkpoints fit in memory"),
        )?;
        let (records, valid_length) =
            read_checkpoint_records(&checkpoint_bytes, &paths[2], &origin, verifier.key_id())?;
        let cut_checkpoint_bytes = cut(&mut checkpoints, &paths[2], valid_length as u64)?;
        // The latest is the largest size; among equal sizes the last written (it may carry
        // more cosignatures).
        let latest = records
            .iter()
            .enumerate()
            .max_by_key(|(position, record)| (record.size, *position))
            .map(|(_, record)| record);
        let witness_refs: Vec<&dyn NoteVerifier> = config
            .witnesses
            .iter()
            .map(|w| w as &dyn NoteVerifier)
            .collect();
        let (size, root) = match latest {
            Some(record) => {
                open_checkpoint(record.note.as_bytes(), &origin, &verifier, &witness_refs, 0)
                    .map_err(|source| LogError::Checkpoint {
                        path: paths[2].clone(),
                        source,
                    })?;
                (record.size, record.root)
            }
            None => (0, provenance::EMPTY_ROOT),
        };

        // Leaf hashes: at least `size` of them; the rest is an unfinished batch.
        let hashes_size = hashes.size().map_err(io_error("stat", &paths[1]))?;
        let stored = hashes_size / HASH_SIZE as u64;
        if stored < size {
            return Err(corrupt(
                &paths[1],
                hashes_size,
                format!("holds {stored} leaf hashes; the checkpoint covers {size}"),
            ));
        }
        let mut leaf_hashes: Vec<Hash> =
            Vec::with_capacity(usize::try_from(size).expect("fits in memory"));
        let mut sequential = Sequential::new(&hashes, &paths[1], size * HASH_SIZE as u64);
        while let Some(bytes) = sequential.take(HASH_SIZE)? {
            leaf_hashes.push(bytes.try_into().expect("HASH_SIZE bytes"));
        }
        let cut_hashes_bytes = cut(&mut hashes, &paths[1], size * HASH_SIZE as u64)?;

        // Entries: each must hash to its leaf hash; index them as they pass.
        let entries_size = entries.size().map_err(io_error("stat", &paths[0]))?;
        let mut offsets = Vec::with_capacity(leaf_hashes.len());
        // At least one key per entry (statements: their event hash), usually a little more.
        let mut index = KeyIndex::with_capacity(leaf_hashes.len() + leaf_hashes.len() / 4);
        let mut sequential = Sequential::new(&entries, &paths[0], entries_size);
        for (position, expected) in leaf_hashes.iter().enumerate() {
            let offset = sequential.offset();
            let missing = || {
                corrupt(
                    &paths[0],
                    offset,
                    format!("ends inside entry {position}; the checkpoint covers {size}"),
                )
            };
            let prefix = sequential.take(2)?.ok_or_else(missing)?;
            let length = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
            let entry = sequential.take(length)?.ok_or_else(missing)?;
            if leaf_hash(entry) != *expected {
                return Err(corrupt(
                    &paths[0],
                    offset,
                    format!("entry {position} does not match its leaf hash in {HASHES_FILE}"),
                ));
            }
            let index_of = position as u64;
            (config.keys)(entry, &mut |key| index.insert(key_slot(key), index_of));
            offsets.push(offset);
        }
        let entries_end = sequential.offset();
        let cut_entries_bytes = cut(&mut entries, &paths[0], entries_end)?;

        let tree = Tree::from_leaf_hashes(&leaf_hashes);
        drop(leaf_hashes);
        if tree.root() != root {
            return Err(corrupt(
                &paths[1],
                0,
                format!("the tree of {size} leaf hashes does not have the checkpoint's root"),
            ));
        }

        let mut cosigned = None;
        if let Some(record) = records.iter().rev().find(|r| r.cosigned) {
            let root_matches = tree.root_at(record.size).ok() == Some(record.root);
            let verifies =
                open_checkpoint(record.note.as_bytes(), &origin, &verifier, &witness_refs, 1)
                    .is_ok();
            // A cosigned checkpoint from witnesses no longer configured is simply not served.
            if !root_matches {
                return Err(corrupt(
                    &paths[2],
                    0,
                    format!(
                        "a cosigned checkpoint of size {} has another root",
                        record.size
                    ),
                ));
            }
            if verifies {
                cosigned = Some(Published {
                    size: record.size,
                    root: record.root,
                    note: Arc::from(record.note.as_str()),
                });
            }
        }

        let reader = vfs
            .open_read(&paths[0])
            .map_err(io_error("open", &paths[0]))?;
        let log = Log {
            dir: dir.to_path_buf(),
            origin,
            signer: config.signer,
            verifier,
            witnesses: config.witnesses,
            keys: config.keys,
            writer: Mutex::new(Writer {
                entries,
                hashes,
                checkpoints,
                failed: false,
            }),
            reader,
            state: RwLock::new(State {
                tree,
                offsets,
                entries_end,
                published: Published {
                    size,
                    root,
                    note: Arc::from(latest.map_or("", |r| r.note.as_str())),
                },
                cosigned,
                index,
            }),
            _lock: lock,
        };
        let created = latest.is_none();
        if created {
            log.publish_checkpoint(&mut log.lock_writer(), 0, provenance::EMPTY_ROOT)?;
        }
        let recovery = Recovery {
            size,
            created,
            checkpoint_records: records.len() as u64,
            cut_entries_bytes,
            cut_hashes_bytes,
            cut_checkpoint_bytes,
            duration: started.elapsed(),
        };
        Ok((log, recovery))
    }

    fn lock_writer(&self) -> MutexGuard<'_, Writer<V::File>> {
        // A panic while holding the writer leaves `failed` as it was; the files are only ever
        // appended and synced, so there is nothing half-done in memory to protect.
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The log's origin (its key's name).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The verifier of the log's checkpoints.
    pub fn verifier(&self) -> &Ed25519Verifier {
        &self.verifier
    }

    /// The witnesses whose cosignatures the log accepts.
    pub fn witnesses(&self) -> &[CosignatureV1Verifier] {
        &self.witnesses
    }

    /// The directory of the log's files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Signs the checkpoint of (`size`, `root`), makes it durable, and publishes it.
    fn publish_checkpoint(
        &self,
        writer: &mut Writer<V::File>,
        size: u64,
        root: Hash,
    ) -> Result<(), LogError> {
        let note = Checkpoint::new(&self.origin, size, root)
            .and_then(|c| c.sign(&self.signer).map_err(CheckpointError::Note))
            .expect("the origin is a valid key name, so the checkpoint signs");
        let path = self.path(CHECKPOINTS_FILE);
        let written = writer
            .checkpoints
            .append(&checkpoint_record(&note))
            .map_err(io_error("append", &path))
            .and_then(|()| {
                writer
                    .checkpoints
                    .sync_data()
                    .map_err(io_error("sync", &path))
            });
        if let Err(error) = written {
            writer.failed = true;
            return Err(error);
        }
        self.write_state().published = Published {
            size,
            root,
            note: Arc::from(note),
        };
        Ok(())
    }

    /// Appends a batch and publishes the checkpoint covering it (see the module
    /// documentation); returns the entries' indexes. Entries and hashes are durable before
    /// the checkpoint is written, the checkpoint before it is published. An empty batch
    /// changes nothing.
    pub fn append<E: AsRef<[u8]>>(&self, batch: &[E]) -> Result<Range<u64>, LogError> {
        let mut writer = self.lock_writer();
        if writer.failed {
            return Err(LogError::Failed);
        }
        if let Some((position, entry)) = batch
            .iter()
            .enumerate()
            .find(|(_, e)| e.as_ref().len() > ENTRY_SIZE_MAX)
        {
            return Err(LogError::EntryTooLarge {
                position,
                size: entry.as_ref().len(),
            });
        }
        let start = self.read_state().tree.size();
        if batch.is_empty() {
            return Ok(start..start);
        }
        let framed_size: usize = batch.iter().map(|e| 2 + e.as_ref().len()).sum();
        let mut framed = Vec::with_capacity(framed_size);
        let mut hash_bytes = Vec::with_capacity(batch.len() * HASH_SIZE);
        let mut leaf_hashes = Vec::with_capacity(batch.len());
        let mut relative_offsets = Vec::with_capacity(batch.len());
        // Key slots, as (slot, position in the batch): computed here, indexed under the lock.
        let mut slots: Vec<(u64, u64)> = Vec::with_capacity(batch.len() * 2);
        for (position, entry) in batch.iter().enumerate() {
            let entry = entry.as_ref();
            (self.keys)(entry, &mut |key| {
                slots.push((key_slot(key), position as u64))
            });
            relative_offsets.push(framed.len() as u64);
            framed.extend_from_slice(
                &u16::try_from(entry.len())
                    .expect("checked above")
                    .to_be_bytes(),
            );
            framed.extend_from_slice(entry);
            let hash = leaf_hash(entry);
            hash_bytes.extend_from_slice(&hash);
            leaf_hashes.push(hash);
        }
        let (entries_path, hashes_path) = (self.path(ENTRIES_FILE), self.path(HASHES_FILE));
        let Writer {
            entries, hashes, ..
        } = &mut *writer;
        let written = entries
            .append(&framed)
            .map_err(io_error("append", &entries_path))
            .and_then(|()| {
                hashes
                    .append(&hash_bytes)
                    .map_err(io_error("append", &hashes_path))
            })
            .and_then(|()| entries.sync_data().map_err(io_error("sync", &entries_path)))
            .and_then(|()| hashes.sync_data().map_err(io_error("sync", &hashes_path)));
        if let Err(error) = written {
            writer.failed = true;
            return Err(error);
        }
        // Durable. Integrate: readers keep answering for the published size meanwhile.
        let (range, root) = {
            let mut state = self.write_state();
            let base = state.entries_end;
            state
                .offsets
                .extend(relative_offsets.iter().map(|o| base + o));
            state.entries_end += framed.len() as u64;
            let range = state.tree.append_leaf_hashes(&leaf_hashes);
            (range, state.tree.root())
        };
        self.publish_checkpoint(&mut writer, range.end, root)?;
        // Index after publication: a lookup never names an unpublished entry.
        let mut state = self.write_state();
        for (slot, position) in slots {
            state.index.insert(slot, range.start + position);
        }
        Ok(range)
    }

    /// The published checkpoint.
    pub fn published(&self) -> Published {
        self.read_state().published.clone()
    }

    /// The latest checkpoint carrying a witness cosignature, if any.
    pub fn cosigned(&self) -> Option<Published> {
        self.read_state().cosigned.clone()
    }

    /// The published size.
    pub fn size(&self) -> u64 {
        self.read_state().published.size
    }

    /// The bytes of `tile`, if the published tree has all of its hashes.
    pub fn tile(&self, tile: &Tile) -> Option<Vec<u8>> {
        let state = self.read_state();
        let available = Tile::for_size(tile.level, tile.index, state.published.size)?;
        if available.width < tile.width {
            return None;
        }
        state.tree.tile(tile)
    }

    /// The entry bundle matching level-0 tile `tile` (its entries, framed), if published.
    pub fn bundle(&self, tile: &Tile) -> Result<Option<Vec<u8>>, LogError> {
        if tile.level != 0 || tile.width == 0 || u32::from(tile.width) > TILE_WIDTH {
            return Ok(None);
        }
        let Some(first) = tile.index.checked_mul(u64::from(TILE_WIDTH)) else {
            return Ok(None);
        };
        let end = first + u64::from(tile.width);
        self.read_range(first..end)
    }

    /// The framed bytes of published entries `range`, or `None` if not all are published.
    fn read_range(&self, range: Range<u64>) -> Result<Option<Vec<u8>>, LogError> {
        let (start, stop) = {
            let state = self.read_state();
            if range.end > state.published.size || range.start >= range.end {
                return Ok(None);
            }
            let offset = |i: u64| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| state.offsets.get(i).copied())
                    .unwrap_or(state.entries_end)
            };
            (offset(range.start), offset(range.end))
        };
        // Published bytes are never rewritten: read them without holding the state.
        let length = usize::try_from(stop - start).expect("a range of entries fits in memory");
        let bytes = read_exact_at(&self.reader, &self.path(ENTRIES_FILE), start, length)?;
        if bytes.len() != length {
            return Err(corrupt(
                &self.path(ENTRIES_FILE),
                start,
                "shorter than the entries it held when opened",
            ));
        }
        Ok(Some(bytes))
    }

    /// Published entry `index`.
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, LogError> {
        Ok(self
            .read_range(index..index.saturating_add(1))?
            .map(|mut framed| framed.split_off(2)))
    }

    /// The leaf hash of published entry `index`.
    pub fn leaf_hash(&self, index: u64) -> Option<Hash> {
        let state = self.read_state();
        (index < state.published.size)
            .then(|| state.tree.leaf_hash(index))
            .flatten()
    }

    /// The inclusion proof of entry `index` in the tree of `size` entries (at most the
    /// published size).
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofRequestError> {
        let state = self.read_state();
        check_published(size, state.published.size)?;
        state.tree.inclusion_proof(index, size)
    }

    /// The consistency proof from size `size1` to `size2` (at most the published size).
    pub fn consistency_proof(
        &self,
        size1: u64,
        size2: u64,
    ) -> Result<Vec<Hash>, ProofRequestError> {
        let state = self.read_state();
        check_published(size2, state.published.size)?;
        state.tree.consistency_proof(size1, size2)
    }

    /// The root of the tree of `size` entries (at most the published size).
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofRequestError> {
        let state = self.read_state();
        check_published(size, state.published.size)?;
        state.tree.root_at(size)
    }

    /// Published entries that have `key`, ascending, with their bytes.
    pub fn lookup(&self, key: &[u8]) -> Result<Vec<(u64, Vec<u8>)>, LogError> {
        let candidates = self.read_state().index.get(key_slot(key)).to_vec();
        let mut found = Vec::with_capacity(candidates.len());
        for index in candidates {
            let Some(entry) = self.entry(index)? else {
                continue;
            };
            let mut has_key = false;
            (self.keys)(&entry, &mut |k| has_key |= k == key);
            if has_key {
                found.push((index, entry));
            }
        }
        Ok(found)
    }

    /// Whether a published entry has `key` (the first one, if so).
    pub fn first_with_key(&self, key: &[u8]) -> Result<Option<u64>, LogError> {
        Ok(self.lookup(key)?.first().map(|(index, _)| *index))
    }

    /// Index statistics: (distinct key slots, postings).
    pub fn index_size(&self) -> (usize, u64) {
        let state = self.read_state();
        (state.index.slot_count(), state.index.posting_count())
    }

    /// Adds witness cosignatures: `note` is one of this log's checkpoints, signed by the log
    /// and cosigned by at least one configured witness. The verified signatures are merged with
    /// those already gathered for the same checkpoint, made durable, and served (with the
    /// published checkpoint if it is the same one). Returns the merged note.
    pub fn add_cosignatures(&self, note: &[u8]) -> Result<Arc<str>, AddCosignatureError> {
        let witness_refs: Vec<&dyn NoteVerifier> = self
            .witnesses
            .iter()
            .map(|w| w as &dyn NoteVerifier)
            .collect();
        let opened = open_checkpoint(note, &self.origin, &self.verifier, &witness_refs, 1)
            .map_err(|e| AddCosignatureError::Rejected(CosignError::Checkpoint(e)))?;
        let size = opened.checkpoint.size();
        let mut writer = self.lock_writer();
        if writer.failed {
            return Err(AddCosignatureError::Log(LogError::Failed));
        }
        let (merged, is_published) = {
            let state = self.read_state();
            if size > state.published.size {
                return Err(AddCosignatureError::Rejected(CosignError::FutureSize {
                    size,
                    published: state.published.size,
                }));
            }
            if state.tree.root_at(size).ok().as_ref() != Some(opened.checkpoint.root()) {
                return Err(AddCosignatureError::Rejected(CosignError::RootMismatch {
                    size,
                }));
            }
            let mut signatures = Vec::new();
            let mut is_published = false;
            for earlier in [Some(&state.published), state.cosigned.as_ref()]
                .into_iter()
                .flatten()
            {
                let Ok(earlier_note) = Note::parse(earlier.note.as_bytes()) else {
                    continue;
                };
                if earlier_note.text == opened.note.text {
                    is_published |= std::ptr::eq(earlier, &state.published);
                    for signature in earlier_note.signatures {
                        if !signatures.contains(&signature) {
                            signatures.push(signature);
                        }
                    }
                }
            }
            // The new lines replace older ones by the same key (a fresher timestamp).
            for signature in &opened.note.verified {
                signatures.retain(|s: &provenance::NoteSignature| {
                    !(s.name == signature.name && s.key_id == signature.key_id)
                });
                signatures.push(signature.clone());
            }
            let merged = Note {
                text: opened.note.text.clone(),
                signatures,
            }
            .encode();
            (merged, is_published)
        };
        let path = self.path(CHECKPOINTS_FILE);
        let written = writer
            .checkpoints
            .append(&checkpoint_record(&merged))
            .map_err(io_error("append", &path))
            .and_then(|()| {
                writer
                    .checkpoints
                    .sync_data()
                    .map_err(io_error("sync", &path))
            });
        if let Err(error) = written {
            writer.failed = true;
            return Err(AddCosignatureError::Log(error));
        }
        let merged: Arc<str> = Arc::from(merged);
        let mut state = self.write_state();
        let entry = Published {
            size,
            root: *opened.checkpoint.root(),
            note: merged.clone(),
        };
        if is_published {
            state.published = entry.clone();
        }
        if state.cosigned.as_ref().is_none_or(|c| c.size <= size) {
            state.cosigned = Some(entry);
        }
        Ok(merged)
    }
}

fn check_published(size: u64, published: u64) -> Result<(), ProofRequestError> {
    if size > published {
        return Err(ProofRequestError::SizeOutOfRange {
            size,
            tree_size: published,
        });
    }
    Ok(())
}
