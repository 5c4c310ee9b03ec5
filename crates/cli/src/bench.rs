//! `elevenfold bench ledger`, `elevenfold bench credit`, `elevenfold bench promotions` and
//! `elevenfold bench soak`: flags in, `bench::run` (or `bench::run_credit`,
//! `bench::run_promotions`, `bench::run_soak`) out, a progress line on a terminal, and the report
//! as text or one JSON object (`--json`).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    target: Target,
}

#[derive(Debug, Subcommand)]
enum Target {
    /// Transfers through the ledger: state machine, durable node, HTTP, binary protocol, or
    /// recovery.
    ///
    /// Examples (binary protocol, server started in process on a temporary directory):
    ///   full batches:        --mode tcp --transfers 2000000 --batch 8189 --clients 4
    ///   one per call:        --mode tcp --transfers 1000000 --batch 1 --clients 10000
    ///   latency at a load:   --mode tcp --transfers 2000000 --batch 8189 --target-rate 500000
    ///   a running server:    --mode tcp --addr 127.0.0.1:3000 --seed 2
    #[command(verbatim_doc_comment)]
    Ledger(LedgerArgs),
    /// Credit lines: authorizations (durable, binary protocol) and a day-close.
    ///
    /// Through the binary protocol (a node started here, fsync before every reply), or the
    /// state machine alone (--mode state-machine). Setup opens --lines lines (statement days
    /// spread over 1-28, so about 1/28 bill on the business date), then --authorizations
    /// authorizations (timed, per request), captures --capture-percent of them, and closes
    /// the business date over every line (timed). See docs/cli-credit.md.
    ///
    /// Examples:
    ///   durable, binary protocol:   --lines 1000000 --authorizations 5000000 --json
    ///   10M lines, memory, day-close: --mode state-machine --lines 10000000
    ///   a running server:           --addr 127.0.0.1:3000 --seed 2 --date 2026-11-24
    #[command(verbatim_doc_comment)]
    Credit(CreditArgs),
    /// Promotions: red-packet grabs and purchases carrying two coupons (durable, binary
    /// protocol).
    ///
    /// Through the binary protocol (a node started here, fsync before every reply), or the
    /// state machine alone (--mode state-machine). Setup creates --users users, --merchants
    /// merchants, --pools red-packet pools sharing --total-yuan (--packets-per-pool each) and
    /// two coupon campaigns (the platform's 满100减10 and a bank card's 5% up to 20 yuan), all
    /// funded. Then every pool is grabbed empty, one grab per user per pool (timed, per
    /// request); two coupons are claimed and issued per purchase (timed apart); --purchases
    /// checkouts each carrying both coupons, then their captures (timed: a purchase is both).
    /// Exits 1 if anything was refused.
    ///
    /// Examples:
    ///   durable, binary protocol:  --json
    ///   engine alone:              --mode state-machine --json
    ///   paid by credit lines:      --payer line
    ///   one-step purchases:        --one-step
    ///   a running server:          --addr 127.0.0.1:3000 --seed 2
    #[command(verbatim_doc_comment)]
    Promotions(PromotionsArgs),
    /// The provenance log: durable batched appends through the service the server runs, then
    /// inclusion-proof latency in the warm process, verifications on one core, and recovery.
    ///
    /// Examples:
    ///   the BENCHMARKS.md figures:  --json
    ///   tens of millions:           --entries 20000000 --proofs 100000
    #[command(verbatim_doc_comment)]
    Provenance(crate::provenance::BenchProvenanceArgs),
    /// Soak: a mixed load at a fixed rate for --seconds, memory and latency per interval, and a
    /// verdict on memory growth.
    ///
    /// A node and the binary listener are started here on a temporary directory (fsync before
    /// every reply), or --addr names a running server (and --pid its process, for memory).
    /// Setup creates --accounts users, --merchants merchants, --lines credit lines and the
    /// red-packet pools and coupon campaign the run needs. Then every 10 ms the events due at
    /// --rate per second leave (open loop): single-phase transfers, --pending-percent pending
    /// transfers and as many posts or voids of answered ones, --credit-percent authorizations
    /// and captures, --promotions-percent grabs, coupon claims, checkouts and captures.
    /// Every --interval seconds one line: events, latency p50/p99/max of the calls answered,
    /// RSS. At the end, the slope of RSS over the second half of the samples, per event and per
    /// minute, and "verdict: bounded" or "verdict: growing" (more than twice the state the
    /// design keeps per event of the mix, about 61 bytes for the default one, and more than 32
    /// MiB in the second half). Exits 1 if growing, or if anything was refused or a call
    /// failed. See docs/soak.md.
    ///
    /// Examples:
    ///   the BENCHMARKS.md run:   --seconds 600 --json
    ///   a quick look:            --seconds 60 --interval 5
    ///   a running server:        --addr 127.0.0.1:3000 --pid 1234 --seed 2
    #[command(verbatim_doc_comment)]
    Soak(SoakArgs),
}

#[derive(Debug, Args)]
struct SoakArgs {
    /// How long the load runs, in seconds (setup excluded).
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,
    /// Offered events per second (transfers and commands alike), open loop.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    rate: u64,
    /// Seconds between samples (fractions allowed).
    #[arg(long, default_value_t = 10.0)]
    interval: f64,
    /// Client connections the calls are spread over, round robin.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1024))]
    clients: u64,
    /// User accounts (transfers between them, red packets into them, checkouts paid by them).
    #[arg(long, default_value_t = 10_000)]
    accounts: u64,
    /// Merchant accounts (credit purchases and checkouts go to them).
    #[arg(long, default_value_t = 100)]
    merchants: u64,
    /// Credit lines the authorizations are drawn over.
    #[arg(long, default_value_t = 1000)]
    lines: u64,
    /// Share of events that create a pending transfer, in percent; as many again post or void
    /// one whose creation was answered.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(0..=50))]
    pending_percent: u8,
    /// Share of events that are credit authorizations and their captures (half each); 0: no
    /// credit program or lines.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(0..=100))]
    credit_percent: u8,
    /// Share of events that are promotions commands: half red-packet grabs, a sixth each coupon
    /// claims, checkouts carrying them and captures; 0: no campaigns.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(0..=100))]
    promotions_percent: u8,
    /// Seed of the workload. Against --addr it also sets the ids (from seed * 2^64): give
    /// each run on one server its own seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A running server's binary-protocol address (127.0.0.1:3000) instead of one started here.
    #[arg(long)]
    addr: Option<String>,
    /// With --addr: the server's process id; its /proc/PID/status is sampled (without it, this
    /// process's, which then holds only the bench).
    #[arg(long, requires = "addr")]
    pid: Option<u32>,
    /// Data directory for the node (default: a temporary one, removed afterwards).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// For a node started here: size the transfer id index for N transfers up front.
    #[arg(long, value_name = "N", default_value_t = 0)]
    transfers_reserve: u64,
    /// Print one JSON object instead of text (the interval lines then go to stderr): seconds,
    /// offered_rate, events, events_per_second, latency_ms_p50/p99/max (per call, from its
    /// scheduled time), worst_interval_latency_ms_p99, refused, rss_bytes_first/last/max,
    /// rss_slope_bytes_per_minute, bytes_per_event_retained, verdict, and the samples.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PromotionsMode {
    /// The binary protocol through the Rust client; a node and listener are started here
    /// (fsync before every reply) unless --addr is given.
    Tcp,
    /// The state machine alone, one core, no log (the engine's own cost).
    StateMachine,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PromotionsPayer {
    /// The user's ordinary ledger account.
    Account,
    /// The user's credit line (one per user, opened in the setup).
    Line,
}

#[derive(Debug, Args)]
struct PromotionsArgs {
    #[arg(long, value_enum, default_value = "tcp")]
    mode: PromotionsMode,
    /// Red-packet pools (0: no grabs).
    #[arg(long, default_value_t = 1000)]
    pools: u64,
    /// Packets in each pool; each pool is grabbed empty by that many distinct users.
    #[arg(long, default_value_t = 5000)]
    packets_per_pool: u32,
    /// What all the pools hold together, in yuan (at least 0.01 yuan a packet).
    #[arg(long, default_value_t = 1_000_000_000)]
    total_yuan: u64,
    /// Users (one account each, and a line with --payer line); at least --packets-per-pool.
    #[arg(long, default_value_t = 1_000_000)]
    users: u64,
    /// Purchases, each a checkout carrying two coupons and its capture (0: none).
    #[arg(long, default_value_t = 2_000_000)]
    purchases: u64,
    /// Merchant accounts the purchases go to.
    #[arg(long, default_value_t = 1000)]
    merchants: u64,
    /// What pays the purchases.
    #[arg(long, value_enum, default_value = "account")]
    payer: PromotionsPayer,
    /// One-step purchases: each checkout captured as it is made (no capture phase).
    #[arg(long)]
    one_step: bool,
    /// Grabs, checkouts or captures per request (at most 4096: 256-byte records in a 1 MiB
    /// frame).
    #[arg(long, default_value_t = 4096)]
    batch: usize,
    /// Concurrent tasks, each waiting for its reply before sending again.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// With --mode tcp: the Rust clients (TCP connections) the tasks share. Default: one per
    /// task. Tasks per connection x --batch must stay within 4096.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    connections: Option<u64>,
    /// Seed of the workload. Against --addr it also sets the ids (from seed * 2^64): give
    /// each run on one server its own seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A running server's binary-protocol address (127.0.0.1:3000) instead of one started here.
    #[arg(long)]
    addr: Option<String>,
    /// Data directory for the node (default: a temporary one, removed afterwards).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// For a node started here (or the state machine): size the transfer id index for N
    /// transfers up front.
    #[arg(long, value_name = "N", default_value_t = 0)]
    transfers_reserve: u64,
    /// Print one JSON object instead of text: grabs_per_second,
    /// purchases_with_coupons_per_second, checkouts_per_second, captures_per_second, per phase
    /// the count, seconds, requests, rejections and latency_ms_p50/p99/max (per request),
    /// rejected_count, verified, rss_bytes, and the run's settings.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum CreditMode {
    /// The binary protocol through the Rust client; a node and listener are started here
    /// (fsync before every reply) unless --addr is given.
    Tcp,
    /// The state machine alone, one core, no log (for memory and day-close at scale).
    StateMachine,
}

#[derive(Debug, Args)]
struct CreditArgs {
    #[arg(long, value_enum, default_value = "tcp")]
    mode: CreditMode,
    /// Credit lines to open (one borrower each).
    #[arg(long, default_value_t = 1_000_000)]
    lines: u64,
    /// Purchase authorizations, on lines and merchants drawn uniformly from the seed.
    #[arg(long, default_value_t = 5_000_000)]
    authorizations: u64,
    /// Authorizations per request (at most 8189: full requests); with --mode tcp, per call to
    /// the client, which coalesces concurrent calls into requests of up to 8189.
    #[arg(long, default_value_t = 8189)]
    batch: usize,
    /// Concurrent tasks, each waiting for its reply before sending again.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// With --mode tcp: the Rust clients (TCP connections) the tasks share. Default: one per
    /// task (at most 16) with --batch 8189, otherwise one.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    connections: Option<u64>,
    /// Merchant accounts the purchases go to.
    #[arg(long, default_value_t = 1000)]
    merchants: u64,
    /// Share of the authorizations captured (in full) before the day-close, in percent.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    capture_percent: u8,
    /// Share of the lines whose statement day is the business date, in percent. Default:
    /// statement days uniform over 1-28 (about 1/28 of the lines).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100))]
    statement_percent: Option<u8>,
    /// Lines per day-close command (one request each), 1 to 1000000.
    #[arg(long, default_value_t = 1_000_000)]
    day_close_chunk: u32,
    /// Business dates to close one after the other, from --date (1 to 366). With no
    /// repayments, billed lines go overdue after their due day and post a penalty every day:
    /// by --days 40 about nine in ten billed lines do (the day-close's heavy case); the report
    /// gives the slowest, first and last day-close.
    #[arg(long, default_value_t = 1)]
    days: u32,
    /// The business date to close (the program's start date), YYYY-MM-DD. Against a running
    /// server whose business date is set, pass it.
    #[arg(long, default_value = "2026-11-24")]
    date: String,
    /// Seed of the workload. Against --addr it also sets the ids (from seed * 2^64): give
    /// each run on one server its own seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A running server's binary-protocol address (127.0.0.1:3000) instead of one started here.
    #[arg(long)]
    addr: Option<String>,
    /// Data directory for the node (default: a temporary one, removed afterwards).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// For a node started here: size the transfer id index for N transfers up front.
    #[arg(long, value_name = "N", default_value_t = 0)]
    transfers_reserve: u64,
    /// Print one JSON object instead of text: authorizations_per_second,
    /// latency_ms_p50/p99/max (per request), day_close_seconds, rss_bytes and rss_peak_bytes
    /// (this process: with the node in process, the server's memory), the statements the
    /// day-close issued, and the run's settings.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    /// The state machine alone, one core, no log.
    StateMachine,
    /// An in-process node: WAL, group commit, fsync before reply.
    Node,
    /// The HTTP/JSON API of a server (started here unless --addr is given).
    Http,
    /// The binary protocol (docs/protocol.md) through the Rust client, which coalesces the
    /// clients' calls into full requests; a node and listener are started here unless --addr
    /// is given.
    Tcp,
    /// Write through a node, restart, and time the replay.
    Recovery,
}

#[derive(Debug, Args)]
struct LedgerArgs {
    #[arg(long, value_enum, default_value = "node")]
    mode: Mode,
    /// Transfers to create.
    #[arg(long, default_value_t = 1_000_000)]
    transfers: u64,
    /// Accounts to spread them over.
    #[arg(long, default_value_t = 10_000)]
    accounts: u64,
    /// Transfers per request (at most 8189); with --mode tcp, per call to the client, which
    /// coalesces concurrent calls into requests of up to 8189.
    #[arg(long, default_value_t = 8189)]
    batch: usize,
    /// Concurrent clients, each waiting for its reply before sending again. With --mode tcp,
    /// tokio tasks sharing --connections clients (e.g. --clients 10000 --batch 1).
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// With --mode tcp: the Rust clients (TCP connections) the tasks share, round robin.
    /// Default: one per task (at most 16) with --batch 8189, whose full vectors need no
    /// coalescing; otherwise one, which coalesces the tasks' calls into full requests.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    connections: Option<u64>,
    /// With --mode tcp: offer N transfers/s in an open loop instead of --clients waiting for
    /// replies. Calls of --batch transfers leave on a fixed schedule (call k at
    /// k * batch / N seconds), answered or not (only the client's own in-flight limits hold
    /// them); each call's latency runs from its scheduled time, so stalls are not hidden
    /// (no coordinated omission). For latency at a given load, e.g. half the peak rate.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    target_rate: Option<u64>,
    /// For servers started in process: size the id index for N transfers up front, so it
    /// never rehashes (a stall of the writer) during the run. Like `start --transfers-reserve`.
    #[arg(long, value_name = "N", default_value_t = 0)]
    transfers_reserve: u64,
    /// Zipf exponent of account choice (0 = uniform).
    #[arg(long, default_value_t = 0.0)]
    zipf: f64,
    /// Every transfer credits one account (one big merchant).
    #[arg(long)]
    hot_account: bool,
    /// Share of transfers created pending, in percent.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pending_percent: u8,
    /// Seed of the workload. Against --addr it also sets the ids (accounts and transfers start
    /// at seed * 2^64 + 1): give each run on one server its own seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A running server instead of one started here: for --mode http its HTTP address
    /// (http://127.0.0.1:8080), for --mode tcp its binary-protocol address (127.0.0.1:3000).
    #[arg(long)]
    addr: Option<String>,
    /// Data directory for the node (default: a temporary one, removed afterwards).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Print one JSON object instead of text: transfers_per_second, latency_ms_p50/p99/max
    /// (what one sample is: latency_kind, "request" or "call"), request_count,
    /// request_latency_ms_p50/p99/max (tcp: send to reply on the wire), and the run's settings.
    #[arg(long)]
    json: bool,
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    match args.target {
        Target::Ledger(args) => run_ledger(args),
        Target::Credit(args) => run_credit(args),
        Target::Promotions(args) => run_promotions(args),
        Target::Provenance(args) => crate::provenance::run_bench(&args),
        Target::Soak(args) => run_soak(args),
    }
}

fn run_soak(args: SoakArgs) -> anyhow::Result<ExitCode> {
    if !(args.interval.is_finite() && args.interval >= 0.01) {
        anyhow::bail!("--interval must be at least 0.01 seconds");
    }
    let config = bench::SoakConfig {
        duration: Duration::from_secs(args.seconds),
        rate: args.rate,
        interval: Duration::from_secs_f64(args.interval),
        clients: usize::try_from(args.clients)?,
        account_count: args.accounts,
        merchant_count: args.merchants,
        line_count: args.lines,
        pending_percent: args.pending_percent,
        credit_percent: args.credit_percent,
        promotions_percent: args.promotions_percent,
        seed: args.seed,
        addr: args.addr,
        pid: args.pid,
        data_dir: args.data_dir,
        transfers_reserve: args.transfers_reserve,
    };
    let progress = Progress::new();
    let json = args.json;
    let on_sample = |sample: &bench::SoakSample| {
        // One line per interval: on stdout for text, on stderr beside the JSON.
        progress.clear();
        if json {
            eprintln!("{}", sample.to_text());
        } else {
            println!("{}", sample.to_text());
        }
    };
    let report = bench::run_soak(&config, &|share| progress.draw(share), &on_sample)
        .map_err(|e| anyhow::anyhow!(e))?;
    progress.clear();
    if json {
        println!("{}", report.to_json());
    } else {
        println!("{}", report.to_text());
    }
    if report.refused > 0 || report.call_errors > 0 {
        eprintln!(
            "error: {} event(s) refused (the first: {}), {} call(s) failed (the first: {})",
            report.refused,
            report.first_refusal.as_deref().unwrap_or("none"),
            report.call_errors,
            report.first_call_error.as_deref().unwrap_or("none")
        );
        return Ok(ExitCode::from(1));
    }
    if report.verdict == bench::Verdict::Growing {
        eprintln!("error: memory is growing beyond the design's per-event state (docs/soak.md)");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn run_promotions(args: PromotionsArgs) -> anyhow::Result<ExitCode> {
    let config = bench::PromotionsConfig {
        mode: match args.mode {
            PromotionsMode::Tcp => bench::PromotionsMode::Tcp,
            PromotionsMode::StateMachine => bench::PromotionsMode::StateMachine,
        },
        pools: args.pools,
        packets_per_pool: args.packets_per_pool,
        user_count: args.users,
        total_yuan: args.total_yuan,
        purchase_count: args.purchases,
        merchant_count: args.merchants,
        payer: match args.payer {
            PromotionsPayer::Account => bench::Payer::Account,
            PromotionsPayer::Line => bench::Payer::Line,
        },
        one_step: args.one_step,
        batch_size: args.batch,
        clients: args.clients,
        connections: args.connections.map(usize::try_from).transpose()?,
        seed: args.seed,
        addr: args.addr,
        data_dir: args.data_dir,
        transfers_reserve: args.transfers_reserve,
    };
    let progress = Progress::new();
    let report = bench::run_promotions(&config, &|share| progress.draw(share))
        .map_err(|e| anyhow::anyhow!(e))?;
    progress.clear();
    if args.json {
        println!("{}", report.to_json());
    } else {
        println!("{}", report.to_text());
    }
    // A correct run refuses nothing: say so loudly, after the figures.
    if let Some(first) = report.first_rejection() {
        eprintln!(
            "error: {} command(s) refused (the first: {first}); the state was not checked",
            report.rejected_count
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn run_credit(args: CreditArgs) -> anyhow::Result<ExitCode> {
    let config = bench::CreditConfig {
        mode: match args.mode {
            CreditMode::Tcp => bench::CreditMode::Tcp,
            CreditMode::StateMachine => bench::CreditMode::StateMachine,
        },
        line_count: args.lines,
        authorization_count: args.authorizations,
        batch_size: args.batch,
        clients: args.clients,
        connections: args.connections.map(usize::try_from).transpose()?,
        merchant_count: args.merchants,
        capture_percent: args.capture_percent,
        statement_percent: args.statement_percent,
        day_close_chunk: args.day_close_chunk,
        days: args.days,
        date: args
            .date
            .parse()
            .map_err(|e| anyhow::anyhow!("--date {}: {e}", args.date))?,
        seed: args.seed,
        addr: args.addr,
        data_dir: args.data_dir,
        transfers_reserve: args.transfers_reserve,
    };
    let progress = Progress::new();
    let report = bench::run_credit(&config, &|share| progress.draw(share))
        .map_err(|e| anyhow::anyhow!(e))?;
    progress.clear();
    if args.json {
        println!("{}", report.to_json());
    } else {
        println!("{}", report.to_text());
    }
    Ok(ExitCode::SUCCESS)
}

/// A progress bar on stderr, when it is a terminal, redrawn at most every 100 ms.
struct Progress {
    terminal: bool,
    last_draw: Mutex<Instant>,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            terminal: std::io::stderr().is_terminal(),
            last_draw: Mutex::new(
                Instant::now()
                    .checked_sub(Duration::from_secs(1))
                    .unwrap_or_else(Instant::now),
            ),
        }
    }

    fn draw(&self, share: f64) {
        if !self.terminal {
            return;
        }
        let mut last = self
            .last_draw
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.elapsed() >= Duration::from_millis(100) {
            *last = Instant::now();
            let filled = (share.clamp(0.0, 1.0) * 40.0).round();
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "0..=40"
            )]
            let filled = filled as usize;
            eprint!(
                "\r[{}{}] {:>3.0}%",
                "#".repeat(filled),
                " ".repeat(40 - filled),
                share * 100.0
            );
            let _ = std::io::stderr().flush();
        }
    }

    fn clear(&self) {
        if self.terminal {
            eprint!("\r{}\r", " ".repeat(48));
        }
    }
}

fn run_ledger(args: LedgerArgs) -> anyhow::Result<ExitCode> {
    let config = bench::Config {
        mode: match args.mode {
            Mode::StateMachine => bench::Mode::StateMachine,
            Mode::Node => bench::Mode::Node,
            Mode::Http => bench::Mode::Http,
            Mode::Tcp => bench::Mode::Tcp,
            Mode::Recovery => bench::Mode::Recovery,
        },
        transfer_count: args.transfers,
        account_count: args.accounts,
        batch_size: args.batch,
        clients: args.clients,
        zipf_exponent: args.zipf,
        hot_account: args.hot_account,
        pending_percent: args.pending_percent,
        seed: args.seed,
        addr: args.addr,
        data_dir: args.data_dir,
        connections: args.connections.map(usize::try_from).transpose()?,
        target_rate: args.target_rate,
        transfers_reserve: args.transfers_reserve,
    };
    let progress = Progress::new();
    let report =
        bench::run(&config, &|share| progress.draw(share)).map_err(|e| anyhow::anyhow!(e))?;
    progress.clear();
    if args.json {
        println!("{}", report.to_json());
    } else {
        println!("{}", report.to_text());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::Cli;

    // Goal: `bench soak` parses its documented flags; --pid needs --addr; shares are bounded.
    #[test]
    fn bench_soak_flags_parse() {
        for line in [
            &["elevenfold", "bench", "soak", "--json"][..],
            &[
                "elevenfold",
                "bench",
                "soak",
                "--seconds",
                "60",
                "--rate",
                "5000",
                "--interval",
                "0.5",
                "--clients",
                "2",
                "--accounts",
                "1000",
                "--merchants",
                "10",
                "--lines",
                "100",
                "--pending-percent",
                "20",
                "--credit-percent",
                "0",
                "--promotions-percent",
                "10",
                "--transfers-reserve",
                "2000000",
            ],
            &[
                "elevenfold",
                "bench",
                "soak",
                "--addr",
                "127.0.0.1:3000",
                "--pid",
                "1234",
                "--seed",
                "2",
            ],
        ] {
            Cli::try_parse_from(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        }
        assert!(Cli::try_parse_from(["elevenfold", "bench", "soak", "--pid", "1"]).is_err());
        assert!(
            Cli::try_parse_from(["elevenfold", "bench", "soak", "--pending-percent", "51"])
                .is_err()
        );
        assert!(Cli::try_parse_from(["elevenfold", "bench", "soak", "--rate", "0"]).is_err());
    }

    // Goal: `bench promotions` parses its documented flags, and refuses an unknown payer.
    #[test]
    fn bench_promotions_flags_parse() {
        for line in [
            &["elevenfold", "bench", "promotions", "--json"][..],
            &[
                "elevenfold",
                "bench",
                "promotions",
                "--mode",
                "state-machine",
                "--pools",
                "10",
                "--packets-per-pool",
                "100",
                "--users",
                "1000",
                "--total-yuan",
                "1000000",
                "--purchases",
                "5000",
                "--merchants",
                "10",
                "--payer",
                "line",
                "--batch",
                "1000",
                "--clients",
                "2",
                "--transfers-reserve",
                "100000",
            ],
            &[
                "elevenfold",
                "bench",
                "promotions",
                "--addr",
                "127.0.0.1:3000",
                "--seed",
                "2",
                "--connections",
                "4",
            ],
        ] {
            Cli::try_parse_from(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        }
        assert!(
            Cli::try_parse_from(["elevenfold", "bench", "promotions", "--payer", "card"]).is_err()
        );
    }
}
