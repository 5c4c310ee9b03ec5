//! Tests of the CLI: flag parsing, the client functions against a real in-process server, and
//! `inspect` on a real data directory.

use std::path::Path;

use clap::{CommandFactory, Parser};
use serde_json::json;

use crate::client::{
    AccountCreateArgs, Client, ClientError, LimitArgs, TransferCreateArgs, rejections,
};
use crate::{Cli, Command, inspect};

/// Starts a server on an ephemeral port; returns its address and a stop function's pieces.
pub(crate) async fn start_server(
    dir: &Path,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let server = server::Server::bind(server::ServerConfig::new(dir, "127.0.0.1:0"))
        .await
        .expect("server starts");
    let addr = server.local_addr().expect("bound").to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));
    (addr, stop, task)
}

fn account_args(id: u128, flags: &[&str]) -> AccountCreateArgs {
    AccountCreateArgs {
        id,
        ledger: 1,
        code: 1,
        flags: flags.iter().map(|f| f.to_string()).collect(),
        user_data_128: 0,
        user_data_64: 0,
        user_data_32: 0,
    }
}

fn transfer_args(id: u128, debit: u128, credit: u128, amount: u128) -> TransferCreateArgs {
    TransferCreateArgs {
        id,
        debit_account_id: debit,
        credit_account_id: credit,
        amount,
        ledger: 1,
        code: 1,
        flags: Vec::new(),
        timeout: 0,
        pending_id: 0,
        user_data_128: 0,
        user_data_64: 0,
        user_data_32: 0,
    }
}

// Goal: the clap definitions are consistent, and the documented command lines parse (including
// `--addr` after the subcommand and comma-separated flags).
#[test]
fn command_lines_parse() {
    Cli::command().debug_assert();
    let cli = Cli::try_parse_from([
        "elevenfold",
        "accounts",
        "create",
        "--id",
        "1",
        "--ledger",
        "1",
        "--code",
        "1",
        "--flags",
        "history,debits_must_not_exceed_credits",
        "--addr",
        "http://127.0.0.1:9",
    ])
    .expect("parses");
    let Command::Accounts(args) = cli.command else {
        panic!("accounts command expected");
    };
    assert_eq!(args.server.addr, "http://127.0.0.1:9");
    let crate::client::AccountsCommand::Create(create) = args.command else {
        panic!("create expected");
    };
    assert_eq!(create.flags, ["history", "debits_must_not_exceed_credits"]);
    for line in [
        &["elevenfold", "accounts", "get", "1"][..],
        &[
            "elevenfold",
            "accounts",
            "limit",
            "1",
            "--debit-limit",
            "5000",
        ],
        &["elevenfold", "transfers", "get", "7"],
        &[
            "elevenfold",
            "transfers",
            "create",
            "--id",
            "7",
            "--debit-account-id",
            "1",
            "--credit-account-id",
            "2",
            "--amount",
            "10",
            "--flags",
            "pending",
            "--timeout",
            "60",
        ],
        &[
            "elevenfold",
            "start",
            "--data-dir",
            "/tmp/x",
            "--http",
            "127.0.0.1:0",
            "--addr",
            "127.0.0.1:0",
        ],
        &["elevenfold", "inspect", "--data-dir", "/tmp/x"],
        &[
            "elevenfold",
            "bench",
            "ledger",
            "--mode",
            "tcp",
            "--batch",
            "1",
            "--clients",
            "10000",
            "--json",
        ],
        &[
            "elevenfold",
            "bench",
            "ledger",
            "--mode",
            "tcp",
            "--addr",
            "127.0.0.1:3000",
            "--seed",
            "2",
            "--target-rate",
            "500000",
            "--connections",
            "4",
        ],
    ] {
        Cli::try_parse_from(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    }
    // An id that is not a u128 fails in the CLI, before any request.
    assert!(Cli::try_parse_from(["elevenfold", "accounts", "get", "-1"]).is_err());
    // A target rate of zero offers nothing: refused by the parser.
    assert!(
        Cli::try_parse_from([
            "elevenfold",
            "bench",
            "ledger",
            "--mode",
            "tcp",
            "--target-rate",
            "0"
        ])
        .is_err()
    );
}

// Goal: every client call works against a real server, and each failure class maps to its
// ClientError (problem, unreachable) or shows up as a per-event rejection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_calls_against_a_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (addr, stop, task) = start_server(dir.path()).await;
    let client = Client::new(&addr).expect("client");

    let created = client
        .create_accounts(vec![
            account_args(1, &["debits_must_not_exceed_credits"]).to_json(),
            account_args(2, &[]).to_json(),
        ])
        .await
        .expect("created");
    assert_eq!(created, json!({ "results": ["ok", "ok"] }));
    assert!(rejections(&created).is_empty());

    let limit = LimitArgs {
        id: 1,
        debit_limit: Some(100),
        credit_limit: None,
    };
    let limited = client
        .set_limits(vec![limit.to_json()])
        .await
        .expect("limited");
    assert!(rejections(&limited).is_empty(), "{limited}");

    let moved = client
        .create_transfers(vec![
            transfer_args(10, 1, 2, 60).to_json(),
            transfer_args(11, 1, 2, 60).to_json(),
        ])
        .await
        .expect("answered");
    assert_eq!(rejections(&moved), [(1, "exceeds_credits".to_string())]);

    let account = client.get_account(1).await.expect("found");
    assert_eq!(account["debits_posted"], "60");
    assert_eq!(account["debit_limit"], "100");
    let transfer = client.get_transfer(10).await.expect("found");
    assert_eq!(transfer["amount"], "60");

    match client.get_transfer(11).await {
        Err(ClientError::Problem { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (404, "transfer_not_found"));
        }
        other => panic!("expected a problem, got {other:?}"),
    }
    let mut bad = transfer_args(12, 1, 2, 1);
    bad.flags = vec!["bogus".to_string()];
    match client.create_transfers(vec![bad.to_json()]).await {
        Err(ClientError::Problem {
            status,
            code,
            detail,
            ..
        }) => {
            assert_eq!((status, code.as_str()), (400, "invalid_value"));
            assert!(detail.contains("bogus"), "{detail}");
        }
        other => panic!("expected a problem, got {other:?}"),
    }

    let _ = stop.send(());
    task.await.expect("no panic").expect("clean shutdown");

    // Nothing listens there any more.
    match Client::new(&addr).expect("client").get_account(1).await {
        Err(error @ ClientError::Unreachable { .. }) => {
            assert!(error.to_string().contains("is `elevenfold start` running?"));
        }
        other => panic!("expected unreachable, got {other:?}"),
    }
}

// Goal: `inspect` lists the segments of a real data directory as ok, and reports corruption
// (a flipped payload byte with valid frames after it) as CORRUPT, which exits 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_reports_ok_then_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (addr, stop, task) = start_server(dir.path()).await;
    let client = Client::new(&addr).expect("client");
    // Three requests one after another: three batches, three WAL frames.
    for id in 1..=3 {
        client
            .create_accounts(vec![account_args(id, &[]).to_json()])
            .await
            .expect("created");
    }
    let _ = stop.send(());
    task.await.expect("no panic").expect("clean shutdown");

    let clean = inspect::render(&storage::inspect(dir.path()).expect("inspects"));
    assert!(!clean.corrupt, "{}", clean.text);
    assert!(clean.text.starts_with("KIND"), "{}", clean.text);
    assert!(clean.text.contains("segment"), "{}", clean.text);
    assert!(clean.text.ends_with(": ok"), "{}", clean.text);

    let inspection = storage::inspect(dir.path()).expect("inspects");
    let segment = &inspection.segments[0].path;
    let mut bytes = std::fs::read(segment).expect("read segment");
    bytes[storage::FRAME_HEADER_SIZE + 1] ^= 0xFF;
    std::fs::write(segment, bytes).expect("write segment");

    let broken = inspect::render(&storage::inspect(dir.path()).expect("inspects"));
    assert!(broken.corrupt, "{}", broken.text);
    assert!(broken.text.contains("CORRUPT at byte 0"), "{}", broken.text);
    let code = inspect::run(&inspect::InspectArgs {
        data_dir: dir.path().to_path_buf(),
    })
    .expect("runs");
    assert_eq!(code, std::process::ExitCode::from(1));
}

// Goal: `inspect` shows the record file (pages, records) as ok, and a page that fails its
// checksum as CORRUPT at that page's byte offset; a partial last page alone is not corruption.
#[test]
fn inspect_reports_the_record_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut records = storage::RecordFile::open(storage::OsVfs, dir.path()).expect("opens");
    let page_count = 3u64;
    let record_count = page_count * storage::RECORDS_PER_PAGE;
    let record = [7u8; storage::RECORD_SIZE];
    records
        .append(&vec![record; record_count as usize])
        .expect("appends");
    records.sync().expect("syncs");
    let path = records.path().to_path_buf();
    drop(records);

    let mut bytes = std::fs::read(&path).expect("read records");
    bytes.extend_from_slice(&[1; 100]);
    std::fs::write(&path, &bytes).expect("write records");
    let torn = inspect::render(&storage::inspect(dir.path()).expect("inspects"));
    assert!(!torn.corrupt, "{}", torn.text);
    assert!(torn.text.contains("transfers.records"), "{}", torn.text);
    assert!(torn.text.contains("3 page(s)"), "{}", torn.text);
    assert!(
        torn.text.contains("torn partial page of 100 bytes"),
        "{}",
        torn.text
    );
    assert!(
        torn.text
            .ends_with(&format!("{record_count} record(s): ok")),
        "{}",
        torn.text
    );

    bytes[storage::RECORD_PAGE_SIZE + 1000] ^= 1;
    std::fs::write(&path, &bytes).expect("write records");
    let broken = inspect::render(&storage::inspect(dir.path()).expect("inspects"));
    assert!(broken.corrupt, "{}", broken.text);
    assert!(
        broken
            .text
            .contains("CORRUPT: 1 bad page(s), the first at byte 4096: record page checksum"),
        "{}",
        broken.text
    );
}
