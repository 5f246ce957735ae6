//! Checkout Sessions in `setup` and `payment` mode: create, retrieve, list, expire, and
//! completion through the simulated hosted page (`/_sim/checkout/{id}`), which creates the
//! SetupIntent or PaymentIntent outcome and saves the card to the session's customer.

use super::cards::TestCard;
use super::charges::extend;
use super::error::ApiError;
use super::payment_intents::{self, check_amount};
use super::payment_methods::{self, Kind};
use super::setup_intents::{self, NewSetupIntent};
use super::state::{
    find, find_mut, list, metadata_json, newest_first, random_id, Ctx, Meta, Object, Origin, State,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const MIN_LIFETIME_SECS: i64 = 30 * 60;
const MAX_LIFETIME_SECS: i64 = 24 * 3600;

#[derive(Debug, Clone)]
pub(crate) struct CheckoutSession {
    pub meta: Meta,
    pub mode: String,
    /// `open`, `complete` or `expired`.
    pub status: &'static str,
    pub customer: Option<String>,
    pub customer_email: Option<String>,
    pub customer_creation: Option<String>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    /// `hosted_page` (a page at `url`) or `embedded_page` (mounted with `client_secret`, then
    /// `return_url`).
    pub ui_mode: String,
    pub return_url: Option<String>,
    pub client_secret: Option<String>,
    pub currency: Option<String>,
    pub amount_total: Option<i64>,
    pub metadata: BTreeMap<String, String>,
    pub client_reference_id: Option<String>,
    pub expires_at: i64,
    pub url: String,
    pub setup_intent: Option<String>,
    pub payment_intent: Option<String>,
    /// `payment_intent_data` / `setup_intent_data`: what the resulting intent gets.
    pub capture_method: Option<String>,
    pub setup_future_usage: Option<String>,
    pub intent_metadata: BTreeMap<String, String>,
    pub intent_description: Option<String>,
    pub paid: bool,
    /// The items of a `payment` session (none in `setup` mode), in the order given.
    pub line_items: Vec<LineItem>,
}

/// A line item of a session (`item`), from inline `price_data`: Stripe creates a one-time price
/// (and, with `product_data`, a product) for it.
#[derive(Debug, Clone)]
pub(crate) struct LineItem {
    pub id: String,
    pub price: String,
    pub product: String,
    pub created: i64,
    /// The product's name (`product_data[name]`), which Stripe shows as the item's description.
    pub description: Option<String>,
    pub currency: String,
    pub unit_amount: i64,
    pub quantity: i64,
    pub metadata: BTreeMap<String, String>,
}

impl LineItem {
    pub fn render(&self) -> Value {
        let total = self.unit_amount * self.quantity;
        json!({
            "id": self.id,
            "object": "item",
            "adjustable_quantity": null,
            "amount_discount": 0,
            "amount_subtotal": total,
            "amount_tax": 0,
            "amount_total": total,
            "currency": self.currency,
            "description": self.description,
            "metadata": metadata_json(&self.metadata),
            "price": {
                "id": self.price,
                "object": "price",
                "active": false,
                "billing_scheme": "per_unit",
                "created": self.created,
                "currency": self.currency,
                "custom_unit_amount": null,
                "livemode": false,
                "lookup_key": null,
                "metadata": {},
                "nickname": null,
                "product": self.product,
                "recurring": null,
                "tax_behavior": "unspecified",
                "tiers_mode": null,
                "transform_quantity": null,
                "type": "one_time",
                "unit_amount": self.unit_amount,
                "unit_amount_decimal": self.unit_amount.to_string(),
            },
            "quantity": self.quantity,
        })
    }
}

impl Object for CheckoutSession {
    fn meta(&self) -> &Meta {
        &self.meta
    }
}

impl CheckoutSession {
    pub fn render(&self) -> Value {
        let complete = self.status == "complete";
        let mut out = json!({
            "id": self.meta.id,
            "object": "checkout.session",
            "adaptive_pricing": null,
            "after_expiration": null,
            "allow_promotion_codes": null,
            "amount_subtotal": self.amount_total,
            "allowed_payment_method_types": null,
            "amount_total": self.amount_total,
            "automatic_tax": { "enabled": false, "liability": null, "provider": null, "status": null },
            "billing_address_collection": null,
            "cancel_url": self.cancel_url,
            "client_reference_id": self.client_reference_id,
            "client_secret": self.client_secret,
            "collected_information": null,
            "consent": null,
            "consent_collection": null,
            "created": self.meta.created,
            "currency": self.currency,
            "currency_conversion": null,
            "custom_fields": [],
            "custom_text": {
                "after_submit": null,
                "shipping_address": null,
                "submit": null,
                "terms_of_service_acceptance": null,
            },
            "customer": self.customer,
            "customer_account": null,
            "customer_creation": self.customer_creation,
            "customer_details": if complete {
                json!({
                    "address": null,
                    "business_name": null,
                    "email": self.customer_email,
                    "individual_name": null,
                    "name": null,
                    "phone": null,
                    "tax_exempt": "none",
                    "tax_ids": [],
                })
            } else {
                Value::Null
            },
        });
        let more = json!({
            "customer_email": self.customer_email,
            "discounts": null,
            "expires_at": self.expires_at,
            "integration_identifier": null,
            "invoice": null,
            "invoice_creation": null,
            "livemode": false,
            "locale": null,
            "managed_payments": null,
            "metadata": metadata_json(&self.metadata),
            "mode": self.mode,
            "origin_context": null,
            "payment_intent": self.payment_intent,
            "payment_link": null,
            "payment_method_collection": "always",
            "payment_method_configuration_details": null,
            "payment_method_options": {},
            "payment_method_types": ["card"],
            "payment_status": if self.mode == "setup" {
                "no_payment_required"
            } else if self.paid {
                "paid"
            } else {
                "unpaid"
            },
            "permissions": null,
            "phone_number_collection": { "enabled": false },
            "recovered_from": null,
            "saved_payment_method_options": null,
            "setup_intent": self.setup_intent,
            "shipping_address_collection": null,
            "shipping_cost": null,
            "shipping_options": [],
            "status": self.status,
            "submit_type": null,
            "subscription": null,
            "success_url": self.success_url,
            "tax_id_collection": { "enabled": false, "required": "never" },
            "total_details": if self.mode == "payment" {
                json!({ "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0 })
            } else {
                Value::Null
            },
            "ui_mode": self.ui_mode,
            "url": if self.status == "open" && self.ui_mode == "hosted_page" {
                json!(self.url)
            } else {
                Value::Null
            },
        });
        extend(&mut out, more);
        out["wallet_options"] = Value::Null;
        // Optional and never null: present only on an embedded session.
        if let Some(url) = &self.return_url {
            out["return_url"] = json!(url);
        }
        out
    }
}

/// The items of `line_items` (inline `price_data` only), their total and their currency.
fn line_items_total(ctx: &Ctx) -> Result<(Vec<LineItem>, i64, String), ApiError> {
    let items = ctx
        .params
        .value("line_items")
        .and_then(Value::as_array)
        .filter(|items| !items.is_empty())
        .ok_or_else(|| {
            ApiError::invalid("You must provide at least one line item in payment mode.")
                .with_param("line_items")
        })?;
    let mut total: i64 = 0;
    let mut currency: Option<String> = None;
    let mut line_items = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let param = |name: &str| format!("line_items[{i}][{name}]");
        if let Some(price) = item.get("price").and_then(Value::as_str) {
            return Err(ApiError::no_such_param("price", price, &param("price")));
        }
        let data = item
            .get("price_data")
            .ok_or_else(|| ApiError::missing_param(&param("price_data")))?;
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
        let item_currency = text(data.get("currency")).to_lowercase();
        if item_currency.is_empty() {
            return Err(ApiError::missing_param(&param("price_data][currency")));
        }
        let unit = text(data.get("unit_amount"))
            .parse::<i64>()
            .map_err(|_| ApiError::missing_param(&param("price_data][unit_amount")))?;
        let quantity = match item.get("quantity") {
            None => 1,
            Some(q) => text(Some(q)).parse::<i64>().unwrap_or(0),
        };
        if quantity < 1 {
            return Err(
                ApiError::invalid("Quantity must be at least 1.").with_param(&param("quantity"))
            );
        }
        if currency.as_ref().is_some_and(|c| *c != item_currency) {
            return Err(
                ApiError::invalid("All line items must use the same currency.")
                    .with_param(&param("price_data][currency")),
            );
        }
        total = total.saturating_add(unit.saturating_mul(quantity));
        let metadata = item
            .get("metadata")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), text(Some(v)))).collect())
            .unwrap_or_default();
        line_items.push(LineItem {
            id: random_id("li", 24),
            price: random_id("price", 24),
            product: data
                .get("product")
                .and_then(Value::as_str)
                .map_or_else(|| random_id("prod", 14), str::to_string),
            created: ctx.now,
            description: data
                .get("product_data")
                .and_then(|d| d.get("name"))
                .and_then(Value::as_str)
                .map(str::to_string),
            currency: item_currency.clone(),
            unit_amount: unit,
            quantity,
            metadata,
        });
        currency = Some(item_currency);
    }
    let currency = currency.expect("at least one item");
    check_amount(total, &currency, "line_items")?;
    Ok((line_items, total, currency))
}

/// `POST /v1/checkout/sessions`
pub(crate) fn create(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let mode = p
        .str("mode")
        .ok_or_else(|| ApiError::missing_param("mode"))?;
    if mode == "subscription" {
        return Err(ApiError::invalid(
            "The simulator supports Checkout in payment and setup mode only.",
        )
        .with_param("mode"));
    }
    if let Some(types) = p.strings("allowed_payment_method_types") {
        if let Some((i, t)) = types.iter().enumerate().find(|(_, t)| *t != "card") {
            return Err(ApiError::invalid(format!(
                "The payment method type \"{t}\" is not available in the simulator's Checkout (only card)."
            ))
            .with_param(&format!("allowed_payment_method_types[{i}]")));
        }
    }
    if let Some(customer) = p.str("customer") {
        super::customers::require(state, ctx.ns(), customer, "customer")?;
        if p.has("customer_email") {
            return Err(ApiError::invalid(
                "You may only specify one of these parameters: customer, customer_email.",
            )
            .with_param("customer_email"));
        }
    }
    let (line_items, amount_total, currency) = if mode == "payment" {
        let (items, total, currency) = line_items_total(ctx)?;
        (items, Some(total), Some(currency))
    } else {
        if p.has("line_items") {
            return Err(
                ApiError::invalid("line_items cannot be used in setup mode.")
                    .with_param("line_items"),
            );
        }
        (Vec::new(), None, p.str("currency").map(str::to_lowercase))
    };
    let ui_mode = p.str("ui_mode").unwrap_or("hosted_page");
    if ui_mode == "embedded_page" {
        if let Some(param) = ["success_url", "cancel_url"].into_iter().find(|k| p.has(k)) {
            return Err(ApiError::invalid(format!(
                "You cannot use `{param}` when `ui_mode` is `embedded_page`; use `return_url`."
            ))
            .with_param(param));
        }
        if !p.has("return_url") {
            return Err(ApiError::missing_param("return_url"));
        }
    } else {
        if p.has("return_url") {
            return Err(ApiError::invalid(
                "`return_url` can only be used when `ui_mode` is `embedded_page`.",
            )
            .with_param("return_url"));
        }
        if !p.has("success_url") {
            return Err(ApiError::missing_param("success_url"));
        }
    }
    let expires_at = match p.int("expires_at") {
        None => ctx.now + MAX_LIFETIME_SECS,
        Some(t) if t >= ctx.now + MIN_LIFETIME_SECS && t <= ctx.now + MAX_LIFETIME_SECS => t,
        Some(_) => {
            return Err(ApiError::invalid(
                "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
            )
            .with_param("expires_at"))
        }
    };
    let mut metadata = BTreeMap::new();
    if let Some(update) = p.metadata() {
        update.apply(&mut metadata);
    }
    let data = if mode == "payment" {
        "payment_intent_data"
    } else {
        "setup_intent_data"
    };
    let mut intent_metadata = BTreeMap::new();
    if let Some(update) = p.metadata_at(&[data, "metadata"]) {
        update.apply(&mut intent_metadata);
    }
    let meta = state.meta("cs_test", ctx.ns(), ctx.now);
    let url = format!("{}/_sim/checkout/{}", ctx.base_url, meta.id);
    let client_secret =
        (ui_mode == "embedded_page").then(|| format!("{}{}", meta.id, random_id("_secret", 24)));
    let session = CheckoutSession {
        meta,
        mode: mode.to_string(),
        status: "open",
        customer: p.str("customer").map(str::to_string),
        customer_email: p.str("customer_email").map(str::to_string),
        customer_creation: p.str("customer_creation").map(str::to_string),
        success_url: p.str("success_url").map(str::to_string),
        cancel_url: p.str("cancel_url").map(str::to_string),
        ui_mode: ui_mode.to_string(),
        return_url: p.str("return_url").map(str::to_string),
        client_secret,
        currency,
        amount_total,
        metadata,
        client_reference_id: p.str("client_reference_id").map(str::to_string),
        expires_at,
        url,
        setup_intent: None,
        payment_intent: None,
        capture_method: p
            .at_str(&["payment_intent_data", "capture_method"])
            .map(str::to_string),
        setup_future_usage: p
            .at_str(&["payment_intent_data", "setup_future_usage"])
            .map(str::to_string),
        intent_metadata,
        intent_description: p.at_str(&[data, "description"]).map(str::to_string),
        paid: false,
        line_items,
    };
    let rendered = session.render();
    state
        .checkout_sessions
        .insert(session.meta.id.clone(), session);
    Ok(rendered)
}

/// `GET /v1/checkout/sessions/{session}`
pub(crate) fn retrieve(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let id = ctx.path_param(0);
    expire_if_due(state, id, ctx.now);
    find(&state.checkout_sessions, ctx.ns(), id)
        .map(CheckoutSession::render)
        .ok_or_else(|| ApiError::no_such("checkout.session", id, "session"))
}

/// `GET /v1/checkout/sessions` (filters `customer`, `payment_intent`,
/// `customer_details[email]`).
pub(crate) fn list_all(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let email = p.at_str(&["customer_details", "email"]);
    let items = newest_first(&state.checkout_sessions, ctx.ns())
        .into_iter()
        .filter(|s| p.str("customer").is_none() || s.customer.as_deref() == p.str("customer"))
        .filter(|s| {
            p.str("payment_intent").is_none()
                || s.payment_intent.as_deref() == p.str("payment_intent")
        })
        .filter(|s| {
            email.is_none() || (s.status == "complete" && s.customer_email.as_deref() == email)
        })
        .collect::<Vec<_>>();
    list(items, CheckoutSession::render, p, "/v1/checkout/sessions")
}

/// `POST /v1/checkout/sessions/{session}/expire`
pub(crate) fn expire(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let id = ctx.path_param(0);
    let session = find_mut(&mut state.checkout_sessions, ctx.ns(), id)
        .ok_or_else(|| ApiError::no_such("checkout.session", id, "session"))?;
    if session.status != "open" {
        return Err(ApiError::invalid(format!(
            "Only Checkout Sessions with a status in [\"open\"] can be expired. This session has a status of \"{}\".",
            session.status
        )));
    }
    session.status = "expired";
    let rendered = session.render();
    state.emit(
        &ctx.origin,
        "checkout.session.expired",
        rendered.clone(),
        None,
        ctx.now,
    );
    Ok(rendered)
}

/// Open sessions past `expires_at` become expired.
fn expire_if_due(state: &mut State, id: &str, now: i64) {
    let Some(session) = state.checkout_sessions.get_mut(id) else {
        return;
    };
    if session.status == "open" && now >= session.expires_at {
        session.status = "expired";
        let rendered = session.render();
        let origin = Origin::simulator(&session.meta.ns.clone(), "/v1/checkout/sessions");
        state.emit(&origin, "checkout.session.expired", rendered, None, now);
    }
}

/// An open session by id (any namespace: the hosted page is the customer's browser).
pub(crate) fn open_session(
    state: &mut State,
    id: &str,
    now: i64,
) -> Result<CheckoutSession, ApiError> {
    expire_if_due(state, id, now);
    let session = state
        .checkout_sessions
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::no_such("checkout.session", id, "session"))?;
    if session.status != "open" {
        return Err(ApiError::invalid(format!(
            "This Checkout Session is {} and can no longer be completed.",
            session.status
        )));
    }
    Ok(session)
}

/// The customer pays (or saves the card) on the hosted page with `card`. A declined card leaves
/// the session open (the customer may try another card) and is returned as a 402 card error.
pub(crate) fn complete(
    state: &mut State,
    id: &str,
    card: &'static TestCard,
    now: i64,
    base_url: &str,
) -> Result<Value, ApiError> {
    let session = open_session(state, id, now)?;
    let ns = session.meta.ns.clone();
    let origin = Origin::simulator(&ns, &format!("/_sim/checkout/{id}/complete"));
    if card.interac {
        return Err(
            ApiError::invalid("Interac cards can only be used in person.")
                .with_param("card_number"),
        );
    }
    let mut customer = session.customer.clone();
    if customer.is_none() && session.customer_creation.as_deref() == Some("always") {
        let meta = state.meta("cus", &ns, now);
        let created = super::customers::Customer {
            invoice_prefix: meta.id[4..12].to_uppercase(),
            meta,
            email: session.customer_email.clone(),
            name: None,
            phone: None,
            description: None,
            metadata: BTreeMap::new(),
            address: None,
            shipping: None,
            preferred_locales: Vec::new(),
            default_payment_method: None,
        };
        let rendered = created.render();
        customer = Some(created.meta.id.clone());
        state.customers.insert(created.meta.id.clone(), created);
        state.emit(&origin, "customer.created", rendered, None, now);
    }
    let pm = payment_methods::create(state, &ns, now, Kind::Card, card);
    if session.mode == "setup" {
        let si = setup_intents::insert(
            state,
            &origin,
            now,
            NewSetupIntent {
                customer: customer.clone(),
                payment_method: Some(pm),
                usage: "off_session".to_string(),
                metadata: session.intent_metadata.clone(),
                description: session.intent_description.clone(),
                payment_method_types: Vec::new(),
            },
        );
        let s = state.checkout_sessions.get_mut(id).expect("exists");
        s.setup_intent = Some(si.clone());
        s.customer = customer;
        setup_intents::confirm_setup(state, &origin, now, &si)?;
    } else {
        let reusable = session.payment_intent.clone().filter(|pi| {
            state
                .payment_intents
                .get(pi)
                .is_some_and(|p| p.status == payment_intents::Status::RequiresPaymentMethod)
        });
        let pi_id = match reusable {
            Some(pi) => pi,
            None => {
                let mut pi = payment_intents::blank(
                    state,
                    &ns,
                    now,
                    session.amount_total.unwrap_or_default(),
                    session.currency.clone().unwrap_or_default(),
                    vec!["card".to_string()],
                );
                pi.customer = customer.clone();
                pi.capture_method = session
                    .capture_method
                    .clone()
                    .unwrap_or_else(|| "automatic".to_string());
                pi.setup_future_usage = session.setup_future_usage.clone();
                pi.metadata = session.intent_metadata.clone();
                pi.description = session.intent_description.clone();
                let pi_id = pi.meta.id.clone();
                let rendered = pi.render();
                state.payment_intents.insert(pi_id.clone(), pi);
                state.emit(&origin, "payment_intent.created", rendered, None, now);
                pi_id
            }
        };
        let s = state.checkout_sessions.get_mut(id).expect("exists");
        s.payment_intent = Some(pi_id.clone());
        s.customer = customer;
        let intent = state.payment_intents.get_mut(&pi_id).expect("exists");
        intent.payment_method = Some(pm.clone());
        intent.status = payment_intents::Status::RequiresConfirmation;
        // The hosted page completes 3-D Secure with the customer when the card asks for it.
        intent.authenticated = card.needs_authentication;
        payment_intents::confirm_intent(state, &origin, now, &pi_id, false, base_url)?;
        let succeeded = state.payment_intents[&pi_id].status == payment_intents::Status::Succeeded;
        state.checkout_sessions.get_mut(id).expect("exists").paid = succeeded;
        // Checkout keeps the card on the session's customer for later sessions.
        if let Some(customer) = &state.payment_intents[&pi_id].customer.clone() {
            let method = state.payment_methods.get_mut(&pm).expect("created");
            if method.customer.is_none() {
                method.customer = Some(customer.clone());
                method.consumed = false;
                method.allow_redisplay = "limited".to_string();
                let rendered = method.render();
                state.emit(&origin, "payment_method.attached", rendered, None, now);
            }
        }
    }
    let s = state.checkout_sessions.get_mut(id).expect("exists");
    s.status = "complete";
    let rendered = s.render();
    state.emit(
        &origin,
        "checkout.session.completed",
        rendered.clone(),
        None,
        now,
    );
    Ok(rendered)
}

/// The success URL (an embedded session's return URL) with `{CHECKOUT_SESSION_ID}` filled in.
pub(crate) fn success_redirect(session: &Value) -> String {
    let url = session["success_url"]
        .as_str()
        .or_else(|| session["return_url"].as_str())
        .unwrap_or_default();
    url.replace(
        "{CHECKOUT_SESSION_ID}",
        session["id"].as_str().unwrap_or_default(),
    )
}
