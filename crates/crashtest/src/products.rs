//! The credit and promotions part of the load: what the first start sets up on ledger 3, and
//! the credit and promotions calls the senders draw.
//!
//! Setup, once: the accounts of ledger 3 (the program's income and loss accounts, merchants, a
//! repayment source, a sponsor, wallets), one credit program, `LINES` lines (one borrower
//! each, with a limit no run gets near), the two red-packet pools of `POOLS` (funded in full)
//! and a coupon campaign. No day-close ever runs, so the business date stays the program's
//! start date, nothing is billed and the engine posts nothing on its own: a line's state
//! follows from its captures, repayments and open authorizations alone (`views.rs`).
//!
//! A credit call holds 1-8 commands, each of which must be applied: `authorize` (a purchase on
//! a line at a merchant), `capture` (all, in full or in part) or `void` of a purchase known to
//! exist (taken from the shared pool, as transfers take pending transfers), `repay` from the
//! source account. Each posts one transfer whose id is the command's, stored as predicted.
//!
//! A promotions call holds 1-6 commands: grabs of the large pool (must be applied) and of the
//! small one (applied, or `pool_empty` once its 16 packets are gone), each by a new user into a
//! wallet; a grab by a user who already holds a packet of that pool (must be refused,
//! `already_grabbed`); coupon claims (must be applied; no transfer, seen in the coupon's view).

use client::Client;
use credit::math::{EarlySettlement, Rate, RoundingMode};
use credit::{Component, Date, Posting, Program, StudentPolicy};
use ledger::{Account, Transfer, TransferFlags};
use promotions::{Campaign, CampaignKind, Offer, PromotionResult};

use crate::workload::{Code, Effect, Event, Expect, Prng, Sent, Shared};

/// The ledger of the credit and promotions accounts.
pub const LEDGER: u32 = 3;
const CODE: u16 = 1;
const PROGRAM_ID: u128 = 601;
/// The program's interest, fee, penalty, loss and recovery accounts.
const PROGRAM_ACCOUNTS: [u128; 5] = [201, 202, 203, 204, 205];
const MERCHANTS: [u128; 3] = [211, 212, 213];
/// Pays the repayments.
const SOURCE: u128 = 221;
/// Funds the campaigns.
const SPONSOR: u128 = 231;
/// Receive red packets.
const WALLETS: [u128; 4] = [241, 242, 243, 244];
/// Credit lines (managed accounts the server creates).
pub const LINES: [u128; 6] = [301, 302, 303, 304, 305, 306];
/// 10 million yuan: no line runs out of credit.
pub const LINE_LIMIT: u64 = 1_000_000_000;
/// An authorization is released after this long (engine time); no run lasts that long.
const AUTHORIZATION_TIMEOUT: u32 = 7 * 24 * 3600;

/// A red-packet pool: its campaign, budget account (created with it), packets and amount.
#[derive(Clone, Copy, Debug)]
pub struct Pool {
    pub campaign_id: u128,
    pub budget_account_id: u128,
    pub stock: u32,
    pub amount: u64,
    pub seed: u64,
}

/// A large pool no run empties, and a small one the first cycles empty.
pub const POOLS: [Pool; 2] = [
    Pool {
        campaign_id: 501,
        budget_account_id: 401,
        stock: 1_000_000,
        amount: 50_000_000,
        seed: 0x5EED_0501,
    },
    Pool {
        campaign_id: 502,
        budget_account_id: 402,
        stock: 16,
        amount: 1_600,
        seed: 0x5EED_0502,
    },
];

/// The coupon campaign users claim from (no stock or per-user limit), and its budget account.
pub const COUPON_CAMPAIGN: u128 = 503;
const COUPON_BUDGET: u128 = 403;
/// Coupon claimers are users `CLAIMER_BASE + 1..=1000`; grabbers are users with the id of
/// their grab.
const CLAIMER_BASE: u128 = 1 << 80;
/// Ids of the setup's funding commands, far from the id counter's.
const FUND_ID_BASE: u128 = 1 << 100;

/// The accounts of ledger 3 the test creates on the first start.
#[must_use]
pub fn accounts() -> Vec<Account> {
    PROGRAM_ACCOUNTS
        .iter()
        .chain(&MERCHANTS)
        .chain(&[SOURCE, SPONSOR])
        .chain(&WALLETS)
        .map(|&id| Account {
            id,
            ledger: LEDGER,
            code: CODE,
            ..Account::default()
        })
        .collect()
}

/// Every account of ledger 3: those the test creates, the lines and the campaigns' budgets.
pub fn all_accounts() -> impl Iterator<Item = u128> {
    let budgets = POOLS.map(|pool| pool.budget_account_id);
    accounts()
        .into_iter()
        .map(|account| account.id)
        .chain(LINES)
        .chain(budgets)
        .chain([COUPON_BUDGET])
}

/// A Huabei-like program; its rates never come into play (no day-close runs).
fn program() -> Program {
    let [interest, fee, penalty, loss, recovery] = PROGRAM_ACCOUNTS;
    Program {
        id: PROGRAM_ID,
        ledger: LEDGER,
        code: CODE,
        interest_account_id: interest,
        fee_account_id: fee,
        penalty_account_id: penalty,
        loss_account_id: loss,
        recovery_account_id: recovery,
        start_date: Date::from_ymd(2026, 11, 25).expect("a valid date"),
        statement_day: 1,
        due_day: 10,
        min_payment_rate: Rate(1_000_000_000),
        min_payment_floor: 0,
        interest_daily_rate: Rate(5_000_000),
        penalty_daily_rate: Rate(5_000_000),
        penalty_min_per_day: 0,
        write_off_days: 0,
        apr_cap: Rate(2_400_000_000),
        max_borrower_limit: LINE_LIMIT,
        dti_cap_bps: 0,
        min_age: 18,
        student_policy: StudentPolicy::Block,
        waterfall: Component::ALL,
        rounding: RoundingMode::HalfUp,
        early_settlement: EarlySettlement::ChargeAllRemaining,
        coin_account_id: 0,
        coin_funding_account_id: 0,
        coins_per_yuan: 0,
        coin_cap_bps: 0,
        funding_account_id: 0,
        platform_min_share_bps: 0,
    }
}

fn open_line(id: u128) -> credit::Command {
    credit::Command::OpenLine {
        id,
        borrower_id: id,
        program_id: PROGRAM_ID,
        limit: LINE_LIMIT,
        annual_income: 0,
        birth_date: Date::from_ymd(1990, 1, 1).expect("a valid date"),
        statement_day: 0,
        due_day: 0,
        applicant: 0,
    }
}

fn campaigns() -> Vec<Campaign> {
    let common = Campaign {
        sponsor_account_id: SPONSOR,
        ledger: LEDGER,
        code: CODE,
        ..Campaign::default()
    };
    let pools = POOLS.iter().map(|pool| Campaign {
        id: pool.campaign_id,
        kind: CampaignKind::RedPacket,
        budget_account_id: pool.budget_account_id,
        stock: pool.stock,
        pool_amount: pool.amount,
        seed: pool.seed,
        ..common
    });
    let coupons = Campaign {
        id: COUPON_CAMPAIGN,
        kind: CampaignKind::Coupon,
        budget_account_id: COUPON_BUDGET,
        offer: Offer::Threshold {
            min_spend: 10_000,
            amount: 1_000,
        },
        ..common
    };
    pools.chain([coupons]).collect()
}

/// The ids of the transfers funding the pools (sponsor to budget), for the model.
pub fn funding_ids() -> impl Iterator<Item = u128> {
    (0..POOLS.len()).map(|index| FUND_ID_BASE + index as u128)
}

fn funding() -> Vec<promotions::Command> {
    funding_ids()
        .zip(POOLS)
        .map(|(id, pool)| promotions::Command::FundCampaign {
            id,
            campaign_id: pool.campaign_id,
            amount: pool.amount,
        })
        .collect()
}

/// A setup call's answer: every event must be `ok`.
pub(crate) fn accepted<R: std::fmt::Debug>(
    what: &str,
    answer: Result<Vec<(u32, R)>, client::Error>,
) -> Result<(), String> {
    match answer {
        Ok(failures) if failures.is_empty() => Ok(()),
        Ok(failures) => Err(format!("{what} refused: {failures:?}")),
        Err(error) => Err(format!("{what} failed: {error}")),
    }
}

/// Sets up the program, its lines, the campaigns and the pools' funding, after the accounts.
pub async fn set_up(client: &Client) -> Result<(), String> {
    accepted(
        "create_programs",
        client.create_programs(vec![program()]).await,
    )?;
    let lines = LINES.map(open_line).to_vec();
    accepted("open_line", client.credit(lines).await)?;
    accepted(
        "create_campaigns",
        client.create_campaigns(campaigns()).await,
    )?;
    accepted("fund_campaign", client.promotions(funding()).await)
}

/// A transfer of ledger 3 as credit posts it (`credit::Posting` in `user_data_32`).
fn posting(id: u128, kind: Posting) -> Transfer {
    Transfer {
        id,
        ledger: LEDGER,
        code: CODE,
        user_data_32: kind as u32,
        ..Transfer::default()
    }
}

/// One credit command and the transfer it must store.
fn credit_event(prng: &mut Prng, shared: &Shared, id: u128) -> (credit::Command, Event) {
    let roll = prng.below(100);
    let line_id = LINES[prng.index(LINES.len())];
    if roll < 55
        && let Some(purchase) = Shared::take(prng, &shared.purchases)
    {
        let (command, amount, flags, kind) = if roll < 45 {
            let partial = prng.range(1, u64::try_from(purchase.amount).expect("small"));
            let sent = [0, partial][prng.index(2)];
            let amount = if sent == 0 {
                purchase.amount
            } else {
                u128::from(sent)
            };
            let command = credit::Command::Capture {
                id,
                line_id: purchase.debit_account_id,
                purchase_id: purchase.id,
                amount: sent,
            };
            (
                command,
                amount,
                TransferFlags::POST_PENDING_TRANSFER,
                Posting::Capture,
            )
        } else {
            let command = credit::Command::Void {
                id,
                line_id: purchase.debit_account_id,
                purchase_id: purchase.id,
            };
            let flags = TransferFlags::VOID_PENDING_TRANSFER;
            (command, purchase.amount, flags, Posting::Void)
        };
        let expected = Transfer {
            debit_account_id: purchase.debit_account_id,
            credit_account_id: purchase.credit_account_id,
            amount,
            pending_id: purchase.id,
            flags: TransferFlags(flags),
            ..posting(id, kind)
        };
        return (command, Event::transfer(expected, Some(purchase)));
    }
    let amount = prng.range(1, 10_000);
    let (command, expected) = if roll < 80 {
        let merchant = MERCHANTS[prng.index(MERCHANTS.len())];
        let command = credit::Command::Authorize {
            id,
            line_id,
            merchant_account_id: merchant,
            amount,
            timeout: AUTHORIZATION_TIMEOUT,
        };
        let expected = Transfer {
            debit_account_id: line_id,
            credit_account_id: merchant,
            amount: u128::from(amount),
            timeout: AUTHORIZATION_TIMEOUT,
            flags: TransferFlags(TransferFlags::PENDING),
            ..posting(id, Posting::Authorization)
        };
        (command, expected)
    } else {
        let command = credit::Command::Repay {
            id,
            line_id,
            source_account_id: SOURCE,
            amount,
        };
        let expected = Transfer {
            debit_account_id: SOURCE,
            credit_account_id: line_id,
            amount: u128::from(amount),
            user_data_128: line_id,
            ..posting(id, Posting::Repayment)
        };
        (command, expected)
    };
    (command, Event::transfer(expected, None))
}

/// A call of 1-`size_max` commands drawn by `event`, with ids taken from the shared counter.
fn call<C>(
    prng: &mut Prng,
    shared: &Shared,
    size_max: u64,
    event: fn(&mut Prng, &Shared, u128) -> (C, Event),
    sent: fn(Vec<C>) -> Sent,
) -> (Sent, Vec<Event>) {
    let size = prng.range(1, size_max);
    let first = shared.take_ids(size);
    let (commands, events) = (first..first + size)
        .map(|id| event(prng, shared, u128::from(id)))
        .unzip();
    (sent(commands), events)
}

/// A call of 1-8 credit commands.
pub(crate) fn credit_call(prng: &mut Prng, shared: &Shared) -> (Sent, Vec<Event>) {
    call(prng, shared, 8, credit_event, Sent::Credit)
}

/// A grab of `pool` by `user_id` into a wallet, and what it must store but for the amount and
/// position.
fn grab(prng: &mut Prng, id: u128, pool: usize, user_id: u128) -> (promotions::Command, Effect) {
    let Pool {
        campaign_id,
        budget_account_id,
        ..
    } = POOLS[pool];
    let account_id = WALLETS[prng.index(WALLETS.len())];
    let command = promotions::Command::GrabRedPacket {
        id,
        campaign_id,
        user_id,
        account_id,
        user_segments: 0,
    };
    let expected = Transfer {
        id,
        debit_account_id: budget_account_id,
        credit_account_id: account_id,
        ledger: LEDGER,
        code: CODE,
        user_data_128: campaign_id,
        ..Transfer::default()
    };
    let effect = Effect::Grab {
        pool,
        user_id,
        expected,
    };
    (command, effect)
}

/// One promotions command and what it must do.
fn promotions_event(prng: &mut Prng, shared: &Shared, id: u128) -> (promotions::Command, Event) {
    let roll = prng.below(100);
    let grabber = (60..70)
        .contains(&roll)
        .then(|| Shared::pick(prng, &shared.grabbers))
        .flatten();
    let (command, effect, expect) = match (roll, grabber) {
        (0..45, _) => {
            let (command, effect) = grab(prng, id, 0, id);
            (command, effect, Expect::Applied)
        }
        (45..60, _) => {
            let (command, effect) = grab(prng, id, 1, id);
            let empty = Code::Promotion(PromotionResult::PoolEmpty);
            (command, effect, Expect::AppliedOr(empty))
        }
        (_, Some((pool, user_id))) => {
            let (command, effect) = grab(prng, id, pool, user_id);
            let again = Code::Promotion(PromotionResult::AlreadyGrabbed);
            (command, effect, Expect::Refused(again))
        }
        _ => {
            let user_id = CLAIMER_BASE + u128::from(prng.range(1, 1000));
            let command = promotions::Command::ClaimCoupon {
                id,
                campaign_id: COUPON_CAMPAIGN,
                user_id,
                user_segments: 0,
            };
            (command, Effect::Coupon { user_id }, Expect::Applied)
        }
    };
    (command, Event { id, effect, expect })
}

/// A call of 1-6 promotions commands.
pub(crate) fn promotions_call(prng: &mut Prng, shared: &Shared) -> (Sent, Vec<Event>) {
    call(prng, shared, 6, promotions_event, Sent::Promotions)
}
