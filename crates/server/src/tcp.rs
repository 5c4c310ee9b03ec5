//! The binary-protocol listener: frames of `protocol` over TCP, straight to the node.
//!
//! Per connection, a reader task reads a frame (the header first; its checksum is verified
//! before its `body_size` is trusted), decodes it, submits writes to the node (`Node::submit`)
//! and queues the pending reply; a writer task sends replies in request order. The queue between
//! them is bounded (`requests_in_flight_max`): when it is full the reader stops reading, so a
//! client that floods requests or never reads its replies only stalls itself (TCP back-pressure),
//! never the node or other clients. Lookups run when the writer reaches them, after every
//! earlier request on the connection was answered, so a connection reads its own writes.
//!
//! Limits: `connections_max` (more are answered with a `too_many_connections` error frame and
//! closed), `body_size_max`, `frame_timeout` (a frame that started must arrive whole within it:
//! a client cannot hold a reader by sending half a frame), `write_timeout` (a client must take
//! each reply within it). An invalid frame is answered with an error frame naming the problem,
//! then the connection closes: after a framing error the byte stream cannot be trusted.
//!
//! What it does NOT do: remember request numbers (a repeated request is executed again; the
//! ledger's idempotency by id answers `exists`), authenticate, or shut the node down (whoever
//! owns the node does, after `serve` returns).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use engine::Request;
use node::Node;
use protocol::{
    BODY_SIZE_MAX, DecodeError, Envelope, ErrorCode, HEADER_SIZE, Header, Kind, Operation,
    ReplyBody, RequestBody, decode_header, decode_request, encode_error, encode_reply,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

/// How the binary listener runs: its cluster and its limits.
#[derive(Clone, Debug)]
pub struct TcpConfig {
    /// Frames for another cluster are refused with `cluster_mismatch`.
    pub cluster_id: u128,
    /// Open connections at most; more are sent `too_many_connections` and closed.
    pub connections_max: usize,
    /// Largest body accepted; at most `protocol::BODY_SIZE_MAX`.
    pub body_size_max: u32,
    /// A frame whose first byte arrived must be complete within this.
    pub frame_timeout: Duration,
    /// Each reply frame must be taken by the client within this.
    pub write_timeout: Duration,
    /// Requests read from one connection but not yet answered, at most; at the limit the
    /// server stops reading that connection.
    pub requests_in_flight_max: usize,
}

impl Default for TcpConfig {
    fn default() -> TcpConfig {
        TcpConfig {
            cluster_id: 0,
            connections_max: 1024,
            body_size_max: BODY_SIZE_MAX,
            frame_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            requests_in_flight_max: 16,
        }
    }
}

/// Counters of the listener, for tests and logs (also exported as Prometheus metrics).
#[derive(Debug, Default)]
pub struct TcpStats {
    pub connections_accepted: AtomicU64,
    pub connections_rejected: AtomicU64,
    /// Requests decoded and handed on (writes to the node, and lookups).
    pub requests: AtomicU64,
    /// Events in those requests.
    pub events: AtomicU64,
    /// Frames refused with an error frame (decode errors, timeouts, cluster mismatch).
    pub frames_refused: AtomicU64,
}

impl TcpStats {
    /// (requests, events) so far.
    #[must_use]
    pub fn requests_and_events(&self) -> (u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.events.load(Ordering::Relaxed),
        )
    }
}

/// How long input is read and dropped after an error frame (see `connection`).
const LINGER: Duration = Duration::from_secs(1);
/// Bytes read and dropped after an error frame, so closing does not reset the connection
/// before the client read the error frame.
const LINGER_BYTES_MAX: u64 = 4 * 1024 * 1024;

/// A bound binary listener, not yet serving.
pub struct TcpServer {
    listener: TcpListener,
    shared: Arc<Shared>,
}

struct Shared {
    node: Node,
    config: TcpConfig,
    stats: Arc<TcpStats>,
}

impl TcpServer {
    /// Binds the listener. `node` is a cheap handle (cloning shares one node).
    pub async fn bind(
        addr: impl ToSocketAddrs + std::fmt::Display,
        node: Node,
        config: TcpConfig,
    ) -> anyhow::Result<TcpServer> {
        assert!(config.body_size_max <= BODY_SIZE_MAX);
        assert!(config.connections_max > 0 && config.requests_in_flight_max > 0);
        let listener = TcpListener::bind(&addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        Ok(TcpServer {
            listener,
            shared: Arc::new(Shared {
                node,
                config,
                stats: Arc::new(TcpStats::default()),
            }),
        })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        self.listener
            .local_addr()
            .context("the listener has no local address")
    }

    #[must_use]
    pub fn stats(&self) -> Arc<TcpStats> {
        Arc::clone(&self.shared.stats)
    }

    /// Serves until `shutdown` resolves; then stops accepting, lets every connection finish the
    /// requests it already read (replies are durable before they are sent), and returns. The
    /// node keeps running: its owner shuts it down afterwards.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) {
        let TcpServer { listener, shared } = self;
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "binary protocol listening");
        }
        let permits = Arc::new(Semaphore::new(shared.config.connections_max));
        let (drain, draining) = watch::channel(false);
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => match Arc::clone(&permits).try_acquire_owned() {
                        Ok(permit) => {
                            shared.stats.connections_accepted.fetch_add(1, Ordering::Relaxed);
                            metrics::counter!("elevenfold_tcp_connections_total").increment(1);
                            connections.spawn(connection(
                                stream,
                                Arc::clone(&shared),
                                draining.clone(),
                                permit,
                            ));
                        }
                        Err(_) => reject(stream, &shared),
                    },
                    Err(error) => {
                        // Out of file descriptors, most likely: back off instead of spinning.
                        tracing::warn!(%error, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(listener);
        let _ = drain.send(true);
        tracing::info!(
            connections = connections.len(),
            "binary protocol: finishing in-flight requests"
        );
        while connections.join_next().await.is_some() {}
    }
}

/// Answers a connection over the limit with an error frame and closes it, without blocking
/// the accept loop: the socket is fresh, so its send buffer takes the 128 bytes at once.
fn reject(stream: TcpStream, shared: &Shared) {
    shared
        .stats
        .connections_rejected
        .fetch_add(1, Ordering::Relaxed);
    metrics::counter!("elevenfold_tcp_connections_rejected_total").increment(1);
    let mut frame = Vec::with_capacity(HEADER_SIZE);
    encode_error(
        &Envelope {
            cluster_id: shared.config.cluster_id,
            ..Envelope::default()
        },
        None,
        ErrorCode::TooManyConnections,
        &mut frame,
    );
    if let Ok(stream) = stream.into_std() {
        use std::io::Write as _;
        let mut stream = stream;
        let _ = stream.write(&frame);
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
}

/// What the writer sends next, in request order.
enum Pending {
    /// A write submitted to the node; its reply arrives once durable.
    Node {
        envelope: Envelope,
        operation: Operation,
        reply: node::ReplyReceiver,
        /// When its frame was read: the start of the request's latency.
        received: Instant,
    },
    /// A lookup, run when the writer reaches it.
    Lookup {
        envelope: Envelope,
        request: RequestBody,
    },
    /// An error frame, after which the connection closes.
    Refuse {
        envelope: Envelope,
        operation: Option<Operation>,
        code: ErrorCode,
    },
}

/// How the reader stopped.
enum ReadEnd {
    /// End of stream, an I/O error, shutdown, or the writer gave up: just close.
    Closed,
    /// A refusal was queued: close after the writer sent it, without resetting.
    Refused,
}

async fn connection(
    stream: TcpStream,
    shared: Arc<Shared>,
    draining: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    // Replies are small and latency matters more than segment count.
    let _ = stream.set_nodelay(true);
    let (mut read, write) = stream.into_split();
    let (queue, pending) = mpsc::channel(shared.config.requests_in_flight_max);
    let writer = tokio::spawn(write_replies(write, pending, Arc::clone(&shared)));
    let end = read_requests(&mut read, &queue, &shared, draining).await;
    drop(queue);
    let _ = writer.await;
    if let ReadEnd::Refused = end {
        // Closing with unread input would reset the connection, and a reset can destroy the
        // error frame before the client reads it: read and drop input briefly first.
        let mut sink = tokio::io::sink();
        let _ = tokio::time::timeout(
            LINGER,
            tokio::io::copy(&mut (&mut read).take(LINGER_BYTES_MAX), &mut sink),
        )
        .await;
    }
}

/// Why a frame could not be read.
enum FrameError {
    Io,
    Refuse {
        envelope: Envelope,
        operation: Option<Operation>,
        code: ErrorCode,
    },
}

impl FrameError {
    fn decode(header: Option<&Header>, error: &DecodeError) -> FrameError {
        FrameError::Refuse {
            envelope: header.map(|h| h.envelope).unwrap_or_default(),
            operation: header.and_then(|h| h.operation),
            code: error.code(),
        }
    }
}

async fn read_requests(
    read: &mut OwnedReadHalf,
    queue: &mpsc::Sender<Pending>,
    shared: &Shared,
    mut draining: watch::Receiver<bool>,
) -> ReadEnd {
    loop {
        let mut header = [0u8; HEADER_SIZE];
        // Between frames a connection may idle for as long as it likes; a shutdown, or the
        // writer giving up on the client, ends the wait.
        let started = tokio::select! {
            biased;
            _ = draining.wait_for(|draining| *draining) => return ReadEnd::Closed,
            () = queue.closed() => return ReadEnd::Closed,
            read = read.read(&mut header) => read,
        };
        let started = match started {
            Ok(0) | Err(_) => return ReadEnd::Closed,
            Ok(count) => count,
        };
        let frame = tokio::time::timeout(
            shared.config.frame_timeout,
            read_frame(read, &mut header, started, shared),
        )
        .await;
        let refusal = match frame {
            Ok(Ok((header, request))) => {
                let envelope = header.envelope;
                shared.stats.requests.fetch_add(1, Ordering::Relaxed);
                shared
                    .stats
                    .events
                    .fetch_add(u64::from(header.event_count), Ordering::Relaxed);
                let pending = match request {
                    RequestBody::Engine(request) => {
                        record_request(&request);
                        Pending::Node {
                            envelope,
                            operation: protocol_operation(&request),
                            reply: shared.node.submit(request),
                            received: Instant::now(),
                        }
                    }
                    request => Pending::Lookup { envelope, request },
                };
                // Waits while `requests_in_flight_max` requests are unanswered: back-pressure.
                if queue.send(pending).await.is_err() {
                    return ReadEnd::Closed;
                }
                continue;
            }
            Ok(Err(FrameError::Io)) => return ReadEnd::Closed,
            Ok(Err(FrameError::Refuse {
                envelope,
                operation,
                code,
            })) => Pending::Refuse {
                envelope,
                operation,
                code,
            },
            Err(_elapsed) => Pending::Refuse {
                envelope: Envelope::default(),
                operation: None,
                code: ErrorCode::FrameTimeout,
            },
        };
        shared.stats.frames_refused.fetch_add(1, Ordering::Relaxed);
        if let Pending::Refuse { code, .. } = &refusal {
            tracing::debug!(code = code.name(), "refusing a frame");
            metrics::counter!("elevenfold_tcp_frames_refused_total", "code" => code.name())
                .increment(1);
        }
        let _ = queue.send(refusal).await;
        return ReadEnd::Refused;
    }
}

fn protocol_operation(request: &Request) -> Operation {
    match request {
        Request::CreateAccounts(_) => Operation::CreateAccounts,
        Request::CreateTransfers(_) => Operation::CreateTransfers,
        Request::SetAccountLimits(_) => Operation::SetAccountLimits,
        Request::CreatePrograms(_) => Operation::CreatePrograms,
        Request::Credit(_) => Operation::Credit,
        Request::CreateCampaigns(_) => Operation::CreateCampaigns,
        Request::Promotions(_) => Operation::Promotions,
    }
}

fn record_request(request: &Request) {
    metrics::counter!("elevenfold_tcp_requests_total", "operation" => request.operation_name())
        .increment(1);
}

/// Reads the rest of a frame whose first `started` header bytes are in `header`, and decodes
/// it. The body is read only after the header checked out, and grows with the bytes that
/// actually arrive, so a lying or slow client cannot make the server allocate a full body.
async fn read_frame(
    read: &mut OwnedReadHalf,
    header: &mut [u8; HEADER_SIZE],
    started: usize,
    shared: &Shared,
) -> Result<(Header, RequestBody), FrameError> {
    read.read_exact(&mut header[started..])
        .await
        .map_err(|_| FrameError::Io)?;
    let header = decode_header(header).map_err(|error| FrameError::decode(None, &error))?;
    let refuse = |code: ErrorCode| FrameError::Refuse {
        envelope: header.envelope,
        operation: header.operation,
        code,
    };
    if header.kind != Kind::Request {
        return Err(refuse(ErrorCode::UnexpectedKind));
    }
    if header.envelope.cluster_id != shared.config.cluster_id {
        return Err(refuse(ErrorCode::ClusterMismatch));
    }
    if header.body_size > shared.config.body_size_max {
        return Err(refuse(ErrorCode::FrameTooLarge));
    }
    let mut body = Vec::new();
    let body_size = u64::from(header.body_size);
    let read_size = read
        .take(body_size)
        .read_to_end(&mut body)
        .await
        .map_err(|_| FrameError::Io)?;
    if read_size as u64 != body_size {
        // End of stream inside a frame.
        return Err(FrameError::Io);
    }
    let request = decode_request(&header, &body)
        .map_err(|error| FrameError::decode(Some(&header), &error))?;
    Ok((header, request))
}

async fn write_replies(
    write: OwnedWriteHalf,
    mut pending: mpsc::Receiver<Pending>,
    shared: Arc<Shared>,
) {
    let mut write = BufWriter::with_capacity(64 * 1024, write);
    let mut frame = Vec::new();
    while let Some(next) = pending.recv().await {
        frame.clear();
        let close = match next {
            Pending::Node {
                envelope,
                operation,
                reply,
                received,
            } => match reply.await {
                Ok(Ok(reply)) => {
                    encode_reply(&envelope, &ReplyBody::from_engine(&reply), &mut frame);
                    // From the frame read to its durable reply, queueing in this connection
                    // included (the socket write is not).
                    metrics::histogram!("elevenfold_tcp_request_seconds")
                        .record(received.elapsed().as_secs_f64());
                    false
                }
                // Not applied: the node refused the request (shutting down, failed). The
                // client may retry elsewhere or later with the same ids.
                Ok(Err(error)) => {
                    tracing::debug!(%error, "the node refused a request");
                    encode_error(
                        &envelope,
                        Some(operation),
                        ErrorCode::NodeUnavailable,
                        &mut frame,
                    );
                    true
                }
                Err(_) => {
                    encode_error(
                        &envelope,
                        Some(operation),
                        ErrorCode::NodeUnavailable,
                        &mut frame,
                    );
                    true
                }
            },
            Pending::Lookup { envelope, request } => {
                let operation = match &request {
                    RequestBody::LookupTransfers(_) => Operation::LookupTransfers,
                    _ => Operation::LookupAccounts,
                };
                match lookup(&shared.node, request).await {
                    Ok(reply) => {
                        encode_reply(&envelope, &reply, &mut frame);
                        false
                    }
                    Err(code) => {
                        encode_error(&envelope, Some(operation), code, &mut frame);
                        true
                    }
                }
            }
            Pending::Refuse {
                envelope,
                operation,
                code,
            } => {
                encode_error(&envelope, operation, code, &mut frame);
                true
            }
        };
        let written = tokio::time::timeout(shared.config.write_timeout, async {
            write.write_all(&frame).await?;
            // Flush when no further reply is ready, so replies that complete together leave
            // in one segment and a lone reply leaves at once.
            if close || pending.is_empty() {
                write.flush().await?;
            }
            Ok::<(), std::io::Error>(())
        })
        .await;
        if !matches!(written, Ok(Ok(()))) || close {
            break;
        }
    }
    let _ = tokio::time::timeout(shared.config.write_timeout, write.shutdown()).await;
}

/// Answers a lookup from committed state. Records not found are left out, so the reply holds
/// the found records in request order. Accounts are all in memory; transfers may have to be
/// read from the record file, which is blocking I/O, so that runs off the async workers.
async fn lookup(node: &Node, request: RequestBody) -> Result<ReplyBody, ErrorCode> {
    match request {
        RequestBody::LookupAccounts(ids) => Ok(ReplyBody::LookupAccounts(node.read(|state| {
            ids.iter()
                .filter_map(|id| {
                    state
                        .ledger()
                        .lookup_account(*id)
                        .map(|(account, _)| account)
                })
                .collect()
        }))),
        RequestBody::LookupTransfers(ids) => {
            let node = node.clone();
            let found = tokio::task::spawn_blocking(move || {
                node.read(|state| {
                    ids.iter()
                        .filter_map(|id| {
                            state.ledger().lookup_transfer(*id, node.cold()).transpose()
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .await
            .map_err(|_| ErrorCode::InternalError)?;
            found.map(ReplyBody::LookupTransfers).map_err(|error| {
                tracing::error!(%error, "reading the record file failed");
                ErrorCode::InternalError
            })
        }
        RequestBody::Engine(_) => Err(ErrorCode::UnexpectedKind),
    }
}
