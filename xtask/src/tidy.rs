//! Tidy: repository rules checked as a test, so they hold on every `cargo test`.
//!
//! - every Rust file starts with a `//!` comment saying what it is for;
//! - pure crates (stdx, ledger, credit, promotions, engine, protocol, provenance) never touch the
//!   clock, the OS, threads or randomness;
//! - the crate graph points down: each workspace crate depends only on the crates its layer
//!   allows (ARCHITECTURE.md, "Crate graph");
//! - no ignored or should-panic tests, no debugging macros or stubs left in.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the root")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        // A cargo-fuzz directory (outside the workspace) is skipped; `crates/fuzz` is checked.
        if name == "target"
            || name == ".git"
            || name == "fuzz" && path.join("fuzz_targets").exists()
        {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn workspace_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(&root().join("crates"), &mut files);
    rust_files(&root().join("xtask"), &mut files);
    files.sort();
    files
}

// Goal: every Rust file opens with a `//!` header that says what it is for.
#[test]
fn every_file_has_a_header() {
    let missing: Vec<_> = workspace_files()
        .into_iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).expect("readable");
            !text.trim_start().starts_with("//!")
        })
        .collect();
    assert!(
        missing.is_empty(),
        "files without a //! header: {missing:?}"
    );
}

// Goal: the pure crates stay pure (no clock, OS, threads, randomness, JSON).
#[test]
fn pure_crates_stay_pure() {
    let banned = [
        "Instant::now",
        "SystemTime::now",
        "std::fs",
        "std::net",
        "thread::spawn",
        "std::process",
        "rand::",
        "tokio",
        "serde_json",
        "std::env",
    ];
    let mut found = Vec::new();
    for krate in [
        "stdx",
        "ledger",
        "credit",
        "promotions",
        "engine",
        "protocol",
        "provenance",
    ] {
        let mut files = Vec::new();
        rust_files(&root().join("crates").join(krate).join("src"), &mut files);
        for path in files {
            let text = std::fs::read_to_string(&path).expect("readable");
            for word in banned {
                if text.contains(word) {
                    found.push(format!("{}: {word}", path.display()));
                }
            }
        }
    }
    assert!(found.is_empty(), "impure calls in pure crates: {found:?}");
}

/// Workspace crates each crate may depend on (normal dependencies); layers point down.
const ALLOWED: &[(&str, &[&str])] = &[
    ("stdx", &[]),
    ("ledger", &["stdx"]),
    ("storage", &[]),
    // The transparency log core: bytes in, hashes, proofs and signed notes out; no ledger types.
    ("provenance", &["stdx"]),
    // The provenance log's I/O shell: its files go through storage's Vfs (crash tests on
    // MemVfs); EPCIS JSON, statements, bundles, the batching writer thread.
    ("provlog", &["provenance", "storage", "stdx"]),
    ("credit", &["ledger", "stdx"]),
    // Payments carrying coupons run on credit lines: promotions sits on credit.
    ("promotions", &["credit", "ledger", "stdx"]),
    ("engine", &["promotions", "credit", "ledger", "stdx"]),
    (
        "protocol",
        &["engine", "promotions", "credit", "ledger", "stdx"],
    ),
    ("node", &["engine", "credit", "ledger", "storage", "stdx"]),
    (
        "server",
        &[
            "node",
            "provlog",
            "provenance",
            "protocol",
            "engine",
            "promotions",
            "credit",
            "ledger",
            "storage",
            "stdx",
        ],
    ),
    (
        "client",
        &[
            "protocol",
            "engine",
            "promotions",
            "credit",
            "ledger",
            "stdx",
        ],
    ),
    (
        "bench",
        &[
            "node",
            "server",
            "provlog",
            "provenance",
            "client",
            "protocol",
            "engine",
            "promotions",
            "credit",
            "ledger",
            "stdx",
        ],
    ),
    (
        "cli",
        &[
            "server",
            "bench",
            "node",
            "provlog",
            "provenance",
            "engine",
            "credit",
            "ledger",
            "storage",
            "stdx",
        ],
    ),
    (
        "simulator",
        &[
            "node",
            "engine",
            "promotions",
            "credit",
            "ledger",
            "storage",
            "stdx",
        ],
    ),
    // Runs the `elevenfold` binary (crate cli) as a process and talks to it through `client`;
    // the protocol crate only for its limits.
    (
        "crashtest",
        &["client", "protocol", "promotions", "credit", "ledger"],
    ),
    // Test tooling at the top: it drives every decoder, the node's recovery and the server.
    (
        "fuzz",
        &[
            "server",
            "node",
            "provlog",
            "provenance",
            "protocol",
            "engine",
            "promotions",
            "credit",
            "ledger",
            "storage",
            "stdx",
        ],
    ),
];

/// External crates a pure, storage or simulator crate may use.
const EXTERNAL_ALLOWED: &[(&str, &[&str])] = &[
    ("stdx", &[]),
    // hashbrown: `HashTable` for the id index of (hash, position) entries, which std lacks.
    ("ledger", &["hashbrown"]),
    ("credit", &[]),
    ("promotions", &[]),
    ("engine", &[]),
    ("protocol", &["crc32c"]),
    ("storage", &["crc32c"]),
    // sha2: the tree hash is fixed to SHA-256 by RFC 6962 and tlog-tiles; ed25519-dalek: the
    // checkpoint and cosignature signatures (signed-note types 0x01 and 0x04).
    ("provenance", &["sha2", "ed25519-dalek"]),
    // Its own PRNG and hash: a seed must mean the same run forever, whatever crates.io does.
    ("simulator", &[]),
];

fn dependencies(manifest: &str) -> Vec<String> {
    let mut in_dependencies = false;
    let mut names = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
            continue;
        }
        if in_dependencies && let Some((name, _)) = line.split_once(['=', '.']) {
            let name = name.trim();
            if !name.is_empty() && !name.starts_with('#') {
                names.push(name.to_string());
            }
        }
    }
    names
}

// Goal: the crate graph is the architecture: every edge points down, pure crates have no
// external dependencies (storage: a checksum crate only).
#[test]
fn crate_graph_points_down() {
    let workspace: Vec<&str> = ALLOWED.iter().map(|(name, _)| *name).collect();
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(root().join("crates"))
        .expect("crates dir")
        .flatten()
    {
        let krate = entry.file_name().to_string_lossy().to_string();
        seen.push(krate.clone());
        let manifest = std::fs::read_to_string(entry.path().join("Cargo.toml")).expect("manifest");
        let Some((_, allowed)) = ALLOWED.iter().find(|(name, _)| *name == krate) else {
            problems.push(format!(
                "{krate}: not in tidy's crate table (add it and to ARCHITECTURE.md)"
            ));
            continue;
        };
        let external = EXTERNAL_ALLOWED
            .iter()
            .find(|(name, _)| *name == krate)
            .map(|(_, e)| *e);
        for dependency in dependencies(&manifest) {
            if workspace.contains(&dependency.as_str()) {
                if !allowed.contains(&dependency.as_str()) {
                    problems.push(format!("{krate} -> {dependency}: edge not allowed"));
                }
            } else if let Some(external) = external
                && !external.contains(&dependency.as_str())
            {
                problems.push(format!(
                    "{krate} -> {dependency}: no external dependencies here"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(seen.len() >= 7, "crates found: {seen:?}");
}

// Goal: no test is switched off and no debugging leftovers ship.
#[test]
fn no_ignored_tests_or_leftovers() {
    // Spelled in pieces so this file does not contain what it bans.
    let banned = [
        concat!("#[ig", "nore"),
        concat!("#[should", "_panic"),
        concat!("dbg", "!("),
        concat!("to", "do!("),
        concat!("unimple", "mented!("),
    ];
    let mut found = Vec::new();
    for path in workspace_files() {
        let text = std::fs::read_to_string(&path).expect("readable");
        for word in banned {
            if text.contains(word) {
                found.push(format!("{}: {word}", path.display()));
            }
        }
    }
    assert!(found.is_empty(), "{found:?}");
}
