//! One simulated run: the real node core (`node::NodeCore`) over `storage::MemVfs`, driven step by
//! step from one seed, with faults, restarts and the checkers after every recovery.
//!
//! A step is one of: a batch of requests committed (replies compared with the auditor's), a
//! pulse when an expiry is due, an archiver idle sync, or a fault: a crash now (clean or torn),
//! a crash armed at a later file-system call, one failed fsync later, a clean restart, a bit
//! flipped on read in the record file. When the node stops (a storage error) the simulator
//! checks that it acknowledges nothing more, then restarts it, after a crash or not.
//!
//! Bookkeeping that makes the checks exact: a batch is *acknowledged* when the core handed out
//! its replies; a commit that failed before that leaves the batch *in doubt* (it may or may not
//! be durable). Recovery must find every acknowledged batch and at most the one in doubt: its
//! op tells which. The auditor and the replica apply exactly the batches the node holds.
//!
//! Credit and promotions commands are checked the same way (replies, then the whole credit and
//! promotions state and their invariants, after every batch and every recovery), and one more
//! rule is checked directly: a command that was acknowledged `ok` (or found durable in doubt)
//! and is sent again unchanged answers `exists`, never posts twice, whatever crashed in between.

use std::collections::BTreeMap;
use std::path::PathBuf;

use credit::{Command, CreditResult};
use engine::{Batch, Reply, Request, StateMachine};
use node::{Config, NodeCore, OpenError};
use storage::{FRAME_HEADER_SIZE, MemVfs, RECORD_PAGE_SIZE, RECORDS_FILE_NAME, RECORDS_PER_PAGE};

use crate::auditor::Auditor;
use crate::checkers;
use crate::options::Options;
use crate::workload::Workload;
use stdx::Prng;

const NS_PER_S: u64 = 1_000_000_000;
/// Steps between full checks when nothing restarts.
const FULL_CHECK_INTERVAL: u64 = 64;
/// Open attempts per restart before the simulator gives up (each failed attempt must be
/// explained by an injected fault).
const OPEN_ATTEMPTS_MAX: u32 = 12;

/// What a run did, for the summary line and the figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub batches_acknowledged: u64,
    pub events_acknowledged: u64,
    pub pulses: u64,
    pub idles: u64,
    /// Crashes injected between steps, and armed crashes that fired mid-operation.
    pub crashes: u64,
    pub crashes_torn: u64,
    pub crashes_armed_fired: u64,
    pub sync_failures_armed: u64,
    /// Times the node stopped on a storage error (and then acknowledged nothing more).
    pub node_failures: u64,
    pub restarts_clean: u64,
    pub recoveries: u64,
    pub recoveries_from_snapshot: u64,
    pub tail_cuts: u64,
    /// Recoveries that refused to start because of an injected bit flip (a correct outcome).
    pub refusals: u64,
    /// Open attempts that failed on an injected fsync error or crash (then retried).
    pub open_retries: u64,
    pub flips_injected: u64,
    /// Batches in doubt at a crash that recovery found durable, or not.
    pub in_doubt_found: u64,
    pub in_doubt_lost: u64,
    pub full_checks: u64,
    pub transfers_final: u64,
    pub cold_floor_max: u64,
    /// Credit at the end: business days closed, lines opened, lines written off, transfers the
    /// engine posted on its own (interest, penalties, write-offs).
    pub credit_days: u64,
    pub credit_lines: u64,
    pub credit_written_off: u64,
    pub credit_generated: u64,
    /// Promotions at the end: campaigns created, coupons issued or claimed, checkouts
    /// authorized (of them paid on a credit line, captured, and refunded at least in part), red
    /// packets grabbed.
    pub promotions_campaigns: u64,
    pub promotions_coupons: u64,
    pub promotions_checkouts: u64,
    pub promotions_on_lines: u64,
    pub promotions_grabs_on_lines: u64,
    pub promotions_captured: u64,
    pub promotions_refunded: u64,
    pub promotions_grabs: u64,
    /// Lotteries and coins at the end: draws made (of them winning a prize), coins earned (in
    /// how many earnings), coin lots expiry took something back from.
    pub promotions_draws: u64,
    pub promotions_draws_won: u64,
    pub promotions_earnings: u64,
    pub promotions_coins: u64,
    pub promotions_lots_taken: u64,
    /// Acknowledged results by operation and code name: what the workload exercised.
    pub results: BTreeMap<(&'static str, &'static str), u64>,
}

struct Simulation<'a> {
    options: &'a Options,
    prng: Prng,
    workload_prng: Prng,
    vfs: MemVfs,
    config: Config,
    clock_ns: u64,
    core: Option<NodeCore<MemVfs>>,
    auditor: Auditor,
    replica: StateMachine,
    workload: Workload,
    /// The batch whose commit failed before it was acknowledged, if any.
    in_doubt: Option<Batch>,
    /// Credit commands (and programs) that answered `ok`, by kind and id, with the op: sent
    /// again unchanged, they must answer `exists`.
    credit_done: BTreeMap<(&'static str, u128), (Done, u64)>,
    /// The same for promotions campaigns and commands.
    promotions_done: BTreeMap<(&'static str, u128), (PromotionsDone, u64)>,
    acknowledged_op: u64,
    /// A bit flip on read is armed somewhere.
    flips: bool,
    step: u64,
    report: Report,
    /// Print each step to stderr.
    trace: bool,
}

/// Runs the simulation `options` describe. `Err` is a checker failure (or a fault the node did
/// not survive), with the step it happened at.
pub fn run(options: &Options, trace: bool) -> Result<Report, String> {
    let mut prng = Prng::new(options.seed);
    let workload_prng = prng.fork();
    let data_dir = PathBuf::from("/sim/data");
    let config = Config {
        snapshot_log_bytes_min: options.snapshot_log_bytes_min,
        records_sync_bytes: options.records_sync_bytes,
        wal_segment_size_max: options.wal_segment_size_max,
        snapshot_chunk_bytes: options.snapshot_chunk_bytes,
        ..Config::new(data_dir)
    };
    let clock_ns = start_ns(options) + prng.below(NS_PER_S);
    let mut simulation = Simulation {
        options,
        replica: StateMachine::new(prng.next_u64()),
        prng,
        workload_prng,
        vfs: MemVfs::new(),
        config,
        clock_ns,
        core: None,
        auditor: Auditor::new(),
        workload: Workload::new(),
        in_doubt: None,
        credit_done: BTreeMap::new(),
        promotions_done: BTreeMap::new(),
        acknowledged_op: 0,
        flips: false,
        step: 0,
        report: Report::default(),
        trace,
    };
    simulation
        .run()
        .map_err(|message| format!("step {}: {message}", simulation.step))?;
    Ok(simulation.report)
}

/// Where engine time starts (before a random fraction of a second): 2023-11-14 22:13:20 UTC,
/// or, with `midnight_percent`, so that the business day (UTC+8) ends that far into the run's
/// expected length (each step advances the clock by half its maximum step on average).
fn start_ns(options: &Options) -> u64 {
    /// 2023-11-15 16:00:00 UTC: midnight in China.
    const MIDNIGHT_S: u64 = 1_700_064_000;
    if options.midnight_percent == 0 {
        return 1_700_000_000 * NS_PER_S;
    }
    let expected = options.steps * (options.clock_step_ns_max / 2);
    MIDNIGHT_S * NS_PER_S - expected / 100 * u64::from(options.midnight_percent)
}

impl Simulation<'_> {
    fn run(&mut self) -> Result<(), String> {
        self.recover()?;
        for step in 0..self.options.steps {
            self.step = step;
            self.clock_advance();
            self.step_once()?;
            if self.vfs.halted() {
                // An armed crash fired inside the step: the process is gone.
                self.report.crashes_armed_fired += 1;
                drop(self.core.take());
                self.vfs.restart();
                self.recover()?;
            } else if self.core().failure().is_some() {
                self.after_failure()?;
            } else if step % FULL_CHECK_INTERVAL == FULL_CHECK_INTERVAL - 1 {
                self.full_check()?;
            }
        }
        self.step = self.options.steps;
        // The end: a clean shutdown, a last recovery and a full check.
        self.restart_clean()?;
        self.report.transfers_final = self.auditor.transfers.len() as u64;
        let credit = &self.auditor.credit;
        if let Some(start) = credit.programs.first().map(|p| p.start_date) {
            self.report.credit_days = u64::from(credit.business_date.0 - start.0);
        }
        self.report.credit_lines = credit.lines.len() as u64;
        self.report.credit_written_off = credit
            .lines
            .iter()
            .filter(|l| l.status == credit::LineStatus::WrittenOff)
            .count() as u64;
        self.report.credit_generated = credit.generated;
        let promotions = &self.auditor.promotions;
        self.report.promotions_campaigns = promotions.campaigns.len() as u64;
        self.report.promotions_coupons = promotions.coupons.len() as u64;
        self.report.promotions_checkouts = promotions.checkouts.len() as u64;
        self.report.promotions_on_lines =
            promotions.checkouts.iter().filter(|c| c.payer_line).count() as u64;
        self.report.promotions_grabs_on_lines = promotions.grabs_on_lines;
        self.report.promotions_captured = promotions
            .checkouts
            .iter()
            .filter(|c| c.status == promotions::CheckoutStatus::Captured)
            .count() as u64;
        self.report.promotions_refunded = promotions
            .checkouts
            .iter()
            .filter(|c| c.refunded() > 0)
            .count() as u64;
        self.report.promotions_grabs = promotions
            .campaigns
            .iter()
            .filter(|c| c.record.kind == promotions::CampaignKind::RedPacket)
            .map(|c| u64::from(c.issued))
            .sum();
        self.report.promotions_draws = promotions.draws.len() as u64;
        self.report.promotions_draws_won =
            promotions.draws.iter().filter(|d| d.prize != 0).count() as u64;
        self.report.promotions_earnings = promotions
            .ops
            .values()
            .filter(|c| matches!(c, promotions::Command::EarnCoins { .. }))
            .count() as u64;
        self.report.promotions_coins = promotions.usage.values().map(|u| u.coins).sum();
        self.report.promotions_lots_taken =
            promotions.lots.iter().filter(|l| l.taken > 0).count() as u64;
        Ok(())
    }

    fn trace(&self, what: impl FnOnce() -> String) {
        if self.trace {
            eprintln!("step {}: {}", self.step, what());
        }
    }

    fn core(&self) -> &NodeCore<MemVfs> {
        self.core.as_ref().expect("the node runs between restarts")
    }

    fn core_mut(&mut self) -> &mut NodeCore<MemVfs> {
        self.core.as_mut().expect("the node runs between restarts")
    }

    /// Engine time moves on; now and then the clock steps back (the node keeps engine time
    /// monotonic regardless).
    fn clock_advance(&mut self) {
        if self.prng.percent(2) {
            self.clock_ns -= self.prng.below(5 * NS_PER_S);
        } else {
            self.clock_ns += self.prng.range(0, self.options.clock_step_ns_max);
        }
    }

    fn step_once(&mut self) -> Result<(), String> {
        let o = self.options;
        let roll = u32::try_from(self.prng.below(1000)).expect("small");
        let crash_end = o.crash_per_mille;
        let armed_end = crash_end + o.crash_armed_per_mille;
        let sync_end = armed_end + o.sync_failure_per_mille;
        let restart_end = sync_end + o.restart_per_mille;
        let flip_end = restart_end + o.flip_records_per_mille;
        if roll < crash_end {
            let torn = self.prng.percent(o.torn_percent);
            self.trace(|| format!("crash (torn: {torn})"));
            self.crash(torn)
        } else if roll < armed_end {
            let torn = self
                .prng
                .percent(o.torn_percent)
                .then(|| self.prng.next_u64());
            let calls = self.prng.below(40);
            self.trace(|| format!("crash armed after {calls} calls (torn: {torn:?})"));
            self.vfs.crash_after(calls, torn);
            Ok(())
        } else if roll < sync_end {
            self.report.sync_failures_armed += 1;
            let syncs = self.prng.below(4);
            self.trace(|| format!("sync failure armed after {syncs} syncs"));
            self.vfs.fail_sync_after(syncs);
            Ok(())
        } else if roll < restart_end {
            self.trace(|| "clean restart".to_string());
            self.restart_clean()
        } else if roll < flip_end {
            self.flip_records();
            Ok(())
        } else if self
            .core()
            .next_expiry()
            .is_some_and(|at| at <= self.clock_ns)
            && self.prng.percent(o.pulse_percent)
        {
            self.report.pulses += 1;
            self.commit(Vec::new())
        } else if self.prng.percent(o.idle_percent) {
            self.report.idles += 1;
            self.trace(|| "idle".to_string());
            // An error stops the node; the caller sees it in `failure`.
            let _ = self.core_mut().idle();
            Ok(())
        } else {
            let requests = self
                .workload
                .batch(&mut self.workload_prng, o, &self.auditor);
            self.commit(requests)
        }
    }

    /// Commits one batch, then checks the replies (if acknowledged) against the auditor.
    fn commit(&mut self, requests: Vec<engine::Request>) -> Result<(), String> {
        let clock_ns = self.clock_ns;
        let core = self.core_mut();
        let batch = core.stamp(clock_ns, requests);
        let mut replies = None;
        let committed = core.commit(&batch, |r| replies = Some(r));
        let op = self.auditor.op + 1;
        self.trace(|| {
            format!(
                "commit op {op} ({} requests, {} events, timestamp {}): {}",
                batch.requests.len(),
                batch.event_count(),
                batch.timestamp,
                match (&replies, &committed) {
                    (Some(_), Ok(())) => "acknowledged".to_string(),
                    (Some(_), Err(e)) => format!("acknowledged, then failed: {e}"),
                    (None, Err(e)) => format!("failed: {e}"),
                    (None, Ok(())) => "no replies".to_string(),
                }
            )
        });
        let Some(replies) = replies else {
            if committed.is_ok() {
                return Err(format!("op {op} committed without replies"));
            }
            // A failed commit stops the node, and the restart resolves the doubt: one at a time.
            assert!(self.in_doubt.is_none(), "two batches in doubt");
            self.in_doubt = Some(batch);
            return Ok(());
        };
        if self.trace {
            for (request, reply) in batch.requests.iter().zip(&replies) {
                match (request, reply) {
                    (Request::Credit(commands), Reply::Credit(results)) => {
                        for (command, result) in commands.iter().zip(results) {
                            eprintln!("  {command:?}: {}", result.name());
                        }
                    }
                    (Request::Promotions(commands), Reply::Promotions(results)) => {
                        for (command, result) in commands.iter().zip(results) {
                            eprintln!("  {command:?}: {}", result.name());
                        }
                    }
                    (Request::CreateCampaigns(campaigns), Reply::CreateCampaigns(results)) => {
                        for (campaign, result) in campaigns.iter().zip(results) {
                            eprintln!("  {campaign:?}: {}", result.name());
                        }
                    }
                    _ => {}
                }
            }
        }
        self.acknowledged_op = op;
        self.report.batches_acknowledged += 1;
        self.report.events_acknowledged += batch.event_count();
        let expected = self.auditor.apply(op, &batch);
        self.replica.apply(op, &batch);
        if replies != expected {
            return Err(replies_difference(op, &batch, &replies, &expected));
        }
        tally(&mut self.report.results, &batch.requests, &replies);
        self.credit_retries(op, &batch, &replies)?;
        self.promotions_retries(op, &batch, &replies)?;
        let core = self.core();
        if core.read(StateMachine::op) != op {
            return Err(format!("acknowledged op {op} but the state is elsewhere"));
        }
        core.read(|state| {
            checkers::accounts_agree(state, &self.auditor)?;
            checkers::credit_agree(state, &self.auditor)?;
            checkers::credit_invariants(state, &self.auditor)?;
            let touched = checkers::Touched::of(&batch);
            checkers::promotions_agree(state, &self.auditor, Some(&touched))?;
            checkers::promotions_invariants(state, &self.auditor)
        })
        .map_err(|e| format!("after op {op}: {e}"))
    }

    /// Credit commands sent again unchanged after answering `ok` answer `exists`; the first
    /// `ok` of each is remembered.
    fn credit_retries(&mut self, op: u64, batch: &Batch, replies: &[Reply]) -> Result<(), String> {
        for (request, reply) in batch.requests.iter().zip(replies) {
            let done: Vec<(Done, CreditResult)> = match (request, reply) {
                (Request::CreatePrograms(programs), Reply::CreatePrograms(results)) => programs
                    .iter()
                    .map(|p| Done::Program(*p))
                    .zip(results.iter().copied())
                    .collect(),
                (Request::Credit(commands), Reply::Credit(results)) => commands
                    .iter()
                    .map(|c| Done::Command(*c))
                    .zip(results.iter().copied())
                    .collect(),
                _ => continue,
            };
            for (done, result) in done {
                let Some(key) = done.key() else { continue };
                match self.credit_done.get(&key) {
                    Some((first, first_op)) if *first == done && result != CreditResult::Exists => {
                        return Err(format!(
                            "op {op}: {done:?} answered {} but it answered ok at op {first_op}",
                            result.name()
                        ));
                    }
                    None if result == CreditResult::Ok => {
                        self.credit_done.insert(key, (done, op));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Promotions campaigns and commands sent again unchanged after answering `ok` answer
    /// `exists`; the first `ok` of each is remembered.
    fn promotions_retries(
        &mut self,
        op: u64,
        batch: &Batch,
        replies: &[Reply],
    ) -> Result<(), String> {
        use promotions::PromotionResult;
        for (request, reply) in batch.requests.iter().zip(replies) {
            let done: Vec<(PromotionsDone, PromotionResult)> = match (request, reply) {
                (Request::CreateCampaigns(campaigns), Reply::CreateCampaigns(results)) => campaigns
                    .iter()
                    .map(|c| PromotionsDone::Campaign(*c))
                    .zip(results.iter().copied())
                    .collect(),
                (Request::Promotions(commands), Reply::Promotions(results)) => commands
                    .iter()
                    .map(|c| PromotionsDone::Command(*c))
                    .zip(results.iter().copied())
                    .collect(),
                _ => continue,
            };
            for (done, result) in done {
                let Some(key) = done.key() else { continue };
                match self.promotions_done.get(&key) {
                    Some((first, first_op))
                        if *first == done && result != PromotionResult::Exists =>
                    {
                        return Err(format!(
                            "op {op}: {done:?} answered {} but it answered ok at op {first_op}",
                            result.name()
                        ));
                    }
                    None if result == PromotionResult::Ok => {
                        self.promotions_done.insert(key, (done, op));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The node stopped on a storage error: it must acknowledge nothing more. Then it restarts,
    /// after a crash or not.
    fn after_failure(&mut self) -> Result<(), String> {
        self.report.node_failures += 1;
        let requests = self
            .workload
            .batch(&mut self.workload_prng, self.options, &self.auditor);
        let clock_ns = self.clock_ns;
        let core = self.core_mut();
        let batch = core.stamp(clock_ns, requests);
        let mut acknowledged = false;
        let committed = core.commit(&batch, |_| acknowledged = true);
        if acknowledged || committed.is_ok() {
            return Err(format!(
                "the node acknowledged a batch after failing with: {}",
                core.failure().unwrap_or_default()
            ));
        }
        match self.prng.below(3) {
            0 => self.crash(false),
            1 => self.crash(true),
            _ => self.restart_clean(),
        }
    }

    /// Power loss now: the process dies, the disk keeps what was durable (and, torn, a prefix
    /// of what was not).
    fn crash(&mut self, torn: bool) -> Result<(), String> {
        self.report.crashes += 1;
        self.vfs.halt();
        drop(self.core.take());
        if torn {
            self.report.crashes_torn += 1;
            self.vfs.crash_torn(self.prng.next_u64());
        } else {
            self.vfs.crash();
        }
        self.vfs.restart();
        self.recover()
    }

    /// Shutdown (the core finishes its snapshot and syncs), then open again. An armed crash may
    /// fire during the shutdown.
    fn restart_clean(&mut self) -> Result<(), String> {
        self.report.restarts_clean += 1;
        drop(self.core.take());
        if self.vfs.halted() {
            self.report.crashes_armed_fired += 1;
        }
        self.vfs.restart();
        self.recover()
    }

    /// Opens the node (retrying after injected faults), resolves the batch in doubt, and runs
    /// every checker.
    fn recover(&mut self) -> Result<(), String> {
        if self.options.flip_percent > 0 && self.prng.percent(self.options.flip_percent) {
            self.flip_anywhere();
        }
        let mut attempt = 0;
        let (core, recovery) = loop {
            attempt += 1;
            // Crash during recovery too, sometimes.
            if self.options.crash_armed_per_mille > 0 && attempt < 4 && self.prng.percent(10) {
                let torn = self.prng.percent(50).then(|| self.prng.next_u64());
                self.vfs.crash_after(self.prng.below(12), torn);
            }
            let opened =
                NodeCore::open(self.vfs.clone(), self.config.clone(), self.prng.next_u64());
            match opened {
                Ok(opened) => break opened,
                Err(_) if attempt >= OPEN_ATTEMPTS_MAX => {
                    return Err("recovery kept failing".to_string());
                }
                Err(error) => {
                    self.trace(|| format!("open failed: {error:?}"));
                    self.open_failed(&error)?;
                }
            }
        };
        self.trace(|| format!("recovered: {recovery:?}"));
        // A crash armed for recovery that did not fire must not fire later by surprise.
        self.vfs.restart();
        self.report.recoveries += 1;
        self.report.recoveries_from_snapshot += u64::from(recovery.snapshot_op.is_some());
        self.report.tail_cuts += u64::from(recovery.tail_cut.is_some());
        let recovered_op = core.read(StateMachine::op);
        self.core = Some(core);
        if recovered_op < self.acknowledged_op {
            return Err(format!(
                "acknowledged op {} lost: recovered up to op {recovered_op}",
                self.acknowledged_op
            ));
        }
        let committed_op = self.auditor.op;
        match self.in_doubt.take() {
            Some(batch) if recovered_op == committed_op + 1 => {
                self.report.in_doubt_found += 1;
                // Durable after all: what answered ok there must answer exists from now on.
                let replies = self.auditor.apply(recovered_op, &batch);
                self.replica.apply(recovered_op, &batch);
                self.credit_retries(recovered_op, &batch, &replies)?;
                self.promotions_retries(recovered_op, &batch, &replies)?;
            }
            Some(_) if recovered_op == committed_op => self.report.in_doubt_lost += 1,
            None if recovered_op == committed_op => {}
            in_doubt => {
                return Err(format!(
                    "recovered op {recovered_op}, but op {committed_op} was the last committed \
                     (one more in doubt: {})",
                    in_doubt.is_some()
                ));
            }
        }
        self.full_check()
    }

    /// An open attempt failed: fine if an injected fault explains it, else a failure.
    fn open_failed(&mut self, error: &OpenError) -> Result<(), String> {
        let detail = format!("{error}: {error:?}");
        if self.vfs.halted() {
            // A crash armed during recovery fired.
            self.report.crashes_armed_fired += 1;
            self.report.open_retries += 1;
            self.vfs.restart();
            Ok(())
        } else if detail.contains("injected sync failure") {
            self.report.open_retries += 1;
            Ok(())
        } else if self.flips
            && let OpenError::Storage(storage::StorageError::Corrupt { .. }) = error
        {
            // Refusing corrupt durable data is the correct outcome; repair the disk and go on.
            self.report.refusals += 1;
            self.vfs.clear_read_faults();
            self.flips = false;
            Ok(())
        } else {
            Err(format!("recovery failed: {detail}"))
        }
    }

    /// Every checker: conservation, agreement with the auditor, determinism against the
    /// replica, and a sample of lookups through the record file.
    fn full_check(&mut self) -> Result<(), String> {
        self.report.full_checks += 1;
        // Faults armed for the node's reads must not fail the checker's own reads.
        self.vfs.clear_read_faults();
        self.flips = false;
        let sample: Vec<u128> = if self.auditor.transfers.is_empty() {
            Vec::new()
        } else {
            let ids: Vec<u128> = self.auditor.transfers.keys().copied().collect();
            (0..16).map(|_| *self.prng.pick(&ids)).collect()
        };
        let cold_floor = self.core().read(|state| state.ledger().cold_floor());
        self.report.cold_floor_max = self.report.cold_floor_max.max(cold_floor);
        let core = self.core();
        let (node_bytes, transfers) = core.read(|state| {
            checkers::accounts_agree(state, &self.auditor)?;
            let canonical = checkers::canonical(state, |start, end, f| {
                core.cold()
                    .scan(start, end, f)
                    .map_err(|e| format!("record file scan: {e}"))
            })?;
            checkers::transfers_agree(state, &canonical.1, &self.auditor)?;
            checkers::lookups_agree(state, core.cold(), &sample, &self.auditor)?;
            checkers::credit_agree(state, &self.auditor)?;
            checkers::credit_invariants(state, &self.auditor)?;
            checkers::credit_snapshots_agree(state, &self.replica)?;
            checkers::promotions_agree(state, &self.auditor, None)?;
            checkers::promotions_invariants(state, &self.auditor)?;
            checkers::promotions_snapshots_agree(state, &self.replica)?;
            Ok::<_, String>(canonical)
        })?;
        let (replica_bytes, _) = checkers::canonical_in_memory(&self.replica)?;
        let (node_hash, replica_hash) = (
            checkers::fnv1a(&node_bytes),
            checkers::fnv1a(&replica_bytes),
        );
        if node_hash != replica_hash {
            let offset = node_bytes
                .iter()
                .zip(&replica_bytes)
                .position(|(a, b)| a != b);
            return Err(format!(
                "state hash {node_hash:016x} differs from the replica's {replica_hash:016x} \
                 ({} vs {} bytes, first difference at {offset:?}; {} transfers)",
                node_bytes.len(),
                replica_bytes.len(),
                transfers.len()
            ));
        }
        Ok(())
    }

    /// A bit flipped on read in the evicted (durable, below the cold floor) part of the record
    /// file, where prefetch and lookups read.
    fn flip_records(&mut self) {
        let floor = self.core().read(|state| state.ledger().cold_floor());
        let pages = floor / RECORDS_PER_PAGE;
        if pages == 0 {
            return;
        }
        let page_size = RECORD_PAGE_SIZE as u64;
        let bit = self.prng.below(pages * page_size * 8);
        self.trace(|| format!("flip on read: record file bit {bit}"));
        self.vfs.flip_on_read(&self.records_path(), bit);
        self.flips = true;
        self.report.flips_injected += 1;
    }

    /// A bit flipped on read anywhere in a file of the data directory that recovery reads,
    /// except the last frame of the last WAL segment: a damaged last frame is indistinguishable
    /// from a torn write and is cut, which is outside the fault model (docs/simulator.md).
    fn flip_anywhere(&mut self) {
        let dir = self.config.data_dir.clone();
        let names = self.vfs.file_names(&dir);
        let last_segment = names.iter().filter(|name| is_segment(name)).max().cloned();
        let candidates: Vec<(PathBuf, u64)> = names
            .iter()
            .filter(|name| {
                is_segment(name) || name.ends_with(".snap") || *name == RECORDS_FILE_NAME
            })
            .filter_map(|name| {
                let path = dir.join(name);
                let bytes = self.vfs.file(&path)?;
                let size = if Some(name) == last_segment.as_ref() {
                    last_frame_start(&bytes)
                } else {
                    bytes.len() as u64
                };
                (size > 0).then_some((path, size))
            })
            .collect();
        if candidates.is_empty() {
            return;
        }
        let (path, size) = self.prng.pick(&candidates).clone();
        let bit = self.prng.below(size * 8);
        self.trace(|| format!("flip on read: {} bit {bit}", path.display()));
        self.vfs.flip_on_read(&path, bit);
        self.flips = true;
        self.report.flips_injected += 1;
    }

    fn records_path(&self) -> PathBuf {
        self.config.data_dir.join(RECORDS_FILE_NAME)
    }
}

fn is_segment(name: &str) -> bool {
    name.starts_with("wal-") && name.ends_with(".log")
}

/// Where the last complete frame of a segment starts (0 without one), walking the frame
/// headers (`docs/internals/wal.md`: the payload size is the u32 at header offset 16). A torn
/// write leaves a prefix, so the walk stops at the first incomplete frame.
fn last_frame_start(bytes: &[u8]) -> u64 {
    let header_size = FRAME_HEADER_SIZE;
    let mut offset = 0;
    let mut last = 0;
    while offset + header_size <= bytes.len() {
        let size_bytes: [u8; 4] = bytes[offset + 16..offset + 20].try_into().expect("4 bytes");
        let payload_size = usize::try_from(u32::from_le_bytes(size_bytes)).expect("u32 fits");
        let end = offset + header_size + payload_size;
        if end > bytes.len() {
            break;
        }
        last = offset;
        offset = end;
    }
    last as u64
}

/// A credit request's event that answered `ok`: a program or a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Done {
    Program(credit::Program),
    Command(Command),
}

impl Done {
    /// Kind and id, for the events that have an id: programs, lines and money commands.
    fn key(&self) -> Option<(&'static str, u128)> {
        match self {
            Done::Program(p) => Some(("program", p.id)),
            Done::Command(c @ Command::OpenLine { id, .. }) => Some((c.name(), *id)),
            Done::Command(c) => c.transfer_id().map(|id| (c.name(), id)),
        }
    }
}

/// A promotions event that answered `ok`: a campaign or a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PromotionsDone {
    Campaign(promotions::Campaign),
    Command(promotions::Command),
}

impl PromotionsDone {
    /// Kind and id, for the events that have an id (all but status changes).
    fn key(&self) -> Option<(&'static str, u128)> {
        use promotions::Command as C;
        match self {
            PromotionsDone::Campaign(c) => Some(("campaign", c.id)),
            PromotionsDone::Command(c) => match *c {
                C::SetCampaignStatus { .. }
                | C::AddPrize { .. }
                | C::ExpireCoins { .. }
                | C::SetCampaignRule { .. } => None,
                C::FundCampaign { id, .. }
                | C::IssueCoupon { id, .. }
                | C::ClaimCoupon { id, .. }
                | C::Checkout { id, .. }
                | C::CaptureCheckout { id, .. }
                | C::VoidCheckout { id, .. }
                | C::RefundCheckout { id, .. }
                | C::GrabRedPacket { id, .. }
                | C::DrawLottery { id, .. }
                | C::EarnCoins { id, .. } => Some((c.name(), id)),
            },
        }
    }
}

fn tally(
    results: &mut BTreeMap<(&'static str, &'static str), u64>,
    requests: &[Request],
    replies: &[Reply],
) {
    for (request, reply) in requests.iter().zip(replies) {
        let names: Vec<(&'static str, &'static str)> = match (request, reply) {
            (_, Reply::CreateAccounts(codes)) => {
                codes.iter().map(|c| ("accounts", c.name())).collect()
            }
            (_, Reply::CreateTransfers(codes)) => {
                codes.iter().map(|c| ("transfers", c.name())).collect()
            }
            (_, Reply::SetAccountLimits(codes)) => {
                codes.iter().map(|c| ("limits", c.name())).collect()
            }
            (_, Reply::CreatePrograms(codes)) => {
                codes.iter().map(|c| ("programs", c.name())).collect()
            }
            (Request::Credit(commands), Reply::Credit(codes)) => commands
                .iter()
                .zip(codes)
                .map(|(command, code)| (command.name(), code.name()))
                .collect(),
            (_, Reply::Credit(_)) => Vec::new(),
            (_, Reply::CreateCampaigns(codes)) => {
                codes.iter().map(|c| ("campaigns", c.name())).collect()
            }
            (Request::Promotions(commands), Reply::Promotions(codes)) => commands
                .iter()
                .zip(codes)
                .map(|(command, code)| (command.name(), code.name()))
                .collect(),
            (_, Reply::Promotions(_)) => Vec::new(),
        };
        for name in names {
            *results.entry(name).or_default() += 1;
        }
    }
}

/// A readable account of where two reply lists first differ.
fn replies_difference(op: u64, batch: &Batch, replies: &[Reply], expected: &[Reply]) -> String {
    for (index, (got, want)) in replies.iter().zip(expected).enumerate() {
        if got != want {
            return format!(
                "op {op} request {index} ({}): node replied {got:?}, auditor expected {want:?}; \
                 request {:?}",
                batch.requests[index].operation_name(),
                batch.requests[index]
            );
        }
    }
    format!(
        "op {op}: node gave {} replies, auditor {}",
        replies.len(),
        expected.len()
    )
}
