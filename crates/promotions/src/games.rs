//! Lotteries, reward coins and custom campaign rules.
//!
//! A lottery draws from a generator seeded by the campaign's `seed` and the draw's position, so
//! replaying the log draws the same prizes. A draw lands in `0..DRAW_RANGE`; prizes take
//! consecutive slices of that range by their `weight_ppm`, and the rest wins nothing. A draw
//! that lands on a prize that can no longer be given (its stock won out, the budget short, the
//! coupon campaign out of stock) wins nothing: no prize is ever oversold, and the other prizes'
//! odds never change.
//!
//! Coins are earned by tasks into the user's coin account (an ordinary account on the coin
//! campaign's ledger) from the campaign's budget. Each earning is a lot that expires
//! `coins_valid_for` seconds later; `expire_coins` takes back what is left of each due lot,
//! spending counted soonest-expiring first: of the coins that have left an account (debits not
//! taken by expiry), lots are charged in the order they expire. It never takes back more than
//! the account holds, and errs in the holder's favour.
//!
//! A campaign's rule is an expression (`crate::rule`) over the facts of the command it would
//! apply to, compiled when it is set and evaluated in the engine; see `RULE_VARIABLES`.

use ledger::{Ledger, Transfer};
use stdx::Prng;

use crate::record::{CampaignKind, Command, DRAW_RANGE, PRIZES_MAX, PrizeKind, RULE_TEXT_MAX};
use crate::result::PromotionResult as R;
use crate::rule::Rule;
use crate::state::{
    CampaignState, CampaignStatus, Clock, NS_PER_S, Promotions, TAG_DRAW_COST, TAG_EXPIRE,
    campaign_transfer, derived_id, eligible,
};

/// The facts a rule may name, in this order: the payment's `amount` (fen; 0 outside
/// payments), `merchant` (the low 63 bits of the merchant's account id), `category`, card
/// `issuer` and `bin`; the user's `segments`; the engine time in China (UTC+8): `hour`
/// (0-23), `weekday` (0 Monday to 6 Sunday), `day` (days since 1970-01-01); and what the user
/// did in this campaign so far: `user_coupons`, `user_redemptions`, `user_draws`.
pub const RULE_VARIABLES: [&str; 12] = [
    "amount",
    "merchant",
    "category",
    "issuer",
    "bin",
    "segments",
    "hour",
    "weekday",
    "day",
    "user_coupons",
    "user_redemptions",
    "user_draws",
];

/// China Standard Time, the business day of the platform.
const UTC_OFFSET_SECONDS: u64 = 8 * 3600;
const SECONDS_PER_DAY: u64 = 86_400;

/// The business day (days since 1970-01-01, UTC+8) of an engine timestamp.
#[must_use]
pub fn business_day(now: u64) -> u64 {
    (now / NS_PER_S + UTC_OFFSET_SECONDS) / SECONDS_PER_DAY
}

/// What a command tells a rule.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Facts {
    pub(crate) amount: u64,
    pub(crate) merchant: u128,
    pub(crate) category: u32,
    pub(crate) issuer: u32,
    pub(crate) bin: u32,
    pub(crate) segments: u32,
}

impl Facts {
    /// The facts of a payment (a checkout command) for a user with `segments`.
    pub(crate) fn of_checkout(command: &Command, segments: u32) -> Facts {
        match *command {
            Command::Checkout {
                amount,
                merchant_account_id,
                category,
                card_issuer,
                card_bin,
                ..
            } => Facts {
                amount,
                merchant: merchant_account_id,
                category,
                issuer: card_issuer,
                bin: card_bin,
                segments,
            },
            _ => Facts {
                segments,
                ..Facts::default()
            },
        }
    }
}

/// A prize of a lottery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Prize {
    pub(crate) kind: PrizeKind,
    pub(crate) weight_ppm: u32,
    pub(crate) stock: u32,
    pub(crate) won: u32,
    pub(crate) amount: u64,
    /// The coupon campaign (its index) of a coupon prize.
    pub(crate) coupon_campaign: u32,
}

/// One draw: who drew, at which position, and what it won (0: nothing, else the prize number).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Draw {
    pub(crate) id: u128,
    pub(crate) campaign: u32,
    pub(crate) user_id: u128,
    pub(crate) position: u32,
    pub(crate) prize: u8,
}

/// Coins earned by one task, until they expire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CoinLot {
    /// The `earn_coins` id (its expiry transfer's id derives from it).
    pub(crate) id: u128,
    pub(crate) campaign: u32,
    pub(crate) account_id: u128,
    pub(crate) amount: u64,
    pub(crate) expires_at: u64,
    /// Taken back at expiry (set when the lot expires).
    pub(crate) expired: u64,
    pub(crate) done: bool,
}

/// What expiry knows of a coin account: spending charged to expired lots, and coins taken back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CoinAccount {
    pub(crate) consumed: u128,
    pub(crate) expired: u128,
}

/// A campaign's rule: its text (kept for snapshots and views) and the compiled program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoredRule {
    pub(crate) len: u8,
    pub(crate) text: [u8; RULE_TEXT_MAX],
    pub(crate) rule: Rule,
}

impl StoredRule {
    /// Compiles a rule's text; `None` if it is not UTF-8 or does not compile.
    pub(crate) fn compile(len: u8, text: [u8; RULE_TEXT_MAX]) -> Option<StoredRule> {
        let source = std::str::from_utf8(text.get(..usize::from(len))?).ok()?;
        let rule = Rule::compile(source, &RULE_VARIABLES).ok()?;
        Some(StoredRule { len, text, rule })
    }

    pub(crate) fn source(&self) -> &str {
        std::str::from_utf8(&self.text[..usize::from(self.len)]).expect("compiled from UTF-8")
    }
}

/// A draw's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrawView {
    pub id: u128,
    pub campaign_id: u128,
    pub user_id: u128,
    /// The draw's position in the lottery (0 for the first draw).
    pub position: u32,
    /// The prize number won (0: nothing), its kind and amount.
    pub prize: u8,
    pub kind: Option<PrizeKind>,
    pub amount: u64,
}

/// A lottery prize and how many were won.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrizeView {
    pub prize: u8,
    pub kind: PrizeKind,
    pub weight_ppm: u32,
    pub stock: u32,
    pub won: u32,
    pub amount: u64,
    pub coupon_campaign_id: u128,
}

fn budget_left(c: &CampaignState) -> u64 {
    c.funded - c.returned - c.reserved - c.spent - c.grabbed
}

impl Promotions {
    // ---------------------------------------------------------------------------------------
    // Views.

    #[must_use]
    pub fn draw(&self, id: u128) -> Option<DrawView> {
        let &index = self.draw_index.get(&id)?;
        let d = self.draws[index as usize];
        let prize = (d.prize != 0).then(|| self.prizes[&d.campaign][usize::from(d.prize) - 1]);
        Some(DrawView {
            id: d.id,
            campaign_id: self.campaigns[d.campaign as usize].record.id,
            user_id: d.user_id,
            position: d.position,
            prize: d.prize,
            kind: prize.map(|p| p.kind),
            amount: prize.map_or(0, |p| p.amount),
        })
    }

    /// A lottery's prizes, in order (empty for an unknown campaign).
    #[must_use]
    pub fn prizes(&self, campaign_id: u128) -> Vec<PrizeView> {
        let Some(index) = self.campaign_index.get(&campaign_id) else {
            return Vec::new();
        };
        self.prizes.get(index).map_or_else(Vec::new, |prizes| {
            prizes
                .iter()
                .enumerate()
                .map(|(k, p)| PrizeView {
                    prize: u8::try_from(k + 1).expect("at most PRIZES_MAX"),
                    kind: p.kind,
                    weight_ppm: p.weight_ppm,
                    stock: p.stock,
                    won: p.won,
                    amount: p.amount,
                    coupon_campaign_id: if p.kind == PrizeKind::Coupon {
                        self.campaigns[p.coupon_campaign as usize].record.id
                    } else {
                        0
                    },
                })
                .collect()
        })
    }

    /// A campaign's rule text (`None`: no rule, or no campaign).
    #[must_use]
    pub fn rule(&self, campaign_id: u128) -> Option<&str> {
        let index = self.campaign_index.get(&campaign_id)?;
        self.rules.get(index).map(StoredRule::source)
    }

    /// Coins a user earned in a campaign, and coins of the campaign due to expire at `now` or
    /// before (not yet taken back).
    #[must_use]
    pub fn coins(&self, campaign_id: u128, user_id: u128) -> u64 {
        self.campaign_index
            .get(&campaign_id)
            .and_then(|&c| self.game_usage.get(&(c, user_id)))
            .map_or(0, |u| u.coins)
    }

    /// Coin lots of a campaign past their validity at `now`, not taken back yet.
    #[must_use]
    pub fn coin_lots_due(&self, campaign_id: u128, now: u64) -> usize {
        self.campaign_index.get(&campaign_id).map_or(0, |&c| {
            self.lot_queue.range((c, 0, 0)..=(c, now, u32::MAX)).count()
        })
    }

    // ---------------------------------------------------------------------------------------
    // Rules.

    /// The checks a user's command on a campaign makes after its id, in order: the campaign
    /// (found, of `kind`, neither closed nor paused), its window, the user's segments
    /// (`facts.segments`) and the campaign's rule. The campaign's index, or the refusal.
    pub(crate) fn campaign_refusal(
        &self,
        campaign_id: u128,
        kind: CampaignKind,
        user_id: u128,
        now: u64,
        facts: &Facts,
    ) -> Result<u32, R> {
        let index = self.live_campaign(campaign_id, kind)?;
        let record = &self.campaigns[index as usize].record;
        if let Some(code) = Self::window_refusal(record, now) {
            return Err(code);
        }
        if !eligible(record, facts.segments) {
            return Err(R::UserNotEligible);
        }
        if !self.rule_holds(index, user_id, now, facts) {
            return Err(R::RuleNotMet);
        }
        Ok(index)
    }

    /// Whether campaign `index`'s rule (if any) holds for these facts.
    pub(crate) fn rule_holds(&self, index: u32, user_id: u128, now: u64, facts: &Facts) -> bool {
        let Some(stored) = self.rules.get(&index) else {
            return true;
        };
        let usage = self
            .usage
            .get(&(index, user_id))
            .copied()
            .unwrap_or_default();
        let local = now / NS_PER_S + UTC_OFFSET_SECONDS;
        let day = business_day(now);
        let wide = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let values = [
            wide(facts.amount),
            wide(
                u64::try_from(facts.merchant & u128::from(i64::MAX.unsigned_abs()))
                    .expect("63 bits"),
            ),
            i64::from(facts.category),
            i64::from(facts.issuer),
            i64::from(facts.bin),
            i64::from(facts.segments),
            wide(local % SECONDS_PER_DAY / 3600),
            // 1970-01-01 was a Thursday (3, counting Monday as 0).
            wide((day + 3) % 7),
            wide(day),
            i64::from(usage.coupons),
            i64::from(usage.redemptions),
            i64::from(
                self.game_usage
                    .get(&(index, user_id))
                    .map_or(0, |g| g.draws),
            ),
        ];
        stored.rule.eval(&values)
    }

    pub(crate) fn set_rule(&mut self, campaign_id: u128, len: u8, text: [u8; RULE_TEXT_MAX]) -> R {
        let Some(&index) = self.campaign_index.get(&campaign_id) else {
            return R::CampaignNotFound;
        };
        if self.campaigns[index as usize].status == CampaignStatus::Closed {
            return R::CampaignClosed;
        }
        if len == 0 {
            self.rules.remove(&index);
            return R::Ok;
        }
        match StoredRule::compile(len, text) {
            Some(stored) => {
                self.rules.insert(index, stored);
                R::Ok
            }
            None => R::RuleInvalid,
        }
    }

    // ---------------------------------------------------------------------------------------
    // Lotteries.

    pub(crate) fn add_prize(&mut self, command: &Command) -> R {
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
        let c = &self.campaigns[index as usize];
        if c.record.kind != CampaignKind::Lottery {
            return R::CampaignKindMismatch;
        }
        if c.status == CampaignStatus::Closed {
            return R::CampaignClosed;
        }
        let coupon_campaign = match kind {
            PrizeKind::Coupon => match self.campaign_index.get(&coupon_campaign_id) {
                Some(&k) if self.campaigns[k as usize].record.kind == CampaignKind::Coupon => k,
                _ => return R::PrizeInvalid,
            },
            _ if coupon_campaign_id != 0 => return R::PrizeInvalid,
            _ => 0,
        };
        let candidate = Prize {
            kind,
            weight_ppm,
            stock,
            won: 0,
            amount,
            coupon_campaign,
        };
        let prizes = self.prizes.get(&index).map_or(&[][..], Vec::as_slice);
        // A retry of a prize already added.
        if let Some(existing) = usize::from(prize)
            .checked_sub(1)
            .and_then(|k| prizes.get(k))
        {
            let same = Prize {
                won: 0,
                ..*existing
            } == candidate;
            return if same {
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

    pub(crate) fn draw_lottery(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
        command: &Command,
    ) -> R {
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
        if let Some(code) = self.op_refusal(ledger, id, command) {
            return code;
        }
        // A coupon prize is issued under the draw's id.
        if self.coupon_index.contains_key(&id) {
            return R::IdAlreadyUsed;
        }
        let now = clock.next;
        let facts = Facts {
            segments: user_segments,
            ..Facts::default()
        };
        let index =
            match self.campaign_refusal(campaign_id, CampaignKind::Lottery, user_id, now, &facts) {
                Ok(index) => index,
                Err(code) => return code,
            };
        let c = self.campaigns[index as usize];
        let r = c.record;
        if r.stock != 0 && c.issued >= r.stock {
            return R::DrawsExhausted;
        }
        let draws = self
            .game_usage
            .get(&(index, user_id))
            .map_or(0, |g| g.draws);
        if r.draws_per_user != 0 && draws >= r.draws_per_user {
            return R::PerUserDrawLimit;
        }
        let prizes = self.prizes.get(&index).map_or(&[][..], Vec::as_slice);
        let needs_account =
            account_id != 0 || r.draw_cost > 0 || prizes.iter().any(|p| p.kind == PrizeKind::Cash);
        if needs_account && let Some(code) = self.payee_refusal(ledger, account_id, r.ledger) {
            return code;
        }
        if r.draw_cost > 0 {
            let (a, _) = ledger.lookup_account(account_id).expect("checked above");
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
        // The draw: a ticket in 0..DRAW_RANGE; prizes take consecutive slices by weight.
        let position = c.issued;
        let mut rng = Prng::new(
            r.seed
                ^ u64::from(position)
                    .wrapping_add(1)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let ticket = rng.range(0, u64::from(DRAW_RANGE) - 1);
        let mut edge = 0u64;
        let landed = prizes.iter().position(|p| {
            edge += u64::from(p.weight_ppm);
            ticket < edge
        });
        let won = landed.filter(|&k| {
            let p = prizes[k];
            p.won < p.stock
                && match p.kind {
                    // The draw's cost reaches the budget first, in the same chain.
                    PrizeKind::Cash => budget_left(&c) + r.draw_cost >= p.amount,
                    PrizeKind::Coupon => self
                        .issue_refusal(p.coupon_campaign, user_id, user_segments, now, false)
                        .is_none(),
                    PrizeKind::Slot => true,
                }
        });
        // One linked chain: the cost into the budget, then a cash prize out of it.
        let mut chain = std::mem::take(&mut self.chain);
        chain.clear();
        if r.draw_cost > 0 {
            chain.push(campaign_transfer(
                &r,
                derived_id(id, TAG_DRAW_COST),
                account_id,
                r.budget_account_id,
                r.draw_cost,
            ));
        }
        let won_prize = won.map(|k| prizes[k]);
        let cash = won_prize
            .filter(|p| p.kind == PrizeKind::Cash)
            .map_or(0, |p| p.amount);
        if cash > 0 {
            chain.push(Transfer {
                user_data_64: u64::from(position),
                ..campaign_transfer(&r, id, r.budget_account_id, account_id, cash)
            });
        }
        let posted = if chain.is_empty() {
            Ok(())
        } else {
            self.post_chain(ledger, clock, &mut chain)
        };
        self.chain = chain;
        if let Err((_, code)) = posted {
            return code;
        }
        if let (Some(k), Some(p)) = (won, won_prize) {
            if p.kind == PrizeKind::Coupon {
                self.push_coupon(id, p.coupon_campaign, user_id, now, false);
            }
            self.prizes.get_mut(&index).expect("the lottery's prizes")[k].won += 1;
        }
        let paid = cash;
        let c = &mut self.campaigns[index as usize];
        c.issued += 1;
        c.spent += paid;
        c.funded += r.draw_cost;
        self.game_usage.entry((index, user_id)).or_default().draws += 1;
        let draw = u32::try_from(self.draws.len()).expect("draws fit u32");
        self.draw_index.insert(id, draw);
        self.draws.push(Draw {
            id,
            campaign: index,
            user_id,
            position,
            prize: won.map_or(0, |k| u8::try_from(k + 1).expect("at most PRIZES_MAX")),
        });
        self.ops.insert(id, command.fingerprint());
        R::Ok
    }

    /// Why money cannot be paid into `account_id` on `ledger_id`.
    fn payee_refusal(&self, ledger: &Ledger, account_id: u128, ledger_id: u32) -> Option<R> {
        match ledger.lookup_account(account_id) {
            None => Some(R::AccountNotFound),
            Some((a, _)) if a.flags.managed() => Some(R::AccountIsManaged),
            Some((a, _)) if a.ledger != ledger_id => Some(R::LedgerMismatch),
            Some((a, _)) if a.flags.closed() => Some(R::AccountClosed),
            Some(_) => None,
        }
    }

    // ---------------------------------------------------------------------------------------
    // Coins.

    pub(crate) fn earn_coins(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
        command: &Command,
    ) -> R {
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
        if let Some(code) = self.op_refusal(ledger, id, command) {
            return code;
        }
        let now = clock.next;
        let checkout = self.checkout_index.get(&checkout_id).copied();
        let facts = checkout.map_or(
            Facts {
                segments: user_segments,
                ..Facts::default()
            },
            |k| Facts::of_checkout(&self.checkouts[k as usize].command, user_segments),
        );
        let index =
            match self.campaign_refusal(campaign_id, CampaignKind::Coins, user_id, now, &facts) {
                Ok(index) => index,
                Err(code) => return code,
            };
        let c = self.campaigns[index as usize];
        let r = c.record;
        if let Some(code) = self.payee_refusal(ledger, account_id, r.ledger) {
            return code;
        }
        let usage = self
            .game_usage
            .get(&(index, user_id))
            .copied()
            .unwrap_or_default();
        // Days since 1970 fit u32 for eleven million years.
        let day = u32::try_from(business_day(now)).unwrap_or(u32::MAX - 1);
        let earned = if checkout_id == 0 {
            if r.coins_per_check_in == 0 {
                return R::TaskNotOffered;
            }
            if usage.check_in_day == day + 1 {
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
            let paid = &self.checkouts[k as usize];
            let Command::Checkout { user_id: payer, .. } = paid.command else {
                unreachable!("a checkout holds its checkout command")
            };
            if payer != user_id {
                return R::CheckoutNotOwned;
            }
            if paid.status != crate::state::CheckoutStatus::Captured {
                return R::CheckoutNotCaptured;
            }
            if self.coins_earned.contains(&(index, k)) {
                return R::CoinsAlreadyEarned;
            }
            let net = u128::from(paid.amount() - paid.refunded());
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
        if budget_left(&c) < coins {
            return R::BudgetExhausted;
        }
        let expires_at = if r.coins_valid_for == 0 {
            0
        } else {
            match now.checked_add(u64::from(r.coins_valid_for) * NS_PER_S) {
                Some(at) => at,
                None => return R::OverflowsBalance,
            }
        };
        let mut transfer = [campaign_transfer(
            &r,
            id,
            r.budget_account_id,
            account_id,
            coins,
        )];
        if let Err((_, code)) = self.post_chain(ledger, clock, &mut transfer) {
            return code;
        }
        self.campaigns[index as usize].spent += coins;
        let usage = self.game_usage.entry((index, user_id)).or_default();
        usage.coins += coins;
        if checkout_id == 0 {
            usage.check_in_day = day + 1;
        } else {
            self.coins_earned
                .insert((index, checkout.expect("a checkout task")));
        }
        if expires_at != 0 {
            let lot = u32::try_from(self.lots.len()).expect("lots fit u32");
            self.lots.push(CoinLot {
                id,
                campaign: index,
                account_id,
                amount: coins,
                expires_at,
                expired: 0,
                done: false,
            });
            self.lot_queue.insert((index, expires_at, lot));
        }
        self.ops.insert(id, command.fingerprint());
        R::Ok
    }

    pub(crate) fn expire_coins(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
        campaign_id: u128,
    ) -> R {
        let Some(&index) = self.campaign_index.get(&campaign_id) else {
            return R::CampaignNotFound;
        };
        let c = self.campaigns[index as usize];
        if c.record.kind != CampaignKind::Coins {
            return R::CampaignKindMismatch;
        }
        let now = clock.next;
        let due: Vec<(u32, u64, u32)> = self
            .lot_queue
            .range((index, 0, 0)..=(index, now, u32::MAX))
            .take(crate::record::EXPIRE_MAX)
            .copied()
            .collect();
        for key in due {
            self.lot_queue.remove(&key);
            let lot = self.lots[key.2 as usize];
            let coin_account = self.coin_accounts.entry(lot.account_id).or_default();
            let (taken, consumed) = match ledger.lookup_account(lot.account_id) {
                Some((a, _)) if !a.flags.closed() => {
                    let out = a.debits_posted + a.debits_pending;
                    // Spending not charged to a lot yet, charged to this one first.
                    let spent = out
                        .saturating_sub(coin_account.expired)
                        .saturating_sub(coin_account.consumed);
                    let consumed = spent.min(u128::from(lot.amount));
                    let held = a.credits_posted.saturating_sub(out);
                    let left = (u128::from(lot.amount) - consumed).min(held);
                    (u64::try_from(left).expect("at most the lot"), consumed)
                }
                // A closed account moves nothing: the lot ends with nothing taken back.
                _ => (0, 0),
            };
            // Coins of a closed campaign go straight back to the sponsor.
            let closed = self.campaigns[index as usize].status == CampaignStatus::Closed;
            let r = c.record;
            let to = if closed {
                r.sponsor_account_id
            } else {
                r.budget_account_id
            };
            let mut transfer = [campaign_transfer(
                &r,
                derived_id(lot.id, TAG_EXPIRE),
                lot.account_id,
                to,
                taken,
            )];
            // Nothing to take back, or a refusal the checks above did not foresee: the lot ends
            // with nothing taken (the command stays all-or-nothing per lot).
            let taken = if taken > 0 && self.post_chain(ledger, clock, &mut transfer).is_ok() {
                taken
            } else {
                0
            };
            let coin_account = self.coin_accounts.entry(lot.account_id).or_default();
            coin_account.consumed += consumed;
            coin_account.expired += u128::from(taken);
            let c = &mut self.campaigns[index as usize];
            c.spent -= taken;
            if closed {
                c.returned += taken;
            }
            let lot = &mut self.lots[key.2 as usize];
            lot.expired = taken;
            lot.done = true;
        }
        R::Ok
    }
}
