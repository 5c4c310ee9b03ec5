//! Red-packet amounts by the double-average method (二倍均值), in integer fen.
//!
//! With `remaining` fen left for `count` packets, a packet (not the last) takes a uniform
//! amount in `1 ..= min(2 * remaining / count - 1, remaining - (count - 1))`: never below one
//! fen, never so much that a later packet could get less than one fen; the last takes what is
//! left, so the amounts always sum to the pool exactly. Every position has the same expected
//! amount (`remaining / count` in expectation at each step). The draw comes from a generator
//! seeded by the campaign's seed and the packet's position, so replay is exact.

use stdx::Prng;

/// The amount of the next packet: `remaining` fen left for `count >= 1` packets, with
/// `remaining >= count`. `seed` and `position` (how many were grabbed before) pick the draw.
///
/// # Panics
/// If `count` is 0 or `remaining < count` (the pool invariants, checked at creation).
#[must_use]
pub fn double_average(remaining: u64, count: u32, seed: u64, position: u32) -> u64 {
    assert!(
        count >= 1 && remaining >= u64::from(count),
        "pool invariant"
    );
    if count == 1 {
        return remaining;
    }
    let count = u64::from(count);
    // 2 * remaining / count >= 2 since remaining >= count: the upper bound is at least 1.
    let double_average = u64::try_from(u128::from(remaining) * 2 / u128::from(count))
        .expect("at most 2 * remaining / 2");
    let high = (double_average - 1).min(remaining - (count - 1));
    let mut rng = Prng::new(seed ^ u64::from(position).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    rng.range(1, high)
}
