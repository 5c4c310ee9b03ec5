//! The credit snapshot decoder refuses what no encoder writes and no state has: non-canonical
//! encodings (fuzz finding F2) and records that disagree with each other or with the ledger
//! (fuzz finding F5); and a command at the very end of engine time does not overflow the
//! credit clock (fuzz finding F3). Each bad payload is made from a real state's encoding by
//! editing one field at its documented offset (`snapshot.rs`, "Layout").

use super::{World, authorize, capture, date, repay, yuan};
use crate::math::{Pricing, Rate};
use crate::{Command, Credit, CreditResult, CreditSnapshotError};

const LINE_SIZE: usize = 313;
const PLAN_SIZE: usize = 128;
const PURCHASE_SIZE: usize = 60;
const BORROWER_SIZE: usize = 24;

/// Offsets of the sections of a credit snapshot, read from its counts.
struct Layout {
    lines: usize,
    purchases: usize,
    plans: usize,
    funding: usize,
}

fn u32_at(bytes: &[u8], at: usize) -> usize {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize
}

fn layout(bytes: &[u8]) -> Layout {
    // Magic, business date, day-close cursor, generated id sequence.
    let programs = 24;
    let lines = programs + 4 + 256 * u32_at(bytes, programs);
    let purchases = lines + 4 + LINE_SIZE * u32_at(bytes, lines);
    let plans = purchases + 4 + PURCHASE_SIZE * u32_at(bytes, purchases);
    let funding = plans + 4 + PLAN_SIZE * u32_at(bytes, plans);
    Layout {
        lines: lines + 4,
        purchases: purchases + 4,
        plans: plans + 4,
        funding,
    }
}

fn set_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

fn add_u64(bytes: &mut [u8], at: usize, delta: i64) {
    let value = get_u64(bytes, at)
        .checked_add_signed(delta)
        .expect("in range");
    set_u64(bytes, at, value);
}

fn get_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// Two lines of two borrowers; two purchases on the first, one converted into a 12-period plan.
fn world() -> World {
    let mut w = World::new();
    assert_eq!(w.open(100, yuan(10_000)), CreditResult::Ok);
    assert_eq!(w.open(200, yuan(5_000)), CreditResult::Ok);
    for (id, amount) in [(1, yuan(1_000)), (3, yuan(300))] {
        assert_eq!(w.run(authorize(id, 100, amount)), CreditResult::Ok);
        assert_eq!(w.run(capture(id + 1, 100, id, 0)), CreditResult::Ok);
    }
    let convert = Command::ConvertInstallments {
        id: 10,
        line_id: 100,
        purchase_id: 1,
        periods: 12,
        pricing: Pricing::TotalRate(Rate(880_000_000)),
        sponsor_account_id: 0,
    };
    assert_eq!(w.run(convert), CreditResult::Ok);
    w
}

/// `bytes` (an `EFCREDT3` snapshot) as the `EFCREDT2` encoder wrote it: that magic, and a
/// borrowers section of `borrowers` (key, exposure) after the lines.
fn version_2(bytes: &[u8], borrowers: &[(u128, u64)]) -> Vec<u8> {
    let at = layout(bytes).purchases - 4;
    let mut old = b"EFCREDT2".to_vec();
    old.extend_from_slice(&bytes[8..at]);
    old.extend_from_slice(&u32::try_from(borrowers.len()).unwrap().to_le_bytes());
    for (key, exposure) in borrowers {
        old.extend_from_slice(&key.to_le_bytes());
        old.extend_from_slice(&exposure.to_le_bytes());
    }
    old.extend_from_slice(&bytes[at..]);
    old
}

// Goal: a snapshot of the version that listed borrower exposures (`EFCREDT2`) still decodes,
// to the state it was taken of: the listed exposures are dropped and rebuilt from the lines,
// and the state encodes in the current version.
#[test]
fn version_2_snapshots_decode() {
    let w = world();
    let bytes = encode(&w.credit);
    assert_eq!(&bytes[..8], b"EFCREDT3");
    // The old keys are not the exposures' owners any more: whatever they say, the lines rule.
    let old = version_2(&bytes, &[(3, yuan(5_000)), (7, 1)]);
    let decoded = decode(&old).expect("an EFCREDT2 snapshot decodes");
    assert_eq!(encode(&decoded), bytes);
    assert_eq!(decoded.check_consistency(&w.ledger), Ok(()));
    let truncated = &old[..layout(&bytes).purchases - 4 + 8 + 4 + BORROWER_SIZE];
    assert_eq!(
        decode(truncated).err(),
        Some(CreditSnapshotError::Truncated)
    );
}

fn encode(credit: &Credit) -> Vec<u8> {
    let mut bytes = Vec::new();
    credit.encode_snapshot(&mut bytes);
    bytes
}

fn decode(bytes: &[u8]) -> Result<Credit, CreditSnapshotError> {
    Credit::decode_snapshot(bytes, 1).map(|(credit, _)| credit)
}

// Goal (fuzz finding F2): the decoder accepts only the canonical encoding: purchases sorted by
// id, plan padding zero (and, in an `EFCREDT2` snapshot, borrowers sorted by key). Each of
// these payloads used to decode (and then encode to other bytes); now each is refused as
// `NotCanonical`, naming what is out of form.
#[test]
fn non_canonical_snapshots_are_refused() {
    let w = world();
    let bytes = encode(&w.credit);
    let decoded = decode(&bytes).expect("the canonical encoding decodes");
    assert_eq!(encode(&decoded), bytes);
    let at = layout(&bytes);
    assert!(u32_at(&bytes, at.purchases - 4) >= 2, "two purchases");
    assert_eq!(u32_at(&bytes, at.plans - 4), 1, "one plan");

    let swap = |bytes: &mut Vec<u8>, start: usize, size: usize| {
        let first = bytes[start..start + size].to_vec();
        bytes.copy_within(start + size..start + 2 * size, start);
        bytes[start + size..start + 2 * size].copy_from_slice(&first);
    };
    let bad = version_2(&bytes, &[(7, yuan(10_000)), (3, yuan(5_000))]);
    assert_eq!(
        decode(&bad).err(),
        Some(CreditSnapshotError::NotCanonical(
            "borrowers not sorted by key"
        ))
    );
    let mut bad = bytes.clone();
    swap(&mut bad, at.purchases, PURCHASE_SIZE);
    assert_eq!(
        decode(&bad).err(),
        Some(CreditSnapshotError::NotCanonical(
            "purchases not sorted by id"
        ))
    );
    for padding in 115..PLAN_SIZE {
        let mut bad = bytes.clone();
        bad[at.plans + padding] = 1;
        assert_eq!(
            decode(&bad).err(),
            Some(CreditSnapshotError::NotCanonical("plan padding not zero"))
        );
    }
}

// Goal (fuzz finding F5): records that are each valid but disagree with each other or with the
// ledger are refused as `Inconsistent`, naming the invariant and the record, instead of
// decoding into a state that panics later (in day-close: "borrower of a line", a subtraction
// in funding, an addition in `Owed::total` or in billing a plan). One edit per case.
#[test]
fn inconsistent_snapshots_are_refused() {
    let w = world();
    let bytes = encode(&w.credit);
    let at = layout(&bytes);
    let line = at.lines; // line 100, the first
    let inconsistent = |what, id| Some(CreditSnapshotError::Inconsistent { what, id });
    let edited = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut bad = bytes.clone();
        edit(&mut bad);
        decode(&bad).err()
    };
    // The line's owed principal (after ids, program, four bytes, five u64 and two dates, then
    // penalty, fee, interest).
    let principal = line + 112;
    assert_eq!(
        edited(&|b| set_u64(b, principal, u64::MAX)),
        inconsistent("line balance overflows u64", 100)
    );
    // Record-level: a line's statement day (after ids and program) outside 1-28.
    assert_eq!(
        edited(&|b| b[line + 36 + 1] = 0),
        Some(CreditSnapshotError::Invalid("line statement or due day"))
    );
    // Line 200 owes nothing: past due (after the owed components and what was paid) or
    // overdue (after the cycles, written off, birth date and the revolving flag) it cannot be.
    let second = line + LINE_SIZE;
    assert_eq!(
        edited(&|b| set_u64(b, second + 128, 1)),
        inconsistent("line past due beyond what it owes", 200)
    );
    assert_eq!(
        edited(&|b| b[second + 293..second + 297].copy_from_slice(&20_000u32.to_le_bytes())),
        inconsistent("line overdue without a debt", 200)
    );
    let credit_balance = line + 72;
    assert_eq!(
        edited(&|b| set_u64(b, credit_balance, 1)),
        inconsistent("line credit balance beside a debt", 100)
    );
    // The plan's remaining principal (after three ids, line, date, three bytes, principal, fee,
    // sponsor fee), and its periods billed.
    let remaining = at.plans + 16 * 3 + 8 + 3 + 24;
    assert_eq!(
        edited(&|b| add_u64(b, remaining, -1)),
        inconsistent(
            "line installment principal != its plans' remaining principal",
            100
        )
    );
    let billed = at.plans + 16 * 3 + 8 + 1;
    assert_eq!(
        edited(&|b| b[billed] = 12),
        inconsistent("active plan with nothing left to bill", 10)
    );
    assert_eq!(
        edited(&|b| add_u64(b, at.funding, 1)),
        inconsistent(
            "program funding outstanding != its lines' principal",
            super::PROGRAM
        )
    );

    // Against the ledger: a penalty the line account never saw passes the records' checks, and
    // is refused once the ledger is there (`StateRestore::finish` runs `check_ledger`).
    let penalty = line + 88;
    let mut bad = bytes.clone();
    set_u64(&mut bad, penalty, 1);
    let decoded = decode(&bad).expect("consistent with itself");
    assert_eq!(
        decoded.check_ledger(&w.ledger).err(),
        inconsistent("line components disagree with its ledger account", 100)
    );
    assert_eq!(decode(&bytes).unwrap().check_consistency(&w.ledger), Ok(()));
}

// Goal (fuzz finding F3): a command whose timestamps end at u64::MAX (engine time at its very
// end, which only a log can put there) runs without overflowing the credit clock; it used to
// panic with "attempt to add with overflow" computing the clock's end.
#[test]
fn commands_at_the_end_of_engine_time_do_not_overflow() {
    let mut w = world();
    w.close_through(date(2026, 11, 2));
    let result = w
        .credit
        .execute(&mut w.ledger, u64::MAX, &repay(50, 100, yuan(1)));
    assert_eq!(result, CreditResult::Ok);
    assert_eq!(w.ledger.commit_timestamp(), u64::MAX);
    w.check();
}
