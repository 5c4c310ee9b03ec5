//! The credit routes (`/v1/credit/...`): programs, line commands, the chunked day-close, line
//! views, raise checks, installment quotes and the business date.
//!
//! Same invariants as `api.rs`: every handler is registered with its OpenAPI operation; writes
//! validate the whole body before submitting, so an HTTP error means nothing was submitted;
//! per-command refusals are result names in a 200 answer, never problems. The day-close is the
//! one write submitted as several requests: one per chunk of lines, so other traffic
//! interleaves; each chunk is atomic and durable on its own.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use credit::math::{self, RoundingMode};
use credit::{Command, CreditResult, DAY_CLOSE_LINES_MAX, Date};
use engine::{Reply, Request};

use crate::api::{
    App, JsonBody, check_event_count, execute, json_response, node_problem, path_id, reply_mismatch,
};
use crate::credit_wire::{
    BusinessDateOutput, CommandInput, CreateProgramsRequest, CreditCommandsRequest,
    CreditResultsResponse, DateText, DayCloseOutput, DayCloseProgress, DayCloseRequest,
    FundingOutput, LineOutput, PlanOutput, PlansOutput, ProgramInput, QuoteOutput, QuoteQuery,
    RaiseCheckOutput, RaiseCheckQuery, parse_percent, quote_pricing,
};
use crate::paging::query_or_problem;
use crate::problem::{Problem, ProblemBody, ProblemCode, parse_json};
use crate::wire::parse_decimal;

/// Lines per day-close chunk when the request does not say.
pub const DAY_CLOSE_CHUNK_DEFAULT: u32 = 100_000;

fn missing(name: &str) -> Problem {
    Problem::new(
        ProblemCode::MissingField,
        format!("the query parameter `{name}` is required"),
    )
}

/// A required decimal u64 query parameter.
pub(crate) fn query_u64(name: &str, value: Option<&str>) -> Result<u64, Problem> {
    let text = value.ok_or_else(|| missing(name))?;
    parse_decimal(text)
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| {
            Problem::new(
                ProblemCode::InvalidValue,
                format!("`{name}` must be a decimal integer from 0 to 2^64-1, not {text:?}"),
            )
        })
}

fn query_percent(name: &str, value: Option<&str>) -> Result<Option<math::Rate>, Problem> {
    value
        .map(|text| {
            parse_percent(text).map_err(|reason| {
                Problem::new(
                    ProblemCode::InvalidValue,
                    format!("`{name}`: {reason}, not {text:?}"),
                )
            })
        })
        .transpose()
}

/// Create credit programs: one result per program, in order.
#[utoipa::path(
    post,
    path = "/v1/credit/programs",
    tag = "credit",
    request_body(content = CreateProgramsRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "One result per program, in order.", body = CreditResultsResponse),
        (status = 400, description = "Malformed request; nothing was created.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "More than 8189 programs, or the body is too large.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The node is shutting down or failed.", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn create_programs(
    State(app): State<App>,
    JsonBody(body): JsonBody,
) -> Result<Response, Problem> {
    let request: CreateProgramsRequest = parse_json(&body)?;
    check_event_count(request.programs.len())?;
    let programs = request
        .programs
        .into_iter()
        .map(ProgramInput::into_program)
        .collect();
    execute(&app, Request::CreatePrograms(programs)).await
}

/// Execute credit commands (open lines, limits, status, purchases, repayments): one result per
/// command, in order.
#[utoipa::path(
    post,
    path = "/v1/credit/commands",
    tag = "credit",
    request_body(content = CreditCommandsRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "One result per command, in order.", body = CreditResultsResponse),
        (status = 400, description = "Malformed request; nothing was executed.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "More than 8189 commands, or the body is too large.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The node is shutting down or failed.", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn credit_commands(
    State(app): State<App>,
    JsonBody(body): JsonBody,
) -> Result<Response, Problem> {
    let request: CreditCommandsRequest = parse_json(&body)?;
    check_event_count(request.commands.len())?;
    let commands: Vec<Command> = request
        .commands
        .into_iter()
        .map(CommandInput::into_command)
        .collect();
    // A day-close chunk reserves three timestamps per line: bound it like the chunked endpoint.
    if let Some(index) = commands.iter().position(
        |c| matches!(c, Command::DayClose { max_lines, .. } if *max_lines > DAY_CLOSE_LINES_MAX),
    ) {
        return Err(Problem::new(
            ProblemCode::InvalidValue,
            format!("max_lines is at most {DAY_CLOSE_LINES_MAX}"),
        )
        .with_pointer(format!("/commands/{index}/max_lines")));
    }
    execute(&app, Request::Credit(commands)).await
}

/// Close a business date: submits day-close chunks until the business date has moved past
/// `date`. Each chunk is its own request, so other traffic interleaves. A date already closed
/// (the business date is past it) answers `ok` without submitting anything.
#[utoipa::path(
    post,
    path = "/v1/credit/day-close",
    tag = "credit",
    request_body(content = DayCloseRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "`ok` with the new business date, or the refusal of the first chunk that failed (chunks before it are applied).", body = DayCloseOutput),
        (status = 400, description = "Malformed request; nothing was submitted.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The node is shutting down or failed.", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn day_close(
    State(app): State<App>,
    JsonBody(body): JsonBody,
) -> Result<Response, Problem> {
    let request: DayCloseRequest = parse_json(&body)?;
    let chunk = request.chunk.unwrap_or(DAY_CLOSE_CHUNK_DEFAULT);
    if !(1..=DAY_CLOSE_LINES_MAX).contains(&chunk) {
        return Err(Problem::new(
            ProblemCode::InvalidValue,
            format!("chunk must be from 1 to {DAY_CLOSE_LINES_MAX}, not {chunk}"),
        )
        .with_pointer("/chunk".to_string()));
    }
    let date = request.date.0;
    let state = |app: &App| {
        app.node
            .read(|sm| (sm.credit().business_date(), sm.credit().line_count()))
    };
    let mut chunks = 0u32;
    loop {
        let (business_date, lines) = state(&app);
        if business_date > date {
            return Ok(day_close_answer(
                CreditResult::Ok,
                business_date,
                lines,
                chunks,
            ));
        }
        let command = Command::DayClose {
            date,
            max_lines: chunk,
        };
        let reply = app
            .node
            .execute(Request::Credit(vec![command]))
            .await
            .map_err(node_problem)?;
        chunks += 1;
        let result = match reply {
            Reply::Credit(results) if results.len() == 1 => results[0],
            _ => return Err(reply_mismatch("credit")),
        };
        if result != CreditResult::Ok {
            let (business_date, lines) = state(&app);
            // Another caller may have finished the date between our read and our chunk.
            let result = if business_date > date {
                CreditResult::Ok
            } else {
                result
            };
            return Ok(day_close_answer(result, business_date, lines, chunks));
        }
    }
}

fn day_close_answer(
    result: CreditResult,
    business_date: Date,
    lines: u32,
    chunks: u32,
) -> Response {
    json_response(&DayCloseOutput {
        result: result.name(),
        business_date: (business_date != Date(0)).then_some(DateText(business_date)),
        lines,
        chunks,
    })
}

fn line_not_found(id: u128) -> Problem {
    Problem::new(
        ProblemCode::LineNotFound,
        format!("no credit line with id {id}"),
    )
}

/// One credit line: limits, available credit, what is owed, delinquency and the last statement.
#[utoipa::path(
    get,
    path = "/v1/credit/lines/{id}",
    tag = "credit",
    params(("id" = String, Path, description = "Line id, a decimal u128.")),
    responses(
        (status = 200, description = "The line.", body = LineOutput),
        (status = 400, description = "The id is not a decimal u128.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such line (`line_not_found`).", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn get_line(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let id = path_id(path)?;
    let view = app
        .node
        .read(|sm| sm.credit().line_view(sm.ledger(), id))
        .ok_or_else(|| line_not_found(id))?;
    Ok(json_response(&LineOutput::new(&view)))
}

/// A line's installment plans, in creation order (ended ones too).
#[utoipa::path(
    get,
    path = "/v1/credit/lines/{id}/plans",
    tag = "credit",
    params(("id" = String, Path, description = "Line id, a decimal u128.")),
    responses(
        (status = 200, description = "The plans.", body = PlansOutput),
        (status = 400, description = "The id is not a decimal u128.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such line (`line_not_found`).", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn line_plans(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let id = path_id(path)?;
    let plans = app
        .node
        .read(|sm| {
            sm.credit()
                .line(id)
                .is_some()
                .then(|| sm.credit().plans_of(id))
        })
        .ok_or_else(|| line_not_found(id))?;
    Ok(json_response(&PlansOutput {
        plans: plans.iter().map(PlanOutput::new).collect(),
    }))
}

/// A program's co-funding: the platform's and each funder's outstanding principal, what they
/// drew, were repaid and lost, and what is not yet settled.
#[utoipa::path(
    get,
    path = "/v1/credit/programs/{id}/funding",
    tag = "credit",
    params(("id" = String, Path, description = "Program id, a decimal u128.")),
    responses(
        (status = 200, description = "The exposure report.", body = FundingOutput),
        (status = 400, description = "The id is not a decimal u128.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such program (`program_not_found`).", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn program_funding(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let id = path_id(path)?;
    let funding = app
        .node
        .read(|sm| sm.credit().funding(id).map(FundingOutput::new))
        .ok_or_else(|| {
            Problem::new(
                ProblemCode::ProgramNotFound,
                format!("no credit program with id {id}"),
            )
        })?;
    Ok(json_response(&funding))
}

/// Whether raising a line's permanent limit to `limit` would be accepted now (for raise
/// offers): `ok` or the refusal `set_limit` would answer.
#[utoipa::path(
    get,
    path = "/v1/credit/lines/{id}/raise-check",
    tag = "credit",
    params(("id" = String, Path, description = "Line id, a decimal u128."), RaiseCheckQuery),
    responses(
        (status = 200, description = "The result a raise would have now.", body = RaiseCheckOutput),
        (status = 400, description = "A bad id or `limit`.", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn raise_check(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<RaiseCheckQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let id = path_id(path)?;
    let query = query_or_problem(query)?;
    let limit = query_u64("limit", query.limit.as_deref())?;
    let result = app.node.read(|sm| sm.credit().raise_check(id, limit));
    Ok(json_response(&RaiseCheckOutput {
        result: result.name(),
    }))
}

/// An installment quote: the schedule per month, the total fee, and the APR (nominal and
/// effective) of what the customer pays. Pure arithmetic: reads no state.
#[utoipa::path(
    get,
    path = "/v1/credit/quote",
    tag = "credit",
    params(QuoteQuery),
    responses(
        (status = 200, description = "The quote.", body = QuoteOutput),
        (status = 400, description = "A bad or missing parameter, or a plan that cannot be quoted (`invalid_value`, the detail names the reason: `principal_must_not_be_zero`, `periods_not_offered`, `fee_overflows`).", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn quote(
    query: Result<Query<QuoteQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let query = query_or_problem(query)?;
    let principal = query_u64("principal", query.principal.as_deref())?;
    let periods = query_u64("periods", query.periods.as_deref())?;
    let periods = u32::try_from(periods).unwrap_or(u32::MAX);
    let total = query_percent("total_rate", query.total_rate.as_deref())?;
    let monthly = query_percent("monthly_rate", query.monthly_rate.as_deref())?;
    let pricing = quote_pricing(total, monthly).ok_or_else(|| {
        Problem::new(
            ProblemCode::InvalidValue,
            "give exactly one of `total_rate` and `monthly_rate`",
        )
    })?;
    let rounding = match query.rounding.as_deref() {
        None | Some("half_up") => RoundingMode::HalfUp,
        Some("half_even") => RoundingMode::HalfEven,
        Some("down") => RoundingMode::Down,
        Some(other) => {
            return Err(Problem::new(
                ProblemCode::InvalidValue,
                format!("`rounding` is half_up, half_even or down, not {other:?}"),
            ));
        }
    };
    let quote = math::quote(principal, periods, pricing, rounding).map_err(|error| {
        Problem::new(
            ProblemCode::InvalidValue,
            format!(
                "{}: periods are one of {:?}, the principal is not zero, the fee fits in u64",
                error.name(),
                math::PERIODS_OFFERED
            ),
        )
    })?;
    Ok(json_response(&QuoteOutput::new(&quote)))
}

/// The business date and the progress of its day-close.
#[utoipa::path(
    get,
    path = "/v1/credit/business-date",
    tag = "credit",
    responses((status = 200, description = "The business date.", body = BusinessDateOutput))
)]
pub(crate) async fn business_date(State(app): State<App>) -> Response {
    let (date, (done, lines)) = app.node.read(|sm| {
        (
            sm.credit().business_date(),
            sm.credit().day_close_progress(),
        )
    });
    json_response(&BusinessDateOutput {
        business_date: (date != Date(0)).then_some(DateText(date)),
        day_close: DayCloseProgress { done, lines },
    })
}
