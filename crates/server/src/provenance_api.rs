//! The provenance routes (`/v1/provenance/...`): signed EPCIS submissions, product histories
//! with inclusion proofs and offline bundles, proofs for monitors and witnesses, witness
//! cosignatures, and the C2SP tlog-tiles read paths (`checkpoint`, `tile/<L>/<N>[.p/<W>]`,
//! `tile/entries/<N>[.p/<W>]`) under the prefix `/v1/provenance/`.
//!
//! Same invariants as `api.rs`: every route is documented (the tile wildcard through a
//! documentation-only operation, since an OpenAPI path cannot say "any depth"); a problem means
//! nothing was appended. A submission is answered only once its batch is durable and covered
//! by a published checkpoint. Checking events (JSON rules, one Ed25519 verification each) runs
//! off the async workers.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use provenance::{TilePath, parse_tile_path};
use provlog::{AddCosignatureError, LogError, Provenance, Submission, SubmitError, gs1};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::{App, JsonBody, json_response};
use crate::paging::query_or_problem;
use crate::problem::{Problem, ProblemBody, ProblemCode, parse_json};
use crate::provenance_wire::{
    ConsistencyOutput, ConsistencyQuery, HistoryOutput, InclusionOutput, InclusionQuery,
    KeysOutput, ProductQuery, ReceiptOutput, SubmitEventsRequest, SubmitEventsResponse,
    proof_output,
};

/// Most events in one submission.
pub const SUBMIT_EVENTS_MAX: usize = 10_000;
/// Most events in one history answer.
pub const HISTORY_EVENTS_MAX: usize = 1000;

/// The tile paths, for the document only (the router serves them through a wildcard).
#[derive(OpenApi)]
#[openapi(paths(tile_document))]
struct TilesDoc;

/// The provenance routes, with their documentation.
pub(crate) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::with_openapi(TilesDoc::openapi())
        .routes(routes!(submit_events))
        .routes(routes!(product_history))
        .routes(routes!(product_bundle))
        .routes(routes!(consistency_proof))
        .routes(routes!(inclusion_proof))
        .routes(routes!(checkpoint))
        .routes(routes!(cosigned_checkpoint))
        .routes(routes!(add_cosignatures))
        .routes(routes!(keys))
        .route("/v1/provenance/tile/{*path}", get(tile))
}

fn provenance(app: &App) -> Result<&Provenance, Problem> {
    app.provenance.as_ref().ok_or_else(|| {
        Problem::new(
            ProblemCode::NotFound,
            "the provenance log is not enabled on this server",
        )
    })
}

fn log_problem(error: &LogError) -> Problem {
    match error {
        LogError::Failed | LogError::Closed => Problem::new(
            ProblemCode::NodeUnavailable,
            format!("provenance log: {error}"),
        ),
        other => {
            tracing::error!(error = %other, "provenance log error");
            Problem::new(
                ProblemCode::InternalError,
                format!("provenance log: {other}"),
            )
        }
    }
}

fn submit_problem(position: usize, error: SubmitError) -> Problem {
    let at = format!("/events/{position}");
    match error {
        SubmitError::UnknownSubmitter(_) => {
            Problem::new(ProblemCode::UnknownSubmitter, error.to_string())
                .with_pointer("/submitter".to_string())
        }
        SubmitError::Signature => Problem::new(ProblemCode::InvalidSignature, error.to_string())
            .with_pointer(format!("{at}/signature")),
        SubmitError::SignatureEncoding => {
            Problem::new(ProblemCode::InvalidValue, error.to_string())
                .with_pointer(format!("{at}/signature"))
        }
        SubmitError::Event(event) => {
            let pointer = format!("{at}/event{}", event.pointer);
            Problem::new(
                ProblemCode::InvalidValue,
                format!("{} (at {pointer})", event.reason),
            )
            .with_pointer(pointer)
        }
        other => Problem::new(ProblemCode::InvalidValue, other.to_string())
            .with_pointer(format!("{at}/event")),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn query_u64(name: &str, value: Option<&str>) -> Result<Option<u64>, Problem> {
    value
        .map(|text| {
            crate::wire::parse_decimal(text)
                .and_then(|v| u64::try_from(v).ok())
                .ok_or_else(|| {
                    Problem::new(
                        ProblemCode::InvalidValue,
                        format!(
                            "`{name}` must be a decimal integer from 0 to 2^64-1, not {text:?}"
                        ),
                    )
                })
        })
        .transpose()
}

fn required_u64(name: &str, value: Option<&str>) -> Result<u64, Problem> {
    query_u64(name, value)?.ok_or_else(|| {
        Problem::new(
            ProblemCode::MissingField,
            format!("the query parameter `{name}` is required"),
        )
    })
}

fn text_response(status: StatusCode, body: String, cache: &'static str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

fn bytes_response(body: Vec<u8>, cache: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// Tiles and bundles never change once served (a partial tile is a different path).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The checkpoint changes with every batch.
const MUTABLE: &str = "no-cache";

/// Submit signed EPCIS 2.0 events. Every event is validated and its signature checked before
/// any is queued; the answer comes once they are durable and covered by a published
/// checkpoint. An event already in the log is not appended again (`duplicate`).
#[utoipa::path(
    post,
    path = "/v1/provenance/events",
    tag = "provenance",
    request_body(content = SubmitEventsRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Where each event is in the log.", body = SubmitEventsResponse),
        (status = 400, description = "A malformed request or an invalid event (`pointer` names it); nothing was appended.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`unknown_submitter` or `invalid_signature`; nothing was appended.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "The provenance log is not enabled.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "More than 10000 events, or the body is too large.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The log failed or is shutting down.", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn submit_events(
    State(app): State<App>,
    JsonBody(body): JsonBody,
) -> Result<Response, Problem> {
    let provenance = provenance(&app)?.clone();
    let request: SubmitEventsRequest = parse_json(&body)?;
    if request.events.is_empty() {
        return Err(Problem::new(
            ProblemCode::EmptyBatch,
            "send between 1 and 10000 events",
        ));
    }
    if request.events.len() > SUBMIT_EVENTS_MAX {
        return Err(Problem::new(
            ProblemCode::BatchTooLarge,
            format!(
                "{} events; split them into requests of at most {SUBMIT_EVENTS_MAX}",
                request.events.len()
            ),
        ));
    }
    let checker = provenance.clone();
    let submissions = tokio::task::spawn_blocking(move || {
        let recorded_ms = now_ms();
        request
            .events
            .iter()
            .enumerate()
            .map(|(position, input)| {
                checker
                    .prepare(
                        &request.submitter,
                        &input.event,
                        &input.signature,
                        recorded_ms,
                    )
                    .map_err(|error| submit_problem(position, error))
            })
            .collect::<Result<Vec<Submission>, Problem>>()
    })
    .await
    .map_err(|_| Problem::new(ProblemCode::InternalError, "the event check panicked"))??;
    let (sender, receiver) = tokio::sync::oneshot::channel();
    provenance.submit(submissions, move |result| {
        let _ = sender.send(result);
    });
    let receipts = receiver
        .await
        .map_err(|_| log_problem(&LogError::Closed))?
        .map_err(|error| log_problem(&error))?;
    Ok(json_response(&SubmitEventsResponse {
        tree_size: provenance.log().size(),
        events: receipts.iter().map(ReceiptOutput::new).collect(),
    }))
}

/// The product key a query names.
fn product_key(query: &ProductQuery) -> Result<String, Problem> {
    match (&query.id, &query.gtin, &query.serial) {
        (Some(id), None, None) if !id.is_empty() => Ok(gs1::normalize(id)),
        (None, Some(gtin), Some(serial)) => gs1::gtin_serial_key(gtin, serial).ok_or_else(|| {
            Problem::new(
                ProblemCode::InvalidValue,
                format!("{gtin:?} is not a GTIN-8, -12, -13 or -14 with a valid check digit"),
            )
        }),
        _ => Err(Problem::new(
            ProblemCode::MissingField,
            "name the product by `id`, or by `gtin` and `serial`",
        )),
    }
}

async fn history(app: &App, query: &ProductQuery) -> Result<(provlog::History, Vec<u8>), Problem> {
    let provenance = provenance(app)?.clone();
    let product = product_key(query)?;
    let limit = query_u64("limit", query.limit.as_deref())?
        .map_or(HISTORY_EVENTS_MAX, |l| {
            usize::try_from(l).unwrap_or(usize::MAX)
        })
        .clamp(1, HISTORY_EVENTS_MAX);
    // Lookups read entries from disk: off the async workers.
    let found = tokio::task::spawn_blocking(move || {
        let history = provenance.history(&product, limit)?;
        let bundle = history.bundle();
        Ok::<_, LogError>((history, bundle))
    })
    .await
    .map_err(|_| Problem::new(ProblemCode::InternalError, "the history lookup panicked"))?
    .map_err(|error| log_problem(&error))?;
    let (history, bundle) = found;
    if history.total == 0 {
        return Err(Problem::new(
            ProblemCode::ProductNotFound,
            format!("no event names {}", history.product),
        ));
    }
    let bundle =
        bundle.map_err(|error| Problem::new(ProblemCode::InternalError, error.to_string()))?;
    Ok((history, bundle))
}

/// A product's history: every event naming it (the latest `limit`), each with its inclusion
/// proof against the published checkpoint, and the offline proof bundle of them all.
#[utoipa::path(
    get,
    path = "/v1/provenance/products",
    tag = "provenance",
    params(ProductQuery),
    responses(
        (status = 200, description = "The history.", body = HistoryOutput),
        (status = 400, description = "No product named, or a bad GTIN.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No event names the product (`product_not_found`).", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn product_history(
    State(app): State<App>,
    query: Result<Query<ProductQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let query = query_or_problem(query)?;
    let (history, bundle) = history(&app, &query).await?;
    Ok(json_response(&HistoryOutput::new(&history, &bundle)))
}

/// A product's offline proof bundle (`elevenfold provenance verify BUNDLE --key KEY`): raw
/// bytes, or base64 text with `encoding=base64` (a QR code's payload).
#[utoipa::path(
    get,
    path = "/v1/provenance/bundle",
    tag = "provenance",
    params(ProductQuery),
    responses(
        (status = 200, description = "The bundle.", content_type = "application/octet-stream"),
        (status = 400, description = "No product named, or a bad GTIN.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No event names the product (`product_not_found`).", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn product_bundle(
    State(app): State<App>,
    query: Result<Query<ProductQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let query = query_or_problem(query)?;
    let (_, bundle) = history(&app, &query).await?;
    match query.encoding.as_deref() {
        None | Some("binary") => Ok(bytes_response(bundle, MUTABLE)),
        Some("base64") => Ok(text_response(
            StatusCode::OK,
            provenance::base64::encode(&bundle),
            MUTABLE,
        )),
        Some(other) => Err(Problem::new(
            ProblemCode::InvalidValue,
            format!("`encoding` is `binary` or `base64`, not {other:?}"),
        )),
    }
}

/// A consistency proof between two tree sizes, for witnesses and monitors. `old=0` answers an
/// empty proof (the empty tree is consistent with every tree, as C2SP tlog-witness says).
#[utoipa::path(
    get,
    path = "/v1/provenance/consistency",
    tag = "provenance",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "The proof.", body = ConsistencyOutput),
        (status = 400, description = "Sizes out of order or beyond the published size.", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn consistency_proof(
    State(app): State<App>,
    query: Result<Query<ConsistencyQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let log = provenance(&app)?.log();
    let query = query_or_problem(query)?;
    let old = required_u64("old", query.old.as_deref())?;
    let new = query_u64("new", query.new.as_deref())?.unwrap_or_else(|| log.size());
    let proof = if old == 0 && new <= log.size() {
        Vec::new()
    } else {
        log.consistency_proof(old, new)
            .map_err(|error| Problem::new(ProblemCode::InvalidValue, error.to_string()))?
    };
    Ok(json_response(&ConsistencyOutput {
        old,
        new,
        proof: proof_output(&proof),
    }))
}

/// The inclusion proof of one entry, by index.
#[utoipa::path(
    get,
    path = "/v1/provenance/proof",
    tag = "provenance",
    params(InclusionQuery),
    responses(
        (status = 200, description = "The proof.", body = InclusionOutput),
        (status = 400, description = "The index or size is beyond the published size.", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn inclusion_proof(
    State(app): State<App>,
    query: Result<Query<InclusionQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let log = provenance(&app)?.log();
    let query = query_or_problem(query)?;
    let index = required_u64("index", query.index.as_deref())?;
    let size = query_u64("size", query.size.as_deref())?.unwrap_or_else(|| log.size());
    let proof = log
        .inclusion_proof(index, size)
        .map_err(|error| Problem::new(ProblemCode::InvalidValue, error.to_string()))?;
    let leaf = log
        .leaf_hash(index)
        .ok_or_else(|| Problem::new(ProblemCode::InvalidValue, format!("no entry {index}")))?;
    Ok(json_response(&InclusionOutput {
        index,
        tree_size: size,
        leaf_hash: provenance::base64::encode(&leaf),
        proof: proof_output(&proof),
    }))
}

/// The latest signed checkpoint (C2SP tlog-checkpoint), with any witness cosignatures gathered
/// for it.
#[utoipa::path(
    get,
    path = "/v1/provenance/checkpoint",
    tag = "provenance",
    responses((status = 200, description = "The signed note.", content_type = "text/plain; charset=utf-8"))
)]
pub(crate) async fn checkpoint(State(app): State<App>) -> Result<Response, Problem> {
    let log = provenance(&app)?.log();
    Ok(text_response(
        StatusCode::OK,
        log.published().note.to_string(),
        MUTABLE,
    ))
}

/// The latest checkpoint that carries at least one witness cosignature.
#[utoipa::path(
    get,
    path = "/v1/provenance/checkpoint/cosigned",
    tag = "provenance",
    responses(
        (status = 200, description = "The cosigned note.", content_type = "text/plain; charset=utf-8"),
        (status = 404, description = "No checkpoint was cosigned yet (`checkpoint_not_found`).", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn cosigned_checkpoint(State(app): State<App>) -> Result<Response, Problem> {
    let log = provenance(&app)?.log();
    let cosigned = log.cosigned().ok_or_else(|| {
        Problem::new(
            ProblemCode::CheckpointNotFound,
            "no checkpoint has been cosigned yet",
        )
    })?;
    Ok(text_response(
        StatusCode::OK,
        cosigned.note.to_string(),
        MUTABLE,
    ))
}

/// Add witness cosignatures: the body is one of this log's checkpoints (as served) with the
/// witness's `cosignature/v1` lines added. They are verified against the configured witness
/// keys, merged with those already gathered, made durable, and served with the checkpoint.
/// Answers the merged note.
#[utoipa::path(
    post,
    path = "/v1/provenance/cosignatures",
    tag = "provenance",
    request_body(content = String, content_type = "text/plain"),
    responses(
        (status = 200, description = "The checkpoint with every cosignature gathered.", content_type = "text/plain; charset=utf-8"),
        (status = 403, description = "Not this log's checkpoint, or no configured witness's valid cosignature (`cosignature_rejected`).", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn add_cosignatures(
    State(app): State<App>,
    body: Bytes,
) -> Result<Response, Problem> {
    let provenance = provenance(&app)?.clone();
    let merged = tokio::task::spawn_blocking(move || provenance.log().add_cosignatures(&body))
        .await
        .map_err(|_| Problem::new(ProblemCode::InternalError, "the cosignature check panicked"))?
        .map_err(|error| match error {
            AddCosignatureError::Rejected(rejected) => {
                Problem::new(ProblemCode::CosignatureRejected, rejected.to_string())
            }
            AddCosignatureError::Log(error) => log_problem(&error),
        })?;
    Ok(text_response(StatusCode::OK, merged.to_string(), MUTABLE))
}

/// The keys to pin: the log's, and the witnesses' and submitters' it accepts.
#[utoipa::path(
    get,
    path = "/v1/provenance/keys",
    tag = "provenance",
    responses((status = 200, description = "The keys.", body = KeysOutput))
)]
pub(crate) async fn keys(State(app): State<App>) -> Result<Response, Problem> {
    let provenance = provenance(&app)?;
    let log = provenance.log();
    Ok(json_response(&KeysOutput {
        origin: log.origin().to_string(),
        log_key: log.verifier().vkey(),
        witnesses: log.witnesses().iter().map(|w| w.vkey()).collect(),
        submitters: provenance.submitters().iter().map(|s| s.vkey()).collect(),
    }))
}

/// A tile (`tile/<L>/<N>[.p/<W>]`: `W` hashes of tree level `8 L` from hash `256 N`) or an
/// entry bundle (`tile/entries/<N>[.p/<W>]`), C2SP tlog-tiles; served for the published
/// checkpoint only, immutable.
#[utoipa::path(
    get,
    path = "/v1/provenance/tile/{path}",
    tag = "provenance",
    params(("path" = String, Path, description = "The rest of the tile path, any depth: `0/x001/234.p/5`, `entries/067`.")),
    responses(
        (status = 200, description = "The tile's hashes or the bundle's entries.", content_type = "application/octet-stream"),
        (status = 404, description = "Not a canonical tile path, or not (yet) published (`tile_not_found`).", body = ProblemBody, content_type = "application/problem+json")
    )
)]
#[expect(dead_code, reason = "documents the wildcard route served by `tile`")]
async fn tile_document() {}

async fn tile(State(app): State<App>, Path(rest): Path<String>) -> Result<Response, Problem> {
    let provenance = provenance(&app)?.clone();
    let path = format!("tile/{rest}");
    let not_found = || Problem::new(ProblemCode::TileNotFound, format!("no {path}"));
    let parsed = parse_tile_path(&path).map_err(|_| not_found())?;
    let bytes = match parsed {
        TilePath::Hashes(tile) => provenance.log().tile(&tile),
        TilePath::Entries(tile) => {
            tokio::task::spawn_blocking(move || provenance.log().bundle(&tile))
                .await
                .map_err(|_| Problem::new(ProblemCode::InternalError, "the bundle read panicked"))?
                .map_err(|error| log_problem(&error))?
        }
    };
    bytes
        .map(|bytes| bytes_response(bytes, IMMUTABLE))
        .ok_or_else(not_found)
}

/// Opens (recovering) the provenance log, off the async workers.
pub(crate) async fn open(
    config: Option<provlog::ProvenanceConfig>,
) -> anyhow::Result<Option<Provenance>> {
    use anyhow::Context as _;
    let Some(config) = config else {
        return Ok(None);
    };
    let dir = config.dir.clone();
    let (provenance, recovery) = tokio::task::spawn_blocking(move || Provenance::open(config))
        .await
        .context("the provenance open task panicked")?
        .with_context(|| format!("cannot open the provenance log in {}", dir.display()))?;
    tracing::info!(
        dir = %dir.display(),
        origin = provenance.log().origin(),
        log_key = %provenance.log().verifier().vkey(),
        size = recovery.size,
        created = recovery.created,
        cut_entries_bytes = recovery.cut_entries_bytes,
        cut_checkpoint_bytes = recovery.cut_checkpoint_bytes,
        duration_s = recovery.duration.as_secs_f64(),
        "provenance log recovered"
    );
    Ok(Some(provenance))
}

/// Stops the provenance writer once it answered every queued submission.
pub(crate) async fn shutdown(provenance: Option<Provenance>) -> anyhow::Result<()> {
    use anyhow::Context as _;
    if let Some(provenance) = provenance {
        tokio::task::spawn_blocking(move || provenance.shutdown())
            .await
            .context("the provenance shutdown task panicked")?;
    }
    Ok(())
}
