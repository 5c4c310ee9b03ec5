//! The service end to end on a temporary directory: signed submissions, duplicates, product
//! histories with proofs, offline bundles (every flipped bit refused), and a restart.

use std::sync::Arc;

use provenance::{
    CosignatureV1Signer, Ed25519Signer, NoteSigner, NoteVerifier, base64, leaf_hash,
    verify_inclusion,
};

use super::epcis::{OBJECT_EVENT, event};
use crate::jcs::Json;
use crate::statement::signed_message;
use crate::*;

const BRAND: &str = "brand.example/acme";

fn brand() -> Ed25519Signer {
    Ed25519Signer::new(BRAND, &[11; 32]).unwrap()
}

fn witness() -> CosignatureV1Signer {
    CosignatureV1Signer::new("witness.example/w1", &[9; 32]).unwrap()
}

fn sign(signer: &Ed25519Signer, value: &Json) -> String {
    base64::encode(&signer.sign(&signed_message(&epcis::event_hash(value))))
}

fn config(dir: &std::path::Path) -> ProvenanceConfig {
    ProvenanceConfig {
        origin: "trace.example/2026h2".to_string(),
        submitters: vec![brand().verifier()],
        witnesses: vec![witness().verifier()],
        ..ProvenanceConfig::new(dir)
    }
}

/// An ObjectEvent about serial `serial` of the GS1 example GTIN at minute `minute`.
fn object_event(serial: u32, minute: u32) -> Json {
    event(&format!(
        r#"{{"type":"ObjectEvent","action":"OBSERVE","bizStep":"receiving",
            "eventTime":"2026-11-11T00:{minute:02}:00+08:00","eventTimeZoneOffset":"+08:00",
            "epcList":["urn:epc:id:sgtin:0614141.107346.{serial}"]}}"#
    ))
}

fn submission(provenance: &Provenance, value: &Json) -> Submission {
    provenance
        .prepare(BRAND, value, &sign(&brand(), value), 1_795_000_000_000)
        .unwrap()
}

// Goal: signed events are appended once (a resubmission answers the first index), a product's
// history carries a verifying proof per event, and its bundle verifies offline with the log's
// public key alone; all of it survives a restart.
#[test]
fn submissions_histories_and_bundles() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("provenance");
    let (provenance, recovery) = Provenance::open(config(&dir)).unwrap();
    assert!(recovery.created);
    let events: Vec<Json> = (0..40).map(|i| object_event(2000 + i % 10, i)).collect();
    let first: Vec<Submission> = events[..20]
        .iter()
        .map(|e| submission(&provenance, e))
        .collect();
    let receipts = provenance.submit_blocking(first).unwrap();
    assert_eq!(
        receipts.iter().map(|r| r.index).collect::<Vec<_>>(),
        (0..20).collect::<Vec<_>>()
    );
    assert!(receipts.iter().all(|r| !r.duplicate));
    // Resubmitted events keep their index; a repeat inside one batch too.
    let again: Vec<Submission> = [&events[3], &events[25], &events[25]]
        .into_iter()
        .map(|e| submission(&provenance, e))
        .collect();
    let receipts = provenance.submit_blocking(again).unwrap();
    assert_eq!(
        receipts
            .iter()
            .map(|r| (r.index, r.duplicate))
            .collect::<Vec<_>>(),
        vec![(3, true), (20, false), (20, true)]
    );
    let rest: Vec<Submission> = events[20..]
        .iter()
        .map(|e| submission(&provenance, e))
        .collect();
    provenance.submit_blocking(rest).unwrap();
    assert_eq!(provenance.log().size(), 40);

    let product = gs1::normalize("https://id.gs1.org/01/10614141073464/21/2003");
    let history = provenance.history(&product, 100).unwrap();
    assert_eq!(history.total, 4);
    let indexes: Vec<u64> = history.events.iter().map(|e| e.index).collect();
    assert_eq!(indexes, vec![3, 13, 24, 33]);
    for event in &history.events {
        assert!(event.statement.names(&product));
        assert_eq!(event.statement.submitter, BRAND);
        verify_inclusion(
            &leaf_hash(&event.entry),
            event.index,
            history.checkpoint.size,
            &event.proof,
            &history.checkpoint.root,
        )
        .unwrap();
    }
    let latest_two = provenance.history(&product, 2).unwrap();
    assert_eq!((latest_two.total, latest_two.events.len()), (4, 2));
    assert_eq!(latest_two.events[0].index, 24);

    let bundle = history.bundle().unwrap();
    let log_key = provenance.log().verifier().clone();
    let verified = verify_bundle(&bundle, &log_key, &[], 0).unwrap();
    assert_eq!(verified.origin, "trace.example/2026h2");
    assert_eq!(verified.events.len(), 4);
    assert_eq!(verified.product, product);
    // The submitter's signature in a statement verifies with the submitter's key.
    let statement = &verified.events[0].1;
    assert!(
        brand()
            .verifier()
            .verify(&signed_message(&statement.event_hash), &statement.signature)
    );

    // Witness quorum: required but absent, then cosigned.
    let witness_verifier = witness().verifier();
    let witnesses: Vec<&dyn NoteVerifier> = vec![&witness_verifier];
    assert!(matches!(
        verify_bundle(&bundle, &log_key, &witnesses, 1),
        Err(BundleError::Checkpoint(_))
    ));
    let mut note = provenance::Note::parse(history.checkpoint.note.as_bytes()).unwrap();
    note.add_signature(&witness().at(1_795_000_000)).unwrap();
    provenance
        .log()
        .add_cosignatures(note.encode().as_bytes())
        .unwrap();
    let cosigned = provenance.history(&product, 100).unwrap().bundle().unwrap();
    let verified = verify_bundle(&cosigned, &log_key, &witnesses, 1).unwrap();
    assert_eq!(verified.cosigners, vec!["witness.example/w1".to_string()]);

    // A restart rebuilds the index from the entries.
    drop(provenance);
    let (provenance, recovery) = Provenance::open(config(&dir)).unwrap();
    assert_eq!(recovery.size, 40);
    let reopened = provenance.history(&product, 100).unwrap();
    assert_eq!(
        reopened.events,
        provenance.history(&product, 100).unwrap().events
    );
    assert_eq!(
        reopened.events.iter().map(|e| e.index).collect::<Vec<_>>(),
        indexes
    );
    assert_eq!(
        provenance
            .history("01/10614141073464/21/9999", 10)
            .unwrap()
            .total,
        0
    );
}

// Goal: every single flipped bit of a bundle is refused.
#[test]
fn every_flipped_bit_of_a_bundle_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let (provenance, _) = Provenance::open(config(temp.path())).unwrap();
    let events: Vec<Submission> = (0..5)
        .map(|i| submission(&provenance, &object_event(7, i)))
        .chain((0..20).map(|i| submission(&provenance, &object_event(100 + i, 0))))
        .collect();
    provenance.submit_blocking(events).unwrap();
    let product = gs1::normalize("urn:epc:id:sgtin:0614141.107346.7");
    let history = provenance.history(&product, 2).unwrap();
    let bundle = history.bundle().unwrap();
    let log_key = provenance.log().verifier().clone();
    verify_bundle(&bundle, &log_key, &[], 0).unwrap();
    for bit in 0..bundle.len() * 8 {
        let mut flipped = bundle.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert!(
            verify_bundle(&flipped, &log_key, &[], 0).is_err(),
            "bit {bit}"
        );
    }
    // And a bundle under another log's key.
    let other = Ed25519Signer::new("trace.example/2026h2", &[1; 32])
        .unwrap()
        .verifier();
    assert!(verify_bundle(&bundle, &other, &[], 0).is_err());
}

// Goal: unknown submitters, malformed and wrong signatures, and invalid events are refused
// before anything is queued.
#[test]
fn bad_submissions_are_refused() {
    let temp = tempfile::tempdir().unwrap();
    let (provenance, _) = Provenance::open(config(temp.path())).unwrap();
    let value = event(OBJECT_EVENT);
    let good = sign(&brand(), &value);
    assert_eq!(
        provenance.prepare("stranger.example", &value, &good, 0),
        Err(SubmitError::UnknownSubmitter("stranger.example".into()))
    );
    assert_eq!(
        provenance.prepare(BRAND, &value, "AAAA", 0),
        Err(SubmitError::SignatureEncoding)
    );
    let other = sign(&brand(), &object_event(1, 1));
    assert_eq!(
        provenance.prepare(BRAND, &value, &other, 0),
        Err(SubmitError::Signature)
    );
    let impostor = Ed25519Signer::new(BRAND, &[12; 32]).unwrap();
    assert_eq!(
        provenance.prepare(BRAND, &value, &sign(&impostor, &value), 0),
        Err(SubmitError::Signature)
    );
    let invalid = event(r#"{"type":"ObjectEvent"}"#);
    assert!(matches!(
        provenance.prepare(BRAND, &invalid, &sign(&brand(), &invalid), 0),
        Err(SubmitError::Event(_))
    ));
    assert!(provenance.prepare(BRAND, &value, &good, 0).is_ok());
    assert_eq!(provenance.log().size(), 0);
}

// Goal: concurrent submitters are integrated in shared batches, each answered with its own
// receipts; after shutdown, submissions are refused.
#[test]
fn concurrent_submissions_share_batches() {
    let temp = tempfile::tempdir().unwrap();
    let (provenance, _) = Provenance::open(config(temp.path())).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|thread| {
            let provenance = provenance.clone();
            std::thread::spawn(move || {
                for round in 0..10 {
                    let batch: Vec<Submission> = (0..10)
                        .map(|i| {
                            submission(
                                &provenance,
                                &object_event(thread * 1000 + round * 10 + i, 0),
                            )
                        })
                        .collect();
                    let receipts = provenance.submit_blocking(batch).unwrap();
                    assert_eq!(receipts.len(), 10);
                    assert!(receipts.windows(2).all(|w| w[1].index == w[0].index + 1));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(provenance.log().size(), 400);
    provenance.shutdown();
    let refused = provenance.submit_blocking(vec![submission(&provenance, &object_event(1, 1))]);
    assert!(matches!(
        refused.as_deref().map_err(Arc::as_ref),
        Err(LogError::Closed)
    ));
}
