//! `cargo bench -p engine --bench apply`: the state machine alone, on one core.
//!
//! Applies full 8189-transfer batches of single-phase transfers between 10,000 accounts
//! (uniform, and all crediting one hot account) and prints transfers per second. No log, no
//! fsync: this is the ceiling every other layer is measured against. Like the node, it evicts
//! applied transfers from memory every 16 batches (the node does once the record file holds
//! them), so the in-memory tail stays small; `EVICT=0` keeps every transfer in memory.
//! `RESERVE=1` sizes the id index for every transfer before the clock starts, as a node started
//! with `--transfers-reserve` does: no rehash (a fifth of the time otherwise, measured).

use std::time::Instant;

use engine::{Batch, Request, StateMachine};
use ledger::{Account, Transfer};

fn run(name: &str, transfer_count: u64, hot: bool) -> f64 {
    let account_count = 10_000u64;
    let mut machine = StateMachine::new(42);
    let accounts: Vec<Account> = (1..=u128::from(account_count))
        .map(|id| Account {
            id,
            ledger: 1,
            code: 1,
            ..Account::default()
        })
        .collect();
    let mut op = 0;
    let mut timestamp = 1_000_000_000u64;
    for chunk in accounts.chunks(8189) {
        op += 1;
        timestamp += chunk.len() as u64;
        machine.apply(
            op,
            &Batch {
                timestamp,
                requests: vec![Request::CreateAccounts(chunk.to_vec())],
            },
        );
    }
    let mut state = 0x1234_5678_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let transfers: Vec<Transfer> = (0..transfer_count)
        .map(|i| {
            let debit = 1 + next() % account_count;
            let credit = if hot { 1 } else { 1 + next() % account_count };
            let debit = if debit == credit {
                debit % account_count + 1
            } else {
                debit
            };
            Transfer {
                id: u128::from(i) + 1,
                debit_account_id: u128::from(debit),
                credit_account_id: u128::from(credit),
                amount: 1 + u128::from(next() % 1000),
                ledger: 1,
                code: 1,
                ..Transfer::default()
            }
        })
        .collect();
    let batches: Vec<Batch> = transfers
        .chunks(8189)
        .map(|chunk| {
            timestamp += chunk.len() as u64;
            Batch {
                timestamp,
                requests: vec![Request::CreateTransfers(chunk.to_vec())],
            }
        })
        .collect();
    let evict = std::env::var("EVICT").map_or(true, |v| v != "0");
    if std::env::var("RESERVE").is_ok_and(|v| v == "1") {
        machine.reserve_transfers(usize::try_from(transfer_count).expect("fits"));
    }
    let started = Instant::now();
    for (index, batch) in batches.iter().enumerate() {
        op += 1;
        let replies = machine.apply(op, batch);
        assert_eq!(replies.len(), 1);
        if evict && index % 16 == 15 {
            machine.evict_below(machine.ledger().transfer_count());
        }
    }
    let elapsed = started.elapsed();
    machine.ledger().check_conservation();
    assert_eq!(machine.ledger().transfer_count(), transfer_count);
    #[expect(clippy::cast_precision_loss, reason = "reporting")]
    let rate = transfer_count as f64 / elapsed.as_secs_f64();
    println!(
        "{name}: {transfer_count} transfers in {:.3} s = {rate:.0} transfers/s",
        elapsed.as_secs_f64()
    );
    rate
}

fn main() {
    let count: u64 = std::env::var("TRANSFERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let uniform = run("uniform", count, false);
    let hot = run("hot account", count, true);
    println!("hot / uniform = {:.2}", hot / uniform);
}
