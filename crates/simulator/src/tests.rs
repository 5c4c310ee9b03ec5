//! The simulator's CI slice and its self-tests: a fixed range of seeds must pass, a seed must
//! replay identically, the checkers (ledger, credit and promotions) must catch planted bugs, and
//! each known engine bug (`options::KNOWN_BUGS`) still reproduces while it is listed.

use crate::options::{KnownBug, known_bug};
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
    use credit::{Command, Date};
    use engine::{Request, StateMachine};
    use ledger::Account;

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
    let program = test_program();
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
    let batches = one_request_per_batch(requests);
    let mut state = StateMachine::new(7);
    let mut replica = StateMachine::new(8);
    let mut auditor = Auditor::new();
    for (index, batch) in batches[..3].iter().enumerate() {
        let op = index as u64 + 1;
        let replies = state.apply(op, batch);
        assert_eq!(replies, auditor.apply(op, batch));
        replica.apply(op, batch);
        assert!(credit_replies_all_ok(&replies), "{replies:?}");
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

// Goal: the checkers of installment plans and co-funding can fail: a node and an auditor fed
// the same conversion and drawdown agree (the plan's principal and fee, the funder's share),
// and disagree once the auditor (standing in for a node that doubled a command) sees an early
// settlement the node did not.
#[test]
fn plans_checkers_catch_a_disagreement() {
    use credit::math::{Pricing, Rate};
    use credit::{Command, Date};
    use engine::{Request, StateMachine};
    use ledger::Account;

    use crate::auditor::Auditor;
    use crate::checkers;

    let accounts: Vec<Account> = [1, 2, 3, 4, 5, 10, 11, 12, 13]
        .into_iter()
        .map(|id| Account {
            id,
            ledger: 1,
            code: 1,
            ..Account::default()
        })
        .collect();
    let mut program = test_program();
    program.apr_cap = Rate(2_400_000_000);
    program.funding_account_id = 12;
    program.platform_min_share_bps = 3_000;
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
        Command::AddFunder {
            program_id: 500,
            account_id: 13,
            share_bps: 2_000,
        },
        Command::Authorize {
            id: 1 << 40,
            line_id: 100,
            merchant_account_id: 10,
            amount: 3_001,
            timeout: 0,
        },
        Command::Capture {
            id: (1 << 40) + 1,
            line_id: 100,
            purchase_id: 1 << 40,
            amount: 0,
        },
        Command::ConvertInstallments {
            id: (1 << 40) + 2,
            line_id: 100,
            purchase_id: 1 << 40,
            periods: 3,
            pricing: Pricing::TotalRate(Rate(250_000_000)),
            sponsor_account_id: 0,
        },
        Command::SettleFunding { program_id: 500 },
    ];
    let settle = Command::SettleInstallments {
        id: (1 << 40) + 3,
        line_id: 100,
        plan_id: (1 << 40) + 2,
        source_account_id: 11,
        amount: 0,
    };
    let requests = [
        Request::CreateAccounts(accounts),
        Request::CreatePrograms(vec![program]),
        Request::Credit(commands),
        Request::Credit(vec![settle]),
    ];
    let batches = one_request_per_batch(requests);
    let mut state = StateMachine::new(7);
    let mut auditor = Auditor::new();
    for (index, batch) in batches[..3].iter().enumerate() {
        let op = index as u64 + 1;
        let replies = state.apply(op, batch);
        assert_eq!(replies, auditor.apply(op, batch));
        assert!(credit_replies_all_ok(&replies), "{replies:?}");
    }
    checkers::accounts_agree(&state, &auditor).unwrap();
    checkers::credit_agree(&state, &auditor).unwrap();
    checkers::credit_invariants(&state, &auditor).unwrap();
    // The plan takes the whole purchase, its fee rounded once (3,001 × 2.5% = 75.025); the
    // funder drew 20% of it rounded down (600.2), the platform the rest rounded up, and the
    // settlement paid the funder's part into the funding account.
    let plan = auditor.credit.plans[0];
    assert_eq!(
        (plan.principal, plan.fee, plan.remaining),
        (3_001, 75, 3_001)
    );
    let funding = &auditor.credit.funding[0];
    assert_eq!(funding.platform.outstanding, 2_401);
    assert_eq!(funding.funders[0].share.outstanding, 600);
    assert_eq!(auditor.accounts[&12].account.credits_posted, 600);

    auditor.apply(4, &batches[3]);
    assert!(checkers::credit_agree(&state, &auditor).is_err());
}

// Goal: the promotions checkers can fail: a node and an auditor fed the same promotions batches
// agree (replies, views, invariants, snapshot bytes with a replica), and disagree once the
// auditor (standing in for a node that lost or doubled a command) sees one more capture.
#[test]
fn promotions_checkers_catch_a_disagreement() {
    use engine::{Reply, Request, StateMachine};
    use ledger::{Account, AccountFlags, CreateAccountResult, CreateTransferResult, Transfer};
    use promotions::{Campaign, CampaignKind, Command, Offer, PromotionResult};

    use crate::auditor::Auditor;
    use crate::checkers;

    let account = |id, flags| Account {
        id,
        ledger: 1,
        code: 1,
        flags: AccountFlags(flags),
        ..Account::default()
    };
    let limited = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;
    let campaign = Campaign {
        id: 70,
        kind: CampaignKind::Coupon,
        sponsor_account_id: 1,
        budget_account_id: 71,
        ledger: 1,
        code: 5,
        offer: Offer::Threshold {
            min_spend: 1_000,
            amount: 300,
        },
        stock: 2,
        ..Campaign::default()
    };
    let pool = Campaign {
        id: 80,
        kind: CampaignKind::RedPacket,
        budget_account_id: 81,
        stock: 3,
        pool_amount: 100,
        seed: 7,
        ..campaign
    };
    let checkout = Command::Checkout {
        id: 200,
        user_id: 9,
        payer_id: 3,
        merchant_account_id: 2,
        amount: 1_500,
        timeout: 0,
        code: 1,
        card_issuer: 0,
        card_bin: 0,
        category: 0,
        coupons: [100, 0, 0, 0],
        capture: false,
    };
    let requests = [
        Request::CreateAccounts(vec![account(1, 0), account(2, 0), account(3, limited)]),
        Request::CreateTransfers(vec![Transfer {
            id: 1,
            debit_account_id: 1,
            credit_account_id: 3,
            amount: 5_000,
            ledger: 1,
            code: 1,
            ..Transfer::default()
        }]),
        Request::CreateCampaigns(vec![campaign, pool]),
        Request::Promotions(vec![
            Command::FundCampaign {
                id: 300,
                campaign_id: 70,
                amount: 1_000,
            },
            Command::FundCampaign {
                id: 301,
                campaign_id: 80,
                amount: 100,
            },
            Command::IssueCoupon {
                id: 100,
                campaign_id: 70,
                user_id: 9,
                user_segments: 0,
            },
            checkout,
            Command::GrabRedPacket {
                id: 302,
                campaign_id: 80,
                user_id: 9,
                account_id: 3,
                user_segments: 0,
            },
        ]),
        Request::Promotions(vec![Command::CaptureCheckout {
            id: 303,
            checkout_id: 200,
        }]),
    ];
    let batches = one_request_per_batch(requests);
    let mut state = StateMachine::new(7);
    let mut replica = StateMachine::new(8);
    let mut auditor = Auditor::new();
    for (index, batch) in batches[..4].iter().enumerate() {
        let op = index as u64 + 1;
        let replies = state.apply(op, batch);
        assert_eq!(replies, auditor.apply(op, batch));
        replica.apply(op, batch);
        let ok = replies.iter().all(|reply| match reply {
            Reply::CreateAccounts(codes) => codes.iter().all(|c| *c == CreateAccountResult::Ok),
            Reply::CreateTransfers(codes) => codes.iter().all(|c| *c == CreateTransferResult::Ok),
            Reply::CreateCampaigns(codes) | Reply::Promotions(codes) => {
                codes.iter().all(|c| *c == PromotionResult::Ok)
            }
            _ => false,
        });
        assert!(ok, "{replies:?}");
    }
    checkers::accounts_agree(&state, &auditor).unwrap();
    checkers::promotions_agree(&state, &auditor, None).unwrap();
    checkers::promotions_invariants(&state, &auditor).unwrap();
    checkers::promotions_snapshots_agree(&state, &replica).unwrap();
    let c = auditor.promotions.campaign(70).expect("created");
    assert_eq!(
        (c.funded, c.reserved, c.issued, c.redemptions),
        (1_000, 300, 1, 1)
    );
    assert!(auditor.promotions.campaign(80).expect("created").grabbed > 0);

    auditor.apply(5, &batches[4]);
    replica.apply(5, &batches[4]);
    assert!(checkers::promotions_agree(&state, &auditor, None).is_err());
    assert!(checkers::promotions_snapshots_agree(&state, &replica).is_err());
}

/// A state machine fed one request per batch, `gap` ns of engine time apart.
struct Driver {
    state: engine::StateMachine,
    op: u64,
    timestamp: u64,
}

impl Driver {
    /// Accounts 1 (a sponsor), 2 (a merchant) and 3 (a wallet holding 5,000), and coupon
    /// campaign 70 (save 300 on 1,000; exclusive group 0; budget 71) funded with 1,000, with
    /// coupons 100 and 101 issued to user 9.
    fn with_coupons() -> Driver {
        use engine::Request;
        use ledger::{Account, AccountFlags, Transfer};
        use promotions::{Campaign, CampaignKind, Command, Offer};
        let mut driver = Driver {
            state: engine::StateMachine::new(7),
            op: 0,
            timestamp: 1_000_000_000_000,
        };
        let account = |id, flags| Account {
            id,
            ledger: 1,
            code: 1,
            flags: AccountFlags(flags),
            ..Account::default()
        };
        let limited = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;
        driver.run(Request::CreateAccounts(vec![
            account(1, 0),
            account(2, 0),
            account(3, limited),
        ]));
        driver.run(Request::CreateTransfers(vec![Transfer {
            id: 1,
            debit_account_id: 1,
            credit_account_id: 3,
            amount: 5_000,
            ledger: 1,
            code: 1,
            ..Transfer::default()
        }]));
        driver.run(Request::CreateCampaigns(vec![Campaign {
            id: 70,
            kind: CampaignKind::Coupon,
            sponsor_account_id: 1,
            budget_account_id: 71,
            ledger: 1,
            code: 5,
            offer: Offer::Threshold {
                min_spend: 1_000,
                amount: 300,
            },
            ..Campaign::default()
        }]));
        let issue = |id| Command::IssueCoupon {
            id,
            campaign_id: 70,
            user_id: 9,
            user_segments: 0,
        };
        driver.run(Request::Promotions(vec![
            Command::FundCampaign {
                id: 300,
                campaign_id: 70,
                amount: 1_000,
            },
            issue(100),
            issue(101),
        ]));
        driver
    }

    /// Applies one request (or a pulse, with none) `gap` ns after the last batch.
    fn run_after(&mut self, gap: u64, request: Option<engine::Request>) -> Vec<engine::Reply> {
        let requests: Vec<engine::Request> = request.into_iter().collect();
        let count: u64 = requests.iter().map(engine::Request::timestamp_count).sum();
        self.timestamp += gap + count;
        self.op += 1;
        let batch = engine::Batch {
            timestamp: self.timestamp,
            requests,
        };
        self.state.apply(self.op, &batch)
    }

    fn run(&mut self, request: engine::Request) -> Vec<engine::Reply> {
        self.run_after(1_000, Some(request))
    }
}

/// Whether every account, program and credit command in `replies` answered `ok`.
fn credit_replies_all_ok(replies: &[engine::Reply]) -> bool {
    use credit::CreditResult;
    use engine::Reply;
    use ledger::CreateAccountResult;

    replies.iter().all(|reply| match reply {
        Reply::CreateAccounts(codes) => codes.iter().all(|c| *c == CreateAccountResult::Ok),
        Reply::CreatePrograms(codes) | Reply::Credit(codes) => {
            codes.iter().all(|c| *c == CreditResult::Ok)
        }
        _ => false,
    })
}

/// One batch per request, engine time 10 ns past each request's timestamps.
fn one_request_per_batch(
    requests: impl IntoIterator<Item = engine::Request>,
) -> Vec<engine::Batch> {
    let mut timestamp = 0;
    requests
        .into_iter()
        .map(|request| {
            timestamp += request.timestamp_count() + 10;
            engine::Batch {
                timestamp,
                requests: vec![request],
            }
        })
        .collect()
}

/// Program 500 on ledger 1 for the credit checker tests: accounts 1-5 take interest, fees,
/// penalties, losses and recoveries; statements on the 2nd, due on the 4th, from 2026-03-01.
fn test_program() -> credit::Program {
    use credit::math::Rate;
    use credit::{Date, PROGRAM_SIZE, Program};

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
    program
}

fn checkout_command(id: u128, amount: u64, timeout: u32, coupons: &[u128]) -> promotions::Command {
    let mut listed = [0; promotions::COUPONS_MAX];
    listed[..coupons.len()].copy_from_slice(coupons);
    promotions::Command::Checkout {
        id,
        user_id: 9,
        payer_id: 3,
        merchant_account_id: 2,
        amount,
        timeout,
        code: 1,
        card_issuer: 0,
        card_bin: 0,
        category: 0,
        coupons: listed,
        capture: false,
    }
}

/// A known engine bug (`options::KNOWN_BUGS`), checked both ways: while it is listed, the
/// documented behaviour must still fail (so a fix is noticed, and the bug dropped from the list);
/// once it is not, the documented behaviour must hold. `documented` is `Err` with what differs.
fn known_bug_check(bug: KnownBug, documented: Result<(), String>) {
    match (known_bug(bug), documented) {
        (true, Ok(())) => {
            panic!("{bug:?} no longer reproduces: drop it from options::KNOWN_BUGS")
        }
        (false, Err(why)) => panic!("{bug:?}: {why}"),
        (true, Err(_)) | (false, Ok(())) => {}
    }
}

/// `Err(what)` unless `ok`.
fn expect(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what()) }
}

// Goal (docs/promotions.md): past the timeout a checkout's holds expire together with its
// coupons and reservations, "at the same engine time the ledger expires the holds"; the state
// stays consistent and a snapshot of it restores. Known engine bug `PromotionsExpiryLagsLedger`:
// promotions lets the checkout go only at its next command.
#[test]
fn known_bug_expired_checkout_is_let_go_with_its_holds() {
    use engine::{Reply, Request, StateMachine};
    use promotions::{CheckoutStatus, PromotionResult};
    let mut d = Driver::with_coupons();
    let checkout = checkout_command(200, 1_500, 1, &[100]);
    let replies = d.run(Request::Promotions(vec![checkout]));
    assert_eq!(replies, vec![Reply::Promotions(vec![PromotionResult::Ok])]);
    // Two seconds later a pulse: the ledger expires the holds.
    d.run_after(2_000_000_000, None);
    let budget = d.state.ledger().lookup_account(71).expect("budget").0;
    assert_eq!(
        budget.debits_pending, 0,
        "the ledger expired the coupon hold"
    );
    let documented = (|| {
        let promotions = d.state.promotions();
        let view = promotions.checkout(200).expect("checkout");
        expect(view.status == CheckoutStatus::Expired, || {
            format!("checkout {view:?}")
        })?;
        let reserved = promotions.campaign(70).expect("campaign").reserved;
        expect(reserved == 0, || format!("campaign reserves {reserved}"))?;
        promotions
            .check_ledger(d.state.ledger(), false)
            .map_err(|e| e.to_string())?;
        StateMachine::decode_snapshot(&d.state.encode_snapshot(), 1)
            .and_then(engine::StateRestore::finish)
            .map(|_| ())
            .map_err(|e| format!("a snapshot taken now does not restore: {e}"))
    })();
    known_bug_check(KnownBug::PromotionsExpiryLagsLedger, documented);
}

// Goal (docs/promotions.md): a checkout's holds are "captured, voided, expired and refunded
// together": a client cannot resolve the payer's hold on its own, and the checkout can still be
// captured. Was engine bug `CheckoutHoldOpenToClients`: the payer's hold now has a reserved id.
#[test]
fn known_bug_a_client_cannot_resolve_a_checkout_hold() {
    use engine::{Reply, Request};
    use ledger::{CreateTransferResult, Transfer, TransferFlags};
    use promotions::{Command, PromotionResult};
    let mut d = Driver::with_coupons();
    d.run(Request::Promotions(vec![checkout_command(
        200,
        1_500,
        0,
        &[100],
    )]));
    let void = d.run(Request::CreateTransfers(vec![Transfer {
        id: 2,
        pending_id: promotions::derived_id(200, 0x60),
        flags: TransferFlags(TransferFlags::VOID_PENDING_TRANSFER),
        ..Transfer::default()
    }]));
    let capture = d.run(Request::Promotions(vec![Command::CaptureCheckout {
        id: 201,
        checkout_id: 200,
    }]));
    let refused = vec![Reply::CreateTransfers(vec![
        CreateTransferResult::PendingIdMustNotBeReserved,
    ])];
    let documented = expect(void == refused, || {
        format!("a client's void of checkout 200's payer hold answered {void:?}")
    })
    .and_then(|()| {
        expect(
            capture == vec![Reply::Promotions(vec![PromotionResult::Ok])],
            || format!("the capture answered {capture:?}"),
        )
    });
    known_bug_check(KnownBug::CheckoutHoldOpenToClients, documented);
}

// Goal (docs/promotions.md): `redemptions_max` and `redemptions_per_user` count payments using
// one of a campaign's coupons: a payment carrying two of them is one redemption. Known engine
// bug `RedemptionsCountCoupons`: it counts two.
#[test]
fn known_bug_a_payment_is_one_redemption() {
    use engine::{Reply, Request};
    use promotions::PromotionResult;
    let mut d = Driver::with_coupons();
    let checkout = checkout_command(200, 2_000, 0, &[100, 101]);
    let replies = d.run(Request::Promotions(vec![checkout]));
    assert_eq!(replies, vec![Reply::Promotions(vec![PromotionResult::Ok])]);
    let campaign = d.state.promotions().campaign(70).expect("campaign");
    assert_eq!(campaign.reserved, 600, "two coupons of 300 apply");
    let documented = expect(campaign.redemptions == 1, || {
        format!("{} redemptions", campaign.redemptions)
    });
    known_bug_check(KnownBug::RedemptionsCountCoupons, documented);
}

// Goal: the rule texts the workload sends mean what the model says: every template compiles in
// the engine and, over random facts and times, the engine's evaluation equals the model's
// native one; every text the workload sends as not compiling is refused by both.
#[test]
fn rule_templates_mean_what_the_model_says() {
    use promotions::rule::Rule;
    use promotions::{CampaignKind, RULE_VARIABLES};
    use stdx::Prng;

    use crate::auditor::promotions_model::{Condition, ModelUsage, RuleFacts};
    use crate::workload::promotions_workload::{INVALID_RULES, rule_template};

    let mut prng = Prng::new(11);
    let kinds = [
        CampaignKind::Coupon,
        CampaignKind::RedPacket,
        CampaignKind::Lottery,
        CampaignKind::Coins,
    ];
    for round in 0..2_000 {
        let text = rule_template(&mut prng, kinds[round % kinds.len()]);
        let rule = Rule::compile(&text, &RULE_VARIABLES)
            .unwrap_or_else(|e| panic!("{text:?} does not compile: {e}"));
        let condition = Condition::parse(&text).unwrap_or_else(|| panic!("{text:?} unparsed"));
        for _ in 0..20 {
            let facts = RuleFacts {
                amount: prng.range(0, 5_000),
                merchant: *prng.pick(&[6010, 6011, 7, (1 << 70) | 6010]),
                category: *prng.pick(&[0, 5, 7]),
                issuer: *prng.pick(&[0, 88, 99]),
                bin: *prng.pick(&[0, 622_000, 622_500, 622_999, 400_123]),
                segments: u32::try_from(prng.below(5)).expect("small"),
            };
            let usage = ModelUsage {
                coupons: u32::try_from(prng.below(4)).expect("small"),
                redemptions: u32::try_from(prng.below(4)).expect("small"),
                draws: u32::try_from(prng.below(5)).expect("small"),
                ..ModelUsage::default()
            };
            // Any time over two weeks around the simulator's start.
            let now = 1_699_500_000_000_000_000 + prng.below(14 * 86_400) * 1_000_000_000;
            let local = now / 1_000_000_000 + 8 * 3_600;
            let day = i64::try_from(local / 86_400).expect("days");
            let merchant = i64::try_from(facts.merchant & u128::from(i64::MAX.unsigned_abs()))
                .expect("63 bits");
            let values = [
                i64::try_from(facts.amount).expect("small"),
                merchant,
                i64::from(facts.category),
                i64::from(facts.issuer),
                i64::from(facts.bin),
                i64::from(facts.segments),
                i64::try_from(local % 86_400 / 3_600).expect("an hour"),
                (day + 3) % 7,
                day,
                i64::from(usage.coupons),
                i64::from(usage.redemptions),
                i64::from(usage.draws),
            ];
            assert_eq!(
                rule.eval(&values),
                condition.holds(&facts, &usage, now),
                "{text:?} with {facts:?} {usage:?} at {now}"
            );
        }
    }
    for text in INVALID_RULES {
        assert!(
            Rule::compile(text, &RULE_VARIABLES).is_err(),
            "{text:?} compiles"
        );
        assert!(
            Condition::parse(text).is_none(),
            "{text:?} parses in the model"
        );
    }
}

// Goal: the lottery and coins checkers can fail: a node and an auditor fed the same batches
// (prizes, draws with a cost and a rule, check-ins, a purchase's coins, a coin spend, an
// expiry) agree, and disagree once the auditor (standing in for a node that lost a command)
// sees one more draw.
#[test]
fn games_checkers_catch_a_disagreement() {
    use engine::{Batch, Reply, Request, StateMachine};
    use ledger::{Account, AccountFlags, CreateAccountResult, CreateTransferResult, Transfer};
    use promotions::{
        Campaign, CampaignKind, Command, Offer, PrizeKind, PromotionResult, RULE_TEXT_MAX,
    };

    use crate::auditor::Auditor;
    use crate::checkers;

    let account = |id, ledger, flags| Account {
        id,
        ledger,
        code: 1,
        flags: AccountFlags(flags),
        ..Account::default()
    };
    let limited = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;
    let transfer = |id, from, to, amount, ledger| Transfer {
        id,
        debit_account_id: from,
        credit_account_id: to,
        amount,
        ledger,
        code: 1,
        ..Transfer::default()
    };
    let coupons = Campaign {
        id: 70,
        kind: CampaignKind::Coupon,
        sponsor_account_id: 1,
        budget_account_id: 71,
        ledger: 1,
        code: 5,
        offer: Offer::Threshold {
            min_spend: 1_000,
            amount: 300,
        },
        ..Campaign::default()
    };
    let lottery = Campaign {
        id: 80,
        kind: CampaignKind::Lottery,
        budget_account_id: 81,
        offer: Offer::FreeOrder { cap: 0 },
        seed: 7,
        draws_per_user: 3,
        draw_cost: 20,
        ..coupons
    };
    let coins = Campaign {
        id: 90,
        kind: CampaignKind::Coins,
        sponsor_account_id: 10,
        budget_account_id: 91,
        ledger: 8,
        code: 6,
        coins_per_check_in: 10,
        coins_per_yuan: 5,
        coins_valid_for: 1,
        ..Campaign::default()
    };
    let prize = |prize, kind, weight_ppm, amount, coupon_campaign_id| Command::AddPrize {
        campaign_id: 80,
        prize,
        kind,
        weight_ppm,
        stock: 2,
        amount,
        coupon_campaign_id,
    };
    let mut rule = [0u8; RULE_TEXT_MAX];
    rule[..14].copy_from_slice(b"user_draws < 3");
    let draw = |id| Command::DrawLottery {
        id,
        campaign_id: 80,
        user_id: 9,
        account_id: 3,
        user_segments: 0,
    };
    let earn = |id, checkout_id| Command::EarnCoins {
        id,
        campaign_id: 90,
        user_id: 9,
        account_id: 11,
        checkout_id,
        user_segments: 0,
    };
    let requests = [
        Request::CreateAccounts(vec![
            account(1, 1, 0),
            account(2, 1, 0),
            account(3, 1, limited),
            account(10, 8, 0),
            account(11, 8, limited),
            account(12, 8, 0),
        ]),
        Request::CreateTransfers(vec![transfer(1, 1, 3, 5_000, 1)]),
        Request::CreateCampaigns(vec![coupons, lottery, coins]),
        Request::Promotions(vec![
            Command::FundCampaign {
                id: 300,
                campaign_id: 80,
                amount: 1_000,
            },
            Command::FundCampaign {
                id: 301,
                campaign_id: 90,
                amount: 1_000,
            },
            prize(1, PrizeKind::Cash, 500_000, 100, 0),
            prize(2, PrizeKind::Coupon, 300_000, 0, 70),
            prize(3, PrizeKind::Slot, 100_000, 0, 0),
            Command::SetCampaignRule {
                campaign_id: 80,
                len: 14,
                text: rule,
            },
            draw(400),
            draw(401),
            draw(402),
            earn(500, 0),
        ]),
        Request::Promotions(vec![
            Command::Checkout {
                id: 200,
                user_id: 9,
                payer_id: 3,
                merchant_account_id: 2,
                amount: 1_500,
                timeout: 0,
                code: 1,
                card_issuer: 0,
                card_bin: 0,
                category: 0,
                coupons: [0; 4],
                capture: false,
            },
            Command::CaptureCheckout {
                id: 201,
                checkout_id: 200,
            },
            earn(501, 200),
        ]),
        Request::CreateTransfers(vec![transfer(2, 11, 12, 5, 8)]),
        Request::Promotions(vec![Command::ExpireCoins { campaign_id: 90 }]),
        // Only the auditor sees it (as if the node lost it): over the rule's three draws, so
        // it is refused without a trace, then one more draw by another user.
        Request::Promotions(vec![
            draw(403),
            Command::DrawLottery {
                id: 404,
                campaign_id: 80,
                user_id: 10,
                account_id: 0,
                user_segments: 0,
            },
        ]),
    ];
    let mut timestamp = 1_700_000_000_000_000_000;
    let batches: Vec<Batch> = requests
        .into_iter()
        .map(|request| {
            // Two seconds apart: the coins earned expire before the expiry.
            timestamp += request.timestamp_count() + 2_000_000_000;
            Batch {
                timestamp,
                requests: vec![request],
            }
        })
        .collect();
    let mut state = StateMachine::new(7);
    let mut replica = StateMachine::new(8);
    let mut auditor = Auditor::new();
    let last = batches.len() - 1;
    for (index, batch) in batches[..last].iter().enumerate() {
        let op = index as u64 + 1;
        let replies = state.apply(op, batch);
        assert_eq!(replies, auditor.apply(op, batch));
        replica.apply(op, batch);
        let ok = replies.iter().all(|reply| match reply {
            Reply::CreateAccounts(codes) => codes.iter().all(|c| *c == CreateAccountResult::Ok),
            Reply::CreateTransfers(codes) => codes.iter().all(|c| *c == CreateTransferResult::Ok),
            Reply::CreateCampaigns(codes) | Reply::Promotions(codes) => {
                codes.iter().all(|c| *c == PromotionResult::Ok)
            }
            _ => false,
        });
        assert!(ok, "{replies:?}");
        checkers::promotions_agree(&state, &auditor, None).unwrap();
        checkers::promotions_invariants(&state, &auditor).unwrap();
    }
    checkers::accounts_agree(&state, &auditor).unwrap();
    checkers::promotions_snapshots_agree(&state, &replica).unwrap();
    let model = &auditor.promotions;
    assert_eq!(model.draws.len(), 3);
    let lots: Vec<(u64, u64, bool)> = model
        .lots
        .iter()
        .map(|l| (l.amount, l.taken, l.done))
        .collect();
    // A check-in of 10 (5 of them spent, 5 taken back) and 75 coins for 1,500 fen, all taken.
    assert_eq!(lots, vec![(10, 5, true), (75, 75, true)]);

    let replies = auditor.apply(last as u64 + 1, &batches[last]);
    assert_eq!(
        replies,
        vec![Reply::Promotions(vec![
            PromotionResult::RuleNotMet,
            PromotionResult::AccountNotFound
        ])]
    );
    let mut more = batches[last].clone();
    more.requests = vec![Request::Promotions(vec![Command::DrawLottery {
        id: 405,
        campaign_id: 80,
        user_id: 10,
        account_id: 3,
        user_segments: 0,
    }])];
    more.timestamp += 10;
    assert_eq!(
        auditor.apply(last as u64 + 2, &more),
        vec![Reply::Promotions(vec![PromotionResult::Ok])]
    );
    replica.apply(last as u64 + 1, &batches[last]);
    replica.apply(last as u64 + 2, &more);
    assert!(checkers::promotions_agree(&state, &auditor, None).is_err());
    assert!(checkers::promotions_snapshots_agree(&state, &replica).is_err());
}

// Goal (docs/promotions.md, "Reward coins"): `expire_coins` takes back at most 16 due lots,
// soonest first, the rest at the next; the node and the model agree lot by lot (the runs seldom
// have more than a dozen due at once). Twenty users check in, a few spend, and expiry runs
// twice.
#[test]
fn coin_expiry_takes_sixteen_lots_at_a_time() {
    use engine::{Batch, Reply, Request, StateMachine};
    use ledger::{Account, AccountFlags, Transfer};
    use promotions::{Campaign, CampaignKind, Command, PromotionResult};

    use crate::auditor::Auditor;
    use crate::checkers;

    let account = |id, flags| Account {
        id,
        ledger: 8,
        code: 1,
        flags: AccountFlags(flags),
        ..Account::default()
    };
    let limited = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;
    let coins = Campaign {
        id: 90,
        kind: CampaignKind::Coins,
        sponsor_account_id: 10,
        budget_account_id: 91,
        ledger: 8,
        code: 6,
        coins_per_check_in: 10,
        coins_valid_for: 1,
        ..Campaign::default()
    };
    // Users 1..=20 check in, into coin accounts 11..=14 (five lots each; 12 is also where
    // coins are spent).
    let earn = |user: u128| Command::EarnCoins {
        id: 500 + user,
        campaign_id: 90,
        user_id: user,
        account_id: 11 + user % 4,
        checkout_id: 0,
        user_segments: 0,
    };
    let spend = |id, from, amount| Transfer {
        id,
        debit_account_id: from,
        credit_account_id: 12,
        amount,
        ledger: 8,
        code: 1,
        ..Transfer::default()
    };
    let requests = [
        Request::CreateAccounts(vec![
            account(10, 0),
            account(11, limited),
            account(12, 0),
            account(13, limited),
            account(14, limited),
        ]),
        Request::CreateCampaigns(vec![coins]),
        Request::Promotions(
            std::iter::once(Command::FundCampaign {
                id: 300,
                campaign_id: 90,
                amount: 1_000,
            })
            .chain((1..=10).map(earn))
            .collect(),
        ),
        Request::Promotions((11..=20).map(earn).collect()),
        Request::CreateTransfers(vec![spend(1, 11, 15), spend(2, 13, 50)]),
        Request::Promotions(vec![Command::ExpireCoins { campaign_id: 90 }]),
        Request::Promotions(vec![Command::ExpireCoins { campaign_id: 90 }]),
    ];
    let mut timestamp = 1_700_000_000_000_000_000;
    let mut state = StateMachine::new(7);
    let mut auditor = Auditor::new();
    for (index, request) in requests.into_iter().enumerate() {
        timestamp += request.timestamp_count() + 2_000_000_000;
        let batch = Batch {
            timestamp,
            requests: vec![request],
        };
        let op = index as u64 + 1;
        let replies = state.apply(op, &batch);
        assert_eq!(replies, auditor.apply(op, &batch), "op {op}");
        if let Reply::Promotions(codes) = &replies[0] {
            assert!(codes.iter().all(|c| *c == PromotionResult::Ok), "{codes:?}");
        }
        checkers::accounts_agree(&state, &auditor).unwrap();
        checkers::promotions_agree(&state, &auditor, None).unwrap();
        checkers::promotions_invariants(&state, &auditor).unwrap();
        let done = auditor.promotions.lots.iter().filter(|l| l.done).count();
        match op {
            6 => assert_eq!(done, 16, "the first expiry takes 16 lots"),
            7 => assert_eq!(done, 20, "the second the other 4"),
            _ => {}
        }
    }
    // Each account got 50 coins in five lots. Account 11 spent 15, charged to its two
    // soonest lots: 35 come back; 13 spent all 50: nothing does; 12 and 14 spent nothing.
    let taken = |account: u128| -> u64 {
        auditor
            .promotions
            .lots
            .iter()
            .filter(|l| l.account_id == account)
            .map(|l| l.taken)
            .sum()
    };
    assert_eq!(
        (taken(11), taken(12), taken(13), taken(14)),
        (35, 50, 0, 50)
    );
}
