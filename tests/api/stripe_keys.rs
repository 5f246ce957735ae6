//! Stripe Idempotency-Keys are ours (issue 13): ids of 1 to 255 characters in any script go through
//! intent, saved-card charge, refund, customer and checkout, each surviving a lost Stripe answer
//! (the simulator hangs past our client's timeout) and the caller's retry with exactly one object
//! at Stripe and one row with us. The keys we send are fixed-length visible ASCII.

use crate::support::app::{Backend, TestApp};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";

/// Ids in several scripts, up to 255 characters (far more bytes).
fn unicode_ids() -> Vec<String> {
    vec![
        "sub-ünicode-1".to_string(),
        "注文-東京-42".to_string(),
        "طلب-٧٨-عربي".to_string(),
        "🙂💳-emoji".to_string(),
        "é".repeat(255),
        "🙂".repeat(255),
    ]
}

/// An app whose Stripe client gives up after 800 ms (a 1.5 s hang loses the answer).
async fn short_timeout(backend: Backend) -> TestApp {
    TestApp::spawn_configured(backend, |c| {
        c.stripe_timeout = std::time::Duration::from_millis(800)
    })
    .await
}

/// Like `both_backends!`, with the short Stripe timeout.
macro_rules! both_backends_short_timeout {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn body($app: TestApp) $body
                #[actix_web::test]
                async fn sqlite() {
                    body(short_timeout(Backend::Sqlite).await).await
                }
                #[actix_web::test]
                async fn postgres() {
                    body(short_timeout(Backend::Postgres).await).await
                }
            }
        )*
    };
}

/// The next POST to `path` at Stripe is processed, but its answer comes after our timeout.
async fn lose_next_answer(app: &TestApp, path: &str) {
    app.add_fault(json!({"method": "POST", "path": path, "hang_ms": 1500, "times": 1}))
        .await;
}

/// Every object of a Stripe list endpoint (platform account), newest first.
async fn at_stripe(app: &TestApp, path: &str) -> Vec<Value> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let list = app.sim_get(&format!("{path}{separator}limit=100")).await;
    assert_eq!(list["has_more"], false, "{list}");
    list["data"].as_array().unwrap().clone()
}

/// PaymentIntents at Stripe made for our `external_transaction_id`.
async fn intents_for(app: &TestApp, tx: &str) -> Vec<Value> {
    at_stripe(app, "/v1/payment_intents")
        .await
        .into_iter()
        .filter(|pi| pi["metadata"]["external_transaction_id"] == tx)
        .collect()
}

/// Customers at Stripe made for our `external_customer_id`.
async fn customers_for(app: &TestApp, customer: &str) -> Vec<Value> {
    at_stripe(app, "/v1/customers")
        .await
        .into_iter()
        .filter(|c| c["metadata"]["external_customer_id"] == customer)
        .collect()
}

/// Our payments with this `external_transaction_id`.
async fn ours(app: &TestApp, token: &str, tx: &str) -> Vec<Value> {
    let (status, page) = app
        .get("/v1/payments?external_account_id=acme&limit=100", token)
        .await;
    assert_eq!(status, 200, "{page}");
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["external_transaction_id"] == tx)
        .cloned()
        .collect()
}

/// The Idempotency-Keys of the simulator's logged POSTs to `path`.
async fn keys_sent(app: &TestApp, path: &str) -> Vec<String> {
    let log = app.sim_get("/_sim/requests").await;
    log["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"] == path)
        .map(|r| {
            r["idempotency_key"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

fn assert_ours(key: &str, prefix: &str) {
    let hex = key
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{key} starts with {prefix}"));
    assert_eq!(hex.len(), 64, "{key}");
    assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
}

/// POST with the caller's own `Idempotency-Key`.
async fn post_with_key(
    app: &TestApp,
    path: &str,
    token: &str,
    key: &str,
    body: &Value,
) -> (u16, Value) {
    let response = app
        .exchange(
            app.client
                .post(app.url(path))
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(body),
        )
        .await;
    (response.status, response.json())
}

/// A captured card-present payment for `customer`; returns its id.
async fn captured(app: &TestApp, token: &str, tx: &str, customer: Option<&str>) -> String {
    let mut body =
        json!({"external_account_id": "acme", "amount": "20.00", "external_transaction_id": tx});
    if let Some(c) = customer {
        body["external_customer_id"] = json!(c);
    }
    let (status, intent) = app.post("/v1/payment/intent", token, body).await;
    assert_eq!(status, 200, "{intent}");
    let id = intent["id"].as_str().unwrap().to_string();
    let reader = app.register_reader().await;
    let (status, tapped) = app.tap_card(&reader, &id, VISA).await;
    assert_eq!(status, 200, "{tapped}");
    let (status, body) = app
        .post(
            "/v1/payment/capture",
            token,
            json!({"payment_id": id, "external_account_id": "acme"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    id
}

both_backends_short_timeout! {

async fn intents_with_ids_in_any_script_survive_a_lost_answer(app) {
    let token = app.merchant("acme", "usd").await;
    for tx in unicode_ids() {
        lose_next_answer(&app, "/v1/payment_intents").await;
        let body = json!({"external_account_id": "acme", "amount": "12.00", "external_transaction_id": tx});
        let (status, error) = app.post("/v1/payment/intent", &token, body.clone()).await;
        assert_eq!(status, 504, "{error}");
        let (status, intent) = app.post("/v1/payment/intent", &token, body).await;
        assert_eq!(status, 200, "{tx}: {intent}");
        let found = intents_for(&app, &tx).await;
        assert_eq!(found.len(), 1, "{tx}: exactly one PaymentIntent at Stripe");
        assert_eq!(found[0]["id"], intent["id"]);
        assert_eq!(ours(&app, &token, &tx).await.len(), 1, "{tx}: one payment with us");
    }
    // Every creation went out under a key of ours, the retry under the same one.
    let keys = keys_sent(&app, "/v1/payment_intents").await;
    assert_eq!(keys.len(), 2 * unicode_ids().len());
    for pair in keys.chunks(2) {
        assert_ours(&pair[0], "pi_");
        assert_eq!(pair[0], pair[1]);
    }
}

async fn a_saved_card_charge_with_a_unicode_id_survives_a_lost_answer(app) {
    let token = app.merchant("acme", "usd").await;
    let customer = "клиент-ünicode";
    let paid = captured(&app, &token, "card-source", Some(customer)).await;
    let (status, card) = app
        .post("/v1/customer/card", &token, json!({"payment_id": paid, "external_customer_id": customer, "external_account_id": "acme"}))
        .await;
    assert_eq!(status, 200, "{card}");
    for tx in ["sub-ünicode-1".to_string(), "🙂".repeat(255)] {
        lose_next_answer(&app, "/v1/payment_intents").await;
        let body = json!({"external_account_id": "acme", "external_customer_id": customer,
            "card_id": card["id"], "amount": "9.99", "external_transaction_id": tx});
        let (status, error) = app.post("/v1/payment/charge", &token, body.clone()).await;
        assert_eq!(status, 504, "{error}");
        let (status, charged) = app.post("/v1/payment/charge", &token, body).await;
        assert_eq!((status, charged["status"].as_str()), (200, Some("succeeded")), "{charged}");
        let found = intents_for(&app, &tx).await;
        assert_eq!(found.len(), 1, "exactly one PaymentIntent at Stripe");
        assert_eq!(found[0]["status"], "succeeded");
        assert_eq!(found[0]["amount_received"], 999);
        let rows = ours(&app, &token, &tx).await;
        assert_eq!(rows.len(), 1, "one payment with us");
        assert_eq!(rows[0]["status"], "succeeded");
    }
}

async fn a_customer_with_a_unicode_id_survives_a_lost_answer(app) {
    let token = app.merchant("acme", "usd").await;
    let long = "客".repeat(255);
    for (n, customer) in ["ünicode-kunde", "עברית-לקוח", long.as_str()].into_iter().enumerate() {
        lose_next_answer(&app, "/v1/customers").await;
        let body = json!({"external_account_id": "acme", "amount": "5.00",
            "external_transaction_id": format!("cust-{n}"), "external_customer_id": customer});
        let (status, error) = app.post("/v1/payment/intent", &token, body.clone()).await;
        assert_eq!(status, 504, "{error}");
        let (status, intent) = app.post("/v1/payment/intent", &token, body).await;
        assert_eq!(status, 200, "{intent}");
        assert_eq!(intent["external_customer_id"], customer);
        let found = customers_for(&app, customer).await;
        assert_eq!(found.len(), 1, "exactly one customer at Stripe");
        assert_eq!(intent["customer_id"], found[0]["id"]);
        // A later payment for the same customer finds it with us: no new Stripe customer.
        let body = json!({"external_account_id": "acme", "amount": "6.00",
            "external_transaction_id": format!("cust-{n}-again"), "external_customer_id": customer});
        let (status, again) = app.post("/v1/payment/intent", &token, body).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["customer_id"], found[0]["id"]);
        assert_eq!(customers_for(&app, customer).await.len(), 1);
    }
    for key in keys_sent(&app, "/v1/customers").await {
        assert_ours(&key, "cus_");
    }
}

async fn a_refund_with_a_255_character_key_survives_a_lost_answer(app) {
    let token = app.merchant("acme", "usd").await;
    let id = captured(&app, &token, "to-refund", None).await;
    let (_, payment) = app.get(&format!("/v1/payment/{id}?external_account_id=acme"), &token).await;
    let intent_id = payment["id"].as_str().unwrap().to_string();
    let key = format!("refund-{}", "x".repeat(248));
    assert_eq!(key.len(), 255);
    lose_next_answer(&app, "/v1/refunds").await;
    let body = json!({"payment_id": id, "external_account_id": "acme", "amount": "7.50"});
    let (status, error) = post_with_key(&app, "/v1/payment/refund", &token, &key, &body).await;
    assert_eq!(status, 504, "{error}");
    let (status, refunded) = post_with_key(&app, "/v1/payment/refund", &token, &key, &body).await;
    assert_eq!(status, 200, "{refunded}");
    assert_eq!(refunded["amount_refunded"], "7.50");
    let refunds = at_stripe(&app, &format!("/v1/refunds?payment_intent={intent_id}")).await;
    assert_eq!(refunds.len(), 1, "exactly one refund at Stripe");
    assert_eq!(refunds[0]["amount"], 750);
    let keys = keys_sent(&app, "/v1/refunds").await;
    assert_eq!(keys.len(), 2);
    assert_ours(&keys[0], "re_");
    assert_eq!(keys[0], keys[1]);
    // Listed once with us.
    let (_, record) = app.get(&format!("/v1/payment/{id}?external_account_id=acme"), &token).await;
    assert_eq!(record["amount_refunded"], "7.50");
}

async fn checkout_with_unicode_ids_survives_lost_answers(app) {
    let token = app.merchant("acme", "usd").await;
    let reference = "予約-ünicode-🙂";
    let customer = "gäst-客人";
    let body = json!({
        "external_account_id": "acme",
        "reference": reference,
        "external_customer_id": customer,
        "items": [{"name": "Zimmer", "amount": "80.00", "quantity": 1}],
        "success_url": "https://hotel.example/booked",
        "cancel_url": "https://hotel.example/basket",
    });
    // The customer's creation, then the session's, lose their answers.
    lose_next_answer(&app, "/v1/customers").await;
    let (status, error) = app.post("/v1/checkout", &token, body.clone()).await;
    assert_eq!(status, 504, "{error}");
    lose_next_answer(&app, "/v1/checkout/sessions").await;
    let (status, error) = app.post("/v1/checkout", &token, body.clone()).await;
    assert_eq!(status, 504, "{error}");
    let (status, session) = app.post("/v1/checkout", &token, body).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["status"], "open");
    assert_eq!(customers_for(&app, customer).await.len(), 1, "exactly one customer at Stripe");
    // One open session at Stripe for the reference: the one whose answer was lost was expired.
    let sessions: Vec<Value> = at_stripe(&app, "/v1/checkout/sessions")
        .await
        .into_iter()
        .filter(|s| s["client_reference_id"] == reference)
        .collect();
    let open: Vec<&Value> = sessions.iter().filter(|s| s["status"] == "open").collect();
    assert_eq!(open.len(), 1, "{sessions:#?}");
    assert_eq!(open[0]["id"], session["session_id"]);
    assert!(sessions.iter().all(|s| s["status"] == "open" || s["status"] == "expired"));
    let (status, read) = app
        .get(&format!("/v1/checkout/{}?external_account_id=acme", session["session_id"].as_str().unwrap()), &token)
        .await;
    assert_eq!((status, &read["status"]), (200, &json!("open")), "{read}");
    assert_eq!(read["external_customer_id"], customer);
}

async fn a_card_saving_session_with_a_unicode_customer_survives_a_lost_answer(app) {
    let token = app.merchant("acme", "usd").await;
    let customer = "👩‍💻-κλιέντ-".repeat(20);
    assert!(customer.chars().count() <= 255);
    let body = json!({
        "external_account_id": "acme",
        "external_customer_id": customer,
        "success_url": "https://shop.example/card-saved",
        "cancel_url": "https://shop.example/account",
    });
    lose_next_answer(&app, "/v1/customers").await;
    let (status, error) = app.post("/v1/customer/card/checkout", &token, body.clone()).await;
    assert_eq!(status, 504, "{error}");
    let (status, session) = app.post("/v1/customer/card/checkout", &token, body).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["external_customer_id"], customer.as_str());
    let found = customers_for(&app, &customer).await;
    assert_eq!(found.len(), 1, "exactly one customer at Stripe");
    assert_eq!(session["customer_id"], found[0]["id"]);
}

}

crate::both_backends! {

async fn ids_of_255_characters_are_accepted_and_256_refused_without_stripe(app) {
    let token = app.merchant("acme", "usd").await;
    let (status, intent) = app
        .post("/v1/payment/intent", &token, json!({"external_account_id": "acme", "amount": "1.00",
            "external_transaction_id": "t".repeat(255), "external_customer_id": "ü".repeat(255)}))
        .await;
    assert_eq!(status, 200, "{intent}");
    app.clear_stripe_calls().await;
    for (tx, customer, param) in [
        ("t".repeat(256), "c".to_string(), "external_transaction_id"),
        ("🙂".repeat(256), "c".to_string(), "external_transaction_id"),
        ("t".to_string(), "ü".repeat(256), "external_customer_id"),
    ] {
        let (status, error) = app
            .post("/v1/payment/intent", &token, json!({"external_account_id": "acme", "amount": "1.00",
                "external_transaction_id": tx, "external_customer_id": customer}))
            .await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some(param)), "{error}");
    }
    let (status, error) = app
        .post("/v1/payment/charge", &token, json!({"external_account_id": "acme", "external_customer_id": "c",
            "card_id": "card", "amount": "1.00", "external_transaction_id": "x".repeat(256)}))
        .await;
    assert_eq!((status, error["error"]["param"].as_str()), (400, Some("external_transaction_id")), "{error}");
    assert!(app.stripe_calls().await.is_empty(), "no Stripe call for bad input");
}

}
