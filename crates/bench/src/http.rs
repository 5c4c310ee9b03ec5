//! The HTTP mode: keep-alive connections posting pre-encoded JSON bodies, with a minimal
//! HTTP/1.1 client so the client side costs as little of the shared CPU as possible.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use ledger::{Account, Transfer};

use crate::{Config, Workload, report};

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

/// A server started by the benchmark, in this process, on a free loopback port.
struct LocalServer {
    addr: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl LocalServer {
    fn start(dir: &std::path::Path, node: node::Config) -> Result<LocalServer, String> {
        let config = server::ServerConfig {
            node,
            ..server::ServerConfig::new(dir, "127.0.0.1:0")
        };
        let (addr_sender, addr_receiver) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async move {
                let bound = server::Server::bind(config)
                    .await
                    .map_err(|e| format!("{e:#}"));
                let server = match bound {
                    Ok(server) => server,
                    Err(error) => {
                        let _ = addr_sender.send(Err(error.clone()));
                        return Err(error);
                    }
                };
                let addr = server.local_addr().map_err(|e| e.to_string())?;
                let _ = addr_sender.send(Ok(addr.to_string()));
                server
                    .serve(async move { drop(stopped.await) })
                    .await
                    .map_err(|e| format!("{e:#}"))
            })
        });
        let addr = addr_receiver
            .recv()
            .map_err(|_| "the server thread died".to_string())??;
        Ok(LocalServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub fn run(
    config: &Config,
    workload: &Workload,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<crate::Report, String> {
    let (_temp, dir) = crate::data_dir(config)?;
    let local = match &config.addr {
        Some(_) => None,
        None => Some(LocalServer::start(&dir, crate::node_config(config, &dir))?),
    };
    let addr = match (&config.addr, &local) {
        (Some(addr), _) => addr
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string(),
        (_, Some(local)) => local.addr.clone(),
        (None, None) => return Err("no server address".to_string()),
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
    let connect = || Connection::open(&addr);
    let (elapsed, latency, rejected) = crate::drive_clients(
        config.clients,
        bodies,
        progress,
        connect,
        |connection, (count, body)| {
            let (status, response) = connection.post("/v1/transfers", &body)?;
            if status != 200 {
                return Err(format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&response)
                ));
            }
            Ok(count_rejected(&response, count))
        },
    )?;
    Ok(report(config, elapsed, &latency, rejected))
}
