//! Lotteries, reward coins and campaign rules: prizes never oversold, odds as configured,
//! draws replayable; coins earned once per task and taken back at expiry only as far as they
//! are unspent; rules refusing what they do not allow.

use ledger::{Account, CreateTransferResult, Transfer};

use super::{
    LEDGER, MERCHANT, PLATFORM, S, START, WALLET, World, bank_coupon, checkout, fund, yuan,
};
use crate::{
    Campaign, CampaignKind, Command, DRAW_RANGE, PrizeKind, PromotionResult as R, RULE_TEXT_MAX,
};

const COIN_LEDGER: u32 = 900;
const COIN_ISSUER: u128 = 90;
const COIN_SPENT: u128 = 91;
/// Users' coin accounts are 1_000 + user id.
const COIN_ACCOUNT: u128 = 1_000;

fn lottery(id: u128, seed: u64, draws_per_user: u32) -> Campaign {
    Campaign {
        id,
        kind: CampaignKind::Lottery,
        sponsor_account_id: PLATFORM,
        budget_account_id: id + 10_000,
        ledger: LEDGER,
        code: 6,
        starts_at: START,
        seed,
        draws_per_user,
        ..Campaign::default()
    }
}

fn prize(campaign_id: u128, prize: u8, kind: PrizeKind, weight_ppm: u32, stock: u32) -> Command {
    Command::AddPrize {
        campaign_id,
        prize,
        kind,
        weight_ppm,
        stock,
        amount: if kind == PrizeKind::Cash { yuan(10) } else { 0 },
        coupon_campaign_id: if kind == PrizeKind::Coupon { 100 } else { 0 },
    }
}

fn draw(id: u128, campaign_id: u128, user_id: u128) -> Command {
    Command::DrawLottery {
        id,
        campaign_id,
        user_id,
        account_id: WALLET,
        user_segments: 0,
    }
}

/// A lottery of 300 draws: ¥10 cash (30%, 5 of them), a bank coupon (20%, 40 of them) and a
/// test-drive place (10%, 1 of it).
fn lottery_world(seed: u64) -> World {
    let mut w = World::new();
    assert_eq!(w.campaign(&bank_coupon(100)), R::Ok);
    assert_eq!(w.campaign(&lottery(200, seed, 2)), R::Ok);
    assert_eq!(w.run(fund(1, 200, yuan(1_000))), R::Ok);
    assert_eq!(w.run(prize(200, 1, PrizeKind::Cash, 300_000, 5)), R::Ok);
    assert_eq!(w.run(prize(200, 2, PrizeKind::Coupon, 200_000, 40)), R::Ok);
    assert_eq!(w.run(prize(200, 3, PrizeKind::Slot, 100_000, 1)), R::Ok);
    w
}

// Goal: prizes are never oversold, cash comes from the budget exactly, coupon prizes become the
// winner's coupons, a draw is answered again on retry, and the same seed draws the same.
#[test]
fn lottery_never_oversells_and_replays() {
    let mut w = lottery_world(7);
    // Prizes are fixed once drawing starts; retries of a prize answer exists.
    assert_eq!(w.run(prize(200, 1, PrizeKind::Cash, 300_000, 5)), R::Exists);
    assert_eq!(
        w.run(prize(200, 1, PrizeKind::Cash, 300_000, 6)),
        R::ExistsWithDifferentFields
    );
    assert_eq!(w.run(prize(200, 5, PrizeKind::Slot, 1, 1)), R::PrizeInvalid);
    assert_eq!(
        w.run(prize(200, 4, PrizeKind::Slot, 400_001, 1)),
        R::PrizeInvalid,
        "weights above a million"
    );
    let mut outcomes = Vec::new();
    for user in 0..150u128 {
        for k in 0..2 {
            let id = 5_000 + user * 2 + k;
            assert_eq!(w.run(draw(id, 200, user)), R::Ok);
            outcomes.push(w.promotions.draw(id).expect("drawn").prize);
        }
        assert_eq!(w.run(draw(9_999, 200, user)), R::PerUserDrawLimit);
        if user == 70 {
            w.restart();
        }
    }
    assert_eq!(w.run(draw(5_000, 200, 0)), R::Exists);
    assert_eq!(
        w.run(prize(200, 4, PrizeKind::Slot, 1, 1)),
        R::LotteryStarted
    );
    let won = |p: u8| outcomes.iter().filter(|&&o| o == p).count();
    assert_eq!(won(1), 5, "all five cash prizes are won, never a sixth");
    assert_eq!(won(3), 1, "one place");
    assert!(won(2) > 20 && won(2) <= 40, "coupons: {}", won(2));
    let prizes = w.promotions.prizes(200);
    assert_eq!(
        prizes.iter().map(|p| p.won).collect::<Vec<_>>(),
        [5, u32::try_from(won(2)).expect("small"), 1]
    );
    let view = w.promotions.campaign(200).expect("campaign");
    assert_eq!((view.issued, view.spent), (300, yuan(50)));
    assert_eq!(w.net(WALLET), i128::from(yuan(50)));
    // Coupon prizes are the winners' coupons, under the draw's id.
    let coupon_draw = (0..300u128)
        .map(|k| 5_000 + k)
        .find(|&id| w.promotions.draw(id).expect("drawn").prize == 2)
        .expect("a coupon was won");
    let coupon = w.promotions.coupon(coupon_draw).expect("coupon prize");
    assert_eq!(coupon.campaign_id, 100);
    assert_eq!(
        coupon.user_id,
        w.promotions.draw(coupon_draw).expect("drawn").user_id
    );

    // The same seed draws the same; another seed draws differently.
    let mut again = lottery_world(7);
    let mut other = lottery_world(8);
    let mut same = true;
    let mut differs = false;
    for (k, &expected) in outcomes.iter().enumerate() {
        let id = 5_000 + k as u128;
        let user = k as u128 / 2;
        assert_eq!(again.run(draw(id, 200, user)), R::Ok);
        assert_eq!(other.run(draw(id, 200, user)), R::Ok);
        same &= again.promotions.draw(id).expect("drawn").prize == expected;
        differs |= other.promotions.draw(id).expect("drawn").prize != expected;
    }
    assert!(same, "replay draws the same prizes");
    assert!(differs, "the seed decides the draws");
}

// Goal: each prize is drawn with its configured probability (while in stock).
#[test]
fn lottery_odds_match_the_weights() {
    let mut w = World::new();
    assert_eq!(w.campaign(&lottery(300, 42, 0)), R::Ok);
    assert_eq!(
        w.run(prize(300, 1, PrizeKind::Slot, 10_000, 1_000_000)),
        R::Ok
    );
    assert_eq!(
        w.run(prize(300, 2, PrizeKind::Slot, 250_000, 1_000_000)),
        R::Ok
    );
    assert_eq!(
        w.run(prize(300, 3, PrizeKind::Slot, 500_000, 1_000_000)),
        R::Ok
    );
    let draws = 40_000u32;
    let mut counts = [0u32; 4];
    for k in 0..draws {
        let id = 100_000 + u128::from(k);
        assert_eq!(
            w.run(Command::DrawLottery {
                id,
                campaign_id: 300,
                user_id: u128::from(k),
                account_id: 0,
                user_segments: 0,
            }),
            R::Ok
        );
        counts[usize::from(w.promotions.draw(id).expect("drawn").prize)] += 1;
    }
    for (prize, weight) in [(1, 10_000u32), (2, 250_000), (3, 500_000)] {
        let expected = f64::from(draws) * f64::from(weight) / f64::from(DRAW_RANGE);
        let seen = f64::from(counts[prize]);
        // Five standard deviations of a binomial count.
        let p = f64::from(weight) / f64::from(DRAW_RANGE);
        let sd = (f64::from(draws) * p * (1.0 - p)).sqrt();
        assert!(
            (seen - expected).abs() < 5.0 * sd,
            "prize {prize}: {seen} draws, {expected} expected"
        );
    }
}

fn coin_world() -> World {
    let mut w = World::new();
    let accounts: Vec<Account> = [COIN_ISSUER, COIN_SPENT, COIN_ACCOUNT + 1, COIN_ACCOUNT + 2]
        .iter()
        .map(|&id| Account {
            id,
            ledger: COIN_LEDGER,
            code: 1,
            ..Account::default()
        })
        .collect();
    let mut results = Vec::new();
    w.timestamp += 1;
    w.ledger
        .create_accounts(w.timestamp, &accounts, &mut results);
    assert!(
        results
            .iter()
            .all(|r| *r == ledger::CreateAccountResult::Ok)
    );
    let coins = Campaign {
        id: 400,
        kind: CampaignKind::Coins,
        sponsor_account_id: COIN_ISSUER,
        budget_account_id: 10_400,
        ledger: COIN_LEDGER,
        code: 8,
        starts_at: START,
        coins_per_check_in: 10,
        coins_per_yuan: 5,
        coins_valid_for: 10 * 86_400,
        discount_per_user: 5_000,
        ..Campaign::default()
    };
    assert_eq!(w.campaign(&coins), R::Ok);
    assert_eq!(w.run(fund(2, 400, 1_000_000)), R::Ok);
    w
}

fn earn(id: u128, user_id: u128, checkout_id: u128) -> Command {
    Command::EarnCoins {
        id,
        campaign_id: 400,
        user_id,
        account_id: COIN_ACCOUNT + user_id,
        checkout_id,
        user_segments: 0,
    }
}

// Goal: a check-in pays once per business day, a purchase once per captured checkout of the
// user, within the per-user cap; nothing is paid for what the rules refuse.
#[test]
fn coins_are_earned_once_per_task() {
    let mut w = coin_world();
    assert_eq!(w.run(earn(20, 1, 0)), R::Ok);
    assert_eq!(w.run(earn(20, 1, 0)), R::Exists);
    assert_eq!(w.run(earn(21, 1, 0)), R::AlreadyCheckedIn);
    w.advance(86_400);
    assert_eq!(w.run(earn(21, 1, 0)), R::Ok);
    assert_eq!(w.promotions.coins(400, 1), 20);
    // A purchase: ¥300 paid, 5 coins per yuan.
    assert_eq!(w.run(checkout(30, 1, WALLET, yuan(300), &[])), R::Ok);
    assert_eq!(w.run(earn(22, 1, 30)), R::CheckoutNotCaptured);
    assert_eq!(
        w.run(Command::CaptureCheckout {
            id: 31,
            checkout_id: 30
        }),
        R::Ok
    );
    assert_eq!(w.run(earn(22, 2, 30)), R::CheckoutNotOwned);
    assert_eq!(w.run(earn(22, 1, 999)), R::CheckoutNotFound);
    assert_eq!(w.run(earn(22, 1, 30)), R::Ok);
    assert_eq!(w.run(earn(23, 1, 30)), R::CoinsAlreadyEarned);
    assert_eq!(w.promotions.coins(400, 1), 20 + 1_500);
    assert_eq!(w.net(COIN_ACCOUNT + 1), 1_520);
    // The cap (5,000 per user) pays the first ¥1,000 purchase in part (3,480 of 5,000 coins),
    // and the next ones not at all.
    for (k, id) in (40..44u128).enumerate() {
        assert_eq!(w.run(checkout(id, 1, WALLET, yuan(1_000), &[])), R::Ok);
        assert_eq!(
            w.run(Command::CaptureCheckout {
                id: id + 100,
                checkout_id: id
            }),
            R::Ok
        );
        let expected = if k == 0 { R::Ok } else { R::PerUserAmountLimit };
        assert_eq!(w.run(earn(id + 200, 1, id)), expected, "purchase {k}");
    }
    assert_eq!(w.promotions.coins(400, 1), 5_000);
    // The coin account must be on the coin ledger.
    assert_eq!(
        w.run(Command::EarnCoins {
            id: 60,
            campaign_id: 400,
            user_id: 2,
            account_id: WALLET,
            checkout_id: 0,
            user_segments: 0,
        }),
        R::LedgerMismatch
    );
    w.restart();
    assert_eq!(w.run(earn(61, 2, 0)), R::Ok);
}

// Goal: at expiry, only the unspent part of a lot goes back to the budget, spending counted
// soonest-expiring first; nothing is taken twice; coins without expiry stay.
#[test]
fn coins_expire_only_what_is_unspent() {
    let mut w = coin_world();
    assert_eq!(w.run(earn(20, 1, 0)), R::Ok); // 10 coins, day 0
    w.advance(86_400);
    assert_eq!(w.run(earn(21, 1, 0)), R::Ok); // 10 coins, day 1
    // The user spends 14 coins: all of the first lot and 4 of the second.
    w.timestamp += 1;
    let mut results = Vec::new();
    let spend = Transfer {
        id: 70,
        debit_account_id: COIN_ACCOUNT + 1,
        credit_account_id: COIN_SPENT,
        amount: 14,
        ledger: COIN_LEDGER,
        code: 1,
        ..Transfer::default()
    };
    w.ledger
        .create_transfers(w.timestamp, &[spend], &mut results);
    assert_eq!(results, [CreateTransferResult::Ok]);
    let expire = Command::ExpireCoins { campaign_id: 400 };
    // Nothing is due before the first lot's ten days.
    assert_eq!(w.run(expire), R::Ok);
    assert_eq!(w.net(COIN_ACCOUNT + 1), 6);
    w.advance(9 * 86_400 + 1);
    assert_eq!(w.promotions.coin_lots_due(400, w.timestamp), 1);
    assert_eq!(w.run(expire), R::Ok);
    assert_eq!(
        w.net(COIN_ACCOUNT + 1),
        6,
        "the first lot was spent: nothing back"
    );
    w.advance(86_400);
    assert_eq!(w.run(expire), R::Ok);
    assert_eq!(
        w.net(COIN_ACCOUNT + 1),
        0,
        "the second lot's 6 unspent coins go back"
    );
    assert_eq!(w.promotions.coin_lots_due(400, w.timestamp), 0);
    assert_eq!(w.run(expire), R::Ok);
    let view = w.promotions.campaign(400).expect("campaign");
    assert_eq!(view.spent, 14, "earned 20, 6 taken back");
    assert_eq!(w.net(10_400), 1_000_000 - 14);
    w.restart();
}

fn rule(campaign_id: u128, source: &str) -> Command {
    let mut text = [0; RULE_TEXT_MAX];
    text[..source.len()].copy_from_slice(source.as_bytes());
    Command::SetCampaignRule {
        campaign_id,
        len: u8::try_from(source.len()).expect("short"),
        text,
    }
}

// Goal: a campaign's rule is checked where the campaign applies; a rule that does not compile
// is refused and changes nothing; clearing it lets everything through again.
#[test]
fn campaign_rules_gate_coupons() {
    let mut w = World::new();
    assert_eq!(w.campaign(&bank_coupon(100)), R::Ok);
    assert_eq!(w.run(fund(1, 100, yuan(1_000))), R::Ok);
    assert_eq!(
        w.run(Command::IssueCoupon {
            id: 50,
            campaign_id: 100,
            user_id: 7,
            user_segments: 0
        }),
        R::Ok
    );
    assert_eq!(w.run(rule(100, "amount >= ")), R::RuleInvalid);
    assert_eq!(
        w.run(rule(100, "amount >= 30_000 && merchant == 10")),
        R::Ok
    );
    assert_eq!(
        w.promotions.rule(100),
        Some("amount >= 30_000 && merchant == 10")
    );
    assert_eq!(MERCHANT, 10, "the rule names the merchant");
    w.restart();
    assert_eq!(
        w.promotions.rule(100),
        Some("amount >= 30_000 && merchant == 10")
    );
    assert_eq!(
        w.run(checkout(60, 7, WALLET, yuan(250), &[50])),
        R::RuleNotMet
    );
    assert_eq!(w.run(checkout(61, 7, WALLET, yuan(300), &[50])), R::Ok);
    assert_eq!(w.run(rule(100, "")), R::Ok);
    assert_eq!(w.promotions.rule(100), None);
    // A claim checks the user's facts: segments and the hour in China.
    let mut claimable = bank_coupon(101);
    claimable.stock = 10;
    assert_eq!(w.campaign(&claimable), R::Ok);
    let hour = (w.timestamp / S + 8 * 3600) % 86_400 / 3600;
    assert_eq!(
        w.run(rule(101, &format!("hour == {hour} && segments == 4"))),
        R::Ok
    );
    let claim = |id, segments| Command::ClaimCoupon {
        id,
        campaign_id: 101,
        user_id: 8,
        user_segments: segments,
    };
    assert_eq!(w.run(claim(70, 2)), R::RuleNotMet);
    assert_eq!(w.run(claim(70, 4)), R::Ok);
}

// Goal: coins exchanged for prizes: a lottery on the coin ledger whose draw costs coins and
// whose one prize (a coupon) always wins is an exchange; the cost reaches the budget in the same
// chain, and a user without the coins is refused with nothing moved.
#[test]
fn coins_exchanged_for_a_coupon() {
    let mut w = coin_world();
    assert_eq!(w.campaign(&bank_coupon(100)), R::Ok);
    let exchange = Campaign {
        id: 500,
        kind: CampaignKind::Lottery,
        sponsor_account_id: COIN_ISSUER,
        budget_account_id: 10_500,
        ledger: COIN_LEDGER,
        code: 9,
        starts_at: START,
        draw_cost: 500,
        ..Campaign::default()
    };
    assert_eq!(w.campaign(&exchange), R::Ok);
    assert_eq!(
        w.run(Command::AddPrize {
            campaign_id: 500,
            prize: 1,
            kind: PrizeKind::Coupon,
            weight_ppm: DRAW_RANGE,
            stock: 10,
            amount: 0,
            coupon_campaign_id: 100,
        }),
        R::Ok
    );
    // 1,500 coins from a purchase task.
    assert_eq!(w.run(checkout(30, 1, WALLET, yuan(300), &[])), R::Ok);
    assert_eq!(
        w.run(Command::CaptureCheckout {
            id: 31,
            checkout_id: 30
        }),
        R::Ok
    );
    assert_eq!(w.run(earn(22, 1, 30)), R::Ok);
    let swap = |id: u128| Command::DrawLottery {
        id,
        campaign_id: 500,
        user_id: 1,
        account_id: COIN_ACCOUNT + 1,
        user_segments: 0,
    };
    for id in [40, 41, 42] {
        assert_eq!(w.run(swap(id)), R::Ok);
        assert_eq!(w.promotions.coupon(id).expect("a coupon").campaign_id, 100);
    }
    assert_eq!(w.net(COIN_ACCOUNT + 1), 0);
    assert_eq!(w.run(swap(43)), R::InsufficientFunds);
    assert!(w.promotions.coupon(43).is_none());
    assert_eq!(
        w.net(10_500),
        1_500,
        "the costs are in the exchange's budget"
    );
    assert_eq!(w.promotions.campaign(500).expect("campaign").funded, 1_500);
    w.restart();
}
