//! Property tests: a valid proof for every index and every pair of sizes of every small tree,
//! and rejection of any single flipped bit in a proof, a root, a leaf, an entry or a signed
//! checkpoint; exhaustive where small, `proptest` over a 100,000-leaf tree beyond. Also: the
//! parsers never panic, and every spelling they accept is the canonical one.

use std::sync::OnceLock;

use proptest::prelude::*;

use crate::*;

use super::merkle::leaves;
use super::notes::{LOG, log_signer, signed_checkpoint, witness};

fn flip(hash: &Hash, bit: usize) -> Hash {
    let mut flipped = *hash;
    flipped[bit / 8] ^= 1 << (bit % 8);
    flipped
}

// Goal: every inclusion proof of every tree up to 300 leaves verifies.
#[test]
fn every_inclusion_proof_verifies_up_to_300() {
    let tree = Tree::from_leaf_hashes(&leaves(300));
    for size in 1..=300 {
        let root = tree.root_at(size).unwrap();
        for index in 0..size {
            let proof = tree.inclusion_proof(index, size).unwrap();
            let leaf = tree.leaf_hash(index).unwrap();
            assert_eq!(
                verify_inclusion(&leaf, index, size, &proof, &root),
                Ok(()),
                "{index}/{size}"
            );
        }
    }
}

// Goal: a valid consistency proof exists between every pair of sizes up to 300.
#[test]
fn every_consistency_proof_verifies_up_to_300() {
    let tree = Tree::from_leaf_hashes(&leaves(300));
    let roots: Vec<Hash> = (0..=300).map(|size| tree.root_at(size).unwrap()).collect();
    for size2 in 1..=300u64 {
        for size1 in 1..=size2 {
            let proof = tree.consistency_proof(size1, size2).unwrap();
            let (root1, root2) = (&roots[size1 as usize], &roots[size2 as usize]);
            assert_eq!(
                verify_consistency(size1, size2, &proof, root1, root2),
                Ok(()),
                "{size1}->{size2}"
            );
        }
    }
}

// Goal: in every tree up to 16 leaves, flipping any one bit of any proof hash, of the leaf or
// of either root, or moving the leaf to another index, makes verification fail.
#[test]
fn every_flipped_bit_is_rejected_in_small_trees() {
    let tree = Tree::from_leaf_hashes(&leaves(16));
    for size in 1..=16 {
        let root = tree.root_at(size).unwrap();
        for index in 0..size {
            let proof = tree.inclusion_proof(index, size).unwrap();
            let leaf = tree.leaf_hash(index).unwrap();
            for bit in 0..256 {
                for element in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[element] = flip(&bad[element], bit);
                    assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
                }
                assert!(verify_inclusion(&flip(&leaf, bit), index, size, &proof, &root).is_err());
                assert!(verify_inclusion(&leaf, index, size, &proof, &flip(&root, bit)).is_err());
            }
            for other in (0..size).filter(|&other| other != index) {
                assert!(verify_inclusion(&leaf, other, size, &proof, &root).is_err());
            }
        }
        for size1 in 1..=size {
            let proof = tree.consistency_proof(size1, size).unwrap();
            let root1 = tree.root_at(size1).unwrap();
            for bit in 0..256 {
                for element in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[element] = flip(&bad[element], bit);
                    assert!(verify_consistency(size1, size, &bad, &root1, &root).is_err());
                }
                assert!(
                    verify_consistency(size1, size, &proof, &flip(&root1, bit), &root).is_err()
                );
                assert!(
                    verify_consistency(size1, size, &proof, &root1, &flip(&root, bit)).is_err()
                );
            }
        }
    }
}

// Goal: flipping any bit of a signed, cosigned checkpoint makes it fail to open with a quorum
// of both witnesses (a flip in a witness line leaves the quorum short; anywhere else it breaks
// the syntax, the text under the signatures, or a signature).
#[test]
fn every_flipped_bit_of_a_checkpoint_is_rejected() {
    let tree = Tree::from_leaf_hashes(&leaves(77));
    let note = signed_checkpoint(&tree);
    let log = log_signer().verifier();
    let (w1, w2) = (witness(1).verifier(), witness(2).verifier());
    assert!(open_checkpoint(note.as_bytes(), LOG, &log, &[&w1, &w2], 2).is_ok());
    let bytes = note.as_bytes();
    for position in 0..bytes.len() {
        for bit in 0..8 {
            let mut bad = bytes.to_vec();
            bad[position] ^= 1 << bit;
            assert!(
                open_checkpoint(&bad, LOG, &log, &[&w1, &w2], 2).is_err(),
                "byte {position} bit {bit}"
            );
        }
    }
}

fn big_tree() -> &'static Tree {
    static TREE: OnceLock<Tree> = OnceLock::new();
    TREE.get_or_init(|| Tree::from_leaf_hashes(&leaves(100_000)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    // Goal: in a 100,000-leaf tree, random inclusion proofs verify, and one flipped bit
    // anywhere (proof, leaf, root) is rejected.
    #[test]
    fn inclusion_proofs_and_flips(size in 1u64..=100_000, index_seed: u64, bit in 0usize..256,
                                  target_seed: usize) {
        let tree = big_tree();
        let index = index_seed % size;
        let (root, leaf) = (tree.root_at(size).unwrap(), tree.leaf_hash(index).unwrap());
        let proof = tree.inclusion_proof(index, size).unwrap();
        prop_assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));
        let target = target_seed % (proof.len() + 2);
        let (mut leaf, mut proof, mut root) = (leaf, proof, root);
        match target {
            0 => leaf = flip(&leaf, bit),
            1 => root = flip(&root, bit),
            n => proof[n - 2] = flip(&proof[n - 2], bit),
        }
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &root).is_err());
    }

    // Goal: random consistency proofs verify, and one flipped bit anywhere is rejected.
    #[test]
    fn consistency_proofs_and_flips(size2 in 1u64..=100_000, size1_seed: u64, bit in 0usize..256,
                                    target_seed: usize) {
        let tree = big_tree();
        let size1 = size1_seed % size2 + 1;
        let (root1, root2) = (tree.root_at(size1).unwrap(), tree.root_at(size2).unwrap());
        let proof = tree.consistency_proof(size1, size2).unwrap();
        prop_assert_eq!(verify_consistency(size1, size2, &proof, &root1, &root2), Ok(()));
        let target = target_seed % (proof.len() + 2);
        let (mut root1, mut root2, mut proof) = (root1, root2, proof);
        match target {
            0 => root1 = flip(&root1, bit),
            1 => root2 = flip(&root2, bit),
            n => proof[n - 2] = flip(&proof[n - 2], bit),
        }
        prop_assert!(verify_consistency(size1, size2, &proof, &root1, &root2).is_err());
    }

    // Goal: a flipped bit in an entry is rejected: the entry's leaf hash no longer proves.
    #[test]
    fn flipped_entry_bits_are_rejected(entries in prop::collection::vec(
                                           prop::collection::vec(any::<u8>(), 0..64), 1..40),
                                       index_seed: usize, bit_seed: usize) {
        let mut tree = Tree::new();
        for entry in &entries {
            tree.append(entry);
        }
        let index = index_seed % entries.len();
        let mut entry = entries[index].clone();
        let proof = tree.inclusion_proof(index as u64, tree.size()).unwrap();
        let size = tree.size();
        let (index, root) = (index as u64, tree.root());
        prop_assert_eq!(verify_inclusion(&leaf_hash(&entry), index, size, &proof, &root), Ok(()));
        if !entry.is_empty() {
            let bit = bit_seed % (entry.len() * 8);
            entry[bit / 8] ^= 1 << (bit % 8);
            let leaf = leaf_hash(&entry);
            prop_assert!(verify_inclusion(&leaf, index, size, &proof, &root).is_err());
        }
    }

    // Goal: a proof built from tiles equals the tree's, at any size and index.
    #[test]
    fn tile_proofs_equal_tree_proofs(size in 1u64..=100_000, index_seed: u64, old_seed: u64) {
        let tree = big_tree();
        let index = index_seed % size;
        let old = old_seed % size + 1;
        let mut tiles = TileSet::new();
        let mut ranges = inclusion_proof_ranges(index, size).unwrap();
        ranges.extend(consistency_proof_ranges(old, size).unwrap());
        ranges.push(0..size);
        for tile in tiles_for_ranges(&ranges, size) {
            tiles.insert(tile, tree.tile(&tile).unwrap());
        }
        let source = TileHashes::new(&tiles, size);
        let expected = tree.inclusion_proof(index, size).unwrap();
        prop_assert_eq!(prove_inclusion(&source, index, size).unwrap(), expected);
        let expected = tree.consistency_proof(old, size).unwrap();
        prop_assert_eq!(prove_consistency(&source, old, size).unwrap(), expected);
        prop_assert_eq!(root_hash(&source, size).unwrap(), tree.root_at(size).unwrap());
    }

    // Goal: any edit of a signed checkpoint (a byte replaced, inserted or removed) that
    // changes it makes it fail to open.
    #[test]
    fn edited_checkpoints_are_rejected(position_seed: usize, byte: u8, kind in 0u8..3) {
        static NOTE: OnceLock<String> = OnceLock::new();
        let note = NOTE.get_or_init(|| signed_checkpoint(&Tree::from_leaf_hashes(&leaves(1234))));
        let mut bytes = note.as_bytes().to_vec();
        let position = position_seed % bytes.len();
        match kind {
            0 => bytes[position] = byte,
            1 => bytes.insert(position, byte),
            _ => { bytes.remove(position); }
        }
        let log = log_signer().verifier();
        let (w1, w2) = (witness(1).verifier(), witness(2).verifier());
        let opened = open_checkpoint(&bytes, LOG, &log, &[&w1, &w2], 2);
        prop_assert_eq!(opened.is_ok(), bytes == note.as_bytes());
    }

    // Goal: the note, checkpoint, bundle and path parsers never panic, whatever the input.
    #[test]
    fn parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), text in ".{0,80}") {
        let _ = Note::parse(&bytes);
        let _ = open(&bytes, &[&log_signer().verifier()]);
        let _ = decode_bundle(&bytes);
        let _ = Checkpoint::parse_body(&text);
        let _ = parse_tile_path(&text);
        let _ = parse_tile_path(&format!("tile/{text}"));
        let _ = base64::decode(&text);
        let _ = Ed25519Verifier::from_vkey(&text);
        let _ = CosignatureV1Verifier::from_vkey(&text);
        prop_assert!(true);
    }

    // Goal: the verifiers never panic, whatever the sizes, index and proof length.
    #[test]
    fn verifiers_never_panic(size1: u64, size2: u64, index: u64, length in 0usize..70,
                             small in 0u64..40) {
        let proof = vec![[7u8; 32]; length];
        for (a, b) in [(size1, size2), (small, size2), (small, small + 1), (size1 % 64, small)] {
            let _ = verify_consistency(a, b, &proof, &EMPTY_ROOT, &EMPTY_ROOT);
            let _ = verify_inclusion(&EMPTY_ROOT, index % (b + 1), b, &proof, &EMPTY_ROOT);
            let _ = verify_inclusion(&EMPTY_ROOT, index, a, &proof, &EMPTY_ROOT);
        }
        prop_assert!(verify_consistency(1, 2, &proof, &EMPTY_ROOT, &EMPTY_ROOT).is_err());
    }

    // Goal: base64 round-trips, and whatever decodes is the canonical encoding of its bytes.
    #[test]
    fn base64_is_canonical(bytes in prop::collection::vec(any::<u8>(), 0..100),
                           text in "[A-Za-z0-9+/=]{0,12}") {
        prop_assert_eq!(base64::decode(&base64::encode(&bytes)), Ok(bytes));
        if let Ok(decoded) = base64::decode(&text) {
            prop_assert_eq!(base64::encode(&decoded), text);
        }
    }

    // Goal: tile paths round-trip, and whatever parses is the canonical path of its tile.
    #[test]
    fn tile_paths_are_canonical(
        level in 0u8..=63,
        index: u64,
        width in 1u16..=256,
        text in "tile/(entries|[0-9]{1,2})(/x?[0-9]{1,4}){1,3}(\\.p/[0-9]{1,3})?",
    ) {
        let tile = Tile { level, index, width };
        prop_assert_eq!(parse_tile_path(&tile.path()), Ok(TilePath::Hashes(tile)));
        match parse_tile_path(&text) {
            Ok(TilePath::Hashes(tile)) => prop_assert_eq!(tile.path(), text),
            Ok(TilePath::Entries(tile)) => prop_assert_eq!(tile.bundle_path(), text),
            Err(_) => {}
        }
    }
}
