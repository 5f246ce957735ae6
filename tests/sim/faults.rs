//! Fault injection and the request log.

use crate::{start, start_with};
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};
use stripe_sim::{FaultRule, SimConfig};

#[tokio::test]
async fn errors_and_rate_limits_for_the_next_n_requests() {
    let sim = start().await;
    sim.fault(json!({"method": "POST", "path": "/v1/payment_intents/*/capture", "error_rate": 1.0, "error_status": 503, "times": 1}))
        .await;
    sim.fault(json!({"path": "/v1/customers", "rate_limit_rate": 1.0, "times": 2}))
        .await;
    let listed = sim.sim(Method::GET, "/_sim/faults", None).await.ok();
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    // Other paths are untouched.
    sim.post(
        "/v1/payment_intents",
        &[("amount", "100"), ("currency", "usd")],
    )
    .await
    .ok();
    let pi = sim.intent(&[]).await;
    let pid = pi["id"].as_str().unwrap();
    sim.pay_at_reader(pid, "4242424242424242").await;
    let failed = sim
        .post(&format!("/v1/payment_intents/{pid}/capture"), &[])
        .await;
    assert_eq!(failed.status, 503);
    assert_eq!(failed.body["error"]["type"], "api_error");
    assert_eq!(failed.header("Stripe-Should-Retry"), Some("true"));
    let ok = sim
        .post(&format!("/v1/payment_intents/{pid}/capture"), &[])
        .await
        .ok();
    assert_eq!(ok["status"], "succeeded");
    for _ in 0..2 {
        let limited = sim
            .get("/v1/customers/search", &[("query", "name:'x'")])
            .await;
        assert_eq!((limited.status, limited.code()), (429, "rate_limit"));
        assert_eq!(limited.header("Stripe-Should-Retry"), Some("true"));
    }
    assert_eq!(
        sim.get("/v1/customers/search", &[("query", "name:'x'")])
            .await
            .status,
        200
    );
    assert!(
        sim.sim(Method::GET, "/_sim/faults", None).await.ok()["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn latency_and_clearing() {
    let sim = start().await;
    sim.fault(json!({"method": "GET", "path": "/v1/events", "latency_ms": 150}))
        .await;
    let started = Instant::now();
    sim.get("/v1/events", &[]).await.ok();
    assert!(started.elapsed() >= Duration::from_millis(150));
    sim.sim(Method::DELETE, "/_sim/faults", None).await.ok();
    let started = Instant::now();
    sim.get("/v1/events", &[]).await.ok();
    assert!(started.elapsed() < Duration::from_millis(150));
    let bad = sim
        .sim(
            Method::POST,
            "/_sim/faults",
            Some(json!({"path": "/v1", "error_rate": 2.0})),
        )
        .await;
    assert_eq!(bad.status, 400);
    let typo = sim
        .sim(
            Method::POST,
            "/_sim/faults",
            Some(json!({"path": "/v1", "eror_rate": 1.0})),
        )
        .await;
    assert_eq!(typo.status, 400);
}

#[tokio::test]
async fn faults_from_the_config() {
    let rule: FaultRule =
        serde_json::from_value(json!({"path": "/v1/customers", "error_rate": 1.0, "times": 1}))
            .unwrap();
    let sim = start_with(SimConfig {
        webhook_url: None,
        webhook_secret: "whsec_x".into(),
        faults: vec![rule],
        ..Default::default()
    })
    .await;
    assert_eq!(sim.post("/v1/customers", &[]).await.status, 500);
    assert_eq!(sim.post("/v1/customers", &[]).await.status, 200);
}

#[tokio::test]
async fn request_log_records_every_api_call() {
    let sim = start().await;
    let acct = sim.as_account("acct_log");
    acct.post_idem(
        "/v1/customers",
        "log-key",
        &[
            ("metadata[external_customer_id]", "c1"),
            ("expand[]", "invoice_settings.default_payment_method"),
        ],
    )
    .await;
    sim.get("/v1/nowhere", &[]).await;
    let unauthenticated = sim
        .send(sim.http.get(format!("{}/v1/events", sim.base)))
        .await;
    assert_eq!(unauthenticated.status, 401);
    let log = sim.requests().await;
    assert_eq!(log.len(), 3);
    assert_eq!(log[0]["method"], "POST");
    assert_eq!(log[0]["path"], "/v1/customers");
    assert_eq!(log[0]["idempotency_key"], "log-key");
    assert_eq!(log[0]["stripe_account"], "acct_log");
    assert_eq!(
        log[0]["params"],
        json!(["metadata[external_customer_id]", "expand[]"])
    );
    assert_eq!(log[0]["status"], 200);
    assert_eq!(log[1]["status"], 404);
    assert_eq!(log[2]["status"], 401);
    assert!(log[2]["stripe_account"].is_null());
    sim.sim(Method::DELETE, "/_sim/requests", None).await.ok();
    assert!(sim.requests().await.is_empty());
}

/// Every operation the simulator serves (its parameter table names them all) answers an injected
/// error before doing anything: the error envelope, `Stripe-Should-Retry: true`, a request id, and
/// no object or event created.
#[tokio::test]
async fn every_operation_can_fail() {
    let sim = start().await;
    let table: serde_json::Value =
        serde_json::from_str(include_str!("../../crates/stripe-sim/src/params.json")).unwrap();
    let operations: Vec<&String> = table.as_object().unwrap().keys().collect();
    assert!(operations.len() >= 30, "{operations:?}");
    for (i, operation) in operations.iter().enumerate() {
        let (method, template) = operation.split_once(' ').unwrap();
        let path: String = template
            .split('/')
            .map(|s| if s.starts_with('{') { "x_fault" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let status = [500, 502, 503, 504][i % 4];
        sim.fault(json!({"method": method, "path": path, "error_rate": 1.0, "error_status": status, "times": 1}))
            .await;
        // Faults apply to requests that would be processed: the required parameters are given.
        let required: Vec<(&str, &str)> = table[operation.as_str()]["required"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|name| match name.as_str().unwrap() {
                "query" => vec![("query", "metadata['a']:'b'")],
                "amount" => vec![("amount", "100")],
                "currency" => vec![("currency", "usd")],
                "success_url" => vec![("success_url", "https://shop.example/ok")],
                "customer" => vec![("customer", "cus_x_fault")],
                "payment_intent" => vec![("payment_intent", "pi_x_fault")],
                "setup_intent" => vec![("setup_intent", "seti_x_fault")],
                "allow_redisplay" => vec![("allow_redisplay", "limited")],
                "registration_code" => vec![("registration_code", "simulated-wpe")],
                "type" => vec![("type", "cart")],
                "display_name" => vec![("display_name", "Fault St")],
                "address" => vec![("address[country]", "US"), ("address[line1]", "1 Fault St")],
                "url" => vec![("url", "https://shop.example/hook")],
                "enabled_events" => vec![("enabled_events[]", "*")],
                // A form stand-in for the multipart file part (`file[name]`, as the simulator
                // names an uploaded file among the parameters).
                "file" => vec![("file[name]", "receipt.pdf")],
                "purpose" => vec![("purpose", "dispute_evidence")],
                other => panic!("{operation}: give a value for {other}"),
            })
            .collect();
        let answer = match method {
            "GET" => sim.get(&path, &required).await,
            "DELETE" => sim.delete(&path).await,
            _ => sim.post(&path, &required).await,
        };
        assert_eq!(answer.status, status, "{operation}: {:?}", answer.body);
        assert_eq!(answer.body["error"]["type"], "api_error", "{operation}");
        assert_eq!(
            answer.header("Stripe-Should-Retry"),
            Some("true"),
            "{operation}"
        );
        assert!(
            answer
                .header("Request-Id")
                .is_some_and(|id| id.starts_with("req_")),
            "{operation}"
        );
    }
    assert!(
        sim.sim(Method::GET, "/_sim/faults", None).await.ok()["data"]
            .as_array()
            .unwrap()
            .is_empty(),
        "each rule used once"
    );
    let events = sim.get("/v1/events", &[]).await.ok();
    assert_eq!(events["data"], json!([]), "nothing happened");
}
