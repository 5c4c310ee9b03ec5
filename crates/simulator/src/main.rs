//! `cargo run --release -p simulator -- --seeds N [--from S]` runs seeds S..S+N (S = 0 unless
//! given); `--seed S` runs one seed and prints what it chose and did (`--trace`: every step).
//! The last line is `N seeds, F failures`; each failure prints how to reproduce it, and the exit
//! code is 1.
//! Glue only: the simulation lives in the library.

use std::process::ExitCode;

use simulator::{Options, run_options, summary};

enum Mode {
    One(u64),
    Many { from: u64, count: u64 },
}

fn parse(args: &[String]) -> Result<Mode, String> {
    let number = |value: Option<&String>, flag: &str| {
        value
            .ok_or_else(|| format!("{flag} needs a number"))?
            .parse::<u64>()
            .map_err(|e| format!("{flag}: {e}"))
    };
    let mut seed = None;
    let mut count = None;
    let mut from = 0;
    let mut index = 0;
    while index < args.len() {
        let value = args.get(index + 1);
        match args[index].as_str() {
            "--trace" => {
                index += 1;
                continue;
            }
            "--seed" => seed = Some(number(value, "--seed")?),
            "--seeds" => count = Some(number(value, "--seeds")?),
            "--from" => from = number(value, "--from")?,
            other => return Err(format!("unknown argument {other}")),
        }
        index += 2;
    }
    match (seed, count) {
        (Some(seed), None) => Ok(Mode::One(seed)),
        (None, Some(count)) => Ok(Mode::Many { from, count }),
        (None, None) => Ok(Mode::Many { from, count: 100 }),
        (Some(_), Some(_)) => Err("give --seed or --seeds, not both".to_string()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let trace = args.iter().any(|arg| arg == "--trace");
    let mode = match parse(&args) {
        Ok(mode) => mode,
        Err(message) => {
            eprintln!("simulator: {message}");
            eprintln!("usage: simulator --seeds N [--from S] | --seed S [--trace]");
            return ExitCode::from(2);
        }
    };
    let (seeds, verbose) = match mode {
        Mode::One(seed) => (seed..=seed, true),
        Mode::Many { from, count } => (from..=from.saturating_add(count).saturating_sub(1), false),
    };
    let mut runs: u64 = 0;
    let mut failures = Vec::new();
    let mut results = std::collections::BTreeMap::new();
    for seed in seeds {
        runs += 1;
        let options = Options::from_seed(seed);
        if verbose {
            println!("options: {options}");
        }
        match run_options(&options, trace && verbose) {
            Ok(report) => {
                println!("seed {seed}: ok {}", summary(&report));
                for (code, count) in &report.results {
                    *results.entry(*code).or_insert(0u64) += count;
                }
            }
            Err(message) => {
                if !verbose {
                    println!("options: {options}");
                }
                println!("seed {seed}: FAILED {message}");
                println!("reproduce with: cargo run --release -p simulator -- --seed {seed}");
                failures.push(seed);
            }
        }
    }
    let codes: Vec<String> = results
        .iter()
        .map(|((operation, code), count)| format!("{operation}.{code}={count}"))
        .collect();
    println!("results acknowledged: {}", codes.join(" "));
    println!("{runs} seeds, {} failures", failures.len());
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
