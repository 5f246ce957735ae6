//! The demo POS page (`/pos`, `/pos/lib/*`, `/pos/demo/*`, `POST /pos/token`): served from the
//! binary in simulator mode, absent when a real Stripe key is configured.

use crate::both_backends;
use crate::support::app::{Backend, TestApp};
use pos_backend::config::StripeMode;
use reqwest::Method;
use serde_json::{json, Value};
use std::path::Path;
use stripe_client::secret::Secret;

/// GET `path`: status, content type, cache control and body.
async fn fetch(app: &TestApp, path: &str) -> (u16, String, String, String) {
    let response = app.exchange(app.client.get(app.url(path))).await;
    let content_type = response.header("content-type").to_string();
    let cache = response.header("cache-control").to_string();
    (response.status, content_type, cache, response.text)
}

/// The files of `dir` (relative to the crate) whose names end with one of `extensions`.
fn files_on_disk(dir: &str, extensions: &[&str]) -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
        })
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// A JWT's claims, without verifying it (the backend verifies it in the tests below).
fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn demo_token(app: &TestApp) -> Value {
    let response = app.exchange(app.client.post(app.url("/pos/token"))).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.headers["cache-control"], "no-store");
    response.json()
}

both_backends! {
    async fn the_page_and_every_module_it_imports_are_served_from_the_binary(app) {
        for path in ["/pos", "/pos/"] {
            let (status, content_type, cache, body) = fetch(&app, path).await;
            assert_eq!(status, 200, "{path}");
            assert_eq!(content_type, "text/html; charset=utf-8");
            assert_eq!(cache, "no-store");
            let on_disk = std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("terminal-js/demo/index.html"),
            )
            .unwrap();
            assert_eq!(body, on_disk);
        }
        // Every module of terminal-js/src, byte for byte: a new module that is not embedded fails here.
        let lib = files_on_disk("terminal-js/src", &["js"]);
        assert!(lib.iter().any(|(name, _)| name == "index.js"));
        for (name, content) in lib {
            let (status, content_type, cache, body) = fetch(&app, &format!("/pos/lib/{name}")).await;
            assert_eq!(status, 200, "/pos/lib/{name}");
            assert_eq!(content_type, "text/javascript; charset=utf-8", "{name}");
            assert_eq!(cache, "no-store");
            assert_eq!(body, content, "/pos/lib/{name} is the file on disk");
        }
        for (name, content) in files_on_disk("terminal-js/demo", &["js", "css"]) {
            let (status, content_type, cache, body) = fetch(&app, &format!("/pos/demo/{name}")).await;
            assert_eq!(status, 200, "/pos/demo/{name}");
            let expected = if name.ends_with(".css") { "text/css; charset=utf-8" } else { "text/javascript; charset=utf-8" };
            assert_eq!(content_type, expected, "{name}");
            assert_eq!(cache, "no-store");
            assert_eq!(body, content, "/pos/demo/{name} is the file on disk");
        }
    }

    async fn unknown_files_are_404_envelopes(app) {
        for path in [
            "/pos/lib/nope.js",
            "/pos/lib/..%2F..%2FCargo.toml",
            "/pos/demo/index.html",
            "/pos/demo/app.js.map",
            "/pos/nothing",
        ] {
            let (status, body) = app.send(Method::GET, path, None, None).await;
            assert_eq!(status, 404, "{path}: {body}");
            assert_eq!(body["error"]["type"], "invalid_request_error", "{path}");
            assert_eq!(body["error"]["code"], "resource_missing", "{path}");
        }
    }

    async fn the_demo_token_acts_for_demo_merchant_with_till_scopes_only(app) {
        let body = demo_token(&app).await;
        assert_eq!(body["external_account_id"], "demo-merchant");
        assert_eq!(body["stripe_api_base"], "/sim/stripe");
        let token = body["token"].as_str().unwrap();
        let c = claims(token);
        assert_eq!(c["accounts"], json!(["demo-merchant"]));
        assert_eq!(c["scope"], "payments:read payments:write cards:read cards:write terminal");
        let ttl = c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap();
        assert_eq!(ttl, 3600, "short-lived");

        // The account exists (usd) and the token works for a till's calls...
        let (status, secret) = app
            .post("/v1/terminal/connection_token", token, json!({"external_account_id": "demo-merchant"}))
            .await;
        assert_eq!(status, 200, "{secret}");
        let (status, intent) = app
            .post(
                "/v1/payment/intent",
                token,
                json!({"external_account_id": "demo-merchant", "amount": "12.99",
                       "external_transaction_id": "demo-1", "payment_method_types": "card_present",
                       "capture_method": "manual"}),
            )
            .await;
        assert_eq!(status, 200, "{intent}");
        assert_eq!(intent["currency"], "usd");
        // ...but not for account administration, nor for another merchant.
        let (status, _) = app.get("/v1/accounts/demo-merchant", token).await;
        assert_eq!(status, 403);
        app.merchant("someone-else", "usd").await;
        let (status, _) = app
            .post("/v1/terminal/connection_token", token, json!({"external_account_id": "someone-else"}))
            .await;
        assert_eq!(status, 403);
    }

    async fn the_demo_account_is_created_once_and_never_overwritten(app) {
        let first = demo_token(&app).await;
        assert!(first["token"].is_string());
        let admin = app.token(&["demo-merchant"], "accounts:admin");
        let (status, account) = app.get("/v1/accounts/demo-merchant", &admin).await;
        assert_eq!(status, 200, "{account}");
        assert_eq!(account["default_currency"], "usd");
        // An operator changes it; further demo tokens leave it alone.
        let (status, _) = app
            .send(Method::PUT, "/v1/accounts/demo-merchant", Some(&admin),
                  Some(json!({"default_currency": "eur", "display_name": "Renamed"})))
            .await;
        assert_eq!(status, 200);
        let again = demo_token(&app).await;
        assert_eq!(again["external_account_id"], "demo-merchant");
        let (_, account) = app.get("/v1/accounts/demo-merchant", &admin).await;
        assert_eq!(account["default_currency"], "eur");
        assert_eq!(account["display_name"], "Renamed");
    }

    async fn the_demo_token_hands_out_a_counter_with_a_tipping_screen_and_a_smart_reader(app) {
        let body = demo_token(&app).await;
        let token = body["token"].as_str().unwrap();
        let location = body["counter"]["location"].as_str().expect("a counter location").to_string();
        let reader = body["counter"]["reader"].as_str().expect("a counter reader").to_string();
        assert!(location.starts_with("tml_") && reader.starts_with("tmr_"), "{body}");
        // The same counter every time.
        let again = demo_token(&app).await;
        assert_eq!(again["counter"], body["counter"]);

        // The reader is the account's, at the location, and takes a cart.
        let (status, readers) = app.get("/v1/terminal/readers?external_account_id=demo-merchant", token).await;
        assert_eq!(status, 200, "{readers}");
        assert_eq!(readers["data"].as_array().unwrap().len(), 1);
        assert_eq!(readers["data"][0]["id"], reader.as_str());
        assert_eq!(readers["data"][0]["location"], location.as_str());
        let (status, shown) = app
            .post(&format!("/v1/terminal/readers/{reader}/display"), token,
                  json!({"external_account_id": "demo-merchant", "currency": "usd",
                         "line_items": [{"description": "Coffee", "amount": "3.50", "quantity": 2}],
                         "total": "7.00"}))
            .await;
        assert_eq!(status, 200, "{shown}");
        let (status, screen) = app
            .send(Method::GET, &format!("/sim/stripe/_sim/terminal/readers/{reader}/screen"), None, None)
            .await;
        assert_eq!(status, 200);
        assert_eq!(screen["screen"], "cart");
        assert_eq!(screen["cart"]["total"], 700);

        // A till connected at the counter shows the tipping screen for a usd sale: fixed amounts
        // under 10.00, percentages from there.
        let (status, secret) = app
            .post("/v1/terminal/connection_token", token,
                  json!({"external_account_id": "demo-merchant", "location": location}))
            .await;
        assert_eq!(status, 200, "{secret}");
        let (status, session) = app
            .send(Method::POST, "/sim/stripe/_sim/terminal/sessions", None,
                  Some(json!({"connection_token": secret["secret"]})))
            .await;
        assert_eq!(status, 200, "{session}");
        assert_eq!(session["location"], location.as_str());
        for (amount, expected) in [
            ("7.00", json!([{"type": "fixed_amount", "amount": 100}, {"type": "fixed_amount", "amount": 200},
                            {"type": "fixed_amount", "amount": 300}])),
            ("40.00", json!([{"type": "percentage", "percentage": 15, "amount": 600},
                             {"type": "percentage", "percentage": 18, "amount": 720},
                             {"type": "percentage", "percentage": 20, "amount": 800}])),
        ] {
            let (status, intent) = app
                .post("/v1/payment/intent", token,
                      json!({"external_account_id": "demo-merchant", "amount": amount,
                             "external_transaction_id": format!("counter-{amount}"),
                             "payment_method_types": "card_present", "capture_method": "manual"}))
                .await;
            assert_eq!(status, 200, "{intent}");
            let (status, tips) = app
                .send(Method::POST, "/sim/stripe/_sim/terminal/tip_options", None,
                      Some(json!({"session": session["session"], "client_secret": intent["client_secret"]})))
                .await;
            assert_eq!(status, 200, "{tips}");
            assert_eq!(tips["screen"], "tipping", "{amount}");
            assert_eq!(tips["tip_options"], expected, "{amount}");
        }
    }

    async fn concurrent_first_tokens_all_succeed(app) {
        let requests = (0..6).map(|_| app.exchange(app.client.post(app.url("/pos/token"))));
        for response in futures_util::future::join_all(requests).await {
            assert_eq!(response.status, 200);
        }
    }
}

/// With a real Stripe key none of the demo routes exist.
mod live_mode {
    use super::*;

    async fn body(backend: Backend) {
        let app = TestApp::spawn_configured(backend, |config| {
            config.stripe = StripeMode::Stripe {
                secret_key: Secret::new("sk_test_not_the_simulator".into()),
                api_base: "http://127.0.0.1:9".into(),
            };
        })
        .await;
        for (method, path) in [
            (Method::GET, "/pos"),
            (Method::GET, "/pos/"),
            (Method::GET, "/pos/lib/index.js"),
            (Method::GET, "/pos/demo/app.js"),
            (Method::POST, "/pos/token"),
        ] {
            let (status, body) = app.send(method.clone(), path, None, None).await;
            assert_eq!(status, 404, "{method} {path}: {body}");
            assert_eq!(body["error"]["code"], "resource_missing");
        }
        // The simulator is not mounted either, and the API itself is there.
        let (status, _) = app
            .send(Method::GET, "/sim/stripe/_sim/requests", None, None)
            .await;
        assert_eq!(status, 404);
        let (status, _) = app.send(Method::GET, "/healthz", None, None).await;
        assert_eq!(status, 200);
        // The home page says so, and links no demo.
        let (status, home) = app.send(Method::GET, "/", None, None).await;
        assert_eq!(status, 200);
        assert_eq!(home["mode"], "stripe");
        assert!(home["links"].get("pos").is_none(), "{home}");
        assert_eq!(home["links"]["openapi"], "/v1/openapi.json");
    }

    #[actix_web::test]
    async fn sqlite() {
        body(Backend::Sqlite).await
    }

    #[actix_web::test]
    async fn postgres() {
        body(Backend::Postgres).await
    }
}
