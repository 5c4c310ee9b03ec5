//! The offline proof bundle: a product's statements, each with its inclusion proof, and the
//! signed checkpoint they are proven against; checkable with the log's public key alone.
//!
//! Binary, big-endian, version 1 (docs/provenance.md, "Proof bundles"):
//!
//! ```text
//! "EFPB" u8 version (1)
//! u16 n, [n]  signed checkpoint note (with any witness cosignatures)
//! u8 n, [n]   product key: the normalised identifier the bundle is about
//! u16 count   events, by ascending log index, then per event:
//!   u64 index, u16 n, [n] statement, u8 k, [32 k] inclusion proof
//! ```
//!
//! One event costs about 8 + 2 + 200 + 1 + 32 log2(size) bytes: about 1 KB in a log of 10^7
//! entries, so a bundle of one or two events (base64, about 1.4 KB each) fits a QR code
//! (version 40 holds 2,953 bytes in binary mode). Parsing accepts only what encoding writes.

use std::fmt;

use provenance::{
    CheckpointError, HASH_SIZE, Hash, NoteVerifier, VerifyError, leaf_hash, open_checkpoint,
    verify_inclusion,
};

use crate::statement::{Statement, StatementError};

/// The bundle's first bytes.
pub const BUNDLE_MAGIC: &[u8; 4] = b"EFPB";
/// The format version this code writes and reads.
pub const BUNDLE_VERSION: u8 = 1;

/// One proven event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleEvent {
    pub index: u64,
    /// The statement's entry bytes.
    pub entry: Vec<u8>,
    pub proof: Vec<Hash>,
}

/// A bundle, parsed but not verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    pub checkpoint: String,
    pub product: String,
    pub events: Vec<BundleEvent>,
}

/// Why a bundle was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundleError {
    /// Not a bundle (magic), or a version this code does not read.
    Format,
    /// The bytes end inside a field, or continue after the last event.
    Length,
    /// A field is longer than its length prefix allows (encoding).
    FieldTooLong { field: &'static str },
    /// The checkpoint is not signed by the log's key (or lacks the witnesses required).
    Checkpoint(CheckpointError),
    /// Event indexes are not strictly ascending.
    Order { position: usize },
    /// An event's statement does not decode.
    Statement {
        position: usize,
        error: StatementError,
    },
    /// An event's statement does not name the bundle's product.
    Product { position: usize },
    /// An event's proof does not lead to the checkpoint's root.
    Proof { position: usize, error: VerifyError },
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BundleError::Format => write!(f, "not a version-1 proof bundle"),
            BundleError::Length => write!(f, "the bundle is truncated or has trailing bytes"),
            BundleError::FieldTooLong { field } => write!(f, "{field} is too long for a bundle"),
            BundleError::Checkpoint(error) => write!(f, "checkpoint: {error}"),
            BundleError::Order { position } => {
                write!(f, "event {position}: indexes are not strictly ascending")
            }
            BundleError::Statement { position, error } => write!(f, "event {position}: {error}"),
            BundleError::Product { position } => {
                write!(
                    f,
                    "event {position}: the statement does not name the product"
                )
            }
            BundleError::Proof { position, error } => {
                write!(f, "event {position}: inclusion proof: {error}")
            }
        }
    }
}

impl std::error::Error for BundleError {}

/// `length` as the prefix type of `field`.
fn prefix<T: TryFrom<usize>>(length: usize, field: &'static str) -> Result<T, BundleError> {
    T::try_from(length).map_err(|_| BundleError::FieldTooLong { field })
}

impl Bundle {
    /// The bundle's bytes.
    pub fn encode(&self) -> Result<Vec<u8>, BundleError> {
        let mut out = Vec::new();
        out.extend_from_slice(BUNDLE_MAGIC);
        out.push(BUNDLE_VERSION);
        let length: u16 = prefix(self.checkpoint.len(), "checkpoint")?;
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(self.checkpoint.as_bytes());
        let length: u8 = prefix(self.product.len(), "product")?;
        out.push(length);
        out.extend_from_slice(self.product.as_bytes());
        let count: u16 = prefix(self.events.len(), "events")?;
        out.extend_from_slice(&count.to_be_bytes());
        for event in &self.events {
            out.extend_from_slice(&event.index.to_be_bytes());
            let length: u16 = prefix(event.entry.len(), "statement")?;
            out.extend_from_slice(&length.to_be_bytes());
            out.extend_from_slice(&event.entry);
            let count: u8 = prefix(event.proof.len(), "proof")?;
            out.push(count);
            for hash in &event.proof {
                out.extend_from_slice(hash);
            }
        }
        Ok(out)
    }

    /// Parses bundle bytes (nothing is verified).
    pub fn decode(bytes: &[u8]) -> Result<Bundle, BundleError> {
        let mut reader = Reader { bytes, position: 0 };
        if reader.take(4)? != BUNDLE_MAGIC || reader.u8()? != BUNDLE_VERSION {
            return Err(BundleError::Format);
        }
        let length = usize::from(reader.u16()?);
        let checkpoint = reader.text(length)?;
        let length = usize::from(reader.u8()?);
        let product = reader.text(length)?;
        let count = reader.u16()?;
        let mut events = Vec::with_capacity(usize::from(count).min(256));
        for _ in 0..count {
            let index = u64::from_be_bytes(reader.take(8)?.try_into().expect("8 bytes"));
            let length = usize::from(reader.u16()?);
            let entry = reader.take(length)?.to_vec();
            let hashes = usize::from(reader.u8()?);
            let proof = reader
                .take(hashes * HASH_SIZE)?
                .chunks_exact(HASH_SIZE)
                .map(|chunk| chunk.try_into().expect("HASH_SIZE bytes"))
                .collect();
            events.push(BundleEvent {
                index,
                entry,
                proof,
            });
        }
        if reader.position != bytes.len() {
            return Err(BundleError::Length);
        }
        Ok(Bundle {
            checkpoint,
            product,
            events,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], BundleError> {
        let end = self
            .position
            .checked_add(count)
            .ok_or(BundleError::Length)?;
        let slice = self
            .bytes
            .get(self.position..end)
            .ok_or(BundleError::Length)?;
        self.position = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, BundleError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, BundleError> {
        Ok(u16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    fn text(&mut self, length: usize) -> Result<String, BundleError> {
        String::from_utf8(self.take(length)?.to_vec()).map_err(|_| BundleError::Format)
    }
}

/// A bundle that verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedBundle {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub product: String,
    /// Names of the witnesses whose cosignatures verified.
    pub cosigners: Vec<String>,
    pub events: Vec<(u64, Statement)>,
}

/// Verifies a bundle with the log's key (its name is the origin) and, optionally, a quorum of
/// witnesses: the checkpoint's signatures, then every event's statement (it must name the
/// product) and its inclusion proof against the checkpoint's root.
pub fn verify_bundle(
    bytes: &[u8],
    log: &dyn NoteVerifier,
    witnesses: &[&dyn NoteVerifier],
    quorum: usize,
) -> Result<VerifiedBundle, BundleError> {
    let bundle = Bundle::decode(bytes)?;
    let signed = open_checkpoint(
        bundle.checkpoint.as_bytes(),
        log.name(),
        log,
        witnesses,
        quorum,
    )
    .map_err(BundleError::Checkpoint)?;
    let (size, root) = (signed.checkpoint.size(), *signed.checkpoint.root());
    let mut events = Vec::with_capacity(bundle.events.len());
    let mut previous: Option<u64> = None;
    for (position, event) in bundle.events.iter().enumerate() {
        if previous.is_some_and(|p| p >= event.index) {
            return Err(BundleError::Order { position });
        }
        previous = Some(event.index);
        let statement = Statement::decode(&event.entry)
            .map_err(|error| BundleError::Statement { position, error })?;
        if !statement.names(&bundle.product) {
            return Err(BundleError::Product { position });
        }
        verify_inclusion(
            &leaf_hash(&event.entry),
            event.index,
            size,
            &event.proof,
            &root,
        )
        .map_err(|error| BundleError::Proof { position, error })?;
        events.push((event.index, statement));
    }
    let cosigners = signed
        .note
        .verified
        .iter()
        .filter(|s| !(s.name == log.name() && s.key_id == log.key_id()))
        .map(|s| s.name.clone())
        .collect();
    Ok(VerifiedBundle {
        origin: signed.checkpoint.origin().to_string(),
        size,
        root,
        product: bundle.product,
        cosigners,
        events,
    })
}
