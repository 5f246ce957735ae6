//! Stripe Terminal for POS tablets and smart readers: `POST /v1/terminal/connection_token`,
//! locations, readers, and the server-driven `process` / `display` (a cart on the screen) /
//! `cancel` of a reader's action, the fleet (readers renamed and deleted with their status,
//! locations updated and deleted), and each location's tip choices
//! (`/v1/terminal/locations/{id}/tipping`).

use super::extract::{ApiJson, ApiQuery};
use super::payments::{payment_id, AccountQuery};
use crate::auth::{Caller, Scope};
use crate::db::models::{TerminalLocation, TerminalReader};
use crate::error::Error;
use crate::flows::terminal::{self, Cart, CartLine, LocationChange, NewLocation, ReaderFilter};
use crate::flows::tipping::{self, LocationTipping, TipOptions};
use crate::flows::Services;
use crate::money::{check_decimal, Currency, DecimalText, MinorUnits, Money};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use stripe_client::{AllowRedisplay, Reader, ReaderStatus};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    external_account_id: String,
    #[serde(default)]
    location: Option<String>,
}

pub(super) fn stripe_id(param: &str, prefix: &str, value: &str) -> Result<(), Error> {
    super::extract::stripe_id(param, prefix, "Stripe", value)
}

/// A fresh connection token for the Terminal SDK on every call.
pub async fn connection_token(
    services: web::Data<Services>,
    caller: Caller,
    ApiJson(body): ApiJson<TokenRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::Terminal, &body.external_account_id)?;
    if let Some(l) = &body.location {
        stripe_id("location", "tml_", l)?;
    }
    let secret =
        terminal::connection_token(&services, account.into_string(), body.location.clone()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(json!({"secret": secret.expose(), "location": body.location})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressRequest {
    line1: String,
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    postal_code: Option<String>,
    country: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationRequest {
    external_account_id: String,
    display_name: String,
    address: AddressRequest,
}

fn location_json(l: TerminalLocation) -> Value {
    json!({"id": l.stripe_location_id, "display_name": l.display_name, "created_at": super::timestamp(l.created_at)})
}

fn text(param: &str, value: &str, max: usize) -> Result<(), Error> {
    if value.trim().is_empty() || value.chars().count() > max || value.chars().any(char::is_control)
    {
        return Err(Error::invalid(
            param,
            format!("'{param}' must be 1 to {max} printable characters"),
        ));
    }
    Ok(())
}

pub async fn create_location(
    services: web::Data<Services>,
    caller: Caller,
    ApiJson(body): ApiJson<LocationRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::Terminal, &body.external_account_id)?;
    text("display_name", &body.display_name, 100)?;
    text("address.line1", &body.address.line1, 200)?;
    let country = body.address.country.to_ascii_uppercase();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Error::invalid(
            "address.country",
            "'address.country' must be a two-letter ISO country code",
        ));
    }
    for (param, value) in [
        ("address.city", &body.address.city),
        ("address.state", &body.address.state),
        ("address.postal_code", &body.address.postal_code),
    ] {
        if let Some(v) = value {
            text(param, v, 100)?;
        }
    }
    let location = terminal::create_location(
        &services,
        account.into_string(),
        NewLocation {
            display_name: body.display_name,
            line1: body.address.line1,
            city: body.address.city,
            state: body.address.state,
            postal_code: body.address.postal_code,
            country,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(location_json(location)))
}

pub async fn list_locations(
    services: web::Data<Services>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::Terminal, &q.external_account_id)?;
    let rows = terminal::list_locations(&services, account.into_string()).await?;
    Ok(HttpResponse::Ok()
        .json(json!({"data": rows.into_iter().map(location_json).collect::<Vec<_>>()})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReaderRequest {
    external_account_id: String,
    registration_code: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    location: Option<String>,
}

pub(super) fn reader_json(row: TerminalReader, live: Option<Reader>) -> Value {
    let mut body = json!({
        "id": row.stripe_reader_id,
        "label": row.label,
        "device_type": row.device_type,
        "location": row.stripe_location_id,
        "created_at": super::timestamp(row.created_at),
        "status": null,
    });
    if let Some(reader) = live {
        body["status"] = json!(reader.status.as_ref().map(|s| s.as_str()));
        body["last_seen_at"] = json!(reader.last_seen_at.and_then(last_seen));
        body["device_sw_version"] = json!(reader.device_sw_version);
        body["serial_number"] = json!(reader.serial_number);
        body["cart"] = displayed_cart(reader.action.as_ref());
        body["action"] = match reader.action {
            Some(a) => json!({
                "type": a.action_type.as_str(),
                "status": a.status.as_str(),
                "failure_code": a.failure_code,
                "failure_message": a.failure_message,
                "payment_id": a.payment_intent_id(),
                "card": crate::flows::reader_events::collected_card(&a),
            }),
            None => Value::Null,
        };
    }
    body
}

/// Stripe's `last_seen_at` (milliseconds since the epoch) as our RFC 3339 timestamp.
fn last_seen(millis: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(millis).map(|t| super::timestamp(t.naive_utc()))
}

/// The cart the reader shows now (what the customer sees), amounts in major units; null when it
/// shows none (a payment replaced it, or cancel cleared it).
fn displayed_cart(action: Option<&stripe_client::ReaderAction>) -> Value {
    let Some(cart) = action
        .filter(|a| a.status == stripe_client::ReaderActionStatus::Succeeded)
        .and_then(|a| a.set_reader_display.as_ref())
        .and_then(|d| d.cart.as_ref())
    else {
        return Value::Null;
    };
    let Ok(currency) = Currency::parse(&cart.currency) else {
        return Value::Null;
    };
    let money = |minor: i64| {
        MinorUnits::try_from(minor)
            .map(|m| Money::from_minor(m, currency).to_decimal_string())
            .ok()
    };
    json!({
        "currency": currency.code(),
        "line_items": cart.line_items.iter().map(|l| json!({
            "description": l.description,
            "amount": money(l.amount),
            "quantity": l.quantity,
        })).collect::<Vec<_>>(),
        "tax": cart.tax.and_then(money),
        "total": money(cart.total),
    })
}

pub async fn register_reader(
    services: web::Data<Services>,
    caller: Caller,
    ApiJson(body): ApiJson<ReaderRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::Terminal, &body.external_account_id)?;
    text("registration_code", &body.registration_code, 100)?;
    if let Some(label) = &body.label {
        text("label", label, 100)?;
    }
    if let Some(l) = &body.location {
        stripe_id("location", "tml_", l)?;
    }
    let (row, reader) = terminal::register_reader(
        &services,
        account.into_string(),
        body.registration_code,
        body.label,
        body.location,
    )
    .await?;
    Ok(HttpResponse::Ok().json(reader_json(row, Some(reader))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReaderListQuery {
    external_account_id: String,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// `GET /v1/terminal/readers`: the account's readers with their status at Stripe, filtered by
/// `location` and `status` (`online` / `offline`).
pub async fn list_readers(
    services: web::Data<Services>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReaderListQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::Terminal, &q.external_account_id)?;
    if let Some(l) = &q.location {
        stripe_id("location", "tml_", l)?;
    }
    let status = match q.status.as_deref() {
        None => None,
        Some("online") => Some(ReaderStatus::Online),
        Some("offline") => Some(ReaderStatus::Offline),
        Some(_) => {
            return Err(Error::invalid(
                "status",
                "'status' must be online or offline",
            ))
        }
    };
    let rows = terminal::list_readers(
        &services,
        account.into_string(),
        ReaderFilter {
            location: q.location,
            status,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({
        "data": rows.into_iter().map(|(r, live)| reader_json(r, live)).collect::<Vec<_>>()
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReaderUpdateRequest {
    external_account_id: String,
    #[serde(default)]
    label: Option<String>,
    /// Refused: a reader moves to another location by being registered again.
    #[serde(default)]
    location: Option<Value>,
}

/// `POST /v1/terminal/readers/{id}`: renames the reader (`label`).
pub async fn update_reader(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiJson(body): ApiJson<ReaderUpdateRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::Terminal, &body.external_account_id)?;
    let id = path.into_inner();
    stripe_id("id", "tmr_", &id)?;
    if body.location.is_some() {
        return Err(Error::invalid(
            "location",
            "a reader cannot move to another location by an update: delete it (DELETE /v1/terminal/readers/{id}) and register it again at the new location",
        ));
    }
    let Some(label) = body.label else {
        return Err(Error::missing("label"));
    };
    text("label", &label, 100)?;
    let (row, reader) =
        terminal::rename_reader(&services, account.into_string(), id, label).await?;
    Ok(HttpResponse::Ok().json(reader_json(row, Some(reader))))
}

/// `DELETE /v1/terminal/readers/{id}`: the reader is deleted at Stripe and here.
pub async fn delete_reader(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::Terminal, &q.external_account_id)?;
    let id = path.into_inner();
    stripe_id("id", "tmr_", &id)?;
    let row = terminal::delete_reader(&services, account.into_string(), id).await?;
    Ok(HttpResponse::Ok().json(json!({"id": row.stripe_reader_id, "deleted": true})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressUpdate {
    #[serde(default)]
    line1: Option<String>,
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    postal_code: Option<String>,
    /// Refused: a location does not move to another country.
    #[serde(default)]
    country: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationUpdateRequest {
    external_account_id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    address: Option<AddressUpdate>,
}

/// `POST /v1/terminal/locations/{id}`: a new name and/or address fields (not the country).
pub async fn update_location(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiJson(body): ApiJson<LocationUpdateRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::Terminal, &body.external_account_id)?;
    let id = path.into_inner();
    stripe_id("id", "tml_", &id)?;
    if let Some(name) = &body.display_name {
        text("display_name", name, 100)?;
    }
    let address = body.address.unwrap_or(AddressUpdate {
        line1: None,
        city: None,
        state: None,
        postal_code: None,
        country: None,
    });
    if address.country.is_some() {
        return Err(Error::invalid(
            "address.country",
            "a location's country cannot change: create a location in the new country and register its readers there",
        ));
    }
    if let Some(line1) = &address.line1 {
        text("address.line1", line1, 200)?;
    }
    for (param, value) in [
        ("address.city", &address.city),
        ("address.state", &address.state),
        ("address.postal_code", &address.postal_code),
    ] {
        if let Some(v) = value {
            text(param, v, 100)?;
        }
    }
    let change = LocationChange {
        display_name: body.display_name,
        line1: address.line1,
        city: address.city,
        state: address.state,
        postal_code: address.postal_code,
    };
    if change.display_name.is_none()
        && change.line1.is_none()
        && change.city.is_none()
        && change.state.is_none()
        && change.postal_code.is_none()
    {
        return Err(Error::bad_request(
            "parameter_missing",
            "nothing to change: give 'display_name' and/or fields of 'address'",
        )
        .with_param("display_name"));
    }
    let location = terminal::update_location(&services, account.into_string(), id, change).await?;
    Ok(HttpResponse::Ok().json(location_json(location)))
}

/// `DELETE /v1/terminal/locations/{id}`: 409 `location_has_readers` while readers are
/// registered there.
pub async fn delete_location(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::Terminal, &q.external_account_id)?;
    let id = path.into_inner();
    stripe_id("id", "tml_", &id)?;
    let row = terminal::delete_location(&services, account.into_string(), id).await?;
    Ok(HttpResponse::Ok().json(json!({"id": row.stripe_location_id, "deleted": true})))
}

pub async fn get_reader(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::Terminal, &q.external_account_id)?;
    let id = path.into_inner();
    stripe_id("id", "tmr_", &id)?;
    let (row, reader) = terminal::get_reader(&services, account.into_string(), id).await?;
    Ok(HttpResponse::Ok().json(reader_json(row, Some(reader))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessRequest {
    external_account_id: String,
    payment_id: String,
    #[serde(default)]
    allow_redisplay: Option<String>,
    // Tipping on the reader.
    #[serde(default)]
    skip_tipping: Option<bool>,
    #[serde(default)]
    tip_eligible_amount: Option<DecimalText>,
}

pub async fn process(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiJson(body): ApiJson<ProcessRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::Terminal, &body.external_account_id)?;
    let id = path.into_inner();
    let (allow_redisplay, tipping) = hand_over_args(&id, &body)?;
    let (row, reader) = terminal::process(
        &services,
        account.into_string(),
        id,
        body.payment_id,
        allow_redisplay,
        tipping,
    )
    .await?;
    Ok(HttpResponse::Ok().json(reader_json(row, Some(reader))))
}

/// `POST /v1/terminal/readers/{id}/collect`: the reader reads the card only (the options of
/// `process`); the card shows in the reader's action, then `confirm` or `cancel`.
pub async fn collect(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiJson(body): ApiJson<ProcessRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::Terminal, &body.external_account_id)?;
    let id = path.into_inner();
    let (allow_redisplay, tipping) = hand_over_args(&id, &body)?;
    let (row, reader) = terminal::collect(
        &services,
        account.into_string(),
        id,
        body.payment_id,
        allow_redisplay,
        tipping,
    )
    .await?;
    Ok(HttpResponse::Ok().json(reader_json(row, Some(reader))))
}

/// The checked options of a payment handed to a reader (`process`, `collect`).
fn hand_over_args(
    id: &str,
    body: &ProcessRequest,
) -> Result<(Option<AllowRedisplay>, terminal::Tipping), Error> {
    stripe_id("id", "tmr_", id)?;
    payment_id(&body.payment_id)?;
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
    if let Some(a) = &body.tip_eligible_amount {
        check_decimal(&a.0).map_err(|e| {
            Error::invalid("tip_eligible_amount", format!("'tip_eligible_amount' {e}"))
        })?;
        if body.skip_tipping == Some(true) {
            return Err(Error::invalid(
                "tip_eligible_amount",
                "'tip_eligible_amount' sets the tip suggestions, which skip_tipping turns off: give one of the two",
            ));
        }
    }
    let tipping = terminal::Tipping {
        skip: body.skip_tipping,
        eligible_amount: body.tip_eligible_amount.clone(),
    };
    Ok((allow_redisplay, tipping))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelActionRequest {
    external_account_id: String,
}

pub async fn cancel_action(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiJson(body): ApiJson<CancelActionRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::Terminal, &body.external_account_id)?;
    let id = path.into_inner();
    stripe_id("id", "tmr_", &id)?;
    let (row, reader) = terminal::cancel_action(&services, account.into_string(), id).await?;
    Ok(HttpResponse::Ok().json(reader_json(row, Some(reader))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CartLineRequest {
    description: String,
    /// The unit price, major units.
    amount: DecimalText,
    quantity: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplayRequest {
    external_account_id: String,
    currency: String,
    line_items: Vec<CartLineRequest>,
    #[serde(default)]
    tax: Option<DecimalText>,
    total: DecimalText,
}

/// The most lines a cart may have (a reader's screen, not a receipt).
const MAX_CART_LINES: usize = 100;
/// A line's quantity.
const CART_QUANTITY: std::ops::RangeInclusive<i64> = 1..=9999;
/// Stripe's limit on a line's description.
const MAX_DESCRIPTION_CHARS: usize = 5000;

/// An amount of the cart in `currency`, exactly; `zero_ok` for the tax (`0`, `0.00`).
fn cart_amount(
    param: &str,
    text: &str,
    currency: Currency,
    zero_ok: bool,
) -> Result<MinorUnits, Error> {
    let zeros = |s: &str| !s.is_empty() && s.bytes().all(|b| b == b'0');
    let zero = match text.split_once('.') {
        Some((int, frac)) => zeros(int) && zeros(frac),
        None => zeros(text),
    };
    if zero_ok && zero {
        return Ok(MinorUnits::ZERO);
    }
    Money::parse(text, currency)
        .map(|money| money.minor)
        .map_err(|e| Error::invalid(param, format!("'{param}' {e}")))
}

/// The cart, checked without I/O: every field is well formed and `total` is exactly the lines
/// (unit amount × quantity) plus the tax.
fn validate_cart(body: DisplayRequest) -> Result<Cart, Error> {
    let currency = Currency::parse(&body.currency)
        .map_err(|e| Error::invalid("currency", format!("'currency': {e}")))?;
    if body.line_items.is_empty() {
        return Err(Error::invalid(
            "line_items",
            "'line_items' must list at least one line",
        ));
    }
    if body.line_items.len() > MAX_CART_LINES {
        return Err(Error::invalid(
            "line_items",
            format!("'line_items' takes at most {MAX_CART_LINES} lines"),
        ));
    }
    let mut line_items = Vec::with_capacity(body.line_items.len());
    let mut sum = MinorUnits::ZERO;
    let overflow = || Error::invalid("total", "'total' is over the maximum amount Stripe accepts");
    for (i, line) in body.line_items.into_iter().enumerate() {
        text(
            &format!("line_items[{i}].description"),
            &line.description,
            MAX_DESCRIPTION_CHARS,
        )?;
        let unit_amount = cart_amount(
            &format!("line_items[{i}].amount"),
            &line.amount.0,
            currency,
            false,
        )?;
        if !CART_QUANTITY.contains(&line.quantity) {
            let param = format!("line_items[{i}].quantity");
            return Err(Error::invalid(
                &param,
                format!(
                    "'{param}' must be a whole number from {} to {}",
                    CART_QUANTITY.start(),
                    CART_QUANTITY.end()
                ),
            ));
        }
        sum = unit_amount
            .checked_mul(line.quantity)
            .and_then(|amount| sum.checked_add(amount))
            .ok_or_else(overflow)?;
        line_items.push(CartLine {
            description: line.description,
            unit_amount,
            quantity: line.quantity,
        });
    }
    let tax = body
        .tax
        .map(|tax| cart_amount("tax", &tax.0, currency, true))
        .transpose()?;
    let total = cart_amount("total", &body.total.0, currency, false)?;
    let expected = sum
        .checked_add(tax.unwrap_or(MinorUnits::ZERO))
        .ok_or_else(overflow)?;
    if total != expected {
        return Err(Error::invalid(
            "total",
            format!(
                "'total' must be the sum of the lines (amount × quantity) plus the tax: {}",
                Money::from_minor(expected, currency).to_decimal_string()
            ),
        ));
    }
    Ok(Cart {
        currency,
        line_items,
        tax,
        total,
    })
}

/// Shows a cart on the reader; `POST /v1/terminal/readers/{id}/cancel` clears it.
pub async fn display(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiJson(body): ApiJson<DisplayRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::Terminal, &body.external_account_id)?;
    let id = path.into_inner();
    stripe_id("id", "tmr_", &id)?;
    let cart = validate_cart(body)?;
    let (row, reader) = terminal::display_cart(&services, account.into_string(), id, cart).await?;
    Ok(HttpResponse::Ok().json(reader_json(row, Some(reader))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TippingRequest {
    external_account_id: String,
    currency: String,
    #[serde(default)]
    percentages: Option<Vec<i64>>,
    #[serde(default)]
    fixed_amounts: Option<Vec<DecimalText>>,
    #[serde(default)]
    smart_tip_threshold: Option<DecimalText>,
}

/// Stripe's limit on each list of tip options.
const MAX_TIP_OPTIONS: usize = 3;

/// A tipping request checked without I/O, per Stripe's rules for a currency's tipping: up to 3
/// whole percentages (0–100) and 3 fixed amounts (positive, exact in the currency), at least one
/// of the two; a smart-tip threshold (positive) needs both.
fn validate_tipping(body: &TippingRequest) -> Result<(Currency, TipOptions), Error> {
    let currency = Currency::parse(&body.currency)
        .map_err(|e| Error::invalid("currency", format!("'currency': {e}")))?;
    let percentages = body.percentages.clone().unwrap_or_default();
    if percentages.len() > MAX_TIP_OPTIONS {
        return Err(Error::invalid(
            "percentages",
            format!("'percentages' takes at most {MAX_TIP_OPTIONS} values"),
        ));
    }
    if let Some(i) = percentages.iter().position(|p| !(0..=100).contains(p)) {
        return Err(Error::invalid(
            &format!("percentages[{i}]"),
            format!("'percentages[{i}]' must be a whole percentage from 0 to 100"),
        ));
    }
    let given_amounts = body.fixed_amounts.as_deref().unwrap_or_default();
    if given_amounts.len() > MAX_TIP_OPTIONS {
        return Err(Error::invalid(
            "fixed_amounts",
            format!("'fixed_amounts' takes at most {MAX_TIP_OPTIONS} values"),
        ));
    }
    let mut fixed_amounts = Vec::new();
    for (i, a) in given_amounts.iter().enumerate() {
        let param = format!("fixed_amounts[{i}]");
        let minor = Money::parse(&a.0, currency)
            .map_err(|e| Error::invalid(&param, format!("'{param}' {e}")))?
            .minor;
        fixed_amounts.push(minor);
    }
    if percentages.is_empty() && fixed_amounts.is_empty() {
        return Err(Error::invalid(
            "percentages",
            "give the tip choices: 'percentages', 'fixed_amounts' or both (to remove the tipping, DELETE it)",
        ));
    }
    let smart_tip_threshold = match &body.smart_tip_threshold {
        None => None,
        Some(_) if percentages.is_empty() || fixed_amounts.is_empty() => {
            return Err(Error::invalid(
                "smart_tip_threshold",
                "'smart_tip_threshold' needs both 'fixed_amounts' (offered below it) and 'percentages' (offered at or above it)",
            ))
        }
        Some(t) => Some(
            Money::parse(&t.0, currency)
                .map_err(|e| {
                    Error::invalid("smart_tip_threshold", format!("'smart_tip_threshold' {e}"))
                })?
                .minor,
        ),
    };
    Ok((
        currency,
        TipOptions {
            percentages,
            fixed_amounts,
            smart_tip_threshold,
        },
    ))
}

fn tipping_json(t: LocationTipping) -> Value {
    let mut currencies = serde_json::Map::new();
    for (currency, options) in t.tipping {
        let decimal = |minor: MinorUnits| Money::from_minor(minor, currency).to_decimal_string();
        currencies.insert(
            currency.code().to_string(),
            json!({
                "percentages": options.percentages,
                "fixed_amounts": options.fixed_amounts.into_iter().map(decimal).collect::<Vec<_>>(),
                "smart_tip_threshold": options.smart_tip_threshold.map(decimal),
            }),
        );
    }
    json!({
        "location": t.location,
        "configuration_id": t.configuration_id,
        "tipping": currencies,
    })
}

/// `PUT /v1/terminal/locations/{id}/tipping`: one currency's tip choices on the location's
/// readers.
pub async fn put_tipping(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiJson(body): ApiJson<TippingRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::Terminal, &body.external_account_id)?;
    let id = path.into_inner();
    stripe_id("id", "tml_", &id)?;
    let (currency, options) = validate_tipping(&body)?;
    let t = tipping::put(&services, account.into_string(), id, currency, options).await?;
    Ok(HttpResponse::Ok().json(tipping_json(t)))
}

/// `GET /v1/terminal/locations/{id}/tipping`.
pub async fn get_tipping(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::Terminal, &q.external_account_id)?;
    let id = path.into_inner();
    stripe_id("id", "tml_", &id)?;
    let t = tipping::get(&services, account.into_string(), id).await?;
    Ok(HttpResponse::Ok().json(tipping_json(t)))
}

/// `DELETE /v1/terminal/locations/{id}/tipping`: no tipping screen at the location any more.
pub async fn delete_tipping(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::Terminal, &q.external_account_id)?;
    let id = path.into_inner();
    stripe_id("id", "tml_", &id)?;
    let t = tipping::delete(&services, account.into_string(), id).await?;
    Ok(HttpResponse::Ok().json(tipping_json(t)))
}
