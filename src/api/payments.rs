//! `POST /v1/payment/intent`, `POST /v1/payment/capture`, `POST /v1/payment/increment`,
//! `GET /v1/payment/{id}`.

use super::extract::{external_id, ApiJson, ApiQuery};
use crate::auth::{AuthorizedAccount, Caller, Scope};
use crate::error::Error;
use crate::flows::payments::{
    self, AuthorizationRequest, NewIntent, PaymentView, RESERVED_METADATA,
};
use crate::flows::Services;
use crate::money::{check_decimal, Currency, DecimalText, MinorUnits, Money};
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `"card_present"` or a list of payment method types.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentRequest {
    external_account_id: String,
    amount: DecimalText,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    payment_method_types: Option<OneOrMany>,
    #[serde(default)]
    capture_method: Option<String>,
    external_transaction_id: String,
    #[serde(default)]
    external_customer_id: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
    // Authorisations that grow or last (card-present, manual capture).
    #[serde(default)]
    request_incremental_authorization_support: Option<bool>,
    #[serde(default)]
    request_extended_authorization: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureRequest {
    payment_id: String,
    #[serde(default)]
    amount: Option<DecimalText>,
    external_account_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountQuery {
    pub external_account_id: String,
}

#[derive(Serialize)]
struct HistoryEntry {
    action: String,
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount: Option<String>,
    actor: String,
    at: String,
    /// For `ignored` entries: the update that was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// A payment as the API shows it.
#[derive(Serialize)]
pub struct PaymentResponse {
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    status: String,
    amount: String,
    amount_capturable: String,
    amount_captured: String,
    amount_refunded: String,
    currency: String,
    capture_method: String,
    payment_method_types: Vec<String>,
    external_account_id: String,
    external_transaction_id: String,
    external_customer_id: Option<String>,
    customer_id: Option<String>,
    description: Option<String>,
    metadata: BTreeMap<String, String>,
    created_at: String,
    updated_at: String,
    // Tips and authorisations that grow or last.
    amount_tip: String,
    capture_before: Option<String>,
    incremental_authorization_supported: Option<bool>,
    overcapture_supported: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<Vec<HistoryEntry>>,
}

impl PaymentResponse {
    pub fn from_view(view: PaymentView, with_history: bool) -> PaymentResponse {
        let p = view.payment;
        let currency = p.currency;
        let amount = |minor: MinorUnits| Money::from_minor(minor, currency).to_decimal_string();
        let history = with_history.then(|| {
            view.history
                .into_iter()
                .map(|h| HistoryEntry {
                    action: h.action,
                    status: h.status.to_string(),
                    amount: h.amount.map(amount),
                    actor: h.actor,
                    at: super::timestamp(h.created_at),
                    detail: h.detail,
                })
                .collect()
        });
        PaymentResponse {
            id: p.stripe_payment_intent_id,
            client_secret: view.client_secret.map(|s| s.expose().clone()),
            status: p.status.to_string(),
            amount: amount(p.amount),
            amount_capturable: amount(p.amount_capturable),
            amount_captured: amount(p.amount_captured),
            amount_refunded: amount(p.amount_refunded),
            currency: currency.code().to_string(),
            capture_method: p.capture_method,
            payment_method_types: p.payment_method_types.0,
            external_account_id: view.external_account_id,
            external_transaction_id: p.external_transaction_id,
            external_customer_id: view
                .customer
                .as_ref()
                .map(|c| c.external_customer_id.clone()),
            customer_id: view.customer.map(|c| c.stripe_customer_id),
            description: p.description,
            metadata: p
                .metadata
                .as_deref()
                .and_then(|m| serde_json::from_str(m).ok())
                .unwrap_or_default(),
            created_at: super::timestamp(p.created_at),
            updated_at: super::timestamp(p.updated_at),
            amount_tip: amount(p.amount_tip),
            capture_before: p.capture_before.map(super::timestamp),
            incremental_authorization_supported: p.incremental_authorization_supported,
            overcapture_supported: p.overcapture_supported,
            history,
        }
    }
}

pub async fn intent(
    services: web::Data<Services>,
    caller: Caller,
    ApiJson(body): ApiJson<IntentRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::PaymentsWrite, &body.external_account_id)?;
    let input = validate_intent(account, body)?;
    let view = payments::create_intent(&services, &caller.subject, input).await?;
    Ok(HttpResponse::Ok().json(PaymentResponse::from_view(view, false)))
}

/// Everything that can be checked without I/O; the amount is checked fully here when the currency
/// is given, else once the account's default currency is known.
fn validate_intent(account: AuthorizedAccount, body: IntentRequest) -> Result<NewIntent, Error> {
    external_id("external_transaction_id", &body.external_transaction_id)?;
    if let Some(c) = &body.external_customer_id {
        external_id("external_customer_id", c)?;
    }
    let amount_error =
        |e: crate::money::MoneyError| Error::invalid("amount", format!("'amount' {e}"));
    check_decimal(&body.amount.0).map_err(amount_error)?;
    let currency = body
        .currency
        .as_deref()
        .map(|c| Currency::parse(c).map_err(|e| Error::invalid("currency", e.to_string())))
        .transpose()?;
    if let Some(currency) = currency {
        Money::parse_charge(&body.amount.0, currency).map_err(amount_error)?;
    }
    let types = match body.payment_method_types {
        None => vec!["card_present".to_string()],
        Some(OneOrMany::One(t)) => vec![t],
        Some(OneOrMany::Many(list)) => list,
    };
    let mut payment_method_types: Vec<&'static str> = Vec::new();
    for t in &types {
        let known = match t.as_str() {
            "card_present" => "card_present",
            "interac_present" => "interac_present",
            _ => {
                return Err(Error::invalid(
                    "payment_method_types",
                    "'payment_method_types' must be \"card_present\" or [\"card_present\", \"interac_present\"]",
                ))
            }
        };
        if !payment_method_types.contains(&known) {
            payment_method_types.push(known);
        }
    }
    if !payment_method_types.contains(&"card_present") {
        return Err(Error::invalid(
            "payment_method_types",
            "'payment_method_types' must include card_present",
        ));
    }
    let capture_method = match body.capture_method.as_deref() {
        None | Some("manual") => "manual",
        Some("automatic") => "automatic",
        Some(_) => {
            return Err(Error::invalid(
                "capture_method",
                "'capture_method' must be \"manual\" or \"automatic\"",
            ))
        }
    };
    if let Some(d) = &body.description {
        if d.chars().count() > 1000 {
            return Err(Error::invalid(
                "description",
                "'description' must be at most 1000 characters",
            ));
        }
    }
    let metadata = body.metadata.unwrap_or_default();
    if metadata.len() > 20 {
        return Err(Error::invalid(
            "metadata",
            "'metadata' takes at most 20 keys",
        ));
    }
    for (k, v) in &metadata {
        if k.is_empty()
            || k.chars().count() > 40
            || k.contains(['[', ']'])
            || v.chars().count() > 500
        {
            return Err(Error::invalid(
                "metadata",
                "'metadata' keys must be 1 to 40 characters without brackets, values at most 500",
            ));
        }
        if RESERVED_METADATA.contains(&k.as_str()) {
            return Err(Error::invalid(
                "metadata",
                format!("'metadata' key '{k}' is reserved"),
            ));
        }
    }
    let card_present = AuthorizationRequest {
        incremental: body.request_incremental_authorization_support == Some(true),
        extended: body.request_extended_authorization == Some(true),
    };
    for (asked, param) in [
        (
            card_present.incremental,
            "request_incremental_authorization_support",
        ),
        (card_present.extended, "request_extended_authorization"),
    ] {
        if asked && capture_method != "manual" {
            return Err(Error::invalid(
                param,
                format!(
                    "'{param}' needs capture_method manual (an authorisation to capture later)"
                ),
            ));
        }
    }
    Ok(NewIntent {
        external_account_id: account.into_string(),
        amount: body.amount,
        currency,
        payment_method_types,
        capture_method,
        external_transaction_id: body.external_transaction_id,
        external_customer_id: body.external_customer_id,
        description: body.description,
        metadata,
        card_present,
        saved_card: None,
    })
}

/// A PaymentIntent id as the API takes it.
pub fn payment_id(value: &str) -> Result<(), Error> {
    super::extract::stripe_id("payment_id", "pi_", "PaymentIntent", value)
}

pub async fn capture(
    services: web::Data<Services>,
    caller: Caller,
    ApiJson(body): ApiJson<CaptureRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::PaymentsWrite, &body.external_account_id)?;
    payment_id(&body.payment_id)?;
    if let Some(a) = &body.amount {
        check_decimal(&a.0).map_err(|e| Error::invalid("amount", format!("'amount' {e}")))?;
    }
    let view = payments::capture(
        &services,
        &caller.subject,
        account.into_string(),
        body.payment_id,
        body.amount,
    )
    .await?;
    Ok(HttpResponse::Ok().json(PaymentResponse::from_view(view, false)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncrementRequest {
    payment_id: String,
    /// The new total to authorise (not the difference), as Stripe's `increment_authorization`.
    amount: DecimalText,
    external_account_id: String,
}

/// `POST /v1/payment/increment`: raises an authorisation (an open tab).
pub async fn increment(
    services: web::Data<Services>,
    caller: Caller,
    request: actix_web::HttpRequest,
    ApiJson(body): ApiJson<IncrementRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::PaymentsWrite, &body.external_account_id)?;
    payment_id(&body.payment_id)?;
    check_decimal(&body.amount.0).map_err(|e| Error::invalid("amount", format!("'amount' {e}")))?;
    let view = payments::increment(
        &services,
        &caller.subject,
        account.into_string(),
        body.payment_id,
        body.amount,
        super::extract::idempotency_key(&request)?,
    )
    .await?;
    Ok(HttpResponse::Ok().json(PaymentResponse::from_view(view, false)))
}

pub async fn get(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiQuery(query): ApiQuery<AccountQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::PaymentsRead, &query.external_account_id)?;
    let id = path.into_inner();
    payment_id(&id)?;
    let view = payments::get(&services, account.into_string(), id).await?;
    Ok(HttpResponse::Ok().json(PaymentResponse::from_view(view, true)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    payment_id: String,
    external_account_id: String,
}

pub async fn cancel(
    services: web::Data<Services>,
    caller: Caller,
    ApiJson(body): ApiJson<CancelRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::PaymentsWrite, &body.external_account_id)?;
    payment_id(&body.payment_id)?;
    let view = payments::cancel(
        &services,
        &caller.subject,
        account.into_string(),
        body.payment_id,
    )
    .await?;
    Ok(HttpResponse::Ok().json(PaymentResponse::from_view(view, false)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    payment_id: String,
    external_account_id: String,
    #[serde(default)]
    amount: Option<DecimalText>,
    #[serde(default)]
    reason: Option<String>,
}

pub async fn refund(
    services: web::Data<Services>,
    caller: Caller,
    request: actix_web::HttpRequest,
    ApiJson(body): ApiJson<RefundRequest>,
) -> Result<HttpResponse, Error> {
    use stripe_client::RefundReason;
    let account = caller.for_account(Scope::PaymentsWrite, &body.external_account_id)?;
    payment_id(&body.payment_id)?;
    if let Some(a) = &body.amount {
        check_decimal(&a.0).map_err(|e| Error::invalid("amount", format!("'amount' {e}")))?;
    }
    let reason = match body.reason.as_deref() {
        None => None,
        Some("duplicate") => Some(RefundReason::Duplicate),
        Some("fraudulent") => Some(RefundReason::Fraudulent),
        Some("requested_by_customer") => Some(RefundReason::RequestedByCustomer),
        Some(_) => {
            return Err(Error::invalid(
                "reason",
                "'reason' must be duplicate, fraudulent or requested_by_customer",
            ))
        }
    };
    let view = crate::flows::refunds::refund(
        &services,
        &caller.subject,
        account.into_string(),
        body.payment_id,
        body.amount,
        reason,
        super::extract::idempotency_key(&request)?,
    )
    .await?;
    Ok(HttpResponse::Ok().json(PaymentResponse::from_view(view, false)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargeRequest {
    external_account_id: String,
    external_customer_id: String,
    #[serde(default)]
    card_id: Option<String>,
    #[serde(default)]
    payment_method_id: Option<String>,
    amount: DecimalText,
    #[serde(default)]
    currency: Option<String>,
    external_transaction_id: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
}

/// `POST /v1/payment/charge`: charges a saved card off-session, at once.
pub async fn charge(
    services: web::Data<Services>,
    caller: Caller,
    ApiJson(body): ApiJson<ChargeRequest>,
) -> Result<HttpResponse, Error> {
    use crate::flows::payments::CardRef;
    let account = caller.for_account(Scope::PaymentsWrite, &body.external_account_id)?;
    let card = match (body.card_id, body.payment_method_id) {
        (Some(id), None) => {
            external_id("card_id", &id)?;
            CardRef::CardId(id)
        }
        (None, Some(pm)) if pm.starts_with("pm_") && pm.len() <= 255 => {
            CardRef::PaymentMethodId(pm)
        }
        (None, Some(_)) => {
            return Err(Error::invalid(
                "payment_method_id",
                "'payment_method_id' must be a PaymentMethod id (pm_…)",
            ))
        }
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                "card_id",
                "give card_id or payment_method_id, not both",
            ))
        }
        (None, None) => return Err(Error::missing("card_id")),
    };
    let mut input = validate_intent(
        account,
        IntentRequest {
            external_account_id: body.external_account_id,
            amount: body.amount,
            currency: body.currency,
            payment_method_types: None,
            capture_method: Some("automatic".into()),
            external_transaction_id: body.external_transaction_id,
            external_customer_id: Some(body.external_customer_id),
            description: body.description,
            metadata: body.metadata,
            request_incremental_authorization_support: None,
            request_extended_authorization: None,
        },
    )?;
    input.payment_method_types = vec!["card"];
    input.saved_card = Some(card);
    let view = payments::create_intent(&services, &caller.subject, input).await?;
    Ok(HttpResponse::Ok().json(PaymentResponse::from_view(view, false)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    external_account_id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    external_customer_id: Option<String>,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    min_amount: Option<String>,
    #[serde(default)]
    max_amount: Option<String>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    starting_after: Option<String>,
}

/// `GET /v1/payments`: newest first, filtered, with cursor pagination.
pub async fn list(
    services: web::Data<Services>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<HttpResponse, Error> {
    use crate::flows::payments::PaymentFilter;
    let account = caller.for_account(Scope::PaymentsRead, &q.external_account_id)?;
    let time = |param: &str, v: &Option<String>| {
        v.as_deref()
            .map(|t| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .map(|t| t.naive_utc())
                    .map_err(|_| {
                        Error::invalid(param, format!("'{param}' must be an RFC 3339 time"))
                    })
            })
            .transpose()
    };
    let limit = match q.limit.as_deref() {
        None => 20,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(Error::invalid(
                    "limit",
                    "'limit' must be a whole number from 1 to 100",
                ))
            }
        },
    };
    let currency = q
        .currency
        .as_deref()
        .map(|c| Currency::parse(c).map_err(|e| Error::invalid("currency", e.to_string())))
        .transpose()?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(
            crate::payment_state::PaymentStatus::parse(s).ok_or_else(|| {
                let all: Vec<&str> = crate::payment_state::PaymentStatus::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect();
                Error::invalid(
                    "status",
                    format!("'status' must be one of {}", all.join(", ")),
                )
            })?,
        ),
    };
    if let Some(c) = &q.external_customer_id {
        external_id("external_customer_id", c)?;
    }
    if let Some(cursor) = &q.starting_after {
        payment_id(cursor).map_err(|_| {
            Error::invalid(
                "starting_after",
                "'starting_after' must be a payment id (pi_…)",
            )
        })?;
    }
    let (since, until) = (time("since", &q.since)?, time("until", &q.until)?);
    // Amount bounds are in major units of `currency`, or of the account's default currency.
    let bound_currency = match (currency, q.min_amount.is_some() || q.max_amount.is_some()) {
        (Some(c), _) => Some(c),
        (None, true) => {
            let account =
                crate::flows::accounts::get(&services.db, account.as_str().to_string()).await?;
            Some(account.default_currency)
        }
        (None, false) => None,
    };
    let bound = |param: &str, v: &Option<String>| -> Result<Option<MinorUnits>, Error> {
        match (v, bound_currency) {
            (Some(text), Some(c)) => Money::parse(text, c)
                .map(|m| Some(m.minor))
                .map_err(|e| Error::invalid(param, format!("'{param}' {e}"))),
            _ => Ok(None),
        }
    };
    let filter = PaymentFilter {
        status,
        external_customer_id: q.external_customer_id,
        since,
        until,
        min_amount: bound("min_amount", &q.min_amount)?,
        max_amount: bound("max_amount", &q.max_amount)?,
        currency: bound_currency.map(|c| c.code().to_string()),
        limit,
        starting_after: q.starting_after,
    };
    let (views, has_more) = payments::list(&services, account.into_string(), filter).await?;
    let data: Vec<PaymentResponse> = views
        .into_iter()
        .map(|v| PaymentResponse::from_view(v, false))
        .collect();
    let next = if has_more {
        data.last().and_then(|p| p.id.clone())
    } else {
        None
    };
    // Serialised straight from the structs: through a `serde_json::Value` the page costs ~7× as
    // much to encode (benches/latency.rs).
    #[derive(Serialize)]
    struct Page {
        data: Vec<PaymentResponse>,
        has_more: bool,
        next_starting_after: Option<String>,
    }
    Ok(HttpResponse::Ok().json(Page {
        data,
        has_more,
        next_starting_after: next,
    }))
}
