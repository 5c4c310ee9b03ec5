//! The `elevenfold` binary: one command per module, each only parsing flags and calling the
//! libraries (`server`, `storage`) or the HTTP API.
//!
//! Exit codes are part of the interface (see `EXIT_CODES`). Adding a command is one `Command`
//! variant plus its module.

mod bench;
mod client;
mod credit;
mod inspect;
mod output;
mod promotions;
mod provenance;
mod start;

#[cfg(test)]
mod credit_tests;
#[cfg(test)]
mod promotions_tests;
#[cfg(test)]
mod tests;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the request was rejected (problem, or an event result other than ok/exists), the data
     directory is corrupt, or another error
  2  usage error, or the server cannot be reached";

/// A durable double-entry ledger.
#[derive(Debug, Parser)]
#[command(name = "elevenfold", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the node and its HTTP API until SIGINT or SIGTERM.
    Start(start::StartArgs),
    /// Check a data directory's WAL segments and snapshots (read-only).
    Inspect(inspect::InspectArgs),
    /// Create, read and limit accounts on a running server.
    Accounts(client::AccountsArgs),
    /// Create and read transfers on a running server.
    Transfers(client::TransfersArgs),
    /// Consumer credit lines: installment quotes (computed here), and lines, purchases,
    /// repayments and day-close on a running server (docs/cli-credit.md).
    Credit(credit::CreditArgs),
    /// Promotions: campaigns, coupons, payments carrying coupons and red packets on a running
    /// server (docs/cli-promotions.md).
    Promotions(promotions::PromotionsArgs),
    /// The provenance log: verify an offline proof bundle with the log's public key; make
    /// submitter and witness keys (docs/provenance.md).
    Provenance(provenance::ProvenanceArgs),
    /// Measure throughput and latency (see BENCHMARKS.md).
    Bench(bench::BenchArgs),
}

/// A bench's in-process node logs (snapshots, recovery) to stderr only when `RUST_LOG` asks:
/// stdout stays the report (one JSON object with `--json`).
fn bench_tracing() {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Start(args) => start::run(args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Accounts(args) => client::run_accounts(args),
        Command::Transfers(args) => client::run_transfers(args),
        Command::Credit(args) => credit::run(args),
        Command::Promotions(args) => promotions::run(args),
        Command::Provenance(args) => provenance::run(args),
        Command::Bench(args) => {
            bench_tracing();
            bench::run(args)
        }
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}
