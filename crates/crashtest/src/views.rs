//! What the credit and promotions engines keep beside the ledger, checked after each restart:
//! the red-packet pools' packets against the double-average draw, and the server's HTTP views
//! of lines, campaigns, grabs and coupons against the model.
//!
//! The ledger holds the money (checked in `check.rs` with every other account); recovery
//! rebuilds the products' own state separately (a line's unbilled principal and cycle totals, a
//! pool's packets and who grabbed them, coupons), and only these views show it. No day-close
//! runs, so a line's view follows from its account as the model has it: held = pending debits
//! (open authorizations), purchases = posted debits (captures), repayments = posted credits,
//! balance = purchases - repayments, unbilled and credit balance its positive and negative
//! parts.
//!
//! A pool's packets, by position (`user_data_64` of the grab's transfer): the positions found
//! follow on from the earlier ones with no gap or repeat (a gap is a packet lost, a repeat one
//! paid twice), each amount is `promotions::double_average` for its position, a pool pays no
//! more packets than its stock and no more than its amount, and a pool that answered
//! `pool_empty` has paid every packet.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use ledger::Transfer;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::check::{Balance, Model};
use crate::products::{COUPON_CAMPAIGN, LINE_LIMIT, LINES, POOLS};

/// A coupon as its view shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coupon {
    pub campaign_id: u128,
    pub user_id: u128,
    pub status: String,
}

/// `GET path` over HTTP/1.0 (so the body comes whole, never chunked): the status and the JSON
/// body. A failure is itself a finding: the restarted server must answer.
async fn get(http: SocketAddr, path: &str) -> Result<(u16, Value), String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(http).await?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {http}\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .map_err(|_| format!("GET {path}: no answer in 30 s"))?
        .map_err(|error| format!("GET {path}: {error}"))?;
    let text = String::from_utf8_lossy(&response);
    let parsed = text.split_once("\r\n\r\n").and_then(|(head, body)| {
        let status = head.split(' ').nth(1)?.parse().ok()?;
        Some((status, serde_json::from_str(body).ok()?))
    });
    parsed.ok_or_else(|| format!("GET {path}: not an HTTP answer with a JSON body: {text}"))
}

/// A number of a view: a decimal string (u64, u128, i128 fields) or a JSON number.
fn number(view: &Value, pointer: &str) -> Option<i128> {
    let field = view.pointer(pointer)?;
    match field.as_str() {
        Some(text) => text.parse().ok(),
        None => field.as_i64().map(i128::from),
    }
}

/// Compares the view's fields with what they must be: the differences.
fn compare(what: &str, view: &Value, expected: &[(&str, i128)]) -> Vec<String> {
    expected
        .iter()
        .filter(|(pointer, value)| number(view, pointer) != Some(*value))
        .map(|(pointer, value)| {
            let found = view.pointer(pointer).cloned().unwrap_or(Value::Null);
            format!("{what}: {pointer} is {found}, the model says {value}")
        })
        .collect()
}

/// The coupons found among `ids` (an absent one answers 404).
pub async fn coupons(http: SocketAddr, ids: &[u128]) -> Result<BTreeMap<u128, Coupon>, String> {
    let mut found = BTreeMap::new();
    for &id in ids {
        let (status, view) = get(http, &format!("/v1/promotions/coupons/{id}")).await?;
        match status {
            404 => continue,
            200 => {}
            _ => return Err(format!("coupon {id}: the view answered {status}: {view}")),
        }
        let coupon = Coupon {
            campaign_id: number(&view, "/campaign_id").map_or(0, i128::unsigned_abs),
            user_id: number(&view, "/user_id").map_or(0, i128::unsigned_abs),
            status: view["status"].as_str().unwrap_or_default().to_string(),
        };
        found.insert(id, coupon);
    }
    Ok(found)
}

/// Every line's view against its account in the model.
async fn check_lines(http: SocketAddr, model: &Model) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    for id in LINES {
        let (status, view) = get(http, &format!("/v1/credit/lines/{id}")).await?;
        if status != 200 || view["status"] != "active" {
            problems.push(format!("line {id}: the view answered {status}: {view}"));
            continue;
        }
        let Balance {
            debits_pending,
            debits_posted,
            credits_posted,
            ..
        } = model.balances[&id];
        let [held, purchases, repayments] =
            [debits_pending, debits_posted, credits_posted].map(|v| v.cast_signed());
        let balance = purchases - repayments;
        let expected = [
            ("/held", held),
            ("/cycle/purchases", purchases),
            ("/cycle/repayments", repayments),
            ("/balance", balance),
            ("/unbilled", balance.max(0)),
            ("/credit_balance", (-balance).max(0)),
            (
                "/available",
                (i128::from(LINE_LIMIT) - balance - held).max(0),
            ),
        ];
        problems.extend(compare(&format!("line {id}"), &view, &expected));
    }
    Ok(problems)
}

/// The campaigns' views: the pools' packets and amounts, the coupons claimed.
async fn check_campaigns(http: SocketAddr, model: &Model) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    let pools = POOLS.iter().zip(&model.packets).map(|(pool, packets)| {
        let grabbed = i128::from(packets.iter().sum::<u64>());
        let issued = packets.len() as i128;
        let funded = i128::from(pool.amount);
        let expected = vec![
            ("/funded", funded),
            ("/grabbed", grabbed),
            ("/issued", issued),
            ("/budget_balance", funded - grabbed),
            ("/stock_left", i128::from(pool.stock) - issued),
        ];
        (pool.campaign_id, expected)
    });
    let coupons = (
        COUPON_CAMPAIGN,
        vec![("/issued", i128::from(model.coupons)), ("/funded", 0)],
    );
    for (id, expected) in pools.chain([coupons]) {
        let (status, view) = get(http, &format!("/v1/promotions/campaigns/{id}")).await?;
        if status != 200 || view["status"] != "active" {
            problems.push(format!("campaign {id}: the view answered {status}: {view}"));
            continue;
        }
        problems.extend(compare(&format!("campaign {id}"), &view, &expected));
    }
    Ok(problems)
}

/// Lines, campaigns, and the packet each of `grabs` (pool, user, amount; 0 for none) shows.
pub async fn check_views(
    http: SocketAddr,
    model: &Model,
    grabs: &[(usize, u128, u64)],
) -> Result<Vec<String>, String> {
    let mut problems = check_lines(http, model).await?;
    problems.extend(check_campaigns(http, model).await?);
    for &(pool, user_id, amount) in grabs {
        let campaign_id = POOLS[pool].campaign_id;
        let path = format!("/v1/promotions/campaigns/{campaign_id}/grabs/{user_id}");
        let (status, view) = get(http, &path).await?;
        let what = format!("user {user_id}'s packet of pool {campaign_id}");
        if status == 200 {
            problems.extend(compare(&what, &view, &[("/amount", i128::from(amount))]));
        } else {
            problems.push(format!("{what}: the view answered {status}: {view}"));
        }
    }
    Ok(problems)
}

/// Adds the packets found this cycle (pool, transfer) to `packets` (per pool, by position) and
/// checks them (module header); `emptied`: the pools that answered `pool_empty` this cycle.
pub fn check_packets(
    packets: &mut [Vec<u64>],
    mut found: Vec<(usize, Transfer)>,
    emptied: &[bool],
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut broken = vec![false; POOLS.len()];
    found.sort_by_key(|(pool, transfer)| (*pool, transfer.user_data_64));
    for (pool, transfer) in found {
        let config = POOLS[pool];
        let paid = &mut packets[pool];
        let position = paid.len() as u64;
        let grabbed: u64 = paid.iter().sum();
        let what = format!("pool {}: packet {}", config.campaign_id, transfer.id);
        let left = (
            config.amount.checked_sub(grabbed),
            u64::from(config.stock).checked_sub(position),
        );
        let problem = match left {
            _ if broken[pool] => continue,
            _ if transfer.user_data_64 != position => format!(
                "{what} is at position {}, the next is {position} (a packet lost or paid twice)",
                transfer.user_data_64
            ),
            (Some(amount_left), Some(count_left))
                if count_left > 0 && amount_left >= count_left =>
            {
                let count_left = u32::try_from(count_left).expect("below the stock");
                let position = u32::try_from(position).expect("below the stock");
                let expected =
                    promotions::double_average(amount_left, count_left, config.seed, position);
                if transfer.amount == u128::from(expected) {
                    paid.push(expected);
                    continue;
                }
                format!(
                    "{what} is {}, the draw for its position {expected}",
                    transfer.amount
                )
            }
            _ => format!(
                "{what} is paid beyond the pool: {position} packets of {} paid, {grabbed} of {}",
                config.stock, config.amount
            ),
        };
        problems.push(problem);
        broken[pool] = true;
    }
    for ((config, paid), emptied) in POOLS.iter().zip(packets.iter()).zip(emptied) {
        if *emptied && paid.len() != config.stock as usize {
            problems.push(format!(
                "pool {} answered pool_empty with {} of its {} packets paid",
                config.campaign_id,
                paid.len(),
                config.stock
            ));
        }
    }
    problems
}
