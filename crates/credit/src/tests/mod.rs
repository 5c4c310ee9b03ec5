//! Credit tests: a month in the life of a line (scenario), every result code, and a property
//! test against a naive model with conservation checked after every step.

use ledger::{Account, AccountFlags, Ledger, Transfer, TransferFlags};
use proptest::prelude::*;

use crate::math::{EarlySettlement, Rate, RoundingMode};
use crate::{
    APPLICANT_GUARDIAN_CONFIRMED, APPLICANT_STUDENT, Command, Component, Credit, CreditResult,
    Date, LineStatus, Program, StatusChange, StudentPolicy,
};

const LEDGER: u32 = 156;
const INTEREST: u128 = 1;
const FEE: u128 = 2;
const PENALTY: u128 = 3;
const LOSS: u128 = 4;
const RECOVERY: u128 = 5;
const MERCHANT: u128 = 10;
const BANK: u128 = 11;
const FUNDING: u128 = 12;
const SPONSOR_BUDGET: u128 = 13;
const PROGRAM: u128 = 500;

fn date(y: u32, m: u32, d: u32) -> Date {
    Date::from_ymd(y, m, d).expect("valid date")
}

fn yuan(v: u64) -> u64 {
    v * 100
}

/// Huabei-like terms: bill on the 1st, due on the 10th, 10% minimum, 0.05%/day.
fn program(id: u128) -> Program {
    Program {
        id,
        ledger: LEDGER,
        code: 7,
        interest_account_id: INTEREST,
        fee_account_id: FEE,
        penalty_account_id: PENALTY,
        loss_account_id: LOSS,
        recovery_account_id: RECOVERY,
        start_date: date(2026, 11, 2),
        statement_day: 1,
        due_day: 10,
        min_payment_rate: Rate(1_000_000_000),
        min_payment_floor: 0,
        interest_daily_rate: Rate(5_000_000),
        penalty_daily_rate: Rate(5_000_000),
        penalty_min_per_day: 1,
        write_off_days: 90,
        apr_cap: Rate(2_400_000_000),
        max_borrower_limit: yuan(200_000),
        dti_cap_bps: 5_000,
        min_age: 18,
        student_policy: StudentPolicy::RequireGuardian,
        waterfall: [
            Component::Penalty,
            Component::Fee,
            Component::Interest,
            Component::Principal,
        ],
        rounding: RoundingMode::HalfUp,
        early_settlement: EarlySettlement::WaiveRemaining,
        coin_account_id: 0,
        coin_funding_account_id: 0,
        coins_per_yuan: 0,
        coin_cap_bps: 0,
        funding_account_id: FUNDING,
        platform_min_share_bps: 3_000,
    }
}

struct World {
    ledger: Ledger,
    credit: Credit,
    timestamp: u64,
}

impl World {
    fn new() -> World {
        let mut ledger = Ledger::new(1);
        let accounts: Vec<Account> = [
            INTEREST,
            FEE,
            PENALTY,
            LOSS,
            RECOVERY,
            MERCHANT,
            BANK,
            FUNDING,
            SPONSOR_BUDGET,
        ]
        .iter()
        .map(|&id| Account {
            id,
            ledger: LEDGER,
            code: 1,
            flags: AccountFlags(if id == SPONSOR_BUDGET {
                AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS
            } else {
                0
            }),
            ..Account::default()
        })
        .collect();
        let mut results = Vec::new();
        ledger.create_accounts(accounts.len() as u64, &accounts, &mut results);
        assert!(
            results
                .iter()
                .all(|r| *r == ledger::CreateAccountResult::Ok)
        );
        let mut world = World {
            ledger,
            credit: Credit::new(1),
            timestamp: 100,
        };
        assert_eq!(world.program(&program(PROGRAM)), CreditResult::Ok);
        world
    }

    fn program(&mut self, p: &Program) -> CreditResult {
        self.credit.create_program(&self.ledger, p)
    }

    fn run(&mut self, command: Command) -> CreditResult {
        let first = self.timestamp + 1;
        self.timestamp += command.timestamp_count();
        let result = self.credit.execute(&mut self.ledger, first, &command);
        self.check();
        result
    }

    fn check(&self) {
        self.ledger.check_conservation();
        self.credit.check_lines(&self.ledger);
    }

    fn open(&mut self, id: u128, limit: u64) -> CreditResult {
        self.run(open_line(id, id + 1000, limit))
    }

    /// Closes business days until (and including) `last`.
    fn close_through(&mut self, last: Date) {
        while self.credit.business_date() <= last {
            let date = self.credit.business_date();
            assert_eq!(
                self.run(Command::DayClose { date, max_lines: 2 }),
                CreditResult::Ok
            );
        }
    }

    fn account(&self, id: u128) -> Account {
        self.ledger.lookup_account(id).expect("account").0
    }

    fn available(&self, line: u128) -> u64 {
        self.credit
            .line_view(&self.ledger, line)
            .expect("line")
            .available
    }
}

fn open_line(id: u128, borrower_id: u128, limit: u64) -> Command {
    Command::OpenLine {
        id,
        borrower_id,
        program_id: PROGRAM,
        limit,
        annual_income: yuan(120_000),
        birth_date: date(1990, 5, 20),
        statement_day: 0,
        due_day: 0,
        applicant: 0,
    }
}

fn authorize(id: u128, line_id: u128, amount: u64) -> Command {
    Command::Authorize {
        id,
        line_id,
        merchant_account_id: MERCHANT,
        amount,
        timeout: 3600,
    }
}

fn capture(id: u128, line_id: u128, purchase_id: u128, amount: u64) -> Command {
    Command::Capture {
        id,
        line_id,
        purchase_id,
        amount,
    }
}

fn repay(id: u128, line_id: u128, amount: u64) -> Command {
    Command::Repay {
        id,
        line_id,
        source_account_id: BANK,
        amount,
    }
}

// Goal: a month in the life of a line, with every figure computed by hand: purchases, a
// partial capture, a refund before the bill, the bill, a minimum payment, revolving interest,
// and the next bill.
#[test]
fn month_in_the_life_of_a_line() {
    let mut w = World::new();
    let line = 100;
    assert_eq!(w.open(line, yuan(10_000)), CreditResult::Ok);
    assert_eq!(w.available(line), yuan(10_000));

    assert_eq!(w.run(authorize(1, line, yuan(3_000))), CreditResult::Ok);
    assert_eq!(w.available(line), yuan(7_000));
    assert_eq!(w.run(capture(2, line, 1, 0)), CreditResult::Ok);
    assert_eq!(w.run(authorize(3, line, yuan(2_000))), CreditResult::Ok);
    assert_eq!(w.run(capture(4, line, 3, yuan(1_500))), CreditResult::Ok);
    // The partial capture released the other 500.00.
    assert_eq!(w.available(line), yuan(5_500));
    assert_eq!(w.account(MERCHANT).credits_posted, u128::from(yuan(4_500)));
    // Refund before the bill restores credit.
    let refund = Command::Refund {
        id: 5,
        line_id: line,
        purchase_id: 1,
        amount: yuan(500),
    };
    assert_eq!(w.run(refund), CreditResult::Ok);
    assert_eq!(w.available(line), yuan(6_000));

    // The bill on 1 December: 4,000.00, minimum 10% = 400.00, due 10 December.
    w.close_through(date(2026, 12, 1));
    let l = *w.credit.line(line).unwrap();
    assert_eq!(l.statement.date, date(2026, 12, 1));
    assert_eq!(l.statement.due_date, date(2026, 12, 10));
    assert_eq!(l.statement.balance, yuan(4_000));
    assert_eq!(l.statement.minimum_payment, yuan(400));
    assert_eq!(l.statement.cycle.purchases, yuan(4_500));
    assert_eq!(l.statement.cycle.refunds, yuan(500));
    assert_eq!(l.owed.principal, yuan(4_000));
    assert_eq!(l.unbilled, 0);

    // The minimum paid on 5 December: no penalty, the rest revolves after the due day.
    w.close_through(date(2026, 12, 4));
    assert_eq!(w.run(repay(6, line, yuan(400))), CreditResult::Ok);
    w.close_through(date(2026, 12, 10));
    assert_eq!(
        w.account(INTEREST).credits_posted,
        0,
        "interest-free to the due day"
    );
    let l = *w.credit.line(line).unwrap();
    assert!(l.revolving && !l.overdue());
    // 11 December: 3,600.00 × 0.05% = 1.80 a day.
    w.close_through(date(2026, 12, 11));
    assert_eq!(w.account(INTEREST).credits_posted, 180);
    w.close_through(date(2026, 12, 20));
    assert_eq!(w.account(INTEREST).credits_posted, 10 * 180);

    // Paying everything owed stops the interest; the next bill shows it.
    let owed = w.credit.line(line).unwrap().owed.total();
    assert_eq!(owed, yuan(3_600) + 1_800);
    assert_eq!(w.run(repay(7, line, owed)), CreditResult::Ok);
    w.close_through(date(2027, 1, 1));
    assert_eq!(w.account(INTEREST).credits_posted, 1_800);
    let l = *w.credit.line(line).unwrap();
    assert_eq!(l.statement.balance, 0);
    assert_eq!(l.statement.previous_balance, yuan(4_000));
    assert_eq!(l.statement.cycle.interest, 1_800);
    assert_eq!(l.statement.cycle.repayments, yuan(400) + owed);
    assert_eq!(w.available(line), yuan(10_000));
}

// Goal: a missed minimum makes the line overdue: daily penalties (never compounded), no new
// purchases, no raise; paying the past due and the penalties cures it; 90 days write it off
// (receivable to loss) and later recoveries still post.
#[test]
fn overdue_penalty_cure_and_write_off() {
    let mut w = World::new();
    let (a, b) = (100, 200);
    assert_eq!(w.open(a, yuan(10_000)), CreditResult::Ok);
    assert_eq!(w.open(b, yuan(10_000)), CreditResult::Ok);
    for (i, line) in [a, b].into_iter().enumerate() {
        let id = 10 * (i as u128 + 1);
        assert_eq!(w.run(authorize(id, line, yuan(4_000))), CreditResult::Ok);
        assert_eq!(w.run(capture(id + 1, line, id, 0)), CreditResult::Ok);
    }
    w.close_through(date(2026, 12, 9));
    assert!(!w.credit.line(a).unwrap().overdue());
    // End of 10 December: nothing paid; overdue from the 11th.
    w.close_through(date(2026, 12, 10));
    let l = *w.credit.line(a).unwrap();
    assert!(l.overdue());
    assert_eq!(l.overdue_since, date(2026, 12, 11));
    assert_eq!(l.past_due, yuan(400));
    assert_eq!(w.account(PENALTY).credits_posted, 0);
    w.close_through(date(2026, 12, 11));
    // 4,000.00 × 0.05% = 2.00 a day, for both lines.
    assert_eq!(w.account(PENALTY).credits_posted, 2 * 200);
    w.close_through(date(2026, 12, 15));
    assert_eq!(w.credit.line(a).unwrap().owed.penalty, 5 * 200);
    assert_eq!(
        w.credit.line(a).unwrap().days_overdue(date(2026, 12, 15)),
        5
    );
    assert_eq!(w.run(authorize(30, a, 100)), CreditResult::LineOverdue);
    assert_eq!(
        w.run(Command::SetLimit {
            line_id: a,
            limit: yuan(20_000)
        }),
        CreditResult::LineOverdue
    );
    assert_eq!(
        w.credit.raise_check(a, yuan(20_000)),
        CreditResult::LineOverdue
    );
    // Penalties first (waterfall), then the past due: 10.00 + 400.00 cures line a.
    assert_eq!(w.run(repay(31, a, 1_000 + yuan(400))), CreditResult::Ok);
    let l = *w.credit.line(a).unwrap();
    assert!(!l.overdue() && l.revolving);
    assert_eq!(l.owed.penalty, 0);
    assert_eq!(l.owed.principal, yuan(3_600));
    assert_eq!(w.run(authorize(32, a, 100)), CreditResult::Ok);

    // Line b stays unpaid: written off on its 90th day overdue (10 March 2027).
    w.close_through(date(2027, 3, 9));
    assert_eq!(w.credit.line(b).unwrap().status, LineStatus::Active);
    w.close_through(date(2027, 3, 10));
    let l = *w.credit.line(b).unwrap();
    assert_eq!(l.status, LineStatus::WrittenOff);
    let loss = w.account(LOSS).debits_posted;
    assert!(loss > u128::from(yuan(4_000)), "principal plus penalties");
    assert_eq!(u128::from(l.written_off), loss);
    assert_eq!(w.account(b).debits_posted, w.account(b).credits_posted);
    assert_eq!(w.run(authorize(40, b, 100)), CreditResult::LineWrittenOff);
    // A recovery posts to the recovery account, up to what was written off.
    assert_eq!(w.run(repay(41, b, yuan(1_000))), CreditResult::Ok);
    assert_eq!(w.account(RECOVERY).credits_posted, u128::from(yuan(1_000)));
    assert_eq!(
        w.run(repay(42, b, l.written_off)),
        CreditResult::ExceedsWrittenOff
    );
}

// Goal: temporary limits count only inside their window and lapse at day-close; raises are
// capped per borrower and by income; cuts always apply; status changes follow their rules.
#[test]
fn limits_temporary_caps_and_status() {
    let mut w = World::new();
    let line = 100;
    assert_eq!(w.open(line, yuan(10_000)), CreditResult::Ok);
    let temporary = |amount, from, to| Command::SetTemporaryLimit {
        line_id: line,
        amount,
        from,
        to,
    };
    assert_eq!(
        w.run(temporary(yuan(5_000), date(2026, 11, 5), date(2026, 11, 3))),
        CreditResult::TemporaryWindowInvalid
    );
    assert_eq!(
        w.run(temporary(
            yuan(5_000),
            date(2026, 11, 3),
            date(2026, 11, 11)
        )),
        CreditResult::Ok
    );
    assert_eq!(w.available(line), yuan(10_000), "not yet in force");
    w.close_through(date(2026, 11, 2));
    assert_eq!(w.available(line), yuan(15_000));
    w.close_through(date(2026, 11, 11));
    assert_eq!(w.available(line), yuan(10_000), "lapsed after the 11th");
    assert_eq!(w.credit.line(line).unwrap().temporary.amount, 0);

    // Income 120,000.00 at a 50% cap: at most 60,000.00 of credit.
    let raise = |limit| Command::SetLimit {
        line_id: line,
        limit,
    };
    assert_eq!(
        w.run(raise(yuan(60_001))),
        CreditResult::ExceedsDebtToIncomeCap
    );
    assert_eq!(w.run(raise(yuan(60_000))), CreditResult::Ok);
    assert_eq!(
        w.run(raise(yuan(1_000))),
        CreditResult::Ok,
        "cuts always apply"
    );
    assert_eq!(
        w.run(authorize(1, line, yuan(1_001))),
        CreditResult::InsufficientCredit
    );

    let status = |change| Command::SetStatus {
        line_id: line,
        change,
    };
    assert_eq!(
        w.run(status(StatusChange::Unfreeze)),
        CreditResult::StatusTransitionInvalid
    );
    assert_eq!(w.run(status(StatusChange::Freeze)), CreditResult::Ok);
    assert_eq!(w.run(authorize(2, line, 1)), CreditResult::LineFrozen);
    assert_eq!(w.run(status(StatusChange::Unfreeze)), CreditResult::Ok);
    assert_eq!(w.run(authorize(3, line, 1)), CreditResult::Ok);
    assert_eq!(
        w.run(status(StatusChange::Close)),
        CreditResult::LineHasBalance
    );
    let void = Command::Void {
        id: 4,
        line_id: line,
        purchase_id: 3,
    };
    assert_eq!(w.run(void), CreditResult::Ok);
    assert_eq!(w.run(status(StatusChange::Close)), CreditResult::Ok);
    assert_eq!(w.run(authorize(5, line, 1)), CreditResult::LineClosed);
}

// Goal: eligibility refuses minors and students without a guardian, with named reasons, and
// the borrower cap spans a borrower's lines.
#[test]
fn eligibility() {
    let mut w = World::new();
    let open = |w: &mut World, id: u128, birth: Date, applicant: u8, limit: u64| {
        w.run(Command::OpenLine {
            id,
            borrower_id: 9,
            program_id: PROGRAM,
            limit,
            annual_income: yuan(1_000_000),
            birth_date: birth,
            statement_day: 0,
            due_day: 0,
            applicant,
        })
    };
    // Business date 2026-11-02: born 2008-11-03 is still 17.
    assert_eq!(
        open(&mut w, 1001, date(2008, 11, 3), 0, 1),
        CreditResult::ApplicantIsMinor
    );
    assert_eq!(
        open(&mut w, 1001, date(2008, 11, 2), APPLICANT_STUDENT, 1),
        CreditResult::StudentNeedsGuardian
    );
    assert_eq!(
        open(
            &mut w,
            1001,
            date(2008, 11, 2),
            APPLICANT_STUDENT | APPLICANT_GUARDIAN_CONFIRMED,
            yuan(150_000)
        ),
        CreditResult::Ok
    );
    assert_eq!(
        open(
            &mut w,
            1001,
            date(2008, 11, 2),
            APPLICANT_STUDENT | APPLICANT_GUARDIAN_CONFIRMED,
            yuan(150_000)
        ),
        CreditResult::Exists
    );
    assert_eq!(
        open(&mut w, 1001, date(2000, 1, 1), 0, 1),
        CreditResult::ExistsWithDifferentFields
    );
    assert_eq!(
        open(&mut w, 1002, date(2000, 1, 1), 0, yuan(50_001)),
        CreditResult::ExceedsBorrowerCap
    );
    assert_eq!(
        open(&mut w, 1002, date(2000, 1, 1), 0, yuan(50_000)),
        CreditResult::Ok
    );
    assert_eq!(
        open(&mut w, MERCHANT, date(2000, 1, 1), 0, 1),
        CreditResult::IdConflictsWithAccount
    );
    let mut strict = program(501);
    strict.student_policy = StudentPolicy::Block;
    assert_eq!(w.program(&strict), CreditResult::Ok);
    let student = Command::OpenLine {
        id: 1003,
        borrower_id: 3,
        program_id: 501,
        limit: 1,
        annual_income: 1_000,
        birth_date: date(2000, 1, 1),
        statement_day: 0,
        due_day: 0,
        applicant: APPLICANT_STUDENT | APPLICANT_GUARDIAN_CONFIRMED,
    };
    assert_eq!(w.run(student), CreditResult::ApplicantIsStudent);
}

// Goal: the borrower cap counts one borrower's lines in one program: never another borrower's,
// never another program's. Borrowers 9 and 9 ^ 2^113 in programs 0 and 1 used to share one
// cap (their keys folded the program into the id by XOR and met); a snapshot restores the
// caps from the lines.
#[test]
fn borrower_caps_are_per_borrower_and_program() {
    let mut w = World::new();
    assert_eq!(w.program(&program(501)), CreditResult::Ok);
    let open = |w: &mut World, id: u128, borrower_id: u128, program_id: u128, limit: u64| {
        w.run(Command::OpenLine {
            id,
            borrower_id,
            program_id,
            limit,
            annual_income: yuan(1_000_000),
            birth_date: date(1990, 5, 20),
            statement_day: 0,
            due_day: 0,
            applicant: 0,
        })
    };
    let twin = 9 ^ (1u128 << 113);
    assert_eq!(
        open(&mut w, 1001, 9, PROGRAM, yuan(200_000)),
        CreditResult::Ok
    );
    assert_eq!(
        open(&mut w, 1002, twin, 501, yuan(200_000)),
        CreditResult::Ok
    );
    assert_eq!(open(&mut w, 1003, 9, 501, yuan(200_000)), CreditResult::Ok);
    for restarted in [false, true] {
        if restarted {
            let mut bytes = Vec::new();
            w.credit.encode_snapshot(&mut bytes);
            w.credit = Credit::decode_snapshot(&bytes, 1).expect("decodes").0;
        }
        for (borrower_id, program_id) in [(9, PROGRAM), (9, 501), (twin, 501)] {
            assert_eq!(
                open(&mut w, 1004, borrower_id, program_id, 1),
                CreditResult::ExceedsBorrowerCap,
                "{borrower_id} in {program_id}, restarted: {restarted}"
            );
        }
    }
    assert_eq!(open(&mut w, 1004, twin, PROGRAM, 1), CreditResult::Ok);
}

// Goal: idempotency: every money command retried with the same id answers `exists` and moves
// nothing; a different body answers `exists_with_different_fields`; clients cannot touch lines.
#[test]
fn retries_are_idempotent_and_lines_are_managed() {
    let mut w = World::new();
    let line = 100;
    assert_eq!(w.open(line, yuan(10_000)), CreditResult::Ok);
    assert_eq!(w.run(authorize(1, line, yuan(100))), CreditResult::Ok);
    assert_eq!(w.run(authorize(1, line, yuan(100))), CreditResult::Exists);
    assert_eq!(
        w.run(authorize(1, line, yuan(200))),
        CreditResult::ExistsWithDifferentFields
    );
    assert_eq!(w.run(capture(2, line, 1, 0)), CreditResult::Ok);
    assert_eq!(w.run(capture(2, line, 1, 0)), CreditResult::Exists);
    assert_eq!(
        w.run(capture(3, line, 1, 0)),
        CreditResult::PurchaseAlreadyCaptured
    );
    assert_eq!(w.run(repay(4, line, yuan(50))), CreditResult::Ok);
    assert_eq!(w.run(repay(4, line, yuan(50))), CreditResult::Exists);
    assert_eq!(w.credit.line(line).unwrap().unbilled, yuan(50));
    assert_eq!(w.run(repay(5, line, 0)), CreditResult::AmountMustNotBeZero);
    assert_eq!(
        w.run(authorize(ledger::RESERVED_ID_MIN, line, 1)),
        CreditResult::IdMustNotBeReserved
    );
    assert_eq!(
        w.run(authorize(6, line, 1).with_merchant(999)),
        CreditResult::AccountNotFound
    );
    let mut results = Vec::new();
    let client = Transfer {
        id: 7,
        debit_account_id: BANK,
        credit_account_id: line,
        amount: 1,
        ledger: LEDGER,
        code: 1,
        ..Transfer::default()
    };
    w.ledger
        .create_transfers(w.timestamp + 1, &[client], &mut results);
    w.timestamp += 1;
    assert_eq!(results, [ledger::CreateTransferResult::AccountIsManaged]);
    assert!(w.account(line).flags.has(AccountFlags::MANAGED));
    let _ = TransferFlags::default();
}

impl Command {
    fn with_merchant(mut self, merchant: u128) -> Command {
        if let Command::Authorize {
            merchant_account_id,
            ..
        } = &mut self
        {
            *merchant_account_id = merchant;
        }
        self
    }
}

// Goal: day-close runs in chunks from where the last stopped, refuses any date but the
// business date, and advances the date only when every line is done.
#[test]
fn day_close_in_chunks() {
    let mut w = World::new();
    for id in 1..=5 {
        assert_eq!(w.open(id * 100, yuan(1_000)), CreditResult::Ok);
    }
    let today = w.credit.business_date();
    let close = |date, max_lines| Command::DayClose { date, max_lines };
    assert_eq!(
        w.run(close(today.plus(1), 2)),
        CreditResult::DateMustBeBusinessDate
    );
    assert_eq!(w.run(close(today, 2)), CreditResult::Ok);
    assert_eq!(w.credit.day_close_progress(), (2, 5));
    assert_eq!(w.run(close(today, 2)), CreditResult::Ok);
    assert_eq!(w.credit.business_date(), today);
    assert_eq!(w.run(close(today, 2)), CreditResult::Ok);
    assert_eq!(w.credit.business_date(), today.plus(1));
    assert_eq!(w.credit.day_close_progress(), (0, 5));
}

// Goal: records and snapshots round-trip, and decoding never panics on any bytes.
#[test]
fn records_and_snapshots_round_trip() {
    let mut w = World::new();
    assert_eq!(w.open(100, yuan(1_000)), CreditResult::Ok);
    assert_eq!(w.run(authorize(1, 100, yuan(10))), CreditResult::Ok);
    assert_eq!(w.run(capture(2, 100, 1, 0)), CreditResult::Ok);
    w.close_through(date(2026, 12, 12));
    let mut bytes = Vec::new();
    w.credit.encode_snapshot(&mut bytes);
    let (decoded, rest) = Credit::decode_snapshot(&bytes, 9).expect("decodes");
    assert!(rest.is_empty());
    let mut again = Vec::new();
    decoded.encode_snapshot(&mut again);
    assert_eq!(bytes, again);
    for cut in 0..bytes.len() {
        assert!(Credit::decode_snapshot(&bytes[..cut], 9).is_err());
    }
    let p = program(77);
    let mut record = Vec::new();
    p.encode(&mut record);
    assert_eq!(Program::from_bytes(&record.try_into().unwrap()), Ok(p));
    for command in [
        open_line(1, 2, 3),
        authorize(1, 2, 3),
        capture(1, 2, 3, 4),
        repay(1, 2, 3),
        Command::DayClose {
            date: date(2026, 1, 1),
            max_lines: 9,
        },
    ] {
        let mut record = Vec::new();
        command.encode(&mut record);
        assert_eq!(
            Command::from_bytes(&record.try_into().unwrap()),
            Ok(command)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    // Goal: decoding never panics on any bytes.
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Credit::decode_snapshot(&bytes, 1);
        let mut record = [0u8; crate::COMMAND_SIZE];
        let n = bytes.len().min(record.len());
        record[..n].copy_from_slice(&bytes[..n]);
        let _ = Command::from_bytes(&record);
        let mut program = [0u8; crate::PROGRAM_SIZE];
        let n = bytes.len().min(program.len());
        program[..n].copy_from_slice(&bytes[..n]);
        let _ = Program::from_bytes(&program);
    }
}

#[derive(Clone, Debug)]
enum Op {
    Authorize {
        line: u8,
        amount: u64,
    },
    Capture {
        pick: u8,
        part: u8,
    },
    Void {
        pick: u8,
    },
    Refund {
        pick: u8,
        amount: u64,
    },
    Repay {
        line: u8,
        amount: u64,
    },
    Limit {
        line: u8,
        limit: u64,
    },
    Close {
        days: u8,
    },
    Convert {
        pick: u8,
        periods: u8,
        sponsored: bool,
    },
    ConvertBill {
        line: u8,
        periods: u8,
    },
    Settle {
        pick: u8,
    },
    SettleFunding,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..3, 1u64..400_000).prop_map(|(line, amount)| Op::Authorize { line, amount }),
        5 => (any::<u8>(), 0u8..4).prop_map(|(pick, part)| Op::Capture { pick, part }),
        1 => any::<u8>().prop_map(|pick| Op::Void { pick }),
        2 => (any::<u8>(), 1u64..100_000).prop_map(|(pick, amount)| Op::Refund { pick, amount }),
        3 => (0u8..3, 1u64..500_000).prop_map(|(line, amount)| Op::Repay { line, amount }),
        1 => (0u8..3, 0u64..2_000_000).prop_map(|(line, limit)| Op::Limit { line, limit }),
        3 => (1u8..20).prop_map(|days| Op::Close { days }),
        4 => (any::<u8>(), 0u8..5, any::<bool>())
            .prop_map(|(pick, periods, sponsored)| Op::Convert { pick, periods, sponsored }),
        1 => (0u8..3, 0u8..5).prop_map(|(line, periods)| Op::ConvertBill { line, periods }),
        1 => any::<u8>().prop_map(|pick| Op::Settle { pick }),
        1 => Just(Op::SettleFunding),
    ]
}

/// The naive model of a line: what was spent, returned, repaid and charged, and the open holds.
#[derive(Default, Clone)]
struct ModelLine {
    limit: u64,
    captured: i128,
    refunded: i128,
    repaid: i128,
    charged: i128,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    // Goal: over random purchases, captures, voids, refunds, repayments, limit changes and
    // day-closes, a naive model agrees on each line's balance and on which authorizations fit;
    // conservation and the line invariant hold after every step; available credit never
    // exceeds the limit less the balance and holds.
    #[test]
    fn credit_matches_naive_model(ops in proptest::collection::vec(op(), 1..120)) {
        let mut w = World::new();
        let lines = [100u128, 200, 300];
        let mut model: Vec<ModelLine> = Vec::new();
        // Two partner banks fund 40% and 25% of every drawdown; a sponsor has 300.00 of budget.
        for (account, share_bps) in [(MERCHANT, 4_000), (BANK, 2_500)] {
            let add = Command::AddFunder { program_id: PROGRAM, account_id: account, share_bps };
            prop_assert_eq!(w.run(add), CreditResult::Ok);
        }
        let mut results = Vec::new();
        let budget = Transfer { id: 1, debit_account_id: BANK, credit_account_id: SPONSOR_BUDGET, amount: 30_000, ledger: LEDGER, code: 1, ..Transfer::default() };
        w.timestamp += 1;
        w.ledger.create_transfers(w.timestamp, &[budget], &mut results);
        prop_assert_eq!(results, vec![ledger::CreateTransferResult::Ok]);
        let mut plans: Vec<(u128, usize)> = Vec::new();
        for &line in &lines {
            prop_assert_eq!(w.open(line, 1_000_000), CreditResult::Ok);
            model.push(ModelLine { limit: 1_000_000, ..ModelLine::default() });
        }
        // (purchase id, line index, authorized, captured)
        let mut purchases: Vec<(u128, usize, u64, Option<u64>)> = Vec::new();
        let mut next_id = 1_000u128;
        for op in ops {
            next_id += 1;
            let charges_before = w.account(INTEREST).credits_posted + w.account(PENALTY).credits_posted;
            match op {
                Op::Authorize { line, amount } => {
                    let i = usize::from(line);
                    let view = w.credit.line_view(&w.ledger, lines[i]).unwrap();
                    let m = &model[i];
                    let balance = m.captured - m.refunded - m.repaid + m.charged;
                    prop_assert_eq!(view.balance, balance);
                    let fits = i128::from(amount) + balance + i128::from(view.held) <= i128::from(m.limit);
                    let expected = if view.line.status == LineStatus::WrittenOff {
                        CreditResult::LineWrittenOff
                    } else if view.line.overdue() {
                        CreditResult::LineOverdue
                    } else if fits {
                        CreditResult::Ok
                    } else {
                        CreditResult::InsufficientCredit
                    };
                    prop_assert_eq!(w.run(authorize(next_id, lines[i], amount)), expected);
                    if expected == CreditResult::Ok {
                        purchases.push((next_id, i, amount, None));
                    }
                }
                Op::Capture { pick, part } => {
                    if purchases.is_empty() { continue; }
                    let k = usize::from(pick) % purchases.len();
                    let (pid, i, authorized, captured) = purchases[k];
                    let amount = authorized * u64::from(part) / 4;
                    let result = w.run(capture(next_id, lines[i], pid, amount));
                    if captured.is_none() && result == CreditResult::Ok {
                        let amount = if amount == 0 { authorized } else { amount };
                        model[i].captured += i128::from(amount);
                        purchases[k].3 = Some(amount);
                    } else {
                        prop_assert!(result != CreditResult::Ok || captured.is_none());
                    }
                }
                Op::Void { pick } => {
                    if purchases.is_empty() { continue; }
                    let k = usize::from(pick) % purchases.len();
                    let (pid, i, _, _) = purchases[k];
                    let _ = w.run(Command::Void { id: next_id, line_id: lines[i], purchase_id: pid });
                }
                Op::Refund { pick, amount } => {
                    if purchases.is_empty() { continue; }
                    let k = usize::from(pick) % purchases.len();
                    let (pid, i, _, captured) = purchases[k];
                    let result = w.run(Command::Refund { id: next_id, line_id: lines[i], purchase_id: pid, amount });
                    if result == CreditResult::Ok {
                        model[i].refunded += i128::from(amount);
                        prop_assert!(captured.is_some());
                    }
                }
                Op::Repay { line, amount } => {
                    let i = usize::from(line);
                    let written_off = w.credit.line(lines[i]).unwrap().status == LineStatus::WrittenOff;
                    let result = w.run(repay(next_id, lines[i], amount));
                    if result == CreditResult::Ok && !written_off {
                        model[i].repaid += i128::from(amount);
                    }
                }
                Op::Limit { line, limit } => {
                    let i = usize::from(line);
                    if w.run(Command::SetLimit { line_id: lines[i], limit }) == CreditResult::Ok {
                        model[i].limit = limit;
                    }
                }
                Op::Convert { pick, periods, sponsored } => {
                    // The most recent captures: the likeliest not yet billed.
                    let captured: Vec<_> = purchases.iter().rev().filter(|p| p.3.is_some()).take(4).collect();
                    if captured.is_empty() { continue; }
                    let (pid, i, _, _) = *captured[usize::from(pick) % captured.len()];
                    let convert = Command::ConvertInstallments {
                        id: next_id,
                        line_id: lines[i],
                        purchase_id: pid,
                        periods: [3, 6, 9, 12, 24][usize::from(periods)],
                        pricing: crate::math::Pricing::TotalRate(Rate(250_000_000)),
                        sponsor_account_id: if sponsored { SPONSOR_BUDGET } else { 0 },
                    };
                    let before = w.credit.line_view(&w.ledger, lines[i]).unwrap().balance;
                    if w.run(convert) == CreditResult::Ok {
                        plans.push((next_id, i));
                    }
                    prop_assert_eq!(w.credit.line_view(&w.ledger, lines[i]).unwrap().balance, before);
                }
                Op::ConvertBill { line, periods } => {
                    let i = usize::from(line);
                    let convert = Command::ConvertInstallments {
                        id: next_id,
                        line_id: lines[i],
                        purchase_id: 0,
                        periods: [3, 6, 9, 12, 24][usize::from(periods)],
                        pricing: crate::math::Pricing::TotalRate(Rate(450_000_000)),
                        sponsor_account_id: 0,
                    };
                    if w.run(convert) == CreditResult::Ok {
                        plans.push((next_id, i));
                    }
                }
                Op::Settle { pick } => {
                    if plans.is_empty() { continue; }
                    let (plan_id, i) = plans[usize::from(pick) % plans.len()];
                    let remaining = w.credit.plan(plan_id).unwrap().remaining;
                    let settle = Command::SettleInstallments { id: next_id, line_id: lines[i], plan_id, source_account_id: BANK, amount: 0 };
                    if w.run(settle) == CreditResult::Ok {
                        model[i].repaid += i128::from(remaining);
                    }
                }
                Op::SettleFunding => {
                    prop_assert_eq!(w.run(Command::SettleFunding { program_id: PROGRAM }), CreditResult::Ok);
                }
                Op::Close { days } => {
                    let last = w.credit.business_date().plus(u32::from(days) - 1);
                    // Charges are per line; attribute them by each line's balance change.
                    let before: Vec<i128> = lines.iter().map(|&l| w.credit.line_view(&w.ledger, l).unwrap().balance).collect();
                    let income_before = w.account(INTEREST).credits_posted + w.account(PENALTY).credits_posted + w.account(FEE).credits_posted;
                    let loss_before = w.account(LOSS).debits_posted;
                    w.close_through(last);
                    let mut moved = 0i128;
                    for (i, &l) in lines.iter().enumerate() {
                        let after = w.credit.line_view(&w.ledger, l).unwrap().balance;
                        model[i].charged += after - before[i];
                        moved += after - before[i];
                    }
                    // Every fen a day-close moved on the lines went to income or to loss.
                    let income = (w.account(INTEREST).credits_posted + w.account(PENALTY).credits_posted + w.account(FEE).credits_posted - income_before) as i128;
                    let loss = (w.account(LOSS).debits_posted - loss_before) as i128;
                    prop_assert_eq!(moved, income - loss);
                }
            }
            let charges_after = w.account(INTEREST).credits_posted + w.account(PENALTY).credits_posted;
            prop_assert!(charges_after >= charges_before);
            // The sponsor paid exactly the fees of its plans, within its budget.
            let sponsored: u64 = plans.iter().map(|(id, _)| w.credit.plan(*id).unwrap().sponsor_fee).sum();
            let budget = w.account(SPONSOR_BUDGET);
            prop_assert_eq!(budget.debits_posted, u128::from(sponsored));
            prop_assert!(budget.debits_posted <= budget.credits_posted);
            for (i, &l) in lines.iter().enumerate() {
                let view = w.credit.line_view(&w.ledger, l).unwrap();
                let m = &model[i];
                if view.line.status != LineStatus::WrittenOff {
                    prop_assert_eq!(view.balance, m.captured - m.refunded - m.repaid + m.charged);
                }
                let room = i128::from(view.effective_limit) - view.balance - i128::from(view.held);
                prop_assert_eq!(i128::from(view.available), room.max(0));
            }
        }
    }
}

mod overflow;
mod plans;
mod snapshot;
