//! The snapshot codec of the credit state: equal states encode to equal bytes.
//!
//! Layout (little-endian): magic `EFCREDT3`, business date u32, day-close cursor u32, generated
//! id sequence u64, then programs (count u32, 256-byte records in creation order), lines (count
//! u32, fixed records in opening order), purchases (count u32, sorted by id), installment plans
//! (count u32, in creation order) and each program's funding (platform share, then count u32
//! and funders in order). Hash maps are rebuilt on decode, never iterated to encode without
//! sorting; the borrowers' exposures are sums over the lines, rebuilt from them. Decoding
//! never panics on any bytes.
//!
//! `EFCREDT2` (before 2026-11-25) also listed borrower exposures after the lines (count u32,
//! sorted by a key that folded the program into the borrower id, so two borrowers of different
//! programs could share one): it still decodes, its exposures checked for form and dropped.
//!
//! Decoding accepts only the canonical encoding (sorted keys, zero padding), so a state that
//! decodes encodes back to exactly its bytes, and only a consistent state: after the records,
//! it checks the invariants between them (`Credit::check_records`: exposures, installments,
//! funding). The invariants against the ledger's line accounts need the ledger, and are checked
//! once it is restored (`Credit::check_ledger`, run by the engine's `StateRestore::finish`).

use std::fmt;

use stdx::bytes::ByteSink;

use crate::bytes::{Reader, Truncated, Writer};
use crate::command::{FUNDERS_MAX, PROGRAM_SIZE, Program};
use crate::date::Date;
use crate::funding::{Funder, Funding, Share};
use crate::plans::{Plan, PlanStatus};
use crate::state::{
    Credit, Cycle, Line, LineStatus, NO_PLAN, Owed, Purchase, Statement, TemporaryLimit,
};

const MAGIC: &[u8; 8] = b"EFCREDT3";
/// The version that listed borrower exposures (decoded, not written).
const MAGIC_2: &[u8; 8] = b"EFCREDT2";

/// Why bytes are not a credit snapshot, or a credit state is not consistent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreditSnapshotError {
    BadMagic,
    Truncated,
    /// A record that no state has (a value out of range, a reference to nothing, a duplicate).
    Invalid(&'static str),
    /// Records a state could have, in an order or form its encoder never writes (unsorted
    /// borrowers or purchases, non-zero padding): the encoding is not canonical.
    NotCanonical(&'static str),
    /// Records that are each valid but disagree with each other or with the ledger (an invariant
    /// of `Credit::check_lines` broken, or a sum that overflows); `id` names the line, program
    /// or plan (its client id; for a borrower exposure, the borrower key).
    Inconsistent {
        what: &'static str,
        id: u128,
    },
}

impl fmt::Display for CreditSnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CreditSnapshotError::BadMagic => write!(f, "not a credit snapshot (bad magic)"),
            CreditSnapshotError::Truncated => write!(f, "credit snapshot truncated"),
            CreditSnapshotError::Invalid(what) => write!(f, "credit snapshot invalid: {what}"),
            CreditSnapshotError::NotCanonical(what) => {
                write!(f, "credit snapshot not in canonical form: {what}")
            }
            CreditSnapshotError::Inconsistent { what, id } => {
                write!(f, "credit state inconsistent: {what} (id {id})")
            }
        }
    }
}

impl std::error::Error for CreditSnapshotError {}

impl From<Truncated> for CreditSnapshotError {
    fn from(_: Truncated) -> CreditSnapshotError {
        CreditSnapshotError::Truncated
    }
}

fn date(r: &mut Reader<'_>) -> Result<Date, CreditSnapshotError> {
    Ok(Date(r.u32()?))
}

/// A count whose items take at least `item_size` bytes each (so a lying count fails fast).
fn count(r: &mut Reader<'_>, item_size: usize) -> Result<usize, CreditSnapshotError> {
    let n = r.u32()? as usize;
    if n.saturating_mul(item_size) > r.rest().len() {
        return Err(CreditSnapshotError::Truncated);
    }
    Ok(n)
}

/// Bytes of one encoded line (checked by a test against `put_line`).
const LINE_SIZE: usize = 313;
/// Bytes of one encoded plan.
const PLAN_SIZE: usize = 128;

fn put_cycle(out: &mut Writer<'_>, c: &Cycle) {
    for v in [
        c.purchases,
        c.refunds,
        c.repayments,
        c.fees,
        c.interest,
        c.penalties,
        c.installments,
    ] {
        out.u64(v);
    }
}

fn get_cycle(r: &mut Reader<'_>) -> Result<Cycle, CreditSnapshotError> {
    Ok(Cycle {
        purchases: r.u64()?,
        refunds: r.u64()?,
        repayments: r.u64()?,
        fees: r.u64()?,
        interest: r.u64()?,
        penalties: r.u64()?,
        installments: r.u64()?,
    })
}

fn put_line(out: &mut Writer<'_>, l: &Line) {
    out.u128(l.id);
    out.u128(l.borrower_id);
    out.u32(l.program);
    out.u8(l.status as u8);
    out.u8(l.statement_day);
    out.u8(l.due_day);
    out.u8(l.applicant);
    out.u64(l.limit);
    out.u64(l.temporary.amount);
    out.u64(l.annual_income);
    out.u64(l.unbilled);
    out.u64(l.credit_balance);
    out.u32(l.temporary.from.0);
    out.u32(l.temporary.to.0);
    out.u64(l.owed.penalty);
    out.u64(l.owed.fee);
    out.u64(l.owed.interest);
    out.u64(l.owed.principal);
    out.u64(l.paid_since_statement);
    out.u64(l.past_due);
    let s = &l.statement;
    out.u32(s.date.0);
    out.u32(s.due_date.0);
    out.u64(s.previous_balance);
    out.u64(s.balance);
    out.u64(s.minimum_payment);
    put_cycle(out, &s.cycle);
    put_cycle(out, &l.cycle);
    out.u64(l.written_off);
    out.u32(l.birth_date.0);
    out.u8(u8::from(l.revolving));
    out.u32(l.overdue_since.0);
    out.u64(l.installment);
    out.u64(l.coins_redeemed);
}

fn get_line(r: &mut Reader<'_>, program_count: usize) -> Result<Line, CreditSnapshotError> {
    let id = r.u128()?;
    let borrower_id = r.u128()?;
    let program = r.u32()?;
    if program as usize >= program_count {
        return Err(CreditSnapshotError::Invalid("line of an unknown program"));
    }
    let status = match r.u8()? {
        0 => LineStatus::Active,
        1 => LineStatus::Frozen,
        2 => LineStatus::Closed,
        3 => LineStatus::WrittenOff,
        _ => return Err(CreditSnapshotError::Invalid("line status")),
    };
    let statement_day = r.u8()?;
    let due_day = r.u8()?;
    if !(1..=28).contains(&statement_day) || !(1..=28).contains(&due_day) {
        return Err(CreditSnapshotError::Invalid("line statement or due day"));
    }
    let applicant = r.u8()?;
    let limit = r.u64()?;
    let temporary_amount = r.u64()?;
    let annual_income = r.u64()?;
    let unbilled = r.u64()?;
    let credit_balance = r.u64()?;
    let temporary = TemporaryLimit {
        amount: temporary_amount,
        from: date(r)?,
        to: date(r)?,
    };
    let owed = Owed {
        penalty: r.u64()?,
        fee: r.u64()?,
        interest: r.u64()?,
        principal: r.u64()?,
    };
    let paid_since_statement = r.u64()?;
    let past_due = r.u64()?;
    let statement_date = date(r)?;
    let due_date = date(r)?;
    let previous_balance = r.u64()?;
    let balance = r.u64()?;
    let minimum_payment = r.u64()?;
    let statement_cycle = get_cycle(r)?;
    let cycle = get_cycle(r)?;
    let written_off = r.u64()?;
    let birth_date = date(r)?;
    let revolving = match r.u8()? {
        0 => false,
        1 => true,
        _ => return Err(CreditSnapshotError::Invalid("line revolving flag")),
    };
    let overdue_since = date(r)?;
    let installment = r.u64()?;
    let coins_redeemed = r.u64()?;
    Ok(Line {
        id,
        borrower_id,
        program,
        status,
        statement_day,
        due_day,
        applicant,
        birth_date,
        limit,
        temporary,
        annual_income,
        owed,
        unbilled,
        installment,
        coins_redeemed,
        credit_balance,
        statement: Statement {
            date: statement_date,
            due_date,
            previous_balance,
            cycle: statement_cycle,
            balance,
            minimum_payment,
        },
        cycle,
        paid_since_statement,
        past_due,
        overdue_since,
        revolving,
        written_off,
    })
}

fn put_share(out: &mut Writer<'_>, s: &Share) {
    out.u64(s.outstanding)
        .u64(s.drawn)
        .u64(s.repaid)
        .u64(s.lost);
}

fn get_share(r: &mut Reader<'_>) -> Result<Share, CreditSnapshotError> {
    Ok(Share {
        outstanding: r.u64()?,
        drawn: r.u64()?,
        repaid: r.u64()?,
        lost: r.u64()?,
    })
}

fn put_plan(out: &mut Writer<'_>, p: &Plan) {
    out.u128(p.id)
        .u128(p.purchase_id)
        .u128(p.sponsor_account_id)
        .u32(p.line)
        .u32(p.created.0)
        .u8(p.periods)
        .u8(p.billed)
        .u8(p.status as u8)
        .u64(p.principal)
        .u64(p.fee)
        .u64(p.sponsor_fee)
        .u64(p.remaining)
        .u64(p.fee_billed)
        .u64(p.settlement_fee)
        .u64(p.apr_nominal);
    out.pad_to(out.0.len() - 115, PLAN_SIZE);
}

fn get_plan(r: &mut Reader<'_>, lines: usize) -> Result<Plan, CreditSnapshotError> {
    let id = r.u128()?;
    let purchase_id = r.u128()?;
    let sponsor_account_id = r.u128()?;
    let line = r.u32()?;
    let created = date(r)?;
    let periods = r.u8()?;
    let billed = r.u8()?;
    let status = PlanStatus::from_u8(r.u8()?).ok_or(CreditSnapshotError::Invalid("plan status"))?;
    let plan = Plan {
        id,
        line,
        purchase_id,
        sponsor_account_id,
        periods,
        billed,
        status,
        created,
        principal: r.u64()?,
        fee: r.u64()?,
        sponsor_fee: r.u64()?,
        remaining: r.u64()?,
        fee_billed: r.u64()?,
        settlement_fee: r.u64()?,
        apr_nominal: r.u64()?,
    };
    let padding = r.take::<{ PLAN_SIZE - 115 }>()?;
    if padding.iter().any(|&b| b != 0) {
        return Err(CreditSnapshotError::NotCanonical("plan padding not zero"));
    }
    if line as usize >= lines
        || periods == 0
        || billed > periods
        || plan.remaining > plan.principal
        || plan.fee_billed > plan.fee
    {
        return Err(CreditSnapshotError::Invalid("plan record"));
    }
    Ok(plan)
}

impl Credit {
    /// Appends the snapshot encoding of the credit state to `sink`, with a record boundary
    /// after every line, purchase, plan and funding, so a streaming sink holds little of it.
    pub fn encode_snapshot(&self, sink: &mut impl ByteSink) {
        let out = sink.bytes();
        out.extend_from_slice(MAGIC);
        let mut o = Writer(out);
        o.u32(self.business_date.0);
        o.u32(self.close_cursor);
        o.u64(self.generated);
        o.count(self.programs.len());
        for program in &self.programs {
            program.encode(o.0);
        }
        o.count(self.lines.len());
        for line in &self.lines {
            put_line(&mut Writer(sink.bytes()), line);
            sink.boundary();
        }
        let mut purchases: Vec<(u128, Purchase)> =
            self.purchases.iter().map(|(&k, &v)| (k, v)).collect();
        purchases.sort_unstable_by_key(|(id, _)| *id);
        Writer(sink.bytes()).count(purchases.len());
        for (id, p) in purchases {
            Writer(sink.bytes())
                .u128(id)
                .u32(p.line)
                .u128(p.merchant_account_id)
                .u64(p.captured)
                .u64(p.refunded)
                .u32(p.captured_on.0)
                .u32(p.plan);
            sink.boundary();
        }
        Writer(sink.bytes()).count(self.plans.len());
        for plan in &self.plans {
            put_plan(&mut Writer(sink.bytes()), plan);
            sink.boundary();
        }
        for funding in &self.funding {
            let mut o = Writer(sink.bytes());
            put_share(&mut o, &funding.platform);
            o.count(funding.funders.len());
            for f in &funding.funders {
                o.u128(f.account_id);
                o.u16(f.share_bps);
                put_share(&mut o, &f.share);
                o.u64(f.unsettled_drawn);
                o.u64(f.unsettled_repaid);
                o.u64(f.unsettled_lost);
            }
            sink.boundary();
        }
    }

    /// Decodes a credit snapshot from the front of `bytes`; returns the state and the bytes
    /// after it.
    pub fn decode_snapshot(
        bytes: &[u8],
        hash_key: u64,
    ) -> Result<(Credit, &[u8]), CreditSnapshotError> {
        let (rest, lists_borrowers) = match bytes.strip_prefix(MAGIC.as_slice()) {
            Some(rest) => (rest, false),
            None => (
                bytes
                    .strip_prefix(MAGIC_2.as_slice())
                    .ok_or(CreditSnapshotError::BadMagic)?,
                true,
            ),
        };
        let mut r = Reader::new(rest);
        let mut credit = Credit::new(hash_key);
        credit.business_date = date(&mut r)?;
        credit.close_cursor = r.u32()?;
        credit.generated = r.u64()?;
        let programs = count(&mut r, PROGRAM_SIZE)?;
        for index in 0..programs {
            let record = r.take::<PROGRAM_SIZE>()?;
            let program = Program::from_bytes(&record)
                .map_err(|_| CreditSnapshotError::Invalid("program record"))?;
            if credit
                .program_index
                .insert(program.id, u32::try_from(index).expect("u32 count"))
                .is_some()
            {
                return Err(CreditSnapshotError::Invalid("duplicate program"));
            }
            credit.programs.push(program);
        }
        let lines = count(&mut r, LINE_SIZE)?;
        credit.lines.reserve(lines);
        credit.line_index.reserve(lines);
        for index in 0..lines {
            let line = get_line(&mut r, programs)?;
            if credit.find_line(line.id).is_some() {
                return Err(CreditSnapshotError::Invalid("duplicate line"));
            }
            credit.lines.push(line);
            credit.index_line(line.id, u32::try_from(index).expect("u32 count"));
        }
        if credit.close_cursor as usize > lines {
            return Err(CreditSnapshotError::Invalid(
                "day-close cursor past the lines",
            ));
        }
        if lists_borrowers {
            let borrowers = count(&mut r, 24)?;
            let mut previous = None;
            for _ in 0..borrowers {
                let key = r.u128()?;
                r.u64()?;
                if previous.is_some_and(|p| key <= p) {
                    return Err(CreditSnapshotError::NotCanonical(
                        "borrowers not sorted by key",
                    ));
                }
                previous = Some(key);
            }
        }
        credit.rebuild_borrowers()?;
        let purchases = count(&mut r, 60)?;
        let mut purchase_plans = Vec::new();
        let mut previous = None;
        for _ in 0..purchases {
            let id = r.u128()?;
            if previous.is_some_and(|p| id < p) {
                return Err(CreditSnapshotError::NotCanonical(
                    "purchases not sorted by id",
                ));
            }
            previous = Some(id);
            let purchase = Purchase {
                line: r.u32()?,
                merchant_account_id: r.u128()?,
                captured: r.u64()?,
                refunded: r.u64()?,
                captured_on: date(&mut r)?,
                plan: r.u32()?,
            };
            if purchase.line as usize >= lines || purchase.refunded > purchase.captured {
                return Err(CreditSnapshotError::Invalid("purchase record"));
            }
            if purchase.plan != NO_PLAN {
                purchase_plans.push(purchase.plan);
            }
            if credit.purchases.insert(id, purchase).is_some() {
                return Err(CreditSnapshotError::Invalid("duplicate purchase"));
            }
        }
        let plans = count(&mut r, PLAN_SIZE)?;
        for index in 0..plans {
            let plan = get_plan(&mut r, lines)?;
            let index = u32::try_from(index).expect("u32 count");
            if credit.plan_index.insert(plan.id, index).is_some() {
                return Err(CreditSnapshotError::Invalid("duplicate plan"));
            }
            if plan.status == PlanStatus::Active {
                credit.line_plans.entry(plan.line).or_default().push(index);
            }
            credit.plans.push(plan);
        }
        if purchase_plans.iter().any(|&p| p as usize >= plans) {
            return Err(CreditSnapshotError::Invalid("purchase of an unknown plan"));
        }
        for _ in 0..programs {
            let platform = get_share(&mut r)?;
            let n = count(&mut r, 74)?;
            if n > FUNDERS_MAX {
                return Err(CreditSnapshotError::Invalid("too many funders"));
            }
            let mut funders = Vec::with_capacity(n);
            for _ in 0..n {
                funders.push(Funder {
                    account_id: r.u128()?,
                    share_bps: r.u16()?,
                    share: get_share(&mut r)?,
                    unsettled_drawn: r.u64()?,
                    unsettled_repaid: r.u64()?,
                    unsettled_lost: r.u64()?,
                });
            }
            credit.funding.push(Funding { platform, funders });
        }
        credit.check_records()?;
        Ok((credit, r.rest()))
    }
}
