//! Checkers: what must hold of the node's state, compared with the auditor and with a replica.
//!
//! - conservation: per ledger, debits equal credits, pending and posted (the node's own sums
//!   and the auditor's);
//! - agreement: every account (balances, flags, limits), every stored transfer and every
//!   pending transfer's fate equal the auditor's, which applied exactly the acknowledged
//!   batches (and the unacknowledged one, if recovery found it durable): so every acknowledged
//!   command is present with its result, and no batch is half applied;
//! - determinism: the node's state hash equals that of a replica state machine fed the same
//!   log from op 1 in one process, without crashes, eviction or snapshots.
//!
//! The state hash is FNV-1a over a canonical encoding: the state with every transfer evicted,
//! encoded as a snapshot, followed by every transfer's record in position order. Equal states
//! give equal bytes whatever was in memory and whatever hash key each process used.

use engine::StateMachine;
use ledger::{ColdStore, Transfer};

use crate::auditor::Auditor;

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
