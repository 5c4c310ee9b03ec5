//! The snapshotter: writes snapshot files (write, fsync, rename, directory fsync) so the writer
//! only encodes them; the writer installs each one (deleting the log it covers) when done.
//!
//! A snapshot streams: the writer encodes it into chunks of `Config::snapshot_chunk_bytes` and hands
//! each one on as it fills ([`Snapshotter::hand_on`]), so no one holds a snapshot whole. The
//! chunks come back empty and are reused, within a snapshot and across snapshots: a reused
//! buffer has its pages already, where a fresh one of gigabytes cost the writer more in page
//! faults than the encoding itself (BENCHMARKS.md, "Streamed snapshots"). At most
//! [`CHUNKS_MAX`] chunks ever exist: when all are on their way to the disk, the writer waits
//! for one to come back, so a disk slower than the encoder costs time, never memory.
//!
//! By default a thread of its own does the writing, so a large snapshot does not stall commits
//! on the disk; for the deterministic simulator the same writes run inline, in the calls
//! themselves (`Snapshotter::inline`), and the result waits for the writer's next `finished`.
//!
//! Invariants: one snapshot at a time (`in_flight` from `begin` until its result is handed
//! out by `finished`, exactly once); chunks reach the file in the order they were handed on.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use storage::{OsVfs, SnapshotStream, SnapshotWriter, StorageError, Vfs, WrittenSnapshot};

/// Room past the chunk size for the record that crosses it, so a chunk rarely reallocates.
const CHUNK_SLACK: usize = 64 << 10;
/// The most chunks that ever exist (64 MiB of 4 MiB chunks); they are kept between snapshots.
/// Freeing extra ones instead left them in the allocator's heap, 200 MB of RSS after a 1 GB
/// snapshot.
pub(crate) const CHUNKS_MAX: usize = 16;

/// A written snapshot, its payload size, and how long the writing took.
pub(crate) type SnapshotDone = Result<(WrittenSnapshot, u64, Duration), StorageError>;

pub(crate) struct Snapshotter<V: Vfs> {
    worker: Worker<V>,
    pub(crate) in_flight: bool,
    /// Empty chunks ready for the writer.
    pool: Vec<Vec<u8>>,
    /// Chunks that exist (in the pool, being filled, or on their way to the disk).
    pub(crate) live: usize,
    /// During the current snapshot: chunks handed on, chunks allocated, and how long the
    /// writer waited for a chunk to come back.
    pub(crate) handed: usize,
    pub(crate) allocated: usize,
    pub(crate) waited: Duration,
    /// A chunk is handed on at the first record boundary past this many bytes.
    pub(crate) chunk_bytes: usize,
}

enum Request {
    Begin(u64),
    Chunk(Vec<u8>),
    End,
}

enum Worker<V: Vfs> {
    Thread {
        requests: Option<Sender<Request>>,
        done: Receiver<SnapshotDone>,
        recycled: Receiver<Vec<u8>>,
        handle: Option<JoinHandle<()>>,
        /// The thread is gone (a send failed): the snapshot in progress cannot finish.
        stopped: bool,
    },
    Inline {
        writer: SnapshotWriter<V>,
        stream: Stream<V>,
        done: Option<SnapshotDone>,
    },
}

/// One snapshot file being written; the first error sticks and is the result.
struct Stream<V: Vfs> {
    current: Option<Result<SnapshotStream<V>, StorageError>>,
    started: Option<Instant>,
}

impl<V: Vfs> Stream<V> {
    fn idle() -> Stream<V> {
        Stream {
            current: None,
            started: None,
        }
    }

    fn begin(&mut self, writer: &SnapshotWriter<V>, op: u64, started: Option<Instant>) {
        debug_assert!(self.current.is_none(), "one snapshot at a time");
        self.current = Some(writer.begin(op));
        self.started = started;
    }

    fn append(&mut self, bytes: &[u8]) {
        if let Some(Ok(stream)) = &mut self.current
            && let Err(error) = stream.append(bytes)
        {
            self.current = Some(Err(error));
        }
    }

    fn end(&mut self, writer: &SnapshotWriter<V>) -> SnapshotDone {
        let stream = self
            .current
            .take()
            .expect("a snapshot ends only after it began")?;
        let size = stream.size();
        let written = writer.finish(stream)?;
        let took = self
            .started
            .map_or(Duration::ZERO, |started| started.elapsed());
        Ok((written, size, took))
    }
}

impl Snapshotter<OsVfs> {
    pub(crate) fn start(writer: SnapshotWriter<OsVfs>, chunk_bytes: usize) -> Snapshotter<OsVfs> {
        let (requests, requested) = channel::<Request>();
        let (finished, done) = channel();
        let (recycle, recycled) = channel();
        let handle = std::thread::Builder::new()
            .name("elevenfold-snapshot".to_string())
            .spawn(move || {
                let mut stream = Stream::idle();
                for request in requested {
                    match request {
                        Request::Begin(op) => stream.begin(&writer, op, Some(Instant::now())),
                        Request::Chunk(mut bytes) => {
                            stream.append(&bytes);
                            bytes.clear();
                            // The writer may have stopped taking chunks back; then they free.
                            let _ = recycle.send(bytes);
                        }
                        Request::End => {
                            if finished.send(stream.end(&writer)).is_err() {
                                break;
                            }
                        }
                    }
                }
            })
            .expect("spawning the snapshot thread");
        Snapshotter::with(
            Worker::Thread {
                requests: Some(requests),
                done,
                recycled,
                handle: Some(handle),
                stopped: false,
            },
            chunk_bytes,
        )
    }
}

impl<V: Vfs> Snapshotter<V> {
    /// A snapshotter that writes in the calls themselves, on the caller's thread (no clock
    /// read: the reported duration is zero).
    pub(crate) fn inline(writer: SnapshotWriter<V>, chunk_bytes: usize) -> Snapshotter<V> {
        Snapshotter::with(
            Worker::Inline {
                writer,
                stream: Stream::idle(),
                done: None,
            },
            chunk_bytes,
        )
    }

    fn with(worker: Worker<V>, chunk_bytes: usize) -> Snapshotter<V> {
        Snapshotter {
            worker,
            in_flight: false,
            pool: Vec::new(),
            live: 0,
            handed: 0,
            allocated: 0,
            waited: Duration::ZERO,
            chunk_bytes: chunk_bytes.max(1),
        }
    }

    /// Starts the snapshot of `op`; its payload follows through [`Snapshotter::hand_on`] and
    /// [`Snapshotter::end`]. Returns the first (empty) chunk to encode into.
    pub(crate) fn begin(&mut self, op: u64) -> Vec<u8> {
        assert!(!self.in_flight, "one snapshot at a time");
        self.in_flight = true;
        self.handed = 0;
        self.allocated = 0;
        self.waited = Duration::ZERO;
        self.send(Request::Begin(op));
        self.chunk()
    }

    /// Takes a full chunk of the snapshot begun last; returns an empty one to go on in.
    pub(crate) fn hand_on(&mut self, full: Vec<u8>) -> Vec<u8> {
        match self.write(full) {
            Some(empty) => empty,
            None => self.chunk(),
        }
    }

    /// Takes the last (short) chunk and ends the snapshot; its result comes from `finished`.
    /// An error here means the snapshot thread stopped.
    pub(crate) fn end(&mut self, last: Vec<u8>) -> Result<(), String> {
        if let Some(empty) = self.write(last) {
            self.pool.push(empty);
        }
        self.send(Request::End);
        match &self.worker {
            Worker::Thread { stopped: true, .. } => {
                Err("snapshot: the snapshot thread stopped".to_string())
            }
            _ => Ok(()),
        }
    }

    /// Passes a chunk on: inline, writes it and returns it emptied; else sends it to the
    /// snapshot thread (which gives it back later).
    fn write(&mut self, chunk: Vec<u8>) -> Option<Vec<u8>> {
        self.handed += 1;
        if let Worker::Inline { stream, .. } = &mut self.worker {
            stream.append(&chunk);
            let mut empty = chunk;
            empty.clear();
            return Some(empty);
        }
        self.send(Request::Chunk(chunk));
        None
    }

    fn send(&mut self, request: Request) {
        match &mut self.worker {
            Worker::Thread {
                requests, stopped, ..
            } => {
                let requests = requests.as_ref().expect("requests live until drop");
                if requests.send(request).is_err() {
                    *stopped = true;
                }
            }
            Worker::Inline {
                writer,
                stream,
                done,
            } => match request {
                Request::Begin(op) => stream.begin(writer, op, None),
                Request::Chunk(bytes) => stream.append(&bytes),
                Request::End => *done = Some(stream.end(writer)),
            },
        }
    }

    /// An empty chunk: one the snapshot thread gave back, else a new one, else (all
    /// [`CHUNKS_MAX`] on their way to the disk) the next one it gives back.
    fn chunk(&mut self) -> Vec<u8> {
        if let Worker::Thread { recycled, .. } = &self.worker {
            self.pool.extend(recycled.try_iter());
        }
        if let Some(chunk) = self.pool.pop() {
            return chunk;
        }
        if let Worker::Thread {
            recycled, stopped, ..
        } = &mut self.worker
            && self.live >= CHUNKS_MAX
        {
            let started = Instant::now();
            if let Ok(chunk) = recycled.recv() {
                self.waited += started.elapsed();
                return chunk;
            }
            // The thread is gone with the chunks; this snapshot fails at `end`.
            *stopped = true;
            return Vec::new();
        }
        self.live += 1;
        self.allocated += 1;
        Vec::with_capacity(self.chunk_bytes + CHUNK_SLACK)
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
            // Every chunk of the snapshot came back before its result: keep them for the next.
            if let Worker::Thread { recycled, .. } = &self.worker {
                self.pool.extend(recycled.try_iter());
            }
        }
        finished
    }

    /// Empty chunks held for the next snapshot.
    #[cfg(test)]
    pub(crate) fn pooled(&self) -> usize {
        self.pool.len()
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
