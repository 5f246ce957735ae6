//! SetupIntents: save a `card` PaymentMethod for later (create, retrieve, confirm); Checkout
//! Sessions in setup mode complete through one.

use super::error::{ApiError, CardErrorDetails};
use super::payment_methods::{self, Kind};
use super::state::{find, metadata_json, random_id, Ctx, Meta, Object, Origin, State};
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    RequiresPaymentMethod,
    RequiresConfirmation,
    Succeeded,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::RequiresPaymentMethod => "requires_payment_method",
            Status::RequiresConfirmation => "requires_confirmation",
            Status::Succeeded => "succeeded",
        }
    }
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
            "cancellation_reason": null,
            "client_secret": self.client_secret,
            "created": self.meta.created,
            "customer": self.customer,
            "description": self.description,
            "excluded_payment_method_types": null,
            "flow_directions": null,
            "last_setup_error": self.last_setup_error,
            "latest_attempt": null,
            "livemode": false,
            "mandate": null,
            "metadata": metadata_json(&self.metadata),
            "next_action": null,
            "on_behalf_of": null,
            "payment_method": self.payment_method,
            "payment_method_configuration_details": null,
            "payment_method_options": {
                "card": { "mandate_options": null, "network": null, "request_three_d_secure": "automatic" },
            },
            "payment_method_types": self.payment_method_types,
            "single_use_mandate": null,
            "status": self.status.as_str(),
            "usage": self.usage,
        })
    }
}

/// What a new SetupIntent starts with.
pub(crate) struct NewSetupIntent {
    pub customer: Option<String>,
    pub payment_method: Option<String>,
    pub usage: String,
    pub metadata: BTreeMap<String, String>,
    pub description: Option<String>,
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
        payment_method_types: vec!["card".to_string()],
        usage: new.usage,
        metadata: new.metadata,
        description: new.description,
        last_setup_error: None,
    };
    let rendered = si.render();
    state.setup_intents.insert(id.clone(), si);
    state.emit(origin, "setup_intent.created", rendered, None, now);
    id
}

/// `POST /v1/setup_intents`
pub(crate) fn create(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    if let Some(types) = p.strings("allowed_payment_method_types") {
        if let Some((i, t)) = types.iter().enumerate().find(|(_, t)| *t != "card") {
            return Err(ApiError::invalid(format!(
                "The payment method type \"{t}\" is invalid for SetupIntents in the simulator (only card)."
            ))
            .with_param(&format!("allowed_payment_method_types[{i}]")));
        }
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
    if si.status == Status::Succeeded {
        return Err(ApiError::invalid(format!(
            "You cannot confirm this SetupIntent because it has already succeeded (status {}).",
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

/// Checks the card and saves it (attaching it to the intent's customer). Declining cards fail
/// with a 402 card error carrying the SetupIntent, back in requires_payment_method.
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
    if pm.kind != Kind::Card {
        return Err(ApiError::invalid(format!(
            "SetupIntents save card PaymentMethods; {} cannot be saved this way.",
            pm.kind.as_str()
        ))
        .with_param("payment_method"));
    }
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
    if let Some(customer) = &si.customer {
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
    let rendered = intent.render();
    state.emit(origin, "setup_intent.succeeded", rendered, None, now);
    Ok(())
}
