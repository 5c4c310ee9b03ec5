//! Workload generation: accounts and transfers drawn from a seed, before any clock starts.

use engine::Request;
use ledger::{Account, AccountFlags, Transfer, TransferFlags};

use crate::Config;

/// SplitMix64: small, fast, and good enough for choosing accounts.
struct Prng(u64);

impl Prng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[expect(clippy::cast_precision_loss, reason = "sampling, not money")]
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Chooses account indexes (0-based) uniformly or by Zipf.
enum Chooser {
    Uniform(u64),
    Zipf(Vec<f64>),
}

impl Chooser {
    #[expect(clippy::cast_precision_loss, reason = "sampling weights")]
    fn new(account_count: u64, exponent: f64) -> Chooser {
        if exponent <= 0.0 {
            return Chooser::Uniform(account_count);
        }
        let mut cdf = Vec::with_capacity(usize::try_from(account_count).expect("fits"));
        let mut total = 0.0;
        for rank in 1..=account_count {
            total += 1.0 / (rank as f64).powf(exponent);
            cdf.push(total);
        }
        for value in &mut cdf {
            *value /= total;
        }
        Chooser::Zipf(cdf)
    }

    fn choose(&self, prng: &mut Prng) -> u64 {
        match self {
            Chooser::Uniform(count) => prng.next() % count,
            Chooser::Zipf(cdf) => {
                let u = prng.unit();
                cdf.partition_point(|&c| c < u).min(cdf.len() - 1) as u64
            }
        }
    }
}

/// The accounts and transfers of one benchmark run.
pub struct Workload {
    pub accounts: Vec<Account>,
    pub transfers: Vec<Transfer>,
    pub batch_size: usize,
}

/// Account and transfer ids are sequential from `id_base + 1` (time-ordered ids are the fast
/// case for the reference engine too). Against a server started here `id_base` is 0; against a
/// running server (`addr`) it is `seed << 64`, so runs with different seeds do not collide there.
fn id_base(config: &Config) -> u128 {
    match config.addr {
        Some(_) => u128::from(config.seed) << 64,
        None => 0,
    }
}

impl Workload {
    #[must_use]
    pub fn generate(config: &Config) -> Workload {
        let account_count = config.account_count.max(2);
        let base = id_base(config);
        let accounts = (0..account_count)
            .map(|i| Account {
                id: base + 1 + u128::from(i),
                ledger: 1,
                code: 1,
                flags: AccountFlags(0),
                ..Account::default()
            })
            .collect();
        let chooser = Chooser::new(account_count, config.zipf_exponent);
        let mut prng = Prng(config.seed);
        let transfers = (0..config.transfer_count)
            .map(|i| {
                let (debit, credit) = if config.hot_account {
                    (1 + prng.next() % (account_count - 1), 0)
                } else {
                    let debit = chooser.choose(&mut prng);
                    let mut credit = chooser.choose(&mut prng);
                    if credit == debit {
                        credit = (debit + 1) % account_count;
                    }
                    (debit, credit)
                };
                let pending = prng.next() % 100 < u64::from(config.pending_percent);
                Transfer {
                    id: base + 1 + u128::from(i),
                    debit_account_id: base + 1 + u128::from(debit),
                    credit_account_id: base + 1 + u128::from(credit),
                    amount: u128::from(1 + prng.next() % 10_000),
                    ledger: 1,
                    code: 1,
                    flags: TransferFlags(if pending { TransferFlags::PENDING } else { 0 }),
                    ..Transfer::default()
                }
            })
            .collect();
        Workload {
            accounts,
            transfers,
            batch_size: config.batch_size.clamp(1, engine::REQUEST_EVENTS_MAX),
        }
    }

    /// Requests creating the accounts, full size.
    pub fn account_requests(&self) -> impl Iterator<Item = Request> + '_ {
        self.accounts
            .chunks(engine::REQUEST_EVENTS_MAX)
            .map(|chunk| Request::CreateAccounts(chunk.to_vec()))
    }

    /// Requests creating the transfers, `batch_size` each.
    pub fn transfer_requests(&self) -> impl Iterator<Item = Request> + '_ {
        self.transfers
            .chunks(self.batch_size)
            .map(|chunk| Request::CreateTransfers(chunk.to_vec()))
    }
}
