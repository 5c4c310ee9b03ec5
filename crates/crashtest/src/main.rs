//! `cargo run --release -p crashtest -- --cycles N [--seed S] [--binary PATH]`: the crash test
//! with the real binary (`docs/simulator.md`, "Crash test with the real binary").
//!
//! Also `--senders N` (4), `--kill-delay-ms MIN..MAX` (20..500), `--max-seconds T` (the cycle
//! that starts after T seconds is the last) and `--work-dir PATH` (default: a fresh directory
//! under the system's temporary directory) and `--snapshot-log-bytes B` (256 KiB: the server's
//! `--snapshot-log-bytes`, small so that restarts recover from snapshots). Without `--seed`, a
//! random seed (printed).
//!
//! The binary defaults to `elevenfold` next to this one (`target/release/elevenfold` under
//! `cargo run --release`); when it is missing, or older than a source it was built from, this
//! runs `cargo build --release -p cli` first (`cargo build -p cli` for a debug crashtest).
//! One line per cycle, then `N cycles, T transfers acknowledged, credit: C acknowledged,
//! promotions: P acknowledged (R refused as they had to be), L lost`. Exit code 0 if nothing
//! was lost and every check passed, 1 on a failure (printed with how to reproduce it), 2 on bad
//! arguments.
//! Glue only: the test lives in the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::signal::unix::{SignalKind, signal};

use crashtest::{Options, build_server, run, stale};

const USAGE: &str = "usage: crashtest --cycles N [--seed S] [--binary PATH] [--senders N] \
                     [--kill-delay-ms MIN..MAX] [--max-seconds T] [--work-dir PATH] \
                     [--snapshot-log-bytes B]";

fn parse(args: &[String]) -> Result<(Options, bool), String> {
    let number = |value: Option<&String>, flag: &str| {
        value
            .ok_or_else(|| format!("{flag} needs a number"))?
            .parse::<u64>()
            .map_err(|e| format!("{flag}: {e}"))
    };
    let mut cycles = None;
    let mut seed = None;
    let mut binary = None;
    let mut senders = None;
    let mut delay = None;
    let mut work_dir = None;
    let mut time_limit = None;
    let mut snapshot_log_bytes = None;
    let mut index = 0;
    while index < args.len() {
        let value = args.get(index + 1);
        match args[index].as_str() {
            "--cycles" => cycles = Some(number(value, "--cycles")?),
            "--seed" => seed = Some(number(value, "--seed")?),
            "--senders" => senders = Some(number(value, "--senders")?),
            "--max-seconds" => time_limit = Some(number(value, "--max-seconds")?),
            "--snapshot-log-bytes" => {
                let bytes = number(value, "--snapshot-log-bytes")?;
                if bytes == 0 {
                    return Err("--snapshot-log-bytes: at least 1".to_string());
                }
                snapshot_log_bytes = Some(bytes);
            }
            "--binary" => binary = value.map(PathBuf::from),
            "--work-dir" => work_dir = value.map(PathBuf::from),
            "--kill-delay-ms" => {
                let (low, high) = value
                    .and_then(|v| v.split_once(".."))
                    .ok_or("--kill-delay-ms needs MIN..MAX")?;
                let low = number(Some(&low.to_string()), "--kill-delay-ms")?;
                let high = number(Some(&high.to_string()), "--kill-delay-ms")?;
                if low > high {
                    return Err("--kill-delay-ms: MIN above MAX".to_string());
                }
                delay = Some((low, high));
            }
            other => return Err(format!("unknown argument {other}")),
        }
        if value.is_none() {
            return Err(format!("{} needs a value", args[index]));
        }
        index += 2;
    }
    let cycles = cycles.ok_or("--cycles is required")?;
    if cycles == 0 {
        return Err("--cycles: at least 1".to_string());
    }
    let seed = seed.unwrap_or_else(random_seed);
    let given = binary.is_some();
    let binary = binary.unwrap_or_else(default_binary);
    let mut options = Options::new(seed, cycles, binary);
    if let Some(senders) = senders {
        options.senders = u32::try_from(senders.clamp(1, 64)).expect("at most 64");
    }
    if let Some(delay) = delay {
        options.kill_delay_ms = delay;
    }
    options.time_limit = time_limit.map(std::time::Duration::from_secs);
    if let Some(bytes) = snapshot_log_bytes {
        options.snapshot_log_bytes = bytes;
    }
    if let Some(work_dir) = work_dir {
        options.work_dir = work_dir;
    }
    Ok((options, given))
}

fn random_seed() -> u64 {
    use std::hash::BuildHasher as _;
    std::collections::hash_map::RandomState::new().hash_one(std::process::id())
}

/// `elevenfold` next to this executable: `target/<profile>/elevenfold`.
fn default_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("elevenfold")))
        .unwrap_or_else(|| PathBuf::from("target/release/elevenfold"))
}

/// Builds the server when it is missing, or older than a source it was built from.
fn ensure_built(binary: &Path) -> Result<(), String> {
    let why = if binary.exists() {
        match stale(binary) {
            Some(why) => why,
            None => return Ok(()),
        }
    } else {
        "missing".to_string()
    };
    println!("crashtest: {} is {why}; building it", binary.display());
    build_server(binary).map(|_| ())
}

/// SIGINT or SIGTERM: the next cycle is the last (so the server is killed and the report
/// printed); a second one exits at once, leaving the server and its directory behind.
fn stop_on_signal(options: &Options) {
    let stop = Arc::clone(&options.stop);
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            let Ok(mut terminate) = signal(SignalKind::terminate()) else {
                return;
            };
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
                if stop.swap(true, Ordering::Relaxed) {
                    std::process::exit(130);
                }
                eprintln!("crashtest: stopping after this cycle (again to quit at once)");
            }
        });
    });
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (options, given) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("crashtest: {message}");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if !given && let Err(message) = ensure_built(&options.binary) {
        eprintln!("crashtest: {message}");
        return ExitCode::FAILURE;
    }
    println!(
        "crashtest: seed {}, {} cycles, {} senders, kill after {}..={} ms, binary {}, work dir {}",
        options.seed,
        options.cycles,
        options.senders,
        options.kill_delay_ms.0,
        options.kill_delay_ms.1,
        options.binary.display(),
        options.work_dir.display()
    );
    stop_on_signal(&options);
    let report = run(&options, &mut std::io::stdout());
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
