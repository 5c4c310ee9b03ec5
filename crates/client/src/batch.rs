//! Coalescing callers' events into requests, and handing each caller its share of the reply.
//!
//! Invariants: a caller's events are never split across requests and keep their order; a
//! request holds events of one operation only and at most `request_events_max` of them; a caller whose
//! events end in an open linked chain is the last in its request (so the chain cannot swallow
//! the next caller's events); every caller gets exactly one answer, with indexes relative to
//! its own events.
//!
//! Pure: no I/O, so it is tested on its own (`tests.rs`).

use std::collections::{HashMap, VecDeque};

use credit::{Command, Program};
use engine::Request;
use ledger::{Account, AccountFlags, LimitChange, Transfer, TransferFlags};
use protocol::{Operation, ReplyBody, RequestBody};
use tokio::sync::{OwnedSemaphorePermit, oneshot};

use crate::Error;

/// One caller's events, as given.
#[derive(Debug)]
pub(crate) enum Events {
    CreateAccounts(Vec<Account>),
    CreateTransfers(Vec<Transfer>),
    SetAccountLimits(Vec<LimitChange>),
    CreatePrograms(Vec<Program>),
    Credit(Vec<Command>),
    CreateCampaigns(Vec<promotions::Campaign>),
    Promotions(Vec<promotions::Command>),
    LookupAccounts(Vec<u128>),
    LookupTransfers(Vec<u128>),
}

impl Events {
    pub(crate) fn operation(&self) -> Operation {
        match self {
            Events::CreateAccounts(_) => Operation::CreateAccounts,
            Events::CreateTransfers(_) => Operation::CreateTransfers,
            Events::SetAccountLimits(_) => Operation::SetAccountLimits,
            Events::CreatePrograms(_) => Operation::CreatePrograms,
            Events::Credit(_) => Operation::Credit,
            Events::CreateCampaigns(_) => Operation::CreateCampaigns,
            Events::Promotions(_) => Operation::Promotions,
            Events::LookupAccounts(_) => Operation::LookupAccounts,
            Events::LookupTransfers(_) => Operation::LookupTransfers,
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Events::CreateAccounts(events) => events.len(),
            Events::CreateTransfers(events) => events.len(),
            Events::SetAccountLimits(events) => events.len(),
            Events::CreatePrograms(events) => events.len(),
            Events::Credit(events) => events.len(),
            Events::CreateCampaigns(events) => events.len(),
            Events::Promotions(events) => events.len(),
            Events::LookupAccounts(ids) | Events::LookupTransfers(ids) => ids.len(),
        }
    }

    /// True when the last event has the `linked` flag: its chain is open, and events appended
    /// after it would join the chain.
    fn chain_open(&self) -> bool {
        match self {
            Events::CreateAccounts(events) => events
                .last()
                .is_some_and(|a| a.flags.has(AccountFlags::LINKED)),
            Events::CreateTransfers(events) => events
                .last()
                .is_some_and(|t| t.flags.has(TransferFlags::LINKED)),
            _ => false,
        }
    }
}

/// What a caller gets back: its share of the reply.
pub(crate) type Answer = Result<ReplyBody, Error>;

/// A caller waiting for its events to be applied.
#[derive(Debug)]
pub(crate) struct Submission {
    pub(crate) events: Events,
    pub(crate) answer: oneshot::Sender<Answer>,
    /// One permit per event, of the client's `queue_events_max`: released when the events
    /// leave the queue for the wire.
    pub(crate) _permit: OwnedSemaphorePermit,
}

/// A caller's place in a coalesced request.
#[derive(Debug)]
pub(crate) struct Part {
    answer: oneshot::Sender<Answer>,
    offset: u32,
    count: u32,
    /// The ids a lookup caller asked for, to pick its records from the reply.
    ids: Vec<u128>,
}

impl Part {
    pub(crate) fn fail(self, error: Error) {
        // A caller that stopped waiting (timed out) has dropped its receiver: nothing to do.
        let _ = self.answer.send(Err(error));
    }
}

/// A coalesced request and the callers it serves, in event order.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) body: RequestBody,
    pub(crate) parts: Vec<Part>,
}

impl Batch {
    pub(crate) fn event_count(&self) -> usize {
        self.body.event_count()
    }

    /// True when no caller waits for this request any more.
    pub(crate) fn abandoned(&self) -> bool {
        self.parts.iter().all(|part| part.answer.is_closed())
    }

    pub(crate) fn fail_all(self, error: impl Fn() -> Error) {
        for part in self.parts {
            part.fail(error());
        }
    }
}

/// Takes the next request off `queue`: the operation of the oldest submission, then every
/// later submission of the same operation, in order, while the events fit. Submissions of other
/// operations keep their place. Callers that stopped waiting are dropped, not sent.
/// `queued_events` (the events in `queue`) is kept up to date.
pub(crate) fn coalesce(
    queue: &mut VecDeque<Submission>,
    queued_events: &mut usize,
) -> Option<Batch> {
    while queue.front().is_some_and(|s| s.answer.is_closed()) {
        let dropped = queue.pop_front().expect("front exists");
        *queued_events -= dropped.events.len();
    }
    let operation = queue.front()?.events.operation();
    // 256-byte records fit fewer than EVENTS_MAX in one frame.
    let events_max = operation.request_events_max();
    let mut parts = Vec::new();
    let mut body = match operation {
        Operation::CreateAccounts => RequestBody::Engine(Request::CreateAccounts(Vec::new())),
        Operation::CreateTransfers => RequestBody::Engine(Request::CreateTransfers(Vec::new())),
        Operation::SetAccountLimits => RequestBody::Engine(Request::SetAccountLimits(Vec::new())),
        Operation::CreatePrograms => RequestBody::Engine(Request::CreatePrograms(Vec::new())),
        Operation::Credit => RequestBody::Engine(Request::Credit(Vec::new())),
        Operation::CreateCampaigns => RequestBody::Engine(Request::CreateCampaigns(Vec::new())),
        Operation::Promotions => RequestBody::Engine(Request::Promotions(Vec::new())),
        Operation::LookupAccounts => RequestBody::LookupAccounts(Vec::new()),
        Operation::LookupTransfers => RequestBody::LookupTransfers(Vec::new()),
    };
    let mut event_count = 0;
    let mut index = 0;
    while index < queue.len() {
        let submission = &queue[index];
        if submission.events.operation() != operation {
            index += 1;
            continue;
        }
        // The first one that does not fit waits for the next request, and so does everything
        // of this operation behind it, so submissions of one operation keep their order.
        if event_count + submission.events.len() > events_max {
            if event_count == 0 {
                // Cannot happen: callers check the limit before submitting.
                let submission = queue.remove(index).expect("index < queue.len()");
                let event_count = submission.events.len();
                *queued_events -= event_count;
                let _ = submission.answer.send(Err(Error::TooManyEvents {
                    event_count,
                    limit: events_max,
                }));
                continue;
            }
            break;
        }
        let submission = queue.remove(index).expect("index < queue.len()");
        *queued_events -= submission.events.len();
        if submission.answer.is_closed() {
            continue;
        }
        let chain_open = submission.events.chain_open();
        let count = submission.events.len();
        let mut ids = Vec::new();
        match (&mut body, submission.events) {
            (RequestBody::Engine(Request::CreateAccounts(all)), Events::CreateAccounts(mine)) => {
                all.extend(mine);
            }
            (RequestBody::Engine(Request::CreateTransfers(all)), Events::CreateTransfers(mine)) => {
                all.extend(mine);
            }
            (
                RequestBody::Engine(Request::SetAccountLimits(all)),
                Events::SetAccountLimits(mine),
            ) => all.extend(mine),
            (RequestBody::Engine(Request::CreatePrograms(all)), Events::CreatePrograms(mine)) => {
                all.extend(mine);
            }
            (RequestBody::Engine(Request::Credit(all)), Events::Credit(mine)) => all.extend(mine),
            (RequestBody::Engine(Request::CreateCampaigns(all)), Events::CreateCampaigns(mine)) => {
                all.extend(mine);
            }
            (RequestBody::Engine(Request::Promotions(all)), Events::Promotions(mine)) => {
                all.extend(mine);
            }
            (RequestBody::LookupAccounts(all), Events::LookupAccounts(mine))
            | (RequestBody::LookupTransfers(all), Events::LookupTransfers(mine)) => {
                all.extend_from_slice(&mine);
                ids = mine;
            }
            (_, events) => unreachable!("operation checked above: {events:?}"),
        }
        parts.push(Part {
            answer: submission.answer,
            offset: u32::try_from(event_count).expect("at most EVENTS_MAX events"),
            count: u32::try_from(count).expect("at most EVENTS_MAX events"),
            ids,
        });
        event_count += count;
        if chain_open {
            break;
        }
    }
    if parts.is_empty() {
        // Every submission of this operation had gone: look again.
        return coalesce(queue, queued_events);
    }
    Some(Batch { body, parts })
}

fn split_results<R: Copy>(
    results: &[(u32, R)],
    parts: Vec<Part>,
    wrap: fn(Vec<(u32, R)>) -> ReplyBody,
) {
    let mut cursor = 0;
    for part in parts {
        let end = part.offset + part.count;
        let start = cursor;
        while cursor < results.len() && results[cursor].0 < end {
            cursor += 1;
        }
        let mine = results[start..cursor]
            .iter()
            .map(|(index, result)| (index - part.offset, *result))
            .collect();
        let _ = part.answer.send(Ok(wrap(mine)));
    }
}

fn split_records<T: Copy>(
    records: &[T],
    id: fn(&T) -> u128,
    parts: Vec<Part>,
    wrap: fn(Vec<T>) -> ReplyBody,
) {
    let found: HashMap<u128, T> = records.iter().map(|r| (id(r), *r)).collect();
    for part in parts {
        let mine = part
            .ids
            .iter()
            .filter_map(|id| found.get(id).copied())
            .collect();
        let _ = part.answer.send(Ok(wrap(mine)));
    }
}

/// Hands each caller of `batch` its share of `reply`. A reply that does not fit the request
/// (another operation, a result index past its events) fails every caller with
/// `Error::Protocol`: the server is broken, and guessing would misreport money movements.
pub(crate) fn demultiplex(batch: Batch, reply: ReplyBody) {
    let event_count = batch.event_count();
    let operation = batch.body.operation();
    let fits = reply.operation() == operation
        && match &reply {
            ReplyBody::CreateAccounts(r) => r.last().is_none_or(|l| (l.0 as usize) < event_count),
            ReplyBody::CreateTransfers(r) => r.last().is_none_or(|l| (l.0 as usize) < event_count),
            ReplyBody::SetAccountLimits(r) => r.last().is_none_or(|l| (l.0 as usize) < event_count),
            ReplyBody::CreatePrograms(r) | ReplyBody::Credit(r) => {
                r.last().is_none_or(|l| (l.0 as usize) < event_count)
            }
            ReplyBody::CreateCampaigns(r) | ReplyBody::Promotions(r) => {
                r.last().is_none_or(|l| (l.0 as usize) < event_count)
            }
            ReplyBody::LookupAccounts(r) => r.len() <= event_count,
            ReplyBody::LookupTransfers(r) => r.len() <= event_count,
        };
    if !fits {
        for part in batch.parts {
            part.fail(Error::Protocol(format!(
                "the reply to {} does not fit its {event_count} events",
                operation.name()
            )));
        }
        return;
    }
    match reply {
        ReplyBody::CreateAccounts(results) => {
            split_results(&results, batch.parts, ReplyBody::CreateAccounts);
        }
        ReplyBody::CreateTransfers(results) => {
            split_results(&results, batch.parts, ReplyBody::CreateTransfers);
        }
        ReplyBody::SetAccountLimits(results) => {
            split_results(&results, batch.parts, ReplyBody::SetAccountLimits);
        }
        ReplyBody::CreatePrograms(results) => {
            split_results(&results, batch.parts, ReplyBody::CreatePrograms);
        }
        ReplyBody::Credit(results) => {
            split_results(&results, batch.parts, ReplyBody::Credit);
        }
        ReplyBody::CreateCampaigns(results) => {
            split_results(&results, batch.parts, ReplyBody::CreateCampaigns);
        }
        ReplyBody::Promotions(results) => {
            split_results(&results, batch.parts, ReplyBody::Promotions);
        }
        ReplyBody::LookupAccounts(accounts) => {
            split_records(&accounts, |a| a.id, batch.parts, ReplyBody::LookupAccounts);
        }
        ReplyBody::LookupTransfers(transfers) => {
            split_records(
                &transfers,
                |t| t.id,
                batch.parts,
                ReplyBody::LookupTransfers,
            );
        }
    }
}
