//! Node tests: concurrent requests are coalesced and all answered; restart recovers everything
//! acknowledged; expiry happens without traffic; the node core recovers over `MemVfs` after a
//! transient read fault.

use std::time::Duration;

use engine::{Reply, Request, StateMachine};
use ledger::{Account, AccountFlags};
use ledger::{AccountFilter, ColdStore, CreateTransferResult, Transfer, TransferFlags};

use crate::{Config, Node, NodeCore, NodeError};

fn account(id: u128) -> Account {
    Account {
        id,
        ledger: 1,
        code: 1,
        ..Account::default()
    }
}

fn transfer(id: u128, amount: u128) -> Transfer {
    Transfer {
        id,
        debit_account_id: 1,
        credit_account_id: 2,
        amount,
        ledger: 1,
        code: 1,
        ..Transfer::default()
    }
}

/// A node's config in `dir` that takes a snapshot once 64 KiB of log has been written since the
/// last one.
fn snapshot_every_64_kib(dir: &std::path::Path) -> Config {
    Config {
        snapshot_log_bytes_min: 64 * 1024,
        ..Config::new(dir)
    }
}

fn open(dir: &std::path::Path) -> Node {
    Node::open(Config::new(dir)).expect("node opens").0
}

// Goal: many threads submitting one transfer each all get `ok`, and every transfer is applied;
// after a restart the state is the same (every acknowledged transfer was durable).
#[test]
fn concurrent_requests_are_all_durable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = open(dir.path());
    let reply = node.execute_blocking(Request::CreateAccounts(vec![account(1), account(2)]));
    assert!(matches!(reply, Ok(Reply::CreateAccounts(r)) if r.iter().all(|c| c.name() == "ok")));
    let threads: Vec<_> = (0..8u128)
        .map(|thread| {
            let node = node.clone();
            std::thread::spawn(move || {
                for i in 0..50u128 {
                    let id = 1 + thread * 1000 + i;
                    let reply =
                        node.execute_blocking(Request::CreateTransfers(vec![transfer(id, 1)]));
                    assert_eq!(
                        reply,
                        Ok(Reply::CreateTransfers(vec![CreateTransferResult::Ok]))
                    );
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("thread ok");
    }
    let (balance, batches) = node.read(|s| {
        (
            s.ledger()
                .lookup_account(2)
                .expect("exists")
                .0
                .credits_posted,
            s.op(),
        )
    });
    assert_eq!(balance, 400);
    assert!(batches <= 401, "{batches} batches for 401 requests");
    node.shutdown();
    let node = open(dir.path());
    let recovered = node.read(|s| {
        (
            s.ledger()
                .lookup_account(2)
                .expect("exists")
                .0
                .credits_posted,
            s.ledger().transfer_count(),
        )
    });
    assert_eq!(recovered, (400, 400));
    node.shutdown();
}

// Goal: malformed requests are refused before they reach the log, and shutdown refuses new work.
#[test]
fn invalid_requests_and_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = open(dir.path());
    assert!(matches!(
        node.execute_blocking(Request::CreateAccounts(vec![])),
        Err(NodeError::InvalidRequest(_))
    ));
    let too_many = (1..=8190).map(account).collect();
    assert!(matches!(
        node.execute_blocking(Request::CreateAccounts(too_many)),
        Err(NodeError::InvalidRequest(_))
    ));
    assert_eq!(node.read(|s| s.op()), 0);
    node.shutdown();
    assert!(!node.ready());
    assert_eq!(
        node.execute_blocking(Request::CreateAccounts(vec![account(1)])),
        Err(NodeError::ShuttingDown)
    );
}

// Goal: a pending transfer expires by engine time with no further traffic (a logged pulse), and
// the expiry survives restart.
#[test]
fn pending_transfers_expire_without_traffic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = open(dir.path());
    node.execute_blocking(Request::CreateAccounts(vec![account(1), account(2)]))
        .expect("accounts");
    let pending = Transfer {
        timeout: 1,
        flags: TransferFlags(TransferFlags::PENDING),
        ..transfer(1, 7)
    };
    node.execute_blocking(Request::CreateTransfers(vec![pending]))
        .expect("pending");
    assert_eq!(
        node.read(|s| s
            .ledger()
            .lookup_account(1)
            .expect("exists")
            .0
            .debits_pending),
        7
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while node.read(|s| {
        s.ledger()
            .lookup_account(1)
            .expect("exists")
            .0
            .debits_pending
    }) != 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "pending transfer did not expire"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    node.shutdown();
    let node = open(dir.path());
    assert_eq!(
        node.read(|s| s.ledger().pending_status(1)),
        Some(ledger::PendingStatus::Expired)
    );
    node.shutdown();
}

// Goal: snapshots are taken as the log grows, and recovery from snapshot plus replay gives the
// same state as before the restart.
#[test]
fn snapshot_then_replay_recovers_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = snapshot_every_64_kib(dir.path());
    let (node, _) = Node::open(config.clone()).expect("opens");
    node.execute_blocking(Request::CreateAccounts(vec![account(1), account(2)]))
        .expect("accounts");
    for batch in 0..20u128 {
        let transfers = (0..100).map(|i| transfer(1 + batch * 100 + i, 3)).collect();
        node.execute_blocking(Request::CreateTransfers(transfers))
            .expect("transfers");
    }
    let before = canonical_state(&node);
    node.shutdown();
    let (node, report) = Node::open(config).expect("reopens");
    assert!(
        report.snapshot_op.is_some(),
        "a snapshot was taken: {report:?}"
    );
    assert!(report.replayed_batches < 21, "{report:?}");
    assert_eq!(canonical_state(&node), before);
    node.shutdown();
}

// Goal: a process that never writes a snapshot's worth of log before it stops (a crash loop,
// or short-lived runs) still takes snapshots: the log replayed at open counts toward the next
// one, so the log, and the time to recover, do not grow without bound.
#[test]
fn replayed_log_counts_toward_the_next_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = snapshot_every_64_kib(dir.path());
    let mut written = 0;
    let mut last = None;
    // 100 transfers of 128 bytes a run: about 12.8 KiB, a fifth of the snapshot threshold.
    for run in 0..12u128 {
        let (node, report) = Node::open(config.clone()).expect("opens");
        if run == 0 {
            node.execute_blocking(Request::CreateAccounts(vec![account(1), account(2)]))
                .expect("accounts");
        }
        let transfers = (0..100).map(|i| transfer(1 + run * 100 + i, 1)).collect();
        node.execute_blocking(Request::CreateTransfers(transfers))
            .expect("transfers");
        written += 100;
        node.shutdown();
        last = Some(report);
    }
    let (node, report) = Node::open(config).expect("reopens");
    assert!(
        report.snapshot_op.is_some(),
        "twelve short runs wrote about 150 KiB of log and none took a snapshot: {report:?}"
    );
    assert!(report.replayed_events < written, "{report:?} {last:?}");
    let balance = node
        .read(|state| {
            state
                .ledger()
                .lookup_account(2)
                .map(|(a, _)| a.credits_posted)
        })
        .expect("account 2 exists");
    assert_eq!(balance, 1200);
    node.shutdown();
}

/// The node's whole state, independent of how much of it was evicted: the snapshot of a copy
/// with every transfer evicted, followed by every transfer's record.
fn canonical_state(node: &Node) -> Vec<u8> {
    node.read(|state| {
        let cold = node.cold();
        let mut restore =
            StateMachine::decode_snapshot(&state.encode_snapshot(), 1).expect("snapshot decodes");
        let floor = restore.cold_floor();
        let mut transfers = Vec::new();
        for position in 0..floor {
            let transfer = cold.read(position).expect("cold transfer reads");
            restore
                .cold_transfer(&transfer)
                .expect("cold transfer accepted");
            transfers.push(transfer);
        }
        let mut copy = restore.finish().expect("restores");
        transfers.extend_from_slice(copy.ledger().transfers_from(floor));
        copy.evict_below(copy.ledger().transfer_count());
        let mut out = copy.encode_snapshot();
        for transfer in transfers {
            out.extend_from_slice(&transfer.to_bytes());
        }
        out
    })
}

// Goal: transfers evicted to the record file still answer everything the ledger answers from
// memory (idempotent retries, post and void of old pending transfers, lookups, account
// history), before and after a restart that rebuilds the indexes from the record file.
#[test]
fn evicted_transfers_answer_as_if_in_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        // Sync (and so evict) every two pages of records.
        records_sync_bytes: 2 * 31 * 128,
        ..snapshot_every_64_kib(dir.path())
    };
    let (node, _) = Node::open(config.clone()).expect("opens");
    let mut history = account(1);
    history.flags = AccountFlags(AccountFlags::HISTORY);
    node.execute_blocking(Request::CreateAccounts(vec![history, account(2)]))
        .expect("accounts");
    let pending = |id: u128| Transfer {
        flags: TransferFlags(TransferFlags::PENDING),
        ..transfer(id, 7)
    };
    for batch in 0..20u128 {
        let transfers = (0..100)
            .map(|i| {
                let id = 1 + batch * 100 + i;
                if id % 10 == 0 {
                    pending(id)
                } else {
                    transfer(id, 3)
                }
            })
            .collect();
        node.execute_blocking(Request::CreateTransfers(transfers))
            .expect("transfers");
    }
    // Let the archiver's idle sync land, then commit once more so the writer evicts.
    std::thread::sleep(Duration::from_millis(200));
    let create = |transfers: Vec<Transfer>| match node
        .execute_blocking(Request::CreateTransfers(transfers))
        .expect("executes")
    {
        Reply::CreateTransfers(results) => results,
        other => panic!("unexpected reply {other:?}"),
    };
    assert_eq!(create(vec![transfer(5000, 1)]), [CreateTransferResult::Ok]);
    let floor = node.read(|s| s.ledger().cold_floor());
    assert!(floor >= 1000, "most transfers were evicted: floor {floor}");

    let post = |id: u128, pending_id: u128| Transfer {
        id,
        pending_id,
        amount: ledger::AMOUNT_MAX,
        flags: TransferFlags(TransferFlags::POST_PENDING_TRANSFER),
        ..Transfer::default()
    };
    let void = |id: u128, pending_id: u128| Transfer {
        id,
        pending_id,
        flags: TransferFlags(TransferFlags::VOID_PENDING_TRANSFER),
        ..Transfer::default()
    };
    let check = |node: &Node, round: u128| {
        let create = |transfers: Vec<Transfer>| match node
            .execute_blocking(Request::CreateTransfers(transfers))
            .expect("executes")
        {
            Reply::CreateTransfers(results) => results,
            other => panic!("unexpected reply {other:?}"),
        };
        use CreateTransferResult as R;
        // Retries of evicted transfers, with the same and with different fields.
        assert_eq!(
            create(vec![transfer(5, 3), transfer(6, 4), pending(10)]),
            [R::Exists, R::ExistsWithDifferentAmount, R::Exists]
        );
        // An evicted, still open pending transfer is posted; the post retried in the same batch
        // compares against it; a void of it is refused as already posted.
        let id = 10_000 + round * 10;
        assert_eq!(
            create(vec![
                post(id, 20 + round * 10),
                post(id, 20 + round * 10),
                void(id + 1, 20 + round * 10)
            ]),
            [R::Ok, R::Exists, R::PendingTransferAlreadyPosted]
        );
        let cold = node.cold();
        let found = node.read(|s| s.ledger().lookup_transfer(7, cold));
        assert_eq!(found.expect("reads").map(|t| t.amount), Some(3));
        let filter = AccountFilter {
            account_id: 1,
            timestamp_min: 0,
            timestamp_max: 0,
            limit: u32::MAX,
            debits: true,
            credits: true,
            reversed: false,
        };
        let listed = node
            .read(|s| s.ledger().get_account_transfers(&filter, cold))
            .expect("reads");
        let ids: Vec<u128> = listed.iter().take(2000).map(|t| t.id).collect();
        assert_eq!(ids, (1..=2000).collect::<Vec<u128>>());
        let balances = node
            .read(|s| s.ledger().get_account_balances(&filter, cold))
            .expect("reads");
        assert_eq!(balances.len(), listed.len());
    };
    check(&node, 0);
    let before = canonical_state(&node);
    node.shutdown();
    let (node, report) = Node::open(config).expect("reopens");
    assert!(report.cold_transfers > 0, "{report:?}");
    assert_eq!(canonical_state(&node), before);
    check(&node, 1);
    node.shutdown();
}

// Goal (regression, found by the simulator, docs/simulator.md): a read fault on the newest
// snapshot makes recovery fall back to an older state and cut the record file to its cold
// floor; once the fault is gone, the next recovery must not pick the newer snapshot up again
// (its evicted transfers were cut from the record file: it refused with `RecordsMissing`).
// Method: the node core over `MemVfs`, a flip on read of the newest snapshot, open, clear the
// fault, open again.
#[test]
fn transient_read_fault_on_the_newest_snapshot_is_survived() {
    let vfs = storage::MemVfs::new();
    let dir = std::path::Path::new("/data");
    let config = Config {
        snapshot_log_bytes_min: 2048,
        records_sync_bytes: 31 * 128,
        ..Config::new(dir)
    };
    let commit = |core: &mut NodeCore<storage::MemVfs>, now: u64, request: Request| {
        let batch = core.stamp(now, vec![request]);
        let mut replies = None;
        core.commit(&batch, |r| replies = Some(r)).expect("commits");
        replies.expect("acknowledged")
    };
    let (mut core, _) = NodeCore::open(vfs.clone(), config.clone(), 1).expect("opens");
    commit(
        &mut core,
        1,
        Request::CreateAccounts(vec![account(1), account(2)]),
    );
    for batch in 0..40u128 {
        let transfers = (0..20).map(|i| transfer(1 + batch * 20 + i, 1)).collect();
        commit(
            &mut core,
            2 + batch as u64,
            Request::CreateTransfers(transfers),
        );
        core.idle().expect("records sync");
    }
    assert!(
        core.read(|s| s.ledger().cold_floor()) > 0,
        "transfers were evicted"
    );
    drop(core);
    let newest = vfs
        .file_names(dir)
        .into_iter()
        .filter(|name| name.ends_with(".snap"))
        .max()
        .expect("a snapshot was written");
    vfs.flip_on_read(&dir.join(&newest), 300);
    let (core, fallback) = NodeCore::open(vfs.clone(), config.clone(), 2).expect("falls back");
    assert!(fallback.replayed_batches > 0, "{fallback:?}");
    drop(core);
    vfs.clear_read_faults();
    let (core, _) = NodeCore::open(vfs.clone(), config, 3).expect("opens after the fault");
    assert_eq!(core.read(|s| s.ledger().transfer_count()), 800);
    assert_eq!(
        core.read(|s| s
            .ledger()
            .lookup_account(2)
            .expect("exists")
            .0
            .credits_posted),
        800
    );
}

fn result_code_docs() -> String {
    use ledger::{CreateAccountResult, CreateTransferResult, SetLimitResult};
    let mut out = String::from(
        "# Result codes\n\n\
         Every event gets exactly one result. When several rejections apply, the one listed first \
         wins (precedence order). Numbers are stable and never reused; binary formats carry them.\n\
         Generated from `crates/ledger/src/result.rs`, `crates/credit/src/result.rs` and \
         `crates/promotions/src/result.rs` by the \
         test `result_code_docs_are_current` \
         (`UPDATE_DOCS=1 cargo test -p node` rewrites this file).\n",
    );
    let mut table = |title: &str, rows: Vec<(u32, &str)>| {
        out.push_str(&format!(
            "\n## {title}\n\n| precedence | code | number |\n| --- | --- | --- |\n"
        ));
        for (index, (number, name)) in rows.into_iter().enumerate() {
            out.push_str(&format!("| {} | `{name}` | {number} |\n", index + 1));
        }
    };
    table(
        "create_accounts",
        CreateAccountResult::ALL
            .iter()
            .map(|c| (c.number(), c.name()))
            .collect(),
    );
    table(
        "create_transfers",
        CreateTransferResult::ALL
            .iter()
            .map(|c| (c.number(), c.name()))
            .collect(),
    );
    table(
        "set_account_limits",
        SetLimitResult::ALL
            .iter()
            .map(|c| (c.number(), c.name()))
            .collect(),
    );
    table(
        "credit (create_programs and credit commands)",
        credit::CreditResult::ALL
            .iter()
            .map(|c| (c.number(), c.name()))
            .collect(),
    );
    table(
        "promotions (create_campaigns and promotions commands)",
        promotions::PromotionResult::ALL
            .iter()
            .map(|c| (c.number(), c.name()))
            .collect(),
    );
    out.push_str(
        "\nTransient codes (the transfer id is then spent: retrying it answers `id_already_failed`): \
         `debit_account_not_found`, `credit_account_not_found`, `pending_transfer_not_found`, \
         `exceeds_credits`, `exceeds_debits`, `debit_account_already_closed`, \
         `credit_account_already_closed`.\n",
    );
    out
}

// Goal: docs/result-codes.md lists every code in precedence order, so the documentation can
// never drift from the code.
#[test]
fn result_code_docs_are_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/result-codes.md");
    let expected = result_code_docs();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &expected).expect("docs writable");
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/result-codes.md is stale: run UPDATE_DOCS=1 cargo test -p node"
    );
}
