//! The JSON wire format of the promotions endpoints: names of campaign kinds, offers, statuses
//! and commands, a payment's coupon list, and the request and response bodies of
//! `/v1/promotions/...`.
//!
//! Invariants owned here (on top of `wire.rs`, whose `Dec128`/`Dec64` these types reuse):
//! - ids, amounts (fen) and engine timestamps (ns) travel as decimal strings, u32/u16 values as
//!   JSON numbers, enums by snake_case name;
//! - omitted fields are zero (a campaign's `kind`: `coupon`; its `offer`: none), unknown fields
//!   are rejected; a payment lists at most `promotions::COUPONS_MAX` coupons, a campaign's rule
//!   is at most `promotions::RULE_TEXT_MAX` bytes;
//! - a campaign read back (`CampaignOutput`) carries its configuration in exactly the shape it
//!   was created with, so the input round-trips.
//!
//! The same types carry the OpenAPI schemas, so the document cannot drift from the parser.
//! Nothing here judges a value (an offer of 0, a window that ends before it starts): that is
//! the engine's, answered as a result code.

use std::borrow::Cow;
use std::fmt;

use promotions::{
    COUPONS_MAX, Campaign, CampaignKind, CampaignStatus, CampaignView, CheckoutStatus,
    CheckoutView, Command, CouponStatus, CouponView, DrawView, Offer, PrizeKind, PrizeView,
    PromotionResult, RULE_TEXT_MAX, RULE_VARIABLES, StatusChange,
};
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::wire::{Dec64, Dec128};

/// A string from the list of promotion result names.
pub struct PromotionResultName;

impl PartialSchema for PromotionResultName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(PromotionResult::ALL.iter().map(|r| r.name())))
            .description(Some(
                "The result of one campaign or promotions command: `ok` or the reason it was \
                 refused.",
            ))
            .into()
    }
}

impl ToSchema for PromotionResultName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("PromotionResult")
    }
}

/// What a campaign gives away.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = CampaignKind)]
pub enum CampaignKindName {
    /// Coupons, issued or claimed, redeemed against payments.
    #[default]
    Coupon,
    /// A red-packet pool of `pool_amount` fen in `stock` packets, grabbed once per user.
    RedPacket,
    /// A lottery: prizes (`add_prize`) drawn with fixed probabilities from `seed`, `stock`
    /// draws in all (0: no limit), `draws_per_user` each.
    Lottery,
    /// Reward coins earned by tasks (a daily check-in, a captured purchase) from the budget
    /// into the user's coin account, valid for `coins_valid_for` seconds.
    Coins,
}

impl CampaignKindName {
    #[must_use]
    pub fn kind(self) -> CampaignKind {
        match self {
            CampaignKindName::Coupon => CampaignKind::Coupon,
            CampaignKindName::RedPacket => CampaignKind::RedPacket,
            CampaignKindName::Lottery => CampaignKind::Lottery,
            CampaignKindName::Coins => CampaignKind::Coins,
        }
    }

    #[must_use]
    pub fn new(kind: CampaignKind) -> CampaignKindName {
        match kind {
            CampaignKind::Coupon => CampaignKindName::Coupon,
            CampaignKind::RedPacket => CampaignKindName::RedPacket,
            CampaignKind::Lottery => CampaignKindName::Lottery,
            CampaignKind::Coins => CampaignKindName::Coins,
        }
    }
}

/// Spend at least `min_spend`, save `amount` (满减).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ThresholdOffer {
    pub min_spend: Dec64,
    pub amount: Dec64,
}

/// Spend at least `min_spend`, save `bps` basis points (1 to 10000) of what is left to pay,
/// at most `cap` (0: no cap).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PercentOffer {
    pub min_spend: Dec64,
    pub bps: u16,
    pub cap: Dec64,
}

/// The order is free, up to `cap` (免单).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FreeOrderOffer {
    pub cap: Dec64,
}

/// A coupon's discount, by `type`. Amounts are fen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[schema(as = Offer)]
pub enum OfferInput {
    Threshold(ThresholdOffer),
    Percent(PercentOffer),
    FreeOrder(FreeOrderOffer),
}

/// The offer a campaign holds when none is given (red packets have none).
const NO_OFFER: Offer = Offer::FreeOrder { cap: 0 };

impl OfferInput {
    #[must_use]
    pub fn offer(self) -> Offer {
        match self {
            OfferInput::Threshold(t) => Offer::Threshold {
                min_spend: t.min_spend.0,
                amount: t.amount.0,
            },
            OfferInput::Percent(p) => Offer::Percent {
                min_spend: p.min_spend.0,
                bps: p.bps,
                cap: p.cap.0,
            },
            OfferInput::FreeOrder(f) => Offer::FreeOrder { cap: f.cap.0 },
        }
    }

    /// The wire form of an offer; `None` for the offer of a campaign created without one.
    #[must_use]
    pub fn new(offer: Offer) -> Option<OfferInput> {
        if offer == NO_OFFER {
            return None;
        }
        Some(match offer {
            Offer::Threshold { min_spend, amount } => OfferInput::Threshold(ThresholdOffer {
                min_spend: Dec64(min_spend),
                amount: Dec64(amount),
            }),
            Offer::Percent {
                min_spend,
                bps,
                cap,
            } => OfferInput::Percent(PercentOffer {
                min_spend: Dec64(min_spend),
                bps,
                cap: Dec64(cap),
            }),
            Offer::FreeOrder { cap } => OfferInput::FreeOrder(FreeOrderOffer { cap: Dec64(cap) }),
        })
    }
}

// Requests.

/// `POST /v1/promotions/campaigns`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCampaignsRequest {
    /// Between 1 and 8189 campaigns, applied in order.
    pub campaigns: Vec<CampaignInput>,
}

/// A campaign: its sponsor, the budget account created with it, its window, what it gives,
/// to whom, and its limits. Amounts are fen; times are engine timestamps (ns since the Unix
/// epoch); every limit of 0 is "no limit". Omitted fields are zero; `kind` defaults to
/// `coupon`, `offer` to none (required for coupons: `offer_invalid` without it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CampaignInput {
    pub id: Dec128,
    pub kind: CampaignKindName,
    /// Funds the budget (`fund_campaign`) and gets what is left when the campaign closes.
    pub sponsor_account_id: Dec128,
    /// An unused account id: created with the campaign, managed, never debited past its
    /// credits.
    pub budget_account_id: Dec128,
    pub ledger: u32,
    /// Ledger code of the budget account and of the transfers the campaign posts.
    pub code: u16,
    /// Active from `starts_at` until before `ends_at` (0: no end).
    pub starts_at: Dec64,
    pub ends_at: Dec64,
    /// Users whose segment bits intersect these may take part (0: everyone).
    pub eligible_segments: u32,
    /// Coupons: the discount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer: Option<OfferInput>,
    /// Coupons: the card issuer a payment must use (0: any).
    pub card_issuer: u32,
    /// Coupons: the card BIN range `bin_low..=bin_high` (both 0: any).
    pub bin_low: u32,
    pub bin_high: u32,
    /// Coupons: the merchant (0: any) and category (0: any) a payment must be at.
    pub merchant_account_id: Dec128,
    pub category: u32,
    /// Coupons: a payment carries at most one coupon of each non-zero group; 4294967295 is
    /// exclusive of every other coupon.
    pub exclusive_group: u32,
    /// Coupons: higher priority applies first.
    pub priority: u16,
    /// Coupons: a fully refunded payment gives its coupon back.
    pub restore_on_refund: bool,
    /// Coupons: seconds a coupon is valid after it is issued (0: until the campaign ends).
    pub coupon_valid_for: u32,
    /// Coupons that may be issued or claimed; red packets: the packet count (required);
    /// lotteries: the draws in all.
    pub stock: u32,
    /// Coupons one user may hold.
    pub coupons_per_user: u32,
    /// Redemptions (payments using a coupon) in all, and per user.
    pub redemptions_max: u32,
    pub redemptions_per_user: u32,
    /// Most discount one user may get from this campaign; coins: most coins one user may
    /// earn.
    pub discount_per_user: Dec64,
    /// Red packets: the pool's whole amount (at least one fen per packet).
    pub pool_amount: Dec64,
    /// Red packets and lotteries: the seed of the amounts or draws (recorded in the log, so
    /// replay is exact).
    pub seed: Dec64,
    /// Coins: coins for a daily check-in (0: not a task).
    pub coins_per_check_in: Dec64,
    /// Coins: coins per yuan (100 fen) of a captured purchase (0: not a task).
    pub coins_per_yuan: u32,
    /// Coins: seconds coins stay valid after they are earned (0: they do not expire).
    pub coins_valid_for: u32,
    /// Lotteries: draws one user may make.
    pub draws_per_user: u32,
    /// Lotteries: what one draw costs, paid from the drawer's account into the budget (0:
    /// free; on a coin ledger, coins exchanged for prizes).
    pub draw_cost: Dec64,
}

impl CampaignInput {
    #[must_use]
    pub fn into_campaign(self) -> Campaign {
        Campaign {
            id: self.id.0,
            kind: self.kind.kind(),
            sponsor_account_id: self.sponsor_account_id.0,
            budget_account_id: self.budget_account_id.0,
            ledger: self.ledger,
            code: self.code,
            starts_at: self.starts_at.0,
            ends_at: self.ends_at.0,
            eligible_segments: self.eligible_segments,
            offer: self.offer.map_or(NO_OFFER, OfferInput::offer),
            card_issuer: self.card_issuer,
            bin_low: self.bin_low,
            bin_high: self.bin_high,
            merchant_account_id: self.merchant_account_id.0,
            category: self.category,
            exclusive_group: self.exclusive_group,
            priority: self.priority,
            restore_on_refund: self.restore_on_refund,
            coupon_valid_for: self.coupon_valid_for,
            stock: self.stock,
            coupons_per_user: self.coupons_per_user,
            redemptions_max: self.redemptions_max,
            redemptions_per_user: self.redemptions_per_user,
            discount_per_user: self.discount_per_user.0,
            pool_amount: self.pool_amount.0,
            seed: self.seed.0,
            coins_per_check_in: self.coins_per_check_in.0,
            coins_per_yuan: self.coins_per_yuan,
            coins_valid_for: self.coins_valid_for,
            draws_per_user: self.draws_per_user,
            draw_cost: self.draw_cost.0,
        }
    }

    #[must_use]
    pub fn new(c: &Campaign) -> CampaignInput {
        CampaignInput {
            id: Dec128(c.id),
            kind: CampaignKindName::new(c.kind),
            sponsor_account_id: Dec128(c.sponsor_account_id),
            budget_account_id: Dec128(c.budget_account_id),
            ledger: c.ledger,
            code: c.code,
            starts_at: Dec64(c.starts_at),
            ends_at: Dec64(c.ends_at),
            eligible_segments: c.eligible_segments,
            offer: OfferInput::new(c.offer),
            card_issuer: c.card_issuer,
            bin_low: c.bin_low,
            bin_high: c.bin_high,
            merchant_account_id: Dec128(c.merchant_account_id),
            category: c.category,
            exclusive_group: c.exclusive_group,
            priority: c.priority,
            restore_on_refund: c.restore_on_refund,
            coupon_valid_for: c.coupon_valid_for,
            stock: c.stock,
            coupons_per_user: c.coupons_per_user,
            redemptions_max: c.redemptions_max,
            redemptions_per_user: c.redemptions_per_user,
            discount_per_user: Dec64(c.discount_per_user),
            pool_amount: Dec64(c.pool_amount),
            seed: Dec64(c.seed),
            coins_per_check_in: Dec64(c.coins_per_check_in),
            coins_per_yuan: c.coins_per_yuan,
            coins_valid_for: c.coins_valid_for,
            draws_per_user: c.draws_per_user,
            draw_cost: Dec64(c.draw_cost),
        }
    }
}

/// `POST /v1/promotions/commands`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionCommandsRequest {
    /// Between 1 and 8189 commands, applied in order.
    pub commands: Vec<PromotionCommandInput>,
}

/// One promotions command, by `type`. Every client-chosen `id` is unique among promotions
/// commands and ledger transfers: the commands that move money use it as the id of the
/// transfer they post.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PromotionCommandInput {
    FundCampaign(FundCampaignInput),
    SetCampaignStatus(SetCampaignStatusInput),
    IssueCoupon(CouponGrantInput),
    ClaimCoupon(CouponGrantInput),
    Checkout(CheckoutInput),
    CaptureCheckout(CheckoutRefInput),
    VoidCheckout(CheckoutRefInput),
    RefundCheckout(RefundCheckoutInput),
    GrabRedPacket(GrabRedPacketInput),
    AddPrize(AddPrizeInput),
    DrawLottery(DrawLotteryInput),
    EarnCoins(EarnCoinsInput),
    ExpireCoins(ExpireCoinsInput),
    SetCampaignRule(SetCampaignRuleInput),
}

/// Moves `amount` from the sponsor's account into the campaign's budget.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FundCampaignInput {
    pub id: Dec128,
    pub campaign_id: Dec128,
    pub amount: Dec64,
}

/// A campaign status an operator sets.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = CampaignStatusChange)]
pub enum CampaignStatusChangeName {
    Pause,
    Resume,
    /// Final: what is left of the budget goes back to the sponsor.
    Close,
}

/// Pauses, resumes or closes a campaign.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetCampaignStatusInput {
    #[serde(default)]
    pub campaign_id: Dec128,
    pub change: CampaignStatusChangeName,
}

/// `issue_coupon`: an operator grants a coupon (`id` is the coupon's) to a user;
/// `claim_coupon`: a user claims one from the campaign's stock while the campaign runs.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CouponGrantInput {
    pub id: Dec128,
    pub campaign_id: Dec128,
    pub user_id: Dec128,
    /// The user's segment bits, checked against the campaign's `eligible_segments`.
    pub user_segments: u32,
}

/// A payment's coupons: at most 4 coupon ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CouponIds(pub [u128; COUPONS_MAX]);

impl<'de> Deserialize<'de> for CouponIds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdsVisitor;
        impl<'de> Visitor<'de> for IdsVisitor {
            type Value = [u128; COUPONS_MAX];
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                write!(
                    formatter,
                    "an array of at most {COUPONS_MAX} coupon ids as decimal strings"
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut ids = [0; COUPONS_MAX];
                let mut count = 0;
                while let Some(Dec128(id)) = seq.next_element()? {
                    let slot = ids
                        .get_mut(count)
                        .ok_or_else(|| de::Error::invalid_length(count + 1, &self))?;
                    *slot = id;
                    count += 1;
                }
                Ok(ids)
            }
        }
        deserializer.deserialize_seq(IdsVisitor).map(CouponIds)
    }
}

impl Serialize for CouponIds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let listed = self.0.iter().take_while(|&&id| id != 0);
        let mut seq = serializer.serialize_seq(Some(listed.clone().count()))?;
        for &id in listed {
            seq.serialize_element(&Dec128(id))?;
        }
        seq.end()
    }
}

impl PartialSchema for CouponIds {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(Dec128::schema())
            .max_items(Some(COUPONS_MAX))
            .description(Some(
                "Coupon ids (decimal strings), at most 4, applied by their campaigns' priority.",
            ))
            .into()
    }
}

impl ToSchema for CouponIds {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CouponIds")
    }
}

/// A payment of `amount` at a merchant carrying coupons: each coupon's discount is reserved
/// from its campaign's budget and the payer (a credit line, or an ordinary account such as a
/// balance or a bank's clearing account) is held for the rest, all as pending transfers in
/// one linked chain that expire together after `timeout` seconds (0: never). `id` is the
/// checkout's, and the payer's hold's. With `capture` the payment is made in one step: the
/// discounts and the payment are posted at once, nothing is held (`timeout` must be 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CheckoutInput {
    pub id: Dec128,
    pub user_id: Dec128,
    pub payer_id: Dec128,
    pub merchant_account_id: Dec128,
    pub amount: Dec64,
    pub timeout: u32,
    /// Ledger code of the payer's hold when the payer is an ordinary account.
    pub code: u16,
    /// The instrument paying (for card-bound coupons): its issuer and BIN.
    pub card_issuer: u32,
    pub card_bin: u32,
    /// The merchant's category.
    pub category: u32,
    pub coupons: CouponIds,
    /// One step: captured as it is made (default false: held for `capture_checkout`).
    pub capture: bool,
}

impl CheckoutInput {
    #[must_use]
    pub fn into_command(self) -> Command {
        Command::Checkout {
            id: self.id.0,
            user_id: self.user_id.0,
            payer_id: self.payer_id.0,
            merchant_account_id: self.merchant_account_id.0,
            amount: self.amount.0,
            timeout: self.timeout,
            code: self.code,
            card_issuer: self.card_issuer,
            card_bin: self.card_bin,
            category: self.category,
            coupons: self.coupons.0,
            capture: self.capture,
        }
    }

    /// The wire form of a checkout command; `None` for another command.
    #[must_use]
    pub fn new(command: &Command) -> Option<CheckoutInput> {
        match *command {
            Command::Checkout {
                id,
                user_id,
                payer_id,
                merchant_account_id,
                amount,
                timeout,
                code,
                card_issuer,
                card_bin,
                category,
                coupons,
                capture,
            } => Some(CheckoutInput {
                id: Dec128(id),
                user_id: Dec128(user_id),
                payer_id: Dec128(payer_id),
                merchant_account_id: Dec128(merchant_account_id),
                amount: Dec64(amount),
                timeout,
                code,
                card_issuer,
                card_bin,
                category,
                coupons: CouponIds(coupons),
                capture,
            }),
            _ => None,
        }
    }
}

/// `capture_checkout` posts every hold of a checkout (the coupons are used); `void_checkout`
/// voids them (the coupons are free again).
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CheckoutRefInput {
    pub id: Dec128,
    pub checkout_id: Dec128,
}

/// Returns part of a captured payment: the merchant pays back the sponsors' share to their
/// budgets and the rest to the payer.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RefundCheckoutInput {
    pub id: Dec128,
    pub checkout_id: Dec128,
    pub amount: Dec64,
}

/// Grabs one packet of a red-packet pool into `account_id` (once per user and pool).
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GrabRedPacketInput {
    pub id: Dec128,
    pub campaign_id: Dec128,
    pub user_id: Dec128,
    pub account_id: Dec128,
    pub user_segments: u32,
}

/// What a lottery prize gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = PrizeKind)]
pub enum PrizeKindName {
    /// `amount` of the campaign's ledger from the budget to the winner's account.
    Cash,
    /// A coupon of the coupon campaign `coupon_campaign_id`, issued to the winner under the
    /// draw's id.
    Coupon,
    /// A limited place (a test drive, a gift to collect): counted, no money moves.
    Slot,
}

impl PrizeKindName {
    #[must_use]
    pub fn kind(self) -> PrizeKind {
        match self {
            PrizeKindName::Cash => PrizeKind::Cash,
            PrizeKindName::Coupon => PrizeKind::Coupon,
            PrizeKindName::Slot => PrizeKind::Slot,
        }
    }

    #[must_use]
    pub fn new(kind: PrizeKind) -> PrizeKindName {
        match kind {
            PrizeKind::Cash => PrizeKindName::Cash,
            PrizeKind::Coupon => PrizeKindName::Coupon,
            PrizeKind::Slot => PrizeKindName::Slot,
        }
    }
}

/// Adds prize number `prize` (1, 2, ... in order, at most 16) to a lottery before its first
/// draw.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddPrizeInput {
    #[serde(default)]
    pub campaign_id: Dec128,
    #[serde(default)]
    pub prize: u8,
    pub kind: PrizeKindName,
    /// The probability of drawing it, in parts per million (all prizes: at most a million).
    #[serde(default)]
    pub weight_ppm: u32,
    /// How many can be won; a draw that lands on a prize given out wins nothing.
    #[serde(default)]
    pub stock: u32,
    /// Cash: the amount (fen, or coins on a coin ledger).
    #[serde(default)]
    pub amount: Dec64,
    /// Coupon: the coupon campaign.
    #[serde(default)]
    pub coupon_campaign_id: Dec128,
}

/// One draw of a lottery for a user; a cash prize lands in `account_id` (0 when the lottery
/// has no cash prize). What it won is the draw's view, `GET /v1/promotions/draws/{id}`.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DrawLotteryInput {
    pub id: Dec128,
    pub campaign_id: Dec128,
    pub user_id: Dec128,
    pub account_id: Dec128,
    pub user_segments: u32,
}

/// Earns coins for a task into the user's coin account: the daily check-in (`checkout_id`
/// 0, once per business day in UTC+8), or a captured purchase of the user (once per
/// checkout).
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EarnCoinsInput {
    pub id: Dec128,
    pub campaign_id: Dec128,
    pub user_id: Dec128,
    pub account_id: Dec128,
    pub checkout_id: Dec128,
    pub user_segments: u32,
}

/// Takes back coins of the campaign whose validity has passed (at most 16 lots per command,
/// soonest first): what is left of each goes back to the budget.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ExpireCoinsInput {
    pub campaign_id: Dec128,
}

/// A campaign rule's text: at most `RULE_TEXT_MAX` bytes of UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleText {
    pub len: u8,
    pub text: [u8; RULE_TEXT_MAX],
}

impl Default for RuleText {
    fn default() -> RuleText {
        RuleText {
            len: 0,
            text: [0; RULE_TEXT_MAX],
        }
    }
}

impl<'de> Deserialize<'de> for RuleText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl Visitor<'_> for TextVisitor {
            type Value = RuleText;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                write!(formatter, "a rule of at most {RULE_TEXT_MAX} bytes")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<RuleText, E> {
                let bytes = value.as_bytes();
                let len = u8::try_from(bytes.len())
                    .ok()
                    .filter(|&len| usize::from(len) <= RULE_TEXT_MAX)
                    .ok_or_else(|| E::invalid_length(bytes.len(), &self))?;
                let mut text = [0; RULE_TEXT_MAX];
                text[..bytes.len()].copy_from_slice(bytes);
                Ok(RuleText { len, text })
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

impl Serialize for RuleText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = std::str::from_utf8(&self.text[..usize::from(self.len)])
            .map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(text)
    }
}

impl PartialSchema for RuleText {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(RULE_TEXT_MAX))
            .description(Some(format!(
                "A condition over the command's facts ({}) that must hold for the campaign to \
                 apply, at most {RULE_TEXT_MAX} bytes of UTF-8; empty: no rule.",
                RULE_VARIABLES.map(|name| format!("`{name}`")).join(", ")
            )))
            .into()
    }
}

impl ToSchema for RuleText {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RuleText")
    }
}

/// Sets a campaign's custom condition, which must hold for the campaign to apply (`""` clears
/// it); a rule that does not compile is `rule_invalid`.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SetCampaignRuleInput {
    pub campaign_id: Dec128,
    pub rule: RuleText,
}

impl PromotionCommandInput {
    #[must_use]
    pub fn into_command(self) -> Command {
        match self {
            PromotionCommandInput::FundCampaign(f) => Command::FundCampaign {
                id: f.id.0,
                campaign_id: f.campaign_id.0,
                amount: f.amount.0,
            },
            PromotionCommandInput::SetCampaignStatus(s) => Command::SetCampaignStatus {
                campaign_id: s.campaign_id.0,
                change: match s.change {
                    CampaignStatusChangeName::Pause => StatusChange::Pause,
                    CampaignStatusChangeName::Resume => StatusChange::Resume,
                    CampaignStatusChangeName::Close => StatusChange::Close,
                },
            },
            PromotionCommandInput::IssueCoupon(g) => Command::IssueCoupon {
                id: g.id.0,
                campaign_id: g.campaign_id.0,
                user_id: g.user_id.0,
                user_segments: g.user_segments,
            },
            PromotionCommandInput::ClaimCoupon(g) => Command::ClaimCoupon {
                id: g.id.0,
                campaign_id: g.campaign_id.0,
                user_id: g.user_id.0,
                user_segments: g.user_segments,
            },
            PromotionCommandInput::Checkout(c) => c.into_command(),
            PromotionCommandInput::CaptureCheckout(c) => Command::CaptureCheckout {
                id: c.id.0,
                checkout_id: c.checkout_id.0,
            },
            PromotionCommandInput::VoidCheckout(c) => Command::VoidCheckout {
                id: c.id.0,
                checkout_id: c.checkout_id.0,
            },
            PromotionCommandInput::RefundCheckout(r) => Command::RefundCheckout {
                id: r.id.0,
                checkout_id: r.checkout_id.0,
                amount: r.amount.0,
            },
            PromotionCommandInput::GrabRedPacket(g) => Command::GrabRedPacket {
                id: g.id.0,
                campaign_id: g.campaign_id.0,
                user_id: g.user_id.0,
                account_id: g.account_id.0,
                user_segments: g.user_segments,
            },
            PromotionCommandInput::AddPrize(p) => Command::AddPrize {
                campaign_id: p.campaign_id.0,
                prize: p.prize,
                kind: p.kind.kind(),
                weight_ppm: p.weight_ppm,
                stock: p.stock,
                amount: p.amount.0,
                coupon_campaign_id: p.coupon_campaign_id.0,
            },
            PromotionCommandInput::DrawLottery(d) => Command::DrawLottery {
                id: d.id.0,
                campaign_id: d.campaign_id.0,
                user_id: d.user_id.0,
                account_id: d.account_id.0,
                user_segments: d.user_segments,
            },
            PromotionCommandInput::EarnCoins(e) => Command::EarnCoins {
                id: e.id.0,
                campaign_id: e.campaign_id.0,
                user_id: e.user_id.0,
                account_id: e.account_id.0,
                checkout_id: e.checkout_id.0,
                user_segments: e.user_segments,
            },
            PromotionCommandInput::ExpireCoins(e) => Command::ExpireCoins {
                campaign_id: e.campaign_id.0,
            },
            PromotionCommandInput::SetCampaignRule(r) => Command::SetCampaignRule {
                campaign_id: r.campaign_id.0,
                len: r.rule.len,
                text: r.rule.text,
            },
        }
    }
}

// Responses.

/// The results of a promotions write, one per event, in order.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "schema only: the body is written by `results_body`"
)]
pub struct PromotionResultsResponse {
    results: Vec<PromotionResultName>,
}

/// A campaign's status.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = CampaignStatus)]
pub enum CampaignStatusName {
    Active,
    Paused,
    Closed,
}

/// `GET /v1/promotions/campaigns/{id}`: the campaign as created, its status, and its live
/// figures. Amounts are fen.
#[derive(Serialize, ToSchema)]
pub struct CampaignOutput {
    #[serde(flatten)]
    pub campaign: CampaignInput,
    pub status: CampaignStatusName,
    /// Moved in by the sponsor.
    pub funded: Dec64,
    /// Moved back to the sponsor at close.
    pub returned: Dec64,
    /// Discounts held by payments not yet captured or voided.
    pub reserved: Dec64,
    /// Discounts paid, net of refunds.
    pub spent: Dec64,
    /// Red packets paid out.
    pub grabbed: Dec64,
    /// What the budget account holds: funded less spent, grabbed and returned (reservations
    /// included).
    pub budget_balance: Dec64,
    /// The budget left to give: `budget_balance` less `reserved`.
    pub available: Dec64,
    /// Coupons issued or claimed; red packets: packets grabbed; lotteries: draws made.
    pub issued: u32,
    /// Coupons not yet issued, packets not yet grabbed, or draws not yet made; `null` when
    /// the stock is unlimited.
    pub stock_left: Option<u32>,
    /// Redemptions reserved or used.
    pub redemptions: u32,
    /// The campaign's custom condition (`set_campaign_rule`); `null`: none.
    pub rule: Option<String>,
}

impl CampaignOutput {
    /// The output of a campaign's view and its rule's text.
    #[must_use]
    pub fn new(view: &CampaignView, rule: Option<String>) -> CampaignOutput {
        let c = &view.campaign;
        CampaignOutput {
            campaign: CampaignInput::new(c),
            status: match view.status {
                CampaignStatus::Active => CampaignStatusName::Active,
                CampaignStatus::Paused => CampaignStatusName::Paused,
                CampaignStatus::Closed => CampaignStatusName::Closed,
            },
            funded: Dec64(view.funded),
            returned: Dec64(view.returned),
            reserved: Dec64(view.reserved),
            spent: Dec64(view.spent),
            grabbed: Dec64(view.grabbed),
            budget_balance: Dec64(view.available + view.reserved),
            available: Dec64(view.available),
            issued: view.issued,
            stock_left: (c.stock != 0).then(|| c.stock.saturating_sub(view.issued)),
            redemptions: view.redemptions,
            rule,
        }
    }
}

/// A coupon's status.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = CouponStatus)]
pub enum CouponStatusName {
    Available,
    /// Held by a payment not yet captured or voided.
    Reserved,
    Used,
}

/// `GET /v1/promotions/coupons/{id}`.
#[derive(Serialize, ToSchema)]
pub struct CouponOutput {
    pub id: Dec128,
    pub campaign_id: Dec128,
    pub user_id: Dec128,
    pub status: CouponStatusName,
    /// Engine time it expires; `null`: valid until the campaign ends.
    pub expires_at: Option<Dec64>,
    /// The checkout reserving or using it; `null`: none.
    pub checkout_id: Option<Dec128>,
}

impl CouponOutput {
    #[must_use]
    pub fn new(view: &CouponView) -> CouponOutput {
        CouponOutput {
            id: Dec128(view.id),
            campaign_id: Dec128(view.campaign_id),
            user_id: Dec128(view.user_id),
            status: match view.status {
                CouponStatus::Available => CouponStatusName::Available,
                CouponStatus::Reserved => CouponStatusName::Reserved,
                CouponStatus::Used => CouponStatusName::Used,
            },
            expires_at: (view.expires_at != 0).then_some(Dec64(view.expires_at)),
            checkout_id: (view.checkout_id != 0).then_some(Dec128(view.checkout_id)),
        }
    }
}

/// A checkout's status.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = CheckoutStatus)]
pub enum CheckoutStatusName {
    Authorized,
    Captured,
    Voided,
    Expired,
}

/// `GET /v1/promotions/checkouts/{id}`: the checkout command as given, and what became of it.
/// Amounts are fen.
#[derive(Serialize, ToSchema)]
pub struct CheckoutOutput {
    #[serde(flatten)]
    pub checkout: CheckoutInput,
    pub status: CheckoutStatusName,
    /// What the payer pays: the amount less the discounts.
    pub buyer_amount: Dec64,
    /// The coupons' discounts, all together.
    pub discount: Dec64,
    /// Refunded so far (to the payer and to the sponsors' budgets).
    pub refunded: Dec64,
    /// Engine time the holds expire if not captured; `null`: never.
    pub deadline: Option<Dec64>,
}

impl CheckoutOutput {
    /// The output of a view; `None` if the view does not hold a checkout command (it always
    /// does: the engine stores only checkouts there).
    #[must_use]
    pub fn new(view: &CheckoutView) -> Option<CheckoutOutput> {
        Some(CheckoutOutput {
            checkout: CheckoutInput::new(&view.command)?,
            status: match view.status {
                CheckoutStatus::Authorized => CheckoutStatusName::Authorized,
                CheckoutStatus::Captured => CheckoutStatusName::Captured,
                CheckoutStatus::Voided => CheckoutStatusName::Voided,
                CheckoutStatus::Expired => CheckoutStatusName::Expired,
            },
            buyer_amount: Dec64(view.buyer_amount),
            discount: Dec64(view.discount),
            refunded: Dec64(view.refunded),
            deadline: (view.deadline != 0).then_some(Dec64(view.deadline)),
        })
    }
}

/// `GET /v1/promotions/campaigns/{id}/grabs/{user_id}`: the red packet a user grabbed.
#[derive(Serialize, ToSchema)]
pub struct GrabOutput {
    pub campaign_id: Dec128,
    pub user_id: Dec128,
    /// Fen; `"0"`: the user has not grabbed a packet of this pool (packets are at least one
    /// fen).
    pub amount: Dec64,
}

/// `GET /v1/promotions/campaigns/{id}/coins/{user_id}`: the coins a user earned in a coins
/// campaign.
#[derive(Serialize, ToSchema)]
pub struct CoinsOutput {
    pub campaign_id: Dec128,
    pub user_id: Dec128,
    /// Coins earned in all (expiry does not lower it); `"0"`: none.
    pub coins: Dec64,
}

/// `GET /v1/promotions/draws/{id}`: one lottery draw and what it won.
#[derive(Serialize, ToSchema)]
pub struct DrawOutput {
    pub id: Dec128,
    pub campaign_id: Dec128,
    pub user_id: Dec128,
    /// The draw's position in the lottery (0 for the first draw).
    pub position: u32,
    /// The prize number won; 0: nothing.
    pub prize: u8,
    /// The prize's kind; `null`: nothing won.
    pub kind: Option<PrizeKindName>,
    /// A cash prize's amount; `"0"` otherwise.
    pub amount: Dec64,
}

impl DrawOutput {
    #[must_use]
    pub fn new(view: &DrawView) -> DrawOutput {
        DrawOutput {
            id: Dec128(view.id),
            campaign_id: Dec128(view.campaign_id),
            user_id: Dec128(view.user_id),
            position: view.position,
            prize: view.prize,
            kind: view.kind.map(PrizeKindName::new),
            amount: Dec64(view.amount),
        }
    }
}

/// A lottery prize as added, and how many were won.
#[derive(Serialize, ToSchema)]
pub struct PrizeOutput {
    /// The prize number (1, 2, ...).
    pub prize: u8,
    pub kind: PrizeKindName,
    pub weight_ppm: u32,
    pub stock: u32,
    /// Won so far (at most `stock`).
    pub won: u32,
    /// Cash: the amount; `"0"` otherwise.
    pub amount: Dec64,
    /// Coupon: the coupon campaign; `"0"` otherwise.
    pub coupon_campaign_id: Dec128,
}

impl PrizeOutput {
    #[must_use]
    pub fn new(view: &PrizeView) -> PrizeOutput {
        PrizeOutput {
            prize: view.prize,
            kind: PrizeKindName::new(view.kind),
            weight_ppm: view.weight_ppm,
            stock: view.stock,
            won: view.won,
            amount: Dec64(view.amount),
            coupon_campaign_id: Dec128(view.coupon_campaign_id),
        }
    }
}

/// `GET /v1/promotions/campaigns/{id}/prizes`: a lottery's prizes, in order (none for other
/// kinds of campaign).
#[derive(Serialize, ToSchema)]
pub struct PrizesOutput {
    pub prizes: Vec<PrizeOutput>,
}

/// `GET /v1/promotions/best-coupons`: a basket to pay, as a checkout would carry it.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BestCouponsQuery {
    /// The user paying (decimal u128).
    #[param(value_type = String, required = true)]
    pub user_id: Option<String>,
    /// The merchant's account (decimal u128).
    #[param(value_type = String, required = true)]
    pub merchant_account_id: Option<String>,
    /// The payment's amount, fen (decimal u64).
    #[param(value_type = String, required = true)]
    pub amount: Option<String>,
    /// The paying card's issuer, BIN, and the merchant's category (decimal u32; default 0).
    #[param(value_type = Option<String>)]
    pub card_issuer: Option<String>,
    #[param(value_type = Option<String>)]
    pub card_bin: Option<String>,
    #[param(value_type = Option<String>)]
    pub category: Option<String>,
}

/// The user's coupons that give the basket the largest discount, in the order to list them on
/// the checkout (none: an empty list).
#[derive(Serialize, ToSchema)]
pub struct BestCouponsOutput {
    pub coupons: Vec<Dec128>,
    pub discount: Dec64,
    pub to_pay: Dec64,
}
