//! End-to-end tests of the credit endpoints (`/v1/credit/...`): a program and lines over HTTP on
//! a temporary node, purchases and repayments checked by exact figures, the chunked day-close,
//! quotes, and the problems of bad input.

use serde_json::{Value, json};

use crate::TestServer;

const PROGRAM_ACCOUNTS: [u128; 5] = [101, 102, 103, 104, 105];
const MERCHANT: u128 = 201;
const BANK: u128 = 202;

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
        "start_date": "2026-11-01",
        "statement_day": 10,
        "due_day": 20,
        "min_payment_rate": "10",
        "min_payment_floor": "1000",
        "interest_daily_rate": "0.05",
        "penalty_daily_rate": "0.05",
        "penalty_min_per_day": "0",
        "write_off_days": 180,
        "apr_cap": "24",
        "max_borrower_limit": "10000000",
        "dti_cap_bps": 0,
        "min_age": 18,
        "student_policy": "require_guardian",
        "waterfall": ["penalty", "fee", "interest", "principal"],
        "rounding": "half_even"
    })
}

fn open_line(id: u128, borrower: u128, applicant: &[&str]) -> Value {
    json!({
        "type": "open_line",
        "id": id.to_string(),
        "borrower_id": borrower.to_string(),
        "program_id": "1",
        "limit": "500000",
        "annual_income": "12000000",
        "birth_date": "1990-05-05",
        "applicant": applicant
    })
}

/// (held, available, balance) of a line, as the API answers them.
async fn line_figures(server: &TestServer, id: u128) -> (String, String, String) {
    let answer = server.get(&format!("/v1/credit/lines/{id}")).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let text = |key: &str| answer.body[key].as_str().expect("a string").to_string();
    (text("held"), text("available"), text("balance"))
}

// Goal: the whole life of a purchase over HTTP: accounts, a program, lines (one refused by the
// student policy), authorize, capture (releasing the rest), repay; available credit by exact
// figures at each step; raise checks; a two-chunk day-close that advances the business date.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credit_line_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let accounts: Vec<Value> = PROGRAM_ACCOUNTS
        .iter()
        .chain([MERCHANT, BANK].iter())
        .map(|id| crate::account(*id, &[]))
        .collect();
    server
        .post_ok("/v1/accounts", &json!({ "accounts": accounts }), &["ok"; 7])
        .await;
    let answer = server.get("/v1/credit/business-date").await;
    assert_eq!(
        answer.body,
        json!({ "business_date": null, "day_close": { "done": 0, "lines": 0 } })
    );
    server
        .post_ok(
            "/v1/credit/programs",
            &json!({ "programs": [program()] }),
            &["ok"],
        )
        .await;
    // The same program again is `exists`; another with the same id differs.
    let mut changed = program();
    changed["code"] = json!(11);
    server
        .post_ok(
            "/v1/credit/programs",
            &json!({ "programs": [program(), changed] }),
            &["exists", "exists_with_different_fields"],
        )
        .await;

    server
        .post_ok(
            "/v1/credit/commands",
            &json!({ "commands": [
                open_line(1000, 7, &[]),
                open_line(1001, 8, &["student"]),
                open_line(1002, 9, &["student", "guardian_confirmed"]),
            ]}),
            &["ok", "student_needs_guardian", "ok"],
        )
        .await;
    let line = server.get("/v1/credit/lines/1000").await;
    assert_eq!(line.status, 200, "{}", line.text);
    assert_eq!(line.body["status"], "active");
    assert_eq!(line.body["limit"], "500000");
    assert_eq!(line.body["effective_limit"], "500000");
    assert_eq!(line.body["aging_bucket"], "current");
    assert_eq!(line.body["statement"], Value::Null);
    assert_eq!(line.body["owed"]["total"], "0");
    let student = server.get("/v1/credit/lines/1002").await;
    assert_eq!(
        student.body["applicant"],
        json!(["student", "guardian_confirmed"])
    );

    // Authorize 1,200.00: held, not yet owed.
    server
        .post_ok(
            "/v1/credit/commands",
            &json!({ "commands": [{
                "type": "authorize", "id": "2000", "line_id": "1000",
                "merchant_account_id": MERCHANT.to_string(), "amount": "120000"
            }]}),
            &["ok"],
        )
        .await;
    assert_eq!(
        line_figures(&server, 1000).await,
        ("120000".into(), "380000".into(), "0".into())
    );
    // Capture 1,000.00 of it: the other 200.00 is released.
    server
        .post_ok(
            "/v1/credit/commands",
            &json!({ "commands": [{
                "type": "capture", "id": "2001", "line_id": "1000",
                "purchase_id": "2000", "amount": "100000"
            }]}),
            &["ok"],
        )
        .await;
    assert_eq!(
        line_figures(&server, 1000).await,
        ("0".into(), "400000".into(), "100000".into())
    );
    let line = server.get("/v1/credit/lines/1000").await;
    assert_eq!(line.body["unbilled"], "100000");
    assert_eq!(line.body["cycle"]["purchases"], "100000");
    // The merchant was paid on the ledger.
    let merchant = server.get(&format!("/v1/accounts/{MERCHANT}")).await;
    assert_eq!(merchant.body["credits_posted"], "100000");

    // Repay 300.00 from the bank; capturing the same purchase again is refused.
    server
        .post_ok(
            "/v1/credit/commands",
            &json!({ "commands": [
                { "type": "repay", "id": "2002", "line_id": "1000",
                  "source_account_id": BANK.to_string(), "amount": "30000" },
                { "type": "capture", "id": "2003", "line_id": "1000", "purchase_id": "2000" },
                { "type": "authorize", "id": "2004", "line_id": "1000",
                  "merchant_account_id": MERCHANT.to_string(), "amount": "430001" },
            ]}),
            &["ok", "purchase_already_captured", "insufficient_credit"],
        )
        .await;
    assert_eq!(
        line_figures(&server, 1000).await,
        ("0".into(), "430000".into(), "70000".into())
    );

    // Raise checks: within the borrower cap, and beyond it.
    let ok = server
        .get("/v1/credit/lines/1000/raise-check?limit=600000")
        .await;
    assert_eq!(ok.body, json!({ "result": "ok" }));
    let capped = server
        .get("/v1/credit/lines/1000/raise-check?limit=20000000")
        .await;
    assert_eq!(capped.body, json!({ "result": "exceeds_borrower_cap" }));

    // Freeze and unfreeze by name.
    server
        .post_ok(
            "/v1/credit/commands",
            &json!({ "commands": [
                { "type": "set_status", "line_id": "1000", "change": "freeze" },
                { "type": "authorize", "id": "2005", "line_id": "1000",
                  "merchant_account_id": MERCHANT.to_string(), "amount": "1" },
                { "type": "set_status", "line_id": "1000", "change": "unfreeze" },
            ]}),
            &["ok", "line_frozen", "ok"],
        )
        .await;

    // Day-close in chunks of one line: two lines, two chunks; the date moves on.
    let answer = server.get("/v1/credit/business-date").await;
    assert_eq!(
        answer.body,
        json!({ "business_date": "2026-11-01", "day_close": { "done": 0, "lines": 2 } })
    );
    let close = server
        .post(
            "/v1/credit/day-close",
            &json!({ "date": "2026-11-01", "chunk": 1 }),
        )
        .await;
    assert_eq!(close.status, 200, "{}", close.text);
    assert_eq!(
        close.body,
        json!({ "result": "ok", "business_date": "2026-11-02", "lines": 2, "chunks": 2 })
    );
    // A closed date answers ok without submitting; a future date is refused.
    let again = server
        .post("/v1/credit/day-close", &json!({ "date": "2026-11-01" }))
        .await;
    assert_eq!(again.body["result"], "ok");
    assert_eq!(again.body["chunks"], 0);
    let future = server
        .post("/v1/credit/day-close", &json!({ "date": "2026-11-05" }))
        .await;
    assert_eq!(
        future.body,
        json!({
            "result": "date_must_be_business_date",
            "business_date": "2026-11-02",
            "lines": 2,
            "chunks": 1
        })
    );
    server.stop().await;
}

/// Asserts a problem answer with `status` and `code`.
async fn assert_problem(answer: crate::Answer, status: u16, code: &str) -> Value {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(answer.content_type, "application/problem+json");
    assert_eq!(answer.body["code"], code, "{}", answer.text);
    answer.body
}

// Goal: malformed credit input is a problem with a stable code and a pointer, and nothing is
// submitted; unknown lines are 404 `line_not_found`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credit_bad_inputs_are_problems() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let mut program = program();
    program["interest_daily_rate"] = json!("0.000000001");
    let body = assert_problem(
        server
            .post("/v1/credit/programs", &json!({ "programs": [program] }))
            .await,
        400,
        "invalid_value",
    )
    .await;
    assert_eq!(body["pointer"], "/programs/0/interest_daily_rate");
    let mut program = self::program();
    program["rounding"] = json!("up");
    assert_problem(
        server
            .post("/v1/credit/programs", &json!({ "programs": [program] }))
            .await,
        400,
        "invalid_value",
    )
    .await;
    let mut program = self::program();
    program["start_date"] = json!("2026-02-30");
    assert_problem(
        server
            .post("/v1/credit/programs", &json!({ "programs": [program] }))
            .await,
        400,
        "invalid_value",
    )
    .await;
    assert_problem(
        server
            .post("/v1/credit/programs", &json!({ "programs": [] }))
            .await,
        400,
        "empty_batch",
    )
    .await;
    assert_problem(
        server
            .post(
                "/v1/credit/commands",
                &json!({ "commands": [{ "type": "borrow", "id": "1" }] }),
            )
            .await,
        400,
        "invalid_value",
    )
    .await;
    assert_problem(
        server
            .post(
                "/v1/credit/commands",
                &json!({ "commands": [{ "type": "void", "id": "1", "amount": "5" }] }),
            )
            .await,
        400,
        "unknown_field",
    )
    .await;
    assert_problem(
        server
            .post(
                "/v1/credit/commands",
                &json!({ "commands": [{ "type": "set_status", "line_id": "1" }] }),
            )
            .await,
        400,
        "missing_field",
    )
    .await;
    assert_problem(
        server
            .post(
                "/v1/credit/commands",
                &json!({ "commands": [open_line(1, 1, &["minor"])] }),
            )
            .await,
        400,
        "invalid_value",
    )
    .await;
    assert_problem(
        server
            .post(
                "/v1/credit/day-close",
                &json!({ "date": "2026-11-01", "chunk": 0 }),
            )
            .await,
        400,
        "invalid_value",
    )
    .await;
    assert_problem(
        server.get("/v1/credit/lines/999").await,
        404,
        "line_not_found",
    )
    .await;
    assert_problem(server.get("/v1/credit/lines/x").await, 400, "invalid_value").await;
    assert_problem(
        server.get("/v1/credit/lines/1/raise-check").await,
        400,
        "missing_field",
    )
    .await;
    assert_eq!(server.counts(), (0, 0));
    server.stop().await;
}

// Goal: quotes match the credit math exactly (Huabei 12 × 8.8% on 1,000.00: 83.33 × 11 + 83.37
// and 7.33 × 11 + 7.37) and bad parameters are problems.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credit_quotes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let answer = server
        .get("/v1/credit/quote?principal=100000&periods=12&total_rate=8.8")
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["total_fee"], "8800");
    let schedule = answer.body["schedule"].as_array().expect("schedule");
    assert_eq!(schedule.len(), 12);
    assert_eq!(
        schedule[0],
        json!({ "period": 1, "principal": "8333", "fee": "733", "payment": "9066" })
    );
    assert_eq!(
        schedule[11],
        json!({ "period": 12, "principal": "8337", "fee": "737", "payment": "9074" })
    );
    let expected = credit::math::quote(
        100_000,
        12,
        credit::math::Pricing::TotalRate(credit::math::Rate(880_000_000)),
        credit::math::RoundingMode::HalfUp,
    )
    .expect("quotable");
    for (key, rate) in [
        ("nominal", expected.apr.nominal),
        ("effective", expected.apr.effective),
    ] {
        let text = answer.body["apr"][key].as_str().expect("a string");
        let (whole, fraction) = text.split_once('.').expect("decimals");
        assert!(fraction.len() >= 2, "{text}");
        let units: u64 = format!("{whole}{fraction:0<8}").parse().expect("digits");
        assert_eq!(units, rate.0, "{key}: {text}");
    }

    let monthly = server
        .get("/v1/credit/quote?principal=100000&periods=12&monthly_rate=0.5")
        .await;
    assert_eq!(monthly.body["total_fee"], "6000", "{}", monthly.text);
    let free = server
        .get("/v1/credit/quote?principal=100000&periods=3&total_rate=0")
        .await;
    assert_eq!(
        free.body["apr"],
        json!({ "nominal": "0.00", "effective": "0.00" })
    );

    for (query, code) in [
        ("principal=100000&periods=7&total_rate=1", "invalid_value"),
        ("principal=0&periods=12&total_rate=1", "invalid_value"),
        ("principal=100000&periods=12", "invalid_value"),
        (
            "principal=100000&periods=12&total_rate=1&monthly_rate=1",
            "invalid_value",
        ),
        (
            "principal=100000&periods=12&total_rate=1.5%25",
            "invalid_value",
        ),
        ("principal=-1&periods=12&total_rate=1", "invalid_value"),
        ("periods=12&total_rate=1", "missing_field"),
        ("principal=1&periods=12&total_rate=1&x=1", "unknown_field"),
    ] {
        let answer = server.get(&format!("/v1/credit/quote?{query}")).await;
        assert_eq!(answer.status, 400, "{query}: {}", answer.text);
        assert_eq!(answer.body["code"], code, "{query}: {}", answer.text);
    }
    server.stop().await;
}

// Goal: installments, co-funding and the reports over HTTP: a funded program, a purchase split
// among funders, converted into 3 periods at 2.5% (the plan listed with its APR), settled
// early, and the per-funder exposure report; unknown ids answer 404 problems.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credit_installments_and_funding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    const FUNDING: u128 = 301;
    const FUNDER: u128 = 302;
    let accounts: Vec<Value> = PROGRAM_ACCOUNTS
        .iter()
        .chain([MERCHANT, BANK, FUNDING, FUNDER].iter())
        .map(|id| crate::account(*id, &[]))
        .collect();
    server
        .post_ok("/v1/accounts", &json!({ "accounts": accounts }), &["ok"; 9])
        .await;
    let mut funded = program();
    funded["funding_account_id"] = json!(FUNDING.to_string());
    funded["platform_min_share_bps"] = json!(3000);
    funded["early_settlement"] = json!("charge_all_remaining");
    server
        .post_ok(
            "/v1/credit/programs",
            &json!({ "programs": [funded] }),
            &["ok"],
        )
        .await;
    server
        .post_ok(
            "/v1/credit/commands",
            &json!({ "commands": [
                { "type": "add_funder", "program_id": "1", "account_id": FUNDER.to_string(), "share_bps": 6000 },
                { "type": "add_funder", "program_id": "1", "account_id": "101", "share_bps": 2000 },
                open_line(1000, 7, &[]),
                { "type": "authorize", "id": "2000", "line_id": "1000",
                  "merchant_account_id": MERCHANT.to_string(), "amount": "300000" },
                { "type": "capture", "id": "2001", "line_id": "1000", "purchase_id": "2000" },
                { "type": "convert_installments", "id": "3000", "line_id": "1000", "purchase_id": "2000",
                  "periods": 7, "fee_rate": "2.5" },
                { "type": "convert_installments", "id": "3000", "line_id": "1000", "purchase_id": "2000",
                  "periods": 3, "pricing": "total_rate", "fee_rate": "2.5" },
            ]}),
            &[
                "ok",
                "platform_share_below_min",
                "ok",
                "ok",
                "ok",
                "periods_not_offered",
                "ok",
            ],
        )
        .await;
    let plans = server.get("/v1/credit/lines/1000/plans").await;
    assert_eq!(plans.status, 200, "{}", plans.text);
    let plan = &plans.body["plans"][0];
    assert_eq!(plan["id"], "3000");
    assert_eq!(plan["purchase_id"], "2000");
    assert_eq!(plan["sponsor_account_id"], Value::Null);
    assert_eq!(plan["status"], "active");
    assert_eq!(plan["principal"], "300000");
    assert_eq!(plan["fee"], "7500");
    assert_eq!(plan["remaining"], "300000");
    let apr: f64 = plan["apr_nominal"].as_str().unwrap().parse().unwrap();
    assert!(
        (14.9..15.0).contains(&apr),
        "Huabei's 3 periods at 2.5%: about 14.94%, not {apr}"
    );
    let line = server.get("/v1/credit/lines/1000").await;
    assert_eq!(line.body["installment"], "300000");
    assert_eq!(line.body["unbilled"], "0");

    // 3,000.00: the platform 40% = 1,200.00, the funder 60% = 1,800.00.
    let funding = server.get("/v1/credit/programs/1/funding").await;
    assert_eq!(funding.status, 200, "{}", funding.text);
    assert_eq!(funding.body["platform_share_bps"], 4000);
    assert_eq!(funding.body["platform"]["outstanding"], "120000");
    assert_eq!(funding.body["funders"][0]["outstanding"], "180000");
    assert_eq!(funding.body["funders"][0]["unsettled_drawn"], "180000");

    // Settle early under charge-all-remaining: 3,000.00 + 75.00; a wrong amount is refused.
    server
        .post_ok(
            "/v1/credit/commands",
            &json!({ "commands": [
                { "type": "settle_installments", "id": "4000", "line_id": "1000", "plan_id": "3000",
                  "source_account_id": BANK.to_string(), "amount": "300000" },
                { "type": "settle_installments", "id": "4000", "line_id": "1000", "plan_id": "3000",
                  "source_account_id": BANK.to_string(), "amount": "307500" },
                { "type": "settle_funding", "program_id": "1" },
            ]}),
            &["settlement_amount_mismatch", "ok", "ok"],
        )
        .await;
    let plans = server.get("/v1/credit/lines/1000/plans").await;
    assert_eq!(plans.body["plans"][0]["status"], "settled");
    assert_eq!(plans.body["plans"][0]["settlement_fee"], "7500");
    let funding = server.get("/v1/credit/programs/1/funding").await;
    assert_eq!(funding.body["funders"][0]["outstanding"], "0");
    assert_eq!(funding.body["funders"][0]["repaid"], "180000");
    assert_eq!(funding.body["funders"][0]["unsettled_drawn"], "0");
    let (_, available, balance) = line_figures(&server, 1000).await;
    assert_eq!((available.as_str(), balance.as_str()), ("500000", "0"));

    let missing = server.get("/v1/credit/programs/9/funding").await;
    assert_problem(missing, 404, "program_not_found").await;
    let missing = server.get("/v1/credit/lines/9/plans").await;
    assert_problem(missing, 404, "line_not_found").await;
}
