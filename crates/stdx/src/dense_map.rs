//! A map that keeps its entries in a dense vector in insertion order, found through an
//! [`IdIndex`] of (hash of key, slot) pairs confirmed against the slot's key.
//!
//! For the state machines' tables that only grow (an id's fingerprint, a user's usage): an
//! entry costs its own size plus 16 bytes of index at most 3/4 full, and iterating in insertion
//! order is deterministic (the log decides it), so a snapshot can list the entries as they are,
//! without sorting millions of keys to make equal states encode equally.

use std::hash::{BuildHasher, Hash};

use crate::{IdHashBuilder, IdIndex};

pub struct DenseMap<K, V> {
    entries: Vec<(K, V)>,
    index: IdIndex,
    hasher: IdHashBuilder,
}

impl<K: Hash + Eq + Copy, V> DenseMap<K, V> {
    /// An empty map; `hash_key` only changes the index's layout, never an answer or the order.
    #[must_use]
    pub fn new(hash_key: u64) -> DenseMap<K, V> {
        DenseMap {
            entries: Vec::new(),
            index: IdIndex::new(),
            hasher: IdHashBuilder::new(hash_key),
        }
    }

    /// Reads the index bucket a lookup of `key` probes first (see [`IdIndex::touch`]): a
    /// first touch pass of these keeps many misses in flight before the lookups proper.
    #[must_use]
    pub fn touch_home(&self, key: &K) -> u64 {
        self.index.touch(self.hasher.hash_one(key))
    }

    fn slot(&self, key: &K) -> Option<usize> {
        self.index
            .find(self.hasher.hash_one(key), |slot| {
                self.entries[usize::try_from(slot).expect("slots fit in memory")].0 == *key
            })
            .map(|slot| usize::try_from(slot).expect("slots fit in memory"))
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
        self.index.reserve(additional);
    }

    #[must_use]
    pub fn get(&self, key: &K) -> Option<&V> {
        self.slot(key).map(|slot| &self.entries[slot].1)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.slot(key).map(|slot| &mut self.entries[slot].1)
    }

    #[must_use]
    pub fn contains_key(&self, key: &K) -> bool {
        self.slot(key).is_some()
    }

    /// Sets the value of `key`: in place if it is stored (returning the old value), else
    /// appended.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(slot) = self.slot(&key) {
            return Some(std::mem::replace(&mut self.entries[slot].1, value));
        }
        self.push(key, value);
        None
    }

    /// The value of `key`, appended as `V::default()` if it is not stored.
    pub fn entry_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        let slot = match self.slot(&key) {
            Some(slot) => slot,
            None => {
                self.push(key, V::default());
                self.entries.len() - 1
            }
        };
        &mut self.entries[slot].1
    }

    fn push(&mut self, key: K, value: V) {
        let slot = self.entries.len() as u64;
        self.index.insert(self.hasher.hash_one(key), slot);
        self.entries.push((key, value));
    }

    /// Removes `key` if it is the last entry inserted (the undo of its insertion); `None`, and
    /// nothing changes, if it is not.
    pub fn remove_last(&mut self, key: &K) -> Option<V> {
        let (last, _) = self.entries.last()?;
        if last != key {
            return None;
        }
        let slot = (self.entries.len() - 1) as u64;
        let removed = self.index.remove(self.hasher.hash_one(key), slot);
        debug_assert!(removed, "the last entry is indexed");
        self.entries.pop().map(|(_, value)| value)
    }

    /// Every entry, in the order of insertion.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::DenseMap;

    proptest! {
        // Goal: the map answers as a BTreeMap model through inserts, replacements,
        // entry_or_default and removals of the last entry, with keys from a small space so that
        // they repeat, and iterates in the order keys were first inserted.
        #[test]
        fn answers_as_a_model(
            operations in proptest::collection::vec((0u8..4, 0u64..40, any::<u32>()), 1..400),
            hash_key: u64,
        ) {
            let mut map: DenseMap<(u32, u128), u32> = DenseMap::new(hash_key);
            let mut model: BTreeMap<(u32, u128), u32> = BTreeMap::new();
            let mut order: Vec<(u32, u128)> = Vec::new();
            for (kind, k, value) in operations {
                let key = ((k % 3) as u32, u128::from(k) << 70 | u128::from(k));
                if !model.contains_key(&key) && kind < 2 {
                    order.push(key);
                }
                match kind {
                    3 => {
                        // The last key inserted, or (half the time) this one, last or not.
                        let key = if k % 2 == 0 { order.last().copied().unwrap_or(key) } else { key };
                        let expected = if order.last() == Some(&key) {
                            order.pop();
                            model.remove(&key)
                        } else {
                            None
                        };
                        prop_assert_eq!(map.remove_last(&key), expected);
                        prop_assert_eq!(map.get(&key), model.get(&key));
                    }
                    0 => prop_assert_eq!(map.insert(key, value), model.insert(key, value)),
                    1 => {
                        *map.entry_or_default(key) += 1;
                        *model.entry(key).or_default() += 1;
                    }
                    _ => prop_assert_eq!(map.get(&key), model.get(&key)),
                }
                prop_assert_eq!(map.contains_key(&key), model.contains_key(&key));
                prop_assert_eq!(map.len(), model.len());
            }
            let listed: Vec<(u32, u128)> = map.iter().map(|(k, _)| *k).collect();
            prop_assert_eq!(listed, order);
            for (key, value) in &model {
                prop_assert_eq!(map.get(key), Some(value));
            }
        }
    }
}
