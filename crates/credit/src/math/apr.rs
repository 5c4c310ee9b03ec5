//! The APR of an installment plan (domain spec §6.3): the monthly IRR `i` of its fen-rounded cash
//! flows (CF₀ = +principal, CF_k = −(principal_k + fee_k), equal monthly periods), annualised as
//! nominal `12·i` and effective `(1 + i)¹² − 1`, in integer fixed point.
//!
//! Method. We solve for the discount factor `v = 1 / (1 + i)` instead of `i`: the present value
//! of the payments, `g(v) = Σ a_k·vᵏ`, is then a polynomial with non-negative coefficients,
//! increasing and convex on `[0, 1]`, evaluated by Horner's rule with no division, and the IRR is
//! its root `g(v) = principal`. `v` is held at scale 2⁶⁰ (so rescaling is a shift) and the flows
//! are shifted so that their total is just below 2⁶², which keeps every product inside `u128`
//! for any `u64` amounts and leaves 2⁻⁶² of precision relative to the total paid.
//!
//! Root finding. Newton steps from `v = 1` (where `g ≥ principal`), kept inside a bracket
//! `[lo, hi]` with `g(lo) < principal ≤ g(hi)`, for at most [`NEWTON_ITERATIONS_MAX`] steps; then
//! bisection of the bracket, which halves a width of at most 2⁶⁰ and so ends within 60 steps. The
//! answer is `hi` once the bracket is one unit wide: the smallest `v` whose computed present value
//! reaches the principal. That answer does not depend on the path taken, so the result is fully
//! determined by the flows. Realistic plans converge in 5–8 evaluations; no input takes more
//! than 77.
//!
//! Accuracy: the computed `g` carries at most one unit of truncation per period, so `i` is off by
//! about 10⁻¹⁷ for totals below 2⁶² fen; the APR rounds to the nearest 10⁻¹⁰ ([`Rate`] unit).
//! Totals of 2⁶² fen (4.6 × 10¹⁶ yuan) and more lose low bits of each flow and become less exact.

use super::installment::Period;
use super::rate::{RATE_SCALE, Rate, RoundingMode, divide_round};

/// The annual percentage rate of a plan's cash flows, as [`Rate`]s per year, each rounded to the
/// nearest unit (10⁻⁸ percent).
///
/// Never negative: flows that repay no more than the principal have an APR of zero. Flows whose
/// cost is too large to express (an IRR whose annual rate exceeds `u64::MAX` units, about
/// 1.8 × 10⁹ times the principal) saturate at `Rate(u64::MAX)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Apr {
    /// Nominal APR, `12·i` (TILA/Reg Z: the periodic rate times the periods per year).
    pub nominal: Rate,
    /// Effective annual rate, `(1 + i)¹² − 1` (EU CCD Annex I: compounded).
    pub effective: Rate,
}

impl Apr {
    /// The APR of a plan that costs the customer nothing.
    pub const ZERO: Apr = Apr {
        nominal: Rate::ZERO,
        effective: Rate::ZERO,
    };

    /// The saturated APR, for flows whose cost cannot be expressed.
    const MAX: Apr = Apr {
        nominal: Rate(u64::MAX),
        effective: Rate(u64::MAX),
    };
}

/// Bits of fraction in the discount factor `v`.
const DISCOUNT_BITS: u32 = 60;
/// `v = 1`, that is `i = 0`.
const DISCOUNT_ONE: u64 = 1 << DISCOUNT_BITS;
/// Flows are shifted so that their total is below `2^FLOW_BITS`. With `v ≤ 2⁶⁰` and up to 24
/// periods, the largest product, slope × `v` ≤ 24 · 2⁶² · 2⁶⁰, stays below 2¹²⁷.
const FLOW_BITS: u32 = 62;
/// Newton steps before the root finder falls back to plain bisection.
const NEWTON_ITERATIONS_MAX: u32 = 16;
/// Periods are months.
const PERIODS_PER_YEAR: u32 = 12;

/// The APR of a plan that pays out `principal` now and collects `periods[k]` (principal + fee)
/// at the end of month `k + 1`.
pub(crate) fn installments(principal: u64, periods: &[Period]) -> Apr {
    let paid = periods
        .iter()
        .fold(0u128, |sum, period| sum.saturating_add(payment(period)));
    if paid <= u128::from(principal) {
        return Apr::ZERO;
    }
    let flows = Flows::new(periods, paid);
    let target = flows.scale(u128::from(principal));
    if target == 0 {
        // Nothing lent, or too little to register against the total paid: the cost is unbounded.
        return Apr::MAX;
    }
    annualise(flows.discount_factor(target))
}

fn payment(period: &Period) -> u128 {
    u128::from(period.principal) + u128::from(period.fee)
}

/// The payments of a plan, with the shift that brings their total just below `2^FLOW_BITS`.
struct Flows<'a> {
    periods: &'a [Period],
    shift_left: u32,
    shift_right: u32,
}

impl Flows<'_> {
    fn new(periods: &[Period], paid: u128) -> Flows<'_> {
        let bits = u128::BITS - paid.leading_zeros();
        Flows {
            periods,
            shift_left: FLOW_BITS.saturating_sub(bits),
            shift_right: bits.saturating_sub(FLOW_BITS),
        }
    }

    /// An amount at the flows' scale: exact when shifted left (totals below 2⁶² fen), truncated
    /// when shifted right.
    fn scale(&self, amount: u128) -> u128 {
        (amount << self.shift_left) >> self.shift_right
    }

    /// `(g(v) − target, g'(v))` at scale 2⁶⁰ for `v`, by Horner's rule with truncation.
    ///
    /// Truncation is monotone, so the computed `g` is non-decreasing in `v` (all its coefficients
    /// are non-negative); bisection relies on that. Values stay below 2⁶² (`g(v) ≤ g(1) = total`).
    /// The slope only steers Newton steps, so it saturates rather than needing to be exact.
    fn present_value(&self, v: u64, target: u128) -> (i128, u128) {
        let v = u128::from(v);
        let mut value: u128 = 0;
        let mut slope: u128 = 0;
        for period in self.periods.iter().rev() {
            slope = (slope.saturating_mul(v) >> DISCOUNT_BITS).saturating_add(value);
            value = ((value * v) >> DISCOUNT_BITS) + self.scale(payment(period));
        }
        slope = (slope.saturating_mul(v) >> DISCOUNT_BITS).saturating_add(value);
        value = (value * v) >> DISCOUNT_BITS;
        // Both below 2⁶²: the difference fits an i128 exactly.
        let difference = i128::try_from(value).unwrap_or(i128::MAX)
            - i128::try_from(target).unwrap_or(i128::MAX);
        (difference, slope)
    }

    /// The smallest `v` (scale 2⁶⁰) at which the computed present value reaches `target`, or 1
    /// when even `v = 1` does not (the flows, as scaled, cost nothing).
    fn discount_factor(&self, target: u128) -> u64 {
        // Bracket invariant: g(lo) < target ≤ g(hi). At v = 0 nothing is worth anything, and
        // target > 0.
        let mut lo: u64 = 0;
        let mut hi: u64 = DISCOUNT_ONE;
        let mut v = hi;
        let (mut difference, mut slope) = self.present_value(v, target);
        if difference < 0 {
            return DISCOUNT_ONE;
        }
        for _ in 0..NEWTON_ITERATIONS_MAX {
            if hi - lo <= 1 {
                break;
            }
            let mut next = newton_step(v, difference, slope).unwrap_or(v);
            if next == v {
                // The step is below one unit: probe the neighbour, to close the bracket.
                next = if difference >= 0 {
                    v.saturating_sub(1)
                } else {
                    v.saturating_add(1)
                };
            }
            if next <= lo || next >= hi {
                next = lo + (hi - lo) / 2;
            }
            v = next;
            (difference, slope) = self.present_value(v, target);
            if difference >= 0 {
                hi = v;
            } else {
                lo = v;
            }
        }
        // The bracket is at most 2⁶⁰ wide and halves each step: 60 steps close it.
        for _ in 0..DISCOUNT_BITS {
            if hi - lo <= 1 {
                break;
            }
            let middle = lo + (hi - lo) / 2;
            if self.present_value(middle, target).0 >= 0 {
                hi = middle;
            } else {
                lo = middle;
            }
        }
        hi
    }
}

/// `v − (g(v) − target) / g'(v)`, or `None` when the slope is zero or the step leaves `[0, 1]`.
fn newton_step(v: u64, difference: i128, slope: u128) -> Option<u64> {
    if slope == 0 {
        return None;
    }
    let slope = i128::try_from(slope).unwrap_or(i128::MAX);
    // |difference| < 2⁶³, so difference · 2⁶⁰ < 2¹²³.
    let step = (difference << DISCOUNT_BITS) / slope;
    let next = i128::from(v) - step;
    u64::try_from(next)
        .ok()
        .filter(|next| *next <= DISCOUNT_ONE)
}

/// The APR for a monthly discount factor `v` (scale 2⁶⁰, `0 < v ≤ 1`), rounded half up to the
/// nearest [`Rate`] unit and saturated at `u64::MAX`.
fn annualise(v: u64) -> Apr {
    if v == 0 {
        return Apr::MAX;
    }
    let one = u128::from(DISCOUNT_ONE);
    let v = u128::from(v);
    let rate_scale = u128::from(RATE_SCALE);
    // i = (1 − v) / v. Fits: 2⁶⁰ · 12 · 10¹⁰ < 2⁹⁸.
    let nominal = divide_round(
        (one - v) * u128::from(PERIODS_PER_YEAR) * rate_scale,
        v,
        RoundingMode::HalfUp,
    );
    let effective = effective_rate(v);
    Apr {
        nominal: Rate(u64::try_from(nominal).unwrap_or(u64::MAX)),
        effective: Rate(u64::try_from(effective).unwrap_or(u64::MAX)),
    }
}

/// `(1 + i)¹² − 1 = 1 / v¹² − 1` in [`Rate`] units, for `0 < v ≤ 2⁶⁰`, or more than `u64::MAX`
/// when it does not fit.
///
/// `v¹²` is kept as a binary floating-point number, `mantissa / 2^exponent` with a 61-bit
/// mantissa rounded after each product, so its relative error stays near 12 · 2⁻⁶¹ even when `v`
/// is small. (A plain 2⁻⁶⁰ fixed-point power loses relative precision as it shrinks: at
/// i = 183% a month it was off by 10⁻¹³ of the result.)
fn effective_rate(v: u128) -> u128 {
    let rate_scale = u128::from(RATE_SCALE);
    let mut mantissa = u128::from(DISCOUNT_ONE);
    let mut exponent = DISCOUNT_BITS;
    for _ in 0..PERIODS_PER_YEAR {
        // Fits: both factors are at most 2⁶¹.
        mantissa *= v;
        exponent += DISCOUNT_BITS;
        let shift = (u128::BITS - mantissa.leading_zeros()).saturating_sub(DISCOUNT_BITS + 1);
        if shift > 0 {
            mantissa = ((mantissa >> (shift - 1)) + 1) >> 1;
            exponent -= shift;
        }
    }
    // RATE_SCALE < 2³⁴, so the numerator RATE_SCALE · 2^exponent fits below exponent 94; above
    // it the quotient exceeds 10¹⁰ · 2⁹⁴ / 2⁶¹ > u64::MAX and the caller saturates anyway.
    if mantissa == 0 || exponent >= 94 {
        return u128::MAX;
    }
    divide_round(rate_scale << exponent, mantissa, RoundingMode::HalfUp).saturating_sub(rate_scale)
}
