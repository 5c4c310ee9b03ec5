//! Benchmark: installment quotes (fee, both splits and the APR) over a mix of terms, pricings and
//! principals. Prints the median of 5 runs as nanoseconds per quote; the goal is ≤ 5 µs.
//!
//! Run with `cargo bench -p credit --bench quote`. This is the one file of the crate allowed to
//! read the clock: it is a harness-less bench binary, not part of the library.

use std::hint::black_box;
use std::time::Instant;

use credit::math::{PERIODS_OFFERED, Pricing, Rate, RoundingMode, quote};

const QUOTES_PER_RUN: u64 = 200_000;
const RUNS: usize = 5;

/// Huabei list prices for 3/6/9/12 periods, and 12% for 24 (2.5%, 4.5%, 6.5%, 8.8%, 12%).
const TOTAL_RATES: [u64; 5] = [
    250_000_000,
    450_000_000,
    650_000_000,
    880_000_000,
    1_200_000_000,
];

fn run() -> (u64, u64) {
    let mut checksum: u64 = 0;
    let start = Instant::now();
    for index in 0..QUOTES_PER_RUN {
        // Deterministic mix: every term, both pricings, principals from 1.00 to ~50,000.00 yuan.
        let term_index = (index % 5) as usize;
        let periods = PERIODS_OFFERED[term_index];
        let principal = 100 + index.wrapping_mul(7_919) % 5_000_000;
        let pricing = if index % 2 == 0 {
            Pricing::TotalRate(Rate(TOTAL_RATES[term_index]))
        } else {
            Pricing::MonthlyRate(Rate(50_000_000))
        };
        let result = quote(
            black_box(principal),
            black_box(periods),
            black_box(pricing),
            RoundingMode::HalfEven,
        );
        if let Ok(quote) = black_box(result) {
            checksum = checksum.wrapping_add(quote.apr.nominal.0);
        }
    }
    let elapsed_ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    (elapsed_ns / QUOTES_PER_RUN, checksum)
}

fn main() {
    let mut per_quote_ns = Vec::with_capacity(RUNS);
    let mut checksum = 0;
    for _ in 0..RUNS {
        let (ns, sum) = run();
        per_quote_ns.push(ns);
        checksum = sum;
    }
    per_quote_ns.sort_unstable();
    let median = per_quote_ns[RUNS / 2];
    println!(
        "quote: {QUOTES_PER_RUN} quotes x {RUNS} runs, median {median} ns/quote \
         (runs {per_quote_ns:?}, checksum {checksum})"
    );
}
