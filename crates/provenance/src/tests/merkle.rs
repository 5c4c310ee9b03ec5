//! Tree and proof tests against an oracle written from the RFC 6962 §2.1 definitions
//! (recursive `MTH`, `PATH` and `PROOF` over the leaf list), sharing no code with the tree.

use crate::*;

/// `MTH(D[n])`, straight from the definition.
pub(crate) fn oracle_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => EMPTY_ROOT,
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&oracle_root(&leaves[..k]), &oracle_root(&leaves[k..]))
        }
    }
}

/// The largest power of two smaller than `n` (`n > 1`).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// `PATH(m, D[n])`.
pub(crate) fn oracle_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split(n);
    if m < k {
        let mut path = oracle_path(m, &leaves[..k]);
        path.push(oracle_root(&leaves[k..]));
        path
    } else {
        let mut path = oracle_path(m - k, &leaves[k..]);
        path.push(oracle_root(&leaves[..k]));
        path
    }
}

/// `PROOF(m, D[n])` = `SUBPROOF(m, D[n], true)`.
pub(crate) fn oracle_proof(m: usize, leaves: &[Hash], whole: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if whole {
            Vec::new()
        } else {
            vec![oracle_root(leaves)]
        };
    }
    let k = split(n);
    if m <= k {
        let mut proof = oracle_proof(m, &leaves[..k], whole);
        proof.push(oracle_root(&leaves[k..]));
        proof
    } else {
        let mut proof = oracle_proof(m - k, &leaves[k..], false);
        proof.push(oracle_root(&leaves[..k]));
        proof
    }
}

pub(crate) fn leaves(count: u64) -> Vec<Hash> {
    (0..count).map(|i| leaf_hash(&i.to_be_bytes())).collect()
}

// Goal: the root at every size up to 300 is the RFC's MTH.
// Method: one tree grown leaf by leaf; `root_at` for every size against the oracle.
#[test]
fn roots_match_the_definition() {
    let all = leaves(300);
    let mut tree = Tree::new();
    assert_eq!(tree.root(), EMPTY_ROOT);
    for (index, leaf) in all.iter().enumerate() {
        tree.append_leaf_hashes(&[*leaf]);
        assert_eq!(
            tree.root(),
            oracle_root(&all[..=index]),
            "size {}",
            index + 1
        );
    }
    for size in 0..=300 {
        assert_eq!(
            tree.root_at(size).unwrap(),
            oracle_root(&all[..size as usize])
        );
    }
}

// Goal: proofs are exactly the RFC's PATH and PROOF for every index and pair of sizes to 64.
#[test]
fn proofs_match_the_definition() {
    let all = leaves(64);
    let tree = Tree::from_leaf_hashes(&all);
    for size in 1..=64usize {
        for index in 0..size {
            let proof = tree.inclusion_proof(index as u64, size as u64).unwrap();
            assert_eq!(proof, oracle_path(index, &all[..size]), "{index} in {size}");
        }
        for old in 1..=size {
            let proof = tree.consistency_proof(old as u64, size as u64).unwrap();
            assert_eq!(
                proof,
                oracle_proof(old, &all[..size], true),
                "{old} -> {size}"
            );
        }
    }
}

// Goal: appending in batches of any shape stores the same levels as one leaf at a time.
#[test]
fn batches_equal_single_appends() {
    let all = leaves(1000);
    let single = Tree::from_leaf_hashes(&all);
    for batch in [1, 2, 3, 7, 255, 256, 257, 999] {
        let mut tree = Tree::new();
        for (chunk_index, chunk) in all.chunks(batch).enumerate() {
            let range = tree.append_leaf_hashes(chunk);
            assert_eq!(range.start, (chunk_index * batch) as u64);
            assert_eq!(range.end - range.start, chunk.len() as u64);
        }
        assert_eq!(tree, single, "batch {batch}");
    }
    assert_eq!(single.append_leaf_hashes_empty_is_noop(), 1000);
}

impl Tree {
    fn append_leaf_hashes_empty_is_noop(&self) -> u64 {
        let mut tree = self.clone();
        let range = tree.append_leaf_hashes(&[]);
        assert_eq!(range, 1000..1000);
        assert_eq!(&tree, self);
        tree.size()
    }
}

// Goal: a tree restored from its levels is the tree; levels of the wrong shape are refused.
#[test]
fn restore_from_levels() {
    let tree = Tree::from_leaf_hashes(&leaves(77));
    let levels: Vec<Vec<Hash>> = (0..7).map(|l| tree.level(l).to_vec()).collect();
    assert_eq!(levels.last().map(Vec::len), Some(1));
    assert_eq!(Tree::from_levels(levels.clone()), Ok(tree.clone()));
    assert_eq!(
        Tree::from_levels(levels[..6].to_vec()),
        Err(LevelShapeError { level: 6 })
    );
    let mut extra = levels.clone();
    extra.push(Vec::new());
    assert_eq!(Tree::from_levels(extra), Err(LevelShapeError { level: 7 }));
    let mut short = levels;
    short[3].pop();
    assert_eq!(Tree::from_levels(short), Err(LevelShapeError { level: 3 }));
    assert_eq!(Tree::from_levels(Vec::new()), Ok(Tree::new()));
    assert_eq!(Tree::from_levels(vec![Vec::new()]), Ok(Tree::new()));
}

// Goal: a range splits into the complete subtrees of its set bits, left to right.
#[test]
fn range_subtrees_follow_the_bits() {
    let subtrees: Vec<Subtree> = range_subtrees(0..13).collect();
    let expected = [
        Subtree { level: 3, index: 0 },
        Subtree { level: 2, index: 2 },
        Subtree {
            level: 0,
            index: 12,
        },
    ];
    assert_eq!(subtrees, expected);
    assert_eq!(subtrees[1].leaves(), 8..12);
    assert_eq!(range_subtrees(8..11).count(), 2);
    assert_eq!(range_subtrees(5..5).count(), 0);
}

// Goal: every impossible request and every malformed proof gets its own error.
#[test]
fn errors_are_precise() {
    let tree = Tree::from_leaf_hashes(&leaves(10));
    assert_eq!(
        tree.inclusion_proof(10, 10),
        Err(ProofRequestError::IndexOutOfRange {
            index: 10,
            size: 10
        })
    );
    assert_eq!(
        tree.inclusion_proof(0, 11),
        Err(ProofRequestError::SizeOutOfRange {
            size: 11,
            tree_size: 10
        })
    );
    assert_eq!(
        tree.consistency_proof(5, 4),
        Err(ProofRequestError::SizesOutOfOrder { size1: 5, size2: 4 })
    );
    assert_eq!(
        tree.consistency_proof(0, 4),
        Err(ProofRequestError::FirstSizeZero)
    );
    assert_eq!(tree.consistency_proof(4, 4), Ok(Vec::new()));
    assert_eq!(
        tree.root_at(11),
        Err(ProofRequestError::SizeOutOfRange {
            size: 11,
            tree_size: 10
        })
    );

    let (root6, root10) = (tree.root_at(6).unwrap(), tree.root());
    let leaf = tree.leaf_hash(3).unwrap();
    let proof = tree.inclusion_proof(3, 10).unwrap();
    assert_eq!(verify_inclusion(&leaf, 3, 10, &proof, &root10), Ok(()));
    assert_eq!(
        verify_inclusion(&leaf, 10, 10, &proof, &root10),
        Err(VerifyError::IndexOutOfRange {
            index: 10,
            size: 10
        })
    );
    assert_eq!(
        verify_inclusion(&leaf, 3, 10, &proof[1..], &root10),
        Err(VerifyError::ProofLength {
            expected: 4,
            actual: 3
        })
    );
    assert_eq!(
        verify_inclusion(&leaf, 3, 10, &proof, &root6),
        Err(VerifyError::RootMismatch)
    );

    let proof = tree.consistency_proof(6, 10).unwrap();
    assert_eq!(verify_consistency(6, 10, &proof, &root6, &root10), Ok(()));
    assert_eq!(
        verify_consistency(10, 6, &proof, &root6, &root10),
        Err(VerifyError::SizesOutOfOrder {
            size1: 10,
            size2: 6
        })
    );
    assert_eq!(
        verify_consistency(0, 10, &proof, &root6, &root10),
        Err(VerifyError::FirstSizeZero)
    );
    assert_eq!(
        verify_consistency(6, 10, &proof, &root10, &root10),
        Err(VerifyError::FirstRootMismatch)
    );
    assert_eq!(
        verify_consistency(6, 10, &proof, &root6, &root6),
        Err(VerifyError::RootMismatch)
    );
    assert_eq!(
        verify_consistency(6, 6, &proof, &root6, &root6),
        Err(VerifyError::ProofLength {
            expected: 0,
            actual: proof.len()
        })
    );
    assert_eq!(verify_consistency(6, 6, &[], &root6, &root6), Ok(()));
    assert_eq!(
        verify_consistency(0, 0, &[], &EMPTY_ROOT, &EMPTY_ROOT),
        Ok(())
    );
}

// Goal: sizes near 2^64 are refused cleanly, not with an overflow panic (found by
// `verifiers_never_panic`: the expected proof length shifted a u64 by 64).
#[test]
fn verifying_near_the_largest_size_does_not_panic() {
    let proof = vec![EMPTY_ROOT; 3];
    let result = verify_inclusion(&EMPTY_ROOT, 0, u64::MAX, &proof, &EMPTY_ROOT);
    assert_eq!(
        result,
        Err(VerifyError::ProofLength {
            expected: 64,
            actual: 3
        })
    );
    let result = verify_consistency(1 << 63, u64::MAX, &proof, &EMPTY_ROOT, &EMPTY_ROOT);
    assert_eq!(
        result,
        Err(VerifyError::ProofLength {
            expected: 1,
            actual: 3
        })
    );
}

// Goal: proofs for a tree of 2^40 + 12345 leaves are O(log n) long and verify.
// Method: a source for a tree whose leaves are all the same entry, where the subtree hash of
// level `l` is the level-`l` hash of a chain of doublings: consistent and cheap at any size.
#[test]
fn proofs_for_huge_sizes() {
    struct Uniform([Hash; 64]);
    impl HashSource for Uniform {
        type Error = ();
        fn subtree_hash(&self, subtree: Subtree) -> Result<Hash, ()> {
            Ok(self.0[usize::from(subtree.level)])
        }
    }
    let mut levels = [leaf_hash(b"entry"); 64];
    for level in 1..64 {
        levels[level] = node_hash(&levels[level - 1], &levels[level - 1]);
    }
    let source = Uniform(levels);
    let size = (1u64 << 40) + 12345;
    let root = root_hash(&source, size).unwrap();
    for index in [0, 1 << 39, (1 << 40) - 1, 1 << 40, size - 1] {
        let proof = prove_inclusion(&source, index, size).unwrap();
        assert!(proof.len() <= 41, "{index}: {}", proof.len());
        assert_eq!(
            verify_inclusion(&levels[0], index, size, &proof, &root),
            Ok(())
        );
        let other = leaf_hash(b"other");
        assert_eq!(
            verify_inclusion(&other, index, size, &proof, &root),
            Err(VerifyError::RootMismatch)
        );
    }
    for old in [1, 3, (1 << 40) - 1, 1 << 40, size - 1] {
        let old_root = root_hash(&source, old).unwrap();
        let proof = prove_consistency(&source, old, size).unwrap();
        assert!(proof.len() <= 42, "{old}: {}", proof.len());
        assert_eq!(
            verify_consistency(old, size, &proof, &old_root, &root),
            Ok(())
        );
        assert!(verify_consistency(old, size, &proof, &root, &root).is_err());
    }
}
