//! Credit commands and their fixed-size little-endian records (log and wire encoding).
//!
//! A program (the product configuration) is a 256-byte record; every other command is a
//! 128-byte record whose first byte is its kind. Fields follow in declaration order, packed,
//! little-endian; the rest of the record is zero. Decoding never panics: an unknown kind or a
//! non-zero byte past the fields is an error naming the offset.

use crate::bytes::{Reader, Truncated, Writer};
use crate::date::Date;
use crate::math::{EarlySettlement, Pricing, Rate, RoundingMode};

pub const PROGRAM_SIZE: usize = 256;
/// Most lines one day-close command handles (more are clamped to this): bounds the batch's
/// work and the engine timestamps it reserves.
pub const DAY_CLOSE_LINES_MAX: u32 = 1_000_000;
pub const COMMAND_SIZE: usize = 128;
/// Most funders (besides the platform) one program's lines may be funded by.
pub const FUNDERS_MAX: usize = 64;

/// A component of what a borrower owes, in the order a repayment pays them off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Component {
    Penalty = 0,
    Fee = 1,
    Interest = 2,
    Principal = 3,
}

impl Component {
    pub const ALL: [Component; 4] = [
        Component::Penalty,
        Component::Fee,
        Component::Interest,
        Component::Principal,
    ];

    #[must_use]
    pub fn from_u8(v: u8) -> Option<Component> {
        Component::ALL.get(usize::from(v)).copied()
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Component::Penalty => "penalty",
            Component::Fee => "fee",
            Component::Interest => "interest",
            Component::Principal => "principal",
        }
    }
}

/// What to do with an applicant who is a student.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum StudentPolicy {
    /// Refuse (`applicant_is_student`).
    Block = 0,
    /// Accept only with a guardian confirmed as a second source of repayment.
    RequireGuardian = 1,
}

/// A credit program: the product every line opens under, with its accounts and rules.
/// Amounts are fen; rates are `math::Rate` (1e10 = 100%).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Program {
    pub id: u128,
    /// Ledger (currency) of the program's lines and accounts.
    pub ledger: u32,
    /// Ledger code of line accounts and of the transfers the program posts.
    pub code: u16,
    /// Credited with interest, fees and penalties; debited by write-offs; credited by recoveries.
    pub interest_account_id: u128,
    pub fee_account_id: u128,
    pub penalty_account_id: u128,
    pub loss_account_id: u128,
    pub recovery_account_id: u128,
    /// The first business date; only the first program sets it (later programs' is ignored).
    pub start_date: Date,
    /// Default statement day (1-28) and due day (1-28) of lines that do not choose their own.
    pub statement_day: u8,
    pub due_day: u8,
    pub min_payment_rate: Rate,
    pub min_payment_floor: u64,
    /// Daily interest on the unpaid statement balance after the due day, if the minimum was paid.
    pub interest_daily_rate: Rate,
    /// Daily penalty on the overdue amount (simple, never compounded), with a daily minimum.
    pub penalty_daily_rate: Rate,
    pub penalty_min_per_day: u64,
    /// Days overdue after which a line is written off (0: never).
    pub write_off_days: u16,
    /// Installment conversions above this fee-inclusive APR are refused.
    pub apr_cap: Rate,
    /// Most credit (sum of limits, temporary included) one borrower may hold in this program.
    pub max_borrower_limit: u64,
    /// Most credit as a share of declared annual income, in basis points (0: no cap).
    pub dti_cap_bps: u32,
    /// At least 18: no credit to minors.
    pub min_age: u8,
    pub student_policy: StudentPolicy,
    /// Repayment order of the components (a permutation); billed before unbilled always.
    pub waterfall: [Component; 4],
    pub rounding: RoundingMode,
    /// What an installment plan settled early owes of its fees not yet billed.
    pub early_settlement: EarlySettlement,
    /// Reward coins (0: not offered): redeemed coins go back to `coin_account_id` (on the coin
    /// ledger) and `coin_funding_account_id` (on this ledger, a budget) pays their value to the
    /// line, at `coins_per_yuan` coins per yuan, up to `coin_cap_bps` of each statement balance.
    pub coin_account_id: u128,
    pub coin_funding_account_id: u128,
    pub coins_per_yuan: u32,
    pub coin_cap_bps: u16,
    /// Co-funding (0: no funders): the account funders settle with, and the platform's least
    /// share of every drawdown, in basis points.
    pub funding_account_id: u128,
    pub platform_min_share_bps: u16,
}

/// Applicant facts at opening.
pub const APPLICANT_STUDENT: u8 = 1 << 0;
pub const APPLICANT_GUARDIAN_CONFIRMED: u8 = 1 << 1;

/// Line statuses an operator may set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum StatusChange {
    Freeze = 1,
    Unfreeze = 2,
    Close = 3,
}

/// A credit command. Every `id` is unique among credit commands and ledger transfers: the
/// commands that move money use it as the id of the ledger transfer they post.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Opens a line: creates its ledger account (id = line id) after the eligibility checks.
    OpenLine {
        id: u128,
        borrower_id: u128,
        program_id: u128,
        limit: u64,
        annual_income: u64,
        birth_date: Date,
        /// 0: the program's.
        statement_day: u8,
        due_day: u8,
        applicant: u8,
    },
    /// Sets the permanent limit (a raise is checked; a cut always applies).
    SetLimit {
        line_id: u128,
        limit: u64,
    },
    /// Grants a temporary limit on top of the permanent one, valid `from..=to` (replacing any
    /// earlier grant; amount 0 revokes).
    SetTemporaryLimit {
        line_id: u128,
        amount: u64,
        from: Date,
        to: Date,
    },
    SetStatus {
        line_id: u128,
        change: StatusChange,
    },
    /// Holds `amount` of the line for a purchase at a merchant (a pending ledger transfer from
    /// the line to the merchant's account, id = purchase id), released after `timeout` seconds.
    Authorize {
        id: u128,
        line_id: u128,
        merchant_account_id: u128,
        amount: u64,
        timeout: u32,
    },
    /// Captures an authorization (amount 0: all of it; less releases the rest).
    Capture {
        id: u128,
        line_id: u128,
        purchase_id: u128,
        amount: u64,
    },
    Void {
        id: u128,
        line_id: u128,
        purchase_id: u128,
    },
    /// Returns part of a captured purchase: merchant to line.
    Refund {
        id: u128,
        line_id: u128,
        purchase_id: u128,
        amount: u64,
    },
    /// A repayment from `source_account_id` (e.g. the platform's bank clearing account).
    Repay {
        id: u128,
        line_id: u128,
        source_account_id: u128,
        amount: u64,
    },
    /// Closes business date `date` for up to `max_lines` lines from where the last call stopped;
    /// the date advances when every line is done.
    DayClose {
        date: Date,
        max_lines: u32,
    },
    /// Converts a captured, unbilled purchase (or, with `purchase_id` 0, the principal of the
    /// current bill, between its statement and due dates) into an installment plan of
    /// `periods` months (id = plan id). The fee follows `pricing`; with a sponsor, the sponsor's
    /// budget account pays all of it now and the borrower's plan is interest-free.
    ConvertInstallments {
        id: u128,
        line_id: u128,
        purchase_id: u128,
        periods: u8,
        pricing: Pricing,
        sponsor_account_id: u128,
    },
    /// Settles an installment plan early: `source_account_id` pays the principal not yet
    /// billed plus the fee the program's early-settlement rule makes due (`amount`, that total,
    /// must match; 0 accepts it).
    SettleInstallments {
        id: u128,
        line_id: u128,
        plan_id: u128,
        source_account_id: u128,
        amount: u64,
    },
    /// Redeems reward coins from the borrower's coin account against the line's bill.
    RedeemCoins {
        id: u128,
        line_id: u128,
        coin_account_id: u128,
        coins: u64,
    },
    /// Adds a funder (identified by its settlement account) to a program's future drawdowns.
    AddFunder {
        program_id: u128,
        account_id: u128,
        share_bps: u16,
    },
    /// Settles what the program's funders drew, were repaid and lost since the last time: one
    /// net cash transfer and one loss transfer per funder at most.
    SettleFunding {
        program_id: u128,
    },
}

impl Command {
    /// Ledger timestamps this command may use: one per transfer it can post.
    #[must_use]
    pub fn timestamp_count(&self) -> u64 {
        match self {
            // Interest or penalty, installment fees, and a write-off, per line.
            Command::DayClose { max_lines, .. } => {
                3 * u64::from((*max_lines).clamp(1, DAY_CLOSE_LINES_MAX))
            }
            // Two linked transfers.
            Command::SettleInstallments { .. } | Command::RedeemCoins { .. } => 2,
            Command::SettleFunding { .. } => 2 * FUNDERS_MAX as u64,
            _ => 1,
        }
    }

    /// The id of the ledger transfer this command posts, if any (for prefetching retries).
    #[must_use]
    pub fn transfer_id(&self) -> Option<u128> {
        match self {
            Command::Authorize { id, .. }
            | Command::Capture { id, .. }
            | Command::Void { id, .. }
            | Command::Refund { id, .. }
            | Command::Repay { id, .. }
            | Command::ConvertInstallments { id, .. }
            | Command::SettleInstallments { id, .. }
            | Command::RedeemCoins { id, .. } => Some(*id),
            _ => None,
        }
    }

    /// The line this command acts on, if any.
    #[must_use]
    pub fn line_id(&self) -> Option<u128> {
        match self {
            Command::SetLimit { line_id, .. }
            | Command::SetTemporaryLimit { line_id, .. }
            | Command::SetStatus { line_id, .. }
            | Command::Authorize { line_id, .. }
            | Command::Capture { line_id, .. }
            | Command::Void { line_id, .. }
            | Command::Refund { line_id, .. }
            | Command::Repay { line_id, .. }
            | Command::ConvertInstallments { line_id, .. }
            | Command::SettleInstallments { line_id, .. }
            | Command::RedeemCoins { line_id, .. } => Some(*line_id),
            _ => None,
        }
    }

    /// The line whose principal this command may change (a drawdown or a reduction, which
    /// co-funding follows), if any: captures, refunds, repayments, settlements, coins.
    #[must_use]
    pub fn principal_line_id(&self) -> Option<u128> {
        match self {
            Command::Capture { line_id, .. }
            | Command::Refund { line_id, .. }
            | Command::Repay { line_id, .. }
            | Command::SettleInstallments { line_id, .. }
            | Command::RedeemCoins { line_id, .. } => Some(*line_id),
            _ => None,
        }
    }

    /// The purchase (pending transfer) this command resolves or refunds, if any.
    #[must_use]
    pub fn purchase_id(&self) -> Option<u128> {
        match self {
            Command::Capture { purchase_id, .. }
            | Command::Void { purchase_id, .. }
            | Command::Refund { purchase_id, .. } => Some(*purchase_id),
            _ => None,
        }
    }

    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Command::OpenLine { .. } => "open_line",
            Command::SetLimit { .. } => "set_limit",
            Command::SetTemporaryLimit { .. } => "set_temporary_limit",
            Command::SetStatus { .. } => "set_status",
            Command::Authorize { .. } => "authorize",
            Command::Capture { .. } => "capture",
            Command::Void { .. } => "void",
            Command::Refund { .. } => "refund",
            Command::Repay { .. } => "repay",
            Command::DayClose { .. } => "day_close",
            Command::ConvertInstallments { .. } => "convert_installments",
            Command::SettleInstallments { .. } => "settle_installments",
            Command::RedeemCoins { .. } => "redeem_coins",
            Command::AddFunder { .. } => "add_funder",
            Command::SettleFunding { .. } => "settle_funding",
        }
    }
}

/// Why bytes are not a credit record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    UnknownKind(u8),
    /// A byte past the fields, or an enum field, holds a value no encoder writes.
    Invalid {
        offset: usize,
    },
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::UnknownKind(kind) => write!(f, "unknown credit command kind {kind}"),
            RecordError::Invalid { offset } => write!(f, "invalid credit record at byte {offset}"),
        }
    }
}

impl std::error::Error for RecordError {}

impl From<Truncated> for RecordError {
    fn from(t: Truncated) -> RecordError {
        RecordError::Invalid { offset: t.offset }
    }
}

/// The rest of a record must be zero.
fn finish(r: &Reader<'_>) -> Result<(), RecordError> {
    match r.nonzero_rest() {
        None => Ok(()),
        Some(offset) => Err(RecordError::Invalid { offset }),
    }
}

/// The error for the enum byte just read.
fn invalid(r: &Reader<'_>) -> RecordError {
    RecordError::Invalid {
        offset: r.last_offset(),
    }
}

fn early_settlement_to_u8(rule: EarlySettlement) -> u8 {
    match rule {
        EarlySettlement::ChargeAllRemaining => 0,
        EarlySettlement::WaiveRemaining => 1,
        EarlySettlement::ProRata => 2,
    }
}

fn early_settlement_from_u8(v: u8) -> Option<EarlySettlement> {
    match v {
        0 => Some(EarlySettlement::ChargeAllRemaining),
        1 => Some(EarlySettlement::WaiveRemaining),
        2 => Some(EarlySettlement::ProRata),
        _ => None,
    }
}

fn rounding_to_u8(mode: RoundingMode) -> u8 {
    match mode {
        RoundingMode::HalfUp => 0,
        RoundingMode::HalfEven => 1,
        RoundingMode::Down => 2,
    }
}

fn rounding_from_u8(v: u8) -> Option<RoundingMode> {
    match v {
        0 => Some(RoundingMode::HalfUp),
        1 => Some(RoundingMode::HalfEven),
        2 => Some(RoundingMode::Down),
        _ => None,
    }
}

impl Program {
    /// Appends the program's 256-byte record to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let mut w = Writer(out);
        w.u128(self.id)
            .u128(self.interest_account_id)
            .u128(self.fee_account_id)
            .u128(self.penalty_account_id)
            .u128(self.loss_account_id)
            .u128(self.recovery_account_id)
            .u64(self.min_payment_rate.0)
            .u64(self.min_payment_floor)
            .u64(self.interest_daily_rate.0)
            .u64(self.penalty_daily_rate.0)
            .u64(self.penalty_min_per_day)
            .u64(self.apr_cap.0)
            .u64(self.max_borrower_limit)
            .u32(self.ledger)
            .u32(self.start_date.0)
            .u32(self.dti_cap_bps)
            .u16(self.code)
            .u16(self.write_off_days)
            .u8(self.statement_day)
            .u8(self.due_day)
            .u8(self.min_age)
            .u8(self.student_policy as u8)
            .u8(rounding_to_u8(self.rounding));
        for component in self.waterfall {
            w.u8(component as u8);
        }
        w.u8(early_settlement_to_u8(self.early_settlement))
            .u128(self.coin_account_id)
            .u128(self.coin_funding_account_id)
            .u128(self.funding_account_id)
            .u32(self.coins_per_yuan)
            .u16(self.coin_cap_bps)
            .u16(self.platform_min_share_bps);
        w.pad_to(start, PROGRAM_SIZE);
    }

    /// Decodes a program record. An enum byte out of range is an error; a waterfall that is
    /// not a permutation decodes (the program is then refused with `waterfall_invalid`).
    pub fn from_bytes(bytes: &[u8; PROGRAM_SIZE]) -> Result<Program, RecordError> {
        let mut r = Reader::new(bytes);
        let id = r.u128()?;
        let interest_account_id = r.u128()?;
        let fee_account_id = r.u128()?;
        let penalty_account_id = r.u128()?;
        let loss_account_id = r.u128()?;
        let recovery_account_id = r.u128()?;
        let min_payment_rate = Rate(r.u64()?);
        let min_payment_floor = r.u64()?;
        let interest_daily_rate = Rate(r.u64()?);
        let penalty_daily_rate = Rate(r.u64()?);
        let penalty_min_per_day = r.u64()?;
        let apr_cap = Rate(r.u64()?);
        let max_borrower_limit = r.u64()?;
        let ledger = r.u32()?;
        let start_date = Date(r.u32()?);
        let dti_cap_bps = r.u32()?;
        let code = r.u16()?;
        let write_off_days = r.u16()?;
        let statement_day = r.u8()?;
        let due_day = r.u8()?;
        let min_age = r.u8()?;
        let student_policy = match r.u8()? {
            0 => StudentPolicy::Block,
            1 => StudentPolicy::RequireGuardian,
            _ => return Err(invalid(&r)),
        };
        let rounding = rounding_from_u8(r.u8()?).ok_or_else(|| invalid(&r))?;
        let mut waterfall = [Component::Penalty; 4];
        for slot in &mut waterfall {
            *slot = Component::from_u8(r.u8()?).ok_or_else(|| invalid(&r))?;
        }
        let early_settlement = early_settlement_from_u8(r.u8()?).ok_or_else(|| invalid(&r))?;
        let coin_account_id = r.u128()?;
        let coin_funding_account_id = r.u128()?;
        let funding_account_id = r.u128()?;
        let coins_per_yuan = r.u32()?;
        let coin_cap_bps = r.u16()?;
        let platform_min_share_bps = r.u16()?;
        finish(&r)?;
        Ok(Program {
            id,
            ledger,
            code,
            interest_account_id,
            fee_account_id,
            penalty_account_id,
            loss_account_id,
            recovery_account_id,
            start_date,
            statement_day,
            due_day,
            min_payment_rate,
            min_payment_floor,
            interest_daily_rate,
            penalty_daily_rate,
            penalty_min_per_day,
            write_off_days,
            apr_cap,
            max_borrower_limit,
            dti_cap_bps,
            min_age,
            student_policy,
            waterfall,
            rounding,
            early_settlement,
            coin_account_id,
            coin_funding_account_id,
            coins_per_yuan,
            coin_cap_bps,
            funding_account_id,
            platform_min_share_bps,
        })
    }
}

const KIND_OPEN_LINE: u8 = 1;
const KIND_SET_LIMIT: u8 = 2;
const KIND_SET_TEMPORARY_LIMIT: u8 = 3;
const KIND_SET_STATUS: u8 = 4;
const KIND_AUTHORIZE: u8 = 5;
const KIND_CAPTURE: u8 = 6;
const KIND_VOID: u8 = 7;
const KIND_REFUND: u8 = 8;
const KIND_REPAY: u8 = 9;
const KIND_DAY_CLOSE: u8 = 10;
const KIND_CONVERT_INSTALLMENTS: u8 = 11;
const KIND_SETTLE_INSTALLMENTS: u8 = 12;
const KIND_REDEEM_COINS: u8 = 13;
const KIND_ADD_FUNDER: u8 = 14;
const KIND_SETTLE_FUNDING: u8 = 15;

fn pricing_to_bytes(pricing: Pricing) -> (u8, u64) {
    match pricing {
        Pricing::TotalRate(rate) => (0, rate.0),
        Pricing::MonthlyRate(rate) => (1, rate.0),
    }
}

impl Command {
    /// Appends the command's 128-byte record to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let mut w = Writer(out);
        match *self {
            Command::OpenLine {
                id,
                borrower_id,
                program_id,
                limit,
                annual_income,
                birth_date,
                statement_day,
                due_day,
                applicant,
            } => {
                w.u8(KIND_OPEN_LINE)
                    .u128(id)
                    .u128(borrower_id)
                    .u128(program_id)
                    .u64(limit)
                    .u64(annual_income)
                    .u32(birth_date.0)
                    .u8(statement_day)
                    .u8(due_day)
                    .u8(applicant);
            }
            Command::SetLimit { line_id, limit } => {
                w.u8(KIND_SET_LIMIT).u128(line_id).u64(limit);
            }
            Command::SetTemporaryLimit {
                line_id,
                amount,
                from,
                to,
            } => {
                w.u8(KIND_SET_TEMPORARY_LIMIT)
                    .u128(line_id)
                    .u64(amount)
                    .u32(from.0)
                    .u32(to.0);
            }
            Command::SetStatus { line_id, change } => {
                w.u8(KIND_SET_STATUS).u128(line_id).u8(change as u8);
            }
            Command::Authorize {
                id,
                line_id,
                merchant_account_id,
                amount,
                timeout,
            } => {
                w.u8(KIND_AUTHORIZE)
                    .u128(id)
                    .u128(line_id)
                    .u128(merchant_account_id)
                    .u64(amount)
                    .u32(timeout);
            }
            Command::Capture {
                id,
                line_id,
                purchase_id,
                amount,
            } => {
                w.u8(KIND_CAPTURE)
                    .u128(id)
                    .u128(line_id)
                    .u128(purchase_id)
                    .u64(amount);
            }
            Command::Void {
                id,
                line_id,
                purchase_id,
            } => {
                w.u8(KIND_VOID).u128(id).u128(line_id).u128(purchase_id);
            }
            Command::Refund {
                id,
                line_id,
                purchase_id,
                amount,
            } => {
                w.u8(KIND_REFUND)
                    .u128(id)
                    .u128(line_id)
                    .u128(purchase_id)
                    .u64(amount);
            }
            Command::Repay {
                id,
                line_id,
                source_account_id,
                amount,
            } => {
                w.u8(KIND_REPAY)
                    .u128(id)
                    .u128(line_id)
                    .u128(source_account_id)
                    .u64(amount);
            }
            Command::DayClose { date, max_lines } => {
                w.u8(KIND_DAY_CLOSE).u32(date.0).u32(max_lines);
            }
            Command::ConvertInstallments {
                id,
                line_id,
                purchase_id,
                periods,
                pricing,
                sponsor_account_id,
            } => {
                let (kind, rate) = pricing_to_bytes(pricing);
                w.u8(KIND_CONVERT_INSTALLMENTS)
                    .u128(id)
                    .u128(line_id)
                    .u128(purchase_id)
                    .u128(sponsor_account_id)
                    .u64(rate)
                    .u8(periods)
                    .u8(kind);
            }
            Command::SettleInstallments {
                id,
                line_id,
                plan_id,
                source_account_id,
                amount,
            } => {
                w.u8(KIND_SETTLE_INSTALLMENTS)
                    .u128(id)
                    .u128(line_id)
                    .u128(plan_id)
                    .u128(source_account_id)
                    .u64(amount);
            }
            Command::RedeemCoins {
                id,
                line_id,
                coin_account_id,
                coins,
            } => {
                w.u8(KIND_REDEEM_COINS)
                    .u128(id)
                    .u128(line_id)
                    .u128(coin_account_id)
                    .u64(coins);
            }
            Command::AddFunder {
                program_id,
                account_id,
                share_bps,
            } => {
                w.u8(KIND_ADD_FUNDER)
                    .u128(program_id)
                    .u128(account_id)
                    .u16(share_bps);
            }
            Command::SettleFunding { program_id } => {
                w.u8(KIND_SETTLE_FUNDING).u128(program_id);
            }
        }
        w.pad_to(start, COMMAND_SIZE);
    }

    pub fn from_bytes(bytes: &[u8; COMMAND_SIZE]) -> Result<Command, RecordError> {
        let mut r = Reader::new(bytes);
        let command = match r.u8()? {
            KIND_OPEN_LINE => Command::OpenLine {
                id: r.u128()?,
                borrower_id: r.u128()?,
                program_id: r.u128()?,
                limit: r.u64()?,
                annual_income: r.u64()?,
                birth_date: Date(r.u32()?),
                statement_day: r.u8()?,
                due_day: r.u8()?,
                applicant: r.u8()?,
            },
            KIND_SET_LIMIT => Command::SetLimit {
                line_id: r.u128()?,
                limit: r.u64()?,
            },
            KIND_SET_TEMPORARY_LIMIT => Command::SetTemporaryLimit {
                line_id: r.u128()?,
                amount: r.u64()?,
                from: Date(r.u32()?),
                to: Date(r.u32()?),
            },
            KIND_SET_STATUS => {
                let line_id = r.u128()?;
                let change = match r.u8()? {
                    1 => StatusChange::Freeze,
                    2 => StatusChange::Unfreeze,
                    3 => StatusChange::Close,
                    _ => return Err(invalid(&r)),
                };
                Command::SetStatus { line_id, change }
            }
            KIND_AUTHORIZE => Command::Authorize {
                id: r.u128()?,
                line_id: r.u128()?,
                merchant_account_id: r.u128()?,
                amount: r.u64()?,
                timeout: r.u32()?,
            },
            KIND_CAPTURE => Command::Capture {
                id: r.u128()?,
                line_id: r.u128()?,
                purchase_id: r.u128()?,
                amount: r.u64()?,
            },
            KIND_VOID => Command::Void {
                id: r.u128()?,
                line_id: r.u128()?,
                purchase_id: r.u128()?,
            },
            KIND_REFUND => Command::Refund {
                id: r.u128()?,
                line_id: r.u128()?,
                purchase_id: r.u128()?,
                amount: r.u64()?,
            },
            KIND_REPAY => Command::Repay {
                id: r.u128()?,
                line_id: r.u128()?,
                source_account_id: r.u128()?,
                amount: r.u64()?,
            },
            KIND_DAY_CLOSE => Command::DayClose {
                date: Date(r.u32()?),
                max_lines: r.u32()?,
            },
            KIND_CONVERT_INSTALLMENTS => {
                let id = r.u128()?;
                let line_id = r.u128()?;
                let purchase_id = r.u128()?;
                let sponsor_account_id = r.u128()?;
                let rate = Rate(r.u64()?);
                let periods = r.u8()?;
                let pricing = match r.u8()? {
                    0 => Pricing::TotalRate(rate),
                    1 => Pricing::MonthlyRate(rate),
                    _ => return Err(invalid(&r)),
                };
                Command::ConvertInstallments {
                    id,
                    line_id,
                    purchase_id,
                    periods,
                    pricing,
                    sponsor_account_id,
                }
            }
            KIND_SETTLE_INSTALLMENTS => Command::SettleInstallments {
                id: r.u128()?,
                line_id: r.u128()?,
                plan_id: r.u128()?,
                source_account_id: r.u128()?,
                amount: r.u64()?,
            },
            KIND_REDEEM_COINS => Command::RedeemCoins {
                id: r.u128()?,
                line_id: r.u128()?,
                coin_account_id: r.u128()?,
                coins: r.u64()?,
            },
            KIND_ADD_FUNDER => Command::AddFunder {
                program_id: r.u128()?,
                account_id: r.u128()?,
                share_bps: r.u16()?,
            },
            KIND_SETTLE_FUNDING => Command::SettleFunding {
                program_id: r.u128()?,
            },
            kind => return Err(RecordError::UnknownKind(kind)),
        };
        finish(&r)?;
        Ok(command)
    }
}
