//! Engine tests: the batch codec round-trips and never panics; apply is deterministic.

use credit::math::{Rate, RoundingMode};
use credit::{Command, Component, Date, Program, StudentPolicy};
use ledger::{Account, AccountFlags, LimitChange, Transfer, TransferFlags};
use proptest::prelude::*;

use crate::{Batch, Reply, Request, StateMachine, decode_batch, encode_batch};

fn account(id: u128) -> Account {
    Account {
        id,
        ledger: 1,
        code: 1,
        ..Account::default()
    }
}

fn transfer(id: u128, dr: u128, cr: u128, amount: u128) -> Transfer {
    Transfer {
        id,
        debit_account_id: dr,
        credit_account_id: cr,
        amount,
        ledger: 1,
        code: 1,
        ..Transfer::default()
    }
}

fn program(id: u128) -> Program {
    Program {
        id,
        ledger: 1,
        code: 9,
        interest_account_id: 1,
        fee_account_id: 2,
        penalty_account_id: 3,
        loss_account_id: 4,
        recovery_account_id: 4,
        start_date: Date::from_ymd(2026, 11, 28).expect("date"),
        statement_day: 1,
        due_day: 3,
        min_payment_rate: Rate(1_000_000_000),
        min_payment_floor: 0,
        interest_daily_rate: Rate(5_000_000),
        penalty_daily_rate: Rate(5_000_000),
        penalty_min_per_day: 1,
        write_off_days: 4,
        apr_cap: Rate(2_400_000_000),
        max_borrower_limit: 1_000_000,
        dti_cap_bps: 0,
        min_age: 18,
        student_policy: StudentPolicy::Block,
        waterfall: [
            Component::Penalty,
            Component::Fee,
            Component::Interest,
            Component::Principal,
        ],
        rounding: RoundingMode::HalfEven,
        early_settlement: credit::math::EarlySettlement::WaiveRemaining,
        coin_account_id: 0,
        coin_funding_account_id: 0,
        coins_per_yuan: 0,
        coin_cap_bps: 0,
        funding_account_id: 0,
        platform_min_share_bps: 0,
    }
}

fn arb_command() -> impl Strategy<Value = Command> {
    let line = 30u128..33;
    prop_oneof![
        (line.clone(), 0u64..2_000).prop_map(|(id, limit)| Command::OpenLine {
            id,
            borrower_id: id,
            program_id: 600,
            limit,
            annual_income: 0,
            birth_date: Date(0),
            statement_day: 0,
            due_day: 0,
            applicant: 0,
        }),
        (100u128..140, line.clone(), 5u128..8, 0u64..500, 0u32..2).prop_map(
            |(id, line_id, merchant_account_id, amount, timeout)| Command::Authorize {
                id,
                line_id,
                merchant_account_id,
                amount,
                timeout,
            }
        ),
        (140u128..160, line.clone(), 100u128..140, 0u64..300).prop_map(
            |(id, line_id, purchase_id, amount)| Command::Capture {
                id,
                line_id,
                purchase_id,
                amount,
            }
        ),
        (160u128..180, line.clone(), 100u128..140, 1u64..100).prop_map(
            |(id, line_id, purchase_id, amount)| Command::Refund {
                id,
                line_id,
                purchase_id,
                amount,
            }
        ),
        (180u128..200, line, 1u64..800).prop_map(|(id, line_id, amount)| Command::Repay {
            id,
            line_id,
            source_account_id: 6,
            amount,
        }),
        (0u32..3, 1u32..3).prop_map(|(day, max_lines)| Command::DayClose {
            date: Date(Date::from_ymd(2026, 11, 28).expect("date").0 + day),
            max_lines,
        }),
    ]
}

fn campaign(k: u128) -> promotions::Campaign {
    let coupon = promotions::Campaign {
        id: 700 + k,
        sponsor_account_id: 6,
        budget_account_id: 800 + k,
        ledger: 1,
        code: 4,
        offer: promotions::Offer::Threshold {
            min_spend: 100,
            amount: 40,
        },
        stock: 20,
        ..promotions::Campaign::default()
    };
    if k == 2 {
        promotions::Campaign {
            kind: promotions::CampaignKind::RedPacket,
            stock: 5,
            pool_amount: 500,
            seed: 3,
            offer: promotions::Offer::FreeOrder { cap: 0 },
            ..coupon
        }
    } else {
        coupon
    }
}

fn arb_promotion() -> impl Strategy<Value = promotions::Command> {
    use promotions::Command as P;
    let checkout = 240u128..260;
    prop_oneof![
        (200u128..210, 700u128..703, 1u64..800).prop_map(|(id, campaign_id, amount)| {
            P::FundCampaign {
                id,
                campaign_id,
                amount,
            }
        }),
        (210u128..230, 700u128..702, 1u128..4).prop_map(|(id, campaign_id, user_id)| {
            P::ClaimCoupon {
                id,
                campaign_id,
                user_id,
                user_segments: 0,
            }
        }),
        (
            checkout.clone(),
            1u128..4,
            prop_oneof![1u128..5, 30u128..33],
            1u64..400,
            0u32..2,
            prop::option::of(210u128..230),
            any::<bool>()
        )
            .prop_map(
                |(id, user_id, payer_id, amount, timeout, coupon, capture)| P::Checkout {
                    id,
                    user_id,
                    payer_id,
                    merchant_account_id: 7,
                    amount,
                    timeout,
                    code: 2,
                    card_issuer: 0,
                    card_bin: 0,
                    category: 0,
                    coupons: [coupon.unwrap_or(0), 0, 0, 0],
                    capture,
                }
            ),
        (260u128..280, checkout.clone())
            .prop_map(|(id, checkout_id)| P::CaptureCheckout { id, checkout_id }),
        (280u128..290, checkout.clone())
            .prop_map(|(id, checkout_id)| P::VoidCheckout { id, checkout_id }),
        (290u128..300, checkout, 1u64..200).prop_map(|(id, checkout_id, amount)| {
            P::RefundCheckout {
                id,
                checkout_id,
                amount,
            }
        }),
        (300u128..320, 1u128..8).prop_map(|(id, user_id)| P::GrabRedPacket {
            id,
            campaign_id: 702,
            user_id,
            account_id: 8,
            user_segments: 0,
        }),
    ]
}

fn arb_request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (0u128..3).prop_map(|k| Request::CreateCampaigns(vec![campaign(k)])),
        prop::collection::vec(arb_promotion(), 1..6).prop_map(Request::Promotions),
        (0u128..2).prop_map(|k| Request::CreatePrograms(vec![program(600 + k)])),
        prop::collection::vec(arb_command(), 1..6).prop_map(Request::Credit),
        prop::collection::vec((1u128..20, any::<u16>()), 1..5).prop_map(|v| {
            Request::CreateAccounts(
                v.into_iter()
                    .map(|(id, flags)| Account {
                        flags: AccountFlags(flags),
                        ..account(id)
                    })
                    .collect(),
            )
        }),
        prop::collection::vec(
            (
                1u128..20,
                1u128..5,
                1u128..5,
                any::<u128>(),
                any::<u16>(),
                0u32..3
            ),
            1..8
        )
        .prop_map(|v| Request::CreateTransfers(
            v.into_iter()
                .map(|(id, dr, cr, amount, flags, timeout)| Transfer {
                    flags: TransferFlags(flags),
                    timeout,
                    pending_id: id / 2,
                    ..transfer(id, dr, cr, amount)
                })
                .collect()
        )),
        prop::collection::vec(
            (1u128..5, any::<Option<u128>>(), any::<Option<u128>>()),
            1..3
        )
        .prop_map(|v| {
            Request::SetAccountLimits(
                v.into_iter()
                    .map(|(account_id, debit_limit, credit_limit)| LimitChange {
                        account_id,
                        debit_limit,
                        credit_limit,
                    })
                    .collect(),
            )
        }),
    ]
}

proptest! {
    // Goal: encoding then decoding any batch gives it back unchanged.
    #[test]
    fn batch_codec_round_trips(requests in prop::collection::vec(arb_request(), 0..4), extra in 0u64..1000) {
        let timestamp = requests.iter().map(Request::timestamp_count).sum::<u64>() + 1 + extra;
        let batch = Batch { timestamp, requests };
        let mut bytes = Vec::new();
        encode_batch(&batch, &mut bytes);
        prop_assert_eq!(decode_batch(&bytes), Ok(batch));
    }

    // Goal: decoding never panics on arbitrary bytes or on mutations of a valid batch.
    #[test]
    fn batch_decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600), flip in any::<(usize, u8)>()) {
        let _ = decode_batch(&bytes);
        let batch = Batch { timestamp: 10, requests: vec![Request::CreateAccounts(vec![account(1)])] };
        let mut valid = Vec::new();
        encode_batch(&batch, &mut valid);
        let index = flip.0 % valid.len();
        valid[index] ^= flip.1.max(1);
        let _ = decode_batch(&valid);
        valid.truncate(index);
        prop_assert!(decode_batch(&valid).is_err());
    }

    // Goal: two state machines fed the same batches reach byte-identical snapshots; one that
    // evicts half its transfers midway (and is handed the cold ones it asks for) answers the
    // same; and a snapshot taken midway, restored from the snapshot plus the evicted transfers
    // and fed the rest, reaches the same state.
    #[test]
    fn apply_is_deterministic(batches in prop::collection::vec(prop::collection::vec(arb_request(), 0..3), 1..12)) {
        let mut a = StateMachine::new(1);
        let mut b = StateMachine::new(99);
        let mut evicting = StateMachine::new(5);
        let mut timestamp = 1_000;
        let middle = batches.len() / 2;
        let mut c: Option<StateMachine> = None;
        for (index, requests) in batches.into_iter().enumerate() {
            let batch = Batch { timestamp: timestamp + requests.iter().map(Request::timestamp_count).sum::<u64>() + 1, requests };
            timestamp = batch.timestamp;
            let op = index as u64 + 1;
            let all = b.ledger().transfers_from(0).to_vec();
            for machine in [Some(&mut evicting), c.as_mut()].into_iter().flatten() {
                for _round in 0..2 {
                    let mut needs = Vec::new();
                    machine.prefetch_needs(&batch, &mut needs);
                    for position in needs {
                        machine.prefetch(position, all[usize::try_from(position).expect("fits")]);
                    }
                }
            }
            let replies = a.apply(op, &batch);
            prop_assert_eq!(&replies, &b.apply(op, &batch));
            prop_assert_eq!(&replies, &evicting.apply(op, &batch));
            if index == middle {
                let count = evicting.ledger().transfer_count();
                evicting.evict_below(count / 2);
                let mut restore = StateMachine::decode_snapshot(&evicting.encode_snapshot(), 7).expect("valid snapshot");
                let all = b.ledger().transfers_from(0);
                for transfer in &all[..usize::try_from(restore.cold_floor()).expect("fits")] {
                    restore.cold_transfer(transfer).expect("cold transfer accepted");
                }
                c = Some(restore.finish().expect("restored"));
            } else if let Some(c) = c.as_mut() {
                prop_assert_eq!(&replies, &c.apply(op, &batch));
            }
            a.ledger().check_conservation();
            a.credit().check_lines(a.ledger());
            a.promotions().check_records().expect("promotions records");
            a.promotions().check_ledger(a.ledger(), false).expect("promotions budgets");
        }
        prop_assert_eq!(a.encode_snapshot(), b.encode_snapshot());
        prop_assert_eq!(evicting.encode_snapshot(), c.expect("snapshot taken").encode_snapshot());
    }
}

// Goal: requests in one batch take consecutive timestamps and each gets its own reply.
#[test]
fn batch_requests_take_consecutive_timestamps() {
    let mut machine = StateMachine::new(5);
    let batch = Batch {
        timestamp: 100,
        requests: vec![
            Request::CreateAccounts(vec![account(1), account(2)]),
            Request::CreateTransfers(vec![transfer(1, 1, 2, 5)]),
        ],
    };
    let replies = machine.apply(1, &batch);
    assert_eq!(replies.len(), 2);
    assert!(
        matches!(&replies[1], Reply::CreateTransfers(r) if r == &[ledger::CreateTransferResult::Ok])
    );
    assert_eq!(
        machine
            .ledger()
            .lookup_account(1)
            .expect("created")
            .0
            .timestamp,
        98
    );
    assert_eq!(
        machine
            .ledger()
            .lookup_transfer(1, &[] as &[ledger::Transfer])
            .expect("in memory")
            .expect("created")
            .timestamp,
        100
    );
    assert_eq!(machine.commit_timestamp(), 100);
}

// Goal: a promotions flow through the engine: a campaign, its funding, a claimed coupon and a
// payment carrying it, captured; the state survives a snapshot round trip and a retry answers
// `exists` after it.
#[test]
fn promotions_through_the_engine() {
    use promotions::{Command as P, PromotionResult};
    let mut machine = StateMachine::new(3);
    let requests = vec![
        Request::CreateAccounts((1..9).map(account).collect()),
        Request::CreateCampaigns(vec![campaign(0), campaign(2)]),
        Request::Promotions(vec![
            P::FundCampaign {
                id: 200,
                campaign_id: 700,
                amount: 100,
            },
            P::ClaimCoupon {
                id: 210,
                campaign_id: 700,
                user_id: 1,
                user_segments: 0,
            },
            P::Checkout {
                id: 240,
                user_id: 1,
                payer_id: 2,
                merchant_account_id: 7,
                amount: 150,
                timeout: 0,
                code: 2,
                card_issuer: 0,
                card_bin: 0,
                category: 0,
                coupons: [210, 0, 0, 0],
                capture: false,
            },
            P::CaptureCheckout {
                id: 260,
                checkout_id: 240,
            },
        ]),
    ];
    let batch = Batch {
        timestamp: 1_000 + requests.iter().map(Request::timestamp_count).sum::<u64>(),
        requests,
    };
    let replies = machine.apply(1, &batch);
    assert_eq!(
        replies[1],
        Reply::CreateCampaigns(vec![PromotionResult::Ok; 2])
    );
    assert_eq!(replies[2], Reply::Promotions(vec![PromotionResult::Ok; 4]));
    let merchant = machine.ledger().lookup_account(7).expect("merchant").0;
    assert_eq!(merchant.credits_posted, 150);
    let payer = machine.ledger().lookup_account(2).expect("payer").0;
    assert_eq!(payer.debits_posted, 110);
    let restore = StateMachine::decode_snapshot(&machine.encode_snapshot(), 9).expect("snapshot");
    let mut restored = restore.finish().expect("restored");
    assert_eq!(restored.encode_snapshot(), machine.encode_snapshot());
    let retry = Batch {
        timestamp: batch.timestamp + 10,
        requests: vec![Request::Promotions(vec![P::CaptureCheckout {
            id: 260,
            checkout_id: 240,
        }])],
    };
    assert_eq!(
        restored.apply(2, &retry),
        vec![Reply::Promotions(vec![PromotionResult::Exists])]
    );
}
