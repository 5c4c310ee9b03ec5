//! The binary-protocol mode: `client::Client` against a node and `server::TcpServer` started
//! here (on a free loopback port, over a temporary directory), or against a server at `addr`.
//!
//! Closed loop (no `target_rate`): `clients` tokio tasks share `connections` clients (by
//! default one, whose connection task coalesces concurrent callers' events into full requests;
//! for full batches, which need no coalescing, one per task); each task takes the next `batch`
//! transfers, sends them, and waits for its answer before taking more. `--clients 10000
//! --batch 1` is 10,000 callers each with one transfer in flight, through one client.
//!
//! Open loop (`target_rate`): the transfers leave in calls of `batch` on a fixed schedule, call
//! `k` at `k * batch / target_rate` seconds, whether or not earlier calls were answered (only the
//! client's own limits hold them back), and each call's latency runs from its scheduled time,
//! so a stall shows in every call it delayed (no coordinated omission).
//!
//! Latency: per call (`latency_kind` "call"), which is per request when every call is a full
//! request (`latency_kind` "request"); and the wire round trip of every request (send to reply,
//! reported by the client's `RequestObserver`) as `request_latency`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use client::{Client, ClientConfig, RequestObserver};
use hdrhistogram::Histogram;
use ledger::{Account, Transfer};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::{Config, Report, Workload, histogram, record};

/// The cluster of a server started here, and the one asked of a server at `addr` (the
/// default of `elevenfold start`).
const CLUSTER_ID: u128 = 0;

/// Connections opened for full batches when `connections` is not given: one per task, up to
/// this.
const CONNECTIONS_AUTO_MAX: usize = 16;

/// What the transfer calls measured.
struct Driven {
    elapsed: Duration,
    /// Per call, in microseconds, from the call (or its scheduled time) to its answer.
    calls: Histogram<u64>,
    rejected: u64,
}

/// A binary listener started by the benchmark, in this process, over the node opened here.
pub(crate) struct LocalServer {
    pub(crate) stop: tokio::sync::oneshot::Sender<()>,
    pub(crate) serving: tokio::task::JoinHandle<()>,
}

/// A benchmark's server: a durable node opened here on `data_dir` (a temporary directory by
/// default), or none when the bench targets a running server at `addr`.
pub(crate) struct BenchServer {
    pub(crate) node: Option<node::Node>,
    addr: Option<String>,
    /// Removed when the server is shut down, after the node.
    _temp: Option<tempfile::TempDir>,
}

impl BenchServer {
    pub(crate) fn open(
        addr: Option<&String>,
        data_dir: Option<&std::path::PathBuf>,
        transfers_reserve: u64,
    ) -> Result<BenchServer, String> {
        let (temp, dir) = crate::data_dir_or_temporary(data_dir)?;
        let node = match addr {
            Some(_) => None,
            None => {
                let config = node::Config {
                    transfers_reserve,
                    ..node::Config::new(&dir)
                };
                Some(node::Node::open(config).map_err(|e| e.to_string())?.0)
            }
        };
        Ok(BenchServer {
            node,
            addr: addr.cloned(),
            _temp: temp,
        })
    }

    /// Runs `drive` with the server's binary-protocol address on a fresh runtime: the given
    /// address, or a listener started here on the node and stopped once `drive` is done.
    pub(crate) fn drive<T>(
        &self,
        drive: impl AsyncFnOnce(String) -> Result<T, String>,
    ) -> Result<T, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("elevenfold-bench")
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let local = match &self.node {
                Some(node) => Some(start_server(node).await?),
                None => None,
            };
            let addr = match (&self.addr, &local) {
                (Some(addr), _) => addr.clone(),
                (None, Some(local)) => local.0.clone(),
                (None, None) => return Err("no server address".to_string()),
            };
            let result = drive(addr).await;
            if let Some((_, local)) = local {
                let _ = local.stop.send(());
                let _ = local.serving.await;
            }
            result
        })
    }

    /// Shuts the node down (if this bench opened one), then removes a temporary directory.
    pub(crate) fn shutdown(self) {
        if let Some(node) = self.node {
            node.shutdown();
        }
    }
}

pub(crate) fn run(
    config: &Config,
    workload: &Workload,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<Report, String> {
    let (_temp, dir) = crate::data_dir(config)?;
    let node = match config.addr {
        Some(_) => None,
        None => Some(
            node::Node::open(crate::node_config(config, &dir))
                .map_err(|e| e.to_string())?
                .0,
        ),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("elevenfold-bench")
        .build()
        .map_err(|e| e.to_string())?;
    // Pre-built before the clock starts, like every mode's requests.
    let chunks: Vec<Vec<Transfer>> = workload
        .transfers
        .chunks(workload.batch_size)
        .map(<[Transfer]>::to_vec)
        .collect();
    let result = runtime.block_on(async {
        let local = match &node {
            Some(node) => Some(start_server(node).await?),
            None => None,
        };
        let addr = match (&config.addr, &local) {
            (Some(addr), _) => addr.clone(),
            (None, Some(local)) => local.0.clone(),
            (None, None) => return Err("no server address".to_string()),
        };
        let result = measure(config, workload, chunks, &addr, progress).await;
        if let Some((_, local)) = local {
            let _ = local.stop.send(());
            let _ = local.serving.await;
        }
        result
    });
    drop(runtime);
    if let Some(node) = node {
        node.read(|state| state.ledger().check_conservation());
        node.shutdown();
    }
    result
}

pub(crate) async fn start_server(node: &node::Node) -> Result<(String, LocalServer), String> {
    let server = server::TcpServer::bind("127.0.0.1:0", node.clone(), server::TcpConfig::default())
        .await
        .map_err(|e| format!("{e:#}"))?;
    let addr = server.local_addr().map_err(|e| format!("{e:#}"))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));
    Ok((addr.to_string(), LocalServer { stop, serving }))
}

/// Connects, creates the accounts, drives the transfers, checks the balances.
async fn measure(
    config: &Config,
    workload: &Workload,
    chunks: Vec<Vec<Transfer>>,
    addr: &str,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<Report, String> {
    let requests = Arc::new(Mutex::new(histogram()));
    let observed = Arc::clone(&requests);
    let client_config = ClientConfig {
        request_observer: Some(RequestObserver::new(move |round_trip, _| {
            record(&mut observed.lock().expect("histogram lock"), round_trip);
        })),
        ..ClientConfig::new(CLUSTER_ID)
    };
    let connections =
        config
            .connections
            .unwrap_or(if workload.batch_size >= engine::REQUEST_EVENTS_MAX {
                config.clients.clamp(1, CONNECTIONS_AUTO_MAX)
            } else {
                1
            });
    let mut clients = Vec::new();
    for _ in 0..connections.max(1) {
        let client = Client::connect_with(addr, client_config.clone())
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        clients.push(client);
    }
    create_accounts(&clients[0], &workload.accounts).await?;
    requests.lock().expect("histogram lock").reset();
    let before: u64 = clients.iter().map(|c| c.stats().requests).sum();

    let driven = match config.target_rate {
        Some(rate) => drive_paced(&clients, chunks, rate, progress).await?,
        None => drive_closed(config.clients, &clients, chunks, progress).await?,
    };

    let request_count = clients.iter().map(|c| c.stats().requests).sum::<u64>() - before;
    check_balances(&clients[0], workload, driven.rejected).await?;
    let mut report = crate::report(config, driven.elapsed, &driven.calls, driven.rejected);
    report.latency_kind = if workload.batch_size >= engine::REQUEST_EVENTS_MAX {
        "request"
    } else {
        "call"
    };
    report.request_count = request_count;
    report.request_latency = Some(crate::quantiles(&requests.lock().expect("histogram lock")));
    Ok(report)
}

async fn create_accounts(client: &Client, accounts: &[Account]) -> Result<(), String> {
    for chunk in accounts.chunks(engine::REQUEST_EVENTS_MAX) {
        let failures = client
            .create_accounts(chunk.to_vec())
            .await
            .map_err(|e| format!("creating accounts: {e}"))?;
        if let Some((index, code)) = failures.first() {
            return Err(format!(
                "creating account {}: {} (against a running server, give each run its own \
                 --seed: ids start at seed * 2^64 + 1)",
                chunk[*index as usize].id,
                code.name()
            ));
        }
    }
    Ok(())
}

/// `clients` tasks, each sending the next call once its previous one was answered.
async fn drive_closed(
    tasks: usize,
    clients: &[Client],
    chunks: Vec<Vec<Transfer>>,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<Driven, String> {
    let total: u64 = chunks.iter().map(|c| c.len() as u64).sum();
    let slots: Arc<[Mutex<Vec<Transfer>>]> = chunks.into_iter().map(Mutex::new).collect();
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut set = JoinSet::new();
    for task in 0..tasks.max(1) {
        let client = clients[task % clients.len()].clone();
        let slots = Arc::clone(&slots);
        let next = Arc::clone(&next);
        let done = Arc::clone(&done);
        set.spawn(async move {
            // Microseconds per call; merged into one histogram at the end (a histogram per
            // task would cost 10,000 tasks gigabytes).
            let mut latencies: Vec<u32> = Vec::new();
            let mut rejected = 0u64;
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(slot) = slots.get(index) else { break };
                let chunk = std::mem::take(&mut *slot.lock().expect("slot lock"));
                let count = chunk.len() as u64;
                let call_started = Instant::now();
                let failures = client
                    .create_transfers(chunk)
                    .await
                    .map_err(|e| format!("creating transfers: {e}"))?;
                latencies.push(micros(call_started.elapsed()));
                rejected += failures.len() as u64;
                done.fetch_add(count, Ordering::Relaxed);
            }
            Ok::<_, String>((latencies, rejected))
        });
    }
    let mut calls = histogram();
    let mut rejected = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while !set.is_empty() {
        tokio::select! {
            joined = set.join_next() => {
                let (latencies, task_rejected) = joined
                    .expect("set is not empty")
                    .map_err(|e| format!("a client task failed: {e}"))??;
                for us in latencies {
                    record_micros(&mut calls, us);
                }
                rejected += task_rejected;
            }
            _ = tick.tick() => progress(share(done.load(Ordering::Relaxed), total)),
        }
    }
    let elapsed = started.elapsed();
    progress(1.0);
    Ok(Driven {
        elapsed,
        calls,
        rejected,
    })
}

/// A paced call's end: (latency from its scheduled time, transfers, failures), as joined.
type Joined = Option<Result<Result<(Duration, u64, u64), String>, tokio::task::JoinError>>;

/// Calls on a fixed schedule (open loop): call `k` is due when the transfers before it would
/// have left at `rate` per second; its latency runs from that time.
async fn drive_paced(
    clients: &[Client],
    chunks: Vec<Vec<Transfer>>,
    rate: u64,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<Driven, String> {
    if rate == 0 {
        return Err("--target-rate must be positive".to_string());
    }
    let total: u64 = chunks.iter().map(|c| c.len() as u64).sum();
    let mut calls = histogram();
    let mut rejected = 0u64;
    let mut done = 0u64;
    let mut answer = |joined: Joined| {
        let (latency, count, failures) = joined
            .expect("set is not empty")
            .map_err(|e| format!("a client task failed: {e}"))??;
        record(&mut calls, latency);
        rejected += failures;
        done += count;
        progress(share(done, total));
        Ok::<_, String>(())
    };
    let started = Instant::now();
    let mut set = JoinSet::new();
    let mut scheduled = 0u64;
    for (k, chunk) in chunks.into_iter().enumerate() {
        let offset_ns = u128::from(scheduled) * 1_000_000_000 / u128::from(rate);
        let due = started + Duration::from_nanos(u64::try_from(offset_ns).unwrap_or(u64::MAX));
        scheduled += chunk.len() as u64;
        // Wait for the schedule, answering calls meanwhile.
        loop {
            tokio::select! {
                biased;
                joined = set.join_next(), if !set.is_empty() => answer(joined)?,
                () = tokio::time::sleep_until(due) => break,
            }
        }
        let client = clients[k % clients.len()].clone();
        set.spawn(async move {
            let count = chunk.len() as u64;
            let failures = client
                .create_transfers(chunk)
                .await
                .map_err(|e| format!("creating transfers: {e}"))?;
            Ok((due.elapsed(), count, failures.len() as u64))
        });
    }
    while !set.is_empty() {
        answer(set.join_next().await)?;
    }
    let elapsed = started.elapsed();
    Ok(Driven {
        elapsed,
        calls,
        rejected,
    })
}

/// Looks every account up through the client: debits equal credits, and (with nothing
/// rejected) the balances add up to the workload's amounts, posted and pending.
async fn check_balances(client: &Client, workload: &Workload, rejected: u64) -> Result<(), String> {
    let mut debits = (0u128, 0u128);
    let mut credits = (0u128, 0u128);
    for chunk in workload.accounts.chunks(engine::REQUEST_EVENTS_MAX) {
        let ids: Vec<u128> = chunk.iter().map(|a| a.id).collect();
        let found = client
            .lookup_accounts(ids)
            .await
            .map_err(|e| format!("looking up accounts: {e}"))?;
        if found.len() != chunk.len() {
            return Err(format!(
                "{} of {} accounts are missing",
                chunk.len() - found.len(),
                chunk.len()
            ));
        }
        for account in found {
            debits.0 += account.debits_posted;
            debits.1 += account.debits_pending;
            credits.0 += account.credits_posted;
            credits.1 += account.credits_pending;
        }
    }
    if debits != credits {
        return Err(format!(
            "debits (posted, pending) {debits:?} differ from credits {credits:?}"
        ));
    }
    if rejected == 0 {
        let mut expected = (0u128, 0u128);
        for transfer in &workload.transfers {
            if transfer.flags.pending() {
                expected.1 += transfer.amount;
            } else {
                expected.0 += transfer.amount;
            }
        }
        if debits != expected {
            return Err(format!(
                "balances (posted, pending) {debits:?} differ from the transfers' {expected:?}"
            ));
        }
    }
    Ok(())
}

fn micros(elapsed: Duration) -> u32 {
    u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)
}

fn record_micros(histogram: &mut Histogram<u64>, us: u32) {
    record(histogram, Duration::from_micros(u64::from(us)));
}

#[expect(clippy::cast_precision_loss, reason = "progress only")]
fn share(done: u64, total: u64) -> f64 {
    done as f64 / total.max(1) as f64
}
