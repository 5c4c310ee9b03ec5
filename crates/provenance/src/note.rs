//! C2SP signed-note: notes, key names and IDs, verifier and signer keys, and the strict opening
//! (parse and verify) and signing of notes.
//!
//! ```text
//! <text, ending in a newline>
//! <blank line>
//! — <key name> <base64(4-byte big-endian key ID || signature)>     (one or more lines)
//! ```
//!
//! The signature algorithm is behind two small traits, [`NoteVerifier`] and [`NoteSigner`]:
//! Ed25519 (type 0x01) is here, the timestamped Ed25519 cosignature (type 0x04) in
//! `cosignature.rs`, and another type (ML-DSA-44, an SM2 co-signature under `0xff`) is one more
//! implementation. Opening follows the spec's rules: signatures from unknown (name, key ID)
//! pairs are ignored, a known key whose signature fails rejects the note, and a note with no
//! verified signature is rejected. Every malformed input is a precise [`NoteError`]; nothing
//! here panics on input.

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::base64;
use crate::hash::sha256;

/// Signature type byte of Ed25519 note signatures.
pub const SIGNATURE_TYPE_ED25519: u8 = 0x01;
/// Signature type byte of timestamped Ed25519 cosignatures (c2sp.org/tlog-cosignature).
pub const SIGNATURE_TYPE_COSIGNATURE_V1: u8 = 0x04;
/// Most signature lines a note may carry (the spec requires accepting at least 16; Go's
/// `sumdb/note` refuses more than 100).
pub const NOTE_SIGNATURES_MAX: usize = 100;
/// Largest note accepted, in bytes (100 post-quantum signatures of ~5 kB fit).
pub const NOTE_SIZE_MAX: usize = 1 << 20;

const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Why a note, or a signature on one, was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteError {
    /// The note is larger than [`NOTE_SIZE_MAX`].
    TooLarge { size: usize },
    /// The bytes at this offset are not UTF-8.
    InvalidUtf8 { offset: usize },
    /// A control character other than newline at this offset.
    ControlCharacter { offset: usize },
    /// No blank line separates text from signatures.
    MissingSignatureBlock,
    /// The last signature line does not end in a newline.
    MissingFinalNewline,
    /// A signature line (numbered from 0) is not `— <name> <base64>`, or names an invalid key.
    SignatureLine { line: usize },
    /// A signature line's base64 is invalid, non-canonical, or shorter than a key ID and one byte.
    SignatureEncoding { line: usize },
    /// More than [`NOTE_SIGNATURES_MAX`] signature lines.
    TooManySignatures,
    /// Two configured verifiers share this name and key ID.
    AmbiguousKey { name: String, key_id: u32 },
    /// A known key's signature does not verify.
    InvalidSignature { name: String, key_id: u32 },
    /// No signature is from a known key (or none verified).
    NoVerifiedSignature,
    /// Text to sign is empty, does not end in a newline, or holds control characters.
    InvalidText,
    /// A signer's name is not a valid key name.
    InvalidSignerName,
}

impl fmt::Display for NoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoteError::TooLarge { size } => write!(f, "note of {size} bytes is too large"),
            NoteError::InvalidUtf8 { offset } => write!(f, "note is not UTF-8 at offset {offset}"),
            NoteError::ControlCharacter { offset } => {
                write!(f, "note has a control character at offset {offset}")
            }
            NoteError::MissingSignatureBlock => write!(f, "note has no signature block"),
            NoteError::MissingFinalNewline => write!(f, "note does not end in a newline"),
            NoteError::SignatureLine { line } => write!(f, "malformed signature line {line}"),
            NoteError::SignatureEncoding { line } => {
                write!(f, "signature line {line} has an invalid signature encoding")
            }
            NoteError::TooManySignatures => write!(f, "note has too many signatures"),
            NoteError::AmbiguousKey { name, key_id } => {
                write!(f, "ambiguous key {name}+{key_id:08x}")
            }
            NoteError::InvalidSignature { name, key_id } => {
                write!(f, "invalid signature for key {name}+{key_id:08x}")
            }
            NoteError::NoVerifiedSignature => write!(f, "note has no verifiable signatures"),
            NoteError::InvalidText => write!(f, "note text is not a valid note text"),
            NoteError::InvalidSignerName => write!(f, "signer name is not a valid key name"),
        }
    }
}

impl std::error::Error for NoteError {}

/// Why a verifier or signer key string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// Not `<name>+<8 hex digits>+<base64>` (or `PRIVATE+KEY+...` for a signer key).
    Format,
    /// The name is empty or holds a space or `+`.
    Name,
    /// The key ID is not 8 lowercase hexadecimal digits.
    KeyIdSyntax,
    /// The key material is not canonical base64.
    Encoding,
    /// The signature type byte is not one this key kind supports.
    UnsupportedType { signature_type: u8 },
    /// The key material has the wrong length for its type.
    KeyLength { length: usize },
    /// The key ID does not match the name and key.
    KeyIdMismatch { stated: u32, computed: u32 },
    /// The public key is not a valid Ed25519 point, or is of small order.
    InvalidPublicKey,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Format => write!(f, "malformed key string"),
            KeyError::Name => write!(f, "invalid key name"),
            KeyError::KeyIdSyntax => write!(f, "key ID is not 8 lowercase hex digits"),
            KeyError::Encoding => write!(f, "key material is not canonical base64"),
            KeyError::UnsupportedType { signature_type } => {
                write!(f, "unsupported signature type 0x{signature_type:02x}")
            }
            KeyError::KeyLength { length } => write!(f, "key material of {length} bytes"),
            KeyError::KeyIdMismatch { stated, computed } => {
                write!(
                    f,
                    "key ID {stated:08x} does not match the key ({computed:08x})"
                )
            }
            KeyError::InvalidPublicKey => write!(f, "invalid Ed25519 public key"),
        }
    }
}

impl std::error::Error for KeyError {}

/// Whether `name` may name a key: non-empty, no Unicode white space, no `+`.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// The recommended key ID: the first 4 bytes, big-endian, of
/// `SHA-256(name || 0x0A || signature type || public key)`.
pub fn key_id(name: &str, signature_type: u8, public_key: &[u8]) -> u32 {
    let hash = sha256(&[name.as_bytes(), b"\n", &[signature_type], public_key]);
    u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]])
}

/// One algorithm's check of signatures by one key.
pub trait NoteVerifier {
    /// The key name signature lines carry.
    fn name(&self) -> &str;
    /// The key ID signature lines carry.
    fn key_id(&self) -> u32;
    /// Whether `signature` (the bytes after the key ID) signs the note text `text`.
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool;
}

/// One algorithm's signing with one key. Signing is deterministic and needs no randomness.
pub trait NoteSigner {
    /// The key name to put on the signature line.
    fn name(&self) -> &str;
    /// The key ID to put before the signature.
    fn key_id(&self) -> u32;
    /// The signature of the note text `text` (without the key ID).
    fn sign(&self, text: &[u8]) -> Vec<u8>;
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key ID (the first 4 bytes of the encoded signature).
    pub key_id: u32,
    /// The signature bytes after the key ID.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The signature line, `— <name> <base64>\n`.
    pub fn line(&self) -> String {
        let mut bytes = self.key_id.to_be_bytes().to_vec();
        bytes.extend_from_slice(&self.signature);
        format!(
            "{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            base64::encode(&bytes)
        )
    }
}

/// A note split into its text and signature lines; nothing verified yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The text, including its final newline, without the separating blank line.
    pub text: String,
    /// The signature lines, in order.
    pub signatures: Vec<NoteSignature>,
}

/// Checks the whole-note rules: size, UTF-8, no control characters but newline.
fn check_characters(bytes: &[u8]) -> Result<&str, NoteError> {
    if bytes.len() > NOTE_SIZE_MAX {
        return Err(NoteError::TooLarge { size: bytes.len() });
    }
    let text = std::str::from_utf8(bytes).map_err(|error| NoteError::InvalidUtf8 {
        offset: error.valid_up_to(),
    })?;
    if let Some(offset) = bytes.iter().position(|&b| b < 0x20 && b != b'\n') {
        return Err(NoteError::ControlCharacter { offset });
    }
    Ok(text)
}

fn parse_signature_line(line: &str, number: usize) -> Result<NoteSignature, NoteError> {
    let rest = line
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(NoteError::SignatureLine { line: number })?;
    let (name, encoded) = rest
        .split_once(' ')
        .ok_or(NoteError::SignatureLine { line: number })?;
    if !is_valid_key_name(name) {
        return Err(NoteError::SignatureLine { line: number });
    }
    let bytes =
        base64::decode(encoded).map_err(|_| NoteError::SignatureEncoding { line: number })?;
    if bytes.len() < 5 {
        return Err(NoteError::SignatureEncoding { line: number });
    }
    Ok(NoteSignature {
        name: name.to_string(),
        key_id: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
        signature: bytes[4..].to_vec(),
    })
}

impl Note {
    /// Splits a signed note into text and signature lines, checking its syntax only.
    pub fn parse(bytes: &[u8]) -> Result<Note, NoteError> {
        let whole = check_characters(bytes)?;
        let split = whole
            .rfind("\n\n")
            .ok_or(NoteError::MissingSignatureBlock)?;
        let (text, block) = (&whole[..=split], &whole[split + 2..]);
        let lines = block
            .strip_suffix('\n')
            .ok_or(NoteError::MissingFinalNewline)?;
        // `block` is non-empty here, so at least one (possibly malformed) line follows.
        let mut signatures = Vec::new();
        for (number, line) in lines.split('\n').enumerate() {
            if number >= NOTE_SIGNATURES_MAX {
                return Err(NoteError::TooManySignatures);
            }
            signatures.push(parse_signature_line(line, number)?);
        }
        Ok(Note {
            text: text.to_string(),
            signatures,
        })
    }

    /// The signed note's bytes: text, blank line, signature lines.
    pub fn encode(&self) -> String {
        let mut out = self.text.clone();
        out.push('\n');
        for signature in &self.signatures {
            out.push_str(&signature.line());
        }
        out
    }

    /// Signs the text with `signer` and adds the line, replacing any line by the same key.
    pub fn add_signature(&mut self, signer: &dyn NoteSigner) -> Result<(), NoteError> {
        if !is_valid_key_name(signer.name()) {
            return Err(NoteError::InvalidSignerName);
        }
        let (name, key_id) = (signer.name(), signer.key_id());
        self.signatures
            .retain(|s| !(s.name == name && s.key_id == key_id));
        self.signatures.push(NoteSignature {
            name: name.to_string(),
            key_id,
            signature: signer.sign(self.text.as_bytes()),
        });
        Ok(())
    }
}

/// A note whose text is vouched for by at least one known key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNote {
    /// The note text.
    pub text: String,
    /// Signatures that verified, one per key, in note order.
    pub verified: Vec<NoteSignature>,
    /// Signatures from unknown keys (ignored), identical lines once, in note order.
    pub unverified: Vec<NoteSignature>,
}

impl VerifiedNote {
    /// Whether the key (`name`, `key_id`) verified a signature.
    pub fn is_verified_by(&self, name: &str, key_id: u32) -> bool {
        self.verified
            .iter()
            .any(|s| s.name == name && s.key_id == key_id)
    }
}

/// Parses `bytes` as a signed note and verifies it against `verifiers`.
///
/// Every signature by a known key must verify (duplicates too); at least one must exist.
pub fn open(bytes: &[u8], verifiers: &[&dyn NoteVerifier]) -> Result<VerifiedNote, NoteError> {
    let note = Note::parse(bytes)?;
    let mut verified: Vec<NoteSignature> = Vec::new();
    let mut unverified: Vec<NoteSignature> = Vec::new();
    for signature in note.signatures {
        let mut matching = verifiers
            .iter()
            .filter(|v| v.name() == signature.name && v.key_id() == signature.key_id);
        let Some(verifier) = matching.next() else {
            if !unverified.contains(&signature) {
                unverified.push(signature);
            }
            continue;
        };
        if matching.next().is_some() {
            return Err(NoteError::AmbiguousKey {
                name: signature.name,
                key_id: signature.key_id,
            });
        }
        if !verifier.verify(note.text.as_bytes(), &signature.signature) {
            return Err(NoteError::InvalidSignature {
                name: signature.name,
                key_id: signature.key_id,
            });
        }
        if !verified
            .iter()
            .any(|s| s.name == signature.name && s.key_id == signature.key_id)
        {
            verified.push(signature);
        }
    }
    if verified.is_empty() {
        return Err(NoteError::NoVerifiedSignature);
    }
    Ok(VerifiedNote {
        text: note.text,
        verified,
        unverified,
    })
}

/// Signs `text` with every signer, returning the signed note.
pub fn sign(text: &str, signers: &[&dyn NoteSigner]) -> Result<String, NoteError> {
    if text.is_empty() || !text.ends_with('\n') || check_characters(text.as_bytes()).is_err() {
        return Err(NoteError::InvalidText);
    }
    let mut note = Note {
        text: text.to_string(),
        signatures: Vec::new(),
    };
    for signer in signers {
        note.add_signature(*signer)?;
    }
    Ok(note.encode())
}

/// Splits `<name>+<hex key ID>+<base64>` and decodes its parts.
fn parse_key_parts(text: &str) -> Result<(&str, u32, Vec<u8>), KeyError> {
    let (name, rest) = text.split_once('+').ok_or(KeyError::Format)?;
    let (id_text, material) = rest.split_once('+').ok_or(KeyError::Format)?;
    if !is_valid_key_name(name) {
        return Err(KeyError::Name);
    }
    let lowercase_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if id_text.len() != 8 || !id_text.bytes().all(lowercase_hex) {
        return Err(KeyError::KeyIdSyntax);
    }
    let stated = u32::from_str_radix(id_text, 16).map_err(|_| KeyError::KeyIdSyntax)?;
    let bytes = base64::decode(material).map_err(|_| KeyError::Encoding)?;
    Ok((name, stated, bytes))
}

/// A parsed `<name>+<hex key ID>+<base64(type || key)>` string with a 32-byte key of an
/// Ed25519-based type, its key ID checked.
pub(crate) fn parse_ed25519_key(
    text: &str,
    allowed_types: &[u8],
) -> Result<(String, u8, [u8; 32]), KeyError> {
    let (name, stated, bytes) = parse_key_parts(text)?;
    let (&signature_type, key) = bytes
        .split_first()
        .ok_or(KeyError::KeyLength { length: 0 })?;
    if !allowed_types.contains(&signature_type) {
        return Err(KeyError::UnsupportedType { signature_type });
    }
    let key: [u8; 32] = key
        .try_into()
        .map_err(|_| KeyError::KeyLength { length: key.len() })?;
    let computed = key_id(name, signature_type, &key);
    if stated != computed {
        return Err(KeyError::KeyIdMismatch { stated, computed });
    }
    Ok((name.to_string(), signature_type, key))
}

/// A verifier for any supported verifier key string, chosen by its signature type byte:
/// Ed25519 note signatures (0x01) or v1 cosignatures (0x04).
pub fn verifier_from_vkey(vkey: &str) -> Result<Box<dyn NoteVerifier>, KeyError> {
    let (_, _, bytes) = parse_key_parts(vkey)?;
    match bytes.first() {
        Some(&SIGNATURE_TYPE_ED25519) => Ok(Box::new(Ed25519Verifier::from_vkey(vkey)?)),
        Some(&SIGNATURE_TYPE_COSIGNATURE_V1) => Ok(Box::new(
            crate::cosignature::CosignatureV1Verifier::from_vkey(vkey)?,
        )),
        Some(&signature_type) => Err(KeyError::UnsupportedType { signature_type }),
        None => Err(KeyError::KeyLength { length: 0 }),
    }
}

/// An Ed25519 public key that is a valid point of large order.
pub(crate) fn ed25519_public_key(bytes: &[u8; 32]) -> Result<VerifyingKey, KeyError> {
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::InvalidPublicKey)?;
    if key.is_weak() {
        return Err(KeyError::InvalidPublicKey);
    }
    Ok(key)
}

/// Verifies strictly (RFC 8032 with canonical encodings, no small-order points): a signature
/// has one valid encoding, so a flipped bit never verifies.
pub(crate) fn ed25519_verify(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    let Ok(bytes) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    key.verify_strict(message, &Signature::from_bytes(&bytes))
        .is_ok()
}

/// The verifier key string `<name>+<hex key ID>+<base64(type || key)>`.
pub(crate) fn format_key(name: &str, key_id: u32, signature_type: u8, key: &[u8]) -> String {
    let mut material = vec![signature_type];
    material.extend_from_slice(key);
    format!("{name}+{key_id:08x}+{}", base64::encode(&material))
}

/// Checks an Ed25519 signature line by one key (signature type 0x01).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ed25519Verifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl Ed25519Verifier {
    /// A verifier for `name` and the Ed25519 public key `public_key`.
    pub fn new(name: &str, public_key: &[u8; 32]) -> Result<Ed25519Verifier, KeyError> {
        if !is_valid_key_name(name) {
            return Err(KeyError::Name);
        }
        Ok(Ed25519Verifier {
            name: name.to_string(),
            key_id: key_id(name, SIGNATURE_TYPE_ED25519, public_key),
            key: ed25519_public_key(public_key)?,
        })
    }

    /// Parses a verifier key string (`vkey`): `<name>+<hex key ID>+<base64(0x01 || key)>`.
    pub fn from_vkey(vkey: &str) -> Result<Ed25519Verifier, KeyError> {
        let (name, _, key) = parse_ed25519_key(vkey, &[SIGNATURE_TYPE_ED25519])?;
        Ed25519Verifier::new(&name, &key)
    }

    /// The verifier key string.
    pub fn vkey(&self) -> String {
        format_key(
            &self.name,
            self.key_id,
            SIGNATURE_TYPE_ED25519,
            self.key.as_bytes(),
        )
    }

    /// The public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
}

impl NoteVerifier for Ed25519Verifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        ed25519_verify(&self.key, text, signature)
    }
}

/// Signs notes with one Ed25519 key (signature type 0x01).
#[derive(Clone, Debug)]
pub struct Ed25519Signer {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl Ed25519Signer {
    /// A signer for `name` from a 32-byte Ed25519 seed (the private key; the shell draws it
    /// from the OS once and stores it).
    pub fn new(name: &str, seed: &[u8; 32]) -> Result<Ed25519Signer, KeyError> {
        if !is_valid_key_name(name) {
            return Err(KeyError::Name);
        }
        let key = SigningKey::from_bytes(seed);
        Ok(Ed25519Signer {
            name: name.to_string(),
            key_id: key_id(name, SIGNATURE_TYPE_ED25519, key.verifying_key().as_bytes()),
            key,
        })
    }

    /// Parses a signer key string as Go's `sumdb/note` writes it:
    /// `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>`; the key ID is that of the
    /// public key.
    pub fn from_skey(skey: &str) -> Result<Ed25519Signer, KeyError> {
        let (seed, name, stated) = parse_skey(skey, SIGNATURE_TYPE_ED25519)?;
        let signer = Ed25519Signer::new(name, &seed)?;
        if signer.key_id != stated {
            return Err(KeyError::KeyIdMismatch {
                stated,
                computed: signer.key_id,
            });
        }
        Ok(signer)
    }

    /// The signer key string (`PRIVATE+KEY+...`); a secret.
    pub fn skey(&self) -> String {
        format!(
            "PRIVATE+KEY+{}",
            format_key(
                &self.name,
                self.key_id,
                SIGNATURE_TYPE_ED25519,
                self.key.as_bytes()
            )
        )
    }

    /// The matching verifier.
    pub fn verifier(&self) -> Ed25519Verifier {
        Ed25519Verifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }
}

/// The seed, name and stated key ID of a `PRIVATE+KEY+<name>+<id>+<base64(type || seed)>`.
pub(crate) fn parse_skey(
    skey: &str,
    signature_type: u8,
) -> Result<([u8; 32], &str, u32), KeyError> {
    let rest = skey.strip_prefix("PRIVATE+KEY+").ok_or(KeyError::Format)?;
    let (name, stated, bytes) = parse_key_parts(rest)?;
    let (&stated_type, seed) = bytes
        .split_first()
        .ok_or(KeyError::KeyLength { length: 0 })?;
    if stated_type != signature_type {
        return Err(KeyError::UnsupportedType {
            signature_type: stated_type,
        });
    }
    let seed: [u8; 32] = seed
        .try_into()
        .map_err(|_| KeyError::KeyLength { length: seed.len() })?;
    Ok((seed, name, stated))
}

impl NoteSigner for Ed25519Signer {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn sign(&self, text: &[u8]) -> Vec<u8> {
        self.key.sign(text).to_bytes().to_vec()
    }
}
