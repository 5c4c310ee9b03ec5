//! `elevenfold bench soak`: a bounded mixed load at a fixed offered rate for a long time,
//! tracking the process's memory and the latency interval by interval, and a verdict on
//! whether memory grows beyond what the design retains per event (issue 7, item 5).
//!
//! The server: a node and the binary listener started in this process on a temporary
//! directory (durable: fsync before every reply), exactly as `bench ledger --mode tcp` and
//! `bench promotions` do by default; or a running server at `addr` (then `pid` names the
//! process whose memory to sample).
//!
//! Setup (not timed): `account_count` user accounts, `merchant_count` merchants and the
//! platform's sponsor account; with credit in the mix, a Huabei-like program (the one of
//! `bench credit`) and `line_count` lines; with promotions, as many red-packet pools as the
//! planned grabs need (1000 packets of 1 yuan on average each) and the platform's 满100减10
//! coupon campaign, every budget funded.
//!
//! The load is open loop: every 10 ms tick, the events due by then at `rate` per second leave,
//! whether or not earlier calls were answered, in up to three calls (ledger transfers, credit
//! commands, promotions commands) spread round robin over `clients` client connections. A
//! call's latency runs from its tick's scheduled time to its answer, so a stall shows in every
//! call it delayed (no coordinated omission). The mix, as shares of the events:
//! - `pending_percent` pending transfers (no timeout), and as many again posting or voiding
//!   (alternately) pending transfers whose creation was answered ok;
//! - `credit_percent`: half authorizations on a line drawn from the seed, half captures of
//!   answered authorizations;
//! - `promotions_percent`: half red-packet grabs, a sixth coupon claims, a sixth checkouts
//!   (each carrying the coupon claimed just before it in the same call, paid by the user's
//!   account), a sixth captures of answered checkouts;
//! - the rest single-phase transfers between users drawn from the seed.
//!
//! A follow-up (post or void, capture) waits for the answer of what it follows; when none is
//! ready its share is sent as single-phase transfers and owed, caught up when answers are
//! ready, so the offered event rate stays fixed.
//!
//! Every `interval` a sample: the resident set (`VmRSS` of this process or of `pid`), the
//! events answered and the latency p50/p99/max of the calls answered in the interval.
//!
//! The memory verdict (`fit_memory`, `design_bytes_per_event`, `verdict`): over the second half
//! of the samples (after warm-up), the least-squares slope of the resident set against the
//! events answered so far is the memory each event leaves behind (`bytes_per_event_retained`).
//! By design the engine keeps some state per event for good (ARCHITECTURE.md, "Design
//! decisions"): 16 bytes of id index and 16 of account position lists per ledger transfer (47
//! bytes with table and list slack, measured at 100M in BENCHMARKS.md, "Retention"), a
//! 33-byte status per pending transfer, and in promotions a fingerprint per posted command, a
//! usage entry per red-packet grab, a record per coupon and per checkout.
//! `design_bytes_per_event` adds these up for the mix (about 61 bytes for the default one).
//! Memory is `growing` when the fitted growth over the window exceeds `DESIGN_FACTOR` (2)
//! times that per event and `GROWTH_NOISE_BYTES` (32 MiB) in all, `bounded` otherwise. The
//! factor covers hash tables that double inside the window (a step the fit spreads over it);
//! keeping a transfer's 128-byte body, or a promotions command, per event would cross it.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use client::{Client, ClientConfig};
use credit::Date;
use hdrhistogram::Histogram;
use ledger::{AMOUNT_MAX, Account, AccountFlags, Transfer, TransferFlags};
use promotions::{Campaign, CampaignKind};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::credit::{CODE, LEDGER, draw, huabei_program};
use crate::promotions::{CATEGORY, PLATFORM_OFFER, PROMOTIONS_REQUEST_MAX};
use crate::{histogram, quantiles, record};

/// Retained memory per event above which, over the second half of a run, memory is
/// `growing`, as a multiple of what the design keeps per event of the mix.
pub const DESIGN_FACTOR: f64 = 2.0;

/// What the design keeps per ledger transfer: 16 bytes of id index and 8 per account side
/// (ARCHITECTURE.md), 47 bytes with the tables' and lists' slack at 100M (BENCHMARKS.md,
/// "Retention").
const TRANSFER_BYTES: f64 = 48.0;
/// The status of a pending transfer, kept for good (ARCHITECTURE.md, "Design decisions").
const PENDING_STATUS_BYTES: f64 = 33.0;
/// Promotions: the fingerprint of a command that posted under its own id (16-byte id, 8-byte
/// fingerprint, a hash table's control byte).
const OP_BYTES: f64 = 33.0;
/// Promotions: what a user did in a campaign, one per red-packet grab (a 32-byte key, 24 bytes
/// of figures).
const USAGE_BYTES: f64 = 65.0;
/// Promotions: a coupon (64-byte record, 33-byte index entry).
const COUPON_BYTES: f64 = 97.0;
/// Promotions: a checkout (its 224-byte command, the coupons applied, status: 352 bytes, and a
/// 33-byte index entry).
const CHECKOUT_BYTES: f64 = 385.0;

/// What the design keeps for good per event of the mix, in bytes: each kind's share times its
/// state (the constants above).
#[must_use]
pub fn design_bytes_per_event(
    pending_percent: u8,
    credit_percent: u8,
    promotions_percent: u8,
) -> f64 {
    let (p, c, s) = (
        f64::from(pending_percent) / 100.0,
        f64::from(credit_percent) / 100.0,
        f64::from(promotions_percent) / 100.0,
    );
    let pending = TRANSFER_BYTES + PENDING_STATUS_BYTES;
    let single = (1.0 - 2.0 * p - c - s).max(0.0) * TRANSFER_BYTES;
    // A pending transfer, and its post or void.
    let two_phase = p * pending + p * TRANSFER_BYTES;
    // An authorization (a pending transfer), and its capture.
    let credit = c / 2.0 * pending + c / 2.0 * TRANSFER_BYTES;
    // Grabs (a transfer), claims, checkouts (two pending holds) and captures (two posts).
    let promotions = s / 2.0 * (TRANSFER_BYTES + OP_BYTES + USAGE_BYTES)
        + s / 6.0 * COUPON_BYTES
        + s / 6.0 * (2.0 * pending + CHECKOUT_BYTES)
        + s / 6.0 * (2.0 * TRANSFER_BYTES + OP_BYTES);
    single + two_phase + credit + promotions
}

/// Growth over the second half below which memory is `bounded` whatever the per-event figure:
/// the allocator's and the runtime's own noise, which short or slow runs cannot tell apart.
pub const GROWTH_NOISE_BYTES: f64 = 32.0 * 1024.0 * 1024.0;

/// The schedule's tick, in nanoseconds: the events due in each leave together at its start.
const TICK_NS: u64 = 10_000_000;

/// The cluster of a server started here, and the one asked of a server at `addr`.
const CLUSTER_ID: u128 = 0;

/// What to run.
#[derive(Clone, Debug)]
pub struct SoakConfig {
    /// How long the load runs (setup excluded).
    pub duration: Duration,
    /// Offered events per second (transfers and commands alike).
    pub rate: u64,
    /// Time between samples.
    pub interval: Duration,
    /// Client connections the calls are spread over, round robin.
    pub clients: usize,
    pub account_count: u64,
    pub merchant_count: u64,
    /// Credit lines (with `credit_percent` > 0).
    pub line_count: u64,
    /// Share of events creating pending transfers; as many again post or void them.
    pub pending_percent: u8,
    /// Share of events that are credit authorizations and their captures (half each).
    pub credit_percent: u8,
    /// Share of events that are promotions commands: half grabs, a sixth each coupon
    /// claims, checkouts carrying them, and captures.
    pub promotions_percent: u8,
    pub seed: u64,
    /// A running server's binary-protocol address instead of one started here.
    pub addr: Option<String>,
    /// With `addr`: the server's process id, whose `/proc/PID/status` is sampled (otherwise
    /// this process's, which then holds only the bench).
    pub pid: Option<u32>,
    /// For a node started here: its data directory (default: a temporary one).
    pub data_dir: Option<PathBuf>,
    /// For a node started here: size the transfer id index for this many transfers up front.
    pub transfers_reserve: u64,
}

impl SoakConfig {
    /// The defaults of `elevenfold bench soak`.
    #[must_use]
    pub fn new() -> SoakConfig {
        SoakConfig {
            duration: Duration::from_secs(600),
            rate: 20_000,
            interval: Duration::from_secs(10),
            clients: 4,
            account_count: 10_000,
            merchant_count: 100,
            line_count: 1000,
            pending_percent: 10,
            credit_percent: 4,
            promotions_percent: 6,
            seed: 1,
            addr: None,
            pid: None,
            data_dir: None,
            transfers_reserve: 0,
        }
    }
}

impl Default for SoakConfig {
    fn default() -> SoakConfig {
        SoakConfig::new()
    }
}

/// One interval's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct SoakSample {
    /// The end of the interval, in seconds since the load started.
    pub seconds: f64,
    /// Events answered in the interval, and since the load started.
    pub events: u64,
    pub events_total: u64,
    pub events_per_second: f64,
    /// Calls answered in the interval, and their latency (p50, p99, max) in ms; zeros if none.
    pub calls: u64,
    pub latency_ms: [f64; 3],
    /// Events refused (a result other than ok) in the interval.
    pub refused: u64,
    /// Calls sent and not yet answered at the end of the interval.
    pub in_flight: usize,
    /// `VmRSS` at the end of the interval.
    pub rss_bytes: u64,
}

impl SoakSample {
    /// A sample with only what the memory fit reads (for tests and tools).
    #[must_use]
    pub fn memory(seconds: f64, events_total: u64, rss_bytes: u64) -> SoakSample {
        SoakSample {
            seconds,
            events: 0,
            events_total,
            events_per_second: 0.0,
            calls: 0,
            latency_ms: [0.0; 3],
            refused: 0,
            in_flight: 0,
            rss_bytes,
        }
    }

    fn to_json(&self) -> String {
        let [p50, p99, max] = self.latency_ms;
        format!(
            "{{\"seconds\":{:.3},\"events\":{},\"events_total\":{},\"events_per_second\":{:.0},\
             \"calls\":{},\"latency_ms_p50\":{p50:.3},\"latency_ms_p99\":{p99:.3},\
             \"latency_ms_max\":{max:.3},\"refused\":{},\"in_flight\":{},\"rss_bytes\":{}}}",
            self.seconds,
            self.events,
            self.events_total,
            self.events_per_second,
            self.calls,
            self.refused,
            self.in_flight,
            self.rss_bytes
        )
    }

    /// One human-readable line.
    #[must_use]
    pub fn to_text(&self) -> String {
        let [p50, p99, max] = self.latency_ms;
        format!(
            "{:>7.1} s  {:>9} events ({:>7.0}/s)  latency p50 {p50:>8.3} p99 {p99:>9.3} max \
             {max:>9.3} ms  RSS {:>8.1} MiB  in flight {:>3}  refused {}",
            self.seconds,
            self.events,
            self.events_per_second,
            mib(self.rss_bytes),
            self.in_flight,
            self.refused
        )
    }
}

#[expect(clippy::cast_precision_loss, reason = "reporting only")]
fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1u32 << 20)
}

/// The memory figures of a run's second half.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemoryFit {
    /// Samples in the window (the second half, after warm-up).
    pub window_samples: usize,
    /// Least-squares slope of RSS against time, in bytes per minute.
    pub rss_slope_bytes_per_minute: f64,
    /// Least-squares slope of RSS against events answered: what each event leaves behind.
    /// `None` when no event was answered in the window.
    pub bytes_per_event_retained: Option<f64>,
    /// The growth the fit gives over the window, in bytes (by events, or by time when no
    /// event was answered).
    pub window_growth_bytes: f64,
}

/// The least-squares slope of y against x; 0 with fewer than two distinct x.
fn slope(points: &[(f64, f64)]) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "a few thousand samples at most")]
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    if sxx == 0.0 { 0.0 } else { sxy / sxx }
}

/// Fits the resident set over the second half of `samples` (the first half is warm-up).
#[must_use]
#[expect(clippy::cast_precision_loss, reason = "fitting, not money")]
pub fn fit_memory(samples: &[SoakSample]) -> MemoryFit {
    let window = &samples[samples.len() / 2..];
    let by_time: Vec<(f64, f64)> = window
        .iter()
        .map(|s| (s.seconds, s.rss_bytes as f64))
        .collect();
    let by_events: Vec<(f64, f64)> = window
        .iter()
        .map(|s| (s.events_total as f64, s.rss_bytes as f64))
        .collect();
    let per_second = slope(&by_time);
    let span = |points: &[(f64, f64)]| match (points.first(), points.last()) {
        (Some(first), Some(last)) => last.0 - first.0,
        _ => 0.0,
    };
    let events = span(&by_events);
    let (per_event, growth) = if events > 0.0 {
        let per_event = slope(&by_events);
        (Some(per_event), per_event * events)
    } else {
        (None, per_second * span(&by_time))
    };
    MemoryFit {
        window_samples: window.len(),
        rss_slope_bytes_per_minute: per_second * 60.0,
        bytes_per_event_retained: per_event,
        window_growth_bytes: growth,
    }
}

/// Whether memory stays within what the design retains per event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Bounded,
    Growing,
}

impl Verdict {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Bounded => "bounded",
            Verdict::Growing => "growing",
        }
    }
}

/// `growing` when the fitted growth over the window is above the noise floor and above
/// `max_bytes_per_event` per event (or, with no event answered, above the floor).
#[must_use]
pub fn verdict(fit: &MemoryFit, max_bytes_per_event: f64) -> Verdict {
    let above_noise = fit.window_growth_bytes > GROWTH_NOISE_BYTES;
    let above_design = fit
        .bytes_per_event_retained
        .is_none_or(|b| b > max_bytes_per_event);
    if above_noise && above_design {
        Verdict::Growing
    } else {
        Verdict::Bounded
    }
}

/// What was measured.
#[derive(Clone, Debug)]
pub struct SoakReport {
    pub seconds: f64,
    pub offered_rate: u64,
    pub interval_seconds: f64,
    pub clients: usize,
    pub pending_percent: u8,
    pub credit_percent: u8,
    pub promotions_percent: u8,
    /// Events scheduled, and answered (ok or refused), over the load.
    pub events_offered: u64,
    pub events: u64,
    pub events_per_second: f64,
    /// From the first tick to the last answer.
    pub elapsed_seconds: f64,
    pub calls: u64,
    /// Per call, from its scheduled time to its answer, over the whole load.
    pub latency_ms: [f64; 3],
    /// The worst interval's p99.
    pub worst_interval_p99_ms: f64,
    pub refused: u64,
    /// The first refusal: "kind: result".
    pub first_refusal: Option<String>,
    /// Calls that failed (timeout, connection): their events are neither answered nor refused.
    pub call_errors: u64,
    pub first_call_error: Option<String>,
    /// What was sampled: "self" (the process holding the node, or only the bench with `addr`)
    /// or "pid N".
    pub rss_of: String,
    /// After setup, before the load; then the samples' first, last and largest; and `VmHWM`.
    pub rss_bytes_setup: u64,
    pub rss_bytes_first: u64,
    pub rss_bytes_last: u64,
    pub rss_bytes_max: u64,
    pub rss_peak_bytes: u64,
    pub fit: MemoryFit,
    /// What the design keeps per event of the mix, and the bound (`DESIGN_FACTOR` times it).
    pub design_bytes_per_event: f64,
    pub retained_bytes_per_event_max: f64,
    pub verdict: Verdict,
    /// Ledger transfers in the node after the run (`None` against a running server).
    pub transfer_count: Option<u64>,
    pub samples: Vec<SoakSample>,
}

fn json_string(value: Option<&str>) -> String {
    value.map_or_else(
        || "null".to_string(),
        |s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
    )
}

impl SoakReport {
    /// One JSON object, keys in a fixed order; absent values are `null`.
    #[must_use]
    pub fn to_json(&self) -> String {
        let [p50, p99, max] = self.latency_ms;
        let samples: Vec<String> = self.samples.iter().map(SoakSample::to_json).collect();
        format!(
            concat!(
                "{{\"bench\":\"soak\",\"seconds\":{:.3},\"offered_rate\":{},",
                "\"interval_seconds\":{:.3},\"clients\":{},\"pending_percent\":{},",
                "\"credit_percent\":{},\"promotions_percent\":{},\"events_offered\":{},",
                "\"events\":{},\"events_per_second\":{:.0},\"elapsed_seconds\":{:.3},",
                "\"calls\":{},\"latency_kind\":\"call\",\"latency_ms_p50\":{:.3},",
                "\"latency_ms_p99\":{:.3},\"latency_ms_max\":{:.3},",
                "\"worst_interval_latency_ms_p99\":{:.3},\"refused\":{},\"first_refusal\":{},",
                "\"call_errors\":{},\"first_call_error\":{},\"rss_of\":\"{}\",",
                "\"rss_bytes_setup\":{},\"rss_bytes_first\":{},\"rss_bytes_last\":{},",
                "\"rss_bytes_max\":{},\"rss_peak_bytes\":{},\"rss_slope_bytes_per_minute\":{:.0},",
                "\"bytes_per_event_retained\":{},\"window_samples\":{},",
                "\"window_growth_bytes\":{:.0},\"design_bytes_per_event\":{:.1},",
                "\"retained_bytes_per_event_max\":{:.1},",
                "\"growth_noise_bytes\":{:.0},\"verdict\":\"{}\",\"transfer_count\":{},",
                "\"samples\":[{}]}}"
            ),
            self.seconds,
            self.offered_rate,
            self.interval_seconds,
            self.clients,
            self.pending_percent,
            self.credit_percent,
            self.promotions_percent,
            self.events_offered,
            self.events,
            self.events_per_second,
            self.elapsed_seconds,
            self.calls,
            p50,
            p99,
            max,
            self.worst_interval_p99_ms,
            self.refused,
            json_string(self.first_refusal.as_deref()),
            self.call_errors,
            json_string(self.first_call_error.as_deref()),
            self.rss_of,
            self.rss_bytes_setup,
            self.rss_bytes_first,
            self.rss_bytes_last,
            self.rss_bytes_max,
            self.rss_peak_bytes,
            self.fit.rss_slope_bytes_per_minute,
            self.fit
                .bytes_per_event_retained
                .map_or_else(|| "null".to_string(), |b| format!("{b:.1}")),
            self.fit.window_samples,
            self.fit.window_growth_bytes,
            self.design_bytes_per_event,
            self.retained_bytes_per_event_max,
            GROWTH_NOISE_BYTES,
            self.verdict.name(),
            self.transfer_count
                .map_or_else(|| "null".to_string(), |n| n.to_string()),
            samples.join(","),
        )
    }

    /// A few human-readable lines (the samples are printed as they come).
    #[must_use]
    pub fn to_text(&self) -> String {
        let [p50, p99, max] = self.latency_ms;
        let mut text = format!(
            "soak: {:.0} s at {} events/s offered ({}% pending + as many resolving, {}% credit, \
             {}% promotions), {} clients\n",
            self.seconds,
            self.offered_rate,
            self.pending_percent,
            self.credit_percent,
            self.promotions_percent,
            self.clients
        );
        let _ = writeln!(
            text,
            "events {} of {} offered, {:.0}/s in {:.1} s; {} calls; {} refused; {} call errors",
            self.events,
            self.events_offered,
            self.events_per_second,
            self.elapsed_seconds,
            self.calls,
            self.refused,
            self.call_errors
        );
        let _ = writeln!(
            text,
            "latency per call: p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.3} ms; worst \
             interval p99 {:.3} ms",
            self.worst_interval_p99_ms
        );
        let _ = writeln!(
            text,
            "RSS ({}): {:.1} MiB after setup, first {:.1}, last {:.1}, max {:.1} MiB, peak \
             (VmHWM) {:.1} MiB",
            self.rss_of,
            mib(self.rss_bytes_setup),
            mib(self.rss_bytes_first),
            mib(self.rss_bytes_last),
            mib(self.rss_bytes_max),
            mib(self.rss_peak_bytes)
        );
        let per_event = self
            .fit
            .bytes_per_event_retained
            .map_or_else(|| "n/a".to_string(), |b| format!("{b:.1}"));
        let _ = writeln!(
            text,
            "second half ({} samples): RSS slope {:.1} MiB/min, {per_event} bytes retained per \
             event, {:.1} MiB fitted growth; the design keeps {:.1} bytes per event of this mix, \
             growing above {:.1} bytes/event and {:.0} MiB",
            self.fit.window_samples,
            self.fit.rss_slope_bytes_per_minute / f64::from(1u32 << 20),
            self.fit.window_growth_bytes / f64::from(1u32 << 20),
            self.design_bytes_per_event,
            self.retained_bytes_per_event_max,
            GROWTH_NOISE_BYTES / f64::from(1u32 << 20)
        );
        if let Some(first) = &self.first_refusal {
            let _ = writeln!(text, "first refusal: {first}");
        }
        if let Some(first) = &self.first_call_error {
            let _ = writeln!(text, "first call error: {first}");
        }
        let _ = write!(text, "verdict: {}", self.verdict.name());
        text
    }
}

// ---------------------------------------------------------------------------------------------
// The plan: accounts, campaigns and every event as a pure function of (config, index).

const AMOUNT_MAX_FEN: u64 = 10_000;
/// Purchases with a coupon: 100-1000 yuan (so 满100减10 always takes 10 yuan off).
const PURCHASE_MIN: u64 = 10_000;
const PURCHASE_MAX: u64 = 100_000;
const COUPON_DISCOUNT: u64 = 1_000;
const AUTHORIZATION_TIMEOUT_SECONDS: u32 = 7 * 24 * 3600;
const CHECKOUT_TIMEOUT_SECONDS: u32 = 15 * 60;
const LINE_LIMIT_MIN: u64 = 5_000_000;
const PACKETS_PER_POOL_MAX: u64 = 1000;
/// A red packet is 1 yuan on average.
const PACKET_MEAN: u64 = 100;
/// Spreads a pool's grabs over the users: pool p's round r goes to user (r + p * STRIDE) % U.
const USER_STRIDE: u64 = 7919;

const PLATFORM_ACCOUNT: u128 = 1;
const PROGRAM_ACCOUNTS: [u128; 5] = [11, 12, 13, 14, 15];
const PROGRAM_ID_OFFSET: u128 = 100;
const MERCHANT_ID_OFFSET: u128 = 1_000;
const USER_ID_OFFSET: u128 = 1 << 40;
const LINE_ID_OFFSET: u128 = 2 << 40;
const TRANSFER_ID_OFFSET: u128 = 3 << 40;
const AUTHORIZATION_ID_OFFSET: u128 = 4 << 40;
const CREDIT_CAPTURE_ID_OFFSET: u128 = 5 << 40;
const CAMPAIGN_ID_OFFSET: u128 = 6 << 40;
const BUDGET_ID_OFFSET: u128 = 7 << 40;
const FUND_ID_OFFSET: u128 = 8 << 40;
const GRAB_ID_OFFSET: u128 = 9 << 40;
const COUPON_ID_OFFSET: u128 = 10 << 40;
const CHECKOUT_ID_OFFSET: u128 = 11 << 40;
const CHECKOUT_CAPTURE_ID_OFFSET: u128 = 12 << 40;
/// Counts stay below this so each kind of id keeps to its own range.
const COUNT_MAX: u64 = 1 << 39;

const STREAM_DEBIT: u64 = 21;
const STREAM_CREDIT: u64 = 22;
const STREAM_AMOUNT: u64 = 23;
const STREAM_LINE: u64 = 24;
const STREAM_MERCHANT: u64 = 25;
const STREAM_USER: u64 = 26;
const STREAM_POOL: u64 = 27;

/// Kinds of events whose counts the schedule derives from the events offered so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Pending,
    Resolve,
    Authorize,
    CreditCapture,
    Grab,
    /// A coupon claim and the checkout carrying it: two events.
    Purchase,
    CheckoutCapture,
}

const KINDS: [Kind; 7] = [
    Kind::Pending,
    Kind::Resolve,
    Kind::Authorize,
    Kind::CreditCapture,
    Kind::Grab,
    Kind::Purchase,
    Kind::CheckoutCapture,
];

impl Kind {
    fn index(self) -> usize {
        self as usize
    }

    /// Events per unit.
    fn weight(self) -> u64 {
        if self == Kind::Purchase { 2 } else { 1 }
    }
}

struct Plan {
    base: u128,
    seed: u64,
    users: u64,
    merchants: u64,
    lines: u64,
    rate: u64,
    ticks: u64,
    pending: u64,
    credit: u64,
    promotions: u64,
    packets_per_pool: u64,
    pools: u64,
    purchases: u64,
    line_limit: u64,
}

impl Plan {
    fn new(config: &SoakConfig) -> Result<Plan, String> {
        if config.rate == 0 {
            return Err("--rate must be positive".to_string());
        }
        if config.duration.is_zero() || config.interval.is_zero() {
            return Err("--seconds and --interval must be positive".to_string());
        }
        let (p, c, s) = (
            u64::from(config.pending_percent),
            u64::from(config.credit_percent),
            u64::from(config.promotions_percent),
        );
        if 2 * p + c + s > 100 {
            return Err(format!(
                "2 x --pending-percent + --credit-percent + --promotions-percent is {}%: at \
                 most 100",
                2 * p + c + s
            ));
        }
        if config.account_count < 2 || config.account_count >= COUNT_MAX {
            return Err(format!("--accounts must be from 2 to {}", COUNT_MAX - 1));
        }
        if !(1..=1_000_000).contains(&config.merchant_count) {
            return Err("--merchants must be from 1 to 1000000".to_string());
        }
        if c > 0 && !(1..=u64::from(u32::MAX)).contains(&config.line_count) {
            return Err("--lines must be from 1 to 4294967295".to_string());
        }
        let base = match config.addr {
            Some(_) => u128::from(config.seed) << 64,
            None => 0,
        };
        if base + CHECKOUT_CAPTURE_ID_OFFSET + u128::from(COUNT_MAX) >= ledger::RESERVED_ID_MIN {
            return Err("--seed is too large: its ids would be reserved ones".to_string());
        }
        let ticks = u64::try_from(config.duration.as_nanos().div_ceil(u128::from(TICK_NS)))
            .map_err(|_| "--seconds is too large".to_string())?;
        let mut plan = Plan {
            base,
            seed: config.seed,
            users: config.account_count,
            merchants: config.merchant_count,
            lines: config.line_count,
            rate: config.rate,
            ticks,
            pending: p,
            credit: c,
            promotions: s,
            packets_per_pool: config.account_count.min(PACKETS_PER_POOL_MAX),
            pools: 0,
            purchases: 0,
            line_limit: LINE_LIMIT_MIN,
        };
        let events = plan.offered_by(ticks);
        if events >= COUNT_MAX {
            return Err(format!("--rate x --seconds must be below {COUNT_MAX}"));
        }
        plan.pools = plan
            .cumulative(Kind::Grab, events)
            .div_ceil(plan.packets_per_pool);
        plan.purchases = plan.cumulative(Kind::Purchase, events);
        if plan.pools > u64::from(u32::MAX) || plan.purchases > u64::from(u32::MAX) {
            return Err("too many grabs or purchases for one run".to_string());
        }
        if c > 0 {
            // Room for four times the mean authorizations per line at the largest amount
            // (captures are never repaid), as `bench credit` sizes its lines.
            let per_line = plan
                .cumulative(Kind::Authorize, events)
                .div_ceil(plan.lines);
            plan.line_limit = LINE_LIMIT_MIN.max(AMOUNT_MAX_FEN.saturating_mul(4 * per_line + 16));
        }
        Ok(plan)
    }

    /// Events offered by the start of tick `tick`.
    fn offered_by(&self, tick: u64) -> u64 {
        let ns = u128::from(tick) * u128::from(TICK_NS) * u128::from(self.rate) / 1_000_000_000;
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    /// Units of `kind` due among the first `events` events.
    fn cumulative(&self, kind: Kind, events: u64) -> u64 {
        let per_600 = match kind {
            Kind::Pending | Kind::Resolve => 6 * self.pending,
            Kind::Authorize | Kind::CreditCapture => 3 * self.credit,
            Kind::Grab => 3 * self.promotions,
            Kind::Purchase | Kind::CheckoutCapture => self.promotions,
        };
        u64::try_from(u128::from(events) * u128::from(per_600) / 600).expect("below events")
    }

    fn user_id(&self, u: u64) -> u128 {
        self.base + USER_ID_OFFSET + 1 + u128::from(u)
    }

    fn merchant_id(&self, m: u64) -> u128 {
        self.base + MERCHANT_ID_OFFSET + u128::from(m)
    }

    fn line_id(&self, l: u64) -> u128 {
        self.base + LINE_ID_OFFSET + 1 + u128::from(l)
    }

    fn campaign_id(&self, k: u64) -> u128 {
        self.base + CAMPAIGN_ID_OFFSET + 1 + u128::from(k)
    }

    fn coupon_campaign(&self) -> u64 {
        self.pools
    }

    fn campaign_count(&self) -> u64 {
        if self.promotions == 0 {
            0
        } else {
            self.pools + 1
        }
    }

    fn accounts(&self) -> Vec<Account> {
        let mut ids = vec![self.base + PLATFORM_ACCOUNT];
        if self.credit > 0 {
            ids.extend(PROGRAM_ACCOUNTS.map(|id| self.base + id));
        }
        ids.extend((0..self.merchants).map(|m| self.merchant_id(m)));
        ids.extend((0..self.users).map(|u| self.user_id(u)));
        ids.into_iter()
            .map(|id| Account {
                id,
                ledger: LEDGER,
                code: CODE,
                flags: AccountFlags(0),
                ..Account::default()
            })
            .collect()
    }

    fn program(&self) -> credit::Program {
        huabei_program(
            self.base + PROGRAM_ID_OFFSET,
            PROGRAM_ACCOUNTS.map(|id| self.base + id),
            Date::from_ymd(2026, 11, 24).expect("a valid date"),
            self.line_limit,
        )
    }

    fn open_line(&self, l: u64) -> credit::Command {
        let id = self.line_id(l);
        credit::Command::OpenLine {
            id,
            borrower_id: id,
            program_id: self.base + PROGRAM_ID_OFFSET,
            limit: self.line_limit,
            annual_income: 0,
            birth_date: Date::from_ymd(1990, 1, 1).expect("a valid date"),
            statement_day: 1,
            due_day: 10,
            applicant: 0,
        }
    }

    fn campaign(&self, k: u64) -> Campaign {
        let common = Campaign {
            id: self.campaign_id(k),
            budget_account_id: self.base + BUDGET_ID_OFFSET + 1 + u128::from(k),
            sponsor_account_id: self.base + PLATFORM_ACCOUNT,
            ledger: LEDGER,
            code: CODE,
            ..Campaign::default()
        };
        if k < self.pools {
            Campaign {
                kind: CampaignKind::RedPacket,
                stock: u32::try_from(self.packets_per_pool).expect("at most 1000"),
                pool_amount: self.packets_per_pool * PACKET_MEAN,
                seed: draw(self.seed, STREAM_POOL, k),
                ..common
            }
        } else {
            // 满100减10, claimed by the users, no stock limit.
            Campaign {
                kind: CampaignKind::Coupon,
                offer: PLATFORM_OFFER,
                exclusive_group: 1,
                priority: 2,
                ..common
            }
        }
    }

    fn fund(&self, k: u64) -> promotions::Command {
        let amount = if k < self.pools {
            self.packets_per_pool * PACKET_MEAN
        } else {
            (self.purchases + 1) * COUPON_DISCOUNT
        };
        promotions::Command::FundCampaign {
            id: self.base + FUND_ID_OFFSET + 1 + u128::from(k),
            campaign_id: self.campaign_id(k),
            amount,
        }
    }

    fn transfer_id(&self, i: u64) -> u128 {
        self.base + TRANSFER_ID_OFFSET + 1 + u128::from(i)
    }

    /// Ledger transfer `i` (single-phase, or pending with no timeout).
    fn transfer(&self, i: u64, pending: bool) -> Transfer {
        let debit = draw(self.seed, STREAM_DEBIT, i) % self.users;
        let mut credit = draw(self.seed, STREAM_CREDIT, i) % self.users;
        if credit == debit {
            credit = (debit + 1) % self.users;
        }
        Transfer {
            id: self.transfer_id(i),
            debit_account_id: self.user_id(debit),
            credit_account_id: self.user_id(credit),
            amount: u128::from(1 + draw(self.seed, STREAM_AMOUNT, i) % AMOUNT_MAX_FEN),
            ledger: LEDGER,
            code: CODE,
            flags: TransferFlags(if pending { TransferFlags::PENDING } else { 0 }),
            ..Transfer::default()
        }
    }

    /// Ledger transfer `i` posting (in full) or voiding `pending_id`.
    fn resolve(&self, i: u64, pending_id: u128, post: bool) -> Transfer {
        Transfer {
            id: self.transfer_id(i),
            pending_id,
            amount: if post { AMOUNT_MAX } else { 0 },
            ledger: LEDGER,
            code: CODE,
            flags: TransferFlags(if post {
                TransferFlags::POST_PENDING_TRANSFER
            } else {
                TransferFlags::VOID_PENDING_TRANSFER
            }),
            ..Transfer::default()
        }
    }

    fn authorize(&self, k: u64) -> (credit::Command, u128) {
        let line_id = self.line_id(draw(self.seed, STREAM_LINE, k) % self.lines);
        let command = credit::Command::Authorize {
            id: self.base + AUTHORIZATION_ID_OFFSET + 1 + u128::from(k),
            line_id,
            merchant_account_id: self
                .merchant_id(draw(self.seed, STREAM_MERCHANT, k) % self.merchants),
            amount: 1 + draw(self.seed, STREAM_AMOUNT, k) % AMOUNT_MAX_FEN,
            timeout: AUTHORIZATION_TIMEOUT_SECONDS,
        };
        (command, line_id)
    }

    fn credit_capture(&self, k: u64, purchase_id: u128, line_id: u128) -> credit::Command {
        credit::Command::Capture {
            id: self.base + CREDIT_CAPTURE_ID_OFFSET + 1 + u128::from(k),
            line_id,
            purchase_id,
            amount: 0,
        }
    }

    /// Grab `g`: the (g % packets)-th of pool g / packets, by a user no other grab of that
    /// pool has.
    fn grab(&self, g: u64) -> promotions::Command {
        let (pool, round) = (g / self.packets_per_pool, g % self.packets_per_pool);
        let user = (round + pool * USER_STRIDE) % self.users;
        promotions::Command::GrabRedPacket {
            id: self.base + GRAB_ID_OFFSET + 1 + u128::from(g),
            campaign_id: self.campaign_id(pool),
            user_id: self.user_id(user),
            account_id: self.user_id(user),
            user_segments: 1,
        }
    }

    /// Purchase `q`: the user claims a coupon, then checks out carrying it.
    fn purchase(&self, q: u64) -> [promotions::Command; 2] {
        let user_id = self.user_id(draw(self.seed, STREAM_USER, q) % self.users);
        let coupon_id = self.base + COUPON_ID_OFFSET + 1 + u128::from(q);
        [
            promotions::Command::ClaimCoupon {
                id: coupon_id,
                campaign_id: self.campaign_id(self.coupon_campaign()),
                user_id,
                user_segments: 1,
            },
            promotions::Command::Checkout {
                id: self.checkout_id(q),
                user_id,
                payer_id: user_id,
                merchant_account_id: self
                    .merchant_id(draw(self.seed, STREAM_MERCHANT, q) % self.merchants),
                amount: PURCHASE_MIN
                    + draw(self.seed, STREAM_AMOUNT, q) % (PURCHASE_MAX - PURCHASE_MIN + 1),
                timeout: CHECKOUT_TIMEOUT_SECONDS,
                code: CODE,
                card_issuer: 0,
                card_bin: 0,
                category: CATEGORY,
                coupons: [coupon_id, 0, 0, 0],
                capture: false,
            },
        ]
    }

    fn checkout_id(&self, q: u64) -> u128 {
        self.base + CHECKOUT_ID_OFFSET + 1 + u128::from(q)
    }

    fn checkout_capture(&self, k: u64, checkout_id: u128) -> promotions::Command {
        promotions::Command::CaptureCheckout {
            id: self.base + CHECKOUT_CAPTURE_ID_OFFSET + 1 + u128::from(k),
            checkout_id,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The schedule: what each tick sends.

/// What an event answered ok makes ready.
#[derive(Clone, Copy, Debug)]
enum FollowUp {
    /// A pending transfer to post or void.
    Pending(u128),
    /// An authorization (purchase id, line id) to capture.
    Authorization(u128, u128),
    /// A checkout to capture.
    Checkout(u128),
}

enum Events {
    Transfers(Vec<Transfer>),
    Credit(Vec<credit::Command>),
    Promotions(Vec<promotions::Command>),
}

impl Events {
    fn len(&self) -> usize {
        match self {
            Events::Transfers(v) => v.len(),
            Events::Credit(v) => v.len(),
            Events::Promotions(v) => v.len(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Events::Transfers(_) => "transfers",
            Events::Credit(_) => "credit",
            Events::Promotions(_) => "promotions",
        }
    }
}

/// One call to send: its events and, by index, what each makes ready if answered ok.
struct Call {
    events: Events,
    follow_ups: Vec<(u32, FollowUp)>,
}

/// Counters of the schedule and the follow-ups ready to send.
struct Schedule {
    tick: u64,
    offered: u64,
    /// Units of each kind scheduled so far (by the cumulative plan), and sent.
    planned: [u64; KINDS.len()],
    sent: [u64; KINDS.len()],
    transfers: u64,
    pending_ready: VecDeque<u128>,
    authorizations_ready: VecDeque<(u128, u128)>,
    checkouts_ready: VecDeque<u128>,
}

impl Schedule {
    fn new() -> Schedule {
        Schedule {
            tick: 0,
            offered: 0,
            planned: [0; KINDS.len()],
            sent: [0; KINDS.len()],
            transfers: 0,
            pending_ready: VecDeque::new(),
            authorizations_ready: VecDeque::new(),
            checkouts_ready: VecDeque::new(),
        }
    }

    fn ready(&mut self, follow_up: FollowUp) {
        match follow_up {
            FollowUp::Pending(id) => self.pending_ready.push_back(id),
            FollowUp::Authorization(id, line) => self.authorizations_ready.push_back((id, line)),
            FollowUp::Checkout(id) => self.checkouts_ready.push_back(id),
        }
    }

    fn ready_count(&self, kind: Kind) -> u64 {
        match kind {
            Kind::Resolve => self.pending_ready.len() as u64,
            Kind::CreditCapture => self.authorizations_ready.len() as u64,
            Kind::CheckoutCapture => self.checkouts_ready.len() as u64,
            _ => u64::MAX,
        }
    }

    /// The calls of the next tick.
    fn next_tick(&mut self, plan: &Plan) -> Vec<Call> {
        self.tick += 1;
        let offered = plan.offered_by(self.tick);
        let n = offered - self.offered;
        self.offered = offered;
        // Units of each kind this tick: what the plan adds, plus what follow-ups owe from
        // ticks when none was ready; single-phase transfers take the rest.
        let mut units = [0u64; KINDS.len()];
        let mut used = 0u64;
        for kind in KINDS {
            let k = kind.index();
            self.planned[k] = plan.cumulative(kind, offered);
            let owed = self.planned[k] - self.sent[k];
            let room = n.saturating_sub(used) / kind.weight();
            units[k] = owed.min(self.ready_count(kind)).min(room);
            self.sent[k] += units[k];
            used += units[k] * kind.weight();
        }
        let single = n - used;
        let mut calls = Vec::new();

        let mut transfers = Vec::new();
        let mut follow_ups = Vec::new();
        for _ in 0..single {
            transfers.push(plan.transfer(self.next_transfer(), false));
        }
        for _ in 0..units[Kind::Pending.index()] {
            let transfer = plan.transfer(self.next_transfer(), true);
            follow_ups.push((index(&transfers), FollowUp::Pending(transfer.id)));
            transfers.push(transfer);
        }
        for _ in 0..units[Kind::Resolve.index()] {
            let pending_id = self.pending_ready.pop_front().expect("counted ready");
            let i = self.next_transfer();
            // Alternately post and void.
            transfers.push(plan.resolve(i, pending_id, i.is_multiple_of(2)));
        }
        split(
            &mut calls,
            transfers,
            follow_ups,
            engine::REQUEST_EVENTS_MAX,
            Events::Transfers,
        );

        let mut commands = Vec::new();
        let mut follow_ups = Vec::new();
        let authorized = self.sent[Kind::Authorize.index()] - units[Kind::Authorize.index()];
        for k in authorized..self.sent[Kind::Authorize.index()] {
            let (command, line_id) = plan.authorize(k);
            let credit::Command::Authorize { id, .. } = command else {
                unreachable!("an authorization")
            };
            follow_ups.push((index(&commands), FollowUp::Authorization(id, line_id)));
            commands.push(command);
        }
        let captured = self.sent[Kind::CreditCapture.index()] - units[Kind::CreditCapture.index()];
        for k in captured..self.sent[Kind::CreditCapture.index()] {
            let (purchase_id, line_id) = self.authorizations_ready.pop_front().expect("ready");
            commands.push(plan.credit_capture(k, purchase_id, line_id));
        }
        split(
            &mut calls,
            commands,
            follow_ups,
            engine::REQUEST_EVENTS_MAX,
            Events::Credit,
        );

        // Purchases first, two commands each, so a claim and its checkout (even, odd index)
        // never fall into different calls.
        let mut commands = Vec::new();
        let mut follow_ups = Vec::new();
        let bought = self.sent[Kind::Purchase.index()] - units[Kind::Purchase.index()];
        for q in bought..self.sent[Kind::Purchase.index()] {
            let [claim, checkout] = plan.purchase(q);
            commands.push(claim);
            follow_ups.push((index(&commands), FollowUp::Checkout(plan.checkout_id(q))));
            commands.push(checkout);
        }
        let grabbed = self.sent[Kind::Grab.index()] - units[Kind::Grab.index()];
        for g in grabbed..self.sent[Kind::Grab.index()] {
            commands.push(plan.grab(g));
        }
        let captured =
            self.sent[Kind::CheckoutCapture.index()] - units[Kind::CheckoutCapture.index()];
        for k in captured..self.sent[Kind::CheckoutCapture.index()] {
            let checkout_id = self.checkouts_ready.pop_front().expect("ready");
            commands.push(plan.checkout_capture(k, checkout_id));
        }
        split(
            &mut calls,
            commands,
            follow_ups,
            PROMOTIONS_REQUEST_MAX,
            Events::Promotions,
        );
        calls
    }

    fn next_transfer(&mut self) -> u64 {
        self.transfers += 1;
        self.transfers - 1
    }
}

fn index<T>(events: &[T]) -> u32 {
    u32::try_from(events.len()).expect("a tick's events fit u32")
}

/// Cuts a tick's events of one kind into calls of at most `max` (an even number) events.
fn split<T>(
    calls: &mut Vec<Call>,
    mut events: Vec<T>,
    follow_ups: Vec<(u32, FollowUp)>,
    max: usize,
    wrap: fn(Vec<T>) -> Events,
) {
    let mut follow_ups = follow_ups.into_iter().peekable();
    let mut offset = 0u32;
    while !events.is_empty() {
        let rest = events.split_off(events.len().min(max));
        let count = index(&events);
        let mut own = Vec::new();
        while let Some(&(i, follow_up)) = follow_ups.peek() {
            if i >= offset + count {
                break;
            }
            own.push((i - offset, follow_up));
            follow_ups.next();
        }
        calls.push(Call {
            events: wrap(events),
            follow_ups: own,
        });
        offset += count;
        events = rest;
    }
}

// ---------------------------------------------------------------------------------------------
// Running.

/// `VmRSS` and `VmHWM` of `pid` (or this process), in bytes; zeros where `/proc` is missing.
fn memory_of(pid: Option<u32>) -> (u64, u64) {
    let path = pid.map_or_else(
        || "/proc/self/status".to_string(),
        |pid| format!("/proc/{pid}/status"),
    );
    let status = std::fs::read_to_string(path).unwrap_or_default();
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

/// Runs the soak. `progress` is called with the share of the load's time gone (0..=1);
/// `on_sample` with every sample as it is taken.
pub fn run(
    config: &SoakConfig,
    progress: &(dyn Fn(f64) + Sync),
    on_sample: &(dyn Fn(&SoakSample) + Sync),
) -> Result<SoakReport, String> {
    let plan = Arc::new(Plan::new(config)?);
    if config.pid.is_some() && config.addr.is_none() {
        return Err("--pid is for a server at --addr".to_string());
    }
    if let Some(pid) = config.pid
        && memory_of(Some(pid)).0 == 0
    {
        return Err(format!(
            "cannot read the memory of process {pid} (/proc/{pid}/status)"
        ));
    }
    let server = crate::tcp::BenchServer::open(
        config.addr.as_ref(),
        config.data_dir.as_ref(),
        config.transfers_reserve,
    )?;
    let result = server.drive(async |addr| soak(config, &plan, &addr, progress, on_sample).await);
    let result = match (&server.node, result) {
        (Some(node), Ok(mut report)) => node
            .read(|state| {
                state.ledger().check_conservation();
                state.credit().check_lines(state.ledger());
                state
                    .promotions()
                    .check_records()
                    .map_err(|e| format!("promotions after the soak: {e}"))?;
                Ok(state.ledger().transfer_count())
            })
            .map(|count| {
                report.transfer_count = Some(count);
                report
            }),
        (_, result) => result,
    };
    server.shutdown();
    result
}

/// A call's end: its latency, events, refusals (index, kind: result) and what became ready.
struct Answered {
    latency: Duration,
    events: u64,
    outcome: Result<(Vec<String>, Vec<FollowUp>), String>,
}

async fn setup(plan: &Plan, client: &Client) -> Result<(), String> {
    fn refused<R: Copy>(
        what: &str,
        failures: &[(u32, R)],
        name: fn(R) -> &'static str,
    ) -> Result<(), String> {
        match failures.first() {
            None => Ok(()),
            Some((index, result)) => Err(format!(
                "{what}: {} refused, the first (#{index}) with {} (against a running server, \
                 give each run its own --seed)",
                failures.len(),
                name(*result)
            )),
        }
    }
    let error = |what: &'static str| move |e: client::Error| format!("{what}: {e}");
    for chunk in plan.accounts().chunks(engine::REQUEST_EVENTS_MAX) {
        let failures = client
            .create_accounts(chunk.to_vec())
            .await
            .map_err(error("creating accounts"))?;
        refused("creating accounts", &failures, |r| r.name())?;
    }
    if plan.credit > 0 {
        let failures = client
            .create_programs(vec![plan.program()])
            .await
            .map_err(error("creating the program"))?;
        refused("creating the program", &failures, |r| r.name())?;
        let lines: Vec<credit::Command> = (0..plan.lines).map(|l| plan.open_line(l)).collect();
        for chunk in lines.chunks(engine::REQUEST_EVENTS_MAX) {
            let failures = client
                .credit(chunk.to_vec())
                .await
                .map_err(error("opening lines"))?;
            refused("opening lines", &failures, |r| r.name())?;
        }
    }
    let campaigns: Vec<Campaign> = (0..plan.campaign_count())
        .map(|k| plan.campaign(k))
        .collect();
    let funds: Vec<promotions::Command> =
        (0..plan.campaign_count()).map(|k| plan.fund(k)).collect();
    for chunk in campaigns.chunks(PROMOTIONS_REQUEST_MAX) {
        let failures = client
            .create_campaigns(chunk.to_vec())
            .await
            .map_err(error("creating campaigns"))?;
        refused("creating campaigns", &failures, |r| r.name())?;
    }
    for chunk in funds.chunks(PROMOTIONS_REQUEST_MAX) {
        let failures = client
            .promotions(chunk.to_vec())
            .await
            .map_err(error("funding campaigns"))?;
        refused("funding campaigns", &failures, |r| r.name())?;
    }
    Ok(())
}

/// Sends one call and sorts its answer.
async fn send(client: Client, call: Call, due: Instant) -> Answered {
    let events = call.events.len() as u64;
    let kind = call.events.kind();
    let failures: Result<Vec<(u32, &'static str)>, client::Error> = match call.events {
        Events::Transfers(v) => client
            .create_transfers(v)
            .await
            .map(|f| f.into_iter().map(|(i, r)| (i, r.name())).collect()),
        Events::Credit(v) => client
            .credit(v)
            .await
            .map(|f| f.into_iter().map(|(i, r)| (i, r.name())).collect()),
        Events::Promotions(v) => client
            .promotions(v)
            .await
            .map(|f| f.into_iter().map(|(i, r)| (i, r.name())).collect()),
    };
    let latency = due.elapsed();
    let outcome = match failures {
        Err(e) => Err(format!("{kind}: {e}")),
        Ok(failures) => {
            let ready = call
                .follow_ups
                .into_iter()
                .filter(|(i, _)| failures.binary_search_by_key(i, |f| f.0).is_err())
                .map(|(_, f)| f)
                .collect();
            let refused = failures
                .into_iter()
                .map(|(i, name)| format!("{kind} #{i}: {name}"))
                .collect();
            Ok((refused, ready))
        }
    };
    Answered {
        latency,
        events,
        outcome,
    }
}

/// What the load loop keeps between samples.
struct Tally {
    overall: Histogram<u64>,
    window: Histogram<u64>,
    calls: u64,
    window_calls: u64,
    events: u64,
    window_events: u64,
    refused: u64,
    window_refused: u64,
    first_refusal: Option<String>,
    call_errors: u64,
    first_call_error: Option<String>,
    last_answer: Instant,
}

impl Tally {
    fn answer(&mut self, answered: Answered, schedule: &mut Schedule) {
        self.last_answer = Instant::now();
        match answered.outcome {
            Err(e) => {
                self.call_errors += 1;
                self.first_call_error.get_or_insert(e);
            }
            Ok((refused, ready)) => {
                record(&mut self.overall, answered.latency);
                record(&mut self.window, answered.latency);
                self.calls += 1;
                self.window_calls += 1;
                self.events += answered.events;
                self.window_events += answered.events;
                self.refused += refused.len() as u64;
                self.window_refused += refused.len() as u64;
                if self.first_refusal.is_none() {
                    self.first_refusal = refused.into_iter().next();
                }
                for follow_up in ready {
                    schedule.ready(follow_up);
                }
            }
        }
    }

    #[expect(clippy::cast_precision_loss, reason = "reporting only")]
    fn sample(
        &mut self,
        seconds: f64,
        since: f64,
        in_flight: usize,
        pid: Option<u32>,
    ) -> SoakSample {
        let sample = SoakSample {
            seconds,
            events: self.window_events,
            events_total: self.events,
            events_per_second: self.window_events as f64 / (seconds - since).max(1e-9),
            calls: self.window_calls,
            latency_ms: if self.window.is_empty() {
                [0.0; 3]
            } else {
                quantiles(&self.window)
            },
            refused: self.window_refused,
            in_flight,
            rss_bytes: memory_of(pid).0,
        };
        self.window.reset();
        self.window_calls = 0;
        self.window_events = 0;
        self.window_refused = 0;
        sample
    }
}

async fn soak(
    config: &SoakConfig,
    plan: &Arc<Plan>,
    addr: &str,
    progress: &(dyn Fn(f64) + Sync),
    on_sample: &(dyn Fn(&SoakSample) + Sync),
) -> Result<SoakReport, String> {
    let mut clients = Vec::new();
    for _ in 0..config.clients.max(1) {
        let client = Client::connect_with(addr, ClientConfig::new(CLUSTER_ID))
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        clients.push(client);
    }
    setup(plan, &clients[0]).await?;
    let rss_bytes_setup = memory_of(config.pid).0;

    let mut schedule = Schedule::new();
    let mut set: JoinSet<Answered> = JoinSet::new();
    let mut samples: Vec<SoakSample> = Vec::new();
    let started = Instant::now();
    let mut tally = Tally {
        overall: histogram(),
        window: histogram(),
        calls: 0,
        window_calls: 0,
        events: 0,
        window_events: 0,
        refused: 0,
        window_refused: 0,
        first_refusal: None,
        call_errors: 0,
        first_call_error: None,
        last_answer: started,
    };
    let mut next_sample = started + config.interval;
    let mut calls_sent = 0usize;
    let tick_due = |tick: u64| started + Duration::from_nanos(tick.saturating_mul(TICK_NS));
    let mut last_sample = 0.0f64;
    loop {
        let ticking = schedule.tick < plan.ticks;
        let due = tick_due(schedule.tick);
        tokio::select! {
            biased;
            joined = set.join_next(), if !set.is_empty() => {
                let answered = joined
                    .expect("set is not empty")
                    .map_err(|e| format!("a call task failed: {e}"))?;
                tally.answer(answered, &mut schedule);
            }
            () = tokio::time::sleep_until(next_sample), if ticking => {
                let seconds = (next_sample - started).as_secs_f64();
                let sample = tally.sample(seconds, last_sample, set.len(), config.pid);
                last_sample = seconds;
                on_sample(&sample);
                samples.push(sample);
                next_sample += config.interval;
            }
            () = tokio::time::sleep_until(due), if ticking => {
                for call in schedule.next_tick(plan) {
                    let client = clients[calls_sent % clients.len()].clone();
                    calls_sent += 1;
                    set.spawn(send(client, call, due));
                }
                #[expect(clippy::cast_precision_loss, reason = "progress only")]
                progress(schedule.tick as f64 / plan.ticks as f64);
            }
            else => break,
        }
    }
    // The last interval runs to the last answer.
    let elapsed = (tally.last_answer.max(tick_due(plan.ticks)) - started).as_secs_f64();
    let sample = tally.sample(elapsed, last_sample, 0, config.pid);
    on_sample(&sample);
    samples.push(sample);
    progress(1.0);

    let fit = fit_memory(&samples);
    let design = design_bytes_per_event(
        config.pending_percent,
        config.credit_percent,
        config.promotions_percent,
    );
    let rss = |f: fn(&SoakSample) -> u64| samples.first().map_or(0, f);
    let worst_interval_p99_ms = samples.iter().map(|s| s.latency_ms[1]).fold(0.0, f64::max);
    #[expect(clippy::cast_precision_loss, reason = "reporting only")]
    let events_per_second = tally.events as f64 / elapsed.max(1e-9);
    Ok(SoakReport {
        seconds: config.duration.as_secs_f64(),
        offered_rate: config.rate,
        interval_seconds: config.interval.as_secs_f64(),
        clients: clients.len(),
        pending_percent: config.pending_percent,
        credit_percent: config.credit_percent,
        promotions_percent: config.promotions_percent,
        events_offered: schedule.offered,
        events: tally.events,
        events_per_second,
        elapsed_seconds: elapsed,
        calls: tally.calls,
        latency_ms: if tally.overall.is_empty() {
            [0.0; 3]
        } else {
            quantiles(&tally.overall)
        },
        worst_interval_p99_ms,
        refused: tally.refused,
        first_refusal: tally.first_refusal,
        call_errors: tally.call_errors,
        first_call_error: tally.first_call_error,
        rss_of: config
            .pid
            .map_or_else(|| "self".to_string(), |pid| format!("pid {pid}")),
        rss_bytes_setup,
        rss_bytes_first: rss(|s| s.rss_bytes),
        rss_bytes_last: samples.last().map_or(0, |s| s.rss_bytes),
        rss_bytes_max: samples.iter().map(|s| s.rss_bytes).max().unwrap_or(0),
        rss_peak_bytes: memory_of(config.pid).1,
        verdict: verdict(&fit, DESIGN_FACTOR * design),
        fit,
        design_bytes_per_event: design,
        retained_bytes_per_event_max: DESIGN_FACTOR * design,
        transfer_count: None,
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: a short soak at a low rate runs the whole mix (transfers, pending and their
    // resolution, credit, promotions) with nothing refused, takes a sample per interval, and
    // the JSON has every field later tooling reads.
    #[test]
    fn a_short_soak_runs_the_mix_and_reports() {
        let config = SoakConfig {
            duration: Duration::from_secs(3),
            rate: 2000,
            interval: Duration::from_millis(250),
            account_count: 1000,
            line_count: 50,
            merchant_count: 10,
            ..SoakConfig::new()
        };
        let report = run(&config, &|_| {}, &|_| {}).expect("runs");
        assert_eq!(report.refused, 0, "{:?}", report.first_refusal);
        assert_eq!(report.call_errors, 0, "{:?}", report.first_call_error);
        assert_eq!(report.events_offered, 6000);
        assert_eq!(report.events, 6000, "every offered event answered");
        assert!(report.events_per_second > 0.0);
        assert!(
            (10..=14).contains(&report.samples.len()),
            "{} samples",
            report.samples.len()
        );
        assert_eq!(
            report.samples.iter().map(|s| s.events).sum::<u64>(),
            report.events
        );
        assert!(report.samples.iter().all(|s| s.rss_bytes > 0));
        assert!(report.rss_bytes_max >= report.rss_bytes_last);
        assert!(report.latency_ms[2] >= report.latency_ms[0]);
        // Single-phase, pending, posts and voids, and what credit and promotions post.
        let transfers = report.transfer_count.expect("in process");
        assert!(transfers > 5000, "{transfers}");
        let json = report.to_json();
        for key in [
            "\"seconds\":3.000,",
            "\"offered_rate\":2000,",
            "\"events\":6000,",
            "\"events_per_second\":",
            "\"latency_ms_p50\":",
            "\"latency_ms_p99\":",
            "\"latency_ms_max\":",
            "\"rss_bytes_first\":",
            "\"rss_bytes_last\":",
            "\"rss_bytes_max\":",
            "\"rss_slope_bytes_per_minute\":",
            "\"bytes_per_event_retained\":",
            "\"worst_interval_latency_ms_p99\":",
            "\"refused\":0,",
            "\"verdict\":\"",
            "\"samples\":[{\"seconds\":0.250,",
        ] {
            assert!(json.contains(key), "{json} lacks {key}");
        }
        assert!(report.retained_bytes_per_event_max > report.design_bytes_per_event);
    }

    // Goal: the schedule sends exactly the offered events, each kind its share, and a
    // follow-up only once what it follows was answered; when none is ready its share goes to
    // single-phase transfers and is caught up later.
    #[test]
    fn the_schedule_keeps_the_rate_and_the_shares() {
        let config = SoakConfig {
            duration: Duration::from_secs(10),
            rate: 10_000,
            ..SoakConfig::new()
        };
        let plan = Plan::new(&config).expect("valid");
        assert_eq!(plan.ticks, 1000);
        let mut schedule = Schedule::new();
        let mut total = 0u64;
        let mut counts = [0u64; 3];
        for tick in 0..plan.ticks {
            let calls = schedule.next_tick(&plan);
            for call in calls {
                total += call.events.len() as u64;
                let slot = match call.events {
                    Events::Transfers(_) => 0,
                    Events::Credit(_) => 1,
                    Events::Promotions(_) => 2,
                };
                counts[slot] += call.events.len() as u64;
                // Everything is answered ok, but only from the 10th tick on.
                if tick >= 10 {
                    for (_, follow_up) in call.follow_ups {
                        schedule.ready(follow_up);
                    }
                }
            }
        }
        assert_eq!(total, 100_000);
        // 4% credit, 6% promotions: within the follow-ups that could not be caught up.
        assert!((3900..=4000).contains(&counts[1]), "{counts:?}");
        assert!((5900..=6000).contains(&counts[2]), "{counts:?}");
        let resolved = schedule.sent[Kind::Resolve.index()];
        assert!((9800..=10_000).contains(&resolved), "{resolved}");
        assert_eq!(schedule.sent[Kind::Pending.index()], 10_000);
        assert_eq!(schedule.sent[Kind::Grab.index()], 3000);
        assert_eq!(schedule.sent[Kind::Purchase.index()], plan.purchases);
        assert_eq!(plan.pools, 3);
        // The shares must leave room for single-phase transfers.
        assert!(
            Plan::new(&SoakConfig {
                pending_percent: 40,
                credit_percent: 30,
                ..SoakConfig::new()
            })
            .is_err()
        );
    }

    fn series(points: usize, rss: impl Fn(usize) -> u64) -> Vec<SoakSample> {
        (1..=points)
            .map(|i| SoakSample::memory(10.0 * i as f64, 200_000 * i as u64, rss(i)))
            .collect()
    }

    // Goal: the verdict on synthetic series: flat memory, or growth within the design's
    // per-event state, is bounded; steep linear growth is growing; noise below the floor and
    // growth only in the warm-up half are bounded.
    #[test]
    fn the_memory_verdict() {
        const GIB: u64 = 1 << 30;
        // The default mix: about 61 bytes per event by design, growing above twice that.
        let design = design_bytes_per_event(10, 4, 6);
        assert!((60.0..62.0).contains(&design), "{design}");
        assert!((design_bytes_per_event(0, 0, 0) - 48.0).abs() < 1e-9);
        const MAX: f64 = 122.4;
        assert!((DESIGN_FACTOR * design - MAX).abs() < 0.5);
        // Flat at 1 GiB, with a few MiB of noise.
        let flat = series(60, |i| GIB + (i as u64 % 3) * (4 << 20));
        let fit = fit_memory(&flat);
        assert_eq!(fit.window_samples, 30);
        assert!(fit.bytes_per_event_retained.expect("events").abs() < 1.0);
        assert_eq!(verdict(&fit, MAX), Verdict::Bounded);

        // 48 bytes per event (the ledger's index state): bounded, and the figures say so.
        let design = series(60, |i| GIB + 48 * 200_000 * i as u64);
        let fit = fit_memory(&design);
        let per_event = fit.bytes_per_event_retained.expect("events");
        assert!((per_event - 48.0).abs() < 0.01, "{per_event}");
        assert!((fit.rss_slope_bytes_per_minute - 48.0 * 20_000.0 * 60.0).abs() < 1.0);
        assert_eq!(verdict(&fit, MAX), Verdict::Bounded);

        // 1 KiB per event: growing.
        let steep = series(60, |i| GIB + 1024 * 200_000 * i as u64);
        let fit = fit_memory(&steep);
        assert!((fit.bytes_per_event_retained.expect("events") - 1024.0).abs() < 0.01);
        assert_eq!(verdict(&fit, MAX), Verdict::Growing);

        // Steep per event, but a few MiB in all (a short run): below the noise floor.
        let short = (1..=8u32)
            .map(|i| {
                let n = u64::from(i);
                SoakSample::memory(0.25 * f64::from(i), 500 * n, GIB + 4096 * 500 * n)
            })
            .collect::<Vec<_>>();
        assert_eq!(verdict(&fit_memory(&short), MAX), Verdict::Bounded);

        // Growth in the warm-up half only, flat after: bounded.
        let warm = series(60, |i| GIB + 1024 * 200_000 * i.min(30) as u64);
        assert_eq!(verdict(&fit_memory(&warm), MAX), Verdict::Bounded);

        // No event answered in the second half while memory grows: growing.
        let stalled: Vec<SoakSample> = (1..=10)
            .map(|i| SoakSample::memory(10.0 * i as f64, 1000, GIB + (100 << 20) * i as u64))
            .collect();
        let fit = fit_memory(&stalled);
        assert_eq!(fit.bytes_per_event_retained, None);
        assert_eq!(verdict(&fit, MAX), Verdict::Growing);
        // Too few samples to fit: bounded.
        assert_eq!(verdict(&fit_memory(&stalled[..1]), MAX), Verdict::Bounded);
    }
}
