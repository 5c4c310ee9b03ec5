//! The credit state machine: programs, lines, purchases, repayment and day-close, posting every
//! money movement to the ledger.
//!
//! Each line is one ledger account (its receivable, id = line id, debit-normal): purchases
//! debit it, refunds and repayments credit it, interest and penalties debit it, a write-off
//! credits it. The ledger holds the money; this module holds what the money means: the
//! components owed (principal, fee, interest, penalty), billed or not, the last statement, the
//! overdue state. Invariants (checked by `check_lines`, with the others of `check.rs`): the
//! line account's net debit balance equals owed + unbilled + installment − credit balance, and
//! a credit balance never sits beside a billed or unbilled debt (it may beside installment
//! principal not yet billed: the statement that bills a period applies it).
//!
//! Validate, then apply: every command decides its result before it changes anything; the one
//! ledger transfer it posts is the last check (the ledger may still refuse, e.g. an unknown
//! merchant account), and credit state changes only after the ledger accepted it.

use ledger::{
    Account, AccountFlags, CreateTransferResult, Ledger, PendingStatus, PrefetchKey,
    RESERVED_ID_MIN, Transfer, TransferFlags,
};
use std::hash::BuildHasher;
use stdx::{IdHashBuilder, IdIndex, IdMap, id_map};

use crate::command::{
    APPLICANT_GUARDIAN_CONFIRMED, APPLICANT_STUDENT, Command, Component, Program, StatusChange,
    StudentPolicy,
};
use crate::date::Date;
use crate::funding::Funding;
use crate::math;
use crate::plans::{Plan, PlanStatus};
use crate::result::CreditResult;

/// A one-step purchase ([`Credit::purchase_linked`]): `amount` on line `line_id` at a merchant,
/// `id` both the purchase's and its transfer's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Purchased {
    pub id: u128,
    pub line_id: u128,
    pub merchant_account_id: u128,
    pub amount: u64,
}

/// What a transfer posted by the credit engine is for, in its `user_data_32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Posting {
    Authorization = 1,
    Capture = 2,
    Void = 3,
    Refund = 4,
    Repayment = 5,
    Interest = 6,
    Penalty = 7,
    WriteOff = 8,
    Recovery = 9,
    /// Installment fees billed on a statement (borrower) or paid at conversion (sponsor).
    InstallmentFee = 10,
    /// Early settlement of an installment plan: principal, and the fee the rule makes due.
    Settlement = 11,
    SettlementFee = 12,
    /// Coins back to the platform, and their value paid to the line.
    CoinRedemption = 13,
    CoinValue = 14,
    /// Co-funding settlement: net cash with a funder, and a funder's share of losses.
    FundingCash = 15,
    FundingLoss = 16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum LineStatus {
    Active = 0,
    Frozen = 1,
    Closed = 2,
    WrittenOff = 3,
}

/// Amounts owed by component, billed (on a statement) and not yet repaid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Owed {
    pub penalty: u64,
    pub fee: u64,
    pub interest: u64,
    pub principal: u64,
}

impl Owed {
    /// No overflow: a line's components, with its unbilled and installment principal, fit in
    /// `u64` together (`Line::debt`).
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

/// Movements since the last statement (what the next statement lists).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cycle {
    pub purchases: u64,
    pub refunds: u64,
    pub repayments: u64,
    pub fees: u64,
    pub interest: u64,
    pub penalties: u64,
    /// Installment principal billed (periods of plans falling due on this statement).
    pub installments: u64,
}

/// A monthly statement (bill). `date` 0 means none yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Statement {
    pub date: Date,
    pub due_date: Date,
    pub previous_balance: u64,
    pub cycle: Cycle,
    /// Everything billed and unpaid at the statement date.
    pub balance: u64,
    pub minimum_payment: u64,
}

/// A temporary limit on top of the permanent one, valid `from..=to`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TemporaryLimit {
    pub amount: u64,
    pub from: Date,
    pub to: Date,
}

/// A consumer's credit line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line {
    pub id: u128,
    pub borrower_id: u128,
    pub program: u32,
    pub status: LineStatus,
    pub statement_day: u8,
    pub due_day: u8,
    pub applicant: u8,
    pub birth_date: Date,
    pub limit: u64,
    pub temporary: TemporaryLimit,
    pub annual_income: u64,
    pub owed: Owed,
    /// Principal of purchases since the last statement, net of refunds.
    pub unbilled: u64,
    /// Principal of installment plans not yet billed.
    pub installment: u64,
    /// Value of coins redeemed since the last statement (fen).
    pub coins_redeemed: u64,
    /// Overpayment and refunds beyond what is owed: a liability to the borrower.
    pub credit_balance: u64,
    pub statement: Statement,
    pub cycle: Cycle,
    pub paid_since_statement: u64,
    /// The part of the missed minimum payment still unpaid.
    pub past_due: u64,
    /// First day overdue; `Date(0)` when not overdue.
    pub overdue_since: Date,
    /// Daily interest accrues on the unpaid statement balance (minimum paid, not in full).
    pub revolving: bool,
    pub written_off: u64,
}

impl Line {
    /// Whether the end of `date` (day of the month `day`) leaves this line as it is: gone, or
    /// nothing accrues, lapses, falls due or is billed. Most lines on most days: the day-close
    /// skips them without further work.
    fn quiet_on(&self, date: Date, day: u32) -> bool {
        matches!(self.status, LineStatus::Closed | LineStatus::WrittenOff)
            || (!self.overdue()
                && !self.revolving
                && self.temporary.amount == 0
                && self.statement.due_date != date
                && u32::from(self.statement_day) != day)
    }

    /// Principal owed in every form: billed, unbilled and on installment plans (no overflow:
    /// a part of `Line::debt`).
    #[must_use]
    pub fn principal(&self) -> u64 {
        self.owed.principal + self.unbilled + self.installment
    }

    /// Everything the line owes, billed or not: owed + unbilled + installment, its account's
    /// net debit balance plus any credit balance.
    ///
    /// No overflow, by the line-total invariant (`check_records`): a command that grows a
    /// component checks this sum first (`overflows_line_counters`), a day-close posts no charge
    /// that would break it, and moving principal between components keeps it.
    pub(crate) fn debt(&self) -> u64 {
        self.owed.total() + self.unbilled + self.installment
    }

    /// The limit in force on `date`: permanent plus a temporary grant whose window holds it.
    #[must_use]
    pub fn effective_limit(&self, date: Date) -> u64 {
        let t = &self.temporary;
        let temporary = if t.from <= date && date <= t.to {
            t.amount
        } else {
            0
        };
        // Exact, never saturating: a raise whose limit and grant overflow together is refused
        // (`exceeds_borrower_cap`), and a decoded line must fit (`check_records`).
        self.limit.saturating_add(temporary)
    }

    /// What counts against the borrower cap: the permanent limit plus any temporary grant
    /// (exact, as for `effective_limit`).
    pub(crate) fn exposure(&self) -> u64 {
        self.limit.saturating_add(self.temporary.amount)
    }

    #[must_use]
    pub fn overdue(&self) -> bool {
        self.overdue_since != Date(0)
    }

    /// Days overdue on `date` (0 when not overdue).
    #[must_use]
    pub fn days_overdue(&self, date: Date) -> u32 {
        if self.overdue() {
            date.0.saturating_sub(self.overdue_since.0) + 1
        } else {
            0
        }
    }
}

/// Aging bucket of a line by days overdue.
#[must_use]
pub fn aging_bucket(days_overdue: u32) -> &'static str {
    match days_overdue {
        0 => "current",
        1..=30 => "1-30",
        31..=60 => "31-60",
        61..=90 => "61-90",
        _ => "90+",
    }
}

/// A captured purchase, kept for refunds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Purchase {
    pub line: u32,
    pub merchant_account_id: u128,
    pub captured: u64,
    pub refunded: u64,
    /// The business date of the capture (billed by the statement of that date or later).
    pub captured_on: Date,
    /// The installment plan it was converted into (`NO_PLAN`: none).
    pub plan: u32,
}

/// `Purchase::plan` of a purchase not converted into installments.
pub const NO_PLAN: u32 = u32::MAX;

/// A line as a client sees it: the line, its ledger balances and what it may still spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineView {
    pub line: Line,
    pub effective_limit: u64,
    /// Held by open authorizations.
    pub held: u64,
    /// Net owed: owed + unbilled − credit balance (negative: the borrower is in credit).
    pub balance: i128,
    pub available: u64,
    pub days_overdue: u32,
}

/// The credit engine's whole state.
pub struct Credit {
    pub(crate) programs: Vec<Program>,
    pub(crate) program_index: IdMap<u128, u32>,
    pub(crate) lines: Vec<Line>,
    /// Lines by the hash of their id (confirmed against `lines`): see `find_line`.
    pub(crate) line_index: IdIndex,
    pub(crate) hasher: IdHashBuilder,
    /// Sum of line exposures per borrower, one map per program (by program index): the key is
    /// exactly the client's borrower id, so no two borrowers ever share a cap. Not in
    /// snapshots: rebuilt from the lines on decode.
    pub(crate) borrowers: Vec<IdMap<u128, u64>>,
    pub(crate) purchases: IdMap<u128, Purchase>,
    /// The business date being traded; 0 until the first program.
    pub(crate) business_date: Date,
    /// The next line the current day-close handles.
    pub(crate) close_cursor: u32,
    /// Sequence of the ids of transfers this engine generates (`RESERVED_ID_MIN + n`).
    pub(crate) generated: u64,
    /// Installment plans in creation order, by id, and the active ones of each line (by index).
    pub(crate) plans: Vec<Plan>,
    pub(crate) plan_index: IdMap<u128, u32>,
    pub(crate) line_plans: IdMap<u32, Vec<u32>>,
    /// Who funds each program's principal (same index as `programs`).
    pub(crate) funding: Vec<Funding>,
    /// Scratch for the ledger's results of one posting.
    results: Vec<CreateTransferResult>,
    /// Transfers another product module links before the one transfer of the command being
    /// executed (`execute_linked`); empty otherwise. Never in a snapshot.
    prefix: Vec<Transfer>,
    /// Where the last failed linked posting failed: `Some(i)` for `prefix[i]`.
    prefix_failure: Option<usize>,
}

/// Ledger timestamps a command may use, and how many it used.
pub(crate) struct Clock {
    next: u64,
    /// Timestamps not used yet: counted, not an end timestamp, so a budget ending at `u64::MAX`
    /// (engine time at its very end) needs no arithmetic past it.
    left: u64,
}

impl Clock {
    /// The `count` timestamps from `first` (the engine hands out only ranges that fit in u64).
    pub(crate) fn new(first: u64, count: u64) -> Clock {
        Clock {
            next: first,
            left: count,
        }
    }

    /// The timestamp argument for posting one event (the ledger gives it exactly this one).
    pub(crate) fn tick(&mut self) -> u64 {
        assert!(self.left > 0, "credit command over its timestamp budget");
        self.left -= 1;
        let t = self.next;
        // Saturates only after the last timestamp of u64, which `left` then forbids using.
        self.next = t.saturating_add(1);
        t
    }
}

/// Whether every `(counter, amount)` addition fits in `u64`: what a command checks, before it
/// changes anything, of the counters it will add to.
pub(crate) fn fits(additions: &[(u64, u64)]) -> bool {
    additions
        .iter()
        .all(|&(counter, amount)| counter.checked_add(amount).is_some())
}

impl Credit {
    #[must_use]
    pub fn new(hash_key: u64) -> Credit {
        Credit {
            programs: Vec::new(),
            program_index: id_map(hash_key),
            lines: Vec::new(),
            line_index: IdIndex::new(),
            hasher: IdHashBuilder::new(hash_key),
            borrowers: Vec::new(),
            purchases: id_map(hash_key),
            business_date: Date(0),
            close_cursor: 0,
            generated: 0,
            plans: Vec::new(),
            plan_index: id_map(hash_key),
            line_plans: id_map(hash_key),
            funding: Vec::new(),
            results: Vec::with_capacity(2),
            prefix: Vec::new(),
            prefix_failure: None,
        }
    }

    #[must_use]
    pub fn business_date(&self) -> Date {
        self.business_date
    }

    /// Lines the running day-close has handled for the current business date.
    #[must_use]
    pub fn day_close_progress(&self) -> (u32, u32) {
        (self.close_cursor, self.line_count())
    }

    /// The index in `lines` of the line with this id.
    pub(crate) fn find_line(&self, id: u128) -> Option<u32> {
        self.line_index
            .find(self.hasher.hash_one(id), |index| {
                self.lines[usize::try_from(index).expect("line indexes fit")].id == id
            })
            .map(|index| u32::try_from(index).expect("line indexes are u32"))
    }

    /// An empty map of borrowers' exposures in one program.
    pub(crate) fn borrower_map(&self) -> IdMap<u128, u64> {
        IdMap::with_hasher(self.hasher)
    }

    /// Indexes the line stored at `index` under its id (not indexed yet).
    pub(crate) fn index_line(&mut self, id: u128, index: u32) {
        let hash = self.hasher.hash_one(id);
        self.line_index.insert(hash, u64::from(index));
    }

    #[must_use]
    pub fn line_count(&self) -> u32 {
        u32::try_from(self.lines.len()).expect("line count fits u32")
    }

    #[must_use]
    pub fn program(&self, id: u128) -> Option<&Program> {
        self.program_index
            .get(&id)
            .map(|&i| &self.programs[i as usize])
    }

    #[must_use]
    pub fn line(&self, id: u128) -> Option<&Line> {
        self.find_line(id).map(|i| &self.lines[i as usize])
    }

    #[must_use]
    pub fn purchase(&self, id: u128) -> Option<&Purchase> {
        self.purchases.get(&id)
    }

    /// The line with its balances and available credit, read from the ledger.
    #[must_use]
    pub fn line_view(&self, ledger: &Ledger, id: u128) -> Option<LineView> {
        let line = *self.line(id)?;
        let (account, _) = ledger.lookup_account(id)?;
        let effective_limit = line.effective_limit(self.business_date);
        Some(LineView {
            line,
            effective_limit,
            held: narrow(account.debits_pending),
            balance: net_balance(&account),
            available: available(&account, effective_limit),
            days_overdue: line.days_overdue(self.business_date),
        })
    }

    /// Panics unless the credit state is consistent with itself and with `ledger` (every
    /// invariant of `Credit::check_consistency`, `check.rs`): the invariant tests and the
    /// simulator check after every step. Recovery runs the same checks as errors.
    pub fn check_lines(&self, ledger: &Ledger) {
        if let Err(error) = self.check_consistency(ledger) {
            panic!("{error}");
        }
    }

    /// Transfer ids a batch of commands may find already stored: the shell prefetches their
    /// records before apply (see `ledger::Ledger::prefetch_needs`).
    pub fn prefetch_keys(commands: &[Command], out: &mut Vec<PrefetchKey>) {
        out.extend(commands.iter().filter_map(|command| {
            let id = command.transfer_id()?;
            Some(PrefetchKey {
                id,
                resolves: command.purchase_id(),
            })
        }));
    }

    /// Reads what applying `commands` will read first: each command's line (its index entry
    /// and hot fields), the line's ledger account, and the id-index buckets of the transfer it
    /// posts and of the purchase it resolves. One pass over a run of commands has their cache
    /// misses in flight together; applying them one at a time would wait for each in turn.
    /// Changes nothing; the engine calls it on short runs, so that what it reads is still in
    /// cache when the commands apply.
    pub fn touch(&self, ledger: &Ledger, commands: &[Command]) {
        let mut sink = 0u64;
        // A first pass over the index buckets alone (as `Promotions::touch` does for
        // checkouts) was 3% slower here: authorizations/s 592-607k without, 576-592k with
        // (`bench credit --mode state-machine`, 3 runs each).
        for command in commands {
            if let Some(id) = command.transfer_id() {
                sink ^= ledger.touch_transfer_id(id);
            }
            if let Some(id) = command.purchase_id() {
                sink ^= ledger.touch_transfer_id(id);
            }
            if let Some(line_id) = command.line_id() {
                sink ^= self.touch_line(line_id) ^ ledger.touch_account(line_id);
            }
        }
        std::hint::black_box(sink);
    }

    /// Reads only the index bucket a lookup of line `line_id` probes first (see
    /// `Ledger::touch_account_home`).
    #[must_use]
    pub fn touch_line_home(&self, line_id: u128) -> u64 {
        self.line_index.touch(self.hasher.hash_one(line_id))
    }

    /// Reads the line's index entry and the fields a purchase reads first, for a touch pass
    /// (see [`Credit::touch`]); 0 when there is no such line. Returns a value read, for the
    /// caller to pass to `std::hint::black_box`.
    #[must_use]
    pub fn touch_line(&self, line_id: u128) -> u64 {
        self.find_line(line_id).map_or(0, |index| {
            let line = &self.lines[index as usize];
            line.limit ^ line.cycle.purchases ^ u64::from(line.overdue_since.0)
        })
    }

    // ---------------------------------------------------------------------------------------
    // Programs.

    /// Creates a program (it uses no ledger timestamp: it only reads accounts).
    pub fn create_program(&mut self, ledger: &Ledger, p: &Program) -> CreditResult {
        use CreditResult as R;
        if p.id == 0 {
            return R::IdMustNotBeZero;
        }
        if p.id == u128::MAX {
            return R::IdMustNotBeIntMax;
        }
        if let Some(existing) = self.program(p.id) {
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
        if self.business_date == Date(0) && p.start_date == Date(0) {
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
        if !waterfall_is_permutation(&p.waterfall) {
            return R::WaterfallInvalid;
        }
        for id in [
            p.interest_account_id,
            p.fee_account_id,
            p.penalty_account_id,
            p.loss_account_id,
            p.recovery_account_id,
        ] {
            match ledger.lookup_account(id) {
                None => return R::ProgramAccountNotFound,
                Some((account, _)) if account.ledger != p.ledger => {
                    return R::ProgramAccountLedgerMismatch;
                }
                Some(_) => {}
            }
        }
        if p.coin_account_id != 0 {
            if p.coins_per_yuan == 0 || p.coin_cap_bps > 10_000 {
                return R::CoinTermsInvalid;
            }
            let coin = ledger.lookup_account(p.coin_account_id);
            match ledger.lookup_account(p.coin_funding_account_id) {
                _ if coin.is_none() => return R::ProgramAccountNotFound,
                None => return R::ProgramAccountNotFound,
                Some((account, _)) if account.ledger != p.ledger => {
                    return R::ProgramAccountLedgerMismatch;
                }
                Some(_) => {}
            }
        }
        if p.platform_min_share_bps > 10_000 {
            return R::PlatformMinShareInvalid;
        }
        if p.funding_account_id != 0 {
            match ledger.lookup_account(p.funding_account_id) {
                None => return R::ProgramAccountNotFound,
                Some((account, _)) if account.ledger != p.ledger => {
                    return R::ProgramAccountLedgerMismatch;
                }
                Some(_) => {}
            }
        }
        if self.business_date == Date(0) {
            self.business_date = p.start_date;
        }
        let index = u32::try_from(self.programs.len()).expect("program count fits u32");
        self.programs.push(*p);
        self.borrowers.push(self.borrower_map());
        self.funding.push(Funding::default());
        self.program_index.insert(p.id, index);
        R::Ok
    }

    // ---------------------------------------------------------------------------------------
    // Commands.

    /// Executes one command. It may post ledger events with timestamps from `first` to
    /// `first + command.timestamp_count() - 1`, in order.
    pub fn execute(&mut self, ledger: &mut Ledger, first: u64, command: &Command) -> CreditResult {
        let mut clock = Clock::new(first, command.timestamp_count());
        self.run(ledger, &mut clock, command)
    }

    fn run(&mut self, ledger: &mut Ledger, clock: &mut Clock, command: &Command) -> CreditResult {
        // An authorization, the peak path, changes no principal: no second lookup of its line.
        self.following(command.principal_line_id(), |credit| {
            credit.dispatch(ledger, clock, command)
        })
    }

    /// Runs `f`, then has co-funding follow the principal of line `line_id` (if it is one), as
    /// for every command that may change it.
    fn following(
        &mut self,
        line_id: Option<u128>,
        f: impl FnOnce(&mut Credit) -> CreditResult,
    ) -> CreditResult {
        let tracked = line_id
            .and_then(|id| self.find_line(id))
            .map(|index| (index, self.lines[index as usize].principal()));
        let result = f(self);
        if let Some((index, before)) = tracked {
            self.follow_principal(index, before);
        }
        result
    }

    /// Runs `f` with `prefix` to post before its own transfer in one linked chain (`post`), and
    /// [`Credit::prefix_failure`] cleared for it.
    fn with_prefix(
        &mut self,
        prefix: &[Transfer],
        f: impl FnOnce(&mut Credit) -> CreditResult,
    ) -> CreditResult {
        self.prefix.clear();
        self.prefix.extend_from_slice(prefix);
        self.prefix_failure = None;
        let result = f(self);
        self.prefix.clear();
        result
    }

    /// Executes a purchase command (authorize, capture, void, refund) with `prefix` posted
    /// before its own transfer in one linked chain: all of them or none. Another product module
    /// (promotions) uses it to move its money in the same atomic step as the purchase. The
    /// command takes `command.timestamp_count() + prefix.len()` timestamps from `first`.
    ///
    /// On a refusal caused by a prefix transfer, the result is that transfer's mapped code and
    /// [`Credit::prefix_failure`] says which one.
    ///
    /// # Panics
    /// If `command` is not one of those four (a caller's bug).
    pub fn execute_linked(
        &mut self,
        ledger: &mut Ledger,
        first: u64,
        command: &Command,
        prefix: &[Transfer],
    ) -> CreditResult {
        assert!(
            matches!(
                command,
                Command::Authorize { .. }
                    | Command::Capture { .. }
                    | Command::Void { .. }
                    | Command::Refund { .. }
            ),
            "only purchase commands link"
        );
        let mut clock = Clock::new(first, command.timestamp_count() + prefix.len() as u64);
        self.with_prefix(prefix, |credit| credit.run(ledger, &mut clock, command))
    }

    /// A one-step purchase on a line, with `prefix` posted before it in one linked chain: an
    /// authorization and its full capture at once, as one posted transfer line → merchant
    /// (posting `Capture`, id `id`), for another product module (a promotions checkout made and
    /// captured together). It is refused exactly where the authorization or the capture would
    /// be; once posted it is a captured purchase `id` like any other (refund, installments,
    /// billing). Takes `prefix.len() + 1` timestamps from `first`.
    ///
    /// On a refusal caused by a prefix transfer, [`Credit::prefix_failure`] says which one.
    pub fn purchase_linked(
        &mut self,
        ledger: &mut Ledger,
        first: u64,
        purchase: Purchased,
        prefix: &[Transfer],
    ) -> CreditResult {
        let mut clock = Clock::new(first, prefix.len() as u64 + 1);
        self.with_prefix(prefix, |credit| {
            credit.following(Some(purchase.line_id), |credit| {
                credit.purchase_now(ledger, &mut clock, purchase)
            })
        })
    }

    /// Credits a line's bill from an account the engine's product modules own (a promotions
    /// budget paying a red packet as a bill credit): a repayment in every respect (waterfall,
    /// past due, overdue, a credit balance for any excess), except that its source may be a
    /// managed account. One ledger timestamp, `first`; `id` is the repayment's transfer id.
    pub fn credit_bill(
        &mut self,
        ledger: &mut Ledger,
        first: u64,
        id: u128,
        line_id: u128,
        source_account_id: u128,
        amount: u64,
    ) -> CreditResult {
        let mut clock = Clock::new(first, 1);
        self.with_prefix(&[], |credit| {
            credit.following(Some(line_id), |credit| {
                credit.repay(
                    ledger,
                    &mut clock,
                    id,
                    line_id,
                    source_account_id,
                    amount,
                    true,
                )
            })
        })
    }

    /// Which prefix transfer refused the last `execute_linked` (see there).
    #[must_use]
    pub fn prefix_failure(&self) -> Option<usize> {
        self.prefix_failure
    }

    fn dispatch(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
        command: &Command,
    ) -> CreditResult {
        match *command {
            Command::OpenLine { .. } => self.open_line(ledger, clock, command),
            Command::SetLimit { line_id, limit } => self.set_limit(line_id, limit),
            Command::SetTemporaryLimit {
                line_id,
                amount,
                from,
                to,
            } => self.set_temporary_limit(line_id, amount, from, to),
            Command::SetStatus { line_id, change } => self.set_status(ledger, line_id, change),
            Command::Authorize {
                id,
                line_id,
                merchant_account_id,
                amount,
                timeout,
            } => self.authorize(
                ledger,
                clock,
                id,
                line_id,
                merchant_account_id,
                amount,
                timeout,
            ),
            Command::Capture {
                id,
                line_id,
                purchase_id,
                amount,
            } => self.capture(ledger, clock, id, line_id, purchase_id, amount),
            Command::Void {
                id,
                line_id,
                purchase_id,
            } => self.void(ledger, clock, id, line_id, purchase_id),
            Command::Refund {
                id,
                line_id,
                purchase_id,
                amount,
            } => self.refund(ledger, clock, id, line_id, purchase_id, amount),
            Command::Repay {
                id,
                line_id,
                source_account_id,
                amount,
            } => self.repay(ledger, clock, id, line_id, source_account_id, amount, false),
            Command::DayClose { date, max_lines } => self.day_close(ledger, clock, date, max_lines),
            Command::ConvertInstallments { .. } => {
                self.convert_installments(ledger, clock, command)
            }
            Command::SettleInstallments {
                id,
                line_id,
                plan_id,
                source_account_id,
                amount,
            } => self.settle_installments(
                ledger,
                clock,
                id,
                line_id,
                plan_id,
                source_account_id,
                amount,
            ),
            Command::RedeemCoins {
                id,
                line_id,
                coin_account_id,
                coins,
            } => self.redeem_coins(ledger, clock, id, line_id, coin_account_id, coins),
            Command::AddFunder {
                program_id,
                account_id,
                share_bps,
            } => self.add_funder(ledger, program_id, account_id, share_bps),
            Command::SettleFunding { program_id } => self.settle_funding(ledger, clock, program_id),
        }
    }

    fn open_line(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
        command: &Command,
    ) -> CreditResult {
        use CreditResult as R;
        let Command::OpenLine {
            id,
            borrower_id,
            program_id,
            limit,
            annual_income,
            birth_date,
            statement_day: asked_statement_day,
            due_day: asked_due_day,
            applicant,
        } = *command
        else {
            unreachable!("execute passes open_line commands only")
        };
        if id == 0 {
            return R::IdMustNotBeZero;
        }
        if id == u128::MAX {
            return R::IdMustNotBeIntMax;
        }
        if let Some(line) = self.line(id) {
            let same = line.borrower_id == borrower_id
                && self.programs[line.program as usize].id == program_id
                && line.birth_date == birth_date
                && line.applicant == applicant
                && line.annual_income == annual_income
                && (asked_statement_day == 0 || asked_statement_day == line.statement_day)
                && (asked_due_day == 0 || asked_due_day == line.due_day);
            return if same {
                R::Exists
            } else {
                R::ExistsWithDifferentFields
            };
        }
        let Some(&program_index) = self.program_index.get(&program_id) else {
            return R::ProgramNotFound;
        };
        let program = self.programs[program_index as usize];
        if ledger.lookup_account(id).is_some() {
            return R::IdConflictsWithAccount;
        }
        let statement_day = if asked_statement_day == 0 {
            program.statement_day
        } else {
            asked_statement_day
        };
        let due_day = if asked_due_day == 0 {
            program.due_day
        } else {
            asked_due_day
        };
        if !(1..=28).contains(&statement_day) {
            return R::StatementDayOutOfRange;
        }
        if !(1..=28).contains(&due_day) {
            return R::DueDayOutOfRange;
        }
        if self.business_date.years_since(birth_date) < u32::from(program.min_age)
            || birth_date > self.business_date
        {
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
        let exposure = self.borrowers[program_index as usize]
            .get(&borrower_id)
            .copied()
            .unwrap_or(0);
        let Some(new_exposure) = exposure.checked_add(limit) else {
            return R::ExceedsBorrowerCap;
        };
        if let Some(refusal) = caps_refusal(&program, new_exposure, annual_income) {
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
        let mut results = Vec::with_capacity(1);
        ledger.create_accounts(clock.tick(), &[account], &mut results);
        if results[0] != ledger::CreateAccountResult::Ok {
            // Checked above: the id is free and the account is well-formed.
            return R::LedgerRejected;
        }
        self.borrowers[program_index as usize].insert(borrower_id, new_exposure);
        let index = self.line_count();
        self.index_line(id, index);
        self.lines.push(Line {
            id,
            borrower_id,
            program: program_index,
            status: LineStatus::Active,
            statement_day,
            due_day,
            applicant,
            birth_date,
            limit,
            temporary: TemporaryLimit::default(),
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

    /// The line's index, or the code refusing changes to a line that is gone.
    fn live_line(&self, line_id: u128) -> Result<u32, CreditResult> {
        let index = self.find_line(line_id).ok_or(CreditResult::LineNotFound)?;
        match self.lines[index as usize].status {
            LineStatus::Closed => Err(CreditResult::LineClosed),
            LineStatus::WrittenOff => Err(CreditResult::LineWrittenOff),
            LineStatus::Active | LineStatus::Frozen => Ok(index),
        }
    }

    /// Why a new exposure is refused for this line (raises only): overdue, caps. `None` for
    /// the new exposure is a limit and grant that overflow `u64` together: over any cap.
    fn raise_refusal(&self, index: u32, new_exposure_of_line: Option<u64>) -> Option<CreditResult> {
        let line = &self.lines[index as usize];
        if line.overdue() {
            return Some(CreditResult::LineOverdue);
        }
        let program = &self.programs[line.program as usize];
        let exposure = self.borrowers[line.program as usize]
            .get(&line.borrower_id)
            .copied()
            .unwrap_or(0);
        // No underflow: a borrower's exposure is the sum of its lines' (`check_records`).
        let others = exposure - line.exposure();
        let Some(total) = new_exposure_of_line.and_then(|new| others.checked_add(new)) else {
            return Some(CreditResult::ExceedsBorrowerCap);
        };
        caps_refusal(program, total, line.annual_income)
    }

    /// Whether raising this line's permanent limit to `limit` would be allowed now: the same
    /// checks as `set_limit`, for offering raises (no offer to a line that could not take one).
    #[must_use]
    pub fn raise_check(&self, line_id: u128, limit: u64) -> CreditResult {
        let index = match self.live_line(line_id) {
            Ok(index) => index,
            Err(code) => return code,
        };
        let line = &self.lines[index as usize];
        if limit <= line.limit {
            return CreditResult::Ok;
        }
        self.raise_refusal(index, limit.checked_add(line.temporary.amount))
            .unwrap_or(CreditResult::Ok)
    }

    fn set_exposure(&mut self, index: u32, limit: u64, temporary: TemporaryLimit) {
        let line = &mut self.lines[index as usize];
        let before = line.exposure();
        line.limit = limit;
        line.temporary = temporary;
        let after = line.exposure();
        let total = self.borrowers[line.program as usize]
            .get_mut(&line.borrower_id)
            .expect("borrower of a line");
        // No overflow: `total` includes `before`, and a raise was checked to fit with the
        // borrower's other lines (`raise_refusal`); every other change lowers the exposure.
        *total = *total - before + after;
    }

    fn set_limit(&mut self, line_id: u128, limit: u64) -> CreditResult {
        let index = match self.live_line(line_id) {
            Ok(index) => index,
            Err(code) => return code,
        };
        let line = self.lines[index as usize];
        if limit > line.limit
            && let Some(refusal) =
                self.raise_refusal(index, limit.checked_add(line.temporary.amount))
        {
            return refusal;
        }
        self.set_exposure(index, limit, line.temporary);
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
        let line = self.lines[index as usize];
        if amount > 0 && (from > to || to < self.business_date) {
            return CreditResult::TemporaryWindowInvalid;
        }
        if amount > 0
            && let Some(refusal) = self.raise_refusal(index, line.limit.checked_add(amount))
        {
            return refusal;
        }
        let temporary = if amount == 0 {
            TemporaryLimit::default()
        } else {
            TemporaryLimit { amount, from, to }
        };
        self.set_exposure(index, line.limit, temporary);
        CreditResult::Ok
    }

    fn set_status(&mut self, ledger: &Ledger, line_id: u128, change: StatusChange) -> CreditResult {
        let index = match self.live_line(line_id) {
            Ok(index) => index,
            Err(code) => return code,
        };
        let line = &self.lines[index as usize];
        let status = match (line.status, change) {
            (LineStatus::Active, StatusChange::Freeze) => LineStatus::Frozen,
            (LineStatus::Frozen, StatusChange::Unfreeze) => LineStatus::Active,
            (_, StatusChange::Close) => {
                let (account, _) = ledger.lookup_account(line_id).expect("line account");
                if net_balance(&account) != 0
                    || account.debits_pending != 0
                    || line.installment != 0
                {
                    return CreditResult::LineHasBalance;
                }
                LineStatus::Closed
            }
            _ => return CreditResult::StatusTransitionInvalid,
        };
        if status == LineStatus::Closed {
            let zero = TemporaryLimit::default();
            self.set_exposure(index, 0, zero);
        }
        self.lines[index as usize].status = status;
        CreditResult::Ok
    }

    #[allow(clippy::too_many_arguments)]
    fn authorize(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
        id: u128,
        line_id: u128,
        merchant_account_id: u128,
        amount: u64,
        timeout: u32,
    ) -> CreditResult {
        use CreditResult as R;
        let (_, line, program) = match self.money_line(id, line_id) {
            Ok(found) => found,
            Err(code) => return code,
        };
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
        if ledger.find_transfer(id).is_some() {
            return self.post(ledger, clock, &transfer);
        }
        if let Some(code) = self.spend_refusal(ledger, &line, line_id, merchant_account_id, amount)
        {
            return code;
        }
        // The capture checks again, with its funding (the cycle may have closed by then); this
        // keeps a hold that could not be captured in this cycle off the line.
        if !fits(&[(line.cycle.purchases, amount)]) {
            return R::OverflowsLineCounters;
        }
        self.post(ledger, clock, &transfer)
    }

    /// Why `line` cannot spend `amount` at a merchant now, if it cannot: the checks an
    /// authorization and a one-step purchase share, in precedence order.
    fn spend_refusal(
        &self,
        ledger: &Ledger,
        line: &Line,
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
        if let Some(code) = counterparty_refusal(ledger, merchant_account_id) {
            return Some(code);
        }
        let (account, _) = ledger.lookup_account(line_id).expect("line account");
        let available = available(&account, line.effective_limit(self.business_date));
        (u128::from(amount) > u128::from(available)).then_some(R::InsufficientCredit)
    }

    /// [`Credit::purchase_linked`]: the authorization's checks, then the capture's.
    fn purchase_now(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
        purchase: Purchased,
    ) -> CreditResult {
        use CreditResult as R;
        let Purchased {
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
        if ledger.find_transfer(id).is_some() {
            return self.post(ledger, clock, &transfer);
        }
        if let Some(code) = self.spend_refusal(ledger, &line, line_id, merchant_account_id, amount)
        {
            return code;
        }
        if let Some(code) = self.capture_refusal(&line, amount) {
            return code;
        }
        let result = self.post(ledger, clock, &transfer);
        if result != R::Ok {
            return result;
        }
        self.captured(index, id, merchant_account_id, amount);
        R::Ok
    }

    /// A credit balance pays a capture first; the rest is new principal, a drawdown. Whether
    /// the line's counters or its program's funding could not take that.
    fn capture_refusal(&self, line: &Line, amount: u64) -> Option<CreditResult> {
        let drawn = amount - amount.min(line.credit_balance);
        if !fits(&[(line.debt(), drawn), (line.cycle.purchases, amount)]) {
            return Some(CreditResult::OverflowsLineCounters);
        }
        if !self.funding[line.program as usize].can_draw(drawn) {
            return Some(CreditResult::OverflowsFundingCounters);
        }
        None
    }

    /// Books a captured purchase on line `index` (checked by `capture_refusal`): the line's
    /// credit balance pays first, the rest is new principal.
    fn captured(&mut self, index: u32, purchase_id: u128, merchant_account_id: u128, amount: u64) {
        let line = &mut self.lines[index as usize];
        let from_credit = amount.min(line.credit_balance);
        line.credit_balance -= from_credit;
        // The funding's share of the drawdown follows in `follow_principal`.
        line.unbilled += amount - from_credit;
        line.cycle.purchases += amount;
        self.purchases.insert(
            purchase_id,
            Purchase {
                line: index,
                merchant_account_id,
                captured: amount,
                refunded: 0,
                captured_on: self.business_date,
                plan: NO_PLAN,
            },
        );
    }

    /// The pending transfer of a purchase on this line, checked for capture or void.
    fn open_purchase(
        &self,
        ledger: &Ledger,
        line_id: u128,
        purchase_id: u128,
    ) -> Result<Transfer, CreditResult> {
        use CreditResult as R;
        let pending = ledger
            .find_transfer(purchase_id)
            .filter(|t| t.flags.pending() && t.user_data_32 == Posting::Authorization as u32)
            .ok_or(R::PurchaseNotFound)?;
        if pending.debit_account_id != line_id {
            return Err(R::PurchaseLineMismatch);
        }
        match ledger.pending_status(purchase_id) {
            Some(PendingStatus::Posted) => Err(R::PurchaseAlreadyCaptured),
            Some(PendingStatus::Voided) => Err(R::PurchaseAlreadyVoided),
            Some(PendingStatus::Expired) => Err(R::PurchaseExpired),
            _ => Ok(pending),
        }
    }

    fn capture(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
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
        if let Some(existing) = ledger.find_transfer(id) {
            // A retry: the ledger compares it with what is stored (amount 0 meant "all").
            if amount == 0 {
                transfer.amount = existing.amount;
            }
            return self.post(ledger, clock, &transfer);
        }
        let pending = match self.open_purchase(ledger, line_id, purchase_id) {
            Ok(pending) => pending,
            Err(code) => return code,
        };
        if line.status == LineStatus::WrittenOff {
            return R::LineWrittenOff;
        }
        let amount = if amount == 0 {
            narrow(pending.amount)
        } else {
            amount
        };
        if u128::from(amount) > pending.amount {
            return R::ExceedsAuthorizedAmount;
        }
        if let Some(code) = self.capture_refusal(&line, amount) {
            return code;
        }
        transfer.amount = u128::from(amount);
        let result = self.post(ledger, clock, &transfer);
        if result != R::Ok {
            return result;
        }
        self.captured(index, purchase_id, pending.credit_account_id, amount);
        R::Ok
    }

    fn void(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
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
        if let Some(existing) = ledger.find_transfer(id) {
            transfer.amount = existing.amount;
            return self.post(ledger, clock, &transfer);
        }
        let pending = match self.open_purchase(ledger, line_id, purchase_id) {
            Ok(pending) => pending,
            Err(code) => return code,
        };
        transfer.amount = pending.amount;
        self.post(ledger, clock, &transfer)
    }

    fn refund(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
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
        let purchase = self.purchases.get(&purchase_id).copied();
        let transfer = Transfer {
            debit_account_id: purchase.map_or(0, |p| p.merchant_account_id),
            credit_account_id: line_id,
            amount: u128::from(amount),
            user_data_128: purchase_id,
            ..posting(&program, id, Posting::Refund)
        };
        if ledger.find_transfer(id).is_some() {
            return self.post(ledger, clock, &transfer);
        }
        let Some(purchase) = purchase else {
            return if ledger.pending_status(purchase_id).is_some() {
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
        // Where the refund goes, computed before anything changes: a purchase on installments
        // gives back its plan's principal not yet billed first; before the bill the refund
        // restores the purchase's credit; after it, it pays what is billed (a credit balance
        // never sits beside a debt), and what is left becomes a credit balance.
        let from_plan = if purchase.plan == NO_PLAN {
            0
        } else {
            self.plan_refundable(purchase.plan).min(amount)
        };
        let amount_left = amount - from_plan;
        let from_unbilled = amount_left.min(line.unbilled);
        let rest = amount_left - from_unbilled;
        let paid = rest.min(line.owed.total());
        if !fits(&[
            (line.paid_since_statement, paid),
            (line.credit_balance, rest - paid),
            (line.cycle.refunds, amount),
        ]) {
            return R::OverflowsLineCounters;
        }
        let result = self.post(ledger, clock, &transfer);
        if result != R::Ok {
            return result;
        }
        // No overflow: at most what was captured (`exceeds_refundable`).
        self.purchases
            .get_mut(&purchase_id)
            .expect("purchase exists")
            .refunded += amount;
        if from_plan > 0 {
            let taken = self.refund_plan(purchase.plan, from_plan);
            debug_assert_eq!(taken, from_plan, "the plan gives back what it has left");
        }
        let line = &mut self.lines[index as usize];
        line.unbilled -= from_unbilled;
        let left = allocate(line, &program.waterfall, rest);
        debug_assert_eq!(left, rest - paid, "the waterfall pays everything billed");
        // What pays the bill counts toward its minimum, like a repayment. All three checked.
        line.paid_since_statement += paid;
        line.past_due = line.past_due.saturating_sub(paid);
        line.credit_balance += left;
        line.cycle.refunds += amount;
        settle_overdue(line);
        R::Ok
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the command's fields, and who the source belongs to"
    )]
    fn repay(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
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
        if let Some(existing) = ledger.find_transfer(id) {
            // A retry of a repayment made before the line was written off is still one.
            if existing.user_data_32 == Posting::Repayment as u32 {
                transfer.credit_account_id = line_id;
                transfer.user_data_32 = Posting::Repayment as u32;
            }
            return self.post(ledger, clock, &transfer);
        }
        if line.status == LineStatus::Closed {
            return R::LineClosed;
        }
        if amount == 0 {
            return R::AmountMustNotBeZero;
        }
        match counterparty_refusal(ledger, source_account_id) {
            Some(CreditResult::AccountIsManaged) if engine_source => {}
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
        let result = self.post(ledger, clock, &transfer);
        if result != R::Ok {
            return result;
        }
        let line = &mut self.lines[index as usize];
        if written_off {
            // No underflow: `exceeds_written_off` above.
            line.written_off -= amount;
            return R::Ok;
        }
        // The three additions were checked above (`overflows_balance`); the credit balance
        // grows by at most `amount`.
        line.paid_since_statement += amount;
        line.cycle.repayments += amount;
        line.past_due = line.past_due.saturating_sub(amount);
        let rest = allocate(line, &program.waterfall, amount);
        let from_unbilled = rest.min(line.unbilled);
        line.unbilled -= from_unbilled;
        line.credit_balance += rest - from_unbilled;
        settle_overdue(line);
        R::Ok
    }

    // ---------------------------------------------------------------------------------------
    // Day close.

    fn day_close(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
        date: Date,
        max_lines: u32,
    ) -> CreditResult {
        if date != self.business_date || date == Date(0) {
            return CreditResult::DateMustBeBusinessDate;
        }
        let start = self.close_cursor;
        let chunk = max_lines.clamp(1, crate::command::DAY_CLOSE_LINES_MAX);
        let end = start.saturating_add(chunk).min(self.line_count());
        let day = date.day_of_month();
        for index in start..end {
            if self.lines[index as usize].quiet_on(date, day) {
                continue;
            }
            let before = self.lines[index as usize].principal();
            self.close_line(ledger, clock, index, date, day);
            // A day-close never draws (it cannot refuse what funding could not count): charges
            // are not principal, billing a plan moves principal, a credit balance reduces it.
            debug_assert!(self.lines[index as usize].principal() <= before);
            // A statement may apply a credit balance to principal; a write-off's loss is split
            // by `write_off` itself.
            if self.lines[index as usize].status != LineStatus::WrittenOff {
                self.follow_principal(index, before);
            }
        }
        self.close_cursor = end;
        if end == self.line_count() {
            self.business_date = date.plus(1);
            self.close_cursor = 0;
        }
        CreditResult::Ok
    }

    /// End of `date` for one line: accrue, check the due day, bill on the statement day.
    fn close_line(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
        index: u32,
        date: Date,
        day: u32,
    ) {
        let line = self.lines[index as usize];
        if matches!(line.status, LineStatus::Closed | LineStatus::WrittenOff) {
            return;
        }
        let program = self.programs[line.program as usize];
        if line.temporary.amount > 0 && line.temporary.to <= date {
            self.set_exposure(index, line.limit, TemporaryLimit::default());
        }
        // 1. Accrual for the day: a penalty when overdue, else interest when revolving. A
        // day-close cannot refuse: a charge the line could not count (its debt or the cycle's
        // total past `u64::MAX` fen) is not posted, like one the ledger refuses; never half.
        if line.overdue() {
            // No overflow: part of `Line::debt`.
            let base = line.owed.principal + line.owed.fee + line.owed.interest;
            let penalty = math::daily_penalty(
                base,
                program.penalty_daily_rate,
                program.penalty_min_per_day,
                program.rounding,
            );
            if penalty > 0
                && fits(&[(line.debt(), penalty), (line.cycle.penalties, penalty)])
                && self.charge(ledger, clock, index, Posting::Penalty, penalty)
            {
                let line = &mut self.lines[index as usize];
                line.owed.penalty += penalty;
                line.cycle.penalties += penalty;
            }
            let days = self.lines[index as usize].days_overdue(date);
            if program.write_off_days > 0 && days >= u32::from(program.write_off_days) {
                self.write_off(ledger, clock, index);
                return;
            }
        } else if line.revolving {
            let base = line.owed.principal + line.owed.fee;
            let interest =
                math::simple_interest(base, program.interest_daily_rate, 1, program.rounding);
            if interest > 0
                && fits(&[(line.debt(), interest), (line.cycle.interest, interest)])
                && self.charge(ledger, clock, index, Posting::Interest, interest)
            {
                let line = &mut self.lines[index as usize];
                line.owed.interest += interest;
                line.cycle.interest += interest;
            }
        }
        let line = &mut self.lines[index as usize];
        // 2. The due day ends: unpaid below the minimum is overdue; otherwise any rest revolves.
        if line.statement.date != Date(0)
            && line.statement.due_date == date
            && line.owed.total() > 0
        {
            // The statement's minimum already includes any earlier past due; never more than
            // what is still owed.
            let shortfall = line
                .statement
                .minimum_payment
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
        // 3. Statement day: bill the cycle, with the periods of installment plans falling due.
        if day == u32::from(line.statement_day) {
            let installments_due = self.bill_plans(ledger, clock, index);
            let line = &mut self.lines[index as usize];
            let previous_balance = line.statement.balance;
            // No overflow: principal moves within `Line::debt`.
            line.owed.principal += line.unbilled;
            line.unbilled = 0;
            let credit = line.credit_balance;
            line.credit_balance = 0;
            let rest = allocate(line, &program.waterfall, credit);
            line.credit_balance = rest;
            let balance = line.owed.total();
            // Installment periods are due in full, like fees, interest and penalties (their sum
            // is part of `Line::debt`).
            let charges = (line.owed.fee + line.owed.interest + line.owed.penalty)
                .saturating_add(installments_due)
                .min(balance);
            let minimum = math::minimum_payment(
                balance,
                program.min_payment_rate,
                program.min_payment_floor,
                charges,
                line.past_due,
                program.rounding,
            );
            line.statement = Statement {
                date,
                due_date: date.next_with_day(u32::from(line.due_day)),
                previous_balance,
                cycle: line.cycle,
                balance,
                minimum_payment: minimum,
            };
            line.cycle = Cycle::default();
            line.paid_since_statement = 0;
            line.coins_redeemed = 0;
            if balance == 0 {
                line.revolving = false;
            }
        }
    }

    /// Posts a charge (interest, penalty, installment fees) to a line. False if the ledger
    /// refused it (only on balance overflow): the charge is then skipped, never half-applied.
    /// Callers check first that the line can count it (`fits`).
    pub(crate) fn charge(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
        index: u32,
        kind: Posting,
        amount: u64,
    ) -> bool {
        let line = self.lines[index as usize];
        let program = self.programs[line.program as usize];
        let credit_account_id = match kind {
            Posting::Penalty => program.penalty_account_id,
            Posting::InstallmentFee => program.fee_account_id,
            _ => program.interest_account_id,
        };
        let transfer = Transfer {
            debit_account_id: line.id,
            credit_account_id,
            amount: u128::from(amount),
            user_data_128: line.id,
            user_data_64: u64::from(self.business_date.0),
            ..posting(&program, self.next_generated_id(), kind)
        };
        self.post(ledger, clock, &transfer) == CreditResult::Ok
    }

    fn write_off(&mut self, ledger: &mut Ledger, clock: &mut Clock, index: u32) {
        let line = self.lines[index as usize];
        let program = self.programs[line.program as usize];
        let (account, _) = ledger.lookup_account(line.id).expect("line account");
        let net = net_balance(&account);
        // An overdue line owes (a credit balance never sits beside a debt), so `net` > 0.
        debug_assert!(net > 0, "written off lines owe something");
        if net > 0 {
            let transfer = Transfer {
                debit_account_id: program.loss_account_id,
                credit_account_id: line.id,
                amount: net.unsigned_abs(),
                user_data_128: line.id,
                user_data_64: u64::from(self.business_date.0),
                ..posting(&program, self.next_generated_id(), Posting::WriteOff)
            };
            if self.post(ledger, clock, &transfer) != CreditResult::Ok {
                return;
            }
        }
        self.end_plans(index, PlanStatus::WrittenOff);
        self.lose_principal(line.program, line.principal());
        let line = &mut self.lines[index as usize];
        line.written_off = narrow(net.max(0).unsigned_abs());
        line.owed = Owed::default();
        line.unbilled = 0;
        line.installment = 0;
        line.credit_balance = 0;
        line.past_due = 0;
        line.revolving = false;
        line.status = LineStatus::WrittenOff;
        self.set_exposure(index, 0, TemporaryLimit::default());
    }

    /// The line a money command names, after the checks of its id; copies, so the command
    /// can keep them while it posts.
    pub(crate) fn money_line(
        &self,
        id: u128,
        line_id: u128,
    ) -> Result<(u32, Line, Program), CreditResult> {
        if let Some(code) = id_refusal(id) {
            return Err(code);
        }
        let index = self.find_line(line_id).ok_or(CreditResult::LineNotFound)?;
        let line = self.lines[index as usize];
        Ok((index, line, self.programs[line.program as usize]))
    }

    /// Posts one transfer, mapping the ledger's result (into a reused buffer: no allocation
    /// per posting).
    pub(crate) fn post(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
        transfer: &Transfer,
    ) -> CreditResult {
        if !self.prefix.is_empty() {
            let mut chain = std::mem::take(&mut self.prefix);
            let n = chain.len();
            chain.push(*transfer);
            let result = match self.post_chain(ledger, clock, &mut chain) {
                Ok(()) => CreditResult::Ok,
                Err((i, code)) => {
                    self.prefix_failure = (i < n).then_some(i);
                    code
                }
            };
            chain.clear();
            self.prefix = chain;
            return result;
        }
        self.results.clear();
        ledger.post_transfers(
            clock.tick(),
            std::slice::from_ref(transfer),
            &mut self.results,
        );
        CreditResult::from_ledger(self.results[0])
    }

    /// Posts transfers as one linked chain (all or nothing): the caller's transfers must not be
    /// flagged linked; this links all but the last. On failure, the index of the transfer that
    /// failed (not one failed only because it was linked) and its code.
    pub(crate) fn post_chain(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
        transfers: &mut [Transfer],
    ) -> Result<(), (usize, CreditResult)> {
        let n = transfers.len();
        for (i, t) in transfers.iter_mut().enumerate() {
            if i + 1 < n {
                t.flags.0 |= TransferFlags::LINKED;
            }
        }
        let mut timestamp = 0;
        for _ in 0..n {
            timestamp = clock.tick();
        }
        self.results.clear();
        ledger.post_transfers(timestamp, transfers, &mut self.results);
        let failed = self.results.iter().position(|r| {
            !matches!(
                r,
                CreateTransferResult::Ok | CreateTransferResult::LinkedEventFailed
            )
        });
        match failed {
            None if self.results.iter().all(|r| *r == CreateTransferResult::Ok) => Ok(()),
            None => Err((0, CreditResult::LedgerRejected)),
            Some(i) => Err((i, CreditResult::from_ledger(self.results[i]))),
        }
    }

    pub(crate) fn next_generated_id(&mut self) -> u128 {
        // Unreachable: every generated id is used by a posting, which takes an engine timestamp
        // (a u64 that only increases), so fewer than `u64::MAX` are ever generated. Saturating
        // only for a decoded sequence at its end (nothing else bounds it): the id then repeats,
        // and the ledger refuses the repeat (`exists...`), so no money moves twice and nothing
        // panics.
        self.generated = self.generated.saturating_add(1);
        RESERVED_ID_MIN + u128::from(self.generated)
    }
}

/// The borrower cap and the debt-to-income cap on a borrower's total exposure.
fn caps_refusal(program: &Program, exposure: u64, annual_income: u64) -> Option<CreditResult> {
    if exposure > program.max_borrower_limit {
        return Some(CreditResult::ExceedsBorrowerCap);
    }
    if program.dti_cap_bps > 0
        && u128::from(exposure) * 10_000
            > u128::from(annual_income) * u128::from(program.dti_cap_bps)
    {
        return Some(CreditResult::ExceedsDebtToIncomeCap);
    }
    None
}

/// A merchant, repayment source or other counterparty a command names: it must exist and
/// must not be a managed account (a credit line).
pub(crate) fn counterparty_refusal(ledger: &Ledger, id: u128) -> Option<CreditResult> {
    match ledger.lookup_account(id) {
        None => Some(CreditResult::AccountNotFound),
        Some((account, _)) if account.flags.managed() => Some(CreditResult::AccountIsManaged),
        Some(_) => None,
    }
}

pub(crate) fn id_refusal(id: u128) -> Option<CreditResult> {
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

/// The fields every transfer a program posts shares: its id, ledger, code and purpose.
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

pub(crate) fn posting(program: &Program, id: u128, kind: Posting) -> Transfer {
    Transfer {
        id,
        ledger: program.ledger,
        code: program.code,
        user_data_32: kind as u32,
        ..Transfer::default()
    }
}

/// Whether a waterfall names every component once (what `allocate` needs to pay all of them).
pub(crate) fn waterfall_is_permutation(waterfall: &[Component; 4]) -> bool {
    let mut seen = [false; 4];
    for &component in waterfall {
        seen[component as usize] = true;
    }
    !seen.contains(&false)
}

/// Pays `amount` off the billed components in waterfall order; returns what is left.
pub(crate) fn allocate(line: &mut Line, waterfall: &[Component; 4], mut amount: u64) -> u64 {
    for &component in waterfall {
        let slot = line.owed.slot(component);
        let paid = amount.min(*slot);
        *slot -= paid;
        amount -= paid;
    }
    amount
}

/// Overdue ends once the missed minimum and the penalties are paid; a rest revolves.
pub(crate) fn settle_overdue(line: &mut Line) {
    if line.overdue() && line.past_due == 0 && line.owed.penalty == 0 {
        line.overdue_since = Date(0);
        line.revolving = line.owed.total() > 0;
    }
    if line.owed.total() == 0 {
        line.revolving = false;
    }
}

/// Debits minus credits posted: what the borrower owes (negative: in credit).
pub(crate) fn net_balance(account: &Account) -> i128 {
    // Both sides are sums of u64 fen amounts, far below i128::MAX.
    account.debits_posted as i128 - account.credits_posted as i128
}

/// Credit left to spend: the limit less the net balance and the holds, never negative.
fn available(account: &Account, limit: u64) -> u64 {
    let used = net_balance(account) + account.debits_pending as i128;
    narrow((i128::from(limit) - used).max(0).unsigned_abs())
}

pub(crate) fn narrow(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}
