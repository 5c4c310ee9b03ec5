//! The auditor's model of installment plans, reward coins and co-funding, written from
//! `docs/credit.md` ("Installments", "Reward coins", "Co-funding"), the precedence the engine
//! checks in (`crates/credit/src/result.rs`) and the documented math: the fee rounded once on
//! the whole plan, principal and fee split with the remainder on the last period, the APR of the
//! borrower's flows (an IRR, computed here in floating point, never near the cap in practice),
//! coins worth `coins × 100 / coins_per_yuan` fen up to `coin_cap_bps` of the statement balance,
//! drawdowns split by share with the platform's part rounded up and the others' by largest
//! remainder, reductions pro rata to what each has outstanding.
//!
//! It shares no code with `credit`: only its record types, the `Posting` and `PlanStatus`
//! enums and its result codes. Where the documentation is silent (the order of refusals, the
//! transfers' user data) it follows the engine.

use credit::math::{EarlySettlement, Pricing, RoundingMode};
use credit::{Command, CreditResult, Date, LineStatus, PlanStatus, Posting, Program};
use ledger::{AccountFlags, Transfer};

use super::Auditor;
use super::credit_model::{Ticks, allocate, apply_rate, from_ledger, posting, settle_overdue};

/// Installment terms offered, in months (`docs/credit.md`).
const PERIODS_OFFERED: [u8; 5] = [3, 6, 9, 12, 24];
/// Most funders besides the platform (`docs/credit.md`, "Co-funding").
const FUNDERS_MAX: usize = 64;
const BPS_WHOLE: u128 = 10_000;

/// An installment plan as the model keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelPlan {
    pub id: u128,
    /// Index of its line.
    pub line: usize,
    pub purchase_id: u128,
    pub sponsor_account_id: u128,
    pub periods: u8,
    pub billed: u8,
    pub status: PlanStatus,
    pub created: Date,
    pub principal: u64,
    pub fee: u64,
    pub sponsor_fee: u64,
    pub remaining: u64,
    pub fee_billed: u64,
    pub settlement_fee: u64,
}

/// One participant's position in a program's principal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelShare {
    pub outstanding: u64,
    pub drawn: u64,
    pub repaid: u64,
    pub lost: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelFunder {
    pub account_id: u128,
    pub share_bps: u16,
    pub share: ModelShare,
    pub unsettled_drawn: u64,
    pub unsettled_repaid: u64,
    pub unsettled_lost: u64,
}

/// A program's co-funding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelFunding {
    pub platform: ModelShare,
    pub funders: Vec<ModelFunder>,
}

impl ModelFunding {
    fn platform_bps(&self) -> u32 {
        10_000
            - self
                .funders
                .iter()
                .map(|f| u32::from(f.share_bps))
                .sum::<u32>()
    }
}

/// Period `k`'s part of `total` over `periods`: equal parts, the remainder on the last.
#[must_use]
pub fn part(total: u64, periods: u8, k: u8) -> u64 {
    let n = u64::from(periods);
    if k + 1 == periods {
        total - total / n * (n - 1)
    } else {
        total / n
    }
}

/// The fee `pricing` implies, rounded once on the whole plan (`None`: past `u64::MAX`).
fn installment_fee(principal: u64, periods: u8, pricing: Pricing, mode: RoundingMode) -> u64 {
    let (base, rate) = match pricing {
        Pricing::TotalRate(rate) => (u128::from(principal), rate),
        Pricing::MonthlyRate(rate) => (u128::from(principal) * u128::from(periods), rate),
    };
    // The workload's amounts are small: the product fits `u64` fen many times over.
    apply_rate(
        u64::try_from(base).expect("workload amounts are small"),
        rate,
        mode,
    )
}

/// The nominal APR (12 × the monthly IRR) of a plan paying out `principal` and collecting each
/// period's principal and fee at the end of its month, in `Rate` units (1e10 = 100%), rounded.
#[must_use]
#[expect(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "an approximation of the engine's exact IRR, far from the cap's boundary"
)]
pub fn nominal_apr(principal: u64, periods: u8, fee: u64) -> u64 {
    let payments: Vec<f64> = (0..periods)
        .map(|k| (part(principal, periods, k) + part(fee, periods, k)) as f64)
        .collect();
    let target = principal as f64;
    if payments.iter().sum::<f64>() <= target {
        return 0;
    }
    // Present value at discount factor v: increasing in v; find v with value = principal.
    let value = |v: f64| {
        payments
            .iter()
            .rev()
            .fold(0.0, |acc, payment| (acc + payment) * v)
    };
    let (mut low, mut high) = (0.0f64, 1.0f64);
    for _ in 0..200 {
        let mid = f64::midpoint(low, high);
        if value(mid) < target {
            low = mid;
        } else {
            high = mid;
        }
    }
    let monthly = 1.0 / high - 1.0;
    let units = (12.0 * monthly * 1e10).round();
    if units >= 1.8e19 {
        u64::MAX
    } else {
        units as u64
    }
}

/// Parts of `amount` by weight, each rounded down, the fen left over one each to the largest
/// fractions, ties to the lower index; all to the first when the weights are all zero.
fn pro_rata(amount: u64, weights: &[u64]) -> Vec<u64> {
    let whole: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    let mut parts = vec![0u64; weights.len()];
    if whole == 0 {
        parts[0] = amount;
        return parts;
    }
    let mut fractions = Vec::new();
    for (i, &w) in weights.iter().enumerate() {
        let exact = u128::from(amount) * u128::from(w);
        parts[i] = u64::try_from(exact / whole).expect("at most the amount");
        if exact % whole > 0 {
            fractions.push((exact % whole, i));
        }
    }
    let left = amount - parts.iter().sum::<u64>();
    fractions.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in fractions
        .iter()
        .take(usize::try_from(left).expect("few fen"))
    {
        parts[i] += 1;
    }
    parts
}

/// A drawdown by share: the platform (first) rounded up, the others rounded down with the fen
/// left over by largest remainder, ties to the lower index.
fn by_shares(amount: u64, shares_bps: &[u32]) -> Vec<u64> {
    let mut parts = Vec::new();
    let mut fractions = Vec::new();
    for (i, &share) in shares_bps.iter().enumerate() {
        let exact = u128::from(amount) * u128::from(share);
        let (floor, fraction) = (exact / BPS_WHOLE, exact % BPS_WHOLE);
        let floor = u64::try_from(floor).expect("at most the amount");
        if i == 0 {
            parts.push(floor + u64::from(fraction > 0));
        } else {
            if fraction > 0 {
                fractions.push((fraction, i));
            }
            parts.push(floor);
        }
    }
    let left = amount.saturating_sub(parts.iter().sum::<u64>());
    fractions.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in fractions
        .iter()
        .take(usize::try_from(left).expect("few fen"))
    {
        parts[i] += 1;
    }
    parts
}

impl Auditor {
    /// The coin and co-funding terms of a new program, checked after its accounts.
    pub(super) fn program_terms_refusal(&self, p: &Program) -> Option<CreditResult> {
        use CreditResult as R;
        let ledger_of = |id: u128| self.accounts.get(&id).map(|a| a.account.ledger);
        if p.coin_account_id != 0 {
            if p.coins_per_yuan == 0 || p.coin_cap_bps > 10_000 {
                return Some(R::CoinTermsInvalid);
            }
            if ledger_of(p.coin_account_id).is_none() {
                return Some(R::ProgramAccountNotFound);
            }
            match ledger_of(p.coin_funding_account_id) {
                None => return Some(R::ProgramAccountNotFound),
                Some(ledger) if ledger != p.ledger => return Some(R::ProgramAccountLedgerMismatch),
                Some(_) => {}
            }
        }
        if p.platform_min_share_bps > 10_000 {
            return Some(R::PlatformMinShareInvalid);
        }
        if p.funding_account_id != 0 {
            match ledger_of(p.funding_account_id) {
                None => return Some(R::ProgramAccountNotFound),
                Some(ledger) if ledger != p.ledger => return Some(R::ProgramAccountLedgerMismatch),
                Some(_) => {}
            }
        }
        None
    }

    /// Principal a line owes in every form: billed, unbilled, on plans.
    pub(super) fn principal(&self, index: usize) -> u64 {
        let line = &self.credit.lines[index];
        line.owed.principal + line.unbilled + line.installment
    }

    /// The line and its principal, before a command that may change it.
    pub(super) fn tracked(&self, line_id: u128) -> Option<(usize, u64)> {
        let &index = self.credit.line_index.get(&line_id)?;
        Some((index, self.principal(index)))
    }

    /// Co-funding follows a change of the line's principal: a drawdown or a repayment.
    pub(super) fn follow(&mut self, tracked: Option<(usize, u64)>) {
        let Some((index, before)) = tracked else {
            return;
        };
        let after = self.principal(index);
        let program = self.credit.lines[index].program;
        if after > before {
            self.draw(program, after - before);
        } else if before > after {
            self.reduce(program, before - after, false);
        }
    }

    /// A written-off line's principal, lost by all pro rata.
    pub(super) fn lose(&mut self, program: usize, amount: u64) {
        if amount > 0 {
            self.reduce(program, amount, true);
        }
    }

    fn draw(&mut self, program: usize, amount: u64) {
        let funding = &mut self.credit.funding[program];
        let mut shares = vec![funding.platform_bps()];
        shares.extend(funding.funders.iter().map(|f| u32::from(f.share_bps)));
        let parts = by_shares(amount, &shares);
        for (f, &part) in funding.funders.iter_mut().zip(&parts[1..]) {
            f.share.outstanding += part;
            f.share.drawn += part;
            f.unsettled_drawn += part;
        }
        funding.platform.outstanding += parts[0];
        funding.platform.drawn += parts[0];
    }

    fn reduce(&mut self, program: usize, amount: u64, lost: bool) {
        let funding = &mut self.credit.funding[program];
        let mut weights = vec![funding.platform.outstanding];
        weights.extend(funding.funders.iter().map(|f| f.share.outstanding));
        let parts = pro_rata(amount, &weights);
        for (f, &part) in funding.funders.iter_mut().zip(&parts[1..]) {
            f.share.outstanding -= part;
            if lost {
                f.share.lost += part;
                f.unsettled_lost += part;
            } else {
                f.share.repaid += part;
                f.unsettled_repaid += part;
            }
        }
        let platform = &mut funding.platform;
        platform.outstanding -= parts[0];
        if lost {
            platform.lost += parts[0];
        } else {
            platform.repaid += parts[0];
        }
    }

    /// Posts `chain` as one linked chain, one tick per transfer: which transfer refused, and
    /// its code.
    fn post_chain(
        &mut self,
        ticks: &mut Ticks,
        chain: &[Transfer],
    ) -> Result<(), (usize, CreditResult)> {
        let first = ticks.next();
        for _ in 1..chain.len() {
            ticks.next();
        }
        self.post_linked(first, chain)
            .map_err(|(i, code)| (i, code.map_or(CreditResult::LedgerRejected, from_ledger)))
    }

    pub(super) fn convert_installments(
        &mut self,
        ticks: &mut Ticks,
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
            unreachable!("convert_installments")
        };
        let (index, line, program) = match self.money_line(id, line_id) {
            Ok(found) => found,
            Err(code) => return code,
        };
        if let Some(plan) = self.credit.plan(id) {
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
        if self.transfers.contains_key(&id) {
            return R::ExistsWithDifferentFields;
        }
        match line.status {
            LineStatus::Closed => return R::LineClosed,
            LineStatus::WrittenOff => return R::LineWrittenOff,
            LineStatus::Frozen => return R::LineFrozen,
            LineStatus::Active if line.overdue_since != Date(0) => return R::LineOverdue,
            LineStatus::Active => {}
        }
        if !PERIODS_OFFERED.contains(&periods) {
            return R::PeriodsNotOffered;
        }
        let today = self.credit.business_date;
        let amount = if purchase_id == 0 {
            // The bill: between its statement and its due date.
            let s = &line.statement;
            if s.date == Date(0) || today <= s.date || today > s.due_date {
                return R::OutsideBillConversionWindow;
            }
            if line.owed.principal == 0 {
                return R::NothingToConvert;
            }
            line.owed.principal
        } else {
            let Some(purchase) = self.credit.purchases.get(&purchase_id) else {
                return if self.pending.contains_key(&purchase_id) {
                    R::PurchaseNotCaptured
                } else {
                    R::PurchaseNotFound
                };
            };
            if purchase.line != index {
                return R::PurchaseLineMismatch;
            }
            if purchase.plan.is_some() {
                return R::PurchaseAlreadyConverted;
            }
            if line.statement.date != Date(0) && purchase.captured_on <= line.statement.date {
                return R::PurchaseAlreadyBilled;
            }
            let amount = purchase.captured - purchase.refunded;
            if amount == 0 {
                return R::NothingToConvert;
            }
            // A capture paid partly from a credit balance left less than its amount unbilled.
            if amount > line.unbilled {
                return R::PurchaseAlreadyBilled;
            }
            amount
        };
        let fee = installment_fee(amount, periods, pricing, program.rounding);
        let (fee, sponsor_fee) = if sponsor_account_id == 0 {
            (fee, 0)
        } else {
            (0, fee)
        };
        if nominal_apr(amount, periods, fee) > program.apr_cap.0 {
            return R::AprAboveCap;
        }
        if sponsor_account_id != 0 {
            let Some(sponsor) = self.accounts.get(&sponsor_account_id).map(|a| a.account) else {
                return R::AccountNotFound;
            };
            if sponsor.ledger != program.ledger {
                return R::AccountLedgerMismatch;
            }
            if sponsor.flags.0 & AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS == 0 {
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
                match self.post(ticks, transfer) {
                    R::Ok => {}
                    R::InsufficientFunds => return R::SponsorBudgetExceeded,
                    code => return code,
                }
            }
        }
        let plan = self.credit.plans.len();
        self.credit.plans.push(ModelPlan {
            id,
            line: index,
            purchase_id,
            sponsor_account_id,
            periods,
            billed: 0,
            status: PlanStatus::Active,
            created: today,
            principal: amount,
            fee,
            sponsor_fee,
            remaining: amount,
            fee_billed: 0,
            settlement_fee: 0,
        });
        let line = &mut self.credit.lines[index];
        if purchase_id == 0 {
            line.owed.principal -= amount;
            // What is left of the bill is due in full; the minimum never exceeds it.
            line.statement.minimum_payment = line
                .statement
                .minimum_payment
                .min(line.paid_since_statement + line.owed.total());
        } else {
            line.unbilled -= amount;
            self.credit
                .purchases
                .get_mut(&purchase_id)
                .expect("found above")
                .plan = Some(plan);
        }
        self.credit.lines[index].installment += amount;
        R::Ok
    }

    /// What settling plan `plan_id` costs today (principal not yet billed and the fee due), for
    /// the workload.
    #[must_use]
    pub fn settlement_total(&self, plan_id: u128) -> Option<u64> {
        let plan = self.credit.plan(plan_id)?;
        let program = self.credit.programs[self.credit.lines[plan.line].program];
        (plan.status == PlanStatus::Active)
            .then(|| plan.remaining + self.settlement_fee(plan, &program))
    }

    /// The fee settling `plan` today costs under the program's rule.
    fn settlement_fee(&self, plan: &ModelPlan, program: &Program) -> u64 {
        let fee_of = |k: u8| part(plan.fee, plan.periods, k);
        match program.early_settlement {
            EarlySettlement::ChargeAllRemaining => (plan.billed..plan.periods).map(fee_of).sum(),
            EarlySettlement::WaiveRemaining => fee_of(plan.billed),
            EarlySettlement::ProRata => {
                let line = &self.credit.lines[plan.line];
                let start = line.statement.date.max(plan.created);
                let end = start.next_with_day(u32::from(line.statement_day));
                let days = end.0.saturating_sub(start.0).max(1);
                let elapsed = self
                    .credit
                    .business_date
                    .0
                    .saturating_sub(start.0)
                    .min(days);
                // round(fee × elapsed / days), as a rate of elapsed / days.
                let numerator = u128::from(fee_of(plan.billed)) * u128::from(elapsed);
                let (q, r) = (numerator / u128::from(days), numerator % u128::from(days));
                let rest = u128::from(days) - r;
                let up = match program.rounding {
                    RoundingMode::Down => false,
                    RoundingMode::HalfUp => r >= rest,
                    RoundingMode::HalfEven => r > rest || (r == rest && q % 2 == 1),
                };
                u64::try_from(q + u128::from(up)).expect("at most the fee")
            }
        }
    }

    pub(super) fn settle_installments(
        &mut self,
        ticks: &mut Ticks,
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
        let plan = self.credit.plan(plan_id).copied();
        if let Some(existing) = self.transfers.get(&id) {
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
            _ => {}
        }
        if plan.status != PlanStatus::Active {
            return R::PlanNotActive;
        }
        let fee_due = self.settlement_fee(&plan, &program);
        let total = plan.remaining + fee_due;
        if amount != 0 && amount != total {
            return R::SettlementAmountMismatch;
        }
        if let Some(code) = self.counterparty_refusal(source_account_id) {
            return code;
        }
        let principal = Transfer {
            debit_account_id: source_account_id,
            credit_account_id: line_id,
            amount: u128::from(plan.remaining),
            user_data_128: plan_id,
            ..posting(&program, id, Posting::Settlement)
        };
        let result = if fee_due == 0 {
            self.post(ticks, principal)
        } else {
            let fee = Transfer {
                debit_account_id: source_account_id,
                credit_account_id: program.fee_account_id,
                amount: u128::from(fee_due),
                user_data_128: plan_id,
                ..posting(&program, self.generated_id(), Posting::SettlementFee)
            };
            match self.post_chain(ticks, &[principal, fee]) {
                Ok(()) => R::Ok,
                Err((_, code)) => code,
            }
        };
        if result != R::Ok {
            return result;
        }
        let p = self
            .credit
            .plans
            .iter_mut()
            .find(|p| p.id == plan_id)
            .expect("found above");
        p.status = PlanStatus::Settled;
        p.remaining = 0;
        p.settlement_fee = fee_due;
        let line = &mut self.credit.lines[index];
        line.installment -= plan.remaining;
        line.cycle.repayments += total;
        line.cycle.fees += fee_due;
        R::Ok
    }

    /// Takes up to `amount` of a refund out of plan `plan`'s principal not yet billed; a plan
    /// left with nothing ends. Returns what it took.
    pub(super) fn refund_plan(&mut self, plan: usize, amount: u64) -> u64 {
        let p = &mut self.credit.plans[plan];
        if p.status != PlanStatus::Active {
            return 0;
        }
        let taken = amount.min(p.remaining);
        p.remaining -= taken;
        if p.remaining == 0 {
            p.status = PlanStatus::Refunded;
        }
        let line = p.line;
        self.credit.lines[line].installment -= taken;
        taken
    }

    /// Statement day: bills the next period of every active plan of the line (its fees as one
    /// charge); returns the principal billed.
    pub(super) fn bill_plans(&mut self, ticks: &mut Ticks, index: usize) -> u64 {
        let active: Vec<usize> = (0..self.credit.plans.len())
            .filter(|&p| {
                self.credit.plans[p].line == index
                    && self.credit.plans[p].status == PlanStatus::Active
            })
            .collect();
        if active.is_empty() {
            return 0;
        }
        let (mut principal, mut fee) = (0, 0);
        for &p in &active {
            let plan = &mut self.credit.plans[p];
            let k = plan.billed;
            let due = if k + 1 == plan.periods {
                plan.remaining
            } else {
                part(plan.principal, plan.periods, k).min(plan.remaining)
            };
            plan.remaining -= due;
            plan.billed += 1;
            principal += due;
            fee += part(plan.fee, plan.periods, k);
            if plan.remaining == 0 {
                plan.status = PlanStatus::Completed;
            }
        }
        let posted = fee > 0 && self.charge(ticks, index, Posting::InstallmentFee, fee);
        let line = &mut self.credit.lines[index];
        line.installment -= principal;
        line.owed.principal += principal;
        line.cycle.installments += principal;
        if posted {
            line.owed.fee += fee;
            line.cycle.fees += fee;
            for &p in &active {
                let plan = &mut self.credit.plans[p];
                plan.fee_billed += part(plan.fee, plan.periods, plan.billed - 1);
            }
        }
        principal
    }

    /// A written-off line's plans end.
    pub(super) fn end_plans(&mut self, index: usize) {
        for plan in &mut self.credit.plans {
            if plan.line == index && plan.status == PlanStatus::Active {
                plan.status = PlanStatus::WrittenOff;
                plan.remaining = 0;
            }
        }
    }

    pub(super) fn redeem_coins(
        &mut self,
        ticks: &mut Ticks,
        id: u128,
        line_id: u128,
        coin_account_id: u128,
        coins: u64,
    ) -> CreditResult {
        use CreditResult as R;
        let (index, line, program) = match self.money_line(id, line_id) {
            Ok(found) => found,
            Err(code) => return code,
        };
        let user = self.accounts.get(&coin_account_id).map(|a| a.account);
        if let Some(existing) = self.transfers.get(&id) {
            let same = existing.debit_account_id == coin_account_id
                && existing.credit_account_id == program.coin_account_id
                && existing.amount == u128::from(coins)
                && existing.user_data_32 == Posting::CoinRedemption as u32
                && existing.user_data_128 == line_id;
            return if same {
                R::Exists
            } else {
                R::ExistsWithDifferentFields
            };
        }
        if program.coin_account_id == 0 {
            return R::CoinsNotOffered;
        }
        match line.status {
            LineStatus::Closed => return R::LineClosed,
            LineStatus::WrittenOff => return R::LineWrittenOff,
            _ => {}
        }
        if coins == 0 {
            return R::AmountMustNotBeZero;
        }
        let Some(user) = user else {
            return R::AccountNotFound;
        };
        let coin_ledger = self
            .accounts
            .get(&program.coin_account_id)
            .map_or(0, |a| a.account.ledger);
        if user.ledger != coin_ledger {
            return R::AccountLedgerMismatch;
        }
        let hundredfold = u128::from(coins) * 100;
        if hundredfold % u128::from(program.coins_per_yuan) != 0 {
            return R::CoinsNotWholeFen;
        }
        let value = hundredfold / u128::from(program.coins_per_yuan);
        let cap = u128::from(line.statement.balance) * u128::from(program.coin_cap_bps) / BPS_WHOLE;
        if value > cap.saturating_sub(u128::from(line.coins_redeemed)) {
            return R::ExceedsCoinCap;
        }
        let value = u64::try_from(value).expect("under the cap");
        if value > line.owed.total() {
            return R::ExceedsBilled;
        }
        let coin_transfer = Transfer {
            debit_account_id: coin_account_id,
            credit_account_id: program.coin_account_id,
            amount: u128::from(coins),
            ledger: user.ledger,
            user_data_128: line_id,
            ..posting(&program, id, Posting::CoinRedemption)
        };
        let money = Transfer {
            debit_account_id: program.coin_funding_account_id,
            credit_account_id: line_id,
            amount: u128::from(value),
            user_data_128: id,
            ..posting(&program, self.generated_id(), Posting::CoinValue)
        };
        match self.post_chain(ticks, &[coin_transfer, money]) {
            Ok(()) => {}
            Err((0, R::InsufficientFunds)) => return R::InsufficientCoins,
            Err((_, R::InsufficientFunds)) => return R::CoinFundingExhausted,
            Err((_, code)) => return code,
        }
        let line = &mut self.credit.lines[index];
        line.coins_redeemed += value;
        line.paid_since_statement += value;
        line.cycle.repayments += value;
        line.past_due = line.past_due.saturating_sub(value);
        let rest = allocate(line, &program.waterfall, value);
        assert_eq!(rest, 0, "coins pay at most what is billed");
        settle_overdue(line);
        R::Ok
    }

    pub(super) fn add_funder(
        &mut self,
        program_id: u128,
        account_id: u128,
        share_bps: u16,
    ) -> CreditResult {
        use CreditResult as R;
        let Some(p) = self.credit.programs.iter().position(|p| p.id == program_id) else {
            return R::ProgramNotFound;
        };
        let program = self.credit.programs[p];
        if program.funding_account_id == 0 {
            return R::FundingNotOffered;
        }
        let funding = &self.credit.funding[p];
        if let Some(f) = funding.funders.iter().find(|f| f.account_id == account_id) {
            return if f.share_bps == share_bps {
                R::Exists
            } else {
                R::ExistsWithDifferentFields
            };
        }
        if share_bps == 0 {
            return R::ShareMustNotBeZero;
        }
        if funding.funders.len() == FUNDERS_MAX {
            return R::FundersMax;
        }
        let platform = funding.platform_bps();
        if u32::from(share_bps) > platform
            || platform - u32::from(share_bps) < u32::from(program.platform_min_share_bps)
        {
            return R::PlatformShareBelowMin;
        }
        match self.accounts.get(&account_id).map(|a| a.account) {
            None => return R::AccountNotFound,
            Some(a) if a.ledger != program.ledger => return R::AccountLedgerMismatch,
            Some(a) if account_id == program.funding_account_id || a.flags.managed() => {
                return R::FunderAccountInvalid;
            }
            Some(_) => {}
        }
        self.credit.funding[p].funders.push(ModelFunder {
            account_id,
            share_bps,
            ..ModelFunder::default()
        });
        R::Ok
    }

    pub(super) fn settle_funding(&mut self, ticks: &mut Ticks, program_id: u128) -> CreditResult {
        use CreditResult as R;
        let Some(p) = self.credit.programs.iter().position(|p| p.id == program_id) else {
            return R::ProgramNotFound;
        };
        let program = self.credit.programs[p];
        if program.funding_account_id == 0 {
            return R::FundingNotOffered;
        }
        let funders = self.credit.funding[p].funders.clone();
        let mut chain = Vec::new();
        for f in &funders {
            let (debit, credit, amount) = if f.unsettled_drawn > f.unsettled_repaid {
                (
                    f.account_id,
                    program.funding_account_id,
                    f.unsettled_drawn - f.unsettled_repaid,
                )
            } else {
                (
                    program.funding_account_id,
                    f.account_id,
                    f.unsettled_repaid - f.unsettled_drawn,
                )
            };
            if amount > 0 {
                chain.push(Transfer {
                    debit_account_id: debit,
                    credit_account_id: credit,
                    amount: u128::from(amount),
                    user_data_128: f.account_id,
                    ..posting(&program, self.generated_id(), Posting::FundingCash)
                });
            }
            if f.unsettled_lost > 0 {
                chain.push(Transfer {
                    debit_account_id: program.funding_account_id,
                    credit_account_id: program.loss_account_id,
                    amount: u128::from(f.unsettled_lost),
                    user_data_128: f.account_id,
                    ..posting(&program, self.generated_id(), Posting::FundingLoss)
                });
            }
        }
        if !chain.is_empty()
            && let Err((_, code)) = self.post_chain(ticks, &chain)
        {
            return code;
        }
        for f in &mut self.credit.funding[p].funders {
            f.unsettled_drawn = 0;
            f.unsettled_repaid = 0;
            f.unsettled_lost = 0;
        }
        R::Ok
    }
}
