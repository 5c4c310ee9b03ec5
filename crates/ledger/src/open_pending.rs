//! Open pending transfers whose bodies left the tail (evicted below the cold floor, still
//! pending): the bodies in a slab, found by position through a map of slot numbers.
//!
//! Why not a map of bodies: it grows by rehashing every entry into a new table, and with
//! millions of open authorizations that moved 136-byte entries through gigabytes of freshly
//! zeroed pages on the writer (the kernel's `clear_page` was 17% of a `bench credit` profile
//! at 5M open authorizations). Here the map's entries are 16 bytes, the slab grows like a
//! vector (in place, by `mremap`, for large ones), and a resolved transfer's slot is reused.
//! Nothing iterates the map where order matters (the snapshot sorts the positions).

use std::ops::Index;

use stdx::{IdMap, id_map};

use crate::transfer::Transfer;

pub(crate) struct OpenPending {
    slots: IdMap<u64, u32>,
    bodies: Vec<Transfer>,
    free: Vec<u32>,
}

impl OpenPending {
    pub(crate) fn new(hash_key: u64) -> OpenPending {
        OpenPending {
            slots: id_map(hash_key),
            bodies: Vec::new(),
            free: Vec::new(),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn get(&self, position: &u64) -> Option<&Transfer> {
        self.slots
            .get(position)
            .map(|&slot| &self.bodies[slot as usize])
    }

    /// Holds `transfer` at `position`; the body it replaced, if any.
    pub(crate) fn insert(&mut self, position: u64, transfer: Transfer) -> Option<Transfer> {
        if let Some(&slot) = self.slots.get(&position) {
            return Some(std::mem::replace(&mut self.bodies[slot as usize], transfer));
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.bodies[slot as usize] = transfer;
                slot
            }
            None => {
                let slot = u32::try_from(self.bodies.len()).expect("open pending bodies fit u32");
                self.bodies.push(transfer);
                slot
            }
        };
        self.slots.insert(position, slot);
        None
    }

    pub(crate) fn remove(&mut self, position: &u64) -> Option<Transfer> {
        let slot = self.slots.remove(position)?;
        self.free.push(slot);
        Some(self.bodies[slot as usize])
    }

    /// (position, body), in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&u64, &Transfer)> {
        self.slots
            .iter()
            .map(|(position, &slot)| (position, &self.bodies[slot as usize]))
    }
}

impl Index<&u64> for OpenPending {
    type Output = Transfer;

    fn index(&self, position: &u64) -> &Transfer {
        self.get(position)
            .expect("an open pending transfer at that position")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::OpenPending;
    use crate::transfer::Transfer;

    proptest! {
        // Goal: the slab answers as a map of bodies would (a BTreeMap model), through inserts
        // that replace, removals and slot reuse.
        #[test]
        fn behaves_as_a_map(ops in proptest::collection::vec((any::<bool>(), 0u64..40, any::<u128>()), 0..300)) {
            let mut open = OpenPending::new(7);
            let mut model = BTreeMap::new();
            for (insert, position, id) in ops {
                let transfer = Transfer { id, ..Transfer::default() };
                if insert {
                    prop_assert_eq!(open.insert(position, transfer), model.insert(position, transfer));
                } else {
                    prop_assert_eq!(open.remove(&position), model.remove(&position));
                }
                prop_assert_eq!(open.len(), model.len());
                for (position, transfer) in &model {
                    prop_assert_eq!(open.get(position), Some(transfer));
                }
                let mut listed: Vec<(u64, Transfer)> = open.iter().map(|(p, t)| (*p, *t)).collect();
                listed.sort_unstable_by_key(|(p, _)| *p);
                let expected: Vec<(u64, Transfer)> = model.iter().map(|(p, t)| (*p, *t)).collect();
                prop_assert_eq!(listed, expected);
                prop_assert!(open.bodies.len() <= 40, "slots are reused");
            }
        }
    }
}
