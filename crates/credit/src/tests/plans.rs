//! Installments (purchase and bill conversion, sponsored plans, early settlement, refunds of a
//! converted purchase), reward coins and co-funding, each with figures computed by hand.

use ledger::{Account, AccountFlags, Transfer};

use super::{
    BANK, FEE, LOSS, MERCHANT, PROGRAM, World, authorize, capture, date, program, repay, yuan,
};
use crate::math::{EarlySettlement, Pricing, Rate};
use crate::{Command, CreditResult, LineStatus, PlanStatus, Program};

const SPONSOR: u128 = 20;
const COIN_LEDGER: u32 = 900;
const COIN_ISSUER: u128 = 30;
const COIN_POOL: u128 = 31;
const COIN_BUDGET: u128 = 32;
const USER_COINS: u128 = 33;
const FUNDING: u128 = 40;
const FUNDER_A: u128 = 41;
const FUNDER_B: u128 = 42;
const FUNDER_C: u128 = 43;

/// 8.8% for the whole plan: Huabei's 12-period list price.
fn total_rate(percent_tenths: u64) -> Pricing {
    Pricing::TotalRate(Rate(percent_tenths * 10_000_000))
}

impl World {
    pub(super) fn account_with(&mut self, id: u128, ledger: u32, flags: u16) {
        let account = Account {
            id,
            ledger,
            code: 1,
            flags: AccountFlags(flags),
            ..Account::default()
        };
        let mut results = Vec::new();
        self.timestamp += 1;
        self.ledger
            .create_accounts(self.timestamp, &[account], &mut results);
        assert_eq!(results, [ledger::CreateAccountResult::Ok]);
    }

    /// A plain ledger transfer (e.g. funding a budget).
    pub(super) fn transfer(
        &mut self,
        id: u128,
        debit: u128,
        credit: u128,
        amount: u64,
        ledger: u32,
    ) {
        let transfer = Transfer {
            id,
            debit_account_id: debit,
            credit_account_id: credit,
            amount: u128::from(amount),
            ledger,
            code: 1,
            ..Transfer::default()
        };
        let mut results = Vec::new();
        self.timestamp += 1;
        self.ledger
            .create_transfers(self.timestamp, &[transfer], &mut results);
        assert_eq!(results, [ledger::CreateTransferResult::Ok]);
    }

    pub(super) fn purchase(&mut self, id: u128, line: u128, amount: u64) {
        assert_eq!(self.run(authorize(id, line, amount)), CreditResult::Ok);
        assert_eq!(self.run(capture(id + 1, line, id, 0)), CreditResult::Ok);
    }

    fn pay_bill(&mut self, id: u128, line: u128) {
        let owed = self.credit.line(line).unwrap().owed.total();
        if owed > 0 {
            assert_eq!(self.run(repay(id, line, owed)), CreditResult::Ok);
        }
    }
}

fn open_in(program_id: u128, line: u128) -> Command {
    let Command::OpenLine {
        id,
        borrower_id,
        limit,
        annual_income,
        birth_date,
        statement_day,
        due_day,
        applicant,
        ..
    } = super::open_line(line, 7, yuan(10_000))
    else {
        unreachable!()
    };
    Command::OpenLine {
        id,
        borrower_id,
        program_id,
        limit,
        annual_income,
        birth_date,
        statement_day,
        due_day,
        applicant,
    }
}

fn convert(id: u128, line: u128, purchase: u128, periods: u8, pricing: Pricing) -> Command {
    Command::ConvertInstallments {
        id,
        line_id: line,
        purchase_id: purchase,
        periods,
        pricing,
        sponsor_account_id: 0,
    }
}

// Goal: 1,000.00 over 12 periods at 8.8% bills 83.33 + 7.33 eleven times and 83.37 + 7.37
// once, exactly 1,000.00 and 88.00 in all; the APR cap refuses it below 15.86%.
#[test]
fn purchase_installments_bill_exact_sums() {
    let mut w = World::new();
    let line = 100;
    assert_eq!(w.open(line, yuan(10_000)), CreditResult::Ok);
    w.purchase(1, line, yuan(1_000));
    let capped = Program {
        id: PROGRAM + 1,
        apr_cap: Rate(1_500_000_000),
        ..program(PROGRAM + 1)
    };
    assert_eq!(w.program(&capped), CreditResult::Ok);
    // The line's program caps at 24%: 12 periods at 8.8% (about 15.86%) pass, 24 at 30% not.
    assert_eq!(
        w.run(convert(10, line, 1, 24, total_rate(300))),
        CreditResult::AprAboveCap
    );
    assert_eq!(
        w.run(convert(10, line, 1, 7, total_rate(88))),
        CreditResult::PeriodsNotOffered
    );
    assert_eq!(
        w.run(convert(10, line, 1, 12, total_rate(88))),
        CreditResult::Ok
    );
    assert_eq!(
        w.run(convert(10, line, 1, 12, total_rate(88))),
        CreditResult::Exists
    );
    assert_eq!(
        w.run(convert(11, line, 1, 12, total_rate(88))),
        CreditResult::PurchaseAlreadyConverted
    );
    let plan = *w.credit.plan(10).unwrap();
    assert_eq!((plan.principal, plan.fee), (yuan(1_000), 8_800));
    // About 15.86% nominal, as Huabei publishes.
    assert!((1_580_000_000..1_592_000_000).contains(&plan.apr_nominal));
    let l = *w.credit.line(line).unwrap();
    assert_eq!((l.unbilled, l.installment), (0, yuan(1_000)));
    assert_eq!(
        w.available(line),
        yuan(9_000),
        "a plan still uses the limit"
    );

    // Twelve bills, each paid in full.
    let mut bills = Vec::new();
    for month in 0..12u32 {
        let (y, m) = if month == 0 {
            (2026, 12)
        } else {
            (2027, month)
        };
        w.close_through(date(y, m, 1));
        let l = *w.credit.line(line).unwrap();
        bills.push((l.owed.principal, l.owed.fee));
        assert_eq!(
            l.statement.minimum_payment, l.statement.balance,
            "due in full"
        );
        w.pay_bill(1_000 + u128::from(month), line);
    }
    assert_eq!(bills[0], (8_333, 733));
    assert_eq!(bills[10], (8_333, 733));
    assert_eq!(bills[11], (8_337, 737));
    assert_eq!(bills.iter().map(|b| b.0).sum::<u64>(), yuan(1_000));
    assert_eq!(w.account(FEE).credits_posted, 8_800);
    let plan = *w.credit.plan(10).unwrap();
    assert_eq!(plan.status, PlanStatus::Completed);
    assert_eq!((plan.billed, plan.fee_billed), (12, 8_800));
    assert_eq!(w.available(line), yuan(10_000));
}

// Goal: a bill converted between its statement and due dates leaves only the rest due; the
// window is enforced; the first period comes on the next bill.
#[test]
fn bill_installments() {
    let mut w = World::new();
    let line = 100;
    assert_eq!(w.open(line, yuan(10_000)), CreditResult::Ok);
    w.purchase(1, line, yuan(3_000));
    assert_eq!(
        w.run(convert(10, line, 0, 3, total_rate(25))),
        CreditResult::OutsideBillConversionWindow
    );
    w.close_through(date(2026, 12, 4));
    assert_eq!(
        w.credit.line(line).unwrap().statement.minimum_payment,
        yuan(300)
    );
    assert_eq!(
        w.run(convert(10, line, 0, 3, total_rate(25))),
        CreditResult::Ok
    );
    let l = *w.credit.line(line).unwrap();
    assert_eq!((l.owed.total(), l.installment), (0, yuan(3_000)));
    assert_eq!(l.statement.minimum_payment, 0);
    assert_eq!(
        w.run(convert(11, line, 0, 3, total_rate(25))),
        CreditResult::NothingToConvert
    );
    w.close_through(date(2026, 12, 20));
    assert!(!w.credit.line(line).unwrap().overdue(), "nothing left due");
    // 3,000.00 at 2.5%: 75.00 of fee, 1,000.00 + 25.00 a month.
    w.close_through(date(2027, 1, 1));
    let l = *w.credit.line(line).unwrap();
    assert_eq!((l.owed.principal, l.owed.fee), (yuan(1_000), yuan(25)));
    assert_eq!(l.statement.cycle.installments, yuan(1_000));
    assert_eq!(l.installment, yuan(2_000));
    // The bill window has closed for the December bill; the January one is open until the 10th.
    w.close_through(date(2027, 1, 11));
    assert_eq!(
        w.run(convert(12, line, 0, 3, total_rate(25))),
        CreditResult::LineOverdue,
        "the January period was not paid"
    );
}

// Goal: a sponsor's bounded budget pays the fee at conversion and is never overspent: the
// conversion that would overspend it is refused and leaves no trace.
#[test]
fn sponsored_plans_never_overspend_the_budget() {
    let mut w = World::new();
    let line = 100;
    assert_eq!(w.open(line, yuan(10_000)), CreditResult::Ok);
    w.account_with(
        SPONSOR,
        super::LEDGER,
        AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
    );
    w.account_with(SPONSOR + 1, super::LEDGER, 0);
    w.transfer(900, BANK, SPONSOR, yuan(40), super::LEDGER);
    w.purchase(1, line, yuan(1_000));
    w.purchase(3, line, yuan(1_000));
    let sponsored = |id, purchase, sponsor| Command::ConvertInstallments {
        id,
        line_id: line,
        purchase_id: purchase,
        periods: 3,
        pricing: total_rate(25),
        sponsor_account_id: sponsor,
    };
    assert_eq!(
        w.run(sponsored(10, 1, SPONSOR + 1)),
        CreditResult::SponsorAccountUnbounded
    );
    assert_eq!(w.run(sponsored(10, 1, SPONSOR)), CreditResult::Ok);
    assert_eq!(w.account(SPONSOR).debits_posted, u128::from(yuan(25)));
    let plan = *w.credit.plan(10).unwrap();
    assert_eq!(
        (plan.fee, plan.sponsor_fee, plan.apr_nominal),
        (0, yuan(25), 0)
    );
    // 15.00 left: the next 25.00 would overspend.
    assert_eq!(
        w.run(sponsored(11, 3, SPONSOR)),
        CreditResult::SponsorBudgetExceeded
    );
    assert!(w.credit.plan(11).is_none());
    assert_eq!(w.credit.line(line).unwrap().installment, yuan(1_000));
    // The borrower pays no fee: three periods of principal only.
    w.close_through(date(2026, 12, 1));
    let l = *w.credit.line(line).unwrap();
    assert_eq!(l.owed.fee, 0);
    assert_eq!(l.owed.principal, 33_333 + yuan(1_000));
    assert_eq!(w.account(FEE).credits_posted, u128::from(yuan(25)));
}

// Goal: early settlement collects the principal not yet billed and the fee the rule makes
// due, all or nothing, idempotently; a refund of a converted purchase shortens its plan.
#[test]
fn early_settlement_and_refunds_of_plans() {
    let mut w = World::new();
    let line = 100;
    assert_eq!(w.open(line, yuan(10_000)), CreditResult::Ok);
    w.purchase(1, line, yuan(1_200));
    assert_eq!(
        w.run(convert(10, line, 1, 12, total_rate(88))),
        CreditResult::Ok
    );
    w.close_through(date(2026, 12, 1));
    w.pay_bill(20, line);
    w.close_through(date(2026, 12, 15));
    let settle = |id, amount| Command::SettleInstallments {
        id,
        line_id: line,
        plan_id: 10,
        source_account_id: BANK,
        amount,
    };
    // Waive-remaining: 1,100.00 of principal and the running period's 8.80.
    let due = yuan(1_100) + 880;
    assert_eq!(
        w.run(settle(30, due + 1)),
        CreditResult::SettlementAmountMismatch
    );
    assert_eq!(w.run(settle(30, due)), CreditResult::Ok);
    assert_eq!(w.run(settle(30, due)), CreditResult::Exists);
    assert_eq!(w.run(settle(30, 0)), CreditResult::Exists);
    assert_eq!(w.run(settle(31, 0)), CreditResult::PlanNotActive);
    let plan = *w.credit.plan(10).unwrap();
    assert_eq!(
        (plan.status, plan.settlement_fee),
        (PlanStatus::Settled, 880)
    );
    assert_eq!(w.credit.line(line).unwrap().installment, 0);
    assert_eq!(
        w.account(FEE).credits_posted,
        880 + 880,
        "one billed period, one settled"
    );
    assert_eq!(w.available(line), yuan(10_000));

    // A refund takes back a plan's principal from its last periods: 300.00 of 1,200.00 leaves
    // nine periods of 100.00; the plan ends after the ninth, its other fees waived.
    w.purchase(40, line, yuan(1_200));
    assert_eq!(
        w.run(convert(42, line, 40, 12, total_rate(88))),
        CreditResult::Ok
    );
    let refund = Command::Refund {
        id: 43,
        line_id: line,
        purchase_id: 40,
        amount: yuan(300),
    };
    assert_eq!(w.run(refund), CreditResult::Ok);
    assert_eq!(w.credit.line(line).unwrap().installment, yuan(900));
    for month in 1..=9u32 {
        w.close_through(date(2027, month, 1));
        w.pay_bill(100 + u128::from(month), line);
    }
    let plan = *w.credit.plan(42).unwrap();
    assert_eq!(
        (plan.status, plan.billed, plan.fee_billed),
        (PlanStatus::Completed, 9, 9 * 880)
    );
    // A full refund ends a plan before any bill.
    w.purchase(50, line, yuan(600));
    assert_eq!(
        w.run(convert(52, line, 50, 6, total_rate(45))),
        CreditResult::Ok
    );
    let refund = Command::Refund {
        id: 53,
        line_id: line,
        purchase_id: 50,
        amount: yuan(600),
    };
    assert_eq!(w.run(refund), CreditResult::Ok);
    assert_eq!(w.credit.plan(52).unwrap().status, PlanStatus::Refunded);
    assert_eq!(w.credit.line(line).unwrap().installment, 0);
}

fn coin_program() -> Program {
    Program {
        coin_account_id: COIN_POOL,
        coin_funding_account_id: COIN_BUDGET,
        coins_per_yuan: 1_000,
        coin_cap_bps: 1_000,
        early_settlement: EarlySettlement::ProRata,
        ..program(PROGRAM + 5)
    }
}

// Goal: coins pay the bill at the configured rate, exactly, up to the cap per bill, never
// beyond the coins held or the budget, all or nothing.
#[test]
fn reward_coins_pay_the_bill() {
    let mut w = World::new();
    w.account_with(COIN_ISSUER, COIN_LEDGER, 0);
    w.account_with(COIN_POOL, COIN_LEDGER, 0);
    w.account_with(
        USER_COINS,
        COIN_LEDGER,
        AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
    );
    w.account_with(
        COIN_BUDGET,
        super::LEDGER,
        AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
    );
    w.transfer(900, COIN_ISSUER, USER_COINS, 200_000, COIN_LEDGER);
    w.transfer(901, BANK, COIN_BUDGET, yuan(60), super::LEDGER);
    assert_eq!(
        w.program(&Program {
            coins_per_yuan: 0,
            ..coin_program()
        }),
        CreditResult::CoinTermsInvalid
    );
    assert_eq!(w.program(&coin_program()), CreditResult::Ok);
    let line = 100;
    let open = open_in(PROGRAM + 5, line);
    assert_eq!(w.run(open), CreditResult::Ok);
    let redeem = |id, coins| Command::RedeemCoins {
        id,
        line_id: line,
        coin_account_id: USER_COINS,
        coins,
    };
    w.purchase(1, line, yuan(1_000));
    // No bill yet: the cap is 10% of nothing.
    assert_eq!(w.run(redeem(10, 1_000)), CreditResult::ExceedsCoinCap);
    w.close_through(date(2026, 12, 1));
    assert_eq!(w.run(redeem(10, 15)), CreditResult::CoinsNotWholeFen);
    // 1,000 coins = 1.00; the cap is 100.00 = 100,000 coins.
    assert_eq!(w.run(redeem(10, 50_000)), CreditResult::Ok);
    assert_eq!(w.run(redeem(10, 50_000)), CreditResult::Exists);
    let l = *w.credit.line(line).unwrap();
    assert_eq!((l.owed.principal, l.coins_redeemed), (yuan(950), yuan(50)));
    assert_eq!(w.account(COIN_POOL).credits_posted, 50_000);
    // 10.00 left in the budget: 20.00 of coins is refused whole.
    assert_eq!(
        w.run(redeem(11, 20_000)),
        CreditResult::CoinFundingExhausted
    );
    assert_eq!(w.account(USER_COINS).debits_posted, 50_000);
    assert_eq!(w.run(redeem(12, 60_000)), CreditResult::ExceedsCoinCap);
    w.transfer(902, BANK, COIN_BUDGET, yuan(1_000), super::LEDGER);
    assert_eq!(w.run(redeem(13, 50_000)), CreditResult::Ok);
    assert_eq!(w.run(redeem(14, 1_000)), CreditResult::ExceedsCoinCap);
    w.close_through(date(2027, 1, 1));
    // The next bill (900.00 unpaid) has a new cap, but the user has 100,000 coins left.
    assert_eq!(w.run(redeem(15, 100_010)), CreditResult::ExceedsCoinCap);
    w.transfer(903, USER_COINS, COIN_ISSUER, 99_000, COIN_LEDGER);
    assert_eq!(w.run(redeem(16, 2_000)), CreditResult::InsufficientCoins);
    assert_eq!(w.run(redeem(17, 1_000)), CreditResult::Ok);
}

fn funded_program() -> Program {
    Program {
        funding_account_id: FUNDING,
        platform_min_share_bps: 3_000,
        ..program(PROGRAM + 7)
    }
}

// Goal: drawdowns split by share with the platform rounded up, repayments and losses pro
// rata, the sums always equal to the lines' principal, and settlement all or nothing.
#[test]
fn co_funding_splits_and_settles() {
    let mut w = World::new();
    w.account_with(FUNDING, super::LEDGER, 0);
    w.account_with(FUNDER_A, super::LEDGER, 0);
    w.account_with(
        FUNDER_B,
        super::LEDGER,
        AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
    );
    w.account_with(FUNDER_C, super::LEDGER, 0);
    assert_eq!(w.program(&funded_program()), CreditResult::Ok);
    let add = |account_id, share_bps| Command::AddFunder {
        program_id: PROGRAM + 7,
        account_id,
        share_bps,
    };
    let unfunded = Program {
        funding_account_id: 0,
        ..program(PROGRAM + 8)
    };
    assert_eq!(w.program(&unfunded), CreditResult::Ok);
    assert_eq!(
        w.run(Command::AddFunder {
            program_id: PROGRAM + 8,
            account_id: FUNDER_A,
            share_bps: 100
        }),
        CreditResult::FundingNotOffered
    );
    assert_eq!(w.run(add(FUNDER_A, 4_000)), CreditResult::Ok);
    assert_eq!(w.run(add(FUNDER_A, 4_000)), CreditResult::Exists);
    assert_eq!(w.run(add(FUNDER_B, 2_500)), CreditResult::Ok);
    assert_eq!(
        w.run(add(FUNDER_C, 1_000)),
        CreditResult::PlatformShareBelowMin,
        "the platform keeps at least 30%"
    );
    assert_eq!(w.run(add(FUNDER_C, 0)), CreditResult::ShareMustNotBeZero);
    let line = 100;
    let open = open_in(PROGRAM + 7, line);
    assert_eq!(w.run(open), CreditResult::Ok);
    // 1,000.01: platform 35% rounded up = 350.01, A 400.00, B 250.00.
    w.purchase(1, line, 100_001);
    let funding = w.credit.funding(PROGRAM + 7).unwrap().clone();
    assert_eq!(funding.platform.outstanding, 35_001);
    assert_eq!(funding.funders[0].share.outstanding, 40_000);
    assert_eq!(funding.funders[1].share.outstanding, 25_000);
    // Repaying 200.00 returns it pro rata to what each has out: 70.00 / 80.00 / 50.00.
    w.close_through(date(2026, 12, 1));
    assert_eq!(w.run(repay(10, line, yuan(200))), CreditResult::Ok);
    let funding = w.credit.funding(PROGRAM + 7).unwrap().clone();
    assert_eq!(funding.funders[0].share.repaid, yuan(80));
    assert_eq!(funding.funders[1].share.repaid, yuan(50));
    assert_eq!(funding.platform.repaid, yuan(70));
    // B's settlement account is bounded and empty: it cannot pay its net 200.00; nothing posts.
    let settle = Command::SettleFunding {
        program_id: PROGRAM + 7,
    };
    assert_eq!(w.run(settle), CreditResult::InsufficientFunds);
    assert_eq!(w.account(FUNDING).credits_posted, 0);
    w.transfer(900, BANK, FUNDER_B, yuan(1_000), super::LEDGER);
    assert_eq!(w.run(settle), CreditResult::Ok);
    assert_eq!(
        w.account(FUNDING).credits_posted,
        u128::from(yuan(320) + yuan(200))
    );
    assert_eq!(w.run(settle), CreditResult::Ok, "nothing left to settle");
    assert_eq!(w.account(FUNDING).credits_posted, u128::from(yuan(520)));
    // Unpaid from here on: the January bill is missed (overdue from 11 January) and the line
    // written off on day 90; each loses its share of the 800.01 left.
    w.close_through(date(2027, 4, 10));
    assert_eq!(w.credit.line(line).unwrap().status, LineStatus::WrittenOff);
    let funding = w.credit.funding(PROGRAM + 7).unwrap().clone();
    assert_eq!(funding.platform.outstanding, 0);
    let lost: Vec<u64> = funding.funders.iter().map(|f| f.share.lost).collect();
    assert_eq!(lost, vec![yuan(320), yuan(200)]);
    assert_eq!(funding.platform.lost, 28_001);
    assert_eq!(w.run(settle), CreditResult::Ok);
    // The funders' losses come off the funding account and off the platform's loss.
    assert_eq!(w.account(FUNDING).debits_posted, u128::from(yuan(520)));
    assert_eq!(w.account(LOSS).credits_posted, u128::from(yuan(520)));
    let _ = MERCHANT;
}

// Goal: repayments so large that the line's counters would overflow are refused with a code
// (the fuzzer's B1: two repayments of u64::MAX panicked the writer, for good on replay).
#[test]
fn huge_repayments_are_refused_not_panics() {
    let mut w = World::new();
    let line = 100;
    assert_eq!(w.open(line, yuan(10_000)), CreditResult::Ok);
    assert_eq!(w.run(repay(1, line, u64::MAX)), CreditResult::Ok);
    assert_eq!(
        w.run(repay(2, line, u64::MAX)),
        CreditResult::OverflowsBalance
    );
    assert_eq!(w.run(repay(3, line, 1)), CreditResult::OverflowsBalance);
    assert_eq!(w.credit.line(line).unwrap().credit_balance, u64::MAX);
}
