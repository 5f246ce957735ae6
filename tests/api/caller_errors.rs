//! Caller mistakes are 4xx naming our field, never a 502 (issue 13): what Stripe refuses of the
//! caller's input (an unknown registration code, an id Stripe does not know), tokens not valid
//! yet or without a subject, and keys given twice in a body or a query.

use crate::both_backends;
use crate::support::app::{TestApp, JWT_SECRET};
use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};

fn assert_error(answer: &(u16, Value), status: u16, param: &str) {
    let (got, body) = answer;
    assert_eq!(*got, status, "{body}");
    assert_eq!(body["error"]["param"], param, "{body}");
    assert_ne!(body["error"]["retryable"], true, "{body}");
}

async fn location(app: &TestApp, token: &str) -> String {
    let (status, location) = app
        .post(
            "/v1/terminal/locations",
            token,
            json!({"external_account_id": "acme", "display_name": "Main St",
                   "address": {"line1": "1 Main St", "city": "Springfield", "country": "us"}}),
        )
        .await;
    assert_eq!(status, 200, "{location}");
    location["id"].as_str().unwrap().to_string()
}

async fn reader(app: &TestApp, token: &str, code: &str, location: Option<&str>) -> (u16, Value) {
    let mut body =
        json!({"external_account_id": "acme", "registration_code": code, "label": "Till 1"});
    if let Some(location) = location {
        body["location"] = json!(location);
    }
    app.post("/v1/terminal/readers", token, body).await
}

both_backends! {
    async fn an_unknown_registration_code_is_the_callers_400(app) {
        let token = app.merchant("acme", "usd").await;
        let answer = reader(&app, &token, "no-such-code", None).await;
        assert_error(&answer, 400, "registration_code");
        assert_eq!(answer.1["error"]["code"], "parameter_invalid", "{}", answer.1);
        assert!(answer.1["error"]["stripe_request_id"].is_string(), "{}", answer.1);
        let (status, listed) = app.get("/v1/terminal/readers?external_account_id=acme", &token).await;
        assert_eq!((status, listed["data"].as_array().map(Vec::len)), (200, Some(0)), "{listed}");
        // The code the simulator knows still registers.
        assert_eq!(reader(&app, &token, "simulated-wpe", None).await.0, 200);
    }

    async fn ids_stripe_does_not_know_are_the_callers_404(app) {
        // A second instance on the same database talks to another Stripe (its own simulator):
        // the reader and the location we recorded do not exist there, as after a deletion in
        // Stripe's dashboard.
        let token = app.merchant("acme", "usd").await;
        let location = location(&app, &token).await;
        let (status, registered) = reader(&app, &token, "simulated-wpe", Some(&location)).await;
        assert_eq!(status, 200, "{registered}");
        let reader_id = registered["id"].as_str().unwrap().to_string();
        let other = app.another_instance(|_| {}).await;

        let answer = other.get(&format!("/v1/terminal/readers/{reader_id}?external_account_id=acme"), &token).await;
        assert_error(&answer, 404, "id");
        assert_eq!(answer.1["error"]["code"], "resource_missing");

        let (status, intent) = other.post("/v1/payment/intent", &token,
            json!({"external_account_id": "acme", "amount": "5.00", "external_transaction_id": "t-1"})).await;
        assert_eq!(status, 200, "{intent}");
        let answer = other.post(&format!("/v1/terminal/readers/{reader_id}/process"), &token,
            json!({"external_account_id": "acme", "payment_id": intent["id"]})).await;
        assert_error(&answer, 404, "id");
        let answer = other.post(&format!("/v1/terminal/readers/{reader_id}/cancel"), &token,
            json!({"external_account_id": "acme"})).await;
        assert_error(&answer, 404, "id");

        let answer = reader(&other, &token, "simulated-wpe", Some(&location)).await;
        assert_error(&answer, 404, "location");
        let answer = other.post("/v1/terminal/connection_token", &token,
            json!({"external_account_id": "acme", "location": location})).await;
        assert_error(&answer, 404, "location");

        // A Checkout Session (setup and payment mode) the caller names by its id.
        let token = app.token(&["acme"], "payments:read payments:write cards:read cards:write terminal");
        let (status, setup) = app.post("/v1/customer/card/checkout", &token, json!({
            "external_account_id": "acme", "external_customer_id": "cust-1",
            "success_url": "https://shop.example/saved", "cancel_url": "https://shop.example/account"})).await;
        assert_eq!(status, 200, "{setup}");
        let answer = other.get(&format!("/v1/customer/card/checkout/{}?external_account_id=acme", setup["session_id"].as_str().unwrap()), &token).await;
        assert_error(&answer, 404, "session_id");
        let (status, pay) = app.post("/v1/checkout", &token, json!({
            "external_account_id": "acme", "reference": "booking-1",
            "items": [{"name": "Room", "amount": "100.00", "quantity": 1}],
            "success_url": "https://hotel.example/booked", "cancel_url": "https://hotel.example/basket"})).await;
        assert_eq!(status, 200, "{pay}");
        let answer = other.get(&format!("/v1/checkout/{}?external_account_id=acme", pay["session_id"].as_str().unwrap()), &token).await;
        assert_error(&answer, 404, "session_id");

        // A payment whose intent the other Stripe does not know: read, void, capture, refund.
        let (status, authorised) = app.post("/v1/payment/intent", &token,
            json!({"external_account_id": "acme", "amount": "7.00", "external_transaction_id": "t-2"})).await;
        assert_eq!(status, 200, "{authorised}");
        let authorised = authorised["id"].as_str().unwrap().to_string();
        let body = json!({"external_account_id": "acme", "payment_id": authorised});
        assert_error(&other.get(&format!("/v1/payment/{authorised}?external_account_id=acme"), &token).await, 404, "payment_id");
        assert_error(&other.post("/v1/payment/cancel", &token, body.clone()).await, 404, "payment_id");
        assert_error(&other.post("/v1/payment/capture", &token, body.clone()).await, 404, "payment_id");
        let till = app.register_reader().await;
        assert_eq!(app.tap_card(&till, &authorised, "4242424242424242").await.0, 200);
        let (status, captured) = app.post("/v1/payment/capture", &token, body.clone()).await;
        assert_eq!(status, 200, "{captured}");
        assert_error(&other.post("/v1/payment/refund", &token, body).await, 404, "payment_id");

        // On the instance whose Stripe knows them, the same requests succeed.
        let (status, body) = app.get(&format!("/v1/terminal/readers/{reader_id}?external_account_id=acme"), &token).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(reader(&app, &token, "simulated-wpe", Some(&location)).await.0, 200);
    }

    async fn tokens_not_valid_yet_or_without_subject_are_401(app) {
        let now = chrono::Utc::now().timestamp();
        let signed = |claims: Value| {
            encode(&Header::default(), &claims, &EncodingKey::from_secret(JWT_SECRET.as_bytes())).unwrap()
        };
        let claims = |extra: Value| {
            let mut c = json!({"sub": "t", "accounts": ["a1"], "scope": "accounts:admin", "exp": now + 3600});
            c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            c
        };
        let cases = [
            (json!({"nbf": now + 600}), Some("token_not_yet_valid")),
            (json!({"iat": now + 600}), Some("token_not_yet_valid")),
            (json!({"sub": ""}), Some("token_invalid")),
            (json!({"sub": "  "}), Some("token_invalid")),
            (json!({"nbf": "soon"}), Some("token_invalid")),
            // Within the leeway, and in the past: accepted.
            (json!({"nbf": now + 10, "iat": now + 10}), None),
            (json!({"nbf": now - 60, "iat": now - 60}), None),
        ];
        for (extra, refused) in cases {
            let token = signed(claims(extra.clone()));
            let (status, body) = app.send(Method::GET, "/v1/accounts/a1", Some(&token), None).await;
            match refused {
                Some(code) => {
                    assert_eq!((status, body["error"]["code"].as_str()), (401, Some(code)), "{extra}: {body}");
                }
                None => assert_eq!(status, 404, "{extra}: {body}"),
            }
        }
    }

    async fn keys_given_twice_are_a_400_naming_them(app) {
        let token = app.merchant("acme", "usd").await;
        app.clear_stripe_calls().await;
        let raw = |body: &'static str| {
            app.exchange(app.client.post(app.url("/v1/payment/intent")).bearer_auth(&token)
                .header("Content-Type", "application/json").body(body))
        };
        for (body, param) in [
            (r#"{"external_account_id": "acme", "amount": "1.00", "amount": "2.00", "external_transaction_id": "d-1"}"#, "amount"),
            (r#"{"external_account_id": "acme", "amount": "1.00", "external_transaction_id": "d-2", "metadata": {"k": "a", "k": "b"}}"#, "metadata.k"),
            (r#"{"external_account_id": "acme", "external_account_id": "acme", "amount": "1.00", "external_transaction_id": "d-3"}"#, "external_account_id"),
        ] {
            let response = raw(body).await;
            assert_error(&(response.status, response.json()), 400, param);
        }
        assert!(app.stripe_calls().await.is_empty(), "no Stripe call for bad input");

        let answer = app.get("/v1/payments?external_account_id=acme&limit=1&limit=2", &token).await;
        assert_error(&answer, 400, "limit");
        let answer = app.get("/v1/payments?external_account_id=acme&external_account_id=acme", &token).await;
        assert_error(&answer, 400, "external_account_id");
        // Once each is fine.
        assert_eq!(app.get("/v1/payments?external_account_id=acme&limit=1", &token).await.0, 200);
        let (status, body) = app.post("/v1/payment/intent", &token,
            json!({"external_account_id": "acme", "amount": "1.00", "external_transaction_id": "d-4", "metadata": {"k": "a"}})).await;
        assert_eq!(status, 200, "{body}");
    }
}
