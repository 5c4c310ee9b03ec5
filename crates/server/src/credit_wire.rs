//! The JSON wire format of the credit endpoints: percent rates, dates, names of enums and
//! applicant flags, and the request and response bodies of `/v1/credit/...`.
//!
//! Invariants owned here (on top of `wire.rs`, whose `Dec128`/`Dec64` these types reuse):
//! - rates travel as decimal strings in percent (`"0.05"` is 0.05%), parsed without floats into
//!   `credit::math::Rate` (one unit is 10^-8 percent); a rate the type cannot hold exactly is
//!   rejected, never rounded;
//! - dates travel as `"YYYY-MM-DD"`; signed amounts as decimal strings with an optional `-`;
//! - omitted fields are zero (enums: their first value), unknown fields are rejected.
//!
//! The same types carry the OpenAPI schemas, so the document cannot drift from the parser.

use std::borrow::Cow;
use std::fmt;

use credit::math::{Apr, EarlySettlement, Pricing, Quote, RATE_SCALE, Rate, RoundingMode};
use credit::{
    APPLICANT_GUARDIAN_CONFIRMED, APPLICANT_STUDENT, Command, Component, CreditResult, Date,
    LineStatus, LineView, Program, Statement, StatusChange, StudentPolicy,
};
use serde::de::{self, SeqAccess, Unexpected, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::wire::{Dec64, Dec128};

/// Rate units per percent: `RATE_SCALE` is 100%.
const UNITS_PER_PERCENT: u64 = RATE_SCALE / 100;
/// Decimals of a percent the wire accepts; only the first 8 may be non-zero (one rate unit is
/// 10^-8 percent).
const PERCENT_DECIMALS_MAX: usize = 10;
const PERCENT_DECIMALS_EXACT: usize = 8;

/// Parses a percent such as `"8.8"` or `"0.05"` into a rate, exactly: digits, at most one dot,
/// at most 10 decimals of which only the first 8 may be non-zero, and at most `u64::MAX` units.
pub fn parse_percent(text: &str) -> Result<Rate, &'static str> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || text.ends_with('.') {
        return Err("a percent is digits with an optional decimal point, e.g. \"0.05\"");
    }
    if fraction.len() > PERCENT_DECIMALS_MAX {
        return Err("a percent has at most 10 decimals");
    }
    let (exact, rest) = fraction.split_at(fraction.len().min(PERCENT_DECIMALS_EXACT));
    if rest.bytes().any(|b| b != b'0') {
        return Err("a percent is exact to 8 decimals (one rate unit is 10^-8 percent)");
    }
    let too_large = "the rate does not fit (at most 184467440737.09551615 percent)";
    let mut units: u64 = 0;
    for byte in whole.bytes() {
        units = units
            .checked_mul(10)
            .and_then(|u| u.checked_add(u64::from(byte - b'0')))
            .ok_or(too_large)?;
    }
    units = units.checked_mul(UNITS_PER_PERCENT).ok_or(too_large)?;
    let mut scale = UNITS_PER_PERCENT;
    for byte in exact.bytes() {
        scale /= 10;
        units = units
            .checked_add(u64::from(byte - b'0') * scale)
            .ok_or(too_large)?;
    }
    Ok(Rate(units))
}

/// A rate as a percent with at least 2 decimals and no trailing zeros beyond them: exact.
#[must_use]
pub fn format_percent(rate: Rate) -> String {
    let whole = rate.0 / UNITS_PER_PERCENT;
    let fraction = format!("{:08}", rate.0 % UNITS_PER_PERCENT);
    let trimmed = fraction.trim_end_matches('0');
    let shown = if trimmed.len() < 2 {
        &fraction[..2]
    } else {
        trimmed
    };
    format!("{whole}.{shown}")
}

/// A rate on the wire: a decimal string in percent (`"0.05"` is 0.05%).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Percent(pub Rate);

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PercentVisitor;
        impl Visitor<'_> for PercentVisitor {
            type Value = Rate;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter
                    .write_str("a percent as a decimal string with at most 8 significant decimals")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Rate, E> {
                parse_percent(text).map_err(|_| E::invalid_value(Unexpected::Str(text), &self))
            }
        }
        deserializer.deserialize_str(PercentVisitor).map(Percent)
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_percent(self.0))
    }
}

impl PartialSchema for Percent {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[0-9]+(\\.[0-9]{1,10})?$"))
            .description(Some(
                "A rate in percent as a decimal string (\"0.05\" is 0.05%), exact to 8 decimals.",
            ))
            .examples(["0.05"])
            .into()
    }
}

impl ToSchema for Percent {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Percent")
    }
}

/// A business date on the wire: `"YYYY-MM-DD"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DateText(pub Date);

impl<'de> Deserialize<'de> for DateText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DateVisitor;
        impl Visitor<'_> for DateVisitor {
            type Value = Date;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a date as YYYY-MM-DD, from 1970-01-01")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Date, E> {
                text.parse::<Date>()
                    .map_err(|_| E::invalid_value(Unexpected::Str(text), &self))
            }
        }
        deserializer.deserialize_str(DateVisitor).map(DateText)
    }
}

impl Serialize for DateText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl PartialSchema for DateText {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Date,
            )))
            .description(Some("A business date, YYYY-MM-DD."))
            .examples(["2026-11-11"])
            .into()
    }
}

impl ToSchema for DateText {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Date")
    }
}

/// A date that may be unset (`Date(0)`): `null` then.
fn optional_date(date: Date) -> Option<DateText> {
    (date != Date(0)).then_some(DateText(date))
}

/// An i128 as a decimal string with an optional minus sign.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecI128(pub i128);

impl Serialize for DecI128 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl PartialSchema for DecI128 {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^-?[0-9]+$"))
            .description(Some("A signed 128-bit integer as a decimal string."))
            .examples(["-100"])
            .into()
    }
}

impl ToSchema for DecI128 {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("I128")
    }
}

/// A component of what a borrower owes.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = CreditComponent)]
pub enum ComponentName {
    Penalty,
    Fee,
    Interest,
    Principal,
}

impl ComponentName {
    fn component(self) -> Component {
        match self {
            ComponentName::Penalty => Component::Penalty,
            ComponentName::Fee => Component::Fee,
            ComponentName::Interest => Component::Interest,
            ComponentName::Principal => Component::Principal,
        }
    }
}

/// The repayment order of a program: the four components, each once (checked by the engine,
/// `waterfall_invalid`). Omitted: `["penalty", "fee", "interest", "principal"]`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema)]
#[serde(transparent)]
pub struct Waterfall(pub [ComponentName; 4]);

impl Default for Waterfall {
    fn default() -> Waterfall {
        Waterfall([
            ComponentName::Penalty,
            ComponentName::Fee,
            ComponentName::Interest,
            ComponentName::Principal,
        ])
    }
}

/// How a fraction of a fen becomes a whole fen.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = Rounding)]
pub enum RoundingName {
    #[default]
    HalfUp,
    HalfEven,
    Down,
}

impl RoundingName {
    #[must_use]
    pub fn mode(self) -> RoundingMode {
        match self {
            RoundingName::HalfUp => RoundingMode::HalfUp,
            RoundingName::HalfEven => RoundingMode::HalfEven,
            RoundingName::Down => RoundingMode::Down,
        }
    }
}

/// What to do with an applicant who is a student.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = StudentPolicy)]
pub enum StudentPolicyName {
    #[default]
    Block,
    RequireGuardian,
}

/// A status an operator sets on a line.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = StatusChange)]
pub enum StatusChangeName {
    Freeze,
    Unfreeze,
    Close,
}

/// The applicant facts by name.
const APPLICANT_NAMES: [(u8, &str); 2] = [
    (APPLICANT_STUDENT, "student"),
    (APPLICANT_GUARDIAN_CONFIRMED, "guardian_confirmed"),
];

/// Applicant facts on the wire: an array of `student`, `guardian_confirmed`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplicantNames(pub u8);

impl<'de> Deserialize<'de> for ApplicantNames {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NamesVisitor;
        impl<'de> Visitor<'de> for NamesVisitor {
            type Value = u8;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("an array of applicant flags: student, guardian_confirmed")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u8, A::Error> {
                let mut bits = 0;
                while let Some(name) = seq.next_element::<Cow<'de, str>>()? {
                    let bit = APPLICANT_NAMES
                        .iter()
                        .find(|(_, known)| *known == name)
                        .map(|(bit, _)| *bit)
                        .ok_or_else(|| {
                            de::Error::invalid_value(
                                Unexpected::Str(&name),
                                &"an applicant flag: student or guardian_confirmed",
                            )
                        })?;
                    bits |= bit;
                }
                Ok(bits)
            }
        }
        deserializer
            .deserialize_seq(NamesVisitor)
            .map(ApplicantNames)
    }
}

impl Serialize for ApplicantNames {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let set = APPLICANT_NAMES.iter().filter(|(bit, _)| self.0 & bit != 0);
        let mut seq = serializer.serialize_seq(Some(set.clone().count()))?;
        for (_, name) in set {
            seq.serialize_element(name)?;
        }
        seq.end()
    }
}

impl PartialSchema for ApplicantNames {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(APPLICANT_NAMES.iter().map(|(_, name)| *name))),
            )
            .description(Some("Applicant facts, by name."))
            .into()
    }
}

impl ToSchema for ApplicantNames {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ApplicantFlags")
    }
}

/// A string from the list of credit result names.
pub struct CreditResultName;

impl PartialSchema for CreditResultName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(CreditResult::ALL.iter().map(|r| r.name())))
            .description(Some(
                "The result of one credit event: `ok` or the reason it was refused.",
            ))
            .into()
    }
}

impl ToSchema for CreditResultName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CreditResult")
    }
}

// Requests.

/// `POST /v1/credit/programs`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProgramsRequest {
    /// Between 1 and 8189 programs, applied in order.
    pub programs: Vec<ProgramInput>,
}

/// A credit program. Amounts are fen; rates are percent strings. Omitted fields are zero,
/// except `waterfall` (`penalty, fee, interest, principal`), `rounding` (`half_up`) and
/// `student_policy` (`block`).
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ProgramInput {
    pub id: Dec128,
    pub ledger: u32,
    pub code: u16,
    pub interest_account_id: Dec128,
    pub fee_account_id: Dec128,
    pub penalty_account_id: Dec128,
    pub loss_account_id: Dec128,
    pub recovery_account_id: Dec128,
    /// The first business date (only the first program sets it).
    pub start_date: Option<DateText>,
    /// Statement day of the month, 1-28.
    pub statement_day: u8,
    /// Due day of the month, 1-28.
    pub due_day: u8,
    pub min_payment_rate: Percent,
    pub min_payment_floor: Dec64,
    /// Daily interest on the unpaid statement balance after the due day.
    pub interest_daily_rate: Percent,
    /// Daily penalty on the overdue amount.
    pub penalty_daily_rate: Percent,
    pub penalty_min_per_day: Dec64,
    /// Days overdue after which a line is written off (0: never).
    pub write_off_days: u16,
    /// Installment conversions above this fee-inclusive APR are refused.
    pub apr_cap: Percent,
    /// Most credit one borrower may hold in this program.
    pub max_borrower_limit: Dec64,
    /// Most credit as a share of declared annual income, in basis points (0: no cap).
    pub dti_cap_bps: u32,
    /// At least 18.
    pub min_age: u8,
    pub student_policy: StudentPolicyName,
    pub waterfall: Waterfall,
    pub rounding: RoundingName,
    /// What an installment plan settled early owes of its fees not yet billed.
    pub early_settlement: EarlySettlementName,
    /// Reward coins (omit: not offered): the platform's coin account (coin ledger) redeemed
    /// coins return to, and the budget account (this ledger) paying their value.
    pub coin_account_id: Dec128,
    pub coin_funding_account_id: Dec128,
    /// Coins worth one yuan, e.g. 100.
    pub coins_per_yuan: u32,
    /// Most of a statement balance coins may pay, in basis points.
    pub coin_cap_bps: u16,
    /// Co-funding (omit: none): the account funders settle with.
    pub funding_account_id: Dec128,
    /// The platform's least share of every drawdown, in basis points (regulation: 3000).
    pub platform_min_share_bps: u16,
}

/// The fee rule of an installment plan settled early.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = EarlySettlement)]
pub enum EarlySettlementName {
    /// Every fee not yet billed is due.
    ChargeAllRemaining,
    /// The running period's fee is due; later ones are waived.
    #[default]
    WaiveRemaining,
    /// The running period's fee in proportion to its days elapsed; later ones are waived.
    ProRata,
}

impl EarlySettlementName {
    #[must_use]
    pub fn rule(self) -> EarlySettlement {
        match self {
            EarlySettlementName::ChargeAllRemaining => EarlySettlement::ChargeAllRemaining,
            EarlySettlementName::WaiveRemaining => EarlySettlement::WaiveRemaining,
            EarlySettlementName::ProRata => EarlySettlement::ProRata,
        }
    }
}

/// How an installment plan prices its fee.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = InstallmentPricing)]
pub enum PricingName {
    /// `fee_rate` is for the whole plan (Huabei: 12 periods at 8.8%).
    #[default]
    TotalRate,
    /// `fee_rate` is per month (Baitiao: 0.5%/month).
    MonthlyRate,
}

impl ProgramInput {
    #[must_use]
    pub fn into_program(self) -> Program {
        Program {
            id: self.id.0,
            ledger: self.ledger,
            code: self.code,
            interest_account_id: self.interest_account_id.0,
            fee_account_id: self.fee_account_id.0,
            penalty_account_id: self.penalty_account_id.0,
            loss_account_id: self.loss_account_id.0,
            recovery_account_id: self.recovery_account_id.0,
            start_date: self.start_date.map_or(Date(0), |d| d.0),
            statement_day: self.statement_day,
            due_day: self.due_day,
            min_payment_rate: self.min_payment_rate.0,
            min_payment_floor: self.min_payment_floor.0,
            interest_daily_rate: self.interest_daily_rate.0,
            penalty_daily_rate: self.penalty_daily_rate.0,
            penalty_min_per_day: self.penalty_min_per_day.0,
            write_off_days: self.write_off_days,
            apr_cap: self.apr_cap.0,
            max_borrower_limit: self.max_borrower_limit.0,
            dti_cap_bps: self.dti_cap_bps,
            min_age: self.min_age,
            student_policy: match self.student_policy {
                StudentPolicyName::Block => StudentPolicy::Block,
                StudentPolicyName::RequireGuardian => StudentPolicy::RequireGuardian,
            },
            waterfall: self.waterfall.0.map(ComponentName::component),
            rounding: self.rounding.mode(),
            early_settlement: self.early_settlement.rule(),
            coin_account_id: self.coin_account_id.0,
            coin_funding_account_id: self.coin_funding_account_id.0,
            coins_per_yuan: self.coins_per_yuan,
            coin_cap_bps: self.coin_cap_bps,
            funding_account_id: self.funding_account_id.0,
            platform_min_share_bps: self.platform_min_share_bps,
        }
    }
}

/// `POST /v1/credit/commands`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditCommandsRequest {
    /// Between 1 and 8189 commands, applied in order.
    pub commands: Vec<CommandInput>,
}

/// One credit command, by `type`.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CommandInput {
    OpenLine(OpenLineInput),
    SetLimit(SetLimitInput),
    SetTemporaryLimit(SetTemporaryLimitInput),
    SetStatus(SetStatusInput),
    Authorize(AuthorizeInput),
    Capture(CaptureInput),
    Void(VoidInput),
    Refund(RefundInput),
    Repay(RepayInput),
    DayClose(DayCloseInput),
    ConvertInstallments(ConvertInstallmentsInput),
    SettleInstallments(SettleInstallmentsInput),
    RedeemCoins(RedeemCoinsInput),
    AddFunder(AddFunderInput),
    SettleFunding(SettleFundingInput),
}

/// Converts a captured purchase not yet billed (or, with `purchase_id` omitted, the principal
/// of the current bill, after its statement and by its due day) into an installment plan
/// (`id` is the plan's). With a sponsor, the sponsor's bounded budget account pays the whole
/// fee now and the borrower's plan is interest-free.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ConvertInstallmentsInput {
    pub id: Dec128,
    pub line_id: Dec128,
    pub purchase_id: Dec128,
    /// 3, 6, 9, 12 or 24.
    pub periods: u8,
    pub pricing: PricingName,
    pub fee_rate: Percent,
    pub sponsor_account_id: Dec128,
}

/// Settles an installment plan early: the source pays the principal not yet billed and the
/// fee the program's rule makes due (`amount`: that total, checked; omit to accept it).
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SettleInstallmentsInput {
    pub id: Dec128,
    pub line_id: Dec128,
    pub plan_id: Dec128,
    pub source_account_id: Dec128,
    pub amount: Dec64,
}

/// Redeems reward coins against the line's bill.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RedeemCoinsInput {
    pub id: Dec128,
    pub line_id: Dec128,
    pub coin_account_id: Dec128,
    pub coins: Dec64,
}

/// Adds a funder (by its settlement account) to a program's future drawdowns.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AddFunderInput {
    pub program_id: Dec128,
    pub account_id: Dec128,
    pub share_bps: u16,
}

/// Settles the program's funders: net cash and shares of losses since the last settlement.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SettleFundingInput {
    pub program_id: Dec128,
}

/// Opens a line (its ledger account id is the line id) after the eligibility checks.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OpenLineInput {
    pub id: Dec128,
    pub borrower_id: Dec128,
    pub program_id: Dec128,
    pub limit: Dec64,
    pub annual_income: Dec64,
    pub birth_date: DateText,
    /// 0 or omitted: the program's.
    pub statement_day: u8,
    /// 0 or omitted: the program's.
    pub due_day: u8,
    pub applicant: ApplicantNames,
}

/// Sets the permanent limit (a raise is checked; a cut always applies).
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SetLimitInput {
    pub line_id: Dec128,
    pub limit: Dec64,
}

/// Grants a temporary limit valid `from..=to` (amount 0 revokes).
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SetTemporaryLimitInput {
    pub line_id: Dec128,
    pub amount: Dec64,
    pub from: DateText,
    pub to: DateText,
}

/// Freezes, unfreezes or closes a line.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetStatusInput {
    #[serde(default)]
    pub line_id: Dec128,
    pub change: StatusChangeName,
}

/// Holds `amount` of the line for a purchase at a merchant (id = purchase id).
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AuthorizeInput {
    pub id: Dec128,
    pub line_id: Dec128,
    pub merchant_account_id: Dec128,
    pub amount: Dec64,
    /// Seconds until the hold is released; 0 is never.
    pub timeout: u32,
}

/// Captures an authorization (amount 0 or omitted: all of it; less releases the rest).
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureInput {
    pub id: Dec128,
    pub line_id: Dec128,
    pub purchase_id: Dec128,
    pub amount: Dec64,
}

/// Releases an authorization.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct VoidInput {
    pub id: Dec128,
    pub line_id: Dec128,
    pub purchase_id: Dec128,
}

/// Returns part of a captured purchase.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RefundInput {
    pub id: Dec128,
    pub line_id: Dec128,
    pub purchase_id: Dec128,
    pub amount: Dec64,
}

/// A repayment from `source_account_id` (e.g. a bank clearing account).
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RepayInput {
    pub id: Dec128,
    pub line_id: Dec128,
    pub source_account_id: Dec128,
    pub amount: Dec64,
}

/// One chunk of a day-close (prefer `POST /v1/credit/day-close`, which loops over chunks).
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DayCloseInput {
    pub date: DateText,
    pub max_lines: u32,
}

impl CommandInput {
    #[must_use]
    pub fn into_command(self) -> Command {
        match self {
            CommandInput::OpenLine(o) => Command::OpenLine {
                id: o.id.0,
                borrower_id: o.borrower_id.0,
                program_id: o.program_id.0,
                limit: o.limit.0,
                annual_income: o.annual_income.0,
                birth_date: o.birth_date.0,
                statement_day: o.statement_day,
                due_day: o.due_day,
                applicant: o.applicant.0,
            },
            CommandInput::SetLimit(s) => Command::SetLimit {
                line_id: s.line_id.0,
                limit: s.limit.0,
            },
            CommandInput::SetTemporaryLimit(s) => Command::SetTemporaryLimit {
                line_id: s.line_id.0,
                amount: s.amount.0,
                from: s.from.0,
                to: s.to.0,
            },
            CommandInput::SetStatus(s) => Command::SetStatus {
                line_id: s.line_id.0,
                change: match s.change {
                    StatusChangeName::Freeze => StatusChange::Freeze,
                    StatusChangeName::Unfreeze => StatusChange::Unfreeze,
                    StatusChangeName::Close => StatusChange::Close,
                },
            },
            CommandInput::Authorize(a) => Command::Authorize {
                id: a.id.0,
                line_id: a.line_id.0,
                merchant_account_id: a.merchant_account_id.0,
                amount: a.amount.0,
                timeout: a.timeout,
            },
            CommandInput::Capture(c) => Command::Capture {
                id: c.id.0,
                line_id: c.line_id.0,
                purchase_id: c.purchase_id.0,
                amount: c.amount.0,
            },
            CommandInput::Void(v) => Command::Void {
                id: v.id.0,
                line_id: v.line_id.0,
                purchase_id: v.purchase_id.0,
            },
            CommandInput::Refund(r) => Command::Refund {
                id: r.id.0,
                line_id: r.line_id.0,
                purchase_id: r.purchase_id.0,
                amount: r.amount.0,
            },
            CommandInput::Repay(r) => Command::Repay {
                id: r.id.0,
                line_id: r.line_id.0,
                source_account_id: r.source_account_id.0,
                amount: r.amount.0,
            },
            CommandInput::DayClose(d) => Command::DayClose {
                date: d.date.0,
                max_lines: d.max_lines,
            },
            CommandInput::ConvertInstallments(c) => Command::ConvertInstallments {
                id: c.id.0,
                line_id: c.line_id.0,
                purchase_id: c.purchase_id.0,
                periods: c.periods,
                pricing: match c.pricing {
                    PricingName::TotalRate => Pricing::TotalRate(c.fee_rate.0),
                    PricingName::MonthlyRate => Pricing::MonthlyRate(c.fee_rate.0),
                },
                sponsor_account_id: c.sponsor_account_id.0,
            },
            CommandInput::SettleInstallments(s) => Command::SettleInstallments {
                id: s.id.0,
                line_id: s.line_id.0,
                plan_id: s.plan_id.0,
                source_account_id: s.source_account_id.0,
                amount: s.amount.0,
            },
            CommandInput::RedeemCoins(r) => Command::RedeemCoins {
                id: r.id.0,
                line_id: r.line_id.0,
                coin_account_id: r.coin_account_id.0,
                coins: r.coins.0,
            },
            CommandInput::AddFunder(a) => Command::AddFunder {
                program_id: a.program_id.0,
                account_id: a.account_id.0,
                share_bps: a.share_bps,
            },
            CommandInput::SettleFunding(s) => Command::SettleFunding {
                program_id: s.program_id.0,
            },
        }
    }
}

/// `POST /v1/credit/day-close`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DayCloseRequest {
    /// The business date to close: the current one.
    pub date: DateText,
    /// Lines per submitted chunk, 1 to 1000000 (default 100000).
    #[serde(default)]
    pub chunk: Option<u32>,
}

/// `GET /v1/credit/lines/{id}/raise-check`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RaiseCheckQuery {
    /// The proposed permanent limit, fen (decimal u64).
    #[param(value_type = String, required = true)]
    pub limit: Option<String>,
}

/// `GET /v1/credit/quote`: exactly one of `total_rate` and `monthly_rate`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QuoteQuery {
    /// The amount financed, fen (decimal u64).
    #[param(value_type = String, required = true)]
    pub principal: Option<String>,
    /// Months: 3, 6, 9, 12 or 24.
    #[param(value_type = u32, required = true)]
    pub periods: Option<String>,
    /// Fee for the whole plan, percent of the principal (e.g. `8.8`).
    pub total_rate: Option<String>,
    /// Fee per month, percent of the principal (e.g. `0.5`).
    pub monthly_rate: Option<String>,
    /// `half_up` (default), `half_even` or `down`.
    pub rounding: Option<String>,
}

// Responses.

/// The results of a credit write, one per event, in order.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "schema only: the body is written by `results_body`"
)]
pub struct CreditResultsResponse {
    results: Vec<CreditResultName>,
}

/// The outcome of `POST /v1/credit/day-close`.
#[derive(Serialize, ToSchema)]
pub struct DayCloseOutput {
    /// `ok`, or the first refusal (`date_must_be_business_date`).
    #[schema(value_type = CreditResultName)]
    pub result: &'static str,
    /// The business date now (the day after `date` on success).
    pub business_date: Option<DateText>,
    /// Lines in the book.
    pub lines: u32,
    /// Day-close commands submitted.
    pub chunks: u32,
}

/// `GET /v1/credit/lines/{id}/raise-check`.
#[derive(Serialize, ToSchema)]
pub struct RaiseCheckOutput {
    /// `ok` if the raise would be accepted now.
    #[schema(value_type = CreditResultName)]
    pub result: &'static str,
}

/// Progress of the running day-close.
#[derive(Serialize, ToSchema)]
pub struct DayCloseProgress {
    /// Lines already closed for the current business date.
    pub done: u32,
    pub lines: u32,
}

/// `GET /v1/credit/business-date`.
#[derive(Serialize, ToSchema)]
pub struct BusinessDateOutput {
    /// `null` until the first program.
    pub business_date: Option<DateText>,
    pub day_close: DayCloseProgress,
}

/// Amounts owed by component, billed and unpaid.
#[derive(Serialize, ToSchema)]
pub struct OwedOutput {
    pub penalty: Dec64,
    pub fee: Dec64,
    pub interest: Dec64,
    pub principal: Dec64,
    pub total: Dec64,
}

/// Movements of one statement cycle.
#[derive(Serialize, ToSchema)]
pub struct CycleOutput {
    pub purchases: Dec64,
    pub refunds: Dec64,
    pub repayments: Dec64,
    pub fees: Dec64,
    pub interest: Dec64,
    pub penalties: Dec64,
    /// Installment principal billed.
    pub installments: Dec64,
}

impl CycleOutput {
    fn new(cycle: &credit::Cycle) -> CycleOutput {
        CycleOutput {
            purchases: Dec64(cycle.purchases),
            refunds: Dec64(cycle.refunds),
            repayments: Dec64(cycle.repayments),
            fees: Dec64(cycle.fees),
            interest: Dec64(cycle.interest),
            penalties: Dec64(cycle.penalties),
            installments: Dec64(cycle.installments),
        }
    }
}

/// The last statement (bill).
#[derive(Serialize, ToSchema)]
pub struct StatementOutput {
    pub date: DateText,
    pub due_date: DateText,
    pub previous_balance: Dec64,
    pub cycle: CycleOutput,
    /// Everything billed and unpaid at the statement date.
    pub balance: Dec64,
    pub minimum_payment: Dec64,
}

impl StatementOutput {
    fn new(statement: &Statement) -> Option<StatementOutput> {
        (statement.date != Date(0)).then(|| StatementOutput {
            date: DateText(statement.date),
            due_date: DateText(statement.due_date),
            previous_balance: Dec64(statement.previous_balance),
            cycle: CycleOutput::new(&statement.cycle),
            balance: Dec64(statement.balance),
            minimum_payment: Dec64(statement.minimum_payment),
        })
    }
}

/// A temporary limit grant, valid `from..=to`.
#[derive(Serialize, ToSchema)]
pub struct TemporaryLimitOutput {
    pub amount: Dec64,
    pub from: Option<DateText>,
    pub to: Option<DateText>,
}

/// A line's status.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = LineStatus)]
pub enum LineStatusName {
    Active,
    Frozen,
    Closed,
    WrittenOff,
}

/// A credit line as a client sees it. Amounts are fen.
#[derive(Serialize, ToSchema)]
pub struct LineOutput {
    pub id: Dec128,
    pub borrower_id: Dec128,
    pub status: LineStatusName,
    pub applicant: ApplicantNames,
    pub birth_date: DateText,
    pub annual_income: Dec64,
    pub statement_day: u8,
    pub due_day: u8,
    /// The permanent limit.
    pub limit: Dec64,
    pub temporary_limit: TemporaryLimitOutput,
    /// The limit in force on the business date: permanent plus a current temporary grant.
    pub effective_limit: Dec64,
    /// Held by open authorizations.
    pub held: Dec64,
    /// Net owed: owed + unbilled + installment − credit balance (negative: in credit).
    pub balance: DecI128,
    /// What the line may still spend.
    pub available: Dec64,
    /// Billed and unpaid, by component.
    pub owed: OwedOutput,
    /// Principal of purchases since the last statement, net of refunds.
    pub unbilled: Dec64,
    /// Principal of installment plans not yet billed.
    pub installment: Dec64,
    /// Value of coins redeemed since the last statement.
    pub coins_redeemed: Dec64,
    /// Overpayment and refunds beyond what is owed.
    pub credit_balance: Dec64,
    /// The part of the missed minimum payment still unpaid.
    pub past_due: Dec64,
    pub days_overdue: u32,
    /// `current`, `1-30`, `31-60`, `61-90` or `90+`.
    pub aging_bucket: &'static str,
    /// Daily interest accrues on the unpaid statement balance.
    pub revolving: bool,
    /// Movements since the last statement.
    pub cycle: CycleOutput,
    /// `null` before the first statement.
    pub statement: Option<StatementOutput>,
    pub written_off: Dec64,
}

impl LineOutput {
    #[must_use]
    pub fn new(view: &LineView) -> LineOutput {
        let line = &view.line;
        LineOutput {
            id: Dec128(line.id),
            borrower_id: Dec128(line.borrower_id),
            status: match line.status {
                LineStatus::Active => LineStatusName::Active,
                LineStatus::Frozen => LineStatusName::Frozen,
                LineStatus::Closed => LineStatusName::Closed,
                LineStatus::WrittenOff => LineStatusName::WrittenOff,
            },
            applicant: ApplicantNames(line.applicant),
            birth_date: DateText(line.birth_date),
            annual_income: Dec64(line.annual_income),
            statement_day: line.statement_day,
            due_day: line.due_day,
            limit: Dec64(line.limit),
            temporary_limit: TemporaryLimitOutput {
                amount: Dec64(line.temporary.amount),
                from: optional_date(line.temporary.from),
                to: optional_date(line.temporary.to),
            },
            effective_limit: Dec64(view.effective_limit),
            held: Dec64(view.held),
            balance: DecI128(view.balance),
            available: Dec64(view.available),
            owed: OwedOutput {
                penalty: Dec64(line.owed.penalty),
                fee: Dec64(line.owed.fee),
                interest: Dec64(line.owed.interest),
                principal: Dec64(line.owed.principal),
                total: Dec64(line.owed.total()),
            },
            unbilled: Dec64(line.unbilled),
            installment: Dec64(line.installment),
            coins_redeemed: Dec64(line.coins_redeemed),
            credit_balance: Dec64(line.credit_balance),
            past_due: Dec64(line.past_due),
            days_overdue: view.days_overdue,
            aging_bucket: credit::aging_bucket(view.days_overdue),
            revolving: line.revolving,
            cycle: CycleOutput::new(&line.cycle),
            statement: StatementOutput::new(&line.statement),
            written_off: Dec64(line.written_off),
        }
    }
}

/// One month of an installment schedule.
#[derive(Serialize, ToSchema)]
pub struct PeriodOutput {
    /// 1 for the first month.
    pub period: u32,
    pub principal: Dec64,
    pub fee: Dec64,
    /// principal + fee.
    pub payment: Dec64,
}

/// The APR of a plan's cash flows, in percent.
#[derive(Serialize, ToSchema)]
pub struct AprOutput {
    /// 12 × the monthly rate.
    pub nominal: Percent,
    /// (1 + monthly rate)^12 − 1.
    pub effective: Percent,
}

impl AprOutput {
    fn new(apr: &Apr) -> AprOutput {
        AprOutput {
            nominal: Percent(apr.nominal),
            effective: Percent(apr.effective),
        }
    }
}

/// `GET /v1/credit/quote`: an installment schedule and its cost.
#[derive(Serialize, ToSchema)]
pub struct QuoteOutput {
    pub principal: Dec64,
    pub total_fee: Dec64,
    pub schedule: Vec<PeriodOutput>,
    pub apr: AprOutput,
}

impl QuoteOutput {
    #[must_use]
    pub fn new(quote: &Quote) -> QuoteOutput {
        QuoteOutput {
            principal: Dec64(quote.principal),
            total_fee: Dec64(quote.total_fee),
            schedule: quote
                .periods
                .iter()
                .zip(1..)
                .map(|(p, period)| PeriodOutput {
                    period,
                    principal: Dec64(p.principal),
                    fee: Dec64(p.fee),
                    payment: Dec64(p.principal.saturating_add(p.fee)),
                })
                .collect(),
            apr: AprOutput::new(&quote.apr),
        }
    }
}

/// The pricing of a quote query: exactly one of the two rates.
pub fn quote_pricing(total: Option<Rate>, monthly: Option<Rate>) -> Option<Pricing> {
    match (total, monthly) {
        (Some(rate), None) => Some(Pricing::TotalRate(rate)),
        (None, Some(rate)) => Some(Pricing::MonthlyRate(rate)),
        _ => None,
    }
}

/// An installment plan. Amounts are fen.
#[derive(Serialize, ToSchema)]
pub struct PlanOutput {
    pub id: Dec128,
    /// The converted purchase; `null` for a bill.
    pub purchase_id: Option<Dec128>,
    /// The sponsor whose budget paid the fee; `null` when the borrower pays it.
    pub sponsor_account_id: Option<Dec128>,
    /// `active`, `completed`, `settled`, `refunded` or `written_off`.
    pub status: &'static str,
    pub created: DateText,
    pub periods: u8,
    pub periods_billed: u8,
    pub principal: Dec64,
    /// The fee the borrower pays over the plan.
    pub fee: Dec64,
    pub sponsor_fee: Dec64,
    /// Principal not yet billed.
    pub remaining: Dec64,
    pub fee_billed: Dec64,
    pub settlement_fee: Dec64,
    /// The borrower's nominal APR at conversion, percent.
    pub apr_nominal: Percent,
}

impl PlanOutput {
    #[must_use]
    pub fn new(plan: &credit::Plan) -> PlanOutput {
        let some = |id: u128| (id != 0).then_some(Dec128(id));
        PlanOutput {
            id: Dec128(plan.id),
            purchase_id: some(plan.purchase_id),
            sponsor_account_id: some(plan.sponsor_account_id),
            status: plan.status.name(),
            created: DateText(plan.created),
            periods: plan.periods,
            periods_billed: plan.billed,
            principal: Dec64(plan.principal),
            fee: Dec64(plan.fee),
            sponsor_fee: Dec64(plan.sponsor_fee),
            remaining: Dec64(plan.remaining),
            fee_billed: Dec64(plan.fee_billed),
            settlement_fee: Dec64(plan.settlement_fee),
            apr_nominal: Percent(Rate(plan.apr_nominal)),
        }
    }
}

/// `GET /v1/credit/lines/{id}/plans`.
#[derive(Serialize, ToSchema)]
pub struct PlansOutput {
    pub plans: Vec<PlanOutput>,
}

/// One participant's position in a program's principal, fen.
#[derive(Serialize, ToSchema)]
pub struct ShareOutput {
    pub outstanding: Dec64,
    pub drawn: Dec64,
    pub repaid: Dec64,
    pub lost: Dec64,
}

impl ShareOutput {
    fn new(share: &credit::Share) -> ShareOutput {
        ShareOutput {
            outstanding: Dec64(share.outstanding),
            drawn: Dec64(share.drawn),
            repaid: Dec64(share.repaid),
            lost: Dec64(share.lost),
        }
    }
}

/// A funder's exposure.
#[derive(Serialize, ToSchema)]
pub struct FunderOutput {
    pub account_id: Dec128,
    pub share_bps: u16,
    #[serde(flatten)]
    pub share: ShareOutput,
    /// Not yet settled: drawn, repaid and lost since the last settlement.
    pub unsettled_drawn: Dec64,
    pub unsettled_repaid: Dec64,
    pub unsettled_lost: Dec64,
}

/// `GET /v1/credit/programs/{id}/funding`: the per-funder exposure report.
#[derive(Serialize, ToSchema)]
pub struct FundingOutput {
    /// The platform's share of new drawdowns, basis points.
    pub platform_share_bps: u32,
    pub platform: ShareOutput,
    pub funders: Vec<FunderOutput>,
}

impl FundingOutput {
    #[must_use]
    pub fn new(funding: &credit::Funding) -> FundingOutput {
        FundingOutput {
            platform_share_bps: funding.platform_share_bps(),
            platform: ShareOutput::new(&funding.platform),
            funders: funding
                .funders
                .iter()
                .map(|f| FunderOutput {
                    account_id: Dec128(f.account_id),
                    share_bps: f.share_bps,
                    share: ShareOutput::new(&f.share),
                    unsettled_drawn: Dec64(f.unsettled_drawn),
                    unsettled_repaid: Dec64(f.unsettled_repaid),
                    unsettled_lost: Dec64(f.unsettled_lost),
                })
                .collect(),
        }
    }
}
