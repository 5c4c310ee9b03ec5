//! The binary wire protocol: frames of a 128-byte header and a body of fixed-size records.
//!
//! A request frame carries one engine `Request` (or a lookup) from a client to the server; a
//! reply frame carries its results back; an error frame says why the server is closing the
//! connection. `docs/protocol.md` is the byte-level specification; this crate is its only code.
//!
//! Invariants: decoding never panics on any bytes, it returns a `DecodeError`; every frame that
//! decodes re-encodes to the same bytes; a decoded request maps one to one onto an engine
//! `Request` (or a lookup of ids), so the server adds no interpretation of its own.
//!
//! Pure: no I/O, no clock, no threads. This crate does NOT read sockets, time out, retry or
//! batch: the server and the client do.

mod body;
mod error;
mod header;

#[cfg(test)]
mod tests;

pub use body::{
    ReplyBody, RequestBody, decode_reply, decode_request, encode_error, encode_reply,
    encode_request,
};
pub use error::{DecodeError, ErrorCode};
pub use header::{Envelope, Header, Kind, Operation, decode_header};

/// Size of every frame header, in bytes.
pub const HEADER_SIZE: usize = 128;

/// Largest body of any frame: 8189 128-byte events fit, like the reference engine's message.
pub const BODY_SIZE_MAX: u32 = 1024 * 1024;

/// Largest frame: header plus the largest body.
pub const FRAME_SIZE_MAX: usize = HEADER_SIZE + BODY_SIZE_MAX as usize;

/// Most events in one request, and most records in one reply.
pub const EVENTS_MAX: usize = engine::REQUEST_EVENTS_MAX;

/// The first eight bytes of every frame.
pub const MAGIC: [u8; 8] = *b"ELVNFOLD";

/// The protocol version this crate speaks. See `docs/protocol.md`, "Versioning".
pub const VERSION: u16 = 1;

/// Sizes of the fixed-size records of bodies.
pub const ACCOUNT_SIZE: usize = 128;
pub const TRANSFER_SIZE: usize = 128;
pub const LIMIT_CHANGE_SIZE: usize = ledger::LIMIT_CHANGE_SIZE;
pub const ID_SIZE: usize = 16;
pub const RESULT_SIZE: usize = 8;

const _: () = assert!(EVENTS_MAX * ACCOUNT_SIZE <= BODY_SIZE_MAX as usize);
const _: () = assert!(EVENTS_MAX * TRANSFER_SIZE <= BODY_SIZE_MAX as usize);
const _: () = assert!(EVENTS_MAX <= u32::MAX as usize);
