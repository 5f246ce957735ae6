//! Idempotency-Key semantics.

use crate::{id, start};
use serde_json::json;
use std::time::{Duration, Instant};

const PI: &[(&str, &str)] = &[
    ("amount", "1299"),
    ("currency", "usd"),
    ("allowed_payment_method_types[]", "card_present"),
    ("capture_method", "manual"),
];

#[tokio::test]
async fn same_key_same_params_replays_the_first_answer() {
    let sim = start().await;
    let first = sim.post_idem("/v1/payment_intents", "k1", PI).await;
    assert_eq!(first.status, 200);
    assert!(first.header("Idempotent-Replayed").is_none());
    let again = sim.post_idem("/v1/payment_intents", "k1", PI).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("Original-Request"), first.header("Request-Id"));
    assert_ne!(again.header("Request-Id"), first.header("Request-Id"));
    let all = sim.get("/v1/payment_intents", &[]).await.ok();
    assert_eq!(all["data"].as_array().unwrap().len(), 1);
    // The key is per namespace: another account runs its own request.
    let other = sim
        .as_account("acct_other")
        .post_idem("/v1/payment_intents", "k1", PI)
        .await
        .ok();
    assert_ne!(other["id"], first.body["id"]);
}

#[tokio::test]
async fn same_key_other_params_or_endpoint_is_an_idempotency_error() {
    let sim = start().await;
    sim.post_idem("/v1/payment_intents", "k2", PI).await.ok();
    let mut other = PI.to_vec();
    other[0] = ("amount", "1300");
    let mismatch = sim.post_idem("/v1/payment_intents", "k2", &other).await;
    assert_eq!(mismatch.status, 400);
    assert_eq!(mismatch.body["error"]["type"], "idempotency_error");
    let endpoint = sim.post_idem("/v1/customers", "k2", &[]).await;
    assert_eq!(endpoint.status, 400);
    assert_eq!(endpoint.body["error"]["type"], "idempotency_error");
}

#[tokio::test]
async fn key_in_use_while_the_first_request_runs() {
    let sim = start().await;
    sim.fault(json!({"method": "POST", "path": "/v1/customers", "latency_ms": 300, "times": 1}))
        .await;
    // Two requests with one key at once: whichever arrives first holds the key for the 300 ms
    // of its latency fault, and the other meets it in use.
    let (one, two) = tokio::join!(
        sim.post_idem("/v1/customers", "busy", &[("name", "A")]),
        sim.post_idem("/v1/customers", "busy", &[("name", "A")])
    );
    let (first, second) = if one.status == 409 {
        (two, one)
    } else {
        (one, two)
    };
    assert_eq!(second.status, 409);
    assert_eq!(second.code(), "idempotency_key_in_use");
    assert_eq!(first.status, 200);
    let third = sim
        .post_idem("/v1/customers", "busy", &[("name", "A")])
        .await;
    assert_eq!(third.header("Idempotent-Replayed"), Some("true"));
}

#[tokio::test]
async fn hang_after_creation_then_retry_returns_the_same_object() {
    let sim = start().await;
    sim.fault(
        json!({"method": "POST", "path": "/v1/payment_intents", "hang_ms": 1500, "times": 1}),
    )
    .await;
    let timed_out = sim
        .http
        .post(format!("{}/v1/payment_intents", sim.base))
        .bearer_auth(crate::KEY)
        .header("Idempotency-Key", "crash-safe")
        .timeout(Duration::from_millis(150))
        .form(PI)
        .send()
        .await;
    assert!(timed_out.unwrap_err().is_timeout());
    let started = Instant::now();
    let retry = sim.post_idem("/v1/payment_intents", "crash-safe", PI).await;
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "the retry does not hang"
    );
    assert_eq!(retry.status, 200);
    assert_eq!(retry.header("Idempotent-Replayed"), Some("true"));
    let all = sim.get("/v1/payment_intents", &[]).await.ok();
    assert_eq!(all["data"].as_array().unwrap().len(), 1);
    assert_eq!(all["data"][0]["id"], retry.body["id"]);
}

#[tokio::test]
async fn declines_are_replayed_validation_errors_are_not() {
    let sim = start().await;
    let declined = [
        ("amount", "500"),
        ("currency", "usd"),
        ("payment_method", "pm_card_chargeDeclined"),
        ("confirm", "true"),
    ];
    let first = sim
        .post_idem("/v1/payment_intents", "decl", &declined)
        .await;
    assert_eq!(first.status, 402);
    let again = sim
        .post_idem("/v1/payment_intents", "decl", &declined)
        .await;
    assert_eq!(again.status, 402);
    assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(
        again.body["error"]["payment_intent"]["id"],
        first.body["error"]["payment_intent"]["id"]
    );
    let invalid = sim
        .post_idem("/v1/customers", "val", &[("nmae", "x")])
        .await;
    assert_eq!(invalid.status, 400);
    let valid = sim
        .post_idem("/v1/customers", "val", &[("name", "x")])
        .await;
    assert_eq!(valid.status, 200);
    assert!(valid.header("Idempotent-Replayed").is_none());
    // Injected failures are not stored either: the retry executes.
    sim.fault(json!({"path": "/v1/customers", "error_rate": 1.0, "times": 1}))
        .await;
    let failed = sim
        .post_idem("/v1/customers", "flaky", &[("name", "y")])
        .await;
    assert_eq!(failed.status, 500);
    let retried = sim
        .post_idem("/v1/customers", "flaky", &[("name", "y")])
        .await;
    assert_eq!(retried.status, 200);
    assert_eq!(retried.body["name"], "y");
    assert!(id(&retried.body).starts_with("cus_"));
}

#[tokio::test]
async fn concurrent_requests_with_one_key_create_one_object() {
    let sim = start().await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let http = sim.http.clone();
        let url = format!("{}/v1/payment_intents", sim.base);
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .bearer_auth(crate::KEY)
                .header("Idempotency-Key", "same")
                .form(PI)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for task in tasks {
        let status = task.await.unwrap();
        assert!(status == 200 || status == 409, "{status}");
    }
    let all = sim.get("/v1/payment_intents", &[]).await.ok();
    assert_eq!(all["data"].as_array().unwrap().len(), 1);
}
