//! `elevenfold credit ...`: consumer credit lines from the command line (docs/cli-credit.md).
//!
//! `quote` is computed here with `credit::math::quote` (no server); every other subcommand is
//! a thin HTTP client of `/v1/credit/...` on a running server, printing the server's JSON, with
//! the exit codes of `client.rs`: unreachable server 2, problem document 1, a command result
//! other than `ok`/`exists` 1 (`day-close` and `raise-check`: a `result` other than `ok`).
//!
//! Amounts on the command line are yuan, exact to the fen (`1000.00`, `0.5`, `12`), parsed
//! without floats; the server's JSON answers are in fen. Rates are percents (`8.8%` or `8.8`),
//! exact to 8 decimals, like the HTTP API. `command --json` passes any command object through,
//! so command kinds added to the server later work without changing the CLI.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use credit::Date;
use credit::math::{self, Pricing, Quote, Rate, RoundingMode};
use serde_json::{Value, json};

use crate::client::{Client, ClientError, Kind, ServerArgs, finish, runtime};
use crate::output::print_stdout;

#[derive(Debug, Args)]
pub struct CreditArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(subcommand)]
    pub command: CreditCommand,
}

#[derive(Debug, Subcommand)]
pub enum CreditCommand {
    /// An installment quote, computed here (no server needed).
    ///
    /// Prints the schedule period by period (principal, fee, payment), the totals, and the
    /// fee-inclusive APR, nominal and effective, to two decimals. Example:
    /// `elevenfold credit quote --amount 1000.00 --periods 12 --total-rate 8.8%`.
    Quote(QuoteArgs),
    /// Show a line: limits, available credit, what is owed, delinquency, the last statement.
    Line {
        /// Line id.
        id: u128,
    },
    /// Whether raising a line's permanent limit would be accepted now (exit 1 if not).
    RaiseCheck {
        /// Line id.
        id: u128,
        /// The proposed permanent limit, yuan.
        #[arg(long, value_parser = parse_yuan)]
        limit: u64,
    },
    /// Create credit programs from JSON.
    ///
    /// `--json` is one program object (or an array of them) as `POST /v1/credit/programs`
    /// takes it (docs/credit.md): amounts in fen, rates as percent strings.
    Program(JsonArgs),
    /// Open a line (its ledger account id is the line id).
    OpenLine(OpenLineArgs),
    /// Hold part of a line for a purchase at a merchant (id = purchase id).
    Authorize(AuthorizeArgs),
    /// Capture an authorization (all of it unless --amount is given).
    Capture(CaptureArgs),
    /// Release an authorization.
    Void(VoidArgs),
    /// Return part of a captured purchase to the line.
    Refund(RefundArgs),
    /// Repay a line from a source account (e.g. a bank clearing account).
    Repay(RepayArgs),
    /// Close the business date over every line, in chunks (exit 1 if refused).
    DayClose(DayCloseArgs),
    /// The business date and the progress of its day-close.
    BusinessDate,
    /// Any credit command as JSON, passed through to the server.
    ///
    /// `--json` is one command object (or an array of them) with its `type`, as
    /// `POST /v1/credit/commands` takes it (amounts in fen), e.g.
    /// `--json '{"type": "set_limit", "line_id": "1000", "limit": "500000"}'`. Command kinds
    /// the server learns later work without a new CLI.
    Command(JsonArgs),
}

/// How a quote's fee is priced: exactly one rate.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("rate").required(true).multiple(false)))]
pub struct QuoteArgs {
    /// The amount financed, yuan (e.g. 1000.00).
    #[arg(long, value_parser = parse_yuan)]
    pub amount: u64,
    /// Months: 3, 6, 9, 12 or 24.
    #[arg(long)]
    pub periods: u32,
    /// Fee for the whole plan, percent of the amount (e.g. 8.8%).
    #[arg(long, group = "rate", value_parser = parse_percent)]
    pub total_rate: Option<Rate>,
    /// Fee per month, percent of the amount (e.g. 0.5%).
    #[arg(long, group = "rate", value_parser = parse_percent)]
    pub monthly_rate: Option<Rate>,
    #[arg(long, value_enum, default_value = "half-up")]
    pub rounding: Rounding,
    /// Print the quote as JSON, in the shape of `GET /v1/credit/quote` (amounts in fen,
    /// APRs as exact percent strings).
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Rounding {
    HalfUp,
    HalfEven,
    Down,
}

impl Rounding {
    fn mode(self) -> RoundingMode {
        match self {
            Rounding::HalfUp => RoundingMode::HalfUp,
            Rounding::HalfEven => RoundingMode::HalfEven,
            Rounding::Down => RoundingMode::Down,
        }
    }
}

#[derive(Debug, Args)]
pub struct JsonArgs {
    /// A JSON object, or an array of objects.
    #[arg(long, value_parser = parse_json_objects)]
    pub json: JsonObjects,
}

/// What `--json` holds: one or more JSON objects, checked to be objects before sending.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonObjects(pub Vec<Value>);

#[derive(Debug, Args)]
pub struct OpenLineArgs {
    #[arg(long)]
    pub id: u128,
    #[arg(long)]
    pub borrower_id: u128,
    #[arg(long)]
    pub program_id: u128,
    /// Permanent limit, yuan.
    #[arg(long, value_parser = parse_yuan)]
    pub limit: u64,
    /// Declared annual income, yuan (checked against the program's debt-to-income cap).
    #[arg(long, value_parser = parse_yuan, default_value = "0")]
    pub annual_income: u64,
    /// YYYY-MM-DD.
    #[arg(long, value_parser = parse_date)]
    pub birth_date: Date,
    /// Statement day of the month, 1-28 (0: the program's).
    #[arg(long, default_value_t = 0)]
    pub statement_day: u8,
    /// Due day of the month, 1-28 (0: the program's).
    #[arg(long, default_value_t = 0)]
    pub due_day: u8,
    /// Comma-separated applicant facts: student, guardian_confirmed.
    #[arg(long, value_delimiter = ',')]
    pub applicant: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AuthorizeArgs {
    /// Purchase id (the pending transfer's id).
    #[arg(long)]
    pub id: u128,
    #[arg(long)]
    pub line_id: u128,
    #[arg(long)]
    pub merchant_account_id: u128,
    /// Yuan.
    #[arg(long, value_parser = parse_yuan)]
    pub amount: u64,
    /// Seconds until the hold is released (0: never).
    #[arg(long, default_value_t = 0)]
    pub timeout: u32,
}

#[derive(Debug, Args)]
pub struct CaptureArgs {
    #[arg(long)]
    pub id: u128,
    #[arg(long)]
    pub line_id: u128,
    #[arg(long)]
    pub purchase_id: u128,
    /// Yuan; omitted: all of the authorization (less releases the rest).
    #[arg(long, value_parser = parse_yuan, default_value = "0")]
    pub amount: u64,
}

#[derive(Debug, Args)]
pub struct VoidArgs {
    #[arg(long)]
    pub id: u128,
    #[arg(long)]
    pub line_id: u128,
    #[arg(long)]
    pub purchase_id: u128,
}

#[derive(Debug, Args)]
pub struct RefundArgs {
    #[arg(long)]
    pub id: u128,
    #[arg(long)]
    pub line_id: u128,
    #[arg(long)]
    pub purchase_id: u128,
    /// Yuan.
    #[arg(long, value_parser = parse_yuan)]
    pub amount: u64,
}

#[derive(Debug, Args)]
pub struct RepayArgs {
    #[arg(long)]
    pub id: u128,
    #[arg(long)]
    pub line_id: u128,
    #[arg(long)]
    pub source_account_id: u128,
    /// Yuan.
    #[arg(long, value_parser = parse_yuan)]
    pub amount: u64,
}

#[derive(Debug, Args)]
pub struct DayCloseArgs {
    /// The business date to close, YYYY-MM-DD (default: the server's current one).
    #[arg(long, value_parser = parse_date)]
    pub date: Option<Date>,
    /// Lines per day-close command, 1 to 1000000 (default: the server's, 100000).
    #[arg(long)]
    pub chunk: Option<u32>,
}

// ---------------------------------------------------------------------------------------------
// Parsing: exact decimals, no floats.

/// Fen per yuan.
const FEN_PER_YUAN: u64 = 100;
/// Rate units per percent (`math::RATE_SCALE` is 100%).
const UNITS_PER_PERCENT: u64 = math::RATE_SCALE / 100;

/// Digits with at most one decimal point and at most `decimals` decimals, as an integer
/// scaled by 10^decimals; decimals beyond `exact` must be zero. `None` if it is not that or
/// does not fit in u64.
fn parse_scaled(text: &str, decimals: usize, exact: usize) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || text.ends_with('.') {
        return None;
    }
    if fraction.len() > decimals || fraction.bytes().skip(exact).any(|b| b != b'0') {
        return None;
    }
    let mut value: u64 = 0;
    for byte in whole.bytes() {
        value = value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))?;
    }
    let mut scale = 10u64.pow(u32::try_from(exact).expect("a few decimals"));
    value = value.checked_mul(scale)?;
    for byte in fraction.bytes().take(exact) {
        scale /= 10;
        value = value.checked_add(u64::from(byte - b'0') * scale)?;
    }
    Some(value)
}

/// Yuan with at most 2 decimals (`1000.00`, `0.5`, `12`) into fen, exactly.
pub fn parse_yuan(text: &str) -> Result<u64, String> {
    parse_scaled(text, 2, 2).ok_or_else(|| {
        format!("{text:?} is not an amount in yuan: digits with at most 2 decimals, e.g. 1000.00")
    })
}

/// A percent (`8.8%`, `0.05`) into a rate, exactly: at most 10 decimals, of which only the
/// first 8 may be non-zero (one rate unit is 10^-8 percent), as the HTTP API takes them.
pub fn parse_percent(text: &str) -> Result<Rate, String> {
    let number = text.strip_suffix('%').unwrap_or(text);
    parse_scaled(number, 10, 8)
        .and_then(|hundred_millionths| {
            let units_per_digit = UNITS_PER_PERCENT / 100_000_000;
            hundred_millionths.checked_mul(units_per_digit)
        })
        .map(Rate)
        .ok_or_else(|| format!("{text:?} is not a percent exact to 8 decimals, e.g. 8.8%"))
}

fn parse_date(text: &str) -> Result<Date, String> {
    text.parse::<Date>().map_err(|e| format!("{text:?}: {e}"))
}

/// A JSON object, or an array of objects.
pub(crate) fn parse_json_objects(text: &str) -> Result<JsonObjects, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let objects = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    if objects.is_empty() || !objects.iter().all(Value::is_object) {
        return Err("expected a JSON object, or a non-empty array of objects".to_string());
    }
    Ok(JsonObjects(objects))
}

// ---------------------------------------------------------------------------------------------
// Printing.

/// Fen as yuan with two decimals.
#[must_use]
pub fn format_yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / FEN_PER_YUAN, fen % FEN_PER_YUAN)
}

/// A rate as a percent rounded half up to 2 decimals (`15.86%`).
#[must_use]
pub fn format_percent_2(rate: Rate) -> String {
    let per_hundredth = u128::from(UNITS_PER_PERCENT / 100);
    let hundredths = (u128::from(rate.0) + per_hundredth / 2) / per_hundredth;
    format!("{}.{:02}%", hundredths / 100, hundredths % 100)
}

/// A rate as a percent, exact, with at least 2 decimals (as the HTTP API prints it).
#[must_use]
pub fn format_percent_exact(rate: Rate) -> String {
    let whole = rate.0 / UNITS_PER_PERCENT;
    let fraction = format!("{:08}", rate.0 % UNITS_PER_PERCENT);
    let trimmed = fraction.trim_end_matches('0');
    let shown = if trimmed.len() < 2 {
        &fraction[..2]
    } else {
        trimmed
    };
    format!("{whole}.{shown}")
}

/// The quote as a table: one row per month, the totals, and the APRs to 2 decimals.
#[must_use]
pub fn quote_text(quote: &Quote, pricing: Pricing) -> String {
    let pricing = match pricing {
        Pricing::TotalRate(rate) => format!("{} of the amount in all", format_percent_2(rate)),
        Pricing::MonthlyRate(rate) => format!("{} of the amount a month", format_percent_2(rate)),
    };
    let mut text = format!(
        "{} yuan over {} months, fee {pricing}\n",
        format_yuan(quote.principal),
        quote.periods.len()
    );
    let _ = writeln!(
        text,
        "{:>6}  {:>14}  {:>12}  {:>14}",
        "period", "principal", "fee", "payment"
    );
    for (period, p) in (1..).zip(&quote.periods) {
        let _ = writeln!(
            text,
            "{period:>6}  {:>14}  {:>12}  {:>14}",
            format_yuan(p.principal),
            format_yuan(p.fee),
            format_yuan(p.principal.saturating_add(p.fee))
        );
    }
    let _ = writeln!(
        text,
        "{:>6}  {:>14}  {:>12}  {:>14}",
        "total",
        format_yuan(quote.principal),
        format_yuan(quote.total_fee),
        format_yuan(quote.principal.saturating_add(quote.total_fee))
    );
    let _ = write!(
        text,
        "APR nominal {}, effective {}",
        format_percent_2(quote.apr.nominal),
        format_percent_2(quote.apr.effective)
    );
    text
}

/// The quote in the shape of `GET /v1/credit/quote`.
#[must_use]
pub fn quote_json(quote: &Quote) -> Value {
    let schedule: Vec<Value> = (1..)
        .zip(&quote.periods)
        .map(|(period, p): (u32, _)| {
            json!({
                "period": period,
                "principal": p.principal.to_string(),
                "fee": p.fee.to_string(),
                "payment": p.principal.saturating_add(p.fee).to_string(),
            })
        })
        .collect();
    json!({
        "principal": quote.principal.to_string(),
        "total_fee": quote.total_fee.to_string(),
        "schedule": schedule,
        "apr": {
            "nominal": format_percent_exact(quote.apr.nominal),
            "effective": format_percent_exact(quote.apr.effective),
        },
    })
}

impl QuoteArgs {
    /// The pricing: exactly one rate (clap's `rate` group enforces it on the command line).
    pub fn pricing(&self) -> Result<Pricing, String> {
        match (self.total_rate, self.monthly_rate) {
            (Some(rate), None) => Ok(Pricing::TotalRate(rate)),
            (None, Some(rate)) => Ok(Pricing::MonthlyRate(rate)),
            _ => Err("give exactly one of --total-rate and --monthly-rate".to_string()),
        }
    }

    /// The quote, or why there is none (a message naming the reason).
    pub fn quote(&self) -> Result<Quote, String> {
        let pricing = self.pricing()?;
        math::quote(self.amount, self.periods, pricing, self.rounding.mode()).map_err(|error| {
            format!(
                "no quote: {} (periods are one of {:?}, the amount is not zero)",
                error.name(),
                math::PERIODS_OFFERED
            )
        })
    }

    /// What `quote` prints: the table, or the JSON with `--json`.
    pub fn render(&self) -> Result<String, String> {
        let quote = self.quote()?;
        if self.json {
            serde_json::to_string_pretty(&quote_json(&quote)).map_err(|e| e.to_string())
        } else {
            Ok(quote_text(&quote, self.pricing()?))
        }
    }
}

fn run_quote(args: &QuoteArgs) -> anyhow::Result<ExitCode> {
    match args.render() {
        Ok(text) => {
            print_stdout(&text)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(message) => {
            eprintln!("{message}");
            Ok(ExitCode::from(1))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The server calls.

impl OpenLineArgs {
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "type": "open_line",
            "id": self.id.to_string(),
            "borrower_id": self.borrower_id.to_string(),
            "program_id": self.program_id.to_string(),
            "limit": self.limit.to_string(),
            "annual_income": self.annual_income.to_string(),
            "birth_date": self.birth_date.to_string(),
            "statement_day": self.statement_day,
            "due_day": self.due_day,
            "applicant": self.applicant,
        })
    }
}

impl AuthorizeArgs {
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "type": "authorize",
            "id": self.id.to_string(),
            "line_id": self.line_id.to_string(),
            "merchant_account_id": self.merchant_account_id.to_string(),
            "amount": self.amount.to_string(),
            "timeout": self.timeout,
        })
    }
}

impl CaptureArgs {
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "type": "capture",
            "id": self.id.to_string(),
            "line_id": self.line_id.to_string(),
            "purchase_id": self.purchase_id.to_string(),
            "amount": self.amount.to_string(),
        })
    }
}

impl VoidArgs {
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "type": "void",
            "id": self.id.to_string(),
            "line_id": self.line_id.to_string(),
            "purchase_id": self.purchase_id.to_string(),
        })
    }
}

impl RefundArgs {
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "type": "refund",
            "id": self.id.to_string(),
            "line_id": self.line_id.to_string(),
            "purchase_id": self.purchase_id.to_string(),
            "amount": self.amount.to_string(),
        })
    }
}

impl RepayArgs {
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "type": "repay",
            "id": self.id.to_string(),
            "line_id": self.line_id.to_string(),
            "source_account_id": self.source_account_id.to_string(),
            "amount": self.amount.to_string(),
        })
    }
}

/// The credit routes of one server.
pub struct CreditClient {
    client: Client,
}

impl CreditClient {
    pub fn new(addr: &str) -> anyhow::Result<CreditClient> {
        Ok(CreditClient {
            client: Client::new(addr)?,
        })
    }

    pub async fn create_programs(&self, programs: Vec<Value>) -> Result<Value, ClientError> {
        self.client
            .post("/v1/credit/programs", &json!({ "programs": programs }))
            .await
    }

    pub async fn commands(&self, commands: Vec<Value>) -> Result<Value, ClientError> {
        self.client
            .post("/v1/credit/commands", &json!({ "commands": commands }))
            .await
    }

    pub async fn line(&self, id: u128) -> Result<Value, ClientError> {
        self.client.get(&format!("/v1/credit/lines/{id}")).await
    }

    pub async fn raise_check(&self, id: u128, limit: u64) -> Result<Value, ClientError> {
        self.client
            .get(&format!("/v1/credit/lines/{id}/raise-check?limit={limit}"))
            .await
    }

    pub async fn business_date(&self) -> Result<Value, ClientError> {
        self.client.get("/v1/credit/business-date").await
    }

    /// Closes `date`, or the server's business date when `None`.
    pub async fn day_close(
        &self,
        date: Option<Date>,
        chunk: Option<u32>,
    ) -> Result<Value, ClientError> {
        let date = match date {
            Some(date) => date.to_string(),
            None => {
                let answer = self.business_date().await?;
                match answer["business_date"].as_str() {
                    Some(date) => date.to_string(),
                    None => {
                        return Err(ClientError::Other(anyhow::anyhow!(
                            "the server has no business date yet: create a program first"
                        )));
                    }
                }
            }
        };
        let mut body = json!({ "date": date });
        if let Some(chunk) = chunk {
            body["chunk"] = json!(chunk);
        }
        self.client.post("/v1/credit/day-close", &body).await
    }
}

pub fn run(args: CreditArgs) -> anyhow::Result<ExitCode> {
    let command = match args.command {
        CreditCommand::Quote(quote) => return run_quote(&quote),
        command => command,
    };
    let client = CreditClient::new(&args.server.addr)?;
    let one = |command: Value| vec![command];
    let runtime = runtime()?;
    let (kind, outcome) = runtime.block_on(async {
        match command {
            CreditCommand::Line { id } => (Kind::Lookup, client.line(id).await),
            CreditCommand::RaiseCheck { id, limit } => {
                (Kind::Single, client.raise_check(id, limit).await)
            }
            CreditCommand::Program(programs) => {
                (Kind::Batch, client.create_programs(programs.json.0).await)
            }
            CreditCommand::OpenLine(a) => (Kind::Batch, client.commands(one(a.to_json())).await),
            CreditCommand::Authorize(a) => (Kind::Batch, client.commands(one(a.to_json())).await),
            CreditCommand::Capture(a) => (Kind::Batch, client.commands(one(a.to_json())).await),
            CreditCommand::Void(a) => (Kind::Batch, client.commands(one(a.to_json())).await),
            CreditCommand::Refund(a) => (Kind::Batch, client.commands(one(a.to_json())).await),
            CreditCommand::Repay(a) => (Kind::Batch, client.commands(one(a.to_json())).await),
            CreditCommand::DayClose(close) => (
                Kind::Single,
                client.day_close(close.date, close.chunk).await,
            ),
            CreditCommand::BusinessDate => (Kind::Lookup, client.business_date().await),
            CreditCommand::Command(commands) => {
                (Kind::Batch, client.commands(commands.json.0).await)
            }
            CreditCommand::Quote(_) => (
                Kind::Lookup,
                Err(ClientError::Other(anyhow::anyhow!(
                    "quote is answered locally"
                ))),
            ),
        }
    });
    finish(kind, outcome)
}
