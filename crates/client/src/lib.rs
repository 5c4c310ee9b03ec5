//! The Rust client of the binary protocol: an async `Client` on tokio and a `BlockingClient`.
//!
//! Every call hands its events to one connection task per client, which coalesces the events
//! of concurrent callers into full requests (up to 8189 events, one operation per request) and
//! hands each caller its share of the reply. A request that is not full leaves only when none
//! is in flight, after the callers arriving together have joined it (`gather_wait_max`); while
//! one is in flight, events queue and leave as full requests. So 10,000 tasks each creating one
//! transfer through one `Client` travel as full requests, not 10,000 small ones.
//!
//! Results: the create calls return the failures only, as `(index, code)` with `index` into
//! the caller's own vector, ascending; an empty vector means every event was applied. This is
//! the wire form (`docs/protocol.md`) and the reference engine's client convention. Lookups
//! return the records found, in the order of the ids asked for; missing ids are left out.
//!
//! A caller's vector is never split: a linked chain stays in one request, and a vector whose
//! last event leaves a chain open ends its request, so the open chain fails alone
//! (`linked_event_chain_open`) as it would if sent by itself.
//!
//! Retries: on a broken connection or a missing reply (`reply_timeout`), the client
//! reconnects and sends the unanswered requests again with the same request numbers. The
//! server executes them again; ids make that safe: an event the first attempt applied answers
//! `exists` (accounts, transfers) or is set again to the same value (limits). So after a retry,
//! treat `exists` as success. A call gives up after `call_timeout` with `Error::Timeout`; its
//! events may or may not have been applied, and calling again with the same ids is safe.

mod batch;
mod blocking;
mod driver;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ledger::{
    Account, CreateAccountResult, CreateTransferResult, LimitChange, SetLimitResult, Transfer,
};
use protocol::{EVENTS_MAX, ErrorCode, ReplyBody};
use tokio::net::ToSocketAddrs;
use tokio::sync::{Semaphore, mpsc, oneshot};

pub use blocking::BlockingClient;

use crate::batch::{Events, Submission};
use crate::driver::Driver;

/// How a client connects, batches and times out.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The cluster to talk to; a server of another cluster refuses every request.
    pub cluster_id: u128,
    pub connect_timeout: Duration,
    /// No reply to the oldest unanswered request within this: the connection is presumed dead,
    /// and the client reconnects and resends.
    pub reply_timeout: Duration,
    /// A call that has no answer within this fails with `Error::Timeout`.
    pub call_timeout: Duration,
    /// Requests on the wire at once. A request that is not full is sent only when none is in
    /// flight; while requests are out, new events queue and coalesce into full requests.
    pub requests_in_flight_max: usize,
    /// A request that is not full leaves once no caller arrived for this long (see
    /// `docs/protocol.md`, "The Rust client"); a lone caller waits this long once.
    pub gather_quiet: Duration,
    /// ... or once it waited this long, while callers keep arriving.
    pub gather_wait_max: Duration,
    /// Events waiting in the client (not yet on the wire) at most; callers beyond it wait to
    /// submit (back-pressure). At least 8189.
    pub queue_events_max: usize,
    /// Told of every reply: see `RequestObserver`. None by default.
    pub request_observer: Option<RequestObserver>,
}

/// Called by the connection task for every request answered with a reply, with the time from
/// the request's (last) send to its reply and the request's event count. It runs on the
/// connection task, so it must be quick (a benchmark records the latency in a histogram).
#[derive(Clone)]
pub struct RequestObserver(Arc<dyn Fn(Duration, usize) + Send + Sync>);

impl RequestObserver {
    pub fn new(observe: impl Fn(Duration, usize) + Send + Sync + 'static) -> RequestObserver {
        RequestObserver(Arc::new(observe))
    }

    pub(crate) fn observe(&self, round_trip: Duration, event_count: usize) {
        (self.0)(round_trip, event_count);
    }
}

impl fmt::Debug for RequestObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestObserver")
    }
}

impl ClientConfig {
    #[must_use]
    pub fn new(cluster_id: u128) -> ClientConfig {
        ClientConfig {
            cluster_id,
            connect_timeout: Duration::from_secs(5),
            reply_timeout: Duration::from_secs(30),
            call_timeout: Duration::from_secs(60),
            requests_in_flight_max: 2,
            gather_quiet: Duration::from_micros(50),
            gather_wait_max: Duration::from_millis(5),
            queue_events_max: 4 * EVENTS_MAX,
            request_observer: None,
        }
    }
}

/// Why a call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `connect` could not reach the server.
    Connect(std::io::Error),
    /// A call holds more than 8189 events; nothing was sent.
    TooManyEvents { event_count: usize, limit: usize },
    /// No answer within `call_timeout`. The events may or may not have been applied; calling
    /// again with the same ids is safe.
    Timeout,
    /// The server refused the request with an error frame: `code` is an `ErrorCode` number.
    /// Nothing of the request was applied.
    Refused { code: u32 },
    /// The server answered something that does not fit the request (a server bug).
    Protocol(String),
    /// The client's connection task is gone (its runtime shut down).
    Closed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect(_) => write!(f, "cannot connect to the server"),
            Error::TooManyEvents { event_count, limit } => {
                write!(f, "{event_count} events exceed the limit of {limit}")
            }
            Error::Timeout => write!(f, "no answer in time; the events may have been applied"),
            Error::Refused { code } => match ErrorCode::from_number(*code) {
                Some(code) => write!(f, "the server refused the request: {code}"),
                None => write!(f, "the server refused the request: error {code}"),
            },
            Error::Protocol(reason) => write!(f, "protocol violation: {reason}"),
            Error::Closed => write!(f, "the client's connection task stopped"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect(error) => Some(error),
            _ => None,
        }
    }
}

/// Counters of a client's connection task.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    requests: AtomicU64,
    events: AtomicU64,
    request_events_max: AtomicU64,
    resends: AtomicU64,
    reconnects: AtomicU64,
    reply_timeouts: AtomicU64,
}

/// A snapshot of a client's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Requests sent (not counting resends).
    pub requests: u64,
    /// Events in those requests.
    pub events: u64,
    /// Events in the largest request sent.
    pub request_events_max: u64,
    /// Requests sent again after a reconnect.
    pub resends: u64,
    pub reconnects: u64,
    pub reply_timeouts: u64,
}

struct Inner {
    submissions: mpsc::UnboundedSender<Submission>,
    /// `queue_events_max` permits; each call holds one per event until its events are sent.
    capacity: Arc<Semaphore>,
    config: ClientConfig,
    stats: Arc<Stats>,
}

/// A connection to a server, shared by every clone: clone it into as many tasks as you like;
/// their calls coalesce. Calls need a tokio runtime; the connection task runs on the runtime
/// `connect` was called on, and ends when the last clone is dropped.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

// Handles are shared across tasks and threads.
const _: fn() = || {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<Client>();
    shareable::<BlockingClient>();
};

fn random_client_id() -> u128 {
    use std::hash::BuildHasher as _;
    // std's RandomState is seeded from OS randomness; hash a clock reading for extra spread.
    let state = std::collections::hash_map::RandomState::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let high = state.hash_one((now, 1u8));
    let low = state.hash_one((now, 2u8));
    ((u128::from(high) << 64) | u128::from(low)).max(1)
}

impl Client {
    /// Connects with the default configuration.
    pub async fn connect(addr: impl ToSocketAddrs, cluster_id: u128) -> Result<Client, Error> {
        Client::connect_with(addr, ClientConfig::new(cluster_id)).await
    }

    /// Connects once (so an unreachable server is reported here), then starts the connection
    /// task, which reconnects by itself from then on.
    pub async fn connect_with(
        addr: impl ToSocketAddrs,
        config: ClientConfig,
    ) -> Result<Client, Error> {
        assert!(config.requests_in_flight_max > 0);
        assert!(config.queue_events_max >= EVENTS_MAX);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(addr)
            .await
            .map_err(Error::Connect)?
            .collect();
        let connection = driver::connect(&addrs, config.connect_timeout)
            .await
            .map_err(Error::Connect)?;
        let (submissions, receiver) = mpsc::unbounded_channel();
        let stats = Arc::new(Stats::default());
        let driver = Driver {
            config: config.clone(),
            addrs,
            client_id: random_client_id(),
            submissions: receiver,
            stats: Arc::clone(&stats),
        };
        tokio::spawn(driver.run(Some(connection)));
        Ok(Client {
            inner: Arc::new(Inner {
                submissions,
                capacity: Arc::new(Semaphore::new(config.queue_events_max)),
                config,
                stats,
            }),
        })
    }

    #[must_use]
    pub fn stats(&self) -> ClientStats {
        let stats = &self.inner.stats;
        ClientStats {
            requests: stats.requests.load(Ordering::Relaxed),
            events: stats.events.load(Ordering::Relaxed),
            request_events_max: stats.request_events_max.load(Ordering::Relaxed),
            resends: stats.resends.load(Ordering::Relaxed),
            reconnects: stats.reconnects.load(Ordering::Relaxed),
            reply_timeouts: stats.reply_timeouts.load(Ordering::Relaxed),
        }
    }

    async fn call(&self, events: Events) -> Result<ReplyBody, Error> {
        let event_count = events.len();
        let limit = events.operation().request_events_max();
        if event_count > limit {
            return Err(Error::TooManyEvents { event_count, limit });
        }
        let (answer, answered) = oneshot::channel();
        let call = async {
            let permit = Arc::clone(&self.inner.capacity)
                .acquire_many_owned(u32::try_from(event_count).expect("at most EVENTS_MAX"))
                .await
                .map_err(|_| Error::Closed)?;
            self.inner
                .submissions
                .send(Submission {
                    events,
                    answer,
                    _permit: permit,
                })
                .map_err(|_| Error::Closed)?;
            answered.await.map_err(|_| Error::Closed)?
        };
        tokio::time::timeout(self.inner.config.call_timeout, call)
            .await
            .map_err(|_| Error::Timeout)?
    }

    fn mismatch() -> Error {
        Error::Protocol("the answer is for another operation".to_string())
    }

    /// Creates accounts; returns the failures as `(index, code)`, ascending.
    pub async fn create_accounts(
        &self,
        accounts: Vec<Account>,
    ) -> Result<Vec<(u32, CreateAccountResult)>, Error> {
        if accounts.is_empty() {
            return Ok(Vec::new());
        }
        match self.call(Events::CreateAccounts(accounts)).await? {
            ReplyBody::CreateAccounts(results) => Ok(results),
            _ => Err(Client::mismatch()),
        }
    }

    /// Creates transfers; returns the failures as `(index, code)`, ascending.
    pub async fn create_transfers(
        &self,
        transfers: Vec<Transfer>,
    ) -> Result<Vec<(u32, CreateTransferResult)>, Error> {
        if transfers.is_empty() {
            return Ok(Vec::new());
        }
        match self.call(Events::CreateTransfers(transfers)).await? {
            ReplyBody::CreateTransfers(results) => Ok(results),
            _ => Err(Client::mismatch()),
        }
    }

    /// Changes account limits; returns the failures as `(index, code)`, ascending.
    pub async fn set_account_limits(
        &self,
        changes: Vec<LimitChange>,
    ) -> Result<Vec<(u32, SetLimitResult)>, Error> {
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        match self.call(Events::SetAccountLimits(changes)).await? {
            ReplyBody::SetAccountLimits(results) => Ok(results),
            _ => Err(Client::mismatch()),
        }
    }

    /// Creates credit programs; returns the failures as `(index, code)`, ascending.
    pub async fn create_programs(
        &self,
        programs: Vec<credit::Program>,
    ) -> Result<Vec<(u32, credit::CreditResult)>, Error> {
        if programs.is_empty() {
            return Ok(Vec::new());
        }
        match self.call(Events::CreatePrograms(programs)).await? {
            ReplyBody::CreatePrograms(results) => Ok(results),
            _ => Err(Client::mismatch()),
        }
    }

    /// Runs credit commands (lines, authorizations, captures, repayments, day-close); returns
    /// the failures as `(index, code)`, ascending. Concurrent callers' commands travel together.
    pub async fn credit(
        &self,
        commands: Vec<credit::Command>,
    ) -> Result<Vec<(u32, credit::CreditResult)>, Error> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        match self.call(Events::Credit(commands)).await? {
            ReplyBody::Credit(results) => Ok(results),
            _ => Err(Client::mismatch()),
        }
    }

    /// Creates promotion campaigns (each with its budget account); returns the failures as
    /// `(index, code)`, ascending.
    pub async fn create_campaigns(
        &self,
        campaigns: Vec<promotions::Campaign>,
    ) -> Result<Vec<(u32, promotions::PromotionResult)>, Error> {
        if campaigns.is_empty() {
            return Ok(Vec::new());
        }
        match self.call(Events::CreateCampaigns(campaigns)).await? {
            ReplyBody::CreateCampaigns(results) => Ok(results),
            _ => Err(Client::mismatch()),
        }
    }

    /// Runs promotions commands (funding, coupons, payments carrying coupons, red-packet
    /// grabs); returns the failures as `(index, code)`, ascending. Concurrent callers' commands
    /// travel together.
    pub async fn promotions(
        &self,
        commands: Vec<promotions::Command>,
    ) -> Result<Vec<(u32, promotions::PromotionResult)>, Error> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        match self.call(Events::Promotions(commands)).await? {
            ReplyBody::Promotions(results) => Ok(results),
            _ => Err(Client::mismatch()),
        }
    }

    /// The accounts found among `ids`, in the order of `ids`.
    pub async fn lookup_accounts(&self, ids: Vec<u128>) -> Result<Vec<Account>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        match self.call(Events::LookupAccounts(ids)).await? {
            ReplyBody::LookupAccounts(accounts) => Ok(accounts),
            _ => Err(Client::mismatch()),
        }
    }

    /// The transfers found among `ids`, in the order of `ids`.
    pub async fn lookup_transfers(&self, ids: Vec<u128>) -> Result<Vec<Transfer>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        match self.call(Events::LookupTransfers(ids)).await? {
            ReplyBody::LookupTransfers(transfers) => Ok(transfers),
            _ => Err(Client::mismatch()),
        }
    }
}
