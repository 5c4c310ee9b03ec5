//! Campaigns and promotions commands, and their fixed-size little-endian records (log and wire
//! encoding).
//!
//! Both are 256-byte records. A command's first byte is its kind; fields follow in declaration
//! order, packed, little-endian; the rest of the record is zero. Decoding never panics: an
//! unknown kind, an enum byte out of range or a non-zero byte past the fields is an error naming
//! the offset.

use stdx::bytes::{Reader, Truncated, Writer};

pub const RECORD_SIZE: usize = 256;
/// Most coupons one payment may carry.
pub const COUPONS_MAX: usize = 4;

/// How many coupons a checkout lists: the list ends at its first zero (`plan` refuses a list
/// that goes on after one), and a checkout posts at most one hold per coupon listed.
pub(crate) fn listed_coupons(coupons: &[u128; COUPONS_MAX]) -> usize {
    coupons.iter().take_while(|&&c| c != 0).count()
}

/// What a campaign gives away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum CampaignKind {
    /// Coupons, issued or claimed, redeemed against payments.
    Coupon = 1,
    /// A red-packet pool of `pool_amount` fen in `stock` packets, grabbed once per user.
    RedPacket = 2,
    /// A lottery: prizes (`add_prize`) drawn with fixed probabilities from the campaign's
    /// `seed`, `stock` draws in all (0: no limit), `draws_per_user` each.
    Lottery = 3,
    /// Reward coins earned by tasks (a daily check-in, a purchase), paid from a budget on a coin
    /// ledger into the user's coin account, valid for `coins_valid_for` seconds.
    Coins = 4,
}

/// What a lottery prize gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PrizeKind {
    /// `amount` of the campaign's ledger (fen, or coins on a coin ledger) from the budget to the
    /// winner's account.
    Cash = 1,
    /// A coupon of the coupon campaign `coupon_campaign_id`, issued to the winner under the
    /// draw's id (within that campaign's stock and per-user limit).
    Coupon = 2,
    /// A limited place (a test drive, a gift to collect): counted, no money moves.
    Slot = 3,
}

/// Most prizes one lottery may have.
pub const PRIZES_MAX: usize = 16;
/// Draws are out of this many: a prize's `weight_ppm` is its probability in parts per million.
pub const DRAW_RANGE: u32 = 1_000_000;
/// Bytes of a rule's text (`set_campaign_rule`).
pub const RULE_TEXT_MAX: usize = crate::rule::RULE_TEXT_MAX;

/// A coupon's discount. Thresholds compare with the payment's whole amount; the discount is
/// taken from what higher-priority coupons left to pay, and never exceeds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// Spend at least `min_spend`, save `amount` (满减).
    Threshold { min_spend: u64, amount: u64 },
    /// Spend at least `min_spend`, save `bps` basis points, at most `cap` (0: no cap).
    Percent { min_spend: u64, bps: u16, cap: u64 },
    /// The order is free, up to `cap` (免单).
    FreeOrder { cap: u64 },
}

impl Offer {
    /// The discount on a payment of `gross` of which `left` is not yet discounted, or `None`
    /// if the payment is below the threshold.
    #[must_use]
    pub fn discount(self, gross: u64, left: u64) -> Option<u64> {
        match self {
            Offer::Threshold { min_spend, amount } => {
                (gross >= min_spend).then_some(amount.min(left))
            }
            Offer::Percent {
                min_spend,
                bps,
                cap,
            } => (gross >= min_spend).then(|| {
                // left < 2^64 and bps <= 10_000: the product fits u128; the quotient fits u64.
                let share = u64::try_from(u128::from(left) * u128::from(bps) / 10_000)
                    .expect("a share of a u64");
                if cap == 0 { share } else { share.min(cap) }
            }),
            Offer::FreeOrder { cap } => Some(left.min(cap)),
        }
    }

    fn encode(self, w: &mut Writer<'_>) {
        let (kind, min_spend, amount, bps) = match self {
            Offer::Threshold { min_spend, amount } => (1, min_spend, amount, 0),
            Offer::Percent {
                min_spend,
                bps,
                cap,
            } => (2, min_spend, cap, bps),
            Offer::FreeOrder { cap } => (3, 0, cap, 0),
        };
        w.u8(kind).u64(min_spend).u64(amount).u16(bps);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Offer, RecordError> {
        let kind = r.u8()?;
        let kind_offset = r.last_offset();
        let min_spend = r.u64()?;
        let amount = r.u64()?;
        let bps = r.u16()?;
        Ok(match kind {
            1 if bps == 0 => Offer::Threshold { min_spend, amount },
            2 => Offer::Percent {
                min_spend,
                bps,
                cap: amount,
            },
            3 if min_spend == 0 && bps == 0 => Offer::FreeOrder { cap: amount },
            _ => {
                return Err(RecordError::Invalid {
                    offset: kind_offset,
                });
            }
        })
    }
}

/// A campaign: who sponsors it, the budget account that pays for it, when it runs, what it
/// gives, to whom, and its limits. Amounts are fen; times are engine timestamps (ns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Campaign {
    pub id: u128,
    pub kind: CampaignKind,
    /// Funds the budget (`fund_campaign`) and gets what is left when the campaign closes.
    pub sponsor_account_id: u128,
    /// Created with the campaign: a managed account that may never be debited past its credits.
    pub budget_account_id: u128,
    pub ledger: u32,
    /// Ledger code of the budget account and of the transfers the campaign posts.
    pub code: u16,
    /// Active from `starts_at` until before `ends_at` (0: no end).
    pub starts_at: u64,
    pub ends_at: u64,
    /// Users whose segment bits intersect these may take part (0: everyone).
    pub eligible_segments: u32,
    /// Coupons: the discount.
    pub offer: Offer,
    /// Coupons: a payment instrument restriction: the card issuer (0: any) and the BIN range
    /// (`bin_low..=bin_high`; both 0: any).
    pub card_issuer: u32,
    pub bin_low: u32,
    pub bin_high: u32,
    /// Coupons: the merchant (0: any) and category (0: any) a payment must be at.
    pub merchant_account_id: u128,
    pub category: u32,
    /// Coupons: a payment carries at most one coupon of each non-zero group; `u32::MAX` is
    /// exclusive of every other coupon. Higher `priority` applies first.
    pub exclusive_group: u32,
    pub priority: u16,
    /// Coupons: a fully refunded payment gives its coupon back (usable again).
    pub restore_on_refund: bool,
    /// Coupons: seconds a coupon is valid after it is issued (0: until the campaign ends).
    pub coupon_valid_for: u32,
    /// Coupons that may be issued or claimed (red packets: the packet count). 0: no limit
    /// (required for red packets).
    pub stock: u32,
    /// Coupons one user may hold from this campaign (0: no limit).
    pub coupons_per_user: u32,
    /// Redemptions (payments using a coupon) in all and per user (0: no limit).
    pub redemptions_max: u32,
    pub redemptions_per_user: u32,
    /// Most discount one user may get from this campaign (0: no limit).
    pub discount_per_user: u64,
    /// Red packets: the pool's whole amount. Red packets and lotteries: the seed of the
    /// amounts or draws.
    pub pool_amount: u64,
    pub seed: u64,
    /// Coins: coins for a daily check-in (0: not a task), and per yuan (100 fen) of a captured
    /// purchase (0: not a task).
    pub coins_per_check_in: u64,
    pub coins_per_yuan: u32,
    /// Coins: seconds coins stay valid after they are earned (0: they do not expire).
    pub coins_valid_for: u32,
    /// Lotteries: draws one user may make (0: no limit).
    pub draws_per_user: u32,
    /// Lotteries: what one draw costs, paid from the drawer's account into the budget before
    /// the draw (0: free). On a coin ledger, coins exchanged for prizes.
    pub draw_cost: u64,
}

impl Default for Campaign {
    fn default() -> Campaign {
        Campaign {
            id: 0,
            kind: CampaignKind::Coupon,
            sponsor_account_id: 0,
            budget_account_id: 0,
            ledger: 0,
            code: 0,
            starts_at: 0,
            ends_at: 0,
            eligible_segments: 0,
            offer: Offer::FreeOrder { cap: 0 },
            card_issuer: 0,
            bin_low: 0,
            bin_high: 0,
            merchant_account_id: 0,
            category: 0,
            exclusive_group: 0,
            priority: 0,
            restore_on_refund: false,
            coupon_valid_for: 0,
            stock: 0,
            coupons_per_user: 0,
            redemptions_max: 0,
            redemptions_per_user: 0,
            discount_per_user: 0,
            pool_amount: 0,
            seed: 0,
            coins_per_check_in: 0,
            coins_per_yuan: 0,
            coins_valid_for: 0,
            draws_per_user: 0,
            draw_cost: 0,
        }
    }
}

/// A campaign status an operator may set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum StatusChange {
    Pause = 1,
    Resume = 2,
    /// Final: what is left of the budget goes back to the sponsor.
    Close = 3,
}

/// A promotions command. Every client-chosen `id` is unique among promotions commands and
/// ledger transfers: the commands that move money use it as the id of the transfer they post.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Moves `amount` from the sponsor's account into the campaign's budget.
    FundCampaign {
        id: u128,
        campaign_id: u128,
        amount: u64,
    },
    SetCampaignStatus {
        campaign_id: u128,
        change: StatusChange,
    },
    /// An operator grants a coupon (id = coupon id) to a user.
    IssueCoupon {
        id: u128,
        campaign_id: u128,
        user_id: u128,
        user_segments: u32,
    },
    /// A user claims a coupon from the campaign's stock, while the campaign runs.
    ClaimCoupon {
        id: u128,
        campaign_id: u128,
        user_id: u128,
        user_segments: u32,
    },
    /// A payment of `amount` at a merchant, carrying coupons: the coupons' discounts are
    /// reserved from their budgets and the payer (a credit line, or an ordinary account such
    /// as a balance or a bank's clearing account) is held for the rest, all as pending transfers
    /// in one linked chain that expire together after `timeout` seconds (0: never).
    Checkout {
        id: u128,
        user_id: u128,
        payer_id: u128,
        merchant_account_id: u128,
        amount: u64,
        timeout: u32,
        /// Ledger code of the payer's hold when the payer is an ordinary account.
        code: u16,
        /// The instrument paying: its issuer and BIN (for card-bound coupons), and the
        /// merchant's category.
        card_issuer: u32,
        card_bin: u32,
        category: u32,
        /// Coupon ids; zeros after the last.
        coupons: [u128; COUPONS_MAX],
        /// A one-step payment: the discounts and the payment are posted at once (a checkout
        /// captured as it is made; `timeout` must be 0), not held for `capture_checkout`.
        capture: bool,
    },
    /// Posts every hold of a checkout: the coupons are used.
    CaptureCheckout { id: u128, checkout_id: u128 },
    /// Voids every hold of a checkout: the coupons are free again.
    VoidCheckout { id: u128, checkout_id: u128 },
    /// Returns part of a captured payment: the merchant pays back the sponsors' share of it to
    /// their budgets and the rest to the payer.
    RefundCheckout {
        id: u128,
        checkout_id: u128,
        amount: u64,
    },
    /// Grabs one packet of a red-packet pool into the user's account.
    GrabRedPacket {
        id: u128,
        campaign_id: u128,
        user_id: u128,
        account_id: u128,
        user_segments: u32,
    },
    /// Adds prize number `prize` (1, 2, ... in order) to a lottery before its first draw.
    AddPrize {
        campaign_id: u128,
        prize: u8,
        kind: PrizeKind,
        /// The probability of drawing it, in parts per million (all prizes: at most a million).
        weight_ppm: u32,
        /// How many can be won; a draw that lands on a prize given out wins nothing.
        stock: u32,
        /// Cash: the amount.
        amount: u64,
        /// Coupon: the coupon campaign.
        coupon_campaign_id: u128,
    },
    /// One draw of a lottery for a user; a cash prize lands in `account_id` (0 when the lottery
    /// has no cash prize). The outcome is the draw's view.
    DrawLottery {
        id: u128,
        campaign_id: u128,
        user_id: u128,
        account_id: u128,
        user_segments: u32,
    },
    /// Earns coins for a task into the user's coin account: the daily check-in
    /// (`checkout_id` 0), or a captured purchase of the user (once per checkout).
    EarnCoins {
        id: u128,
        campaign_id: u128,
        user_id: u128,
        account_id: u128,
        checkout_id: u128,
        user_segments: u32,
    },
    /// Takes back coins of the campaign whose validity has passed (at most `EXPIRE_MAX` lots
    /// per command, soonest first): what is left of each goes back to the budget.
    ExpireCoins { campaign_id: u128 },
    /// Sets (or, with an empty text, clears) a campaign's custom condition: an expression over
    /// the command's facts (`crate::rule`), which must hold for the campaign to apply.
    SetCampaignRule {
        campaign_id: u128,
        len: u8,
        text: [u8; RULE_TEXT_MAX],
    },
}

/// Coin lots one `expire_coins` takes back at most.
pub const EXPIRE_MAX: usize = 16;

const KIND_FUND: u8 = 1;
const KIND_STATUS: u8 = 2;
const KIND_ISSUE: u8 = 3;
const KIND_CLAIM: u8 = 4;
const KIND_CHECKOUT: u8 = 5;
const KIND_CAPTURE: u8 = 6;
const KIND_VOID: u8 = 7;
const KIND_REFUND: u8 = 8;
const KIND_GRAB: u8 = 9;
const KIND_ADD_PRIZE: u8 = 10;
const KIND_DRAW: u8 = 11;
const KIND_EARN: u8 = 12;
const KIND_EXPIRE_COINS: u8 = 13;
const KIND_RULE: u8 = 14;

impl Command {
    /// Ledger timestamps this command may use: one per transfer it can post.
    #[must_use]
    pub fn timestamp_count(&self) -> u64 {
        match self {
            // The coupon holds and the payer's.
            Command::Checkout { .. }
            | Command::CaptureCheckout { .. }
            | Command::VoidCheckout { .. }
            | Command::RefundCheckout { .. } => COUPONS_MAX as u64 + 1,
            Command::ExpireCoins { .. } => EXPIRE_MAX as u64,
            // Its cost and a cash prize.
            Command::DrawLottery { .. } => 2,
            _ => 1,
        }
    }

    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Command::FundCampaign { .. } => "fund_campaign",
            Command::SetCampaignStatus { .. } => "set_campaign_status",
            Command::IssueCoupon { .. } => "issue_coupon",
            Command::ClaimCoupon { .. } => "claim_coupon",
            Command::Checkout { .. } => "checkout",
            Command::CaptureCheckout { .. } => "capture_checkout",
            Command::VoidCheckout { .. } => "void_checkout",
            Command::RefundCheckout { .. } => "refund_checkout",
            Command::GrabRedPacket { .. } => "grab_red_packet",
            Command::AddPrize { .. } => "add_prize",
            Command::DrawLottery { .. } => "draw_lottery",
            Command::EarnCoins { .. } => "earn_coins",
            Command::ExpireCoins { .. } => "expire_coins",
            Command::SetCampaignRule { .. } => "set_campaign_rule",
        }
    }

    /// A 64-bit fingerprint of the record (a fixed-key hash of its 256 bytes): what promotions
    /// keeps of a command to tell a retry (`exists`) from another command under the same id
    /// (`exists_with_different_fields`), instead of the whole command. Two different commands
    /// share one with probability 2^-64.
    #[must_use]
    pub fn fingerprint(&self) -> u64 {
        thread_local! {
            static SCRATCH: std::cell::RefCell<Vec<u8>> =
                std::cell::RefCell::new(Vec::with_capacity(RECORD_SIZE));
        }
        SCRATCH.with_borrow_mut(|bytes| {
            bytes.clear();
            self.encode(bytes);
            fingerprint(bytes)
        })
    }

    /// Appends the 256-byte record.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let mut w = Writer(out);
        match *self {
            Command::FundCampaign {
                id,
                campaign_id,
                amount,
            } => {
                w.u8(KIND_FUND).u128(id).u128(campaign_id).u64(amount);
            }
            Command::SetCampaignStatus {
                campaign_id,
                change,
            } => {
                w.u8(KIND_STATUS).u128(campaign_id).u8(change as u8);
            }
            Command::IssueCoupon {
                id,
                campaign_id,
                user_id,
                user_segments,
            } => {
                w.u8(KIND_ISSUE)
                    .u128(id)
                    .u128(campaign_id)
                    .u128(user_id)
                    .u32(user_segments);
            }
            Command::ClaimCoupon {
                id,
                campaign_id,
                user_id,
                user_segments,
            } => {
                w.u8(KIND_CLAIM)
                    .u128(id)
                    .u128(campaign_id)
                    .u128(user_id)
                    .u32(user_segments);
            }
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
            } => {
                w.u8(KIND_CHECKOUT)
                    .u128(id)
                    .u128(user_id)
                    .u128(payer_id)
                    .u128(merchant_account_id)
                    .u64(amount)
                    .u32(timeout)
                    .u16(code)
                    .u32(card_issuer)
                    .u32(card_bin)
                    .u32(category);
                for coupon in coupons {
                    w.u128(coupon);
                }
                w.u8(u8::from(capture));
            }
            Command::CaptureCheckout { id, checkout_id } => {
                w.u8(KIND_CAPTURE).u128(id).u128(checkout_id);
            }
            Command::VoidCheckout { id, checkout_id } => {
                w.u8(KIND_VOID).u128(id).u128(checkout_id);
            }
            Command::RefundCheckout {
                id,
                checkout_id,
                amount,
            } => {
                w.u8(KIND_REFUND).u128(id).u128(checkout_id).u64(amount);
            }
            Command::GrabRedPacket {
                id,
                campaign_id,
                user_id,
                account_id,
                user_segments,
            } => {
                w.u8(KIND_GRAB)
                    .u128(id)
                    .u128(campaign_id)
                    .u128(user_id)
                    .u128(account_id)
                    .u32(user_segments);
            }
            Command::AddPrize {
                campaign_id,
                prize,
                kind,
                weight_ppm,
                stock,
                amount,
                coupon_campaign_id,
            } => {
                w.u8(KIND_ADD_PRIZE)
                    .u128(campaign_id)
                    .u8(prize)
                    .u8(kind as u8)
                    .u32(weight_ppm)
                    .u32(stock)
                    .u64(amount)
                    .u128(coupon_campaign_id);
            }
            Command::DrawLottery {
                id,
                campaign_id,
                user_id,
                account_id,
                user_segments,
            } => {
                w.u8(KIND_DRAW)
                    .u128(id)
                    .u128(campaign_id)
                    .u128(user_id)
                    .u128(account_id)
                    .u32(user_segments);
            }
            Command::EarnCoins {
                id,
                campaign_id,
                user_id,
                account_id,
                checkout_id,
                user_segments,
            } => {
                w.u8(KIND_EARN)
                    .u128(id)
                    .u128(campaign_id)
                    .u128(user_id)
                    .u128(account_id)
                    .u128(checkout_id)
                    .u32(user_segments);
            }
            Command::ExpireCoins { campaign_id } => {
                w.u8(KIND_EXPIRE_COINS).u128(campaign_id);
            }
            Command::SetCampaignRule {
                campaign_id,
                len,
                text,
            } => {
                w.u8(KIND_RULE).u128(campaign_id).u8(len).put(&text);
            }
        }
        w.pad_to(start, RECORD_SIZE);
    }

    /// Decodes a 256-byte record.
    pub fn from_bytes(bytes: &[u8; RECORD_SIZE]) -> Result<Command, RecordError> {
        let mut r = Reader::new(bytes);
        let command = match r.u8()? {
            KIND_FUND => Command::FundCampaign {
                id: r.u128()?,
                campaign_id: r.u128()?,
                amount: r.u64()?,
            },
            KIND_STATUS => {
                let campaign_id = r.u128()?;
                let change = match r.u8()? {
                    1 => StatusChange::Pause,
                    2 => StatusChange::Resume,
                    3 => StatusChange::Close,
                    _ => return Err(invalid(&r)),
                };
                Command::SetCampaignStatus {
                    campaign_id,
                    change,
                }
            }
            KIND_ISSUE => Command::IssueCoupon {
                id: r.u128()?,
                campaign_id: r.u128()?,
                user_id: r.u128()?,
                user_segments: r.u32()?,
            },
            KIND_CLAIM => Command::ClaimCoupon {
                id: r.u128()?,
                campaign_id: r.u128()?,
                user_id: r.u128()?,
                user_segments: r.u32()?,
            },
            KIND_CHECKOUT => {
                let id = r.u128()?;
                let user_id = r.u128()?;
                let payer_id = r.u128()?;
                let merchant_account_id = r.u128()?;
                let amount = r.u64()?;
                let timeout = r.u32()?;
                let code = r.u16()?;
                let card_issuer = r.u32()?;
                let card_bin = r.u32()?;
                let category = r.u32()?;
                let mut coupons = [0; COUPONS_MAX];
                for coupon in &mut coupons {
                    *coupon = r.u128()?;
                }
                let capture = match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(invalid(&r)),
                };
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
                }
            }
            KIND_CAPTURE => Command::CaptureCheckout {
                id: r.u128()?,
                checkout_id: r.u128()?,
            },
            KIND_VOID => Command::VoidCheckout {
                id: r.u128()?,
                checkout_id: r.u128()?,
            },
            KIND_REFUND => Command::RefundCheckout {
                id: r.u128()?,
                checkout_id: r.u128()?,
                amount: r.u64()?,
            },
            KIND_GRAB => Command::GrabRedPacket {
                id: r.u128()?,
                campaign_id: r.u128()?,
                user_id: r.u128()?,
                account_id: r.u128()?,
                user_segments: r.u32()?,
            },
            KIND_ADD_PRIZE => {
                let campaign_id = r.u128()?;
                let prize = r.u8()?;
                let kind = match r.u8()? {
                    1 => PrizeKind::Cash,
                    2 => PrizeKind::Coupon,
                    3 => PrizeKind::Slot,
                    _ => return Err(invalid(&r)),
                };
                Command::AddPrize {
                    campaign_id,
                    prize,
                    kind,
                    weight_ppm: r.u32()?,
                    stock: r.u32()?,
                    amount: r.u64()?,
                    coupon_campaign_id: r.u128()?,
                }
            }
            KIND_DRAW => Command::DrawLottery {
                id: r.u128()?,
                campaign_id: r.u128()?,
                user_id: r.u128()?,
                account_id: r.u128()?,
                user_segments: r.u32()?,
            },
            KIND_EARN => Command::EarnCoins {
                id: r.u128()?,
                campaign_id: r.u128()?,
                user_id: r.u128()?,
                account_id: r.u128()?,
                checkout_id: r.u128()?,
                user_segments: r.u32()?,
            },
            KIND_EXPIRE_COINS => Command::ExpireCoins {
                campaign_id: r.u128()?,
            },
            KIND_RULE => {
                let campaign_id = r.u128()?;
                let len = r.u8()?;
                if usize::from(len) > RULE_TEXT_MAX {
                    return Err(invalid(&r));
                }
                let text = r.take::<RULE_TEXT_MAX>()?;
                // Bytes past the text are zero: one encoding per rule.
                if let Some(k) = text[usize::from(len)..].iter().position(|&b| b != 0) {
                    return Err(RecordError::Invalid {
                        offset: 18 + usize::from(len) + k,
                    });
                }
                Command::SetCampaignRule {
                    campaign_id,
                    len,
                    text,
                }
            }
            kind => return Err(RecordError::UnknownKind(kind)),
        };
        finish(&r)?;
        Ok(command)
    }
}

impl Campaign {
    /// Appends the 256-byte record.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let mut w = Writer(out);
        w.u128(self.id)
            .u128(self.sponsor_account_id)
            .u128(self.budget_account_id)
            .u128(self.merchant_account_id)
            .u64(self.starts_at)
            .u64(self.ends_at)
            .u64(self.discount_per_user)
            .u64(self.pool_amount)
            .u64(self.seed)
            .u32(self.ledger)
            .u32(self.eligible_segments)
            .u32(self.card_issuer)
            .u32(self.bin_low)
            .u32(self.bin_high)
            .u32(self.category)
            .u32(self.exclusive_group)
            .u32(self.coupon_valid_for)
            .u32(self.stock)
            .u32(self.coupons_per_user)
            .u32(self.redemptions_max)
            .u32(self.redemptions_per_user)
            .u16(self.code)
            .u16(self.priority)
            .u8(self.kind as u8)
            .u8(u8::from(self.restore_on_refund));
        self.offer.encode(&mut w);
        w.u64(self.coins_per_check_in)
            .u32(self.coins_per_yuan)
            .u32(self.coins_valid_for)
            .u32(self.draws_per_user)
            .u64(self.draw_cost);
        w.pad_to(start, RECORD_SIZE);
    }

    /// Decodes a 256-byte record.
    pub fn from_bytes(bytes: &[u8; RECORD_SIZE]) -> Result<Campaign, RecordError> {
        let mut r = Reader::new(bytes);
        let mut c = Campaign {
            id: r.u128()?,
            sponsor_account_id: r.u128()?,
            budget_account_id: r.u128()?,
            merchant_account_id: r.u128()?,
            starts_at: r.u64()?,
            ends_at: r.u64()?,
            discount_per_user: r.u64()?,
            pool_amount: r.u64()?,
            seed: r.u64()?,
            ledger: r.u32()?,
            eligible_segments: r.u32()?,
            card_issuer: r.u32()?,
            bin_low: r.u32()?,
            bin_high: r.u32()?,
            category: r.u32()?,
            exclusive_group: r.u32()?,
            coupon_valid_for: r.u32()?,
            stock: r.u32()?,
            coupons_per_user: r.u32()?,
            redemptions_max: r.u32()?,
            redemptions_per_user: r.u32()?,
            code: r.u16()?,
            priority: r.u16()?,
            ..Campaign::default()
        };
        c.kind = match r.u8()? {
            1 => CampaignKind::Coupon,
            2 => CampaignKind::RedPacket,
            3 => CampaignKind::Lottery,
            4 => CampaignKind::Coins,
            _ => return Err(invalid(&r)),
        };
        c.restore_on_refund = match r.u8()? {
            0 => false,
            1 => true,
            _ => return Err(invalid(&r)),
        };
        c.offer = Offer::decode(&mut r)?;
        c.coins_per_check_in = r.u64()?;
        c.coins_per_yuan = r.u32()?;
        c.coins_valid_for = r.u32()?;
        c.draws_per_user = r.u32()?;
        c.draw_cost = r.u64()?;
        finish(&r)?;
        Ok(c)
    }
}

/// Why bytes are not a promotions record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    UnknownKind(u8),
    Invalid { offset: usize },
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::UnknownKind(kind) => write!(f, "unknown promotions command kind {kind}"),
            RecordError::Invalid { offset } => {
                write!(f, "invalid promotions record at byte {offset}")
            }
        }
    }
}

impl std::error::Error for RecordError {}

impl From<Truncated> for RecordError {
    fn from(t: Truncated) -> RecordError {
        RecordError::Invalid { offset: t.offset }
    }
}

/// A fixed-key 64-bit hash of record bytes (splitmix64 steps over 8-byte words): stable across
/// machines and versions, so fingerprints in snapshots stay valid.
#[must_use]
pub fn fingerprint(bytes: &[u8]) -> u64 {
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    let mut h = 0x6A09_E667_F3BC_C908_u64 ^ bytes.len() as u64;
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = mix(h ^ u64::from_le_bytes(word)).wrapping_add(0x9E37_79B9_7F4A_7C15);
    }
    mix(h)
}

/// The rest of a record must be zero.
fn finish(r: &Reader<'_>) -> Result<(), RecordError> {
    match r.nonzero_rest() {
        None => Ok(()),
        Some(offset) => Err(RecordError::Invalid { offset }),
    }
}

/// The error for the enum byte just read.
fn invalid(r: &Reader<'_>) -> RecordError {
    RecordError::Invalid {
        offset: r.last_offset(),
    }
}
