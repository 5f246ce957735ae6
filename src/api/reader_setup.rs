//! `POST /v1/customer/card/reader`: save a card on the reader without a sale (server-driven on a
//! smart reader with `reader_id`, else the SetupIntent's `client_secret` for the tablet's SDK);
//! `GET /v1/customer/card/reader/{setup_id}` reads how it stands (from Stripe until it ended);
//! `POST /v1/customer/card/reader/{setup_id}/cancel` stops it.

use super::cards::CardResponse;
use super::extract::{external_id, stripe_id, ApiJson, ApiQuery};
use super::payments::AccountQuery;
use crate::auth::{Caller, Scope};
use crate::error::Error;
use crate::flows::reader_setup::{self, NewReaderSetup, SetupView};
use crate::flows::Services;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use stripe_client::AllowRedisplay;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReaderSetupRequest {
    external_account_id: String,
    external_customer_id: String,
    #[serde(default)]
    reader_id: Option<String>,
    #[serde(default)]
    allow_redisplay: Option<String>,
}

/// A card setup as the API shows it.
#[derive(Serialize)]
pub struct ReaderSetupResponse {
    id: String,
    object: &'static str,
    /// `in_progress`, `succeeded`, `failed` or `canceled` (`creating` only after a crash, until
    /// the next read).
    status: &'static str,
    external_customer_id: String,
    customer_id: String,
    reader_id: Option<String>,
    setup_intent_id: Option<String>,
    allow_redisplay: String,
    /// For the tablet's Terminal SDK (`collectSetupIntentPaymentMethod`), in the answer that
    /// created a setup without `reader_id` only (null otherwise).
    client_secret: Option<String>,
    /// The card saved (a card already saved with the same fingerprint is that card).
    card: Option<CardResponse>,
    failure: Option<serde_json::Value>,
    created_at: String,
}

impl From<SetupView> for ReaderSetupResponse {
    fn from(v: SetupView) -> Self {
        let s = v.setup;
        let failure = s.failure_code.as_ref().map(|code| {
            json!({
                "code": code,
                "decline_code": s.decline_code,
                "message": s.failure_message,
            })
        });
        ReaderSetupResponse {
            id: s.id,
            object: "card_setup",
            status: s.status.as_str(),
            external_customer_id: v.customer.external_customer_id,
            customer_id: v.customer.stripe_customer_id,
            reader_id: s.stripe_reader_id,
            setup_intent_id: s.stripe_setup_intent_id,
            allow_redisplay: s.allow_redisplay,
            client_secret: v.client_secret.map(|c| c.expose().clone()),
            card: v.card.map(CardResponse::from),
            failure,
            created_at: super::timestamp(s.created_at),
        }
    }
}

pub async fn start(
    services: web::Data<Services>,
    caller: Caller,
    ApiJson(body): ApiJson<ReaderSetupRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::CardsWrite, &body.external_account_id)?;
    external_id("external_customer_id", &body.external_customer_id)?;
    if let Some(reader) = &body.reader_id {
        stripe_id("reader_id", "tmr_", "Stripe reader", reader)?;
    }
    let allow_redisplay = body
        .allow_redisplay
        .as_deref()
        .map(|v| {
            AllowRedisplay::parse(v).ok_or_else(|| {
                Error::invalid(
                    "allow_redisplay",
                    "'allow_redisplay' must be always, limited or unspecified",
                )
            })
        })
        .transpose()?;
    let view = reader_setup::start(
        &services,
        NewReaderSetup {
            external_account_id: account.into_string(),
            external_customer_id: body.external_customer_id,
            reader_id: body.reader_id,
            allow_redisplay,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(ReaderSetupResponse::from(view)))
}

/// Our setup ids are UUIDs.
fn setup_id(value: &str) -> Result<(), Error> {
    uuid::Uuid::parse_str(value)
        .map(|_| ())
        .map_err(|_| Error::invalid("setup_id", "'setup_id' must be a card setup id (a UUID)"))
}

/// `GET /v1/customer/card/reader/{setup_id}?external_account_id=…`
pub async fn get(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::CardsRead, &q.external_account_id)?;
    let id = path.into_inner();
    setup_id(&id)?;
    let view = reader_setup::refresh(&services, account.into_string(), id).await?;
    Ok(HttpResponse::Ok().json(ReaderSetupResponse::from(view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    external_account_id: String,
}

/// `POST /v1/customer/card/reader/{setup_id}/cancel`
pub async fn cancel(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiJson(body): ApiJson<CancelRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::CardsWrite, &body.external_account_id)?;
    let id = path.into_inner();
    setup_id(&id)?;
    let view = reader_setup::cancel(&services, account.into_string(), id).await?;
    Ok(HttpResponse::Ok().json(ReaderSetupResponse::from(view)))
}
