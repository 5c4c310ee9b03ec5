//! Tile tests: tiles cut from a growing tree never change once full, a level's tile hashes
//! are the roots of the full tiles below, proofs computed from tiles equal the tree's, path
//! parsing refuses every non-canonical spelling, and entry bundles frame and check entries.

use std::collections::BTreeMap;

use crate::*;

use super::merkle::{leaves, oracle_root};

fn tile_hashes(bytes: &[u8]) -> Vec<Hash> {
    bytes
        .chunks_exact(HASH_SIZE)
        .map(|c| c.try_into().unwrap())
        .collect()
}

/// A tree of `size` leaves grown in uneven batches, with every tile `new_tiles` named along
/// the way, as a storage shell would have written them.
fn grown_tree(size: u64) -> (Tree, Vec<(Tile, Vec<u8>)>) {
    let all = leaves(size);
    let mut tree = Tree::new();
    let mut written = Vec::new();
    let mut start = 0;
    let mut batch = 1;
    while start < all.len() {
        let end = (start + batch).min(all.len());
        let old = tree.size();
        tree.append_leaf_hashes(&all[start..end]);
        for tile in new_tiles(old, tree.size()) {
            let bytes = tree.tile(&tile).expect("a new tile is in the tree");
            assert_eq!(bytes.len(), usize::from(tile.width) * HASH_SIZE);
            written.push((tile, bytes));
        }
        start = end;
        batch = batch * 3 % 1000 + 1;
    }
    (tree, written)
}

// Goal: a full tile is written once and never changes; partial tiles are prefixes of later
// ones; a tile at level 1 holds the roots of the full level-0 tiles.
#[test]
fn tiles_are_immutable_and_nested() {
    let (tree, written) = grown_tree(70_000);
    let mut full: BTreeMap<(u8, u64), Vec<u8>> = BTreeMap::new();
    for (tile, bytes) in &written {
        let last = tree
            .tile(&Tile {
                width: tile.width,
                ..*tile
            })
            .unwrap();
        assert_eq!(&last, bytes, "{}", tile.path());
        if tile.is_full() {
            assert!(
                full.insert((tile.level, tile.index), bytes.clone())
                    .is_none(),
                "rewritten"
            );
        }
    }
    assert_eq!(full.keys().filter(|(level, _)| *level == 0).count(), 273);
    let level1 = tile_hashes(
        &tree
            .tile(&Tile {
                level: 1,
                index: 0,
                width: 256,
            })
            .unwrap(),
    );
    for (index, hash) in level1.iter().enumerate() {
        let below = tile_hashes(&full[&(0, index as u64)]);
        assert_eq!(*hash, oracle_root(&below), "level-1 hash {index}");
    }
    assert_eq!(
        tree.tile(&Tile {
            level: 0,
            index: 273,
            width: 113
        }),
        None,
        "past the size"
    );
    assert_eq!(
        tree.tile(&Tile {
            level: 3,
            index: 0,
            width: 1
        }),
        None
    );
}

// Goal: roots and proofs computed from tiles are the tree's, for sizes at every tile edge.
// Method: a `TileSet` of the tiles written while growing the tree; for each size, only the
// tiles `tiles_for_ranges` names are put in a fresh set, so the plan is checked too.
#[test]
fn proofs_from_tiles_equal_tree_proofs() {
    let (tree, written) = grown_tree(70_000);
    let mut all_tiles = TileSet::new();
    for (tile, bytes) in &written {
        all_tiles.insert(*tile, bytes.clone());
    }
    for size in [
        1, 2, 255, 256, 257, 511, 4096, 65535, 65536, 65537, 69_999, 70_000,
    ] {
        let tiles = TileHashes::new(&all_tiles, size);
        assert_eq!(
            root_hash(&tiles, size),
            Ok(tree.root_at(size).unwrap()),
            "root {size}"
        );
        for index in [0, size / 3, size / 2, size - 1] {
            let ranges = inclusion_proof_ranges(index, size).unwrap();
            let mut needed = TileSet::new();
            for tile in tiles_for_ranges(&ranges, size) {
                needed.insert(tile, tree.tile(&tile).unwrap());
            }
            let proof = proof_hashes(&TileHashes::new(&needed, size), &ranges).unwrap();
            assert_eq!(
                proof,
                tree.inclusion_proof(index, size).unwrap(),
                "{index} in {size}"
            );
        }
        for old in [1, size / 2, size - 1, size] {
            if old == 0 {
                continue;
            }
            let proof = prove_consistency(&tiles, old, size).unwrap();
            assert_eq!(
                proof,
                tree.consistency_proof(old, size).unwrap(),
                "{old} -> {size}"
            );
        }
    }
}

// Goal: a tile with one wrong hash yields a proof that fails against the signed root.
#[test]
fn a_wrong_tile_fails_verification() {
    let (tree, written) = grown_tree(3000);
    let (size, index) = (3000, 1234);
    let proof_tiles = tiles_for_ranges(&inclusion_proof_ranges(index, size).unwrap(), size);
    let leaf = tree.leaf_hash(index).unwrap();
    let root = tree.root();
    for bad_tile in &proof_tiles {
        let mut set = TileSet::new();
        for (tile, bytes) in &written {
            let mut bytes = bytes.clone();
            if (tile.level, tile.index) == (bad_tile.level, bad_tile.index) {
                bytes[7] ^= 0x10;
            }
            set.insert(*tile, bytes);
        }
        let tiles = TileHashes::new(&set, size);
        let proof = prove_inclusion(&tiles, index, size).unwrap();
        let flipped_root = root_hash(&tiles, size).unwrap();
        let proof_fails = verify_inclusion(&leaf, index, size, &proof, &root).is_err();
        // Either the proof or the tile-derived root exposes the bad hash.
        assert!(proof_fails || flipped_root != root, "{}", bad_tile.path());
    }
}

// Goal: tile reads fail with their own error: past the tree, missing, short.
#[test]
fn tile_source_errors() {
    let (tree, _) = grown_tree(600);
    let mut set = TileSet::new();
    let tile = Tile {
        level: 0,
        index: 0,
        width: 256,
    };
    set.insert(tile, tree.tile(&tile).unwrap()[..64].to_vec());
    let tiles = TileHashes::new(&set, 600);
    let past = Subtree {
        level: 0,
        index: 600,
    };
    assert_eq!(tiles.subtree_hash(past), Err(TileError::Missing(past)));
    let missing = Tile {
        level: 0,
        index: 1,
        width: 256,
    };
    assert_eq!(
        tiles.subtree_hash(Subtree {
            level: 0,
            index: 300
        }),
        Err(TileError::Read(TileMissing(missing)))
    );
    // The set answers only tiles at least as wide as asked; a short one is "missing".
    assert_eq!(
        tiles.subtree_hash(Subtree { level: 0, index: 0 }),
        Err(TileError::Read(TileMissing(tile)))
    );
    struct Short;
    impl TileReader for Short {
        type Error = ();
        fn read_tile(&self, _: &Tile) -> Result<&[u8], ()> {
            Ok(&[0; 33])
        }
    }
    let short = TileHashes::new(&Short, 600);
    assert_eq!(
        short.subtree_hash(Subtree { level: 0, index: 1 }),
        Err(TileError::Length {
            tile: Tile {
                level: 0,
                index: 0,
                width: 256
            },
            length: 33
        })
    );
}

// Goal: every non-canonical or malformed path is refused with the right error.
#[test]
fn tile_path_rejections() {
    let cases = [
        ("tiles/0/000", TilePathError::Prefix),
        ("/tile/0/000", TilePathError::Prefix),
        ("tile/00/000", TilePathError::Level),
        ("tile/64/000", TilePathError::Level),
        ("tile/+1/000", TilePathError::Level),
        ("tile/data/000", TilePathError::Level),
        ("tile/0", TilePathError::Index),
        ("tile/0/", TilePathError::Index),
        ("tile/0/00", TilePathError::Index),
        ("tile/0/0001", TilePathError::Index),
        ("tile/0/x000/001", TilePathError::Index),
        ("tile/0/x01/001", TilePathError::Index),
        ("tile/0/001/", TilePathError::Index),
        ("tile/0/x001", TilePathError::Index),
        ("tile/0/000.p", TilePathError::Index),
        (
            "tile/0/x018/x446/x744/x073/x709/x551/616",
            TilePathError::Index,
        ),
        ("tile/0/000.p/0", TilePathError::Width),
        ("tile/0/000.p/256", TilePathError::Width),
        ("tile/0/000.p/01", TilePathError::Width),
        ("tile/0/000.p/", TilePathError::Width),
        ("tile/0/000.p/5/", TilePathError::Index),
    ];
    for (path, error) in cases {
        assert_eq!(parse_tile_path(path), Err(error), "{path}");
    }
    let largest = "tile/0/x018/x446/x744/x073/x709/x551/615";
    assert_eq!(
        parse_tile_path(largest),
        Ok(TilePath::Hashes(Tile {
            level: 0,
            index: u64::MAX,
            width: 256
        }))
    );
    assert_eq!(
        parse_tile_path("tile/63/000.p/255"),
        Ok(TilePath::Hashes(Tile {
            level: 63,
            index: 0,
            width: 255
        }))
    );
}

// Goal: bundles frame entries with u16 lengths, refuse what cannot be framed or is cut, and
// are checked entry by entry against their level-0 tile.
#[test]
fn entry_bundles() {
    let entries: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; usize::from(i) * 100]).collect();
    let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
    let bundle = encode_bundle(&refs).unwrap();
    assert_eq!(&bundle[..2], &[0, 0]);
    assert_eq!(&bundle[2..4], &[0, 100]);
    assert_eq!(decode_bundle(&bundle).unwrap(), refs);
    assert_eq!(
        decode_bundle(&bundle[..bundle.len() - 1]),
        Err(BundleError::Truncated { offset: 608 })
    );
    assert_eq!(
        decode_bundle(&bundle[..1]),
        Err(BundleError::Truncated { offset: 0 })
    );
    assert_eq!(
        decode_bundle(&[]),
        Err(BundleError::EntryCount { count: 0 })
    );
    assert_eq!(
        encode_bundle(&[]),
        Err(BundleError::EntryCount { count: 0 })
    );
    let huge = vec![0u8; ENTRY_SIZE_MAX + 1];
    assert_eq!(
        encode_bundle(&[&huge]),
        Err(BundleError::EntryTooLarge {
            length: ENTRY_SIZE_MAX + 1
        })
    );
    assert!(encode_bundle(&[&huge[1..]]).is_ok());
    let too_many = vec![&[][..]; 257];
    assert_eq!(
        encode_bundle(&too_many),
        Err(BundleError::EntryCount { count: 257 })
    );
    assert_eq!(
        decode_bundle(&[0; 2 * 257]),
        Err(BundleError::EntryCount { count: 257 })
    );

    let mut tree = Tree::new();
    for entry in &refs {
        tree.append(entry);
    }
    let tile = tree
        .tile(&Tile {
            level: 0,
            index: 0,
            width: 5,
        })
        .unwrap();
    assert_eq!(check_bundle(&refs, &tile), Ok(()));
    assert_eq!(
        check_bundle(&refs[..4], &tile),
        Err(BundleError::WidthMismatch {
            entries: 4,
            hashes: 5
        })
    );
    let mut flipped = entries[3].clone();
    flipped[50] ^= 1;
    let mut changed = refs.clone();
    changed[3] = &flipped;
    assert_eq!(
        check_bundle(&changed, &tile),
        Err(BundleError::HashMismatch { position: 3 })
    );
}
