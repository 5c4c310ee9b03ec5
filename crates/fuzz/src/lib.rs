//! A coverage-less mutation fuzzer for every decoder of untrusted bytes in elevenfold: the binary
//! protocol, the HTTP JSON bodies, data directories at recovery (WAL segments, snapshots, the
//! record file), snapshot payloads, credit records, log batches, and the provenance log's
//! statements, proof bundles, EPCIS events, checkpoints, cosignatures and proofs.
//!
//! Each target ([`Target`]) says how to make valid seeds with the real encoders, how to mutate
//! an input (the generic byte mutations of `mutate.rs` plus structure-aware steps: resealing
//! checksums, editing JSON values, editing one file of a data directory) and what must hold for
//! any input (never a panic; a frame that decodes re-encodes to the same bytes; an HTTP answer
//! is 200 or a problem document, never a 5xx; a mutated data directory recovers a state the
//! original run had at that op, or is refused with an error).
//!
//! There is no coverage instrumentation (stable Rust, no cargo-fuzz). In its place the driver
//! keeps every mutant whose *outcome* it had not seen before (an error variant, a result code,
//! a recovery path: the label each target returns), so inputs that get past one check become
//! parents for the next. A run is a function of its seed and corpus: `--seed S --execs N`
//! replays it exactly, except for the `http` target, whose node stamps batches with the clock.
//!
//! What it does NOT do: minimise crashing inputs, or measure code coverage.

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub mod mutate;
pub mod prng;
pub mod targets;

#[cfg(test)]
mod bad_input;
#[cfg(test)]
mod tests;

pub use prng::Prng;

/// One thing to fuzz.
pub trait Target {
    /// Valid inputs, made by the real encoders (and, for `recovery`, a real node run).
    fn seeds(&mut self) -> Vec<Vec<u8>>;

    /// Turns `input` (a copy of a corpus entry) into a mutant; `corpus` holds splice partners.
    fn mutate(&mut self, prng: &mut Prng, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
        mutate::mutate_bytes(prng, input, corpus);
    }

    /// Runs one input. `Ok` carries a label for the outcome (new labels grow the corpus);
    /// `Err` says which property failed, as `tag: details` (the tag groups equal failures). A
    /// panic is a failure too.
    fn run(&mut self, input: &[u8]) -> Result<String, String>;
}

/// The names `--target` takes.
pub const TARGETS: &[&str] = &[
    "protocol",
    "http",
    "recovery",
    "recovery-sealed",
    "snapshot",
    "credit-records",
    "batch",
    "provlog",
];

/// Makes the target called `name`.
#[must_use]
pub fn make_target(name: &str) -> Option<Box<dyn Target>> {
    Some(match name {
        "protocol" => Box::new(targets::protocol::Protocol),
        "http" => Box::new(targets::http::Http::new()),
        "recovery" => Box::new(targets::recovery::Recovery::new(false)),
        "recovery-sealed" => Box::new(targets::recovery::Recovery::new(true)),
        "snapshot" => Box::new(targets::snapshot::Snapshot::default()),
        "credit-records" => Box::new(targets::records::CreditRecords),
        "batch" => Box::new(targets::batch::BatchCodec),
        "provlog" => Box::new(targets::provlog::Provlog::new()),
        _ => return None,
    })
}

/// Where the committed corpus of `target` lives.
#[must_use]
pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

/// Where crashing inputs are written.
#[must_use]
pub fn crash_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crashes")
}

/// The committed corpus of `target`, sorted by file name (empty if there is none).
#[must_use]
pub fn load_corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(corpus_dir(target)) else {
        return Vec::new();
    };
    let mut files: Vec<(PathBuf, Vec<u8>)> = entries
        .flatten()
        .filter_map(|entry| Some((entry.path(), std::fs::read(entry.path()).ok()?)))
        .collect();
    files.sort();
    files
}

/// How long and from what a run goes.
#[derive(Clone, Debug)]
pub struct Options {
    pub seed: u64,
    /// Stop after this long...
    pub duration: Option<Duration>,
    /// ...or after this many mutants, whichever comes first.
    pub execs: Option<u64>,
    /// Write crashing inputs to `crashes/` and print how to reproduce them.
    pub save_crashes: bool,
    /// Print progress every ten seconds.
    pub progress: bool,
    /// Stop after this many distinct failures.
    pub crashes_max: usize,
}

/// A failing input.
#[derive(Clone, Debug)]
pub struct Crash {
    /// `tag: details` of the failed property, or `panic at FILE:LINE: message`.
    pub message: String,
    pub input: Vec<u8>,
    /// The mutant's number (0: a seed).
    pub exec: u64,
    pub saved: Option<PathBuf>,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub seeds: usize,
    pub execs: u64,
    pub elapsed: Duration,
    pub corpus: usize,
    pub outcomes: usize,
    /// Failing inputs (mutants and seeds), at most one per distinct failure.
    pub crashes: Vec<Crash>,
    /// Failing inputs in all, duplicates included.
    pub crash_count: u64,
}

/// Largest live corpus; past it, new outcomes are counted but their inputs not kept.
const CORPUS_MAX: usize = 20_000;

thread_local! {
    /// Set while this thread runs an input: its panics are captured, not printed.
    static CAPTURING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The last panic captured on a fuzzing thread.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Takes the last panic captured on a fuzzing thread (`panic at FILE:LINE: message`): for a
/// target whose code under test catches a panic itself and reports it as an error (recovery's
/// `OpenError::ReplayPanicked`), to name where it was.
pub(crate) fn take_last_panic() -> Option<String> {
    LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).take()
}

fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CAPTURING.with(std::cell::Cell::get) {
                let location = info
                    .location()
                    .map_or_else(|| "?".to_string(), |l| format!("{}:{}", l.file(), l.line()));
                let payload = info.payload();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(format!("panic at {location}: {message}"));
            } else {
                // Another thread (a node's writer, a runtime worker): print as usual.
                default(info);
            }
        }));
    });
}

/// Runs one input, turning a panic into an `Err`.
fn run_guarded(target: &mut dyn Target, input: &[u8]) -> Result<String, String> {
    CAPTURING.with(|c| c.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(|| target.run(input)));
    CAPTURING.with(|c| c.set(false));
    match result {
        Ok(outcome) => outcome,
        Err(_) => Err(LAST_PANIC
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_else(|| "panic at ?: (no message)".to_string())),
    }
}

/// The part of a failure message that identifies it: the panic location, or the tag.
fn crash_key(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("panic at ") {
        return rest.split(": ").next().unwrap_or(rest).to_string();
    }
    message.split(": ").next().unwrap_or(message).to_string()
}

/// FNV-1a, for file names and outcome labels.
#[must_use]
pub fn fnv64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

fn save_crash(name: &str, input: &[u8]) -> Option<PathBuf> {
    let dir = crash_dir();
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join(format!("{name}-{:016x}.bin", fnv64(input)));
    std::fs::write(&path, input).ok()?;
    Some(path)
}

/// The committed corpus and the generated seeds of `target`.
pub fn initial_corpus(name: &str, target: &mut dyn Target) -> Vec<Vec<u8>> {
    let mut corpus: Vec<Vec<u8>> = load_corpus(name).into_iter().map(|(_, b)| b).collect();
    corpus.extend(target.seeds());
    corpus
}

/// Fuzzes `target` (called `name`): runs every seed, then mutants until `options` say stop.
pub fn fuzz(name: &str, target: &mut dyn Target, options: &Options) -> Report {
    install_panic_hook();
    let started = Instant::now();
    let mut prng = Prng::new(options.seed);
    let mut corpus = initial_corpus(name, target);
    let mut report = Report {
        seeds: corpus.len(),
        ..Report::default()
    };
    let mut seen_outcomes = HashSet::new();
    let mut seen_crashes = HashSet::new();
    let mut record = |report: &mut Report, message: String, input: &[u8], exec: u64| {
        report.crash_count += 1;
        if !seen_crashes.insert(crash_key(&message)) {
            return;
        }
        let saved = options
            .save_crashes
            .then(|| save_crash(name, input))
            .flatten();
        if options.save_crashes {
            eprintln!("CRASH in target {name} (exec {exec}): {message}");
            if let Some(path) = &saved {
                let root = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2);
                let shown = root
                    .and_then(|root| path.strip_prefix(root).ok())
                    .unwrap_or(path);
                eprintln!("  input saved to {}", shown.display());
                eprintln!(
                    "  reproduce with: cargo run --release -p fuzz -- --target {name} --replay {}",
                    shown.display()
                );
            }
        }
        report.crashes.push(Crash {
            message,
            input: input.to_vec(),
            exec,
            saved,
        });
    };
    for seed in corpus.clone() {
        match run_guarded(target, &seed) {
            Ok(label) => {
                seen_outcomes.insert(fnv64(label.as_bytes()));
            }
            Err(message) => record(&mut report, message, &seed, 0),
        }
    }
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    // FUZZ_PRINT_OUTCOMES=1 prints every new outcome label (to tune a target's labels).
    let print_outcomes = std::env::var_os("FUZZ_PRINT_OUTCOMES").is_some();
    let mut last_progress = Instant::now();
    loop {
        let elapsed = started.elapsed();
        if options.duration.is_some_and(|d| elapsed >= d)
            || options.execs.is_some_and(|n| report.execs >= n)
            || report.crashes.len() >= options.crashes_max
        {
            break;
        }
        let mut input = prng.pick(&corpus).clone();
        target.mutate(&mut prng, &mut input, &corpus);
        report.execs += 1;
        match run_guarded(target, &input) {
            Ok(label) => {
                if seen_outcomes.insert(fnv64(label.as_bytes())) {
                    if print_outcomes {
                        eprintln!("new outcome: {label}");
                    }
                    if corpus.len() < CORPUS_MAX {
                        corpus.push(input);
                    }
                }
            }
            Err(message) => {
                let exec = report.execs;
                record(&mut report, message, &input, exec);
            }
        }
        if options.progress && last_progress.elapsed() >= Duration::from_secs(10) {
            last_progress = Instant::now();
            let seconds = started.elapsed().as_secs_f64();
            eprintln!(
                "{name}: {} execs, {:.0}/s, corpus {}, outcomes {}, crashes {}",
                report.execs,
                report.execs as f64 / seconds,
                corpus.len(),
                seen_outcomes.len(),
                report.crash_count
            );
        }
    }
    report.elapsed = started.elapsed();
    report.corpus = corpus.len();
    report.outcomes = seen_outcomes.len();
    report
}

/// Runs one input without catching anything: a panic prints in full (with `RUST_BACKTRACE=1`,
/// its backtrace). Returns what `Target::run` returned.
pub fn replay(target: &mut dyn Target, input: &[u8]) -> Result<String, String> {
    target.run(input)
}
