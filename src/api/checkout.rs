//! Checkout: `POST /v1/customer/card/checkout` and `GET /v1/customer/card/checkout/{session_id}`
//! (save a card through a setup-mode Checkout Session), `POST /v1/checkout` and
//! `GET /v1/checkout/{session_id}` (pay for a reference through a payment-mode session).

use super::cards::CardResponse;
use super::extract::{external_id, ApiJson, ApiQuery};
use super::payments::{AccountQuery, PaymentResponse};
use crate::auth::{AuthorizedAccount, Caller, Scope};
use crate::error::Error;
use crate::flows::card_checkout::{self, NewSetupSession};
use crate::flows::checkout::SessionView;
use crate::flows::reference_checkout::{self, NewCheckout, NewItem, MAX_ITEMS, QUANTITY};
use crate::flows::Services;
use crate::money::{check_decimal, Currency, DecimalText, Money};
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use stripe_client::UiMode;

/// Longest redirect URL we accept.
const MAX_URL_LEN: usize = 2048;

/// Stripe's limit on `client_reference_id`, where the reference goes.
const MAX_REFERENCE_LEN: usize = 200;

const MAX_NAME_CHARS: usize = 250;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupSessionRequest {
    external_account_id: String,
    external_customer_id: String,
    success_url: String,
    cancel_url: String,
    #[serde(default)]
    currency: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemRequest {
    name: String,
    amount: DecimalText,
    quantity: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    external_account_id: String,
    reference: String,
    items: Vec<ItemRequest>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    success_url: Option<String>,
    #[serde(default)]
    cancel_url: Option<String>,
    #[serde(default)]
    ui_mode: Option<String>,
    #[serde(default)]
    external_customer_id: Option<String>,
}

/// A setup-mode session as the API shows it.
#[derive(Serialize)]
pub struct SetupSessionResponse {
    session_id: Option<String>,
    url: Option<String>,
    status: String,
    external_account_id: String,
    customer_id: Option<String>,
    external_customer_id: Option<String>,
    expires_at: Option<String>,
    created_at: String,
}

impl From<SessionView> for SetupSessionResponse {
    fn from(v: SessionView) -> Self {
        SetupSessionResponse {
            session_id: v.session.stripe_checkout_session_id,
            url: v.url,
            status: v.session.status,
            external_account_id: v.external_account_id,
            customer_id: v.customer.as_ref().map(|c| c.stripe_customer_id.clone()),
            external_customer_id: v.customer.map(|c| c.external_customer_id),
            expires_at: v.session.expires_at.map(super::timestamp),
            created_at: super::timestamp(v.session.created_at),
        }
    }
}

/// A payment-mode session as the API shows it.
#[derive(Serialize)]
pub struct CheckoutResponse {
    session_id: Option<String>,
    url: Option<String>,
    client_secret: Option<String>,
    status: String,
    ui_mode: String,
    reference: Option<String>,
    amount: Option<String>,
    currency: Option<String>,
    external_account_id: String,
    customer_id: Option<String>,
    external_customer_id: Option<String>,
    payment_intent_id: Option<String>,
    /// The recorded payment, once the session is paid.
    payment: Option<PaymentResponse>,
    expires_at: Option<String>,
    created_at: String,
}

impl From<SessionView> for CheckoutResponse {
    fn from(v: SessionView) -> Self {
        let s = v.session;
        let amount = match (s.amount, s.currency) {
            (Some(minor), Some(c)) => Some(Money::from_minor(minor, c).to_decimal_string()),
            (minor, _) => minor.map(|m| m.to_string()),
        };
        CheckoutResponse {
            session_id: s.stripe_checkout_session_id,
            url: v.url,
            client_secret: v.client_secret.map(|c| c.expose().clone()),
            status: s.status,
            ui_mode: s.ui_mode,
            reference: s.reference,
            amount,
            currency: s.currency.map(|c| c.code().to_string()),
            external_account_id: v.external_account_id,
            customer_id: v.customer.as_ref().map(|c| c.stripe_customer_id.clone()),
            external_customer_id: v.customer.map(|c| c.external_customer_id),
            payment_intent_id: v.payment_intent_id,
            payment: v.payment.map(|p| PaymentResponse::from_view(p, false)),
            expires_at: s.expires_at.map(super::timestamp),
            created_at: super::timestamp(s.created_at),
        }
    }
}

/// `POST /v1/customer/card/checkout`: a Checkout Session in setup mode for the customer.
pub async fn create_setup_session(
    services: web::Data<Services>,
    caller: Caller,
    ApiJson(body): ApiJson<SetupSessionRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::CardsWrite, &body.external_account_id)?;
    external_id("external_customer_id", &body.external_customer_id)?;
    redirect_url("success_url", &body.success_url)?;
    redirect_url("cancel_url", &body.cancel_url)?;
    let currency = currency(body.currency.as_deref())?;
    let view = card_checkout::create_setup_session(
        &services,
        NewSetupSession {
            external_account_id: account.into_string(),
            external_customer_id: body.external_customer_id,
            success_url: body.success_url,
            cancel_url: body.cancel_url,
            currency,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(SetupSessionResponse::from(view)))
}

/// `GET /v1/customer/card/checkout/{session_id}?external_account_id=…`: the card the completed
/// session saved.
pub async fn setup_card(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::CardsRead, &q.external_account_id)?;
    let session_id = path.into_inner();
    checkout_session_id(&session_id)?;
    let card = card_checkout::setup_card(&services, account.into_string(), session_id).await?;
    Ok(HttpResponse::Ok().json(CardResponse::from(card)))
}

/// `POST /v1/checkout`: a Checkout Session in payment mode for a reference.
pub async fn create(
    services: web::Data<Services>,
    caller: Caller,
    ApiJson(body): ApiJson<CheckoutRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::PaymentsWrite, &body.external_account_id)?;
    let input = validate_checkout(account, body)?;
    let view = reference_checkout::create_checkout(&services, &caller.subject, input).await?;
    Ok(HttpResponse::Ok().json(CheckoutResponse::from(view)))
}

/// Everything that can be checked without I/O; the amounts are priced fully here when the
/// currency is given, else once the account's default currency is known.
fn validate_checkout(
    account: AuthorizedAccount,
    body: CheckoutRequest,
) -> Result<NewCheckout, Error> {
    let reference = &body.reference;
    if reference.is_empty()
        || reference.len() > MAX_REFERENCE_LEN
        || reference.chars().any(char::is_control)
    {
        return Err(Error::invalid(
            "reference",
            "'reference' must be 1 to 200 characters, without control characters",
        ));
    }
    if body.items.is_empty() {
        return Err(Error::invalid(
            "items",
            "'items' must list at least one item",
        ));
    }
    if body.items.len() > MAX_ITEMS {
        return Err(Error::invalid("items", "'items' takes at most 100 items"));
    }
    for (i, item) in body.items.iter().enumerate() {
        let chars = item.name.chars().count();
        if chars == 0
            || chars > MAX_NAME_CHARS
            || item.name.trim().is_empty()
            || item.name.chars().any(char::is_control)
        {
            let param = format!("items[{i}].name");
            return Err(Error::invalid(
                &param,
                format!("'{param}' must be 1 to 250 characters, without control characters"),
            ));
        }
        let param = format!("items[{i}].amount");
        check_decimal(&item.amount.0)
            .map_err(|e| Error::invalid(&param, format!("'{param}' {e}")))?;
        if !QUANTITY.contains(&item.quantity) {
            let param = format!("items[{i}].quantity");
            return Err(Error::invalid(
                &param,
                format!("'{param}' must be a whole number from 1 to 999"),
            ));
        }
    }
    let items: Vec<NewItem> = body
        .items
        .into_iter()
        .map(|item| NewItem {
            name: item.name,
            amount: item.amount,
            quantity: item.quantity,
        })
        .collect();
    let currency = currency(body.currency.as_deref())?;
    if let Some(currency) = currency {
        reference_checkout::price_items(&items, currency)?;
    }
    let ui_mode = match body.ui_mode.as_deref() {
        None | Some("hosted") => UiMode::Hosted,
        Some("embedded") => UiMode::Embedded,
        Some(_) => {
            return Err(Error::invalid(
                "ui_mode",
                "'ui_mode' must be \"hosted\" or \"embedded\"",
            ))
        }
    };
    let success_url = body
        .success_url
        .ok_or_else(|| Error::missing("success_url"))?;
    redirect_url("success_url", &success_url)?;
    if let Some(cancel_url) = &body.cancel_url {
        if ui_mode == UiMode::Embedded {
            return Err(Error::invalid(
                "cancel_url",
                "'cancel_url' is for hosted sessions; an embedded session returns to success_url",
            ));
        }
        redirect_url("cancel_url", cancel_url)?;
    }
    if let Some(c) = &body.external_customer_id {
        external_id("external_customer_id", c)?;
    }
    Ok(NewCheckout {
        external_account_id: account.into_string(),
        reference: body.reference,
        items,
        currency,
        success_url,
        cancel_url: body.cancel_url,
        ui_mode,
        external_customer_id: body.external_customer_id,
    })
}

/// `GET /v1/checkout/{session_id}?external_account_id=…`: the session, with its payment once paid.
pub async fn get(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::PaymentsRead, &q.external_account_id)?;
    let session_id = path.into_inner();
    checkout_session_id(&session_id)?;
    let view = reference_checkout::get_checkout(
        &services,
        &caller.subject,
        account.into_string(),
        session_id,
    )
    .await?;
    Ok(HttpResponse::Ok().json(CheckoutResponse::from(view)))
}

fn currency(code: Option<&str>) -> Result<Option<Currency>, Error> {
    code.map(|c| Currency::parse(c).map_err(|e| Error::invalid("currency", e.to_string())))
        .transpose()
}

/// An absolute http(s) URL with a host, at most 2048 characters; it may carry
/// `{CHECKOUT_SESSION_ID}`.
fn redirect_url(param: &str, value: &str) -> Result<(), Error> {
    let invalid = || {
        Error::invalid(
            param,
            format!("'{param}' must be an absolute http or https URL of at most 2048 characters"),
        )
    };
    if value.len() > MAX_URL_LEN || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let url = url::Url::parse(value).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid());
    }
    Ok(())
}

/// A Checkout Session id as the API takes it.
fn checkout_session_id(value: &str) -> Result<(), Error> {
    super::extract::stripe_id("session_id", "cs_", "Checkout Session", value)
}
