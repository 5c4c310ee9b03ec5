//! `elevenfold start`: JSON logs to stdout, the HTTP and binary-protocol listeners until
//! SIGINT/SIGTERM, then exit 0.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use server::{Server, ServerConfig};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Directory of the WAL and snapshots; created if missing.
    #[arg(long, env = "ELEVENFOLD_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Address of the HTTP API.
    #[arg(
        long = "http",
        env = "ELEVENFOLD_HTTP",
        default_value = "127.0.0.1:8080",
        value_name = "HOST:PORT"
    )]
    pub http: String,
    /// Address of the binary protocol (docs/protocol.md).
    #[arg(
        long = "addr",
        env = "ELEVENFOLD_ADDR",
        default_value = "127.0.0.1:3000",
        value_name = "HOST:PORT"
    )]
    pub addr: String,
    /// Size the transfer id index for N transfers at start, so it does not grow (a rehash of
    /// every entry, which stalls requests) until N is exceeded. About 18 bytes per transfer,
    /// allocated up front. 0: grow as needed.
    #[arg(
        long,
        env = "ELEVENFOLD_TRANSFERS_RESERVE",
        default_value_t = 0,
        value_name = "N"
    )]
    pub transfers_reserve: u64,
    /// Take a snapshot once this many bytes of log were written since the last one (and at
    /// least as many as the last snapshot's size, so snapshot work stays linear in the log).
    /// Smaller: shorter recovery, more snapshot work; the crash test uses a small value to
    /// exercise snapshots and log truncation under SIGKILL.
    #[arg(
        long,
        env = "ELEVENFOLD_SNAPSHOT_LOG_BYTES",
        default_value_t = node::Config::new(".").snapshot_log_bytes_min,
        value_parser = clap::value_parser!(u64).range(1..),
        value_name = "BYTES"
    )]
    pub snapshot_log_bytes: u64,
    #[command(flatten)]
    pub provenance: ProvenanceFlags,
}

/// The provenance log (`/v1/provenance`, data in DATA_DIR/provenance, its signing key created
/// there on first start as `log.skey`).
#[derive(Debug, Args)]
pub struct ProvenanceFlags {
    /// Run without the provenance log.
    #[arg(long)]
    pub no_provenance: bool,
    /// The log's origin: its checkpoints' first line and its key's name (a schema-less URL,
    /// e.g. `trace.example.cn/2026h2`). Fixed once the log exists.
    #[arg(
        long,
        env = "ELEVENFOLD_PROVENANCE_ORIGIN",
        default_value = provlog::DEFAULT_ORIGIN,
        value_name = "NAME"
    )]
    pub provenance_origin: String,
    /// File of submitter verifier keys (`<name>+<key ID>+<base64>`, Ed25519), one per line.
    /// Without it, no one can submit events.
    #[arg(long, env = "ELEVENFOLD_PROVENANCE_SUBMITTERS", value_name = "FILE")]
    pub provenance_submitters: Option<PathBuf>,
    /// A witness verifier key (cosignature/v1) whose cosignatures the log accepts; repeat for
    /// several.
    #[arg(long = "provenance-witness", value_name = "VKEY")]
    pub provenance_witnesses: Vec<String>,
}

impl ProvenanceFlags {
    /// The provenance configuration for a node in `data_dir`, or `None` if disabled.
    pub fn config(&self, data_dir: &Path) -> anyhow::Result<Option<provlog::ProvenanceConfig>> {
        if self.no_provenance {
            return Ok(None);
        }
        let mut config = provlog::ProvenanceConfig::new(data_dir.join("provenance"));
        config.origin.clone_from(&self.provenance_origin);
        if let Some(path) = &self.provenance_submitters {
            config.submitters = provlog::keys::read_submitters(path)?;
        }
        config.witnesses = provlog::keys::parse_witnesses(&self.provenance_witnesses)
            .map_err(|error| anyhow::anyhow!("--provenance-witness: {error}"))?;
        Ok(Some(config))
    }
}

pub fn run(args: StartArgs) -> anyhow::Result<ExitCode> {
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("elevenfold-http")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let mut config = ServerConfig::new(&args.data_dir, &args.http);
        config.node.transfers_reserve = args.transfers_reserve;
        config.node.snapshot_log_bytes_min = args.snapshot_log_bytes;
        config.provenance = args.provenance.config(&args.data_dir)?;
        let server = Server::bind(config).await?;
        let addr = server.local_addr()?;
        let tcp = match server::TcpServer::bind(
            &args.addr,
            server.node().clone(),
            server::TcpConfig::default(),
        )
        .await
        {
            Ok(tcp) => tcp,
            Err(error) => {
                // Release the data directory before failing, as `Server::bind` does.
                let node = server.node().clone();
                let _ = tokio::task::spawn_blocking(move || node.shutdown()).await;
                return Err(error);
            }
        };
        let tcp_addr = tcp.local_addr()?;
        tracing::info!(
            %addr,
            %tcp_addr,
            next_step = %format!(
                "curl -X POST http://{addr}/v1/accounts -H 'content-type: application/json' \
                 -d '{{\"accounts\":[{{\"id\":\"1\",\"ledger\":1,\"code\":1}}]}}'"
            ),
            "elevenfold is ready"
        );
        // One signal stops both; the HTTP server stops the node last, after the binary
        // listener answered every request it already read.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut tcp_stopped = stopped.clone();
        let tcp_task = tokio::spawn(tcp.serve(async move {
            let _ = tcp_stopped.wait_for(|stop| *stop).await;
        }));
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        });
        let mut http_stopped = stopped;
        server
            .serve(async move {
                let _ = http_stopped.wait_for(|stop| *stop).await;
                let _ = tcp_task.await;
            })
            .await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// One JSON object per line on stdout, filtered by `RUST_LOG` (default `info`).
fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .init();
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            // Without the handler only SIGTERM can stop us; never resolve on the error itself.
            tracing::warn!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        #[cfg(unix)]
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("signal received");
}
