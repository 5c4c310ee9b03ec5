//! The crash test in CI: a few SIGKILL cycles of the real `elevenfold` binary under load over
//! the binary protocol (`crashtest::run`; the long run is `cargo run --release -p crashtest`).
//!
//! The server binary belongs to crate `cli`, so `CARGO_BIN_EXE_elevenfold` does not exist
//! here. The test uses, in order:
//! 1. `ELEVENFOLD_BINARY`, if set (used as is);
//! 2. `target/<profile>/elevenfold` next to this test's directory, if it is at least as new as
//!    every source cargo's dep-info (`elevenfold.d`) lists. `cargo test --workspace` and
//!    `cargo nextest run --workspace` build it before any test runs (cli's own integration test
//!    needs it), so CI always finds it fresh;
//! 3. otherwise it builds it there with `cargo build -p cli` (the test's own profile). Cargo
//!    1.95 (`rust-toolchain.toml`) releases the target directory's lock before it runs tests,
//!    so this nested build does not wait on the `cargo test` that started it; it waits only
//!    while another cargo builds in the same directory.
//!
//! Not flaky by design: every check holds whatever the timing (what matters is which calls were
//! answered, not how many), the kill delays are seeded, and starts wait up to two minutes.

use std::path::PathBuf;

use crashtest::{Options, build_server, run, stale};

fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("ELEVENFOLD_BINARY") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test knows its path");
    // target/<profile>/deps/it-HASH
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps");
    let binary = profile_dir.join("elevenfold");
    let why = if binary.exists() {
        match stale(&binary) {
            None => return binary,
            Some(why) => why,
        }
    } else {
        "missing".to_string()
    };
    println!("{} is {why}: building it", binary.display());
    build_server(&binary).expect("the server builds");
    binary
}

// Goal: SIGKILL under load loses no acknowledged transfer, credit or promotions command, applies
// no call in part and invents nothing, over a few cycles of the real binary (method in
// `crates/crashtest/src/lib.rs`).
#[test]
fn sigkill_under_load_loses_nothing_acknowledged() {
    let mut options = Options::new(7, 5, server_binary());
    options.senders = 3;
    options.kill_delay_ms = (100, 400);
    options.sample_size = 512;
    // Small enough that a snapshot is due within the first cycles however slow the machine.
    options.snapshot_log_bytes = 32 * 1024;
    options.work_dir = std::env::temp_dir().join(format!("crashtest-it-{}", std::process::id()));
    let mut out = Vec::new();
    let report = run(&options, &mut out);
    let out = String::from_utf8(out).expect("the report is text");
    print!("{out}");
    assert!(report.passed(), "{out}");
    assert_eq!(report.cycles, 5);
    assert!(
        report.restarts_from_snapshot > 0,
        "no restart recovered from a snapshot: {out}"
    );
    assert!(report.acknowledged > 0, "no load reached the server: {out}");
    assert!(
        report.credit_acknowledged > 0 && report.promotions_acknowledged > 0,
        "no credit or promotions load reached the server: {out}"
    );
}
