//! The checks after each restart, and the model they check against.
//!
//! The model holds every transfer found after a restart (with the timestamp the server gave it)
//! and the balances those transfers imply. After a restart it looks up every transfer the cycle
//! sent and some ids never sent, then every account, then a sample of older transfers:
//!
//! - an acknowledged transfer (`ok` or `exists`) is present, with the fields expected;
//! - a call with no answer (in doubt) is present wholly or not at all: one request, one batch;
//! - no id above the id counter exists (never sent), nor any event the server rejected;
//! - timestamps are nonzero and, cycle after cycle, above every earlier one (engine time stays
//!   monotonic across a SIGKILL);
//! - every account's four balances equal the sums over the transfers found (so a transfer lost
//!   from an earlier cycle, or one that exists without being found, shows up too), and per
//!   ledger debits equal credits, pending and posted;
//! - sampled earlier transfers, and at a full check all of them, are identical, timestamp
//!   included.

use std::collections::BTreeMap;

use client::Client;
use ledger::{Account, Transfer};
use protocol::EVENTS_MAX;

use crate::workload::{Call, Event, LEDGERS, Outcome, Prng, Shared, created, result_of};

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
}

/// What one cycle's check found.
#[derive(Debug, Default)]
pub struct CycleCheck {
    pub acknowledged: u64,
    pub in_doubt: u64,
    /// Events in doubt found applied.
    pub in_doubt_applied: u64,
    pub lost: u64,
    /// The first few acknowledged transfers lost (ids).
    pub lost_ids: Vec<u128>,
    /// Transfers looked up again from earlier cycles.
    pub sampled: u64,
    pub problems: Vec<String>,
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

impl Model {
    #[must_use]
    pub fn new() -> Model {
        let mut model = Model::default();
        for (_, accounts) in LEDGERS {
            for id in accounts {
                model.balances.insert(*id, Balance::default());
            }
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
            .collect()
    }

    fn balance(&mut self, id: u128) -> &mut Balance {
        self.balances.entry(id).or_default()
    }

    /// Adds a transfer found after a restart: its effect on the balances (wrapping, so the order
    /// of a pending transfer and its post within a cycle does not matter).
    fn add(&mut self, event: &Event, stored: Transfer) {
        let amount = stored.amount;
        let (debit, credit) = (stored.debit_account_id, stored.credit_account_id);
        if let Some(pending) = &event.pending {
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
}

/// Checks one cycle's calls after the restart and adds what exists to the model; `next_id` is
/// the id counter (no id from it on was ever sent).
pub async fn check_cycle(
    client: &Client,
    model: &mut Model,
    shared: &Shared,
    calls: &[Call],
    next_id: u64,
    prng: &mut Prng,
    sample_size: usize,
) -> CycleCheck {
    let mut check = CycleCheck::default();
    let earlier = model.transfers.len();
    if let Err(problem) = check_calls(client, model, shared, calls, next_id, &mut check).await {
        check.problems.push(problem);
    }
    if check.lost > 0 {
        check.problems.insert(
            0,
            format!(
                "{} acknowledged transfers lost, among them {:?}",
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

async fn check_calls(
    client: &Client,
    model: &mut Model,
    shared: &Shared,
    calls: &[Call],
    next_id: u64,
    check: &mut CycleCheck,
) -> Result<(), String> {
    let mut ids: Vec<u128> = calls
        .iter()
        .flat_map(|call| call.events.iter().map(|event| event.sent.id))
        .collect();
    // Ids never sent: the next ones the counter would give.
    let unsent = (next_id..next_id + 16).map(u128::from);
    ids.extend(unsent.clone());
    let found: BTreeMap<u128, Transfer> = lookup_transfers(client, &ids)
        .await?
        .into_iter()
        .map(|transfer| (transfer.id, transfer))
        .collect();
    for id in unsent {
        if found.contains_key(&id) {
            check
                .problems
                .push(format!("transfer {id} exists but was never sent"));
        }
    }
    let timestamp_floor = model.timestamp_max;
    let mut present = Vec::new();
    for call in calls {
        check_call(call, &found, timestamp_floor, check, &mut present);
    }
    let mut pool = shared.pool();
    for call in calls {
        for event in &call.events {
            match found.get(&event.sent.id) {
                Some(stored) => {
                    model.timestamp_max = model.timestamp_max.max(stored.timestamp);
                    // An acknowledged pending transfer is in the pool already.
                    if event.sent.flags.pending() && !matches!(call.outcome, Outcome::Replied(_)) {
                        pool.push(event.expected);
                    }
                }
                // A post or void that does not exist leaves its pending transfer open.
                None => pool.extend(event.pending),
            }
        }
    }
    drop(pool);
    for (event, stored) in present {
        model.add(&event, stored);
    }
    Ok(())
}

/// Checks one call against what the lookups found; collects the events that exist.
fn check_call(
    call: &Call,
    found: &BTreeMap<u128, Transfer>,
    timestamp_floor: u64,
    check: &mut CycleCheck,
    present: &mut Vec<(Event, Transfer)>,
) {
    let mut found_count = 0;
    for (index, event) in call.events.iter().enumerate() {
        let id = event.sent.id;
        let stored = found.get(&id);
        if let Outcome::Replied(failures) = &call.outcome {
            let code = result_of(failures, index);
            check.acknowledged += u64::from(created(code));
            match (created(code), stored) {
                (true, None) => {
                    check.lost += 1;
                    if check.lost_ids.len() < 10 {
                        check.lost_ids.push(id);
                    }
                }
                (false, _) => check.problems.push(format!(
                    "transfer {id} was rejected with {code:?}, but every event sent is valid"
                )),
                (true, Some(_)) => {}
            }
        } else {
            check.in_doubt += 1;
        }
        let Some(stored) = stored else { continue };
        found_count += 1;
        if without_timestamp(stored) != event.expected {
            check.problems.push(format!(
                "transfer {id} differs:\n  expected {:?}\n  found    {stored:?}",
                event.expected
            ));
        }
        if stored.timestamp <= timestamp_floor {
            check.problems.push(format!(
                "transfer {id} has timestamp {} at or below an earlier cycle's {timestamp_floor}",
                stored.timestamp
            ));
        }
        present.push((event.clone(), *stored));
    }
    if !matches!(call.outcome, Outcome::Replied(_)) {
        check.in_doubt_applied += found_count;
        if found_count != 0 && found_count != call.events.len() as u64 {
            check.problems.push(format!(
                "a call in doubt is half applied: {found_count} of {} events exist (first id {})",
                call.events.len(),
                call.events[0].sent.id
            ));
        }
    }
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
