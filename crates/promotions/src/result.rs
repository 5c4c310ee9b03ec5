//! Promotion result codes: one per command, stable numbers, declared in precedence order.
//!
//! Invariants: numbers never change and are never reused; when several rejections apply to one
//! command, the one declared first is returned (each command checks only the codes that concern
//! it, in this order). Every code but `ok` and `exists` leaves no trace: no ledger transfer, no
//! promotions state change.

use ledger::CreateTransferResult;
use stdx::named_codes as result_codes;

result_codes! {
    /// The result of one promotions command or campaign.
    PromotionResult {
        Ok = 0 => "ok",
        ReservedField = 1 => "reserved_field",
        IdMustNotBeZero = 2 => "id_must_not_be_zero",
        IdMustNotBeIntMax = 3 => "id_must_not_be_int_max",
        IdMustNotBeReserved = 4 => "id_must_not_be_reserved",
        ExistsWithDifferentFields = 5 => "exists_with_different_fields",
        Exists = 6 => "exists",
        IdAlreadyUsed = 7 => "id_already_used",
        // Campaigns.
        LedgerMustNotBeZero = 10 => "ledger_must_not_be_zero",
        CodeMustNotBeZero = 11 => "code_must_not_be_zero",
        CampaignKindInvalid = 12 => "campaign_kind_invalid",
        WindowInvalid = 13 => "window_invalid",
        OfferInvalid = 14 => "offer_invalid",
        BinRangeInvalid = 15 => "bin_range_invalid",
        PoolInvalid = 16 => "pool_invalid",
        SponsorAccountNotFound = 17 => "sponsor_account_not_found",
        SponsorAccountInvalid = 18 => "sponsor_account_invalid",
        BudgetAccountIdTaken = 19 => "budget_account_id_taken",
        /// `add_prize`: a prize out of order, without weight or stock, with fields its kind
        /// does not use, over `PRIZES_MAX`, weights over a million, or an unknown or non-coupon
        /// coupon campaign.
        PrizeInvalid = 20 => "prize_invalid",
        /// `set_campaign_rule`: the text does not compile (`crate::rule`).
        RuleInvalid = 21 => "rule_invalid",
        // Campaign state.
        CampaignNotFound = 30 => "campaign_not_found",
        CampaignKindMismatch = 31 => "campaign_kind_mismatch",
        CampaignClosed = 32 => "campaign_closed",
        CampaignPaused = 33 => "campaign_paused",
        CampaignNotStarted = 34 => "campaign_not_started",
        CampaignEnded = 35 => "campaign_ended",
        CampaignHasReservations = 36 => "campaign_has_reservations",
        /// `add_prize` after the lottery's first draw.
        LotteryStarted = 39 => "lottery_started",
        UserNotEligible = 37 => "user_not_eligible",
        AmountMustNotBeZero = 38 => "amount_must_not_be_zero",
        /// A one-step checkout (`capture`) holds nothing, so it takes no `timeout`.
        TimeoutWithCapture = 75 => "timeout_with_capture",
        // Coupons.
        StockExhausted = 40 => "stock_exhausted",
        PerUserCouponLimit = 41 => "per_user_coupon_limit",
        CouponNotFound = 42 => "coupon_not_found",
        CouponListedTwice = 43 => "coupon_listed_twice",
        CouponNotOwned = 44 => "coupon_not_owned",
        CouponReserved = 45 => "coupon_reserved",
        CouponUsed = 46 => "coupon_used",
        CouponExpired = 47 => "coupon_expired",
        MerchantNotEligible = 48 => "merchant_not_eligible",
        CategoryNotEligible = 49 => "category_not_eligible",
        InstrumentNotEligible = 50 => "instrument_not_eligible",
        /// The campaign's custom condition (`set_campaign_rule`) does not hold.
        RuleNotMet = 58 => "rule_not_met",
        SpendBelowThreshold = 51 => "spend_below_threshold",
        CouponsNotStackable = 52 => "coupons_not_stackable",
        PerUserRedemptionLimit = 53 => "per_user_redemption_limit",
        PerUserAmountLimit = 54 => "per_user_amount_limit",
        RedemptionsExhausted = 55 => "redemptions_exhausted",
        BudgetExhausted = 56 => "budget_exhausted",
        // Payments (checkouts).
        PayerNotFound = 60 => "payer_not_found",
        PayerIsManaged = 61 => "payer_is_managed",
        MerchantNotFound = 62 => "merchant_not_found",
        MerchantIsManaged = 63 => "merchant_is_managed",
        /// An account cannot pay itself (the ledger's `accounts_must_be_different`).
        PayerIsMerchant = 57 => "payer_is_merchant",
        LedgerMismatch = 64 => "ledger_mismatch",
        CheckoutNotFound = 65 => "checkout_not_found",
        CheckoutAlreadyCaptured = 66 => "checkout_already_captured",
        CheckoutAlreadyVoided = 67 => "checkout_already_voided",
        CheckoutExpired = 68 => "checkout_expired",
        CheckoutNotCaptured = 69 => "checkout_not_captured",
        ExceedsRefundable = 70 => "exceeds_refundable",
        InsufficientFunds = 71 => "insufficient_funds",
        OverflowsBalance = 72 => "overflows_balance",
        AccountClosed = 73 => "account_closed",
        /// The credit line paying refused: frozen, closed, written off or overdue (a line
        /// without enough credit gets `insufficient_funds`).
        CreditRefused = 74 => "credit_refused",
        // Red packets.
        AlreadyGrabbed = 80 => "already_grabbed",
        PoolEmpty = 81 => "pool_empty",
        PoolNotFunded = 82 => "pool_not_funded",
        AccountNotFound = 83 => "account_not_found",
        AccountIsManaged = 84 => "account_is_managed",
        // Lotteries.
        DrawsExhausted = 85 => "draws_exhausted",
        PerUserDrawLimit = 86 => "per_user_draw_limit",
        // Coins.
        TaskNotOffered = 87 => "task_not_offered",
        AlreadyCheckedIn = 88 => "already_checked_in",
        CheckoutNotOwned = 89 => "checkout_not_owned",
        CoinsAlreadyEarned = 90 => "coins_already_earned",
        // A ledger rejection the promotion checks did not foresee (a bug if ever seen).
        LedgerRejected = 99 => "ledger_rejected",
    }
}

impl PromotionResult {
    /// The promotions code for a ledger rejection of a transfer a command posts.
    #[must_use]
    pub fn from_ledger(result: CreateTransferResult) -> PromotionResult {
        use CreateTransferResult as L;
        match result {
            L::Ok => PromotionResult::Ok,
            L::Exists => PromotionResult::Exists,
            L::DebitAccountNotFound | L::CreditAccountNotFound => PromotionResult::AccountNotFound,
            L::AccountsMustHaveTheSameLedger | L::TransferMustHaveTheSameLedgerAsAccounts => {
                PromotionResult::LedgerMismatch
            }
            L::DebitAccountAlreadyClosed | L::CreditAccountAlreadyClosed => {
                PromotionResult::AccountClosed
            }
            L::OverflowsDebitsPending
            | L::OverflowsCreditsPending
            | L::OverflowsDebitsPosted
            | L::OverflowsCreditsPosted
            | L::OverflowsDebits
            | L::OverflowsCredits
            | L::OverflowsTimeout => PromotionResult::OverflowsBalance,
            L::ExceedsCredits | L::ExceedsDebits => PromotionResult::InsufficientFunds,
            L::PendingTransferExpired => PromotionResult::CheckoutExpired,
            L::IdAlreadyFailed => PromotionResult::IdAlreadyUsed,
            _ => PromotionResult::LedgerRejected,
        }
    }
}
