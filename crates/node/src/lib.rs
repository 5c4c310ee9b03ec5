//! The node: one writer thread that turns concurrent requests into durable, applied batches.
//!
//! Request path: `submit` queues a request with a reply channel; the writer thread takes every
//! queued request (up to `batch_events_max` events) as one batch, stamps it with engine time
//! (wall clock, forced strictly monotonic), appends it to the WAL, syncs once (group commit),
//! applies it to the state machine, and only then replies. So a reply always means durable, and
//! one fsync covers every request that queued while the previous one ran.
//!
//! Recovery on open: the newest valid snapshot, then replay of the WAL after it; conservation is
//! checked before serving. Snapshots are taken by the writer thread when the log written since
//! the last one exceeds a threshold, so replay time stays bounded.
//!
//! Transfers leave memory once they are durable in the record file (`records`): the archiver
//! thread writes them there and the writer evicts them between batches. Before applying a batch
//! the writer reads back the few evicted transfers it may touch (idempotency hits, resolved
//! pending transfers) and hands them in (prefetch), so apply itself never does I/O.
//!
//! This is an I/O shell: it owns the clock, the thread and the disk. The state machine it drives
//! (`engine`) stays pure. Recovery and the commit step themselves live in [`NodeCore`], generic
//! over the file system and told the time, which the writer thread drives with the wall clock
//! and the deterministic simulator drives step by step.

mod node_core;
mod records;
mod snapshotter;

use std::collections::VecDeque;
use std::fmt;
use std::hash::BuildHasher;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use engine::{REQUEST_EVENTS_MAX, Reply, Request, StateMachine};
use storage::OsVfs;

pub use node_core::NodeCore;
pub use records::ColdRecords;
pub use storage::StorageError;

/// How the node is run.
#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Most events in one group-committed batch (many requests).
    pub batch_events_max: usize,
    /// Take a snapshot once this many log bytes were written since the last one (and at least
    /// as many as the last snapshot's size, so snapshot cost stays linear in log size).
    pub snapshot_log_bytes_min: u64,
    /// fsync before replying. Only benchmarks of the CPU path turn this off; it is not durable.
    pub sync: bool,
    /// The archiver syncs the record file (and so lets the ledger evict) every this many bytes
    /// of transfer records. Small, so dirty record pages never pile up: on ext4 (ordered data)
    /// the WAL's fsync also waits for other files' dirty data in the journal transaction, and a
    /// 16 MiB record flush there was the writer's latency tail (BENCHMARKS.md, "Binary
    /// protocol": p99 at half load 19-163 ms with 16 MiB, 7.6-9.7 ms with 2 MiB).
    pub records_sync_bytes: u64,
    /// Size the id index at open for this many transfers in all, so it does not grow (a rehash
    /// of every entry, stalling the writer) until they are exceeded. About 18 bytes each,
    /// allocated up front. 0: grow as needed.
    pub transfers_reserve: u64,
    /// A new WAL segment is started once the current one would exceed this size.
    pub wal_segment_size_max: u64,
    /// A snapshot streams to its file in chunks of about this size (handed on at the first
    /// record boundary past it), reused from one snapshot to the next, so none is ever held
    /// whole. The simulator varies it to put chunk edges everywhere.
    pub snapshot_chunk_bytes: usize,
}

impl Config {
    #[must_use]
    pub fn new(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            data_dir: data_dir.into(),
            batch_events_max: 64 * 1024,
            snapshot_log_bytes_min: 256 * 1024 * 1024,
            sync: true,
            records_sync_bytes: 2 * 1024 * 1024,
            transfers_reserve: 0,
            wal_segment_size_max: storage::Options::default().segment_size_max,
            snapshot_chunk_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Why a request or the node failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeError {
    /// The request is malformed as a whole (empty, too many events).
    InvalidRequest(&'static str),
    /// The node is shutting down and takes no new requests.
    ShuttingDown,
    /// The node hit a storage failure and stopped; nothing after it was acknowledged.
    Failed(String),
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeError::InvalidRequest(reason) => write!(f, "invalid request: {reason}"),
            NodeError::ShuttingDown => write!(f, "node is shutting down"),
            NodeError::Failed(reason) => write!(f, "node failed: {reason}"),
        }
    }
}

impl std::error::Error for NodeError {}

/// Why the node could not open.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    Storage(storage::StorageError),
    Snapshot {
        op: u64,
        source: engine::StateMachineError,
    },
    /// The snapshot file of `op` holds the state of another op (`state_op`).
    SnapshotOp {
        op: u64,
        state_op: u64,
    },
    Batch {
        op: u64,
        source: engine::DecodeError,
    },
    /// The log entry of `op` decodes but cannot follow the state: not the next op, or engine
    /// time not after the state's (with room for its events).
    BatchOutOfOrder {
        op: u64,
        reason: String,
    },
    /// Applying the log entry of `op` panicked (a bug, or data past every check); the node
    /// refuses to start rather than crash-loop on it.
    ReplayPanicked {
        op: u64,
        message: String,
    },
    Replay(String),
    /// The record file holds fewer transfers than the snapshot's cold floor.
    RecordsMissing {
        have: u64,
        need: u64,
    },
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Storage(_) => write!(f, "cannot open the data directory"),
            OpenError::Snapshot { op, .. } => write!(f, "snapshot at op {op} does not decode"),
            OpenError::SnapshotOp { op, state_op } => write!(
                f,
                "snapshot at op {op} holds the state of op {state_op}, not of its own op"
            ),
            OpenError::Batch { op, .. } => write!(f, "log entry op {op} does not decode"),
            OpenError::BatchOutOfOrder { op, reason } => {
                write!(f, "log entry op {op} does not follow the state: {reason}")
            }
            OpenError::ReplayPanicked { op, message } => {
                write!(f, "replaying log entry op {op} panicked: {message}")
            }
            OpenError::Replay(reason) => write!(f, "replay failed: {reason}"),
            OpenError::RecordsMissing { have, need } => write!(
                f,
                "the record file holds {have} transfers but the snapshot needs {need}"
            ),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Storage(e) => Some(e),
            OpenError::Snapshot { source, .. } => Some(source),
            OpenError::Batch { source, .. } => Some(source),
            OpenError::SnapshotOp { .. }
            | OpenError::BatchOutOfOrder { .. }
            | OpenError::ReplayPanicked { .. }
            | OpenError::Replay(_)
            | OpenError::RecordsMissing { .. } => None,
        }
    }
}

type ReplySender = tokio::sync::oneshot::Sender<Result<Reply, NodeError>>;
/// The receiving end of one request's reply.
pub type ReplyReceiver = tokio::sync::oneshot::Receiver<Result<Reply, NodeError>>;

struct Queued {
    request: Request,
    reply: ReplySender,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Queued>,
    shutdown: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    state: Arc<RwLock<StateMachine>>,
    failed: Mutex<Option<String>>,
    ready: AtomicBool,
    /// Engine time of the next pending-transfer expiry; 0 when none.
    next_expiry: AtomicU64,
    cold: ColdRecords,
}

/// What recovery found, for logs and `inspect`.
#[derive(Clone, Debug, Default)]
pub struct RecoveryReport {
    pub snapshot_op: Option<u64>,
    /// Transfers read back from the record file to rebuild the indexes.
    pub cold_transfers: u64,
    pub replayed_batches: u64,
    pub replayed_events: u64,
    /// Bytes of batches replayed: the log written since the snapshot, which counts toward the
    /// next one as if this process had written it.
    pub replayed_bytes: u64,
    pub tail_cut: Option<String>,
    pub duration: Duration,
}

/// A running node. Cloning the handle is cheap; `shutdown` stops the writer.
#[derive(Clone)]
pub struct Node {
    shared: Arc<Shared>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
}

fn random_hash_key() -> u64 {
    // std's RandomState is seeded from OS randomness once per process.
    std::collections::hash_map::RandomState::new().hash_one(0x11_u64)
}

/// Engine time: nanoseconds since the Unix epoch from the wall clock. Monotonicity is enforced
/// by the writer, not assumed from the clock.
fn wall_clock_ns() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX)
}

impl Node {
    /// Opens the data directory (creating it), recovers, and starts the writer thread.
    pub fn open(config: Config) -> Result<(Node, RecoveryReport), OpenError> {
        let started = Instant::now();
        let batch_events_max = config.batch_events_max;
        let (core, mut report) = NodeCore::open_threaded(config, random_hash_key())?;
        report.duration = started.elapsed();
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            next_expiry: AtomicU64::new(core.next_expiry().unwrap_or(0)),
            state: core.state(),
            failed: Mutex::new(None),
            ready: AtomicBool::new(true),
            cold: core.cold().clone(),
        });
        let writer = Writer {
            shared: Arc::clone(&shared),
            core,
            batch_events_max,
        };
        let handle = std::thread::Builder::new()
            .name("elevenfold-writer".to_string())
            .spawn(move || writer.run())
            .expect("spawning the writer thread");
        Ok((
            Node {
                shared,
                writer: Arc::new(Mutex::new(Some(handle))),
            },
            report,
        ))
    }

    /// Queues a request; the receiver gets its reply once the batch holding it is durable and
    /// applied. Validates the request's shape first.
    pub fn submit(&self, request: Request) -> ReplyReceiver {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let count = request.event_count();
        if count == 0 {
            let _ = sender.send(Err(NodeError::InvalidRequest(
                "a request needs at least one event",
            )));
            return receiver;
        }
        if count > REQUEST_EVENTS_MAX {
            let _ = sender.send(Err(NodeError::InvalidRequest(
                "a request holds at most 8189 events",
            )));
            return receiver;
        }
        if let Some(reason) = self.failure() {
            let _ = sender.send(Err(NodeError::Failed(reason)));
            return receiver;
        }
        let mut queue = self
            .shared
            .queue
            .lock()
            .expect("queue lock is never poisoned");
        if queue.shutdown {
            drop(queue);
            let _ = sender.send(Err(NodeError::ShuttingDown));
            return receiver;
        }
        queue.items.push_back(Queued {
            request,
            reply: sender,
        });
        drop(queue);
        self.shared.wake.notify_one();
        receiver
    }

    /// Submits and waits (async).
    pub async fn execute(&self, request: Request) -> Result<Reply, NodeError> {
        self.submit(request)
            .await
            .unwrap_or(Err(NodeError::ShuttingDown))
    }

    /// Submits and waits (blocking; not for async contexts).
    pub fn execute_blocking(&self, request: Request) -> Result<Reply, NodeError> {
        self.submit(request)
            .blocking_recv()
            .unwrap_or(Err(NodeError::ShuttingDown))
    }

    /// Where evicted transfers are read back from: pass it to the ledger's lookups.
    #[must_use]
    pub fn cold(&self) -> &ColdRecords {
        &self.shared.cold
    }

    /// Runs `f` on the current state (committed, durable batches only).
    pub fn read<R>(&self, f: impl FnOnce(&StateMachine) -> R) -> R {
        f(&self
            .shared
            .state
            .read()
            .expect("state lock is never poisoned"))
    }

    /// `Some(reason)` once the node has failed and stopped writing.
    #[must_use]
    pub fn failure(&self) -> Option<String> {
        self.shared
            .failed
            .lock()
            .expect("failure lock is never poisoned")
            .clone()
    }

    /// True while the node accepts requests.
    #[must_use]
    pub fn ready(&self) -> bool {
        self.shared.ready.load(Ordering::Relaxed) && self.failure().is_none()
    }

    /// Stops taking requests, lets the writer finish every queued one, and waits for it.
    pub fn shutdown(&self) {
        self.shared.ready.store(false, Ordering::Relaxed);
        self.shared
            .queue
            .lock()
            .expect("queue lock is never poisoned")
            .shutdown = true;
        self.shared.wake.notify_all();
        let handle = self
            .writer
            .lock()
            .expect("writer lock is never poisoned")
            .take();
        if let Some(handle) = handle {
            handle.join().expect("the writer thread does not panic");
        }
    }
}

struct Writer {
    shared: Arc<Shared>,
    core: NodeCore<OsVfs>,
    batch_events_max: usize,
}

enum Work {
    Batch(Vec<Queued>),
    Pulse,
    Stop,
}

impl Writer {
    /// Under load the writer pipelines: each batch is logged and synced on a helper thread
    /// while the batch before it is applied (`NodeCore::commit_overlapped`); when no request
    /// waits, the pending batch is applied at once (`NodeCore::flush`), so a lone request waits
    /// for its own fsync and apply, never for a next batch.
    fn run(mut self) {
        loop {
            if self.core.has_pending() && !self.work_waiting() {
                let flushed = self.core.flush();
                if self.stop_on_error(flushed) {
                    break;
                }
                continue;
            }
            let (queued, requests) = match self.next_work() {
                Work::Stop => break,
                Work::Pulse => (Vec::new(), Vec::new()),
                Work::Batch(queued) => {
                    let mut requests = Vec::with_capacity(queued.len());
                    let mut replies = Vec::with_capacity(queued.len());
                    for item in queued {
                        requests.push(item.request);
                        replies.push(item.reply);
                    }
                    (replies, requests)
                }
            };
            let batch = self.core.stamp(wall_clock_ns(), requests);
            let operations: Vec<(&'static str, u64)> = batch
                .requests
                .iter()
                .map(|r| (r.operation_name(), r.event_count() as u64))
                .collect();
            let on_durable: node_core::OnDurable = Box::new(move |results: Vec<Reply>| {
                record_metrics(&operations, &results);
                for (reply, result) in queued.into_iter().zip(results) {
                    // A caller that stopped waiting is fine: its request is durable regardless.
                    let _ = reply.send(Ok(result));
                }
            });
            let committed = self.core.commit_overlapped(batch, on_durable);
            if self.stop_on_error(committed) {
                break;
            }
        }
        // Stop: the pending batch, if any, is durable; apply it and answer its callers.
        let flushed = self.core.flush();
        self.stop_on_error(flushed);
    }

    /// Whether a request (or shutdown) is waiting, without blocking.
    fn work_waiting(&self) -> bool {
        let queue = self
            .shared
            .queue
            .lock()
            .expect("queue lock is never poisoned");
        !queue.items.is_empty() || queue.shutdown
    }

    /// Publishes the next expiry; on a storage error, stops the node and fails every queued
    /// request. Returns whether the writer must stop.
    fn stop_on_error(&mut self, result: Result<(), String>) -> bool {
        self.shared
            .next_expiry
            .store(self.core.next_expiry().unwrap_or(0), Ordering::Relaxed);
        let Err(reason) = result else {
            return false;
        };
        tracing::error!(reason = %reason, "storage failed; the node stops writing");
        *self
            .shared
            .failed
            .lock()
            .expect("failure lock is never poisoned") = Some(reason.clone());
        self.shared.ready.store(false, Ordering::Relaxed);
        let mut queue = self
            .shared
            .queue
            .lock()
            .expect("queue lock is never poisoned");
        queue.shutdown = true;
        for item in queue.items.drain(..) {
            let _ = item.reply.send(Err(NodeError::Failed(reason.clone())));
        }
        true
    }

    /// Waits for requests (or a due expiry, or shutdown) and takes up to a batch of them.
    fn next_work(&mut self) -> Work {
        let mut queue = self
            .shared
            .queue
            .lock()
            .expect("queue lock is never poisoned");
        loop {
            if !queue.items.is_empty() {
                let mut events = 0;
                let mut taken = Vec::new();
                while let Some(front) = queue.items.front() {
                    let count = front.request.event_count();
                    if !taken.is_empty() && events + count > self.batch_events_max {
                        break;
                    }
                    events += count;
                    taken.push(queue.items.pop_front().expect("front exists"));
                }
                return Work::Batch(taken);
            }
            if queue.shutdown {
                return Work::Stop;
            }
            let next_expiry = self.shared.next_expiry.load(Ordering::Relaxed);
            let wait = if next_expiry == 0 {
                Duration::from_secs(1)
            } else {
                let now = wall_clock_ns();
                if now >= next_expiry {
                    return Work::Pulse;
                }
                Duration::from_nanos((next_expiry - now).min(1_000_000_000))
            };
            queue = self
                .shared
                .wake
                .wait_timeout(queue, wait)
                .expect("queue lock is never poisoned")
                .0;
        }
    }
}

/// `operations`: each request's operation name and event count.
fn record_metrics(operations: &[(&'static str, u64)], replies: &[Reply]) {
    metrics::counter!("elevenfold_batches_total").increment(1);
    for &(operation, event_count) in operations {
        metrics::counter!("elevenfold_events_total", "operation" => operation)
            .increment(event_count);
    }
    // Tallied per reply kind (their code numbers overlap) across the whole batch, so there is
    // one metrics call per distinct code per batch, and no per-event lookup.
    let mut tallies = [
        ResultTally::new(),
        ResultTally::new(),
        ResultTally::new(),
        ResultTally::new(),
        ResultTally::new(),
    ];
    for reply in replies {
        match reply {
            Reply::CreateAccounts(results) => {
                tallies[0].add(results.iter().map(|r| (r.number(), r.name())));
            }
            Reply::CreateTransfers(results) => {
                tallies[1].add(results.iter().map(|r| (r.number(), r.name())));
            }
            Reply::SetAccountLimits(results) => {
                tallies[2].add(results.iter().map(|r| (r.number(), r.name())));
            }
            Reply::CreatePrograms(results) | Reply::Credit(results) => {
                tallies[3].add(results.iter().map(|r| (r.number(), r.name())));
            }
            Reply::CreateCampaigns(results) | Reply::Promotions(results) => {
                tallies[4].add(results.iter().map(|r| (r.number(), r.name())));
            }
        }
    }
    for tally in &tallies {
        tally.record();
    }
}

/// Counts of one kind of result code, indexed by the code's stable number.
struct ResultTally {
    counts: [u64; ResultTally::CODES_MAX],
    names: [&'static str; ResultTally::CODES_MAX],
}

impl ResultTally {
    const CODES_MAX: usize = 128;

    fn new() -> ResultTally {
        ResultTally {
            counts: [0; Self::CODES_MAX],
            names: [""; Self::CODES_MAX],
        }
    }

    fn add(&mut self, codes: impl Iterator<Item = (u32, &'static str)>) {
        for (number, name) in codes {
            let slot = (number as usize).min(Self::CODES_MAX - 1);
            self.counts[slot] += 1;
            self.names[slot] = name;
        }
    }

    fn record(&self) {
        for (count, name) in self.counts.iter().zip(self.names) {
            if *count > 0 {
                metrics::counter!("elevenfold_results_total", "result" => name).increment(*count);
            }
        }
    }
}

#[cfg(test)]
mod tests;
