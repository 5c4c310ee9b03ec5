//! GS1 EPCIS 2.0 events: validation of the five event types, their canonical form and hash,
//! and the few facts a provenance statement keeps.
//!
//! Required fields follow the EPCIS 2.0 JSON Schema (`gs1/EPCIS` `JSON-Schema/`) and the
//! standard's event tables (EPCIS 2.0 §7.4):
//!
//! | Event | Required |
//! | --- | --- |
//! | every event | `type`, `eventTime` (RFC 3339 with offset), `eventTimeZoneOffset` (`±hh:mm`) |
//! | ObjectEvent | `action`; a non-empty `epcList` or `quantityList`, or `sensorElementList` with `readPoint` |
//! | AggregationEvent | `action`; non-empty `childEPCs` or `childQuantityList`; `parentID` unless the action is OBSERVE |
//! | TransactionEvent | `action`; non-empty `bizTransactionList`; non-empty `epcList` or `quantityList` |
//! | TransformationEvent | no `action`; inputs or outputs (EPC or quantity lists), or `transformationID` |
//! | AssociationEvent | `action`; `parentID`; (children optional, as in the schema) |
//!
//! Identifiers (`epcList`, `parentID`, `childEPCs`, `inputEPCList`, `outputEPCList`, and the
//! `epcClass` of quantity lists) must be URIs; `action` is ADD, OBSERVE or DELETE; `readPoint`
//! and `bizLocation` are objects with an `id`; `bizTransactionList` elements have a
//! `bizTransaction`. Other members pass through unchecked (EPCIS allows extensions), but all of
//! them are covered by the event hash.
//!
//! The event hash is SHA-256 of the event's RFC 8785 form ([`crate::jcs`]). It is NOT the CBV
//! 2.0 "event hash ID" (`ni:///sha-256;…?ver=CBV2.0`), whose canonicalisation also rewrites
//! identifiers and drops some fields; an `eventID` the submitter supplies is hashed like any
//! other member.

use std::fmt;

use provenance::Hash;
use sha2::{Digest, Sha256};

use crate::gs1;
use crate::jcs::{self, Json};
use crate::statement::{Action, EventType, Identifier, Role};

/// Most identifiers one event may name (a statement must fit a 65,535-byte entry).
pub const EVENT_IDENTIFIERS_MAX: usize = 1024;

/// Why an event was refused: a JSON pointer (RFC 6901) into the event, and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpcisError {
    pub pointer: String,
    pub reason: String,
}

impl fmt::Display for EpcisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{} (at {})", self.reason, self.pointer)
        }
    }
}

impl std::error::Error for EpcisError {}

fn error(pointer: &str, reason: impl Into<String>) -> EpcisError {
    EpcisError {
        pointer: pointer.to_string(),
        reason: reason.into(),
    }
}

/// A valid event: its canonical bytes and hash, and what a statement keeps of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedEvent {
    /// RFC 8785 form.
    pub canonical: Vec<u8>,
    /// SHA-256 of `canonical`.
    pub event_hash: Hash,
    pub event_type: EventType,
    pub action: Action,
    pub event_time_ms: i64,
    pub event_time_zone_offset_minutes: i16,
    pub biz_step: String,
    pub disposition: String,
    /// Normalised, sorted, unique.
    pub identifiers: Vec<Identifier>,
}

/// The SHA-256 of the RFC 8785 form of `event` (what a submitter signs, after the prefix).
pub fn event_hash(event: &Json) -> Hash {
    Sha256::digest(jcs::canonicalize(event)).into()
}

/// Validates an EPCIS 2.0 event (see the module documentation).
pub fn validate(event: &Json) -> Result<ValidatedEvent, EpcisError> {
    if !matches!(event, Json::Object(_)) {
        return Err(error(
            "",
            format!("an event is an object, not {}", event.kind()),
        ));
    }
    let type_name = required_str(event, "type")?;
    let event_type = EventType::from_name(type_name).ok_or_else(|| {
        error(
            "/type",
            format!(
                "unknown event type {type_name:?}: ObjectEvent, AggregationEvent, \
                 TransformationEvent, TransactionEvent or AssociationEvent"
            ),
        )
    })?;
    let event_time_ms = parse_date_time(required_str(event, "eventTime")?)
        .ok_or_else(|| error("/eventTime", "not an RFC 3339 date-time with an offset"))?;
    let event_time_zone_offset_minutes = parse_offset(required_str(event, "eventTimeZoneOffset")?)
        .ok_or_else(|| {
            error(
                "/eventTimeZoneOffset",
                "not an offset of the form +hh:mm or -hh:mm",
            )
        })?;
    let action = match (event_type, event.get("action")) {
        (EventType::Transformation, None) => Action::None,
        (EventType::Transformation, Some(_)) => {
            return Err(error("/action", "a TransformationEvent has no action"));
        }
        (_, None) => {
            return Err(error(
                "/action",
                "action is required (ADD, OBSERVE, DELETE)",
            ));
        }
        (_, Some(value)) => value
            .as_str()
            .and_then(Action::from_name)
            .ok_or_else(|| error("/action", "action is ADD, OBSERVE or DELETE"))?,
    };
    let mut identifiers = Vec::new();
    let epcs = uri_list(event, "epcList", Role::Epc, &mut identifiers)?;
    let children = uri_list(event, "childEPCs", Role::Child, &mut identifiers)?;
    let inputs = uri_list(event, "inputEPCList", Role::Input, &mut identifiers)?;
    let outputs = uri_list(event, "outputEPCList", Role::Output, &mut identifiers)?;
    let quantities = quantity_list(event, "quantityList", &mut identifiers)?;
    let child_quantities = quantity_list(event, "childQuantityList", &mut identifiers)?;
    let input_quantities = quantity_list(event, "inputQuantityList", &mut identifiers)?;
    let output_quantities = quantity_list(event, "outputQuantityList", &mut identifiers)?;
    let parent = match event.get("parentID") {
        None => false,
        Some(value) => {
            let uri = value
                .as_str()
                .filter(|u| is_uri(u))
                .ok_or_else(|| error("/parentID", "parentID is a URI"))?;
            identifiers.push(Identifier {
                role: Role::Parent,
                id: gs1::normalize(uri),
            });
            true
        }
    };
    let read_point = id_object(event, "readPoint")?;
    id_object(event, "bizLocation")?;
    let transactions = biz_transactions(event)?;
    let sensors = event
        .get("sensorElementList")
        .map(|v| {
            v.as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| error("/sensorElementList", "a non-empty array"))
        })
        .transpose()?
        .is_some();
    let transformation_id = optional_str(event, "transformationID")?.is_some();
    optional_str(event, "eventID")?;
    let biz_step = optional_str(event, "bizStep")?.unwrap_or_default();
    let disposition = optional_str(event, "disposition")?.unwrap_or_default();
    for (name, value) in [("/bizStep", &biz_step), ("/disposition", &disposition)] {
        if value.len() > usize::from(u8::MAX) {
            return Err(error(name, "at most 255 bytes"));
        }
    }
    match event_type {
        EventType::Object if !(epcs || quantities || (sensors && read_point)) => {
            return Err(error(
                "/epcList",
                "an ObjectEvent needs a non-empty epcList or quantityList (or sensorElementList \
                 with readPoint)",
            ));
        }
        EventType::Aggregation if !(children || child_quantities) => {
            return Err(error(
                "/childEPCs",
                "an AggregationEvent needs a non-empty childEPCs or childQuantityList",
            ));
        }
        EventType::Aggregation if !parent && action != Action::Observe => {
            return Err(error(
                "/parentID",
                "an AggregationEvent with action ADD or DELETE needs a parentID",
            ));
        }
        EventType::Transaction if !transactions => {
            return Err(error(
                "/bizTransactionList",
                "a TransactionEvent needs a non-empty bizTransactionList",
            ));
        }
        EventType::Transaction if !(epcs || quantities) => {
            return Err(error(
                "/epcList",
                "a TransactionEvent needs a non-empty epcList or quantityList",
            ));
        }
        EventType::Transformation
            if !(inputs
                || outputs
                || input_quantities
                || output_quantities
                || transformation_id) =>
        {
            return Err(error(
                "/inputEPCList",
                "a TransformationEvent needs inputs, outputs or a transformationID",
            ));
        }
        EventType::Association if !parent => {
            return Err(error("/parentID", "an AssociationEvent needs a parentID"));
        }
        _ => {}
    }
    identifiers.sort();
    identifiers.dedup();
    if identifiers.len() > EVENT_IDENTIFIERS_MAX {
        return Err(error(
            "",
            format!(
                "{} identifiers; an event may name at most {EVENT_IDENTIFIERS_MAX} (split it)",
                identifiers.len()
            ),
        ));
    }
    let canonical = jcs::canonicalize(event);
    Ok(ValidatedEvent {
        event_hash: Sha256::digest(&canonical).into(),
        canonical,
        event_type,
        action,
        event_time_ms,
        event_time_zone_offset_minutes,
        biz_step: biz_step.to_string(),
        disposition: disposition.to_string(),
        identifiers,
    })
}

fn required_str<'a>(event: &'a Json, name: &str) -> Result<&'a str, EpcisError> {
    match event.get(name) {
        None => Err(error(&format!("/{name}"), format!("{name} is required"))),
        Some(value) => value
            .as_str()
            .ok_or_else(|| error(&format!("/{name}"), format!("{name} is a string"))),
    }
}

fn optional_str<'a>(event: &'a Json, name: &str) -> Result<Option<&'a str>, EpcisError> {
    event
        .get(name)
        .map(|value| {
            value
                .as_str()
                .ok_or_else(|| error(&format!("/{name}"), format!("{name} is a string")))
        })
        .transpose()
}

/// A URI as EPCIS uses them: a scheme (a letter, then letters, digits, `+ - .`), a colon, and
/// more, without spaces or control characters.
fn is_uri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    let mut scheme_chars = scheme.chars();
    scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !rest.is_empty()
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// An optional array of identifier URIs; true if present and non-empty.
fn uri_list(
    event: &Json,
    name: &str,
    role: Role,
    identifiers: &mut Vec<Identifier>,
) -> Result<bool, EpcisError> {
    let Some(value) = event.get(name) else {
        return Ok(false);
    };
    let items = value
        .as_array()
        .ok_or_else(|| error(&format!("/{name}"), format!("{name} is an array of URIs")))?;
    for (position, item) in items.iter().enumerate() {
        let uri = item
            .as_str()
            .filter(|u| is_uri(u))
            .ok_or_else(|| error(&format!("/{name}/{position}"), "an identifier URI"))?;
        identifiers.push(Identifier {
            role,
            id: gs1::normalize(uri),
        });
    }
    Ok(!items.is_empty())
}

/// An optional quantity list (`epcClass`, optional non-negative `quantity`, optional `uom`);
/// true if present and non-empty.
fn quantity_list(
    event: &Json,
    name: &str,
    identifiers: &mut Vec<Identifier>,
) -> Result<bool, EpcisError> {
    let Some(value) = event.get(name) else {
        return Ok(false);
    };
    let items = value.as_array().ok_or_else(|| {
        error(
            &format!("/{name}"),
            format!("{name} is an array of quantity elements"),
        )
    })?;
    for (position, item) in items.iter().enumerate() {
        let pointer = format!("/{name}/{position}");
        let class = item
            .get("epcClass")
            .and_then(Json::as_str)
            .filter(|u| is_uri(u))
            .ok_or_else(|| error(&format!("{pointer}/epcClass"), "epcClass is a URI"))?;
        match item.get("quantity") {
            None => {}
            Some(Json::Number(quantity)) if *quantity >= 0.0 => {}
            Some(_) => {
                return Err(error(
                    &format!("{pointer}/quantity"),
                    "quantity is a non-negative number",
                ));
            }
        }
        if item.get("uom").is_some_and(|u| u.as_str().is_none()) {
            return Err(error(&format!("{pointer}/uom"), "uom is a string"));
        }
        identifiers.push(Identifier {
            role: Role::Class,
            id: gs1::normalize(class),
        });
    }
    Ok(!items.is_empty())
}

/// An optional `{ "id": "<uri>" }` object; true if present.
fn id_object(event: &Json, name: &str) -> Result<bool, EpcisError> {
    let Some(value) = event.get(name) else {
        return Ok(false);
    };
    value
        .get("id")
        .and_then(Json::as_str)
        .filter(|u| is_uri(u))
        .ok_or_else(|| error(&format!("/{name}/id"), format!("{name} is {{\"id\": URI}}")))?;
    Ok(true)
}

/// The optional `bizTransactionList`; true if present and non-empty.
fn biz_transactions(event: &Json) -> Result<bool, EpcisError> {
    let Some(value) = event.get("bizTransactionList") else {
        return Ok(false);
    };
    let items = value.as_array().ok_or_else(|| {
        error(
            "/bizTransactionList",
            "bizTransactionList is an array of objects",
        )
    })?;
    for (position, item) in items.iter().enumerate() {
        item.get("bizTransaction")
            .and_then(Json::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                error(
                    &format!("/bizTransactionList/{position}/bizTransaction"),
                    "bizTransaction is a non-empty string",
                )
            })?;
    }
    Ok(!items.is_empty())
}

fn digits(text: &str) -> Option<u32> {
    (!text.is_empty() && text.len() <= 9 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// The decimal digits of bytes `range` of `text` (`None` off a character boundary).
fn digits_at(text: &str, range: std::ops::Range<usize>) -> Option<u32> {
    digits(text.get(range)?)
}

/// `±hh:mm` as minutes east of UTC (from -12:00 to +14:00, as real zones are).
pub fn parse_offset(text: &str) -> Option<i16> {
    let bytes = text.as_bytes();
    if bytes.len() != 6 || bytes[3] != b':' {
        return None;
    }
    let sign = match bytes[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hours = digits_at(text, 1..3)?;
    let minutes = digits_at(text, 4..6)?;
    let total = i16::try_from(hours * 60 + minutes).ok()?;
    (minutes < 60 && (-12 * 60..=14 * 60).contains(&(sign * total))).then_some(sign * total)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// An RFC 3339 `date-time` (`YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm)`) as milliseconds since the
/// Unix epoch, fractions below a millisecond truncated. Leap seconds (`:60`) are refused.
pub fn parse_date_time(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let year = i64::from(digits_at(text, 0..4)?);
    let month = digits_at(text, 5..7)?;
    let day = digits_at(text, 8..10)?;
    let hour = digits_at(text, 11..13)?;
    let minute = digits_at(text, 14..16)?;
    let second = digits_at(text, 17..19)?;
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = text.get(19..)?;
    let mut millis = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let length = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if length == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &fraction[..length.min(3)]);
        millis = i64::from(digits(&padded)?);
        rest = &fraction[length..];
    }
    let offset_minutes = if rest == "Z" || rest == "z" {
        0
    } else {
        i64::from(parse_offset(rest)?)
    };
    let days = days_from_civil(year, month, day);
    let seconds =
        days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

/// Milliseconds since the epoch as RFC 3339 UTC with milliseconds
/// (`2005-04-04T02:33:31.116Z`), for display.
pub fn format_millis(millis: i64) -> String {
    let seconds = millis.div_euclid(1000);
    let millis = millis.rem_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    // H. Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}
