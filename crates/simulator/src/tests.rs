//! The simulator's CI slice and its self-tests: a fixed range of seeds must pass, a seed must
//! replay identically, and the checkers must catch planted bugs.

use crate::{Options, run_options, run_seed};

/// Seeds run by `cargo test` (and so by CI); `--seeds 10000` is the long run.
const CI_SEEDS: u64 = 200;

// Goal: the time-boxed CI slice: seeds 0..CI_SEEDS pass every checker. Method: run them all and
// report every failing seed with its reproduce command, not just the first.
#[test]
fn ci_slice_of_seeds_passes() {
    let failures: Vec<String> = (0..CI_SEEDS)
        .filter_map(|seed| {
            run_seed(seed).err().map(|message| {
                format!(
                    "seed {seed}: {message}\n  options: {}\n  reproduce with: cargo run \
                     --release -p simulator -- --seed {seed}",
                    Options::from_seed(seed)
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {CI_SEEDS} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// Goal: a seed fully determines a run: two runs of the same seed report exactly the same.
#[test]
fn a_seed_replays_identically() {
    for seed in [3, 17, 99] {
        assert_eq!(run_seed(seed), run_seed(seed), "seed {seed}");
    }
}

// Goal: the fault paths run in CI whatever the swarm chose for the CI seeds: every fault at
// once, at high rates, on a few seeds.
#[test]
fn every_fault_at_once_is_survived() {
    for seed in 1000..1020 {
        let options = Options {
            crash_per_mille: 30,
            torn_percent: 50,
            crash_armed_per_mille: 20,
            sync_failure_per_mille: 15,
            restart_per_mille: 20,
            flip_percent: 60,
            flip_records_per_mille: 10,
            ..Options::from_seed(seed)
        };
        let report = run_options(&options, false)
            .unwrap_or_else(|message| panic!("seed {seed} with every fault: {message}"));
        assert!(
            report.crashes + report.crashes_armed_fired > 0,
            "{report:?}"
        );
    }
}

// Goal: the checkers can fail: a node state and an auditor fed the same batch agree, and
// disagree once the auditor (standing in for a buggy node) sees one more transfer.
#[test]
fn checkers_catch_a_disagreement() {
    use engine::{Batch, Request, StateMachine};
    use ledger::{Account, Transfer};

    use crate::auditor::Auditor;
    use crate::checkers;

    let account = |id| Account {
        id,
        ledger: 1,
        code: 1,
        ..Account::default()
    };
    let transfer = |id, amount| Transfer {
        id,
        debit_account_id: 1,
        credit_account_id: 2,
        amount,
        ledger: 1,
        code: 1,
        ..Transfer::default()
    };
    let batches = [
        Batch {
            timestamp: 10,
            requests: vec![Request::CreateAccounts(vec![account(1), account(2)])],
        },
        Batch {
            timestamp: 20,
            requests: vec![Request::CreateTransfers(vec![transfer(1, 5)])],
        },
        Batch {
            timestamp: 30,
            requests: vec![Request::CreateTransfers(vec![transfer(2, 7)])],
        },
    ];
    let mut state = StateMachine::new(7);
    let mut auditor = Auditor::new();
    for (index, batch) in batches[..2].iter().enumerate() {
        let op = index as u64 + 1;
        assert_eq!(state.apply(op, batch), auditor.apply(op, batch));
    }
    let (bytes, transfers) = checkers::canonical_in_memory(&state).unwrap();
    checkers::accounts_agree(&state, &auditor).unwrap();
    checkers::transfers_agree(&state, &transfers, &auditor).unwrap();

    auditor.apply(3, &batches[2]);
    assert!(checkers::accounts_agree(&state, &auditor).is_err());
    assert!(checkers::transfers_agree(&state, &transfers, &auditor).is_err());
    let mut replica = StateMachine::new(8);
    for (index, batch) in batches.iter().enumerate() {
        replica.apply(index as u64 + 1, batch);
    }
    let (replica_bytes, _) = checkers::canonical_in_memory(&replica).unwrap();
    assert_ne!(checkers::fnv1a(&bytes), checkers::fnv1a(&replica_bytes));
}
