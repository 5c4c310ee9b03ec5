//! Complete subtrees, the unit every store keeps, and how any RFC 6962 range hash is built
//! from them.
//!
//! A tree of any size is a left-to-right sequence of complete subtrees (one per set bit of the
//! size), and so is every range a proof needs: a proof element is the hash of such a range,
//! folded from the right (`MTH(D[k:n]) = H(0x01 || MTH(D[k:k+2^p]) || MTH(D[k+2^p:n]))`).
//! A store therefore only has to answer "the hash of complete subtree (level, index)"
//! ([`HashSource`]); [`crate::Tree`] keeps every level in memory, [`crate::TileHashes`] reads
//! them from tiles, and a storage shell can keep them wherever it likes.

use std::ops::Range;

use crate::hash::{EMPTY_ROOT, Hash, node_hash};

/// The complete subtree of `2^level` leaves starting at leaf `index << level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subtree {
    /// Height above the leaves: 0 is a leaf, 1 a pair of leaves, and so on.
    pub level: u8,
    /// Position among the subtrees of this level, from the left.
    pub index: u64,
}

impl Subtree {
    /// The leaves this subtree covers. Panics if they do not fit in 64 bits (a caller's bug:
    /// no tree holds such a subtree).
    pub fn leaves(&self) -> Range<u64> {
        let width = 1u64
            .checked_shl(u32::from(self.level))
            .expect("level below 64");
        let start = self
            .index
            .checked_mul(width)
            .expect("subtree start fits in 64 bits");
        start
            ..start
                .checked_add(width)
                .expect("subtree end fits in 64 bits")
    }
}

/// Anything that can answer the hash of a complete subtree: the in-memory [`crate::Tree`],
/// tiles, or a storage shell's files.
pub trait HashSource {
    /// Why a hash could not be produced (a missing tile, an I/O error in a shell).
    type Error;

    /// The hash of `subtree`, which lies entirely below the tree size being proven.
    fn subtree_hash(&self, subtree: Subtree) -> Result<Hash, Self::Error>;
}

/// The complete subtrees that make up the RFC 6962 range `[start, end)`, left to right.
///
/// The range must be one the tree's left-balanced shape produces: `start` is a multiple of the
/// largest power of two not above `end - start` (always true for `start == 0`, and for every
/// range in an inclusion or consistency proof).
pub fn range_subtrees(range: Range<u64>) -> RangeSubtrees {
    assert!(range.start <= range.end, "range {range:?} is reversed");
    if range.start < range.end {
        let width = range.end - range.start;
        let top = 63 - width.leading_zeros();
        assert!(
            range.start.trailing_zeros() >= top,
            "range {range:?} is not a subtree range of an RFC 6962 tree"
        );
    }
    RangeSubtrees {
        next: range.start,
        end: range.end,
    }
}

/// Iterator over the complete subtrees of a range; see [`range_subtrees`].
#[derive(Clone, Debug)]
pub struct RangeSubtrees {
    next: u64,
    end: u64,
}

impl Iterator for RangeSubtrees {
    type Item = Subtree;

    fn next(&mut self) -> Option<Subtree> {
        if self.next >= self.end {
            return None;
        }
        let width = self.end - self.next;
        let level = 63 - width.leading_zeros();
        let subtree = Subtree {
            level: u8::try_from(level).expect("a u64 has at most 64 levels"),
            index: self.next >> level,
        };
        self.next += 1u64 << level;
        Some(subtree)
    }
}

/// The RFC 6962 hash of the range `[start, end)` (`MTH(D[start:end])`), read from `source` as
/// complete subtrees and folded from the right; the empty range hashes to [`EMPTY_ROOT`].
pub fn range_hash<S: HashSource + ?Sized>(source: &S, range: Range<u64>) -> Result<Hash, S::Error> {
    // At most one subtree per bit of the width.
    let mut hashes = [[0u8; 32]; 64];
    let mut count = 0;
    for subtree in range_subtrees(range) {
        hashes[count] = source.subtree_hash(subtree)?;
        count += 1;
    }
    Ok(fold_right(&hashes[..count]))
}

/// Folds complete-subtree hashes, listed left to right, into the hash of their whole range.
pub(crate) fn fold_right(hashes: &[Hash]) -> Hash {
    match hashes.split_last() {
        None => EMPTY_ROOT,
        Some((last, rest)) => rest
            .iter()
            .rev()
            .fold(*last, |right, left| node_hash(left, &right)),
    }
}

/// The root hash of the tree of the first `size` leaves.
pub fn root_hash<S: HashSource + ?Sized>(source: &S, size: u64) -> Result<Hash, S::Error> {
    range_hash(source, 0..size)
}
