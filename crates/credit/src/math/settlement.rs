//! Early settlement of an installment plan (domain spec §8 `early_settlement`): what the customer
//! owes to close a [`Quote`] before its last period, under each of the product's fee rules.
//!
//! Invariant: the principal still owed is always collected in full; the rules differ only in how
//! much of the unpaid fee is due, and for the same inputs
//! `ProRata ≤ WaiveRemaining ≤ ChargeAllRemaining`.

use stdx::named_codes as result_codes;

use super::installment::Quote;
use super::rate::{RoundingMode, divide_round};

result_codes! {
    /// Why an early settlement was rejected. Declared in precedence order.
    SettlementError {
        PeriodsPaidMustBeLessThanPeriods = 1 => "periods_paid_must_be_less_than_periods",
        DaysInPeriodMustNotBeZero = 2 => "days_in_period_must_not_be_zero",
        DaysElapsedExceedsDaysInPeriod = 3 => "days_elapsed_exceeds_days_in_period",
    }
}

/// The product's rule for the fee of a plan settled early. "The current period" is the first
/// unpaid one, `quote.periods[periods_paid]`, which is running when the customer settles; "later
/// periods" are those after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EarlySettlement {
    /// The fee of the current and of every later period is due: settling early saves nothing.
    ChargeAllRemaining,
    /// The current period's fee is due in full; the fees of later periods are waived.
    WaiveRemaining,
    /// The current period's fee is due in proportion to the days elapsed in it,
    /// `round(fee × days_elapsed / days_in_period)`; the fees of later periods are waived.
    ProRata,
}

/// What closing a plan early costs, in fen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Settlement {
    /// The principal of the current and every later period: all still owed.
    pub principal_remaining: u64,
    /// The fee due now under the rule.
    pub fee_due: u64,
}

/// What the customer owes to settle `quote` now, after `periods_paid` periods were paid in full
/// and `days_elapsed` of the current period's `days_in_period` days have passed.
///
/// The days are validated under every rule, so that a caller cannot pass nonsense that only
/// `ProRata` would notice. Sums saturate at `u64::MAX` (reachable only with a hand-built quote).
///
/// Errors, in precedence order: `PeriodsPaidMustBeLessThanPeriods` (nothing left to settle),
/// `DaysInPeriodMustNotBeZero`, `DaysElapsedExceedsDaysInPeriod`.
pub fn early_settlement(
    quote: &Quote,
    periods_paid: u32,
    days_elapsed: u32,
    days_in_period: u32,
    rule: EarlySettlement,
    mode: RoundingMode,
) -> Result<Settlement, SettlementError> {
    // A count that does not fit usize is past the end of any slice.
    let paid = usize::try_from(periods_paid).unwrap_or(usize::MAX);
    let Some(remaining) = quote.periods.get(paid..).filter(|rest| !rest.is_empty()) else {
        return Err(SettlementError::PeriodsPaidMustBeLessThanPeriods);
    };
    if days_in_period == 0 {
        return Err(SettlementError::DaysInPeriodMustNotBeZero);
    }
    if days_elapsed > days_in_period {
        return Err(SettlementError::DaysElapsedExceedsDaysInPeriod);
    }
    let principal_remaining = remaining
        .iter()
        .fold(0u64, |sum, period| sum.saturating_add(period.principal));
    let current_fee = remaining.first().map_or(0, |period| period.fee);
    let fee_due = match rule {
        EarlySettlement::ChargeAllRemaining => remaining
            .iter()
            .fold(0u64, |sum, period| sum.saturating_add(period.fee)),
        EarlySettlement::WaiveRemaining => current_fee,
        EarlySettlement::ProRata => {
            // Fits: u64 × u32 < 2⁹⁶; at most the current fee, as days_elapsed ≤ days_in_period.
            let prorated = divide_round(
                u128::from(current_fee) * u128::from(days_elapsed),
                u128::from(days_in_period),
                mode,
            );
            u64::try_from(prorated).unwrap_or(u64::MAX)
        }
    };
    Ok(Settlement {
        principal_remaining,
        fee_due,
    })
}
