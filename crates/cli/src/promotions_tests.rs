//! Tests of `elevenfold promotions`: exact parsing of percents and groups, campaigns built from
//! flags (and the usage errors of offer flags), the command lines, and a round trip of every
//! subcommand (lotteries, coins and rules too) against an in-process server, exit codes
//! included.

use std::process::ExitCode;

use clap::Parser;
use serde_json::{Value, json};

use crate::client::{Client, ClientError, ServerArgs, rejections};
use crate::promotions::{
    AddPrizeArgs, CampaignCommand, CampaignCreateArgs, CheckoutArgs, CouponArgs, DrawArgs,
    EarnCoinsArgs, ExpireCoinsArgs, FundArgs, GrabArgs, PrizeKindArg, PromotionsArgs,
    PromotionsClient, PromotionsCommand, RefundArgs, ResolveArgs, SetRuleArgs, ShowCommand,
    parse_bps, parse_group,
};
use crate::tests::start_server;
use crate::{Cli, Command};

fn parse(line: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(line)
}

/// The `campaign create` arguments of a command line (after `promotions campaign create`).
fn create_args(flags: &[&str]) -> CampaignCreateArgs {
    let mut line = vec!["elevenfold", "promotions", "campaign", "create"];
    line.extend_from_slice(flags);
    match parse(&line).map(|cli| cli.command) {
        Ok(Command::Promotions(PromotionsArgs {
            command: PromotionsCommand::Campaign(CampaignCommand::Create(create)),
            ..
        })) => *create,
        other => panic!("{line:?}: {other:?}"),
    }
}

const BASE: &[&str] = &[
    "--id",
    "1000",
    "--sponsor-account-id",
    "301",
    "--budget-account-id",
    "1001",
    "--ledger",
    "1",
    "--code",
    "10",
];

/// The required flags, then `flags`.
fn with_base<'a>(flags: &[&'a str]) -> Vec<&'a str> {
    BASE.iter().chain(flags).copied().collect()
}

// Goal: percents parse exactly into basis points and groups take a number or `exclusive`;
// anything else is refused, never rounded.
#[test]
fn percents_and_groups_parse_exactly() {
    for (text, bps) in [
        ("8.5%", 850),
        ("8.5", 850),
        ("100%", 10_000),
        ("0.01%", 1),
        ("655.35", u16::MAX),
    ] {
        assert_eq!(parse_bps(text), Ok(bps), "{text}");
    }
    for bad in ["", "%", "8.555%", "-1", "655.36", "1e2", "8,5"] {
        assert!(parse_bps(bad).is_err(), "{bad:?}");
    }
    assert_eq!(parse_group("exclusive"), Ok(u32::MAX));
    assert_eq!(parse_group("7"), Ok(7));
    for bad in ["", "-1", "4294967296", "Exclusive"] {
        assert!(parse_group(bad).is_err(), "{bad:?}");
    }
}

// Goal: a campaign from flags is the JSON the HTTP API takes, yuan turned into fen and flags
// left out left out; red packets carry their pool; an offer flag without its offer is a usage
// error naming the flag.
#[test]
fn campaigns_from_flags() {
    let threshold = create_args(&with_base(&[
        "--offer",
        "threshold",
        "--min-spend",
        "200",
        "--discount",
        "30.00",
        "--stock",
        "2",
        "--coupons-per-user",
        "1",
        "--exclusive-group",
        "exclusive",
        "--restore-on-refund",
    ]));
    assert_eq!(
        threshold.to_json(),
        Ok(json!({
            "id": "1000", "sponsor_account_id": "301", "budget_account_id": "1001",
            "ledger": 1, "code": 10,
            "offer": { "type": "threshold", "min_spend": "20000", "amount": "3000" },
            "exclusive_group": 4_294_967_295u32, "restore_on_refund": true,
            "stock": 2, "coupons_per_user": 1
        }))
    );
    let percent = create_args(&with_base(&[
        "--offer",
        "percent",
        "--percent",
        "8.5%",
        "--cap",
        "5",
        "--ends-at",
        "18446744073709551615",
        "--bin-low",
        "622200",
        "--bin-high",
        "622299",
    ]));
    let json = percent.to_json().expect("valid");
    assert_eq!(
        json["offer"],
        json!({ "type": "percent", "min_spend": "0", "bps": 850, "cap": "500" })
    );
    assert_eq!(json["ends_at"], "18446744073709551615");
    assert_eq!(
        (&json["bin_low"], &json["bin_high"]),
        (&json!(622_200), &json!(622_299))
    );
    let pool = create_args(&with_base(&[
        "--kind",
        "red-packet",
        "--pool",
        "1000000000",
        "--stock",
        "1000000",
        "--seed",
        "42",
    ]));
    assert_eq!(
        pool.campaigns(),
        Ok(vec![json!({
            "id": "1000", "kind": "red_packet", "sponsor_account_id": "301",
            "budget_account_id": "1001", "ledger": 1, "code": 10, "stock": 1_000_000,
            "pool_amount": "100000000000", "seed": "42"
        })])
    );
    let lottery = create_args(&with_base(&[
        "--kind",
        "lottery",
        "--stock",
        "500",
        "--seed",
        "9",
        "--draws-per-user",
        "3",
    ]));
    assert_eq!(
        lottery.to_json(),
        Ok(json!({
            "id": "1000", "kind": "lottery", "sponsor_account_id": "301",
            "budget_account_id": "1001", "ledger": 1, "code": 10, "stock": 500, "seed": "9",
            "draws_per_user": 3
        }))
    );
    let coins = create_args(&with_base(&[
        "--kind",
        "coins",
        "--coins-per-check-in",
        "18446744073709551615",
        "--coins-per-yuan",
        "10",
        "--coins-valid-for",
        "2592000",
        "--discount-per-user",
        "50",
    ]));
    assert_eq!(
        coins.to_json(),
        Ok(json!({
            "id": "1000", "kind": "coins", "sponsor_account_id": "301",
            "budget_account_id": "1001", "ledger": 1, "code": 10, "discount_per_user": "5000",
            "coins_per_check_in": "18446744073709551615", "coins_per_yuan": 10,
            "coins_valid_for": 2_592_000
        }))
    );
    for (flags, message) in [
        (&["--discount", "1"][..], "--discount needs --offer"),
        (
            &["--offer", "free-order", "--discount", "1"],
            "--offer free-order does not take --discount",
        ),
        (
            &["--offer", "threshold", "--percent", "5"],
            "--offer threshold does not take --percent",
        ),
        (
            &["--offer", "threshold", "--cap", "5"],
            "--offer threshold does not take --cap",
        ),
    ] {
        assert_eq!(
            create_args(&with_base(flags)).to_json(),
            Err(message.to_string())
        );
    }
}

// Goal: the documented command lines parse; `campaign create` needs its fields unless it reads
// JSON, and JSON excludes the fields.
#[test]
fn promotions_command_lines_parse() {
    let lines: &[&[&str]] = &[
        &["promotions", "campaign", "pause", "1000"],
        &["promotions", "campaign", "resume", "1000"],
        &[
            "promotions",
            "campaign",
            "close",
            "1000",
            "--addr",
            "127.0.0.1:9",
        ],
        &[
            "promotions",
            "campaign",
            "create",
            "--file",
            "campaign.json",
        ],
        &[
            "promotions",
            "campaign",
            "create",
            "--json",
            r#"[{"id": "1"}, {"id": "2"}]"#,
        ],
        &[
            "promotions",
            "fund",
            "--id",
            "10",
            "--campaign-id",
            "1000",
            "--amount",
            "500",
        ],
        &[
            "promotions",
            "issue",
            "--id",
            "20",
            "--campaign-id",
            "1000",
            "--user-id",
            "7",
            "--user-segments",
            "3",
        ],
        &[
            "promotions",
            "claim",
            "--id",
            "21",
            "--campaign-id",
            "1000",
            "--user-id",
            "7",
        ],
        &[
            "promotions",
            "checkout",
            "--id",
            "30",
            "--user-id",
            "7",
            "--payer-id",
            "303",
            "--merchant-account-id",
            "302",
            "--amount",
            "250.00",
            "--coupon",
            "20,21",
            "--coupon",
            "22",
            "--code",
            "1",
            "--timeout",
            "900",
            "--card-bin",
            "622201",
        ],
        &["promotions", "capture", "--id", "31", "--checkout-id", "30"],
        &["promotions", "void", "--id", "32", "--checkout-id", "30"],
        &[
            "promotions",
            "refund",
            "--id",
            "33",
            "--checkout-id",
            "30",
            "--amount",
            "0.5",
        ],
        &[
            "promotions",
            "grab",
            "--id",
            "40",
            "--campaign-id",
            "2000",
            "--user-id",
            "7",
            "--account-id",
            "401",
        ],
        &["promotions", "show", "campaign", "1000"],
        &["promotions", "show", "coupon", "20"],
        &["promotions", "show", "checkout", "30"],
        &["promotions", "show", "grab", "2000", "7"],
        &["promotions", "show", "prizes", "3000"],
        &["promotions", "show", "draw", "41"],
        &["promotions", "show", "coins", "4000", "7"],
        &[
            "promotions",
            "add-prize",
            "--campaign-id",
            "3000",
            "--prize",
            "1",
            "--kind",
            "cash",
            "--weight-ppm",
            "1000000",
            "--stock",
            "1",
            "--amount",
            "8.88",
        ],
        &[
            "promotions",
            "add-prize",
            "--campaign-id",
            "3000",
            "--prize",
            "2",
            "--kind",
            "coupon",
            "--weight-ppm",
            "1",
            "--stock",
            "1",
            "--coupon-campaign-id",
            "1000",
        ],
        &[
            "promotions",
            "draw",
            "--id",
            "41",
            "--campaign-id",
            "3000",
            "--user-id",
            "7",
        ],
        &[
            "promotions",
            "earn-coins",
            "--id",
            "50",
            "--campaign-id",
            "4000",
            "--user-id",
            "7",
            "--account-id",
            "401",
            "--checkout-id",
            "30",
        ],
        &["promotions", "expire-coins", "--campaign-id", "4000"],
        &[
            "promotions",
            "set-rule",
            "--campaign-id",
            "1000",
            "--rule",
            "amount >= 10_000 && hour < 12",
        ],
        &[
            "promotions",
            "set-rule",
            "--campaign-id",
            "1000",
            "--rule",
            "",
        ],
        &[
            "promotions",
            "command",
            "--json",
            r#"{"type": "set_campaign_status", "campaign_id": "1", "change": "pause"}"#,
        ],
    ];
    for line in lines {
        let full: Vec<&str> = ["elevenfold"].iter().chain(line.iter()).copied().collect();
        parse(&full).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    }
    let checkout = parse(&[
        "elevenfold",
        "promotions",
        "checkout",
        "--id",
        "30",
        "--user-id",
        "7",
        "--payer-id",
        "303",
        "--merchant-account-id",
        "302",
        "--amount",
        "250",
        "--coupon",
        "20,21",
        "--coupon",
        "22",
        "--capture",
    ]);
    let Ok(Cli {
        command:
            Command::Promotions(PromotionsArgs {
                command: PromotionsCommand::Checkout(checkout),
                ..
            }),
    }) = checkout
    else {
        panic!("a checkout");
    };
    assert_eq!(checkout.coupons, [20, 21, 22]);
    assert_eq!(checkout.to_json()["amount"], "25000");
    assert_eq!(checkout.to_json()["coupons"], json!(["20", "21", "22"]));
    assert_eq!(checkout.to_json()["capture"], true);

    let bad: &[&[&str]] = &[
        // No id, sponsor, budget, ledger or code, and nothing to read them from.
        &["promotions", "campaign", "create"],
        &["promotions", "campaign", "create", "--id", "1"],
        // JSON and fields together.
        &[
            "promotions",
            "campaign",
            "create",
            "--file",
            "c.json",
            "--id",
            "1",
        ],
        &[
            "promotions",
            "campaign",
            "create",
            "--json",
            "{}",
            "--stock",
            "1",
        ],
        &[
            "promotions",
            "campaign",
            "create",
            "--json",
            "{}",
            "--file",
            "c.json",
        ],
        &["promotions", "campaign", "create", "--json", "[]"],
        &["promotions", "campaign", "create", "--kind", "scratch-card"],
        // A prize kind, weight and stock are required; a prize number is a u8.
        &[
            "promotions",
            "add-prize",
            "--campaign-id",
            "3000",
            "--prize",
            "1",
            "--weight-ppm",
            "1",
            "--stock",
            "1",
        ],
        &[
            "promotions",
            "add-prize",
            "--campaign-id",
            "3000",
            "--prize",
            "256",
            "--kind",
            "slot",
            "--weight-ppm",
            "1",
            "--stock",
            "1",
        ],
        &[
            "promotions",
            "add-prize",
            "--campaign-id",
            "3000",
            "--prize",
            "1",
            "--kind",
            "cash",
            "--weight-ppm",
            "1",
            "--stock",
            "1",
            "--amount",
            "0.001",
        ],
        &["promotions", "set-rule", "--campaign-id", "1000"],
        &[
            "promotions",
            "earn-coins",
            "--id",
            "1",
            "--campaign-id",
            "1",
        ],
        &["promotions", "show", "coins", "4000"],
        &[
            "promotions",
            "fund",
            "--id",
            "1",
            "--campaign-id",
            "1",
            "--amount",
            "1.001",
        ],
        &["promotions", "show", "grab", "2000"],
        &["promotions", "checkout", "--id", "1", "--coupon", "x"],
    ];
    for line in bad {
        let full: Vec<&str> = ["elevenfold"].iter().chain(line.iter()).copied().collect();
        assert!(parse(&full).is_err(), "{line:?}");
    }
    let with_fields = parse(
        &["elevenfold", "promotions", "campaign", "create"]
            .iter()
            .copied()
            .chain(BASE.iter().copied())
            .collect::<Vec<_>>(),
    );
    assert!(with_fields.is_ok(), "{with_fields:?}");
}

/// Runs a subcommand as `main` would (on a thread of its own: it starts its own runtime).
async fn exit_code(addr: &str, command: PromotionsCommand) -> ExitCode {
    let args = PromotionsArgs {
        server: ServerArgs {
            addr: addr.to_string(),
        },
        command,
    };
    tokio::task::spawn_blocking(move || crate::promotions::run(args))
        .await
        .expect("no panic")
        .expect("no operational error")
}

fn show_campaign(id: u128) -> PromotionsCommand {
    PromotionsCommand::Show(ShowCommand::Campaign { id })
}

// Goal: every subcommand against a real server: a coupon campaign from flags and a red-packet
// pool from a JSON file, funded, a coupon claimed and paid with by an account, captured and
// refunded in part, a second checkout voided, the pool grabbed empty; the views by exact
// figures (fen); and the exit codes: 0 for ok, 1 for a refused command or a problem, 2 for a
// usage error or when nothing listens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotions_round_trip_against_a_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (addr, stop, task) = start_server(dir.path()).await;
    let ledger = Client::new(&addr).expect("client");
    let accounts: Vec<Value> = [301u128, 302, 303, 401, 402]
        .iter()
        .map(|id| json!({"id": id.to_string(), "ledger": 1, "code": 1}))
        .collect();
    let created = ledger.create_accounts(accounts).await.expect("created");
    assert!(rejections(&created).is_empty(), "{created}");
    let client = PromotionsClient::new(&addr).expect("client");
    let run = |command| exit_code(&addr, command);

    // A coupon campaign from flags: 30.00 off 200.00.
    let coupons = create_args(&with_base(&[
        "--offer",
        "threshold",
        "--min-spend",
        "200",
        "--discount",
        "30",
        "--stock",
        "5",
    ]));
    let create = |args| PromotionsCommand::Campaign(CampaignCommand::Create(Box::new(args)));
    assert_eq!(run(create(coupons)).await, ExitCode::SUCCESS);
    // A red-packet pool of 1.00 yuan in 2 packets, from a JSON file.
    let file = dir.path().join("pool.json");
    std::fs::write(
        &file,
        r#"{"id": "2000", "kind": "red_packet", "sponsor_account_id": "301",
            "budget_account_id": "2001", "ledger": 1, "code": 20, "stock": 2,
            "pool_amount": "100", "seed": "7"}"#,
    )
    .expect("written");
    let from_file = create_args(&["--file", file.to_str().expect("utf-8")]);
    assert_eq!(run(create(from_file)).await, ExitCode::SUCCESS);
    let missing = create_args(&["--file", "/nonexistent/campaign.json"]);
    assert_eq!(run(create(missing)).await, ExitCode::from(2), "usage");

    let fund = |id, campaign_id, amount| FundArgs {
        id,
        campaign_id,
        amount,
    };
    assert_eq!(
        run(PromotionsCommand::Fund(fund(10, 1000, 50_000))).await,
        ExitCode::SUCCESS
    );
    assert_eq!(
        run(PromotionsCommand::Fund(fund(11, 2000, 100))).await,
        ExitCode::SUCCESS
    );
    let coupon = |id, user_id| CouponArgs {
        id,
        campaign_id: 1000,
        user_id,
        user_segments: 0,
    };
    assert_eq!(
        run(PromotionsCommand::Claim(coupon(20, 7))).await,
        ExitCode::SUCCESS
    );
    assert_eq!(
        run(PromotionsCommand::Issue(coupon(21, 8))).await,
        ExitCode::SUCCESS
    );
    let checkout = |id, user_id, coupons| CheckoutArgs {
        id,
        user_id,
        payer_id: 303,
        merchant_account_id: 302,
        amount: 25_000,
        coupons,
        timeout: 0,
        code: 1,
        card_issuer: 0,
        card_bin: 0,
        category: 0,
        capture: false,
    };
    assert_eq!(
        run(PromotionsCommand::Checkout(checkout(30, 7, vec![20]))).await,
        ExitCode::SUCCESS
    );
    let resolve = |id, checkout_id| ResolveArgs { id, checkout_id };
    assert_eq!(
        run(PromotionsCommand::Capture(resolve(31, 30))).await,
        ExitCode::SUCCESS
    );
    // The used coupon again: refused, exit 1.
    assert_eq!(
        run(PromotionsCommand::Checkout(checkout(32, 7, vec![20]))).await,
        ExitCode::from(1)
    );
    assert_eq!(
        run(PromotionsCommand::Checkout(checkout(33, 8, vec![21]))).await,
        ExitCode::SUCCESS
    );
    assert_eq!(
        run(PromotionsCommand::Void(resolve(34, 33))).await,
        ExitCode::SUCCESS
    );
    let refund = RefundArgs {
        id: 35,
        checkout_id: 30,
        amount: 5_000,
    };
    assert_eq!(
        run(PromotionsCommand::Refund(refund)).await,
        ExitCode::SUCCESS
    );

    let campaign = client.campaign(1000).await.expect("found");
    assert_eq!(campaign["offer"]["amount"], "3000", "{campaign}");
    assert_eq!(
        (
            &campaign["funded"],
            &campaign["spent"],
            &campaign["reserved"],
            &campaign["available"]
        ),
        (
            &json!("50000"),
            &json!("2400"),
            &json!("0"),
            &json!("47600")
        ),
        "{campaign}"
    );
    assert_eq!(
        (&campaign["issued"], &campaign["stock_left"]),
        (&json!(2), &json!(3))
    );
    let paid = client.checkout(30).await.expect("found");
    assert_eq!(
        (&paid["status"], &paid["buyer_amount"], &paid["refunded"]),
        (&json!("captured"), &json!("22000"), &json!("5000"))
    );
    assert_eq!(
        client.checkout(33).await.expect("found")["status"],
        "voided"
    );
    assert_eq!(client.coupon(20).await.expect("found")["status"], "used");
    assert_eq!(
        client.coupon(21).await.expect("found")["status"],
        "available"
    );

    // The pool: two grabs take all of it; a third user finds it empty.
    let grab = |id, user_id, account_id| GrabArgs {
        id,
        campaign_id: 2000,
        user_id,
        account_id,
        user_segments: 0,
    };
    assert_eq!(
        run(PromotionsCommand::Grab(grab(40, 7, 401))).await,
        ExitCode::SUCCESS
    );
    assert_eq!(
        run(PromotionsCommand::Grab(grab(41, 8, 402))).await,
        ExitCode::SUCCESS
    );
    assert_eq!(
        run(PromotionsCommand::Grab(grab(42, 9, 402))).await,
        ExitCode::from(1),
        "pool_empty"
    );
    let amount = |answer: Value| -> u64 {
        answer["amount"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .expect("a decimal amount")
    };
    let first = amount(client.grab(2000, 7).await.expect("answered"));
    let second = amount(client.grab(2000, 8).await.expect("answered"));
    assert!(first >= 1 && second >= 1, "{first} {second}");
    assert_eq!(first + second, 100, "the packets sum to the pool");
    assert_eq!(amount(client.grab(2000, 9).await.expect("answered")), 0);
    assert_eq!(
        client.campaign(2000).await.expect("found")["grabbed"],
        "100"
    );

    // Pause and resume through the subcommands, and a refused claim while paused.
    let campaign_command = PromotionsCommand::Campaign;
    assert_eq!(
        run(campaign_command(CampaignCommand::Pause { id: 1000 })).await,
        ExitCode::SUCCESS
    );
    let answer = client
        .commands(vec![coupon(22, 9).to_json("claim_coupon")])
        .await
        .expect("answered");
    assert_eq!(rejections(&answer), [(0, "campaign_paused".to_string())]);
    assert_eq!(
        run(campaign_command(CampaignCommand::Resume { id: 1000 })).await,
        ExitCode::SUCCESS
    );
    assert_eq!(
        run(campaign_command(CampaignCommand::Close { id: 1000 })).await,
        ExitCode::SUCCESS
    );
    assert_eq!(
        client.campaign(1000).await.expect("found")["status"],
        "closed"
    );

    // A lottery with one cash prize of 8.88 that every draw lands on, in stock once: the first
    // draw wins it, the second wins nothing; a rule refusing a draw, then cleared.
    let lottery = create_args(&[
        "--id",
        "3000",
        "--kind",
        "lottery",
        "--sponsor-account-id",
        "301",
        "--budget-account-id",
        "3001",
        "--ledger",
        "1",
        "--code",
        "30",
        "--seed",
        "5",
    ]);
    assert_eq!(run(create(lottery)).await, ExitCode::SUCCESS);
    let prize = AddPrizeArgs {
        campaign_id: 3000,
        prize: 1,
        kind: PrizeKindArg::Cash,
        weight_ppm: 1_000_000,
        stock: 1,
        amount: 888,
        coupon_campaign_id: 0,
    };
    assert_eq!(
        run(PromotionsCommand::AddPrize(prize)).await,
        ExitCode::SUCCESS
    );
    assert_eq!(
        run(PromotionsCommand::Fund(fund(12, 3000, 1_000))).await,
        ExitCode::SUCCESS
    );
    let rule = |rule: &str| SetRuleArgs {
        campaign_id: 3000,
        rule: rule.to_string(),
    };
    assert_eq!(
        run(PromotionsCommand::SetRule(rule("segments == 1"))).await,
        ExitCode::SUCCESS
    );
    assert_eq!(
        client.campaign(3000).await.expect("found")["rule"],
        "segments == 1"
    );
    let draw = |id, user_id, account_id| DrawArgs {
        id,
        campaign_id: 3000,
        user_id,
        account_id,
        user_segments: 0,
    };
    assert_eq!(
        run(PromotionsCommand::Draw(draw(50, 7, 401))).await,
        ExitCode::from(1),
        "rule_not_met"
    );
    assert_eq!(
        run(PromotionsCommand::SetRule(rule(""))).await,
        ExitCode::SUCCESS
    );
    assert_eq!(
        client.campaign(3000).await.expect("found")["rule"],
        Value::Null
    );
    // A rule over 192 bytes is a problem: exit 1.
    assert_eq!(
        run(PromotionsCommand::SetRule(rule(&"a".repeat(193)))).await,
        ExitCode::from(1)
    );
    assert_eq!(
        run(PromotionsCommand::Draw(draw(51, 7, 401))).await,
        ExitCode::SUCCESS
    );
    assert_eq!(
        run(PromotionsCommand::Draw(draw(52, 8, 402))).await,
        ExitCode::SUCCESS
    );
    assert_eq!(
        client.draw(51).await.expect("found"),
        json!({
            "id": "51", "campaign_id": "3000", "user_id": "7", "position": 0, "prize": 1,
            "kind": "cash", "amount": "888"
        })
    );
    assert_eq!(
        client.draw(52).await.expect("found"),
        json!({
            "id": "52", "campaign_id": "3000", "user_id": "8", "position": 1, "prize": 0,
            "kind": null, "amount": "0"
        })
    );
    assert_eq!(
        client.prizes(3000).await.expect("found"),
        json!({ "prizes": [{
            "prize": 1, "kind": "cash", "weight_ppm": 1_000_000, "stock": 1, "won": 1,
            "amount": "888", "coupon_campaign_id": "0"
        }]})
    );

    // Coins: 10 for a daily check-in, once a day; nothing due to expire.
    let coins = create_args(&[
        "--id",
        "4000",
        "--kind",
        "coins",
        "--sponsor-account-id",
        "301",
        "--budget-account-id",
        "4001",
        "--ledger",
        "1",
        "--code",
        "40",
        "--coins-per-check-in",
        "10",
    ]);
    assert_eq!(run(create(coins)).await, ExitCode::SUCCESS);
    assert_eq!(
        run(PromotionsCommand::Fund(fund(13, 4000, 100))).await,
        ExitCode::SUCCESS
    );
    let earn = |id| EarnCoinsArgs {
        id,
        campaign_id: 4000,
        user_id: 7,
        account_id: 401,
        checkout_id: 0,
        user_segments: 0,
    };
    assert_eq!(
        run(PromotionsCommand::EarnCoins(earn(60))).await,
        ExitCode::SUCCESS
    );
    let again = client
        .commands(vec![earn(61).to_json()])
        .await
        .expect("answered");
    assert_eq!(rejections(&again), [(0, "already_checked_in".to_string())]);
    assert_eq!(
        run(PromotionsCommand::ExpireCoins(ExpireCoinsArgs {
            campaign_id: 4000
        }))
        .await,
        ExitCode::SUCCESS
    );
    assert_eq!(
        client.coins(4000, 7).await.expect("found"),
        json!({ "campaign_id": "4000", "user_id": "7", "coins": "10" })
    );

    // Views: found is 0, missing is a problem (404), exit 1.
    assert_eq!(run(show_campaign(1000)).await, ExitCode::SUCCESS);
    for show in [
        ShowCommand::Coupon { id: 20 },
        ShowCommand::Checkout { id: 30 },
        ShowCommand::Grab {
            campaign_id: 2000,
            user_id: 7,
        },
        ShowCommand::Prizes { campaign_id: 3000 },
        ShowCommand::Draw { id: 51 },
        ShowCommand::Coins {
            campaign_id: 4000,
            user_id: 7,
        },
    ] {
        assert_eq!(run(PromotionsCommand::Show(show)).await, ExitCode::SUCCESS);
    }
    match client.campaign(999).await {
        Err(ClientError::Problem { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (404, "campaign_not_found"));
        }
        other => panic!("expected a problem, got {other:?}"),
    }
    assert_eq!(run(show_campaign(999)).await, ExitCode::from(1));
    assert_eq!(
        run(PromotionsCommand::Show(ShowCommand::Checkout { id: 999 })).await,
        ExitCode::from(1)
    );
    assert_eq!(
        run(PromotionsCommand::Show(ShowCommand::Draw { id: 999 })).await,
        ExitCode::from(1)
    );

    let _ = stop.send(());
    task.await.expect("no panic").expect("clean shutdown");
    assert_eq!(
        run(show_campaign(1000)).await,
        ExitCode::from(2),
        "nothing listens"
    );
}
