//! The promotions routes (`/v1/promotions/...`): campaigns, commands (funding, coupons,
//! payments carrying coupons, red-packet grabs, lotteries, reward coins, campaign rules), and
//! the views of campaigns with their live figures and rules, coupons, checkouts, grabs, lottery
//! prizes and draws, and coins earned.
//!
//! Same invariants as `api.rs`: every handler is registered with its OpenAPI operation; writes
//! validate the whole body before submitting, so an HTTP error means nothing was submitted;
//! per-command refusals are result names in a 200 answer, never problems. Views read applied
//! (durable) state under the node's read lock.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use engine::Request;
use promotions::Promotions;

use crate::api::{App, JsonBody, check_event_count, decimal_id, execute, json_response, path_id};
use crate::credit_api::query_u64;
use crate::paging::query_or_problem;
use crate::problem::{Problem, ProblemBody, ProblemCode, parse_json};
use crate::promotions_wire::{
    BestCouponsOutput, BestCouponsQuery, CampaignInput, CampaignOutput, CheckoutOutput,
    CoinsOutput, CouponOutput, CreateCampaignsRequest, DrawOutput, GrabOutput, PrizeOutput,
    PrizesOutput, PromotionCommandInput, PromotionCommandsRequest, PromotionResultsResponse,
};
use crate::wire::{Dec64, Dec128};

/// Create promotion campaigns (each with its budget account): one result per campaign, in
/// order.
#[utoipa::path(
    post,
    path = "/v1/promotions/campaigns",
    tag = "promotions",
    request_body(content = CreateCampaignsRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "One result per campaign, in order.", body = PromotionResultsResponse),
        (status = 400, description = "Malformed request; nothing was created.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "More than 8189 campaigns, or the body is too large.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The node is shutting down or failed.", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn create_campaigns(
    State(app): State<App>,
    JsonBody(body): JsonBody,
) -> Result<Response, Problem> {
    let request: CreateCampaignsRequest = parse_json(&body)?;
    check_event_count(request.campaigns.len())?;
    let campaigns = request
        .campaigns
        .into_iter()
        .map(CampaignInput::into_campaign)
        .collect();
    execute(&app, Request::CreateCampaigns(campaigns)).await
}

/// Execute promotions commands (fund, pause/resume/close, issue and claim coupons, checkouts
/// with their capture, void and refund, red-packet grabs, lottery prizes and draws, coins
/// earned and expired, campaign rules): one result per command, in order.
#[utoipa::path(
    post,
    path = "/v1/promotions/commands",
    tag = "promotions",
    request_body(content = PromotionCommandsRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "One result per command, in order.", body = PromotionResultsResponse),
        (status = 400, description = "Malformed request (a rule over 192 bytes too); nothing was executed.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "More than 8189 commands, or the body is too large.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The node is shutting down or failed.", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn promotion_commands(
    State(app): State<App>,
    JsonBody(body): JsonBody,
) -> Result<Response, Problem> {
    let request: PromotionCommandsRequest = parse_json(&body)?;
    check_event_count(request.commands.len())?;
    let commands = request
        .commands
        .into_iter()
        .map(PromotionCommandInput::into_command)
        .collect();
    execute(&app, Request::Promotions(commands)).await
}

/// A per-user figure of a campaign (`/campaigns/{id}/.../{user_id}`): the two ids parsed, and
/// `view(promotions, campaign, user)` read from applied state; 404 for an unknown campaign.
fn campaign_user_view(
    app: &App,
    path: Result<Path<(String, String)>, PathRejection>,
    view: impl Fn(&Promotions, u128, u128) -> u64,
) -> Result<(u128, u128, u64), Problem> {
    let Path((campaign, user)) =
        path.map_err(|rejection| Problem::new(ProblemCode::InvalidValue, rejection.body_text()))?;
    let campaign_id = decimal_id(&campaign)?;
    let user_id = decimal_id(&user)?;
    let figure = app
        .node
        .read(|sm| {
            let promotions = sm.promotions();
            promotions
                .campaign(campaign_id)
                .map(|_| view(promotions, campaign_id, user_id))
        })
        .ok_or_else(|| campaign_not_found(campaign_id))?;
    Ok((campaign_id, user_id, figure))
}

fn campaign_not_found(id: u128) -> Problem {
    Problem::new(
        ProblemCode::CampaignNotFound,
        format!("no promotion campaign with id {id}"),
    )
}

/// One campaign as created, its status, its live figures (budget balance and what is left to
/// give, funded, reserved, spent, grabbed, returned, issued, redemptions) and its rule.
#[utoipa::path(
    get,
    path = "/v1/promotions/campaigns/{id}",
    tag = "promotions",
    params(("id" = String, Path, description = "Campaign id, a decimal u128.")),
    responses(
        (status = 200, description = "The campaign.", body = CampaignOutput),
        (status = 400, description = "The id is not a decimal u128.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such campaign (`campaign_not_found`).", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn get_campaign(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let id = path_id(path)?;
    let (view, rule) = app
        .node
        .read(|sm| {
            let promotions = sm.promotions();
            promotions
                .campaign(id)
                .map(|view| (view, promotions.rule(id).map(str::to_owned)))
        })
        .ok_or_else(|| campaign_not_found(id))?;
    Ok(json_response(&CampaignOutput::new(&view, rule)))
}

/// The red packet a user grabbed from a pool (`"0"` if none).
#[utoipa::path(
    get,
    path = "/v1/promotions/campaigns/{id}/grabs/{user_id}",
    tag = "promotions",
    params(
        ("id" = String, Path, description = "Campaign id, a decimal u128."),
        ("user_id" = String, Path, description = "User id, a decimal u128.")
    ),
    responses(
        (status = 200, description = "The packet's amount.", body = GrabOutput),
        (status = 400, description = "An id is not a decimal u128.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such campaign (`campaign_not_found`).", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn get_grab(
    State(app): State<App>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, Problem> {
    let (campaign_id, user_id, amount) = campaign_user_view(&app, path, Promotions::grabbed)?;
    Ok(json_response(&GrabOutput {
        campaign_id: Dec128(campaign_id),
        user_id: Dec128(user_id),
        amount: Dec64(amount),
    }))
}

/// One coupon: its campaign, owner, status, expiry and the checkout holding it.
#[utoipa::path(
    get,
    path = "/v1/promotions/coupons/{id}",
    tag = "promotions",
    params(("id" = String, Path, description = "Coupon id, a decimal u128.")),
    responses(
        (status = 200, description = "The coupon.", body = CouponOutput),
        (status = 400, description = "The id is not a decimal u128.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such coupon (`coupon_not_found`).", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn get_coupon(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let id = path_id(path)?;
    let view = app
        .node
        .read(|sm| sm.promotions().coupon(id))
        .ok_or_else(|| {
            Problem::new(
                ProblemCode::CouponNotFound,
                format!("no coupon with id {id}"),
            )
        })?;
    Ok(json_response(&CouponOutput::new(&view)))
}

/// One checkout (a payment carrying coupons): the command as given, its status, what the
/// payer pays, the discounts and what was refunded.
#[utoipa::path(
    get,
    path = "/v1/promotions/checkouts/{id}",
    tag = "promotions",
    params(("id" = String, Path, description = "Checkout id, a decimal u128.")),
    responses(
        (status = 200, description = "The checkout.", body = CheckoutOutput),
        (status = 400, description = "The id is not a decimal u128.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such checkout (`checkout_not_found`).", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn get_checkout(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let id = path_id(path)?;
    let output = app
        .node
        .read(|sm| sm.promotions().checkout(id))
        .and_then(|view| CheckoutOutput::new(&view))
        .ok_or_else(|| {
            Problem::new(
                ProblemCode::CheckoutNotFound,
                format!("no checkout with id {id}"),
            )
        })?;
    Ok(json_response(&output))
}

/// A lottery's prizes, in order, with how many were won (none for other kinds of campaign).
#[utoipa::path(
    get,
    path = "/v1/promotions/campaigns/{id}/prizes",
    tag = "promotions",
    params(("id" = String, Path, description = "Campaign id, a decimal u128.")),
    responses(
        (status = 200, description = "The prizes.", body = PrizesOutput),
        (status = 400, description = "The id is not a decimal u128.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such campaign (`campaign_not_found`).", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn get_prizes(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let id = path_id(path)?;
    let prizes = app
        .node
        .read(|sm| {
            let promotions = sm.promotions();
            promotions.campaign(id).map(|_| promotions.prizes(id))
        })
        .ok_or_else(|| campaign_not_found(id))?;
    Ok(json_response(&PrizesOutput {
        prizes: prizes.iter().map(PrizeOutput::new).collect(),
    }))
}

/// The coins a user earned in a coins campaign (`"0"` if none).
#[utoipa::path(
    get,
    path = "/v1/promotions/campaigns/{id}/coins/{user_id}",
    tag = "promotions",
    params(
        ("id" = String, Path, description = "Campaign id, a decimal u128."),
        ("user_id" = String, Path, description = "User id, a decimal u128.")
    ),
    responses(
        (status = 200, description = "The coins earned.", body = CoinsOutput),
        (status = 400, description = "An id is not a decimal u128.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such campaign (`campaign_not_found`).", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn get_coins(
    State(app): State<App>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, Problem> {
    let (campaign_id, user_id, coins) = campaign_user_view(&app, path, Promotions::coins)?;
    Ok(json_response(&CoinsOutput {
        campaign_id: Dec128(campaign_id),
        user_id: Dec128(user_id),
        coins: Dec64(coins),
    }))
}

/// One lottery draw: who drew, its position, and the prize it won (prize 0: nothing).
#[utoipa::path(
    get,
    path = "/v1/promotions/draws/{id}",
    tag = "promotions",
    params(("id" = String, Path, description = "Draw id (the `draw_lottery` id), a decimal u128.")),
    responses(
        (status = 200, description = "The draw.", body = DrawOutput),
        (status = 400, description = "The id is not a decimal u128.", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such draw (`draw_not_found`).", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn get_draw(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let id = path_id(path)?;
    let view = app
        .node
        .read(|sm| sm.promotions().draw(id))
        .ok_or_else(|| {
            Problem::new(
                ProblemCode::DrawNotFound,
                format!("no lottery draw with id {id}"),
            )
        })?;
    Ok(json_response(&DrawOutput::new(&view)))
}

/// The best coupons for a basket: which of the user's coupons to carry on a checkout of it for
/// the largest discount the engine would grant, as of the last committed batch (the engine's
/// own checkout validation run on every arrangement of the user's best 12 coupons).
#[utoipa::path(
    get,
    path = "/v1/promotions/best-coupons",
    tag = "promotions",
    params(BestCouponsQuery),
    responses(
        (status = 200, description = "The coupons to carry, the discount and what is left to pay.", body = BestCouponsOutput),
        (status = 400, description = "A missing or malformed parameter (`invalid_value`).", body = ProblemBody, content_type = "application/problem+json")
    )
)]
pub(crate) async fn best_coupons(
    State(app): State<App>,
    query: Result<Query<BestCouponsQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let query = query_or_problem(query)?;
    let id = |name: &str, value: Option<&str>| {
        value
            .ok_or_else(|| Problem::new(ProblemCode::InvalidValue, format!("`{name}` is required")))
            .and_then(decimal_id)
    };
    let small = |name: &str, value: Option<&str>| match value {
        None => Ok(0),
        Some(_) => query_u64(name, value).and_then(|v| {
            u32::try_from(v).map_err(|_| {
                Problem::new(
                    ProblemCode::InvalidValue,
                    format!("`{name}` must be at most 2^32-1"),
                )
            })
        }),
    };
    let basket = promotions::Basket {
        user_id: id("user_id", query.user_id.as_deref())?,
        merchant_account_id: id("merchant_account_id", query.merchant_account_id.as_deref())?,
        amount: query_u64("amount", query.amount.as_deref())?,
        card_issuer: small("card_issuer", query.card_issuer.as_deref())?,
        card_bin: small("card_bin", query.card_bin.as_deref())?,
        category: small("category", query.category.as_deref())?,
    };
    let best = app.node.read(|sm| {
        sm.promotions()
            .best_coupons(sm.ledger(), sm.commit_timestamp(), &basket)
    });
    Ok(json_response(&BestCouponsOutput {
        coupons: best.coupons[..best.count]
            .iter()
            .map(|&c| Dec128(c))
            .collect(),
        discount: Dec64(best.discount),
        to_pay: Dec64(best.to_pay),
    }))
}
