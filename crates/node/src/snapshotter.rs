//! The snapshotter: writes snapshot files (write, fsync, rename, directory fsync) so the writer
//! only encodes them; the writer installs each one (deleting the log it covers) when done.
//!
//! By default a thread of its own does the writing, so a large snapshot does not stall commits;
//! for the deterministic simulator the same write runs inline, in `send` itself
//! (`Snapshotter::inline`), and the result waits for the writer's next `finished`.
//!
//! Invariant: one snapshot at a time (`in_flight`); a finished one is handed out exactly once.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use storage::{OsVfs, SnapshotWriter, StorageError, Vfs, WrittenSnapshot};

pub(crate) type SnapshotDone = Result<(WrittenSnapshot, usize, Duration), StorageError>;

pub(crate) struct Snapshotter<V: Vfs> {
    worker: Worker<V>,
    pub(crate) in_flight: bool,
}

enum Worker<V: Vfs> {
    Thread {
        requests: Option<Sender<(u64, Vec<u8>)>>,
        done: Receiver<SnapshotDone>,
        handle: Option<JoinHandle<()>>,
    },
    Inline {
        writer: SnapshotWriter<V>,
        done: Option<SnapshotDone>,
    },
}

impl Snapshotter<OsVfs> {
    pub(crate) fn start(writer: SnapshotWriter<OsVfs>) -> Snapshotter<OsVfs> {
        let (requests, requested) = channel::<(u64, Vec<u8>)>();
        let (finished, done) = channel();
        let handle = std::thread::Builder::new()
            .name("elevenfold-snapshot".to_string())
            .spawn(move || {
                for (op, bytes) in requested {
                    let started = Instant::now();
                    let result = writer
                        .write(op, &bytes)
                        .map(|written| (written, bytes.len(), started.elapsed()));
                    if finished.send(result).is_err() {
                        break;
                    }
                }
            })
            .expect("spawning the snapshot thread");
        Snapshotter {
            worker: Worker::Thread {
                requests: Some(requests),
                done,
                handle: Some(handle),
            },
            in_flight: false,
        }
    }
}

impl<V: Vfs> Snapshotter<V> {
    /// A snapshotter that writes in `send` itself, on the caller's thread (no clock read: the
    /// reported duration is zero).
    pub(crate) fn inline(writer: SnapshotWriter<V>) -> Snapshotter<V> {
        Snapshotter {
            worker: Worker::Inline { writer, done: None },
            in_flight: false,
        }
    }

    pub(crate) fn send(&mut self, op: u64, bytes: Vec<u8>) -> Result<(), String> {
        match &mut self.worker {
            Worker::Thread { requests, .. } => {
                let requests = requests.as_ref().expect("requests live until drop");
                requests
                    .send((op, bytes))
                    .map_err(|_| "snapshot: the snapshot thread stopped".to_string())?;
            }
            Worker::Inline { writer, done } => {
                let result = writer
                    .write(op, &bytes)
                    .map(|written| (written, bytes.len(), Duration::ZERO));
                *done = Some(result);
            }
        }
        self.in_flight = true;
        Ok(())
    }

    pub(crate) fn finished(&mut self, wait: bool) -> Option<SnapshotDone> {
        if !self.in_flight {
            return None;
        }
        let finished = match &mut self.worker {
            Worker::Thread { done, .. } if wait => done.recv().ok(),
            Worker::Thread { done, .. } => done.try_recv().ok(),
            Worker::Inline { done, .. } => done.take(),
        };
        if finished.is_some() {
            self.in_flight = false;
        }
        finished
    }
}

impl<V: Vfs> Drop for Snapshotter<V> {
    fn drop(&mut self) {
        if let Worker::Thread {
            requests, handle, ..
        } = &mut self.worker
        {
            *requests = None;
            if let Some(handle) = handle.take() {
                let _ = handle.join();
            }
        }
    }
}
