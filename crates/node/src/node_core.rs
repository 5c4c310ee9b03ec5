//! The single-threaded core of a node: recovery and the commit step, generic over the file
//! system (`storage::Vfs`) and told the time by its caller.
//!
//! `Node` drives it from its writer thread with the wall clock over `OsVfs`, the archiver and the
//! snapshot writer on threads of their own. The deterministic simulator (`crates/simulator`)
//! drives the same code step by step over `MemVfs` with a simulated clock, the archiver and the
//! snapshot writes inline ([`NodeCore::open`]): what it tests is this code, not a copy.
//!
//! Invariants owned here:
//! - a batch is appended to the WAL and synced before it is applied, and only then handed to
//!   `on_durable` (a reply means durable); the pipelined commit overlaps one batch's append and
//!   fsync (on a helper thread) with the apply of the batch before it, never with its own;
//! - after any storage error the core refuses every further step (fsyncgate: a failed fsync is
//!   never retried, and nothing is acknowledged after it);
//! - transfers are evicted only below what the record file holds durably, and a snapshot's cold
//!   floor is what was evicted, so a snapshot plus the record file below its floor is a state;
//! - nothing it decides depends on the wall clock: time comes in through [`NodeCore::stamp`]
//!   (it reads the monotonic clock only to time fsyncs for metrics);
//! - recovery refuses, with an [`OpenError`], what it cannot apply rather than panicking: a
//!   snapshot whose state is of another op than its file, a log entry whose op or engine time
//!   does not follow the state (`batch_follows`, checked before every apply, replayed or new),
//!   and, as a last line of defence, a replayed batch whose apply panics anyway (caught at the
//!   replay boundary: `OpenError::ReplayPanicked`), so a bad log entry stops the node from
//!   starting with an error naming its op instead of crash-looping.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use engine::{Batch, Reply, Request, StateMachine, encode_batch};
use ledger::{ColdStore, Transfer};
use stdx::bytes::ChunkedOut;
use storage::{Options, OsVfs, RecordFile, SnapshotWriter, Vfs, Wal};

use crate::records::{Archiver, ColdRecords};
use crate::snapshotter::Snapshotter;
use crate::{Config, OpenError, RecoveryReport};

/// Recovery and the commit step of a node, callable one step at a time. See the module docs.
pub struct NodeCore<V: Vfs> {
    state: Arc<RwLock<StateMachine>>,
    cold: ColdRecords<V>,
    archiver: Archiver<V>,
    /// The ledger's cold floor: what `evict` last evicted below.
    evicted_below: u64,
    snapshotter: Snapshotter<V>,
    /// The write-ahead log; `None` only while a helper thread writes and syncs it
    /// ([`NodeCore::commit_overlapped`]).
    log: Option<LogWriter<V>>,
    /// The last op and engine time logged: the state's, or the pending batch's when there is one.
    head_op: u64,
    head_timestamp: u64,
    /// A batch logged and synced but not yet applied ([`NodeCore::commit_overlapped`]).
    pending: Option<Pending>,
    config: Config,
    log_bytes_since_snapshot: u64,
    last_snapshot_bytes: u64,
    /// Engine time of the next pending-transfer expiry.
    next_expiry: Option<u64>,
    /// The first storage error; every later step returns it.
    failure: Option<String>,
}

/// The write-ahead log and the buffer batches are encoded into: what a helper thread takes
/// while the writer applies ([`NodeCore::commit_overlapped`]).
struct LogWriter<V: Vfs> {
    wal: Wal<V>,
    buffer: Vec<u8>,
}

impl<V: Vfs> LogWriter<V> {
    /// Encodes, appends and (when `sync`) syncs batch `op`; returns the bytes logged.
    fn write(&mut self, op: u64, batch: &Batch, sync: bool) -> Result<u64, String> {
        self.buffer.clear();
        encode_batch(batch, &mut self.buffer);
        self.wal
            .append(op, &self.buffer)
            .map_err(|e| format!("wal append: {e}"))?;
        if sync {
            let started = Instant::now();
            self.wal.sync().map_err(|e| format!("wal sync: {e}"))?;
            metrics::histogram!("elevenfold_wal_fsync_seconds")
                .record(started.elapsed().as_secs_f64());
        }
        Ok(self.buffer.len() as u64)
    }
}

/// Where a batch's replies go once it is applied.
pub type OnDurable = Box<dyn FnOnce(Vec<Reply>) + Send>;

/// A batch logged and synced, waiting for the writer to apply it.
struct Pending {
    op: u64,
    batch: Batch,
    on_durable: OnDurable,
}

impl<V: Vfs + Clone> NodeCore<V> {
    /// Opens `config.data_dir` through `vfs` and recovers (newest valid snapshot, record file
    /// below its cold floor, WAL replay with prefetch, conservation check). The archiver and
    /// the snapshot writes run inline: in [`NodeCore::commit`] and [`NodeCore::idle`].
    /// `hash_key` only changes hash-table layout, never a result.
    pub fn open(
        vfs: V,
        config: Config,
        hash_key: u64,
    ) -> Result<(NodeCore<V>, RecoveryReport), OpenError> {
        NodeCore::open_with(vfs, config, hash_key, |records, writer, config| {
            (
                Archiver::inline(records, config.records_sync_bytes, config.sync),
                Snapshotter::inline(writer, config.snapshot_chunk_bytes),
            )
        })
    }
}

impl NodeCore<OsVfs> {
    /// [`NodeCore::open`] on the real file system, with the archiver and the snapshot writer on
    /// threads of their own.
    pub(crate) fn open_threaded(
        config: Config,
        hash_key: u64,
    ) -> Result<(NodeCore<OsVfs>, RecoveryReport), OpenError> {
        NodeCore::open_with(OsVfs, config, hash_key, |records, writer, config| {
            (
                Archiver::start(records, config.records_sync_bytes, config.sync),
                Snapshotter::start(writer, config.snapshot_chunk_bytes),
            )
        })
    }
}

impl<V: Vfs + Clone> NodeCore<V> {
    fn open_with(
        vfs: V,
        config: Config,
        hash_key: u64,
        background: impl FnOnce(
            RecordFile<V>,
            SnapshotWriter<V>,
            &Config,
        ) -> (Archiver<V>, Snapshotter<V>),
    ) -> Result<(NodeCore<V>, RecoveryReport), OpenError> {
        let options = Options {
            segment_size_max: config.wal_segment_size_max,
            ..Options::default()
        };
        let (wal, recovery) =
            Wal::open_with(vfs.clone(), &config.data_dir, options).map_err(OpenError::Storage)?;
        let mut report = RecoveryReport {
            tail_cut: recovery
                .truncated_tail
                .as_ref()
                .map(|cut| format!("{cut:?}")),
            ..RecoveryReport::default()
        };
        let mut records = RecordFile::open(vfs, &config.data_dir).map_err(OpenError::Storage)?;
        let cold = ColdRecords::new(records.reader().map_err(OpenError::Storage)?);
        let mut state = match &recovery.snapshot {
            Some(snapshot) => {
                report.snapshot_op = Some(snapshot.op);
                let snapshot_error = |source| OpenError::Snapshot {
                    op: snapshot.op,
                    source,
                };
                let mut restore = StateMachine::decode_snapshot(&snapshot.payload, hash_key)
                    .map_err(snapshot_error)?;
                // The payload names its op too; a state of another op than its file would be
                // replayed from the wrong place (and the next append refused). The file is
                // sound (its checksums passed) but its content is wrong, so, like a payload that
                // does not decode, it is refused rather than skipped.
                if restore.op() != snapshot.op {
                    return Err(OpenError::SnapshotOp {
                        op: snapshot.op,
                        state_op: restore.op(),
                    });
                }
                let floor = restore.cold_floor();
                if records.len_on_disk() < floor {
                    return Err(OpenError::RecordsMissing {
                        have: records.len_on_disk(),
                        need: floor,
                    });
                }
                restore.reserve();
                let mut failure = None;
                cold.scan(0, floor, |_, bytes| {
                    if failure.is_none()
                        && let Err(error) = restore.cold_transfer(&Transfer::from_bytes(bytes))
                    {
                        failure = Some(error);
                    }
                })
                .map_err(OpenError::Storage)?;
                if let Some(error) = failure {
                    return Err(snapshot_error(error));
                }
                report.cold_transfers = floor;
                restore.finish().map_err(snapshot_error)?
            }
            None => StateMachine::new(hash_key),
        };
        // Records above the floor are rewritten from the snapshot's tail and the replay.
        records
            .truncate(state.ledger().cold_floor())
            .map_err(OpenError::Storage)?;
        let after_op = state.op();
        wal.replay(after_op, |op, bytes| {
            let batch =
                engine::decode_batch(bytes).map_err(|source| OpenError::Batch { op, source })?;
            batch_follows(state.op(), state.commit_timestamp(), op, &batch)
                .map_err(|reason| OpenError::BatchOutOfOrder { op, reason })?;
            report.replayed_batches += 1;
            report.replayed_events += batch.event_count();
            report.replayed_bytes += bytes.len() as u64;
            prefetch(&mut state, &batch, &cold).map_err(OpenError::Storage)?;
            replay_apply(&mut state, op, &batch)
        })
        .map_err(|error| match error {
            storage::ReplayError::Storage(e) => OpenError::Storage(e),
            storage::ReplayError::Callback(e) => e,
            other => OpenError::Replay(other.to_string()),
        })?;
        state.ledger().check_conservation();
        let stored = state.ledger().transfer_count();
        if let Ok(additional) = usize::try_from(config.transfers_reserve.saturating_sub(stored)) {
            state.reserve_transfers(additional);
        }
        let evicted_below = state.ledger().cold_floor();
        let next_expiry = state.ledger().next_expiry();
        let (head_op, head_timestamp) = (state.op(), state.commit_timestamp());
        let (archiver, snapshotter) = background(records, wal.snapshot_writer(), &config);
        let core = NodeCore {
            state: Arc::new(RwLock::new(state)),
            cold,
            archiver,
            evicted_below,
            snapshotter,
            log: Some(LogWriter {
                wal,
                buffer: Vec::new(),
            }),
            head_op,
            head_timestamp,
            pending: None,
            config,
            // A process that crashes before each snapshot is due must still take one: the log
            // replayed counts toward it.
            log_bytes_since_snapshot: report.replayed_bytes,
            last_snapshot_bytes: recovery
                .snapshot
                .as_ref()
                .map_or(0, |s| s.payload.len() as u64),
            next_expiry,
            failure: None,
        };
        Ok((core, report))
    }
}

impl<V: Vfs> NodeCore<V> {
    /// Makes the next batch of `requests` with engine time `now_ns`, forced strictly above the
    /// last batch logged (applied or pending) so that each of its events gets a timestamp of its own after it (engine time
    /// is monotonic whatever the clock does). At the end of engine time (`u64::MAX`, reachable
    /// only through a log that put it there) the batch is stamped `u64::MAX` and
    /// [`NodeCore::commit`] refuses it.
    #[must_use]
    pub fn stamp(&self, now_ns: u64, requests: Vec<Request>) -> Batch {
        let timestamp_count: u64 = requests.iter().map(Request::timestamp_count).sum();
        Batch {
            timestamp: now_ns.max(self.head_timestamp.saturating_add(timestamp_count.max(1))),
            requests,
        }
    }

    /// Logs, syncs and applies `batch` (made by [`NodeCore::stamp`]; no requests: a pulse),
    /// hands the replies to `on_durable` (the batch is durable by then), then passes its
    /// transfers to the archiver and takes a snapshot when one is due. A batch pending from
    /// [`NodeCore::commit_overlapped`] is applied first. On an error the batch may or may not be
    /// durable, `on_durable` may or may not have run, and every later step fails. A batch that
    /// cannot follow the state (engine time exhausted) is refused before it is logged, so it
    /// never reaches the log that recovery replays.
    pub fn commit(
        &mut self,
        batch: &Batch,
        on_durable: impl FnOnce(Vec<Reply>),
    ) -> Result<(), String> {
        self.flush()?;
        let result = self
            .log_inline(batch)
            .and_then(|op| self.apply_durable(op, batch, on_durable));
        self.fail_on_error(result)
    }

    /// Applies the pending batch, if any (it is durable), and hands its replies over.
    pub fn flush(&mut self) -> Result<(), String> {
        if let Some(reason) = &self.failure {
            return Err(reason.clone());
        }
        let Some(pending) = self.pending.take() else {
            return Ok(());
        };
        let result = self.apply_durable(pending.op, &pending.batch, pending.on_durable);
        self.fail_on_error(result)
    }

    /// Whether a batch is logged and synced but not yet applied.
    #[must_use]
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    fn log_inline(&mut self, batch: &Batch) -> Result<u64, String> {
        let op = self.log_prepare(batch)?;
        let log = self.log.as_mut().expect("the log is home between steps");
        let bytes = log.write(op, batch, self.config.sync)?;
        self.logged(op, batch, bytes);
        Ok(op)
    }

    /// Checks that `batch` can follow the head and makes room for it (snapshot installed,
    /// archived transfers evicted); returns its op.
    fn log_prepare(&mut self, batch: &Batch) -> Result<u64, String> {
        if let Some(reason) = &self.failure {
            return Err(reason.clone());
        }
        if let Some(reason) = self.archiver.failure() {
            return Err(reason);
        }
        let op = self
            .head_op
            .checked_add(1)
            .ok_or("the log is at the last op of u64")?;
        batch_follows(self.head_op, self.head_timestamp, op, batch)
            .map_err(|reason| format!("batch refused before logging: {reason}"))?;
        self.install_snapshot(false)?;
        self.evict();
        Ok(op)
    }

    fn logged(&mut self, op: u64, batch: &Batch, bytes: u64) {
        self.head_op = op;
        self.head_timestamp = batch.timestamp;
        self.log_bytes_since_snapshot += bytes;
    }

    /// Applies batch `op`, durable already, hands its replies to `on_durable`, archives its
    /// transfers and takes a snapshot when one is due.
    fn apply_durable(
        &mut self,
        op: u64,
        batch: &Batch,
        on_durable: impl FnOnce(Vec<Reply>),
    ) -> Result<(), String> {
        let (results, archive) = {
            let mut state = self.state.write().expect("state lock is never poisoned");
            // Reads happen only when the batch touches evicted transfers (retries of old ids,
            // resolved pending transfers): rare, so holding the lock through them is fine.
            prefetch(&mut state, batch, &self.cold)
                .map_err(|e| format!("record file read: {e}"))?;
            let results = state.apply(op, batch);
            debug_assert_eq!(state.commit_timestamp(), batch.timestamp);
            self.next_expiry = state.ledger().next_expiry();
            let archive = state.ledger().transfers_from(self.archiver.sent).to_vec();
            (results, archive)
        };
        on_durable(results);
        self.archiver.send(archive)?;
        if self.log_bytes_since_snapshot
            >= self
                .config
                .snapshot_log_bytes_min
                .max(self.last_snapshot_bytes)
        {
            self.snapshot(op)?;
        }
        Ok(())
    }

    /// What the archiver thread does after a quiet spell: syncs the records it wrote, so the
    /// next commit may evict them. Only inline (the thread keeps its own time).
    pub fn idle(&mut self) -> Result<(), String> {
        if let Some(reason) = &self.failure {
            return Err(reason.clone());
        }
        let result = self.archiver.idle();
        self.fail_on_error(result)
    }

    /// Engine time of the next pending-transfer expiry, if any: when due with no traffic, the
    /// caller commits an empty batch (a pulse).
    #[must_use]
    pub fn next_expiry(&self) -> Option<u64> {
        self.next_expiry
    }

    /// Runs `f` on the current state (applied, durable batches only).
    pub fn read<R>(&self, f: impl FnOnce(&StateMachine) -> R) -> R {
        f(&self.state.read().expect("state lock is never poisoned"))
    }

    /// Where evicted transfers are read back from.
    #[must_use]
    pub fn cold(&self) -> &ColdRecords<V> {
        &self.cold
    }

    /// The storage error that stopped the core, if any.
    #[must_use]
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// The state, shared with readers on other threads.
    pub(crate) fn state(&self) -> Arc<RwLock<StateMachine>> {
        Arc::clone(&self.state)
    }

    fn fail_on_error(&mut self, result: Result<(), String>) -> Result<(), String> {
        if let Err(reason) = &result {
            self.failure = Some(reason.clone());
        }
        result
    }

    /// Drops from memory the transfers the record file now holds durably. The core is the only
    /// mutator, so it knows the floor without asking the state.
    fn evict(&mut self) {
        let synced = self.archiver.synced();
        if synced > self.evicted_below {
            self.state
                .write()
                .expect("state lock is never poisoned")
                .evict_below(synced);
            self.evicted_below = synced;
        }
    }

    /// Encodes a snapshot of the state after `op`, streaming it in chunks to the snapshot
    /// writer, unless one is still being written (then the next batch tries again).
    fn snapshot(&mut self, op: u64) -> Result<(), String> {
        if self.snapshotter.in_flight {
            return Ok(());
        }
        let started = Instant::now();
        let first = self.snapshotter.begin(op);
        let state = self.state.read().expect("state lock is never poisoned");
        let snapshotter = &mut self.snapshotter;
        let chunk_bytes = snapshotter.chunk_bytes;
        let mut hand_on = |full: Vec<u8>| snapshotter.hand_on(full);
        let mut out = ChunkedOut::new(chunk_bytes, first, &mut hand_on);
        state.encode_snapshot_to(&mut out);
        let (last, bytes) = out.finish();
        drop(state);
        let ended = self.snapshotter.end(last);
        let encode_s = started.elapsed().as_secs_f64();
        metrics::histogram!("elevenfold_snapshot_encode_seconds").record(encode_s);
        tracing::info!(
            op,
            bytes,
            encode_s,
            chunks = self.snapshotter.handed,
            chunks_allocated = self.snapshotter.allocated,
            chunk_wait_s = self.snapshotter.waited.as_secs_f64(),
            "snapshot encoded"
        );
        self.last_snapshot_bytes = bytes;
        self.log_bytes_since_snapshot = 0;
        ended
    }

    /// Takes in the snapshot the snapshot writer finished, if any (waiting for it if `wait`).
    fn install_snapshot(&mut self, wait: bool) -> Result<(), String> {
        let Some(finished) = self.snapshotter.finished(wait) else {
            return Ok(());
        };
        let (written, bytes, duration) = finished.map_err(|e| format!("snapshot: {e}"))?;
        let op = written.op();
        self.log
            .as_mut()
            .expect("the log is home between steps")
            .wal
            .install_snapshot(written)
            .map_err(|e| format!("snapshot: {e}"))?;
        tracing::info!(
            op,
            bytes,
            duration_s = duration.as_secs_f64(),
            "snapshot written"
        );
        Ok(())
    }
}

impl<V: Vfs> Drop for NodeCore<V> {
    fn drop(&mut self) {
        // A snapshot being written is finished and installed (a failure here only means the
        // next open replays more of the log).
        // A pending batch is durable: applying it hands its replies over (and lets the
        // archiver and the snapshot see it).
        let _ = self.flush();
        let _ = self.install_snapshot(true);
        // Everything acknowledged was synced already; this only flushes a pulse-only tail.
        if self.config.sync
            && let Some(log) = &mut self.log
        {
            let _ = log.wal.sync();
        }
    }
}

impl<V: Vfs> NodeCore<V>
where
    Wal<V>: Send,
{
    /// The pipelined commit the node's writer uses under load: logs and syncs `batch` on a
    /// helper thread while this thread applies the pending batch (logged and synced by the
    /// previous call, so durable), then leaves `batch` pending. The fsync of one batch and the
    /// apply of the one before it overlap; a batch is still applied only once durable, so
    /// readers never see state that a crash could take back. The caller calls
    /// [`NodeCore::flush`] when no batch follows. On an error, as [`NodeCore::commit`]; the
    /// pending batch was durable, so it is applied and its replies handed over whatever
    /// happens to `batch`.
    pub fn commit_overlapped(&mut self, batch: Batch, on_durable: OnDurable) -> Result<(), String> {
        let result = self.commit_overlapped_inner(batch, on_durable);
        self.fail_on_error(result)
    }

    fn commit_overlapped_inner(
        &mut self,
        batch: Batch,
        on_durable: OnDurable,
    ) -> Result<(), String> {
        let op = match self.log_prepare(&batch) {
            Ok(op) => op,
            Err(reason) => {
                // The pending batch is durable: hand its replies over before stopping.
                let _ = self.flush();
                return Err(reason);
            }
        };
        let Some(previous) = self.pending.take() else {
            self.log_inline(&batch)?;
            self.pending = Some(Pending {
                op,
                batch,
                on_durable,
            });
            return Ok(());
        };
        let mut log = self.log.take().expect("the log is home between steps");
        let sync = self.config.sync;
        let (log, written, applied) = std::thread::scope(|scope| {
            let helper = std::thread::Builder::new()
                .name("elevenfold-log".into())
                .spawn_scoped(scope, || {
                    let written = log.write(op, &batch, sync);
                    (log, written)
                })
                .expect("spawning the log thread");
            let applied = self.apply_durable(previous.op, &previous.batch, previous.on_durable);
            let (log, written) = helper
                .join()
                .unwrap_or_else(|payload| panic::resume_unwind(payload));
            (log, written, applied)
        });
        self.log = Some(log);
        let bytes = written?;
        self.logged(op, &batch, bytes);
        applied?;
        self.pending = Some(Pending {
            op,
            batch,
            on_durable,
        });
        Ok(())
    }
}

/// Whether `batch` can be applied as op `op` after op `last_op` at engine time
/// `commit_timestamp` (`StateMachine::apply` asserts it):
/// `op` is the next op, and the batch's engine time is above the state's with room for a
/// timestamp per event, all after the state's last (a pulse needs one). Checked before every
/// apply, replayed or new; data checked only by checksums (a buggy writer, an edit) can break
/// it (fuzz finding F3, `docs/fuzzing.md`). The error says what does not follow.
fn batch_follows(
    last_op: u64,
    commit_timestamp: u64,
    op: u64,
    batch: &Batch,
) -> Result<(), String> {
    if last_op.checked_add(1) != Some(op) {
        return Err(format!("op {op} does not follow op {last_op}"));
    }
    let timestamp_count = batch.timestamp_count();
    let follows = batch
        .timestamp
        .checked_sub(timestamp_count.max(1))
        .is_some_and(|before| before >= commit_timestamp);
    if !follows {
        return Err(format!(
            "batch timestamp {} with {timestamp_count} event timestamps does not follow engine \
             time {commit_timestamp}",
            batch.timestamp
        ));
    }
    Ok(())
}

/// Applies a replayed batch. A panic in apply would be a bug (or data past every check): it is
/// caught here and turned into a refusal naming the op; the caller drops the half-applied state
/// with the failed open, so nothing observes it. (A panic in a *new* batch's apply is not caught:
/// the batch is durable by then, and the next open refuses it here instead of crash-looping.)
fn replay_apply(state: &mut StateMachine, op: u64, batch: &Batch) -> Result<(), OpenError> {
    panic::catch_unwind(AssertUnwindSafe(|| state.apply(op, batch)))
        .map(drop)
        .map_err(|payload| OpenError::ReplayPanicked {
            op,
            message: panic_message(payload.as_ref()),
        })
}

/// The message of a caught panic.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string())
}

/// Hands the state machine the evicted transfers `batch` may read. A second round is needed
/// only after a first that read something: an evicted post or void names a pending transfer
/// that may be evicted too.
fn prefetch<V: Vfs>(
    state: &mut StateMachine,
    batch: &Batch,
    cold: &ColdRecords<V>,
) -> Result<(), storage::StorageError> {
    let mut needs = Vec::new();
    for _round in 0..2 {
        needs.clear();
        state.prefetch_needs(batch, &mut needs);
        if needs.is_empty() {
            break;
        }
        for &position in &needs {
            state.prefetch(position, cold.read(position)?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
