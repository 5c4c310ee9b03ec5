//! Payments carrying coupons (checkouts) and red-packet grabs.
//!
//! A checkout reserves each coupon's discount as a pending transfer from its campaign's budget
//! to the merchant, and holds the payer for the rest (a credit-line authorization, or a pending
//! transfer from an ordinary account), all in one linked chain that expires together. Capture
//! posts all of them, void voids all of them, and a refund sends the sponsors' share back to
//! their budgets and the rest to the payer, again in one chain each. Coupons are checked coupon
//! by coupon in the order listed, each against the codes in declaration order.

use credit::Credit;
use ledger::{Ledger, Transfer, TransferFlags};

use crate::games::Facts;
use crate::record::{COUPONS_MAX, CampaignKind, Command, listed_coupons};
use crate::redpacket::double_average;
use crate::result::PromotionResult as R;
use crate::state::{
    Applied, CampaignStatus, Checkout, CheckoutStatus, Clock, CouponStatus, NO_CHECKOUT, NS_PER_S,
    Promotions, TAG_CAPTURE, TAG_HOLD, TAG_PAYER, TAG_REFUND, TAG_VOID, budget_free,
    campaign_transfer, derived_id, from_credit, id_refusal, resolve,
};

/// The coupons a checkout will apply, worked out before anything changes.
pub(crate) struct Plan {
    applied: [Applied; COUPONS_MAX],
    count: usize,
    /// What is left to pay after the discounts.
    pub(crate) buyer: u64,
}

impl Promotions {
    /// Validates a checkout's coupons against its amount, merchant and instrument, and works
    /// out each discount (higher priority first, each on what the earlier ones left).
    pub(crate) fn plan(&self, ledger: &Ledger, now: u64, command: &Command) -> Result<Plan, R> {
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
        let listed = listed_coupons(&coupons);
        if coupons[listed..].iter().any(|&c| c != 0) {
            return Err(R::ReservedField);
        }
        let coupons = &coupons[..listed];
        let mut indexes = [0u32; COUPONS_MAX];
        for (slot, &id) in coupons.iter().enumerate() {
            if coupons[..slot].contains(&id) {
                return Err(R::CouponListedTwice);
            }
            let &index = self.coupon_index.get(&id).ok_or(R::CouponNotFound)?;
            let coupon = &self.coupons[index as usize];
            if coupon.user_id != user_id {
                return Err(R::CouponNotOwned);
            }
            match coupon.status {
                CouponStatus::Reserved => return Err(R::CouponReserved),
                CouponStatus::Used => return Err(R::CouponUsed),
                CouponStatus::Available => {}
            }
            let c = &self.campaigns[coupon.campaign as usize];
            match c.status {
                CampaignStatus::Closed => return Err(R::CampaignClosed),
                CampaignStatus::Paused => return Err(R::CampaignPaused),
                CampaignStatus::Active => {}
            }
            if let Some(code) = Self::window_refusal(&c.record, now) {
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
            let any_bin = r.bin_low == 0 && r.bin_high == 0;
            if (r.card_issuer != 0 && r.card_issuer != card_issuer)
                || (!any_bin && !(r.bin_low..=r.bin_high).contains(&card_bin))
            {
                return Err(R::InstrumentNotEligible);
            }
            let facts = Facts::of_checkout(command, 0);
            if !self.rule_holds(coupon.campaign, user_id, now, &facts) {
                return Err(R::RuleNotMet);
            }
            indexes[slot] = index;
        }
        // Stacking: one coupon per non-zero group; u32::MAX stands alone.
        for a in 0..listed {
            let group_a = self.group(indexes[a]);
            if group_a == u32::MAX && listed > 1 {
                return Err(R::CouponsNotStackable);
            }
            if group_a != 0 && (0..a).any(|b| self.group(indexes[b]) == group_a) {
                return Err(R::CouponsNotStackable);
            }
        }
        let mut slots: [usize; COUPONS_MAX] = std::array::from_fn(|i| i);
        let order = &mut slots[..listed];
        order.sort_by_key(|&slot| {
            let campaign = self.coupons[indexes[slot] as usize].campaign;
            (
                std::cmp::Reverse(self.campaigns[campaign as usize].record.priority),
                slot,
            )
        });
        let mut plan = Plan {
            applied: [Applied::default(); COUPONS_MAX],
            count: 0,
            buyer: amount,
        };
        for &slot in order.iter() {
            let coupon = self.coupons[indexes[slot] as usize];
            let c = &self.campaigns[coupon.campaign as usize];
            let r = &c.record;
            let mut discount = r
                .offer
                .discount(amount, plan.buyer)
                .ok_or(R::SpendBelowThreshold)?;
            // What this checkout already takes from the same campaign.
            let (mut taken_count, mut taken) = (0u32, 0u64);
            for a in &plan.applied[..plan.count] {
                if self.coupons[a.coupon as usize].campaign == coupon.campaign {
                    taken_count += 1;
                    taken += a.discount;
                }
            }
            let usage = self
                .usage
                .get(&(coupon.campaign, user_id))
                .copied()
                .unwrap_or_default();
            // A payment is one redemption of a campaign, however many of its coupons it carries.
            let first_of_campaign = taken_count == 0;
            if first_of_campaign
                && r.redemptions_per_user != 0
                && usage.redemptions >= r.redemptions_per_user
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
            if first_of_campaign && r.redemptions_max != 0 && c.redemptions >= r.redemptions_max {
                return Err(R::RedemptionsExhausted);
            }
            if discount == 0 {
                // Earlier coupons left nothing for this one.
                return Err(R::CouponsNotStackable);
            }
            let (budget, _) = ledger
                .lookup_account(r.budget_account_id)
                .expect("budget account");
            if budget_free(&budget, c.reserved) < u128::from(taken) + u128::from(discount) {
                return Err(R::BudgetExhausted);
            }
            plan.buyer -= discount;
            plan.applied[plan.count] = Applied {
                coupon: indexes[slot],
                discount,
                refunded: 0,
            };
            plan.count += 1;
        }
        Ok(plan)
    }

    /// Whether `applied[k]` is the first coupon of its campaign in the payment (the one that
    /// counts the payment's redemption of that campaign).
    pub(crate) fn first_of_campaign(&self, applied: &[Applied], k: usize) -> bool {
        let campaign = self.coupons[applied[k].coupon as usize].campaign;
        !applied[..k]
            .iter()
            .any(|a| self.coupons[a.coupon as usize].campaign == campaign)
    }

    fn group(&self, coupon: u32) -> u32 {
        let campaign = self.coupons[coupon as usize].campaign;
        self.campaigns[campaign as usize].record.exclusive_group
    }

    /// The `k`th coupon's discount of a checkout, budget → merchant, posted at once (a
    /// one-step checkout's).
    fn discount(&self, checkout_id: u128, k: usize, applied: &Applied, merchant: u128) -> Transfer {
        let campaign =
            &self.campaigns[self.coupons[applied.coupon as usize].campaign as usize].record;
        campaign_transfer(
            campaign,
            derived_id(checkout_id, TAG_HOLD + k as u32),
            campaign.budget_account_id,
            merchant,
            applied.discount,
        )
    }

    /// The same discount held until the checkout is captured, voided or expires.
    fn hold(
        &self,
        checkout_id: u128,
        k: usize,
        applied: &Applied,
        merchant: u128,
        timeout: u32,
    ) -> Transfer {
        Transfer {
            timeout,
            flags: TransferFlags(TransferFlags::PENDING),
            ..self.discount(checkout_id, k, applied, merchant)
        }
    }

    pub(crate) fn checkout_command(
        &mut self,
        ledger: &mut Ledger,
        credit: &mut Credit,
        clock: &mut Clock,
        command: &Command,
    ) -> R {
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
            unreachable!("checkout_command takes checkouts")
        };
        let now = clock.next;
        if let Some(code) = id_refusal(id) {
            return code;
        }
        if let Some(&index) = self.checkout_index.get(&id) {
            return if self.checkouts[index as usize].command == *command {
                R::Exists
            } else {
                R::ExistsWithDifferentFields
            };
        }
        if self.ops.contains_key(&id) || ledger.find_transfer(id).is_some() {
            return R::IdAlreadyUsed;
        }
        if amount == 0 {
            return R::AmountMustNotBeZero;
        }
        if capture && timeout != 0 {
            return R::TimeoutWithCapture;
        }
        let plan = match self.plan(ledger, now, command) {
            Ok(plan) => plan,
            Err(code) => return code,
        };
        // Payer, then merchant, then how they fit together: the order `result.rs` declares.
        let payer_line = credit.line(payer_id).is_some();
        let payer = match ledger.lookup_account(payer_id) {
            None => return R::PayerNotFound,
            Some((a, _)) if a.flags.managed() && !payer_line => return R::PayerIsManaged,
            Some((a, _)) => a,
        };
        let merchant = match ledger.lookup_account(merchant_account_id) {
            None => return R::MerchantNotFound,
            Some((a, _)) if a.flags.managed() => return R::MerchantIsManaged,
            Some((a, _)) => a,
        };
        if payer_id == merchant_account_id {
            return R::PayerIsMerchant;
        }
        if payer.ledger != merchant.ledger {
            return R::LedgerMismatch;
        }
        for a in &plan.applied[..plan.count] {
            let campaign = self.coupons[a.coupon as usize].campaign;
            if self.campaigns[campaign as usize].record.ledger != merchant.ledger {
                return R::LedgerMismatch;
            }
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
        let mut chain = std::mem::take(&mut self.chain);
        chain.clear();
        chain.extend(plan.applied[..plan.count].iter().enumerate().map(|(k, a)| {
            if capture {
                self.discount(id, k, a, merchant_account_id)
            } else {
                self.hold(id, k, a, merchant_account_id, timeout)
            }
        }));
        let holds = chain.len();
        let result = if plan.buyer > 0 && payer_line {
            let result = if capture {
                let purchase = credit::Purchased {
                    id,
                    line_id: payer_id,
                    merchant_account_id,
                    amount: plan.buyer,
                };
                credit.purchase_linked(ledger, clock.next, purchase, &chain)
            } else {
                let authorize = credit::Command::Authorize {
                    id,
                    line_id: payer_id,
                    merchant_account_id,
                    amount: plan.buyer,
                    timeout,
                };
                credit.execute_linked(ledger, clock.next, &authorize, &chain)
            };
            clock.take(holds as u64 + 1);
            match (result, credit.prefix_failure()) {
                (credit::CreditResult::Ok, _) => R::Ok,
                (credit::CreditResult::InsufficientFunds, Some(_)) => R::BudgetExhausted,
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
            match self.post_chain(ledger, clock, &mut chain) {
                Ok(()) => R::Ok,
                Err((i, R::InsufficientFunds)) if i < holds => R::BudgetExhausted,
                Err((_, code)) => code,
            }
        };
        // The scratch chain goes back for the next command (no allocation per payment).
        self.chain = chain;
        if result != R::Ok {
            return result;
        }
        let index = u32::try_from(self.checkouts.len()).expect("checkouts fit u32");
        for (k, a) in plan.applied[..plan.count].iter().enumerate() {
            let first = self.first_of_campaign(&plan.applied[..plan.count], k);
            let coupon = &mut self.coupons[a.coupon as usize];
            coupon.status = if capture {
                CouponStatus::Used
            } else {
                CouponStatus::Reserved
            };
            coupon.checkout = index;
            let campaign = coupon.campaign;
            let c = &mut self.campaigns[campaign as usize];
            if capture {
                c.spent += a.discount;
            } else {
                c.reserved += a.discount;
            }
            c.redemptions += u32::from(first);
            let usage = self.usage.entry_or_default((campaign, user_id));
            usage.redemptions += u32::from(first);
            usage.discount += a.discount;
        }
        self.checkout_index.insert(id, index);
        self.checkouts.push(Checkout {
            command: *command,
            payer_line,
            buyer_amount: plan.buyer,
            applied: plan.applied,
            applied_count: u8::try_from(plan.count).expect("at most COUPONS_MAX"),
            deadline,
            status: if capture {
                CheckoutStatus::Captured
            } else {
                CheckoutStatus::Authorized
            },
            buyer_refunded: 0,
        });
        if deadline != 0 {
            self.expiry.insert((deadline, index));
        }
        R::Ok
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the command's fields, destructured once"
    )]
    pub(crate) fn resolve_checkout(
        &mut self,
        ledger: &mut Ledger,
        credit: &mut Credit,
        clock: &mut Clock,
        command: &Command,
        id: u128,
        checkout_id: u128,
        void: bool,
    ) -> R {
        if let Some(code) = self.op_refusal(ledger, id, command) {
            return code;
        }
        let Some(&index) = self.checkout_index.get(&checkout_id) else {
            return R::CheckoutNotFound;
        };
        let checkout = self.checkouts[index as usize];
        match checkout.status {
            CheckoutStatus::Authorized => {}
            CheckoutStatus::Captured => return R::CheckoutAlreadyCaptured,
            CheckoutStatus::Voided => return R::CheckoutAlreadyVoided,
            CheckoutStatus::Expired => return R::CheckoutExpired,
        }
        let Command::Checkout {
            payer_id,
            merchant_account_id,
            timeout,
            ..
        } = checkout.command
        else {
            unreachable!("a checkout holds its checkout command")
        };
        let tag = if void { TAG_VOID } else { TAG_CAPTURE };
        let mut chain = std::mem::take(&mut self.chain);
        chain.clear();
        chain.extend(checkout.applied().iter().enumerate().map(|(k, a)| {
            let hold = self.hold(checkout_id, k, a, merchant_account_id, timeout);
            resolve(&hold, derived_id(id, tag + k as u32), void)
        }));
        let holds = chain.len();
        let result = if checkout.buyer_amount > 0 && checkout.payer_line {
            let purchase = if void {
                credit::Command::Void {
                    id,
                    line_id: payer_id,
                    purchase_id: checkout_id,
                }
            } else {
                credit::Command::Capture {
                    id,
                    line_id: payer_id,
                    purchase_id: checkout_id,
                    amount: 0,
                }
            };
            let result = credit.execute_linked(ledger, clock.next, &purchase, &chain);
            clock.take(holds as u64 + 1);
            from_credit(result)
        } else {
            if checkout.buyer_amount > 0 {
                let (payer, _) = ledger.lookup_account(payer_id).expect("payer account");
                let Command::Checkout { code, .. } = checkout.command else {
                    unreachable!("a checkout holds its checkout command")
                };
                let pending = Transfer {
                    id: derived_id(checkout_id, TAG_PAYER),
                    amount: u128::from(checkout.buyer_amount),
                    ledger: payer.ledger,
                    code,
                    ..Transfer::default()
                };
                chain.push(resolve(&pending, id, void));
            }
            match self.post_chain(ledger, clock, &mut chain) {
                Ok(()) => R::Ok,
                Err((_, code)) => code,
            }
        };
        // The scratch chain goes back for the next command (no allocation per payment).
        self.chain = chain;
        if result != R::Ok {
            return result;
        }
        if checkout.deadline != 0 {
            self.expiry.remove(&(checkout.deadline, index));
        }
        if void {
            self.release(index, CheckoutStatus::Voided);
        } else {
            self.checkouts[index as usize].status = CheckoutStatus::Captured;
            for a in checkout.applied() {
                let coupon = &mut self.coupons[a.coupon as usize];
                coupon.status = CouponStatus::Used;
                let c = &mut self.campaigns[coupon.campaign as usize];
                c.reserved -= a.discount;
                c.spent += a.discount;
            }
        }
        self.ops.insert(id, command.fingerprint());
        R::Ok
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the command's fields, destructured once"
    )]
    pub(crate) fn refund(
        &mut self,
        ledger: &mut Ledger,
        credit: &mut Credit,
        clock: &mut Clock,
        command: &Command,
        id: u128,
        checkout_id: u128,
        amount: u64,
    ) -> R {
        if let Some(code) = self.op_refusal(ledger, id, command) {
            return code;
        }
        let Some(&index) = self.checkout_index.get(&checkout_id) else {
            return R::CheckoutNotFound;
        };
        let checkout = self.checkouts[index as usize];
        if checkout.status != CheckoutStatus::Captured {
            return R::CheckoutNotCaptured;
        }
        if amount == 0 {
            return R::AmountMustNotBeZero;
        }
        let gross = checkout.amount();
        if amount > gross - checkout.refunded() {
            return R::ExceedsRefundable;
        }
        let Command::Checkout {
            payer_id,
            merchant_account_id,
            code,
            user_id,
            ..
        } = checkout.command
        else {
            unreachable!("a checkout holds its checkout command")
        };
        // Sponsors first, pro rata and within what each has left to get back; the payer gets
        // the rest within what it paid; any remainder (fen rounding) goes to sponsors with room.
        let applied = checkout.applied();
        let mut shares = [0u64; COUPONS_MAX];
        for (k, a) in applied.iter().enumerate() {
            let pro_rata = u128::from(amount) * u128::from(a.discount) / u128::from(gross);
            let pro_rata = u64::try_from(pro_rata).expect("at most amount");
            shares[k] = pro_rata.min(a.discount - a.refunded);
        }
        let to_sponsors: u64 = shares.iter().sum();
        let buyer = (amount - to_sponsors).min(checkout.buyer_amount - checkout.buyer_refunded);
        let mut left = amount - to_sponsors - buyer;
        for (k, a) in applied.iter().enumerate() {
            let more = left.min(a.discount - a.refunded - shares[k]);
            shares[k] += more;
            left -= more;
        }
        debug_assert_eq!(left, 0, "the refundable amount covers every part");
        let mut chain = std::mem::take(&mut self.chain);
        chain.clear();
        for (k, a) in applied.iter().enumerate() {
            if shares[k] == 0 {
                continue;
            }
            let campaign =
                &self.campaigns[self.coupons[a.coupon as usize].campaign as usize].record;
            chain.push(campaign_transfer(
                campaign,
                derived_id(id, TAG_REFUND + k as u32),
                merchant_account_id,
                campaign.budget_account_id,
                shares[k],
            ));
        }
        let sponsors = chain.len();
        let result = if buyer > 0 && checkout.payer_line {
            let refund = credit::Command::Refund {
                id,
                line_id: payer_id,
                purchase_id: checkout_id,
                amount: buyer,
            };
            let result = credit.execute_linked(ledger, clock.next, &refund, &chain);
            clock.take(sponsors as u64 + 1);
            from_credit(result)
        } else {
            if buyer > 0 {
                let (payer, _) = ledger.lookup_account(payer_id).expect("payer account");
                chain.push(Transfer {
                    id,
                    debit_account_id: merchant_account_id,
                    credit_account_id: payer_id,
                    amount: u128::from(buyer),
                    ledger: payer.ledger,
                    code,
                    ..Transfer::default()
                });
            }
            match self.post_chain(ledger, clock, &mut chain) {
                Ok(()) => R::Ok,
                Err((_, code)) => code,
            }
        };
        // The scratch chain goes back for the next command (no allocation per payment).
        self.chain = chain;
        if result != R::Ok {
            return result;
        }
        let full = amount == gross - checkout.refunded();
        let checkout = &mut self.checkouts[index as usize];
        checkout.buyer_refunded += buyer;
        let applied = *checkout;
        for (k, a) in applied.applied().iter().enumerate() {
            let first = self.first_of_campaign(applied.applied(), k);
            self.checkouts[index as usize].applied[k].refunded += shares[k];
            let coupon = &mut self.coupons[a.coupon as usize];
            let campaign = coupon.campaign;
            let c = &mut self.campaigns[campaign as usize];
            c.spent -= shares[k];
            if full && c.record.restore_on_refund {
                coupon.status = CouponStatus::Available;
                coupon.checkout = NO_CHECKOUT;
                c.redemptions -= u32::from(first);
                let usage = self
                    .usage
                    .get_mut(&(campaign, user_id))
                    .expect("usage of a redeeming user");
                usage.redemptions -= u32::from(first);
                usage.discount -= a.discount;
            }
        }
        self.ops.insert(id, command.fingerprint());
        R::Ok
    }

    /// A red packet into the user's account, or onto a credit line as a bill credit (a
    /// repayment from the pool's budget).
    pub(crate) fn grab(
        &mut self,
        ledger: &mut Ledger,
        credit: &mut Credit,
        clock: &mut Clock,
        command: &Command,
    ) -> R {
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
        if let Some(code) = self.op_refusal(ledger, id, command) {
            return code;
        }
        let facts = Facts {
            segments: user_segments,
            ..Facts::default()
        };
        let index = match self.campaign_refusal(
            campaign_id,
            CampaignKind::RedPacket,
            user_id,
            clock.next,
            &facts,
        ) {
            Ok(index) => index,
            Err(code) => return code,
        };
        let c = self.campaigns[index as usize];
        let r = &c.record;
        if self
            .usage
            .get(&(index, user_id))
            .is_some_and(|u| u.grabbed > 0)
        {
            return R::AlreadyGrabbed;
        }
        if c.issued >= r.stock {
            return R::PoolEmpty;
        }
        if c.funded < r.pool_amount {
            return R::PoolNotFunded;
        }
        let to_line = credit.line(account_id).is_some();
        match ledger.lookup_account(account_id) {
            None => return R::AccountNotFound,
            Some((a, _)) if a.flags.managed() && !to_line => return R::AccountIsManaged,
            Some((a, _)) if a.ledger != r.ledger => return R::LedgerMismatch,
            Some(_) => {}
        }
        let amount = double_average(
            r.pool_amount - c.grabbed,
            r.stock - c.issued,
            r.seed,
            c.issued,
        );
        if to_line {
            let result = credit.credit_bill(
                ledger,
                clock.next,
                id,
                account_id,
                r.budget_account_id,
                amount,
            );
            clock.take(1);
            if result != credit::CreditResult::Ok {
                return from_credit(result);
            }
        } else {
            let mut transfer = [Transfer {
                user_data_64: u64::from(c.issued),
                ..campaign_transfer(r, id, r.budget_account_id, account_id, amount)
            }];
            if let Err((_, code)) = self.post_chain(ledger, clock, &mut transfer) {
                return code;
            }
        }
        let c = &mut self.campaigns[index as usize];
        c.issued += 1;
        c.grabbed += amount;
        self.usage.entry_or_default((index, user_id)).grabbed = amount;
        self.ops.insert(id, command.fingerprint());
        R::Ok
    }
}
