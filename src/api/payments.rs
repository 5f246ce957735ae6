//! `POST /v1/payment/intent`, `POST /v1/payment/capture`, `POST /v1/payment/increment`,
//! `GET /v1/payment/{id}`, `POST /v1/payment/{id}` (description, metadata, receipt e-mail), and
//! the other payment routes.

use super::extract::{external_id, ApiJson, ApiQuery, Patch};
use crate::auth::{AuthorizedAccount, Caller, Scope};
use crate::error::Error;
use crate::flows::line_items::{self, LineInput};
use crate::flows::payments::{
    self, AuthorizationRequest, DetailsChange, NewIntent, PaymentView, RESERVED_METADATA,
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
    #[serde(default)]
    line_items: Option<Vec<LineItemRequest>>,
    #[serde(default)]
    tax: Option<DecimalText>,
    #[serde(default)]
    receipt_email: Option<String>,
    #[serde(default)]
    external_cashier_id: Option<String>,
}

/// One line of what the sale was made of.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineItemRequest {
    description: String,
    /// The unit price, major units.
    amount: DecimalText,
    quantity: i64,
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
    external_cashier_id: Option<String>,
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
    tax: Option<String>,
    receipt_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line_items: Option<Vec<LineItemResponse>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dispute: Option<super::disputes::DisputeBrief>,
}

/// A line item as shown: the unit price, the quantity and the line's amount.
#[derive(Serialize)]
struct LineItemResponse {
    description: String,
    unit_amount: String,
    quantity: i64,
    amount: String,
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
        let line_items = with_history.then(|| {
            view.line_items
                .into_iter()
                .map(|l| LineItemResponse {
                    unit_amount: amount(l.unit_amount),
                    amount: l
                        .unit_amount
                        .checked_mul(l.quantity)
                        .map(amount)
                        .unwrap_or_default(),
                    description: l.description,
                    quantity: l.quantity,
                })
                .collect()
        });
        PaymentResponse {
            tax: p.tax.map(amount),
            receipt_email: p.receipt_email,
            line_items,
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
            external_cashier_id: p.external_cashier_id,
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
            dispute: view.dispute.as_ref().map(super::disputes::DisputeBrief::of),
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
    if let Some(c) = &body.external_cashier_id {
        external_id("external_cashier_id", c)?;
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
    check_metadata(&metadata)?;
    let line_items: Vec<LineInput> = body
        .line_items
        .unwrap_or_default()
        .into_iter()
        .map(|l| LineInput {
            description: l.description,
            amount: l.amount,
            quantity: l.quantity,
        })
        .collect();
    line_items::check_syntax(&line_items, body.tax.as_ref())?;
    if let Some(e) = &body.receipt_email {
        email("receipt_email", e)?;
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
        line_items,
        tax: body.tax,
        receipt_email: body.receipt_email,
        external_cashier_id: body.external_cashier_id,
    })
}

/// Metadata keys and values as Stripe takes them, none of ours reserved.
fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<(), Error> {
    if metadata.len() > payments::MAX_METADATA_KEYS {
        return Err(Error::invalid(
            "metadata",
            format!(
                "'metadata' takes at most {} keys",
                payments::MAX_METADATA_KEYS
            ),
        ));
    }
    for (k, v) in metadata {
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
    Ok(())
}

/// The longest e-mail address (RFC 5321's limit on a path, less its angle brackets).
const MAX_EMAIL_CHARS: usize = 254;

/// An e-mail address as a mail server takes it: `local@domain`, the local part 1 to 64 printable
/// ASCII characters without spaces, quotes or brackets and without leading, trailing or double
/// dots; the domain at least two dot-separated labels of letters, digits and inner hyphens.
pub fn email(param: &str, value: &str) -> Result<(), Error> {
    let local_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 64
            && !l.starts_with('.')
            && !l.ends_with('.')
            && !l.contains("..")
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b))
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let ok = value.len() <= MAX_EMAIL_CHARS
        && value.split_once('@').is_some_and(|(local, domain)| {
            local_ok(local)
                && domain.contains('.')
                && domain.split('.').all(label_ok)
                && !domain
                    .rsplit('.')
                    .next()
                    .unwrap_or_default()
                    .bytes()
                    .all(|b| b.is_ascii_digit())
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            param,
            format!("'{param}' must be an e-mail address, like name@example.com"),
        ))
    }
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
pub struct UpdateRequest {
    external_account_id: String,
    #[serde(default)]
    description: Patch<String>,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    receipt_email: Patch<String>,
}

/// `POST /v1/payment/{payment_id}`: changes the description, metadata (merged; an empty value
/// removes a key) or receipt e-mail (null clears it), at Stripe and on our record.
pub async fn update(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiJson(body): ApiJson<UpdateRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::PaymentsWrite, &body.external_account_id)?;
    let id = path.into_inner();
    payment_id(&id)?;
    let patch = |p: Patch<String>| match p {
        Patch::Absent => None,
        Patch::Null => Some(None),
        Patch::Value(v) => Some(Some(v)),
    };
    let change = DetailsChange {
        description: patch(body.description),
        metadata: body.metadata,
        receipt_email: patch(body.receipt_email),
    };
    if let Some(Some(d)) = &change.description {
        if d.is_empty() || d.chars().count() > 1000 {
            return Err(Error::invalid(
                "description",
                "'description' must be 1 to 1000 characters (null clears it)",
            ));
        }
    }
    if let Some(m) = &change.metadata {
        check_metadata(m)?;
    }
    if let Some(Some(e)) = &change.receipt_email {
        email("receipt_email", e)?;
    }
    if change.description.is_none() && change.metadata.is_none() && change.receipt_email.is_none() {
        return Err(Error::invalid(
            "receipt_email",
            "give at least one of receipt_email, description or metadata to change",
        ));
    }
    let view = payments::update_details(
        &services,
        &caller.subject,
        account.into_string(),
        id,
        change,
    )
    .await?;
    Ok(HttpResponse::Ok().json(PaymentResponse::from_view(view, false)))
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
            line_items: None,
            tax: None,
            receipt_email: None,
            external_cashier_id: None,
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
    pub external_account_id: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub external_customer_id: Option<String>,
    #[serde(default)]
    pub since: Option<String>,
    #[serde(default)]
    pub until: Option<String>,
    #[serde(default)]
    pub min_amount: Option<String>,
    #[serde(default)]
    pub max_amount: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub limit: Option<String>,
    #[serde(default)]
    pub starting_after: Option<String>,
}

/// `GET /v1/payments`: newest first, filtered, with cursor pagination.
pub async fn list(
    services: web::Data<Services>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::PaymentsRead, &q.external_account_id)?;
    let filter = filter_of(&services, account.as_str(), q).await?;
    let (views, has_more) = payments::list(&services, account.into_string(), filter).await?;
    let data: Vec<PaymentResponse> = views
        .into_iter()
        .map(|v| PaymentResponse::from_view(v, false))
        .collect();
    Ok(super::Page::new(data, has_more, |p| p.id.clone()).response())
}

/// The list's filters (also the export's), checked; the amount bounds are in `currency`, else in
/// the account's default currency.
pub async fn filter_of(
    services: &Services,
    account: &str,
    q: ListQuery,
) -> Result<crate::flows::payments::PaymentFilter, Error> {
    use crate::flows::payments::PaymentFilter;
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
    let limit = super::extract::page_limit(q.limit.as_deref(), 20)?;
    let currency = q
        .currency
        .as_deref()
        .map(|c| Currency::parse(c).map_err(|e| Error::invalid("currency", e.to_string())))
        .transpose()?;
    let status = super::extract::status_filter(
        q.status.as_deref(),
        crate::payment_state::PaymentStatus::parse,
        crate::payment_state::PaymentStatus::ALL
            .iter()
            .map(|s| s.as_str()),
    )?;
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
            let account = crate::flows::accounts::get(&services.db, account.to_string()).await?;
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
    Ok(PaymentFilter {
        status,
        external_customer_id: q.external_customer_id,
        since,
        until,
        min_amount: bound("min_amount", &q.min_amount)?,
        max_amount: bound("max_amount", &q.max_amount)?,
        currency: bound_currency.map(|c| c.code().to_string()),
        limit,
        starting_after: q.starting_after,
    })
}
