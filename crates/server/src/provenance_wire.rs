//! The provenance routes' JSON: signed EPCIS submissions in, receipts, product histories with
//! their proofs, and proof answers out. Hashes are lowercase hex where people read them (event
//! hashes) and standard base64 where tlog tools do (roots, proof hashes, statements, bundles).

use provenance::{Hash, base64, hash_to_hex};
use provlog::{History, HistoryEvent, Receipt, epcis};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Events signed by one submitter.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubmitEventsRequest {
    /// The submitter's key name, as registered (`brand.example/acme`).
    pub submitter: String,
    pub events: Vec<SignedEventInput>,
}

/// One EPCIS 2.0 event and the submitter's signature of it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignedEventInput {
    /// An EPCIS 2.0 event (ObjectEvent, AggregationEvent, TransformationEvent,
    /// TransactionEvent, AssociationEvent) as JSON; I-JSON (no duplicate member names).
    #[schema(value_type = Object)]
    pub event: provlog::Json,
    /// Base64 of the Ed25519 signature of `"elevenfold/provenance/event/v1\n"` followed by the
    /// 32-byte SHA-256 of the event's RFC 8785 (JCS) form.
    pub signature: String,
}

/// Where each event is in the log, once durable and covered by a published checkpoint.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SubmitEventsResponse {
    /// The published tree size after the batch that integrated the events.
    pub tree_size: u64,
    /// One per event, in order.
    pub events: Vec<ReceiptOutput>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReceiptOutput {
    /// The entry's index in the log.
    pub index: u64,
    /// SHA-256 of the event's RFC 8785 form, hex.
    pub event_hash: String,
    /// The event was already in the log; `index` is the earlier entry.
    pub duplicate: bool,
}

impl ReceiptOutput {
    pub(crate) fn new(receipt: &Receipt) -> ReceiptOutput {
        ReceiptOutput {
            index: receipt.index,
            event_hash: hash_to_hex(&receipt.event_hash),
            duplicate: receipt.duplicate,
        }
    }
}

/// A product: `id` (an EPC URN or GS1 Digital Link URI, or any identifier as submitted), or
/// `gtin` and `serial`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ProductQuery {
    /// `urn:epc:id:sgtin:0614141.107346.2017`, `https://id.gs1.org/01/10614141073464/21/2017`.
    pub id: Option<String>,
    /// GTIN-8, -12, -13 or -14 with its check digit (with `serial`).
    pub gtin: Option<String>,
    pub serial: Option<String>,
    /// The latest this many events (default and maximum 1000).
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// Bundle only: `base64` for text (a QR code's payload), else raw bytes.
    pub encoding: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IdentifierOutput {
    /// `epc`, `parent`, `child`, `input`, `output` or `class`.
    pub role: &'static str,
    /// Normalised: `01/<GTIN-14>/21/<serial>` for serialised trade items.
    pub id: String,
}

/// One event of a product's history, with its inclusion proof.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HistoryEventOutput {
    pub index: u64,
    pub event_hash: String,
    /// The EPCIS event type.
    #[serde(rename = "type")]
    pub event_type: &'static str,
    /// `ADD`, `OBSERVE`, `DELETE`; absent for a TransformationEvent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
    /// UTC, RFC 3339 with milliseconds.
    pub event_time: String,
    /// Minutes east of UTC.
    pub event_time_zone_offset_minutes: i16,
    /// When the log accepted the event, UTC.
    pub recorded_time: String,
    pub biz_step: String,
    pub disposition: String,
    pub submitter: String,
    /// The submitter key's ID, 8 hex digits.
    pub submitter_key_id: String,
    /// The submitter's Ed25519 signature, base64.
    pub signature: String,
    pub identifiers: Vec<IdentifierOutput>,
    /// The log entry (the binary statement), base64.
    pub statement: String,
    /// The inclusion proof against `root`, base64 hashes from the leaf's sibling up.
    pub inclusion_proof: Vec<String>,
}

impl HistoryEventOutput {
    fn new(event: &HistoryEvent) -> HistoryEventOutput {
        let statement = &event.statement;
        HistoryEventOutput {
            index: event.index,
            event_hash: hash_to_hex(&statement.event_hash),
            event_type: statement.event_type.name(),
            action: Some(statement.action.name()).filter(|a| !a.is_empty()),
            event_time: epcis::format_millis(statement.event_time_ms),
            event_time_zone_offset_minutes: statement.event_time_zone_offset_minutes,
            recorded_time: epcis::format_millis(
                i64::try_from(statement.recorded_ms).unwrap_or(i64::MAX),
            ),
            biz_step: statement.biz_step.clone(),
            disposition: statement.disposition.clone(),
            submitter: statement.submitter.clone(),
            submitter_key_id: format!("{:08x}", statement.submitter_key_id),
            signature: base64::encode(&statement.signature),
            identifiers: statement
                .identifiers
                .iter()
                .map(|i| IdentifierOutput {
                    role: i.role.name(),
                    id: i.id.clone(),
                })
                .collect(),
            statement: base64::encode(&event.entry),
            inclusion_proof: proof_output(&event.proof),
        }
    }
}

/// A product's history against one signed checkpoint, and its offline bundle.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HistoryOutput {
    /// The normalised identifier.
    pub product: String,
    pub tree_size: u64,
    /// The root at `tree_size`, base64.
    pub root: String,
    /// The signed checkpoint (C2SP signed note) the proofs are against.
    pub checkpoint: String,
    /// Events naming the product; `events` holds the latest `limit` of them.
    pub total: usize,
    pub events: Vec<HistoryEventOutput>,
    /// The offline proof bundle of `events`, base64 (`elevenfold provenance verify`).
    pub bundle: String,
}

impl HistoryOutput {
    pub(crate) fn new(history: &History, bundle: &[u8]) -> HistoryOutput {
        HistoryOutput {
            product: history.product.clone(),
            tree_size: history.checkpoint.size,
            root: base64::encode(&history.checkpoint.root),
            checkpoint: history.checkpoint.note.to_string(),
            total: history.total,
            events: history.events.iter().map(HistoryEventOutput::new).collect(),
            bundle: base64::encode(bundle),
        }
    }
}

pub(crate) fn proof_output(proof: &[Hash]) -> Vec<String> {
    proof.iter().map(|hash| base64::encode(hash)).collect()
}

/// Sizes of a consistency proof.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ConsistencyQuery {
    /// The smaller tree size (a witness's latest cosigned size; 0 gives an empty proof).
    #[param(value_type = u64, required = true)]
    pub old: Option<String>,
    /// The larger tree size; default the published size.
    #[param(value_type = Option<u64>)]
    pub new: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConsistencyOutput {
    pub old: u64,
    pub new: u64,
    /// Base64 hashes (RFC 6962 §2.1.2).
    pub proof: Vec<String>,
}

/// An entry and a tree size.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct InclusionQuery {
    #[param(value_type = u64, required = true)]
    pub index: Option<String>,
    /// Default the published size.
    #[param(value_type = Option<u64>)]
    pub size: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InclusionOutput {
    pub index: u64,
    pub tree_size: u64,
    /// The entry's leaf hash, base64.
    pub leaf_hash: String,
    /// Base64 hashes from the leaf's sibling up (RFC 6962 §2.1.1).
    pub proof: Vec<String>,
}

/// The keys a verifier pins.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeysOutput {
    /// The log's origin (its checkpoints' first line and its key's name).
    pub origin: String,
    /// The log's verifier key (C2SP signed-note vkey, Ed25519).
    pub log_key: String,
    /// Witness verifier keys (cosignature/v1) whose cosignatures the log accepts.
    pub witnesses: Vec<String>,
    /// Submitter verifier keys (Ed25519) whose events the log accepts.
    pub submitters: Vec<String>,
}
