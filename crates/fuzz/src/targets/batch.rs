//! Target `batch`: the log encoding of a batch (what a WAL frame's payload holds) through
//! `engine::decode_batch`.
//!
//! Properties: never a panic; a batch that decodes encodes to bytes that decode to the same
//! batch. Exact re-encoding is not a property here: the log codec accepts a limit change with a
//! value behind an unset flag (the protocol refuses it), and a WAL payload is checksummed.

use engine::{Batch, Request, decode_batch, encode_batch};

use crate::Target;
use crate::targets::samples;

pub struct BatchCodec;

impl Target for BatchCodec {
    fn seeds(&mut self) -> Vec<Vec<u8>> {
        let batches = [
            Batch {
                timestamp: 1_000_000,
                requests: vec![
                    Request::CreateAccounts(samples::accounts()),
                    Request::CreateTransfers(samples::transfers(100)),
                    Request::SetAccountLimits(samples::limit_changes()),
                ],
            },
            Batch {
                timestamp: 2_000_000_000,
                requests: vec![
                    Request::CreatePrograms(vec![samples::program(1)]),
                    Request::Credit(samples::commands(500)),
                ],
            },
            Batch {
                timestamp: 5,
                requests: Vec::new(),
            },
        ];
        batches
            .iter()
            .map(|batch| {
                let mut out = Vec::new();
                encode_batch(batch, &mut out);
                out
            })
            .collect()
    }

    fn run(&mut self, input: &[u8]) -> Result<String, String> {
        match decode_batch(input) {
            Ok(batch) => {
                let mut out = Vec::new();
                encode_batch(&batch, &mut out);
                match decode_batch(&out) {
                    Ok(again) if again == batch => {}
                    Ok(_) => return Err("batch-reencode: a different batch decodes back".into()),
                    Err(error) => {
                        return Err(format!(
                            "batch-reencode: re-encoding fails to decode: {error}"
                        ));
                    }
                }
                let exact = if out == input {
                    "exact"
                } else {
                    "canonicalised"
                };
                let kinds: Vec<&str> = batch.requests.iter().map(Request::operation_name).collect();
                Ok(format!("ok/{exact}/{}", kinds.join(",")))
            }
            Err(error) => {
                let text = format!("{error:?}");
                Ok(format!(
                    "error/{}",
                    text.split([' ', '{', '(']).next().unwrap_or("")
                ))
            }
        }
    }
}
