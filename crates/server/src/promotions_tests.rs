//! Unit tests of the promotions wire format: campaigns with offers by name round-trip through
//! the output shape exactly, commands decode by `type`, a payment carries at most four
//! coupons, a rule at most 192 bytes, and each class of bad value maps to its problem code and
//! pointer.

use promotions::{Campaign, CampaignKind, Command, Offer, PrizeKind, RULE_TEXT_MAX, StatusChange};

use crate::problem::{ProblemCode, parse_json};
use crate::promotions_wire::{CampaignInput, CreateCampaignsRequest, PromotionCommandsRequest};

fn campaigns(body: &[u8]) -> Vec<Campaign> {
    let request: CreateCampaignsRequest = parse_json(body).expect("valid");
    request
        .campaigns
        .into_iter()
        .map(CampaignInput::into_campaign)
        .collect()
}

// Goal: campaigns decode with kinds and offers by name, omitted fields zero (kind `coupon`,
// offer none); every campaign re-encodes (as `GET` shows it) to a body that decodes to the
// same campaign.
#[test]
fn campaigns_decode_and_round_trip() {
    let body = br#"{"campaigns":[
        {"id":"1","sponsor_account_id":"2","budget_account_id":"3","ledger":156,"code":7,
         "offer":{"type":"threshold","min_spend":"20000","amount":"3000"},
         "ends_at":"18446744073709551615","exclusive_group":4294967295,"priority":9,
         "restore_on_refund":true,"stock":100},
        {"id":"4","kind":"coupon","offer":{"type":"percent","min_spend":"0","bps":850,"cap":"500"},
         "card_issuer":3,"bin_low":622200,"bin_high":622299,"discount_per_user":"900"},
        {"id":"5","offer":{"type":"free_order","cap":"5000"}},
        {"id":"6","kind":"red_packet","pool_amount":"100000000000","stock":1000000,"seed":"42"},
        {},
        {"id":"7","kind":"lottery","stock":500,"seed":"9","draws_per_user":3},
        {"id":"8","kind":"coins","ledger":888,"coins_per_check_in":"18446744073709551615",
         "coins_per_yuan":10,"coins_valid_for":2592000,"discount_per_user":"5000"}
    ]}"#;
    let decoded = campaigns(body);
    assert_eq!(
        decoded[0],
        Campaign {
            id: 1,
            sponsor_account_id: 2,
            budget_account_id: 3,
            ledger: 156,
            code: 7,
            offer: Offer::Threshold {
                min_spend: 20_000,
                amount: 3_000
            },
            ends_at: u64::MAX,
            exclusive_group: u32::MAX,
            priority: 9,
            restore_on_refund: true,
            stock: 100,
            ..Campaign::default()
        }
    );
    assert_eq!(
        decoded[1].offer,
        Offer::Percent {
            min_spend: 0,
            bps: 850,
            cap: 500
        }
    );
    assert_eq!(
        (
            decoded[1].bin_low,
            decoded[1].bin_high,
            decoded[1].discount_per_user
        ),
        (622_200, 622_299, 900)
    );
    assert_eq!(decoded[2].offer, Offer::FreeOrder { cap: 5_000 });
    assert_eq!(decoded[3].kind, CampaignKind::RedPacket);
    assert_eq!(
        (decoded[3].pool_amount, decoded[3].stock, decoded[3].seed),
        (100_000_000_000, 1_000_000, 42)
    );
    assert_eq!(decoded[4], Campaign::default());
    assert_eq!(
        decoded[5],
        Campaign {
            id: 7,
            kind: CampaignKind::Lottery,
            stock: 500,
            seed: 9,
            draws_per_user: 3,
            ..Campaign::default()
        }
    );
    assert_eq!(
        decoded[6],
        Campaign {
            id: 8,
            kind: CampaignKind::Coins,
            ledger: 888,
            coins_per_check_in: u64::MAX,
            coins_per_yuan: 10,
            coins_valid_for: 2_592_000,
            discount_per_user: 5_000,
            ..Campaign::default()
        }
    );

    for campaign in &decoded {
        let text = serde_json::to_string(&CampaignInput::new(campaign)).expect("serializes");
        let back: CampaignInput = parse_json(text.as_bytes()).expect("re-decodes");
        assert_eq!(back.into_campaign(), *campaign, "{text}");
    }
    // No offer is shown as none, not as a zero free order.
    let text = serde_json::to_string(&CampaignInput::new(&decoded[3])).expect("serializes");
    assert!(!text.contains("offer"), "{text}");
    assert!(text.contains(r#""kind":"red_packet""#), "{text}");
    assert!(text.contains(r#""pool_amount":"100000000000""#), "{text}");
    let text = serde_json::to_string(&CampaignInput::new(&decoded[5])).expect("serializes");
    assert!(text.contains(r#""kind":"lottery""#), "{text}");
    assert!(text.contains(r#""draws_per_user":3"#), "{text}");
    let text = serde_json::to_string(&CampaignInput::new(&decoded[6])).expect("serializes");
    assert!(text.contains(r#""kind":"coins""#), "{text}");
    assert!(
        text.contains(r#""coins_per_check_in":"18446744073709551615""#),
        "{text}"
    );
    assert!(text.contains(r#""coins_per_yuan":10"#), "{text}");
    assert!(text.contains(r#""coins_valid_for":2592000"#), "{text}");
}

// Goal: every command type decodes by name into its `promotions::Command`, with omitted fields
// zero and the coupon list padded with zeros.
#[test]
fn promotion_commands_decode_by_type() {
    let body = br#"{"commands":[
        {"type":"fund_campaign","id":"10","campaign_id":"1","amount":"500000"},
        {"type":"set_campaign_status","campaign_id":"1","change":"pause"},
        {"type":"issue_coupon","id":"20","campaign_id":"1","user_id":"7","user_segments":3},
        {"type":"claim_coupon","id":"21","campaign_id":"1","user_id":"7"},
        {"type":"checkout","id":"30","user_id":"7","payer_id":"40","merchant_account_id":"41",
         "amount":"25000","timeout":60,"code":5,"card_issuer":3,"card_bin":622201,"category":8,
         "coupons":["20","21"]},
        {"type":"capture_checkout","id":"31","checkout_id":"30"},
        {"type":"void_checkout","id":"32","checkout_id":"30"},
        {"type":"refund_checkout","id":"33","checkout_id":"30","amount":"100"},
        {"type":"grab_red_packet","id":"34","campaign_id":"6","user_id":"7","account_id":"40"},
        {"type":"checkout","id":"35"}
    ]}"#;
    let request: PromotionCommandsRequest = parse_json(body).expect("valid");
    let commands: Vec<Command> = request
        .commands
        .into_iter()
        .map(|c| c.into_command())
        .collect();
    let names: Vec<&str> = commands.iter().map(Command::name).collect();
    assert_eq!(
        names,
        [
            "fund_campaign",
            "set_campaign_status",
            "issue_coupon",
            "claim_coupon",
            "checkout",
            "capture_checkout",
            "void_checkout",
            "refund_checkout",
            "grab_red_packet",
            "checkout",
        ]
    );
    assert_eq!(
        commands[1],
        Command::SetCampaignStatus {
            campaign_id: 1,
            change: StatusChange::Pause
        }
    );
    assert_eq!(
        commands[3],
        Command::ClaimCoupon {
            id: 21,
            campaign_id: 1,
            user_id: 7,
            user_segments: 0
        }
    );
    assert_eq!(
        commands[4],
        Command::Checkout {
            id: 30,
            user_id: 7,
            payer_id: 40,
            merchant_account_id: 41,
            amount: 25_000,
            timeout: 60,
            code: 5,
            card_issuer: 3,
            card_bin: 622_201,
            category: 8,
            coupons: [20, 21, 0, 0],
            capture: false,
        }
    );
    assert_eq!(
        commands[7],
        Command::RefundCheckout {
            id: 33,
            checkout_id: 30,
            amount: 100
        }
    );
    assert_eq!(
        commands[8],
        Command::GrabRedPacket {
            id: 34,
            campaign_id: 6,
            user_id: 7,
            account_id: 40,
            user_segments: 0
        }
    );
    let Command::Checkout { coupons, .. } = commands[9] else {
        panic!("a checkout");
    };
    assert_eq!(coupons, [0; 4]);
}

fn commands(body: &[u8]) -> Vec<Command> {
    let request: PromotionCommandsRequest = parse_json(body).expect("valid");
    request
        .commands
        .into_iter()
        .map(|c| c.into_command())
        .collect()
}

/// A rule's text as `set_campaign_rule` carries it.
fn rule_text(text: &str) -> [u8; RULE_TEXT_MAX] {
    let mut bytes = [0; RULE_TEXT_MAX];
    bytes[..text.len()].copy_from_slice(text.as_bytes());
    bytes
}

// Goal: the lottery, coins and rule commands decode by name into their `promotions::Command`,
// every field in place, omitted fields zero; a rule's text is carried with its byte length
// (UTF-8 counted in bytes), up to exactly 192 bytes, and `""` is the empty rule.
#[test]
fn game_and_rule_commands_decode_by_type() {
    let body = br#"{"commands":[
        {"type":"add_prize","campaign_id":"7","prize":1,"kind":"cash","weight_ppm":1000000,
         "stock":1,"amount":"888"},
        {"type":"add_prize","campaign_id":"7","prize":2,"kind":"coupon","weight_ppm":250000,
         "stock":10,"coupon_campaign_id":"340282366920938463463374607431768211455"},
        {"type":"add_prize","campaign_id":"7","prize":255,"kind":"slot"},
        {"type":"draw_lottery","id":"40","campaign_id":"7","user_id":"9","account_id":"41",
         "user_segments":6},
        {"type":"earn_coins","id":"50","campaign_id":"8","user_id":"9","account_id":"51"},
        {"type":"earn_coins","id":"52","campaign_id":"8","user_id":"9","account_id":"51",
         "checkout_id":"30","user_segments":1},
        {"type":"expire_coins","campaign_id":"8"},
        {"type":"set_campaign_rule","campaign_id":"1","rule":"amount >= 20000 && hour < 12"},
        {"type":"set_campaign_rule","campaign_id":"1","rule":""},
        {"type":"set_campaign_rule","campaign_id":"1"},
        {"type":"draw_lottery"}
    ]}"#;
    let decoded = commands(body);
    let names: Vec<&str> = decoded.iter().map(Command::name).collect();
    assert_eq!(
        names,
        [
            "add_prize",
            "add_prize",
            "add_prize",
            "draw_lottery",
            "earn_coins",
            "earn_coins",
            "expire_coins",
            "set_campaign_rule",
            "set_campaign_rule",
            "set_campaign_rule",
            "draw_lottery",
        ]
    );
    assert_eq!(
        decoded[0],
        Command::AddPrize {
            campaign_id: 7,
            prize: 1,
            kind: PrizeKind::Cash,
            weight_ppm: 1_000_000,
            stock: 1,
            amount: 888,
            coupon_campaign_id: 0,
        }
    );
    assert_eq!(
        decoded[1],
        Command::AddPrize {
            campaign_id: 7,
            prize: 2,
            kind: PrizeKind::Coupon,
            weight_ppm: 250_000,
            stock: 10,
            amount: 0,
            coupon_campaign_id: u128::MAX,
        }
    );
    assert_eq!(
        decoded[2],
        Command::AddPrize {
            campaign_id: 7,
            prize: 255,
            kind: PrizeKind::Slot,
            weight_ppm: 0,
            stock: 0,
            amount: 0,
            coupon_campaign_id: 0,
        }
    );
    assert_eq!(
        decoded[3],
        Command::DrawLottery {
            id: 40,
            campaign_id: 7,
            user_id: 9,
            account_id: 41,
            user_segments: 6,
        }
    );
    assert_eq!(
        decoded[4],
        Command::EarnCoins {
            id: 50,
            campaign_id: 8,
            user_id: 9,
            account_id: 51,
            checkout_id: 0,
            user_segments: 0,
        }
    );
    assert_eq!(
        decoded[5],
        Command::EarnCoins {
            id: 52,
            campaign_id: 8,
            user_id: 9,
            account_id: 51,
            checkout_id: 30,
            user_segments: 1,
        }
    );
    assert_eq!(decoded[6], Command::ExpireCoins { campaign_id: 8 });
    let rule = "amount >= 20000 && hour < 12";
    assert_eq!(
        decoded[7],
        Command::SetCampaignRule {
            campaign_id: 1,
            len: 28,
            text: rule_text(rule),
        }
    );
    let cleared = Command::SetCampaignRule {
        campaign_id: 1,
        len: 0,
        text: [0; RULE_TEXT_MAX],
    };
    assert_eq!(decoded[8], cleared);
    assert_eq!(decoded[9], cleared);
    assert_eq!(
        decoded[10],
        Command::DrawLottery {
            id: 0,
            campaign_id: 0,
            user_id: 0,
            account_id: 0,
            user_segments: 0,
        }
    );

    // Exactly 192 bytes: 95 two-byte characters and two ASCII ones.
    let full = format!("{}ab", "é".repeat(95));
    assert_eq!(full.len(), RULE_TEXT_MAX);
    let body = format!(
        r#"{{"commands":[{{"type":"set_campaign_rule","campaign_id":"1","rule":"{full}"}}]}}"#
    );
    assert_eq!(
        commands(body.as_bytes()),
        [Command::SetCampaignRule {
            campaign_id: 1,
            len: 192,
            text: rule_text(&full),
        }]
    );
}

// Goal: a rule over 192 bytes (by bytes, not characters) is refused as a whole request with
// `invalid_value` at the command and a detail naming the limit and the length; so are a rule
// that is not a string, an unknown prize kind, a prize number over 255, a missing prize kind
// and a field another command takes.
#[test]
fn bad_game_and_rule_values_are_problems() {
    let long = "x".repeat(RULE_TEXT_MAX + 1);
    // 97 two-byte characters: 97 characters, 194 bytes.
    let wide = "é".repeat(97);
    for (rule, len) in [(&long, 193), (&wide, 194)] {
        let body = format!(
            r#"{{"commands":[
                {{"type":"expire_coins","campaign_id":"8"}},
                {{"type":"set_campaign_rule","campaign_id":"1","rule":"{rule}"}}
            ]}}"#
        );
        let problem = parse_json::<PromotionCommandsRequest>(body.as_bytes())
            .err()
            .expect("rejected");
        assert_eq!(
            problem.code,
            ProblemCode::InvalidValue,
            "{}",
            problem.detail
        );
        assert_eq!(problem.pointer.as_deref(), Some("/commands/1"));
        assert!(
            problem.detail.contains(&format!(
                "invalid length {len}, expected a rule of at most 192 bytes"
            )),
            "{}",
            problem.detail
        );
    }
    let commands: &[(&[u8], ProblemCode, &str)] = &[
        (
            br#"{"commands":[{"type":"set_campaign_rule","campaign_id":"1","rule":7}]}"#,
            ProblemCode::InvalidValue,
            "/commands/0",
        ),
        (
            br#"{"commands":[{"type":"set_campaign_rule","campaign_id":"1","rule":null}]}"#,
            ProblemCode::InvalidValue,
            "/commands/0",
        ),
        (
            br#"{"commands":[{"type":"add_prize","campaign_id":"7","prize":1,"kind":"car"}]}"#,
            ProblemCode::InvalidValue,
            "/commands/0",
        ),
        (
            br#"{"commands":[{"type":"add_prize","campaign_id":"7","prize":256,"kind":"slot"}]}"#,
            ProblemCode::InvalidValue,
            "/commands/0",
        ),
        (
            br#"{"commands":[{"type":"add_prize","campaign_id":"7","prize":1}]}"#,
            ProblemCode::MissingField,
            "/commands/0",
        ),
        (
            br#"{"commands":[{"type":"expire_coins","campaign_id":"8","id":"1"}]}"#,
            ProblemCode::UnknownField,
            "/commands/0",
        ),
        (
            br#"{"commands":[{"type":"draw_lottery","checkout_id":"1"}]}"#,
            ProblemCode::UnknownField,
            "/commands/0",
        ),
        (
            br#"{"commands":[{"type":"earn_coins","checkout_id":30}]}"#,
            ProblemCode::InvalidValue,
            "/commands/0",
        ),
    ];
    for (body, code, pointer) in commands {
        let problem = parse_json::<PromotionCommandsRequest>(body)
            .err()
            .expect("rejected");
        let text = String::from_utf8_lossy(body);
        assert_eq!(problem.code, *code, "{text}: {}", problem.detail);
        assert_eq!(problem.pointer.as_deref(), Some(*pointer), "{text}");
    }
    let problem =
        parse_json::<CreateCampaignsRequest>(br#"{"campaigns":[{"draws_per_user":"3"}]}"#)
            .err()
            .expect("rejected");
    assert_eq!(
        problem.code,
        ProblemCode::InvalidValue,
        "{}",
        problem.detail
    );
    assert_eq!(
        problem.pointer.as_deref(),
        Some("/campaigns/0/draws_per_user")
    );
}

// Goal: each class of bad promotions input maps to its problem code, with a pointer to the
// offending value (inside a command or an offer, to the command or offer: serde buffers
// tagged objects, so the path stops there); a fifth coupon is named in the detail.
#[test]
fn bad_promotion_values_are_problems() {
    let commands: &[(&[u8], ProblemCode, &str)] = &[
        (
            br#"{"commands":[{"type":"spin_wheel"}]}"#,
            ProblemCode::InvalidValue,
            "/commands/0/type",
        ),
        (
            br#"{"commands":[{"id":"1"}]}"#,
            ProblemCode::MissingField,
            "",
        ),
        (
            br#"{"commands":[{"type":"void_checkout","amount":"1"}]}"#,
            ProblemCode::UnknownField,
            "/commands/0",
        ),
        (
            br#"{"commands":[{"type":"set_campaign_status","campaign_id":"1"}]}"#,
            ProblemCode::MissingField,
            "",
        ),
        (
            br#"{"commands":[{"type":"set_campaign_status","campaign_id":"1","change":"stop"}]}"#,
            ProblemCode::InvalidValue,
            "/commands/0",
        ),
        (
            br#"{"commands":[{"type":"checkout","coupons":["1","2","3","4","5"]}]}"#,
            ProblemCode::InvalidValue,
            "/commands/0",
        ),
        (
            br#"{"commands":[{"type":"checkout","coupons":[1]}]}"#,
            ProblemCode::InvalidValue,
            "/commands/0",
        ),
        (
            br#"{"commands":[{"type":"fund_campaign","amount":"18446744073709551616"}]}"#,
            ProblemCode::InvalidValue,
            "/commands/0",
        ),
        (
            br#"{"commands":[{"type":"fund_campaign","amount":500}]}"#,
            ProblemCode::InvalidValue,
            "/commands/0",
        ),
    ];
    for (body, code, pointer) in commands {
        let problem = parse_json::<PromotionCommandsRequest>(body)
            .err()
            .expect("rejected");
        let text = String::from_utf8_lossy(body);
        assert_eq!(problem.code, *code, "{text}: {}", problem.detail);
        if !pointer.is_empty() {
            assert_eq!(problem.pointer.as_deref(), Some(*pointer), "{text}");
        }
    }
    let fifth = parse_json::<PromotionCommandsRequest>(
        br#"{"commands":[{"type":"checkout","coupons":["1","2","3","4","5"]}]}"#,
    )
    .err()
    .expect("rejected");
    assert!(
        fifth.detail.contains("at most 4 coupon ids"),
        "{}",
        fifth.detail
    );
    let campaigns: &[(&[u8], ProblemCode, &str)] = &[
        (
            br#"{"campaigns":[{"kind":"scratch_card"}]}"#,
            ProblemCode::InvalidValue,
            "/campaigns/0/kind",
        ),
        (
            br#"{"campaigns":[{"offer":{"type":"bogo"}}]}"#,
            ProblemCode::InvalidValue,
            "/campaigns/0/offer/type",
        ),
        (
            br#"{"campaigns":[{"offer":{"type":"threshold","bps":5}}]}"#,
            ProblemCode::UnknownField,
            "/campaigns/0/offer",
        ),
        (
            br#"{"campaigns":[{"offer":{"type":"percent","bps":70000}}]}"#,
            ProblemCode::InvalidValue,
            "/campaigns/0/offer",
        ),
        (
            br#"{"campaigns":[{"budget":"1"}]}"#,
            ProblemCode::UnknownField,
            "/campaigns/0/budget",
        ),
        (
            br#"{"campaigns":[{"restore_on_refund":"yes"}]}"#,
            ProblemCode::InvalidValue,
            "/campaigns/0/restore_on_refund",
        ),
    ];
    for (body, code, pointer) in campaigns {
        let problem = parse_json::<CreateCampaignsRequest>(body)
            .err()
            .expect("rejected");
        let text = String::from_utf8_lossy(body);
        assert_eq!(problem.code, *code, "{text}: {}", problem.detail);
        assert_eq!(problem.pointer.as_deref(), Some(*pointer), "{text}");
    }
}
