//! `elevenfold bench provenance`: the provenance log's durable append rate, proof latency in a
//! warm process, and verification rate on one core.
//!
//! Phases, in order:
//! 1. appends: `clients` threads submit statements through `provlog::Provenance` (what the
//!    server runs: the writer thread integrates whatever is queued as one batch, up to
//!    `batch_max` entries; each batch's entries and hashes are fsynced, then its checkpoint
//!    is signed and fsynced, then the submitters are answered), `job` statements per call,
//!    each thread waiting for its answer before sending again. Statements are realistic
//!    (about 190 bytes: one ObjectEvent, one serialised GTIN, a submitter signature) and
//!    built by the client threads from (seed, index), inside the timed window;
//! 2. proofs: `proofs` inclusion proofs of random entries against the published size, each
//!    timed alone (`Log::inclusion_proof`, what the HTTP handler calls), and `histories`
//!    product histories (index lookup, entry reads, decoding, one proof per event);
//! 3. verifications: the same proofs verified on one thread (RFC 9162 §2.1.3.2 against the
//!    root), then `bundles` offline bundles verified (checkpoint signature and proofs);
//! 4. recovery: the service is shut down and reopened (every entry rehashed, the tree and the
//!    index rebuilt, the root checked against the checkpoint), timed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use provenance::{Ed25519Signer, Hash, leaf_hash, verify_inclusion};
use provlog::{
    Action, EventType, Identifier, Provenance, ProvenanceConfig, Role, Statement, Submission,
    verify_bundle,
};

/// What to run.
#[derive(Clone, Debug)]
pub struct ProvenanceBenchConfig {
    pub entry_count: u64,
    /// Statements per submit call.
    pub job_size: usize,
    /// Most entries the writer integrates as one batch.
    pub batch_max: usize,
    pub clients: usize,
    /// Events per product (consecutive products interleave, so a product's events spread).
    pub events_per_product: u64,
    pub proof_count: usize,
    pub history_count: usize,
    pub bundle_count: usize,
    pub seed: u64,
    /// Where the log goes; a temporary directory if `None`.
    pub data_dir: Option<PathBuf>,
}

impl Default for ProvenanceBenchConfig {
    fn default() -> ProvenanceBenchConfig {
        ProvenanceBenchConfig {
            entry_count: 2_000_000,
            job_size: 4096,
            batch_max: provlog::BATCH_ENTRIES_MAX,
            clients: 4,
            events_per_product: 4,
            proof_count: 200_000,
            history_count: 20_000,
            bundle_count: 2000,
            seed: 1,
            data_dir: None,
        }
    }
}

/// What a run measured.
#[derive(Clone, Debug)]
pub struct ProvenanceReport {
    pub config: ProvenanceBenchConfig,
    pub entry_bytes_mean: f64,
    pub append_seconds: f64,
    pub appends_per_second: f64,
    /// Checkpoints published by the appends (one per integrated batch).
    pub batches: u64,
    pub proof_latency_us_p50: f64,
    pub proof_latency_us_p99: f64,
    pub proof_latency_us_max: f64,
    pub history_latency_us_p50: f64,
    pub history_latency_us_p99: f64,
    pub verifications_per_second: f64,
    pub bundle_verifications_per_second: f64,
    pub bundle_bytes_mean: f64,
    pub recovery_seconds: f64,
    pub tree_size: u64,
    pub rss_bytes: u64,
    pub rss_peak_bytes: u64,
}

impl ProvenanceReport {
    #[must_use]
    pub fn to_json(&self) -> String {
        let c = &self.config;
        format!(
            concat!(
                "{{\"bench\":\"provenance\",\"entry_count\":{},\"job_size\":{},",
                "\"batch_max\":{},\"clients\":{},\"events_per_product\":{},\"seed\":{},",
                "\"entry_bytes_mean\":{:.1},\"append_seconds\":{:.3},",
                "\"appends_per_second\":{:.0},\"batches\":{},\"batch_entries_mean\":{:.0},",
                "\"proof_count\":{},\"proof_latency_us_p50\":{:.2},",
                "\"proof_latency_us_p99\":{:.2},\"proof_latency_us_max\":{:.2},",
                "\"history_count\":{},\"history_latency_us_p50\":{:.1},",
                "\"history_latency_us_p99\":{:.1},\"verifications_per_second\":{:.0},",
                "\"bundle_count\":{},\"bundle_verifications_per_second\":{:.0},",
                "\"bundle_bytes_mean\":{:.0},\"recovery_seconds\":{:.3},\"tree_size\":{},",
                "\"rss_bytes\":{},\"rss_peak_bytes\":{}}}"
            ),
            c.entry_count,
            c.job_size,
            c.batch_max,
            c.clients,
            c.events_per_product,
            c.seed,
            self.entry_bytes_mean,
            self.append_seconds,
            self.appends_per_second,
            self.batches,
            self.batch_entries_mean(),
            c.proof_count,
            self.proof_latency_us_p50,
            self.proof_latency_us_p99,
            self.proof_latency_us_max,
            c.history_count,
            self.history_latency_us_p50,
            self.history_latency_us_p99,
            self.verifications_per_second,
            c.bundle_count,
            self.bundle_verifications_per_second,
            self.bundle_bytes_mean,
            self.recovery_seconds,
            self.tree_size,
            self.rss_bytes,
            self.rss_peak_bytes,
        )
    }

    #[expect(clippy::cast_precision_loss, reason = "reporting only")]
    fn batch_entries_mean(&self) -> f64 {
        self.config.entry_count as f64 / self.batches.max(1) as f64
    }

    #[must_use]
    pub fn to_text(&self) -> String {
        let c = &self.config;
        format!(
            "provenance: {} statements ({:.0} bytes each) by {} clients, {} per call\n\
             appends:        {:.0}/s durable ({:.2} s, {} batches of {:.0} on average)\n\
             proofs:         p50 {:.2} us, p99 {:.2} us, max {:.2} us ({} samples, tree of {})\n\
             histories:      p50 {:.1} us, p99 {:.1} us ({} products, {} events each)\n\
             verifications:  {:.0}/s on one core; bundles {:.0}/s ({:.0} bytes each)\n\
             recovery:       {:.2} s; RSS {} MiB (peak {} MiB)",
            c.entry_count,
            self.entry_bytes_mean,
            c.clients,
            c.job_size,
            self.appends_per_second,
            self.append_seconds,
            self.batches,
            self.batch_entries_mean(),
            self.proof_latency_us_p50,
            self.proof_latency_us_p99,
            self.proof_latency_us_max,
            c.proof_count,
            self.tree_size,
            self.history_latency_us_p50,
            self.history_latency_us_p99,
            c.history_count,
            c.events_per_product,
            self.verifications_per_second,
            self.bundle_verifications_per_second,
            self.bundle_bytes_mean,
            self.recovery_seconds,
            self.rss_bytes >> 20,
            self.rss_peak_bytes >> 20,
        )
    }
}

/// SplitMix64: the bench's own deterministic generator.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

const SUBMITTER: &str = "brand.example/acme";

/// The product of entry `index`: `events_per_product` consecutive blocks of products, so a
/// product's events are spread through the log.
fn product_of(config: &ProvenanceBenchConfig, index: u64) -> u64 {
    let products = (config.entry_count / config.events_per_product.max(1)).max(1);
    index % products
}

fn product_key(seed: u64, product: u64) -> String {
    format!("01/10614141073464/21/{seed}-{product}")
}

/// Statement `index`: an ObjectEvent about one serialised item.
fn statement(config: &ProvenanceBenchConfig, key_id: u32, index: u64) -> Submission {
    let random = mix(config.seed ^ mix(index));
    let mut signature = [0u8; 64];
    for (position, chunk) in signature.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&mix(random ^ position as u64).to_le_bytes());
    }
    let mut event_hash: Hash = [0u8; 32];
    for (position, chunk) in event_hash.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&mix(random.rotate_left(17) ^ position as u64).to_le_bytes());
    }
    let statement = Statement {
        event_type: EventType::Object,
        action: Action::Observe,
        event_time_ms: 1_794_000_000_000 + i64::try_from(index).unwrap_or(i64::MAX) % 1_000_000_000,
        event_time_zone_offset_minutes: 480,
        recorded_ms: 1_795_000_000_000 + index,
        event_hash,
        submitter_key_id: key_id,
        submitter: SUBMITTER.to_string(),
        signature,
        biz_step: "shipping".to_string(),
        disposition: "in_transit".to_string(),
        identifiers: vec![Identifier {
            role: Role::Epc,
            id: product_key(config.seed, product_of(config, index)),
        }],
    };
    let entry = statement
        .encode()
        .expect("a one-identifier statement fits an entry");
    Submission { statement, entry }
}

/// A latency histogram in nanoseconds.
fn nanos_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

fn record_nanos(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let nanos = u64::try_from(elapsed.as_nanos())
        .unwrap_or(u64::MAX)
        .clamp(1, 60_000_000_000);
    histogram.record(nanos).expect("value within bounds");
}

#[expect(clippy::cast_precision_loss, reason = "reporting only")]
fn micros(nanos: u64) -> f64 {
    nanos as f64 / 1000.0
}

/// Runs the benchmark; `progress` gets the share done of the appends (0 to 1).
#[expect(clippy::cast_precision_loss, reason = "reporting only")]
pub fn run(
    config: &ProvenanceBenchConfig,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<ProvenanceReport, String> {
    let temporary = match &config.data_dir {
        Some(_) => None,
        None => Some(tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?),
    };
    let dir = config
        .data_dir
        .clone()
        .or_else(|| temporary.as_ref().map(|t| t.path().join("provenance")))
        .expect("a directory either way");
    let submitter = Ed25519Signer::new(SUBMITTER, &[0x42; 32]).map_err(|e| e.to_string())?;
    let service_config = ProvenanceConfig {
        origin: "bench.example/provenance".to_string(),
        submitters: vec![submitter.verifier()],
        batch_entries_max: config.batch_max,
        ..ProvenanceConfig::new(&dir)
    };
    let (service, recovery) =
        Provenance::open(service_config.clone()).map_err(|e| format!("open: {e}"))?;
    if recovery.size != 0 {
        return Err(format!(
            "{} already holds a log of {} entries; use an empty directory",
            dir.display(),
            recovery.size
        ));
    }
    let key_id = provenance::NoteVerifier::key_id(&submitter.verifier());

    // 1. Appends.
    let next = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    let failure = std::sync::Mutex::new(None::<String>);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..config.clients.max(1) {
            scope.spawn(|| {
                loop {
                    let first = next.fetch_add(config.job_size as u64, Ordering::Relaxed);
                    if first >= config.entry_count {
                        return;
                    }
                    let last = (first + config.job_size as u64).min(config.entry_count);
                    let job: Vec<Submission> = (first..last)
                        .map(|i| statement(config, key_id, i))
                        .collect();
                    bytes.fetch_add(
                        job.iter().map(|s| s.entry.len() as u64).sum(),
                        Ordering::Relaxed,
                    );
                    match service.submit_blocking(job) {
                        Ok(receipts) if receipts.iter().all(|r| !r.duplicate) => {}
                        Ok(_) => {
                            *failure.lock().expect("not poisoned") =
                                Some("a generated statement was a duplicate".to_string());
                            return;
                        }
                        Err(error) => {
                            *failure.lock().expect("not poisoned") = Some(error.to_string());
                            return;
                        }
                    }
                    progress(last as f64 / config.entry_count as f64);
                }
            });
        }
    });
    let append_elapsed = started.elapsed();
    if let Some(error) = failure.into_inner().expect("not poisoned") {
        return Err(format!("append failed: {error}"));
    }
    let log = service.log();
    let size = log.size();
    if size != config.entry_count {
        return Err(format!(
            "{size} entries published, {} sent",
            config.entry_count
        ));
    }
    let root = log.published().root;

    // 2. Proofs, warm.
    let mut proof_latency = nanos_histogram();
    let mut proofs: Vec<(u64, Vec<Hash>)> = Vec::with_capacity(config.proof_count);
    for sample in 0..config.proof_count as u64 {
        let index = mix(config.seed ^ 0x5eed ^ sample) % size;
        let start = Instant::now();
        let proof = log
            .inclusion_proof(index, size)
            .map_err(|e| format!("proof of {index}: {e}"))?;
        record_nanos(&mut proof_latency, start.elapsed());
        proofs.push((index, proof));
    }
    let mut history_latency = nanos_histogram();
    let products = (config.entry_count / config.events_per_product.max(1)).max(1);
    let mut bundles = Vec::with_capacity(config.bundle_count);
    for sample in 0..config.history_count as u64 {
        let product = product_key(config.seed, mix(config.seed ^ 0x4157 ^ sample) % products);
        let start = Instant::now();
        let history = service
            .history(&product, 1000)
            .map_err(|e| format!("history of {product}: {e}"))?;
        record_nanos(&mut history_latency, start.elapsed());
        if history.events.is_empty() {
            return Err(format!("no events for {product}"));
        }
        if bundles.len() < config.bundle_count {
            bundles.push(history.bundle().map_err(|e| e.to_string())?);
        }
    }

    // 3. Verifications on this thread.
    let leaves: Vec<Hash> = proofs
        .iter()
        .map(|(index, _)| log.leaf_hash(*index).expect("published"))
        .collect();
    let start = Instant::now();
    for ((index, proof), leaf) in proofs.iter().zip(&leaves) {
        verify_inclusion(leaf, *index, size, proof, &root)
            .map_err(|e| format!("verification of {index}: {e}"))?;
    }
    let verify_elapsed = start.elapsed();
    let log_key = log.verifier().clone();
    let start = Instant::now();
    for bundle in &bundles {
        verify_bundle(bundle, &log_key, &[], 0).map_err(|e| format!("bundle: {e}"))?;
    }
    let bundle_elapsed = start.elapsed();
    let bundle_bytes: usize = bundles.iter().map(Vec::len).sum();
    // Keep the leaf hashes honest: a proof of entry 0 checks against its actual bytes.
    let first = log
        .entry(0)
        .map_err(|e| e.to_string())?
        .ok_or("entry 0 missing")?;
    if leaf_hash(&first) != log.leaf_hash(0).expect("published") {
        return Err("entry 0 does not hash to its leaf".to_string());
    }
    let (rss_bytes, rss_peak_bytes) = crate::credit::rss();

    // 4. Recovery.
    service.shutdown();
    drop(service);
    let start = Instant::now();
    let (reopened, recovered) =
        Provenance::open(service_config).map_err(|e| format!("reopen: {e}"))?;
    let recovery_elapsed = start.elapsed();
    if recovered.size != size || reopened.log().published().root != root {
        return Err("the reopened log differs".to_string());
    }
    let batches = recovered.checkpoint_records.saturating_sub(1);
    drop(reopened);

    let per_second = |count: usize, elapsed: Duration| count as f64 / elapsed.as_secs_f64();
    Ok(ProvenanceReport {
        config: config.clone(),
        entry_bytes_mean: bytes.load(Ordering::Relaxed) as f64 / config.entry_count as f64,
        append_seconds: append_elapsed.as_secs_f64(),
        appends_per_second: config.entry_count as f64 / append_elapsed.as_secs_f64(),
        batches,
        proof_latency_us_p50: micros(proof_latency.value_at_quantile(0.50)),
        proof_latency_us_p99: micros(proof_latency.value_at_quantile(0.99)),
        proof_latency_us_max: micros(proof_latency.max()),
        history_latency_us_p50: micros(history_latency.value_at_quantile(0.50)),
        history_latency_us_p99: micros(history_latency.value_at_quantile(0.99)),
        verifications_per_second: per_second(proofs.len(), verify_elapsed),
        bundle_verifications_per_second: per_second(bundles.len(), bundle_elapsed),
        bundle_bytes_mean: bundle_bytes as f64 / bundles.len().max(1) as f64,
        recovery_seconds: recovery_elapsed.as_secs_f64(),
        tree_size: size,
        rss_bytes,
        rss_peak_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::{ProvenanceBenchConfig, run};

    // Goal: a small run completes, appends every statement, and reports sane figures.
    #[test]
    fn a_small_run_reports_every_figure() {
        let config = ProvenanceBenchConfig {
            entry_count: 5000,
            job_size: 300,
            proof_count: 1000,
            history_count: 100,
            bundle_count: 20,
            ..ProvenanceBenchConfig::default()
        };
        let report = run(&config, &|_| {}).unwrap();
        assert_eq!(report.tree_size, 5000);
        assert!(
            report.batches >= 1 && report.batches <= 17,
            "{}",
            report.batches
        );
        assert!(report.appends_per_second > 0.0);
        assert!(report.proof_latency_us_p99 > 0.0);
        assert!(report.verifications_per_second > 0.0);
        assert!(report.entry_bytes_mean > 150.0 && report.entry_bytes_mean < 250.0);
        let json = report.to_json();
        for field in [
            "appends_per_second",
            "proof_latency_us_p99",
            "verifications_per_second",
        ] {
            assert!(json.contains(&format!("\"{field}\":")), "{json}");
        }
    }
}
