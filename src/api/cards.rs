//! `POST /v1/customer/card`: save the card of a captured payment on the customer.

use super::extract::{external_id, ApiJson};
use super::payments::payment_id;
use crate::auth::{Caller, Scope};
use crate::error::Error;
use crate::flows::cards::{self, CardView};
use crate::flows::Services;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaveCardRequest {
    payment_id: String,
    external_customer_id: String,
    external_account_id: String,
}

/// A saved card as the API shows it.
#[derive(Serialize)]
pub struct CardResponse {
    id: String,
    payment_method_id: String,
    customer_id: String,
    external_customer_id: String,
    brand: String,
    last4: String,
    exp_month: i64,
    exp_year: i64,
    /// False for a card saved in another Stripe context (the merchant's key or connected account
    /// changed since) or deleted: `POST /v1/payment/charge` refuses it.
    chargeable: bool,
    created_at: String,
}

impl From<CardView> for CardResponse {
    fn from(v: CardView) -> Self {
        CardResponse {
            id: v.card.id,
            payment_method_id: v.card.stripe_payment_method_id,
            customer_id: v.customer.stripe_customer_id,
            external_customer_id: v.customer.external_customer_id,
            brand: v.card.brand,
            last4: v.card.last4,
            exp_month: v.card.exp_month,
            exp_year: v.card.exp_year,
            chargeable: v.chargeable,
            created_at: super::timestamp(v.card.created_at),
        }
    }
}

pub async fn save(
    services: web::Data<Services>,
    caller: Caller,
    ApiJson(body): ApiJson<SaveCardRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::CardsWrite, &body.external_account_id)?;
    payment_id(&body.payment_id)?;
    external_id("external_customer_id", &body.external_customer_id)?;
    let view = cards::save_from_payment(
        &services,
        account.into_string(),
        body.payment_id,
        body.external_customer_id,
    )
    .await?;
    Ok(HttpResponse::Ok().json(CardResponse::from(view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardsQuery {
    external_account_id: String,
    external_customer_id: String,
}

/// `GET /v1/customer/cards`: the customer's saved cards, newest first.
pub async fn list(
    services: web::Data<Services>,
    caller: Caller,
    super::extract::ApiQuery(q): super::extract::ApiQuery<CardsQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::CardsRead, &q.external_account_id)?;
    external_id("external_customer_id", &q.external_customer_id)?;
    let cards = cards::list(&services, account.into_string(), q.external_customer_id).await?;
    let data: Vec<CardResponse> = cards.into_iter().map(CardResponse::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": data })))
}

/// `DELETE /v1/customer/card/{id}?external_account_id=…`: detaches the card at Stripe.
pub async fn delete(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    super::extract::ApiQuery(q): super::extract::ApiQuery<super::payments::AccountQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::CardsWrite, &q.external_account_id)?;
    let id = path.into_inner();
    external_id("id", &id)?;
    let view = cards::delete(&services, account.into_string(), id).await?;
    let mut body = serde_json::to_value(CardResponse::from(view)).map_err(Error::internal)?;
    body["deleted"] = serde_json::Value::Bool(true);
    Ok(HttpResponse::Ok().json(body))
}
