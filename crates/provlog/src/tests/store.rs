//! The store: what an append publishes, what a reopen recovers, and what a crash at any
//! file-system call leaves (a prefix of batches, every published batch intact); corruption
//! refused with the file and offset named.

use std::path::{Path, PathBuf};

use provenance::{
    CosignatureV1Signer, Ed25519Signer, NoteVerifier, TILE_WIDTH, Tile, Tree, encode_bundle,
    leaf_hash, open_checkpoint, verify_consistency, verify_inclusion,
};
use storage::{MemVfs, OsVfs, Vfs};

use crate::*;

pub(crate) const ORIGIN: &str = "test.example/log";
const WITNESS: &str = "witness.example/w1";

pub(crate) fn signer() -> Ed25519Signer {
    Ed25519Signer::new(ORIGIN, &[7; 32]).unwrap()
}

fn witness() -> CosignatureV1Signer {
    CosignatureV1Signer::new(WITNESS, &[9; 32]).unwrap()
}

/// Entries `k<i % 7>:entry <i>`: the key is what precedes the colon.
fn keys(entry: &[u8], emit: &mut dyn FnMut(&[u8])) {
    if let Some(colon) = entry.iter().position(|&b| b == b':') {
        emit(&entry[..colon]);
    }
}

fn config() -> LogConfig {
    LogConfig {
        signer: signer(),
        witnesses: vec![witness().verifier()],
        keys,
    }
}

fn entry(i: u64) -> Vec<u8> {
    // Lengths vary, including empty bodies and long ones.
    let body = "x".repeat(usize::try_from(i * 37 % 300).unwrap());
    format!("k{}:entry {i} {body}", i % 7).into_bytes()
}

fn entries(range: std::ops::Range<u64>) -> Vec<Vec<u8>> {
    range.map(entry).collect()
}

fn mem_dir() -> PathBuf {
    PathBuf::from("/data/provenance")
}

fn open<V: Vfs + Clone>(vfs: &V, dir: &Path) -> (Log<V>, Recovery) {
    Log::open(vfs.clone(), dir, config()).unwrap()
}

/// Everything the log serves agrees with an in-memory tree of `expected`.
fn check_log<V: Vfs>(log: &Log<V>, expected: &[Vec<u8>]) {
    let size = expected.len() as u64;
    let tree = Tree::from_leaf_hashes(&expected.iter().map(|e| leaf_hash(e)).collect::<Vec<_>>());
    let published = log.published();
    assert_eq!(published.size, size);
    assert_eq!(published.root, tree.root());
    let opened = open_checkpoint(
        published.note.as_bytes(),
        ORIGIN,
        &signer().verifier(),
        &[],
        0,
    )
    .unwrap();
    assert_eq!(opened.checkpoint.size(), size);
    assert_eq!(*opened.checkpoint.root(), tree.root());
    for (index, bytes) in expected.iter().enumerate() {
        assert_eq!(
            log.entry(index as u64).unwrap().as_ref(),
            Some(bytes),
            "{index}"
        );
    }
    assert_eq!(log.entry(size).unwrap(), None);
    for tile in provenance::new_tiles(0, size) {
        assert_eq!(log.tile(&tile), tree.tile(&tile), "{}", tile.path());
        if tile.level == 0 {
            let first = usize::try_from(tile.index).unwrap() * TILE_WIDTH as usize;
            let slice: Vec<&[u8]> = expected[first..first + usize::from(tile.width)]
                .iter()
                .map(Vec::as_slice)
                .collect();
            assert_eq!(
                log.bundle(&tile).unwrap(),
                Some(encode_bundle(&slice).unwrap()),
                "{}",
                tile.bundle_path()
            );
        }
    }
    for index in (0..size).step_by(usize::try_from(size / 17 + 1).unwrap()) {
        let proof = log.inclusion_proof(index, size).unwrap();
        verify_inclusion(
            &tree.leaf_hash(index).unwrap(),
            index,
            size,
            &proof,
            &tree.root(),
        )
        .unwrap();
    }
    for key in 0..7 {
        let key = format!("k{key}");
        let found: Vec<u64> = log
            .lookup(key.as_bytes())
            .unwrap()
            .into_iter()
            .map(|(index, _)| index)
            .collect();
        let wanted: Vec<u64> = (0..size)
            .filter(|i| {
                expected[usize::try_from(*i).unwrap()].starts_with(format!("{key}:").as_bytes())
            })
            .collect();
        assert_eq!(found, wanted, "{key}");
    }
}

// Goal: a fresh log publishes a signed size-0 checkpoint; appends publish one checkpoint per
// batch; a reopen recovers exactly what was published.
#[test]
fn appends_are_published_and_recovered() {
    let vfs = MemVfs::new();
    let dir = mem_dir();
    let (log, recovery) = open(&vfs, &dir);
    assert!(recovery.created);
    check_log(&log, &[]);
    let all = entries(0..700);
    assert_eq!(log.append(&all[..1]).unwrap(), 0..1);
    assert_eq!(log.append(&all[1..300]).unwrap(), 1..300);
    assert_eq!(log.append(&all[300..700]).unwrap(), 300..700);
    assert_eq!(log.append::<Vec<u8>>(&[]).unwrap(), 700..700);
    check_log(&log, &all);
    drop(log);
    let (log, recovery) = open(&vfs, &dir);
    assert!(!recovery.created);
    assert_eq!(recovery.size, 700);
    assert_eq!(recovery.checkpoint_records, 4);
    assert_eq!(
        (
            recovery.cut_entries_bytes,
            recovery.cut_hashes_bytes,
            recovery.cut_checkpoint_bytes
        ),
        (0, 0, 0)
    );
    check_log(&log, &all);
    // Consistency between any two published sizes.
    let root_300 = log.root_at(300).unwrap();
    let proof = log.consistency_proof(300, 700).unwrap();
    verify_consistency(300, 700, &proof, &root_300, &log.published().root).unwrap();
    assert!(log.consistency_proof(300, 701).is_err());
}

// Goal: the log's directory is locked while open.
#[test]
fn a_second_open_is_refused() {
    let vfs = MemVfs::new();
    let (_log, _) = open(&vfs, &mem_dir());
    assert!(matches!(
        Log::open(vfs.clone(), &mem_dir(), config()),
        Err(LogError::Locked { .. })
    ));
}

// Goal: a crash at every file-system call of a batch, torn or not, recovers a prefix of
// batches: the old size or the new one, never anything else, with every entry intact; a batch
// whose append returned Ok is always recovered.
#[test]
fn a_crash_at_any_call_recovers_a_prefix_of_batches() {
    let all = entries(0..400);
    for torn_seed in [None, Some(1), Some(2), Some(3)] {
        for crash_at in 0..8 {
            let vfs = MemVfs::new();
            let dir = mem_dir();
            {
                let (log, _) = open(&vfs, &dir);
                log.append(&all[..150]).unwrap();
                log.append(&all[150..300]).unwrap();
                vfs.crash_after(crash_at, torn_seed);
                let appended = log.append(&all[300..400]);
                if !vfs.halted() {
                    // The crash point lies beyond the batch's calls.
                    assert!(appended.is_ok());
                    vfs.halt();
                }
                match torn_seed {
                    Some(seed) => vfs.crash_torn(seed),
                    None => vfs.crash(),
                }
                vfs.restart();
                let (log, recovery) = open(&vfs, &dir);
                let size = usize::try_from(recovery.size).unwrap();
                assert!(
                    size == 300 || size == 400,
                    "crash at {crash_at} (torn {torn_seed:?}): size {size}"
                );
                if appended.is_ok() {
                    assert_eq!(size, 400, "an acknowledged batch was lost");
                }
                check_log(&log, &all[..size]);
                // The log keeps working after recovery.
                log.append(&all[size..]).unwrap();
                check_log(&log, &all);
            }
        }
    }
}

// Goal: a failed sync stops the writer (fsyncgate): later appends are refused, and a reopen
// recovers what was durable.
#[test]
fn a_failed_sync_fails_the_log_until_reopened() {
    let vfs = MemVfs::new();
    let dir = mem_dir();
    let all = entries(0..20);
    let (log, _) = open(&vfs, &dir);
    log.append(&all[..10]).unwrap();
    vfs.fail_sync_after(0);
    assert!(matches!(log.append(&all[10..20]), Err(LogError::Io { .. })));
    assert!(matches!(log.append(&all[10..20]), Err(LogError::Failed)));
    // Readers still answer for the published checkpoint.
    check_log(&log, &all[..10]);
    drop(log);
    vfs.crash();
    let (log, recovery) = open(&vfs, &dir);
    assert_eq!(recovery.size, 10);
    check_log(&log, &all[..10]);
}

fn os_log(dir: &Path) -> (Log<OsVfs>, Recovery) {
    Log::open_dir(dir, config()).unwrap()
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

fn truncate(path: &Path, size: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(size)
        .unwrap();
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    use std::io::Write as _;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

// Goal: on a real file system, a batch cut anywhere mid-write (the entries and hashes files
// truncated inside the batch, the checkpoint record torn) recovers the previous batch and cuts
// the rest; then appending continues.
#[test]
fn a_batch_cut_mid_write_on_disk_is_recovered() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("provenance");
    let all = entries(0..500);
    let (entries_after_300, hashes_after_300, checkpoints_after_300) = {
        let (log, _) = os_log(&dir);
        log.append(&all[..300]).unwrap();
        let lengths = (
            file_len(&dir.join(ENTRIES_FILE)),
            file_len(&dir.join(HASHES_FILE)),
            file_len(&dir.join(CHECKPOINTS_FILE)),
        );
        log.append(&all[300..500]).unwrap();
        lengths
    };
    let full = (
        file_len(&dir.join(ENTRIES_FILE)),
        file_len(&dir.join(HASHES_FILE)),
        file_len(&dir.join(CHECKPOINTS_FILE)),
    );
    // The crash tore the second batch: half its entries, a third of its hashes, and its
    // checkpoint record cut in the middle.
    truncate(&dir.join(ENTRIES_FILE), (entries_after_300 + full.0) / 2);
    truncate(
        &dir.join(HASHES_FILE),
        hashes_after_300 + (full.1 - hashes_after_300) / 3 + 5,
    );
    truncate(
        &dir.join(CHECKPOINTS_FILE),
        (checkpoints_after_300 + full.2) / 2,
    );
    let (log, recovery) = os_log(&dir);
    assert_eq!(recovery.size, 300);
    assert!(recovery.cut_entries_bytes > 0);
    assert!(recovery.cut_hashes_bytes > 0);
    assert!(recovery.cut_checkpoint_bytes > 0);
    check_log(&log, &all[..300]);
    assert_eq!(file_len(&dir.join(ENTRIES_FILE)), entries_after_300);
    assert_eq!(file_len(&dir.join(CHECKPOINTS_FILE)), checkpoints_after_300);
    log.append(&all[300..500]).unwrap();
    check_log(&log, &all);
    drop(log);
    let (log, _) = os_log(&dir);
    check_log(&log, &all);
}

// Goal: data a checkpoint covers that is missing or altered refuses to open, naming the file;
// so does a bad checkpoint record that is not the last.
#[test]
fn corruption_is_refused_with_the_file_named() {
    let all = entries(0..300);
    let setup = || {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("provenance");
        let (log, _) = os_log(&dir);
        log.append(&all[..200]).unwrap();
        log.append(&all[200..300]).unwrap();
        (temp, dir)
    };
    let refused = |dir: &Path| match Log::open_dir(dir, config()) {
        Err(LogError::Corrupt { path, reason, .. }) => (path, reason),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("a corrupt log opened"),
    };

    // Entries lost: the file ends before the checkpoint's size.
    let (_temp, dir) = setup();
    truncate(
        &dir.join(ENTRIES_FILE),
        file_len(&dir.join(ENTRIES_FILE)) - 3,
    );
    let (path, reason) = refused(&dir);
    assert!(
        path.ends_with(ENTRIES_FILE) && reason.contains("ends inside entry 299"),
        "{reason}"
    );

    // Hashes lost.
    let (_temp, dir) = setup();
    truncate(&dir.join(HASHES_FILE), 32 * 299);
    let (path, reason) = refused(&dir);
    assert!(
        path.ends_with(HASHES_FILE) && reason.contains("299 leaf hashes"),
        "{reason}"
    );

    // A flipped byte inside an entry.
    let (_temp, dir) = setup();
    let mut bytes = std::fs::read(dir.join(ENTRIES_FILE)).unwrap();
    bytes[1000] ^= 0x20;
    std::fs::write(dir.join(ENTRIES_FILE), &bytes).unwrap();
    let (path, reason) = refused(&dir);
    assert!(
        path.ends_with(ENTRIES_FILE) && reason.contains("does not match"),
        "{reason}"
    );

    // A flipped byte inside a leaf hash (and the matching entry intact).
    let (_temp, dir) = setup();
    let mut bytes = std::fs::read(dir.join(HASHES_FILE)).unwrap();
    bytes[32 * 150 + 4] ^= 1;
    std::fs::write(dir.join(HASHES_FILE), &bytes).unwrap();
    let (_, reason) = refused(&dir);
    assert!(reason.contains("entry 150 does not match"), "{reason}");

    // A bad record before the last checkpoint record.
    let (_temp, dir) = setup();
    let mut bytes = std::fs::read(dir.join(CHECKPOINTS_FILE)).unwrap();
    bytes[CHECKPOINT_RECORD_HEADER + 3] ^= 1;
    std::fs::write(dir.join(CHECKPOINTS_FILE), &bytes).unwrap();
    let (path, reason) = refused(&dir);
    assert!(
        path.ends_with(CHECKPOINTS_FILE) && reason.contains("not the last"),
        "{reason}"
    );

    // Zeros after the last record (a file extended, never written) are a torn tail, not
    // corruption.
    let (_temp, dir) = setup();
    append_bytes(&dir.join(CHECKPOINTS_FILE), &[0; 100]);
    let (log, recovery) = os_log(&dir);
    assert_eq!((recovery.size, recovery.cut_checkpoint_bytes), (300, 100));
    check_log(&log, &all);
}

// Goal: a log opened with another key refuses, rather than serving checkpoints it cannot
// sign for.
#[test]
fn a_log_opened_with_another_key_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("provenance");
    drop(os_log(&dir));
    let other = LogConfig {
        signer: Ed25519Signer::new(ORIGIN, &[8; 32]).unwrap(),
        ..config()
    };
    assert!(matches!(
        Log::open_dir(&dir, other),
        Err(LogError::Checkpoint { .. })
    ));
    let renamed = LogConfig {
        signer: Ed25519Signer::new("other.example/log", &[7; 32]).unwrap(),
        ..config()
    };
    assert!(matches!(
        Log::open_dir(&dir, renamed),
        Err(LogError::Corrupt { .. })
    ));
}

// Goal: tiles, bundles and proofs are served for the published size only, full and partial,
// and only in widths that exist.
#[test]
fn tiles_and_bundles_stop_at_the_published_size() {
    let vfs = MemVfs::new();
    let (log, _) = open(&vfs, &mem_dir());
    let all = entries(0..600);
    log.append(&all).unwrap();
    let full = Tile {
        level: 0,
        index: 1,
        width: 256,
    };
    let partial = Tile {
        level: 0,
        index: 2,
        width: 88,
    };
    assert!(log.tile(&full).is_some() && log.bundle(&full).unwrap().is_some());
    assert!(log.tile(&partial).is_some() && log.bundle(&partial).unwrap().is_some());
    let narrower = Tile {
        level: 0,
        index: 2,
        width: 10,
    };
    assert_eq!(
        log.tile(&narrower).unwrap(),
        log.tile(&partial).unwrap()[..320].to_vec()
    );
    let wider = Tile {
        level: 0,
        index: 2,
        width: 89,
    };
    assert_eq!(log.tile(&wider), None);
    assert_eq!(log.bundle(&wider).unwrap(), None);
    assert!(
        log.tile(&Tile {
            level: 1,
            index: 0,
            width: 2
        })
        .is_some()
    );
    assert!(
        log.tile(&Tile {
            level: 1,
            index: 0,
            width: 3
        })
        .is_none()
    );
    assert!(
        log.tile(&Tile {
            level: 2,
            index: 0,
            width: 1
        })
        .is_none()
    );
    assert!(
        log.bundle(&Tile {
            level: 1,
            index: 0,
            width: 2
        })
        .unwrap()
        .is_none()
    );
    assert!(log.inclusion_proof(0, 601).is_err());
}

// Goal: witness cosignatures are verified, merged, served with the checkpoint, and survive a
// reopen; cosignatures for sizes or roots the log never published, or from unknown witnesses,
// are refused.
#[test]
fn cosignatures_are_verified_merged_and_kept() {
    let vfs = MemVfs::new();
    let dir = mem_dir();
    let (log, _) = open(&vfs, &dir);
    log.append(&entries(0..50)).unwrap();
    let published = log.published();
    let mut note = provenance::Note::parse(published.note.as_bytes()).unwrap();
    note.add_signature(&witness().at(1_700_000_000)).unwrap();
    let cosigned = log.add_cosignatures(note.encode().as_bytes()).unwrap();
    assert_eq!(log.published().note, cosigned);
    assert_eq!(log.cosigned().unwrap().note, cosigned);
    let witness_verifier = witness().verifier();
    let witnesses: Vec<&dyn NoteVerifier> = vec![&witness_verifier];
    open_checkpoint(
        cosigned.as_bytes(),
        ORIGIN,
        &signer().verifier(),
        &witnesses,
        1,
    )
    .unwrap();

    // A later batch publishes an uncosigned checkpoint; the cosigned one is still served.
    log.append(&entries(50..60)).unwrap();
    assert_ne!(log.published().note, cosigned);
    assert_eq!(log.cosigned().unwrap().note, cosigned);
    drop(log);
    let (log, _) = open(&vfs, &dir);
    assert_eq!(log.cosigned().unwrap().note, cosigned);
    assert_eq!(log.published().size, 60);

    // An unknown witness.
    let stranger = CosignatureV1Signer::new("stranger.example/w", &[3; 32]).unwrap();
    let mut note = provenance::Note::parse(log.published().note.as_bytes()).unwrap();
    note.add_signature(&stranger.at(5)).unwrap();
    assert!(matches!(
        log.add_cosignatures(note.encode().as_bytes()),
        Err(AddCosignatureError::Rejected(CosignError::Checkpoint(_)))
    ));
    // A checkpoint the log never signed (another root).
    let forged = provenance::Checkpoint::new(ORIGIN, 60, [1; 32]).unwrap();
    let text = forged.sign(&signer()).unwrap();
    let mut note = provenance::Note::parse(text.as_bytes()).unwrap();
    note.add_signature(&witness().at(5)).unwrap();
    assert_eq!(
        log.add_cosignatures(note.encode().as_bytes())
            .unwrap_err()
            .to_string(),
        "the root is not this log's root at size 60"
    );
    // A size beyond the published one.
    let future = provenance::Checkpoint::new(ORIGIN, 61, [1; 32]).unwrap();
    let mut note = provenance::Note::parse(future.sign(&signer()).unwrap().as_bytes()).unwrap();
    note.add_signature(&witness().at(5)).unwrap();
    assert!(matches!(
        log.add_cosignatures(note.encode().as_bytes()),
        Err(AddCosignatureError::Rejected(CosignError::FutureSize {
            size: 61,
            published: 60
        }))
    ));
}

// Goal: entries over 65,535 bytes are refused before anything is written.
#[test]
fn oversized_entries_are_refused() {
    let vfs = MemVfs::new();
    let (log, _) = open(&vfs, &mem_dir());
    let big = vec![b'a'; 65_536];
    assert!(matches!(
        log.append(&[b"ok".to_vec(), big]),
        Err(LogError::EntryTooLarge {
            position: 1,
            size: 65_536
        })
    ));
    assert_eq!(log.size(), 0);
    log.append(&[vec![b'b'; 65_535]]).unwrap();
    assert_eq!(log.entry(0).unwrap().unwrap().len(), 65_535);
}
