//! Reward coins redeemed against a line's bill.
//!
//! Coins live on their own ledger (an asset of their own): the borrower's coin account pays
//! them back to the program's coin account, and, in the same linked chain, the program's coin
//! funding account (a budget on the line's ledger) pays their value to the line. The value is
//! `coins × 100 / coins_per_yuan` fen, exact (no coin is lost to rounding), at most
//! `coin_cap_bps` of the current statement balance per statement, and at most what is billed.
//! It then pays the bill like a repayment (the waterfall, past due, overdue).

use ledger::{Ledger, Transfer};

use crate::result::CreditResult;
use crate::state::{
    Clock, Credit, LineStatus, Posting, allocate, fits, narrow, posting, settle_overdue,
};

impl Credit {
    pub(crate) fn redeem_coins(
        &mut self,
        ledger: &mut Ledger,
        clock: &mut Clock,
        id: u128,
        line_id: u128,
        coin_account_id: u128,
        coins: u64,
    ) -> CreditResult {
        use CreditResult as R;
        let (index, line, program) = match self.money_line(id, line_id) {
            Ok(found) => found,
            Err(code) => return code,
        };
        let user = ledger.lookup_account(coin_account_id).map(|(a, _)| a);
        let coin_transfer = Transfer {
            debit_account_id: coin_account_id,
            credit_account_id: program.coin_account_id,
            amount: u128::from(coins),
            ledger: user.map_or(0, |a| a.ledger),
            user_data_128: line_id,
            ..posting(&program, id, Posting::CoinRedemption)
        };
        if let Some(existing) = ledger.find_transfer(id) {
            // Posted linked to the value transfer: compare the fields a client chose.
            let same = existing.debit_account_id == coin_account_id
                && existing.credit_account_id == program.coin_account_id
                && existing.amount == u128::from(coins)
                && existing.user_data_32 == Posting::CoinRedemption as u32
                && existing.user_data_128 == line_id;
            return if same {
                R::Exists
            } else {
                R::ExistsWithDifferentFields
            };
        }
        if program.coin_account_id == 0 {
            return R::CoinsNotOffered;
        }
        match line.status {
            LineStatus::Closed => return R::LineClosed,
            LineStatus::WrittenOff => return R::LineWrittenOff,
            LineStatus::Active | LineStatus::Frozen => {}
        }
        if coins == 0 {
            return R::AmountMustNotBeZero;
        }
        let Some(user) = user else {
            return R::AccountNotFound;
        };
        let coin_ledger = ledger
            .lookup_account(program.coin_account_id)
            .map_or(0, |(a, _)| a.ledger);
        if user.ledger != coin_ledger {
            return R::AccountLedgerMismatch;
        }
        let hundredfold = u128::from(coins) * 100;
        let per_yuan = u128::from(program.coins_per_yuan);
        if hundredfold % per_yuan != 0 {
            return R::CoinsNotWholeFen;
        }
        // Compared in u128: a value past `u64::MAX` fen is over any cap, never saturated
        // into one (it would have taken all those coins for `u64::MAX` fen).
        let value = hundredfold / per_yuan;
        // Saturating only where the cap is above anything a line can owe (`coin_cap_bps` over
        // 100% of a huge balance): what is billed still bounds the value below.
        let cap =
            narrow(u128::from(line.statement.balance) * u128::from(program.coin_cap_bps) / 10_000)
                .saturating_sub(line.coins_redeemed);
        if value > u128::from(cap) {
            return R::ExceedsCoinCap;
        }
        let value = narrow(value);
        if value > line.owed.total() {
            return R::ExceedsBilled;
        }
        // `coins_redeemed` needs no check: `value` ≤ cap − `coins_redeemed`, the cap a `u64`.
        if !fits(&[
            (line.paid_since_statement, value),
            (line.cycle.repayments, value),
        ]) {
            return R::OverflowsLineCounters;
        }
        let money = Transfer {
            debit_account_id: program.coin_funding_account_id,
            credit_account_id: line_id,
            amount: u128::from(value),
            user_data_128: id,
            ..posting(&program, self.next_generated_id(), Posting::CoinValue)
        };
        let mut chain = [coin_transfer, money];
        match self.post_chain(ledger, clock, &mut chain) {
            Ok(()) => {}
            Err((0, R::InsufficientFunds)) => return R::InsufficientCoins,
            Err((_, R::InsufficientFunds)) => return R::CoinFundingExhausted,
            Err((_, code)) => return code,
        }
        let line = &mut self.lines[index as usize];
        // Checked above: the cap bounds the first, `fits` the other two.
        line.coins_redeemed += value;
        line.paid_since_statement += value;
        line.cycle.repayments += value;
        line.past_due = line.past_due.saturating_sub(value);
        let rest = allocate(line, &program.waterfall, value);
        debug_assert_eq!(rest, 0, "coins pay at most what is billed");
        settle_overdue(line);
        R::Ok
    }
}
