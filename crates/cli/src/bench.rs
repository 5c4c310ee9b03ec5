//! `elevenfold bench ledger`: flags in, `bench::run` out, a progress line on a terminal, and the
//! report as text or one JSON object (`--json`).

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
    let Target::Ledger(args) = args.target;
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
    let terminal = std::io::stderr().is_terminal();
    let last_draw = Mutex::new(
        Instant::now()
            .checked_sub(Duration::from_secs(1))
            .unwrap_or_else(Instant::now),
    );
    let progress = |share: f64| {
        if !terminal {
            return;
        }
        let mut last = last_draw
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
    };
    let report = bench::run(&config, &progress).map_err(|e| anyhow::anyhow!(e))?;
    if terminal {
        eprint!("\r{}\r", " ".repeat(48));
    }
    if args.json {
        println!("{}", report.to_json());
    } else {
        println!("{}", report.to_text());
    }
    Ok(ExitCode::SUCCESS)
}
