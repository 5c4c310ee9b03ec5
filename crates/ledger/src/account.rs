//! Accounts: the 128-byte record, its flags, and the balance snapshot kept for history accounts.
//!
//! Invariant: balances are changed only by `state.rs`, always in debit/credit pairs.

/// Flags of an account. Bit positions follow the reference engine so clients can move between them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AccountFlags(pub u16);

impl AccountFlags {
    pub const LINKED: u16 = 1 << 0;
    pub const DEBITS_MUST_NOT_EXCEED_CREDITS: u16 = 1 << 1;
    pub const CREDITS_MUST_NOT_EXCEED_DEBITS: u16 = 1 << 2;
    pub const HISTORY: u16 = 1 << 3;
    // Bit 4 is the reference engine's `imported`; not supported here, so it is a reserved bit.
    pub const CLOSED: u16 = 1 << 5;
    /// An elevenfold extension: only the engine's product modules (credit) post to or from
    /// this account; a client's transfer touching it gets `account_is_managed`. Credit lines
    /// are managed, so their balances always mean what the credit state says they mean.
    pub const MANAGED: u16 = 1 << 15;
    /// Every bit we define. Any other bit set is `reserved_flag`.
    pub const KNOWN: u16 = Self::LINKED
        | Self::DEBITS_MUST_NOT_EXCEED_CREDITS
        | Self::CREDITS_MUST_NOT_EXCEED_DEBITS
        | Self::HISTORY
        | Self::CLOSED
        | Self::MANAGED;
    /// Names in bit order, for text formats.
    pub const NAMES: [(u16, &'static str); 6] = [
        (Self::LINKED, "linked"),
        (
            Self::DEBITS_MUST_NOT_EXCEED_CREDITS,
            "debits_must_not_exceed_credits",
        ),
        (
            Self::CREDITS_MUST_NOT_EXCEED_DEBITS,
            "credits_must_not_exceed_debits",
        ),
        (Self::HISTORY, "history"),
        (Self::CLOSED, "closed"),
        (Self::MANAGED, "managed"),
    ];

    #[inline]
    #[must_use]
    pub fn has(self, bit: u16) -> bool {
        self.0 & bit != 0
    }
    #[inline]
    #[must_use]
    pub fn linked(self) -> bool {
        self.has(Self::LINKED)
    }
    #[inline]
    #[must_use]
    pub fn debits_must_not_exceed_credits(self) -> bool {
        self.has(Self::DEBITS_MUST_NOT_EXCEED_CREDITS)
    }
    #[inline]
    #[must_use]
    pub fn credits_must_not_exceed_debits(self) -> bool {
        self.has(Self::CREDITS_MUST_NOT_EXCEED_DEBITS)
    }
    #[inline]
    #[must_use]
    pub fn history(self) -> bool {
        self.has(Self::HISTORY)
    }
    #[inline]
    #[must_use]
    pub fn closed(self) -> bool {
        self.has(Self::CLOSED)
    }
    #[inline]
    #[must_use]
    pub fn managed(self) -> bool {
        self.has(Self::MANAGED)
    }
}

/// An account. Immutable after creation except for balances, the `closed` flag and its limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Account {
    pub id: u128,
    pub debits_pending: u128,
    pub debits_posted: u128,
    pub credits_pending: u128,
    pub credits_posted: u128,
    pub user_data_128: u128,
    pub user_data_64: u64,
    pub user_data_32: u32,
    pub reserved: u32,
    pub ledger: u32,
    pub code: u16,
    pub flags: AccountFlags,
    /// Engine time of creation, in nanoseconds; must be zero on input.
    pub timestamp: u64,
}

const _: () = assert!(size_of::<Account>() == 128);

/// An account's limits: how far debits may run over credits (with
/// `debits_must_not_exceed_credits`), and credits over debits (with
/// `credits_must_not_exceed_debits`). Zero reproduces the reference engine exactly.
/// Unlike the reference engine, limits can be changed after creation (`set_account_limits`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountLimits {
    pub debit_limit: u128,
    pub credit_limit: u128,
}

/// The four balances of an account after the transfer with `timestamp`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountBalance {
    pub timestamp: u64,
    pub debits_pending: u128,
    pub debits_posted: u128,
    pub credits_pending: u128,
    pub credits_posted: u128,
}

impl AccountBalance {
    #[must_use]
    pub fn of(account: &Account, timestamp: u64) -> AccountBalance {
        AccountBalance {
            timestamp,
            debits_pending: account.debits_pending,
            debits_posted: account.debits_posted,
            credits_pending: account.credits_pending,
            credits_posted: account.credits_posted,
        }
    }
}

/// A change of an account's limits. `None` leaves a limit as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitChange {
    pub account_id: u128,
    pub debit_limit: Option<u128>,
    pub credit_limit: Option<u128>,
}
