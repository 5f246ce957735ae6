//! Webhooks: `POST /v1/webhooks/stripe` (Stripe → us; no JWT, the signature authenticates), and the
//! merchant side's `GET /v1/webhooks/deliveries` and `POST /v1/webhooks/deliveries/{id}/retry`.

use super::extract::{external_id, ApiJson, ApiQuery};
use crate::auth::{Caller, Scope};
use crate::db::models::WebhookDelivery;
use crate::error::Error;
use crate::flows::webhooks::{self, Received};
use crate::flows::Services;
use crate::jobs::delivery;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// Stripe's events. 400 for a bad or stale signature (nothing stored); 200 otherwise, including
/// for an event seen before.
pub async fn stripe(
    services: web::Data<Services>,
    request: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, Error> {
    let signature = request
        .headers()
        .get("Stripe-Signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            Error::bad_request(
                "webhook_signature_missing",
                "the Stripe-Signature header is required",
            )
        })?;
    let (received, event) = webhooks::receive(&services, &body, signature).await?;
    Ok(HttpResponse::Ok().json(json!({
        "received": true,
        "id": event.id,
        "duplicate": received == Received::Duplicate,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    external_account_id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

fn delivery_json(d: WebhookDelivery) -> serde_json::Value {
    json!({
        "id": d.id,
        "event_id": d.payload_event_id(),
        "event_type": d.event_type,
        "status": d.status,
        "attempts": d.attempts,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "next_attempt_at": (d.status == crate::flows::events::PENDING).then(|| super::timestamp(d.next_attempt_at)),
        "delivered_at": d.delivered_at.map(super::timestamp),
        "created_at": super::timestamp(d.created_at),
        "payload": serde_json::from_str::<serde_json::Value>(&d.payload).unwrap_or_default(),
    })
}

pub async fn deliveries(
    services: web::Data<Services>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::PaymentsRead, &q.external_account_id)?;
    if let Some(s) = &q.status {
        if !["pending", "delivered", "failed"].contains(&s.as_str()) {
            return Err(Error::invalid(
                "status",
                "'status' must be pending, delivered or failed",
            ));
        }
    }
    let limit = super::extract::page_limit(q.limit.as_deref(), 50)?;
    let account = crate::flows::accounts::get(&services.db, account.into_string()).await?;
    let rows = delivery::list(&services.db, account.id, q.status, limit).await?;
    Ok(HttpResponse::Ok()
        .json(json!({"data": rows.into_iter().map(delivery_json).collect::<Vec<_>>()})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryRequest {
    external_account_id: String,
}

pub async fn retry(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiJson(body): ApiJson<RetryRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::PaymentsWrite, &body.external_account_id)?;
    let id = path.into_inner();
    external_id("id", &id)?;
    let account = crate::flows::accounts::get(&services.db, account.into_string()).await?;
    let row = delivery::retry(&services.db, account.id, id).await?;
    Ok(HttpResponse::Ok().json(delivery_json(row)))
}
