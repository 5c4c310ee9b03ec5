//! The promotions part of target `http` (`/v1/promotions/...`): the state its seeds refer to
//! (funded campaigns of every kind, coupons, a captured checkout, lottery prizes, a grab, a draw,
//! coins), one valid request per route and command type, near-misses of each (a 200 with a
//! refusal, a problem), the values and tokens its mutations use, and the promotions figures the
//! "a problem changes nothing" property compares.
//!
//! Ids: campaigns 1000 (threshold coupon), 1100 (card-scoped percent coupon), 2000 (red
//! packets), 3000 (lottery), 4000 (coins) and their budgets id + 50, made by `setup`; 1200, 2100,
//! 3100 and 4100 made by the seeds. Command ids 5010-5099 (setup) and 6001-6099 (seeds) are
//! also transfer ids, apart from every ledger and credit id of the target.

use serde_json::{Value, json};

use super::{get, post};

const SPONSOR: &str = "301";
const MERCHANT: &str = "302";
/// An account with `debits_must_not_exceed_credits`, funded by the bank: pays checkouts.
const WALLET: &str = "303";
const BANK: &str = "304";
/// Accounts that red packets, cash prizes and draw costs move through (313 is funded).
const USER_ACCOUNTS: [&str; 3] = ["311", "312", "313"];
/// Coin accounts (ordinary accounts on ledger 1).
const COIN_ACCOUNTS: [&str; 3] = ["321", "322", "323"];
/// The credit line the ledger part of the target opens (`open_line` 1001).
const LINE: &str = "1001";

fn command(kind: &str, id: u32, fields: &Value) -> Value {
    let mut command = json!({ "type": kind, "id": id.to_string() });
    for (key, value) in fields.as_object().expect("command fields are an object") {
        command[key] = value.clone();
    }
    command
}

fn fund(id: u32, campaign: &str, amount: &str) -> Value {
    command(
        "fund_campaign",
        id,
        &json!({ "campaign_id": campaign, "amount": amount }),
    )
}

fn coupon(kind: &str, id: u32, campaign: &str, user: &str) -> Value {
    command(
        kind,
        id,
        &json!({ "campaign_id": campaign, "user_id": user }),
    )
}

fn checkout(id: u32, user: &str, payer: &str, amount: &str, coupons: &[&str]) -> Value {
    command(
        "checkout",
        id,
        &json!({
            "user_id": user, "payer_id": payer, "merchant_account_id": MERCHANT,
            "amount": amount, "code": 1, "coupons": coupons
        }),
    )
}

fn reference(kind: &str, id: u32, checkout: &str) -> Value {
    command(kind, id, &json!({ "checkout_id": checkout }))
}

fn user_command(kind: &str, id: u32, campaign: &str, user: &str, account: &str) -> Value {
    command(
        kind,
        id,
        &json!({ "campaign_id": campaign, "user_id": user, "account_id": account }),
    )
}

fn status(campaign: &str, change: &str) -> Value {
    json!({ "type": "set_campaign_status", "campaign_id": campaign, "change": change })
}

fn rule(campaign: &str, text: &str) -> Value {
    json!({ "type": "set_campaign_rule", "campaign_id": campaign, "rule": text })
}

fn commands(list: Vec<Value>) -> Vec<u8> {
    post("/v1/promotions/commands", &json!({ "commands": list }))
}

fn campaigns(list: &[Value]) -> Vec<u8> {
    post("/v1/promotions/campaigns", &json!({ "campaigns": list }))
}

/// A campaign of `kind` with its budget account `id + 50` (1001 is the credit line's account),
/// on ledger 1, plus `fields`.
fn campaign(id: u32, kind: &str, fields: &Value) -> Value {
    let mut campaign = json!({
        "id": id.to_string(), "kind": kind, "sponsor_account_id": SPONSOR,
        "budget_account_id": (id + 50).to_string(), "ledger": 1, "code": id / 100
    });
    for (key, value) in fields.as_object().expect("campaign fields are an object") {
        campaign[key] = value.clone();
    }
    campaign
}

fn setup_campaigns() -> Vec<Value> {
    vec![
        campaign(
            1000,
            "coupon",
            &json!({ "offer": { "type": "threshold", "min_spend": "20000", "amount": "3000" } }),
        ),
        campaign(
            1100,
            "coupon",
            &json!({
                "offer": { "type": "percent", "min_spend": "0", "bps": 850, "cap": "500" },
                "card_issuer": 3, "bin_low": 622_200, "bin_high": 622_299,
                "exclusive_group": 1, "priority": 5, "restore_on_refund": true
            }),
        ),
        campaign(
            2000,
            "red_packet",
            &json!({ "pool_amount": "1000000", "stock": 1000, "seed": "42" }),
        ),
        campaign(3000, "lottery", &json!({ "seed": "9" })),
        campaign(
            4000,
            "coins",
            &json!({ "coins_per_check_in": "10", "coins_per_yuan": 1 }),
        ),
    ]
}

/// Requests that build the promotions state the seeds refer to; each answers 200 with every
/// result `ok` (checked by `promotions_seeds_succeed`).
pub(super) fn setup() -> Vec<Vec<u8>> {
    let accounts: Vec<Value> = [SPONSOR, MERCHANT, BANK]
        .into_iter()
        .chain(USER_ACCOUNTS)
        .chain(COIN_ACCOUNTS)
        .map(|id| json!({ "id": id, "ledger": 1, "code": 1 }))
        .chain([json!({
            "id": WALLET, "ledger": 1, "code": 1, "flags": ["debits_must_not_exceed_credits"]
        })])
        .collect();
    let transfer = |id: u32, credit: &str, amount: &str| {
        json!({
            "id": id.to_string(), "debit_account_id": BANK, "credit_account_id": credit,
            "amount": amount, "ledger": 1, "code": 1
        })
    };
    let prize = |number: u8, fields: &Value| {
        let mut prize = json!({ "type": "add_prize", "campaign_id": "3000", "prize": number });
        for (key, value) in fields.as_object().expect("prize fields are an object") {
            prize[key] = value.clone();
        }
        prize
    };
    vec![
        post("/v1/accounts", &json!({ "accounts": accounts })),
        post(
            "/v1/transfers",
            &json!({ "transfers": [
                transfer(13, WALLET, "10000000"),
                transfer(14, USER_ACCOUNTS[2], "100000"),
            ]}),
        ),
        campaigns(&setup_campaigns()),
        commands(vec![
            fund(5010, "1000", "100000000"),
            fund(5011, "1100", "100000000"),
            fund(5012, "2000", "1000000"),
            fund(5013, "3000", "100000000"),
            fund(5014, "4000", "100000000"),
            coupon("claim_coupon", 5020, "1000", "7"),
            coupon("issue_coupon", 5021, "1100", "7"),
            coupon("claim_coupon", 5022, "1000", "8"),
            checkout(5030, "7", WALLET, "25000", &["5020"]),
            reference("capture_checkout", 5031, "5030"),
            prize(
                1,
                &json!({ "kind": "cash", "weight_ppm": 500_000, "stock": 1000, "amount": "888" }),
            ),
            prize(
                2,
                &json!({ "kind": "coupon", "weight_ppm": 100_000, "stock": 100,
                         "coupon_campaign_id": "1000" }),
            ),
            prize(
                3,
                &json!({ "kind": "slot", "weight_ppm": 10_000, "stock": 5 }),
            ),
            user_command("grab_red_packet", 5040, "2000", "7", USER_ACCOUNTS[0]),
            user_command("draw_lottery", 5041, "3000", "7", USER_ACCOUNTS[0]),
            user_command("earn_coins", 5042, "4000", "7", COIN_ACCOUNTS[0]),
        ]),
    ]
}

/// The commands of the main seed, in order, each `ok` on the state `setup` and the campaigns
/// seed leave.
fn seed_commands() -> Vec<Value> {
    let mut purchase_coins = user_command("earn_coins", 6017, "4000", "7", COIN_ACCOUNTS[0]);
    purchase_coins["checkout_id"] = json!("5030");
    let mut segmented = coupon("claim_coupon", 6003, "1200", "9");
    segmented["user_segments"] = json!(1);
    let mut scoped = checkout(6004, "9", WALLET, "30000", &["6002", "6003"]);
    scoped["category"] = json!(8);
    let cash_prize = json!({
        "type": "add_prize", "campaign_id": "3100", "prize": 1, "kind": "cash",
        "weight_ppm": 1_000_000, "stock": 10, "amount": "50"
    });
    vec![
        fund(6001, "1200", "1000000"),
        status("1200", "pause"),
        status("1200", "resume"),
        coupon("issue_coupon", 6002, "1000", "9"),
        segmented,
        scoped,
        reference("capture_checkout", 6005, "6004"),
        command(
            "refund_checkout",
            6006,
            &json!({ "checkout_id": "6004", "amount": "1000" }),
        ),
        checkout(6007, "8", WALLET, "25000", &["5022"]),
        reference("void_checkout", 6008, "6007"),
        // Paid by a credit line: the payer's part is a credit authorization.
        checkout(6009, "9001", LINE, "1000", &[]),
        reference("capture_checkout", 6010, "6009"),
        user_command("grab_red_packet", 6011, "2000", "8", USER_ACCOUNTS[1]),
        // Onto a credit line: a bill credit.
        user_command("grab_red_packet", 6012, "2000", "9001", LINE),
        fund(6013, "3100", "100000"),
        cash_prize,
        user_command("draw_lottery", 6014, "3100", "9", USER_ACCOUNTS[2]),
        user_command("draw_lottery", 6015, "3000", "8", USER_ACCOUNTS[1]),
        user_command("earn_coins", 6016, "4000", "8", COIN_ACCOUNTS[1]),
        purchase_coins,
        fund(6018, "4100", "10000"),
        user_command("earn_coins", 6019, "4100", "9", COIN_ACCOUNTS[2]),
        json!({ "type": "expire_coins", "campaign_id": "4100" }),
        rule(
            "1200",
            "amount >= 20000 && (bin in 622200..=622299 || issuer == 3 || category == 8) \
             && hour < 24 && user_coupons in [0, 1, 2, 3, 4, 5]",
        ),
        status("2100", "close"),
    ]
}

/// One valid request per promotions route and command type; each answers 200, every command
/// and campaign `ok`, on the state `setup` leaves, in this order (checked by
/// `promotions_seeds_succeed`). The first two are the campaigns and the commands.
pub(super) fn seeds() -> Vec<Vec<u8>> {
    let new_campaigns = [
        campaign(
            1200,
            "coupon",
            &json!({
                "offer": { "type": "free_order", "cap": "5000" },
                "merchant_account_id": MERCHANT, "category": 8, "eligible_segments": 3,
                "coupon_valid_for": 86_400, "stock": 1000, "coupons_per_user": 5,
                "redemptions_max": 1000, "redemptions_per_user": 5,
                "discount_per_user": "100000", "priority": 9
            }),
        ),
        campaign(
            2100,
            "red_packet",
            &json!({ "pool_amount": "500", "stock": 10, "seed": "7" }),
        ),
        campaign(
            3100,
            "lottery",
            &json!({ "stock": 1000, "draws_per_user": 3, "draw_cost": "100", "seed": "11" }),
        ),
        campaign(
            4100,
            "coins",
            &json!({
                "coins_per_check_in": "5", "coins_valid_for": 3600, "discount_per_user": "1000",
                "ends_at": "18446744073709551615"
            }),
        ),
    ];
    vec![
        campaigns(&new_campaigns),
        commands(seed_commands()),
        get("/v1/promotions/campaigns/1000"),
        get("/v1/promotions/campaigns/1200"),
        get("/v1/promotions/campaigns/2000/grabs/7"),
        get("/v1/promotions/coupons/5020"),
        get("/v1/promotions/coupons/6003"),
        get("/v1/promotions/checkouts/5030"),
        get("/v1/promotions/checkouts/6004"),
        get("/v1/promotions/campaigns/3000/prizes"),
        get("/v1/promotions/campaigns/4000/coins/7"),
        get("/v1/promotions/draws/5041"),
        get("/v1/promotions/best-coupons?user_id=8&merchant_account_id=302&amount=25000"),
        get(
            "/v1/promotions/best-coupons?user_id=7&merchant_account_id=302&amount=30000\
             &card_issuer=3&card_bin=622201&category=8",
        ),
    ]
}

/// Parents for mutation: each seed command alone (so a mutant of one is not masked by the
/// others; most answer `exists` or a refusal once the main seed ran), and near-misses: bodies
/// one edit away from valid that answer 200 with a refusal, or a problem.
pub(super) fn parents() -> Vec<Vec<u8>> {
    let mut parents: Vec<Vec<u8>> = seed_commands()
        .into_iter()
        .map(|c| commands(vec![c]))
        .collect();
    let mut no_offer = campaign(1300, "coupon", &json!({}));
    no_offer["budget_account_id"] = json!("1001");
    parents.extend([
        // 200, refused.
        commands(vec![
            coupon("claim_coupon", 6050, "999", "7"),
            checkout(6051, "7", WALLET, "25000", &["5020"]),
            user_command("grab_red_packet", 6052, "2000", "7", USER_ACCOUNTS[0]),
            rule("1000", "segments != 2 &&"),
            command(
                "refund_checkout",
                6053,
                &json!({ "checkout_id": "5030", "amount": "25001" }),
            ),
            user_command("draw_lottery", 6054, "1000", "7", USER_ACCOUNTS[0]),
            checkout(6055, "7", WALLET, "18446744073709551615", &["5021"]),
        ]),
        campaigns(&[
            no_offer,
            campaign(
                2200,
                "red_packet",
                &json!({ "pool_amount": "5", "stock": 10 }),
            ),
        ]),
        // Problems.
        commands(vec![checkout(
            6060,
            "7",
            WALLET,
            "1",
            &["1", "2", "3", "4", "5"],
        )]),
        commands(vec![
            json!({ "type": "set_campaign_status", "campaign_id": "1000" }),
        ]),
        commands(vec![rule("1000", &"a".repeat(193))]),
        commands(vec![json!({
            "type": "add_prize", "campaign_id": "3000", "prize": 4, "kind": "car"
        })]),
        commands(vec![json!({ "type": "spin_wheel", "id": "1" })]),
        post(
            "/v1/promotions/commands",
            &json!({ "commands": [{ "type": "fund_campaign", "id": "6061",
                                    "campaign_id": "1000", "amount": 500 }] }),
        ),
        campaigns(&[campaign(1400, "scratch_card", &json!({}))]),
        campaigns(&[campaign(1401, "coupon", &json!({ "budget": "5" }))]),
        get("/v1/promotions/campaigns/999"),
        get("/v1/promotions/campaigns/999/grabs/7"),
        get("/v1/promotions/coupons/0x1"),
        get("/v1/promotions/draws/-1"),
        get("/v1/promotions/best-coupons?user_id=8&amount=1"),
    ]);
    parents
}

/// JSON values on the edges of what the promotions parsers and commands accept, as JSON text.
pub(super) const INTERESTING: &[&str] = &[
    "\"coupon\"",
    "\"red_packet\"",
    "\"lottery\"",
    "\"coins\"",
    "\"threshold\"",
    "\"percent\"",
    "\"free_order\"",
    "\"cash\"",
    "\"slot\"",
    "\"pause\"",
    "\"resume\"",
    "\"checkout\"",
    "\"capture_checkout\"",
    "\"refund_checkout\"",
    "\"grab_red_packet\"",
    "\"draw_lottery\"",
    "\"earn_coins\"",
    "\"set_campaign_rule\"",
    "{\"type\":\"threshold\",\"min_spend\":\"0\",\"amount\":\"18446744073709551615\"}",
    "{\"type\":\"percent\",\"min_spend\":\"1\",\"bps\":10001,\"cap\":\"0\"}",
    "{\"type\":\"percent\",\"bps\":10000}",
    "{\"type\":\"free_order\"}",
    "{\"type\":\"free_order\",\"cap\":\"18446744073709551615\"}",
    "[\"5020\",\"5021\",\"5022\",\"6002\"]",
    "[\"5020\",\"5020\"]",
    "[\"5021\",\"6003\"]",
    "[\"0\"]",
    "[\"1\",\"2\",\"3\",\"4\",\"5\"]",
    "\"1000\"",
    "\"1100\"",
    "\"1200\"",
    "\"2000\"",
    "\"3000\"",
    "\"4000\"",
    "\"5030\"",
    "\"6004\"",
    "\"1001\"",
    "\"303\"",
    "\"9001\"",
    "\"25000\"",
    "\"19999\"",
    "\"20000\"",
    "10000",
    "10001",
    "16",
    "17",
    "1000000",
    "1000001",
    "622200",
    "622299",
    "\"amount >= 20000 && hour < 12\"",
    "\"segments != 2\"",
    "\"1 < 2 < 3\"",
    "\"9223372036854775807 + 1 > 0\"",
    "\"-9223372036854775808 / -1 == 0\"",
    "\"amount % 0 == 0\"",
    "\"amount in [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]\"",
    "\"amount in 5..=1\"",
    "\"((((((((((((((((((((((((((((((((((true))))))))))))))))))))))))))))))))))\"",
    "\"!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!true\"",
    "\"\"",
];

/// Tokens of the campaign rule language (and of decimals), for string edits: the facts a rule
/// may name (`promotions::RULE_VARIABLES`), then the rest.
pub(super) static TOKENS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    promotions::RULE_VARIABLES
        .iter()
        .chain(OTHER_TOKENS)
        .copied()
        .collect()
});

/// The rule language's tokens other than its variables.
const OTHER_TOKENS: &[&str] = &[
    "bogus",
    "true",
    "false",
    "in",
    "&&",
    "||",
    "!",
    "(",
    ")",
    "[",
    "]",
    ",",
    "..=",
    "..",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "=",
    "+",
    "-",
    "*",
    "/",
    "%",
    " ",
    "\t",
    "\n",
    "0",
    "1",
    "9",
    "10_000",
    "1_",
    "_",
    "9223372036854775807",
    "9223372036854775808",
    "\u{e9}",
    "\u{0}",
];

/// Promotions figures a request that answered a problem must leave as they were: the
/// campaign count, and the size of the promotions snapshot, which grows with every coupon,
/// checkout, usage record, op, prize, draw, coin lot and rule (the promotions crate counts only
/// campaigns in public). Sizes, not contents: a checkout that expires between two requests (a
/// pulse batch, any time) changes state in place, never its size.
pub(super) fn figures(state: &engine::StateMachine) -> (usize, usize) {
    let promotions = state.promotions();
    let mut snapshot = Vec::new();
    promotions.encode_snapshot(&mut snapshot);
    (promotions.campaign_count(), snapshot.len())
}
