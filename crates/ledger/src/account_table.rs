//! The account table: account states in a dense vector, in the order they were stored, found
//! by id through an [`IdIndex`] of (hash of id, slot) pairs confirmed against the slot's id.
//!
//! Why not a hash map of ids to states: a map holds each 224-byte (id, state) entry inline in
//! a power-of-two table kept at most 7/8 full, so 10 million accounts (one per credit line)
//! took 3.77 GB, 60% of it filled. Here the states take exactly their 208 bytes each and the
//! index 16 bytes a slot at most 3/4 full: 2.35 GB for the same 10 million.
//!
//! Why not `stdx::DenseMap`: it stores each key beside its value, and an account's id is
//! already in its state (16 bytes an account, 160 MB at 10 million); this table confirms a
//! candidate against `state.account.id` instead, and adds what the ledger needs besides
//! (two accounts mutably at once, removal of the last one, the touch read).
//!
//! Slots never move: an account is removed only when the linked chain that created it rolls
//! back, and then it is the last one stored (`remove_last`). Slot order is the order the log
//! created the accounts in, which snapshots keep (they list accounts in it, and restoring
//! inserts them in it); lookups go by id.

use std::hash::BuildHasher;

use stdx::{IdHashBuilder, IdIndex};

use crate::state::AccountState;

pub(crate) struct AccountTable {
    states: Vec<AccountState>,
    index: IdIndex,
    hasher: IdHashBuilder,
}

impl AccountTable {
    pub(crate) fn new(hasher: IdHashBuilder) -> AccountTable {
        AccountTable {
            states: Vec::new(),
            index: IdIndex::new(),
            hasher,
        }
    }

    fn hash(&self, id: u128) -> u64 {
        self.hasher.hash_one(id)
    }

    fn slot(&self, id: u128) -> Option<usize> {
        self.index
            .find(self.hash(id), |slot| {
                self.states[usize::try_from(slot).expect("slots fit in memory")]
                    .account
                    .id
                    == id
            })
            .map(|slot| usize::try_from(slot).expect("slots fit in memory"))
    }

    pub(crate) fn len(&self) -> usize {
        self.states.len()
    }

    pub(crate) fn reserve(&mut self, additional: usize) {
        self.states.reserve(additional);
        self.index.reserve(additional);
    }

    pub(crate) fn get(&self, id: &u128) -> Option<&AccountState> {
        self.slot(*id).map(|slot| &self.states[slot])
    }

    pub(crate) fn get_mut(&mut self, id: &u128) -> Option<&mut AccountState> {
        self.slot(*id).map(|slot| &mut self.states[slot])
    }

    /// Both accounts, each if found.
    ///
    /// # Panics
    /// If the ids are equal and found (as `HashMap::get_disjoint_mut`).
    pub(crate) fn get_disjoint_mut(&mut self, ids: [&u128; 2]) -> [Option<&mut AccountState>; 2] {
        match (self.slot(*ids[0]), self.slot(*ids[1])) {
            (Some(a), Some(b)) => {
                let [a, b] = self
                    .states
                    .get_disjoint_mut([a, b])
                    .expect("two distinct accounts");
                [Some(a), Some(b)]
            }
            (Some(a), None) => [Some(&mut self.states[a]), None],
            (None, Some(b)) => [None, Some(&mut self.states[b])],
            (None, None) => [None, None],
        }
    }

    /// Stores a new account's state; the caller knows its id is not stored.
    pub(crate) fn insert(&mut self, id: u128, state: AccountState) {
        debug_assert!(self.slot(id).is_none(), "account {id} stored twice");
        debug_assert_eq!(state.account.id, id);
        let slot = self.states.len() as u64;
        self.index.insert(self.hash(id), slot);
        self.states.push(state);
    }

    /// Removes the account stored last (a rolled-back creation).
    ///
    /// # Panics
    /// If `id` is not the account stored last.
    pub(crate) fn remove_last(&mut self, id: u128) {
        let state = self.states.pop().expect("an account was stored");
        assert_eq!(
            state.account.id, id,
            "only the account stored last is removed"
        );
        let slot = self.states.len() as u64;
        assert!(self.index.remove(self.hash(id), slot), "indexed");
    }

    /// Every account, in the order they were stored.
    pub(crate) fn values(&self) -> std::slice::Iter<'_, AccountState> {
        self.states.iter()
    }

    /// Reads only the index bucket a lookup of `id` probes first, for the first of two touch
    /// passes (see `Ledger::touch_account_home`).
    pub(crate) fn touch_home(&self, id: u128) -> u64 {
        self.index.touch(self.hash(id))
    }

    /// Reads the index bucket of `id` (the lookup probes it) and, when it is stored, the
    /// state's balances and the end of its transfer list, for a touch pass (see
    /// `Ledger::touch_account`).
    pub(crate) fn touch(&self, id: u128) -> u64 {
        self.get(&id).map_or(0, |a| {
            #[expect(clippy::cast_possible_truncation, reason = "any bits will do")]
            let balance = a.account.debits_posted as u64;
            balance ^ a.transfers.last().copied().unwrap_or(0)
        })
    }
}
