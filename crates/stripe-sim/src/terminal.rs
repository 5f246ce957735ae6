//! Stripe Terminal: connection tokens, locations, simulated readers (`simulated-wpe`), the
//! server-driven `process_payment_intent` / `process_setup_intent` / `set_reader_display` /
//! `cancel_action` flow, the payment's split into `collect_payment_method` (the reader reads the
//! card and attaches it, the intent awaits confirmation) and `confirm_payment_intent` (the
//! simulated reader confirms at once), and the `present_payment_method` test helper (the card the
//! customer presents and the tip they choose on the reader's tipping screen, `amount_tip`).

use super::cards::{self, DEFAULT_NUMBER};
use super::error::ApiError;
use super::payment_intents::{self, Status};
use super::payment_methods::{self, Kind};
use super::setup_intents;
use super::state::{
    find, find_mut, list, metadata_json, newest_first, random_id, Ctx, Meta, Object, State,
};
use super::terminal_configurations::{self, tip_options, Tipping};
use crate::currencies::Currency;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const SIMULATED_REGISTRATION_CODE: &str = "simulated-wpe";
const INTERAC_DEFAULT_NUMBER: &str = "4506445006931933";

/// A connection token (`pst_test_…`); the simulated JS terminal redeems each one once.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionToken {
    pub ns: String,
    pub location: Option<String>,
    pub redeemed: bool,
}

/// A session of the simulated JS terminal, opened with a connection token.
#[derive(Debug, Clone)]
pub(crate) struct TerminalSession {
    pub ns: String,
    pub location: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Location {
    pub meta: Meta,
    pub display_name: String,
    pub address: Value,
    pub metadata: BTreeMap<String, String>,
    pub configuration_overrides: Option<String>,
}

impl Object for Location {
    fn meta(&self) -> &Meta {
        &self.meta
    }
}

impl Location {
    pub fn render(&self) -> Value {
        let field = |k: &str| self.address.get(k).cloned().unwrap_or(Value::Null);
        let mut out = json!({
            "id": self.meta.id,
            "object": "terminal.location",
            "address": {
                "city": field("city"), "country": field("country"), "line1": field("line1"),
                "line2": field("line2"), "postal_code": field("postal_code"), "state": field("state"),
            },
            "display_name": self.display_name,
            "livemode": false,
            "metadata": metadata_json(&self.metadata),
        });
        if let Some(c) = &self.configuration_overrides {
            out["configuration_overrides"] = json!(c);
        }
        out
    }
}

/// What a reader action does.
#[derive(Debug, Clone)]
pub(crate) enum ActionKind {
    ProcessPaymentIntent {
        payment_intent: String,
        process_config: Value,
        /// `process_config[allow_redisplay]`: not shown in the action, given to the saved card.
        allow_redisplay: Option<String>,
        /// The tip choices of the reader's tipping screen (`tip_options`); `None` when the
        /// reader shows none (`skip_tipping`, or no tipping configured for the currency at the
        /// reader's location).
        tip_options: Option<Value>,
    },
    /// `collect_payment_method`: the reader reads a card and attaches it to the intent without
    /// confirming it (the intent then `requires_confirmation`); the collected PaymentMethod is
    /// shown in the action once read.
    CollectPaymentMethod {
        payment_intent: String,
        collect_config: Value,
        allow_redisplay: Option<String>,
        tip_options: Option<Value>,
        /// The PaymentMethod read (rendered when read), once the customer presented a card.
        payment_method: Option<Value>,
    },
    /// `confirm_payment_intent`: the reader confirms the intent with the card it collected.
    ConfirmPaymentIntent {
        payment_intent: String,
        confirm_config: Option<Value>,
    },
    /// Saving a card without a payment: the reader reads a card for a `card_present`
    /// SetupIntent and confirms it.
    ProcessSetupIntent {
        setup_intent: String,
        process_config: Value,
        /// `allow_redisplay` (required): given to the generated card.
        allow_redisplay: String,
        /// The `card` PaymentMethod generated once the action succeeded.
        generated_card: Option<String>,
    },
    /// The cart shown on the reader's screen until `cancel_action` or the next payment.
    SetReaderDisplay { cart: Value },
    /// A refund waiting for the card of the charge (`reader_refunds`).
    RefundPayment(super::reader_refunds::RefundAction),
}

/// The reader's current (or last) action.
#[derive(Debug, Clone)]
pub(crate) struct ReaderAction {
    pub kind: ActionKind,
    pub status: &'static str,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
}

impl ReaderAction {
    /// The PaymentIntent a `process_payment_intent` action is for.
    pub fn payment_intent(&self) -> Option<&str> {
        match &self.kind {
            ActionKind::ProcessPaymentIntent { payment_intent, .. }
            | ActionKind::CollectPaymentMethod { payment_intent, .. }
            | ActionKind::ConfirmPaymentIntent { payment_intent, .. } => Some(payment_intent),
            ActionKind::ProcessSetupIntent { .. }
            | ActionKind::SetReaderDisplay { .. }
            | ActionKind::RefundPayment(_) => None,
        }
    }

    fn render(&self) -> Value {
        let mut out = json!({
            "api_error": null,
            "failure_code": self.failure_code,
            "failure_message": self.failure_message,
            "status": self.status,
        });
        match &self.kind {
            ActionKind::ProcessPaymentIntent {
                payment_intent,
                process_config,
                ..
            } => {
                out["type"] = json!("process_payment_intent");
                out["process_payment_intent"] = json!({
                    "payment_intent": payment_intent,
                    "process_config": process_config,
                });
            }
            ActionKind::CollectPaymentMethod {
                payment_intent,
                collect_config,
                payment_method,
                ..
            } => {
                out["type"] = json!("collect_payment_method");
                let mut action = json!({
                    "collect_config": collect_config,
                    "payment_intent": payment_intent,
                });
                if let Some(pm) = payment_method {
                    action["payment_method"] = pm.clone();
                }
                out["collect_payment_method"] = action;
            }
            ActionKind::ConfirmPaymentIntent {
                payment_intent,
                confirm_config,
            } => {
                out["type"] = json!("confirm_payment_intent");
                let mut action = json!({ "payment_intent": payment_intent });
                if let Some(config) = confirm_config {
                    action["confirm_config"] = config.clone();
                }
                out["confirm_payment_intent"] = action;
            }
            ActionKind::ProcessSetupIntent {
                setup_intent,
                process_config,
                generated_card,
                ..
            } => {
                out["type"] = json!("process_setup_intent");
                out["process_setup_intent"] = json!({
                    "setup_intent": setup_intent,
                    "process_config": process_config,
                });
                if let Some(card) = generated_card {
                    out["process_setup_intent"]["generated_card"] = json!(card);
                }
            }
            ActionKind::SetReaderDisplay { cart } => {
                out["type"] = json!("set_reader_display");
                out["set_reader_display"] = json!({ "cart": cart, "type": "cart" });
            }
            ActionKind::RefundPayment(refund) => {
                out["type"] = json!("refund_payment");
                out["refund_payment"] = refund.render();
            }
        }
        out
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Reader {
    pub meta: Meta,
    pub label: String,
    pub location: Option<String>,
    pub serial_number: String,
    pub metadata: BTreeMap<String, String>,
    pub action: Option<ReaderAction>,
    /// When the reader last reported to Stripe, in milliseconds (Stripe's `last_seen_at`,
    /// 2025-10-29.clover): kept while it is offline.
    pub last_seen_at: i64,
    /// `status`: online unless taken offline by the `/_sim/terminal/readers/{reader}/offline`
    /// helper.
    pub online: bool,
}

impl Object for Reader {
    fn meta(&self) -> &Meta {
        &self.meta
    }
}

impl Reader {
    pub fn render(&self) -> Value {
        json!({
            "id": self.meta.id,
            "object": "terminal.reader",
            "action": self.action.as_ref().map(ReaderAction::render),
            "device_sw_version": "2.37.2.0",
            "device_type": "simulated_wisepos_e",
            "ip_address": "0.0.0.0",
            "label": self.label,
            "last_seen_at": self.last_seen_at,
            "livemode": false,
            "location": self.location,
            "metadata": metadata_json(&self.metadata),
            "serial_number": self.serial_number,
            "status": if self.online { "online" } else { "offline" },
        })
    }

    /// Server-driven actions need the reader online: Stripe answers `terminal_reader_offline`.
    pub(crate) fn require_online(&self) -> Result<(), ApiError> {
        if self.online {
            Ok(())
        } else {
            Err(ApiError::invalid(
                "Reader is currently offline, please ensure the reader is powered on and connected to the internet before retrying your request.",
            )
            .with_code("terminal_reader_offline"))
        }
    }

    pub(crate) fn busy(&self) -> bool {
        self.action
            .as_ref()
            .is_some_and(|a| a.status == "in_progress")
    }
}

fn require_location(state: &State, ctx: &Ctx, id: &str) -> Result<(), ApiError> {
    find(&state.locations, ctx.ns(), id)
        .map(|_| ())
        .ok_or_else(|| ApiError::no_such_param("terminal.location", id, "location"))
}

/// `POST /v1/terminal/connection_tokens`
pub(crate) fn create_connection_token(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let location = ctx.params.str("location").map(str::to_string);
    if let Some(l) = &location {
        require_location(state, ctx, l)?;
    }
    let secret = random_id("pst_test", 48);
    state.connection_tokens.insert(
        secret.clone(),
        ConnectionToken {
            ns: ctx.ns().to_string(),
            location: location.clone(),
            redeemed: false,
        },
    );
    let mut out = json!({ "object": "terminal.connection_token", "secret": secret });
    if let Some(l) = location {
        out["location"] = json!(l);
    }
    Ok(out)
}

/// `POST /v1/terminal/locations`
pub(crate) fn create_location(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    // Optional in the declarations since `address_kana` / `address_kanji` may stand in for it
    // (Japan, which the simulator does not model): here it is required.
    let Some(address) = p.value("address").cloned() else {
        return Err(ApiError::missing_param("address"));
    };
    if !address.is_object() {
        return Err(ApiError::invalid("Invalid object").with_param("address"));
    }
    if p.at_str(&["address", "country"]).is_none() {
        return Err(ApiError::missing_param("address[country]"));
    }
    let configuration_overrides = p.str("configuration_overrides").map(str::to_string);
    if let Some(c) = &configuration_overrides {
        terminal_configurations::require(state, ctx, c, "configuration_overrides")?;
    }
    let mut metadata = BTreeMap::new();
    if let Some(update) = p.metadata() {
        update.apply(&mut metadata);
    }
    let location = Location {
        meta: state.meta("tml", ctx.ns(), ctx.now),
        display_name: p.str("display_name").unwrap_or_default().to_string(),
        address,
        metadata,
        configuration_overrides,
    };
    let rendered = location.render();
    state.locations.insert(location.meta.id.clone(), location);
    Ok(rendered)
}

/// `GET /v1/terminal/locations`
pub(crate) fn list_locations(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let items = newest_first(&state.locations, ctx.ns())
        .into_iter()
        .collect::<Vec<_>>();
    list(
        items,
        Location::render,
        ctx.params,
        "/v1/terminal/locations",
    )
}

/// `GET /v1/terminal/locations/{location}`
pub(crate) fn retrieve_location(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let id = ctx.path_param(0);
    find(&state.locations, ctx.ns(), id)
        .map(Location::render)
        .ok_or_else(|| ApiError::no_such("terminal.location", id, "location"))
}

/// `POST /v1/terminal/locations/{location}`: display name, address, metadata and the
/// configuration its readers use (`configuration_overrides`; empty: none).
pub(crate) fn update_location(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let id = ctx.path_param(0).to_string();
    if find(&state.locations, ctx.ns(), &id).is_none() {
        return Err(ApiError::no_such("terminal.location", &id, "location"));
    }
    if let Some(c) = p.str("configuration_overrides") {
        terminal_configurations::require(state, ctx, c, "configuration_overrides")?;
    }
    let address = match p.value("address") {
        Some(Value::Object(given)) => {
            if given
                .get("country")
                .and_then(Value::as_str)
                .is_some_and(str::is_empty)
            {
                return Err(ApiError::missing_param("address[country]"));
            }
            Some(given.clone())
        }
        Some(_) => return Err(ApiError::invalid("Invalid object").with_param("address")),
        None => None,
    };
    let location = find_mut(&mut state.locations, ctx.ns(), &id).expect("found");
    if let Some(given) = address {
        for (k, v) in given {
            location.address[k] = v;
        }
    }
    if let Some(name) = p.str("display_name") {
        location.display_name = name.to_string();
    }
    if p.has("configuration_overrides") {
        location.configuration_overrides = p.str("configuration_overrides").map(str::to_string);
    }
    if let Some(update) = p.metadata() {
        update.apply(&mut location.metadata);
    }
    Ok(location.render())
}

/// `POST /v1/terminal/readers` (registration code `simulated-wpe`).
pub(crate) fn register_reader(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let code = p.str("registration_code").unwrap_or_default();
    if code != SIMULATED_REGISTRATION_CODE {
        return Err(ApiError::invalid(format!(
            "The registration code '{code}' is invalid or has expired. The simulator registers simulated readers only (registration_code=simulated-wpe)."
        ))
        // Stripe's error codes (the `code` enum of its API and SDKs) have none for this: a 400
        // `invalid_request_error` naming the parameter, without a code.
        .with_param("registration_code"));
    }
    let location = p.str("location").map(str::to_string);
    if let Some(l) = &location {
        require_location(state, ctx, l)?;
    }
    let mut metadata = BTreeMap::new();
    if let Some(update) = p.metadata() {
        update.apply(&mut metadata);
    }
    let reader = Reader {
        meta: state.meta("tmr", ctx.ns(), ctx.now),
        label: p.str("label").unwrap_or(code).to_string(),
        location,
        serial_number: uuid::Uuid::new_v4().to_string(),
        metadata,
        action: None,
        last_seen_at: ctx.now * 1000,
        online: true,
    };
    let rendered = reader.render();
    state.readers.insert(reader.meta.id.clone(), reader);
    Ok(rendered)
}

/// `GET /v1/terminal/readers`
pub(crate) fn list_readers(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let items = newest_first(&state.readers, ctx.ns())
        .into_iter()
        .filter(|r| p.str("location").is_none() || r.location.as_deref() == p.str("location"))
        .filter(|_| {
            p.str("device_type")
                .is_none_or(|t| t == "simulated_wisepos_e")
        })
        .filter(|r| {
            p.str("status")
                .is_none_or(|s| s == if r.online { "online" } else { "offline" })
        })
        .filter(|r| p.str("serial_number").is_none_or(|s| s == r.serial_number))
        .collect::<Vec<_>>();
    list(items, Reader::render, ctx.params, "/v1/terminal/readers")
}

pub(crate) fn path_reader<'a>(state: &'a State, ctx: &Ctx) -> Result<&'a Reader, ApiError> {
    let id = ctx.path_param(0);
    find(&state.readers, ctx.ns(), id)
        .ok_or_else(|| ApiError::no_such("terminal.reader", id, "reader"))
}

/// `GET /v1/terminal/readers/{reader}`
pub(crate) fn retrieve_reader(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    path_reader(state, ctx).map(Reader::render)
}

/// `POST /v1/terminal/readers/{reader}`: its label and metadata (a reader changes location by
/// being registered again, not by an update).
pub(crate) fn update_reader(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let id = path_reader(state, ctx)?.meta.id.clone();
    let reader = find_mut(&mut state.readers, ctx.ns(), &id).expect("found");
    if let Some(label) = p.str("label") {
        reader.label = label.to_string();
    }
    if let Some(update) = p.metadata() {
        update.apply(&mut reader.metadata);
    }
    Ok(reader.render())
}

/// `DELETE /v1/terminal/readers/{reader}`
pub(crate) fn delete_reader(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let id = path_reader(state, ctx)?.meta.id.clone();
    let reader = state.readers.remove(&id).expect("found");
    // The deleted reader keeps its device type and serial number (Stripe's `DeletedReader`).
    Ok(json!({
        "id": id,
        "object": "terminal.reader",
        "deleted": true,
        "device_type": "simulated_wisepos_e",
        "serial_number": reader.serial_number,
    }))
}

/// `DELETE /v1/terminal/locations/{location}`. Stripe's reference states no rule for the
/// readers registered there: they are left as they are (their `location` names the deleted one).
pub(crate) fn delete_location(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let id = ctx.path_param(0).to_string();
    if find(&state.locations, ctx.ns(), &id).is_none() {
        return Err(ApiError::no_such("terminal.location", &id, "location"));
    }
    state.locations.remove(&id);
    Ok(json!({ "id": id, "object": "terminal.location", "deleted": true }))
}

/// `/_sim/terminal/readers/{reader}/online|offline`: the reader's network status. Back online,
/// it reports to Stripe (`last_seen_at` is now).
pub(crate) fn set_online(state: &mut State, reader: &str, online: bool) -> Result<Value, ApiError> {
    let reader = state
        .readers
        .get_mut(reader)
        .ok_or_else(|| ApiError::no_such("terminal.reader", reader, "reader"))?;
    if online && !reader.online {
        reader.last_seen_at = super::state::now() * 1000;
    }
    reader.online = online;
    Ok(reader.render())
}

/// The tipping location `location` (of account `ns`) configures for `currency` through its
/// `configuration_overrides`, if any.
pub(crate) fn location_tipping(
    state: &State,
    ns: &str,
    location: &str,
    currency: &str,
) -> Option<Tipping> {
    let location = find(&state.locations, ns, location)?;
    let configuration = find(
        &state.configurations,
        ns,
        location.configuration_overrides.as_deref()?,
    )?;
    configuration
        .tipping
        .get(currency)
        .filter(|t| t.fixed_amounts.is_some() || t.percentages.is_some())
        .cloned()
}

/// `POST /v1/terminal/readers/{reader}/process_payment_intent`. The reader shows a tipping
/// screen when its location configures tipping for the intent's currency and the request does
/// not `skip_tipping`; the suggestions are computed on `process_config[tipping][amount_eligible]`
/// (default: the intent's amount).
pub(crate) fn process_payment_intent(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let c = start_collection(state, ctx, "process_config")?;
    let reader = find_mut(&mut state.readers, ctx.ns(), &c.reader).expect("found");
    reader.action = Some(ReaderAction {
        kind: ActionKind::ProcessPaymentIntent {
            payment_intent: c.payment_intent,
            process_config: c.config,
            allow_redisplay: c.allow_redisplay,
            tip_options: c.tip_options,
        },
        status: "in_progress",
        failure_code: None,
        failure_message: None,
    });
    reader.last_seen_at = ctx.now * 1000;
    Ok(reader.render())
}

/// `POST /v1/terminal/readers/{reader}/collect_payment_method`: the first half of
/// `process_payment_intent` (same rules, with `collect_config`): the reader reads the card the
/// customer presents and attaches it to the intent, which then awaits `confirm_payment_intent`.
pub(crate) fn collect_payment_method(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let c = start_collection(state, ctx, "collect_config")?;
    let reader = find_mut(&mut state.readers, ctx.ns(), &c.reader).expect("found");
    reader.action = Some(ReaderAction {
        kind: ActionKind::CollectPaymentMethod {
            payment_intent: c.payment_intent,
            collect_config: c.config,
            allow_redisplay: c.allow_redisplay,
            tip_options: c.tip_options,
            payment_method: None,
        },
        status: "in_progress",
        failure_code: None,
        failure_message: None,
    });
    reader.last_seen_at = ctx.now * 1000;
    Ok(reader.render())
}

/// `POST /v1/terminal/readers/{reader}/confirm_payment_intent`: the reader confirms the intent
/// with the card it collected (`collect_payment_method`). The intent must await confirmation with
/// a card read by a reader. The simulated reader confirms at once: the answer already shows the
/// action `succeeded` (or `failed`, with Stripe's code and message, the intent back to
/// `requires_payment_method`), and the matching `terminal.reader.action_*` event is sent.
pub(crate) fn confirm_payment_intent(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let reader = path_reader(state, ctx)?;
    reader.require_online()?;
    if reader.busy() {
        return Err(busy());
    }
    let reader_id = reader.meta.id.clone();
    let Some(pi_id) = p.str("payment_intent").map(str::to_string) else {
        return Err(ApiError::missing_param("payment_intent"));
    };
    let pi = find(&state.payment_intents, ctx.ns(), &pi_id)
        .ok_or_else(|| ApiError::no_such_param("payment_intent", &pi_id, "payment_intent"))?
        .clone();
    let collected = pi
        .payment_method
        .as_ref()
        .and_then(|pm| state.payment_methods.get(pm))
        .is_some_and(|pm| matches!(pm.kind, Kind::CardPresent | Kind::InteracPresent));
    if pi.status != Status::RequiresConfirmation || !collected {
        return Err(ApiError::invalid(format!(
            "This PaymentIntent has a status of {} and cannot be confirmed by a reader. Collect a payment method with collect_payment_method first: the PaymentIntent must have a status of requires_confirmation with a card read by a reader.",
            pi.status.as_str()
        ))
        .with_code("intent_invalid_state")
        .with_param("payment_intent"));
    }
    let confirm_config = match p.value("confirm_config") {
        None => None,
        Some(Value::Object(_)) => Some(json!({
            "return_url": p.at_str(&["confirm_config", "return_url"]),
        })),
        Some(_) => return Err(ApiError::invalid("Invalid object").with_param("confirm_config")),
    };
    let outcome =
        payment_intents::confirm_intent(state, &ctx.origin, ctx.now, &pi_id, false, &ctx.base_url);
    if let Some(intent) = state.payment_intents.get_mut(&pi_id) {
        if outcome.is_err() {
            // A declined card: the next card starts from the amount before the tip.
            if let Some(tip) = intent.tip.take() {
                intent.amount -= tip;
            }
        }
    }
    let location = state.readers[&reader_id].location.clone();
    note_reader(state, &pi_id, &reader_id, location, outcome.is_ok());
    let action = ReaderAction {
        kind: ActionKind::ConfirmPaymentIntent {
            payment_intent: pi_id,
            confirm_config,
        },
        status: "in_progress",
        failure_code: None,
        failure_message: None,
    };
    finish_action(state, ctx, &reader_id, action, outcome)
}

/// Where the card was read, as Stripe records it on the charge of a confirmed intent.
fn note_reader(
    state: &mut State,
    pi_id: &str,
    reader_id: &str,
    location: Option<String>,
    confirmed: bool,
) {
    let Some(intent) = state.payment_intents.get(pi_id) else {
        return;
    };
    let kind = intent
        .payment_method
        .as_ref()
        .and_then(|pm| state.payment_methods.get(pm))
        .map(|pm| pm.kind);
    let charge = intent.latest_charge.clone().filter(|_| confirmed);
    if let (Some(kind), Some(charge)) = (kind, charge.and_then(|c| state.charges.get_mut(&c))) {
        let details = &mut charge.details[kind.as_str()];
        details["reader"] = json!(reader_id);
        if let Some(location) = location {
            details["location"] = json!(location);
        }
    }
}

/// Ends the reader's action `action` with `outcome` (a failure keeps Stripe's code and message),
/// emits `terminal.reader.action_succeeded` or `…action_failed` and answers the reader.
fn finish_action(
    state: &mut State,
    ctx: &Ctx,
    reader_id: &str,
    mut action: ReaderAction,
    outcome: Result<(), ApiError>,
) -> Result<Value, ApiError> {
    match &outcome {
        Ok(()) => action.status = "succeeded",
        Err(e) => {
            action.status = "failed";
            action.failure_code = Some(e.code.clone().unwrap_or_else(|| e.kind.to_string()));
            action.failure_message = Some(e.message.clone());
        }
    }
    let reader = find_mut(&mut state.readers, ctx.ns(), reader_id).expect("found");
    reader.action = Some(action);
    reader.last_seen_at = ctx.now * 1000;
    let rendered = reader.render();
    let event = if outcome.is_ok() {
        "terminal.reader.action_succeeded"
    } else {
        "terminal.reader.action_failed"
    };
    state.emit(&ctx.origin, event, rendered.clone(), None, ctx.now);
    Ok(rendered)
}

fn busy() -> ApiError {
    ApiError::invalid(
        "Reader is currently busy processing another request. Cancel the current action or wait for it to finish.",
    )
    .with_code("terminal_reader_busy")
}

/// A card collection about to start on a reader (`process_payment_intent` or
/// `collect_payment_method`), checked.
struct Collection {
    reader: String,
    payment_intent: String,
    /// The action's `process_config` / `collect_config` as Stripe shows it.
    config: Value,
    allow_redisplay: Option<String>,
    tip_options: Option<Value>,
}

/// The checks shared by `process_payment_intent` and `collect_payment_method`, whose options are
/// the same under `config_param` (`process_config` / `collect_config`).
fn start_collection(state: &State, ctx: &Ctx, config_param: &str) -> Result<Collection, ApiError> {
    let p = ctx.params;
    let allow_param = format!("{config_param}[allow_redisplay]");
    let eligible_param = format!("{config_param}[tipping][amount_eligible]");
    let reader = path_reader(state, ctx)?;
    reader.require_online()?;
    if reader.busy() {
        return Err(busy());
    }
    let reader = reader.clone();
    let pi_id = p.str("payment_intent").unwrap_or_default().to_string();
    let pi = find(&state.payment_intents, ctx.ns(), &pi_id)
        .ok_or_else(|| ApiError::no_such_param("payment_intent", &pi_id, "payment_intent"))?;
    if !matches!(
        pi.status,
        Status::RequiresPaymentMethod | Status::RequiresConfirmation
    ) {
        return Err(ApiError::invalid(format!(
            "This PaymentIntent has a status of {} and cannot be processed by a reader. It must have a status of requires_payment_method or requires_confirmation.",
            pi.status.as_str()
        ))
        .with_code("intent_invalid_state")
        .with_param("payment_intent"));
    }
    if !pi
        .payment_method_types
        .iter()
        .any(|t| t == "card_present" || t == "interac_present")
    {
        return Err(ApiError::invalid(
            "This PaymentIntent cannot be processed by a reader: its payment_method_types do not include card_present.",
        )
        .with_param("payment_intent"));
    }
    // Since 2024-09-30.acacia, saving the card (the intent has `setup_future_usage`) needs the
    // customer's consent: `allow_redisplay` `always` or `limited`, given before the card is read.
    let allow_redisplay = p.at_str(&[config_param, "allow_redisplay"]);
    if pi
        .setup_future_usage
        .as_deref()
        .is_some_and(|u| !u.is_empty())
    {
        match allow_redisplay {
            None => return Err(ApiError::missing_param(&allow_param)),
            Some("unspecified") => {
                return Err(ApiError::invalid(format!(
                    "This PaymentIntent has setup_future_usage: {allow_param} must be always or limited to save its payment method with Terminal."
                ))
                .with_param(&allow_param))
            }
            Some(_) => {}
        }
    }
    let skip_tipping = p.at_bool(&[config_param, "skip_tipping"]).unwrap_or(false);
    let eligible = p.at_int(&[config_param, "tipping", "amount_eligible"]);
    if let Some(e) = eligible {
        if e <= 0 {
            return Err(ApiError::invalid("Invalid positive integer")
                .with_code("parameter_invalid_integer")
                .with_param(&eligible_param));
        }
    }
    let tip_options = if skip_tipping {
        None
    } else {
        reader
            .location
            .as_deref()
            .and_then(|l| location_tipping(state, ctx.ns(), l, &pi.currency))
            .map(|t| tip_options(&t, eligible.unwrap_or(pi.amount)))
    };
    let mut config = serde_json::Map::new();
    config.insert(
        "enable_customer_cancellation".into(),
        json!(p
            .at_bool(&[config_param, "enable_customer_cancellation"])
            .unwrap_or(false)),
    );
    config.insert("skip_tipping".into(), json!(skip_tipping));
    if let Some(eligible) = eligible {
        config.insert("tipping".into(), json!({ "amount_eligible": eligible }));
    }
    Ok(Collection {
        reader: reader.meta.id.clone(),
        payment_intent: pi_id,
        config: Value::Object(config),
        allow_redisplay: allow_redisplay.map(str::to_string),
        tip_options,
    })
}

/// `POST /v1/terminal/readers/{reader}/process_setup_intent`: hands a `card_present` SetupIntent
/// in requires_payment_method to the reader, which reads a card and confirms the intent
/// (`present_payment_method`). `allow_redisplay` (required) is the customer's consent, given to
/// the saved card; `process_config[enable_customer_cancellation]` is shown in the action.
pub(crate) fn process_setup_intent(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let reader = path_reader(state, ctx)?;
    reader.require_online()?;
    if reader.busy() {
        return Err(ApiError::invalid(
            "Reader is currently busy processing another request. Cancel the current action or wait for it to finish.",
        )
        .with_code("terminal_reader_busy"));
    }
    let reader_id = reader.meta.id.clone();
    let si_id = p.str("setup_intent").unwrap_or_default().to_string();
    let si = find(&state.setup_intents, ctx.ns(), &si_id)
        .ok_or_else(|| ApiError::no_such_param("setup_intent", &si_id, "setup_intent"))?;
    if si.status != setup_intents::Status::RequiresPaymentMethod {
        return Err(ApiError::invalid(format!(
            "This SetupIntent has a status of {} and cannot be processed by a reader. It must have a status of requires_payment_method.",
            si.status.as_str()
        ))
        .with_code("setup_intent_unexpected_state")
        .with_param("setup_intent"));
    }
    if !si.payment_method_types.iter().any(|t| t == "card_present") {
        return Err(ApiError::invalid(
            "This SetupIntent cannot be processed by a reader: its payment_method_types do not include card_present.",
        )
        .with_param("setup_intent"));
    }
    // Declared required, so the parameter table has refused a request without it.
    let allow_redisplay = p
        .str("allow_redisplay")
        .unwrap_or("unspecified")
        .to_string();
    let config = json!({
        "enable_customer_cancellation": p
            .at_bool(&["process_config", "enable_customer_cancellation"])
            .unwrap_or(false),
    });
    let reader = find_mut(&mut state.readers, ctx.ns(), &reader_id).expect("found");
    reader.action = Some(ReaderAction {
        kind: ActionKind::ProcessSetupIntent {
            setup_intent: si_id,
            process_config: config,
            allow_redisplay,
            generated_card: None,
        },
        status: "in_progress",
        failure_code: None,
        failure_message: None,
    });
    reader.last_seen_at = ctx.now * 1000;
    Ok(reader.render())
}

/// `POST /v1/terminal/readers/{reader}/set_reader_display`: shows a cart (line items, tax,
/// total; display only, nothing is checked against a payment) until `cancel_action` clears it or
/// a payment replaces it. Refused while the reader is processing a payment.
pub(crate) fn set_reader_display(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let reader = path_reader(state, ctx)?;
    reader.require_online()?;
    if reader.busy() {
        return Err(ApiError::invalid(
            "Reader is currently busy processing another request. Cancel the current action or wait for it to finish.",
        )
        .with_code("terminal_reader_busy"));
    }
    let reader_id = reader.meta.id.clone();
    let Some(given) = p.value("cart") else {
        return Err(ApiError::missing_param("cart"));
    };
    for field in ["currency", "line_items", "total"] {
        if given.get(field).is_none() {
            return Err(ApiError::missing_param(&format!("cart[{field}]")));
        }
    }
    let currency = p
        .at_str(&["cart", "currency"])
        .unwrap_or_default()
        .to_lowercase();
    if Currency::lookup(&currency).is_none() {
        return Err(ApiError::invalid(format!("Invalid currency: {currency}."))
            .with_param("cart[currency]"));
    }
    let int = |v: &Value| v.as_str().and_then(|s| s.parse::<i64>().ok());
    let mut line_items = Vec::new();
    if let Some(items) = given["line_items"].as_array() {
        for (i, item) in items.iter().enumerate() {
            for field in ["amount", "description", "quantity"] {
                if item.get(field).is_none() {
                    return Err(ApiError::missing_param(&format!(
                        "cart[line_items][{i}][{field}]"
                    )));
                }
            }
            let quantity = int(&item["quantity"]).unwrap_or_default();
            if quantity < 1 {
                return Err(ApiError::invalid("Invalid positive integer")
                    .with_code("parameter_invalid_integer")
                    .with_param(&format!("cart[line_items][{i}][quantity]")));
            }
            line_items.push(json!({
                "amount": int(&item["amount"]).unwrap_or_default(),
                "description": item["description"],
                "quantity": quantity,
            }));
        }
    }
    let cart = json!({
        "currency": currency,
        "line_items": line_items,
        "tax": given.get("tax").and_then(int),
        "total": int(&given["total"]).unwrap_or_default(),
    });
    let reader = find_mut(&mut state.readers, ctx.ns(), &reader_id).expect("found");
    reader.action = Some(ReaderAction {
        kind: ActionKind::SetReaderDisplay { cart },
        status: "succeeded",
        failure_code: None,
        failure_message: None,
    });
    reader.last_seen_at = ctx.now * 1000;
    Ok(reader.render())
}

/// `POST /v1/terminal/readers/{reader}/cancel_action`: stops the payment in progress or clears
/// the cart display.
pub(crate) fn cancel_action(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let reader = path_reader(state, ctx)?;
    reader.require_online()?;
    let displaying = reader
        .action
        .as_ref()
        .is_some_and(|a| matches!(a.kind, ActionKind::SetReaderDisplay { .. }));
    if !reader.busy() && !displaying {
        return Err(
            ApiError::invalid("This Reader has no in-progress action to cancel.")
                .with_code("terminal_reader_action_not_found"),
        );
    }
    let reader_id = reader.meta.id.clone();
    let reader = find_mut(&mut state.readers, ctx.ns(), &reader_id).expect("found");
    reader.action = None;
    Ok(reader.render())
}

/// What a reader's screen shows, for `/_sim`: its cart, the tipping screen (with its choices) or
/// card prompt of the payment in progress, or nothing (`idle`).
pub(crate) fn reader_screen(reader: &Reader, state: &State) -> Value {
    match reader.action.as_ref().map(|a| (&a.kind, a.status)) {
        Some((
            ActionKind::ProcessPaymentIntent {
                payment_intent,
                tip_options,
                ..
            }
            | ActionKind::CollectPaymentMethod {
                payment_intent,
                tip_options,
                ..
            },
            "in_progress",
        )) => {
            let pi = state.payment_intents.get(payment_intent);
            json!({
                "screen": if tip_options.is_some() { "tipping" } else { "collect_payment_method" },
                "payment_intent": payment_intent,
                "amount": pi.map(|pi| pi.amount),
                "currency": pi.map(|pi| pi.currency.clone()),
                "tip_options": tip_options,
            })
        }
        Some((ActionKind::ProcessSetupIntent { setup_intent, .. }, "in_progress")) => json!({
            "screen": "collect_payment_method",
            "setup_intent": setup_intent,
        }),
        Some((ActionKind::SetReaderDisplay { cart }, _)) => {
            json!({ "screen": "cart", "cart": cart })
        }
        Some((ActionKind::RefundPayment(refund), "in_progress")) => refund.screen(state),
        _ => json!({ "screen": "idle" }),
    }
}

/// `POST /v1/test_helpers/terminal/readers/{reader}/present_payment_method`: the customer taps or
/// inserts a card; the reader confirms the PaymentIntent of its in-progress action.
pub(crate) fn present_payment_method(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let reader = path_reader(state, ctx)?;
    let Some(current) = reader.action.clone().filter(|a| a.status == "in_progress") else {
        return Err(ApiError::invalid(
            "This Reader has no in-progress action; call process_payment_intent or process_setup_intent first.",
        )
        .with_code("terminal_reader_action_not_found"));
    };
    let reader_id = reader.meta.id.clone();
    match current.kind.clone() {
        ActionKind::RefundPayment(refund) => {
            let (kind, card) = presented_card(ctx)?;
            return super::reader_refunds::present(state, ctx, &reader_id, refund, kind, card);
        }
        ActionKind::ProcessSetupIntent {
            setup_intent,
            allow_redisplay,
            ..
        } => return present_for_setup(state, ctx, &reader_id, &setup_intent, &allow_redisplay),
        _ => {}
    }
    // Collecting only (`collect_payment_method`): the card is attached, not confirmed.
    let (action_intent, allow_redisplay, tip_options, collect_only) = match &current.kind {
        ActionKind::ProcessPaymentIntent {
            payment_intent,
            allow_redisplay,
            tip_options,
            ..
        } => (
            payment_intent.clone(),
            allow_redisplay.clone(),
            tip_options.clone(),
            false,
        ),
        ActionKind::CollectPaymentMethod {
            payment_intent,
            allow_redisplay,
            tip_options,
            ..
        } => (
            payment_intent.clone(),
            allow_redisplay.clone(),
            tip_options.clone(),
            true,
        ),
        _ => {
            return Err(ApiError::invalid(
                "This Reader has no in-progress action; call process_payment_intent first.",
            )
            .with_code("terminal_reader_action_not_found"))
        }
    };
    let (kind, card) = presented_card(ctx)?;
    let pi = state.payment_intents[&action_intent].clone();
    // The tip the customer picks on the tipping screen (any amount: the screen has a custom
    // choice); a tip where the reader shows no tipping screen cannot happen.
    let tip = match p.int("amount_tip") {
        None | Some(0) => None,
        Some(t) if t < 0 => {
            return Err(ApiError::invalid("This value must be greater than or equal to 0.")
                .with_code("parameter_invalid_integer")
                .with_param("amount_tip"))
        }
        Some(_) if tip_options.is_none() => {
            return Err(ApiError::invalid(format!(
                "The reader shows no tipping screen for this payment: process_config[skip_tipping] was set, or the reader's location has no tipping configured for {} (Terminal configuration `tipping`, assigned with the location's configuration_overrides).",
                pi.currency
            ))
            .with_param("amount_tip"))
        }
        Some(t) => {
            payment_intents::check_amount(pi.amount + t, &pi.currency, "amount_tip")?;
            Some(t)
        }
    };
    let mut collected = None;
    let outcome: Result<(), ApiError> = if !matches!(
        pi.status,
        Status::RequiresPaymentMethod | Status::RequiresConfirmation
    ) {
        Err(ApiError::invalid(format!(
            "The PaymentIntent has a status of {} and can no longer be processed.",
            pi.status.as_str()
        ))
        .with_code("intent_invalid_state"))
    } else if !pi.payment_method_types.iter().any(|t| t == kind.as_str()) {
        Err(ApiError::invalid(format!(
            "The PaymentIntent does not accept {} payments.",
            kind.as_str()
        ))
        .with_code("payment_method_not_available"))
    } else {
        let pm = payment_methods::create(state, ctx.ns(), ctx.now, kind, card);
        // The consent given at the reader travels to the card saved from this payment.
        if let Some(allow) = &allow_redisplay {
            let method = state.payment_methods.get_mut(&pm).expect("created");
            method.allow_redisplay = allow.clone();
        }
        let intent = state.payment_intents.get_mut(&pi.meta.id).expect("exists");
        if let Some(tip) = tip {
            intent.amount += tip;
            intent.tip = Some(tip);
        }
        intent.payment_method = Some(pm.clone());
        intent.status = Status::RequiresConfirmation;
        if collect_only {
            collected = state.payment_methods.get(&pm).map(|m| m.render());
            Ok(())
        } else {
            payment_intents::confirm_intent(
                state,
                &ctx.origin,
                ctx.now,
                &pi.meta.id,
                false,
                &ctx.base_url,
            )
        }
    };
    if outcome.is_err() && tip.is_some() {
        if let Some(intent) = state.payment_intents.get_mut(&pi.meta.id) {
            // A declined card: the next card starts from the amount before the tip.
            intent.amount = pi.amount;
            intent.tip = pi.tip;
        }
    }
    let location = state.readers[&reader_id].location.clone();
    note_reader(
        state,
        &pi.meta.id,
        &reader_id,
        location,
        outcome.is_ok() && !collect_only,
    );
    let mut action = current;
    if let ActionKind::CollectPaymentMethod { payment_method, .. } = &mut action.kind {
        *payment_method = collected;
    }
    finish_action(state, ctx, &reader_id, action, outcome)
}

/// The card `present_payment_method` presents: `type` (`card_present`, default, or
/// `interac_present`) and the test card number of that type.
fn presented_card(ctx: &Ctx) -> Result<(Kind, &'static cards::TestCard), ApiError> {
    let p = ctx.params;
    let kind = match p.str("type").unwrap_or("card_present") {
        "interac_present" => Kind::InteracPresent,
        "card_present" => Kind::CardPresent,
        other => {
            return Err(ApiError::invalid(format!(
                "Invalid type: must be one of card_present or interac_present (got {other})"
            ))
            .with_param("type"))
        }
    };
    let (param, number) = match kind {
        Kind::InteracPresent => (
            "interac_present[number]",
            p.at_str(&["interac_present", "number"])
                .unwrap_or(INTERAC_DEFAULT_NUMBER),
        ),
        _ => (
            "card_present[number]",
            p.at_str(&["card_present", "number"])
                .unwrap_or(DEFAULT_NUMBER),
        ),
    };
    let card = cards::lookup(number, param)?;
    if card.interac != (kind == Kind::InteracPresent) {
        return Err(ApiError::invalid(format!(
            "The test card {number} cannot be presented as {}.",
            kind.as_str()
        ))
        .with_param(param));
    }
    Ok((kind, card))
}

/// `present_payment_method` for a reader saving a card (`process_setup_intent`): the card read
/// confirms the SetupIntent; a declining test card fails the action with Stripe's error code and
/// message (and the intent's `setup_intent.setup_failed`). Only `card_present` cards.
fn present_for_setup(
    state: &mut State,
    ctx: &Ctx,
    reader_id: &str,
    setup_intent: &str,
    allow_redisplay: &str,
) -> Result<Value, ApiError> {
    let p = ctx.params;
    if let Some(t) = p.str("type").filter(|t| *t != "card_present") {
        return Err(ApiError::invalid(format!(
            "The reader is saving a card for a SetupIntent: only card_present can be presented (got {t})."
        ))
        .with_param("type"));
    }
    if p.int("amount_tip").is_some_and(|t| t != 0) {
        return Err(ApiError::invalid(
            "The reader shows no tipping screen when saving a card (process_setup_intent).",
        )
        .with_param("amount_tip"));
    }
    let param = "card_present[number]";
    let number = p
        .at_str(&["card_present", "number"])
        .unwrap_or(DEFAULT_NUMBER);
    let card = cards::lookup(number, param)?;
    if card.interac {
        return Err(ApiError::invalid(format!(
            "The test card {number} cannot be presented as card_present."
        ))
        .with_param(param));
    }
    let pm = payment_methods::create(state, ctx.ns(), ctx.now, Kind::CardPresent, card);
    state
        .payment_methods
        .get_mut(&pm)
        .expect("created")
        .allow_redisplay = allow_redisplay.to_string();
    let outcome = setup_intents::collect_present(state, setup_intent, &pm)
        .and_then(|()| setup_intents::confirm_setup(state, &ctx.origin, ctx.now, setup_intent));
    let generated = state.setup_intents[setup_intent]
        .latest_attempt
        .as_ref()
        .and_then(|a| a.generated_card.clone());
    let reader = find_mut(&mut state.readers, ctx.ns(), reader_id).expect("found");
    let current = reader.action.as_mut().expect("in progress");
    match &outcome {
        Ok(()) => {
            current.status = "succeeded";
            if let ActionKind::ProcessSetupIntent { generated_card, .. } = &mut current.kind {
                *generated_card = generated;
            }
        }
        Err(e) => {
            current.status = "failed";
            current.failure_code = Some(e.code.clone().unwrap_or_else(|| e.kind.to_string()));
            current.failure_message = Some(e.message.clone());
        }
    }
    let rendered = reader.render();
    let event = if outcome.is_ok() {
        "terminal.reader.action_succeeded"
    } else {
        "terminal.reader.action_failed"
    };
    state.emit(&ctx.origin, event, rendered.clone(), None, ctx.now);
    Ok(rendered)
}
