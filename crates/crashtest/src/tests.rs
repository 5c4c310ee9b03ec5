//! Unit tests of the pieces that need no server: the ready-line parser, the dep-info reader,
//! the shape of the calls the senders draw, and the pools' packet check.

use std::sync::atomic::Ordering;

use ledger::{CreateTransferResult, Transfer, TransferFlags};
use promotions::PromotionResult;

use crate::products::{self, LINES, POOLS};
use crate::server::{ready_addrs, recovered_snapshot_op, stale};
use crate::views::check_packets;
use crate::workload::{
    Code, Effect, Expect, LEDGERS, Prng, Sent, Shared, Tag, batch, created, result_of,
};

#[test]
fn the_ready_line_gives_the_binary_protocol_address() {
    let line = concat!(
        r#"{"timestamp":"2026-11-24T21:37:10.464551Z","level":"INFO","#,
        r#""message":"elevenfold is ready","addr":"127.0.0.1:45763","#,
        r#""tcp_addr":"127.0.0.1:34895","next_step":"curl"}"#
    );
    let addr = |text: &str| text.parse().expect("an address");
    assert_eq!(
        ready_addrs(line),
        Some((addr("127.0.0.1:34895"), addr("127.0.0.1:45763")))
    );
    let other = r#"{"message":"binary protocol listening","tcp_addr":"127.0.0.1:1"}"#;
    assert_eq!(ready_addrs(other), None);
}

#[test]
fn the_recovery_line_gives_the_snapshot_op() {
    let line = |fields: &str| {
        format!(
            r#"{{"timestamp":"2026-11-25T11:20:01.5Z","level":"INFO","message":"node recovered","data_dir":"/tmp/d",{fields}"replayed_batches":3,"replayed_events":9,"tail_cut":false,"duration_s":0.01,"target":"server"}}"#
        )
    };
    assert_eq!(
        recovered_snapshot_op(&line(r#""snapshot_op":1234,"#)),
        Some(1234)
    );
    // Recovery from an empty state has no snapshot: the field is absent.
    assert_eq!(recovered_snapshot_op(&line("")), None);
    let other = r#"{"message":"snapshot written","op":77,"snapshot_op":5}"#;
    assert_eq!(recovered_snapshot_op(other), None);
}

#[test]
fn a_binary_older_than_a_source_in_its_dep_info_is_stale() {
    let dir = std::env::temp_dir().join(format!("crashtest-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let binary = dir.join("elevenfold");
    let source = dir.join("a source.rs");
    std::fs::write(&binary, "").expect("written");
    // No dep-info: nothing says the binary is current.
    assert!(stale(&binary).is_some_and(|why| why.starts_with("without a dep-info")));
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
    assert_eq!(stale(&binary), None);
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&source, "").expect("written");
    assert_eq!(
        stale(&binary),
        Some(format!("older than {}", source.display()))
    );
    assert_eq!(stale(&dir.join("missing")), None);
    std::fs::remove_dir_all(&dir).expect("removed");
}

#[test]
fn results_other_than_ok_and_exists_mean_not_created() {
    let failures = [
        (1, Code::Transfer(CreateTransferResult::Exists)),
        (3, Code::Transfer(CreateTransferResult::LinkedEventFailed)),
        (4, Code::Credit(credit::CreditResult::Exists)),
        (5, Code::Promotion(PromotionResult::PoolEmpty)),
    ];
    let codes: Vec<bool> = (0..6).map(|i| created(result_of(&failures, i))).collect();
    assert_eq!(codes, [true, true, true, false, true, false]);
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
        let (sent, events) = batch(&mut prng, &shared, tag, round % 2 == 0);
        let Sent::Transfers(transfers) = sent else {
            panic!("a batch sends transfers")
        };
        let last = transfers.last().expect("at least one event");
        assert!(!last.flags.linked(), "a chain left open");
        for (sent, event) in transfers.iter().zip(&events) {
            assert_eq!(sent.id, next);
            assert_eq!(event.id, next);
            next += 1;
            let resolving =
                TransferFlags::POST_PENDING_TRANSFER | TransferFlags::VOID_PENDING_TRANSFER;
            assert_eq!(event.resolves().is_some(), sent.flags.0 & resolving != 0);
            resolves += u32::from(event.resolves().is_some());
            if event.resolves().is_none() {
                assert_ne!(sent.debit_account_id, sent.credit_account_id);
                let (_, accounts) = LEDGERS
                    .iter()
                    .find(|(ledger, _)| *ledger == sent.ledger)
                    .expect("a known ledger");
                assert!(accounts.contains(&sent.debit_account_id));
                assert!(accounts.contains(&sent.credit_account_id));
            }
            if let Some(pending) = event.opens() {
                // As if acknowledged, so later batches post and void some.
                shared.pool().push(pending);
            }
        }
    }
    assert_eq!(u128::from(shared.next_id.load(Ordering::Relaxed)), next);
    assert!(resolves > 0, "posts and voids were drawn");
}

// Goal: credit calls capture and void only purchases known to exist, each once, and their
// predicted transfers are on ledger 3 with the command's id; promotions calls grab by new users
// or refuse a user who holds a packet already.
#[test]
fn credit_and_promotions_calls_resolve_each_purchase_once() {
    let shared = Shared::new();
    let mut prng = Prng::new(7);
    let mut open = std::collections::BTreeSet::new();
    let (mut captures, mut refusals) = (0, 0);
    for round in 0..300 {
        let (sent, events) = if round % 2 == 0 {
            products::credit_call(&mut prng, &shared)
        } else {
            products::promotions_call(&mut prng, &shared)
        };
        let size = match &sent {
            Sent::Credit(commands) => commands.len(),
            Sent::Promotions(commands) => commands.len(),
            Sent::Transfers(_) => panic!("not a transfer call"),
        };
        assert!((1..=8).contains(&size) && size == events.len());
        for event in &events {
            if let Some(purchase) = event.resolves() {
                assert!(open.remove(&purchase.id), "a purchase resolved twice");
                assert!(LINES.contains(&purchase.debit_account_id));
                captures += 1;
            }
            if let Effect::Transfer { expected, .. } | Effect::Grab { expected, .. } = &event.effect
            {
                assert_eq!((expected.id, expected.ledger), (event.id, products::LEDGER));
            }
            refusals += u32::from(matches!(event.expect, Expect::Refused(_)));
            // As if acknowledged.
            if let Some(pending) = event.opens() {
                open.insert(pending.id);
            }
            shared.opened(&sent, event);
        }
    }
    assert!(
        captures > 0 && refusals > 0,
        "{captures} resolved, {refusals} refused"
    );
}

fn packet(id: u128, position: u64, amount: u64) -> (usize, Transfer) {
    let transfer = Transfer {
        id,
        amount: u128::from(amount),
        user_data_64: position,
        ..Transfer::default()
    };
    (1, transfer)
}

// Goal: the packet check accepts exactly the double-average draws in position order (found in
// any order), and names a gap, a wrong amount, and a `pool_empty` before the pool is empty.
#[test]
fn packets_follow_the_draw_without_gaps() {
    let pool = POOLS[1];
    let mut left = pool.amount;
    let draws: Vec<u64> = (0..pool.stock)
        .map(|position| {
            let amount =
                promotions::double_average(left, pool.stock - position, pool.seed, position);
            left -= amount;
            amount
        })
        .collect();
    let mut packets = vec![Vec::new(); POOLS.len()];
    let found = vec![packet(11, 1, draws[1]), packet(10, 0, draws[0])];
    assert!(check_packets(&mut packets, found, &[false, false]).is_empty());
    assert_eq!(packets[1], draws[..2]);
    let gap = check_packets(&mut packets, vec![packet(13, 3, draws[3])], &[false, false]);
    assert!(gap[0].contains("the next is 2"), "{gap:?}");
    let wrong = check_packets(
        &mut packets,
        vec![packet(12, 2, draws[2] + 1)],
        &[false, false],
    );
    assert!(wrong[0].contains("the draw for its position"), "{wrong:?}");
    let early = check_packets(&mut packets, Vec::new(), &[false, true]);
    assert!(
        early[0].contains("answered pool_empty with 2 of its 16"),
        "{early:?}"
    );
    let rest = (2..pool.stock).map(|p| packet(20 + u128::from(p), u64::from(p), draws[p as usize]));
    assert!(check_packets(&mut packets, rest.collect(), &[false, true]).is_empty());
    assert_eq!(packets[1].iter().sum::<u64>(), pool.amount);
    let beyond = check_packets(&mut packets, vec![packet(40, 16, 1)], &[false, false]);
    assert!(beyond[0].contains("paid beyond the pool"), "{beyond:?}");
}
