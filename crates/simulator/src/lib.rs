//! The deterministic simulator: the real node core, its storage and its recovery code, driven
//! from one seed over a simulated disk (`storage::MemVfs`) and a simulated clock, with faults,
//! an independent auditor and checkers. `docs/simulator.md` says how to run it and which faults
//! it claims the node survives.
//!
//! A seed determines everything: the options ([`Options::from_seed`]), the workload, the faults
//! and their timing, and the node's hash keys. Nothing here reads the wall clock, spawns a
//! thread or iterates a hash map, and the node core runs its archiver and snapshot writes
//! inline, so `--seed S` replays a failure exactly.
//!
//! Layout: `stdx::Prng` (the one source of randomness), `options` (swarm options per seed),
//! `workload` (requests), `auditor` (the independent model), `checkers` (what must hold),
//! `simulation` (the driver). This crate is an I/O shell (L3): it uses `node`, `engine`,
//! `promotions`, `credit`, `ledger` and `storage`, and nothing depends on it.

pub mod auditor;
pub mod checkers;
pub mod options;
pub mod simulation;
pub mod workload;

#[cfg(test)]
mod tests;

pub use options::Options;
pub use simulation::Report;

/// Runs seed `seed`: `Ok` with what it did, or `Err` with why it failed (a checker, a fault the
/// node did not survive, or a panic anywhere, caught here so other seeds still run).
pub fn run_seed(seed: u64) -> Result<Report, String> {
    run_options(&Options::from_seed(seed), false)
}

/// Runs the given options (a seed's, possibly adjusted by a test); with `trace`, prints every
/// step to stderr.
pub fn run_options(options: &Options, trace: bool) -> Result<Report, String> {
    let run = || simulation::run(options, trace);
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_else(|| "a panic without a message".to_string());
            Err(format!("panicked: {message}"))
        }
    }
}

/// One line for a seed's report.
#[must_use]
pub fn summary(report: &Report) -> String {
    format!(
        "batches={} events={} pulses={} idles={} crashes={} (torn {}, armed {}) \
         sync_failures_armed={} node_failures={} restarts={} recoveries={} \
         (from snapshot {}, tail cuts {}) refusals={} open_retries={} flips={} \
         in_doubt(found {} lost {}) checks={} transfers={} cold_floor_max={} \
         credit(days={} lines={} written_off={} generated={}) \
         promotions(campaigns={} coupons={} checkouts={} on_lines={} captured={} refunded={} grabs={} \
         (on lines {}) draws={} won={} earnings={} coins={} lots_taken={})",
        report.batches_acknowledged,
        report.events_acknowledged,
        report.pulses,
        report.idles,
        report.crashes + report.crashes_armed_fired,
        report.crashes_torn,
        report.crashes_armed_fired,
        report.sync_failures_armed,
        report.node_failures,
        report.restarts_clean,
        report.recoveries,
        report.recoveries_from_snapshot,
        report.tail_cuts,
        report.refusals,
        report.open_retries,
        report.flips_injected,
        report.in_doubt_found,
        report.in_doubt_lost,
        report.full_checks,
        report.transfers_final,
        report.cold_floor_max,
        report.credit_days,
        report.credit_lines,
        report.credit_written_off,
        report.credit_generated,
        report.promotions_campaigns,
        report.promotions_coupons,
        report.promotions_checkouts,
        report.promotions_on_lines,
        report.promotions_captured,
        report.promotions_refunded,
        report.promotions_grabs,
        report.promotions_grabs_on_lines,
        report.promotions_draws,
        report.promotions_draws_won,
        report.promotions_earnings,
        report.promotions_coins,
        report.promotions_lots_taken,
    )
}
