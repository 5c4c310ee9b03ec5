//! Query parameters of the list routes and the opaque paging cursor.
//!
//! Invariants owned here: a cursor carries the whole window of the next page (timestamp bounds,
//! direction, debit/credit filter), so a client pages by passing only `cursor` (and `limit`);
//! because timestamps are unique per transfer and per balance row, walking the cursors returns
//! every row exactly once and in order, even while new transfers are appended.

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use ledger::AccountFilter;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::problem::{Problem, ProblemCode};
use crate::wire::parse_decimal;

/// Rows per page when `limit` is not given.
pub const LIMIT_DEFAULT: u32 = 100;
/// Most rows per page: one request's worth of events.
pub const LIMIT_MAX: u32 = 8189;
const _: () = assert!(LIMIT_MAX as usize == engine::REQUEST_EVENTS_MAX);

/// Query parameters of `GET /v1/accounts/{id}/transfers` and `.../balances`. All are strings
/// here so that every bad value becomes our problem document, not axum's plain-text rejection.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Rows per page, 1 to 8189 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 8189)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page. It carries the filter, so it cannot be combined with
    /// `timestamp_min`, `timestamp_max`, `debits`, `credits` or `reversed`.
    pub cursor: Option<String>,
    /// Only rows at or after this timestamp (decimal nanoseconds).
    pub timestamp_min: Option<String>,
    /// Only rows at or before this timestamp (decimal nanoseconds; 0 is unbounded).
    pub timestamp_max: Option<String>,
    /// Only transfers that debit the account (`true`/`false`).
    #[param(value_type = Option<bool>)]
    pub debits: Option<String>,
    /// Only transfers that credit the account (`true`/`false`).
    #[param(value_type = Option<bool>)]
    pub credits: Option<String>,
    /// Newest first (`true`/`false`).
    #[param(value_type = Option<bool>)]
    pub reversed: Option<String>,
    /// Balances only: the balance as of this timestamp (decimal nanoseconds) instead of a page.
    /// Needs the account's `history` flag.
    pub at: Option<String>,
}

/// Turns axum's query rejection (unknown or repeated parameter) into a problem.
pub fn query_or_problem<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, Problem> {
    match query {
        Ok(Query(query)) => Ok(query),
        Err(rejection) => {
            let text = rejection.body_text();
            let code = if text.contains("unknown field") {
                ProblemCode::UnknownField
            } else {
                ProblemCode::InvalidValue
            };
            Err(Problem::new(code, text))
        }
    }
}

/// The part of a filter that a cursor carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    pub timestamp_min: u64,
    /// 0 is unbounded, as in `AccountFilter`.
    pub timestamp_max: u64,
    pub debits: bool,
    pub credits: bool,
    pub reversed: bool,
}

/// A validated page request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub window: Window,
    pub limit: u32,
}

impl Page {
    pub fn from_query(query: &ListQuery) -> Result<Page, Problem> {
        let limit = match &query.limit {
            None => LIMIT_DEFAULT,
            Some(text) => parse_decimal(text)
                .and_then(|limit| u32::try_from(limit).ok())
                .filter(|limit| (1..=LIMIT_MAX).contains(limit))
                .ok_or_else(|| {
                    Problem::new(
                        ProblemCode::InvalidValue,
                        format!("limit must be an integer from 1 to {LIMIT_MAX}, not {text:?}"),
                    )
                })?,
        };
        let window = match &query.cursor {
            Some(cursor) => {
                let filter_given = query.timestamp_min.is_some()
                    || query.timestamp_max.is_some()
                    || query.debits.is_some()
                    || query.credits.is_some()
                    || query.reversed.is_some();
                if filter_given {
                    return Err(Problem::new(
                        ProblemCode::InvalidValue,
                        "cursor carries the filter of the first page: do not combine it with \
                         timestamp_min, timestamp_max, debits, credits or reversed",
                    ));
                }
                decode_cursor(cursor).ok_or_else(|| {
                    Problem::new(
                        ProblemCode::InvalidCursor,
                        "cursor must be the next_cursor of a previous page, unchanged",
                    )
                })?
            }
            None => Window {
                timestamp_min: query_u64("timestamp_min", query.timestamp_min.as_deref())?,
                timestamp_max: query_u64("timestamp_max", query.timestamp_max.as_deref())?,
                debits: query_bool("debits", query.debits.as_deref())?,
                credits: query_bool("credits", query.credits.as_deref())?,
                reversed: query_bool("reversed", query.reversed.as_deref())?,
            },
        };
        Ok(Page { window, limit })
    }

    /// The ledger filter: one row more than the page, to learn whether a next page exists.
    #[must_use]
    pub fn filter(&self, account_id: u128) -> AccountFilter {
        AccountFilter {
            account_id,
            timestamp_min: self.window.timestamp_min,
            timestamp_max: self.window.timestamp_max,
            limit: self.limit + 1,
            debits: self.window.debits,
            credits: self.window.credits,
            reversed: self.window.reversed,
        }
    }

    /// Cuts `rows` (fetched with `filter`) to the page and returns the cursor of the next one.
    pub fn finish<T>(&self, rows: &mut Vec<T>, timestamp: impl Fn(&T) -> u64) -> Option<String> {
        if rows.len() <= self.limit as usize {
            return None;
        }
        rows.truncate(self.limit as usize);
        let last = timestamp(
            rows.last()
                .expect("limit is at least 1, so the page is not empty"),
        );
        let mut next = self.window;
        if self.window.reversed {
            // Timestamps are above zero, and a row older than `last` exists, so `last - 1` is
            // at least 1 and cannot be mistaken for the unbounded 0.
            next.timestamp_max = last.checked_sub(1).filter(|max| *max > 0)?;
        } else {
            next.timestamp_min = last.checked_add(1)?;
        }
        Some(encode_cursor(&next))
    }
}

fn query_u64(name: &str, text: Option<&str>) -> Result<u64, Problem> {
    let Some(text) = text else { return Ok(0) };
    parse_decimal(text)
        .and_then(|value| u64::try_from(value).ok())
        .ok_or_else(|| {
            Problem::new(
                ProblemCode::InvalidValue,
                format!("{name} must be a decimal integer from 0 to 2^64-1, not {text:?}"),
            )
        })
}

fn query_bool(name: &str, text: Option<&str>) -> Result<bool, Problem> {
    match text {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(Problem::new(
            ProblemCode::InvalidValue,
            format!("{name} must be true or false, not {other:?}"),
        )),
    }
}

/// Parses `at` of the balances route.
pub fn parse_at(query: &ListQuery) -> Result<Option<u64>, Problem> {
    let Some(at) = query.at.as_deref() else {
        return Ok(None);
    };
    let paging_given = query.limit.is_some()
        || query.cursor.is_some()
        || query.timestamp_min.is_some()
        || query.timestamp_max.is_some()
        || query.debits.is_some()
        || query.credits.is_some()
        || query.reversed.is_some();
    if paging_given {
        return Err(Problem::new(
            ProblemCode::InvalidValue,
            "at asks for one balance and cannot be combined with paging parameters",
        ));
    }
    query_u64("at", Some(at)).map(Some)
}

const CURSOR_VERSION: &str = "c1";

/// `c1` + 2 hex digits of flags + 16 of `timestamp_min` + 16 of `timestamp_max`. Hex keeps it
/// URL-safe without escaping; the version prefix lets the format change later.
#[must_use]
pub fn encode_cursor(window: &Window) -> String {
    let flags = u8::from(window.reversed)
        | (u8::from(window.debits) << 1)
        | (u8::from(window.credits) << 2);
    format!(
        "{CURSOR_VERSION}{flags:02x}{:016x}{:016x}",
        window.timestamp_min, window.timestamp_max
    )
}

#[must_use]
pub fn decode_cursor(cursor: &str) -> Option<Window> {
    let hex = cursor.strip_prefix(CURSOR_VERSION)?;
    // from_str_radix accepts a leading '+', so check the digits first.
    if hex.len() != 34
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let flags = u8::from_str_radix(&hex[0..2], 16).ok()?;
    if flags > 0b111 {
        return None;
    }
    Some(Window {
        timestamp_min: u64::from_str_radix(&hex[2..18], 16).ok()?,
        timestamp_max: u64::from_str_radix(&hex[18..34], 16).ok()?,
        reversed: flags & 1 != 0,
        debits: flags & 2 != 0,
        credits: flags & 4 != 0,
    })
}
