//! `elevenfold bench promotions`: red-packet grabs and purchases carrying two coupons, durable,
//! over the binary protocol (or the state machine alone).
//!
//! Phases, in order (the grabs, the checkouts and the captures are the measured figures):
//! 1. setup: a platform and a bank sponsor account, `merchant_count` merchants and `user_count`
//!    users (one ordinary account each); with `payer = Line`, a credit program and one credit
//!    line per user;
//! 2. setup: `pools` red-packet campaigns sharing `total_yuan` (a 1-billion-yuan campaign
//!    spread over many pools, `packets_per_pool` packets each), and two coupon campaigns in
//!    different exclusive groups: the platform's 满100减10 (claimed from a stock of exactly one
//!    per purchase) and a bank's card coupon (5% off with the bank's card, at most 20 yuan,
//!    issued by the bank to card holders, at most one redemption per purchase); each campaign
//!    funded by its sponsor, the coupon budgets with exactly the discounts the purchases will
//!    take, so one fen too much would be refused;
//! 3. grabs: every user of a pool's `packets_per_pool` grabs once from it, until every pool is
//!    empty; requests of `batch_size` grabs from `clients` concurrent tasks, each waiting for its
//!    answer before sending again; every request is timed;
//! 4. coupons: two per purchase, claimed and issued for the purchase's user (timed as a whole,
//!    reported separately, not part of the purchase rate);
//! 5. checkouts: `purchase_count` payments, each carrying the user's two coupons, at a merchant
//!    drawn from the seed, 100-1000 yuan, paid by the user's account (or credit line) as
//!    pending holds; then
//! 6. captures of every checkout. A purchase is its checkout and its capture, both durable:
//!    `purchases_with_coupons_per_second` is the purchase count over the two phases' time.
//!    With `one_step`, each checkout is captured as it is made (`capture`: the discounts and
//!    the payment posted at once, what a balance or card payment is), there is no capture
//!    phase, and the purchase rate is the checkouts'.
//!
//! After the run the budgets and merchants are looked up (through the client, or the state)
//! and checked against the plan: every pool emptied to the fen, every coupon budget spent to
//! the fen, the merchants credited every purchase's full amount. In process, also the ledger's
//! conservation and the promotions invariants (`check_records`, `check_ledger`).
//!
//! Modes: `tcp` runs a node and the binary listener in this process on a temporary directory
//! (as `bench credit` does), or drives a server at `addr`; `state-machine` applies the same
//! requests to an `engine::StateMachine` on one core, with no log and no fsync, evicting
//! applied transfers every 16 batches as a node does once they are archived, with the node
//! writer's prefetch pass before every batch (`crate::machine`).
//!
//! Commands are derived from (seed, index) by a counter-based hash, built when sent. Ids are
//! sequential per kind from `seed << 64` against a running server (0 otherwise).
//!
//! A promotions record is 256 bytes, so a request carries at most 4096 of them (a 1 MiB frame
//! body), not 8189. The client fills a request only up to that (`Operation::request_events_max`);
//! this bench also keeps one client's queued calls within 4096 commands, so each call is one
//! request and its latency is one request's.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use client::{Client, ClientConfig};
use credit::{Date, Program};
use engine::{Reply, Request, StateMachine};
use hdrhistogram::Histogram;
use ledger::{Account, AccountFlags};
use promotions::{Campaign, CampaignKind, Command, Offer};
use tokio::task::JoinSet;

use crate::credit::{draw, huabei_program, per_second, rss, share};
use crate::machine::Machine;
use crate::{histogram, quantiles, record};

/// Most promotions commands (or campaigns) in one request: a 1 MiB body of 256-byte records.
pub const PROMOTIONS_REQUEST_MAX: usize =
    protocol::BODY_SIZE_MAX as usize / promotions::RECORD_SIZE;

/// Which layer to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromotionsMode {
    /// `engine::StateMachine` alone: one core, no log, no fsync.
    StateMachine,
    /// The binary protocol through `client::Client`, durable (fsync before every reply).
    Tcp,
}

impl PromotionsMode {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            PromotionsMode::StateMachine => "state-machine",
            PromotionsMode::Tcp => "tcp",
        }
    }
}

/// What pays a checkout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payer {
    /// The user's ordinary ledger account (a balance, a bank card's clearing account).
    Account,
    /// The user's credit line (an authorization on the line, as `bench credit` does).
    Line,
}

impl Payer {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Payer::Account => "account",
            Payer::Line => "line",
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct PromotionsConfig {
    pub mode: PromotionsMode,
    /// Red-packet pools (campaigns); 0 skips the grabs.
    pub pools: u64,
    pub packets_per_pool: u32,
    /// Users: each has an account (and, with `payer = Line`, a credit line); a pool's packets
    /// go to `packets_per_pool` of them, so at least that many.
    pub user_count: u64,
    /// What all the pools hold together, in yuan.
    pub total_yuan: u64,
    /// Purchases, each carrying two coupons; 0 skips them.
    pub purchase_count: u64,
    pub merchant_count: u64,
    pub payer: Payer,
    /// Checkouts captured as they are made (no capture phase).
    pub one_step: bool,
    /// Commands per request (per call to the client in `tcp`), at most 4096.
    pub batch_size: usize,
    /// Concurrent tasks, each waiting for its answer before sending again (`tcp`).
    pub clients: usize,
    /// `tcp`: clients (connections) the tasks share; `None`: one per task.
    pub connections: Option<usize>,
    pub seed: u64,
    /// `tcp`: a running server's binary-protocol address instead of one started here.
    pub addr: Option<String>,
    /// `tcp` started here: the node's data directory (default: a temporary one).
    pub data_dir: Option<PathBuf>,
    /// Size the transfer id index for this many transfers up front (`transfers_reserve`).
    pub transfers_reserve: u64,
}

impl PromotionsConfig {
    /// The defaults of `elevenfold bench promotions`.
    #[must_use]
    pub fn new(mode: PromotionsMode) -> PromotionsConfig {
        PromotionsConfig {
            mode,
            pools: 1000,
            packets_per_pool: 5000,
            user_count: 1_000_000,
            total_yuan: 1_000_000_000,
            purchase_count: 2_000_000,
            merchant_count: 1000,
            payer: Payer::Account,
            one_step: false,
            batch_size: PROMOTIONS_REQUEST_MAX,
            clients: 4,
            connections: None,
            seed: 1,
            addr: None,
            data_dir: None,
            transfers_reserve: 0,
        }
    }
}

/// One measured phase: rate, time, latency per request (ms), requests, refusals.
#[derive(Clone, Debug, Default)]
pub struct PhaseFigures {
    pub count: u64,
    pub per_second: f64,
    pub seconds: f64,
    pub latency_ms: [f64; 3],
    pub request_count: u64,
    pub rejected_count: u64,
    /// The first refusal: (index of the command in its phase, result name).
    pub first_rejection: Option<(u64, &'static str)>,
}

/// What was measured.
#[derive(Clone, Debug)]
pub struct PromotionsReport {
    pub mode: &'static str,
    pub payer: &'static str,
    pub one_step: bool,
    pub pools: u64,
    pub packets_per_pool: u32,
    pub user_count: u64,
    pub merchant_count: u64,
    pub total_yuan: u64,
    pub purchase_count: u64,
    pub batch_size: usize,
    pub clients: usize,
    pub connections: usize,
    pub seed: u64,
    /// "request" when every call is one request (one client per task, or `state-machine`);
    /// "call" when a client may coalesce several tasks' calls into one request.
    pub latency_kind: &'static str,
    /// Setup before the grabs (accounts, program and lines, campaigns, funding), in seconds.
    pub setup_seconds: f64,
    pub grabs: PhaseFigures,
    /// Coupons claimed and issued (two per purchase).
    pub coupons: PhaseFigures,
    pub checkouts: PhaseFigures,
    pub captures: PhaseFigures,
    /// Purchases (checkout + capture) over the time of both phases (with `one_step`, the
    /// checkouts' time: there are no captures).
    pub purchases_with_coupons_per_second: f64,
    /// The discounts the purchases took, all sponsors together, in fen.
    pub discount_fen: u64,
    /// Rejections in the setup and measured phases together (0 in a correct run).
    pub rejected_count: u64,
    /// Whether the state was checked after the run (skipped when something was refused).
    pub verified: bool,
    /// Ledger transfers in the state after the run (`None` against a running server).
    pub transfer_count: Option<u64>,
    /// This process's resident set (`VmRSS`) after the captures, and its peak (`VmHWM`); with
    /// the node in process that is the server's memory (plus the client's).
    pub rss_bytes: u64,
    pub rss_peak_bytes: u64,
}

fn json_latency(name: &str, figures: &PhaseFigures) -> String {
    let [p50, p99, max] = figures.latency_ms;
    format!(
        "\"{name}_latency_ms_p50\":{p50:.3},\"{name}_latency_ms_p99\":{p99:.3},\
         \"{name}_latency_ms_max\":{max:.3}"
    )
}

fn json_rejection(rejection: Option<(u64, &'static str)>) -> String {
    rejection.map_or_else(
        || "null".to_string(),
        |(index, name)| format!("\"#{index} {name}\""),
    )
}

impl PromotionsReport {
    /// One JSON object, keys in a fixed order; absent values are `null`.
    #[must_use]
    pub fn to_json(&self) -> String {
        let phase = |name: &str, f: &PhaseFigures| {
            format!(
                "\"{name}_count\":{},\"{name}_seconds\":{:.3},\"{name}_request_count\":{},\
                 \"{name}_rejected_count\":{},\"{name}_first_rejection\":{},{}",
                f.count,
                f.seconds,
                f.request_count,
                f.rejected_count,
                json_rejection(f.first_rejection),
                json_latency(name, f)
            )
        };
        format!(
            concat!(
                "{{\"bench\":\"promotions\",\"mode\":\"{}\",\"payer\":\"{}\",\"one_step\":{},",
                "\"grabs_per_second\":{:.0},\"purchases_with_coupons_per_second\":{:.0},",
                "\"checkouts_per_second\":{:.0},\"captures_per_second\":{:.0},",
                "\"coupons_per_second\":{:.0},\"rejected_count\":{},\"verified\":{},",
                "\"pools\":{},\"packets_per_pool\":{},\"users\":{},\"merchants\":{},",
                "\"total_yuan\":{},\"purchases\":{},\"coupons_per_purchase\":2,",
                "\"batch_size\":{},\"clients\":{},\"connections\":{},\"seed\":{},",
                "\"latency_kind\":\"{}\",\"setup_seconds\":{:.3},{},{},{},{},",
                "\"discount_fen\":{},\"transfer_count\":{},\"rss_bytes\":{},\"rss_peak_bytes\":{}}}"
            ),
            self.mode,
            self.payer,
            self.one_step,
            self.grabs.per_second,
            self.purchases_with_coupons_per_second,
            self.checkouts.per_second,
            self.captures.per_second,
            self.coupons.per_second,
            self.rejected_count,
            self.verified,
            self.pools,
            self.packets_per_pool,
            self.user_count,
            self.merchant_count,
            self.total_yuan,
            self.purchase_count,
            self.batch_size,
            self.clients,
            self.connections,
            self.seed,
            self.latency_kind,
            self.setup_seconds,
            phase("grab", &self.grabs),
            phase("coupon", &self.coupons),
            phase("checkout", &self.checkouts),
            phase("capture", &self.captures),
            self.discount_fen,
            self.transfer_count
                .map_or_else(|| "null".to_string(), |n| n.to_string()),
            self.rss_bytes,
            self.rss_peak_bytes,
        )
    }

    /// A few human-readable lines.
    #[must_use]
    pub fn to_text(&self) -> String {
        #[expect(clippy::cast_precision_loss, reason = "reporting only")]
        let gib = |bytes: u64| bytes as f64 / f64::from(1u32 << 30);
        let line = |what: &str, f: &PhaseFigures| {
            let [p50, p99, max] = f.latency_ms;
            format!(
                "{what} {} at {:.0}/s in {:.2} s ({} rejected, {} requests; per {}: p50 {p50:.3} \
                 ms, p99 {p99:.3} ms, max {max:.3} ms)\n",
                f.count,
                f.per_second,
                f.seconds,
                f.rejected_count,
                f.request_count,
                self.latency_kind
            )
        };
        let mut text = format!(
            "promotions, mode {}: {} pools of {} packets ({} yuan), {} users, {} purchases with \
             two coupons paid by {} at {} merchants, batch {}, {} clients\nsetup {:.2} s\n",
            self.mode,
            self.pools,
            self.packets_per_pool,
            self.total_yuan,
            self.user_count,
            self.purchase_count,
            self.payer,
            self.merchant_count,
            self.batch_size,
            self.clients,
            self.setup_seconds
        );
        text.push_str(&line("grabs", &self.grabs));
        text.push_str(&line("coupons", &self.coupons));
        text.push_str(&line("checkouts", &self.checkouts));
        text.push_str(&line("captures", &self.captures));
        text.push_str(&format!(
            "purchases with coupons ({}) {:.0}/s, discounts {} fen\n",
            if self.one_step {
                "one step"
            } else {
                "checkout + capture"
            },
            self.purchases_with_coupons_per_second,
            self.discount_fen
        ));
        text.push_str(&format!(
            "{} rejected; state {}; RSS {:.2} GiB, peak {:.2} GiB",
            self.rejected_count,
            if self.verified {
                "checked"
            } else {
                "NOT checked"
            },
            gib(self.rss_bytes),
            gib(self.rss_peak_bytes)
        ));
        text
    }

    /// The first refusal of any phase, named, if there was one.
    #[must_use]
    pub fn first_rejection(&self) -> Option<String> {
        [
            ("grab", &self.grabs),
            ("coupon", &self.coupons),
            ("checkout", &self.checkouts),
            ("capture", &self.captures),
        ]
        .into_iter()
        .find_map(|(what, f)| {
            f.first_rejection
                .map(|(index, name)| format!("{what} #{index}: {name}"))
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The plan: every account, campaign and command as a pure function of (config, index).

const LEDGER: u32 = 156;
const CODE: u16 = 1;
/// Purchase amounts are uniform in AMOUNT_MIN..=AMOUNT_MAX fen (100-1000 yuan).
const AMOUNT_MIN: u64 = 10_000;
const AMOUNT_MAX: u64 = 100_000;
const CHECKOUT_TIMEOUT_SECONDS: u32 = 15 * 60;
/// The merchants' category (grocery) and the bank's card: issuer and BIN range.
pub(crate) const CATEGORY: u32 = 5411;
const BANK_ISSUER: u32 = 102;
const BIN_LOW: u32 = 622_200;
const BIN_HIGH: u32 = 622_299;
/// Users' segment: card holders of the bank (the bank coupon's eligibility).
const SEGMENT: u32 = 1;
/// 满100减10: the platform's coupon, applied first.
pub(crate) const PLATFORM_OFFER: Offer = Offer::Threshold {
    min_spend: 10_000,
    amount: 1_000,
};
/// 5% off with the bank's card, at most 20 yuan, from 50 yuan.
const BANK_OFFER: Offer = Offer::Percent {
    min_spend: 5_000,
    bps: 500,
    cap: 2_000,
};
/// 50,000.00 yuan, unless a user's purchases need more (see `Plan::new`).
const LINE_LIMIT_MIN: u64 = 5_000_000;

const PLATFORM_ACCOUNT: u128 = 1;
const BANK_ACCOUNT: u128 = 2;
/// The credit program's interest, fee, penalty, loss and recovery accounts.
const PROGRAM_ACCOUNTS: [u128; 5] = [11, 12, 13, 14, 15];
const PROGRAM_ID_OFFSET: u128 = 100;
const MERCHANT_ID_OFFSET: u128 = 1_000;
const USER_ID_OFFSET: u128 = 1 << 40;
const LINE_ID_OFFSET: u128 = 2 << 40;
const CAMPAIGN_ID_OFFSET: u128 = 3 << 40;
const BUDGET_ID_OFFSET: u128 = 4 << 40;
const FUND_ID_OFFSET: u128 = 5 << 40;
const GRAB_ID_OFFSET: u128 = 6 << 40;
const COUPON_ID_OFFSET: u128 = 7 << 40;
const CHECKOUT_ID_OFFSET: u128 = 8 << 40;
const CAPTURE_ID_OFFSET: u128 = 9 << 40;
/// Counts stay below this so each kind of id keeps to its own range.
const COUNT_MAX: u64 = 1 << 39;
const MERCHANT_COUNT_MAX: u64 = 1_000_000;
/// Spreads a pool's grabs over the users: pool p's round r goes to user (r + p * STRIDE) % U.
const USER_STRIDE: u64 = 7919;

const STREAM_USER: u64 = 11;
const STREAM_MERCHANT: u64 = 12;
const STREAM_AMOUNT: u64 = 13;
const STREAM_POOL: u64 = 14;
const STREAM_BIN: u64 = 15;

/// What a request carries, in the order the phases run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Accounts,
    Program,
    Lines,
    Campaigns,
    Fund,
    Grab,
    Coupons,
    Checkout,
    Capture,
}

const PHASES: [Phase; 9] = [
    Phase::Accounts,
    Phase::Program,
    Phase::Lines,
    Phase::Campaigns,
    Phase::Fund,
    Phase::Grab,
    Phase::Coupons,
    Phase::Checkout,
    Phase::Capture,
];

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Accounts => "creating accounts",
            Phase::Program => "creating the credit program",
            Phase::Lines => "opening credit lines",
            Phase::Campaigns => "creating campaigns",
            Phase::Fund => "funding campaigns",
            Phase::Grab => "grabbing red packets",
            Phase::Coupons => "issuing coupons",
            Phase::Checkout => "checkouts",
            Phase::Capture => "captures",
        }
    }

    fn measured(self) -> bool {
        matches!(
            self,
            Phase::Grab | Phase::Coupons | Phase::Checkout | Phase::Capture
        )
    }
}

/// The events of one request.
enum Events {
    Accounts(Vec<Account>),
    Programs(Vec<Program>),
    Credit(Vec<credit::Command>),
    Campaigns(Vec<Campaign>),
    Promotions(Vec<Command>),
}

impl Events {
    fn into_request(self) -> Request {
        match self {
            Events::Accounts(events) => Request::CreateAccounts(events),
            Events::Programs(events) => Request::CreatePrograms(events),
            Events::Credit(events) => Request::Credit(events),
            Events::Campaigns(events) => Request::CreateCampaigns(events),
            Events::Promotions(events) => Request::Promotions(events),
        }
    }
}

/// The failures of one request: (index in the request, result name), ascending.
type Failures = Vec<(u32, &'static str)>;

fn failures_of<T: Copy>(
    results: &[T],
    ok: impl Fn(T) -> bool,
    name: impl Fn(T) -> &'static str,
) -> Failures {
    results
        .iter()
        .enumerate()
        .filter(|(_, r)| !ok(**r))
        .map(|(i, r)| (u32::try_from(i).expect("a request's index"), name(*r)))
        .collect()
}

fn reply_failures(reply: &Reply) -> Failures {
    match reply {
        Reply::CreateAccounts(results) => failures_of(results, |r| r.name() == "ok", |r| r.name()),
        Reply::CreateTransfers(results) => failures_of(results, |r| r.name() == "ok", |r| r.name()),
        Reply::SetAccountLimits(results) => {
            failures_of(results, |r| r.name() == "ok", |r| r.name())
        }
        Reply::CreatePrograms(results) | Reply::Credit(results) => {
            failures_of(results, |r| r == credit::CreditResult::Ok, |r| r.name())
        }
        Reply::CreateCampaigns(results) | Reply::Promotions(results) => failures_of(
            results,
            |r| r == promotions::PromotionResult::Ok,
            |r| r.name(),
        ),
    }
}

#[derive(Clone)]
struct Plan {
    base: u128,
    seed: u64,
    pools: u64,
    packets_per_pool: u64,
    user_count: u64,
    merchant_count: u64,
    purchase_count: u64,
    payer: Payer,
    one_step: bool,
    batch_size: u64,
    total_fen: u64,
    /// The line limit (and the program's borrower limit), with `payer = Line`.
    limit: u64,
    /// What the purchases will take from the platform's and the bank's budgets, and pay in
    /// all (merchants' credits), in fen.
    platform_discounts: u64,
    bank_discounts: u64,
    purchase_total: u64,
}

impl Plan {
    fn new(config: &PromotionsConfig) -> Result<Plan, String> {
        if config.pools >= COUNT_MAX || config.purchase_count >= COUNT_MAX / 2 {
            return Err(format!(
                "--pools and --purchases must be below {}",
                COUNT_MAX / 2
            ));
        }
        if config.user_count == 0 || config.user_count >= COUNT_MAX {
            return Err(format!("--users must be from 1 to {}", COUNT_MAX - 1));
        }
        if !(1..=MERCHANT_COUNT_MAX).contains(&config.merchant_count) {
            return Err(format!(
                "--merchants must be from 1 to {MERCHANT_COUNT_MAX}"
            ));
        }
        let grabs = config.pools * u64::from(config.packets_per_pool);
        if config.pools > 0 {
            if config.packets_per_pool == 0 {
                return Err("--packets-per-pool must be at least 1".to_string());
            }
            if u64::from(config.packets_per_pool) > config.user_count {
                return Err(format!(
                    "--packets-per-pool ({}) must not exceed --users ({}): one grab per user \
                     per pool",
                    config.packets_per_pool, config.user_count
                ));
            }
            if grabs >= COUNT_MAX {
                return Err(format!(
                    "--pools x --packets-per-pool must be below {COUNT_MAX}"
                ));
            }
        }
        let total_fen = config
            .total_yuan
            .checked_mul(100)
            .ok_or("--total-yuan is too large")?;
        if config.pools > 0 && total_fen / config.pools < u64::from(config.packets_per_pool) {
            return Err(format!(
                "{} yuan over {} pools leaves less than 0.01 yuan per packet",
                config.total_yuan, config.pools
            ));
        }
        if !(1..=PROMOTIONS_REQUEST_MAX).contains(&config.batch_size) {
            return Err(format!(
                "--batch must be from 1 to {PROMOTIONS_REQUEST_MAX} (256-byte records in a 1 MiB \
                 frame body)"
            ));
        }
        let base = match config.addr {
            Some(_) => u128::from(config.seed) << 64,
            None => 0,
        };
        if base + CAPTURE_ID_OFFSET + u128::from(COUNT_MAX) >= ledger::RESERVED_ID_MIN {
            return Err("--seed is too large: its ids would be reserved ones".to_string());
        }
        let mut plan = Plan {
            base,
            seed: config.seed,
            pools: config.pools,
            packets_per_pool: u64::from(config.packets_per_pool),
            user_count: config.user_count,
            merchant_count: config.merchant_count,
            purchase_count: config.purchase_count,
            payer: config.payer,
            one_step: config.one_step,
            batch_size: config.batch_size as u64,
            total_fen,
            limit: LINE_LIMIT_MIN,
            platform_discounts: 0,
            bank_discounts: 0,
            purchase_total: 0,
        };
        // The discounts, worked out as the engine will (platform first, by priority), so the
        // coupon budgets can be funded to the fen; and the most any one user buys.
        let mut per_user = match config.payer {
            Payer::Line => {
                vec![0u32; usize::try_from(config.user_count).map_err(|e| e.to_string())?]
            }
            Payer::Account => Vec::new(),
        };
        for p in 0..plan.purchase_count {
            let amount = plan.amount(p);
            let [platform, bank] = discounts(amount);
            plan.platform_discounts += platform;
            plan.bank_discounts += bank;
            plan.purchase_total += amount;
            if let Some(count) = per_user.get_mut(usize::try_from(plan.user(p)).expect("fits")) {
                *count += 1;
            }
        }
        let most = per_user.iter().copied().max().unwrap_or(0);
        plan.limit = LINE_LIMIT_MIN.max(AMOUNT_MAX.saturating_mul(u64::from(most) + 1));
        Ok(plan)
    }

    fn grab_count(&self) -> u64 {
        self.pools * self.packets_per_pool
    }

    fn count(&self, phase: Phase) -> u64 {
        let coupons = u64::from(self.purchase_count > 0);
        let line = self.payer == Payer::Line;
        match phase {
            Phase::Accounts => self.account_count(),
            Phase::Program => u64::from(line),
            Phase::Lines => {
                if line {
                    self.user_count
                } else {
                    0
                }
            }
            Phase::Campaigns | Phase::Fund => self.pools + 2 * coupons,
            Phase::Grab => self.grab_count(),
            Phase::Coupons => 2 * self.purchase_count,
            Phase::Checkout => self.purchase_count,
            Phase::Capture if self.one_step => 0,
            Phase::Capture => self.purchase_count,
        }
    }

    fn request_size(&self, phase: Phase) -> u64 {
        match phase {
            Phase::Accounts | Phase::Lines | Phase::Program => engine::REQUEST_EVENTS_MAX as u64,
            Phase::Campaigns | Phase::Fund | Phase::Coupons => PROMOTIONS_REQUEST_MAX as u64,
            Phase::Grab | Phase::Checkout | Phase::Capture => self.batch_size,
        }
    }

    fn request_count(&self, phase: Phase) -> u64 {
        self.count(phase).div_ceil(self.request_size(phase))
    }

    /// The events of request `r` of `phase`.
    fn request(&self, phase: Phase, r: u64) -> Events {
        let size = self.request_size(phase);
        let range = r * size..((r + 1) * size).min(self.count(phase));
        match phase {
            Phase::Accounts => Events::Accounts(range.map(|i| self.account(i)).collect()),
            Phase::Program => Events::Programs(vec![self.program()]),
            Phase::Lines => Events::Credit(range.map(|u| self.open_line(u)).collect()),
            Phase::Campaigns => Events::Campaigns(range.map(|k| self.campaign(k)).collect()),
            Phase::Fund => Events::Promotions(range.map(|k| self.fund(k)).collect()),
            Phase::Grab => Events::Promotions(range.map(|g| self.grab(g)).collect()),
            Phase::Coupons => Events::Promotions(range.map(|i| self.coupon(i)).collect()),
            Phase::Checkout => Events::Promotions(range.map(|p| self.checkout(p)).collect()),
            Phase::Capture => Events::Promotions(range.map(|p| self.capture(p)).collect()),
        }
    }

    // Accounts: the two sponsors and the program's five, then merchants, then users.

    fn fixed_accounts(&self) -> Vec<u128> {
        let mut ids = vec![PLATFORM_ACCOUNT, BANK_ACCOUNT];
        if self.payer == Payer::Line {
            ids.extend(PROGRAM_ACCOUNTS);
        }
        ids.into_iter().map(|id| self.base + id).collect()
    }

    fn account_count(&self) -> u64 {
        self.fixed_accounts().len() as u64 + self.merchant_count + self.user_count
    }

    fn account(&self, i: u64) -> Account {
        let fixed = self.fixed_accounts();
        let n = fixed.len() as u64;
        let id = if i < n {
            fixed[usize::try_from(i).expect("a few")]
        } else if i < n + self.merchant_count {
            self.merchant_id(i - n)
        } else {
            self.user_id(i - n - self.merchant_count)
        };
        Account {
            id,
            ledger: LEDGER,
            code: CODE,
            flags: AccountFlags(0),
            ..Account::default()
        }
    }

    fn merchant_id(&self, m: u64) -> u128 {
        self.base + MERCHANT_ID_OFFSET + u128::from(m)
    }

    fn user_id(&self, u: u64) -> u128 {
        self.base + USER_ID_OFFSET + 1 + u128::from(u)
    }

    fn line_id(&self, u: u64) -> u128 {
        self.base + LINE_ID_OFFSET + 1 + u128::from(u)
    }

    /// Huabei-like terms, as `bench credit`: no coins, no co-funding.
    fn program(&self) -> Program {
        huabei_program(
            self.base + PROGRAM_ID_OFFSET,
            PROGRAM_ACCOUNTS.map(|id| self.base + id),
            Date::from_ymd(2026, 11, 11).expect("a valid date"),
            self.limit,
        )
    }

    fn open_line(&self, u: u64) -> credit::Command {
        credit::Command::OpenLine {
            id: self.line_id(u),
            borrower_id: self.user_id(u),
            program_id: self.base + PROGRAM_ID_OFFSET,
            limit: self.limit,
            annual_income: 0,
            birth_date: Date::from_ymd(1990, 1, 1).expect("a valid date"),
            statement_day: 1,
            due_day: 10,
            applicant: 0,
        }
    }

    // Campaigns: pools 0..pools, then the platform's coupon, then the bank's.

    fn campaign_id(&self, k: u64) -> u128 {
        self.base + CAMPAIGN_ID_OFFSET + 1 + u128::from(k)
    }

    fn budget_id(&self, k: u64) -> u128 {
        self.base + BUDGET_ID_OFFSET + 1 + u128::from(k)
    }

    fn platform_campaign(&self) -> u64 {
        self.pools
    }

    fn bank_campaign(&self) -> u64 {
        self.pools + 1
    }

    /// Pool `p`'s share of the total; the first pools take the remainder's fen.
    fn pool_amount(&self, p: u64) -> u64 {
        self.total_fen / self.pools + u64::from(p < self.total_fen % self.pools)
    }

    fn campaign(&self, k: u64) -> Campaign {
        let common = Campaign {
            id: self.campaign_id(k),
            budget_account_id: self.budget_id(k),
            sponsor_account_id: self.base + PLATFORM_ACCOUNT,
            ledger: LEDGER,
            code: CODE,
            ..Campaign::default()
        };
        if k < self.pools {
            return Campaign {
                kind: CampaignKind::RedPacket,
                stock: u32::try_from(self.packets_per_pool).expect("a u32"),
                pool_amount: self.pool_amount(k),
                seed: draw(self.seed, STREAM_POOL, k),
                ..common
            };
        }
        let stock = u32::try_from(self.purchase_count).unwrap_or(0);
        if k == self.platform_campaign() {
            // A limited stock of exactly one coupon per purchase, claimed by the users.
            Campaign {
                kind: CampaignKind::Coupon,
                offer: PLATFORM_OFFER,
                exclusive_group: 1,
                priority: 2,
                stock,
                ..common
            }
        } else {
            // Issued by the bank to its card holders; paid from the bank's budget.
            Campaign {
                kind: CampaignKind::Coupon,
                sponsor_account_id: self.base + BANK_ACCOUNT,
                offer: BANK_OFFER,
                eligible_segments: SEGMENT,
                card_issuer: BANK_ISSUER,
                bin_low: BIN_LOW,
                bin_high: BIN_HIGH,
                category: CATEGORY,
                exclusive_group: 2,
                priority: 1,
                redemptions_max: stock,
                ..common
            }
        }
    }

    /// What campaign `k`'s budget is funded with: the pool, or exactly the discounts.
    fn funding(&self, k: u64) -> u64 {
        if k < self.pools {
            self.pool_amount(k)
        } else if k == self.platform_campaign() {
            self.platform_discounts
        } else {
            self.bank_discounts
        }
    }

    fn fund(&self, k: u64) -> Command {
        Command::FundCampaign {
            id: self.base + FUND_ID_OFFSET + 1 + u128::from(k),
            campaign_id: self.campaign_id(k),
            amount: self.funding(k),
        }
    }

    /// Grab `g`: pool g % pools, the r-th grab of it (r = g / pools), by a user no other grab
    /// of that pool has (r < packets_per_pool <= users).
    fn grab(&self, g: u64) -> Command {
        let (pool, round) = (g % self.pools, g / self.pools);
        let user = (round + pool * USER_STRIDE) % self.user_count;
        Command::GrabRedPacket {
            id: self.base + GRAB_ID_OFFSET + 1 + u128::from(g),
            campaign_id: self.campaign_id(pool),
            user_id: self.user_id(user),
            account_id: self.user_id(user),
            user_segments: SEGMENT,
        }
    }

    fn user(&self, p: u64) -> u64 {
        draw(self.seed, STREAM_USER, p) % self.user_count
    }

    fn amount(&self, p: u64) -> u64 {
        AMOUNT_MIN + draw(self.seed, STREAM_AMOUNT, p) % (AMOUNT_MAX - AMOUNT_MIN + 1)
    }

    /// Purchase `p`'s two coupons: the platform's and the bank's.
    fn coupon_ids(&self, p: u64) -> [u128; 2] {
        let first = self.base + COUPON_ID_OFFSET + 1 + 2 * u128::from(p);
        [first, first + 1]
    }

    /// Coupon `i`: purchase i / 2's platform coupon (claimed) or bank coupon (issued).
    fn coupon(&self, i: u64) -> Command {
        let p = i / 2;
        let user_id = self.user_id(self.user(p));
        let id = self.coupon_ids(p)[usize::from(i % 2 == 1)];
        if i.is_multiple_of(2) {
            Command::ClaimCoupon {
                id,
                campaign_id: self.campaign_id(self.platform_campaign()),
                user_id,
                user_segments: SEGMENT,
            }
        } else {
            Command::IssueCoupon {
                id,
                campaign_id: self.campaign_id(self.bank_campaign()),
                user_id,
                user_segments: SEGMENT,
            }
        }
    }

    fn checkout_id(&self, p: u64) -> u128 {
        self.base + CHECKOUT_ID_OFFSET + 1 + u128::from(p)
    }

    fn checkout(&self, p: u64) -> Command {
        let user = self.user(p);
        let [platform, bank] = self.coupon_ids(p);
        Command::Checkout {
            id: self.checkout_id(p),
            user_id: self.user_id(user),
            payer_id: match self.payer {
                Payer::Account => self.user_id(user),
                Payer::Line => self.line_id(user),
            },
            merchant_account_id: self
                .merchant_id(draw(self.seed, STREAM_MERCHANT, p) % self.merchant_count),
            amount: self.amount(p),
            timeout: if self.one_step {
                0
            } else {
                CHECKOUT_TIMEOUT_SECONDS
            },
            code: CODE,
            card_issuer: BANK_ISSUER,
            card_bin: BIN_LOW
                + u32::try_from(draw(self.seed, STREAM_BIN, p) % u64::from(BIN_HIGH - BIN_LOW + 1))
                    .expect("below 100"),
            category: CATEGORY,
            coupons: [platform, bank, 0, 0],
            capture: self.one_step,
        }
    }

    fn capture(&self, p: u64) -> Command {
        Command::CaptureCheckout {
            id: self.base + CAPTURE_ID_OFFSET + 1 + u128::from(p),
            checkout_id: self.checkout_id(p),
        }
    }

    /// The accounts the check after the run looks up: every campaign's budget, then every
    /// merchant.
    fn check_ids(&self) -> Vec<u128> {
        let campaigns = self.count(Phase::Campaigns);
        (0..campaigns)
            .map(|k| self.budget_id(k))
            .chain((0..self.merchant_count).map(|m| self.merchant_id(m)))
            .collect()
    }

    /// Checks the looked-up accounts (`check_ids`, in order): every pool's budget funded and
    /// emptied to the fen, every coupon budget funded with and spent exactly the discounts,
    /// nothing pending, the merchants credited every purchase's full amount.
    fn check_accounts(&self, accounts: &[Account]) -> Result<(), String> {
        let ids = self.check_ids();
        if accounts.len() != ids.len() || accounts.iter().zip(&ids).any(|(a, id)| a.id != *id) {
            return Err(format!(
                "looked up {} of {} budget and merchant accounts",
                accounts.len(),
                ids.len()
            ));
        }
        let campaigns = usize::try_from(self.count(Phase::Campaigns)).expect("fits");
        for (k, budget) in accounts[..campaigns].iter().enumerate() {
            let funded = u128::from(self.funding(k as u64));
            if budget.credits_posted != funded
                || budget.debits_posted != funded
                || budget.debits_pending != 0
            {
                return Err(format!(
                    "campaign {}'s budget: funded {}, spent {}, pending {} (expected {funded} \
                     each, none pending)",
                    self.campaign_id(k as u64),
                    budget.credits_posted,
                    budget.debits_posted,
                    budget.debits_pending
                ));
            }
        }
        let merchants = &accounts[campaigns..];
        let credited: u128 = merchants.iter().map(|a| a.credits_posted).sum();
        let other: u128 = merchants
            .iter()
            .map(|a| a.debits_posted + a.debits_pending + a.credits_pending)
            .sum();
        if credited != u128::from(self.purchase_total) || other != 0 {
            return Err(format!(
                "merchants credited {credited} fen (expected {}), {other} pending or debited",
                self.purchase_total
            ));
        }
        Ok(())
    }
}

/// The platform's and the bank's discounts on a purchase of `amount`, in the engine's order
/// (higher priority first, each on what the earlier left).
fn discounts(amount: u64) -> [u64; 2] {
    let platform = PLATFORM_OFFER.discount(amount, amount).unwrap_or(0);
    let bank = BANK_OFFER.discount(amount, amount - platform).unwrap_or(0);
    [platform, bank]
}

/// The in-process checks: conservation, the promotions invariants, and every campaign's
/// counters against the plan.
fn check_state(plan: &Plan, state: &StateMachine) -> Result<(), String> {
    state.ledger().check_conservation();
    let promotions = state.promotions();
    promotions
        .check_records()
        .and_then(|()| promotions.check_ledger(state.ledger(), true))
        .map_err(|e| e.to_string())?;
    for k in 0..plan.count(Phase::Campaigns) {
        let id = plan.campaign_id(k);
        let view = promotions
            .campaign(id)
            .ok_or_else(|| format!("campaign {id} is missing"))?;
        let expected_issued = if k < plan.pools {
            plan.packets_per_pool
        } else {
            plan.purchase_count
        };
        let taken = view.grabbed + view.spent;
        if u64::from(view.issued) != expected_issued
            || taken != plan.funding(k)
            || view.available != 0
            || view.reserved != 0
            || (k >= plan.pools && u64::from(view.redemptions) != plan.purchase_count)
        {
            return Err(format!(
                "campaign {id}: issued {}, redemptions {}, given {taken} of {}, {} reserved, {} \
                 left",
                view.issued,
                view.redemptions,
                plan.funding(k),
                view.reserved,
                view.available
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Driving the phases.

/// What one phase measured.
struct Driven {
    elapsed: Duration,
    latency: Histogram<u64>,
    rejected: u64,
    first_rejection: Option<(u64, &'static str)>,
}

impl Driven {
    fn new() -> Driven {
        Driven {
            elapsed: Duration::ZERO,
            latency: histogram(),
            rejected: 0,
            first_rejection: None,
        }
    }

    fn reject(&mut self, index: u64, name: &'static str) {
        self.rejected += 1;
        if self.first_rejection.is_none_or(|(first, _)| index < first) {
            self.first_rejection = Some((index, name));
        }
    }

    fn figures(&self, count: u64, request_count: u64) -> PhaseFigures {
        PhaseFigures {
            count,
            per_second: if count == 0 {
                0.0
            } else {
                per_second(count, self.elapsed)
            },
            seconds: self.elapsed.as_secs_f64(),
            latency_ms: if self.latency.is_empty() {
                [0.0; 3]
            } else {
                quantiles(&self.latency)
            },
            request_count,
            rejected_count: self.rejected,
            first_rejection: self.first_rejection,
        }
    }

    /// An error naming the first refusal of a setup phase, if any.
    fn require_none(&self, phase: Phase) -> Result<(), String> {
        match self.first_rejection {
            None => Ok(()),
            Some((index, name)) => Err(format!(
                "{}: {} refused, the first (#{index}) with {name} (against a running server, \
                 give each run its own --seed)",
                phase.name(),
                self.rejected,
            )),
        }
    }
}

/// Where the progress bar is: each phase's share is its commands' share of all commands.
struct Progress<'a> {
    report: &'a (dyn Fn(f64) + Sync),
    offsets: Vec<(Phase, f64, f64)>,
}

impl<'a> Progress<'a> {
    fn new(plan: &Plan, report: &'a (dyn Fn(f64) + Sync)) -> Progress<'a> {
        let total: u64 = PHASES.iter().map(|&p| plan.count(p)).sum();
        let mut offset = 0.0;
        let offsets = PHASES
            .iter()
            .map(|&phase| {
                let width = share(plan.count(phase), total);
                let entry = (phase, offset, width);
                offset += width;
                entry
            })
            .collect();
        Progress { report, offsets }
    }

    fn at(&self, phase: Phase, done: u64, of: u64) {
        let &(_, offset, width) = self
            .offsets
            .iter()
            .find(|(p, _, _)| *p == phase)
            .expect("every phase has a span");
        (self.report)(offset + width * share(done, of));
    }
}

/// Everything the phases measured, before the checks.
struct Measured {
    setup: Duration,
    grabs: Driven,
    coupons: Driven,
    checkouts: Driven,
    captures: Driven,
    /// `VmRSS` and `VmHWM` of this process right after the captures (the state still alive).
    rss: (u64, u64),
}

/// Runs the promotions benchmark. `progress` is called with the share done (0..=1). Refusals
/// in the measured phases are counted in the report (and the state is then not checked);
/// refusals in the setup, and a state that disagrees with the plan, are errors.
pub fn run(
    config: &PromotionsConfig,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<PromotionsReport, String> {
    let plan = Plan::new(config)?;
    if config.mode == PromotionsMode::StateMachine && config.addr.is_some() {
        return Err("--addr is for the tcp mode".to_string());
    }
    let tasks = config.clients.max(1);
    let connections = config.connections.unwrap_or(tasks).clamp(1, tasks);
    // A client coalesces the calls queued in it up to 8189 events, more than a frame holds of
    // 256-byte records: keep what one client can have queued within a request.
    let per_client = tasks.div_ceil(connections);
    if config.mode == PromotionsMode::Tcp && per_client * config.batch_size > PROMOTIONS_REQUEST_MAX
    {
        return Err(format!(
            "{per_client} tasks per connection x --batch {} could coalesce into more than \
             {PROMOTIONS_REQUEST_MAX} promotions commands, over the 1 MiB frame body: use more \
             --connections or a smaller --batch",
            config.batch_size
        ));
    }
    let progress = Progress::new(&plan, progress);
    let (measured, checked) = match config.mode {
        PromotionsMode::StateMachine => run_state_machine(config, &plan, &progress)?,
        PromotionsMode::Tcp => run_tcp(
            config,
            Arc::new(plan.clone()),
            tasks,
            connections,
            &progress,
        )?,
    };
    let (rss_bytes, rss_peak_bytes) = measured.rss;
    let figures = |phase: Phase, driven: &Driven| {
        driven.figures(plan.count(phase), plan.request_count(phase))
    };
    let grabs = figures(Phase::Grab, &measured.grabs);
    let coupons = figures(Phase::Coupons, &measured.coupons);
    let checkouts = figures(Phase::Checkout, &measured.checkouts);
    let captures = figures(Phase::Capture, &measured.captures);
    let purchase_time = measured.checkouts.elapsed + measured.captures.elapsed;
    let rejected_count = grabs.rejected_count
        + coupons.rejected_count
        + checkouts.rejected_count
        + captures.rejected_count;
    progress.at(Phase::Capture, 1, 1);
    Ok(PromotionsReport {
        mode: config.mode.name(),
        payer: config.payer.name(),
        one_step: config.one_step,
        pools: plan.pools,
        packets_per_pool: config.packets_per_pool,
        user_count: plan.user_count,
        merchant_count: plan.merchant_count,
        total_yuan: config.total_yuan,
        purchase_count: plan.purchase_count,
        batch_size: config.batch_size,
        clients: tasks,
        connections,
        seed: config.seed,
        latency_kind: if config.mode == PromotionsMode::StateMachine || per_client == 1 {
            "request"
        } else {
            "call"
        },
        setup_seconds: measured.setup.as_secs_f64(),
        purchases_with_coupons_per_second: if plan.purchase_count == 0 {
            0.0
        } else {
            per_second(plan.purchase_count, purchase_time)
        },
        grabs,
        coupons,
        checkouts,
        captures,
        discount_fen: plan.platform_discounts + plan.bank_discounts,
        rejected_count,
        verified: checked.is_some(),
        transfer_count: checked.flatten(),
        rss_bytes,
        rss_peak_bytes,
    })
}

// ---------------------------------------------------------------------------------------------
// State machine: one core, no log.

/// (what was measured, `Some(transfer count)` if the state was checked).
type Ran = (Measured, Option<Option<u64>>);

fn run_state_machine(
    config: &PromotionsConfig,
    plan: &Plan,
    progress: &Progress<'_>,
) -> Result<Ran, String> {
    let mut machine = Machine::new();
    if config.transfers_reserve > 0 {
        machine.state.reserve_transfers(
            usize::try_from(config.transfers_reserve).map_err(|e| e.to_string())?,
        );
    }
    let started = Instant::now();
    for phase in [
        Phase::Accounts,
        Phase::Program,
        Phase::Lines,
        Phase::Campaigns,
        Phase::Fund,
    ] {
        apply_phase(&mut machine, plan, phase, progress).require_none(phase)?;
    }
    let setup = started.elapsed();
    let measured = Measured {
        setup,
        grabs: apply_phase(&mut machine, plan, Phase::Grab, progress),
        coupons: apply_phase(&mut machine, plan, Phase::Coupons, progress),
        checkouts: apply_phase(&mut machine, plan, Phase::Checkout, progress),
        captures: apply_phase(&mut machine, plan, Phase::Capture, progress),
        rss: (0, 0),
    };
    let measured = Measured {
        rss: rss(),
        ..measured
    };
    if rejected(&measured) {
        return Ok((measured, None));
    }
    let accounts: Vec<Account> = plan
        .check_ids()
        .into_iter()
        .filter_map(|id| machine.state.ledger().lookup_account(id).map(|(a, _)| a))
        .collect();
    plan.check_accounts(&accounts)?;
    check_state(plan, &machine.state)?;
    Ok((
        measured,
        Some(Some(machine.state.ledger().transfer_count())),
    ))
}

fn rejected(measured: &Measured) -> bool {
    [
        &measured.grabs,
        &measured.coupons,
        &measured.checkouts,
        &measured.captures,
    ]
    .iter()
    .any(|d| d.rejected > 0)
}

/// Applies every request of a phase, timing each apply.
fn apply_phase(
    machine: &mut Machine,
    plan: &Plan,
    phase: Phase,
    progress: &Progress<'_>,
) -> Driven {
    let total = plan.request_count(phase);
    let size = plan.request_size(phase);
    let mut driven = Driven::new();
    let started = Instant::now();
    for r in 0..total {
        let request = plan.request(phase, r).into_request();
        let request_started = Instant::now();
        let reply = machine.apply_one(request);
        record(&mut driven.latency, request_started.elapsed());
        for (i, name) in reply_failures(&reply) {
            driven.reject(r * size + u64::from(i), name);
        }
        if r.is_multiple_of(8) {
            progress.at(phase, r, total);
        }
    }
    driven.elapsed = started.elapsed();
    driven
}

// ---------------------------------------------------------------------------------------------
// Binary protocol: a node and listener here, or a running server.

/// The cluster of a server started here, and the one asked of a server at `addr`.
const CLUSTER_ID: u128 = 0;

fn run_tcp(
    config: &PromotionsConfig,
    plan: Arc<Plan>,
    tasks: usize,
    connections: usize,
    progress: &Progress<'_>,
) -> Result<Ran, String> {
    let server = crate::tcp::BenchServer::open(
        config.addr.as_ref(),
        config.data_dir.as_ref(),
        config.transfers_reserve,
    )?;
    let result =
        server.drive(async |addr| measure(&plan, &addr, tasks, connections, progress).await);
    let result = match (&server.node, result) {
        (Some(node), Ok((measured, Some(None)))) => node
            .read(|state| check_state(&plan, state).map(|()| state.ledger().transfer_count()))
            .map(|transfers| (measured, Some(Some(transfers)))),
        (_, result) => result,
    };
    server.shutdown();
    result
}

async fn measure(
    plan: &Arc<Plan>,
    addr: &str,
    tasks: usize,
    connections: usize,
    progress: &Progress<'_>,
) -> Result<Ran, String> {
    let mut clients = Vec::new();
    for _ in 0..connections {
        let client = Client::connect_with(addr, ClientConfig::new(CLUSTER_ID))
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        clients.push(client);
    }
    let started = Instant::now();
    for phase in [
        Phase::Accounts,
        Phase::Program,
        Phase::Lines,
        Phase::Campaigns,
        Phase::Fund,
    ] {
        drive(&clients, tasks, plan, phase, progress)
            .await?
            .require_none(phase)?;
    }
    let setup = started.elapsed();
    let measured = Measured {
        setup,
        grabs: drive(&clients, tasks, plan, Phase::Grab, progress).await?,
        coupons: drive(&clients, tasks, plan, Phase::Coupons, progress).await?,
        checkouts: drive(&clients, tasks, plan, Phase::Checkout, progress).await?,
        captures: drive(&clients, tasks, plan, Phase::Capture, progress).await?,
        rss: (0, 0),
    };
    let measured = Measured {
        rss: rss(),
        ..measured
    };
    if rejected(&measured) {
        return Ok((measured, None));
    }
    let mut accounts = Vec::new();
    for ids in plan.check_ids().chunks(engine::REQUEST_EVENTS_MAX) {
        accounts.extend(
            clients[0]
                .lookup_accounts(ids.to_vec())
                .await
                .map_err(|e| format!("looking up budgets and merchants: {e}"))?,
        );
    }
    plan.check_accounts(&accounts)?;
    // Checked over the wire; the state itself is checked by the caller when in process.
    Ok((measured, Some(None)))
}

/// Sends one request's events; returns its failures.
async fn call(client: &Client, events: Events) -> Result<Failures, String> {
    let result = match events {
        Events::Accounts(events) => client
            .create_accounts(events)
            .await
            .map(|f| f.into_iter().map(|(i, r)| (i, r.name())).collect()),
        Events::Programs(events) => client
            .create_programs(events)
            .await
            .map(|f| f.into_iter().map(|(i, r)| (i, r.name())).collect()),
        Events::Credit(events) => client
            .credit(events)
            .await
            .map(|f| f.into_iter().map(|(i, r)| (i, r.name())).collect()),
        Events::Campaigns(events) => client
            .create_campaigns(events)
            .await
            .map(|f| f.into_iter().map(|(i, r)| (i, r.name())).collect()),
        Events::Promotions(events) => client
            .promotions(events)
            .await
            .map(|f| f.into_iter().map(|(i, r)| (i, r.name())).collect()),
    };
    result.map_err(|e| e.to_string())
}

/// `tasks` tasks sharing `clients`, each taking the next request of the phase and waiting
/// for its answer before taking another; each call is timed.
async fn drive(
    clients: &[Client],
    tasks: usize,
    plan: &Arc<Plan>,
    phase: Phase,
    progress: &Progress<'_>,
) -> Result<Driven, String> {
    let total = plan.request_count(phase);
    let size = plan.request_size(phase);
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut set = JoinSet::new();
    for task in 0..tasks.min(usize::try_from(total).unwrap_or(usize::MAX)) {
        let client = clients[task % clients.len()].clone();
        let plan = Arc::clone(plan);
        let next = Arc::clone(&next);
        let done = Arc::clone(&done);
        set.spawn(async move {
            // Microseconds per call, and the refusals as (index in the phase, result).
            let mut latencies: Vec<u32> = Vec::new();
            let mut refused: Vec<(u64, &'static str)> = Vec::new();
            loop {
                let r = next.fetch_add(1, Ordering::Relaxed) as u64;
                if r >= total {
                    break;
                }
                let events = plan.request(phase, r);
                let call_started = Instant::now();
                let failures = call(&client, events)
                    .await
                    .map_err(|e| format!("{}: {e}", phase.name()))?;
                let us = call_started.elapsed().as_micros();
                latencies.push(u32::try_from(us).unwrap_or(u32::MAX));
                refused.extend(
                    failures
                        .into_iter()
                        .map(|(index, name)| (r * size + u64::from(index), name)),
                );
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, String>((latencies, refused))
        });
    }
    let mut driven = Driven::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while !set.is_empty() {
        tokio::select! {
            joined = set.join_next() => {
                let (latencies, refused) = joined
                    .expect("set is not empty")
                    .map_err(|e| format!("a client task failed: {e}"))??;
                for us in latencies {
                    record(&mut driven.latency, Duration::from_micros(u64::from(us)));
                }
                for (index, name) in refused {
                    driven.reject(index, name);
                }
            }
            _ = tick.tick() => {
                if phase.measured() || total > 1 {
                    progress.at(phase, done.load(Ordering::Relaxed), total);
                }
            }
        }
    }
    driven.elapsed = started.elapsed();
    Ok(driven)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(mode: PromotionsMode, payer: Payer) -> PromotionsConfig {
        PromotionsConfig {
            pools: 20,
            packets_per_pool: 300,
            user_count: 500,
            total_yuan: 1_000_000,
            purchase_count: 5000,
            merchant_count: 10,
            payer,
            batch_size: 1000,
            ..PromotionsConfig::new(mode)
        }
    }

    // Goal: both modes and both payers grab every packet of every pool and complete every
    // purchase with its two coupons, none refused; the budgets end spent to the fen (checked
    // inside `run`, an error otherwise) and the report has the keys later tooling reads.
    #[test]
    fn promotions_bench_runs_in_both_modes() {
        for mode in [PromotionsMode::StateMachine, PromotionsMode::Tcp] {
            for payer in [Payer::Account, Payer::Line] {
                let report = run(&tiny(mode, payer), &|_| {}).expect("runs");
                let what = format!("{mode:?} {payer:?}");
                assert_eq!(
                    report.rejected_count,
                    0,
                    "{what}: {:?}",
                    report.first_rejection()
                );
                assert!(report.verified, "{what}");
                assert_eq!(report.grabs.count, 6000, "{what}");
                assert_eq!(report.grabs.request_count, 6, "{what}");
                assert_eq!(report.coupons.count, 10_000, "{what}");
                assert_eq!(report.checkouts.count, 5000, "{what}");
                assert_eq!(report.captures.count, 5000, "{what}");
                assert!(report.grabs.per_second > 0.0, "{what}");
                assert!(report.purchases_with_coupons_per_second > 0.0, "{what}");
                assert!(
                    report.purchases_with_coupons_per_second < report.checkouts.per_second,
                    "{what}: a purchase is a checkout and a capture"
                );
                assert!(
                    report.grabs.latency_ms[2] >= report.grabs.latency_ms[0],
                    "{what}"
                );
                // Every purchase took 10 yuan off, and 5% of the rest up to 20 yuan.
                assert!(report.discount_fen > 5000 * (1000 + 450), "{what}");
                // A grab posts one transfer; a checkout three holds; a capture posts them.
                let transfers = report.transfer_count.expect("in process");
                assert!(transfers >= 6000 + 5000 * 6, "{what}: {transfers}");
                let json = report.to_json();
                for key in [
                    "\"grabs_per_second\":",
                    "\"purchases_with_coupons_per_second\":",
                    "\"checkouts_per_second\":",
                    "\"grab_latency_ms_p50\":",
                    "\"grab_latency_ms_p99\":",
                    "\"grab_latency_ms_max\":",
                    "\"checkout_latency_ms_p99\":",
                    "\"capture_latency_ms_max\":",
                    "\"rejected_count\":0,",
                    "\"grab_rejected_count\":0,",
                    "\"grab_count\":6000,",
                    "\"purchases\":5000,",
                    "\"verified\":true,",
                ] {
                    assert!(json.contains(key), "{json} lacks {key}");
                }
            }
        }
    }

    // Goal: against a running server, runs with different seeds use disjoint ids and both
    // succeed; repeating a seed is refused in the setup with a message that says what to do.
    #[test]
    fn tcp_against_a_running_server() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (node, _) = node::Node::open(node::Config::new(dir.path())).expect("node opens");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let (addr, local) = runtime
            .block_on(crate::tcp::start_server(&node))
            .expect("server starts");
        let remote = |seed| PromotionsConfig {
            addr: Some(addr.clone()),
            seed,
            purchase_count: 1000,
            ..tiny(PromotionsMode::Tcp, Payer::Account)
        };
        for seed in [1, 2] {
            let report = run(&remote(seed), &|_| {}).expect("runs");
            assert_eq!(report.rejected_count, 0);
            assert!(report.verified);
            assert_eq!(report.transfer_count, None);
        }
        let error = run(&remote(2), &|_| {}).expect_err("ids exist");
        assert!(error.contains("--seed"), "{error}");
        let _ = local.stop.send(());
        runtime.block_on(local.serving).expect("serves");
        node.read(|state| {
            state.ledger().check_conservation();
            state.promotions().check_records().expect("consistent");
        });
        node.shutdown();
    }

    // Goal: the plan gives each user at most one grab per pool, spreads the total over the
    // pools to the fen, and refuses what cannot run.
    #[test]
    fn plan_shapes() {
        let config = tiny(PromotionsMode::StateMachine, Payer::Account);
        let plan = Plan::new(&config).expect("valid");
        let total: u64 = (0..plan.pools).map(|p| plan.pool_amount(p)).sum();
        assert_eq!(total, 100_000_000);
        let mut seen = std::collections::HashSet::new();
        for g in 0..plan.grab_count() {
            let Command::GrabRedPacket {
                campaign_id,
                user_id,
                ..
            } = plan.grab(g)
            else {
                unreachable!()
            };
            assert!(
                seen.insert((campaign_id, user_id)),
                "grab {g} repeats a user"
            );
        }
        let odd = PromotionsConfig {
            total_yuan: 1_000_001,
            pools: 3,
            ..config.clone()
        };
        let plan = Plan::new(&odd).expect("valid");
        assert_eq!(
            (0..3).map(|p| plan.pool_amount(p)).sum::<u64>(),
            100_000_100
        );
        for bad in [
            PromotionsConfig {
                packets_per_pool: 501,
                ..config.clone()
            },
            PromotionsConfig {
                batch_size: PROMOTIONS_REQUEST_MAX + 1,
                ..config.clone()
            },
            PromotionsConfig {
                total_yuan: 1,
                ..config.clone()
            },
        ] {
            assert!(Plan::new(&bad).is_err());
        }
        // Tasks sharing a client could coalesce past a frame's 4096 records.
        let shared = PromotionsConfig {
            connections: Some(1),
            batch_size: 4096,
            ..tiny(PromotionsMode::Tcp, Payer::Account)
        };
        let error = run(&shared, &|_| {}).expect_err("refused");
        assert!(error.contains("--connections"), "{error}");
        assert_eq!(PROMOTIONS_REQUEST_MAX, 4096);
    }
}
