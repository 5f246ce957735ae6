//! Checkout Sessions (setup and payment mode), the hosted page, SetupIntents and 3-D Secure.

use crate::{id, start, Sim};
use reqwest::Method;
use serde_json::json;

async fn setup_session(sim: &Sim, customer: &str) -> serde_json::Value {
    sim.post(
        "/v1/checkout/sessions",
        &[
            ("mode", "setup"),
            ("customer", customer),
            ("currency", "usd"),
            (
                "success_url",
                "https://pos.example/saved?session={CHECKOUT_SESSION_ID}",
            ),
            ("cancel_url", "https://pos.example/cancel"),
            ("setup_intent_data[metadata][purpose]", "card-on-file"),
        ],
    )
    .await
    .ok()
}

#[tokio::test]
async fn setup_mode_saves_the_card_to_the_customer() {
    let sim = start().await;
    let customer = sim.customer("co-1").await;
    let session = setup_session(&sim, id(&customer)).await;
    assert_eq!(session["status"], "open");
    assert!(session["setup_intent"].is_null());
    let url = session["url"].as_str().unwrap();
    assert_eq!(url, format!("{}/_sim/checkout/{}", sim.base, id(&session)));
    let page = sim.http.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("4242424242424242") && html.contains("Save card"));
    let path = format!("/_sim/checkout/{}/complete", id(&session));
    let declined = sim
        .sim(
            Method::POST,
            &path,
            Some(json!({"card_number": "4000000000000002"})),
        )
        .await;
    assert_eq!(declined.status, 402);
    assert_eq!(
        declined.body["error"]["setup_intent"]["status"],
        "requires_payment_method"
    );
    let still_open = sim
        .get(&format!("/v1/checkout/sessions/{}", id(&session)), &[])
        .await
        .ok();
    assert_eq!(still_open["status"], "open");
    let done = sim
        .sim(
            Method::POST,
            &path,
            Some(json!({"card_number": "5555555555554444"})),
        )
        .await
        .ok();
    assert_eq!(done["status"], "complete");
    assert_eq!(done["payment_status"], "no_payment_required");
    let got = sim
        .get(
            &format!("/v1/checkout/sessions/{}", id(&session)),
            &[
                ("expand[]", "setup_intent"),
                ("expand[]", "setup_intent.payment_method"),
            ],
        )
        .await
        .ok();
    let si = &got["setup_intent"];
    assert_eq!(si["status"], "succeeded");
    assert_eq!(si["metadata"]["purpose"], "card-on-file");
    assert_eq!(si["payment_method"]["card"]["brand"], "mastercard");
    assert_eq!(si["payment_method"]["customer"], id(&customer));
    let saved = sim
        .get(
            &format!("/v1/customers/{}/payment_methods", id(&customer)),
            &[],
        )
        .await
        .ok();
    assert_eq!(saved["data"].as_array().unwrap().len(), 1);
    let again = sim.sim(Method::POST, &path, Some(json!({}))).await;
    assert_eq!(again.status, 400);
    let events = sim
        .get("/v1/events", &[("type", "checkout.session.completed")])
        .await
        .ok();
    assert_eq!(events["data"][0]["data"]["object"]["id"], id(&session));
}

#[tokio::test]
async fn the_hosted_form_redirects_to_the_success_url() {
    let sim = start().await;
    let customer = sim.customer("co-2").await;
    let session = setup_session(&sim, id(&customer)).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = no_redirects
        .post(format!(
            "{}/_sim/checkout/{}/complete",
            sim.base,
            id(&session)
        ))
        .form(&[("card_number", "4242424242424242")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(
        answer.headers()["Location"],
        format!("https://pos.example/saved?session={}", id(&session)).as_str()
    );
}

#[tokio::test]
async fn payment_mode_creates_the_payment_intent() {
    let sim = start().await;
    let customer = sim.customer("co-3").await;
    let session = sim
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("customer", id(&customer)),
                ("success_url", "https://pos.example/paid"),
                ("line_items[0][price_data][currency]", "usd"),
                ("line_items[0][price_data][unit_amount]", "1250"),
                (
                    "line_items[0][price_data][product_data][name]",
                    "Invoice 42",
                ),
                ("line_items[0][quantity]", "2"),
                ("payment_intent_data[metadata][reference]", "inv-42"),
                ("payment_intent_data[setup_future_usage]", "off_session"),
                ("metadata[reference]", "inv-42"),
            ],
        )
        .await
        .ok();
    assert_eq!(session["amount_total"], 2500);
    assert_eq!(session["payment_status"], "unpaid");
    let done = sim
        .sim(
            Method::POST,
            &format!("/_sim/checkout/{}/complete", id(&session)),
            Some(json!({"card_number": "4242424242424242"})),
        )
        .await
        .ok();
    assert_eq!(done["payment_status"], "paid");
    let pi_id = done["payment_intent"].as_str().unwrap();
    let pi = sim
        .get(&format!("/v1/payment_intents/{pi_id}"), &[])
        .await
        .ok();
    assert_eq!(pi["status"], "succeeded");
    assert_eq!(pi["amount"], 2500);
    assert_eq!(pi["metadata"]["reference"], "inv-42");
    let by_pi = sim
        .get("/v1/checkout/sessions", &[("payment_intent", pi_id)])
        .await
        .ok();
    assert_eq!(by_pi["data"][0]["id"], id(&session));
    let expanded = sim
        .get(
            &format!("/v1/checkout/sessions/{}", id(&session)),
            &[("expand[]", "payment_intent")],
        )
        .await
        .ok();
    assert_eq!(expanded["payment_intent"]["id"], pi_id);
    // The card was saved for later off-session charges.
    let saved = sim
        .get(
            &format!("/v1/customers/{}/payment_methods", id(&customer)),
            &[("type", "card")],
        )
        .await
        .ok();
    assert_eq!(saved["data"][0]["id"], pi["payment_method"]);
    let missing_items = sim
        .post(
            "/v1/checkout/sessions",
            &[("mode", "payment"), ("success_url", "https://x")],
        )
        .await;
    assert_eq!(missing_items.body["error"]["param"], "line_items");
}

#[tokio::test]
async fn expired_sessions_cannot_complete() {
    let sim = start().await;
    let customer = sim.customer("co-4").await;
    let session = setup_session(&sim, id(&customer)).await;
    let expired = sim
        .post(
            &format!("/v1/checkout/sessions/{}/expire", id(&session)),
            &[],
        )
        .await
        .ok();
    assert_eq!(expired["status"], "expired");
    assert!(expired["url"].is_null());
    let twice = sim
        .post(
            &format!("/v1/checkout/sessions/{}/expire", id(&session)),
            &[],
        )
        .await;
    assert_eq!(twice.status, 400);
    let late = sim
        .sim(
            Method::POST,
            &format!("/_sim/checkout/{}/complete", id(&session)),
            Some(json!({})),
        )
        .await;
    assert_eq!(late.status, 400);
    let hidden = sim
        .as_account("acct_other")
        .get(&format!("/v1/checkout/sessions/{}", id(&session)), &[])
        .await;
    assert_eq!(hidden.status, 404);
}

#[tokio::test]
async fn setup_intents_api() {
    let sim = start().await;
    let customer = sim.customer("si").await;
    let si = sim
        .post(
            "/v1/setup_intents",
            &[
                ("customer", id(&customer)),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
            ],
        )
        .await
        .ok();
    assert_eq!(si["status"], "succeeded");
    assert_eq!(si["usage"], "off_session");
    let pm = sim
        .get(
            &format!(
                "/v1/payment_methods/{}",
                si["payment_method"].as_str().unwrap()
            ),
            &[],
        )
        .await
        .ok();
    assert_eq!(pm["customer"], id(&customer));
    let open = sim
        .post("/v1/setup_intents", &[("customer", id(&customer))])
        .await
        .ok();
    assert_eq!(open["status"], "requires_payment_method");
    let declined = sim
        .post(
            &format!("/v1/setup_intents/{}/confirm", id(&open)),
            &[("payment_method", "pm_card_chargeDeclined")],
        )
        .await;
    assert_eq!(declined.status, 402);
    let confirmed = sim
        .post(
            &format!("/v1/setup_intents/{}/confirm", id(&open)),
            &[("payment_method", "pm_card_mastercard")],
        )
        .await
        .ok();
    assert_eq!(confirmed["status"], "succeeded");
    let got = sim
        .get(&format!("/v1/setup_intents/{}", id(&open)), &[])
        .await
        .ok();
    assert_eq!(got["status"], "succeeded");
}

#[tokio::test]
async fn three_d_secure_cards() {
    let sim = start().await;
    let customer = sim.customer("3ds").await;
    let pm = sim
        .post(
            "/v1/payment_methods/pm_card_authenticationRequired/attach",
            &[("customer", id(&customer))],
        )
        .await
        .ok();
    let form = |off: &'static str| {
        vec![
            ("amount", "2000"),
            ("currency", "usd"),
            ("customer", id(&customer)),
            ("payment_method", id(&pm)),
            ("confirm", "true"),
            ("off_session", off),
        ]
    };
    let off = sim.post("/v1/payment_intents", &form("true")).await;
    assert_eq!(off.status, 402);
    assert_eq!(off.body["error"]["code"], "authentication_required");
    let on = sim.post("/v1/payment_intents", &form("false")).await.ok();
    assert_eq!(on["status"], "requires_action");
    assert_eq!(on["next_action"]["type"], "redirect_to_url");
    let url = on["next_action"]["redirect_to_url"]["url"]
        .as_str()
        .unwrap();
    assert!(sim
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .contains("3-D Secure"));
    let events = sim
        .get("/v1/events", &[("type", "payment_intent.requires_action")])
        .await
        .ok();
    assert_eq!(events["data"].as_array().unwrap().len(), 1);
    let done = sim
        .sim(
            Method::POST,
            &format!("/_sim/authenticate/{}", id(&on)),
            Some(json!({"outcome": "succeed"})),
        )
        .await
        .ok();
    assert_eq!(done["status"], "succeeded");
    let charge = sim
        .get(
            &format!("/v1/charges/{}", done["latest_charge"].as_str().unwrap()),
            &[],
        )
        .await
        .ok();
    assert_eq!(
        charge["payment_method_details"]["card"]["three_d_secure"]["result"],
        "authenticated"
    );
    let failing = sim.post("/v1/payment_intents", &form("false")).await.ok();
    let failed = sim
        .sim(
            Method::POST,
            &format!("/_sim/authenticate/{}", id(&failing)),
            Some(json!({"outcome": "fail"})),
        )
        .await
        .ok();
    assert_eq!(failed["status"], "requires_payment_method");
    assert_eq!(
        failed["last_payment_error"]["code"],
        "payment_intent_authentication_failure"
    );
}

#[tokio::test]
async fn payment_mode_keeps_the_card_on_the_customer() {
    let sim = start().await;
    let customer = sim.customer("co-5").await;
    let session = sim
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("customer", id(&customer)),
                ("success_url", "https://pos.example/paid"),
                ("line_items[0][price_data][currency]", "eur"),
                ("line_items[0][price_data][unit_amount]", "700"),
                ("line_items[0][price_data][product_data][name]", "Ticket"),
                ("payment_intent_data[capture_method]", "manual"),
            ],
        )
        .await
        .ok();
    let path = format!("/_sim/checkout/{}/complete", id(&session));
    let declined = sim
        .sim(
            Method::POST,
            &path,
            Some(json!({"card_number": "4000000000009995"})),
        )
        .await;
    assert_eq!(declined.status, 402);
    let first_pi = declined.body["error"]["payment_intent"]["id"].clone();
    let none = sim
        .get(
            &format!("/v1/customers/{}/payment_methods", id(&customer)),
            &[],
        )
        .await
        .ok();
    assert!(
        none["data"].as_array().unwrap().is_empty(),
        "declined cards are not kept"
    );
    let done = sim.sim(Method::POST, &path, Some(json!({}))).await.ok();
    assert_eq!(
        done["payment_intent"], first_pi,
        "the retry reuses the session's intent"
    );
    assert_eq!(
        done["payment_status"], "unpaid",
        "authorized, not captured yet"
    );
    let pi = sim
        .get(
            &format!(
                "/v1/payment_intents/{}",
                done["payment_intent"].as_str().unwrap()
            ),
            &[],
        )
        .await
        .ok();
    assert_eq!(pi["status"], "requires_capture");
    let kept = sim
        .get(
            &format!("/v1/customers/{}/payment_methods", id(&customer)),
            &[],
        )
        .await
        .ok();
    assert_eq!(kept["data"][0]["id"], pi["payment_method"]);
    assert_eq!(kept["data"][0]["allow_redisplay"], "limited");
}
