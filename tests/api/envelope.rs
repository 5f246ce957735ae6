//! Every failure, including actix's own, answers with the JSON error envelope.

use crate::both_backends;
use reqwest::Method;

async fn raw(
    app: &crate::support::app::TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(app.token(&["*"], "accounts:admin"))
        .body(body);
    if let Some(ct) = content_type {
        request = request.header("Content-Type", ct);
    }
    let response = app.exchange(request).await;
    assert_eq!(
        response.headers["content-type"], "application/json",
        "{path}"
    );
    assert!(response.headers.contains_key("x-request-id"));
    (response.status, response.json())
}

both_backends! {
    async fn malformed_inputs_get_the_envelope(app) {
        let json = Some("application/json");
        let (s, e) = raw(&app, Method::PUT, "/v1/accounts/x", json, b"{not json".to_vec()).await;
        assert_eq!((s, e["error"]["code"].as_str()), (400, Some("body_invalid_json")), "{e}");

        let (s, e) = raw(&app, Method::PUT, "/v1/accounts/x", Some("text/plain"), b"{}".to_vec()).await;
        assert_eq!((s, e["error"]["code"].as_str()), (415, Some("content_type_invalid")), "{e}");

        let (s, e) = raw(&app, Method::PUT, "/v1/accounts/x", None, b"{}".to_vec()).await;
        assert_eq!(s, 415, "{e}");

        let (s, e) = raw(&app, Method::PUT, "/v1/accounts/x", json, br#"{"surprise": 1}"#.to_vec()).await;
        assert_eq!((s, e["error"]["code"].as_str(), e["error"]["param"].as_str()), (400, Some("parameter_unknown"), Some("surprise")), "{e}");

        let (s, e) = raw(&app, Method::PUT, "/v1/accounts/x", json, br#"{"display_name": ["a"]}"#.to_vec()).await;
        assert_eq!((s, e["error"]["param"].as_str()), (400, Some("display_name")), "{e}");

        let (s, e) = raw(&app, Method::PUT, "/v1/accounts/x", json, b"[1, 2]".to_vec()).await;
        assert_eq!(s, 400, "{e}");

        let mut big = br#"{"display_name": ""#.to_vec();
        big.extend(std::iter::repeat_n(b'a', 70 * 1024));
        big.extend(br#""}"#);
        let (s, e) = raw(&app, Method::PUT, "/v1/accounts/x", json, big).await;
        assert_eq!((s, e["error"]["code"].as_str()), (413, Some("body_too_large")), "{e}");
    }

    async fn bodies_must_be_json_objects(app) {
        let json = Some("application/json");
        for body in [r#"["Evil Name", "jpy"]"#, "[]", "1", "null", r#""acme""#, " \n [{}]"] {
            let (s, e) = raw(&app, Method::PUT, "/v1/accounts/acme", json, body.into()).await;
            assert_eq!((s, e["error"]["code"].as_str()), (400, Some("body_invalid")), "{body} {e}");
        }
        let (s, e) = raw(&app, Method::GET, "/v1/accounts/acme", None, vec![]).await;
        assert_eq!(s, 404, "no account was created or changed: {e}");
        let (s, e) = raw(&app, Method::PUT, "/v1/accounts/acme", json, b" {} ".to_vec()).await;
        assert_eq!(s, 201, "{e}");
    }

    async fn nul_characters_are_a_400_naming_the_field(app) {
        let token = app.merchant("m1", "usd").await;
        app.clear_stripe_calls().await;
        let intent = |extra: serde_json::Value| {
            let mut body = serde_json::json!({
                "external_account_id": "m1", "amount": "10.00", "external_transaction_id": "t1",
            });
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            body
        };
        let bodies = [
            (intent(serde_json::json!({"description": "a\u{0}b"})), "description"),
            (intent(serde_json::json!({"metadata": {"till": "7\u{0}"}})), "metadata.till"),
            (intent(serde_json::json!({"metadata": {"ti\u{0}ll": "7"}})), "metadata.ti\\u0000ll"),
            (intent(serde_json::json!({"external_transaction_id": "\u{0}"})), "external_transaction_id"),
            (intent(serde_json::json!({"payment_method_types": ["card_present", "x\u{0}"]})), "payment_method_types[1]"),
        ];
        for (body, param) in bodies {
            let (s, e) = app.post("/v1/payment/intent", &token, body.clone()).await;
            assert_eq!((s, e["error"]["param"].as_str()), (400, Some(param)), "{body} {e}");
            assert_eq!(e["error"]["code"], "parameter_invalid", "{e}");
        }
        assert_eq!(app.stripe_calls().await, vec![], "no request with a NUL reached Stripe");

        let admin = app.token(&["*"], "accounts:admin");
        let (s, e) = app.put_account("m1", serde_json::json!({"display_name": "M\u{0}"})).await;
        assert_eq!((s, e["error"]["param"].as_str()), (400, Some("display_name")), "{e}");
        let paths = [
            ("/v1/accounts/a%00b", "external_account_id", admin.as_str()),
            ("/v1/payment/pi_1%00?external_account_id=m1", "payment_id", &token),
            ("/v1/payments?external_account_id=m1%00", "external_account_id", &token),
            ("/v1/payments?external_account_id=m1&status=x%00", "status", &token),
            ("/v1/customer/cards?external_account_id=m1&external_customer_id=%00", "external_customer_id", &token),
            ("/v1/terminal/readers/tmr_1%00?external_account_id=m1", "id", &token),
        ];
        for (path, param, token) in paths {
            let (s, e) = app.get(path, token).await;
            assert_eq!((s, e["error"]["param"].as_str()), (400, Some(param)), "{path} {e}");
        }
        let (s, e) = app
            .send(Method::DELETE, "/v1/customer/card/x%00?external_account_id=m1", Some(&token), None)
            .await;
        assert_eq!((s, e["error"]["param"].as_str()), (400, Some("id")), "{e}");
        assert_eq!(app.stripe_calls().await, vec![], "no request with a NUL reached Stripe");
        // An unknown path stays a 404, NUL or not.
        let (s, _) = app.get("/v1/nothing%00here", &token).await;
        assert_eq!(s, 404);
    }

    async fn unknown_routes_and_methods_get_the_envelope(app) {
        for path in ["/v1/nothing-here", "/v1/payment", "/v1/payment/pi_1/extra", "/healthz/x"] {
            let (s, e) = raw(&app, Method::GET, path, None, vec![]).await;
            assert_eq!((s, e["error"]["code"].as_str()), (404, Some("resource_missing")), "{path} {e}");
        }
        // A known path with a method it does not take: 405 naming the ones it does, even where a
        // more general pattern (`GET /v1/payment/{payment_id}`) would otherwise match.
        let wrong = [
            (Method::DELETE, "/v1/accounts/x", "GET, PUT"),
            (Method::POST, "/healthz", "GET"),
            (Method::POST, "/readyz", "GET"),
            (Method::POST, "/v1/openapi.json", "GET"),
            (Method::POST, "/v1/payments", "GET"),
            (Method::GET, "/v1/payment/capture", "POST"),
            (Method::PUT, "/v1/payment/capture", "POST"),
            (Method::DELETE, "/v1/payment/intent", "POST"),
            (Method::DELETE, "/v1/payment/pi_1", "GET, POST"),
            (Method::GET, "/v1/terminal/connection_token", "POST"),
            (Method::GET, "/v1/customer/card", "POST"),
            (Method::GET, "/v1/customer/card/pm_1", "DELETE"),
            (Method::DELETE, "/v1/terminal/readers", "GET, POST"),
            (Method::GET, "/v1/webhooks/stripe", "POST"),
            (Method::POST, "/pos/lib/index.js", "GET"),
        ];
        for (method, path, allowed) in wrong {
            let response = app
                .exchange(app.client
                    .request(method.clone(), app.url(path))
                    .bearer_auth(app.token(&["*"], "accounts:admin payments:read payments:write")))
                .await;
            let status = response.status;
            let mut allow: Vec<String> = response.headers["allow"]
                .to_str()
                .unwrap()
                .split(',')
                .map(|m| m.trim().to_string())
                .collect();
            allow.sort();
            assert_eq!(response.headers["content-type"], "application/json", "{method} {path}");
            let e = response.json();
            assert_eq!((status, e["error"]["code"].as_str()), (405, Some("method_not_allowed")), "{method} {path} {e}");
            assert_eq!(allow.join(", "), allowed, "{method} {path}");
        }
    }
}
