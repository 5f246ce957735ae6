//! The home page (`GET /`), health and readiness, restarts on an existing database, `GET /metrics`
//! and `GET /v1/openapi.json`.

use crate::both_backends;
use reqwest::Method;
use serde_json::json;
use std::collections::{BTreeSet, HashMap};

both_backends! {
    async fn the_home_page_links_the_demo_and_the_api_description(app) {
        let (status, home) = app.send(Method::GET, "/", None, None).await;
        assert_eq!(status, 200, "{home}");
        assert_eq!(home["mode"], "simulator");
        assert_eq!(home["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(home["links"]["pos"], "/pos", "{home}");
        for (link, path) in [("openapi", "/v1/openapi.json"), ("healthz", "/healthz")] {
            assert_eq!(home["links"][link], path, "{home}");
            let (status, _) = app.send(Method::GET, path, None, None).await;
            assert_eq!(status, 200, "{path}");
        }
        assert!(home["links"]["docs"].as_str().unwrap().contains("docs/"), "{home}");
    }

    async fn healthz_and_readyz(app) {
        let (status, body) = app.send(Method::GET, "/healthz", None, None).await;
        assert_eq!((status, body), (200, json!({"status": "ok"})));
        let (status, body) = app.send(Method::GET, "/readyz", None, None).await;
        assert_eq!(status, 200);
        let expected = match app.backend {
            crate::support::app::Backend::Sqlite => "sqlite",
            crate::support::app::Backend::Postgres => "postgres",
        };
        assert_eq!(body["database"], expected);
    }

    async fn migrations_are_idempotent_across_restarts(app) {
        let (status, _) = app.put_account("persisted", json!({"display_name": "Before restart"})).await;
        assert_eq!(status, 201);
        let second = app.another_instance(|_| {}).await;
        let token = app.token(&["persisted"], "accounts:admin");
        let response = second
            .exchange(second.client.get(second.url("/v1/accounts/persisted")).bearer_auth(token))
            .await;
        assert_eq!(response.status, 200);
        let body = response.json();
        assert_eq!(body["display_name"], "Before restart");
        let url = app.database_url.clone();
        let pending = tokio::task::spawn_blocking(move || pos_backend::db::Db::connect(&url, 1).unwrap().migrate().unwrap())
            .await
            .unwrap();
        assert_eq!(pending, 0);
    }
}

/// One scrape of `/metrics`: the raw text and each series' value by its name and labels.
async fn scrape(app: &crate::support::app::TestApp) -> (String, HashMap<String, f64>) {
    let response = app.exchange(app.client.get(app.url("/metrics"))).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), "text/plain; version=0.0.4");
    let text = response.text;
    let values = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("bad line {l}"));
            (
                series.to_string(),
                value.parse().unwrap_or_else(|_| panic!("bad value {l}")),
            )
        })
        .collect();
    (text, values)
}

fn value(values: &HashMap<String, f64>, series: &str) -> f64 {
    values.get(series).copied().unwrap_or(0.0)
}

/// Inserts a webhook delivery for `account` straight into the outbox, with a `next_attempt_at`
/// far ahead so the delivery worker leaves it alone.
async fn outbox_row(app: &crate::support::app::TestApp, id: &str, account: &str, status: &str) {
    use diesel::RunQueryDsl;
    let (url, id, account, status) = (
        app.database_url.clone(),
        id.to_string(),
        account.to_string(),
        status.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        let db = pos_backend::db::Db::connect(&url, 1).unwrap();
        let mut conn = db.get().unwrap();
        let inserted = diesel::sql_query(format!(
            "INSERT INTO webhook_deliveries (id, account_id, event_type, payload, status, attempts, \
             next_attempt_at, created_at) SELECT '{id}', id, 'payment.captured', '{{}}', '{status}', 0, \
             '2099-01-01 00:00:00', '2026-01-01 00:00:00' FROM accounts WHERE external_account_id = '{account}'"
        ))
        .execute(&mut *conn)
        .unwrap();
        assert_eq!(inserted, 1);
    })
    .await
    .unwrap();
}

/// `(method, path)` of every route `api::configure` registers, read from its source: each path
/// literal, then the `web::<method>()` calls that follow it.
fn configured_routes() -> BTreeSet<(String, String)> {
    let source = include_str!("../../src/api/mod.rs");
    let start = source
        .find("pub fn configure")
        .expect("configure in src/api/mod.rs");
    let body = &source[start..];
    let body = &body[..body.find("\n}\n").expect("end of configure")];
    let mut routes = BTreeSet::new();
    let mut path: Option<&str> = None;
    let mut rest = body;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("\"/") {
            let end = after.find('"').unwrap();
            path = Some(&rest[1..end + 2]);
            rest = &after[end + 1..];
            continue;
        }
        for method in ["get", "post", "put", "delete", "patch"] {
            if rest.starts_with(&format!("web::{method}()")) {
                let path = path.expect("a method after a path");
                routes.insert((method.to_string(), path.to_string()));
            }
        }
        let mut chars = rest.chars();
        chars.next();
        rest = chars.as_str();
    }
    routes
}

both_backends! {
    async fn metrics_count_requests_by_route_pattern(app) {
        let token = app.merchant("metrics-m", "usd").await;
        let version = env!("CARGO_PKG_VERSION");
        let (_, before) = scrape(&app).await;
        assert_eq!(value(&before, &format!("pos_build_info{{version=\"{version}\"}}")), 1.0);
        assert_eq!(value(&before, "pos_database_up"), 1.0);

        for n in 0..3 {
            let (status, _) = app.get(&format!("/v1/payment/pi_rawid{n}?external_account_id=metrics-m"), &token).await;
            assert_eq!(status, 404);
        }
        let (status, intent) = app
            .post("/v1/payment/intent", &token, json!({"external_account_id": "metrics-m",
                "amount": "4.50", "external_transaction_id": "metrics-tx-1"}))
            .await;
        assert_eq!(status, 200, "{intent}");
        let intent_id = intent["id"].as_str().unwrap().to_string();
        let (status, _) = app.send(Method::GET, "/v1/payments?external_account_id=metrics-m", None, None).await;
        assert_eq!(status, 401);
        let (status, _) = app.send(Method::GET, "/no/such/route/rawpath", None, None).await;
        assert_eq!(status, 404);

        let (text, after) = scrape(&app).await;
        // The registry is process-wide and other tests run alongside: compare increases, at least.
        let delta = |series: &str| value(&after, series) - value(&before, series);
        let get_payment = r#"method="GET",route="/v1/payment/{payment_id}""#;
        assert!(delta(&format!("pos_http_requests_total{{{get_payment},status=\"404\"}}")) >= 3.0, "{text}");
        assert!(delta(r#"pos_http_requests_total{method="POST",route="/v1/payment/intent",status="200"}"#) >= 1.0, "{text}");
        assert!(delta(r#"pos_http_requests_total{method="GET",route="/v1/payments",status="401"}"#) >= 1.0, "{text}");
        assert!(delta(r#"pos_http_requests_total{method="GET",route="unmatched",status="404"}"#) >= 1.0, "{text}");
        assert!(delta(r#"pos_http_requests_total{method="GET",route="/metrics",status="200"}"#) >= 1.0, "{text}");
        assert!(delta(&format!("pos_http_request_duration_seconds_count{{{get_payment}}}")) >= 3.0, "{text}");
        assert!(value(&after, &format!("pos_http_request_duration_seconds_sum{{{get_payment}}}")) > 0.0);
        // Buckets are cumulative and end at the count.
        let buckets: Vec<f64> = ["0.005", "0.025", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
            .iter()
            .map(|le| value(&after, &format!("pos_http_request_duration_seconds_bucket{{{get_payment},le=\"{le}\"}}")))
            .collect();
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
        assert_eq!(buckets[9], value(&after, &format!("pos_http_request_duration_seconds_count{{{get_payment}}}")));

        // Route patterns only: no raw ids or paths, and nothing of the simulator (the intent
        // above went through it).
        for raw in ["pi_rawid", &intent_id, "metrics-m", "rawpath", "/sim/", "/v1/payment_intents"] {
            assert!(!text.contains(raw), "{raw} in metrics:\n{text}");
        }
    }

    async fn metrics_count_webhook_deliveries_from_the_database(app) {
        let (_, values) = scrape(&app).await;
        assert_eq!(value(&values, r#"pos_webhook_deliveries{status="pending"}"#), 0.0);
        assert!(values.contains_key(r#"pos_webhook_deliveries{status="failed"}"#));
        app.merchant("gauge-m", "usd").await;
        outbox_row(&app, "d-pending-1", "gauge-m", "pending").await;
        outbox_row(&app, "d-pending-2", "gauge-m", "pending").await;
        outbox_row(&app, "d-failed-1", "gauge-m", "failed").await;
        outbox_row(&app, "d-delivered-1", "gauge-m", "delivered").await;
        let (text, values) = scrape(&app).await;
        assert_eq!(value(&values, r#"pos_webhook_deliveries{status="pending"}"#), 2.0, "{text}");
        assert_eq!(value(&values, r#"pos_webhook_deliveries{status="failed"}"#), 1.0, "{text}");
        assert!(!text.contains("delivered\""), "{text}");
    }

    async fn openapi_documents_exactly_the_served_routes(app) {
        let response = app.exchange(app.client.get(app.url("/v1/openapi.json"))).await;
        assert_eq!(response.status, 200);
        assert!(response.header("content-type").starts_with("application/json"));
        let doc = response.json();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.0."), "{}", doc["openapi"]);
        assert!(doc["components"]["schemas"]["Error"]["properties"]["error"].is_object());
        assert_eq!(doc["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");

        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                documented.insert((method.clone(), path.clone()));
                let params = op["parameters"].as_array().unwrap();
                let keyed = params.contains(&json!({"$ref": "#/components/parameters/IdempotencyKey"}));
                let takes_keys = method == "post" && path.starts_with("/v1/") && path != "/v1/webhooks/stripe";
                assert_eq!(keyed, takes_keys, "Idempotency-Key on {method} {path}");
                if op["security"] != json!([]) {
                    let scope = op["x-required-scope"].as_str().unwrap_or_default();
                    assert!(pos_backend::auth::Scope::parse(scope).is_some(), "scope of {method} {path}");
                }
                if method == "post" || method == "put" {
                    assert!(op["requestBody"]["content"]["application/json"]["schema"]["$ref"].is_string(), "{method} {path}");
                }
                // Routed: anything but the router's own 404 and 405.
                let probe = path
                    .replace("{payment_id}", "pi_probe")
                    .replace("{session_id}", "cs_probe")
                    .replace("{external_account_id}", "probe")
                    .replace("{id}", "tmr_probe");
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let response = app.exchange(app.client.request(method.clone(), app.url(&probe))).await;
                let (status, body) = (response.status, response.text);
                assert!(status != 405 && !(status == 404 && body.contains("no such route")),
                    "{method} {probe}: {status} {body}");
            }
        }
        let configured = configured_routes();
        assert!(configured.len() > 25, "{configured:?}");
        assert_eq!(documented, configured, "the document and api::configure disagree");
    }
}
