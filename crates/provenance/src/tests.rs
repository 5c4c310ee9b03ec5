//! Provenance tests: public vectors of peer implementations (`vectors.rs`), unit tests of the
//! tree, tiles and notes, and property tests over every small tree (`properties.rs`).

mod merkle;
mod notes;
mod properties;
mod tiles;
mod vectors;

use crate::hash::Hash;

/// Bytes from hexadecimal (test data only).
pub(crate) fn hex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex {text:?}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digits"))
        .collect()
}

/// A hash from hexadecimal (test data only).
pub(crate) fn hex_hash(text: &str) -> Hash {
    hex(text).try_into().expect("a 32-byte hash")
}
