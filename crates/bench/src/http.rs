//! The HTTP mode: keep-alive connections posting pre-encoded JSON bodies, with a minimal
//! HTTP/1.1 client so the client side costs as little of the shared CPU as possible.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ledger::{Account, Transfer};

use crate::{Config, Workload, histogram, record, report};

fn flag_names(bits: u16, names: &[(u16, &str)]) -> String {
    let names: Vec<String> = names
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| format!("\"{n}\""))
        .collect();
    format!("[{}]", names.join(","))
}

fn accounts_body(accounts: &[Account]) -> Vec<u8> {
    let items: Vec<String> = accounts
        .iter()
        .map(|a| {
            format!(
                "{{\"id\":\"{}\",\"ledger\":{},\"code\":{},\"flags\":{}}}",
                a.id,
                a.ledger,
                a.code,
                flag_names(a.flags.0, &ledger::AccountFlags::NAMES)
            )
        })
        .collect();
    format!("{{\"accounts\":[{}]}}", items.join(",")).into_bytes()
}

fn transfers_body(transfers: &[Transfer]) -> Vec<u8> {
    let items: Vec<String> = transfers
        .iter()
        .map(|t| {
            format!(
                "{{\"id\":\"{}\",\"debit_account_id\":\"{}\",\"credit_account_id\":\"{}\",\"amount\":\"{}\",\"ledger\":{},\"code\":{},\"flags\":{}}}",
                t.id,
                t.debit_account_id,
                t.credit_account_id,
                t.amount,
                t.ledger,
                t.code,
                flag_names(t.flags.0, &ledger::TransferFlags::NAMES)
            )
        })
        .collect();
    format!("{{\"transfers\":[{}]}}", items.join(",")).into_bytes()
}

struct Connection {
    reader: BufReader<TcpStream>,
    host: String,
}

impl Connection {
    fn open(addr: &str) -> Result<Connection, String> {
        let stream = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(Connection {
            reader: BufReader::new(stream),
            host: addr.to_string(),
        })
    }

    /// Posts `body` and returns (status, response body).
    fn post(&mut self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), String> {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        let stream = self.reader.get_mut();
        stream
            .write_all(head.as_bytes())
            .map_err(|e| e.to_string())?;
        stream.write_all(body).map_err(|e| e.to_string())?;
        let mut line = String::new();
        self.reader
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("bad status line")?;
        let mut length = 0usize;
        loop {
            line.clear();
            self.reader
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().map_err(|_| "bad content-length")?;
            }
        }
        let mut response = vec![0; length];
        self.reader
            .read_exact(&mut response)
            .map_err(|e| e.to_string())?;
        Ok((status, response))
    }
}

fn count_rejected(body: &[u8], event_count: usize) -> u64 {
    let text = String::from_utf8_lossy(body);
    let ok = text.matches("\"ok\"").count();
    (event_count.saturating_sub(ok)) as u64
}

/// Starts a server on a free loopback port and a temporary directory, in this process.
fn start_server(
    config: &Config,
) -> Result<(String, std::thread::JoinHandle<()>, tokio_shutdown::Sender), String> {
    let _ = config;
    Err(
        "the http mode needs --addr of a running server until the in-process server is wired"
            .to_string(),
    )
}

mod tokio_shutdown {
    pub type Sender = ();
}

pub fn run(
    config: &Config,
    workload: &Workload,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<crate::Report, String> {
    let addr = match &config.addr {
        Some(addr) => addr
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string(),
        None => start_server(config)?.0,
    };
    let mut setup = Connection::open(&addr)?;
    for chunk in workload.accounts.chunks(engine::REQUEST_EVENTS_MAX) {
        let (status, _) = setup.post("/v1/accounts", &accounts_body(chunk))?;
        if status != 200 {
            return Err(format!("creating accounts: HTTP {status}"));
        }
    }
    let bodies: Vec<(usize, Vec<u8>)> = workload
        .transfers
        .chunks(workload.batch_size)
        .map(|c| (c.len(), transfers_body(c)))
        .collect();
    let total = bodies.len();
    let queue = Arc::new(Mutex::new(bodies.into_iter().enumerate()));
    let started = Instant::now();
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..config.clients.max(1))
            .map(|_| {
                let queue = Arc::clone(&queue);
                let addr = addr.clone();
                scope.spawn(move || {
                    let mut connection = Connection::open(&addr)?;
                    let mut latency = histogram();
                    let mut rejected = 0;
                    loop {
                        let next = queue.lock().expect("queue lock").next();
                        let Some((index, (count, body))) = next else {
                            break;
                        };
                        let request_started = Instant::now();
                        let (status, response) = connection.post("/v1/transfers", &body)?;
                        record(&mut latency, request_started.elapsed());
                        if status != 200 {
                            return Err(format!(
                                "HTTP {status}: {}",
                                String::from_utf8_lossy(&response)
                            ));
                        }
                        rejected += count_rejected(&response, count);
                        if index % 4 == 0 {
                            #[expect(clippy::cast_precision_loss, reason = "progress only")]
                            progress(index as f64 / total as f64);
                        }
                    }
                    Ok::<_, String>((latency, rejected))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect::<Vec<_>>()
    });
    let elapsed = started.elapsed();
    let mut latency = histogram();
    let mut rejected = 0;
    for result in results {
        let (client_latency, client_rejected) = result?;
        latency.add(client_latency).expect("same bounds");
        rejected += client_rejected;
    }
    Ok(report(config, elapsed, &latency, rejected))
}
