//! The snapshot codec of the promotions state, and its consistency checks.
//!
//! Layout (little-endian): magic `EFPROMO1`, then campaigns (count u32; each its 256-byte
//! record, status u8, issued u32, redemptions u32, funded, returned, reserved, spent, grabbed
//! u64), coupons (count u32, in creation order), usage (count u32, sorted by campaign then
//! user), checkouts (count u32, in creation order; each its 256-byte command record and its
//! state) and ops (count u32, sorted by id; each the id and the command record without its
//! trailing zeros, length-prefixed u16). Version 3 (`EFPROMO3`, written now) is version 2 with
//! usage and ops listed in insertion order (the order the log created them, kept by
//! `stdx::DenseMap`) instead of sorted, so that a snapshot of millions of grabs sorts nothing;
//! any order of distinct keys decodes, and the state keeps it. Version 2 (`EFPROMO2`) keeps of each op the id and
//! its record's fingerprint u64 (`Command::fingerprint`) instead, and adds after the ops: game
//! usage (count u32, sorted by campaign then user: campaign u32, user u128, draws u32, check-in
//! day u32, coins u64), prizes (count u32, by campaign
//! then prize order: campaign u32, kind u8, weight u32, stock u32, won u32, amount u64, coupon
//! campaign u32), draws (count u32, in order: id u128, campaign u32, user u128, position u32,
//! prize u8), coin lots (count u32, in order: id u128, campaign u32, account u128, amount u64,
//! expires_at u64, expired u64, done u8), coin accounts (count u32, sorted: id u128, consumed
//! u128, expired u128), coin-paying checkouts (count u32, sorted (campaign u32, checkout u32))
//! and rules (count u32, sorted by campaign: campaign u32, length u8, text). Version 1 decodes
//! with all of these empty. The expiry queues are rebuilt from the live checkouts and lots.
//!
//! Decoding never panics on any bytes and accepts only the canonical encoding (distinct keys,
//! sorted where the version sorts them, zero padding) of a consistent state: after the records
//! it checks the invariants between them (`Promotions::check_records`). The invariants against the budget accounts need the
//! ledger and are checked once it is restored (`Promotions::check_ledger`).

use std::fmt;

use ledger::Ledger;
use stdx::bytes::{ByteSink, Reader, Truncated, Writer};

use crate::games::{CoinAccount, CoinLot, Draw, Prize, StoredRule};
use crate::record::{
    COUPONS_MAX, Campaign, CampaignKind, Command, DRAW_RANGE, PRIZES_MAX, PrizeKind, RECORD_SIZE,
    RULE_TEXT_MAX,
};
use crate::state::{
    Applied, CampaignState, CampaignStatus, Checkout, CheckoutStatus, Coupon, CouponStatus,
    GameUsage, NO_CHECKOUT, Promotions, Usage,
};

const MAGIC: &[u8; 8] = b"EFPROMO3";
const MAGIC_V2: &[u8; 8] = b"EFPROMO2";
const MAGIC_V1: &[u8; 8] = b"EFPROMO1";

/// Why bytes are not a promotions snapshot, or a promotions state is not consistent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromotionsSnapshotError {
    BadMagic,
    Truncated,
    /// A record no state has (a value out of range, a reference to nothing, a duplicate).
    Invalid(&'static str),
    /// Records in an order or form the encoder never writes.
    NotCanonical(&'static str),
    /// Records that are each valid but disagree with each other or with the ledger; `id` names
    /// the campaign, coupon or checkout.
    Inconsistent {
        what: &'static str,
        id: u128,
    },
}

impl fmt::Display for PromotionsSnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic => write!(f, "not a promotions snapshot (bad magic)"),
            Self::Truncated => write!(f, "promotions snapshot truncated"),
            Self::Invalid(what) => write!(f, "promotions snapshot invalid: {what}"),
            Self::NotCanonical(what) => {
                write!(f, "promotions snapshot not in canonical form: {what}")
            }
            Self::Inconsistent { what, id } => {
                write!(f, "promotions state inconsistent: {what} (id {id})")
            }
        }
    }
}

impl std::error::Error for PromotionsSnapshotError {}

impl From<Truncated> for PromotionsSnapshotError {
    fn from(_: Truncated) -> Self {
        Self::Truncated
    }
}

type E = PromotionsSnapshotError;

/// Encoded sizes of one entry of a section (what `encode_snapshot` writes for it): `count`
/// refuses a count the rest of the bytes cannot hold, so these must not exceed the truth, or a
/// valid snapshot with many entries and a short rest decodes as truncated.
/// Campaign: record, status u8, issued u32, redemptions u32, five u64 sums.
const CAMPAIGN_SIZE: usize = RECORD_SIZE + 1 + 4 + 4 + 5 * 8;
/// Coupon: id u128, campaign u32, user u128, claimed u8, expires_at u64, status u8, checkout u32.
const COUPON_SIZE: usize = 16 + 4 + 16 + 1 + 8 + 1 + 4;
/// Checkout: record, payer flag u8, buyer amount u64, coupon count u8, every coupon slot
/// (u32, u64, u64), deadline u64, status u8, buyer refunded u64.
const CHECKOUT_SIZE: usize = RECORD_SIZE + 1 + 8 + 1 + 20 * COUPONS_MAX + 8 + 1 + 8;

fn record(r: &mut Reader<'_>) -> Result<[u8; RECORD_SIZE], E> {
    r.take::<RECORD_SIZE>().map_err(E::from)
}

fn count(r: &mut Reader<'_>, min_size: usize) -> Result<usize, E> {
    let n = r.u32()? as usize;
    // Each entry takes at least `min_size` bytes: a count the rest cannot hold is truncation,
    // found before any allocation sized by it.
    if n.saturating_mul(min_size) > r.rest().len() {
        return Err(E::Truncated);
    }
    Ok(n)
}

fn inconsistent(what: &'static str, id: u128) -> E {
    E::Inconsistent { what, id }
}

impl Promotions {
    /// Appends the snapshot encoding to `sink`, with a record boundary after every item of
    /// the large tables, so a streaming sink holds little of it at a time. States the same
    /// commands built encode to equal bytes (usage and ops in the order they were created,
    /// everything else in id or creation order).
    pub fn encode_snapshot(&self, sink: &mut impl ByteSink) {
        let out = sink.bytes();
        out.extend_from_slice(MAGIC);
        Writer(out).count(self.campaigns.len());
        for c in &self.campaigns {
            let out = sink.bytes();
            c.record.encode(out);
            Writer(out)
                .u8(c.status as u8)
                .u32(c.issued)
                .u32(c.redemptions)
                .u64(c.funded)
                .u64(c.returned)
                .u64(c.reserved)
                .u64(c.spent)
                .u64(c.grabbed);
            sink.boundary();
        }
        Writer(sink.bytes()).count(self.coupons.len());
        for c in &self.coupons {
            Writer(sink.bytes())
                .u128(c.id)
                .u32(c.campaign)
                .u128(c.user_id)
                .u8(u8::from(c.claimed))
                .u64(c.expires_at)
                .u8(c.status as u8)
                .u32(c.checkout);
            sink.boundary();
        }
        // In insertion order, which the log decides: equal states list them equally.
        Writer(sink.bytes()).count(self.usage.len());
        for ((campaign, user), u) in self.usage.iter() {
            Writer(sink.bytes())
                .u32(*campaign)
                .u128(*user)
                .u32(u.coupons)
                .u32(u.redemptions)
                .u64(u.discount)
                .u64(u.grabbed);
            sink.boundary();
        }
        Writer(sink.bytes()).count(self.checkouts.len());
        for c in &self.checkouts {
            let out = sink.bytes();
            c.command.encode(out);
            let mut w = Writer(out);
            w.u8(u8::from(c.payer_line))
                .u64(c.buyer_amount)
                .u8(c.applied_count);
            for a in &c.applied {
                w.u32(a.coupon).u64(a.discount).u64(a.refunded);
            }
            w.u64(c.deadline).u8(c.status as u8).u64(c.buyer_refunded);
            sink.boundary();
        }
        Writer(sink.bytes()).count(self.ops.len());
        for (&id, &print) in self.ops.iter() {
            Writer(sink.bytes()).u128(id).u64(print);
            sink.boundary();
        }
        self.encode_games(sink);
    }

    fn encode_games(&self, sink: &mut impl ByteSink) {
        let mut w = Writer(sink.bytes());
        w.count(self.prizes.values().map(Vec::len).sum());
        for (&campaign, prizes) in &self.prizes {
            for p in prizes {
                w.u32(campaign)
                    .u8(p.kind as u8)
                    .u32(p.weight_ppm)
                    .u32(p.stock)
                    .u32(p.won)
                    .u64(p.amount)
                    .u32(p.coupon_campaign);
            }
        }
        w.count(self.game_usage.len());
        for (&(campaign, user), g) in &self.game_usage {
            Writer(sink.bytes())
                .u32(campaign)
                .u128(user)
                .u32(g.draws)
                .u32(g.check_in_day)
                .u64(g.coins);
            sink.boundary();
        }
        Writer(sink.bytes()).count(self.draws.len());
        for d in &self.draws {
            Writer(sink.bytes())
                .u128(d.id)
                .u32(d.campaign)
                .u128(d.user_id)
                .u32(d.position)
                .u8(d.prize);
            sink.boundary();
        }
        Writer(sink.bytes()).count(self.lots.len());
        for l in &self.lots {
            Writer(sink.bytes())
                .u128(l.id)
                .u32(l.campaign)
                .u128(l.account_id)
                .u64(l.amount)
                .u64(l.expires_at)
                .u64(l.expired)
                .u8(u8::from(l.done));
            sink.boundary();
        }
        Writer(sink.bytes()).count(self.coin_accounts.len());
        for (&id, a) in &self.coin_accounts {
            Writer(sink.bytes())
                .u128(id)
                .u128(a.consumed)
                .u128(a.expired);
            sink.boundary();
        }
        Writer(sink.bytes()).count(self.coins_earned.len());
        for &(campaign, checkout) in &self.coins_earned {
            Writer(sink.bytes()).u32(campaign).u32(checkout);
            sink.boundary();
        }
        let mut w = Writer(sink.bytes());
        w.count(self.rules.len());
        for (&campaign, rule) in &self.rules {
            w.u32(campaign)
                .u8(rule.len)
                .put(&rule.text[..usize::from(rule.len)]);
        }
    }

    fn decode_games(&mut self, r: &mut Reader<'_>) -> Result<(), E> {
        let campaigns = self.campaigns.len();
        let campaign_of = |index: u32| {
            if (index as usize) < campaigns {
                Ok(index)
            } else {
                Err(E::Invalid("campaign index"))
            }
        };
        let mut last = None;
        for _ in 0..count(r, 29)? {
            let campaign = campaign_of(r.u32()?)?;
            let kind = match r.u8()? {
                1 => PrizeKind::Cash,
                2 => PrizeKind::Coupon,
                3 => PrizeKind::Slot,
                _ => return Err(E::Invalid("prize kind")),
            };
            let prize = Prize {
                kind,
                weight_ppm: r.u32()?,
                stock: r.u32()?,
                won: r.u32()?,
                amount: r.u64()?,
                coupon_campaign: campaign_of(r.u32()?)?,
            };
            if last.is_some_and(|last| last > campaign) {
                return Err(E::NotCanonical("prizes not sorted"));
            }
            last = Some(campaign);
            let prizes = self.prizes.entry(campaign).or_default();
            if prizes.len() >= PRIZES_MAX {
                return Err(E::Invalid("too many prizes"));
            }
            prizes.push(prize);
        }
        let mut last = None;
        for _ in 0..count(r, 36)? {
            let key = (campaign_of(r.u32()?)?, r.u128()?);
            if last.is_some_and(|last| last >= key) {
                return Err(E::NotCanonical("game usage not sorted"));
            }
            last = Some(key);
            let usage = GameUsage {
                draws: r.u32()?,
                check_in_day: r.u32()?,
                coins: r.u64()?,
            };
            self.game_usage.insert(key, usage);
        }
        for _ in 0..count(r, 41)? {
            let d = Draw {
                id: r.u128()?,
                campaign: campaign_of(r.u32()?)?,
                user_id: r.u128()?,
                position: r.u32()?,
                prize: r.u8()?,
            };
            let prizes = self.prizes.get(&d.campaign).map_or(0, Vec::len);
            if usize::from(d.prize) > prizes {
                return Err(E::Invalid("draw prize"));
            }
            let index = u32::try_from(self.draws.len()).map_err(|_| E::Invalid("draws"))?;
            if self.draw_index.insert(d.id, index).is_some() {
                return Err(E::Invalid("duplicate draw"));
            }
            self.draws.push(d);
        }
        for _ in 0..count(r, 61)? {
            let lot = CoinLot {
                id: r.u128()?,
                campaign: campaign_of(r.u32()?)?,
                account_id: r.u128()?,
                amount: r.u64()?,
                expires_at: r.u64()?,
                expired: r.u64()?,
                done: match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(E::Invalid("lot done flag")),
                },
            };
            let index = u32::try_from(self.lots.len()).map_err(|_| E::Invalid("lots"))?;
            if !lot.done {
                self.lot_queue.insert((lot.campaign, lot.expires_at, index));
            }
            self.lots.push(lot);
        }
        let mut last = None;
        for _ in 0..count(r, 48)? {
            let id = r.u128()?;
            if last.is_some_and(|last| last >= id) {
                return Err(E::NotCanonical("coin accounts not sorted"));
            }
            last = Some(id);
            let account = CoinAccount {
                consumed: r.u128()?,
                expired: r.u128()?,
            };
            self.coin_accounts.insert(id, account);
        }
        let mut last = None;
        for _ in 0..count(r, 8)? {
            let key = (campaign_of(r.u32()?)?, r.u32()?);
            if last.is_some_and(|last| last >= key) {
                return Err(E::NotCanonical("coin checkouts not sorted"));
            }
            last = Some(key);
            if key.1 as usize >= self.checkouts.len() {
                return Err(E::Invalid("coin checkout"));
            }
            self.coins_earned.insert(key);
        }
        let mut last = None;
        for _ in 0..count(r, 6)? {
            let campaign = campaign_of(r.u32()?)?;
            if last.is_some_and(|last| last >= campaign) {
                return Err(E::NotCanonical("rules not sorted"));
            }
            last = Some(campaign);
            let len = r.u8()?;
            if len == 0 || usize::from(len) > RULE_TEXT_MAX {
                return Err(E::Invalid("rule length"));
            }
            let mut text = [0u8; RULE_TEXT_MAX];
            for b in &mut text[..usize::from(len)] {
                *b = r.u8()?;
            }
            let rule = StoredRule::compile(len, text).ok_or(E::Invalid("rule text"))?;
            self.rules.insert(campaign, rule);
        }
        Ok(())
    }

    /// Decodes a snapshot, returning the state and the bytes after it.
    pub fn decode_snapshot(bytes: &[u8], hash_key: u64) -> Result<(Promotions, &[u8]), E> {
        let version = match bytes.get(..MAGIC.len()) {
            Some(magic) if magic == MAGIC => 3,
            Some(magic) if magic == MAGIC_V2 => 2,
            Some(magic) if magic == MAGIC_V1 => 1,
            _ => return Err(E::BadMagic),
        };
        let v2 = version >= 2;
        // Versions 1 and 2 sorted usage and ops by key; version 3 lists them in insertion
        // order, and any order of distinct keys decodes.
        let sorted = version < 3;
        let mut r = Reader::new(&bytes[MAGIC.len()..]);
        let mut p = Promotions::new(hash_key);
        for _ in 0..count(&mut r, CAMPAIGN_SIZE)? {
            let record = Campaign::from_bytes(&record(&mut r)?)
                .map_err(|_| E::Invalid("campaign record"))?;
            let status = match r.u8()? {
                1 => CampaignStatus::Active,
                2 => CampaignStatus::Paused,
                3 => CampaignStatus::Closed,
                _ => return Err(E::Invalid("campaign status")),
            };
            let c = CampaignState {
                record,
                status,
                issued: r.u32()?,
                redemptions: r.u32()?,
                funded: r.u64()?,
                returned: r.u64()?,
                reserved: r.u64()?,
                spent: r.u64()?,
                grabbed: r.u64()?,
            };
            let index = u32::try_from(p.campaigns.len()).map_err(|_| E::Invalid("campaigns"))?;
            if p.campaign_index.insert(record.id, index).is_some() {
                return Err(E::Invalid("duplicate campaign"));
            }
            p.campaigns.push(c);
        }
        let campaigns = p.campaigns.len();
        for _ in 0..count(&mut r, COUPON_SIZE)? {
            let id = r.u128()?;
            let campaign = r.u32()?;
            let user_id = r.u128()?;
            let claimed = match r.u8()? {
                0 => false,
                1 => true,
                _ => return Err(E::Invalid("coupon claimed flag")),
            };
            let expires_at = r.u64()?;
            let status = match r.u8()? {
                1 => CouponStatus::Available,
                2 => CouponStatus::Reserved,
                3 => CouponStatus::Used,
                _ => return Err(E::Invalid("coupon status")),
            };
            let checkout = r.u32()?;
            if campaign as usize >= campaigns {
                return Err(E::Invalid("coupon campaign"));
            }
            let index = u32::try_from(p.coupons.len()).map_err(|_| E::Invalid("coupons"))?;
            if p.coupon_index.insert(id, index).is_some() {
                return Err(E::Invalid("duplicate coupon"));
            }
            p.user_coupons.insert((user_id, index));
            p.coupons.push(Coupon {
                id,
                campaign,
                user_id,
                claimed,
                expires_at,
                status,
                checkout,
            });
        }
        let mut last = None;
        for _ in 0..count(&mut r, 44)? {
            let key = (r.u32()?, r.u128()?);
            if sorted && last.is_some_and(|last| last >= key) {
                return Err(E::NotCanonical("usage not sorted"));
            }
            if p.usage.contains_key(&key) {
                return Err(E::Invalid("duplicate usage"));
            }
            last = Some(key);
            if key.0 as usize >= campaigns {
                return Err(E::Invalid("usage campaign"));
            }
            let usage = Usage {
                coupons: r.u32()?,
                redemptions: r.u32()?,
                discount: r.u64()?,
                grabbed: r.u64()?,
            };
            p.usage.insert(key, usage);
        }
        for _ in 0..count(&mut r, CHECKOUT_SIZE)? {
            let command =
                Command::from_bytes(&record(&mut r)?).map_err(|_| E::Invalid("checkout record"))?;
            let Command::Checkout { id, .. } = command else {
                return Err(E::Invalid("checkout record kind"));
            };
            let payer_line = match r.u8()? {
                0 => false,
                1 => true,
                _ => return Err(E::Invalid("checkout payer flag")),
            };
            let buyer_amount = r.u64()?;
            let applied_count = r.u8()?;
            if usize::from(applied_count) > COUPONS_MAX {
                return Err(E::Invalid("checkout coupon count"));
            }
            let mut applied = [Applied::default(); COUPONS_MAX];
            for (k, a) in applied.iter_mut().enumerate() {
                *a = Applied {
                    coupon: r.u32()?,
                    discount: r.u64()?,
                    refunded: r.u64()?,
                };
                if k >= usize::from(applied_count) && *a != Applied::default() {
                    return Err(E::NotCanonical("checkout padding"));
                }
                if k < usize::from(applied_count) && a.coupon as usize >= p.coupons.len() {
                    return Err(E::Invalid("checkout coupon"));
                }
            }
            let deadline = r.u64()?;
            let status = match r.u8()? {
                1 => CheckoutStatus::Authorized,
                2 => CheckoutStatus::Captured,
                3 => CheckoutStatus::Voided,
                4 => CheckoutStatus::Expired,
                _ => return Err(E::Invalid("checkout status")),
            };
            let buyer_refunded = r.u64()?;
            let index = u32::try_from(p.checkouts.len()).map_err(|_| E::Invalid("checkouts"))?;
            if p.checkout_index.insert(id, index).is_some() {
                return Err(E::Invalid("duplicate checkout"));
            }
            if status == CheckoutStatus::Authorized && deadline != 0 {
                p.expiry.insert((deadline, index));
            }
            p.checkouts.push(Checkout {
                command,
                payer_line,
                buyer_amount,
                applied,
                applied_count,
                deadline,
                status,
                buyer_refunded,
            });
        }
        let mut last = None;
        for _ in 0..count(&mut r, if v2 { 24 } else { 18 })? {
            let id = r.u128()?;
            if sorted && last.is_some_and(|last| last >= id) {
                return Err(E::NotCanonical("ops not sorted"));
            }
            if p.ops.contains_key(&id) {
                return Err(E::Invalid("duplicate op"));
            }
            last = Some(id);
            let print = if v2 {
                r.u64()?
            } else {
                // Version 1 kept the command record without its trailing zeros.
                let len = usize::from(r.u16()?);
                if len == 0 || len > RECORD_SIZE {
                    return Err(E::Invalid("op length"));
                }
                let mut bytes = [0u8; RECORD_SIZE];
                for b in &mut bytes[..len] {
                    *b = r.u8()?;
                }
                if bytes[len - 1] == 0 {
                    return Err(E::NotCanonical("op trailing zero"));
                }
                Command::from_bytes(&bytes)
                    .map_err(|_| E::Invalid("op record"))?
                    .fingerprint()
            };
            p.ops.insert(id, print);
        }
        if v2 {
            p.decode_games(&mut r)?;
        }
        p.check_records()?;
        Ok((p, r.rest()))
    }

    /// The invariants between the records (no ledger needed): counters equal the sums of what
    /// they count, limits hold, coupons and checkouts point at each other.
    pub fn check_records(&self) -> Result<(), E> {
        let n = self.campaigns.len();
        let mut coupons = vec![0u64; n];
        let mut redemptions = vec![0u64; n];
        let mut grabbed = vec![0u64; n];
        let mut grabs = vec![0u64; n];
        let mut reserved = vec![0u64; n];
        let mut draws = vec![0u64; n];
        let mut coins = vec![0u64; n];
        for (&(campaign, _), u) in self.usage.iter() {
            let c = &self.campaigns[campaign as usize].record;
            let id = c.id;
            coupons[campaign as usize] += u64::from(u.coupons);
            redemptions[campaign as usize] += u64::from(u.redemptions);
            grabbed[campaign as usize] = grabbed[campaign as usize]
                .checked_add(u.grabbed)
                .ok_or(inconsistent("grabbed overflows", id))?;
            grabs[campaign as usize] += u64::from(u.grabbed > 0);

            if c.coupons_per_user != 0 && u.coupons > c.coupons_per_user {
                return Err(inconsistent("coupons per user above limit", id));
            }
            if c.redemptions_per_user != 0 && u.redemptions > c.redemptions_per_user {
                return Err(inconsistent("redemptions per user above limit", id));
            }
            if c.discount_per_user != 0 && u.discount > c.discount_per_user {
                return Err(inconsistent("discount per user above limit", id));
            }
        }
        for (&(campaign, _), g) in &self.game_usage {
            let c = &self.campaigns[campaign as usize].record;
            draws[campaign as usize] += u64::from(g.draws);
            coins[campaign as usize] = coins[campaign as usize]
                .checked_add(g.coins)
                .ok_or(inconsistent("coins overflow", c.id))?;
            if c.draws_per_user != 0 && g.draws > c.draws_per_user {
                return Err(inconsistent("draws per user above limit", c.id));
            }
        }
        for (index, checkout) in self.checkouts.iter().enumerate() {
            let Command::Checkout { id, amount, .. } = checkout.command else {
                unreachable!("decoded as a checkout")
            };
            let mut discount = 0u64;
            for a in checkout.applied() {
                let coupon = &self.coupons[a.coupon as usize];
                discount = discount
                    .checked_add(a.discount)
                    .ok_or(inconsistent("checkout discount overflows", id))?;
                if a.refunded > a.discount {
                    return Err(inconsistent("coupon refund above discount", id));
                }
                let expected = match checkout.status {
                    CheckoutStatus::Authorized => Some(CouponStatus::Reserved),
                    CheckoutStatus::Captured => Some(CouponStatus::Used),
                    CheckoutStatus::Voided | CheckoutStatus::Expired => None,
                };
                let points_here = coupon.checkout as usize == index;
                match expected {
                    Some(status) if points_here && coupon.status == status => {}
                    // A fully refunded payment may have given its coupon back.
                    Some(CouponStatus::Used) if !points_here => {}
                    None if !points_here => {}
                    _ => return Err(inconsistent("coupon and checkout disagree", id)),
                }
                if checkout.status == CheckoutStatus::Authorized {
                    reserved[coupon.campaign as usize] += a.discount;
                }
            }
            if discount.checked_add(checkout.buyer_amount) != Some(amount)
                || checkout.buyer_refunded > checkout.buyer_amount
            {
                return Err(inconsistent("checkout parts do not sum", id));
            }
        }
        for coupon in &self.coupons {
            let bad = match coupon.status {
                CouponStatus::Available => coupon.checkout != NO_CHECKOUT,
                CouponStatus::Reserved | CouponStatus::Used => {
                    coupon.checkout as usize >= self.checkouts.len()
                        || !self.checkouts[coupon.checkout as usize]
                            .applied()
                            .iter()
                            .any(|a| self.coupons[a.coupon as usize].id == coupon.id)
                }
            };
            if bad {
                return Err(inconsistent(
                    "coupon points at no checkout of it",
                    coupon.id,
                ));
            }
        }
        self.check_games(&coins)?;
        for (i, c) in self.campaigns.iter().enumerate() {
            let r = &c.record;
            let id = r.id;
            let issued = match r.kind {
                CampaignKind::Coupon => coupons[i],
                CampaignKind::RedPacket => grabs[i],
                CampaignKind::Lottery => draws[i],
                CampaignKind::Coins => 0,
            };
            if issued != u64::from(c.issued) || redemptions[i] != u64::from(c.redemptions) {
                return Err(inconsistent("campaign counters", id));
            }
            if grabbed[i] != c.grabbed || reserved[i] != c.reserved {
                return Err(inconsistent("campaign amounts", id));
            }
            if (r.stock != 0 && c.issued > r.stock)
                || (r.redemptions_max != 0 && c.redemptions > r.redemptions_max)
                || (r.kind == CampaignKind::RedPacket && c.grabbed > r.pool_amount)
            {
                return Err(inconsistent("campaign above its limits", id));
            }
            let out = [c.returned, c.reserved, c.spent, c.grabbed]
                .iter()
                .try_fold(0u64, |sum, &x| sum.checked_add(x));
            if out.is_none_or(|out| out > c.funded) {
                return Err(inconsistent("campaign gave more than it was funded", id));
            }
        }
        Ok(())
    }

    /// Lotteries: draws, prizes won and cash paid agree; coins: earned less taken back is what
    /// the campaign paid out. One pass over draws and lots for all campaigns.
    fn check_games(&self, coins: &[u64]) -> Result<(), E> {
        #[derive(Clone, Default)]
        struct Totals {
            draws: u64,
            positions_ok: bool,
            won: Vec<u32>,
            cash: Option<u64>,
            taken: Option<u64>,
            lots: usize,
            lots_ok: bool,
        }
        let n = self.campaigns.len();
        let mut totals = vec![
            Totals {
                positions_ok: true,
                cash: Some(0),
                taken: Some(0),
                lots_ok: true,
                ..Totals::default()
            };
            n
        ];
        for (&campaign, prizes) in &self.prizes {
            totals[campaign as usize].won = vec![0; prizes.len()];
        }
        for d in &self.draws {
            let t = &mut totals[d.campaign as usize];
            t.positions_ok &= u64::from(d.position) == t.draws;
            t.draws += 1;
            if d.prize != 0 {
                let k = usize::from(d.prize) - 1;
                t.won[k] += 1;
                let p = self.prizes[&d.campaign][k];
                if p.kind == PrizeKind::Cash {
                    t.cash = t.cash.and_then(|cash| cash.checked_add(p.amount));
                }
            }
        }
        for l in &self.lots {
            let t = &mut totals[l.campaign as usize];
            t.lots += 1;
            t.lots_ok &= l.expired <= l.amount && (l.done || l.expired == 0);
            t.taken = t.taken.and_then(|taken| taken.checked_add(l.expired));
        }
        for (i, (c, t)) in self.campaigns.iter().zip(&totals).enumerate() {
            let id = c.record.id;
            let campaign = u32::try_from(i).expect("campaigns fit u32");
            let prizes = self.prizes.get(&campaign).map_or(&[][..], Vec::as_slice);
            if c.record.kind == CampaignKind::Lottery {
                let weights: u64 = prizes.iter().map(|p| u64::from(p.weight_ppm)).sum();
                let prizes_ok = prizes.iter().zip(&t.won).all(|(p, &w)| {
                    p.won == w
                        && p.won <= p.stock
                        && p.weight_ppm > 0
                        && (p.kind != PrizeKind::Coupon
                            || self.campaigns[p.coupon_campaign as usize].record.kind
                                == CampaignKind::Coupon)
                });
                if !t.positions_ok
                    || t.draws != u64::from(c.issued)
                    || !prizes_ok
                    || weights > u64::from(DRAW_RANGE)
                    || t.cash != Some(c.spent)
                {
                    return Err(inconsistent("lottery draws and prizes", id));
                }
            } else if !prizes.is_empty() || t.draws > 0 {
                return Err(inconsistent("prizes or draws of a non-lottery", id));
            }
            if c.record.kind == CampaignKind::Coins {
                let paid = t.taken.and_then(|taken| coins[i].checked_sub(taken));
                if !t.lots_ok || paid != Some(c.spent) {
                    return Err(inconsistent("coins earned and paid", id));
                }
            } else if t.lots > 0 || coins[i] > 0 {
                return Err(inconsistent("coins of a non-coin campaign", id));
            }
        }
        Ok(())
    }

    /// The invariants against the ledger: each budget account exists and holds exactly what
    /// the campaign says is left, with exactly its live reservations pending once the ledger
    /// has expired what is due (`caught_up`).
    pub fn check_ledger(&self, ledger: &Ledger, caught_up: bool) -> Result<(), E> {
        for c in &self.campaigns {
            let id = c.record.id;
            let Some((budget, _)) = ledger.lookup_account(c.record.budget_account_id) else {
                return Err(inconsistent("budget account missing", id));
            };
            let held = c.funded - c.returned - c.spent - c.grabbed;
            if budget.credits_posted.checked_sub(budget.debits_posted) != Some(u128::from(held)) {
                return Err(inconsistent("budget balance", id));
            }
            let pending_ok = if caught_up {
                budget.debits_pending == u128::from(c.reserved)
            } else {
                budget.debits_pending >= u128::from(c.reserved)
            };
            if !pending_ok || !budget.flags.managed() {
                return Err(inconsistent("budget reservations", id));
            }
        }
        Ok(())
    }
}
