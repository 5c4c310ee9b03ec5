//! Installment quotes (Huabei/Baitiao-style fee plans, domain spec §4, §6.1–6.3): the total fee a
//! pricing implies, the per-period schedule in fen, and the APR of what the customer pays.
//!
//! Invariants: Σ period principal = principal and Σ period fee = total fee, exactly (both are
//! split with [`split_last`]); the APR is computed on the fen-rounded flows the customer actually
//! pays, so a quote never discloses a rate its own schedule does not have.

use stdx::named_codes as result_codes;

use super::apr::{self, Apr};
use super::rate::{Rate, RoundingMode, multiply_rate};
use super::split::split_last;

/// The installment terms, in months, a plan may have (domain spec §8 `periods ∈ {3,6,9,12,24}`).
pub const PERIODS_OFFERED: [u32; 5] = [3, 6, 9, 12, 24];

result_codes! {
    /// Why a quote was rejected. Declared in precedence order.
    QuoteError {
        PrincipalMustNotBeZero = 1 => "principal_must_not_be_zero",
        PeriodsNotOffered = 2 => "periods_not_offered",
        FeeOverflows = 3 => "fee_overflows",
    }
}

/// How an installment plan prices its fee.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pricing {
    /// A fee rate on the principal for the whole plan (Huabei: 12 periods at 8.8%).
    TotalRate(Rate),
    /// A fee rate on the principal per month, charged for every period (Baitiao: 0.5%/month).
    MonthlyRate(Rate),
}

/// One period (month) of a schedule: what is due, in fen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Period {
    /// The share of the principal due this period.
    pub principal: u64,
    /// The share of the fee due this period.
    pub fee: u64,
}

/// An installment schedule and its cost to the customer.
///
/// Plain data: the constructors ([`quote`], [`quote_with_fee`]) establish Σ principal = `principal`
/// and Σ fee = `total_fee`; code that builds a `Quote` by hand is responsible for that itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Quote {
    /// One entry per monthly period, in order; the first is due one month after the purchase.
    pub periods: Vec<Period>,
    /// The amount financed, in fen.
    pub principal: u64,
    /// The fee the customer pays over the plan, in fen.
    pub total_fee: u64,
    /// The APR of the customer's cash flows (see [`Apr`]).
    pub apr: Apr,
}

/// The total fee, in fen, that `pricing` implies for `principal` over `periods` months.
///
/// Rule (documented choice): the fee is rounded once, on the whole plan, never per period.
/// `TotalRate(R)` → `round(principal × R)`; `MonthlyRate(m)` → `round(principal × m × periods)`,
/// the exact product rounded once (0.5%/month on 1,000.00 over 12 months → 60.00).
///
/// Use this alone for a sponsored plan: the sponsor's fee is `installment_fee(..)`, and the
/// customer's quote is `quote_with_fee(principal, periods, 0)`.
///
/// Errors, in precedence order: `PrincipalMustNotBeZero`, `PeriodsNotOffered` (not in
/// [`PERIODS_OFFERED`]), `FeeOverflows` (the fee does not fit in `u64` fen).
pub fn installment_fee(
    principal: u64,
    periods: u32,
    pricing: Pricing,
    mode: RoundingMode,
) -> Result<u64, QuoteError> {
    quote_validate(principal, periods)?;
    let fee = match pricing {
        Pricing::TotalRate(rate) => multiply_rate(u128::from(principal), rate, mode),
        Pricing::MonthlyRate(rate) => {
            // Fits: u64 × u32 < 2⁹⁶; the product with the rate is checked.
            multiply_rate(u128::from(principal) * u128::from(periods), rate, mode)
        }
    };
    fee.ok_or(QuoteError::FeeOverflows)
}

/// The quote for `principal` over `periods` months at `pricing`: [`installment_fee`], then
/// [`quote_with_fee`]. Errors are those of [`installment_fee`].
pub fn quote(
    principal: u64,
    periods: u32,
    pricing: Pricing,
    mode: RoundingMode,
) -> Result<Quote, QuoteError> {
    let total_fee = installment_fee(principal, periods, pricing, mode)?;
    quote_with_fee(principal, periods, total_fee)
}

/// The quote for `principal` over `periods` months when the customer pays `total_fee` in all.
///
/// Principal and fee are each split with [`split_last`] (domain spec §6.2: 12 periods of 1,000.00
/// at 8.8% → principal 83.33 × 11 + 83.37, fee 7.33 × 11 + 7.37). The APR is that of the customer's
/// flows, so a fee paid by a merchant or sponsor must not be in `total_fee`: an interest-free plan
/// is `quote_with_fee(principal, periods, 0)`, with APR 0, and the sponsor's fee is computed
/// separately with [`installment_fee`]. A partly sponsored plan passes the customer's part.
///
/// Errors, in precedence order: `PrincipalMustNotBeZero`, `PeriodsNotOffered`.
pub fn quote_with_fee(principal: u64, periods: u32, total_fee: u64) -> Result<Quote, QuoteError> {
    quote_validate(principal, periods)?;
    // Cannot fail: `periods` is one of PERIODS_OFFERED, all in 1..=PARTS_COUNT_MAX.
    let principal_parts =
        split_last(principal, periods).map_err(|_| QuoteError::PeriodsNotOffered)?;
    let fee_parts = split_last(total_fee, periods).map_err(|_| QuoteError::PeriodsNotOffered)?;
    let periods: Vec<Period> = principal_parts
        .into_iter()
        .zip(fee_parts)
        .map(|(principal, fee)| Period { principal, fee })
        .collect();
    let apr = apr::installments(principal, &periods);
    Ok(Quote {
        periods,
        principal,
        total_fee,
        apr,
    })
}

fn quote_validate(principal: u64, periods: u32) -> Result<(), QuoteError> {
    if principal == 0 {
        return Err(QuoteError::PrincipalMustNotBeZero);
    }
    if !PERIODS_OFFERED.contains(&periods) {
        return Err(QuoteError::PeriodsNotOffered);
    }
    Ok(())
}
