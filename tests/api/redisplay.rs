//! `allow_redisplay` on server-driven processing (`POST /v1/terminal/readers/{id}/process`): the
//! caller's value goes to Stripe as `process_config[allow_redisplay]`; a payment that saves the
//! card (it has a customer, hence `setup_future_usage`) gets `limited` when the caller gives none
//! (docs/decisions.md, "allow_redisplay on the reader"), and the card saved at Stripe carries it.

use crate::both_backends;
use crate::support::app::TestApp;
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";
const PARAM: &str = "process_config[allow_redisplay]";

/// A merchant `acme` with a reader registered through our API: (token, reader id).
async fn till(app: &TestApp) -> (String, String) {
    let token = app.merchant("acme", "usd").await;
    let (status, reader) = app
        .post(
            "/v1/terminal/readers",
            &token,
            json!({"external_account_id": "acme", "registration_code": "simulated-wpe"}),
        )
        .await;
    assert_eq!(status, 200, "{reader}");
    (token, reader["id"].as_str().unwrap().to_string())
}

/// A card-present payment, with a customer or not; returns its id.
async fn payment(app: &TestApp, token: &str, tx: &str, customer: Option<&str>) -> String {
    let mut body = json!({"external_account_id": "acme", "amount": "12.99",
        "payment_method_types": "card_present", "capture_method": "manual",
        "external_transaction_id": tx});
    if let Some(c) = customer {
        body["external_customer_id"] = json!(c);
    }
    let (status, intent) = app.post("/v1/payment/intent", token, body).await;
    assert_eq!(status, 200, "{intent}");
    intent["id"].as_str().unwrap().to_string()
}

async fn process(
    app: &TestApp,
    token: &str,
    reader: &str,
    payment: &str,
    allow_redisplay: Option<&str>,
) -> (u16, Value) {
    let mut body = json!({"external_account_id": "acme", "payment_id": payment});
    if let Some(a) = allow_redisplay {
        body["allow_redisplay"] = json!(a);
    }
    app.post(
        &format!("/v1/terminal/readers/{reader}/process"),
        token,
        body,
    )
    .await
}

/// The parameter names of the last `process_payment_intent` call Stripe received.
async fn last_process_params(app: &TestApp) -> Vec<String> {
    let log = app.stripe_requests().await;
    let entry = log
        .iter()
        .rfind(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("/process_payment_intent"))
        })
        .unwrap_or_else(|| panic!("no process_payment_intent call: {log:#?}"))
        .clone();
    assert_eq!(entry["status"], 200, "{entry:#}");
    serde_json::from_value(entry["params"].clone()).unwrap()
}

/// The customer taps a card on the reader; returns the card Stripe saved from the payment.
async fn tap_and_saved_card(app: &TestApp, reader: &str, payment: &str) -> Value {
    let (status, tapped) = app
        .sim_post(
            &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
            &[("card_present[number]", VISA)],
        )
        .await;
    assert_eq!(status, 200, "{tapped}");
    assert_eq!(tapped["action"]["status"], "succeeded", "{tapped}");
    let intent = app
        .sim_get(&format!(
            "/v1/payment_intents/{payment}?expand[]=latest_charge"
        ))
        .await;
    assert_eq!(intent["status"], "requires_capture", "{intent}");
    let generated = intent["latest_charge"]["payment_method_details"]["card_present"]
        ["generated_card"]
        .as_str()
        .unwrap_or_else(|| panic!("no generated card: {intent:#}"));
    app.sim_get(&format!("/v1/payment_methods/{generated}"))
        .await
}

both_backends! {
    async fn a_payment_with_a_customer_sends_limited_by_default(app) {
        let (token, reader) = till(&app).await;
        let id = payment(&app, &token, "t-default", Some("cus-1")).await;
        let (status, processing) = process(&app, &token, &reader, &id, None).await;
        assert_eq!(status, 200, "{processing}");
        assert_eq!(processing["action"]["status"], "in_progress");
        assert!(last_process_params(&app).await.contains(&PARAM.to_string()));
        let card = tap_and_saved_card(&app, &reader, &id).await;
        assert_eq!(card["allow_redisplay"], "limited", "{card:#}");
        assert_eq!(card["type"], "card");
    }

    async fn the_callers_value_is_sent(app) {
        let (token, reader) = till(&app).await;
        let id = payment(&app, &token, "t-always", Some("cus-2")).await;
        let (status, processing) = process(&app, &token, &reader, &id, Some("always")).await;
        assert_eq!(status, 200, "{processing}");
        let card = tap_and_saved_card(&app, &reader, &id).await;
        assert_eq!(card["allow_redisplay"], "always", "{card:#}");
    }

    async fn without_a_customer_nothing_is_added(app) {
        let (token, reader) = till(&app).await;
        let id = payment(&app, &token, "t-anon", None).await;
        let (status, processing) = process(&app, &token, &reader, &id, None).await;
        assert_eq!(status, 200, "{processing}");
        assert!(!last_process_params(&app).await.contains(&PARAM.to_string()));
        app.post(&format!("/v1/terminal/readers/{reader}/cancel"), &token,
            json!({"external_account_id": "acme"})).await;
        // The caller's own value still goes (Stripe accepts it; nothing is saved).
        let (status, processing) = process(&app, &token, &reader, &id, Some("always")).await;
        assert_eq!(status, 200, "{processing}");
        assert!(last_process_params(&app).await.contains(&PARAM.to_string()));
    }

    async fn bad_values_are_400s_naming_allow_redisplay_without_a_stripe_call(app) {
        let (token, reader) = till(&app).await;
        let id = payment(&app, &token, "t-bad", Some("cus-3")).await;
        let calls = app.stripe_calls().await.len();
        for (value, why) in [
            (json!("sometimes"), "not a value"),
            (json!(true), "not a string"),
            (json!("unspecified"), "Stripe requires always or limited to save the card"),
        ] {
            let (status, error) = app.post(&format!("/v1/terminal/readers/{reader}/process"), &token,
                json!({"external_account_id": "acme", "payment_id": id, "allow_redisplay": value})).await;
            assert_eq!((status, error["error"]["param"].as_str()), (400, Some("allow_redisplay")),
                "{why}: {error}");
        }
        assert_eq!(app.stripe_calls().await.len(), calls, "no Stripe call");
        // `unspecified` is fine for a payment that saves nothing.
        let anon = payment(&app, &token, "t-bad-anon", None).await;
        let (status, processing) = process(&app, &token, &reader, &anon, Some("unspecified")).await;
        assert_eq!(status, 200, "{processing}");
    }
}
