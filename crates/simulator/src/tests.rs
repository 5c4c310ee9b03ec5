//! The simulator's CI slice and its self-tests: a fixed range of seeds must pass, a seed must
//! replay identically, and the checkers (ledger and credit) must catch planted bugs.

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

// Goal: the credit checkers can fail: a node and an auditor fed the same credit batches agree
// (state, invariants, snapshot bytes with a replica), and disagree once the auditor (standing in
// for a node that lost or doubled a command) sees one more repayment.
#[test]
fn credit_checkers_catch_a_disagreement() {
    use credit::math::Rate;
    use credit::{Command, CreditResult, Date, PROGRAM_SIZE, Program};
    use engine::{Batch, Reply, Request, StateMachine};
    use ledger::{Account, CreateAccountResult};

    use crate::auditor::Auditor;
    use crate::checkers;

    let accounts: Vec<Account> = [1, 2, 3, 4, 5, 10, 11]
        .into_iter()
        .map(|id| Account {
            id,
            ledger: 1,
            code: 1,
            ..Account::default()
        })
        .collect();
    let mut program = Program::from_bytes(&[0; PROGRAM_SIZE]).expect("zeros decode");
    program.id = 500;
    program.ledger = 1;
    program.code = 7;
    (
        program.interest_account_id,
        program.fee_account_id,
        program.penalty_account_id,
        program.loss_account_id,
        program.recovery_account_id,
    ) = (1, 2, 3, 4, 5);
    program.start_date = Date::from_ymd(2026, 3, 1).expect("a date");
    program.statement_day = 2;
    program.due_day = 4;
    program.min_payment_rate = Rate(1_000_000_000);
    program.max_borrower_limit = 100_000;
    program.min_age = 18;
    program.waterfall = credit::Component::ALL;
    let commands = vec![
        Command::OpenLine {
            id: 100,
            borrower_id: 7,
            program_id: 500,
            limit: 10_000,
            annual_income: 500_000,
            birth_date: Date::from_ymd(1990, 1, 1).expect("a date"),
            statement_day: 0,
            due_day: 0,
            applicant: 0,
        },
        Command::Authorize {
            id: 1 << 40,
            line_id: 100,
            merchant_account_id: 10,
            amount: 3_000,
            timeout: 0,
        },
        Command::Capture {
            id: (1 << 40) + 1,
            line_id: 100,
            purchase_id: 1 << 40,
            amount: 0,
        },
        Command::DayClose {
            date: program.start_date,
            max_lines: 1,
        },
    ];
    let repay = Command::Repay {
        id: (1 << 40) + 2,
        line_id: 100,
        source_account_id: 11,
        amount: 500,
    };
    let requests = [
        Request::CreateAccounts(accounts),
        Request::CreatePrograms(vec![program]),
        Request::Credit(commands),
        Request::Credit(vec![repay]),
    ];
    let mut timestamp = 0;
    let batches: Vec<Batch> = requests
        .into_iter()
        .map(|request| {
            timestamp += request.timestamp_count() + 10;
            Batch {
                timestamp,
                requests: vec![request],
            }
        })
        .collect();
    let mut state = StateMachine::new(7);
    let mut replica = StateMachine::new(8);
    let mut auditor = Auditor::new();
    for (index, batch) in batches[..3].iter().enumerate() {
        let op = index as u64 + 1;
        let replies = state.apply(op, batch);
        assert_eq!(replies, auditor.apply(op, batch));
        replica.apply(op, batch);
        let ok = replies.iter().all(|reply| match reply {
            Reply::CreateAccounts(codes) => codes.iter().all(|c| *c == CreateAccountResult::Ok),
            Reply::CreatePrograms(codes) | Reply::Credit(codes) => {
                codes.iter().all(|c| *c == CreditResult::Ok)
            }
            _ => false,
        });
        assert!(ok, "{replies:?}");
    }
    checkers::accounts_agree(&state, &auditor).unwrap();
    checkers::credit_agree(&state, &auditor).unwrap();
    checkers::credit_invariants(&state, &auditor).unwrap();
    checkers::credit_snapshots_agree(&state, &replica).unwrap();
    assert_eq!(auditor.credit.lines[0].unbilled, 3_000);

    auditor.apply(4, &batches[3]);
    replica.apply(4, &batches[3]);
    assert!(checkers::credit_agree(&state, &auditor).is_err());
    assert!(checkers::credit_snapshots_agree(&state, &replica).is_err());
}
