//! A quick throughput probe of the binary path: node + `TcpServer` on a temporary directory,
//! driven through one `Client` (durable: fsync before every reply).
//!
//! `cargo run --release -p client --example throughput -- full 2000000` sends 8189-event
//! vectors from 4 tasks; `... -- single 500000` runs 10,000 tasks that each create one transfer
//! at a time. Not the benchmark of record (that is `elevenfold bench ledger`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use client::Client;
use ledger::{Account, Transfer};
use server::{TcpConfig, TcpServer};

const ACCOUNT_COUNT: u128 = 10_000;
const BATCH: u64 = 8189;

fn transfer(id: u64) -> Transfer {
    let id = u128::from(id);
    Transfer {
        id,
        debit_account_id: 1 + id % ACCOUNT_COUNT,
        credit_account_id: 1 + (id * 7 + 1) % ACCOUNT_COUNT,
        amount: 1,
        ledger: 1,
        code: 1,
        ..Transfer::default()
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "full".to_string());
    let transfer_count: u64 = args
        .next()
        .map_or(1_000_000, |n| n.parse().expect("a transfer count"));

    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().to_path_buf();
    let (node, _) = tokio::task::spawn_blocking(move || node::Node::open(node::Config::new(path)))
        .await
        .expect("open task")
        .expect("node opens");
    let server = TcpServer::bind("127.0.0.1:0", node.clone(), TcpConfig::default())
        .await
        .expect("binds");
    let addr = server.local_addr().expect("bound");
    let stats = server.stats();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));

    let client = Client::connect(addr, 0).await.expect("connects");
    let accounts: Vec<Account> = (1..=ACCOUNT_COUNT)
        .map(|id| Account {
            id,
            ledger: 1,
            code: 1,
            ..Account::default()
        })
        .collect();
    for chunk in accounts.chunks(BATCH as usize) {
        assert!(
            client
                .create_accounts(chunk.to_vec())
                .await
                .unwrap()
                .is_empty()
        );
    }

    let (requests_before, _) = stats.requests_and_events();
    let next = Arc::new(AtomicU64::new(1));
    let started = Instant::now();
    let (tasks, per_call) = match mode.as_str() {
        "single" => (10_000, 1),
        _ => (4, BATCH),
    };
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let client = client.clone();
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                loop {
                    let first = next.fetch_add(per_call, Ordering::Relaxed);
                    if first > transfer_count {
                        return;
                    }
                    let last = (first + per_call - 1).min(transfer_count);
                    let batch: Vec<Transfer> = (first..=last).map(transfer).collect();
                    let failures = client.create_transfers(batch).await.expect("answered");
                    assert!(failures.is_empty(), "{failures:?}");
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("task");
    }
    let elapsed = started.elapsed();
    let (requests_after, _) = stats.requests_and_events();
    let requests = requests_after - requests_before;
    println!(
        "mode={mode} transfers={transfer_count} seconds={:.3} transfers_per_second={:.0} \
         requests={requests} events_per_request={:.0} client={:?}",
        elapsed.as_secs_f64(),
        transfer_count as f64 / elapsed.as_secs_f64(),
        transfer_count as f64 / requests as f64,
        client.stats(),
    );
    let _ = stop.send(());
    serving.await.expect("serve");
    tokio::task::spawn_blocking(move || node.shutdown())
        .await
        .expect("shutdown");
}
