//! `Idempotency-Key` on our own API (issue 8): replay, conflicts, concurrency, isolation between
//! accounts, retryable failures, expiry; and the routes never stored, as their answers carry
//! secrets. Most cases create Terminal locations: a request Stripe would repeat without the key.

use crate::both_backends;
use crate::support::app::{eventually, Backend, TestApp};
use crate::support::wait::until_some;
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
    answer(app, request).await
}

async fn answer(app: &TestApp, request: reqwest::RequestBuilder) -> Answer {
    let response = app.exchange(request).await;
    let status = response.status;
    let replayed = match response.headers.get("Idempotent-Replayed") {
        None => false,
        Some(v) => {
            assert_eq!(v, "true");
            true
        }
    };
    (status, replayed, response.json())
}

const LOCATIONS: &str = "/v1/terminal/locations";

fn location(account: &str, name: &str) -> Value {
    json!({
        "external_account_id": account,
        "display_name": name,
        "address": {"line1": "1 Main St", "city": "Springfield", "country": "us"},
    })
}

async fn location_creations(app: &TestApp) -> usize {
    app.stripe_calls()
        .await
        .into_iter()
        .filter(|(m, p)| m == "POST" && p == LOCATIONS)
        .count()
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
    let content_type = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim())
        })
        .unwrap_or_default();
    crate::support::openapi::check_response("POST", path, status, content_type, &body);
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

#[derive(diesel::QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Whether `needle` appears anywhere in the app's database: in the SQLite files (the database and
/// its write-ahead log), or in the text of any row of any PostgreSQL table.
async fn database_contains(app: &TestApp, needle: &str) -> bool {
    let needle = needle.to_string();
    match app.backend {
        Backend::Sqlite => [String::new(), "-wal".into()].iter().any(|suffix| {
            std::fs::read(format!("{}{suffix}", app.database_url))
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        }),
        Backend::Postgres => {
            with_db(app, move |c| {
                let tables: Vec<Name> = diesel::sql_query(
                    "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = 'public'",
                )
                .load(c)?;
                assert!(tables.iter().any(|t| t.name == "api_idempotency"));
                for table in tables {
                    let found: Count = diesel::sql_query(format!(
                        "SELECT count(*) AS n FROM \"{}\" AS t WHERE t::text LIKE '%' || $1 || '%'",
                        table.name
                    ))
                    .bind::<diesel::sql_types::Text, _>(&needle)
                    .get_result(c)?;
                    if found.n > 0 {
                        return Ok(true);
                    }
                }
                Ok(false)
            })
            .await
        }
    }
}

async fn stored_keys(app: &TestApp) -> i64 {
    with_db(app, |c| dsl::api_idempotency.count().get_result(c)).await
}

both_backends! {
    async fn the_first_response_is_replayed(app) {
        let token = app.merchant("acme", "usd").await;
        let body = location("acme", "Main St");
        let first = keyed(&app, Some(&token), "key-1", LOCATIONS, &body).await;
        assert_eq!((first.0, first.1), (200, false), "{}", first.2);
        let calls = app.stripe_calls().await;
        let again = keyed(&app, Some(&token), "key-1", LOCATIONS, &body).await;
        assert_eq!(again, (200, true, first.2.clone()), "the same answer, marked as a replay");
        assert_eq!(app.stripe_calls().await, calls, "no Stripe call for a replay");
        assert_eq!(location_creations(&app).await, 1);

        // The same JSON with other key order and spacing is the same request.
        let raw = r#"{ "address": {"country":"us", "line1":"1 Main St", "city":"Springfield"}, "display_name":"Main St", "external_account_id":"acme" }"#;
        let reordered = answer(&app, app.client.post(app.url(LOCATIONS)).bearer_auth(&token)
            .header("Idempotency-Key", "key-1").header("Content-Type", "application/json").body(raw)).await;
        assert_eq!(reordered, (200, true, first.2.clone()));

        // Without a key, or with another, the request runs again.
        let (status, plain) = app.post(LOCATIONS, &token, body.clone()).await;
        assert_eq!(status, 200, "{plain}");
        assert_ne!(plain["id"], first.2["id"]);
        let other_key = keyed(&app, Some(&token), "key-2", LOCATIONS, &body).await;
        assert_eq!((other_key.0, other_key.1), (200, false));
        assert_ne!(other_key.2["id"], first.2["id"]);
        assert_eq!(location_creations(&app).await, 3);

        // A token with other scopes never gets the stored answer.
        let read_only = app.token(&["acme"], "payments:read");
        let narrower = keyed(&app, Some(&read_only), "key-1", LOCATIONS, &body).await;
        assert!(!narrower.1 && narrower.0 != 200 && narrower.2.get("id").is_none(), "{narrower:?}");
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
        let bad = location("acme", " ");
        let (status, plain) = app.post(LOCATIONS, &token, bad.clone()).await;
        assert_eq!((status, plain["error"]["param"].as_str()), (400, Some("display_name")), "{plain}");
        assert_eq!(keyed(&app, Some(&token), "bad-1", LOCATIONS, &bad).await, (400, false, plain.clone()));
        assert_eq!(keyed(&app, Some(&token), "bad-1", LOCATIONS, &bad).await, (400, true, plain));
    }

    async fn the_same_key_for_another_request_is_a_conflict(app) {
        let token = app.merchant("acme", "usd").await;
        let first = keyed(&app, Some(&token), "key-1", LOCATIONS, &location("acme", "Main St")).await;
        assert_eq!(first.0, 200, "{}", first.2);
        let calls = app.stripe_calls().await;
        for (path, body) in [
            (LOCATIONS, location("acme", "High St")),
            (LOCATIONS, json!({"external_account_id": "acme", "display_name": "Main St", "address": {"line1": "2 Main St", "country": "us"}})),
            ("/v1/terminal/readers", json!({"external_account_id": "acme", "registration_code": "simulated-wpe"})),
        ] {
            let (status, replayed, error) = keyed(&app, Some(&token), "key-1", path, &body).await;
            assert_eq!((status, replayed), (409, false), "{error}");
            assert_eq!(error["error"]["code"], "idempotency_key_reused");
            assert_eq!(error["error"]["param"], "Idempotency-Key");
            assert_eq!(error["error"]["type"], "invalid_request_error");
        }
        assert_eq!(app.stripe_calls().await, calls, "a conflict reaches no handler");
        // The original is still replayed.
        let again = keyed(&app, Some(&token), "key-1", LOCATIONS, &location("acme", "Main St")).await;
        assert_eq!(again, (200, true, first.2));
    }

    async fn concurrent_duplicates_run_once(app) {
        let token = app.merchant("acme", "usd").await;
        app.add_fault(json!({"path": LOCATIONS, "latency_ms": 300, "times": 1})).await;
        let body = location("acme", "Burst St");
        let answers = futures_util::future::join_all(
            (0..10).map(|_| keyed(&app, Some(&token), "burst", LOCATIONS, &body)),
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
        assert_eq!(location_creations(&app).await, 1);
        // Once it is done, the retry gets the replay.
        assert_eq!(keyed(&app, Some(&token), "burst", LOCATIONS, &body).await, (200, true, first.clone()));
    }

    async fn a_stored_response_never_reaches_another_account(app) {
        let acme = app.merchant("acme", "usd").await;
        let other = app.merchant("other", "usd").await;
        let body = location("acme", "Main St");
        let first = keyed(&app, Some(&acme), "shared-key", LOCATIONS, &body).await;
        assert_eq!(first.0, 200, "{}", first.2);

        // Another account's token naming acme: 403 exactly as without the key.
        let (status, plain) = app.post(LOCATIONS, &other, body.clone()).await;
        assert_eq!(status, 403);
        assert_eq!(keyed(&app, Some(&other), "shared-key", LOCATIONS, &body).await, (403, false, plain));
        // No token: 401, not the replay.
        let (status, replayed, error) = keyed(&app, None, "shared-key", LOCATIONS, &body).await;
        assert_eq!((status, replayed, error["error"]["type"].as_str()), (401, false, Some("authentication_error")));

        // The same key in its own account is its own request: a new location, not acme's.
        let own = keyed(&app, Some(&other), "shared-key", LOCATIONS, &location("other", "Main St")).await;
        assert_eq!((own.0, own.1), (200, false), "{}", own.2);
        assert_ne!(own.2["id"], first.2["id"]);
        let (_, theirs) = app.get("/v1/terminal/locations?external_account_id=other", &other).await;
        assert_eq!(theirs["data"][0]["id"], own.2["id"]);

        // acme's payment through other's account, with a key acme used for it: 404 as without.
        let (_, payment) = app.post("/v1/payment/intent", &acme, intent("acme", "order-1", "12.99")).await;
        let capture = |account: &str| json!({"payment_id": payment["id"], "external_account_id": account});
        let acme_capture = keyed(&app, Some(&acme), "capture-key", "/v1/payment/capture", &capture("acme")).await;
        assert_eq!(acme_capture.0, 409, "{}", acme_capture.2);
        let (status, plain) = app.post("/v1/payment/capture", &other, capture("other")).await;
        assert_eq!(status, 404);
        assert_eq!(keyed(&app, Some(&other), "capture-key", "/v1/payment/capture", &capture("other")).await, (404, false, plain));
    }

    async fn keys_are_at_most_255_visible_characters(app) {
        let token = app.merchant("acme", "usd").await;
        let body = location("acme", "Main St");
        let long = "k".repeat(256);
        for path in [LOCATIONS, "/v1/payment/intent", "/v1/terminal/connection_token"] {
            let (status, _, error) = keyed(&app, Some(&token), &long, path, &body).await;
            assert_eq!(status, 400, "{path}: {error}");
            assert_eq!(error["error"]["code"], "parameter_invalid");
            assert_eq!(error["error"]["param"], "Idempotency-Key");
            // Unauthenticated comes first.
            assert_eq!(keyed(&app, None, &long, path, &body).await.0, 401);
        }
        assert_eq!(app.stripe_calls().await.len(), 0);
        let longest = "k".repeat(255);
        let ok = keyed(&app, Some(&token), &longest, LOCATIONS, &body).await;
        assert_eq!((ok.0, ok.1), (200, false), "{}", ok.2);
        assert_eq!(keyed(&app, Some(&token), &longest, LOCATIONS, &body).await, (200, true, ok.2));
    }

    async fn retryable_failures_are_not_stored(app) {
        let token = app.merchant("acme", "usd").await;
        app.add_fault(json!({"path": LOCATIONS, "error_rate": 1.0, "times": 3})).await;
        let body = location("acme", "Main St");
        let (status, replayed, error) = keyed(&app, Some(&token), "retry-me", LOCATIONS, &body).await;
        assert_eq!((status, replayed), (502, false), "{error}");
        assert_eq!(error["error"]["retryable"], true);
        assert_eq!(stored_keys(&app).await, 0, "nothing kept for a retryable failure");
        let retried = keyed(&app, Some(&token), "retry-me", LOCATIONS, &body).await;
        assert_eq!((retried.0, retried.1), (200, false), "{}", retried.2);
        assert_eq!(keyed(&app, Some(&token), "retry-me", LOCATIONS, &body).await, (200, true, retried.2));
        assert_eq!(location_creations(&app).await, 4, "3 failed attempts, then the retry's one");
    }

    async fn bodies_and_envelopes_are_unchanged_by_a_key(app) {
        let token = app.merchant("acme", "usd").await;
        let send = |key: Option<&str>, content_type: &str, body: Vec<u8>| {
            let mut request = app.client.post(app.url(LOCATIONS)).bearer_auth(&token)
                .header("Content-Type", content_type.to_string()).body(body);
            if let Some(key) = key {
                request = request.header("Idempotency-Key", key.to_string());
            }
            answer(&app, request)
        };
        let padded = format!(r#"{{"external_account_id":"acme","display_name":"{}","address":{{"line1":"1","country":"us"}}}}"#, "x".repeat(70_000));
        let cases: [(&str, Vec<u8>, u16); 4] = [
            ("application/json", b"{not json".to_vec(), 400),
            ("application/json", br#"{"external_account_id":"acme","display_name":"t","address":{"line1":"1","country":"us"},"color":"red"}"#.to_vec(), 400),
            ("text/plain", serde_json::to_vec(&location("acme", "t")).unwrap(), 415),
            ("application/json", padded.into_bytes(), 413),
        ];
        for (i, (content_type, body, expected)) in cases.into_iter().enumerate() {
            let (status, _, plain) = send(None, content_type, body.clone()).await;
            assert_eq!(status, expected, "{plain}");
            let key = format!("envelope-{i}");
            assert_eq!(send(Some(&key), content_type, body).await, (expected, false, plain), "case {i}");
        }

        // Chunked bodies (no Content-Length): read, put back, and over the limit still a 413.
        let big = format!(r#"{{"external_account_id":"acme","display_name":"{}","address":{{"line1":"1","country":"us"}}}}"#, "x".repeat(70_000));
        let (status, error) = chunked(&app, &token, "chunked-big", LOCATIONS, big.as_bytes()).await;
        assert_eq!((status, error["error"]["code"].as_str()), (413, Some("body_too_large")), "{error}");
        let small = location("acme", "chunked");
        let (status, created) = chunked(&app, &token, "chunked-small", LOCATIONS, &serde_json::to_vec(&small).unwrap()).await;
        assert_eq!(status, 200, "{created}");
        assert_eq!(keyed(&app, Some(&token), "chunked-small", LOCATIONS, &small).await, (200, true, created));
    }

    async fn only_keyed_posts_under_v1_are_stored(app) {
        let token = app.merchant("acme", "usd").await;
        let (status, _) = app.post(LOCATIONS, &token, location("acme", "Main St")).await;
        assert_eq!(status, 200);
        assert_eq!(stored_keys(&app).await, 0, "no key, no row");
        // Stripe's webhook endpoint is not a caller's: a key there is ignored.
        let response = app.exchange(app.client.post(app.url("/v1/webhooks/stripe")).bearer_auth(&token)
            .header("Idempotency-Key", "hook").json(&json!({"external_account_id": "acme"}))).await;
        assert!(response.headers.get("Idempotent-Replayed").is_none());
        // GETs are not stored either.
        let response = app.exchange(app.client.get(app.url("/v1/payments?external_account_id=acme")).bearer_auth(&token)
            .header("Idempotency-Key", "list")).await;
        assert_eq!(response.status, 200);
        assert_eq!(stored_keys(&app).await, 0);
        let stored = keyed(&app, Some(&token), "one", LOCATIONS, &location("acme", "High St")).await;
        assert_eq!(stored.0, 200);
        assert_eq!(stored_keys(&app).await, 1);
    }

    async fn old_and_abandoned_keys_are_released(app) {
        let token = app.merchant("acme", "usd").await;
        let body = location("acme", "Main St");
        let first = keyed(&app, Some(&token), "aging", LOCATIONS, &body).await;
        assert_eq!(first.0, 200, "{}", first.2);
        let ago = |secs: i64| pos_backend::db::models::now() - chrono::Duration::seconds(secs);

        // Still running (a fresh in_progress row): the duplicate waits.
        let now = ago(0);
        with_db(&app, move |c| diesel::update(dsl::api_idempotency)
            .set((dsl::status.eq("in_progress"), dsl::created_at.eq(now))).execute(c)).await;
        let (status, _, error) = keyed(&app, Some(&token), "aging", LOCATIONS, &body).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("request_in_progress")));

        // Left in_progress by a crash past the lease: the retry runs again and is stored.
        let stale = ago(pos_backend::api::idempotency::LEASE_SECS + 60);
        with_db(&app, move |c| diesel::update(dsl::api_idempotency).set(dsl::created_at.eq(stale)).execute(c)).await;
        let rerun = keyed(&app, Some(&token), "aging", LOCATIONS, &body).await;
        assert_eq!((rerun.0, rerun.1), (200, false), "{}", rerun.2);
        assert_eq!(location_creations(&app).await, 2);
        assert_eq!(keyed(&app, Some(&token), "aging", LOCATIONS, &body).await, (200, true, rerun.2));

        // After 24 h the key is free, even for another request.
        let old = ago(25 * 3600);
        with_db(&app, move |c| diesel::update(dsl::api_idempotency).set(dsl::created_at.eq(old)).execute(c)).await;
        let other = keyed(&app, Some(&token), "aging", LOCATIONS, &location("acme", "High St")).await;
        assert_eq!((other.0, other.1, other.2["display_name"].as_str()), (200, false, Some("High St")), "{}", other.2);
        assert_eq!(stored_keys(&app).await, 1, "the old row was replaced");
    }
}

both_backends! {
    async fn secrets_are_never_stored(app) {
        let token = app.merchant("acme", "usd").await;
        // The intent: not stored, so the repeat runs again and the flow answers it (the same
        // intent, its client secret fetched from Stripe).
        let body = intent("acme", "order-1", "12.99");
        let first = keyed(&app, Some(&token), "till-3-order-1", "/v1/payment/intent", &body).await;
        assert_eq!((first.0, first.1), (200, false), "{}", first.2);
        let secret = first.2["client_secret"].as_str().unwrap().to_string();
        let again = keyed(&app, Some(&token), "till-3-order-1", "/v1/payment/intent", &body).await;
        assert_eq!((again.0, again.1), (200, false), "{}", again.2);
        assert_eq!((&again.2["id"], again.2["client_secret"].as_str()), (&first.2["id"], Some(secret.as_str())));
        assert_eq!(intent_creations(&app).await, 1);

        // Connection tokens: a fresh one every call, whatever the key.
        let token_body = json!({"external_account_id": "acme"});
        let t1 = keyed(&app, Some(&token), "tok-1", "/v1/terminal/connection_token", &token_body).await;
        let t2 = keyed(&app, Some(&token), "tok-1", "/v1/terminal/connection_token", &token_body).await;
        assert_eq!((t1.0, t1.1, t2.0, t2.1), (200, false, 200, false), "{t1:?} {t2:?}");
        assert_ne!(t1.2["secret"], t2.2["secret"]);

        assert_eq!(stored_keys(&app).await, 0);
        for needle in [secret.as_str(), t1.2["secret"].as_str().unwrap(), t2.2["secret"].as_str().unwrap()] {
            assert!(!database_contains(&app, needle).await, "{needle} is in the database");
        }
        // The search does find what is there.
        assert!(database_contains(&app, first.2["id"].as_str().unwrap()).await);
    }

    async fn stored_answers_are_sealed(app) {
        let token = app.merchant("acme", "usd").await;
        // An embedded Checkout Session: its answer carries a client_secret, and a repeat must not
        // expire it for a new one, so it is stored, sealed.
        let body = json!({"external_account_id": "acme", "reference": "table-9", "ui_mode": "embedded",
            "items": [{"name": "Dinner", "amount": "42.00", "quantity": 1}],
            "success_url": "https://hotel.example/done"});
        let first = keyed(&app, Some(&token), "checkout-table-9", "/v1/checkout", &body).await;
        assert_eq!((first.0, first.1), (200, false), "{}", first.2);
        let secret = first.2["client_secret"].as_str().unwrap().to_string();
        let again = keyed(&app, Some(&token), "checkout-table-9", "/v1/checkout", &body).await;
        assert_eq!(again, (200, true, first.2.clone()), "replayed as it was");
        assert_eq!(stored_keys(&app).await, 1);
        assert!(!database_contains(&app, &secret).await, "the client secret is not readable in the database");
        // Sealed to its own row: moved to another key, it no longer opens.
        let stolen = keyed(&app, Some(&token), "other-key", LOCATIONS, &location("acme", "Main St")).await;
        assert_eq!(stolen.0, 200);
        with_db(&app, |c| {
            let body: Option<String> = dsl::api_idempotency
                .filter(dsl::idempotency_key.eq("checkout-table-9"))
                .select(dsl::response_body)
                .first(c)?;
            diesel::update(dsl::api_idempotency.filter(dsl::idempotency_key.eq("other-key")))
                .set(dsl::response_body.eq(body))
                .execute(c)
        })
        .await;
        let tampered = keyed(&app, Some(&token), "other-key", LOCATIONS, &location("acme", "Main St")).await;
        assert_eq!(tampered.0, 500, "{}", tampered.2);
    }

    async fn the_account_in_the_body_is_checked_before_it_is_stored(app) {
        app.merchant("acme", "usd").await;
        let everything = app.token(&["*"], "terminal");
        let acme_only = app.token(&["acme"], "terminal");
        for token in [&everything, &acme_only] {
            let (status, _, error) = keyed(&app, Some(token), "nul-1", LOCATIONS, &location("ac\u{0}me", "Main St")).await;
            assert_eq!((status, error["error"]["param"].as_str()), (400, Some("external_account_id")), "{error}");
        }
        assert_eq!(stored_keys(&app).await, 0);
        assert_eq!(location_creations(&app).await, 0);
    }

    async fn a_client_that_gave_up_gets_the_replay(app) {
        let token = app.merchant("acme", "usd").await;
        app.add_fault(json!({"path": LOCATIONS, "latency_ms": 1500, "times": 1})).await;
        let body = location("acme", "Slow St");
        let gone = app.try_exchange(app.client.post(app.url(LOCATIONS)).bearer_auth(&token)
            .header("Idempotency-Key", "slow").json(&body)
            .timeout(std::time::Duration::from_millis(300))).await;
        assert!(gone.unwrap_err().is_timeout());
        // The request carries on without its client: retries wait, then get its answer.
        let waited = std::cell::Cell::new(0);
        let retry = until_some(10, "the first request's answer", || async {
            let retry = keyed(&app, Some(&token), "slow", LOCATIONS, &body).await;
            if retry.0 != 409 {
                return Some(retry);
            }
            assert_eq!(retry.2["error"]["code"], "request_in_progress");
            waited.set(waited.get() + 1);
            None
        })
        .await;
        assert!(waited.get() > 0, "the first request was still running");
        assert_eq!((retry.0, retry.1, retry.2["display_name"].as_str()), (200, true, Some("Slow St")), "{}", retry.2);
        assert_eq!(location_creations(&app).await, 1);
    }
}

/// Heartbeats every 100 ms, dead after 400 ms without one.
fn short_heartbeat(config: &mut pos_backend::config::Config) {
    config.instance = pos_backend::jobs::instances::InstanceConfig {
        heartbeat_interval: std::time::Duration::from_millis(100),
        timeout: std::time::Duration::from_millis(400),
    };
}

async fn in_progress_rows(app: &TestApp) -> i64 {
    with_db(app, |c| {
        dsl::api_idempotency
            .filter(dsl::status.eq("in_progress"))
            .count()
            .get_result(c)
    })
    .await
}

/// Waits (up to 10 s) until some request holds a key.
/// The latest heartbeat of the instance holding an `in_progress` key.
async fn holder_heartbeat(app: &TestApp) -> Option<chrono::NaiveDateTime> {
    use pos_backend::db::schema::instances;
    with_db(app, |c| {
        let holder: Option<Option<String>> = dsl::api_idempotency
            .filter(dsl::status.eq("in_progress"))
            .select(dsl::instance_id)
            .first(c)
            .optional()?;
        match holder.flatten() {
            Some(id) => instances::table
                .find(id)
                .select(instances::heartbeat_at)
                .first(c)
                .optional(),
            None => Ok(None),
        }
    })
    .await
}

async fn until_a_key_is_held(app: &TestApp) {
    eventually(10, "a key is claimed", || async {
        in_progress_rows(app).await > 0
    })
    .await;
}

/// Two live instances on one database: a key one of them runs is never run by the other, even
/// long past the heartbeat timeout; and of a burst spread over both, exactly one runs.
async fn two_live_instances_never_run_the_same_key(backend: Backend) {
    let one = TestApp::builder(backend)
        .configure(short_heartbeat)
        .fault(json!({"path": LOCATIONS, "latency_ms": 2500, "times": 1}))
        .spawn()
        .await;
    let two = one.another_instance(short_heartbeat).await;
    let token = one.merchant("acme", "usd").await;
    let body = location("acme", "Twin St");
    let first = keyed(&one, Some(&token), "twin", LOCATIONS, &body);
    let duplicates = async {
        until_a_key_is_held(&one).await;
        // Three times the timeout: the holder's heartbeat keeps the key its own.
        let started = std::time::Instant::now();
        let mut refused = 0;
        while started.elapsed() < std::time::Duration::from_millis(1200) {
            let (status, _, error) = keyed(&two, Some(&token), "twin", LOCATIONS, &body).await;
            assert_eq!(
                (status, error["error"]["code"].as_str()),
                (409, Some("request_in_progress")),
                "{error}"
            );
            assert_eq!(error["error"]["retryable"], true);
            refused += 1;
            // The next duplicate after the holder's next heartbeat: over three heartbeat
            // timeouts of real time, each beat keeps the key its own.
            let beat = holder_heartbeat(&one).await;
            until_some(10, "the key's holder beats again", || async {
                (holder_heartbeat(&one).await > beat).then_some(())
            })
            .await;
        }
        refused
    };
    let ((status, replayed, created), refused) = futures_util::join!(first, duplicates);
    assert_eq!((status, replayed), (200, false), "{created}");
    assert!(refused > 5, "{refused}");
    assert_eq!(
        keyed(&two, Some(&token), "twin", LOCATIONS, &body).await,
        (200, true, created)
    );
    assert_eq!(
        location_creations(&one).await + location_creations(&two).await,
        1
    );

    // A burst over both instances at once.
    for app in [&one, &two] {
        app.add_fault(json!({"path": LOCATIONS, "latency_ms": 300, "times": 1}))
            .await;
    }
    let body = location("acme", "Burst St");
    let answers = futures_util::future::join_all((0..10).map(|i| {
        let app = if i % 2 == 0 { &one } else { &two };
        keyed(app, Some(&token), "twin-burst", LOCATIONS, &body)
    }))
    .await;
    let ran = answers.iter().filter(|(s, r, _)| *s == 200 && !r).count();
    assert_eq!(ran, 1, "exactly one request ran: {answers:?}");
    for (status, replayed, error) in &answers {
        if *status != 200 {
            assert_eq!(
                (*status, *replayed, error["error"]["code"].as_str()),
                (409, false, Some("request_in_progress")),
                "{error}"
            );
        }
    }
    assert_eq!(
        location_creations(&one).await + location_creations(&two).await,
        2
    );
}

mod two_live_instances {
    use super::*;

    #[actix_web::test]
    async fn sqlite() {
        two_live_instances_never_run_the_same_key(Backend::Sqlite).await
    }

    #[actix_web::test]
    async fn postgres() {
        two_live_instances_never_run_the_same_key(Backend::Postgres).await
    }
}

/// The real binary, against a Stripe simulator outside it (which keeps its state while the
/// server is killed and restarted), on a database that outlives both runs.
mod crash {
    use super::*;
    use crate::support::app::{checked, Exchange, PgDatabase, JWT_SECRET};
    use pos_backend::auth::{AccountsClaim, Authenticator, Scope};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};
    use stripe_client::secret::Secret;

    const WEBHOOK_SECRET: &str = "whsec_crashtest";
    const KEY: &str = "capture-after-crash";
    /// The instance timeout of the crash test: well over the restart of the server (under a
    /// second, more on a loaded machine), so that the first retry meets a key still held.
    const KILLED_TIMEOUT_MS: u64 = 4000;

    /// A server process on a fixed port and database, a Stripe simulator, and a payment ready to
    /// capture.
    struct Till {
        client: reqwest::Client,
        stripe: String,
        base: String,
        port: u16,
        database_url: String,
        data_dir: PathBuf,
        timeout_ms: u64,
        token: String,
        payment: String,
        server: Child,
    }

    /// `pos-backend serve`, with heartbeats every 250 ms and the given instance timeout.
    fn serve(
        database_url: &str,
        data_dir: &Path,
        port: u16,
        stripe: &str,
        timeout_ms: u64,
    ) -> Child {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pos-backend"));
        command.arg("serve");
        for name in ["POS_JWT_PUBLIC_KEY_FILE", "RUST_LOG"] {
            command.env_remove(name);
        }
        command
            .env("DATABASE_URL", database_url)
            .env("POS_DATA_DIR", data_dir)
            .env("POS_LISTEN", format!("127.0.0.1:{port}"))
            .env("POS_JWT_SECRET", JWT_SECRET)
            .env("POS_ENCRYPTION_KEY", "2a".repeat(32))
            .env("STRIPE_SECRET_KEY", "sk_test_crash")
            .env("STRIPE_API_BASE", stripe)
            .env("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("POS_RECONCILE_INTERVAL_SECS", "0")
            .env("POS_WORKERS", "2")
            .env("POS_LOG", "warn")
            .env("POS_HEARTBEAT_INTERVAL_MS", "250")
            .env("POS_INSTANCE_TIMEOUT_MS", timeout_ms.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    async fn sim_post(
        client: &reqwest::Client,
        stripe: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> Value {
        let response = client
            .post(format!("{stripe}{path}"))
            .bearer_auth("sk_test_crash")
            .form(form)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        response.json().await.unwrap()
    }

    impl Till {
        async fn open(database_url: &str, data_dir: &Path, timeout_ms: u64) -> Till {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let stripe = format!("http://{}", listener.local_addr().unwrap());
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let base = format!("http://127.0.0.1:{port}");
            let sim = stripe_sim::Simulator::new(stripe_sim::SimConfig {
                webhook_url: Some(format!("{base}/v1/webhooks/stripe")),
                webhook_secret: WEBHOOK_SECRET.into(),
                faults: Vec::new(),
                ..Default::default()
            });
            actix_web::rt::spawn(stripe_sim::serve(listener, sim));
            let scopes: Vec<Scope> = ["accounts:admin", "payments:read", "payments:write"]
                .iter()
                .map(|s| Scope::parse(s).unwrap())
                .collect();
            let token = Authenticator::hs256(&Secret::new(JWT_SECRET.to_string()))
                .issue(
                    "test-suite",
                    AccountsClaim::List(vec!["acme".into()]),
                    &scopes,
                    3600,
                )
                .unwrap();
            let mut till = Till {
                client: reqwest::Client::new(),
                server: serve(database_url, data_dir, port, &stripe, timeout_ms),
                stripe,
                base,
                port,
                database_url: database_url.to_string(),
                data_dir: data_dir.to_path_buf(),
                timeout_ms,
                token,
                payment: String::new(),
            };
            till.until_ready().await;
            let (client, base, stripe, token) =
                (&till.client, &till.base, &till.stripe, &till.token);
            let response = checked(
                client
                    .put(format!("{base}/v1/accounts/acme"))
                    .bearer_auth(token)
                    .json(&json!({"default_currency": "usd"})),
            )
            .await
            .unwrap();
            assert!((200..300).contains(&response.status), "{:?}", response.text);
            let response = checked(client.post(format!("{base}/v1/payment/intent")).bearer_auth(token)
                .json(&json!({"external_account_id": "acme", "amount": "12.99", "external_transaction_id": "crash-1"})))
                .await.unwrap();
            assert_eq!(response.status, 200);
            let payment = response.json()["id"].as_str().unwrap().to_string();
            let reader = sim_post(
                client,
                stripe,
                "/v1/terminal/readers",
                &[("registration_code", "simulated-wpe")],
            )
            .await;
            let reader = reader["id"].as_str().unwrap();
            sim_post(
                client,
                stripe,
                &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
                &[("payment_intent", &payment)],
            )
            .await;
            sim_post(
                client,
                stripe,
                &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
                &[("type", "card_present")],
            )
            .await;
            till.payment = payment;
            till
        }

        /// Waits (up to 20 s) until the server answers.
        async fn until_ready(&mut self) {
            let (client, base) = (&self.client, &self.base);
            let server = &mut self.server;
            until_some(20, "the server starts", || {
                assert!(server.try_wait().unwrap().is_none(), "the server exited");
                async move {
                    let ready = checked(client.get(format!("{base}/readyz"))).await;
                    ready
                        .is_ok_and(|r| (200..300).contains(&r.status))
                        .then_some(())
                }
            })
            .await;
        }

        /// A new server process on the same port and database.
        async fn restart(&mut self) {
            self.server = serve(
                &self.database_url,
                &self.data_dir,
                self.port,
                &self.stripe,
                self.timeout_ms,
            );
            self.until_ready().await;
        }

        fn capture_request(&self) -> reqwest::RequestBuilder {
            self.client
                .post(format!("{}/v1/payment/capture", self.base))
                .bearer_auth(&self.token)
                .header("Idempotency-Key", KEY)
                .json(&json!({"payment_id": self.payment, "external_account_id": "acme"}))
        }

        async fn capture(&self) -> (u16, Value) {
            let response = checked(self.capture_request()).await.unwrap();
            (response.status, response.json())
        }

        async fn captures_at_stripe(&self) -> usize {
            let log: Value = self
                .client
                .get(format!("{}/_sim/requests", self.stripe))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let path = format!("/v1/payment_intents/{}/capture", self.payment);
            log["data"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["path"] == path.as_str())
                .count()
        }

        /// Sends the keyed capture, Stripe captures and holds its answer back; returns once the
        /// capture reached Stripe, with the client's request still waiting.
        async fn capture_left_hanging(
            &self,
        ) -> actix_web::rt::task::JoinHandle<reqwest::Result<Exchange>> {
            let fault = json!({"path": format!("/v1/payment_intents/{}/capture", self.payment), "hang_ms": 60000, "times": 1});
            let response = self
                .client
                .post(format!("{}/_sim/faults", self.stripe))
                .json(&fault)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success());
            let in_flight = actix_web::rt::spawn(checked(self.capture_request()));
            eventually(10, "the capture reaches Stripe", || async {
                self.captures_at_stripe().await > 0
            })
            .await;
            in_flight
        }

        /// The payment is captured, once, at Stripe.
        async fn assert_captured_once(&self, captured: &Value) {
            assert_eq!(
                (
                    captured["status"].as_str(),
                    captured["amount_captured"].as_str()
                ),
                (Some("succeeded"), Some("12.99")),
                "{captured}"
            );
            let intent: Value = self
                .client
                .get(format!(
                    "{}/v1/payment_intents/{}",
                    self.stripe, self.payment
                ))
                .bearer_auth("sk_test_crash")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(
                (
                    intent["status"].as_str(),
                    intent["amount_received"].as_i64()
                ),
                (Some("succeeded"), Some(1299)),
                "{intent}"
            );
        }
    }

    impl Drop for Till {
        fn drop(&mut self) {
            let _ = self.server.kill();
            let _ = self.server.wait();
        }
    }

    /// SIGKILL during a keyed capture whose answer Stripe holds back; restart on the same
    /// database: the retry is "in progress" until the dead instance's heartbeat times out, then
    /// runs and captures (once at Stripe).
    async fn a_killed_instance_releases_its_keys(database_url: &str, data_dir: &Path) {
        let mut till = Till::open(database_url, data_dir, KILLED_TIMEOUT_MS).await;
        let in_flight = till.capture_left_hanging().await;
        till.server.kill().unwrap(); // SIGKILL
        till.server.wait().unwrap();
        let killed = Instant::now();
        assert!(
            in_flight.await.unwrap().is_err(),
            "the client lost its answer with the server"
        );

        till.restart().await;
        let restarted = killed.elapsed();
        let (status, first) = till.capture().await;
        assert_eq!(
            (
                status,
                first["error"]["code"].as_str(),
                first["error"]["retryable"].as_bool()
            ),
            (409, Some("request_in_progress"), Some(true)),
            "{first}"
        );
        let within = (till.timeout_ms / 1000) + 10;
        let (status, captured) =
            until_some(within, "the key is released after the kill", || async {
                let answer = till.capture().await;
                if answer.0 != 409 {
                    return Some(answer);
                }
                assert_eq!(
                    answer.1["error"]["code"], "request_in_progress",
                    "{}",
                    answer.1
                );
                None
            })
            .await;
        let released = killed.elapsed();
        assert_eq!(status, 200, "{captured}");
        till.assert_captured_once(&captured).await;
        assert!(
            released >= Duration::from_millis(till.timeout_ms - 500),
            "released after {released:?}, before the timeout"
        );
        eprintln!(
            "restarted {restarted:?} and key released {released:?} after the kill (timeout {} ms)",
            till.timeout_ms
        );
    }

    /// SIGTERM during the same capture: the server drains (its shutdown timeout cuts the hanging
    /// request short), deregisters, and the key is free at once for the next process, although
    /// the heartbeat timeout is a minute.
    async fn a_clean_shutdown_releases_its_keys_at_once(database_url: &str, data_dir: &Path) {
        let mut till = Till::open(database_url, data_dir, 60_000).await;
        let in_flight = till.capture_left_hanging().await;
        let status = Command::new("kill")
            .args(["-TERM", &till.server.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        eventually(30, "the server stops", || {
            let stopped = till.server.try_wait().unwrap().is_some();
            async move { stopped }
        })
        .await;
        // Cut short or answered; an answer is checked, and a mismatch fails here.
        let _ = in_flight
            .await
            .expect("the capture's answer, if any, is documented");
        till.restart().await;
        let (status, captured) = till.capture().await;
        assert_eq!(status, 200, "the key is free at once: {captured}");
        till.assert_captured_once(&captured).await;
    }

    async fn on_sqlite<F: std::future::Future<Output = ()>>(
        test: impl FnOnce(String, PathBuf) -> F,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("pos.db").to_string_lossy().into_owned();
        test(url, dir.path().to_path_buf()).await
    }

    async fn on_postgres<F: std::future::Future<Output = ()>>(
        test: impl FnOnce(String, PathBuf) -> F,
    ) {
        let db = tokio::task::spawn_blocking(PgDatabase::create)
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        test(db.url.clone(), dir.path().to_path_buf()).await
    }

    #[actix_web::test]
    async fn killed_sqlite() {
        on_sqlite(|url, dir| async move { a_killed_instance_releases_its_keys(&url, &dir).await })
            .await
    }

    #[actix_web::test]
    async fn killed_postgres() {
        on_postgres(|url, dir| async move { a_killed_instance_releases_its_keys(&url, &dir).await })
            .await
    }

    #[actix_web::test]
    async fn shut_down_sqlite() {
        on_sqlite(
            |url, dir| async move { a_clean_shutdown_releases_its_keys_at_once(&url, &dir).await },
        )
        .await
    }

    #[actix_web::test]
    async fn shut_down_postgres() {
        on_postgres(|url, dir| async move {
            a_clean_shutdown_releases_its_keys_at_once(&url, &dir).await
        })
        .await
    }
}
