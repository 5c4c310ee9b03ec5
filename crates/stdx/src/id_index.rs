//! An index of positions by the 64-bit hash of an id: (hash, position) pairs in an
//! open-addressing table of 64-byte buckets, each one cache line holding four slots' hashes and
//! positions side by side. It stores no ids: the caller confirms a candidate position against
//! its own record (a transfer in the ledger's store, an account or a credit line in a dense
//! table), so an entry costs 16 bytes at most 3/4 full, against 32 or more for a hash map of
//! u128 keys.
//!
//! Why not `hashbrown`: its control bytes and its entries live in two regions, so storing a new
//! transfer costs two cache misses on a table far larger than the caches (the probe reads a
//! control group, the insert writes the entry's line elsewhere), and finding an existing id two
//! as well. Here a probe and the insert that follows it touch the same line.
//!
//! Probing is linear over buckets: an id's candidates are the slots with its hash in its home
//! bucket and the buckets after it, up to the first bucket with an empty slot (insertion fills
//! the first bucket with room, so nothing with that hash lies beyond one). Removal (rolling back
//! a linked chain) leaves a tombstone, which keeps later slots reachable; tombstones are rare and
//! are dropped by the next growth. The load stays at most 3/4 of the slots.

const SLOTS: usize = 4;
const EMPTY: u64 = u64::MAX;
const TOMBSTONE: u64 = u64::MAX - 1;

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Bucket {
    hashes: [u64; SLOTS],
    positions: [u64; SLOTS],
}

const EMPTY_BUCKET: Bucket = Bucket {
    hashes: [0; SLOTS],
    positions: [EMPTY; SLOTS],
};

/// Positions of stored records by the 64-bit hash of their id (see the module docs).
pub struct IdIndex {
    buckets: Vec<Bucket>,
    /// Occupied slots, tombstones included (they lengthen probes until the next growth).
    used: usize,
    len: usize,
}

impl Default for IdIndex {
    fn default() -> IdIndex {
        IdIndex::new()
    }
}

impl IdIndex {
    #[must_use]
    pub fn new() -> IdIndex {
        IdIndex {
            buckets: Vec::new(),
            used: 0,
            len: 0,
        }
    }

    /// Entries stored (tombstones not counted).
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entries it holds without growing.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.buckets.len() * SLOTS / 4 * 3
    }

    /// Makes room for `additional` more entries without growing.
    pub fn reserve(&mut self, additional: usize) {
        let needed = self.used.saturating_add(additional);
        if needed > self.capacity() {
            self.resize(needed);
        }
    }

    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    fn home(&self, hash: u64) -> usize {
        // The high bits: the low ones also pick a bucket in the account maps' hashers.
        #[expect(
            clippy::cast_possible_truncation,
            reason = "masked to the bucket count, a usize"
        )]
        let home = hash.rotate_left(32) as usize;
        home & self.mask()
    }

    /// Positions whose hash is `hash`, in probe order.
    #[must_use]
    pub fn candidates(&self, hash: u64) -> Candidates<'_> {
        Candidates {
            index: self,
            hash,
            bucket: if self.buckets.is_empty() {
                None
            } else {
                Some(self.home(hash))
            },
            slot: 0,
            steps: 0,
        }
    }

    /// The first position stored under `hash` that `confirm` accepts (the caller compares its
    /// record's id), in probe order: what `candidates(hash).find(confirm)` gives, in a tight
    /// loop (the lookup on every transfer's and account's path).
    #[inline]
    pub fn find(&self, hash: u64, mut confirm: impl FnMut(u64) -> bool) -> Option<u64> {
        if self.buckets.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut bucket = self.home(hash);
        for _ in 0..self.buckets.len() {
            let b = &self.buckets[bucket];
            for slot in 0..SLOTS {
                // An empty slot's hash may equal `hash`; its position (EMPTY) never passes.
                if b.hashes[slot] == hash && b.positions[slot] < TOMBSTONE {
                    let position = b.positions[slot];
                    if confirm(position) {
                        return Some(position);
                    }
                }
            }
            if b.positions.contains(&EMPTY) {
                return None;
            }
            bucket = (bucket + 1) & mask;
        }
        None
    }

    /// Reads the home bucket of `hash` and the one after it, so that a probe soon after finds
    /// them in cache: a pass of these over a batch has many cache misses in flight at once,
    /// where the apply loop, probing one transfer at a time, would wait for each. The next bucket
    /// too, because a probe goes on into it whenever the home bucket is full, which at the loads
    /// the table runs at is common (in a profile, most of the probe pass's remaining time was that
    /// second load). Returns a value of the buckets for the caller to pass to
    /// `std::hint::black_box` (a load whose result is unused may be dropped).
    #[must_use]
    pub fn touch(&self, hash: u64) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        let home = self.home(hash);
        self.buckets[home].positions[0] ^ self.buckets[(home + 1) & self.mask()].positions[0]
    }

    /// Stores (hash, position); the caller knows the position is not stored yet.
    ///
    /// # Panics
    /// If `position` is `u64::MAX - 1` or above (the table's own markers).
    pub fn insert(&mut self, hash: u64, position: u64) {
        assert!(position < TOMBSTONE, "position {position} out of range");
        if self.used + 1 > self.capacity() {
            self.resize(self.used + 1);
        }
        self.place(hash, position);
        self.used += 1;
        self.len += 1;
    }

    /// Removes (hash, position); returns whether it was stored.
    pub fn remove(&mut self, hash: u64, position: u64) -> bool {
        let mut found = None;
        let mut candidates = self.candidates(hash);
        while let Some(p) = candidates.next() {
            if p == position {
                found = Some((candidates.bucket_of_last(), candidates.slot - 1));
                break;
            }
        }
        let Some((bucket, slot)) = found else {
            return false;
        };
        self.buckets[bucket].positions[slot] = TOMBSTONE;
        self.len -= 1;
        true
    }

    fn place(&mut self, hash: u64, position: u64) {
        let mask = self.mask();
        let mut bucket = self.home(hash);
        loop {
            let b = &mut self.buckets[bucket];
            if let Some(slot) = b.positions.iter().position(|&p| p == EMPTY) {
                b.hashes[slot] = hash;
                b.positions[slot] = position;
                return;
            }
            bucket = (bucket + 1) & mask;
        }
    }

    /// Rebuilds with room for `entries` at most 3/4 full, dropping tombstones.
    fn resize(&mut self, entries: usize) {
        let slots = entries
            .max(self.len)
            .saturating_mul(4)
            .div_ceil(3)
            .max(SLOTS * 2);
        let buckets = slots.div_ceil(SLOTS).next_power_of_two();
        let old = std::mem::replace(&mut self.buckets, vec![EMPTY_BUCKET; buckets]);
        for bucket in &old {
            for slot in 0..SLOTS {
                let position = bucket.positions[slot];
                if position < TOMBSTONE {
                    self.place(bucket.hashes[slot], position);
                }
            }
        }
        self.used = self.len;
    }
}

/// Iterator over the positions stored under one hash.
pub struct Candidates<'a> {
    index: &'a IdIndex,
    hash: u64,
    /// The bucket being scanned; `None` once a bucket with an empty slot was scanned.
    bucket: Option<usize>,
    slot: usize,
    steps: usize,
}

impl Candidates<'_> {
    /// The bucket of the position `next` returned last.
    fn bucket_of_last(&self) -> usize {
        self.bucket.expect("a position was returned")
    }
}

impl Iterator for Candidates<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        loop {
            let bucket_index = self.bucket?;
            let bucket = &self.index.buckets[bucket_index];
            while self.slot < SLOTS {
                let slot = self.slot;
                self.slot += 1;
                let position = bucket.positions[slot];
                if position < TOMBSTONE && bucket.hashes[slot] == self.hash {
                    return Some(position);
                }
            }
            // A bucket with an empty slot ends the probe (see the module docs); so does having
            // scanned every bucket (a table full of entries and tombstones: never above 3/4).
            self.steps += 1;
            if bucket.positions.contains(&EMPTY) || self.steps == self.index.buckets.len() {
                self.bucket = None;
            } else {
                self.bucket = Some((bucket_index + 1) & self.index.mask());
                self.slot = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::IdIndex;

    proptest! {
        // Goal: the index answers as a model map from hash to positions, through inserts,
        // removals (tombstones) and growth, with hashes drawn from a few values so that many
        // positions share a hash and probes run across buckets.
        #[test]
        fn answers_as_a_model(
            operations in proptest::collection::vec((0u8..4, 0u64..64, any::<bool>()), 1..600),
            reserve in 0usize..200,
        ) {
            let mut index = IdIndex::new();
            index.reserve(reserve);
            let mut model: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
            let mut next_position = 0;
            for (kind, key, low_bits) in operations {
                // Hashes equal in their home bits but not in full, and exact repeats.
                let hash = if low_bits { key } else { key << 40 | 7 };
                match kind {
                    0..=2 => {
                        index.insert(hash, next_position);
                        model.entry(hash).or_default().push(next_position);
                        next_position += 1;
                    }
                    _ => {
                        let victim = model.get_mut(&hash).and_then(Vec::pop);
                        match victim {
                            Some(position) => prop_assert!(index.remove(hash, position)),
                            None => prop_assert!(!index.remove(hash, next_position)),
                        }
                    }
                }
                let mut found: Vec<u64> = index.candidates(hash).collect();
                for &position in &found {
                    prop_assert_eq!(index.find(hash, |p| p == position), Some(position));
                }
                prop_assert_eq!(index.find(hash, |_| true), found.first().copied());
                prop_assert_eq!(index.find(hash, |p| p == next_position), None);
                found.sort_unstable();
                let expected = model.get(&hash).cloned().unwrap_or_default();
                prop_assert_eq!(found, expected);
                prop_assert_eq!(index.len(), model.values().map(Vec::len).sum::<usize>());
            }
            for (hash, positions) in &model {
                let mut found: Vec<u64> = index.candidates(*hash).collect();
                found.sort_unstable();
                prop_assert_eq!(&found, positions);
            }
        }
    }

    // Goal: a reserved index takes that many entries without growing.
    #[test]
    fn reserve_means_no_growth() {
        let mut index = IdIndex::new();
        index.reserve(10_000);
        let capacity = index.capacity();
        assert!(capacity >= 10_000);
        for position in 0..10_000u64 {
            index.insert(position.wrapping_mul(0x9E37_79B9_7F4A_7C15), position);
        }
        assert_eq!(index.capacity(), capacity);
        assert_eq!(
            index.candidates(0x9E37_79B9_7F4A_7C15).collect::<Vec<_>>(),
            [1]
        );
    }
}
