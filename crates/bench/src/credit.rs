//! `elevenfold bench credit`: consumer credit lines under load, durable, over the binary
//! protocol (or the state machine alone), then a day-close over every line.
//!
//! Phases, in order (only the authorizations and the day-close are the measured figures):
//! 1. setup: the program's ledger accounts (interest, fee, penalty, loss, recovery) and
//!    `merchant_count` merchant accounts, one program, then `line_count` lines (`open_line`
//!    commands in full requests);
//! 2. `authorization_count` purchase authorizations (`authorize`: a pending ledger transfer
//!    line → merchant, timing out after 7 days), each on a line and merchant drawn uniformly
//!    from the seed, in requests of `batch_size` commands from `clients` concurrent tasks, each
//!    waiting for its answer before sending again; every request is timed;
//! 3. `capture_percent` of the authorizations captured in full (untimed beyond a rate), so the
//!    statements of the day-close bill principal;
//! 4. the day-close of the business date over every line: `day_close` commands of up to
//!    `day_close_chunk` lines each, one request each, until the business date advances; timed
//!    as a whole. A line bills on its statement day: with `statement_percent` unset, statement
//!    days are spread uniformly over 1..=28, so about 1/28 of the lines get a statement that
//!    day (the business date is the 24th by default); otherwise that share of the lines has
//!    its statement day on the business date. Nothing is overdue or revolving yet (that needs a
//!    month of day-closes), so the day-close posts no interest or penalty.
//!
//! Modes: `tcp` runs a node and the binary listener in this process on a temporary directory
//! (as `bench ledger --mode tcp` does), or drives a server at `addr`; `state-machine` applies the
//! same requests to an `engine::StateMachine` on one core, with no log and no fsync, evicting
//! applied transfers every 16 batches as a node does once they are archived, with the node
//! writer's prefetch pass before every batch (`crate::machine`). It is the mode for the memory
//! and day-close figures of very many lines.
//!
//! Commands are derived from (seed, phase, index) by a counter-based hash, so each request is
//! built when it is sent: no workload sits in memory to inflate the resident set, and a run
//! is the same whatever the interleaving of tasks. Ids are sequential per kind from
//! `seed << 64` against a running server (0 otherwise), so runs with other seeds do not collide.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use client::{Client, ClientConfig};
use credit::math::{EarlySettlement, Rate, RoundingMode};
use credit::{Command, Component, CreditResult, DAY_CLOSE_LINES_MAX, Date, Program, StudentPolicy};
use engine::{Reply, Request, StateMachine};
use hdrhistogram::Histogram;
use ledger::{Account, AccountFlags};
use tokio::task::JoinSet;

use crate::machine::Machine;
use crate::{histogram, quantiles, record};

/// Which layer to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreditMode {
    /// `engine::StateMachine` alone: one core, no log, no fsync.
    StateMachine,
    /// The binary protocol through `client::Client`, durable (fsync before every reply).
    Tcp,
}

impl CreditMode {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            CreditMode::StateMachine => "state-machine",
            CreditMode::Tcp => "tcp",
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct CreditConfig {
    pub mode: CreditMode,
    pub line_count: u64,
    pub authorization_count: u64,
    /// Commands per request (per call to the client in `tcp`), at most 8189.
    pub batch_size: usize,
    /// Concurrent tasks, each waiting for its answer before sending again (`tcp`).
    pub clients: usize,
    /// `tcp`: clients (connections) the tasks share; `None`: one per task (at most 16) for
    /// full requests, one shared client otherwise (as `bench ledger --mode tcp`).
    pub connections: Option<usize>,
    pub merchant_count: u64,
    /// Share of the authorizations captured before the day-close, in percent.
    pub capture_percent: u8,
    /// Share of the lines whose statement day is the business date's day of the month, in
    /// percent; `None`: statement days uniform over 1..=28.
    pub statement_percent: Option<u8>,
    /// Lines per `day_close` command, 1..=1,000,000.
    pub day_close_chunk: u32,
    /// Consecutive business dates to close, from `date` (1..=366). With no repayments, lines
    /// billed on a statement go overdue after their due day and accrue a penalty every day
    /// after: by the 40th day nine in ten billed lines are overdue (the rest are billed but not
    /// yet due), the day-close's heavy case.
    pub days: u32,
    /// The program's start date: the business date the day-close closes. Against a running
    /// server whose business date is already set, pass that date.
    pub date: Date,
    pub seed: u64,
    /// `tcp`: a running server's binary-protocol address instead of one started here.
    pub addr: Option<String>,
    /// `tcp` started here: the node's data directory (default: a temporary one).
    pub data_dir: Option<PathBuf>,
    /// Size the transfer id index for this many transfers up front (`transfers_reserve`).
    pub transfers_reserve: u64,
}

impl CreditConfig {
    /// The defaults of `elevenfold bench credit`.
    #[must_use]
    pub fn new(mode: CreditMode) -> CreditConfig {
        CreditConfig {
            mode,
            line_count: 1_000_000,
            authorization_count: 5_000_000,
            batch_size: engine::REQUEST_EVENTS_MAX,
            clients: 4,
            connections: None,
            merchant_count: 1000,
            capture_percent: 50,
            statement_percent: None,
            day_close_chunk: DAY_CLOSE_LINES_MAX,
            days: 1,
            date: Date::from_ymd(2026, 11, 24).expect("a valid date"),
            seed: 1,
            addr: None,
            data_dir: None,
            transfers_reserve: 0,
        }
    }
}

/// What was measured.
#[derive(Clone, Debug)]
pub struct CreditReport {
    pub mode: &'static str,
    pub line_count: u64,
    pub authorization_count: u64,
    pub capture_count: u64,
    pub merchant_count: u64,
    pub batch_size: usize,
    pub clients: usize,
    pub seed: u64,
    pub date: Date,
    pub day_close_chunk: u32,
    pub statement_percent: Option<u8>,
    pub open_lines_per_second: f64,
    pub authorizations_per_second: f64,
    pub authorization_seconds: f64,
    /// "request" when every call is a full request (or `state-machine`: one apply); "call"
    /// when the client coalesced smaller calls into requests.
    pub latency_kind: &'static str,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_max: f64,
    /// Requests (calls) that carried the authorizations.
    pub request_count: u64,
    /// Authorizations refused (none, unless a line ran out of credit).
    pub rejected_count: u64,
    pub captures_per_second: f64,
    /// Business dates closed, one after the other.
    pub day_close_days: u32,
    /// The slowest day-close (each over every line); the first and the last.
    pub day_close_seconds: f64,
    pub day_close_seconds_first: f64,
    pub day_close_seconds_last: f64,
    /// `day_close` commands sent (one request each), over all the days.
    pub day_close_chunks: u32,
    /// Ledger transfers the day-closes posted (interest, penalties, write-offs), read from the
    /// state (`None` against a running server).
    pub day_close_postings: Option<u64>,
    /// Lines the plan gives a statement on the first business date.
    pub statement_lines: u64,
    /// Lines whose last statement is dated one of the closed business dates, read from the
    /// state (`None` against a running server).
    pub statements_issued: Option<u64>,
    /// Of those, statements with a balance to pay.
    pub statements_billed: Option<u64>,
    /// Lines overdue, and lines revolving (accruing interest), after the last day-close.
    pub overdue_lines: Option<u64>,
    pub revolving_lines: Option<u64>,
    /// The business date after the day-close (`None` against a running server).
    pub business_date: Option<Date>,
    /// This process's resident set (`VmRSS`) after the day-close, and its peak (`VmHWM`); with
    /// the node in process that is the server's memory (plus the client's).
    pub rss_bytes: u64,
    pub rss_peak_bytes: u64,
    /// `size_of::<credit::Line>()`: the fixed part of every line's memory.
    pub line_struct_bytes: usize,
}

fn json_option<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "null".to_string(), |v| v.to_string())
}

impl CreditReport {
    /// One JSON object, keys in a fixed order; absent values are `null`.
    #[must_use]
    pub fn to_json(&self) -> String {
        format!(
            concat!(
                "{{\"bench\":\"credit\",\"mode\":\"{}\",\"line_count\":{},",
                "\"authorization_count\":{},\"capture_count\":{},\"merchant_count\":{},",
                "\"batch_size\":{},\"clients\":{},\"seed\":{},\"date\":\"{}\",",
                "\"day_close_chunk\":{},\"statement_percent\":{},",
                "\"open_lines_per_second\":{:.0},\"authorizations_per_second\":{:.0},",
                "\"authorization_seconds\":{:.3},\"latency_kind\":\"{}\",",
                "\"latency_ms_p50\":{:.3},\"latency_ms_p99\":{:.3},\"latency_ms_max\":{:.3},",
                "\"request_count\":{},\"rejected_count\":{},\"captures_per_second\":{:.0},",
                "\"day_close_days\":{},\"day_close_seconds\":{:.3},",
                "\"day_close_seconds_first\":{:.3},\"day_close_seconds_last\":{:.3},",
                "\"day_close_chunks\":{},\"day_close_postings\":{},\"statement_lines\":{},",
                "\"statements_issued\":{},\"statements_billed\":{},\"overdue_lines\":{},",
                "\"revolving_lines\":{},\"business_date\":{},",
                "\"rss_bytes\":{},\"rss_peak_bytes\":{},\"line_struct_bytes\":{}}}"
            ),
            self.mode,
            self.line_count,
            self.authorization_count,
            self.capture_count,
            self.merchant_count,
            self.batch_size,
            self.clients,
            self.seed,
            self.date,
            self.day_close_chunk,
            json_option(self.statement_percent),
            self.open_lines_per_second,
            self.authorizations_per_second,
            self.authorization_seconds,
            self.latency_kind,
            self.latency_ms_p50,
            self.latency_ms_p99,
            self.latency_ms_max,
            self.request_count,
            self.rejected_count,
            self.captures_per_second,
            self.day_close_days,
            self.day_close_seconds,
            self.day_close_seconds_first,
            self.day_close_seconds_last,
            self.day_close_chunks,
            json_option(self.day_close_postings),
            self.statement_lines,
            json_option(self.statements_issued),
            json_option(self.statements_billed),
            json_option(self.overdue_lines),
            json_option(self.revolving_lines),
            json_option(self.business_date.map(|d| format!("\"{d}\""))),
            self.rss_bytes,
            self.rss_peak_bytes,
            self.line_struct_bytes,
        )
    }

    /// A few human-readable lines.
    #[must_use]
    pub fn to_text(&self) -> String {
        #[expect(clippy::cast_precision_loss, reason = "reporting only")]
        let gib = |bytes: u64| bytes as f64 / f64::from(1u32 << 30);
        let mut text = format!(
            "credit, mode {}: {} lines, {} authorizations over {} merchants, batch {}, {} clients\n\
             open lines {:.0}/s\n\
             authorizations {:.0}/s in {:.2} s ({} rejected, {} requests)\n\
             latency per {}: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms\n\
             captures {} at {:.0}/s\n",
            self.mode,
            self.line_count,
            self.authorization_count,
            self.merchant_count,
            self.batch_size,
            self.clients,
            self.open_lines_per_second,
            self.authorizations_per_second,
            self.authorization_seconds,
            self.rejected_count,
            self.request_count,
            self.latency_kind,
            self.latency_ms_p50,
            self.latency_ms_p99,
            self.latency_ms_max,
            self.capture_count,
            self.captures_per_second,
        );
        if self.day_close_days == 1 {
            text.push_str(&format!(
                "day-close of {} over {} lines: {:.3} s",
                self.date, self.line_count, self.day_close_seconds
            ));
        } else {
            text.push_str(&format!(
                "{} day-closes from {} over {} lines: slowest {:.3} s, first {:.3} s, last {:.3} s",
                self.day_close_days,
                self.date,
                self.line_count,
                self.day_close_seconds,
                self.day_close_seconds_first,
                self.day_close_seconds_last
            ));
        }
        text.push_str(&format!(
            " ({} chunk(s) of up to {} lines)\n",
            self.day_close_chunks, self.day_close_chunk
        ));
        if let (Some(issued), Some(billed), Some(postings), Some(overdue), Some(revolving)) = (
            self.statements_issued,
            self.statements_billed,
            self.day_close_postings,
            self.overdue_lines,
            self.revolving_lines,
        ) {
            text.push_str(&format!(
                "{issued} statements ({billed} with a balance), {postings} postings, \
                 {overdue} lines overdue, {revolving} revolving\n"
            ));
        } else {
            text.push_str(&format!(
                "{} lines with a statement on the first date\n",
                self.statement_lines
            ));
        }
        text.push_str(&format!(
            "RSS {:.2} GiB, peak {:.2} GiB",
            gib(self.rss_bytes),
            gib(self.rss_peak_bytes)
        ));
        text
    }
}

// ---------------------------------------------------------------------------------------------
// The plan: every account, program and command as a pure function of (config, index).

pub(crate) const LEDGER: u32 = 156;
pub(crate) const CODE: u16 = 1;
/// Authorization amounts are uniform in 1..=AMOUNT_MAX fen.
const AMOUNT_MAX: u64 = 10_000;
const AUTHORIZATION_TIMEOUT_SECONDS: u32 = 7 * 24 * 3600;
/// 50,000.00 yuan, unless the authorizations per line need more (see `Plan::new`).
const LINE_LIMIT_MIN: u64 = 5_000_000;
const PROGRAM_ID_OFFSET: u128 = 100;
const MERCHANT_ID_OFFSET: u128 = 1_000;
const LINE_ID_OFFSET: u128 = 1 << 40;
const AUTHORIZATION_ID_OFFSET: u128 = 2 << 40;
const CAPTURE_ID_OFFSET: u128 = 3 << 40;
/// Counts stay below this so each kind of id keeps to its own range.
const COUNT_MAX: u64 = 1 << 39;
const MERCHANT_COUNT_MAX: u64 = 1_000_000;

const STREAM_LINE: u64 = 1;
const STREAM_MERCHANT: u64 = 2;
const STREAM_AMOUNT: u64 = 3;
const STREAM_STATEMENT: u64 = 4;

/// A counter-based draw: SplitMix64's finalizer over (seed, stream, index).
pub(crate) fn draw(seed: u64, stream: u64, index: u64) -> u64 {
    let mut z = seed
        .wrapping_add(stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(index.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Which commands a request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    OpenLines,
    Authorize,
    Capture,
}

struct Plan {
    base: u128,
    seed: u64,
    line_count: u64,
    authorization_count: u64,
    merchant_count: u64,
    capture_percent: u64,
    statement_percent: Option<u64>,
    batch_size: u64,
    date: Date,
    days: u32,
    limit: u64,
}

impl Plan {
    fn new(config: &CreditConfig) -> Result<Plan, String> {
        if config.line_count == 0 || config.line_count > u64::from(u32::MAX) {
            return Err("--lines must be from 1 to 4294967295".to_string());
        }
        if config.authorization_count >= COUNT_MAX {
            return Err(format!("--authorizations must be below {COUNT_MAX}"));
        }
        if !(1..=MERCHANT_COUNT_MAX).contains(&config.merchant_count) {
            return Err(format!(
                "--merchants must be from 1 to {MERCHANT_COUNT_MAX}"
            ));
        }
        if config.capture_percent > 100 || config.statement_percent.is_some_and(|p| p > 100) {
            return Err("percentages are from 0 to 100".to_string());
        }
        if !(1..=366).contains(&config.days) {
            return Err("--days must be from 1 to 366".to_string());
        }
        if !(1..=DAY_CLOSE_LINES_MAX).contains(&config.day_close_chunk) {
            return Err(format!(
                "--day-close-chunk must be from 1 to {DAY_CLOSE_LINES_MAX}"
            ));
        }
        let base = match config.addr {
            Some(_) => u128::from(config.seed) << 64,
            None => 0,
        };
        if base + CAPTURE_ID_OFFSET + u128::from(COUNT_MAX) >= ledger::RESERVED_ID_MIN {
            return Err("--seed is too large: its ids would be reserved ones".to_string());
        }
        // Room for four times the mean authorizations per line at the largest amount, so
        // a uniform spread never runs a line out of credit.
        let per_line = config.authorization_count.div_ceil(config.line_count);
        let limit = LINE_LIMIT_MIN.max(AMOUNT_MAX.saturating_mul(4 * per_line + 16));
        Ok(Plan {
            base,
            seed: config.seed,
            line_count: config.line_count,
            authorization_count: config.authorization_count,
            merchant_count: config.merchant_count,
            capture_percent: u64::from(config.capture_percent),
            statement_percent: config.statement_percent.map(u64::from),
            batch_size: config.batch_size.clamp(1, engine::REQUEST_EVENTS_MAX) as u64,
            date: config.date,
            days: config.days,
            limit,
        })
    }

    fn account_ids(&self) -> [u128; 5] {
        [1, 2, 3, 4, 5].map(|offset| self.base + offset)
    }

    fn merchant_id(&self, merchant: u64) -> u128 {
        self.base + MERCHANT_ID_OFFSET + u128::from(merchant)
    }

    fn line_id(&self, line: u64) -> u128 {
        self.base + LINE_ID_OFFSET + 1 + u128::from(line)
    }

    fn accounts(&self) -> Vec<Account> {
        let merchants = (0..self.merchant_count).map(|m| self.merchant_id(m));
        self.account_ids()
            .into_iter()
            .chain(merchants)
            .map(|id| Account {
                id,
                ledger: LEDGER,
                code: CODE,
                flags: AccountFlags(0),
                ..Account::default()
            })
            .collect()
    }

    /// Huabei-like terms: 10% minimum payment, 0.05%/day interest and penalty.
    fn program(&self) -> Program {
        huabei_program(
            self.base + PROGRAM_ID_OFFSET,
            self.account_ids(),
            self.date,
            self.limit,
        )
    }

    /// The business date's day of the month, if a statement can fall on it (1..=28).
    fn statement_today(&self) -> Option<u64> {
        Some(u64::from(self.date.day_of_month())).filter(|d| *d <= 28)
    }

    fn statement_day(&self, line: u64) -> u8 {
        let r = draw(self.seed, STREAM_STATEMENT, line);
        let day = match (self.statement_percent, self.statement_today()) {
            (Some(percent), Some(today)) => {
                if r % 100 < percent {
                    today
                } else {
                    // Uniform over the 27 other days.
                    let other = 1 + (r >> 8) % 27;
                    if other >= today { other + 1 } else { other }
                }
            }
            _ => 1 + r % 28,
        };
        u8::try_from(day).expect("a day of the month")
    }

    /// Lines with a statement on the business date.
    fn statement_lines(&self) -> u64 {
        let Some(today) = self.statement_today() else {
            return 0;
        };
        (0..self.line_count)
            .filter(|&line| u64::from(self.statement_day(line)) == today)
            .count() as u64
    }

    fn open_line(&self, line: u64) -> Command {
        let statement_day = self.statement_day(line);
        let id = self.line_id(line);
        Command::OpenLine {
            id,
            borrower_id: id,
            program_id: self.base + PROGRAM_ID_OFFSET,
            limit: self.limit,
            annual_income: 0,
            birth_date: Date::from_ymd(1990, 1, 1).expect("a valid date"),
            statement_day,
            // About nine days after the statement.
            due_day: (statement_day - 1 + 9) % 28 + 1,
            applicant: 0,
        }
    }

    fn authorization_line(&self, k: u64) -> u64 {
        draw(self.seed, STREAM_LINE, k) % self.line_count
    }

    fn authorize(&self, k: u64) -> Command {
        Command::Authorize {
            id: self.base + AUTHORIZATION_ID_OFFSET + 1 + u128::from(k),
            line_id: self.line_id(self.authorization_line(k)),
            merchant_account_id: self
                .merchant_id(draw(self.seed, STREAM_MERCHANT, k) % self.merchant_count),
            amount: 1 + draw(self.seed, STREAM_AMOUNT, k) % AMOUNT_MAX,
            timeout: AUTHORIZATION_TIMEOUT_SECONDS,
        }
    }

    /// Authorizations captured: in each hundred, the first `capture_percent`. Lines are drawn
    /// independently of the index, so that is a uniform share of every line's purchases.
    fn capture_count(&self) -> u64 {
        let n = self.authorization_count;
        n / 100 * self.capture_percent + (n % 100).min(self.capture_percent)
    }

    fn capture(&self, c: u64) -> Command {
        let k = c / self.capture_percent * 100 + c % self.capture_percent;
        Command::Capture {
            id: self.base + CAPTURE_ID_OFFSET + 1 + u128::from(k),
            line_id: self.line_id(self.authorization_line(k)),
            purchase_id: self.base + AUTHORIZATION_ID_OFFSET + 1 + u128::from(k),
            amount: 0,
        }
    }

    fn count(&self, phase: Phase) -> u64 {
        match phase {
            Phase::OpenLines => self.line_count,
            Phase::Authorize => self.authorization_count,
            Phase::Capture => self.capture_count(),
        }
    }

    /// Requests of this phase: full ones (8189) for setup, `batch_size` for authorizations.
    fn request_size(&self, phase: Phase) -> u64 {
        match phase {
            Phase::Authorize => self.batch_size,
            Phase::OpenLines | Phase::Capture => engine::REQUEST_EVENTS_MAX as u64,
        }
    }

    fn request_count(&self, phase: Phase) -> u64 {
        self.count(phase).div_ceil(self.request_size(phase))
    }

    /// The commands of request `r` of `phase`.
    fn request(&self, phase: Phase, r: u64) -> Vec<Command> {
        let size = self.request_size(phase);
        let start = r * size;
        let end = (start + size).min(self.count(phase));
        (start..end)
            .map(|i| match phase {
                Phase::OpenLines => self.open_line(i),
                Phase::Authorize => self.authorize(i),
                Phase::Capture => self.capture(i),
            })
            .collect()
    }
}

/// `VmRSS` and `VmHWM` of this process, in bytes (0 where `/proc` is missing).
pub(crate) fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map_or(0, |kib| kib * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// What one phase measured.
struct Driven {
    elapsed: Duration,
    latency: Histogram<u64>,
    rejected: u64,
    /// The first refusal: (index of the command in its phase, result).
    first_rejection: Option<(u64, CreditResult)>,
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

    fn reject(&mut self, index: u64, result: CreditResult) {
        self.rejected += 1;
        if self.first_rejection.is_none_or(|(first, _)| index < first) {
            self.first_rejection = Some((index, result));
        }
    }

    /// An error naming the first refusal of a setup phase, if any.
    fn require_none(&self, what: &str) -> Result<(), String> {
        match self.first_rejection {
            None => Ok(()),
            Some((index, result)) => Err(format!(
                "{what}: {} refused, the first (#{index}) with {} (against a running server, \
                 give each run its own --seed)",
                self.rejected,
                result.name()
            )),
        }
    }
}

/// What the day-closes did.
#[derive(Default)]
struct DayClosed {
    /// Each day's day-close, over every line.
    days: Vec<Duration>,
    chunks: u32,
    /// Ledger transfers they posted, when the state is in this process.
    postings: Option<u64>,
}

/// Runs the credit benchmark. `progress` is called with the share done (0..=1).
pub fn run(config: &CreditConfig, progress: &(dyn Fn(f64) + Sync)) -> Result<CreditReport, String> {
    let plan = Plan::new(config)?;
    if config.mode == CreditMode::StateMachine && config.addr.is_some() {
        return Err("--addr is for the tcp mode".to_string());
    }
    match config.mode {
        CreditMode::StateMachine => run_state_machine(config, plan, progress),
        CreditMode::Tcp => run_tcp(config, plan, progress),
    }
}

/// Where each phase sits on the progress bar: (start, width).
fn phase_span(phase: Phase) -> (f64, f64) {
    match phase {
        Phase::OpenLines => (0.0, 0.2),
        Phase::Authorize => (0.2, 0.6),
        Phase::Capture => (0.8, 0.15),
    }
}

#[expect(clippy::cast_precision_loss, reason = "progress and reporting only")]
pub(crate) fn share(done: u64, total: u64) -> f64 {
    done as f64 / total.max(1) as f64
}

#[expect(clippy::cast_precision_loss, reason = "reporting only")]
pub(crate) fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// The state the checks and the report read after the day-close.
struct Outcome {
    statements_issued: u64,
    statements_billed: u64,
    overdue_lines: u64,
    revolving_lines: u64,
    business_date: Date,
}

/// Checks the state after the run (conservation, every line against its account, the date
/// advanced, every line present) and counts the statements the day-closes issued.
fn inspect(plan: &Plan, state: &StateMachine) -> Result<Outcome, String> {
    state.ledger().check_conservation();
    let credit = state.credit();
    credit.check_lines(state.ledger());
    let mut outcome = Outcome {
        statements_issued: 0,
        statements_billed: 0,
        overdue_lines: 0,
        revolving_lines: 0,
        business_date: credit.business_date(),
    };
    for line in 0..plan.line_count {
        let id = plan.line_id(line);
        let line = credit
            .line(id)
            .ok_or_else(|| format!("line {id} is missing"))?;
        if line.statement.date >= plan.date {
            outcome.statements_issued += 1;
            if line.statement.balance > 0 {
                outcome.statements_billed += 1;
            }
        }
        outcome.overdue_lines += u64::from(line.overdue());
        outcome.revolving_lines += u64::from(line.revolving);
    }
    if outcome.business_date != plan.date.plus(plan.days) {
        return Err(format!(
            "the business date is {} after closing {}",
            outcome.business_date, plan.date
        ));
    }
    Ok(outcome)
}

#[allow(clippy::too_many_arguments)]
fn report(
    config: &CreditConfig,
    plan: &Plan,
    opened: &Driven,
    authorized: &Driven,
    captured: &Driven,
    closed: &DayClosed,
    outcome: Option<&Outcome>,
    latency_kind: &'static str,
    request_count: u64,
) -> CreditReport {
    let [p50, p99, max] = quantiles(&authorized.latency);
    let (rss_bytes, rss_peak_bytes) = rss();
    let seconds = |d: Option<&Duration>| d.map_or(0.0, Duration::as_secs_f64);
    CreditReport {
        mode: config.mode.name(),
        line_count: plan.line_count,
        authorization_count: plan.authorization_count,
        capture_count: plan.capture_count(),
        merchant_count: plan.merchant_count,
        batch_size: usize::try_from(plan.batch_size).expect("at most 8189"),
        clients: config.clients,
        seed: config.seed,
        date: plan.date,
        day_close_chunk: config.day_close_chunk,
        statement_percent: config.statement_percent,
        open_lines_per_second: per_second(plan.line_count, opened.elapsed),
        authorizations_per_second: per_second(plan.authorization_count, authorized.elapsed),
        authorization_seconds: authorized.elapsed.as_secs_f64(),
        latency_kind,
        latency_ms_p50: p50,
        latency_ms_p99: p99,
        latency_ms_max: max,
        request_count,
        rejected_count: authorized.rejected,
        captures_per_second: per_second(plan.capture_count(), captured.elapsed),
        day_close_days: plan.days,
        day_close_seconds: seconds(closed.days.iter().max()),
        day_close_seconds_first: seconds(closed.days.first()),
        day_close_seconds_last: seconds(closed.days.last()),
        day_close_chunks: closed.chunks,
        day_close_postings: closed.postings,
        statement_lines: plan.statement_lines(),
        statements_issued: outcome.map(|o| o.statements_issued),
        statements_billed: outcome.map(|o| o.statements_billed),
        overdue_lines: outcome.map(|o| o.overdue_lines),
        revolving_lines: outcome.map(|o| o.revolving_lines),
        business_date: outcome.map(|o| o.business_date),
        rss_bytes,
        rss_peak_bytes,
        line_struct_bytes: std::mem::size_of::<credit::Line>(),
    }
}

// ---------------------------------------------------------------------------------------------
// State machine: one core, no log.

fn credit_results(reply: Reply) -> Vec<CreditResult> {
    match reply {
        Reply::Credit(results) | Reply::CreatePrograms(results) => results,
        other => panic!("a credit reply expected, got {other:?}"),
    }
}

fn run_state_machine(
    config: &CreditConfig,
    plan: Plan,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<CreditReport, String> {
    let mut machine = Machine::new();
    if config.transfers_reserve > 0 {
        machine.state.reserve_transfers(
            usize::try_from(config.transfers_reserve).map_err(|e| e.to_string())?,
        );
    }
    for chunk in plan.accounts().chunks(engine::REQUEST_EVENTS_MAX) {
        match machine.apply_one(Request::CreateAccounts(chunk.to_vec())) {
            Reply::CreateAccounts(results) if results.iter().all(|r| r.name() == "ok") => {}
            other => return Err(format!("creating accounts: {other:?}")),
        }
    }
    let program = credit_results(machine.apply_one(Request::CreatePrograms(vec![plan.program()])));
    if program != [CreditResult::Ok] {
        return Err(format!("creating the program: {program:?}"));
    }
    let opened = apply_phase(&mut machine, &plan, Phase::OpenLines, progress);
    opened.require_none("opening lines")?;
    let authorized = apply_phase(&mut machine, &plan, Phase::Authorize, progress);
    let captured = apply_phase(&mut machine, &plan, Phase::Capture, progress);
    if authorized.rejected == 0 {
        captured.require_none("capturing")?;
    }
    progress(0.95);
    let transfers_before = machine.state.ledger().transfer_count();
    let mut closed = DayClosed::default();
    for day in 0..plan.days {
        let date = plan.date.plus(day);
        let started = Instant::now();
        while machine.state.credit().business_date() == date {
            let command = Command::DayClose {
                date,
                max_lines: config.day_close_chunk,
            };
            let results = credit_results(machine.apply_one(Request::Credit(vec![command])));
            if results != [CreditResult::Ok] {
                return Err(format!(
                    "day-close of {date} refused: {}",
                    results[0].name()
                ));
            }
            closed.chunks += 1;
        }
        closed.days.push(started.elapsed());
        progress(0.95 + 0.05 * share(u64::from(day + 1), u64::from(plan.days)));
    }
    closed.postings = Some(machine.state.ledger().transfer_count() - transfers_before);
    let outcome = inspect(&plan, &machine.state)?;
    progress(1.0);
    let request_count = plan.request_count(Phase::Authorize);
    Ok(report(
        config,
        &plan,
        &opened,
        &authorized,
        &captured,
        &closed,
        Some(&outcome),
        "request",
        request_count,
    ))
}

/// Applies every request of a phase, timing each apply.
fn apply_phase(
    machine: &mut Machine,
    plan: &Plan,
    phase: Phase,
    progress: &(dyn Fn(f64) + Sync),
) -> Driven {
    let (offset, width) = phase_span(phase);
    let total = plan.request_count(phase);
    let size = plan.request_size(phase);
    let mut driven = Driven::new();
    let started = Instant::now();
    for r in 0..total {
        let commands = plan.request(phase, r);
        let request_started = Instant::now();
        let results = credit_results(machine.apply_one(Request::Credit(commands)));
        record(&mut driven.latency, request_started.elapsed());
        for (i, result) in results.into_iter().enumerate() {
            if result != CreditResult::Ok {
                driven.reject(r * size + i as u64, result);
            }
        }
        if r.is_multiple_of(16) {
            progress(offset + width * share(r, total));
        }
    }
    driven.elapsed = started.elapsed();
    driven
}

// ---------------------------------------------------------------------------------------------
// Binary protocol: a node and listener here, or a running server.

/// The cluster of a server started here, and the one asked of a server at `addr`.
const CLUSTER_ID: u128 = 0;
/// Connections opened for full requests when `connections` is not given.
const CONNECTIONS_AUTO_MAX: usize = 16;

fn run_tcp(
    config: &CreditConfig,
    plan: Plan,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<CreditReport, String> {
    let server = crate::tcp::BenchServer::open(
        config.addr.as_ref(),
        config.data_dir.as_ref(),
        config.transfers_reserve,
    )?;
    let plan = Arc::new(plan);
    let result = server
        .drive(async |addr| measure(config, &plan, server.node.as_ref(), &addr, progress).await);
    let result = match (&server.node, result) {
        (Some(node), Ok(mut report)) => match node.read(|state| inspect(&plan, state)) {
            Ok(outcome) => {
                report.statements_issued = Some(outcome.statements_issued);
                report.statements_billed = Some(outcome.statements_billed);
                report.overdue_lines = Some(outcome.overdue_lines);
                report.revolving_lines = Some(outcome.revolving_lines);
                report.business_date = Some(outcome.business_date);
                Ok(report)
            }
            Err(error) => Err(error),
        },
        (_, result) => result,
    };
    server.shutdown();
    result
}

async fn measure(
    config: &CreditConfig,
    plan: &Arc<Plan>,
    node: Option<&node::Node>,
    addr: &str,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<CreditReport, String> {
    let full = plan.batch_size >= engine::REQUEST_EVENTS_MAX as u64;
    let connections = config.connections.unwrap_or(if full {
        config.clients.clamp(1, CONNECTIONS_AUTO_MAX)
    } else {
        1
    });
    let mut clients = Vec::new();
    for _ in 0..connections.max(1) {
        let client = Client::connect_with(addr, ClientConfig::new(CLUSTER_ID))
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        clients.push(client);
    }
    let setup = &clients[0];
    for chunk in plan.accounts().chunks(engine::REQUEST_EVENTS_MAX) {
        let failures = setup
            .create_accounts(chunk.to_vec())
            .await
            .map_err(|e| format!("creating accounts: {e}"))?;
        if let Some((index, code)) = failures.first() {
            return Err(format!(
                "creating account {}: {} (against a running server, give each run its own \
                 --seed: ids start at seed * 2^64)",
                chunk[*index as usize].id,
                code.name()
            ));
        }
    }
    let failures = setup
        .create_programs(vec![plan.program()])
        .await
        .map_err(|e| format!("creating the program: {e}"))?;
    if let Some((_, code)) = failures.first() {
        return Err(format!("creating the program: {}", code.name()));
    }
    let tasks = config.clients.max(1);
    let opened = drive(&clients, tasks, plan, Phase::OpenLines, progress).await?;
    opened.require_none("opening lines")?;
    let before: u64 = clients.iter().map(|c| c.stats().requests).sum();
    let authorized = drive(&clients, tasks, plan, Phase::Authorize, progress).await?;
    let request_count = clients.iter().map(|c| c.stats().requests).sum::<u64>() - before;
    let captured = drive(&clients, tasks, plan, Phase::Capture, progress).await?;
    if authorized.rejected == 0 {
        captured.require_none("capturing")?;
    }
    progress(0.95);
    let transfers = || node.map(|node| node.read(|state| state.ledger().transfer_count()));
    let transfers_before = transfers();
    let mut closed = DayClosed::default();
    for day in 0..plan.days {
        let date = plan.date.plus(day);
        let started = Instant::now();
        closed.chunks += day_close(setup, config, date, node).await?;
        closed.days.push(started.elapsed());
        progress(0.95 + 0.05 * share(u64::from(day + 1), u64::from(plan.days)));
    }
    closed.postings = transfers()
        .zip(transfers_before)
        .map(|(after, before)| after - before);
    Ok(report(
        config,
        plan,
        &opened,
        &authorized,
        &captured,
        &closed,
        None,
        if full { "request" } else { "call" },
        request_count,
    ))
}

/// `tasks` tasks sharing `clients`, each taking the next request of the phase and waiting
/// for its answer before taking another; each call is timed.
async fn drive(
    clients: &[Client],
    tasks: usize,
    plan: &Arc<Plan>,
    phase: Phase,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<Driven, String> {
    let (offset, width) = phase_span(phase);
    let total = plan.request_count(phase);
    let size = plan.request_size(phase);
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let started = tokio::time::Instant::now();
    let mut set = JoinSet::new();
    for task in 0..tasks {
        let client = clients[task % clients.len()].clone();
        let plan = Arc::clone(plan);
        let next = Arc::clone(&next);
        let done = Arc::clone(&done);
        set.spawn(async move {
            // Microseconds per call, and the refusals as (index in the phase, result).
            let mut latencies: Vec<u32> = Vec::new();
            let mut refused: Vec<(u64, CreditResult)> = Vec::new();
            loop {
                let r = next.fetch_add(1, Ordering::Relaxed) as u64;
                if r >= total {
                    break;
                }
                let commands = plan.request(phase, r);
                let call_started = tokio::time::Instant::now();
                let failures = client
                    .credit(commands)
                    .await
                    .map_err(|e| format!("credit commands: {e}"))?;
                let us = call_started.elapsed().as_micros();
                latencies.push(u32::try_from(us).unwrap_or(u32::MAX));
                refused.extend(
                    failures
                        .into_iter()
                        .map(|(index, code)| (r * size + u64::from(index), code)),
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
                for (index, code) in refused {
                    driven.reject(index, code);
                }
            }
            _ = tick.tick() => {
                progress(offset + width * share(done.load(Ordering::Relaxed), total));
            }
        }
    }
    driven.elapsed = started.elapsed();
    Ok(driven)
}

/// Closes business date `date`: `day_close` commands, one request each, until the date moves;
/// returns how many were applied. In process the node's state says when the date moved;
/// against a running server, the command after the last chunk is refused with
/// `date_must_be_business_date` (one extra round trip).
async fn day_close(
    client: &Client,
    config: &CreditConfig,
    date: Date,
    node: Option<&node::Node>,
) -> Result<u32, String> {
    let command = Command::DayClose {
        date,
        max_lines: config.day_close_chunk,
    };
    let mut chunks = 0u32;
    loop {
        let failures = client
            .credit(vec![command])
            .await
            .map_err(|e| format!("day-close: {e}"))?;
        match failures.first() {
            None => chunks += 1,
            Some((_, CreditResult::DateMustBeBusinessDate)) if chunks > 0 => return Ok(chunks),
            Some((_, code)) => {
                return Err(format!(
                    "day-close of {date} refused: {} (is the server's business date --date?)",
                    code.name()
                ));
            }
        }
        if let Some(node) = node
            && node.read(|state| state.credit().business_date()) != date
        {
            return Ok(chunks);
        }
    }
}

/// Huabei-like terms on the bench ledger: 10% minimum payment, 0.05%/day interest and penalty,
/// no reward coins, no co-funding (the figures are those of the line itself). `accounts` are
/// the interest, fee, penalty, loss and recovery accounts.
pub(crate) fn huabei_program(
    id: u128,
    accounts: [u128; 5],
    start_date: Date,
    limit: u64,
) -> Program {
    let [interest, fee, penalty, loss, recovery] = accounts;
    Program {
        id,
        ledger: LEDGER,
        code: CODE,
        interest_account_id: interest,
        fee_account_id: fee,
        penalty_account_id: penalty,
        loss_account_id: loss,
        recovery_account_id: recovery,
        start_date,
        statement_day: 1,
        due_day: 10,
        min_payment_rate: Rate(1_000_000_000),
        min_payment_floor: 0,
        interest_daily_rate: Rate(5_000_000),
        penalty_daily_rate: Rate(5_000_000),
        penalty_min_per_day: 1,
        write_off_days: 90,
        apr_cap: Rate(2_400_000_000),
        max_borrower_limit: limit,
        dti_cap_bps: 0,
        min_age: 18,
        student_policy: StudentPolicy::Block,
        waterfall: [
            Component::Penalty,
            Component::Fee,
            Component::Interest,
            Component::Principal,
        ],
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(mode: CreditMode) -> CreditConfig {
        CreditConfig {
            line_count: 1000,
            authorization_count: 10_000,
            merchant_count: 10,
            ..CreditConfig::new(mode)
        }
    }

    // Goal: both modes open every line, authorize every purchase with none refused, and close
    // the day over every line in chunks; the day-close bills the lines whose statement day it
    // is (about 1/28 of them by default), and the report has the keys later tooling reads.
    #[test]
    fn credit_bench_runs_in_both_modes() {
        for mode in [CreditMode::StateMachine, CreditMode::Tcp] {
            let config = CreditConfig {
                day_close_chunk: 300,
                ..tiny(mode)
            };
            let report = run(&config, &|_| {}).expect("runs");
            assert_eq!(report.line_count, 1000, "{mode:?}");
            assert_eq!(report.authorization_count, 10_000, "{mode:?}");
            assert_eq!(report.capture_count, 5000, "{mode:?}");
            assert_eq!(report.rejected_count, 0, "{mode:?}");
            assert_eq!(
                report.request_count, 2,
                "{mode:?}: 10,000 in requests of 8189"
            );
            assert_eq!(
                report.day_close_chunks, 4,
                "{mode:?}: 1000 lines in chunks of 300"
            );
            assert!(report.authorizations_per_second > 0.0, "{mode:?}");
            assert!(report.latency_ms_max >= report.latency_ms_p50, "{mode:?}");
            let issued = report.statements_issued.expect("read in process");
            assert_eq!(issued, report.statement_lines, "{mode:?}");
            assert!(
                (10..80).contains(&issued),
                "{mode:?}: about 1000/28: {issued}"
            );
            let billed = report.statements_billed.expect("read in process");
            assert!(
                billed > 0 && billed <= issued,
                "{mode:?}: {billed} of {issued}"
            );
            assert_eq!(
                report.business_date,
                Date::from_ymd(2026, 11, 25),
                "{mode:?}"
            );
            assert!(report.rss_bytes > 0 && report.rss_peak_bytes >= report.rss_bytes);
            let json = report.to_json();
            for key in [
                "\"authorizations_per_second\":",
                "\"latency_ms_p50\":",
                "\"latency_ms_p99\":",
                "\"latency_ms_max\":",
                "\"day_close_seconds\":",
                "\"line_count\":1000,",
                "\"authorization_count\":10000,",
                "\"rss_bytes\":",
                "\"business_date\":\"2026-11-25\"",
            ] {
                assert!(json.contains(key), "{json} lacks {key}");
            }
        }
    }

    // Goal: closing 40 days in a row with no repayments bills every line on its statement
    // day and makes billed lines overdue after their due day (all but those billed in the last
    // days), each then posting a penalty every day: the day-close's heavy case, in both modes.
    #[test]
    fn many_day_closes_make_billed_lines_overdue() {
        for mode in [CreditMode::StateMachine, CreditMode::Tcp] {
            let config = CreditConfig {
                days: 40,
                ..tiny(mode)
            };
            let report = run(&config, &|_| {}).expect("runs");
            assert_eq!(report.day_close_days, 40);
            assert_eq!(report.day_close_chunks, 40, "{mode:?}: one chunk a day");
            assert_eq!(
                report.statements_issued,
                Some(1000),
                "{mode:?}: every line billed"
            );
            let billed = report.statements_billed.expect("in process");
            assert!(billed > 900, "{mode:?}: 5 captures per line: {billed}");
            let overdue = report.overdue_lines.expect("in process");
            // Lines billed in the last days are not yet past their due day.
            assert!(
                overdue <= billed && overdue > billed * 8 / 10,
                "{mode:?}: {overdue}"
            );
            assert_eq!(report.revolving_lines, Some(0), "{mode:?}");
            let postings = report.day_close_postings.expect("in process");
            assert!(postings > billed, "{mode:?}: a penalty a day: {postings}");
            assert_eq!(report.business_date, Date::from_ymd(2027, 1, 3), "{mode:?}");
            assert!(report.day_close_seconds >= report.day_close_seconds_first);
            assert!(report.to_json().contains("\"day_close_days\":40,"));
        }
    }

    // Goal: a statement share puts that share of lines on the business date's day, and the
    // rest elsewhere; captures pick the first `capture_percent` of every hundred.
    #[test]
    fn plan_shapes() {
        let config = CreditConfig {
            statement_percent: Some(50),
            capture_percent: 30,
            authorization_count: 250,
            ..tiny(CreditMode::StateMachine)
        };
        let plan = Plan::new(&config).expect("valid");
        let today = plan.statement_lines();
        assert!((400..600).contains(&today), "about half of 1000: {today}");
        assert!((0..1000).all(|line| (1..=28).contains(&plan.statement_day(line))));
        assert_eq!(plan.capture_count(), 30 + 30 + 30);
        let purchase = |c| match plan.capture(c) {
            Command::Capture { purchase_id, .. } => purchase_id - AUTHORIZATION_ID_OFFSET - 1,
            other => panic!("{other:?}"),
        };
        assert_eq!((purchase(0), purchase(29), purchase(30)), (0, 29, 100));
        assert_eq!(purchase(89), 229);
        assert!(
            Plan::new(&CreditConfig {
                day_close_chunk: 0,
                ..config.clone()
            })
            .is_err()
        );
    }
}
