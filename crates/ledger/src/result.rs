//! Result codes: one per event, stable numbers, declared in precedence order.
//!
//! Invariants: numbers never change and are never reused (new codes take new numbers); when
//! several rejections apply to one event, the one declared first is returned. `ALL` lists the
//! codes in precedence order (declaration order, see `stdx::named_codes`) and is what docs and
//! tests are generated from.

use stdx::named_codes as result_codes;

result_codes! {
    /// The result of creating one account.
    CreateAccountResult {
        Ok = 0 => "ok",
        LinkedEventFailed = 1 => "linked_event_failed",
        LinkedEventChainOpen = 2 => "linked_event_chain_open",
        TimestampMustBeZero = 3 => "timestamp_must_be_zero",
        ReservedField = 4 => "reserved_field",
        ReservedFlag = 5 => "reserved_flag",
        IdMustNotBeZero = 6 => "id_must_not_be_zero",
        IdMustNotBeIntMax = 7 => "id_must_not_be_int_max",
        ExistsWithDifferentFlags = 15 => "exists_with_different_flags",
        ExistsWithDifferentUserData128 = 16 => "exists_with_different_user_data_128",
        ExistsWithDifferentUserData64 = 17 => "exists_with_different_user_data_64",
        ExistsWithDifferentUserData32 = 18 => "exists_with_different_user_data_32",
        ExistsWithDifferentLedger = 19 => "exists_with_different_ledger",
        ExistsWithDifferentCode = 20 => "exists_with_different_code",
        Exists = 21 => "exists",
        FlagsAreMutuallyExclusive = 8 => "flags_are_mutually_exclusive",
        DebitsPendingMustBeZero = 9 => "debits_pending_must_be_zero",
        DebitsPostedMustBeZero = 10 => "debits_posted_must_be_zero",
        CreditsPendingMustBeZero = 11 => "credits_pending_must_be_zero",
        CreditsPostedMustBeZero = 12 => "credits_posted_must_be_zero",
        LedgerMustNotBeZero = 13 => "ledger_must_not_be_zero",
        CodeMustNotBeZero = 14 => "code_must_not_be_zero",
    }
}

result_codes! {
    /// The result of creating one transfer.
    CreateTransferResult {
        Ok = 0 => "ok",
        LinkedEventFailed = 1 => "linked_event_failed",
        LinkedEventChainOpen = 2 => "linked_event_chain_open",
        TimestampMustBeZero = 3 => "timestamp_must_be_zero",
        ReservedFlag = 4 => "reserved_flag",
        IdMustNotBeZero = 5 => "id_must_not_be_zero",
        IdMustNotBeIntMax = 6 => "id_must_not_be_int_max",
        /// Ids from `RESERVED_ID_MIN` on belong to transfers the engine posts itself (credit).
        IdMustNotBeReserved = 69 => "id_must_not_be_reserved",
        ExistsWithDifferentFlags = 36 => "exists_with_different_flags",
        ExistsWithDifferentPendingId = 40 => "exists_with_different_pending_id",
        ExistsWithDifferentTimeout = 44 => "exists_with_different_timeout",
        ExistsWithDifferentDebitAccountId = 37 => "exists_with_different_debit_account_id",
        ExistsWithDifferentCreditAccountId = 38 => "exists_with_different_credit_account_id",
        ExistsWithDifferentAmount = 39 => "exists_with_different_amount",
        ExistsWithDifferentUserData128 = 41 => "exists_with_different_user_data_128",
        ExistsWithDifferentUserData64 = 42 => "exists_with_different_user_data_64",
        ExistsWithDifferentUserData32 = 43 => "exists_with_different_user_data_32",
        ExistsWithDifferentLedger = 67 => "exists_with_different_ledger",
        ExistsWithDifferentCode = 45 => "exists_with_different_code",
        Exists = 46 => "exists",
        IdAlreadyFailed = 68 => "id_already_failed",
        FlagsAreMutuallyExclusive = 7 => "flags_are_mutually_exclusive",
        DebitAccountIdMustNotBeZero = 8 => "debit_account_id_must_not_be_zero",
        DebitAccountIdMustNotBeIntMax = 9 => "debit_account_id_must_not_be_int_max",
        CreditAccountIdMustNotBeZero = 10 => "credit_account_id_must_not_be_zero",
        CreditAccountIdMustNotBeIntMax = 11 => "credit_account_id_must_not_be_int_max",
        AccountsMustBeDifferent = 12 => "accounts_must_be_different",
        PendingIdMustBeZero = 13 => "pending_id_must_be_zero",
        PendingIdMustNotBeZero = 14 => "pending_id_must_not_be_zero",
        PendingIdMustNotBeIntMax = 15 => "pending_id_must_not_be_int_max",
        PendingIdMustBeDifferent = 16 => "pending_id_must_be_different",
        /// Pending transfers with reserved ids are the engine's own (a checkout's payer hold):
        /// only the command that made them resolves them.
        PendingIdMustNotBeReserved = 71 => "pending_id_must_not_be_reserved",
        TimeoutReservedForPendingTransfer = 17 => "timeout_reserved_for_pending_transfer",
        ClosingTransferMustBePending = 64 => "closing_transfer_must_be_pending",
        LedgerMustNotBeZero = 19 => "ledger_must_not_be_zero",
        CodeMustNotBeZero = 20 => "code_must_not_be_zero",
        DebitAccountNotFound = 21 => "debit_account_not_found",
        CreditAccountNotFound = 22 => "credit_account_not_found",
        AccountsMustHaveTheSameLedger = 23 => "accounts_must_have_the_same_ledger",
        TransferMustHaveTheSameLedgerAsAccounts = 24
            => "transfer_must_have_the_same_ledger_as_accounts",
        PendingTransferNotFound = 25 => "pending_transfer_not_found",
        PendingTransferNotPending = 26 => "pending_transfer_not_pending",
        PendingTransferHasDifferentDebitAccountId = 27
            => "pending_transfer_has_different_debit_account_id",
        PendingTransferHasDifferentCreditAccountId = 28
            => "pending_transfer_has_different_credit_account_id",
        PendingTransferHasDifferentLedger = 29 => "pending_transfer_has_different_ledger",
        PendingTransferHasDifferentCode = 30 => "pending_transfer_has_different_code",
        ExceedsPendingTransferAmount = 31 => "exceeds_pending_transfer_amount",
        PendingTransferHasDifferentAmount = 32 => "pending_transfer_has_different_amount",
        PendingTransferAlreadyPosted = 33 => "pending_transfer_already_posted",
        PendingTransferAlreadyVoided = 34 => "pending_transfer_already_voided",
        PendingTransferExpired = 35 => "pending_transfer_expired",
        DebitAccountAlreadyClosed = 65 => "debit_account_already_closed",
        CreditAccountAlreadyClosed = 66 => "credit_account_already_closed",
        /// A client's transfer may not touch a `managed` account (a credit line).
        AccountIsManaged = 70 => "account_is_managed",
        OverflowsDebitsPending = 47 => "overflows_debits_pending",
        OverflowsCreditsPending = 48 => "overflows_credits_pending",
        OverflowsDebitsPosted = 49 => "overflows_debits_posted",
        OverflowsCreditsPosted = 50 => "overflows_credits_posted",
        OverflowsDebits = 51 => "overflows_debits",
        OverflowsCredits = 52 => "overflows_credits",
        OverflowsTimeout = 53 => "overflows_timeout",
        ExceedsCredits = 54 => "exceeds_credits",
        ExceedsDebits = 55 => "exceeds_debits",
    }
}

impl CreateTransferResult {
    /// Failures that depend on state another event may change (an account appearing, a balance
    /// growing). A transfer that failed with one of them records its id as failed, so retrying
    /// the same id answers `id_already_failed` and can never flip from failed to created.
    #[must_use]
    pub fn transient(self) -> bool {
        matches!(
            self,
            CreateTransferResult::DebitAccountNotFound
                | CreateTransferResult::CreditAccountNotFound
                | CreateTransferResult::PendingTransferNotFound
                | CreateTransferResult::ExceedsCredits
                | CreateTransferResult::ExceedsDebits
                | CreateTransferResult::DebitAccountAlreadyClosed
                | CreateTransferResult::CreditAccountAlreadyClosed
        )
    }
}

result_codes! {
    /// The result of one account-limit change (an elevenfold extension).
    SetLimitResult {
        Ok = 0 => "ok",
        AccountIdMustNotBeZero = 1 => "account_id_must_not_be_zero",
        AccountIdMustNotBeIntMax = 2 => "account_id_must_not_be_int_max",
        LimitMustBeGiven = 3 => "limit_must_be_given",
        AccountNotFound = 4 => "account_not_found",
        AccountAlreadyClosed = 5 => "account_already_closed",
        DebitLimitRequiresDebitsMustNotExceedCredits = 6
            => "debit_limit_requires_debits_must_not_exceed_credits",
        CreditLimitRequiresCreditsMustNotExceedDebits = 7
            => "credit_limit_requires_credits_must_not_exceed_debits",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: numbers and names are unique and round-trip, so a code can never be misread.
    #[test]
    fn codes_are_unique_and_round_trip() {
        fn check<T: Copy + Eq + std::fmt::Debug>(
            all: &[T],
            number: fn(T) -> u32,
            name: fn(T) -> &'static str,
            from_number: fn(u32) -> Option<T>,
            from_name: fn(&str) -> Option<T>,
        ) {
            let mut numbers: Vec<u32> = all.iter().map(|c| number(*c)).collect();
            numbers.sort_unstable();
            numbers.dedup();
            assert_eq!(numbers.len(), all.len());
            for code in all {
                assert_eq!(from_number(number(*code)), Some(*code));
                assert_eq!(from_name(name(*code)), Some(*code));
            }
        }
        check(
            CreateAccountResult::ALL,
            CreateAccountResult::number,
            CreateAccountResult::name,
            CreateAccountResult::from_number,
            CreateAccountResult::from_name,
        );
        check(
            CreateTransferResult::ALL,
            CreateTransferResult::number,
            CreateTransferResult::name,
            CreateTransferResult::from_number,
            CreateTransferResult::from_name,
        );
        check(
            SetLimitResult::ALL,
            SetLimitResult::number,
            SetLimitResult::name,
            SetLimitResult::from_number,
            SetLimitResult::from_name,
        );
        assert_eq!(CreateTransferResult::ALL[0], CreateTransferResult::Ok);
    }
}
