//! The touch pass: reading what a run of commands will read before applying it (see
//! `Credit::touch`, which this follows), so that their cache misses overlap.

use credit::Credit;
use ledger::Ledger;

use crate::record::{Command, listed_coupons};
use crate::state::{Promotions, TAG_HOLD, TAG_PAYER, derived_id};

impl Promotions {
    /// Reads what applying `commands` will read first: the command's id in `ops`, the checkout
    /// index and the ledger's id index; a grab's usage entry and account; a checkout's coupons,
    /// their usage entries and the payer; a capture's or void's checkout and the holds it
    /// resolves. Changes nothing; the engine calls it on short runs, then applies them.
    pub fn touch(&self, ledger: &Ledger, credit: &Credit, commands: &[Command]) {
        let mut sink = 0u64;
        // First the index buckets alone: independent loads, many in flight at once.
        for command in commands {
            sink ^= self.touch_homes(ledger, credit, command);
        }
        for command in commands {
            sink ^= self.touch_command(ledger, credit, command);
        }
        std::hint::black_box(sink);
    }

    /// The first index bucket of each dense-index lookup `touch_command` makes for a checkout
    /// with keys the command holds (its id in `ops`, the payer's account and line): a
    /// checkout's second-pass lookups wait on chains (coupon, then its usage entry), and with
    /// these buckets already in cache purchases/s rose 14% (BENCHMARKS.md, "Two touch passes").
    /// Grabs are left out: the same pass for them was slower (median 700k against 736k
    /// grabs/s), as it was for credit's authorizations.
    fn touch_homes(&self, ledger: &Ledger, credit: &Credit, command: &Command) -> u64 {
        match *command {
            Command::Checkout {
                id,
                payer_id,
                coupons,
                ..
            } => {
                let mut sink = self.ops.touch_home(&id)
                    ^ credit.touch_line_home(payer_id)
                    ^ ledger.touch_account_home(payer_id)
                    ^ ledger.touch_transfer_id(id)
                    ^ ledger.touch_transfer_id(derived_id(id, TAG_PAYER));
                for k in 0..listed_coupons(&coupons) {
                    sink ^= ledger.touch_transfer_id(derived_id(id, TAG_HOLD + k as u32));
                }
                sink
            }
            _ => 0,
        }
    }

    fn touch_command(&self, ledger: &Ledger, credit: &Credit, command: &Command) -> u64 {
        let touch_id = |id: u128| {
            self.ops.get(&id).copied().unwrap_or(0)
                ^ u64::from(self.checkout_index.get(&id).copied().unwrap_or(0))
                ^ ledger.touch_transfer_id(id)
        };
        let touch_payer = |id: u128| credit.touch_line(id) ^ ledger.touch_account(id);
        let touch_usage = |campaign_id: u128, user_id: u128| {
            self.campaign_index
                .get(&campaign_id)
                .and_then(|&c| self.usage.get(&(c, user_id)))
                .map_or(0, |u| u.grabbed ^ u64::from(u.redemptions))
        };
        match *command {
            Command::GrabRedPacket {
                id,
                campaign_id,
                user_id,
                account_id,
                ..
            } => touch_id(id) ^ touch_usage(campaign_id, user_id) ^ touch_payer(account_id),
            Command::IssueCoupon {
                id,
                campaign_id,
                user_id,
                ..
            }
            | Command::ClaimCoupon {
                id,
                campaign_id,
                user_id,
                ..
            } => {
                u64::from(self.coupon_index.get(&id).copied().unwrap_or(0))
                    ^ touch_usage(campaign_id, user_id)
            }
            Command::Checkout {
                id,
                user_id,
                payer_id,
                coupons,
                ..
            } => {
                // The transfer ids' buckets were read in the first pass.
                let mut sink = self.ops.get(&id).copied().unwrap_or(0)
                    ^ u64::from(self.checkout_index.get(&id).copied().unwrap_or(0))
                    ^ touch_payer(payer_id);
                for &coupon_id in &coupons[..listed_coupons(&coupons)] {
                    if let Some(&index) = self.coupon_index.get(&coupon_id) {
                        let coupon = &self.coupons[index as usize];
                        sink ^= self
                            .usage
                            .get(&(coupon.campaign, user_id))
                            .map_or(0, |u| u.discount);
                    }
                }
                sink
            }
            Command::CaptureCheckout { id, checkout_id }
            | Command::VoidCheckout { id, checkout_id }
            | Command::RefundCheckout {
                id, checkout_id, ..
            } => {
                let mut sink = touch_id(id);
                if let Some(&index) = self.checkout_index.get(&checkout_id) {
                    let checkout = &self.checkouts[index as usize];
                    if let Command::Checkout { payer_id, .. } = checkout.command {
                        sink ^= touch_payer(payer_id);
                    }
                    sink ^= ledger.touch_transfer_id(derived_id(checkout_id, TAG_PAYER));
                    for k in 0..u32::from(checkout.applied_count) {
                        sink ^= ledger.touch_transfer_id(derived_id(checkout_id, TAG_HOLD + k));
                    }
                }
                sink
            }
            _ => 0,
        }
    }
}
