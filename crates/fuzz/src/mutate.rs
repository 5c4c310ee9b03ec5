//! Byte-level mutations, the same for every target: bit flips, interesting values, insertions,
//! deletions, duplications, splices with another corpus entry, truncation.
//!
//! Targets add structure-aware steps of their own (resealing checksums, editing JSON values,
//! editing one file of a data directory) and call [`mutate_bytes`] for the rest.

use crate::prng::Prng;

/// Inputs never grow past this, so a run cannot spend its time on giant allocations.
pub const INPUT_SIZE_MAX: usize = 2 * 1024 * 1024;

/// Values that sit on boundaries: zero, one, the extremes of each width, and the sizes of this
/// project's records and limits.
const INTERESTING_U32: &[u32] = &[
    0,
    1,
    2,
    7,
    8,
    15,
    16,
    28,
    31,
    32,
    63,
    64,
    127,
    128,
    255,
    256,
    4095,
    4096,
    8189,
    8190,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x1_0000,
    1_048_576,
    1_048_577,
    0x7FFF_FFFF,
    0x8000_0000,
    u32::MAX - 1,
    u32::MAX,
];

const INTERESTING_U64: &[u64] = &[
    0,
    1,
    u64::MAX,
    u64::MAX - 1,
    i64::MAX as u64,
    1 << 32,
    (1 << 32) - 1,
    64 * 1024 * 1024,
];

/// Applies one to four random byte-level mutations; `others` are splice partners.
pub fn mutate_bytes(prng: &mut Prng, data: &mut Vec<u8>, others: &[Vec<u8>]) {
    let count = 1 + prng.below(4);
    for _ in 0..count {
        mutate_once(prng, data, others);
    }
    data.truncate(INPUT_SIZE_MAX);
}

fn mutate_once(prng: &mut Prng, data: &mut Vec<u8>, others: &[Vec<u8>]) {
    if data.is_empty() {
        let n = 1 + prng.below(16);
        data.extend((0..n).map(|_| prng.byte()));
        return;
    }
    let len = data.len();
    let at = prng.below(len);
    match prng.below(13) {
        0 | 1 => data[at] ^= 1 << prng.below(8),
        2 => data[at] = prng.byte(),
        3 => data[at] = *prng.pick(&[0u8, 1, 0x7F, 0x80, 0xFF, b'0', b'"', b'-']),
        4 => put(data, at, &prng.pick(INTERESTING_U32).to_le_bytes()),
        5 => put(data, at, &prng.pick(INTERESTING_U64).to_le_bytes()),
        6 => {
            // Add or subtract a little: off-by-one lengths and counts.
            let delta = 1 + prng.byte() % 16;
            data[at] = if prng.one_in(2) {
                data[at].wrapping_add(delta)
            } else {
                data[at].wrapping_sub(delta)
            };
        }
        7 => {
            let n = 1 + prng.below(32.min(len - at));
            data.drain(at..at + n);
        }
        8 => {
            let n = 1 + prng.below(32);
            let fill: Vec<u8> = if prng.one_in(2) {
                vec![prng.byte(); n]
            } else {
                (0..n).map(|_| prng.byte()).collect()
            };
            data.splice(at..at, fill);
        }
        9 => {
            // Duplicate a chunk in place (repeated records, repeated keys).
            let n = 1 + prng.below(256.min(len - at));
            let chunk = data[at..at + n].to_vec();
            let to = prng.below(len + 1);
            data.splice(to..to, chunk);
        }
        10 => {
            // Copy a chunk over another place.
            let n = 1 + prng.below(64.min(len - at));
            let chunk = data[at..at + n].to_vec();
            let to = prng.below(len);
            put(data, to, &chunk);
        }
        11 => {
            if let Some(other) = (!others.is_empty()).then(|| prng.pick(others))
                && !other.is_empty()
            {
                let from = prng.below(other.len());
                let n = 1 + prng.below((other.len() - from).min(512));
                let chunk = other[from..from + n].to_vec();
                if prng.one_in(2) {
                    data.splice(at..at, chunk);
                } else {
                    data.truncate(at);
                    data.extend_from_slice(&chunk);
                }
            }
        }
        _ => data.truncate(at),
    }
}

/// Overwrites `data[at..]` with `bytes`, as far as it fits.
fn put(data: &mut [u8], at: usize, bytes: &[u8]) {
    let n = bytes.len().min(data.len() - at);
    data[at..at + n].copy_from_slice(&bytes[..n]);
}

/// A random interesting u32, for targets that set header fields.
pub fn interesting_u32(prng: &mut Prng) -> u32 {
    *prng.pick(INTERESTING_U32)
}
