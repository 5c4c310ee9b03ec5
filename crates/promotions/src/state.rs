//! The promotions state: campaigns and their budgets, coupons, checkouts (payments carrying
//! coupons) and red-packet grabs, and the commands that change them.
//!
//! Invariants (checked by [`Promotions::check`] after every test step):
//! - a campaign's budget account holds exactly what was funded less what was spent, grabbed and
//!   returned, and its pending debits are exactly the discounts its live checkouts reserve;
//! - no stock, redemption cap, per-user limit or pool is ever exceeded;
//! - a coupon is reserved by exactly one live checkout, or used by one captured checkout.
//!
//! Every command decides its result before it changes anything: the ledger posting is its last
//! check, and promotions state changes only after the ledger accepted it. Time-driven changes
//! (a checkout expiring with its holds) happen first, at the command's first timestamp, the same
//! way the ledger expires pending transfers.

use std::collections::{BTreeMap, BTreeSet};

use credit::{Credit, CreditResult};
use ledger::{
    Account, AccountFlags, CreateAccountResult, Ledger, PrefetchKey, RESERVED_ID_MIN, Transfer,
    TransferFlags,
};
use stdx::{DenseMap, IdMap, id_map};

use crate::games::{CoinAccount, CoinLot, Draw, Facts, Prize, StoredRule};
use crate::record::{
    COUPONS_MAX, Campaign, CampaignKind, Command, Offer, StatusChange, listed_coupons,
};
use crate::result::PromotionResult as R;

pub(crate) const NS_PER_S: u64 = 1_000_000_000;

/// Tags of the ids this module derives for the transfers it posts on its own (see
/// [`derived_id`]): a coupon's hold, its capture, void and refund, and a budget's return.
pub(crate) const TAG_HOLD: u32 = 0x10;
pub(crate) const TAG_CAPTURE: u32 = 0x20;
pub(crate) const TAG_VOID: u32 = 0x30;
pub(crate) const TAG_REFUND: u32 = 0x40;
pub(crate) const TAG_CLOSE: u32 = 0x50;
/// The payer's hold of a checkout paid by an ordinary account: a reserved id, so no client
/// transfer can post or void it (`pending_id_must_not_be_reserved`).
pub(crate) const TAG_PAYER: u32 = 0x60;
/// The return of an expired coin lot (based on its `earn_coins` id).
pub(crate) const TAG_EXPIRE: u32 = 0x70;
/// What a draw costs, paid into the lottery's budget (based on the draw's id).
pub(crate) const TAG_DRAW_COST: u32 = 0x80;

/// The id of a transfer promotions posts on its own for `base` (a command or campaign id) and
/// `tag`: reserved (clients cannot use it) and in the upper half of the reserved range, so it
/// never meets the ids credit generates (`RESERVED_ID_MIN + n`). Computed from the command
/// alone, so the shell can prefetch it.
#[must_use]
pub fn derived_id(base: u128, tag: u32) -> u128 {
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    #[expect(clippy::cast_possible_truncation, reason = "splitting into halves")]
    let (low, high) = (base as u64, (base >> 64) as u64);
    let a = mix(low ^ mix(u64::from(tag).wrapping_add(0x9E37_79B9_7F4A_7C15)));
    let b = mix(high ^ a.rotate_left(17) ^ 0xD6E8_FEB8_6659_FD93);
    let bits = ((u128::from(b) << 64) | u128::from(a)) & ((1 << 95) - 1);
    let id = RESERVED_ID_MIN + (1 << 95) + bits;
    if id == u128::MAX { id - 1 } else { id }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum CampaignStatus {
    Active = 1,
    Paused = 2,
    Closed = 3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CampaignState {
    pub(crate) record: Campaign,
    pub(crate) status: CampaignStatus,
    /// Coupons issued or claimed; red packets: packets grabbed.
    pub(crate) issued: u32,
    /// Redemptions reserved or used (a full refund that restores the coupon gives one back).
    pub(crate) redemptions: u32,
    /// Moved in by the sponsor; moved back to it at close.
    pub(crate) funded: u64,
    pub(crate) returned: u64,
    /// Discounts held by live checkouts; discounts paid (net of refunds); red packets paid.
    pub(crate) reserved: u64,
    pub(crate) spent: u64,
    pub(crate) grabbed: u64,
}

/// What one user did in one campaign.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    pub(crate) coupons: u32,
    pub(crate) redemptions: u32,
    pub(crate) discount: u64,
    /// The red packet the user grabbed (0: none; packets are at least one fen).
    pub(crate) grabbed: u64,
}

/// What one user did in one lottery or coins campaign (kept apart from `Usage`, so that the
/// millions of red-packet and coupon users carry none of it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct GameUsage {
    /// Lotteries: draws made.
    pub(crate) draws: u32,
    /// Coins: the business day of the last check-in, plus one (0: never).
    pub(crate) check_in_day: u32,
    /// Coins: coins earned.
    pub(crate) coins: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum CouponStatus {
    Available = 1,
    Reserved = 2,
    Used = 3,
}

pub(crate) const NO_CHECKOUT: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Coupon {
    pub(crate) id: u128,
    pub(crate) campaign: u32,
    pub(crate) user_id: u128,
    pub(crate) claimed: bool,
    /// 0: valid until the campaign ends.
    pub(crate) expires_at: u64,
    pub(crate) status: CouponStatus,
    /// The checkout reserving or using it (`NO_CHECKOUT` when available).
    pub(crate) checkout: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum CheckoutStatus {
    Authorized = 1,
    Captured = 2,
    Voided = 3,
    Expired = 4,
}

/// One coupon applied to a checkout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Applied {
    pub(crate) coupon: u32,
    pub(crate) discount: u64,
    /// What a refund gave back to the budget so far.
    pub(crate) refunded: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Checkout {
    /// The command as given (compared on a retry).
    pub(crate) command: Command,
    pub(crate) payer_line: bool,
    /// What the payer pays: the amount less the discounts.
    pub(crate) buyer_amount: u64,
    pub(crate) applied: [Applied; COUPONS_MAX],
    pub(crate) applied_count: u8,
    /// When its holds expire (0: never).
    pub(crate) deadline: u64,
    pub(crate) status: CheckoutStatus,
    pub(crate) buyer_refunded: u64,
}

impl Checkout {
    pub(crate) fn applied(&self) -> &[Applied] {
        &self.applied[..usize::from(self.applied_count)]
    }

    pub(crate) fn amount(&self) -> u64 {
        match self.command {
            Command::Checkout { amount, .. } => amount,
            _ => unreachable!("a checkout holds its checkout command"),
        }
    }

    pub(crate) fn refunded(&self) -> u64 {
        self.buyer_refunded + self.applied().iter().map(|a| a.refunded).sum::<u64>()
    }
}

/// What is kept of a command that posted under its own id (fund, capture, void, refund, grab,
/// draw, earning): its record's fingerprint, to answer retries with `exists` or
/// `exists_with_different_fields` (8 bytes, not the 256-byte command).
pub(crate) type Op = u64;

/// Live campaign figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CampaignView {
    pub campaign: Campaign,
    pub status: CampaignStatus,
    pub funded: u64,
    pub returned: u64,
    pub reserved: u64,
    pub spent: u64,
    pub grabbed: u64,
    /// The budget left to give: funded less reserved, spent, grabbed and returned.
    pub available: u64,
    pub issued: u32,
    pub redemptions: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CouponView {
    pub id: u128,
    pub campaign_id: u128,
    pub user_id: u128,
    pub status: CouponStatus,
    pub expires_at: u64,
    /// The checkout reserving or using it (0: none).
    pub checkout_id: u128,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckoutView {
    pub command: Command,
    pub status: CheckoutStatus,
    pub buyer_amount: u64,
    pub discount: u64,
    pub refunded: u64,
    pub deadline: u64,
}

/// The promotions module of one shard.
pub struct Promotions {
    pub(crate) campaigns: Vec<CampaignState>,
    pub(crate) campaign_index: IdMap<u128, u32>,
    pub(crate) coupons: Vec<Coupon>,
    pub(crate) coupon_index: IdMap<u128, u32>,
    /// Coupons by (user, coupon index), for the best-coupons query.
    pub(crate) user_coupons: BTreeSet<(u128, u32)>,
    /// Per (campaign, user), in the order first used (a snapshot lists them so, unsorted).
    pub(crate) usage: DenseMap<(u32, u128), Usage>,
    pub(crate) game_usage: BTreeMap<(u32, u128), GameUsage>,
    pub(crate) checkouts: Vec<Checkout>,
    pub(crate) checkout_index: IdMap<u128, u32>,
    /// Live checkouts with a deadline, by (deadline, checkout index).
    pub(crate) expiry: BTreeSet<(u64, u32)>,
    pub(crate) ops: DenseMap<u128, Op>,
    /// Lotteries' prizes, by campaign index, in prize order.
    pub(crate) prizes: BTreeMap<u32, Vec<Prize>>,
    pub(crate) draws: Vec<Draw>,
    pub(crate) draw_index: IdMap<u128, u32>,
    /// Coin lots, and the live ones by (campaign, expiry, lot).
    pub(crate) lots: Vec<CoinLot>,
    pub(crate) lot_queue: BTreeSet<(u32, u64, u32)>,
    pub(crate) coin_accounts: BTreeMap<u128, CoinAccount>,
    /// (campaign, checkout) pairs whose purchase task paid coins.
    pub(crate) coins_earned: BTreeSet<(u32, u32)>,
    /// Campaign rules by campaign index.
    pub(crate) rules: BTreeMap<u32, StoredRule>,
    /// Scratch for ledger results.
    results: Vec<ledger::CreateTransferResult>,
    /// Scratch for the chain of transfers a payment posts (taken and given back).
    pub(crate) chain: Vec<Transfer>,
}

/// Timestamps a command may use.
pub(crate) struct Clock {
    pub(crate) next: u64,
    /// Timestamps not used yet: counted, not an end, so a budget ending at `u64::MAX` needs no
    /// arithmetic past it.
    left: u64,
}

impl Clock {
    /// Takes `n` timestamps for a chain of `n` events; returns the last (the ledger's argument).
    pub(crate) fn take(&mut self, n: u64) -> u64 {
        assert!(
            n >= 1 && n <= self.left,
            "promotions command over its timestamp budget"
        );
        self.left -= n;
        let last = self.next + (n - 1);
        // Saturates only past the last timestamp of u64, which `left` then forbids using.
        self.next = last.saturating_add(1);
        last
    }
}

pub(crate) fn id_refusal(id: u128) -> Option<R> {
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

/// What a budget account can still give: credits less posted debits less `reserved`.
pub(crate) fn budget_free(account: &Account, reserved: u64) -> u128 {
    account
        .credits_posted
        .saturating_sub(account.debits_posted)
        .saturating_sub(u128::from(reserved))
}

/// A transfer the campaign posts: its ledger, code and id in `user_data_128`.
pub(crate) fn campaign_transfer(
    campaign: &Campaign,
    id: u128,
    from: u128,
    to: u128,
    amount: u64,
) -> Transfer {
    Transfer {
        id,
        debit_account_id: from,
        credit_account_id: to,
        amount: u128::from(amount),
        ledger: campaign.ledger,
        code: campaign.code,
        user_data_128: campaign.id,
        ..Transfer::default()
    }
}

/// Whether a user with `segments` may take part in the campaign.
pub(crate) fn eligible(campaign: &Campaign, segments: u32) -> bool {
    campaign.eligible_segments == 0 || campaign.eligible_segments & segments != 0
}

pub(crate) fn resolve(pending: &Transfer, id: u128, void: bool) -> Transfer {
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

/// The promotions code for a credit line's refusal to pay.
pub(crate) fn from_credit(code: CreditResult) -> R {
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

impl Promotions {
    #[must_use]
    pub fn new(hash_key: u64) -> Promotions {
        Promotions {
            campaigns: Vec::new(),
            campaign_index: id_map(hash_key),
            coupons: Vec::new(),
            coupon_index: id_map(hash_key),
            user_coupons: BTreeSet::new(),
            usage: DenseMap::new(hash_key),
            game_usage: BTreeMap::new(),
            checkouts: Vec::new(),
            checkout_index: id_map(hash_key),
            expiry: BTreeSet::new(),
            ops: DenseMap::new(hash_key),
            prizes: BTreeMap::new(),
            draws: Vec::new(),
            draw_index: id_map(hash_key),
            lots: Vec::new(),
            lot_queue: BTreeSet::new(),
            coin_accounts: BTreeMap::new(),
            coins_earned: BTreeSet::new(),
            rules: BTreeMap::new(),
            results: Vec::with_capacity(COUPONS_MAX + 1),
            chain: Vec::with_capacity(COUPONS_MAX + 1),
        }
    }

    // ---------------------------------------------------------------------------------------
    // Views.

    #[must_use]
    pub fn campaign(&self, id: u128) -> Option<CampaignView> {
        let &index = self.campaign_index.get(&id)?;
        let c = &self.campaigns[index as usize];
        Some(CampaignView {
            campaign: c.record,
            status: c.status,
            funded: c.funded,
            returned: c.returned,
            reserved: c.reserved,
            spent: c.spent,
            grabbed: c.grabbed,
            available: c.funded - c.returned - c.reserved - c.spent - c.grabbed,
            issued: c.issued,
            redemptions: c.redemptions,
        })
    }

    #[must_use]
    pub fn campaign_count(&self) -> usize {
        self.campaigns.len()
    }

    #[must_use]
    pub fn coupon(&self, id: u128) -> Option<CouponView> {
        let &index = self.coupon_index.get(&id)?;
        let c = &self.coupons[index as usize];
        Some(CouponView {
            id: c.id,
            campaign_id: self.campaigns[c.campaign as usize].record.id,
            user_id: c.user_id,
            status: c.status,
            expires_at: c.expires_at,
            checkout_id: if c.checkout == NO_CHECKOUT {
                0
            } else {
                self.checkout_id(c.checkout)
            },
        })
    }

    fn checkout_id(&self, index: u32) -> u128 {
        match self.checkouts[index as usize].command {
            Command::Checkout { id, .. } => id,
            _ => unreachable!("a checkout holds its checkout command"),
        }
    }

    #[must_use]
    pub fn checkout(&self, id: u128) -> Option<CheckoutView> {
        let &index = self.checkout_index.get(&id)?;
        let c = &self.checkouts[index as usize];
        Some(CheckoutView {
            command: c.command,
            status: c.status,
            buyer_amount: c.buyer_amount,
            discount: c.applied().iter().map(|a| a.discount).sum(),
            refunded: c.refunded(),
            deadline: c.deadline,
        })
    }

    /// The red packet a user grabbed from a pool (0: none).
    #[must_use]
    pub fn grabbed(&self, campaign_id: u128, user_id: u128) -> u64 {
        self.campaign_index
            .get(&campaign_id)
            .and_then(|&c| self.usage.get(&(c, user_id)))
            .map_or(0, |u| u.grabbed)
    }

    /// The transfers `commands` may post or resolve, by the ids they will have, for the shell
    /// to prefetch their cold namesakes (see `ledger::Ledger::prefetch_needs`). Computed from
    /// the commands and this state, before the batch applies.
    pub fn prefetch_keys(&self, commands: &[Command], out: &mut Vec<PrefetchKey>) {
        let plain = PrefetchKey::plain;
        let resolving = PrefetchKey::resolving;
        for command in commands {
            match *command {
                Command::FundCampaign { id, .. }
                | Command::GrabRedPacket { id, .. }
                | Command::EarnCoins { id, .. } => {
                    out.push(plain(id));
                }
                Command::DrawLottery { id, .. } => {
                    out.push(plain(id));
                    out.push(plain(derived_id(id, TAG_DRAW_COST)));
                }
                Command::ExpireCoins { campaign_id } => {
                    if let Some(&c) = self.campaign_index.get(&campaign_id) {
                        out.extend(
                            self.lot_queue
                                .range((c, 0, 0)..=(c, u64::MAX, u32::MAX))
                                .take(crate::record::EXPIRE_MAX)
                                .map(|&(_, _, lot)| {
                                    plain(derived_id(self.lots[lot as usize].id, TAG_EXPIRE))
                                }),
                        );
                    }
                }
                Command::AddPrize { .. } | Command::SetCampaignRule { .. } => {}
                Command::SetCampaignStatus { campaign_id, .. } => {
                    out.push(plain(derived_id(campaign_id, TAG_CLOSE)));
                }
                Command::IssueCoupon { .. } | Command::ClaimCoupon { .. } => {}
                Command::Checkout { id, coupons, .. } => {
                    out.push(plain(id));
                    out.push(plain(derived_id(id, TAG_PAYER)));
                    // A hold per coupon applied, at most one per coupon listed.
                    let listed = listed_coupons(&coupons) as u32;
                    out.extend((0..listed).map(|i| plain(derived_id(id, TAG_HOLD + i))));
                }
                Command::CaptureCheckout { id, checkout_id }
                | Command::VoidCheckout { id, checkout_id } => {
                    let tag = if matches!(command, Command::VoidCheckout { .. }) {
                        TAG_VOID
                    } else {
                        TAG_CAPTURE
                    };
                    out.push(resolving(id, checkout_id));
                    out.push(resolving(id, derived_id(checkout_id, TAG_PAYER)));
                    out.extend((0..COUPONS_MAX as u32).map(|i| {
                        resolving(
                            derived_id(id, tag + i),
                            derived_id(checkout_id, TAG_HOLD + i),
                        )
                    }));
                }
                Command::RefundCheckout { id, .. } => {
                    out.push(plain(id));
                    out.extend(
                        (0..COUPONS_MAX as u32).map(|i| plain(derived_id(id, TAG_REFUND + i))),
                    );
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Campaigns.

    /// Creates a campaign and its budget account (one ledger timestamp).
    pub fn create_campaign(&mut self, ledger: &mut Ledger, timestamp: u64, c: &Campaign) -> R {
        if let Some(code) = id_refusal(c.id) {
            return code;
        }
        if let Some(&index) = self.campaign_index.get(&c.id) {
            return if self.campaigns[index as usize].record == *c {
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
        match c.kind {
            CampaignKind::Coins if !coins => return R::OfferInvalid,
            CampaignKind::Coins => {}
            _ if coins || c.coins_valid_for != 0 => return R::ReservedField,
            _ => {}
        }
        if c.kind != CampaignKind::Lottery && (c.draws_per_user != 0 || c.draw_cost != 0) {
            return R::ReservedField;
        }
        match ledger.lookup_account(c.sponsor_account_id) {
            None => return R::SponsorAccountNotFound,
            Some((a, _)) if a.flags.managed() || a.ledger != c.ledger => {
                return R::SponsorAccountInvalid;
            }
            Some(_) => {}
        }
        if id_refusal(c.budget_account_id).is_some()
            || ledger.lookup_account(c.budget_account_id).is_some()
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
        let mut results = Vec::with_capacity(1);
        ledger.create_accounts(timestamp, &[budget], &mut results);
        if results[0] != CreateAccountResult::Ok {
            return R::LedgerRejected;
        }
        let index = u32::try_from(self.campaigns.len()).expect("campaigns fit u32");
        self.campaign_index.insert(c.id, index);
        self.campaigns.push(CampaignState {
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

    // ---------------------------------------------------------------------------------------
    // Commands.

    /// Executes one command. It may use `command.timestamp_count()` ledger timestamps from
    /// `first`; checkouts expire first, at `first`.
    pub fn execute(
        &mut self,
        ledger: &mut Ledger,
        credit: &mut Credit,
        first: u64,
        command: &Command,
    ) -> R {
        self.expire(first);
        let mut clock = Clock {
            next: first,
            left: command.timestamp_count(),
        };
        match *command {
            Command::FundCampaign {
                id,
                campaign_id,
                amount,
            } => self.fund(ledger, &mut clock, command, id, campaign_id, amount),
            Command::SetCampaignStatus {
                campaign_id,
                change,
            } => self.set_status(ledger, &mut clock, campaign_id, change),
            Command::IssueCoupon {
                id,
                campaign_id,
                user_id,
                user_segments,
            } => self.issue(first, id, campaign_id, user_id, user_segments, false),
            Command::ClaimCoupon {
                id,
                campaign_id,
                user_id,
                user_segments,
            } => self.issue(first, id, campaign_id, user_id, user_segments, true),
            Command::Checkout { .. } => self.checkout_command(ledger, credit, &mut clock, command),
            Command::CaptureCheckout { id, checkout_id } => {
                self.resolve_checkout(ledger, credit, &mut clock, command, id, checkout_id, false)
            }
            Command::VoidCheckout { id, checkout_id } => {
                self.resolve_checkout(ledger, credit, &mut clock, command, id, checkout_id, true)
            }
            Command::RefundCheckout {
                id,
                checkout_id,
                amount,
            } => self.refund(ledger, credit, &mut clock, command, id, checkout_id, amount),
            Command::GrabRedPacket { .. } => self.grab(ledger, credit, &mut clock, command),
            Command::AddPrize { .. } => self.add_prize(command),
            Command::DrawLottery { .. } => self.draw_lottery(ledger, &mut clock, command),
            Command::EarnCoins { .. } => self.earn_coins(ledger, &mut clock, command),
            Command::ExpireCoins { campaign_id } => {
                self.expire_coins(ledger, &mut clock, campaign_id)
            }
            Command::SetCampaignRule {
                campaign_id,
                len,
                text,
            } => self.set_rule(campaign_id, len, text),
        }
    }

    /// Lets every live checkout whose holds expire at or before `now` go: its coupons are
    /// free again and its reservations released (the ledger expires the holds themselves).
    pub fn expire(&mut self, now: u64) {
        while let Some(&(deadline, index)) = self.expiry.first() {
            if deadline > now {
                break;
            }
            self.expiry.pop_first();
            self.release(index, CheckoutStatus::Expired);
        }
    }

    /// Ends a live checkout without capture: coupons available, reservations given back.
    pub(crate) fn release(&mut self, index: u32, status: CheckoutStatus) {
        let checkout = &mut self.checkouts[index as usize];
        debug_assert_eq!(checkout.status, CheckoutStatus::Authorized);
        checkout.status = status;
        let user_id = match checkout.command {
            Command::Checkout { user_id, .. } => user_id,
            _ => unreachable!("a checkout holds its checkout command"),
        };
        let applied = *checkout;
        for (k, a) in applied.applied().iter().enumerate() {
            let first = self.first_of_campaign(applied.applied(), k);
            let coupon = &mut self.coupons[a.coupon as usize];
            coupon.status = CouponStatus::Available;
            coupon.checkout = NO_CHECKOUT;
            let campaign = coupon.campaign;
            let c = &mut self.campaigns[campaign as usize];
            c.reserved -= a.discount;
            c.redemptions -= u32::from(first);
            let usage = self
                .usage
                .get_mut(&(campaign, user_id))
                .expect("usage of a reserving user");
            usage.redemptions -= u32::from(first);
            usage.discount -= a.discount;
        }
    }

    /// An id a command posting under its own id may not take: a retry of another command,
    /// a checkout's, or a transfer's.
    pub(crate) fn op_refusal(&self, ledger: &Ledger, id: u128, command: &Command) -> Option<R> {
        if let Some(code) = id_refusal(id) {
            return Some(code);
        }
        if let Some(&op) = self.ops.get(&id) {
            return Some(if op == command.fingerprint() {
                R::Exists
            } else {
                R::ExistsWithDifferentFields
            });
        }
        if self.checkout_index.contains_key(&id) || ledger.find_transfer(id).is_some() {
            return Some(R::IdAlreadyUsed);
        }
        None
    }

    pub(crate) fn live_campaign(&self, campaign_id: u128, kind: CampaignKind) -> Result<u32, R> {
        let &index = self
            .campaign_index
            .get(&campaign_id)
            .ok_or(R::CampaignNotFound)?;
        let c = &self.campaigns[index as usize];
        if c.record.kind != kind {
            return Err(R::CampaignKindMismatch);
        }
        match c.status {
            CampaignStatus::Closed => Err(R::CampaignClosed),
            CampaignStatus::Paused => Err(R::CampaignPaused),
            CampaignStatus::Active => Ok(index),
        }
    }

    pub(crate) fn window_refusal(c: &Campaign, now: u64) -> Option<R> {
        if now < c.starts_at {
            Some(R::CampaignNotStarted)
        } else if c.ends_at != 0 && now >= c.ends_at {
            Some(R::CampaignEnded)
        } else {
            None
        }
    }

    /// Posts transfers as one linked chain (all or nothing); on failure, the index of the one
    /// that failed and its code.
    pub(crate) fn post_chain(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
        transfers: &mut [Transfer],
    ) -> Result<(), (usize, R)> {
        let n = transfers.len();
        for (i, t) in transfers.iter_mut().enumerate() {
            if i + 1 < n {
                t.flags.0 |= TransferFlags::LINKED;
            }
        }
        let timestamp = clock.take(n as u64);
        self.results.clear();
        ledger.post_transfers(timestamp, transfers, &mut self.results);
        if self
            .results
            .iter()
            .all(|r| *r == ledger::CreateTransferResult::Ok)
        {
            return Ok(());
        }
        let failed = self.results.iter().position(|r| {
            !matches!(
                r,
                ledger::CreateTransferResult::Ok | ledger::CreateTransferResult::LinkedEventFailed
            )
        });
        Err(match failed {
            Some(i) => (i, R::from_ledger(self.results[i])),
            None => (0, R::LedgerRejected),
        })
    }

    fn fund(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
        command: &Command,
        id: u128,
        campaign_id: u128,
        amount: u64,
    ) -> R {
        if let Some(code) = self.op_refusal(ledger, id, command) {
            return code;
        }
        let &index = match self.campaign_index.get(&campaign_id) {
            Some(index) => index,
            None => return R::CampaignNotFound,
        };
        let c = self.campaigns[index as usize];
        if c.status == CampaignStatus::Closed {
            return R::CampaignClosed;
        }
        if amount == 0 {
            return R::AmountMustNotBeZero;
        }
        if c.funded.checked_add(amount).is_none() {
            return R::OverflowsBalance;
        }
        let mut transfer = [campaign_transfer(
            &c.record,
            id,
            c.record.sponsor_account_id,
            c.record.budget_account_id,
            amount,
        )];
        if let Err((_, code)) = self.post_chain(ledger, clock, &mut transfer) {
            return code;
        }
        self.campaigns[index as usize].funded += amount;
        self.ops.insert(id, command.fingerprint());
        R::Ok
    }

    fn set_status(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
        campaign_id: u128,
        change: StatusChange,
    ) -> R {
        let &index = match self.campaign_index.get(&campaign_id) {
            Some(index) => index,
            None => return R::CampaignNotFound,
        };
        let c = self.campaigns[index as usize];
        match (c.status, change) {
            // Retries of a change that already happened.
            (CampaignStatus::Closed, StatusChange::Close)
            | (CampaignStatus::Paused, StatusChange::Pause)
            | (CampaignStatus::Active, StatusChange::Resume) => return R::Ok,
            (CampaignStatus::Closed, _) => return R::CampaignClosed,
            _ => {}
        }
        let status = match change {
            StatusChange::Pause => CampaignStatus::Paused,
            StatusChange::Resume => CampaignStatus::Active,
            StatusChange::Close => {
                if c.reserved > 0 {
                    return R::CampaignHasReservations;
                }
                let left = c.funded - c.returned - c.spent - c.grabbed;
                if left > 0 {
                    let mut transfer = [campaign_transfer(
                        &c.record,
                        derived_id(campaign_id, TAG_CLOSE),
                        c.record.budget_account_id,
                        c.record.sponsor_account_id,
                        left,
                    )];
                    if let Err((_, code)) = self.post_chain(ledger, clock, &mut transfer) {
                        return code;
                    }
                    self.campaigns[index as usize].returned += left;
                }
                CampaignStatus::Closed
            }
        };
        self.campaigns[index as usize].status = status;
        R::Ok
    }

    fn issue(
        &mut self,
        now: u64,
        id: u128,
        campaign_id: u128,
        user_id: u128,
        user_segments: u32,
        claimed: bool,
    ) -> R {
        if let Some(code) = id_refusal(id) {
            return code;
        }
        if let Some(&index) = self.coupon_index.get(&id) {
            let coupon = &self.coupons[index as usize];
            let same = self.campaigns[coupon.campaign as usize].record.id == campaign_id
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
        if let Some(code) = self.issue_refusal(index, user_id, user_segments, now, claimed) {
            return code;
        }
        self.push_coupon(id, index, user_id, now, claimed);
        R::Ok
    }

    /// Why coupon campaign `index` (live) cannot give a coupon to `user_id` now.
    pub(crate) fn issue_refusal(
        &self,
        index: u32,
        user_id: u128,
        user_segments: u32,
        now: u64,
        claimed: bool,
    ) -> Option<R> {
        let c = &self.campaigns[index as usize];
        let record = c.record;
        if c.status != CampaignStatus::Active {
            return Some(if c.status == CampaignStatus::Closed {
                R::CampaignClosed
            } else {
                R::CampaignPaused
            });
        }
        // An operator (or a lottery) may issue before the start; a user claims while it runs.
        match Self::window_refusal(&record, now) {
            Some(R::CampaignNotStarted) if !claimed => {}
            Some(code) => return Some(code),
            None => {}
        }
        if !eligible(&record, user_segments) {
            return Some(R::UserNotEligible);
        }
        if record.stock != 0 && c.issued >= record.stock {
            return Some(R::StockExhausted);
        }
        let usage = self
            .usage
            .get(&(index, user_id))
            .copied()
            .unwrap_or_default();
        if record.coupons_per_user != 0 && usage.coupons >= record.coupons_per_user {
            return Some(R::PerUserCouponLimit);
        }
        if claimed {
            let facts = Facts {
                segments: user_segments,
                ..Facts::default()
            };
            if !self.rule_holds(index, user_id, now, &facts) {
                return Some(R::RuleNotMet);
            }
        }
        None
    }

    /// Gives coupon `id` of campaign `index` to `user_id` (checked by `issue_refusal`).
    pub(crate) fn push_coupon(
        &mut self,
        id: u128,
        index: u32,
        user_id: u128,
        now: u64,
        claimed: bool,
    ) {
        let record = self.campaigns[index as usize].record;
        let valid_until = if record.coupon_valid_for == 0 {
            0
        } else {
            now.saturating_add(u64::from(record.coupon_valid_for) * NS_PER_S)
        };
        self.campaigns[index as usize].issued += 1;
        self.usage.entry_or_default((index, user_id)).coupons += 1;
        let coupon = u32::try_from(self.coupons.len()).expect("coupons fit u32");
        self.coupon_index.insert(id, coupon);
        self.user_coupons.insert((user_id, coupon));
        self.coupons.push(Coupon {
            id,
            campaign: index,
            user_id,
            claimed,
            expires_at: valid_until,
            status: CouponStatus::Available,
            checkout: NO_CHECKOUT,
        });
    }
}
