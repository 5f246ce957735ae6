//! Saving a card on a reader without a payment: `card_present` SetupIntents, the reader's
//! `process_setup_intent` action completed (or failed) by `present_payment_method`, canceled by
//! `cancel_action`, its events, the SetupAttempt and its generated card, and the simulated JS
//! terminal's `collectSetupIntentPaymentMethod` / `confirmSetupIntent`.

use crate::{id, start, Sim};
use reqwest::Method;
use serde_json::{json, Value};

/// A customer and a `card_present` SetupIntent for them.
async fn setup_intent(sim: &Sim) -> (Value, Value) {
    let customer = sim.customer("member-1").await;
    let si = sim
        .post(
            "/v1/setup_intents",
            &[
                ("customer", id(&customer)),
                ("allowed_payment_method_types[]", "card_present"),
                ("metadata[k]", "v"),
            ],
        )
        .await
        .ok();
    (customer, si)
}

async fn process(sim: &Sim, reader: &str, si: &str, allow: &str) -> crate::Answer {
    sim.post(
        &format!("/v1/terminal/readers/{reader}/process_setup_intent"),
        &[("setup_intent", si), ("allow_redisplay", allow)],
    )
    .await
}

async fn present(sim: &Sim, reader: &str, card: &str) -> Value {
    sim.post(
        &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
        &[("card_present[number]", card)],
    )
    .await
    .ok()
}

async fn event_types(sim: &Sim) -> Vec<String> {
    let events = sim.get("/v1/events", &[("limit", "100")]).await.ok();
    events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_reader_saves_a_card_for_a_setup_intent() {
    let sim = start().await;
    let (customer, si) = setup_intent(&sim).await;
    assert_eq!(si["payment_method_types"], json!(["card_present"]));
    assert_eq!(si["status"], "requires_payment_method");
    assert!(si["latest_attempt"].is_null());
    let reader = sim.reader().await;
    let rid = id(&reader);
    // allow_redisplay is required (the parameter table refuses a request without it).
    let missing = sim
        .post(
            &format!("/v1/terminal/readers/{rid}/process_setup_intent"),
            &[("setup_intent", id(&si))],
        )
        .await;
    assert_eq!((missing.status, missing.code()), (400, "parameter_missing"));
    let handed = process(&sim, rid, id(&si), "always").await.ok();
    assert_eq!(handed["action"]["type"], "process_setup_intent");
    assert_eq!(handed["action"]["status"], "in_progress");
    assert_eq!(
        handed["action"]["process_setup_intent"]["setup_intent"],
        id(&si)
    );
    // Busy until the card is read.
    let busy = process(&sim, rid, id(&si), "always").await;
    assert_eq!(busy.code(), "terminal_reader_busy");
    let screen = sim
        .sim(
            Method::GET,
            &format!("/_sim/terminal/readers/{rid}/screen"),
            None,
        )
        .await
        .ok();
    assert_eq!(screen["screen"], "collect_payment_method");
    assert_eq!(screen["setup_intent"], id(&si));

    let done = present(&sim, rid, "4242424242424242").await;
    assert_eq!(done["action"]["status"], "succeeded");
    let generated = done["action"]["process_setup_intent"]["generated_card"]
        .as_str()
        .expect("the generated card on the action")
        .to_string();
    let after = sim
        .get(
            &format!("/v1/setup_intents/{}", id(&si)),
            &[
                ("expand[]", "latest_attempt"),
                ("expand[]", "payment_method"),
            ],
        )
        .await
        .ok();
    assert_eq!(after["status"], "succeeded");
    let attempt = &after["latest_attempt"];
    assert_eq!(attempt["object"], "setup_attempt");
    assert_eq!(attempt["status"], "succeeded");
    assert_eq!(attempt["setup_intent"], id(&si));
    assert_eq!(
        attempt["payment_method_details"]["card_present"]["generated_card"],
        generated.as_str()
    );
    assert_eq!(after["payment_method"]["type"], "card_present");
    // The generated card: reusable, attached to the customer, with the consent given.
    let card = sim
        .get(&format!("/v1/payment_methods/{generated}"), &[])
        .await
        .ok();
    assert_eq!(card["type"], "card");
    assert_eq!(card["customer"], id(&customer));
    assert_eq!(card["allow_redisplay"], "always");
    assert_eq!(
        card["card"]["generated_from"]["setup_attempt"],
        attempt["id"]
    );
    assert!(card["card"]["generated_from"]["charge"].is_null());
    let listed = sim
        .get(
            &format!("/v1/customers/{}/payment_methods", id(&customer)),
            &[],
        )
        .await
        .ok();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    let types = event_types(&sim).await;
    for t in [
        "setup_intent.succeeded",
        "terminal.reader.action_succeeded",
        "payment_method.attached",
    ] {
        assert!(types.iter().any(|e| e == t), "{t} in {types:?}");
    }
    // Done: neither canceled nor processed again.
    let canceled = sim
        .post(&format!("/v1/setup_intents/{}/cancel", id(&si)), &[])
        .await;
    assert_eq!(canceled.code(), "setup_intent_unexpected_state");
    let again = process(&sim, rid, id(&si), "always").await;
    assert_eq!(again.code(), "setup_intent_unexpected_state");
}

#[tokio::test]
async fn a_declining_card_fails_the_action_and_the_setup() {
    let sim = start().await;
    let (_, si) = setup_intent(&sim).await;
    let reader = sim.reader().await;
    let rid = id(&reader);
    process(&sim, rid, id(&si), "limited").await.ok();
    let failed = present(&sim, rid, "4000000000009995").await;
    assert_eq!(failed["action"]["status"], "failed");
    assert_eq!(failed["action"]["failure_code"], "card_declined");
    assert!(failed["action"]["failure_message"].is_string());
    let after = sim
        .get(
            &format!("/v1/setup_intents/{}", id(&si)),
            &[("expand[]", "latest_attempt")],
        )
        .await
        .ok();
    assert_eq!(after["status"], "requires_payment_method");
    assert_eq!(
        after["last_setup_error"]["decline_code"],
        "insufficient_funds"
    );
    assert_eq!(after["latest_attempt"]["status"], "failed");
    assert_eq!(
        after["latest_attempt"]["setup_error"]["code"],
        "card_declined"
    );
    let types = event_types(&sim).await;
    assert!(types.iter().any(|t| t == "setup_intent.setup_failed"));
    assert!(types.iter().any(|t| t == "terminal.reader.action_failed"));
    // Another card on the same intent, handed again, succeeds.
    process(&sim, rid, id(&si), "limited").await.ok();
    let done = present(&sim, rid, "4242424242424242").await;
    assert_eq!(done["action"]["status"], "succeeded");
}

#[tokio::test]
async fn cancel_action_stops_a_setup_and_the_intent_can_be_canceled() {
    let sim = start().await;
    let (_, si) = setup_intent(&sim).await;
    let reader = sim.reader().await;
    let rid = id(&reader);
    process(&sim, rid, id(&si), "limited").await.ok();
    let stopped = sim
        .post(&format!("/v1/terminal/readers/{rid}/cancel_action"), &[])
        .await
        .ok();
    assert!(stopped["action"].is_null());
    let nothing = sim
        .post(
            &format!("/v1/test_helpers/terminal/readers/{rid}/present_payment_method"),
            &[],
        )
        .await;
    assert_eq!(nothing.code(), "terminal_reader_action_not_found");
    let canceled = sim
        .post(
            &format!("/v1/setup_intents/{}/cancel", id(&si)),
            &[("cancellation_reason", "requested_by_customer")],
        )
        .await
        .ok();
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(canceled["cancellation_reason"], "requested_by_customer");
    let refused = process(&sim, rid, id(&si), "limited").await;
    assert_eq!(refused.code(), "setup_intent_unexpected_state");
    assert!(event_types(&sim)
        .await
        .iter()
        .any(|t| t == "setup_intent.canceled"));
    // A card-only SetupIntent cannot go to a reader.
    let card_only = sim.post("/v1/setup_intents", &[]).await.ok();
    let refused = process(&sim, rid, id(&card_only), "limited").await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body["error"]["param"], "setup_intent");
}

#[tokio::test]
async fn an_offline_reader_refuses_a_setup() {
    let sim = start().await;
    let (_, si) = setup_intent(&sim).await;
    let reader = sim.reader().await;
    let rid = id(&reader);
    sim.sim(
        Method::POST,
        &format!("/_sim/terminal/readers/{rid}/offline"),
        Some(json!({})),
    )
    .await
    .ok();
    let refused = process(&sim, rid, id(&si), "limited").await;
    assert_eq!(refused.code(), "terminal_reader_offline");
}

async fn js_session(sim: &Sim) -> String {
    let token = sim.post("/v1/terminal/connection_tokens", &[]).await.ok();
    let s = sim
        .sim(
            Method::POST,
            "/_sim/terminal/sessions",
            Some(json!({"connection_token": token["secret"]})),
        )
        .await
        .ok();
    s["session"].as_str().unwrap().to_string()
}

async fn js(sim: &Sim, action: &str, body: Value) -> crate::Answer {
    sim.sim(
        Method::POST,
        &format!("/_sim/terminal/setup/{action}"),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn the_simulated_js_terminal_collects_and_confirms_a_setup() {
    let sim = start().await;
    let (customer, si) = setup_intent(&sim).await;
    let session = js_session(&sim).await;
    let secret = si["client_secret"].as_str().unwrap();
    // The SDK requires allow_redisplay.
    let missing = js(
        &sim,
        "collect",
        json!({"session": session, "client_secret": secret}),
    )
    .await;
    assert_eq!((missing.status, missing.code()), (400, "parameter_missing"));
    let confirm_first = js(
        &sim,
        "confirm",
        json!({"session": session, "client_secret": secret}),
    )
    .await;
    assert_eq!(confirm_first.code(), "setup_intent_unexpected_state");
    // A declining card: a card error carrying the intent, back to requires_payment_method.
    let collected = js(
        &sim,
        "collect",
        json!({"session": session, "client_secret": secret, "allow_redisplay": "limited",
               "card_number": "4000000000000002"}),
    )
    .await
    .ok();
    assert_eq!(collected["status"], "requires_confirmation");
    assert_eq!(collected["payment_method"]["type"], "card_present");
    let declined = js(
        &sim,
        "confirm",
        json!({"session": session, "client_secret": secret}),
    )
    .await;
    assert_eq!((declined.status, declined.code()), (402, "card_declined"));
    assert_eq!(
        declined.body["error"]["setup_intent"]["status"],
        "requires_payment_method"
    );
    // Collected then canceled, then a good card.
    js(
        &sim,
        "collect",
        json!({"session": session, "client_secret": secret, "allow_redisplay": "always"}),
    )
    .await
    .ok();
    let canceled = js(
        &sim,
        "cancel",
        json!({"session": session, "client_secret": secret}),
    )
    .await
    .ok();
    assert_eq!(canceled["status"], "requires_payment_method");
    js(
        &sim,
        "collect",
        json!({"session": session, "client_secret": secret, "allow_redisplay": "always"}),
    )
    .await
    .ok();
    let confirmed = js(
        &sim,
        "confirm",
        json!({"session": session, "client_secret": secret}),
    )
    .await
    .ok();
    assert_eq!(confirmed["status"], "succeeded");
    let generated = confirmed["latest_attempt"]["payment_method_details"]["card_present"]
        ["generated_card"]
        .as_str()
        .unwrap();
    let card = sim
        .get(&format!("/v1/payment_methods/{generated}"), &[])
        .await
        .ok();
    assert_eq!(card["customer"], id(&customer));
    assert_eq!(card["allow_redisplay"], "always");
    // Another secret is not found; a payment's secret is not a setup's.
    let wrong = js(
        &sim,
        "collect",
        json!({"session": session, "client_secret": format!("{}_secret_nope", id(&si)),
               "allow_redisplay": "always"}),
    )
    .await;
    assert_eq!(wrong.status, 404);
}
