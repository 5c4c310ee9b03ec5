//! The CI slice of every target: the committed corpus and the generated seeds, then a few
//! thousand fresh mutants from a fixed seed; and every saved crash input, which must pass once
//! its finding is fixed. A failure names the command that replays it.

use crate::{Options, TARGETS, Target, crash_dir, fuzz, make_target, run_guarded};

/// Mutants per target: enough to catch a regression in a decoder's checks, small enough that
/// all targets together run in seconds (the recovery targets open a node per input).
fn execs(target: &str) -> u64 {
    match target {
        "recovery" => 600,
        "recovery-sealed" => 1_000,
        "http" => 1_500,
        "provlog" => 3_000,
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

#[test]
fn provlog() {
    check("provlog");
}

// Goal: the `provlog` target's oracle is honest: a bundle that verifies but whose checkpoint the
// log never signed (its real checkpoint with an extension line, signed with the log's key, which
// only the harness holds: what a forgery would look like) is reported as a failure, and the same
// bundle with its real checkpoint passes.
#[test]
fn provlog_reports_a_checkpoint_the_log_never_signed() {
    use crate::targets::provlog::{BUNDLE_KIND, log_signer};
    use provenance::{Checkpoint, Note};

    crate::install_panic_hook();
    let mut target = make_target("provlog").expect("a known target");
    let seed = target
        .seeds()
        .into_iter()
        .find(|s| s.first() == Some(&BUNDLE_KIND) && s.len() > 1000)
        .expect("a bundle seed with events");
    let outcome = run_guarded(target.as_mut(), &seed);
    assert!(
        outcome.as_ref().is_ok_and(|l| l.starts_with("bundle/ok/")),
        "{outcome:?}"
    );
    let mut bundle = provlog::Bundle::decode(&seed[1..]).expect("a bundle");
    let note = Note::parse(bundle.checkpoint.as_bytes()).expect("a note");
    let real = Checkpoint::parse_body(&note.text).expect("a checkpoint");
    let forged = Checkpoint::with_extensions(
        real.origin(),
        real.size(),
        *real.root(),
        vec!["forged".to_string()],
    )
    .expect("a valid checkpoint");
    bundle.checkpoint = forged.sign(&log_signer()).expect("signs");
    let mut input = vec![BUNDLE_KIND];
    input.extend_from_slice(&bundle.encode().expect("encodes"));
    let outcome = run_guarded(target.as_mut(), &input);
    assert!(
        outcome
            .as_ref()
            .is_err_and(|e| e.starts_with("bundle-forged: a checkpoint the log never signed")),
        "{outcome:?}"
    );
}

// Goal: the `http` target's promotions seeds are what they say: on the state the target's setup
// leaves (whose every event must be accepted, or `seeds` panics), after the seeds before them,
// each valid promotions request answers 200 with every campaign and command `ok`, so that
// mutants start from requests that reach the engine, not from refusals.
#[test]
fn http_promotions_seeds_succeed() {
    crate::install_panic_hook();
    let mut target = crate::targets::http::Http::new();
    let promotions = crate::targets::http::promotions_seeds();
    for seed in target.seeds() {
        let outcome = target.run(&seed);
        if !promotions.contains(&seed) {
            continue;
        }
        let label = outcome.unwrap_or_else(|e| panic!("{e}"));
        let all_ok = if seed.starts_with(b"POST") {
            label.ends_with(" 200 ok ")
        } else {
            label.contains(" 200 ")
        };
        assert!(
            all_ok,
            "{label}: {}",
            String::from_utf8_lossy(&seed[..seed.len().min(300)])
        );
    }
}

// Goal: every input the fuzzer saved in `crates/fuzz/crashes/` (findings B1, F1-F5 of
// docs/fuzzing.md, all fixed) now passes its target's properties: a regression is a failure.
// The target is the longest target name the file name starts with.
#[test]
fn saved_crash_inputs_pass() {
    crate::install_panic_hook();
    let mut files: Vec<_> = std::fs::read_dir(crash_dir())
        .expect("the crash directory")
        .flatten()
        .map(|entry| entry.path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "saved crash inputs");
    for path in files {
        let name = path
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .to_string();
        let target_name = TARGETS
            .iter()
            .filter(|t| name.starts_with(&format!("{t}-")))
            .max_by_key(|t| t.len())
            .unwrap_or_else(|| panic!("{name}: no target of that name"));
        let mut target = make_target(target_name).expect("a known target");
        // Stateful targets (http) build their state with their seeds first, as `--replay` does.
        let _ = target.seeds();
        let mut input = std::fs::read(&path).expect("readable");
        if let Some(mut bundle) = crate::targets::recovery::Bundle::decode(&input) {
            crate::bad_input::in_current_format(&mut bundle);
            input = bundle.encode();
        }
        if let Err(message) = run_guarded(target.as_mut(), &input) {
            panic!(
                "{name}: {message}; reproduce with: cargo run --release -p fuzz -- --target \
                 {target_name} --replay crates/fuzz/crashes/{name}"
            );
        }
    }
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
