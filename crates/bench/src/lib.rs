//! `elevenfold bench`: workload generation and measurement for the ledger.
//!
//! Modes, from the inside out:
//! - `state-machine`: batches applied to a `StateMachine` on one core; no log, no fsync;
//! - `node`: an in-process node on a temporary directory, durable (fsync before reply), with
//!   `clients` threads each sending requests of `batch` transfers and waiting for the reply;
//! - `http`: a server (started here, or at `--addr`) driven over HTTP/JSON by `clients`
//!   keep-alive connections, each request `batch` transfers;
//! - `recovery`: writes the transfers through a node, restarts it with no snapshot, and
//!   measures replay.
//!
//! Workloads are generated from a seed before the clock starts, so runs compare like with like.
//! Floats appear only in sampling and in reporting, never in amounts.

mod http;
mod workload;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use engine::{Batch, Reply, Request, StateMachine};
use hdrhistogram::Histogram;
use ledger::CreateTransferResult;

pub use workload::Workload;

/// Which layer to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    StateMachine,
    Node,
    Http,
    Recovery,
}

impl Mode {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Mode::StateMachine => "state-machine",
            Mode::Node => "node",
            Mode::Http => "http",
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
    /// For `http`: an already running server; otherwise one is started here.
    pub addr: Option<String>,
    /// For modes that need a data directory: where; otherwise a temporary one.
    pub data_dir: Option<PathBuf>,
}

/// What was measured. Latency is per request (per batch in `state-machine` mode).
#[derive(Clone, Debug)]
pub struct Report {
    pub mode: &'static str,
    pub transfer_count: u64,
    pub account_count: u64,
    pub batch_size: usize,
    pub clients: usize,
    pub transfers_per_second: f64,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_max: f64,
    pub elapsed_seconds: f64,
    pub rejected_count: u64,
}

impl Report {
    /// One JSON object, keys in a fixed order.
    #[must_use]
    pub fn to_json(&self) -> String {
        format!(
            concat!(
                "{{\"mode\":\"{}\",\"transfer_count\":{},\"account_count\":{},\"batch_size\":{},",
                "\"clients\":{},\"transfers_per_second\":{:.0},\"latency_ms_p50\":{:.3},",
                "\"latency_ms_p99\":{:.3},\"latency_ms_max\":{:.3},\"elapsed_seconds\":{:.3},",
                "\"rejected_count\":{}}}"
            ),
            self.mode,
            self.transfer_count,
            self.account_count,
            self.batch_size,
            self.clients,
            self.transfers_per_second,
            self.latency_ms_p50,
            self.latency_ms_p99,
            self.latency_ms_max,
            self.elapsed_seconds,
            self.rejected_count
        )
    }

    /// A few human-readable lines.
    #[must_use]
    pub fn to_text(&self) -> String {
        format!(
            "mode {}: {} transfers over {} accounts, batch {}, {} clients\n\
             throughput {:.0} transfers/s in {:.2} s ({} rejected)\n\
             latency per request: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            self.mode,
            self.transfer_count,
            self.account_count,
            self.batch_size,
            self.clients,
            self.transfers_per_second,
            self.elapsed_seconds,
            self.rejected_count,
            self.latency_ms_p50,
            self.latency_ms_p99,
            self.latency_ms_max
        )
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

#[expect(clippy::cast_precision_loss, reason = "reporting only")]
fn report(
    config: &Config,
    elapsed: Duration,
    latency: &Histogram<u64>,
    rejected_count: u64,
) -> Report {
    let ms = |us: u64| us as f64 / 1000.0;
    Report {
        mode: config.mode.name(),
        transfer_count: config.transfer_count,
        account_count: config.account_count,
        batch_size: config.batch_size,
        clients: config.clients,
        transfers_per_second: config.transfer_count as f64 / elapsed.as_secs_f64(),
        latency_ms_p50: ms(latency.value_at_quantile(0.50)),
        latency_ms_p99: ms(latency.value_at_quantile(0.99)),
        latency_ms_max: ms(latency.max()),
        elapsed_seconds: elapsed.as_secs_f64(),
        rejected_count,
    }
}

/// Runs one benchmark. `progress` is called with the share done (0..=1), from any thread.
pub fn run(config: &Config, progress: &(dyn Fn(f64) + Sync)) -> Result<Report, String> {
    let workload = Workload::generate(config);
    match config.mode {
        Mode::StateMachine => Ok(run_state_machine(config, &workload, progress)),
        Mode::Node => run_node(config, workload, progress),
        Mode::Http => http::run(config, &workload, progress),
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
    }
}

fn run_state_machine(
    config: &Config,
    workload: &Workload,
    progress: &(dyn Fn(f64) + Sync),
) -> Report {
    let mut machine = StateMachine::new(0x5eed);
    let mut timestamp = 1_000_000_000u64;
    let mut op = 0;
    let mut apply = |machine: &mut StateMachine, request: Request| {
        timestamp += request.event_count() as u64;
        op += 1;
        machine.apply(
            op,
            &Batch {
                timestamp,
                requests: vec![request],
            },
        )
    };
    for request in workload.account_requests() {
        apply(&mut machine, request);
    }
    let requests: Vec<Request> = workload.transfer_requests().collect();
    let mut latency = histogram();
    let mut rejected = 0;
    let started = Instant::now();
    let total = requests.len();
    for (index, request) in requests.into_iter().enumerate() {
        let batch_started = Instant::now();
        for reply in apply(&mut machine, request) {
            rejected += count_rejected(&reply);
        }
        record(&mut latency, batch_started.elapsed());
        if index % 64 == 0 {
            #[expect(clippy::cast_precision_loss, reason = "progress only")]
            progress(index as f64 / total as f64);
        }
    }
    let elapsed = started.elapsed();
    machine.ledger().check_conservation();
    report(config, elapsed, &latency, rejected)
}

fn data_dir(config: &Config) -> Result<(Option<tempfile::TempDir>, PathBuf), String> {
    match &config.data_dir {
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
    let (node, _) = node::Node::open(node::Config::new(&dir)).map_err(|e| e.to_string())?;
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
        }
    }

    // Goal: each in-process mode runs to completion, applies every transfer (none rejected,
    // since accounts have no limits) and reports a positive rate; the JSON has the keys
    // later tooling reads.
    #[test]
    fn modes_run_and_report() {
        for mode in [Mode::StateMachine, Mode::Node, Mode::Recovery, Mode::Http] {
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
            ] {
                assert!(json.contains(key), "{json} lacks {key}");
            }
        }
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
