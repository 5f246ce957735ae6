//! `GET /v1/payouts`, `GET /v1/payout/{id}`: the Stripe payouts of the account's Stripe account
//! and what each paid out — which of our payments and refunds (with Stripe's fees), and the
//! balance transactions we could not match. Amounts are decimals in major units; an item's gross
//! and net are signed (a refund's are negative).

use super::extract::ApiQuery;
use super::payments::AccountQuery;
use crate::auth::{Caller, Scope};
use crate::db::models::Payout;
use crate::error::Error;
use crate::flows::payouts::{self, ItemView, PayoutFilter, PayoutView, Totals};
use crate::flows::Services;
use crate::money::{decimal_string, Currency, Money};
use crate::payout_state::PayoutStatus;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

/// The sums of a payout's items.
#[derive(Serialize)]
pub struct TotalsResponse {
    gross: String,
    fees: String,
    net: String,
    count: i64,
}

impl TotalsResponse {
    fn of(t: &Totals, currency: Currency) -> TotalsResponse {
        TotalsResponse {
            gross: decimal_string(t.gross, currency),
            fees: decimal_string(t.fee, currency),
            net: decimal_string(t.net, currency),
            count: t.count,
        }
    }
}

/// One balance transaction the payout paid out.
#[derive(Serialize)]
pub struct ItemResponse {
    balance_transaction_id: String,
    /// Stripe's balance transaction type: `charge`, `refund`, `adjustment` (a dispute), …
    #[serde(rename = "type")]
    kind: String,
    /// The charge, refund, dispute or payout at Stripe that moved the money.
    source_id: Option<String>,
    /// Our payment (its `pi_…` id) and its external transaction id; null when unmatched.
    payment_id: Option<String>,
    external_transaction_id: Option<String>,
    /// The Stripe refund (`re_…`) of a refund item of ours.
    refund_id: Option<String>,
    gross: String,
    fee: String,
    net: String,
}

impl ItemResponse {
    fn of(v: ItemView, currency: Currency) -> ItemResponse {
        let (payment_id, external) = match v.payment {
            Some((pi, ext)) => (Some(pi), Some(ext)),
            None => (None, None),
        };
        ItemResponse {
            balance_transaction_id: v.item.stripe_balance_transaction_id,
            kind: v.item.transaction_type,
            source_id: v.item.stripe_source_id,
            payment_id,
            external_transaction_id: external,
            refund_id: v.item.stripe_refund_id,
            gross: decimal_string(v.item.gross, currency),
            fee: decimal_string(v.item.fee, currency),
            net: decimal_string(v.item.net, currency),
        }
    }
}

/// A payout as the API shows it.
#[derive(Serialize)]
pub struct PayoutResponse {
    id: String,
    status: PayoutStatus,
    amount: String,
    currency: String,
    arrival_date: String,
    failure_code: Option<String>,
    failure_message: Option<String>,
    /// Whether its balance transactions were fetched from Stripe (a paid payout).
    reconciled: bool,
    totals: TotalsResponse,
    external_account_id: String,
    created_at: String,
    updated_at: String,
    /// Only on `GET /v1/payout/{id}`: the items matched to our payments and refunds…
    #[serde(skip_serializing_if = "Option::is_none")]
    items: Option<Vec<ItemResponse>>,
    /// …and those we could not match.
    #[serde(skip_serializing_if = "Option::is_none")]
    unmatched: Option<Vec<ItemResponse>>,
}

impl PayoutResponse {
    fn of(p: Payout, totals: &Totals, external_account_id: &str) -> PayoutResponse {
        PayoutResponse {
            id: p.stripe_payout_id,
            status: p.status,
            amount: Money::from_minor(p.amount, p.currency).to_decimal_string(),
            currency: p.currency.code().to_string(),
            arrival_date: super::timestamp(p.arrival_date),
            failure_code: p.failure_code,
            failure_message: p.failure_message,
            reconciled: p.reconciled,
            totals: TotalsResponse::of(totals, p.currency),
            external_account_id: external_account_id.to_string(),
            created_at: super::timestamp(p.created_at),
            updated_at: super::timestamp(p.updated_at),
            items: None,
            unmatched: None,
        }
    }

    fn with_items(view: PayoutView, external_account_id: &str) -> PayoutResponse {
        let currency = view.payout.currency;
        let (matched, unmatched): (Vec<ItemView>, Vec<ItemView>) = view
            .items
            .into_iter()
            .partition(|i| i.item.payment_id.is_some());
        let mut out = PayoutResponse::of(view.payout, &view.totals, external_account_id);
        out.items = Some(
            matched
                .into_iter()
                .map(|i| ItemResponse::of(i, currency))
                .collect(),
        );
        out.unmatched = Some(
            unmatched
                .into_iter()
                .map(|i| ItemResponse::of(i, currency))
                .collect(),
        );
        out
    }
}

/// A payout id as the API takes it.
fn payout_id(param: &str, value: &str) -> Result<(), Error> {
    super::extract::stripe_id(param, "po_", "payout", value)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    external_account_id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    starting_after: Option<String>,
}

/// `GET /v1/payouts`: newest first, by status, with cursor pagination.
pub async fn list(
    services: web::Data<Services>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::PaymentsRead, &q.external_account_id)?;
    let limit = super::extract::page_limit(q.limit.as_deref(), 20)?;
    let status = super::extract::status_filter(
        q.status.as_deref(),
        PayoutStatus::parse,
        PayoutStatus::ALL.iter().map(|s| s.as_str()),
    )?;
    if let Some(cursor) = &q.starting_after {
        payout_id("starting_after", cursor)?;
    }
    let external = account.into_string();
    let filter = PayoutFilter {
        status,
        limit,
        starting_after: q.starting_after,
    };
    let (rows, has_more) = payouts::list(&services, external.clone(), filter).await?;
    let data: Vec<PayoutResponse> = rows
        .into_iter()
        .map(|(p, t)| PayoutResponse::of(p, &t, &external))
        .collect();
    Ok(super::Page::new(data, has_more, |p| Some(p.id.clone())).response())
}

/// `GET /v1/payout/{id}`: the payout with its items.
pub async fn get(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiQuery(query): ApiQuery<AccountQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::PaymentsRead, &query.external_account_id)?;
    let id = path.into_inner();
    payout_id("payout_id", &id)?;
    let external = account.into_string();
    let view = payouts::get(&services, external.clone(), id).await?;
    Ok(HttpResponse::Ok().json(PayoutResponse::with_items(view, &external)))
}
