//! The OpenAPI document as a contract: the route serves the library's document, our objects are
//! closed (an undocumented field fails the suite), and the answers the request helpers never
//! see (raw bodies, wrong content types, the metrics text) match it too. Every answer that goes
//! through `TestApp::exchange` (and so `send`, `get`, `post`) is checked by the hook in
//! `support::app` (`support::openapi`), and a guard here fails on a request the suite sends to
//! our service without it.

use crate::both_backends;
use crate::support::app::TestApp;
use crate::support::openapi::document;
use reqwest::Method;
use serde_json::Value;

/// Sends a raw request and checks its answer against the document; returns status and body.
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, String) {
    raw_with(app, method, path, token, content_type, &[], body).await
}

/// `raw` with extra headers.
async fn raw_with(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, String) {
    let mut request = app.client.request(method, app.url(path)).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(ct) = content_type {
        request = request.header("Content-Type", ct);
    }
    let response = app.exchange(request).await;
    (response.status, response.text)
}

/// Every object schema of ours is closed (`additionalProperties: false`), so a response field
/// the document does not name fails the suite. Open on purpose: maps (metadata), Stripe's own
/// event and a delivery's payload (the event we sent, documented with the webhooks).
#[test]
fn our_objects_are_closed() {
    fn walk(name: &str, at: &str, schema: &Value, open: &mut Vec<String>) {
        match schema {
            Value::Object(map) => {
                let is_object = map.get("type") == Some(&Value::String("object".into()));
                if is_object
                    && map.contains_key("properties")
                    && map.get("additionalProperties") != Some(&Value::Bool(false))
                {
                    open.push(format!("{name}{at}"));
                }
                for (key, value) in map {
                    walk(name, &format!("{at}/{key}"), value, open);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(name, &format!("{at}/{i}"), item, open);
                }
            }
            _ => {}
        }
    }
    let mut open = Vec::new();
    for (name, schema) in document()["components"]["schemas"].as_object().unwrap() {
        walk(name, "", schema, &mut open);
    }
    assert_eq!(open, vec!["StripeEvent".to_string()], "open object schemas");
}

/// Every `pattern` of the document is one the validator can read (it panics on other syntax, so
/// this fails here rather than in whichever test first meets the schema).
#[test]
fn every_pattern_is_readable() {
    fn walk(v: &Value, seen: &mut usize) {
        match v {
            Value::Object(map) => {
                if let (Some(Value::String(pattern)), Some("string")) =
                    (map.get("pattern"), map.get("type").and_then(Value::as_str))
                {
                    crate::support::openapi::Pattern::parse(pattern);
                    *seen += 1;
                }
                map.values().for_each(|v| walk(v, seen));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, seen)),
            _ => {}
        }
    }
    let mut seen = 0;
    walk(document(), &mut seen);
    assert!(seen > 10, "{seen} patterns");
}

/// Every operation documents the error envelope for its failures, and 500.
#[test]
fn every_operation_documents_its_failures() {
    let doc = document();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.contains_key("500"), "{method} {path}");
            if op["security"] != serde_json::json!([]) {
                for status in ["401", "403", "404"] {
                    assert!(
                        responses.contains_key(status),
                        "{status} on {method} {path}"
                    );
                }
            }
            for (status, response) in responses {
                if status.starts_with('2') {
                    continue;
                }
                let reference = response["$ref"].as_str().unwrap_or_else(|| {
                    panic!("{status} on {method} {path} is not a shared error response")
                });
                let resolved = doc.pointer(reference.trim_start_matches('#')).unwrap();
                assert_eq!(
                    resolved["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/Error",
                    "{status} on {method} {path}"
                );
            }
        }
    }
}

both_backends! {
    async fn the_route_serves_the_library_document(app) {
        let (status, served) = app.send(Method::GET, "/v1/openapi.json", None, None).await;
        assert_eq!(status, 200);
        assert_eq!(&served, document());
    }

    async fn answers_outside_the_helpers_match_the_document(app) {
        let token = app.merchant("doc-m", "usd").await;
        let admin = app.token(&["*"], "accounts:admin");
        let json = Some("application/json");
        // Bodies the helpers cannot send: not JSON, the wrong type, too large.
        let (s, _) = raw(&app, Method::POST, "/v1/payment/intent", Some(&token), json, b"{not json".to_vec()).await;
        assert_eq!(s, 400);
        let (s, _) = raw(&app, Method::POST, "/v1/payment/intent", Some(&token), Some("text/plain"), b"{}".to_vec()).await;
        assert_eq!(s, 415);
        let mut big = br#"{"display_name": ""#.to_vec();
        big.extend(std::iter::repeat_n(b'a', 70 * 1024));
        big.extend(br#""}"#);
        let (s, _) = raw(&app, Method::PUT, "/v1/accounts/doc-m", Some(&admin), json, big).await;
        assert_eq!(s, 413);
        // No token, a malformed one, a missing scope.
        let (s, _) = raw(&app, Method::GET, "/v1/payments?external_account_id=doc-m", None, None, vec![]).await;
        assert_eq!(s, 401);
        let (s, _) = raw(&app, Method::GET, "/v1/payments?external_account_id=doc-m", Some("x.y.z"), None, vec![]).await;
        assert_eq!(s, 401);
        let (s, _) = raw(&app, Method::GET, "/v1/accounts/doc-m", Some(&token), None, vec![]).await;
        assert_eq!(s, 403);
        // The router's own answers: an unknown route, a wrong method.
        let (s, _) = raw(&app, Method::GET, "/v1/nothing-here", Some(&token), None, vec![]).await;
        assert_eq!(s, 404);
        let (s, _) = raw(&app, Method::DELETE, "/v1/payment/intent", Some(&token), None, vec![]).await;
        assert_eq!(s, 405);
        // Stripe's webhook without a valid signature.
        let (s, _) = raw(&app, Method::POST, "/v1/webhooks/stripe", None, json, br#"{"id": "evt_1", "type": "x"}"#.to_vec()).await;
        assert_eq!(s, 400);
        // A signed one, twice (received, then a duplicate).
        let object = crate::webhooks::intent_object(serde_json::json!({"id": "pi_doc_unknown", "status": "canceled"}));
        let secrets = [crate::support::app::STRIPE_WEBHOOK_SECRET];
        let (event, signature) = crate::webhooks::signed_event("evt_doc_1", "payment_intent.canceled", object, &secrets, 0);
        for duplicate in [false, true] {
            let headers = [("Stripe-Signature", signature.as_str())];
            let (s, body) = raw_with(&app, Method::POST, "/v1/webhooks/stripe", None, json, &headers, event.clone().into_bytes()).await;
            assert_eq!(s, 200, "{body}");
            let body: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["duplicate"], duplicate, "{body}");
        }
        // Not JSON: the metrics text, by status and media type.
        let (s, text) = raw(&app, Method::GET, "/metrics", None, None, vec![]).await;
        assert_eq!(s, 200);
        assert!(text.contains("pos_build_info"), "{text}");
    }

    async fn idempotent_replays_and_key_conflicts_match_the_document(app) {
        let token = app.merchant("doc-k", "usd").await;
        let json = Some("application/json");
        let location = |name: &str| serde_json::json!({"external_account_id": "doc-k", "display_name": name,
            "address": {"line1": "1 Main St", "country": "US"}}).to_string().into_bytes();
        let key = [("Idempotency-Key", "doc-key-1")];
        let (s, first) = raw_with(&app, Method::POST, "/v1/terminal/locations", Some(&token), json, &key, location("Front")).await;
        assert_eq!(s, 200, "{first}");
        let (s, replay) = raw_with(&app, Method::POST, "/v1/terminal/locations", Some(&token), json, &key, location("Front")).await;
        assert_eq!((s, &replay), (200, &first));
        let (s, conflict) = raw_with(&app, Method::POST, "/v1/terminal/locations", Some(&token), json, &key, location("Back")).await;
        assert_eq!(s, 409, "{conflict}");
        assert!(conflict.contains("idempotency_key_reused"), "{conflict}");
    }
}

/// What sends a request without `TestApp::exchange` (or `support::app::checked`), which check the
/// answer against the document: a request sent by hand, a raw connection. Spelt in pieces so this
/// file's own source does not contain them.
fn raw_send_markers() -> [String; 2] {
    [
        format!(".{}()", "send"),
        format!("TcpStream::{}(", "connect"),
    ]
}

/// Each raw send in `source`: its line and the expression leading to it (from the start of its
/// statement or block, at most 600 characters back).
fn raw_sends(source: &str) -> Vec<(usize, &str)> {
    let mut found = Vec::new();
    for marker in raw_send_markers() {
        for (at, _) in source.match_indices(&marker) {
            let mut from = at.saturating_sub(600);
            while !source.is_char_boundary(from) {
                from += 1;
            }
            let before = &source[from..at];
            let start = [before.rfind(';'), before.rfind("{\n")]
                .into_iter()
                .flatten()
                .max()
                .map_or(from, |i| from + i + 1);
            let line = source[..at].lines().count();
            found.push((line, &source[start..at + marker.len()]));
        }
    }
    found
}

/// The raw sends of the API suite that do not go to our service, each by file, a text its
/// expression contains, and why it stays raw. Everything else goes through `TestApp::exchange`.
const RAW_SENDS: &[(&str, &str, &str)] = &[
    (
        "checkout.rs",
        "app.sim_url(",
        "the simulator's hosted Checkout page (/sim/stripe), a stand-in for Stripe",
    ),
    (
        "disputes.rs",
        "app.sim_url(",
        "the simulator's hosted Checkout page (/sim/stripe), a stand-in for Stripe",
    ),
    (
        "reader_setup.rs",
        "app.sim_url(",
        "the simulator's simulated JS terminal (/sim/stripe/_sim/terminal), a stand-in for the Terminal SDK's reader",
    ),
    (
        "cli.rs",
        "/v1/customers",
        "the `pos-backend stripe-sim` process, a Stripe simulator",
    ),
    (
        "cli.rs",
        "{base}/_sim/requests",
        "the `pos-backend stripe-sim` process's request log",
    ),
    (
        "cli.rs",
        "{base}/v1/events",
        "the `pos-backend stripe-sim` process's events",
    ),
    (
        "idempotency.rs",
        "{stripe}{path}",
        "the crash test's standalone Stripe simulator",
    ),
    (
        "idempotency.rs",
        "self.stripe",
        "the crash test's standalone Stripe simulator (its log, faults and intents)",
    ),
    (
        "idempotency.rs",
        "let mut stream",
        "`chunked`: a chunked body over raw TCP, which reqwest cannot send; it checks the \
         answer with `openapi::check_response` itself",
    ),
    (
        "state_machine.rs",
        "forwarded",
        "a proxy in front of the simulator forwarding our Stripe calls",
    ),
    (
        "stripe_context.rs",
        "as_merchant(",
        "the simulator's Stripe API (`as_merchant` builds on `sim_url`)",
    ),
];

/// The guard: a request the API suite sends to our service by hand, not through
/// `TestApp::exchange`, would escape the document's check; every raw send in tests/api must be
/// one of `RAW_SENDS`, and every entry there must still be used.
#[test]
fn every_request_to_our_service_is_checked() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api");
    let mut unchecked = Vec::new();
    let mut used = vec![false; RAW_SENDS.len()];
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    assert!(files.len() > 20, "{files:?}");
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(&path).unwrap();
        for (line, expression) in raw_sends(&source) {
            let allowed = RAW_SENDS
                .iter()
                .position(|(file, text, _)| *file == name && expression.contains(text));
            match allowed {
                Some(i) => used[i] = true,
                None => unchecked.push(format!("tests/api/{name}:{line}: {}", expression.trim())),
            }
        }
    }
    assert!(
        unchecked.is_empty(),
        "requests sent without TestApp::exchange (send them through it, or list them in \
         RAW_SENDS with the reason if they go to another server):\n{}",
        unchecked.join("\n")
    );
    let stale: Vec<_> = RAW_SENDS
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .collect();
    assert!(
        stale.is_empty(),
        "RAW_SENDS entries no longer used: {stale:?}"
    );
}

/// The guard's scanner finds a request sent by hand, in a statement or a closure, and what it
/// was sent to; a request handed to `exchange` is not one.
#[test]
fn the_guard_finds_requests_sent_by_hand() {
    let send = format!(".{}()", "send");
    let source = format!(
        "let a = app.exchange(app.client.get(app.url(\"/v1/a\"))).await;\n\
         let b = app\n    .client\n    .get(app.url(\"/v1/b\"))\n    {send}\n    .await;\n\
         let c = || {{\n    app.client.post(app.sim_url(\"/v1/c\")){send}\n}};\n"
    );
    let found = raw_sends(&source);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].0, 5);
    assert!(
        found[0].1.contains("/v1/b") && !found[0].1.contains("/v1/a"),
        "{found:?}"
    );
    assert!(
        found[1].1.contains("sim_url(\"/v1/c\")") && !found[1].1.contains("/v1/b"),
        "{found:?}"
    );
}
