//! A reader's actions for the till: `GET /v1/terminal/readers/{id}/events`, a long poll that
//! answers as soon as the reader's recorded action changes past the caller's cursor (`after`, the
//! `version` of the last answer) or when `timeout` seconds pass, and
//! `POST /v1/terminal/readers/{id}/confirm`, which has the reader confirm the payment whose card it
//! collected (`POST …/collect`, in `api::terminal`).

use super::extract::{ApiJson, ApiQuery};
use super::payments::payment_id;
use super::terminal::{reader_json, stripe_id};
use crate::auth::{Caller, Scope};
use crate::db::models::ReaderActionRow;
use crate::error::Error;
use crate::flows::reader_events::{self, DEFAULT_WAIT_SECS, MAX_WAIT_SECS};
use crate::flows::terminal;
use crate::flows::Services;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    external_account_id: String,
    /// The `version` of the caller's last answer (text: checked here, named in a 400).
    #[serde(default)]
    after: Option<String>,
    /// Seconds to wait, 0 to 30 (default 25).
    #[serde(default)]
    timeout: Option<String>,
}

fn whole(param: &str, value: &str, max: u64) -> Result<u64, Error> {
    value
        .parse::<u64>()
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| {
            Error::invalid(
                param,
                format!("'{param}' must be a whole number from 0 to {max}"),
            )
        })
}

/// The recorded action state as the API shows it (`null`: none recorded yet).
fn action_json(row: &ReaderActionRow) -> Value {
    let (Some(kind), Some(status)) = (&row.action_type, row.action_status) else {
        return Value::Null;
    };
    json!({
        "type": kind,
        "status": status.as_str(),
        "payment_id": reader_events::payment_of_row(row),
        "object_id": row.action_object,
        "failure_code": row.action_failure_code,
        "failure_message": row.action_failure_message,
        "card": row.action_card.as_deref().and_then(|c| serde_json::from_str::<Value>(c).ok()),
        "updated_at": row.action_updated_at.map(super::timestamp),
    })
}

/// Waits for the reader's next action change (long poll; see docs/decisions.md).
pub async fn events(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::Terminal, &q.external_account_id)?;
    let id = path.into_inner();
    stripe_id("id", "tmr_", &id)?;
    let after = q
        .after
        .as_deref()
        .map(|a| whole("after", a, i64::MAX as u64).map(|a| a as i64))
        .transpose()?;
    let timeout = q
        .timeout
        .as_deref()
        .map(|t| whole("timeout", t, MAX_WAIT_SECS))
        .transpose()?
        .unwrap_or(DEFAULT_WAIT_SECS);
    let waited = reader_events::wait(
        &services,
        account.into_string(),
        id,
        after,
        Duration::from_secs(timeout),
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "reader_id": waited.row.stripe_reader_id,
            "version": waited.row.action_version,
            "changed": waited.changed,
            "action": action_json(&waited.row),
        })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    external_account_id: String,
    payment_id: String,
}

/// Has the reader confirm the payment whose card it collected.
pub async fn confirm(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiJson(body): ApiJson<ConfirmRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::Terminal, &body.external_account_id)?;
    let id = path.into_inner();
    stripe_id("id", "tmr_", &id)?;
    payment_id(&body.payment_id)?;
    let (row, reader) =
        terminal::confirm(&services, account.into_string(), id, body.payment_id).await?;
    Ok(HttpResponse::Ok().json(reader_json(row, Some(reader))))
}
