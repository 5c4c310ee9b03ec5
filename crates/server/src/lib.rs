//! The HTTP server: JSON routes over a `node::Node`, health, metrics, and graceful shutdown;
//! beside it, the binary-protocol listener (`tcp.rs`, `TcpServer`).
//!
//! This is an I/O shell. It parses and validates requests, hands whole batches to the node, and
//! renders replies; it holds no ledger state of its own. Lifecycle (`Server::serve`): on the
//! shutdown signal, `/readyz` turns 503, the listener stops accepting, in-flight requests finish
//! (each reply is durable before it is sent), and only then does the node's writer stop.
//!
//! What it does NOT do: TLS, authentication, `Idempotency-Key` replay (ids are the idempotency
//! of record), or any retry of a failed node.

mod api;
mod credit_api;
mod credit_wire;
mod paging;
mod problem;
mod promotions_api;
mod promotions_wire;
mod provenance_api;
mod provenance_wire;
mod tcp;
mod wire;

#[cfg(test)]
mod credit_tests;
#[cfg(test)]
mod promotions_tests;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

pub use api::router;
pub use paging::{LIMIT_DEFAULT, LIMIT_MAX};
pub use problem::{ProblemBody, ProblemCode};
pub use tcp::{TcpConfig, TcpServer, TcpStats};
pub use wire::parse_decimal;

/// Largest request body accepted: 8189 events with every field at its widest fit in ~6 MiB of
/// JSON, so 16 MiB leaves room for pretty-printed bodies.
pub const BODY_SIZE_MAX: usize = 16 * 1024 * 1024;

/// The histogram of HTTP request durations, labelled by method, matched route and status.
pub const HTTP_DURATION_METRIC: &str = "elevenfold_http_request_duration_seconds";

/// How the server is run.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The node's configuration, including its data directory.
    pub node: node::Config,
    /// `HOST:PORT` to listen on; port 0 picks a free port (see `Server::local_addr`).
    pub http_addr: String,
    pub body_size_max: usize,
    /// The provenance log (`/v1/provenance`), in its own directory; `None` runs without one.
    pub provenance: Option<provlog::ProvenanceConfig>,
}

impl ServerConfig {
    /// A node in `data_dir`, with the provenance log in `data_dir/provenance`.
    #[must_use]
    pub fn new(data_dir: impl Into<PathBuf>, http_addr: impl Into<String>) -> ServerConfig {
        let data_dir = data_dir.into();
        ServerConfig {
            provenance: Some(provlog::ProvenanceConfig::new(data_dir.join("provenance"))),
            node: node::Config::new(data_dir),
            http_addr: http_addr.into(),
            body_size_max: BODY_SIZE_MAX,
        }
    }
}

/// Set once shutdown begins, so `/readyz` answers 503 while in-flight requests drain.
#[derive(Clone, Debug, Default)]
pub struct Drain(Arc<AtomicBool>);

impl Drain {
    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    #[must_use]
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Options of `router`.
#[derive(Clone, Debug)]
pub struct RouterOptions {
    pub drain: Drain,
    pub body_size_max: usize,
    /// Serves `/v1/provenance` when set.
    pub provenance: Option<provlog::Provenance>,
}

impl Default for RouterOptions {
    fn default() -> RouterOptions {
        RouterOptions {
            drain: Drain::default(),
            body_size_max: BODY_SIZE_MAX,
            provenance: None,
        }
    }
}

/// A recovered node with a bound listener, not yet serving.
pub struct Server {
    node: node::Node,
    listener: TcpListener,
    body_size_max: usize,
    provenance: Option<provlog::Provenance>,
}

impl Server {
    /// Opens (and recovers) the node, then binds the listener.
    pub async fn bind(config: ServerConfig) -> anyhow::Result<Server> {
        let data_dir = config.node.data_dir.clone();
        let node_config = config.node.clone();
        // Recovery reads and replays the whole log: blocking work, off the async workers.
        let (node, report) = tokio::task::spawn_blocking(move || node::Node::open(node_config))
            .await
            .context("the node open task panicked")?
            .with_context(|| format!("cannot open the node in {}", data_dir.display()))?;
        tracing::info!(
            data_dir = %data_dir.display(),
            snapshot_op = report.snapshot_op,
            replayed_batches = report.replayed_batches,
            replayed_events = report.replayed_events,
            replayed_bytes = report.replayed_bytes,
            tail_cut = report.tail_cut,
            duration_s = report.duration.as_secs_f64(),
            "node recovered"
        );
        let provenance = match provenance_api::open(config.provenance).await {
            Ok(provenance) => provenance,
            Err(error) => {
                shutdown_node(node).await?;
                return Err(error);
            }
        };
        let listener = match TcpListener::bind(&config.http_addr).await {
            Ok(listener) => listener,
            Err(error) => {
                // Release the data directory before failing, so a retry can open it.
                shutdown_node(node).await?;
                return Err(error)
                    .with_context(|| format!("cannot listen on {}", config.http_addr));
            }
        };
        Ok(Server {
            node,
            listener,
            body_size_max: config.body_size_max,
            provenance,
        })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        self.listener
            .local_addr()
            .context("the listener has no local address")
    }

    /// The node, for in-process callers (tests, benchmarks) that want to read state directly.
    #[must_use]
    pub fn node(&self) -> &node::Node {
        &self.node
    }

    /// The provenance log, for in-process callers (tests, benchmarks).
    #[must_use]
    pub fn provenance(&self) -> Option<&provlog::Provenance> {
        self.provenance.as_ref()
    }

    /// Serves until `shutdown` resolves, then drains and stops the node.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let drain = Drain::default();
        let app = router(
            self.node.clone(),
            RouterOptions {
                drain: drain.clone(),
                body_size_max: self.body_size_max,
                provenance: self.provenance.clone(),
            },
        );
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!(%addr, "listening");
        }
        // Histogram samples pile up in the recorder until drained; drain them even when nobody
        // scrapes /metrics. Owned here and aborted below, so it never outlives the server.
        let metrics = metrics_handle();
        let upkeep = tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_secs(5));
            loop {
                interval.tick().await;
                metrics.run_upkeep();
            }
        });
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                drain.start();
                tracing::info!("shutting down: finishing in-flight requests");
            })
            .await;
        upkeep.abort();
        // In-flight requests have their replies; now let the writer finish and stop.
        shutdown_node(self.node).await?;
        provenance_api::shutdown(self.provenance).await?;
        served.context("the HTTP server failed")?;
        tracing::info!("stopped");
        Ok(())
    }
}

async fn shutdown_node(node: node::Node) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || node.shutdown())
        .await
        .context("the node shutdown task panicked")
}

/// Opens the node, serves HTTP until `shutdown` resolves, then shuts down gracefully.
pub async fn run(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    Server::bind(config).await?.serve(shutdown).await
}

/// Histogram buckets for the WAL fsync, in seconds: 50 µs (battery-backed caches) to 1 s
/// (a struggling disk).
const FSYNC_BUCKETS_S: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0,
];

/// Histogram buckets for HTTP requests, in seconds: 100 µs lookups to 10 s stalls.
const HTTP_BUCKETS_S: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0,
];

/// The process-wide Prometheus recorder, installed on first use. Tests build many routers in one
/// process and `metrics` allows one global recorder, hence the `OnceLock`.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("elevenfold_wal_fsync_seconds".to_string()),
                    FSYNC_BUCKETS_S,
                )
                .and_then(|builder| {
                    builder.set_buckets_for_metric(
                        Matcher::Full(HTTP_DURATION_METRIC.to_string()),
                        HTTP_BUCKETS_S,
                    )
                })
                .and_then(|builder| {
                    builder.set_buckets_for_metric(
                        Matcher::Full("elevenfold_tcp_request_seconds".to_string()),
                        HTTP_BUCKETS_S,
                    )
                })
                .expect("the bucket lists are non-empty constants")
                .build_recorder();
            let handle = recorder.handle();
            if let Err(error) = metrics::set_global_recorder(recorder) {
                // Another recorder (an embedding program's) keeps working; /metrics is empty.
                tracing::warn!(%error, "a metrics recorder was already installed; /metrics will be empty");
            }
            handle
        })
        .clone()
}
