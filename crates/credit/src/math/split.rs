//! Splitting an amount into fen parts: equal parts with the remainder on the last
//! ([`split_last`], for schedules) and shares by largest remainder with the platform rounded up
//! ([`split_shares`], for co-funding), domain spec §6.2.
//!
//! Invariant: the parts always sum to the amount exactly; rounding moves fen between parts and
//! never creates or loses one. Both functions are deterministic: ties break by index.

use stdx::named_codes as result_codes;

/// Shares are in basis points of the whole: they must sum to this.
pub const SHARES_BPS_TOTAL: u32 = 10_000;

/// The most parts [`split_last`] produces. A bound on the allocation, so that no input can make it
/// ask for gigabytes; 24 installment periods or 366 days are far below it.
pub const PARTS_COUNT_MAX: u32 = 10_000;

result_codes! {
    /// Why a split was rejected. Declared in precedence order: when several apply, the first is
    /// returned.
    SplitError {
        PartsCountMustNotBeZero = 1 => "parts_count_must_not_be_zero",
        PartsCountExceedsMax = 2 => "parts_count_exceeds_max",
        SharesMustSumToWhole = 3 => "shares_must_sum_to_whole",
        PlatformMustBeAFunder = 4 => "platform_must_be_a_funder",
        PlatformShareBelowMin = 5 => "platform_share_below_min",
    }
}

/// Splits `total` into `parts_count` parts: `floor(total / parts_count)` each, and the remainder
/// (up to `parts_count − 1` fen) on the last part. 1,000.00 / 3 → 333.33, 333.33, 333.34.
///
/// Errors: `PartsCountMustNotBeZero`; `PartsCountExceedsMax` above [`PARTS_COUNT_MAX`].
pub fn split_last(total: u64, parts_count: u32) -> Result<Vec<u64>, SplitError> {
    if parts_count == 0 {
        return Err(SplitError::PartsCountMustNotBeZero);
    }
    if parts_count > PARTS_COUNT_MAX {
        return Err(SplitError::PartsCountExceedsMax);
    }
    let count = u64::from(parts_count);
    let base = total / count;
    // No overflow: base × (count − 1) ≤ base × count ≤ total.
    let last = total - base * (count - 1);
    // Lossless: parts_count ≤ PARTS_COUNT_MAX, which fits any usize.
    let mut parts = vec![base; parts_count as usize];
    if let Some(part) = parts.last_mut() {
        *part = last;
    }
    Ok(parts)
}

/// Splits `amount` among funders by their shares (basis points summing to [`SHARES_BPS_TOTAL`]).
///
/// Rule (domain spec §6.2): the platform, `shares_bps[platform]`, gets its exact share rounded up
/// (ceil, in its favour, so rounding can never push it below a regulatory minimum share). Every
/// other funder gets its exact share `amount × share / 10_000` rounded down, and the fen left over
/// go one each to the largest fractional parts, ties to the lower index (largest remainder). So
/// every other part is its exact share rounded down or up, never further off.
/// 333.33 at 30/50/20 with the platform first → 100.00 / 166.66 / 66.67.
///
/// Errors, in precedence order: `SharesMustSumToWhole` (also for an empty slice),
/// `PlatformMustBeAFunder` (index out of range), `PlatformShareBelowMin` (its share in basis points
/// is below `platform_min_bps`).
pub fn split_shares(
    amount: u64,
    shares_bps: &[u32],
    platform: usize,
    platform_min_bps: u32,
) -> Result<Vec<u64>, SplitError> {
    let shares_sum = shares_bps
        .iter()
        .try_fold(0u64, |sum, share| sum.checked_add(u64::from(*share)));
    if shares_sum != Some(u64::from(SHARES_BPS_TOTAL)) {
        return Err(SplitError::SharesMustSumToWhole);
    }
    let Some(&platform_bps) = shares_bps.get(platform) else {
        return Err(SplitError::PlatformMustBeAFunder);
    };
    if platform_bps < platform_min_bps {
        return Err(SplitError::PlatformShareBelowMin);
    }

    let whole = u128::from(SHARES_BPS_TOTAL);
    let mut parts = Vec::with_capacity(shares_bps.len());
    // (fractional part in 1/10_000 fen, funder index) for every other funder with a fraction.
    let mut fractions = Vec::new();
    let mut assigned: u64 = 0;
    for (index, &share) in shares_bps.iter().enumerate() {
        // Fits: u64 × u32 < 2⁹⁶.
        let exact = u128::from(amount) * u128::from(share);
        let floor = exact / whole;
        let fraction = exact % whole;
        let part = if index == platform {
            floor + u128::from(fraction > 0)
        } else {
            if fraction > 0 {
                fractions.push((fraction, index));
            }
            floor
        };
        // Every share is at most the whole (they sum to it), so every part, even the platform's
        // ceil, is at most `amount`: the conversion never saturates.
        let part = u64::try_from(part).unwrap_or(u64::MAX);
        assigned = assigned.saturating_add(part);
        parts.push(part);
    }

    // The leftover is the sum of the others' fractions less the platform's round-up, so it is a
    // whole number of fen, never negative, and smaller than the number of fractions: every fen
    // below lands on a distinct funder.
    let leftover = amount.saturating_sub(assigned);
    fractions.sort_unstable_by(|(fraction_a, index_a), (fraction_b, index_b)| {
        fraction_b.cmp(fraction_a).then(index_a.cmp(index_b))
    });
    // Lossless on 64-bit targets; on narrower ones the leftover is still below `fractions.len()`.
    let leftover = usize::try_from(leftover).unwrap_or(usize::MAX);
    for &(_, index) in fractions.iter().take(leftover) {
        if let Some(part) = parts.get_mut(index) {
            // No overflow: this funder had a fraction, so its floor is below `amount`.
            *part += 1;
        }
    }
    Ok(parts)
}

/// Splits `amount` in proportion to `weights` (e.g. what each funder has outstanding): each part
/// is its exact share rounded down, and the fen left over go one each to the largest fractional
/// parts, ties to the lower index (largest remainder). With `amount ≤ Σ weights`, no part
/// exceeds its weight. With all weights zero, part 0 takes everything.
///
/// Invariant: the parts sum to `amount` exactly.
#[must_use]
pub fn split_pro_rata(amount: u64, weights: &[u64]) -> Vec<u64> {
    let whole: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    let mut parts = vec![0u64; weights.len().max(1)];
    if whole == 0 {
        parts[0] = amount;
        return parts;
    }
    let mut fractions = Vec::new();
    let mut assigned: u64 = 0;
    for (index, &weight) in weights.iter().enumerate() {
        // Fits: u64 × u64 < 2¹²⁸.
        let exact = u128::from(amount) * u128::from(weight);
        // At most `amount`, as weight ≤ whole.
        let floor = u64::try_from(exact / whole).unwrap_or(u64::MAX);
        let fraction = exact % whole;
        if fraction > 0 {
            fractions.push((fraction, index));
        }
        assigned = assigned.saturating_add(floor);
        parts[index] = floor;
    }
    // The leftover is the sum of the fractions over `whole`: fewer fen than parts with one.
    let leftover = usize::try_from(amount.saturating_sub(assigned)).unwrap_or(usize::MAX);
    fractions.sort_unstable_by(|(fraction_a, index_a), (fraction_b, index_b)| {
        fraction_b.cmp(fraction_a).then(index_a.cmp(index_b))
    });
    for &(_, index) in fractions.iter().take(leftover) {
        parts[index] += 1;
    }
    parts
}
