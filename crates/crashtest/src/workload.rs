//! The load: seeded batches of transfers from concurrent senders, and the log of every call
//! (what was sent, and what the server acknowledged).
//!
//! Every event is valid, so the server must answer `ok` (or `exists`, after the client resent a
//! request on its own): any other result is a finding. Events are single-phase and pending
//! transfers, posts (full, partial, `AMOUNT_MAX`) and voids of pending transfers known to exist,
//! some in linked chains of 2-4 events. A pending transfer is resolved by at most one sender:
//! whoever resolves it takes it out of the shared pool, and it goes back only if the post or
//! void turns out not to exist after the restart.
//!
//! Invariant: ids come from one counter that never goes back, and a batch's ids are taken and
//! its call logged in one step with no `.await` between, so every id below the counter belongs
//! to a logged call and no id above it was ever sent.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use client::Client;
use ledger::{AMOUNT_MAX, CreateTransferResult, Transfer, TransferFlags};

/// The accounts of the test, per ledger. Created once, on the first start.
pub const LEDGERS: [(u32, &[u128]); 2] =
    [(1, &[1, 2, 3, 4, 5, 6, 7, 8]), (2, &[101, 102, 103, 104])];

/// splitmix64: a seeded generator, so a seed reproduces the batch shapes and the kill delays.
#[derive(Clone, Debug)]
pub struct Prng(u64);

impl Prng {
    #[must_use]
    pub fn new(seed: u64) -> Prng {
        Prng(seed)
    }

    /// The generator for one part of one cycle (the cycle itself, or one of its senders).
    #[must_use]
    pub fn derive(seed: u64, cycle: u64, part: u64) -> Prng {
        let mut prng = Prng(seed ^ cycle.wrapping_mul(0xA24B_AED4_963E_E407));
        let mix = prng.next_u64() ^ part.wrapping_mul(0x9FB2_1C65_1E98_DF25);
        Prng(mix)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound > 0`); the modulo bias is irrelevant here.
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "below(0)");
        self.next_u64() % bound
    }

    /// A number in `low..=high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        assert!(low <= high, "range({low}, {high})");
        low + self.below(high - low + 1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn index(&mut self, length: usize) -> usize {
        usize::try_from(self.below(length as u64)).expect("below a usize")
    }
}

/// One event of a call: what was sent, what the server must store for it (with timestamp 0),
/// and for a post or void the pending transfer it resolves (as expected to be stored).
#[derive(Clone, Debug)]
pub struct Event {
    pub sent: Transfer,
    pub expected: Transfer,
    pub pending: Option<Transfer>,
}

#[derive(Clone, Debug)]
pub enum Outcome {
    /// Logged, but no answer arrived before the kill: in doubt.
    InFlight,
    /// The server answered: the failures as `(index, code)`; the other events are `ok`.
    Replied(Vec<(u32, CreateTransferResult)>),
    /// The call failed (timeout, broken connection): in doubt.
    Failed(String),
}

/// One `create_transfers` call: its events, never split by the client, travel in one request,
/// so the server applies all of them or none.
#[derive(Clone, Debug)]
pub struct Call {
    pub events: Vec<Event>,
    pub outcome: Outcome,
}

/// The code the reply gave event `index`.
#[must_use]
pub fn result_of(failures: &[(u32, CreateTransferResult)], index: usize) -> CreateTransferResult {
    failures
        .iter()
        .find(|(i, _)| usize::try_from(*i).is_ok_and(|i| i == index))
        .map_or(CreateTransferResult::Ok, |(_, code)| *code)
}

/// A result that means the transfer exists.
#[must_use]
pub fn created(code: CreateTransferResult) -> bool {
    matches!(
        code,
        CreateTransferResult::Ok | CreateTransferResult::Exists
    )
}

/// State shared by the senders and the checker across cycles.
#[derive(Debug)]
pub struct Shared {
    /// The next transfer id; never goes back.
    pub next_id: AtomicU64,
    /// Pending transfers known to exist (acknowledged, or found after a restart) and not yet
    /// taken by a post or void.
    pub pool: Mutex<Vec<Transfer>>,
}

impl Shared {
    #[must_use]
    pub fn new() -> Shared {
        Shared {
            next_id: AtomicU64::new(1),
            pool: Mutex::new(Vec::new()),
        }
    }

    pub fn pool(&self) -> std::sync::MutexGuard<'_, Vec<Transfer>> {
        self.pool.lock().expect("the pool lock is never poisoned")
    }
}

impl Default for Shared {
    fn default() -> Shared {
        Shared::new()
    }
}

/// The calls of one cycle, shared by its senders.
pub type Log = Arc<Mutex<Vec<Call>>>;

/// Who sends, for the user data of its transfers.
#[derive(Clone, Copy, Debug)]
pub struct Tag {
    pub cycle: u64,
    pub sender: u32,
}

/// How long before the kill the senders stop pausing between calls.
pub const BURST: Duration = Duration::from_millis(20);

/// One sender: its own connection, sending batches until the task is dropped (the runtime is
/// shut down after the kill) or a call fails. Until `burst_at` it pauses 10-50 ms after each
/// call, so the transfers a run piles up (which every restart reads back) stay near a million
/// over 1,000 cycles; from `burst_at` (`BURST` before the kill) it sends small batches back to
/// back, so calls are in flight when the kill comes.
pub async fn sender(
    addr: SocketAddr,
    shared: Arc<Shared>,
    log: Log,
    mut prng: Prng,
    tag: Tag,
    burst_at: tokio::time::Instant,
) {
    let Ok(client) = Client::connect(addr, 0).await else {
        return;
    };
    loop {
        let burst = tokio::time::Instant::now() >= burst_at;
        let events = batch(&mut prng, &shared, tag, burst);
        let transfers: Vec<Transfer> = events.iter().map(|event| event.sent).collect();
        let index = {
            let mut log = log.lock().expect("the log lock is never poisoned");
            log.push(Call {
                events,
                outcome: Outcome::InFlight,
            });
            log.len() - 1
        };
        let result = client.create_transfers(transfers).await;
        if !record(&log, &shared, index, result) {
            return;
        }
        let pause = Duration::from_millis(prng.range(10, 50));
        let now = tokio::time::Instant::now();
        if now < burst_at {
            tokio::time::sleep_until((now + pause).min(burst_at)).await;
        }
    }
}

/// Logs the answer to call `index`; false if the call failed. Acknowledged pending transfers
/// join the pool.
fn record(
    log: &Log,
    shared: &Shared,
    index: usize,
    result: Result<Vec<(u32, CreateTransferResult)>, client::Error>,
) -> bool {
    let mut log = log.lock().expect("the log lock is never poisoned");
    let call = &mut log[index];
    match result {
        Ok(failures) => {
            let mut pool = shared.pool();
            for (i, event) in call.events.iter().enumerate() {
                if event.sent.flags.pending() && created(result_of(&failures, i)) {
                    pool.push(event.expected);
                }
            }
            call.outcome = Outcome::Replied(failures);
            true
        }
        Err(error) => {
            call.outcome = Outcome::Failed(error.to_string());
            false
        }
    }
}

/// A batch of 1-1024 events (mostly small; `small`: 1-8), with ids taken from the shared
/// counter.
pub(crate) fn batch(prng: &mut Prng, shared: &Shared, tag: Tag, small: bool) -> Vec<Event> {
    let size = match prng.below(100) {
        _ if small => prng.range(1, 8),
        0..=73 => prng.range(1, 8),
        74..=98 => prng.range(9, 64),
        _ => prng.range(65, 1024),
    };
    let first = shared.next_id.fetch_add(size, Ordering::Relaxed);
    let mut events = Vec::new();
    let mut chain_left = 0;
    for i in 0..size {
        let mut event = event(prng, shared, first + i, tag);
        if chain_left == 0 && i + 1 < size && prng.chance(10) {
            chain_left = prng.range(2, 4).min(size - i);
        }
        if chain_left > 1 {
            event.sent.flags.0 |= TransferFlags::LINKED;
            event.expected.flags.0 |= TransferFlags::LINKED;
        }
        chain_left = chain_left.saturating_sub(1);
        events.push(event);
    }
    events
}

fn event(prng: &mut Prng, shared: &Shared, id: u64, tag: Tag) -> Event {
    let roll = prng.below(100);
    if roll < 25
        && let Some(pending) = take_pending(prng, shared)
    {
        return resolve(prng, id, tag, pending, roll < 15);
    }
    let mut sent = transfer(prng, id, tag);
    if (25..45).contains(&roll) {
        sent.flags.0 |= TransferFlags::PENDING;
    }
    Event {
        sent,
        expected: sent,
        pending: None,
    }
}

fn take_pending(prng: &mut Prng, shared: &Shared) -> Option<Transfer> {
    let mut pool = shared.pool();
    if pool.is_empty() {
        return None;
    }
    let index = prng.index(pool.len());
    Some(pool.swap_remove(index))
}

/// A single-phase transfer between two accounts of one ledger.
fn transfer(prng: &mut Prng, id: u64, tag: Tag) -> Transfer {
    let (ledger, accounts) = LEDGERS[usize::from(prng.chance(25))];
    let debit = prng.index(accounts.len());
    let credit = (debit + 1 + prng.index(accounts.len() - 1)) % accounts.len();
    Transfer {
        id: u128::from(id),
        debit_account_id: accounts[debit],
        credit_account_id: accounts[credit],
        amount: u128::from(prng.range(1, 1000)),
        ledger,
        code: u16::try_from(prng.range(1, 10)).expect("small"),
        ..user_data(prng, tag)
    }
}

/// Nonzero user data, so a post or void stores its own rather than inheriting the pending's.
fn user_data(prng: &mut Prng, tag: Tag) -> Transfer {
    Transfer {
        user_data_128: u128::from(prng.next_u64()) << 64 | 1,
        user_data_64: tag.cycle + 1,
        user_data_32: tag.sender + 1,
        ..Transfer::default()
    }
}

/// A post (full, partial or `AMOUNT_MAX`) or a void of `pending`; the accounts, ledger and
/// code are given or left 0 (inherited), at random.
fn resolve(prng: &mut Prng, id: u64, tag: Tag, pending: Transfer, post: bool) -> Event {
    let mut sent = Transfer {
        id: u128::from(id),
        pending_id: pending.id,
        ..user_data(prng, tag)
    };
    if prng.chance(50) {
        sent.debit_account_id = pending.debit_account_id;
        sent.credit_account_id = pending.credit_account_id;
    }
    if prng.chance(50) {
        sent.ledger = pending.ledger;
        sent.code = pending.code;
    }
    let amount = if post {
        sent.flags.0 = TransferFlags::POST_PENDING_TRANSFER;
        let partial = u128::from(prng.range(1, u64::try_from(pending.amount).expect("small")));
        sent.amount = [pending.amount, partial, AMOUNT_MAX][prng.index(3)];
        if sent.amount == AMOUNT_MAX {
            pending.amount
        } else {
            sent.amount
        }
    } else {
        sent.flags.0 = TransferFlags::VOID_PENDING_TRANSFER;
        sent.amount = if prng.chance(50) { pending.amount } else { 0 };
        pending.amount
    };
    let expected = Transfer {
        debit_account_id: pending.debit_account_id,
        credit_account_id: pending.credit_account_id,
        amount,
        ledger: pending.ledger,
        code: pending.code,
        ..sent
    };
    Event {
        sent,
        expected,
        pending: Some(pending),
    }
}
