//! PaymentIntents and their state machine: requires_payment_method → requires_confirmation →
//! (requires_action) → requires_capture → succeeded | canceled; a decline returns the intent to
//! requires_payment_method with `last_payment_error`. Confirmation creates the Charge and, for a
//! card-present payment of an intent with `customer` and `setup_future_usage`, the reusable
//! `generated_card` PaymentMethod.

use super::cards::{Decline, TestCard, EXP_MONTH, EXP_YEAR};
use super::charges::{display_amount, Charge, Refund};
use super::disputes;
use super::error::{ApiError, CardErrorDetails};
use super::payment_methods::{self, Kind, PaymentMethod};
use super::search::{FieldValue, Query, Searchable};
use super::state::{
    created_matches, find, list, metadata_json, newest_first, random_id, Ctx, Meta, Object, Origin,
    State,
};
use crate::currencies::{Currency, MAX_AMOUNT};
use rand::Rng;
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    RequiresCapture,
    Succeeded,
    Canceled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::RequiresPaymentMethod => "requires_payment_method",
            Status::RequiresConfirmation => "requires_confirmation",
            Status::RequiresAction => "requires_action",
            Status::RequiresCapture => "requires_capture",
            Status::Succeeded => "succeeded",
            Status::Canceled => "canceled",
        }
    }
}

/// Authorizations of card-present payments must be captured within two days.
const CAPTURE_WINDOW_SECS: i64 = 2 * 24 * 3600;

/// With `request_extended_authorization`, eligible cards (Visa, Mastercard, American Express,
/// Discover) hold the authorization up to 30 days.
const EXTENDED_CAPTURE_WINDOW_SECS: i64 = 30 * 24 * 3600;

/// Stripe allows at most 10 incremental authorization attempts per PaymentIntent, declines
/// included.
pub(crate) const MAX_INCREMENT_ATTEMPTS: u32 = 10;

/// On-receipt tips (overcapture): at most 50% of the authorized amount or 50 USD above it,
/// whichever is greater.
const OVERCAPTURE_MIN_HEADROOM_USD: i64 = 5000;

#[derive(Debug, Clone)]
pub(crate) struct PaymentIntent {
    pub meta: Meta,
    pub amount: i64,
    pub currency: String,
    pub status: Status,
    pub capture_method: String,
    pub confirmation_method: String,
    pub customer: Option<String>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub payment_method: Option<String>,
    pub payment_method_types: Vec<String>,
    pub setup_future_usage: Option<String>,
    pub receipt_email: Option<String>,
    pub statement_descriptor: Option<String>,
    pub statement_descriptor_suffix: Option<String>,
    pub transfer_group: Option<String>,
    pub application_fee_amount: Option<i64>,
    pub amount_capturable: i64,
    pub amount_received: i64,
    pub latest_charge: Option<String>,
    /// Rendered when the error happened (it embeds the PaymentMethod as it was).
    pub last_payment_error: Option<Value>,
    pub canceled_at: Option<i64>,
    pub cancellation_reason: Option<String>,
    pub client_secret: String,
    pub request_incremental_authorization: bool,
    pub request_extended_authorization: bool,
    pub tip: Option<i64>,
    /// Incremental authorization attempts so far (declines included).
    pub increment_attempts: u32,
    pub next_action: Option<Value>,
    /// The customer completed 3-D Secure for the pending `requires_action` (the simulated
    /// authentication page); the next confirmation goes through.
    pub authenticated: bool,
}

impl Object for PaymentIntent {
    fn meta(&self) -> &Meta {
        &self.meta
    }
}

impl Searchable for PaymentIntent {
    fn field(&self, name: &str) -> FieldValue {
        match name {
            "amount" => FieldValue::Num(self.amount),
            "created" => FieldValue::Num(self.meta.created),
            "currency" => FieldValue::Str(self.currency.clone()),
            "customer" => self
                .customer
                .clone()
                .map_or(FieldValue::Null, FieldValue::Str),
            "status" => FieldValue::Str(self.status.as_str().to_string()),
            _ => FieldValue::Null,
        }
    }

    fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }
}

impl PaymentIntent {
    pub fn render(&self) -> Value {
        let mut options = serde_json::Map::new();
        for t in &self.payment_method_types {
            let o = match t.as_str() {
                "card_present" => json!({
                    "request_extended_authorization": self.request_extended_authorization,
                    "request_incremental_authorization_support": self.request_incremental_authorization,
                }),
                "card" => json!({
                    "installments": null,
                    "mandate_options": null,
                    "network": null,
                    "request_three_d_secure": "automatic",
                }),
                _ => json!({}),
            };
            options.insert(t.clone(), o);
        }
        let mut out = json!({
            "id": self.meta.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_capturable": self.amount_capturable,
            "amount_details": {
                "tip": match self.tip { Some(t) => json!({ "amount": t }), None => json!({}) },
            },
            "amount_received": self.amount_received,
            "application": null,
            "application_fee_amount": self.application_fee_amount,
            "automatic_payment_methods": null,
            "canceled_at": self.canceled_at,
            "cancellation_reason": self.cancellation_reason,
            "capture_method": self.capture_method,
            "client_secret": self.client_secret,
            "confirmation_method": self.confirmation_method,
            "created": self.meta.created,
            "currency": self.currency,
            "customer": self.customer,
            "description": self.description,
            "last_payment_error": self.last_payment_error,
            "latest_charge": self.latest_charge,
            "livemode": false,
            "metadata": metadata_json(&self.metadata),
            "next_action": self.next_action,
            "on_behalf_of": null,
            "payment_method": self.payment_method,
            "payment_method_configuration_details": null,
            "payment_method_options": options,
            "payment_method_types": self.payment_method_types,
            "payment_record": null,
            "processing": null,
            "receipt_email": self.receipt_email,
            "review": null,
            "setup_future_usage": self.setup_future_usage,
            "shipping": null,
            "source": null,
            "statement_descriptor": self.statement_descriptor,
            "statement_descriptor_suffix": self.statement_descriptor_suffix,
            "status": self.status.as_str(),
            "transfer_data": null,
            "transfer_group": self.transfer_group,
        });
        // Fields of newer API versions (kept out of the `json!` above: its recursion limit).
        out["allowed_payment_method_types"] = json!(self.payment_method_types);
        for field in [
            "customer_account",
            "excluded_payment_method_types",
            "managed_payments",
        ] {
            out[field] = Value::Null;
        }
        out
    }
}

/// Stripe's amount rules: a currency Stripe lists, at least its minimum charge, a multiple of its
/// step (three-decimal currencies end in 0; UGX and ISK in 00), at most eight digits.
pub(crate) fn check_amount(amount: i64, currency: &str, param: &str) -> Result<(), ApiError> {
    let cur = Currency::lookup(currency).ok_or_else(|| {
        ApiError::invalid(format!(
            "Invalid currency: {currency}. Stripe currently supports these currencies: usd, aed, afn, all, amd, ang, aoa, ars, aud, awg, azn, bam, bbd, bdt, bgn, bhd, bif, …"
        ))
        .with_param("currency")
    })?;
    if amount < 0 {
        return Err(
            ApiError::invalid("This value must be greater than or equal to 0.")
                .with_code("parameter_invalid_integer")
                .with_param(param),
        );
    }
    if amount < cur.minimum() {
        return Err(ApiError::invalid(format!(
            "Amount must be at least {} {}",
            display_amount(cur.minimum(), cur.code()),
            cur.code()
        ))
        .with_code("amount_too_small")
        .with_param(param));
    }
    if amount > MAX_AMOUNT {
        return Err(ApiError::invalid(format!(
            "Amount must be no more than {}",
            display_amount(MAX_AMOUNT, cur.code())
        ))
        .with_code("amount_too_large")
        .with_param(param));
    }
    if amount % cur.step() != 0 {
        let upper = cur.code().to_uppercase();
        let message = if cur.exponent() == 3 {
            format!("Invalid amount. Amounts in {upper} must be rounded to the nearest ten: the last digit must be 0. See https://stripe.com/docs/currencies#three-decimal for more information.")
        } else {
            format!("Invalid amount. Currency {upper} has become effectively zero-decimal and charged amounts must be evenly divisible by 100. See https://stripe.com/docs/currencies#zero-decimal for more information.")
        };
        return Err(ApiError::invalid(message).with_param(param));
    }
    Ok(())
}

const SUPPORTED_TYPES: &[&str] = &["card", "card_present", "interac_present"];

fn check_types(types: &[String], currency: &str) -> Result<(), ApiError> {
    for (i, t) in types.iter().enumerate() {
        if !SUPPORTED_TYPES.contains(&t.as_str()) {
            return Err(ApiError::invalid(format!(
                "The payment method type \"{t}\" is invalid. Please ensure the provided type is activated in your dashboard (https://dashboard.stripe.com/account/payments/settings) and your account is enabled for any preview features that you are trying to use."
            ))
            .with_param(&format!("allowed_payment_method_types[{i}]")));
        }
        if t == "interac_present" && currency != "cad" {
            return Err(ApiError::invalid(format!(
                "The currency provided ({currency}) is invalid for one or more payment method types on this PaymentIntent. interac_present supports: cad."
            ))
            .with_param("currency"));
        }
    }
    if types.is_empty() {
        return Err(
            ApiError::invalid("allowed_payment_method_types cannot be empty.")
                .with_param("allowed_payment_method_types"),
        );
    }
    Ok(())
}

fn options_flag(ctx: &Ctx, name: &str) -> Option<bool> {
    ctx.params
        .at_bool(&["payment_method_options", "card_present", name])
}

/// `POST /v1/payment_intents`
pub(crate) fn create(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let amount = p.int("amount").unwrap_or_default();
    let currency = p.str("currency").unwrap_or_default().to_lowercase();
    check_amount(amount, &currency, "amount")?;
    let types = p
        .strings("allowed_payment_method_types")
        .unwrap_or_else(|| vec!["card".to_string()]);
    check_types(&types, &currency)?;
    if let Some(customer) = p.str("customer") {
        super::customers::require(state, ctx.ns(), customer, "customer")?;
    }
    let confirm = p.bool("confirm").unwrap_or(false);
    let off_session = off_session(ctx)?;
    if off_session && !confirm {
        return Err(
            ApiError::invalid("You may only specify `off_session` when `confirm=true`.")
                .with_param("off_session"),
        );
    }
    let payment_method = match p.str("payment_method") {
        Some(pm) => Some(payment_methods::resolve(state, ctx, pm, "payment_method")?),
        None => None,
    };
    let mut metadata = BTreeMap::new();
    if let Some(update) = p.metadata() {
        update.apply(&mut metadata);
    }
    let mut pi = blank(state, ctx.ns(), ctx.now, amount, currency, types);
    pi.status = if payment_method.is_some() {
        Status::RequiresConfirmation
    } else {
        Status::RequiresPaymentMethod
    };
    pi.payment_method = payment_method;
    if let Some(method) = p.str("capture_method") {
        pi.capture_method = method.to_string();
    }
    if let Some(method) = p.str("confirmation_method") {
        pi.confirmation_method = method.to_string();
    }
    pi.customer = p.str("customer").map(str::to_string);
    pi.description = p.str("description").map(str::to_string);
    pi.metadata = metadata;
    pi.setup_future_usage = p.str("setup_future_usage").map(str::to_string);
    pi.receipt_email = p.str("receipt_email").map(str::to_string);
    pi.statement_descriptor = p.str("statement_descriptor").map(str::to_string);
    pi.statement_descriptor_suffix = p.str("statement_descriptor_suffix").map(str::to_string);
    pi.transfer_group = p.str("transfer_group").map(str::to_string);
    pi.application_fee_amount = p.int("application_fee_amount");
    pi.request_incremental_authorization =
        options_flag(ctx, "request_incremental_authorization_support").unwrap_or(false);
    pi.request_extended_authorization =
        options_flag(ctx, "request_extended_authorization").unwrap_or(false);
    if confirm {
        // Like Stripe, a confirmation that cannot even be attempted creates nothing.
        if let Err(mut error) = check_confirmable(state, &pi) {
            payment_methods::discard_unused(state, p.str("payment_method"), pi.payment_method);
            // The intent was never created: the error names none.
            error.card = None;
            return Err(error);
        }
    }
    let id = pi.meta.id.clone();
    let rendered = pi.render();
    state.payment_intents.insert(id.clone(), pi);
    state.emit(
        &ctx.origin,
        "payment_intent.created",
        rendered,
        None,
        ctx.now,
    );
    if confirm {
        confirm_intent(state, &ctx.origin, ctx.now, &id, off_session, &ctx.base_url)?;
    }
    Ok(state.payment_intents[&id].render())
}

/// A new intent waiting for a payment method, with Stripe's defaults (not stored yet).
pub(crate) fn blank(
    state: &mut State,
    ns: &str,
    now: i64,
    amount: i64,
    currency: String,
    payment_method_types: Vec<String>,
) -> PaymentIntent {
    let meta = state.meta("pi", ns, now);
    let client_secret = format!("{}{}", meta.id, random_id("_secret", 25));
    PaymentIntent {
        meta,
        amount,
        currency,
        status: Status::RequiresPaymentMethod,
        capture_method: "automatic".to_string(),
        confirmation_method: "automatic".to_string(),
        customer: None,
        description: None,
        metadata: BTreeMap::new(),
        payment_method: None,
        payment_method_types,
        setup_future_usage: None,
        receipt_email: None,
        statement_descriptor: None,
        statement_descriptor_suffix: None,
        transfer_group: None,
        application_fee_amount: None,
        amount_capturable: 0,
        amount_received: 0,
        latest_charge: None,
        last_payment_error: None,
        canceled_at: None,
        cancellation_reason: None,
        client_secret,
        request_incremental_authorization: false,
        request_extended_authorization: false,
        tip: None,
        increment_attempts: 0,
        next_action: None,
        authenticated: false,
    }
}

/// `off_session`: `true`, `one_off` or `recurring` mean off-session.
fn off_session(ctx: &Ctx) -> Result<bool, ApiError> {
    match ctx.params.str("off_session") {
        None | Some("false") => Ok(false),
        Some("true" | "one_off" | "recurring") => Ok(true),
        Some(other) => Err(ApiError::invalid(format!(
            "Invalid off_session: must be a boolean, one_off or recurring (got {other})"
        ))
        .with_param("off_session")),
    }
}

/// The intent named by the path, or 404.
fn path_intent<'a>(state: &'a State, ctx: &Ctx) -> Result<&'a PaymentIntent, ApiError> {
    let id = ctx.path_param(0);
    find(&state.payment_intents, ctx.ns(), id)
        .ok_or_else(|| ApiError::no_such("payment_intent", id, "intent"))
}

/// `GET /v1/payment_intents/{intent}` (`client_secret` must match when given).
pub(crate) fn retrieve(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let pi = path_intent(state, ctx)?;
    if let Some(secret) = ctx.params.str("client_secret") {
        if secret != pi.client_secret {
            return Err(ApiError::invalid(
                "The client_secret provided does not match the client_secret associated with the PaymentIntent.",
            )
            .with_param("client_secret"));
        }
    }
    Ok(pi.render())
}

/// `GET /v1/payment_intents`
pub(crate) fn list_all(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let customer = ctx.params.str("customer");
    let items = newest_first(&state.payment_intents, ctx.ns())
        .into_iter()
        .filter(|pi| customer.is_none() || pi.customer.as_deref() == customer)
        .filter(|pi| created_matches(ctx.params, pi.meta.created))
        .collect::<Vec<_>>();
    list(
        items,
        PaymentIntent::render,
        ctx.params,
        "/v1/payment_intents",
    )
}

/// `GET /v1/payment_intents/search`
pub(crate) fn search(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let query = Query::parse(
        ctx.params.str("query").unwrap_or_default(),
        &["amount", "created", "currency", "customer", "status"],
    )?;
    let items = newest_first(&state.payment_intents, ctx.ns())
        .into_iter()
        .filter(|pi| query.matches(*pi))
        .map(PaymentIntent::render)
        .collect();
    super::search::result(items, ctx.params, "/v1/payment_intents/search")
}

/// Parameters that only an intent still waiting for payment may change.
const PAYMENT_FIELDS: &[&str] = &[
    "amount",
    "currency",
    "customer",
    "payment_method",
    "allowed_payment_method_types",
    "setup_future_usage",
    "capture_method",
    "application_fee_amount",
    "payment_method_options",
];

/// `POST /v1/payment_intents/{intent}`
pub(crate) fn update(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let mut pi = path_intent(state, ctx)?.clone();
    let open = matches!(
        pi.status,
        Status::RequiresPaymentMethod | Status::RequiresConfirmation | Status::RequiresAction
    );
    if let Some(field) = PAYMENT_FIELDS.iter().find(|f| p.has(f)) {
        if !open {
            return Err(ApiError::unexpected_state(format!(
                "You cannot update `{field}` on this PaymentIntent because it has a status of {}. Updates are only allowed while the PaymentIntent has one of the following statuses: requires_payment_method, requires_confirmation, requires_action.",
                pi.status.as_str()
            ), pi.render())
            .with_param(field));
        }
    }
    if p.has("amount") || p.has("currency") {
        let amount = p.int("amount").unwrap_or(pi.amount);
        let currency = p
            .str("currency")
            .map(str::to_lowercase)
            .unwrap_or_else(|| pi.currency.clone());
        check_amount(amount, &currency, "amount")?;
        pi.amount = amount;
        pi.currency = currency;
    }
    if let Some(types) = p.strings("allowed_payment_method_types") {
        check_types(&types, &pi.currency)?;
        pi.payment_method_types = types;
    }
    if p.has("customer") {
        pi.customer = match p.str("customer") {
            Some(c) => {
                super::customers::require(state, ctx.ns(), c, "customer")?;
                Some(c.to_string())
            }
            None => None,
        };
    }
    if p.has("setup_future_usage") {
        pi.setup_future_usage = p.str("setup_future_usage").map(str::to_string);
    }
    if let Some(method) = p.str("capture_method") {
        pi.capture_method = method.to_string();
    }
    if p.has("application_fee_amount") {
        pi.application_fee_amount = p.int("application_fee_amount");
    }
    if let Some(flag) = options_flag(ctx, "request_incremental_authorization_support") {
        pi.request_incremental_authorization = flag;
    }
    if let Some(flag) = options_flag(ctx, "request_extended_authorization") {
        pi.request_extended_authorization = flag;
    }
    for (name, field) in [
        ("description", &mut pi.description),
        ("receipt_email", &mut pi.receipt_email),
        ("statement_descriptor", &mut pi.statement_descriptor),
        (
            "statement_descriptor_suffix",
            &mut pi.statement_descriptor_suffix,
        ),
        ("transfer_group", &mut pi.transfer_group),
    ] {
        if p.has(name) {
            *field = p.str(name).map(str::to_string);
        }
    }
    if let Some(update) = p.metadata() {
        update.apply(&mut pi.metadata);
    }
    if p.has("payment_method") {
        pi.payment_method = match p.str("payment_method") {
            Some(pm) => Some(payment_methods::resolve(state, ctx, pm, "payment_method")?),
            None => None,
        };
        pi.status = if pi.payment_method.is_some() {
            Status::RequiresConfirmation
        } else {
            Status::RequiresPaymentMethod
        };
    }
    if open {
        pi.last_payment_error = None;
    }
    let rendered = pi.render();
    state.payment_intents.insert(pi.meta.id.clone(), pi);
    Ok(rendered)
}

/// `POST /v1/payment_intents/{intent}/confirm`
pub(crate) fn confirm(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let pi = path_intent(state, ctx)?.clone();
    if !matches!(
        pi.status,
        Status::RequiresPaymentMethod | Status::RequiresConfirmation | Status::RequiresAction
    ) {
        return Err(ApiError::unexpected_state(format!(
            "You cannot confirm this PaymentIntent because it has a status of {}. Only a PaymentIntent with one of the following statuses may be confirmed: requires_payment_method, requires_confirmation, requires_action.",
            pi.status.as_str()
        ), pi.render()));
    }
    if let Some(secret) = p.str("client_secret") {
        if secret != pi.client_secret {
            return Err(ApiError::invalid(
                "The client_secret provided does not match the client_secret associated with the PaymentIntent.",
            )
            .with_param("client_secret"));
        }
    }
    let off_session = off_session(ctx)?;
    let mut updated = pi.clone();
    if let Some(types) = p.strings("allowed_payment_method_types") {
        check_types(&types, &pi.currency)?;
        updated.payment_method_types = types;
    }
    if let Some(pm) = p.str("payment_method") {
        updated.payment_method = Some(payment_methods::resolve(state, ctx, pm, "payment_method")?);
    }
    if p.has("setup_future_usage") {
        updated.setup_future_usage = p.str("setup_future_usage").map(str::to_string);
    }
    if p.has("receipt_email") {
        updated.receipt_email = p.str("receipt_email").map(str::to_string);
    }
    if let Some(method) = p.str("capture_method") {
        updated.capture_method = method.to_string();
    }
    // A rejected confirmation leaves the intent as it was.
    if let Err(error) = check_confirmable(state, &updated) {
        payment_methods::discard_unused(state, p.str("payment_method"), updated.payment_method);
        return Err(error);
    }
    state.payment_intents.insert(pi.meta.id.clone(), updated);
    confirm_intent(
        state,
        &ctx.origin,
        ctx.now,
        &pi.meta.id,
        off_session,
        &ctx.base_url,
    )?;
    Ok(state.payment_intents[&pi.meta.id].render())
}

/// The receipt data the reader gets from the chip and the issuer's answer (EMV tags 9F12, 84,
/// 8A, 9F26, 95, 9B and the CVM result), per test card.
fn receipt(card: &TestCard) -> Value {
    let (aid, name) = card.application();
    let contactless = card.read_method() == "contactless_emv";
    let hex = |len: usize| -> String {
        let mut rng = rand::thread_rng();
        (0..len)
            .map(|_| char::from(b"0123456789ABCDEF"[rng.gen_range(0..16)]))
            .collect()
    };
    let account_type = if card.interac {
        "checking"
    } else {
        card.account_type()
    };
    json!({
        "account_type": account_type,
        "application_cryptogram": hex(16),
        "application_preferred_name": name,
        "authorization_code": format!("{:06}", rand::thread_rng().gen_range(0..1_000_000)),
        "authorization_response_code": "3030",
        "cardholder_verification_method": card.cvm,
        "dedicated_file_name": aid,
        // No failed checks; an online PIN sets "online PIN entered" (byte 3, bit 3).
        "terminal_verification_results": if card.cvm == "online_pin" { "0000040000" } else { "0000000000" },
        "transaction_status_information": if contactless { "0000" } else { "E800" },
    })
}

/// The card-present (or interac) details of a charge.
fn present_details(pm: &PaymentMethod, pi: &PaymentIntent, now: i64) -> Value {
    let card = pm.card;
    let mut details = json!({
        "brand": card.brand,
        "cardholder_name": card.cardholder_name,
        "country": card.country,
        "emv_auth_data": "8A023030",
        "exp_month": EXP_MONTH,
        "exp_year": EXP_YEAR,
        "fingerprint": card.fingerprint(),
        "funding": card.funding,
        "generated_card": null,
        "last4": card.last4(),
        "network": card.network(),
        "network_transaction_id": null,
        "read_method": card.read_method(),
        "receipt": receipt(card),
    });
    if pm.kind == Kind::InteracPresent {
        details["preferred_locales"] = json!(["en", "fr"]);
    } else {
        // Interac's details have none of these.
        let manual = pi.capture_method == "manual";
        let extended = manual
            && pi.request_extended_authorization
            && matches!(card.brand, "visa" | "mastercard" | "amex" | "discover");
        let window = if extended {
            EXTENDED_CAPTURE_WINDOW_SECS
        } else {
            CAPTURE_WINDOW_SECS
        };
        details["amount_authorized"] = json!(pi.amount);
        details["brand_product"] = Value::Null;
        details["offline"] = Value::Null;
        if manual {
            details["capture_before"] = json!(now + window);
        }
        details["incremental_authorization_supported"] =
            json!(manual && pi.request_incremental_authorization && card.supports_increments());
        details["overcapture_supported"] =
            json!(manual && pi.currency == "usd" && card.supports_overcapture());
        details["preferred_locales"] = Value::Null;
        if let Some(wallet) = card.wallet {
            details["wallet"] = json!({ "type": wallet });
        }
    }
    details
}

fn card_details(pm: &PaymentMethod, pi: &PaymentIntent, authenticated: bool) -> Value {
    let card = pm.card;
    json!({
        "amount_authorized": pi.amount,
        "authorization_code": null,
        "brand": card.brand,
        "checks": { "address_line1_check": null, "address_postal_code_check": null, "cvc_check": null },
        "country": card.country,
        "electronic_commerce_indicator": null,
        "exp_month": EXP_MONTH,
        "exp_year": EXP_YEAR,
        "fingerprint": card.fingerprint(),
        "funding": card.funding,
        "installments": null,
        "last4": card.last4(),
        "mandate": null,
        "network": card.network(),
        "network_token": { "used": false },
        "network_transaction_id": null,
        "regulated_status": "unregulated",
        "three_d_secure": if authenticated {
            json!({
                "authentication_flow": "challenge",
                "electronic_commerce_indicator": "05",
                "exemption_indicator": null,
                "result": "authenticated",
                "result_reason": null,
                "transaction_id": format!("{}-sim-3ds", pi.meta.id),
                "version": "2.2.0",
            })
        } else {
            Value::Null
        },
        "transaction_link_id": null,
        "wallet": null,
    })
}

/// Whether `pi` can be confirmed at all: it has a payment method of an allowed type that is not
/// another customer's. These are 400s that change nothing; a decline is not checked here.
fn check_confirmable(state: &State, pi: &PaymentIntent) -> Result<(), ApiError> {
    let Some(pm_id) = &pi.payment_method else {
        return Err(ApiError::unexpected_state(
            "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update the PaymentIntent with a payment method and then confirm it again, or confirm it again directly with a payment method.", pi.render()));
    };
    let pm = &state.payment_methods[pm_id];
    if !pi
        .payment_method_types
        .iter()
        .any(|t| t == pm.kind.as_str())
    {
        return Err(ApiError::invalid(format!(
            "The PaymentMethod provided ({}) is not allowed for this PaymentIntent. Allowed types: {}.",
            pm.kind.as_str(),
            pi.payment_method_types.join(", ")
        ))
        .with_param("payment_method"));
    }
    if let Some(owner) = &pm.customer {
        if pi.customer.as_deref() != Some(owner.as_str()) {
            return Err(ApiError::invalid(format!(
                "The provided PaymentMethod belongs to a Customer ({owner}). Please include the Customer in the `customer` parameter on the PaymentIntent."
            ))
            .with_param("payment_method"));
        }
    }
    Ok(())
}

/// Confirms an intent with its `payment_method`: authorizes (or declines) the card, creates the
/// Charge, moves the intent on and emits the events. A decline is returned as a 402 card error
/// carrying the intent (back in requires_payment_method).
pub(crate) fn confirm_intent(
    state: &mut State,
    origin: &Origin,
    now: i64,
    pi_id: &str,
    off_session: bool,
    base_url: &str,
) -> Result<(), ApiError> {
    let ns = origin.ns.clone();
    let pi = state.payment_intents[pi_id].clone();
    check_confirmable(state, &pi)?;
    let pm_id = pi.payment_method.clone().expect("checked");
    let pm = state.payment_methods[&pm_id].clone();
    let authenticated = pi.authenticated;
    let decline: Option<Decline> = match pm.kind {
        Kind::CardPresent | Kind::InteracPresent => pm.card.present,
        Kind::Card if pm.card.needs_authentication && !authenticated => {
            if off_session {
                Some(Decline {
                    code: "authentication_required",
                    decline_code: "authentication_required",
                    message: "Your card was declined. This transaction requires authentication.",
                })
            } else {
                let intent = state.payment_intents.get_mut(pi_id).expect("exists");
                intent.status = Status::RequiresAction;
                intent.next_action = Some(json!({
                    "redirect_to_url": {
                        "return_url": null,
                        "url": format!("{base_url}/_sim/authenticate/{pi_id}"),
                    },
                    "type": "redirect_to_url",
                }));
                let rendered = intent.render();
                state.emit(
                    origin,
                    "payment_intent.requires_action",
                    rendered,
                    None,
                    now,
                );
                return Ok(());
            }
        }
        Kind::Card => pm.card.online,
    };
    let details = match pm.kind {
        Kind::Card => json!({ "card": card_details(&pm, &pi, authenticated), "type": "card" }),
        kind => json!({ kind.as_str(): present_details(&pm, &pi, now), "type": kind.as_str() }),
    };
    let meta = state.meta("ch", &ns, now);
    let charge_id = meta.id.clone();
    let mut charge = Charge {
        meta,
        amount: pi.amount,
        amount_captured: 0,
        amount_refunded: 0,
        captured: false,
        currency: pi.currency.clone(),
        customer: pi.customer.clone(),
        description: pi.description.clone(),
        metadata: pi.metadata.clone(),
        payment_intent: pi.meta.id.clone(),
        payment_method: pm_id.clone(),
        details,
        failure: decline,
        receipt_email: pi.receipt_email.clone(),
        statement_descriptor: pi.statement_descriptor.clone(),
        receipt_url: format!("{base_url}/_sim/receipts/{charge_id}"),
        disputed: false,
    };
    if pm.kind != Kind::Card {
        // Card-present PaymentMethods are single use.
        if let Some(m) = state.payment_methods.get_mut(&pm_id) {
            m.consumed = true;
        }
    }
    if let Some(decline) = decline {
        let charge_json = charge.render();
        state.charges.insert(charge_id.clone(), charge);
        let mut details = CardErrorDetails {
            decline_code: Some(decline.decline_code.to_string()),
            charge: Some(charge_id.clone()),
            payment_method: Some(pm.render()),
            ..Default::default()
        };
        let partial = ApiError::card_error(decline.code, decline.message, details.clone());
        let intent = state.payment_intents.get_mut(pi_id).expect("exists");
        intent.status = Status::RequiresPaymentMethod;
        intent.payment_method = None;
        intent.next_action = None;
        intent.authenticated = false;
        intent.latest_charge = Some(charge_id);
        intent.last_payment_error = Some(partial.body());
        let intent_json = intent.render();
        state.emit(origin, "charge.failed", charge_json, None, now);
        state.emit(
            origin,
            "payment_intent.payment_failed",
            intent_json.clone(),
            None,
            now,
        );
        details.payment_intent = Some(intent_json);
        return Err(ApiError::card_error(decline.code, decline.message, details));
    }
    // Saving the card for later.
    if let (Some(customer), Some(_)) = (&pi.customer, &pi.setup_future_usage) {
        match pm.kind {
            Kind::CardPresent if pm.card.wallet.is_none() => {
                let mut source = charge.details["card_present"].clone();
                source["generated_card"] = Value::Null;
                let generated = payment_methods::create(state, &ns, now, Kind::Card, pm.card);
                let gm = state.payment_methods.get_mut(&generated).expect("created");
                gm.customer = Some(customer.clone());
                gm.generated_from = Some(payment_methods::GeneratedFrom::Charge(
                    charge_id.clone(),
                    source,
                ));
                gm.allow_redisplay = pm.allow_redisplay.clone();
                let rendered = gm.render();
                charge.details["card_present"]["generated_card"] = json!(generated);
                state.emit(origin, "payment_method.attached", rendered, None, now);
            }
            Kind::Card if pm.customer.is_none() => {
                let m = state.payment_methods.get_mut(&pm_id).expect("exists");
                m.customer = Some(customer.clone());
                let rendered = m.render();
                state.emit(origin, "payment_method.attached", rendered, None, now);
            }
            _ => {}
        }
    } else if pm.kind == Kind::Card && pm.customer.is_none() {
        if let Some(m) = state.payment_methods.get_mut(&pm_id) {
            m.consumed = true;
        }
    }
    let manual = pi.capture_method == "manual" && pm.kind != Kind::InteracPresent;
    if !manual {
        charge.captured = true;
        charge.amount_captured = pi.amount;
    }
    let charge_json = charge.render();
    state.charges.insert(charge_id.clone(), charge);
    let intent = state.payment_intents.get_mut(pi_id).expect("exists");
    intent.latest_charge = Some(charge_id.clone());
    intent.last_payment_error = None;
    intent.next_action = None;
    intent.authenticated = false;
    if manual {
        intent.status = Status::RequiresCapture;
        intent.amount_capturable = pi.amount;
    } else {
        intent.status = Status::Succeeded;
        intent.amount_received = pi.amount;
    }
    let intent_json = intent.render();
    state.emit(origin, "charge.succeeded", charge_json, None, now);
    let kind = if manual {
        "payment_intent.amount_capturable_updated"
    } else {
        "payment_intent.succeeded"
    };
    state.emit(origin, kind, intent_json, None, now);
    if !manual {
        disputes::open_if_disputed(state, origin, now, &charge_id);
    }
    Ok(())
}

/// `POST /v1/payment_intents/{intent}/capture`
pub(crate) fn capture(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let pi = path_intent(state, ctx)?.clone();
    if pi.status != Status::RequiresCapture {
        return Err(ApiError::unexpected_state(format!(
            "This PaymentIntent could not be captured because it has a status of {}. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.",
            pi.status.as_str()
        ), pi.render()));
    }
    let charge_id = pi
        .latest_charge
        .clone()
        .expect("authorized intents have a charge");
    let present = &state.charges[&charge_id].details["card_present"];
    let overcapture = present["overcapture_supported"].as_bool().unwrap_or(false);
    let authorized = present["amount_authorized"]
        .as_i64()
        .unwrap_or(pi.amount_capturable);
    let amount = match p.int("amount_to_capture") {
        None => pi.amount_capturable,
        Some(a) if a <= 0 => {
            return Err(ApiError::invalid("Invalid positive integer")
                .with_code("parameter_invalid_integer")
                .with_param("amount_to_capture"))
        }
        Some(a) if a > pi.amount_capturable && !overcapture => {
            return Err(ApiError::invalid(format!(
                "The amount to capture ({}) cannot be greater than the amount capturable ({}): this payment does not support overcapture (payment_method_details.card_present.overcapture_supported is false).",
                display_amount(a, &pi.currency),
                display_amount(pi.amount_capturable, &pi.currency)
            ))
            .with_code("amount_too_large")
            .with_param("amount_to_capture"))
        }
        Some(a) if a > overcapture_limit(authorized) => {
            return Err(ApiError::invalid(format!(
                "The amount to capture ({}) exceeds the maximum that can be captured on this payment ({}): overcapture is limited to 50% of the authorized amount ({}) or {} above it, whichever is greater.",
                display_amount(a, &pi.currency),
                display_amount(overcapture_limit(authorized), &pi.currency),
                display_amount(authorized, &pi.currency),
                display_amount(OVERCAPTURE_MIN_HEADROOM_USD, &pi.currency),
            ))
            .with_code("amount_too_large")
            .with_param("amount_to_capture"))
        }
        Some(a) => a,
    };
    let charge = state.charges.get_mut(&charge_id).expect("charge exists");
    let previous =
        json!({ "amount_captured": charge.amount_captured, "captured": charge.captured });
    charge.captured = true;
    charge.amount_captured = amount;
    // Overcapturing raises the payment's amount to the captured total (the tip included).
    let overcaptured = amount > pi.amount_capturable;
    if overcaptured {
        charge.amount = amount;
    }
    if let Some(update) = p.metadata() {
        update.apply(&mut charge.metadata);
    }
    let charge_json = charge.render();
    let intent = state.payment_intents.get_mut(&pi.meta.id).expect("exists");
    intent.status = Status::Succeeded;
    if overcaptured {
        intent.amount = amount;
    }
    intent.amount_received = amount;
    intent.amount_capturable = 0;
    if let Some(update) = p.metadata() {
        update.apply(&mut intent.metadata);
    }
    if p.has("statement_descriptor") {
        intent.statement_descriptor = p.str("statement_descriptor").map(str::to_string);
    }
    if p.has("application_fee_amount") {
        intent.application_fee_amount = p.int("application_fee_amount");
    }
    let intent_json = intent.render();
    state.emit(
        &ctx.origin,
        "charge.captured",
        charge_json,
        Some(previous),
        ctx.now,
    );
    state.emit(
        &ctx.origin,
        "payment_intent.succeeded",
        intent_json.clone(),
        None,
        ctx.now,
    );
    disputes::open_if_disputed(state, &ctx.origin, ctx.now, &charge_id);
    Ok(intent_json)
}

/// `POST /v1/payment_intents/{intent}/cancel`
pub(crate) fn cancel(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let pi = path_intent(state, ctx)?.clone();
    if matches!(pi.status, Status::Succeeded | Status::Canceled) {
        return Err(ApiError::unexpected_state(format!(
            "You cannot cancel this PaymentIntent because it has a status of {}. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing.",
            pi.status.as_str()
        ), pi.render()));
    }
    cancel_intent(
        state,
        &ctx.origin,
        ctx.now,
        &pi.meta.id,
        ctx.params.str("cancellation_reason"),
    );
    Ok(state.payment_intents[&pi.meta.id].render())
}

/// Cancels an intent; an uncaptured authorization is released (refunded in full).
pub(crate) fn cancel_intent(
    state: &mut State,
    origin: &Origin,
    now: i64,
    pi_id: &str,
    reason: Option<&str>,
) {
    let pi = state.payment_intents[pi_id].clone();
    if pi.status == Status::RequiresCapture {
        if let Some(charge_id) = &pi.latest_charge {
            let meta = state.meta("re", &origin.ns, now);
            let charge = &state.charges[charge_id];
            let refund = Refund {
                meta,
                amount: pi.amount_capturable,
                charge: charge_id.clone(),
                payment_intent: pi_id.to_string(),
                customer: charge.customer.clone(),
                payment_method: charge.payment_method.clone(),
                currency: pi.currency.clone(),
                reason: None,
                metadata: BTreeMap::new(),
            };
            state.refunds.insert(refund.meta.id.clone(), refund);
            let charge = state.charges.get_mut(charge_id).expect("charge exists");
            let previous =
                json!({ "amount_refunded": charge.amount_refunded, "refunded": charge.refunded() });
            charge.amount_refunded = charge.amount;
            let charge_json = charge.render();
            state.emit(origin, "charge.refunded", charge_json, Some(previous), now);
        }
    }
    let intent = state.payment_intents.get_mut(pi_id).expect("exists");
    intent.status = Status::Canceled;
    intent.canceled_at = Some(now);
    intent.cancellation_reason = reason.map(str::to_string);
    intent.amount_capturable = 0;
    intent.next_action = None;
    let rendered = intent.render();
    state.emit(origin, "payment_intent.canceled", rendered, None, now);
}

/// The most an authorization of `authorized` (USD minor units) can be captured for.
fn overcapture_limit(authorized: i64) -> i64 {
    authorized + (authorized / 2).max(OVERCAPTURE_MIN_HEADROOM_USD)
}

/// `POST /v1/payment_intents/{intent}/increment_authorization`: raises the authorized amount of
/// an eligible card-present authorization. At most [`MAX_INCREMENT_ATTEMPTS`] attempts, declines
/// included; a declined increment changes nothing but the attempt count.
pub(crate) fn increment_authorization(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let pi = path_intent(state, ctx)?.clone();
    if pi.status != Status::RequiresCapture {
        return Err(ApiError::unexpected_state(format!(
            "This PaymentIntent's amount could not be incremented because it has a status of {}. Only a PaymentIntent with one of the following statuses may have its amount incremented: requires_capture.",
            pi.status.as_str()
        ), pi.render()));
    }
    let charge_id = pi
        .latest_charge
        .clone()
        .expect("authorized intents have a charge");
    let charge = &state.charges[&charge_id];
    let supported = charge.details["card_present"]["incremental_authorization_supported"]
        .as_bool()
        .unwrap_or(false);
    if !supported {
        // Stripe documents no error code for this: a 400 without one.
        return Err(ApiError::invalid(
            "This PaymentIntent is not eligible for incremental authorizations: payment_method_details.card_present.incremental_authorization_supported is false. Request support with payment_method_options[card_present][request_incremental_authorization_support]=true and a card that offers it (Visa, Mastercard or Discover).",
        ));
    }
    let amount = p.int("amount").unwrap_or_default();
    check_amount(amount, &pi.currency, "amount")?;
    if amount <= pi.amount {
        return Err(ApiError::invalid(format!(
            "The amount provided ({amount}) must be greater than the PaymentIntent's currently authorized amount ({}).",
            pi.amount
        ))
        .with_param("amount"));
    }
    if pi.increment_attempts >= MAX_INCREMENT_ATTEMPTS {
        return Err(ApiError::invalid(format!(
            "This PaymentIntent has reached the maximum of {MAX_INCREMENT_ATTEMPTS} incremental authorization attempts."
        )));
    }
    let card = state.payment_methods[&charge.payment_method].card;
    let intent = state.payment_intents.get_mut(&pi.meta.id).expect("exists");
    intent.increment_attempts += 1;
    if card.declines_increments {
        // The authorization stays as it was, capturable for the amount already authorized.
        let details = CardErrorDetails {
            decline_code: Some("generic_decline".to_string()),
            charge: Some(charge_id),
            payment_intent: Some(intent.render()),
            ..Default::default()
        };
        return Err(ApiError::card_error(
            "card_declined",
            "Your card was declined.",
            details,
        ));
    }
    let charge = state.charges.get_mut(&charge_id).expect("exists");
    charge.amount = amount;
    charge.details["card_present"]["amount_authorized"] = json!(amount);
    let intent = state.payment_intents.get_mut(&pi.meta.id).expect("exists");
    intent.amount = amount;
    intent.amount_capturable = amount;
    if let Some(update) = p.metadata() {
        update.apply(&mut intent.metadata);
    }
    if p.has("description") {
        intent.description = p.str("description").map(str::to_string);
    }
    let rendered = intent.render();
    state.emit(
        &ctx.origin,
        "payment_intent.amount_capturable_updated",
        rendered.clone(),
        Some(json!({ "amount": pi.amount, "amount_capturable": pi.amount_capturable })),
        ctx.now,
    );
    Ok(rendered)
}

/// The intent a client secret (`pi_…_secret_…`) belongs to, in namespace `ns`.
pub(crate) fn by_client_secret<'a>(
    state: &'a State,
    ns: &str,
    secret: &str,
) -> Result<&'a PaymentIntent, ApiError> {
    let id = secret.split("_secret_").next().unwrap_or_default();
    find(&state.payment_intents, ns, id)
        .filter(|pi| pi.client_secret == secret)
        .ok_or_else(|| {
            ApiError::invalid(format!("No such payment_intent: '{id}'"))
                .with_code("resource_missing")
                .with_param("client_secret")
                .with_status(404)
        })
}
