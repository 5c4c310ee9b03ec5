//! Crash test with the real binary (issue 7, part 2): the `elevenfold` server under load from
//! the Rust client over the binary protocol, killed with SIGKILL at a random instant, restarted
//! on the same data directory, and checked.
//!
//! A cycle: start concurrent senders (each with its own connection; calls of transfers, 1-1024
//! events: single-phase and pending transfers, posts and voids, linked chains; calls of credit
//! commands: authorizations, captures, voids, repayments on credit lines; calls of promotions
//! commands: red-packet grabs and coupon claims (`products.rs`); paced, then back to back for
//! the last 20 ms), wait a seeded random delay, SIGKILL the server, drop the senders (their
//! calls end unanswered), restart the server and check (`check.rs`, `views.rs`): every
//! acknowledged event present and identical, calls in doubt all or nothing, nothing that was
//! never sent or was refused, retries answered `exists`, balances equal to the transfers found,
//! each ledger conserving, the pools' packets and the products' views as the model says, earlier
//! transfers unchanged. Then the next cycle, with new ids.
//!
//! The seed fixes the kill delays and the calls each sender draws; how far the load gets before
//! the kill depends on timing, so a seed reproduces a run's shape, not its every byte.
//!
//! This is an I/O shell at the top of the crate graph: it runs processes, threads and the
//! wall clock. The deterministic simulator (`crates/simulator`) covers the same recovery code
//! over a simulated disk; this covers what it cannot: the real binary, the OS, the network.

mod check;
mod products;
mod server;
mod views;
mod workload;

#[cfg(test)]
mod tests;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use client::Client;

pub use check::{CycleCheck, Model};
pub use server::{Server, build_server, stale};
pub use workload::{Call, Prng, Shared};

use crate::workload::{Log, Tag};

/// What a run does.
#[derive(Clone, Debug)]
pub struct Options {
    pub seed: u64,
    pub cycles: u64,
    /// The `elevenfold` binary; copied into `work_dir` first, so a rebuild during the run does
    /// not change what runs.
    pub binary: PathBuf,
    /// A directory of the run's own, empty or missing: it receives the binary's copy and the
    /// data directory, and is removed at the end of a run that passed, or once a failed run's
    /// data directory is copied to `/tmp/crash-<seed>`.
    pub work_dir: PathBuf,
    /// Concurrent senders, each with its own connection.
    pub senders: u32,
    /// The kill comes this long after the senders start, drawn in `min..=max` milliseconds.
    pub kill_delay_ms: (u64, u64),
    /// Earlier transfers looked up again after each restart.
    pub sample_size: usize,
    /// Every this many cycles, and after the last, look up every transfer ever found.
    pub full_check_every: u64,
    /// The server takes a snapshot once this many bytes of log were written since the last
    /// (`elevenfold start --snapshot-log-bytes`): small, so that kills land before, during and
    /// after snapshots and restarts recover from them.
    pub snapshot_log_bytes: u64,
    /// Once the run has taken this long, the next cycle is the last.
    pub time_limit: Option<Duration>,
    /// Once set (by a signal handler), the next cycle is the last.
    pub stop: Arc<AtomicBool>,
}

impl Options {
    #[must_use]
    pub fn new(seed: u64, cycles: u64, binary: PathBuf) -> Options {
        let work_dir =
            std::env::temp_dir().join(format!("crashtest-{}-{seed}", std::process::id()));
        Options {
            seed,
            cycles,
            binary,
            work_dir,
            senders: 4,
            kill_delay_ms: (20, 500),
            sample_size: 2048,
            full_check_every: 100,
            snapshot_log_bytes: 256 * 1024,
            time_limit: None,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// A failed cycle.
#[derive(Debug)]
pub struct Failure {
    pub cycle: u64,
    pub problems: Vec<String>,
    /// The server's last output lines.
    pub server_output: Vec<String>,
    /// Where the data directory was kept (`/tmp/crash-<seed>`).
    pub kept: Option<PathBuf>,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    /// Cycles completed (killed, restarted and checked).
    pub cycles: u64,
    /// Transfers acknowledged.
    pub acknowledged: u64,
    pub credit_acknowledged: u64,
    pub promotions_acknowledged: u64,
    /// Promotions commands refused as they had to be (`pool_empty`, `already_grabbed`).
    pub refused: u64,
    /// Acknowledged events (of every kind) lost.
    pub lost: u64,
    pub in_doubt: u64,
    pub in_doubt_applied: u64,
    /// Restarts that recovered from a snapshot (then replayed the log after it).
    pub restarts_from_snapshot: u64,
    /// Transfers the server holds at the end.
    pub transfers: u64,
    pub elapsed: Duration,
    pub failure: Option<Failure>,
}

impl Report {
    #[must_use]
    pub fn passed(&self) -> bool {
        self.failure.is_none() && self.lost == 0
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

/// Connects, retrying for a while: the listener is bound before the ready line, but a loaded
/// machine may be slow to accept.
async fn connect(server: &Server) -> Result<Client, String> {
    let mut attempt = 0;
    loop {
        match Client::connect(server.addr, 0).await {
            Ok(client) => return Ok(client),
            Err(error) if attempt == 50 => {
                return Err(format!("cannot connect to {}: {error}", server.addr));
            }
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Sets up what the test needs on the first start (the accounts, then the credit program,
/// lines, campaigns and pools' funding: `products.rs`), and adds it to the model.
fn set_up(server: &Server, model: &mut Model) -> Result<(), String> {
    runtime().block_on(async {
        let client = connect(server).await?;
        let accounts = client.create_accounts(Model::accounts()).await;
        products::accepted("create_accounts", accounts)?;
        products::set_up(&client).await?;
        model.add_setup(&client).await
    })
}

/// The command that runs the same cycles again.
fn reproduce(options: &Options, cycles: u64) -> String {
    let mut command = format!(
        "cargo run --release -p crashtest -- --cycles {cycles} --seed {}",
        options.seed
    );
    let defaults = Options::new(options.seed, cycles, PathBuf::new());
    if options.senders != defaults.senders {
        command += &format!(" --senders {}", options.senders);
    }
    if options.kill_delay_ms != defaults.kill_delay_ms {
        let (low, high) = options.kill_delay_ms;
        command += &format!(" --kill-delay-ms {low}..{high}");
    }
    if options.snapshot_log_bytes != defaults.snapshot_log_bytes {
        command += &format!(" --snapshot-log-bytes {}", options.snapshot_log_bytes);
    }
    command
}

/// The state of a run between cycles.
struct Run<'a> {
    options: &'a Options,
    binary: PathBuf,
    data_dir: PathBuf,
    server: Server,
    shared: Arc<Shared>,
    model: Model,
    report: Report,
}

/// Runs `options.cycles` cycles, printing one line per cycle to `out`, and the failure, if
/// any, with how to reproduce it. Stops at the first failing cycle.
pub fn run(options: &Options, out: &mut dyn Write) -> Report {
    let mut run = match Run::start(options) {
        Ok(run) => run,
        Err(problem) => {
            let failure = Failure {
                cycle: 0,
                problems: vec![problem],
                server_output: Vec::new(),
                kept: None,
            };
            return finish(
                options,
                out,
                Report {
                    failure: Some(failure),
                    ..Report::default()
                },
            );
        }
    };
    let began = Instant::now();
    for cycle in 0..options.cycles {
        let time_up = options
            .time_limit
            .is_some_and(|limit| began.elapsed() >= limit);
        let stop = options.stop.load(Ordering::Relaxed);
        let last = time_up || stop || cycle + 1 == options.cycles;
        let full = last || (cycle + 1) % options.full_check_every == 0;
        match run.cycle(cycle, full) {
            Ok(line) => {
                run.report.cycles += 1;
                let _ = writeln!(out, "cycle {cycle}: {line}");
            }
            Err(problems) => {
                run.fail(cycle, problems);
                break;
            }
        }
        if last {
            break;
        }
    }
    let _ = run.server.kill();
    run.report.transfers = run.model.transfers.len() as u64;
    run.report.elapsed = began.elapsed();
    if run.report.passed() {
        let _ = std::fs::remove_dir_all(&options.work_dir);
    }
    finish(options, out, run.report)
}

fn finish(options: &Options, out: &mut dyn Write, report: Report) -> Report {
    if let Some(failure) = &report.failure {
        let _ = writeln!(out, "cycle {}: FAILED", failure.cycle);
        for problem in failure.problems.iter().take(20) {
            let _ = writeln!(out, "  {}", problem.replace('\n', "\n  "));
        }
        if failure.problems.len() > 20 {
            let _ = writeln!(out, "  ... {} problems in all", failure.problems.len());
        }
        if !failure.server_output.is_empty() {
            let _ = writeln!(out, "the server's last output:");
            for line in &failure.server_output {
                let _ = writeln!(out, "  {line}");
            }
        }
        if let Some(kept) = &failure.kept {
            let _ = writeln!(out, "data directory kept in {}", kept.display());
        }
        let _ = writeln!(
            out,
            "reproduce with: {}",
            reproduce(options, failure.cycle + 1)
        );
    }
    let _ = writeln!(
        out,
        "{} transfers held at the end; {} in doubt at a kill, {} of them found; {} restarts \
         from a snapshot; {:.1} s",
        report.transfers,
        report.in_doubt,
        report.in_doubt_applied,
        report.restarts_from_snapshot,
        report.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "{} cycles, {} transfers acknowledged, credit: {} acknowledged, promotions: {} \
         acknowledged ({} refused as they had to be), {} lost",
        report.cycles,
        report.acknowledged,
        report.credit_acknowledged,
        report.promotions_acknowledged,
        report.refused,
        report.lost
    );
    report
}

impl Run<'_> {
    fn start(options: &Options) -> Result<Run<'_>, String> {
        let work_dir = &options.work_dir;
        if std::fs::read_dir(work_dir).is_ok_and(|mut entries| entries.next().is_some()) {
            return Err(format!(
                "{} exists and is not empty: remove it or choose another",
                work_dir.display()
            ));
        }
        let data_dir = work_dir.join("data");
        std::fs::create_dir_all(&data_dir)
            .map_err(|error| format!("cannot create {}: {error}", data_dir.display()))?;
        let binary = work_dir.join("elevenfold");
        let mut model = Model::new();
        let server = std::fs::copy(&options.binary, &binary)
            .map_err(|error| format!("cannot copy {}: {error}", options.binary.display()))
            .and_then(|_| Server::start(&binary, &data_dir, options.snapshot_log_bytes))
            .and_then(|server| set_up(&server, &mut model).map(|()| server));
        let server = server.inspect_err(|_| {
            // The directory is ours (it was empty or missing), and holds nothing of interest.
            let _ = std::fs::remove_dir_all(work_dir);
        })?;
        Ok(Run {
            options,
            binary,
            data_dir,
            server,
            shared: Arc::new(Shared::new()),
            model,
            report: Report::default(),
        })
    }

    /// Load, kill, restart, check. The line to print, or the problems found.
    fn cycle(&mut self, cycle: u64, full: bool) -> Result<String, Vec<String>> {
        let mut prng = Prng::derive(self.options.seed, cycle, 0);
        let (low, high) = self.options.kill_delay_ms;
        let delay = Duration::from_millis(prng.range(low, high));
        let calls = self.load_then_kill(cycle, delay)?;
        self.server = Server::start(
            &self.binary,
            &self.data_dir,
            self.options.snapshot_log_bytes,
        )
        .map_err(|problem| vec![format!("recovery failed: {problem}")])?;
        self.report.restarts_from_snapshot += u64::from(self.server.snapshot_op.is_some());
        let next_id = self.shared.next_id.load(Ordering::Relaxed);
        let began = Instant::now();
        let (check, full_problems) = runtime().block_on(async {
            let client = connect(&self.server)
                .await
                .map_err(|problem| vec![problem])?;
            let check = check::check_cycle(
                &client,
                self.server.http,
                &mut self.model,
                &self.shared,
                &calls,
                next_id,
                &mut prng,
                self.options.sample_size,
            )
            .await;
            let full_problems = if full {
                match check::check_stored(&client, &self.model.transfers).await {
                    Ok((lost, problems)) => (lost, problems),
                    Err(problem) => (0, vec![problem]),
                }
            } else {
                (0, Vec::new())
            };
            Ok::<_, Vec<String>>((check, full_problems))
        })?;
        self.report.acknowledged += check.acknowledged;
        self.report.credit_acknowledged += check.credit_acknowledged;
        self.report.promotions_acknowledged += check.promotions_acknowledged;
        self.report.refused += check.refused;
        self.report.in_doubt += check.in_doubt;
        self.report.in_doubt_applied += check.in_doubt_applied;
        self.report.lost += check.lost + full_problems.0;
        let mut problems = check.problems;
        problems.extend(full_problems.1);
        if !problems.is_empty() {
            return Err(problems);
        }
        let checked = if full {
            format!("all {} transfers", self.model.transfers.len())
        } else {
            format!("{} earlier transfers sampled", check.sampled)
        };
        let recovered = self.server.snapshot_op.map_or("the log".to_string(), |op| {
            format!("the snapshot at op {op}")
        });
        Ok(format!(
            "killed after {} ms; {} calls: {} transfers acknowledged, credit: {} acknowledged, \
             promotions: {} acknowledged ({} refused), {} in doubt ({} found); restarted from \
             {recovered} in {} ms, checked in {} ms ({checked}): ok",
            delay.as_millis(),
            calls.len(),
            check.acknowledged,
            check.credit_acknowledged,
            check.promotions_acknowledged,
            check.refused,
            check.in_doubt,
            check.in_doubt_applied,
            self.server.started_in.as_millis(),
            began.elapsed().as_millis(),
        ))
    }

    /// Runs the senders until the kill; returns the calls they logged.
    fn load_then_kill(&mut self, cycle: u64, delay: Duration) -> Result<Vec<Call>, Vec<String>> {
        let log: Log = Arc::new(Mutex::new(Vec::new()));
        let runtime = runtime();
        let burst_at = {
            let _entered = runtime.enter();
            tokio::time::Instant::now() + delay.saturating_sub(workload::BURST)
        };
        for sender in 0..self.options.senders {
            runtime.spawn(workload::sender(
                self.server.addr,
                Arc::clone(&self.shared),
                Arc::clone(&log),
                Prng::derive(self.options.seed, cycle, u64::from(sender) + 1),
                Tag { cycle, sender },
                burst_at,
            ));
        }
        std::thread::sleep(delay);
        let exited = self.server.kill().map_err(|problem| vec![problem])?;
        // Drops every sender and client task: their unanswered calls stay in doubt, and
        // nothing is resent to the restarted server.
        runtime.shutdown_timeout(Duration::from_secs(5));
        if let Some(status) = exited {
            return Err(vec![format!(
                "the server exited by itself under load ({status})"
            )]);
        }
        let calls = std::mem::take(&mut *log.lock().expect("the log lock is never poisoned"));
        Ok(calls)
    }

    fn fail(&mut self, cycle: u64, problems: Vec<String>) {
        let server_output = self.server.output();
        let _ = self.server.kill();
        let kept = keep_data_dir(&self.data_dir, self.options.seed);
        if kept.is_some() {
            let _ = std::fs::remove_dir_all(&self.options.work_dir);
        }
        self.report.failure = Some(Failure {
            cycle,
            problems,
            server_output,
            kept,
        });
    }
}

/// Copies the data directory to `/tmp/crash-<seed>` (or `-2`, `-3`... if taken).
fn keep_data_dir(data_dir: &Path, seed: u64) -> Option<PathBuf> {
    let base = PathBuf::from(format!("/tmp/crash-{seed}"));
    let target = (1..100)
        .map(|n| {
            if n == 1 {
                base.clone()
            } else {
                PathBuf::from(format!("{}-{n}", base.display()))
            }
        })
        .find(|path| !path.exists())?;
    copy_dir(data_dir, &target).ok()?;
    Some(target)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
