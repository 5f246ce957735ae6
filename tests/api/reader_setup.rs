//! Saving a card on the reader without a sale (issue 19, part 1): `POST /v1/customer/card/reader`
//! server-driven on a smart reader and through the tablet's SDK (the simulated JS terminal), the
//! card saved once per fingerprint, declines, an offline or busy reader, cancel, webhooks before
//! and after our answers (and twice), Idempotency-Key replay, other accounts' ids, bad input.

use crate::both_backends;
use crate::support::app::{eventually, MerchantEndpoint, TestApp, STRIPE_WEBHOOK_SECRET};
use crate::support::wait::until_some;
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";
const DECLINED: &str = "4000000000000002";

/// A merchant `acme` with a reader registered through our API: (token, reader id).
async fn till(app: &TestApp) -> (String, String) {
    let token = app.merchant("acme", "usd").await;
    let reader = register(app, &token, "acme").await;
    (token, reader)
}

async fn register(app: &TestApp, token: &str, account: &str) -> String {
    let (status, reader) = app
        .post(
            "/v1/terminal/readers",
            token,
            json!({"external_account_id": account, "registration_code": "simulated-wpe"}),
        )
        .await;
    assert_eq!(status, 200, "{reader}");
    reader["id"].as_str().unwrap().to_string()
}

/// `POST /v1/customer/card/reader` for `customer`, on `reader` when given.
async fn start(app: &TestApp, token: &str, customer: &str, reader: Option<&str>) -> (u16, Value) {
    let mut body = json!({"external_account_id": "acme", "external_customer_id": customer});
    if let Some(r) = reader {
        body["reader_id"] = json!(r);
    }
    app.post("/v1/customer/card/reader", token, body).await
}

async fn started(app: &TestApp, token: &str, customer: &str, reader: Option<&str>) -> Value {
    let (status, setup) = start(app, token, customer, reader).await;
    assert_eq!(status, 200, "{setup}");
    assert_eq!(setup["status"], "in_progress", "{setup}");
    setup
}

async fn get(app: &TestApp, token: &str, setup: &Value) -> (u16, Value) {
    let id = setup["id"].as_str().unwrap();
    app.get(
        &format!("/v1/customer/card/reader/{id}?external_account_id=acme"),
        token,
    )
    .await
}

async fn cancel(app: &TestApp, token: &str, setup: &Value) -> (u16, Value) {
    let id = setup["id"].as_str().unwrap();
    app.post(
        &format!("/v1/customer/card/reader/{id}/cancel"),
        token,
        json!({"external_account_id": "acme"}),
    )
    .await
}

/// The customer presents `card` on the reader (Stripe's test helper).
async fn present(app: &TestApp, reader: &str, card: &str) -> Value {
    let (status, reader) = app
        .sim_post(
            &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
            &[("card_present[number]", card)],
        )
        .await;
    assert_eq!(status, 200, "{reader}");
    reader
}

async fn cards(app: &TestApp, token: &str, customer: &str) -> Vec<Value> {
    let (status, cards) = app
        .get(
            &format!("/v1/customer/cards?external_account_id=acme&external_customer_id={customer}"),
            token,
        )
        .await;
    assert_eq!(status, 200, "{cards}");
    cards["data"].as_array().unwrap().clone()
}

/// Waits until the setup reads `status` (our GET refreshes it from Stripe).
async fn until_status(app: &TestApp, token: &str, setup: &Value, status: &str) -> Value {
    until_some(10, &format!("the setup is {status}"), || {
        let fetched = get(app, token, setup);
        async move {
            let (code, body) = fetched.await;
            assert_eq!(code, 200, "{body}");
            (body["status"] == status).then_some(body)
        }
    })
    .await
}

/// Delivers a Stripe event of `event_type` about `object`, signed with the platform's secret.
async fn deliver(app: &TestApp, id: &str, event_type: &str, object: &Value) -> (u16, Value) {
    let body = json!({"id": id, "object": "event", "type": event_type,
        "created": chrono::Utc::now().timestamp(), "livemode": false, "pending_webhooks": 1,
        "api_version": "2026-11-18.endive", "data": {"object": object}})
    .to_string();
    let signature = stripe_client::webhook::sign(
        STRIPE_WEBHOOK_SECRET,
        chrono::Utc::now().timestamp(),
        body.as_bytes(),
    );
    let response = app
        .exchange(
            app.client
                .post(app.url("/v1/webhooks/stripe"))
                .header("Stripe-Signature", signature)
                .body(body),
        )
        .await;
    (response.status, response.json())
}

/// How many merchant webhooks of `event_type` the endpoint got.
fn received(hook: &MerchantEndpoint, event_type: &str) -> usize {
    let needle = format!("\"type\":\"{event_type}\"");
    hook.received
        .lock()
        .unwrap()
        .iter()
        .filter(|d| d.body.contains(&needle))
        .count()
}

/// How many Stripe calls of `method` went to a path ending with `suffix`.
async fn calls(app: &TestApp, method: &str, suffix: &str) -> usize {
    app.stripe_calls()
        .await
        .iter()
        .filter(|(m, p)| m == method && p.ends_with(suffix))
        .count()
}

/// Opens a simulated JS terminal session (as terminal-js's simulated SDK does).
async fn sdk_session(app: &TestApp, token: &str) -> String {
    let (status, secret) = app
        .post(
            "/v1/terminal/connection_token",
            token,
            json!({"external_account_id": "acme"}),
        )
        .await;
    assert_eq!(status, 200, "{secret}");
    let (status, session) = sim_json(
        app,
        "/_sim/terminal/sessions",
        json!({"connection_token": secret["secret"]}),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    session["session"].as_str().unwrap().to_string()
}

async fn sim_json(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.sim_url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

both_backends! {
    async fn a_card_is_saved_on_the_reader_without_a_sale(app) {
        let hook = MerchantEndpoint::start(0);
        let (token, reader) = till(&app).await;
        app.put_account("acme", json!({"webhook_url": hook.url})).await;
        let setup = started(&app, &token, "member-1", Some(&reader)).await;
        assert_eq!(setup["reader_id"], reader.as_str());
        assert_eq!(setup["client_secret"], Value::Null, "server-driven: no secret");
        assert_eq!(setup["allow_redisplay"], "limited", "the default consent");
        assert_eq!(setup["card"], Value::Null);
        // Stripe got a card_present SetupIntent for the customer, and the reader has it.
        let seti = setup["setup_intent_id"].as_str().unwrap();
        let intent = app.sim_get(&format!("/v1/setup_intents/{seti}")).await;
        assert_eq!(intent["payment_method_types"], json!(["card_present"]));
        assert_eq!(intent["customer"], setup["customer_id"]);
        let at_reader = app.sim_get(&format!("/v1/terminal/readers/{reader}")).await;
        assert_eq!(at_reader["action"]["type"], "process_setup_intent");
        assert_eq!(at_reader["action"]["process_setup_intent"]["setup_intent"], seti);
        let log = app.stripe_requests().await;
        let handed = log.iter().rfind(|r| r["path"].as_str().unwrap().ends_with("/process_setup_intent")).unwrap();
        let params: Vec<String> = serde_json::from_value(handed["params"].clone()).unwrap();
        assert!(params.contains(&"allow_redisplay".to_string()), "{params:?}");

        let done = present(&app, &reader, VISA).await;
        assert_eq!(done["action"]["status"], "succeeded", "{done}");
        let saved = until_status(&app, &token, &setup, "succeeded").await;
        let card = &saved["card"];
        assert_eq!(card["last4"], "4242", "{saved}");
        assert_eq!(card["external_customer_id"], "member-1");
        assert_eq!(card["chargeable"], true);
        // The generated card, attached to the customer with the consent given.
        let pm = app.sim_get(&format!("/v1/payment_methods/{}", card["payment_method_id"].as_str().unwrap())).await;
        assert_eq!(pm["type"], "card");
        assert_eq!(pm["customer"], saved["customer_id"]);
        assert_eq!(pm["allow_redisplay"], "limited");
        let listed = cards(&app, &token, "member-1").await;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["id"], card["id"]);
        // Charged later without the customer present.
        let (status, charged) = app.post("/v1/payment/charge", &token, json!({
            "external_account_id": "acme", "external_transaction_id": "setup-charge-1",
            "external_customer_id": "member-1", "card_id": card["id"], "amount": "25.00",
        })).await;
        assert_eq!(status, 200, "{charged}");
        app.settle().await;
        assert_eq!(received(&hook, "card.saved"), 1);
        assert_eq!(received(&hook, "card_setup.failed"), 0);
    }

    async fn the_sdk_saves_a_card_with_the_client_secret(app) {
        let token = app.merchant("acme", "usd").await;
        let (status, setup) = app.post("/v1/customer/card/reader", &token, json!({
            "external_account_id": "acme", "external_customer_id": "guest-7",
            "allow_redisplay": "always",
        })).await;
        assert_eq!(status, 200, "{setup}");
        assert_eq!(setup["reader_id"], Value::Null);
        let secret = setup["client_secret"].as_str().expect("a client secret for the SDK");
        assert!(secret.starts_with(setup["setup_intent_id"].as_str().unwrap()));
        // The GET never shows the secret again.
        let (_, read) = get(&app, &token, &setup).await;
        assert_eq!(read["client_secret"], Value::Null);
        assert_eq!(read["status"], "in_progress");

        let session = sdk_session(&app, &token).await;
        let (status, collected) = sim_json(&app, "/_sim/terminal/setup/collect",
            json!({"session": session, "client_secret": secret, "allow_redisplay": "always"})).await;
        assert_eq!(status, 200, "{collected}");
        assert_eq!(collected["status"], "requires_confirmation");
        assert_eq!(collected["payment_method"]["type"], "card_present");
        let (status, confirmed) = sim_json(&app, "/_sim/terminal/setup/confirm",
            json!({"session": session, "client_secret": secret})).await;
        assert_eq!(status, 200, "{confirmed}");
        assert_eq!(confirmed["status"], "succeeded");
        let generated = confirmed["latest_attempt"]["payment_method_details"]["card_present"]["generated_card"].clone();
        let saved = until_status(&app, &token, &setup, "succeeded").await;
        assert_eq!(saved["card"]["payment_method_id"], generated);
        let pm = app.sim_get(&format!("/v1/payment_methods/{}", generated.as_str().unwrap())).await;
        assert_eq!(pm["allow_redisplay"], "always");
        assert_eq!(cards(&app, &token, "guest-7").await.len(), 1);
    }

    async fn the_same_card_twice_is_saved_once(app) {
        let hook = MerchantEndpoint::start(0);
        let (token, reader) = till(&app).await;
        app.put_account("acme", json!({"webhook_url": hook.url})).await;
        let first = started(&app, &token, "member-2", Some(&reader)).await;
        present(&app, &reader, VISA).await;
        let first = until_status(&app, &token, &first, "succeeded").await;
        let second = started(&app, &token, "member-2", Some(&reader)).await;
        present(&app, &reader, VISA).await;
        let second = until_status(&app, &token, &second, "succeeded").await;
        // Stripe generated two PaymentMethods; the customer has the one card.
        assert_eq!(second["card"]["id"], first["card"]["id"], "{second}");
        assert_eq!(cards(&app, &token, "member-2").await.len(), 1);
        // A card saved after a payment is the same card too.
        let (status, intent) = app.post("/v1/payment/intent", &token, json!({
            "external_account_id": "acme", "amount": "5.00", "payment_method_types": "card_present",
            "external_transaction_id": "setup-dup-sale", "external_customer_id": "member-2",
        })).await;
        assert_eq!(status, 200, "{intent}");
        let pi = intent["id"].as_str().unwrap();
        let (status, _) = app.tap_card(&reader, pi, VISA).await;
        assert_eq!(status, 200);
        let (status, captured) = app.post("/v1/payment/capture", &token, json!({
            "external_account_id": "acme", "payment_id": pi,
        })).await;
        assert_eq!(status, 200, "{captured}");
        let (status, from_sale) = app.post("/v1/customer/card", &token, json!({
            "external_account_id": "acme", "payment_id": pi, "external_customer_id": "member-2",
        })).await;
        assert_eq!(status, 200, "{from_sale}");
        assert_eq!(from_sale["id"], first["card"]["id"]);
        app.settle().await;
        assert_eq!(received(&hook, "card.saved"), 1, "card.saved once");
    }

    async fn a_declined_card_fails_the_setup_with_stripes_decline_code(app) {
        let hook = MerchantEndpoint::start(0);
        let (token, reader) = till(&app).await;
        app.put_account("acme", json!({"webhook_url": hook.url})).await;
        let setup = started(&app, &token, "member-3", Some(&reader)).await;
        let failed_action = present(&app, &reader, DECLINED).await;
        assert_eq!(failed_action["action"]["status"], "failed");
        assert_eq!(failed_action["action"]["failure_code"], "card_declined");
        let failed = until_status(&app, &token, &setup, "failed").await;
        assert_eq!(failed["failure"]["code"], "card_declined", "{failed}");
        assert_eq!(failed["failure"]["decline_code"], "generic_decline");
        assert!(failed["failure"]["message"].is_string());
        assert_eq!(failed["card"], Value::Null);
        assert!(cards(&app, &token, "member-3").await.is_empty());
        // Stripe's events again (a retry) announce nothing more.
        let seti = setup["setup_intent_id"].as_str().unwrap();
        let intent = app.sim_get(&format!("/v1/setup_intents/{seti}")).await;
        for _ in 0..2 {
            let (status, _) = deliver(&app, "evt_setup_failed_again", "setup_intent.setup_failed", &intent).await;
            assert_eq!(status, 200);
        }
        app.settle().await;
        assert_eq!(received(&hook, "card_setup.failed"), 1, "card_setup.failed once");
        assert_eq!(received(&hook, "card.saved"), 0);
        let body = hook.received.lock().unwrap().iter()
            .find(|d| d.body.contains("\"card_setup.failed\""))
            .map(|d| serde_json::from_str::<Value>(&d.body).unwrap())
            .unwrap();
        let object = &body["data"]["object"];
        assert_eq!(object["id"], setup["id"]);
        assert_eq!(object["status"], "failed");
        assert_eq!(object["external_customer_id"], "member-3");
        assert_eq!(object["decline_code"], "generic_decline");
        assert_eq!(object["setup_intent_id"], setup["setup_intent_id"]);
        // A new setup on the same reader with a good card works.
        let again = started(&app, &token, "member-3", Some(&reader)).await;
        present(&app, &reader, VISA).await;
        until_status(&app, &token, &again, "succeeded").await;
    }

    async fn an_offline_reader_is_409_and_leaves_no_setup_intent_open(app) {
        let hook = MerchantEndpoint::start(0);
        let (token, reader) = till(&app).await;
        app.put_account("acme", json!({"webhook_url": hook.url})).await;
        let (status, _) = sim_json(&app, &format!("/_sim/terminal/readers/{reader}/offline"), json!({})).await;
        assert_eq!(status, 200);
        let (status, error) = start(&app, &token, "member-4", Some(&reader)).await;
        assert_eq!(status, 409, "{error}");
        assert_eq!(error["error"]["code"], "reader_offline");
        // The SetupIntent made for it is canceled at Stripe.
        let canceled: Vec<String> = app.stripe_calls().await.into_iter()
            .filter(|(m, p)| m == "POST" && p.starts_with("/v1/setup_intents/") && p.ends_with("/cancel"))
            .map(|(_, p)| p)
            .collect();
        assert_eq!(canceled.len(), 1, "{canceled:?}");
        let seti = canceled[0].trim_end_matches("/cancel");
        let intent = app.sim_get(seti).await;
        assert_eq!(intent["status"], "canceled", "{intent}");
        app.settle().await;
        assert_eq!(received(&hook, "card_setup.failed"), 1);
    }

    async fn a_busy_reader_is_409(app) {
        let (token, reader) = till(&app).await;
        let first = started(&app, &token, "member-5", Some(&reader)).await;
        let (status, error) = start(&app, &token, "member-6", Some(&reader)).await;
        assert_eq!(status, 409, "{error}");
        assert_eq!(error["error"]["code"], "reader_busy");
        // The first is untouched and completes.
        present(&app, &reader, VISA).await;
        until_status(&app, &token, &first, "succeeded").await;
    }

    async fn cancel_stops_the_reader_and_the_setup_intent(app) {
        let (token, reader) = till(&app).await;
        let setup = started(&app, &token, "member-7", Some(&reader)).await;
        let (status, canceled) = cancel(&app, &token, &setup).await;
        assert_eq!(status, 200, "{canceled}");
        assert_eq!(canceled["status"], "canceled");
        let at_reader = app.sim_get(&format!("/v1/terminal/readers/{reader}")).await;
        assert_eq!(at_reader["action"], Value::Null, "the reader stopped");
        let seti = setup["setup_intent_id"].as_str().unwrap();
        let intent = app.sim_get(&format!("/v1/setup_intents/{seti}")).await;
        assert_eq!(intent["status"], "canceled");
        // Again: the same answer; a GET does not call Stripe any more.
        let (status, again) = cancel(&app, &token, &setup).await;
        assert_eq!((status, again["status"].as_str()), (200, Some("canceled")));
        app.clear_stripe_calls().await;
        let (_, read) = get(&app, &token, &setup).await;
        assert_eq!(read["status"], "canceled");
        assert_eq!(app.stripe_calls().await, vec![]);
        // The reader is free for the next customer; a saved card's setup cannot be canceled.
        let next = started(&app, &token, "member-7", Some(&reader)).await;
        present(&app, &reader, VISA).await;
        until_status(&app, &token, &next, "succeeded").await;
        let (status, refused) = cancel(&app, &token, &next).await;
        assert_eq!(status, 409, "{refused}");
        assert_eq!(refused["error"]["code"], "card_setup_not_cancelable");
    }

    async fn the_webhook_saves_the_card_before_anyone_asks(app) {
        let hook = MerchantEndpoint::start(0);
        let (token, reader) = till(&app).await;
        app.put_account("acme", json!({"webhook_url": hook.url})).await;
        let setup = started(&app, &token, "member-8", Some(&reader)).await;
        present(&app, &reader, VISA).await;
        eventually(10, "Stripe's webhooks save the card", || async {
            cards(&app, &token, "member-8").await.len() == 1
        })
        .await;
        app.settle_stripe_webhooks().await;
        app.clear_stripe_calls().await;
        let (status, read) = get(&app, &token, &setup).await;
        assert_eq!(status, 200, "{read}");
        assert_eq!(read["status"], "succeeded");
        assert_eq!(app.stripe_calls().await, vec![], "recorded by the webhook: no Stripe call");
        app.settle().await;
        assert_eq!(received(&hook, "card.saved"), 1);
    }

    async fn webhooks_after_our_answer_and_twice_change_nothing(app) {
        let hook = MerchantEndpoint::start(0);
        let (token, reader) = till(&app).await;
        app.put_account("acme", json!({"webhook_url": hook.url})).await;
        app.add_fault(json!({"path": "setup_intent.*", "drop_webhooks": true})).await;
        app.add_fault(json!({"path": "terminal.reader.*", "drop_webhooks": true})).await;
        let setup = started(&app, &token, "member-9", Some(&reader)).await;
        let action = present(&app, &reader, VISA).await;
        // No webhook came: the GET learns it from Stripe.
        let (status, read) = get(&app, &token, &setup).await;
        assert_eq!((status, read["status"].as_str()), (200, Some("succeeded")), "{read}");
        // Stripe's events arrive late, each twice.
        let seti = setup["setup_intent_id"].as_str().unwrap();
        let intent = app.sim_get(&format!("/v1/setup_intents/{seti}")).await;
        for _ in 0..2 {
            let (status, _) = deliver(&app, "evt_late_setup_succeeded", "setup_intent.succeeded", &intent).await;
            assert_eq!(status, 200);
            let (status, _) = deliver(&app, "evt_late_action_succeeded", "terminal.reader.action_succeeded", &action).await;
            assert_eq!(status, 200);
        }
        let listed = cards(&app, &token, "member-9").await;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["id"], read["card"]["id"]);
        app.settle().await;
        assert_eq!(received(&hook, "card.saved"), 1);
    }

    async fn the_reader_action_event_alone_records_the_outcome(app) {
        let (token, reader) = till(&app).await;
        app.add_fault(json!({"path": "setup_intent.*", "drop_webhooks": true})).await;
        let setup = started(&app, &token, "member-10", Some(&reader)).await;
        present(&app, &reader, DECLINED).await;
        // terminal.reader.action_failed alone (setup_intent.setup_failed was lost).
        eventually(10, "terminal.reader.action_failed records the decline", || async {
            let (_, read) = get(&app, &token, &setup).await;
            read["status"] == "failed"
        })
        .await;
        let (_, read) = get(&app, &token, &setup).await;
        assert_eq!(read["failure"]["decline_code"], "generic_decline", "{read}");
    }

    async fn an_idempotency_key_replays_the_answer(app) {
        let (token, reader) = till(&app).await;
        let body = json!({"external_account_id": "acme", "external_customer_id": "member-11", "reader_id": reader});
        let send = || app.exchange(
            app.client.post(app.url("/v1/customer/card/reader"))
                .bearer_auth(&token)
                .header("Idempotency-Key", "setup-key-1")
                .json(&body),
        );
        let first = send().await;
        assert_eq!(first.status, 200, "{}", first.text);
        let second = send().await;
        assert_eq!(second.status, 200, "{}", second.text);
        assert_eq!(first.json()["id"], second.json()["id"]);
        assert_eq!(calls(&app, "POST", "/v1/setup_intents").await, 1, "one SetupIntent");
        assert_eq!(calls(&app, "POST", "/process_setup_intent").await, 1);
    }

    async fn another_accounts_reader_customer_or_setup_is_404(app) {
        let (token, _) = till(&app).await;
        let other_token = app.merchant("other", "usd").await;
        let other_reader = register(&app, &other_token, "other").await;
        let (status, error) = start(&app, &token, "member-12", Some(&other_reader)).await;
        assert_eq!(status, 404, "{error}");
        assert_eq!(error["error"]["param"], "reader_id");
        let (status, error) = start(&app, &token, "member-12", Some("tmr_unknown")).await;
        assert_eq!(status, 404, "{error}");
        // Another account's setup (and its customer) is not found.
        let (status, theirs) = app.post("/v1/customer/card/reader", &other_token, json!({
            "external_account_id": "other", "external_customer_id": "member-12",
        })).await;
        assert_eq!(status, 200, "{theirs}");
        let (status, _) = get(&app, &token, &theirs).await;
        assert_eq!(status, 404);
        let (status, _) = cancel(&app, &token, &theirs).await;
        assert_eq!(status, 404);
        // A token for acme alone cannot act for other.
        let (status, _) = app.post("/v1/customer/card/reader", &token, json!({
            "external_account_id": "other", "external_customer_id": "member-12",
        })).await;
        assert!(status == 403 || status == 404, "{status}");
    }

    async fn bad_input_is_400_naming_the_field_without_a_stripe_call(app) {
        let (token, _) = till(&app).await;
        app.clear_stripe_calls().await;
        let cases = [
            (json!({"external_account_id": "acme"}), "external_customer_id"),
            (json!({"external_account_id": "acme", "external_customer_id": ""}), "external_customer_id"),
            (json!({"external_account_id": "acme", "external_customer_id": "m", "reader_id": "reader-1"}), "reader_id"),
            (json!({"external_account_id": "acme", "external_customer_id": "m", "allow_redisplay": "sometimes"}), "allow_redisplay"),
            (json!({"external_account_id": "acme", "external_customer_id": "m", "amount": "1.00"}), "amount"),
        ];
        for (body, field) in cases {
            let (status, error) = app.post("/v1/customer/card/reader", &token, body.clone()).await;
            assert_eq!(status, 400, "{body}: {error}");
            assert_eq!(error["error"]["param"], field, "{body}: {error}");
        }
        let (status, error) = app.get("/v1/customer/card/reader/not-a-uuid?external_account_id=acme", &token).await;
        assert_eq!(status, 400, "{error}");
        assert_eq!(error["error"]["param"], "setup_id");
        let (status, error) = app.post("/v1/customer/card/reader/not-a-uuid/cancel", &token, json!({"external_account_id": "acme"})).await;
        assert_eq!(status, 400, "{error}");
        assert_eq!(error["error"]["param"], "setup_id");
        let (status, _) = app.get("/v1/customer/card/reader/0190a0a0-0000-7000-8000-000000000000?external_account_id=acme", &token).await;
        assert_eq!(status, 404);
        assert_eq!(app.stripe_calls().await, vec![], "no Stripe call for bad input");
    }
}
