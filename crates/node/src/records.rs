//! The archiver: a thread that writes applied transfers to the record file, so the ledger can
//! drop them from memory.
//!
//! The writer thread sends each batch's new transfers here after applying it; the archiver
//! appends them to `transfers.records` and syncs every `sync_bytes` (or when idle), then
//! publishes how many records are durable. Between batches the writer evicts every transfer
//! below that count from the ledger. Nothing here is on the commit path: the WAL alone makes a
//! reply durable, and the record file only has to be durable before eviction.
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
use storage::{OsVfs, RecordFile, RecordReader, StorageError};

/// Batches the archiver may lag behind before the writer waits (back-pressure).
const QUEUE_BATCHES: usize = 64;
/// Sync after this long without new records, so a quiet node still evicts.
const IDLE_SYNC: Duration = Duration::from_millis(50);

/// Reads evicted transfers back for lookups and prefetch.
#[derive(Clone)]
pub struct ColdRecords {
    reader: RecordReader<OsVfs>,
}

impl ColdRecords {
    pub(crate) fn new(reader: RecordReader<OsVfs>) -> ColdRecords {
        ColdRecords { reader }
    }

    /// Streams records `[start, end)` in order, checking every page.
    pub(crate) fn scan(
        &self,
        start: u64,
        end: u64,
        f: impl FnMut(u64, &[u8; 128]),
    ) -> Result<(), StorageError> {
        self.reader.scan(start, end, f)
    }
}

impl ColdStore for ColdRecords {
    type Error = StorageError;
    fn read(&self, position: u64) -> Result<Transfer, StorageError> {
        let bytes = self.reader.read(position)?;
        metrics::counter!("elevenfold_cold_reads_total").increment(1);
        Ok(Transfer::from_bytes(&bytes))
    }
}

/// The writer's handle on the archiver thread.
pub(crate) struct Archiver {
    sender: Option<SyncSender<Vec<Transfer>>>,
    /// Records durable in the record file.
    synced: Arc<AtomicU64>,
    failure: Arc<Mutex<Option<String>>>,
    handle: Option<JoinHandle<()>>,
    /// Records handed to the archiver so far: the next position to send.
    pub(crate) sent: u64,
}

impl Archiver {
    /// Starts the archiver on a record file already cut to `file.len()` records.
    pub(crate) fn start(file: RecordFile<OsVfs>, sync_bytes: u64, fsync: bool) -> Archiver {
        let (sender, receiver) = sync_channel(QUEUE_BATCHES);
        let synced = Arc::new(AtomicU64::new(file.synced_len()));
        let failure = Arc::new(Mutex::new(None));
        let sent = file.len();
        let thread = ArchiverThread {
            file,
            receiver,
            synced: Arc::clone(&synced),
            sync_records: (sync_bytes / 128).max(1),
            fsync,
            buffer: Vec::new(),
        };
        let failure_slot = Arc::clone(&failure);
        let handle = std::thread::Builder::new()
            .name("elevenfold-archiver".to_string())
            .spawn(move || {
                if let Err(error) = thread.run() {
                    tracing::error!(%error, "record file failed");
                    *failure_slot.lock().expect("failure lock is never poisoned") =
                        Some(format!("record file: {error}"));
                }
            })
            .expect("spawning the archiver thread");
        Archiver {
            sender: Some(sender),
            synced,
            failure,
            handle: Some(handle),
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

    /// Hands over the transfers at positions `sent..`; blocks while the archiver is far behind.
    pub(crate) fn send(&mut self, transfers: Vec<Transfer>) -> Result<(), String> {
        if transfers.is_empty() {
            return Ok(());
        }
        self.sent += transfers.len() as u64;
        let sender = self.sender.as_ref().expect("sender lives until drop");
        sender.send(transfers).map_err(|_| {
            self.failure()
                .unwrap_or_else(|| "record file: the archiver stopped".to_string())
        })
    }
}

impl Drop for Archiver {
    fn drop(&mut self) {
        self.sender = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

struct ArchiverThread {
    file: RecordFile<OsVfs>,
    receiver: Receiver<Vec<Transfer>>,
    synced: Arc<AtomicU64>,
    sync_records: u64,
    fsync: bool,
    buffer: Vec<[u8; 128]>,
}

impl ArchiverThread {
    fn run(mut self) -> Result<(), StorageError> {
        let mut unsynced: u64 = 0;
        loop {
            match self.receiver.recv_timeout(IDLE_SYNC) {
                Ok(transfers) => {
                    self.buffer.clear();
                    self.buffer.extend(transfers.iter().map(Transfer::to_bytes));
                    self.file.append(&self.buffer)?;
                    unsynced += transfers.len() as u64;
                    if unsynced >= self.sync_records {
                        self.sync()?;
                        unsynced = 0;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if unsynced > 0 {
                        self.sync()?;
                        unsynced = 0;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    if unsynced > 0 {
                        self.sync()?;
                    }
                    return Ok(());
                }
            }
        }
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        let synced = if self.fsync {
            self.file.sync()?
        } else {
            self.file.len_on_disk()
        };
        metrics::gauge!("elevenfold_records_synced").set(synced as f64);
        self.synced.store(synced, Ordering::Release);
        Ok(())
    }
}
