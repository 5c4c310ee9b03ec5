//! End-to-end tests of the HTTP API: a real server on 127.0.0.1 (ephemeral port) over a
//! temporary data directory, driven with a real HTTP client.

use std::collections::BTreeSet;
use std::path::Path;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use serde_json::{Value, json};
use server::{BODY_SIZE_MAX, Server, ServerConfig};

mod credit;
mod promotions;
mod provenance;

/// A server running in the background of the test's runtime.
struct TestServer {
    base: String,
    node: node::Node,
    http: reqwest::Client,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// One HTTP answer, with the body parsed as JSON (or `Value::Null` if it is not JSON).
struct Answer {
    status: u16,
    content_type: String,
    body: Value,
    text: String,
}

impl TestServer {
    async fn start(dir: &Path) -> TestServer {
        TestServer::start_with(dir, BODY_SIZE_MAX).await
    }

    async fn start_with(dir: &Path, body_size_max: usize) -> TestServer {
        let mut config = ServerConfig::new(dir, "127.0.0.1:0");
        config.body_size_max = body_size_max;
        let server = Server::bind(config).await.expect("server starts");
        let base = format!("http://{}", server.local_addr().expect("bound"));
        let node = server.node().clone();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async move {
            let _ = stop.await;
        }));
        TestServer {
            base,
            node,
            http: reqwest::Client::new(),
            shutdown,
            task,
        }
    }

    async fn stop(self) {
        let _ = self.shutdown.send(());
        self.task
            .await
            .expect("serve task does not panic")
            .expect("graceful shutdown succeeds");
    }

    /// (accounts, transfers) as the node sees them.
    fn counts(&self) -> (u64, u64) {
        self.node.read(|state| {
            (
                state.ledger().account_count(),
                state.ledger().transfer_count(),
            )
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("request is answered");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = response.text().await.expect("body is readable");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            content_type,
            body,
            text,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post_raw(&self, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Answer {
        let mut request = self.http.post(format!("{}{path}", self.base)).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        self.send(request).await
    }

    async fn post(&self, path: &str, body: &Value) -> Answer {
        self.post_raw(
            path,
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await
    }

    /// Posts and asserts 200 with the given results.
    async fn post_ok(&self, path: &str, body: &Value, results: &[&str]) {
        let answer = self.post(path, body).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
        assert_eq!(answer.body, json!({ "results": results }), "{path}");
    }
}

fn results_of(count: usize, name: &str) -> Vec<&str> {
    vec![name; count]
}

fn timestamp_of(value: &Value) -> u64 {
    value["timestamp"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("timestamp is a decimal string")
}

fn account(id: u128, flags: &[&str]) -> Value {
    json!({ "id": id.to_string(), "ledger": 1, "code": 1, "flags": flags })
}

fn transfer(id: u128, debit: u128, credit: u128, amount: u128) -> Value {
    json!({
        "id": id.to_string(),
        "debit_account_id": debit.to_string(),
        "credit_account_id": credit.to_string(),
        "amount": amount.to_string(),
        "ledger": 1,
        "code": 1,
    })
}

// Goal: accounts and transfers (plain, pending, posted) are created in one request each and
// read back with every field, balance and pending status as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_transfers_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let mut first = account(1, &["history"]);
    first["user_data_128"] = json!(u128::MAX.to_string());
    first["user_data_64"] = json!(u64::MAX.to_string());
    first["user_data_32"] = json!(u32::MAX);
    server
        .post_ok(
            "/v1/accounts",
            &json!({ "accounts": [first, account(2, &[])] }),
            &["ok", "ok"],
        )
        .await;
    server
        .post_ok(
            "/v1/accounts",
            &json!({ "accounts": [account(2, &[])] }),
            &["exists"],
        )
        .await;

    let mut pending = transfer(11, 1, 2, 40);
    pending["flags"] = json!(["pending"]);
    pending["timeout"] = json!(3600);
    let mut post = transfer(12, 1, 2, u128::MAX);
    post["flags"] = json!(["post_pending_transfer"]);
    post["pending_id"] = json!("11");
    server
        .post_ok(
            "/v1/transfers",
            &json!({ "transfers": [transfer(10, 1, 2, 100), pending, post] }),
            &["ok", "ok", "ok"],
        )
        .await;

    let account_one = server.get("/v1/accounts/1").await;
    assert_eq!(account_one.status, 200, "{}", account_one.text);
    assert_eq!(account_one.content_type, "application/json");
    let body = &account_one.body;
    assert_eq!(body["id"], "1");
    assert_eq!(body["debits_posted"], "140");
    assert_eq!(body["debits_pending"], "0");
    assert_eq!(body["credits_posted"], "0");
    assert_eq!(body["user_data_128"], json!(u128::MAX.to_string()));
    assert_eq!(body["user_data_64"], json!(u64::MAX.to_string()));
    assert_eq!(body["user_data_32"], json!(u32::MAX));
    assert_eq!(body["ledger"], 1);
    assert_eq!(body["flags"], json!(["history"]));
    assert_eq!(body["debit_limit"], "0");
    assert_eq!(body["credit_limit"], "0");
    assert!(timestamp_of(body) > 0);
    assert_eq!(
        server.get("/v1/accounts/2").await.body["credits_posted"],
        "140"
    );

    let plain = server.get("/v1/transfers/10").await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.body["amount"], "100");
    assert_eq!(plain.body["flags"], json!([]));
    assert!(plain.body.get("pending_status").is_none());
    let held = server.get("/v1/transfers/11").await;
    assert_eq!(held.body["flags"], json!(["pending"]));
    assert_eq!(held.body["timeout"], 3600);
    assert_eq!(held.body["pending_status"], "posted");
    let posted = server.get("/v1/transfers/12").await;
    assert_eq!(posted.body["pending_id"], "11");
    assert_eq!(posted.body["amount"], "40");

    let missing = server.get("/v1/transfers/99").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["code"], "transfer_not_found");
    server.stop().await;
}

// Goal: paging through an account's transfers with cursors returns every transfer exactly once
// and in order, forwards and backwards, and with a debit/credit filter carried by the cursor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_transfers_page_through_cursors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    server
        .post_ok(
            "/v1/accounts",
            &json!({ "accounts": [account(1, &[]), account(2, &[]), account(3, &[])] }),
            &["ok", "ok", "ok"],
        )
        .await;
    // 25 transfers touch account 1: ids 100.. alternate direction; 5 more do not touch it.
    let mut transfers = Vec::new();
    for index in 0..25_u128 {
        let (debit, credit) = if index % 2 == 0 { (1, 2) } else { (2, 1) };
        transfers.push(transfer(100 + index, debit, credit, index + 1));
        if index % 5 == 0 {
            transfers.push(transfer(500 + index, 2, 3, 1));
        }
    }
    let count = transfers.len();
    server
        .post_ok(
            "/v1/transfers",
            &json!({ "transfers": transfers }),
            &results_of(count, "ok"),
        )
        .await;

    async fn walk(server: &TestServer, first: &str) -> (Vec<String>, usize) {
        let mut ids = Vec::new();
        let mut pages = 0;
        let mut timestamps = Vec::new();
        let mut path = first.to_string();
        loop {
            let page = server.get(&path).await;
            assert_eq!(page.status, 200, "{path}: {}", page.text);
            pages += 1;
            for row in page.body["data"].as_array().expect("data is an array") {
                ids.push(row["id"].as_str().expect("id").to_string());
                timestamps.push(timestamp_of(row));
            }
            match page.body["next_cursor"].as_str() {
                Some(cursor) => path = format!("/v1/accounts/1/transfers?limit=10&cursor={cursor}"),
                None => break,
            }
        }
        // Strictly monotonic timestamps: in order and no row twice.
        assert!(
            timestamps.windows(2).all(|w| w[0] < w[1])
                || timestamps.windows(2).all(|w| w[0] > w[1])
        );
        (ids, pages)
    }

    let expected: Vec<String> = (100..125).map(|id: u128| id.to_string()).collect();
    let (ids, pages) = walk(&server, "/v1/accounts/1/transfers?limit=10").await;
    assert_eq!(ids, expected);
    assert_eq!(pages, 3);

    let (ids, pages) = walk(&server, "/v1/accounts/1/transfers?limit=10&reversed=true").await;
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(ids, reversed);
    assert_eq!(pages, 3);

    let (ids, _) = walk(&server, "/v1/accounts/1/transfers?limit=10&debits=true").await;
    let debits: Vec<String> = (100..125)
        .step_by(2)
        .map(|id: u128| id.to_string())
        .collect();
    assert_eq!(ids, debits);

    // An exact multiple of the limit ends without an empty extra page.
    let (ids, pages) = walk(&server, "/v1/accounts/1/transfers?limit=25").await;
    assert_eq!((ids.len(), pages), (25, 1));

    // The default page holds everything here, and unknown accounts are 404.
    let all = server.get("/v1/accounts/1/transfers").await;
    assert_eq!(all.body["data"].as_array().map(Vec::len), Some(25));
    assert_eq!(all.body["next_cursor"], Value::Null);
    let unknown = server.get("/v1/accounts/77/transfers").await;
    assert_eq!(
        (unknown.status, unknown.body["code"].as_str()),
        (404, Some("account_not_found"))
    );
    server.stop().await;
}

// Goal: a history account's balance rows page like transfers, `at` gives the balance as of a
// timestamp, and each balance error has its problem code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balances_history_and_at() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    server
        .post_ok(
            "/v1/accounts",
            &json!({ "accounts": [account(1, &["history"]), account(2, &[])] }),
            &["ok", "ok"],
        )
        .await;
    let transfers: Vec<Value> = (0..7).map(|i| transfer(10 + i, 1, 2, 10)).collect();
    server
        .post_ok(
            "/v1/transfers",
            &json!({ "transfers": transfers }),
            &results_of(7, "ok"),
        )
        .await;

    let mut rows = Vec::new();
    let mut path = "/v1/accounts/1/balances?limit=3".to_string();
    loop {
        let page = server.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.text);
        rows.extend(page.body["data"].as_array().expect("data").iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/accounts/1/balances?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    let debits: Vec<&str> = rows
        .iter()
        .map(|r| r["debits_posted"].as_str().expect("s"))
        .collect();
    assert_eq!(debits, ["10", "20", "30", "40", "50", "60", "70"]);

    // As of the fourth transfer: its balance row; as of account creation: zero.
    let fourth = timestamp_of(&rows[3]);
    let at = server
        .get(&format!("/v1/accounts/1/balances?at={fourth}"))
        .await;
    assert_eq!(at.status, 200, "{}", at.text);
    assert_eq!(at.body["debits_posted"], "40");
    assert_eq!(timestamp_of(&at.body), fourth);
    let created = timestamp_of(&server.get("/v1/accounts/1").await.body);
    let opening = server
        .get(&format!("/v1/accounts/1/balances?at={created}"))
        .await;
    assert_eq!(opening.body["debits_posted"], "0");

    for (path, status, code) in [
        (
            format!("/v1/accounts/1/balances?at={}", created - 1),
            400,
            "before_account_created",
        ),
        (
            "/v1/accounts/2/balances?at=1".to_string(),
            409,
            "history_not_enabled",
        ),
        (
            "/v1/accounts/2/balances".to_string(),
            409,
            "history_not_enabled",
        ),
        (
            "/v1/accounts/9/balances?at=1".to_string(),
            404,
            "account_not_found",
        ),
        (
            "/v1/accounts/9/balances".to_string(),
            404,
            "account_not_found",
        ),
        (
            "/v1/accounts/1/balances?at=1&limit=2".to_string(),
            400,
            "invalid_value",
        ),
    ] {
        let answer = server.get(&path).await;
        assert_eq!(answer.status, status, "{path}: {}", answer.text);
        assert_eq!(answer.content_type, "application/problem+json", "{path}");
        assert_eq!(answer.body["code"], code, "{path}");
    }
    server.stop().await;
}

// Goal: limits set over HTTP show on the account and change what transfers may do; per-event
// limit rejections come back as result names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_change_and_apply() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    server
        .post_ok(
            "/v1/accounts",
            &json!({ "accounts": [account(1, &["debits_must_not_exceed_credits"]), account(2, &[])] }),
            &["ok", "ok"],
        )
        .await;
    server
        .post_ok(
            "/v1/transfers",
            &json!({ "transfers": [transfer(10, 1, 2, 1)] }),
            &["exceeds_credits"],
        )
        .await;
    server
        .post_ok(
            "/v1/accounts/limits",
            &json!({ "limits": [
                { "account_id": "1", "debit_limit": "5000" },
                { "account_id": "1", "credit_limit": "5" },
                { "account_id": "9", "debit_limit": "1" },
                { "account_id": "1" },
            ] }),
            &[
                "ok",
                "credit_limit_requires_credits_must_not_exceed_debits",
                "account_not_found",
                "limit_must_be_given",
            ],
        )
        .await;
    let limited = server.get("/v1/accounts/1").await;
    assert_eq!(limited.body["debit_limit"], "5000");
    assert_eq!(limited.body["credit_limit"], "0");
    server
        .post_ok(
            "/v1/transfers",
            &json!({ "transfers": [transfer(11, 1, 2, 5000), transfer(12, 1, 2, 1)] }),
            &["ok", "exceeds_credits"],
        )
        .await;
    server.stop().await;
}

// Goal: every class of bad input gets its status, content type and problem code (or, for ids
// the ledger rejects, its per-event result), and no rejected request changes any state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_are_rejected_without_changes() {
    const LIMIT: usize = 256 * 1024;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_with(dir.path(), LIMIT).await;
    server
        .post_ok(
            "/v1/accounts",
            &json!({ "accounts": [account(1, &[]), account(2, &[])] }),
            &["ok", "ok"],
        )
        .await;
    server
        .post_ok(
            "/v1/transfers",
            &json!({ "transfers": [transfer(10, 1, 2, 7)] }),
            &["ok"],
        )
        .await;
    let counts = server.counts();
    let account_before = server.get("/v1/accounts/1").await.body;

    let good = transfer(20, 1, 2, 1);
    let with = |field: &str, value: Value| {
        let mut event = good.clone();
        event[field] = value;
        json!({ "transfers": [event] }).to_string().into_bytes()
    };
    let too_many = json!({ "transfers": vec![json!({"id": "1"}); 8190] })
        .to_string()
        .into_bytes();
    let mut over_limit = b"{\"transfers\":[]".to_vec();
    over_limit.resize(LIMIT + 1, b' ');
    over_limit.push(b'}');
    let json_type = Some("application/json");

    enum Expect {
        Problem(u16, &'static str),
        Results(&'static [&'static str]),
    }
    use Expect::{Problem, Results};
    /// (name, method, path, content type, body, expectation).
    type Row<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Vec<u8>, Expect);
    #[rustfmt::skip]
    let rows: Vec<Row> = vec![
        ("malformed json", "POST", "/v1/transfers", json_type, b"{\"transfers\":[".to_vec(), Problem(400, "malformed_json")),
        ("unknown field", "POST", "/v1/transfers", json_type, with("bogus", json!(1)), Problem(400, "unknown_field")),
        ("zero id", "POST", "/v1/transfers", json_type, with("id", json!("0")), Results(&["id_must_not_be_zero"])),
        ("max id", "POST", "/v1/transfers", json_type, with("id", json!(u128::MAX.to_string())), Results(&["id_must_not_be_int_max"])),
        ("zero account id", "POST", "/v1/accounts", json_type, br#"{"accounts":[{"id":"0","ledger":1,"code":1}]}"#.to_vec(), Results(&["id_must_not_be_zero"])),
        ("amount over u128", "POST", "/v1/transfers", json_type, with("amount", json!("340282366920938463463374607431768211456")), Problem(400, "invalid_value")),
        ("negative number", "POST", "/v1/transfers", json_type, with("ledger", json!(-1)), Problem(400, "invalid_value")),
        ("negative string", "POST", "/v1/transfers", json_type, with("amount", json!("-5")), Problem(400, "invalid_value")),
        ("non-string id", "POST", "/v1/transfers", json_type, with("id", json!(20)), Problem(400, "invalid_value")),
        ("unknown flag", "POST", "/v1/transfers", json_type, with("flags", json!(["pending", "bogus"])), Problem(400, "invalid_value")),
        ("too many events", "POST", "/v1/transfers", json_type, too_many, Problem(413, "batch_too_large")),
        ("empty array", "POST", "/v1/transfers", json_type, br#"{"transfers":[]}"#.to_vec(), Problem(400, "empty_batch")),
        ("missing array", "POST", "/v1/accounts", json_type, b"{}".to_vec(), Problem(400, "missing_field")),
        ("body over limit", "POST", "/v1/transfers", json_type, over_limit, Problem(413, "body_too_large")),
        ("wrong content type", "POST", "/v1/transfers", Some("text/plain"), with("id", json!("21")), Problem(415, "unsupported_media_type")),
        ("no content type", "POST", "/v1/accounts/limits", None, br#"{"limits":[{"account_id":"1","debit_limit":"1"}]}"#.to_vec(), Problem(415, "unsupported_media_type")),
        ("unknown route", "GET", "/v1/nothing", None, Vec::new(), Problem(404, "not_found")),
        ("wrong method", "DELETE", "/v1/accounts", None, Vec::new(), Problem(405, "method_not_allowed")),
        ("get on a post route", "GET", "/v1/transfers", None, Vec::new(), Problem(405, "method_not_allowed")),
        ("bad cursor", "GET", "/v1/accounts/1/transfers?cursor=zzz", None, Vec::new(), Problem(400, "invalid_cursor")),
        ("cursor with filter", "GET", "/v1/accounts/1/transfers?reversed=true&cursor=c1000000000000000000000000000000000", None, Vec::new(), Problem(400, "invalid_value")),
        ("bad limit", "GET", "/v1/accounts/1/transfers?limit=8190", None, Vec::new(), Problem(400, "invalid_value")),
        ("unknown parameter", "GET", "/v1/accounts/1/transfers?colour=red", None, Vec::new(), Problem(400, "unknown_field")),
        ("non-decimal path id", "GET", "/v1/accounts/0x1", None, Vec::new(), Problem(400, "invalid_value")),
        ("absent account", "GET", "/v1/accounts/3", None, Vec::new(), Problem(404, "account_not_found")),
    ];
    for (name, method, path, content_type, body, expect) in rows {
        let url = format!("{}{path}", server.base);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = server.http.request(method, url);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if !body.is_empty() {
            request = request.body(body);
        }
        let answer = server.send(request).await;
        match expect {
            Problem(status, code) => {
                assert_eq!(answer.status, status, "{name}: {}", answer.text);
                assert_eq!(answer.content_type, "application/problem+json", "{name}");
                assert_eq!(answer.body["code"], code, "{name}");
                assert_eq!(answer.body["status"], status, "{name}");
                assert_eq!(
                    answer.body["type"],
                    format!("https://elevenfold.dev/problems/{code}"),
                    "{name}"
                );
                assert!(
                    answer.body["title"].as_str().is_some_and(|t| !t.is_empty()),
                    "{name}"
                );
                assert!(answer.body["detail"].as_str().is_some(), "{name}");
            }
            Results(results) => {
                assert_eq!(answer.status, 200, "{name}: {}", answer.text);
                assert_eq!(answer.body, json!({ "results": results }), "{name}");
            }
        }
        assert_eq!(server.counts(), counts, "{name} changed the counts");
    }
    assert_eq!(server.get("/v1/accounts/1").await.body, account_before);
    assert_eq!(server.get("/v1/transfers/20").await.status, 404);
    // The pointer names the bad value.
    let answer = server
        .post_raw("/v1/transfers", json_type, with("amount", json!("1.5")))
        .await;
    assert_eq!(answer.body["pointer"], "/transfers/0/amount");
    server.stop().await;
}

/// Every route of the API, as (method, OpenAPI path).
const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/accounts"),
    ("post", "/v1/transfers"),
    ("post", "/v1/accounts/limits"),
    ("get", "/v1/accounts/{id}"),
    ("get", "/v1/transfers/{id}"),
    ("get", "/v1/accounts/{id}/transfers"),
    ("get", "/v1/accounts/{id}/balances"),
    ("post", "/v1/credit/programs"),
    ("post", "/v1/credit/commands"),
    ("post", "/v1/credit/day-close"),
    ("get", "/v1/credit/lines/{id}"),
    ("get", "/v1/credit/lines/{id}/raise-check"),
    ("get", "/v1/credit/lines/{id}/plans"),
    ("get", "/v1/credit/programs/{id}/funding"),
    ("get", "/v1/credit/quote"),
    ("get", "/v1/credit/business-date"),
    ("post", "/v1/promotions/campaigns"),
    ("post", "/v1/promotions/commands"),
    ("get", "/v1/promotions/campaigns/{id}"),
    ("get", "/v1/promotions/campaigns/{id}/grabs/{user_id}"),
    ("get", "/v1/promotions/coupons/{id}"),
    ("get", "/v1/promotions/checkouts/{id}"),
    ("get", "/v1/promotions/campaigns/{id}/prizes"),
    ("get", "/v1/promotions/campaigns/{id}/coins/{user_id}"),
    ("get", "/v1/promotions/draws/{id}"),
    ("get", "/v1/promotions/best-coupons"),
    ("post", "/v1/provenance/events"),
    ("get", "/v1/provenance/products"),
    ("get", "/v1/provenance/bundle"),
    ("get", "/v1/provenance/consistency"),
    ("get", "/v1/provenance/proof"),
    ("get", "/v1/provenance/checkpoint"),
    ("get", "/v1/provenance/checkpoint/cosigned"),
    ("post", "/v1/provenance/cosignatures"),
    ("get", "/v1/provenance/keys"),
    ("get", "/v1/provenance/tile/{path}"),
    ("get", "/v1/openapi.json"),
    ("get", "/livez"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

// Goal: the OpenAPI document is valid JSON (3.1), lists exactly the routes the router serves,
// and carries the schemas a client needs (requests, responses, the problem document).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_every_route() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let document = server.get("/v1/openapi.json").await;
    assert_eq!(document.status, 200);
    assert_eq!(document.content_type, "application/json");
    let api = &document.body;
    assert_eq!(api["openapi"], "3.1.0");

    let documented: BTreeSet<(String, String)> = api["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(documented, expected);

    // Every documented route is served: neither 404 not_found nor 405.
    for (method, path) in ROUTES {
        let path = path.replace("{id}", "1").replace("{user_id}", "2");
        let url = format!("{}{path}", server.base);
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("m");
        let answer = server
            .send(
                server
                    .http
                    .request(method, url)
                    .header("content-type", "application/json"),
            )
            .await;
        assert_ne!(answer.body["code"], "not_found", "{path}");
        assert_ne!(answer.status, 405, "{path}");
    }

    let schemas = api["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "Problem",
        "CreateTransfersRequest",
        "TransferInput",
        "TransferOutput",
        "AccountOutput",
        "TransfersPage",
        "U128",
        "TransferFlags",
        "CreateTransferResult",
        "CreateProgramsRequest",
        "ProgramInput",
        "CommandInput",
        "LineOutput",
        "QuoteOutput",
        "CreditResult",
        "Percent",
        "CreateCampaignsRequest",
        "CampaignInput",
        "Offer",
        "PromotionCommandInput",
        "CheckoutInput",
        "CouponIds",
        "CampaignOutput",
        "CouponOutput",
        "CheckoutOutput",
        "DrawOutput",
        "PrizesOutput",
        "PrizeKind",
        "RuleText",
        "PromotionResult",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    let flags = &schemas["TransferFlags"]["items"]["enum"];
    assert_eq!(
        flags.as_array().map(Vec::len),
        Some(ledger::TransferFlags::NAMES.len())
    );
    server.stop().await;
}

// Goal: /livez and /readyz answer 200 on a running node, /metrics is Prometheus text with the
// node's counters after a write and the HTTP duration histogram.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let live = server.get("/livez").await;
    assert_eq!(
        (live.status, live.body["status"].as_str()),
        (200, Some("live"))
    );
    let ready = server.get("/readyz").await;
    assert_eq!(
        (ready.status, ready.body["status"].as_str()),
        (200, Some("ready"))
    );
    server
        .post_ok(
            "/v1/accounts",
            &json!({ "accounts": [account(1, &[])] }),
            &["ok"],
        )
        .await;
    // One request over the binary protocol too, for its latency histogram.
    let tcp = server::TcpServer::bind(
        "127.0.0.1:0",
        server.node.clone(),
        server::TcpConfig::default(),
    )
    .await
    .expect("binary listener binds");
    let tcp_addr = tcp.local_addr().expect("bound");
    let (stop_tcp, tcp_stopped) = tokio::sync::oneshot::channel::<()>();
    let tcp_task = tokio::spawn(tcp.serve(async move {
        let _ = tcp_stopped.await;
    }));
    let mut frame = Vec::new();
    let envelope = protocol::Envelope {
        cluster_id: 0,
        client_id: 7,
        request_number: 1,
    };
    let accounts = vec![ledger::Account {
        id: 2,
        ledger: 1,
        code: 1,
        ..ledger::Account::default()
    }];
    protocol::encode_request(
        &envelope,
        &protocol::RequestBody::Engine(engine::Request::CreateAccounts(accounts)),
        &mut frame,
    );
    let mut stream = tokio::net::TcpStream::connect(tcp_addr)
        .await
        .expect("connects");
    stream.write_all(&frame).await.expect("request sent");
    let mut reply = [0u8; protocol::HEADER_SIZE];
    stream.read_exact(&mut reply).await.expect("reply header");
    let header = protocol::decode_header(&reply).expect("a valid reply header");
    assert_eq!(header.kind, protocol::Kind::Reply);
    drop(stream);
    let _ = stop_tcp.send(());
    tcp_task.await.expect("binary listener stops");
    let metrics = server.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.content_type.starts_with("text/plain"));
    for needle in [
        "elevenfold_batches_total",
        "elevenfold_events_total",
        "elevenfold_http_request_duration_seconds_bucket",
        "route=\"/v1/accounts\"",
        "elevenfold_tcp_request_seconds_bucket",
    ] {
        assert!(
            metrics.text.contains(needle),
            "{needle} missing from /metrics"
        );
    }
    server.stop().await;
}

// Goal: /readyz turns 503 as soon as draining starts, while the node itself still runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_reports_draining() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, _) = node::Node::open(node::Config::new(dir.path())).expect("node opens");
    let options = server::RouterOptions::default();
    let drain = options.drain.clone();
    let app = server::router(node.clone(), options);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/readyz", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    let status = |body: reqwest::Response| body.status().as_u16();
    assert_eq!(status(reqwest::get(&url).await.expect("answer")), 200);
    drain.start();
    let answer = reqwest::get(&url).await.expect("answer");
    assert_eq!(answer.status().as_u16(), 503);
    let body: Value = answer.json().await.expect("json");
    assert_eq!(body["status"], "draining");
    task.abort();
    tokio::task::spawn_blocking(move || node.shutdown())
        .await
        .expect("shutdown");
}

// Goal: after a graceful shutdown, a server started again on the same directory serves every
// account and transfer written before, and accepts new writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    server
        .post_ok(
            "/v1/accounts",
            &json!({ "accounts": [account(1, &[]), account(2, &[])] }),
            &["ok", "ok"],
        )
        .await;
    server
        .post_ok(
            "/v1/transfers",
            &json!({ "transfers": [transfer(10, 1, 2, 33)] }),
            &["ok"],
        )
        .await;
    let before = server.get("/v1/accounts/2").await.body;
    server.stop().await;

    let server = TestServer::start(dir.path()).await;
    assert_eq!(server.get("/readyz").await.status, 200);
    assert_eq!(server.get("/v1/accounts/2").await.body, before);
    assert_eq!(server.get("/v1/transfers/10").await.body["amount"], "33");
    server
        .post_ok(
            "/v1/transfers",
            &json!({ "transfers": [transfer(10, 1, 2, 33), transfer(11, 1, 2, 1)] }),
            &["exists", "ok"],
        )
        .await;
    server.stop().await;
}
