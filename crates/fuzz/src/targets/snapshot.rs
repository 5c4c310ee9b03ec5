//! Target `snapshot`: snapshot payloads (what a snapshot file holds behind its checksum) through
//! `engine::StateMachine::decode_snapshot` (credit and ledger parts, then the cold transfers
//! and `finish`), and the credit part alone through `credit::Credit::decode_snapshot`.
//!
//! The input's first byte picks the decoder (even: the whole state, odd: credit only); the rest
//! is the payload. Properties: never a panic; a state that restores encodes back to exactly the
//! payload, and a credit state to exactly the bytes it consumed (both encodings are canonical:
//! sorted or in creation order, no padding; the decoders refuse any other, fuzz finding F2); a
//! payload whose promotions, credit or ledger section is of an older version (`EFPROMO1`,
//! `EFPROMO2`, `EFCREDT2`, `EFLEDGR2`) encodes in the current one instead, and that encoding must restore and encode
//! to itself; a restored state holds the credit invariants (`Credit::check_lines`).

use credit::Credit;
use engine::{Batch, StateMachine};
use ledger::Transfer;

use crate::Target;
use crate::targets::samples;

/// Whether the payload holds a promotions, credit or ledger section of a version before the current
/// one (which re-encodes in the current version, so not to the same bytes).
fn older_sections(payload: &[u8]) -> bool {
    [b"EFPROMO1", b"EFPROMO2", b"EFCREDT2", b"EFLEDGR2"]
        .iter()
        .any(|magic| payload.windows(8).any(|w| w == *magic))
}

/// The hash key is only table layout; any fixed value will do.
const HASH_KEY: u64 = 0x5EED;

/// A state machine fed `batches` of the sample workload, one batch per op.
#[must_use]
pub fn state_after(batches: usize) -> StateMachine {
    let mut state = StateMachine::new(HASH_KEY);
    let mut timestamp = 1_000_000_000u64;
    for (op, requests) in samples::workload().into_iter().take(batches).enumerate() {
        let count: u64 = requests.iter().map(engine::Request::timestamp_count).sum();
        timestamp += count + 1_000;
        state.apply(
            op as u64 + 1,
            &Batch {
                timestamp,
                requests,
            },
        );
    }
    state
}

pub struct Snapshot {
    /// Every transfer of the full workload, in position order: the cold transfers a snapshot
    /// with a cold floor is restored with.
    cold: Vec<Transfer>,
}

impl Default for Snapshot {
    fn default() -> Snapshot {
        Snapshot {
            cold: state_after(usize::MAX).ledger().transfers_from(0).to_vec(),
        }
    }
}

/// The error's variant and the first of its fields, without numbers (an id or an offset would
/// make every input a new outcome).
fn variant<E: std::fmt::Debug>(error: &E) -> String {
    let text = format!("{error:?}");
    let kind = text.split(['{', '(']).take(2).collect::<Vec<_>>().join("/");
    kind.chars().filter(|c| !c.is_ascii_digit()).collect()
}

impl Snapshot {
    fn state(&self, payload: &[u8]) -> Result<String, String> {
        let mut restore = match StateMachine::decode_snapshot(payload, HASH_KEY) {
            Ok(restore) => restore,
            Err(error) => return Ok(format!("state/decode/{}", variant(&error))),
        };
        let floor = restore.cold_floor();
        // As recovery does: the floor is trusted (and the indexes sized for it) only once the
        // record file is known to hold that many transfers (`OpenError::RecordsMissing`).
        if floor > self.cold.len() as u64 {
            return Ok("state/records-missing".to_string());
        }
        restore.reserve();
        for transfer in self
            .cold
            .iter()
            .take(usize::try_from(floor).unwrap_or(usize::MAX))
        {
            if let Err(error) = restore.cold_transfer(transfer) {
                return Ok(format!("state/cold/{}", variant(&error)));
            }
        }
        let state = match restore.finish() {
            Ok(state) => state,
            Err(error) => return Ok(format!("state/finish/{}", variant(&error))),
        };
        state.ledger().check_conservation();
        state.credit().check_lines(state.ledger());
        let out = state.encode_snapshot();
        if out != payload && older_sections(payload) {
            // An older section decodes and is written in the current version:
            // then that encoding must be a fixed point (restored, it encodes to itself).
            return self.upgraded(&out, floor);
        }
        if out != payload {
            return Err(format!(
                "state-reencode: a restored state encodes to other bytes (first at {} of {}, \
                 {} bytes re-encoded)",
                first_difference(&out, payload),
                payload.len(),
                out.len()
            ));
        }
        Ok(format!(
            "state/ok/{}/{}",
            state.ledger().account_count(),
            state.credit().line_count()
        ))
    }

    /// The check of a state restored from a snapshot with an older promotions section: its
    /// current encoding `out` restores (with the same cold transfers) and encodes to itself.
    fn upgraded(&self, out: &[u8], floor: u64) -> Result<String, String> {
        let mut restore = StateMachine::decode_snapshot(out, HASH_KEY)
            .map_err(|e| format!("state-upgrade: the upgraded encoding does not decode: {e}"))?;
        restore.reserve();
        for transfer in self
            .cold
            .iter()
            .take(usize::try_from(floor).unwrap_or(usize::MAX))
        {
            restore
                .cold_transfer(transfer)
                .map_err(|e| format!("state-upgrade: cold transfer refused: {e:?}"))?;
        }
        let state = restore
            .finish()
            .map_err(|e| format!("state-upgrade: does not finish: {e:?}"))?;
        let again = state.encode_snapshot();
        if again != out {
            return Err(format!(
                "state-upgrade: the upgraded encoding is not a fixed point (first at {})",
                first_difference(&again, out)
            ));
        }
        Ok("state/ok-upgraded".to_string())
    }

    fn credit(payload: &[u8]) -> Result<String, String> {
        match Credit::decode_snapshot(payload, HASH_KEY) {
            Ok((credit, rest)) => {
                let mut out = Vec::new();
                credit.encode_snapshot(&mut out);
                let consumed = &payload[..payload.len() - rest.len()];
                if out[..] != consumed[..] && consumed.starts_with(b"EFCREDT2") {
                    // An older version, written in the current one: that must be a fixed point.
                    let (again, _) = Credit::decode_snapshot(&out, HASH_KEY).map_err(|e| {
                        format!("credit-upgrade: the upgraded encoding does not decode: {e}")
                    })?;
                    let mut twice = Vec::new();
                    again.encode_snapshot(&mut twice);
                    if twice != out {
                        return Err("credit-upgrade: not a fixed point".to_string());
                    }
                    return Ok("credit/ok-upgraded".to_string());
                }
                if out[..] != consumed[..] {
                    return Err(format!(
                        "credit-reencode: a credit state encodes to other bytes (first at {} of \
                         {}, {} bytes re-encoded)",
                        first_difference(&out, consumed),
                        consumed.len(),
                        out.len()
                    ));
                }
                Ok(format!("credit/ok/{}", credit.line_count()))
            }
            Err(error) => Ok(format!("credit/{}", variant(&error))),
        }
    }
}

/// The offset of the first byte where `a` and `b` differ.
fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

impl Target for Snapshot {
    fn seeds(&mut self) -> Vec<Vec<u8>> {
        let mut seeds = Vec::new();
        for batches in [0, 3, 5, usize::MAX] {
            let state = state_after(batches);
            let mut seed = vec![0u8];
            seed.extend_from_slice(&state.encode_snapshot());
            seeds.push(seed);
            let mut seed = vec![1u8];
            state.credit().encode_snapshot(&mut seed);
            seeds.push(seed);
        }
        let mut evicted = state_after(usize::MAX);
        evicted.evict_below(40);
        let mut seed = vec![0u8];
        seed.extend_from_slice(&evicted.encode_snapshot());
        seeds.push(seed);
        seeds
    }

    fn run(&mut self, input: &[u8]) -> Result<String, String> {
        let Some((&which, payload)) = input.split_first() else {
            return Ok("empty".to_string());
        };
        if which % 2 == 0 {
            self.state(payload)
        } else {
            Snapshot::credit(payload)
        }
    }
}
