//! `Idempotency-Key` on our own API (issue 8): replay, conflicts, concurrency, isolation between
//! accounts, retryable failures, expiry.

use crate::both_backends;
use crate::helpers::TestApp;
use diesel::prelude::*;
use pos_backend::db::schema::api_idempotency::dsl;
use pos_backend::db::Db;
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";

/// What came back: status, whether it was a replay, the body.
type Answer = (u16, bool, Value);

async fn keyed(app: &TestApp, token: Option<&str>, key: &str, path: &str, body: &Value) -> Answer {
    let mut request = app
        .client
        .post(app.url(path))
        .header("Idempotency-Key", key)
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer(request).await
}

async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let replayed = match response.headers().get("Idempotent-Replayed") {
        None => false,
        Some(v) => {
            assert_eq!(v, "true");
            true
        }
    };
    let text = response.text().await.unwrap();
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, replayed, body)
}

fn intent(account: &str, tx: &str, amount: &str) -> Value {
    json!({
        "external_account_id": account,
        "amount": amount,
        "payment_method_types": "card_present",
        "capture_method": "manual",
        "external_transaction_id": tx,
    })
}

/// A POST with a chunked body (no Content-Length), over a raw HTTP/1.1 connection.
async fn chunked(app: &TestApp, token: &str, key: &str, path: &str, body: &[u8]) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nIdempotency-Key: {key}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.chunks(4096) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    // The server may answer (413) before it has read everything.
    let _ = stream.write_all(&request).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8(response).unwrap();
    let (head, mut rest) = text.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    let mut body = String::new();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            body.push_str(&tail[..size]);
            rest = tail[size..].trim_start_matches("\r\n");
            if size == 0 {
                break;
            }
        }
    } else {
        body.push_str(rest);
    }
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON ({status}): {text}")),
    )
}

async fn intent_creations(app: &TestApp) -> usize {
    app.stripe_calls()
        .await
        .into_iter()
        .filter(|(m, p)| m == "POST" && p == "/v1/payment_intents")
        .count()
}

/// Runs `f` on the app's database.
async fn with_db<T: Send + 'static>(
    app: &TestApp,
    f: impl FnOnce(&mut pos_backend::db::DbConnection) -> QueryResult<T> + Send + 'static,
) -> T {
    let url = app.database_url.clone();
    tokio::task::spawn_blocking(move || {
        let db = Db::connect(&url, 1).unwrap();
        let mut conn = db.get().unwrap();
        f(&mut conn).unwrap()
    })
    .await
    .unwrap()
}

async fn stored_keys(app: &TestApp) -> i64 {
    with_db(app, |c| dsl::api_idempotency.count().get_result(c)).await
}

both_backends! {
    async fn the_first_response_is_replayed(app) {
        let token = app.merchant("acme", "usd").await;
        let body = intent("acme", "order-1", "12.99");
        let first = keyed(&app, Some(&token), "key-1", "/v1/payment/intent", &body).await;
        assert_eq!((first.0, first.1), (200, false), "{}", first.2);
        let calls = app.stripe_calls().await;
        let again = keyed(&app, Some(&token), "key-1", "/v1/payment/intent", &body).await;
        assert_eq!(again, (200, true, first.2.clone()), "the same answer, marked as a replay");
        assert_eq!(app.stripe_calls().await, calls, "no Stripe call for a replay");
        assert_eq!(intent_creations(&app).await, 1);

        // The same JSON with other key order and spacing is the same request.
        let raw = r#"{ "external_transaction_id":"order-1", "capture_method":"manual", "payment_method_types":"card_present", "amount":"12.99", "external_account_id":"acme" }"#;
        let reordered = answer(app.client.post(app.url("/v1/payment/intent")).bearer_auth(&token)
            .header("Idempotency-Key", "key-1").header("Content-Type", "application/json").body(raw)).await;
        assert_eq!(reordered, (200, true, first.2.clone()));

        // Without a key, or with another, the request runs (the flow's own idempotency answers).
        let (status, plain) = app.post("/v1/payment/intent", &token, body.clone()).await;
        assert_eq!((status, &plain["id"]), (200, &first.2["id"]));
        let other_key = keyed(&app, Some(&token), "key-2", "/v1/payment/intent", &body).await;
        assert_eq!((other_key.0, other_key.1, &other_key.2["id"]), (200, false, &first.2["id"]));
        assert_eq!(intent_creations(&app).await, 1);

        // A token with other scopes never gets the stored answer (it holds a client secret).
        let read_only = app.token(&["acme"], "payments:read");
        let narrower = keyed(&app, Some(&read_only), "key-1", "/v1/payment/intent", &body).await;
        assert!(!narrower.1 && narrower.0 != 200, "{narrower:?}");
        assert!(narrower.2.get("client_secret").is_none());
    }

    async fn a_4xx_is_replayed_too(app) {
        let token = app.merchant("acme", "usd").await;
        let (_, created) = app.post("/v1/payment/intent", &token, intent("acme", "order-2", "5.00")).await;
        let id = created["id"].as_str().unwrap().to_string();
        let capture = json!({"payment_id": id, "external_account_id": "acme"});
        let refused = keyed(&app, Some(&token), "capture-1", "/v1/payment/capture", &capture).await;
        assert_eq!((refused.0, refused.1), (409, false), "{}", refused.2);
        assert_eq!(refused.2["error"]["code"], "payment_not_capturable");

        // The card is tapped: the same key still answers what it answered first.
        let reader = app.register_reader().await;
        let (status, tapped) = app.tap_card(&reader, &id, VISA).await;
        assert_eq!(status, 200, "{tapped}");
        let again = keyed(&app, Some(&token), "capture-1", "/v1/payment/capture", &capture).await;
        assert_eq!(again, (409, true, refused.2.clone()));
        let fresh = keyed(&app, Some(&token), "capture-2", "/v1/payment/capture", &capture).await;
        assert_eq!((fresh.0, fresh.1, fresh.2["status"].as_str()), (200, false, Some("succeeded")), "{}", fresh.2);

        // Validation errors are answered (and replayed) exactly as without a key.
        let bad = intent("acme", "order-3", "abc");
        let (status, plain) = app.post("/v1/payment/intent", &token, bad.clone()).await;
        assert_eq!(status, 400);
        assert_eq!(keyed(&app, Some(&token), "bad-1", "/v1/payment/intent", &bad).await, (400, false, plain.clone()));
        assert_eq!(keyed(&app, Some(&token), "bad-1", "/v1/payment/intent", &bad).await, (400, true, plain));
    }

    async fn the_same_key_for_another_request_is_a_conflict(app) {
        let token = app.merchant("acme", "usd").await;
        let first = keyed(&app, Some(&token), "key-1", "/v1/payment/intent", &intent("acme", "order-1", "12.99")).await;
        assert_eq!(first.0, 200, "{}", first.2);
        let calls = app.stripe_calls().await;
        for (path, body) in [
            ("/v1/payment/intent", intent("acme", "order-1", "13.00")),
            ("/v1/payment/intent", intent("acme", "order-9", "12.99")),
            ("/v1/payment/capture", json!({"payment_id": first.2["id"], "external_account_id": "acme"})),
        ] {
            let (status, replayed, error) = keyed(&app, Some(&token), "key-1", path, &body).await;
            assert_eq!((status, replayed), (409, false), "{error}");
            assert_eq!(error["error"]["code"], "idempotency_key_reused");
            assert_eq!(error["error"]["param"], "Idempotency-Key");
            assert_eq!(error["error"]["type"], "invalid_request_error");
        }
        assert_eq!(app.stripe_calls().await, calls, "a conflict reaches no handler");
        // The original is still replayed.
        let again = keyed(&app, Some(&token), "key-1", "/v1/payment/intent", &intent("acme", "order-1", "12.99")).await;
        assert_eq!(again, (200, true, first.2));
    }

    async fn concurrent_duplicates_run_once(app) {
        let token = app.merchant("acme", "usd").await;
        app.add_fault(json!({"path": "/v1/payment_intents", "latency_ms": 300, "times": 1})).await;
        let body = intent("acme", "order-burst", "7.50");
        let answers = futures_util::future::join_all(
            (0..10).map(|_| keyed(&app, Some(&token), "burst", "/v1/payment/intent", &body)),
        )
        .await;
        let executed: Vec<&Answer> = answers.iter().filter(|(s, r, _)| *s == 200 && !r).collect();
        assert_eq!(executed.len(), 1, "exactly one request ran: {answers:?}");
        let first = &executed[0].2;
        let mut in_progress = 0;
        for (status, replayed, body) in &answers {
            match (status, replayed) {
                (200, false) => {}
                (200, true) => assert_eq!(body, first),
                (409, false) => {
                    assert_eq!(body["error"]["code"], "request_in_progress", "{body}");
                    assert_eq!(body["error"]["retryable"], true);
                    in_progress += 1;
                }
                other => panic!("unexpected {other:?}: {body}"),
            }
        }
        assert!(in_progress > 0, "the duplicates overlapped the first: {answers:?}");
        assert_eq!(intent_creations(&app).await, 1);
        // Once it is done, the retry gets the replay.
        assert_eq!(keyed(&app, Some(&token), "burst", "/v1/payment/intent", &body).await, (200, true, first.clone()));
    }

    async fn a_stored_response_never_reaches_another_account(app) {
        let acme = app.merchant("acme", "usd").await;
        let other = app.merchant("other", "usd").await;
        let body = intent("acme", "order-1", "12.99");
        let first = keyed(&app, Some(&acme), "shared-key", "/v1/payment/intent", &body).await;
        assert_eq!(first.0, 200, "{}", first.2);

        // Another account's token naming acme: 403 exactly as without the key.
        let (status, plain) = app.post("/v1/payment/intent", &other, body.clone()).await;
        assert_eq!(status, 403);
        assert_eq!(keyed(&app, Some(&other), "shared-key", "/v1/payment/intent", &body).await, (403, false, plain));
        // No token: 401, not the replay.
        let (status, replayed, error) = keyed(&app, None, "shared-key", "/v1/payment/intent", &body).await;
        assert_eq!((status, replayed, error["error"]["type"].as_str()), (401, false, Some("authentication_error")));

        // The same key in its own account is its own request: a new intent, not acme's.
        let own = keyed(&app, Some(&other), "shared-key", "/v1/payment/intent", &intent("other", "order-1", "12.99")).await;
        assert_eq!((own.0, own.1), (200, false), "{}", own.2);
        assert_ne!(own.2["id"], first.2["id"]);
        assert_eq!(own.2["external_account_id"], "other");

        // acme's payment through other's account, with a key acme used for it: 404 as without.
        let capture = |account: &str| json!({"payment_id": first.2["id"], "external_account_id": account});
        let acme_capture = keyed(&app, Some(&acme), "capture-key", "/v1/payment/capture", &capture("acme")).await;
        assert_eq!(acme_capture.0, 409, "{}", acme_capture.2);
        let (status, plain) = app.post("/v1/payment/capture", &other, capture("other")).await;
        assert_eq!(status, 404);
        assert_eq!(keyed(&app, Some(&other), "capture-key", "/v1/payment/capture", &capture("other")).await, (404, false, plain));
    }

    async fn keys_are_at_most_255_visible_characters(app) {
        let token = app.merchant("acme", "usd").await;
        let body = intent("acme", "order-1", "12.99");
        let long = "k".repeat(256);
        let (status, _, error) = keyed(&app, Some(&token), &long, "/v1/payment/intent", &body).await;
        assert_eq!(status, 400, "{error}");
        assert_eq!(error["error"]["code"], "parameter_invalid");
        assert_eq!(error["error"]["param"], "Idempotency-Key");
        assert_eq!(intent_creations(&app).await, 0);
        // Unauthenticated comes first.
        assert_eq!(keyed(&app, None, &long, "/v1/payment/intent", &body).await.0, 401);
        let longest = "k".repeat(255);
        let ok = keyed(&app, Some(&token), &longest, "/v1/payment/intent", &body).await;
        assert_eq!((ok.0, ok.1), (200, false), "{}", ok.2);
        assert_eq!(keyed(&app, Some(&token), &longest, "/v1/payment/intent", &body).await, (200, true, ok.2));
    }

    async fn retryable_failures_are_not_stored(app) {
        let token = app.merchant("acme", "usd").await;
        app.add_fault(json!({"path": "/v1/payment_intents", "error_rate": 1.0, "times": 3})).await;
        let body = intent("acme", "order-1", "12.99");
        let (status, replayed, error) = keyed(&app, Some(&token), "retry-me", "/v1/payment/intent", &body).await;
        assert_eq!((status, replayed), (502, false), "{error}");
        assert_eq!(error["error"]["retryable"], true);
        assert_eq!(stored_keys(&app).await, 0, "nothing kept for a retryable failure");
        let retried = keyed(&app, Some(&token), "retry-me", "/v1/payment/intent", &body).await;
        assert_eq!((retried.0, retried.1), (200, false), "{}", retried.2);
        assert_eq!(keyed(&app, Some(&token), "retry-me", "/v1/payment/intent", &body).await, (200, true, retried.2));
        assert_eq!(intent_creations(&app).await, 4, "3 failed attempts, then the retry's one");
    }

    async fn bodies_and_envelopes_are_unchanged_by_a_key(app) {
        let token = app.merchant("acme", "usd").await;
        let send = |key: Option<&str>, content_type: &str, body: Vec<u8>| {
            let mut request = app.client.post(app.url("/v1/payment/intent")).bearer_auth(&token)
                .header("Content-Type", content_type.to_string()).body(body);
            if let Some(key) = key {
                request = request.header("Idempotency-Key", key.to_string());
            }
            answer(request)
        };
        let padded = format!(r#"{{"external_account_id":"acme","amount":"1.00","external_transaction_id":"big","description":"{}"}}"#, "x".repeat(70_000));
        let cases: [(&str, Vec<u8>, u16); 4] = [
            ("application/json", b"{not json".to_vec(), 400),
            ("application/json", br#"{"external_account_id":"acme","amount":"1.00","external_transaction_id":"t","color":"red"}"#.to_vec(), 400),
            ("text/plain", serde_json::to_vec(&intent("acme", "t", "1.00")).unwrap(), 415),
            ("application/json", padded.into_bytes(), 413),
        ];
        for (i, (content_type, body, expected)) in cases.into_iter().enumerate() {
            let (status, _, plain) = send(None, content_type, body.clone()).await;
            assert_eq!(status, expected, "{plain}");
            let key = format!("envelope-{i}");
            assert_eq!(send(Some(&key), content_type, body).await, (expected, false, plain), "case {i}");
        }

        // Chunked bodies (no Content-Length): read, put back, and over the limit still a 413.
        let big = format!(r#"{{"external_account_id":"acme","amount":"1.00","external_transaction_id":"t","description":"{}"}}"#, "x".repeat(70_000));
        let (status, error) = chunked(&app, &token, "chunked-big", "/v1/payment/intent", big.as_bytes()).await;
        assert_eq!((status, error["error"]["code"].as_str()), (413, Some("body_too_large")), "{error}");
        let small = intent("acme", "chunked", "2.00");
        let (status, created) = chunked(&app, &token, "chunked-small", "/v1/payment/intent", &serde_json::to_vec(&small).unwrap()).await;
        assert_eq!(status, 200, "{created}");
        assert_eq!(keyed(&app, Some(&token), "chunked-small", "/v1/payment/intent", &small).await, (200, true, created));
    }

    async fn only_keyed_posts_under_v1_are_stored(app) {
        let token = app.merchant("acme", "usd").await;
        let (status, _) = app.post("/v1/payment/intent", &token, intent("acme", "order-1", "12.99")).await;
        assert_eq!(status, 200);
        assert_eq!(stored_keys(&app).await, 0, "no key, no row");
        // Stripe's webhook endpoint is not a caller's: a key there is ignored.
        let response = app.client.post(app.url("/v1/webhooks/stripe")).bearer_auth(&token)
            .header("Idempotency-Key", "hook").json(&json!({"external_account_id": "acme"})).send().await.unwrap();
        assert!(response.headers().get("Idempotent-Replayed").is_none());
        // GETs are not stored either.
        let response = app.client.get(app.url("/v1/payments?external_account_id=acme")).bearer_auth(&token)
            .header("Idempotency-Key", "list").send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(stored_keys(&app).await, 0);
        let stored = keyed(&app, Some(&token), "one", "/v1/payment/intent", &intent("acme", "order-2", "1.00")).await;
        assert_eq!(stored.0, 200);
        assert_eq!(stored_keys(&app).await, 1);
    }

    async fn old_and_abandoned_keys_are_released(app) {
        let token = app.merchant("acme", "usd").await;
        let body = intent("acme", "order-1", "12.99");
        let first = keyed(&app, Some(&token), "aging", "/v1/payment/intent", &body).await;
        assert_eq!(first.0, 200, "{}", first.2);
        let ago = |secs: i64| pos_backend::db::models::now() - chrono::Duration::seconds(secs);

        // Still running (a fresh in_progress row): the duplicate waits.
        let now = ago(0);
        with_db(&app, move |c| diesel::update(dsl::api_idempotency)
            .set((dsl::status.eq("in_progress"), dsl::created_at.eq(now))).execute(c)).await;
        let (status, _, error) = keyed(&app, Some(&token), "aging", "/v1/payment/intent", &body).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("request_in_progress")));

        // Left in_progress by a crash past the lease: the retry runs again and is stored.
        let stale = ago(pos_backend::api::idempotency::LEASE_SECS + 60);
        with_db(&app, move |c| diesel::update(dsl::api_idempotency).set(dsl::created_at.eq(stale)).execute(c)).await;
        let rerun = keyed(&app, Some(&token), "aging", "/v1/payment/intent", &body).await;
        assert_eq!((rerun.0, rerun.1, &rerun.2["id"]), (200, false, &first.2["id"]));
        assert_eq!(keyed(&app, Some(&token), "aging", "/v1/payment/intent", &body).await, (200, true, rerun.2));

        // After 24 h the key is free, even for another request.
        let old = ago(25 * 3600);
        with_db(&app, move |c| diesel::update(dsl::api_idempotency).set(dsl::created_at.eq(old)).execute(c)).await;
        let other = keyed(&app, Some(&token), "aging", "/v1/payment/intent", &intent("acme", "order-2", "3.00")).await;
        assert_eq!((other.0, other.1, other.2["amount"].as_str()), (200, false, Some("3.00")), "{}", other.2);
        assert_eq!(stored_keys(&app).await, 1, "the old row was replaced");
    }
}

both_backends! {
    async fn a_client_that_gave_up_gets_the_replay(app) {
        let token = app.merchant("acme", "usd").await;
        app.add_fault(json!({"path": "/v1/payment_intents", "latency_ms": 1500, "times": 1})).await;
        let body = intent("acme", "order-slow", "8.00");
        let gone = app.client.post(app.url("/v1/payment/intent")).bearer_auth(&token)
            .header("Idempotency-Key", "slow").json(&body)
            .timeout(std::time::Duration::from_millis(300)).send().await;
        assert!(gone.unwrap_err().is_timeout());
        // The request carries on without its client: retries wait, then get its answer.
        let mut waited = 0;
        let retry = loop {
            let retry = keyed(&app, Some(&token), "slow", "/v1/payment/intent", &body).await;
            if retry.0 != 409 {
                break retry;
            }
            assert_eq!(retry.2["error"]["code"], "request_in_progress");
            waited += 1;
            assert!(waited < 50, "still in progress after 10 s");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        assert!(waited > 0, "the first request was still running");
        assert_eq!((retry.0, retry.1, retry.2["external_transaction_id"].as_str()), (200, true, Some("order-slow")), "{}", retry.2);
        assert_eq!(intent_creations(&app).await, 1);
    }
}
