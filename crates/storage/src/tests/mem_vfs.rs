//! Tests of the fault injection of [`MemVfs`] that the simulator relies on: a crash armed at an
//! exact later call (mid-write, torn or not), halting, a single failed sync, and bit flips on
//! read; each checked directly and through the WAL, which must survive or refuse as
//! `docs/internals/wal.md` says.

use std::path::Path;

use crate::{MemVfs, Options, StorageError, Vfs, VfsFile, Wal};

use super::{append, dir, entries, frame_size, open, replay, segment_paths};

// Goal: `crash_after(n)` lets exactly `n` changing calls complete, crashes at the next one
// (losing what was not synced), and halts every call, reads included, until `restart`.
#[test]
fn crash_after_fires_at_the_exact_call_and_halts() {
    let vfs = MemVfs::new();
    vfs.create_dir_all(dir()).unwrap();
    let path = dir().join("file");
    let mut file = vfs.create(&path).unwrap();
    vfs.sync_dir(dir()).unwrap();
    file.append(b"durable").unwrap();
    file.sync_data().unwrap();
    vfs.crash_after(2, None);
    file.append(b" one").unwrap();
    file.append(b" two").unwrap();
    assert!(!vfs.halted());
    assert!(file.append(b" three").is_err(), "the third write crashes");
    assert!(vfs.halted());
    assert!(vfs.list(dir()).is_err(), "a dead process lists nothing");
    assert!(vfs.open_read(&path).is_err());
    vfs.restart();
    assert_eq!(vfs.file(&path).unwrap(), b"durable");
    assert!(
        file.sync_data().is_err(),
        "handles from before the crash are stale"
    );
    let reader = vfs.open_read(&path).unwrap();
    let mut buffer = [0u8; 7];
    assert_eq!(reader.read_at(0, &mut buffer).unwrap(), 7);
}

// Goal: a torn crash armed on a write keeps a prefix of the unsynced bytes including part of the
// write in flight, for some seeds all of it and for some none (a real tear, not all or nothing).
#[test]
fn crash_after_on_a_write_tears_the_write_in_flight() {
    let mut kept_sizes = std::collections::BTreeSet::new();
    for seed in 0..64 {
        let vfs = MemVfs::new();
        vfs.create_dir_all(dir()).unwrap();
        let path = dir().join("file");
        let mut file = vfs.create(&path).unwrap();
        vfs.sync_dir(dir()).unwrap();
        vfs.crash_after(0, Some(seed));
        assert!(file.append(&[7u8; 100]).is_err());
        vfs.restart();
        let kept = vfs.file(&path).unwrap();
        assert!(kept.len() <= 100 && kept.iter().all(|&byte| byte == 7));
        kept_sizes.insert(kept.len());
    }
    assert!(kept_sizes.len() > 10, "tears vary: {kept_sizes:?}");
}

// Goal: `halt` stops every call without touching the disk; a crash afterwards loses the
// unsynced bytes, `restart` makes the file system usable again.
#[test]
fn halt_then_crash_loses_unsynced_data() {
    let vfs = MemVfs::new();
    let (mut wal, _) = open(&vfs, Options::default());
    append(&mut wal, 1..=5, true);
    wal.append(6, b"six").unwrap();
    vfs.halt();
    assert!(wal.sync().is_err());
    drop(wal);
    vfs.crash();
    vfs.restart();
    let (wal, _) = open(&vfs, Options::default());
    assert_eq!(replay(&wal, 0), entries(1..=5));
}

// Goal: `fail_sync_after(n)` fails exactly the (n+1)-th sync; the WAL is poisoned by it even
// though the syncs after it succeed (fsyncgate), and nothing it covered is durable.
#[test]
fn one_failed_sync_poisons_the_log() {
    let vfs = MemVfs::new();
    let (mut wal, _) = open(&vfs, Options::default());
    append(&mut wal, 1..=3, true);
    vfs.fail_sync_after(1);
    wal.append(4, b"four").unwrap();
    wal.sync().unwrap();
    wal.append(5, b"five").unwrap();
    assert!(matches!(
        wal.sync(),
        Err(StorageError::Io {
            operation: "sync_data",
            ..
        })
    ));
    assert!(matches!(wal.append(6, b"six"), Err(StorageError::Poisoned)));
    drop(wal);
    vfs.crash();
    let (wal, _) = open(&vfs, Options::default());
    let replayed = replay(&wal, 0);
    assert_eq!(replayed.len(), 4, "op 5 was never durable");
}

// Goal: a bit flipped on read is seen by every read of the file (also under a new name) but not
// stored; in a frame followed by a valid one the WAL refuses to open, naming the file, and once
// the fault is cleared it opens with every entry (the refusal changed nothing).
#[test]
fn flip_on_read_is_detected_and_harmless_once_cleared() {
    let vfs = MemVfs::new();
    let (mut wal, _) = open(&vfs, Options::default());
    append(&mut wal, 1..=10, true);
    drop(wal);
    let path = segment_paths(&vfs).pop().unwrap();
    let stored = vfs.file(&path).unwrap();
    let bit = (frame_size(1) + 5) * 8 + 3;
    vfs.flip_on_read(&path, bit);
    let file = vfs.open_read(&path).unwrap();
    let mut read = vec![0u8; stored.len()];
    file.read_at(0, &mut read).unwrap();
    let differing: Vec<usize> = (0..stored.len())
        .filter(|&i| read[i] != stored[i])
        .collect();
    assert_eq!(differing, [usize::try_from(bit / 8).unwrap()]);
    assert_eq!(
        vfs.file(&path).unwrap(),
        stored,
        "the stored bytes are intact"
    );
    let renamed = Path::new("/data/renamed");
    vfs.rename(&path, renamed).unwrap();
    let mut byte = [0u8; 1];
    vfs.open_read(renamed)
        .unwrap()
        .read_at(bit / 8, &mut byte)
        .unwrap();
    assert_ne!(byte[0], stored[usize::try_from(bit / 8).unwrap()]);
    vfs.rename(renamed, &path).unwrap();

    let error = Wal::open_with(vfs.clone(), dir(), Options::default()).expect_err("refuses");
    assert!(
        matches!(&error, StorageError::Corrupt { path: p, .. } if *p == path),
        "{error:?}"
    );
    vfs.clear_read_faults();
    let (wal, _) = open(&vfs, Options::default());
    assert_eq!(replay(&wal, 0), entries(1..=10));
}
