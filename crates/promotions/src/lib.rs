//! Promotions: campaigns on budgets that can never be overspent, coupons, payments carrying
//! coupons, red-packet pools, lotteries, reward coins, and custom campaign rules.
//!
//! Pure and deterministic, like the ledger and credit crates it posts through: no I/O, no
//! clock, no randomness (red-packet amounts come from a seed recorded in the campaign and the
//! grab's position), no floats. Every budget is a `managed` ledger account that may never be
//! debited past its credits, so the ledger itself refuses an overspend; every discount,
//! reservation, grab and return is a ledger transfer, and a payment's own transfer and its
//! discounts are posted as one linked chain (all or none).
//!
//! This crate does NOT persist anything or speak a wire format beyond its fixed-size records.

mod best;
mod checkout;
mod games;
mod record;
mod redpacket;
mod result;
pub mod rule;
mod snapshot;
mod state;
mod touch;

pub use best::{Basket, BestCoupons, CANDIDATES_MAX};
pub use games::{DrawView, PrizeView, RULE_VARIABLES, business_day};
pub use record::{
    COUPONS_MAX, Campaign, CampaignKind, Command, DRAW_RANGE, EXPIRE_MAX, Offer, PRIZES_MAX,
    PrizeKind, RECORD_SIZE, RULE_TEXT_MAX, RecordError, StatusChange,
};
pub use redpacket::double_average;
pub use result::PromotionResult;
pub use snapshot::PromotionsSnapshotError;
pub use state::{
    CampaignStatus, CampaignView, CheckoutStatus, CheckoutView, CouponStatus, CouponView,
    Promotions, derived_id,
};

#[cfg(test)]
mod tests;
