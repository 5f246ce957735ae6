//! The Stripe client against a scripted local HTTP server: headers, form bodies, retries (and the
//! Idempotency-Key they reuse), timeouts, error decoding, tolerance of unknown fields. And
//! (`simulator`) against the embedded Stripe simulator: every operation, spec conformance of every
//! parameter sent, retries under injected faults. And (`typed`) the client's typed enums against
//! the schemas of the pinned API version.

mod simulator;
#[path = "../support/mod.rs"]
mod support;
mod typed;

use support::{mock, spec};

use std::time::{Duration, Instant};

use mock::{MockStripe, Reply};
use stripe_client::{
    CreatePaymentIntent, ErrorType, PaymentIntentStatus, StripeAccount, StripeClient, StripeConfig,
    StripeError, API_VERSION,
};

const PI: &str = r#"{"id":"pi_1","object":"payment_intent","amount":1299,"amount_capturable":0,
  "amount_received":0,"currency":"usd","status":"requires_payment_method","capture_method":"manual",
  "client_secret":"pi_1_secret_xyz","customer":null,"payment_method":null,"latest_charge":null,
  "last_payment_error":null,"metadata":{},"setup_future_usage":null,"created":1700000000,
  "cancellation_reason":null,"payment_method_types":["card_present"],"livemode":false}"#;

fn client(mock: &MockStripe) -> StripeClient {
    client_with(mock, Duration::from_secs(5))
}

fn client_with(mock: &MockStripe, timeout: Duration) -> StripeClient {
    StripeClient::new(StripeConfig {
        api_base: mock.base(),
        timeout,
        max_retries: 2,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(10),
    })
    .unwrap()
}

fn account() -> StripeAccount {
    StripeAccount::new("sk_test_123")
}

fn create_params() -> CreatePaymentIntent<'static> {
    CreatePaymentIntent {
        payment_method_types: &["card_present"],
        ..CreatePaymentIntent::new(1299, "usd")
    }
}

#[tokio::test]
async fn post_sends_auth_version_account_content_type_and_idempotency_key() {
    let mock = MockStripe::start(vec![Reply::json(200, PI)]).await;
    let acct = account().for_connected_account("acct_123");
    let pi = client(&mock)
        .create_payment_intent(&acct, &create_params(), "pi:acct:tx-1")
        .await
        .unwrap();
    assert_eq!(pi.id, "pi_1");
    assert_eq!(pi.client_secret.unwrap().expose(), "pi_1_secret_xyz");

    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(
        (r.method.as_str(), r.target.as_str()),
        ("POST", "/v1/payment_intents")
    );
    assert_eq!(r.header("authorization"), Some("Bearer sk_test_123"));
    assert_eq!(r.header("stripe-version"), Some(API_VERSION));
    assert_eq!(r.header("stripe-account"), Some("acct_123"));
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(r.header("idempotency-key"), Some("pi:acct:tx-1"));
    assert!(r.header("user-agent").unwrap().starts_with("pos-backend/"));
    assert_eq!(
        r.body,
        "amount=1299&currency=usd&allowed_payment_method_types[0]=card_present"
    );
}

#[tokio::test]
async fn get_puts_params_in_the_query_and_sends_no_body_headers() {
    let mock = MockStripe::start(vec![Reply::json(200, PI)]).await;
    client(&mock)
        .retrieve_payment_intent(&account(), "pi_1", &["latest_charge"])
        .await
        .unwrap();
    let r = &mock.requests()[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.target, "/v1/payment_intents/pi_1?expand[]=latest_charge");
    assert_eq!(r.header("authorization"), Some("Bearer sk_test_123"));
    assert_eq!(r.header("stripe-version"), Some(API_VERSION));
    assert_eq!(r.header("stripe-account"), None);
    assert_eq!(r.header("idempotency-key"), None);
    assert_eq!(r.header("content-type"), None);
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn an_empty_post_still_carries_the_form_content_type() {
    let pm = r#"{"id":"pm_1","object":"payment_method","type":"card","customer":null,"created":1,
      "card":{"brand":"visa","last4":"4242","exp_month":12,"exp_year":2030}}"#;
    let mock = MockStripe::start(vec![Reply::json(200, pm)]).await;
    let detached = client(&mock)
        .detach_payment_method(&account(), "pm_1", "detach:pm_1")
        .await
        .unwrap();
    assert!(detached.customer.is_none());
    let r = &mock.requests()[0];
    assert_eq!(
        (r.method.as_str(), r.target.as_str()),
        ("POST", "/v1/payment_methods/pm_1/detach")
    );
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(r.header("content-length"), Some("0"));
    assert_eq!(r.header("idempotency-key"), Some("detach:pm_1"));
    assert!(r.body.is_empty());
}

fn assert_one_key(mock: &MockStripe, attempts: usize, key: &str) {
    let reqs = mock.requests();
    assert_eq!(reqs.len(), attempts, "{reqs:#?}");
    for r in &reqs {
        assert_eq!(r.header("idempotency-key"), Some(key));
        assert_eq!(r.body, reqs[0].body);
    }
}

#[tokio::test]
async fn retries_500_and_503_with_the_same_idempotency_key() {
    let mock = MockStripe::start(vec![
        Reply::error(500, "api_error", "internal"),
        Reply::error(503, "api_error", "unavailable"),
        Reply::json(200, PI),
    ])
    .await;
    let pi = client(&mock)
        .create_payment_intent(&account(), &create_params(), "key-5xx")
        .await
        .unwrap();
    assert_eq!(pi.id, "pi_1");
    assert_one_key(&mock, 3, "key-5xx");
}

#[tokio::test]
async fn retries_409_lock_timeout_and_idempotency_key_in_use() {
    let mock = MockStripe::start(vec![
        Reply::error(409, "invalid_request_error", "lock_timeout"),
        Reply::error(409, "idempotency_error", "idempotency_key_in_use"),
        Reply::json(200, PI),
    ])
    .await;
    client(&mock)
        .create_payment_intent(&account(), &create_params(), "key-409")
        .await
        .unwrap();
    assert_one_key(&mock, 3, "key-409");
}

#[tokio::test]
async fn retries_a_connection_reset_with_the_same_idempotency_key() {
    let mock = MockStripe::start(vec![Reply::Reset, Reply::json(200, PI)]).await;
    client(&mock)
        .create_payment_intent(&account(), &create_params(), "key-reset")
        .await
        .unwrap();
    assert_one_key(&mock, 2, "key-reset");
}

#[tokio::test]
async fn gives_up_after_max_retries_with_the_last_error() {
    let mock = MockStripe::start(vec![
        Reply::error(500, "api_error", "one"),
        Reply::error(502, "api_error", "two"),
        Reply::error(503, "api_error", "three"),
        Reply::json(200, PI),
    ])
    .await;
    let err = client(&mock)
        .create_payment_intent(&account(), &create_params(), "key-exhausted")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.code(), Some("three"));
    assert_eq!(err.request_id(), Some("req_503"));
    assert!(err.is_retryable());
    assert_one_key(&mock, 3, "key-exhausted");
}

#[tokio::test]
async fn repeated_resets_end_in_a_connection_error() {
    let mock = MockStripe::start(vec![Reply::Reset, Reply::Reset, Reply::Reset]).await;
    let err = client(&mock)
        .create_payment_intent(&account(), &create_params(), "key-resets")
        .await
        .unwrap_err();
    assert!(matches!(err, StripeError::Connection { .. }), "{err:?}");
    // The request was sent before the connection broke: it may have been applied.
    assert!(err.is_retryable() && err.is_outcome_unknown());
    assert_one_key(&mock, 3, "key-resets");
}

#[tokio::test]
async fn an_unreachable_host_is_a_connection_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = StripeClient::new(StripeConfig {
        api_base: format!("http://{addr}"),
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        ..StripeConfig::default()
    })
    .unwrap();
    let err = client
        .retrieve_payment_intent(&account(), "pi_1", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, StripeError::Connection { .. }), "{err:?}");
    // Never sent: certainly not applied.
    assert!(err.is_retryable() && !err.is_outcome_unknown());
}

#[tokio::test]
async fn a_429_is_retried_only_when_stripe_says_so() {
    let mock = MockStripe::start(vec![Reply::error(
        429,
        "invalid_request_error",
        "rate_limit",
    )])
    .await;
    let err = client(&mock)
        .create_payment_intent(&account(), &create_params(), "key-429")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert_eq!(mock.requests().len(), 1);

    let mock = MockStripe::start(vec![
        Reply::error(429, "invalid_request_error", "rate_limit")
            .with_header("Stripe-Should-Retry", "true"),
        Reply::json(200, PI),
    ])
    .await;
    client(&mock)
        .create_payment_intent(&account(), &create_params(), "key-429-retry")
        .await
        .unwrap();
    assert_one_key(&mock, 2, "key-429-retry");
}

#[tokio::test]
async fn stripe_should_retry_false_stops_at_once() {
    let mock = MockStripe::start(vec![
        Reply::error(500, "api_error", "no_retry").with_header("Stripe-Should-Retry", "false"),
        Reply::json(200, PI),
    ])
    .await;
    let err = client(&mock)
        .create_payment_intent(&account(), &create_params(), "key-false")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("no_retry"));
    assert_eq!(mock.requests().len(), 1);

    let mock = MockStripe::start(vec![Reply::error(
        409,
        "invalid_request_error",
        "lock_timeout",
    )
    .with_header("Stripe-Should-Retry", "false")])
    .await;
    client(&mock)
        .create_payment_intent(&account(), &create_params(), "key-false-409")
        .await
        .unwrap_err();
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let mock = MockStripe::start(vec![Reply::error(
        400,
        "invalid_request_error",
        "parameter_unknown",
    )])
    .await;
    let err = client(&mock)
        .create_payment_intent(&account(), &create_params(), "key-400")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("parameter_unknown"));
    assert!(!err.is_retryable());
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn a_timeout_is_outcome_unknown_after_one_attempt() {
    let mock = MockStripe::start(vec![Reply::Hang, Reply::json(200, PI)]).await;
    let started = Instant::now();
    let err = client_with(&mock, Duration::from_millis(300))
        .create_payment_intent(&account(), &create_params(), "key-timeout")
        .await
        .unwrap_err();
    assert!(matches!(err, StripeError::Timeout { .. }), "{err:?}");
    assert!(err.is_outcome_unknown());
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn gets_are_retried_too() {
    let mock = MockStripe::start(vec![
        Reply::error(503, "api_error", "unavailable"),
        Reply::Reset,
        Reply::json(200, PI),
    ])
    .await;
    let pi = client(&mock)
        .retrieve_payment_intent(&account(), "pi_1", &[])
        .await
        .unwrap();
    assert_eq!(pi.id, "pi_1");
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs
        .iter()
        .all(|r| r.method == "GET" && r.target == "/v1/payment_intents/pi_1"));
}

#[tokio::test]
async fn decodes_a_card_error_with_decline_code_payment_intent_and_request_id() {
    let body = r#"{"error":{"type":"card_error","code":"card_declined","decline_code":"generic_decline",
      "message":"Your card was declined.","charge":"ch_1",
      "payment_intent":{"id":"pi_1","object":"payment_intent","amount":1299,"currency":"usd",
        "status":"requires_payment_method","capture_method":"manual","created":1700000000,
        "client_secret":"pi_1_secret_xyz",
        "last_payment_error":{"type":"card_error","code":"card_declined","decline_code":"generic_decline"}}}}"#;
    let mock = MockStripe::start(vec![Reply::Respond {
        status: 402,
        headers: vec![("Request-Id", "req_abc123".to_string())],
        body: body.to_string(),
    }])
    .await;
    let err = client(&mock)
        .confirm_payment_intent(&account(), "pi_1", &Default::default(), "confirm:pi_1")
        .await
        .unwrap_err();
    assert!(err.is_card_error());
    assert!(!err.is_retryable());
    assert_eq!(err.request_id(), Some("req_abc123"));
    let StripeError::Api {
        status,
        error_type,
        code,
        decline_code,
        message,
        payment_intent,
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(*status, 402);
    assert_eq!(*error_type, ErrorType::CardError);
    assert_eq!(code.as_deref(), Some("card_declined"));
    assert_eq!(decline_code.as_deref(), Some("generic_decline"));
    assert_eq!(message.as_deref(), Some("Your card was declined."));
    let pi = payment_intent.as_ref().unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::RequiresPaymentMethod);
    assert_eq!(mock.requests().len(), 1);
    let shown = format!("{err} / {err:?}");
    assert!(!shown.contains("pi_1_secret_xyz") && !shown.contains("sk_test_123"));
}

#[tokio::test]
async fn unknown_fields_and_values_are_tolerated() {
    let body = r#"{"id":"pi_9","object":"payment_intent","amount":500,"currency":"usd",
      "status":"requires_reauthorization","capture_method":"automatic_delayed","created":1,
      "metadata":{"a":"b"},"brand_new":{"nested":[1,2.25,{"x":null}]},"amount_details":{"tip":{"amount":100}},
      "latest_charge":{"id":"ch_9","amount":500,"currency":"usd","status":"succeeded","created":1,
        "payment_method_details":{"type":"card_present","card_present":{"brand":"visa","last4":"4242",
          "exp_month":1,"exp_year":2031,"wallet":{"type":"apple_pay"},"offline":null,"new_thing":true}}}}"#;
    let mock = MockStripe::start(vec![Reply::json(200, body)]).await;
    let pi = client(&mock)
        .retrieve_payment_intent(&account(), "pi_9", &["latest_charge"])
        .await
        .unwrap();
    assert_eq!(pi.status.as_str(), "requires_reauthorization");
    assert_eq!(pi.capture_method.as_str(), "automatic_delayed");
    let charge = pi.latest_charge.unwrap().into_object().unwrap();
    let card = charge.card_present().unwrap();
    assert_eq!(card.wallet.as_ref().unwrap().wallet_type, "apple_pay");
    assert!(card.generated_card.is_none());
}

#[tokio::test]
async fn an_undecodable_success_is_a_decode_error() {
    let mock = MockStripe::start(vec![Reply::json(200, r#"{"id":"pi_1","amount":"lots"}"#)]).await;
    let err = client(&mock)
        .retrieve_payment_intent(&account(), "pi_1", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, StripeError::Decode { .. }), "{err:?}");
    assert_eq!(err.request_id(), Some("req_200"));
    assert!(err.to_string().contains("amount"), "{err}");
}

#[tokio::test]
async fn bad_ids_and_live_test_helpers_are_refused_without_io() {
    let mock = MockStripe::start(vec![]).await;
    let c = client(&mock);
    let err = c
        .retrieve_payment_intent(&account(), "../customers", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, StripeError::InvalidArgument(_)));
    let long = "k".repeat(256);
    for key in ["", "pi:acct:sub-ünicode-1", " outer space", long.as_str()] {
        let err = c
            .create_payment_intent(&account(), &create_params(), key)
            .await
            .unwrap_err();
        assert!(matches!(err, StripeError::InvalidArgument(_)), "{key}");
    }
    let err = c
        .present_payment_method(
            &StripeAccount::new("sk_live_x"),
            "tmr_1",
            &Default::default(),
            "present:1",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StripeError::InvalidArgument(_)));
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn clones_share_one_pooled_connection() {
    let mock = MockStripe::start(vec![]).await;
    for _ in 0..5 {
        mock.push(Reply::json(200, PI));
    }
    let c = client(&mock);
    for i in 0..5 {
        let clone = c.clone();
        clone
            .retrieve_payment_intent(&account(), "pi_1", &[])
            .await
            .unwrap();
        assert_eq!(mock.requests().len(), i + 1);
    }
    assert_eq!(mock.connections(), 1);
}

#[tokio::test]
async fn listing_every_webhook_endpoint_follows_the_pages() {
    let endpoint = |id: &str| {
        format!(
            r#"{{"id":"{id}","object":"webhook_endpoint","api_version":null,"application":null,
               "created":1,"description":null,"enabled_events":["*"],"livemode":false,
               "metadata":{{}},"status":"enabled","url":"https://x/{id}"}}"#
        )
    };
    let page = |ids: &[&str], more: bool| {
        let data: Vec<String> = ids.iter().map(|id| endpoint(id)).collect();
        Reply::json(
            200,
            &format!(
                r#"{{"object":"list","data":[{}],"has_more":{more},"url":"/v1/webhook_endpoints"}}"#,
                data.join(",")
            ),
        )
    };
    let mock = MockStripe::start(vec![page(&["we_3", "we_2"], true), page(&["we_1"], false)]).await;
    let all = client(&mock)
        .list_all_webhook_endpoints(&account())
        .await
        .unwrap();
    let ids: Vec<&str> = all.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["we_3", "we_2", "we_1"]);
    let targets: Vec<String> = mock.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(
        targets,
        [
            "/v1/webhook_endpoints?limit=100",
            "/v1/webhook_endpoints?limit=100&starting_after=we_2"
        ]
    );
}

#[tokio::test]
async fn payout_balance_transactions_follow_every_page_for_the_connected_account() {
    let txn = |id: &str, kind: &str, amount: i64| {
        format!(
            r#"{{"id":"{id}","object":"balance_transaction","amount":{amount},"fee":0,"net":{amount},
            "currency":"usd","available_on":1,"type":"{kind}","source":{{"id":"ch_{id}","object":"charge",
            "payment_intent":"pi_{id}"}},"created":1}}"#
        )
    };
    let page = |items: Vec<String>, more: bool| {
        format!(
            r#"{{"object":"list","data":[{}],"has_more":{more},"url":"/v1/balance_transactions"}}"#,
            items.join(",")
        )
    };
    let mock = MockStripe::start(vec![
        Reply::json(
            200,
            &page(
                vec![txn("txn_3", "payout", -30), txn("txn_2", "charge", 20)],
                true,
            ),
        ),
        Reply::json(200, &page(vec![txn("txn_1", "charge", 10)], false)),
    ])
    .await;
    let acct = account().for_connected_account("acct_123");
    let all = client(&mock)
        .payout_balance_transactions(&acct, "po_1")
        .await
        .unwrap();
    let ids: Vec<&str> = all.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["txn_3", "txn_2", "txn_1"]);
    assert_eq!(all[1].source_id(), Some("ch_txn_2"));
    assert_eq!(
        all[0].transaction_type,
        stripe_client::BalanceTransactionType::Payout
    );
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[0].target,
        "/v1/balance_transactions?payout=po_1&limit=100&expand[]=data.source"
    );
    assert_eq!(
        reqs[1].target,
        "/v1/balance_transactions?payout=po_1&limit=100&starting_after=txn_2&expand[]=data.source"
    );
    assert!(reqs
        .iter()
        .all(|r| r.header("stripe-account") == Some("acct_123")));
}
