//! `elevenfold promotions ...`: campaigns, coupons, payments carrying coupons, red packets,
//! lotteries, reward coins and campaign rules from the command line (docs/cli-promotions.md).
//!
//! Every subcommand is a thin HTTP client of `/v1/promotions/...` on a running server,
//! printing the server's JSON, with the exit codes of `client.rs`: unreachable server 2,
//! problem document 1, a result other than `ok`/`exists` 1. A usage error the flags cannot
//! express (an offer flag without its offer, an unreadable `--file`) is exit 2, like clap's.
//!
//! Amounts on the command line are yuan, exact to the fen (`30.00`, `0.5`), and a percent
//! offer is a percent exact to the basis point (`8.5%`), both parsed without floats; the
//! server's JSON answers are in fen. Whether a value makes sense (an offer of 0, a window that
//! ends before it starts) is the engine's to say, as a result code: the CLI checks only what
//! it must to build the request. `command --json` and `campaign create --json/--file` pass
//! objects through as the HTTP API takes them.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use serde_json::{Map, Value, json};

use crate::client::{Client, ClientError, Kind, ServerArgs, finish, runtime};
use crate::credit::{JsonArgs, JsonObjects, parse_json_objects, parse_yuan};

#[derive(Debug, Args)]
pub struct PromotionsArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(subcommand)]
    pub command: PromotionsCommand,
}

#[derive(Debug, Subcommand)]
pub enum PromotionsCommand {
    /// Create a campaign, or pause, resume or close one.
    #[command(subcommand)]
    Campaign(CampaignCommand),
    /// Move money from the sponsor's account into a campaign's budget.
    Fund(FundArgs),
    /// Grant a coupon (id = coupon id) to a user, as an operator (also before the start).
    Issue(CouponArgs),
    /// Claim a coupon (id = coupon id) from a campaign's stock, as a user, while it runs.
    Claim(CouponArgs),
    /// Pay at a merchant carrying coupons: discounts reserved from the budgets, the payer held
    /// for the rest (id = checkout id).
    Checkout(CheckoutArgs),
    /// Capture a checkout: the payment and the discounts are posted, the coupons used.
    Capture(ResolveArgs),
    /// Void a checkout: the holds are released, the coupons free again.
    Void(ResolveArgs),
    /// Refund part of a captured checkout: the sponsors' share to their budgets, the rest to
    /// the payer.
    Refund(RefundArgs),
    /// Grab one packet of a red-packet pool into an account (once per user and pool).
    Grab(GrabArgs),
    /// Add prize number --prize (1, 2, ... in order) to a lottery before its first draw.
    AddPrize(AddPrizeArgs),
    /// Draw a lottery once for a user (id = draw id); a cash prize lands in --account-id.
    Draw(DrawArgs),
    /// Earn coins for a task into the user's coin account: the daily check-in, or a captured
    /// purchase (--checkout-id).
    EarnCoins(EarnCoinsArgs),
    /// Take back a coins campaign's coins whose validity has passed (at most 16 lots a time).
    ExpireCoins(ExpireCoinsArgs),
    /// Set a campaign's custom condition (a rule over the command's facts); "" clears it.
    SetRule(SetRuleArgs),
    /// Show a campaign (with its live figures and rule), a coupon, a checkout, a user's grab, a
    /// lottery's prizes, a draw, or a user's coins.
    #[command(subcommand)]
    Show(ShowCommand),
    /// Any promotions command as JSON, passed through to the server.
    ///
    /// `--json` is one command object (or an array of them) with its `type`, as
    /// `POST /v1/promotions/commands` takes it (amounts in fen), e.g.
    /// `--json '{"type": "set_campaign_status", "campaign_id": "1000", "change": "pause"}'`.
    Command(JsonArgs),
}

#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Create a campaign from flags, or campaigns from JSON (`--json` or `--file`).
    Create(Box<CampaignCreateArgs>),
    /// Pause a campaign: no claims, payments or grabs until it resumes.
    Pause {
        /// Campaign id.
        id: u128,
    },
    /// Resume a paused campaign.
    Resume {
        /// Campaign id.
        id: u128,
    },
    /// Close a campaign for good: what is left of its budget returns to the sponsor.
    Close {
        /// Campaign id.
        id: u128,
    },
}

#[derive(Debug, Subcommand)]
pub enum ShowCommand {
    /// `GET /v1/promotions/campaigns/{id}`: the campaign as created, its status and figures.
    Campaign {
        /// Campaign id.
        id: u128,
    },
    /// `GET /v1/promotions/coupons/{id}`.
    Coupon {
        /// Coupon id.
        id: u128,
    },
    /// `GET /v1/promotions/checkouts/{id}`.
    Checkout {
        /// Checkout id.
        id: u128,
    },
    /// The red packet a user grabbed from a pool ("0": none).
    Grab {
        /// Campaign id.
        campaign_id: u128,
        /// User id.
        user_id: u128,
    },
    /// `GET /v1/promotions/campaigns/{id}/prizes`: a lottery's prizes and how many were won.
    Prizes {
        /// Campaign id.
        campaign_id: u128,
    },
    /// `GET /v1/promotions/draws/{id}`: a draw and the prize it won (0: nothing).
    Draw {
        /// Draw id.
        id: u128,
    },
    /// The coins a user earned in a coins campaign ("0": none).
    Coins {
        /// Campaign id.
        campaign_id: u128,
        /// User id.
        user_id: u128,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CampaignKindArg {
    Coupon,
    RedPacket,
    Lottery,
    Coins,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PrizeKindArg {
    /// --amount from the budget into the winner's account.
    Cash,
    /// A coupon of --coupon-campaign-id, issued to the winner under the draw's id.
    Coupon,
    /// A limited place: counted, no money moves.
    Slot,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OfferArg {
    /// Spend at least --min-spend, save --discount (满减).
    Threshold,
    /// Spend at least --min-spend, save --percent of it, at most --cap.
    Percent,
    /// The order is free, up to --cap (免单).
    FreeOrder,
}

/// A campaign from flags, or campaigns from JSON. Flags left out are zero (limits: none).
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("fields").multiple(true)))]
pub struct CampaignCreateArgs {
    /// A JSON file holding one campaign object (or an array of them) as
    /// `POST /v1/promotions/campaigns` takes it: amounts in fen.
    #[arg(long, conflicts_with_all = ["fields", "json"])]
    pub file: Option<PathBuf>,
    /// One campaign object (or an array of them), as for --file.
    #[arg(long, value_parser = parse_json_objects, conflicts_with = "fields")]
    pub json: Option<JsonObjects>,
    #[arg(long, group = "fields", required_unless_present_any = ["file", "json"])]
    pub id: Option<u128>,
    /// coupon (default), red-packet, lottery or coins.
    #[arg(long, group = "fields", value_enum)]
    pub kind: Option<CampaignKindArg>,
    /// Funds the budget and gets what is left at close.
    #[arg(long, group = "fields", required_unless_present_any = ["file", "json"])]
    pub sponsor_account_id: Option<u128>,
    /// An unused account id: created with the campaign.
    #[arg(long, group = "fields", required_unless_present_any = ["file", "json"])]
    pub budget_account_id: Option<u128>,
    #[arg(long, group = "fields", required_unless_present_any = ["file", "json"])]
    pub ledger: Option<u32>,
    /// Ledger code of the budget account and of the campaign's transfers.
    #[arg(long, group = "fields", required_unless_present_any = ["file", "json"])]
    pub code: Option<u16>,
    /// Engine time (ns since the Unix epoch) the campaign starts (default: at once).
    #[arg(long, group = "fields")]
    pub starts_at: Option<u64>,
    /// Engine time (ns) it ends (default: never).
    #[arg(long, group = "fields")]
    pub ends_at: Option<u64>,
    /// Segment bits a user must share to take part (default: everyone).
    #[arg(long, group = "fields")]
    pub eligible_segments: Option<u32>,
    /// Coupons: the kind of discount.
    #[arg(long, group = "fields", value_enum)]
    pub offer: Option<OfferArg>,
    /// threshold, percent: the least payment the coupon applies to, yuan.
    #[arg(long, group = "fields", value_parser = parse_yuan)]
    pub min_spend: Option<u64>,
    /// threshold: the discount, yuan.
    #[arg(long, group = "fields", value_parser = parse_yuan)]
    pub discount: Option<u64>,
    /// percent: the discount, a percent exact to the basis point (e.g. 8.5%).
    #[arg(long, group = "fields", value_parser = parse_bps)]
    pub percent: Option<u16>,
    /// percent, free-order: the most discount, yuan (percent: 0 is no cap).
    #[arg(long, group = "fields", value_parser = parse_yuan)]
    pub cap: Option<u64>,
    /// Coupons: the card issuer a payment must use.
    #[arg(long, group = "fields")]
    pub card_issuer: Option<u32>,
    /// Coupons: the card BIN range a payment must use, with --bin-high.
    #[arg(long, group = "fields")]
    pub bin_low: Option<u32>,
    #[arg(long, group = "fields")]
    pub bin_high: Option<u32>,
    /// Coupons: the one merchant a payment must be at.
    #[arg(long, group = "fields")]
    pub merchant_account_id: Option<u128>,
    /// Coupons: the merchant category a payment must be in.
    #[arg(long, group = "fields")]
    pub category: Option<u32>,
    /// Coupons: at most one coupon per payment from each group; `exclusive`: no other coupon.
    #[arg(long, group = "fields", value_parser = parse_group)]
    pub exclusive_group: Option<u32>,
    /// Coupons: higher applies first.
    #[arg(long, group = "fields")]
    pub priority: Option<u16>,
    /// Coupons: a fully refunded payment gives its coupon back.
    #[arg(long, group = "fields")]
    pub restore_on_refund: bool,
    /// Coupons: seconds a coupon is valid after it is issued (default: until the end).
    #[arg(long, group = "fields")]
    pub coupon_valid_for: Option<u32>,
    /// Coupons that may be issued or claimed; red packets: the packet count; lotteries: the
    /// draws in all.
    #[arg(long, group = "fields")]
    pub stock: Option<u32>,
    #[arg(long, group = "fields")]
    pub coupons_per_user: Option<u32>,
    /// Redemptions (payments using a coupon) in all.
    #[arg(long, group = "fields")]
    pub redemptions_max: Option<u32>,
    #[arg(long, group = "fields")]
    pub redemptions_per_user: Option<u32>,
    /// The most discount one user may get, yuan (coins: the most coins, 100 a yuan).
    #[arg(long, group = "fields", value_parser = parse_yuan)]
    pub discount_per_user: Option<u64>,
    /// Red packets: the pool's whole amount, yuan.
    #[arg(long, group = "fields", value_parser = parse_yuan)]
    pub pool: Option<u64>,
    /// Red packets and lotteries: the seed of the packet amounts or the draws.
    #[arg(long, group = "fields")]
    pub seed: Option<u64>,
    /// Lotteries: draws one user may make.
    #[arg(long, group = "fields")]
    pub draws_per_user: Option<u32>,
    /// Lotteries: what one draw costs, in ledger units (coins on a coin ledger), paid from the
    /// drawer's account into the budget.
    #[arg(long, group = "fields")]
    pub draw_cost: Option<u64>,
    /// Coins: coins (ledger units) for a daily check-in.
    #[arg(long, group = "fields")]
    pub coins_per_check_in: Option<u64>,
    /// Coins: coins per yuan of a captured purchase.
    #[arg(long, group = "fields")]
    pub coins_per_yuan: Option<u32>,
    /// Coins: seconds coins stay valid after they are earned (default: they do not expire).
    #[arg(long, group = "fields")]
    pub coins_valid_for: Option<u32>,
}

#[derive(Debug, Args)]
pub struct FundArgs {
    /// The funding transfer's id.
    #[arg(long)]
    pub id: u128,
    #[arg(long)]
    pub campaign_id: u128,
    /// Yuan.
    #[arg(long, value_parser = parse_yuan)]
    pub amount: u64,
}

#[derive(Debug, Args)]
pub struct CouponArgs {
    /// Coupon id.
    #[arg(long)]
    pub id: u128,
    #[arg(long)]
    pub campaign_id: u128,
    #[arg(long)]
    pub user_id: u128,
    /// The user's segment bits.
    #[arg(long, default_value_t = 0)]
    pub user_segments: u32,
}

#[derive(Debug, Args)]
pub struct CheckoutArgs {
    /// Checkout id (and the payer's hold's).
    #[arg(long)]
    pub id: u128,
    #[arg(long)]
    pub user_id: u128,
    /// A credit line, or an ordinary account (a balance, a bank's clearing account).
    #[arg(long)]
    pub payer_id: u128,
    #[arg(long)]
    pub merchant_account_id: u128,
    /// The whole payment, before discounts, yuan.
    #[arg(long, value_parser = parse_yuan)]
    pub amount: u64,
    /// Coupon ids, comma-separated or repeated (at most 4).
    #[arg(long = "coupon", value_delimiter = ',')]
    pub coupons: Vec<u128>,
    /// Seconds until the holds are released (0: never).
    #[arg(long, default_value_t = 0)]
    pub timeout: u32,
    /// Ledger code of the payer's hold when the payer is an ordinary account.
    #[arg(long, default_value_t = 0)]
    pub code: u16,
    /// The paying card's issuer and BIN, for card-bound coupons.
    #[arg(long, default_value_t = 0)]
    pub card_issuer: u32,
    #[arg(long, default_value_t = 0)]
    pub card_bin: u32,
    /// The merchant's category.
    #[arg(long, default_value_t = 0)]
    pub category: u32,
    /// One step: post the discounts and the payment now (no hold, no capture; no --timeout).
    #[arg(long)]
    pub capture: bool,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    #[arg(long)]
    pub id: u128,
    #[arg(long)]
    pub checkout_id: u128,
}

#[derive(Debug, Args)]
pub struct RefundArgs {
    #[arg(long)]
    pub id: u128,
    #[arg(long)]
    pub checkout_id: u128,
    /// Yuan.
    #[arg(long, value_parser = parse_yuan)]
    pub amount: u64,
}

#[derive(Debug, Args)]
pub struct GrabArgs {
    /// The grab's transfer id.
    #[arg(long)]
    pub id: u128,
    #[arg(long)]
    pub campaign_id: u128,
    #[arg(long)]
    pub user_id: u128,
    /// The account the packet lands in.
    #[arg(long)]
    pub account_id: u128,
    #[arg(long, default_value_t = 0)]
    pub user_segments: u32,
}

#[derive(Debug, Args)]
pub struct AddPrizeArgs {
    #[arg(long)]
    pub campaign_id: u128,
    /// The prize number: 1, 2, ... in order.
    #[arg(long)]
    pub prize: u8,
    #[arg(long, value_enum)]
    pub kind: PrizeKindArg,
    /// The probability of drawing it, in parts per million (all prizes: at most 1000000).
    #[arg(long)]
    pub weight_ppm: u32,
    /// How many can be won.
    #[arg(long)]
    pub stock: u32,
    /// cash: the prize, yuan.
    #[arg(long, value_parser = parse_yuan, default_value = "0")]
    pub amount: u64,
    /// coupon: the coupon campaign.
    #[arg(long, default_value_t = 0)]
    pub coupon_campaign_id: u128,
}

#[derive(Debug, Args)]
pub struct DrawArgs {
    /// Draw id (also the cash prize's transfer id, or the coupon prize's coupon id).
    #[arg(long)]
    pub id: u128,
    #[arg(long)]
    pub campaign_id: u128,
    #[arg(long)]
    pub user_id: u128,
    /// The account a cash prize lands in (0: the lottery has no cash prize).
    #[arg(long, default_value_t = 0)]
    pub account_id: u128,
    #[arg(long, default_value_t = 0)]
    pub user_segments: u32,
}

#[derive(Debug, Args)]
pub struct EarnCoinsArgs {
    /// The earning's transfer id.
    #[arg(long)]
    pub id: u128,
    #[arg(long)]
    pub campaign_id: u128,
    #[arg(long)]
    pub user_id: u128,
    /// The user's coin account, on the campaign's ledger.
    #[arg(long)]
    pub account_id: u128,
    /// A captured checkout of the user (once per checkout); 0 (the default): the daily
    /// check-in.
    #[arg(long, default_value_t = 0)]
    pub checkout_id: u128,
    #[arg(long, default_value_t = 0)]
    pub user_segments: u32,
}

#[derive(Debug, Args)]
pub struct ExpireCoinsArgs {
    #[arg(long)]
    pub campaign_id: u128,
}

#[derive(Debug, Args)]
pub struct SetRuleArgs {
    #[arg(long)]
    pub campaign_id: u128,
    /// The rule, e.g. 'amount >= 10_000 && hour < 12' (at most 192 bytes); "" clears it.
    #[arg(long)]
    pub rule: String,
}

// ---------------------------------------------------------------------------------------------
// Parsing.

/// A percent exact to the basis point (`8.5%`, `10`) into basis points.
pub fn parse_bps(text: &str) -> Result<u16, String> {
    let number = text.strip_suffix('%').unwrap_or(text);
    parse_yuan(number)
        .ok()
        .and_then(|bps| u16::try_from(bps).ok())
        .ok_or_else(|| {
            format!("{text:?} is not a percent with at most 2 decimals, e.g. 8.5%, up to 655.35%")
        })
}

/// An exclusive group: a number, or `exclusive` (4294967295: no other coupon).
pub fn parse_group(text: &str) -> Result<u32, String> {
    if text == "exclusive" {
        return Ok(u32::MAX);
    }
    text.parse()
        .map_err(|_| format!("{text:?} is not a group number or `exclusive`"))
}

// ---------------------------------------------------------------------------------------------
// Requests.

impl CampaignCreateArgs {
    /// The campaigns to create: from `--file` (read here), `--json`, or the flags.
    pub fn campaigns(&self) -> Result<Vec<Value>, String> {
        if let Some(path) = &self.file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            return parse_json_objects(&text)
                .map(|objects| objects.0)
                .map_err(|e| format!("{}: {e}", path.display()));
        }
        if let Some(objects) = &self.json {
            return Ok(objects.0.clone());
        }
        self.to_json().map(|campaign| vec![campaign])
    }

    /// The campaign of the flags, as `POST /v1/promotions/campaigns` takes it; flags left out
    /// are left out (zero).
    pub fn to_json(&self) -> Result<Value, String> {
        let mut c = Map::new();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                c.insert(key.to_string(), value);
            }
        };
        let dec128 = |v: Option<u128>| v.map(|v| json!(v.to_string()));
        let dec64 = |v: Option<u64>| v.map(|v| json!(v.to_string()));
        let number = |v: Option<u32>| v.map(|v| json!(v));
        let required = |v: Option<u128>, flag: &str| {
            v.map(|v| json!(v.to_string()))
                .ok_or_else(|| format!("--{flag} is required"))
        };
        put("id", Some(required(self.id, "id")?));
        put(
            "kind",
            self.kind.map(|k| {
                json!(match k {
                    CampaignKindArg::Coupon => "coupon",
                    CampaignKindArg::RedPacket => "red_packet",
                    CampaignKindArg::Lottery => "lottery",
                    CampaignKindArg::Coins => "coins",
                })
            }),
        );
        put(
            "sponsor_account_id",
            Some(required(self.sponsor_account_id, "sponsor-account-id")?),
        );
        put(
            "budget_account_id",
            Some(required(self.budget_account_id, "budget-account-id")?),
        );
        put(
            "ledger",
            Some(json!(self.ledger.ok_or("--ledger is required")?)),
        );
        put("code", Some(json!(self.code.ok_or("--code is required")?)));
        put("starts_at", dec64(self.starts_at));
        put("ends_at", dec64(self.ends_at));
        put("eligible_segments", number(self.eligible_segments));
        put("offer", self.offer_json()?);
        put("card_issuer", number(self.card_issuer));
        put("bin_low", number(self.bin_low));
        put("bin_high", number(self.bin_high));
        put("merchant_account_id", dec128(self.merchant_account_id));
        put("category", number(self.category));
        put("exclusive_group", number(self.exclusive_group));
        put("priority", self.priority.map(|v| json!(v)));
        put(
            "restore_on_refund",
            self.restore_on_refund.then_some(json!(true)),
        );
        put("coupon_valid_for", number(self.coupon_valid_for));
        put("stock", number(self.stock));
        put("coupons_per_user", number(self.coupons_per_user));
        put("redemptions_max", number(self.redemptions_max));
        put("redemptions_per_user", number(self.redemptions_per_user));
        put("discount_per_user", dec64(self.discount_per_user));
        put("pool_amount", dec64(self.pool));
        put("seed", dec64(self.seed));
        put("draws_per_user", number(self.draws_per_user));
        put("draw_cost", dec64(self.draw_cost));
        put("coins_per_check_in", dec64(self.coins_per_check_in));
        put("coins_per_yuan", number(self.coins_per_yuan));
        put("coins_valid_for", number(self.coins_valid_for));
        Ok(Value::Object(c))
    }

    /// The offer of the flags; an offer flag the chosen offer does not take is a usage error.
    fn offer_json(&self) -> Result<Option<Value>, String> {
        let given = [
            ("--min-spend", self.min_spend.is_some()),
            ("--discount", self.discount.is_some()),
            ("--percent", self.percent.is_some()),
            ("--cap", self.cap.is_some()),
        ];
        let takes: &[&str] = match self.offer {
            None => &[],
            Some(OfferArg::Threshold) => &["--min-spend", "--discount"],
            Some(OfferArg::Percent) => &["--min-spend", "--percent", "--cap"],
            Some(OfferArg::FreeOrder) => &["--cap"],
        };
        if let Some((flag, _)) = given.iter().find(|(f, on)| *on && !takes.contains(f)) {
            return Err(match self.offer {
                None => format!("{flag} needs --offer"),
                Some(offer) => format!(
                    "--offer {} does not take {flag}",
                    offer
                        .to_possible_value()
                        .map_or("?".into(), |v| v.get_name().to_string())
                ),
            });
        }
        let fen = |v: Option<u64>| json!(v.unwrap_or(0).to_string());
        Ok(self.offer.map(|offer| match offer {
            OfferArg::Threshold => json!({
                "type": "threshold",
                "min_spend": fen(self.min_spend),
                "amount": fen(self.discount),
            }),
            OfferArg::Percent => json!({
                "type": "percent",
                "min_spend": fen(self.min_spend),
                "bps": self.percent.unwrap_or(0),
                "cap": fen(self.cap),
            }),
            OfferArg::FreeOrder => json!({ "type": "free_order", "cap": fen(self.cap) }),
        }))
    }
}

fn status_json(id: u128, change: &str) -> Value {
    json!({ "type": "set_campaign_status", "campaign_id": id.to_string(), "change": change })
}

impl FundArgs {
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "type": "fund_campaign",
            "id": self.id.to_string(),
            "campaign_id": self.campaign_id.to_string(),
            "amount": self.amount.to_string(),
        })
    }
}

impl CouponArgs {
    /// `kind`: `issue_coupon` or `claim_coupon`.
    #[must_use]
    pub fn to_json(&self, kind: &str) -> Value {
        json!({
            "type": kind,
            "id": self.id.to_string(),
            "campaign_id": self.campaign_id.to_string(),
            "user_id": self.user_id.to_string(),
            "user_segments": self.user_segments,
        })
    }
}

impl CheckoutArgs {
    #[must_use]
    pub fn to_json(&self) -> Value {
        let coupons: Vec<String> = self.coupons.iter().map(u128::to_string).collect();
        json!({
            "type": "checkout",
            "id": self.id.to_string(),
            "user_id": self.user_id.to_string(),
            "payer_id": self.payer_id.to_string(),
            "merchant_account_id": self.merchant_account_id.to_string(),
            "amount": self.amount.to_string(),
            "timeout": self.timeout,
            "code": self.code,
            "card_issuer": self.card_issuer,
            "card_bin": self.card_bin,
            "category": self.category,
            "coupons": coupons,
            "capture": self.capture,
        })
    }
}

impl ResolveArgs {
    /// `kind`: `capture_checkout` or `void_checkout`.
    #[must_use]
    pub fn to_json(&self, kind: &str) -> Value {
        json!({
            "type": kind,
            "id": self.id.to_string(),
            "checkout_id": self.checkout_id.to_string(),
        })
    }
}

impl RefundArgs {
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "type": "refund_checkout",
            "id": self.id.to_string(),
            "checkout_id": self.checkout_id.to_string(),
            "amount": self.amount.to_string(),
        })
    }
}

impl GrabArgs {
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "type": "grab_red_packet",
            "id": self.id.to_string(),
            "campaign_id": self.campaign_id.to_string(),
            "user_id": self.user_id.to_string(),
            "account_id": self.account_id.to_string(),
            "user_segments": self.user_segments,
        })
    }
}

impl AddPrizeArgs {
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "type": "add_prize",
            "campaign_id": self.campaign_id.to_string(),
            "prize": self.prize,
            "kind": match self.kind {
                PrizeKindArg::Cash => "cash",
                PrizeKindArg::Coupon => "coupon",
                PrizeKindArg::Slot => "slot",
            },
            "weight_ppm": self.weight_ppm,
            "stock": self.stock,
            "amount": self.amount.to_string(),
            "coupon_campaign_id": self.coupon_campaign_id.to_string(),
        })
    }
}

impl DrawArgs {
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "type": "draw_lottery",
            "id": self.id.to_string(),
            "campaign_id": self.campaign_id.to_string(),
            "user_id": self.user_id.to_string(),
            "account_id": self.account_id.to_string(),
            "user_segments": self.user_segments,
        })
    }
}

impl EarnCoinsArgs {
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "type": "earn_coins",
            "id": self.id.to_string(),
            "campaign_id": self.campaign_id.to_string(),
            "user_id": self.user_id.to_string(),
            "account_id": self.account_id.to_string(),
            "checkout_id": self.checkout_id.to_string(),
            "user_segments": self.user_segments,
        })
    }
}

impl ExpireCoinsArgs {
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({ "type": "expire_coins", "campaign_id": self.campaign_id.to_string() })
    }
}

impl SetRuleArgs {
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "type": "set_campaign_rule",
            "campaign_id": self.campaign_id.to_string(),
            "rule": self.rule,
        })
    }
}

/// The promotions routes of one server.
pub struct PromotionsClient {
    client: Client,
}

impl PromotionsClient {
    pub fn new(addr: &str) -> anyhow::Result<PromotionsClient> {
        Ok(PromotionsClient {
            client: Client::new(addr)?,
        })
    }

    pub async fn create_campaigns(&self, campaigns: Vec<Value>) -> Result<Value, ClientError> {
        self.client
            .post(
                "/v1/promotions/campaigns",
                &json!({ "campaigns": campaigns }),
            )
            .await
    }

    pub async fn commands(&self, commands: Vec<Value>) -> Result<Value, ClientError> {
        self.client
            .post("/v1/promotions/commands", &json!({ "commands": commands }))
            .await
    }

    pub async fn campaign(&self, id: u128) -> Result<Value, ClientError> {
        self.client
            .get(&format!("/v1/promotions/campaigns/{id}"))
            .await
    }

    pub async fn coupon(&self, id: u128) -> Result<Value, ClientError> {
        self.client
            .get(&format!("/v1/promotions/coupons/{id}"))
            .await
    }

    pub async fn checkout(&self, id: u128) -> Result<Value, ClientError> {
        self.client
            .get(&format!("/v1/promotions/checkouts/{id}"))
            .await
    }

    pub async fn grab(&self, campaign_id: u128, user_id: u128) -> Result<Value, ClientError> {
        self.client
            .get(&format!(
                "/v1/promotions/campaigns/{campaign_id}/grabs/{user_id}"
            ))
            .await
    }

    pub async fn prizes(&self, campaign_id: u128) -> Result<Value, ClientError> {
        self.client
            .get(&format!("/v1/promotions/campaigns/{campaign_id}/prizes"))
            .await
    }

    pub async fn draw(&self, id: u128) -> Result<Value, ClientError> {
        self.client.get(&format!("/v1/promotions/draws/{id}")).await
    }

    pub async fn coins(&self, campaign_id: u128, user_id: u128) -> Result<Value, ClientError> {
        self.client
            .get(&format!(
                "/v1/promotions/campaigns/{campaign_id}/coins/{user_id}"
            ))
            .await
    }
}

/// What a subcommand sends: a batch of campaigns, a batch of commands, or a lookup.
enum Call {
    Campaigns(Vec<Value>),
    Commands(Vec<Value>),
    Show(ShowCommand),
}

/// The call of a subcommand, or a usage error.
fn call(command: PromotionsCommand) -> Result<Call, String> {
    let one = |command: Value| Call::Commands(vec![command]);
    Ok(match command {
        PromotionsCommand::Campaign(CampaignCommand::Create(create)) => {
            Call::Campaigns(create.campaigns()?)
        }
        PromotionsCommand::Campaign(CampaignCommand::Pause { id }) => one(status_json(id, "pause")),
        PromotionsCommand::Campaign(CampaignCommand::Resume { id }) => {
            one(status_json(id, "resume"))
        }
        PromotionsCommand::Campaign(CampaignCommand::Close { id }) => one(status_json(id, "close")),
        PromotionsCommand::Fund(a) => one(a.to_json()),
        PromotionsCommand::Issue(a) => one(a.to_json("issue_coupon")),
        PromotionsCommand::Claim(a) => one(a.to_json("claim_coupon")),
        PromotionsCommand::Checkout(a) => one(a.to_json()),
        PromotionsCommand::Capture(a) => one(a.to_json("capture_checkout")),
        PromotionsCommand::Void(a) => one(a.to_json("void_checkout")),
        PromotionsCommand::Refund(a) => one(a.to_json()),
        PromotionsCommand::Grab(a) => one(a.to_json()),
        PromotionsCommand::AddPrize(a) => one(a.to_json()),
        PromotionsCommand::Draw(a) => one(a.to_json()),
        PromotionsCommand::EarnCoins(a) => one(a.to_json()),
        PromotionsCommand::ExpireCoins(a) => one(a.to_json()),
        PromotionsCommand::SetRule(a) => one(a.to_json()),
        PromotionsCommand::Command(commands) => Call::Commands(commands.json.0),
        PromotionsCommand::Show(show) => Call::Show(show),
    })
}

pub fn run(args: PromotionsArgs) -> anyhow::Result<ExitCode> {
    let call = match call(args.command) {
        Ok(call) => call,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(ExitCode::from(2));
        }
    };
    let client = PromotionsClient::new(&args.server.addr)?;
    let runtime = runtime()?;
    let (kind, outcome) = runtime.block_on(async {
        match call {
            Call::Campaigns(campaigns) => (Kind::Batch, client.create_campaigns(campaigns).await),
            Call::Commands(commands) => (Kind::Batch, client.commands(commands).await),
            Call::Show(show) => (
                Kind::Lookup,
                match show {
                    ShowCommand::Campaign { id } => client.campaign(id).await,
                    ShowCommand::Coupon { id } => client.coupon(id).await,
                    ShowCommand::Checkout { id } => client.checkout(id).await,
                    ShowCommand::Grab {
                        campaign_id,
                        user_id,
                    } => client.grab(campaign_id, user_id).await,
                    ShowCommand::Prizes { campaign_id } => client.prizes(campaign_id).await,
                    ShowCommand::Draw { id } => client.draw(id).await,
                    ShowCommand::Coins {
                        campaign_id,
                        user_id,
                    } => client.coins(campaign_id, user_id).await,
                },
            ),
        }
    });
    finish(kind, outcome)
}
