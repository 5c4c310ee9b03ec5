//! `BlockingClient`: the async client behind blocking calls, on a runtime of its own.
//!
//! For programs without tokio. Calls from many threads at once coalesce like async calls do.
//! Do not use it from inside an async runtime: blocking there stalls the runtime's workers
//! (and dropping the last handle there panics, as dropping any runtime in async context does).

use std::sync::Arc;

use ledger::{
    Account, CreateAccountResult, CreateTransferResult, LimitChange, SetLimitResult, Transfer,
};

use crate::{Client, ClientConfig, ClientStats, Error};

/// A blocking handle; clones share one connection and one runtime.
#[derive(Clone)]
pub struct BlockingClient {
    client: Client,
    /// Held so the connection task keeps running between calls; dropped with the last clone.
    runtime: Arc<tokio::runtime::Runtime>,
}

impl BlockingClient {
    pub fn connect(addr: &str, cluster_id: u128) -> Result<BlockingClient, Error> {
        BlockingClient::connect_with(addr, ClientConfig::new(cluster_id))
    }

    pub fn connect_with(addr: &str, config: ClientConfig) -> Result<BlockingClient, Error> {
        // One worker runs the connection task while callers block in `block_on`.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("elevenfold-client")
            .enable_all()
            .build()
            .map_err(Error::Connect)?;
        let client = runtime.block_on(Client::connect_with(addr, config))?;
        Ok(BlockingClient {
            client,
            runtime: Arc::new(runtime),
        })
    }

    #[must_use]
    pub fn stats(&self) -> ClientStats {
        self.client.stats()
    }

    pub fn create_accounts(
        &self,
        accounts: Vec<Account>,
    ) -> Result<Vec<(u32, CreateAccountResult)>, Error> {
        self.runtime.block_on(self.client.create_accounts(accounts))
    }

    pub fn create_transfers(
        &self,
        transfers: Vec<Transfer>,
    ) -> Result<Vec<(u32, CreateTransferResult)>, Error> {
        self.runtime
            .block_on(self.client.create_transfers(transfers))
    }

    pub fn set_account_limits(
        &self,
        changes: Vec<LimitChange>,
    ) -> Result<Vec<(u32, SetLimitResult)>, Error> {
        self.runtime
            .block_on(self.client.set_account_limits(changes))
    }

    pub fn create_programs(
        &self,
        programs: Vec<credit::Program>,
    ) -> Result<Vec<(u32, credit::CreditResult)>, Error> {
        self.runtime.block_on(self.client.create_programs(programs))
    }

    pub fn credit(
        &self,
        commands: Vec<credit::Command>,
    ) -> Result<Vec<(u32, credit::CreditResult)>, Error> {
        self.runtime.block_on(self.client.credit(commands))
    }

    pub fn create_campaigns(
        &self,
        campaigns: Vec<promotions::Campaign>,
    ) -> Result<Vec<(u32, promotions::PromotionResult)>, Error> {
        self.runtime
            .block_on(self.client.create_campaigns(campaigns))
    }

    pub fn promotions(
        &self,
        commands: Vec<promotions::Command>,
    ) -> Result<Vec<(u32, promotions::PromotionResult)>, Error> {
        self.runtime.block_on(self.client.promotions(commands))
    }

    pub fn lookup_accounts(&self, ids: Vec<u128>) -> Result<Vec<Account>, Error> {
        self.runtime.block_on(self.client.lookup_accounts(ids))
    }

    pub fn lookup_transfers(&self, ids: Vec<u128>) -> Result<Vec<Transfer>, Error> {
        self.runtime.block_on(self.client.lookup_transfers(ids))
    }
}
