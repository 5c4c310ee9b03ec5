//! The provenance log's core: an RFC 6962 / 9162 Merkle tree with SHA-256, inclusion and
//! consistency proofs, the C2SP tlog-tiles layout, and C2SP signed notes, checkpoints and
//! cosignatures, so that the log is a transparency log existing verifiers accept.
//!
//! - `hash`: leaf (0x00) and node (0x01) hashes, the empty root.
//! - `subtree`: complete subtrees, [`HashSource`] (the one question a store answers), and the
//!   hash of any range or root from it.
//! - `proof`: which ranges a proof holds, generation from any source, strict verification.
//! - `tree`: [`Tree`], every level in memory; appends in amortised O(1), proofs in O(log n)
//!   lookups.
//! - `tiles`: tile paths, the tiles of a size, tiles as a [`HashSource`], entry bundles.
//! - `note`, `checkpoint`, `cosignature`: signed notes with Ed25519 behind [`NoteVerifier`] /
//!   [`NoteSigner`], tree heads, witness cosignatures.
//! - `base64`: the strict standard base64 every format uses.
//!
//! Pure and deterministic: no I/O, no clock (timestamps are arguments), no randomness (signing
//! is deterministic Ed25519; keys come in as seeds), no threads. Parsers never panic on input.
//!
//! This crate does NOT store anything, serve HTTP, know what an entry means (EPCIS statements
//! are bytes here), or read a clock to stamp cosignatures; the storage and serving shells do.
//! See docs/provenance.md for the formats and the design for 10^9 entries.

pub mod base64;
mod checkpoint;
mod cosignature;
mod hash;
mod note;
mod proof;
mod subtree;
mod tiles;
mod tree;

pub use checkpoint::{Checkpoint, CheckpointError, SignedCheckpoint, open_checkpoint};
pub use cosignature::{
    COSIGNATURE_TIMESTAMP_MAX, COSIGNATURE_V1_SIZE, CosignatureV1Signer, CosignatureV1Verifier,
    TimestampedCosigner, cosignature_v1_message, cosignature_v1_timestamp,
};
pub use hash::{EMPTY_ROOT, HASH_SIZE, Hash, hash_to_hex, leaf_hash, node_hash};
pub use note::{
    Ed25519Signer, Ed25519Verifier, KeyError, NOTE_SIGNATURES_MAX, NOTE_SIZE_MAX, Note, NoteError,
    NoteSignature, NoteSigner, NoteVerifier, SIGNATURE_TYPE_COSIGNATURE_V1, SIGNATURE_TYPE_ED25519,
    VerifiedNote, is_valid_key_name, key_id, open, sign, verifier_from_vkey,
};
pub use proof::{
    ProofRequestError, ProveError, VerifyError, consistency_proof_ranges, inclusion_proof_ranges,
    proof_hashes, prove_consistency, prove_inclusion, root_from_inclusion_proof,
    verify_consistency, verify_inclusion,
};
pub use subtree::{HashSource, RangeSubtrees, Subtree, range_hash, range_subtrees, root_hash};
pub use tiles::{
    BundleError, ENTRY_SIZE_MAX, TILE_HEIGHT, TILE_LEVEL_MAX, TILE_SIZE, TILE_WIDTH, Tile,
    TileError, TileHashes, TileMissing, TilePath, TilePathError, TileReader, TileSet, check_bundle,
    decode_bundle, encode_bundle, format_index, new_tiles, parse_tile_path, partial_tiles,
    tile_for_subtree, tiles_for_ranges,
};
pub use tree::{LevelShapeError, MissingHash, Tree};

#[cfg(test)]
mod tests;
