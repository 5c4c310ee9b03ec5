//! Installment plans: converting a purchase or a bill into 3-24 monthly periods, billing a
//! period on each statement, early settlement, refunds of a converted purchase.
//!
//! A plan moves principal out of the line's unbilled purchases (or out of the bill) into
//! `Line::installment`; nothing moves in the ledger, the money stays owed on the line account.
//! Each statement bills one period: its principal moves into what is owed, and its fee is posted
//! (line to the fee income account, one transfer per line and statement). Principal and fee are
//! split with the remainder on the last period, so the sums are exact (`math::quote_with_fee`).
//!
//! A sponsored plan (a merchant's or the platform's interest-free offer) posts its whole fee at
//! conversion from the sponsor's budget account, which must be bounded
//! (`debits_must_not_exceed_credits`): the ledger refuses the transfer that would overspend it,
//! and the conversion with it. The borrower's plan then has no fee and an APR of 0.
//!
//! Refund of a converted purchase: it takes back the plan's principal not yet billed, from the
//! last period backwards; a plan left with no principal ends and its fees not yet billed are
//! waived. The rest of the refund pays what is billed, like any refund.

use ledger::{Ledger, Transfer};

use crate::command::{Command, Program};
use crate::date::Date;
use crate::math::{self, PERIODS_OFFERED, QuoteError};
use crate::result::CreditResult;
use crate::state::{
    Clock, Credit, Line, LineStatus, NO_PLAN, Posting, counterparty_refusal, fits, posting,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PlanStatus {
    Active = 0,
    /// Every period billed.
    Completed = 1,
    /// Paid off early.
    Settled = 2,
    /// Its purchase was refunded down to nothing.
    Refunded = 3,
    /// Its line was written off.
    WrittenOff = 4,
}

impl PlanStatus {
    pub(crate) fn from_u8(v: u8) -> Option<PlanStatus> {
        Some(match v {
            0 => PlanStatus::Active,
            1 => PlanStatus::Completed,
            2 => PlanStatus::Settled,
            3 => PlanStatus::Refunded,
            4 => PlanStatus::WrittenOff,
            _ => return None,
        })
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            PlanStatus::Active => "active",
            PlanStatus::Completed => "completed",
            PlanStatus::Settled => "settled",
            PlanStatus::Refunded => "refunded",
            PlanStatus::WrittenOff => "written_off",
        }
    }
}

/// An installment plan on a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub id: u128,
    /// Index of its line.
    pub line: u32,
    /// The converted purchase; 0 for a bill.
    pub purchase_id: u128,
    /// 0: the borrower pays the fee.
    pub sponsor_account_id: u128,
    pub periods: u8,
    /// Periods billed so far.
    pub billed: u8,
    pub status: PlanStatus,
    pub created: Date,
    pub principal: u64,
    /// The fee the borrower pays over the plan (0 when sponsored).
    pub fee: u64,
    /// The fee the sponsor paid at conversion.
    pub sponsor_fee: u64,
    /// Principal not yet billed.
    pub remaining: u64,
    pub fee_billed: u64,
    /// The fee paid at an early settlement.
    pub settlement_fee: u64,
    /// The borrower's APR at conversion (nominal, `math::Rate`).
    pub apr_nominal: u64,
}

impl Plan {
    /// Period `k`'s share of `total`: equal parts, the remainder on the last. No overflow:
    /// `periods` ≥ 1 and `k` < `periods` (`check_records`), and `base × (n − 1)` ≤ `total`.
    fn part(total: u64, periods: u8, k: u8) -> u64 {
        let n = u64::from(periods);
        let base = total / n;
        if k + 1 == periods {
            total - base * (n - 1)
        } else {
            base
        }
    }
}

impl Credit {
    #[must_use]
    pub fn plan(&self, id: u128) -> Option<&Plan> {
        self.plan_index.get(&id).map(|&i| &self.plans[i as usize])
    }

    /// The plans of a line, in creation order (ended ones too).
    #[must_use]
    pub fn plans_of(&self, line_id: u128) -> Vec<Plan> {
        let Some(index) = self.find_line(line_id) else {
            return Vec::new();
        };
        self.plans
            .iter()
            .filter(|p| p.line == index)
            .copied()
            .collect()
    }

    pub(crate) fn convert_installments(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
        command: &Command,
    ) -> CreditResult {
        use CreditResult as R;
        let Command::ConvertInstallments {
            id,
            line_id,
            purchase_id,
            periods,
            pricing,
            sponsor_account_id,
        } = *command
        else {
            unreachable!("execute passes convert_installments commands only")
        };
        let (index, line, program) = match self.money_line(id, line_id) {
            Ok(found) => found,
            Err(code) => return code,
        };
        if let Some(plan) = self.plan(id) {
            let same = plan.line == index
                && plan.purchase_id == purchase_id
                && plan.periods == periods
                && plan.sponsor_account_id == sponsor_account_id;
            return if same {
                R::Exists
            } else {
                R::ExistsWithDifferentFields
            };
        }
        if ledger.find_transfer(id).is_some() {
            // The id is a transfer's that is not this plan's.
            return R::ExistsWithDifferentFields;
        }
        if let Some(code) = status_refusal(&line) {
            return code;
        }
        if !PERIODS_OFFERED.contains(&u32::from(periods)) {
            return R::PeriodsNotOffered;
        }
        let amount = if purchase_id == 0 {
            match self.bill_convertible(&line) {
                Ok(amount) => amount,
                Err(code) => return code,
            }
        } else {
            match self.purchase_convertible(ledger, index, &line, purchase_id) {
                Ok(amount) => amount,
                Err(code) => return code,
            }
        };
        let fee = match math::installment_fee(amount, u32::from(periods), pricing, program.rounding)
        {
            Ok(fee) => fee,
            Err(QuoteError::FeeOverflows) => return R::OverflowsBalance,
            Err(_) => return R::PeriodsNotOffered,
        };
        let (fee, sponsor_fee) = if sponsor_account_id == 0 {
            (fee, 0)
        } else {
            (0, fee)
        };
        let Ok(quote) = math::quote_with_fee(amount, u32::from(periods), fee) else {
            return R::PeriodsNotOffered;
        };
        if quote.apr.nominal > program.apr_cap {
            return R::AprAboveCap;
        }
        if sponsor_account_id != 0 {
            let Some((sponsor, _)) = ledger.lookup_account(sponsor_account_id) else {
                return R::AccountNotFound;
            };
            if sponsor.ledger != program.ledger {
                return R::AccountLedgerMismatch;
            }
            if !sponsor.flags.debits_must_not_exceed_credits() {
                return R::SponsorAccountUnbounded;
            }
            if sponsor_fee > 0 {
                let transfer = Transfer {
                    debit_account_id: sponsor_account_id,
                    credit_account_id: program.fee_account_id,
                    amount: u128::from(sponsor_fee),
                    user_data_128: line_id,
                    ..posting(&program, id, Posting::InstallmentFee)
                };
                match self.post(ledger, clock, &transfer) {
                    R::Ok => {}
                    R::InsufficientFunds => return R::SponsorBudgetExceeded,
                    code => return code,
                }
            }
        }
        let plan_index = u32::try_from(self.plans.len()).expect("plan count fits u32");
        self.plans.push(Plan {
            id,
            line: index,
            purchase_id,
            sponsor_account_id,
            periods,
            billed: 0,
            status: PlanStatus::Active,
            created: self.business_date,
            principal: amount,
            fee,
            sponsor_fee,
            remaining: amount,
            fee_billed: 0,
            settlement_fee: 0,
            apr_nominal: quote.apr.nominal.0,
        });
        self.plan_index.insert(id, plan_index);
        self.line_plans.entry(index).or_default().push(plan_index);
        let line = &mut self.lines[index as usize];
        if purchase_id == 0 {
            line.owed.principal -= amount;
            // What is left of the bill is due in full; the minimum never exceeds it. Saturating
            // is exact here: a sum past `u64::MAX` is above any minimum, as `u64::MAX` is.
            line.statement.minimum_payment = line
                .statement
                .minimum_payment
                .min(line.paid_since_statement.saturating_add(line.owed.total()));
        } else {
            line.unbilled -= amount;
            self.purchases
                .get_mut(&purchase_id)
                .expect("purchase exists")
                .plan = plan_index;
        }
        // No overflow: the plan's principal moved out of owed or unbilled principal, within
        // `Line::debt`.
        self.lines[index as usize].installment += amount;
        R::Ok
    }

    /// The principal of the current bill, if it may be converted now (after the statement,
    /// by the due day).
    fn bill_convertible(&self, line: &Line) -> Result<u64, CreditResult> {
        let s = &line.statement;
        if s.date == Date(0) || self.business_date <= s.date || self.business_date > s.due_date {
            return Err(CreditResult::OutsideBillConversionWindow);
        }
        if line.owed.principal == 0 {
            return Err(CreditResult::NothingToConvert);
        }
        Ok(line.owed.principal)
    }

    /// What is left of a captured purchase not yet billed, if it may be converted.
    fn purchase_convertible(
        &self,
        ledger: &Ledger,
        index: u32,
        line: &Line,
        purchase_id: u128,
    ) -> Result<u64, CreditResult> {
        use CreditResult as R;
        let Some(purchase) = self.purchases.get(&purchase_id) else {
            return Err(if ledger.pending_status(purchase_id).is_some() {
                R::PurchaseNotCaptured
            } else {
                R::PurchaseNotFound
            });
        };
        if purchase.line != index {
            return Err(R::PurchaseLineMismatch);
        }
        if purchase.plan != NO_PLAN {
            return Err(R::PurchaseAlreadyConverted);
        }
        if line.statement.date != Date(0) && purchase.captured_on <= line.statement.date {
            return Err(R::PurchaseAlreadyBilled);
        }
        let amount = purchase.captured - purchase.refunded;
        if amount == 0 {
            return Err(R::NothingToConvert);
        }
        // A capture paid partly from a credit balance left less than its amount unbilled.
        if amount > line.unbilled {
            return Err(R::PurchaseAlreadyBilled);
        }
        Ok(amount)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn settle_installments(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
        id: u128,
        line_id: u128,
        plan_id: u128,
        source_account_id: u128,
        amount: u64,
    ) -> CreditResult {
        use CreditResult as R;
        let (index, line, program) = match self.money_line(id, line_id) {
            Ok(found) => found,
            Err(code) => return code,
        };
        let plan = self.plan(plan_id).copied();
        if let Some(existing) = ledger.find_transfer(id) {
            let same = existing.debit_account_id == source_account_id
                && existing.credit_account_id == line_id
                && existing.user_data_32 == Posting::Settlement as u32
                && existing.user_data_128 == plan_id
                && plan.is_some_and(|p| {
                    amount == 0
                        || u128::from(amount) == existing.amount + u128::from(p.settlement_fee)
                });
            return if same {
                R::Exists
            } else {
                R::ExistsWithDifferentFields
            };
        }
        let Some(plan) = plan else {
            return R::PlanNotFound;
        };
        if plan.line != index {
            return R::PlanLineMismatch;
        }
        match line.status {
            LineStatus::Closed => return R::LineClosed,
            LineStatus::WrittenOff => return R::LineWrittenOff,
            LineStatus::Active | LineStatus::Frozen => {}
        }
        if plan.status != PlanStatus::Active {
            return R::PlanNotActive;
        }
        let fee_due = self.settlement_fee(&plan, &line, &program);
        // `None`: a total no `u64` amount can name (refused below, after the other checks).
        let total = plan.remaining.checked_add(fee_due);
        if amount != 0 && Some(amount) != total {
            return R::SettlementAmountMismatch;
        }
        if let Some(code) = counterparty_refusal(ledger, source_account_id) {
            return code;
        }
        let Some(total) = total
            .filter(|&total| fits(&[(line.cycle.repayments, total), (line.cycle.fees, fee_due)]))
        else {
            return R::OverflowsLineCounters;
        };
        let principal = Transfer {
            debit_account_id: source_account_id,
            credit_account_id: line_id,
            amount: u128::from(plan.remaining),
            user_data_128: plan_id,
            ..posting(&program, id, Posting::Settlement)
        };
        let result = if fee_due == 0 {
            self.post(ledger, clock, &principal)
        } else {
            let fee = Transfer {
                debit_account_id: source_account_id,
                credit_account_id: program.fee_account_id,
                amount: u128::from(fee_due),
                user_data_128: plan_id,
                ..posting(&program, self.next_generated_id(), Posting::SettlementFee)
            };
            let mut chain = [principal, fee];
            match self.post_chain(ledger, clock, &mut chain) {
                Ok(()) => R::Ok,
                Err((_, code)) => code,
            }
        };
        if result != R::Ok {
            return result;
        }
        let plan_index = self.plan_index[&plan_id];
        let p = &mut self.plans[plan_index as usize];
        p.status = PlanStatus::Settled;
        p.remaining = 0;
        p.settlement_fee = fee_due;
        self.end_plan(index, plan_index);
        let line = &mut self.lines[index as usize];
        // No underflow: a line's installment is its plans' remaining principal; both additions
        // were checked above.
        line.installment -= plan.remaining;
        line.cycle.repayments += total;
        line.cycle.fees += fee_due;
        R::Ok
    }

    /// The fee the program's rule makes due to settle `plan` today.
    fn settlement_fee(&self, plan: &Plan, line: &Line, program: &Program) -> u64 {
        let Ok(quote) = math::quote_with_fee(plan.principal, u32::from(plan.periods), plan.fee)
        else {
            return 0;
        };
        // The running period: from the last statement (or the conversion) to the next one.
        let start = line.statement.date.max(plan.created);
        let end = start.next_with_day(u32::from(line.statement_day));
        let days_in_period = end.0.saturating_sub(start.0).max(1);
        let days_elapsed = self
            .business_date
            .0
            .saturating_sub(start.0)
            .min(days_in_period);
        math::early_settlement(
            &quote,
            u32::from(plan.billed),
            days_elapsed,
            days_in_period,
            program.early_settlement,
            program.rounding,
        )
        .map_or(0, |s| s.fee_due)
    }

    /// What a refund may take back from a plan: its principal not yet billed while active.
    pub(crate) fn plan_refundable(&self, plan_index: u32) -> u64 {
        let plan = &self.plans[plan_index as usize];
        if plan.status == PlanStatus::Active {
            plan.remaining
        } else {
            0
        }
    }

    /// Takes up to `amount` of a refund out of a plan's principal not yet billed; returns what
    /// it took (`plan_refundable`, at most). A plan left with nothing ends (its fees not yet
    /// billed are waived).
    pub(crate) fn refund_plan(&mut self, plan_index: u32, amount: u64) -> u64 {
        let plan = &mut self.plans[plan_index as usize];
        if plan.status != PlanStatus::Active {
            return 0;
        }
        let taken = amount.min(plan.remaining);
        plan.remaining -= taken;
        let line = plan.line;
        let ended = plan.remaining == 0;
        if ended {
            plan.status = PlanStatus::Refunded;
        }
        self.lines[line as usize].installment -= taken;
        if ended {
            self.end_plan(line, plan_index);
        }
        taken
    }

    /// Bills the next period of every active plan of a line (statement day); posts their fees
    /// as one transfer. Returns the installment principal billed.
    ///
    /// Overflow: the principal billed moves within `Line::debt` (the periods' parts sum to at
    /// most the line's installment). The fees are new debt: if their sum, or the line's debt
    /// or the cycle's fees with them, would pass `u64::MAX` fen, they are not posted, as when
    /// the ledger refuses them (a day-close cannot refuse), and no plan counts them billed.
    pub(crate) fn bill_plans(&mut self, ledger: &mut Ledger, clock: &mut Clock, index: u32) -> u64 {
        // Taken out while billing, put back with the plans still active.
        let Some(mut active) = self.line_plans.remove(&index) else {
            return 0;
        };
        let mut principal = 0u64;
        // `None` once the sum passes `u64::MAX`.
        let mut fee = Some(0u64);
        for &p in &active {
            let plan = &mut self.plans[p as usize];
            let k = plan.billed;
            let part = if k + 1 == plan.periods {
                plan.remaining
            } else {
                Plan::part(plan.principal, plan.periods, k).min(plan.remaining)
            };
            plan.remaining -= part;
            // No overflow: an active plan has a period left (`billed` < `periods`).
            plan.billed += 1;
            principal += part;
            fee = fee.and_then(|sum| sum.checked_add(Plan::part(plan.fee, plan.periods, k)));
            if plan.remaining == 0 {
                plan.status = PlanStatus::Completed;
            }
        }
        let line = &self.lines[index as usize];
        // Zero unless every addition below fits.
        let fee = fee
            .filter(|&fee| fits(&[(line.debt(), fee), (line.cycle.fees, fee)]))
            .unwrap_or(0);
        let fee_posted = fee > 0 && self.charge(ledger, clock, index, Posting::InstallmentFee, fee);
        let line = &mut self.lines[index as usize];
        line.installment -= principal;
        line.owed.principal += principal;
        // Only a statement bills plans, and it starts a new cycle right after: this is the
        // cycle's one addition to its installments.
        debug_assert_eq!(line.cycle.installments, 0);
        line.cycle.installments += principal;
        // A refused charge (only on overflow) is skipped whole: no plan counts its fee billed.
        if fee_posted {
            line.owed.fee += fee;
            line.cycle.fees += fee;
            for &p in &active {
                let plan = &mut self.plans[p as usize];
                // No overflow: a plan's fee parts sum to its fee.
                plan.fee_billed += Plan::part(plan.fee, plan.periods, plan.billed - 1);
            }
        }
        active.retain(|&p| self.plans[p as usize].status == PlanStatus::Active);
        if !active.is_empty() {
            self.line_plans.insert(index, active);
        }
        principal
    }

    /// Ends every active plan of a line.
    pub(crate) fn end_plans(&mut self, index: u32, status: PlanStatus) {
        if let Some(active) = self.line_plans.remove(&index) {
            for p in active {
                let plan = &mut self.plans[p as usize];
                plan.status = status;
                plan.remaining = 0;
            }
        }
    }

    fn end_plan(&mut self, index: u32, plan_index: u32) {
        if let Some(active) = self.line_plans.get_mut(&index) {
            active.retain(|&p| p != plan_index);
            if active.is_empty() {
                self.line_plans.remove(&index);
            }
        }
    }
}

/// Why a line takes no new plan (or other new credit use).
fn status_refusal(line: &Line) -> Option<CreditResult> {
    match line.status {
        LineStatus::Closed => Some(CreditResult::LineClosed),
        LineStatus::WrittenOff => Some(CreditResult::LineWrittenOff),
        LineStatus::Frozen => Some(CreditResult::LineFrozen),
        LineStatus::Active if line.overdue() => Some(CreditResult::LineOverdue),
        LineStatus::Active => None,
    }
}
