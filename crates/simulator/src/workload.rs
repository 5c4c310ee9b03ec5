//! The workload: batches of requests of every ledger command type, drawn from the seed.
//!
//! It aims at the interesting cases rather than at realism: few accounts (so transfers collide,
//! limits bite and accounts close), pending transfers that expire by engine time, posts and
//! voids of open and already resolved pending transfers, balancing and closing transfers,
//! linked chains (some left open), limit changes, retries of earlier events (exact, or with one
//! field changed) and events with one planted defect. It reads the auditor's state to pick
//! plausible ids; it never reads the node. Credit requests (`workload/credit_workload.rs`) take
//! `Options::credit_percent` of the requests, promotions requests
//! (`workload/promotions_workload.rs`) `Options::promotions_percent` of the rest.

mod credit_workload;
pub(crate) mod promotions_workload;

use engine::Request;
use ledger::{
    AMOUNT_MAX, Account, AccountFlags, LimitChange, RESERVED_ID_MIN, Transfer, TransferFlags,
};

use crate::auditor::Auditor;
use crate::options::Options;
use credit_workload::CreditWorkload;
use promotions_workload::PromotionsWorkload;
use stdx::Prng;

/// Earlier events kept for retries.
const HISTORY_MAX: usize = 512;

/// What the workload remembers between batches.
pub struct Workload {
    transfer_id_next: u128,
    accounts_sent: Vec<Account>,
    transfers_sent: Vec<Transfer>,
    credit: CreditWorkload,
    promotions: PromotionsWorkload,
}

/// The state the current batch is drawn against.
struct View {
    /// Accounts a client may post to, and the managed ones (credit lines), which refuse.
    account_ids: Vec<u128>,
    managed_ids: Vec<u128>,
    closed_count: usize,
    /// Open pending transfers of clients, and of the credit engine (authorizations).
    open_pending: Vec<u128>,
    open_managed: Vec<u128>,
    pending_ever: Vec<u128>,
}

impl Default for Workload {
    fn default() -> Self {
        Workload::new()
    }
}

impl Workload {
    #[must_use]
    pub fn new() -> Workload {
        Workload {
            transfer_id_next: 1,
            accounts_sent: Vec::new(),
            transfers_sent: Vec::new(),
            credit: CreditWorkload::new(),
            promotions: PromotionsWorkload::new(),
        }
    }

    /// The requests of the next batch (at least one, none empty).
    pub fn batch(&mut self, prng: &mut Prng, options: &Options, auditor: &Auditor) -> Vec<Request> {
        let managed = |id: &u128| auditor.accounts[id].account.flags.managed();
        let (managed_ids, account_ids) = auditor
            .accounts
            .keys()
            .filter(|id| !promotions_workload::QUIET_ACCOUNTS.contains(id))
            .partition(|id| managed(id));
        // Open pending transfers include checkouts' payer holds (reserved ids: a client's post or
        // void of one answers `pending_id_must_not_be_reserved`).
        let (open_managed, open_pending) = auditor
            .open_pending()
            .into_iter()
            .partition(|id| managed(&auditor.transfers[id].debit_account_id));
        let view = View {
            account_ids,
            managed_ids,
            closed_count: auditor
                .accounts
                .values()
                .filter(|a| a.account.flags.closed())
                .count(),
            open_pending,
            open_managed,
            pending_ever: auditor.pending.keys().copied().collect(),
        };
        let request_count = prng.range(1, options.requests_per_batch_max);
        let mut requests = Vec::new();
        for _ in 0..request_count {
            let event_count =
                usize::try_from(prng.range(1, options.events_per_request_max)).expect("small");
            // Account creations mostly while ids are free.
            let taken = view
                .account_ids
                .iter()
                .filter(|&&id| id <= u128::from(options.accounts_max));
            let accounts_percent = if taken.count() as u64 >= options.accounts_max {
                options.accounts_percent / 4
            } else {
                options.accounts_percent
            };
            let request = if options.credit_percent > 0 && prng.percent(options.credit_percent) {
                self.credit.request(prng, options, auditor, event_count)
            } else if options.promotions_percent > 0 && prng.percent(options.promotions_percent) {
                self.promotions.request(prng, options, auditor, event_count)
            } else if view.account_ids.len() < 2 || prng.percent(accounts_percent) {
                // Few accounts per request: the id space is small.
                let mut accounts: Vec<Account> = (0..event_count.min(8))
                    .map(|_| self.account(prng, options, &view))
                    .collect();
                link(prng, options, &mut accounts, |a| {
                    a.flags.0 |= AccountFlags::LINKED;
                });
                Request::CreateAccounts(accounts)
            } else if prng.percent(options.limits_percent) {
                Request::SetAccountLimits(
                    (0..event_count)
                        .map(|_| limit_change(prng, options, &view))
                        .collect(),
                )
            } else {
                let mut transfers: Vec<Transfer> = (0..event_count)
                    .map(|_| self.transfer(prng, options, auditor, &view))
                    .collect();
                link(prng, options, &mut transfers, |t| {
                    t.flags.0 |= TransferFlags::LINKED;
                });
                Request::CreateTransfers(transfers)
            };
            requests.push(request);
        }
        requests
    }

    fn account(&mut self, prng: &mut Prng, options: &Options, view: &View) -> Account {
        if prng.percent(options.duplicate_percent) && !self.accounts_sent.is_empty() {
            let mut account = *prng.pick(&self.accounts_sent);
            account.flags.0 &= !AccountFlags::LINKED;
            if prng.percent(40) {
                match prng.below(4) {
                    0 => account.code = account.code % 3 + 1,
                    1 => account.user_data_64 += 1,
                    2 => account.flags.0 ^= AccountFlags::HISTORY,
                    _ => account.ledger = account.ledger % 3 + 1,
                }
            }
            return account;
        }
        let mut flags = match prng.below(100) {
            0..35 => AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            35..55 => AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
            _ => 0,
        };
        if prng.percent(20) {
            flags |= AccountFlags::HISTORY;
        }
        if prng.chance(5) {
            flags |= AccountFlags::CLOSED;
        }
        // Mostly an id not taken yet, while there are some.
        let free: Vec<u128> = (1..=u128::from(options.accounts_max))
            .filter(|id| view.account_ids.binary_search(id).is_err())
            .collect();
        let id = if !free.is_empty() && prng.percent(80) {
            *prng.pick(&free)
        } else {
            u128::from(prng.range(1, options.accounts_max))
        };
        let mut account = Account {
            id,
            ledger: u32::try_from(prng.range(1, options.ledger_count)).expect("small"),
            code: u16::try_from(prng.range(1, 3)).expect("small"),
            user_data_128: u128::from(prng.below(3)),
            user_data_64: prng.below(3),
            user_data_32: u32::try_from(prng.below(3)).expect("small"),
            flags: AccountFlags(flags),
            ..Account::default()
        };
        if prng.percent(options.invalid_percent) {
            match prng.below(12) {
                0 => account.id = 0,
                1 => account.id = u128::MAX,
                2 => account.ledger = 0,
                3 => account.code = 0,
                4 => account.timestamp = 1,
                5 => account.reserved = 1,
                6 => account.flags.0 |= 1 << 4,
                7 => {
                    account.flags.0 |= AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS
                        | AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS;
                }
                8 => account.debits_posted = 5,
                9 => account.debits_pending = 2,
                10 => account.credits_posted = 3,
                _ => account.credits_pending = 1,
            }
        }
        remember(prng, &mut self.accounts_sent, account);
        account
    }

    fn transfer(
        &mut self,
        prng: &mut Prng,
        options: &Options,
        auditor: &Auditor,
        view: &View,
    ) -> Transfer {
        if prng.percent(options.duplicate_percent) && !self.transfers_sent.is_empty() {
            let mut transfer = *prng.pick(&self.transfers_sent);
            transfer.flags.0 &= !TransferFlags::LINKED;
            if prng.percent(40) {
                match prng.below(11) {
                    0 => transfer.amount = transfer.amount.wrapping_add(1),
                    1 => transfer.code = transfer.code % 3 + 1,
                    2 => transfer.user_data_128 += 1,
                    3 => transfer.user_data_64 += 1,
                    4 => transfer.user_data_32 += 1,
                    5 => transfer.flags.0 ^= TransferFlags::PENDING,
                    6 => transfer.timeout = transfer.timeout.wrapping_add(1),
                    7 => transfer.pending_id = transfer.pending_id.wrapping_add(1),
                    8 => transfer.ledger = transfer.ledger % 3 + 1,
                    9 => transfer.credit_account_id = transfer.credit_account_id.wrapping_add(1),
                    _ => transfer.debit_account_id = transfer.debit_account_id.wrapping_add(1),
                }
            }
            return transfer;
        }
        let id = self.transfer_id_next;
        self.transfer_id_next += 1;
        let dr = account_id(prng, options, view);
        let ledger_of = |id: u128| auditor.accounts.get(&id).map(|a| a.account.ledger);
        let ledger = ledger_of(dr)
            .unwrap_or_else(|| u32::try_from(prng.range(1, options.ledger_count)).expect("small"));
        // Mostly a counterparty on the same ledger.
        let same_ledger: Vec<u128> = view
            .account_ids
            .iter()
            .copied()
            .filter(|&other| other != dr && ledger_of(other) == Some(ledger))
            .collect();
        let cr = if !same_ledger.is_empty() && prng.percent(90) {
            *prng.pick(&same_ledger)
        } else {
            account_id(prng, options, view)
        };
        let amount = if prng.percent(options.huge_percent) {
            // A few of these overflow balances: the overflow codes and exact (wide) sums.
            u128::MAX / 4 + u128::from(prng.next_u64())
        } else {
            match prng.below(100) {
                0..5 => 0,
                5..85 => u128::from(prng.range(1, 100)),
                _ => u128::from(prng.range(101, 2000)),
            }
        };
        let mut transfer = Transfer {
            id,
            debit_account_id: dr,
            credit_account_id: cr,
            amount,
            ledger,
            code: u16::try_from(prng.range(1, 3)).expect("small"),
            user_data_128: u128::from(prng.below(3)),
            user_data_64: prng.below(3),
            user_data_32: u32::try_from(prng.below(3)).expect("small"),
            ..Transfer::default()
        };
        let timeout = |prng: &mut Prng| {
            if prng.percent(options.expiring_percent) {
                u32::try_from(prng.range(1, 4)).expect("small")
            } else {
                0
            }
        };
        // Kinds by share of events; the rest are single-phase.
        let pending_end = options.pending_percent;
        let post_end = pending_end + options.post_percent;
        let void_end = post_end + options.void_percent;
        let balancing_end = void_end + options.balancing_percent;
        let closing_end = balancing_end + options.closing_percent;
        let roll = u32::try_from(prng.below(100)).expect("small");
        if roll < pending_end {
            transfer.flags.0 |= TransferFlags::PENDING;
            transfer.timeout = timeout(prng);
        } else if roll < post_end {
            self.resolve(prng, auditor, view, &mut transfer, true);
        } else if roll < void_end {
            self.resolve(prng, auditor, view, &mut transfer, false);
        } else if roll < balancing_end {
            transfer.flags.0 |= match prng.below(10) {
                0..5 => TransferFlags::BALANCING_DEBIT,
                5..9 => TransferFlags::BALANCING_CREDIT,
                _ => TransferFlags::BALANCING_DEBIT | TransferFlags::BALANCING_CREDIT,
            };
            transfer.amount = if prng.percent(30) {
                AMOUNT_MAX
            } else {
                u128::from(prng.range(1, 3000))
            };
            if prng.percent(20) {
                transfer.flags.0 |= TransferFlags::PENDING;
                transfer.timeout = timeout(prng);
            }
        } else if roll < closing_end && view.closed_count * 10 < view.account_ids.len() {
            // Closing only while most accounts are open: a closed account refuses everything.
            transfer.flags.0 |= TransferFlags::PENDING
                | match prng.below(5) {
                    0..2 => TransferFlags::CLOSING_DEBIT,
                    2..4 => TransferFlags::CLOSING_CREDIT,
                    _ => TransferFlags::CLOSING_DEBIT | TransferFlags::CLOSING_CREDIT,
                };
            // Mostly expiring: an account stays closed until the closing transfer is voided
            // or expires.
            transfer.timeout = if prng.percent(90) {
                u32::try_from(prng.range(1, 4)).expect("small")
            } else {
                0
            };
            transfer.amount = u128::from(prng.below(5));
        }
        if prng.percent(options.invalid_percent) {
            plant_defect(prng, &mut transfer);
        }
        remember(prng, &mut self.transfers_sent, transfer);
        transfer
    }

    /// Makes `transfer` a post (or void) of some pending transfer: mostly an open one, else one
    /// already resolved, else an unknown id; fields inherited, matching, or sometimes wrong.
    fn resolve(
        &mut self,
        prng: &mut Prng,
        auditor: &Auditor,
        view: &View,
        transfer: &mut Transfer,
        post: bool,
    ) {
        transfer.flags.0 |= if post {
            TransferFlags::POST_PENDING_TRANSFER
        } else {
            TransferFlags::VOID_PENDING_TRANSFER
        };
        let roll = prng.below(100);
        transfer.pending_id = if roll < 2 && !view.open_managed.is_empty() {
            // A credit authorization: the line is managed.
            *prng.pick(&view.open_managed)
        } else if roll < 75 && !view.open_pending.is_empty() {
            *prng.pick(&view.open_pending)
        } else if roll < 90 && !view.pending_ever.is_empty() {
            *prng.pick(&view.pending_ever)
        } else {
            self.transfer_id_next + 1000
        };
        let pending = auditor.transfers.get(&transfer.pending_id).copied();
        let pending_amount = pending.map_or(10, |p| p.amount);
        transfer.amount = if post {
            match prng.below(10) {
                0..4 => AMOUNT_MAX,
                4..6 => pending_amount / 2,
                6..8 => pending_amount,
                8 => pending_amount.saturating_add(1),
                _ => 0,
            }
        } else {
            match prng.below(10) {
                0..6 => 0,
                6..9 => pending_amount,
                _ => pending_amount.saturating_add(1),
            }
        };
        // Zero fields are inherited from the pending transfer.
        let (mut dr, mut cr, mut ledger, mut code) = (0, 0, 0, 0);
        if let Some(p) = pending
            && prng.percent(20)
        {
            (dr, cr, ledger, code) = (p.debit_account_id, p.credit_account_id, p.ledger, p.code);
            if prng.percent(20) {
                match prng.below(4) {
                    0 => dr += 1,
                    1 => cr += 1,
                    2 => ledger += 1,
                    _ => code += 1,
                }
            }
        }
        transfer.debit_account_id = dr;
        transfer.credit_account_id = cr;
        transfer.ledger = ledger;
        transfer.code = code;
        if prng.percent(50) {
            transfer.user_data_128 = 0;
            transfer.user_data_64 = 0;
            transfer.user_data_32 = 0;
        }
    }
}

/// An existing account mostly, sometimes an id that may not exist, or a credit line.
fn account_id(prng: &mut Prng, options: &Options, view: &View) -> u128 {
    if !view.managed_ids.is_empty() && prng.percent(1) {
        *prng.pick(&view.managed_ids)
    } else if !view.account_ids.is_empty() && prng.percent(92) {
        *prng.pick(&view.account_ids)
    } else {
        u128::from(prng.range(1, options.accounts_max + 3))
    }
}

/// One validation failure in an otherwise plausible transfer.
fn plant_defect(prng: &mut Prng, transfer: &mut Transfer) {
    match prng.below(18) {
        0 => transfer.id = 0,
        1 => transfer.id = u128::MAX,
        2 => transfer.credit_account_id = transfer.debit_account_id,
        3 => transfer.pending_id = transfer.id + 7,
        4 => transfer.timeout = 3,
        5 => {
            transfer.flags.0 |= TransferFlags::CLOSING_DEBIT;
            transfer.flags.0 &= !TransferFlags::PENDING;
        }
        6 => transfer.ledger = 0,
        7 => transfer.code = 0,
        8 => transfer.timestamp = 1,
        9 => transfer.flags.0 |= 1 << 8,
        10 => {
            transfer.flags.0 |=
                TransferFlags::POST_PENDING_TRANSFER | TransferFlags::VOID_PENDING_TRANSFER;
        }
        11 => transfer.debit_account_id = 0,
        12 => transfer.credit_account_id = u128::MAX,
        13 => transfer.debit_account_id = u128::MAX,
        14 => {
            transfer.flags.0 |= TransferFlags::POST_PENDING_TRANSFER;
            transfer.flags.0 &= !(TransferFlags::PENDING | TransferFlags::VOID_PENDING_TRANSFER);
            transfer.pending_id = 0;
        }
        15 => {
            transfer.flags.0 |= TransferFlags::VOID_PENDING_TRANSFER;
            transfer.flags.0 &= !(TransferFlags::PENDING | TransferFlags::POST_PENDING_TRANSFER);
            transfer.pending_id = u128::MAX;
        }
        16 => transfer.ledger += 1,
        _ => transfer.id = RESERVED_ID_MIN + u128::from(prng.below(3)),
    }
}

fn limit_change(prng: &mut Prng, options: &Options, view: &View) -> LimitChange {
    let limit = |prng: &mut Prng| prng.percent(60).then(|| u128::from(prng.range(0, 500)));
    let mut change = LimitChange {
        account_id: account_id(prng, options, view),
        debit_limit: limit(prng),
        credit_limit: limit(prng),
    };
    if prng.percent(options.invalid_percent) {
        match prng.below(3) {
            0 => change.account_id = 0,
            1 => change.account_id = u128::MAX,
            _ => {
                change.debit_limit = None;
                change.credit_limit = None;
            }
        }
    }
    change
}

/// Links runs of events into chains: all but the last of a run get the linked flag; now and
/// then a chain is left open at the end of the request.
fn link<E>(prng: &mut Prng, options: &Options, events: &mut [E], set_linked: impl Fn(&mut E)) {
    let mut index = 0;
    while index < events.len() {
        if prng.percent(options.linked_percent) {
            let length = usize::try_from(prng.range(2, 4)).expect("small");
            let end = (index + length).min(events.len());
            let open = end == events.len() && prng.percent(10);
            let linked_end = if open { end } else { end - 1 };
            for event in &mut events[index..linked_end] {
                set_linked(event);
            }
            index = end;
        } else {
            index += 1;
        }
    }
}

pub(crate) fn remember<T: Copy>(prng: &mut Prng, sent: &mut Vec<T>, item: T) {
    if sent.len() < HISTORY_MAX {
        sent.push(item);
    } else {
        let index = prng.index(sent.len());
        sent[index] = item;
    }
}
