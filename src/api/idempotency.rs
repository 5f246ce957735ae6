//! `Idempotency-Key` on our own API: a middleware over every `POST /v1/…` (except Stripe's
//! webhook endpoint) that stores the first response to a key and replays it.
//!
//! - Scope: per account and key. The account is the body's `external_account_id` (else the
//!   token's subject). The caller is authenticated and must be allowed to act for that account
//!   before anything is looked up, so a stored response never reaches another account; requests
//!   that fail either check go to the handler untouched (and get its 401/403).
//! - The row is inserted `in_progress` before the handler runs (the unique `(scope, key)` index
//!   decides a race), and completed with the status, content type and body after. The same key
//!   with another method, path or body is 409 `idempotency_key_reused`; a duplicate while the
//!   first is running is 409 `request_in_progress` (retryable).
//! - Retryable outcomes (5xx, 429, `"retryable": true`) are not stored: the row is deleted, so a
//!   retry runs again (every flow is idempotent towards Stripe). Rows older than 24 h count as
//!   absent.
//! - Crashed requests: an `in_progress` row names the server instance running it
//!   (`jobs::instances`: an id per process and a heartbeat). A duplicate takes the key over, and
//!   runs the request again, when that instance is dead — its heartbeat older than the instance
//!   timeout (15 s by default), or its row gone after a clean shutdown — or, whatever the
//!   heartbeat says, when the row is older than [`LEASE_SECS`] (the bound for a live but stuck
//!   process, and the only rule for rows claimed before instances were recorded). A key held by
//!   a killed process is thus usable again within the timeout of its last heartbeat. The takeover
//!   is a conditional delete of the very row that was judged (same id, still `in_progress`) and a
//!   fresh insert, in one write transaction: of two instances taking over at once, one deletes
//!   the row and the other's delete finds nothing (the request is then in progress again); the
//!   unique `(scope, key)` index backs this up. A live instance's key is never taken over before
//!   the lease, so two live instances never run the same key at once (short of a process that
//!   cannot reach the database for longer than the timeout yet still reaches Stripe: then the
//!   request may run twice, which every flow tolerates, as Stripe calls carry idempotency keys).
//! - Routes whose answers carry a secret ([`UNSTORED`]: the intent's and the charge's
//!   `client_secret`, a connection token) are never stored or replayed, so no secret reaches the
//!   database: the key is only checked for syntax. Their flows answer repeats themselves (the
//!   same PaymentIntent for the same `external_transaction_id`, its client secret fetched from
//!   Stripe; a fresh connection token every time, as a redeemed one cannot be reused).
//! - Stored bodies are sealed (AES-256-GCM under `POS_ENCRYPTION_KEY`, bound to the row), so what
//!   an answer carries (an embedded Checkout Session's `client_secret`, customer details) is never
//!   readable in the database.
//! - Requests without the header touch neither the database nor the body. With it, the body is
//!   buffered (up to the 64 KiB limit) and put back, so the handler's extractors and error
//!   envelopes are unchanged.

use super::extract::{external_id, idempotency_key, BODY_LIMIT};
use crate::auth::Caller;
use crate::db::api_idempotency::{COMPLETED, IN_PROGRESS};
use crate::db::models::{self, ApiIdempotency};
use crate::db::{self, Db, DbConnection, DbError, Inserted};
use crate::error;
use crate::flows::Services;
use crate::jobs::instances::Instance;
use actix_web::body::{self, EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{Error, FromRequest, HttpMessage, HttpResponse};
use futures_util::{stream, StreamExt};
use sha2::{Digest, Sha256};
use std::pin::Pin;

/// What `Payload::Stream` holds.
type BoxedPayloadStream = Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, PayloadError>>>>;

/// The header on a replayed response.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// How long a response is replayed.
const RETENTION_HOURS: i64 = 24;

/// How long an `in_progress` row holds its key at most, even when its instance still beats.
/// Longer than any request (a handler makes at most a few Stripe calls, each with its timeout and
/// retries); after it the request is presumed stuck or lost, and the next retry runs again. A
/// dead instance's keys are released sooner (see the module's documentation).
pub const LEASE_SECS: i64 = 300;

/// The Stripe → us webhook: Stripe's retries carry no key of ours.
const STRIPE_WEBHOOK: &str = "/v1/webhooks/stripe";

/// Routes whose answers carry a secret, never stored (see the module's documentation).
const UNSTORED: [&str; 3] = [
    "/v1/payment/intent",
    "/v1/payment/charge",
    "/v1/terminal/connection_token",
];

/// The middleware (`actix_web::middleware::from_fn(idempotency::middleware)`).
pub async fn middleware<B: MessageBody + 'static>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let Some(key) = keyed_post(&req) else {
        return pass(req, next).await;
    };
    // Unauthenticated: the handler answers 401, whatever the key.
    let Ok(caller) = Caller::extract(req.request()).await else {
        return pass(req, next).await;
    };
    let key = match key {
        Ok(key) => key,
        Err(e) => return Ok(req.error_response(e).map_into_right_body()),
    };
    let Some(body) = buffer(&mut req).await else {
        return pass(req, next).await;
    };
    let (account, canonical) = read_body(&body);
    // The account goes into the database as the key's scope: checked as the handler would.
    if let Some(Err(e)) = account
        .as_deref()
        .map(|a| external_id("external_account_id", a))
    {
        return Ok(req.error_response(e).map_into_right_body());
    }
    let scope = match account {
        Some(account) if caller.require_account(&account).is_err() => {
            return pass(req, next).await;
        }
        Some(account) => format!("account:{account}"),
        None => format!("subject:{}", caller.subject),
    };
    // The token's scopes are part of "the same request": a narrower token never gets a replay of
    // what a broader one was answered.
    let fingerprint = fingerprint(
        &req,
        caller.scope_bits(),
        canonical.as_deref().unwrap_or(&body),
    );
    let Some(services) = req.app_data::<web::Data<Services>>().cloned() else {
        return Err(error::Error::internal("Services missing from app data").into());
    };
    let Some(instance) = req.app_data::<web::Data<Instance>>().cloned() else {
        return Err(error::Error::internal("Instance missing from app data").into());
    };
    let db = services.db.clone();

    let id = match begin(&db, instance, scope, key, fingerprint).await {
        Ok(Begin::Run(id)) => id,
        Ok(Begin::Replay(row)) => {
            log::debug!("Idempotency-Key: replaying {}", row.id);
            let response = replayed(&services, *row).unwrap_or_else(HttpResponse::from_error);
            return Ok(req.into_response(response).map_into_right_body());
        }
        Ok(Begin::Reused) => {
            let e = error::Error::conflict(
                "idempotency_key_reused",
                "this Idempotency-Key was already used with a different request \
                 (method, path or body); use a new key for a new request",
            )
            .with_param("Idempotency-Key");
            return Ok(req.error_response(e).map_into_right_body());
        }
        Ok(Begin::InProgress) => {
            let mut e = error::Error::conflict(
                "request_in_progress",
                "a request with this Idempotency-Key is still being processed; retry shortly",
            );
            e.retryable = true;
            let mut response = req.error_response(e);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Ok(response.map_into_right_body());
        }
        Err(e) => return Ok(req.error_response(e).map_into_right_body()),
    };

    let response = match next.call(req).await {
        Ok(response) => response,
        Err(e) => {
            abandon(&db, id).await;
            return Err(e);
        }
    };
    let (req, response) = response.into_parts();
    let (head, response_body) = response.into_parts();
    let bytes = match body::to_bytes(response_body).await {
        Ok(bytes) => bytes,
        Err(e) => {
            abandon(&db, id).await;
            let e: Box<dyn std::error::Error> = e.into();
            return Err(error::Error::internal(format!("reading the response: {e}")).into());
        }
    };
    let status = head.status();
    let content_type = head
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match storable(status, &bytes) {
        Some(text) => {
            let sealed = services.secrets.seal(&text, &seal_context(&id));
            complete(&db, id, status, content_type, sealed).await
        }
        None => abandon(&db, id).await,
    }
    let response = head.set_body(bytes).map_into_boxed_body();
    Ok(ServiceResponse::new(req, response).map_into_right_body())
}

async fn pass<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// The key (or why it is invalid) of a POST under `/v1/` that carries one; `None` for every
/// other request, decided from the request line and headers alone. On an [`UNSTORED`] route
/// only an invalid key counts.
fn keyed_post(req: &ServiceRequest) -> Option<Result<String, error::Error>> {
    let path = req.path().trim_end_matches('/');
    let applies =
        req.method() == Method::POST && path.starts_with("/v1/") && path != STRIPE_WEBHOOK;
    if !applies {
        return None;
    }
    let key = idempotency_key(req.request()).transpose()?;
    if UNSTORED.contains(&path) && key.is_ok() {
        return None;
    }
    Some(key)
}

/// Reads the whole body and puts it back for the handler. `None` when it is over the limit or
/// cannot be read: the handler then gets the same stream it would have had (what was read, then
/// the rest or the error) and answers as it always does (413, 400).
async fn buffer(req: &mut ServiceRequest) -> Option<Bytes> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > BODY_LIMIT) {
        return None;
    }
    let mut payload = req.take_payload();
    let mut read = BytesMut::new();
    let failure: Option<PayloadError> = loop {
        match payload.next().await {
            None => {
                let bytes = read.freeze();
                req.set_payload(Payload::from(bytes.clone()));
                return Some(bytes);
            }
            Some(Ok(chunk)) => {
                read.extend_from_slice(&chunk);
                if read.len() > BODY_LIMIT {
                    break None;
                }
            }
            Some(Err(e)) => break Some(e),
        }
    };
    let head = stream::iter([Ok(read.freeze())]);
    let stream: BoxedPayloadStream = match failure {
        None => Box::pin(head.chain(payload)),
        Some(e) => Box::pin(head.chain(stream::iter([Err(e)]))),
    };
    req.set_payload(Payload::Stream { payload: stream });
    None
}

/// The body's `external_account_id` and its canonical form (sorted keys, no whitespace), when
/// the body is JSON.
fn read_body(body: &[u8]) -> (Option<String>, Option<Vec<u8>>) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (None, None);
    };
    let account = value
        .get("external_account_id")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    (account, serde_json::to_vec(&value).ok())
}

/// What identifies "the same request": method, path and query, the caller's scopes, body.
fn fingerprint(req: &ServiceRequest, scopes: u8, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update([scopes]);
    hash.update(req.method().as_str());
    hash.update(b"\n");
    hash.update(
        req.uri()
            .path_and_query()
            .map_or(req.path(), |p| p.as_str()),
    );
    hash.update(b"\n");
    hash.update(body);
    hex::encode(hash.finalize())
}

/// The outcome of claiming a key.
enum Begin {
    /// The key is ours: run the handler, then complete or abandon row `id`.
    Run(String),
    Replay(Box<ApiIdempotency>),
    Reused,
    InProgress,
}

/// Claims `(scope, key)`, or says why not. Two concurrent first requests both insert; the loser
/// finds the key taken (`Inserted::Duplicate`) and goes round again, to find the winner's row.
async fn begin(
    db: &Db,
    instance: web::Data<Instance>,
    scope: String,
    key: String,
    fingerprint: String,
) -> Result<Begin, error::Error> {
    for _ in 0..3 {
        let (scope, key, fingerprint) = (scope.clone(), key.clone(), fingerprint.clone());
        let instance = instance.clone();
        let claimed = db
            .run(move |conn| {
                // A lost claim is only a missed duplicate after a database crash.
                db::relaxed_write_transaction(conn, |c| {
                    claim(c, &instance, scope, key, fingerprint)
                })
            })
            .await
            .map_err(error::Error::from)?;
        if let Some(begin) = claimed {
            return Ok(begin);
        }
    }
    Ok(Begin::InProgress)
}

/// `None`: another request claimed the key meanwhile (go round again).
fn claim(
    conn: &mut DbConnection,
    instance: &Instance,
    scope: String,
    key: String,
    fingerprint: String,
) -> Result<Option<Begin>, DbError> {
    let now = models::now();
    let existing = db::api_idempotency::find(conn, &scope, &key)?;
    if let Some(row) = existing {
        if row.created_at > now - chrono::Duration::hours(RETENTION_HOURS) {
            if row.request_fingerprint != fingerprint {
                return Ok(Some(Begin::Reused));
            }
            if row.status == COMPLETED {
                return Ok(Some(Begin::Replay(Box::new(row))));
            }
            if still_held(conn, instance, &row, now)? {
                return Ok(Some(Begin::InProgress));
            }
            log::warn!(
                "Idempotency-Key: taking over request {} from instance {}",
                row.id,
                row.instance_id.as_deref().unwrap_or("(unrecorded)")
            );
        }
        // Only the row judged above: if another instance took it over (or it completed) since,
        // the request is in progress (or done) and the caller's retry finds out which.
        if !db::api_idempotency::delete_in_status(conn, &row.id, &row.status)? {
            return Ok(Some(Begin::InProgress));
        }
    }
    let row = ApiIdempotency {
        id: models::new_id(),
        scope,
        idempotency_key: key,
        request_fingerprint: fingerprint,
        status: IN_PROGRESS.to_string(),
        response_status: None,
        response_content_type: None,
        response_body: None,
        created_at: now,
        completed_at: None,
        instance_id: Some(instance.id.clone()),
    };
    Ok(match db::api_idempotency::insert(conn, &row)? {
        Inserted::New(()) => Some(Begin::Run(row.id)),
        Inserted::Duplicate => None,
    })
}

/// Whether an `in_progress` row still holds its key: within the lease, and run by a live instance
/// (a row from before instances were recorded: the lease alone).
fn still_held(
    conn: &mut DbConnection,
    instance: &Instance,
    row: &ApiIdempotency,
    now: chrono::NaiveDateTime,
) -> Result<bool, DbError> {
    if row.created_at <= now - chrono::Duration::seconds(LEASE_SECS) {
        return Ok(false);
    }
    match &row.instance_id {
        None => Ok(true),
        Some(holder) => instance.is_alive(conn, holder),
    }
}

/// The response body to store, or `None` for an outcome a retry should re-run: 5xx, 429, an
/// envelope saying `"retryable": true` (and a body that is not text, which we never produce).
fn storable(status: StatusCode, body: &Bytes) -> Option<String> {
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let retryable = serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| {
        v.pointer("/error/retryable") == Some(&serde_json::Value::Bool(true))
            || v.get("retryable") == Some(&serde_json::Value::Bool(true))
    });
    if retryable {
        return None;
    }
    String::from_utf8(body.to_vec()).ok()
}

async fn complete(
    db: &Db,
    id: String,
    status: StatusCode,
    content_type: Option<String>,
    body: String,
) {
    let done = db
        .run(move |conn| {
            db::write_alone(conn, |c| {
                db::api_idempotency::complete(
                    c,
                    &id,
                    i64::from(status.as_u16()),
                    content_type,
                    body,
                )
            })
            .map_err(DbError::from)
        })
        .await;
    if let Err(e) = done {
        // The caller has its answer; a retry waits for the lease (or this instance's death),
        // then runs again.
        log::error!("Idempotency-Key: could not store the response: {e}");
    }
}

/// Frees the key, so that a retry runs the request again.
async fn abandon(db: &Db, id: String) {
    let done = db
        .run(move |conn| db::api_idempotency::delete(conn, &id).map_err(DbError::from))
        .await;
    if let Err(e) = done {
        log::error!("Idempotency-Key: could not release a key: {e}");
    }
}

/// What a stored body is sealed to: its own row, so no body can be moved to another key.
fn seal_context(row_id: &str) -> String {
    format!("api_idempotency:{row_id}")
}

/// The stored response, marked `Idempotent-Replayed: true`.
fn replayed(services: &Services, row: ApiIdempotency) -> Result<HttpResponse, error::Error> {
    let status = row
        .response_status
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| {
            error::Error::internal(format!("stored response {} has no status", row.id))
        })?;
    let mut response = HttpResponse::build(status);
    if let Some(content_type) = row.response_content_type {
        response.insert_header((header::CONTENT_TYPE, content_type));
    }
    response.insert_header((
        HeaderName::from_static(REPLAYED_HEADER),
        HeaderValue::from_static("true"),
    ));
    let body = services
        .secrets
        .open(
            row.response_body.as_deref().unwrap_or_default(),
            &seal_context(&row.id),
        )
        .map_err(|e| error::Error::internal(format!("stored response {}: {e}", row.id)))?;
    Ok(response.body(body.expose().clone()))
}
