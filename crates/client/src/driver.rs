//! The connection task: one per `Client`, the only owner of the socket.
//!
//! It takes callers' submissions from a bounded channel, coalesces them into requests
//! (`batch.rs`), keeps up to `requests_in_flight_max` requests on the wire, and answers callers
//! as replies arrive (in request order: the server answers a connection in order). When the
//! connection breaks, or the oldest request has no reply within `reply_timeout`, it reconnects
//! with backoff and sends every unanswered request again, byte for byte: the same request
//! numbers, the same events. The server executes a repeated request again, and the ledger's
//! idempotency by id answers `exists` for what the first attempt applied.
//!
//! Invariants: a request is answered or failed exactly once; requests are sent and resent in
//! request-number order; a caller whose call timed out is not sent, and is forgotten once its
//! request is answered.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use protocol::{
    BODY_SIZE_MAX, EVENTS_MAX, Envelope, ErrorCode, HEADER_SIZE, Header, Kind, Operation,
    decode_header, decode_reply, encode_request,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::batch::{Batch, Submission, coalesce, demultiplex};
use crate::{ClientConfig, Error, Stats};

/// Backoff between reconnection attempts: doubles from the first to the last.
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// A request on the wire (or waiting to be resent).
struct InFlight {
    request_number: u64,
    operation: Operation,
    /// The encoded frame, kept to resend it unchanged.
    frame: Vec<u8>,
    batch: Batch,
    sent: Instant,
}

/// A frame from the reader task, or the reason the connection ended.
type Incoming = Result<(Header, Vec<u8>), String>;

pub(crate) struct Connection {
    write: OwnedWriteHalf,
    frames: mpsc::UnboundedReceiver<Incoming>,
    reader: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Connects to the first address that answers within `timeout`.
pub(crate) async fn connect(
    addrs: &[SocketAddr],
    timeout: Duration,
) -> std::io::Result<Connection> {
    let mut last_error = std::io::Error::other("no address to connect to");
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                stream.set_nodelay(true)?;
                let (read, write) = stream.into_split();
                let (sender, frames) = mpsc::unbounded_channel();
                let reader = tokio::spawn(read_frames(read, sender));
                return Ok(Connection {
                    write,
                    frames,
                    reader,
                });
            }
            Ok(Err(error)) => last_error = error,
            Err(_) => {
                last_error = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("connecting to {addr} timed out"),
                );
            }
        }
    }
    Err(last_error)
}

/// Reads frames until the stream ends or breaks. The channel is unbounded, but it holds at
/// most one frame per request in flight: the server only sends replies to requests.
async fn read_frames(mut read: OwnedReadHalf, sender: mpsc::UnboundedSender<Incoming>) {
    loop {
        let mut header = [0u8; HEADER_SIZE];
        let incoming = async {
            read.read_exact(&mut header)
                .await
                .map_err(|e| format!("reading: {e}"))?;
            let header = decode_header(&header).map_err(|e| format!("reply header: {e}"))?;
            // decode_header checked body_size <= BODY_SIZE_MAX.
            debug_assert!(header.body_size <= BODY_SIZE_MAX);
            let mut body = vec![0u8; header.body_size as usize];
            read.read_exact(&mut body)
                .await
                .map_err(|e| format!("reading: {e}"))?;
            Ok((header, body))
        }
        .await;
        let end = incoming.is_err();
        if sender.send(incoming).is_err() || end {
            return;
        }
    }
}

pub(crate) struct Driver {
    pub(crate) config: ClientConfig,
    pub(crate) addrs: Vec<SocketAddr>,
    pub(crate) client_id: u128,
    pub(crate) submissions: mpsc::UnboundedReceiver<Submission>,
    pub(crate) stats: Arc<Stats>,
}

/// What woke the driver.
enum Event {
    Submission(Option<Submission>),
    Frame(Option<Incoming>),
    ReplyTimeout,
}

struct State {
    queue: VecDeque<Submission>,
    queued_events: usize,
    in_flight: VecDeque<InFlight>,
    next_request_number: u64,
    /// False once every `Client` handle is gone: finish what is queued, then stop.
    open: bool,
}

impl Driver {
    pub(crate) async fn run(mut self, mut connection: Option<Connection>) {
        let mut state = State {
            queue: VecDeque::new(),
            queued_events: 0,
            in_flight: VecDeque::new(),
            next_request_number: 1,
            open: true,
        };
        let mut backoff = Duration::ZERO;
        loop {
            self.take_ready(&mut state);
            if state.queue.is_empty() && state.in_flight.is_empty() {
                if !state.open {
                    return;
                }
                let submission = self.submissions.recv().await;
                self.on_submission(&mut state, submission);
                continue;
            }
            let Some(conn) = connection.as_mut() else {
                if !self.forget_abandoned(&mut state) {
                    continue;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
                if let Ok(mut conn) = connect(&self.addrs, self.config.connect_timeout).await {
                    self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                    if self.resend(&mut state, &mut conn).await.is_ok() {
                        connection = Some(conn);
                    }
                }
                continue;
            };
            if self.send_new(&mut state, conn).await.is_err() {
                connection = None;
                continue;
            }
            let reply_deadline = state
                .in_flight
                .front()
                .map(|f| f.sent + self.config.reply_timeout);
            let event = tokio::select! {
                submission = self.submissions.recv(), if state.open => Event::Submission(submission),
                frame = conn.frames.recv() => Event::Frame(frame),
                () = sleep_until(reply_deadline), if reply_deadline.is_some() => Event::ReplyTimeout,
            };
            match event {
                Event::Submission(submission) => self.on_submission(&mut state, submission),
                Event::Frame(Some(Ok((header, body)))) => {
                    if self.on_frame(&mut state, &header, &body) {
                        backoff = Duration::ZERO;
                    } else {
                        connection = None;
                    }
                }
                Event::Frame(_) => connection = None,
                Event::ReplyTimeout => {
                    self.stats.reply_timeouts.fetch_add(1, Ordering::Relaxed);
                    connection = None;
                }
            }
        }
    }

    fn on_submission(&self, state: &mut State, submission: Option<Submission>) {
        match submission {
            Some(submission) => {
                state.queued_events += submission.events.len();
                state.queue.push_back(submission);
            }
            None => state.open = false,
        }
    }

    /// Moves every submission already waiting in the channel to the queue, so the next request
    /// coalesces all of them; returns how many it moved. (Callers hold `queue_events_max`
    /// permits between them, which bounds the channel and the queue.)
    fn take_ready(&mut self, state: &mut State) -> usize {
        let mut taken = 0;
        while state.open {
            match self.submissions.try_recv() {
                Ok(submission) => {
                    self.on_submission(state, Some(submission));
                    taken += 1;
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => state.open = false,
            }
        }
        taken
    }

    /// Before a request that is not full leaves: callers woken together (by one reply, or one
    /// burst) submit over the next scheduler passes, so keep yielding while they arrive, until
    /// the request is full, no caller arrived for `gather_quiet`, or `gather_wait_max` passed.
    /// A lone caller costs `gather_quiet` (tens of microseconds).
    async fn gather(&mut self, state: &mut State) {
        let started = Instant::now();
        let mut last_arrival = started;
        while state.queued_events < EVENTS_MAX {
            tokio::task::yield_now().await;
            let now = Instant::now();
            if self.take_ready(state) > 0 {
                last_arrival = now;
            } else if now - last_arrival >= self.config.gather_quiet {
                return;
            }
            if now - started >= self.config.gather_wait_max {
                return;
            }
        }
    }

    /// While disconnected: drops queued callers that stopped waiting, and requests none of whose
    /// callers wait any more. False when nothing is left to do.
    fn forget_abandoned(&self, state: &mut State) -> bool {
        state.queue.retain(|s| !s.answer.is_closed());
        state.queued_events = state.queue.iter().map(|s| s.events.len()).sum();
        state.in_flight.retain(|f| !f.batch.abandoned());
        !(state.queue.is_empty() && state.in_flight.is_empty())
    }

    /// Sends new requests while fewer than `requests_in_flight_max` are unanswered. A request
    /// that is not full goes out only when nothing is in flight: while the server works, events
    /// queue up and leave as full requests, and a lone caller still waits for nobody.
    async fn send_new(&mut self, state: &mut State, conn: &mut Connection) -> std::io::Result<()> {
        while state.in_flight.len() < self.config.requests_in_flight_max {
            let full = state.queued_events >= EVENTS_MAX;
            if !full {
                if !state.in_flight.is_empty() || state.queue.is_empty() {
                    break;
                }
                self.gather(state).await;
            }
            let Some(batch) = coalesce(&mut state.queue, &mut state.queued_events) else {
                break;
            };
            let event_count = batch.event_count();
            let request_number = state.next_request_number;
            state.next_request_number += 1;
            let mut frame = Vec::with_capacity(HEADER_SIZE + event_count * 128);
            encode_request(
                &Envelope {
                    cluster_id: self.config.cluster_id,
                    client_id: self.client_id,
                    request_number,
                },
                &batch.body,
                &mut frame,
            );
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            self.stats
                .events
                .fetch_add(event_count as u64, Ordering::Relaxed);
            self.stats
                .request_events_max
                .fetch_max(event_count as u64, Ordering::Relaxed);
            state.in_flight.push_back(InFlight {
                request_number,
                operation: batch.body.operation(),
                frame,
                batch,
                sent: Instant::now(),
            });
            let frame = &state.in_flight.back().expect("just pushed").frame;
            self.write(conn, frame).await?;
        }
        Ok(())
    }

    /// Sends every unanswered request again, in order, on a new connection.
    async fn resend(&self, state: &mut State, conn: &mut Connection) -> std::io::Result<()> {
        for in_flight in &mut state.in_flight {
            self.stats.resends.fetch_add(1, Ordering::Relaxed);
            in_flight.sent = Instant::now();
            self.write(conn, &in_flight.frame).await?;
        }
        Ok(())
    }

    async fn write(&self, conn: &mut Connection, frame: &[u8]) -> std::io::Result<()> {
        match tokio::time::timeout(self.config.reply_timeout, conn.write.write_all(frame)).await {
            Ok(result) => result,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the server did not take a request",
            )),
        }
    }

    /// Handles a frame from the server; false when the connection must be dropped.
    fn on_frame(&self, state: &mut State, header: &Header, body: &[u8]) -> bool {
        match header.kind {
            Kind::Reply => {
                let Some(front) = state.in_flight.front() else {
                    return false;
                };
                if header.envelope.request_number != front.request_number
                    || header.envelope.client_id != self.client_id
                    || header.operation != Some(front.operation)
                {
                    // Not the reply we wait for: the stream cannot be trusted. Reconnect and
                    // resend; the server's idempotency makes that safe.
                    return false;
                }
                match decode_reply(header, body) {
                    Ok(reply) => {
                        let front = state.in_flight.pop_front().expect("front exists");
                        if let Some(observer) = &self.config.request_observer {
                            observer.observe(front.sent.elapsed(), front.batch.event_count());
                        }
                        demultiplex(front.batch, reply);
                        true
                    }
                    // Damaged in transit: ask again.
                    Err(protocol::DecodeError::BodyChecksum) => false,
                    // Well framed but not understood (an unknown result code from a newer
                    // server): the request was applied, so it must not be sent again.
                    Err(error) => {
                        let front = state.in_flight.pop_front().expect("front exists");
                        front
                            .batch
                            .fail_all(|| Error::Protocol(format!("undecodable reply: {error}")));
                        true
                    }
                }
            }
            Kind::Error => {
                let code = header.error_code;
                let retryable = ErrorCode::from_number(code).is_some_and(ErrorCode::retryable);
                if !retryable {
                    let number = header.envelope.request_number;
                    let refused = state
                        .in_flight
                        .iter()
                        .position(|f| number != 0 && f.request_number == number);
                    match refused {
                        // That request can only fail the same way again; the others resend.
                        Some(position) => {
                            let refused = state.in_flight.remove(position).expect("position");
                            refused.batch.fail_all(|| Error::Refused { code });
                        }
                        // A refusal of the connection itself (an unsupported version, say):
                        // nothing on it can succeed by resending.
                        None => {
                            for in_flight in state.in_flight.drain(..) {
                                in_flight.batch.fail_all(|| Error::Refused { code });
                            }
                        }
                    }
                }
                // The server closes the connection after an error frame.
                false
            }
            Kind::Request => false,
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
