//! The best-coupons query: its answer is what a checkout carrying those coupons gets, and no
//! arrangement of the user's coupons gives more.

use proptest::prelude::*;

use super::{MERCHANT, WALLET, World, bank_coupon, checkout, fund, yuan};
use crate::{Basket, COUPONS_MAX, Campaign, Command, Offer, PromotionResult as R};

fn issue(id: u128, campaign_id: u128, user_id: u128) -> Command {
    Command::IssueCoupon {
        id,
        campaign_id,
        user_id,
        user_segments: 0,
    }
}

/// A campaign with the given offer, group and priority (on the bank's cards, like
/// `bank_coupon`).
fn campaign(id: u128, offer: Offer, group: u32, priority: u16) -> Campaign {
    Campaign {
        offer,
        exclusive_group: group,
        priority,
        ..bank_coupon(id)
    }
}

fn offer(kind: u8, a: u64, b: u64) -> Offer {
    match kind {
        0 => Offer::Threshold {
            min_spend: yuan(a),
            amount: yuan(b.min(a).max(1)),
        },
        1 => Offer::Percent {
            min_spend: yuan(a),
            bps: u16::try_from(b % 5_000 + 1).expect("small"),
            cap: yuan(b),
        },
        _ => Offer::FreeOrder { cap: yuan(b + 1) },
    }
}

/// Every arrangement of up to four of `ids`, brute force.
fn arrangements(ids: &[u128], prefix: &mut Vec<u128>, out: &mut Vec<Vec<u128>>) {
    if !prefix.is_empty() {
        out.push(prefix.clone());
    }
    if prefix.len() == COUPONS_MAX {
        return;
    }
    for &id in ids {
        if !prefix.contains(&id) {
            prefix.push(id);
            arrangements(ids, prefix, out);
            prefix.pop();
        }
    }
}

// Goal: an exclusive coupon worth more than any stack wins alone; below its threshold the best
// stack wins, with a percent coupon placed before a threshold one of equal priority when that
// gives more.
#[test]
fn best_coupons_for_a_basket() {
    let mut w = World::new();
    let campaigns = [
        campaign(100, offer(0, 200, 30), 0, 0),
        campaign(101, offer(1, 0, 1_000), 1, 0),
        campaign(102, offer(2, 0, 19), 1, 0),
        campaign(103, offer(0, 300, 100), u32::MAX, 0),
    ];
    for (k, c) in campaigns.iter().enumerate() {
        assert_eq!(w.campaign(c), R::Ok);
        assert_eq!(w.run(fund(1 + k as u128, c.id, yuan(10_000))), R::Ok);
        assert_eq!(w.run(issue(50 + k as u128, c.id, 7)), R::Ok);
    }
    let basket = |amount| Basket {
        user_id: 7,
        merchant_account_id: MERCHANT,
        amount: yuan(amount),
        card_issuer: 9,
        card_bin: 622_588,
        category: 0,
    };
    let best = w
        .promotions
        .best_coupons(&w.ledger, w.timestamp + 1, &basket(400));
    assert_eq!(
        (best.count, best.coupons[0], best.discount),
        (1, 53, yuan(100))
    );
    let best = w
        .promotions
        .best_coupons(&w.ledger, w.timestamp + 1, &basket(250));
    // Percent 101 takes bps of what is left; listed first it applies to more.
    assert_eq!(best.count, 2);
    assert!(best.coupons[..2].contains(&50) && best.coupons[..2].contains(&51));
    assert!(best.discount > yuan(30));
    // What a checkout with those coupons gets is the answer.
    assert_eq!(
        w.run(checkout(
            60,
            7,
            WALLET,
            yuan(250),
            &best.coupons[..best.count]
        )),
        R::Ok
    );
    assert_eq!(
        w.promotions.checkout(60).expect("checkout").discount,
        best.discount
    );
    // Coupons held by the checkout are no longer offered.
    let next = w
        .promotions
        .best_coupons(&w.ledger, w.timestamp + 1, &basket(250));
    assert!(!next.coupons.contains(&50) && !next.coupons.contains(&51));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    // Goal: no arrangement of the user's coupons (at most 7, so none is left out of the
    // candidates) gives a checkout more than the answer, and the answer's own checkout gets it.
    #[test]
    fn no_arrangement_beats_the_answer(
        specs in proptest::collection::vec((0u8..3, 0u64..400, 1u64..200, 0u32..3, 0u16..3), 1..7),
        amount in 1u64..800,
    ) {
        let mut w = World::new();
        let mut ids = Vec::new();
        for (k, &(kind, a, b, group, priority)) in specs.iter().enumerate() {
            let id = 100 + k as u128;
            let group = if group == 2 { u32::MAX } else { group };
            prop_assume!(w.campaign(&campaign(id, offer(kind, a, b), group, priority)) == R::Ok);
            prop_assert_eq!(w.run(fund(1 + k as u128, id, yuan(10_000))), R::Ok);
            prop_assert_eq!(w.run(issue(50 + k as u128, id, 7)), R::Ok);
            ids.push(50 + k as u128);
        }
        let now = w.timestamp + 1;
        let best = w.promotions.best_coupons(&w.ledger, now, &Basket {
            user_id: 7,
            merchant_account_id: MERCHANT,
            amount: yuan(amount),
            card_issuer: 9,
            card_bin: 622_588,
            category: 0,
        });
        let mut all = Vec::new();
        arrangements(&ids, &mut Vec::new(), &mut all);
        for coupons in all {
            if let Ok(plan) = w.promotions.plan(&w.ledger, now, &checkout(60, 7, WALLET, yuan(amount), &coupons)) {
                prop_assert!(yuan(amount) - plan.buyer <= best.discount, "{coupons:?} beats {best:?}");
            }
        }
        if best.count > 0 {
            prop_assert_eq!(w.run(checkout(60, 7, WALLET, yuan(amount), &best.coupons[..best.count])), R::Ok);
            prop_assert_eq!(w.promotions.checkout(60).expect("checkout").discount, best.discount);
        }
    }
}
