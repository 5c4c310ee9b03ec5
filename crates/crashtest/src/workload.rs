//! The load: seeded calls from concurrent senders (transfers, credit commands, promotions
//! commands), and the log of every call (what was sent, and what the server answered).
//!
//! Every event says what the server must answer (`Expect`): almost all must be applied, so the
//! server must answer `ok` (or `exists`, after the client resent a request on its own); a few
//! must be refused with one code, or may be either (`products.rs`). Anything else is a finding.
//! Transfer events are single-phase and pending transfers, posts (full, partial, `AMOUNT_MAX`)
//! and voids of pending transfers known to exist, some in linked chains of 2-4 events. A
//! pending transfer (or a credit purchase) is resolved by at most one sender: whoever resolves
//! it takes it out of the shared pool, and it goes back only if the post or void turns out not
//! to exist after the restart.
//!
//! Invariant: ids come from one counter that never goes back, and a call's ids are taken and
//! the call logged in one step with no `.await` between, so every id below the counter belongs
//! to a logged call and no id above it was ever sent.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use client::Client;
use credit::CreditResult;
use ledger::{AMOUNT_MAX, CreateTransferResult, Transfer, TransferFlags};
use promotions::PromotionResult;

use crate::products;

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

    pub(crate) fn index(&mut self, length: usize) -> usize {
        usize::try_from(self.below(length as u64)).expect("below a usize")
    }
}

/// What one event must store if it is applied.
#[derive(Clone, Debug)]
pub enum Effect {
    /// A ledger transfer stored as `expected` (timestamp 0); for a post or void (a capture or
    /// void of a credit purchase included), the pending transfer it resolves, as stored.
    Transfer {
        expected: Transfer,
        pending: Option<Transfer>,
    },
    /// A red packet of pool `pool` (`products::POOLS`) grabbed by `user_id`: a transfer as
    /// `expected` but for its amount and position (`user_data_64`), which the pool decides and
    /// its check verifies.
    Grab {
        pool: usize,
        user_id: u128,
        expected: Transfer,
    },
    /// A coupon claimed by `user_id` from the coupon campaign: no transfer, seen in its view.
    Coupon { user_id: u128 },
}

/// What the server must answer one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// `ok` (or `exists`): it must exist.
    Applied,
    /// This code: it must not exist.
    Refused(Code),
    /// Either: a red packet of a pool that may be empty by now.
    AppliedOr(Code),
}

/// One event of a call: the id of the transfer it posts (or of the coupon it claims), what it
/// must store, and what the server must answer.
#[derive(Clone, Debug)]
pub struct Event {
    pub id: u128,
    pub effect: Effect,
    pub expect: Expect,
}

impl Event {
    /// A ledger transfer that must be applied.
    #[must_use]
    pub fn transfer(expected: Transfer, pending: Option<Transfer>) -> Event {
        Event {
            id: expected.id,
            effect: Effect::Transfer { expected, pending },
            expect: Expect::Applied,
        }
    }

    /// The pending transfer this event stores, if it is one (a pending transfer, or a credit
    /// authorization).
    #[must_use]
    pub fn opens(&self) -> Option<Transfer> {
        match &self.effect {
            Effect::Transfer { expected, .. } if expected.flags.pending() => Some(*expected),
            _ => None,
        }
    }

    /// The pending transfer this event resolves, if any.
    #[must_use]
    pub fn resolves(&self) -> Option<Transfer> {
        match &self.effect {
            Effect::Transfer { pending, .. } => *pending,
            _ => None,
        }
    }
}

/// A result code of any of the three kinds of call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Transfer(CreateTransferResult),
    Credit(CreditResult),
    Promotion(PromotionResult),
}

/// What a call sent, as sent: kept to send it again after the restart.
#[derive(Clone, Debug)]
pub enum Sent {
    Transfers(Vec<Transfer>),
    Credit(Vec<credit::Command>),
    Promotions(Vec<promotions::Command>),
}

fn codes<R>(failures: Vec<(u32, R)>, code: fn(R) -> Code) -> Vec<(u32, Code)> {
    failures.into_iter().map(|(i, r)| (i, code(r))).collect()
}

/// Sends `sent` as one call; the failures as `(index, code)`.
pub async fn send(client: &Client, sent: Sent) -> Result<Vec<(u32, Code)>, client::Error> {
    Ok(match sent {
        Sent::Transfers(transfers) => {
            codes(client.create_transfers(transfers).await?, Code::Transfer)
        }
        Sent::Credit(commands) => codes(client.credit(commands).await?, Code::Credit),
        Sent::Promotions(commands) => codes(client.promotions(commands).await?, Code::Promotion),
    })
}

#[derive(Clone, Debug)]
pub enum Outcome {
    /// Logged, but no answer arrived before the kill: in doubt.
    InFlight,
    /// The server answered: the failures as `(index, code)`; the other events are `ok`.
    Replied(Vec<(u32, Code)>),
    /// The call failed (timeout, broken connection): in doubt.
    Failed(String),
}

/// One call: its events, never split by the client, travel in one request, so the server
/// applies all of them or none (each command's own result aside).
#[derive(Clone, Debug)]
pub struct Call {
    pub sent: Sent,
    pub events: Vec<Event>,
    pub outcome: Outcome,
}

/// The code the reply gave event `index` (`None`: `ok`).
#[must_use]
pub fn result_of(failures: &[(u32, Code)], index: usize) -> Option<Code> {
    failures
        .iter()
        .find(|(i, _)| usize::try_from(*i).is_ok_and(|i| i == index))
        .map(|(_, code)| *code)
}

/// A result that means the event was applied (`ok`, or `exists` after a resend).
#[must_use]
pub fn created(code: Option<Code>) -> bool {
    matches!(
        code,
        None | Some(
            Code::Transfer(CreateTransferResult::Ok | CreateTransferResult::Exists)
                | Code::Credit(CreditResult::Ok | CreditResult::Exists)
                | Code::Promotion(PromotionResult::Ok | PromotionResult::Exists)
        )
    )
}

/// State shared by the senders and the checker across cycles.
#[derive(Debug)]
pub struct Shared {
    /// The next id (of transfers and of credit and promotions commands); never goes back.
    pub next_id: AtomicU64,
    /// Pending transfers known to exist (acknowledged, or found after a restart) and not yet
    /// taken by a post or void.
    pub pool: Mutex<Vec<Transfer>>,
    /// Credit purchases (their authorizations, as stored) known to exist and not yet taken by
    /// a capture or void.
    pub purchases: Mutex<Vec<Transfer>>,
    /// Users known to hold a red packet, with their pool: they may not grab another.
    pub grabbers: Mutex<Vec<(usize, u128)>>,
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().expect("the shared locks are never poisoned")
}

impl Shared {
    #[must_use]
    pub fn new() -> Shared {
        Shared {
            next_id: AtomicU64::new(1),
            pool: Mutex::new(Vec::new()),
            purchases: Mutex::new(Vec::new()),
            grabbers: Mutex::new(Vec::new()),
        }
    }

    pub fn pool(&self) -> std::sync::MutexGuard<'_, Vec<Transfer>> {
        locked(&self.pool)
    }

    /// The first of `count` fresh ids.
    pub(crate) fn take_ids(&self, count: u64) -> u64 {
        self.next_id.fetch_add(count, Ordering::Relaxed)
    }

    /// The pool the pending transfers of a call of this kind go to.
    fn pending_pool(&self, sent: &Sent) -> Option<&Mutex<Vec<Transfer>>> {
        match sent {
            Sent::Transfers(_) => Some(&self.pool),
            Sent::Credit(_) => Some(&self.purchases),
            Sent::Promotions(_) => None,
        }
    }

    /// An event of this call exists: what it opened becomes available to later calls (its
    /// pending transfer or purchase, or its grabber).
    pub(crate) fn opened(&self, sent: &Sent, event: &Event) {
        if let Effect::Grab { pool, user_id, .. } = event.effect {
            locked(&self.grabbers).push((pool, user_id));
        }
        if let (Some(pending), Some(pool)) = (event.opens(), self.pending_pool(sent)) {
            locked(pool).push(pending);
        }
    }

    /// An event of this call does not exist: the pending transfer or purchase it was to
    /// resolve is open again.
    pub(crate) fn released(&self, sent: &Sent, event: &Event) {
        if let (Some(pending), Some(pool)) = (event.resolves(), self.pending_pool(sent)) {
            locked(pool).push(pending);
        }
    }

    /// Takes one entry of `pool` at random, if any.
    pub(crate) fn take<T>(prng: &mut Prng, pool: &Mutex<Vec<T>>) -> Option<T> {
        let mut pool = locked(pool);
        if pool.is_empty() {
            return None;
        }
        let index = prng.index(pool.len());
        Some(pool.swap_remove(index))
    }

    /// A copy of one entry of `pool` at random, if any.
    pub(crate) fn pick<T: Copy>(prng: &mut Prng, pool: &Mutex<Vec<T>>) -> Option<T> {
        let pool = locked(pool);
        (!pool.is_empty()).then(|| pool[prng.index(pool.len())])
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

/// One sender: its own connection, sending calls until the task is dropped (the runtime is
/// shut down after the kill) or a call fails: 70% transfers, 15% credit commands, 15%
/// promotions commands (`products.rs`). Until `burst_at` it pauses 10-50 ms after each call,
/// so the transfers a run piles up (which every restart reads back) stay near a million over
/// 1,000 cycles; from `burst_at` (`BURST` before the kill) it sends small calls back to back,
/// so calls are in flight when the kill comes.
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
        let (sent, events) = match prng.below(100) {
            0..70 => batch(&mut prng, &shared, tag, burst),
            70..85 => products::credit_call(&mut prng, &shared),
            _ => products::promotions_call(&mut prng, &shared),
        };
        let index = {
            let mut log = log.lock().expect("the log lock is never poisoned");
            log.push(Call {
                sent: sent.clone(),
                events,
                outcome: Outcome::InFlight,
            });
            log.len() - 1
        };
        let result = send(&client, sent).await;
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

/// Logs the answer to call `index`; false if the call failed. What acknowledged events opened
/// (pending transfers, purchases, grabbers) joins the shared pools.
fn record(
    log: &Log,
    shared: &Shared,
    index: usize,
    result: Result<Vec<(u32, Code)>, client::Error>,
) -> bool {
    let mut log = log.lock().expect("the log lock is never poisoned");
    let call = &mut log[index];
    match result {
        Ok(failures) => {
            for (i, event) in call.events.iter().enumerate() {
                let refused = matches!(event.expect, Expect::Refused(_));
                if !refused && created(result_of(&failures, i)) {
                    shared.opened(&call.sent, event);
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

/// A call of 1-1024 transfers (mostly small; `small`: 1-8), with ids taken from the shared
/// counter.
pub(crate) fn batch(prng: &mut Prng, shared: &Shared, tag: Tag, small: bool) -> (Sent, Vec<Event>) {
    let size = match prng.below(100) {
        _ if small => prng.range(1, 8),
        0..=73 => prng.range(1, 8),
        74..=98 => prng.range(9, 64),
        _ => prng.range(65, 1024),
    };
    let first = shared.take_ids(size);
    let mut sent = Vec::new();
    let mut events = Vec::new();
    let mut chain_left = 0;
    for i in 0..size {
        let (mut transfer, mut expected, pending) = event(prng, shared, first + i, tag);
        if chain_left == 0 && i + 1 < size && prng.chance(10) {
            chain_left = prng.range(2, 4).min(size - i);
        }
        if chain_left > 1 {
            transfer.flags.0 |= TransferFlags::LINKED;
            expected.flags.0 |= TransferFlags::LINKED;
        }
        chain_left = chain_left.saturating_sub(1);
        sent.push(transfer);
        events.push(Event::transfer(expected, pending));
    }
    (Sent::Transfers(sent), events)
}

/// One transfer event: what is sent, what must be stored, and the pending transfer it
/// resolves.
type Drawn = (Transfer, Transfer, Option<Transfer>);

fn event(prng: &mut Prng, shared: &Shared, id: u64, tag: Tag) -> Drawn {
    let roll = prng.below(100);
    if roll < 25
        && let Some(pending) = Shared::take(prng, &shared.pool)
    {
        return resolve(prng, id, tag, pending, roll < 15);
    }
    let mut sent = transfer(prng, id, tag);
    if (25..45).contains(&roll) {
        sent.flags.0 |= TransferFlags::PENDING;
    }
    (sent, sent, None)
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
fn resolve(prng: &mut Prng, id: u64, tag: Tag, pending: Transfer, post: bool) -> Drawn {
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
    (sent, expected, Some(pending))
}
