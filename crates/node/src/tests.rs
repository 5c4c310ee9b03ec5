//! Node tests: concurrent requests are coalesced and all answered; restart recovers everything
//! acknowledged; expiry happens without traffic.

use std::time::Duration;

use engine::{Reply, Request};
use ledger::{Account, CreateTransferResult, Transfer, TransferFlags};

use crate::{Config, Node, NodeError};

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
    let config = Config {
        snapshot_log_bytes_min: 64 * 1024,
        ..Config::new(dir.path())
    };
    let (node, _) = Node::open(config.clone()).expect("opens");
    node.execute_blocking(Request::CreateAccounts(vec![account(1), account(2)]))
        .expect("accounts");
    for batch in 0..20u128 {
        let transfers = (0..100).map(|i| transfer(1 + batch * 100 + i, 3)).collect();
        node.execute_blocking(Request::CreateTransfers(transfers))
            .expect("transfers");
    }
    let before = node.read(|s| s.encode_snapshot());
    node.shutdown();
    let (node, report) = Node::open(config).expect("reopens");
    assert!(
        report.snapshot_op.is_some(),
        "a snapshot was taken: {report:?}"
    );
    assert!(report.replayed_batches < 21, "{report:?}");
    assert_eq!(node.read(|s| s.encode_snapshot()), before);
    node.shutdown();
}

fn result_code_docs() -> String {
    use ledger::{CreateAccountResult, CreateTransferResult, SetLimitResult};
    let mut out = String::from(
        "# Result codes\n\n\
         Every event gets exactly one result. When several rejections apply, the one listed first \
         wins (precedence order). Numbers are stable and never reused; binary formats carry them.\n\
         Generated from `crates/ledger/src/result.rs` by the test `result_code_docs_are_current` \
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
