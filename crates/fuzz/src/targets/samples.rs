//! Valid domain values to build seeds from: accounts, transfers of every kind, limit changes, a
//! credit program and one credit command of every kind.

use credit::math::{EarlySettlement, Pricing, Rate, RoundingMode};
use credit::{Command, Component, Date, Program, StatusChange, StudentPolicy};
use ledger::{Account, AccountFlags, LimitChange, Transfer, TransferFlags};

pub const LEDGER: u32 = 1;
/// The program's interest, fee, penalty, loss and recovery accounts.
pub const PROGRAM_ACCOUNTS: [u128; 5] = [101, 102, 103, 104, 105];
pub const MERCHANT: u128 = 201;
pub const BANK: u128 = 202;
pub const FUNDING: u128 = 203;
pub const PROGRAM_ID: u128 = 1;

#[must_use]
pub fn date(y: u32, m: u32, d: u32) -> Date {
    Date::from_ymd(y, m, d).expect("a valid date")
}

#[must_use]
pub fn account(id: u128, flags: u16) -> Account {
    Account {
        id,
        ledger: LEDGER,
        code: 1,
        flags: AccountFlags(flags),
        ..Account::default()
    }
}

#[must_use]
pub fn transfer(id: u128, debit: u128, credit: u128, amount: u128, flags: u16) -> Transfer {
    Transfer {
        id,
        debit_account_id: debit,
        credit_account_id: credit,
        amount,
        ledger: LEDGER,
        code: 1,
        flags: TransferFlags(flags),
        ..Transfer::default()
    }
}

/// Accounts 1..=8 (some with limits and history) and the program's accounts.
#[must_use]
pub fn accounts() -> Vec<Account> {
    let mut accounts: Vec<Account> = (1..=8)
        .map(|id| {
            let flags = match id {
                3 => AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
                4 => AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS | AccountFlags::HISTORY,
                5 => AccountFlags::HISTORY,
                _ => 0,
            };
            account(id, flags)
        })
        .collect();
    accounts.extend(
        PROGRAM_ACCOUNTS
            .iter()
            .chain(&[MERCHANT, BANK, FUNDING])
            .map(|&id| account(id, 0)),
    );
    accounts
}

/// Transfers of every kind between accounts 1..=8: plain, linked, pending, post, void,
/// balancing, with a timeout.
#[must_use]
pub fn transfers(first_id: u128) -> Vec<Transfer> {
    let id = |n: u128| first_id + n;
    let mut pending = transfer(id(2), 1, 2, 50, TransferFlags::PENDING);
    pending.timeout = 3600;
    let mut post = transfer(id(3), 0, 0, 0, TransferFlags::POST_PENDING_TRANSFER);
    post.pending_id = id(2);
    let mut void = transfer(id(5), 0, 0, 0, TransferFlags::VOID_PENDING_TRANSFER);
    void.pending_id = id(4);
    let mut with_data = transfer(id(7), 5, 4, 3, 0);
    with_data.user_data_128 = 77;
    with_data.user_data_64 = 78;
    with_data.user_data_32 = 79;
    vec![
        transfer(id(0), 1, 2, 100, 0),
        transfer(id(1), 2, 1, 7, TransferFlags::LINKED),
        pending,
        post,
        transfer(id(4), 2, 5, 9, TransferFlags::PENDING),
        void,
        transfer(id(6), 4, 1, 1, TransferFlags::BALANCING_DEBIT),
        with_data,
    ]
}

#[must_use]
pub fn limit_changes() -> Vec<LimitChange> {
    vec![
        LimitChange {
            account_id: 3,
            debit_limit: Some(1_000),
            credit_limit: None,
        },
        LimitChange {
            account_id: 4,
            debit_limit: None,
            credit_limit: Some(500),
        },
        LimitChange {
            account_id: 1,
            debit_limit: Some(0),
            credit_limit: Some(u128::MAX),
        },
    ]
}

#[must_use]
pub fn program(id: u128) -> Program {
    let [interest, fee, penalty, loss, recovery] = PROGRAM_ACCOUNTS;
    Program {
        id,
        ledger: LEDGER,
        code: 10,
        interest_account_id: interest,
        fee_account_id: fee,
        penalty_account_id: penalty,
        loss_account_id: loss,
        recovery_account_id: recovery,
        start_date: date(2026, 11, 1),
        statement_day: 10,
        due_day: 20,
        min_payment_rate: Rate(1_000_000_000),
        min_payment_floor: 1_000,
        interest_daily_rate: Rate(5_000_000),
        penalty_daily_rate: Rate(5_000_000),
        penalty_min_per_day: 1,
        write_off_days: 90,
        apr_cap: Rate(2_400_000_000),
        max_borrower_limit: 10_000_000,
        dti_cap_bps: 5_000,
        min_age: 18,
        student_policy: StudentPolicy::RequireGuardian,
        waterfall: [
            Component::Penalty,
            Component::Fee,
            Component::Interest,
            Component::Principal,
        ],
        rounding: RoundingMode::HalfEven,
        early_settlement: EarlySettlement::ProRata,
        coin_account_id: 0,
        coin_funding_account_id: 0,
        coins_per_yuan: 0,
        coin_cap_bps: 0,
        funding_account_id: FUNDING,
        platform_min_share_bps: 3_000,
    }
}

/// One command of every kind, on line 1001 (a line of program 1), ids from `first_id`.
#[must_use]
pub fn commands(first_id: u128) -> Vec<Command> {
    let line_id = 1001;
    let id = |n: u128| first_id + n;
    vec![
        Command::OpenLine {
            id: line_id,
            borrower_id: 9001,
            program_id: PROGRAM_ID,
            limit: 500_000,
            annual_income: 12_000_000,
            birth_date: date(1990, 5, 5),
            statement_day: 0,
            due_day: 0,
            applicant: 0,
        },
        Command::SetLimit {
            line_id,
            limit: 600_000,
        },
        Command::SetTemporaryLimit {
            line_id,
            amount: 10_000,
            from: date(2026, 11, 1),
            to: date(2026, 12, 1),
        },
        Command::Authorize {
            id: id(0),
            line_id,
            merchant_account_id: MERCHANT,
            amount: 20_000,
            timeout: 0,
        },
        Command::Capture {
            id: id(1),
            line_id,
            purchase_id: id(0),
            amount: 15_000,
        },
        Command::Refund {
            id: id(2),
            line_id,
            purchase_id: id(0),
            amount: 1_000,
        },
        Command::Authorize {
            id: id(3),
            line_id,
            merchant_account_id: MERCHANT,
            amount: 5_000,
            timeout: 60,
        },
        Command::Void {
            id: id(4),
            line_id,
            purchase_id: id(3),
        },
        Command::ConvertInstallments {
            id: id(5),
            line_id,
            purchase_id: id(0),
            periods: 3,
            pricing: Pricing::TotalRate(Rate(300_000_000)),
            sponsor_account_id: 0,
        },
        Command::SettleInstallments {
            id: id(6),
            line_id,
            plan_id: id(5),
            source_account_id: BANK,
            amount: 0,
        },
        Command::Repay {
            id: id(7),
            line_id,
            source_account_id: BANK,
            amount: 3_000,
        },
        Command::RedeemCoins {
            id: id(8),
            line_id,
            coin_account_id: 7,
            coins: 100,
        },
        Command::AddFunder {
            program_id: PROGRAM_ID,
            account_id: 8,
            share_bps: 2_000,
        },
        Command::SettleFunding {
            program_id: PROGRAM_ID,
        },
        Command::SetStatus {
            line_id,
            change: StatusChange::Freeze,
        },
        Command::SetStatus {
            line_id,
            change: StatusChange::Unfreeze,
        },
        Command::DayClose {
            date: date(2026, 11, 1),
            max_lines: 10,
        },
    ]
}

/// The requests of a small workload, one vector per batch: accounts, transfers of every kind,
/// limits, a program, every credit command, then more transfers between day-closes that carry
/// the business date past the statement day (statements, interest). Used to build snapshots and
/// the data directories of `recovery`.
#[must_use]
pub fn workload() -> Vec<Vec<engine::Request>> {
    use engine::Request;
    let mut batches = vec![
        vec![Request::CreateAccounts(accounts())],
        vec![Request::CreateTransfers(transfers(100))],
        vec![Request::SetAccountLimits(limit_changes())],
        vec![Request::CreatePrograms(vec![program(PROGRAM_ID)])],
        vec![Request::Credit(commands(500))],
    ];
    for day in 2..=12 {
        let first = 1_000 + 10 * u128::from(day);
        let moves: Vec<Transfer> = (0..8)
            .map(|n| transfer(first + n, 1 + n % 4, 5 + n % 3, 1 + n, 0))
            .collect();
        let mut requests = vec![Request::CreateTransfers(moves)];
        if day % 3 == 0 {
            requests.push(Request::Credit(vec![Command::Authorize {
                id: 2_000 + u128::from(day),
                line_id: 1001,
                merchant_account_id: MERCHANT,
                amount: 1_000,
                timeout: 0,
            }]));
        }
        batches.push(requests);
        batches.push(vec![Request::Credit(vec![Command::DayClose {
            date: date(2026, 11, day - 1),
            max_lines: 5,
        }])]);
    }
    batches
}

/// Every account id the workload uses, line included.
#[must_use]
pub fn account_ids() -> Vec<u128> {
    let mut ids: Vec<u128> = accounts().iter().map(|a| a.id).collect();
    ids.push(1001);
    ids
}

/// Every transfer id the workload may create (posted by clients or by credit commands).
#[must_use]
pub fn transfer_ids() -> Vec<u128> {
    (100..108)
        .chain(500..510)
        .chain(1_020..1_128)
        .chain(2_000..2_013)
        .collect()
}
