//! Scenario tables: one line per event with its expected result, run by one `check` driver.
//!
//! Script syntax (one statement per line, `#` comments):
//! - `account id=1 ledger=1 code=1 flags=history|linked => ok`
//! - `transfer id=1 dr=1 cr=2 amount=10 => ok` (ledger and code default to 1)
//! - `limit account=1 debit=100 => ok`
//! - consecutive events of one kind form one batch; a blank line or other statement ends it;
//! - `tick SECONDS` advances engine time; `balance ID dp dpo cp cpo` asserts balances;
//! - `closed ID yes|no` asserts the closed flag; `status ID pending|posted|voided|expired`.

use std::collections::BTreeSet;
use std::sync::Mutex;

use crate::{
    Account, AccountFlags, CreateAccountResult, CreateTransferResult, Ledger, LimitChange,
    PrefetchKey, SetLimitResult, Transfer, TransferFlags,
};

/// Result names seen across every scenario, to check that each code is covered.
static SEEN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

enum Batch {
    Accounts(Vec<(Account, String)>),
    Transfers(Vec<(Transfer, String)>),
    Limits(Vec<(LimitChange, String)>),
}

struct Runner {
    ledger: Ledger,
    now: u64,
}

fn fields(text: &str) -> Vec<(String, String)> {
    text.split_whitespace()
        .map(|word| {
            let (k, v) = word
                .split_once('=')
                .unwrap_or_else(|| panic!("bad field {word}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn number(v: &str) -> u128 {
    match v {
        "max" => u128::MAX,
        "reserved" => crate::RESERVED_ID_MIN,
        _ => v
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("bad number {v}")),
    }
}

fn flags(v: &str, names: &[(u16, &str)]) -> u16 {
    v.split('|')
        .map(|name| {
            if let Some(bits) = name.strip_prefix("bit") {
                return 1 << bits.parse::<u16>().expect("bit number");
            }
            names
                .iter()
                .find(|(_, n)| *n == name)
                .unwrap_or_else(|| panic!("flag {name}"))
                .0
        })
        .fold(0, |a, b| a | b)
}

fn parse_account(text: &str) -> Account {
    let mut a = Account {
        ledger: 1,
        code: 1,
        ..Account::default()
    };
    for (k, v) in fields(text) {
        match k.as_str() {
            "id" => a.id = number(&v),
            "ledger" => a.ledger = u32::try_from(number(&v)).expect("u32"),
            "code" => a.code = u16::try_from(number(&v)).expect("u16"),
            "flags" => a.flags = AccountFlags(flags(&v, &AccountFlags::NAMES)),
            "ud128" => a.user_data_128 = number(&v),
            "ud64" => a.user_data_64 = u64::try_from(number(&v)).expect("u64"),
            "ud32" => a.user_data_32 = u32::try_from(number(&v)).expect("u32"),
            "reserved" => a.reserved = u32::try_from(number(&v)).expect("u32"),
            "timestamp" => a.timestamp = u64::try_from(number(&v)).expect("u64"),
            "dp" => a.debits_pending = number(&v),
            "dpo" => a.debits_posted = number(&v),
            "cp" => a.credits_pending = number(&v),
            "cpo" => a.credits_posted = number(&v),
            _ => panic!("unknown account field {k}"),
        }
    }
    a
}

fn parse_transfer(text: &str) -> Transfer {
    let mut t = Transfer {
        ledger: 1,
        code: 1,
        ..Transfer::default()
    };
    for (k, v) in fields(text) {
        match k.as_str() {
            "id" => t.id = number(&v),
            "dr" => t.debit_account_id = number(&v),
            "cr" => t.credit_account_id = number(&v),
            "amount" => t.amount = number(&v),
            "pending_id" => t.pending_id = number(&v),
            "timeout" => t.timeout = u32::try_from(number(&v)).expect("u32"),
            "ledger" => t.ledger = u32::try_from(number(&v)).expect("u32"),
            "code" => t.code = u16::try_from(number(&v)).expect("u16"),
            "flags" => t.flags = TransferFlags(flags(&v, &TransferFlags::NAMES)),
            "ud128" => t.user_data_128 = number(&v),
            "ud64" => t.user_data_64 = u64::try_from(number(&v)).expect("u64"),
            "ud32" => t.user_data_32 = u32::try_from(number(&v)).expect("u32"),
            "timestamp" => t.timestamp = u64::try_from(number(&v)).expect("u64"),
            _ => panic!("unknown transfer field {k}"),
        }
    }
    t
}

fn parse_limit(text: &str) -> LimitChange {
    let mut change = LimitChange::default();
    for (k, v) in fields(text) {
        match k.as_str() {
            "account" => change.account_id = number(&v),
            "debit" => change.debit_limit = Some(number(&v)),
            "credit" => change.credit_limit = Some(number(&v)),
            _ => panic!("unknown limit field {k}"),
        }
    }
    change
}

impl Runner {
    fn flush(&mut self, batch: &mut Option<Batch>, line_of: &[usize]) {
        let Some(batch) = batch.take() else { return };
        let mut seen = SEEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut compare = |index: usize, got: &str, want: &str| {
            seen.insert(got.to_string());
            assert_eq!(got, want, "line {}: got {got}, want {want}", line_of[index]);
        };
        match batch {
            Batch::Accounts(events) => {
                self.now += events.len() as u64;
                let input: Vec<Account> = events.iter().map(|(a, _)| *a).collect();
                let mut results = Vec::new();
                self.ledger.create_accounts(self.now, &input, &mut results);
                for (i, (r, (_, want))) in results.iter().zip(&events).enumerate() {
                    compare(i, CreateAccountResult::name(*r), want);
                }
            }
            Batch::Transfers(events) => {
                self.now += events.len() as u64;
                let input: Vec<Transfer> = events.iter().map(|(t, _)| *t).collect();
                let mut results = Vec::new();
                self.ledger.create_transfers(self.now, &input, &mut results);
                for (i, (r, (_, want))) in results.iter().zip(&events).enumerate() {
                    compare(i, CreateTransferResult::name(*r), want);
                }
            }
            Batch::Limits(events) => {
                self.now += events.len() as u64;
                let input: Vec<LimitChange> = events.iter().map(|(c, _)| *c).collect();
                let mut results = Vec::new();
                self.ledger
                    .set_account_limits(self.now, &input, &mut results);
                for (i, (r, (_, want))) in results.iter().zip(&events).enumerate() {
                    compare(i, SetLimitResult::name(*r), want);
                }
            }
        }
        drop(seen);
        self.ledger.check_conservation();
    }
}

/// Runs a scenario script (syntax in the module comment), asserting every expectation.
#[track_caller]
fn check(script: &str) {
    let mut runner = Runner {
        ledger: Ledger::new(1),
        now: 1_000_000_000,
    };
    let mut batch: Option<Batch> = None;
    let mut line_of = Vec::new();
    for (line_index, line) in script.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        let (statement, rest) = line.split_once(' ').unwrap_or((line, ""));
        let (body, want) = match rest.split_once("=>") {
            Some((body, want)) => (body.trim(), want.trim().to_string()),
            None => (rest.trim(), "ok".to_string()),
        };
        let kind_changes = !matches!(
            (&batch, statement),
            (Some(Batch::Accounts(_)), "account")
                | (Some(Batch::Transfers(_)), "transfer")
                | (Some(Batch::Limits(_)), "limit")
        );
        if kind_changes {
            runner.flush(&mut batch, &line_of);
            line_of.clear();
        }
        match statement {
            "" => {}
            "account" | "transfer" | "limit" => {
                line_of.push(line_index + 1);
                match (&mut batch, statement) {
                    (Some(Batch::Accounts(e)), _) => e.push((parse_account(body), want)),
                    (Some(Batch::Transfers(e)), _) => e.push((parse_transfer(body), want)),
                    (Some(Batch::Limits(e)), _) => e.push((parse_limit(body), want)),
                    (None, "account") => {
                        batch = Some(Batch::Accounts(vec![(parse_account(body), want)]))
                    }
                    (None, "transfer") => {
                        batch = Some(Batch::Transfers(vec![(parse_transfer(body), want)]))
                    }
                    (None, _) => batch = Some(Batch::Limits(vec![(parse_limit(body), want)])),
                }
            }
            "tick" => {
                let seconds: u64 = body.parse().expect("tick seconds");
                runner.now += seconds * 1_000_000_000;
                runner.ledger.pulse(runner.now);
            }
            "balance" => {
                let v: Vec<u128> = body.split_whitespace().map(number).collect();
                let (a, _) = runner.ledger.lookup_account(v[0]).expect("account exists");
                let got = [
                    a.debits_pending,
                    a.debits_posted,
                    a.credits_pending,
                    a.credits_posted,
                ];
                assert_eq!(
                    got[..],
                    v[1..5],
                    "line {}: balances of {}",
                    line_index + 1,
                    v[0]
                );
            }
            "closed" => {
                let (id, want) = body.split_once(' ').expect("closed ID yes|no");
                let (a, _) = runner
                    .ledger
                    .lookup_account(number(id))
                    .expect("account exists");
                assert_eq!(a.flags.closed(), want == "yes", "line {}", line_index + 1);
            }
            "status" => {
                let (id, want) = body.split_once(' ').expect("status ID name");
                let status = runner.ledger.pending_status(number(id)).expect("pending");
                assert_eq!(status.name(), want, "line {}", line_index + 1);
            }
            "amount" => {
                let (id, want) = body.split_once(' ').expect("amount ID value");
                let t = runner
                    .ledger
                    .lookup_transfer(number(id), &[] as &[Transfer])
                    .map(|found| found.expect("transfer exists"))
                    .unwrap_or_else(|never| match never {});
                assert_eq!(t.amount, number(want), "line {}", line_index + 1);
            }
            _ => panic!("line {}: unknown statement {statement}", line_index + 1),
        }
    }
    runner.flush(&mut batch, &line_of);
}

// Goal: every account rejection, listed by descending precedence; each line also violates
// every rule below it where possible, so the precedence order itself is checked.
#[test]
fn create_accounts_codes_by_precedence() {
    check(
        "
account id=0 timestamp=1 reserved=1 flags=bit4 ledger=0 code=0 => timestamp_must_be_zero
account id=0 reserved=1 flags=bit4 ledger=0 code=0 => reserved_field
account id=0 flags=bit14 ledger=0 code=0 => reserved_flag
account id=0 flags=debits_must_not_exceed_credits|credits_must_not_exceed_debits => id_must_not_be_zero
account id=max ledger=0 => id_must_not_be_int_max
account id=1 ud128=1 ud64=2 ud32=3 ledger=4 code=5 => ok

account id=1 flags=history ud128=9 => exists_with_different_flags
account id=1 ud128=9 ud64=9 => exists_with_different_user_data_128
account id=1 ud128=1 ud64=9 ud32=9 => exists_with_different_user_data_64
account id=1 ud128=1 ud64=2 ud32=9 ledger=9 => exists_with_different_user_data_32
account id=1 ud128=1 ud64=2 ud32=3 ledger=9 code=9 => exists_with_different_ledger
account id=1 ud128=1 ud64=2 ud32=3 ledger=4 code=9 => exists_with_different_code
account id=1 ud128=1 ud64=2 ud32=3 ledger=4 code=5 => exists
account id=2 flags=debits_must_not_exceed_credits|credits_must_not_exceed_debits dp=1 => flags_are_mutually_exclusive
account id=2 dp=1 dpo=1 => debits_pending_must_be_zero
account id=2 dpo=1 cp=1 => debits_posted_must_be_zero
account id=2 cp=1 cpo=1 => credits_pending_must_be_zero
account id=2 cpo=1 ledger=0 => credits_posted_must_be_zero
account id=2 ledger=0 code=0 => ledger_must_not_be_zero
account id=2 code=0 => code_must_not_be_zero
account id=2 => ok
",
    );
}

// Goal: linked account chains are all-or-nothing, and an open chain at batch end fails.
#[test]
fn create_accounts_linked_chains() {
    check(
        "
account id=1 flags=linked => linked_event_failed
account id=2 flags=linked => linked_event_failed
account id=0 => id_must_not_be_zero
account id=3 => ok
account id=1 flags=linked => linked_event_failed
account id=4 flags=linked => linked_event_chain_open

account id=1 => ok
account id=2 => ok
account id=4 => ok
",
    );
}

// Goal: every single-phase transfer rejection by descending precedence.
#[test]
fn create_transfers_codes_by_precedence() {
    check(
        "
account id=1 flags=debits_must_not_exceed_credits
account id=2 flags=credits_must_not_exceed_debits
account id=3
account id=4 ledger=2
account id=5 flags=history
account id=6

transfer id=0 timestamp=1 flags=bit8 dr=0 => timestamp_must_be_zero
transfer id=0 flags=bit8 dr=0 => reserved_flag
transfer id=0 dr=0 => id_must_not_be_zero
transfer id=max dr=0 => id_must_not_be_int_max
transfer id=reserved dr=0 => id_must_not_be_reserved
transfer id=1 dr=0 cr=0 flags=pending|post_pending_transfer => flags_are_mutually_exclusive
transfer id=1 dr=0 cr=0 => debit_account_id_must_not_be_zero
transfer id=1 dr=max cr=0 => debit_account_id_must_not_be_int_max
transfer id=1 dr=3 cr=0 => credit_account_id_must_not_be_zero
transfer id=1 dr=3 cr=max => credit_account_id_must_not_be_int_max
transfer id=1 dr=3 cr=3 pending_id=1 => accounts_must_be_different
transfer id=1 dr=3 cr=5 pending_id=1 timeout=1 => pending_id_must_be_zero
transfer id=1 dr=3 cr=5 timeout=1 flags=closing_debit => timeout_reserved_for_pending_transfer
transfer id=1 dr=3 cr=5 flags=closing_debit ledger=0 => closing_transfer_must_be_pending
transfer id=1 dr=3 cr=5 ledger=0 code=0 => ledger_must_not_be_zero
transfer id=1 dr=3 cr=5 code=0 => code_must_not_be_zero
transfer id=1 dr=8 cr=9 => debit_account_not_found
transfer id=2 dr=3 cr=9 => credit_account_not_found
transfer id=3 dr=3 cr=4 ledger=2 => accounts_must_have_the_same_ledger
transfer id=4 dr=3 cr=5 ledger=2 => transfer_must_have_the_same_ledger_as_accounts
transfer id=5 dr=3 cr=5 amount=max => ok
transfer id=6 dr=3 cr=5 amount=1 => overflows_debits_posted
transfer id=7 dr=6 cr=5 amount=1 => overflows_credits_posted
account id=7
account id=8
account id=9
transfer id=20 dr=7 cr=8 amount=170141183460469231731687303715884105728 flags=pending => ok
transfer id=21 dr=7 cr=8 amount=170141183460469231731687303715884105727 => ok
transfer id=8 dr=7 cr=6 amount=1 flags=pending => overflows_debits
transfer id=9 dr=6 cr=8 amount=1 flags=pending => overflows_credits
transfer id=10 dr=6 cr=1 amount=1 flags=pending => ok
transfer id=11 dr=6 cr=1 amount=max flags=pending => overflows_debits_pending
transfer id=12 dr=9 cr=1 amount=max flags=pending timeout=1 => overflows_credits_pending
transfer id=13 dr=6 cr=1 amount=1 flags=pending timeout=4294967295 => ok
tick 5000000000
transfer id=22 dr=6 cr=1 amount=1 flags=pending timeout=4294967295 => overflows_timeout
transfer id=14 dr=1 cr=2 amount=1 => exceeds_credits
transfer id=15 dr=6 cr=2 amount=1 => exceeds_debits
transfer id=16 dr=6 cr=1 amount=0 => ok
",
    );
}

// Goal: the transient failures above make their ids unusable, while other failures do not.
#[test]
fn id_already_failed_only_after_transient_failures() {
    check(
        "
account id=1 flags=debits_must_not_exceed_credits
account id=2
transfer id=1 dr=1 cr=3 => credit_account_not_found
transfer id=2 dr=1 cr=2 amount=1 => exceeds_credits
transfer id=3 dr=1 cr=2 code=0 => code_must_not_be_zero
account id=3
transfer id=1 dr=1 cr=3 => id_already_failed
transfer id=2 dr=2 cr=1 amount=1 => id_already_failed
transfer id=3 dr=2 cr=1 amount=1 => ok
",
    );
}

// Goal: the exists family, by descending precedence, for a single-phase transfer.
#[test]
fn create_transfers_exists_by_precedence() {
    check(
        "
account id=1
account id=2
account id=3
transfer id=1 dr=1 cr=2 amount=5 ud128=1 ud64=2 ud32=3 => ok
transfer id=1 dr=1 cr=2 amount=5 flags=pending pending_id=9 => exists_with_different_flags
transfer id=1 dr=1 cr=2 amount=5 pending_id=9 timeout=9 => exists_with_different_pending_id
transfer id=1 dr=1 cr=2 amount=5 timeout=9 dr=3 => exists_with_different_timeout
transfer id=1 dr=3 cr=3 amount=5 => exists_with_different_debit_account_id
transfer id=1 dr=1 cr=3 amount=6 => exists_with_different_credit_account_id
transfer id=1 dr=1 cr=2 amount=6 ud128=9 => exists_with_different_amount
transfer id=1 dr=1 cr=2 amount=5 ud128=9 ud64=9 => exists_with_different_user_data_128
transfer id=1 dr=1 cr=2 amount=5 ud128=1 ud64=9 ud32=9 => exists_with_different_user_data_64
transfer id=1 dr=1 cr=2 amount=5 ud128=1 ud64=2 ud32=9 ledger=9 => exists_with_different_user_data_32
transfer id=1 dr=1 cr=2 amount=5 ud128=1 ud64=2 ud32=3 ledger=9 code=9 => exists_with_different_ledger
transfer id=1 dr=1 cr=2 amount=5 ud128=1 ud64=2 ud32=3 code=9 => exists_with_different_code
transfer id=1 dr=1 cr=2 amount=5 ud128=1 ud64=2 ud32=3 => exists
balance 1 0 5 0 0
",
    );
}

// Goal: two-phase rejections by descending precedence, and post/void/expiry effects.
#[test]
fn pending_transfers_post_void_expire() {
    check(
        "
account id=1
account id=2
account id=3
transfer id=1 dr=1 cr=2 amount=10 flags=pending timeout=10 => ok
transfer id=2 dr=1 cr=2 amount=10 => ok
balance 1 10 10 0 0
transfer id=3 pending_id=1 flags=post_pending_transfer|void_pending_transfer => flags_are_mutually_exclusive
transfer id=3 pending_id=1 flags=post_pending_transfer|balancing_debit => flags_are_mutually_exclusive
transfer id=3 pending_id=0 dr=max flags=post_pending_transfer => debit_account_id_must_not_be_int_max
transfer id=3 pending_id=0 cr=max flags=post_pending_transfer => credit_account_id_must_not_be_int_max
transfer id=3 pending_id=0 dr=2 cr=2 flags=post_pending_transfer => accounts_must_be_different
transfer id=3 pending_id=0 flags=post_pending_transfer => pending_id_must_not_be_zero
transfer id=3 pending_id=max flags=post_pending_transfer => pending_id_must_not_be_int_max
transfer id=3 pending_id=3 timeout=1 flags=post_pending_transfer => pending_id_must_be_different
transfer id=3 pending_id=reserved timeout=1 flags=void_pending_transfer => pending_id_must_not_be_reserved
transfer id=3 pending_id=1 timeout=1 flags=post_pending_transfer => timeout_reserved_for_pending_transfer
transfer id=3 pending_id=9 flags=post_pending_transfer => pending_transfer_not_found
transfer id=4 pending_id=2 dr=3 flags=post_pending_transfer => pending_transfer_not_pending
transfer id=4 pending_id=1 dr=3 cr=1 flags=post_pending_transfer => pending_transfer_has_different_debit_account_id
transfer id=4 pending_id=1 cr=3 ledger=2 flags=post_pending_transfer => pending_transfer_has_different_credit_account_id
transfer id=4 pending_id=1 ledger=2 code=2 flags=post_pending_transfer => pending_transfer_has_different_ledger
transfer id=4 pending_id=1 code=2 amount=11 flags=post_pending_transfer => pending_transfer_has_different_code
transfer id=4 pending_id=1 amount=11 flags=post_pending_transfer => exceeds_pending_transfer_amount
transfer id=4 pending_id=1 amount=11 flags=void_pending_transfer => exceeds_pending_transfer_amount
transfer id=4 pending_id=1 amount=9 flags=void_pending_transfer => pending_transfer_has_different_amount
transfer id=4 pending_id=1 amount=4 ledger=0 code=0 flags=post_pending_transfer => ok
status 1 posted
balance 1 0 14 0 0
balance 2 0 0 0 14
amount 4 4
transfer id=4 pending_id=1 amount=4 ledger=0 code=0 flags=post_pending_transfer => exists
transfer id=4 pending_id=1 amount=max ledger=0 code=0 flags=post_pending_transfer => exists_with_different_amount
transfer id=4 pending_id=1 amount=5 ledger=0 code=0 flags=post_pending_transfer => exists_with_different_amount
transfer id=5 pending_id=1 amount=0 flags=void_pending_transfer => pending_transfer_already_posted

transfer id=6 dr=1 cr=2 amount=7 flags=pending timeout=1 => ok
transfer id=7 pending_id=6 flags=void_pending_transfer ud32=5 => ok
transfer id=7 pending_id=6 flags=void_pending_transfer => exists_with_different_user_data_32
transfer id=7 pending_id=6 flags=void_pending_transfer ud32=5 => exists
transfer id=8 pending_id=6 amount=max flags=post_pending_transfer => pending_transfer_already_voided
status 6 voided

transfer id=9 dr=1 cr=2 amount=3 flags=pending timeout=2 => ok
balance 1 3 14 0 0
tick 1
transfer id=10 pending_id=9 flags=void_pending_transfer amount=3 => ok
transfer id=11 dr=1 cr=2 amount=3 flags=pending timeout=2 => ok
tick 3
status 11 expired
balance 1 0 14 0 0
transfer id=12 pending_id=11 amount=max flags=post_pending_transfer => pending_transfer_expired
",
    );
}

// Goal: a post arriving at exactly the expiry instant is refused even before the sweep ran.
#[test]
fn pending_expires_exactly_at_timeout() {
    let mut ledger = Ledger::new(3);
    let mut r1 = Vec::new();
    let mut r2 = Vec::new();
    ledger.create_accounts(
        10,
        &[
            Account {
                id: 1,
                ledger: 1,
                code: 1,
                ..Account::default()
            },
            Account {
                id: 2,
                ledger: 1,
                code: 1,
                ..Account::default()
            },
        ],
        &mut r1,
    );
    let pending = Transfer {
        id: 1,
        debit_account_id: 1,
        credit_account_id: 2,
        amount: 5,
        timeout: 1,
        ledger: 1,
        code: 1,
        flags: TransferFlags(TransferFlags::PENDING),
        ..Transfer::default()
    };
    ledger.create_transfers(100, &[pending], &mut r2);
    let post = Transfer {
        id: 2,
        pending_id: 1,
        amount: u128::MAX,
        flags: TransferFlags(TransferFlags::POST_PENDING_TRANSFER),
        ..Transfer::default()
    };
    let filler = Transfer {
        id: 3,
        debit_account_id: 1,
        credit_account_id: 2,
        amount: 0,
        ledger: 1,
        code: 1,
        ..Transfer::default()
    };
    // Event timestamps: filler at 1_000_000_099, post at exactly 100 + 1s.
    ledger.create_transfers(1_000_000_100, &[filler, post], &mut r2);
    assert_eq!(
        r2,
        [
            CreateTransferResult::Ok,
            CreateTransferResult::Ok,
            CreateTransferResult::PendingTransferExpired
        ]
    );
    ledger.check_conservation();
}

// Goal: balancing transfers clamp to what the limits allow, and their idempotency rule.
#[test]
fn balancing_transfers() {
    check(
        "
account id=1 flags=debits_must_not_exceed_credits
account id=2 flags=credits_must_not_exceed_debits
account id=3
transfer id=1 dr=3 cr=1 amount=10 => ok
transfer id=2 dr=1 cr=3 amount=100 flags=balancing_debit => ok
amount 2 10
balance 1 0 10 0 10
transfer id=2 dr=1 cr=3 amount=100 flags=balancing_debit => exists
transfer id=2 dr=1 cr=3 amount=50 flags=balancing_debit => exists
transfer id=2 dr=1 cr=3 amount=9 flags=balancing_debit => exists_with_different_amount
transfer id=3 dr=2 cr=3 amount=4 => ok
transfer id=4 dr=3 cr=2 amount=9 flags=balancing_credit|pending => ok
amount 4 4
transfer id=5 dr=3 cr=2 amount=1 => exceeds_debits
",
    );
}

// Goal: closing transfers close accounts; voiding reopens; expiry reopens; closed rejects,
// even a post of the transfer that closed it (only a void moves a closed account).
#[test]
fn closing_accounts() {
    check(
        "
account id=1
account id=2
account id=3
transfer id=1 dr=1 cr=2 amount=0 flags=pending|closing_debit => ok
closed 1 yes
transfer id=2 dr=1 cr=3 amount=1 => debit_account_already_closed
transfer id=3 dr=3 cr=1 amount=1 => credit_account_already_closed
limit account=1 debit=5 => account_already_closed
transfer id=4 pending_id=1 flags=void_pending_transfer => ok
closed 1 no
transfer id=2 dr=1 cr=3 amount=1 => id_already_failed
transfer id=5 dr=3 cr=2 amount=0 flags=pending|closing_credit timeout=1 => ok
closed 2 yes
tick 2
closed 2 no
transfer id=6 dr=3 cr=2 amount=1 flags=pending|closing_credit => ok
transfer id=7 dr=3 cr=2 amount=1 flags=pending => credit_account_already_closed
transfer id=8 pending_id=6 flags=post_pending_transfer amount=max => credit_account_already_closed
closed 2 yes
status 6 pending
account id=2 => exists
",
    );
}

// Goal: a client's transfer never touches a managed account (a credit line), from either side.
// The flag is immutable, so the rejection is not transient: the id stays usable.
#[test]
fn managed_accounts_refuse_client_transfers() {
    check(
        "
account id=1 flags=managed
account id=2
transfer id=1 dr=1 cr=2 amount=1 => account_is_managed
transfer id=2 dr=2 cr=1 amount=1 flags=pending => account_is_managed
transfer id=3 dr=2 cr=1 amount=0 => account_is_managed
transfer id=1 dr=2 cr=1 amount=1 => account_is_managed
account id=1 flags=managed => exists
",
    );
}

// Goal: a linked transfer chain applies wholly or not at all, in every kind of failure.
#[test]
fn linked_transfer_chains() {
    check(
        "
account id=1 flags=debits_must_not_exceed_credits
account id=2
account id=3 flags=history
transfer id=1 dr=2 cr=1 amount=10 => ok

transfer id=2 dr=1 cr=3 amount=6 flags=linked => linked_event_failed
transfer id=3 dr=1 cr=2 amount=1 flags=pending|linked timeout=5 => linked_event_failed
transfer id=4 pending_id=3 flags=post_pending_transfer|linked amount=max => linked_event_failed
transfer id=5 dr=1 cr=3 amount=6 => exceeds_credits
transfer id=6 dr=1 cr=3 amount=1 => ok
balance 1 0 1 0 10
balance 3 0 0 0 1

transfer id=2 dr=1 cr=3 amount=6 flags=linked => ok
transfer id=3 dr=1 cr=2 amount=1 flags=pending|linked timeout=5 => ok
transfer id=4 pending_id=3 flags=post_pending_transfer amount=max => ok
status 3 posted
balance 1 0 8 0 10
transfer id=7 dr=1 cr=2 amount=1 flags=linked => linked_event_chain_open
",
    );
}

// Goal: limits change after creation and bound debits/credits like the flags do at zero.
#[test]
fn limits_change_after_creation() {
    check(
        "
account id=1 flags=debits_must_not_exceed_credits
account id=2 flags=credits_must_not_exceed_debits
account id=3
limit account=0 debit=1 => account_id_must_not_be_zero
limit account=max debit=1 => account_id_must_not_be_int_max
limit account=1 => limit_must_be_given
limit account=9 debit=1 => account_not_found
limit account=3 debit=1 => debit_limit_requires_debits_must_not_exceed_credits
limit account=1 credit=1 => credit_limit_requires_credits_must_not_exceed_debits
limit account=1 debit=100 => ok
limit account=2 credit=50 => ok
transfer id=1 dr=1 cr=3 amount=100 => ok
transfer id=2 dr=1 cr=3 amount=1 => exceeds_credits
transfer id=3 dr=3 cr=2 amount=51 => exceeds_debits
transfer id=4 dr=3 cr=2 amount=50 => ok
limit account=1 debit=150 => ok
transfer id=5 dr=1 cr=3 amount=50 flags=pending => ok
transfer id=6 dr=1 cr=3 amount=1 => exceeds_credits
limit account=1 debit=10 => ok
transfer id=7 pending_id=5 flags=post_pending_transfer amount=max => ok
transfer id=8 dr=1 cr=3 amount=1 => exceeds_credits
transfer id=9 dr=3 cr=1 amount=145 => ok
transfer id=10 dr=1 cr=3 amount=100 flags=balancing_debit => ok
amount 10 5
",
    );
}

// Goal: every result code of every kind appears in some scenario above. Runs the scenarios
// itself, because tests run in any order.
#[test]
fn every_result_code_is_covered() {
    create_accounts_codes_by_precedence();
    create_accounts_linked_chains();
    create_transfers_codes_by_precedence();
    id_already_failed_only_after_transient_failures();
    create_transfers_exists_by_precedence();
    pending_transfers_post_void_expire();
    balancing_transfers();
    closing_accounts();
    linked_transfer_chains();
    limits_change_after_creation();
    managed_accounts_refuse_client_transfers();
    let seen = SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let names = CreateAccountResult::ALL
        .iter()
        .map(|c| c.name())
        .chain(CreateTransferResult::ALL.iter().map(|c| c.name()))
        .chain(SetLimitResult::ALL.iter().map(|c| c.name()));
    let missing: Vec<&str> = names.filter(|n| !seen.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "result codes without a scenario: {missing:?}"
    );
}

// Goal: a reserved id index takes that many transfers without growing (no rehash stall).
/// A ledger with accounts 1 and 2 (ledger 1, code 1), created at engine time 10.
fn two_accounts(hash_key: u64) -> Ledger {
    let mut ledger = Ledger::new(hash_key);
    let account = |id| Account {
        id,
        ledger: 1,
        code: 1,
        ..Account::default()
    };
    let mut results = Vec::new();
    ledger.create_accounts(10, &[account(1), account(2)], &mut results);
    assert!(results.iter().all(|r| *r == CreateAccountResult::Ok));
    ledger
}

/// A transfer of 1 from account 1 to account 2 (see [`two_accounts`]).
fn one_to_two(id: u128, flags: u16) -> Transfer {
    Transfer {
        id,
        debit_account_id: 1,
        credit_account_id: 2,
        amount: 1,
        ledger: 1,
        code: 1,
        flags: TransferFlags(flags),
        ..Transfer::default()
    }
}

#[test]
fn reserved_id_index_does_not_grow() {
    let mut ledger = two_accounts(3);
    ledger.reserve_transfers(10_000);
    let capacity = ledger.id_index.capacity();
    assert!(capacity >= 10_000, "capacity {capacity}");
    let transfers: Vec<Transfer> = (1..=8_000u128).map(|id| one_to_two(id, 0)).collect();
    let mut results = Vec::new();
    ledger.create_transfers(100_000, &transfers, &mut results);
    assert!(results.iter().all(|r| *r == CreateTransferResult::Ok));
    assert_eq!(ledger.id_index.capacity(), capacity);
    assert_eq!(ledger.transfer_count(), 8_000);
}

/// `prefetch_needs` reads its keys' index buckets in runs (64 at a time) before probing them:
/// over batches that end inside a run, at its edge and past several, it must name exactly the
/// cold positions that asking key by key names.
#[test]
fn prefetch_needs_in_runs_matches_key_by_key() {
    let mut ledger = two_accounts(5);
    // Ids 1..=300, every third a pending transfer; then all of them evicted.
    let transfers: Vec<Transfer> = (1..=300u128)
        .map(|id| {
            let pending = if id % 3 == 0 {
                TransferFlags::PENDING
            } else {
                0
            };
            one_to_two(id, pending)
        })
        .collect();
    let mut results = Vec::new();
    ledger.create_transfers(1_000, &transfers, &mut results);
    assert!(results.iter().all(|r| *r == CreateTransferResult::Ok));
    ledger.evict_below(ledger.transfer_count());
    // Retries of stored ids (cold unless an open pending transfer), posts of stored pending
    // transfers under new ids, and new ids.
    let keys: Vec<PrefetchKey> = (0..400u128)
        .map(|k| match k % 5 {
            0 | 1 | 3 => PrefetchKey::plain(1 + (k * 7) % 300),
            2 => PrefetchKey::resolving(1_000 + k, 3 * (1 + k % 100)),
            _ => PrefetchKey::plain(5_000 + k),
        })
        .collect();
    for len in [0, 1, 63, 64, 65, 128, 200, 400] {
        let keys = &keys[..len];
        let mut together = Vec::new();
        ledger.prefetch_needs(keys.iter().copied(), &mut together);
        let mut one_by_one = Vec::new();
        for &key in keys {
            ledger.prefetch_needs([key], &mut one_by_one);
        }
        assert_eq!(together, one_by_one, "{len} keys");
        // Every retried id that is not an open pending transfer is cold and named.
        let retried: BTreeSet<u64> = keys
            .iter()
            .filter(|key| key.resolves.is_none() && key.id <= 300 && key.id % 3 != 0)
            .map(|key| u64::try_from(key.id - 1).expect("small"))
            .collect();
        let named: BTreeSet<u64> = together.iter().copied().collect();
        assert!(
            retried.is_subset(&named),
            "{len} keys: {retried:?} {named:?}"
        );
    }
}
