//! The standard base64 encoding (RFC 4648 §4, with padding), decoded strictly.
//!
//! Every format here (signed notes, verifier keys, checkpoints) uses it, and each decoded value is
//! signed or compared, so decoding accepts exactly one spelling per byte string: padding is
//! required, there is no whitespace, and the unused low bits of the last symbol must be zero.
//! A flipped bit in an encoded signature therefore never decodes to the same bytes.
//!
//! Our own codec rather than a dependency: it is 100 lines, and the pure crates take no
//! dependencies they can do without (docs/provenance.md, "Dependencies").

use std::fmt;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const PAD: u8 = b'=';

/// Why a base64 string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base64Error {
    /// The length is not a multiple of 4.
    Length,
    /// A byte that is not in the alphabet, or padding before the end, at this offset.
    Symbol { offset: usize },
    /// The unused low bits of the last symbol are not zero (a second spelling of the same bytes).
    NonCanonical,
}

impl fmt::Display for Base64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Base64Error::Length => write!(f, "base64 length is not a multiple of 4"),
            Base64Error::Symbol { offset } => write!(f, "invalid base64 symbol at offset {offset}"),
            Base64Error::NonCanonical => write!(f, "non-canonical base64 (unused bits set)"),
        }
    }
}

impl std::error::Error for Base64Error {}

/// Encodes `bytes` as standard base64 with padding.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b0 = chunk[0];
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let symbols = [
            b0 >> 2,
            (b0 & 0x03) << 4 | b1 >> 4,
            (b1 & 0x0f) << 2 | b2 >> 6,
            b2 & 0x3f,
        ];
        // A chunk of n bytes takes n + 1 symbols; the rest of the quantum is padding.
        for (position, symbol) in symbols.iter().enumerate() {
            if position <= chunk.len() {
                out.push(char::from(ALPHABET[usize::from(*symbol)]));
            } else {
                out.push(char::from(PAD));
            }
        }
    }
    out
}

fn symbol_value(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes standard base64 with padding, refusing every non-canonical spelling.
pub fn decode(text: &str) -> Result<Vec<u8>, Base64Error> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return Err(Base64Error::Length);
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let quantum_count = bytes.len() / 4;
    for (quantum_index, quantum) in bytes.chunks_exact(4).enumerate() {
        let last = quantum_index + 1 == quantum_count;
        // Padding may only end the last quantum, and at most its two last symbols.
        let pad_count = if last {
            quantum.iter().rev().take_while(|&&b| b == PAD).count()
        } else {
            0
        };
        if pad_count > 2 {
            return Err(Base64Error::Symbol {
                offset: quantum_index * 4 + 1,
            });
        }
        let mut values = [0u8; 4];
        for (position, &byte) in quantum[..4 - pad_count].iter().enumerate() {
            values[position] = symbol_value(byte).ok_or(Base64Error::Symbol {
                offset: quantum_index * 4 + position,
            })?;
        }
        let [v0, v1, v2, v3] = values;
        out.push(v0 << 2 | v1 >> 4);
        match pad_count {
            0 => {
                out.push(v1 << 4 | v2 >> 2);
                out.push(v2 << 6 | v3);
            }
            1 => {
                if v2 & 0x03 != 0 {
                    return Err(Base64Error::NonCanonical);
                }
                out.push(v1 << 4 | v2 >> 2);
            }
            _ => {
                if v1 & 0x0f != 0 {
                    return Err(Base64Error::NonCanonical);
                }
            }
        }
    }
    Ok(out)
}

/// Decodes base64 that must hold exactly `N` bytes.
pub(crate) fn decode_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    decode(text).ok()?.try_into().ok()
}
