//! Tests of `elevenfold credit`: exact parsing of yuan and percents, the local quote printout,
//! the command lines, and a round trip of every server subcommand against an in-process server,
//! exit codes included.

use std::process::ExitCode;

use clap::Parser;
use credit::math::Rate;
use serde_json::{Value, json};

use crate::client::{Client, ClientError, ServerArgs, rejections};
use crate::credit::{
    AuthorizeArgs, CaptureArgs, CreditArgs, CreditClient, CreditCommand, JsonArgs, JsonObjects,
    OpenLineArgs, QuoteArgs, RepayArgs, Rounding, parse_percent, parse_yuan,
};
use crate::tests::start_server;
use crate::{Cli, Command};

fn quote_args(amount: &str, periods: u32, total_rate: Option<&str>) -> QuoteArgs {
    QuoteArgs {
        amount: parse_yuan(amount).expect("yuan"),
        periods,
        total_rate: total_rate.map(|r| parse_percent(r).expect("percent")),
        monthly_rate: None,
        rounding: Rounding::HalfUp,
        json: false,
    }
}

// Goal: yuan parse exactly to fen and percents exactly to rate units, without floats; anything
// else is refused, never rounded.
#[test]
fn yuan_and_percents_parse_exactly() {
    for (text, fen) in [
        ("1000.00", 100_000),
        ("1000", 100_000),
        ("0.5", 50),
        ("0.01", 1),
        ("12.34", 1234),
        ("184467440737095516.15", u64::MAX),
    ] {
        assert_eq!(parse_yuan(text), Ok(fen), "{text}");
    }
    for bad in [
        "",
        "-1",
        "+1",
        "1e3",
        "1.001",
        ".5",
        "5.",
        "1,000",
        " 1",
        "1.2.3",
        "184467440737095516.16",
    ] {
        assert!(parse_yuan(bad).is_err(), "{bad:?}");
    }
    for (text, units) in [
        ("8.8%", 880_000_000),
        ("8.8", 880_000_000),
        ("0.5%", 50_000_000),
        ("0.05", 5_000_000),
        ("100%", 10_000_000_000),
        ("0.00000001%", 1),
        ("0.0000000100", 1),
    ] {
        assert_eq!(parse_percent(text), Ok(Rate(units)), "{text}");
    }
    for bad in ["", "%", "8.8%%", "-1%", "0.000000001", "1e2", "8,8"] {
        assert!(parse_percent(bad).is_err(), "{bad:?}");
    }
}

// Goal: the quote of the domain spec (1000.00 yuan, 12 periods, 8.8% in all) prints period by
// period: principal 83.33 × 11 then 83.37, fee 7.33 × 11 then 7.37, the totals, and the APR
// to two decimals (nominal 15.86%, effective 17.07%).
#[test]
fn quote_prints_the_schedule() {
    let text = quote_args("1000.00", 12, Some("8.8%"))
        .render()
        .expect("quoted");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 1 + 12 + 1 + 1, "{text}");
    assert_eq!(
        lines[0],
        "1000.00 yuan over 12 months, fee 8.80% of the amount in all"
    );
    let row = |line: &str| -> Vec<String> { line.split_whitespace().map(String::from).collect() };
    assert_eq!(row(lines[1]), ["period", "principal", "fee", "payment"]);
    for period in 1..=11 {
        assert_eq!(
            row(lines[1 + period]),
            [&period.to_string(), "83.33", "7.33", "90.66"],
            "{text}"
        );
    }
    assert_eq!(row(lines[13]), ["12", "83.37", "7.37", "90.74"]);
    assert_eq!(row(lines[14]), ["total", "1000.00", "88.00", "1088.00"]);
    assert_eq!(lines[15], "APR nominal 15.86%, effective 17.07%");

    // A monthly rate (Baitiao 0.5%/month over 3 months) and the JSON of the HTTP API's shape.
    let mut monthly = quote_args("1000", 3, None);
    monthly.monthly_rate = Some(parse_percent("0.5%").expect("percent"));
    monthly.json = true;
    let json: Value = serde_json::from_str(&monthly.render().expect("quoted")).expect("JSON");
    assert_eq!(json["principal"], "100000");
    assert_eq!(json["total_fee"], "1500");
    assert_eq!(json["schedule"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        json["schedule"][2],
        json!({"period": 3, "principal": "33334", "fee": "500", "payment": "33834"})
    );
    assert!(
        json["apr"]["nominal"]
            .as_str()
            .is_some_and(|a| a.starts_with("8.9")),
        "{json}"
    );

    // Periods that are not offered, and a zero amount, are refused with the reason.
    let error = quote_args("1000", 7, Some("8.8")).render().expect_err("7");
    assert!(error.contains("periods_not_offered"), "{error}");
    let error = quote_args("0", 12, Some("8.8")).render().expect_err("zero");
    assert!(error.contains("principal_must_not_be_zero"), "{error}");
}

// Goal: the documented command lines parse; a quote needs exactly one rate; `--json` takes an
// object or an array of objects and nothing else.
#[test]
fn credit_command_lines_parse() {
    let parse = |line: &[&str]| Cli::try_parse_from(line);
    let cli = parse(&[
        "elevenfold",
        "credit",
        "quote",
        "--amount",
        "1000.00",
        "--periods",
        "12",
        "--total-rate",
        "8.8%",
    ])
    .expect("parses");
    let Command::Credit(CreditArgs {
        command: CreditCommand::Quote(quote),
        ..
    }) = cli.command
    else {
        panic!("credit quote expected");
    };
    assert_eq!(quote.amount, 100_000);
    assert_eq!(quote.total_rate, Some(Rate(880_000_000)));
    for line in [
        &["elevenfold", "credit", "line", "1000"][..],
        &[
            "elevenfold",
            "credit",
            "raise-check",
            "1000",
            "--limit",
            "8000.00",
        ],
        &[
            "elevenfold",
            "credit",
            "business-date",
            "--addr",
            "127.0.0.1:9",
        ],
        &["elevenfold", "credit", "day-close"],
        &[
            "elevenfold",
            "credit",
            "day-close",
            "--date",
            "2026-11-24",
            "--chunk",
            "10",
        ],
        &[
            "elevenfold",
            "credit",
            "open-line",
            "--id",
            "1000",
            "--borrower-id",
            "7",
            "--program-id",
            "1",
            "--limit",
            "5000",
            "--birth-date",
            "1990-05-05",
            "--applicant",
            "student,guardian_confirmed",
        ],
        &[
            "elevenfold",
            "credit",
            "authorize",
            "--id",
            "2000",
            "--line-id",
            "1000",
            "--merchant-account-id",
            "201",
            "--amount",
            "1200.00",
            "--timeout",
            "60",
        ],
        &[
            "elevenfold",
            "credit",
            "capture",
            "--id",
            "2001",
            "--line-id",
            "1000",
            "--purchase-id",
            "2000",
        ],
        &[
            "elevenfold",
            "credit",
            "void",
            "--id",
            "2002",
            "--line-id",
            "1000",
            "--purchase-id",
            "2000",
        ],
        &[
            "elevenfold",
            "credit",
            "refund",
            "--id",
            "2003",
            "--line-id",
            "1000",
            "--purchase-id",
            "2000",
            "--amount",
            "1",
        ],
        &[
            "elevenfold",
            "credit",
            "repay",
            "--id",
            "2004",
            "--line-id",
            "1000",
            "--source-account-id",
            "202",
            "--amount",
            "0.01",
        ],
        &[
            "elevenfold",
            "credit",
            "command",
            "--json",
            r#"{"type": "set_limit", "line_id": "1000", "limit": "1"}"#,
        ],
        &[
            "elevenfold",
            "credit",
            "program",
            "--json",
            r#"[{"id": "1"}, {"id": "2"}]"#,
        ],
        &[
            "elevenfold",
            "bench",
            "credit",
            "--lines",
            "1000",
            "--authorizations",
            "10",
            "--mode",
            "state-machine",
            "--statement-percent",
            "10",
            "--json",
        ],
    ] {
        parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    }
    let quote = |rates: &[&str]| {
        let mut line = vec![
            "elevenfold",
            "credit",
            "quote",
            "--amount",
            "1",
            "--periods",
            "3",
        ];
        line.extend_from_slice(rates);
        parse(&line)
    };
    assert!(quote(&[]).is_err(), "a rate is required");
    assert!(quote(&["--total-rate", "1", "--monthly-rate", "1"]).is_err());
    assert!(quote(&["--monthly-rate", "0.5%"]).is_ok());
    assert!(
        quote(&["--total-rate", "1.234567891%"]).is_err(),
        "not exact"
    );
    for bad in ["1000.001", "-5", "1e3"] {
        assert!(
            parse(&[
                "elevenfold",
                "credit",
                "quote",
                "--amount",
                bad,
                "--periods",
                "3",
                "--total-rate",
                "1"
            ])
            .is_err(),
            "{bad}"
        );
    }
    for bad in ["[]", "[1]", "\"x\"", "{", "3"] {
        assert!(
            parse(&["elevenfold", "credit", "command", "--json", bad]).is_err(),
            "{bad}"
        );
    }
    assert!(parse(&["elevenfold", "credit", "day-close", "--date", "2026-02-30"]).is_err());
}

fn program() -> Value {
    json!({
        "id": "1",
        "ledger": 1,
        "code": 10,
        "interest_account_id": "101",
        "fee_account_id": "102",
        "penalty_account_id": "103",
        "loss_account_id": "104",
        "recovery_account_id": "105",
        "start_date": "2026-11-10",
        "statement_day": 10,
        "due_day": 20,
        "min_payment_rate": "10",
        "interest_daily_rate": "0.05",
        "penalty_daily_rate": "0.05",
        "apr_cap": "24",
        "max_borrower_limit": "10000000",
        "min_age": 18
    })
}

fn credit_args(addr: &str, command: CreditCommand) -> CreditArgs {
    CreditArgs {
        server: ServerArgs {
            addr: addr.to_string(),
        },
        command,
    }
}

/// Runs a subcommand as `main` would (on a thread of its own: it starts its own runtime).
async fn exit_code(addr: &str, command: CreditCommand) -> ExitCode {
    let args = credit_args(addr, command);
    tokio::task::spawn_blocking(move || crate::credit::run(args))
        .await
        .expect("no panic")
        .expect("no operational error")
}

// Goal: every server subcommand against a real server: a program, a line, a purchase
// authorized and captured, the line view by exact figures (fen), a raise check, a repayment
// through the generic `command --json`, the day-close of the server's business date, and the
// exit codes: 0 for ok, 1 for a refused command or a problem, 2 when nothing listens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credit_round_trip_against_a_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (addr, stop, task) = start_server(dir.path()).await;
    let ledger = Client::new(&addr).expect("client");
    let accounts: Vec<Value> = [101u128, 102, 103, 104, 105, 201, 202]
        .iter()
        .map(|id| json!({"id": id.to_string(), "ledger": 1, "code": 1}))
        .collect();
    let created = ledger.create_accounts(accounts).await.expect("created");
    assert!(rejections(&created).is_empty(), "{created}");

    let client = CreditClient::new(&addr).expect("client");
    let date = client.business_date().await.expect("answered");
    assert_eq!(date["business_date"], Value::Null);
    let programs = client
        .create_programs(vec![program()])
        .await
        .expect("answered");
    assert_eq!(programs, json!({"results": ["ok"]}));

    let open = OpenLineArgs {
        id: 1000,
        borrower_id: 7,
        program_id: 1,
        limit: parse_yuan("5000").expect("yuan"),
        annual_income: 0,
        birth_date: "1990-05-05".parse().expect("date"),
        statement_day: 0,
        due_day: 0,
        applicant: Vec::new(),
    };
    let authorize = AuthorizeArgs {
        id: 2000,
        line_id: 1000,
        merchant_account_id: 201,
        amount: parse_yuan("1200.00").expect("yuan"),
        timeout: 0,
    };
    let capture = CaptureArgs {
        id: 2001,
        line_id: 1000,
        purchase_id: 2000,
        amount: parse_yuan("1000").expect("yuan"),
    };
    let answer = client
        .commands(vec![open.to_json(), authorize.to_json(), capture.to_json()])
        .await
        .expect("answered");
    assert_eq!(answer, json!({"results": ["ok", "ok", "ok"]}));

    let line = client.line(1000).await.expect("found");
    assert_eq!(line["limit"], "500000");
    assert_eq!(line["held"], "0", "the capture released the rest");
    assert_eq!(line["unbilled"], "100000");
    assert_eq!(line["available"], "400000");
    let check = client.raise_check(1000, 600_000).await.expect("answered");
    assert_eq!(check, json!({"result": "ok"}));

    // The generic pass-through: a repayment as JSON (fen), then a refused one.
    let repay = r#"{"type": "repay", "id": "2002", "line_id": "1000",
        "source_account_id": "202", "amount": "30000"}"#;
    let Ok(Command::Credit(CreditArgs {
        command: CreditCommand::Command(JsonArgs { json: commands }),
        ..
    })) = Cli::try_parse_from(["elevenfold", "credit", "command", "--json", repay])
        .map(|c| c.command)
    else {
        panic!("credit command expected");
    };
    assert_eq!(
        exit_code(&addr, CreditCommand::Command(JsonArgs { json: commands })).await,
        ExitCode::SUCCESS
    );
    let line = client.line(1000).await.expect("found");
    assert_eq!(line["unbilled"], "70000");
    let overdraw = AuthorizeArgs {
        id: 2003,
        amount: parse_yuan("4300.01").expect("yuan"),
        ..authorize
    };
    let answer = client
        .commands(vec![overdraw.to_json()])
        .await
        .expect("answered");
    assert_eq!(
        rejections(&answer),
        [(0, "insufficient_credit".to_string())]
    );
    let again = AuthorizeArgs {
        id: 2004,
        ..overdraw
    };
    assert_eq!(
        exit_code(&addr, CreditCommand::Authorize(again)).await,
        ExitCode::from(1)
    );

    // Day-close of the server's business date (none given), then of a date already closed.
    let closed = client.day_close(None, Some(1)).await.expect("answered");
    assert_eq!(closed["result"], "ok", "{closed}");
    assert_eq!(closed["business_date"], "2026-11-11");
    assert_eq!(closed["chunks"], 1);
    let date = client.business_date().await.expect("answered");
    assert_eq!(date["business_date"], "2026-11-11");
    let future = CreditCommand::DayClose(crate::credit::DayCloseArgs {
        date: Some("2026-12-01".parse().expect("date")),
        chunk: None,
    });
    assert_eq!(
        exit_code(&addr, future).await,
        ExitCode::from(1),
        "not the business date"
    );
    let line = client.line(1000).await.expect("found");
    assert_eq!(
        line["statement"]["balance"], "70000",
        "billed on the 10th: {line}"
    );

    // A missing line is a problem (404), exit 1.
    match client.line(999).await {
        Err(ClientError::Problem { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (404, "line_not_found"));
        }
        other => panic!("expected a problem, got {other:?}"),
    }
    assert_eq!(
        exit_code(&addr, CreditCommand::Line { id: 999 }).await,
        ExitCode::from(1)
    );
    assert_eq!(
        exit_code(&addr, CreditCommand::Line { id: 1000 }).await,
        ExitCode::SUCCESS
    );
    let repay = RepayArgs {
        id: 2005,
        line_id: 1000,
        source_account_id: 202,
        amount: parse_yuan("700").expect("yuan"),
    };
    assert_eq!(
        exit_code(&addr, CreditCommand::Repay(repay)).await,
        ExitCode::SUCCESS
    );
    let program = CreditCommand::Program(JsonArgs {
        json: JsonObjects(vec![program()]),
    });
    assert_eq!(
        exit_code(&addr, program).await,
        ExitCode::SUCCESS,
        "exists is success"
    );

    let _ = stop.send(());
    task.await.expect("no panic").expect("clean shutdown");
    assert_eq!(
        exit_code(&addr, CreditCommand::BusinessDate).await,
        ExitCode::from(2),
        "nothing listens"
    );
}
