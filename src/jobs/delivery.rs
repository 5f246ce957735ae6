//! Delivers the merchant-event outbox: claims due rows (on PostgreSQL with `FOR UPDATE SKIP
//! LOCKED`, so several instances share the work and each event goes out once; on SQLite one writer
//! at a time), POSTs each to the account's `webhook_url` signed with `Pos-Signature`, and records
//! the outcome: delivered, or retried with exponential backoff over about a day, then failed.

use crate::clock::Clock;
use crate::db::models::{now, Account, WebhookDelivery};
use crate::db::webhook_deliveries::Attempt;
use crate::db::{self, write_transaction, Db, DbConnection};
use crate::error::Error;
use crate::flows::events::{DELIVERED, FAILED, PENDING};
use crate::flows::Services;
use chrono::NaiveDateTime;
use std::time::Duration;

/// Waits between attempts, in units of `DeliveryConfig::backoff_unit` (seconds in production):
/// 10 s, 30 s, 1 min, 5 min, 15 min, 30 min, 1 h, 2 h, 4 h, 8 h, 8 h — about 24 h in all, so the
/// twelfth failed attempt is the last.
pub const BACKOFF: [u64; 11] = [10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 28800];

/// How long a claimed row is reserved for the worker that claimed it.
const LEASE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub poll_interval: Duration,
    pub backoff_unit: Duration,
    pub timeout: Duration,
    pub batch: i64,
    /// What "due" and "later" are measured against.
    pub clock: Clock,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            poll_interval: Duration::from_secs(1),
            backoff_unit: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            batch: 20,
            clock: Clock::system(),
        }
    }
}

/// Runs forever: claims due deliveries and sends them.
pub async fn run(services: std::sync::Arc<Services>, config: DeliveryConfig) {
    let http = reqwest::Client::builder()
        .timeout(config.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client for webhooks");
    loop {
        match deliver_due(&services, &http, &config).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => log::warn!("webhook delivery: {e}"),
        }
        tokio::time::sleep(config.poll_interval).await;
    }
}

/// Claims and sends one batch; returns how many were attempted.
pub async fn deliver_due(
    services: &Services,
    http: &reqwest::Client,
    config: &DeliveryConfig,
) -> Result<usize, Error> {
    let (batch, at) = (config.batch, config.clock.now());
    let claimed = services.db.run(move |conn| claim(conn, batch, at)).await?;
    let count = claimed.len();
    let sends = claimed
        .into_iter()
        .map(|(delivery, account)| send(services, http, config, delivery, account));
    for result in futures_util::future::join_all(sends).await {
        result?;
    }
    Ok(count)
}

/// Reserves up to `batch` rows due at `at` for this worker by moving their next attempt past the
/// lease.
fn claim(
    conn: &mut DbConnection,
    batch: i64,
    at: NaiveDateTime,
) -> Result<Vec<(WebhookDelivery, Account)>, Error> {
    write_transaction(conn, |conn| {
        let lease = at + chrono::Duration::from_std(LEASE).expect("lease fits");
        let rows = db::webhook_deliveries::claim_due(conn, batch, at, lease)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let account_ids: Vec<&str> = rows.iter().map(|r| r.account_id.as_str()).collect();
        let owners = db::accounts::by_ids(conn, &account_ids)?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let owner = owners.iter().find(|a| a.id == row.account_id)?.clone();
                Some((row, owner))
            })
            .collect())
    })
}

async fn send(
    services: &Services,
    http: &reqwest::Client,
    config: &DeliveryConfig,
    delivery: WebhookDelivery,
    account: Account,
) -> Result<(), Error> {
    let outcome = match (&account.webhook_url, &account.webhook_secret_enc) {
        (Some(url), Some(sealed)) => {
            let secret = services
                .secrets
                .open(
                    sealed,
                    &crate::flows::accounts::webhook_secret_context(&account),
                )
                .map_err(Error::internal)?;
            // The receiver checks the signature's age against its own clock: the system's.
            let timestamp = chrono::Utc::now().timestamp();
            let signature = stripe_client::webhook::sign(
                secret.expose(),
                timestamp,
                delivery.payload.as_bytes(),
            );
            let response = http
                .post(url)
                .header("Content-Type", "application/json")
                .header("Pos-Signature", signature)
                .header("Pos-Event-Id", delivery.payload_event_id())
                .header("Pos-Event-Type", &delivery.event_type)
                .body(delivery.payload.clone())
                .send()
                .await;
            match response {
                Ok(r) if r.status().is_success() => Ok(r.status().as_u16()),
                Ok(r) => Err((
                    Some(r.status().as_u16()),
                    format!("HTTP {}", r.status().as_u16()),
                )),
                Err(e) => Err((
                    None,
                    if e.is_timeout() {
                        "timed out".to_string()
                    } else {
                        format!("connection failed: {}", root_cause(&e))
                    },
                )),
            }
        }
        _ => Err((None, "the account has no webhook URL".to_string())),
    };
    let attempts = delivery.attempts + 1;
    let at = config.clock.now();
    let id = delivery.id.clone();
    let (status, last_status, last_error, next, delivered_at): (
        &'static str,
        Option<i64>,
        Option<String>,
        NaiveDateTime,
        Option<NaiveDateTime>,
    ) = match outcome {
        Ok(code) => (DELIVERED, Some(code as i64), None, at, Some(at)),
        Err((code, error)) => match BACKOFF.get(attempts as usize - 1) {
            Some(units) => {
                let wait = config.backoff_unit * (*units as u32);
                let next = at
                    + chrono::Duration::from_std(wait)
                        .unwrap_or_else(|_| chrono::Duration::hours(8));
                (PENDING, code.map(i64::from), Some(error), next, None)
            }
            None => (FAILED, code.map(i64::from), Some(error), at, None),
        },
    };
    if let Some(error) = &last_error {
        let after = if status == FAILED {
            "no attempt left: the delivery failed (POST /v1/webhooks/deliveries/{id}/retry sends it again)".to_string()
        } else {
            format!("next attempt at {} UTC", next.format("%Y-%m-%d %H:%M:%S"))
        };
        log::warn!(
            "merchant webhook {} ({}) for account {} to {}: attempt {attempts} of {} failed: {error}; {after}",
            delivery.id,
            delivery.event_type,
            account.external_account_id,
            account
                .webhook_url
                .as_deref()
                .map_or("(no webhook URL)".to_string(), shown_url),
            BACKOFF.len() + 1,
        );
    }
    services
        .db
        .run(move |conn| {
            let attempt = Attempt {
                status,
                attempts,
                last_status,
                last_error,
                next_attempt_at: next,
                delivered_at,
            };
            db::webhook_deliveries::record_attempt(conn, &id, attempt).map_err(Error::from)
        })
        .await
}

/// The innermost cause of a failed request ("Connection refused (os error 111)", "dns error: …"),
/// which names the problem; the outer ones only say a request failed (and may carry the URL).
fn root_cause(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// A merchant's URL for the log: without credentials or query string, which may hold a token.
fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.set_fragment(None);
            parsed.to_string()
        }
        Err(_) => "(unparsable URL)".to_string(),
    }
}

impl WebhookDelivery {
    /// The `id` inside the payload (`evt_…`), which merchants deduplicate on.
    pub fn payload_event_id(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.payload)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// Deliveries of an account, newest first, optionally of one status.
pub async fn list(
    db: &Db,
    account_id: String,
    status: Option<String>,
    limit: i64,
) -> Result<Vec<WebhookDelivery>, Error> {
    db.run(move |conn| {
        db::webhook_deliveries::list(conn, &account_id, status.as_deref(), limit)
            .map_err(Error::from)
    })
    .await
}

/// Schedules a delivery again at once (a failed one too), keeping its attempt count.
pub async fn retry(db: &Db, account_id: String, id: String) -> Result<WebhookDelivery, Error> {
    db.run(move |conn| {
        db::webhook_deliveries::reschedule(conn, &account_id, &id, now())?
            .ok_or_else(|| Error::not_found("no such delivery"))
    })
    .await
}
