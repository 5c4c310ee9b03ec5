//! C2SP tlog-checkpoint: the signed tree head, a note whose text is the log's origin, the tree
//! size in decimal, the root hash in base64, and optional extension lines; and the opening of a
//! signed checkpoint against the log's key and a quorum of witnesses.
//!
//! ```text
//! example.com/behind-the-sofa
//! 20852163
//! CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
//! ```

use std::fmt;

use crate::base64;
use crate::cosignature::cosignature_v1_timestamp;
use crate::hash::Hash;
use crate::note::{NoteError, NoteSigner, NoteVerifier, VerifiedNote, open, sign};

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointError {
    /// The note around it is malformed or not verified.
    Note(NoteError),
    /// The text does not end in a newline.
    MissingFinalNewline,
    /// Fewer than three lines (origin, size, root).
    LineCount { count: usize },
    /// An empty line (numbered from 0); no line of a checkpoint may be empty.
    EmptyLine { line: usize },
    /// A control character (or a newline inside a line being built).
    ControlCharacter,
    /// The size is not a decimal without leading zeros that fits in 64 bits.
    Size,
    /// The root is not canonical base64 of exactly 32 bytes.
    RootEncoding,
    /// The origin is not the one expected.
    Origin { expected: String, found: String },
    /// The log's own key did not sign it.
    NotSignedByLog,
    /// Fewer distinct witnesses cosigned than required.
    Quorum { required: usize, verified: usize },
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointError::Note(error) => write!(f, "checkpoint note: {error}"),
            CheckpointError::MissingFinalNewline => {
                write!(f, "checkpoint does not end in a newline")
            }
            CheckpointError::LineCount { count } => write!(f, "checkpoint has {count} lines"),
            CheckpointError::EmptyLine { line } => write!(f, "checkpoint line {line} is empty"),
            CheckpointError::ControlCharacter => write!(f, "checkpoint has a control character"),
            CheckpointError::Size => write!(f, "checkpoint size is not a canonical decimal"),
            CheckpointError::RootEncoding => write!(f, "checkpoint root is not base64 of 32 bytes"),
            CheckpointError::Origin { expected, found } => {
                write!(f, "checkpoint origin {found:?}, expected {expected:?}")
            }
            CheckpointError::NotSignedByLog => write!(f, "checkpoint is not signed by the log"),
            CheckpointError::Quorum { required, verified } => {
                write!(f, "{verified} witness cosignatures, {required} required")
            }
        }
    }
}

impl std::error::Error for CheckpointError {}

impl From<NoteError> for CheckpointError {
    fn from(error: NoteError) -> CheckpointError {
        CheckpointError::Note(error)
    }
}

/// A tree head: origin, size and root, plus extension lines (not recommended: not auditable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

fn check_line(line: &str, number: usize) -> Result<(), CheckpointError> {
    if line.is_empty() {
        return Err(CheckpointError::EmptyLine { line: number });
    }
    if line.chars().any(char::is_control) {
        return Err(CheckpointError::ControlCharacter);
    }
    Ok(())
}

impl Checkpoint {
    /// The checkpoint of the tree of `size` leaves with root `root`, for log `origin`.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Checkpoint, CheckpointError> {
        Checkpoint::with_extensions(origin, size, root, Vec::new())
    }

    /// A checkpoint with extension lines after the root.
    pub fn with_extensions(
        origin: &str,
        size: u64,
        root: Hash,
        extensions: Vec<String>,
    ) -> Result<Checkpoint, CheckpointError> {
        check_line(origin, 0)?;
        for (position, line) in extensions.iter().enumerate() {
            check_line(line, 3 + position)?;
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash of the tree of that size.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The extension lines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text: one line each for origin, size, root and extensions, each newline-ended.
    pub fn body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            base64::encode(&self.root)
        );
        for line in &self.extensions {
            body.push_str(line);
            body.push('\n');
        }
        body
    }

    /// Parses a checkpoint body (a note's text), strictly.
    pub fn parse_body(text: &str) -> Result<Checkpoint, CheckpointError> {
        let lines: Vec<&str> = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingFinalNewline)?
            .split('\n')
            .collect();
        if lines.len() < 3 {
            return Err(CheckpointError::LineCount { count: lines.len() });
        }
        for (number, line) in lines.iter().enumerate() {
            check_line(line, number)?;
        }
        let size_text = lines[1];
        let canonical = size_text == "0" || !size_text.starts_with('0');
        if !canonical || !size_text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CheckpointError::Size);
        }
        let size = size_text.parse().map_err(|_| CheckpointError::Size)?;
        let root = base64::decode_array(lines[2]).ok_or(CheckpointError::RootEncoding)?;
        Ok(Checkpoint {
            origin: lines[0].to_string(),
            size,
            root,
            extensions: lines[3..].iter().map(|l| (*l).to_string()).collect(),
        })
    }

    /// The checkpoint signed by `signer` (the log's key, named after the origin).
    pub fn sign(&self, signer: &dyn NoteSigner) -> Result<String, NoteError> {
        sign(&self.body(), &[signer])
    }
}

/// A checkpoint signed by its log and cosigned by at least a quorum of witnesses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The tree head.
    pub checkpoint: Checkpoint,
    /// The note, with the signatures that verified and those ignored.
    pub note: VerifiedNote,
}

impl SignedCheckpoint {
    /// The timestamps of the verified v1 cosignatures, by witness name.
    pub fn cosignature_timestamps(&self) -> Vec<(&str, u64)> {
        self.note
            .verified
            .iter()
            .filter_map(|s| Some((s.name.as_str(), cosignature_v1_timestamp(&s.signature)?)))
            .collect()
    }
}

/// Opens a signed checkpoint of log `origin`: the note must be well formed, signed by `log`
/// (every signature of a known key must verify), hold a valid checkpoint body for `origin`,
/// and carry valid cosignatures from at least `quorum` distinct `witnesses`.
pub fn open_checkpoint(
    bytes: &[u8],
    origin: &str,
    log: &dyn NoteVerifier,
    witnesses: &[&dyn NoteVerifier],
    quorum: usize,
) -> Result<SignedCheckpoint, CheckpointError> {
    let mut verifiers: Vec<&dyn NoteVerifier> = Vec::with_capacity(1 + witnesses.len());
    verifiers.push(log);
    verifiers.extend_from_slice(witnesses);
    let note = open(bytes, &verifiers)?;
    if !note.is_verified_by(log.name(), log.key_id()) {
        return Err(CheckpointError::NotSignedByLog);
    }
    let checkpoint = Checkpoint::parse_body(&note.text)?;
    if checkpoint.origin != origin {
        return Err(CheckpointError::Origin {
            expected: origin.to_string(),
            found: checkpoint.origin,
        });
    }
    // `open` keeps one verified signature per key, so this counts distinct witnesses.
    let verified = witnesses
        .iter()
        .filter(|w| note.is_verified_by(w.name(), w.key_id()))
        .count();
    if verified < quorum {
        return Err(CheckpointError::Quorum {
            required: quorum,
            verified,
        });
    }
    Ok(SignedCheckpoint { checkpoint, note })
}
