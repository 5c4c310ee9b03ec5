//! Target `credit-records`: one credit command (128 bytes) or program (256 bytes) through
//! `credit::Command::from_bytes` and `credit::Program::from_bytes`.
//!
//! The input's first byte picks the record type (even: command, odd: program); the rest, cut or
//! zero-padded to the record size, is the record. Properties: never a panic; a record that
//! decodes re-encodes to exactly its bytes (unknown kinds, enum values and non-zero padding are
//! refused, so every accepted record is canonical: docs/protocol.md, "Bodies").

use credit::{COMMAND_SIZE, Command, PROGRAM_SIZE, Program};

use crate::Target;
use crate::targets::samples;

pub struct CreditRecords;

fn record<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = bytes.len().min(N);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

impl Target for CreditRecords {
    fn seeds(&mut self) -> Vec<Vec<u8>> {
        let mut seeds = Vec::new();
        for command in samples::commands(700) {
            let mut seed = vec![0u8];
            command.encode(&mut seed);
            seeds.push(seed);
        }
        for id in [1, u128::MAX] {
            let mut seed = vec![1u8];
            samples::program(id).encode(&mut seed);
            seeds.push(seed);
        }
        seeds
    }

    fn run(&mut self, input: &[u8]) -> Result<String, String> {
        let Some((&which, bytes)) = input.split_first() else {
            return Ok("empty".to_string());
        };
        if which % 2 == 0 {
            let bytes = record::<COMMAND_SIZE>(bytes);
            match Command::from_bytes(&bytes) {
                Ok(command) => {
                    let mut out = Vec::new();
                    command.encode(&mut out);
                    if out != bytes {
                        return Err(format!(
                            "command-reencode: {} re-encodes to other bytes",
                            command.name()
                        ));
                    }
                    Ok(format!("command/{}", command.name()))
                }
                Err(error) => Ok(format!("command/error/{error}")),
            }
        } else {
            let bytes = record::<PROGRAM_SIZE>(bytes);
            match Program::from_bytes(&bytes) {
                Ok(program) => {
                    let mut out = Vec::new();
                    program.encode(&mut out);
                    if out != bytes {
                        return Err("program-reencode: a program re-encodes to other bytes".into());
                    }
                    Ok("program/ok".to_string())
                }
                Err(error) => Ok(format!("program/error/{error}")),
            }
        }
    }
}
