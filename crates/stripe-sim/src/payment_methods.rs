//! PaymentMethods: `card` (saved, reusable: generated from a card-present payment, entered on
//! Checkout, or a magic test id like `pm_card_visa`), `card_present` and `interac_present`
//! (read at a reader, single use). Retrieve, attach, detach, list.

use super::cards::{self, TestCard, EXP_MONTH, EXP_YEAR};
use super::error::ApiError;
use super::state::{find, find_mut, list, metadata_json, newest_first, Ctx, Meta, Object, State};
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Card,
    CardPresent,
    InteracPresent,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Card => "card",
            Kind::CardPresent => "card_present",
            Kind::InteracPresent => "interac_present",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct PaymentMethod {
    pub meta: Meta,
    pub kind: Kind,
    pub card: &'static TestCard,
    pub customer: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// For a `card` generated from a card-present payment or setup.
    pub generated_from: Option<GeneratedFrom>,
    pub allow_redisplay: String,
    /// Detached, or used once without a customer: Stripe refuses to use it again.
    pub consumed: bool,
}

/// What a generated `card` PaymentMethod was generated from (its `card.generated_from`).
#[derive(Debug, Clone)]
pub(crate) enum GeneratedFrom {
    /// A card-present payment: the charge and its card-present details.
    Charge(String, Value),
    /// A card-present SetupIntent: the SetupAttempt (`setatt_…`) that read the card.
    SetupAttempt(String),
}

impl GeneratedFrom {
    fn render(&self) -> Value {
        match self {
            GeneratedFrom::Charge(charge, details) => json!({
                "charge": charge,
                "payment_method_details": { "card_present": details, "type": "card_present" },
                "setup_attempt": null,
            }),
            GeneratedFrom::SetupAttempt(attempt) => json!({
                "charge": null,
                "payment_method_details": null,
                "setup_attempt": attempt,
            }),
        }
    }
}

impl Object for PaymentMethod {
    fn meta(&self) -> &Meta {
        &self.meta
    }
}

fn networks(card: &TestCard) -> Value {
    json!({ "available": [card.network()], "preferred": null })
}

impl PaymentMethod {
    pub fn render(&self) -> Value {
        let card = self.card;
        let mut out = json!({
            "id": self.meta.id,
            "object": "payment_method",
            "allow_redisplay": self.allow_redisplay,
            "billing_details": {
                "address": {
                    "city": null, "country": null, "line1": null, "line2": null,
                    "postal_code": null, "state": null,
                },
                "email": null,
                "name": null,
                "phone": null,
                "tax_id": null,
            },
            "created": self.meta.created,
            "customer": self.customer,
            "customer_account": null,
            "livemode": false,
            "metadata": metadata_json(&self.metadata),
            "type": self.kind.as_str(),
        });
        let details = match self.kind {
            Kind::Card => json!({
                "brand": card.brand,
                "checks": {
                    "address_line1_check": null,
                    "address_postal_code_check": null,
                    "cvc_check": if self.generated_from.is_some() { Value::Null } else { json!("pass") },
                },
                "country": card.country,
                "display_brand": card.brand,
                "exp_month": EXP_MONTH,
                "exp_year": EXP_YEAR,
                "fingerprint": card.fingerprint(),
                "funding": card.funding,
                "generated_from": self.generated_from.as_ref().map(GeneratedFrom::render),
                "last4": card.last4(),
                "networks": networks(card),
                "regulated_status": "unregulated",
                "three_d_secure_usage": { "supported": true },
                "wallet": null,
            }),
            Kind::CardPresent | Kind::InteracPresent => {
                let mut d = json!({
                    "brand": card.brand,
                    "cardholder_name": card.cardholder_name,
                    "country": card.country,
                    "exp_month": EXP_MONTH,
                    "exp_year": EXP_YEAR,
                    "fingerprint": card.fingerprint(),
                    "funding": card.funding,
                    "last4": card.last4(),
                    "networks": networks(card),
                    "read_method": card.read_method(),
                });
                if self.kind == Kind::InteracPresent {
                    d["preferred_locales"] = json!(["en", "fr"]);
                } else {
                    d["brand_product"] = Value::Null;
                    d["offline"] = Value::Null;
                    d["preferred_locales"] = Value::Null;
                    if let Some(wallet) = card.wallet {
                        d["wallet"] = json!({ "type": wallet });
                    }
                }
                d
            }
        };
        out[self.kind.as_str()] = details;
        out
    }
}

/// Stores a new PaymentMethod for `card` and returns its id.
pub(crate) fn create(
    state: &mut State,
    ns: &str,
    now: i64,
    kind: Kind,
    card: &'static TestCard,
) -> String {
    let meta = state.meta("pm", ns, now);
    let id = meta.id.clone();
    state.payment_methods.insert(
        id.clone(),
        PaymentMethod {
            meta,
            kind,
            card,
            customer: None,
            metadata: BTreeMap::new(),
            generated_from: None,
            allow_redisplay: "unspecified".to_string(),
            consumed: false,
        },
    );
    id
}

/// The PaymentMethod a parameter names: an existing one of the namespace, or a fresh `card` for
/// a magic test id (`pm_card_visa`).
pub(crate) fn resolve(
    state: &mut State,
    ctx: &Ctx,
    id: &str,
    param: &str,
) -> Result<String, ApiError> {
    if let Some(card) = cards::magic_payment_method(id) {
        return Ok(create(state, ctx.ns(), ctx.now, Kind::Card, card));
    }
    let pm = find(&state.payment_methods, ctx.ns(), id)
        .ok_or_else(|| ApiError::no_such_param("PaymentMethod", id, param))?;
    if pm.consumed {
        return Err(ApiError::invalid(format!(
            "The provided PaymentMethod ({id}) was previously used with a PaymentIntent without Customer attachment, shared with a connected account without Customer attachment, or was detached from a Customer. It may not be used again. To use a PaymentMethod multiple times, you must attach it to a Customer first."
        ))
        .with_param(param));
    }
    Ok(pm.meta.id.clone())
}

/// Drops the PaymentMethod that `resolve` made for the magic test id `param` (`pm_card_visa`)
/// when the request naming it is rejected, so a failed request leaves nothing behind.
pub(crate) fn discard_unused(state: &mut State, param: Option<&str>, resolved: Option<String>) {
    if let (Some(param), Some(id)) = (param, resolved) {
        if cards::magic_payment_method(param).is_some() {
            state.payment_methods.remove(&id);
        }
    }
}

/// Attaches a PaymentMethod to a customer (emits `payment_method.attached`); returns its id.
pub(crate) fn attach_to(
    state: &mut State,
    ctx: &Ctx,
    pm_id: &str,
    customer: &str,
    param: &str,
) -> Result<String, ApiError> {
    let id = resolve(state, ctx, pm_id, param)?;
    let pm = find_mut(&mut state.payment_methods, ctx.ns(), &id).expect("resolved");
    if pm.kind != Kind::Card {
        return Err(ApiError::invalid(format!(
            "PaymentMethods of type {} cannot be attached to a Customer. Use the generated_card from the payment instead.",
            pm.kind.as_str()
        ))
        .with_param(param));
    }
    match pm.customer.as_deref() {
        Some(c) if c == customer => return Ok(id),
        Some(_) => {
            return Err(ApiError::invalid(
                "The payment method you provided has already been attached to a customer.",
            )
            .with_param(param))
        }
        None => {}
    }
    pm.customer = Some(customer.to_string());
    let rendered = pm.render();
    state.emit(
        &ctx.origin,
        "payment_method.attached",
        rendered,
        None,
        ctx.now,
    );
    Ok(id)
}

/// `GET /v1/payment_methods/{payment_method}`
pub(crate) fn retrieve(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let id = ctx.path_param(0);
    find(&state.payment_methods, ctx.ns(), id)
        .map(PaymentMethod::render)
        .ok_or_else(|| ApiError::no_such("PaymentMethod", id, "payment_method"))
}

/// `POST /v1/payment_methods/{payment_method}/attach`
pub(crate) fn attach(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let pm = ctx.path_param(0).to_string();
    if cards::magic_payment_method(&pm).is_none()
        && find(&state.payment_methods, ctx.ns(), &pm).is_none()
    {
        return Err(ApiError::no_such("PaymentMethod", &pm, "payment_method"));
    }
    let customer = ctx.params.str("customer").unwrap_or_default().to_string();
    super::customers::require(state, ctx.ns(), &customer, "customer")?;
    let id = attach_to(state, ctx, &pm, &customer, "payment_method")?;
    Ok(state.payment_methods[&id].render())
}

/// `POST /v1/payment_methods/{payment_method}/detach`
pub(crate) fn detach(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let id = ctx.path_param(0);
    let pm = find_mut(&mut state.payment_methods, ctx.ns(), id)
        .ok_or_else(|| ApiError::no_such("PaymentMethod", id, "payment_method"))?;
    let Some(customer) = pm.customer.take() else {
        return Err(ApiError::invalid(
            "The payment method you provided is not attached to a customer so detachment is impossible.",
        ));
    };
    pm.consumed = true;
    let rendered = pm.render();
    let previous = json!({ "customer": customer });
    if let Some(c) = find_mut(&mut state.customers, ctx.ns(), &customer) {
        if c.default_payment_method.as_deref() == Some(id) {
            c.default_payment_method = None;
        }
    }
    state.emit(
        &ctx.origin,
        "payment_method.detached",
        rendered.clone(),
        Some(previous),
        ctx.now,
    );
    Ok(rendered)
}

/// `GET /v1/payment_methods?customer=…&type=…`
pub(crate) fn list_all(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    match ctx.params.str("customer") {
        Some(customer) => {
            if find(&state.customers, ctx.ns(), customer).is_none() {
                return Err(ApiError::no_such_param("customer", customer, "customer"));
            }
            let customer = customer.to_string();
            list_for(state, ctx, &customer, "/v1/payment_methods")
        }
        None => {
            let items = newest_first(&state.payment_methods, ctx.ns())
                .into_iter()
                .filter(|pm| pm.kind == Kind::Card && pm.customer.is_some())
                .filter(|pm| type_matches(ctx, pm))
                .collect::<Vec<_>>();
            list(
                items,
                PaymentMethod::render,
                ctx.params,
                "/v1/payment_methods",
            )
        }
    }
}

fn type_matches(ctx: &Ctx, pm: &PaymentMethod) -> bool {
    ctx.params.str("type").is_none_or(|t| t == pm.kind.as_str())
}

/// The PaymentMethods attached to `customer`, newest first, filtered by `type`.
pub(crate) fn list_for(
    state: &State,
    ctx: &Ctx,
    customer: &str,
    url: &str,
) -> Result<Value, ApiError> {
    let items = newest_first(&state.payment_methods, ctx.ns())
        .into_iter()
        .filter(|pm| pm.customer.as_deref() == Some(customer))
        .filter(|pm| type_matches(ctx, pm))
        .collect::<Vec<_>>();
    list(items, PaymentMethod::render, ctx.params, url)
}
