//! Simulated customer-facing pages: the hosted Checkout page (`/_sim/checkout/{id}`, card picker
//! and Pay/Save button), the 3-D Secure challenge page (`/_sim/authenticate/{pi}`), with the
//! endpoints they (or tests) post to, and a charge's receipt page (`/_sim/receipts/{charge}`, its
//! `receipt_url`).

use super::cards::{self, CARDS, DEFAULT_NUMBER};
use super::charges::display_amount;
use super::checkout;
use super::error::{ApiError, CardErrorDetails};
use super::payment_intents::{self, Status};
use super::state::{now, Origin};
use super::{take_jobs, Simulator};
use serde::Deserialize;
use serde_json::Value;

/// Escapes text for HTML.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}\
         select,button{{font-size:1rem;padding:.5rem;width:100%;margin:.5rem 0}}\
         .note{{color:#666;font-size:.9rem}}</style></head><body><h1>{t}</h1>{body}\
         <p class=\"note\">Stripe simulator — test mode, no real card is charged.</p></body></html>",
        t = esc(title)
    )
}

fn card_options() -> String {
    CARDS
        .iter()
        .filter(|c| !c.interac)
        .map(|c| {
            let what = match (c.present, c.online, c.wallet, c.needs_authentication) {
                (Some(d), _, _, _) => format!("declines: {}", d.decline_code),
                (None, Some(d), _, _) => {
                    format!("saves, later charges decline: {}", d.decline_code)
                }
                (None, None, Some(w), _) => format!("wallet: {w}"),
                (None, None, None, true) => "asks for 3-D Secure".to_string(),
                _ => "succeeds".to_string(),
            };
            format!(
                "<option value=\"{n}\">{brand} •••• {last4} ({what})</option>",
                n = c.number,
                brand = esc(c.brand),
                last4 = c.last4(),
                what = esc(&what)
            )
        })
        .collect()
}

/// `GET /_sim/checkout/{id}`
pub(crate) fn checkout_page(sim: &Simulator, id: &str, base_url: &str) -> (u16, String) {
    let mut state = sim.inner().lock();
    let session = match checkout::open_session(&mut state, id, now()) {
        Ok(s) => s,
        Err(e) => {
            return (
                e.status,
                page("Checkout", &format!("<p>{}</p>", esc(&e.message))),
            )
        }
    };
    let rendered = session.render();
    let (title, button) = if session.mode == "setup" {
        ("Save your card".to_string(), "Save card")
    } else {
        let amount = super::charges::display_amount(
            session.amount_total.unwrap_or_default(),
            session.currency.as_deref().unwrap_or("usd"),
        );
        (format!("Pay {amount}"), "Pay")
    };
    let cancel = rendered["cancel_url"]
        .as_str()
        .map(|u| format!("<p><a href=\"{}\">Cancel</a></p>", esc(u)))
        .unwrap_or_default();
    let body = format!(
        "<form method=\"post\" action=\"{base}/_sim/checkout/{id}/complete\">\
         <label for=\"card\">Test card</label>\
         <select id=\"card\" name=\"card_number\">{options}</select>\
         <button type=\"submit\">{button}</button></form>{cancel}",
        base = esc(base_url),
        id = esc(id),
        options = card_options(),
    );
    (200, page(&title, &body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompleteBody {
    card_number: Option<String>,
}

/// What a page's POST wants back: JSON for programs, a redirect or a page for browsers.
pub(crate) enum Answer {
    Json(Result<Value, ApiError>),
    Redirect(String),
    Html(u16, String),
}

fn parse_body<T: for<'de> Deserialize<'de>>(bytes: &[u8], form: bool) -> Result<T, ApiError> {
    let parsed = if form {
        serde_urlencoded::from_bytes(bytes).map_err(|e| e.to_string())
    } else if bytes.is_empty() {
        serde_json::from_slice(b"{}").map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| ApiError::invalid(format!("Invalid request body: {e}")))
}

/// `POST /_sim/checkout/{id}/complete` (JSON `{"card_number"}` or the page's form).
pub(crate) fn checkout_complete(
    sim: &Simulator,
    id: &str,
    bytes: &[u8],
    form: bool,
    base_url: &str,
) -> Answer {
    let result = parse_body::<CompleteBody>(bytes, form).and_then(|b| {
        let number = b.card_number.unwrap_or_else(|| DEFAULT_NUMBER.to_string());
        let card = cards::lookup(&number, "card_number")?;
        let mut state = sim.inner().lock();
        let result = checkout::complete(&mut state, id, card, now(), base_url);
        let jobs = take_jobs(&mut state);
        drop(state);
        sim.spawn_deliveries(jobs);
        result
    });
    match (form, result) {
        (false, result) => Answer::Json(result),
        (true, Ok(session)) => Answer::Redirect(checkout::success_redirect(&session)),
        (true, Err(e)) => Answer::Html(
            e.status,
            page(
                "Payment failed",
                &format!(
                    "<p>{}</p><p><a href=\"javascript:history.back()\">Try another card</a></p>",
                    esc(&e.message)
                ),
            ),
        ),
    }
}

/// `GET /_sim/authenticate/{pi}`
pub(crate) fn authenticate_page(sim: &Simulator, pi_id: &str, base_url: &str) -> (u16, String) {
    let state = sim.inner().lock();
    match state.payment_intents.get(pi_id) {
        Some(pi) if pi.status == Status::RequiresAction => {
            let form = |outcome: &str, label: &str| {
                format!(
                    "<form method=\"post\" action=\"{}/_sim/authenticate/{}\">\
                     <input type=\"hidden\" name=\"outcome\" value=\"{outcome}\">\
                     <button type=\"submit\">{label}</button></form>",
                    esc(base_url),
                    esc(pi_id)
                )
            };
            let body = format!(
                "<p>Your bank asks you to confirm this payment.</p>{}{}",
                form("succeed", "Complete authentication"),
                form("fail", "Fail authentication")
            );
            (200, page("3-D Secure", &body))
        }
        _ => (
            404,
            page(
                "3-D Secure",
                "<p>Nothing to authenticate for this payment.</p>",
            ),
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthenticateBody {
    outcome: Option<String>,
}

/// `POST /_sim/authenticate/{pi}` `{"outcome": "succeed" | "fail"}`: the customer completes (or
/// fails) 3-D Secure; the intent is confirmed or goes back to requires_payment_method.
pub(crate) fn authenticate(
    sim: &Simulator,
    pi_id: &str,
    bytes: &[u8],
    form: bool,
    base_url: &str,
) -> Answer {
    let result = parse_body::<AuthenticateBody>(bytes, form).and_then(|b| {
        let succeed = match b.outcome.as_deref().unwrap_or("succeed") {
            "succeed" => true,
            "fail" => false,
            other => {
                return Err(ApiError::invalid(format!(
                    "Invalid outcome: must be succeed or fail (got {other})"
                ))
                .with_param("outcome"))
            }
        };
        let mut state = sim.inner().lock();
        let pi = state
            .payment_intents
            .get(pi_id)
            .filter(|pi| pi.status == Status::RequiresAction)
            .cloned()
            .ok_or_else(|| ApiError::no_such("payment_intent", pi_id, "intent"))?;
        let origin = Origin::simulator(&pi.meta.ns, &format!("/_sim/authenticate/{pi_id}"));
        let now = now();
        let result = if succeed {
            state.payment_intents.get_mut(pi_id).expect("found").authenticated = true;
            payment_intents::confirm_intent(&mut state, &origin, now, pi_id, false, base_url)
        } else {
            let pm = pi
                .payment_method
                .as_ref()
                .and_then(|pm| state.payment_methods.get(pm))
                .map(|pm| pm.render());
            let error = ApiError::card_error(
                "payment_intent_authentication_failure",
                "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.",
                CardErrorDetails { payment_method: pm, ..Default::default() },
            );
            let intent = state.payment_intents.get_mut(pi_id).expect("found");
            intent.status = Status::RequiresPaymentMethod;
            intent.payment_method = None;
            intent.next_action = None;
            intent.last_payment_error = Some(error.body());
            let rendered = intent.render();
            state.emit(&origin, "payment_intent.payment_failed", rendered, None, now);
            Ok(())
        };
        let rendered = state.payment_intents[pi_id].render();
        let jobs = take_jobs(&mut state);
        drop(state);
        sim.spawn_deliveries(jobs);
        result.map(|()| rendered)
    });
    match (form, result) {
        (false, result) => Answer::Json(result),
        (true, result) => Answer::Html(
            200,
            page(
                "3-D Secure",
                &match result {
                    Ok(pi) => format!(
                        "<p>Done: the payment is {}.</p>",
                        esc(pi["status"].as_str().unwrap_or_default())
                    ),
                    Err(e) => format!("<p>{}</p>", esc(&e.message)),
                },
            ),
        ),
    }
}

/// `GET /_sim/receipts/{charge}`: the receipt of a successful charge — amount (and the tip chosen
/// on the reader), status, refunds, the card and, for card-present payments, the EMV data.
pub(crate) fn receipt_page(sim: &Simulator, charge_id: &str) -> (u16, String) {
    let state = sim.inner().lock();
    let Some(charge) = state.charges.get(charge_id).filter(|c| c.succeeded()) else {
        return (404, page("Receipt not found", "<p>No such receipt.</p>"));
    };
    let money = |minor: i64| esc(&display_amount(minor, &charge.currency));
    let kind = charge.details["type"].as_str().unwrap_or_default();
    let card = &charge.details[kind];
    let text = |v: &Value| esc(v.as_str().unwrap_or_default());
    let mut rows = vec![
        ("Amount".to_string(), money(charge.amount)),
        (
            "Date".to_string(),
            chrono::DateTime::from_timestamp(charge.meta.created, 0)
                .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default(),
        ),
        (
            "Status".to_string(),
            if charge.captured {
                "Paid"
            } else {
                "Authorized"
            }
            .to_string(),
        ),
        (
            "Card".to_string(),
            format!("{} •••• {}", text(&card["brand"]), text(&card["last4"])),
        ),
    ];
    if let Some(tip) = state
        .payment_intents
        .get(&charge.payment_intent)
        .and_then(|pi| pi.tip)
    {
        rows.insert(1, ("Tip".to_string(), money(tip)));
    }
    if charge.amount_refunded > 0 {
        rows.push(("Refunded".to_string(), money(charge.amount_refunded)));
    }
    if let Some(description) = &charge.description {
        rows.push(("Description".to_string(), esc(description)));
    }
    if card["cardholder_name"].is_string() {
        rows.push(("Cardholder".to_string(), text(&card["cardholder_name"])));
    }
    let receipt = &card["receipt"];
    for (label, field) in [
        ("Application", "application_preferred_name"),
        ("AID", "dedicated_file_name"),
        ("Account type", "account_type"),
        ("Verification", "cardholder_verification_method"),
        ("Authorization code", "authorization_code"),
        ("ARC", "authorization_response_code"),
        ("TVR", "terminal_verification_results"),
        ("TSI", "transaction_status_information"),
        ("Cryptogram", "application_cryptogram"),
    ] {
        if receipt[field].is_string() {
            rows.push((label.to_string(), text(&receipt[field])));
        }
    }
    let table: String = rows
        .iter()
        .map(|(k, v)| format!("<tr><th scope=\"row\">{}</th><td>{v}</td></tr>", esc(k)))
        .collect();
    let title = charge
        .statement_descriptor
        .clone()
        .unwrap_or_else(|| "SIMULATED".to_string());
    (
        200,
        page(
            &format!("Receipt from {title}"),
            &format!(
                "<table>{table}</table><p class=\"note\">{}</p>",
                esc(&charge.meta.id)
            ),
        ),
    )
}
