//! [`MemVfs`]: an in-memory [`Vfs`] that models durability, for tests and the simulator.
//!
//! Fault model (what a crash may do, and nothing more, so tests do not raise false alarms):
//! - file data appended or truncated but not made durable by `sync_data` is lost on
//!   [`MemVfs::crash`]; with [`MemVfs::crash_torn`] each file instead keeps a random prefix of
//!   its unsynced appended bytes (a torn write);
//! - creations, renames and removals are lost on a crash unless `sync_dir` ran on the directory
//!   after them (a file whose name was never made durable disappears);
//! - directories themselves are durable as soon as they are created (simplification: the WAL
//!   only creates its data directory once);
//! - while [`MemVfs::fail_syncs`] is on, `sync_data` and `sync_dir` fail and make nothing
//!   durable; [`MemVfs::fail_sync_after`] fails just one later sync (the next ones succeed, as
//!   they may on Linux after a failed `fsync`: fsyncgate);
//! - [`MemVfs::crash_after`] crashes the disk at an exact later call, mid-operation: the
//!   `n`-th call from now that changes anything crashes (torn or not) instead of completing, a
//!   write in flight reaching the disk only as far as a torn crash keeps; from then on every
//!   call fails, as calls from a dead process would, until [`MemVfs::restart`]
//!   ([`MemVfs::halt`] stops every call at once without a crash);
//! - [`MemVfs::flip_on_read`] makes every read of one bit of a file return it flipped (bit rot
//!   or a bad sector: the stored bytes are intact, every read sees the flip) until
//!   [`MemVfs::clear_read_faults`].
//!
//! Handles opened before a crash are stale afterwards and fail every call, as the process that
//! held them would be gone. Clones share one file system.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::vfs::{Vfs, VfsFile};

/// An in-memory file system that loses unsynced data on [`MemVfs::crash`].
#[derive(Debug, Clone, Default)]
pub struct MemVfs {
    state: Arc<Mutex<MemState>>,
}

#[derive(Debug, Default)]
struct MemState {
    directories: BTreeSet<PathBuf>,
    names_live: BTreeMap<PathBuf, u64>,
    names_durable: BTreeMap<PathBuf, u64>,
    inodes: BTreeMap<u64, Inode>,
    inode_next: u64,
    /// Bumped by every crash; handles and locks from an older generation are dead.
    generation: u64,
    locks: BTreeSet<PathBuf>,
    sync_fails: bool,
    sync_count: u64,
    /// Successful syncs left before one fails (`fail_sync_after`).
    sync_fail_countdown: Option<u64>,
    /// Changing calls left before the disk crashes, and the torn-write seed (`crash_after`).
    crash_countdown: Option<(u64, Option<u64>)>,
    /// Every call fails (the process is dead) until `restart`.
    halted: bool,
}

#[derive(Debug, Default)]
struct Inode {
    live: Vec<u8>,
    durable: Vec<u8>,
    /// Bits (byte offset * 8 + bit) that every read returns flipped.
    read_flips: BTreeSet<u64>,
}

/// A handle on a [`MemVfs`] file.
#[derive(Debug)]
pub struct MemFile {
    state: Arc<Mutex<MemState>>,
    inode: u64,
    generation: u64,
    writable: bool,
}

/// The directory lock of a [`MemVfs`]; released on drop (or by a crash).
#[derive(Debug)]
pub struct MemLock {
    state: Arc<Mutex<MemState>>,
    dir: PathBuf,
    generation: u64,
}

fn lock_state(state: &Mutex<MemState>) -> MutexGuard<'_, MemState> {
    // Poisoning means a test already panicked while holding the lock; the data is still a
    // consistent snapshot of the model, so carry on rather than cascade panics.
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn halted_error() -> io::Error {
    io::Error::other("halted: the process using this file system is dead")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

impl MemVfs {
    #[must_use]
    pub fn new() -> MemVfs {
        MemVfs::default()
    }

    fn state(&self) -> MutexGuard<'_, MemState> {
        lock_state(&self.state)
    }

    /// Simulates power loss: everything not made durable is dropped.
    pub fn crash(&self) {
        self.state().crash(None);
    }

    /// Simulates power loss with torn writes: each file keeps its durable bytes plus a prefix,
    /// of a length drawn from `seed`, of the bytes appended after its last sync.
    pub fn crash_torn(&self, seed: u64) {
        self.state().crash(Some(seed));
    }

    /// While `fail` is true, every `sync_data` and `sync_dir` returns an error.
    pub fn fail_syncs(&self, fail: bool) {
        self.state().sync_fails = fail;
    }

    /// The `count + 1`-th `sync_data` or `sync_dir` from now fails (making nothing durable);
    /// the syncs before and after it succeed.
    pub fn fail_sync_after(&self, count: u64) {
        self.state().sync_fail_countdown = Some(count);
    }

    /// Arms a crash at an exact later call: `count` calls that change the file system (create,
    /// write, truncate, sync, rename, remove) complete, and the next one crashes the disk
    /// instead (with torn writes when `torn_seed` is given, a write in flight reaching the disk
    /// only as far as the tear keeps it), then halts: every later call fails until
    /// [`MemVfs::restart`]. Replaces any crash armed before.
    pub fn crash_after(&self, count: u64, torn_seed: Option<u64>) {
        self.state().crash_countdown = Some((count, torn_seed));
    }

    /// Stops every later call (the process died), without touching the disk; follow with
    /// [`MemVfs::crash`] or [`MemVfs::crash_torn`] to lose what was not durable.
    pub fn halt(&self) {
        self.state().halted = true;
    }

    /// Whether the file system is halted (by [`MemVfs::halt`] or a crash armed with
    /// [`MemVfs::crash_after`] that fired).
    #[must_use]
    pub fn halted(&self) -> bool {
        self.state().halted
    }

    /// A new process: calls work again, and no crash stays armed.
    pub fn restart(&self) {
        let mut state = self.state();
        state.halted = false;
        state.crash_countdown = None;
    }

    /// Every later read of bit `bit` (byte offset * 8 + bit index) of the file now named `path`
    /// returns it flipped; the file keeps the fault when renamed. Panics if the file does not
    /// exist: this is a test helper and a wrong path is a test bug.
    pub fn flip_on_read(&self, path: &Path, bit: u64) {
        let mut state = self.state();
        let inode = *state
            .names_live
            .get(path)
            .expect("flip_on_read on an existing file");
        state
            .inodes
            .get_mut(&inode)
            .expect("every named inode exists")
            .read_flips
            .insert(bit);
    }

    /// Removes every fault armed by [`MemVfs::flip_on_read`] (the disk was repaired).
    pub fn clear_read_faults(&self) {
        for inode in self.state().inodes.values_mut() {
            inode.read_flips.clear();
        }
    }

    /// How many `sync_data` and `sync_dir` calls succeeded so far.
    #[must_use]
    pub fn sync_count(&self) -> u64 {
        self.state().sync_count
    }

    /// The current (not necessarily durable) contents of `path`.
    #[must_use]
    pub fn file(&self, path: &Path) -> Option<Vec<u8>> {
        let state = self.state();
        let inode = state.names_live.get(path)?;
        Some(state.inodes[inode].live.clone())
    }

    /// Replaces the contents of an existing file, durably, as a disk fault would. Panics if the
    /// file does not exist: this is a test helper and a wrong path is a test bug.
    pub fn set_file(&self, path: &Path, contents: Vec<u8>) {
        let mut state = self.state();
        let inode = *state
            .names_live
            .get(path)
            .expect("set_file on an existing file");
        let inode = state
            .inodes
            .get_mut(&inode)
            .expect("every named inode exists");
        inode.durable.clone_from(&contents);
        inode.live = contents;
    }

    /// Names of the live files in `dir`, sorted.
    #[must_use]
    pub fn file_names(&self, dir: &Path) -> Vec<String> {
        let mut names = self.list(dir).unwrap_or_default();
        names.sort();
        names
    }
}

impl MemState {
    fn crash(&mut self, torn_seed: Option<u64>) {
        let mut random = torn_seed.map(SplitMix64);
        self.names_live = self.names_durable.clone();
        let named: BTreeSet<u64> = self.names_durable.values().copied().collect();
        self.inodes.retain(|inode, _| named.contains(inode));
        for inode in self.inodes.values_mut() {
            let extra = inode.live.len().saturating_sub(inode.durable.len());
            let keep = match random.as_mut() {
                Some(random) if extra > 0 && inode.live.starts_with(&inode.durable) => {
                    let keep = random.below(extra as u64 + 1);
                    usize::try_from(keep).expect("keep <= extra, which is a usize")
                }
                _ => 0,
            };
            // The kept prefix reached the platter: from now on it is as durable as the rest.
            if keep > 0 {
                let durable_size = inode.durable.len();
                let kept = inode.live[durable_size..durable_size + keep].to_vec();
                inode.durable.extend_from_slice(&kept);
            }
            inode.live.clone_from(&inode.durable);
        }
        self.locks.clear();
        self.generation += 1;
        self.crash_countdown = None;
    }

    /// Fails once halted; otherwise counts down an armed crash. Called first by every call that
    /// changes the file system. When the crash fires, `in_flight` (an inode and the bytes being
    /// appended to it) first reaches the live file, so a torn crash may keep part of it.
    fn change(&mut self, in_flight: Option<(u64, &[u8])>) -> io::Result<()> {
        if self.halted {
            return Err(halted_error());
        }
        match &mut self.crash_countdown {
            None => Ok(()),
            Some((remaining, _)) if *remaining > 0 => {
                *remaining -= 1;
                Ok(())
            }
            Some((_, torn_seed)) => {
                let torn_seed = *torn_seed;
                if let Some((inode, data)) = in_flight
                    && let Some(inode) = self.inodes.get_mut(&inode)
                {
                    inode.live.extend_from_slice(data);
                }
                self.crash(torn_seed);
                self.halted = true;
                Err(io::Error::other("crashed mid-operation"))
            }
        }
    }

    fn alive(&self) -> io::Result<()> {
        if self.halted {
            return Err(halted_error());
        }
        Ok(())
    }

    fn inode_create(&mut self, path: &Path) -> io::Result<u64> {
        let parent = path.parent().ok_or_else(|| not_found(path))?;
        if !self.directories.contains(parent) {
            return Err(not_found(parent));
        }
        if self.names_live.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} already exists", path.display()),
            ));
        }
        let inode = self.inode_next;
        self.inode_next += 1;
        self.inodes.insert(inode, Inode::default());
        self.names_live.insert(path.to_path_buf(), inode);
        Ok(inode)
    }

    fn sync_check(&mut self) -> io::Result<()> {
        if self.sync_fails {
            return Err(io::Error::other("injected sync failure"));
        }
        match &mut self.sync_fail_countdown {
            Some(0) => {
                self.sync_fail_countdown = None;
                return Err(io::Error::other("injected sync failure"));
            }
            Some(remaining) => *remaining -= 1,
            None => {}
        }
        self.sync_count += 1;
        Ok(())
    }
}

impl MemVfs {
    fn handle(&self, inode: u64, writable: bool) -> MemFile {
        let generation = self.state().generation;
        MemFile {
            state: Arc::clone(&self.state),
            inode,
            generation,
            writable,
        }
    }

    fn open(&self, path: &Path, writable: bool) -> io::Result<MemFile> {
        let state = self.state();
        state.alive()?;
        let inode = *state.names_live.get(path).ok_or_else(|| not_found(path))?;
        drop(state);
        Ok(self.handle(inode, writable))
    }
}

impl Vfs for MemVfs {
    type File = MemFile;
    type Lock = MemLock;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state();
        state.change(None)?;
        for ancestor in dir.ancestors() {
            state.directories.insert(ancestor.to_path_buf());
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let state = self.state();
        state.alive()?;
        if !state.directories.contains(dir) {
            return Err(not_found(dir));
        }
        let names = state
            .names_live
            .keys()
            .filter(|path| path.parent() == Some(dir))
            .filter_map(|path| path.file_name()?.to_str().map(str::to_owned))
            .collect();
        Ok(names)
    }

    fn open_read(&self, path: &Path) -> io::Result<MemFile> {
        self.open(path, false)
    }

    fn open_append(&self, path: &Path) -> io::Result<MemFile> {
        self.open(path, true)
    }

    fn create(&self, path: &Path) -> io::Result<MemFile> {
        let inode = {
            let mut state = self.state();
            state.change(None)?;
            state.inode_create(path)?
        };
        Ok(self.handle(inode, true))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.state();
        state.change(None)?;
        let inode = state
            .names_live
            .remove(from)
            .ok_or_else(|| not_found(from))?;
        state.names_live.insert(to.to_path_buf(), inode);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        // The inode stays until the next crash so open handles keep working, as on unix.
        let mut state = self.state();
        state.change(None)?;
        state
            .names_live
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| not_found(path))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state();
        state.change(None)?;
        state.sync_check()?;
        let in_dir = |path: &PathBuf| path.parent() == Some(dir);
        let live: Vec<(PathBuf, u64)> = state
            .names_live
            .iter()
            .filter(|(path, _)| in_dir(path))
            .map(|(path, inode)| (path.clone(), *inode))
            .collect();
        state.names_durable.retain(|path, _| !in_dir(path));
        state.names_durable.extend(live);
        Ok(())
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<MemLock> {
        let mut state = self.state();
        state.alive()?;
        if !state.locks.insert(dir.to_path_buf()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let generation = state.generation;
        Ok(MemLock {
            state: Arc::clone(&self.state),
            dir: dir.to_path_buf(),
            generation,
        })
    }
}

impl Drop for MemLock {
    fn drop(&mut self) {
        let mut state = lock_state(&self.state);
        // A crash already released every lock; don't release a lock taken after it.
        if state.generation == self.generation {
            state.locks.remove(&self.dir);
        }
    }
}

impl MemFile {
    fn inode<'a>(&self, state: &'a mut MemState) -> io::Result<&'a mut Inode> {
        state.alive()?;
        if state.generation != self.generation {
            return Err(io::Error::other(
                "stale handle: the file system crashed since open",
            ));
        }
        state
            .inodes
            .get_mut(&self.inode)
            .ok_or_else(|| io::Error::other("inode vanished"))
    }

    fn inode_writable<'a>(&self, state: &'a mut MemState) -> io::Result<&'a mut Inode> {
        if !self.writable {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "opened read-only",
            ));
        }
        self.inode(state)
    }
}

impl VfsFile for MemFile {
    fn size(&self) -> io::Result<u64> {
        let mut state = lock_state(&self.state);
        Ok(self.inode(&mut state)?.live.len() as u64)
    }

    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> io::Result<usize> {
        let mut state = lock_state(&self.state);
        let inode = self.inode(&mut state)?;
        let live = &inode.live;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(live.len());
        let read = buffer.len().min(live.len() - start);
        buffer[..read].copy_from_slice(&live[start..start + read]);
        let first_bit = start as u64 * 8;
        for &bit in inode
            .read_flips
            .range(first_bit..first_bit + read as u64 * 8)
        {
            let index = usize::try_from(bit / 8).expect("a bit of a buffer in memory") - start;
            buffer[index] ^= 1 << (bit % 8);
        }
        Ok(read)
    }

    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        let mut state = lock_state(&self.state);
        self.inode_writable(&mut state)?;
        state.change(Some((self.inode, data)))?;
        self.inode_writable(&mut state)?
            .live
            .extend_from_slice(data);
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let mut state = lock_state(&self.state);
        self.inode(&mut state)?;
        state.change(None)?;
        state.sync_check()?;
        let inode = self.inode(&mut state)?;
        inode.durable.clone_from(&inode.live);
        Ok(())
    }

    fn truncate(&mut self, size: u64) -> io::Result<()> {
        let mut state = lock_state(&self.state);
        self.inode_writable(&mut state)?;
        state.change(None)?;
        let inode = self.inode_writable(&mut state)?;
        let size = usize::try_from(size).map_err(io::Error::other)?;
        inode.live.resize(size, 0);
        Ok(())
    }
}

/// A tiny deterministic generator for torn-write lengths (no dependency, reproducible).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}
