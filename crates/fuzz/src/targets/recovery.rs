//! Targets `recovery` and `recovery-sealed`: whole data directories (WAL segments, snapshots,
//! the record file) made by a real node run, mutated, then recovered by `node::NodeCore::open`
//! over `storage::MemVfs` (the node's own recovery code, in memory), and listed by
//! `storage::inspect_with`.
//!
//! An input is a *bundle*: the directory's files by name, plus the digest of the state the run
//! had after each op (`@digests`, never mutated, never written to the directory).
//!
//! `recovery` mutates as disks and operators do, without touching checksums: flipped bits,
//! garbage, truncations (torn writes), deleted, copied, renamed or swapped files, appended
//! frames. Properties: never a panic; recovery either refuses with an error, or recovers a
//! state equal to the run's state at the recovered op (a prefix: every account, balance, limit,
//! transfer and pending status of the workload, the credit line, its plans and the program's
//! funding), after which a new batch commits and the directory reopens at the next op.
//!
//! `recovery-sealed` mutates what the checksums protect and reseals them: a frame's payload or
//! op, a snapshot's payload, a record page's records, as a buggy writer would. Checksums cannot
//! tell, so the state may differ; the property is only: never a panic (every decoder and
//! recovery step refuses what it cannot use with an error).

use std::path::{Path, PathBuf};

use engine::{Request, StateMachine};
use ledger::ColdStore;
use node::{Config, NodeCore, OpenError, StorageError};
use storage::{MemVfs, Vfs, VfsFile};

use crate::mutate::mutate_bytes;
use crate::prng::Prng;
use crate::targets::samples;
use crate::{Target, fnv64};

const BUNDLE_MAGIC: &[u8] = b"EFZDIR1\n";
const DIGESTS: &str = "@digests";
pub(crate) const DIR: &str = "/data";
pub(crate) const HASH_KEY: u64 = 0xD15C;
const WAL_FRAME_HEADER: usize = 28;
const SNAPSHOT_HEADER: usize = 32;
const RECORD_PAGE: usize = 4096;

/// A data directory as (file name, contents), plus the run's digests.
#[derive(Clone, Debug, Default)]
pub struct Bundle {
    pub files: Vec<(String, Vec<u8>)>,
    /// `(op, digest)` of every op the run reached.
    pub digests: Vec<(u64, u64)>,
}

impl Bundle {
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = BUNDLE_MAGIC.to_vec();
        let mut digests = Vec::new();
        for (op, digest) in &self.digests {
            digests.extend_from_slice(&op.to_le_bytes());
            digests.extend_from_slice(&digest.to_le_bytes());
        }
        let entries = self
            .files
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .chain([(DIGESTS, digests.as_slice())]);
        for (name, data) in entries {
            let name_len = u16::try_from(name.len()).expect("short file names");
            out.extend_from_slice(&name_len.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            let data_len = u32::try_from(data.len()).expect("files under 4 GiB");
            out.extend_from_slice(&data_len.to_le_bytes());
            out.extend_from_slice(data);
        }
        out
    }

    /// `None` if the bytes are not a bundle (only hand-made inputs; mutants are re-encoded).
    #[must_use]
    pub fn decode(bytes: &[u8]) -> Option<Bundle> {
        let mut rest = bytes.strip_prefix(BUNDLE_MAGIC)?;
        let mut bundle = Bundle::default();
        while !rest.is_empty() {
            let name_len = usize::from(u16::from_le_bytes(rest.get(..2)?.try_into().ok()?));
            let name = std::str::from_utf8(rest.get(2..2 + name_len)?)
                .ok()?
                .to_string();
            rest = &rest[2 + name_len..];
            let data_len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
            let data = rest.get(4..4 + data_len)?.to_vec();
            rest = &rest[4 + data_len..];
            if name == DIGESTS {
                bundle.digests = data
                    .chunks_exact(16)
                    .map(|c| {
                        let op = u64::from_le_bytes(c[..8].try_into().expect("8 bytes"));
                        let digest = u64::from_le_bytes(c[8..].try_into().expect("8 bytes"));
                        (op, digest)
                    })
                    .collect();
            } else if !name.is_empty() && !name.contains('/') && name != "." && name != ".." {
                bundle.files.push((name, data));
            }
        }
        Some(bundle)
    }
}

/// What the run and recovery must agree on at an op: every workload account (balances, flags,
/// limits), every workload transfer (read through the record file when evicted) and its pending
/// status, the ledger totals, and the credit state visible through the API. `Err` when reading
/// an evicted transfer fails.
pub fn digest<C: ColdStore<Error = StorageError> + ?Sized>(
    state: &StateMachine,
    cold: &C,
) -> Result<u64, StorageError> {
    let ledger = state.ledger();
    let mut text = format!(
        "op {} at {}: {} accounts, {} transfers, totals {:?}\n",
        state.op(),
        ledger.commit_timestamp(),
        ledger.account_count(),
        ledger.transfer_count(),
        ledger.ledger_totals()
    );
    for id in samples::account_ids() {
        text.push_str(&format!("{:?}\n", ledger.lookup_account(id)));
    }
    for id in samples::transfer_ids() {
        let transfer = ledger.lookup_transfer(id, cold)?;
        text.push_str(&format!(
            "{:?} {:?}\n",
            transfer.map(|t| t.to_bytes()),
            ledger.pending_status(id)
        ));
    }
    let credit = state.credit();
    text.push_str(&format!(
        "{:?} {:?} {:?} {:?} {:?}\n",
        credit.business_date(),
        credit.day_close_progress(),
        credit.line_view(ledger, 1001),
        credit.plans_of(1001),
        credit.funding(samples::PROGRAM_ID)
    ));
    Ok(fnv64(text.as_bytes()))
}

/// The node configuration of the runs and of recovery: small segments, frequent snapshots and
/// record syncs, so a small run has several of each (`snapshots: false` never snapshots).
#[must_use]
pub fn config(dir: &Path, snapshots: bool) -> Config {
    let mut config = Config::new(dir);
    config.wal_segment_size_max = 8 * 1024;
    config.snapshot_log_bytes_min = if snapshots { 8 * 1024 } else { u64::MAX };
    config.records_sync_bytes = 4 * 1024;
    config
}

/// Runs the sample workload on a real node (`node::Node`, OS files, its writer, archiver and
/// snapshot threads) in a temporary directory, one request per batch, and returns the directory
/// it leaves after a clean shutdown, with the digest after every op. `steps` limits the requests.
pub fn run_node(snapshots: bool, steps: usize) -> Bundle {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (node, _) = node::Node::open(config(dir.path(), snapshots)).expect("a new node opens");
    let record = |node: &node::Node| {
        node.read(|state| (state.op(), digest(state, node.cold()).expect("cold reads")))
    };
    let mut digests = vec![record(&node)];
    for request in samples::workload().into_iter().flatten().take(steps) {
        node.execute_blocking(request)
            .expect("the node takes requests");
        digests.push(record(&node));
    }
    node.shutdown();
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.path())
        .expect("the data directory lists")
        .flatten()
        .filter(|e| e.file_name() != "LOCK")
        .map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            (name, std::fs::read(e.path()).expect("files read"))
        })
        .collect();
    files.sort();
    Bundle { files, digests }
}

/// Two data directories from real node runs: the whole workload with snapshots, and its first
/// twelve requests without (a log-only recovery).
#[must_use]
pub fn generate() -> Vec<Vec<u8>> {
    vec![
        run_node(true, usize::MAX).encode(),
        run_node(false, 12).encode(),
    ]
}

pub struct Recovery {
    sealed: bool,
}

impl Recovery {
    #[must_use]
    pub fn new(sealed: bool) -> Recovery {
        Recovery { sealed }
    }
}

fn path(name: &str) -> PathBuf {
    Path::new(DIR).join(name)
}

/// Writes `files` durably into a fresh in-memory disk.
pub(crate) fn disk(files: &[(String, Vec<u8>)]) -> MemVfs {
    let vfs = MemVfs::new();
    vfs.create_dir_all(Path::new(DIR)).expect("mkdir on MemVfs");
    let mut written = std::collections::BTreeSet::new();
    for (name, data) in files {
        // A mutant may name two files alike: the first one wins.
        if !written.insert(name.as_str()) {
            continue;
        }
        let mut file = vfs.create(&path(name)).expect("create on MemVfs");
        file.append(data).expect("append on MemVfs");
        file.sync_data().expect("sync on MemVfs");
    }
    vfs.sync_dir(Path::new(DIR)).expect("sync_dir on MemVfs");
    vfs
}

fn open_error_kind(error: &OpenError) -> String {
    // Every refusal explains itself.
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    assert!(!text.is_empty(), "an open error without a message");
    let debug = format!("{error:?}");
    let kind: String = debug
        .split(['{', '('])
        .take(2)
        .collect::<Vec<_>>()
        .join("/");
    kind.chars().filter(|c| !c.is_ascii_digit()).collect()
}

impl Recovery {
    /// Commits one more batch on a recovered core, then reopens: both must work.
    /// `Ok(false)` when the commit was refused because engine time is exhausted (only
    /// checksummed garbage puts it at the end of u64: `recovery-sealed`).
    fn write_and_reopen(
        vfs: &MemVfs,
        mut core: NodeCore<MemVfs>,
        op: u64,
        sealed: bool,
    ) -> Result<bool, String> {
        let last = core.read(StateMachine::commit_timestamp);
        let now = last.saturating_add(1_000_000);
        let batch = core.stamp(
            now,
            vec![Request::CreateAccounts(vec![samples::account(999_999, 0)])],
        );
        let mut replied = false;
        match core.commit(&batch, |_| replied = true) {
            Ok(()) => {}
            // `NodeCore::commit` refuses, before logging, a batch that cannot follow the state
            // (fuzz finding F3, docs/fuzzing.md).
            Err(e) if sealed && e.starts_with("batch refused before logging") && !replied => {
                return Ok(false);
            }
            Err(e) => return Err(format!("commit-after-recovery: {e}")),
        }
        if !replied {
            return Err("commit-after-recovery: no reply".into());
        }
        drop(core);
        let (again, _) = NodeCore::open(vfs.clone(), config(Path::new(DIR), true), HASH_KEY)
            .map_err(|e| format!("reopen: {} ({e:?})", open_error_kind(&e)))?;
        let (reopened, found) = again.read(|s| (s.op(), s.ledger().lookup_account(999_999)));
        if reopened != op + 1 || found.is_none() {
            return Err(format!(
                "reopen: at op {reopened} (expected {}), new account found: {}",
                op + 1,
                found.is_some()
            ));
        }
        Ok(true)
    }
}

impl Target for Recovery {
    /// The committed corpus when there is one (so that a run is a function of its seed: a
    /// node run stamps batches with the wall clock), else two fresh node runs.
    fn seeds(&mut self) -> Vec<Vec<u8>> {
        let name = if self.sealed {
            "recovery-sealed"
        } else {
            "recovery"
        };
        if !crate::load_corpus(name).is_empty() {
            return Vec::new();
        }
        generate()
    }

    fn mutate(&mut self, prng: &mut Prng, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
        let Some(mut bundle) = Bundle::decode(input) else {
            mutate_bytes(prng, input, corpus);
            return;
        };
        let steps = 1 + usize::from(prng.one_in(3));
        for _ in 0..steps {
            if self.sealed {
                mutate_sealed(prng, &mut bundle);
            } else {
                mutate_raw(prng, &mut bundle);
            }
        }
        *input = bundle.encode();
    }

    fn run(&mut self, input: &[u8]) -> Result<String, String> {
        let Some(bundle) = Bundle::decode(input) else {
            return Ok("not-a-bundle".to_string());
        };
        let vfs = disk(&bundle.files);
        let inspected = match storage::inspect_with(&vfs, Path::new(DIR)) {
            Ok(_) => "inspect-ok",
            Err(_) => "inspect-err",
        };
        let (core, report) =
            match NodeCore::open(vfs.clone(), config(Path::new(DIR), true), HASH_KEY) {
                Ok(opened) => opened,
                // A panic in apply, caught by recovery and turned into a refusal, is still a bug
                // (a check missing before apply): a failure here, named by where it panicked.
                Err(OpenError::ReplayPanicked { op, message }) => {
                    let location = crate::take_last_panic()
                        .and_then(|p| {
                            p.strip_prefix("panic at ")
                                .and_then(|p| p.split(": ").next())
                                .map(str::to_string)
                        })
                        .unwrap_or_else(|| "?".to_string());
                    return Err(format!("replay-panic at {location}: op {op}: {message}"));
                }
                Err(error) => {
                    return Ok(format!("{inspected}/refused/{}", open_error_kind(&error)));
                }
            };
        let op = core.read(StateMachine::op);
        let label = format!(
            "{inspected}/recovered/snapshot:{}/cut:{}",
            report.snapshot_op.is_some(),
            report.tail_cut.is_some()
        );
        if !self.sealed {
            let expected = bundle
                .digests
                .iter()
                .find(|(o, _)| *o == op)
                .map(|(_, d)| *d);
            let Some(expected) = expected else {
                return Err(format!(
                    "unknown-op: recovered op {op}, which the run never had"
                ));
            };
            match core.read(|state| digest(state, core.cold())) {
                Ok(found) if found == expected => {}
                Ok(_) => {
                    return Err(format!(
                        "prefix-state: the state recovered at op {op} is not the run's"
                    ));
                }
                Err(error) => return Ok(format!("{label}/cold-read-error/{error}")),
            }
        }
        if Recovery::write_and_reopen(&vfs, core, op, self.sealed)? {
            Ok(label)
        } else {
            Ok(format!("{label}/commit-refused"))
        }
    }
}

/// Indexes of the files whose names start with `prefix`.
fn files_named(bundle: &Bundle, prefix: &str) -> Vec<usize> {
    (0..bundle.files.len())
        .filter(|&i| bundle.files[i].0.starts_with(prefix))
        .collect()
}

/// A file name with its 20-digit number replaced.
fn renumbered(name: &str, number: u64) -> String {
    match name.split_once('-') {
        Some((kind, rest)) => {
            let suffix = rest.trim_start_matches(|c: char| c.is_ascii_digit());
            format!("{kind}-{number:020}{suffix}")
        }
        None => format!("{name}-{number:020}"),
    }
}

/// The offsets of the frames of a WAL segment, as far as they parse.
pub(crate) fn frame_offsets(segment: &[u8]) -> Vec<(usize, usize)> {
    let mut frames = Vec::new();
    let mut at = 0;
    while at + WAL_FRAME_HEADER <= segment.len() {
        let size = u32::from_le_bytes(segment[at + 16..at + 20].try_into().expect("4")) as usize;
        let end = at + WAL_FRAME_HEADER + size;
        if end > segment.len() {
            break;
        }
        frames.push((at, end));
        at = end;
    }
    frames
}

fn mutate_raw(prng: &mut Prng, bundle: &mut Bundle) {
    if bundle.files.is_empty() {
        return;
    }
    let others: Vec<Vec<u8>> = bundle.files.iter().map(|(_, d)| d.clone()).collect();
    let i = prng.below(bundle.files.len());
    match prng.below(12) {
        0..=3 => mutate_bytes(prng, &mut bundle.files[i].1, &others),
        4 => {
            // A single flipped bit: what a bad sector returns.
            let data = &mut bundle.files[i].1;
            if !data.is_empty() {
                let at = prng.below(data.len());
                data[at] ^= 1 << prng.below(8);
            }
        }
        5 => {
            // Torn write: cut anywhere, or just around a frame boundary.
            let data = &mut bundle.files[i].1;
            let frames = frame_offsets(data);
            let at = if !frames.is_empty() && prng.one_in(2) {
                let (_, end) = *prng.pick(&frames);
                end.saturating_sub(prng.below(40))
            } else {
                prng.below(data.len() + 1)
            };
            data.truncate(at);
        }
        6 => {
            bundle.files.remove(i);
        }
        7 => {
            // A copy under another number (an extra segment or snapshot).
            let (name, data) = bundle.files[i].clone();
            let number = prng.below(80) as u64;
            bundle.files.push((renumbered(&name, number), data));
        }
        8 => {
            let number = prng.below(80) as u64;
            let name = renumbered(&bundle.files[i].0, number);
            bundle.files[i].0 = name;
        }
        9 => {
            let j = prng.below(bundle.files.len());
            let data = std::mem::take(&mut bundle.files[i].1);
            bundle.files[i].1 = std::mem::replace(&mut bundle.files[j].1, data);
        }
        10 => {
            // Append a whole valid frame of some segment to another: a valid frame after a
            // bad one, or a frame with the wrong op.
            let segments = files_named(bundle, "wal-");
            if segments.is_empty() {
                return;
            }
            let from = bundle.files[*prng.pick(&segments)].1.clone();
            let frames = frame_offsets(&from);
            if frames.is_empty() {
                return;
            }
            let (start, end) = *prng.pick(&frames);
            let to = *prng.pick(&segments);
            bundle.files[to].1.extend_from_slice(&from[start..end]);
        }
        _ => {
            // Garbage or zeros appended: a preallocated or torn tail.
            let n = 1 + prng.below(300);
            let zeros = prng.one_in(2);
            let data = &mut bundle.files[i].1;
            data.extend((0..n).map(|_| if zeros { 0 } else { prng.byte() }));
        }
    }
}

pub(crate) fn reseal_frame(frame: &mut [u8]) {
    let payload = crc32c::crc32c(&frame[WAL_FRAME_HEADER..]);
    frame[20..24].copy_from_slice(&payload.to_le_bytes());
    let header = crc32c::crc32c(&frame[..24]);
    frame[24..28].copy_from_slice(&header.to_le_bytes());
}

fn mutate_sealed(prng: &mut Prng, bundle: &mut Bundle) {
    if bundle.files.is_empty() {
        return;
    }
    let i = prng.below(bundle.files.len());
    let (name, data) = &mut bundle.files[i];
    if name.starts_with("wal-") {
        let frames = frame_offsets(data);
        if frames.is_empty() {
            return;
        }
        let payloads: Vec<Vec<u8>> = frames
            .iter()
            .map(|(s, e)| data[s + WAL_FRAME_HEADER..*e].to_vec())
            .collect();
        let k = prng.below(frames.len());
        let (start, end) = frames[k];
        let mut frame = data[start..end].to_vec();
        if prng.one_in(6) {
            // Another op in a well-formed frame: a gap, a repeat, a step back.
            let op = u64::from_le_bytes(frame[8..16].try_into().expect("8"));
            let op = op.wrapping_add(prng.below(5) as u64).wrapping_sub(2);
            frame[8..16].copy_from_slice(&op.to_le_bytes());
        } else {
            let mut payload = frame.split_off(WAL_FRAME_HEADER);
            mutate_bytes(prng, &mut payload, &payloads);
            let size = u32::try_from(payload.len()).expect("small payloads");
            frame[16..20].copy_from_slice(&size.to_le_bytes());
            frame.extend_from_slice(&payload);
        }
        reseal_frame(&mut frame);
        data.splice(start..end, frame);
    } else if name.starts_with("snapshot-") && data.len() >= SNAPSHOT_HEADER {
        let mut payload = data.split_off(SNAPSHOT_HEADER);
        mutate_bytes(prng, &mut payload, &[]);
        data[16..24].copy_from_slice(&(payload.len() as u64).to_le_bytes());
        data[24..28].copy_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        let header = crc32c::crc32c(&data[..28]);
        data[28..32].copy_from_slice(&header.to_le_bytes());
        data.extend_from_slice(&payload);
    } else if name == storage::RECORDS_FILE_NAME && data.len() >= RECORD_PAGE {
        let pages = data.len() / RECORD_PAGE;
        let page = prng.below(pages) * RECORD_PAGE;
        let mut slots = data[page + 128..page + RECORD_PAGE].to_vec();
        let at = prng.below(slots.len());
        match prng.below(3) {
            0 => slots[at] ^= 1 << prng.below(8),
            1 => slots[at] = prng.byte(),
            _ => {
                // Swap two records: a position holding another transfer.
                let a = prng.below(31) * 128;
                let b = prng.below(31) * 128;
                for n in 0..128 {
                    slots.swap(a + n, b + n);
                }
            }
        }
        data[page + 128..page + RECORD_PAGE].copy_from_slice(&slots);
        let checksum = crc32c::crc32c(&data[page + 24..page + RECORD_PAGE]);
        data[page + 20..page + 24].copy_from_slice(&checksum.to_le_bytes());
    }
}
