//! Target `provlog`: the provenance log's readers of bytes from outside (`crates/provlog`,
//! `crates/provenance`): binary statements, offline proof bundles and their verification, EPCIS
//! 2.0 events as JSON (RFC 8785 form, validation, the statement they become), signed checkpoint
//! notes, checkpoint bodies, witness cosignatures a log is sent, inclusion and consistency
//! proofs, tile paths and entry bundles.
//!
//! The input's first byte picks the reader (its value modulo [`KINDS`]; the `*_KIND` constants);
//! the rest is what it reads. Everything is checked against a small real log, built once with
//! the service the server runs (`provlog::Provenance` in a temporary directory, its key from a
//! fixed seed so the seeds are the same on every run): its entries, its tree, and the checkpoint
//! texts it signed.
//!
//! Properties: never a panic. Every format that decodes re-encodes to exactly its bytes
//! (statements, bundles, notes, checkpoint bodies, tile paths, entry bundles), and
//! `statement_keys` emits keys for exactly the statements `Statement::decode` accepts. A bundle,
//! note, proof or entry bundle that verifies states only what the log committed: its checkpoint
//! text is one the log signed, every event is the log's entry at its index with the log's proof,
//! every proof is the log's (so no mutation of a signed or hashed part verifies); a bundle that
//! verifies still verifies, to the same result, rebuilt from its decoded parts (note and
//! statements re-encoded); a witness quorum never verifies what the log key alone refuses. An
//! EPCIS event's RFC 8785 form parses back to the same value and is a fixed point; the canonical
//! form validates to the same facts; a valid event signed by its submitter becomes a statement
//! that decodes back to itself. A checkpoint body signed with the log's key opens to the same
//! checkpoint. A cosignature the log accepts leaves a note that opens with the witness quorum.

use std::collections::HashSet;
use std::fmt::Debug;
use std::path::Path;

use provenance::{
    COSIGNATURE_TIMESTAMP_MAX, Checkpoint, CheckpointError, CosignatureV1Signer,
    CosignatureV1Verifier, Ed25519Signer, Ed25519Verifier, Hash, NOTE_SIZE_MAX, Note, NoteSigner,
    NoteVerifier, Tile, TilePath, Tree, base64, check_bundle, decode_bundle, encode_bundle,
    leaf_hash, new_tiles, open_checkpoint, parse_tile_path, verify_consistency, verify_inclusion,
};
use provlog::statement::{event_key, product_key, signed_message, statement_keys};
use provlog::{
    AddCosignatureError, Bundle, BundleEvent, Identifier, LOG_KEY_FILE, Log, LogConfig, Provenance,
    ProvenanceConfig, Role, Statement, SubmitError, VerifiedBundle, epcis, gs1, jcs,
    prepare_with_key, verify_bundle,
};
use serde_json::Value;
use storage::MemVfs;

use crate::Target;
use crate::mutate::mutate_bytes;
use crate::prng::Prng;
use crate::targets::json::{edit_text, node_at, paths, remove_at};

/// Readers, by the input's first byte modulo [`KINDS`].
pub const STATEMENT_KIND: u8 = 0;
pub const BUNDLE_KIND: u8 = 1;
pub const EVENT_KIND: u8 = 2;
pub const NOTE_KIND: u8 = 3;
pub const BODY_KIND: u8 = 4;
pub const COSIGN_KIND: u8 = 5;
pub const INCLUSION_KIND: u8 = 6;
pub const CONSISTENCY_KIND: u8 = 7;
pub const TILE_PATH_KIND: u8 = 8;
pub const ENTRY_BUNDLE_KIND: u8 = 9;
pub const KINDS: u8 = 10;

const ORIGIN: &str = "fuzz.example/provenance";
const WITNESS: &str = "witness.example/w1";
const SUBMITTER: &str = "brand.example/acme";
/// The log's clock for every statement (the service takes it as an argument).
const RECORDED_MS: u64 = 1_795_000_000_000;
/// Entries per batch of the seed log: one checkpoint each (sizes 1, 3, 43 and 300), a full
/// level-0 tile and a partial one.
const BATCHES: [usize; 4] = [1, 2, 40, 257];
/// The serial whose history the bundle seeds prove (every tenth object event names it).
const PRODUCT_SERIAL: u32 = 2003;
/// Accepted cosignatures after which the in-memory log is rebuilt, so that its checkpoint file
/// does not grow for the whole run.
const COSIGNED_MAX: u64 = 4096;

pub(crate) fn log_signer() -> Ed25519Signer {
    Ed25519Signer::new(ORIGIN, &[7; 32]).expect("a valid key name")
}

fn witness() -> CosignatureV1Signer {
    CosignatureV1Signer::new(WITNESS, &[9; 32]).expect("a valid key name")
}

fn submitter() -> Ed25519Signer {
    Ed25519Signer::new(SUBMITTER, &[11; 32]).expect("a valid key name")
}

/// Object event `index` of the seed log: serial `2000 + index % 10`, a minute of its own.
fn object_event(index: usize) -> String {
    format!(
        r#"{{"type":"ObjectEvent","action":"OBSERVE","bizStep":"receiving",
            "eventTime":"2026-11-11T{:02}:{:02}:00+08:00","eventTimeZoneOffset":"+08:00",
            "epcList":["urn:epc:id:sgtin:0614141.107346.{}"]}}"#,
        index / 60 % 24,
        index % 60,
        2000 + index % 10
    )
}

/// One event of every other type (GS1's examples, condensed), and spellings the normaliser
/// rewrites (a Digital Link, a lot class, a GTIN pattern, a percent-escaped serial).
const OTHER_EVENTS: [&str; 5] = [
    r#"{
    "type": "AggregationEvent", "eventTime": "2013-06-08T14:58:56.591Z",
    "eventTimeZoneOffset": "+02:00", "parentID": "urn:epc:id:sscc:0614141.1234567890",
    "childEPCs": ["urn:epc:id:sgtin:0614141.107346.2017", "https://id.gs1.org/01/10614141073464/21/2018"],
    "childQuantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": 10}],
    "action": "ADD", "bizStep": "packing"
}"#,
    r#"{
    "type": "TransformationEvent", "eventTime": "2013-10-31T14:58:56.591Z",
    "eventTimeZoneOffset": "+08:00", "inputEPCList": ["urn:epc:id:sgtin:4012345.011122.25"],
    "inputQuantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.011111.4444", "quantity": 10.5, "uom": "KGM"}],
    "outputEPCList": ["urn:epc:id:sgtin:4012345.077889.25%2F1"],
    "ilmd": {"bestBeforeDate": "2014-12-10", "n": 1e21, "m": -0.000001}
}"#,
    r#"{
    "type": "TransactionEvent", "eventTime": "2020-07-03T10:00:00+08:00",
    "eventTimeZoneOffset": "+08:00", "action": "ADD",
    "bizTransactionList": [{"type": "inv", "bizTransaction": "urn:epcglobal:cbv:bt:5200001000008:4711"}],
    "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"], "quantityList": [{"epcClass": "urn:epc:idpat:sgtin:4012345.012345.*"}]
}"#,
    r#"{
    "type": "AssociationEvent", "eventTime": "2019-11-01T14:00:00.000+01:00",
    "eventTimeZoneOffset": "+01:00", "parentID": "urn:epc:id:grai:4012345.55555.987",
    "childEPCs": ["urn:epc:id:giai:4000001.12345"], "action": "ADD",
    "readPoint": {"id": "urn:epc:id:sgln:0614141.07346.1234"}
}"#,
    r#"{
    "type": "ObjectEvent", "eventTime": "2005-04-03T20:33:31.116000-06:00",
    "eventTimeZoneOffset": "-06:00", "action": "OBSERVE", "disposition": "in_transit",
    "epcList": ["https://id.gs1.org/01/10614141073464/21/2003", "urn:epc:id:sgtin:0614141.107346.2018"],
    "bizTransactionList": [{"type": "po", "bizTransaction": "http://transaction.acme.com/po/12345678"}],
    "eventID": "ni:///sha-256;df7bb3c352fef055578554f09f5e2aa41782150ced7bd0b8af24dd3ccb30ba69?ver=CBV2.0"
}"#,
];

/// Labels of outcomes: the error's variant names, without values (numbers and quoted text, which
/// would make every input a new outcome).
fn label<E: Debug>(error: &E) -> String {
    let mut out = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in format!("{error:?}").chars() {
        if quoted {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '0'..='9' => {}
            _ => out.push(c),
        }
    }
    out.chars().take(80).collect()
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    if let Some(slice) = bytes.get(at..at + 8) {
        word.copy_from_slice(slice);
    }
    u64::from_be_bytes(word)
}

/// A proof input: two big-endian u64s, then 32-byte hashes (a ragged tail is ignored).
fn proof_input(kind: u8, first: u64, second: u64, proof: &[Hash]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&first.to_be_bytes());
    out.extend_from_slice(&second.to_be_bytes());
    for hash in proof {
        out.extend_from_slice(hash);
    }
    out
}

fn with_kind(kind: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(bytes);
    out
}

/// `json`'s members sorted as RFC 8785 sorts them, recursively: two values are the same JSON
/// value exactly when their sorted forms are equal.
fn sorted(json: &jcs::Json) -> jcs::Json {
    match json {
        jcs::Json::Array(items) => jcs::Json::Array(items.iter().map(sorted).collect()),
        jcs::Json::Object(members) => {
            let mut members: Vec<(String, jcs::Json)> = members
                .iter()
                .map(|(name, value)| (name.clone(), sorted(value)))
                .collect();
            members.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            jcs::Json::Object(members)
        }
        other => other.clone(),
    }
}

pub struct Provlog {
    log_signer: Ed25519Signer,
    log_key: Ed25519Verifier,
    witness: CosignatureV1Signer,
    witness_key: CosignatureV1Verifier,
    submitter: Ed25519Signer,
    submitter_key: Ed25519Verifier,
    /// Every entry of the seed log, its tree, and the normalised identifiers each names.
    entries: Vec<Vec<u8>>,
    tree: Tree,
    named: Vec<Vec<String>>,
    /// The texts of every checkpoint the log signed, and the notes it published.
    signed_texts: HashSet<String>,
    notes: Vec<String>,
    /// The same log in memory, which `COSIGN_KIND` inputs are sent to.
    cosign_log: Log<MemVfs>,
    cosigned: u64,
    seeds: Vec<Vec<u8>>,
}

impl Default for Provlog {
    fn default() -> Provlog {
        Provlog::new()
    }
}

impl Provlog {
    /// Builds the seed log with the real service in a temporary directory, and its seeds.
    #[must_use]
    pub fn new() -> Provlog {
        let log_signer = log_signer();
        let witness = witness();
        let submitter = submitter();
        let temp = tempfile::tempdir().expect("a temporary directory");
        let dir = temp.path().join("provenance");
        std::fs::create_dir_all(&dir).expect("the log's directory");
        // The key the service would create from OS randomness, fixed so that every run (and the
        // committed corpus) has the same checkpoints.
        std::fs::write(dir.join(LOG_KEY_FILE), format!("{}\n", log_signer.skey()))
            .expect("the log's key file");
        let (service, _) = Provenance::open(ProvenanceConfig {
            origin: ORIGIN.to_string(),
            submitters: vec![submitter.verifier()],
            witnesses: vec![witness.verifier()],
            ..ProvenanceConfig::new(&dir)
        })
        .expect("the seed log opens");
        let mut events: Vec<String> = (0..BATCHES.iter().sum::<usize>() - OTHER_EVENTS.len())
            .map(object_event)
            .collect();
        // The other types in the third batch, so that they sit inside the full tile.
        for (position, event) in OTHER_EVENTS.iter().enumerate() {
            events.insert(3 + position, (*event).to_string());
        }
        let mut notes = vec![service.log().published().note.to_string()];
        let mut cosigned_earlier = None;
        let mut start = 0;
        for count in BATCHES {
            let submissions = events[start..start + count]
                .iter()
                .map(|text| {
                    let json = jcs::parse(text.as_bytes()).expect("a seed event parses");
                    let signature =
                        base64::encode(&submitter.sign(&signed_message(&epcis::event_hash(&json))));
                    service
                        .prepare(SUBMITTER, &json, &signature, RECORDED_MS)
                        .expect("a seed event is valid and signed")
                })
                .collect();
            let receipts = service
                .submit_blocking(submissions)
                .expect("the seed log appends");
            assert!(
                receipts.iter().all(|r| !r.duplicate),
                "seed events are distinct"
            );
            start += count;
            notes.push(service.log().published().note.to_string());
            if start == 3 {
                // A cosignature of an earlier checkpoint than the published one.
                let mut note = Note::parse(notes[notes.len() - 1].as_bytes())
                    .expect("a published note parses");
                note.add_signature(&witness.at(1_795_000_000))
                    .expect("a valid witness name");
                cosigned_earlier = Some(note.encode());
            }
        }
        let log = service.log();
        let size = log.size();
        let entries: Vec<Vec<u8>> = (0..size)
            .map(|index| {
                log.entry(index)
                    .expect("the seed log reads")
                    .expect("a published entry")
            })
            .collect();
        let product = gs1::normalize(&format!("urn:epc:id:sgtin:0614141.107346.{PRODUCT_SERIAL}"));
        let history_bundle = |product: &str, limit: usize| {
            service
                .history(product, limit)
                .expect("the seed log reads")
                .bundle()
                .expect("a small bundle encodes")
        };
        let plain_bundles = [
            history_bundle(&product, 3),
            history_bundle("urn:epc:id:sscc:0614141.1234567890", 5),
            history_bundle(
                &gs1::normalize("urn:epc:class:lgtin:4012345.012345.998877"),
                1,
            ),
            history_bundle("01/00000000000000/21/none", 5),
        ];
        // Cosigned by the witness: the published checkpoint then carries both signatures.
        let mut published = Note::parse(log.published().note.as_bytes()).expect("a note parses");
        published
            .add_signature(&witness.at(1_795_000_001))
            .expect("a valid witness name");
        let cosigned_note = published.encode();
        log.add_cosignatures(cosigned_note.as_bytes())
            .expect("the log takes its witness's cosignature");
        notes.push(log.published().note.to_string());
        let cosigned_bundle = history_bundle(&product, 2);
        let tiles = new_tiles(0, size);
        let tile_seeds: Vec<Vec<u8>> = tiles
            .iter()
            .flat_map(|tile| {
                let mut paths = vec![tile.path()];
                if tile.level == 0 {
                    paths.push(tile.bundle_path());
                }
                paths
            })
            .map(|path| with_kind(TILE_PATH_KIND, path.as_bytes()))
            .collect();
        let entry_bundles: Vec<Vec<u8>> = [
            Tile {
                level: 0,
                index: 0,
                width: 3,
            },
            Tile {
                level: 0,
                index: 1,
                width: 44,
            },
        ]
        .iter()
        .map(|tile| {
            log.bundle(tile)
                .expect("the seed log reads")
                .expect("a published tile")
        })
        .map(|bundle| with_kind(ENTRY_BUNDLE_KIND, &bundle))
        .collect();
        service.shutdown();
        drop(service);
        drop(temp);

        let tree =
            Tree::from_leaf_hashes(&entries.iter().map(|e| leaf_hash(e)).collect::<Vec<_>>());
        let named = entries
            .iter()
            .map(|entry| {
                Statement::decode(entry)
                    .map(|s| s.identifiers.into_iter().map(|i| i.id).collect())
                    .unwrap_or_default()
            })
            .collect();
        let signed_texts = notes
            .iter()
            .map(|note| Note::parse(note.as_bytes()).expect("a note parses").text)
            .collect();

        let mut seeds = Vec::new();
        // Statements: one of each event type, and a plain object event.
        for index in [0, 3, 4, 5, 6, 7, 100] {
            seeds.push(with_kind(STATEMENT_KIND, &entries[index]));
        }
        for bundle in plain_bundles.iter().chain([&cosigned_bundle]) {
            seeds.push(with_kind(BUNDLE_KIND, bundle));
        }
        for event in OTHER_EVENTS
            .iter()
            .map(|e| (*e).to_string())
            .chain([object_event(9)])
        {
            seeds.push(with_kind(EVENT_KIND, event.as_bytes()));
        }
        for note in &notes {
            seeds.push(with_kind(NOTE_KIND, note.as_bytes()));
            let text = Note::parse(note.as_bytes()).expect("a note parses").text;
            seeds.push(with_kind(BODY_KIND, text.as_bytes()));
        }
        seeds.push(with_kind(COSIGN_KIND, cosigned_note.as_bytes()));
        if let Some(note) = &cosigned_earlier {
            seeds.push(with_kind(COSIGN_KIND, note.as_bytes()));
        }
        for (index, size) in [(0, 1), (2, 3), (40, 43), (0, 300), (150, 300), (299, 300)] {
            let proof = tree
                .inclusion_proof(index, size)
                .expect("a proof within the log");
            seeds.push(proof_input(INCLUSION_KIND, index, size, &proof));
        }
        for (size1, size2) in [(1, 3), (3, 43), (43, 300), (1, 300), (300, 300)] {
            let proof = tree
                .consistency_proof(size1, size2)
                .expect("a proof within the log");
            seeds.push(proof_input(CONSISTENCY_KIND, size1, size2, &proof));
        }
        seeds.extend(tile_seeds);
        seeds.extend(entry_bundles);

        let log_key = log_signer.verifier();
        let witness_key = witness.verifier();
        let cosign_log = memory_log(&log_signer, &witness_key, &entries);
        let target = Provlog {
            cosign_log,
            log_signer,
            log_key,
            witness,
            witness_key,
            submitter_key: submitter.verifier(),
            submitter,
            entries,
            tree,
            named,
            signed_texts,
            notes,
            cosigned: 0,
            seeds,
        };
        let published = target.cosign_log.published();
        assert_eq!(
            (published.size, published.root),
            (target.tree.size(), target.tree.root()),
            "the in-memory log is the seed log"
        );
        target
    }

    fn new_cosign_log(&self) -> Log<MemVfs> {
        memory_log(&self.log_signer, &self.witness_key, &self.entries)
    }
}

/// The seed log again, in memory, batch by batch (so it signs the same checkpoints).
fn memory_log(
    signer: &Ed25519Signer,
    witness: &CosignatureV1Verifier,
    entries: &[Vec<u8>],
) -> Log<MemVfs> {
    let log = Log::open(
        MemVfs::new(),
        Path::new("/provenance"),
        LogConfig {
            signer: signer.clone(),
            witnesses: vec![witness.clone()],
            keys: statement_keys,
        },
    )
    .expect("a log opens on an empty in-memory disk")
    .0;
    let mut start = 0;
    for count in BATCHES {
        log.append(&entries[start..start + count])
            .expect("appends in memory");
        start += count;
    }
    log
}

// Running inputs.

fn run_statement(bytes: &[u8]) -> Result<String, String> {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    statement_keys(bytes, &mut |key| keys.push(key.to_vec()));
    let statement = match Statement::decode(bytes) {
        Ok(statement) => statement,
        Err(error) => {
            if !keys.is_empty() {
                return Err(format!(
                    "statement-keys: statement_keys emits {} keys for bytes that do not \
                     decode ({error})",
                    keys.len()
                ));
            }
            return Ok(format!("statement/error/{}", label(&error)));
        }
    };
    let encoded = statement
        .encode()
        .map_err(|e| format!("statement-reencode: a decoded statement does not encode: {e}"))?;
    if encoded != bytes {
        return Err(format!(
            "statement-reencode: a statement of {} bytes re-encodes to {} other bytes",
            bytes.len(),
            encoded.len()
        ));
    }
    let expected: Vec<Vec<u8>> = statement
        .identifiers
        .iter()
        .map(|i| product_key(&i.id))
        .chain([event_key(&statement.event_hash)])
        .collect();
    if keys != expected {
        return Err(format!(
            "statement-keys: statement_keys emits {} keys, the decoded statement names {}",
            keys.len(),
            expected.len()
        ));
    }
    // What a verifier shows of a statement from a bundle: any i64 time formats.
    let _ = epcis::format_millis(statement.event_time_ms);
    Ok(format!(
        "statement/ok/{}/{}/{}",
        statement.event_type.name(),
        statement.action.name(),
        statement.identifiers.len().min(3)
    ))
}

impl Provlog {
    fn run_bundle(&self, bytes: &[u8]) -> Result<String, String> {
        let bundle = match Bundle::decode(bytes) {
            Ok(bundle) => bundle,
            Err(error) => {
                return match verify_bundle(bytes, &self.log_key, &[], 0) {
                    Ok(_) => Err("bundle-decode: a bundle that does not decode verifies".into()),
                    Err(refusal) if refusal != error => Err(format!(
                        "bundle-decode: decode says {error:?}, verify {refusal:?}"
                    )),
                    Err(_) => Ok(format!("bundle/decode/{}", label(&error))),
                };
            }
        };
        let encoded = bundle
            .encode()
            .map_err(|e| format!("bundle-reencode: a decoded bundle does not encode: {e}"))?;
        if encoded != bytes {
            return Err("bundle-reencode: a bundle re-encodes to other bytes".into());
        }
        let witnesses: [&dyn NoteVerifier; 1] = [&self.witness_key];
        let plain = verify_bundle(bytes, &self.log_key, &[], 0);
        let cosigned = verify_bundle(bytes, &self.log_key, &witnesses, 1);
        let verified = match (plain, &cosigned) {
            (Err(error), Ok(_)) => {
                return Err(format!(
                    "bundle-quorum: verifies with a witness quorum, not with the log key alone \
                     ({error})"
                ));
            }
            (Err(error), Err(_)) => return Ok(format!("bundle/refused/{}", label(&error))),
            (Ok(verified), Ok(with_witness))
                if (&with_witness.events, &with_witness.root)
                    != (&verified.events, &verified.root)
                    || with_witness.cosigners != [WITNESS] =>
            {
                return Err("bundle-quorum: the witness quorum verifies another bundle".into());
            }
            (Ok(verified), _) => verified,
        };
        self.check_committed(&bundle, &verified)?;
        // Rebuilt from its decoded parts (the note and every statement re-encoded), it
        // verifies to the same result.
        let note = Note::parse(bundle.checkpoint.as_bytes())
            .map_err(|e| format!("bundle-forged: a verified checkpoint does not parse: {e}"))?;
        let rebuilt = Bundle {
            checkpoint: note.encode(),
            product: verified.product.clone(),
            events: bundle
                .events
                .iter()
                .zip(&verified.events)
                .map(|(event, (index, statement))| {
                    Ok(BundleEvent {
                        index: *index,
                        entry: statement.encode().map_err(|e| {
                            format!("bundle-rebuild: a verified statement does not encode: {e}")
                        })?,
                        proof: event.proof.clone(),
                    })
                })
                .collect::<Result<_, String>>()?,
        }
        .encode()
        .map_err(|e| format!("bundle-rebuild: a verified bundle does not encode: {e}"))?;
        match verify_bundle(&rebuilt, &self.log_key, &[], 0) {
            Ok(again) if again == verified => {}
            Ok(_) => return Err("bundle-rebuild: verifies to another result".into()),
            Err(error) => {
                return Err(format!(
                    "bundle-rebuild: a verified bundle, re-encoded, is refused: {error}"
                ));
            }
        }
        Ok(format!(
            "bundle/ok/{}/{}",
            verified.events.len().min(4),
            if cosigned.is_ok() { "cosigned" } else { "log" }
        ))
    }

    /// A verified bundle states only what the log committed (see the module documentation).
    fn check_committed(&self, bundle: &Bundle, verified: &VerifiedBundle) -> Result<(), String> {
        const HINT: &str = "(if the statement or bundle formats changed, regenerate the corpus: \
                            --write-corpus)";
        let text = Note::parse(bundle.checkpoint.as_bytes())
            .map(|note| note.text)
            .map_err(|e| format!("bundle-forged: a verified checkpoint does not parse: {e}"))?;
        if !self.signed_texts.contains(&text) {
            return Err(format!(
                "bundle-forged: a checkpoint the log never signed verifies: {text:?} {HINT}"
            ));
        }
        if self.tree.root_at(verified.size).ok() != Some(verified.root) {
            return Err(format!(
                "bundle-forged: the root at size {} is not the log's",
                verified.size
            ));
        }
        if verified.events.len() != bundle.events.len() {
            return Err("bundle-forged: events verified and events sent differ in number".into());
        }
        for (event, (index, statement)) in bundle.events.iter().zip(&verified.events) {
            let entry = usize::try_from(*index)
                .ok()
                .and_then(|i| self.entries.get(i))
                .ok_or_else(|| format!("bundle-forged: an event at index {index} verifies"))?;
            if event.index != *index || event.entry != *entry {
                return Err(format!(
                    "bundle-forged: an entry the log does not hold at index {index} verifies"
                ));
            }
            if self
                .tree
                .inclusion_proof(*index, verified.size)
                .ok()
                .as_ref()
                != Some(&event.proof)
            {
                return Err(format!(
                    "bundle-forged: a proof that is not the log's verifies (index {index})"
                ));
            }
            if !statement.names(&verified.product) {
                return Err("bundle-forged: a statement that does not name the product".into());
            }
        }
        Ok(())
    }

    fn run_event(&self, bytes: &[u8]) -> Result<String, String> {
        let json = match jcs::parse(bytes) {
            Ok(json) => json,
            Err(error) => {
                let duplicate = error.to_string().contains("duplicate member");
                return Ok(format!(
                    "event/json/{:?}{}",
                    error.classify(),
                    if duplicate { "/duplicate" } else { "" }
                ));
            }
        };
        let canonical = jcs::canonicalize(&json);
        let again = jcs::parse(&canonical).map_err(|e| {
            format!(
                "jcs-reparse: the RFC 8785 form does not parse ({e}): {}",
                String::from_utf8_lossy(&canonical[..canonical.len().min(200)])
            )
        })?;
        if sorted(&again) != sorted(&json) {
            return Err(format!(
                "jcs-reparse: the RFC 8785 form parses to another value: {}",
                String::from_utf8_lossy(&canonical[..canonical.len().min(200)])
            ));
        }
        if jcs::canonicalize(&again) != canonical {
            return Err("jcs-fixed-point: the RFC 8785 form of the RFC 8785 form differs".into());
        }
        let validated = match epcis::validate(&json) {
            Ok(validated) => validated,
            Err(error) => {
                let pointer: String = error
                    .pointer
                    .chars()
                    .filter(|c| !c.is_ascii_digit())
                    .collect();
                let word: String = error
                    .reason
                    .split(' ')
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .filter(|c| !c.is_ascii_digit())
                    .collect();
                return Ok(format!("event/invalid{pointer}/{word}"));
            }
        };
        match epcis::validate(&again) {
            Ok(same) if same == validated => {}
            Ok(_) => {
                return Err("epcis-canonical: the RFC 8785 form validates to other facts".into());
            }
            Err(error) => {
                return Err(format!(
                    "epcis-canonical: the RFC 8785 form of a valid event is refused: {error}"
                ));
            }
        }
        if validated.event_hash != epcis::event_hash(&json) {
            return Err("epcis-hash: the validated hash is not the event's".into());
        }
        if !validated.identifiers.windows(2).all(|w| w[0] < w[1]) {
            return Err("epcis-identifiers: not sorted and unique".into());
        }
        let signature =
            base64::encode(&self.submitter.sign(&signed_message(&validated.event_hash)));
        match prepare_with_key(&self.submitter_key, &json, &signature, RECORDED_MS) {
            Ok(submission) => {
                match Statement::decode(&submission.entry) {
                    Ok(decoded) if decoded == submission.statement => {}
                    Ok(_) => {
                        return Err("statement-roundtrip: decodes to another statement".into());
                    }
                    Err(error) => {
                        return Err(format!(
                            "statement-roundtrip: an encoded statement does not decode: {error}"
                        ));
                    }
                }
                run_statement(&submission.entry)?;
                Ok(format!(
                    "event/ok/{}/{}",
                    validated.event_type.name(),
                    validated.identifiers.len().min(3)
                ))
            }
            Err(SubmitError::Statement(error)) => Ok(format!("event/statement/{}", label(&error))),
            Err(error) => Err(format!(
                "submit: a valid event, signed by its submitter, is refused: {error}"
            )),
        }
    }

    fn run_note(&self, bytes: &[u8]) -> Result<String, String> {
        if let Ok(note) = Note::parse(bytes)
            && note.encode().as_bytes() != bytes
        {
            return Err("note-reencode: a note re-encodes to other bytes".into());
        }
        let witnesses: [&dyn NoteVerifier; 1] = [&self.witness_key];
        let signed = match open_checkpoint(bytes, ORIGIN, &self.log_key, &witnesses, 0) {
            Ok(signed) => signed,
            Err(error) => return Ok(format!("note/refused/{}", label(&error))),
        };
        if !self.signed_texts.contains(&signed.note.text) {
            return Err(format!(
                "checkpoint-forged: a checkpoint the log never signed opens: {:?}",
                signed.note.text
            ));
        }
        if signed.checkpoint.body() != signed.note.text {
            return Err("checkpoint-reencode: an opened checkpoint's body is not its text".into());
        }
        let cosigned = open_checkpoint(bytes, ORIGIN, &self.log_key, &witnesses, 1).is_ok();
        Ok(format!(
            "note/ok/{}/{}",
            if cosigned { "cosigned" } else { "log" },
            signed.note.unverified.len().min(2)
        ))
    }

    fn run_body(&self, bytes: &[u8]) -> Result<String, String> {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return Ok("body/not-utf8".to_string());
        };
        let checkpoint = match Checkpoint::parse_body(text) {
            Ok(checkpoint) => checkpoint,
            Err(error) => return Ok(format!("body/refused/{}", label(&error))),
        };
        if checkpoint.body() != text {
            return Err("checkpoint-reencode: a checkpoint body re-encodes to other text".into());
        }
        // Signed, it would be a note over the size limit (refused as such, not a failure).
        if text.len() + 1024 > NOTE_SIZE_MAX {
            return Ok("body/too-large".to_string());
        }
        let note = checkpoint
            .sign(&self.log_signer)
            .map_err(|e| format!("checkpoint-sign: a parsed checkpoint cannot be signed: {e}"))?;
        let opened = open_checkpoint(note.as_bytes(), ORIGIN, &self.log_key, &[], 0);
        match opened {
            Ok(signed) if checkpoint.origin() == ORIGIN && signed.checkpoint == checkpoint => {
                Ok(format!("body/ok/{}", checkpoint.extensions().len().min(2)))
            }
            Err(CheckpointError::Origin { .. }) if checkpoint.origin() != ORIGIN => {
                Ok("body/ok/other-origin".to_string())
            }
            Ok(_) => Err("checkpoint-sign: signed, it opens to another checkpoint".into()),
            Err(error) => Err(format!(
                "checkpoint-sign: signed by the log's key, it does not open: {error}"
            )),
        }
    }

    fn run_cosign(&mut self, bytes: &[u8]) -> Result<String, String> {
        match self.cosign_log.add_cosignatures(bytes) {
            Ok(merged) => {
                let witnesses: [&dyn NoteVerifier; 1] = [&self.witness_key];
                let signed =
                    open_checkpoint(merged.as_bytes(), ORIGIN, &self.log_key, &witnesses, 1)
                        .map_err(|e| {
                            format!(
                                "cosign-merged: the merged note does not open with its witness: {e}"
                            )
                        })?;
                if !self.signed_texts.contains(&signed.note.text) {
                    return Err(format!(
                        "cosign-forged: a cosigned checkpoint the log never signed is taken: {:?}",
                        signed.note.text
                    ));
                }
                let published = self.cosign_log.published().size == signed.checkpoint.size();
                self.cosigned += 1;
                if self.cosigned.is_multiple_of(COSIGNED_MAX) {
                    self.cosign_log = self.new_cosign_log();
                }
                Ok(format!(
                    "cosign/ok/{}",
                    if published { "published" } else { "earlier" }
                ))
            }
            Err(AddCosignatureError::Rejected(error)) => {
                Ok(format!("cosign/refused/{}", label(&error)))
            }
            Err(AddCosignatureError::Log(error)) => {
                Err(format!("cosign-log: the in-memory log failed: {error}"))
            }
        }
    }

    /// The log's root at `size`, or a hash no tree of the log has beyond it.
    fn root(&self, size: u64) -> Hash {
        self.tree
            .root_at(size)
            .unwrap_or_else(|_| leaf_hash(b"fuzz: no tree of this size"))
    }

    fn run_inclusion(&self, bytes: &[u8]) -> Result<String, String> {
        let (index, size) = (u64_at(bytes, 0), u64_at(bytes, 8));
        let proof: Vec<Hash> = bytes
            .get(16..)
            .unwrap_or_default()
            .chunks_exact(32)
            .map(|chunk| chunk.try_into().expect("32 bytes"))
            .collect();
        let leaf = self
            .tree
            .leaf_hash(index)
            .unwrap_or_else(|| leaf_hash(b"fuzz: no such entry"));
        let root = self.root(size);
        if let Ok(true_proof) = self.tree.inclusion_proof(index, size)
            && let Err(error) = verify_inclusion(&leaf, index, size, &true_proof, &root)
        {
            return Err(format!(
                "inclusion-true: the log's own proof of {index} in {size} is refused: {error}"
            ));
        }
        match verify_inclusion(&leaf, index, size, &proof, &root) {
            Ok(()) if self.tree.inclusion_proof(index, size).ok() == Some(proof) => {
                Ok("inclusion/ok".to_string())
            }
            Ok(()) => Err(format!(
                "inclusion-forged: a proof that is not the log's verifies ({index} in {size})"
            )),
            Err(error) => Ok(format!("inclusion/refused/{}", label(&error))),
        }
    }

    fn run_consistency(&self, bytes: &[u8]) -> Result<String, String> {
        let (size1, size2) = (u64_at(bytes, 0), u64_at(bytes, 8));
        let proof: Vec<Hash> = bytes
            .get(16..)
            .unwrap_or_default()
            .chunks_exact(32)
            .map(|chunk| chunk.try_into().expect("32 bytes"))
            .collect();
        let (root1, root2) = (self.root(size1), self.root(size2));
        if size1 > 0
            && size1 <= size2
            && let Ok(true_proof) = self.tree.consistency_proof(size1, size2)
            && let Err(error) = verify_consistency(size1, size2, &true_proof, &root1, &root2)
        {
            return Err(format!(
                "consistency-true: the log's own proof from {size1} to {size2} is refused: {error}"
            ));
        }
        match verify_consistency(size1, size2, &proof, &root1, &root2) {
            Ok(()) if size1 == size2 && proof.is_empty() => Ok("consistency/ok/same".to_string()),
            Ok(()) if self.tree.consistency_proof(size1, size2).ok() == Some(proof) => {
                Ok("consistency/ok".to_string())
            }
            Ok(()) => Err(format!(
                "consistency-forged: a proof that is not the log's verifies ({size1} to {size2})"
            )),
            Err(error) => Ok(format!("consistency/refused/{}", label(&error))),
        }
    }

    fn run_entry_bundle(&self, bytes: &[u8]) -> Result<String, String> {
        let entries = match decode_bundle(bytes) {
            Ok(entries) => entries,
            Err(error) => return Ok(format!("entries/refused/{}", label(&error))),
        };
        match encode_bundle(&entries) {
            Ok(encoded) if encoded == bytes => {}
            _ => return Err("entries-reencode: an entry bundle re-encodes to other bytes".into()),
        }
        let width = u16::try_from(entries.len()).expect("at most 256 entries");
        let mut matched = "none";
        for index in [0u64, 1] {
            let tile = Tile {
                level: 0,
                index,
                width,
            };
            let Some(hashes) = self.tree.tile(&tile) else {
                continue;
            };
            if check_bundle(&entries, &hashes).is_ok() {
                let start = usize::try_from(index).expect("0 or 1") * 256;
                let ours = &self.entries[start..start + entries.len()];
                if ours.iter().zip(&entries).any(|(a, b)| a.as_slice() != *b) {
                    return Err(format!(
                        "entries-forged: entries the log does not hold match tile {index}"
                    ));
                }
                matched = "tile";
            }
        }
        Ok(format!("entries/ok/{matched}"))
    }
}

fn run_tile_path(bytes: &[u8]) -> Result<String, String> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok("tile/not-utf8".to_string());
    };
    let (formatted, kind, tile) = match parse_tile_path(text) {
        Ok(TilePath::Hashes(tile)) => (tile.path(), "hashes", tile),
        Ok(TilePath::Entries(tile)) => (tile.bundle_path(), "entries", tile),
        Err(error) => return Ok(format!("tile/refused/{}", label(&error))),
    };
    if formatted != text {
        return Err(format!(
            "tile-path-reencode: {text:?} parses to a tile whose path is {formatted:?}"
        ));
    }
    Ok(format!(
        "tile/ok/{kind}/{}",
        if tile.is_full() { "full" } else { "partial" }
    ))
}

// Mutations.

/// Checkpoint lines near the valid ones: origins, sizes, roots.
const CHECKPOINT_LINES: &[&str] = &[
    ORIGIN,
    "fuzz.example/provenance ",
    "other.example/log",
    "",
    "0",
    "1",
    "01",
    "3",
    "43",
    "299",
    "300",
    "301",
    "-1",
    "+1",
    "18446744073709551615",
    "18446744073709551616",
    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=",
    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
    "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "ext",
    "\u{2014} witness.example/w1 AAAA",
];

/// Tokens of notes, tile paths and base64.
const NOTE_TOKENS: &[&str] = &[
    "\n",
    "\n\n",
    "\u{2014} ",
    "\u{2014}",
    " ",
    "+",
    "/",
    "=",
    "==",
    "x",
    "x000/",
    "x999/",
    "000",
    "001",
    ".p/",
    ".p/255",
    ".p/256",
    ".p/0",
    "tile/",
    "entries",
    "0",
    "63",
    "64",
    "A",
    "\r",
];

/// Identifier texts near the ones the normaliser writes or keeps.
const IDENTIFIERS: &[&str] = &[
    "01/10614141073464/21/2003",
    "01/10614141073464/21/2017",
    "urn:epc:id:sscc:0614141.1234567890",
    "01/04012345123456/10/998877",
    "",
    "x",
    "\u{e9}",
];

/// EPCIS values on the edges of what validation accepts: identifiers of every spelling the
/// normaliser knows and near-misses, RFC 3339 times and offsets, event types and actions,
/// numbers that test the RFC 8785 number form.
const EVENT_VALUES: &[&str] = &[
    "\"urn:epc:id:sgtin:0614141.107346.2017\"",
    "\"urn:epc:id:sgtin:0614141.107346.\"",
    "\"urn:epc:id:sgtin:0614141.1073460.1\"",
    "\"urn:epc:id:sgtin:0614141.107346.%\"",
    "\"urn:epc:id:sgtin:0614141.107346.%2\"",
    "\"urn:epc:id:sgtin:0614141.107346.%ZZ\"",
    "\"urn:epc:id:sgtin:0614141.107346.%C3%A9\"",
    "\"urn:epc:id:sgtin:0614141.107346.%00\"",
    "\"urn:epc:id:sgtin:0614141.107346.%FF\"",
    "\"urn:epc:id:sgtin:.107346.1\"",
    "\"urn:epc:id:sgtin:\"",
    "\"urn:epc:class:lgtin:4012345.012345.998877\"",
    "\"urn:epc:class:lgtin:4012345.012345.\"",
    "\"urn:epc:idpat:sgtin:4012345.012345.*\"",
    "\"urn:epc:idpat:sgtin:4012345.012345\"",
    "\"https://id.gs1.org/01/10614141073464/21/2017\"",
    "\"https://id.gs1.org/01/10614141073465/21/2017\"",
    "\"https://id.gs1.org/01/1061414107346/21/2017\"",
    "\"https://id.gs1.org/01/10614141073464/10/LOT%2F1\"",
    "\"https://id.gs1.org/01/10614141073464\"",
    "\"https://id.gs1.org/01/10614141073464/21/\"",
    "\"https://example.com/01/96385074/21/%E2%82%AC\"",
    "\"https://id.gs1.org/01/614141073467/21/1?x=1#f\"",
    "\"a:b\"",
    "\"urn:\"",
    "\":x\"",
    "\"1a:b\"",
    "\"x y:z\"",
    "\"2026-02-29T00:00:00Z\"",
    "\"2028-02-29T00:00:00Z\"",
    "\"2100-02-29T00:00:00Z\"",
    "\"2000-02-29T00:00:00Z\"",
    "\"9999-12-31T23:59:59.999+14:00\"",
    "\"0000-01-01T00:00:00-12:00\"",
    "\"2026-11-11T24:00:00Z\"",
    "\"2026-11-11T23:59:60Z\"",
    "\"2026-11-11T00:00:00.Z\"",
    "\"2026-11-11T00:00:00.123456789012345678901234567890Z\"",
    "\"2026-11-11t00:00:00z\"",
    "\"2026-11-11T00:00:00+14:01\"",
    "\"2026-11-11T00:00:00\"",
    "\"2026-11-11T00:00:00+08:00:00\"",
    "\"2026-11-11T00:00:00\u{e9}+08:00\"",
    "\"+14:00\"",
    "\"-12:00\"",
    "\"+14:01\"",
    "\"-12:01\"",
    "\"+00:60\"",
    "\"+8:00\"",
    "\"\u{2212}08:00\"",
    "\"ObjectEvent\"",
    "\"AggregationEvent\"",
    "\"TransformationEvent\"",
    "\"TransactionEvent\"",
    "\"AssociationEvent\"",
    "\"ADD\"",
    "\"OBSERVE\"",
    "\"DELETE\"",
    "\"add\"",
    "1e21",
    "1e-7",
    "5e-324",
    "1.7976931348623157e308",
    "-0",
    "0.1",
    "123456789012345680000",
    "9007199254740993",
    "-1",
    "[]",
    "{}",
    "null",
    "true",
    "{\"id\":\"urn:epc:id:sgln:0614141.07346.1234\"}",
    "[{\"bizTransaction\":\"\"}]",
    "[{\"epcClass\":\"urn:epc:class:lgtin:4012345.012345.1\",\"quantity\":-1}]",
];

/// Keys an EPCIS event may carry.
const EVENT_KEYS: &[&str] = &[
    "type",
    "action",
    "eventTime",
    "eventTimeZoneOffset",
    "epcList",
    "childEPCs",
    "inputEPCList",
    "outputEPCList",
    "parentID",
    "quantityList",
    "childQuantityList",
    "inputQuantityList",
    "outputQuantityList",
    "readPoint",
    "bizLocation",
    "bizTransactionList",
    "sensorElementList",
    "transformationID",
    "eventID",
    "bizStep",
    "disposition",
];

impl Provlog {
    fn mutate_bundle(&self, prng: &mut Prng, payload: &mut Vec<u8>) -> bool {
        let Ok(mut bundle) = Bundle::decode(payload) else {
            return false;
        };
        let size = Note::parse(bundle.checkpoint.as_bytes())
            .ok()
            .and_then(|note| Checkpoint::parse_body(&note.text).ok())
            .map_or(self.tree.size(), |c| c.size());
        let count = bundle.events.len();
        match prng.below(9) {
            0 if count > 0 => {
                let at = prng.below(count);
                let index = bundle.events[at].index;
                let other = bundle.events[prng.below(count)].index;
                bundle.events[at].index = *prng.pick(&[
                    index.wrapping_add(1),
                    index.wrapping_sub(1),
                    0,
                    size.wrapping_sub(1),
                    size,
                    u64::MAX,
                    other,
                ]);
            }
            1 if count > 0 => {
                let at = prng.below(count);
                let entry = &mut bundle.events[at].entry;
                match prng.below(3) {
                    0 => *entry = prng.pick(&self.entries).clone(),
                    1 => {
                        if !self.mutate_statement(prng, entry) {
                            mutate_bytes(prng, entry, &[]);
                        }
                    }
                    _ => mutate_bytes(prng, entry, &[]),
                }
            }
            2 if count > 0 => {
                let at = prng.below(count);
                let proof = &mut bundle.events[at].proof;
                match prng.below(4) {
                    0 if !proof.is_empty() => {
                        let hash = prng.below(proof.len());
                        proof[hash][prng.below(32)] ^= 1 << prng.below(8);
                    }
                    1 if !proof.is_empty() => {
                        proof.remove(prng.below(proof.len()));
                    }
                    2 => proof.push(self.root(prng.below(300) as u64)),
                    _ => {
                        let index = prng.below(self.entries.len()) as u64;
                        *proof = self.tree.inclusion_proof(index, size).unwrap_or_default();
                    }
                }
            }
            3 => {
                bundle.product = match prng.below(3) {
                    0 => (*prng.pick(IDENTIFIERS)).to_string(),
                    1 => prng.pick(&self.named).first().cloned().unwrap_or_default(),
                    _ => {
                        let mut product = bundle.product.clone();
                        edit_text(prng, &mut product, &["/", "0", "21", "10", "%"]);
                        product
                    }
                };
            }
            4 => {
                if prng.one_in(2) {
                    bundle.checkpoint = prng.pick(&self.notes).clone();
                } else {
                    let mut note = bundle.checkpoint.clone().into_bytes();
                    if !self.mutate_note(prng, &mut note) {
                        mutate_bytes(prng, &mut note, &[]);
                    }
                    bundle.checkpoint = String::from_utf8_lossy(&note).to_string();
                }
            }
            5 => {
                // Another event of the product, with the log's proof: a valid bundle again,
                // unless the order or the size says otherwise.
                let below = usize::try_from(size).unwrap_or(usize::MAX);
                let candidates: Vec<usize> = (0..self.entries.len().min(below))
                    .filter(|&i| self.named[i].contains(&bundle.product))
                    .collect();
                if candidates.is_empty() {
                    return false;
                }
                let index = *prng.pick(&candidates);
                let event = BundleEvent {
                    index: index as u64,
                    entry: self.entries[index].clone(),
                    proof: self
                        .tree
                        .inclusion_proof(index as u64, size)
                        .unwrap_or_default(),
                };
                let at = prng.below(count + 1);
                bundle.events.insert(at, event);
                if prng.one_in(2) {
                    bundle.events.sort_by_key(|e| e.index);
                }
            }
            6 if count > 0 => match prng.below(3) {
                0 => {
                    bundle.events.remove(prng.below(count));
                }
                1 => {
                    let at = prng.below(count);
                    let copy = bundle.events[at].clone();
                    bundle.events.insert(at, copy);
                }
                _ => bundle.events.swap(prng.below(count), prng.below(count)),
            },
            _ => return false,
        }
        match bundle.encode() {
            Ok(bytes) => {
                *payload = bytes;
                true
            }
            Err(_) => false,
        }
    }

    fn mutate_statement(&self, prng: &mut Prng, payload: &mut Vec<u8>) -> bool {
        let Ok(mut statement) = Statement::decode(payload) else {
            return false;
        };
        match prng.below(7) {
            0 => {
                statement.identifiers.push(Identifier {
                    role: *prng.pick(&Role::ALL),
                    id: (*prng.pick(IDENTIFIERS)).to_string(),
                });
            }
            1 if !statement.identifiers.is_empty() => {
                let at = prng.below(statement.identifiers.len());
                statement.identifiers.remove(at);
            }
            2 if !statement.identifiers.is_empty() => {
                let at = prng.below(statement.identifiers.len());
                let identifier = &mut statement.identifiers[at];
                if prng.one_in(2) {
                    identifier.role = *prng.pick(&Role::ALL);
                } else {
                    edit_text(prng, &mut identifier.id, &["/", "0", "21", "%", "\u{e9}"]);
                }
            }
            3 => {
                let text = "x".repeat(*prng.pick(&[0usize, 1, 254, 255, 256]));
                match prng.below(3) {
                    0 => statement.submitter = text,
                    1 => statement.biz_step = text,
                    _ => statement.disposition = text,
                }
            }
            4 => {
                statement.event_time_ms =
                    *prng.pick(&[i64::MIN, -1, 0, 1, i64::MAX, 253_402_300_799_999]);
            }
            5 => {
                statement.event_time_zone_offset_minutes =
                    *prng.pick(&[i16::MIN, -720, 0, 840, 841, i16::MAX]);
            }
            _ => {
                // The identifier that makes the statement just too large for an entry.
                let size = payload.len();
                let room = provenance::ENTRY_SIZE_MAX.saturating_sub(size + 3);
                statement.identifiers.push(Identifier {
                    role: Role::Class,
                    id: "z".repeat(room + prng.below(2)),
                });
            }
        }
        statement.normalize_identifiers();
        match statement.encode() {
            Ok(bytes) => {
                *payload = bytes;
                true
            }
            Err(_) => false,
        }
    }

    fn mutate_note(&self, prng: &mut Prng, payload: &mut Vec<u8>) -> bool {
        let Ok(text) = String::from_utf8(payload.clone()) else {
            return false;
        };
        let Some(split) = text.rfind("\n\n") else {
            return false;
        };
        let (body, block) = (&text[..=split], &text[split + 2..]);
        let mut lines: Vec<String> = body.lines().map(str::to_string).collect();
        let mut signatures: Vec<String> = block.lines().map(str::to_string).collect();
        match prng.below(7) {
            0 => {
                *payload = prng.pick(&self.notes).clone().into_bytes();
                return true;
            }
            1 if !lines.is_empty() => {
                let at = prng.below(lines.len());
                lines[at] = (*prng.pick(CHECKPOINT_LINES)).to_string();
            }
            2 => {
                // A line from a key nobody configured: ignored, if well formed.
                let mut bytes: Vec<u8> = (0..68).map(|_| prng.byte()).collect();
                bytes.truncate(*prng.pick(&[4, 5, 68]));
                let name = *prng.pick(&["other.example/key", ORIGIN, WITNESS]);
                let at = prng.below(signatures.len() + 1);
                signatures.insert(at, format!("\u{2014} {name} {}", base64::encode(&bytes)));
            }
            3 if !signatures.is_empty() => match prng.below(3) {
                0 => {
                    signatures.remove(prng.below(signatures.len()));
                }
                1 => {
                    let at = prng.below(signatures.len());
                    let copy = signatures[at].clone();
                    signatures.insert(at, copy);
                }
                _ => {
                    let (a, b) = (prng.below(signatures.len()), prng.below(signatures.len()));
                    signatures.swap(a, b);
                }
            },
            4 => {
                // A valid cosignature by the witness, at a timestamp on the edges.
                let Ok(mut note) = Note::parse(payload) else {
                    return false;
                };
                let timestamp = *prng.pick(&[0, 1, 1_795_000_002, COSIGNATURE_TIMESTAMP_MAX]);
                if note.add_signature(&self.witness.at(timestamp)).is_err() {
                    return false;
                }
                *payload = note.encode().into_bytes();
                return true;
            }
            5 => {
                let mut whole = text.clone();
                edit_text(prng, &mut whole, NOTE_TOKENS);
                *payload = whole.into_bytes();
                return true;
            }
            _ => return false,
        }
        let mut out = String::new();
        for line in &lines {
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
        for line in &signatures {
            out.push_str(line);
            out.push('\n');
        }
        *payload = out.into_bytes();
        true
    }

    fn mutate_proof(&self, prng: &mut Prng, kind: u8, payload: &mut Vec<u8>) -> bool {
        if payload.len() < 16 {
            return false;
        }
        let (mut first, mut second) = (u64_at(payload, 0), u64_at(payload, 8));
        let mut proof: Vec<Hash> = payload[16..]
            .chunks_exact(32)
            .map(|chunk| chunk.try_into().expect("32 bytes"))
            .collect();
        let n = self.tree.size();
        let interesting = |prng: &mut Prng, other: u64| {
            let power = 1 << prng.below(64);
            *prng.pick(&[
                0,
                1,
                2,
                n - 1,
                n,
                n + 1,
                other.wrapping_sub(1),
                other,
                other.wrapping_add(1),
                power,
                u64::MAX,
            ])
        };
        match prng.below(6) {
            0 => first = interesting(prng, second),
            1 => second = interesting(prng, first),
            2 if !proof.is_empty() => {
                let at = prng.below(proof.len());
                proof[at][prng.below(32)] ^= 1 << prng.below(8);
            }
            3 if !proof.is_empty() => {
                proof.remove(prng.below(proof.len()));
            }
            4 => {
                let at = prng.below(proof.len() + 1);
                let hash = proof
                    .get(prng.below(proof.len().max(1)))
                    .copied()
                    .unwrap_or_else(|| self.root(n));
                proof.insert(at, hash);
            }
            _ => {
                // The log's own proof for these numbers (a valid input again).
                let own = if kind == INCLUSION_KIND {
                    self.tree.inclusion_proof(first, second)
                } else {
                    self.tree.consistency_proof(first, second)
                };
                let Ok(own) = own else {
                    return false;
                };
                proof = own;
            }
        }
        *payload = proof_input(kind, first, second, &proof)[1..].to_vec();
        true
    }

    fn mutate_event(prng: &mut Prng, payload: &mut Vec<u8>) -> bool {
        let Ok(mut value) = serde_json::from_slice::<Value>(payload) else {
            return false;
        };
        let edits = 1 + prng.below(3);
        for _ in 0..edits {
            let paths = paths(&value);
            let path = prng.pick(&paths).clone();
            match prng.below(6) {
                0 | 1 => {
                    if let Some(node) = node_at(&mut value, &path) {
                        let text: &&str = prng.pick(EVENT_VALUES);
                        *node = serde_json::from_str(text).unwrap_or(Value::Null);
                    }
                }
                2 => remove_at(&mut value, &path),
                3 => {
                    if let Some(Value::Object(map)) = node_at(&mut value, &path) {
                        let text: &&str = prng.pick(EVENT_VALUES);
                        let value = serde_json::from_str(text).unwrap_or(Value::Null);
                        map.insert((*prng.pick(EVENT_KEYS)).to_string(), value);
                    }
                }
                4 => match node_at(&mut value, &path) {
                    Some(Value::String(text)) => edit_text(
                        prng,
                        text,
                        &[
                            "0", "9", ".", ":", "/", "%", "%2", "-", "+", "T", "Z", "\u{e9}",
                        ],
                    ),
                    Some(Value::Array(items)) if !items.is_empty() => {
                        // Many distinct identifiers: the 1024 limit, and big statements.
                        let count = *prng.pick(&[2usize, 1023, 1024, 1025]);
                        let template = items[0].clone();
                        for k in 0..count {
                            let mut item = template.clone();
                            if let Value::String(text) = &mut item {
                                text.push_str(&k.to_string());
                            }
                            items.push(item);
                        }
                    }
                    _ => {}
                },
                _ => {
                    // A string much longer than its field allows (bizStep: 255 bytes).
                    if let Some(Value::String(text)) = node_at(&mut value, &path) {
                        let length = *prng.pick(&[255usize, 256, 70_000]);
                        *text = "u".repeat(length);
                    }
                }
            }
        }
        *payload = serde_json::to_vec(&value).expect("a JSON value serializes");
        true
    }

    fn mutate_lines(prng: &mut Prng, payload: &mut Vec<u8>) -> bool {
        let Ok(text) = String::from_utf8(payload.clone()) else {
            return false;
        };
        let mut lines: Vec<&str> = text.split('\n').collect();
        match prng.below(3) {
            0 if !lines.is_empty() => {
                let at = prng.below(lines.len());
                lines[at] = *prng.pick(CHECKPOINT_LINES);
            }
            1 => {
                let at = prng.below(lines.len() + 1);
                lines.insert(at, *prng.pick(CHECKPOINT_LINES));
            }
            _ => {
                let mut whole = text.clone();
                edit_text(prng, &mut whole, NOTE_TOKENS);
                *payload = whole.into_bytes();
                return true;
            }
        }
        *payload = lines.join("\n").into_bytes();
        true
    }
}

impl Target for Provlog {
    fn seeds(&mut self) -> Vec<Vec<u8>> {
        self.seeds.clone()
    }

    fn mutate(&mut self, prng: &mut Prng, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
        if input.is_empty() || prng.one_in(10) {
            mutate_bytes(prng, input, corpus);
            return;
        }
        let kind = input[0] % KINDS;
        let mut payload = input[1..].to_vec();
        let structured = !prng.one_in(3)
            && match kind {
                STATEMENT_KIND => self.mutate_statement(prng, &mut payload),
                BUNDLE_KIND => self.mutate_bundle(prng, &mut payload),
                EVENT_KIND => Provlog::mutate_event(prng, &mut payload),
                NOTE_KIND | COSIGN_KIND => self.mutate_note(prng, &mut payload),
                BODY_KIND => Provlog::mutate_lines(prng, &mut payload),
                INCLUSION_KIND | CONSISTENCY_KIND => self.mutate_proof(prng, kind, &mut payload),
                TILE_PATH_KIND => {
                    let mut text = String::from_utf8_lossy(&payload).to_string();
                    edit_text(prng, &mut text, NOTE_TOKENS);
                    payload = text.into_bytes();
                    true
                }
                _ => false,
            };
        if !structured {
            mutate_bytes(prng, &mut payload, corpus);
        }
        input.truncate(1);
        input.extend_from_slice(&payload);
    }

    fn run(&mut self, input: &[u8]) -> Result<String, String> {
        let Some((&kind, payload)) = input.split_first() else {
            return Ok("empty".to_string());
        };
        match kind % KINDS {
            STATEMENT_KIND => run_statement(payload),
            BUNDLE_KIND => self.run_bundle(payload),
            EVENT_KIND => self.run_event(payload),
            NOTE_KIND => self.run_note(payload),
            BODY_KIND => self.run_body(payload),
            COSIGN_KIND => self.run_cosign(payload),
            INCLUSION_KIND => self.run_inclusion(payload),
            CONSISTENCY_KIND => self.run_consistency(payload),
            TILE_PATH_KIND => run_tile_path(payload),
            _ => self.run_entry_bundle(payload),
        }
    }
}
