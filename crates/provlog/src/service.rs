//! The provenance service the server runs: submitter authentication, EPCIS events turned into
//! statements, one writer thread that integrates whatever submissions are queued as one batch
//! (batched integration: one fsync round and one checkpoint per batch, however many callers),
//! duplicate detection by event hash, and product histories with their proofs.
//!
//! Authentication: each submitter (a brand owner, a logistics firm, a retailer) registers an
//! Ed25519 verifier key, `<name>+<key ID>+<base64(0x01 || public key)>` (the C2SP signed-note
//! `vkey` format), and signs every event it submits: the signature is over
//! `"elevenfold/provenance/event/v1\n" || SHA-256(RFC 8785 form of the event)`. The signature
//! is kept in the statement, so anyone holding the submitter's public key can check who vouched
//! for an event, long after the request.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use provenance::{CosignatureV1Verifier, Ed25519Verifier, Hash, NoteVerifier, ProofRequestError};
use storage::OsVfs;

use crate::bundle::{Bundle, BundleError, BundleEvent};
use crate::epcis::{self, EpcisError};
use crate::jcs::Json;
use crate::keys::{KeyFileError, load_or_create_log_key};
use crate::log::{Log, LogConfig, LogError, Published, Recovery};
use crate::statement::{
    Statement, StatementError, event_key, product_key, signed_message, statement_keys,
};

/// The origin of a log whose operator did not name it.
pub const DEFAULT_ORIGIN: &str = "elevenfold.local/provenance";
/// The log's signing key, in its directory.
pub const LOG_KEY_FILE: &str = "log.skey";
/// Most submissions integrated as one batch.
pub const BATCH_ENTRIES_MAX: usize = 64 * 1024;

/// How the service is run.
#[derive(Clone, Debug)]
pub struct ProvenanceConfig {
    /// The log's directory (the node's data directory's `provenance/`).
    pub dir: PathBuf,
    /// The log's origin; the name of its key.
    pub origin: String,
    /// Who may submit events.
    pub submitters: Vec<Ed25519Verifier>,
    /// Whose cosignatures the log accepts.
    pub witnesses: Vec<CosignatureV1Verifier>,
    pub batch_entries_max: usize,
}

impl ProvenanceConfig {
    pub fn new(dir: impl Into<PathBuf>) -> ProvenanceConfig {
        ProvenanceConfig {
            dir: dir.into(),
            origin: DEFAULT_ORIGIN.to_string(),
            submitters: Vec::new(),
            witnesses: Vec::new(),
            batch_entries_max: BATCH_ENTRIES_MAX,
        }
    }
}

/// Why the service did not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    Key(KeyFileError),
    Log(LogError),
    /// Two submitter keys share a name.
    DuplicateSubmitter(String),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Key(error) => write!(f, "{error}"),
            OpenError::Log(error) => write!(f, "{error}"),
            OpenError::DuplicateSubmitter(name) => {
                write!(f, "two submitter keys are named {name:?}")
            }
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Key(error) => error.source(),
            OpenError::Log(error) => error.source(),
            OpenError::DuplicateSubmitter(_) => None,
        }
    }
}

/// Why a submitted event was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubmitError {
    /// No submitter key has this name.
    UnknownSubmitter(String),
    /// The signature is not canonical base64 of 64 bytes.
    SignatureEncoding,
    /// The signature does not verify with the submitter's key.
    Signature,
    /// The event is not a valid EPCIS 2.0 event.
    Event(EpcisError),
    /// The statement does not fit an entry.
    Statement(StatementError),
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::UnknownSubmitter(name) => write!(f, "no submitter key named {name:?}"),
            SubmitError::SignatureEncoding => {
                write!(
                    f,
                    "the signature is not base64 of a 64-byte Ed25519 signature"
                )
            }
            SubmitError::Signature => write!(
                f,
                "the signature does not verify: sign \"elevenfold/provenance/event/v1\\n\" \
                 followed by the SHA-256 of the event's RFC 8785 form"
            ),
            SubmitError::Event(error) => write!(f, "{error}"),
            SubmitError::Statement(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for SubmitError {}

/// A checked event, ready to be appended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submission {
    pub statement: Statement,
    /// The statement's entry bytes.
    pub entry: Vec<u8>,
}

/// Where a submitted event is in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub index: u64,
    pub event_hash: Hash,
    /// The event was already in the log (or earlier in the same batch); `index` is that one.
    pub duplicate: bool,
}

/// What a batch of submissions got: receipts in order, or the failure that stopped the batch.
pub type SubmitResult = Result<Vec<Receipt>, Arc<LogError>>;

type Reply = Box<dyn FnOnce(SubmitResult) + Send>;

struct Job {
    submissions: Vec<Submission>,
    reply: Reply,
}

/// One event of a product's history, proven against the history's checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEvent {
    pub index: u64,
    pub entry: Vec<u8>,
    pub statement: Statement,
    pub proof: Vec<Hash>,
}

/// Every event naming a product (or the latest `limit`), with inclusion proofs against one
/// published checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    /// The normalised identifier.
    pub product: String,
    pub checkpoint: Published,
    /// Events naming the product in the checkpoint's tree.
    pub total: usize,
    pub events: Vec<HistoryEvent>,
}

impl History {
    /// The offline proof bundle of these events.
    pub fn bundle(&self) -> Result<Vec<u8>, BundleError> {
        Bundle {
            checkpoint: self.checkpoint.note.to_string(),
            product: self.product.clone(),
            events: self
                .events
                .iter()
                .map(|event| BundleEvent {
                    index: event.index,
                    entry: event.entry.clone(),
                    proof: event.proof.clone(),
                })
                .collect(),
        }
        .encode()
    }
}

/// The running service; clones share it. The writer thread stops when the last clone is
/// dropped or on [`Provenance::shutdown`].
#[derive(Clone)]
pub struct Provenance {
    inner: Arc<Inner>,
}

impl fmt::Debug for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provenance")
            .field("origin", &self.inner.log.origin())
            .field("size", &self.inner.log.size())
            .finish_non_exhaustive()
    }
}

struct Inner {
    log: Arc<Log<OsVfs>>,
    submitters: Vec<Ed25519Verifier>,
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        stop(&self.sender, &self.writer);
    }
}

fn stop(sender: &Mutex<Option<mpsc::Sender<Job>>>, writer: &Mutex<Option<JoinHandle<()>>>) {
    drop(
        sender
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take(),
    );
    let handle = writer
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    if let Some(handle) = handle {
        // The writer answers every queued job before it sees the channel closed.
        let _ = handle.join();
    }
}

impl Provenance {
    /// Opens (recovering) or creates the log in `config.dir`, with its key in
    /// `config.dir/log.skey` (created on first start), and starts the writer thread.
    pub fn open(config: ProvenanceConfig) -> Result<(Provenance, Recovery), OpenError> {
        let signer = load_or_create_log_key(&config.dir.join(LOG_KEY_FILE), &config.origin)
            .map_err(OpenError::Key)?;
        for (position, key) in config.submitters.iter().enumerate() {
            if config.submitters[..position]
                .iter()
                .any(|k| k.name() == key.name())
            {
                return Err(OpenError::DuplicateSubmitter(key.name().to_string()));
            }
        }
        let (log, recovery) = Log::open_dir(
            &config.dir,
            LogConfig {
                signer,
                witnesses: config.witnesses,
                keys: statement_keys,
            },
        )
        .map_err(OpenError::Log)?;
        let log = Arc::new(log);
        let (sender, receiver) = mpsc::channel();
        let writer_log = Arc::clone(&log);
        let batch_max = config.batch_entries_max.max(1);
        let writer = std::thread::Builder::new()
            .name("provenance-writer".to_string())
            .spawn(move || run_writer(&writer_log, &receiver, batch_max))
            .map_err(|source| {
                OpenError::Log(LogError::Io {
                    operation: "start the writer thread for",
                    path: config.dir.clone(),
                    source,
                })
            })?;
        Ok((
            Provenance {
                inner: Arc::new(Inner {
                    log,
                    submitters: config.submitters,
                    sender: Mutex::new(Some(sender)),
                    writer: Mutex::new(Some(writer)),
                }),
            },
            recovery,
        ))
    }

    /// The log.
    pub fn log(&self) -> &Log<OsVfs> {
        &self.inner.log
    }

    /// The registered submitter keys.
    pub fn submitters(&self) -> &[Ed25519Verifier] {
        &self.inner.submitters
    }

    /// Checks one signed event from `submitter` and builds its statement, stamped with
    /// `recorded_ms` (the caller's clock).
    pub fn prepare(
        &self,
        submitter: &str,
        event: &Json,
        signature: &str,
        recorded_ms: u64,
    ) -> Result<Submission, SubmitError> {
        let key = self
            .inner
            .submitters
            .iter()
            .find(|k| k.name() == submitter)
            .ok_or_else(|| SubmitError::UnknownSubmitter(submitter.to_string()))?;
        prepare_with_key(key, event, signature, recorded_ms)
    }

    /// Queues submissions for the next batch; `reply` runs on the writer thread once they are
    /// durable and published (or failed).
    pub fn submit(
        &self,
        submissions: Vec<Submission>,
        reply: impl FnOnce(SubmitResult) + Send + 'static,
    ) {
        let job = Job {
            submissions,
            reply: Box::new(reply),
        };
        let sender = self
            .inner
            .sender
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let refused = match sender {
            Some(sender) => sender.send(job).err().map(|e| e.0),
            None => Some(job),
        };
        if let Some(job) = refused {
            (job.reply)(Err(Arc::new(LogError::Closed)));
        }
    }

    /// [`Provenance::submit`], waiting for the answer.
    pub fn submit_blocking(&self, submissions: Vec<Submission>) -> SubmitResult {
        let (sender, receiver) = mpsc::sync_channel(1);
        self.submit(submissions, move |result| {
            let _ = sender.send(result);
        });
        receiver
            .recv()
            .unwrap_or_else(|_| Err(Arc::new(LogError::Closed)))
    }

    /// The events naming `product` (a normalised identifier; see [`crate::gs1::normalize`]),
    /// the latest `limit` of them, each with its inclusion proof against the published
    /// checkpoint.
    pub fn history(&self, product: &str, limit: usize) -> Result<History, LogError> {
        let log = &self.inner.log;
        let checkpoint = log.published();
        let found: Vec<(u64, Vec<u8>)> = log
            .lookup(&product_key(product))?
            .into_iter()
            .filter(|(index, _)| *index < checkpoint.size)
            .collect();
        let total = found.len();
        let mut events = Vec::with_capacity(total.min(limit));
        for (index, entry) in found.into_iter().skip(total.saturating_sub(limit)) {
            let statement = Statement::decode(&entry).map_err(|error| LogError::Corrupt {
                path: log.dir().join(crate::log::ENTRIES_FILE),
                offset: 0,
                reason: format!("entry {index} is not a statement: {error}"),
            })?;
            let proof = log.inclusion_proof(index, checkpoint.size).map_err(
                |error: ProofRequestError| LogError::Corrupt {
                    path: log.dir().join(crate::log::HASHES_FILE),
                    offset: 0,
                    reason: format!("no proof for entry {index}: {error}"),
                },
            )?;
            events.push(HistoryEvent {
                index,
                entry,
                statement,
                proof,
            });
        }
        Ok(History {
            product: product.to_string(),
            checkpoint,
            total,
            events,
        })
    }

    /// Stops the writer after it answered every queued submission; later submissions are
    /// answered [`LogError::Closed`].
    pub fn shutdown(&self) {
        stop(&self.inner.sender, &self.inner.writer);
    }
}

/// [`Provenance::prepare`] with the submitter's key at hand (tests, benchmarks).
pub fn prepare_with_key(
    key: &Ed25519Verifier,
    event: &Json,
    signature: &str,
    recorded_ms: u64,
) -> Result<Submission, SubmitError> {
    let validated = epcis::validate(event).map_err(SubmitError::Event)?;
    let signature: [u8; 64] = provenance::base64::decode(signature)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(SubmitError::SignatureEncoding)?;
    if !key.verify(&signed_message(&validated.event_hash), &signature) {
        return Err(SubmitError::Signature);
    }
    let statement = Statement {
        event_type: validated.event_type,
        action: validated.action,
        event_time_ms: validated.event_time_ms,
        event_time_zone_offset_minutes: validated.event_time_zone_offset_minutes,
        recorded_ms,
        event_hash: validated.event_hash,
        submitter_key_id: key.key_id(),
        submitter: key.name().to_string(),
        signature,
        biz_step: validated.biz_step,
        disposition: validated.disposition,
        identifiers: validated.identifiers,
    };
    let entry = statement.encode().map_err(SubmitError::Statement)?;
    Ok(Submission { statement, entry })
}

fn run_writer(log: &Log<OsVfs>, receiver: &mpsc::Receiver<Job>, batch_max: usize) {
    while let Ok(first) = receiver.recv() {
        let mut count = first.submissions.len();
        let mut jobs = vec![first];
        while count < batch_max {
            let Ok(job) = receiver.try_recv() else {
                break;
            };
            count += job.submissions.len();
            jobs.push(job);
        }
        integrate(log, jobs);
    }
}

/// Where a submission's receipt comes from.
enum Slot {
    /// Already in the log.
    Existing(u64),
    /// Position in this batch; `true` if an earlier submission of the batch is the same event.
    Batch(usize, bool),
}

fn integrate(log: &Log<OsVfs>, jobs: Vec<Job>) {
    let mut batch: Vec<&[u8]> = Vec::new();
    let mut in_batch: HashMap<Hash, usize> = HashMap::new();
    let mut plans: Vec<Vec<(Slot, Hash)>> = Vec::with_capacity(jobs.len());
    let mut failure: Option<Arc<LogError>> = None;
    for job in &jobs {
        let mut plan = Vec::with_capacity(job.submissions.len());
        for submission in &job.submissions {
            let hash = submission.statement.event_hash;
            let slot = match log.first_with_key(&event_key(&hash)) {
                Ok(Some(index)) => Slot::Existing(index),
                Ok(None) => match in_batch.get(&hash) {
                    Some(&position) => Slot::Batch(position, true),
                    None => {
                        in_batch.insert(hash, batch.len());
                        batch.push(&submission.entry);
                        Slot::Batch(batch.len() - 1, false)
                    }
                },
                Err(error) => {
                    failure.get_or_insert_with(|| Arc::new(error));
                    Slot::Existing(0)
                }
            };
            plan.push((slot, hash));
        }
        plans.push(plan);
    }
    let appended = match failure {
        Some(error) => Err(error),
        None => log.append(&batch).map_err(Arc::new),
    };
    for (job, plan) in jobs.into_iter().zip(plans) {
        let result = appended.clone().map(|range| {
            plan.iter()
                .map(|(slot, hash)| match *slot {
                    Slot::Existing(index) => Receipt {
                        index,
                        event_hash: *hash,
                        duplicate: true,
                    },
                    Slot::Batch(position, duplicate) => Receipt {
                        index: range.start + position as u64,
                        event_hash: *hash,
                        duplicate,
                    },
                })
                .collect()
        });
        (job.reply)(result);
    }
}
