//! Checkers: what must hold of the node's state, compared with the auditor and with a replica.
//!
//! - conservation: per ledger, debits equal credits, pending and posted (the node's own sums
//!   and the auditor's);
//! - agreement: every account (balances, flags, limits), every stored transfer and every
//!   pending transfer's fate equal the auditor's, which applied exactly the acknowledged
//!   batches (and the unacknowledged one, if recovery found it durable): so every acknowledged
//!   command is present with its result, and no batch is half applied;
//! - determinism: the node's state hash equals that of a replica state machine fed the same
//!   log from op 1 in one process, without crashes, eviction or snapshots;
//! - credit: the business date, day-close progress, every program, line, purchase, installment
//!   plan and program's co-funding equal the auditor's; the engine's own line invariants
//!   (`Credit::check_lines`) and the model's hold (a line's account balance is its components;
//!   no credit balance beside a debt), and on both sides a line's plans' remaining principal is
//!   its installment balance and a program's funders' and platform's outstanding is its lines'
//!   principal; and the credit snapshot encodes to the same bytes as the replica's.
//!
//! The state hash is FNV-1a over a canonical encoding: the state with every transfer evicted,
//! encoded as a snapshot, followed by every transfer's record in position order. Equal states
//! give equal bytes whatever was in memory and whatever hash key each process used.

use std::collections::BTreeSet;

use engine::{Batch, Request, StateMachine};
use ledger::{ColdStore, Transfer};

use crate::auditor::plans_model::{ModelFunder, ModelFunding, ModelPlan, ModelShare};
use crate::auditor::{Auditor, CreditModel, ModelLine, ModelPurchase, net_balance};

/// FNV-1a, 64 bits: small, stable, and plenty to tell states apart in a test.
#[must_use]
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xCBF2_9CE4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01B3);
    }
    hash
}

/// The canonical state of `state` (see the module docs), with every transfer, reading the
/// evicted ones through `scan(start, end, f)`.
pub fn canonical(
    state: &StateMachine,
    scan: impl FnOnce(u64, u64, &mut dyn FnMut(u64, &[u8; 128])) -> Result<(), String>,
) -> Result<(Vec<u8>, Vec<Transfer>), String> {
    let mut restore = StateMachine::decode_snapshot(&state.encode_snapshot(), 1)
        .map_err(|e| format!("snapshot of the state does not decode: {e}"))?;
    let floor = restore.cold_floor();
    let mut transfers = Vec::new();
    let mut failure = None;
    scan(0, floor, &mut |_, bytes| {
        let transfer = Transfer::from_bytes(bytes);
        if failure.is_none()
            && let Err(e) = restore.cold_transfer(&transfer)
        {
            failure = Some(format!("cold transfer refused: {e}"));
        }
        transfers.push(transfer);
    })?;
    if let Some(failure) = failure {
        return Err(failure);
    }
    let mut copy = restore
        .finish()
        .map_err(|e| format!("restore does not finish: {e}"))?;
    transfers.extend_from_slice(copy.ledger().transfers_from(floor));
    copy.evict_below(copy.ledger().transfer_count());
    let mut bytes = copy.encode_snapshot();
    for transfer in &transfers {
        bytes.extend_from_slice(&transfer.to_bytes());
    }
    Ok((bytes, transfers))
}

/// The canonical state of a state machine that never evicted anything.
pub fn canonical_in_memory(state: &StateMachine) -> Result<(Vec<u8>, Vec<Transfer>), String> {
    canonical(state, |start, end, _| {
        if start == end {
            Ok(())
        } else {
            Err(format!("state evicted transfers {start}..{end}"))
        }
    })
}

/// Conservation as the node sums it.
pub fn conservation(state: &StateMachine) -> Result<(), String> {
    for (ledger, totals) in state.ledger().ledger_totals() {
        if !totals.conserved() {
            return Err(format!(
                "conservation: ledger {ledger} debits != credits: {totals:?}"
            ));
        }
    }
    Ok(())
}

/// Accounts (balances, flags, limits), the auditor's conservation, and per-ledger totals.
/// Cheap (no transfers): run after every batch.
pub fn accounts_agree(state: &StateMachine, auditor: &Auditor) -> Result<(), String> {
    conservation(state)?;
    let ledger = state.ledger();
    if ledger.account_count() != auditor.accounts.len() as u64 {
        return Err(format!(
            "account count: node {} auditor {}",
            ledger.account_count(),
            auditor.accounts.len()
        ));
    }
    for (id, model) in &auditor.accounts {
        let Some((account, limits)) = ledger.lookup_account(*id) else {
            return Err(format!("account {id} missing from the node"));
        };
        if account != model.account
            || limits.debit_limit != model.debit_limit
            || limits.credit_limit != model.credit_limit
        {
            return Err(format!(
                "account {id}: node {account:?} {limits:?}, auditor {model:?}"
            ));
        }
    }
    for (ledger_id, totals) in auditor.totals() {
        if totals.debits_pending != totals.credits_pending
            || totals.debits_posted != totals.credits_posted
        {
            return Err(format!(
                "conservation (auditor): ledger {ledger_id}: {totals:?}"
            ));
        }
        let node = ledger.ledger_totals().get(&ledger_id).copied();
        let same = |n: ledger::WideSum, m: crate::auditor::Sum| (n.carry, n.low) == m;
        let matches = node.is_some_and(|n| {
            same(n.debits_pending, totals.debits_pending)
                && same(n.debits_posted, totals.debits_posted)
                && same(n.credits_pending, totals.credits_pending)
                && same(n.credits_posted, totals.credits_posted)
        });
        if !matches {
            return Err(format!(
                "ledger {ledger_id} totals: node {node:?}, auditor {totals:?}"
            ));
        }
    }
    Ok(())
}

/// Every stored transfer (`transfers`, in position order) and every pending transfer's fate
/// equal the auditor's.
pub fn transfers_agree(
    state: &StateMachine,
    transfers: &[Transfer],
    auditor: &Auditor,
) -> Result<(), String> {
    if transfers.len() != auditor.transfers.len() {
        return Err(format!(
            "transfer count: node {} auditor {}",
            transfers.len(),
            auditor.transfers.len()
        ));
    }
    let mut timestamp_last = 0;
    for transfer in transfers {
        if transfer.timestamp <= timestamp_last {
            return Err(format!(
                "transfer {} at {} is not after {timestamp_last}",
                transfer.id, transfer.timestamp
            ));
        }
        timestamp_last = transfer.timestamp;
        match auditor.transfers.get(&transfer.id) {
            Some(model) if model == transfer => {}
            model => {
                return Err(format!(
                    "transfer {}: node {transfer:?}, auditor {model:?}",
                    transfer.id
                ));
            }
        }
    }
    for (id, model) in &auditor.pending {
        let status = state.ledger().pending_status(*id);
        if status != Some(model.status) {
            return Err(format!(
                "pending transfer {id}: node {status:?}, auditor {:?}",
                model.status
            ));
        }
    }
    Ok(())
}

/// Looks up a few transfers through the node's cold store (the lookup path, prefetch's
/// sibling), checking them against the auditor.
pub fn lookups_agree<C: ColdStore + ?Sized>(
    state: &StateMachine,
    cold: &C,
    ids: &[u128],
    auditor: &Auditor,
) -> Result<(), String>
where
    C::Error: std::fmt::Display,
{
    for id in ids {
        let found = state
            .ledger()
            .lookup_transfer(*id, cold)
            .map_err(|e| format!("lookup of transfer {id}: {e}"))?;
        if found.as_ref() != auditor.transfers.get(id) {
            return Err(format!(
                "lookup of transfer {id}: node {found:?}, auditor {:?}",
                auditor.transfers.get(id)
            ));
        }
    }
    Ok(())
}

/// A node's line as the model keeps it (the fields the model covers).
fn model_line(line: &credit::Line) -> ModelLine {
    use crate::auditor::credit_model::{Cycle, Owed, Statement};
    let cycle = |c: &credit::Cycle| Cycle {
        purchases: c.purchases,
        refunds: c.refunds,
        repayments: c.repayments,
        fees: c.fees,
        interest: c.interest,
        penalties: c.penalties,
        installments: c.installments,
    };
    let s = &line.statement;
    ModelLine {
        id: line.id,
        borrower_id: line.borrower_id,
        program: line.program as usize,
        status: line.status,
        statement_day: line.statement_day,
        due_day: line.due_day,
        applicant: line.applicant,
        birth_date: line.birth_date,
        limit: line.limit,
        temporary: (
            line.temporary.amount,
            line.temporary.from,
            line.temporary.to,
        ),
        annual_income: line.annual_income,
        owed: Owed {
            penalty: line.owed.penalty,
            fee: line.owed.fee,
            interest: line.owed.interest,
            principal: line.owed.principal,
        },
        unbilled: line.unbilled,
        installment: line.installment,
        coins_redeemed: line.coins_redeemed,
        credit_balance: line.credit_balance,
        statement: Statement {
            date: s.date,
            due_date: s.due_date,
            previous_balance: s.previous_balance,
            cycle: cycle(&s.cycle),
            balance: s.balance,
            minimum_payment: s.minimum_payment,
        },
        cycle: cycle(&line.cycle),
        paid_since_statement: line.paid_since_statement,
        past_due: line.past_due,
        overdue_since: line.overdue_since,
        revolving: line.revolving,
        written_off: line.written_off,
    }
}

/// The credit state equals the auditor's: business date, day-close progress, programs, lines
/// and purchases. Cheap (a few lines): run after every batch.
pub fn credit_agree(state: &StateMachine, auditor: &Auditor) -> Result<(), String> {
    let credit = state.credit();
    let model = &auditor.credit;
    if credit.business_date() != model.business_date {
        return Err(format!(
            "business date: node {}, auditor {}",
            credit.business_date(),
            model.business_date
        ));
    }
    let progress = credit.day_close_progress();
    let expected = (model.close_cursor, model.lines.len() as u32);
    if progress != expected {
        return Err(format!(
            "day-close progress (cursor, lines): node {progress:?}, auditor {expected:?}"
        ));
    }
    for program in &model.programs {
        if credit.program(program.id) != Some(program) {
            return Err(format!(
                "program {}: node {:?}, auditor {program:?}",
                program.id,
                credit.program(program.id)
            ));
        }
    }
    for line in &model.lines {
        let node = credit.line(line.id).map(model_line);
        if node.as_ref() != Some(line) {
            return Err(format!("line {}: node {node:?}, auditor {line:?}", line.id));
        }
        // The view a client reads: limit in force, holds, balance, what is left to spend.
        let account = auditor.accounts[&line.id].account;
        let effective_limit = line.effective_limit(model.business_date);
        let expected = (
            effective_limit,
            u64::try_from(account.debits_pending).unwrap_or(u64::MAX),
            net_balance(&account),
            crate::auditor::available(&account, effective_limit),
            if line.overdue_since == credit::Date(0) {
                0
            } else {
                model.business_date.0.saturating_sub(line.overdue_since.0) + 1
            },
        );
        let view = credit.line_view(state.ledger(), line.id).map(|v| {
            (
                v.effective_limit,
                v.held,
                v.balance,
                v.available,
                v.days_overdue,
            )
        });
        if view != Some(expected) {
            return Err(format!(
                "line {} view (effective limit, held, balance, available, days overdue): node \
                 {view:?}, auditor {expected:?}",
                line.id
            ));
        }
    }
    for (id, purchase) in &model.purchases {
        let node = credit.purchase(*id).map(|p| ModelPurchase {
            line: p.line as usize,
            merchant_account_id: p.merchant_account_id,
            captured: p.captured,
            refunded: p.refunded,
            captured_on: p.captured_on,
            plan: (p.plan != credit::NO_PLAN).then_some(p.plan as usize),
        });
        if node.as_ref() != Some(purchase) {
            return Err(format!(
                "purchase {id}: node {node:?}, auditor {purchase:?}"
            ));
        }
    }
    plans_agree(credit, model)?;
    funding_agrees(credit, model)
}

/// Every installment plan equals the auditor's (all but the APR disclosed, which the model
/// checks only against the cap).
fn plans_agree(credit: &credit::Credit, model: &CreditModel) -> Result<(), String> {
    for plan in &model.plans {
        let node = credit.plan(plan.id).map(|p| ModelPlan {
            id: p.id,
            line: p.line as usize,
            purchase_id: p.purchase_id,
            sponsor_account_id: p.sponsor_account_id,
            periods: p.periods,
            billed: p.billed,
            status: p.status,
            created: p.created,
            principal: p.principal,
            fee: p.fee,
            sponsor_fee: p.sponsor_fee,
            remaining: p.remaining,
            fee_billed: p.fee_billed,
            settlement_fee: p.settlement_fee,
        });
        if node.as_ref() != Some(plan) {
            return Err(format!("plan {}: node {node:?}, auditor {plan:?}", plan.id));
        }
    }
    Ok(())
}

/// Every program's co-funding (the exposure report) equals the auditor's.
fn funding_agrees(credit: &credit::Credit, model: &CreditModel) -> Result<(), String> {
    let share = |s: &credit::Share| ModelShare {
        outstanding: s.outstanding,
        drawn: s.drawn,
        repaid: s.repaid,
        lost: s.lost,
    };
    for (program, funding) in model.programs.iter().zip(&model.funding) {
        let node = credit.funding(program.id).map(|f| ModelFunding {
            platform: share(&f.platform),
            funders: f
                .funders
                .iter()
                .map(|f| ModelFunder {
                    account_id: f.account_id,
                    share_bps: f.share_bps,
                    share: share(&f.share),
                    unsettled_drawn: f.unsettled_drawn,
                    unsettled_repaid: f.unsettled_repaid,
                    unsettled_lost: f.unsettled_lost,
                })
                .collect(),
        });
        if node.as_ref() != Some(funding) {
            return Err(format!(
                "funding of program {}: node {node:?}, auditor {funding:?}",
                program.id
            ));
        }
    }
    Ok(())
}

/// The credit invariants: the engine's own check of every line against its ledger account
/// (`Credit::check_lines`, which panics: caught here), and the model's.
pub fn credit_invariants(state: &StateMachine, auditor: &Auditor) -> Result<(), String> {
    for line in &auditor.credit.lines {
        let account = auditor.accounts[&line.id].account;
        let components = i128::from(line.owed.total())
            + i128::from(line.unbilled)
            + i128::from(line.installment)
            - i128::from(line.credit_balance);
        if net_balance(&account) != components {
            return Err(format!(
                "line {}: account balance {} but components {components} (auditor: {line:?})",
                line.id,
                net_balance(&account)
            ));
        }
        if line.credit_balance > 0 && line.owed.total() + line.unbilled > 0 {
            return Err(format!(
                "line {}: a credit balance beside a debt (auditor: {line:?})",
                line.id
            ));
        }
        // Past due is part of what is billed: a line cannot be behind by more than it owes.
        if line.past_due > line.owed.total() {
            return Err(format!(
                "line {}: past due {} but only {} owed (auditor: {line:?})",
                line.id,
                line.past_due,
                line.owed.total()
            ));
        }
    }
    plans_and_funding_invariants(state.credit(), &auditor.credit)?;
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        state.credit().check_lines(state.ledger());
    }));
    if let Err(payload) = checked {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()))
            .unwrap_or_default();
        return Err(format!("Credit::check_lines: {message}"));
    }
    Ok(())
}

/// On both sides, read through the engine's views and in the model: a line's installment
/// balance is its active plans' remaining principal, and every program's platform and funders
/// have outstanding exactly the principal its lines owe.
fn plans_and_funding_invariants(
    credit: &credit::Credit,
    model: &CreditModel,
) -> Result<(), String> {
    for (index, line) in model.lines.iter().enumerate() {
        let Some(node) = credit.line(line.id) else {
            return Err(format!("line {} missing", line.id));
        };
        let node_plans: u64 = credit.plans_of(line.id).iter().map(|p| p.remaining).sum();
        let model_plans: u64 = model
            .plans
            .iter()
            .filter(|p| p.line == index)
            .map(|p| p.remaining)
            .sum();
        if node_plans != node.installment || model_plans != line.installment {
            return Err(format!(
                "line {}: plans' remaining principal node {node_plans} auditor {model_plans}, \
                 installment balance node {} auditor {}",
                line.id, node.installment, line.installment
            ));
        }
    }
    for (p, (program, funding)) in model.programs.iter().zip(&model.funding).enumerate() {
        let model_principal: u64 = model
            .lines
            .iter()
            .filter(|l| l.program == p)
            .map(|l| l.owed.principal + l.unbilled + l.installment)
            .sum();
        let model_outstanding = funding.platform.outstanding
            + funding
                .funders
                .iter()
                .map(|f| f.share.outstanding)
                .sum::<u64>();
        let node_principal: u64 = model
            .lines
            .iter()
            .filter_map(|l| credit.line(l.id))
            .filter(|l| l.program as usize == p)
            .map(credit::Line::principal)
            .sum();
        let node_outstanding = credit.funding(program.id).map(|f| {
            f.platform.outstanding + f.funders.iter().map(|f| f.share.outstanding).sum::<u64>()
        });
        if model_outstanding != model_principal || node_outstanding != Some(node_principal) {
            return Err(format!(
                "program {}: funders' and platform's outstanding node {node_outstanding:?} \
                 auditor {model_outstanding}, lines' principal node {node_principal} auditor \
                 {model_principal}",
                program.id
            ));
        }
    }
    Ok(())
}

/// The node's credit state encodes to the same snapshot bytes as the replica's (a replay of
/// the whole log in one process): recovery, snapshots and replay lose or change nothing.
pub fn credit_snapshots_agree(node: &StateMachine, replica: &StateMachine) -> Result<(), String> {
    let (mut node_bytes, mut replica_bytes) = (Vec::new(), Vec::new());
    node.credit().encode_snapshot(&mut node_bytes);
    replica.credit().encode_snapshot(&mut replica_bytes);
    if node_bytes != replica_bytes {
        let offset = node_bytes
            .iter()
            .zip(&replica_bytes)
            .position(|(a, b)| a != b);
        return Err(format!(
            "credit snapshot differs from the replica's ({} vs {} bytes, first difference at \
             {offset:?})",
            node_bytes.len(),
            replica_bytes.len()
        ));
    }
    Ok(())
}

/// The coupons, checkouts, red-packet grabs, draws and coin earners a batch names: after a
/// batch, those and every campaign (with its prizes, rule and coin lots due) are compared (a
/// full check compares everything).
#[derive(Debug, Default)]
pub struct Touched {
    pub coupons: BTreeSet<u128>,
    pub checkouts: BTreeSet<u128>,
    /// (campaign id, user id).
    pub grabs: BTreeSet<(u128, u128)>,
    /// Draw ids (a draw that wins a coupon prize also names a coupon).
    pub draws: BTreeSet<u128>,
    /// (coins campaign id, user id).
    pub coins: BTreeSet<(u128, u128)>,
}

impl Touched {
    #[must_use]
    pub fn of(batch: &Batch) -> Touched {
        use promotions::Command as C;
        let mut touched = Touched::default();
        for request in &batch.requests {
            let Request::Promotions(commands) = request else {
                continue;
            };
            for command in commands {
                match *command {
                    C::IssueCoupon { id, .. } | C::ClaimCoupon { id, .. } => {
                        touched.coupons.insert(id);
                    }
                    C::Checkout { id, coupons, .. } => {
                        touched.checkouts.insert(id);
                        touched.coupons.extend(coupons);
                    }
                    C::CaptureCheckout { checkout_id, .. }
                    | C::VoidCheckout { checkout_id, .. }
                    | C::RefundCheckout { checkout_id, .. } => {
                        touched.checkouts.insert(checkout_id);
                    }
                    C::GrabRedPacket {
                        campaign_id,
                        user_id,
                        ..
                    } => {
                        touched.grabs.insert((campaign_id, user_id));
                    }
                    C::DrawLottery { id, .. } => {
                        touched.draws.insert(id);
                        touched.coupons.insert(id);
                    }
                    C::EarnCoins {
                        campaign_id,
                        user_id,
                        ..
                    } => {
                        touched.coins.insert((campaign_id, user_id));
                    }
                    C::FundCampaign { .. }
                    | C::SetCampaignStatus { .. }
                    | C::AddPrize { .. }
                    | C::ExpireCoins { .. }
                    | C::SetCampaignRule { .. } => {}
                }
            }
        }
        touched
    }
}

/// The promotions state equals the auditor's, as the node's views show it: every campaign's
/// figures, prizes, rule and coin lots due, and every coupon, checkout, red packet grabbed,
/// draw and user's coins (or, given `touched`, those a batch named; a coupon, checkout or draw
/// the model does not have must be missing from the node).
pub fn promotions_agree(
    state: &StateMachine,
    auditor: &Auditor,
    touched: Option<&Touched>,
) -> Result<(), String> {
    use promotions::{CampaignView, CheckoutView, CouponView};
    let node = state.promotions();
    let model = &auditor.promotions;
    if let Some(touched) = touched {
        for id in &touched.draws {
            if !model.draw_index.contains_key(id) && node.draw(*id).is_some() {
                return Err(format!("draw {id}: in the node, not in the auditor"));
            }
        }
        for id in &touched.coupons {
            if *id != 0 && !model.coupon_index.contains_key(id) && node.coupon(*id).is_some() {
                return Err(format!("coupon {id}: in the node, not in the auditor"));
            }
        }
        for id in &touched.checkouts {
            if !model.checkout_index.contains_key(id) && node.checkout(*id).is_some() {
                return Err(format!("checkout {id}: in the node, not in the auditor"));
            }
        }
    }
    if node.campaign_count() != model.campaigns.len() {
        return Err(format!(
            "campaign count: node {}, auditor {}",
            node.campaign_count(),
            model.campaigns.len()
        ));
    }
    for c in &model.campaigns {
        let expected = CampaignView {
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
        };
        let view = node.campaign(c.record.id);
        if view != Some(expected) {
            return Err(format!(
                "campaign {}: node {view:?}, auditor {expected:?}",
                c.record.id
            ));
        }
    }
    games_agree(node, auditor, touched)?;
    let coupons = model
        .coupons
        .iter()
        .filter(|c| touched.is_none_or(|t| t.coupons.contains(&c.id)));
    for coupon in coupons {
        let expected = CouponView {
            id: coupon.id,
            campaign_id: model.campaigns[coupon.campaign].record.id,
            user_id: coupon.user_id,
            status: coupon.status,
            expires_at: coupon.expires_at,
            checkout_id: coupon.checkout.map_or(0, |i| model.checkouts[i].id),
        };
        let view = node.coupon(coupon.id);
        if view != Some(expected) {
            return Err(format!(
                "coupon {}: node {view:?}, auditor {expected:?}",
                coupon.id
            ));
        }
    }
    let checkouts = model
        .checkouts
        .iter()
        .filter(|c| touched.is_none_or(|t| t.checkouts.contains(&c.id)));
    for checkout in checkouts {
        let expected = CheckoutView {
            command: checkout.command,
            status: checkout.status,
            buyer_amount: checkout.buyer_amount,
            discount: checkout.discount(),
            refunded: checkout.refunded(),
            deadline: checkout.deadline,
        };
        let view = node.checkout(checkout.id);
        if view != Some(expected) {
            return Err(format!(
                "checkout {}: node {view:?}, auditor {expected:?}",
                checkout.id
            ));
        }
    }
    best_coupons_agree(state, auditor, touched)?;
    for (&(campaign, user), usage) in &model.usage {
        let id = model.campaigns[campaign].record.id;
        if touched.is_some_and(|t| !t.grabs.contains(&(id, user))) {
            continue;
        }
        let grabbed = node.grabbed(id, user);
        if grabbed != usage.grabbed {
            return Err(format!(
                "red packet of user {user} in campaign {id}: node {grabbed}, auditor {}",
                usage.grabbed
            ));
        }
    }
    Ok(())
}

/// The best-coupons query (a read, not a command) answers as the model works it out, for the
/// basket of the first checkout a batch named (its user, merchant, amount and card, after the
/// batch: its own coupons are then spent or reserved, so the user's others compete).
fn best_coupons_agree(
    state: &StateMachine,
    auditor: &Auditor,
    touched: Option<&Touched>,
) -> Result<(), String> {
    let model = &auditor.promotions;
    let Some(&index) = touched
        .and_then(|t| t.checkouts.iter().next())
        .and_then(|id| model.checkout_index.get(id))
    else {
        return Ok(());
    };
    let promotions::Command::Checkout {
        user_id,
        merchant_account_id,
        amount,
        card_issuer,
        card_bin,
        category,
        ..
    } = model.checkouts[index].command
    else {
        unreachable!("a checkout's command is a checkout")
    };
    let basket = promotions::Basket {
        user_id,
        merchant_account_id,
        amount,
        card_issuer,
        card_bin,
        category,
    };
    let node = state
        .promotions()
        .best_coupons(state.ledger(), auditor.timestamp, &basket);
    let expected = auditor.best_coupons(auditor.timestamp, &basket);
    if node != expected {
        return Err(format!(
            "best coupons for {basket:?}: node {node:?}, auditor {expected:?}"
        ));
    }
    Ok(())
}

/// Lotteries, coins and rules: every campaign's prizes, rule and coin lots due at the batch's
/// time, and every draw and user's coins earned (or, given `touched`, those a batch named).
fn games_agree(
    node: &promotions::Promotions,
    auditor: &Auditor,
    touched: Option<&Touched>,
) -> Result<(), String> {
    use promotions::{DrawView, PrizeView};
    let model = &auditor.promotions;
    for (index, c) in model.campaigns.iter().enumerate() {
        let id = c.record.id;
        let expected: Vec<PrizeView> = model
            .prizes_of(index)
            .iter()
            .enumerate()
            .map(|(k, p)| PrizeView {
                prize: u8::try_from(k + 1).expect("at most 16 prizes"),
                kind: p.kind,
                weight_ppm: p.weight_ppm,
                stock: p.stock,
                won: p.won,
                amount: p.amount,
                coupon_campaign_id: p
                    .coupon_campaign
                    .map_or(0, |k| model.campaigns[k].record.id),
            })
            .collect();
        let prizes = node.prizes(id);
        if prizes != expected {
            return Err(format!(
                "prizes of campaign {id}: node {prizes:?}, auditor {expected:?}"
            ));
        }
        let rule = node.rule(id);
        let expected = model.rules.get(&index).map(|r| r.text.as_str());
        if rule != expected {
            return Err(format!(
                "rule of campaign {id}: node {rule:?}, auditor {expected:?}"
            ));
        }
        let due = node.coin_lots_due(id, auditor.timestamp);
        let expected = model.lots_due(index, auditor.timestamp);
        if due != expected {
            return Err(format!(
                "coin lots of campaign {id} due at {}: node {due}, auditor {expected}",
                auditor.timestamp
            ));
        }
    }
    let draws = model
        .draws
        .iter()
        .filter(|d| touched.is_none_or(|t| t.draws.contains(&d.id)));
    for d in draws {
        let prize = (d.prize != 0).then(|| model.prizes_of(d.campaign)[usize::from(d.prize) - 1]);
        let expected = DrawView {
            id: d.id,
            campaign_id: model.campaigns[d.campaign].record.id,
            user_id: d.user_id,
            position: d.position,
            prize: d.prize,
            kind: prize.map(|p| p.kind),
            amount: prize.map_or(0, |p| p.amount),
        };
        let view = node.draw(d.id);
        if view != Some(expected) {
            return Err(format!(
                "draw {}: node {view:?}, auditor {expected:?}",
                d.id
            ));
        }
    }
    for (&(campaign, user), usage) in &model.usage {
        let id = model.campaigns[campaign].record.id;
        if touched.is_some_and(|t| !t.coins.contains(&(id, user))) {
            continue;
        }
        let coins = node.coins(id, user);
        if coins != usage.coins {
            return Err(format!(
                "coins of user {user} in campaign {id}: node {coins}, auditor {}",
                usage.coins
            ));
        }
    }
    Ok(())
}

/// The model's own lottery and coins invariants (`docs/promotions.md`, "Invariants"): a
/// lottery's draws have positions 0, 1, 2, ..., no prize is won above its stock and the cash
/// won is what the campaign spent; a coins campaign spent the coins earned less those expiry
/// took back.
fn games_invariants(auditor: &Auditor) -> Result<(), String> {
    use promotions::{CampaignKind, PrizeKind};
    let model = &auditor.promotions;
    for (index, c) in model.campaigns.iter().enumerate() {
        let id = c.record.id;
        match c.record.kind {
            CampaignKind::Lottery => {
                let positions: Vec<u32> = model
                    .draws
                    .iter()
                    .filter(|d| d.campaign == index)
                    .map(|d| d.position)
                    .collect();
                let prizes = model.prizes_of(index);
                let cash: u64 = prizes
                    .iter()
                    .filter(|p| p.kind == PrizeKind::Cash)
                    .map(|p| u64::from(p.won) * p.amount)
                    .sum();
                let ok = positions.iter().copied().eq(0..c.issued)
                    && prizes.iter().all(|p| p.won <= p.stock)
                    && cash == c.spent;
                if !ok {
                    return Err(format!(
                        "lottery {id} (auditor): draws at {positions:?}, prizes {prizes:?},                          spent {}",
                        c.spent
                    ));
                }
            }
            CampaignKind::Coins => {
                let earned: u64 = model
                    .usage
                    .iter()
                    .filter(|((campaign, _), _)| *campaign == index)
                    .map(|(_, u)| u.coins)
                    .sum();
                let taken: u64 = model
                    .lots
                    .iter()
                    .filter(|l| l.campaign == index)
                    .map(|l| l.taken)
                    .sum();
                if earned.checked_sub(taken) != Some(c.spent) {
                    return Err(format!(
                        "coins campaign {id} (auditor): earned {earned}, taken back {taken},                          spent {}",
                        c.spent
                    ));
                }
            }
            CampaignKind::Coupon | CampaignKind::RedPacket => {}
        }
    }
    Ok(())
}

/// The promotions invariants: the engine's own checks (`Promotions::check_records`, and
/// `check_ledger` against the ledger, not caught up: the ledger may not have expired a hold
/// whose checkout promotions let go), and the model's: a budget account holds exactly what its
/// campaign says is left, with at least its live reservations pending; no limit exceeded.
pub fn promotions_invariants(state: &StateMachine, auditor: &Auditor) -> Result<(), String> {
    let model = &auditor.promotions;
    for c in &model.campaigns {
        let r = &c.record;
        let budget = auditor.accounts[&r.budget_account_id].account;
        if budget.credits_posted.checked_sub(budget.debits_posted) != Some(u128::from(c.held()))
            || budget.debits_pending < u128::from(c.reserved)
        {
            return Err(format!(
                "campaign {}: budget account {budget:?} but held {} reserved {} (auditor)",
                r.id,
                c.held(),
                c.reserved
            ));
        }
        let over = (r.stock != 0 && c.issued > r.stock)
            || (r.redemptions_max != 0 && c.redemptions > r.redemptions_max)
            || (r.kind == promotions::CampaignKind::RedPacket && c.grabbed > r.pool_amount);
        if over {
            return Err(format!(
                "campaign {} above its limits (auditor): {c:?}",
                r.id
            ));
        }
    }
    games_invariants(auditor)?;
    let promotions = state.promotions();
    promotions
        .check_records()
        .map_err(|e| format!("Promotions::check_records: {e}"))?;
    promotions
        .check_ledger(state.ledger(), false)
        .map_err(|e| format!("Promotions::check_ledger: {e}"))
}

/// The node's promotions state encodes to the same snapshot bytes as the replica's.
pub fn promotions_snapshots_agree(
    node: &StateMachine,
    replica: &StateMachine,
) -> Result<(), String> {
    let (mut node_bytes, mut replica_bytes) = (Vec::new(), Vec::new());
    node.promotions().encode_snapshot(&mut node_bytes);
    replica.promotions().encode_snapshot(&mut replica_bytes);
    if node_bytes != replica_bytes {
        let offset = node_bytes
            .iter()
            .zip(&replica_bytes)
            .position(|(a, b)| a != b);
        return Err(format!(
            "promotions snapshot differs from the replica's ({} vs {} bytes, first difference \
             at {offset:?})",
            node_bytes.len(),
            replica_bytes.len()
        ));
    }
    Ok(())
}
