//! Measurement spike: where should transfer history + idempotency records live?
//!
//! `history-store-spike <fjall|redb|baseline|hybrid> [--n N] [--dir D] [--durable 0|1] [--cache-mb M]
//!                      [--check 0|1] [--queries Q]`
//!
//! Each subcommand runs the same pipeline against one store, in a fresh process, so
//! VmHWM is per store:
//!   1. insert N transfers in batches of 8189 (128-byte records keyed by a time-based u128
//!      id, plus two secondary entries (account, timestamp) -> id). Before writing each
//!      batch, every id of the batch is checked for existence (the ledger's idempotency
//!      check, all misses here); check and write time are reported separately.
//!      durable=1: fsync/durable commit per batch. durable=0: no sync per batch, but a
//!      durable checkpoint every 100 batches (~819k transfers) and at the end.
//!   2. warm point lookups (hit, miss), account range scans (latest 100 of one account,
//!      index scan + fetch of the 100 records).
//!   3. close, fsync + POSIX_FADV_DONTNEED every file (cold-ish OS cache, only our files),
//!      reopen (timed), then the same queries cold.
//! Output: `key=value` lines, machine-greppable.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const BATCH: usize = 8189;
const REC: usize = 128;
const ACCOUNTS: usize = 100_000;
const CLIENTS: u64 = 4;
const T0_MS: u128 = 1_790_000_000_000; // 2026-ish, 48-bit ms
const T0_NS: u64 = 1_790_000_000_000_000_000;
const SCAN: usize = 100;
const CHECKPOINT_EVERY: usize = 100;

// ---------------------------------------------------------------- workload

struct SplitMix(u64);
impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf(s=1.0) over ACCOUNTS ranks; rank r -> account id r+1.
struct Zipf {
    cdf: Vec<f64>,
}
impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut acc = 0.0;
        for k in 1..=n {
            acc += 1.0 / (k as f64).powf(s);
            cdf.push(acc);
        }
        for c in &mut cdf {
            *c /= acc;
        }
        Zipf { cdf }
    }
    fn sample(&self, r: &mut SplitMix) -> u128 {
        let u = r.unit();
        let i = self.cdf.partition_point(|&c| c < u);
        (i.min(self.cdf.len() - 1) + 1) as u128
    }
}

/// Time-based id: 48-bit ms | 16-bit client | 64-bit per-client counter. Four clients with
/// skewed clocks interleave, so ids arrive "sequential-ish", not sorted.
fn id_of(i: u64) -> u128 {
    let c = i % CLIENTS;
    let skew: [i64; 4] = [0, -3, 2, -1];
    let ms = (T0_MS as i128 + (i / 1000) as i128 + skew[c as usize] as i128) as u128;
    (ms << 80) | ((c as u128) << 64) | (i / CLIENTS) as u128
}
/// An id inside the key range that was never inserted (client 4..7 never exist).
fn miss_id(r: &mut SplitMix, n: u64) -> u128 {
    let i = r.below(n);
    id_of(i) | (4u128 << 64)
}
fn ts_of(i: u64) -> u64 {
    T0_NS + i
}

#[derive(Clone, Copy)]
struct Transfer {
    id: u128,
    debit: u128,
    credit: u128,
    ts: u64,
    rec: [u8; REC],
}

fn make_transfer(i: u64, z: &Zipf, r: &mut SplitMix) -> Transfer {
    let id = id_of(i);
    let debit = z.sample(r);
    let mut credit = z.sample(r);
    while credit == debit {
        credit = z.sample(r);
    }
    let ts = ts_of(i);
    let amount = 1 + r.below(1_000_000) as u128;
    let mut rec = [0u8; REC];
    // TigerBeetle-like layout (little endian, like the wire format).
    rec[0..16].copy_from_slice(&id.to_le_bytes());
    rec[16..32].copy_from_slice(&debit.to_le_bytes());
    rec[32..48].copy_from_slice(&credit.to_le_bytes());
    rec[48..64].copy_from_slice(&amount.to_le_bytes());
    // 64..80 pending_id = 0
    rec[80..96].copy_from_slice(&(r.next() as u128).to_le_bytes()); // user_data_128 (half random)
    rec[96..104].copy_from_slice(&(i % 977).to_le_bytes()); // user_data_64
    rec[104..108].copy_from_slice(&((i % 31) as u32).to_le_bytes()); // user_data_32
    // 108..112 timeout = 0
    rec[112..116].copy_from_slice(&1u32.to_le_bytes()); // ledger
    rec[116..118].copy_from_slice(&((i % 10) as u16 + 1).to_le_bytes()); // code
    // 118..120 flags = 0
    rec[120..128].copy_from_slice(&ts.to_le_bytes());
    Transfer { id, debit, credit, ts, rec }
}

fn rec_id(rec: &[u8]) -> u128 {
    u128::from_le_bytes(rec[0..16].try_into().unwrap())
}

fn acct_key(acct: u128, ts: u64) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..16].copy_from_slice(&acct.to_be_bytes());
    k[16..].copy_from_slice(&ts.to_be_bytes());
    k
}

// ---------------------------------------------------------------- measurement helpers

fn status(field: &str) -> u64 {
    let s = fs::read_to_string("/proc/self/status").unwrap();
    for l in s.lines() {
        if let Some(rest) = l.strip_prefix(field) {
            let kb: u64 = rest.trim_start_matches(':').trim().trim_end_matches("kB").trim().parse().unwrap();
            return kb * 1024;
        }
    }
    0
}
fn mib(b: u64) -> String {
    format!("{:.0}MiB", b as f64 / (1 << 20) as f64)
}
fn rss(tag: &str) {
    println!("rss_{tag}={} hwm_{tag}={}", mib(status("VmRSS")), mib(status("VmHWM")));
}
/// bytes this process caused to be written to storage so far (write amplification)
fn io_written() -> u64 {
    let s = fs::read_to_string("/proc/self/io").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn dir_size(p: &Path) -> u64 {
    let mut t = 0;
    if let Ok(rd) = fs::read_dir(p) {
        for e in rd.flatten() {
            // files may vanish under us (compaction): skip them
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                t += dir_size(&e.path());
            } else {
                // allocated bytes, not apparent size (sparse / preallocated files)
                use std::os::unix::fs::MetadataExt;
                t += m.blocks() * 512;
            }
        }
    }
    t
}

unsafe extern "C" {
    fn posix_fadvise(fd: i32, offset: i64, len: i64, advice: i32) -> i32;
}
/// fsync + FADV_DONTNEED every file under `p`: evicts only our files from the page cache.
fn drop_cache(p: &Path) {
    if let Ok(rd) = fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                drop_cache(&path);
            } else if let Ok(f) = File::open(&path) {
                let _ = f.sync_all();
                unsafe { posix_fadvise(f.as_raw_fd(), 0, 0, 4) };
            }
        }
    }
}

struct Lat(Vec<u64>);
impl Lat {
    fn new() -> Self {
        Lat(Vec::new())
    }
    fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let r = f();
        self.0.push(t.elapsed().as_nanos() as u64);
        r
    }
    fn report(&mut self, tag: &str) {
        self.0.sort_unstable();
        let n = self.0.len();
        let p = |q: f64| self.0[((n as f64 * q) as usize).min(n - 1)] as f64 / 1000.0;
        let mean = self.0.iter().sum::<u64>() as f64 / n as f64 / 1000.0;
        println!(
            "{tag}: n={n} p50={:.1}us p99={:.1}us p999={:.1}us max={:.1}us mean={:.1}us",
            p(0.5),
            p(0.99),
            p(0.999),
            p(1.0),
            mean
        );
    }
}

fn env_u64(k: &str, d: u64) -> u64 {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}
/// SORT_BATCH=1 (default): insert each batch's entries in key order
fn sorted() -> bool {
    env_u64("SORT_BATCH", 1) == 1
}

// ---------------------------------------------------------------- store abstraction

trait Store {
    /// true if the id exists (idempotency check)
    fn contains_batch(&mut self, ids: &[u128], out: &mut Vec<bool>);
    fn insert_batch(&mut self, batch: &[Transfer], durable: bool);
    fn checkpoint(&mut self);
    fn get(&mut self, id: u128) -> Option<[u8; REC]>;
    /// latest `SCAN` transfers of `acct`, newest first
    fn latest(&mut self, acct: u128, out: &mut Vec<[u8; REC]>);
    /// called after insert: wait for background work, return how long it took
    fn settle(&mut self) {}
    fn extra(&self) {}
}

// ---- fjall
#[cfg(feature = "fjall")]
mod fj {
    use super::*;
    use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

    pub struct Fj {
        pub db: Database,
        pub tx: Keyspace,
        pub by_acct: Keyspace,
    }
    impl Fj {
        pub fn open(dir: &Path, cache_mb: u64) -> Self {
            let db = Database::builder(dir).cache_size(cache_mb << 20).open().unwrap();
            let mt = env_u64("FJALL_MEMTABLE_MB", 64) << 20;
            let tx = db.keyspace("transfers", || KeyspaceCreateOptions::default().max_memtable_size(mt)).unwrap();
            let by_acct =
                db.keyspace("by_account", || KeyspaceCreateOptions::default().max_memtable_size(mt)).unwrap();
            Fj { db, tx, by_acct }
        }
    }
    impl Store for Fj {
        fn contains_batch(&mut self, ids: &[u128], out: &mut Vec<bool>) {
            out.clear();
            for id in ids {
                out.push(self.tx.contains_key(id.to_be_bytes()).unwrap());
            }
        }
        fn insert_batch(&mut self, batch: &[Transfer], durable: bool) {
            let mut b = self.db.batch();
            if durable {
                b = b.durability(Some(PersistMode::SyncData));
            }
            if sorted() {
                // order inside an atomic batch is irrelevant: feed the memtable in key order
                let mut p: Vec<(u128, &[u8; REC])> = batch.iter().map(|t| (t.id, &t.rec)).collect();
                p.sort_unstable_by_key(|e| e.0);
                let mut s: Vec<([u8; 24], u128)> = Vec::with_capacity(batch.len() * 2);
                for t in batch {
                    s.push((acct_key(t.debit, t.ts), t.id));
                    s.push((acct_key(t.credit, t.ts), t.id));
                }
                s.sort_unstable();
                for (id, rec) in p {
                    b.insert(&self.tx, id.to_be_bytes(), *rec);
                }
                for (k, id) in s {
                    b.insert(&self.by_acct, k, id.to_be_bytes());
                }
            } else {
                for t in batch {
                    b.insert(&self.tx, t.id.to_be_bytes(), t.rec);
                    b.insert(&self.by_acct, acct_key(t.debit, t.ts), t.id.to_be_bytes());
                    b.insert(&self.by_acct, acct_key(t.credit, t.ts), t.id.to_be_bytes());
                }
            }
            b.commit().unwrap();
        }
        fn checkpoint(&mut self) {
            self.db.persist(PersistMode::SyncData).unwrap();
        }
        fn get(&mut self, id: u128) -> Option<[u8; REC]> {
            self.tx.get(id.to_be_bytes()).unwrap().map(|v| v[..].try_into().unwrap())
        }
        fn latest(&mut self, acct: u128, out: &mut Vec<[u8; REC]>) {
            out.clear();
            let lo = acct_key(acct, 0);
            let hi = acct_key(acct, u64::MAX);
            for g in self.by_acct.range(lo..=hi).rev().take(SCAN) {
                let (_k, v) = g.into_inner().unwrap();
                let r = self.tx.get(&v[..]).unwrap().unwrap();
                out.push(r[..].try_into().unwrap());
            }
        }
        fn settle(&mut self) {
            let t = Instant::now();
            // let flushes and compactions drain so the query phases are not measuring them
            loop {
                let busy = self.db.outstanding_flushes() + self.db.active_compactions();
                if busy == 0 || t.elapsed() > Duration::from_secs(120) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            println!(
                "settle_s={:.1} tables_transfers={} tables_by_account={} l0_transfers={} l0_by_account={}",
                t.elapsed().as_secs_f64(),
                self.tx.table_count(),
                self.by_acct.table_count(),
                self.tx.l0_table_count(),
                self.by_acct.l0_table_count()
            );
        }
        fn extra(&self) {
            println!(
                "fjall_cache_used={} fjall_journal_disk={}",
                mib(self.db.cache_size()),
                mib(self.db.journal_disk_space().unwrap_or(0))
            );
        }
    }
}

// ---- redb
#[cfg(feature = "redb")]
mod rd {
    use super::*;
    use redb::{Database, Durability, ReadableDatabase, TableDefinition};

    const TX: TableDefinition<u128, [u8; REC]> = TableDefinition::new("transfers");
    const BY_ACCT: TableDefinition<(u128, u64), u128> = TableDefinition::new("by_account");

    pub struct Rd {
        pub db: Database,
    }
    impl Rd {
        pub fn open(dir: &Path, cache_mb: u64) -> Self {
            fs::create_dir_all(dir).unwrap();
            let db = Database::builder()
                .set_cache_size((cache_mb << 20) as usize)
                .create(dir.join("history.redb"))
                .unwrap();
            let w = db.begin_write().unwrap();
            w.open_table(TX).unwrap();
            w.open_table(BY_ACCT).unwrap();
            w.commit().unwrap();
            Rd { db }
        }
    }
    impl Store for Rd {
        fn contains_batch(&mut self, ids: &[u128], out: &mut Vec<bool>) {
            out.clear();
            let r = self.db.begin_read().unwrap();
            let t = r.open_table(TX).unwrap();
            for id in ids {
                out.push(t.get(*id).unwrap().is_some());
            }
        }
        fn insert_batch(&mut self, batch: &[Transfer], durable: bool) {
            let mut w = self.db.begin_write().unwrap();
            w.set_durability(if durable { Durability::Immediate } else { Durability::None })
                .unwrap();
            {
                let mut t = w.open_table(TX).unwrap();
                let mut a = w.open_table(BY_ACCT).unwrap();
                if sorted() {
                    let mut p: Vec<(u128, &[u8; REC])> = batch.iter().map(|t| (t.id, &t.rec)).collect();
                    p.sort_unstable_by_key(|e| e.0);
                    let mut s: Vec<((u128, u64), u128)> = Vec::with_capacity(batch.len() * 2);
                    for tr in batch {
                        s.push(((tr.debit, tr.ts), tr.id));
                        s.push(((tr.credit, tr.ts), tr.id));
                    }
                    s.sort_unstable();
                    for (id, rec) in p {
                        t.insert(id, rec).unwrap();
                    }
                    for (k, id) in s {
                        a.insert(k, id).unwrap();
                    }
                } else {
                    for tr in batch {
                        t.insert(tr.id, tr.rec).unwrap();
                        a.insert((tr.debit, tr.ts), tr.id).unwrap();
                        a.insert((tr.credit, tr.ts), tr.id).unwrap();
                    }
                }
            }
            w.commit().unwrap();
        }
        fn checkpoint(&mut self) {
            let mut w = self.db.begin_write().unwrap();
            w.set_durability(Durability::Immediate).unwrap();
            w.commit().unwrap();
        }
        fn get(&mut self, id: u128) -> Option<[u8; REC]> {
            // one read txn per lookup: the honest per-request cost
            let r = self.db.begin_read().unwrap();
            let t = r.open_table(TX).unwrap();
            t.get(id).unwrap().map(|g| g.value())
        }
        fn latest(&mut self, acct: u128, out: &mut Vec<[u8; REC]>) {
            out.clear();
            let r = self.db.begin_read().unwrap();
            let a = r.open_table(BY_ACCT).unwrap();
            let t = r.open_table(TX).unwrap();
            for e in a.range((acct, 0u64)..=(acct, u64::MAX)).unwrap().rev().take(SCAN) {
                let (_k, v) = e.unwrap();
                out.push(t.get(v.value()).unwrap().unwrap().value());
            }
        }
    }
}

// ---- hybrid: append-only record file (position = index, like the baseline) + fjall for the
// two indexes only: id -> position (idempotency / lookup) and (account, position) -> ()
#[cfg(feature = "fjall")]
mod hy {
    use super::*;
    use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

    pub struct Hy {
        db: Database,
        ids: Keyspace,
        by_acct: Keyspace,
        file: File,
        len: u64,
        buf: Vec<u8>,
    }
    impl Hy {
        pub fn open(dir: &Path, cache_mb: u64, fresh: bool) -> Self {
            let db = Database::builder(dir.join("index")).cache_size(cache_mb << 20).open().unwrap();
            let mt = env_u64("FJALL_MEMTABLE_MB", 64) << 20;
            let ids = db.keyspace("ids", || KeyspaceCreateOptions::default().max_memtable_size(mt)).unwrap();
            let by_acct =
                db.keyspace("by_account", || KeyspaceCreateOptions::default().max_memtable_size(mt)).unwrap();
            let file = OpenOptions::new()
                .create(true)
                .truncate(fresh)
                .read(true)
                .write(true)
                .open(dir.join("transfers.dat"))
                .unwrap();
            let len = file.metadata().unwrap().len() / REC as u64;
            let mut file = file;
            use std::io::Seek;
            file.seek(std::io::SeekFrom::End(0)).unwrap();
            Hy { db, ids, by_acct, file, len, buf: Vec::new() }
        }
        fn read(&self, pos: u64) -> [u8; REC] {
            let mut r = [0u8; REC];
            self.file.read_exact_at(&mut r, pos * REC as u64).unwrap();
            r
        }
    }
    fn acct_pos(acct: u128, pos: u64) -> [u8; 24] {
        acct_key(acct, pos)
    }
    impl Store for Hy {
        fn contains_batch(&mut self, ids: &[u128], out: &mut Vec<bool>) {
            out.clear();
            for id in ids {
                out.push(self.ids.contains_key(id.to_be_bytes()).unwrap());
            }
        }
        fn insert_batch(&mut self, batch: &[Transfer], durable: bool) {
            self.buf.clear();
            let mut p: Vec<(u128, u64)> = Vec::with_capacity(batch.len());
            let mut s: Vec<[u8; 24]> = Vec::with_capacity(batch.len() * 2);
            for t in batch {
                self.buf.extend_from_slice(&t.rec);
                p.push((t.id, self.len));
                s.push(acct_pos(t.debit, self.len));
                s.push(acct_pos(t.credit, self.len));
                self.len += 1;
            }
            self.file.write_all(&self.buf).unwrap();
            if durable {
                self.file.sync_data().unwrap();
            }
            if sorted() {
                p.sort_unstable();
                s.sort_unstable();
            }
            let mut b = self.db.batch();
            if durable {
                b = b.durability(Some(PersistMode::SyncData));
            }
            for (id, pos) in p {
                b.insert(&self.ids, id.to_be_bytes(), pos.to_be_bytes());
            }
            for k in s {
                b.insert(&self.by_acct, k, []);
            }
            b.commit().unwrap();
        }
        fn checkpoint(&mut self) {
            self.file.sync_data().unwrap();
            self.db.persist(PersistMode::SyncData).unwrap();
        }
        fn get(&mut self, id: u128) -> Option<[u8; REC]> {
            let pos = self.ids.get(id.to_be_bytes()).unwrap()?;
            Some(self.read(u64::from_be_bytes(pos[..].try_into().unwrap())))
        }
        fn latest(&mut self, acct: u128, out: &mut Vec<[u8; REC]>) {
            out.clear();
            let lo = acct_pos(acct, 0);
            let hi = acct_pos(acct, u64::MAX);
            for g in self.by_acct.range(lo..=hi).rev().take(SCAN) {
                let k = g.key().unwrap();
                let pos = u64::from_be_bytes(k[16..24].try_into().unwrap());
                out.push(self.read(pos));
            }
        }
        fn settle(&mut self) {
            let t = Instant::now();
            loop {
                let busy = self.db.outstanding_flushes() + self.db.active_compactions();
                if busy == 0 || t.elapsed() > Duration::from_secs(120) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            println!("settle_s={:.1}", t.elapsed().as_secs_f64());
        }
    }
}

// ---- hand-rolled baseline: append-only file + RAM indexes
mod bl {
    use super::*;

    pub struct Bl {
        pub file: File,
        pub len: u64,
        pub index: HashMap<u128, u64>,
        /// dense account slot (id-1) -> positions in timestamp order
        pub by_acct: Vec<Vec<u64>>,
        buf: Vec<u8>,
    }
    impl Bl {
        pub fn create(dir: &Path) -> Self {
            fs::create_dir_all(dir).unwrap();
            let file = OpenOptions::new()
                .create(true)
                .truncate(true)
                .read(true)
                .write(true)
                .open(dir.join("transfers.dat"))
                .unwrap();
            Bl { file, len: 0, index: HashMap::new(), by_acct: vec![Vec::new(); ACCOUNTS], buf: Vec::new() }
        }
        /// reopen = rebuild both RAM indexes by scanning the file sequentially
        pub fn reopen(dir: &Path) -> Self {
            let mut file = OpenOptions::new().read(true).write(true).open(dir.join("transfers.dat")).unwrap();
            let mut s = Bl::create_empty(&file);
            let mut buf = vec![0u8; REC * 8192];
            let mut pos = 0u64;
            loop {
                let mut filled = 0;
                while filled < buf.len() {
                    let k = file.read(&mut buf[filled..]).unwrap();
                    if k == 0 {
                        break;
                    }
                    filled += k;
                }
                for rec in buf[..filled].chunks_exact(REC) {
                    let id = rec_id(rec);
                    let d = u128::from_le_bytes(rec[16..32].try_into().unwrap());
                    let c = u128::from_le_bytes(rec[32..48].try_into().unwrap());
                    s.index.insert(id, pos);
                    s.by_acct[(d - 1) as usize].push(pos);
                    s.by_acct[(c - 1) as usize].push(pos);
                    pos += 1;
                }
                if filled < buf.len() {
                    break;
                }
            }
            s.len = pos;
            s.file = file;
            s
        }
        fn create_empty(f: &File) -> Self {
            Bl {
                file: f.try_clone().unwrap(),
                len: 0,
                index: HashMap::new(),
                by_acct: vec![Vec::new(); ACCOUNTS],
                buf: Vec::new(),
            }
        }
        fn read(&self, pos: u64) -> [u8; REC] {
            let mut r = [0u8; REC];
            self.file.read_exact_at(&mut r, pos * REC as u64).unwrap();
            r
        }
    }
    impl Store for Bl {
        fn contains_batch(&mut self, ids: &[u128], out: &mut Vec<bool>) {
            out.clear();
            for id in ids {
                out.push(self.index.contains_key(id));
            }
        }
        fn insert_batch(&mut self, batch: &[Transfer], durable: bool) {
            self.buf.clear();
            for t in batch {
                self.buf.extend_from_slice(&t.rec);
                self.index.insert(t.id, self.len);
                self.by_acct[(t.debit - 1) as usize].push(self.len);
                self.by_acct[(t.credit - 1) as usize].push(self.len);
                self.len += 1;
            }
            self.file.write_all(&self.buf).unwrap();
            if durable {
                self.file.sync_data().unwrap();
            }
        }
        fn checkpoint(&mut self) {
            self.file.sync_data().unwrap();
        }
        fn get(&mut self, id: u128) -> Option<[u8; REC]> {
            self.index.get(&id).map(|&p| self.read(p))
        }
        fn latest(&mut self, acct: u128, out: &mut Vec<[u8; REC]>) {
            out.clear();
            let v = &self.by_acct[(acct - 1) as usize];
            for &p in v.iter().rev().take(SCAN) {
                out.push(self.read(p));
            }
        }
        fn extra(&self) {
            // hashbrown: buckets = next_pow2(cap * 8 / 7), 32-byte (u128, u64) slot + 1 control byte
            let buckets = (self.index.capacity() as u64 * 8 / 7).next_power_of_two();
            let idx_bytes = buckets * (32 + 1);
            let lists: u64 = self.by_acct.iter().map(|v| v.capacity() as u64 * 8).sum();
            let used: u64 = self.by_acct.iter().map(|v| v.len() as u64 * 8).sum();
            println!(
                "baseline_hash_len={} hash_cap={} hash_est_bytes={} acct_lists_cap_bytes={} acct_lists_used_bytes={}",
                self.index.len(),
                self.index.capacity(),
                mib(idx_bytes),
                mib(lists),
                mib(used)
            );
        }
    }
}

// ---------------------------------------------------------------- driver

struct Args {
    store: String,
    n: u64,
    dir: PathBuf,
    durable: bool,
    cache_mb: u64,
    check: bool,
    queries: usize,
}

fn parse() -> Args {
    let v: Vec<String> = std::env::args().collect();
    let mut a = Args {
        store: v.get(1).cloned().unwrap_or_default(),
        n: 10_000_000,
        dir: PathBuf::from("/work/spike-data"),
        durable: false,
        cache_mb: 512,
        check: true,
        queries: 100_000,
    };
    let mut i = 2;
    while i + 1 < v.len() {
        let val = &v[i + 1];
        match v[i].as_str() {
            "--n" => a.n = val.parse().unwrap(),
            "--dir" => a.dir = PathBuf::from(val),
            "--durable" => a.durable = val == "1",
            "--cache-mb" => a.cache_mb = val.parse().unwrap(),
            "--check" => a.check = val == "1",
            "--queries" => a.queries = val.parse().unwrap(),
            o => panic!("unknown flag {o}"),
        }
        i += 2;
    }
    if !["fjall", "redb", "baseline", "hybrid"].contains(&a.store.as_str()) {
        eprintln!("usage: history-store-spike <fjall|redb|baseline|hybrid> [--n N] [--dir D] [--durable 0|1] [--cache-mb M] [--check 0|1] [--queries Q]");
        std::process::exit(2);
    }
    a
}

fn open(a: &Args, dir: &Path, fresh: bool) -> Box<dyn Store> {
    match a.store.as_str() {
        #[cfg(feature = "fjall")]
        "fjall" => Box::new(fj::Fj::open(dir, a.cache_mb)),
        #[cfg(feature = "fjall")]
        "hybrid" => Box::new(hy::Hy::open(dir, a.cache_mb, fresh)),
        #[cfg(feature = "redb")]
        "redb" => Box::new(rd::Rd::open(dir, a.cache_mb)),
        #[allow(unreachable_patterns)]
        "fjall" | "redb" | "hybrid" => panic!("built without that feature"),
        _ => {
            if fresh {
                Box::new(bl::Bl::create(dir))
            } else {
                Box::new(bl::Bl::reopen(dir))
            }
        }
    }
}

fn queries(s: &mut dyn Store, a: &Args, tag: &str, z: &Zipf, seed: u64, q: usize) {
    let mut r = SplitMix(seed);
    let mut hit = Lat::new();
    let mut miss = Lat::new();
    let mut scan = Lat::new();
    let mut scan_len = 0usize;
    let mut out = Vec::with_capacity(SCAN);
    for k in 0..q {
        let i = r.below(a.n);
        let id = id_of(i);
        let got = hit.time(|| s.get(id));
        assert_eq!(rec_id(&got.expect("hit must exist")), id);
        let m = miss_id(&mut r, a.n);
        assert!(miss.time(|| s.get(m)).is_none());
        if k % 10 == 0 {
            let acct = z.sample(&mut r);
            scan.time(|| s.latest(acct, &mut out));
            scan_len += out.len();
            // newest first
            if out.len() > 1 {
                let t0 = u64::from_le_bytes(out[0][120..128].try_into().unwrap());
                let t1 = u64::from_le_bytes(out[1][120..128].try_into().unwrap());
                assert!(t0 > t1);
            }
        }
    }
    hit.report(&format!("{tag}_get_hit"));
    miss.report(&format!("{tag}_get_miss"));
    scan.report(&format!("{tag}_scan_latest100"));
    println!("{tag}_scan_avg_rows={:.1}", scan_len as f64 / scan.0.len() as f64);
}

fn main() {
    let a = parse();
    let dir = a.dir.join(&a.store);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    println!(
        "store={} n={} durable={} cache_mb={} check={} batch={BATCH} accounts={ACCOUNTS} zipf_s=1.0",
        a.store, a.n, a.durable, a.cache_mb, a.check
    );
    let z = Zipf::new(ACCOUNTS, 1.0);
    rss("start");

    // ---- 1. insert
    let mut s = open(&a, &dir, true);
    let mut r = SplitMix(42);
    let mut batch = Vec::with_capacity(BATCH);
    let mut ids = Vec::with_capacity(BATCH);
    let mut seen = Vec::with_capacity(BATCH);
    let (mut t_gen, mut t_check, mut t_write, mut t_ckpt) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut worst_batch = Duration::ZERO;
    let t_all = Instant::now();
    let mut i = 0u64;
    let mut nb = 0usize;
    let mut next_report = 1_000_000u64;
    while i < a.n {
        let t = Instant::now();
        batch.clear();
        ids.clear();
        let end = (i + BATCH as u64).min(a.n);
        for j in i..end {
            let tr = make_transfer(j, &z, &mut r);
            ids.push(tr.id);
            batch.push(tr);
        }
        t_gen += t.elapsed();
        if a.check {
            let t = Instant::now();
            s.contains_batch(&ids, &mut seen);
            assert!(seen.iter().all(|x| !x));
            t_check += t.elapsed();
        }
        let t = Instant::now();
        s.insert_batch(&batch, a.durable);
        let e = t.elapsed();
        worst_batch = worst_batch.max(e);
        t_write += e;
        nb += 1;
        if !a.durable && nb % CHECKPOINT_EVERY == 0 {
            let t = Instant::now();
            s.checkpoint();
            t_ckpt += t.elapsed();
        }
        i = end;
        if i >= next_report {
            println!(
                "progress n={i} elapsed_s={:.1} rate={:.0}/s rss={} disk={}",
                t_all.elapsed().as_secs_f64(),
                i as f64 / t_all.elapsed().as_secs_f64(),
                mib(status("VmRSS")),
                mib(dir_size(&dir))
            );
            next_report += 1_000_000;
        }
    }
    let t = Instant::now();
    s.checkpoint();
    t_ckpt += t.elapsed();
    let wall = t_all.elapsed().as_secs_f64();
    let store_s = (t_write + t_ckpt).as_secs_f64();
    println!(
        "insert_wall_s={wall:.1} gen_s={:.1} check_s={:.1} write_s={:.1} checkpoint_s={:.1} worst_batch_ms={:.1}",
        t_gen.as_secs_f64(),
        t_check.as_secs_f64(),
        t_write.as_secs_f64(),
        t_ckpt.as_secs_f64(),
        worst_batch.as_secs_f64() * 1e3
    );
    println!(
        "insert_rate_write_only={:.0}/s insert_rate_check_plus_write={:.0}/s",
        a.n as f64 / store_s,
        a.n as f64 / (store_s + t_check.as_secs_f64())
    );
    rss("after_insert");
    s.settle();
    println!(
        "disk_after_insert={} io_written_after_settle={} ({:.1}x of raw 128B records)",
        mib(dir_size(&dir)),
        mib(io_written()),
        io_written() as f64 / (a.n as f64 * REC as f64)
    );
    s.extra();

    // ---- 2. warm queries (first a warm-up pass)
    queries(s.as_mut(), &a, "warmup", &z, 7, a.queries / 4);
    queries(s.as_mut(), &a, "warm", &z, 8, a.queries);
    rss("after_warm");
    println!("disk_after_warm={}", mib(dir_size(&dir)));

    // ---- 3. cold-ish: close, evict our files from the page cache, reopen
    drop(s);
    let hwm_before_reopen = status("VmHWM");
    drop_cache(&dir);
    let t = Instant::now();
    let mut s = open(&a, &dir, false);
    println!("reopen_s={:.2}", t.elapsed().as_secs_f64());
    drop_cache(&dir);
    rss("after_reopen");
    queries(s.as_mut(), &a, "cold", &z, 9, (a.queries / 20).max(1000));
    rss("after_cold");
    drop(s);
    println!("disk_final={}", mib(dir_size(&dir)));
    println!("peak_rss_overall={} (hwm before reopen {})", mib(status("VmHWM")), mib(hwm_before_reopen));
}
