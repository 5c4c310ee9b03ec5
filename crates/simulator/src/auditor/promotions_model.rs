//! The auditor's model of the promotions engine: campaigns and their budgets, coupons issued and
//! claimed, payments carrying coupons (checkouts) by an ordinary account or on a credit line,
//! their captures, voids, expiries and refunds, red-packet grabs, lotteries (prizes, draws with
//! their cost and prizes), reward coins (check-ins, purchases, lots and their expiry) and
//! campaign rules, written from `docs/promotions.md` and the order in which the engine checks
//! (coupon by coupon in the order listed, then stacking, then the discounts in priority order,
//! then the payment).
//!
//! It shares no code with `promotions`: only its record types (`Campaign`, `Command`, `Offer`,
//! `CampaignKind`, `PrizeKind`, `StatusChange` and the record limits `COUPONS_MAX`,
//! `EXPIRE_MAX`, `PRIZES_MAX`, `DRAW_RANGE`), its status enums (those of its views) and its
//! result codes. The ids of the transfers promotions posts on its own (`derived_id`), the
//! double-average amounts and a draw's ticket are written out here from their documented
//! formulas; rules are the workload's templates, recognised and evaluated natively
//! ([`Condition`]), not compiled by `promotions::rule`. Every money
//! movement goes through the auditor's own ledger model as one linked chain, with the ledger's
//! timestamps (one per transfer, from the command's first), and a credit line pays through the
//! auditor's credit model with the coupon holds linked before its own transfer.
//!
//! The model keeps what the engine keeps, in the plainest form (`Vec`s and `BTreeMap`s). Where
//! the engine and `docs/promotions.md` differ it follows the document (`docs/simulator.md`,
//! "What it found"): an expired checkout is let go when the ledger expires its holds
//! (`Auditor::expire`) as well as at the first timestamp of each promotions command, and a
//! payment is one redemption of a campaign however many of its coupons it carries. Where the
//! document is silent (the ledger's refusals of promotions' transfers, mapped to promotions'
//! codes, directly or through credit's) it follows the engine.

use std::collections::{BTreeMap, BTreeSet};

use credit::CreditResult;
use ledger::{Account, AccountFlags, CreateAccountResult, CreateTransferResult, Transfer};
use ledger::{RESERVED_ID_MIN, TransferFlags};
use promotions::{
    COUPONS_MAX, Campaign, CampaignKind, CampaignStatus, CheckoutStatus, Command, CouponStatus,
    DRAW_RANGE, EXPIRE_MAX, Offer, PRIZES_MAX, PrizeKind, PromotionResult as R, StatusChange,
};
use stdx::Prng;

use super::Auditor;

const NS_PER_S: u64 = 1_000_000_000;
/// Tags of the derived ids: a coupon's hold, its capture, void and refund, a budget's return.
const TAG_HOLD: u32 = 0x10;
const TAG_CAPTURE: u32 = 0x20;
const TAG_VOID: u32 = 0x30;
const TAG_REFUND: u32 = 0x40;
const TAG_CLOSE: u32 = 0x50;
/// The payer's hold of a checkout paid by an ordinary account.
const TAG_PAYER: u32 = 0x60;
/// The return of an expired coin lot (based on its `earn_coins` id).
const TAG_EXPIRE: u32 = 0x70;
/// What a draw costs, paid into the lottery's budget (based on the draw's id).
const TAG_DRAW_COST: u32 = 0x80;
/// China Standard Time (UTC+8): the platform's business day, and the clock rules see.
const UTC_OFFSET_S: u64 = 8 * 3600;
const SECONDS_PER_DAY: u64 = 86_400;

/// The id of a transfer promotions posts on its own for `base` (a command or campaign id) and
/// `tag`: a reserved id in the upper half of the reserved range, from a SplitMix64-style mix
/// of the base's halves and the tag.
#[must_use]
pub fn derived_id(base: u128, tag: u32) -> u128 {
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    let low = u64::try_from(base & u128::from(u64::MAX)).expect("the low half");
    let high = u64::try_from(base >> 64).expect("the high half");
    let a = mix(low ^ mix(u64::from(tag).wrapping_add(0x9E37_79B9_7F4A_7C15)));
    let b = mix(high ^ a.rotate_left(17) ^ 0xD6E8_FEB8_6659_FD93);
    let bits = ((u128::from(b) << 64) | u128::from(a)) & ((1 << 95) - 1);
    let id = RESERVED_ID_MIN + (1 << 95) + bits;
    if id == u128::MAX { id - 1 } else { id }
}

/// The double-average method (`docs/promotions.md`, "Red packets"): with `remaining` fen for
/// `count` packets, a uniform amount in `1 ..= min(2·remaining/count − 1, remaining −
/// (count − 1))`, the last taking the rest; drawn from the generator seeded by
/// `seed ^ position · 0x9E3779B97F4A7C15`.
#[must_use]
pub fn double_average(remaining: u64, count: u32, seed: u64, position: u32) -> u64 {
    if count == 1 {
        return remaining;
    }
    let count = u64::from(count);
    let twice_average = remaining * 2 / count;
    let high = (twice_average - 1).min(remaining - (count - 1));
    let mut prng = Prng::new(seed ^ u64::from(position).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    prng.range(1, high)
}

/// A campaign as the model keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelCampaign {
    pub record: Campaign,
    pub status: CampaignStatus,
    /// Coupons issued or claimed; red packets: packets grabbed.
    pub issued: u32,
    /// Payments holding or having used one of its coupons.
    pub redemptions: u32,
    pub funded: u64,
    pub returned: u64,
    pub reserved: u64,
    pub spent: u64,
    pub grabbed: u64,
}

impl ModelCampaign {
    /// What the budget account holds: funded less what left it for good.
    #[must_use]
    pub fn held(&self) -> u64 {
        self.funded - self.returned - self.spent - self.grabbed
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelCoupon {
    pub id: u128,
    /// Index of its campaign, in creation order.
    pub campaign: usize,
    pub user_id: u128,
    pub claimed: bool,
    /// 0: valid until the campaign ends.
    pub expires_at: u64,
    pub status: CouponStatus,
    /// Index of the checkout reserving or using it.
    pub checkout: Option<usize>,
}

/// One coupon applied to a checkout, in the order the discounts were worked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelApplied {
    /// Index of the coupon.
    pub coupon: usize,
    pub discount: u64,
    pub refunded: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelCheckout {
    pub command: Command,
    pub id: u128,
    pub user_id: u128,
    pub payer_id: u128,
    pub merchant_account_id: u128,
    pub amount: u64,
    pub timeout: u32,
    pub code: u16,
    pub payer_line: bool,
    /// What the payer pays: the amount less the discounts.
    pub buyer_amount: u64,
    pub applied: Vec<ModelApplied>,
    /// When its holds expire (0: never).
    pub deadline: u64,
    pub status: CheckoutStatus,
    pub buyer_refunded: u64,
}

impl ModelCheckout {
    #[must_use]
    pub fn discount(&self) -> u64 {
        self.applied.iter().map(|a| a.discount).sum()
    }

    #[must_use]
    pub fn refunded(&self) -> u64 {
        self.buyer_refunded + self.applied.iter().map(|a| a.refunded).sum::<u64>()
    }
}

/// What one user did in one campaign.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelUsage {
    pub coupons: u32,
    pub redemptions: u32,
    pub discount: u64,
    /// The packet grabbed (0: none).
    pub grabbed: u64,
    /// Lotteries: draws made.
    pub draws: u32,
    /// Coins: the business day of the last check-in (`None`: never).
    pub checked_in: Option<u64>,
    /// Coins: coins earned (expiry does not lower it).
    pub coins: u64,
}

/// A lottery prize and how many were won.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelPrize {
    pub kind: PrizeKind,
    pub weight_ppm: u32,
    pub stock: u32,
    pub won: u32,
    pub amount: u64,
    /// Coupon prizes: the index of the coupon campaign.
    pub coupon_campaign: Option<usize>,
}

/// One draw of a lottery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelDraw {
    pub id: u128,
    /// Index of the lottery.
    pub campaign: usize,
    pub user_id: u128,
    pub position: u32,
    /// The prize number won (0: nothing).
    pub prize: u8,
}

/// Coins one earning paid, valid until `expires_at` (earnings that never expire have no lot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelLot {
    /// The `earn_coins` id.
    pub id: u128,
    pub campaign: usize,
    pub account_id: u128,
    pub amount: u64,
    pub expires_at: u64,
    /// What expiry took back, once it is done.
    pub taken: u64,
    pub done: bool,
}

/// What expiry knows of a coin account: spending charged to expired lots, coins taken back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelCoinAccount {
    pub consumed: u128,
    pub expired: u128,
}

/// What a campaign's rule says, for the texts the workload sends (`docs/promotions.md`, "Rules
/// as data"), evaluated here natively. Any other text is taken not to compile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// `amount >= N`
    AmountAtLeast(i64),
    /// `amount >= N && merchant == M`
    AmountAtLeastAt(i64, i64),
    /// `hour < H`
    HourBelow(i64),
    /// `segments == S`
    SegmentsAre(i64),
    /// `user_draws < K`
    DrawsBelow(i64),
    /// `user_coupons < K`
    CouponsBelow(i64),
    /// `user_redemptions < K`
    RedemptionsBelow(i64),
    /// `weekday in [A, B, ...]`
    WeekdayIn(Vec<i64>),
    /// `day % 2 == P`
    DayParity(i64),
    /// `bin in LO..=HI || issuer == I`
    BinOrIssuer(i64, i64, i64),
    /// `!(category == C)`
    CategoryNot(i64),
}

impl Condition {
    /// The condition a rule text states, if it is one of the templates (exactly as written
    /// there: single spaces, decimal literals with `_` allowed after the first digit).
    #[must_use]
    pub fn parse(text: &str) -> Option<Condition> {
        fn int(text: &str) -> Option<i64> {
            let first = text.chars().next()?;
            if !first.is_ascii_digit() || !text.chars().all(|c| c.is_ascii_digit() || c == '_') {
                return None;
            }
            text.replace('_', "").parse().ok()
        }
        if let Some(rest) = text.strip_prefix("amount >= ") {
            return match rest.split_once(" && merchant == ") {
                Some((n, m)) => Some(Condition::AmountAtLeastAt(int(n)?, int(m)?)),
                None => Some(Condition::AmountAtLeast(int(rest)?)),
            };
        }
        if let Some(rest) = text.strip_prefix("weekday in [") {
            let items = rest.strip_suffix(']')?;
            let days: Option<Vec<i64>> = items.split(", ").map(int).collect();
            let days = days?;
            return (!days.is_empty() && days.len() <= 16).then_some(Condition::WeekdayIn(days));
        }
        if let Some(rest) = text.strip_prefix("bin in ") {
            let (range, issuer) = rest.split_once(" || issuer == ")?;
            let (low, high) = range.split_once("..=")?;
            return Some(Condition::BinOrIssuer(int(low)?, int(high)?, int(issuer)?));
        }
        if let Some(rest) = text.strip_prefix("!(category == ") {
            return Some(Condition::CategoryNot(int(rest.strip_suffix(')')?)?));
        }
        type Make = fn(i64) -> Condition;
        let simple: [(&str, Make); 6] = [
            ("hour < ", Condition::HourBelow),
            ("segments == ", Condition::SegmentsAre),
            ("user_draws < ", Condition::DrawsBelow),
            ("user_coupons < ", Condition::CouponsBelow),
            ("user_redemptions < ", Condition::RedemptionsBelow),
            ("day % 2 == ", Condition::DayParity),
        ];
        simple.iter().find_map(|(prefix, make)| {
            let n = int(text.strip_prefix(prefix)?)?;
            Some(make(n))
        })
    }

    /// Whether it holds for these facts, at engine time `now` (China time), for a user who did
    /// `usage` in the campaign so far.
    pub(crate) fn holds(&self, facts: &RuleFacts, usage: &ModelUsage, now: u64) -> bool {
        let local = now / NS_PER_S + UTC_OFFSET_S;
        let day = i64::try_from(local / SECONDS_PER_DAY).expect("days fit");
        let hour = i64::try_from(local % SECONDS_PER_DAY / 3600).expect("an hour");
        // 1970-01-01 was a Thursday; Monday is 0.
        let weekday = (day + 3) % 7;
        let amount = i64::try_from(facts.amount).unwrap_or(i64::MAX);
        // The merchant's low 63 bits.
        let merchant = i64::try_from(facts.merchant % (1 << 63)).expect("63 bits");
        match self {
            Condition::AmountAtLeast(n) => amount >= *n,
            Condition::AmountAtLeastAt(n, m) => amount >= *n && merchant == *m,
            Condition::HourBelow(h) => hour < *h,
            Condition::SegmentsAre(s) => i64::from(facts.segments) == *s,
            Condition::DrawsBelow(k) => i64::from(usage.draws) < *k,
            Condition::CouponsBelow(k) => i64::from(usage.coupons) < *k,
            Condition::RedemptionsBelow(k) => i64::from(usage.redemptions) < *k,
            Condition::WeekdayIn(days) => days.contains(&weekday),
            Condition::DayParity(p) => day % 2 == *p,
            Condition::BinOrIssuer(low, high, issuer) => {
                let bin = i64::from(facts.bin);
                (*low <= bin && bin <= *high) || i64::from(facts.issuer) == *issuer
            }
            Condition::CategoryNot(c) => i64::from(facts.category) != *c,
        }
    }
}

/// A campaign's rule: its text (as the view shows it) and what it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelRule {
    pub text: String,
    pub condition: Condition,
}

/// What a command tells a rule (`docs/promotions.md`: the payment's amount, merchant,
/// category, card issuer and BIN, and the user's segments; zero where the command has none).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RuleFacts {
    pub(crate) amount: u64,
    pub(crate) merchant: u128,
    pub(crate) category: u32,
    pub(crate) issuer: u32,
    pub(crate) bin: u32,
    pub(crate) segments: u32,
}

/// The promotions engine's state, as the model keeps it.
#[derive(Debug, Default)]
pub struct PromotionsModel {
    pub campaigns: Vec<ModelCampaign>,
    pub campaign_index: BTreeMap<u128, usize>,
    pub coupons: Vec<ModelCoupon>,
    pub coupon_index: BTreeMap<u128, usize>,
    pub checkouts: Vec<ModelCheckout>,
    pub checkout_index: BTreeMap<u128, usize>,
    /// By (campaign index, user id).
    pub usage: BTreeMap<(usize, u128), ModelUsage>,
    /// Commands that posted under their own id (fund, capture, void, refund, grab, draw,
    /// earn).
    pub ops: BTreeMap<u128, Command>,
    /// Lotteries' prizes, by campaign index, in order.
    pub prizes: BTreeMap<usize, Vec<ModelPrize>>,
    pub draws: Vec<ModelDraw>,
    pub draw_index: BTreeMap<u128, usize>,
    /// Coin lots, in the order they were earned.
    pub lots: Vec<ModelLot>,
    /// Red packets grabbed onto credit lines (bill credits), for the report.
    pub grabs_on_lines: u64,
    pub coin_accounts: BTreeMap<u128, ModelCoinAccount>,
    /// (coins campaign index, checkout index): purchases that earned coins.
    pub coins_earned: BTreeSet<(usize, usize)>,
    /// Campaigns' rules, by campaign index.
    pub rules: BTreeMap<usize, ModelRule>,
}

impl PromotionsModel {
    #[must_use]
    pub fn campaign(&self, id: u128) -> Option<&ModelCampaign> {
        self.campaign_index.get(&id).map(|&i| &self.campaigns[i])
    }

    #[must_use]
    pub fn checkout(&self, id: u128) -> Option<&ModelCheckout> {
        self.checkout_index.get(&id).map(|&i| &self.checkouts[i])
    }

    /// A lottery's prizes (empty for any other campaign).
    #[must_use]
    pub fn prizes_of(&self, campaign: usize) -> &[ModelPrize] {
        self.prizes.get(&campaign).map_or(&[], Vec::as_slice)
    }

    /// Coin lots of campaign `campaign` past their validity at `now`, not taken back yet.
    #[must_use]
    pub fn lots_due(&self, campaign: usize, now: u64) -> usize {
        self.lots
            .iter()
            .filter(|l| l.campaign == campaign && !l.done && l.expires_at <= now)
            .count()
    }

    /// Whether campaign `campaign`'s rule, if it has one, holds.
    fn rule_holds(&self, campaign: usize, user_id: u128, now: u64, facts: &RuleFacts) -> bool {
        self.rules.get(&campaign).is_none_or(|rule| {
            rule.condition
                .holds(facts, &self.usage(campaign, user_id), now)
        })
    }

    /// Why coupon campaign `campaign` cannot give a coupon to `user_id` now: its status, its
    /// window (an operator or a lottery may issue before it opens, a user claims while it
    /// runs), segments, stock, the per-user limit, and for a claim its rule.
    fn issue_refusal(
        &self,
        campaign: usize,
        user_id: u128,
        user_segments: u32,
        now: u64,
        claimed: bool,
    ) -> Option<R> {
        let c = &self.campaigns[campaign];
        let r = &c.record;
        match c.status {
            CampaignStatus::Closed => return Some(R::CampaignClosed),
            CampaignStatus::Paused => return Some(R::CampaignPaused),
            CampaignStatus::Active => {}
        }
        match window_refusal(r, now) {
            Some(R::CampaignNotStarted) if !claimed => {}
            Some(code) => return Some(code),
            None => {}
        }
        if r.eligible_segments != 0 && r.eligible_segments & user_segments == 0 {
            return Some(R::UserNotEligible);
        }
        if r.stock != 0 && c.issued >= r.stock {
            return Some(R::StockExhausted);
        }
        let usage = self.usage(campaign, user_id);
        if r.coupons_per_user != 0 && usage.coupons >= r.coupons_per_user {
            return Some(R::PerUserCouponLimit);
        }
        let facts = RuleFacts {
            segments: user_segments,
            ..RuleFacts::default()
        };
        if claimed && !self.rule_holds(campaign, user_id, now, &facts) {
            return Some(R::RuleNotMet);
        }
        None
    }

    /// Gives coupon `id` of campaign `campaign` to `user_id` (`issue_refusal` said yes).
    fn push_coupon(&mut self, id: u128, campaign: usize, user_id: u128, now: u64, claimed: bool) {
        let r = self.campaigns[campaign].record;
        let expires_at = if r.coupon_valid_for == 0 {
            0
        } else {
            now.saturating_add(u64::from(r.coupon_valid_for) * NS_PER_S)
        };
        self.campaigns[campaign].issued += 1;
        self.usage.entry((campaign, user_id)).or_default().coupons += 1;
        self.coupon_index.insert(id, self.coupons.len());
        self.coupons.push(ModelCoupon {
            id,
            campaign,
            user_id,
            claimed,
            expires_at,
            status: CouponStatus::Available,
            checkout: None,
        });
    }

    fn usage(&self, campaign: usize, user_id: u128) -> ModelUsage {
        self.usage
            .get(&(campaign, user_id))
            .copied()
            .unwrap_or_default()
    }

    /// Lets every live checkout whose deadline is at or before `now` go (its coupons free,
    /// its reservations and redemptions given back).
    pub(super) fn expire(&mut self, now: u64) {
        let due: Vec<usize> = self
            .checkouts
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.status == CheckoutStatus::Authorized && c.deadline != 0 && c.deadline <= now
            })
            .map(|(i, _)| i)
            .collect();
        for index in due {
            self.release(index, CheckoutStatus::Expired);
        }
    }

    fn release(&mut self, index: usize, status: CheckoutStatus) {
        self.checkouts[index].status = status;
        let user_id = self.checkouts[index].user_id;
        let applied = self.checkouts[index].applied.clone();
        for a in &applied {
            let coupon = &mut self.coupons[a.coupon];
            coupon.status = CouponStatus::Available;
            coupon.checkout = None;
            let campaign = coupon.campaign;
            self.campaigns[campaign].reserved -= a.discount;
            self.usage
                .get_mut(&(campaign, user_id))
                .expect("a reserving user")
                .discount -= a.discount;
        }
        for campaign in self.redeemed(&applied) {
            self.campaigns[campaign].redemptions -= 1;
            self.usage
                .get_mut(&(campaign, user_id))
                .expect("a reserving user")
                .redemptions -= 1;
        }
    }

    /// The campaigns a payment redeems: one redemption each, however many of its coupons the
    /// payment carries (`docs/promotions.md`: redemptions are payments using one of its
    /// coupons).
    fn redeemed(&self, applied: &[ModelApplied]) -> Vec<usize> {
        let mut campaigns: Vec<usize> = Vec::new();
        for a in applied {
            let campaign = self.coupons[a.coupon].campaign;
            if !campaigns.contains(&campaign) {
                campaigns.push(campaign);
            }
        }
        campaigns
    }
}

/// The id checks of everything with a client-chosen id.
fn id_refusal(id: u128) -> Option<R> {
    if id == 0 {
        Some(R::IdMustNotBeZero)
    } else if id == u128::MAX {
        Some(R::IdMustNotBeIntMax)
    } else if id >= RESERVED_ID_MIN {
        Some(R::IdMustNotBeReserved)
    } else {
        None
    }
}

/// The promotions code for the ledger's refusal of a transfer promotions posts.
fn from_ledger(result: CreateTransferResult) -> R {
    use CreateTransferResult as L;
    match result {
        L::Ok => R::Ok,
        L::Exists => R::Exists,
        L::DebitAccountNotFound | L::CreditAccountNotFound => R::AccountNotFound,
        L::AccountsMustHaveTheSameLedger | L::TransferMustHaveTheSameLedgerAsAccounts => {
            R::LedgerMismatch
        }
        L::DebitAccountAlreadyClosed | L::CreditAccountAlreadyClosed => R::AccountClosed,
        L::OverflowsDebitsPending
        | L::OverflowsCreditsPending
        | L::OverflowsDebitsPosted
        | L::OverflowsCreditsPosted
        | L::OverflowsDebits
        | L::OverflowsCredits
        | L::OverflowsTimeout => R::OverflowsBalance,
        L::ExceedsCredits | L::ExceedsDebits => R::InsufficientFunds,
        L::PendingTransferExpired => R::CheckoutExpired,
        L::IdAlreadyFailed => R::IdAlreadyUsed,
        _ => R::LedgerRejected,
    }
}

/// The promotions code for a credit line's refusal to pay (or to take a refund).
fn from_credit(code: CreditResult) -> R {
    use CreditResult as C;
    match code {
        C::Ok => R::Ok,
        C::InsufficientCredit => R::InsufficientFunds,
        C::LineFrozen | C::LineClosed | C::LineWrittenOff | C::LineOverdue => R::CreditRefused,
        C::AccountNotFound => R::MerchantNotFound,
        C::AccountIsManaged => R::MerchantIsManaged,
        C::AccountLedgerMismatch => R::LedgerMismatch,
        C::InsufficientFunds => R::BudgetExhausted,
        C::OverflowsBalance | C::OverflowsLineCounters | C::OverflowsFundingCounters => {
            R::OverflowsBalance
        }
        C::PurchaseExpired => R::CheckoutExpired,
        _ => R::CreditRefused,
    }
}

/// Ledger timestamps a command may use: one per transfer it can post.
pub(super) fn ticks_of(command: &Command) -> u64 {
    match command {
        Command::Checkout { .. }
        | Command::CaptureCheckout { .. }
        | Command::VoidCheckout { .. }
        | Command::RefundCheckout { .. } => COUPONS_MAX as u64 + 1,
        // One per lot it may take back.
        Command::ExpireCoins { .. } => EXPIRE_MAX as u64,
        // A draw's cost and its cash prize.
        Command::DrawLottery { .. } => 2,
        _ => 1,
    }
}

/// A transfer a campaign posts: its ledger and code, the campaign id in `user_data_128`.
fn campaign_transfer(c: &Campaign, id: u128, from: u128, to: u128, amount: u64) -> Transfer {
    Transfer {
        id,
        debit_account_id: from,
        credit_account_id: to,
        amount: u128::from(amount),
        ledger: c.ledger,
        code: c.code,
        user_data_128: c.id,
        ..Transfer::default()
    }
}

/// The coupon hold `k` of a checkout: pending, budget to merchant.
fn hold(
    c: &Campaign,
    checkout_id: u128,
    k: usize,
    merchant: u128,
    discount: u64,
    timeout: u32,
) -> Transfer {
    Transfer {
        timeout,
        flags: TransferFlags(TransferFlags::PENDING),
        ..campaign_transfer(
            c,
            derived_id(checkout_id, TAG_HOLD + k as u32),
            c.budget_account_id,
            merchant,
            discount,
        )
    }
}

/// A post or void of `pending` under `id`, every field stated.
fn resolve(pending: &Transfer, id: u128, void: bool) -> Transfer {
    Transfer {
        id,
        pending_id: pending.id,
        amount: pending.amount,
        ledger: pending.ledger,
        code: pending.code,
        user_data_128: pending.user_data_128,
        flags: TransferFlags(if void {
            TransferFlags::VOID_PENDING_TRANSFER
        } else {
            TransferFlags::POST_PENDING_TRANSFER
        }),
        ..Transfer::default()
    }
}

fn window_refusal(c: &Campaign, now: u64) -> Option<R> {
    if now < c.starts_at {
        Some(R::CampaignNotStarted)
    } else if c.ends_at != 0 && now >= c.ends_at {
        Some(R::CampaignEnded)
    } else {
        None
    }
}

/// `docs/promotions.md`, "Coupons": the discount on a payment of `gross` with `left` not yet
/// discounted, or `None` below the threshold.
fn offer_discount(offer: Offer, gross: u64, left: u64) -> Option<u64> {
    match offer {
        Offer::Threshold { min_spend, amount } => (gross >= min_spend).then(|| amount.min(left)),
        Offer::Percent {
            min_spend,
            bps,
            cap,
        } => (gross >= min_spend).then(|| {
            let share = u128::from(left) * u128::from(bps) / 10_000;
            let share = u64::try_from(share).expect("at most left");
            if cap == 0 { share } else { share.min(cap) }
        }),
        Offer::FreeOrder { cap } => Some(left.min(cap)),
    }
}

/// The coupons a checkout will apply.
struct Plan {
    applied: Vec<ModelApplied>,
    buyer: u64,
}

impl Auditor {
    /// Posts transfers as the engine's product modules do: one linked chain, one timestamp
    /// each from `first` (due pending transfers expire at `first`), reserved ids and managed
    /// accounts allowed. On a refusal, the index and code of the transfer that failed (`None`:
    /// only `linked_event_failed`s, which the engine calls `ledger_rejected`).
    pub(super) fn post_linked(
        &mut self,
        first: u64,
        transfers: &[Transfer],
    ) -> Result<(), (usize, Option<CreateTransferResult>)> {
        let mut chain = transfers.to_vec();
        let n = chain.len();
        for t in &mut chain[..n - 1] {
            t.flags.0 |= TransferFlags::LINKED;
        }
        self.expire(first);
        self.ledger_time = first + n as u64 - 1;
        self.engine_posting = true;
        let results = self.chains(
            &chain,
            first,
            |t| t.flags.linked(),
            |t| t.id,
            Auditor::create_transfer,
            CreateTransferResult::Ok,
            CreateTransferResult::LinkedEventFailed,
            CreateTransferResult::LinkedEventChainOpen,
        );
        self.engine_posting = false;
        if results.iter().all(|r| *r == CreateTransferResult::Ok) {
            return Ok(());
        }
        Err(results
            .iter()
            .position(|r| {
                !matches!(
                    r,
                    CreateTransferResult::Ok | CreateTransferResult::LinkedEventFailed
                )
            })
            .map_or((0, None), |i| (i, Some(results[i]))))
    }

    /// Posts a chain for promotions, with its code for a refusal.
    fn promotions_post(&mut self, first: u64, transfers: &[Transfer]) -> Result<(), (usize, R)> {
        self.post_linked(first, transfers)
            .map_err(|(i, code)| (i, code.map_or(R::LedgerRejected, from_ledger)))
    }

    /// Creates a campaign and its budget account at `timestamp`.
    pub(super) fn create_campaign(&mut self, timestamp: u64, c: &Campaign) -> R {
        if let Some(code) = id_refusal(c.id) {
            return code;
        }
        if let Some(existing) = self.promotions.campaign(c.id) {
            return if existing.record == *c {
                R::Exists
            } else {
                R::ExistsWithDifferentFields
            };
        }
        if c.ledger == 0 {
            return R::LedgerMustNotBeZero;
        }
        if c.code == 0 {
            return R::CodeMustNotBeZero;
        }
        if c.ends_at != 0 && c.ends_at <= c.starts_at {
            return R::WindowInvalid;
        }
        match c.kind {
            CampaignKind::Coupon => {
                let valid = match c.offer {
                    Offer::Threshold { min_spend, amount } => amount > 0 && amount <= min_spend,
                    Offer::Percent { bps, .. } => (1..=10_000).contains(&bps),
                    Offer::FreeOrder { cap } => cap > 0,
                };
                if !valid {
                    return R::OfferInvalid;
                }
                if c.bin_low > c.bin_high {
                    return R::BinRangeInvalid;
                }
                if c.pool_amount != 0 || c.seed != 0 {
                    return R::ReservedField;
                }
            }
            CampaignKind::RedPacket => {
                if c.stock == 0 || c.pool_amount < u64::from(c.stock) {
                    return R::PoolInvalid;
                }
            }
            CampaignKind::Lottery | CampaignKind::Coins => {
                if c.pool_amount != 0 {
                    return R::ReservedField;
                }
            }
        }
        let coins = c.coins_per_check_in != 0 || c.coins_per_yuan != 0;
        if c.kind == CampaignKind::Coins && !coins {
            return R::OfferInvalid;
        }
        if (c.kind != CampaignKind::Coins && (coins || c.coins_valid_for != 0))
            || (c.kind != CampaignKind::Lottery && (c.draws_per_user != 0 || c.draw_cost != 0))
        {
            return R::ReservedField;
        }
        match self.accounts.get(&c.sponsor_account_id) {
            None => return R::SponsorAccountNotFound,
            Some(a) if a.account.flags.managed() || a.account.ledger != c.ledger => {
                return R::SponsorAccountInvalid;
            }
            Some(_) => {}
        }
        if id_refusal(c.budget_account_id).is_some()
            || self.accounts.contains_key(&c.budget_account_id)
        {
            return R::BudgetAccountIdTaken;
        }
        let budget = Account {
            id: c.budget_account_id,
            ledger: c.ledger,
            code: c.code,
            user_data_128: c.id,
            flags: AccountFlags(
                AccountFlags::MANAGED | AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            ),
            ..Account::default()
        };
        self.expire(timestamp);
        self.ledger_time = timestamp;
        let created = self.chains(
            std::slice::from_ref(&budget),
            timestamp,
            |a| a.flags.linked(),
            |a| a.id,
            Auditor::create_account,
            CreateAccountResult::Ok,
            CreateAccountResult::LinkedEventFailed,
            CreateAccountResult::LinkedEventChainOpen,
        )[0];
        if created != CreateAccountResult::Ok {
            return R::LedgerRejected;
        }
        let p = &mut self.promotions;
        p.campaign_index.insert(c.id, p.campaigns.len());
        p.campaigns.push(ModelCampaign {
            record: *c,
            status: CampaignStatus::Active,
            issued: 0,
            redemptions: 0,
            funded: 0,
            returned: 0,
            reserved: 0,
            spent: 0,
            grabbed: 0,
        });
        R::Ok
    }

    /// Executes one promotions command whose ledger events take timestamps from `first` on.
    /// Expired checkouts are let go first, at `first`.
    pub(super) fn promotions_command(&mut self, first: u64, command: &Command) -> R {
        self.promotions.expire(first);
        match *command {
            Command::FundCampaign {
                id,
                campaign_id,
                amount,
            } => self.fund(first, command, id, campaign_id, amount),
            Command::SetCampaignStatus {
                campaign_id,
                change,
            } => self.set_campaign_status(first, campaign_id, change),
            Command::IssueCoupon { .. } => self.issue(first, command, false),
            Command::ClaimCoupon { .. } => self.issue(first, command, true),
            Command::Checkout { .. } => self.checkout(first, command),
            Command::CaptureCheckout { id, checkout_id } => {
                self.resolve_checkout(first, command, id, checkout_id, false)
            }
            Command::VoidCheckout { id, checkout_id } => {
                self.resolve_checkout(first, command, id, checkout_id, true)
            }
            Command::RefundCheckout {
                id,
                checkout_id,
                amount,
            } => self.refund_checkout(first, command, id, checkout_id, amount),
            Command::GrabRedPacket { .. } => self.grab(first, command),
            Command::AddPrize { .. } => self.promotions.add_prize(command),
            Command::DrawLottery { .. } => self.draw_lottery(first, command),
            Command::EarnCoins { .. } => self.earn_coins(first, command),
            Command::ExpireCoins { campaign_id } => self.expire_coins(first, campaign_id),
            Command::SetCampaignRule {
                campaign_id,
                len,
                text,
            } => self.promotions.set_rule(campaign_id, len, &text),
        }
    }

    /// The refusal of an id a command posts under: a bad id, a retry of an earlier command
    /// (`exists` if the same), or the id of a checkout or a transfer.
    fn op_refusal(&self, id: u128, command: &Command) -> Option<R> {
        if let Some(code) = id_refusal(id) {
            return Some(code);
        }
        if let Some(op) = self.promotions.ops.get(&id) {
            return Some(if op == command {
                R::Exists
            } else {
                R::ExistsWithDifferentFields
            });
        }
        if self.promotions.checkout_index.contains_key(&id) || self.transfers.contains_key(&id) {
            return Some(R::IdAlreadyUsed);
        }
        None
    }

    /// An active campaign of `kind`.
    fn live_campaign(&self, campaign_id: u128, kind: CampaignKind) -> Result<usize, R> {
        let &index = self
            .promotions
            .campaign_index
            .get(&campaign_id)
            .ok_or(R::CampaignNotFound)?;
        let c = &self.promotions.campaigns[index];
        if c.record.kind != kind {
            return Err(R::CampaignKindMismatch);
        }
        match c.status {
            CampaignStatus::Closed => Err(R::CampaignClosed),
            CampaignStatus::Paused => Err(R::CampaignPaused),
            CampaignStatus::Active => Ok(index),
        }
    }

    fn fund(
        &mut self,
        first: u64,
        command: &Command,
        id: u128,
        campaign_id: u128,
        amount: u64,
    ) -> R {
        if let Some(code) = self.op_refusal(id, command) {
            return code;
        }
        let Some(&index) = self.promotions.campaign_index.get(&campaign_id) else {
            return R::CampaignNotFound;
        };
        let c = self.promotions.campaigns[index];
        if c.status == CampaignStatus::Closed {
            return R::CampaignClosed;
        }
        if amount == 0 {
            return R::AmountMustNotBeZero;
        }
        if c.funded.checked_add(amount).is_none() {
            return R::OverflowsBalance;
        }
        let r = &c.record;
        let transfer = campaign_transfer(r, id, r.sponsor_account_id, r.budget_account_id, amount);
        if let Err((_, code)) = self.promotions_post(first, &[transfer]) {
            return code;
        }
        self.promotions.campaigns[index].funded += amount;
        self.promotions.ops.insert(id, *command);
        R::Ok
    }

    fn set_campaign_status(&mut self, first: u64, campaign_id: u128, change: StatusChange) -> R {
        let Some(&index) = self.promotions.campaign_index.get(&campaign_id) else {
            return R::CampaignNotFound;
        };
        let c = self.promotions.campaigns[index];
        let status = match (c.status, change) {
            // A change that already happened: a retry.
            (CampaignStatus::Closed, StatusChange::Close)
            | (CampaignStatus::Paused, StatusChange::Pause)
            | (CampaignStatus::Active, StatusChange::Resume) => return R::Ok,
            (CampaignStatus::Closed, _) => return R::CampaignClosed,
            (_, StatusChange::Pause) => CampaignStatus::Paused,
            (_, StatusChange::Resume) => CampaignStatus::Active,
            (_, StatusChange::Close) => {
                if c.reserved > 0 {
                    return R::CampaignHasReservations;
                }
                // Everything left goes back to the sponsor in one transfer.
                let left = c.held();
                if left > 0 {
                    let r = &c.record;
                    let transfer = campaign_transfer(
                        r,
                        derived_id(campaign_id, TAG_CLOSE),
                        r.budget_account_id,
                        r.sponsor_account_id,
                        left,
                    );
                    if let Err((_, code)) = self.promotions_post(first, &[transfer]) {
                        return code;
                    }
                    self.promotions.campaigns[index].returned += left;
                }
                CampaignStatus::Closed
            }
        };
        self.promotions.campaigns[index].status = status;
        R::Ok
    }

    /// `issue_coupon` (an operator, allowed before the window opens) or `claim_coupon` (a user,
    /// only while the campaign runs).
    fn issue(&mut self, now: u64, command: &Command, claimed: bool) -> R {
        let (Command::IssueCoupon {
            id,
            campaign_id,
            user_id,
            user_segments,
        }
        | Command::ClaimCoupon {
            id,
            campaign_id,
            user_id,
            user_segments,
        }) = *command
        else {
            unreachable!("issue takes issues and claims")
        };
        if let Some(code) = id_refusal(id) {
            return code;
        }
        let p = &self.promotions;
        if let Some(&index) = p.coupon_index.get(&id) {
            let coupon = &p.coupons[index];
            let same = p.campaigns[coupon.campaign].record.id == campaign_id
                && coupon.user_id == user_id
                && coupon.claimed == claimed;
            return if same {
                R::Exists
            } else {
                R::ExistsWithDifferentFields
            };
        }
        let index = match self.live_campaign(campaign_id, CampaignKind::Coupon) {
            Ok(index) => index,
            Err(code) => return code,
        };
        if let Some(code) =
            self.promotions
                .issue_refusal(index, user_id, user_segments, now, claimed)
        {
            return code;
        }
        self.promotions
            .push_coupon(id, index, user_id, now, claimed);
        R::Ok
    }

    /// Checks a checkout's coupons, coupon by coupon in the order listed, then stacking; then
    /// works out the discounts, higher priority first, each on what the earlier ones left, with
    /// the per-user limits, the redemption cap and the budget.
    fn plan(&self, now: u64, command: &Command) -> Result<Plan, R> {
        let Command::Checkout {
            user_id,
            merchant_account_id,
            amount,
            card_issuer,
            card_bin,
            category,
            coupons,
            ..
        } = *command
        else {
            unreachable!("plan takes checkouts")
        };
        let p = &self.promotions;
        let listed = coupons.iter().take_while(|&&c| c != 0).count();
        if coupons[listed..].iter().any(|&c| c != 0) {
            return Err(R::ReservedField);
        }
        let mut indexes = Vec::with_capacity(listed);
        for (slot, &id) in coupons[..listed].iter().enumerate() {
            if coupons[..slot].contains(&id) {
                return Err(R::CouponListedTwice);
            }
            let &index = p.coupon_index.get(&id).ok_or(R::CouponNotFound)?;
            let coupon = &p.coupons[index];
            if coupon.user_id != user_id {
                return Err(R::CouponNotOwned);
            }
            match coupon.status {
                CouponStatus::Reserved => return Err(R::CouponReserved),
                CouponStatus::Used => return Err(R::CouponUsed),
                CouponStatus::Available => {}
            }
            let c = &p.campaigns[coupon.campaign];
            match c.status {
                CampaignStatus::Closed => return Err(R::CampaignClosed),
                CampaignStatus::Paused => return Err(R::CampaignPaused),
                CampaignStatus::Active => {}
            }
            if let Some(code) = window_refusal(&c.record, now) {
                return Err(code);
            }
            if coupon.expires_at != 0 && now >= coupon.expires_at {
                return Err(R::CouponExpired);
            }
            let r = &c.record;
            if r.merchant_account_id != 0 && r.merchant_account_id != merchant_account_id {
                return Err(R::MerchantNotEligible);
            }
            if r.category != 0 && r.category != category {
                return Err(R::CategoryNotEligible);
            }
            let issuer_ok = r.card_issuer == 0 || r.card_issuer == card_issuer;
            let bin_ok = (r.bin_low == 0 && r.bin_high == 0)
                || (r.bin_low <= card_bin && card_bin <= r.bin_high);
            if !issuer_ok || !bin_ok {
                return Err(R::InstrumentNotEligible);
            }
            // The campaign's rule sees the payment (and no segments: a payment states none).
            let facts = RuleFacts {
                amount,
                merchant: merchant_account_id,
                category,
                issuer: card_issuer,
                bin: card_bin,
                segments: 0,
            };
            if !p.rule_holds(coupon.campaign, user_id, now, &facts) {
                return Err(R::RuleNotMet);
            }
            indexes.push(index);
        }
        // Stacking: at most one coupon of each non-zero group; u32::MAX stands alone.
        let group = |index: usize| {
            p.campaigns[p.coupons[index].campaign]
                .record
                .exclusive_group
        };
        for (a, &index) in indexes.iter().enumerate() {
            let g = group(index);
            if g == u32::MAX && listed > 1 {
                return Err(R::CouponsNotStackable);
            }
            if g != 0 && indexes[..a].iter().any(|&other| group(other) == g) {
                return Err(R::CouponsNotStackable);
            }
        }
        // Higher priority first; equal priorities in the order listed.
        let mut order: Vec<usize> = (0..listed).collect();
        order.sort_by_key(|&slot| {
            let priority = p.campaigns[p.coupons[indexes[slot]].campaign]
                .record
                .priority;
            (std::cmp::Reverse(priority), slot)
        });
        let mut plan = Plan {
            applied: Vec::new(),
            buyer: amount,
        };
        for slot in order {
            let coupon = p.coupons[indexes[slot]];
            let c = &p.campaigns[coupon.campaign];
            let r = &c.record;
            let mut discount =
                offer_discount(r.offer, amount, plan.buyer).ok_or(R::SpendBelowThreshold)?;
            // What this payment already takes from the same campaign.
            let same: Vec<&ModelApplied> = plan
                .applied
                .iter()
                .filter(|a| p.coupons[a.coupon].campaign == coupon.campaign)
                .collect();
            let taken_count = u32::try_from(same.len()).expect("a few");
            let taken: u64 = same.iter().map(|a| a.discount).sum();
            let usage = p.usage(coupon.campaign, user_id);
            // A payment is one redemption of a campaign, counted at its first coupon of it.
            let redeems = taken_count == 0;
            if r.redemptions_per_user != 0 && redeems && usage.redemptions >= r.redemptions_per_user
            {
                return Err(R::PerUserRedemptionLimit);
            }
            if r.discount_per_user != 0 {
                let allowance = r
                    .discount_per_user
                    .saturating_sub(usage.discount)
                    .saturating_sub(taken);
                if allowance == 0 {
                    return Err(R::PerUserAmountLimit);
                }
                discount = discount.min(allowance);
            }
            if r.redemptions_max != 0 && redeems && c.redemptions >= r.redemptions_max {
                return Err(R::RedemptionsExhausted);
            }
            if discount == 0 {
                // Higher-priority coupons left nothing to discount.
                return Err(R::CouponsNotStackable);
            }
            // The budget left: what it holds less what live payments reserve.
            let budget = self.accounts[&r.budget_account_id].account;
            let free = budget
                .credits_posted
                .saturating_sub(budget.debits_posted)
                .saturating_sub(u128::from(c.reserved));
            if free < u128::from(taken) + u128::from(discount) {
                return Err(R::BudgetExhausted);
            }
            plan.buyer -= discount;
            plan.applied.push(ModelApplied {
                coupon: indexes[slot],
                discount,
                refunded: 0,
            });
        }
        Ok(plan)
    }

    fn checkout(&mut self, now: u64, command: &Command) -> R {
        let Command::Checkout {
            id,
            user_id,
            payer_id,
            merchant_account_id,
            amount,
            timeout,
            code,
            capture,
            ..
        } = *command
        else {
            unreachable!("checkout takes checkouts")
        };
        if let Some(code) = id_refusal(id) {
            return code;
        }
        if let Some(existing) = self.promotions.checkout(id) {
            return if existing.command == *command {
                R::Exists
            } else {
                R::ExistsWithDifferentFields
            };
        }
        if self.promotions.ops.contains_key(&id) || self.transfers.contains_key(&id) {
            return R::IdAlreadyUsed;
        }
        if amount == 0 {
            return R::AmountMustNotBeZero;
        }
        if capture && timeout != 0 {
            return R::TimeoutWithCapture;
        }
        let plan = match self.plan(now, command) {
            Ok(plan) => plan,
            Err(code) => return code,
        };
        let payer_line = self.credit.line(payer_id).is_some();
        let payer = match self.accounts.get(&payer_id) {
            None => return R::PayerNotFound,
            Some(a) if a.account.flags.managed() && !payer_line => return R::PayerIsManaged,
            Some(a) => a.account,
        };
        let merchant = match self.accounts.get(&merchant_account_id) {
            None => return R::MerchantNotFound,
            Some(a) if a.account.flags.managed() => return R::MerchantIsManaged,
            Some(a) => a.account,
        };
        if payer_id == merchant_account_id {
            return R::PayerIsMerchant;
        }
        let campaign_of = |auditor: &Auditor, a: &ModelApplied| {
            let p = &auditor.promotions;
            p.campaigns[p.coupons[a.coupon].campaign].record
        };
        if payer.ledger != merchant.ledger
            || plan
                .applied
                .iter()
                .any(|a| campaign_of(self, a).ledger != merchant.ledger)
        {
            return R::LedgerMismatch;
        }
        if !payer_line && plan.buyer > 0 && code == 0 {
            return R::CodeMustNotBeZero;
        }
        let deadline = if timeout == 0 {
            0
        } else {
            match now.checked_add(u64::from(timeout) * NS_PER_S) {
                Some(deadline) => deadline,
                None => return R::OverflowsBalance,
            }
        };
        let mut chain: Vec<Transfer> = plan
            .applied
            .iter()
            .enumerate()
            .map(|(k, a)| {
                let c = campaign_of(self, a);
                let mut t = hold(&c, id, k, merchant_account_id, a.discount, timeout);
                if capture {
                    // One step: each discount paid now, under its hold's id.
                    t.flags = TransferFlags(0);
                }
                t
            })
            .collect();
        let holds = chain.len();
        let result = if plan.buyer > 0 && payer_line {
            let linked = if capture {
                let purchase = credit::Purchased {
                    id,
                    line_id: payer_id,
                    merchant_account_id,
                    amount: plan.buyer,
                };
                self.credit_purchase_linked(now, purchase, &chain)
            } else {
                let authorize = credit::Command::Authorize {
                    id,
                    line_id: payer_id,
                    merchant_account_id,
                    amount: plan.buyer,
                    timeout,
                };
                self.credit_linked(now, &authorize, &chain)
            };
            match linked {
                (CreditResult::Ok, _) => R::Ok,
                (CreditResult::InsufficientFunds, Some(_)) => R::BudgetExhausted,
                (code, _) => from_credit(code),
            }
        } else {
            if plan.buyer > 0 {
                chain.push(Transfer {
                    id: derived_id(id, TAG_PAYER),
                    debit_account_id: payer_id,
                    credit_account_id: merchant_account_id,
                    amount: u128::from(plan.buyer),
                    timeout,
                    ledger: merchant.ledger,
                    code,
                    flags: TransferFlags(if capture { 0 } else { TransferFlags::PENDING }),
                    ..Transfer::default()
                });
            }
            match self.promotions_post(now, &chain) {
                Ok(()) => R::Ok,
                // A budget the ledger refuses (the last line of defence) is the budget's.
                Err((i, R::InsufficientFunds)) if i < holds => R::BudgetExhausted,
                Err((_, code)) => code,
            }
        };
        if result != R::Ok {
            return result;
        }
        let p = &mut self.promotions;
        let index = p.checkouts.len();
        for a in &plan.applied {
            let coupon = &mut p.coupons[a.coupon];
            coupon.status = if capture {
                CouponStatus::Used
            } else {
                CouponStatus::Reserved
            };
            coupon.checkout = Some(index);
            let campaign = coupon.campaign;
            if capture {
                p.campaigns[campaign].spent += a.discount;
            } else {
                p.campaigns[campaign].reserved += a.discount;
            }
            p.usage.entry((campaign, user_id)).or_default().discount += a.discount;
        }
        for campaign in p.redeemed(&plan.applied) {
            p.campaigns[campaign].redemptions += 1;
            p.usage.entry((campaign, user_id)).or_default().redemptions += 1;
        }
        p.checkout_index.insert(id, index);
        p.checkouts.push(ModelCheckout {
            command: *command,
            id,
            user_id,
            payer_id,
            merchant_account_id,
            amount,
            timeout,
            code,
            payer_line,
            buyer_amount: plan.buyer,
            applied: plan.applied,
            deadline,
            status: if capture {
                CheckoutStatus::Captured
            } else {
                CheckoutStatus::Authorized
            },
            buyer_refunded: 0,
        });
        R::Ok
    }

    /// Captures (posts) or voids every hold of a live checkout, as one chain.
    fn resolve_checkout(
        &mut self,
        first: u64,
        command: &Command,
        id: u128,
        checkout_id: u128,
        void: bool,
    ) -> R {
        if let Some(code) = self.op_refusal(id, command) {
            return code;
        }
        let Some(&index) = self.promotions.checkout_index.get(&checkout_id) else {
            return R::CheckoutNotFound;
        };
        let checkout = self.promotions.checkouts[index].clone();
        match checkout.status {
            CheckoutStatus::Authorized => {}
            CheckoutStatus::Captured => return R::CheckoutAlreadyCaptured,
            CheckoutStatus::Voided => return R::CheckoutAlreadyVoided,
            CheckoutStatus::Expired => return R::CheckoutExpired,
        }
        let tag = if void { TAG_VOID } else { TAG_CAPTURE };
        let mut chain: Vec<Transfer> = checkout
            .applied
            .iter()
            .enumerate()
            .map(|(k, a)| {
                let p = &self.promotions;
                let c = p.campaigns[p.coupons[a.coupon].campaign].record;
                let pending = hold(
                    &c,
                    checkout_id,
                    k,
                    checkout.merchant_account_id,
                    a.discount,
                    checkout.timeout,
                );
                resolve(&pending, derived_id(id, tag + k as u32), void)
            })
            .collect();
        let result = if checkout.buyer_amount > 0 && checkout.payer_line {
            let purchase = if void {
                credit::Command::Void {
                    id,
                    line_id: checkout.payer_id,
                    purchase_id: checkout_id,
                }
            } else {
                credit::Command::Capture {
                    id,
                    line_id: checkout.payer_id,
                    purchase_id: checkout_id,
                    amount: 0,
                }
            };
            from_credit(self.credit_linked(first, &purchase, &chain).0)
        } else {
            if checkout.buyer_amount > 0 {
                let payer_ledger = self.accounts[&checkout.payer_id].account.ledger;
                let pending = Transfer {
                    id: derived_id(checkout_id, TAG_PAYER),
                    amount: u128::from(checkout.buyer_amount),
                    ledger: payer_ledger,
                    code: checkout.code,
                    ..Transfer::default()
                };
                chain.push(resolve(&pending, id, void));
            }
            match self.promotions_post(first, &chain) {
                Ok(()) => R::Ok,
                Err((_, code)) => code,
            }
        };
        if result != R::Ok {
            return result;
        }
        let p = &mut self.promotions;
        if void {
            p.release(index, CheckoutStatus::Voided);
        } else {
            p.checkouts[index].status = CheckoutStatus::Captured;
            for a in &checkout.applied {
                let coupon = &mut p.coupons[a.coupon];
                coupon.status = CouponStatus::Used;
                let c = &mut p.campaigns[coupon.campaign];
                c.reserved -= a.discount;
                c.spent += a.discount;
            }
        }
        p.ops.insert(id, *command);
        R::Ok
    }

    /// Returns part of a captured payment: the sponsors their share pro rata to their
    /// discounts (floored, never more than each is owed back), the payer the rest within what
    /// it paid, what rounding leaves to sponsors with room; one chain.
    fn refund_checkout(
        &mut self,
        first: u64,
        command: &Command,
        id: u128,
        checkout_id: u128,
        amount: u64,
    ) -> R {
        if let Some(code) = self.op_refusal(id, command) {
            return code;
        }
        let Some(&index) = self.promotions.checkout_index.get(&checkout_id) else {
            return R::CheckoutNotFound;
        };
        let checkout = self.promotions.checkouts[index].clone();
        if checkout.status != CheckoutStatus::Captured {
            return R::CheckoutNotCaptured;
        }
        if amount == 0 {
            return R::AmountMustNotBeZero;
        }
        let gross = checkout.amount;
        let refundable = gross - checkout.refunded();
        if amount > refundable {
            return R::ExceedsRefundable;
        }
        let mut shares: Vec<u64> = checkout
            .applied
            .iter()
            .map(|a| {
                let pro_rata = u128::from(amount) * u128::from(a.discount) / u128::from(gross);
                u64::try_from(pro_rata)
                    .expect("at most the amount")
                    .min(a.discount - a.refunded)
            })
            .collect();
        let to_sponsors: u64 = shares.iter().sum();
        let buyer = (amount - to_sponsors).min(checkout.buyer_amount - checkout.buyer_refunded);
        let mut left = amount - to_sponsors - buyer;
        for (share, a) in shares.iter_mut().zip(&checkout.applied) {
            let more = left.min(a.discount - a.refunded - *share);
            *share += more;
            left -= more;
        }
        assert_eq!(left, 0, "the model's refund split covers the amount");
        let mut chain = Vec::new();
        for (k, (a, &share)) in checkout.applied.iter().zip(&shares).enumerate() {
            if share > 0 {
                let p = &self.promotions;
                let c = p.campaigns[p.coupons[a.coupon].campaign].record;
                chain.push(campaign_transfer(
                    &c,
                    derived_id(id, TAG_REFUND + k as u32),
                    checkout.merchant_account_id,
                    c.budget_account_id,
                    share,
                ));
            }
        }
        let result = if buyer > 0 && checkout.payer_line {
            let refund = credit::Command::Refund {
                id,
                line_id: checkout.payer_id,
                purchase_id: checkout_id,
                amount: buyer,
            };
            from_credit(self.credit_linked(first, &refund, &chain).0)
        } else {
            if buyer > 0 {
                let payer_ledger = self.accounts[&checkout.payer_id].account.ledger;
                chain.push(Transfer {
                    id,
                    debit_account_id: checkout.merchant_account_id,
                    credit_account_id: checkout.payer_id,
                    amount: u128::from(buyer),
                    ledger: payer_ledger,
                    code: checkout.code,
                    ..Transfer::default()
                });
            }
            match self.promotions_post(first, &chain) {
                Ok(()) => R::Ok,
                Err((_, code)) => code,
            }
        };
        if result != R::Ok {
            return result;
        }
        let full = amount == refundable;
        let p = &mut self.promotions;
        p.checkouts[index].buyer_refunded += buyer;
        for (k, a) in checkout.applied.iter().enumerate() {
            p.checkouts[index].applied[k].refunded += shares[k];
            let coupon = &mut p.coupons[a.coupon];
            let campaign = coupon.campaign;
            let c = &mut p.campaigns[campaign];
            c.spent -= shares[k];
            // A full refund gives the coupon back, if its campaign says so.
            if full && c.record.restore_on_refund {
                coupon.status = CouponStatus::Available;
                coupon.checkout = None;
                p.usage
                    .get_mut(&(campaign, checkout.user_id))
                    .expect("a redeeming user")
                    .discount -= a.discount;
            }
        }
        if full {
            // With its redemption and the user's.
            for campaign in p.redeemed(&checkout.applied) {
                if p.campaigns[campaign].record.restore_on_refund {
                    p.campaigns[campaign].redemptions -= 1;
                    p.usage
                        .get_mut(&(campaign, checkout.user_id))
                        .expect("a redeeming user")
                        .redemptions -= 1;
                }
            }
        }
        p.ops.insert(id, *command);
        R::Ok
    }

    fn grab(&mut self, first: u64, command: &Command) -> R {
        let Command::GrabRedPacket {
            id,
            campaign_id,
            user_id,
            account_id,
            user_segments,
        } = *command
        else {
            unreachable!("grab takes grabs")
        };
        if let Some(code) = self.op_refusal(id, command) {
            return code;
        }
        let index = match self.live_campaign(campaign_id, CampaignKind::RedPacket) {
            Ok(index) => index,
            Err(code) => return code,
        };
        let c = self.promotions.campaigns[index];
        let r = &c.record;
        if let Some(code) = window_refusal(r, first) {
            return code;
        }
        if r.eligible_segments != 0 && r.eligible_segments & user_segments == 0 {
            return R::UserNotEligible;
        }
        let facts = RuleFacts {
            segments: user_segments,
            ..RuleFacts::default()
        };
        if !self.promotions.rule_holds(index, user_id, first, &facts) {
            return R::RuleNotMet;
        }
        if self.promotions.usage(index, user_id).grabbed > 0 {
            return R::AlreadyGrabbed;
        }
        if c.issued >= r.stock {
            return R::PoolEmpty;
        }
        if c.funded < r.pool_amount {
            return R::PoolNotFunded;
        }
        // A packet grabbed onto a credit line pays its bill (`docs/promotions.md`, "Red packets").
        let to_line = self.credit.line(account_id).is_some();
        match self.accounts.get(&account_id) {
            None => return R::AccountNotFound,
            Some(a) if a.account.flags.managed() && !to_line => return R::AccountIsManaged,
            Some(a) if a.account.ledger != r.ledger => return R::LedgerMismatch,
            Some(_) => {}
        }
        let amount = double_average(
            r.pool_amount - c.grabbed,
            r.stock - c.issued,
            r.seed,
            c.issued,
        );
        if to_line {
            let result = self.credit_bill(first, id, account_id, r.budget_account_id, amount);
            if result != CreditResult::Ok {
                return from_credit(result);
            }
            self.promotions.grabs_on_lines += 1;
        } else {
            let transfer = Transfer {
                user_data_64: u64::from(c.issued),
                ..campaign_transfer(r, id, r.budget_account_id, account_id, amount)
            };
            if let Err((_, code)) = self.promotions_post(first, &[transfer]) {
                return code;
            }
        }
        let p = &mut self.promotions;
        let c = &mut p.campaigns[index];
        c.issued += 1;
        c.grabbed += amount;
        p.usage.entry((index, user_id)).or_default().grabbed = amount;
        p.ops.insert(id, *command);
        R::Ok
    }
}

/// The ticket of draw `position` of a lottery with `seed` (`docs/promotions.md`, "Lotteries"):
/// uniform in `0..DRAW_RANGE`, from the generator seeded by `seed ^ (position + 1) ·
/// 0x9E3779B97F4A7C15`.
#[must_use]
pub fn ticket(seed: u64, position: u32) -> u64 {
    let mut prng = Prng::new(seed ^ (u64::from(position) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    prng.range(0, u64::from(DRAW_RANGE) - 1)
}

impl ModelCampaign {
    /// What the budget can still give: what it holds less what live payments reserve.
    #[must_use]
    pub fn budget_left(&self) -> u64 {
        self.held() - self.reserved
    }
}

impl PromotionsModel {
    /// `add_prize`: prize number `prize` (1, 2, ... in order) of a lottery, before its first
    /// draw; a retry of a prize already added answers `exists` (or, with other fields,
    /// `exists_with_different_fields`), even after the draws began.
    fn add_prize(&mut self, command: &Command) -> R {
        let Command::AddPrize {
            campaign_id,
            prize,
            kind,
            weight_ppm,
            stock,
            amount,
            coupon_campaign_id,
        } = *command
        else {
            unreachable!("add_prize takes prizes")
        };
        let Some(&index) = self.campaign_index.get(&campaign_id) else {
            return R::CampaignNotFound;
        };
        let c = self.campaigns[index];
        if c.record.kind != CampaignKind::Lottery {
            return R::CampaignKindMismatch;
        }
        if c.status == CampaignStatus::Closed {
            return R::CampaignClosed;
        }
        // A coupon prize names a coupon campaign; the others name none.
        let coupon_campaign = match kind {
            PrizeKind::Coupon => match self.campaign_index.get(&coupon_campaign_id) {
                Some(&k) if self.campaigns[k].record.kind == CampaignKind::Coupon => Some(k),
                _ => return R::PrizeInvalid,
            },
            PrizeKind::Cash | PrizeKind::Slot if coupon_campaign_id != 0 => {
                return R::PrizeInvalid;
            }
            PrizeKind::Cash | PrizeKind::Slot => None,
        };
        let candidate = ModelPrize {
            kind,
            weight_ppm,
            stock,
            won: 0,
            amount,
            coupon_campaign,
        };
        let prizes = self.prizes_of(index);
        if prize >= 1
            && let Some(existing) = prizes.get(usize::from(prize) - 1)
        {
            return if (ModelPrize {
                won: 0,
                ..*existing
            }) == candidate
            {
                R::Exists
            } else {
                R::ExistsWithDifferentFields
            };
        }
        if c.issued > 0 {
            return R::LotteryStarted;
        }
        let weights: u64 = prizes.iter().map(|p| u64::from(p.weight_ppm)).sum();
        let fields_fit = match kind {
            PrizeKind::Cash => amount > 0,
            PrizeKind::Coupon | PrizeKind::Slot => amount == 0,
        };
        if usize::from(prize) != prizes.len() + 1
            || prizes.len() >= PRIZES_MAX
            || weight_ppm == 0
            || stock == 0
            || !fields_fit
            || weights + u64::from(weight_ppm) > u64::from(DRAW_RANGE)
        {
            return R::PrizeInvalid;
        }
        self.prizes.entry(index).or_default().push(candidate);
        R::Ok
    }

    /// `set_campaign_rule`: an empty text clears the rule; a text that does not compile (here:
    /// that is none of the templates) answers `rule_invalid` and changes nothing.
    fn set_rule(&mut self, campaign_id: u128, len: u8, text: &[u8]) -> R {
        let Some(&index) = self.campaign_index.get(&campaign_id) else {
            return R::CampaignNotFound;
        };
        if self.campaigns[index].status == CampaignStatus::Closed {
            return R::CampaignClosed;
        }
        if len == 0 {
            self.rules.remove(&index);
            return R::Ok;
        }
        let rule = std::str::from_utf8(&text[..usize::from(len)])
            .ok()
            .and_then(|text| {
                Condition::parse(text).map(|condition| ModelRule {
                    text: text.to_string(),
                    condition,
                })
            });
        match rule {
            Some(rule) => {
                self.rules.insert(index, rule);
                R::Ok
            }
            None => R::RuleInvalid,
        }
    }
}

impl Auditor {
    /// Why money cannot be paid into `account_id` on `ledger`.
    fn payee_refusal(&self, account_id: u128, ledger: u32) -> Option<R> {
        match self.accounts.get(&account_id) {
            None => Some(R::AccountNotFound),
            Some(a) if a.account.flags.managed() => Some(R::AccountIsManaged),
            Some(a) if a.account.ledger != ledger => Some(R::LedgerMismatch),
            Some(a) if a.account.flags.closed() => Some(R::AccountClosed),
            Some(_) => None,
        }
    }

    /// `draw_lottery`: the ticket of the draw's position lands in a prize's slice of the
    /// range, or in none; a prize that can no longer be given (stock won out, the budget short
    /// of its cash, the coupon campaign refusing this user) wins nothing.
    fn draw_lottery(&mut self, first: u64, command: &Command) -> R {
        let Command::DrawLottery {
            id,
            campaign_id,
            user_id,
            account_id,
            user_segments,
        } = *command
        else {
            unreachable!("draw_lottery takes draws")
        };
        if let Some(code) = self.op_refusal(id, command) {
            return code;
        }
        // A coupon prize takes the draw's id.
        if self.promotions.coupon_index.contains_key(&id) {
            return R::IdAlreadyUsed;
        }
        let index = match self.live_campaign(campaign_id, CampaignKind::Lottery) {
            Ok(index) => index,
            Err(code) => return code,
        };
        let c = self.promotions.campaigns[index];
        let r = c.record;
        if let Some(code) = window_refusal(&r, first) {
            return code;
        }
        if r.eligible_segments != 0 && r.eligible_segments & user_segments == 0 {
            return R::UserNotEligible;
        }
        let facts = RuleFacts {
            segments: user_segments,
            ..RuleFacts::default()
        };
        if !self.promotions.rule_holds(index, user_id, first, &facts) {
            return R::RuleNotMet;
        }
        if r.stock != 0 && c.issued >= r.stock {
            return R::DrawsExhausted;
        }
        let usage = self.promotions.usage(index, user_id);
        if r.draws_per_user != 0 && usage.draws >= r.draws_per_user {
            return R::PerUserDrawLimit;
        }
        let prizes = self.promotions.prizes_of(index).to_vec();
        // A cash prize is paid into the account, a draw's cost comes out of it.
        let cash = prizes.iter().any(|p| p.kind == PrizeKind::Cash);
        if (account_id != 0 || cash || r.draw_cost > 0)
            && let Some(code) = self.payee_refusal(account_id, r.ledger)
        {
            return code;
        }
        if r.draw_cost > 0 {
            let a = self.accounts[&account_id].account;
            let held = a
                .credits_posted
                .saturating_sub(a.debits_posted)
                .saturating_sub(a.debits_pending);
            if held < u128::from(r.draw_cost) {
                return R::InsufficientFunds;
            }
            if c.funded.checked_add(r.draw_cost).is_none() {
                return R::OverflowsBalance;
            }
        }
        let position = c.issued;
        let ticket = ticket(r.seed, position);
        // Prizes take consecutive slices of the range by weight.
        let mut edge = 0;
        let landed = prizes.iter().position(|p| {
            edge += u64::from(p.weight_ppm);
            ticket < edge
        });
        let won = landed.filter(|&k| {
            let p = prizes[k];
            p.won < p.stock
                && match p.kind {
                    // The draw's cost reaches the budget first, in the same chain.
                    PrizeKind::Cash => c.budget_left() + r.draw_cost >= p.amount,
                    PrizeKind::Coupon => {
                        let coupon_campaign = p.coupon_campaign.expect("a coupon campaign");
                        self.promotions
                            .issue_refusal(coupon_campaign, user_id, user_segments, first, false)
                            .is_none()
                    }
                    PrizeKind::Slot => true,
                }
        });
        // One linked chain: the cost into the budget (`derived_id(draw, 0x80)`), then a cash
        // prize out of it (the draw's id).
        let mut chain = Vec::new();
        if r.draw_cost > 0 {
            chain.push(campaign_transfer(
                &r,
                derived_id(id, TAG_DRAW_COST),
                account_id,
                r.budget_account_id,
                r.draw_cost,
            ));
        }
        let paid = won
            .map(|k| prizes[k])
            .filter(|p| p.kind == PrizeKind::Cash)
            .map_or(0, |p| p.amount);
        if paid > 0 {
            chain.push(Transfer {
                user_data_64: u64::from(position),
                ..campaign_transfer(&r, id, r.budget_account_id, account_id, paid)
            });
        }
        if !chain.is_empty()
            && let Err((_, code)) = self.promotions_post(first, &chain)
        {
            return code;
        }
        if let Some(k) = won {
            let p = prizes[k];
            if p.kind == PrizeKind::Coupon {
                let coupon_campaign = p.coupon_campaign.expect("a coupon campaign");
                self.promotions
                    .push_coupon(id, coupon_campaign, user_id, first, false);
            }
            self.promotions.prizes.get_mut(&index).expect("prizes")[k].won += 1;
        }
        let p = &mut self.promotions;
        p.campaigns[index].issued += 1;
        p.campaigns[index].spent += paid;
        p.campaigns[index].funded += r.draw_cost;
        p.usage.entry((index, user_id)).or_default().draws += 1;
        p.draw_index.insert(id, p.draws.len());
        p.draws.push(ModelDraw {
            id,
            campaign: index,
            user_id,
            position,
            prize: won.map_or(0, |k| u8::try_from(k + 1).expect("at most 16 prizes")),
        });
        p.ops.insert(id, *command);
        R::Ok
    }

    /// `earn_coins`: the daily check-in (`checkout_id` 0) or a captured purchase of the user,
    /// paid from the budget into the user's coin account, cut to the per-user cap; a lot that
    /// expires `coins_valid_for` seconds later.
    fn earn_coins(&mut self, first: u64, command: &Command) -> R {
        let Command::EarnCoins {
            id,
            campaign_id,
            user_id,
            account_id,
            checkout_id,
            user_segments,
        } = *command
        else {
            unreachable!("earn_coins takes earnings")
        };
        if let Some(code) = self.op_refusal(id, command) {
            return code;
        }
        let index = match self.live_campaign(campaign_id, CampaignKind::Coins) {
            Ok(index) => index,
            Err(code) => return code,
        };
        let c = self.promotions.campaigns[index];
        let r = c.record;
        if let Some(code) = window_refusal(&r, first) {
            return code;
        }
        if r.eligible_segments != 0 && r.eligible_segments & user_segments == 0 {
            return R::UserNotEligible;
        }
        // The rule sees the purchase named, whoever made it and whatever became of it.
        let checkout = self.promotions.checkout_index.get(&checkout_id).copied();
        let facts = checkout.map_or(
            RuleFacts {
                segments: user_segments,
                ..RuleFacts::default()
            },
            |k| {
                let Command::Checkout {
                    amount,
                    merchant_account_id,
                    category,
                    card_issuer,
                    card_bin,
                    ..
                } = self.promotions.checkouts[k].command
                else {
                    unreachable!("a checkout's command")
                };
                RuleFacts {
                    amount,
                    merchant: merchant_account_id,
                    category,
                    issuer: card_issuer,
                    bin: card_bin,
                    segments: user_segments,
                }
            },
        );
        if !self.promotions.rule_holds(index, user_id, first, &facts) {
            return R::RuleNotMet;
        }
        if let Some(code) = self.payee_refusal(account_id, r.ledger) {
            return code;
        }
        let usage = self.promotions.usage(index, user_id);
        let day = (first / NS_PER_S + UTC_OFFSET_S) / SECONDS_PER_DAY;
        let earned = if checkout_id == 0 {
            if r.coins_per_check_in == 0 {
                return R::TaskNotOffered;
            }
            if usage.checked_in == Some(day) {
                return R::AlreadyCheckedIn;
            }
            r.coins_per_check_in
        } else {
            if r.coins_per_yuan == 0 {
                return R::TaskNotOffered;
            }
            let Some(k) = checkout else {
                return R::CheckoutNotFound;
            };
            let purchase = &self.promotions.checkouts[k];
            if purchase.user_id != user_id {
                return R::CheckoutNotOwned;
            }
            if purchase.status != CheckoutStatus::Captured {
                return R::CheckoutNotCaptured;
            }
            if self.promotions.coins_earned.contains(&(index, k)) {
                return R::CoinsAlreadyEarned;
            }
            // Per yuan (100 fen) of what it cost after refunds, floored.
            let net = u128::from(purchase.amount - purchase.refunded());
            u64::try_from(net * u128::from(r.coins_per_yuan) / 100).unwrap_or(u64::MAX)
        };
        let cap_left = if r.discount_per_user == 0 {
            u64::MAX
        } else {
            r.discount_per_user.saturating_sub(usage.coins)
        };
        if cap_left == 0 {
            return R::PerUserAmountLimit;
        }
        let coins = earned.min(cap_left);
        if coins == 0 {
            return R::AmountMustNotBeZero;
        }
        if c.budget_left() < coins {
            return R::BudgetExhausted;
        }
        let expires_at = if r.coins_valid_for == 0 {
            None
        } else {
            match first.checked_add(u64::from(r.coins_valid_for) * NS_PER_S) {
                Some(at) => Some(at),
                None => return R::OverflowsBalance,
            }
        };
        let transfer = campaign_transfer(&r, id, r.budget_account_id, account_id, coins);
        if let Err((_, code)) = self.promotions_post(first, &[transfer]) {
            return code;
        }
        let p = &mut self.promotions;
        p.campaigns[index].spent += coins;
        let usage = p.usage.entry((index, user_id)).or_default();
        usage.coins += coins;
        if checkout_id == 0 {
            usage.checked_in = Some(day);
        } else {
            p.coins_earned
                .insert((index, checkout.expect("a purchase task")));
        }
        if let Some(expires_at) = expires_at {
            p.lots.push(ModelLot {
                id,
                campaign: index,
                account_id,
                amount: coins,
                expires_at,
                taken: 0,
                done: false,
            });
        }
        p.ops.insert(id, *command);
        R::Ok
    }

    /// `expire_coins`: for up to `EXPIRE_MAX` lots of the campaign due by now, soonest first,
    /// takes back what is left of each: the coins that left the account (its debits, posted
    /// and pending, less what expiry took) are charged to lots as they expire, and never more
    /// than the account holds is taken; back to the budget, or to the sponsor once the campaign
    /// is closed. A closed account gives nothing back.
    fn expire_coins(&mut self, first: u64, campaign_id: u128) -> R {
        let Some(&index) = self.promotions.campaign_index.get(&campaign_id) else {
            return R::CampaignNotFound;
        };
        let r = self.promotions.campaigns[index].record;
        if r.kind != CampaignKind::Coins {
            return R::CampaignKindMismatch;
        }
        let mut due: Vec<usize> = (0..self.promotions.lots.len())
            .filter(|&k| {
                let lot = &self.promotions.lots[k];
                lot.campaign == index && !lot.done && lot.expires_at <= first
            })
            .collect();
        due.sort_by_key(|&k| (self.promotions.lots[k].expires_at, k));
        due.truncate(EXPIRE_MAX);
        let mut next = first;
        for k in due {
            let lot = self.promotions.lots[k];
            let known = self
                .promotions
                .coin_accounts
                .get(&lot.account_id)
                .copied()
                .unwrap_or_default();
            let (left, consumed) = match self.accounts.get(&lot.account_id) {
                Some(a) if !a.account.flags.closed() => {
                    let a = a.account;
                    let out = a.debits_posted + a.debits_pending;
                    // Spending not charged to a lot yet is charged to this one first.
                    let spent = out
                        .saturating_sub(known.expired)
                        .saturating_sub(known.consumed);
                    let consumed = spent.min(u128::from(lot.amount));
                    let held = a.credits_posted.saturating_sub(out);
                    let left = (u128::from(lot.amount) - consumed).min(held);
                    (u64::try_from(left).expect("at most the lot"), consumed)
                }
                _ => (0, 0),
            };
            let closed = self.promotions.campaigns[index].status == CampaignStatus::Closed;
            let to = if closed {
                r.sponsor_account_id
            } else {
                r.budget_account_id
            };
            let mut taken = 0;
            if left > 0 {
                let transfer =
                    campaign_transfer(&r, derived_id(lot.id, TAG_EXPIRE), lot.account_id, to, left);
                // A refusal the checks above did not foresee takes nothing back.
                if self.promotions_post(next, &[transfer]).is_ok() {
                    taken = left;
                }
                next += 1;
            }
            let p = &mut self.promotions;
            let account = p.coin_accounts.entry(lot.account_id).or_default();
            account.consumed += consumed;
            account.expired += u128::from(taken);
            let c = &mut p.campaigns[index];
            c.spent -= taken;
            if closed {
                c.returned += taken;
            }
            p.lots[k].taken = taken;
            p.lots[k].done = true;
        }
        R::Ok
    }
}

impl Auditor {
    /// The best coupons for `basket` at `now` (`docs/promotions.md`, "Best coupons for a
    /// basket"), worked out from the model: the user's available coupons that give a discount
    /// alone, the best `CANDIDATES_MAX` of them (by that discount, then by id), and of every
    /// ordered selection of 1 to `COUPONS_MAX` of them the one with the largest discount, ties
    /// going to fewer coupons, then to the selection first in lexicographic candidate order.
    #[must_use]
    pub fn best_coupons(&self, now: u64, basket: &promotions::Basket) -> promotions::BestCoupons {
        let discount_of = |ids: &[u128]| -> Option<u64> {
            let mut coupons = [0; COUPONS_MAX];
            coupons[..ids.len()].copy_from_slice(ids);
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
                coupons,
                capture: false,
            };
            self.plan(now, &command)
                .ok()
                .map(|plan| basket.amount - plan.buyer)
        };
        let mut candidates: Vec<(u64, u128)> = self
            .promotions
            .coupons
            .iter()
            .filter(|c| c.user_id == basket.user_id && c.status == CouponStatus::Available)
            .filter_map(|c| discount_of(&[c.id]).filter(|&d| d > 0).map(|d| (d, c.id)))
            .collect();
        candidates.sort_by_key(|&(discount, id)| (std::cmp::Reverse(discount), id));
        candidates.truncate(promotions::CANDIDATES_MAX);
        // Every selection as a sequence of candidate positions, counted in base n: sizes in
        // turn, each in lexicographic order (a sequence repeating a position is skipped).
        let n = candidates.len();
        let mut best: Option<(u64, Vec<usize>)> = None;
        for size in 1..=COUPONS_MAX.min(n) {
            let total = n.pow(u32::try_from(size).expect("at most 4"));
            for number in 0..total {
                let mut digits = vec![0; size];
                let mut rest = number;
                for digit in digits.iter_mut().rev() {
                    *digit = rest % n;
                    rest /= n;
                }
                let mut seen = digits.clone();
                seen.sort_unstable();
                seen.dedup();
                if seen.len() != size {
                    continue;
                }
                let ids: Vec<u128> = digits.iter().map(|&k| candidates[k].1).collect();
                let Some(discount) = discount_of(&ids) else {
                    continue;
                };
                if best.as_ref().is_none_or(|(b, _)| discount > *b) {
                    best = Some((discount, digits));
                }
            }
        }
        let mut answer = promotions::BestCoupons {
            to_pay: basket.amount,
            ..promotions::BestCoupons::default()
        };
        if let Some((discount, digits)) = best {
            for (slot, &k) in digits.iter().enumerate() {
                answer.coupons[slot] = candidates[k].1;
            }
            answer.count = digits.len();
            answer.discount = discount;
            answer.to_pay = basket.amount - discount;
        }
        answer
    }
}
