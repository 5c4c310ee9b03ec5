//! Target `http`: HTTP requests (method, path and query, content type, body) through the
//! server's real router (`server::router`), in process with `tower::ServiceExt::oneshot`, over
//! a real node in a temporary directory. Every route is reached, the JSON body parsers of every
//! POST route included (accounts, transfers, limits, credit programs, commands, day-close,
//! promotion campaigns and commands; the promotions part is in `http/promotions.rs`).
//!
//! An input is text: `METHOD TARGET\nCONTENT-TYPE\n` then the body. Properties: never a panic;
//! never a 5xx; every answer other than 200 is an RFC 9457 problem document whose `status` is the
//! HTTP status and whose `code` is one the server documents; a 200 with a JSON content type is
//! valid JSON; a problem changes no account, transfer, credit line or campaign count, nor the
//! size of the promotions state ("a problem means the request changed nothing").
//!
//! The node keeps its state across inputs (a stateful fuzz: ids that exist, lines with
//! purchases), so a failure may depend on earlier inputs; `--replay` starts from the seeds'
//! state only.

use axum::body::{Body, to_bytes};
use axum::http::{HeaderValue, Method, Request, Uri, header};
use serde_json::{Value, json};
use server::{ProblemCode, RouterOptions};
use tower::ServiceExt as _;

use crate::Target;
use crate::mutate::mutate_bytes;
use crate::prng::Prng;
use crate::targets::json::{edit_text, node_at, paths, remove_at};

mod promotions;

/// The router's body limit here: small, so `body_too_large` is reachable.
const BODY_SIZE_MAX: usize = 256 * 1024;

pub struct Http {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    node: node::Node,
    /// Holds the node's data directory until the target is dropped.
    _dir: tempfile::TempDir,
}

impl Http {
    /// Opens a node (no fsync: this target fuzzes parsers, not durability) and its router.
    #[must_use]
    pub fn new() -> Http {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = node::Config::new(dir.path());
        config.sync = false;
        config.snapshot_log_bytes_min = 4 * 1024 * 1024;
        let (node, _) = node::Node::open(config).expect("a new node opens");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let router = server::router(
            node.clone(),
            RouterOptions {
                body_size_max: BODY_SIZE_MAX,
                ..RouterOptions::default()
            },
        );
        Http {
            runtime,
            router,
            node,
            _dir: dir,
        }
    }
}

impl Default for Http {
    fn default() -> Http {
        Http::new()
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        self.node.shutdown();
    }
}

fn input(method: &str, target: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target}\n{content_type}\n").into_bytes();
    out.extend_from_slice(body);
    out
}

fn post(target: &str, body: &Value) -> Vec<u8> {
    input(
        "POST",
        target,
        "application/json",
        body.to_string().as_bytes(),
    )
}

fn get(target: &str) -> Vec<u8> {
    input("GET", target, "", b"")
}

/// (method, target, content type, body) of an input.
fn split(input: &[u8]) -> (&[u8], &[u8], &[u8], &[u8]) {
    let mut parts = input.splitn(3, |b| *b == b'\n');
    let line = parts.next().unwrap_or_default();
    let content_type = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let (method, target) = match line.iter().position(|b| *b == b' ') {
        Some(at) => (&line[..at], &line[at + 1..]),
        None => (line, &b"/"[..]),
    };
    (method, target, content_type, body)
}

fn program_json(id: &str) -> Value {
    json!({
        "id": id, "ledger": 1, "code": 10,
        "interest_account_id": "101", "fee_account_id": "102", "penalty_account_id": "103",
        "loss_account_id": "104", "recovery_account_id": "105",
        "start_date": "2026-11-01", "statement_day": 10, "due_day": 20,
        "min_payment_rate": "10", "min_payment_floor": "1000",
        "interest_daily_rate": "0.05", "penalty_daily_rate": "0.05", "penalty_min_per_day": "0",
        "write_off_days": 180, "apr_cap": "24", "max_borrower_limit": "10000000",
        "dti_cap_bps": 0, "min_age": 18, "student_policy": "require_guardian",
        "waterfall": ["penalty", "fee", "interest", "principal"], "rounding": "half_even",
        "early_settlement": "pro_rata", "funding_account_id": "203",
        "platform_min_share_bps": 3000
    })
}

fn transfer_json(id: u32, debit: u32, credit: u32, amount: u32, flags: &[&str]) -> Value {
    json!({
        "id": id.to_string(), "debit_account_id": debit.to_string(),
        "credit_account_id": credit.to_string(), "amount": amount.to_string(),
        "ledger": 1, "code": 1, "flags": flags
    })
}

/// Requests that build the state the seeds refer to: accounts, transfers, a program, a line
/// with a purchase, and promotion campaigns of every kind with coupons, a captured checkout,
/// prizes, a grab, a draw and coins.
fn setup() -> Vec<Vec<u8>> {
    let ids = [1, 2, 3, 4, 5, 6, 101, 102, 103, 104, 105, 201, 202, 203];
    let accounts: Vec<Value> = ids
        .iter()
        .map(|id| {
            let flags: &[&str] = if *id == 4 { &["history"] } else { &[] };
            json!({ "id": id.to_string(), "ledger": 1, "code": 1, "flags": flags })
        })
        .collect();
    vec![
        post("/v1/accounts", &json!({ "accounts": accounts })),
        post(
            "/v1/transfers",
            &json!({ "transfers": [
                transfer_json(10, 1, 2, 100, &[]),
                transfer_json(11, 2, 4, 7, &[]),
                transfer_json(12, 1, 4, 50, &["pending"]),
            ]}),
        ),
        post(
            "/v1/credit/programs",
            &json!({ "programs": [program_json("1")] }),
        ),
        post(
            "/v1/credit/commands",
            &json!({ "commands": [
                { "type": "open_line", "id": "1001", "borrower_id": "9001", "program_id": "1",
                  "limit": "500000", "annual_income": "12000000", "birth_date": "1990-05-05",
                  "applicant": [] },
                { "type": "authorize", "id": "3001", "line_id": "1001",
                  "merchant_account_id": "201", "amount": "20000" },
                { "type": "capture", "id": "3002", "line_id": "1001", "purchase_id": "3001" },
            ]}),
        ),
    ]
    .into_iter()
    .chain(promotions::setup())
    .collect()
}

/// One valid request per route and body type, then the promotions seeds, single commands and
/// near-misses.
fn seeds() -> Vec<Vec<u8>> {
    let commands = json!({ "commands": [
        { "type": "open_line", "id": "1002", "borrower_id": "9002", "program_id": "1",
          "limit": "100000", "annual_income": "5000000", "birth_date": "2000-01-31",
          "statement_day": 5, "due_day": 25, "applicant": ["student", "guardian_confirmed"] },
        { "type": "set_limit", "line_id": "1001", "limit": "600000" },
        { "type": "set_temporary_limit", "line_id": "1001", "amount": "1000",
          "from": "2026-11-01", "to": "2026-12-01" },
        { "type": "set_status", "line_id": "1001", "change": "freeze" },
        { "type": "set_status", "line_id": "1001", "change": "unfreeze" },
        { "type": "authorize", "id": "3010", "line_id": "1001", "merchant_account_id": "201",
          "amount": "5000", "timeout": 3600 },
        { "type": "capture", "id": "3011", "line_id": "1001", "purchase_id": "3010",
          "amount": "4000" },
        { "type": "refund", "id": "3012", "line_id": "1001", "purchase_id": "3010",
          "amount": "100" },
        { "type": "void", "id": "3013", "line_id": "1001", "purchase_id": "3010" },
        { "type": "repay", "id": "3014", "line_id": "1001", "source_account_id": "202",
          "amount": "300" },
        { "type": "day_close", "date": "2026-11-01", "max_lines": 5 },
        { "type": "convert_installments", "id": "3015", "line_id": "1001",
          "purchase_id": "3001", "periods": 3, "pricing": "monthly_rate", "fee_rate": "0.5" },
        { "type": "settle_installments", "id": "3016", "line_id": "1001", "plan_id": "3015",
          "source_account_id": "202" },
        { "type": "redeem_coins", "id": "3017", "line_id": "1001", "coin_account_id": "5",
          "coins": "10" },
        { "type": "add_funder", "program_id": "1", "account_id": "6", "share_bps": 2000 },
        { "type": "settle_funding", "program_id": "1" },
    ]});
    let mut seeds = vec![
        post(
            "/v1/accounts",
            &json!({ "accounts": [
                { "id": "7", "ledger": 1, "code": 1,
                  "flags": ["debits_must_not_exceed_credits", "history", "linked"],
                  "user_data_128": "5", "user_data_64": "6", "user_data_32": 7 },
                { "id": "8", "ledger": 1, "code": 1, "flags": ["closed"] },
            ]}),
        ),
        post(
            "/v1/transfers",
            &json!({ "transfers": [
                transfer_json(20, 1, 2, 1, &["linked"]),
                transfer_json(21, 2, 1, 1, &[]),
                { "id": "22", "pending_id": "12", "flags": ["post_pending_transfer"],
                  "amount": "10" },
                { "id": "23", "debit_account_id": "4", "credit_account_id": "1",
                  "amount": "340282366920938463463374607431768211455", "ledger": 1, "code": 1,
                  "flags": ["balancing_debit"], "timeout": 0, "user_data_32": 1 },
            ]}),
        ),
        post(
            "/v1/accounts/limits",
            &json!({ "limits": [
                { "account_id": "1", "debit_limit": "100" },
                { "account_id": "2", "credit_limit": "5", "debit_limit": "0" },
            ]}),
        ),
        post(
            "/v1/credit/programs",
            &json!({ "programs": [program_json("2")] }),
        ),
        post("/v1/credit/commands", &commands),
        post(
            "/v1/credit/day-close",
            &json!({ "date": "2026-11-01", "chunk": 2 }),
        ),
        get("/v1/accounts/1"),
        get("/v1/transfers/10"),
        get("/v1/accounts/1/transfers?limit=2&reversed=true&debits=true&credits=false"),
        get("/v1/accounts/1/transfers?cursor=c10000000000000000000000000000000ff&limit=1"),
        get("/v1/accounts/4/balances?timestamp_min=1&timestamp_max=0&limit=5"),
        get("/v1/accounts/4/balances?at=18446744073709551615"),
        get("/v1/credit/lines/1001"),
        get("/v1/credit/lines/1001/plans"),
        get("/v1/credit/lines/1001/raise-check?limit=700000"),
        get("/v1/credit/programs/1/funding"),
        get("/v1/credit/quote?principal=100000&periods=12&total_rate=8.8&rounding=half_even"),
        get("/v1/credit/quote?principal=5000&periods=3&monthly_rate=0.5"),
        get("/v1/credit/business-date"),
        get("/livez"),
        get("/readyz"),
        input("DELETE", "/v1/accounts", "", b""),
    ];
    // One command per request too, so a mutant of one command is not masked by the others.
    if let Some(list) = commands["commands"].as_array() {
        for command in list {
            seeds.push(post(
                "/v1/credit/commands",
                &json!({ "commands": [command] }),
            ));
        }
    }
    seeds.extend(promotions::seeds());
    seeds.extend(promotions::parents());
    seeds
}

/// JSON values that sit on the edges of what the parsers accept.
fn interesting_json(prng: &mut Prng) -> Value {
    let texts = [
        "0",
        "-1",
        "1",
        "255",
        "256",
        "65535",
        "65536",
        "4294967295",
        "4294967296",
        "18446744073709551615",
        "18446744073709551616",
        "340282366920938463463374607431768211456",
        "1e3",
        "1.5",
        "-0",
        "1e400",
        "true",
        "false",
        "null",
        "[]",
        "{}",
        "[\"pending\"]",
        "[\"\"]",
        "[\"linked\",\"linked\"]",
        "\"\"",
        "\"0\"",
        "\"-1\"",
        "\"+1\"",
        "\" 1\"",
        "\"0x10\"",
        "\"1e3\"",
        "\"1.0\"",
        "\"\\u0031\"",
        "\"\\u0000\"",
        "\"\u{663}\"",
        "\"18446744073709551615\"",
        "\"18446744073709551616\"",
        "\"340282366920938463463374607431768211455\"",
        "\"340282366920938463463374607431768211456\"",
        "\"4294967295\"",
        "\"2026-02-29\"",
        "\"2028-02-29\"",
        "\"2026-02-30\"",
        "\"2026-13-01\"",
        "\"0000-01-01\"",
        "\"9999-12-31\"",
        "\"2026-1-1\"",
        "\"2026-11-01T00:00:00Z\"",
        "\"0.05\"",
        "\"0.00000001\"",
        "\"0.000000001\"",
        "\"100\"",
        "\"100.0000000001\"",
        "\"184467440737.09551615\"",
        "\"1.\"",
        "\".5\"",
        "\"-0.5\"",
        "\"half_up\"",
        "\"monthly_rate\"",
        "\"require_guardian\"",
        "\"freeze\"",
        "\"close\"",
        "\"day_close\"",
        "\"open_line\"",
        "[\"penalty\",\"penalty\",\"fee\",\"interest\"]",
        "[\"student\"]",
    ];
    match prng.below(10) {
        0 => Value::String("9".repeat(prng.below(100_000))),
        1 => {
            let depth = prng.below(300);
            let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            serde_json::from_str(&text).unwrap_or(Value::Null)
        }
        2 | 3 => {
            let text: &&str = prng.pick(promotions::INTERESTING);
            serde_json::from_str(text).unwrap_or(Value::Null)
        }
        _ => {
            let text: &&str = prng.pick(&texts);
            serde_json::from_str(text).unwrap_or(Value::Null)
        }
    }
}

/// Edits one node of a JSON body: replaces, removes, duplicates or adds a value, or edits a
/// string a few characters at a time (rule texts, decimals, dates).
fn mutate_json(prng: &mut Prng, value: &mut Value) {
    let paths = paths(value);
    let path = prng.pick(&paths).clone();
    match prng.below(7) {
        0 | 1 => {
            if let Some(node) = node_at(value, &path) {
                *node = interesting_json(prng);
            }
        }
        2 => remove_at(value, &path),
        3 => {
            if let Some(Value::Object(map)) = node_at(value, &path) {
                let keys = [
                    "bogus",
                    "id",
                    "type",
                    "flags",
                    "amount",
                    "timestamp",
                    "reserved",
                    "campaign_id",
                    "checkout_id",
                    "coupons",
                    "offer",
                    "rule",
                    "kind",
                    "change",
                    "user_segments",
                ];
                map.insert((*prng.pick(&keys)).to_string(), interesting_json(prng));
            }
        }
        4 => {
            if let Some(Value::Array(items)) = node_at(value, &path)
                && let Some(first) = items.first().cloned()
            {
                let copies = *prng.pick(&[1usize, 1, 1, 2, 8, 8189, 8190]);
                if copies >= 8189 {
                    // The batch limits, with the smallest events (all defaults), so the body
                    // stays under the body limit and the run stays fast.
                    items.clear();
                    items.extend(std::iter::repeat_n(json!({}), copies));
                } else {
                    items.extend(std::iter::repeat_n(first, copies));
                }
            }
        }
        5 => {
            if let Some(Value::String(text)) = node_at(value, &path) {
                let edits = 1 + prng.below(3);
                for _ in 0..edits {
                    edit_text(prng, text, &promotions::TOKENS);
                }
            }
        }
        _ => {
            // Numbers become strings and strings numbers.
            if let Some(node) = node_at(value, &path) {
                *node = match node.take() {
                    Value::Number(n) => Value::String(n.to_string()),
                    Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
                    other => Value::Array(vec![other]),
                };
            }
        }
    }
}

/// Edits the request line: an interesting path id or query value, or another method.
fn mutate_line(prng: &mut Prng, method: &[u8], target: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let ids = [
        "0",
        "1",
        "1001",
        "1000",
        "2000",
        "5030",
        "5041",
        "340282366920938463463374607431768211455",
        "340282366920938463463374607431768211456",
        "-1",
        "0x1",
        "%31",
        "1%00",
        "%FF",
        "1.0",
        "1e3",
        "",
        "%20",
        "..",
    ];
    let keys = [
        "limit",
        "cursor",
        "timestamp_min",
        "timestamp_max",
        "debits",
        "credits",
        "reversed",
        "at",
        "principal",
        "periods",
        "total_rate",
        "monthly_rate",
        "rounding",
        "user_id",
        "merchant_account_id",
        "amount",
        "card_issuer",
        "card_bin",
        "category",
        "colour",
    ];
    let values = [
        "0",
        "1",
        "8189",
        "8190",
        "-1",
        "true",
        "TRUE",
        "",
        "c1",
        "c1000000000000000000000000000000000",
        "c1ff00000000000000000000000000000000",
        "c107ffffffffffffffffffffffffffffffff",
        "c2000000000000000000000000000000000",
        "c1+0000000000000000000000000000000000",
        "18446744073709551615",
        "18446744073709551616",
        "0.05",
        "8.8",
        "100",
        "100.0000000001",
        "0.000000001",
        "1e2",
        "%FF",
        "%",
        "half_even",
        "up",
        "3",
        "24",
        "25",
        "7",
        "302",
        "25000",
        "622201",
        "4294967296",
    ];
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];
    let text = String::from_utf8_lossy(target).to_string();
    let (path, query) = text.split_once('?').unwrap_or((&text, ""));
    let mut segments: Vec<String> = path.split('/').map(str::to_string).collect();
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    let mut method = method.to_vec();
    match prng.below(4) {
        0 => {
            let at = prng.below(segments.len());
            segments[at] = (*prng.pick(&ids)).to_string();
        }
        1 => pairs.push(format!("{}={}", prng.pick(&keys), prng.pick(&values))),
        2 => {
            if !pairs.is_empty() {
                let at = prng.below(pairs.len());
                let key = pairs[at].split('=').next().unwrap_or("").to_string();
                pairs[at] = format!("{key}={}", prng.pick(&values));
            }
        }
        _ => method = prng.pick(&methods).as_bytes().to_vec(),
    }
    let mut target = segments.join("/");
    if !pairs.is_empty() {
        target.push('?');
        target.push_str(&pairs.join("&"));
    }
    (method, target.into_bytes())
}

/// Percent-encodes what may not appear in a request target, so that mutants stay sendable.
fn sendable_target(target: &[u8]) -> String {
    let mut out = String::new();
    if target.first() != Some(&b'/') {
        out.push('/');
    }
    for &b in target {
        let plain = b.is_ascii_graphic() && !b"\"<>\\^`{|}#".contains(&b);
        if plain {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The route an outcome belongs to, for labels: the path's known words, `*` for anything else
/// (ids, garbage), and (for `GET` of a route that reads its query, where they mean something)
/// the known query keys, so labels stay few.
fn route_label(uri: &Uri, with_query: bool) -> String {
    const WORDS: &[&str] = &[
        "v1",
        "accounts",
        "transfers",
        "limits",
        "balances",
        "credit",
        "programs",
        "commands",
        "day-close",
        "lines",
        "plans",
        "raise-check",
        "funding",
        "quote",
        "business-date",
        "promotions",
        "campaigns",
        "grabs",
        "coupons",
        "checkouts",
        "prizes",
        "coins",
        "draws",
        "best-coupons",
        "openapi.json",
        "livez",
        "readyz",
        "metrics",
    ];
    const KEYS: &[&str] = &[
        "limit",
        "cursor",
        "timestamp_min",
        "timestamp_max",
        "debits",
        "credits",
        "reversed",
        "at",
        "principal",
        "periods",
        "total_rate",
        "monthly_rate",
        "rounding",
        "user_id",
        "merchant_account_id",
        "amount",
        "card_issuer",
        "card_bin",
        "category",
    ];
    let segments: Vec<&str> = uri
        .path()
        .split('/')
        .skip(1)
        .take(6)
        .map(|s| if WORDS.contains(&s) { s } else { "*" })
        .collect();
    // The routes that read a query; on any other, query keys only multiply the labels.
    const QUERY_ROUTES: &[&str] = &[
        "transfers",
        "balances",
        "raise-check",
        "quote",
        "best-coupons",
    ];
    let reads_query = segments.last().is_some_and(|s| QUERY_ROUTES.contains(s));
    let mut label = format!("/{}", segments.join("/"));
    if let Some(query) = uri.query().filter(|_| with_query && reads_query) {
        let mut keys: Vec<&str> = query
            .split('&')
            .filter_map(|p| p.split('=').next())
            .map(|k| if KEYS.contains(&k) { k } else { "*" })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        label.push('?');
        if keys.len() <= 2 {
            label.push_str(&keys.join(","));
        } else {
            label.push_str("many");
        }
    }
    label
}

/// What a problem must not change: the account, transfer, line and campaign counts, and the
/// size of the promotions state (see `promotions::figures`).
fn counts(node: &node::Node) -> (u64, u64, u32, (usize, usize)) {
    node.read(|state| {
        (
            state.ledger().account_count(),
            state.ledger().transfer_count(),
            state.credit().line_count(),
            promotions::figures(state),
        )
    })
}

/// Checks one answer; returns its outcome label.
fn check_answer(
    method: &Method,
    status: u16,
    content_type: &str,
    body: &[u8],
    route: &str,
) -> Result<String, String> {
    if status >= 500 {
        return Err(format!(
            "server-error {status} on {route}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
    }
    if method == Method::HEAD {
        return Ok(format!("HEAD {}", status / 100));
    }
    if status == 200 {
        if content_type.starts_with("application/json") {
            let value: Value = serde_json::from_slice(body)
                .map_err(|e| format!("bad-json-200 on {route}: {e}"))?;
            let mut results: Vec<&str> = value["results"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            results.sort_unstable();
            results.dedup();
            let result = value["result"].as_str().unwrap_or("");
            return Ok(format!("{route} 200 {} {result}", results.join(",")));
        }
        return Ok(format!("{route} 200 {content_type}"));
    }
    if content_type != "application/problem+json" {
        return Err(format!(
            "not-a-problem {status} on {route}: content type {content_type:?}"
        ));
    }
    let problem: Value = serde_json::from_slice(body)
        .map_err(|e| format!("not-a-problem {status} on {route}: {e}"))?;
    let code = problem["code"].as_str().unwrap_or_default();
    let known = ProblemCode::ALL.iter().find(|c| c.name() == code);
    let consistent = known.is_some_and(|c| c.status().as_u16() == status)
        && problem["status"] == status
        && problem["type"] == format!("https://elevenfold.dev/problems/{code}")
        && problem["title"].as_str().is_some_and(|t| !t.is_empty())
        && problem["detail"].is_string();
    if !consistent {
        return Err(format!("not-a-problem {status} on {route}: {problem}"));
    }
    if status == 404 || status == 405 {
        // Unrouted: the path and query do not matter, only that the answer was a problem.
        let method = route.split(' ').next().unwrap_or_default();
        return Ok(format!("{method} {status} {code}"));
    }
    Ok(format!("{route} {status} {code}"))
}

impl Http {
    /// Sends one request; returns the status and the body parsed as JSON (`Null` if it is not).
    pub fn request(
        &mut self,
        method: &str,
        target: &str,
        content_type: &str,
        body: &[u8],
    ) -> (u16, Value) {
        let request = Request::builder()
            .method(method)
            .uri(target)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body.to_vec()))
            .expect("a valid request");
        let router = self.router.clone();
        self.runtime.block_on(async move {
            let response = router
                .oneshot(request)
                .await
                .expect("the router is infallible");
            let status = response.status().as_u16();
            let bytes = to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("a readable body");
            (
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )
        })
    }

    fn send(&mut self, input: &[u8]) -> Result<String, String> {
        let (method, target, content_type, body) = split(input);
        let Ok(method) = Method::from_bytes(method) else {
            return Ok("unsendable method".to_string());
        };
        let Ok(uri) = Uri::try_from(sendable_target(target)) else {
            return Ok("unsendable target".to_string());
        };
        let known = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];
        let route = format!(
            "{} {}",
            if known.contains(&method.as_str()) {
                method.as_str()
            } else {
                "OTHER"
            },
            route_label(&uri, method == Method::GET)
        );
        let mut builder = Request::builder().method(method.clone()).uri(uri);
        if !content_type.is_empty()
            && let Ok(value) = HeaderValue::from_bytes(content_type)
        {
            builder = builder.header(header::CONTENT_TYPE, value);
        }
        let Ok(request) = builder.body(Body::from(body.to_vec())) else {
            return Ok("unsendable request".to_string());
        };
        let before = counts(&self.node);
        let router = self.router.clone();
        let (status, content_type, bytes) = self.runtime.block_on(async move {
            let response = router
                .oneshot(request)
                .await
                .expect("the router is infallible");
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let bytes = to_bytes(response.into_body(), usize::MAX).await;
            (status, content_type, bytes)
        });
        let bytes = bytes.map_err(|e| format!("unreadable-body on {route}: {e}"))?;
        let label = check_answer(&method, status, &content_type, &bytes, &route)?;
        if status != 200 && counts(&self.node) != before {
            return Err(format!(
                "problem-changed-state {status} on {route}: counts {before:?} -> {:?}",
                counts(&self.node)
            ));
        }
        Ok(label)
    }
}

impl Target for Http {
    fn seeds(&mut self) -> Vec<Vec<u8>> {
        for request in setup() {
            let outcome = self.send(&request);
            // Every event of every setup request is accepted: the seeds refer to all of it.
            assert!(
                outcome
                    .as_ref()
                    .is_ok_and(|label| label.ends_with(" 200 ok ")),
                "setup request failed: {outcome:?}: {}",
                String::from_utf8_lossy(&request)
            );
        }
        seeds()
    }

    fn mutate(&mut self, prng: &mut Prng, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
        let (method, target, content_type, body) = split(input);
        let (method, target, content_type, mut body) = (
            method.to_vec(),
            target.to_vec(),
            content_type.to_vec(),
            body.to_vec(),
        );
        match prng.below(10) {
            0..=4 => {
                if let Ok(mut value) = serde_json::from_slice::<Value>(&body) {
                    let edits = 1 + prng.below(3);
                    for _ in 0..edits {
                        mutate_json(prng, &mut value);
                    }
                    body = serde_json::to_vec(&value).expect("a JSON value serializes");
                } else {
                    mutate_bytes(prng, &mut body, &[]);
                }
                *input = rebuild(&method, &target, &content_type, &body);
            }
            5 | 6 => {
                let (method, target) = mutate_line(prng, &method, &target);
                *input = rebuild(&method, &target, &content_type, &body);
            }
            7 => {
                let types: [&[u8]; 7] = [
                    b"application/json",
                    b"APPLICATION/JSON; charset=utf-8",
                    b"text/plain",
                    b"",
                    b"application/problem+json",
                    b"application/json-seq",
                    b"application/json;",
                ];
                let content_type: &&[u8] = prng.pick(&types);
                *input = rebuild(&method, &target, content_type, &body);
            }
            8 => {
                mutate_bytes(prng, &mut body, corpus);
                *input = rebuild(&method, &target, &content_type, &body);
            }
            _ => mutate_bytes(prng, input, corpus),
        }
    }

    fn run(&mut self, input: &[u8]) -> Result<String, String> {
        self.send(input)
    }
}

/// The valid promotions seeds, in the order `seeds` runs them (each answers 200 and every
/// campaign and command in it `ok`), for `http_promotions_seeds_succeed`.
#[cfg(test)]
pub(crate) fn promotions_seeds() -> Vec<Vec<u8>> {
    promotions::seeds()
}

fn rebuild(method: &[u8], target: &[u8], content_type: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = method.to_vec();
    out.push(b' ');
    out.extend_from_slice(target);
    out.push(b'\n');
    out.extend_from_slice(content_type);
    out.push(b'\n');
    out.extend_from_slice(body);
    out
}
