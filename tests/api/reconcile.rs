//! The reconciler (`pos-backend reconcile`), run as the real command against a running app's
//! database and embedded simulator: stuck payments, dropped webhooks, expiring authorisations.
//! A payment counts as stuck only once it is older than `--stuck-after` (at least a second): those
//! passes run in-process (`TestApp::reconcile_with`) on the app's clock, moved past that age
//! instead of waited for, and are read as the command prints them.

use crate::both_backends;
use crate::support::app::{eventually, printed, MerchantEndpoint, PaymentView, TestApp};
use serde_json::{json, Value};
use std::time::Duration;

/// Runs `pos-backend reconcile` against `app` and returns what it printed; it must succeed.
pub(crate) async fn reconcile(app: &TestApp, extra: &[&str]) -> String {
    let (success, stdout) = reconcile_outcome(app, extra).await;
    assert!(success, "reconcile failed: {stdout}");
    stdout
}

/// Runs `pos-backend reconcile`: whether it exited 0, and stdout followed by stderr.
pub(crate) async fn reconcile_outcome(app: &TestApp, extra: &[&str]) -> (bool, String) {
    reconcile_against(app, &app.sim_url(""), extra).await
}

/// Runs `pos-backend reconcile` with Stripe at `stripe_api_base`: whether it exited 0, and stdout
/// followed by stderr.
pub(crate) async fn reconcile_against(
    app: &TestApp,
    stripe_api_base: &str,
    extra: &[&str],
) -> (bool, String) {
    let data_dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = vec![
        "reconcile".into(),
        "--database-url".into(),
        app.database_url.clone(),
        "--stripe-secret-key".into(),
        pos_backend::app::SIMULATOR_KEY.into(),
        "--stripe-api-base".into(),
        stripe_api_base.to_string(),
        "--encryption-key".into(),
        "2a".repeat(32),
        "--data-dir".into(),
        data_dir.path().to_string_lossy().into_owned(),
        "--log".into(),
        "warn".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_pos-backend"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let printed = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

/// One reconciler pass taking payments older than a second as stuck, after the app's clock moved
/// past that: what `pos-backend reconcile --stuck-after 1s` prints, and whether it would exit 0.
pub(crate) async fn reconcile_stuck(app: &TestApp) -> (bool, String) {
    app.advance(Duration::from_millis(1100));
    printed(
        &app.reconcile_with(|c| c.stuck_after = Duration::from_secs(1))
            .await,
    )
}

async fn stored(app: &TestApp, token: &str, tx: &str) -> Option<PaymentView> {
    app.stored_payment(token, "acme", tx).await
}

pub(crate) async fn intents_for(app: &TestApp, tx: &str) -> Vec<Value> {
    let found = app
        .sim_get(&format!("/v1/payment_intents/search?query=metadata%5B%27external_transaction_id%27%5D%3A%27{tx}%27"))
        .await;
    found["data"].as_array().unwrap().clone()
}

fn intent_body(tx: &str) -> Value {
    json!({"external_account_id": "acme", "amount": "10.00", "external_transaction_id": tx})
}

async fn short_timeout(backend: crate::support::app::Backend) -> TestApp {
    TestApp::spawn_configured(backend, |c| {
        c.stripe_timeout = std::time::Duration::from_millis(800)
    })
    .await
}

async fn stuck_payments_are_healed(app: TestApp) {
    let token = app.merchant("acme", "usd").await;
    // A crash after Stripe created the intent: our answer never came back.
    app.add_fault(
        json!({"method": "POST", "path": "/v1/payment_intents", "hang_ms": 1500, "times": 1}),
    )
    .await;
    let (status, _) = app
        .post("/v1/payment/intent", &token, intent_body("lost-answer"))
        .await;
    assert_eq!(status, 504);
    // A failure before Stripe created anything.
    app.add_fault(json!({"method": "POST", "path": "/v1/payment_intents", "error_rate": 1.0, "error_status": 500, "times": 3})).await;
    let (status, _) = app
        .post("/v1/payment/intent", &token, intent_body("never-created"))
        .await;
    assert_eq!(status, 502);
    assert_eq!(intents_for(&app, "never-created").await.len(), 0);
    assert!(
        stored(&app, &token, "lost-answer").await.is_none(),
        "still creating: not listed"
    );

    let (success, out) = reconcile_stuck(&app).await;
    assert!(success, "reconcile failed: {out}");
    assert!(
        out.contains("payment lost-answer (account acme): creating → requires_payment_method"),
        "{out}"
    );
    assert!(out.contains("found by metadata"), "{out}");
    assert!(
        out.contains("payment never-created (account acme): creating → requires_payment_method"),
        "{out}"
    );
    assert!(out.contains("creation replayed"), "{out}");
    for tx in ["lost-answer", "never-created"] {
        let intents = intents_for(&app, tx).await;
        assert_eq!(intents.len(), 1, "{tx}: exactly one PaymentIntent");
        assert_eq!(stored(&app, &token, tx).await.unwrap().id, intents[0]["id"]);
    }
    // The caller's retry now returns the same intent.
    let (status, again) = app
        .post("/v1/payment/intent", &token, intent_body("lost-answer"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["id"], intents_for(&app, "lost-answer").await[0]["id"]);
    let (success, quiet) = reconcile_stuck(&app).await;
    assert!(success, "reconcile failed: {quiet}");
    assert!(!quiet.contains("payment "), "nothing left to heal: {quiet}");
}

#[actix_web::test]
async fn stuck_payments_are_healed_sqlite() {
    stuck_payments_are_healed(short_timeout(crate::support::app::Backend::Sqlite).await).await
}

#[actix_web::test]
async fn stuck_payments_are_healed_postgres() {
    stuck_payments_are_healed(short_timeout(crate::support::app::Backend::Postgres).await).await
}

both_backends! {
    async fn one_failure_does_not_stop_the_pass(app) {
        let token = app.merchant("acme", "usd").await;
        for tx in ["stuck-1", "stuck-2"] {
            // Stripe fails all three attempts: the payment stays `creating`.
            app.add_fault(json!({"method": "POST", "path": "/v1/payment_intents", "error_rate": 1.0, "error_status": 500, "times": 3})).await;
            let (status, _) = app.post("/v1/payment/intent", &token, intent_body(tx)).await;
            assert_eq!(status, 502);
        }
        // Looking up the first stuck payment fails (three attempts); the second still heals.
        app.add_fault(json!({"method": "GET", "path": "/v1/payment_intents/search", "error_rate": 1.0, "error_status": 500, "times": 3})).await;
        let (success, out) = reconcile_stuck(&app).await;
        assert!(!success, "a failure makes the command fail: {out}");
        let failed: Vec<&str> = out.lines().filter(|l| l.starts_with("failed: payment stuck-")).collect();
        let healed: Vec<&str> = out.lines().filter(|l| l.contains(": creating → requires_payment_method")).collect();
        assert_eq!((failed.len(), healed.len()), (1, 1), "{out}");
        assert!(out.contains("reconciled: 1 change(s)"), "{out}");
        // The next pass heals the other one.
        let (success, out) = reconcile_stuck(&app).await;
        assert!(success, "reconcile failed: {out}");
        assert!(out.contains("reconciled: 1 change(s)"), "{out}");
        for tx in ["stuck-1", "stuck-2"] {
            assert_eq!(stored(&app, &token, tx).await.unwrap().status, "requires_payment_method");
        }
    }

    async fn dropped_webhooks_are_repaired(app) {
        let hook = MerchantEndpoint::start(0);
        let token = app.merchant("acme", "usd").await;
        app.put_account("acme", json!({"webhook_url": hook.url})).await;
        app.add_fault(json!({"path": "payment_intent.*", "drop_webhooks": true})).await;
        let (_, intent) = app.post("/v1/payment/intent", &token, intent_body("dropped")).await;
        let pi = intent["id"].as_str().unwrap();
        let reader = app.register_reader().await;
        app.tap_card(&reader, pi, "4242424242424242").await;
        let (status, _) = app.sim_post(&format!("/v1/payment_intents/{pi}/capture"), &[]).await;
        assert_eq!(status, 200);
        // Every webhook the simulator owed us is answered or dropped.
        app.settle_stripe_webhooks().await;
        assert_eq!(stored(&app, &token, "dropped").await.unwrap().status, "requires_payment_method", "we heard nothing");

        let out = reconcile(&app, &[]).await;
        assert!(out.contains("(payment_intent.succeeded) was never delivered: applied"), "{out}");
        let record = stored(&app, &token, "dropped").await.unwrap();
        assert_eq!(record.status, "succeeded");
        assert_eq!(record.amount_captured, "10.00");
        app.settle().await;
        assert!(hook.received.lock().unwrap().iter().any(|d| d.body.contains("\"payment.captured\"")), "the merchant hears of the capture");
        let again = reconcile(&app, &[]).await;
        assert!(again.contains("reconciled: 0 change(s)"), "events are applied once: {again}");
    }

    async fn expiring_authorisations_are_announced_once(app) {
        let hook = MerchantEndpoint::start(0);
        let token = app.merchant("acme", "usd").await;
        app.put_account("acme", json!({"webhook_url": hook.url})).await;
        let (_, intent) = app.post("/v1/payment/intent", &token, intent_body("hold")).await;
        let pi = intent["id"].as_str().unwrap();
        let reader = app.register_reader().await;
        app.tap_card(&reader, pi, "4242424242424242").await;
        eventually(10, "authorised", || async { stored(&app, &token, "hold").await.unwrap().status == "requires_capture" }).await;

        let far = reconcile(&app, &["--expiring-within", "1h"]).await;
        assert!(!far.contains("authorization_expiring"), "two days left: {far}");
        let near = reconcile(&app, &["--expiring-within", "72h"]).await;
        assert!(near.contains(&format!("payment hold ({pi}, account acme): authorisation expires at")), "{near}");
        app.settle().await;
        assert!(hook.received.lock().unwrap().iter().any(|d| d.body.contains("\"payment.authorization_expiring\"")), "payment.authorization_expiring delivered");
        let again = reconcile(&app, &["--expiring-within", "72h"]).await;
        assert!(!again.contains("authorization_expiring"), "announced once: {again}");
    }
}
