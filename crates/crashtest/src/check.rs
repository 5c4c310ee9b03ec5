//! The checks after each restart, and the model they check against.
//!
//! The model holds every transfer found after a restart (with the timestamp the server gave it),
//! the balances those transfers imply, the red-packet pools' packets and the coupons claimed.
//! After a restart it looks up every transfer the cycle's calls may have posted (transfers,
//! credit commands, grabs) and some ids never sent, and the view of every coupon claimed; sends
//! the cycle's credit and promotions commands that exist once more; then checks every account,
//! the products' views (`views.rs`) and a sample of older transfers:
//!
//! - every event answered as it must be (`workload::Expect`); an acknowledged one (`ok` or
//!   `exists`) exists, with the fields expected (a credit command's transfer, a coupon's owner),
//!   one refused does not;
//! - a call with no answer (in doubt) is present wholly or not at all: one request, one batch
//!   (counting the events that must be applied; a grab of a pool that may be empty counts for
//!   neither, and a grab that must be refused must be absent);
//! - no id above the id counter exists (never sent), nor any event the server rejected;
//! - timestamps are nonzero and, cycle after cycle, above every earlier one (engine time stays
//!   monotonic across a SIGKILL);
//! - a credit or promotions command that exists, sent again, answers `exists` and changes
//!   nothing: a retry never applies twice, across a restart too;
//! - every account's four balances equal the sums over the transfers found (so a transfer lost
//!   from an earlier cycle, or one that exists without being found, shows up too), per ledger
//!   debits equal credits, pending and posted, and no pool's budget account is overdrawn;
//! - the pools' packets and the views of lines, campaigns, grabs and coupons agree with the
//!   model (`views.rs`);
//! - sampled earlier transfers, and at a full check all of them, are identical, timestamp
//!   included.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use client::Client;
use ledger::{Account, Transfer};
use promotions::PromotionResult;
use protocol::EVENTS_MAX;

use crate::products::{self, COUPON_CAMPAIGN, POOLS};
use crate::views::{self, Coupon};
use crate::workload::{
    Call, Code, Effect, Event, Expect, LEDGERS, Outcome, Prng, Sent, Shared, created, result_of,
    send,
};

/// An account's balances: debits pending and posted, credits pending and posted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balance {
    pub debits_pending: u128,
    pub debits_posted: u128,
    pub credits_pending: u128,
    pub credits_posted: u128,
}

impl Balance {
    fn of(account: &Account) -> Balance {
        Balance {
            debits_pending: account.debits_pending,
            debits_posted: account.debits_posted,
            credits_pending: account.credits_pending,
            credits_posted: account.credits_posted,
        }
    }
}

/// What the server must hold.
#[derive(Debug, Default)]
pub struct Model {
    /// Every transfer found after a restart, as stored (timestamp included).
    pub transfers: Vec<Transfer>,
    pub balances: BTreeMap<u128, Balance>,
    /// The highest timestamp found so far.
    pub timestamp_max: u64,
    /// Per pool of `products::POOLS`, the amounts of the packets paid, by position.
    pub packets: Vec<Vec<u64>>,
    /// Coupons claimed.
    pub coupons: u64,
}

/// What one cycle's check found.
#[derive(Debug, Default)]
pub struct CycleCheck {
    /// Transfers acknowledged.
    pub acknowledged: u64,
    /// Credit commands acknowledged.
    pub credit_acknowledged: u64,
    /// Promotions commands acknowledged.
    pub promotions_acknowledged: u64,
    /// Promotions commands refused as they had to be (`pool_empty`, `already_grabbed`).
    pub refused: u64,
    /// Events (of every kind) in calls left unanswered.
    pub in_doubt: u64,
    /// Events in doubt found applied.
    pub in_doubt_applied: u64,
    pub lost: u64,
    /// The first few acknowledged events lost (ids).
    pub lost_ids: Vec<u128>,
    /// Transfers looked up again from earlier cycles.
    pub sampled: u64,
    pub problems: Vec<String>,
}

/// What the lookups after a restart found of one cycle's events.
#[derive(Debug, Default)]
struct Found {
    transfers: BTreeMap<u128, Transfer>,
    coupons: BTreeMap<u128, Coupon>,
}

impl Found {
    fn exists(&self, event: &Event) -> bool {
        match event.effect {
            Effect::Coupon { .. } => self.coupons.contains_key(&event.id),
            Effect::Transfer { .. } | Effect::Grab { .. } => self.transfers.contains_key(&event.id),
        }
    }

    /// How the event found differs from what it must store, if it does.
    fn difference(&self, event: &Event) -> Option<String> {
        let id = event.id;
        let (expected, stored) = match &event.effect {
            Effect::Coupon { user_id } => {
                let coupon = &self.coupons[&id];
                let expected = Coupon {
                    campaign_id: COUPON_CAMPAIGN,
                    user_id: *user_id,
                    status: "available".to_string(),
                };
                return (*coupon != expected).then(|| {
                    format!("coupon {id} differs:\n  expected {expected:?}\n  found    {coupon:?}")
                });
            }
            Effect::Transfer { expected, .. } => (*expected, self.transfers[&id]),
            // The pool decides the amount and the position (`views::check_packets`).
            Effect::Grab { expected, .. } => {
                let stored = self.transfers[&id];
                let unknown = Transfer {
                    amount: 0,
                    user_data_64: 0,
                    ..stored
                };
                (*expected, unknown)
            }
        };
        (without_timestamp(&stored) != expected).then(|| {
            format!("transfer {id} differs:\n  expected {expected:?}\n  found    {stored:?}")
        })
    }
}

/// A lookup that fails is itself a finding: the restarted server must answer.
async fn lookup_transfers(client: &Client, ids: &[u128]) -> Result<Vec<Transfer>, String> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(EVENTS_MAX) {
        let transfers = client
            .lookup_transfers(chunk.to_vec())
            .await
            .map_err(|error| format!("lookup_transfers failed: {error}"))?;
        found.extend(transfers);
    }
    Ok(found)
}

fn without_timestamp(transfer: &Transfer) -> Transfer {
    Transfer {
        timestamp: 0,
        ..*transfer
    }
}

fn kind(sent: &Sent) -> &'static str {
    match sent {
        Sent::Transfers(_) => "transfer",
        Sent::Credit(_) => "credit command",
        Sent::Promotions(_) => "promotions command",
    }
}

impl Model {
    #[must_use]
    pub fn new() -> Model {
        let mut model = Model {
            packets: vec![Vec::new(); POOLS.len()],
            ..Model::default()
        };
        let ids = LEDGERS
            .iter()
            .flat_map(|(_, accounts)| accounts.iter().copied());
        for id in ids.chain(products::all_accounts()) {
            model.balances.insert(id, Balance::default());
        }
        model
    }

    /// The accounts to create on the first start.
    #[must_use]
    pub fn accounts() -> Vec<Account> {
        LEDGERS
            .iter()
            .flat_map(|(ledger, ids)| {
                ids.iter().map(|id| Account {
                    id: *id,
                    ledger: *ledger,
                    code: 1,
                    ..Account::default()
                })
            })
            .chain(products::accounts())
            .collect()
    }

    fn balance(&mut self, id: u128) -> &mut Balance {
        self.balances.entry(id).or_default()
    }

    /// Adds a transfer found after a restart (resolving `pending`, if a post or void): its
    /// effect on the balances (wrapping, so the order of a pending transfer and its post within
    /// a cycle does not matter).
    fn add(&mut self, pending: Option<&Transfer>, stored: Transfer) {
        let amount = stored.amount;
        let (debit, credit) = (stored.debit_account_id, stored.credit_account_id);
        if let Some(pending) = pending {
            let released = pending.amount;
            let d = self.balance(pending.debit_account_id);
            d.debits_pending = d.debits_pending.wrapping_sub(released);
            let c = self.balance(pending.credit_account_id);
            c.credits_pending = c.credits_pending.wrapping_sub(released);
            if stored.flags.post_pending_transfer() {
                let d = self.balance(debit);
                d.debits_posted = d.debits_posted.wrapping_add(amount);
                let c = self.balance(credit);
                c.credits_posted = c.credits_posted.wrapping_add(amount);
            }
        } else if stored.flags.pending() {
            let d = self.balance(debit);
            d.debits_pending = d.debits_pending.wrapping_add(amount);
            let c = self.balance(credit);
            c.credits_pending = c.credits_pending.wrapping_add(amount);
        } else {
            let d = self.balance(debit);
            d.debits_posted = d.debits_posted.wrapping_add(amount);
            let c = self.balance(credit);
            c.credits_posted = c.credits_posted.wrapping_add(amount);
        }
        self.transfers.push(stored);
    }

    /// After the first start's setup: adds the transfers funding the pools.
    pub async fn add_setup(&mut self, client: &Client) -> Result<(), String> {
        let ids: Vec<u128> = products::funding_ids().collect();
        let found = lookup_transfers(client, &ids).await?;
        if found.len() != ids.len() {
            return Err(format!("the pools' funding is missing: {found:?}"));
        }
        for transfer in found {
            self.timestamp_max = self.timestamp_max.max(transfer.timestamp);
            self.add(None, transfer);
        }
        Ok(())
    }
}

/// Checks one cycle's calls after the restart and adds what exists to the model; `next_id` is
/// the id counter (no id from it on was ever sent); `http` the server's HTTP listener.
#[expect(clippy::too_many_arguments, reason = "the run's state, passed apart")]
pub async fn check_cycle(
    client: &Client,
    http: SocketAddr,
    model: &mut Model,
    shared: &Shared,
    calls: &[Call],
    next_id: u64,
    prng: &mut Prng,
    sample_size: usize,
) -> CycleCheck {
    let mut check = CycleCheck::default();
    let earlier = model.transfers.len();
    match look_up(client, http, calls, next_id, &mut check).await {
        Ok(found) => {
            check_calls(model, shared, calls, &found, &mut check);
            let views = async {
                let mut problems = check_resends(client, calls, &found).await?;
                let grabs = grab_views(calls, &found);
                problems.extend(views::check_views(http, model, &grabs).await?);
                Ok::<_, String>(problems)
            };
            match views.await {
                Ok(problems) => check.problems.extend(problems),
                Err(problem) => check.problems.push(problem),
            }
        }
        Err(problem) => check.problems.push(problem),
    }
    if check.lost > 0 {
        check.problems.insert(
            0,
            format!(
                "{} acknowledged events lost, among them {:?}",
                check.lost, check.lost_ids
            ),
        );
    }
    match check_accounts(client, model).await {
        Ok(problems) => check.problems.extend(problems),
        Err(problem) => check.problems.push(problem),
    }
    let sample: Vec<Transfer> = (0..sample_size.min(earlier))
        .map(|_| model.transfers[usize::try_from(prng.below(earlier as u64)).expect("index")])
        .collect();
    check.sampled = sample.len() as u64;
    match check_stored(client, &sample).await {
        Ok((lost, problems)) => {
            check.lost += lost;
            check.problems.extend(problems);
        }
        Err(problem) => check.problems.push(problem),
    }
    check
}

/// Looks up what the cycle's events may have stored, and the ids never sent.
async fn look_up(
    client: &Client,
    http: SocketAddr,
    calls: &[Call],
    next_id: u64,
    check: &mut CycleCheck,
) -> Result<Found, String> {
    let events = calls.iter().flat_map(|call| &call.events);
    let (coupons, transfers): (Vec<&Event>, Vec<&Event>) =
        events.partition(|event| matches!(event.effect, Effect::Coupon { .. }));
    let mut ids: Vec<u128> = transfers.iter().map(|event| event.id).collect();
    // Ids never sent: the next ones the counter would give.
    let unsent = (next_id..next_id + 16).map(u128::from);
    ids.extend(unsent.clone());
    let transfers: BTreeMap<u128, Transfer> = lookup_transfers(client, &ids)
        .await?
        .into_iter()
        .map(|transfer| (transfer.id, transfer))
        .collect();
    for id in unsent {
        if transfers.contains_key(&id) {
            check
                .problems
                .push(format!("transfer {id} exists but was never sent"));
        }
    }
    let coupon_ids: Vec<u128> = coupons.iter().map(|event| event.id).collect();
    let coupons = views::coupons(http, &coupon_ids).await?;
    Ok(Found { transfers, coupons })
}

/// Checks the cycle's calls against what the lookups found, adds what exists to the model, and
/// gives what existing events opened, or missing ones took, to the shared pools.
fn check_calls(
    model: &mut Model,
    shared: &Shared,
    calls: &[Call],
    found: &Found,
    check: &mut CycleCheck,
) {
    let timestamp_floor = model.timestamp_max;
    let mut present = Vec::new();
    for call in calls {
        check_call(call, found, timestamp_floor, check, &mut present);
    }
    for call in calls {
        for event in &call.events {
            let refused = matches!(event.expect, Expect::Refused(_));
            match found.exists(event) {
                // What an acknowledged event opened is in the shared pools already.
                true if !refused && !matches!(call.outcome, Outcome::Replied(_)) => {
                    shared.opened(&call.sent, event);
                }
                true => {}
                // A post or void (a capture or void of a purchase too) that does not exist
                // leaves its pending transfer open.
                false => shared.released(&call.sent, event),
            }
        }
    }
    let mut packets = Vec::new();
    for event in present {
        if let Some(stored) = found.transfers.get(&event.id) {
            model.timestamp_max = model.timestamp_max.max(stored.timestamp);
            model.add(event.resolves().as_ref(), *stored);
        }
        match event.effect {
            Effect::Grab { pool, .. } => packets.push((pool, found.transfers[&event.id])),
            Effect::Coupon { .. } => model.coupons += 1,
            Effect::Transfer { .. } => {}
        }
    }
    let emptied = emptied(calls);
    check
        .problems
        .extend(views::check_packets(&mut model.packets, packets, &emptied));
}

/// The pools that answered `pool_empty` to some grab of these calls.
fn emptied(calls: &[Call]) -> Vec<bool> {
    let mut emptied = vec![false; POOLS.len()];
    for call in calls {
        let Outcome::Replied(failures) = &call.outcome else {
            continue;
        };
        for (index, event) in call.events.iter().enumerate() {
            let empty = Some(Code::Promotion(PromotionResult::PoolEmpty));
            if let Effect::Grab { pool, .. } = event.effect
                && result_of(failures, index) == empty
            {
                emptied[pool] = true;
            }
        }
    }
    emptied
}

/// Judges the answer to one event against what it must be, and whether it exists.
fn check_answer(
    call: &Call,
    index: usize,
    exists: bool,
    code: Option<Code>,
    check: &mut CycleCheck,
) {
    let event = &call.events[index];
    let id = event.id;
    let what = kind(&call.sent);
    match (event.expect, created(code)) {
        (Expect::Applied | Expect::AppliedOr(_), true) => {
            match call.sent {
                Sent::Transfers(_) => check.acknowledged += 1,
                Sent::Credit(_) => check.credit_acknowledged += 1,
                Sent::Promotions(_) => check.promotions_acknowledged += 1,
            }
            if !exists {
                check.lost += 1;
                if check.lost_ids.len() < 10 {
                    check.lost_ids.push(id);
                }
            }
        }
        (Expect::Refused(refusal) | Expect::AppliedOr(refusal), false) if code == Some(refusal) => {
            check.refused += 1;
            if exists {
                check.problems.push(format!(
                    "{what} {id} was refused with {refusal:?}, but exists"
                ));
            }
        }
        (expect, _) => {
            let answer = code.map_or_else(|| "ok".to_string(), |code| format!("{code:?}"));
            check.problems.push(format!(
                "{what} {id} answered {answer}, but it must be {expect:?}"
            ));
        }
    }
}

/// Checks one call against what the lookups found; collects the events that exist.
fn check_call(
    call: &Call,
    found: &Found,
    timestamp_floor: u64,
    check: &mut CycleCheck,
    present: &mut Vec<Event>,
) {
    // Events that must be applied, and those of them found, in a call in doubt.
    let (mut must, mut must_found) = (0, 0);
    for (index, event) in call.events.iter().enumerate() {
        let id = event.id;
        let exists = found.exists(event);
        if let Outcome::Replied(failures) = &call.outcome {
            check_answer(call, index, exists, result_of(failures, index), check);
        } else {
            check.in_doubt += 1;
            check.in_doubt_applied += u64::from(exists);
            if event.expect == Expect::Applied {
                must += 1;
                must_found += u64::from(exists);
            } else if exists && matches!(event.expect, Expect::Refused(_)) {
                check.problems.push(format!(
                    "{} {id} in doubt exists, but it must be refused",
                    kind(&call.sent)
                ));
            }
        }
        if !exists {
            continue;
        }
        check.problems.extend(found.difference(event));
        if let Some(stored) = found.transfers.get(&id)
            && stored.timestamp <= timestamp_floor
        {
            check.problems.push(format!(
                "transfer {id} has timestamp {} at or below an earlier cycle's {timestamp_floor}",
                stored.timestamp
            ));
        }
        present.push(event.clone());
    }
    if must_found != 0 && must_found != must {
        check.problems.push(format!(
            "a call in doubt is half applied: {must_found} of {must} events exist (first id {})",
            call.events[0].id
        ));
    }
}

/// The credit or promotions commands of `call` that exist, as a call of their own, and their
/// ids; `None` for a transfer call, or if none exists.
fn existing(call: &Call, found: &Found) -> Option<(Sent, Vec<u128>)> {
    let exists: Vec<bool> = call
        .events
        .iter()
        .map(|event| found.exists(event))
        .collect();
    fn keep<C: Clone>(items: &[C], exists: &[bool]) -> Vec<C> {
        let kept = items.iter().zip(exists).filter(|(_, exists)| **exists);
        kept.map(|(item, _)| item.clone()).collect()
    }
    let ids: Vec<u128> = keep(&call.events, &exists)
        .iter()
        .map(|event| event.id)
        .collect();
    let sent = match &call.sent {
        Sent::Transfers(_) => return None,
        Sent::Credit(commands) => Sent::Credit(keep(commands, &exists)),
        Sent::Promotions(commands) => Sent::Promotions(keep(commands, &exists)),
    };
    (!ids.is_empty()).then_some((sent, ids))
}

/// Sends the cycle's credit and promotions commands that exist once more, call by call: each
/// must answer `exists` (the accounts, checked after, show that nothing moved).
async fn check_resends(
    client: &Client,
    calls: &[Call],
    found: &Found,
) -> Result<Vec<String>, String> {
    let exists = [
        Code::Credit(credit::CreditResult::Exists),
        Code::Promotion(PromotionResult::Exists),
    ];
    let mut problems = Vec::new();
    for (sent, ids) in calls.iter().filter_map(|call| existing(call, found)) {
        let what = kind(&sent);
        let failures = send(client, sent)
            .await
            .map_err(|error| format!("sending {what}s again failed: {error}"))?;
        for (index, id) in ids.iter().enumerate() {
            let code = result_of(&failures, index);
            if !code.is_some_and(|code| exists.contains(&code)) {
                let answer = code.map_or_else(|| "ok".to_string(), |code| format!("{code:?}"));
                problems.push(format!(
                    "{what} {id} exists; sent again, it answered {answer}, not exists"
                ));
            }
        }
    }
    Ok(problems)
}

/// The packets this cycle's grabs (those that may be applied) must show in their views.
fn grab_views(calls: &[Call], found: &Found) -> Vec<(usize, u128, u64)> {
    calls
        .iter()
        .flat_map(|call| &call.events)
        .filter_map(|event| match event.effect {
            Effect::Grab { pool, user_id, .. } if !matches!(event.expect, Expect::Refused(_)) => {
                let amount = found.transfers.get(&event.id).map_or(0, |t| t.amount);
                Some((
                    pool,
                    user_id,
                    u64::try_from(amount).expect("a packet fits u64"),
                ))
            }
            _ => None,
        })
        .collect()
}

/// Every account's balances equal the model's, and each ledger conserves: the differences.
async fn check_accounts(client: &Client, model: &Model) -> Result<Vec<String>, String> {
    let ids: Vec<u128> = model.balances.keys().copied().collect();
    let accounts = client
        .lookup_accounts(ids.clone())
        .await
        .map_err(|error| format!("lookup_accounts failed: {error}"))?;
    let mut problems = Vec::new();
    let mut totals: BTreeMap<u32, [u128; 4]> = BTreeMap::new();
    for id in &ids {
        let Some(account) = accounts.iter().find(|account| account.id == *id) else {
            problems.push(format!("account {id} missing"));
            continue;
        };
        let balance = Balance::of(account);
        if balance != model.balances[id] {
            problems.push(format!(
                "account {id} balances differ from the transfers found:\n  transfers {:?}\n  \
                 account   {balance:?}",
                model.balances[id]
            ));
        }
        let budget = POOLS.iter().any(|pool| pool.budget_account_id == *id);
        if budget && balance.debits_posted + balance.debits_pending > balance.credits_posted {
            problems.push(format!(
                "pool budget account {id} is overdrawn: {balance:?}"
            ));
        }
        let total = totals.entry(account.ledger).or_default();
        total[0] += balance.debits_pending;
        total[1] += balance.debits_posted;
        total[2] += balance.credits_pending;
        total[3] += balance.credits_posted;
    }
    for (
        ledger,
        [
            debits_pending,
            debits_posted,
            credits_pending,
            credits_posted,
        ],
    ) in totals
    {
        if debits_pending != credits_pending || debits_posted != credits_posted {
            problems.push(format!(
                "ledger {ledger} does not conserve: debits {debits_pending} pending, \
                 {debits_posted} posted; credits {credits_pending} pending, {credits_posted} \
                 posted"
            ));
        }
    }
    Ok(problems)
}

/// Transfers found at an earlier restart are still there, identical, timestamp included.
/// Returns how many are gone and every difference.
pub async fn check_stored(
    client: &Client,
    expected: &[Transfer],
) -> Result<(u64, Vec<String>), String> {
    let ids: Vec<u128> = expected.iter().map(|transfer| transfer.id).collect();
    let found = lookup_transfers(client, &ids).await?;
    let found: BTreeMap<u128, Transfer> = found.into_iter().map(|t| (t.id, t)).collect();
    let mut lost = 0;
    let mut problems = Vec::new();
    for transfer in expected {
        match found.get(&transfer.id) {
            None => {
                lost += 1;
                if lost <= 10 {
                    problems.push(format!("earlier transfer {} lost", transfer.id));
                }
            }
            Some(stored) if stored != transfer => problems.push(format!(
                "earlier transfer {} changed:\n  was {transfer:?}\n  now {stored:?}",
                transfer.id
            )),
            Some(_) => {}
        }
    }
    if lost > 10 {
        problems.push(format!("{lost} earlier transfers lost in all"));
    }
    Ok((lost, problems))
}
