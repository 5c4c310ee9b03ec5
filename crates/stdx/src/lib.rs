//! Foundation shared by every crate: a fast keyed hasher for u128 ids, an index of positions by
//! id hash for dense tables, a seeded generator for the test tools, and small helpers.
//!
//! This crate has no dependencies and does no I/O. It deliberately holds nothing domain-specific.

use std::hash::{BuildHasher, Hasher};

pub mod bytes;
mod dense_map;
mod id_index;
pub use dense_map::DenseMap;
pub use id_index::{Candidates, IdIndex};
mod prng;
pub use prng::Prng;

/// A keyed multiply-fold hasher for integer keys (u128 ids, u64 timestamps).
///
/// Client-chosen ids are attacker-controlled, so the key is chosen by the shell (from OS randomness)
/// and passed down; pure crates never iterate a hash map in an order that reaches results, so the
/// key never changes behaviour, only the bucket layout.
#[derive(Clone, Copy, Debug)]
pub struct IdHasher {
    state: u64,
}

const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    #[expect(
        clippy::cast_possible_truncation,
        reason = "folding the halves of a 128-bit product"
    )]
    let folded = (full as u64) ^ ((full >> 64) as u64);
    folded
}

impl Hasher for IdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        fold(self.state, MULTIPLIER).rotate_left(26)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.state = fold(self.state ^ value, MULTIPLIER);
    }

    #[inline]
    fn write_u128(&mut self, value: u128) {
        #[expect(clippy::cast_possible_truncation, reason = "splitting into halves")]
        let (low, high) = (value as u64, (value >> 64) as u64);
        self.state = fold(self.state ^ low, high ^ MULTIPLIER);
    }

    #[inline]
    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }
}

/// Builds [`IdHasher`]s from a key.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdHashBuilder {
    key: u64,
}

impl IdHashBuilder {
    #[must_use]
    pub fn new(key: u64) -> IdHashBuilder {
        IdHashBuilder { key }
    }
}

impl BuildHasher for IdHashBuilder {
    type Hasher = IdHasher;
    #[inline]
    fn build_hasher(&self) -> IdHasher {
        IdHasher { state: self.key }
    }
}

/// A hash map keyed by integer ids. Never iterate it where order reaches a result: sort first.
pub type IdMap<K, V> = std::collections::HashMap<K, V, IdHashBuilder>;

/// Creates an empty [`IdMap`] with the given hasher key.
#[must_use]
pub fn id_map<K, V>(key: u64) -> IdMap<K, V> {
    std::collections::HashMap::with_hasher(IdHashBuilder::new(key))
}

/// Declares an enum of stable, numbered, named codes (result codes, error codes): the enum with
/// `#[repr(u32)]`, `ALL` in declaration order, `name`, `number`, `from_number` and `from_name`.
/// Numbers are the wire format and names the text format: neither may change once released.
#[macro_export]
macro_rules! named_codes {
    ($(#[$meta:meta])* $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = $number:literal => $text:literal,)*
    }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u32)]
        pub enum $name {
            $($(#[$vmeta])* $variant = $number,)*
        }

        impl $name {
            /// Every code, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The snake_case name used in text formats.
            #[must_use]
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// The stable number used in binary formats.
            #[must_use]
            pub fn number(self) -> u32 {
                self as u32
            }

            #[must_use]
            pub fn from_number(number: u32) -> Option<$name> {
                match number {
                    $($number => Some($name::$variant),)*
                    _ => None,
                }
            }

            #[must_use]
            pub fn from_name(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: keys that differ in either half hash differently, and the key changes the layout.
    #[test]
    fn hashes_both_halves() {
        let build = IdHashBuilder::new(7);
        let h = |v: u128| build.hash_one(v);
        assert_ne!(h(1), h(1 << 64));
        assert_ne!(h(1), h(2));
        assert_ne!(IdHashBuilder::new(8).hash_one(1u128), h(1));
        let mut map = id_map::<u128, u32>(3);
        for i in 0..1000u128 {
            map.insert(i << 64 | i, 1);
        }
        assert_eq!(map.len(), 1000);
    }
}
