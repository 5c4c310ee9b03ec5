//! Swarm options: everything a run may vary, chosen from its seed and printed before it starts.
//!
//! Swarm testing (as in TigerBeetle's VOPR and FoundationDB): rather than one fixed mix, each
//! seed picks its own workload shape and its own subset of faults, so some seeds hammer crashes
//! while others run long without faults and build deep state. Every share is a percentage of
//! events (or of requests), every fault probability is per mille per step. Credit and
//! promotions are each on in most seeds, with their own shares.

use std::fmt;

use stdx::Prng;

/// Engine bugs the simulator found that are not fixed yet (`docs/simulator.md`, "What it
/// found"). While one is listed, the workload does not send its trigger (unless the auditor
/// answers as the engine does), so the other checks keep running green, and a test checks that
/// it still reproduces; drop it from the list once the engine is fixed, and its trigger is sent
/// again and its test checks the documented behaviour.
pub const KNOWN_BUGS: &[KnownBug] = &[];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KnownBug {
    /// Promotions lets an expired checkout go only at its next command, not when the ledger
    /// expires the holds: its views and `check_ledger` disagree with the ledger meanwhile, and a
    /// state snapshot taken then does not restore. Trigger: checkouts with short timeouts.
    PromotionsExpiryLagsLedger,
    /// A payment carrying two coupons of one campaign counts two redemptions (of the campaign
    /// and of the user), where `docs/promotions.md` counts payments. Trigger: two coupons of a
    /// campaign without an exclusive group in one checkout.
    RedemptionsCountCoupons,
    /// A client can post or void a checkout's payer hold (a pending transfer between client
    /// accounts) with `create_transfers`; the checkout can then be neither captured nor voided.
    /// Its trigger is sent: with no documented refusal code, the auditor answers as the engine
    /// does (`ledger_rejected`).
    CheckoutHoldOpenToClients,
}

/// Whether `bug` is still known (its trigger withheld).
#[must_use]
pub fn known_bug(bug: KnownBug) -> bool {
    KNOWN_BUGS.contains(&bug)
}

/// What one seed runs with. Fields are plain numbers so the printout is the whole truth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub seed: u64,
    /// Steps of the run (commits, idles, pulses, faults, restarts).
    pub steps: u64,
    /// Account ids are drawn from `1..=accounts_max` (small: collisions and retries happen).
    pub accounts_max: u64,
    /// Ledgers 1..=ledger_count.
    pub ledger_count: u64,
    pub requests_per_batch_max: u64,
    pub events_per_request_max: u64,
    /// Shares of requests: account creations and limit changes; the rest are transfers.
    pub accounts_percent: u32,
    pub limits_percent: u32,
    /// Shares of transfer events.
    pub pending_percent: u32,
    pub post_percent: u32,
    pub void_percent: u32,
    pub balancing_percent: u32,
    pub closing_percent: u32,
    /// Share of pending transfers that get a timeout (1 to 4 s of engine time).
    pub expiring_percent: u32,
    /// Share of events that start a linked chain.
    pub linked_percent: u32,
    /// Share of events that are retries of earlier ones (exact, or with one field changed).
    pub duplicate_percent: u32,
    /// Share of events with a defect (a validation failure).
    pub invalid_percent: u32,
    /// Share of transfer events with an amount near `u128::MAX / 4` (balances overflow).
    pub huge_percent: u32,
    /// Engine time advances by up to this much per step; sometimes the clock steps back.
    pub clock_step_ns_max: u64,
    /// Per step: an archiver idle sync; a pulse when an expiry is due.
    pub idle_percent: u32,
    pub pulse_percent: u32,
    /// Node tuning, small so snapshots, evictions and segment rolls happen often.
    pub snapshot_log_bytes_min: u64,
    pub records_sync_bytes: u64,
    pub wal_segment_size_max: u64,
    /// Snapshots stream to their file in chunks of about this size.
    pub snapshot_chunk_bytes: usize,
    /// Faults, per mille per step.
    pub crash_per_mille: u32,
    /// Share of crashes that tear unsynced writes.
    pub torn_percent: u32,
    /// A crash armed at a later file-system call (mid-commit, mid-snapshot, ...).
    pub crash_armed_per_mille: u32,
    /// One later fsync fails.
    pub sync_failure_per_mille: u32,
    /// Clean restarts (shutdown, open).
    pub restart_per_mille: u32,
    /// Per restart: a bit flipped on read somewhere in the data directory.
    pub flip_percent: u32,
    /// Per step: a bit flipped on read in the durable, evicted part of the record file.
    pub flip_records_per_mille: u32,
    /// Share of requests that are credit requests (programs and commands); 0: no credit.
    pub credit_percent: u32,
    /// Credit lines opened at most (line ids beyond are refused or retries).
    pub lines_max: u64,
    /// Share of credit commands that are day-close chunks, and the most lines per chunk.
    pub day_close_percent: u32,
    pub day_close_chunk_max: u64,
    /// The programs' days overdue before a write-off (0: never).
    pub write_off_days: u16,
    /// Share of requests that are promotions requests (campaigns, commands, and the top-ups of
    /// the accounts that pay); 0: no promotions.
    pub promotions_percent: u32,
    /// Share of checkouts paid by a credit line (when lines exist).
    pub promotions_line_percent: u32,
    /// Share of promotions commands that are red-packet grabs.
    pub grab_percent: u32,
    /// Share of promotions commands that are lottery, coins and rule commands (`add_prize`,
    /// `draw_lottery`, `earn_coins`, `expire_coins`, `set_campaign_rule`), and half of it the
    /// share of promotions requests that are client transfers spending coins. 0: none, and no
    /// lottery or coins campaigns, accounts or clock shift (the run is what it was before they
    /// came in).
    pub games_percent: u32,
    /// With games: engine time starts so that a business day (UTC+8) ends about this far into
    /// the run (percent of its expected length), so check-ins and rules see two days. 0: the
    /// usual start.
    pub midnight_percent: u32,
    /// Share of credit commands that are installment, coin and co-funding commands
    /// (`convert_installments`, `settle_installments`, `redeem_coins`, `add_funder`,
    /// `settle_funding`); with it the programs offer coins and co-funding and the workload tops
    /// up their budgets. 0: none, and the programs and run are what they were before.
    pub plans_percent: u32,
}

impl Options {
    /// The options of `seed`.
    #[must_use]
    pub fn from_seed(seed: u64) -> Options {
        let mut prng = Prng::new(seed ^ 0x0F71_0A5E_5EED_0001);
        let mut enabled = |percent| prng.percent(percent);
        let crash = enabled(70);
        let armed = enabled(60);
        let sync = enabled(50);
        let restart = enabled(50);
        let flip = enabled(40);
        let flip_records = enabled(30);
        let mut percent = |max: u64| u32::try_from(prng.range(0, max)).expect("small");
        let pending_percent = percent(40);
        let post_percent = percent(25);
        let void_percent = percent(15);
        let balancing_percent = percent(10);
        let closing_percent = percent(3);
        let expiring_percent = percent(80);
        let linked_percent = percent(20);
        let duplicate_percent = percent(20);
        let invalid_percent = percent(15);
        // Off in half the seeds.
        let huge_percent = percent(3).saturating_sub(1);
        let accounts_percent = 5 + percent(15);
        let limits_percent = percent(10);
        let idle_percent = percent(30);
        let pulse_percent = 10 + percent(60);
        let torn_percent = percent(100);
        let per_mille = |prng: &mut Prng, on: bool, max: u64| {
            if on {
                u32::try_from(prng.range(1, max)).expect("small")
            } else {
                0
            }
        };
        let mut options = Options {
            seed,
            steps: prng.range(100, 500),
            accounts_max: prng.range(3, 40),
            ledger_count: prng.range(1, 3),
            requests_per_batch_max: prng.range(1, 4),
            events_per_request_max: *prng.pick(&[1, 2, 4, 8, 16, 32, 64]),
            accounts_percent,
            limits_percent,
            pending_percent,
            post_percent,
            void_percent,
            balancing_percent,
            closing_percent,
            expiring_percent,
            linked_percent,
            duplicate_percent,
            invalid_percent,
            huge_percent,
            clock_step_ns_max: *prng.pick(&[20_000_000, 200_000_000, 1_000_000_000, 3_000_000_000]),
            idle_percent,
            pulse_percent,
            snapshot_log_bytes_min: *prng.pick(&[256, 1024, 4096, 16 * 1024, 1 << 20]),
            records_sync_bytes: 31 * 128 * prng.range(1, 4),
            wal_segment_size_max: *prng.pick(&[512, 2048, 8192, 64 * 1024, 64 << 20]),
            snapshot_chunk_bytes: 4 << 20,
            crash_per_mille: per_mille(&mut prng, crash, 30),
            torn_percent,
            crash_armed_per_mille: per_mille(&mut prng, armed, 20),
            sync_failure_per_mille: per_mille(&mut prng, sync, 15),
            restart_per_mille: per_mille(&mut prng, restart, 20),
            flip_percent: if flip {
                u32::try_from(prng.range(10, 100)).expect("small")
            } else {
                0
            },
            flip_records_per_mille: per_mille(&mut prng, flip_records, 10),
            credit_percent: 0,
            lines_max: 0,
            day_close_percent: 0,
            day_close_chunk_max: 0,
            write_off_days: 0,
            promotions_percent: 0,
            promotions_line_percent: 0,
            grab_percent: 0,
            games_percent: 0,
            midnight_percent: 0,
            plans_percent: 0,
        };
        // Drawn last, so the options above stay what they were before credit came in.
        if prng.percent(80) {
            options.credit_percent = u32::try_from(prng.range(10, 50)).expect("small");
            options.lines_max = prng.range(1, 10);
            options.day_close_percent = u32::try_from(prng.range(10, 50)).expect("small");
            options.day_close_chunk_max = prng.range(1, 4);
            options.write_off_days = if prng.percent(85) {
                u16::try_from(prng.range(1, 8)).expect("small")
            } else {
                0
            };
        }
        // Drawn after credit's, so a seed's ledger and credit options stay what they were.
        if prng.percent(75) {
            options.promotions_percent = u32::try_from(prng.range(10, 40)).expect("small");
            options.promotions_line_percent = u32::try_from(prng.range(0, 60)).expect("small");
            options.grab_percent = u32::try_from(prng.range(5, 30)).expect("small");
            // Drawn last again: a seed's earlier options stay what they were.
            if prng.percent(80) {
                options.games_percent = u32::try_from(prng.range(5, 30)).expect("small");
                options.midnight_percent = u32::try_from(prng.range(5, 95)).expect("small");
            }
        }
        // Drawn last, only with credit: every earlier option of a seed stays what it was.
        if options.credit_percent > 0 && prng.percent(70) {
            options.plans_percent = u32::try_from(prng.range(5, 30)).expect("small");
        }
        // Drawn last: chunk edges fall anywhere in a snapshot, down to one per record.
        options.snapshot_chunk_bytes = *prng.pick(&[1, 64, 1024, 16 * 1024, 4 << 20]);
        options
    }
}

impl fmt::Display for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed={} steps={} accounts_max={} ledgers={} batch={}x{} \
             requests(accounts={}% limits={}%) \
             transfers(pending={}% post={}% void={}% balancing={}% closing={}% expiring={}% \
             linked={}% duplicate={}% invalid={}% huge={}%) \
             clock_step_ns_max={} idle={}% pulse={}% \
             snapshot_log_bytes_min={} records_sync_bytes={} wal_segment_size_max={} \
             snapshot_chunk_bytes={} \
             faults(crash={}‰ torn={}% armed_crash={}‰ sync_failure={}‰ restart={}‰ \
             flip_at_restart={}% flip_records={}‰) \
             credit(requests={}% lines_max={} day_close={}% chunk_max={} write_off_days={} \
             plans={}%) \
             promotions(requests={}% on_lines={}% grabs={}% games={}% midnight={}%)",
            self.seed,
            self.steps,
            self.accounts_max,
            self.ledger_count,
            self.requests_per_batch_max,
            self.events_per_request_max,
            self.accounts_percent,
            self.limits_percent,
            self.pending_percent,
            self.post_percent,
            self.void_percent,
            self.balancing_percent,
            self.closing_percent,
            self.expiring_percent,
            self.linked_percent,
            self.duplicate_percent,
            self.invalid_percent,
            self.huge_percent,
            self.clock_step_ns_max,
            self.idle_percent,
            self.pulse_percent,
            self.snapshot_log_bytes_min,
            self.records_sync_bytes,
            self.wal_segment_size_max,
            self.snapshot_chunk_bytes,
            self.crash_per_mille,
            self.torn_percent,
            self.crash_armed_per_mille,
            self.sync_failure_per_mille,
            self.restart_per_mille,
            self.flip_percent,
            self.flip_records_per_mille,
            self.credit_percent,
            self.lines_max,
            self.day_close_percent,
            self.day_close_chunk_max,
            self.write_off_days,
            self.plans_percent,
            self.promotions_percent,
            self.promotions_line_percent,
            self.grab_percent,
            self.games_percent,
            self.midnight_percent,
        )
    }
}
