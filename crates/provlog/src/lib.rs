//! The provenance log's I/O shell: a durable, batched, crash-safe store for the transparency log
//! of `crates/provenance`, and what the log holds: compact signed statements about GS1 EPCIS 2.0
//! events.
//!
//! - `log`: [`Log`], the store: entries, leaf hashes and signed checkpoints in append-only
//!   files; batched integration (durable before a checkpoint is published); recovery that cuts
//!   an unfinished batch and refuses corruption; tiles, entry bundles, proofs and key lookups
//!   for the published checkpoint; witness cosignatures.
//! - `index`: the in-memory key index (product identifier, event hash → entry indexes),
//!   rebuilt from the entries at open.
//! - `jcs`: RFC 8785 canonical JSON; `epcis`: validation of the five EPCIS 2.0 event types;
//!   `gs1`: the one spelling of a product identifier (EPC URN or Digital Link → GTIN + serial).
//! - `statement`: the log entry, a compact binary statement committing to an event's hash.
//! - `bundle`: the offline proof bundle and its verification with the log's key alone.
//! - `service`: [`Provenance`], what the server runs: submitter keys, the batching writer
//!   thread, duplicate detection, product histories.
//! - `keys`: the log's key file and lists of verifier keys.
//!
//! This crate does NOT speak HTTP (the server crate does) or interpret EPCIS beyond what a
//! statement keeps; the tree, proofs, tiles and signed notes are `provenance`'s. The byte
//! layouts and the fault model are in docs/provenance.md.

pub mod bundle;
pub mod epcis;
pub mod gs1;
mod index;
pub mod jcs;
pub mod keys;
mod log;
mod service;
pub mod statement;

pub use bundle::{Bundle, BundleError, BundleEvent, VerifiedBundle, verify_bundle};
pub use index::key_slot;
pub use jcs::Json;
pub use log::{
    AddCosignatureError, CHECKPOINT_RECORD_HEADER, CHECKPOINTS_FILE, CosignError, ENTRIES_FILE,
    HASHES_FILE, KeyFn, Log, LogConfig, LogError, Published, Recovery,
};
pub use service::{
    BATCH_ENTRIES_MAX, DEFAULT_ORIGIN, History, HistoryEvent, LOG_KEY_FILE, OpenError, Provenance,
    ProvenanceConfig, Receipt, Submission, SubmitError, SubmitResult, prepare_with_key,
};
pub use statement::{Action, EventType, Identifier, Role, Statement, StatementError};

#[cfg(test)]
mod tests;
