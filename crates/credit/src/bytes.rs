//! The little-endian field cursors of the credit records and snapshot (shared, in `stdx`).

pub(crate) use stdx::bytes::{Reader, Truncated, Writer};
