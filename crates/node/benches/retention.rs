//! `cargo bench -p node --bench retention`: how much memory a node needs to retain N transfers.
//!
//! Opens a durable node on a fresh directory (under `RETENTION_DIR`, default the system temp
//! dir), creates 10,000 accounts, then commits `TRANSFERS` (default 100 million) single-phase
//! transfers in full 8,189-event requests from 4 submitting threads, generating them on the fly
//! so the benchmark itself holds no workload in memory. Every 10% it prints throughput, the
//! node's resident memory (VmRSS) and its peak (VmHWM), and the ledger's cold floor. Then it
//! restarts the node and reports recovery time and memory after recovery, and checks a few old
//! transfers answer from the record file.
//!
//! The requirement it checks: retaining 100 million transfers fits in 8 GiB RSS.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use engine::{Reply, Request};
use ledger::{Account, ColdStore, Transfer};
use node::{Config, Node};

const ACCOUNTS: u64 = 10_000;
const REQUEST_EVENTS: u64 = 8189;
const SUBMITTERS: u64 = 4;

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn gib(kib: u64) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "reporting")]
    let gib = kib as f64 / (1024.0 * 1024.0);
    gib
}

fn transfer(index: u64) -> Transfer {
    // A cheap deterministic mix, so accounts are spread without a generator's state.
    let mix = index.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    let debit = mix % ACCOUNTS;
    let credit = (debit + 1 + (mix >> 32) % (ACCOUNTS - 1)) % ACCOUNTS;
    Transfer {
        id: u128::from(index) + 1,
        debit_account_id: u128::from(debit) + 1,
        credit_account_id: u128::from(credit) + 1,
        amount: u128::from(1 + mix % 1000),
        ledger: 1,
        code: 1,
        ..Transfer::default()
    }
}

fn main() {
    let total: u64 = std::env::var("TRANSFERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000_000);
    let parent = std::env::var("RETENTION_DIR").map_or_else(|_| std::env::temp_dir(), Into::into);
    let dir = tempfile::Builder::new()
        .prefix("elevenfold-retention-")
        .tempdir_in(parent)
        .expect("temp dir");
    let config = Config::new(dir.path());
    let (node, _) = Node::open(config.clone()).expect("node opens");
    let accounts: Vec<Account> = (1..=u128::from(ACCOUNTS))
        .map(|id| Account {
            id,
            ledger: 1,
            code: 1,
            ..Account::default()
        })
        .collect();
    for chunk in accounts.chunks(8189) {
        node.execute_blocking(Request::CreateAccounts(chunk.to_vec()))
            .expect("accounts");
    }
    println!(
        "transfers,seconds,transfers_per_second,rss_gib,peak_rss_gib,cold_floor,tail_in_memory"
    );
    let requests = total.div_ceil(REQUEST_EVENTS);
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..SUBMITTERS {
            scope.spawn(|| {
                loop {
                    let request = next.fetch_add(1, Ordering::Relaxed);
                    if request >= requests {
                        break;
                    }
                    let first = request * REQUEST_EVENTS;
                    let last = (first + REQUEST_EVENTS).min(total);
                    let transfers = (first..last).map(transfer).collect();
                    let reply = node
                        .execute_blocking(Request::CreateTransfers(transfers))
                        .expect("committed");
                    let Reply::CreateTransfers(results) = reply else {
                        panic!("unexpected reply");
                    };
                    assert!(results.iter().all(|r| r.name() == "ok"));
                    let before = done.fetch_add(last - first, Ordering::Relaxed);
                    let tenth = total / 10;
                    if tenth > 0 && (before + last - first) / tenth > before / tenth {
                        let count = before + last - first;
                        let elapsed = started.elapsed().as_secs_f64();
                        let (floor, stored) =
                            node.read(|s| (s.ledger().cold_floor(), s.ledger().transfer_count()));
                        #[expect(clippy::cast_precision_loss, reason = "reporting")]
                        let rate = count as f64 / elapsed;
                        println!(
                            "{count},{elapsed:.1},{rate:.0},{:.2},{:.2},{floor},{}",
                            gib(status_kib("VmRSS:")),
                            gib(status_kib("VmHWM:")),
                            stored - floor
                        );
                    }
                }
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    #[expect(clippy::cast_precision_loss, reason = "reporting")]
    let rate = total as f64 / elapsed;
    println!(
        "committed {total} transfers in {elapsed:.1} s = {rate:.0}/s; RSS {:.2} GiB, peak {:.2} GiB",
        gib(status_kib("VmRSS:")),
        gib(status_kib("VmHWM:"))
    );
    node.shutdown();
    drop(node);
    let recovery_started = Instant::now();
    let (node, report) = Node::open(config).expect("node reopens");
    println!(
        "recovered in {:.1} s ({} transfers read back from the record file, {} batches replayed); RSS {:.2} GiB, peak {:.2} GiB",
        recovery_started.elapsed().as_secs_f64(),
        report.cold_transfers,
        report.replayed_batches,
        gib(status_kib("VmRSS:")),
        gib(status_kib("VmHWM:"))
    );
    for index in [0, total / 2, total - 1] {
        let want = transfer(index);
        let found = node
            .read(|s| s.ledger().lookup_transfer(want.id, node.cold()))
            .expect("reads")
            .expect("found");
        assert_eq!(
            (found.debit_account_id, found.amount),
            (want.debit_account_id, want.amount)
        );
    }
    let cold_reads = node.cold().read(0).expect("position 0 reads");
    assert_eq!(cold_reads.id, 1);
    node.read(|s| s.ledger().check_conservation());
    node.shutdown();
    println!("old transfers answer from the record file; debits equal credits");
}
