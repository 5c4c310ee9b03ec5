//! Rates and rounding: [`Rate`] (integer fixed point, [`RATE_SCALE`] = 100%), [`RoundingMode`],
//! and `amount × rate` rounded to the fen.
//!
//! Invariant: a product is formed exactly in `u128` and rounded once, at the end; nothing is
//! rounded on the way. `u64 × u64` always fits in `u128`, so only the final narrowing to `u64`
//! can overflow: the plain functions saturate there, the `_checked` ones return `None`.

/// Fixed-point scale of [`Rate`]: `Rate(RATE_SCALE)` is 100%, so one unit is 10⁻⁸ percent.
pub const RATE_SCALE: u64 = 10_000_000_000;

/// A non-negative rate in integer fixed point, [`RATE_SCALE`] = 100%.
///
/// 2.5% is `Rate(250_000_000)` and 0.05%/day is `Rate(5_000_000)`. The period the rate applies to
/// (total, per month, per day, per year) is part of the name of whatever holds it, not of the type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(pub u64);

impl Rate {
    /// 0%.
    pub const ZERO: Rate = Rate(0);

    /// A rate given in basis points (1 bp = 0.01%): `Rate::from_bps(1_000)` is 10%.
    /// Exact for every `u32`: `u32::MAX × 10⁶` fits in `u64`.
    #[must_use]
    pub const fn from_bps(bps: u32) -> Rate {
        // Widening cast; `u64::from` is not callable in a `const fn`.
        Rate(bps as u64 * (RATE_SCALE / 10_000))
    }
}

/// How an exact fraction of a fen becomes a whole fen. Amounts are never negative, so "up" and
/// "away from zero" agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RoundingMode {
    /// To the nearest fen; exactly half a fen rounds up (commercial rounding).
    HalfUp,
    /// To the nearest fen; exactly half a fen rounds to the even fen (bankers' rounding,
    /// Fineract's default).
    HalfEven,
    /// Towards zero: the fraction is dropped (truncation, in the customer's favour for a charge).
    Down,
}

/// `round(amount × rate)` in fen, exact, saturating at `u64::MAX` when the result does not fit.
///
/// Saturation needs a rate above 100% on an amount near `u64::MAX` fen (1.8 × 10¹⁷ yuan), far
/// beyond any credit limit, so a saturated result is rejected by the first limit check it meets.
/// Use [`apply_rate_checked`] to see the overflow instead.
#[must_use]
pub fn apply_rate(amount: u64, rate: Rate, mode: RoundingMode) -> u64 {
    apply_rate_checked(amount, rate, mode).unwrap_or(u64::MAX)
}

/// `round(amount × rate)` in fen, exact, or `None` when the result does not fit in `u64`.
#[must_use]
pub fn apply_rate_checked(amount: u64, rate: Rate, mode: RoundingMode) -> Option<u64> {
    multiply_rate(u128::from(amount), rate, mode)
}

/// `round(base × rate)` for a base that may already be a product (amount × days or × periods),
/// or `None` when `base × rate` overflows `u128` or the result does not fit in `u64`. An overflow
/// of `u128` implies the result overflows too: `2¹²⁸ / RATE_SCALE > u64::MAX`.
pub(crate) fn multiply_rate(base: u128, rate: Rate, mode: RoundingMode) -> Option<u64> {
    let product = base.checked_mul(u128::from(rate.0))?;
    u64::try_from(divide_round(product, u128::from(RATE_SCALE), mode)).ok()
}

/// `round(numerator / denominator)` under `mode`. The denominator must not be zero: every caller
/// passes a constant or a value it has checked, so this is a programmer error, not an input error.
pub(crate) fn divide_round(numerator: u128, denominator: u128, mode: RoundingMode) -> u128 {
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    // `remainder` against `denominator - remainder` compares 2·remainder with the denominator
    // without overflowing.
    let rest = denominator - remainder;
    let round_up = match mode {
        RoundingMode::Down => false,
        RoundingMode::HalfUp => remainder >= rest,
        RoundingMode::HalfEven => remainder > rest || (remainder == rest && quotient % 2 == 1),
    };
    // No overflow: rounding up needs a remainder, so the denominator is at least 2 and the
    // quotient at most `u128::MAX / 2`.
    quotient + u128::from(round_up)
}
