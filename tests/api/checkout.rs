//! Checkout (issue 9): saving a card through a setup-mode Checkout Session, and checkout for a
//! reference through a payment-mode session, against the simulator's hosted Checkout.

use crate::both_backends;
use crate::support::app::{TestApp, STRIPE_WEBHOOK_SECRET};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";
const MASTERCARD: &str = "5555555555554444";

fn setup_body(account: &str, customer: &str) -> Value {
    json!({
        "external_account_id": account,
        "external_customer_id": customer,
        "success_url": "https://shop.example/card-saved",
        "cancel_url": "https://shop.example/account",
    })
}

fn checkout_body(reference: &str) -> Value {
    json!({
        "external_account_id": "acme",
        "reference": reference,
        "items": [
            {"name": "Double room, 2 nights", "amount": "100.00", "quantity": 2},
            {"name": "Breakfast", "amount": 15.5, "quantity": 1},
        ],
        "success_url": "https://hotel.example/booked?ref=42",
        "cancel_url": "https://hotel.example/basket",
    })
}

/// A customer completing the session on the simulator's hosted page.
async fn complete(app: &TestApp, session: &str, card: &str) -> (u16, Value) {
    let response = app
        .client
        .post(app.sim_url(&format!("/_sim/checkout/{session}/complete")))
        .json(&json!({"card_number": card}))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Creates a setup session for `customer` and returns its id.
async fn setup_session(app: &TestApp, token: &str, customer: &str) -> String {
    let (status, session) = app
        .post(
            "/v1/customer/card/checkout",
            token,
            setup_body("acme", customer),
        )
        .await;
    assert_eq!(status, 200, "{session}");
    session["session_id"].as_str().unwrap().to_string()
}

async fn saved_card(app: &TestApp, token: &str, session: &str) -> (u16, Value) {
    app.get(
        &format!("/v1/customer/card/checkout/{session}?external_account_id=acme"),
        token,
    )
    .await
}

/// Delivers `checkout.session.completed` for `session` (as Stripe has it) signed with `secret`.
async fn session_completed(
    app: &TestApp,
    event_id: &str,
    session: &Value,
    secret: &str,
) -> (u16, Value) {
    let body = json!({"id": event_id, "object": "event", "type": "checkout.session.completed",
        "created": chrono::Utc::now().timestamp(), "livemode": false, "pending_webhooks": 1,
        "data": {"object": session}})
    .to_string();
    let signature =
        stripe_client::webhook::sign(secret, chrono::Utc::now().timestamp(), body.as_bytes());
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

both_backends! {
    async fn the_webhook_completes_a_setup_session_once(app) {
        let hook = crate::support::app::MerchantEndpoint::start(0);
        let token = app.merchant("acme", "usd").await;
        app.put_account("acme", json!({"webhook_url": hook.url})).await;
        let id = setup_session(&app, &token, "cust-wh").await;
        let (status, done) = complete(&app, &id, VISA).await;
        assert_eq!(status, 200, "{done}");
        // Webhook first: the card appears without anyone asking.
        crate::support::app::eventually(10, "the webhook saves the card", || async {
            let (_, cards) = app.get("/v1/customer/cards?external_account_id=acme&external_customer_id=cust-wh", &token).await;
            cards["data"].as_array().unwrap().len() == 1
        })
        .await;
        app.clear_stripe_calls().await;
        let (status, card) = saved_card(&app, &token, &id).await;
        assert_eq!(status, 200, "{card}");
        assert_eq!(app.stripe_calls().await, vec![], "already saved by the webhook: no Stripe call");
        // The same event again (Stripe retries) changes nothing.
        let session = app.sim_get(&format!("/v1/checkout/sessions/{id}")).await;
        let (status, _) = session_completed(&app, "evt_checkout_again", &session, STRIPE_WEBHOOK_SECRET).await;
        assert_eq!(status, 200);
        let (_, cards) = app.get("/v1/customer/cards?external_account_id=acme&external_customer_id=cust-wh", &token).await;
        assert_eq!(cards["data"].as_array().unwrap().len(), 1);
        assert_eq!(cards["data"][0]["id"], card["id"]);
        // Everything the simulator and we owe is sent: a second card.saved could not come later.
        app.settle().await;
        let saved_events = hook.received.lock().unwrap().iter().filter(|d| d.body.contains("\"card.saved\"")).count();
        assert_eq!(saved_events, 1, "card.saved once");
    }

    async fn setup_intent_succeeded_alone_saves_the_card(app) {
        let token = app.merchant("acme", "usd").await;
        app.add_fault(json!({"path": "checkout.session.*", "drop_webhooks": true})).await;
        let id = setup_session(&app, &token, "cust-si").await;
        let (status, done) = complete(&app, &id, VISA).await;
        assert_eq!(status, 200, "{done}");
        crate::support::app::eventually(10, "setup_intent.succeeded saves the card", || async {
            let (_, cards) = app.get("/v1/customer/cards?external_account_id=acme&external_customer_id=cust-si", &token).await;
            cards["data"].as_array().unwrap().len() == 1
        })
        .await;
        app.clear_stripe_calls().await;
        let (status, card) = saved_card(&app, &token, &id).await;
        assert_eq!(status, 200, "{card}");
        assert_eq!(card["last4"], "4242");
        assert_eq!(app.stripe_calls().await, vec![], "the session is recorded as complete: no Stripe call");
    }

    async fn a_completion_that_failed_is_done_when_stripe_retries(app) {
        let token = app.merchant("acme", "usd").await;
        app.add_fault(json!({"path": "checkout.session.*", "drop_webhooks": true})).await;
        app.add_fault(json!({"path": "setup_intent.*", "drop_webhooks": true})).await;
        let id = setup_session(&app, &token, "cust-retry").await;
        let (status, done) = complete(&app, &id, VISA).await;
        assert_eq!(status, 200, "{done}");
        let session = app.sim_get(&format!("/v1/checkout/sessions/{id}")).await;
        let deliver = || session_completed(&app, "evt_completed_retried", &session, STRIPE_WEBHOOK_SECRET);
        let cards = || async {
            let (_, cards) = app.get("/v1/customer/cards?external_account_id=acme&external_customer_id=cust-retry", &token).await;
            cards["data"].as_array().unwrap().len()
        };
        // Stripe is down while we read the session (each of our client's three attempts fails).
        app.add_fault(json!({"method": "GET", "path": "/v1/checkout/sessions/", "error_rate": 1.0, "error_status": 503, "times": 3})).await;
        let (status, error) = deliver().await;
        assert!(status >= 500, "Stripe must retry: {status} {error}");
        assert_eq!(cards().await, 0);
        // Stripe's retry of the same event: not a duplicate, it completes the session now.
        let (status, retried) = deliver().await;
        assert_eq!((status, retried["duplicate"].as_bool()), (200, Some(false)), "{retried}");
        assert_eq!(cards().await, 1);
        let (status, again) = deliver().await;
        assert_eq!((status, again["duplicate"].as_bool()), (200, Some(true)), "{again}");
    }

    async fn another_merchants_secret_cannot_complete_a_session(app) {
        const EVIL_SECRET: &str = "whsec_evilOwnEndpointSecret";
        let token = app.merchant("acme", "usd").await;
        app.merchant("evil", "usd").await;
        app.put_account("evil", json!({"stripe_webhook_secret": EVIL_SECRET})).await;
        app.add_fault(json!({"path": "checkout.session.*", "drop_webhooks": true})).await;
        app.add_fault(json!({"path": "setup_intent.*", "drop_webhooks": true})).await;
        let id = setup_session(&app, &token, "cust-forged").await;
        let (status, _) = complete(&app, &id, VISA).await;
        assert_eq!(status, 200);
        let mut session = app.sim_get(&format!("/v1/checkout/sessions/{id}")).await;
        session["metadata"]["external_account_id"] = json!("evil");
        app.clear_stripe_calls().await;
        let (status, _) = session_completed(&app, "evt_forged_session", &session, EVIL_SECRET).await;
        assert_eq!(status, 200, "authentic for evil");
        assert_eq!(app.stripe_calls().await, vec![], "acme's session is not even read");
        let (_, cards) = app.get("/v1/customer/cards?external_account_id=acme&external_customer_id=cust-forged", &token).await;
        assert_eq!(cards["data"], json!([]));
    }

    async fn setup_session_saves_a_chargeable_card(app) {
        let token = app.merchant("acme", "usd").await;
        let (status, created) = app
            .post("/v1/customer/card/checkout", &token, setup_body("acme", "cust-1"))
            .await;
        assert_eq!(status, 200, "{created}");
        let id = created["session_id"].as_str().unwrap();
        assert!(id.starts_with("cs_"), "{created}");
        assert_eq!(created["url"], app.sim_url(&format!("/_sim/checkout/{id}")));
        assert_eq!(created["status"], "open");
        assert_eq!(created["external_customer_id"], "cust-1");
        let customer_id = created["customer_id"].as_str().unwrap();
        assert!(customer_id.starts_with("cus_"));

        // At Stripe: setup mode for the customer, cards, the session id in the success URL.
        let at_stripe = app.sim_get(&format!("/v1/checkout/sessions/{id}")).await;
        assert_eq!(at_stripe["mode"], "setup");
        assert_eq!(at_stripe["customer"], customer_id);
        assert_eq!(at_stripe["success_url"], "https://shop.example/card-saved?session_id={CHECKOUT_SESSION_ID}");
        assert_eq!(at_stripe["cancel_url"], "https://shop.example/account");
        assert_eq!(at_stripe["metadata"]["external_customer_id"], "cust-1");
        assert_eq!(at_stripe["metadata"]["external_account_id"], "acme");

        let (status, error) = saved_card(&app, &token, id).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("checkout_not_complete")), "{error}");

        // This test takes the synchronous path: Stripe's checkout.session.completed and
        // setup_intent.succeeded are held back.
        app.add_fault(json!({"path": "checkout.session.*", "drop_webhooks": true})).await;
        app.add_fault(json!({"path": "setup_intent.*", "drop_webhooks": true})).await;
        let (status, done) = complete(&app, id, VISA).await;
        assert_eq!(status, 200, "{done}");

        app.clear_stripe_calls().await;
        let (status, card) = saved_card(&app, &token, id).await;
        assert_eq!(status, 200, "{card}");
        assert_eq!(
            app.stripe_calls().await,
            vec![("GET".into(), format!("/v1/checkout/sessions/{id}"))],
            "one Stripe call: the session with its SetupIntent and card expanded"
        );
        assert_eq!(card["brand"], "visa");
        assert_eq!(card["last4"], "4242");
        assert_eq!(card["customer_id"], customer_id);
        assert_eq!(card["external_customer_id"], "cust-1");
        let pm = card["payment_method_id"].as_str().unwrap();
        let method = app.sim_get(&format!("/v1/payment_methods/{pm}")).await;
        assert_eq!(method["customer"], customer_id, "the card is on the customer at Stripe");

        // Completing again (the GET here; the webhook takes the same path) changes nothing.
        app.clear_stripe_calls().await;
        let (status, again) = saved_card(&app, &token, id).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again, card);
        assert_eq!(app.stripe_calls().await, vec![], "no further Stripe call once saved");
        let (_, cards) = app
            .get("/v1/customer/cards?external_account_id=acme&external_customer_id=cust-1", &token)
            .await;
        assert_eq!(cards["data"].as_array().unwrap().len(), 1, "{cards}");
        assert_eq!(cards["data"][0]["id"], card["id"]);

        // The card can be charged off-session.
        let (status, charge) = app
            .post("/v1/payment/charge", &token, json!({
                "external_account_id": "acme", "external_customer_id": "cust-1",
                "card_id": card["id"], "amount": "25.50", "external_transaction_id": "renewal-1",
            }))
            .await;
        assert_eq!(status, 200, "{charge}");
        assert_eq!(charge["status"], "succeeded");
        let pi = app.sim_get(&format!("/v1/payment_intents/{}", charge["id"].as_str().unwrap())).await;
        assert_eq!(pi["payment_method"], pm);
        assert_eq!(pi["customer"], customer_id);
    }

    async fn the_same_card_through_two_sessions_is_saved_once(app) {
        let token = app.merchant("acme", "usd").await;
        let first = setup_session(&app, &token, "cust-2").await;
        let second = setup_session(&app, &token, "cust-2").await;
        assert_ne!(first, second);
        complete(&app, &first, MASTERCARD).await;
        complete(&app, &second, MASTERCARD).await;
        let (_, a) = saved_card(&app, &token, &first).await;
        let (status, b) = saved_card(&app, &token, &second).await;
        assert_eq!(status, 200, "{b}");
        assert_eq!(a["id"], b["id"], "same fingerprint, same customer: one card");
        assert_eq!(b["brand"], "mastercard");
        let (_, cards) = app
            .get("/v1/customer/cards?external_account_id=acme&external_customer_id=cust-2", &token)
            .await;
        assert_eq!(cards["data"].as_array().unwrap().len(), 1, "{cards}");
    }

    async fn setup_session_options(app) {
        let token = app.merchant("acme", "usd").await;
        let mut body = setup_body("acme", "cust-3");
        body["currency"] = json!("EUR");
        body["success_url"] = json!("https://shop.example/done?x=1#top");
        let (status, created) = app.post("/v1/customer/card/checkout", &token, body).await;
        assert_eq!(status, 200, "{created}");
        let at_stripe = app.sim_get(&format!("/v1/checkout/sessions/{}", created["session_id"].as_str().unwrap())).await;
        assert_eq!(at_stripe["currency"], "eur");
        assert_eq!(at_stripe["success_url"], "https://shop.example/done?x=1&session_id={CHECKOUT_SESSION_ID}#top");

        let mut body = setup_body("acme", "cust-3");
        body["success_url"] = json!("https://shop.example/done/{CHECKOUT_SESSION_ID}");
        let (status, created) = app.post("/v1/customer/card/checkout", &token, body).await;
        assert_eq!(status, 200, "{created}");
        let at_stripe = app.sim_get(&format!("/v1/checkout/sessions/{}", created["session_id"].as_str().unwrap())).await;
        assert_eq!(at_stripe["success_url"], "https://shop.example/done/{CHECKOUT_SESSION_ID}", "kept as given");

        app.clear_stripe_calls().await;
        let cases = [
            ("success_url", json!("ftp://shop.example/x")),
            ("success_url", json!("/relative")),
            ("success_url", json!("https://")),
            ("cancel_url", json!("not a url")),
            ("cancel_url", json!(format!("https://shop.example/{}", "a".repeat(2100)))),
            ("currency", json!("xyz")),
            ("external_customer_id", json!("")),
            ("success_url", json!(null)),
            ("colour", json!("blue")),
        ];
        for (field, value) in cases {
            let mut body = setup_body("acme", "cust-3");
            body[field] = value.clone();
            let (status, error) = app.post("/v1/customer/card/checkout", &token, body).await;
            assert_eq!((status, error["error"]["param"].as_str()), (400, Some(field)), "{field}={value}: {error}");
        }
        assert_eq!(app.stripe_calls().await, vec![], "no invalid request reached Stripe");
    }

    async fn expired_and_foreign_setup_sessions(app) {
        let token = app.merchant("acme", "usd").await;
        let id = setup_session(&app, &token, "cust-4").await;
        let (status, expired) = app.sim_post(&format!("/v1/checkout/sessions/{id}/expire"), &[]).await;
        assert_eq!(status, 200, "{expired}");
        let (status, error) = saved_card(&app, &token, &id).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("checkout_expired")), "{error}");
        app.clear_stripe_calls().await;
        let (status, _) = saved_card(&app, &token, &id).await;
        assert_eq!(status, 409);
        assert_eq!(app.stripe_calls().await, vec![], "an expired session is final: no Stripe call");
        let (status, refused) = complete(&app, &id, VISA).await;
        assert_eq!(status, 400, "{refused}");

        // Another merchant cannot see it (404), nor use acme with its own token (403).
        let other = app.merchant("other", "usd").await;
        let (status, error) = app
            .get(&format!("/v1/customer/card/checkout/{id}?external_account_id=other"), &other)
            .await;
        assert_eq!((status, error["error"]["code"].as_str()), (404, Some("resource_missing")), "{error}");
        let (status, _) = saved_card(&app, &other, &id).await;
        assert_eq!(status, 403);
        // Nor is a payment-mode session, or an unknown one, a setup session.
        let (status, _) = saved_card(&app, &token, "cs_test_unknown").await;
        assert_eq!(status, 404);
        let (status, error) = saved_card(&app, &token, "pi_123").await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("session_id")), "{error}");
        let (status, pay) = app.post("/v1/checkout", &token, checkout_body("order-9")).await;
        assert_eq!(status, 200, "{pay}");
        let (status, _) = saved_card(&app, &token, pay["session_id"].as_str().unwrap()).await;
        assert_eq!(status, 404);
        // Scopes: saving needs cards:write, reading cards:read.
        let read_only = app.token(&["acme"], "cards:read payments:write");
        let (status, _) = app.post("/v1/customer/card/checkout", &read_only, setup_body("acme", "c")).await;
        assert_eq!(status, 403);
    }

    async fn a_paid_session_is_recorded_by_the_webhook_alone(app) {
        let hook = crate::support::app::MerchantEndpoint::start(0);
        let token = app.merchant("acme", "usd").await;
        app.put_account("acme", json!({"webhook_url": hook.url})).await;
        let (status, created) = app.post("/v1/checkout", &token, checkout_body("booking-wh")).await;
        assert_eq!(status, 200, "{created}");
        let id = created["session_id"].as_str().unwrap();
        let (status, paid) = complete(&app, id, VISA).await;
        assert_eq!(status, 200, "{paid}");
        // Nobody asks about the session: checkout.session.completed records the payment.
        crate::support::app::eventually(10, "the payment is listed", || async {
            let (_, list) = app.get("/v1/payments?external_account_id=acme", &token).await;
            list["data"].as_array().unwrap().len() == 1
        })
        .await;
        let (_, list) = app.get("/v1/payments?external_account_id=acme", &token).await;
        assert_eq!(list["data"][0]["status"], "succeeded");
        assert_eq!(list["data"][0]["amount_captured"], "215.50");
        assert_eq!(list["data"][0]["external_transaction_id"], format!("checkout:booking-wh:{id}"));
        app.clear_stripe_calls().await;
        let (status, done) = app.get(&format!("/v1/checkout/{id}?external_account_id=acme"), &token).await;
        assert_eq!((status, done["status"].as_str()), (200, Some("complete")), "{done}");
        assert_eq!(done["payment"]["id"], list["data"][0]["id"]);
        assert_eq!(app.stripe_calls().await, vec![], "already complete: no Stripe call");
        // Everything the simulator and we owe is sent: a second payment.captured could not come later.
        app.settle().await;
        let captured = hook.received.lock().unwrap().iter().filter(|d| d.body.contains("\"payment.captured\"")).count();
        assert_eq!(captured, 1, "announced once");
    }

    async fn checkout_for_a_reference(app) {
        let token = app.merchant("acme", "usd").await;
        let (status, first) = app.post("/v1/checkout", &token, checkout_body("booking-7")).await;
        assert_eq!(status, 200, "{first}");
        let first_id = first["session_id"].as_str().unwrap();
        assert_eq!(first["status"], "open");
        assert_eq!(first["amount"], "215.50");
        assert_eq!(first["currency"], "usd");
        assert_eq!(first["reference"], "booking-7");
        assert_eq!(first["ui_mode"], "hosted");
        assert_eq!(first["url"], app.sim_url(&format!("/_sim/checkout/{first_id}")));
        assert_eq!(first["client_secret"], Value::Null);
        assert_eq!(first["customer_id"], Value::Null);
        assert_eq!(first["payment_intent_id"], Value::Null);
        let at_stripe = app.sim_get(&format!("/v1/checkout/sessions/{first_id}")).await;
        assert_eq!(at_stripe["mode"], "payment");
        assert_eq!(at_stripe["amount_total"], 21550);
        assert_eq!(at_stripe["client_reference_id"], "booking-7");
        assert_eq!(at_stripe["metadata"]["reference"], "booking-7");
        assert_eq!(at_stripe["success_url"], "https://hotel.example/booked?ref=42&session_id={CHECKOUT_SESSION_ID}");

        // The same reference again: the first session is expired at Stripe and cannot be paid.
        app.clear_stripe_calls().await;
        let (status, second) = app.post("/v1/checkout", &token, checkout_body("booking-7")).await;
        assert_eq!(status, 200, "{second}");
        let second_id = second["session_id"].as_str().unwrap();
        assert_ne!(first_id, second_id);
        assert_eq!(
            app.stripe_calls().await,
            vec![
                ("POST".into(), format!("/v1/checkout/sessions/{first_id}/expire")),
                ("POST".into(), "/v1/checkout/sessions".into()),
            ],
            "the earlier session is expired first"
        );
        let old = app.sim_get(&format!("/v1/checkout/sessions/{first_id}")).await;
        assert_eq!(old["status"], "expired");
        let (status, refused) = complete(&app, first_id, VISA).await;
        assert_eq!(status, 400, "{refused}");
        let (status, old) = app.get(&format!("/v1/checkout/{first_id}?external_account_id=acme"), &token).await;
        assert_eq!(status, 200, "{old}");
        assert_eq!(old["status"], "expired");
        assert_eq!(old["url"], Value::Null);

        let (status, open) = app.get(&format!("/v1/checkout/{second_id}?external_account_id=acme"), &token).await;
        assert_eq!(status, 200, "{open}");
        assert_eq!(open["status"], "open");
        assert_eq!(open["url"], second["url"]);
        assert_eq!(open["payment"], Value::Null);

        // Paid: the session shows its payment, and the payment is listed (synchronous path: the
        // webhook is held back).
        app.add_fault(json!({"path": "checkout.session.*", "drop_webhooks": true})).await;
        let (status, paid) = complete(&app, second_id, VISA).await;
        assert_eq!(status, 200, "{paid}");
        app.clear_stripe_calls().await;
        let (status, done) = app.get(&format!("/v1/checkout/{second_id}?external_account_id=acme"), &token).await;
        assert_eq!(status, 200, "{done}");
        assert_eq!(app.stripe_calls().await, vec![("GET".into(), format!("/v1/checkout/sessions/{second_id}"))]);
        assert_eq!(done["status"], "complete");
        assert_eq!(done["url"], Value::Null);
        let pi = done["payment_intent_id"].as_str().unwrap();
        assert!(pi.starts_with("pi_"), "{done}");
        assert_eq!(done["payment"]["id"], pi);
        assert_eq!(done["payment"]["status"], "succeeded");
        assert_eq!(done["payment"]["amount_captured"], "215.50");

        let (status, list) = app.get("/v1/payments?external_account_id=acme", &token).await;
        assert_eq!(status, 200, "{list}");
        let payments = list["data"].as_array().unwrap();
        assert_eq!(payments.len(), 1, "{list}");
        let payment = &payments[0];
        assert_eq!(payment["id"], pi);
        assert_eq!(payment["status"], "succeeded");
        assert_eq!(payment["amount"], "215.50");
        assert_eq!(payment["currency"], "usd");
        assert_eq!(payment["capture_method"], "automatic");
        assert_eq!(payment["external_transaction_id"], format!("checkout:booking-7:{second_id}"));
        assert_eq!(payment["metadata"]["reference"], "booking-7");
        assert_eq!(payment["metadata"]["checkout_session_id"], second_id);

        // Reading it again changes nothing and asks Stripe nothing.
        app.clear_stripe_calls().await;
        let (_, again) = app.get(&format!("/v1/checkout/{second_id}?external_account_id=acme"), &token).await;
        assert_eq!(again, done);
        assert_eq!(app.stripe_calls().await, vec![]);

        // The payment is an ordinary one: it can be read and refunded.
        let (status, record) = app.get(&format!("/v1/payment/{pi}?external_account_id=acme"), &token).await;
        assert_eq!(status, 200, "{record}");
        assert_eq!(record["history"][0]["action"], "checkout");
        let (status, refunded) = app
            .post("/v1/payment/refund", &token, json!({"payment_id": pi, "external_account_id": "acme", "amount": "15.50"}))
            .await;
        assert_eq!(status, 200, "{refunded}");
        assert_eq!(refunded["amount_refunded"], "15.50");

        // A paid reference takes no new session.
        let (status, error) = app.post("/v1/checkout", &token, checkout_body("booking-7")).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("reference_already_paid")), "{error}");
        // Another reference is independent; another account cannot see this one.
        let (status, _) = app.post("/v1/checkout", &token, checkout_body("booking-8")).await;
        assert_eq!(status, 200);
        let other = app.merchant("other", "usd").await;
        let (status, _) = app.get(&format!("/v1/checkout/{second_id}?external_account_id=other"), &other).await;
        assert_eq!(status, 404);
    }

    async fn a_session_paid_before_it_could_be_expired(app) {
        let token = app.merchant("acme", "usd").await;
        let (_, first) = app.post("/v1/checkout", &token, checkout_body("booking-9")).await;
        let first_id = first["session_id"].as_str().unwrap();
        // Paid, but we have not heard of it yet (no GET, no webhook).
        let (status, _) = complete(&app, first_id, VISA).await;
        assert_eq!(status, 200);
        let (status, error) = app.post("/v1/checkout", &token, checkout_body("booking-9")).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("reference_already_paid")), "{error}");
        let (_, list) = app.get("/v1/payments?external_account_id=acme", &token).await;
        assert_eq!(list["data"].as_array().unwrap().len(), 1, "the payment was recorded: {list}");
        assert_eq!(list["data"][0]["external_transaction_id"], format!("checkout:booking-9:{first_id}"));
        let sessions = app.sim_get("/v1/checkout/sessions").await;
        assert_eq!(sessions["data"].as_array().unwrap().len(), 1, "no second session was created");
    }

    async fn embedded_checkout(app) {
        let token = app.merchant("acme", "eur").await;
        let mut body = checkout_body("table-3");
        body["ui_mode"] = json!("embedded");
        body["external_customer_id"] = json!("guest-1");
        body.as_object_mut().unwrap().remove("cancel_url");
        let (status, created) = app.post("/v1/checkout", &token, body).await;
        assert_eq!(status, 200, "{created}");
        let id = created["session_id"].as_str().unwrap();
        assert_eq!(created["ui_mode"], "embedded");
        assert_eq!(created["url"], Value::Null);
        assert!(created["client_secret"].as_str().unwrap().starts_with(&format!("{id}_secret_")), "{created}");
        assert_eq!(created["currency"], "eur", "the account's default currency");
        assert_eq!(created["external_customer_id"], "guest-1");
        let customer_id = created["customer_id"].as_str().unwrap();
        let at_stripe = app.sim_get(&format!("/v1/checkout/sessions/{id}")).await;
        assert_eq!(at_stripe["ui_mode"], "embedded_page", "Stripe's name since 2026-03-25.dahlia");
        assert_eq!(at_stripe["return_url"], "https://hotel.example/booked?ref=42&session_id={CHECKOUT_SESSION_ID}");
        assert_eq!(at_stripe["success_url"], Value::Null);
        assert_eq!(at_stripe["customer"], customer_id);
        assert_eq!(at_stripe["currency"], "eur");

        complete(&app, id, VISA).await;
        let (status, done) = app.get(&format!("/v1/checkout/{id}?external_account_id=acme"), &token).await;
        assert_eq!(status, 200, "{done}");
        assert_eq!(done["status"], "complete");
        assert_eq!(done["client_secret"], Value::Null);
        assert_eq!(done["payment"]["external_customer_id"], "guest-1");
        assert_eq!(done["payment"]["amount"], "215.50");
        assert_eq!(done["payment"]["currency"], "eur");
        let (_, list) = app.get("/v1/payments?external_account_id=acme&external_customer_id=guest-1", &token).await;
        assert_eq!(list["data"][0]["id"], done["payment_intent_id"]);
    }

    async fn checkout_validation(app) {
        let token = app.merchant("acme", "usd").await;
        app.clear_stripe_calls().await;
        let item = |name: Value, amount: Value, quantity: Value| json!({"name": name, "amount": amount, "quantity": quantity});
        let ok = || item(json!("Room"), json!("10.00"), json!(1));
        let cases: Vec<(&str, Value, &str)> = vec![
            ("items", json!([]), "items"),
            ("items", json!((0..101).map(|_| ok()).collect::<Vec<_>>()), "items"),
            ("items", json!([item(json!("Room"), json!("10.00"), json!(0))]), "items[0].quantity"),
            ("items", json!([item(json!("Room"), json!("10.00"), json!(1000))]), "items[0].quantity"),
            ("items", json!([item(json!("Room"), json!("10.00"), json!(1.5))]), "items[0].quantity"),
            ("items", json!([item(json!("Room"), json!("10.00"), json!("2"))]), "items[0].quantity"),
            ("items", json!([item(json!("Room"), json!(0), json!(1))]), "items[0].amount"),
            ("items", json!([item(json!("Room"), json!(-5), json!(1))]), "items[0].amount"),
            ("items", json!([item(json!("Room"), json!("abc"), json!(1))]), "items[0].amount"),
            ("items", json!([item(json!("Room"), json!("1e3"), json!(1))]), "items[0].amount"),
            ("items", json!([ok(), item(json!("Tax"), json!("10.999"), json!(1))]), "items[1].amount"),
            ("items", json!([item(json!("Room"), json!(null), json!(1))]), "items[0].amount"),
            ("items", json!([item(json!(""), json!("10.00"), json!(1))]), "items[0].name"),
            ("items", json!([item(json!("x".repeat(251)), json!("10.00"), json!(1))]), "items[0].name"),
            ("items", json!([{"name": "Room", "amount": "10.00"}]), "items[0].quantity"),
            ("items", json!([{"name": "Room", "amount": "10.00", "quantity": 1, "sku": "r1"}]), "items[0].sku"),
            ("items", json!([item(json!("Room"), json!("600000.00"), json!(2))]), "items"),
            ("items", json!([item(json!("Sweet"), json!("0.10"), json!(2))]), "items"),
            ("reference", json!(""), "reference"),
            ("reference", json!("r".repeat(201)), "reference"),
            ("currency", json!("xyz"), "currency"),
            ("ui_mode", json!("popup"), "ui_mode"),
            ("success_url", json!("mailto:a@b.example"), "success_url"),
            ("success_url", json!(null), "success_url"),
            ("cancel_url", json!("//no-scheme.example"), "cancel_url"),
            ("external_customer_id", json!(""), "external_customer_id"),
        ];
        for (field, value, param) in cases {
            let mut body = checkout_body("v-1");
            body[field] = value.clone();
            let (status, error) = app.post("/v1/checkout", &token, body).await;
            assert_eq!((status, error["error"]["param"].as_str()), (400, Some(param)), "{field}={value}: {error}");
        }
        // Amounts are exact in the session's currency: JPY has no decimals (100.00 is 100, 15.5
        // is refused).
        let mut yen = checkout_body("v-2");
        yen["currency"] = json!("jpy");
        let (status, error) = app.post("/v1/checkout", &token, yen).await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("items[1].amount")), "{error}");
        // Embedded sessions return to success_url; they have no cancel page.
        let mut embedded = checkout_body("v-3");
        embedded["ui_mode"] = json!("embedded");
        let (status, error) = app.post("/v1/checkout", &token, embedded).await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("cancel_url")), "{error}");
        // Known only once the account's default currency is: still before any Stripe call.
        let yen_token = app.merchant("yen-shop", "jpy").await;
        let mut body = checkout_body("v-4");
        body["external_account_id"] = json!("yen-shop");
        let (status, error) = app.post("/v1/checkout", &yen_token, body).await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("items[1].amount")), "{error}");
        assert_eq!(app.stripe_calls().await, vec![], "no invalid request reached Stripe");
        let (status, _) = app.post("/v1/checkout", &app.token(&["acme"], "payments:read"), checkout_body("v-5")).await;
        assert_eq!(status, 403);
    }
}

/// Stripe creates the session but answers after our timeout: the row stays `creating` and the
/// caller sees 504. The next checkout for the reference replays that creation to learn the
/// orphan session's id and expires it, so only the new session can be paid.
async fn orphan_session_is_expired(app: TestApp) {
    let token = app.merchant("acme", "usd").await;
    app.add_fault(
        json!({"method": "POST", "path": "/v1/checkout/sessions", "hang_ms": 2000, "times": 1}),
    )
    .await;
    let (status, error) = app
        .post("/v1/checkout", &token, checkout_body("booking-orphan"))
        .await;
    assert_eq!(status, 504, "{error}");
    let sessions = app.sim_get("/v1/checkout/sessions").await;
    let orphan = sessions["data"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(sessions["data"][0]["status"], "open");

    let (status, created) = app
        .post("/v1/checkout", &token, checkout_body("booking-orphan"))
        .await;
    assert_eq!(status, 200, "{created}");
    assert_ne!(created["session_id"], orphan.as_str());
    let sessions = app.sim_get("/v1/checkout/sessions").await;
    let sessions = sessions["data"].as_array().unwrap();
    assert_eq!(
        sessions.len(),
        2,
        "the replay found the orphan instead of creating another"
    );
    let orphan_now = app
        .sim_get(&format!("/v1/checkout/sessions/{orphan}"))
        .await;
    assert_eq!(orphan_now["status"], "expired");
    let (status, _) = complete(&app, &orphan, VISA).await;
    assert_eq!(status, 400, "the orphan cannot be paid");
    let (status, old) = app
        .get(
            &format!("/v1/checkout/{orphan}?external_account_id=acme"),
            &token,
        )
        .await;
    assert_eq!(status, 200, "{old}");
    assert_eq!(old["status"], "expired");
}

async fn short_timeout_app(backend: crate::support::app::Backend) -> TestApp {
    TestApp::spawn_configured(backend, |c| {
        c.stripe_timeout = std::time::Duration::from_millis(1000)
    })
    .await
}

#[actix_web::test]
async fn an_orphan_session_is_expired_by_the_next_checkout_sqlite() {
    orphan_session_is_expired(short_timeout_app(crate::support::app::Backend::Sqlite).await).await
}

#[actix_web::test]
async fn an_orphan_session_is_expired_by_the_next_checkout_postgres() {
    orphan_session_is_expired(short_timeout_app(crate::support::app::Backend::Postgres).await).await
}

/// The simulator's Embedded Checkout (`ui_mode=embedded_page`): `return_url` instead of
/// `success_url`/`cancel_url`, refused the other way round, as Stripe does.
#[actix_web::test]
async fn simulator_checks_ui_mode_redirects() {
    let app = TestApp::spawn(crate::support::app::Backend::Sqlite).await;
    let item = [
        ("mode", "payment"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][price_data][unit_amount]", "500"),
        ("line_items[0][price_data][product_data][name]", "Tea"),
        ("line_items[0][quantity]", "1"),
    ];
    type Form<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Form, u16, Option<&str>); 5] = [
        (
            &[
                ("ui_mode", "embedded_page"),
                ("return_url", "https://x.example/r"),
            ],
            200,
            None,
        ),
        (
            &[
                ("ui_mode", "embedded_page"),
                ("success_url", "https://x.example/s"),
                ("return_url", "https://x.example/r"),
            ],
            400,
            Some("success_url"),
        ),
        (
            &[
                ("ui_mode", "embedded_page"),
                ("cancel_url", "https://x.example/c"),
                ("return_url", "https://x.example/r"),
            ],
            400,
            Some("cancel_url"),
        ),
        (&[("ui_mode", "embedded_page")], 400, Some("return_url")),
        (
            &[
                ("success_url", "https://x.example/s"),
                ("return_url", "https://x.example/r"),
            ],
            400,
            Some("return_url"),
        ),
    ];
    for (extra, status, param) in cases {
        let form: Vec<(&str, &str)> = item.iter().chain(extra).copied().collect();
        let (got, body) = app.sim_post("/v1/checkout/sessions", &form).await;
        assert_eq!(
            (got, body["error"]["param"].as_str()),
            (status, param),
            "{extra:?}: {body}"
        );
    }
    let (status, body) = app.sim_post("/v1/checkout/sessions", &item).await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("success_url")),
        "{body}"
    );
}
