//! Product identifiers: the one spelling a product is indexed and looked up under.
//!
//! A serialised trade item has two common spellings in EPCIS 2.0: the EPC URN
//! `urn:epc:id:sgtin:0614141.107346.2017` and the GS1 Digital Link URI a consumer's QR code
//! carries, `https://id.gs1.org/01/10614141073464/21/2017`. Both name GTIN `10614141073464`
//! and serial `2017`, so both normalise to the element-string path `01/10614141073464/21/2017`
//! (GS1 Tag Data Standard 2.0 §6.3.1 for the URN, GS1 Digital Link 1.2 for the URI): the
//! indicator digit (first digit of the item reference) leads, the company prefix and the rest
//! of the item reference follow, and the GS1 mod-10 check digit ends the GTIN-14. A batch/lot
//! class (`urn:epc:class:lgtin:…`, Digital Link `/01/…/10/…`) becomes `01/<gtin>/10/<lot>`, a
//! GTIN pattern (`urn:epc:idpat:sgtin:CP.IR.*`) becomes `01/<gtin>`. Percent-escapes in serials
//! and lots are decoded. Every other identifier (SSCC, SGLN, GRAI, private URIs) is kept as
//! written: lookups must then spell it the same way.

/// The normalised form of an identifier (see the module documentation).
pub fn normalize(identifier: &str) -> String {
    normalize_epc_urn(identifier)
        .or_else(|| normalize_digital_link(identifier))
        .unwrap_or_else(|| identifier.to_string())
}

/// The normalised key of GTIN `gtin` (8, 12, 13 or 14 digits, check digit included) and
/// serial `serial`, or `None` if the GTIN is not valid.
pub fn gtin_serial_key(gtin: &str, serial: &str) -> Option<String> {
    let gtin = gtin14(gtin)?;
    (!serial.is_empty()).then(|| format!("01/{gtin}/21/{}", percent_decode(serial)))
}

/// The GS1 mod-10 check digit of `digits` (all ASCII digits, check digit excluded).
pub fn check_digit(digits: &str) -> u8 {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(position, b)| u32::from(b - b'0') * if position % 2 == 0 { 3 } else { 1 })
        .sum();
    u8::try_from((10 - sum % 10) % 10).expect("a digit")
}

fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// A GTIN of 8, 12, 13 or 14 digits with a valid check digit, as 14 digits.
fn gtin14(gtin: &str) -> Option<String> {
    if !all_digits(gtin) || ![8, 12, 13, 14].contains(&gtin.len()) {
        return None;
    }
    let padded = format!("{gtin:0>14}");
    let (body, check) = padded.split_at(13);
    (check.as_bytes()[0] - b'0' == check_digit(body)).then_some(padded)
}

/// GTIN-14 from an EPC's company prefix and item reference (13 digits together).
fn gtin_from_epc(company_prefix: &str, item_reference: &str) -> Option<String> {
    if !all_digits(company_prefix)
        || !all_digits(item_reference)
        || company_prefix.len() + item_reference.len() != 13
    {
        return None;
    }
    let (indicator, rest) = item_reference.split_at(1);
    let body = format!("{indicator}{company_prefix}{rest}");
    let check = check_digit(&body);
    Some(format!("{body}{check}"))
}

fn normalize_epc_urn(identifier: &str) -> Option<String> {
    if let Some(rest) = identifier.strip_prefix("urn:epc:id:sgtin:") {
        let mut parts = rest.splitn(3, '.');
        let (cp, ir, serial) = (parts.next()?, parts.next()?, parts.next()?);
        let gtin = gtin_from_epc(cp, ir)?;
        return (!serial.is_empty()).then(|| format!("01/{gtin}/21/{}", percent_decode(serial)));
    }
    if let Some(rest) = identifier.strip_prefix("urn:epc:class:lgtin:") {
        let mut parts = rest.splitn(3, '.');
        let (cp, ir, lot) = (parts.next()?, parts.next()?, parts.next()?);
        let gtin = gtin_from_epc(cp, ir)?;
        return (!lot.is_empty()).then(|| format!("01/{gtin}/10/{}", percent_decode(lot)));
    }
    if let Some(rest) = identifier.strip_prefix("urn:epc:idpat:sgtin:") {
        let mut parts = rest.splitn(3, '.');
        let (cp, ir, star) = (parts.next()?, parts.next()?, parts.next()?);
        return (star == "*").then(|| gtin_from_epc(cp, ir).map(|gtin| format!("01/{gtin}")))?;
    }
    None
}

fn normalize_digital_link(identifier: &str) -> Option<String> {
    let rest = identifier
        .strip_prefix("https://")
        .or_else(|| identifier.strip_prefix("http://"))?;
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let (_host, path) = rest.split_once('/')?;
    let segments: Vec<&str> = path.split('/').collect();
    let start = segments.iter().position(|s| *s == "01")?;
    let gtin = gtin14(segments.get(start + 1)?)?;
    let qualifiers = &segments[start + 2..];
    if !qualifiers.len().is_multiple_of(2) {
        return None;
    }
    let mut lot = None;
    let mut serial = None;
    for pair in qualifiers.chunks_exact(2) {
        match pair[0] {
            "10" if !pair[1].is_empty() => lot = Some(percent_decode(pair[1])),
            "21" if !pair[1].is_empty() => serial = Some(percent_decode(pair[1])),
            // Other key qualifiers (22 consumer product variant) are not part of the key.
            "22" => {}
            _ => return None,
        }
    }
    Some(match (serial, lot) {
        (Some(serial), _) => format!("01/{gtin}/21/{serial}"),
        (None, Some(lot)) => format!("01/{gtin}/10/{lot}"),
        (None, None) => format!("01/{gtin}"),
    })
}

/// Decodes `%XX` escapes; text with a malformed escape, or decoding to invalid UTF-8, is kept
/// as written.
fn percent_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut position = 0;
    while position < bytes.len() {
        if bytes[position] == b'%' {
            let hex = text
                .get(position + 1..position + 3)
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
            let Some(value) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) else {
                return text.to_string();
            };
            out.push(value);
            position += 3;
        } else {
            out.push(bytes[position]);
            position += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}
