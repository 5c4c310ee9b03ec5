//! The credit part of the workload: the program's accounts, programs, lines, and a mix of every
//! credit command the auditor models, drawn against the auditor's state.
//!
//! It aims at the interesting cases: few lines and few borrowers (caps bite), purchases that
//! expire, partial captures, refunds before and after the bill, repayments below the minimum,
//! at it and beyond the balance, limit cuts below use, temporary grants that lapse, freezes and
//! closes, day-close in small chunks (so one business day spans batches, and a crash can land
//! between its chunks), retries of earlier commands (exact, or with one field changed) and
//! commands with one planted defect. Business days pass quickly: statements fall a few days
//! after the start, due days a few days after them, and write-off comes after a few days
//! overdue, so one run sees bills, revolving interest, penalties and write-offs.
//!
//! With `Options::plans_percent` it also converts purchases and bills into installment plans,
//! settles plans early, redeems reward coins against bills, adds funders to a program and
//! settles their funding (`plans_command`), with the accounts and program terms these need.

use credit::math::{EarlySettlement, Pricing, Rate, RoundingMode};
use credit::{
    APPLICANT_GUARDIAN_CONFIRMED, APPLICANT_STUDENT, Command, Component, Date, LineStatus,
    PROGRAM_SIZE, PlanStatus, Program, StatusChange, StudentPolicy,
};
use engine::Request;
use ledger::{Account, AccountFlags, PendingStatus, RESERVED_ID_MIN, Transfer};

use super::remember;
use crate::auditor::{Auditor, ModelLine};
use crate::options::Options;
use stdx::Prng;

/// The operator's accounts: interest, fee, penalty, loss and recovery income and loss accounts,
/// two merchants, the bank account repayments come from, and an account on another ledger.
const INTEREST: u128 = 1001;
const FEE: u128 = 1002;
const PENALTY: u128 = 1003;
const LOSS: u128 = 1004;
const RECOVERY: u128 = 1005;
const MERCHANTS: [u128; 2] = [1010, 1011];
const BANK: u128 = 1020;
const OTHER_LEDGER: u128 = 1030;
/// With `plans_percent`: a bounded sponsor of interest-free plans, the programs' coin account
/// (on the coin ledger) and coin budget (bounded), the funding account, three funders, a coin
/// issuer and the three borrowers' coin accounts (bounded).
const SPONSOR: u128 = 1040;
const COIN_PROGRAM: u128 = 1041;
const COIN_BUDGET: u128 = 1042;
const FUNDING: u128 = 1043;
const FUNDERS: [u128; 3] = [1044, 1045, 1046];
const COIN_ISSUER: u128 = 1047;
const COIN_USERS: [u128; 3] = [1050, 1051, 1052];
const COIN_LEDGER: u32 = 9;
/// Ids of the top-ups of the budgets and the coin accounts.
const TOP_UP_BASE: u128 = 1 << 41;
/// Ids no account has.
const MISSING: u128 = 9999;
/// The ledger of the programs and their accounts.
const LEDGER: u32 = 1;
const PROGRAM_IDS: [u128; 2] = [501, 502];
/// Line ids are `LINE_BASE + 1..`; credit command ids `COMMAND_BASE..`, apart from the
/// workload's transfer ids.
const LINE_BASE: u128 = 2000;
const COMMAND_BASE: u128 = 1 << 40;
/// Earlier commands kept for retries, and authorizations for captures and voids.
const HISTORY_MAX: usize = 256;

/// What the credit workload remembers between batches.
pub struct CreditWorkload {
    id_next: u128,
    /// The valid programs, drawn at first use.
    programs: Vec<Program>,
    commands_sent: Vec<Command>,
    programs_sent: Vec<Program>,
    /// Authorizations sent: (purchase id, line id, amount).
    authorizations: Vec<(u128, u128, u64)>,
    top_up_next: u128,
}

/// The credit state the current request is drawn against.
struct View {
    business_date: Date,
    /// Ids of the lines opened.
    lines: Vec<u128>,
    /// Authorizations still open: (purchase id, line id, amount).
    open: Vec<(u128, u128, u64)>,
    /// Captured purchases: (purchase id, line id, refundable).
    purchases: Vec<(u128, u128, u64)>,
}

impl Default for CreditWorkload {
    fn default() -> Self {
        CreditWorkload::new()
    }
}

/// A day of the month in 1..=28, `offset` days after `day`.
fn day_after(day: u32, offset: u32) -> u8 {
    u8::try_from((day + offset - 1) % 28 + 1).expect("a day of the month")
}

impl CreditWorkload {
    #[must_use]
    pub fn new() -> CreditWorkload {
        CreditWorkload {
            id_next: COMMAND_BASE,
            programs: Vec::new(),
            commands_sent: Vec::new(),
            programs_sent: Vec::new(),
            authorizations: Vec::new(),
            top_up_next: TOP_UP_BASE,
        }
    }

    /// The next credit request: the operator's accounts first, then the programs, then
    /// commands.
    pub fn request(
        &mut self,
        prng: &mut Prng,
        options: &Options,
        auditor: &Auditor,
        event_count: usize,
    ) -> Request {
        let missing: Vec<Account> = operator_accounts(options)
            .into_iter()
            .filter(|a| !auditor.accounts.contains_key(&a.id))
            .collect();
        if !missing.is_empty() {
            return Request::CreateAccounts(missing);
        }
        if self.programs.is_empty() {
            self.programs = draw_programs(prng, options);
        }
        if auditor.credit.programs.is_empty() || prng.percent(2) {
            let count = event_count.clamp(1, 3);
            let programs = (0..count).map(|_| self.program(prng, options)).collect();
            return Request::CreatePrograms(programs);
        }
        if options.plans_percent > 0 && prng.percent(6) {
            return self.top_ups(prng);
        }
        let view = self.view(auditor);
        let commands = (0..event_count.min(8))
            .map(|_| self.command(prng, options, auditor, &view))
            .collect();
        Request::Credit(commands)
    }

    fn view(&mut self, auditor: &Auditor) -> View {
        let model = &auditor.credit;
        let open_now = |id: &u128| {
            auditor
                .pending
                .get(id)
                .is_some_and(|p| p.status == PendingStatus::Pending)
        };
        View {
            business_date: model.business_date,
            lines: model.lines.iter().map(|l| l.id).collect(),
            open: self
                .authorizations
                .iter()
                .filter(|(id, _, _)| open_now(id))
                .copied()
                .collect(),
            purchases: model
                .purchases
                .iter()
                .map(|(id, p)| (*id, model.lines[p.line].id, p.captured - p.refunded))
                .collect(),
        }
    }

    fn next_id(&mut self) -> u128 {
        let id = self.id_next;
        self.id_next += 1;
        id
    }

    /// A program: mostly one of the valid ones, now and then an exact retry, one with a field
    /// changed, or one with a defect.
    fn program(&mut self, prng: &mut Prng, options: &Options) -> Program {
        if prng.percent(options.duplicate_percent) && !self.programs_sent.is_empty() {
            let mut program = *prng.pick(&self.programs_sent);
            if prng.percent(30) {
                program.penalty_min_per_day += 1;
            }
            return program;
        }
        let mut program = *prng.pick(&self.programs);
        if prng.percent(options.invalid_percent.max(5)) {
            match prng.below(11) {
                0 => program.id = 0,
                1 => program.id = u128::MAX,
                2 => program.ledger = 0,
                3 => program.code = 0,
                4 => program.start_date = Date(0),
                5 => program.statement_day = 29,
                6 => program.due_day = 0,
                7 => program.min_age = 17,
                8 => program.waterfall[0] = program.waterfall[1],
                9 => program.loss_account_id = MISSING,
                _ => program.recovery_account_id = OTHER_LEDGER,
            }
        }
        if options.plans_percent > 0 && prng.percent(options.invalid_percent.max(5)) {
            match prng.below(4) {
                0 => program.coins_per_yuan = 0,
                1 => program.platform_min_share_bps = 10_001,
                2 => program.coin_funding_account_id = OTHER_LEDGER,
                _ => program.funding_account_id = MISSING,
            }
        }
        remember(prng, &mut self.programs_sent, program);
        program
    }

    fn command(
        &mut self,
        prng: &mut Prng,
        options: &Options,
        auditor: &Auditor,
        view: &View,
    ) -> Command {
        if prng.percent(options.duplicate_percent)
            && !self.commands_sent.is_empty()
            && let Some(command) = self.retry(prng)
        {
            return command;
        }
        let command = if options.plans_percent > 0 && prng.percent(options.plans_percent) {
            self.plans_command(prng, options, auditor, view)
        } else if prng.percent(options.day_close_percent) {
            day_close(prng, options, view)
        } else {
            let lines = view.lines.len() as u64;
            let open_line = if lines < options.lines_max { 30 } else { 2 };
            // No line yet: open one.
            let roll = if lines == 0 {
                100
            } else {
                prng.below(100 + open_line)
            };
            match roll {
                0..25 => self.authorize(prng, options, auditor, view),
                25..40 => self.capture(prng, view),
                40..46 => self.void(prng, view),
                46..53 => self.refund(prng, view),
                53..72 => self.repay(prng, options, auditor, view),
                72..78 => set_limit(prng, auditor, view),
                78..84 => set_temporary_limit(prng, view),
                84..100 if prng.percent(40) => set_status(prng, view),
                84..100 => self.authorize(prng, options, auditor, view),
                _ => self.open_line(prng, options, auditor, view),
            }
        };
        remember(prng, &mut self.commands_sent, command);
        command
    }

    /// An earlier command again: mostly exactly (if it answered `ok`, it must answer `exists`
    /// now), sometimes with one field changed.
    fn retry(&mut self, prng: &mut Prng) -> Option<Command> {
        let mut command = *prng.pick(&self.commands_sent);
        if prng.percent(25) {
            match &mut command {
                Command::OpenLine { borrower_id, .. } => *borrower_id = borrower_id.wrapping_add(1),
                Command::Authorize { amount, .. }
                | Command::Capture { amount, .. }
                | Command::Refund { amount, .. }
                | Command::Repay { amount, .. } => *amount = amount.wrapping_add(1),
                Command::Void { purchase_id, .. } => *purchase_id = purchase_id.wrapping_add(1),
                Command::SetLimit { limit, .. } => *limit = limit.wrapping_add(100),
                Command::ConvertInstallments { periods, .. } => {
                    *periods = if *periods == 3 { 6 } else { 3 };
                }
                Command::SettleInstallments { amount, .. } => *amount = amount.wrapping_add(1),
                Command::RedeemCoins { coins, .. } => *coins = coins.wrapping_add(1),
                _ => {}
            }
        }
        Some(command)
    }

    /// A line id: mostly one opened, sometimes one that is not.
    fn line_id(prng: &mut Prng, view: &View) -> u128 {
        if !view.lines.is_empty() && prng.percent(95) {
            *prng.pick(&view.lines)
        } else {
            LINE_BASE + 50 + u128::from(prng.below(3))
        }
    }

    /// The id of a money command: mostly new, sometimes with a defect or taken by a transfer.
    fn money_id(&mut self, prng: &mut Prng, options: &Options) -> u128 {
        if prng.percent(options.invalid_percent / 2) {
            match prng.below(5) {
                0 => 0,
                1 => u128::MAX,
                2 => RESERVED_ID_MIN + u128::from(prng.below(4)),
                // A workload transfer's id, or the next one's.
                _ => u128::from(prng.range(1, 50)),
            }
        } else {
            self.next_id()
        }
    }

    fn open_line(
        &mut self,
        prng: &mut Prng,
        options: &Options,
        auditor: &Auditor,
        view: &View,
    ) -> Command {
        let opened = |id: u128| view.lines.contains(&id);
        let next = (1..)
            .map(|n| LINE_BASE + n)
            .find(|id| !opened(*id))
            .expect("a free id");
        let id = if prng.percent(options.invalid_percent / 2) {
            match prng.below(3) {
                0 => 0,
                1 => u128::MAX,
                // An account's id.
                _ => *prng.pick(&[INTEREST, BANK, MERCHANTS[0]]),
            }
        } else {
            next
        };
        let date = view.business_date;
        let (year, month, day) = date.ymd();
        let years = match prng.below(20) {
            0 => 17,
            1 => 18,
            2 => 0,
            _ => u32::try_from(prng.range(20, 60)).expect("small"),
        };
        let birth_date = Date::from_ymd(year.saturating_sub(years), month, day.min(28))
            .map_or(date, |birth| if years == 0 { date.plus(1) } else { birth });
        let applicant = match prng.below(10) {
            0 => APPLICANT_STUDENT,
            1 => APPLICANT_STUDENT | APPLICANT_GUARDIAN_CONFIRMED,
            _ => 0,
        };
        let start = self.programs[0].start_date.day_of_month();
        let (statement_day, due_day) = match prng.below(10) {
            0..5 => (0, 0),
            5..9 => {
                let statement = day_after(start, u32::try_from(prng.below(6)).expect("small"));
                let due = day_after(
                    u32::from(statement),
                    1 + u32::try_from(prng.below(5)).expect("small"),
                );
                (statement, due)
            }
            _ => (*prng.pick(&[0, 29]), *prng.pick(&[0, 29, 5])),
        };
        let program_id = match auditor.credit.programs.as_slice() {
            [] => PROGRAM_IDS[0],
            programs if prng.percent(97) => prng.pick(programs).id,
            _ => 503,
        };
        Command::OpenLine {
            id,
            borrower_id: u128::from(prng.range(1, 3)),
            program_id,
            limit: match prng.below(10) {
                0 => 0,
                1 => 200_000,
                _ => prng.range(1_000, 20_000),
            },
            annual_income: prng.range(20_000, 1_000_000),
            birth_date,
            statement_day,
            due_day,
            applicant,
        }
    }

    fn authorize(
        &mut self,
        prng: &mut Prng,
        options: &Options,
        auditor: &Auditor,
        view: &View,
    ) -> Command {
        let id = self.money_id(prng, options);
        let line_id = Self::line_id(prng, view);
        let available = auditor
            .credit
            .line(line_id)
            .zip(auditor.accounts.get(&line_id))
            .map_or(1000, |(line, account)| {
                crate::auditor::available(
                    &account.account,
                    line.effective_limit(view.business_date),
                )
            });
        let amount = match prng.below(20) {
            0 => 0,
            1 => available,
            2 => available + 1,
            3 => prng.range(1, 30_000),
            _ => prng.range(1, (available / 3).max(1)),
        };
        let merchant_account_id = match prng.below(40) {
            0 => MISSING,
            1 => OTHER_LEDGER,
            2 => BANK,
            3 => 0,
            4 => Self::line_id(prng, view),
            _ => *prng.pick(&MERCHANTS),
        };
        let timeout = match prng.below(10) {
            0..4 => 0,
            4..8 => u32::try_from(prng.range(1, 4)).expect("small"),
            _ => 3600,
        };
        if self.authorizations.len() < HISTORY_MAX {
            self.authorizations.push((id, line_id, amount));
        } else {
            let index = prng.index(self.authorizations.len());
            self.authorizations[index] = (id, line_id, amount);
        }
        Command::Authorize {
            id,
            line_id,
            merchant_account_id,
            amount,
            timeout,
        }
    }

    /// An authorization to capture or void: mostly an open one, sometimes any sent (resolved,
    /// expired or refused), sometimes an unknown id; and its line, or sometimes another.
    fn purchase(&self, prng: &mut Prng, view: &View) -> (u128, u128, u64) {
        let roll = prng.below(100);
        let (id, line, amount) = if roll < 75 && !view.open.is_empty() {
            *prng.pick(&view.open)
        } else if roll < 95 && !self.authorizations.is_empty() {
            *prng.pick(&self.authorizations)
        } else {
            (self.id_next + 7, Self::line_id(prng, view), 100)
        };
        let line = if prng.percent(5) {
            Self::line_id(prng, view)
        } else {
            line
        };
        (id, line, amount)
    }

    fn capture(&mut self, prng: &mut Prng, view: &View) -> Command {
        let (purchase_id, line_id, authorized) = self.purchase(prng, view);
        let amount = match prng.below(10) {
            0..4 => 0,
            4..7 => prng.range(1, authorized.max(1)),
            7..9 => authorized,
            _ => authorized + 1,
        };
        Command::Capture {
            id: self.next_id(),
            line_id,
            purchase_id,
            amount,
        }
    }

    fn void(&mut self, prng: &mut Prng, view: &View) -> Command {
        let (purchase_id, line_id, _) = self.purchase(prng, view);
        Command::Void {
            id: self.next_id(),
            line_id,
            purchase_id,
        }
    }

    fn refund(&mut self, prng: &mut Prng, view: &View) -> Command {
        let (purchase_id, line_id, refundable) = if !view.purchases.is_empty() && prng.percent(90) {
            *prng.pick(&view.purchases)
        } else {
            self.purchase(prng, view)
        };
        let amount = match prng.below(10) {
            0 => 0,
            1 => refundable + 1,
            2..4 => refundable,
            _ => prng.range(1, refundable.max(1)),
        };
        Command::Refund {
            id: self.next_id(),
            line_id,
            purchase_id,
            amount,
        }
    }

    fn repay(
        &mut self,
        prng: &mut Prng,
        options: &Options,
        auditor: &Auditor,
        view: &View,
    ) -> Command {
        let id = self.money_id(prng, options);
        let line_id = Self::line_id(prng, view);
        let amount = auditor.credit.line(line_id).map_or(500, |line| {
            let owed = line.owed.total();
            let minimum = line
                .statement
                .minimum_payment
                .saturating_sub(line.paid_since_statement);
            if line.status == LineStatus::WrittenOff {
                return match prng.below(4) {
                    0 => line.written_off + 1,
                    1 => line.written_off,
                    _ => prng.range(1, line.written_off.max(1)),
                };
            }
            // Borrowers differ by line: some pay in full, some pay the minimum (they revolve),
            // some pay less or nothing (they fall overdue, pay penalties, are written off).
            let roll = prng.below(20);
            match line_id % 3 {
                _ if roll == 0 => 0,
                0 if roll < 4 => prng.range(1, minimum.max(2) - 1),
                0 => 0,
                1 if roll < 12 => minimum.max(1),
                1 if roll < 16 => minimum + prng.range(1, 200),
                _ => match roll {
                    1..5 => minimum.max(1),
                    5..8 => owed.max(1),
                    8..10 => owed + line.unbilled,
                    10 => owed + line.unbilled + prng.range(1, 500),
                    11..14 => prng.range(1, minimum.max(2) - 1),
                    _ => prng.range(1, 2_000),
                },
            }
        });
        let source_account_id = match prng.below(40) {
            0 => MISSING,
            1 => OTHER_LEDGER,
            2 => MERCHANTS[0],
            3 => 0,
            4 => Self::line_id(prng, view),
            _ => BANK,
        };
        Command::Repay {
            id,
            line_id,
            source_account_id,
            amount,
        }
    }
}

/// Installment, coin and co-funding commands (with `Options::plans_percent`).
impl CreditWorkload {
    fn plans_command(
        &mut self,
        prng: &mut Prng,
        options: &Options,
        auditor: &Auditor,
        view: &View,
    ) -> Command {
        match prng.below(100) {
            0..35 => self.convert(prng, options, auditor, view),
            35..50 => self.settle(prng, options, auditor, view),
            50..75 => self.redeem(prng, options, auditor, view),
            75..87 => add_funder(prng, view),
            _ => Command::SettleFunding {
                program_id: match prng.below(20) {
                    0..17 => PROGRAM_IDS[0],
                    17..19 => PROGRAM_IDS[1],
                    _ => 503,
                },
            },
        }
    }

    /// A conversion: mostly of a captured purchase not yet converted (its plan's principal is
    /// what is left of it), sometimes of the bill, of an open authorization, an unknown id or
    /// another line's purchase; mostly offered periods and Huabei- or Baitiao-like prices,
    /// sometimes a price above the APR cap; a sponsor now and then.
    fn convert(
        &mut self,
        prng: &mut Prng,
        options: &Options,
        auditor: &Auditor,
        view: &View,
    ) -> Command {
        let model = &auditor.credit;
        let candidates: Vec<(u128, u128)> = model
            .purchases
            .iter()
            .filter(|(_, p)| {
                let line = &model.lines[p.line];
                p.plan.is_none()
                    && p.captured > p.refunded
                    && ((p.captured_on > line.statement.date
                        && p.captured - p.refunded <= line.unbilled)
                        || prng.percent(10))
            })
            .map(|(id, p)| (*id, model.lines[p.line].id))
            .collect();
        let (purchase_id, line_id) = match prng.below(100) {
            0..75 if !candidates.is_empty() => *prng.pick(&candidates),
            0..88 => (0, Self::line_id(prng, view)),
            88..92 if !view.open.is_empty() => {
                let (id, line, _) = *prng.pick(&view.open);
                (id, line)
            }
            88..96 if !view.purchases.is_empty() => {
                let (id, _, _) = *prng.pick(&view.purchases);
                (id, Self::line_id(prng, view))
            }
            _ => (self.id_next + 7, Self::line_id(prng, view)),
        };
        let periods = if prng.percent(88) {
            *prng.pick(&[3, 6, 9, 12, 24])
        } else {
            *prng.pick(&[0, 1, 5, 36, 255])
        };
        let pricing = match prng.below(20) {
            0..13 => Pricing::TotalRate(Rate(*prng.pick(&[
                250_000_000,
                450_000_000,
                650_000_000,
                880_000_000,
            ]))),
            13..17 => Pricing::MonthlyRate(Rate(*prng.pick(&[50_000_000, 75_000_000]))),
            17 => Pricing::TotalRate(Rate(0)),
            // Far above the 24% cap, unless a sponsor pays it.
            _ => Pricing::TotalRate(Rate(5_000_000_000)),
        };
        let sponsor_account_id = match prng.below(20) {
            0..14 => 0,
            14..18 => SPONSOR,
            18 => BANK,
            _ => *prng.pick(&[MISSING, OTHER_LEDGER]),
        };
        Command::ConvertInstallments {
            id: self.money_id(prng, options),
            line_id,
            purchase_id,
            periods,
            pricing,
            sponsor_account_id,
        }
    }

    /// An early settlement: mostly of an active plan, by its line, for 0 (whatever is due) or
    /// the exact total, sometimes one fen off, of an ended or unknown plan, another line's.
    fn settle(
        &mut self,
        prng: &mut Prng,
        options: &Options,
        auditor: &Auditor,
        view: &View,
    ) -> Command {
        let model = &auditor.credit;
        let active: Vec<u128> = model
            .plans
            .iter()
            .filter(|p| p.status == PlanStatus::Active)
            .map(|p| p.id)
            .collect();
        let plan_id = match prng.below(10) {
            0..8 if !active.is_empty() => *prng.pick(&active),
            0..9 if !model.plans.is_empty() => prng.pick(&model.plans).id,
            _ => self.id_next + 9,
        };
        let line_id = match model.plan(plan_id) {
            Some(plan) if prng.percent(95) => model.lines[plan.line].id,
            _ => Self::line_id(prng, view),
        };
        let total = auditor.settlement_total(plan_id).unwrap_or(1_000);
        let amount = match prng.below(10) {
            0..5 => 0,
            5..8 => total,
            8 => total + 1,
            _ => total.saturating_sub(1),
        };
        let source_account_id = match prng.below(20) {
            0..17 => BANK,
            17 => MISSING,
            18 => SPONSOR,
            _ => Self::line_id(prng, view),
        };
        Command::SettleInstallments {
            id: self.money_id(prng, options),
            line_id,
            plan_id,
            source_account_id,
            amount,
        }
    }

    /// A redemption from the borrower's coin account (sometimes another's, a missing one, one
    /// on the wrong ledger), mostly worth what the cap and the bill allow, sometimes one unit
    /// over, none, or a number of coins that is not a whole fen.
    fn redeem(
        &mut self,
        prng: &mut Prng,
        options: &Options,
        auditor: &Auditor,
        view: &View,
    ) -> Command {
        // What coins may pay on a line now: at most the cap left and what is billed.
        let value_max = |line: &ModelLine| {
            let program = &auditor.credit.programs[line.program];
            u64::try_from(
                u128::from(line.statement.balance) * u128::from(program.coin_cap_bps) / 10_000,
            )
            .unwrap_or(u64::MAX)
            .saturating_sub(line.coins_redeemed)
            .min(line.owed.total())
        };
        // Mostly a line with a bill coins may pay (some of), in a program that offers coins.
        let billed: Vec<u128> = auditor
            .credit
            .lines
            .iter()
            .filter(|l| {
                auditor.credit.programs[l.program].coin_account_id != 0 && value_max(l) >= 10
            })
            .map(|l| l.id)
            .collect();
        let line_id = if !billed.is_empty() && prng.percent(80) {
            *prng.pick(&billed)
        } else {
            Self::line_id(prng, view)
        };
        let line = auditor.credit.line(line_id);
        let coin_account_id = match (prng.below(20), line) {
            (0..17, Some(line)) => {
                COIN_USERS[usize::try_from((line.borrower_id + 2) % 3).expect("small")]
            }
            (17, _) => MISSING,
            (18, _) => BANK,
            _ => *prng.pick(&COIN_USERS),
        };
        let (value_max, per_yuan) = line.map_or((100, 100), |line| {
            let program = &auditor.credit.programs[line.program];
            (value_max(line), u64::from(program.coins_per_yuan.max(1)))
        });
        // Coins come in units worth whole fen: `unit_coins` coins are worth `unit_value` fen.
        let g = gcd(100, per_yuan);
        let (unit_coins, unit_value) = (per_yuan / g, 100 / g);
        let value = match prng.below(10) {
            0..7 => prng.range(1, value_max.max(1)),
            7 => value_max,
            _ => value_max + unit_value,
        };
        let coins = match prng.below(20) {
            0 => 0,
            1 => prng.range(1, 1_000),
            _ => (value / unit_value).max(1) * unit_coins,
        };
        Command::RedeemCoins {
            id: self.money_id(prng, options),
            line_id,
            coin_account_id,
            coins,
        }
    }

    /// Top-ups: the sponsor's and the coin budgets from the bank, and the borrowers' coins.
    fn top_ups(&mut self, prng: &mut Prng) -> Request {
        let count = prng.range(1, 3);
        let transfers = (0..count)
            .map(|_| {
                let (debit, credit, ledger) = match prng.below(3) {
                    0 => (BANK, SPONSOR, LEDGER),
                    1 => (BANK, COIN_BUDGET, LEDGER),
                    _ => (COIN_ISSUER, *prng.pick(&COIN_USERS), COIN_LEDGER),
                };
                self.top_up_next += 1;
                Transfer {
                    id: self.top_up_next,
                    debit_account_id: debit,
                    credit_account_id: credit,
                    amount: u128::from(prng.range(100, 5_000)),
                    ledger,
                    code: 9,
                    ..Transfer::default()
                }
            })
            .collect();
        Request::CreateTransfers(transfers)
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// A funder: mostly one of three with a share of 5-30%, sometimes the funding account, a
/// line, a missing or other-ledger account, a zero or whole share, an unknown program.
fn add_funder(prng: &mut Prng, view: &View) -> Command {
    let program_id = match prng.below(20) {
        0..17 => PROGRAM_IDS[0],
        17..19 => PROGRAM_IDS[1],
        _ => 503,
    };
    let account_id = match prng.below(20) {
        0..15 => *prng.pick(&FUNDERS),
        15 => FUNDING,
        16 => MISSING,
        17 => OTHER_LEDGER,
        _ => CreditWorkload::line_id(prng, view),
    };
    let share_bps = match prng.below(10) {
        0..7 => u16::try_from(prng.range(500, 3_000)).expect("small"),
        7 => 0,
        8 => 10_000,
        _ => 7_000,
    };
    Command::AddFunder {
        program_id,
        account_id,
        share_bps,
    }
}

fn day_close(prng: &mut Prng, options: &Options, view: &View) -> Command {
    let date = match prng.below(20) {
        0 => Date(view.business_date.0.saturating_sub(1)),
        1 => view.business_date.plus(1),
        _ => view.business_date,
    };
    let max_lines = match prng.below(40) {
        0 => 0,
        1 => 1000,
        _ => u32::try_from(prng.range(1, options.day_close_chunk_max)).expect("small"),
    };
    Command::DayClose { date, max_lines }
}

fn set_limit(prng: &mut Prng, auditor: &Auditor, view: &View) -> Command {
    let line_id = CreditWorkload::line_id(prng, view);
    let current = auditor.credit.line(line_id).map_or(5_000, |l| l.limit);
    let limit = match prng.below(5) {
        0 => prng.range(0, current),
        1 => 0,
        2 => current + prng.range(1, 100_000),
        _ => current + prng.range(1, 5_000),
    };
    Command::SetLimit { line_id, limit }
}

fn set_temporary_limit(prng: &mut Prng, view: &View) -> Command {
    let today = view.business_date.0;
    // Mostly a window from about today, a few days long.
    let from = today - 1 + u32::try_from(prng.below(3)).expect("small");
    let to = from + u32::try_from(prng.below(6)).expect("small");
    let (from, to) = match prng.below(10) {
        0 => (to + 1, from),
        1 => (today - 5, today - 2),
        _ => (from, to),
    };
    Command::SetTemporaryLimit {
        line_id: CreditWorkload::line_id(prng, view),
        amount: if prng.percent(20) {
            0
        } else {
            prng.range(500, 20_000)
        },
        from: Date(from),
        to: Date(to),
    }
}

fn set_status(prng: &mut Prng, view: &View) -> Command {
    let change = match prng.below(10) {
        0..2 => StatusChange::Freeze,
        2..8 => StatusChange::Unfreeze,
        _ => StatusChange::Close,
    };
    Command::SetStatus {
        line_id: CreditWorkload::line_id(prng, view),
        change,
    }
}

/// The operator's accounts, created before the programs.
fn operator_accounts(options: &Options) -> Vec<Account> {
    let account = |id, ledger| Account {
        id,
        ledger,
        code: 9,
        ..Account::default()
    };
    let mut accounts: Vec<Account> = [INTEREST, FEE, PENALTY, LOSS, RECOVERY, BANK]
        .into_iter()
        .chain(MERCHANTS)
        .map(|id| account(id, LEDGER))
        .collect();
    accounts.push(account(OTHER_LEDGER, LEDGER + 1));
    if options.plans_percent > 0 {
        let bounded = |id, ledger| Account {
            flags: AccountFlags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
            ..account(id, ledger)
        };
        accounts.push(bounded(SPONSOR, LEDGER));
        accounts.push(account(COIN_PROGRAM, COIN_LEDGER));
        accounts.push(bounded(COIN_BUDGET, LEDGER));
        accounts.push(account(FUNDING, LEDGER));
        accounts.extend(FUNDERS.map(|id| account(id, LEDGER)));
        accounts.push(account(COIN_ISSUER, COIN_LEDGER));
        accounts.extend(COIN_USERS.map(|id| bounded(id, COIN_LEDGER)));
    }
    accounts
}

/// The seed's two valid programs: the same start date, different terms.
fn draw_programs(prng: &mut Prng, options: &Options) -> Vec<Program> {
    let start_date = Date::from_ymd(
        2026,
        u32::try_from(prng.range(1, 12)).expect("small"),
        u32::try_from(prng.range(1, 28)).expect("small"),
    )
    .expect("a valid date");
    let start = start_date.day_of_month();
    PROGRAM_IDS
        .iter()
        .enumerate()
        .map(|(index, &id)| {
            // Every optional feature the credit engine grows (coins, co-funding, ...) is off in
            // a zeroed record.
            let mut p = Program::from_bytes(&[0; PROGRAM_SIZE]).expect("a zeroed program decodes");
            let statement_day = day_after(start, 1 + u32::try_from(prng.below(4)).expect("small"));
            let mut waterfall = Component::ALL;
            for i in (1..waterfall.len()).rev() {
                waterfall.swap(i, prng.index(i + 1));
            }
            p.id = id;
            p.ledger = LEDGER;
            p.code = 7 + u16::try_from(index).expect("small");
            p.interest_account_id = INTEREST;
            p.fee_account_id = FEE;
            p.penalty_account_id = PENALTY;
            p.loss_account_id = LOSS;
            p.recovery_account_id = RECOVERY;
            p.start_date = start_date;
            p.statement_day = statement_day;
            p.due_day = day_after(
                u32::from(statement_day),
                1 + u32::try_from(prng.below(5)).expect("small"),
            );
            p.min_payment_rate = Rate(*prng.pick(&[500_000_000, 1_000_000_000, 10_000_000_000]));
            p.min_payment_floor = *prng.pick(&[0, 100, 1_000]);
            p.interest_daily_rate = Rate(*prng.pick(&[5_000_000, 50_000_000, 100_000_000]));
            p.penalty_daily_rate = Rate(*prng.pick(&[5_000_000, 50_000_000, 150_000_000]));
            p.penalty_min_per_day = *prng.pick(&[0, 1, 50]);
            p.write_off_days = options.write_off_days;
            p.apr_cap = Rate(2_400_000_000);
            p.max_borrower_limit = *prng.pick(&[30_000, 60_000, 1_000_000]);
            p.dti_cap_bps = *prng.pick(&[0, 5_000]);
            p.min_age = *prng.pick(&[18, 20]);
            p.student_policy = *prng.pick(&[StudentPolicy::Block, StudentPolicy::RequireGuardian]);
            p.waterfall = waterfall;
            p.rounding = *prng.pick(&[
                RoundingMode::HalfUp,
                RoundingMode::HalfEven,
                RoundingMode::Down,
            ]);
            p
        })
        .collect::<Vec<Program>>()
        .into_iter()
        .enumerate()
        .map(|(index, mut p)| {
            // Drawn after every program's other terms, only with the option: a seed without
            // it draws the programs it drew before.
            if options.plans_percent > 0 {
                if index == 0 || prng.percent(50) {
                    p.coin_account_id = COIN_PROGRAM;
                    p.coin_funding_account_id = COIN_BUDGET;
                    p.coins_per_yuan = *prng.pick(&[100, 1000, 30]);
                    p.coin_cap_bps = *prng.pick(&[1_000, 5_000, 10_000]);
                }
                if index == 0 {
                    p.funding_account_id = FUNDING;
                    p.platform_min_share_bps = *prng.pick(&[3_000, 5_000]);
                }
                p.early_settlement = *prng.pick(&[
                    EarlySettlement::ChargeAllRemaining,
                    EarlySettlement::WaiveRemaining,
                    EarlySettlement::ProRata,
                ]);
            }
            p
        })
        .collect()
}
