//! Revolving charges (domain spec §6.4–6.5): daily simple interest, the daily overdue penalty, and
//! the statement's minimum payment.
//!
//! All three saturate at `u64::MAX` fen instead of failing: they return a charge or a bound, and
//! saturation needs balances near 1.8 × 10¹⁷ yuan, which no credit limit admits. None of them
//! compounds: the caller passes a base that excludes earlier interest and penalties where the
//! product says so (PRC: no interest on penalties; domain spec §3.2).

use super::rate::{Rate, RoundingMode, apply_rate, multiply_rate};

/// Daily simple interest on a constant balance: `round(balance × daily_rate × days)`, rounded once
/// for the whole span, never day by day. 900.00 yuan for 30 days at 0.05%/day → 13.50 yuan.
///
/// For a balance that changes within the span, call it per constant stretch (or with the average
/// daily balance, domain spec §6.4). Saturates at `u64::MAX`.
#[must_use]
pub fn simple_interest(balance: u64, daily_rate: Rate, days: u32, mode: RoundingMode) -> u64 {
    // Fits: u64 × u32 < 2⁹⁶; the product with the rate is checked.
    let base = u128::from(balance) * u128::from(days);
    multiply_rate(base, daily_rate, mode).unwrap_or(u64::MAX)
}

/// One day's penalty on an overdue amount: `max(round(overdue × daily_rate), min_per_day)`, and 0
/// when nothing is overdue (the minimum applies only to a positive overdue amount).
///
/// Never compounded: `overdue` is the product's penalty basis (for example unpaid principal plus
/// fees) and must not include earlier penalties; the caller accrues one call per day from the day
/// after the due date. The minimum is not capped by the overdue amount: 0.01 yuan per day on a
/// 0.01 yuan debt is what the product configured. Saturates at `u64::MAX`.
#[must_use]
pub fn daily_penalty(overdue: u64, daily_rate: Rate, min_per_day: u64, mode: RoundingMode) -> u64 {
    if overdue == 0 {
        return 0;
    }
    apply_rate(overdue, daily_rate, mode).max(min_per_day)
}

/// The minimum payment of a statement.
///
/// Formula (domain spec §6.4, with the included charges taken out of the rate's base so that they
/// are not counted twice):
///
/// ```text
/// charges = fees_interest_penalties
/// minimum = min(statement_balance,
///               max(floor, round(rate × (statement_balance − charges))) + charges + past_due)
/// ```
///
/// `fees_interest_penalties` are the statement's fees, interest and penalties, all part of
/// `statement_balance` and due in full. `past_due` is the unpaid minimum of earlier statements,
/// also due in full; it stays in the rate's base because it is still principal owed (and it is
/// in the base of the §6.4 line). An over-limit amount that the product makes due in full
/// (§8 `include=[.., over_limit]`) is passed as part of `past_due`. Subtractions floor at zero;
/// additions saturate; the cap at the statement balance makes the result never exceed what is
/// owed, so a zero balance has a zero minimum.
#[must_use]
pub fn minimum_payment(
    statement_balance: u64,
    rate: Rate,
    floor: u64,
    fees_interest_penalties: u64,
    past_due: u64,
    mode: RoundingMode,
) -> u64 {
    let base = statement_balance.saturating_sub(fees_interest_penalties);
    apply_rate(base, rate, mode)
        .max(floor)
        .saturating_add(fees_interest_penalties)
        .saturating_add(past_due)
        .min(statement_balance)
}
