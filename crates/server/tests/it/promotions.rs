//! End-to-end tests of the promotions endpoints (`/v1/promotions/...`): a coupon campaign over
//! HTTP on a temporary node (funded, coupons claimed, a payment by an account carrying a
//! coupon, captured, refunded in part, the campaign closed) checked by exact figures on the
//! campaign, the coupons, the checkout and the ledger; a red-packet pool grabbed empty; a
//! lottery whose only prize runs out, with a rule set and cleared; reward coins checked in,
//! once a day, and taken back at expiry; and the problems of bad input.

use serde_json::{Value, json};

use crate::TestServer;

const SPONSOR: u128 = 301;
const MERCHANT: u128 = 302;
const WALLET: u128 = 303;
const BANK: u128 = 304;
const COUPONS: u128 = 1000;
const COUPONS_BUDGET: u128 = 1001;
const POOL: u128 = 2000;
const POOL_BUDGET: u128 = 2001;
const LOTTERY: u128 = 3000;
const LOTTERY_BUDGET: u128 = 3001;
const COINS: u128 = 4000;
const COINS_BUDGET: u128 = 4001;

fn coupon_campaign() -> Value {
    json!({
        "id": COUPONS.to_string(),
        "kind": "coupon",
        "sponsor_account_id": SPONSOR.to_string(),
        "budget_account_id": COUPONS_BUDGET.to_string(),
        "ledger": 1,
        "code": 10,
        "offer": { "type": "threshold", "min_spend": "20000", "amount": "3000" },
        "stock": 2,
        "coupons_per_user": 1
    })
}

fn command(kind: &str, id: u128, fields: Value) -> Value {
    let mut command = json!({ "type": kind, "id": id.to_string() });
    for (key, value) in fields.as_object().expect("an object") {
        command[key] = value.clone();
    }
    command
}

fn checkout(id: u128, user: u128, coupons: &[u128]) -> Value {
    let coupons: Vec<String> = coupons.iter().map(u128::to_string).collect();
    command(
        "checkout",
        id,
        json!({
            "user_id": user.to_string(),
            "payer_id": WALLET.to_string(),
            "merchant_account_id": MERCHANT.to_string(),
            "amount": "25000",
            "code": 1,
            "coupons": coupons
        }),
    )
}

/// The figures of a campaign that change, as the API answers them.
async fn figures(server: &TestServer, id: u128) -> Value {
    let answer = server.get(&format!("/v1/promotions/campaigns/{id}")).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let keys = [
        "status",
        "funded",
        "reserved",
        "spent",
        "grabbed",
        "returned",
        "budget_balance",
        "available",
        "issued",
        "stock_left",
        "redemptions",
    ];
    keys.iter()
        .map(|key| (key.to_string(), answer.body[key].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// (debits_posted, credits_posted) of an account.
async fn posted(server: &TestServer, id: u128) -> (String, String) {
    let answer = server.get(&format!("/v1/accounts/{id}")).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let text = |key: &str| answer.body[key].as_str().expect("a string").to_string();
    (text("debits_posted"), text("credits_posted"))
}

// Goal: a coupon campaign's whole life over HTTP: created (and read back as sent), funded,
// coupons claimed against the stock and the per-user limit, a payment by an account carrying a
// coupon reserved then captured, a second payment voided (its coupon free again), a used
// coupon refused, a partial refund that returns the sponsor's share, and the close that
// returns the rest; the campaign's figures, the coupon and checkout views and the ledger
// balances by exact figures at each step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coupon_campaign_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let accounts: Vec<Value> = [SPONSOR, MERCHANT, BANK]
        .iter()
        .map(|id| crate::account(*id, &[]))
        .chain([crate::account(WALLET, &["debits_must_not_exceed_credits"])])
        .collect();
    server
        .post_ok("/v1/accounts", &json!({ "accounts": accounts }), &["ok"; 4])
        .await;
    server
        .post_ok(
            "/v1/transfers",
            &json!({ "transfers": [crate::transfer(1, BANK, WALLET, 100_000)] }),
            &["ok"],
        )
        .await;

    // Created once; the same again is `exists`, a changed one differs.
    let mut changed = coupon_campaign();
    changed["priority"] = json!(3);
    server
        .post_ok(
            "/v1/promotions/campaigns",
            &json!({ "campaigns": [coupon_campaign(), coupon_campaign(), changed] }),
            &["ok", "exists", "exists_with_different_fields"],
        )
        .await;
    let campaign = server.get("/v1/promotions/campaigns/1000").await;
    assert_eq!(campaign.status, 200, "{}", campaign.text);
    for (key, value) in coupon_campaign().as_object().expect("an object") {
        assert_eq!(&campaign.body[key], value, "{key}: {}", campaign.text);
    }
    assert_eq!(campaign.body["starts_at"], "0");
    assert_eq!(campaign.body["exclusive_group"], 0);
    assert_eq!(campaign.body["restore_on_refund"], false);
    // The budget account exists, managed and bounded by its credits.
    let budget = server.get(&format!("/v1/accounts/{COUPONS_BUDGET}")).await;
    assert_eq!(
        budget.body["flags"],
        json!(["debits_must_not_exceed_credits", "managed"]),
        "{}",
        budget.text
    );

    let commands = json!({ "commands": [
        command("fund_campaign", 10, json!({ "campaign_id": "1000", "amount": "50000" })),
        command("claim_coupon", 20, json!({ "campaign_id": "1000", "user_id": "7" })),
        command("claim_coupon", 21, json!({ "campaign_id": "1000", "user_id": "7" })),
        command("claim_coupon", 22, json!({ "campaign_id": "1000", "user_id": "8" })),
        command("claim_coupon", 23, json!({ "campaign_id": "1000", "user_id": "9" })),
        checkout(30, 7, &[20]),
    ]});
    server
        .post_ok(
            "/v1/promotions/commands",
            &commands,
            &[
                "ok",
                "ok",
                "per_user_coupon_limit",
                "ok",
                "stock_exhausted",
                "ok",
            ],
        )
        .await;
    assert_eq!(
        figures(&server, COUPONS).await,
        json!({
            "status": "active", "funded": "50000", "reserved": "3000", "spent": "0",
            "grabbed": "0", "returned": "0", "budget_balance": "50000", "available": "47000",
            "issued": 2, "stock_left": 0, "redemptions": 1
        })
    );
    // The best coupons for user 8's basket: its one coupon; below the threshold, none; user 7's
    // coupon is held by checkout 30.
    let best = |user: u128, amount: u64| {
        format!(
            "/v1/promotions/best-coupons?user_id={user}&merchant_account_id={MERCHANT}&amount={amount}"
        )
    };
    let answer = server.get(&best(8, 25_000)).await;
    assert_eq!(
        answer.body,
        json!({ "coupons": ["22"], "discount": "3000", "to_pay": "22000" }),
        "{}",
        answer.text
    );
    let answer = server.get(&best(8, 19_999)).await;
    assert_eq!(
        answer.body,
        json!({ "coupons": [], "discount": "0", "to_pay": "19999" })
    );
    let answer = server.get(&best(7, 25_000)).await;
    assert_eq!(answer.body["coupons"], json!([]));
    let answer = server
        .get("/v1/promotions/best-coupons?user_id=8&amount=1")
        .await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert_eq!(answer.body["code"], "invalid_value");
    let coupon = server.get("/v1/promotions/coupons/20").await;
    assert_eq!(
        coupon.body,
        json!({
            "id": "20", "campaign_id": "1000", "user_id": "7", "status": "reserved",
            "expires_at": null, "checkout_id": "30"
        })
    );
    let held = server.get("/v1/promotions/checkouts/30").await;
    assert_eq!(held.status, 200, "{}", held.text);
    assert_eq!(held.body["status"], "authorized");
    assert_eq!(held.body["amount"], "25000");
    assert_eq!(held.body["buyer_amount"], "22000");
    assert_eq!(held.body["discount"], "3000");
    assert_eq!(held.body["coupons"], json!(["20"]));
    assert_eq!(held.body["deadline"], Value::Null);

    // Capture; a second payment by user 8 voided; the used coupon cannot pay again.
    server
        .post_ok(
            "/v1/promotions/commands",
            &json!({ "commands": [
                command("capture_checkout", 31, json!({ "checkout_id": "30" })),
                checkout(32, 8, &[22]),
                command("void_checkout", 33, json!({ "checkout_id": "32" })),
                checkout(34, 7, &[20]),
                command("capture_checkout", 35, json!({ "checkout_id": "30" })),
            ]}),
            &["ok", "ok", "ok", "coupon_used", "checkout_already_captured"],
        )
        .await;
    let captured = server.get("/v1/promotions/checkouts/30").await;
    assert_eq!(captured.body["status"], "captured");
    let voided = server.get("/v1/promotions/checkouts/32").await;
    assert_eq!(voided.body["status"], "voided");
    assert_eq!(
        server.get("/v1/promotions/coupons/20").await.body["status"],
        "used"
    );
    let free = server.get("/v1/promotions/coupons/22").await;
    assert_eq!(
        (&free.body["status"], &free.body["checkout_id"]),
        (&json!("available"), &Value::Null)
    );
    assert_eq!(
        figures(&server, COUPONS).await,
        json!({
            "status": "active", "funded": "50000", "reserved": "0", "spent": "3000",
            "grabbed": "0", "returned": "0", "budget_balance": "47000", "available": "47000",
            "issued": 2, "stock_left": 0, "redemptions": 1
        })
    );
    // The merchant got 220.00 from the wallet and 30.00 from the budget.
    assert_eq!(
        posted(&server, MERCHANT).await,
        ("0".into(), "25000".into())
    );
    assert_eq!(
        posted(&server, WALLET).await,
        ("22000".into(), "100000".into())
    );
    assert_eq!(
        posted(&server, COUPONS_BUDGET).await,
        ("3000".into(), "50000".into())
    );

    // Refund 50.00 of 250.00: the sponsor's share (3000 × 5000 / 25000 = 600) goes back to
    // the budget, 44.00 to the wallet. Then close: the 476.00 left returns to the sponsor.
    server
        .post_ok(
            "/v1/promotions/commands",
            &json!({ "commands": [
                command("refund_checkout", 36, json!({ "checkout_id": "30", "amount": "5000" })),
                command("refund_checkout", 37, json!({ "checkout_id": "30", "amount": "20001" })),
                { "type": "set_campaign_status", "campaign_id": "1000", "change": "close" },
                command("claim_coupon", 24, json!({ "campaign_id": "1000", "user_id": "9" })),
            ]}),
            &["ok", "exceeds_refundable", "ok", "campaign_closed"],
        )
        .await;
    let refunded = server.get("/v1/promotions/checkouts/30").await;
    assert_eq!(refunded.body["refunded"], "5000");
    assert_eq!(
        figures(&server, COUPONS).await,
        json!({
            "status": "closed", "funded": "50000", "reserved": "0", "spent": "2400",
            "grabbed": "0", "returned": "47600", "budget_balance": "0", "available": "0",
            "issued": 2, "stock_left": 0, "redemptions": 1
        })
    );
    assert_eq!(
        posted(&server, SPONSOR).await,
        ("50000".into(), "47600".into())
    );
    assert_eq!(
        posted(&server, WALLET).await,
        ("22000".into(), "104400".into())
    );
    assert_eq!(
        posted(&server, MERCHANT).await,
        ("5000".into(), "25000".into())
    );

    // A one-step payment (`capture`): posted at once, captured; with a timeout it is refused.
    let mut one_step = checkout(38, 7, &[]);
    one_step["capture"] = json!(true);
    let mut timed = checkout(39, 7, &[]);
    timed["capture"] = json!(true);
    timed["timeout"] = json!(60);
    server
        .post_ok(
            "/v1/promotions/commands",
            &json!({ "commands": [timed, one_step] }),
            &["timeout_with_capture", "ok"],
        )
        .await;
    let paid = server.get("/v1/promotions/checkouts/38").await;
    assert_eq!(paid.body["status"], "captured", "{}", paid.text);
    assert_eq!(
        posted(&server, MERCHANT).await,
        ("5000".into(), "50000".into())
    );
    assert_eq!(
        posted(&server, WALLET).await,
        ("47000".into(), "104400".into())
    );
    server.stop().await;
}

// Goal: a red-packet pool of 100.00 yuan in 10 packets: refused before it is funded, then
// grabbed empty by ten users (each packet at least one fen, the amounts summing to the pool
// exactly, each landing in the user's account), one grab per user, none past the last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn red_packets_sum_to_the_pool() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let users: Vec<u128> = (0..11).map(|i| 500 + i).collect();
    let user_account = |user: u128| user + 1000;
    let accounts: Vec<Value> = [SPONSOR]
        .into_iter()
        .chain(users.iter().map(|&u| user_account(u)))
        .map(|id| crate::account(id, &[]))
        .collect();
    server
        .post_ok(
            "/v1/accounts",
            &json!({ "accounts": accounts }),
            &["ok"; 12],
        )
        .await;
    let pool = json!({
        "id": POOL.to_string(),
        "kind": "red_packet",
        "sponsor_account_id": SPONSOR.to_string(),
        "budget_account_id": POOL_BUDGET.to_string(),
        "ledger": 1,
        "code": 20,
        "stock": 10,
        "pool_amount": "10000",
        "seed": "20261111"
    });
    let grab = |id: u128, user: u128| {
        command(
            "grab_red_packet",
            id,
            json!({
                "campaign_id": POOL.to_string(),
                "user_id": user.to_string(),
                "account_id": user_account(user).to_string()
            }),
        )
    };
    server
        .post_ok(
            "/v1/promotions/campaigns",
            &json!({ "campaigns": [pool] }),
            &["ok"],
        )
        .await;
    server
        .post_ok(
            "/v1/promotions/commands",
            &json!({ "commands": [
                grab(100, users[0]),
                command("fund_campaign", 101, json!({ "campaign_id": "2000", "amount": "10000" })),
            ]}),
            &["pool_not_funded", "ok"],
        )
        .await;
    let grabs: Vec<Value> = (0..10).map(|i| grab(200 + i as u128, users[i])).collect();
    server
        .post_ok(
            "/v1/promotions/commands",
            &json!({ "commands": grabs }),
            &["ok"; 10],
        )
        .await;
    server
        .post_ok(
            "/v1/promotions/commands",
            &json!({ "commands": [grab(300, users[10]), grab(301, users[3])] }),
            &["pool_empty", "already_grabbed"],
        )
        .await;

    let mut total = 0u64;
    for &user in &users[..10] {
        let answer = server
            .get(&format!("/v1/promotions/campaigns/{POOL}/grabs/{user}"))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let amount: u64 = answer.body["amount"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .expect("a decimal amount");
        assert!((1..=10_000 - 9).contains(&amount), "user {user}: {amount}");
        assert_eq!(
            posted(&server, user_account(user)).await,
            ("0".into(), amount.to_string()),
            "the packet landed in user {user}'s account"
        );
        total += amount;
    }
    assert_eq!(total, 10_000, "the packets sum to the pool");
    let late = server
        .get(&format!(
            "/v1/promotions/campaigns/{POOL}/grabs/{}",
            users[10]
        ))
        .await;
    assert_eq!(late.body["amount"], "0");
    assert_eq!(
        figures(&server, POOL).await,
        json!({
            "status": "active", "funded": "10000", "reserved": "0", "spent": "0",
            "grabbed": "10000", "returned": "0", "budget_balance": "0", "available": "0",
            "issued": 10, "stock_left": 0, "redemptions": 0
        })
    );
    let campaign = server.get("/v1/promotions/campaigns/2000").await;
    assert_eq!(campaign.body["kind"], "red_packet");
    assert_eq!(campaign.body["seed"], "20261111");
    assert!(campaign.body.get("offer").is_none(), "{}", campaign.text);
    server.stop().await;
}

// Goal: a lottery with one cash prize of weight 1_000_000 (every draw lands on it) and stock 1,
// funded: the first draw wins the prize (paid from the budget into the winner's account), the
// second lands on the prize given out and wins nothing, and no prize is added once drawing has
// started; a per-user draw limit, a rule refusing a draw (shown on the campaign, then
// cleared), a rule that does not compile, and the draw, prize and campaign views by exact
// figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lottery_prize_runs_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let (alice, bob) = (601u128, 602u128);
    let wallet = |user: u128| user + 1000;
    let accounts: Vec<Value> = [SPONSOR, wallet(alice), wallet(bob)]
        .iter()
        .map(|id| crate::account(*id, &[]))
        .collect();
    server
        .post_ok("/v1/accounts", &json!({ "accounts": accounts }), &["ok"; 3])
        .await;
    let lottery = json!({
        "id": LOTTERY.to_string(),
        "kind": "lottery",
        "sponsor_account_id": SPONSOR.to_string(),
        "budget_account_id": LOTTERY_BUDGET.to_string(),
        "ledger": 1,
        "code": 30,
        "seed": "7",
        "draws_per_user": 1
    });
    server
        .post_ok(
            "/v1/promotions/campaigns",
            &json!({ "campaigns": [lottery.clone()] }),
            &["ok"],
        )
        .await;
    let campaign = server.get("/v1/promotions/campaigns/3000").await;
    assert_eq!(campaign.status, 200, "{}", campaign.text);
    for (key, value) in lottery.as_object().expect("an object") {
        assert_eq!(&campaign.body[key], value, "{key}: {}", campaign.text);
    }
    assert_eq!(campaign.body["rule"], Value::Null);
    assert_eq!(campaign.body["coins_per_check_in"], "0");

    let draw = |id: u128, user: u128, segments: u32| {
        command(
            "draw_lottery",
            id,
            json!({
                "campaign_id": LOTTERY.to_string(),
                "user_id": user.to_string(),
                "account_id": wallet(user).to_string(),
                "user_segments": segments
            }),
        )
    };
    let prize = |number: u8| {
        json!({
            "type": "add_prize", "campaign_id": LOTTERY.to_string(), "prize": number,
            "kind": "cash", "weight_ppm": 1_000_000, "stock": 1, "amount": "888"
        })
    };
    let rule = |text: &str| json!({ "type": "set_campaign_rule", "campaign_id": LOTTERY.to_string(), "rule": text });
    server
        .post_ok(
            "/v1/promotions/commands",
            &json!({ "commands": [
                prize(1),
                prize(1),
                command("fund_campaign", 10, json!({ "campaign_id": "3000", "amount": "5000" })),
                rule("segments != 2 &&"),
                rule("segments != 2"),
            ]}),
            &["ok", "exists", "ok", "rule_invalid", "ok"],
        )
        .await;
    let campaign = server.get("/v1/promotions/campaigns/3000").await;
    assert_eq!(campaign.body["rule"], "segments != 2", "{}", campaign.text);

    // Refused by the rule: the draw is not made (no position, no count against the user).
    server
        .post_ok(
            "/v1/promotions/commands",
            &json!({ "commands": [draw(40, alice, 2), rule(""), draw(41, alice, 2)] }),
            &["rule_not_met", "ok", "ok"],
        )
        .await;
    assert_eq!(
        server.get("/v1/promotions/campaigns/3000").await.body["rule"],
        Value::Null
    );
    server
        .post_ok(
            "/v1/promotions/commands",
            &json!({ "commands": [draw(42, alice, 0), draw(43, bob, 0), prize(2)] }),
            &["per_user_draw_limit", "ok", "lottery_started"],
        )
        .await;

    let won = server.get("/v1/promotions/draws/41").await;
    assert_eq!(won.status, 200, "{}", won.text);
    assert_eq!(
        won.body,
        json!({
            "id": "41", "campaign_id": "3000", "user_id": alice.to_string(), "position": 0,
            "prize": 1, "kind": "cash", "amount": "888"
        })
    );
    let lost = server.get("/v1/promotions/draws/43").await;
    assert_eq!(lost.status, 200, "{}", lost.text);
    assert_eq!(
        lost.body,
        json!({
            "id": "43", "campaign_id": "3000", "user_id": bob.to_string(), "position": 1,
            "prize": 0, "kind": null, "amount": "0"
        })
    );
    for refused in [40, 42] {
        assert_problem(
            server.get(&format!("/v1/promotions/draws/{refused}")).await,
            404,
            "draw_not_found",
        )
        .await;
    }
    let prizes = server.get("/v1/promotions/campaigns/3000/prizes").await;
    assert_eq!(prizes.status, 200, "{}", prizes.text);
    assert_eq!(
        prizes.body,
        json!({ "prizes": [{
            "prize": 1, "kind": "cash", "weight_ppm": 1_000_000, "stock": 1, "won": 1,
            "amount": "888", "coupon_campaign_id": "0"
        }]})
    );
    assert_eq!(
        figures(&server, LOTTERY).await,
        json!({
            "status": "active", "funded": "5000", "reserved": "0", "spent": "888",
            "grabbed": "0", "returned": "0", "budget_balance": "4112", "available": "4112",
            "issued": 2, "stock_left": null, "redemptions": 0
        })
    );
    assert_eq!(
        posted(&server, wallet(alice)).await,
        ("0".into(), "888".into())
    );
    assert_eq!(posted(&server, wallet(bob)).await, ("0".into(), "0".into()));
    assert_eq!(
        posted(&server, LOTTERY_BUDGET).await,
        ("888".into(), "5000".into())
    );
    // Other campaigns have no prizes.
    server
        .post_ok(
            "/v1/promotions/campaigns",
            &json!({ "campaigns": [coupon_campaign()] }),
            &["ok"],
        )
        .await;
    assert_eq!(
        server
            .get("/v1/promotions/campaigns/1000/prizes")
            .await
            .body,
        json!({ "prizes": [] })
    );
    server.stop().await;
}

// Goal: reward coins: a daily check-in pays the campaign's coins from the budget into the
// user's coin account, once per business day (`already_checked_in`), a purchase task the
// campaign does not offer is refused, and once the coins' validity has passed `expire_coins`
// takes them back into the budget; the coins view counts what was earned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coins_check_in_once_a_day_and_expire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let user = 701u128;
    let coin_account = 1701u128;
    let accounts: Vec<Value> = [SPONSOR, coin_account]
        .iter()
        .map(|id| crate::account(*id, &[]))
        .collect();
    server
        .post_ok("/v1/accounts", &json!({ "accounts": accounts }), &["ok"; 2])
        .await;
    let coins = json!({
        "id": COINS.to_string(),
        "kind": "coins",
        "sponsor_account_id": SPONSOR.to_string(),
        "budget_account_id": COINS_BUDGET.to_string(),
        "ledger": 1,
        "code": 40,
        "coins_per_check_in": "10",
        "coins_valid_for": 1
    });
    server
        .post_ok(
            "/v1/promotions/campaigns",
            &json!({ "campaigns": [coins.clone()] }),
            &["ok"],
        )
        .await;
    let campaign = server.get("/v1/promotions/campaigns/4000").await;
    for (key, value) in coins.as_object().expect("an object") {
        assert_eq!(&campaign.body[key], value, "{key}: {}", campaign.text);
    }
    assert_eq!(campaign.body["coins_per_yuan"], 0);
    let earn = |id: u128, checkout: u128| {
        command(
            "earn_coins",
            id,
            json!({
                "campaign_id": COINS.to_string(),
                "user_id": user.to_string(),
                "account_id": coin_account.to_string(),
                "checkout_id": checkout.to_string()
            }),
        )
    };
    let expire = json!({ "type": "expire_coins", "campaign_id": COINS.to_string() });
    server
        .post_ok(
            "/v1/promotions/commands",
            &json!({ "commands": [
                command("fund_campaign", 10, json!({ "campaign_id": "4000", "amount": "100" })),
                earn(50, 0),
                earn(51, 0),
                earn(52, 30),
                expire.clone(),
            ]}),
            &["ok", "ok", "already_checked_in", "task_not_offered", "ok"],
        )
        .await;
    let earned = server
        .get(&format!("/v1/promotions/campaigns/4000/coins/{user}"))
        .await;
    assert_eq!(earned.status, 200, "{}", earned.text);
    assert_eq!(
        earned.body,
        json!({ "campaign_id": "4000", "user_id": user.to_string(), "coins": "10" })
    );
    assert_eq!(
        server
            .get("/v1/promotions/campaigns/4000/coins/702")
            .await
            .body["coins"],
        "0"
    );
    // Nothing was due yet: the coins are still the user's.
    assert_eq!(
        posted(&server, coin_account).await,
        ("0".into(), "10".into())
    );
    assert_eq!(
        figures(&server, COINS).await,
        json!({
            "status": "active", "funded": "100", "reserved": "0", "spent": "10",
            "grabbed": "0", "returned": "0", "budget_balance": "90", "available": "90",
            "issued": 0, "stock_left": null, "redemptions": 0
        })
    );

    // Valid for one second of engine (wall-clock) time.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    server
        .post_ok(
            "/v1/promotions/commands",
            &json!({ "commands": [expire] }),
            &["ok"],
        )
        .await;
    assert_eq!(
        posted(&server, coin_account).await,
        ("10".into(), "10".into())
    );
    assert_eq!(
        posted(&server, COINS_BUDGET).await,
        ("10".into(), "110".into())
    );
    assert_eq!(
        figures(&server, COINS).await,
        json!({
            "status": "active", "funded": "100", "reserved": "0", "spent": "0",
            "grabbed": "0", "returned": "0", "budget_balance": "100", "available": "100",
            "issued": 0, "stock_left": null, "redemptions": 0
        })
    );
    assert_eq!(
        server
            .get(&format!("/v1/promotions/campaigns/4000/coins/{user}"))
            .await
            .body["coins"],
        "10"
    );
    server.stop().await;
}

/// Asserts a problem answer with `status` and `code`.
async fn assert_problem(answer: crate::Answer, status: u16, code: &str) -> Value {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(answer.content_type, "application/problem+json");
    assert_eq!(answer.body["code"], code, "{}", answer.text);
    answer.body
}

// Goal: malformed promotions input is a problem with a stable code (and a pointer where there
// is a value to point at), and nothing is submitted; unknown campaigns, coupons and checkouts
// are 404 with their own codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotions_bad_inputs_are_problems() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let campaigns = "/v1/promotions/campaigns";
    let commands = "/v1/promotions/commands";
    let mut scratch = coupon_campaign();
    scratch["kind"] = json!("scratch_card");
    let body = assert_problem(
        server
            .post(campaigns, &json!({ "campaigns": [scratch] }))
            .await,
        400,
        "invalid_value",
    )
    .await;
    assert_eq!(body["pointer"], "/campaigns/0/kind");
    let mut bogo = coupon_campaign();
    bogo["offer"] = json!({ "type": "buy_one_get_one" });
    let body = assert_problem(
        server
            .post(campaigns, &json!({ "campaigns": [bogo] }))
            .await,
        400,
        "invalid_value",
    )
    .await;
    assert_eq!(body["pointer"], "/campaigns/0/offer/type");
    let mut large = coupon_campaign();
    large["offer"] = json!({ "type": "threshold", "min_spend": 20000, "amount": "3000" });
    assert_problem(
        server
            .post(campaigns, &json!({ "campaigns": [large] }))
            .await,
        400,
        "invalid_value",
    )
    .await;
    let mut extra = coupon_campaign();
    extra["budget"] = json!("5");
    let body = assert_problem(
        server
            .post(campaigns, &json!({ "campaigns": [extra] }))
            .await,
        400,
        "unknown_field",
    )
    .await;
    assert_eq!(body["pointer"], "/campaigns/0/budget");
    assert_problem(
        server.post(campaigns, &json!({ "campaigns": [] })).await,
        400,
        "empty_batch",
    )
    .await;
    assert_problem(
        server
            .post_raw(campaigns, Some("text/plain"), b"{}".to_vec())
            .await,
        415,
        "unsupported_media_type",
    )
    .await;
    assert_problem(
        server
            .post(
                commands,
                &json!({ "commands": [{ "type": "spin_wheel", "id": "1" }] }),
            )
            .await,
        400,
        "invalid_value",
    )
    .await;
    let five = checkout(30, 7, &[1, 2, 3, 4, 5]);
    let body = assert_problem(
        server.post(commands, &json!({ "commands": [five] })).await,
        400,
        "invalid_value",
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("at most 4 coupon ids")),
        "{body}"
    );
    assert_problem(
        server
            .post(
                commands,
                &json!({ "commands": [{ "type": "set_campaign_status", "campaign_id": "1" }] }),
            )
            .await,
        400,
        "missing_field",
    )
    .await;
    assert_problem(
        server
            .post(
                commands,
                &json!({ "commands": [
                    command("fund_campaign", 1, json!({ "campaign_id": "1", "amount": "1" })),
                    command("void_checkout", 2, json!({ "checkout_id": "1", "amount": "1" })),
                ]}),
            )
            .await,
        400,
        "unknown_field",
    )
    .await;

    // A rule over 192 bytes: the whole request is refused, the earlier command too.
    let body = assert_problem(
        server
            .post(
                commands,
                &json!({ "commands": [
                    command("fund_campaign", 1, json!({ "campaign_id": "1", "amount": "1" })),
                    { "type": "set_campaign_rule", "campaign_id": "1", "rule": "a".repeat(193) },
                ]}),
            )
            .await,
        400,
        "invalid_value",
    )
    .await;
    assert_eq!(body["pointer"], "/commands/1");
    assert_eq!(
        body["detail"],
        "invalid length 193, expected a rule of at most 192 bytes (at /commands/1)"
    );
    let body = assert_problem(
        server
            .post(
                commands,
                &json!({ "commands": [{ "type": "add_prize", "campaign_id": "1", "prize": 1,
                                        "kind": "car" }] }),
            )
            .await,
        400,
        "invalid_value",
    )
    .await;
    assert_eq!(body["pointer"], "/commands/0");

    for (path, code) in [
        ("/v1/promotions/campaigns/999", "campaign_not_found"),
        ("/v1/promotions/campaigns/999/grabs/7", "campaign_not_found"),
        ("/v1/promotions/campaigns/999/prizes", "campaign_not_found"),
        ("/v1/promotions/campaigns/999/coins/7", "campaign_not_found"),
        ("/v1/promotions/coupons/999", "coupon_not_found"),
        ("/v1/promotions/checkouts/999", "checkout_not_found"),
        ("/v1/promotions/draws/999", "draw_not_found"),
    ] {
        let body = assert_problem(server.get(path).await, 404, code).await;
        assert!(
            body["detail"].as_str().is_some_and(|d| d.contains("999")),
            "{body}"
        );
    }
    for path in [
        "/v1/promotions/campaigns/x",
        "/v1/promotions/campaigns/1/grabs/-7",
        "/v1/promotions/coupons/0x1",
        "/v1/promotions/campaigns/1.5/prizes",
        "/v1/promotions/campaigns/1/coins/x",
        "/v1/promotions/draws/-1",
        "/v1/promotions/checkouts/340282366920938463463374607431768211456",
    ] {
        assert_problem(server.get(path).await, 400, "invalid_value").await;
    }
    // Nothing was submitted: no account, no transfer, no campaign, no batch.
    assert_eq!(server.counts(), (0, 0));
    assert_eq!(
        server
            .node
            .read(|state| (state.promotions().campaign_count(), state.op())),
        (0, 0)
    );
    server.stop().await;
}
