//! The JSON wire format: decimal-string integers, flag-name arrays, request and response bodies.
//!
//! Invariants owned here:
//! - u128 and u64 values travel as decimal strings (JSON numbers lose precision above 2^53 in
//!   most clients); u32 and u16 values as JSON numbers;
//! - flags travel as arrays of the names in `AccountFlags::NAMES` / `TransferFlags::NAMES`;
//! - omitted event fields are zero, unknown fields are rejected;
//! - parsing borrows from the request body: no `String` is allocated per field, because a
//!   request holds up to 8189 events of a dozen fields each and this is the hot path.
//!
//! The same types carry the OpenAPI schemas, so the document cannot drift from the parser.

use std::borrow::Cow;
use std::fmt;

use ledger::{
    Account, AccountBalance, AccountFlags, AccountLimits, CreateAccountResult,
    CreateTransferResult, LimitChange, PendingStatus, SetLimitResult, Transfer, TransferFlags,
};
use serde::de::{self, DeserializeSeed, SeqAccess, Unexpected, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// Parses a decimal string of ASCII digits (no sign, no spaces) into a u128; `None` if it is
/// not one or does not fit. Leading zeros are accepted.
#[must_use]
pub fn parse_decimal(text: &str) -> Option<u128> {
    let bytes = text.as_bytes();
    // 39 digits hold u128::MAX; anything longer is either an overflow or a zero-padded number
    // nobody sends on purpose.
    if bytes.is_empty() || bytes.len() > 39 {
        return None;
    }
    // The first 19 digits cannot overflow a u64, so they skip the checked u128 arithmetic that
    // dominates the cost of long ids.
    let (head, tail) = bytes.split_at(bytes.len().min(19));
    let mut low: u64 = 0;
    for &byte in head {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        low = low * 10 + u64::from(digit);
    }
    let mut value = u128::from(low);
    for &byte in tail {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u128::from(digit))?;
    }
    Some(value)
}

/// A u128 as a decimal string on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dec128(pub u128);

/// A u64 as a decimal string on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dec64(pub u64);

struct DecimalVisitor {
    max: u128,
    expecting: &'static str,
}

impl Visitor<'_> for DecimalVisitor {
    type Value = u128;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str(self.expecting)
    }

    // `visit_borrowed_str` forwards here by default, so both borrowed and unescaped strings
    // arrive as `&str` without an allocation.
    fn visit_str<E: de::Error>(self, text: &str) -> Result<u128, E> {
        match parse_decimal(text) {
            Some(value) if value <= self.max => Ok(value),
            _ => Err(E::invalid_value(Unexpected::Str(text), &self)),
        }
    }
}

const DEC128_EXPECTING: &str = "a decimal string of an integer from 0 to 2^128-1";
const DEC64_EXPECTING: &str = "a decimal string of an integer from 0 to 2^64-1";

impl<'de> Deserialize<'de> for Dec128 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_str(DecimalVisitor {
                max: u128::MAX,
                expecting: DEC128_EXPECTING,
            })
            .map(Dec128)
    }
}

impl<'de> Deserialize<'de> for Dec64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = deserializer.deserialize_str(DecimalVisitor {
            max: u128::from(u64::MAX),
            expecting: DEC64_EXPECTING,
        })?;
        Ok(Dec64(
            u64::try_from(value).expect("the visitor checked the u64 bound"),
        ))
    }
}

impl Serialize for Dec128 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // collect_str formats straight into the output: no intermediate String.
        serializer.collect_str(&self.0)
    }
}

impl Serialize for Dec64 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

fn decimal_schema(description: &str, max_length: usize, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[0-9]+$"))
        .min_length(Some(1))
        .max_length(Some(max_length))
        .description(Some(description))
        .examples([example])
        .into()
}

impl PartialSchema for Dec128 {
    fn schema() -> RefOr<Schema> {
        decimal_schema(
            "An unsigned 128-bit integer as a decimal string (0 to 2^128-1).",
            39,
            "1",
        )
    }
}

impl ToSchema for Dec128 {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("U128")
    }
}

impl PartialSchema for Dec64 {
    fn schema() -> RefOr<Schema> {
        decimal_schema(
            "An unsigned 64-bit integer as a decimal string (0 to 2^64-1). Timestamps are \
             nanoseconds since the Unix epoch.",
            20,
            "0",
        )
    }
}

impl ToSchema for Dec64 {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("U64")
    }
}

/// Flags as an array of names, given the name table of one flag kind.
struct FlagNamesVisitor {
    names: &'static [(u16, &'static str)],
}

impl fmt::Display for FlagNamesVisitor {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a flag name, one of ")?;
        for (index, (_, name)) in self.names.iter().enumerate() {
            if index > 0 {
                formatter.write_str(", ")?;
            }
            formatter.write_str(name)?;
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for FlagNamesVisitor {
    type Value = u16;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an array of flag names")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u16, A::Error> {
        let mut bits = 0;
        while let Some(bit) = seq.next_element_seed(FlagNameSeed { names: self.names })? {
            // A repeated name is harmless: flags are a set.
            bits |= bit;
        }
        Ok(bits)
    }
}

struct FlagNameSeed {
    names: &'static [(u16, &'static str)],
}

impl<'de> DeserializeSeed<'de> for FlagNameSeed {
    type Value = u16;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<u16, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for FlagNameSeed {
    type Value = u16;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        fmt::Display::fmt(&FlagNamesVisitor { names: self.names }, formatter)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<u16, E> {
        self.names
            .iter()
            .find(|(_, name)| *name == text)
            .map(|(bit, _)| *bit)
            .ok_or_else(|| E::invalid_value(Unexpected::Str(text), &self))
    }
}

fn serialize_flags<S: Serializer>(
    bits: u16,
    names: &'static [(u16, &'static str)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let set = names.iter().filter(|(bit, _)| bits & bit != 0);
    let mut seq = serializer.serialize_seq(Some(set.clone().count()))?;
    for (_, name) in set {
        seq.serialize_element(name)?;
    }
    // Bits without a name (reserved) cannot be stored: the ledger rejects them on creation.
    seq.end()
}

fn flags_schema(names: &'static [(u16, &'static str)], description: &str) -> RefOr<Schema> {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(names.iter().map(|(_, name)| *name))),
        )
        .description(Some(description))
        .into()
}

/// Account flags on the wire: an array of `AccountFlags::NAMES`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountFlagNames(pub u16);

/// Transfer flags on the wire: an array of `TransferFlags::NAMES`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransferFlagNames(pub u16);

impl<'de> Deserialize<'de> for AccountFlagNames {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_seq(FlagNamesVisitor {
                names: &AccountFlags::NAMES,
            })
            .map(AccountFlagNames)
    }
}

impl<'de> Deserialize<'de> for TransferFlagNames {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_seq(FlagNamesVisitor {
                names: &TransferFlags::NAMES,
            })
            .map(TransferFlagNames)
    }
}

impl Serialize for AccountFlagNames {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_flags(self.0, &AccountFlags::NAMES, serializer)
    }
}

impl Serialize for TransferFlagNames {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_flags(self.0, &TransferFlags::NAMES, serializer)
    }
}

impl PartialSchema for AccountFlagNames {
    fn schema() -> RefOr<Schema> {
        flags_schema(&AccountFlags::NAMES, "Account flags, by name.")
    }
}

impl ToSchema for AccountFlagNames {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("AccountFlags")
    }
}

impl PartialSchema for TransferFlagNames {
    fn schema() -> RefOr<Schema> {
        flags_schema(&TransferFlags::NAMES, "Transfer flags, by name.")
    }
}

impl ToSchema for TransferFlagNames {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("TransferFlags")
    }
}

/// Declares a schema-only type: a string from a fixed list of result-code names.
macro_rules! name_list_schema {
    ($type:ident, $schema_name:literal, $description:literal, $names:expr) => {
        #[doc = $description]
        pub struct $type;

        impl PartialSchema for $type {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some($names))
                    .description(Some($description))
                    .into()
            }
        }

        impl ToSchema for $type {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($schema_name)
            }
        }
    };
}

name_list_schema!(
    CreateAccountResultName,
    "CreateAccountResult",
    "The result of creating one account: `ok` or the reason it was not created.",
    CreateAccountResult::ALL.iter().map(|r| r.name())
);
name_list_schema!(
    CreateTransferResultName,
    "CreateTransferResult",
    "The result of creating one transfer: `ok` or the reason it was not created.",
    CreateTransferResult::ALL.iter().map(|r| r.name())
);
name_list_schema!(
    SetLimitResultName,
    "SetLimitResult",
    "The result of one limit change: `ok` or the reason it was not applied.",
    SetLimitResult::ALL.iter().map(|r| r.name())
);

// Requests.

/// `POST /v1/accounts`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountsRequest {
    /// Between 1 and 8189 accounts, applied in order.
    pub accounts: Vec<AccountInput>,
}

/// One account to create. Omitted fields are zero or empty.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AccountInput {
    pub id: Dec128,
    pub ledger: u32,
    pub code: u16,
    pub flags: AccountFlagNames,
    pub user_data_128: Dec128,
    pub user_data_64: Dec64,
    pub user_data_32: u32,
}

impl AccountInput {
    #[must_use]
    pub fn into_account(self) -> Account {
        Account {
            id: self.id.0,
            user_data_128: self.user_data_128.0,
            user_data_64: self.user_data_64.0,
            user_data_32: self.user_data_32,
            ledger: self.ledger,
            code: self.code,
            flags: AccountFlags(self.flags.0),
            ..Account::default()
        }
    }
}

/// `POST /v1/transfers`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTransfersRequest {
    /// Between 1 and 8189 transfers, applied in order.
    pub transfers: Vec<TransferInput>,
}

/// One transfer to create. Omitted fields are zero or empty.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TransferInput {
    pub id: Dec128,
    pub debit_account_id: Dec128,
    pub credit_account_id: Dec128,
    /// Minor units. On a post, 2^128-1 means "the whole pending amount".
    pub amount: Dec128,
    pub pending_id: Dec128,
    /// Seconds until a pending transfer expires; 0 is never.
    pub timeout: u32,
    pub ledger: u32,
    pub code: u16,
    pub flags: TransferFlagNames,
    pub user_data_128: Dec128,
    pub user_data_64: Dec64,
    pub user_data_32: u32,
}

impl TransferInput {
    #[must_use]
    pub fn into_transfer(self) -> Transfer {
        Transfer {
            id: self.id.0,
            debit_account_id: self.debit_account_id.0,
            credit_account_id: self.credit_account_id.0,
            amount: self.amount.0,
            pending_id: self.pending_id.0,
            user_data_128: self.user_data_128.0,
            user_data_64: self.user_data_64.0,
            user_data_32: self.user_data_32,
            timeout: self.timeout,
            ledger: self.ledger,
            code: self.code,
            flags: TransferFlags(self.flags.0),
            timestamp: 0,
        }
    }
}

/// `POST /v1/accounts/limits`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetLimitsRequest {
    /// Between 1 and 8189 limit changes, applied in order.
    pub limits: Vec<LimitInput>,
}

/// One change of an account's limits; an omitted limit stays as it is.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LimitInput {
    pub account_id: Dec128,
    pub debit_limit: Option<Dec128>,
    pub credit_limit: Option<Dec128>,
}

impl LimitInput {
    #[must_use]
    pub fn into_change(self) -> LimitChange {
        LimitChange {
            account_id: self.account_id.0,
            debit_limit: self.debit_limit.map(|limit| limit.0),
            credit_limit: self.credit_limit.map(|limit| limit.0),
        }
    }
}

// Responses.

/// The results of `POST /v1/accounts`, one per event, in order.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "schema only: the body is written by `results_body`"
)]
pub struct CreateAccountsResponse {
    results: Vec<CreateAccountResultName>,
}

/// The results of `POST /v1/transfers`, one per event, in order.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "schema only: the body is written by `results_body`"
)]
pub struct CreateTransfersResponse {
    results: Vec<CreateTransferResultName>,
}

/// The results of `POST /v1/accounts/limits`, one per event, in order.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "schema only: the body is written by `results_body`"
)]
pub struct SetLimitsResponse {
    results: Vec<SetLimitResultName>,
}

/// Writes `{"results":["ok",...]}` straight into bytes: the hot path answers up to 8189 names
/// per request and needs no serializer for a list of constant strings.
#[must_use]
pub fn results_body<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> Vec<u8> {
    const PREFIX: &[u8] = b"{\"results\":[";
    let mut body = Vec::with_capacity(PREFIX.len() + 2 + names.len() * 8);
    body.extend_from_slice(PREFIX);
    for (index, name) in names.enumerate() {
        if index > 0 {
            body.push(b',');
        }
        // Result names are snake_case ASCII (checked by a test), so they need no escaping.
        body.push(b'"');
        body.extend_from_slice(name.as_bytes());
        body.push(b'"');
    }
    body.extend_from_slice(b"]}");
    body
}

/// An account with its balances and limits.
#[derive(Serialize, ToSchema)]
pub struct AccountOutput {
    pub id: Dec128,
    pub debits_pending: Dec128,
    pub debits_posted: Dec128,
    pub credits_pending: Dec128,
    pub credits_posted: Dec128,
    pub user_data_128: Dec128,
    pub user_data_64: Dec64,
    pub user_data_32: u32,
    pub ledger: u32,
    pub code: u16,
    pub flags: AccountFlagNames,
    /// How far debits may exceed credits (with `debits_must_not_exceed_credits`).
    pub debit_limit: Dec128,
    /// How far credits may exceed debits (with `credits_must_not_exceed_debits`).
    pub credit_limit: Dec128,
    /// Creation time, nanoseconds since the Unix epoch.
    pub timestamp: Dec64,
}

impl AccountOutput {
    #[must_use]
    pub fn new(account: &Account, limits: &AccountLimits) -> AccountOutput {
        AccountOutput {
            id: Dec128(account.id),
            debits_pending: Dec128(account.debits_pending),
            debits_posted: Dec128(account.debits_posted),
            credits_pending: Dec128(account.credits_pending),
            credits_posted: Dec128(account.credits_posted),
            user_data_128: Dec128(account.user_data_128),
            user_data_64: Dec64(account.user_data_64),
            user_data_32: account.user_data_32,
            ledger: account.ledger,
            code: account.code,
            flags: AccountFlagNames(account.flags.0),
            debit_limit: Dec128(limits.debit_limit),
            credit_limit: Dec128(limits.credit_limit),
            timestamp: Dec64(account.timestamp),
        }
    }
}

/// What became of a pending transfer.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = PendingStatus)]
pub enum PendingStatusName {
    Pending,
    Posted,
    Voided,
    Expired,
}

impl From<PendingStatus> for PendingStatusName {
    fn from(status: PendingStatus) -> PendingStatusName {
        match status {
            PendingStatus::Pending => PendingStatusName::Pending,
            PendingStatus::Posted => PendingStatusName::Posted,
            PendingStatus::Voided => PendingStatusName::Voided,
            PendingStatus::Expired => PendingStatusName::Expired,
        }
    }
}

/// A stored transfer.
#[derive(Serialize, ToSchema)]
pub struct TransferOutput {
    pub id: Dec128,
    pub debit_account_id: Dec128,
    pub credit_account_id: Dec128,
    pub amount: Dec128,
    pub pending_id: Dec128,
    pub user_data_128: Dec128,
    pub user_data_64: Dec64,
    pub user_data_32: u32,
    pub timeout: u32,
    pub ledger: u32,
    pub code: u16,
    pub flags: TransferFlagNames,
    /// Creation time, nanoseconds since the Unix epoch; unique per transfer.
    pub timestamp: Dec64,
    /// Only on pending transfers (flag `pending`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_status: Option<PendingStatusName>,
}

impl TransferOutput {
    #[must_use]
    pub fn new(transfer: &Transfer, pending_status: Option<PendingStatus>) -> TransferOutput {
        TransferOutput {
            id: Dec128(transfer.id),
            debit_account_id: Dec128(transfer.debit_account_id),
            credit_account_id: Dec128(transfer.credit_account_id),
            amount: Dec128(transfer.amount),
            pending_id: Dec128(transfer.pending_id),
            user_data_128: Dec128(transfer.user_data_128),
            user_data_64: Dec64(transfer.user_data_64),
            user_data_32: transfer.user_data_32,
            timeout: transfer.timeout,
            ledger: transfer.ledger,
            code: transfer.code,
            flags: TransferFlagNames(transfer.flags.0),
            timestamp: Dec64(transfer.timestamp),
            pending_status: pending_status.map(PendingStatusName::from),
        }
    }
}

/// An account's balances as of `timestamp`.
#[derive(Serialize, ToSchema)]
pub struct BalanceOutput {
    pub timestamp: Dec64,
    pub debits_pending: Dec128,
    pub debits_posted: Dec128,
    pub credits_pending: Dec128,
    pub credits_posted: Dec128,
}

impl BalanceOutput {
    #[must_use]
    pub fn new(balance: &AccountBalance) -> BalanceOutput {
        BalanceOutput {
            timestamp: Dec64(balance.timestamp),
            debits_pending: Dec128(balance.debits_pending),
            debits_posted: Dec128(balance.debits_posted),
            credits_pending: Dec128(balance.credits_pending),
            credits_posted: Dec128(balance.credits_posted),
        }
    }
}

/// One page of an account's transfers.
#[derive(Serialize, ToSchema)]
pub struct TransfersPage {
    pub data: Vec<TransferOutput>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One page of an account's balance history: its balances after each of its transfers.
#[derive(Serialize, ToSchema)]
pub struct BalancesPage {
    pub data: Vec<BalanceOutput>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /v1/accounts/{id}/balances`: a page of history, or one balance with `at`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(
    dead_code,
    reason = "schema only: the handler serializes the variants directly"
)]
pub enum BalancesResponse {
    Page(BalancesPage),
    At(BalanceOutput),
}

/// `/livez` and `/readyz`.
#[derive(Serialize, ToSchema)]
pub struct HealthOutput {
    /// `live`, `ready`, `draining` or `failed`.
    pub status: &'static str,
}
