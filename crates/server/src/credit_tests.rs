//! Unit tests of the credit wire format: percent rates parsed and printed exactly, commands
//! decoded by `type` with names for enums and applicant flags.

use credit::math::Rate;
use credit::{APPLICANT_GUARDIAN_CONFIRMED, APPLICANT_STUDENT, Command, Date, StatusChange};

use crate::credit_wire::{CreditCommandsRequest, format_percent, parse_percent};
use crate::problem::{ProblemCode, parse_json};

// Goal: percents parse exactly into rate units (1% = 10^8), up to 10 decimals of which only 8
// may be non-zero; anything else is refused, never rounded.
#[test]
fn percents_parse_exactly() {
    let cases = [
        ("0", 0),
        ("1", 100_000_000),
        ("0.05", 5_000_000),
        ("8.8", 880_000_000),
        ("100", 10_000_000_000),
        ("0.00000001", 1),
        ("0.0000000100", 1),
        ("184467440737.09551615", u64::MAX),
    ];
    for (text, units) in cases {
        assert_eq!(parse_percent(text), Ok(Rate(units)), "{text}");
    }
    for bad in [
        "",
        ".5",
        "5.",
        "-1",
        "+1",
        "1e2",
        "0.000000001",
        "0.00000000001",
        "1.2.3",
        " 1",
        "184467440737.09551616",
        "99999999999999999999",
    ] {
        assert!(parse_percent(bad).is_err(), "{bad:?}");
    }
}

// Goal: percents print with at least two decimals and round-trip exactly.
#[test]
fn percents_format_exactly() {
    assert_eq!(format_percent(Rate(0)), "0.00");
    assert_eq!(format_percent(Rate(880_000_000)), "8.80");
    assert_eq!(format_percent(Rate(1_597_123_456)), "15.97123456");
    assert_eq!(format_percent(Rate(1)), "0.00000001");
    assert_eq!(format_percent(Rate(u64::MAX)), "184467440737.09551615");
    for units in [0, 1, 10, 123_456_789, 5_000_000, u64::MAX] {
        assert_eq!(parse_percent(&format_percent(Rate(units))), Ok(Rate(units)));
    }
}

// Goal: every command type decodes by name, with flags and enums by name and omitted fields
// zero; an unknown type or field is refused with a pointer.
#[test]
fn commands_decode_by_type() {
    let body = br#"{"commands":[
        {"type":"open_line","id":"1","borrower_id":"2","program_id":"3","limit":"100",
         "birth_date":"2000-01-31","applicant":["student","guardian_confirmed"]},
        {"type":"set_limit","line_id":"1","limit":"200"},
        {"type":"set_temporary_limit","line_id":"1","amount":"5","from":"2026-01-01","to":"2026-01-31"},
        {"type":"set_status","line_id":"1","change":"close"},
        {"type":"authorize","id":"9","line_id":"1","merchant_account_id":"4","amount":"7","timeout":60},
        {"type":"capture","id":"10","line_id":"1","purchase_id":"9"},
        {"type":"void","id":"11","line_id":"1","purchase_id":"9"},
        {"type":"refund","id":"12","line_id":"1","purchase_id":"9","amount":"1"},
        {"type":"repay","id":"13","line_id":"1","source_account_id":"5","amount":"2"},
        {"type":"day_close","date":"2026-11-11","max_lines":10}
    ]}"#;
    let request: CreditCommandsRequest = parse_json(body).expect("valid");
    let commands: Vec<Command> = request
        .commands
        .into_iter()
        .map(|c| c.into_command())
        .collect();
    let names: Vec<&str> = commands.iter().map(Command::name).collect();
    assert_eq!(
        names,
        [
            "open_line",
            "set_limit",
            "set_temporary_limit",
            "set_status",
            "authorize",
            "capture",
            "void",
            "refund",
            "repay",
            "day_close"
        ]
    );
    assert_eq!(
        commands[0],
        Command::OpenLine {
            id: 1,
            borrower_id: 2,
            program_id: 3,
            limit: 100,
            annual_income: 0,
            birth_date: Date::from_ymd(2000, 1, 31).expect("a date"),
            statement_day: 0,
            due_day: 0,
            applicant: APPLICANT_STUDENT | APPLICANT_GUARDIAN_CONFIRMED,
        }
    );
    assert_eq!(
        commands[3],
        Command::SetStatus {
            line_id: 1,
            change: StatusChange::Close
        }
    );
    assert_eq!(
        commands[5],
        Command::Capture {
            id: 10,
            line_id: 1,
            purchase_id: 9,
            amount: 0
        }
    );

    let cases: &[(&[u8], ProblemCode)] = &[
        (
            br#"{"commands":[{"type":"nope"}]}"#,
            ProblemCode::InvalidValue,
        ),
        (br#"{"commands":[{"id":"1"}]}"#, ProblemCode::MissingField),
        (
            br#"{"commands":[{"type":"void","extra":1}]}"#,
            ProblemCode::UnknownField,
        ),
        (
            br#"{"commands":[{"type":"set_status","line_id":"1","change":"melt"}]}"#,
            ProblemCode::InvalidValue,
        ),
        (
            br#"{"commands":[{"type":"day_close","date":"2026-13-01"}]}"#,
            ProblemCode::InvalidValue,
        ),
    ];
    for (body, code) in cases {
        let problem = parse_json::<CreditCommandsRequest>(body)
            .err()
            .expect("rejected");
        assert_eq!(
            problem.code,
            *code,
            "{}: {}",
            String::from_utf8_lossy(body),
            problem.detail
        );
    }
}
