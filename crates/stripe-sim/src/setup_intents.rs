//! SetupIntents: save a `card` PaymentMethod for later (create, retrieve, confirm, cancel);
//! Checkout Sessions in setup mode complete through one. A `card_present` SetupIntent is confirmed
//! with a card read at a reader (`process_setup_intent` or the simulated JS terminal): its
//! `latest_attempt` (a SetupAttempt, `setatt_…`) names the reusable `card` PaymentMethod
//! generated from the card and attached to the intent's customer
//! (`payment_method_details.card_present.generated_card`).

use super::error::{ApiError, CardErrorDetails};
use super::payment_methods::{self, GeneratedFrom, Kind};
use super::state::{find, metadata_json, random_id, Ctx, Meta, Object, Origin, State};
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    RequiresPaymentMethod,
    RequiresConfirmation,
    Succeeded,
    Canceled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::RequiresPaymentMethod => "requires_payment_method",
            Status::RequiresConfirmation => "requires_confirmation",
            Status::Succeeded => "succeeded",
            Status::Canceled => "canceled",
        }
    }
}

/// A SetupAttempt: one try at confirming a card-present SetupIntent with a card read at a
/// reader.
#[derive(Debug, Clone)]
pub(crate) struct SetupAttempt {
    pub id: String,
    pub created: i64,
    /// The `card_present` PaymentMethod read.
    pub payment_method: String,
    /// `succeeded` or `failed`.
    pub status: &'static str,
    /// The `card` PaymentMethod generated from the card (succeeded attempts).
    pub generated_card: Option<String>,
    /// Why it failed (Stripe's error object, as in `last_setup_error`).
    pub setup_error: Option<Value>,
}

#[derive(Debug, Clone)]
pub(crate) struct SetupIntent {
    pub meta: Meta,
    pub status: Status,
    pub customer: Option<String>,
    pub payment_method: Option<String>,
    pub payment_method_types: Vec<String>,
    pub usage: String,
    pub metadata: BTreeMap<String, String>,
    pub description: Option<String>,
    pub client_secret: String,
    pub last_setup_error: Option<Value>,
    pub cancellation_reason: Option<String>,
    pub latest_attempt: Option<SetupAttempt>,
}

impl Object for SetupIntent {
    fn meta(&self) -> &Meta {
        &self.meta
    }
}

impl SetupIntent {
    pub fn render(&self) -> Value {
        json!({
            "id": self.meta.id,
            "object": "setup_intent",
            "allowed_payment_method_types": null,
            "application": null,
            "automatic_payment_methods": null,
            "cancellation_reason": self.cancellation_reason,
            "client_secret": self.client_secret,
            "created": self.meta.created,
            "customer": self.customer,
            "description": self.description,
            "excluded_payment_method_types": null,
            "flow_directions": null,
            "last_setup_error": self.last_setup_error,
            "latest_attempt": self.latest_attempt.as_ref().map(|a| a.id.clone()),
            "livemode": false,
            "mandate": null,
            "metadata": metadata_json(&self.metadata),
            "next_action": null,
            "on_behalf_of": null,
            "payment_method": self.payment_method,
            "payment_method_configuration_details": null,
            "payment_method_options": self.payment_method_options(),
            "payment_method_types": self.payment_method_types,
            "single_use_mandate": null,
            "status": self.status.as_str(),
            "usage": self.usage,
        })
    }

    fn payment_method_options(&self) -> Value {
        let mut options = json!({});
        for t in &self.payment_method_types {
            match t.as_str() {
                "card" => {
                    options["card"] = json!({ "mandate_options": null, "network": null, "request_three_d_secure": "automatic" })
                }
                "card_present" => options["card_present"] = json!({}),
                _ => {}
            }
        }
        options
    }

    /// Its latest attempt as a `setup_attempt` object.
    pub fn render_attempt(&self) -> Option<Value> {
        let a = self.latest_attempt.as_ref()?;
        Some(json!({
            "id": a.id,
            "object": "setup_attempt",
            "application": null,
            "attach_to_self": false,
            "created": a.created,
            "customer": self.customer,
            "customer_account": null,
            "flow_directions": null,
            "livemode": false,
            "on_behalf_of": null,
            "payment_method": a.payment_method,
            "payment_method_details": {
                "card_present": { "generated_card": a.generated_card, "offline": null },
                "type": "card_present",
            },
            "setup_error": a.setup_error,
            "setup_intent": self.meta.id,
            "status": a.status,
            "usage": self.usage,
        }))
    }
}

/// The SetupAttempt with this id (`setatt_…`), rendered.
pub(crate) fn render_attempt(state: &State, ns: &str, id: &str) -> Option<Value> {
    state
        .setup_intents
        .values()
        .filter(|si| si.meta.ns == ns)
        .find(|si| si.latest_attempt.as_ref().is_some_and(|a| a.id == id))
        .and_then(SetupIntent::render_attempt)
}

/// What a new SetupIntent starts with.
pub(crate) struct NewSetupIntent {
    pub customer: Option<String>,
    pub payment_method: Option<String>,
    pub usage: String,
    pub metadata: BTreeMap<String, String>,
    pub description: Option<String>,
    /// `card` unless given (`card_present` to read the card at a reader).
    pub payment_method_types: Vec<String>,
}

/// Stores a new SetupIntent and emits `setup_intent.created`; returns its id.
pub(crate) fn insert(state: &mut State, origin: &Origin, now: i64, new: NewSetupIntent) -> String {
    let meta = state.meta("seti", &origin.ns, now);
    let id = meta.id.clone();
    let si = SetupIntent {
        client_secret: format!("{id}{}", random_id("_secret", 25)),
        meta,
        status: if new.payment_method.is_some() {
            Status::RequiresConfirmation
        } else {
            Status::RequiresPaymentMethod
        },
        customer: new.customer,
        payment_method: new.payment_method,
        payment_method_types: if new.payment_method_types.is_empty() {
            vec!["card".to_string()]
        } else {
            new.payment_method_types
        },
        usage: new.usage,
        metadata: new.metadata,
        description: new.description,
        last_setup_error: None,
        cancellation_reason: None,
        latest_attempt: None,
    };
    let rendered = si.render();
    state.setup_intents.insert(id.clone(), si);
    state.emit(origin, "setup_intent.created", rendered, None, now);
    id
}

/// `POST /v1/setup_intents`
pub(crate) fn create(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let types: Vec<String> = p
        .strings("allowed_payment_method_types")
        .map(|t| t.iter().map(|t| t.to_string()).collect())
        .unwrap_or_default();
    if let Some((i, t)) = types
        .iter()
        .enumerate()
        .find(|(_, t)| !matches!(t.as_str(), "card" | "card_present"))
    {
        return Err(ApiError::invalid(format!(
            "The payment method type \"{t}\" is invalid for SetupIntents in the simulator (only card and card_present)."
        ))
        .with_param(&format!("allowed_payment_method_types[{i}]")));
    }
    if let Some(customer) = p.str("customer") {
        super::customers::require(state, ctx.ns(), customer, "customer")?;
    }
    let payment_method = match p.str("payment_method") {
        Some(pm) => Some(payment_methods::resolve(state, ctx, pm, "payment_method")?),
        None => None,
    };
    let mut metadata = BTreeMap::new();
    if let Some(update) = p.metadata() {
        update.apply(&mut metadata);
    }
    let id = insert(
        state,
        &ctx.origin,
        ctx.now,
        NewSetupIntent {
            customer: p.str("customer").map(str::to_string),
            payment_method,
            usage: p.str("usage").unwrap_or("off_session").to_string(),
            metadata,
            description: p.str("description").map(str::to_string),
            payment_method_types: types,
        },
    );
    if p.bool("confirm") == Some(true) {
        confirm_setup(state, &ctx.origin, ctx.now, &id)?;
    }
    Ok(state.setup_intents[&id].render())
}

fn path_intent<'a>(state: &'a State, ctx: &Ctx) -> Result<&'a SetupIntent, ApiError> {
    let id = ctx.path_param(0);
    find(&state.setup_intents, ctx.ns(), id)
        .ok_or_else(|| ApiError::no_such("setup_intent", id, "intent"))
}

/// `GET /v1/setup_intents/{intent}`
pub(crate) fn retrieve(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let si = path_intent(state, ctx)?;
    if ctx
        .params
        .str("client_secret")
        .is_some_and(|s| s != si.client_secret)
    {
        return Err(ApiError::invalid(
            "The client_secret provided does not match the client_secret associated with the SetupIntent.",
        )
        .with_param("client_secret"));
    }
    Ok(si.render())
}

/// `POST /v1/setup_intents/{intent}/confirm`
pub(crate) fn confirm(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let si = path_intent(state, ctx)?.clone();
    if matches!(si.status, Status::Succeeded | Status::Canceled) {
        return Err(ApiError::invalid(format!(
            "You cannot confirm this SetupIntent because it has a status of {}.",
            si.status.as_str()
        ))
        .with_code("setup_intent_unexpected_state"));
    }
    if let Some(pm) = ctx.params.str("payment_method") {
        let pm = payment_methods::resolve(state, ctx, pm, "payment_method")?;
        state
            .setup_intents
            .get_mut(&si.meta.id)
            .expect("found")
            .payment_method = Some(pm);
    }
    confirm_setup(state, &ctx.origin, ctx.now, &si.meta.id)?;
    Ok(state.setup_intents[&si.meta.id].render())
}

/// `POST /v1/setup_intents/{intent}/cancel`: a SetupIntent that has not succeeded is canceled
/// (`setup_intent.canceled`); a succeeded or canceled one cannot be.
pub(crate) fn cancel(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let si = path_intent(state, ctx)?.clone();
    if matches!(si.status, Status::Succeeded | Status::Canceled) {
        return Err(ApiError::invalid(format!(
            "You cannot cancel this SetupIntent because it has a status of {}.",
            si.status.as_str()
        ))
        .with_code("setup_intent_unexpected_state"));
    }
    let intent = state.setup_intents.get_mut(&si.meta.id).expect("found");
    intent.status = Status::Canceled;
    intent.cancellation_reason = ctx.params.str("cancellation_reason").map(str::to_string);
    let rendered = intent.render();
    state.emit(
        &ctx.origin,
        "setup_intent.canceled",
        rendered.clone(),
        None,
        ctx.now,
    );
    Ok(rendered)
}

/// A card read at a reader for a `card_present` SetupIntent in requires_payment_method: it
/// becomes the intent's payment method (requires_confirmation). Refused for another kind of
/// intent or state.
pub(crate) fn collect_present(state: &mut State, id: &str, pm_id: &str) -> Result<(), ApiError> {
    let si = &state.setup_intents[id];
    if si.status != Status::RequiresPaymentMethod {
        return Err(ApiError::invalid(format!(
            "This SetupIntent has a status of {}; a payment method can only be collected while it is requires_payment_method.",
            si.status.as_str()
        ))
        .with_code("setup_intent_unexpected_state"));
    }
    if !si.payment_method_types.iter().any(|t| t == "card_present") {
        return Err(ApiError::invalid(
            "This SetupIntent cannot be processed by a reader: its payment_method_types do not include card_present.",
        )
        .with_code("payment_method_not_available"));
    }
    let intent = state.setup_intents.get_mut(id).expect("exists");
    intent.payment_method = Some(pm_id.to_string());
    intent.status = Status::RequiresConfirmation;
    intent.last_setup_error = None;
    Ok(())
}

/// Checks the card and saves it (attaching it to the intent's customer). Declining cards fail
/// with a 402 card error carrying the SetupIntent, back in requires_payment_method. A
/// `card_present` card read at a reader makes a SetupAttempt and, when it succeeds, a reusable
/// `card` PaymentMethod generated from it (attached to the intent's customer, with the consent
/// `allow_redisplay` given at the reader).
pub(crate) fn confirm_setup(
    state: &mut State,
    origin: &Origin,
    now: i64,
    id: &str,
) -> Result<(), ApiError> {
    let si = state.setup_intents[id].clone();
    let Some(pm_id) = si.payment_method.clone() else {
        return Err(ApiError::invalid(
            "You cannot confirm this SetupIntent because it's missing a payment method.",
        )
        .with_code("setup_intent_unexpected_state"));
    };
    let pm = state.payment_methods[&pm_id].clone();
    if !si
        .payment_method_types
        .iter()
        .any(|t| t == pm.kind.as_str())
    {
        return Err(ApiError::invalid(format!(
            "This SetupIntent does not accept {} PaymentMethods (payment_method_types: {}).",
            pm.kind.as_str(),
            si.payment_method_types.join(", ")
        ))
        .with_param("payment_method"));
    }
    let present = pm.kind == Kind::CardPresent;
    if present {
        // Read at a reader: single use.
        if let Some(m) = state.payment_methods.get_mut(&pm_id) {
            m.consumed = true;
        }
    }
    let attempt_id = present.then(|| random_id("setatt", 24));
    // Saving only verifies the card itself (a card that declines later charges still saves).
    if let Some(decline) = pm.card.present {
        let mut details = CardErrorDetails {
            decline_code: Some(decline.decline_code.to_string()),
            payment_method: Some(pm.render()),
            ..Default::default()
        };
        let partial = ApiError::card_error(decline.code, decline.message, details.clone());
        let intent = state.setup_intents.get_mut(id).expect("exists");
        intent.status = Status::RequiresPaymentMethod;
        intent.payment_method = None;
        intent.last_setup_error = Some(partial.body());
        if let Some(attempt) = attempt_id {
            intent.latest_attempt = Some(SetupAttempt {
                id: attempt,
                created: now,
                payment_method: pm_id.clone(),
                status: "failed",
                generated_card: None,
                setup_error: Some(partial.body()),
            });
        }
        let rendered = intent.render();
        state.emit(
            origin,
            "setup_intent.setup_failed",
            rendered.clone(),
            None,
            now,
        );
        details.setup_intent = Some(rendered);
        return Err(ApiError::card_error(decline.code, decline.message, details));
    }
    let mut generated = None;
    if let Some(attempt) = &attempt_id {
        // A wallet tap (phone or watch) yields no reusable card.
        if pm.card.wallet.is_none() {
            let card = payment_methods::create(state, &origin.ns, now, Kind::Card, pm.card);
            let m = state.payment_methods.get_mut(&card).expect("created");
            m.customer = si.customer.clone();
            m.generated_from = Some(GeneratedFrom::SetupAttempt(attempt.clone()));
            m.allow_redisplay = pm.allow_redisplay.clone();
            let rendered = m.render();
            if si.customer.is_some() {
                state.emit(origin, "payment_method.attached", rendered, None, now);
            }
            generated = Some(card);
        }
    } else if let Some(customer) = &si.customer {
        if pm.customer.is_none() {
            let m = state.payment_methods.get_mut(&pm_id).expect("exists");
            m.customer = Some(customer.clone());
            let rendered = m.render();
            state.emit(origin, "payment_method.attached", rendered, None, now);
        }
    }
    let intent = state.setup_intents.get_mut(id).expect("exists");
    intent.status = Status::Succeeded;
    intent.last_setup_error = None;
    if let Some(attempt) = attempt_id {
        intent.latest_attempt = Some(SetupAttempt {
            id: attempt,
            created: now,
            payment_method: pm_id.clone(),
            status: "succeeded",
            generated_card: generated,
            setup_error: None,
        });
    }
    let rendered = intent.render();
    state.emit(origin, "setup_intent.succeeded", rendered, None, now);
    Ok(())
}

/// The SetupIntent with this client secret.
pub(crate) fn by_client_secret<'a>(
    state: &'a State,
    ns: &str,
    client_secret: &str,
) -> Result<&'a SetupIntent, ApiError> {
    let id = client_secret.split("_secret_").next().unwrap_or_default();
    find(&state.setup_intents, ns, id)
        .filter(|si| si.client_secret == client_secret)
        .ok_or_else(|| {
            ApiError::invalid("No such SetupIntent for this client_secret.")
                .with_code("resource_missing")
                .with_param("client_secret")
                .with_status(404)
        })
}
