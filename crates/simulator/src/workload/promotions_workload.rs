//! The promotions part of the workload: sponsors, merchants and wallets, a few coupon campaigns
//! and red-packet pools, and a mix of every promotions command, drawn against the auditor's
//! state.
//!
//! It aims at the interesting cases: small stocks, per-user limits and redemption caps that
//! bite, budgets funded with too little (one sponsor has only what top-ups gave it), card-bound
//! coupons (issuer, BIN range), merchant and category scopes, exclusive groups and priorities,
//! coupons that expire soon after issue, windows that open and close during the run, checkouts
//! carrying 0-3 coupons paid by wallets, a clearing account and the credit workload's lines,
//! holds that expire (withheld while a known engine bug is open: `options::KNOWN_BUGS`),
//! captures, voids, partial and full refunds (coupons restored or not),
//! red-packet pools of a few packets grabbed, grabbed again and grabbed empty, pause, resume and
//! close, retries of earlier commands (exact, or with one field changed) and commands with one
//! planted defect.
//!
//! In seeds with `Options::games_percent`, lotteries and reward coins too: two lotteries (cash
//! in fen into wallets, or in coins into coin accounts; coupon prizes of the coupon campaigns;
//! slots) whose prizes are added in order, retried, out of order, over-weight or pointing at the
//! wrong campaign, and drawn until stocks and per-user limits bite; two coins campaigns on a coin
//! ledger whose users check in (again the same business day, and after midnight: the clock
//! starts before one) and earn for purchases (captured or not, theirs or not), whose coins
//! clients spend and expiry takes back a few seconds later; and campaign rules from a handful of
//! templates, texts that do not compile, and the empty text.

use engine::Request;
use ledger::{Account, AccountFlags, PendingStatus, RESERVED_ID_MIN, Transfer, TransferFlags};
use promotions::{
    COUPONS_MAX, Campaign, CampaignKind, CampaignStatus, CheckoutStatus, Command, CouponStatus,
    Offer, PrizeKind, RULE_TEXT_MAX, StatusChange,
};

use super::remember;
use crate::auditor::Auditor;
use crate::options::{KnownBug, Options, known_bug};
use stdx::Prng;

/// The ledger of every promotions account.
const LEDGER: u32 = 1;
/// The platform (no limit: it can always fund) and a partner bank (it funds only what top-ups
/// gave it).
const PLATFORM: u128 = 6001;
const BANK_SPONSOR: u128 = 6002;
/// Where top-ups come from, and a card scheme's clearing account that pays card checkouts.
const TOP_UP: u128 = 6005;
const CLEARING: u128 = 6006;
/// Merchants; the second sponsors its own free-order coupons.
const MERCHANTS: [u128; 2] = [6010, 6011];
/// Users' wallets (debits must not exceed credits): user `u` pays from and grabs into
/// `WALLETS[(u - 1) % 5]`.
const WALLETS: [u128; 5] = [6020, 6021, 6022, 6023, 6024];
const OTHER_LEDGER: u128 = 6030;
const MISSING: u128 = 9998;
/// Campaign ids and their budget accounts.
const CAMPAIGN_BASE: u128 = 7000;
const BUDGET_BASE: u128 = 7100;
/// Campaign ids for campaigns with a defect (never created).
const DEFECT_CAMPAIGN_BASE: u128 = 7500;
/// Command ids, coupon ids and top-up transfer ids: apart from the other workloads' ids.
const COMMAND_BASE: u128 = 1 << 44;
const COUPON_BASE: u128 = 1 << 45;
const TOP_UP_BASE: u128 = 1 << 43;
/// Users take part as 1..=USERS.
const USERS: u64 = 6;
/// The bank cards a card-bound coupon accepts: issuer and BIN range.
const ISSUER: u32 = 88;
const BIN_LOW: u32 = 622_000;
const BIN_HIGH: u32 = 622_999;
/// The coin ledger (apart from the ledger workload's 1..=3), its sponsor (no limit), the
/// account spent coins go to, and users' coin accounts: user `u` earns into
/// `COIN_ACCOUNTS[(u - 1) % 5]`; all but the last with `debits_must_not_exceed_credits`.
const COIN_LEDGER: u32 = 8;
const COIN_SPONSOR: u128 = 6040;
const COIN_SINK: u128 = 6041;
const COIN_ACCOUNTS: [u128; 5] = [6050, 6051, 6052, 6053, 6054];
/// Coin accounts the ledger workload's client transfers leave alone, so that what expiry takes
/// back depends on the coin spends here (the last coin account, the sponsor and the sink it
/// uses like any other account, closing them now and then).
pub const QUIET_ACCOUNTS: [u128; 4] = [6050, 6051, 6052, 6053];
/// Rule texts that do not compile (`rule_invalid`): an end too soon, an upper-case letter, an
/// int rule, an unknown name, a literal over i64, a chained comparison, whitespace only, a lone
/// `&`, an empty list, an open parenthesis, a list of 17, bool against int, a dangling `||`,
/// `!` of an int.
pub(crate) const INVALID_RULES: [&str; 14] = [
    "amount >=",
    "Amount >= 1",
    "amount + 1",
    "coins > 3",
    "hour < 99_999_999_999_999_999_999",
    "1 < 2 < 3",
    "   ",
    "amount >= 10 & hour < 3",
    "weekday in []",
    "(hour < 3",
    "hour in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]",
    "segments == true",
    "hour <= 3 ||",
    "!amount",
];

/// What the promotions workload remembers between batches.
pub struct PromotionsWorkload {
    id_next: u128,
    coupon_next: u128,
    top_up_next: u128,
    defect_next: u128,
    /// The seed's campaigns, drawn at first use.
    campaigns: Vec<Campaign>,
    campaigns_sent: Vec<Campaign>,
    commands_sent: Vec<Command>,
    /// Checkout ids sent (answered or not).
    checkouts: Vec<u128>,
    /// The prizes planned for each lottery, in order.
    prize_plans: Vec<(u128, Vec<PlannedPrize>)>,
    /// Expiry runs seldom (coin lots pile up, past the most one `expire_coins` takes).
    expire_seldom: bool,
}

/// A prize a lottery is meant to get (`add_prize`).
#[derive(Clone, Copy, Debug)]
struct PlannedPrize {
    kind: PrizeKind,
    weight_ppm: u32,
    stock: u32,
    amount: u64,
    coupon_campaign_id: u128,
}

/// The promotions state the current request is drawn against.
struct View {
    campaigns: Vec<(u128, CampaignKind, CampaignStatus)>,
    /// (coupon id, user id, available, campaign id, the campaign's exclusive group).
    coupons: Vec<(u128, u128, bool, u128, u32)>,
    authorized: Vec<u128>,
    /// Live checkouts whose payer hold a client resolved: stuck (`docs/simulator.md`, "What
    /// it found").
    stuck: Vec<u128>,
    /// Every checkout that was authorized, whatever became of it, but the stuck ones.
    checkouts: Vec<u128>,
    /// (checkout id, refundable).
    captured: Vec<(u128, u64)>,
    /// Every checkout: (id, user id, status).
    owned: Vec<(u128, u128, CheckoutStatus)>,
    lines: Vec<u128>,
    budgets: Vec<u128>,
    ops: Vec<u128>,
}

impl Default for PromotionsWorkload {
    fn default() -> Self {
        PromotionsWorkload::new()
    }
}

fn wallet(user: u128) -> u128 {
    WALLETS[usize::try_from((user + 4) % 5).expect("small")]
}

fn coin_account(user: u128) -> u128 {
    COIN_ACCOUNTS[usize::try_from((user + 4) % 5).expect("small")]
}

impl PromotionsWorkload {
    #[must_use]
    pub fn new() -> PromotionsWorkload {
        PromotionsWorkload {
            id_next: COMMAND_BASE,
            coupon_next: COUPON_BASE,
            top_up_next: TOP_UP_BASE,
            defect_next: DEFECT_CAMPAIGN_BASE,
            campaigns: Vec::new(),
            campaigns_sent: Vec::new(),
            commands_sent: Vec::new(),
            checkouts: Vec::new(),
            prize_plans: Vec::new(),
            expire_seldom: false,
        }
    }

    /// The next promotions request: the accounts first, then the campaigns, then top-ups of the
    /// wallets and the bank now and then, and commands.
    pub fn request(
        &mut self,
        prng: &mut Prng,
        options: &Options,
        auditor: &Auditor,
        event_count: usize,
    ) -> Request {
        let games = options.games_percent > 0;
        let missing: Vec<Account> = accounts(games)
            .into_iter()
            .filter(|a| !auditor.accounts.contains_key(&a.id))
            .collect();
        if !missing.is_empty() {
            return Request::CreateAccounts(missing);
        }
        if self.campaigns.is_empty() {
            self.campaigns = draw_campaigns(prng, options, auditor.timestamp);
            if games {
                self.draw_games(prng, options, auditor.timestamp);
            }
        }
        let model = &auditor.promotions;
        let uncreated: Vec<Campaign> = self
            .campaigns
            .iter()
            .filter(|c| model.campaign(c.id).is_none())
            .copied()
            .collect();
        if (!uncreated.is_empty() && (model.campaigns.is_empty() || prng.percent(40)))
            || prng.percent(3)
        {
            return Request::CreateCampaigns(self.campaign_request(prng, options, &uncreated));
        }
        let poor = WALLETS
            .iter()
            .chain(&[BANK_SPONSOR])
            .any(|id| auditor.accounts[id].account.credits_posted < 2_000);
        if prng.percent(if poor { 15 } else { 4 }) {
            return Request::CreateTransfers(self.top_ups(prng));
        }
        if games && prng.percent(options.games_percent / 2) {
            return Request::CreateTransfers(self.coin_spends(prng, auditor));
        }
        let view = view(auditor);
        let commands = (0..event_count.min(8))
            .map(|_| self.command(prng, options, auditor, &view))
            .collect();
        Request::Promotions(commands)
    }

    fn next_id(&mut self) -> u128 {
        self.id_next += 1;
        self.id_next
    }

    /// Campaigns not created yet (a few), and now and then a retry (exact, or with a field
    /// changed) or a campaign with one defect.
    fn campaign_request(
        &mut self,
        prng: &mut Prng,
        options: &Options,
        uncreated: &[Campaign],
    ) -> Vec<Campaign> {
        let mut campaigns: Vec<Campaign> = uncreated.iter().take(3).copied().collect();
        if campaigns.is_empty() || prng.percent(30) {
            let extra = if !self.campaigns_sent.is_empty()
                && prng.percent(options.duplicate_percent.max(20))
            {
                let mut campaign = *prng.pick(&self.campaigns_sent);
                if prng.percent(30) {
                    campaign.stock += 1;
                }
                campaign
            } else {
                self.defective_campaign(prng)
            };
            campaigns.push(extra);
        }
        for campaign in &campaigns {
            remember(prng, &mut self.campaigns_sent, *campaign);
        }
        campaigns
    }

    /// A new campaign id with one defect: refused, never created.
    fn defective_campaign(&mut self, prng: &mut Prng) -> Campaign {
        self.defect_next += 1;
        let mut c = Campaign {
            id: self.defect_next,
            budget_account_id: self.defect_next + 100,
            ..*prng.pick(&self.campaigns)
        };
        let games: Vec<Campaign> = self
            .campaigns
            .iter()
            .filter(|c| matches!(c.kind, CampaignKind::Lottery | CampaignKind::Coins))
            .copied()
            .collect();
        let cases = if games.is_empty() { 15 } else { 21 };
        match prng.below(cases) {
            0 => c.id = 0,
            1 => c.id = u128::MAX,
            2 => c.id = RESERVED_ID_MIN + 1,
            3 => c.ledger = 0,
            4 => c.code = 0,
            5 => {
                c.starts_at = c.starts_at.max(1);
                c.ends_at = c.starts_at;
            }
            6 => {
                c.kind = CampaignKind::Coupon;
                c.pool_amount = 0;
                c.seed = 0;
                c.offer = match prng.below(4) {
                    0 => Offer::Threshold {
                        min_spend: 100,
                        amount: 101,
                    },
                    1 => Offer::Threshold {
                        min_spend: 100,
                        amount: 0,
                    },
                    2 => Offer::Percent {
                        min_spend: 0,
                        bps: *prng.pick(&[0, 10_001]),
                        cap: 0,
                    },
                    _ => Offer::FreeOrder { cap: 0 },
                };
            }
            7 => {
                c.kind = CampaignKind::Coupon;
                c.pool_amount = 0;
                c.seed = 0;
                c.offer = Offer::FreeOrder { cap: 100 };
                c.bin_low = BIN_HIGH;
                c.bin_high = BIN_LOW;
            }
            8 => {
                c.kind = CampaignKind::RedPacket;
                c.stock = *prng.pick(&[0, 5]);
                c.pool_amount = 4;
            }
            9 => {
                // A coupon campaign with a red packet's fields (copied from a pool, it has no
                // offer either: two defects).
                c.kind = CampaignKind::Coupon;
                c.bin_low = 0;
                c.bin_high = 0;
                c.seed = 1 + prng.below(9);
            }
            10 => c.sponsor_account_id = MISSING,
            11 => c.sponsor_account_id = BUDGET_BASE + 1,
            12 => c.sponsor_account_id = OTHER_LEDGER,
            13 => c.budget_account_id = *prng.pick(&[0, MERCHANTS[0], PLATFORM]),
            15..21 => {
                let base = *prng.pick(&games);
                c = Campaign {
                    id: c.id,
                    budget_account_id: c.budget_account_id,
                    ..base
                };
                let coins = base.kind == CampaignKind::Coins;
                match prng.below(6) {
                    // A coins campaign with neither task (`offer_invalid`).
                    0 => {
                        c.kind = CampaignKind::Coins;
                        (c.coins_per_check_in, c.coins_per_yuan) = (0, 0);
                        c.draws_per_user = 0;
                    }
                    // A pool on a lottery or a coins campaign (`reserved_field`).
                    1 => c.pool_amount = prng.range(1, 100),
                    // Draws per user or a draw's cost on a non-lottery (`reserved_field`).
                    2 if coins && prng.percent(50) => c.draws_per_user = 2,
                    2 if coins => c.draw_cost = 10,
                    2 => {
                        c.kind = CampaignKind::Coupon;
                        c.offer = Offer::FreeOrder { cap: 100 };
                        (c.seed, c.draws_per_user, c.draw_cost) = (0, 0, 0);
                        if prng.percent(50) {
                            c.draws_per_user = 1;
                        } else {
                            c.draw_cost = 1;
                        }
                    }
                    // Coin fields on a lottery (`reserved_field`).
                    3 if coins => {
                        c.kind = CampaignKind::Lottery;
                        c.coins_per_yuan = c.coins_per_yuan.max(1);
                    }
                    3 => c.coins_valid_for = 5,
                    // A sponsor on another ledger than the campaign's.
                    4 => {
                        c.sponsor_account_id = if c.ledger == COIN_LEDGER {
                            PLATFORM
                        } else {
                            COIN_SPONSOR
                        };
                    }
                    _ => {
                        c.starts_at = c.starts_at.max(1);
                        c.ends_at = c.starts_at;
                    }
                }
            }
            _ => {
                // A retry of a real campaign with one field changed.
                c = *prng.pick(&self.campaigns);
                c.priority = c.priority.wrapping_add(1);
            }
        }
        c
    }

    /// Money into the wallets and the bank sponsor, from the top-up account.
    fn top_ups(&mut self, prng: &mut Prng) -> Vec<Transfer> {
        let count = prng.range(1, 4);
        (0..count)
            .map(|_| {
                self.top_up_next += 1;
                let to = if prng.percent(25) {
                    BANK_SPONSOR
                } else {
                    *prng.pick(&WALLETS)
                };
                Transfer {
                    id: self.top_up_next,
                    debit_account_id: TOP_UP,
                    credit_account_id: to,
                    amount: u128::from(prng.range(500, 8_000)),
                    ledger: LEDGER,
                    code: 1,
                    ..Transfer::default()
                }
            })
            .collect()
    }

    fn command(
        &mut self,
        prng: &mut Prng,
        options: &Options,
        auditor: &Auditor,
        view: &View,
    ) -> Command {
        if prng.percent(options.duplicate_percent) && !self.commands_sent.is_empty() {
            return self.retry(prng);
        }
        let command = if options.games_percent > 0 && prng.percent(options.games_percent) {
            self.game_command(prng, options, auditor, view)
        } else if prng.percent(options.grab_percent) {
            self.grab(prng, options, view)
        } else {
            match prng.below(100) {
                0..8 => self.fund(prng, options, auditor, view),
                8..12 => set_status(prng, view),
                12..22 => self.issue(prng, view, false),
                22..34 => self.issue(prng, view, true),
                34..64 => self.checkout(prng, options, view),
                64..78 => self.resolve(prng, options, view, false),
                78..84 => self.resolve(prng, options, view, true),
                _ => self.refund(prng, options, view),
            }
        };
        remember(prng, &mut self.commands_sent, command);
        command
    }

    /// An earlier command again: mostly exactly (if it answered `ok`, it answers `exists` now),
    /// sometimes with one field changed.
    fn retry(&mut self, prng: &mut Prng) -> Command {
        let mut command = *prng.pick(&self.commands_sent);
        if prng.percent(25) {
            command = match command {
                Command::FundCampaign {
                    id,
                    campaign_id,
                    amount,
                } => Command::FundCampaign {
                    id,
                    campaign_id,
                    amount: amount.wrapping_add(1),
                },
                Command::IssueCoupon {
                    id,
                    campaign_id,
                    user_id,
                    user_segments,
                } => Command::ClaimCoupon {
                    id,
                    campaign_id,
                    user_id,
                    user_segments,
                },
                Command::ClaimCoupon {
                    id,
                    campaign_id,
                    user_id,
                    user_segments,
                } => Command::ClaimCoupon {
                    id,
                    campaign_id,
                    user_id: user_id.wrapping_add(1),
                    user_segments,
                },
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
                } => Command::Checkout {
                    id,
                    user_id,
                    payer_id,
                    merchant_account_id,
                    amount: amount.wrapping_add(1),
                    timeout,
                    code,
                    card_issuer,
                    card_bin,
                    category,
                    coupons,
                    capture,
                },
                Command::CaptureCheckout { id, checkout_id } => {
                    Command::VoidCheckout { id, checkout_id }
                }
                Command::VoidCheckout { id, checkout_id } => Command::VoidCheckout {
                    id,
                    checkout_id: checkout_id.wrapping_add(1),
                },
                Command::RefundCheckout {
                    id,
                    checkout_id,
                    amount,
                } => Command::RefundCheckout {
                    id,
                    checkout_id,
                    amount: amount.wrapping_add(1),
                },
                Command::GrabRedPacket {
                    id,
                    campaign_id,
                    user_id,
                    account_id,
                    user_segments,
                } => Command::GrabRedPacket {
                    id,
                    campaign_id,
                    user_id,
                    account_id: account_id.wrapping_add(1),
                    user_segments,
                },
                Command::DrawLottery {
                    id,
                    campaign_id,
                    user_id,
                    account_id,
                    user_segments,
                } => Command::DrawLottery {
                    id,
                    campaign_id,
                    user_id: user_id.wrapping_add(1),
                    account_id,
                    user_segments,
                },
                Command::EarnCoins {
                    id,
                    campaign_id,
                    user_id,
                    account_id,
                    checkout_id,
                    user_segments,
                } => Command::EarnCoins {
                    id,
                    campaign_id,
                    user_id: user_id.wrapping_add(1),
                    account_id,
                    checkout_id,
                    user_segments,
                },
                Command::AddPrize {
                    campaign_id,
                    prize,
                    kind,
                    weight_ppm,
                    stock,
                    amount,
                    coupon_campaign_id,
                } => Command::AddPrize {
                    campaign_id,
                    prize,
                    kind,
                    weight_ppm: weight_ppm.wrapping_add(1),
                    stock,
                    amount,
                    coupon_campaign_id,
                },
                other => other,
            };
        }
        command
    }

    /// The id a money command posts under: mostly new, sometimes with a defect or taken.
    fn money_id(&mut self, prng: &mut Prng, options: &Options, view: &View) -> u128 {
        if prng.percent(options.invalid_percent / 2) {
            match prng.below(7) {
                0 => 0,
                1 => u128::MAX,
                2 => RESERVED_ID_MIN + u128::from(prng.below(3)),
                // A workload transfer's id, or a top-up's.
                3 => u128::from(prng.range(1, 50)),
                4 => TOP_UP_BASE + 1,
                // A checkout's, or another command's.
                5 if !self.checkouts.is_empty() => *prng.pick(&self.checkouts),
                _ if !view.ops.is_empty() => *prng.pick(&view.ops),
                _ => 0,
            }
        } else {
            self.next_id()
        }
    }

    /// A campaign id: mostly one of the seed's of `kind`, sometimes of the other kind, a
    /// defective one, or one that does not exist.
    fn campaign_id(&self, prng: &mut Prng, view: &View, kind: CampaignKind) -> u128 {
        let of_kind: Vec<u128> = self
            .campaigns
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.id)
            .collect();
        match prng.below(100) {
            0..3 => CAMPAIGN_BASE + 99,
            3..6 if !view.campaigns.is_empty() => prng.pick(&view.campaigns).0,
            _ if !of_kind.is_empty() => *prng.pick(&of_kind),
            _ => prng.pick(&self.campaigns).id,
        }
    }

    fn fund(
        &mut self,
        prng: &mut Prng,
        options: &Options,
        auditor: &Auditor,
        view: &View,
    ) -> Command {
        let id = self.money_id(prng, options, view);
        // A pool not funded in full yet, mostly, while there is one.
        let unfunded: Vec<u128> = self
            .campaigns
            .iter()
            .filter(|c| {
                c.kind == CampaignKind::RedPacket
                    && auditor
                        .promotions
                        .campaign(c.id)
                        .is_some_and(|m| m.funded < c.pool_amount)
            })
            .map(|c| c.id)
            .collect();
        let kind = if options.games_percent > 0 && prng.percent(30) {
            *prng.pick(&[CampaignKind::Lottery, CampaignKind::Coins])
        } else if prng.percent(60) {
            CampaignKind::Coupon
        } else {
            CampaignKind::RedPacket
        };
        let campaign_id = if !unfunded.is_empty() && prng.percent(50) {
            *prng.pick(&unfunded)
        } else {
            self.campaign_id(prng, view, kind)
        };
        let pool = self
            .campaigns
            .iter()
            .find(|c| c.id == campaign_id && c.kind == CampaignKind::RedPacket)
            .map(|c| {
                let funded = auditor.promotions.campaign(c.id).map_or(0, |m| m.funded);
                c.pool_amount.saturating_sub(funded)
            });
        let amount = match (prng.below(10), pool) {
            // Zero, or so much that the campaign's funded total overflows.
            (0, _) if prng.percent(90) => 0,
            (0, _) => u64::MAX - prng.below(1_000),
            (1..3, _) => prng.range(1, 100),
            (_, Some(short)) if short > 0 && prng.percent(70) => short,
            (_, Some(short)) if short > 1 => short / 2,
            _ => prng.range(500, 5_000),
        };
        Command::FundCampaign {
            id,
            campaign_id,
            amount,
        }
    }

    /// A coupon to a user: a coupon campaign mostly; user segments that may miss the
    /// campaign's.
    fn issue(&mut self, prng: &mut Prng, view: &View, claim: bool) -> Command {
        let kind = if prng.percent(95) {
            CampaignKind::Coupon
        } else {
            CampaignKind::RedPacket
        };
        let campaign_id = self.campaign_id(prng, view, kind);
        self.coupon_next += 1;
        let id = if prng.percent(3) {
            *prng.pick(&[0, u128::MAX, RESERVED_ID_MIN])
        } else {
            self.coupon_next
        };
        let user_id = u128::from(prng.range(1, USERS));
        let user_segments = *prng.pick(&[0b1, 0b10, 0b11, 0b100, 0b1, 0]);
        if claim {
            Command::ClaimCoupon {
                id,
                campaign_id,
                user_id,
                user_segments,
            }
        } else {
            Command::IssueCoupon {
                id,
                campaign_id,
                user_id,
                user_segments,
            }
        }
    }

    fn checkout(&mut self, prng: &mut Prng, options: &Options, view: &View) -> Command {
        let id = self.money_id(prng, options, view);
        // Mostly a user with a coupon to spend.
        let available: Vec<(u128, u128, bool, u128, u32)> =
            view.coupons.iter().filter(|c| c.2).copied().collect();
        let user_id = if !available.is_empty() && prng.percent(75) {
            prng.pick(&available).1
        } else {
            u128::from(prng.range(1, USERS))
        };
        let count = match prng.below(100) {
            0..20 => 0,
            20..60 => 1,
            60..85 => 2,
            _ => 3,
        };
        let own: Vec<u128> = view
            .coupons
            .iter()
            .filter(|c| c.1 == user_id && (c.2 || prng.percent(15)))
            .map(|c| c.0)
            .collect();
        let mut coupons = [0u128; COUPONS_MAX];
        let mut listed = 0;
        for _ in 0..count {
            // Mostly the user's own; now and then another's, or one that does not exist.
            let coupon = match prng.below(100) {
                0..90 if !own.is_empty() => *prng.pick(&own),
                0..6 if !view.coupons.is_empty() => prng.pick(&view.coupons).0,
                0..8 => COUPON_BASE - 1,
                _ => continue,
            };
            // Two coupons of one campaign that stack (no exclusive group) are withheld while
            // the engine counts them as two redemptions (`options::KNOWN_BUGS`).
            let campaign_of =
                |id: u128| view.coupons.iter().find(|c| c.0 == id).map(|c| (c.3, c.4));
            let stacks_in_one_campaign = campaign_of(coupon).is_some_and(|(campaign, group)| {
                group == 0
                    && coupons[..listed]
                        .iter()
                        .any(|&other| campaign_of(other).is_some_and(|(c, _)| c == campaign))
            });
            if known_bug(KnownBug::RedemptionsCountCoupons) && stacks_in_one_campaign {
                continue;
            }
            if !coupons[..listed].contains(&coupon) || prng.percent(10) {
                coupons[listed] = coupon;
                listed += 1;
            }
        }
        if listed >= 2 && prng.percent(options.invalid_percent / 2) {
            // A gap in the list.
            coupons[listed] = coupons[listed - 1];
            coupons[listed - 1] = 0;
        }
        let payer_id = if !view.lines.is_empty() && prng.percent(options.promotions_line_percent) {
            *prng.pick(&view.lines)
        } else {
            match prng.below(40) {
                0 => MISSING,
                1 if !view.budgets.is_empty() => *prng.pick(&view.budgets),
                2 => OTHER_LEDGER,
                3..12 => CLEARING,
                _ => wallet(user_id),
            }
        };
        let merchant_account_id = match prng.below(40) {
            0 => MISSING,
            1 if !view.budgets.is_empty() => *prng.pick(&view.budgets),
            2 => OTHER_LEDGER,
            3 if !view.lines.is_empty() => *prng.pick(&view.lines),
            _ => *prng.pick(&MERCHANTS),
        };
        let amount = match prng.below(20) {
            0 if prng.percent(options.invalid_percent) => 0,
            1 => prng.range(10_000, 100_000),
            2..8 => prng.range(1, 500),
            _ => prng.range(500, 4_000),
        };
        let timeout = match prng.below(10) {
            0..4 => 0,
            // Holds that expire during the run (withheld while the engine's expiry lags).
            4..8 if !known_bug(KnownBug::PromotionsExpiryLagsLedger) => {
                u32::try_from(prng.range(1, 4)).expect("small")
            }
            4..8 => 0,
            _ => 3600,
        };
        // A one-step checkout (captured as it is made) holds nothing, so it has no timeout,
        // but now and then one by mistake (`timeout_with_capture`).
        let capture = prng.percent(25);
        let timeout = if capture && !prng.percent(options.invalid_percent) {
            0
        } else {
            timeout
        };
        let code = if prng.percent(options.invalid_percent / 2) {
            0
        } else {
            1 + u16::try_from(prng.below(3)).expect("small")
        };
        self.checkouts.push(id);
        if self.checkouts.len() > 256 {
            let index = prng.index(self.checkouts.len());
            self.checkouts.swap_remove(index);
        }
        Command::Checkout {
            id,
            user_id,
            payer_id,
            merchant_account_id,
            amount,
            timeout,
            code,
            card_issuer: *prng.pick(&[0, ISSUER, ISSUER, 99]),
            card_bin: *prng.pick(&[BIN_LOW + 100, BIN_HIGH, 400_123, 0]),
            category: *prng.pick(&[0, 5, 5, 7]),
            coupons,
            capture,
        }
    }

    /// A checkout to capture or void: mostly a live one, sometimes any sent, sometimes unknown.
    fn checkout_id(&self, prng: &mut Prng, view: &View) -> u128 {
        let roll = prng.below(100);
        if roll < 70 && !view.authorized.is_empty() {
            *prng.pick(&view.authorized)
        } else if roll < 73 && !view.stuck.is_empty() {
            *prng.pick(&view.stuck)
        } else if roll < 90 && !view.checkouts.is_empty() {
            *prng.pick(&view.checkouts)
        } else if roll < 95 && !self.checkouts.is_empty() {
            // Sent, answered or not (stuck ones only now and then, above).
            let id = *prng.pick(&self.checkouts);
            if view.stuck.contains(&id) {
                self.id_next + 1_000
            } else {
                id
            }
        } else {
            self.id_next + 1_000
        }
    }

    fn resolve(&mut self, prng: &mut Prng, options: &Options, view: &View, void: bool) -> Command {
        let checkout_id = self.checkout_id(prng, view);
        let id = self.money_id(prng, options, view);
        if void {
            Command::VoidCheckout { id, checkout_id }
        } else {
            Command::CaptureCheckout { id, checkout_id }
        }
    }

    fn refund(&mut self, prng: &mut Prng, options: &Options, view: &View) -> Command {
        let (checkout_id, refundable) = if !view.captured.is_empty() && prng.percent(90) {
            *prng.pick(&view.captured)
        } else {
            (self.checkout_id(prng, view), 100)
        };
        let amount = match prng.below(10) {
            0 => 0,
            1 => refundable + 1,
            2..5 => refundable,
            _ => prng.range(1, refundable.max(1)),
        };
        Command::RefundCheckout {
            id: self.money_id(prng, options, view),
            checkout_id,
            amount,
        }
    }

    fn grab(&mut self, prng: &mut Prng, options: &Options, view: &View) -> Command {
        let kind = if prng.percent(95) {
            CampaignKind::RedPacket
        } else {
            CampaignKind::Coupon
        };
        let campaign_id = self.campaign_id(prng, view, kind);
        let user_id = u128::from(prng.range(1, USERS + 2));
        let account_id = match prng.below(30) {
            0 => MISSING,
            1 if !view.budgets.is_empty() => *prng.pick(&view.budgets),
            2 => OTHER_LEDGER,
            // A bill credit: the packet repays a credit line.
            3..=6 if !view.lines.is_empty() => *prng.pick(&view.lines),
            _ => wallet(user_id),
        };
        Command::GrabRedPacket {
            id: self.money_id(prng, options, view),
            campaign_id,
            user_id,
            account_id,
            user_segments: *prng.pick(&[0b1, 0b10, 0b11, 0b10, 0]),
        }
    }
}

fn set_status(prng: &mut Prng, view: &View) -> Command {
    let campaign_id = if view.campaigns.is_empty() || prng.percent(3) {
        CAMPAIGN_BASE + 99
    } else {
        prng.pick(&view.campaigns).0
    };
    // Closing is final: rarely.
    let change = match prng.below(40) {
        0..12 => StatusChange::Pause,
        12..38 => StatusChange::Resume,
        _ => StatusChange::Close,
    };
    Command::SetCampaignStatus {
        campaign_id,
        change,
    }
}

fn view(auditor: &Auditor) -> View {
    let model = &auditor.promotions;
    // A payer hold (the checkout's id) no longer pending while its checkout is live.
    let stuck = |id: u128| {
        auditor
            .pending
            .get(&id)
            .is_some_and(|p| p.status != PendingStatus::Pending)
    };
    View {
        campaigns: model
            .campaigns
            .iter()
            .map(|c| (c.record.id, c.record.kind, c.status))
            .collect(),
        coupons: model
            .coupons
            .iter()
            .map(|c| {
                let r = &model.campaigns[c.campaign].record;
                (
                    c.id,
                    c.user_id,
                    c.status == CouponStatus::Available,
                    r.id,
                    r.exclusive_group,
                )
            })
            .collect(),
        authorized: model
            .checkouts
            .iter()
            .filter(|c| c.status == CheckoutStatus::Authorized && !stuck(c.id))
            .map(|c| c.id)
            .collect(),
        stuck: model
            .checkouts
            .iter()
            .filter(|c| c.status == CheckoutStatus::Authorized && stuck(c.id))
            .map(|c| c.id)
            .collect(),
        checkouts: model
            .checkouts
            .iter()
            .filter(|c| !stuck(c.id) || c.status != CheckoutStatus::Authorized)
            .map(|c| c.id)
            .collect(),
        captured: model
            .checkouts
            .iter()
            .filter(|c| c.status == CheckoutStatus::Captured)
            .map(|c| (c.id, c.amount - c.refunded()))
            .collect(),
        owned: model
            .checkouts
            .iter()
            .map(|c| (c.id, c.user_id, c.status))
            .collect(),
        lines: auditor.credit.lines.iter().map(|l| l.id).collect(),
        budgets: model
            .campaigns
            .iter()
            .map(|c| c.record.budget_account_id)
            .collect(),
        ops: model.ops.keys().copied().collect(),
    }
}

/// The accounts promotions needs, created first (with games, the coin ledger's too).
fn accounts(games: bool) -> Vec<Account> {
    let account = |id, ledger, flags| Account {
        id,
        ledger,
        code: 4,
        flags: AccountFlags(flags),
        ..Account::default()
    };
    let limited = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;
    let mut accounts = vec![
        account(PLATFORM, LEDGER, 0),
        account(BANK_SPONSOR, LEDGER, limited),
        account(TOP_UP, LEDGER, 0),
        account(CLEARING, LEDGER, 0),
    ];
    accounts.extend(MERCHANTS.iter().map(|&id| account(id, LEDGER, 0)));
    accounts.extend(WALLETS.iter().map(|&id| account(id, LEDGER, limited)));
    accounts.push(account(OTHER_LEDGER, LEDGER + 1, 0));
    if games {
        accounts.push(account(COIN_SPONSOR, COIN_LEDGER, 0));
        accounts.push(account(COIN_SINK, COIN_LEDGER, 0));
        accounts.extend(COIN_ACCOUNTS.iter().map(|&id| {
            let flags = if id == COIN_ACCOUNTS[4] { 0 } else { limited };
            account(id, COIN_LEDGER, flags)
        }));
    }
    accounts
}

/// The seed's campaigns: four coupon campaigns (a platform 满减, a bank's card-bound percentage,
/// a merchant's free order, a short-lived one whose coupons expire soon after issue) and two
/// red-packet pools, with windows around engine time `now` that open and close during the run.
fn draw_campaigns(prng: &mut Prng, options: &Options, now: u64) -> Vec<Campaign> {
    let step = step_ns(options);
    let window = |prng: &mut Prng| window_at(prng, now, step);
    let small = |prng: &mut Prng, max: u64| {
        if prng.percent(40) {
            0
        } else {
            u32::try_from(prng.range(1, max)).expect("small")
        }
    };
    let mut campaigns = Vec::new();
    for index in 0..6u32 {
        let id = CAMPAIGN_BASE + 1 + u128::from(index);
        let (starts_at, ends_at) = window(prng);
        let mut c = Campaign {
            id,
            kind: CampaignKind::Coupon,
            sponsor_account_id: PLATFORM,
            budget_account_id: BUDGET_BASE + 1 + u128::from(index),
            ledger: LEDGER,
            code: 20 + u16::try_from(index).expect("small"),
            starts_at,
            ends_at,
            restore_on_refund: prng.percent(50),
            priority: u16::try_from(prng.below(4)).expect("small"),
            stock: small(prng, 12),
            coupons_per_user: small(prng, 3),
            redemptions_max: small(prng, 8),
            redemptions_per_user: small(prng, 3),
            discount_per_user: if prng.percent(30) {
                prng.range(200, 1_500)
            } else {
                0
            },
            eligible_segments: if prng.percent(30) { 0b11 } else { 0 },
            ..Campaign::default()
        };
        match index {
            0 => {
                let amount = prng.range(100, 600);
                c.offer = Offer::Threshold {
                    min_spend: amount + prng.range(0, 2_500),
                    amount,
                };
                c.exclusive_group = 1;
            }
            1 => {
                c.sponsor_account_id = BANK_SPONSOR;
                c.offer = Offer::Percent {
                    min_spend: prng.range(0, 500),
                    bps: u16::try_from(prng.range(500, 3_000)).expect("small"),
                    cap: *prng.pick(&[0, 150, 400]),
                };
                match prng.below(3) {
                    0 => c.card_issuer = ISSUER,
                    1 => (c.bin_low, c.bin_high) = (BIN_LOW, BIN_HIGH),
                    _ => {
                        c.card_issuer = ISSUER;
                        (c.bin_low, c.bin_high) = (BIN_LOW, BIN_HIGH);
                    }
                }
                c.category = *prng.pick(&[0, 5]);
                c.exclusive_group = *prng.pick(&[1, 2]);
            }
            2 => {
                c.sponsor_account_id = MERCHANTS[1];
                c.merchant_account_id = *prng.pick(&[0, MERCHANTS[1]]);
                c.offer = Offer::FreeOrder {
                    cap: prng.range(200, 2_000),
                };
                c.exclusive_group = *prng.pick(&[u32::MAX, 3]);
                c.stock = u32::try_from(prng.range(2, 4)).expect("small");
                c.priority = u16::try_from(prng.below(6)).expect("small");
            }
            3 => {
                let amount = prng.range(50, 200);
                c.offer = Offer::Threshold {
                    min_spend: amount + prng.range(0, 300),
                    amount,
                };
                c.coupon_valid_for = u32::try_from(prng.range(1, 5)).expect("small");
                c.ends_at = now + prng.range(20, 60) * step;
                c.starts_at = 0;
            }
            _ => {
                c.kind = CampaignKind::RedPacket;
                c.stock = u32::try_from(prng.range(1, 6)).expect("small");
                let per_packet = if prng.percent(20) {
                    1
                } else {
                    prng.range(1, 60)
                };
                c.pool_amount = u64::from(c.stock) * per_packet + prng.below(u64::from(c.stock));
                c.seed = prng.next_u64();
                c.eligible_segments = if prng.percent(30) { 0b10 } else { 0 };
                c.sponsor_account_id = if index == 4 { PLATFORM } else { BANK_SPONSOR };
                (
                    c.coupons_per_user,
                    c.redemptions_max,
                    c.redemptions_per_user,
                ) = (0, 0, 0);
                (c.discount_per_user, c.priority, c.restore_on_refund) = (0, 0, false);
            }
        }
        campaigns.push(c);
    }
    campaigns
}

/// Engine time moves about this much per step.
fn step_ns(options: &Options) -> u64 {
    (options.clock_step_ns_max / 2).max(1)
}

/// A campaign's window around engine time `now`: open from the start, or opening a few or many
/// steps later; open-ended, or ending tens to hundreds of steps later.
fn window_at(prng: &mut Prng, now: u64, step: u64) -> (u64, u64) {
    let starts_at = match prng.below(10) {
        0..5 => 0,
        5..8 => now + prng.range(1, 20) * step,
        _ => now + prng.range(20, 80) * step,
    };
    let ends_at = match prng.below(10) {
        0..5 => 0,
        _ => starts_at.max(now) + prng.range(30, 300) * step,
    };
    (starts_at, ends_at)
}

/// A lottery's prizes: 2-6, by weights that leave some of the range to win nothing (or, now
/// and then, none), with small stocks; cash of up to `cash_max` (0: no cash prizes), coupons of
/// `coupon_campaigns`, slots.
fn plan_prizes(prng: &mut Prng, cash_max: u64, coupon_campaigns: &[u128]) -> Vec<PlannedPrize> {
    let count = prng.range(2, 6);
    let mut left = 1_000_000u64;
    let mut prizes = Vec::new();
    for k in 0..count {
        let weight = if k + 1 == count && prng.percent(15) {
            left
        } else {
            prng.range(left.min(50_000), left.min(300_000))
        };
        left -= weight;
        let kind = match prng.below(3) {
            0 if cash_max > 0 => PrizeKind::Cash,
            0 | 1 => PrizeKind::Coupon,
            _ => PrizeKind::Slot,
        };
        prizes.push(PlannedPrize {
            kind,
            weight_ppm: u32::try_from(weight).expect("at most a million"),
            stock: u32::try_from(prng.range(1, 4)).expect("small"),
            amount: if kind == PrizeKind::Cash {
                prng.range(1, cash_max)
            } else {
                0
            },
            coupon_campaign_id: if kind == PrizeKind::Coupon {
                *prng.pick(coupon_campaigns)
            } else {
                0
            },
        });
        if left == 0 {
            break;
        }
    }
    prizes
}

/// An integer literal as a rule writes it, now and then with `_` separators.
fn literal(prng: &mut Prng, n: u64) -> String {
    let digits = n.to_string();
    if n < 1_000 || prng.percent(50) {
        return digits;
    }
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            out.push('_');
        }
        out.push(c);
    }
    out
}

/// A rule from the templates the model knows, suited to a campaign of `kind` (`docs/
/// promotions.md`, "Rules as data"): the payment's amount, merchant, card and category for
/// coupons; segments and what the user did for the others; the China clock for all.
pub(crate) fn rule_template(prng: &mut Prng, kind: CampaignKind) -> String {
    let weekdays = |prng: &mut Prng| {
        let mut days: Vec<u64> = (0..7).filter(|_| prng.percent(45)).collect();
        if days.is_empty() {
            days.push(prng.below(7));
        }
        let days: Vec<String> = days.iter().map(u64::to_string).collect();
        format!("weekday in [{}]", days.join(", "))
    };
    let common = |prng: &mut Prng| match prng.below(4) {
        0 => format!("hour < {}", prng.range(1, 24)),
        1 => weekdays(prng),
        2 => format!("day % 2 == {}", prng.below(2)),
        _ => format!("segments == {}", prng.below(4)),
    };
    match kind {
        CampaignKind::Coupon => match prng.below(9) {
            0 => {
                let n = prng.range(100, 3_000);
                format!("amount >= {}", literal(prng, n))
            }
            1 => {
                let n = prng.range(100, 2_000);
                let merchant = prng.pick(&MERCHANTS).to_string();
                format!("amount >= {} && merchant == {merchant}", literal(prng, n))
            }
            2 => {
                let high = u64::from(BIN_LOW) + prng.range(0, 900);
                format!(
                    "bin in {}..={} || issuer == {}",
                    literal(prng, u64::from(BIN_LOW)),
                    literal(prng, high),
                    *prng.pick(&[ISSUER, 99])
                )
            }
            3 => format!("!(category == {})", *prng.pick(&[5, 7])),
            4 => format!("user_coupons < {}", prng.range(1, 3)),
            5 => format!("user_redemptions < {}", prng.range(1, 3)),
            // The longest text there is: 192 bytes, a literal padded with separators.
            6 => format!("amount >= 1{}", "_".repeat(RULE_TEXT_MAX - 11)),
            _ => common(prng),
        },
        CampaignKind::Coins => match prng.below(5) {
            // False for check-ins (their amount is 0).
            0 => format!("amount >= {}", prng.range(100, 3_000)),
            1 => format!("!(category == {})", *prng.pick(&[5, 7])),
            _ => common(prng),
        },
        CampaignKind::Lottery | CampaignKind::RedPacket => match prng.below(4) {
            0 => format!("user_draws < {}", prng.range(1, 4)),
            _ => common(prng),
        },
    }
}

impl PromotionsWorkload {
    /// Two lotteries (one paying fen into wallets, one coins into coin accounts) with their
    /// planned prizes, and two coins campaigns on the coin ledger whose coins expire a few
    /// seconds after they are earned (or, in the second now and then, never).
    fn draw_games(&mut self, prng: &mut Prng, options: &Options, now: u64) {
        let step = step_ns(options);
        self.expire_seldom = prng.percent(30);
        // A few seconds, in steps: lots expire within the run.
        let valid_for = |prng: &mut Prng| {
            let s = (step * prng.range(5, 40) / 1_000_000_000).clamp(1, 20);
            u32::try_from(s).expect("small")
        };
        let coupon_campaigns: Vec<u128> = self
            .campaigns
            .iter()
            .filter(|c| c.kind == CampaignKind::Coupon)
            .map(|c| c.id)
            .collect();
        for index in 6..10u32 {
            let (mut starts_at, ends_at) = window_at(prng, now, step);
            // Open from the start more often than the coupons: the games have fewer commands.
            if prng.percent(40) {
                starts_at = 0;
            }
            let mut c = Campaign {
                id: CAMPAIGN_BASE + 1 + u128::from(index),
                kind: CampaignKind::Lottery,
                sponsor_account_id: COIN_SPONSOR,
                budget_account_id: BUDGET_BASE + 1 + u128::from(index),
                ledger: COIN_LEDGER,
                code: 20 + u16::try_from(index).expect("small"),
                starts_at,
                ends_at,
                eligible_segments: if prng.percent(25) { 0b11 } else { 0 },
                ..Campaign::default()
            };
            match index {
                6 | 7 => {
                    if index == 6 {
                        (c.sponsor_account_id, c.ledger) = (PLATFORM, LEDGER);
                    }
                    c.seed = prng.next_u64();
                    c.stock = if prng.percent(40) {
                        0
                    } else {
                        u32::try_from(prng.range(5, 40)).expect("small")
                    };
                    c.draws_per_user = if prng.percent(40) {
                        0
                    } else {
                        u32::try_from(prng.range(1, 4)).expect("small")
                    };
                    let cash_max = match index {
                        6 => 400,
                        _ if prng.percent(30) => 0,
                        _ => 80,
                    };
                    let mut plan = plan_prizes(prng, cash_max, &coupon_campaigns);
                    // A draw that costs something: fen from a wallet, or coins exchanged for
                    // prizes (now and then a plain exchange: one sure coupon).
                    c.draw_cost = match index {
                        6 if prng.percent(20) => prng.range(10, 100),
                        7 if prng.percent(50) => prng.range(5, 60),
                        _ => 0,
                    };
                    if index == 7 && c.draw_cost > 0 && prng.percent(25) {
                        plan = vec![PlannedPrize {
                            kind: PrizeKind::Coupon,
                            weight_ppm: 1_000_000,
                            stock: u32::try_from(prng.range(2, 8)).expect("small"),
                            amount: 0,
                            coupon_campaign_id: *prng.pick(&coupon_campaigns),
                        }];
                    }
                    self.prize_plans.push((c.id, plan));
                }
                8 => {
                    c.kind = CampaignKind::Coins;
                    c.coins_per_check_in = if prng.percent(75) {
                        prng.range(5, 50)
                    } else {
                        0
                    };
                    c.coins_per_yuan = if c.coins_per_check_in == 0 || prng.percent(60) {
                        u32::try_from(prng.range(1, 20)).expect("small")
                    } else {
                        0
                    };
                    c.coins_valid_for = valid_for(prng);
                    c.discount_per_user = if prng.percent(40) {
                        prng.range(10, 100)
                    } else {
                        0
                    };
                }
                _ => {
                    c.kind = CampaignKind::Coins;
                    c.coins_per_check_in = prng.range(1, 30);
                    c.coins_per_yuan = if prng.percent(50) {
                        u32::try_from(prng.range(1, 10)).expect("small")
                    } else {
                        0
                    };
                    c.coins_valid_for = if prng.percent(30) { 0 } else { valid_for(prng) };
                }
            }
            self.campaigns.push(c);
        }
    }

    /// Clients spend coins: from a coin account to the sink (or another coin account), some of
    /// what it holds, all of it, one coin more, or a little; two in five pending (expiring,
    /// or open until a client resolves it).
    fn coin_spends(&mut self, prng: &mut Prng, auditor: &Auditor) -> Vec<Transfer> {
        let count = prng.range(1, 3);
        (0..count)
            .map(|_| {
                self.top_up_next += 1;
                let from = *prng.pick(&COIN_ACCOUNTS);
                let a = auditor.accounts[&from].account;
                let held = a
                    .credits_posted
                    .saturating_sub(a.debits_posted + a.debits_pending);
                let held = u64::try_from(held).unwrap_or(u64::MAX);
                let to = if prng.percent(85) {
                    COIN_SINK
                } else {
                    *prng.pick(&COIN_ACCOUNTS)
                };
                let amount = match prng.below(10) {
                    0..6 => prng.range(1, held.max(1)),
                    6..8 => held.max(1),
                    8 => held.saturating_add(1),
                    _ => prng.range(1, 30),
                };
                let pending = prng.percent(40);
                Transfer {
                    id: self.top_up_next,
                    debit_account_id: from,
                    credit_account_id: to,
                    amount: u128::from(amount),
                    ledger: COIN_LEDGER,
                    code: 1,
                    flags: TransferFlags(if pending { TransferFlags::PENDING } else { 0 }),
                    timeout: if pending && prng.percent(60) {
                        u32::try_from(prng.range(1, 4)).expect("small")
                    } else {
                        0
                    },
                    ..Transfer::default()
                }
            })
            .collect()
    }

    fn game_command(
        &mut self,
        prng: &mut Prng,
        options: &Options,
        auditor: &Auditor,
        view: &View,
    ) -> Command {
        match prng.below(100) {
            0..10 => self.fund_game(prng, options, view),
            10..20 => {
                let lottery = self.campaign_id(prng, view, CampaignKind::Lottery);
                self.add_prize(prng, auditor, lottery)
            }
            20..46 => {
                // A lottery gets its planned prizes before its first draw, mostly.
                let lottery = self.campaign_id(prng, view, CampaignKind::Lottery);
                let model = &auditor.promotions;
                let unready = model.campaign(lottery).is_some_and(|c| c.issued == 0)
                    && self.prize_plans.iter().any(|(id, plan)| {
                        *id == lottery
                            && model
                                .campaign_index
                                .get(id)
                                .is_some_and(|&index| model.prizes_of(index).len() < plan.len())
                    });
                if unready && prng.percent(95) {
                    self.add_prize(prng, auditor, lottery)
                } else {
                    self.draw(prng, options, view, lottery)
                }
            }
            46..76 => self.earn(prng, options, auditor, view),
            76..88 if self.expire_seldom && prng.percent(90) => {
                self.earn(prng, options, auditor, view)
            }
            76..88 => Command::ExpireCoins {
                campaign_id: self.campaign_id(prng, view, CampaignKind::Coins),
            },
            _ => self.rule(prng, view),
        }
    }

    /// Money (or coins) into a lottery's or a coins campaign's budget.
    fn fund_game(&mut self, prng: &mut Prng, options: &Options, view: &View) -> Command {
        let kind = *prng.pick(&[CampaignKind::Lottery, CampaignKind::Coins]);
        Command::FundCampaign {
            id: self.money_id(prng, options, view),
            campaign_id: self.campaign_id(prng, view, kind),
            amount: prng.range(1_000, 8_000),
        }
    }

    /// A lottery's next planned prize mostly; sometimes one added already (exactly, or with
    /// its stock changed), a number out of order, a weight over the million, no weight or no
    /// stock, an amount its kind does not take, a coupon prize of a campaign that gives no
    /// coupons, or another prize naming a coupon campaign. After the plan, tiny slots.
    fn add_prize(&self, prng: &mut Prng, auditor: &Auditor, campaign_id: u128) -> Command {
        let model = &auditor.promotions;
        let added = model
            .campaign_index
            .get(&campaign_id)
            .map_or(&[][..], |&index| model.prizes_of(index));
        let plan: Vec<PlannedPrize> = self
            .prize_plans
            .iter()
            .find(|(id, _)| *id == campaign_id)
            .map(|(_, plan)| plan.clone())
            .unwrap_or_default();
        let mut prize = plan.get(added.len()).copied().unwrap_or(PlannedPrize {
            kind: PrizeKind::Slot,
            weight_ppm: u32::try_from(prng.range(1, 2_000)).expect("small"),
            stock: 1,
            amount: 0,
            coupon_campaign_id: 0,
        });
        let mut number = u8::try_from(added.len() + 1).unwrap_or(u8::MAX);
        match prng.below(100) {
            0..60 => {}
            60..70 if !plan.is_empty() => {
                let k = prng.index(plan.len());
                prize = plan[k];
                number = u8::try_from(k + 1).expect("a few");
                if prng.percent(30) {
                    prize.stock += 1;
                }
            }
            60..76 => number = *prng.pick(&[0, number.saturating_add(1), 17, u8::MAX]),
            76..82 => {
                let weights: u64 = added.iter().map(|p| u64::from(p.weight_ppm)).sum();
                prize.weight_ppm = u32::try_from(1_000_001 - weights.min(1_000_000))
                    .expect("at most a million and one");
            }
            82..86 if prng.percent(50) => prize.weight_ppm = 0,
            82..86 => prize.stock = 0,
            86..90 => {
                prize.amount = if prize.kind == PrizeKind::Cash {
                    0
                } else {
                    prng.range(1, 100)
                };
            }
            90..95 => {
                prize.kind = PrizeKind::Coupon;
                prize.amount = 0;
                prize.coupon_campaign_id = *prng.pick(&[
                    CAMPAIGN_BASE + 5,
                    CAMPAIGN_BASE + 7,
                    CAMPAIGN_BASE + 9,
                    CAMPAIGN_BASE + 99,
                    0,
                ]);
            }
            _ => {
                if prize.kind == PrizeKind::Coupon {
                    prize.kind = PrizeKind::Slot;
                }
                prize.coupon_campaign_id = CAMPAIGN_BASE + 1;
            }
        }
        Command::AddPrize {
            campaign_id,
            prize: number,
            kind: prize.kind,
            weight_ppm: prize.weight_ppm,
            stock: prize.stock,
            amount: prize.amount,
            coupon_campaign_id: prize.coupon_campaign_id,
        }
    }

    /// A draw by a user, into the account on the lottery's ledger (a wallet or a coin account),
    /// or none (users 7 and 8 have none; a lottery without cash prizes takes none); sometimes
    /// a missing, managed or other-ledger account, or the id of a coupon.
    fn draw(
        &mut self,
        prng: &mut Prng,
        options: &Options,
        view: &View,
        campaign_id: u128,
    ) -> Command {
        let coins = self
            .campaigns
            .iter()
            .any(|c| c.id == campaign_id && c.ledger == COIN_LEDGER);
        let user_id = u128::from(prng.range(1, USERS + 2));
        let (own, other) = if coins {
            (coin_account(user_id), wallet(user_id))
        } else {
            (wallet(user_id), coin_account(user_id))
        };
        let account_id = if user_id > u128::from(USERS) && prng.percent(80) {
            0
        } else {
            match prng.below(40) {
                0..3 => 0,
                3 => MISSING,
                4 if !view.budgets.is_empty() => *prng.pick(&view.budgets),
                5 => other,
                _ => own,
            }
        };
        let id = if prng.percent(2) && !view.coupons.is_empty() {
            prng.pick(&view.coupons).0
        } else {
            self.money_id(prng, options, view)
        };
        Command::DrawLottery {
            id,
            campaign_id,
            user_id,
            account_id,
            user_segments: *prng.pick(&[0b1, 0b10, 0b11, 0b10, 0]),
        }
    }

    /// Coins for a task the campaign offers, mostly: the daily check-in, or a purchase: the
    /// user's captured one (mostly one that earned nothing here yet), the user's not captured,
    /// another user's, an unknown one; mostly into the user's coin account, sometimes none, a
    /// missing, managed or other-ledger one, the sink's or the sponsor's (whose lots expiry
    /// cannot move once the campaign is closed: it would pay the sponsor from itself).
    fn earn(
        &mut self,
        prng: &mut Prng,
        options: &Options,
        auditor: &Auditor,
        view: &View,
    ) -> Command {
        let campaign_id = self.campaign_id(prng, view, CampaignKind::Coins);
        // Where expiry runs seldom, three times the users check in, so lots pile up.
        let users = if self.expire_seldom { 3 * USERS } else { USERS };
        let user_id = u128::from(prng.range(1, users));
        let account_id = match prng.below(40) {
            0 => 0,
            1 => MISSING,
            2 if !view.budgets.is_empty() => *prng.pick(&view.budgets),
            3 => wallet(user_id),
            4 => *prng.pick(&[COIN_SINK, COIN_SPONSOR]),
            _ => coin_account(user_id),
        };
        let mine: Vec<(u128, CheckoutStatus)> = view
            .owned
            .iter()
            .filter(|c| c.1 == user_id)
            .map(|c| (c.0, c.2))
            .collect();
        // The user's captured purchases, mostly those that earned nothing here yet.
        let model = &auditor.promotions;
        let earned = |checkout: u128| {
            let campaign = model.campaign_index.get(&campaign_id);
            let checkout = model.checkout_index.get(&checkout);
            campaign
                .zip(checkout)
                .is_some_and(|(&c, &k)| model.coins_earned.contains(&(c, k)))
        };
        let fresh = prng.percent(75);
        let mut captured: Vec<u128> = mine
            .iter()
            .filter(|c| c.1 == CheckoutStatus::Captured && !(fresh && earned(c.0)))
            .map(|c| c.0)
            .collect();
        if captured.is_empty() {
            captured = mine
                .iter()
                .filter(|c| c.1 == CheckoutStatus::Captured)
                .map(|c| c.0)
                .collect();
        }
        // Mostly a task the campaign offers.
        let (check_in, purchase) = self
            .campaigns
            .iter()
            .find(|c| c.id == campaign_id)
            .map_or((true, true), |c| {
                (c.coins_per_check_in != 0, c.coins_per_yuan != 0)
            });
        let check_ins = match (check_in, purchase) {
            (true, false) => 85,
            (false, true) => 15,
            _ => 45,
        };
        let checkout_id = match prng.below(100) {
            roll if roll < check_ins => 0,
            roll if roll < check_ins + (100 - check_ins) * 6 / 10 && !captured.is_empty() => {
                *prng.pick(&captured)
            }
            roll if roll < check_ins + (100 - check_ins) * 8 / 10 && !mine.is_empty() => {
                prng.pick(&mine).0
            }
            roll if roll < 95 && !view.owned.is_empty() => prng.pick(&view.owned).0,
            _ => self.id_next + 1_000,
        };
        Command::EarnCoins {
            id: self.money_id(prng, options, view),
            campaign_id,
            user_id,
            account_id,
            checkout_id,
            user_segments: *prng.pick(&[0b1, 0b10, 0b11, 0b100, 0]),
        }
    }

    /// A rule for a campaign of the seed (now and then an unknown one): a template, the empty
    /// text (it clears the rule), or a text that does not compile (one not UTF-8 among them).
    fn rule(&mut self, prng: &mut Prng, view: &View) -> Command {
        // Mostly the lotteries' and coins campaigns', so coupons and red packets keep going.
        let games: Vec<&Campaign> = self
            .campaigns
            .iter()
            .filter(|c| matches!(c.kind, CampaignKind::Lottery | CampaignKind::Coins))
            .collect();
        let (campaign_id, kind) = if prng.percent(3) || view.campaigns.is_empty() {
            (CAMPAIGN_BASE + 99, CampaignKind::Coupon)
        } else {
            let c = if prng.percent(65) {
                prng.pick(&games)
            } else {
                prng.pick(&self.campaigns)
            };
            (c.id, c.kind)
        };
        let mut text = [0u8; RULE_TEXT_MAX];
        let bytes: Vec<u8> = match prng.below(100) {
            0..40 => Vec::new(),
            40..50 => prng.pick(&INVALID_RULES).as_bytes().to_vec(),
            50..52 => vec![b'h', 0xFF, b'<', b'1'],
            _ => rule_template(prng, kind).into_bytes(),
        };
        text[..bytes.len()].copy_from_slice(&bytes);
        Command::SetCampaignRule {
            campaign_id,
            len: u8::try_from(bytes.len()).expect("at most 192 bytes"),
            text,
        }
    }
}
