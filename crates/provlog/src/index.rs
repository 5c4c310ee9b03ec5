//! The key index: entry indexes by key (a product identifier, an event hash), in memory,
//! rebuilt from the entries when the log opens, so it can never disagree with the log.
//!
//! A key is stored as the first 8 bytes of its SHA-256: 8 bytes per distinct key instead of the
//! key itself, and no attacker can aim a key at another's slot (that takes about 2^64 work).
//! Two keys may still share a slot by chance, so a lookup returns candidates that the log
//! confirms by reading each entry's own keys back. An entry with the key once is listed once.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use sha2::{Digest, Sha256};

/// The slot of a key: the first 8 bytes of its SHA-256, big-endian.
pub fn key_slot(key: &[u8]) -> u64 {
    let digest = Sha256::digest(key);
    u64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 has 32 bytes"))
}

/// Slots are already uniform hashes: the map hashes them by identity.
#[derive(Default, Clone, Copy)]
struct SlotHasher(u64);

impl Hasher for SlotHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in, for completeness.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// Entry indexes of one slot, ascending. One entry (the common case) costs no allocation.
#[derive(Clone, Debug)]
enum Postings {
    One(u64),
    Many(Vec<u64>),
}

/// Slot → entry indexes.
#[derive(Default, Clone)]
pub struct KeyIndex {
    slots: HashMap<u64, Postings, BuildHasherDefault<SlotHasher>>,
    postings: u64,
}

impl KeyIndex {
    /// An index with room for `slots` distinct keys before it grows.
    pub fn with_capacity(slots: usize) -> KeyIndex {
        KeyIndex {
            slots: HashMap::with_capacity_and_hasher(slots, BuildHasherDefault::default()),
            postings: 0,
        }
    }

    /// Records that entry `index` has the key of `slot`. Indexes arrive in ascending order;
    /// a repeat of the last one is ignored.
    pub fn insert(&mut self, slot: u64, index: u64) {
        match self.slots.entry(slot) {
            std::collections::hash_map::Entry::Vacant(vacant) => {
                vacant.insert(Postings::One(index));
            }
            std::collections::hash_map::Entry::Occupied(mut occupied) => {
                let postings = occupied.get_mut();
                match postings {
                    Postings::One(last) if *last == index => return,
                    Postings::One(first) => *postings = Postings::Many(vec![*first, index]),
                    Postings::Many(list) if list.last() == Some(&index) => return,
                    Postings::Many(list) => list.push(index),
                }
            }
        }
        self.postings += 1;
    }

    /// Candidate entries for `slot`, ascending.
    pub fn get(&self, slot: u64) -> &[u64] {
        match self.slots.get(&slot) {
            None => &[],
            Some(Postings::One(index)) => std::slice::from_ref(index),
            Some(Postings::Many(list)) => list,
        }
    }

    /// Distinct slots held.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// (slot, entry) pairs held.
    pub fn posting_count(&self) -> u64 {
        self.postings
    }
}
