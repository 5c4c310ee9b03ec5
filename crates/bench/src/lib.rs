//! `elevenfold bench`: workload generation and measurement for the ledger, for credit lines
//! (`credit.rs`, `elevenfold bench credit`: authorizations and a day-close), and for promotions
//! (`promotions.rs`, `elevenfold bench promotions`: red-packet grabs and purchases carrying
//! two coupons), and for the provenance log (`provenance.rs`, `elevenfold bench provenance`:
//! durable batched appends, proof latency, verifications), and a soak (`soak.rs`,
//! `elevenfold bench soak`: a mixed load at a fixed rate for minutes, memory and latency
//! sampled per interval, and a verdict on memory growth).
//!
//! Modes, from the inside out:
//! - `state-machine`: batches applied to a `StateMachine` on one core, with the node writer's
//!   prefetch pass and eviction (`machine::Machine`); no log, no fsync;
//! - `node`: an in-process node on a temporary directory, durable (fsync before reply), with
//!   `clients` threads each sending requests of `batch` transfers and waiting for the reply;
//! - `http`: a server (started here, or at `--addr`) driven over HTTP/JSON by `clients`
//!   keep-alive connections, each request `batch` transfers;
//! - `tcp`: the binary protocol through `client::Client` against a node and `TcpServer` started
//!   here (or a server at `--addr`): `clients` tasks calling with `batch` transfers through
//!   one shared client, which coalesces their calls into full requests (through one client per
//!   task for full batches); optionally paced to `target_rate` (`tcp.rs`);
//! - `recovery`: writes the transfers through a node, restarts it with no snapshot, and
//!   measures replay.
//!
//! Workloads are generated from a seed before the clock starts, so runs compare like with like.
//! Floats appear only in sampling and in reporting, never in amounts.

mod credit;
mod http;
mod machine;
mod promotions;
mod provenance;
mod soak;
mod tcp;
mod workload;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use engine::{Reply, Request};
use hdrhistogram::Histogram;
use ledger::CreateTransferResult;

pub use credit::{CreditConfig, CreditMode, CreditReport, run as run_credit};
pub use promotions::{
    PROMOTIONS_REQUEST_MAX, Payer, PhaseFigures, PromotionsConfig, PromotionsMode,
    PromotionsReport, run as run_promotions,
};
pub use provenance::{ProvenanceBenchConfig, ProvenanceReport, run as run_provenance};
pub use soak::{
    DESIGN_FACTOR, GROWTH_NOISE_BYTES, MemoryFit, SoakConfig, SoakReport, SoakSample, Verdict,
    design_bytes_per_event, fit_memory, run as run_soak, verdict,
};
pub use workload::Workload;

/// Which layer to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    StateMachine,
    Node,
    Http,
    Tcp,
    Recovery,
}

impl Mode {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Mode::StateMachine => "state-machine",
            Mode::Node => "node",
            Mode::Http => "http",
            Mode::Tcp => "tcp",
            Mode::Recovery => "recovery",
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    pub mode: Mode,
    pub transfer_count: u64,
    pub account_count: u64,
    pub batch_size: usize,
    pub clients: usize,
    /// Zipf exponent of account choice; 0 is uniform.
    pub zipf_exponent: f64,
    /// Every transfer credits account 1 (one big merchant).
    pub hot_account: bool,
    /// Share of transfers created pending, in percent.
    pub pending_percent: u8,
    pub seed: u64,
    /// For `http` and `tcp`: an already running server; otherwise one is started here.
    /// Against a running server, account and transfer ids start at `seed << 64` + 1, so runs
    /// with different seeds do not collide.
    pub addr: Option<String>,
    /// For modes that need a data directory: where; otherwise a temporary one.
    pub data_dir: Option<PathBuf>,
    /// For `tcp`: how many `Client`s (connections) the `clients` tasks share, round robin.
    /// `None`: one per task (at most 16) for full batches, whose vectors need no coalescing
    /// and go faster over several connections (measured: 5-15%, noisy); one shared client
    /// otherwise, which coalesces the tasks' calls.
    pub connections: Option<usize>,
    /// For `tcp`: offer this many transfers per second on a fixed schedule (open loop) instead
    /// of `clients` tasks each waiting for its answer.
    pub target_rate: Option<u64>,
    /// For in-process nodes: size the id index for this many transfers at open
    /// (`node::Config::transfers_reserve`), so it never rehashes during the run.
    pub transfers_reserve: u64,
}

/// The configuration of a node the benchmark starts in process on `dir`.
pub(crate) fn node_config(config: &Config, dir: &std::path::Path) -> node::Config {
    node::Config {
        transfers_reserve: config.transfers_reserve,
        ..node::Config::new(dir)
    }
}

/// What was measured.
#[derive(Clone, Debug)]
pub struct Report {
    pub mode: &'static str,
    pub transfer_count: u64,
    pub account_count: u64,
    pub batch_size: usize,
    pub clients: usize,
    pub transfers_per_second: f64,
    /// What one latency sample is (`latency_kind`): "request", one request from the call to its
    /// reply (a batch applied, in `state-machine`; with `target_rate`, from its scheduled
    /// time); "call", one caller's `batch` transfers from the call to the answer, through a
    /// client that coalesced them with other callers' into requests; "replay", the whole
    /// recovery (`recovery`).
    pub latency_kind: &'static str,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_max: f64,
    pub elapsed_seconds: f64,
    pub rejected_count: u64,
    /// Requests that carried the transfers (for `tcp`, as the client coalesced them).
    pub request_count: u64,
    /// For `tcp`: (p50, p99, max) in ms of each request's round trip on the wire, from its
    /// send to its reply, as the client saw it.
    pub request_latency: Option<[f64; 3]>,
    /// The offered load, when paced.
    pub target_rate: Option<u64>,
}

impl Report {
    /// One JSON object, keys in a fixed order; absent values are `null`.
    #[must_use]
    pub fn to_json(&self) -> String {
        let request_latency = |i: usize| {
            self.request_latency
                .map_or_else(|| "null".to_string(), |q| format!("{:.3}", q[i]))
        };
        format!(
            concat!(
                "{{\"mode\":\"{}\",\"transfer_count\":{},\"account_count\":{},\"batch_size\":{},",
                "\"clients\":{},\"transfers_per_second\":{:.0},\"latency_kind\":\"{}\",",
                "\"latency_ms_p50\":{:.3},\"latency_ms_p99\":{:.3},\"latency_ms_max\":{:.3},",
                "\"elapsed_seconds\":{:.3},\"rejected_count\":{},\"request_count\":{},",
                "\"request_latency_ms_p50\":{},\"request_latency_ms_p99\":{},",
                "\"request_latency_ms_max\":{},\"target_transfers_per_second\":{}}}"
            ),
            self.mode,
            self.transfer_count,
            self.account_count,
            self.batch_size,
            self.clients,
            self.transfers_per_second,
            self.latency_kind,
            self.latency_ms_p50,
            self.latency_ms_p99,
            self.latency_ms_max,
            self.elapsed_seconds,
            self.rejected_count,
            self.request_count,
            request_latency(0),
            request_latency(1),
            request_latency(2),
            self.target_rate
                .map_or_else(|| "null".to_string(), |r| r.to_string()),
        )
    }

    /// A few human-readable lines.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "mode {}: {} transfers over {} accounts, batch {}, {} clients\n\
             throughput {:.0} transfers/s in {:.2} s ({} rejected, {} requests)\n\
             latency per {}: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            self.mode,
            self.transfer_count,
            self.account_count,
            self.batch_size,
            self.clients,
            self.transfers_per_second,
            self.elapsed_seconds,
            self.rejected_count,
            self.request_count,
            self.latency_kind,
            self.latency_ms_p50,
            self.latency_ms_p99,
            self.latency_ms_max
        );
        if let Some([p50, p99, max]) = self.request_latency {
            text.push_str(&format!(
                "\nrequest round trip on the wire: p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.3} ms"
            ));
        }
        if let Some(rate) = self.target_rate {
            text.push_str(&format!("\noffered load {rate} transfers/s (open loop)"));
        }
        text
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let us = u64::try_from(elapsed.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, 600_000_000);
    histogram.record(us).expect("value within bounds");
}

/// (p50, p99, max) in milliseconds of a histogram of microseconds.
#[expect(clippy::cast_precision_loss, reason = "reporting only")]
fn quantiles(latency: &Histogram<u64>) -> [f64; 3] {
    let ms = |us: u64| us as f64 / 1000.0;
    [
        ms(latency.value_at_quantile(0.50)),
        ms(latency.value_at_quantile(0.99)),
        ms(latency.max()),
    ]
}

#[expect(clippy::cast_precision_loss, reason = "reporting only")]
fn report(
    config: &Config,
    elapsed: Duration,
    latency: &Histogram<u64>,
    rejected_count: u64,
) -> Report {
    let [p50, p99, max] = quantiles(latency);
    let batch_size = config.batch_size.clamp(1, engine::REQUEST_EVENTS_MAX) as u64;
    Report {
        mode: config.mode.name(),
        transfer_count: config.transfer_count,
        account_count: config.account_count,
        batch_size: config.batch_size,
        clients: config.clients,
        transfers_per_second: config.transfer_count as f64 / elapsed.as_secs_f64(),
        latency_kind: "request",
        latency_ms_p50: p50,
        latency_ms_p99: p99,
        latency_ms_max: max,
        elapsed_seconds: elapsed.as_secs_f64(),
        rejected_count,
        request_count: config.transfer_count.div_ceil(batch_size),
        request_latency: None,
        target_rate: config.target_rate,
    }
}

/// Runs one benchmark. `progress` is called with the share done (0..=1), from any thread.
pub fn run(config: &Config, progress: &(dyn Fn(f64) + Sync)) -> Result<Report, String> {
    if config.target_rate.is_some() && config.mode != Mode::Tcp {
        return Err("a target rate is supported by the tcp mode only".to_string());
    }
    let workload = Workload::generate(config);
    match config.mode {
        Mode::StateMachine => Ok(run_state_machine(config, &workload, progress)),
        Mode::Node => run_node(config, workload, progress),
        Mode::Http => http::run(config, &workload, progress),
        Mode::Tcp => tcp::run(config, &workload, progress),
        Mode::Recovery => run_recovery(config, workload, progress),
    }
}

fn count_rejected(reply: &Reply) -> u64 {
    match reply {
        Reply::CreateTransfers(results) => results
            .iter()
            .filter(|r| **r != CreateTransferResult::Ok)
            .count() as u64,
        Reply::CreateAccounts(results) => {
            results.iter().filter(|r| r.name() != "ok").count() as u64
        }
        Reply::SetAccountLimits(results) => {
            results.iter().filter(|r| r.name() != "ok").count() as u64
        }
        Reply::CreatePrograms(results) | Reply::Credit(results) => {
            results.iter().filter(|r| r.name() != "ok").count() as u64
        }
        Reply::CreateCampaigns(results) | Reply::Promotions(results) => {
            results.iter().filter(|r| r.name() != "ok").count() as u64
        }
    }
}

fn run_state_machine(
    config: &Config,
    workload: &Workload,
    progress: &(dyn Fn(f64) + Sync),
) -> Report {
    let mut machine = machine::Machine::new();
    for request in workload.account_requests() {
        machine.apply(request);
    }
    let requests: Vec<Request> = workload.transfer_requests().collect();
    let mut latency = histogram();
    let mut rejected = 0;
    let started = Instant::now();
    let total = requests.len();
    for (index, request) in requests.into_iter().enumerate() {
        let batch_started = Instant::now();
        for reply in machine.apply(request) {
            rejected += count_rejected(&reply);
        }
        record(&mut latency, batch_started.elapsed());
        if index % 64 == 0 {
            #[expect(clippy::cast_precision_loss, reason = "progress only")]
            progress(index as f64 / total as f64);
        }
    }
    let elapsed = started.elapsed();
    machine.state.ledger().check_conservation();
    report(config, elapsed, &latency, rejected)
}

fn data_dir(config: &Config) -> Result<(Option<tempfile::TempDir>, PathBuf), String> {
    data_dir_or_temporary(config.data_dir.as_ref())
}

/// `dir`, or a temporary directory (removed when the returned guard drops).
pub(crate) fn data_dir_or_temporary(
    dir: Option<&PathBuf>,
) -> Result<(Option<tempfile::TempDir>, PathBuf), String> {
    match dir {
        Some(dir) => Ok((None, dir.clone())),
        None => {
            let temp = tempfile::Builder::new()
                .prefix("elevenfold-bench-")
                .tempdir()
                .map_err(|e| e.to_string())?;
            let path = temp.path().to_path_buf();
            Ok((Some(temp), path))
        }
    }
}

/// What a client run measured: elapsed time, per-request latency, rejected events.
pub(crate) type Driven = (Duration, Histogram<u64>, u64);

/// Sends `items` from `clients` threads, each with its own connection from `connect`, each
/// waiting for `send`'s reply (the count of rejected events) before taking the next item.
pub(crate) fn drive_clients<T: Send, C>(
    clients: usize,
    items: Vec<T>,
    progress: &(dyn Fn(f64) + Sync),
    connect: impl Fn() -> Result<C, String> + Sync,
    send: impl Fn(&mut C, T) -> Result<u64, String> + Sync,
) -> Result<Driven, String> {
    let total = items.len().max(1);
    let queue = std::sync::Mutex::new(items.into_iter().enumerate());
    let started = Instant::now();
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut connection = connect()?;
                    let mut latency = histogram();
                    let mut rejected = 0;
                    loop {
                        let next = queue.lock().expect("queue lock").next();
                        let Some((index, item)) = next else { break };
                        let request_started = Instant::now();
                        rejected += send(&mut connection, item)?;
                        record(&mut latency, request_started.elapsed());
                        if index % 4 == 0 {
                            #[expect(clippy::cast_precision_loss, reason = "progress only")]
                            progress(index as f64 / total as f64);
                        }
                    }
                    Ok::<_, String>((latency, rejected))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect::<Vec<_>>()
    });
    let elapsed = started.elapsed();
    let mut latency = histogram();
    let mut rejected = 0;
    for result in results {
        let (client_latency, client_rejected) = result?;
        latency.add(client_latency).expect("same bounds");
        rejected += client_rejected;
    }
    Ok((elapsed, latency, rejected))
}

/// Sends the workload's transfer requests to an in-process node.
fn drive_node(
    node: &node::Node,
    config: &Config,
    workload: Workload,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<Driven, String> {
    for request in workload.account_requests() {
        node.execute_blocking(request).map_err(|e| e.to_string())?;
    }
    let requests: Vec<Request> = workload.transfer_requests().collect();
    drive_clients(
        config.clients,
        requests,
        progress,
        || Ok(()),
        |(), request| {
            let reply = node.execute_blocking(request).map_err(|e| e.to_string())?;
            Ok(count_rejected(&reply))
        },
    )
}

fn run_node(
    config: &Config,
    workload: Workload,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<Report, String> {
    let (_temp, dir) = data_dir(config)?;
    let (node, _) = node::Node::open(node_config(config, &dir)).map_err(|e| e.to_string())?;
    let (elapsed, latency, rejected) = drive_node(&node, config, workload, progress)?;
    node.read(|state| state.ledger().check_conservation());
    node.shutdown();
    Ok(report(config, elapsed, &latency, rejected))
}

/// What must survive a restart, whatever was evicted: op, time, counts and per-ledger totals.
fn digest(node: &node::Node) -> String {
    node.read(|state| {
        let ledger = state.ledger();
        format!(
            "{} {} {} {} {:?}",
            state.op(),
            state.commit_timestamp(),
            ledger.account_count(),
            ledger.transfer_count(),
            ledger.ledger_totals()
        )
    })
}

fn run_recovery(
    config: &Config,
    workload: Workload,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<Report, String> {
    let (_temp, dir) = data_dir(config)?;
    let node_config = node::Config {
        snapshot_log_bytes_min: u64::MAX,
        ..node::Config::new(&dir)
    };
    let (node, _) = node::Node::open(node_config.clone()).map_err(|e| e.to_string())?;
    let fill = Config {
        clients: config.clients.max(4),
        ..config.clone()
    };
    drive_node(&node, &fill, workload, &|share| progress(share * 0.9))?;
    let expected = digest(&node);
    node.shutdown();
    let started = Instant::now();
    let (node, recovery) = node::Node::open(node_config).map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    let recovered = digest(&node);
    node.shutdown();
    if recovered != expected {
        return Err("recovered state differs from the state before restart".to_string());
    }
    progress(1.0);
    let mut latency = histogram();
    record(&mut latency, elapsed);
    let mut report = report(config, elapsed, &latency, 0);
    report.latency_kind = "replay";
    // Throughput here is replay speed: events replayed per second of recovery.
    #[expect(clippy::cast_precision_loss, reason = "reporting only")]
    let replayed = recovery.replayed_events as f64;
    report.transfers_per_second = replayed / elapsed.as_secs_f64();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(mode: Mode) -> Config {
        Config {
            mode,
            transfer_count: 20_000,
            account_count: 100,
            batch_size: 1000,
            clients: 4,
            zipf_exponent: 1.0,
            hot_account: false,
            pending_percent: 10,
            seed: 7,
            addr: None,
            data_dir: None,
            connections: None,
            target_rate: None,
            transfers_reserve: 0,
        }
    }

    // Goal: each in-process mode runs to completion, applies every transfer (none rejected,
    // since accounts have no limits) and reports a positive rate; the JSON has the keys
    // later tooling reads.
    #[test]
    fn modes_run_and_report() {
        for mode in [
            Mode::StateMachine,
            Mode::Node,
            Mode::Recovery,
            Mode::Http,
            Mode::Tcp,
        ] {
            let report = run(&config(mode), &|_| {}).expect("runs");
            assert_eq!(report.rejected_count, 0, "{mode:?}");
            assert!(report.transfers_per_second > 0.0, "{mode:?}");
            let json = report.to_json();
            for key in [
                "\"transfers_per_second\":",
                "\"latency_ms_p50\":",
                "\"latency_ms_p99\":",
                "\"latency_ms_max\":",
                "\"transfer_count\":20000",
                "\"account_count\":100",
                "\"mode\":",
                "\"latency_kind\":\"",
                "\"request_count\":",
            ] {
                assert!(json.contains(key), "{json} lacks {key}");
            }
        }
    }

    // Goal: the binary-protocol mode applies every transfer with full batches and with many
    // one-transfer callers, which the client coalesces into far fewer requests. Conservation
    // and the balances against the workload's amounts are checked inside `run` (through the
    // node and through lookups over the client); a failure there is an error.
    #[test]
    fn tcp_mode_full_batches_and_single_callers() {
        let full = Config {
            batch_size: 8189,
            ..config(Mode::Tcp)
        };
        let report = run(&full, &|_| {}).expect("runs");
        assert_eq!(report.transfer_count, 20_000);
        assert_eq!(report.rejected_count, 0);
        assert_eq!(report.latency_kind, "request");
        assert_eq!(report.request_count, 3, "20,000 in vectors of 8189");
        assert!(report.transfers_per_second > 0.0);
        assert!(report.latency_ms_max >= report.latency_ms_p50);
        let [p50, _, max] = report.request_latency.expect("observed by the client");
        assert!(max >= p50 && p50 > 0.0);

        let single = Config {
            batch_size: 1,
            clients: 100,
            ..config(Mode::Tcp)
        };
        let report = run(&single, &|_| {}).expect("runs");
        assert_eq!(report.transfer_count, 20_000);
        assert_eq!(report.rejected_count, 0);
        assert_eq!(report.latency_kind, "call");
        assert!(
            report.request_count < 20_000 / 4,
            "100 callers coalesce: {} requests",
            report.request_count
        );
        assert!(report.to_json().contains("\"request_latency_ms_p99\":"));
    }

    // Goal: with a target rate, calls leave on schedule: 20,000 transfers at 40,000/s cannot
    // finish before the last call's due time (19,000 / 40,000 s). Only a lower bound on time.
    #[test]
    fn target_rate_paces_the_calls() {
        let paced = Config {
            target_rate: Some(40_000),
            pending_percent: 0,
            ..config(Mode::Tcp)
        };
        let report = run(&paced, &|_| {}).expect("runs");
        assert_eq!(report.rejected_count, 0);
        assert!(
            report.elapsed_seconds >= 0.4,
            "paced run took only {} s",
            report.elapsed_seconds
        );
        assert_eq!(report.target_rate, Some(40_000));
        assert!(
            report
                .to_json()
                .contains("\"target_transfers_per_second\":40000")
        );
        assert!(
            run(
                &Config {
                    target_rate: Some(1),
                    ..config(Mode::Node)
                },
                &|_| {}
            )
            .is_err(),
            "pacing is for the tcp mode only"
        );
    }

    // Goal: against a running server (`addr`), runs with different seeds use disjoint ids and
    // both succeed; repeating a seed is refused with a message that says what to do.
    #[test]
    fn tcp_mode_against_a_running_server() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (node, _) = node::Node::open(node::Config::new(dir.path())).expect("node opens");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let (addr, local) = runtime
            .block_on(tcp::start_server(&node))
            .expect("server starts");
        let remote = |seed| Config {
            addr: Some(addr.clone()),
            seed,
            transfer_count: 5000,
            ..config(Mode::Tcp)
        };
        for seed in [1, 2] {
            let report = run(&remote(seed), &|_| {}).expect("runs");
            assert_eq!(report.rejected_count, 0);
        }
        let error = run(&remote(2), &|_| {}).expect_err("ids exist");
        assert!(error.contains("--seed"), "{error}");
        let _ = local.stop.send(());
        runtime.block_on(local.serving).expect("serves");
        node.read(|state| {
            state.ledger().check_conservation();
            assert_eq!(state.ledger().transfer_count(), 10_000);
        });
        node.shutdown();
    }

    // Goal: the hot-account workload credits only account 1 and Zipf skews toward low ids.
    #[test]
    fn workloads_have_the_requested_shape() {
        let hot = Workload::generate(&Config {
            hot_account: true,
            ..config(Mode::StateMachine)
        });
        assert!(
            hot.transfers
                .iter()
                .all(|t| t.credit_account_id == 1 && t.debit_account_id != 1)
        );
        let skewed = Workload::generate(&config(Mode::StateMachine));
        let low = skewed
            .transfers
            .iter()
            .filter(|t| t.debit_account_id <= 10)
            .count();
        assert!(
            low > skewed.transfers.len() / 3,
            "zipf(1) over 100 puts most mass on the top 10: {low}"
        );
        let pending = skewed
            .transfers
            .iter()
            .filter(|t| t.flags.pending())
            .count();
        assert!(
            (1000..3000).contains(&pending),
            "about 10% pending: {pending}"
        );
    }
}
