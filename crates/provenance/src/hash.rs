//! RFC 6962 §2.1 hashing with SHA-256: leaf hashes (prefix 0x00), interior node hashes (prefix
//! 0x01) and the hash of the empty tree.
//!
//! The two prefixes are the tree's domain separation: without them a leaf whose bytes are two
//! hashes could be passed off as an interior node (a second preimage).

use sha2::{Digest, Sha256};

/// Size of every hash in the tree, in bytes (SHA-256).
pub const HASH_SIZE: usize = 32;

/// A SHA-256 hash: a leaf hash, an interior node hash or a root.
pub type Hash = [u8; HASH_SIZE];

/// The root of the empty tree: `SHA-256()` (RFC 6962 §2.1, `MTH({})`).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// The hash of one log entry: `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(entry);
    hasher.finalize().into()
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut block = [0u8; 1 + 2 * HASH_SIZE];
    block[0] = NODE_PREFIX;
    block[1..=HASH_SIZE].copy_from_slice(left);
    block[1 + HASH_SIZE..].copy_from_slice(right);
    Sha256::digest(block).into()
}

/// Plain SHA-256 of the concatenation of `parts` (key IDs, test vectors over raw bytes).
pub(crate) fn sha256(parts: &[&[u8]]) -> Hash {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Lowercase hexadecimal of a hash, for logs, tools and error messages.
pub fn hash_to_hex(hash: &Hash) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * HASH_SIZE);
    for byte in hash {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}
