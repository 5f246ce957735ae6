//! The card-present card-on-file flow: intent → reader → capture → save card (issue 5).

use crate::both_backends;
use crate::support::app::TestApp;
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";
const MASTERCARD: &str = "5555555555554444";
const DECLINED: &str = "4000000000000002";
const WALLET: &str = "4111111111111111";

fn intent_body(account: &str, tx: &str, amount: Value, customer: Option<&str>) -> Value {
    let mut body = json!({
        "external_account_id": account,
        "amount": amount,
        "payment_method_types": "card_present",
        "capture_method": "manual",
        "external_transaction_id": tx,
    });
    if let Some(c) = customer {
        body["external_customer_id"] = json!(c);
    }
    body
}

/// Creates an intent, taps `card` and returns the payment id.
async fn authorised(
    app: &TestApp,
    token: &str,
    reader: &str,
    tx: &str,
    customer: Option<&str>,
    card: &str,
) -> String {
    let (status, intent) = app
        .post(
            "/v1/payment/intent",
            token,
            intent_body("acme", tx, json!(12.99), customer),
        )
        .await;
    assert_eq!(status, 200, "{intent}");
    let id = intent["id"].as_str().unwrap().to_string();
    let (status, tapped) = app.tap_card(reader, &id, card).await;
    assert_eq!(status, 200, "{tapped}");
    id
}

async fn capture(app: &TestApp, token: &str, id: &str, amount: Option<&str>) -> (u16, Value) {
    let mut body = json!({"payment_id": id, "external_account_id": "acme"});
    if let Some(a) = amount {
        body["amount"] = json!(a);
    }
    app.post("/v1/payment/capture", token, body).await
}

async fn save_card(app: &TestApp, token: &str, id: &str, customer: &str) -> (u16, Value) {
    app.post(
        "/v1/customer/card",
        token,
        json!({"payment_id": id, "external_customer_id": customer, "external_account_id": "acme"}),
    )
    .await
}

both_backends! {
    async fn seed_flow_end_to_end(app) {
        let token = app.merchant("acme", "usd").await;
        let (status, intent) = app
            .post("/v1/payment/intent", &token, intent_body("acme", "tx-1", json!(12.99), Some("customer_12345")))
            .await;
        assert_eq!(status, 200, "{intent}");
        let id = intent["id"].as_str().unwrap();
        assert!(id.starts_with("pi_"));
        assert!(intent["client_secret"].as_str().unwrap().starts_with(&format!("{id}_secret_")));
        assert_eq!(intent["status"], "requires_payment_method");
        assert_eq!(intent["amount"], "12.99");
        assert_eq!(intent["currency"], "usd");
        assert_eq!(intent["capture_method"], "manual");
        assert_eq!(intent["external_account_id"], "acme");
        assert_eq!(intent["external_transaction_id"], "tx-1");
        assert_eq!(intent["external_customer_id"], "customer_12345");
        let customer_id = intent["customer_id"].as_str().unwrap();

        // At Stripe: a card_present manual-capture intent set up for saving the card.
        let pi = app.sim_get(&format!("/v1/payment_intents/{id}")).await;
        assert_eq!(pi["amount"], 1299);
        assert_eq!(pi["payment_method_types"], json!(["card_present"]));
        assert_eq!(pi["capture_method"], "manual");
        assert_eq!(pi["customer"], customer_id);
        assert_eq!(pi["setup_future_usage"], "off_session");
        assert_eq!(pi["metadata"]["external_transaction_id"], "tx-1");
        assert_eq!(pi["metadata"]["external_customer_id"], "customer_12345");
        let customer = app.sim_get(&format!("/v1/customers/{customer_id}")).await;
        assert_eq!(customer["metadata"]["external_customer_id"], "customer_12345");

        let reader = app.register_reader().await;
        let (status, tapped) = app.tap_card(&reader, id, VISA).await;
        assert_eq!(status, 200, "{tapped}");

        let (status, captured) = capture(&app, &token, id, Some("12.99")).await;
        assert_eq!(status, 200, "{captured}");
        assert_eq!(captured["status"], "succeeded");
        assert_eq!(captured["amount_captured"], "12.99");

        let (status, card) = save_card(&app, &token, id, "customer_12345").await;
        assert_eq!(status, 200, "{card}");
        assert_eq!(card["brand"], "visa");
        assert_eq!(card["last4"], "4242");
        assert!(card["exp_month"].as_i64().unwrap() >= 1);
        assert!(card["exp_year"].as_i64().unwrap() >= 2026);
        assert_eq!(card["customer_id"], customer_id);
        assert_eq!(card["external_customer_id"], "customer_12345");
        let pm = card["payment_method_id"].as_str().unwrap();
        assert!(pm.starts_with("pm_"));
        // The saved card is a reusable card on the Stripe customer.
        let method = app.sim_get(&format!("/v1/payment_methods/{pm}")).await;
        assert_eq!(method["type"], "card");
        assert_eq!(method["customer"], customer_id);

        // Our record, read back.
        let (status, record) = app.get(&format!("/v1/payment/{id}?external_account_id=acme"), &token).await;
        assert_eq!(status, 200, "{record}");
        assert_eq!(record["status"], "succeeded");
        assert_eq!(record["amount"], "12.99");
        assert_eq!(record["amount_captured"], "12.99");
        assert!(record.get("client_secret").is_none(), "the client secret is only in the intent answer");
        let actions: Vec<&str> = record["history"].as_array().unwrap().iter().map(|h| h["action"].as_str().unwrap()).collect();
        assert_eq!(actions.first(), Some(&"create"));
        assert!(actions.contains(&"capture") || actions.contains(&"webhook"), "{actions:?}");
        // Who did what: our calls carry the token's subject; what Stripe told us by webhook, "stripe".
        let history = record["history"].as_array().unwrap();
        assert!(history.iter().all(|h| h["actor"] == "test-suite" || h["actor"] == "stripe"), "{record}");
        assert!(history.iter().any(|h| h["action"] == "create" && h["actor"] == "test-suite"));
    }

    async fn amounts_are_exact(app) {
        let token = app.merchant("acme", "usd").await;
        let (s, number) = app.post("/v1/payment/intent", &token, intent_body("acme", "n", json!(12.99), None)).await;
        let (s2, string) = app.post("/v1/payment/intent", &token, intent_body("acme", "s", json!("12.99"), None)).await;
        assert_eq!((s, s2), (200, 200));
        for intent in [&number, &string] {
            assert_eq!(intent["amount"], "12.99");
            let pi = app.sim_get(&format!("/v1/payment_intents/{}", intent["id"].as_str().unwrap())).await;
            assert_eq!(pi["amount"], 1299);
        }
        let mut yen = intent_body("acme", "jpy", json!(1299), None);
        yen["currency"] = json!("jpy");
        let (s, intent) = app.post("/v1/payment/intent", &token, yen).await;
        assert_eq!(s, 200, "{intent}");
        assert_eq!(intent["amount"], "1299");
        let pi = app.sim_get(&format!("/v1/payment_intents/{}", intent["id"].as_str().unwrap())).await;
        assert_eq!((pi["amount"].as_i64(), pi["currency"].as_str()), (Some(1299), Some("jpy")));
        // Stripe's special cases: UGX and ISK are whole units sent with two zero decimals, KWD has
        // three. The simulator keeps its own table, so a wrong exponent here is a wrong charge there.
        // Amounts come back in the currency's Stripe precision.
        let special = [("ugx", "5000", "5000.00", 500_000), ("isk", "1500", "1500.00", 150_000), ("kwd", "12.34", "12.340", 12_340)];
        for (currency, amount, shown, minor) in special {
            let mut body = intent_body("acme", currency, json!(amount), None);
            body["currency"] = json!(currency);
            let (s, intent) = app.post("/v1/payment/intent", &token, body).await;
            assert_eq!((s, intent["amount"].as_str()), (200, Some(shown)), "{intent}");
            let pi = app.sim_get(&format!("/v1/payment_intents/{}", intent["id"].as_str().unwrap())).await;
            assert_eq!((pi["amount"].as_i64(), pi["currency"].as_str()), (Some(minor), Some(currency)));
        }

        app.clear_stripe_calls().await;
        // A JSON number in exponent notation, exactly as a client would send it.
        let raw = r#"{"external_account_id":"acme","amount":1e3,"external_transaction_id":"exp"}"#;
        let response = app.exchange(app.client.post(app.url("/v1/payment/intent")).bearer_auth(&token)
            .header("Content-Type", "application/json").body(raw)).await;
        assert_eq!(response.status, 400);
        let error = response.json();
        assert_eq!(error["error"]["param"], "amount", "{error}");
        let bad = [json!(12.999), json!(0), json!(-1), json!("1e3"), json!("abc"), json!("1000000.00"), json!(0.49), json!(null), json!(true)];
        for (i, amount) in bad.iter().enumerate() {
            let (status, error) = app
                .post("/v1/payment/intent", &token, intent_body("acme", &format!("bad-{i}"), amount.clone(), None))
                .await;
            assert_eq!(status, 400, "{amount} → {error}");
            assert_eq!(error["error"]["param"], "amount", "{amount} → {error}");
        }
        let (status, error) = app
            .post("/v1/payment/intent", &token, json!({"external_account_id": "acme", "external_transaction_id": "m"}))
            .await;
        assert_eq!((status, error["error"]["code"].as_str()), (400, Some("parameter_missing")), "{error}");
        assert_eq!(error["error"]["param"], "amount");
        let mut interac = intent_body("acme", "interac", json!(5), None);
        interac["payment_method_types"] = json!(["card_present", "interac_present"]);
        let (status, error) = app.post("/v1/payment/intent", &token, interac).await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("payment_method_types")), "{error}");
        for (field, value) in [("capture_method", json!("later")), ("currency", json!("xyz")), ("payment_method_types", json!("card"))] {
            let mut body = intent_body("acme", "f", json!(5), None);
            body[field] = value;
            let (status, error) = app.post("/v1/payment/intent", &token, body).await;
            assert_eq!((status, error["error"]["param"].as_str()), (400, Some(field)), "{error}");
        }
        assert_eq!(app.stripe_calls().await, vec![], "no invalid request reached Stripe");
    }

    async fn interac_on_a_cad_account(app) {
        let token = app.merchant("maple", "cad").await;
        let mut body = intent_body("maple", "interac-ok", json!("5.00"), None);
        body["payment_method_types"] = json!(["card_present", "interac_present"]);
        let (status, intent) = app.post("/v1/payment/intent", &token, body).await;
        assert_eq!(status, 200, "{intent}");
        assert_eq!((intent["currency"].as_str(), &intent["payment_method_types"]), (Some("cad"), &json!(["card_present", "interac_present"])));
        let pi = app.sim_get(&format!("/v1/payment_intents/{}", intent["id"].as_str().unwrap())).await;
        assert_eq!((pi["currency"].as_str(), &pi["payment_method_types"], &pi["amount"]), (Some("cad"), &json!(["card_present", "interac_present"]), &json!(500)), "{pi}");
    }

    async fn intents_are_idempotent(app) {
        let token = app.merchant("acme", "usd").await;
        app.clear_stripe_calls().await;
        let body = intent_body("acme", "same-tx", json!("20.00"), Some("cust-idem"));
        let (_, first) = app.post("/v1/payment/intent", &token, body.clone()).await;
        let id = first["id"].as_str().unwrap().to_string();
        let calls = app.stripe_calls().await;
        let post = |path: &str| ("POST".to_string(), path.to_string());
        assert_eq!(calls, vec![post("/v1/customers"), post("/v1/payment_intents")]);
        let (status, again) = app.post("/v1/payment/intent", &token, body.clone()).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(first["id"], again["id"]);
        assert_eq!(first["client_secret"], again["client_secret"]);
        // The repeat only reads the intent back (for its client secret): no second PaymentIntent.
        assert_eq!(app.stripe_calls().await[calls.len()..], [("GET".to_string(), format!("/v1/payment_intents/{id}"))]);
        app.clear_stripe_calls().await;

        let requests: Vec<_> = (0..20)
            .map(|_| app.post("/v1/payment/intent", &token, intent_body("acme", "burst", json!(7.5), None)))
            .collect();
        let answers = futures_util::future::join_all(requests).await;
        let ids: std::collections::BTreeSet<String> = answers
            .iter()
            .map(|(status, body)| {
                assert_eq!(*status, 200, "{body}");
                body["id"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(ids.len(), 1, "20 concurrent identical requests, one payment");
        // Concurrent duplicates may each send the creation, all with the same Idempotency-Key: one
        // Stripe object for "burst".
        let pis = app.sim_get("/v1/payment_intents/search?query=metadata%5B%27external_transaction_id%27%5D%3A%27burst%27").await;
        assert_eq!(pis["data"].as_array().unwrap().len(), 1, "{pis}");

        let (status, conflict) = app.post("/v1/payment/intent", &token, intent_body("acme", "same-tx", json!("20.01"), Some("cust-idem"))).await;
        assert_eq!(status, 409, "{conflict}");
        assert_eq!(conflict["error"]["code"], "idempotency_conflict");
    }

    async fn decline_then_another_card(app) {
        let token = app.merchant("acme", "usd").await;
        let reader = app.register_reader().await;
        let (_, intent) = app.post("/v1/payment/intent", &token, intent_body("acme", "decline", json!(12.99), None)).await;
        let id = intent["id"].as_str().unwrap();
        app.tap_card(&reader, id, DECLINED).await;
        let (_, record) = app.get(&format!("/v1/payment/{id}?external_account_id=acme"), &token).await;
        assert_eq!(record["status"], "requires_payment_method");
        let (status, error) = capture(&app, &token, id, None).await;
        assert_eq!(status, 409, "{error}");
        assert_eq!(error["error"]["code"], "payment_not_capturable");
        assert_eq!(error["error"]["payment_status"], "requires_payment_method");
        let (status, tapped) = app.tap_card(&reader, id, MASTERCARD).await;
        assert_eq!(status, 200, "{tapped}");
        let (status, captured) = capture(&app, &token, id, None).await;
        assert_eq!(status, 200, "{captured}");
        assert_eq!(captured["status"], "succeeded");
        assert_eq!(captured["amount_captured"], "12.99");
    }

    async fn partial_capture_and_repeat(app) {
        let token = app.merchant("acme", "usd").await;
        let reader = app.register_reader().await;
        let id = authorised(&app, &token, &reader, "partial", None, VISA).await;
        // Above the authorisation beyond what overcapture allows (tips: tests/api/tips.rs).
        let (status, error) = capture(&app, &token, &id, Some("63.00")).await;
        assert_eq!((status, error["error"]["param"].as_str()), (409, Some("amount")), "{error}");
        let (status, first) = capture(&app, &token, &id, Some("10.00")).await;
        assert_eq!(status, 200, "{first}");
        assert_eq!(first["amount_captured"], "10.00");
        app.clear_stripe_calls().await;
        let (status, second) = capture(&app, &token, &id, Some("10.00")).await;
        assert_eq!(status, 200, "{second}");
        assert_eq!(first, second, "repeating a completed capture returns the same result");
        assert_eq!(app.stripe_calls().await, vec![]);
        let pi = app.sim_get(&format!("/v1/payment_intents/{id}")).await;
        assert_eq!(pi["amount_received"], 1000);
    }

    async fn save_card_rules(app) {
        let token = app.merchant("acme", "usd").await;
        let reader = app.register_reader().await;

        let uncaptured = authorised(&app, &token, &reader, "uncaptured", Some("alice"), VISA).await;
        let (status, error) = save_card(&app, &token, &uncaptured, "alice").await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("payment_not_captured")), "{error}");

        let anonymous = authorised(&app, &token, &reader, "anonymous", None, VISA).await;
        capture(&app, &token, &anonymous, None).await;
        let (status, error) = save_card(&app, &token, &anonymous, "alice").await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("card_not_saveable")), "{error}");

        let wallet = authorised(&app, &token, &reader, "wallet", Some("alice"), WALLET).await;
        capture(&app, &token, &wallet, None).await;
        let (status, error) = save_card(&app, &token, &wallet, "alice").await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("card_not_saveable")), "{error}");

        let paid = authorised(&app, &token, &reader, "paid", Some("alice"), VISA).await;
        capture(&app, &token, &paid, None).await;
        let (status, error) = save_card(&app, &token, &paid, "bob").await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("customer_mismatch")), "{error}");

        let (status, card) = save_card(&app, &token, &paid, "alice").await;
        assert_eq!(status, 200, "{card}");
        let (status, again) = save_card(&app, &token, &paid, "alice").await;
        assert_eq!((status, &again), (200, &card), "saving twice returns the same card");

        let later = authorised(&app, &token, &reader, "later", Some("alice"), VISA).await;
        capture(&app, &token, &later, None).await;
        let (status, same) = save_card(&app, &token, &later, "alice").await;
        assert_eq!(status, 200, "{same}");
        assert_eq!(same["id"], card["id"], "the same physical card is not saved twice");

        let other = authorised(&app, &token, &reader, "other-card", Some("alice"), MASTERCARD).await;
        capture(&app, &token, &other, None).await;
        let (_, second_card) = save_card(&app, &token, &other, "alice").await;
        assert_ne!(second_card["id"], card["id"]);
        assert_eq!(second_card["brand"], "mastercard");
    }

    async fn accounts_are_isolated(app) {
        let token_a = app.merchant("acme", "usd").await;
        let token_b = app.merchant("bravo", "usd").await;
        let reader = app.register_reader().await;
        let id = authorised(&app, &token_a, &reader, "iso", Some("carol"), VISA).await;
        let (status, _) = app
            .post("/v1/payment/capture", &token_b, json!({"payment_id": id, "external_account_id": "bravo"}))
            .await;
        assert_eq!(status, 404);
        let (status, _) = app.get(&format!("/v1/payment/{id}?external_account_id=bravo"), &token_b).await;
        assert_eq!(status, 404);
        let (status, _) = app
            .post("/v1/customer/card", &token_b, json!({"payment_id": id, "external_customer_id": "carol", "external_account_id": "bravo"}))
            .await;
        assert_eq!(status, 404);
        // B's token cannot name A's account at all.
        let (status, error) = app.get(&format!("/v1/payment/{id}?external_account_id=acme"), &token_b).await;
        assert_eq!((status, error["error"]["code"].as_str()), (403, Some("account_forbidden")));
        // An unknown account is 404.
        let ghost = app.token(&["ghost"], "payments:write");
        let (status, _) = app.post("/v1/payment/intent", &ghost, intent_body("ghost", "g", json!(5), None)).await;
        assert_eq!(status, 404);
        // A's payment is untouched.
        let (status, captured) = capture(&app, &token_a, &id, None).await;
        assert_eq!((status, captured["status"].as_str()), (200, Some("succeeded")));
    }

    async fn stripe_calls_per_operation(app) {
        let token = app.merchant("acme", "usd").await;
        let reader = app.register_reader().await;
        app.clear_stripe_calls().await;
        let (_, intent) = app.post("/v1/payment/intent", &token, intent_body("acme", "count-1", json!(5), Some("dave"))).await;
        let calls = app.stripe_calls().await;
        assert_eq!(calls, vec![("POST".into(), "/v1/customers".into()), ("POST".into(), "/v1/payment_intents".into())]);

        app.clear_stripe_calls().await;
        let (_, second) = app.post("/v1/payment/intent", &token, intent_body("acme", "count-2", json!(5), Some("dave"))).await;
        assert_eq!(app.stripe_calls().await, vec![("POST".into(), "/v1/payment_intents".into())]);

        let id = second["id"].as_str().unwrap();
        app.tap_card(&reader, id, VISA).await;
        app.clear_stripe_calls().await;
        capture(&app, &token, id, None).await;
        assert_eq!(app.stripe_calls().await, vec![("POST".into(), format!("/v1/payment_intents/{id}/capture"))]);

        app.clear_stripe_calls().await;
        let (status, _) = save_card(&app, &token, id, "dave").await;
        assert_eq!(status, 200);
        assert_eq!(app.stripe_calls().await, vec![("GET".into(), format!("/v1/payment_intents/{id}"))]);
        assert!(intent["id"].is_string());
    }
}

/// Stripe creates the intent but answers after the client's timeout: the caller sees 504, and its
/// retry returns that same intent.
async fn timeout_healed_by_retry(app: TestApp) {
    let token = app.merchant("acme", "usd").await;
    app.add_fault(
        json!({"method": "POST", "path": "/v1/payment_intents", "hang_ms": 2000, "times": 1}),
    )
    .await;
    let body = intent_body("acme", "hang-tx", json!(30), None);
    let (status, error) = app.post("/v1/payment/intent", &token, body.clone()).await;
    assert_eq!(status, 504, "{error}");
    assert_eq!(error["error"]["retryable"], true);
    let (status, intent) = app.post("/v1/payment/intent", &token, body).await;
    assert_eq!(status, 200, "{intent}");
    let found = app.sim_get("/v1/payment_intents/search?query=metadata%5B%27external_transaction_id%27%5D%3A%27hang-tx%27").await;
    let found = found["data"].as_array().unwrap();
    assert_eq!(found.len(), 1, "exactly one PaymentIntent exists");
    assert_eq!(found[0]["id"], intent["id"]);
}

async fn short_timeout_app(backend: crate::support::app::Backend) -> TestApp {
    TestApp::spawn_configured(backend, |c| {
        c.stripe_timeout = std::time::Duration::from_millis(1000)
    })
    .await
}

#[actix_web::test]
async fn a_timeout_after_creation_is_healed_by_the_retry_sqlite() {
    timeout_healed_by_retry(short_timeout_app(crate::support::app::Backend::Sqlite).await).await
}

#[actix_web::test]
async fn a_timeout_after_creation_is_healed_by_the_retry_postgres() {
    timeout_healed_by_retry(short_timeout_app(crate::support::app::Backend::Postgres).await).await
}

// Stripe refusing what we sent (a bug on our side, not the caller's): 502 `stripe_request_failed`
// naming Stripe's request id, not retried, nothing charged; the caller's retry goes through.
both_backends! {
    async fn a_stripe_4xx_caused_by_us_is_a_502_with_the_request_id(app) {
        let token = app.merchant("acme", "usd").await;
        app.add_fault(json!({"method": "POST", "path": "/v1/payment_intents", "error_rate": 1.0, "error_status": 400, "times": 1})).await;
        app.clear_stripe_calls().await;
        let body = intent_body("acme", "rejected-tx", json!("12.99"), None);
        let (status, error) = app.post("/v1/payment/intent", &token, body.clone()).await;
        assert_eq!(status, 502, "{error}");
        assert_eq!(error["error"]["code"], "stripe_request_failed");
        assert!(error["error"]["stripe_request_id"].as_str().is_some_and(|id| id.starts_with("req_")), "{error}");
        assert_ne!(error["error"]["retryable"], true, "{error}");
        let creations = app.stripe_calls().await.into_iter().filter(|(m, p)| m == "POST" && p == "/v1/payment_intents").count();
        assert_eq!(creations, 1, "a 400 is not retried");
        let (status, intent) = app.post("/v1/payment/intent", &token, body).await;
        assert_eq!(status, 200, "{intent}");
        assert_eq!(intent["status"], "requires_payment_method");
    }
}
