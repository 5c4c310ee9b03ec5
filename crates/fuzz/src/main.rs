//! `cargo run --release -p fuzz -- --target NAME --seconds S [--seed X]`: fuzzes one target.
//!
//! Other forms: `--execs N` (stop after N mutants: with `--seed`, replays a run exactly),
//! `--replay FILE` (runs one saved input, panics printed in full), `--write-corpus` (writes the
//! target's generated seeds to `crates/fuzz/corpus/NAME/`), `--list`. Exit code: 0 clean, 1 a
//! crash or a failing replay, 2 bad arguments.

use std::process::ExitCode;
use std::time::Duration;

use fuzz::{Options, TARGETS, make_target};

const USAGE: &str = "usage: fuzz --target NAME [--seconds S] [--execs N] [--seed X] \
                     [--replay FILE] [--write-corpus] | --list";

struct Args {
    target: String,
    seconds: Option<u64>,
    execs: Option<u64>,
    seed: u64,
    replay: Option<String>,
    write_corpus: bool,
}

fn parse(args: &[String]) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        target: String::new(),
        seconds: None,
        execs: None,
        seed: 0,
        replay: None,
        write_corpus: false,
    };
    let mut iter = args.iter();
    while let Some(flag) = iter.next() {
        let mut value = || {
            iter.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let number = |text: String| {
            text.parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {text}"))
        };
        match flag.as_str() {
            "--target" => parsed.target = value()?,
            "--seconds" => parsed.seconds = Some(number(value()?)?),
            "--execs" => parsed.execs = Some(number(value()?)?),
            "--seed" => parsed.seed = number(value()?)?,
            "--replay" => parsed.replay = Some(value()?),
            "--write-corpus" => parsed.write_corpus = true,
            "--list" => return Ok(None),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !TARGETS.contains(&parsed.target.as_str()) {
        return Err(format!("--target must be one of {}", TARGETS.join(", ")));
    }
    Ok(Some(parsed))
}

fn write_corpus(name: &str) -> Result<(), String> {
    let mut target = make_target(name).ok_or("unknown target")?;
    let dir = fuzz::corpus_dir(name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let seeds = if name.starts_with("recovery") {
        fuzz::targets::recovery::generate()
    } else {
        target.seeds()
    };
    for (index, seed) in seeds.iter().enumerate() {
        let path = dir.join(format!("seed-{index:03}.bin"));
        std::fs::write(&path, seed).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!("wrote {}", dir.display());
    Ok(())
}

fn replay(name: &str, file: &str) -> ExitCode {
    let Ok(input) = std::fs::read(file) else {
        eprintln!("cannot read {file}");
        return ExitCode::from(2);
    };
    let mut target = make_target(name).expect("a known target");
    // Stateful targets (http) build their state with their seeds first.
    let _ = target.seeds();
    match fuzz::replay(target.as_mut(), &input) {
        Ok(label) => {
            println!("ok: {label}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            println!("FAILED: {message}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&args) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{}", TARGETS.join("\n"));
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("fuzz: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.write_corpus {
        return match write_corpus(&args.target) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("fuzz: {message}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(file) = &args.replay {
        return replay(&args.target, file);
    }
    let options = Options {
        seed: args.seed,
        duration: Some(Duration::from_secs(args.seconds.unwrap_or(60))),
        execs: args.execs,
        save_crashes: true,
        progress: true,
        crashes_max: 50,
    };
    let mut target = make_target(&args.target).expect("a known target");
    println!(
        "fuzzing {} (seed {}, {} s{})",
        args.target,
        args.seed,
        args.seconds.unwrap_or(60),
        args.execs
            .map_or(String::new(), |n| format!(", at most {n} execs"))
    );
    let report = fuzz::fuzz(&args.target, target.as_mut(), &options);
    let seconds = report.elapsed.as_secs_f64();
    println!(
        "target {}: {} execs in {:.0} s ({:.0}/s), {} seeds, corpus {}, outcomes {}, \
         crashes {} ({} distinct)",
        args.target,
        report.execs,
        seconds,
        report.execs as f64 / seconds.max(0.001),
        report.seeds,
        report.corpus,
        report.outcomes,
        report.crash_count,
        report.crashes.len()
    );
    for crash in &report.crashes {
        println!("  {}", crash.message);
    }
    if report.crashes.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
