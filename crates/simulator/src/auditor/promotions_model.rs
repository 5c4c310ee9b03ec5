//! The auditor's model of the promotions engine: campaigns and their budgets, coupons issued and
//! claimed, payments carrying coupons (checkouts) by an ordinary account or on a credit line,
//! their captures, voids, expiries and refunds, and red-packet grabs, written from
//! `docs/promotions.md` and the order in which the engine checks (coupon by coupon in the order
//! listed, then stacking, then the discounts in priority order, then the payment).
//!
//! It shares no code with `promotions`: only its record types (`Campaign`, `Command`, `Offer`,
//! `CampaignKind`, `StatusChange`, `COUPONS_MAX`), its status enums (those of its views) and its
//! result codes. The ids of the transfers promotions posts on its own (`derived_id`) and the
//! double-average amounts are written out here from their documented formulas. Every money
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

use std::collections::BTreeMap;

use credit::CreditResult;
use ledger::{Account, AccountFlags, CreateAccountResult, CreateTransferResult, Transfer};
use ledger::{RESERVED_ID_MIN, TransferFlags};
use promotions::{
    COUPONS_MAX, Campaign, CampaignKind, CampaignStatus, CheckoutStatus, Command, CouponStatus,
    Offer, PromotionResult as R, StatusChange,
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
    /// Commands that posted under their own id (fund, capture, void, refund, grab).
    pub ops: BTreeMap<u128, Command>,
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
        C::OverflowsBalance => R::OverflowsBalance,
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
            || (c.kind != CampaignKind::Lottery && c.draws_per_user != 0)
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
            Command::AddPrize { .. }
            | Command::DrawLottery { .. }
            | Command::EarnCoins { .. }
            | Command::ExpireCoins { .. }
            | Command::SetCampaignRule { .. } => {
                unreachable!("the workload sends no lotteries, coins or rules yet")
            }
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
        let c = self.promotions.campaigns[index];
        let r = &c.record;
        match window_refusal(r, now) {
            Some(R::CampaignNotStarted) if !claimed => {}
            Some(code) => return code,
            None => {}
        }
        if r.eligible_segments != 0 && r.eligible_segments & user_segments == 0 {
            return R::UserNotEligible;
        }
        if r.stock != 0 && c.issued >= r.stock {
            return R::StockExhausted;
        }
        let usage = self.promotions.usage(index, user_id);
        if r.coupons_per_user != 0 && usage.coupons >= r.coupons_per_user {
            return R::PerUserCouponLimit;
        }
        let expires_at = if r.coupon_valid_for == 0 {
            0
        } else {
            now.saturating_add(u64::from(r.coupon_valid_for) * NS_PER_S)
        };
        let p = &mut self.promotions;
        p.campaigns[index].issued += 1;
        p.usage.entry((index, user_id)).or_default().coupons += 1;
        p.coupon_index.insert(id, p.coupons.len());
        p.coupons.push(ModelCoupon {
            id,
            campaign: index,
            user_id,
            claimed,
            expires_at,
            status: CouponStatus::Available,
            checkout: None,
        });
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
                hold(&c, id, k, merchant_account_id, a.discount, timeout)
            })
            .collect();
        let holds = chain.len();
        let result = if plan.buyer > 0 && payer_line {
            let authorize = credit::Command::Authorize {
                id,
                line_id: payer_id,
                merchant_account_id,
                amount: plan.buyer,
                timeout,
            };
            match self.credit_linked(now, &authorize, &chain) {
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
                    flags: TransferFlags(TransferFlags::PENDING),
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
            coupon.status = CouponStatus::Reserved;
            coupon.checkout = Some(index);
            let campaign = coupon.campaign;
            p.campaigns[campaign].reserved += a.discount;
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
            status: CheckoutStatus::Authorized,
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
        if self.promotions.usage(index, user_id).grabbed > 0 {
            return R::AlreadyGrabbed;
        }
        if c.issued >= r.stock {
            return R::PoolEmpty;
        }
        if c.funded < r.pool_amount {
            return R::PoolNotFunded;
        }
        match self.accounts.get(&account_id) {
            None => return R::AccountNotFound,
            Some(a) if a.account.flags.managed() => return R::AccountIsManaged,
            Some(a) if a.account.ledger != r.ledger => return R::LedgerMismatch,
            Some(_) => {}
        }
        let amount = double_average(
            r.pool_amount - c.grabbed,
            r.stock - c.issued,
            r.seed,
            c.issued,
        );
        let transfer = Transfer {
            user_data_64: u64::from(c.issued),
            ..campaign_transfer(r, id, r.budget_account_id, account_id, amount)
        };
        if let Err((_, code)) = self.promotions_post(first, &[transfer]) {
            return code;
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
