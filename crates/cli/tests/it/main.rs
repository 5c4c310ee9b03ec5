//! End-to-end crash test: the real `elevenfold` binary on loopback, killed with SIGKILL under
//! load, restarted, and checked against the client's record of acknowledged transfers.
//!
//! Method: client threads post requests of `REQUEST_SIZE` single-phase transfers, each credit
//! account 2 with amount 1, and record which requests were acknowledged (HTTP 200, every result
//! `ok`). After a random delay the server is killed with SIGKILL. On restart every acknowledged
//! transfer must be present, and every request must be all-or-nothing (a batch is never half
//! applied). Cycles and time are bounded; `ELEVENFOLD_CRASH_CYCLES` raises the count for the long
//! run (the issue's 1,000-cycle goal).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const REQUEST_SIZE: u64 = 50;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// One HTTP/1.1 exchange on a fresh connection; `None` if the server is unreachable or the
/// connection breaks (the server may be dying).
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let status = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut length = None;
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        if line.trim_end().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().ok();
        }
    }
    let mut body = Vec::new();
    match length {
        Some(n) => {
            body.resize(n, 0);
            reader.read_exact(&mut body).ok()?;
        }
        None => {
            reader.read_to_end(&mut body).ok()?;
        }
    }
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

fn start(dir: &std::path::Path, port: u16) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_elevenfold"))
        .args(["start", "--data-dir"])
        .arg(dir)
        .args(["--http", &format!("127.0.0.1:{port}")])
        .args(["--addr", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the elevenfold binary starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while http(port, "GET", "/readyz", "").map(|(s, _)| s) != Some(200) {
        assert!(Instant::now() < deadline, "server did not become ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn transfers_body(first_id: u64) -> String {
    let items: Vec<String> = (first_id..first_id + REQUEST_SIZE)
        .map(|id| {
            format!(
                "{{\"id\":\"{id}\",\"debit_account_id\":\"1\",\"credit_account_id\":\"2\",\"amount\":\"1\",\"ledger\":1,\"code\":1}}"
            )
        })
        .collect();
    format!("{{\"transfers\":[{}]}}", items.join(","))
}

fn exists(port: u16, id: u64) -> bool {
    match http(port, "GET", &format!("/v1/transfers/{id}"), "") {
        Some((200, _)) => true,
        Some((404, _)) => false,
        other => panic!("lookup of transfer {id} failed: {other:?}"),
    }
}

// Goal: no acknowledged transfer is lost and no request is half applied across SIGKILLs under
// load (method in the module comment).
#[test]
fn kill_nine_under_load_loses_nothing_acknowledged() {
    let cycles: u64 = std::env::var("ELEVENFOLD_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut server = start(dir.path(), port);
    let accounts =
        r#"{"accounts":[{"id":"1","ledger":1,"code":1},{"id":"2","ledger":1,"code":1}]}"#;
    assert_eq!(
        http(port, "POST", "/v1/accounts", accounts).map(|(s, _)| s),
        Some(200)
    );
    let next_request = Arc::new(Mutex::new(0u64));
    let mut acknowledged: Vec<u64> = Vec::new();
    let mut unacknowledged: Vec<u64> = Vec::new();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for cycle in 0..cycles {
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..4)
            .map(|_| {
                let (stop, next_request) = (Arc::clone(&stop), Arc::clone(&next_request));
                std::thread::spawn(move || {
                    let (mut acked, mut unacked) = (Vec::new(), Vec::new());
                    while !stop.load(Ordering::Relaxed) {
                        let request = {
                            let mut next = next_request.lock().expect("lock");
                            *next += 1;
                            *next
                        };
                        let first_id = request * REQUEST_SIZE;
                        match http(port, "POST", "/v1/transfers", &transfers_body(first_id)) {
                            Some((200, body))
                                if body.matches("\"ok\"").count() == REQUEST_SIZE as usize =>
                            {
                                acked.push(first_id);
                            }
                            Some((200, body)) => panic!("unexpected results: {body}"),
                            _ => {
                                unacked.push(first_id);
                                std::thread::sleep(Duration::from_millis(5));
                            }
                        }
                    }
                    (acked, unacked)
                })
            })
            .collect();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(100 + seed % 400));
        server.kill().expect("SIGKILL");
        server.wait().expect("reaped");
        stop.store(true, Ordering::Relaxed);
        for client in clients {
            let (acked, unacked) = client.join().expect("client thread");
            acknowledged.extend(acked);
            unacknowledged.extend(unacked);
        }
        server = start(dir.path(), port);
        for &first_id in &acknowledged {
            for id in [first_id, first_id + REQUEST_SIZE - 1] {
                assert!(
                    exists(port, id),
                    "cycle {cycle}: acknowledged transfer {id} lost"
                );
            }
        }
        for &first_id in &unacknowledged {
            let (first, last) = (
                exists(port, first_id),
                exists(port, first_id + REQUEST_SIZE - 1),
            );
            assert_eq!(
                first, last,
                "cycle {cycle}: request at {first_id} half applied"
            );
        }
        let (status, body) = http(port, "GET", "/v1/accounts/2", "").expect("account read");
        assert_eq!(status, 200);
        let applied = acknowledged.len() as u64 * REQUEST_SIZE;
        let credits: u64 = body
            .split("\"credits_posted\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .and_then(|v| v.parse().ok())
            .expect("credits_posted in account JSON");
        assert!(
            credits >= applied,
            "cycle {cycle}: credits {credits} < acknowledged {applied}"
        );
        assert!(credits <= applied + unacknowledged.len() as u64 * REQUEST_SIZE);
        assert_eq!(credits % REQUEST_SIZE, 0, "a request was half applied");
    }
    assert!(
        acknowledged.len() as u64 > cycles,
        "the load was too light to test anything"
    );
    server.kill().expect("SIGKILL");
    server.wait().expect("reaped");
}
