//! The snapshot codec of the promotions state, and its consistency checks.
//!
//! Layout (little-endian): magic `EFPROMO1`, then campaigns (count u32; each its 256-byte
//! record, status u8, issued u32, redemptions u32, funded, returned, reserved, spent, grabbed
//! u64), coupons (count u32, in creation order), usage (count u32, sorted by campaign then
//! user), checkouts (count u32, in creation order; each its 256-byte command record and its
//! state) and ops (count u32, sorted by id; each the id and the command record without its
//! trailing zeros, length-prefixed u16). The expiry queue is rebuilt from the live checkouts.
//!
//! Decoding never panics on any bytes and accepts only the canonical encoding (sorted keys,
//! zero padding) of a consistent state: after the records it checks the invariants between
//! them (`Promotions::check_records`). The invariants against the budget accounts need the
//! ledger and are checked once it is restored (`Promotions::check_ledger`).

use std::fmt;

use ledger::Ledger;
use stdx::bytes::{Reader, Truncated, Writer};

use crate::record::{COUPONS_MAX, Campaign, CampaignKind, Command, RECORD_SIZE};
use crate::state::{
    Applied, CampaignState, CampaignStatus, Checkout, CheckoutStatus, Coupon, CouponStatus,
    NO_CHECKOUT, Promotions, Usage,
};

const MAGIC: &[u8; 8] = b"EFPROMO1";

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
    /// Appends the snapshot encoding. Equal states encode to equal bytes.
    pub fn encode_snapshot(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(MAGIC);
        Writer(out).count(self.campaigns.len());
        for c in &self.campaigns {
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
        }
        let mut w = Writer(out);
        w.count(self.coupons.len());
        for c in &self.coupons {
            w.u128(c.id)
                .u32(c.campaign)
                .u128(c.user_id)
                .u8(u8::from(c.claimed))
                .u64(c.expires_at)
                .u8(c.status as u8)
                .u32(c.checkout);
        }
        let mut usage: Vec<_> = self.usage.iter().collect();
        usage.sort_unstable_by_key(|(k, _)| **k);
        w.count(usage.len());
        for ((campaign, user), u) in usage {
            w.u32(*campaign)
                .u128(*user)
                .u32(u.coupons)
                .u32(u.redemptions)
                .u64(u.discount)
                .u64(u.grabbed);
        }
        w.count(self.checkouts.len());
        for c in &self.checkouts {
            c.command.encode(out);
            let mut w = Writer(out);
            w.u8(u8::from(c.payer_line))
                .u64(c.buyer_amount)
                .u8(c.applied_count);
            for a in &c.applied {
                w.u32(a.coupon).u64(a.discount).u64(a.refunded);
            }
            w.u64(c.deadline).u8(c.status as u8).u64(c.buyer_refunded);
        }
        let mut ops: Vec<_> = self.ops.iter().collect();
        ops.sort_unstable_by_key(|(id, _)| **id);
        Writer(out).count(ops.len());
        let mut bytes = Vec::with_capacity(RECORD_SIZE);
        for (id, command) in ops {
            bytes.clear();
            command.encode(&mut bytes);
            let len = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            Writer(out)
                .u128(*id)
                .u16(u16::try_from(len).expect("a record"))
                .put(&bytes[..len]);
        }
    }

    /// Decodes a snapshot, returning the state and the bytes after it.
    pub fn decode_snapshot(bytes: &[u8], hash_key: u64) -> Result<(Promotions, &[u8]), E> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(E::BadMagic);
        }
        let mut r = Reader::new(&bytes[MAGIC.len()..]);
        let mut p = Promotions::new(hash_key);
        for _ in 0..count(&mut r, RECORD_SIZE + 53)? {
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
        for _ in 0..count(&mut r, 58)? {
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
            if last.is_some_and(|last| last >= key) {
                return Err(E::NotCanonical("usage not sorted"));
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
        for _ in 0..count(&mut r, RECORD_SIZE + 34 + 20 * COUPONS_MAX)? {
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
        for _ in 0..count(&mut r, 18)? {
            let id = r.u128()?;
            if last.is_some_and(|last| last >= id) {
                return Err(E::NotCanonical("ops not sorted"));
            }
            last = Some(id);
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
            let command = Command::from_bytes(&bytes).map_err(|_| E::Invalid("op record"))?;
            p.ops.insert(id, command);
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
        for (&(campaign, _), u) in &self.usage {
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
        for (i, c) in self.campaigns.iter().enumerate() {
            let r = &c.record;
            let id = r.id;
            let issued = match r.kind {
                CampaignKind::Coupon => coupons[i],
                CampaignKind::RedPacket => grabs[i],
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
