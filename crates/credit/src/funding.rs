//! Co-funded credit: partner institutions fund a program's drawdowns by configured shares.
//!
//! Every drawdown (principal a line newly owes) is split among the platform and the funders by
//! share, with the platform's part rounded up so it never falls below the program's minimum
//! (`math::split_shares`). Every principal reduction (repayment, refund, settlement, coins) is
//! split pro rata to what each still has outstanding, and so is a write-off's principal, as a
//! loss (`math::split_pro_rata`). Invariant (`Credit::check_lines`, `check.rs`): for every
//! program, the platform's and the funders' outstanding sum to the principal its lines owe.
//!
//! Overflow: each participant's lifetime `drawn` bounds its other counters, as outstanding +
//! repaid + lost = drawn, and what is not yet settled is part of what it counts
//! (`check_records`). So a drawdown, which only a capture makes, is refused first when a
//! participant's `drawn` could not take it (`overflows_funding_counters`, `Funding::can_draw`),
//! and every reduction fits.
//!
//! Cash moves at `settle_funding`: one linked chain posting, per funder, the net of what it
//! drew and was repaid since the last settlement (funder to the program's funding account, or
//! back), and its share of losses (funding account to the loss account, which the write-off
//! debited in full). Interest, fees and penalties stay the platform's income here; recoveries
//! after a write-off go to the program's recovery account.

use ledger::{Ledger, Transfer};

use crate::command::FUNDERS_MAX;
use crate::math;
use crate::result::CreditResult;
use crate::state::{Clock, Credit, Posting, posting};

/// One participant's position in a program's principal, in fen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Share {
    pub outstanding: u64,
    pub drawn: u64,
    pub repaid: u64,
    pub lost: u64,
}

/// A partner institution funding a program.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Funder {
    /// Its settlement account (also its id).
    pub account_id: u128,
    pub share_bps: u16,
    pub share: Share,
    /// Since the last settlement.
    pub unsettled_drawn: u64,
    pub unsettled_repaid: u64,
    pub unsettled_lost: u64,
}

/// Who funds a program's principal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Funding {
    pub platform: Share,
    pub funders: Vec<Funder>,
}

impl Funding {
    /// Whether a drawdown of `amount` fits every participant's counters (see the module docs):
    /// its part is at most the whole drawdown (`math::split_shares`), so it suffices that each
    /// `drawn` can take `amount`. Exact for a program without funders (the platform takes it
    /// all). With funders it may refuse a drawdown whose exact parts would still fit, but only
    /// once a participant's `drawn` is within `amount` of `u64::MAX`; in exchange it needs no
    /// split and no allocation.
    pub(crate) fn can_draw(&self, amount: u64) -> bool {
        std::iter::once(&self.platform)
            .chain(self.funders.iter().map(|f| &f.share))
            .all(|share| share.drawn.checked_add(amount).is_some())
    }

    /// The platform's share of new drawdowns, in basis points. No underflow: funders' shares
    /// leave the platform at least its minimum (`add_funder`, `check_records`).
    #[must_use]
    pub fn platform_share_bps(&self) -> u32 {
        10_000
            - self
                .funders
                .iter()
                .map(|f| u32::from(f.share_bps))
                .sum::<u32>()
    }
}

impl Credit {
    /// A program's funding: the exposure report's source.
    #[must_use]
    pub fn funding(&self, program_id: u128) -> Option<&Funding> {
        self.program_index
            .get(&program_id)
            .map(|&i| &self.funding[i as usize])
    }

    pub(crate) fn add_funder(
        &mut self,
        ledger: &Ledger,
        program_id: u128,
        account_id: u128,
        share_bps: u16,
    ) -> CreditResult {
        use CreditResult as R;
        let Some(&p) = self.program_index.get(&program_id) else {
            return R::ProgramNotFound;
        };
        let program = self.programs[p as usize];
        if program.funding_account_id == 0 {
            return R::FundingNotOffered;
        }
        let funding = &self.funding[p as usize];
        if let Some(f) = funding.funders.iter().find(|f| f.account_id == account_id) {
            return if f.share_bps == share_bps {
                R::Exists
            } else {
                R::ExistsWithDifferentFields
            };
        }
        if share_bps == 0 {
            return R::ShareMustNotBeZero;
        }
        if funding.funders.len() == FUNDERS_MAX {
            return R::FundersMax;
        }
        let platform = funding.platform_share_bps();
        if u32::from(share_bps) > platform
            || platform - u32::from(share_bps) < u32::from(program.platform_min_share_bps)
        {
            return R::PlatformShareBelowMin;
        }
        match ledger.lookup_account(account_id) {
            None => return R::AccountNotFound,
            Some((a, _)) if a.ledger != program.ledger => return R::AccountLedgerMismatch,
            Some((a, _)) if account_id == program.funding_account_id || a.flags.managed() => {
                return R::FunderAccountInvalid;
            }
            Some(_) => {}
        }
        self.funding[p as usize].funders.push(Funder {
            account_id,
            share_bps,
            ..Funder::default()
        });
        CreditResult::Ok
    }

    /// Splits the change of a line's principal since `before` among its program's funders.
    pub(crate) fn follow_principal(&mut self, index: u32, before: u64) {
        let line = &self.lines[index as usize];
        let after = line.principal();
        let program = line.program;
        if after > before {
            self.draw(program, after - before);
        } else if before > after {
            self.reduce(program, before - after, false);
        }
    }

    /// A written-off line's principal: lost by all, pro rata.
    pub(crate) fn lose_principal(&mut self, program: u32, amount: u64) {
        if amount > 0 {
            self.reduce(program, amount, true);
        }
    }

    /// A drawdown; only a capture makes one, after `Funding::can_draw`.
    fn draw(&mut self, program: u32, amount: u64) {
        let min_bps = u32::from(self.programs[program as usize].platform_min_share_bps);
        let funding = &mut self.funding[program as usize];
        let platform_part = if funding.funders.is_empty() {
            amount
        } else {
            let mut shares = Vec::with_capacity(funding.funders.len() + 1);
            shares.push(funding.platform_share_bps());
            shares.extend(funding.funders.iter().map(|f| u32::from(f.share_bps)));
            let parts = math::split_shares(amount, &shares, 0, min_bps)
                .expect("funder shares were checked when added");
            // No overflow: the capture checked `can_draw(amount)`, and each part is at most
            // `amount`, outstanding and unsettled drawn at most drawn.
            for (f, &part) in funding.funders.iter_mut().zip(&parts[1..]) {
                f.share.outstanding += part;
                f.share.drawn += part;
                f.unsettled_drawn += part;
            }
            parts[0]
        };
        funding.platform.outstanding += platform_part;
        funding.platform.drawn += platform_part;
    }

    fn reduce(&mut self, program: u32, amount: u64, lost: bool) {
        let funding = &mut self.funding[program as usize];
        let platform_part = if funding.funders.is_empty() {
            amount
        } else {
            let mut weights = Vec::with_capacity(funding.funders.len() + 1);
            weights.push(funding.platform.outstanding);
            weights.extend(funding.funders.iter().map(|f| f.share.outstanding));
            let parts = math::split_pro_rata(amount, &weights);
            // No underflow: `amount` is at most the program's principal, the sum of the
            // weights, so no part exceeds its weight. No overflow: repaid + lost = drawn −
            // outstanding, and unsettled repaid and lost are parts of them.
            for (f, &part) in funding.funders.iter_mut().zip(&parts[1..]) {
                f.share.outstanding -= part;
                if lost {
                    f.share.lost += part;
                    f.unsettled_lost += part;
                } else {
                    f.share.repaid += part;
                    f.unsettled_repaid += part;
                }
            }
            parts[0]
        };
        let platform = &mut funding.platform;
        platform.outstanding -= platform_part;
        if lost {
            platform.lost += platform_part;
        } else {
            platform.repaid += platform_part;
        }
    }

    pub(crate) fn settle_funding(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
        program_id: u128,
    ) -> CreditResult {
        use CreditResult as R;
        let Some(&p) = self.program_index.get(&program_id) else {
            return R::ProgramNotFound;
        };
        let program = self.programs[p as usize];
        if program.funding_account_id == 0 {
            return R::FundingNotOffered;
        }
        let funders = self.funding[p as usize].funders.clone();
        let mut chain = Vec::new();
        for f in &funders {
            let cash = |debit, credit, amount: u64, id| Transfer {
                debit_account_id: debit,
                credit_account_id: credit,
                amount: u128::from(amount),
                user_data_128: f.account_id,
                ..posting(&program, id, Posting::FundingCash)
            };
            if f.unsettled_drawn > f.unsettled_repaid {
                let id = self.next_generated_id();
                chain.push(cash(
                    f.account_id,
                    program.funding_account_id,
                    f.unsettled_drawn - f.unsettled_repaid,
                    id,
                ));
            } else if f.unsettled_repaid > f.unsettled_drawn {
                let id = self.next_generated_id();
                chain.push(cash(
                    program.funding_account_id,
                    f.account_id,
                    f.unsettled_repaid - f.unsettled_drawn,
                    id,
                ));
            }
            if f.unsettled_lost > 0 {
                let id = self.next_generated_id();
                chain.push(Transfer {
                    debit_account_id: program.funding_account_id,
                    credit_account_id: program.loss_account_id,
                    amount: u128::from(f.unsettled_lost),
                    user_data_128: f.account_id,
                    ..posting(&program, id, Posting::FundingLoss)
                });
            }
        }
        // Drawn and repaid may net to nothing: settled all the same, with no transfer.
        if !chain.is_empty()
            && let Err((_, code)) = self.post_chain(ledger, clock, &mut chain)
        {
            return code;
        }
        for f in &mut self.funding[p as usize].funders {
            f.unsettled_drawn = 0;
            f.unsettled_repaid = 0;
            f.unsettled_lost = 0;
        }
        R::Ok
    }
}
