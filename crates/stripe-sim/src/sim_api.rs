//! `/_sim/…`: the simulator's own controls (JSON, no authentication, permissive CORS):
//!
//! - `POST /_sim/faults` (a `FaultRule`, appended), `GET /_sim/faults`, `DELETE /_sim/faults`;
//! - `GET /_sim/requests` (the API request log), `DELETE /_sim/requests`;
//! - `POST /_sim/webhook_endpoint` `{url, secret}`, `GET /_sim/webhook_deliveries`;
//! - the simulated JS terminal: `POST /_sim/terminal/sessions` `{connection_token}` →
//!   `{session, location}` (a token works once); `…/collect` `{session, client_secret,
//!   card_number?, allow_redisplay?, skip_tipping?, tip_amount?}`
//!   (`allow_redisplay` `always`/`limited` required when the intent has `setup_future_usage`, as
//!   the Terminal SDK requires; `tip_amount`, like the JS SDK simulator's `tipAmount`, is the tip the
//!   customer picks on the tipping screen, which the reader shows when the session's location
//!   configures tipping for the currency and `skip_tipping` is not set; the collect answer's
//!   `amount` and `amount_details.tip` include it) → the PaymentIntent in requires_confirmation with
//!   `payment_method` expanded (the collected `card_present` PaymentMethod); `…/process`
//!   `{session, client_secret}` → the confirmed PaymentIntent, or a 402 card error carrying it
//!   back in requires_payment_method; `…/cancel_collect` → requires_payment_method;
//! - the simulated JS SDK's in-person refunds (`reader_refunds`): `POST
//!   /_sim/terminal/refunds/collect` `{session, charge, amount, currency, card_number?}`
//!   (`collectRefundPaymentMethod`; the card presented, default the charge's own) → `{charge,
//!   amount, currency}`; `…/process` `{session}` (`processRefund`) → the refund made, with its
//!   events; `…/cancel` `{session}` → `{canceled}`;
//! - saving a card without a sale on the simulated JS terminal (the Terminal SDK's
//!   `collectSetupIntentPaymentMethod` and `confirmSetupIntent`): `…/setup/collect` `{session,
//!   client_secret, card_number?, allow_redisplay}` (a `card_present` SetupIntent's client secret;
//!   `allow_redisplay` required, as the SDK requires it) → the SetupIntent in
//!   requires_confirmation with `payment_method` expanded; `…/setup/confirm` `{session,
//!   client_secret}` → the succeeded SetupIntent with `latest_attempt` expanded (its
//!   `payment_method_details.card_present.generated_card` is the saved card), or a 402 card error
//!   carrying it back in requires_payment_method; `…/setup/cancel` → requires_payment_method;
//! - `POST /_sim/terminal/tip_options` `{session, client_secret, skip_tipping?,
//!   tip_eligible_amount?}` → `{screen, amount, currency, tip_options}` as below: the tipping
//!   screen the simulated JS reader would show for the intent (no state changes);
//! - `GET /_sim/terminal/readers/{reader}/screen`: what a simulated reader's screen shows —
//!   `{"screen": "idle"}`, `{"screen": "cart", "cart"}` (`set_reader_display`),
//!   `{"screen": "collect_payment_method" | "tipping", "payment_intent", "amount", "currency",
//!   "tip_options": [{"type": "percentage", "percentage", "amount"} | {"type": "fixed_amount",
//!   "amount"}] | null}` while a `process_payment_intent` waits for the card (the customer's
//!   choice is then given as `amount_tip` to the `present_payment_method` test helper);
//! - `POST /_sim/terminal/readers/{reader}/offline` and `…/online`: the reader's network status
//!   (`status` on the reader); an offline reader refuses server-driven actions
//!   (`terminal_reader_offline`), back online its `last_seen_at` is now → the reader;
//! - hosted pages (`hosted`): `GET /_sim/checkout/{id}`, `POST /_sim/checkout/{id}/complete`,
//!   `GET|POST /_sim/authenticate/{payment_intent}`, `GET /_sim/receipts/{charge}` (a charge's
//!   `receipt_url`).

use super::cards::{self, DEFAULT_NUMBER};
use super::error::ApiError;
use super::faults::FaultRule;
use super::payment_intents::{self, PaymentIntent, Status};
use super::payment_methods::{self, Kind};
use super::setup_intents;
use super::state::{now, random_id, Origin, State};
use super::terminal::{self, reader_screen, TerminalSession};
use super::terminal_configurations::tip_options;
use super::webhooks::Endpoint;
use super::{hosted, reader_refunds, take_jobs, Simulator};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

fn cors(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .insert_header(("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS"))
        .insert_header((
            "Access-Control-Allow-Headers",
            "Content-Type, Authorization, Stripe-Account, Idempotency-Key",
        ))
        .insert_header(("Access-Control-Max-Age", "600"));
    builder
}

fn json_reply(result: Result<Value, ApiError>) -> HttpResponse {
    let (status, body) = match result {
        Ok(v) => (200, v),
        Err(e) => (e.status, e.envelope()),
    };
    cors(HttpResponse::build(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    ))
    .content_type("application/json")
    .body(serde_json::to_string_pretty(&body).expect("JSON values serialize"))
}

/// A JSON request body (unknown fields rejected).
fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid(format!("Invalid JSON body: {e}")))
}

pub(crate) async fn handle(
    sim: &Simulator,
    req: &HttpRequest,
    bytes: &[u8],
    path: &str,
    base_url: &str,
) -> HttpResponse {
    if req.method() == Method::OPTIONS {
        return cors(HttpResponse::NoContent()).finish();
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').skip(1).collect();
    let method = req.method().as_str();
    let form = req
        .headers()
        .get("Content-Type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let answer = match (method, segments.as_slice()) {
        ("GET", ["checkout", id]) => {
            let (status, html) = hosted::checkout_page(sim, id, base_url);
            Some(hosted::Answer::Html(status, html))
        }
        ("POST", ["checkout", id, "complete"]) => {
            Some(hosted::checkout_complete(sim, id, bytes, form, base_url))
        }
        ("GET", ["authenticate", id]) => {
            let (status, html) = hosted::authenticate_page(sim, id, base_url);
            Some(hosted::Answer::Html(status, html))
        }
        ("POST", ["authenticate", id]) => {
            Some(hosted::authenticate(sim, id, bytes, form, base_url))
        }
        ("GET", ["receipts", id]) => {
            let (status, html) = hosted::receipt_page(sim, id);
            Some(hosted::Answer::Html(status, html))
        }
        _ => None,
    };
    match answer {
        Some(hosted::Answer::Json(result)) => return json_reply(result),
        Some(hosted::Answer::Html(status, html)) => {
            return cors(HttpResponse::build(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            ))
            .content_type("text/html; charset=utf-8")
            .body(html)
        }
        Some(hosted::Answer::Redirect(url)) => {
            return cors(HttpResponse::SeeOther())
                .insert_header(("Location", url))
                .finish()
        }
        None => {}
    }
    let result = match (method, segments.as_slice()) {
        ("POST", ["faults"]) => body::<FaultRule>(bytes).and_then(|rule| {
            rule.validate()?;
            let mut state = sim.inner().lock();
            state.faults.add(rule);
            Ok(json!({ "data": state.faults.list() }))
        }),
        ("GET", ["faults"]) => Ok(json!({ "data": sim.inner().lock().faults.list() })),
        ("DELETE", ["faults"]) => {
            sim.inner().lock().faults.clear();
            Ok(json!({ "data": [] }))
        }
        ("GET", ["requests"]) => Ok(json!({ "data": sim.inner().lock().requests })),
        ("DELETE", ["requests"]) => {
            sim.inner().lock().requests.clear();
            Ok(json!({ "data": [] }))
        }
        ("POST", ["webhook_endpoint"]) => set_webhook_endpoint(sim, bytes),
        ("GET", ["webhook_deliveries"]) => {
            let state = sim.inner().lock();
            let data: Vec<Value> = state
                .events
                .iter()
                .map(|e| json!({ "event": e.meta.id, "type": e.kind, "delivery": e.delivery }))
                .collect();
            Ok(json!({ "data": data }))
        }
        ("GET", ["terminal", "readers", reader, "screen"]) => {
            let state = sim.inner().lock();
            match state.readers.get(*reader) {
                Some(r) => Ok(reader_screen(r, &state)),
                None => Err(ApiError::no_such("terminal.reader", reader, "reader")),
            }
        }
        ("POST", ["terminal", "readers", reader, status @ ("online" | "offline")]) => {
            terminal::set_online(&mut sim.inner().lock(), reader, *status == "online")
        }
        ("POST", ["terminal", "sessions"]) => body(bytes).and_then(|b| open_session(sim, b)),
        ("POST", ["terminal", "tip_options"]) => {
            body(bytes).and_then(|b| session_tip_options(sim, b))
        }
        ("POST", ["terminal", "refunds", step @ ("collect" | "process" | "cancel")]) => {
            body(bytes).and_then(|b| terminal_refund(sim, step, b))
        }
        ("POST", ["terminal", action @ ("collect" | "process" | "cancel_collect")]) => {
            body(bytes).and_then(|b| terminal_action(sim, action, b, base_url))
        }
        ("POST", ["terminal", "setup", action @ ("collect" | "confirm" | "cancel")]) => {
            body(bytes).and_then(|b| setup_action(sim, action, b))
        }
        _ => Err(
            ApiError::invalid(format!("Unrecognized request URL ({method}: {path})."))
                .with_status(404),
        ),
    };
    json_reply(result)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookEndpointBody {
    url: Option<String>,
    secret: Option<String>,
}

fn set_webhook_endpoint(sim: &Simulator, bytes: &[u8]) -> Result<Value, ApiError> {
    let b: WebhookEndpointBody = body(bytes)?;
    let mut state = sim.inner().lock();
    match b.url {
        None => state.webhook = None,
        Some(url) => {
            url::Url::parse(&url)
                .map_err(|e| ApiError::invalid(format!("Invalid url: {e}")).with_param("url"))?;
            let secret = match b.secret {
                Some(s) if s.starts_with("whsec_") => s,
                Some(_) => {
                    return Err(
                        ApiError::invalid("secret must start with whsec_").with_param("secret")
                    )
                }
                None => state
                    .webhook
                    .as_ref()
                    .map(|e| e.secret.clone())
                    .ok_or_else(|| ApiError::missing_param("secret"))?,
            };
            state.webhook = Some(Endpoint { url, secret });
        }
    }
    Ok(json!({ "url": state.webhook.as_ref().map(|e| e.url.clone()) }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionBody {
    connection_token: String,
}

fn open_session(sim: &Simulator, b: SessionBody) -> Result<Value, ApiError> {
    let mut state = sim.inner().lock();
    let token = state
        .connection_tokens
        .get_mut(&b.connection_token)
        .ok_or_else(|| {
            ApiError::invalid("Invalid connection token.")
                .with_code("invalid_connection_token")
                .with_param("connection_token")
        })?;
    if token.redeemed {
        return Err(ApiError::invalid(
            "This connection token has already been used. Connection tokens are single-use: fetch a new one.",
        )
        .with_code("connection_token_already_used")
        .with_param("connection_token"));
    }
    token.redeemed = true;
    let session = TerminalSession {
        ns: token.ns.clone(),
        location: token.location.clone(),
    };
    let id = random_id("tss", 24);
    let location = session.location.clone();
    state.terminal_sessions.insert(id.clone(), session);
    Ok(json!({ "session": id, "location": location }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TipOptionsBody {
    session: String,
    client_secret: String,
    skip_tipping: Option<bool>,
    tip_eligible_amount: Option<i64>,
}

/// The tipping screen a JS session's reader shows for an intent: the tip choices of the session
/// location's configuration for the intent's currency, on `tip_eligible_amount` (default: the
/// amount before any tip).
fn session_tip_options(sim: &Simulator, b: TipOptionsBody) -> Result<Value, ApiError> {
    let state = sim.inner().lock();
    let (ns, location) = session_of(&state, &b.session)?;
    let pi = payment_intents::by_client_secret(&state, &ns, &b.client_secret)?;
    let base = pi.amount - pi.tip.unwrap_or(0);
    let eligible = match b.tip_eligible_amount {
        Some(e) if e <= 0 => {
            return Err(ApiError::invalid(format!(
                "Invalid tip_eligible_amount: must be a positive integer (got {e})"
            ))
            .with_param("tip_eligible_amount"))
        }
        Some(e) => e,
        None => base,
    };
    let options = if b.skip_tipping.unwrap_or(false) {
        None
    } else {
        location
            .and_then(|l| terminal::location_tipping(&state, &ns, &l, &pi.currency))
            .map(|t| tip_options(&t, eligible))
    };
    Ok(json!({
        "screen": if options.is_some() { "tipping" } else { "collect_payment_method" },
        "amount": base,
        "currency": pi.currency,
        "tip_options": options,
    }))
}

/// The account and location of a JS terminal session.
fn session_of(state: &State, session: &str) -> Result<(String, Option<String>), ApiError> {
    state
        .terminal_sessions
        .get(session)
        .map(|s| (s.ns.clone(), s.location.clone()))
        .ok_or_else(|| {
            ApiError::invalid(format!("No such terminal session: '{session}'"))
                .with_code("resource_missing")
                .with_param("session")
                .with_status(404)
        })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TerminalBody {
    session: String,
    client_secret: String,
    card_number: Option<String>,
    allow_redisplay: Option<String>,
    skip_tipping: Option<bool>,
    tip_amount: Option<i64>,
}

fn terminal_action(
    sim: &Simulator,
    action: &str,
    b: TerminalBody,
    base_url: &str,
) -> Result<Value, ApiError> {
    if action != "collect" {
        let given = [
            ("card_number", b.card_number.is_some()),
            ("allow_redisplay", b.allow_redisplay.is_some()),
            ("skip_tipping", b.skip_tipping.is_some()),
            ("tip_amount", b.tip_amount.is_some()),
        ];
        if let Some((field, _)) = given.iter().find(|(_, set)| *set) {
            return Err(ApiError::unknown_param(field));
        }
    }
    let mut state = sim.inner().lock();
    let (ns, location) = session_of(&state, &b.session)?;
    let pi = payment_intents::by_client_secret(&state, &ns, &b.client_secret)?.clone();
    let origin = Origin::simulator(&ns, &format!("/_sim/terminal/{action}"));
    let now = now();
    let result = match action {
        "collect" => collect(&mut state, &ns, location.as_deref(), now, &pi.meta.id, b),
        "process" => {
            if pi.status != Status::RequiresConfirmation {
                Err(ApiError::unexpected_state(format!(
                    "This PaymentIntent has a status of {}; collect a payment method first (it must be requires_confirmation to be processed).",
                    pi.status.as_str()
                ), pi.render()))
            } else {
                payment_intents::confirm_intent(
                    &mut state,
                    &origin,
                    now,
                    &pi.meta.id,
                    false,
                    base_url,
                )
            }
        }
        _ => {
            if matches!(
                pi.status,
                Status::RequiresPaymentMethod | Status::RequiresConfirmation
            ) {
                let intent = state.payment_intents.get_mut(&pi.meta.id).expect("found");
                intent.payment_method = None;
                intent.status = Status::RequiresPaymentMethod;
                // The tip chosen with the canceled collection goes with it.
                intent.amount -= intent.tip.take().unwrap_or(0);
                Ok(())
            } else {
                Err(ApiError::unexpected_state(format!(
                    "This PaymentIntent has a status of {}; there is no collected payment method to cancel.",
                    pi.status.as_str()
                ), pi.render()))
            }
        }
    };
    let jobs = take_jobs(&mut state);
    let mut rendered = state.payment_intents[&pi.meta.id].render();
    if action == "collect" {
        // The collected card, as the Terminal SDK shows it.
        state.expand(&ns, &mut rendered, &["payment_method".to_string()])?;
    }
    drop(state);
    sim.spawn_deliveries(jobs);
    result.map(|()| rendered)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetupBody {
    session: String,
    client_secret: String,
    card_number: Option<String>,
    allow_redisplay: Option<String>,
}

/// The simulated JS terminal saving a card for a `card_present` SetupIntent.
fn setup_action(sim: &Simulator, action: &str, b: SetupBody) -> Result<Value, ApiError> {
    if action != "collect" {
        let given = [
            ("card_number", b.card_number.is_some()),
            ("allow_redisplay", b.allow_redisplay.is_some()),
        ];
        if let Some((field, _)) = given.iter().find(|(_, set)| *set) {
            return Err(ApiError::unknown_param(field));
        }
    }
    let mut state = sim.inner().lock();
    let (ns, _) = session_of(&state, &b.session)?;
    let si = setup_intents::by_client_secret(&state, &ns, &b.client_secret)?.clone();
    let id = si.meta.id.clone();
    let origin = Origin::simulator(&ns, &format!("/_sim/terminal/setup/{action}"));
    let now = now();
    let result = match action {
        "collect" => collect_setup(&mut state, &ns, now, &id, &b),
        "confirm" => {
            if si.status != setup_intents::Status::RequiresConfirmation {
                Err(ApiError::invalid(format!(
                    "This SetupIntent has a status of {}; collect a payment method first (it must be requires_confirmation to be confirmed).",
                    si.status.as_str()
                ))
                .with_code("setup_intent_unexpected_state"))
            } else {
                setup_intents::confirm_setup(&mut state, &origin, now, &id)
            }
        }
        _ => {
            if si.status == setup_intents::Status::RequiresConfirmation {
                let intent = state.setup_intents.get_mut(&id).expect("found");
                intent.payment_method = None;
                intent.status = setup_intents::Status::RequiresPaymentMethod;
                Ok(())
            } else {
                Err(ApiError::invalid(format!(
                    "This SetupIntent has a status of {}; there is no collected payment method to cancel.",
                    si.status.as_str()
                ))
                .with_code("setup_intent_unexpected_state"))
            }
        }
    };
    let jobs = take_jobs(&mut state);
    let mut rendered = state.setup_intents[&id].render();
    let expand = match action {
        "collect" => "payment_method",
        _ => "latest_attempt",
    };
    state.expand(&ns, &mut rendered, &[expand.to_string()])?;
    drop(state);
    sim.spawn_deliveries(jobs);
    result.map(|()| rendered)
}

fn collect_setup(
    state: &mut State,
    ns: &str,
    now: i64,
    id: &str,
    b: &SetupBody,
) -> Result<(), ApiError> {
    let allow_redisplay = match b.allow_redisplay.as_deref() {
        Some(v @ ("always" | "limited" | "unspecified")) => v,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "Invalid allow_redisplay: must be one of always, limited or unspecified (got {other})"
            ))
            .with_param("allow_redisplay"))
        }
        // The Terminal SDK's `collectSetupIntentPaymentMethod` requires it.
        None => {
            return Err(ApiError::invalid(
                "collectSetupIntentPaymentMethod requires allow_redisplay (always, limited or unspecified).",
            )
            .with_code("parameter_missing")
            .with_param("allow_redisplay"))
        }
    };
    let card = cards::lookup(
        b.card_number.as_deref().unwrap_or(DEFAULT_NUMBER),
        "card_number",
    )?;
    if card.interac {
        return Err(ApiError::invalid(
            "A SetupIntent saves card_present cards; this test card is interac_present.",
        )
        .with_code("payment_method_not_available")
        .with_param("card_number"));
    }
    let pm = payment_methods::create(state, ns, now, Kind::CardPresent, card);
    state
        .payment_methods
        .get_mut(&pm)
        .expect("created")
        .allow_redisplay = allow_redisplay.to_string();
    let collected = setup_intents::collect_present(state, id, &pm);
    if collected.is_err() {
        state.payment_methods.remove(&pm);
    }
    collected
}

fn collect(
    state: &mut State,
    ns: &str,
    location: Option<&str>,
    now: i64,
    pi_id: &str,
    b: TerminalBody,
) -> Result<(), ApiError> {
    let pi = &state.payment_intents[pi_id];
    if pi.status != Status::RequiresPaymentMethod {
        return Err(ApiError::unexpected_state(format!(
            "This PaymentIntent has a status of {}; a payment method can only be collected while it is requires_payment_method.",
            pi.status.as_str()
        ), pi.render()));
    }
    let card = cards::lookup(
        b.card_number.as_deref().unwrap_or(DEFAULT_NUMBER),
        "card_number",
    )?;
    let kind = if card.interac {
        Kind::InteracPresent
    } else {
        Kind::CardPresent
    };
    if !pi.payment_method_types.iter().any(|t| t == kind.as_str()) {
        return Err(ApiError::invalid(format!(
            "This PaymentIntent does not accept {} payments (payment_method_types: {}).",
            kind.as_str(),
            pi.payment_method_types.join(", ")
        ))
        .with_code("payment_method_not_available")
        .with_param("card_number"));
    }
    let allow_redisplay = match b.allow_redisplay.as_deref() {
        None => "unspecified",
        Some(v @ ("always" | "limited" | "unspecified")) => v,
        Some(other) => {
            return Err(ApiError::invalid(format!(
            "Invalid allow_redisplay: must be one of always, limited or unspecified (got {other})"
        ))
            .with_param("allow_redisplay"))
        }
    };
    // The Terminal SDK's rule (its `ICollectConfig.allow_redisplay`: "Required if
    // `setup_future_usage` is set"; Stripe wants `always` or `limited` then, 2024-09-30.acacia).
    if pi
        .setup_future_usage
        .as_deref()
        .is_some_and(|u| !u.is_empty())
        && allow_redisplay == "unspecified"
    {
        let message = "This command requires allow_redisplay to be set as always or limited when saving payment methods with Terminal (the PaymentIntent has setup_future_usage).";
        return Err(match b.allow_redisplay {
            None => ApiError::invalid(message).with_code("parameter_missing"),
            Some(_) => ApiError::invalid(message),
        }
        .with_param("allow_redisplay"));
    }
    // A tip of an earlier collection that was declined is not carried over.
    let base = pi.amount - pi.tip.unwrap_or(0);
    let tip = collected_tip(state, ns, location, pi, base, &b)?;
    let pm = payment_methods::create(state, ns, now, kind, card);
    state
        .payment_methods
        .get_mut(&pm)
        .expect("created")
        .allow_redisplay = allow_redisplay.to_string();
    let intent = state.payment_intents.get_mut(pi_id).expect("found");
    intent.amount = base + tip.unwrap_or(0);
    intent.tip = tip;
    intent.payment_method = Some(pm);
    intent.status = Status::RequiresConfirmation;
    intent.last_payment_error = None;
    Ok(())
}

/// The tip the customer picks on the simulated JS reader's tipping screen (`tip_amount`; none or
/// 0: no tip). Refused when the reader shows no tipping screen.
fn collected_tip(
    state: &State,
    ns: &str,
    location: Option<&str>,
    pi: &PaymentIntent,
    base: i64,
    b: &TerminalBody,
) -> Result<Option<i64>, ApiError> {
    match b.tip_amount {
        None | Some(0) => Ok(None),
        Some(t) if t < 0 => Err(ApiError::invalid(
            "Invalid tip_amount: must be greater than or equal to 0",
        )
        .with_param("tip_amount")),
        Some(t) => {
            let screen = !b.skip_tipping.unwrap_or(false)
                && location.is_some_and(|l| {
                    terminal::location_tipping(state, ns, l, &pi.currency).is_some()
                });
            if !screen {
                return Err(ApiError::invalid(format!(
                    "The reader shows no tipping screen for this payment: skip_tipping was set, or the session's location has no tipping configured for {} (Terminal configuration `tipping`, assigned with the location's configuration_overrides).",
                    pi.currency
                ))
                .with_param("tip_amount"));
            }
            payment_intents::check_amount(base + t, &pi.currency, "tip_amount")?;
            Ok(Some(t))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundBody {
    session: String,
    charge: Option<String>,
    amount: Option<i64>,
    currency: Option<String>,
    card_number: Option<String>,
}

/// The simulated JS SDK's refund steps (`reader_refunds`).
fn terminal_refund(sim: &Simulator, step: &str, b: RefundBody) -> Result<Value, ApiError> {
    let mut state = sim.inner().lock();
    let (ns, _) = session_of(&state, &b.session)?;
    let origin = Origin::simulator(&ns, &format!("/_sim/terminal/refunds/{step}"));
    let result = match step {
        "collect" => {
            let charge = b.charge.ok_or_else(|| ApiError::missing_param("charge"))?;
            let amount = b.amount.ok_or_else(|| ApiError::missing_param("amount"))?;
            let currency = b
                .currency
                .ok_or_else(|| ApiError::missing_param("currency"))?;
            reader_refunds::collect(
                &mut state,
                &ns,
                &b.session,
                &charge,
                amount,
                &currency,
                b.card_number.as_deref(),
            )
        }
        _ => {
            let given = [
                ("charge", b.charge.is_some()),
                ("amount", b.amount.is_some()),
                ("currency", b.currency.is_some()),
                ("card_number", b.card_number.is_some()),
            ];
            if let Some((field, _)) = given.iter().find(|(_, set)| *set) {
                return Err(ApiError::unknown_param(field));
            }
            if step == "process" {
                reader_refunds::process(&mut state, &origin, now(), &b.session)
            } else {
                Ok(reader_refunds::cancel(&mut state, &b.session))
            }
        }
    };
    let jobs = take_jobs(&mut state);
    drop(state);
    sim.spawn_deliveries(jobs);
    result
}
