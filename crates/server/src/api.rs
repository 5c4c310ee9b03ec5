//! The routes: handlers, the request-body extractor, and the router they are registered on.
//!
//! Invariants owned here: handlers and the OpenAPI document are registered together (utoipa-axum
//! `routes!`), so a route cannot exist without its documentation; writes validate the whole
//! request before submitting it, so an HTTP error means nothing was submitted; parsing happens
//! on the async workers, never on the node's writer thread.

use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use engine::{REQUEST_EVENTS_MAX, Reply, Request, StateMachine};
use ledger::BalanceAtError;
use metrics_exporter_prometheus::PrometheusHandle;
use node::{ColdRecords, Node, NodeError, StorageError};
use serde::Serialize;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::paging::{ListQuery, Page, parse_at, query_or_problem};
use crate::problem::{Problem, ProblemBody, ProblemCode, parse_json};
use crate::wire::{
    AccountInput, AccountOutput, BalanceOutput, BalancesPage, BalancesResponse,
    CreateAccountsRequest, CreateAccountsResponse, CreateTransfersRequest, CreateTransfersResponse,
    HealthOutput, LimitInput, SetLimitsRequest, SetLimitsResponse, TransferInput, TransferOutput,
    TransfersPage, parse_decimal, results_body,
};
use crate::{Drain, RouterOptions, credit_api, promotions_api, provenance_api};

/// What every handler sees. Cloned per request, so every field is a cheap handle.
#[derive(Clone)]
pub(crate) struct App {
    pub(crate) node: Node,
    /// The provenance log, when the server runs one.
    pub(crate) provenance: Option<provlog::Provenance>,
    drain: Drain,
    /// The OpenAPI document, serialized once.
    openapi: Bytes,
    metrics: PrometheusHandle,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "elevenfold",
        description = "A durable double-entry ledger. u128 and u64 values are decimal strings; \
                       u32 and u16 values are JSON numbers; flags are arrays of names. Batch \
                       writes answer 200 with one result per event; HTTP errors are \
                       application/problem+json with a stable `code`."
    ),
    components(schemas(ProblemBody)),
    tags(
        (name = "accounts", description = "Create, read and limit accounts."),
        (name = "transfers", description = "Create and read transfers."),
        (name = "credit", description = "Consumer credit lines: programs, commands, day-close, line views and quotes. Rates are percent strings (\"0.05\" is 0.05%); dates are YYYY-MM-DD."),
        (name = "promotions", description = "Campaigns on budgets that can never be overspent: coupons, payments carrying coupons (checkouts), red-packet pools, lotteries, reward coins, campaign rules, and live campaign figures. Amounts are fen; times are engine timestamps (ns)."),
        (name = "provenance", description = "The provenance log: signed GS1 EPCIS 2.0 events in a C2SP tlog-tiles transparency log; product histories with inclusion proofs, offline bundles, witness cosignatures."),
        (name = "operations", description = "Health, metrics and this document.")
    )
)]
struct ApiDoc;

/// Builds the router with every route, its OpenAPI document, and the problem fallbacks.
pub fn router(node: Node, options: RouterOptions) -> Router {
    let (routes, mut api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(create_accounts))
        .routes(routes!(create_transfers))
        .routes(routes!(set_account_limits))
        .routes(routes!(get_account))
        .routes(routes!(get_transfer))
        .routes(routes!(get_account_transfers))
        .routes(routes!(get_account_balances))
        .routes(routes!(credit_api::create_programs))
        .routes(routes!(credit_api::credit_commands))
        .routes(routes!(credit_api::day_close))
        .routes(routes!(credit_api::get_line))
        .routes(routes!(credit_api::raise_check))
        .routes(routes!(credit_api::line_plans))
        .routes(routes!(credit_api::program_funding))
        .routes(routes!(credit_api::quote))
        .routes(routes!(credit_api::business_date))
        .routes(routes!(promotions_api::create_campaigns))
        .routes(routes!(promotions_api::promotion_commands))
        .routes(routes!(promotions_api::get_campaign))
        .routes(routes!(promotions_api::get_grab))
        .routes(routes!(promotions_api::get_coupon))
        .routes(routes!(promotions_api::get_checkout))
        .routes(routes!(promotions_api::get_prizes))
        .routes(routes!(promotions_api::get_coins))
        .routes(routes!(promotions_api::get_draw))
        .routes(routes!(promotions_api::best_coupons))
        .merge(provenance_api::routes())
        .routes(routes!(openapi_document))
        .routes(routes!(livez))
        .routes(routes!(readyz))
        .routes(routes!(metrics_text))
        .split_for_parts();
    if let Some(description) = &mut api.info.description {
        description.push_str(&problem_table());
    }
    let openapi = Bytes::from(
        api.to_pretty_json()
            .expect("the OpenAPI document is plain data and always serializes"),
    );
    let app = App {
        node,
        provenance: options.provenance,
        drain: options.drain,
        openapi,
        metrics: crate::metrics_handle(),
    };
    routes
        .fallback(not_found)
        // After the routes: it applies to the method routers registered so far.
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(record_duration))
        // Request spans at debug level: nothing per request at the default info level. A 5xx is
        // a warning, not an error: ERROR is reserved for corruption (STYLE §3.4).
        .layer(TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(Level::WARN)))
        .layer(DefaultBodyLimit::max(options.body_size_max))
        .with_state(app)
}

/// The problem codes as a Markdown table, appended to the document's description.
fn problem_table() -> String {
    let mut table = String::from("\n\n| code | status | title |\n| --- | --- | --- |\n");
    for code in ProblemCode::ALL {
        table.push_str(&format!(
            "| `{}` | {} | {} |\n",
            code.name(),
            code.status().as_u16(),
            code.title()
        ));
    }
    table
}

/// A JSON request body: checks the media type, then reads the body within the size limit.
pub(crate) struct JsonBody(pub(crate) Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = Problem;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Problem> {
        if !is_json(request.headers()) {
            return Err(Problem::new(
                ProblemCode::UnsupportedMediaType,
                "send the body with content-type: application/json",
            ));
        }
        match Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(JsonBody(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(
                Problem::new(ProblemCode::BodyTooLarge, rejection.body_text()),
            ),
            Err(rejection) => Err(Problem::new(
                ProblemCode::MalformedJson,
                format!("the body could not be read: {}", rejection.body_text()),
            )),
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

pub(crate) fn json_response<T: Serialize>(value: &T) -> Response {
    let body = serde_json::to_vec(value)
        .expect("wire types always serialize: no maps with non-string keys, no failing impls");
    json_bytes_response(StatusCode::OK, body)
}

fn json_bytes_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub(crate) fn check_event_count(count: usize) -> Result<(), Problem> {
    if count == 0 {
        return Err(Problem::new(
            ProblemCode::EmptyBatch,
            "send between 1 and 8189 events",
        ));
    }
    if count > REQUEST_EVENTS_MAX {
        return Err(Problem::new(
            ProblemCode::BatchTooLarge,
            format!("{count} events; split them into requests of at most {REQUEST_EVENTS_MAX}"),
        ));
    }
    Ok(())
}

pub(crate) fn node_problem(error: NodeError) -> Problem {
    match error {
        // The handlers check the event count first, so this only guards a future node rule.
        NodeError::InvalidRequest(reason) => Problem::new(ProblemCode::InvalidValue, reason),
        other => Problem::new(ProblemCode::NodeUnavailable, other.to_string()),
    }
}

/// A reply of another kind than the request: a broken invariant of the node. Panics in debug
/// builds (tests); in production it is logged and answered 500 rather than taking the server
/// down (STYLE §3.6, soft assertion).
pub(crate) fn reply_mismatch(operation: &str) -> Problem {
    if cfg!(debug_assertions) {
        panic!("the node answered {operation} with a reply of another kind");
    }
    tracing::error!(operation, "the node answered with a reply of another kind");
    Problem::new(
        ProblemCode::InternalError,
        "the node answered with a reply of another kind",
    )
}

fn results_response<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> Response {
    json_bytes_response(StatusCode::OK, results_body(names))
}

pub(crate) fn path_id(path: Result<Path<String>, PathRejection>) -> Result<u128, Problem> {
    let Path(text) =
        path.map_err(|rejection| Problem::new(ProblemCode::InvalidValue, rejection.body_text()))?;
    decimal_id(&text)
}

/// An id given as text (a path segment): a decimal u128, or `invalid_value`.
pub(crate) fn decimal_id(text: &str) -> Result<u128, Problem> {
    parse_decimal(text).ok_or_else(|| {
        Problem::new(
            ProblemCode::InvalidValue,
            format!("the id must be a decimal integer from 0 to 2^128-1, not {text:?}"),
        )
    })
}

fn account_not_found(id: u128) -> Problem {
    Problem::new(
        ProblemCode::AccountNotFound,
        format!("no account with id {id}"),
    )
}

/// Sends one request to the node; answers its per-event results, in order.
pub(crate) async fn execute(app: &App, request: Request) -> Result<Response, Problem> {
    let operation = request.operation_name();
    let reply = app.node.execute(request).await.map_err(node_problem)?;
    // The node answers each request with the reply of its own kind.
    match reply {
        Reply::CreateAccounts(results) if operation == "create_accounts" => {
            Ok(results_response(results.iter().map(|r| r.name())))
        }
        Reply::CreateTransfers(results) if operation == "create_transfers" => {
            Ok(results_response(results.iter().map(|r| r.name())))
        }
        Reply::SetAccountLimits(results) if operation == "set_account_limits" => {
            Ok(results_response(results.iter().map(|r| r.name())))
        }
        Reply::CreatePrograms(results) if operation == "create_programs" => {
            Ok(results_response(results.iter().map(|r| r.name())))
        }
        Reply::Credit(results) if operation == "credit" => {
            Ok(results_response(results.iter().map(|r| r.name())))
        }
        Reply::CreateCampaigns(results) if operation == "create_campaigns" => {
            Ok(results_response(results.iter().map(|r| r.name())))
        }
        Reply::Promotions(results) if operation == "promotions" => {
            Ok(results_response(results.iter().map(|r| r.name())))
        }
        _ => Err(reply_mismatch(operation)),
    }
}

/// Create accounts: one result per account, in order.
#[utoipa::path(
    post,
    path = "/v1/accounts",
    tag = "accounts",
    request_body(content = CreateAccountsRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "One result per account, in order.", body = CreateAccountsResponse),
        (status = 400, description = "Malformed request; nothing was created.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "More than 8189 accounts, or the body is too large.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The node is shutting down or failed.", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn create_accounts(
    State(app): State<App>,
    JsonBody(body): JsonBody,
) -> Result<Response, Problem> {
    let request: CreateAccountsRequest = parse_json(&body)?;
    check_event_count(request.accounts.len())?;
    let accounts = request
        .accounts
        .into_iter()
        .map(AccountInput::into_account)
        .collect();
    execute(&app, Request::CreateAccounts(accounts)).await
}

/// Create transfers: one result per transfer, in order.
#[utoipa::path(
    post,
    path = "/v1/transfers",
    tag = "transfers",
    request_body(content = CreateTransfersRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "One result per transfer, in order.", body = CreateTransfersResponse),
        (status = 400, description = "Malformed request; nothing was created.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "More than 8189 transfers, or the body is too large.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The node is shutting down or failed.", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn create_transfers(
    State(app): State<App>,
    JsonBody(body): JsonBody,
) -> Result<Response, Problem> {
    let request: CreateTransfersRequest = parse_json(&body)?;
    check_event_count(request.transfers.len())?;
    let transfers = request
        .transfers
        .into_iter()
        .map(TransferInput::into_transfer)
        .collect();
    execute(&app, Request::CreateTransfers(transfers)).await
}

/// Change accounts' debit and credit limits: one result per change, in order.
#[utoipa::path(
    post,
    path = "/v1/accounts/limits",
    tag = "accounts",
    request_body(content = SetLimitsRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "One result per change, in order.", body = SetLimitsResponse),
        (status = 400, description = "Malformed request; nothing was changed.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "More than 8189 changes, or the body is too large.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The node is shutting down or failed.", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn set_account_limits(
    State(app): State<App>,
    JsonBody(body): JsonBody,
) -> Result<Response, Problem> {
    let request: SetLimitsRequest = parse_json(&body)?;
    check_event_count(request.limits.len())?;
    let changes = request
        .limits
        .into_iter()
        .map(LimitInput::into_change)
        .collect();
    execute(&app, Request::SetAccountLimits(changes)).await
}

/// One account with its balances, flags and limits.
#[utoipa::path(
    get,
    path = "/v1/accounts/{id}",
    tag = "accounts",
    params(("id" = String, Path, description = "Account id, a decimal u128.")),
    responses(
        (status = 200, description = "The account.", body = AccountOutput),
        (status = 400, description = "The id is not a decimal u128.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such account (`account_not_found`).", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn get_account(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let id = path_id(path)?;
    let found = app.node.read(|state| state.ledger().lookup_account(id));
    let (account, limits) = found.ok_or_else(|| account_not_found(id))?;
    Ok(json_response(&AccountOutput::new(&account, &limits)))
}

/// One transfer; pending transfers also carry their `pending_status`.
#[utoipa::path(
    get,
    path = "/v1/transfers/{id}",
    tag = "transfers",
    params(("id" = String, Path, description = "Transfer id, a decimal u128.")),
    responses(
        (status = 200, description = "The transfer.", body = TransferOutput),
        (status = 400, description = "The id is not a decimal u128.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such transfer (`transfer_not_found`).", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn get_transfer(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let id = path_id(path)?;
    let found = read_cold(&app, move |state, cold| {
        let ledger = state.ledger();
        Ok(ledger
            .lookup_transfer(id, cold)?
            .map(|transfer| TransferOutput::new(&transfer, ledger.pending_status(transfer.id))))
    })
    .await?;
    let transfer = found.ok_or_else(|| {
        Problem::new(
            ProblemCode::TransferNotFound,
            format!("no transfer with id {id}"),
        )
    })?;
    Ok(json_response(&transfer))
}

/// Runs a query that may read evicted transfers from the record file, off the async workers.
/// A record-file error becomes a 500 problem (and is logged): the data is on disk but unreadable.
async fn read_cold<R: Send + 'static>(
    app: &App,
    query: impl FnOnce(&StateMachine, &ColdRecords) -> Result<R, StorageError> + Send + 'static,
) -> Result<R, Problem> {
    let node = app.node.clone();
    let result = tokio::task::spawn_blocking(move || node.read(|state| query(state, node.cold())))
        .await
        .map_err(|_| Problem::new(ProblemCode::InternalError, "the query task failed"))?;
    result.map_err(|error| {
        tracing::error!(%error, "reading the record file failed");
        Problem::new(
            ProblemCode::InternalError,
            "stored transfers could not be read",
        )
    })
}

/// One page of an account's transfers, oldest first unless `reversed`.
#[utoipa::path(
    get,
    path = "/v1/accounts/{id}/transfers",
    tag = "accounts",
    params(("id" = String, Path, description = "Account id, a decimal u128."), ListQuery),
    responses(
        (status = 200, description = "A page of transfers.", body = TransfersPage),
        (status = 400, description = "A bad parameter or cursor.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such account (`account_not_found`).", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn get_account_transfers(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let id = path_id(path)?;
    let query = query_or_problem(query)?;
    if query.at.is_some() {
        return Err(Problem::new(
            ProblemCode::InvalidValue,
            "at is only accepted by /v1/accounts/{id}/balances",
        ));
    }
    let page = Page::from_query(&query)?;
    let filter = page.filter(id);
    let rows = read_cold(&app, move |state, cold| {
        let ledger = state.ledger();
        if ledger.lookup_account(id).is_none() {
            return Ok(None);
        }
        Ok(Some(
            ledger
                .get_account_transfers(&filter, cold)?
                .iter()
                .map(|transfer| TransferOutput::new(transfer, ledger.pending_status(transfer.id)))
                .collect::<Vec<_>>(),
        ))
    })
    .await?;
    let mut rows = rows.ok_or_else(|| account_not_found(id))?;
    let next_cursor = page.finish(&mut rows, |row| row.timestamp.0);
    Ok(json_response(&TransfersPage {
        data: rows,
        next_cursor,
    }))
}

/// An account's balance history (accounts with the `history` flag): one page of rows, or with
/// `at`, the balance as of that timestamp.
#[utoipa::path(
    get,
    path = "/v1/accounts/{id}/balances",
    tag = "accounts",
    params(("id" = String, Path, description = "Account id, a decimal u128."), ListQuery),
    responses(
        (status = 200, description = "A page of balances, or one balance with `at`.", body = BalancesResponse),
        (status = 400, description = "A bad parameter or cursor, or `at` is before the account was created (`before_account_created`).", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such account (`account_not_found`).", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The account has no `history` flag (`history_not_enabled`).", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn get_account_balances(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let id = path_id(path)?;
    let query = query_or_problem(query)?;
    let history_not_enabled = || {
        Problem::new(
            ProblemCode::HistoryNotEnabled,
            format!("account {id} was created without the history flag"),
        )
    };
    if let Some(at) = parse_at(&query)? {
        let balance = app.node.read(|state| state.ledger().balance_at(id, at));
        return match balance {
            Ok(balance) => Ok(json_response(&BalanceOutput::new(&balance))),
            Err(BalanceAtError::AccountNotFound) => Err(account_not_found(id)),
            Err(BalanceAtError::HistoryNotEnabled) => Err(history_not_enabled()),
            Err(BalanceAtError::BeforeAccountCreated) => Err(Problem::new(
                ProblemCode::BeforeAccountCreated,
                format!("account {id} did not exist at {at}"),
            )),
        };
    }
    let page = Page::from_query(&query)?;
    let filter = page.filter(id);
    let rows = read_cold(&app, move |state, cold| {
        let ledger = state.ledger();
        let Some((account, _)) = ledger.lookup_account(id) else {
            return Ok(None);
        };
        if !account.flags.history() {
            return Ok(Some(None));
        }
        Ok(Some(Some(
            ledger
                .get_account_balances(&filter, cold)?
                .iter()
                .map(BalanceOutput::new)
                .collect::<Vec<_>>(),
        )))
    })
    .await?;
    let mut rows = rows
        .ok_or_else(|| account_not_found(id))?
        .ok_or_else(history_not_enabled)?;
    let next_cursor = page.finish(&mut rows, |row| row.timestamp.0);
    Ok(json_response(&BalancesPage {
        data: rows,
        next_cursor,
    }))
}

/// This OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI document.", content_type = "application/json"))
)]
async fn openapi_document(State(app): State<App>) -> Response {
    let mut response = app.openapi.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Liveness: 200 while the process runs.
#[utoipa::path(
    get,
    path = "/livez",
    tag = "operations",
    responses((status = 200, description = "The process runs.", body = HealthOutput))
)]
async fn livez() -> Response {
    json_response(&HealthOutput { status: "live" })
}

/// Readiness: 200 while the node takes requests; 503 while draining, after a storage failure,
/// or after shutdown.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "The node takes requests.", body = HealthOutput),
        (status = 503, description = "Draining, failed or stopped.", body = HealthOutput)
    )
)]
async fn readyz(State(app): State<App>) -> Response {
    let status = if app.node.failure().is_some() {
        "failed"
    } else if app.drain.is_draining() {
        "draining"
    } else if app.node.ready() {
        "ready"
    } else {
        "stopped"
    };
    let code = if status == "ready" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::to_vec(&HealthOutput { status })
        .expect("a struct of one string always serializes");
    json_bytes_response(code, body)
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4.", content_type = "text/plain", body = String))
)]
async fn metrics_text(State(app): State<App>) -> Response {
    let mut response = app.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

async fn not_found(uri: Uri) -> Problem {
    Problem::new(
        ProblemCode::NotFound,
        format!("no route for {}", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> Problem {
    Problem::new(
        ProblemCode::MethodNotAllowed,
        format!("{method} is not supported on {}", uri.path()),
    )
}

/// Records `elevenfold_http_request_duration_seconds{method, route, status}`. The route is the
/// matched pattern (`/v1/accounts/{id}`), never the raw path, so label cardinality stays bounded.
async fn record_duration(request: axum::extract::Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    metrics::histogram!(
        crate::HTTP_DURATION_METRIC,
        "method" => method,
        "route" => route,
        "status" => response.status().as_str().to_owned()
    )
    .record(started.elapsed().as_secs_f64());
    response
}
