//! C2SP tlog-cosignature v1: timestamped Ed25519 cosignatures (signature type 0x04), the
//! statement a witness adds to a checkpoint.
//!
//! The signature is `u64 big-endian timestamp || Ed25519 signature` over
//! `"cosignature/v1\ntime <timestamp>\n" || checkpoint text`, meaning "as of this time, this is
//! the largest consistent tree I have seen for this origin". The message does not name the
//! cosigner, so each cosigner needs its own key. Time is an argument: this crate reads no clock.

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

use crate::note::{
    Ed25519Signer, KeyError, NoteSigner, NoteVerifier, SIGNATURE_TYPE_COSIGNATURE_V1,
    SIGNATURE_TYPE_ED25519, ed25519_public_key, ed25519_verify, format_key, is_valid_key_name,
    key_id, parse_ed25519_key, parse_skey,
};

/// Largest timestamp a cosignature may carry (the spec's `2^63 - 1`).
pub const COSIGNATURE_TIMESTAMP_MAX: u64 = i64::MAX as u64;
/// Bytes of a v1 cosignature after the key ID: timestamp and Ed25519 signature.
pub const COSIGNATURE_V1_SIZE: usize = 8 + 64;

/// The message a v1 cosignature signs.
pub fn cosignature_v1_message(text: &[u8], timestamp: u64) -> Vec<u8> {
    let mut message = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    message.extend_from_slice(text);
    message
}

/// The timestamp of a v1 cosignature (the bytes after the key ID), if it is one.
pub fn cosignature_v1_timestamp(signature: &[u8]) -> Option<u64> {
    if signature.len() != COSIGNATURE_V1_SIZE {
        return None;
    }
    let timestamp = u64::from_be_bytes(signature[..8].try_into().expect("8 bytes"));
    (timestamp <= COSIGNATURE_TIMESTAMP_MAX).then_some(timestamp)
}

/// Checks v1 cosignatures by one witness key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignatureV1Verifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl CosignatureV1Verifier {
    /// A verifier for witness `name` with the Ed25519 public key `public_key`.
    pub fn new(name: &str, public_key: &[u8; 32]) -> Result<CosignatureV1Verifier, KeyError> {
        if !is_valid_key_name(name) {
            return Err(KeyError::Name);
        }
        Ok(CosignatureV1Verifier {
            name: name.to_string(),
            key_id: key_id(name, SIGNATURE_TYPE_COSIGNATURE_V1, public_key),
            key: ed25519_public_key(public_key)?,
        })
    }

    /// Parses a witness verifier key: `<name>+<hex key ID>+<base64(0x04 || key)>`.
    pub fn from_vkey(vkey: &str) -> Result<CosignatureV1Verifier, KeyError> {
        let (name, _, key) = parse_ed25519_key(vkey, &[SIGNATURE_TYPE_COSIGNATURE_V1])?;
        CosignatureV1Verifier::new(&name, &key)
    }

    /// The verifier key string (type 0x04).
    pub fn vkey(&self) -> String {
        format_key(
            &self.name,
            self.key_id,
            SIGNATURE_TYPE_COSIGNATURE_V1,
            self.key.as_bytes(),
        )
    }
}

impl NoteVerifier for CosignatureV1Verifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        let Some(timestamp) = cosignature_v1_timestamp(signature) else {
            return false;
        };
        ed25519_verify(
            &self.key,
            &cosignature_v1_message(text, timestamp),
            &signature[8..],
        )
    }
}

/// A witness's signing key for v1 cosignatures.
#[derive(Clone, Debug)]
pub struct CosignatureV1Signer {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl CosignatureV1Signer {
    /// A cosigner for witness `name` from a 32-byte Ed25519 seed.
    pub fn new(name: &str, seed: &[u8; 32]) -> Result<CosignatureV1Signer, KeyError> {
        if !is_valid_key_name(name) {
            return Err(KeyError::Name);
        }
        let key = SigningKey::from_bytes(seed);
        Ok(CosignatureV1Signer {
            name: name.to_string(),
            key_id: key_id(
                name,
                SIGNATURE_TYPE_COSIGNATURE_V1,
                key.verifying_key().as_bytes(),
            ),
            key,
        })
    }

    /// A cosigner from an Ed25519 note signer key (`PRIVATE+KEY+...` of type 0x01), as
    /// `transparency-dev/formats` `NewSignerForCosignatureV1` does; the key ID is recomputed
    /// for type 0x04.
    pub fn from_skey(skey: &str) -> Result<CosignatureV1Signer, KeyError> {
        let (seed, name, _) = parse_skey(skey, SIGNATURE_TYPE_ED25519)?;
        // Check the key string's own key ID before reusing its seed.
        Ed25519Signer::from_skey(skey)?;
        CosignatureV1Signer::new(name, &seed)
    }

    /// The matching verifier.
    pub fn verifier(&self) -> CosignatureV1Verifier {
        CosignatureV1Verifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// This cosigner stamped with `timestamp` (POSIX seconds, at most 2^63 - 1), as a
    /// [`NoteSigner`] to add a line to a checkpoint note.
    pub fn at(&self, timestamp: u64) -> TimestampedCosigner<'_> {
        assert!(
            timestamp <= COSIGNATURE_TIMESTAMP_MAX,
            "cosignature timestamp {timestamp}"
        );
        TimestampedCosigner {
            cosigner: self,
            timestamp,
        }
    }
}

/// A [`CosignatureV1Signer`] at one timestamp.
#[derive(Clone, Copy, Debug)]
pub struct TimestampedCosigner<'a> {
    cosigner: &'a CosignatureV1Signer,
    timestamp: u64,
}

impl NoteSigner for TimestampedCosigner<'_> {
    fn name(&self) -> &str {
        &self.cosigner.name
    }

    fn key_id(&self) -> u32 {
        self.cosigner.key_id
    }

    fn sign(&self, text: &[u8]) -> Vec<u8> {
        let message = cosignature_v1_message(text, self.timestamp);
        let mut out = self.timestamp.to_be_bytes().to_vec();
        out.extend_from_slice(&self.cosigner.key.sign(&message).to_bytes());
        out
    }
}
