//! Webhooks in (Stripe → us) and out (us → merchants), issue 8.

use crate::both_backends;
use crate::support::app::{eventually, Backend, MerchantEndpoint, TestApp, STRIPE_WEBHOOK_SECRET};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use stripe_client::webhook;

const VISA: &str = "4242424242424242";

/// A whole PaymentIntent as Stripe sends it in an event (a 10.00 USD manual-capture intent), with
/// `fields` set over it.
pub(crate) fn intent_object(fields: Value) -> Value {
    let mut object = json!({"object": "payment_intent", "amount": 1000, "currency": "usd",
        "capture_method": "manual", "created": chrono::Utc::now().timestamp(), "livemode": false,
        "amount_capturable": 0, "amount_received": 0, "metadata": {}, "payment_method_types": ["card_present"]});
    for (k, v) in fields.as_object().unwrap() {
        object[k] = v.clone();
    }
    object
}

/// A Stripe event about `object`, signed with `secrets` (several `v1` while a secret rotates).
pub(crate) fn signed_event(
    id: &str,
    event_type: &str,
    object: Value,
    secrets: &[&str],
    age: i64,
) -> (String, String) {
    let body = json!({"id": id, "object": "event", "type": event_type, "created": chrono::Utc::now().timestamp(),
        "api_version": "2022-11-15", "livemode": false, "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null},
        "data": {"object": object}})
    .to_string();
    let t = chrono::Utc::now().timestamp() - age;
    let v1: Vec<String> = secrets
        .iter()
        .map(|s| {
            webhook::sign(s, t, body.as_bytes())
                .split(",v1=")
                .nth(1)
                .unwrap()
                .to_string()
        })
        .collect();
    (
        body,
        format!(
            "t={t},{}",
            v1.iter()
                .map(|v| format!("v1={v}"))
                .collect::<Vec<_>>()
                .join(",")
        ),
    )
}

pub(crate) async fn deliver(app: &TestApp, body: &str, signature: &str) -> (u16, Value) {
    let response = app
        .exchange(
            app.client
                .post(app.url("/v1/webhooks/stripe"))
                .header("Stripe-Signature", signature)
                .header("Content-Type", "application/json")
                .body(body.to_string()),
        )
        .await;
    (response.status, response.json())
}

async fn new_intent(app: &TestApp, token: &str, tx: &str) -> String {
    app.create_intent(token, "acme", tx, "10.00").await.id
}

/// Our stored status (the list does not ask Stripe, unlike GET /v1/payment/{id}).
async fn stored_status(app: &TestApp, token: &str, tx: &str) -> String {
    status_in(app, token, "acme", tx).await
}

async fn status_in(app: &TestApp, token: &str, account: &str, tx: &str) -> String {
    let payment = app.stored_payment(token, account, tx).await;
    payment.expect("the payment is listed").status
}

async fn deliveries(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, page) = app
        .get(
            "/v1/webhooks/deliveries?external_account_id=acme&limit=100",
            token,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().unwrap().clone()
}

both_backends! {
    async fn stripe_signatures(app) {
        let token = app.merchant("acme", "usd").await;
        let pi = new_intent(&app, &token, "sig").await;
        let object = intent_object(json!({"id": pi, "object": "payment_intent", "status": "requires_capture", "amount_capturable": 1000,
            "amount_received": 0, "metadata": {"external_account_id": "acme", "external_transaction_id": "sig"}}));
        let (body, good) = signed_event("evt_sig_1", "payment_intent.amount_capturable_updated", object.clone(), &[STRIPE_WEBHOOK_SECRET], 0);

        let tampered = body.replace("1000", "9999");
        assert_eq!(deliver(&app, &tampered, &good).await.0, 400, "tampered body");
        let (_, wrong) = signed_event("evt_sig_1", "payment_intent.amount_capturable_updated", object.clone(), &["whsec_wrong"], 0);
        assert_eq!(deliver(&app, &body, &wrong).await.0, 400, "wrong secret");
        let (stale_body, stale) = signed_event("evt_sig_1", "payment_intent.amount_capturable_updated", object.clone(), &[STRIPE_WEBHOOK_SECRET], 400);
        let (status, error) = deliver(&app, &stale_body, &stale).await;
        assert_eq!((status, error["error"]["code"].as_str()), (400, Some("webhook_signature_invalid")), "stale");
        let response = app.exchange(app.client.post(app.url("/v1/webhooks/stripe")).body(body.clone())).await;
        assert_eq!(response.status, 400, "no signature");
        assert_eq!(stored_status(&app, &token, "sig").await, "requires_payment_method", "nothing applied");

        let (status, first) = deliver(&app, &body, &good).await;
        assert_eq!((status, first["duplicate"].as_bool()), (200, Some(false)), "nothing was stored before: {first}");
        assert_eq!(stored_status(&app, &token, "sig").await, "requires_capture");
        let (status, replay) = deliver(&app, &body, &good).await;
        assert_eq!((status, replay["duplicate"].as_bool()), (200, Some(true)), "replayed: no effect");

        // Rotation: Stripe signs with the old and the new secret; we know one of them.
        let (body, rotated) = signed_event("evt_sig_2", "payment_intent.canceled",
            intent_object(json!({"id": pi, "object": "payment_intent", "status": "canceled", "amount_capturable": 0, "amount_received": 0})),
            &["whsec_retiredsecret", STRIPE_WEBHOOK_SECRET], 0);
        assert_eq!(deliver(&app, &body, &rotated).await.0, 200);
        assert_eq!(stored_status(&app, &token, "sig").await, "canceled");
    }

    async fn a_merchant_secret_vouches_only_for_that_merchants_records(app) {
        const EVIL_SECRET: &str = "whsec_evilOwnEndpointSecret";
        let token = app.merchant("acme", "usd").await;
        let victim = new_intent(&app, &token, "victim").await;
        let evil = app.merchant("evil", "usd").await;
        let (status, account) = app.put_account("evil", json!({"stripe_webhook_secret": EVIL_SECRET})).await;
        assert_eq!((status, account["has_stripe_webhook_secret"].as_bool()), (200, Some(true)), "{account}");
        let (status, own) = app
            .post("/v1/payment/intent", &evil, json!({"external_account_id": "evil", "amount": "10.00", "external_transaction_id": "own"}))
            .await;
        assert_eq!(status, 200, "{own}");
        let canceled = |id: &str, account: &str| intent_object(json!({"id": id, "object": "payment_intent", "status": "canceled",
            "amount_capturable": 0, "amount_received": 0,
            "metadata": {"external_account_id": account, "external_transaction_id": "victim"}}));

        // Signed with evil's own endpoint secret, claiming to be evil's, naming acme's intent:
        // authentic for evil, so acknowledged, but it cannot touch acme's payment.
        let (body, sig) = signed_event("evt_forged_1", "payment_intent.canceled", canceled(&victim, "evil"), &[EVIL_SECRET], 0);
        assert_eq!(deliver(&app, &body, &sig).await.0, 200);
        // Claiming to be acme's: acme has no such secret, so the signature is rejected.
        let (body, sig) = signed_event("evt_forged_2", "payment_intent.canceled", canceled(&victim, "acme"), &[EVIL_SECRET], 0);
        assert_eq!(deliver(&app, &body, &sig).await.0, 400);
        // The platform's secret for a connected account that is not acme's: not acme's either.
        let mut connect: Value = serde_json::from_str(&signed_event("evt_forged_3", "payment_intent.canceled", canceled(&victim, "acme"), &[], 0).0).unwrap();
        connect["account"] = json!("acct_1NotAcmeAtAll");
        let body = connect.to_string();
        let sig = webhook::sign(STRIPE_WEBHOOK_SECRET, chrono::Utc::now().timestamp(), body.as_bytes());
        assert_eq!(deliver(&app, &body, &sig).await.0, 200);
        assert_eq!(stored_status(&app, &token, "victim").await, "requires_payment_method", "acme's payment untouched");

        // Evil's own secret does move evil's own payment.
        let mine = intent_object(json!({"id": own["id"], "object": "payment_intent", "status": "canceled", "amount_capturable": 0,
            "amount_received": 0, "metadata": {"external_account_id": "evil", "external_transaction_id": "own"}}));
        let (body, sig) = signed_event("evt_own_1", "payment_intent.canceled", mine, &[EVIL_SECRET], 0);
        assert_eq!(deliver(&app, &body, &sig).await.0, 200);
        assert_eq!(status_in(&app, &evil, "evil", "own").await, "canceled");
        // And the platform's secret still moves acme's.
        let (body, sig) = signed_event("evt_platform_1", "payment_intent.canceled", canceled(&victim, "acme"), &[STRIPE_WEBHOOK_SECRET], 0);
        assert_eq!(deliver(&app, &body, &sig).await.0, 200);
        assert_eq!(stored_status(&app, &token, "victim").await, "canceled");
    }

    async fn changes_made_at_stripe_arrive_by_webhook(app) {
        let hook = MerchantEndpoint::start(0);
        let token = app.merchant("acme", "usd").await;
        app.put_account("acme", json!({"webhook_url": hook.url})).await;
        let reader = app.register_reader().await;
        let (status, intent) = app
            .post("/v1/payment/intent", &token, json!({"external_account_id": "acme", "amount": "10.00",
                "external_transaction_id": "at-stripe", "external_customer_id": "cust-at-stripe"}))
            .await;
        assert_eq!(status, 200, "{intent}");
        let pi = intent["id"].as_str().unwrap().to_string();
        app.tap_card(&reader, &pi, VISA).await;
        // (Captured before the authorisation's event arrives, the payment is announced captured
        // only: a late event never moves it backwards.)
        eventually(10, "authorised by webhook", || async { stored_status(&app, &token, "at-stripe").await == "requires_capture" }).await;
        let (status, captured) = app.post("/v1/payment/capture", &token, json!({"payment_id": pi, "external_account_id": "acme"})).await;
        assert_eq!(status, 200, "{captured}");
        let (status, card) = app.post("/v1/customer/card", &token, json!({"payment_id": pi, "external_customer_id": "cust-at-stripe",
            "external_account_id": "acme"})).await;
        assert_eq!(status, 200, "{card}");

        // A refund made in Stripe's Dashboard: charge.refunded.
        let (status, refund) = app.sim_post("/v1/refunds", &[("payment_intent", pi.as_str()), ("amount", "400")]).await;
        assert_eq!(status, 200, "{refund}");
        eventually(10, "the refund arrives by webhook", || async {
            let (_, page) = app.get("/v1/payments?external_account_id=acme", &token).await;
            page["data"][0]["amount_refunded"] == "4.00"
        })
        .await;
        // The card detached at Stripe: payment_method.detached marks it deleted.
        let pm = card["payment_method_id"].as_str().unwrap();
        let (status, detached) = app.sim_post(&format!("/v1/payment_methods/{pm}/detach"), &[]).await;
        assert_eq!(status, 200, "{detached}");
        eventually(10, "the card is deleted by webhook", || async {
            let (_, cards) = app.get("/v1/customer/cards?external_account_id=acme&external_customer_id=cust-at-stripe", &token).await;
            cards["data"].as_array().unwrap().is_empty()
        })
        .await;
        // A declined tap on another sale: payment_intent.payment_failed.
        let declined = new_intent(&app, &token, "declined-tap").await;
        app.tap_card(&reader, &declined, "4000000000000002").await;
        app.settle().await;
        {
            let got = hook.received.lock().unwrap();
            for t in ["payment.authorized", "payment.captured", "card.saved", "payment.refunded", "card.deleted", "payment.failed"] {
                assert!(got.iter().any(|d| d.body.contains(&format!("\"{t}\""))), "the merchant hears of {t}");
            }
        }
        let refunded: Vec<Value> = hook.received.lock().unwrap().iter()
            .map(|d| serde_json::from_str::<Value>(&d.body).unwrap())
            .filter(|e| e["type"] == "payment.refunded")
            .collect();
        assert_eq!(refunded.len(), 1, "{refunded:?}");
        assert_eq!(refunded[0]["data"]["object"]["amount_refunded"], "4.00");
    }

    async fn out_of_order_events_never_move_backwards(app) {
        let token = app.merchant("acme", "usd").await;
        let pi = new_intent(&app, &token, "ooo").await;
        let intent = |status: &str, capturable: i64, received: i64| intent_object(json!({"id": pi, "object": "payment_intent", "status": status,
            "amount_capturable": capturable, "amount_received": received}));
        let (body, sig) = signed_event("evt_ooo_1", "payment_intent.succeeded", intent("succeeded", 0, 1000), &[STRIPE_WEBHOOK_SECRET], 0);
        assert_eq!(deliver(&app, &body, &sig).await.0, 200);
        let (body, sig) = signed_event("evt_ooo_2", "payment_intent.amount_capturable_updated", intent("requires_capture", 1000, 0), &[STRIPE_WEBHOOK_SECRET], 0);
        assert_eq!(deliver(&app, &body, &sig).await.0, 200);
        let (body, sig) = signed_event("evt_ooo_3", "payment_intent.payment_failed", intent("requires_payment_method", 0, 0), &[STRIPE_WEBHOOK_SECRET], 0);
        assert_eq!(deliver(&app, &body, &sig).await.0, 200);
        assert_eq!(stored_status(&app, &token, "ooo").await, "succeeded");
        let (_, page) = app.get("/v1/payments?external_account_id=acme", &token).await;
        assert_eq!(page["data"][0]["amount_captured"], "10.00");
    }

    async fn a_payment_completed_only_through_webhooks(app) {
        let hook = MerchantEndpoint::start(0);
        let token = app.merchant("acme", "usd").await;
        let (status, account) = app.put_account("acme", json!({"webhook_url": hook.url})).await;
        assert_eq!(status, 200, "{account}");
        let reader = app.register_reader().await;
        let pi = new_intent(&app, &token, "wh-only").await;
        app.tap_card(&reader, &pi, VISA).await;
        // Captured at Stripe directly (e.g. from the Dashboard): we only hear of it by webhook.
        let (status, _) = app.sim_post(&format!("/v1/payment_intents/{pi}/capture"), &[]).await;
        assert_eq!(status, 200);
        eventually(10, "the capture arrives by webhook", || async { stored_status(&app, &token, "wh-only").await == "succeeded" }).await;
        // (The authorisation may be announced too, unless its event arrives after the capture's:
        // a late event never moves a payment backwards.)
        app.settle().await;
        assert!(hook.received.lock().unwrap().iter().any(|d| d.body.contains("\"payment.captured\"")), "merchant told of the capture");
        let (_, page) = app.get("/v1/payments?external_account_id=acme", &token).await;
        assert_eq!(page["data"][0]["amount_captured"], "10.00");
    }

    async fn merchant_endpoint_failing_twice_gets_one_delivery_in_three_attempts(app) {
        let hook = MerchantEndpoint::start(2);
        let token = app.merchant("acme", "usd").await;
        let (_, account) = app.put_account("acme", json!({"webhook_url": hook.url})).await;
        let secret = account["webhook_secret"].as_str().unwrap().to_string();
        let pi = new_intent(&app, &token, "void-me").await;
        let (status, _) = app.post("/v1/payment/cancel", &token, json!({"payment_id": pi, "external_account_id": "acme"})).await;
        assert_eq!(status, 200);
        // Two failures, each retried once the clock passes its backoff.
        assert_eq!(app.deliver_all().await, 3);
        app.expect_no_pending_deliveries().await;
        let all = deliveries(&app, &token).await;
        let canceled: Vec<&Value> = all.iter().filter(|d| d["event_type"] == "payment.canceled").collect();
        assert_eq!(canceled.len(), 1, "one delivery: {all:?}");
        assert_eq!(canceled[0]["attempts"], 3);
        assert_eq!(canceled[0]["last_status"], 200);
        let received = hook.received.lock().unwrap().clone();
        assert_eq!(received.len(), 3);
        assert!(received.iter().all(|d| d.event_id == received[0].event_id), "the same event each time");
        let last = received.last().unwrap();
        webhook::verify(last.body.as_bytes(), &last.signature, &[&secret], webhook::DEFAULT_TOLERANCE, chrono::Utc::now().timestamp())
            .expect("merchants can verify Pos-Signature with their secret");
        let event: Value = serde_json::from_str(&last.body).unwrap();
        assert_eq!(event["type"], "payment.canceled");
        assert_eq!(event["data"]["object"]["id"], pi.as_str());
        assert_eq!(event["data"]["object"]["external_transaction_id"], "void-me");

        // Retry on request: delivered once more.
        let id = canceled[0]["id"].as_str().unwrap();
        let (status, retried) = app.post(&format!("/v1/webhooks/deliveries/{id}/retry"), &token, json!({"external_account_id": "acme"})).await;
        assert_eq!((status, retried["status"].as_str()), (200, Some("pending")), "{retried}");
        assert_eq!(app.deliver_pending().await, 1, "due at once");
        assert_eq!(hook.count(), 4, "redelivered");
        let other = app.merchant("other", "usd").await;
        let (status, _) = app.post(&format!("/v1/webhooks/deliveries/{id}/retry"), &other, json!({"external_account_id": "other"})).await;
        assert_eq!(status, 404);
        let (_, theirs) = app.get("/v1/webhooks/deliveries?external_account_id=other", &other).await;
        assert_eq!(theirs["data"], json!([]));
    }
}

/// An endpoint that never answers 2xx: every attempt of the schedule, then `failed`.
async fn a_delivery_that_never_succeeds_ends_failed(backend: Backend) {
    let app = TestApp::builder(backend).drained_on_drop().spawn().await;
    let hook = MerchantEndpoint::start(usize::MAX);
    let token = app.merchant("acme", "usd").await;
    app.put_account("acme", json!({"webhook_url": hook.url}))
        .await;
    let pi = new_intent(&app, &token, "never-heard").await;
    let (status, _) = app
        .post(
            "/v1/payment/cancel",
            &token,
            json!({"payment_id": pi, "external_account_id": "acme"}),
        )
        .await;
    assert_eq!(status, 200);
    // The whole 24 h schedule on the clock, without waiting for it.
    app.deliver_all().await;
    assert!(
        deliveries(&app, &token)
            .await
            .iter()
            .any(|d| d["status"] == "failed"),
        "given up"
    );
    let all = deliveries(&app, &token).await;
    assert_eq!(all.len(), 1, "{all:?}");
    let attempts = webhook_attempts();
    assert_eq!(all[0]["attempts"], attempts, "{all:?}");
    assert_eq!(all[0]["last_status"], 500);
    assert_eq!(all[0]["next_attempt_at"], Value::Null);
    assert_eq!(hook.count() as i64, attempts);
    let (_, failed) = app
        .get(
            "/v1/webhooks/deliveries?external_account_id=acme&status=failed",
            &token,
        )
        .await;
    assert_eq!(failed["data"].as_array().unwrap().len(), 1);
}

/// The schedule's waits plus the first attempt.
fn webhook_attempts() -> i64 {
    pos_backend::jobs::delivery::BACKOFF.len() as i64 + 1
}

#[actix_web::test]
async fn a_delivery_that_never_succeeds_ends_failed_sqlite() {
    a_delivery_that_never_succeeds_ends_failed(Backend::Sqlite).await
}

#[actix_web::test]
async fn a_delivery_that_never_succeeds_ends_failed_postgres() {
    a_delivery_that_never_succeeds_ends_failed(Backend::Postgres).await
}

#[actix_web::test]
async fn two_instances_on_one_postgres_deliver_each_event_once() {
    // Nothing may be left pending when the test ends (checked when `app` is dropped).
    let app = TestApp::builder(Backend::Postgres)
        .drained_on_drop()
        .spawn()
        .await;
    let second = app.another_instance(|_| {}).await;
    let hook = MerchantEndpoint::start(0);
    let token = app.merchant("acme", "usd").await;
    app.put_account("acme", json!({"webhook_url": hook.url}))
        .await;
    for batch in 0..10 {
        let requests = (0..20).map(|i| {
            let app = &app;
            let token = token.clone();
            async move {
                let pi = new_intent(app, &token, &format!("many-{batch}-{i}")).await;
                let (status, body) = app
                    .post(
                        "/v1/payment/cancel",
                        &token,
                        json!({"payment_id": pi, "external_account_id": "acme"}),
                    )
                    .await;
                assert_eq!(status, 200, "{body}");
            }
        });
        futures_util::future::join_all(requests).await;
    }
    // Both instances deliver at once, batch after batch, until nothing is due: every send is
    // over when they return, so a duplicate cannot arrive later.
    let (first, other) = futures_util::join!(app.deliver_pending(), second.deliver_pending());
    assert_eq!(first + other, 200, "each event sent once, by one of them");
    let mut per_event: BTreeMap<String, usize> = BTreeMap::new();
    for d in hook.received.lock().unwrap().iter() {
        *per_event.entry(d.event_id.clone()).or_default() += 1;
    }
    assert_eq!(per_event.len(), 200, "200 distinct events");
    assert!(
        per_event.values().all(|n| *n == 1),
        "each delivered exactly once"
    );
}

/// The delivery worker of a running deployment (`workers(true)`) sends merchant events on its own;
/// every other test runs that work itself.
async fn the_background_worker_delivers(backend: Backend) {
    let app = TestApp::builder(backend).workers(true).spawn().await;
    let hook = MerchantEndpoint::start(0);
    let token = app.merchant("acme", "usd").await;
    app.put_account("acme", json!({"webhook_url": hook.url}))
        .await;
    let pi = new_intent(&app, &token, "by-the-worker").await;
    let (status, _) = app
        .post(
            "/v1/payment/cancel",
            &token,
            json!({"payment_id": pi, "external_account_id": "acme"}),
        )
        .await;
    assert_eq!(status, 200);
    eventually(10, "the worker delivers payment.canceled", || async {
        app.pending_deliveries().await == 0 && hook.count() == 1
    })
    .await;
    assert!(hook.received.lock().unwrap()[0]
        .body
        .contains("\"payment.canceled\""));
}

#[actix_web::test]
async fn the_background_worker_delivers_sqlite() {
    the_background_worker_delivers(Backend::Sqlite).await
}

#[actix_web::test]
async fn the_background_worker_delivers_postgres() {
    the_background_worker_delivers(Backend::Postgres).await
}
