//! `elevenfold provenance`: check an offline proof bundle with the log's public key alone
//! (`verify`), and make keys for submitters and witnesses (`keygen`).
//!
//! `verify` needs no server and no network: the bundle carries the signed checkpoint, the
//! statements and their inclusion proofs (docs/provenance.md, "Proof bundles"). Exit 0 when
//! everything verifies, 1 otherwise (the reason is printed).

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use provenance::{
    CosignatureV1Signer, CosignatureV1Verifier, Ed25519Signer, Ed25519Verifier, NoteVerifier,
    base64, hash_to_hex,
};
use provlog::{VerifiedBundle, epcis, verify_bundle};

use crate::output::print_stdout;

#[derive(Debug, Args)]
pub struct ProvenanceArgs {
    #[command(subcommand)]
    pub command: ProvenanceCommand,
}

#[derive(Debug, Subcommand)]
pub enum ProvenanceCommand {
    /// Verify an offline proof bundle (from `GET /v1/provenance/bundle`) with the log's public
    /// key: the checkpoint's signature, and each statement's inclusion proof against it.
    Verify(VerifyArgs),
    /// Print a new Ed25519 key pair: the secret key (keep it) and the verifier key (register
    /// it with the log: `--provenance-submitters` or `--provenance-witness`).
    Keygen(KeygenArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The bundle file, raw or base64 (`-` reads stdin).
    pub bundle: PathBuf,
    /// The log's verifier key (`<origin>+<key ID>+<base64>`, from `GET /v1/provenance/keys`),
    /// or a file holding it.
    #[arg(long)]
    pub key: String,
    /// A witness verifier key (cosignature/v1) to require; repeat for several.
    #[arg(long = "witness", value_name = "VKEY")]
    pub witnesses: Vec<String>,
    /// How many of the `--witness` keys must have cosigned (default: all of them).
    #[arg(long)]
    pub quorum: Option<usize>,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The key's name: a submitter's (`brand.example/acme`) or a witness's.
    pub name: String,
    /// A witness key (cosignature/v1, type 0x04) instead of a submitter key (Ed25519, 0x01).
    #[arg(long)]
    pub witness: bool,
}

pub fn run(args: ProvenanceArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ProvenanceCommand::Verify(args) => verify(&args),
        ProvenanceCommand::Keygen(args) => keygen(&args),
    }
}

/// A key given inline, or the first non-comment line of a file.
fn key_text(key: &str) -> anyhow::Result<String> {
    if key.contains('+') && !std::path::Path::new(key).exists() {
        return Ok(key.trim().to_string());
    }
    let text = std::fs::read_to_string(key).with_context(|| format!("cannot read key {key}"))?;
    provlog::keys::key_lines(&text)
        .next()
        .map(|(_, line)| line.to_string())
        .with_context(|| format!("{key} holds no key"))
}

/// The bundle's bytes: raw, or base64 text (a QR code's payload).
fn read_bundle(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    let bytes = if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read the bundle from stdin")?;
        bytes
    } else {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    if bytes.starts_with(provlog::bundle::BUNDLE_MAGIC) {
        return Ok(bytes);
    }
    let text = std::str::from_utf8(&bytes)
        .ok()
        .map(str::trim)
        .context("the bundle is neither a binary bundle nor base64 text")?;
    base64::decode(text).map_err(|_| {
        anyhow::anyhow!("the bundle is neither a binary bundle nor canonical base64 text")
    })
}

/// Verifies `args.bundle` and renders what it proves.
pub fn verify_report(args: &VerifyArgs) -> anyhow::Result<String> {
    let log = Ed25519Verifier::from_vkey(&key_text(&args.key)?)
        .map_err(|error| anyhow::anyhow!("--key: {error}"))?;
    let witnesses: Vec<CosignatureV1Verifier> = args
        .witnesses
        .iter()
        .map(|key| {
            key_text(key).and_then(|text| {
                CosignatureV1Verifier::from_vkey(&text)
                    .map_err(|error| anyhow::anyhow!("--witness {key}: {error}"))
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let quorum = args.quorum.unwrap_or(witnesses.len());
    if quorum > witnesses.len() {
        bail!(
            "--quorum {quorum} exceeds the {} witness keys given",
            witnesses.len()
        );
    }
    let witness_refs: Vec<&dyn NoteVerifier> =
        witnesses.iter().map(|w| w as &dyn NoteVerifier).collect();
    let bytes = read_bundle(&args.bundle)?;
    let verified = verify_bundle(&bytes, &log, &witness_refs, quorum)
        .map_err(|error| anyhow::anyhow!("the bundle does not verify: {error}"))?;
    Ok(render(&verified, bytes.len()))
}

fn render(verified: &VerifiedBundle, size: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "log        {}", verified.origin);
    let _ = writeln!(out, "tree size  {}", verified.size);
    let _ = writeln!(out, "root       {}", base64::encode(&verified.root));
    if !verified.cosigners.is_empty() {
        let _ = writeln!(out, "cosigned   {}", verified.cosigners.join(", "));
    }
    let _ = writeln!(out, "product    {}", verified.product);
    let _ = writeln!(
        out,
        "bundle     {size} bytes, {} events",
        verified.events.len()
    );
    for (index, statement) in &verified.events {
        let _ = writeln!(
            out,
            "  #{index:<10} {} {:<7} {:<12} {} by {} (event {})",
            epcis::format_millis(statement.event_time_ms),
            statement.action.name(),
            if statement.biz_step.is_empty() {
                "-"
            } else {
                &statement.biz_step
            },
            statement.event_type.name(),
            statement.submitter,
            &hash_to_hex(&statement.event_hash)[..16],
        );
    }
    out.push_str("verified: every statement is in the log under its signed checkpoint");
    out
}

fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    match verify_report(args) {
        Ok(report) => {
            print_stdout(&report)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            Ok(ExitCode::from(1))
        }
    }
}

fn keygen(args: &KeygenArgs) -> anyhow::Result<ExitCode> {
    let seed = provlog::keys::random_seed().context("cannot read OS randomness")?;
    let signer = Ed25519Signer::new(&args.name, &seed)
        .map_err(|error| anyhow::anyhow!("{:?}: {error}", args.name))?;
    let vkey = if args.witness {
        CosignatureV1Signer::new(&args.name, &seed)
            .map_err(|error| anyhow::anyhow!("{:?}: {error}", args.name))?
            .verifier()
            .vkey()
    } else {
        signer.verifier().vkey()
    };
    print_stdout(&format!(
        "secret key:   {}\nverifier key: {vkey}",
        signer.skey()
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// `elevenfold bench provenance` (BENCHMARKS.md, "Provenance").
#[derive(Debug, Args)]
pub struct BenchProvenanceArgs {
    /// Statements to append.
    #[arg(long, default_value_t = 2_000_000)]
    pub entries: u64,
    /// Statements per submit call.
    #[arg(long, default_value_t = 4096)]
    pub job: usize,
    /// Most statements the writer integrates as one batch (one fsync round, one checkpoint).
    #[arg(long, default_value_t = provlog::BATCH_ENTRIES_MAX)]
    pub batch_max: usize,
    /// Concurrent submitting threads.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Events per product (the history size).
    #[arg(long, default_value_t = 4)]
    pub events_per_product: u64,
    /// Inclusion proofs to time.
    #[arg(long, default_value_t = 200_000)]
    pub proofs: usize,
    /// Product histories to time.
    #[arg(long, default_value_t = 20_000)]
    pub histories: usize,
    /// Offline bundles to verify.
    #[arg(long, default_value_t = 2000)]
    pub bundles: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// An empty directory for the log (default: a temporary one).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// One JSON object: appends_per_second, proof_latency_us_p50/p99/max,
    /// verifications_per_second, history and bundle figures, recovery_seconds, and the settings.
    #[arg(long)]
    pub json: bool,
}

/// Runs `elevenfold bench provenance`.
pub fn run_bench(args: &BenchProvenanceArgs) -> anyhow::Result<ExitCode> {
    let config = bench::ProvenanceBenchConfig {
        entry_count: args.entries,
        job_size: args.job.max(1),
        batch_max: args.batch_max.max(1),
        clients: args.clients.max(1),
        events_per_product: args.events_per_product.max(1),
        proof_count: args.proofs,
        history_count: args.histories,
        bundle_count: args.bundles,
        seed: args.seed,
        data_dir: args.data_dir.clone(),
    };
    let report = bench::run_provenance(&config, &|_| {}).map_err(|e| anyhow::anyhow!(e))?;
    print_stdout(&if args.json {
        report.to_json()
    } else {
        report.to_text()
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use provenance::{NoteSigner as _, base64};
    use provlog::{Provenance, ProvenanceConfig, Submission};

    use super::{VerifyArgs, verify_report};

    fn submissions(provenance: &Provenance, signer: &provenance::Ed25519Signer) -> Vec<Submission> {
        (0..6)
            .map(|i| {
                let text = format!(
                    r#"{{"type":"ObjectEvent","action":"OBSERVE","bizStep":"retail_selling",
                        "eventTime":"2026-11-11T0{i}:00:00Z","eventTimeZoneOffset":"+08:00",
                        "epcList":["urn:epc:id:sgtin:0614141.107346.{}"]}}"#,
                    i % 2
                );
                let event = provlog::jcs::parse(text.as_bytes()).unwrap();
                let message =
                    provlog::statement::signed_message(&provlog::epcis::event_hash(&event));
                let signature = base64::encode(&signer.sign(&message));
                provenance
                    .prepare("brand.example/acme", &event, &signature, 0)
                    .unwrap()
            })
            .collect()
    }

    // Goal: a bundle verifies with the log's key alone, raw or base64, the key inline or in a
    // file; a bundle with a flipped bit, another log's key, or a missing witness quorum fails.
    #[test]
    fn verify_checks_bundles_with_the_key_alone() {
        let dir = tempfile::tempdir().unwrap();
        let brand = provenance::Ed25519Signer::new("brand.example/acme", &[3; 32]).unwrap();
        let (provenance, _) = Provenance::open(ProvenanceConfig {
            submitters: vec![brand.verifier()],
            ..ProvenanceConfig::new(dir.path().join("provenance"))
        })
        .unwrap();
        provenance
            .submit_blocking(submissions(&provenance, &brand))
            .unwrap();
        let history = provenance.history("01/10614141073464/21/1", 10).unwrap();
        let bundle = history.bundle().unwrap();
        let vkey = provenance.log().verifier().vkey();
        let raw = dir.path().join("bundle.bin");
        std::fs::write(&raw, &bundle).unwrap();
        let text = dir.path().join("bundle.txt");
        std::fs::write(&text, format!("{}\n", base64::encode(&bundle))).unwrap();
        let key_file = dir.path().join("log.vkey");
        std::fs::write(&key_file, format!("# the log\n{vkey}\n")).unwrap();
        let args = |bundle: &std::path::Path, key: &str| VerifyArgs {
            bundle: bundle.to_path_buf(),
            key: key.to_string(),
            witnesses: Vec::new(),
            quorum: None,
        };
        let report = verify_report(&args(&raw, &vkey)).unwrap();
        assert!(
            report.contains("product    01/10614141073464/21/1"),
            "{report}"
        );
        assert!(report.contains("3 events"), "{report}");
        assert!(report.contains("retail_selling"), "{report}");
        assert!(
            report.ends_with("verified: every statement is in the log under its signed checkpoint")
        );
        assert_eq!(
            verify_report(&args(&text, key_file.to_str().unwrap())).unwrap(),
            report
        );

        let mut flipped = bundle.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        std::fs::write(&raw, &flipped).unwrap();
        let error = verify_report(&args(&raw, &vkey)).unwrap_err().to_string();
        assert!(error.contains("inclusion proof"), "{error}");
        std::fs::write(&raw, &bundle).unwrap();
        let other = provenance::Ed25519Signer::new(provlog::DEFAULT_ORIGIN, &[5; 32]).unwrap();
        let error = verify_report(&args(&raw, &other.verifier().vkey()))
            .unwrap_err()
            .to_string();
        assert!(error.contains("checkpoint"), "{error}");
        let witness = provenance::CosignatureV1Signer::new("w.example/1", &[6; 32]).unwrap();
        let mut required = args(&raw, &vkey);
        required.witnesses = vec![witness.verifier().vkey()];
        let error = verify_report(&required).unwrap_err().to_string();
        assert!(error.contains("witness cosignatures"), "{error}");
        std::fs::write(&raw, b"not a bundle").unwrap();
        assert!(verify_report(&args(&raw, &vkey)).is_err());
    }
}
