//! The invariants between credit records, checked without panicking: what `Credit::check_lines`
//! asserts after every test step and simulator batch, and what a decoded snapshot must satisfy
//! before anything runs on it.
//!
//! Two halves. [`Credit::check_records`] needs only the credit state: a program's waterfall
//! names every component and a program offering coins has a coin rate (a divisor), every
//! line's components and principal fit in `u64` (what `Owed::total`, `Line::principal` and
//! `Line::debt` add unchecked), and so do its limit and temporary grant, a line's cycle has
//! billed no installments (only a statement bills them, and it starts a new cycle), a credit
//! balance never sits beside a debt, each borrower exposure is the sum of its lines'
//! exposures, a line's installment principal is the sum of its plans' remaining principal (an
//! active plan has a period left to bill and principal left; an ended one none), and each
//! program's funding holds exactly its lines' principal, with funder shares a new drawdown can
//! be split by, and each participant's counters bounded by what it drew (its outstanding,
//! repaid and lost add up to it, and what is not yet settled is part of each): the bounds that
//! let the state machine add to them unchecked.
//! [`Credit::check_ledger`] compares each line with its ledger account: the account exists and
//! its net debit balance equals owed + unbilled + installment − credit balance.
//!
//! Every sum here is computed in `u128` (or checked), so the checks themselves cannot overflow
//! on any decoded values. A failure is `CreditSnapshotError::Inconsistent`, naming the broken
//! invariant and the line, program, plan or borrower key.

use ledger::Ledger;
use stdx::IdMap;

use crate::funding::Share;
use crate::plans::PlanStatus;
use crate::snapshot::CreditSnapshotError;
use crate::state::{Credit, Line, LineStatus, waterfall_is_permutation};

fn inconsistent(what: &'static str, id: u128) -> CreditSnapshotError {
    CreditSnapshotError::Inconsistent { what, id }
}

/// Owed + unbilled + installment of a line, if it fits in `u64` (the components, their total,
/// and the principal are then all in range for the unchecked sums of `Owed` and `Line`).
fn line_total(line: &Line) -> Option<u64> {
    let owed = &line.owed;
    [
        owed.fee,
        owed.interest,
        owed.principal,
        line.unbilled,
        line.installment,
    ]
    .into_iter()
    .try_fold(owed.penalty, u64::checked_add)
}

/// A participant's outstanding, repaid and lost principal add up to what it drew (in `u128`, so
/// any decoded values are safe to add).
fn share_bounded(share: &Share) -> bool {
    u128::from(share.outstanding) + u128::from(share.repaid) + u128::from(share.lost)
        == u128::from(share.drawn)
}

impl Credit {
    /// Checks every invariant between the records of the credit state (see the module docs).
    /// Run by `Credit::decode_snapshot` on what it decoded, and by `check_lines`.
    pub fn check_records(&self) -> Result<(), CreditSnapshotError> {
        for program in &self.programs {
            // Terms `create_program` refuses that commands rely on: `allocate` pays every
            // component (`waterfall_invalid`), `redeem_coins` divides by the coin rate
            // (`coin_terms_invalid`).
            if !waterfall_is_permutation(&program.waterfall) {
                return Err(inconsistent(
                    "program waterfall not a permutation",
                    program.id,
                ));
            }
            if program.coin_account_id != 0 && program.coins_per_yuan == 0 {
                return Err(inconsistent("program offers coins at no rate", program.id));
            }
        }
        let mut principal = vec![0u128; self.programs.len()];
        let mut installment = vec![0u128; self.lines.len()];
        for line in &self.lines {
            if line_total(line).is_none() {
                return Err(inconsistent("line balance overflows u64", line.id));
            }
            if line.limit.checked_add(line.temporary.amount).is_none() {
                return Err(inconsistent(
                    "line limit and temporary grant overflow u64",
                    line.id,
                ));
            }
            if line.cycle.installments != 0 {
                return Err(inconsistent(
                    "line cycle with installments billed before its statement",
                    line.id,
                ));
            }
            if line.credit_balance != 0 && (line.owed.total() != 0 || line.unbilled != 0) {
                return Err(inconsistent("line credit balance beside a debt", line.id));
            }
            // Overdue ends when the past due and the penalties are paid (`settle_overdue`), and
            // a write-off then needs a debt to write off.
            if line.status != LineStatus::WrittenOff {
                // What is past due is part of what is owed (each payment lowers both by what
                // it pays of them); so a debt outlives being overdue.
                if line.past_due > line.owed.total() {
                    return Err(inconsistent("line past due beyond what it owes", line.id));
                }
                if line.overdue() && line.owed.total() == 0 {
                    return Err(inconsistent("line overdue without a debt", line.id));
                }
            }
            let Some(program) = principal.get_mut(line.program as usize) else {
                return Err(inconsistent("line of an unknown program", line.id));
            };
            *program += u128::from(line.principal());
        }
        self.check_exposures()?;
        for (index, plan) in self.plans.iter().enumerate() {
            let listed = u32::try_from(index).is_ok_and(|i| {
                self.line_plans
                    .get(&plan.line)
                    .is_some_and(|active| active.contains(&i))
            });
            let active = plan.status == PlanStatus::Active;
            if listed != active {
                return Err(inconsistent("plan listed as active iff active", plan.id));
            }
            if plan.periods == 0 || plan.billed > plan.periods || plan.remaining > plan.principal {
                return Err(inconsistent("plan periods or principal", plan.id));
            }
            if active && (plan.billed == plan.periods || plan.remaining == 0) {
                return Err(inconsistent(
                    "active plan with nothing left to bill",
                    plan.id,
                ));
            }
            if !active && plan.remaining != 0 {
                return Err(inconsistent("ended plan with principal left", plan.id));
            }
            let Some(sum) = installment.get_mut(plan.line as usize) else {
                return Err(inconsistent("plan of an unknown line", plan.id));
            };
            *sum += u128::from(plan.remaining);
        }
        for (line, sum) in self.lines.iter().zip(installment) {
            if u128::from(line.installment) != sum {
                return Err(inconsistent(
                    "line installment principal != its plans' remaining principal",
                    line.id,
                ));
            }
        }
        if self.funding.len() != self.programs.len() {
            return Err(inconsistent("funding records != programs", 0));
        }
        for ((program, funding), lines_principal) in
            self.programs.iter().zip(&self.funding).zip(principal)
        {
            let mut held = u128::from(funding.platform.outstanding);
            let mut shares = 0u32;
            for (i, funder) in funding.funders.iter().enumerate() {
                held += u128::from(funder.share.outstanding);
                shares += u32::from(funder.share_bps);
                if funder.share_bps == 0
                    || funding.funders[..i]
                        .iter()
                        .any(|f| f.account_id == funder.account_id)
                {
                    return Err(inconsistent(
                        "funder share zero or funder twice",
                        program.id,
                    ));
                }
            }
            if !funding.funders.is_empty()
                && (program.funding_account_id == 0
                    || shares + u32::from(program.platform_min_share_bps) > 10_000)
            {
                return Err(inconsistent(
                    "funder shares leave the platform below its minimum",
                    program.id,
                ));
            }
            if held != lines_principal {
                return Err(inconsistent(
                    "program funding outstanding != its lines' principal",
                    program.id,
                ));
            }
            let bounded = share_bounded(&funding.platform)
                && funding.funders.iter().all(|f| {
                    share_bounded(&f.share)
                        && f.unsettled_drawn <= f.share.drawn
                        && f.unsettled_repaid <= f.share.repaid
                        && f.unsettled_lost <= f.share.lost
                });
            if !bounded {
                return Err(inconsistent(
                    "funding participant's counters not bounded by what it drew",
                    program.id,
                ));
            }
        }
        Ok(())
    }

    /// Each borrower's exposure in a program is the sum of its lines' exposures there, and
    /// every borrower has a line.
    fn check_exposures(&self) -> Result<(), CreditSnapshotError> {
        let summed = self.summed_exposures()?;
        if self.borrowers.len() != summed.len() {
            return Err(inconsistent("borrower maps != programs", 0));
        }
        for (held, summed) in self.borrowers.iter().zip(&summed) {
            if let Some((&borrower, _)) = summed
                .iter()
                .find(|&(borrower, exposure)| held.get(borrower) != Some(exposure))
            {
                return Err(inconsistent(
                    "borrower exposure != the sum of its lines' exposures",
                    borrower,
                ));
            }
            if held.len() != summed.len() {
                return Err(inconsistent("borrower exposure without a line", 0));
            }
        }
        Ok(())
    }

    /// Rebuilds the borrower exposures from the lines (a decoded snapshot carries none).
    pub(crate) fn rebuild_borrowers(&mut self) -> Result<(), CreditSnapshotError> {
        self.borrowers = self.summed_exposures()?;
        Ok(())
    }

    /// Each program's borrowers' exposures, summed over the lines; a sum past `u64` is an
    /// inconsistent state.
    fn summed_exposures(&self) -> Result<Vec<IdMap<u128, u64>>, CreditSnapshotError> {
        let mut summed: Vec<IdMap<u128, u64>> =
            self.programs.iter().map(|_| self.borrower_map()).collect();
        for line in &self.lines {
            let map = summed
                .get_mut(line.program as usize)
                .ok_or(inconsistent("line of an unknown program", line.id))?;
            let exposure = map.entry(line.borrower_id).or_insert(0);
            *exposure = exposure.checked_add(line.exposure()).ok_or(inconsistent(
                "borrower exposure overflows",
                line.borrower_id,
            ))?;
        }
        Ok(summed)
    }

    /// Checks every line against its ledger account: it exists, and its net debit balance is
    /// owed + unbilled + installment − credit balance. Run once the ledger is restored from a
    /// snapshot (`engine::StateRestore::finish`), and by `check_lines`.
    pub fn check_ledger(&self, ledger: &Ledger) -> Result<(), CreditSnapshotError> {
        for line in &self.lines {
            let Some((account, _)) = ledger.lookup_account(line.id) else {
                return Err(inconsistent("line without a ledger account", line.id));
            };
            let total = line_total(line)
                .ok_or_else(|| inconsistent("line balance overflows u64", line.id))?;
            let expected = i128::from(total) - i128::from(line.credit_balance);
            let balance = i128::try_from(account.debits_posted)
                .ok()
                .zip(i128::try_from(account.credits_posted).ok())
                .map(|(debits, credits)| debits - credits);
            if balance != Some(expected) {
                return Err(inconsistent(
                    "line components disagree with its ledger account",
                    line.id,
                ));
            }
        }
        Ok(())
    }

    /// Both checks: the whole credit state is consistent with itself and with `ledger`.
    pub fn check_consistency(&self, ledger: &Ledger) -> Result<(), CreditSnapshotError> {
        self.check_records()?;
        self.check_ledger(ledger)
    }
}
