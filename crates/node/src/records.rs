//! The archiver: a thread that writes applied transfers to the record file, so the ledger can
//! drop them from memory.
//!
//! The writer thread sends each batch's new transfers here after applying it; the archiver
//! appends them to `transfers.records` and syncs every `sync_bytes` (or when idle), then
//! publishes how many records are durable. Between batches the writer evicts every transfer
//! below that count from the ledger. Nothing here is on the commit path: the WAL alone makes a
//! reply durable, and the record file only has to be durable before eviction.
//!
//! The same work runs inline instead, one call at a time on the caller's thread, for the
//! deterministic simulator (`Archiver::inline`): `send` appends (and syncs every `sync_bytes`)
//! before it returns, and `idle` is the caller's stand-in for the thread's idle timeout.
//!
//! Invariants: records arrive in position order with no gap; `synced` only grows and never
//! exceeds what the ledger stored; after any I/O error the archiver stops and reports it, and
//! the node fails (fsyncgate, as for the WAL).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ledger::{ColdStore, Transfer};
use storage::{OsVfs, RecordFile, RecordReader, StorageError, Vfs};

/// Batches the archiver may lag behind before the writer waits (back-pressure).
const QUEUE_BATCHES: usize = 64;
/// Sync after this long without new records, so a quiet node still evicts.
const IDLE_SYNC: Duration = Duration::from_millis(50);

/// Reads evicted transfers back for lookups and prefetch.
pub struct ColdRecords<V: Vfs = OsVfs> {
    reader: RecordReader<V>,
}

impl<V: Vfs> Clone for ColdRecords<V> {
    fn clone(&self) -> Self {
        ColdRecords {
            reader: self.reader.clone(),
        }
    }
}

impl<V: Vfs> ColdRecords<V> {
    pub(crate) fn new(reader: RecordReader<V>) -> ColdRecords<V> {
        ColdRecords { reader }
    }

    /// Streams records `[start, end)` in order, checking every page.
    pub fn scan(
        &self,
        start: u64,
        end: u64,
        f: impl FnMut(u64, &[u8; 128]),
    ) -> Result<(), StorageError> {
        self.reader.scan(start, end, f)
    }
}

impl<V: Vfs> ColdStore for ColdRecords<V> {
    type Error = StorageError;
    fn read(&self, position: u64) -> Result<Transfer, StorageError> {
        let bytes = self.reader.read(position)?;
        metrics::counter!("elevenfold_cold_reads_total").increment(1);
        Ok(Transfer::from_bytes(&bytes))
    }
}

/// The writer's handle on the archiver: a thread of its own, or inline work.
pub(crate) struct Archiver<V: Vfs> {
    worker: Worker<V>,
    /// Records durable in the record file.
    synced: Arc<AtomicU64>,
    failure: Arc<Mutex<Option<String>>>,
    /// Records handed to the archiver so far: the next position to send.
    pub(crate) sent: u64,
}

enum Worker<V: Vfs> {
    Thread {
        sender: Option<SyncSender<Vec<Transfer>>>,
        handle: Option<JoinHandle<()>>,
    },
    Inline(ArchiverThread<V>),
}

impl Archiver<OsVfs> {
    /// Starts the archiver thread on a record file already cut to `file.len()` records.
    pub(crate) fn start(file: RecordFile<OsVfs>, sync_bytes: u64, fsync: bool) -> Archiver<OsVfs> {
        let (sender, receiver) = sync_channel(QUEUE_BATCHES);
        let sent = file.len();
        let thread = ArchiverThread::new(file, sync_bytes, fsync);
        let synced = Arc::clone(&thread.synced);
        let failure = Arc::new(Mutex::new(None));
        let failure_slot = Arc::clone(&failure);
        let handle = std::thread::Builder::new()
            .name("elevenfold-archiver".to_string())
            .spawn(move || {
                if let Err(error) = thread.run(&receiver) {
                    tracing::error!(%error, "record file failed");
                    *failure_slot.lock().expect("failure lock is never poisoned") =
                        Some(format!("record file: {error}"));
                }
            })
            .expect("spawning the archiver thread");
        Archiver {
            worker: Worker::Thread {
                sender: Some(sender),
                handle: Some(handle),
            },
            synced,
            failure,
            sent,
        }
    }
}

impl<V: Vfs> Archiver<V> {
    /// An archiver that does its work in the caller's calls to `send` and `idle` (no thread),
    /// on a record file already cut to `file.len()` records.
    pub(crate) fn inline(file: RecordFile<V>, sync_bytes: u64, fsync: bool) -> Archiver<V> {
        let sent = file.len();
        let work = ArchiverThread::new(file, sync_bytes, fsync);
        let synced = Arc::clone(&work.synced);
        Archiver {
            worker: Worker::Inline(work),
            synced,
            failure: Arc::new(Mutex::new(None)),
            sent,
        }
    }

    /// Records durable in the record file: the floor the ledger may evict below.
    pub(crate) fn synced(&self) -> u64 {
        self.synced.load(Ordering::Acquire)
    }

    pub(crate) fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .expect("failure lock is never poisoned")
            .clone()
    }

    /// Hands over the transfers at positions `sent..`; blocks while the archiver thread is far
    /// behind (inline: appends them, syncing every `sync_bytes`).
    pub(crate) fn send(&mut self, transfers: Vec<Transfer>) -> Result<(), String> {
        if transfers.is_empty() {
            return Ok(());
        }
        self.sent += transfers.len() as u64;
        match &mut self.worker {
            Worker::Thread { sender, .. } => {
                let sender = sender.as_ref().expect("sender lives until drop");
                sender.send(transfers).map_err(|_| {
                    self.failure()
                        .unwrap_or_else(|| "record file: the archiver stopped".to_string())
                })
            }
            Worker::Inline(work) => {
                let result = work.receive(&transfers);
                self.inline_result(result)
            }
        }
    }

    /// What the archiver thread does when no records came for a while: syncs what it wrote.
    /// Inline only; the thread keeps its own time.
    pub(crate) fn idle(&mut self) -> Result<(), String> {
        match &mut self.worker {
            Worker::Thread { .. } => Ok(()),
            Worker::Inline(work) => {
                let result = work.idle();
                self.inline_result(result)
            }
        }
    }

    fn inline_result(&self, result: Result<(), StorageError>) -> Result<(), String> {
        result.map_err(|error| {
            let reason = format!("record file: {error}");
            *self.failure.lock().expect("failure lock is never poisoned") = Some(reason.clone());
            reason
        })
    }
}

impl<V: Vfs> Drop for Archiver<V> {
    fn drop(&mut self) {
        match &mut self.worker {
            Worker::Thread { sender, handle } => {
                *sender = None;
                if let Some(handle) = handle.take() {
                    let _ = handle.join();
                }
            }
            // As the thread does when the writer hangs up.
            Worker::Inline(work) => {
                let _ = work.idle();
            }
        }
    }
}

struct ArchiverThread<V: Vfs> {
    file: RecordFile<V>,
    synced: Arc<AtomicU64>,
    sync_records: u64,
    fsync: bool,
    buffer: Vec<[u8; 128]>,
    /// Records appended since the last sync.
    unsynced: u64,
}

impl<V: Vfs> ArchiverThread<V> {
    fn new(file: RecordFile<V>, sync_bytes: u64, fsync: bool) -> ArchiverThread<V> {
        ArchiverThread {
            synced: Arc::new(AtomicU64::new(file.synced_len())),
            file,
            sync_records: (sync_bytes / 128).max(1),
            fsync,
            buffer: Vec::new(),
            unsynced: 0,
        }
    }

    fn run(mut self, receiver: &Receiver<Vec<Transfer>>) -> Result<(), StorageError> {
        loop {
            match receiver.recv_timeout(IDLE_SYNC) {
                Ok(transfers) => self.receive(&transfers)?,
                Err(RecvTimeoutError::Timeout) => self.idle()?,
                Err(RecvTimeoutError::Disconnected) => return self.idle(),
            }
        }
    }

    /// Appends one batch's transfers; syncs every `sync_records`.
    fn receive(&mut self, transfers: &[Transfer]) -> Result<(), StorageError> {
        self.buffer.clear();
        self.buffer.extend(transfers.iter().map(Transfer::to_bytes));
        self.file.append(&self.buffer)?;
        self.unsynced += transfers.len() as u64;
        if self.unsynced >= self.sync_records {
            self.sync()?;
        }
        Ok(())
    }

    /// Syncs whatever was appended since the last sync.
    fn idle(&mut self) -> Result<(), StorageError> {
        if self.unsynced > 0 {
            self.sync()?;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        let synced = if self.fsync {
            self.file.sync()?
        } else {
            self.file.len_on_disk()
        };
        metrics::gauge!("elevenfold_records_synced").set(synced as f64);
        self.synced.store(synced, Ordering::Release);
        self.unsynced = 0;
        Ok(())
    }
}
