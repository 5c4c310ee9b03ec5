//! `elevenfold accounts ...` and `elevenfold transfers ...`: thin HTTP clients of a running
//! server. They print the server's JSON and map failures to exit codes: unreachable server 2,
//! problem document 1, an event result other than `ok`/`exists` 1.
//!
//! Ids and amounts are parsed as u128 here so typos fail before any request is sent; flag names
//! are checked by the server (one list of names, in one place).

use std::fmt;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::output::print_stdout;

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Base URL of a running server.
    #[arg(
        long,
        env = "ELEVENFOLD_ADDR",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub addr: String,
}

#[derive(Debug, Args)]
pub struct AccountsArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(subcommand)]
    pub command: AccountsCommand,
}

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Create one account.
    Create(AccountCreateArgs),
    /// Show one account with its balances, flags and limits.
    Get {
        /// Account id.
        id: u128,
    },
    /// Change an account's debit and/or credit limit.
    Limit(LimitArgs),
}

#[derive(Debug, Args)]
pub struct AccountCreateArgs {
    #[arg(long)]
    pub id: u128,
    #[arg(long)]
    pub ledger: u32,
    #[arg(long)]
    pub code: u16,
    /// Comma-separated flag names, e.g. history,debits_must_not_exceed_credits.
    #[arg(long, value_delimiter = ',')]
    pub flags: Vec<String>,
    #[arg(long, default_value_t = 0)]
    pub user_data_128: u128,
    #[arg(long, default_value_t = 0)]
    pub user_data_64: u64,
    #[arg(long, default_value_t = 0)]
    pub user_data_32: u32,
}

impl AccountCreateArgs {
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "ledger": self.ledger,
            "code": self.code,
            "flags": self.flags,
            "user_data_128": self.user_data_128.to_string(),
            "user_data_64": self.user_data_64.to_string(),
            "user_data_32": self.user_data_32,
        })
    }
}

#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Account id.
    pub id: u128,
    /// How far debits may exceed credits (needs debits_must_not_exceed_credits).
    #[arg(long)]
    pub debit_limit: Option<u128>,
    /// How far credits may exceed debits (needs credits_must_not_exceed_debits).
    #[arg(long)]
    pub credit_limit: Option<u128>,
}

impl LimitArgs {
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut change = json!({ "account_id": self.id.to_string() });
        if let Some(limit) = self.debit_limit {
            change["debit_limit"] = json!(limit.to_string());
        }
        if let Some(limit) = self.credit_limit {
            change["credit_limit"] = json!(limit.to_string());
        }
        change
    }
}

#[derive(Debug, Args)]
pub struct TransfersArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(subcommand)]
    pub command: TransfersCommand,
}

#[derive(Debug, Subcommand)]
pub enum TransfersCommand {
    /// Create one transfer.
    Create(TransferCreateArgs),
    /// Show one transfer (with its pending status if it is pending).
    Get {
        /// Transfer id.
        id: u128,
    },
}

#[derive(Debug, Args)]
pub struct TransferCreateArgs {
    #[arg(long)]
    pub id: u128,
    #[arg(long)]
    pub debit_account_id: u128,
    #[arg(long)]
    pub credit_account_id: u128,
    /// Minor units.
    #[arg(long)]
    pub amount: u128,
    /// 0 lets a post or void take the pending transfer's ledger.
    #[arg(long, default_value_t = 0)]
    pub ledger: u32,
    /// 0 lets a post or void take the pending transfer's code.
    #[arg(long, default_value_t = 0)]
    pub code: u16,
    /// Comma-separated flag names, e.g. pending or post_pending_transfer.
    #[arg(long, value_delimiter = ',')]
    pub flags: Vec<String>,
    /// Seconds until a pending transfer expires (0: never).
    #[arg(long, default_value_t = 0)]
    pub timeout: u32,
    /// The pending transfer to post or void.
    #[arg(long, default_value_t = 0)]
    pub pending_id: u128,
    #[arg(long, default_value_t = 0)]
    pub user_data_128: u128,
    #[arg(long, default_value_t = 0)]
    pub user_data_64: u64,
    #[arg(long, default_value_t = 0)]
    pub user_data_32: u32,
}

impl TransferCreateArgs {
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "debit_account_id": self.debit_account_id.to_string(),
            "credit_account_id": self.credit_account_id.to_string(),
            "amount": self.amount.to_string(),
            "pending_id": self.pending_id.to_string(),
            "timeout": self.timeout,
            "ledger": self.ledger,
            "code": self.code,
            "flags": self.flags,
            "user_data_128": self.user_data_128.to_string(),
            "user_data_64": self.user_data_64.to_string(),
            "user_data_32": self.user_data_32,
        })
    }
}

/// Why a client call failed.
#[derive(Debug)]
pub enum ClientError {
    /// No connection could be made.
    Unreachable {
        addr: String,
    },
    /// The server answered with a problem document (or another error status).
    Problem {
        status: u16,
        title: String,
        detail: String,
        code: String,
    },
    Other(anyhow::Error),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Unreachable { addr } => write!(
                f,
                "cannot reach the server at {addr}: is `elevenfold start` running?"
            ),
            ClientError::Problem {
                status,
                title,
                detail,
                code,
            } => write!(f, "{title}: {detail} (HTTP {status}, code {code})"),
            ClientError::Other(error) => write!(f, "{error:#}"),
        }
    }
}

/// An HTTP client of one server.
pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    /// `addr` is a base URL; `host:port` alone means `http://host:port`.
    pub fn new(addr: &str) -> anyhow::Result<Client> {
        let addr = addr.trim_end_matches('/');
        let base = if addr.contains("://") {
            addr.to_string()
        } else {
            format!("http://{addr}")
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Client { base, http })
    }

    pub async fn create_accounts(&self, accounts: Vec<Value>) -> Result<Value, ClientError> {
        self.post("/v1/accounts", &json!({ "accounts": accounts }))
            .await
    }

    pub async fn create_transfers(&self, transfers: Vec<Value>) -> Result<Value, ClientError> {
        self.post("/v1/transfers", &json!({ "transfers": transfers }))
            .await
    }

    pub async fn set_limits(&self, limits: Vec<Value>) -> Result<Value, ClientError> {
        self.post("/v1/accounts/limits", &json!({ "limits": limits }))
            .await
    }

    pub async fn get_account(&self, id: u128) -> Result<Value, ClientError> {
        self.get(&format!("/v1/accounts/{id}")).await
    }

    pub async fn get_transfer(&self, id: u128) -> Result<Value, ClientError> {
        self.get(&format!("/v1/transfers/{id}")).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    pub(crate) async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, ClientError> {
        let response = request.send().await.map_err(|error| {
            if error.is_connect() {
                ClientError::Unreachable {
                    addr: self.base.clone(),
                }
            } else {
                ClientError::Other(anyhow::Error::new(error).context("the request failed"))
            }
        })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|error| ClientError::Other(error.into()))?;
        if status.is_success() {
            return serde_json::from_str(&text).map_err(|error| {
                ClientError::Other(
                    anyhow::Error::new(error).context("the server answered with invalid JSON"),
                )
            });
        }
        // A problem document when the server sent one; otherwise whatever text it sent.
        let problem: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let field = |name: &str| problem[name].as_str().map(str::to_string);
        Err(ClientError::Problem {
            status: status.as_u16(),
            title: field("title").unwrap_or_else(|| status.to_string()),
            detail: field("detail").unwrap_or(text),
            code: field("code").unwrap_or_else(|| "unknown".to_string()),
        })
    }
}

/// Events whose result is neither `ok` nor `exists`, as (index, result name).
#[must_use]
pub fn rejections(results: &Value) -> Vec<(usize, String)> {
    results["results"]
        .as_array()
        .map(|names| {
            names
                .iter()
                .enumerate()
                .filter_map(|(index, name)| {
                    let name = name.as_str().unwrap_or("?");
                    (name != "ok" && name != "exists").then(|| (index, name.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Which calls answer per-event results that decide the exit code.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    /// Any answer is success.
    Lookup,
    /// `{"results": [...]}`: an event other than `ok`/`exists` fails.
    Batch,
    /// `{"result": ...}` (credit day-close, raise check): anything but `ok` fails.
    Single,
}

pub fn run_accounts(args: AccountsArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.server.addr)?;
    let runtime = runtime()?;
    let (kind, outcome) = runtime.block_on(async {
        match &args.command {
            AccountsCommand::Create(create) => (
                Kind::Batch,
                client.create_accounts(vec![create.to_json()]).await,
            ),
            AccountsCommand::Get { id } => (Kind::Lookup, client.get_account(*id).await),
            AccountsCommand::Limit(limit) => {
                (Kind::Batch, client.set_limits(vec![limit.to_json()]).await)
            }
        }
    });
    finish(kind, outcome)
}

pub fn run_transfers(args: TransfersArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.server.addr)?;
    let runtime = runtime()?;
    let (kind, outcome) = runtime.block_on(async {
        match &args.command {
            TransfersCommand::Create(create) => (
                Kind::Batch,
                client.create_transfers(vec![create.to_json()]).await,
            ),
            TransfersCommand::Get { id } => (Kind::Lookup, client.get_transfer(*id).await),
        }
    });
    finish(kind, outcome)
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The result of a `Kind::Single` answer when it is not `ok`, as (0, result name).
fn single_rejection(value: &Value) -> Vec<(usize, String)> {
    match value["result"].as_str() {
        Some("ok") => Vec::new(),
        other => vec![(0, other.unwrap_or("?").to_string())],
    }
}

/// Prints the outcome and picks the exit code.
pub(crate) fn finish(kind: Kind, outcome: Result<Value, ClientError>) -> anyhow::Result<ExitCode> {
    match outcome {
        Ok(value) => {
            print_stdout(&serde_json::to_string_pretty(&value)?)?;
            let rejected = match kind {
                Kind::Batch => rejections(&value),
                Kind::Single => single_rejection(&value),
                Kind::Lookup => Vec::new(),
            };
            for (index, name) in &rejected {
                match kind {
                    Kind::Single => eprintln!("refused: {name}"),
                    _ => eprintln!("event {index} was rejected: {name}"),
                }
            }
            Ok(if rejected.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Err(error @ ClientError::Unreachable { .. }) => {
            eprintln!("{error}");
            Ok(ExitCode::from(2))
        }
        Err(error @ ClientError::Problem { .. }) => {
            eprintln!("{error}");
            Ok(ExitCode::from(1))
        }
        Err(ClientError::Other(error)) => Err(error),
    }
}
