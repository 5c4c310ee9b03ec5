//! Recovery refuses, with an `OpenError` naming the op, data whose checksums pass but which
//! cannot be applied (fuzz findings F3 and F4, `docs/fuzzing.md`): a log entry whose engine
//! time does not follow the state, a snapshot of another op than its file; engine time at the
//! end of u64 neither panics nor reaches the log; a panic in a replayed apply is a refusal.
//! Each bad directory is written through `storage::Wal` over `MemVfs`, as a buggy writer would.

use std::path::Path;

use engine::{Batch, Reply, Request, StateMachine, encode_batch};
use ledger::Account;
use storage::{MemVfs, Options, Wal};

use super::{NodeCore, replay_apply};
use crate::snapshotter::CHUNKS_MAX;
use crate::{Config, OpenError};

const DIR: &str = "/data";

fn account(id: u128) -> Account {
    Account {
        id,
        ledger: 1,
        code: 1,
        ..Account::default()
    }
}

fn accounts(ids: &[u128]) -> Request {
    Request::CreateAccounts(ids.iter().map(|&id| account(id)).collect())
}

fn config() -> Config {
    Config::new(DIR)
}

fn open(vfs: &MemVfs) -> Result<NodeCore<MemVfs>, OpenError> {
    NodeCore::open(vfs.clone(), config(), 1).map(|(core, _)| core)
}

/// Writes `batches` as log entries 1, 2, ... (and a snapshot of `snapshot` as of its op, at
/// the file op `snapshot_file_op`), bypassing `NodeCore`'s checks.
fn write_log(vfs: &MemVfs, batches: &[Batch], snapshot: Option<(u64, &StateMachine)>) {
    let (mut wal, _) =
        Wal::open_with(vfs.clone(), Path::new(DIR), Options::default()).expect("the log opens");
    for (op, batch) in (1..).zip(batches) {
        let mut bytes = Vec::new();
        encode_batch(batch, &mut bytes);
        wal.append(op, &bytes).expect("appends");
    }
    wal.sync().expect("syncs");
    if let Some((file_op, state)) = snapshot {
        wal.write_snapshot(file_op, &state.encode_snapshot())
            .expect("the snapshot is written");
    }
}

fn batch(timestamp: u64, requests: Vec<Request>) -> Batch {
    Batch {
        timestamp,
        requests,
    }
}

// Goal (fuzz finding F3): a log entry whose engine time does not follow the state is refused
// with `BatchOutOfOrder` naming its op, before it is applied: a timestamp that goes back, one
// that repeats, and one above the last but without room for a timestamp per event. The first
// used to panic in `StateMachine::apply` ("batch timestamps increase"); the last was applied
// with event timestamps at or below the previous batch's.
#[test]
fn log_entries_whose_time_does_not_follow_are_refused() {
    let first = batch(1_000, vec![accounts(&[1, 2])]);
    for (timestamp, ids) in [(500, &[3][..]), (1_000, &[3]), (1_001, &[3, 4])] {
        let vfs = MemVfs::new();
        write_log(
            &vfs,
            &[first.clone(), batch(timestamp, vec![accounts(ids)])],
            None,
        );
        let error = open(&vfs).err().expect("refused");
        assert!(
            matches!(&error, OpenError::BatchOutOfOrder { op: 2, .. }),
            "timestamp {timestamp}: {error:?}"
        );
        assert!(error.to_string().contains("log entry op 2"), "{error}");
    }
    // With room for its events (1,000 + two timestamps), the same entry is fine.
    let vfs = MemVfs::new();
    write_log(&vfs, &[first, batch(1_002, vec![accounts(&[3, 4])])], None);
    let core = open(&vfs).expect("recovers");
    assert_eq!(core.read(|s| (s.op(), s.commit_timestamp())), (2, 1_002));
}

// Goal (fuzz finding F3): engine time at the very end of u64 does not panic anywhere: a batch
// stamped u64::MAX with a credit command applies (the credit clock and the engine's timestamp
// walk used to overflow), replays, and then `stamp` saturates and `commit` refuses the next
// batch before logging it, so the log stays recoverable.
#[test]
fn engine_time_at_the_end_of_u64_is_refused_not_a_panic() {
    let vfs = MemVfs::new();
    let mut core = open(&vfs).expect("a new directory opens");
    let set_limit = Request::Credit(vec![credit::Command::SetLimit {
        line_id: 7,
        limit: 1,
    }]);
    let last = batch(u64::MAX, vec![set_limit]);
    let mut replies = None;
    core.commit(&last, |r| replies = Some(r)).expect("commits");
    assert_eq!(
        replies,
        Some(vec![Reply::Credit(vec![
            credit::CreditResult::LineNotFound
        ])])
    );
    drop(core);
    let mut core = open(&vfs).expect("the log replays");
    assert_eq!(core.read(|s| (s.op(), s.commit_timestamp())), (1, u64::MAX));
    let next = core.stamp(5, vec![accounts(&[1])]);
    assert_eq!(next.timestamp, u64::MAX, "stamp saturates");
    let mut replied = false;
    let error = core
        .commit(&next, |_| replied = true)
        .expect_err("no engine time left");
    assert!(error.starts_with("batch refused before logging"), "{error}");
    assert!(!replied);
    drop(core);
    let core = open(&vfs).expect("still recovers");
    assert_eq!(
        core.read(StateMachine::op),
        1,
        "the refused batch was not logged"
    );
}

// Goal (fuzz finding F4): a snapshot file whose payload holds the state of another op is
// refused with `SnapshotOp`; recovery used to replay from the payload's op and open at a state
// that did not match its log (the next append then tripped `Wal::append`'s assertion).
#[test]
fn a_snapshot_of_another_op_is_refused() {
    let batches = [
        batch(1_000, vec![accounts(&[1])]),
        batch(2_000, vec![accounts(&[2])]),
        batch(3_000, vec![accounts(&[3])]),
    ];
    let mut state = StateMachine::new(1);
    state.apply(1, &batches[0]);
    let vfs = MemVfs::new();
    write_log(&vfs, &batches, Some((2, &state)));
    let error = open(&vfs).err().expect("refused");
    assert!(
        matches!(error, OpenError::SnapshotOp { op: 2, state_op: 1 }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "snapshot at op 2 holds the state of op 1, not of its own op"
    );
    // The snapshot of the right op recovers.
    state.apply(2, &batches[1]);
    let vfs = MemVfs::new();
    write_log(&vfs, &batches, Some((2, &state)));
    assert_eq!(open(&vfs).expect("recovers").read(StateMachine::op), 3);
}

// Goal: the last line of defence: a panic while applying a replayed batch (here the engine's
// own op-order assertion, reached by skipping the checks before it) is a `ReplayPanicked`
// refusal naming the op and the message, not a crash of the process.
#[test]
fn a_panic_in_a_replayed_apply_is_a_refusal() {
    let mut state = StateMachine::new(1);
    let error = replay_apply(&mut state, 5, &batch(1_000, vec![accounts(&[1])]))
        .expect_err("op 5 cannot follow op 0");
    let OpenError::ReplayPanicked { op, message } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(*op, 5);
    assert!(message.contains("batches apply in log order"), "{message}");
    assert!(
        error
            .to_string()
            .starts_with("replaying log entry op 5 panicked")
    );
}

fn transfers(first_id: u128, count: u128) -> Request {
    Request::CreateTransfers(
        (first_id..first_id + count)
            .map(|id| ledger::Transfer {
                id,
                debit_account_id: 1 + id % 3,
                credit_account_id: 1 + (id + 1) % 3,
                amount: id % 7 + 1,
                ledger: 1,
                code: 1,
                // Some ids repeat across batches: answered `exists`, from the pending batch too.
                ..ledger::Transfer::default()
            })
            .collect(),
    )
}

/// Ten batches: accounts, then transfers whose ids overlap the batch before (so a batch reads
/// what the batch before it stored).
fn pipeline_batches() -> Vec<Vec<Request>> {
    let mut batches = vec![vec![accounts(&[1, 2, 3])]];
    for n in 0..9u128 {
        batches.push(vec![transfers(1 + n * 40, 50), transfers(10_000 + n, 1)]);
    }
    batches
}

// Goal: the pipelined commit (log and sync one batch while applying the one before) answers
// and ends exactly as the one-step commit, the replies of each batch arriving once it is applied;
// until then readers see the state without it (a batch is applied only once durable, and a
// pending batch only on the next commit or a flush).
#[test]
fn overlapped_commits_answer_as_sequential_ones() {
    let sequential_vfs = MemVfs::new();
    let mut sequential = open(&sequential_vfs).expect("opens");
    let overlapped_vfs = MemVfs::new();
    let mut overlapped = open(&overlapped_vfs).expect("opens");
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut expected = Vec::new();
    for (index, requests) in pipeline_batches().into_iter().enumerate() {
        let now = 1_000_000 * (index as u64 + 1);
        let batch = sequential.stamp(now, requests.clone());
        sequential
            .commit(&batch, |r| expected.push(r))
            .expect("commits");
        let batch = overlapped.stamp(now, requests);
        let sink = std::sync::Arc::clone(&received);
        overlapped
            .commit_overlapped(
                batch,
                Box::new(move |r| sink.lock().expect("not poisoned").push(r)),
            )
            .expect("commits");
        assert!(overlapped.has_pending());
        // Applied and answered: every batch before this one; this one is logged and synced.
        assert_eq!(overlapped.read(StateMachine::op), index as u64);
        assert_eq!(received.lock().expect("not poisoned").len(), index);
    }
    overlapped.flush().expect("flushes");
    assert!(!overlapped.has_pending());
    assert_eq!(*received.lock().expect("not poisoned"), expected);
    assert!(
        expected.iter().flatten().any(|reply| matches!(reply,
            Reply::CreateTransfers(results)
                if results.contains(&ledger::CreateTransferResult::Exists))),
        "the workload retries ids of the batch before"
    );
    assert_eq!(
        overlapped.read(StateMachine::encode_snapshot),
        sequential.read(StateMachine::encode_snapshot)
    );
    drop(overlapped);
    let reopened = open(&overlapped_vfs).expect("recovers");
    assert_eq!(
        reopened.read(StateMachine::encode_snapshot),
        sequential.read(StateMachine::encode_snapshot)
    );
}

// Goal: when the fsync of a batch fails in the pipelined commit, the batch before it (synced by
// the previous call) is still applied and answered, the failed one never is, and the core
// refuses every later step (fsyncgate); after a crash the answered batch is there.
#[test]
fn a_failed_sync_in_the_pipeline_answers_only_the_durable_batch() {
    let vfs = MemVfs::new();
    let mut core = open(&vfs).expect("opens");
    let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut requests = pipeline_batches().into_iter();
    for (index, label) in ["first", "second"].into_iter().enumerate() {
        let batch = core.stamp(
            1_000 * (index as u64 + 1),
            requests.next().expect("a batch"),
        );
        if index == 1 {
            vfs.fail_sync_after(0);
        }
        let sink = std::sync::Arc::clone(&answered);
        let committed = core.commit_overlapped(
            batch,
            Box::new(move |_| sink.lock().expect("not poisoned").push(label)),
        );
        assert_eq!(committed.is_ok(), index == 0, "{committed:?}");
    }
    assert_eq!(*answered.lock().expect("not poisoned"), ["first"]);
    assert_eq!(core.read(StateMachine::op), 1);
    let later = core.stamp(9_000, requests.next().expect("a batch"));
    assert!(
        core.commit(&later, |_| panic!("answered after a failure"))
            .is_err()
    );
    assert!(core.flush().is_err());
    drop(core);
    vfs.crash();
    vfs.restart();
    let core = open(&vfs).expect("recovers");
    assert_eq!(core.read(StateMachine::op), 1, "the unsynced batch is gone");
    assert_eq!(core.read(|s| s.ledger().account_count()), 3);
}

// Goal: a snapshot streams to the snapshot thread in many chunks whose buffers are reused:
// never more than `CHUNKS_MAX` exist, over snapshots of many times that many chunks (the writer
// waits for one to come back); and the file they make is the state: the directory reopens from
// the newest snapshot to the state the node had.
#[test]
fn snapshots_stream_in_reused_chunks() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = Config {
        snapshot_log_bytes_min: 4096,
        snapshot_chunk_bytes: 256,
        ..Config::new(dir.path())
    };
    let (mut core, _) = NodeCore::open_threaded(config.clone(), 1).expect("opens");
    let (mut handed, mut allocated, mut newest) = (Vec::new(), 0, None);
    for (index, requests) in pipeline_batches().into_iter().cycle().take(60).enumerate() {
        let now = 1_000_000 * (index as u64 + 1);
        let batch = core.stamp(now, requests);
        core.commit(&batch, |_| {}).expect("commits");
        if core.snapshotter.in_flight {
            handed.push(core.snapshotter.handed);
            allocated += core.snapshotter.allocated;
            newest = Some(core.read(StateMachine::op));
            core.install_snapshot(true).expect("snapshot written");
            assert_eq!(core.snapshotter.pooled(), core.snapshotter.live);
        }
    }
    assert!(handed.len() >= 3, "snapshots taken: {handed:?}");
    assert!(
        handed.iter().any(|&chunks| chunks > 4 * CHUNKS_MAX),
        "snapshots span many chunks: {handed:?}"
    );
    assert!(allocated <= CHUNKS_MAX, "{allocated} chunks allocated");
    let expected = core.read(StateMachine::encode_snapshot);
    drop(core);
    let (reopened, report) = NodeCore::open_threaded(config, 1).expect("recovers");
    assert_eq!(report.snapshot_op, newest);
    assert_eq!(reopened.read(StateMachine::encode_snapshot), expected);
}
