//! Unit tests of the pieces that need no server: the ready-line parser, the dep-info reader,
//! and the shape of the batches the senders draw.

use std::sync::atomic::Ordering;

use ledger::{CreateTransferResult, TransferFlags};

use crate::server::{ready_addr, stale_source};
use crate::workload::{LEDGERS, Prng, Shared, Tag, batch, created, result_of};

#[test]
fn the_ready_line_gives_the_binary_protocol_address() {
    let line = concat!(
        r#"{"timestamp":"2026-11-24T21:37:10.464551Z","level":"INFO","#,
        r#""message":"elevenfold is ready","addr":"127.0.0.1:45763","#,
        r#""tcp_addr":"127.0.0.1:34895","next_step":"curl"}"#
    );
    assert_eq!(
        ready_addr(line),
        Some("127.0.0.1:34895".parse().expect("an address"))
    );
    let other = r#"{"message":"binary protocol listening","tcp_addr":"127.0.0.1:1"}"#;
    assert_eq!(ready_addr(other), None);
}

#[test]
fn a_binary_older_than_a_source_in_its_dep_info_is_stale() {
    let dir = std::env::temp_dir().join(format!("crashtest-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let binary = dir.join("elevenfold");
    let source = dir.join("a source.rs");
    std::fs::write(&binary, "").expect("written");
    std::fs::write(
        dir.join("elevenfold.d"),
        format!(
            "{}: {}\n",
            binary.display(),
            source.display().to_string().replace(' ', "\\ ")
        ),
    )
    .expect("written");
    // The source does not exist yet: nothing is newer.
    assert_eq!(stale_source(&binary), None);
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&source, "").expect("written");
    assert_eq!(stale_source(&binary), Some(source));
    assert_eq!(stale_source(&dir.join("missing")), None);
    std::fs::remove_dir_all(&dir).expect("removed");
}

#[test]
fn results_other_than_ok_and_exists_mean_not_created() {
    let failures = [
        (1, CreateTransferResult::Exists),
        (3, CreateTransferResult::LinkedEventFailed),
    ];
    let codes: Vec<bool> = (0..4).map(|i| created(result_of(&failures, i))).collect();
    assert_eq!(codes, [true, true, true, false]);
}

// Goal: batches use fresh contiguous ids, close every linked chain they open, and move money
// between distinct accounts of one ledger.
#[test]
fn batches_close_their_chains_and_take_contiguous_ids() {
    let shared = Shared::new();
    let mut prng = Prng::new(42);
    let tag = Tag {
        cycle: 0,
        sender: 0,
    };
    let mut next = 1;
    let mut resolves = 0;
    for round in 0..200 {
        let events = batch(&mut prng, &shared, tag, round % 2 == 0);
        let last = events.last().expect("at least one event");
        assert!(!last.sent.flags.linked(), "a chain left open");
        for event in &events {
            assert_eq!(event.sent.id, next);
            next += 1;
            let sent = event.sent;
            let resolving =
                TransferFlags::POST_PENDING_TRANSFER | TransferFlags::VOID_PENDING_TRANSFER;
            assert_eq!(event.pending.is_some(), sent.flags.0 & resolving != 0);
            resolves += u32::from(event.pending.is_some());
            if event.pending.is_none() {
                assert_ne!(sent.debit_account_id, sent.credit_account_id);
                let (_, accounts) = LEDGERS
                    .iter()
                    .find(|(ledger, _)| *ledger == sent.ledger)
                    .expect("a known ledger");
                assert!(accounts.contains(&sent.debit_account_id));
                assert!(accounts.contains(&sent.credit_account_id));
            }
            if sent.flags.pending() {
                // As if acknowledged, so later batches post and void some.
                shared.pool().push(event.expected);
            }
        }
    }
    assert_eq!(u128::from(shared.next_id.load(Ordering::Relaxed)), next);
    assert!(resolves > 0, "posts and voids were drawn");
}
