//! Project automation: `cargo xtask ci` is what `.ci/run` runs, and what a developer runs.
//!
//! `ci` runs, cheapest first: rustfmt check, clippy with warnings denied, then the whole test
//! suite (nextest when installed, else `cargo test`). Tidy checks (`tidy.rs`) run inside the
//! test suite as an ordinary test, so `cargo test` alone enforces them too.

use std::process::{Command, ExitCode};

#[cfg(test)]
mod tidy;

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| format!("{program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed: {status}", args.join(" ")))
    }
}

fn has_nextest() -> bool {
    Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn ci() -> Result<(), String> {
    run("cargo", &["fmt", "--all", "--", "--check"])?;
    run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    if has_nextest() {
        run(
            "cargo",
            &["nextest", "run", "--workspace", "--profile", "ci"],
        )
    } else {
        run("cargo", &["test", "--workspace"])
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        _ => Err("usage: cargo xtask ci".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
