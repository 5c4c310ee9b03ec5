//! The state machine as the `state-machine` modes drive it: one core, no log, no fsync, but
//! the engine time, op numbers, prefetch pass and eviction a node's writer gives it, so that
//! these modes measure the writer's own work.

use engine::{Batch, Reply, Request, StateMachine};

/// Batches between evictions of applied transfers, as a node does once its archiver made them
/// durable.
const EVICT_EVERY: u64 = 16;

/// The state machine with the engine time and op a node would give it.
pub(crate) struct Machine {
    pub(crate) state: StateMachine,
    timestamp: u64,
    op: u64,
    needs: Vec<u64>,
}

impl Machine {
    pub(crate) fn new() -> Machine {
        Machine {
            state: StateMachine::new(0x5eed),
            timestamp: 1_000_000_000,
            op: 0,
            needs: Vec::new(),
        }
    }

    /// Applies `request` as one batch, after the prefetch pass a node's writer runs over every
    /// batch (`StateMachine::prefetch_needs`: one id-index probe per transfer the batch may
    /// create).
    ///
    /// # Panics
    /// If the batch would read an evicted transfer: a node reads those from its record file,
    /// which this mode does not keep, and the benches create only new ids.
    pub(crate) fn apply(&mut self, request: Request) -> Vec<Reply> {
        self.timestamp += request.timestamp_count();
        self.op += 1;
        let batch = Batch {
            timestamp: self.timestamp,
            requests: vec![request],
        };
        self.needs.clear();
        self.state.prefetch_needs(&batch, &mut self.needs);
        assert!(
            self.needs.is_empty(),
            "the batch reads evicted transfers {:?}",
            &self.needs[..self.needs.len().min(4)]
        );
        let replies = self.state.apply(self.op, &batch);
        if self.op.is_multiple_of(EVICT_EVERY) {
            let count = self.state.ledger().transfer_count();
            self.state.evict_below(count);
        }
        replies
    }

    /// [`Machine::apply`] for the one reply of a request.
    pub(crate) fn apply_one(&mut self, request: Request) -> Reply {
        self.apply(request).pop().expect("one reply")
    }
}
