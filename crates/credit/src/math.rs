//! Credit math: fen rounding, splits, installment quotes with their APR, daily interest,
//! penalties, minimum payments and early settlement (domain spec `credit.md` §6 and §8).
//!
//! Money is `u64` fen; rates are [`Rate`], integer fixed point with [`RATE_SCALE`] = 100%.
//! Everything here is a pure function of its arguments: no floats (not even for the APR, which is
//! an integer-fixed-point IRR), no I/O, no clock, no randomness, and no panics on any input. Each
//! function documents what it does on overflow or on nonsense input: it either returns an error
//! code or saturates at `u64::MAX`.
//!
//! What this module does NOT do: it knows nothing about accounts, dates, statements, the ledger or
//! product configuration. Callers pick the rounding mode, the rates and the period lengths (from
//! the product), post the results as ledger transfers, and compare the [`Apr`] to a legal cap.
//! Periods are equal months here; an APR over real, dated cash flows is not computed here.

mod apr;
mod installment;
mod interest;
mod rate;
mod settlement;
mod split;
#[cfg(test)]
mod tests;

// A façade inside the crate: callers write `credit::math::quote`, not the file it lives in.
pub use apr::Apr;
pub use installment::{
    PERIODS_OFFERED, Period, Pricing, Quote, QuoteError, installment_fee, quote, quote_with_fee,
};
pub use interest::{daily_penalty, minimum_payment, simple_interest};
pub use rate::{RATE_SCALE, Rate, RoundingMode, apply_rate, apply_rate_checked};
pub use settlement::{EarlySettlement, Settlement, SettlementError, early_settlement};
pub use split::{
    PARTS_COUNT_MAX, SHARES_BPS_TOTAL, SplitError, split_last, split_pro_rata, split_shares,
};
