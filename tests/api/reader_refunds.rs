//! Refunds on the reader: `POST /v1/payment/refund/reader` (server-driven with a `reader_id`, or
//! prepared for the tablet's Terminal SDK) and `GET /v1/payment/refund/reader/{id}`. Interac is
//! refunded in person only: an API refund of it is a 409 without a Stripe call. The outcome is
//! learned from the reader's events, Stripe's refund events, or a read, and recorded once.

use crate::both_backends;
use crate::support::app::{eventually, Backend, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";
const INTERAC: &str = "4506445006931933";

/// A merchant `acme` in `currency` with a reader registered through our API: (token, reader).
async fn till(app: &TestApp, currency: &str) -> (String, String) {
    let token = app.merchant("acme", currency).await;
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

/// An Interac sale of `amount` CAD paid on `reader` (Interac captures at once); its id.
async fn interac_sale(app: &TestApp, token: &str, reader: &str, tx: &str, amount: &str) -> String {
    let (status, intent) = app
        .post(
            "/v1/payment/intent",
            token,
            json!({"external_account_id": "acme", "amount": amount,
            "currency": "cad", "payment_method_types": ["card_present", "interac_present"],
            "external_transaction_id": tx}),
        )
        .await;
    assert_eq!(status, 200, "{intent}");
    let id = intent["id"].as_str().unwrap().to_string();
    let (status, _) = app
        .sim_post(
            &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
            &[("payment_intent", id.as_str())],
        )
        .await;
    assert_eq!(status, 200);
    let (status, tapped) = present(app, reader, "interac_present", INTERAC).await;
    assert_eq!(status, 200, "{tapped}");
    assert_eq!(tapped["action"]["status"], "succeeded", "{tapped}");
    app.settle_stripe_webhooks().await;
    id
}

/// A card-present sale of `amount`, captured; its id.
async fn card_sale(app: &TestApp, token: &str, reader: &str, tx: &str, amount: &str) -> String {
    let id = app.create_intent(token, "acme", tx, amount).await.id;
    let (status, tapped) = app.tap_card(reader, &id, VISA).await;
    assert_eq!(status, 200, "{tapped}");
    let (status, captured) = app
        .post(
            "/v1/payment/capture",
            token,
            json!({"payment_id": id, "external_account_id": "acme"}),
        )
        .await;
    assert_eq!(status, 200, "{captured}");
    app.settle_stripe_webhooks().await;
    id
}

/// The cardholder presents a card on the simulated reader.
async fn present(app: &TestApp, reader: &str, kind: &str, number: &str) -> (u16, Value) {
    let param = format!("{kind}[number]");
    app.sim_post(
        &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
        &[("type", kind), (param.as_str(), number)],
    )
    .await
}

async fn refund_on_reader(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    app.post("/v1/payment/refund/reader", token, body).await
}

async fn read(app: &TestApp, token: &str, id: &str) -> Value {
    let (status, refund) = app
        .get(
            &format!("/v1/payment/refund/reader/{id}?external_account_id=acme"),
            token,
        )
        .await;
    assert_eq!(status, 200, "{refund}");
    refund
}

async fn payment(app: &TestApp, token: &str, id: &str) -> Value {
    let (status, payment) = app
        .get(&format!("/v1/payment/{id}?external_account_id=acme"), token)
        .await;
    assert_eq!(status, 200, "{payment}");
    payment
}

/// The refunds our record lists for the payment (its receipt's), as (Stripe id, amount).
async fn recorded_refunds(app: &TestApp, token: &str, id: &str) -> Vec<(String, String)> {
    let (status, receipt) = app
        .get(
            &format!("/v1/payment/{id}/receipt?external_account_id=acme"),
            token,
        )
        .await;
    assert_eq!(status, 200, "{receipt}");
    receipt["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["amount"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn screen(app: &TestApp, reader: &str) -> Value {
    app.sim_get(&format!("/_sim/terminal/readers/{reader}/screen"))
        .await
}

/// Stripe refund requests (`POST /v1/refunds`) made so far.
async fn api_refund_calls(app: &TestApp) -> usize {
    app.stripe_calls()
        .await
        .iter()
        .filter(|(method, path)| method == "POST" && path == "/v1/refunds")
        .count()
}

both_backends! {
    async fn an_interac_sale_is_refunded_on_the_reader_in_part_then_the_rest(app) {
        let hook = crate::support::app::MerchantEndpoint::start(0);
        let (token, reader) = till(&app, "cad").await;
        app.put_account("acme", json!({"webhook_url": hook.url})).await;
        let id = interac_sale(&app, &token, &reader, "interac-1", "25.00").await;

        // The API refund is refused with the way to do it, without asking Stripe.
        let calls = app.stripe_calls().await.len();
        let (status, error) = app
            .post("/v1/payment/refund", &token, json!({"payment_id": id, "external_account_id": "acme"}))
            .await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("refund_on_reader_required")), "{error}");
        assert!(error["error"]["message"].as_str().unwrap().contains("/v1/payment/refund/reader"), "{error}");
        assert_eq!(app.stripe_calls().await.len(), calls, "no Stripe call");

        let (status, first) = refund_on_reader(&app, &token, json!({"payment_id": id,
            "external_account_id": "acme", "amount": "10.00", "reader_id": reader})).await;
        assert_eq!(status, 200, "{first}");
        assert_eq!((first["status"].as_str(), first["mode"].as_str(), first["amount"].as_str(), first["currency"].as_str()),
            (Some("pending"), Some("server_driven"), Some("10.00"), Some("cad")), "{first}");
        assert_eq!(first["reader_id"], reader.as_str());
        assert_eq!(first["sdk"], Value::Null);
        let shown = screen(&app, &reader).await;
        assert_eq!((shown["screen"].as_str(), shown["amount"].as_i64()), (Some("collect_refund_payment_method"), Some(1000)), "{shown}");
        // More than what is left (25.00, of which 10.00 is held by the pending refund): refused.
        let (status, error) = refund_on_reader(&app, &token, json!({"payment_id": id,
            "external_account_id": "acme", "amount": "15.01"})).await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("amount")), "{error}");

        let (status, done) = present(&app, &reader, "interac_present", INTERAC).await;
        assert_eq!((status, done["action"]["status"].as_str()), (200, Some("succeeded")), "{done}");
        app.settle_stripe_webhooks().await;
        let first_id = first["id"].as_str().unwrap();
        let first = read(&app, &token, first_id).await;
        assert_eq!(first["status"], "succeeded", "{first}");
        let stripe_refund = first["stripe_refund_id"].as_str().unwrap().to_string();
        assert!(stripe_refund.starts_with("re_"), "{first}");
        assert_eq!(first["payment"]["amount_refunded"], "10.00", "{first}");

        // The rest: no amount.
        let (status, rest) = refund_on_reader(&app, &token, json!({"payment_id": id,
            "external_account_id": "acme", "reader_id": reader})).await;
        assert_eq!((status, rest["amount"].as_str()), (200, Some("15.00")), "{rest}");
        let (status, _) = present(&app, &reader, "interac_present", INTERAC).await;
        assert_eq!(status, 200);
        app.settle_stripe_webhooks().await;
        let rest = read(&app, &token, rest["id"].as_str().unwrap()).await;
        assert_eq!(rest["status"], "succeeded", "{rest}");
        let p = payment(&app, &token, &id).await;
        assert_eq!(p["amount_refunded"], "25.00", "{p}");
        let recorded = recorded_refunds(&app, &token, &id).await;
        assert_eq!(recorded.len(), 2, "{recorded:?}");
        assert!(recorded.contains(&(stripe_refund, "10.00".to_string())), "{recorded:?}");
        assert_eq!(api_refund_calls(&app).await, 0);

        // Nothing is left.
        let (status, error) = refund_on_reader(&app, &token, json!({"payment_id": id,
            "external_account_id": "acme", "reader_id": reader})).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("payment_fully_refunded")), "{error}");
        // The merchant is told once per refund, though Stripe's charge.refunded, refund.created
        // and the reader's event each reported it.
        let (status, page) = app.get("/v1/webhooks/deliveries?external_account_id=acme&limit=100", &token).await;
        assert_eq!(status, 200, "{page}");
        let refunded = page["data"].as_array().unwrap().iter().filter(|d| d["event_type"] == "payment.refunded").count();
        assert_eq!(refunded, 2, "{page}");
        app.deliver_all().await;
        assert!(hook.count() >= 2);
        app.settle().await;
    }

    async fn a_card_present_sale_may_be_refunded_on_the_reader(app) {
        let (token, reader) = till(&app, "usd").await;
        let id = card_sale(&app, &token, &reader, "card-1", "12.00").await;
        // Not through the SDK: it refunds in person only what requires it (Interac).
        let calls = app.stripe_calls().await.len();
        let (status, error) = refund_on_reader(&app, &token, json!({"payment_id": id,
            "external_account_id": "acme"})).await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("reader_id")), "{error}");
        assert!(app.stripe_calls().await.len() <= calls + 1, "at most the charge is read");

        let (status, pending) = refund_on_reader(&app, &token, json!({"payment_id": id,
            "external_account_id": "acme", "amount": "2.50", "reader_id": reader})).await;
        assert_eq!(status, 200, "{pending}");
        let (status, done) = present(&app, &reader, "card_present", VISA).await;
        assert_eq!((status, done["action"]["status"].as_str()), (200, Some("succeeded")), "{done}");
        app.settle_stripe_webhooks().await;
        let done = read(&app, &token, pending["id"].as_str().unwrap()).await;
        assert_eq!((done["status"].as_str(), done["payment"]["amount_refunded"].as_str()), (Some("succeeded"), Some("2.50")), "{done}");
        // The rest through the API, as usual for a card.
        let (status, refunded) = app
            .post("/v1/payment/refund", &token, json!({"payment_id": id, "external_account_id": "acme"}))
            .await;
        assert_eq!((status, refunded["amount_refunded"].as_str()), (200, Some("12.00")), "{refunded}");
        app.settle().await;
    }

    async fn another_card_fails_the_action_with_stripes_code_and_frees_the_amount(app) {
        let (token, reader) = till(&app, "cad").await;
        let id = interac_sale(&app, &token, &reader, "interac-wrong-card", "8.00").await;
        let (status, pending) = refund_on_reader(&app, &token, json!({"payment_id": id,
            "external_account_id": "acme", "reader_id": reader})).await;
        assert_eq!(status, 200, "{pending}");
        let (status, failed) = present(&app, &reader, "card_present", VISA).await;
        assert_eq!((status, failed["action"]["status"].as_str()), (200, Some("failed")), "{failed}");
        app.settle_stripe_webhooks().await;
        let failed = read(&app, &token, pending["id"].as_str().unwrap()).await;
        assert_eq!((failed["status"].as_str(), failed["failure_code"].as_str()), (Some("failed"), Some("card_mismatch")), "{failed}");
        assert!(failed["failure_message"].as_str().unwrap().contains("does not match"), "{failed}");
        assert_eq!(failed["payment"]["amount_refunded"], "0.00");
        // The whole amount may be refunded again, with the right card.
        let (status, again) = refund_on_reader(&app, &token, json!({"payment_id": id,
            "external_account_id": "acme", "reader_id": reader})).await;
        assert_eq!((status, again["amount"].as_str()), (200, Some("8.00")), "{again}");
        let (status, _) = present(&app, &reader, "interac_present", INTERAC).await;
        assert_eq!(status, 200);
        app.settle_stripe_webhooks().await;
        assert_eq!(read(&app, &token, again["id"].as_str().unwrap()).await["status"], "succeeded");
        app.settle().await;
    }

    async fn offline_busy_and_canceled(app) {
        let (token, reader) = till(&app, "cad").await;
        let id = interac_sale(&app, &token, &reader, "interac-offline", "6.00").await;
        let (status, _) = app.sim_post(&format!("/_sim/terminal/readers/{reader}/offline"), &[]).await;
        assert_eq!(status, 200);
        let (status, error) = refund_on_reader(&app, &token, json!({"payment_id": id,
            "external_account_id": "acme", "reader_id": reader})).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("reader_offline")), "{error}");
        let (status, _) = app.sim_post(&format!("/_sim/terminal/readers/{reader}/online"), &[]).await;
        assert_eq!(status, 200);

        // Busy with a sale: 409, and the amount is not held.
        let other = app.create_intent(&token, "acme", "busy-sale", "3.00").await.id;
        let (status, _) = app
            .sim_post(&format!("/v1/terminal/readers/{reader}/process_payment_intent"), &[("payment_intent", other.as_str())])
            .await;
        assert_eq!(status, 200);
        let (status, error) = refund_on_reader(&app, &token, json!({"payment_id": id,
            "external_account_id": "acme", "reader_id": reader})).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("reader_busy")), "{error}");
        let (status, _) = app.post(&format!("/v1/terminal/readers/{reader}/cancel"), &token,
            json!({"external_account_id": "acme"})).await;
        assert_eq!(status, 200);

        // Canceled on the reader before a card was read: a read says so, and the amount is free.
        let (status, pending) = refund_on_reader(&app, &token, json!({"payment_id": id,
            "external_account_id": "acme", "reader_id": reader})).await;
        assert_eq!((status, pending["amount"].as_str()), (200, Some("6.00")), "{pending}");
        let (status, _) = app.post(&format!("/v1/terminal/readers/{reader}/cancel"), &token,
            json!({"external_account_id": "acme"})).await;
        assert_eq!(status, 200);
        let canceled = read(&app, &token, pending["id"].as_str().unwrap()).await;
        assert_eq!(canceled["status"], "canceled", "{canceled}");
        let (status, again) = refund_on_reader(&app, &token, json!({"payment_id": id,
            "external_account_id": "acme", "reader_id": reader})).await;
        assert_eq!((status, again["amount"].as_str()), (200, Some("6.00")), "{again}");
        app.settle().await;
    }

    async fn lost_events_are_learned_on_read_and_late_or_repeated_ones_change_nothing(app) {
        let (token, reader) = till(&app, "cad").await;
        let id = interac_sale(&app, &token, &reader, "interac-lost", "9.00").await;
        for events in ["terminal.reader.*", "refund.*", "charge.refund*"] {
            app.add_fault(json!({"path": events, "drop_webhooks": true})).await;
        }
        let (status, pending) = refund_on_reader(&app, &token, json!({"payment_id": id,
            "external_account_id": "acme", "amount": "4.00", "reader_id": reader})).await;
        assert_eq!(status, 200, "{pending}");
        let (status, done) = present(&app, &reader, "interac_present", INTERAC).await;
        assert_eq!(status, 200, "{done}");
        app.settle_stripe_webhooks().await;
        let rid = pending["id"].as_str().unwrap();
        // Nothing reached us: our record (listed without asking Stripe) has no refund yet.
        let stored = app.stored_payment(&token, "acme", "interac-lost").await.unwrap();
        assert_eq!(stored.amount_refunded, "0.00");
        let learned = read(&app, &token, rid).await;
        assert_eq!((learned["status"].as_str(), learned["payment"]["amount_refunded"].as_str()), (Some("succeeded"), Some("4.00")), "{learned}");

        // The events, delivered late (and the action's twice, under two ids): nothing changes.
        let (_, reader_now) = app.get(&format!("/v1/terminal/readers/{reader}?external_account_id=acme"), &token).await;
        let mut object = app.sim_get(&format!("/v1/terminal/readers/{reader}")).await;
        assert_eq!(object["action"]["type"], "refund_payment", "{object} {reader_now}");
        object["metadata"] = json!({"external_account_id": "acme"});
        for event_id in ["evt_rr_late_1", "evt_rr_late_2", "evt_rr_late_1"] {
            let (body, signature) = crate::webhooks::signed_event(event_id, "terminal.reader.action_succeeded",
                object.clone(), &[crate::support::app::STRIPE_WEBHOOK_SECRET], 0);
            let answer = app.exchange(app.client.post(app.url("/v1/webhooks/stripe"))
                .header("Stripe-Signature", signature).header("Content-Type", "application/json").body(body)).await;
            assert_eq!(answer.status, 200);
        }
        let refund_object = app.sim_get(&format!("/v1/refunds/{}", learned["stripe_refund_id"].as_str().unwrap())).await;
        let (body, signature) = crate::webhooks::signed_event("evt_rr_late_3", "refund.created",
            refund_object, &[crate::support::app::STRIPE_WEBHOOK_SECRET], 0);
        let answer = app.exchange(app.client.post(app.url("/v1/webhooks/stripe"))
            .header("Stripe-Signature", signature).header("Content-Type", "application/json").body(body)).await;
        assert_eq!(answer.status, 200);
        assert_eq!(recorded_refunds(&app, &token, &id).await.len(), 1);
        assert_eq!(payment(&app, &token, &id).await["amount_refunded"], "4.00");
        assert_eq!(read(&app, &token, rid).await["status"], "succeeded");
        app.deliver_all().await;
        app.settle().await;
    }

    async fn an_idempotency_key_replays_the_same_reader_refund(app) {
        let (token, reader) = till(&app, "cad").await;
        let id = interac_sale(&app, &token, &reader, "interac-key", "7.00").await;
        let send = || app.exchange(app.client.post(app.url("/v1/payment/refund/reader")).bearer_auth(&token)
            .header("Idempotency-Key", "till-3-refund-1")
            .json(&json!({"payment_id": id, "external_account_id": "acme", "amount": "3.00", "reader_id": reader})));
        let first = send().await;
        assert_eq!(first.status, 200);
        let second = send().await;
        assert_eq!(second.status, 200);
        assert_eq!(first.json()["id"], second.json()["id"]);
        let actions = app.stripe_calls().await.iter().filter(|(_, p)| p.ends_with("/refund_payment")).count();
        assert_eq!(actions, 1);
        let (status, _) = present(&app, &reader, "interac_present", INTERAC).await;
        assert_eq!(status, 200);
        app.settle_stripe_webhooks().await;
        assert_eq!(payment(&app, &token, &id).await["amount_refunded"], "3.00");
        app.settle().await;
    }

    async fn sdk_mode_gives_the_tablet_the_charge_and_learns_the_refund(app) {
        let (token, reader) = till(&app, "cad").await;
        let id = interac_sale(&app, &token, &reader, "interac-sdk", "11.00").await;
        let (status, prepared) = refund_on_reader(&app, &token, json!({"payment_id": id,
            "external_account_id": "acme", "amount": "5.00"})).await;
        assert_eq!(status, 200, "{prepared}");
        assert_eq!((prepared["mode"].as_str(), prepared["status"].as_str()), (Some("sdk"), Some("pending")), "{prepared}");
        let sdk = &prepared["sdk"];
        assert_eq!((sdk["amount"].as_i64(), sdk["currency"].as_str()), (Some(500), Some("cad")), "{prepared}");
        let charge = sdk["charge_id"].as_str().unwrap();
        assert!(charge.starts_with("ch_"), "{prepared}");

        // The tablet: a connection token, the simulated SDK's collect and process.
        let (status, secret) = app.post("/v1/terminal/connection_token", &token,
            json!({"external_account_id": "acme"})).await;
        assert_eq!(status, 200, "{secret}");
        let (status, session) = app.send(Method::POST, "/sim/stripe/_sim/terminal/sessions", None,
            Some(json!({"connection_token": secret["secret"]}))).await;
        assert_eq!(status, 200, "{session}");
        let session = session["session"].as_str().unwrap();
        let (status, collected) = app.send(Method::POST, "/sim/stripe/_sim/terminal/refunds/collect", None,
            Some(json!({"session": session, "charge": charge, "amount": 500, "currency": "cad"}))).await;
        assert_eq!(status, 200, "{collected}");
        let (status, refund) = app.send(Method::POST, "/sim/stripe/_sim/terminal/refunds/process", None,
            Some(json!({"session": session}))).await;
        assert_eq!((status, refund["amount"].as_i64()), (200, Some(500)), "{refund}");
        app.settle_stripe_webhooks().await;
        let done = read(&app, &token, prepared["id"].as_str().unwrap()).await;
        assert_eq!((done["status"].as_str(), done["stripe_refund_id"].as_str()), (Some("succeeded"), refund["id"].as_str()), "{done}");
        assert_eq!(done["payment"]["amount_refunded"], "5.00");
        app.settle().await;
    }

    async fn another_accounts_ids_are_404s(app) {
        let (token, reader) = till(&app, "cad").await;
        let id = interac_sale(&app, &token, &reader, "interac-404", "5.00").await;
        let (status, pending) = refund_on_reader(&app, &token, json!({"payment_id": id,
            "external_account_id": "acme", "reader_id": reader})).await;
        assert_eq!(status, 200, "{pending}");
        let rid = pending["id"].as_str().unwrap();
        let globex = app.merchant("globex", "cad").await;
        let (status, theirs) = app.post("/v1/terminal/readers", &globex,
            json!({"external_account_id": "globex", "registration_code": "simulated-wpe"})).await;
        assert_eq!(status, 200, "{theirs}");
        let their_reader = theirs["id"].as_str().unwrap();
        let (status, error) = refund_on_reader(&app, &globex, json!({"payment_id": id,
            "external_account_id": "globex", "reader_id": their_reader})).await;
        assert_eq!((status, error["error"]["param"].as_str()), (404, Some("payment_id")), "{error}");
        let (status, error) = refund_on_reader(&app, &token, json!({"payment_id": id,
            "external_account_id": "acme", "reader_id": their_reader, "amount": "1.00"})).await;
        assert_eq!((status, error["error"]["param"].as_str()), (404, Some("reader_id")), "{error}");
        let (status, error) = app.get(&format!("/v1/payment/refund/reader/{rid}?external_account_id=globex"), &globex).await;
        assert_eq!(status, 404, "{error}");
        let (status, _) = app.post(&format!("/v1/terminal/readers/{reader}/cancel"), &token,
            json!({"external_account_id": "acme"})).await;
        assert_eq!(status, 200);
        app.settle().await;
    }

    async fn bad_input_is_a_400_naming_the_field_without_a_stripe_call(app) {
        let (token, reader) = till(&app, "cad").await;
        let id = interac_sale(&app, &token, &reader, "interac-bad", "5.00").await;
        let calls = app.stripe_calls().await.len();
        let base = json!({"payment_id": id, "external_account_id": "acme", "reader_id": reader});
        let with = |key: &str, value: Value| {
            let mut body = base.clone();
            body[key] = value;
            body
        };
        for (body, param) in [
            (with("amount", json!("abc")), "amount"),
            (with("amount", json!("-1.00")), "amount"),
            (with("amount", json!("1.234")), "amount"),
            (with("payment_id", json!("ch_123")), "payment_id"),
            (with("reader_id", json!("reader-1")), "reader_id"),
            (with("surprise", json!(1)), "surprise"),
        ] {
            let (status, error) = refund_on_reader(&app, &token, body.clone()).await;
            assert_eq!((status, error["error"]["param"].as_str()), (400, Some(param)), "{body}: {error}");
        }
        let (status, error) = refund_on_reader(&app, &token, with("amount", json!("0"))).await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("amount")), "{error}");
        let (status, error) = app.get("/v1/payment/refund/reader/nope?external_account_id=acme", &token).await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("id")), "{error}");
        assert_eq!(app.stripe_calls().await.len(), calls, "no Stripe call");
        // An authorised (uncaptured) payment is not refundable yet.
        let held = app.create_intent(&token, "acme", "held", "4.00").await.id;
        let (status, tapped) = app.tap_card(&reader, &held, VISA).await;
        assert_eq!(status, 200, "{tapped}");
        let (status, error) = refund_on_reader(&app, &token, json!({"payment_id": held,
            "external_account_id": "acme", "reader_id": reader})).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("payment_not_refundable")), "{error}");
        app.settle().await;
    }
}

/// The answer to `refund_payment` is lost (Stripe started the action, then hung past our
/// timeout): the reader's events arrive before our API has answered, and the till's retry under
/// the same Idempotency-Key is told the outcome.
async fn the_event_before_the_answer(backend: Backend) {
    let app = TestApp::spawn_configured(backend, |c| {
        c.stripe_timeout = std::time::Duration::from_millis(1000)
    })
    .await;
    let (token, reader) = till(&app, "cad").await;
    let id = interac_sale(&app, &token, &reader, "interac-hang", "12.00").await;
    app.add_fault(json!({"method": "POST", "path": "/v1/terminal/readers/*/refund_payment", "hang_ms": 2000, "times": 1}))
        .await;
    let send = || {
        app.exchange(
            app.client
                .post(app.url("/v1/payment/refund/reader"))
                .bearer_auth(&token)
                .header("Idempotency-Key", "till-9-refund")
                .json(
                    &json!({"payment_id": id, "external_account_id": "acme", "reader_id": reader}),
                ),
        )
    };
    let first = send().await;
    assert_eq!(first.status, 504, "{:?}", first.json());
    let (status, done) = present(&app, &reader, "interac_present", INTERAC).await;
    assert_eq!(
        (status, done["action"]["status"].as_str()),
        (200, Some("succeeded")),
        "{done}"
    );
    eventually(10, "the reader's event records the refund", || async {
        app.stored_payment(&token, "acme", "interac-hang")
            .await
            .is_some_and(|p| p.amount_refunded == "12.00")
    })
    .await;
    let retry = send().await;
    assert_eq!(retry.status, 200);
    let answer = retry.json();
    assert_eq!(
        (answer["status"].as_str(), answer["amount"].as_str()),
        (Some("succeeded"), Some("12.00")),
        "{answer}"
    );
    assert_eq!(recorded_refunds(&app, &token, &id).await.len(), 1);
    app.settle().await;
}

#[actix_web::test]
async fn the_event_before_the_answer_sqlite() {
    the_event_before_the_answer(Backend::Sqlite).await;
}

#[actix_web::test]
async fn the_event_before_the_answer_postgres() {
    the_event_before_the_answer(Backend::Postgres).await;
}
