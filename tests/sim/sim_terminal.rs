//! The `/_sim/terminal` endpoints used by the simulated JS terminal.

use crate::{id, start, Sim};
use reqwest::Method;
use serde_json::{json, Value};

async fn session(sim: &Sim) -> String {
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

async fn call(sim: &Sim, action: &str, body: Value) -> crate::Answer {
    sim.sim(
        Method::POST,
        &format!("/_sim/terminal/{action}"),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn connection_tokens_are_single_use() {
    let sim = start().await;
    let loc = sim
        .post(
            "/v1/terminal/locations",
            &[("display_name", "Shop"), ("address[country]", "US")],
        )
        .await
        .ok();
    let token = sim
        .post("/v1/terminal/connection_tokens", &[("location", id(&loc))])
        .await
        .ok();
    let body = json!({"connection_token": token["secret"]});
    let first = sim
        .sim(Method::POST, "/_sim/terminal/sessions", Some(body.clone()))
        .await
        .ok();
    assert!(first["session"].as_str().unwrap().starts_with("tss_"));
    assert_eq!(first["location"], id(&loc));
    let reused = sim
        .sim(Method::POST, "/_sim/terminal/sessions", Some(body))
        .await;
    assert_eq!(reused.status, 400);
    assert_eq!(reused.body["error"]["type"], "invalid_request_error");
    let unknown = sim
        .sim(
            Method::POST,
            "/_sim/terminal/sessions",
            Some(json!({"connection_token": "pst_test_nope"})),
        )
        .await;
    assert_eq!(unknown.status, 400);
}

#[tokio::test]
async fn collect_process_and_decline() {
    let sim = start().await;
    let tss = session(&sim).await;
    let customer = sim.customer("js").await;
    let pi = sim
        .intent(&[
            ("customer", id(&customer)),
            ("setup_future_usage", "off_session"),
        ])
        .await;
    let secret = pi["client_secret"].clone();
    // The intent saves the card: the SDK's config_override.allow_redisplay is required.
    for (allow, code) in [(None, "parameter_missing"), (Some("unspecified"), "")] {
        let refused = call(
            &sim,
            "collect",
            json!({"session": tss, "client_secret": secret, "allow_redisplay": allow}),
        )
        .await;
        assert_eq!(
            (
                refused.status,
                refused.code(),
                refused.body["error"]["param"].as_str()
            ),
            (400, code, Some("allow_redisplay")),
            "{}",
            refused.body
        );
    }
    let collected = call(
        &sim,
        "collect",
        json!({"session": tss, "client_secret": secret, "card_number": "4000000000000002",
            "allow_redisplay": "limited"}),
    )
    .await
    .ok();
    assert_eq!(collected["status"], "requires_confirmation");
    assert_eq!(collected["payment_method"]["type"], "card_present");
    assert_eq!(collected["payment_method"]["card_present"]["last4"], "0002");
    let again = call(
        &sim,
        "collect",
        json!({"session": tss, "client_secret": secret, "allow_redisplay": "limited"}),
    )
    .await;
    assert_eq!(
        (again.status, again.code()),
        (400, "payment_intent_unexpected_state")
    );
    let declined = call(
        &sim,
        "process",
        json!({"session": tss, "client_secret": secret}),
    )
    .await;
    assert_eq!(declined.status, 402);
    assert_eq!(declined.body["error"]["type"], "card_error");
    assert_eq!(declined.body["error"]["decline_code"], "generic_decline");
    assert_eq!(
        declined.body["error"]["payment_intent"]["status"],
        "requires_payment_method"
    );
    call(
        &sim,
        "collect",
        json!({"session": tss, "client_secret": secret, "allow_redisplay": "always"}),
    )
    .await
    .ok();
    let processed = call(
        &sim,
        "process",
        json!({"session": tss, "client_secret": secret}),
    )
    .await
    .ok();
    assert_eq!(processed["status"], "requires_capture");
    let charged = sim
        .get(
            &format!(
                "/v1/charges/{}",
                processed["latest_charge"].as_str().unwrap()
            ),
            &[],
        )
        .await
        .ok();
    let generated = charged["payment_method_details"]["card_present"]["generated_card"]
        .as_str()
        .unwrap();
    let saved = sim
        .get(&format!("/v1/payment_methods/{generated}"), &[])
        .await
        .ok();
    assert_eq!(saved["allow_redisplay"], "always");
    assert_eq!(saved["customer"], id(&customer));
}

#[tokio::test]
async fn cancel_collect_and_isolation() {
    let sim = start().await;
    let tss = session(&sim).await;
    let pi = sim.intent(&[("capture_method", "automatic")]).await;
    let secret = pi["client_secret"].clone();
    call(
        &sim,
        "collect",
        json!({"session": tss, "client_secret": secret}),
    )
    .await
    .ok();
    let back = call(
        &sim,
        "cancel_collect",
        json!({"session": tss, "client_secret": secret}),
    )
    .await
    .ok();
    assert_eq!(back["status"], "requires_payment_method");
    assert!(back["payment_method"].is_null());
    let early = call(
        &sim,
        "process",
        json!({"session": tss, "client_secret": secret}),
    )
    .await;
    assert_eq!(early.status, 400);
    call(
        &sim,
        "collect",
        json!({"session": tss, "client_secret": secret}),
    )
    .await
    .ok();
    let done = call(
        &sim,
        "process",
        json!({"session": tss, "client_secret": secret}),
    )
    .await
    .ok();
    assert_eq!(done["status"], "succeeded");
    // A session of another account cannot see this intent.
    let other = sim.as_account("acct_js");
    let other_tss = session(&other).await;
    let hidden = call(
        &sim,
        "collect",
        json!({"session": other_tss, "client_secret": secret}),
    )
    .await;
    assert_eq!((hidden.status, hidden.code()), (404, "resource_missing"));
    let wrong = call(
        &sim,
        "collect",
        json!({"session": tss, "client_secret": format!("{}_secret_wrong", id(&pi))}),
    )
    .await;
    assert_eq!(wrong.status, 404);
    let no_session = call(
        &sim,
        "collect",
        json!({"session": "tss_nope", "client_secret": secret}),
    )
    .await;
    assert_eq!(no_session.status, 404);
}

#[tokio::test]
async fn cors_for_browsers() {
    let sim = start().await;
    let preflight = sim
        .send(
            sim.http
                .request(
                    Method::OPTIONS,
                    format!("{}/_sim/terminal/collect", sim.base),
                )
                .header("Origin", "http://pos.example")
                .header("Access-Control-Request-Method", "POST"),
        )
        .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("Access-Control-Allow-Origin"), Some("*"));
    assert!(preflight
        .header("Access-Control-Allow-Headers")
        .unwrap()
        .contains("Content-Type"));
    let answer = sim.sim(Method::GET, "/_sim/requests", None).await;
    assert_eq!(answer.header("Access-Control-Allow-Origin"), Some("*"));
}

/// The simulated JS reader's tipping screen: shown when the session's location configures tipping
/// for the currency; the picked tip (`tip_amount`) is part of the amount; a canceled or declined
/// collection does not keep it; no screen, no tip.
#[tokio::test]
async fn tip_on_the_simulated_js_reader() {
    let sim = start().await;
    let configuration = sim
        .post(
            "/v1/terminal/configurations",
            &[("tipping[usd][percentages][]", "15")],
        )
        .await
        .ok();
    let location = sim
        .post(
            "/v1/terminal/locations",
            &[
                ("display_name", "Bar"),
                ("address[country]", "US"),
                ("configuration_overrides", id(&configuration)),
            ],
        )
        .await
        .ok();
    let token = sim
        .post(
            "/v1/terminal/connection_tokens",
            &[("location", id(&location))],
        )
        .await
        .ok();
    let tss = sim
        .sim(
            Method::POST,
            "/_sim/terminal/sessions",
            Some(json!({"connection_token": token["secret"]})),
        )
        .await
        .ok()["session"]
        .clone();
    let pi = sim.intent(&[]).await;
    let secret = pi["client_secret"].clone();
    // The screen the customer sees: 15% of $12.99, or of the tip-eligible amount.
    let screen = call(
        &sim,
        "tip_options",
        json!({"session": tss, "client_secret": secret}),
    )
    .await
    .ok();
    assert_eq!(screen["screen"], "tipping");
    assert_eq!(screen["tip_options"][0]["percentage"], 15);
    assert_eq!(screen["tip_options"][0]["amount"], 195);
    let eligible = call(
        &sim,
        "tip_options",
        json!({"session": tss, "client_secret": secret, "tip_eligible_amount": 1000}),
    )
    .await
    .ok();
    assert_eq!(eligible["tip_options"][0]["amount"], 150);
    let skipped = call(
        &sim,
        "tip_options",
        json!({"session": tss, "client_secret": secret, "skip_tipping": true}),
    )
    .await
    .ok();
    assert_eq!(skipped["screen"], "collect_payment_method");
    assert!(skipped["tip_options"].is_null());
    let bad = call(
        &sim,
        "tip_options",
        json!({"session": tss, "client_secret": secret, "tip_eligible_amount": 0}),
    )
    .await;
    assert_eq!(
        (bad.status, bad.body["error"]["param"].as_str()),
        (400, Some("tip_eligible_amount"))
    );
    let collected = call(
        &sim,
        "collect",
        json!({"session": tss, "client_secret": secret, "tip_amount": 195}),
    )
    .await
    .ok();
    assert_eq!(collected["amount"], 1494);
    // The suggestions stay on the amount before the tip.
    let again = call(
        &sim,
        "tip_options",
        json!({"session": tss, "client_secret": secret}),
    )
    .await
    .ok();
    assert_eq!(again["amount"], 1299);
    assert_eq!(collected["amount_details"]["tip"]["amount"], 195);
    let back = call(
        &sim,
        "cancel_collect",
        json!({"session": tss, "client_secret": secret}),
    )
    .await
    .ok();
    assert_eq!(back["amount"], 1299);
    assert!(back["amount_details"]["tip"]["amount"].is_null());
    // A declined card, then another card with another tip: only the last tip counts.
    call(
        &sim,
        "collect",
        json!({"session": tss, "client_secret": secret, "tip_amount": 100, "card_number": "4000000000000002"}),
    )
    .await
    .ok();
    let declined = call(
        &sim,
        "process",
        json!({"session": tss, "client_secret": secret}),
    )
    .await;
    assert_eq!(declined.status, 402);
    call(
        &sim,
        "collect",
        json!({"session": tss, "client_secret": secret, "tip_amount": 260}),
    )
    .await
    .ok();
    let paid = call(
        &sim,
        "process",
        json!({"session": tss, "client_secret": secret}),
    )
    .await
    .ok();
    assert_eq!(paid["status"], "requires_capture");
    assert_eq!(paid["amount"], 1559);
    assert_eq!(paid["amount_capturable"], 1559);
    assert_eq!(paid["amount_details"]["tip"]["amount"], 260);
    // skip_tipping, or a session without a tipping location: no screen, so no tip.
    let pi = sim.intent(&[]).await;
    let skipped = call(
        &sim,
        "collect",
        json!({"session": tss, "client_secret": pi["client_secret"], "tip_amount": 100, "skip_tipping": true}),
    )
    .await;
    assert_eq!(
        (skipped.status, skipped.body["error"]["param"].as_str()),
        (400, Some("tip_amount"))
    );
    let plain = session(&sim).await;
    let refused = call(
        &sim,
        "collect",
        json!({"session": plain, "client_secret": pi["client_secret"], "tip_amount": 100}),
    )
    .await;
    assert_eq!(refused.status, 400);
    let negative = call(
        &sim,
        "collect",
        json!({"session": tss, "client_secret": pi["client_secret"], "tip_amount": -1}),
    )
    .await;
    assert_eq!(negative.status, 400);
    let misplaced = call(
        &sim,
        "process",
        json!({"session": tss, "client_secret": pi["client_secret"], "tip_amount": 1}),
    )
    .await;
    assert_eq!(
        (misplaced.status, misplaced.code()),
        (400, "parameter_unknown")
    );
}

/// Stripe's dispute test cards work on the simulated JS reader too: the dispute opens on capture.
#[tokio::test]
async fn a_dispute_card_collected_on_the_js_reader_is_disputed_once_captured() {
    let sim = start().await;
    let tss = session(&sim).await;
    let pi = sim.intent(&[]).await;
    let secret = pi["client_secret"].clone();
    let collected = call(
        &sim,
        "collect",
        json!({"session": tss, "client_secret": secret, "card_number": "4000000000002685"}),
    )
    .await
    .ok();
    assert_eq!(collected["payment_method"]["card_present"]["last4"], "2685");
    call(
        &sim,
        "process",
        json!({"session": tss, "client_secret": secret}),
    )
    .await
    .ok();
    let disputes = sim
        .get("/v1/disputes", &[("payment_intent", id(&pi))])
        .await
        .ok();
    assert_eq!(disputes["data"], json!([]), "not before capture");
    sim.post(&format!("/v1/payment_intents/{}/capture", id(&pi)), &[])
        .await
        .ok();
    let disputes = sim
        .get("/v1/disputes", &[("payment_intent", id(&pi))])
        .await
        .ok();
    assert_eq!(disputes["data"][0]["reason"], "product_not_received");
    assert_eq!(disputes["data"][0]["status"], "needs_response");
}
