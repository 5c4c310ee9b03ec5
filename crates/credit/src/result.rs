//! Credit result codes: one per command, stable numbers, declared in precedence order.
//!
//! Invariants: numbers never change and are never reused; when several rejections apply to one
//! command, the one declared first is returned (each command checks only the codes that concern
//! it, in this order). Every code but `ok` and `exists` leaves no trace: no ledger transfer, no
//! credit state change.

use ledger::CreateTransferResult;
use stdx::named_codes as result_codes;

result_codes! {
    /// The result of one credit command.
    CreditResult {
        Ok = 0 => "ok",
        ReservedField = 1 => "reserved_field",
        IdMustNotBeZero = 2 => "id_must_not_be_zero",
        IdMustNotBeIntMax = 3 => "id_must_not_be_int_max",
        IdMustNotBeReserved = 4 => "id_must_not_be_reserved",
        ExistsWithDifferentFields = 5 => "exists_with_different_fields",
        Exists = 6 => "exists",
        IdAlreadyFailed = 7 => "id_already_failed",
        // Programs.
        LedgerMustNotBeZero = 10 => "ledger_must_not_be_zero",
        CodeMustNotBeZero = 11 => "code_must_not_be_zero",
        StartDateMustNotBeZero = 12 => "start_date_must_not_be_zero",
        StatementDayOutOfRange = 13 => "statement_day_out_of_range",
        DueDayOutOfRange = 14 => "due_day_out_of_range",
        MinAgeBelowAdulthood = 15 => "min_age_below_adulthood",
        WaterfallInvalid = 16 => "waterfall_invalid",
        CoinTermsInvalid = 17 => "coin_terms_invalid",
        PlatformMinShareInvalid = 18 => "platform_min_share_invalid",
        ProgramAccountNotFound = 19 => "program_account_not_found",
        ProgramAccountLedgerMismatch = 20 => "program_account_ledger_mismatch",
        // Lines.
        ProgramNotFound = 30 => "program_not_found",
        LineNotFound = 31 => "line_not_found",
        IdConflictsWithAccount = 32 => "id_conflicts_with_account",
        ApplicantIsMinor = 33 => "applicant_is_minor",
        ApplicantIsStudent = 34 => "applicant_is_student",
        StudentNeedsGuardian = 35 => "student_needs_guardian",
        LineClosed = 36 => "line_closed",
        LineWrittenOff = 37 => "line_written_off",
        LineFrozen = 38 => "line_frozen",
        LineOverdue = 39 => "line_overdue",
        StatusTransitionInvalid = 40 => "status_transition_invalid",
        LineHasBalance = 41 => "line_has_balance",
        TemporaryWindowInvalid = 42 => "temporary_window_invalid",
        ExceedsBorrowerCap = 43 => "exceeds_borrower_cap",
        ExceedsDebtToIncomeCap = 44 => "exceeds_debt_to_income_cap",
        // Purchases and repayments.
        AmountMustNotBeZero = 50 => "amount_must_not_be_zero",
        PurchaseNotFound = 51 => "purchase_not_found",
        PurchaseLineMismatch = 52 => "purchase_line_mismatch",
        PurchaseAlreadyCaptured = 53 => "purchase_already_captured",
        PurchaseAlreadyVoided = 54 => "purchase_already_voided",
        PurchaseExpired = 55 => "purchase_expired",
        PurchaseNotCaptured = 56 => "purchase_not_captured",
        ExceedsAuthorizedAmount = 57 => "exceeds_authorized_amount",
        ExceedsRefundable = 58 => "exceeds_refundable",
        ExceedsWrittenOff = 59 => "exceeds_written_off",
        AccountNotFound = 60 => "account_not_found",
        AccountLedgerMismatch = 61 => "account_ledger_mismatch",
        AccountClosed = 62 => "account_closed",
        InsufficientCredit = 63 => "insufficient_credit",
        OverflowsBalance = 64 => "overflows_balance",
        InsufficientFunds = 65 => "insufficient_funds",
        AccountIsManaged = 66 => "account_is_managed",
        // Day close.
        DateMustBeBusinessDate = 70 => "date_must_be_business_date",
        // Installments.
        PeriodsNotOffered = 80 => "periods_not_offered",
        PurchaseAlreadyConverted = 81 => "purchase_already_converted",
        PurchaseAlreadyBilled = 82 => "purchase_already_billed",
        OutsideBillConversionWindow = 83 => "outside_bill_conversion_window",
        NothingToConvert = 84 => "nothing_to_convert",
        AprAboveCap = 85 => "apr_above_cap",
        SponsorAccountUnbounded = 86 => "sponsor_account_unbounded",
        SponsorBudgetExceeded = 87 => "sponsor_budget_exceeded",
        PlanNotFound = 88 => "plan_not_found",
        PlanLineMismatch = 89 => "plan_line_mismatch",
        PlanNotActive = 90 => "plan_not_active",
        SettlementAmountMismatch = 91 => "settlement_amount_mismatch",
        // Reward coins.
        CoinsNotOffered = 100 => "coins_not_offered",
        CoinsNotWholeFen = 101 => "coins_not_whole_fen",
        ExceedsCoinCap = 102 => "exceeds_coin_cap",
        ExceedsBilled = 103 => "exceeds_billed",
        InsufficientCoins = 104 => "insufficient_coins",
        CoinFundingExhausted = 105 => "coin_funding_exhausted",
        // Co-funding.
        FundingNotOffered = 110 => "funding_not_offered",
        ShareMustNotBeZero = 111 => "share_must_not_be_zero",
        FundersMax = 112 => "funders_max",
        PlatformShareBelowMin = 113 => "platform_share_below_min",
        FunderAccountInvalid = 114 => "funder_account_invalid",
        // Counters: what a line or a program counts in u64 fen would overflow. Decided after
        // every other check of the command, before its ledger transfer (the last check).
        /// A line's own figures would exceed `u64::MAX` fen: what it owes (owed, unbilled and
        /// installment principal together), its credit balance, or a total of the running
        /// cycle (purchases, refunds, repayments, fees, paid since the statement). A repayment
        /// answers `overflows_balance` for the same, as it has since fuzz finding B1.
        OverflowsLineCounters = 115 => "overflows_line_counters",
        /// A drawdown would take a co-funding participant's lifetime drawn principal (the
        /// platform's or a funder's; what it has outstanding, was repaid and lost never exceed
        /// it) past `u64::MAX` fen.
        OverflowsFundingCounters = 116 => "overflows_funding_counters",
        // A ledger rejection the credit checks did not foresee (a bug if ever seen).
        LedgerRejected = 99 => "ledger_rejected",
    }
}

impl CreditResult {
    /// The credit code for a ledger rejection of a transfer a command posts: account problems
    /// of the counterparty (merchant, repayment source) and overflows map to named codes.
    #[must_use]
    pub fn from_ledger(result: CreateTransferResult) -> CreditResult {
        use CreateTransferResult as L;
        match result {
            L::Ok => CreditResult::Ok,
            L::Exists => CreditResult::Exists,
            L::DebitAccountNotFound | L::CreditAccountNotFound => CreditResult::AccountNotFound,
            L::AccountsMustHaveTheSameLedger | L::TransferMustHaveTheSameLedgerAsAccounts => {
                CreditResult::AccountLedgerMismatch
            }
            L::DebitAccountAlreadyClosed | L::CreditAccountAlreadyClosed => {
                CreditResult::AccountClosed
            }
            L::OverflowsDebitsPending
            | L::OverflowsCreditsPending
            | L::OverflowsDebitsPosted
            | L::OverflowsCreditsPosted
            | L::OverflowsDebits
            | L::OverflowsCredits
            | L::OverflowsTimeout => CreditResult::OverflowsBalance,
            L::PendingTransferExpired => CreditResult::PurchaseExpired,
            L::PendingTransferAlreadyPosted => CreditResult::PurchaseAlreadyCaptured,
            L::PendingTransferAlreadyVoided => CreditResult::PurchaseAlreadyVoided,
            L::ExceedsPendingTransferAmount => CreditResult::ExceedsAuthorizedAmount,
            L::IdAlreadyFailed => CreditResult::IdAlreadyFailed,
            L::ExceedsCredits | L::ExceedsDebits => CreditResult::InsufficientFunds,
            L::ExistsWithDifferentFlags
            | L::ExistsWithDifferentPendingId
            | L::ExistsWithDifferentTimeout
            | L::ExistsWithDifferentDebitAccountId
            | L::ExistsWithDifferentCreditAccountId
            | L::ExistsWithDifferentAmount
            | L::ExistsWithDifferentUserData128
            | L::ExistsWithDifferentUserData64
            | L::ExistsWithDifferentUserData32
            | L::ExistsWithDifferentLedger
            | L::ExistsWithDifferentCode => CreditResult::ExistsWithDifferentFields,
            _ => CreditResult::LedgerRejected,
        }
    }
}
