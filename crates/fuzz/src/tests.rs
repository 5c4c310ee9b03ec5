//! The CI slice of every target: the committed corpus and the generated seeds, then a few
//! thousand fresh mutants from a fixed seed. A failure names the command that replays it.

use crate::{Options, TARGETS, fuzz, make_target};

/// Mutants per target: enough to catch a regression in a decoder's checks, small enough that
/// all targets together run in seconds (the recovery targets open a node per input).
fn execs(target: &str) -> u64 {
    match target {
        "recovery" => 600,
        // Checksummed garbage reaches known panics (docs/fuzzing.md) within a few thousand.
        "recovery-sealed" => 300,
        "http" => 1_500,
        _ => 4_000,
    }
}

#[track_caller]
fn check(name: &str) {
    const SEED: u64 = 20_261_124;
    let mut target = make_target(name).expect("a known target");
    let options = Options {
        seed: SEED,
        duration: None,
        execs: Some(execs(name)),
        save_crashes: false,
        progress: false,
        crashes_max: 1,
    };
    let report = fuzz(name, target.as_mut(), &options);
    if let Some(crash) = report.crashes.first() {
        panic!(
            "target {name}: {} (exec {}); reproduce with: cargo run --release -p fuzz -- \
             --target {name} --seed {SEED} --execs {}",
            crash.message, crash.exec, crash.exec
        );
    }
    assert!(report.seeds > 0, "target {name} has no seeds");
    assert_eq!(report.execs, execs(name));
}

// Goal: every target's corpus and seeds pass, and a fixed slice of mutants finds nothing.
#[test]
fn protocol() {
    check("protocol");
}

#[test]
fn http() {
    check("http");
}

#[test]
fn recovery() {
    check("recovery");
}

#[test]
fn recovery_sealed() {
    check("recovery-sealed");
}

#[test]
fn snapshot() {
    check("snapshot");
}

#[test]
fn credit_records() {
    check("credit-records");
}

#[test]
fn batch() {
    check("batch");
}

// Goal: the harness is honest: a planted failure is caught, reported, and counted.
#[test]
fn a_planted_failure_is_caught() {
    struct Canary;
    impl crate::Target for Canary {
        fn seeds(&mut self) -> Vec<Vec<u8>> {
            vec![b"elevenfold".to_vec()]
        }
        fn run(&mut self, input: &[u8]) -> Result<String, String> {
            assert!(!input.contains(&0xFF), "canary: a 0xFF byte");
            Ok(String::new())
        }
    }
    let options = Options {
        seed: 1,
        duration: None,
        execs: Some(20_000),
        save_crashes: false,
        progress: false,
        crashes_max: 1,
    };
    let report = fuzz("canary", &mut Canary, &options);
    let crash = report.crashes.first().expect("the canary is found");
    assert!(
        crash.message.contains("canary: a 0xFF byte"),
        "{}",
        crash.message
    );
    assert!(crash.input.contains(&0xFF));
    assert!(TARGETS.iter().all(|t| make_target(t).is_some()));
}
