//! The auditor's model of the credit engine: programs, lines, authorizations, captures, voids,
//! refunds, repayments, limits, statuses and day-close (statements, revolving interest, overdue
//! penalties, write-off), written from `docs/credit.md`, the result-code precedence in
//! `crates/credit/src/result.rs` and the documented money math (`credit::math`'s formulas),
//! in the plainest form: `Vec`s and `BTreeMap`s, a borrower's exposure summed over its lines
//! each time rather than kept in an index.
//!
//! It shares no code with `credit`: only its record types (`Program`, `Command`, `Date` and
//! its calendar arithmetic, the `Posting` and `LineStatus` enums) and result codes. Every money
//! movement goes through the auditor's own ledger model (`Auditor::create_transfer`), with the
//! ledger's timestamps: each posting takes the next of the command's timestamps, and due
//! pending transfers expire before it, as in the ledger.
//!
//! Where the documentation is silent the model follows what the engine does today, and says
//! so; `docs/simulator.md` lists the places where the two disagree.
//!
//! Installment plans, reward coins and co-funding are in `plans_model.rs`; this file calls
//! them where a line's commands and day-close meet them (refunds of converted purchases,
//! statements billing periods, write-offs ending plans, funding following a line's principal).

use std::collections::BTreeMap;

use credit::math::{Rate, RoundingMode};
use credit::{
    APPLICANT_GUARDIAN_CONFIRMED, APPLICANT_STUDENT, Command, Component, CreditResult, Date,
    LineStatus, Posting, Program, StatusChange, StudentPolicy,
};
use ledger::{
    Account, AccountFlags, CreateAccountResult, CreateTransferResult, PendingStatus,
    RESERVED_ID_MIN, Transfer, TransferFlags,
};

use super::Auditor;

/// Rates are in units of 1e-10 (`docs/credit.md`, "Records").
const RATE_SCALE: u128 = 10_000_000_000;
/// Most lines one day-close command handles (`docs/credit.md`, "Records").
const DAY_CLOSE_LINES_MAX: u32 = 1_000_000;

/// Amounts owed by component, billed and unpaid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Owed {
    pub penalty: u64,
    pub fee: u64,
    pub interest: u64,
    pub principal: u64,
}

impl Owed {
    #[must_use]
    pub fn total(&self) -> u64 {
        self.penalty + self.fee + self.interest + self.principal
    }

    fn slot(&mut self, component: Component) -> &mut u64 {
        match component {
            Component::Penalty => &mut self.penalty,
            Component::Fee => &mut self.fee,
            Component::Interest => &mut self.interest,
            Component::Principal => &mut self.principal,
        }
    }
}

/// Movements since the last statement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cycle {
    pub purchases: u64,
    pub refunds: u64,
    pub repayments: u64,
    pub fees: u64,
    pub interest: u64,
    pub penalties: u64,
    /// Installment principal billed (periods falling due on this statement).
    pub installments: u64,
}

/// The last statement; `date` 0: none yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Statement {
    pub date: Date,
    pub due_date: Date,
    pub previous_balance: u64,
    pub cycle: Cycle,
    pub balance: u64,
    pub minimum_payment: u64,
}

/// A line as the model keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelLine {
    pub id: u128,
    pub borrower_id: u128,
    /// Index of its program, in creation order.
    pub program: usize,
    pub status: LineStatus,
    pub statement_day: u8,
    pub due_day: u8,
    pub applicant: u8,
    pub birth_date: Date,
    pub limit: u64,
    /// The temporary grant: amount, valid `from..=to`.
    pub temporary: (u64, Date, Date),
    pub annual_income: u64,
    pub owed: Owed,
    pub unbilled: u64,
    /// Principal of installment plans not yet billed.
    pub installment: u64,
    /// Value of coins redeemed since the last statement (fen).
    pub coins_redeemed: u64,
    pub credit_balance: u64,
    pub statement: Statement,
    pub cycle: Cycle,
    pub paid_since_statement: u64,
    pub past_due: u64,
    /// First day overdue; 0: not overdue.
    pub overdue_since: Date,
    pub revolving: bool,
    pub written_off: u64,
}

impl ModelLine {
    fn overdue(&self) -> bool {
        self.overdue_since != Date(0)
    }

    /// What counts against the borrower's caps: the limit and any temporary grant.
    fn exposure(&self) -> u128 {
        u128::from(self.limit) + u128::from(self.temporary.0)
    }

    /// The permanent limit plus a temporary grant whose window holds `date`.
    #[must_use]
    pub fn effective_limit(&self, date: Date) -> u64 {
        let (amount, from, to) = self.temporary;
        let temporary = if from <= date && date <= to {
            amount
        } else {
            0
        };
        self.limit.saturating_add(temporary)
    }
}

/// A captured purchase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelPurchase {
    /// Index of its line, in opening order.
    pub line: usize,
    pub merchant_account_id: u128,
    pub captured: u64,
    pub refunded: u64,
    /// The business date of its capture.
    pub captured_on: Date,
    /// The index of the installment plan it was converted into.
    pub plan: Option<usize>,
}

/// The credit engine's state, as the model keeps it.
#[derive(Debug, Default)]
pub struct CreditModel {
    pub programs: Vec<Program>,
    /// Lines in opening order (the order day-close walks them).
    pub lines: Vec<ModelLine>,
    pub line_index: BTreeMap<u128, usize>,
    pub purchases: BTreeMap<u128, ModelPurchase>,
    pub business_date: Date,
    /// The next line the running day-close handles.
    pub close_cursor: u32,
    /// Transfers the engine posted on its own (interest, penalties, write-offs) so far.
    pub generated: u64,
    /// Installment plans in creation order.
    pub plans: Vec<super::plans_model::ModelPlan>,
    /// Each program's co-funding, by program index.
    pub funding: Vec<super::plans_model::ModelFunding>,
}

impl CreditModel {
    #[must_use]
    pub fn line(&self, id: u128) -> Option<&ModelLine> {
        self.line_index.get(&id).map(|&index| &self.lines[index])
    }

    #[must_use]
    pub fn plan(&self, id: u128) -> Option<&super::plans_model::ModelPlan> {
        self.plans.iter().find(|p| p.id == id)
    }

    /// A borrower's exposure in a program: the sum over its lines.
    fn exposure(&self, borrower_id: u128, program: usize) -> u128 {
        self.lines
            .iter()
            .filter(|l| l.borrower_id == borrower_id && l.program == program)
            .map(ModelLine::exposure)
            .sum()
    }
}

/// Net debit balance of an account: what a line's borrower owes (negative: in credit).
#[must_use]
pub fn net_balance(account: &Account) -> i128 {
    i128::try_from(account.debits_posted).expect("fen amounts")
        - i128::try_from(account.credits_posted).expect("fen amounts")
}

/// Credit left: the effective limit less the net balance and the holds, never below zero.
#[must_use]
pub fn available(account: &Account, limit: u64) -> u64 {
    let used = net_balance(account) + i128::try_from(account.debits_pending).expect("fen");
    u64::try_from((i128::from(limit) - used).max(0)).unwrap_or(u64::MAX)
}

/// `round(amount × rate)`, rate in units of 1e-10, saturating at `u64::MAX`.
pub(super) fn apply_rate(amount: u64, rate: Rate, mode: RoundingMode) -> u64 {
    let product = u128::from(amount) * u128::from(rate.0);
    let (quotient, remainder) = (product / RATE_SCALE, product % RATE_SCALE);
    let up = match mode {
        RoundingMode::Down => false,
        RoundingMode::HalfUp => 2 * remainder >= RATE_SCALE,
        RoundingMode::HalfEven => {
            2 * remainder > RATE_SCALE || (2 * remainder == RATE_SCALE && quotient % 2 == 1)
        }
    };
    u64::try_from(quotient + u128::from(up)).unwrap_or(u64::MAX)
}

/// One day's penalty: `max(round(base × rate), minimum)`, and none on a zero base.
fn daily_penalty(base: u64, program: &Program) -> u64 {
    if base == 0 {
        return 0;
    }
    apply_rate(base, program.penalty_daily_rate, program.rounding).max(program.penalty_min_per_day)
}

/// `min(balance, max(floor, round(rate × (balance − charges))) + charges + past due)`.
pub(super) fn minimum_payment(balance: u64, charges: u64, past_due: u64, program: &Program) -> u64 {
    let base = balance.saturating_sub(charges);
    apply_rate(base, program.min_payment_rate, program.rounding)
        .max(program.min_payment_floor)
        .saturating_add(charges)
        .saturating_add(past_due)
        .min(balance)
}

/// The credit code for the ledger's answer to a posting.
pub(super) fn from_ledger(result: CreateTransferResult) -> CreditResult {
    use CreateTransferResult as L;
    use CreditResult as R;
    match result {
        L::Ok => R::Ok,
        L::Exists => R::Exists,
        L::IdAlreadyFailed => R::IdAlreadyFailed,
        L::DebitAccountNotFound | L::CreditAccountNotFound => R::AccountNotFound,
        L::AccountsMustHaveTheSameLedger | L::TransferMustHaveTheSameLedgerAsAccounts => {
            R::AccountLedgerMismatch
        }
        L::DebitAccountAlreadyClosed | L::CreditAccountAlreadyClosed => R::AccountClosed,
        L::OverflowsDebitsPending
        | L::OverflowsCreditsPending
        | L::OverflowsDebitsPosted
        | L::OverflowsCreditsPosted
        | L::OverflowsDebits
        | L::OverflowsCredits
        | L::OverflowsTimeout => R::OverflowsBalance,
        L::PendingTransferExpired => R::PurchaseExpired,
        L::PendingTransferAlreadyPosted => R::PurchaseAlreadyCaptured,
        L::PendingTransferAlreadyVoided => R::PurchaseAlreadyVoided,
        L::ExceedsPendingTransferAmount => R::ExceedsAuthorizedAmount,
        L::ExistsWithDifferentFlags
        | L::ExistsWithDifferentPendingId
        | L::ExistsWithDifferentTimeout
        | L::ExistsWithDifferentDebitAccountId
        | L::ExistsWithDifferentCreditAccountId
        | L::ExistsWithDifferentAmount
        | L::ExistsWithDifferentUserData128
        | L::ExistsWithDifferentUserData64
        | L::ExistsWithDifferentUserData32
        | L::ExistsWithDifferentLedger
        | L::ExistsWithDifferentCode => R::ExistsWithDifferentFields,
        L::ExceedsCredits | L::ExceedsDebits => R::InsufficientFunds,
        _ => R::LedgerRejected,
    }
}

/// The id checks of a command that posts a transfer under its id.
pub(super) fn id_refusal(id: u128) -> Option<CreditResult> {
    if id == 0 {
        Some(CreditResult::IdMustNotBeZero)
    } else if id == u128::MAX {
        Some(CreditResult::IdMustNotBeIntMax)
    } else if id >= RESERVED_ID_MIN {
        Some(CreditResult::IdMustNotBeReserved)
    } else {
        None
    }
}

/// Pays `amount` off the billed components in waterfall order; returns what is left.
pub(super) fn allocate(line: &mut ModelLine, waterfall: &[Component; 4], mut amount: u64) -> u64 {
    for &component in waterfall {
        let slot = line.owed.slot(component);
        let paid = amount.min(*slot);
        *slot -= paid;
        amount -= paid;
    }
    amount
}

/// Overdue ends when the missed minimum and the penalties are paid (a rest revolves); nothing
/// owed, nothing revolves.
pub(super) fn settle_overdue(line: &mut ModelLine) {
    if line.overdue() && line.past_due == 0 && line.owed.penalty == 0 {
        line.overdue_since = Date(0);
        line.revolving = line.owed.total() > 0;
    }
    if line.owed.total() == 0 {
        line.revolving = false;
    }
}

/// A transfer a program posts: its ledger, code and purpose; the rest zero.
/// A line's spending at a merchant: `amount` from the line to the merchant, as `kind`.
fn spending(
    program: &Program,
    id: u128,
    line_id: u128,
    merchant_account_id: u128,
    amount: u64,
    kind: Posting,
) -> Transfer {
    Transfer {
        debit_account_id: line_id,
        credit_account_id: merchant_account_id,
        amount: u128::from(amount),
        ..posting(program, id, kind)
    }
}

pub(super) fn posting(program: &Program, id: u128, kind: Posting) -> Transfer {
    Transfer {
        id,
        ledger: program.ledger,
        code: program.code,
        user_data_32: kind as u32,
        ..Transfer::default()
    }
}

/// The timestamps of one command: each ledger event takes the next.
pub(super) struct Ticks(pub(super) u64);

impl Ticks {
    pub(super) fn next(&mut self) -> u64 {
        let tick = self.0;
        self.0 += 1;
        tick
    }
}

impl Auditor {
    /// A merchant or repayment source: it must exist and not be a credit line.
    pub(super) fn counterparty_refusal(&self, id: u128) -> Option<CreditResult> {
        match self.accounts.get(&id) {
            None => Some(CreditResult::AccountNotFound),
            Some(state) if state.account.flags.managed() => Some(CreditResult::AccountIsManaged),
            Some(_) => None,
        }
    }

    /// The line account's ledger state.
    pub(super) fn line_account(&self, id: u128) -> Account {
        self.accounts[&id].account
    }

    /// Posts one transfer as the credit engine does: a request of one event at the next tick,
    /// reserved ids and managed accounts allowed. With a prefix (`credit_linked`), the prefix
    /// and the transfer go as one linked chain, one tick each, and the prefix is used up.
    pub(super) fn post(&mut self, ticks: &mut Ticks, transfer: Transfer) -> CreditResult {
        if !self.credit_prefix.is_empty() {
            let mut chain = std::mem::take(&mut self.credit_prefix);
            let prefix = chain.len();
            chain.push(transfer);
            let first = ticks.next();
            for _ in 1..chain.len() {
                ticks.next();
            }
            return match self.post_linked(first, &chain) {
                Ok(()) => CreditResult::Ok,
                Err((i, code)) => {
                    self.prefix_failure = (i < prefix).then_some(i);
                    code.map_or(CreditResult::LedgerRejected, from_ledger)
                }
            };
        }
        let tick = ticks.next();
        self.expire(tick);
        self.ledger_time = tick;
        self.engine_posting = true;
        let result = self.chains(
            std::slice::from_ref(&transfer),
            tick,
            |t| t.flags.linked(),
            |t| t.id,
            Auditor::create_transfer,
            CreateTransferResult::Ok,
            CreateTransferResult::LinkedEventFailed,
            CreateTransferResult::LinkedEventChainOpen,
        )[0];
        self.engine_posting = false;
        from_ledger(result)
    }

    /// The id of the next transfer the engine posts on its own.
    pub(super) fn generated_id(&mut self) -> u128 {
        self.credit.generated += 1;
        RESERVED_ID_MIN + u128::from(self.credit.generated)
    }

    /// Creates a program. It reads accounts only: no ledger event, no expiry.
    pub(super) fn create_program(&mut self, p: &Program) -> CreditResult {
        use CreditResult as R;
        if p.id == 0 {
            return R::IdMustNotBeZero;
        }
        if p.id == u128::MAX {
            return R::IdMustNotBeIntMax;
        }
        if let Some(existing) = self.credit.programs.iter().find(|e| e.id == p.id) {
            return if existing == p {
                R::Exists
            } else {
                R::ExistsWithDifferentFields
            };
        }
        if p.ledger == 0 {
            return R::LedgerMustNotBeZero;
        }
        if p.code == 0 {
            return R::CodeMustNotBeZero;
        }
        // Only the first program's start date matters (the engine does not check later ones).
        if self.credit.business_date == Date(0) && p.start_date == Date(0) {
            return R::StartDateMustNotBeZero;
        }
        if !(1..=28).contains(&p.statement_day) {
            return R::StatementDayOutOfRange;
        }
        if !(1..=28).contains(&p.due_day) {
            return R::DueDayOutOfRange;
        }
        if p.min_age < 18 {
            return R::MinAgeBelowAdulthood;
        }
        if !Component::ALL.iter().all(|c| p.waterfall.contains(c)) {
            return R::WaterfallInvalid;
        }
        let accounts = [
            p.interest_account_id,
            p.fee_account_id,
            p.penalty_account_id,
            p.loss_account_id,
            p.recovery_account_id,
        ];
        for id in accounts {
            match self.accounts.get(&id) {
                None => return R::ProgramAccountNotFound,
                Some(a) if a.account.ledger != p.ledger => return R::ProgramAccountLedgerMismatch,
                Some(_) => {}
            }
        }
        if let Some(code) = self.program_terms_refusal(p) {
            return code;
        }
        if self.credit.business_date == Date(0) {
            self.credit.business_date = p.start_date;
        }
        self.credit.programs.push(*p);
        self.credit
            .funding
            .push(super::plans_model::ModelFunding::default());
        R::Ok
    }

    /// Executes a purchase command (authorize, capture, void, refund) with `prefix` posted
    /// before its own transfer in one linked chain, as promotions does: the result, and which
    /// prefix transfer refused, if one did.
    pub(super) fn credit_linked(
        &mut self,
        first: u64,
        command: &Command,
        prefix: &[Transfer],
    ) -> (CreditResult, Option<usize>) {
        self.with_prefix(prefix, |auditor| auditor.credit_command(first, command))
    }

    /// Runs `f` with `prefix` linked before the credit model's own posting; its result and
    /// which prefix transfer refused, if one did.
    fn with_prefix(
        &mut self,
        prefix: &[Transfer],
        f: impl FnOnce(&mut Auditor) -> CreditResult,
    ) -> (CreditResult, Option<usize>) {
        self.credit_prefix = prefix.to_vec();
        self.prefix_failure = None;
        let result = f(self);
        self.credit_prefix.clear();
        (result, self.prefix_failure)
    }

    /// A bill credit paid by promotions (a red packet grabbed onto a line): a repayment from
    /// `source_account_id` at timestamp `first`, the engine's own source allowed.
    pub(super) fn credit_bill(
        &mut self,
        first: u64,
        id: u128,
        line_id: u128,
        source_account_id: u128,
        amount: u64,
    ) -> CreditResult {
        let tracked = self.tracked(line_id);
        let result = self.repay(
            &mut Ticks(first),
            id,
            line_id,
            source_account_id,
            amount,
            true,
        );
        self.follow(tracked);
        result
    }

    /// Executes one credit command whose ledger events take timestamps from `first` on.
    pub(super) fn credit_command(&mut self, first: u64, command: &Command) -> CreditResult {
        // Co-funding follows the principal of the line a command may change.
        let tracked = match *command {
            Command::Capture { line_id, .. }
            | Command::Refund { line_id, .. }
            | Command::Repay { line_id, .. }
            | Command::SettleInstallments { line_id, .. }
            | Command::RedeemCoins { line_id, .. } => self.tracked(line_id),
            _ => None,
        };
        let result = self.dispatch_credit(first, command);
        self.follow(tracked);
        result
    }

    fn dispatch_credit(&mut self, first: u64, command: &Command) -> CreditResult {
        let mut ticks = Ticks(first);
        let ticks = &mut ticks;
        match *command {
            Command::OpenLine { .. } => self.open_line(ticks, command),
            Command::SetLimit { line_id, limit } => self.set_limit(line_id, limit),
            Command::SetTemporaryLimit {
                line_id,
                amount,
                from,
                to,
            } => self.set_temporary_limit(line_id, amount, from, to),
            Command::SetStatus { line_id, change } => self.set_status(line_id, change),
            Command::Authorize { .. } => self.authorize(ticks, command),
            Command::Capture {
                id,
                line_id,
                purchase_id,
                amount,
            } => self.capture(ticks, id, line_id, purchase_id, amount),
            Command::Void {
                id,
                line_id,
                purchase_id,
            } => self.void(ticks, id, line_id, purchase_id),
            Command::Refund {
                id,
                line_id,
                purchase_id,
                amount,
            } => self.refund(ticks, id, line_id, purchase_id, amount),
            Command::Repay {
                id,
                line_id,
                source_account_id,
                amount,
            } => self.repay(ticks, id, line_id, source_account_id, amount, false),
            Command::DayClose { date, max_lines } => self.day_close(ticks, date, max_lines),
            Command::ConvertInstallments { .. } => self.convert_installments(ticks, command),
            Command::SettleInstallments {
                id,
                line_id,
                plan_id,
                source_account_id,
                amount,
            } => self.settle_installments(ticks, id, line_id, plan_id, source_account_id, amount),
            Command::RedeemCoins {
                id,
                line_id,
                coin_account_id,
                coins,
            } => self.redeem_coins(ticks, id, line_id, coin_account_id, coins),
            Command::AddFunder {
                program_id,
                account_id,
                share_bps,
            } => self.add_funder(program_id, account_id, share_bps),
            Command::SettleFunding { program_id } => self.settle_funding(ticks, program_id),
        }
    }

    fn open_line(&mut self, ticks: &mut Ticks, command: &Command) -> CreditResult {
        use CreditResult as R;
        let Command::OpenLine {
            id,
            borrower_id,
            program_id,
            limit,
            annual_income,
            birth_date,
            statement_day,
            due_day,
            applicant,
        } = *command
        else {
            unreachable!("open_line")
        };
        if id == 0 {
            return R::IdMustNotBeZero;
        }
        if id == u128::MAX {
            return R::IdMustNotBeIntMax;
        }
        if let Some(line) = self.credit.line(id) {
            // A retry: the limit may differ (it changes after opening); the income may not.
            let same = line.borrower_id == borrower_id
                && self.credit.programs[line.program].id == program_id
                && line.birth_date == birth_date
                && line.applicant == applicant
                && line.annual_income == annual_income
                && (statement_day == 0 || statement_day == line.statement_day)
                && (due_day == 0 || due_day == line.due_day);
            return if same {
                R::Exists
            } else {
                R::ExistsWithDifferentFields
            };
        }
        let Some(program_index) = self.credit.programs.iter().position(|p| p.id == program_id)
        else {
            return R::ProgramNotFound;
        };
        let program = self.credit.programs[program_index];
        if self.accounts.contains_key(&id) {
            return R::IdConflictsWithAccount;
        }
        let statement_day = if statement_day == 0 {
            program.statement_day
        } else {
            statement_day
        };
        let due_day = if due_day == 0 {
            program.due_day
        } else {
            due_day
        };
        if !(1..=28).contains(&statement_day) {
            return R::StatementDayOutOfRange;
        }
        if !(1..=28).contains(&due_day) {
            return R::DueDayOutOfRange;
        }
        let today = self.credit.business_date;
        if birth_date > today || today.years_since(birth_date) < u32::from(program.min_age) {
            return R::ApplicantIsMinor;
        }
        if applicant & APPLICANT_STUDENT != 0 {
            match program.student_policy {
                StudentPolicy::Block => return R::ApplicantIsStudent,
                StudentPolicy::RequireGuardian if applicant & APPLICANT_GUARDIAN_CONFIRMED == 0 => {
                    return R::StudentNeedsGuardian;
                }
                StudentPolicy::RequireGuardian => {}
            }
        }
        let exposure = self.credit.exposure(borrower_id, program_index) + u128::from(limit);
        if let Some(refusal) = caps_refusal(&program, exposure, annual_income) {
            return refusal;
        }
        let account = Account {
            id,
            ledger: program.ledger,
            code: program.code,
            user_data_128: borrower_id,
            flags: AccountFlags(AccountFlags::MANAGED),
            ..Account::default()
        };
        let tick = ticks.next();
        self.expire(tick);
        self.ledger_time = tick;
        let created = self.chains(
            std::slice::from_ref(&account),
            tick,
            |a| a.flags.linked(),
            |a| a.id,
            Auditor::create_account,
            CreateAccountResult::Ok,
            CreateAccountResult::LinkedEventFailed,
            CreateAccountResult::LinkedEventChainOpen,
        )[0];
        if created != CreateAccountResult::Ok {
            return R::LedgerRejected;
        }
        self.credit.line_index.insert(id, self.credit.lines.len());
        self.credit.lines.push(ModelLine {
            id,
            borrower_id,
            program: program_index,
            status: LineStatus::Active,
            statement_day,
            due_day,
            applicant,
            birth_date,
            limit,
            temporary: (0, Date(0), Date(0)),
            annual_income,
            owed: Owed::default(),
            unbilled: 0,
            installment: 0,
            coins_redeemed: 0,
            credit_balance: 0,
            statement: Statement::default(),
            cycle: Cycle::default(),
            paid_since_statement: 0,
            past_due: 0,
            overdue_since: Date(0),
            revolving: false,
            written_off: 0,
        });
        R::Ok
    }

    /// A line that may still change: not closed, not written off.
    fn live_line(&self, line_id: u128) -> Result<usize, CreditResult> {
        let &index = self
            .credit
            .line_index
            .get(&line_id)
            .ok_or(CreditResult::LineNotFound)?;
        match self.credit.lines[index].status {
            LineStatus::Closed => Err(CreditResult::LineClosed),
            LineStatus::WrittenOff => Err(CreditResult::LineWrittenOff),
            _ => Ok(index),
        }
    }

    /// Why the line may not take `new_exposure` (limit and temporary grant): overdue, or over
    /// a cap with the borrower's other lines.
    fn raise_refusal(&self, index: usize, new_exposure: u128) -> Option<CreditResult> {
        let line = &self.credit.lines[index];
        if line.overdue() {
            return Some(CreditResult::LineOverdue);
        }
        let others = self.credit.exposure(line.borrower_id, line.program) - line.exposure();
        let program = &self.credit.programs[line.program];
        caps_refusal(program, others + new_exposure, line.annual_income)
    }

    fn set_limit(&mut self, line_id: u128, limit: u64) -> CreditResult {
        let index = match self.live_line(line_id) {
            Ok(index) => index,
            Err(code) => return code,
        };
        let line = self.credit.lines[index];
        // A raise is checked; a cut always applies.
        if limit > line.limit
            && let Some(refusal) =
                self.raise_refusal(index, u128::from(limit) + u128::from(line.temporary.0))
        {
            return refusal;
        }
        self.credit.lines[index].limit = limit;
        CreditResult::Ok
    }

    fn set_temporary_limit(
        &mut self,
        line_id: u128,
        amount: u64,
        from: Date,
        to: Date,
    ) -> CreditResult {
        let index = match self.live_line(line_id) {
            Ok(index) => index,
            Err(code) => return code,
        };
        if amount > 0 && (from > to || to < self.credit.business_date) {
            return CreditResult::TemporaryWindowInvalid;
        }
        let line = self.credit.lines[index];
        if amount > 0
            && let Some(refusal) =
                self.raise_refusal(index, u128::from(line.limit) + u128::from(amount))
        {
            return refusal;
        }
        self.credit.lines[index].temporary = if amount == 0 {
            (0, Date(0), Date(0))
        } else {
            (amount, from, to)
        };
        CreditResult::Ok
    }

    fn set_status(&mut self, line_id: u128, change: StatusChange) -> CreditResult {
        let index = match self.live_line(line_id) {
            Ok(index) => index,
            Err(code) => return code,
        };
        let line = &mut self.credit.lines[index];
        line.status = match (line.status, change) {
            (LineStatus::Active, StatusChange::Freeze) => LineStatus::Frozen,
            (LineStatus::Frozen, StatusChange::Unfreeze) => LineStatus::Active,
            (_, StatusChange::Close) => {
                let account = self.accounts[&line_id].account;
                // Principal on installment plans is still owed even where a credit balance
                // offsets it in the account (`docs/credit.md` is silent: as the engine does).
                if net_balance(&account) != 0
                    || account.debits_pending != 0
                    || line.installment != 0
                {
                    return CreditResult::LineHasBalance;
                }
                // A closed line holds no credit.
                line.limit = 0;
                line.temporary = (0, Date(0), Date(0));
                LineStatus::Closed
            }
            _ => return CreditResult::StatusTransitionInvalid,
        };
        CreditResult::Ok
    }

    /// The line a money command names, after its id checks.
    pub(super) fn money_line(
        &self,
        id: u128,
        line_id: u128,
    ) -> Result<(usize, ModelLine, Program), CreditResult> {
        if let Some(code) = id_refusal(id) {
            return Err(code);
        }
        let &index = self
            .credit
            .line_index
            .get(&line_id)
            .ok_or(CreditResult::LineNotFound)?;
        let line = self.credit.lines[index];
        Ok((index, line, self.credit.programs[line.program]))
    }

    fn authorize(&mut self, ticks: &mut Ticks, command: &Command) -> CreditResult {
        let Command::Authorize {
            id,
            line_id,
            merchant_account_id,
            amount,
            timeout,
        } = *command
        else {
            unreachable!("authorize")
        };
        let (_, line, program) = match self.money_line(id, line_id) {
            Ok(found) => found,
            Err(code) => return code,
        };
        // The engine leaves user_data_128 zero on authorizations (docs/simulator.md).
        let transfer = Transfer {
            timeout,
            flags: TransferFlags(TransferFlags::PENDING),
            ..spending(
                &program,
                id,
                line_id,
                merchant_account_id,
                amount,
                Posting::Authorization,
            )
        };
        // A retry: the ledger says whether it is the same.
        if self.transfers.contains_key(&id) {
            return self.post(ticks, transfer);
        }
        if let Some(code) = self.spend_refusal(&line, line_id, merchant_account_id, amount) {
            return code;
        }
        self.post(ticks, transfer)
    }

    /// Why a line cannot spend `amount` at a merchant: an authorization's checks, in order.
    fn spend_refusal(
        &self,
        line: &ModelLine,
        line_id: u128,
        merchant_account_id: u128,
        amount: u64,
    ) -> Option<CreditResult> {
        use CreditResult as R;
        match line.status {
            LineStatus::Closed => return Some(R::LineClosed),
            LineStatus::WrittenOff => return Some(R::LineWrittenOff),
            LineStatus::Frozen => return Some(R::LineFrozen),
            LineStatus::Active => {}
        }
        if line.overdue() {
            return Some(R::LineOverdue);
        }
        if amount == 0 {
            return Some(R::AmountMustNotBeZero);
        }
        if let Some(code) = self.counterparty_refusal(merchant_account_id) {
            return Some(code);
        }
        // Holds due to expire count until the ledger expires them, at the posting.
        let account = self.line_account(line_id);
        let limit = line.effective_limit(self.credit.business_date);
        (amount > available(&account, limit)).then_some(R::InsufficientCredit)
    }

    /// A one-step purchase for promotions (a checkout made and captured at once): the
    /// authorization's checks, then one posted transfer line → merchant after `prefix` in one
    /// chain, booked as a captured purchase.
    pub(super) fn credit_purchase_linked(
        &mut self,
        first: u64,
        purchase: credit::Purchased,
        prefix: &[Transfer],
    ) -> (CreditResult, Option<usize>) {
        self.with_prefix(prefix, |auditor| {
            let tracked = auditor.tracked(purchase.line_id);
            let result = auditor.purchase_now(&mut Ticks(first), purchase);
            auditor.follow(tracked);
            result
        })
    }

    fn purchase_now(&mut self, ticks: &mut Ticks, purchase: credit::Purchased) -> CreditResult {
        let credit::Purchased {
            id,
            line_id,
            merchant_account_id,
            amount,
        } = purchase;
        let (index, line, program) = match self.money_line(id, line_id) {
            Ok(found) => found,
            Err(code) => return code,
        };
        let transfer = spending(
            &program,
            id,
            line_id,
            merchant_account_id,
            amount,
            Posting::Capture,
        );
        if self.transfers.contains_key(&id) {
            return self.post(ticks, transfer);
        }
        if let Some(code) = self.spend_refusal(&line, line_id, merchant_account_id, amount) {
            return code;
        }
        let result = self.post(ticks, transfer);
        if result == CreditResult::Ok {
            self.book_capture(index, id, merchant_account_id, amount);
        }
        result
    }

    /// The open authorization `purchase_id` of this line, for a capture or a void.
    fn open_purchase(&self, line_id: u128, purchase_id: u128) -> Result<Transfer, CreditResult> {
        use CreditResult as R;
        let pending = self
            .transfers
            .get(&purchase_id)
            .filter(|t| t.flags.pending() && t.user_data_32 == Posting::Authorization as u32)
            .copied()
            .ok_or(R::PurchaseNotFound)?;
        if pending.debit_account_id != line_id {
            return Err(R::PurchaseLineMismatch);
        }
        match self.pending[&purchase_id].status {
            PendingStatus::Pending => Ok(pending),
            PendingStatus::Posted => Err(R::PurchaseAlreadyCaptured),
            PendingStatus::Voided => Err(R::PurchaseAlreadyVoided),
            PendingStatus::Expired => Err(R::PurchaseExpired),
        }
    }

    fn capture(
        &mut self,
        ticks: &mut Ticks,
        id: u128,
        line_id: u128,
        purchase_id: u128,
        amount: u64,
    ) -> CreditResult {
        use CreditResult as R;
        let (index, line, program) = match self.money_line(id, line_id) {
            Ok(found) => found,
            Err(code) => return code,
        };
        let mut transfer = Transfer {
            pending_id: purchase_id,
            amount: u128::from(amount),
            flags: TransferFlags(TransferFlags::POST_PENDING_TRANSFER),
            ..posting(&program, id, Posting::Capture)
        };
        if let Some(existing) = self.transfers.get(&id) {
            // A retry; amount 0 meant all of it.
            if amount == 0 {
                transfer.amount = existing.amount;
            }
            return self.post(ticks, transfer);
        }
        let pending = match self.open_purchase(line_id, purchase_id) {
            Ok(pending) => pending,
            Err(code) => return code,
        };
        if line.status == LineStatus::WrittenOff {
            return R::LineWrittenOff;
        }
        let amount = if amount == 0 {
            u64::try_from(pending.amount).expect("authorized amounts are u64")
        } else {
            amount
        };
        if u128::from(amount) > pending.amount {
            return R::ExceedsAuthorizedAmount;
        }
        transfer.amount = u128::from(amount);
        let result = self.post(ticks, transfer);
        if result != R::Ok {
            return result;
        }
        self.book_capture(index, purchase_id, pending.credit_account_id, amount);
        R::Ok
    }

    /// A captured purchase on line `index`: a credit balance pays for it first.
    fn book_capture(
        &mut self,
        index: usize,
        purchase_id: u128,
        merchant_account_id: u128,
        amount: u64,
    ) {
        let line = &mut self.credit.lines[index];
        let from_credit = amount.min(line.credit_balance);
        line.credit_balance -= from_credit;
        line.unbilled += amount - from_credit;
        line.cycle.purchases += amount;
        self.credit.purchases.insert(
            purchase_id,
            ModelPurchase {
                line: index,
                merchant_account_id,
                captured: amount,
                refunded: 0,
                captured_on: self.credit.business_date,
                plan: None,
            },
        );
    }

    fn void(
        &mut self,
        ticks: &mut Ticks,
        id: u128,
        line_id: u128,
        purchase_id: u128,
    ) -> CreditResult {
        let (_, _, program) = match self.money_line(id, line_id) {
            Ok(found) => found,
            Err(code) => return code,
        };
        let mut transfer = Transfer {
            pending_id: purchase_id,
            flags: TransferFlags(TransferFlags::VOID_PENDING_TRANSFER),
            ..posting(&program, id, Posting::Void)
        };
        if let Some(existing) = self.transfers.get(&id) {
            transfer.amount = existing.amount;
            return self.post(ticks, transfer);
        }
        let pending = match self.open_purchase(line_id, purchase_id) {
            Ok(pending) => pending,
            Err(code) => return code,
        };
        transfer.amount = pending.amount;
        self.post(ticks, transfer)
    }

    fn refund(
        &mut self,
        ticks: &mut Ticks,
        id: u128,
        line_id: u128,
        purchase_id: u128,
        amount: u64,
    ) -> CreditResult {
        use CreditResult as R;
        let (index, line, program) = match self.money_line(id, line_id) {
            Ok(found) => found,
            Err(code) => return code,
        };
        let purchase = self.credit.purchases.get(&purchase_id).copied();
        // The engine puts the purchase id in user_data_128 (docs/simulator.md).
        let transfer = Transfer {
            debit_account_id: purchase.map_or(0, |p| p.merchant_account_id),
            credit_account_id: line_id,
            amount: u128::from(amount),
            user_data_128: purchase_id,
            ..posting(&program, id, Posting::Refund)
        };
        if self.transfers.contains_key(&id) {
            return self.post(ticks, transfer);
        }
        let Some(purchase) = purchase else {
            return if self.pending.contains_key(&purchase_id) {
                R::PurchaseNotCaptured
            } else {
                R::PurchaseNotFound
            };
        };
        if purchase.line != index {
            return R::PurchaseLineMismatch;
        }
        match line.status {
            LineStatus::WrittenOff => return R::LineWrittenOff,
            LineStatus::Closed => return R::LineClosed,
            _ => {}
        }
        if amount == 0 {
            return R::AmountMustNotBeZero;
        }
        if amount > purchase.captured - purchase.refunded {
            return R::ExceedsRefundable;
        }
        let result = self.post(ticks, transfer);
        if result != R::Ok {
            return result;
        }
        self.credit
            .purchases
            .get_mut(&purchase_id)
            .expect("captured")
            .refunded += amount;
        // A converted purchase gives back its plan's principal not yet billed first, then
        // unbilled (the purchase's credit comes back), then what is billed, then a credit
        // balance.
        let from_plan = purchase
            .plan
            .map_or(0, |plan| self.refund_plan(plan, amount));
        let amount_left = amount - from_plan;
        let line = &mut self.credit.lines[index];
        let from_unbilled = amount_left.min(line.unbilled);
        line.unbilled -= from_unbilled;
        let rest = amount_left - from_unbilled;
        let left = allocate(line, &program.waterfall, rest);
        // Paying the bill counts toward its minimum.
        line.paid_since_statement += rest - left;
        line.past_due = line.past_due.saturating_sub(rest - left);
        line.credit_balance += left;
        line.cycle.refunds += amount;
        settle_overdue(line);
        R::Ok
    }

    /// A repayment; `engine_source`: the engine pays from an account of its own (a red-packet
    /// budget paying a bill credit), which may be managed.
    fn repay(
        &mut self,
        ticks: &mut Ticks,
        id: u128,
        line_id: u128,
        source_account_id: u128,
        amount: u64,
        engine_source: bool,
    ) -> CreditResult {
        use CreditResult as R;
        let (index, line, program) = match self.money_line(id, line_id) {
            Ok(found) => found,
            Err(code) => return code,
        };
        // After a write-off a repayment is a recovery.
        let written_off = line.status == LineStatus::WrittenOff;
        let (credit_account_id, kind) = if written_off {
            (program.recovery_account_id, Posting::Recovery)
        } else {
            (line_id, Posting::Repayment)
        };
        let mut transfer = Transfer {
            debit_account_id: source_account_id,
            credit_account_id,
            amount: u128::from(amount),
            user_data_128: line_id,
            ..posting(&program, id, kind)
        };
        if let Some(existing) = self.transfers.get(&id) {
            // A repayment from before a write-off is retried as the repayment it was.
            if existing.user_data_32 == Posting::Repayment as u32 {
                transfer.credit_account_id = line_id;
                transfer.user_data_32 = Posting::Repayment as u32;
            }
            return self.post(ticks, transfer);
        }
        if line.status == LineStatus::Closed {
            return R::LineClosed;
        }
        if amount == 0 {
            return R::AmountMustNotBeZero;
        }
        match self.counterparty_refusal(source_account_id) {
            Some(R::AccountIsManaged) if engine_source => {}
            Some(code) => return code,
            None => {}
        }
        // What a line counts of repayments must not overflow (fuzzing found two repayments of
        // u64::MAX panicking the writer, and every replay after it).
        if !written_off
            && [
                line.credit_balance,
                line.paid_since_statement,
                line.cycle.repayments,
            ]
            .iter()
            .any(|v| v.checked_add(amount).is_none())
        {
            return R::OverflowsBalance;
        }
        if written_off && amount > line.written_off {
            return R::ExceedsWrittenOff;
        }
        let result = self.post(ticks, transfer);
        if result != R::Ok {
            return result;
        }
        let line = &mut self.credit.lines[index];
        if written_off {
            line.written_off -= amount;
            return R::Ok;
        }
        line.paid_since_statement += amount;
        line.cycle.repayments += amount;
        line.past_due = line.past_due.saturating_sub(amount);
        // The waterfall over what is billed, then unbilled, then a credit balance.
        let rest = allocate(line, &program.waterfall, amount);
        let from_unbilled = rest.min(line.unbilled);
        line.unbilled -= from_unbilled;
        line.credit_balance += rest - from_unbilled;
        settle_overdue(line);
        R::Ok
    }

    fn day_close(&mut self, ticks: &mut Ticks, date: Date, max_lines: u32) -> CreditResult {
        if date == Date(0) || date != self.credit.business_date {
            return CreditResult::DateMustBeBusinessDate;
        }
        let count = u32::try_from(self.credit.lines.len()).expect("few lines");
        let start = self.credit.close_cursor;
        let end = start
            .saturating_add(max_lines.clamp(1, DAY_CLOSE_LINES_MAX))
            .min(count);
        for index in start..end {
            let before = self.principal(index as usize);
            self.close_line(ticks, index as usize, date);
            // A write-off's loss is split by `write_off` itself.
            if self.credit.lines[index as usize].status != LineStatus::WrittenOff {
                self.follow(Some((index as usize, before)));
            }
        }
        self.credit.close_cursor = end;
        if end == count {
            self.credit.business_date = date.plus(1);
            self.credit.close_cursor = 0;
        }
        CreditResult::Ok
    }

    /// The end of business date `date` for one line (`docs/credit.md`, "Day-close").
    fn close_line(&mut self, ticks: &mut Ticks, index: usize, date: Date) {
        let line = self.credit.lines[index];
        if matches!(line.status, LineStatus::Closed | LineStatus::WrittenOff) {
            return;
        }
        let program = self.credit.programs[line.program];
        // 1. A temporary grant whose window ended lapses.
        if line.temporary.0 > 0 && line.temporary.2 <= date {
            self.credit.lines[index].temporary = (0, Date(0), Date(0));
        }
        // 2. Accrual: a penalty when overdue (never on penalties), else interest when revolving.
        if line.overdue() {
            let penalty = daily_penalty(
                line.owed.principal + line.owed.fee + line.owed.interest,
                &program,
            );
            if penalty > 0 && self.charge(ticks, index, Posting::Penalty, penalty) {
                let line = &mut self.credit.lines[index];
                line.owed.penalty += penalty;
                line.cycle.penalties += penalty;
            }
            let days_overdue = date.0.saturating_sub(line.overdue_since.0) + 1;
            if program.write_off_days > 0 && days_overdue >= u32::from(program.write_off_days) {
                self.write_off(ticks, index);
                return;
            }
        } else if line.revolving {
            let interest = apply_rate(
                line.owed.principal + line.owed.fee,
                program.interest_daily_rate,
                program.rounding,
            );
            if interest > 0 && self.charge(ticks, index, Posting::Interest, interest) {
                let line = &mut self.credit.lines[index];
                line.owed.interest += interest;
                line.cycle.interest += interest;
            }
        }
        let line = &mut self.credit.lines[index];
        // 3. The due day ends: below the minimum is overdue from tomorrow, else the rest revolves.
        if line.statement.date != Date(0)
            && line.statement.due_date == date
            && line.owed.total() > 0
        {
            let minimum = line.statement.minimum_payment;
            // Never past due by more than is owed.
            let shortfall = minimum
                .saturating_sub(line.paid_since_statement)
                .min(line.owed.total());
            if shortfall > 0 {
                line.past_due = shortfall;
                if !line.overdue() {
                    line.overdue_since = date.plus(1);
                }
            } else {
                line.revolving = true;
            }
        }
        // 4. Statement day: bill the unbilled, use a credit balance, state the minimum.
        if date.day_of_month() == u32::from(line.statement_day) {
            let installments_due = self.bill_plans(ticks, index);
            let line = &mut self.credit.lines[index];
            let previous_balance = line.statement.balance;
            line.owed.principal += line.unbilled;
            line.unbilled = 0;
            let credit = std::mem::take(&mut line.credit_balance);
            line.credit_balance = allocate(line, &program.waterfall, credit);
            let balance = line.owed.total();
            // Installment periods are due in full, like fees, interest and penalties.
            let charges =
                (line.owed.fee + line.owed.interest + line.owed.penalty + installments_due)
                    .min(balance);
            line.statement = Statement {
                date,
                due_date: date.next_with_day(u32::from(line.due_day)),
                previous_balance,
                cycle: line.cycle,
                balance,
                minimum_payment: minimum_payment(balance, charges, line.past_due, &program),
            };
            line.cycle = Cycle::default();
            line.paid_since_statement = 0;
            line.coins_redeemed = 0;
            if balance == 0 {
                line.revolving = false;
            }
        }
    }

    /// Posts interest or a penalty on a line; false if the ledger refused it (then skipped).
    pub(super) fn charge(
        &mut self,
        ticks: &mut Ticks,
        index: usize,
        kind: Posting,
        amount: u64,
    ) -> bool {
        let line = self.credit.lines[index];
        let program = self.credit.programs[line.program];
        let credit_account_id = match kind {
            Posting::Penalty => program.penalty_account_id,
            Posting::InstallmentFee => program.fee_account_id,
            _ => program.interest_account_id,
        };
        let id = self.generated_id();
        let transfer = Transfer {
            debit_account_id: line.id,
            credit_account_id,
            amount: u128::from(amount),
            user_data_128: line.id,
            user_data_64: u64::from(self.credit.business_date.0),
            ..posting(&program, id, kind)
        };
        self.post(ticks, transfer) == CreditResult::Ok
    }

    /// Writes a line off: the loss account pays its whole net balance (if it owes one).
    fn write_off(&mut self, ticks: &mut Ticks, index: usize) {
        let line = self.credit.lines[index];
        let program = self.credit.programs[line.program];
        let net = net_balance(&self.line_account(line.id));
        if net > 0 {
            let id = self.generated_id();
            let transfer = Transfer {
                debit_account_id: program.loss_account_id,
                credit_account_id: line.id,
                amount: net.unsigned_abs(),
                user_data_128: line.id,
                user_data_64: u64::from(self.credit.business_date.0),
                ..posting(&program, id, Posting::WriteOff)
            };
            if self.post(ticks, transfer) != CreditResult::Ok {
                return;
            }
        }
        // Its plans end; its principal (billed, unbilled, on plans) is lost by all funders.
        self.end_plans(index);
        let principal = self.principal(index);
        self.lose(line.program, principal);
        let line = &mut self.credit.lines[index];
        line.written_off = u64::try_from(net.max(0)).unwrap_or(u64::MAX);
        line.owed = Owed::default();
        line.unbilled = 0;
        line.installment = 0;
        line.credit_balance = 0;
        line.past_due = 0;
        line.revolving = false;
        line.status = LineStatus::WrittenOff;
        line.limit = 0;
        line.temporary = (0, Date(0), Date(0));
    }
}

/// The borrower cap and the debt-to-income cap on a borrower's exposure in a program.
fn caps_refusal(program: &Program, exposure: u128, annual_income: u64) -> Option<CreditResult> {
    if exposure > u128::from(program.max_borrower_limit) {
        return Some(CreditResult::ExceedsBorrowerCap);
    }
    if program.dti_cap_bps > 0
        && exposure * 10_000 > u128::from(annual_income) * u128::from(program.dti_cap_bps)
    {
        return Some(CreditResult::ExceedsDebtToIncomeCap);
    }
    None
}
