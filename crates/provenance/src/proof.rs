//! Inclusion and consistency proofs (RFC 6962 §2.1.1-2.1.2): which ranges a proof holds, how to
//! read them from any [`HashSource`], and their verification (RFC 9162 §2.1.3.2, §2.1.4.2).
//!
//! Verification is strict, as `transparency-dev/merkle` `proof/verify.go` is: the proof must have
//! exactly the expected length, an index must be below the size, sizes must not go backwards,
//! equal sizes need an empty proof and equal roots, and a consistency proof from the empty tree
//! is refused (the witness protocol special-cases old size 0 above this layer). Every hash is a
//! [`Hash`], so a wrongly sized hash cannot even reach these functions.

use std::fmt;
use std::ops::Range;

use crate::hash::{Hash, node_hash};
use crate::subtree::{HashSource, range_hash};

/// Why a proof could not be planned: the request itself is impossible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofRequestError {
    /// An inclusion proof for a leaf at or past the tree size.
    IndexOutOfRange { index: u64, size: u64 },
    /// A tree size larger than the tree that was asked.
    SizeOutOfRange { size: u64, tree_size: u64 },
    /// A consistency proof from a larger tree to a smaller one.
    SizesOutOfOrder { size1: u64, size2: u64 },
    /// A consistency proof from the empty tree (meaningless: every tree extends it).
    FirstSizeZero,
}

impl fmt::Display for ProofRequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProofRequestError::IndexOutOfRange { index, size } => {
                write!(f, "leaf index {index} is not below tree size {size}")
            }
            ProofRequestError::SizeOutOfRange { size, tree_size } => {
                write!(f, "tree size {size} is larger than the tree ({tree_size})")
            }
            ProofRequestError::SizesOutOfOrder { size1, size2 } => {
                write!(f, "first size {size1} is larger than second size {size2}")
            }
            ProofRequestError::FirstSizeZero => {
                write!(f, "no consistency proof from the empty tree")
            }
        }
    }
}

impl std::error::Error for ProofRequestError {}

/// Why a proof could not be produced from a [`HashSource`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProveError<E> {
    /// The request is impossible whatever the store holds.
    Request(ProofRequestError),
    /// The store could not produce a hash.
    Source(E),
}

impl<E: fmt::Display> fmt::Display for ProveError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProveError::Request(error) => write!(f, "{error}"),
            ProveError::Source(error) => write!(f, "hash source: {error}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for ProveError<E> {}

/// Why a proof was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// The leaf index is not below the tree size.
    IndexOutOfRange { index: u64, size: u64 },
    /// The first tree is larger than the second.
    SizesOutOfOrder { size1: u64, size2: u64 },
    /// A consistency proof from the empty tree.
    FirstSizeZero,
    /// The proof does not have the one length its sizes (and index) call for.
    ProofLength { expected: usize, actual: usize },
    /// The proof leads to a different first root (consistency proofs).
    FirstRootMismatch,
    /// The proof leads to a different root (the second root, for consistency proofs).
    RootMismatch,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::IndexOutOfRange { index, size } => {
                write!(f, "leaf index {index} is not below tree size {size}")
            }
            VerifyError::SizesOutOfOrder { size1, size2 } => {
                write!(f, "first size {size1} is larger than second size {size2}")
            }
            VerifyError::FirstSizeZero => write!(f, "no consistency proof from the empty tree"),
            VerifyError::ProofLength { expected, actual } => {
                write!(f, "proof has {actual} hashes, expected {expected}")
            }
            VerifyError::FirstRootMismatch => write!(f, "proof does not match the first root"),
            VerifyError::RootMismatch => write!(f, "proof does not match the root"),
        }
    }
}

impl std::error::Error for VerifyError {}

fn largest_power_of_two_below(n: u64) -> u64 {
    debug_assert!(n > 1);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The ranges whose hashes make up the inclusion proof of leaf `index` in the tree of `size`
/// leaves, in proof order (the leaf's sibling first, the root's child last); RFC 6962 §2.1.1.
pub fn inclusion_proof_ranges(index: u64, size: u64) -> Result<Vec<Range<u64>>, ProofRequestError> {
    if index >= size {
        return Err(ProofRequestError::IndexOutOfRange { index, size });
    }
    let mut ranges = Vec::with_capacity(64);
    let (mut low, mut high) = (0, size);
    while high - low > 1 {
        let split = low + largest_power_of_two_below(high - low);
        if index < split {
            ranges.push(split..high);
            high = split;
        } else {
            ranges.push(low..split);
            low = split;
        }
    }
    ranges.reverse();
    Ok(ranges)
}

/// The ranges whose hashes make up the consistency proof from the tree of `size1` leaves to the
/// tree of `size2` leaves, in proof order; RFC 6962 §2.1.2. Equal sizes give an empty proof.
pub fn consistency_proof_ranges(
    size1: u64,
    size2: u64,
) -> Result<Vec<Range<u64>>, ProofRequestError> {
    if size1 > size2 {
        return Err(ProofRequestError::SizesOutOfOrder { size1, size2 });
    }
    if size1 == 0 {
        return Err(ProofRequestError::FirstSizeZero);
    }
    let mut ranges = Vec::with_capacity(64);
    // SUBPROOF(m, D[low:high], whole): `whole` is true while the old tree is the whole left
    // edge of the range, whose hash the verifier already has (the first root).
    let (mut low, mut high, mut whole) = (0, size2, true);
    let mut old = size1;
    while old != high - low {
        let half = largest_power_of_two_below(high - low);
        if old <= half {
            ranges.push(low + half..high);
            high = low + half;
        } else {
            ranges.push(low..low + half);
            low += half;
            old -= half;
            whole = false;
        }
    }
    if !whole {
        ranges.push(low..high);
    }
    ranges.reverse();
    Ok(ranges)
}

/// Reads the hashes of `ranges` (as planned by the functions above) from `source`.
pub fn proof_hashes<S: HashSource + ?Sized>(
    source: &S,
    ranges: &[Range<u64>],
) -> Result<Vec<Hash>, S::Error> {
    ranges
        .iter()
        .map(|range| range_hash(source, range.clone()))
        .collect()
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves, read from `source`.
pub fn prove_inclusion<S: HashSource + ?Sized>(
    source: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProveError<S::Error>> {
    let ranges = inclusion_proof_ranges(index, size).map_err(ProveError::Request)?;
    proof_hashes(source, &ranges).map_err(ProveError::Source)
}

/// The consistency proof from the tree of `size1` leaves to the tree of `size2`, read from
/// `source`.
pub fn prove_consistency<S: HashSource + ?Sized>(
    source: &S,
    size1: u64,
    size2: u64,
) -> Result<Vec<Hash>, ProveError<S::Error>> {
    let ranges = consistency_proof_ranges(size1, size2).map_err(ProveError::Request)?;
    proof_hashes(source, &ranges).map_err(ProveError::Source)
}

/// The one valid length of an inclusion proof (`transparency-dev/merkle` `decompInclProof`):
/// the levels below the point where the paths to `index` and to the last leaf part, plus one
/// hash per left sibling above it.
fn inclusion_proof_length(index: u64, size: u64) -> usize {
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    // `inner` is 64 when the paths part at the root of a 2^64-leaf tree: nothing above.
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner + border) as usize
}

/// The one valid length of a consistency proof for `0 < size1 < size2`.
fn consistency_proof_length(size1: u64, size2: u64) -> usize {
    let inner = 64 - ((size1 - 1) ^ (size2 - 1)).leading_zeros();
    let border = (size1 - 1).checked_shr(inner).unwrap_or(0).count_ones();
    let shift = size1.trailing_zeros();
    // The first root itself starts the proof unless the old tree is a single complete subtree.
    let seed = usize::from(!size1.is_power_of_two());
    // `inner > shift`: the low `shift` bits of `size1 - 1` are all ones, so `size2 - 1`, which is
    // larger, must differ from it above them.
    seed + (inner - shift + border) as usize
}

/// The root that `proof` leads to from leaf hash `leaf` at `index` in a tree of `size` leaves
/// (RFC 9162 §2.1.3.2), after checking the index and the proof's length.
pub fn root_from_inclusion_proof(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, VerifyError> {
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_proof_length(index, size);
    if proof.len() != expected {
        return Err(VerifyError::ProofLength {
            expected,
            actual: proof.len(),
        });
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        // Unreachable after the length check; kept because the RFC states it.
        if s_n == 0 {
            return Err(VerifyError::ProofLength {
                expected,
                actual: proof.len(),
            });
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    // A proof of the expected length always ends at the root; refuse rather than trust that.
    if s_n != 0 {
        return Err(VerifyError::ProofLength {
            expected,
            actual: proof.len(),
        });
    }
    Ok(r)
}

/// Verifies that leaf hash `leaf` is at `index` in the tree of `size` leaves with root `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    if root_from_inclusion_proof(leaf, index, size, proof)? == *root {
        Ok(())
    } else {
        Err(VerifyError::RootMismatch)
    }
}

/// Verifies that the tree of `size2` leaves with root `root2` extends the tree of `size1` leaves
/// with root `root1` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<(), VerifyError> {
    if size1 > size2 {
        return Err(VerifyError::SizesOutOfOrder { size1, size2 });
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(VerifyError::ProofLength {
                expected: 0,
                actual: proof.len(),
            });
        }
        return if root1 == root2 {
            Ok(())
        } else {
            Err(VerifyError::RootMismatch)
        };
    }
    if size1 == 0 {
        return Err(VerifyError::FirstSizeZero);
    }
    let expected = consistency_proof_length(size1, size2);
    if proof.len() != expected {
        return Err(VerifyError::ProofLength {
            expected,
            actual: proof.len(),
        });
    }
    // Step 2: a power-of-two old tree is itself the first node of the path.
    let (seed, rest) = if size1.is_power_of_two() {
        (root1, proof)
    } else {
        (&proof[0], &proof[1..])
    };
    let (mut f_n, mut s_n) = (size1 - 1, size2 - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut f_r, mut s_r) = (*seed, *seed);
    for c in rest {
        if s_n == 0 {
            return Err(VerifyError::ProofLength {
                expected,
                actual: proof.len(),
            });
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    // A proof of the expected length always ends at the root; refuse rather than trust that.
    if s_n != 0 {
        return Err(VerifyError::ProofLength {
            expected,
            actual: proof.len(),
        });
    }
    if f_r != *root1 {
        return Err(VerifyError::FirstRootMismatch);
    }
    if s_r != *root2 {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}
