//! HTTP errors as RFC 9457 `application/problem+json`, each with a stable snake_case `code`.
//!
//! Invariants owned here: every error the server answers (including axum's own rejections, 404
//! and 405) is a problem document; codes are never renamed or reused; a problem means the
//! request changed nothing. Per-event rejections (a zero id, insufficient funds) are NOT
//! problems: they are result codes in a 200 response.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The stable machine-readable cause of an HTTP error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProblemCode {
    MalformedJson,
    UnknownField,
    InvalidValue,
    MissingField,
    EmptyBatch,
    BatchTooLarge,
    BodyTooLarge,
    UnsupportedMediaType,
    InvalidCursor,
    BeforeAccountCreated,
    NotFound,
    AccountNotFound,
    TransferNotFound,
    LineNotFound,
    ProgramNotFound,
    CampaignNotFound,
    CouponNotFound,
    CheckoutNotFound,
    DrawNotFound,
    ProductNotFound,
    TileNotFound,
    CheckpointNotFound,
    UnknownSubmitter,
    InvalidSignature,
    CosignatureRejected,
    MethodNotAllowed,
    HistoryNotEnabled,
    InternalError,
    NodeUnavailable,
}

impl ProblemCode {
    /// Every code, for documentation and tests.
    pub const ALL: &'static [ProblemCode] = &[
        ProblemCode::MalformedJson,
        ProblemCode::UnknownField,
        ProblemCode::InvalidValue,
        ProblemCode::MissingField,
        ProblemCode::EmptyBatch,
        ProblemCode::BatchTooLarge,
        ProblemCode::BodyTooLarge,
        ProblemCode::UnsupportedMediaType,
        ProblemCode::InvalidCursor,
        ProblemCode::BeforeAccountCreated,
        ProblemCode::NotFound,
        ProblemCode::AccountNotFound,
        ProblemCode::TransferNotFound,
        ProblemCode::LineNotFound,
        ProblemCode::ProgramNotFound,
        ProblemCode::CampaignNotFound,
        ProblemCode::CouponNotFound,
        ProblemCode::CheckoutNotFound,
        ProblemCode::DrawNotFound,
        ProblemCode::ProductNotFound,
        ProblemCode::TileNotFound,
        ProblemCode::CheckpointNotFound,
        ProblemCode::UnknownSubmitter,
        ProblemCode::InvalidSignature,
        ProblemCode::CosignatureRejected,
        ProblemCode::MethodNotAllowed,
        ProblemCode::HistoryNotEnabled,
        ProblemCode::InternalError,
        ProblemCode::NodeUnavailable,
    ];

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ProblemCode::MalformedJson => "malformed_json",
            ProblemCode::UnknownField => "unknown_field",
            ProblemCode::InvalidValue => "invalid_value",
            ProblemCode::MissingField => "missing_field",
            ProblemCode::EmptyBatch => "empty_batch",
            ProblemCode::BatchTooLarge => "batch_too_large",
            ProblemCode::BodyTooLarge => "body_too_large",
            ProblemCode::UnsupportedMediaType => "unsupported_media_type",
            ProblemCode::InvalidCursor => "invalid_cursor",
            ProblemCode::BeforeAccountCreated => "before_account_created",
            ProblemCode::NotFound => "not_found",
            ProblemCode::AccountNotFound => "account_not_found",
            ProblemCode::TransferNotFound => "transfer_not_found",
            ProblemCode::LineNotFound => "line_not_found",
            ProblemCode::ProgramNotFound => "program_not_found",
            ProblemCode::CampaignNotFound => "campaign_not_found",
            ProblemCode::CouponNotFound => "coupon_not_found",
            ProblemCode::CheckoutNotFound => "checkout_not_found",
            ProblemCode::DrawNotFound => "draw_not_found",
            ProblemCode::ProductNotFound => "product_not_found",
            ProblemCode::TileNotFound => "tile_not_found",
            ProblemCode::CheckpointNotFound => "checkpoint_not_found",
            ProblemCode::UnknownSubmitter => "unknown_submitter",
            ProblemCode::InvalidSignature => "invalid_signature",
            ProblemCode::CosignatureRejected => "cosignature_rejected",
            ProblemCode::MethodNotAllowed => "method_not_allowed",
            ProblemCode::HistoryNotEnabled => "history_not_enabled",
            ProblemCode::InternalError => "internal_error",
            ProblemCode::NodeUnavailable => "node_unavailable",
        }
    }

    #[must_use]
    pub fn status(self) -> StatusCode {
        match self {
            ProblemCode::MalformedJson
            | ProblemCode::UnknownField
            | ProblemCode::InvalidValue
            | ProblemCode::MissingField
            | ProblemCode::EmptyBatch
            | ProblemCode::InvalidCursor
            | ProblemCode::BeforeAccountCreated => StatusCode::BAD_REQUEST,
            // Too many events is "too large" just like too many bytes: the client's remedy is
            // the same (split the request), so both answer 413.
            ProblemCode::BatchTooLarge | ProblemCode::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemCode::NotFound
            | ProblemCode::AccountNotFound
            | ProblemCode::TransferNotFound
            | ProblemCode::LineNotFound
            | ProblemCode::ProgramNotFound
            | ProblemCode::CampaignNotFound
            | ProblemCode::CouponNotFound
            | ProblemCode::CheckoutNotFound
            | ProblemCode::DrawNotFound
            | ProblemCode::ProductNotFound
            | ProblemCode::TileNotFound
            | ProblemCode::CheckpointNotFound => StatusCode::NOT_FOUND,
            // Who signed is checked after the request parsed: the remedy is a key, not a fix
            // of the body.
            ProblemCode::UnknownSubmitter
            | ProblemCode::InvalidSignature
            | ProblemCode::CosignatureRejected => StatusCode::FORBIDDEN,
            ProblemCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemCode::HistoryNotEnabled => StatusCode::CONFLICT,
            ProblemCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            ProblemCode::NodeUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A short summary that does not change between occurrences (RFC 9457 `title`).
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            ProblemCode::MalformedJson => "the request body is not valid JSON",
            ProblemCode::UnknownField => "the request has a field this API does not know",
            ProblemCode::InvalidValue => "a value in the request is invalid",
            ProblemCode::MissingField => "a required field is missing",
            ProblemCode::EmptyBatch => "the request holds no events",
            ProblemCode::BatchTooLarge => "the request holds more than 8189 events",
            ProblemCode::BodyTooLarge => "the request body is too large",
            ProblemCode::UnsupportedMediaType => "the request body must be application/json",
            ProblemCode::InvalidCursor => "the cursor is not one this server issued",
            ProblemCode::BeforeAccountCreated => "the timestamp is before the account was created",
            ProblemCode::NotFound => "no such route",
            ProblemCode::AccountNotFound => "no such account",
            ProblemCode::TransferNotFound => "no such transfer",
            ProblemCode::LineNotFound => "no such credit line",
            ProblemCode::ProgramNotFound => "no such credit program",
            ProblemCode::CampaignNotFound => "no such promotion campaign",
            ProblemCode::CouponNotFound => "no such coupon",
            ProblemCode::CheckoutNotFound => "no such checkout",
            ProblemCode::DrawNotFound => "no such lottery draw",
            ProblemCode::ProductNotFound => "the provenance log has no event naming this product",
            ProblemCode::TileNotFound => "no such tile or entry bundle in the published tree",
            ProblemCode::CheckpointNotFound => "no such checkpoint",
            ProblemCode::UnknownSubmitter => "no submitter key has this name",
            ProblemCode::InvalidSignature => "the signature does not verify",
            ProblemCode::CosignatureRejected => {
                "not a checkpoint of this log cosigned by a configured witness"
            }
            ProblemCode::MethodNotAllowed => "the route does not support this method",
            ProblemCode::HistoryNotEnabled => "the account does not keep balance history",
            ProblemCode::InternalError => "internal server error",
            ProblemCode::NodeUnavailable => "the node is not taking requests",
        }
    }
}

/// The problem document, as sent.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemBody {
    /// `https://elevenfold.dev/problems/<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    /// What was wrong with this request.
    pub detail: String,
    /// Stable snake_case cause, e.g. `invalid_value`.
    pub code: String,
    /// JSON pointer (RFC 6901) to the offending value in the request body, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
}

/// An HTTP error on its way out.
#[derive(Debug)]
pub struct Problem {
    pub code: ProblemCode,
    pub detail: String,
    pub pointer: Option<String>,
}

impl Problem {
    pub fn new(code: ProblemCode, detail: impl Into<String>) -> Problem {
        Problem {
            code,
            detail: detail.into(),
            pointer: None,
        }
    }

    #[must_use]
    pub fn with_pointer(mut self, pointer: String) -> Problem {
        self.pointer = Some(pointer);
        self
    }

    #[must_use]
    pub fn body(&self) -> ProblemBody {
        ProblemBody {
            type_uri: format!("https://elevenfold.dev/problems/{}", self.code.name()),
            title: self.code.title().to_string(),
            status: self.code.status().as_u16(),
            detail: self.detail.clone(),
            code: self.code.name().to_string(),
            pointer: self.pointer.clone(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).expect("a struct of strings always serializes");
        let mut response = (self.code.status(), body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// Parses a JSON request body, turning any failure into the matching problem.
///
/// The fast path is plain `serde_json`; only on a data error is the body parsed again with path
/// tracking, so the JSON pointer to the bad value costs nothing on valid requests.
pub fn parse_json<'de, T: Deserialize<'de>>(body: &'de [u8]) -> Result<T, Problem> {
    use serde_json::error::Category;
    let error = match serde_json::from_slice(body) {
        Ok(value) => return Ok(value),
        Err(error) => error,
    };
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            Err(Problem::new(ProblemCode::MalformedJson, error.to_string()))
        }
        Category::Data => {
            let mut deserializer = serde_json::Deserializer::from_slice(body);
            let (pointer, message) =
                match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
                    Err(tracked) => (json_pointer(tracked.path()), message_of(tracked.inner())),
                    // Unreachable: the same bytes through the same deserializer fail the same way.
                    Ok(_) => (String::new(), message_of(&error)),
                };
            let code = if message.starts_with("unknown field") {
                ProblemCode::UnknownField
            } else if message.starts_with("missing field") {
                ProblemCode::MissingField
            } else {
                ProblemCode::InvalidValue
            };
            let detail = if pointer.is_empty() {
                message
            } else {
                format!("{message} (at {pointer})")
            };
            Err(Problem::new(code, detail).with_pointer(pointer))
        }
    }
}

/// The serde message without serde_json's " at line L column C" suffix: the pointer says where.
fn message_of(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match text.strip_suffix(&suffix) {
        Some(message) => message.to_string(),
        None => text,
    }
}

/// RFC 6901 JSON pointer of a serde path, e.g. `/transfers/3/amount`.
fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path {
        pointer.push('/');
        match segment {
            Segment::Seq { index } => pointer.push_str(&index.to_string()),
            Segment::Map { key } => pointer.push_str(&key.replace('~', "~0").replace('/', "~1")),
            Segment::Enum { variant } => pointer.push_str(variant),
            Segment::Unknown => pointer.push('?'),
        }
    }
    pointer
}
