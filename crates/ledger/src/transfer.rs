//! Transfers: the 128-byte record and its flags.
//!
//! Invariant: a stored transfer is never changed; pending resolution is recorded beside it.

/// Flags of a transfer. Bit positions follow the reference engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TransferFlags(pub u16);

impl TransferFlags {
    pub const LINKED: u16 = 1 << 0;
    pub const PENDING: u16 = 1 << 1;
    pub const POST_PENDING_TRANSFER: u16 = 1 << 2;
    pub const VOID_PENDING_TRANSFER: u16 = 1 << 3;
    pub const BALANCING_DEBIT: u16 = 1 << 4;
    pub const BALANCING_CREDIT: u16 = 1 << 5;
    pub const CLOSING_DEBIT: u16 = 1 << 6;
    pub const CLOSING_CREDIT: u16 = 1 << 7;
    // Bit 8 is the reference engine's `imported`; not supported here, so it is a reserved bit.
    pub const KNOWN: u16 = 0xFF;
    /// Names in bit order, for text formats.
    pub const NAMES: [(u16, &'static str); 8] = [
        (Self::LINKED, "linked"),
        (Self::PENDING, "pending"),
        (Self::POST_PENDING_TRANSFER, "post_pending_transfer"),
        (Self::VOID_PENDING_TRANSFER, "void_pending_transfer"),
        (Self::BALANCING_DEBIT, "balancing_debit"),
        (Self::BALANCING_CREDIT, "balancing_credit"),
        (Self::CLOSING_DEBIT, "closing_debit"),
        (Self::CLOSING_CREDIT, "closing_credit"),
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
    pub fn pending(self) -> bool {
        self.has(Self::PENDING)
    }
    #[inline]
    #[must_use]
    pub fn post_pending_transfer(self) -> bool {
        self.has(Self::POST_PENDING_TRANSFER)
    }
    #[inline]
    #[must_use]
    pub fn void_pending_transfer(self) -> bool {
        self.has(Self::VOID_PENDING_TRANSFER)
    }
    #[inline]
    #[must_use]
    pub fn balancing_debit(self) -> bool {
        self.has(Self::BALANCING_DEBIT)
    }
    #[inline]
    #[must_use]
    pub fn balancing_credit(self) -> bool {
        self.has(Self::BALANCING_CREDIT)
    }
    #[inline]
    #[must_use]
    pub fn closing_debit(self) -> bool {
        self.has(Self::CLOSING_DEBIT)
    }
    #[inline]
    #[must_use]
    pub fn closing_credit(self) -> bool {
        self.has(Self::CLOSING_CREDIT)
    }
}

/// `amount` on a post meaning "the whole pending amount".
pub const AMOUNT_MAX: u128 = u128::MAX;

/// A transfer of `amount` minor units from `debit_account_id` to `credit_account_id`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transfer {
    pub id: u128,
    pub debit_account_id: u128,
    pub credit_account_id: u128,
    pub amount: u128,
    pub pending_id: u128,
    pub user_data_128: u128,
    pub user_data_64: u64,
    pub user_data_32: u32,
    /// Seconds after `timestamp` at which a pending transfer expires; 0 is never.
    pub timeout: u32,
    pub ledger: u32,
    pub code: u16,
    pub flags: TransferFlags,
    /// Engine time of creation, in nanoseconds; must be zero on input.
    pub timestamp: u64,
}

const _: () = assert!(size_of::<Transfer>() == 128);

/// What became of a pending transfer. Resolution happens at most once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PendingStatus {
    Pending,
    Posted,
    Voided,
    Expired,
}

impl PendingStatus {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            PendingStatus::Pending => "pending",
            PendingStatus::Posted => "posted",
            PendingStatus::Voided => "voided",
            PendingStatus::Expired => "expired",
        }
    }
}
