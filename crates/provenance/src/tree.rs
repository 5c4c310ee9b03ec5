//! The appendable tree: every level of complete-subtree hashes kept in memory.
//!
//! Level 0 holds the leaf hashes, level `l` the hash of every complete run of `2^l` leaves, so
//! any complete subtree is one lookup, a root or proof element at most 64 lookups and hashes,
//! and a whole proof O(log n) lookups with no recomputation of anything below. Appending `N`
//! leaves does `N` leaf hashes and fewer than `N` node hashes (amortised O(1) per leaf). The
//! levels cost 64 bytes per leaf; tiles are levels 0, 8, 16, ... cut in runs of 256, so a
//! storage shell persists tiles and rebuilds a tree from its level-0 hashes (or keeps only the
//! upper levels here and reads the lower ones from tiles through [`crate::HashSource`]).

use std::fmt;
use std::ops::Range;

use crate::hash::{Hash, leaf_hash, node_hash};
use crate::proof::{ProofRequestError, ProveError, prove_consistency, prove_inclusion};
use crate::subtree::{HashSource, Subtree, root_hash};
use crate::tiles::{TILE_HEIGHT, TILE_WIDTH, Tile};

/// A subtree the tree does not hold (it reaches past the tree's size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingHash(pub Subtree);

impl fmt::Display for MissingHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no hash for subtree level {} index {}",
            self.0.level, self.0.index
        )
    }
}

impl std::error::Error for MissingHash {}

/// Levels that cannot be a tree's: this level has the wrong number of hashes (or is missing
/// or extra).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelShapeError {
    /// The first level that is wrong.
    pub level: usize,
}

impl fmt::Display for LevelShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tree level {} has the wrong number of hashes",
            self.level
        )
    }
}

impl std::error::Error for LevelShapeError {}

/// An append-only RFC 6962 tree that can answer for every size up to its own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    /// `levels[l][i]` is the hash of leaves `[i << l, (i + 1) << l)`; level `l` has
    /// `size >> l` hashes, and the last level has exactly one or the tree is empty.
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// The empty tree.
    pub fn new() -> Tree {
        Tree { levels: Vec::new() }
    }

    /// Rebuilds a tree from its leaf hashes (what a storage shell keeps in level-0 tiles).
    pub fn from_leaf_hashes(leaf_hashes: &[Hash]) -> Tree {
        let mut tree = Tree::new();
        tree.append_leaf_hashes(leaf_hashes);
        tree
    }

    /// Restores a tree from all its levels as a storage shell kept them (`levels[l]` holding
    /// `size >> l` hashes, up to the level of one hash), checking their shape only: the shell
    /// vouches for the hashes (checksummed files), and can compare [`Tree::root`] with its last
    /// signed checkpoint.
    pub fn from_levels(levels: Vec<Vec<Hash>>) -> Result<Tree, LevelShapeError> {
        let size = levels.first().map_or(0, Vec::len);
        let expected_levels = if size == 0 {
            0
        } else {
            64 - size.leading_zeros() as usize
        };
        if levels.len() != expected_levels && !(size == 0 && levels.len() == 1) {
            return Err(LevelShapeError {
                level: levels.len().min(expected_levels),
            });
        }
        for (level, hashes) in levels.iter().enumerate() {
            if hashes.len() != size >> level {
                return Err(LevelShapeError { level });
            }
        }
        Ok(Tree {
            levels: if size == 0 { Vec::new() } else { levels },
        })
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// Appends one entry; returns its index.
    pub fn append(&mut self, entry: &[u8]) -> u64 {
        self.append_leaf_hashes(&[leaf_hash(entry)]).start
    }

    /// Appends a batch of leaf hashes (an integration step); returns their indexes.
    pub fn append_leaf_hashes(&mut self, leaf_hashes: &[Hash]) -> Range<u64> {
        let start = self.size();
        if leaf_hashes.is_empty() {
            return start..start;
        }
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].extend_from_slice(leaf_hashes);
        let mut level = 0;
        while self.levels[level].len() >= 2 {
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            let (lower, upper) = self.levels.split_at_mut(level + 1);
            let (children, parents) = (&lower[level], &mut upper[0]);
            // Only pairs completed by this batch are new; older parents are already there.
            for pair in children[2 * parents.len()..].chunks_exact(2) {
                parents.push(node_hash(&pair[0], &pair[1]));
            }
            level += 1;
        }
        start..self.size()
    }

    /// The hash of leaf `index`.
    pub fn leaf_hash(&self, index: u64) -> Option<Hash> {
        self.subtree(Subtree { level: 0, index })
    }

    /// The hash of a complete subtree, if the tree holds it.
    pub fn subtree(&self, subtree: Subtree) -> Option<Hash> {
        let level = self.levels.get(usize::from(subtree.level))?;
        level.get(usize::try_from(subtree.index).ok()?).copied()
    }

    /// The hashes of one level (`size >> level` of them): what tiles are cut from.
    pub fn level(&self, level: u8) -> &[Hash] {
        self.levels
            .get(usize::from(level))
            .map_or(&[], Vec::as_slice)
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        self.root_at(self.size())
            .expect("the tree's own size is in range")
    }

    /// The root of the tree of the first `size` leaves, for any `size` up to the current one.
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofRequestError> {
        self.check_size(size)?;
        Ok(root_hash(self, size).expect("every subtree below the size is stored"))
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofRequestError> {
        self.check_size(size)?;
        prove_inclusion(self, index, size).map_err(Self::request_error)
    }

    /// The consistency proof from the tree of `size1` leaves to the tree of `size2` leaves.
    pub fn consistency_proof(
        &self,
        size1: u64,
        size2: u64,
    ) -> Result<Vec<Hash>, ProofRequestError> {
        self.check_size(size2)?;
        prove_consistency(self, size1, size2).map_err(Self::request_error)
    }

    /// The bytes of `tile` (its `width` hashes), if the tree has all of them.
    pub fn tile(&self, tile: &Tile) -> Option<Vec<u8>> {
        if tile.width == 0 || u32::from(tile.width) > TILE_WIDTH {
            return None;
        }
        let level = self
            .levels
            .get(usize::from(tile.level) * TILE_HEIGHT as usize)?;
        let start = usize::try_from(tile.index)
            .ok()?
            .checked_mul(TILE_WIDTH as usize)?;
        let hashes = level.get(start..start.checked_add(usize::from(tile.width))?)?;
        Some(hashes.concat())
    }

    fn check_size(&self, size: u64) -> Result<(), ProofRequestError> {
        if size > self.size() {
            return Err(ProofRequestError::SizeOutOfRange {
                size,
                tree_size: self.size(),
            });
        }
        Ok(())
    }

    fn request_error(error: ProveError<MissingHash>) -> ProofRequestError {
        match error {
            ProveError::Request(error) => error,
            ProveError::Source(missing) => {
                panic!("every subtree below the checked size is stored: {missing}")
            }
        }
    }
}

impl HashSource for Tree {
    type Error = MissingHash;

    fn subtree_hash(&self, subtree: Subtree) -> Result<Hash, MissingHash> {
        self.subtree(subtree).ok_or(MissingHash(subtree))
    }
}
