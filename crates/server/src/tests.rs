//! Unit tests of the wire format, the problem mapping and the cursor; the HTTP behaviour is
//! tested end to end in `tests/it`.

use ledger::{CreateAccountResult, CreateTransferResult, SetLimitResult, TransferFlags};

use crate::paging::{Window, decode_cursor, encode_cursor};
use crate::problem::{ProblemCode, parse_json};
use crate::wire::{CreateTransfersRequest, Dec128, parse_decimal, results_body};

// Goal: the decimal parser accepts exactly the digit strings of 0..=u128::MAX.
#[test]
fn decimal_parsing_is_exact() {
    assert_eq!(parse_decimal("0"), Some(0));
    assert_eq!(parse_decimal("007"), Some(7));
    assert_eq!(
        parse_decimal("1234567890123456789"),
        Some(1_234_567_890_123_456_789)
    );
    assert_eq!(
        parse_decimal("12345678901234567890"),
        Some(12_345_678_901_234_567_890)
    );
    assert_eq!(parse_decimal(&u128::MAX.to_string()), Some(u128::MAX));
    assert_eq!(
        parse_decimal("340282366920938463463374607431768211456"),
        None
    );
    for bad in ["", "+1", "-1", " 1", "1 ", "1.0", "1e3", "0x10", "١"] {
        assert_eq!(parse_decimal(bad), None, "{bad:?}");
    }
    // Every power of ten and its neighbours round-trip through the two-stage parser.
    let mut value: u128 = 1;
    while let Some(next) = value.checked_mul(10) {
        for probe in [value - 1, value, value + 1] {
            assert_eq!(parse_decimal(&probe.to_string()), Some(probe));
        }
        value = next;
    }
}

// Goal: decimal strings serialize and parse back, and strings with escapes (not borrowable)
// still parse.
#[test]
fn decimal_round_trips_through_json() {
    let text = serde_json::to_string(&Dec128(u128::MAX)).expect("serializes");
    assert_eq!(text, format!("\"{}\"", u128::MAX));
    let back: Dec128 = serde_json::from_str(&text).expect("parses");
    assert_eq!(back, Dec128(u128::MAX));
    let escaped: Dec128 = serde_json::from_str("\"\\u0031\"").expect("parses");
    assert_eq!(escaped, Dec128(1));
}

// Goal: result names are safe to write into JSON without escaping, and the body is valid JSON.
#[test]
fn results_body_is_valid_json() {
    let names = CreateAccountResult::ALL
        .iter()
        .map(|r| r.name())
        .chain(CreateTransferResult::ALL.iter().map(|r| r.name()))
        .chain(SetLimitResult::ALL.iter().map(|r| r.name()));
    for name in names.clone() {
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{name}"
        );
    }
    let all: Vec<&str> = names.collect();
    let body = results_body(all.iter().copied());
    let parsed: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
    assert_eq!(parsed["results"].as_array().map(Vec::len), Some(all.len()));
    assert_eq!(results_body(std::iter::empty()), b"{\"results\":[]}");
}

// Goal: a transfer parses with defaults and flags; each class of bad value maps to its problem
// code with a JSON pointer to the value.
#[test]
fn parse_errors_map_to_codes_and_pointers() {
    let body = br#"{"transfers":[{"id":"5","amount":"10","flags":["pending","linked"]}]}"#;
    let request: CreateTransfersRequest = parse_json(body).expect("valid");
    let transfer = request
        .transfers
        .into_iter()
        .next()
        .expect("one")
        .into_transfer();
    assert_eq!((transfer.id, transfer.amount, transfer.ledger), (5, 10, 0));
    assert_eq!(
        transfer.flags.0,
        TransferFlags::PENDING | TransferFlags::LINKED
    );

    let cases: &[(&[u8], ProblemCode, Option<&str>)] = &[
        (b"{", ProblemCode::MalformedJson, None),
        (b"", ProblemCode::MalformedJson, None),
        (br#"{"transfers":[]} x"#, ProblemCode::MalformedJson, None),
        (br#"{}"#, ProblemCode::MissingField, None),
        (
            br#"{"transfers":[{"nope":1}]}"#,
            ProblemCode::UnknownField,
            Some("/transfers/0/nope"),
        ),
        (
            br#"{"transfers":[],"x":1}"#,
            ProblemCode::UnknownField,
            Some("/x"),
        ),
        (
            br#"{"transfers":[{"id":1}]}"#,
            ProblemCode::InvalidValue,
            Some("/transfers/0/id"),
        ),
        (
            br#"{"transfers":[{},{"amount":"340282366920938463463374607431768211456"}]}"#,
            ProblemCode::InvalidValue,
            Some("/transfers/1/amount"),
        ),
        (
            br#"{"transfers":[{"ledger":-1}]}"#,
            ProblemCode::InvalidValue,
            Some("/transfers/0/ledger"),
        ),
        (
            br#"{"transfers":[{"flags":["pending","bogus"]}]}"#,
            ProblemCode::InvalidValue,
            Some("/transfers/0/flags/1"),
        ),
        (
            br#"{"transfers":{}}"#,
            ProblemCode::InvalidValue,
            Some("/transfers"),
        ),
    ];
    for (body, code, pointer) in cases {
        let problem = parse_json::<CreateTransfersRequest>(body)
            .err()
            .expect("rejected");
        assert_eq!(
            problem.code,
            *code,
            "{}: {}",
            String::from_utf8_lossy(body),
            problem.detail
        );
        if let Some(pointer) = pointer {
            assert_eq!(
                problem.pointer.as_deref(),
                Some(*pointer),
                "{}",
                problem.detail
            );
        }
    }
}

// Goal: cursors round-trip every window and reject anything this server would not issue.
#[test]
fn cursor_round_trips_and_rejects_garbage() {
    for window in [
        Window::default(),
        Window {
            timestamp_min: 1,
            timestamp_max: u64::MAX,
            debits: true,
            credits: false,
            reversed: true,
        },
        Window {
            timestamp_min: u64::MAX,
            timestamp_max: 0,
            debits: true,
            credits: true,
            reversed: false,
        },
    ] {
        assert_eq!(decode_cursor(&encode_cursor(&window)), Some(window));
    }
    let good = encode_cursor(&Window::default());
    let upper = good.to_uppercase();
    let truncated = &good[..good.len() - 1];
    let bad_flags = format!("c108{}", &good[4..]);
    let plus = format!("c1+0{}", &good[4..]);
    for bad in [
        "",
        "c1",
        "x",
        truncated,
        upper.as_str(),
        bad_flags.as_str(),
        plus.as_str(),
    ] {
        assert_eq!(decode_cursor(bad), None, "{bad:?}");
    }
}

// Goal: every problem code has a distinct snake_case name and an error status.
#[test]
fn problem_codes_are_distinct() {
    let mut names: Vec<&str> = ProblemCode::ALL.iter().map(|c| c.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), ProblemCode::ALL.len());
    for code in ProblemCode::ALL {
        assert!(code.status().is_client_error() || code.status().is_server_error());
    }
}
