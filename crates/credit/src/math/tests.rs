//! Tests for the credit math: worked examples whose expected figures were derived by hand or
//! from published list prices (never from this code's output), then property tests for the
//! invariants (conservation, bounds, monotonicity, no panics on any input).

use proptest::prelude::*;

use super::*;

const HALF_UP: RoundingMode = RoundingMode::HalfUp;
const HALF_EVEN: RoundingMode = RoundingMode::HalfEven;
const DOWN: RoundingMode = RoundingMode::Down;

/// 1,000.00 yuan.
const THOUSAND_YUAN: u64 = 100_000;

/// A rate given in hundredths of a percent: `percent_hundredths(250)` is 2.50%.
fn percent_hundredths(hundredths: u64) -> Rate {
    Rate(hundredths * 1_000_000)
}

/// A rate rounded half up to hundredths of a percent, as published tables show it.
fn to_percent_hundredths(rate: Rate) -> u64 {
    (rate.0 + 500_000) / 1_000_000
}

fn principals(quote: &Quote) -> Vec<u64> {
    quote
        .periods
        .iter()
        .map(|period| period.principal)
        .collect()
}

fn fees(quote: &Quote) -> Vec<u64> {
    quote.periods.iter().map(|period| period.fee).collect()
}

/// `count − 1` copies of `base`, then `last`.
fn parts(base: u64, count: usize, last: u64) -> Vec<u64> {
    let mut parts = vec![base; count - 1];
    parts.push(last);
    parts
}

// ---------------------------------------------------------------------------------------------
// Rates and rounding.

// Goal: each rounding mode treats below-half, exact-half and above-half fractions as documented.
// Method: amounts chosen so that amount × 2.5% lands on .5 with an even and an odd floor, on .25
// and on .75 (hand arithmetic: 100 × 0.025 = 2.5, 300 × 0.025 = 7.5, 10 × 0.025 = 0.25,
// 30 × 0.025 = 0.75).
#[test]
fn apply_rate_rounds_by_mode() {
    let rate = percent_hundredths(250);
    #[track_caller]
    fn check(amount: u64, rate: Rate, half_up: u64, half_even: u64, down: u64) {
        assert_eq!(
            apply_rate(amount, rate, HALF_UP),
            half_up,
            "half up {amount}"
        );
        assert_eq!(
            apply_rate(amount, rate, HALF_EVEN),
            half_even,
            "half even {amount}"
        );
        assert_eq!(apply_rate(amount, rate, DOWN), down, "down {amount}");
    }
    check(100, rate, 3, 2, 2);
    check(300, rate, 8, 8, 7);
    check(10, rate, 0, 0, 0);
    check(30, rate, 1, 1, 0);
    check(THOUSAND_YUAN, rate, 2_500, 2_500, 2_500);
    check(0, rate, 0, 0, 0);
    check(12_345, Rate::ZERO, 0, 0, 0);
    // 100%: the identity, even at the top of the range.
    check(u64::MAX, Rate(RATE_SCALE), u64::MAX, u64::MAX, u64::MAX);
}

// Goal: the overflow policy: `apply_rate` saturates, `apply_rate_checked` reports None, and
// results that fit are exact even when the product needs all of u128.
// Method: u64::MAX × 200% overflows; u64::MAX × 50% = 2⁶³ − 0.5 (half up → 2⁶³, half even → 2⁶³
// since 2⁶³ − 1 is odd, down → 2⁶³ − 1).
#[test]
fn apply_rate_overflow_saturates_or_is_none() {
    let double = Rate(2 * RATE_SCALE);
    assert_eq!(apply_rate(u64::MAX, double, HALF_UP), u64::MAX);
    assert_eq!(apply_rate_checked(u64::MAX, double, HALF_UP), None);
    assert_eq!(apply_rate_checked(u64::MAX, Rate(u64::MAX), DOWN), None);
    let half = Rate(RATE_SCALE / 2);
    assert_eq!(apply_rate_checked(u64::MAX, half, HALF_UP), Some(1 << 63));
    assert_eq!(apply_rate_checked(u64::MAX, half, HALF_EVEN), Some(1 << 63));
    assert_eq!(
        apply_rate_checked(u64::MAX, half, DOWN),
        Some((1 << 63) - 1)
    );
}

// Goal: `Rate::from_bps` matches the documented scale (10% = 1,000 bps = 10⁹ units).
#[test]
fn rate_from_bps() {
    assert_eq!(Rate::from_bps(1_000), Rate(1_000_000_000));
    assert_eq!(Rate::from_bps(10_000), Rate(RATE_SCALE));
    assert_eq!(Rate::from_bps(u32::MAX), Rate(4_294_967_295_000_000));
}

// ---------------------------------------------------------------------------------------------
// Splits.

// Goal: the domain spec's §6.2 split examples, remainder on the last part.
// Method: hand division: 100000/3 = 33333 r 1; 2500/3 = 833 r 1; 100000/12 = 8333 r 4;
// 8800/12 = 733 r 4.
#[test]
fn split_last_examples() {
    assert_eq!(split_last(100_000, 3), Ok(vec![33_333, 33_333, 33_334]));
    assert_eq!(split_last(2_500, 3), Ok(vec![833, 833, 834]));
    assert_eq!(split_last(100_000, 12), Ok(parts(8_333, 12, 8_337)));
    assert_eq!(split_last(8_800, 12), Ok(parts(733, 12, 737)));
    assert_eq!(split_last(2, 3), Ok(vec![0, 0, 2]));
    assert_eq!(split_last(0, 2), Ok(vec![0, 0]));
    assert_eq!(split_last(u64::MAX, 1), Ok(vec![u64::MAX]));
    // u64::MAX = 2 × 9223372036854775807 + 1.
    assert_eq!(
        split_last(u64::MAX, 2),
        Ok(vec![9_223_372_036_854_775_807, 9_223_372_036_854_775_808])
    );
}

// Goal: the part count is validated, not trusted (no panic, no huge allocation).
#[test]
fn split_last_rejects_bad_counts() {
    assert_eq!(split_last(100, 0), Err(SplitError::PartsCountMustNotBeZero));
    assert_eq!(
        split_last(100, PARTS_COUNT_MAX + 1),
        Err(SplitError::PartsCountExceedsMax)
    );
    assert_eq!(
        split_last(100, u32::MAX),
        Err(SplitError::PartsCountExceedsMax)
    );
    assert_eq!(
        split_last(100, PARTS_COUNT_MAX).map(|parts| parts.len()),
        Ok(10_000)
    );
}

// Goal: largest-remainder co-funding splits, with the platform's part rounded up.
// Method: exact shares worked by hand, in fen.
#[test]
fn split_shares_examples() {
    #[track_caller]
    fn check(amount: u64, shares: &[u32], platform: usize, expected: &[u64]) {
        assert_eq!(
            split_shares(amount, shares, platform, 3_000),
            Ok(expected.to_vec())
        );
    }
    // Domain spec §6.2: 333.33 at 30/50/20. Exact 9999.9 / 16666.5 / 6666.6. Platform ceil →
    // 10000; floors 16666 and 6666 leave 33333 − 32666... = 1 fen, to the larger fraction (.6).
    check(33_333, &[3_000, 5_000, 2_000], 0, &[10_000, 16_666, 6_667]);
    // Same funders with the platform last: exact 16666.5 / 6666.6 / 9999.9 → the fen goes to .6.
    check(33_333, &[5_000, 2_000, 3_000], 2, &[16_666, 6_667, 10_000]);
    // Tie: 3 fen at 34/33/33: exact 1.02 / 0.99 / 0.99. Platform ceil 2; floors 0, 0; 1 fen left
    // for two equal fractions → the lower index.
    check(3, &[3_400, 3_300, 3_300], 0, &[2, 1, 0]);
    // Tie with the platform in the middle: 10 at 35/30/35 → 3.5 / 3 / 3.5; platform exact 3;
    // floors 3, 3; 1 fen left → index 0.
    check(10, &[3_500, 3_000, 3_500], 1, &[4, 3, 3]);
    // Platform's ceil takes the only fen: 1 fen at 30/70 → exact 0.3 / 0.7 → 1 / 0.
    check(1, &[3_000, 7_000], 0, &[1, 0]);
    // Exact shares stay exact; a zero share gets nothing.
    check(100_000, &[3_000, 7_000, 0], 0, &[30_000, 70_000, 0]);
    // The platform alone.
    check(u64::MAX, &[10_000], 0, &[u64::MAX]);
    check(0, &[3_000, 5_000, 2_000], 0, &[0, 0, 0]);
}

// Goal: each rejection, and their precedence.
#[test]
fn split_shares_rejections() {
    let shares = [3_000, 5_000, 2_000];
    assert_eq!(
        split_shares(100, &[3_000, 5_000, 1_999], 0, 3_000),
        Err(SplitError::SharesMustSumToWhole)
    );
    assert_eq!(
        split_shares(100, &[], 0, 0),
        Err(SplitError::SharesMustSumToWhole)
    );
    assert_eq!(
        split_shares(100, &[u32::MAX, 10_001], 0, 0),
        Err(SplitError::SharesMustSumToWhole)
    );
    assert_eq!(
        split_shares(100, &shares, 3, 3_000),
        Err(SplitError::PlatformMustBeAFunder)
    );
    assert_eq!(
        split_shares(100, &shares, 2, 3_000),
        Err(SplitError::PlatformShareBelowMin)
    );
    assert_eq!(
        split_shares(100, &[2_999, 7_001], 0, 3_000),
        Err(SplitError::PlatformShareBelowMin)
    );
    assert_eq!(split_shares(100, &shares, 0, 3_000), Ok(vec![30, 50, 20]));
    // Precedence: a bad sum is reported before a bad index.
    assert_eq!(
        split_shares(100, &[1], 5, 3_000),
        Err(SplitError::SharesMustSumToWhole)
    );
}

// ---------------------------------------------------------------------------------------------
// Installment quotes.

// Goal: the schedule of the domain spec's §6.2 rounding examples.
// Method: 1,000.00 over 3 at 2.5% → fee 25.00 → 8.33, 8.33, 8.34; over 12 at 8.8% → principal
// 83.33 × 11 + 83.37, fee 88.00 → 7.33 × 11 + 7.37.
#[test]
fn quote_schedule_examples() {
    let quote3 = quote(
        THOUSAND_YUAN,
        3,
        Pricing::TotalRate(percent_hundredths(250)),
        HALF_UP,
    )
    .expect("3 periods is offered");
    assert_eq!(quote3.total_fee, 2_500);
    assert_eq!(quote3.principal, THOUSAND_YUAN);
    assert_eq!(principals(&quote3), [33_333, 33_333, 33_334]);
    assert_eq!(fees(&quote3), [833, 833, 834]);

    let quote12 = quote(
        THOUSAND_YUAN,
        12,
        Pricing::TotalRate(percent_hundredths(880)),
        HALF_UP,
    )
    .expect("12 periods is offered");
    assert_eq!(quote12.total_fee, 8_800);
    assert_eq!(principals(&quote12), parts(8_333, 12, 8_337));
    assert_eq!(fees(&quote12), parts(733, 12, 737));
}

// Goal: Huabei's published APRs for its list prices (domain spec §6.3 table), nominal and
// effective, to two decimals of a percent.
#[test]
fn quote_apr_huabei_list_prices() {
    // (periods, total fee in hundredths of a percent, nominal, effective).
    let table = [
        (3, 250, 1_494, 1_600),
        (6, 450, 1_527, 1_638),
        (9, 650, 1_534, 1_647),
        (12, 880, 1_586, 1_707),
    ];
    for (periods, fee, nominal, effective) in table {
        let quote = quote(
            THOUSAND_YUAN,
            periods,
            Pricing::TotalRate(percent_hundredths(fee)),
            HALF_UP,
        )
        .expect("offered");
        assert_eq!(
            to_percent_hundredths(quote.apr.nominal),
            nominal,
            "{periods}p nominal"
        );
        assert_eq!(
            to_percent_hundredths(quote.apr.effective),
            effective,
            "{periods}p effective"
        );
    }
}

// Goal: Baitiao's 0.5%/month plans (domain spec §6.3 table): fee = 0.5% × N of the principal,
// and the published APRs.
#[test]
fn quote_apr_baitiao_monthly_rate() {
    // (periods, total fee in fen by hand: 100000 × 0.005 × N, nominal, effective).
    let table = [
        (3, 1_500, 898, 936),
        (12, 6_000, 1_090, 1_146),
        (24, 12_000, 1_113, 1_171),
    ];
    for (periods, total_fee, nominal, effective) in table {
        let quote = quote(
            THOUSAND_YUAN,
            periods,
            Pricing::MonthlyRate(percent_hundredths(50)),
            HALF_EVEN,
        )
        .expect("offered");
        assert_eq!(quote.total_fee, total_fee, "{periods}p fee");
        assert_eq!(
            to_percent_hundredths(quote.apr.nominal),
            nominal,
            "{periods}p nominal"
        );
        assert_eq!(
            to_percent_hundredths(quote.apr.effective),
            effective,
            "{periods}p effective"
        );
    }
}

// Goal: the APR is accurate far beyond two decimals, including extreme plans.
// Method: an independent oracle: the same fen-rounded flows solved by bisection in 60-digit
// decimal arithmetic (Python `decimal`, 400 halvings), rounded to the Rate unit (10⁻¹⁰). We allow
// 1 unit (10⁻⁸ percentage points) for the last-digit rounding of either side.
#[test]
fn quote_apr_matches_high_precision_oracle() {
    // (principal, periods, total fee, nominal, effective) in Rate units.
    let table: [(u64, u32, u64, u64, u64); 14] = [
        (100_000, 3, 2_500, 1_493_824_960, 1_600_467_940),
        (100_000, 6, 4_500, 1_526_730_998, 1_638_227_350),
        (100_000, 9, 6_500, 1_533_989_572, 1_646_571_656),
        (100_000, 12, 8_800, 1_586_333_061, 1_706_907_207),
        (100_000, 3, 1_500, 897_765_048, 935_642_816),
        (100_000, 12, 6_000, 1_089_603_252, 1_145_699_307),
        (100_000, 24, 12_000, 1_112_519_263, 1_171_037_335),
        // The fee equals the principal: 535.57% nominal.
        (100_000, 3, 100_000, 53_557_047_357, 827_784_043_177),
        // One fen of fee, on the last of 24 periods.
        (100_000, 24, 1, 95_985, 95_985),
        // 10¹³ yuan: large, but the total paid is still below 2⁶² fen, so the flows are exact.
        (
            1_000_000_000_000_000,
            12,
            88_000_000_000_000,
            1_586_432_615,
            1_707_022_233,
        ),
        // 1 fen lent, 2 fen paid after 3 months: (1 + i)³ = 2, so effective = 2⁴ − 1 = 1500%.
        (1, 3, 1, 31_190_525_987, 150_000_000_000),
        // Above 2⁶² fen in total: flows are truncated to their top 62 bits.
        (
            9_223_372_036_854_775_807,
            12,
            100_000_000_000_000_000,
            199_552_531,
            201_387_825,
        ),
        // Pathological plans where the Newton steps run out and bisection has to finish: 0.12
        // lent against 22 fen a month for 24 months (i = 22/12 − ε: 2200% nominal), and 10.00
        // lent against 10,000.00 of fee (effective rate saturates).
        (12, 24, 528, 220_000_000_000, 2_676_519_607_918_322),
        (1_000, 24, 1_000_000, 5_004_840_000_000, u64::MAX),
    ];
    for (principal, periods, total_fee, nominal, effective) in table {
        let apr = quote_with_fee(principal, periods, total_fee)
            .expect("offered")
            .apr;
        let case = format!("{principal} {periods} {total_fee}: {apr:?}");
        assert!(apr.nominal.0.abs_diff(nominal) <= 1, "nominal {case}");
        assert!(apr.effective.0.abs_diff(effective) <= 1, "effective {case}");
    }
}

// Goal: an interest-free plan shows the customer APR 0 while the sponsor's fee is still priced.
#[test]
fn quote_sponsored_plan() {
    let sponsor_fee = installment_fee(
        THOUSAND_YUAN,
        12,
        Pricing::TotalRate(percent_hundredths(880)),
        HALF_UP,
    );
    assert_eq!(sponsor_fee, Ok(8_800));
    let customer = quote_with_fee(THOUSAND_YUAN, 12, 0).expect("offered");
    assert_eq!(customer.apr, Apr::ZERO);
    assert_eq!(customer.total_fee, 0);
    assert_eq!(fees(&customer), [0; 12]);
    assert_eq!(principals(&customer), parts(8_333, 12, 8_337));
}

// Goal: every rejection of a quote, and the fee's rounding modes.
// Method: 33,333 fen at 2.5% = 833.325 → 833 under every mode; 100 fen at 2.5% = 2.5.
#[test]
fn quote_rejections_and_fee_rounding() {
    let rate = Pricing::TotalRate(percent_hundredths(250));
    for periods in [0, 1, 2, 4, 5, 10, 18, 36, 60, u32::MAX] {
        assert_eq!(
            quote(100, periods, rate, HALF_UP),
            Err(QuoteError::PeriodsNotOffered)
        );
        assert_eq!(
            quote_with_fee(100, periods, 0),
            Err(QuoteError::PeriodsNotOffered)
        );
    }
    assert_eq!(
        quote(0, 3, rate, HALF_UP),
        Err(QuoteError::PrincipalMustNotBeZero)
    );
    assert_eq!(
        quote(0, 4, rate, HALF_UP),
        Err(QuoteError::PrincipalMustNotBeZero)
    );
    assert_eq!(
        quote(
            u64::MAX,
            3,
            Pricing::TotalRate(Rate(2 * RATE_SCALE)),
            HALF_UP
        ),
        Err(QuoteError::FeeOverflows)
    );
    // u64::MAX × 3 months × 100% overflows; × 1 month would not.
    assert_eq!(
        quote(u64::MAX, 3, Pricing::MonthlyRate(Rate(RATE_SCALE)), HALF_UP),
        Err(QuoteError::FeeOverflows)
    );
    assert_eq!(
        quote(u64::MAX, 3, Pricing::MonthlyRate(Rate(u64::MAX)), HALF_UP),
        Err(QuoteError::FeeOverflows)
    );
    assert_eq!(installment_fee(33_333, 3, rate, HALF_UP), Ok(833));
    assert_eq!(installment_fee(100, 3, rate, HALF_UP), Ok(3));
    assert_eq!(installment_fee(100, 3, rate, HALF_EVEN), Ok(2));
    assert_eq!(installment_fee(100, 3, rate, DOWN), Ok(2));
    // Monthly pricing rounds the whole plan once: 100 × 0.35% × 3 = 1.05 → 1 (not 3 × round(0.35)).
    let monthly = Pricing::MonthlyRate(Rate(35_000_000));
    assert_eq!(installment_fee(100, 3, monthly, HALF_UP), Ok(1));
}

// ---------------------------------------------------------------------------------------------
// Interest, penalties, minimum payment.

// Goal: the domain spec's §6.4 example and rounding of a fractional total.
// Method: 90000 × 0.0005 × 30 = 1350 (13.50 yuan); 1001 × 0.0005 × 1 = 0.5005 → 1 / 1 / 0;
// 1000 × 0.0005 = 0.5 → 1 / 0 / 0.
#[test]
fn simple_interest_examples() {
    let daily = Rate(5_000_000);
    assert_eq!(simple_interest(90_000, daily, 30, HALF_UP), 1_350);
    assert_eq!(simple_interest(1_001, daily, 1, HALF_UP), 1);
    assert_eq!(simple_interest(1_001, daily, 1, HALF_EVEN), 1);
    assert_eq!(simple_interest(1_001, daily, 1, DOWN), 0);
    assert_eq!(simple_interest(1_000, daily, 1, HALF_UP), 1);
    assert_eq!(simple_interest(1_000, daily, 1, HALF_EVEN), 0);
    // Rounded once over the span: 1000 × 0.0005 × 3 = 1.5 → 2, not 3 × round(0.5) = 3.
    assert_eq!(simple_interest(1_000, daily, 3, HALF_UP), 2);
    assert_eq!(simple_interest(90_000, daily, 0, HALF_UP), 0);
    assert_eq!(
        simple_interest(u64::MAX, Rate(u64::MAX), u32::MAX, HALF_UP),
        u64::MAX
    );
}

// Goal: the daily penalty: rate, minimum, nothing on a zero overdue amount.
// Method: 90000 × 0.0005 = 45; 10 × 0.0005 = 0.005 → 0 → minimum 1; 1000 × 0.0005 = 0.5.
#[test]
fn daily_penalty_examples() {
    let daily = Rate(5_000_000);
    assert_eq!(daily_penalty(90_000, daily, 1, HALF_UP), 45);
    assert_eq!(daily_penalty(10, daily, 1, HALF_UP), 1);
    assert_eq!(daily_penalty(0, daily, 1, HALF_UP), 0);
    assert_eq!(daily_penalty(1_000, daily, 0, HALF_UP), 1);
    assert_eq!(daily_penalty(1_000, daily, 0, HALF_EVEN), 0);
    assert_eq!(daily_penalty(1_000, daily, 0, DOWN), 0);
    assert_eq!(
        daily_penalty(u64::MAX, Rate(u64::MAX), 0, HALF_UP),
        u64::MAX
    );
}

// Goal: the minimum-payment formula, its floor and its cap.
// Method: by hand, with a 10% rate:
//   1000.00 with 20.00 of charges: 10% × 980.00 = 98.00 + 20.00 = 118.00;
//   plus 50.00 past due: 10% × 980.00 + 20.00 + 50.00 = 168.00;
//   30.00 with 5.00 of charges, floor 50.00: max(50.00, 2.50) + 5.00 = 55.00 → capped at 30.00;
//   200.00, no charges, floor 50.00: max(50.00, 20.00) = 50.00.
#[test]
fn minimum_payment_examples() {
    let rate = Rate::from_bps(1_000);
    assert_eq!(
        minimum_payment(100_000, rate, 1_000, 2_000, 0, HALF_UP),
        11_800
    );
    assert_eq!(
        minimum_payment(100_000, rate, 1_000, 2_000, 5_000, HALF_UP),
        16_800
    );
    assert_eq!(minimum_payment(3_000, rate, 5_000, 500, 0, HALF_UP), 3_000);
    assert_eq!(minimum_payment(20_000, rate, 5_000, 0, 0, HALF_UP), 5_000);
    assert_eq!(minimum_payment(0, rate, 5_000, 0, 0, HALF_UP), 0);
    // Rounding of the rate part: 10% × 1005 = 100.5 → 101 / 100 / 100.
    assert_eq!(minimum_payment(1_005, rate, 0, 0, 0, HALF_UP), 101);
    assert_eq!(minimum_payment(1_005, rate, 0, 0, 0, HALF_EVEN), 100);
    assert_eq!(minimum_payment(1_005, rate, 0, 0, 0, DOWN), 100);
    // Charges above the balance (inconsistent input): the base floors at 0, the cap holds.
    assert_eq!(minimum_payment(100, rate, 0, 500, 0, HALF_UP), 100);
    assert_eq!(
        minimum_payment(
            u64::MAX,
            Rate(u64::MAX),
            u64::MAX,
            u64::MAX,
            u64::MAX,
            HALF_UP
        ),
        u64::MAX
    );
}

// ---------------------------------------------------------------------------------------------
// Early settlement.

// Goal: each early-settlement rule on the 12-period 8.8% plan (principal 8333 × 11 + 8337, fee
// 733 × 11 + 737), by hand.
#[test]
fn early_settlement_examples() {
    let quote = quote(
        THOUSAND_YUAN,
        12,
        Pricing::TotalRate(percent_hundredths(880)),
        HALF_UP,
    )
    .expect("offered");
    #[track_caller]
    fn check(
        quote: &Quote,
        paid: u32,
        days: (u32, u32),
        rule: EarlySettlement,
        mode: RoundingMode,
        expected: (u64, u64),
    ) {
        let settlement = early_settlement(quote, paid, days.0, days.1, rule, mode);
        let expected = Settlement {
            principal_remaining: expected.0,
            fee_due: expected.1,
        };
        assert_eq!(settlement, Ok(expected));
    }
    // After 4 paid: principal 100000 − 4 × 8333 = 66668; fees 8800 − 4 × 733 = 5868.
    let all = EarlySettlement::ChargeAllRemaining;
    let waive = EarlySettlement::WaiveRemaining;
    let pro_rata = EarlySettlement::ProRata;
    check(&quote, 4, (15, 30), all, HALF_UP, (66_668, 5_868));
    check(&quote, 4, (15, 30), waive, HALF_UP, (66_668, 733));
    // 733 × 15 / 30 = 366.5.
    check(&quote, 4, (15, 30), pro_rata, HALF_UP, (66_668, 367));
    check(&quote, 4, (15, 30), pro_rata, HALF_EVEN, (66_668, 366));
    check(&quote, 4, (15, 30), pro_rata, DOWN, (66_668, 366));
    check(&quote, 4, (0, 30), pro_rata, HALF_UP, (66_668, 0));
    check(&quote, 4, (30, 30), pro_rata, HALF_UP, (66_668, 733));
    // Nothing paid yet: everything is owed.
    check(&quote, 0, (10, 31), all, HALF_UP, (THOUSAND_YUAN, 8_800));
    // Only the last period left: its principal 8337 and fee 737.
    check(&quote, 11, (1, 28), all, HALF_UP, (8_337, 737));
    check(&quote, 11, (1, 28), waive, HALF_UP, (8_337, 737));
    // 737 × 1 / 28 = 26.32 → 26.
    check(&quote, 11, (1, 28), pro_rata, HALF_UP, (8_337, 26));
}

// Goal: each rejection of an early settlement, and their precedence.
#[test]
fn early_settlement_rejections() {
    let quote = quote_with_fee(THOUSAND_YUAN, 3, 2_500).expect("offered");
    let rule = EarlySettlement::ProRata;
    let settle =
        |paid, elapsed, length| early_settlement(&quote, paid, elapsed, length, rule, DOWN);
    assert_eq!(
        settle(3, 1, 30),
        Err(SettlementError::PeriodsPaidMustBeLessThanPeriods)
    );
    assert_eq!(
        settle(u32::MAX, 0, 0),
        Err(SettlementError::PeriodsPaidMustBeLessThanPeriods)
    );
    assert_eq!(
        settle(0, 0, 0),
        Err(SettlementError::DaysInPeriodMustNotBeZero)
    );
    assert_eq!(
        settle(0, 31, 30),
        Err(SettlementError::DaysElapsedExceedsDaysInPeriod)
    );
    assert!(settle(2, 30, 30).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Properties.

/// Shares in basis points that sum to the whole: 1 to 6 funders, cut points in 0..=10_000.
fn shares_strategy() -> impl Strategy<Value = Vec<u32>> {
    prop::collection::vec(0..=SHARES_BPS_TOTAL, 0..6).prop_map(|mut cuts| {
        cuts.push(0);
        cuts.push(SHARES_BPS_TOTAL);
        cuts.sort_unstable();
        cuts.windows(2).map(|pair| pair[1] - pair[0]).collect()
    })
}

fn amount_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![0..1_000u64, 0..100_000_000u64, any::<u64>(), Just(u64::MAX)]
}

fn periods_strategy() -> impl Strategy<Value = u32> {
    prop::sample::select(PERIODS_OFFERED.to_vec())
}

fn mode_strategy() -> impl Strategy<Value = RoundingMode> {
    prop::sample::select(vec![HALF_UP, HALF_EVEN, DOWN])
}

proptest! {
    // Goal: split_last conserves the total; every part but the last is the exact share rounded
    // down (off by less than 1 fen); the last carries the remainder, off by less than
    // parts_count − 1 fen. Method: compare part × n against total, exactly, in u128.
    #[test]
    fn split_last_conserves_and_bounds(total in amount_strategy(), count in 1..=500u32) {
        let parts = split_last(total, count).expect("valid count");
        prop_assert_eq!(parts.len(), count as usize);
        let sum: u128 = parts.iter().map(|&part| u128::from(part)).sum();
        prop_assert_eq!(sum, u128::from(total));
        let n = u128::from(count);
        let total = u128::from(total);
        let (last, rest) = parts.split_last().expect("at least one part");
        for &part in rest {
            let scaled = u128::from(part) * n;
            prop_assert!(scaled <= total && total - scaled < n);
        }
        // n × last − total = (n − 1) × (total mod n): the last part is off by less than n − 1 fen.
        let scaled = u128::from(*last) * n;
        prop_assert!(scaled >= total);
        prop_assert_eq!(scaled - total, (n - 1) * (total % n));
    }

    // Goal: split_shares conserves the amount; the platform gets exactly the ceil of its share;
    // every other funder is off its exact share by less than 1 fen; the extra fen went to the
    // largest fractions (ties to the lower index); and the minimum share is enforced exactly.
    // Method: exact checks in u128 against amount × share / 10_000.
    #[test]
    fn split_shares_conserves_and_bounds(
        amount in amount_strategy(),
        shares in shares_strategy(),
        platform_seed in any::<usize>(),
        platform_min_bps in 0..=SHARES_BPS_TOTAL,
    ) {
        let platform = platform_seed % shares.len();
        let result = split_shares(amount, &shares, platform, platform_min_bps);
        if shares[platform] < platform_min_bps {
            prop_assert_eq!(result, Err(SplitError::PlatformShareBelowMin));
            return Ok(());
        }
        let parts = result.expect("valid shares");
        let sum: u128 = parts.iter().map(|&part| u128::from(part)).sum();
        prop_assert_eq!(sum, u128::from(amount));
        let whole = u128::from(SHARES_BPS_TOTAL);
        let mut rounded_up = Vec::new();
        let mut rounded_down = Vec::new();
        for (index, (&part, &share)) in parts.iter().zip(&shares).enumerate() {
            let exact = u128::from(amount) * u128::from(share);
            let scaled = u128::from(part) * whole;
            let fraction = exact % whole;
            if index == platform {
                prop_assert!(scaled >= exact && scaled - exact < whole, "platform ceil");
            } else if scaled > exact {
                prop_assert!(scaled - exact < whole);
                rounded_up.push((fraction, index));
            } else {
                prop_assert!(exact - scaled < whole);
                if fraction > 0 {
                    rounded_down.push((fraction, index));
                }
            }
        }
        // Largest remainder: everyone rounded up beats everyone rounded down on (fraction desc,
        // index asc).
        for &(up_fraction, up_index) in &rounded_up {
            for &(down_fraction, down_index) in &rounded_down {
                prop_assert!(
                    up_fraction > down_fraction
                        || (up_fraction == down_fraction && up_index < down_index)
                );
            }
        }
    }

    // Goal: a quote conserves principal and fee, splits both with split_last, and its total fee is
    // the pricing's; no input panics. Method: any principal, rate and rounding mode.
    #[test]
    fn quote_conserves(
        principal in amount_strategy(),
        periods in periods_strategy(),
        rate in prop_oneof![0..2 * RATE_SCALE, any::<u64>()],
        monthly in any::<bool>(),
        mode in mode_strategy(),
    ) {
        let pricing = if monthly {
            Pricing::MonthlyRate(Rate(rate))
        } else {
            Pricing::TotalRate(Rate(rate))
        };
        let Ok(quote) = quote(principal, periods, pricing, mode) else {
            return Ok(());
        };
        prop_assert_eq!(Ok(quote.total_fee), installment_fee(principal, periods, pricing, mode));
        prop_assert_eq!(quote.principal, principal);
        prop_assert_eq!(quote.periods.len(), periods as usize);
        let principal_sum: u128 = quote.periods.iter().map(|p| u128::from(p.principal)).sum();
        let fee_sum: u128 = quote.periods.iter().map(|p| u128::from(p.fee)).sum();
        prop_assert_eq!(principal_sum, u128::from(principal));
        prop_assert_eq!(fee_sum, u128::from(quote.total_fee));
        prop_assert_eq!(principals(&quote), split_last(principal, periods).expect("offered"));
        prop_assert_eq!(fees(&quote), split_last(quote.total_fee, periods).expect("offered"));
        prop_assert!(quote.apr.effective >= quote.apr.nominal);
    }

    // Goal: a plan without a fee has APR exactly 0, for any principal.
    #[test]
    fn quote_without_fee_has_zero_apr(principal in 1..=u64::MAX, periods in periods_strategy()) {
        let quote = quote_with_fee(principal, periods, 0).expect("offered");
        prop_assert_eq!(quote.apr, Apr::ZERO);
    }

    // Goal: more fee never means a lower APR, and any fee means a positive one. Method: two fees
    // on one principal, up to 10¹⁰ yuan (where one fen of fee moves the IRR far more than the
    // solver's error); fees from 1 fen to twice the principal.
    #[test]
    fn quote_apr_is_monotone_in_fee(
        principal in 1..=1_000_000_000_000u64,
        periods in periods_strategy(),
        fee_a in 0..=2_000_000_000_000u64,
        fee_b in 0..=2_000_000_000_000u64,
    ) {
        let (low, high) = (fee_a.min(fee_b), fee_a.max(fee_b));
        let apr_low = quote_with_fee(principal, periods, low).expect("offered").apr;
        let apr_high = quote_with_fee(principal, periods, high).expect("offered").apr;
        prop_assert!(apr_low.nominal <= apr_high.nominal, "{:?} {:?}", apr_low, apr_high);
        prop_assert!(apr_low.effective <= apr_high.effective, "{:?} {:?}", apr_low, apr_high);
        if low > 0 {
            prop_assert!(apr_low.nominal > Rate::ZERO);
        }
    }

    // Goal: one fen more fee raises the APR strictly: the solver resolves a single fen. Method:
    // principals from 1.00 to 100,000.00 yuan, fees up to a quarter of the principal. (With
    // absurd fees, say 2,200 yuan on 1 yuan, the IRR is ~36,700% a month and one more fen on the
    // last payment, discounted by (1 + i)⁻⁶ ≈ 10⁻¹⁶, moves the APR by less than one Rate unit.)
    #[test]
    fn quote_apr_sees_one_fen(
        principal in 100..=10_000_000u64,
        periods in periods_strategy(),
        fee_seed in any::<u64>(),
    ) {
        let fee = fee_seed % (principal / 4 + 1);
        let apr = quote_with_fee(principal, periods, fee).expect("offered").apr;
        let apr_more = quote_with_fee(principal, periods, fee + 1).expect("offered").apr;
        prop_assert!(apr.nominal < apr_more.nominal, "{:?} {:?}", apr, apr_more);
    }

    // Goal: early settlement collects all remaining principal, and its rules are ordered
    // ProRata ≤ WaiveRemaining ≤ ChargeAllRemaining. Method: real quotes, any valid progress.
    #[test]
    fn early_settlement_rules_are_ordered(
        principal in 1..=100_000_000u64,
        periods in periods_strategy(),
        fee in 0..=10_000_000u64,
        paid_seed in any::<u32>(),
        days_in_period in 1..=31u32,
        elapsed_seed in any::<u32>(),
        mode in mode_strategy(),
    ) {
        let quote = quote_with_fee(principal, periods, fee).expect("offered");
        let paid = paid_seed % periods;
        let elapsed = elapsed_seed % (days_in_period + 1);
        let settle = |rule| {
            early_settlement(&quote, paid, elapsed, days_in_period, rule, mode).expect("valid")
        };
        let all = settle(EarlySettlement::ChargeAllRemaining);
        let waive = settle(EarlySettlement::WaiveRemaining);
        let pro_rata = settle(EarlySettlement::ProRata);
        let paid_principal: u64 = quote.periods[..paid as usize].iter().map(|p| p.principal).sum();
        let paid_fee: u64 = quote.periods[..paid as usize].iter().map(|p| p.fee).sum();
        prop_assert_eq!(all.principal_remaining, principal - paid_principal);
        prop_assert_eq!(all.fee_due, fee - paid_fee);
        prop_assert_eq!(waive.principal_remaining, all.principal_remaining);
        prop_assert_eq!(pro_rata.principal_remaining, all.principal_remaining);
        prop_assert!(pro_rata.fee_due <= waive.fee_due && waive.fee_due <= all.fee_due);
    }

    // Goal: daily simple interest over d days is never less than one day's interest rounded
    // down, d times (or it saturated); the minimum payment never exceeds the balance and never
    // falls below min(balance, floor).
    #[test]
    fn interest_and_minimum_bounds(
        balance in amount_strategy(),
        rate in 0..RATE_SCALE,
        days in 0..=366u32,
        floor in amount_strategy(),
        charges in amount_strategy(),
        past_due in amount_strategy(),
        mode in mode_strategy(),
    ) {
        let total = simple_interest(balance, Rate(rate), days, mode);
        let daily_down = apply_rate(balance, Rate(rate), DOWN);
        let lower = (u128::from(daily_down) * u128::from(days)).min(u128::from(u64::MAX));
        prop_assert!(u128::from(total) >= lower);
        let minimum = minimum_payment(balance, Rate(rate), floor, charges, past_due, mode);
        prop_assert!(minimum <= balance);
        prop_assert!(minimum >= balance.min(floor));
    }

    // Goal: nothing panics, whatever the input. Method: every public function on arbitrary
    // values, including hand-built quotes with arbitrary periods.
    #[test]
    fn nothing_panics(
        amount in any::<u64>(),
        other in any::<u64>(),
        rate in any::<u64>(),
        count in any::<u32>(),
        days in any::<u32>(),
        shares in prop::collection::vec(any::<u32>(), 0..5),
        platform in any::<usize>(),
        platform_min_bps in any::<u32>(),
        periods in prop::collection::vec((any::<u64>(), any::<u64>()), 0..30),
        mode in mode_strategy(),
    ) {
        let rate = Rate(rate);
        let _ = apply_rate(amount, rate, mode);
        let _ = apply_rate_checked(amount, rate, mode);
        let _ = split_last(amount, count % (PARTS_COUNT_MAX + 2));
        let _ = split_shares(amount, &shares, platform, platform_min_bps);
        let _ = quote(amount, count, Pricing::TotalRate(rate), mode);
        let _ = quote(amount, count % 25, Pricing::MonthlyRate(rate), mode);
        let _ = quote_with_fee(amount, count % 25, other);
        let _ = simple_interest(amount, rate, days, mode);
        let _ = daily_penalty(amount, rate, other, mode);
        let _ = minimum_payment(amount, rate, other, other / 3, amount / 7, mode);
        let quote = Quote {
            periods: periods.iter().map(|&(principal, fee)| Period { principal, fee }).collect(),
            principal: amount,
            total_fee: other,
            apr: Apr::ZERO,
        };
        for rule in [
            EarlySettlement::ChargeAllRemaining,
            EarlySettlement::WaiveRemaining,
            EarlySettlement::ProRata,
        ] {
            let _ = early_settlement(&quote, count % 32, days % 40, days % 33, rule, mode);
        }
    }
}

// Goal: quotes at the edges of the range do not panic and stay consistent: the largest
// principal, the largest fee, the smallest principal with the largest fee (APR saturates).
#[test]
fn quote_extremes() {
    for periods in PERIODS_OFFERED {
        for (principal, fee) in [(u64::MAX, 0), (u64::MAX, u64::MAX), (1, u64::MAX), (1, 1)] {
            let quote = quote_with_fee(principal, periods, fee).expect("offered");
            let fee_sum: u128 = quote.periods.iter().map(|p| u128::from(p.fee)).sum();
            assert_eq!(fee_sum, u128::from(fee));
            assert_eq!(quote.apr == Apr::ZERO, fee == 0);
        }
    }
    // 1 fen lent for u64::MAX fen of fee: an unbounded cost saturates.
    let apr = quote_with_fee(1, 3, u64::MAX).expect("offered").apr;
    assert_eq!(apr.effective, Rate(u64::MAX));
}
