//! Signed-note, checkpoint and cosignature tests: every error has a trigger, keys round-trip,
//! opening follows the spec's rules on unknown, failing and ambiguous keys, checkpoints are
//! opened against the log key, the origin and a witness quorum, and a cosignature is exactly an
//! Ed25519 signature over the `cosignature/v1` message.

use ed25519_dalek::{Signature, SigningKey, Verifier as _};

use crate::*;

pub(crate) const LOG: &str = "example.org/provenance/2026h1";

pub(crate) fn log_signer() -> Ed25519Signer {
    Ed25519Signer::new(LOG, &[7; 32]).unwrap()
}

pub(crate) fn witness(number: u8) -> CosignatureV1Signer {
    CosignatureV1Signer::new(&format!("witness.example/w{number}"), &[number; 32]).unwrap()
}

/// A checkpoint of `tree` signed by the log and cosigned by witnesses 1 and 2.
pub(crate) fn signed_checkpoint(tree: &Tree) -> String {
    let checkpoint = Checkpoint::new(LOG, tree.size(), tree.root()).unwrap();
    let mut note = Note {
        text: checkpoint.body(),
        signatures: Vec::new(),
    };
    note.add_signature(&log_signer()).unwrap();
    note.add_signature(&witness(1).at(1_750_000_000)).unwrap();
    note.add_signature(&witness(2).at(1_750_000_009)).unwrap();
    note.encode()
}

// Goal: what `sign` writes, `open` reads back; the text may hold blank lines and lines that
// look like signatures, since only the last blank line separates.
#[test]
fn sign_then_open() {
    let (a, b) = (
        log_signer(),
        Ed25519Signer::new("b.example", &[9; 32]).unwrap(),
    );
    let text = "first\n\n\u{2014} not a signature\nlast\n";
    let signed = sign(text, &[&a, &b]).unwrap();
    let opened = open(signed.as_bytes(), &[&a.verifier(), &b.verifier()]).unwrap();
    assert_eq!(opened.text, text);
    assert_eq!(opened.verified.len(), 2);
    assert!(opened.is_verified_by("b.example", b.verifier().key_id()));
    let only_b = open(signed.as_bytes(), &[&b.verifier()]).unwrap();
    assert_eq!((only_b.verified.len(), only_b.unverified.len()), (1, 1));
}

// Goal: each syntax error of a note has a trigger and its own variant.
#[test]
fn note_errors() {
    let signer = log_signer();
    let verifier = signer.verifier();
    let good = sign("text\n", &[&signer]).unwrap();
    let line = good.split_once("\n\n").unwrap().1;
    let cases: Vec<(Vec<u8>, NoteError)> = vec![
        (
            vec![b'a'; NOTE_SIZE_MAX + 1],
            NoteError::TooLarge {
                size: NOTE_SIZE_MAX + 1,
            },
        ),
        (
            b"text\n\n\xe2\x80\n".to_vec(),
            NoteError::InvalidUtf8 { offset: 6 },
        ),
        (
            b"te\txt\n\nx\n".to_vec(),
            NoteError::ControlCharacter { offset: 2 },
        ),
        (
            b"te\rxt\n\nx\n".to_vec(),
            NoteError::ControlCharacter { offset: 2 },
        ),
        (b"text\n".to_vec(), NoteError::MissingSignatureBlock),
        (
            format!("text\n\n{}", line.trim_end()).into(),
            NoteError::MissingFinalNewline,
        ),
        (
            format!("text\n\n{}", line.replacen('\u{2014}', "-", 1)).into(),
            NoteError::SignatureLine { line: 0 },
        ),
        (
            format!("text\n\n{line}\u{2014} \n").into(),
            NoteError::SignatureLine { line: 1 },
        ),
        (
            format!("text\n\n{}", line.replacen(' ', "", 2)).into(),
            NoteError::SignatureLine { line: 0 },
        ),
        (
            format!("text\n\n{line}\u{2014} a+b AAAAAAA=\n").into(),
            NoteError::SignatureLine { line: 1 },
        ),
        (
            format!("text\n\n{line}\u{2014} a\u{a0}b AAAAAAA=\n").into(),
            NoteError::SignatureLine { line: 1 },
        ),
        (
            format!("text\n\n{line}\u{2014} ab AAAA\n").into(),
            NoteError::SignatureEncoding { line: 1 },
        ),
        (
            format!("text\n\n{line}\u{2014} ab AAAAAAB=\n").into(),
            NoteError::SignatureEncoding { line: 1 },
        ),
        (
            format!("text\n\n{line}\u{2014} ab  AAAAAAA=\n").into(),
            NoteError::SignatureEncoding { line: 1 },
        ),
        (
            format!("text\n\n{line}\n").into(),
            NoteError::MissingFinalNewline,
        ),
    ];
    for (bytes, error) in cases {
        assert_eq!(
            open(&bytes, &[&verifier]),
            Err(error),
            "{:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
    assert_eq!(
        open(good.as_bytes(), &[&verifier]).map(|n| n.text),
        Ok("text\n".to_string())
    );
    // 100 signature lines are fine, 101 are not.
    let hundred = format!("text\n\n{}", line.repeat(100));
    assert!(open(hundred.as_bytes(), &[&verifier]).is_ok());
    let more = format!("text\n\n{}", line.repeat(101));
    assert_eq!(
        open(more.as_bytes(), &[&verifier]),
        Err(NoteError::TooManySignatures)
    );
}

// Goal: opening follows the spec: a failing known key rejects the note even when another key
// verified; a key with the right name and the wrong ID (or the reverse) is unknown.
#[test]
fn note_verification_rules() {
    let (a, b) = (
        log_signer(),
        Ed25519Signer::new("b.example", &[9; 32]).unwrap(),
    );
    let signed_by_a = sign("text\n", &[&a]).unwrap();
    let signed_by_b = sign("other\n", &[&b]).unwrap();
    let b_line = signed_by_b.split_once("\n\n").unwrap().1;
    let mixed = format!("{signed_by_a}{b_line}");
    assert_eq!(
        open(mixed.as_bytes(), &[&a.verifier(), &b.verifier()]),
        Err(NoteError::InvalidSignature {
            name: "b.example".to_string(),
            key_id: b.key_id()
        })
    );
    let opened = open(mixed.as_bytes(), &[&a.verifier()]).unwrap();
    assert_eq!(opened.unverified.len(), 1);
    // Same name, other key: a different key ID, so unknown, so ignored.
    let impostor = Ed25519Signer::new(LOG, &[8; 32]).unwrap();
    assert_ne!(impostor.key_id(), a.key_id());
    assert_eq!(
        open(signed_by_a.as_bytes(), &[&impostor.verifier()]),
        Err(NoteError::NoVerifiedSignature)
    );
    assert_eq!(sign("no newline", &[&a]), Err(NoteError::InvalidText));
    assert_eq!(sign("", &[&a]), Err(NoteError::InvalidText));
    assert_eq!(sign("bell\x07\n", &[&a]), Err(NoteError::InvalidText));
}

// Goal: every key-string error has a trigger; names follow the spec.
#[test]
fn key_errors() {
    assert!(is_valid_key_name("example.com/log"));
    for name in ["", "a b", "a+b", "a\u{2003}b", "tab\t"] {
        assert!(!is_valid_key_name(name), "{name:?}");
        assert_eq!(
            Ed25519Signer::new(name, &[1; 32]).err(),
            Some(KeyError::Name)
        );
    }
    let verifier = log_signer().verifier();
    let vkey = verifier.vkey();
    assert_eq!(Ed25519Verifier::from_vkey(&vkey), Ok(verifier.clone()));
    let (name, rest) = vkey.split_once('+').unwrap();
    let (id, material) = rest.split_once('+').unwrap();
    assert_eq!(Ed25519Verifier::from_vkey(name), Err(KeyError::Format));
    assert_eq!(
        Ed25519Verifier::from_vkey(&format!("a b+{rest}")),
        Err(KeyError::Name)
    );
    let upper = format!("{name}+{}+{material}", id.to_uppercase());
    if upper != vkey {
        assert_eq!(
            Ed25519Verifier::from_vkey(&upper),
            Err(KeyError::KeyIdSyntax)
        );
    }
    assert_eq!(
        Ed25519Verifier::from_vkey(&format!("{name}+{id}+{material}=")),
        Err(KeyError::Encoding)
    );
    let computed = verifier.key_id();
    let stated = computed ^ 1;
    assert_eq!(
        Ed25519Verifier::from_vkey(&format!("{name}+{stated:08x}+{material}")),
        Err(KeyError::KeyIdMismatch { stated, computed })
    );
    assert_eq!(
        Ed25519Verifier::from_vkey(&format!("{name}+{id}+AQ==")),
        Err(KeyError::KeyLength { length: 0 })
    );
    // The identity point has small order: refused as a key.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(
        Ed25519Verifier::new("x", &identity),
        Err(KeyError::InvalidPublicKey)
    );
    let weak = format!(
        "x+{:08x}+{}",
        key_id("x", SIGNATURE_TYPE_ED25519, &identity),
        base64::encode(&[&[1u8][..], &identity].concat())
    );
    assert_eq!(
        Ed25519Verifier::from_vkey(&weak),
        Err(KeyError::InvalidPublicKey)
    );
    assert_eq!(
        Ed25519Signer::from_skey(&vkey).err(),
        Some(KeyError::Format)
    );
}

// Goal: a verifier key string picks its algorithm by type byte.
#[test]
fn verifiers_by_type() {
    let log = log_signer().verifier();
    let witness = witness(4).verifier();
    assert_eq!(
        verifier_from_vkey(&log.vkey()).unwrap().key_id(),
        log.key_id()
    );
    assert_eq!(
        verifier_from_vkey(&witness.vkey()).unwrap().key_id(),
        witness.key_id()
    );
    let (name, id) = ("x", key_id("x", 0x02, &[7; 33]));
    let ecdsa = format!(
        "{name}+{id:08x}+{}",
        base64::encode(&[&[2u8][..], &[7; 33]].concat())
    );
    assert_eq!(
        verifier_from_vkey(&ecdsa).err(),
        Some(KeyError::UnsupportedType {
            signature_type: 0x02
        })
    );
    assert_eq!(
        verifier_from_vkey("x+00000000+").err(),
        Some(KeyError::KeyLength { length: 0 })
    );
}

// Goal: a v1 cosignature is an Ed25519 signature by the witness key over
// "cosignature/v1\ntime <t>\n" + checkpoint text, after the 8-byte timestamp; its key ID uses
// type 0x04, so a type-0x01 verifier of the same key does not even match it.
#[test]
fn cosignature_v1_format() {
    let seed = [5u8; 32];
    let cosigner = CosignatureV1Signer::new("witness.example/w5", &seed).unwrap();
    let body = Checkpoint::new(LOG, 3, leaf_hash(b"x")).unwrap().body();
    let signature = cosigner.at(1_700_000_000).sign(body.as_bytes());
    assert_eq!(signature.len(), COSIGNATURE_V1_SIZE);
    assert_eq!(cosignature_v1_timestamp(&signature), Some(1_700_000_000));
    let message = format!("cosignature/v1\ntime 1700000000\n{body}");
    let key = SigningKey::from_bytes(&seed).verifying_key();
    let ed25519 = Signature::from_bytes(&signature[8..].try_into().unwrap());
    assert!(key.verify(message.as_bytes(), &ed25519).is_ok());
    assert_eq!(
        cosignature_v1_message(body.as_bytes(), 1_700_000_000),
        message.as_bytes()
    );

    let verifier = cosigner.verifier();
    assert!(verifier.verify(body.as_bytes(), &signature));
    let mut later = signature.clone();
    later[7] ^= 1;
    assert!(
        !verifier.verify(body.as_bytes(), &later),
        "the timestamp is signed"
    );
    let mut too_late = signature.clone();
    too_late[0] = 0x80;
    assert_eq!(cosignature_v1_timestamp(&too_late), None, "above 2^63 - 1");
    assert!(!verifier.verify(body.as_bytes(), &too_late));
    assert_eq!(
        CosignatureV1Verifier::from_vkey(&verifier.vkey()),
        Ok(verifier.clone())
    );
    let plain = Ed25519Signer::new("witness.example/w5", &seed).unwrap();
    assert_ne!(plain.key_id(), cosigner.verifier().key_id());
    // From a Go-style (type 0x01) signer key, as transparency-dev/formats does.
    let skey = plain.skey();
    let converted = CosignatureV1Signer::from_skey(&skey).unwrap();
    assert_eq!(converted.verifier(), cosigner.verifier());
}

// Goal: a checkpoint opens only when signed by the log, for the right origin, with a quorum of
// distinct witnesses; each failure has its own error, and the timestamps are reported.
#[test]
fn checkpoint_opening() {
    let mut tree = Tree::new();
    for i in 0..1000u32 {
        tree.append(&i.to_be_bytes());
    }
    let note = signed_checkpoint(&tree);
    let log = log_signer().verifier();
    let (w1, w2, w3) = (
        witness(1).verifier(),
        witness(2).verifier(),
        witness(3).verifier(),
    );
    let opened = open_checkpoint(note.as_bytes(), LOG, &log, &[&w1, &w2, &w3], 2).unwrap();
    assert_eq!(opened.checkpoint.size(), 1000);
    assert_eq!(*opened.checkpoint.root(), tree.root());
    assert_eq!(
        opened.cosignature_timestamps(),
        vec![
            ("witness.example/w1", 1_750_000_000),
            ("witness.example/w2", 1_750_000_009)
        ]
    );
    assert_eq!(
        open_checkpoint(note.as_bytes(), LOG, &log, &[&w1, &w3], 2),
        Err(CheckpointError::Quorum {
            required: 2,
            verified: 1
        })
    );
    assert_eq!(
        open_checkpoint(note.as_bytes(), "other.example", &log, &[], 0),
        Err(CheckpointError::Origin {
            expected: "other.example".to_string(),
            found: LOG.to_string()
        })
    );
    assert_eq!(
        open_checkpoint(note.as_bytes(), LOG, &w3, &[&w1], 1),
        Err(CheckpointError::NotSignedByLog)
    );
    let unsigned_by_log = note.replace(&format!("\u{2014} {LOG} "), "\u{2014} someone.else ");
    assert_eq!(
        open_checkpoint(unsigned_by_log.as_bytes(), LOG, &log, &[&w1, &w2], 1),
        Err(CheckpointError::NotSignedByLog)
    );
    let other = sign("hello\n", &[&log_signer()]).unwrap();
    assert_eq!(
        open_checkpoint(other.as_bytes(), LOG, &log, &[], 0),
        Err(CheckpointError::LineCount { count: 1 })
    );
}

// Goal: every malformed checkpoint body is refused with its own error.
#[test]
fn checkpoint_body_errors() {
    let root = base64::encode(&leaf_hash(b"x"));
    let cases = [
        (
            format!("o\n1\n{root}"),
            CheckpointError::MissingFinalNewline,
        ),
        (
            "o\n1\n".to_string(),
            CheckpointError::LineCount { count: 2 },
        ),
        (
            format!("\n1\n{root}\n"),
            CheckpointError::EmptyLine { line: 0 },
        ),
        (
            format!("o\n1\n{root}\n\n"),
            CheckpointError::EmptyLine { line: 3 },
        ),
        (format!("o\n01\n{root}\n"), CheckpointError::Size),
        (format!("o\n+1\n{root}\n"), CheckpointError::Size),
        (
            format!("o\n18446744073709551616\n{root}\n"),
            CheckpointError::Size,
        ),
        ("o\n1\nAAAA\n".to_string(), CheckpointError::RootEncoding),
        (
            format!("o\n1\n{}\n", root.replace('=', "")),
            CheckpointError::RootEncoding,
        ),
        (
            format!("o\u{85}\n1\n{root}\n"),
            CheckpointError::ControlCharacter,
        ),
    ];
    for (text, error) in cases {
        assert_eq!(Checkpoint::parse_body(&text), Err(error), "{text:?}");
    }
    let max = format!("o\n18446744073709551615\n{root}\next one\n");
    let checkpoint = Checkpoint::parse_body(&max).unwrap();
    assert_eq!(
        (checkpoint.size(), checkpoint.extensions()),
        (u64::MAX, &["ext one".to_string()][..])
    );
    assert_eq!(checkpoint.body(), max);
    assert_eq!(
        Checkpoint::new("", 0, EMPTY_ROOT),
        Err(CheckpointError::EmptyLine { line: 0 })
    );
    assert_eq!(
        Checkpoint::new("a\nb", 0, EMPTY_ROOT),
        Err(CheckpointError::ControlCharacter)
    );
    assert_eq!(
        Checkpoint::with_extensions("a", 0, EMPTY_ROOT, vec![String::new()]),
        Err(CheckpointError::EmptyLine { line: 3 })
    );
}
