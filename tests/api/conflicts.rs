//! The truth on conflicts: when Stripe refuses a capture or a void because of the intent's state,
//! the answer follows the intent's true state. A capture that already happened at Stripe for the
//! asked amount is a 200 (its first answer was lost, or a duplicate ran alongside); what is still
//! in motion is a retryable 409; only a state that really forbids the request is a refusal.

use crate::both_backends;
use crate::support::app::{Backend, TestApp};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";

/// An app whose Stripe calls time out after one second (the simulator's `hang_ms` goes past it).
async fn short_timeout_app(backend: Backend) -> TestApp {
    TestApp::spawn_configured(backend, |c| {
        c.stripe_timeout = std::time::Duration::from_millis(1000)
    })
    .await
}

/// An authorised card-present payment of `amount` on a fresh reader; returns its id.
async fn authorised(app: &TestApp, token: &str, tx: &str, amount: &str) -> String {
    let id = app.create_intent(token, "acme", tx, amount).await.id;
    let reader = app.register_reader().await;
    let (status, tapped) = app.tap_card(&reader, &id, VISA).await;
    assert_eq!(status, 200, "{tapped}");
    id
}

fn capture_body(id: &str, amount: Option<&str>) -> Value {
    let mut body = json!({"payment_id": id, "external_account_id": "acme"});
    if let Some(amount) = amount {
        body["amount"] = json!(amount);
    }
    body
}

/// Stripe's own record of the intent.
async fn at_stripe(app: &TestApp, id: &str) -> Value {
    app.sim_get(&format!("/v1/payment_intents/{id}")).await
}

/// The capture's answer is lost (Stripe captured, then hung past our timeout) and so is Stripe's
/// `payment_intent.succeeded`: the till's retry of the same body is told the truth, a 200 with
/// the captured payment, and the record follows; a void afterwards is refused as captured.
async fn lost_capture_answer(backend: Backend) {
    let app = short_timeout_app(backend).await;
    let token = app.merchant("acme", "usd").await;
    let id = authorised(&app, &token, "lost-capture", "12.50").await;
    app.add_fault(json!({"path": "payment_intent.succeeded", "drop_webhooks": true}))
        .await;
    app.add_fault(json!({"method": "POST", "path": "/v1/payment_intents/*/capture", "hang_ms": 2000, "times": 1}))
        .await;

    let (status, error) = app
        .post("/v1/payment/capture", &token, capture_body(&id, None))
        .await;
    assert_eq!(status, 504, "{error}");
    assert_eq!(error["error"]["retryable"], true);
    assert_eq!(at_stripe(&app, &id).await["status"], "succeeded");

    let (status, payment) = app
        .post("/v1/payment/capture", &token, capture_body(&id, None))
        .await;
    assert_eq!(
        status, 200,
        "the retry learns the capture happened: {payment}"
    );
    assert_eq!(payment["status"], "succeeded");
    assert_eq!(payment["amount_captured"], "12.50");
    let (status, payment) = app
        .get(
            &format!("/v1/payment/{id}?external_account_id=acme"),
            &token,
        )
        .await;
    assert_eq!(status, 200, "{payment}");
    assert_eq!(payment["status"], "succeeded");
    assert_eq!(payment["amount_captured"], "12.50");

    // A void of the captured payment: refused, and the refusal says what the payment is.
    let (status, error) = app
        .post("/v1/payment/cancel", &token, capture_body(&id, None))
        .await;
    assert_eq!(status, 409, "{error}");
    assert_eq!(error["error"]["payment_status"], "succeeded");
    assert_eq!(at_stripe(&app, &id).await["amount_received"], 1250);
}

#[actix_web::test]
async fn a_lost_capture_answer_is_a_success_on_retry_sqlite() {
    lost_capture_answer(Backend::Sqlite).await
}

#[actix_web::test]
async fn a_lost_capture_answer_is_a_success_on_retry_postgres() {
    lost_capture_answer(Backend::Postgres).await
}

both_backends! {
    // Six identical captures at once: Stripe captures once; every till hears a success or a
    // retryable 409, never a refusal, and its retry hears the success.
    async fn concurrent_identical_captures(app) {
        let token = app.merchant("acme", "usd").await;
        let id = authorised(&app, &token, "six-tills", "8.00").await;
        let captures = (0..6).map(|_| app.post("/v1/payment/capture", &token, capture_body(&id, None)));
        let answers = futures_util::future::join_all(captures).await;
        for (status, body) in answers {
            match status {
                200 => {
                    assert_eq!(body["status"], "succeeded", "{body}");
                    assert_eq!(body["amount_captured"], "8.00", "{body}");
                }
                409 => {
                    assert_eq!(body["error"]["code"], "request_in_progress", "{body}");
                    assert_eq!(body["error"]["retryable"], true, "{body}");
                    let (status, retried) = app
                        .post("/v1/payment/capture", &token, capture_body(&id, None))
                        .await;
                    assert_eq!(status, 200, "{retried}");
                }
                _ => panic!("a duplicate capture was answered {status}: {body}"),
            }
        }
        let intent = at_stripe(&app, &id).await;
        assert_eq!(intent["status"], "succeeded");
        assert_eq!(intent["amount_received"], 800);
        let captures = app
            .stripe_calls()
            .await
            .into_iter()
            .filter(|(m, p)| m == "POST" && p.ends_with("/capture"))
            .count();
        assert!(captures >= 1);
    }

    // A partial capture happened at Stripe; a retry asking for another amount is refused with
    // the true status (the money captured is not what it asks), and the record shows the capture.
    async fn a_capture_of_another_amount_is_refused_with_the_truth(app) {
        let token = app.merchant("acme", "usd").await;
        let id = authorised(&app, &token, "partial-then-other", "20.00").await;
        app.add_fault(json!({"path": "payment_intent.succeeded", "drop_webhooks": true}))
            .await;
        // Captured at Stripe behind our back (as by a request whose answer was lost).
        let (status, captured) = app
            .sim_post(&format!("/v1/payment_intents/{id}/capture"), &[("amount_to_capture", "1500")])
            .await;
        assert_eq!(status, 200, "{captured}");

        let (status, error) = app
            .post("/v1/payment/capture", &token, capture_body(&id, Some("20.00")))
            .await;
        assert_eq!(status, 409, "{error}");
        assert_eq!(error["error"]["code"], "payment_not_capturable");
        assert_eq!(error["error"]["payment_status"], "succeeded");
        let (_, payment) = app.get(&format!("/v1/payment/{id}?external_account_id=acme"), &token).await;
        assert_eq!(payment["status"], "succeeded", "{payment}");
        assert_eq!(payment["amount_captured"], "15.00", "{payment}");

        // The amount that was captured is the success it is.
        let (status, payment) = app
            .post("/v1/payment/capture", &token, capture_body(&id, Some("15.00")))
            .await;
        assert_eq!(status, 200, "{payment}");
        assert_eq!(payment["amount_captured"], "15.00");
    }

    // A void whose answer was lost: the retry is the void's success.
    async fn a_repeated_void_is_a_success(app) {
        let token = app.merchant("acme", "usd").await;
        let id = authorised(&app, &token, "void-twice", "4.00").await;
        app.add_fault(json!({"path": "payment_intent.canceled", "drop_webhooks": true}))
            .await;
        let (status, canceled) = app
            .sim_post(&format!("/v1/payment_intents/{id}/cancel"), &[])
            .await;
        assert_eq!(status, 200, "{canceled}");
        let (status, payment) = app
            .post("/v1/payment/cancel", &token, capture_body(&id, None))
            .await;
        assert_eq!(status, 200, "{payment}");
        assert_eq!(payment["status"], "canceled");
        // And a capture of it now says canceled.
        let (status, error) = app
            .post("/v1/payment/capture", &token, capture_body(&id, None))
            .await;
        assert_eq!(status, 409, "{error}");
        assert_eq!(error["error"]["payment_status"], "canceled");
    }
}

/// A keyed refund whose answer was lost (Stripe refunded, then hung past our timeout) and which
/// Stripe's webhook then recorded: the till's retry with the same key is the same refund (200),
/// not "already refunded" and not a second refund.
async fn lost_refund_answer(backend: Backend, amount: Option<&str>, refunded: &str) {
    let app = short_timeout_app(backend).await;
    let token = app.merchant("acme", "usd").await;
    let id = authorised(&app, &token, "lost-refund", "10.00").await;
    let (status, captured) = app
        .post("/v1/payment/capture", &token, capture_body(&id, None))
        .await;
    assert_eq!(status, 200, "{captured}");
    app.add_fault(json!({"method": "POST", "path": "/v1/refunds", "hang_ms": 2000, "times": 1}))
        .await;
    let mut body = capture_body(&id, None);
    if let Some(amount) = amount {
        body["amount"] = json!(amount);
    }
    let refund = || {
        app.exchange(
            app.client
                .post(app.url("/v1/payment/refund"))
                .bearer_auth(&token)
                .header("Idempotency-Key", "till-7-refund-1")
                .json(&body),
        )
    };
    let first = refund().await;
    assert_eq!(first.status, 504);
    // Stripe's charge.refunded reaches us meanwhile.
    crate::support::app::eventually(10, "the webhook records the refund", || async {
        let (_, payment) = app
            .get(
                &format!("/v1/payment/{id}?external_account_id=acme"),
                &token,
            )
            .await;
        payment["amount_refunded"] == refunded
    })
    .await;

    let retry = refund().await;
    assert_eq!(retry.status, 200);
    let payment = retry.json();
    assert_eq!(payment["amount_refunded"], refunded, "{payment}");
    let refunds = app
        .sim_get(&format!("/v1/refunds?payment_intent={id}"))
        .await;
    assert_eq!(
        refunds["data"].as_array().unwrap().len(),
        1,
        "one refund at Stripe: {refunds}"
    );
}

#[actix_web::test]
async fn a_lost_full_refund_answer_is_the_same_refund_on_retry_sqlite() {
    lost_refund_answer(Backend::Sqlite, None, "10.00").await
}

#[actix_web::test]
async fn a_lost_full_refund_answer_is_the_same_refund_on_retry_postgres() {
    lost_refund_answer(Backend::Postgres, None, "10.00").await
}

#[actix_web::test]
async fn a_lost_partial_refund_answer_is_the_same_refund_on_retry_sqlite() {
    lost_refund_answer(Backend::Sqlite, Some("4.00"), "4.00").await
}

#[actix_web::test]
async fn a_lost_partial_refund_answer_is_the_same_refund_on_retry_postgres() {
    lost_refund_answer(Backend::Postgres, Some("4.00"), "4.00").await
}
