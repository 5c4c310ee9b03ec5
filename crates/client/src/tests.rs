//! Unit tests of coalescing and demultiplexing: vectors are never split, requests are one
//! operation and at most 8189 events, open chains end a request, answers go to the right caller.

use std::collections::VecDeque;
use std::sync::Arc;

use engine::Request;
use ledger::{CreateTransferResult, Transfer, TransferFlags};
use protocol::{EVENTS_MAX, Operation, ReplyBody, RequestBody};
use tokio::sync::{Semaphore, oneshot};

use crate::batch::{Answer, Batch, Events, Submission, coalesce, demultiplex};

fn transfers(first_id: u128, count: usize, last_linked: bool) -> Vec<Transfer> {
    let mut out: Vec<Transfer> = (0..count as u128)
        .map(|i| Transfer {
            id: first_id + i,
            ..Transfer::default()
        })
        .collect();
    if last_linked && let Some(last) = out.last_mut() {
        last.flags = TransferFlags(TransferFlags::LINKED);
    }
    out
}

/// A queue as the driver keeps it: submissions and their event count.
#[derive(Default)]
struct Queue {
    submissions: VecDeque<Submission>,
    events: usize,
}

impl Queue {
    fn submit(&mut self, events: Events) -> oneshot::Receiver<Answer> {
        let (answer, receiver) = oneshot::channel();
        let permit = Arc::new(Semaphore::new(events.len()))
            .try_acquire_many_owned(events.len() as u32)
            .expect("fresh semaphore");
        self.events += events.len();
        self.submissions.push_back(Submission {
            events,
            answer,
            _permit: permit,
        });
        receiver
    }

    fn coalesce(&mut self) -> Option<Batch> {
        let batch = coalesce(&mut self.submissions, &mut self.events);
        let left: usize = self.submissions.iter().map(|s| s.events.len()).sum();
        assert_eq!(self.events, left, "queued_events is kept exact");
        batch
    }
}

fn ids_of(body: &RequestBody) -> Vec<u128> {
    match body {
        RequestBody::Engine(Request::CreateTransfers(transfers)) => {
            transfers.iter().map(|t| t.id).collect()
        }
        RequestBody::LookupAccounts(ids) | RequestBody::LookupTransfers(ids) => ids.clone(),
        other => panic!("unexpected {other:?}"),
    }
}

// Goal: a request is filled with whole vectors of one operation, in order; others keep their
// place; a vector that does not fit starts the next request.
#[test]
fn coalescing_keeps_vectors_whole() {
    let mut queue = Queue::default();
    let _a = queue.submit(Events::CreateTransfers(transfers(1, 5000, false)));
    let _b = queue.submit(Events::LookupAccounts(vec![7, 8]));
    let _c = queue.submit(Events::CreateTransfers(transfers(10_001, 3000, false)));
    let _d = queue.submit(Events::CreateTransfers(transfers(20_001, 3000, false)));
    let _e = queue.submit(Events::CreateTransfers(transfers(30_001, 100, false)));

    let first = queue.coalesce().expect("work queued");
    // a and c fit (8000); d does not, so neither does e behind it (order within an operation).
    assert_eq!(first.event_count(), 8000);
    let ids = ids_of(&first.body);
    assert_eq!(ids[0], 1);
    assert_eq!(ids[5000], 10_001);
    let second = queue.coalesce().expect("work queued");
    assert_eq!(ids_of(&second.body), vec![7, 8]);
    let third = queue.coalesce().expect("work queued");
    assert_eq!(third.event_count(), 3100);
    assert!(queue.coalesce().is_none());
}

// Goal: a vector ending in an open linked chain ends its request, so the next caller's events
// never join its chain.
#[test]
fn an_open_chain_ends_its_request() {
    let mut queue = Queue::default();
    let _a = queue.submit(Events::CreateTransfers(transfers(1, 2, false)));
    let _b = queue.submit(Events::CreateTransfers(transfers(3, 2, true)));
    let _c = queue.submit(Events::CreateTransfers(transfers(5, 2, false)));
    assert_eq!(ids_of(&queue.coalesce().unwrap().body), vec![1, 2, 3, 4]);
    assert_eq!(ids_of(&queue.coalesce().unwrap().body), vec![5, 6]);
}

// Goal: callers that stopped waiting are not sent; 8189 single events make one full request.
#[test]
fn full_requests_and_abandoned_callers() {
    let mut queue = Queue::default();
    let mut receivers = Vec::new();
    for id in 1..=EVENTS_MAX as u128 + 10 {
        receivers.push(queue.submit(Events::CreateTransfers(transfers(id, 1, false))));
    }
    // The first caller gave up.
    drop(receivers.remove(0));
    let batch = queue.coalesce().unwrap();
    assert_eq!(batch.event_count(), EVENTS_MAX);
    assert_eq!(ids_of(&batch.body)[0], 2);
    assert_eq!(queue.coalesce().unwrap().event_count(), 9);
}

// Goal: 256-byte promotions records fill a request only up to what one frame holds (4096),
// not EVENTS_MAX: two callers of 3000 commands each go in two requests, and every request
// encodes (the encoder asserts the frame's limits).
#[test]
fn large_records_fill_requests_to_the_frame_limit() {
    let grabs = |first: u128, count: u128| {
        (first..first + count)
            .map(|id| promotions::Command::GrabRedPacket {
                id,
                campaign_id: 1,
                user_id: id,
                account_id: 2,
                user_segments: 0,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(Operation::Promotions.request_events_max(), 4096);
    let mut queue = Queue::default();
    let _a = queue.submit(Events::Promotions(grabs(1, 3000)));
    let _b = queue.submit(Events::Promotions(grabs(10_001, 3000)));
    for _ in 0..2 {
        let batch = queue.coalesce().expect("work queued");
        assert_eq!(batch.event_count(), 3000);
        let mut frame = Vec::new();
        protocol::encode_request(&protocol::Envelope::default(), &batch.body, &mut frame);
    }
    assert!(queue.coalesce().is_none());
}

// Goal: each caller gets the failures of its own events, re-indexed; lookups get their own
// records in the order they asked.
#[test]
fn answers_reach_their_callers() {
    let mut queue = Queue::default();
    let a = queue.submit(Events::CreateTransfers(transfers(1, 3, false)));
    let b = queue.submit(Events::CreateTransfers(transfers(4, 1, false)));
    let c = queue.submit(Events::CreateTransfers(transfers(5, 4, false)));
    let batch = queue.coalesce().unwrap();
    demultiplex(
        batch,
        ReplyBody::CreateTransfers(vec![
            (1, CreateTransferResult::Exists),
            (4, CreateTransferResult::ExceedsCredits),
            (7, CreateTransferResult::IdAlreadyFailed),
        ]),
    );
    let answer = |r: oneshot::Receiver<Answer>| r.blocking_recv().unwrap().unwrap();
    assert_eq!(
        answer(a),
        ReplyBody::CreateTransfers(vec![(1, CreateTransferResult::Exists)])
    );
    assert_eq!(answer(b), ReplyBody::CreateTransfers(vec![]));
    assert_eq!(
        answer(c),
        ReplyBody::CreateTransfers(vec![
            (0, CreateTransferResult::ExceedsCredits),
            (3, CreateTransferResult::IdAlreadyFailed)
        ])
    );

    let x = queue.submit(Events::LookupTransfers(vec![3, 1, 99]));
    let y = queue.submit(Events::LookupTransfers(vec![1]));
    let batch = queue.coalesce().unwrap();
    let found = |id| Transfer {
        id,
        ..Transfer::default()
    };
    demultiplex(
        batch,
        ReplyBody::LookupTransfers(vec![found(3), found(1), found(1)]),
    );
    assert_eq!(
        answer(x),
        ReplyBody::LookupTransfers(vec![found(3), found(1)])
    );
    assert_eq!(answer(y), ReplyBody::LookupTransfers(vec![found(1)]));

    // A result past the request's events is a server bug: every caller hears about it.
    let z = queue.submit(Events::CreateTransfers(transfers(1, 2, false)));
    let batch = queue.coalesce().unwrap();
    demultiplex(
        batch,
        ReplyBody::CreateTransfers(vec![(2, CreateTransferResult::Exists)]),
    );
    assert!(matches!(
        z.blocking_recv().unwrap(),
        Err(crate::Error::Protocol(_))
    ));
}
