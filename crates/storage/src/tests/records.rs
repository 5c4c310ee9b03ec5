//! Tests of the record file: round trips across page boundaries on both file systems, the
//! byte layout of a page, bit flips at every bit of a page, torn tails and crashes on
//! [`MemVfs`], fsyncgate, argument errors, readers running next to the writer, inspection, and a
//! proptest of random appends, syncs, truncates, reopens and crashes against a `Vec` model.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use crate::format::{RECORD_PAGE_MAGIC, RECORD_PAGE_SIZE_U64};
use crate::{
    MemVfs, Options, OsVfs, PageDefect, RECORD_PAGE_SIZE, RECORD_SIZE, RECORDS_FILE_NAME,
    RECORDS_PER_PAGE, RecordFile, RecordReader, StorageError, Vfs, Wal, inspect_with,
};

type Record = [u8; RECORD_SIZE];

fn dir() -> &'static Path {
    Path::new("/data")
}

fn records_path() -> PathBuf {
    dir().join(RECORDS_FILE_NAME)
}

/// A record that differs for every (position, generation): the position in bytes 0..8, the
/// generation in 8..16, and a pattern of both after that.
fn record(position: u64, generation: u64) -> Record {
    let mut record = [0u8; RECORD_SIZE];
    record[0..8].copy_from_slice(&position.to_le_bytes());
    record[8..16].copy_from_slice(&generation.to_le_bytes());
    for (index, byte) in record.iter_mut().enumerate().skip(16) {
        *byte = (position as u8)
            .wrapping_mul(31)
            .wrapping_add(generation as u8)
            .wrapping_add(index as u8);
    }
    record
}

fn records(positions: std::ops::Range<u64>, generation: u64) -> Vec<Record> {
    positions
        .map(|position| record(position, generation))
        .collect()
}

fn open(vfs: &MemVfs) -> RecordFile<MemVfs> {
    RecordFile::open(vfs.clone(), dir()).expect("open succeeds")
}

fn scan_all<V: Vfs>(reader: &RecordReader<V>, start: u64, end: u64) -> Vec<(u64, Record)> {
    let mut scanned = Vec::new();
    reader
        .scan(start, end, |position, record| {
            scanned.push((position, *record));
        })
        .expect("scan succeeds");
    scanned
}

/// Checks every way of reading against `model`, for the records on disk (whole pages).
fn check_reads<V: Vfs>(reader: &RecordReader<V>, model: &[Record]) {
    check_reads_sampled(reader, model, 1);
}

/// `check_reads`, with single reads of every `stride`-th position and the last only.
fn check_reads_sampled<V: Vfs>(reader: &RecordReader<V>, model: &[Record], stride: usize) {
    let len = reader.len_on_disk();
    assert!(len <= model.len() as u64);
    let expected: Vec<(u64, Record)> = (0..len).zip(model.iter().copied()).collect();
    assert_eq!(scan_all(reader, 0, len), expected);
    for position in (0..len).step_by(stride).chain(len.checked_sub(1)) {
        assert_eq!(reader.read(position).unwrap(), model[position as usize]);
    }
    // Reverse order with (sampled) positions twice, plus a range that starts and ends mid-page.
    let sample = (0..len).step_by(stride);
    let positions: Vec<u64> = (0..len).rev().chain(sample).collect();
    let mut out = vec![[0xEE; RECORD_SIZE]];
    reader.read_many(&positions, &mut out).unwrap();
    assert_eq!(out[0], [0xEE; RECORD_SIZE], "read_many appends");
    let got: Vec<Record> = out[1..].to_vec();
    let want: Vec<Record> = positions
        .iter()
        .map(|position| model[*position as usize])
        .collect();
    assert_eq!(got, want);
    if len > 40 {
        assert_eq!(scan_all(reader, 5, len - 3), expected[5..len as usize - 3]);
    }
    assert!(scan_all(reader, len, len).is_empty());
}

fn corrupt_offset(error: &StorageError) -> (PathBuf, u64, String) {
    match error {
        StorageError::Corrupt {
            path,
            offset,
            reason,
        } => (path.clone(), *offset, reason.clone()),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn round_trip_across_pages_os() {
    // Goal: records appended in uneven chunks across page boundaries read back the same through
    // read, read_many and scan on the real file system, and the three lengths follow the rules
    // after append, sync and reopen (a reopen loses only the buffered partial page). Method:
    // N = 5 * 31 + 7 records, chunk sizes that end before, on and after page boundaries.
    let temporary = tempfile::tempdir().unwrap();
    let dir = temporary.path().join("data");
    let mut file = RecordFile::open(OsVfs, &dir).unwrap();
    let reader = file.reader().unwrap();
    assert_eq!(
        (file.len(), file.len_on_disk(), file.synced_len()),
        (0, 0, 0)
    );
    assert!(file.is_empty());
    let n = 5 * RECORDS_PER_PAGE + 7;
    let model = records(0..n, 1);
    let mut appended = 0;
    for chunk in [1, 29, 1, 31, 62, 3, 35] {
        file.append(&model[appended..appended + chunk]).unwrap();
        appended += chunk;
        let whole = appended as u64 / RECORDS_PER_PAGE * RECORDS_PER_PAGE;
        assert_eq!(file.len(), appended as u64);
        assert_eq!(file.len_on_disk(), whole);
        assert_eq!(reader.len_on_disk(), whole, "the reader follows the writer");
        assert_eq!(file.synced_len(), 0, "nothing synced yet");
    }
    assert_eq!(appended as u64, n);
    let size = std::fs::metadata(file.path()).unwrap().len();
    assert_eq!(
        size,
        5 * RECORD_PAGE_SIZE_U64,
        "only whole pages are written"
    );
    check_reads(&reader, &model);
    assert_eq!(file.sync().unwrap(), 5 * RECORDS_PER_PAGE);
    assert_eq!(file.synced_len(), 5 * RECORDS_PER_PAGE);
    assert_eq!(file.len(), n, "sync does not write the partial page");
    drop(reader);
    drop(file);

    let mut file = RecordFile::open(OsVfs, &dir).unwrap();
    assert_eq!(file.torn_tail_size(), 0);
    let whole = 5 * RECORDS_PER_PAGE;
    assert_eq!(
        (file.len(), file.len_on_disk(), file.synced_len()),
        (whole, whole, whole)
    );
    let reader = file.reader().unwrap();
    check_reads(&reader, &model[..whole as usize]);
    // Appending continues at len() after the reopen.
    let mut model = model[..whole as usize].to_vec();
    model.extend(records(whole..whole + 40, 2));
    file.append(&model[whole as usize..]).unwrap();
    file.sync().unwrap();
    check_reads(&reader, &model);
}

#[test]
fn page_layout_is_as_documented() {
    // Goal: pin the byte layout of docs/internals/records.md: magic `EFRECORD`, version 1 (u32),
    // page index (u64), CRC-32C over bytes 24..4096 at 20..24, zero reserved bytes 24..128, and
    // record slot s at bytes 128 * s. Method: write two pages and decode the second by hand.
    let vfs = MemVfs::new();
    let mut file = open(&vfs);
    let model = records(0..2 * RECORDS_PER_PAGE, 9);
    file.append(&model).unwrap();
    let bytes = vfs.file(&records_path()).unwrap();
    assert_eq!(bytes.len(), 2 * RECORD_PAGE_SIZE);
    let page = &bytes[RECORD_PAGE_SIZE..];
    assert_eq!(&page[0..8], b"EFRECORD");
    assert_eq!(
        u64::from_le_bytes(page[0..8].try_into().unwrap()),
        RECORD_PAGE_MAGIC
    );
    assert_eq!(page[8..12], 1u32.to_le_bytes());
    assert_eq!(page[12..20], 1u64.to_le_bytes());
    assert_eq!(page[20..24], crc32c::crc32c(&page[24..]).to_le_bytes());
    assert!(page[24..128].iter().all(|byte| *byte == 0));
    for slot in 1..=31 {
        let position = RECORDS_PER_PAGE + slot as u64 - 1;
        assert_eq!(page[slot * 128..(slot + 1) * 128], model[position as usize]);
    }
}

/// A file of 5 synced pages on MemVfs, with its reader and model.
fn five_pages() -> (
    MemVfs,
    RecordFile<MemVfs>,
    RecordReader<MemVfs>,
    Vec<Record>,
) {
    let vfs = MemVfs::new();
    let mut file = open(&vfs);
    let model = records(0..5 * RECORDS_PER_PAGE, 3);
    file.append(&model).unwrap();
    file.sync().unwrap();
    let reader = file.reader().unwrap();
    (vfs, file, reader, model)
}

#[test]
fn bit_flips_anywhere_in_a_page_are_corrupt() {
    // Goal: a flip of any bit of a page (header or record slots) makes read, read_many and
    // scan of that page return Corrupt naming the file and the page's offset, never a wrong
    // record and never a panic, while the other pages still read fine. Method: every bit of
    // page 2 of 5, restoring the pristine bytes after each.
    let (vfs, _file, reader, model) = five_pages();
    let path = records_path();
    let pristine = vfs.file(&path).unwrap();
    let page = 2u64;
    let page_offset = page * RECORD_PAGE_SIZE_U64;
    let in_page = page * RECORDS_PER_PAGE + 7;
    for byte in 0..RECORD_PAGE_SIZE {
        for bit in 0..8 {
            let mut bytes = pristine.clone();
            bytes[page_offset as usize + byte] ^= 1 << bit;
            vfs.set_file(&path, bytes);

            let error = reader.read(in_page).unwrap_err();
            let (error_path, error_offset, _) = corrupt_offset(&error);
            assert_eq!((error_path, error_offset), (path.clone(), page_offset));
            let mut out = Vec::new();
            let error = reader.read_many(&[3, in_page, 100], &mut out).unwrap_err();
            assert_eq!(corrupt_offset(&error).1, page_offset);
            assert!(out.is_empty(), "read_many leaves out as it was on error");
            let mut seen = 0;
            let error = reader
                .scan(0, reader.len_on_disk(), |position, record| {
                    assert_eq!(*record, model[position as usize]);
                    seen += 1;
                })
                .unwrap_err();
            assert_eq!(corrupt_offset(&error).1, page_offset);
            assert_eq!(
                seen,
                page * RECORDS_PER_PAGE,
                "records before the bad page only"
            );
            assert_eq!(
                reader.read(in_page - RECORDS_PER_PAGE).unwrap(),
                model[in_page as usize - 31]
            );
        }
    }
    vfs.set_file(&path, pristine);
    check_reads(&reader, &model);
}

/// Rewrites the page at `page` with `edit`, then recomputes its checksum when `reseal`.
fn page_edit(vfs: &MemVfs, page: usize, reseal: bool, edit: impl FnOnce(&mut [u8])) {
    let path = records_path();
    let mut bytes = vfs.file(&path).unwrap();
    let page_bytes = &mut bytes[page * RECORD_PAGE_SIZE..(page + 1) * RECORD_PAGE_SIZE];
    edit(page_bytes);
    if reseal {
        let checksum = crc32c::crc32c(&page_bytes[24..]);
        page_bytes[20..24].copy_from_slice(&checksum.to_le_bytes());
    }
    vfs.set_file(&path, bytes);
}

#[test]
fn each_page_check_has_its_defect() {
    // Goal: each check of a page is reached and reported precisely: a page copied to another
    // index, a zeroed page, a checksummed page of another version or with reserved bytes set, a
    // damaged record, and a file shorter than the reader was told. Method: one edit per case on
    // a fresh file, reading the page through read and inspect.
    type Damage = Box<dyn Fn(&MemVfs)>;
    let cases: Vec<(&str, Damage, PageDefect)> = vec![
        (
            "page 1 copied over page 3",
            Box::new(|vfs| {
                let bytes = vfs.file(&records_path()).unwrap();
                let page_1 = bytes[RECORD_PAGE_SIZE..2 * RECORD_PAGE_SIZE].to_vec();
                page_edit(vfs, 3, false, |page| page.copy_from_slice(&page_1));
            }),
            PageDefect::IndexMismatch {
                expected: 3,
                found: 1,
            },
        ),
        (
            "zeroed page",
            Box::new(|vfs| page_edit(vfs, 3, false, |page| page.fill(0))),
            PageDefect::BadMagic,
        ),
        (
            "version 2",
            Box::new(|vfs| page_edit(vfs, 3, true, |page| page[8] = 2)),
            PageDefect::UnsupportedVersion { version: 2 },
        ),
        (
            "reserved byte set, checksum recomputed",
            Box::new(|vfs| page_edit(vfs, 3, true, |page| page[100] = 1)),
            PageDefect::ReservedNotZero,
        ),
        (
            "damaged record",
            Box::new(|vfs| page_edit(vfs, 3, false, |page| page[4000] ^= 0x10)),
            PageDefect::Checksum,
        ),
    ];
    for (name, damage, defect) in cases {
        let (vfs, _file, reader, _model) = five_pages();
        damage(&vfs);
        let error = reader.read(3 * RECORDS_PER_PAGE).unwrap_err();
        let (_, offset, reason) = corrupt_offset(&error);
        assert_eq!(offset, 3 * RECORD_PAGE_SIZE_U64, "{name}");
        assert_eq!(reason, defect.to_string(), "{name}");
        let records = inspect_with(&vfs, dir()).unwrap().records.unwrap();
        let found = records.defect.unwrap();
        assert_eq!((found.offset, found.reason), (offset, defect), "{name}");
        assert_eq!(records.bad_page_count, 1, "{name}");
    }

    // The file lost bytes behind the reader's back: the cut page is reported, not read.
    let (vfs, _file, reader, _model) = five_pages();
    let mut bytes = vfs.file(&records_path()).unwrap();
    bytes.truncate(4 * RECORD_PAGE_SIZE + 1000);
    vfs.set_file(&records_path(), bytes);
    let error = reader.read(4 * RECORDS_PER_PAGE).unwrap_err();
    let (_, offset, reason) = corrupt_offset(&error);
    assert_eq!(offset, 4 * RECORD_PAGE_SIZE_U64);
    assert_eq!(reason, PageDefect::Truncated { size: 1000 }.to_string());
    let error = reader.scan(0, reader.len_on_disk(), |_, _| {}).unwrap_err();
    assert_eq!(corrupt_offset(&error).1, 4 * RECORD_PAGE_SIZE_U64);
}

#[test]
fn torn_tail_is_cut_on_open_os() {
    // Goal: a partial last page (file size not a multiple of 4096, as a torn append leaves it)
    // is ignored and cut on open on the real file system, and appends after it land on page
    // boundaries.
    let temporary = tempfile::tempdir().unwrap();
    let dir = temporary.path();
    let mut file = RecordFile::open(OsVfs, dir).unwrap();
    let mut model = records(0..3 * RECORDS_PER_PAGE, 1);
    file.append(&model).unwrap();
    file.sync().unwrap();
    let path = file.path().to_path_buf();
    drop(file);
    let mut torn = std::fs::read(&path).unwrap();
    torn.extend_from_slice(&[0xAB; 1000]);
    std::fs::write(&path, torn).unwrap();

    let mut file = RecordFile::open(OsVfs, dir).unwrap();
    assert_eq!(file.torn_tail_size(), 1000);
    assert_eq!(file.len_on_disk(), 3 * RECORDS_PER_PAGE);
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        3 * RECORD_PAGE_SIZE_U64
    );
    let more = records(3 * RECORDS_PER_PAGE..4 * RECORDS_PER_PAGE, 2);
    file.append(&more).unwrap();
    file.sync().unwrap();
    model.extend(more);
    drop(file);
    let file = RecordFile::open(OsVfs, dir).unwrap();
    assert_eq!(file.torn_tail_size(), 0);
    check_reads(&file.reader().unwrap(), &model);
}

#[test]
fn crash_keeps_every_synced_record() {
    // Goal: on MemVfs, a crash keeps every synced record; a torn crash keeps in addition a
    // prefix of the unsynced pages, whose partial last page open cuts. Method: 10 synced pages,
    // then 6 written and a partial one buffered; a clean crash and torn crashes of many seeds.
    let setup = || {
        let vfs = MemVfs::new();
        let mut file = open(&vfs);
        let model = records(0..10 * RECORDS_PER_PAGE + 200, 4);
        file.append(&model[..310]).unwrap();
        assert_eq!(file.sync().unwrap(), 310);
        file.append(&model[310..]).unwrap();
        assert_eq!(file.len_on_disk(), 16 * RECORDS_PER_PAGE);
        (vfs, file, model)
    };
    let (vfs, file, model) = setup();
    vfs.crash();
    drop(file);
    let file = open(&vfs);
    assert_eq!((file.len(), file.synced_len()), (310, 310));
    check_reads(&file.reader().unwrap(), &model);

    let mut torn_tails = 0;
    let mut lengths = std::collections::BTreeSet::new();
    for seed in 0..64 {
        let (vfs, file, model) = setup();
        vfs.crash_torn(seed);
        drop(file);
        let mut file = open(&vfs);
        let len = file.len();
        assert!(
            (310..=16 * RECORDS_PER_PAGE).contains(&len),
            "seed {seed}: {len}"
        );
        assert_eq!(file.synced_len(), len);
        if file.torn_tail_size() > 0 {
            torn_tails += 1;
        }
        lengths.insert(len);
        let reader = file.reader().unwrap();
        check_reads(&reader, &model);
        // The node cuts back to its durable watermark and appends anew.
        file.truncate(310).unwrap();
        let fresh = records(310..372, 5);
        file.append(&fresh).unwrap();
        file.sync().unwrap();
        let mut expected = model[..310].to_vec();
        expected.extend(fresh);
        check_reads(&reader, &expected);
    }
    assert!(
        torn_tails > 32,
        "most torn crashes end mid-page: {torn_tails}"
    );
    assert!(
        lengths.len() > 3,
        "torn crashes keep different prefixes: {lengths:?}"
    );
}

#[test]
fn failed_sync_poisons_the_writer() {
    // Goal (fsyncgate): after a failed sync the writer refuses append, sync, truncate and new
    // readers even once the disk works again; existing readers still read verified pages, and
    // a reopen after a crash keeps the synced records.
    let vfs = MemVfs::new();
    let mut file = open(&vfs);
    let model = records(0..4 * RECORDS_PER_PAGE, 6);
    file.append(&model[..62]).unwrap();
    file.sync().unwrap();
    let reader = file.reader().unwrap();
    file.append(&model[62..]).unwrap();
    vfs.fail_syncs(true);
    assert!(matches!(
        file.sync(),
        Err(StorageError::Io {
            operation: "sync_data",
            ..
        })
    ));
    vfs.fail_syncs(false);
    assert!(matches!(
        file.append(&model[..1]),
        Err(StorageError::Poisoned)
    ));
    assert!(matches!(file.sync(), Err(StorageError::Poisoned)));
    assert!(matches!(file.truncate(0), Err(StorageError::Poisoned)));
    assert!(matches!(file.reader(), Err(StorageError::Poisoned)));
    assert_eq!(file.synced_len(), 62);
    check_reads(&reader, &model);
    vfs.crash();
    drop(file);
    let file = open(&vfs);
    assert_eq!(file.len(), 62);
    check_reads(&file.reader().unwrap(), &model);
}

#[test]
fn truncate_and_range_arguments_are_checked() {
    // Goal: truncate refuses a length that is not a multiple of 31 or above the whole pages on
    // disk, changing nothing (not even the buffered page); reads and scans outside the pages
    // on disk (including buffered records) are RecordsOutOfRange errors, never panics; a valid
    // truncate drops the buffer, cuts durably and hides the cut positions from readers.
    let vfs = MemVfs::new();
    let mut file = open(&vfs);
    let model = records(0..3 * RECORDS_PER_PAGE + 5, 7);
    file.append(&model).unwrap();
    let reader = file.reader().unwrap();
    let on_disk = 3 * RECORDS_PER_PAGE;
    for len in [
        1,
        30,
        32,
        on_disk - 1,
        on_disk + 5,
        on_disk + RECORDS_PER_PAGE,
        u64::MAX,
    ] {
        let error = file.truncate(len).unwrap_err();
        assert!(
            matches!(
                error,
                StorageError::RecordsTruncateInvalid { len: l, len_on_disk } if l == len && len_on_disk == on_disk
            ),
            "{len}: {error:?}"
        );
        assert_eq!(file.len(), on_disk + 5, "nothing changed");
    }

    for position in [on_disk, on_disk + 4, on_disk + 1000, u64::MAX] {
        let error = reader.read(position).unwrap_err();
        assert!(
            matches!(error, StorageError::RecordsOutOfRange { start, len, .. } if start == position && len == on_disk),
            "{position}: {error:?}"
        );
    }
    let mut out = vec![model[0]];
    let error = reader.read_many(&[0, 1, on_disk], &mut out).unwrap_err();
    assert!(matches!(error, StorageError::RecordsOutOfRange { .. }));
    assert_eq!(out, vec![model[0]]);
    for (start, end) in [
        (0, on_disk + 1),
        (10, 9),
        (on_disk + 1, on_disk + 2),
        (0, u64::MAX),
    ] {
        let error = reader
            .scan(start, end, |_, _| panic!("nothing is scanned"))
            .unwrap_err();
        assert!(
            matches!(error, StorageError::RecordsOutOfRange { .. }),
            "{start}..{end}: {error:?}"
        );
    }

    file.truncate(on_disk).unwrap();
    assert_eq!(file.len(), on_disk, "the buffered partial page is dropped");
    file.truncate(RECORDS_PER_PAGE).unwrap();
    assert_eq!(
        (file.len(), file.len_on_disk(), file.synced_len()),
        (31, 31, 31),
        "the cut is synced"
    );
    assert_eq!(vfs.file(&records_path()).unwrap().len(), RECORD_PAGE_SIZE);
    assert!(matches!(
        reader.read(31),
        Err(StorageError::RecordsOutOfRange { .. })
    ));
    vfs.crash();
    drop(file);
    let file = open(&vfs);
    assert_eq!(file.len(), 31, "the cut survived the crash");
    file.reader().unwrap().read(30).unwrap();
}

#[test]
fn readers_run_next_to_the_writer() {
    // Goal: readers on other threads, made before the appends, read every position below the
    // length they load while the writer keeps appending, and never see a page mid-write.
    // Method: the real file system, 3 reader threads, 400 pages appended in uneven chunks.
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<RecordReader<OsVfs>>();
    assert_send_sync::<RecordReader<MemVfs>>();

    let temporary = tempfile::tempdir().unwrap();
    let mut file = RecordFile::open(OsVfs, temporary.path()).unwrap();
    let reader = file.reader().unwrap();
    let total = 400 * RECORDS_PER_PAGE;
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for thread in 0..3u64 {
            let reader = reader.clone();
            let done = &done;
            scope.spawn(move || {
                let mut reads = 0u64;
                loop {
                    let finished = done.load(std::sync::atomic::Ordering::Acquire);
                    let len = reader.len_on_disk();
                    if len > 0 {
                        let last = len - 1;
                        assert_eq!(reader.read(last).unwrap(), record(last, 0));
                        let probe = (reads * 7919 + thread) % len;
                        let mut out = Vec::new();
                        reader.read_many(&[probe, last], &mut out).unwrap();
                        assert_eq!(out, vec![record(probe, 0), record(last, 0)]);
                        reads += 1;
                    }
                    if finished {
                        break;
                    }
                }
                assert!(reads > 0);
            });
        }
        let mut next = 0;
        let mut chunk = 1;
        while next < total {
            let end = (next + chunk).min(total);
            file.append(&records(next..end, 0)).unwrap();
            next = end;
            chunk = chunk * 3 % 97 + 1;
        }
        done.store(true, std::sync::atomic::Ordering::Release);
    });
    file.sync().unwrap();
    check_reads(&reader, &records(0..total, 0));
}

#[test]
fn inspect_reports_the_record_file() {
    // Goal: inspect reports the record file next to the log (pages, records, partial tail, bad
    // pages) without modifying it, and the Wal ignores the record file in its directory.
    let vfs = MemVfs::new();
    let (mut wal, _) = Wal::open_with(vfs.clone(), dir(), Options::default()).unwrap();
    wal.append(1, b"batch").unwrap();
    wal.sync().unwrap();
    let mut file = open(&vfs);
    file.append(&records(0..4 * RECORDS_PER_PAGE, 8)).unwrap();
    file.sync().unwrap();
    drop(file);
    drop(wal);
    let (wal, _) = Wal::open_with(vfs.clone(), dir(), Options::default()).unwrap();
    assert_eq!(wal.last_op(), 1);
    drop(wal);

    let inspection = inspect_with(&vfs, dir()).unwrap();
    assert!(inspection.other_files.is_empty());
    let records = inspection.records.unwrap();
    assert_eq!(records.path, records_path());
    assert_eq!(
        (
            records.page_count,
            records.record_count,
            records.partial_page_size
        ),
        (4, 4 * RECORDS_PER_PAGE, 0)
    );
    assert!(records.pages_ok());

    let mut bytes = vfs.file(&records_path()).unwrap();
    bytes[RECORD_PAGE_SIZE + 500] ^= 4;
    bytes[3 * RECORD_PAGE_SIZE + 5] ^= 4;
    bytes.extend_from_slice(&[1; 77]);
    vfs.set_file(&records_path(), bytes.clone());
    let records = inspect_with(&vfs, dir()).unwrap().records.unwrap();
    assert_eq!(
        vfs.file(&records_path()).unwrap(),
        bytes,
        "inspect modifies nothing"
    );
    assert_eq!((records.page_count, records.partial_page_size), (4, 77));
    assert_eq!(records.bad_page_count, 2);
    let defect = records.defect.unwrap();
    assert_eq!(
        (defect.offset, defect.reason),
        (RECORD_PAGE_SIZE_U64, PageDefect::Checksum)
    );
}

/// One step of the model test.
#[derive(Debug, Clone)]
enum Step {
    Append {
        count: u8,
    },
    Sync,
    /// Truncate to `pages % (whole pages + 1)` pages.
    Truncate {
        pages: u8,
    },
    /// Clean drop and reopen: the buffered partial page is lost, whole pages are kept.
    Reopen,
    /// Power loss; `torn` keeps a random prefix of the unsynced bytes.
    Crash {
        torn: bool,
        seed: u64,
    },
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0u8..100).prop_map(|count| Step::Append { count }),
        3 => Just(Step::Sync),
        1 => any::<u8>().prop_map(|pages| Step::Truncate { pages }),
        1 => Just(Step::Reopen),
        1 => (any::<bool>(), any::<u64>()).prop_map(|(torn, seed)| Step::Crash { torn, seed }),
    ]
}

fn model_run(steps: &[Step]) {
    let vfs = MemVfs::new();
    let mut file = open(&vfs);
    let mut reader = file.reader().unwrap();
    let mut model: Vec<Record> = Vec::new();
    let mut synced = 0u64;
    // Bumped by every truncate, so records rewritten at a cut position differ from the old.
    let mut generation = 0u64;
    for step in steps {
        match *step {
            Step::Append { count } => {
                let start = model.len() as u64;
                let new = records(start..start + u64::from(count), generation);
                file.append(&new).unwrap();
                model.extend(new);
            }
            Step::Sync => {
                synced = file.sync().unwrap();
                assert_eq!(
                    synced,
                    model.len() as u64 / RECORDS_PER_PAGE * RECORDS_PER_PAGE
                );
            }
            Step::Truncate { pages } => {
                let whole_pages = file.len_on_disk() / RECORDS_PER_PAGE;
                let len = u64::from(pages) % (whole_pages + 1) * RECORDS_PER_PAGE;
                file.truncate(len).unwrap();
                model.truncate(len as usize);
                synced = len;
                generation += 1;
            }
            Step::Reopen | Step::Crash { .. } => {
                match *step {
                    Step::Crash { torn: true, seed } => vfs.crash_torn(seed),
                    Step::Crash { torn: false, .. } => vfs.crash(),
                    _ => {}
                }
                drop(reader);
                drop(file);
                file = open(&vfs);
                reader = file.reader().unwrap();
                let len = file.len();
                let whole = model.len() as u64 / RECORDS_PER_PAGE * RECORDS_PER_PAGE;
                assert!(len >= synced, "lost synced records: {len} < {synced}");
                assert!(
                    len <= whole,
                    "recovered records never written: {len} > {whole}"
                );
                if matches!(step, Step::Reopen) {
                    assert_eq!(len, whole, "a clean reopen keeps every whole page");
                }
                model.truncate(len as usize);
                synced = len;
            }
        }
        let whole = model.len() as u64 / RECORDS_PER_PAGE * RECORDS_PER_PAGE;
        assert_eq!(file.len(), model.len() as u64);
        assert_eq!(file.len_on_disk(), whole);
        assert_eq!(file.synced_len(), synced);
        assert_eq!(reader.len_on_disk(), whole);
        check_reads_sampled(&reader, &model, 13);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn model_random_operations_keep_synced_records(
        steps in proptest::collection::vec(step_strategy(), 1..60),
    ) {
        // Goal: under any sequence of appends, syncs, truncates, clean reopens and crashes
        // (clean or torn), the record file holds a prefix of the model that contains every
        // synced record, the three lengths follow their rules, and read, read_many and scan
        // agree with the model. Method: drive the file and a Vec in lockstep on MemVfs and
        // compare after every step.
        model_run(&steps);
    }
}
