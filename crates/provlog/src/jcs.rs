//! RFC 8785 JSON Canonicalization Scheme (JCS): the one byte string an EPCIS event hashes to.
//!
//! [`Json`] is parsed with serde_json but through our own visitor, which refuses what I-JSON
//! (RFC 7493, which JCS requires of its input) forbids and serde_json would accept: duplicate
//! member names (serde_json keeps the last one silently, so two different events could share a
//! hash). Lone surrogates are refused by serde_json itself. Numbers are IEEE 754 doubles, as in
//! JCS; decimals are parsed correctly rounded (the `float_roundtrip` feature).
//!
//! [`canonicalize`] writes: no whitespace; members sorted by their names' UTF-16 code units
//! (RFC 8785 §3.2.3); strings with only `"`, `\` and the controls below U+0020 escaped, as
//! `\b \t \n \f \r` or `\u00xx` with lowercase hex, everything else as UTF-8 (§3.2.2.2);
//! numbers as ECMAScript's `Number.prototype.toString` (§3.2.2.3): the shortest digits that
//! round-trip, in plain notation for decimal exponents from -6 to 21, else `d.ddde±x`; `-0` as
//! `0`. Tests reproduce the RFC's §3.2.3/§3.2.4 example and every finite Appendix B number.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value as JCS sees it: object members keep their input order (and are unique);
/// [`canonicalize`] sorts them.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The member `name` of an object.
    pub fn get(&self, name: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(text) => Some(text),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The name of the JSON type, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

/// Parses I-JSON text (duplicate member names refused).
pub fn parse(bytes: &[u8]) -> Result<Json, serde_json::Error> {
    serde_json::from_slice(bytes)
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, value: bool) -> Result<Json, E> {
        Ok(Json::Bool(value))
    }

    // Integers convert to the nearest double, exactly as parsing their decimal text would
    // (the conversion rounds to nearest, ties to even).
    #[expect(
        clippy::cast_precision_loss,
        reason = "JCS numbers are doubles: rounding is the spec"
    )]
    fn visit_u64<E>(self, value: u64) -> Result<Json, E> {
        Ok(Json::Number(value as f64))
    }

    #[expect(
        clippy::cast_precision_loss,
        reason = "JCS numbers are doubles: rounding is the spec"
    )]
    fn visit_i64<E>(self, value: i64) -> Result<Json, E> {
        Ok(Json::Number(value as f64))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Json, E> {
        if value.is_finite() {
            Ok(Json::Number(value))
        } else {
            Err(E::custom("number out of the range of a double (I-JSON)"))
        }
    }

    fn visit_str<E>(self, value: &str) -> Result<Json, E> {
        Ok(Json::String(value.to_string()))
    }

    fn visit_string<E>(self, value: String) -> Result<Json, E> {
        Ok(Json::String(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members: Vec<(String, Json)> = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.iter().any(|(n, _)| *n == name) {
                return Err(de::Error::custom(format!(
                    "duplicate member name {name:?} (I-JSON, RFC 7493 §2.3)"
                )));
            }
            let value = map.next_value()?;
            members.push((name, value));
        }
        Ok(Json::Object(members))
    }
}

/// The RFC 8785 canonical form of `value`, as UTF-8 bytes.
pub fn canonicalize(value: &Json) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Json, out: &mut Vec<u8>) {
    match value {
        Json::Null => out.extend_from_slice(b"null"),
        Json::Bool(true) => out.extend_from_slice(b"true"),
        Json::Bool(false) => out.extend_from_slice(b"false"),
        Json::Number(number) => out.extend_from_slice(format_number(*number).as_bytes()),
        Json::String(text) => write_string(text, out),
        Json::Array(items) => {
            out.push(b'[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Json::Object(members) => {
            let mut sorted: Vec<&(String, Json)> = members.iter().collect();
            sorted.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            out.push(b'{');
            for (position, (name, value)) in sorted.into_iter().enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                write_string(name, out);
                out.push(b':');
                write_value(value, out);
            }
            out.push(b'}');
        }
    }
}

fn write_string(text: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &byte in text.as_bytes() {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x09 => out.extend_from_slice(b"\\t"),
            0x0a => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x0d => out.extend_from_slice(b"\\r"),
            0x00..=0x1f => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(byte >> 4)]);
                out.push(HEX[usize::from(byte & 0x0f)]);
            }
            // Multi-byte UTF-8 sequences pass through byte by byte: none of their bytes is
            // below 0x80.
            _ => out.push(byte),
        }
    }
    out.push(b'"');
}

/// ECMAScript `Number.prototype.toString` of a finite double (ECMA-262 §6.1.6.1.20), which
/// JCS prescribes for numbers.
pub fn format_number(number: f64) -> String {
    assert!(number.is_finite(), "JSON numbers are finite");
    if number == 0.0 {
        return "0".to_string();
    }
    // Rust's `{:e}` prints the shortest digits that round-trip (as ECMAScript requires), as
    // `d[.ddd]e<exp>`. Among strings of that length ECMAScript wants the one closest to the
    // value, the even one on a tie; `{:e}` may round a tie up, while `{:.Ne}` rounds the exact
    // value half to even: take it whenever it round-trips (Appendix B, "Round to even").
    let shortest = format!("{:e}", number.abs());
    let significant = shortest
        .split_once('e')
        .map_or(1, |(m, _)| m.chars().filter(char::is_ascii_digit).count());
    let rounded = format!("{:.*e}", significant - 1, number.abs());
    let scientific = if rounded.parse::<f64>().ok() == Some(number.abs()) {
        rounded
    } else {
        shortest
    };
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("`{:e}` always has an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exponent: i32 = exponent.parse().expect("`{:e}` exponents are decimal");
    // ECMAScript's n: the value is 0.digits × 10^n.
    let k = i32::try_from(digits.len()).expect("at most 17 significant digits");
    let n = exponent + 1;
    let mut out = String::new();
    if number < 0.0 {
        out.push('-');
    }
    let k_usize = digits.len();
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n(
            '0',
            usize::try_from(n - k).expect("n >= k"),
        ));
    } else if 0 < n && n <= 21 {
        let split = usize::try_from(n).expect("n > 0");
        out.push_str(&digits[..split]);
        out.push('.');
        out.push_str(&digits[split..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n(
            '0',
            usize::try_from(-n).expect("n <= 0"),
        ));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k_usize > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if n > 0 { '+' } else { '-' });
        out.push_str(&(n - 1).abs().to_string());
    }
    out
}
