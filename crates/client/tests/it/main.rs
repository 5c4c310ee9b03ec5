//! End-to-end tests of the binary protocol: a real node and `TcpServer` on 127.0.0.1
//! (ephemeral port) over a temporary data directory, driven by the client and by raw sockets.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use client::{BlockingClient, Client, ClientConfig, Error};
use engine::Request;
use ledger::{
    Account, AccountFlags, CreateAccountResult, CreateTransferResult, LimitChange, SetLimitResult,
    Transfer, TransferFlags,
};
use node::Node;
use protocol::{
    Envelope, ErrorCode, HEADER_SIZE, Header, Kind, RequestBody, decode_header, encode_request,
};
use server::{TcpConfig, TcpServer, TcpStats};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// A node and a binary listener running in the background of the test's runtime.
struct TestServer {
    addr: SocketAddr,
    node: Node,
    stats: Arc<TcpStats>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    async fn start() -> TestServer {
        TestServer::start_with(TcpConfig::default()).await
    }

    async fn start_with(config: TcpConfig) -> TestServer {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().to_path_buf();
        let (node, _) = tokio::task::spawn_blocking(move || Node::open(node::Config::new(path)))
            .await
            .expect("open task")
            .expect("node opens");
        let server = TcpServer::bind("127.0.0.1:0", node.clone(), config)
            .await
            .expect("listener binds");
        let addr = server.local_addr().expect("bound");
        let stats = server.stats();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async move {
            let _ = stop.await;
        }));
        TestServer {
            addr,
            node,
            stats,
            shutdown,
            task,
            _dir: dir,
        }
    }

    async fn client(&self) -> Client {
        Client::connect(self.addr, 0)
            .await
            .expect("client connects")
    }

    async fn stop(self) {
        let _ = self.shutdown.send(());
        self.task.await.expect("serve does not panic");
        let node = self.node.clone();
        tokio::task::spawn_blocking(move || node.shutdown())
            .await
            .expect("node shuts down");
    }

    fn transfer_count(&self) -> u64 {
        self.node.read(|state| state.ledger().transfer_count())
    }
}

fn account(id: u128) -> Account {
    Account {
        id,
        ledger: 1,
        code: 1,
        ..Account::default()
    }
}

fn transfer(id: u128, debit: u128, credit: u128, amount: u128) -> Transfer {
    Transfer {
        id,
        debit_account_id: debit,
        credit_account_id: credit,
        amount,
        ledger: 1,
        code: 1,
        ..Transfer::default()
    }
}

/// Reads one frame's header from a raw socket.
async fn read_header(stream: &mut TcpStream) -> Header {
    let mut bytes = [0u8; HEADER_SIZE];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut bytes))
        .await
        .expect("a frame arrives in time")
        .expect("a whole header");
    decode_header(&bytes).expect("the server sends valid headers")
}

/// Asserts the server sent an error frame with `code`, then closed the connection.
async fn expect_refusal(stream: &mut TcpStream, code: ErrorCode) -> Header {
    let header = read_header(stream).await;
    assert_eq!(header.kind, Kind::Error);
    assert_eq!(ErrorCode::from_number(header.error_code), Some(code));
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest))
        .await
        .expect("the server closes in time");
    assert!(
        matches!(read, Ok(0)) || read.is_err(),
        "nothing follows an error frame: {read:?}"
    );
    header
}

fn transfer_frame(request_number: u64, transfers: Vec<Transfer>) -> Vec<u8> {
    let mut frame = Vec::new();
    encode_request(
        &Envelope {
            cluster_id: 0,
            client_id: 42,
            request_number,
        },
        &RequestBody::Engine(Request::CreateTransfers(transfers)),
        &mut frame,
    );
    frame
}

// Goal: the basic path works end to end: accounts, transfers, limits, lookups in order with
// missing ids left out, and balances that add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_and_looks_up() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let accounts = vec![
        account(1),
        Account {
            flags: AccountFlags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
            ..account(2)
        },
    ];
    assert_eq!(client.create_accounts(accounts).await.unwrap(), vec![]);
    let transfers = vec![
        transfer(10, 1, 2, 10),
        transfer(11, 1, 2, 20),
        transfer(12, 1, 2, 30),
    ];
    assert_eq!(client.create_transfers(transfers).await.unwrap(), vec![]);

    let found = client.lookup_accounts(vec![2, 99, 1]).await.unwrap();
    assert_eq!(found.iter().map(|a| a.id).collect::<Vec<_>>(), vec![2, 1]);
    assert_eq!(found[0].credits_posted, 60);
    assert_eq!(found[1].debits_posted, 60);
    assert!(found[0].timestamp > 0);

    let found = client.lookup_transfers(vec![12, 1000, 10]).await.unwrap();
    assert_eq!(found.iter().map(|t| t.id).collect::<Vec<_>>(), vec![12, 10]);
    assert_eq!(found[0].amount, 30);

    let changes = vec![
        LimitChange {
            account_id: 2,
            debit_limit: Some(500),
            credit_limit: None,
        },
        LimitChange {
            account_id: 1,
            debit_limit: Some(500),
            credit_limit: None,
        },
    ];
    assert_eq!(
        client.set_account_limits(changes).await.unwrap(),
        vec![(
            1,
            SetLimitResult::DebitLimitRequiresDebitsMustNotExceedCredits
        )]
    );
    // Account 2 may now run 500 into debit beyond its 60 of credits.
    assert_eq!(
        client
            .create_transfers(vec![transfer(13, 2, 1, 560), transfer(14, 2, 1, 1)])
            .await
            .unwrap(),
        vec![(1, CreateTransferResult::ExceedsCredits)]
    );
    server.stop().await;
}

// Goal: failing events come back with their stable codes at their own indexes, including a
// linked chain that fails as a unit; empty and oversized calls are answered without sending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_carry_their_codes() {
    let server = TestServer::start().await;
    let client = server.client().await;
    assert_eq!(
        client
            .create_accounts(vec![account(1), account(2), account(1), account(0)])
            .await
            .unwrap(),
        vec![
            (2, CreateAccountResult::Exists),
            (3, CreateAccountResult::IdMustNotBeZero)
        ]
    );
    let linked = Transfer {
        flags: TransferFlags(TransferFlags::LINKED),
        ..transfer(20, 1, 2, 5)
    };
    assert_eq!(
        client
            .create_transfers(vec![
                transfer(10, 1, 2, 5),
                transfer(11, 1, 1, 5),
                linked,
                transfer(21, 1, 3, 5),
            ])
            .await
            .unwrap(),
        vec![
            (1, CreateTransferResult::AccountsMustBeDifferent),
            (2, CreateTransferResult::LinkedEventFailed),
            (3, CreateTransferResult::CreditAccountNotFound),
        ]
    );
    let before = client.stats();
    assert_eq!(client.create_transfers(vec![]).await.unwrap(), vec![]);
    let too_many = vec![transfer(1, 1, 2, 1); 8190];
    assert!(matches!(
        client.create_transfers(too_many).await,
        Err(Error::TooManyEvents {
            event_count: 8190,
            limit: 8189
        })
    ));
    assert_eq!(client.stats().requests, before.requests);
    server.stop().await;
}

/// How long the client waits for a burst of callers. A burst of 10,000 task wake-ups takes
/// about 10 ms on the 2-core test machine at the test profile's opt-level, and other test
/// binaries or builds may preempt it for milliseconds: longer than the defaults (a lone caller
/// should not wait), so the test widens both windows.
const GATHER_QUIET: Duration = Duration::from_millis(25);
const GATHER_WAIT_MAX: Duration = Duration::from_millis(500);

// Goal: 10,000 tasks each creating one transfer through one client travel as full batches.
// Method: release the tasks at once (a barrier); count the requests the server decoded during
// the burst and the largest request the client sent: a full request of 8189, then the rest
// (a preempted burst may split once more). Every transfer applies once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_callers_make_full_batches() {
    let server = TestServer::start().await;
    let config = ClientConfig {
        gather_quiet: GATHER_QUIET,
        gather_wait_max: GATHER_WAIT_MAX,
        ..ClientConfig::new(0)
    };
    let client = Client::connect_with(server.addr, config).await.unwrap();
    assert_eq!(
        client
            .create_accounts(vec![account(1), account(2)])
            .await
            .unwrap(),
        vec![]
    );
    let (requests_before, events_before) = server.stats.requests_and_events();
    let start = tokio::sync::Barrier::new(10_001);
    let start = Arc::new(start);
    let tasks: Vec<_> = (1..=10_000u128)
        .map(|id| {
            let client = client.clone();
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                client.create_transfers(vec![transfer(id, 1, 2, 1)]).await
            })
        })
        .collect();
    start.wait().await;
    for task in tasks {
        assert_eq!(task.await.expect("task").expect("answered"), vec![]);
    }
    let (requests_after, events_after) = server.stats.requests_and_events();
    let requests = requests_after - requests_before;
    assert_eq!(events_after - events_before, 10_000);
    assert_eq!(server.transfer_count(), 10_000);
    let stats = client.stats();
    eprintln!("10,000 single-transfer calls: {requests} requests, {stats:?}");
    assert_eq!(stats.request_events_max, 8189, "a full request was sent");
    assert!(requests <= 3, "{requests} requests for 10,000 events");
    let accounts = client.lookup_accounts(vec![2]).await.unwrap();
    assert_eq!(accounts[0].credits_posted, 10_000);
    server.stop().await;
}

// Goal: an invalid frame is answered with an error frame naming the problem, then the
// connection closes; other connections are unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_frames_are_refused_and_closed() {
    let server = TestServer::start().await;

    // A damaged body: the error frame names the request it refuses.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut frame = transfer_frame(7, vec![transfer(1, 1, 2, 1)]);
    frame[HEADER_SIZE + 3] ^= 0x40;
    stream.write_all(&frame).await.unwrap();
    let header = expect_refusal(&mut stream, ErrorCode::BodyChecksum).await;
    assert_eq!(header.envelope.request_number, 7);

    // Not our protocol at all.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut garbage = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec();
    garbage.resize(HEADER_SIZE, b' ');
    stream.write_all(&garbage).await.unwrap();
    expect_refusal(&mut stream, ErrorCode::BadMagic).await;

    // A frame for another cluster.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut frame = Vec::new();
    encode_request(
        &Envelope {
            cluster_id: 9,
            client_id: 1,
            request_number: 1,
        },
        &RequestBody::LookupAccounts(vec![1]),
        &mut frame,
    );
    stream.write_all(&frame).await.unwrap();
    expect_refusal(&mut stream, ErrorCode::ClusterMismatch).await;

    // The client sees a refusal as a typed error, and nothing was applied.
    let other = Client::connect_with(server.addr, ClientConfig::new(9))
        .await
        .unwrap();
    let refused = other.create_accounts(vec![account(1)]).await;
    assert!(
        matches!(refused, Err(Error::Refused { code }) if code == ErrorCode::ClusterMismatch.number()),
        "{refused:?}"
    );
    let client = server.client().await;
    assert_eq!(
        client.create_accounts(vec![account(1)]).await.unwrap(),
        vec![]
    );
    assert_eq!(
        server
            .stats
            .frames_refused
            .load(std::sync::atomic::Ordering::Relaxed),
        4
    );
    server.stop().await;
}

// Goal: connections beyond `connections_max` get `too_many_connections` and a close, and a
// slot freed is usable again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_connections_are_refused() {
    let server = TestServer::start_with(TcpConfig {
        connections_max: 2,
        ..TcpConfig::default()
    })
    .await;
    // Two clients that proved their connections were accepted.
    let first = server.client().await;
    let second = server.client().await;
    assert_eq!(first.lookup_accounts(vec![1]).await.unwrap(), vec![]);
    assert_eq!(second.lookup_accounts(vec![1]).await.unwrap(), vec![]);

    let mut third = TcpStream::connect(server.addr).await.unwrap();
    expect_refusal(&mut third, ErrorCode::TooManyConnections).await;
    assert_eq!(
        server
            .stats
            .connections_rejected
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );

    // The slot frees once the server notices the close; a new client retries until then.
    drop(first);
    let retried = Client::connect(server.addr, 0).await.unwrap();
    assert_eq!(
        retried.create_accounts(vec![account(1)]).await.unwrap(),
        vec![]
    );
    server.stop().await;
}

// Goal: a client that sends half a frame and stalls holds up nobody: another client is served
// meanwhile, and the staller gets `frame_timeout` and a close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_half_frame_blocks_nobody() {
    let frame_timeout = Duration::from_millis(1500);
    let server = TestServer::start_with(TcpConfig {
        frame_timeout,
        ..TcpConfig::default()
    })
    .await;
    let started = Instant::now();
    let mut staller = TcpStream::connect(server.addr).await.unwrap();
    let frame = transfer_frame(1, vec![transfer(1, 1, 2, 1)]);
    staller.write_all(&frame[..HEADER_SIZE + 60]).await.unwrap();

    let client = server.client().await;
    assert_eq!(
        client
            .create_accounts(vec![account(1), account(2)])
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        client
            .create_transfers(vec![transfer(5, 1, 2, 1)])
            .await
            .unwrap(),
        vec![]
    );
    assert!(
        started.elapsed() < frame_timeout,
        "served while the staller held its frame open"
    );
    expect_refusal(&mut staller, ErrorCode::FrameTimeout).await;
    assert!(started.elapsed() >= frame_timeout);
    assert_eq!(server.transfer_count(), 1, "the half frame was not applied");
    server.stop().await;
}

const WRITE_TIMEOUT: Duration = Duration::from_millis(1500);

// Goal: a client that floods requests and never reads its replies stalls only itself: the
// server stops reading it (back-pressure), serves another client meanwhile, and disconnects the
// flooder once a reply waits longer than `write_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_stalls_only_itself() {
    let server = TestServer::start_with(TcpConfig {
        write_timeout: WRITE_TIMEOUT,
        requests_in_flight_max: 2,
        ..TcpConfig::default()
    })
    .await;
    let client = server.client().await;
    let accounts: Vec<Account> = (1..=8189).map(account).collect();
    assert_eq!(client.create_accounts(accounts).await.unwrap(), vec![]);

    // Each lookup of all 8189 accounts is answered with 1 MiB; 256 of them overflow every
    // socket buffer between the two ends many times over.
    let mut frame = Vec::new();
    encode_request(
        &Envelope {
            cluster_id: 0,
            client_id: 5,
            request_number: 1,
        },
        &RequestBody::LookupAccounts((1..=8189).collect()),
        &mut frame,
    );
    let (mut flood_read, mut flood_write) =
        TcpStream::connect(server.addr).await.unwrap().into_split();
    let flood = tokio::spawn(async move {
        let mut sent = 0;
        while sent < 256 && flood_write.write_all(&frame).await.is_ok() {
            sent += 1;
        }
        sent
    });
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    assert_eq!(
        client
            .create_transfers(vec![transfer(1, 1, 2, 5)])
            .await
            .unwrap(),
        vec![]
    );
    assert!(
        started.elapsed() < WRITE_TIMEOUT,
        "served while the flooder's connection was stalled"
    );

    let sent = tokio::time::timeout(Duration::from_secs(20), flood)
        .await
        .expect("the flooder is cut off")
        .unwrap();
    assert!(sent < 256, "the server stopped reading the flooder");
    // Its connection ends (after whatever replies were already buffered).
    tokio::time::timeout(
        Duration::from_secs(20),
        tokio::io::copy(&mut flood_read, &mut tokio::io::sink()),
    )
    .await
    .expect("the flooder's connection closes")
    .ok();
    assert_eq!(server.transfer_count(), 1);
    server.stop().await;
}

/// A proxy that drops the first reply frame and closes that connection, recording the request
/// numbers it forwards. Later connections pass through.
async fn lossy_proxy(target: SocketAddr, numbers: Arc<Mutex<Vec<u64>>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((mut inbound, _)) = listener.accept().await {
            let mut outbound = TcpStream::connect(target).await.unwrap();
            let numbers = Arc::clone(&numbers);
            let lose_reply = std::mem::replace(&mut first, false);
            tokio::spawn(async move {
                let (mut client_read, mut client_write) = inbound.split();
                let (mut server_read, mut server_write) = outbound.split();
                let upstream = async {
                    loop {
                        let mut header = [0u8; HEADER_SIZE];
                        if client_read.read_exact(&mut header).await.is_err() {
                            return;
                        }
                        let header_decoded = decode_header(&header).unwrap();
                        numbers
                            .lock()
                            .unwrap()
                            .push(header_decoded.envelope.request_number);
                        let mut body = vec![0u8; header_decoded.body_size as usize];
                        client_read.read_exact(&mut body).await.unwrap();
                        server_write.write_all(&header).await.unwrap();
                        server_write.write_all(&body).await.unwrap();
                    }
                };
                let downstream = async {
                    if lose_reply {
                        let mut header = [0u8; HEADER_SIZE];
                        let _ = server_read.read_exact(&mut header).await;
                        return;
                    }
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                };
                tokio::select! {
                    () = upstream => {}
                    () = downstream => {}
                }
            });
        }
    });
    addr
}

// Goal: a request whose reply was lost is sent again with the same request number after a
// reconnect, and the server's idempotency makes the retry safe: the transfer is applied once,
// and the retry answers `exists` (documented in docs/protocol.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_reply_is_retried_with_the_same_request_number() {
    let server = TestServer::start().await;
    server
        .node
        .execute(Request::CreateAccounts(vec![account(1), account(2)]))
        .await
        .unwrap();
    let numbers = Arc::new(Mutex::new(Vec::new()));
    let proxy = lossy_proxy(server.addr, Arc::clone(&numbers)).await;
    let client = Client::connect(proxy, 0).await.unwrap();
    let results = client
        .create_transfers(vec![transfer(7, 1, 2, 100)])
        .await
        .unwrap();
    assert_eq!(results, vec![(0, CreateTransferResult::Exists)]);
    assert_eq!(*numbers.lock().unwrap(), vec![1, 1]);
    assert_eq!(server.transfer_count(), 1);
    let stats = client.stats();
    assert_eq!((stats.requests, stats.resends), (1, 1));
    // Later requests take new numbers.
    assert_eq!(
        client
            .create_transfers(vec![transfer(8, 1, 2, 1)])
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(*numbers.lock().unwrap(), vec![1, 1, 2]);
    server.stop().await;
}

// Goal: a server that never answers makes a call fail with `Timeout` after `call_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let config = ClientConfig {
        call_timeout: Duration::from_millis(300),
        ..ClientConfig::new(0)
    };
    let client = Client::connect_with(addr, config).await.unwrap();
    let started = Instant::now();
    let result = client.lookup_accounts(vec![1]).await;
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    hold.abort();
}

// Goal: the blocking client works from plain threads, and calls from several threads coalesce.
#[test]
fn blocking_client_works_from_threads() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(TestServer::start());
    let client = BlockingClient::connect(&server.addr.to_string(), 0).unwrap();
    assert_eq!(
        client
            .create_accounts(vec![account(1), account(2)])
            .unwrap(),
        vec![]
    );
    let threads: Vec<_> = (0..4u128)
        .map(|thread| {
            let client = client.clone();
            std::thread::spawn(move || {
                for i in 0..25u128 {
                    let id = 100 + thread * 100 + i;
                    assert_eq!(
                        client
                            .create_transfers(vec![transfer(id, 1, 2, 1)])
                            .unwrap(),
                        vec![]
                    );
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(client.lookup_transfers(vec![100, 424]).unwrap().len(), 2);
    assert_eq!(
        client.lookup_accounts(vec![2]).unwrap()[0].credits_posted,
        100
    );
    drop(client);
    runtime.block_on(server.stop());
}
