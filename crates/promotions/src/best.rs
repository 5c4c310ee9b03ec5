//! "Best coupons for this basket": which of a user's coupons to carry on a payment so that the
//! discount is the largest the engine would grant.
//!
//! A read-only query, not a command: it runs the engine's own checkout validation (`plan`) on
//! candidate combinations, so its answer is exactly what a `checkout` carrying those coupons
//! would get at that engine time (unless the state changes in between). Candidates are the
//! user's available coupons that pass every per-coupon check on their own; the best
//! `CANDIDATES_MAX` of them alone are then combined, up to `COUPONS_MAX` at a time and in every
//! order (discounts of equal priority apply in the order listed), within the stacking rules. Ties go to fewer coupons, then to the combination listed first (candidates
//! sorted by their own discount, then by coupon id), so the answer is deterministic.

use ledger::Ledger;

use crate::record::{COUPONS_MAX, Command};
use crate::state::{CouponStatus, Promotions};

/// Coupons considered in combination (the best alone): at most 13,344 ordered selections of 1
/// to 4 of 12, each one `plan` (microseconds).
pub const CANDIDATES_MAX: usize = 12;

/// A basket to pay: the payment facts a checkout would carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Basket {
    pub user_id: u128,
    pub merchant_account_id: u128,
    pub amount: u64,
    pub card_issuer: u32,
    pub card_bin: u32,
    pub category: u32,
}

/// The best combination: its coupons (zeros after the last), the discount and what is left to
/// pay. No coupon applies: `count` 0 and `discount` 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BestCoupons {
    pub coupons: [u128; COUPONS_MAX],
    pub count: usize,
    pub discount: u64,
    pub to_pay: u64,
}

impl Promotions {
    /// The user's coupons that give `basket` the largest discount at engine time `now`.
    #[must_use]
    pub fn best_coupons(&self, ledger: &Ledger, now: u64, basket: &Basket) -> BestCoupons {
        let discount_of = |coupons: &[u128]| -> Option<u64> {
            let mut list = [0; COUPONS_MAX];
            list[..coupons.len()].copy_from_slice(coupons);
            let command = Command::Checkout {
                id: 1,
                user_id: basket.user_id,
                payer_id: 0,
                merchant_account_id: basket.merchant_account_id,
                amount: basket.amount,
                timeout: 0,
                code: 0,
                card_issuer: basket.card_issuer,
                card_bin: basket.card_bin,
                category: basket.category,
                coupons: list,
                capture: false,
            };
            self.plan(ledger, now, &command)
                .ok()
                .map(|plan| basket.amount - plan.buyer)
        };
        let mut candidates: Vec<(u64, u128)> = self
            .user_coupons
            .range((basket.user_id, 0)..=(basket.user_id, u32::MAX))
            .map(|&(_, index)| &self.coupons[index as usize])
            .filter(|c| c.status == CouponStatus::Available)
            .filter_map(|c| discount_of(&[c.id]).filter(|&d| d > 0).map(|d| (d, c.id)))
            .collect();
        candidates.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        candidates.truncate(CANDIDATES_MAX);
        let ids: Vec<u128> = candidates.iter().map(|&(_, id)| id).collect();
        let mut best = BestCoupons {
            to_pay: basket.amount,
            ..BestCoupons::default()
        };
        // Ordered selections (discounts of equal priority apply in the order listed), by size,
        // then lexicographically in candidate order: the first best found is kept.
        for size in 1..=COUPONS_MAX.min(ids.len()) {
            let mut picks = [0usize; COUPONS_MAX];
            arrangements(&ids, size, 0, &mut picks, &mut |chosen| {
                if let Some(discount) = discount_of(chosen)
                    && discount > best.discount
                {
                    best = BestCoupons {
                        coupons: [0; COUPONS_MAX],
                        count: chosen.len(),
                        discount,
                        to_pay: basket.amount - discount,
                    };
                    best.coupons[..chosen.len()].copy_from_slice(chosen);
                }
            });
        }
        best
    }
}

/// Calls `visit` with every arrangement of `size` distinct ids, filling `picks` from `at`.
fn arrangements(
    ids: &[u128],
    size: usize,
    at: usize,
    picks: &mut [usize; COUPONS_MAX],
    visit: &mut impl FnMut(&[u128]),
) {
    if at == size {
        let mut chosen = [0u128; COUPONS_MAX];
        for (slot, &k) in picks[..size].iter().enumerate() {
            chosen[slot] = ids[k];
        }
        visit(&chosen[..size]);
        return;
    }
    for k in 0..ids.len() {
        if picks[..at].contains(&k) {
            continue;
        }
        picks[at] = k;
        arrangements(ids, size, at + 1, picks, visit);
    }
}
