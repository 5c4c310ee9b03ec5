//! Counters at the edge of `u64` (issue 4): lines with limits near `u64::MAX`, repeated
//! purchase and repayment cycles, huge refunds, installments, coin redemptions and funder
//! shares. Every command that would overflow what a line or a program counts is refused with a
//! named code before anything changes (the credit state and the ledger compare equal, byte for
//! byte, across the refusal); a day-close, which cannot refuse, does not post a charge the line
//! could not count. `World::run` checks conservation and the line invariants after every step.

use ledger::{AccountFlags, Ledger};
use proptest::prelude::*;

use super::{
    BANK, FEE, INTEREST, LEDGER, MERCHANT, PENALTY, PROGRAM, World, authorize, capture, date,
    program, repay, yuan,
};
use crate::math::{Pricing, Rate};
use crate::{Command, Component, Credit, CreditResult, CreditSnapshotError, Date, Program};

/// A program whose caps allow lines up to `u64::MAX` (no borrower cap, no income cap).
const HUGE: u128 = PROGRAM + 50;
const COIN_LEDGER: u32 = 900;
const COIN_ISSUER: u128 = 70;
const COIN_POOL: u128 = 71;
const COIN_BUDGET: u128 = 72;
const USER_COINS: u128 = 73;
const FUNDER: u128 = 74;

/// 2^63: one such purchase fits a line's counters, two do not.
const HALF: u64 = 1 << 63;

fn huge_program() -> Program {
    Program {
        max_borrower_limit: u64::MAX,
        dti_cap_bps: 0,
        ..program(HUGE)
    }
}

/// A world with the huge program (`terms` applied to it) and one line per id at `u64::MAX`.
fn huge_world(terms: impl FnOnce(&mut Program), lines: &[u128]) -> World {
    let mut w = World::new();
    let mut p = huge_program();
    terms(&mut p);
    assert_eq!(w.program(&p), CreditResult::Ok);
    for &line in lines {
        assert_eq!(w.run(open_huge(line)), CreditResult::Ok);
    }
    w
}

fn open_huge(line: u128) -> Command {
    Command::OpenLine {
        id: line,
        borrower_id: line + 1_000,
        program_id: HUGE,
        limit: u64::MAX,
        annual_income: 0,
        birth_date: date(1990, 5, 20),
        statement_day: 0,
        due_day: 0,
        applicant: 0,
    }
}

fn refund(id: u128, line_id: u128, purchase_id: u128, amount: u64) -> Command {
    Command::Refund {
        id,
        line_id,
        purchase_id,
        amount,
    }
}

fn settle(id: u128, line_id: u128, plan_id: u128, amount: u64) -> Command {
    Command::SettleInstallments {
        id,
        line_id,
        plan_id,
        source_account_id: BANK,
        amount,
    }
}

fn convert(id: u128, line_id: u128, purchase_id: u128) -> Command {
    // 2.5% for 3 periods: Huabei's list price, about 15% APR, under the 24% cap.
    Command::ConvertInstallments {
        id,
        line_id,
        purchase_id,
        periods: 3,
        pricing: Pricing::TotalRate(Rate(250_000_000)),
        sponsor_account_id: 0,
    }
}

fn redeem(id: u128, line_id: u128, coins: u64) -> Command {
    Command::RedeemCoins {
        id,
        line_id,
        coin_account_id: USER_COINS,
        coins,
    }
}

/// The whole state as bytes: the credit snapshot and the ledger snapshot.
fn state(w: &World) -> (Vec<u8>, Vec<u8>) {
    let mut credit = Vec::new();
    w.credit.encode_snapshot(&mut credit);
    let mut ledger = Vec::new();
    w.ledger.encode_snapshot(&mut ledger);
    (credit, ledger)
}

/// Runs `command`, expects `code`, and that it left no trace in the credit state or the ledger.
#[track_caller]
fn refused(w: &mut World, command: Command, code: CreditResult) {
    let before = state(w);
    assert_eq!(w.run(command), code);
    assert!(state(w) == before, "a refusal changes nothing");
}

// Goal (issue 4): the reported path. A line at `u64::MAX` buys, repays and buys again within
// one cycle; the purchase that would take the cycle's purchases past `u64::MAX` is refused, at
// authorization when it can be told there, else at capture; in the next cycle the platform's
// lifetime drawdowns refuse it. Before, the capture panicked on `cycle.purchases +=` (and, in a
// new cycle, on the funding's `drawn +=`), and so did every replay of its batch.
#[test]
fn purchase_and_repay_cycles_cannot_overflow_a_line() {
    let mut w = huge_world(|_| {}, &[100]);
    let line = 100;
    // 1.5 × 2^62: two fit in one cycle's purchases, three do not.
    let a: u64 = 0x6000_0000_0000_0000;
    w.purchase(1, line, a);
    assert_eq!(w.run(repay(3, line, a)), CreditResult::Ok);
    assert_eq!(w.available(line), u64::MAX);
    // Within the limit, but the cycle's purchases would pass `u64::MAX` by one fen.
    refused(
        &mut w,
        authorize(4, line, u64::MAX - a + 1),
        CreditResult::OverflowsLineCounters,
    );
    assert_eq!(w.run(authorize(4, line, u64::MAX - a)), CreditResult::Ok);
    assert_eq!(
        w.run(Command::Void {
            id: 5,
            line_id: line,
            purchase_id: 4
        }),
        CreditResult::Ok
    );
    // Two holds, each of which fits when authorized.
    assert_eq!(w.run(authorize(6, line, a)), CreditResult::Ok);
    assert_eq!(w.run(authorize(7, line, a)), CreditResult::Ok);
    assert_eq!(w.run(capture(8, line, 6, 0)), CreditResult::Ok);
    assert_eq!(w.run(repay(9, line, a)), CreditResult::Ok);
    assert_eq!(w.credit.line(line).unwrap().cycle.purchases, 2 * a);
    refused(
        &mut w,
        capture(10, line, 7, 0),
        CreditResult::OverflowsLineCounters,
    );
    // A new cycle: the line's counters start again, the platform's lifetime drawn does not.
    w.close_through(date(2026, 12, 1));
    let l = *w.credit.line(line).unwrap();
    assert_eq!((l.cycle.purchases, l.statement.cycle.purchases), (0, 2 * a));
    refused(
        &mut w,
        capture(10, line, 7, 0),
        CreditResult::OverflowsFundingCounters,
    );
    let platform = w.credit.funding(HUGE).unwrap().platform;
    assert_eq!((platform.drawn, platform.outstanding), (2 * a, 0));
    // What still fits is captured: the platform can draw u64::MAX − 2a more.
    assert_eq!(
        w.run(capture(10, line, 7, u64::MAX - 2 * a)),
        CreditResult::Ok
    );
    assert_eq!(w.credit.funding(HUGE).unwrap().platform.drawn, u64::MAX);
}

// Goal: a limit and a temporary grant that together pass `u64::MAX` are refused as over the
// borrower cap (as an exposure overflow at opening already was), so the effective limit and
// the borrower's exposure never saturate.
#[test]
fn limits_and_grants_cannot_overflow_together() {
    let mut w = huge_world(|_| {}, &[100]);
    let line = 100;
    let today = w.credit.business_date();
    let grant = |amount| Command::SetTemporaryLimit {
        line_id: line,
        amount,
        from: today,
        to: today.plus(5),
    };
    refused(&mut w, grant(1), CreditResult::ExceedsBorrowerCap);
    let cut = Command::SetLimit {
        line_id: line,
        limit: u64::MAX - 10,
    };
    assert_eq!(w.run(cut), CreditResult::Ok);
    assert_eq!(w.run(grant(10)), CreditResult::Ok);
    assert_eq!(w.available(line), u64::MAX);
    let raise = Command::SetLimit {
        line_id: line,
        limit: u64::MAX,
    };
    assert_eq!(
        w.credit.raise_check(line, u64::MAX),
        CreditResult::ExceedsBorrowerCap
    );
    refused(&mut w, raise, CreditResult::ExceedsBorrowerCap);
}

// Goal: refunds that would take the line's credit balance or the cycle's refunds past
// `u64::MAX` are refused; the exact edge is accepted. Captures paid from a credit balance draw
// nothing, so refunds can outgrow what the funding ever drew.
#[test]
fn huge_refunds_are_refused_not_panics() {
    // The credit balance: u64::MAX after a repayment, then a refund of any amount.
    let mut w = huge_world(|_| {}, &[100]);
    let line = 100;
    assert_eq!(w.run(repay(1, line, u64::MAX)), CreditResult::Ok);
    w.purchase(2, line, 1 << 62);
    w.close_through(date(2026, 12, 1));
    assert_eq!(w.run(repay(4, line, 1 << 62)), CreditResult::Ok);
    assert_eq!(w.credit.line(line).unwrap().credit_balance, u64::MAX);
    refused(
        &mut w,
        refund(5, line, 2, 1),
        CreditResult::OverflowsLineCounters,
    );

    // The cycle's refunds: two refunds of 2^63 in one cycle.
    let mut w = huge_world(|_| {}, &[100]);
    assert_eq!(w.run(repay(1, line, u64::MAX)), CreditResult::Ok);
    w.purchase(2, line, HALF);
    w.close_through(date(2026, 12, 1));
    // Paid from the credit balance left (2^63 − 1) but one fen.
    w.purchase(4, line, HALF);
    assert_eq!(w.credit.line(line).unwrap().unbilled, 1);
    assert_eq!(w.run(refund(6, line, 2, HALF)), CreditResult::Ok);
    refused(
        &mut w,
        refund(7, line, 4, HALF),
        CreditResult::OverflowsLineCounters,
    );
    assert_eq!(w.run(refund(7, line, 4, HALF - 1)), CreditResult::Ok);
    let l = *w.credit.line(line).unwrap();
    assert_eq!(
        (l.cycle.refunds, l.credit_balance),
        (u64::MAX, u64::MAX - 1)
    );
}

// Goal: a plan of nearly `u64::MAX`: settling it would cost more than a u64 amount can name
// (refused, or a mismatch for any stated amount); billing its first period cannot add the fee
// to a line owing nearly `u64::MAX`, so the fee is not posted and no plan counts it billed (it
// used to panic in `Owed::total` on the statement). A settlement that would take the cycle's
// repayments past `u64::MAX` is refused.
#[test]
fn huge_installments_are_refused_not_panics() {
    let mut w = huge_world(|_| {}, &[100, 200]);
    let (line, small) = (100, 200);
    let principal = u64::MAX - 1_000_000;
    w.purchase(1, line, principal);
    assert_eq!(w.run(convert(10, line, 1)), CreditResult::Ok);
    let plan = *w.credit.plan(10).unwrap();
    assert!(plan.fee > u64::MAX / 100, "2.5% of the principal");
    refused(
        &mut w,
        settle(11, line, 10, 0),
        CreditResult::OverflowsLineCounters,
    );
    refused(
        &mut w,
        settle(11, line, 10, u64::MAX),
        CreditResult::SettlementAmountMismatch,
    );

    // A small plan, and a repayment of u64::MAX beside it (a credit balance may sit beside
    // installment principal not yet billed).
    w.purchase(20, small, yuan(1_000));
    assert_eq!(w.run(convert(30, small, 20)), CreditResult::Ok);
    assert_eq!(w.run(repay(31, small, u64::MAX)), CreditResult::Ok);
    refused(
        &mut w,
        settle(32, small, 30, 0),
        CreditResult::OverflowsLineCounters,
    );

    w.close_through(date(2026, 12, 1));
    let l = *w.credit.line(line).unwrap();
    let plan = *w.credit.plan(10).unwrap();
    assert_eq!((plan.billed, plan.fee_billed), (1, 0));
    assert_eq!((l.owed.principal, l.owed.fee), (principal / 3, 0));
    assert_eq!(l.installment, principal - principal / 3);
    assert_eq!(l.statement.balance, principal / 3);
    // Only the small plan's fee was posted: 2.5% of 1,000.00 over three periods.
    assert_eq!(w.account(FEE).credits_posted, 833);
}

/// The huge program with reward coins: one coin is one yuan, up to 100% of the bill; the user
/// holds `u64::MAX` coins and the budget `u64::MAX` fen.
fn coin_world() -> World {
    let mut w = World::new();
    w.account_with(COIN_ISSUER, COIN_LEDGER, 0);
    w.account_with(COIN_POOL, COIN_LEDGER, 0);
    let bounded = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;
    w.account_with(USER_COINS, COIN_LEDGER, bounded);
    w.account_with(COIN_BUDGET, LEDGER, bounded);
    w.transfer(900, COIN_ISSUER, USER_COINS, u64::MAX, COIN_LEDGER);
    w.transfer(901, BANK, COIN_BUDGET, u64::MAX, LEDGER);
    let coins = Program {
        coin_account_id: COIN_POOL,
        coin_funding_account_id: COIN_BUDGET,
        coins_per_yuan: 1,
        coin_cap_bps: 10_000,
        ..huge_program()
    };
    assert_eq!(w.program(&coins), CreditResult::Ok);
    w
}

// Goal: coins worth more than `u64::MAX` fen are over any cap: refused, where the value used
// to saturate to `u64::MAX` and pass against a bill of exactly that (all the user's coins for
// a hundredth of their worth). The largest redemption that fits is exact. A redemption that
// would take what was paid since the statement past `u64::MAX` is refused (no command
// sequence we found leaves a bill beside that much paid, so the state is set directly).
#[test]
fn huge_coin_redemptions_are_refused_not_panics() {
    let mut w = coin_world();
    let line = 100;
    assert_eq!(w.run(open_huge(line)), CreditResult::Ok);
    w.purchase(1, line, u64::MAX);
    w.close_through(date(2026, 12, 1));
    let l = *w.credit.line(line).unwrap();
    assert_eq!(
        (l.owed.principal, l.statement.balance),
        (u64::MAX, u64::MAX)
    );
    refused(
        &mut w,
        redeem(10, line, u64::MAX),
        CreditResult::ExceedsCoinCap,
    );
    let coins = u64::MAX / 100;
    assert_eq!(w.run(redeem(11, line, coins)), CreditResult::Ok);
    let l = *w.credit.line(line).unwrap();
    assert_eq!(l.owed.principal, u64::MAX - 100 * coins);
    assert_eq!(
        (l.coins_redeemed, l.paid_since_statement),
        (100 * coins, 100 * coins)
    );
    assert_eq!(w.account(COIN_POOL).credits_posted, u128::from(coins));

    let mut w = coin_world();
    assert_eq!(w.run(open_huge(line)), CreditResult::Ok);
    w.purchase(1, line, yuan(1_000));
    w.close_through(date(2026, 12, 1));
    w.credit.lines[0].paid_since_statement = u64::MAX - 99;
    refused(
        &mut w,
        redeem(10, line, 1),
        CreditResult::OverflowsLineCounters,
    );
    w.credit.lines[0].paid_since_statement = u64::MAX - 100;
    assert_eq!(w.run(redeem(10, line, 1)), CreditResult::Ok);
}

// Goal: a funder's lifetime drawn principal cannot pass `u64::MAX`: the drawdown that would
// take it there is refused, a smaller one still fits, and settlement and the bounds of every
// participant's counters hold afterwards.
#[test]
fn huge_funder_shares_are_refused_not_panics() {
    let mut w = World::new();
    w.account_with(FUNDER, LEDGER, 0);
    assert_eq!(w.program(&huge_program()), CreditResult::Ok);
    let add = Command::AddFunder {
        program_id: HUGE,
        account_id: FUNDER,
        share_bps: 7_000,
    };
    assert_eq!(w.run(add), CreditResult::Ok);
    let line = 100;
    assert_eq!(w.run(open_huge(line)), CreditResult::Ok);
    // Two cycles of 2^63 each: the funder drew 70% of each, 1.4 × 2^63.
    for (id, statement) in [(1, date(2026, 12, 1)), (10, date(2027, 1, 1))] {
        w.purchase(id, line, HALF);
        assert_eq!(w.run(repay(id + 2, line, HALF)), CreditResult::Ok);
        w.close_through(statement);
    }
    // 70% of 2^63 is 6,456,360,425,798,343,065.6 fen: the funder's part rounds down.
    let funder = w.credit.funding(HUGE).unwrap().funders[0];
    assert_eq!(funder.share.drawn, 2 * 6_456_360_425_798_343_065);
    assert_eq!(w.run(authorize(20, line, HALF)), CreditResult::Ok);
    refused(
        &mut w,
        capture(21, line, 20, 0),
        CreditResult::OverflowsFundingCounters,
    );
    assert_eq!(w.run(capture(21, line, 20, 1 << 62)), CreditResult::Ok);
    let settle_funding = Command::SettleFunding { program_id: HUGE };
    assert_eq!(w.run(settle_funding), CreditResult::Ok);
    let funding = w.credit.funding(HUGE).unwrap().clone();
    for share in std::iter::once(funding.platform).chain(funding.funders.iter().map(|f| f.share)) {
        let sum = u128::from(share.outstanding) + u128::from(share.repaid) + u128::from(share.lost);
        assert_eq!(sum, u128::from(share.drawn));
    }
}

// Goal: a day-close cannot refuse, so a charge the line could not count (its debt past
// `u64::MAX`) is not posted: a penalty of half of `u64::MAX` a day is charged once, not twice,
// and interest at an absurd rate (it saturates to `u64::MAX`) never. Both used to be posted,
// leaving a line whose debt overflows `u64` (the next `Owed::total` panics).
#[test]
fn day_close_skips_charges_a_line_cannot_count() {
    let mut w = huge_world(
        |p| {
            p.penalty_min_per_day = u64::MAX / 2;
            p.interest_daily_rate = Rate(u64::MAX);
        },
        &[100, 200],
    );
    let (missed, revolving) = (100, 200);
    w.purchase(1, missed, yuan(1_000));
    w.purchase(3, revolving, 1 << 62);
    w.close_through(date(2026, 12, 1));
    let minimum = w.credit.line(revolving).unwrap().statement.minimum_payment;
    assert_eq!(w.run(repay(5, revolving, minimum)), CreditResult::Ok);
    w.close_through(date(2026, 12, 12));
    let l = *w.credit.line(missed).unwrap();
    assert!(l.overdue());
    assert_eq!(
        (l.owed.penalty, l.cycle.penalties),
        (u64::MAX / 2, u64::MAX / 2)
    );
    assert_eq!(w.account(PENALTY).credits_posted, u128::from(u64::MAX / 2));
    let l = *w.credit.line(revolving).unwrap();
    assert!(l.revolving && !l.overdue());
    assert_eq!(
        (l.owed.interest, w.account(INTEREST).credits_posted),
        (0, 0)
    );
}

// Goal: a real state's snapshot with any eight bytes set to a huge value decodes or is refused,
// never panics; and whatever decodes consistent with the ledger takes commands with huge
// amounts and a statement day without panicking and stays consistent.
#[test]
fn decoded_huge_values_never_panic() {
    let mut w = World::new();
    let add = Command::AddFunder {
        program_id: PROGRAM,
        account_id: MERCHANT,
        share_bps: 4_000,
    };
    assert_eq!(w.run(add), CreditResult::Ok);
    for line in [100, 200, 300] {
        assert_eq!(w.open(line, yuan(10_000)), CreditResult::Ok);
        w.purchase(line + 1, line, yuan(2_000));
    }
    assert_eq!(w.run(convert(150, 100, 101)), CreditResult::Ok);
    w.purchase(160, 100, yuan(1_000));
    w.close_through(date(2026, 12, 1));
    // Line 200 pays its minimum (it revolves), 300 nothing (overdue), 100 more than it owes.
    let minimum = w.credit.line(200).unwrap().statement.minimum_payment;
    assert_eq!(w.run(repay(170, 200, minimum)), CreditResult::Ok);
    assert_eq!(w.run(repay(171, 100, yuan(5_000))), CreditResult::Ok);
    w.close_through(date(2026, 12, 31));
    let (credit_bytes, ledger_bytes) = state(&w);
    let first = w.timestamp + 1;
    let mut decoded_count = 0;
    for at in 8..credit_bytes.len().saturating_sub(8) {
        for value in [u64::MAX, u64::MAX / 2 + 1] {
            let mut bad = credit_bytes.clone();
            bad[at..at + 8].copy_from_slice(&value.to_le_bytes());
            let Ok((credit, _)) = Credit::decode_snapshot(&bad, 1) else {
                continue;
            };
            let ledger = Ledger::decode_snapshot(&ledger_bytes, 1)
                .expect("the ledger snapshot decodes")
                .finish()
                .expect("and restores");
            if credit.check_ledger(&ledger).is_err() {
                continue;
            }
            decoded_count += 1;
            run_script(credit, ledger, first, w.credit.business_date());
        }
    }
    assert!(decoded_count > 100, "{decoded_count} edited states decoded");
}

// Goal: the bounds the unchecked additions rely on are invariants a decoded snapshot must hold
// (`check_records`). Each edit below encodes a state that would panic or go wrong later (an
// addition past `u64::MAX`, a division by zero, a waterfall that leaves a component unpaid),
// and decoding refuses it by name.
#[test]
fn snapshots_breaking_the_counter_bounds_are_refused() {
    let mut w = World::new();
    let add = Command::AddFunder {
        program_id: PROGRAM,
        account_id: MERCHANT,
        share_bps: 4_000,
    };
    assert_eq!(w.run(add), CreditResult::Ok);
    assert_eq!(w.open(100, yuan(10_000)), CreditResult::Ok);
    w.purchase(1, 100, yuan(1_000));
    let edited = |edit: &dyn Fn(&mut Credit)| {
        let (bytes, _) = state(&w);
        let (mut credit, _) = Credit::decode_snapshot(&bytes, 1).expect("a real state decodes");
        edit(&mut credit);
        let mut bytes = Vec::new();
        credit.encode_snapshot(&mut bytes);
        Credit::decode_snapshot(&bytes, 1).err()
    };
    let inconsistent = |what, id| Some(CreditSnapshotError::Inconsistent { what, id });
    assert_eq!(edited(&|_| {}), None);
    let unbounded = "funding participant's counters not bounded by what it drew";
    assert_eq!(
        edited(&|c| c.funding[0].funders[0].share.drawn -= 1),
        inconsistent(unbounded, PROGRAM)
    );
    assert_eq!(
        edited(&|c| c.funding[0].funders[0].unsettled_drawn = u64::MAX),
        inconsistent(unbounded, PROGRAM)
    );
    assert_eq!(
        edited(&|c| c.lines[0].cycle.installments = 1),
        inconsistent(
            "line cycle with installments billed before its statement",
            100
        )
    );
    assert_eq!(
        edited(&|c| {
            c.lines[0].limit = u64::MAX;
            c.lines[0].temporary.amount = 1;
        }),
        inconsistent("line limit and temporary grant overflow u64", 100)
    );
    assert_eq!(
        edited(&|c| {
            c.programs[0].coin_account_id = FEE;
            c.programs[0].coins_per_yuan = 0;
        }),
        inconsistent("program offers coins at no rate", PROGRAM)
    );
    assert_eq!(
        edited(&|c| c.programs[0].waterfall = [Component::Penalty; 4]),
        inconsistent("program waterfall not a permutation", PROGRAM)
    );
}

/// Commands with huge and ordinary amounts on every line, then the statement day.
fn run_script(mut credit: Credit, mut ledger: Ledger, mut timestamp: u64, today: Date) {
    let mut id = 10_000;
    let mut commands = Vec::new();
    for line in [100u128, 200, 300] {
        for amount in [1, yuan(100), u64::MAX / 2 + 1, u64::MAX] {
            id += 10;
            commands.extend([
                authorize(id, line, amount),
                capture(id + 1, line, id, 0),
                refund(id + 2, line, line + 1, amount),
                repay(id + 3, line, amount),
                settle(id + 4, line, 150, 0),
                Command::SetLimit {
                    line_id: line,
                    limit: amount,
                },
            ]);
        }
    }
    commands.push(Command::DayClose {
        date: today,
        max_lines: 10,
    });
    commands.push(Command::SettleFunding {
        program_id: PROGRAM,
    });
    for command in commands {
        let _ = credit.execute(&mut ledger, timestamp, &command);
        timestamp += command.timestamp_count();
        ledger.check_conservation();
        credit.check_lines(&ledger);
    }
}

/// Amounts near the edges of `u64`, and ordinary ones.
fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![
        (0u64..1_000).prop_map(|k| u64::MAX - k),
        (0u64..1_000).prop_map(|k| HALF - 500 + k),
        (0u64..1_000).prop_map(|k| (1 << 62) + k),
        any::<u64>(),
        1u64..1_000_000,
    ]
}

#[derive(Clone, Debug)]
enum Op {
    Authorize { line: u8, amount: u64 },
    Capture { pick: u8, amount: u64, all: bool },
    Void { pick: u8 },
    Refund { pick: u8, amount: u64 },
    Repay { line: u8, amount: u64 },
    Limit { line: u8, limit: u64 },
    Grant { line: u8, amount: u64 },
    Convert { pick: u8, bill: bool },
    Settle { pick: u8, amount: u64 },
    Redeem { line: u8, coins: u64 },
    Close { days: u8 },
    SettleFunding,
}

fn op() -> impl Strategy<Value = Op> {
    let line = 0u8..3;
    prop_oneof![
        5 => (line.clone(), amount()).prop_map(|(line, amount)| Op::Authorize { line, amount }),
        5 => (any::<u8>(), amount(), any::<bool>())
            .prop_map(|(pick, amount, all)| Op::Capture { pick, amount, all }),
        1 => any::<u8>().prop_map(|pick| Op::Void { pick }),
        3 => (any::<u8>(), amount()).prop_map(|(pick, amount)| Op::Refund { pick, amount }),
        4 => (line.clone(), amount()).prop_map(|(line, amount)| Op::Repay { line, amount }),
        1 => (line.clone(), amount()).prop_map(|(line, limit)| Op::Limit { line, limit }),
        1 => (line.clone(), amount()).prop_map(|(line, amount)| Op::Grant { line, amount }),
        2 => (any::<u8>(), any::<bool>()).prop_map(|(pick, bill)| Op::Convert { pick, bill }),
        1 => (any::<u8>(), amount()).prop_map(|(pick, amount)| Op::Settle { pick, amount }),
        2 => (line.clone(), amount()).prop_map(|(line, coins)| Op::Redeem { line, coins }),
        2 => (1u8..40).prop_map(|days| Op::Close { days }),
        1 => Just(Op::SettleFunding),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    // Goal: random commands with amounts near `u64::MAX`, on lines at `u64::MAX` of a program
    // with coins and a funder, never panic; conservation and the line invariants hold after
    // every step (`World::run`); a refusal for counters leaves no trace; the ledger never
    // refuses what the credit checks passed (`ledger_rejected`).
    #[test]
    fn huge_amounts_never_panic(ops in proptest::collection::vec(op(), 1..80)) {
        let mut w = coin_world();
        w.account_with(FUNDER, LEDGER, 0);
        let add = Command::AddFunder { program_id: HUGE, account_id: FUNDER, share_bps: 5_000 };
        prop_assert_eq!(w.run(add), CreditResult::Ok);
        let lines = [100u128, 200, 300];
        for &line in &lines {
            prop_assert_eq!(w.run(open_huge(line)), CreditResult::Ok);
        }
        // (purchase id, line)
        let mut purchases: Vec<(u128, u128)> = Vec::new();
        let mut plans: Vec<(u128, u128)> = Vec::new();
        let mut next_id = 1_000u128;
        for op in ops {
            next_id += 1;
            let pick = |list: &[(u128, u128)], k: u8| {
                list.get(usize::from(k) % list.len().max(1)).copied()
            };
            let command = match op {
                Op::Authorize { line, amount } => {
                    purchases.push((next_id, lines[usize::from(line)]));
                    authorize(next_id, lines[usize::from(line)], amount)
                }
                Op::Capture { pick: k, amount, all } => {
                    let Some((purchase, line)) = pick(&purchases, k) else { continue };
                    capture(next_id, line, purchase, if all { 0 } else { amount })
                }
                Op::Void { pick: k } => {
                    let Some((purchase, line)) = pick(&purchases, k) else { continue };
                    Command::Void { id: next_id, line_id: line, purchase_id: purchase }
                }
                Op::Refund { pick: k, amount } => {
                    let Some((purchase, line)) = pick(&purchases, k) else { continue };
                    refund(next_id, line, purchase, amount)
                }
                Op::Repay { line, amount } => repay(next_id, lines[usize::from(line)], amount),
                Op::Limit { line, limit } => {
                    Command::SetLimit { line_id: lines[usize::from(line)], limit }
                }
                Op::Grant { line, amount } => {
                    let today = w.credit.business_date();
                    Command::SetTemporaryLimit {
                        line_id: lines[usize::from(line)],
                        amount,
                        from: today,
                        to: today.plus(3),
                    }
                }
                Op::Convert { pick: k, bill } => {
                    let Some((purchase, line)) = pick(&purchases, k) else { continue };
                    plans.push((next_id, line));
                    convert(next_id, line, if bill { 0 } else { purchase })
                }
                Op::Settle { pick: k, amount } => {
                    let Some((plan, line)) = pick(&plans, k) else { continue };
                    settle(next_id, line, plan, if amount % 2 == 0 { 0 } else { amount })
                }
                Op::Redeem { line, coins } => redeem(next_id, lines[usize::from(line)], coins),
                Op::Close { days } => {
                    let last = w.credit.business_date().plus(u32::from(days) - 1);
                    w.close_through(last);
                    continue;
                }
                Op::SettleFunding => Command::SettleFunding { program_id: HUGE },
            };
            let before = state(&w);
            let result = w.run(command);
            prop_assert_ne!(result, CreditResult::LedgerRejected);
            if matches!(
                result,
                CreditResult::OverflowsLineCounters | CreditResult::OverflowsFundingCounters
            ) {
                prop_assert!(state(&w) == before, "{:?} changed the state", result);
            }
        }
    }
}
