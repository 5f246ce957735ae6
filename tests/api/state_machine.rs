//! One payment state machine (issue 13): late answers, slow reads, old, duplicated and forged
//! webhooks never move a payment backwards, never change a captured amount, and merchant events
//! come out in state order, once per change.

use crate::both_backends;
use crate::reconcile::{intents_for, reconcile, reconcile_outcome};
use crate::support::app::{eventually, printed, MerchantEndpoint, TestApp, STRIPE_WEBHOOK_SECRET};
use crate::webhooks::{deliver, intent_object, signed_event};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";

/// Position of a status in the order of states (final states share the top).
fn rank(status: &str) -> u8 {
    match status {
        "creating" => 0,
        "requires_payment_method" => 1,
        "requires_confirmation" => 2,
        "requires_action" => 3,
        "processing" => 4,
        "requires_capture" => 5,
        "succeeded" | "canceled" | "failed" => 6,
        other => panic!("unknown status in history: {other}"),
    }
}

/// The payment as GET /v1/payment/{id} shows it (with its history), after checking that the
/// history never moves backwards and never leaves a final state.
async fn payment_with_forward_history(
    app: &TestApp,
    token: &str,
    account: &str,
    pi: &str,
) -> Value {
    let (status, payment) = app
        .get(
            &format!("/v1/payment/{pi}?external_account_id={account}"),
            token,
        )
        .await;
    assert_eq!(status, 200, "{payment}");
    let statuses: Vec<&str> = payment["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    for pair in statuses.windows(2) {
        assert!(
            rank(pair[0]) <= rank(pair[1]),
            "history moved backwards: {statuses:?}"
        );
        if rank(pair[0]) == 6 {
            assert_eq!(pair[0], pair[1], "a final status changed: {statuses:?}");
        }
    }
    assert_eq!(
        statuses.last().copied(),
        payment["status"].as_str(),
        "{payment}"
    );
    payment
}

/// The merchant events queued about one payment, oldest first.
async fn events_of(app: &TestApp, token: &str, pi: &str) -> Vec<String> {
    let (status, page) = app
        .get(
            "/v1/webhooks/deliveries?external_account_id=acme&limit=100",
            token,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let mut rows: Vec<&Value> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["payload"]["data"]["object"]["id"] == pi)
        .collect();
    rows.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    rows.iter()
        .map(|d| d["event_type"].as_str().unwrap().to_string())
        .collect()
}

/// Events in state order: nothing announced twice except refunds, nothing about an authorisation
/// after the capture.
fn assert_in_state_order(events: &[String]) {
    let order = |e: &str| match e {
        "payment.failed" => 1,
        "payment.authorized" => 5,
        "payment.authorization_expiring" => 5,
        "payment.captured" | "payment.canceled" => 6,
        "payment.refunded" => 7,
        other => panic!("unexpected event {other}"),
    };
    for pair in events.windows(2) {
        assert!(
            order(&pair[0]) <= order(&pair[1]),
            "out of state order: {events:?}"
        );
    }
    for once in ["payment.authorized", "payment.captured", "payment.canceled"] {
        assert!(
            events.iter().filter(|e| *e == once).count() <= 1,
            "{once} twice: {events:?}"
        );
    }
}

/// Sends a signed Stripe event about `object` (must be acknowledged).
async fn stripe_event(app: &TestApp, id: &str, event_type: &str, object: Value, secret: &str) {
    let (body, signature) = signed_event(id, event_type, object, &[secret], 0);
    let (status, answer) = deliver(app, &body, &signature).await;
    assert_eq!(status, 200, "{answer}");
}

async fn merchant_with_hook(app: &TestApp) -> (String, MerchantEndpoint) {
    let hook = MerchantEndpoint::start(0);
    let token = app.merchant("acme", "usd").await;
    let (status, account) = app
        .put_account("acme", json!({"webhook_url": hook.url}))
        .await;
    assert_eq!(status, 200, "{account}");
    (token, hook)
}

both_backends! {
    // (a) The same intent request twice: the till uses the first answer, presents the card and
    // captures; the other request finishes later with the intent as it was at creation.
    async fn a_late_duplicate_intent_request_never_undoes_a_capture(app) {
        let (token, _hook) = merchant_with_hook(&app).await;
        let reader = app.register_reader().await;
        let body = json!({"external_account_id": "acme", "amount": "10.00", "external_transaction_id": "twice"});
        // The first request's answer is held back at Stripe (processed, stored for its key).
        app.clear_stripe_calls().await;
        app.add_fault(json!({"method": "POST", "path": "/v1/payment_intents", "hang_ms": 2500, "times": 1})).await;
        let late = app.post("/v1/payment/intent", &token, body.clone());
        let till = async {
            eventually(10, "the first request reached Stripe", || async {
                app.stripe_calls().await.iter().any(|(m, p)| m == "POST" && p == "/v1/payment_intents")
            })
            .await;
            let (status, first) = app.post("/v1/payment/intent", &token, body.clone()).await;
            assert_eq!((status, first["status"].as_str()), (200, Some("requires_payment_method")), "{first}");
            let pi = first["id"].as_str().unwrap().to_string();
            let (status, tapped) = app.tap_card(&reader, &pi, VISA).await;
            assert_eq!(status, 200, "{tapped}");
            let (status, captured) = app.post("/v1/payment/capture", &token, json!({"payment_id": pi, "external_account_id": "acme"})).await;
            assert_eq!((status, captured["status"].as_str()), (200, Some("succeeded")), "{captured}");
            pi
        };
        let ((status, late), pi) = tokio::join!(late, till);
        assert_eq!(status, 200, "{late}");
        assert_eq!(late["id"], pi.as_str(), "the same intent");
        assert_eq!((late["status"].as_str(), late["amount_captured"].as_str()), (Some("succeeded"), Some("10.00")), "{late}");

        let payment = payment_with_forward_history(&app, &token, "acme", &pi).await;
        assert_eq!((payment["status"].as_str(), payment["amount_captured"].as_str()), (Some("succeeded"), Some("10.00")), "{payment}");
        let refused = payment["history"].as_array().unwrap().iter().any(|h| h["action"] == "ignored"
            && h["status"] == "succeeded"
            && h["detail"].as_str().unwrap().contains("requires_payment_method after succeeded"));
        assert!(refused, "the late answer is recorded as refused: {payment}");
        let events = events_of(&app, &token, &pi).await;
        assert_in_state_order(&events);
        assert_eq!(events.last().map(String::as_str), Some("payment.captured"), "{events:?}");
    }

    // (b) A read of the payment whose Stripe answer is slow, with a capture completing meanwhile;
    // then old and duplicated webhooks, and the reconciler's look at expiring authorisations.
    async fn a_slow_read_and_old_webhooks_never_undo_a_capture(app) {
        let (token, hook) = merchant_with_hook(&app).await;
        let reader = app.register_reader().await;
        let (status, intent) = app.post("/v1/payment/intent", &token,
            json!({"external_account_id": "acme", "amount": "10.00", "external_transaction_id": "slow-read"})).await;
        assert_eq!(status, 200, "{intent}");
        let pi = intent["id"].as_str().unwrap().to_string();
        let (status, tapped) = app.tap_card(&reader, &pi, VISA).await;
        assert_eq!(status, 200, "{tapped}");

        app.clear_stripe_calls().await;
        let read_path = format!("/v1/payment_intents/{pi}");
        app.add_fault(json!({"method": "GET", "path": read_path, "hang_ms": 2500, "times": 1})).await;
        let our_path = format!("/v1/payment/{pi}?external_account_id=acme");
        let read = app.get(&our_path, &token);
        let capture = async {
            eventually(10, "the read reached Stripe", || async {
                app.stripe_calls().await.iter().any(|(m, p)| m == "GET" && *p == read_path)
            })
            .await;
            app.post("/v1/payment/capture", &token, json!({"payment_id": pi, "external_account_id": "acme"})).await
        };
        let ((status, read), (captured_status, captured)) = tokio::join!(read, capture);
        assert_eq!((captured_status, captured["status"].as_str()), (200, Some("succeeded")), "{captured}");
        assert_eq!(status, 200, "{read}");
        assert_eq!(
            (read["status"].as_str(), read["amount_captured"].as_str(), read["amount_capturable"].as_str()),
            (Some("succeeded"), Some("10.00"), Some("0.00")),
            "the stale read changed nothing: {read}"
        );

        // An old authorisation event, then the capture's event again (another id) and repeated.
        let authorised = intent_object(json!({"id": pi, "status": "requires_capture", "amount_capturable": 1000, "amount_received": 0}));
        stripe_event(&app, "evt_old_auth", "payment_intent.amount_capturable_updated", authorised, STRIPE_WEBHOOK_SECRET).await;
        let succeeded = intent_object(json!({"id": pi, "status": "succeeded", "amount_capturable": 0, "amount_received": 1000}));
        stripe_event(&app, "evt_dup_1", "payment_intent.succeeded", succeeded.clone(), STRIPE_WEBHOOK_SECRET).await;
        stripe_event(&app, "evt_dup_1", "payment_intent.succeeded", succeeded, STRIPE_WEBHOOK_SECRET).await;
        // A late, smaller "capture" of the same intent: the captured amount never changes.
        let smaller = intent_object(json!({"id": pi, "status": "succeeded", "amount_capturable": 0, "amount_received": 300}));
        stripe_event(&app, "evt_dup_2", "payment_intent.succeeded", smaller, STRIPE_WEBHOOK_SECRET).await;
        let canceled = intent_object(json!({"id": pi, "status": "canceled", "amount_capturable": 0, "amount_received": 0}));
        stripe_event(&app, "evt_late_cancel", "payment_intent.canceled", canceled, STRIPE_WEBHOOK_SECRET).await;

        let printed = reconcile(&app, &["--expiring-within", "72h"]).await;
        assert!(!printed.contains(&pi), "a captured payment is not expiring: {printed}");

        let payment = payment_with_forward_history(&app, &token, "acme", &pi).await;
        assert_eq!(
            (payment["status"].as_str(), payment["amount_captured"].as_str(), payment["amount_capturable"].as_str()),
            (Some("succeeded"), Some("10.00"), Some("0.00")),
            "{payment}"
        );
        let events = events_of(&app, &token, &pi).await;
        assert_in_state_order(&events);
        assert_eq!(events.iter().filter(|e| *e == "payment.captured").count(), 1, "{events:?}");
        assert!(!events.contains(&"payment.authorization_expiring".to_string()), "{events:?}");
        assert!(!events.contains(&"payment.canceled".to_string()), "{events:?}");
        app.settle().await;
        assert!(hook.received.lock().unwrap().iter().any(|d| d.body.contains("\"payment.captured\"")), "the capture is delivered");
    }

    // (c) A merchant's own endpoint secret vouches for its own records, not for impossible ones.
    async fn a_merchant_signed_webhook_cannot_forge_a_state_or_an_amount(app) {
        const OWN_SECRET: &str = "whsec_merchantOwnEndpointSecret";
        let (token, _hook) = merchant_with_hook(&app).await;
        let (status, account) = app.put_account("acme", json!({"stripe_webhook_secret": OWN_SECRET})).await;
        assert_eq!(status, 200, "{account}");
        let reader = app.register_reader().await;
        let (status, intent) = app.post("/v1/payment/intent", &token,
            json!({"external_account_id": "acme", "amount": "10.00", "external_transaction_id": "forged"})).await;
        assert_eq!(status, 200, "{intent}");
        let pi = intent["id"].as_str().unwrap().to_string();
        let (status, tapped) = app.tap_card(&reader, &pi, VISA).await;
        assert_eq!(status, 200, "{tapped}");
        let metadata = json!({"external_account_id": "acme", "external_transaction_id": "forged"});
        let forged = |n: &str, status: &str, capturable: i64, received: i64| {
            intent_object(json!({"id": pi, "status": status, "amount_capturable": capturable,
                "amount_received": received, "metadata": metadata, "latest_charge": format!("ch_forged_{n}")}))
        };
        let cases = [
            ("pwned", 0, 999_999),
            ("succeeded", 0, 999_999),
            ("succeeded", 0, -5),
            ("requires_capture", 1000, 500),
            ("requires_capture", 99_999, 0),
            ("processing", 0, 1000),
        ];
        for (n, (status, capturable, received)) in cases.into_iter().enumerate() {
            let object = forged(&n.to_string(), status, capturable, received);
            stripe_event(&app, &format!("evt_forged_{n}"), "payment_intent.succeeded", object, OWN_SECRET).await;
        }
        let charge = json!({"id": "ch_forged", "object": "charge", "amount": 1000, "amount_captured": 1000,
            "amount_refunded": 5000, "currency": "usd", "status": "succeeded", "payment_intent": pi, "created": 0,
            "metadata": metadata});
        stripe_event(&app, "evt_forged_refund", "charge.refunded", charge, OWN_SECRET).await;

        let payment = payment_with_forward_history(&app, &token, "acme", &pi).await;
        assert_eq!(payment["status"], "requires_capture", "{payment}");
        assert_eq!((payment["amount_captured"].as_str(), payment["amount_refunded"].as_str()), (Some("0.00"), Some("0.00")), "{payment}");
        assert_in_state_order(&events_of(&app, &token, &pi).await);

        // The same secret, with a consistent intent, does move the merchant's own payment.
        let captured = forged("ok", "succeeded", 0, 1000);
        stripe_event(&app, "evt_own_capture", "payment_intent.succeeded", captured, OWN_SECRET).await;
        let payment = payment_with_forward_history(&app, &token, "acme", &pi).await;
        assert_eq!((payment["status"].as_str(), payment["amount_captured"].as_str()), (Some("succeeded"), Some("10.00")), "{payment}");
    }

    // A capture, a read and an old webhook at once, then concurrent refunds: one capture announced,
    // the refunds add up, the history only moves forward. (Two concurrent captures are the
    // capture/cancel conflict handling's business, not tested here.)
    async fn concurrent_writers_keep_the_history_forward(app) {
        let (token, _hook) = merchant_with_hook(&app).await;
        let reader = app.register_reader().await;
        let (status, intent) = app.post("/v1/payment/intent", &token,
            json!({"external_account_id": "acme", "amount": "10.00", "external_transaction_id": "busy"})).await;
        assert_eq!(status, 200, "{intent}");
        let pi = intent["id"].as_str().unwrap().to_string();
        app.tap_card(&reader, &pi, VISA).await;
        let capture = json!({"payment_id": pi, "external_account_id": "acme"});
        let read = format!("/v1/payment/{pi}?external_account_id=acme");
        let authorised = intent_object(json!({"id": pi, "status": "requires_capture", "amount_capturable": 1000, "amount_received": 0}));
        // Two reads of the payment (each refreshing from Stripe), the capture and Stripe's
        // authorisation event, all at once.
        let (c1, r1, r2, _) = tokio::join!(
            app.post("/v1/payment/capture", &token, capture.clone()),
            app.get(&read, &token),
            app.get(&read, &token),
            stripe_event(&app, "evt_busy", "payment_intent.amount_capturable_updated", authorised, STRIPE_WEBHOOK_SECRET),
        );
        assert_eq!((c1.0, c1.1["status"].as_str()), (200, Some("succeeded")), "{}", c1.1);
        assert_eq!((r1.0, r2.0), (200, 200), "{} {}", r1.1, r2.1);
        let refund = |amount: &str| json!({"payment_id": pi, "external_account_id": "acme", "amount": amount});
        let (f1, f2) = tokio::join!(
            app.post("/v1/payment/refund", &token, refund("3.00")),
            app.post("/v1/payment/refund", &token, refund("2.00")),
        );
        assert_eq!((f1.0, f2.0), (200, 200), "{} {}", f1.1, f2.1);
        let payment = payment_with_forward_history(&app, &token, "acme", &pi).await;
        assert_eq!(
            (payment["status"].as_str(), payment["amount_captured"].as_str(), payment["amount_refunded"].as_str()),
            (Some("succeeded"), Some("10.00"), Some("5.00")),
            "{payment}"
        );
        let events = events_of(&app, &token, &pi).await;
        assert_in_state_order(&events);
        assert_eq!(events.iter().filter(|e| *e == "payment.captured").count(), 1, "{events:?}");
    }

    // The reconciler compares recent payments that are not final with Stripe and moves them
    // forward, even when no event helps (webhooks dropped, the event list failing).
    async fn the_reconciler_repairs_drift(app) {
        let (token, _hook) = merchant_with_hook(&app).await;
        let reader = app.register_reader().await;
        app.add_fault(json!({"path": "payment_intent.*", "drop_webhooks": true})).await;
        app.add_fault(json!({"method": "GET", "path": "/v1/events", "error_rate": 1.0, "error_status": 400})).await;
        let (status, intent) = app.post("/v1/payment/intent", &token,
            json!({"external_account_id": "acme", "amount": "10.00", "external_transaction_id": "drift"})).await;
        assert_eq!(status, 200, "{intent}");
        let pi = intent["id"].as_str().unwrap().to_string();
        let (status, tapped) = app.tap_card(&reader, &pi, VISA).await;
        assert_eq!(status, 200, "{tapped}");
        let listed = || async {
            let (_, page) = app.get("/v1/payments?external_account_id=acme", &token).await;
            page["data"][0].clone()
        };
        assert_eq!(listed().await["status"], "requires_payment_method", "nothing heard yet");

        let (_, printed) = reconcile_outcome(&app, &[]).await;
        assert!(printed.contains(&format!("payment drift ({pi}, account acme): requires_payment_method → requires_capture at Stripe: drift repaired")), "{printed}");
        let record = listed().await;
        assert_eq!((record["status"].as_str(), record["amount_capturable"].as_str()), (Some("requires_capture"), Some("10.00")), "{record}");

        let (status, _) = app.sim_post(&format!("/v1/payment_intents/{pi}/capture"), &[]).await;
        assert_eq!(status, 200);
        let (_, printed) = reconcile_outcome(&app, &[]).await;
        assert!(printed.contains("requires_capture → succeeded at Stripe: drift repaired"), "{printed}");
        let (_, again) = reconcile_outcome(&app, &[]).await;
        assert!(!again.contains("drift repaired"), "a final payment is left alone: {again}");

        let payment = payment_with_forward_history(&app, &token, "acme", &pi).await;
        assert_eq!((payment["status"].as_str(), payment["amount_captured"].as_str()), (Some("succeeded"), Some("10.00")), "{payment}");
        let events = events_of(&app, &token, &pi).await;
        assert_eq!(events, ["payment.authorized", "payment.captured"], "{events:?}");
    }

    // A PaymentIntent search hit whose metadata does not name the stuck payment is not taken for
    // it (a proxy in front of the simulator answers the search with another sale's intent).
    async fn the_reconciler_trusts_only_a_search_hit_that_names_the_payment(app) {
        let token = app.merchant("acme", "usd").await;
        app.add_fault(json!({"method": "POST", "path": "/v1/payment_intents", "error_rate": 1.0, "error_status": 500, "times": 3})).await;
        let (status, _) = app.post("/v1/payment/intent", &token,
            json!({"external_account_id": "acme", "amount": "10.00", "external_transaction_id": "stuck"})).await;
        assert_eq!(status, 502);
        let (status, decoy) = app.sim_post("/v1/payment_intents", &[("amount", "1000"), ("currency", "usd"),
            ("allowed_payment_method_types[]", "card_present"), ("capture_method", "manual"),
            ("metadata[external_account_id]", "acme"), ("metadata[external_transaction_id]", "another-sale")]).await;
        assert_eq!(status, 200, "{decoy}");
        let proxy = SearchForger::start(app.sim_url(""), "another-sale");
        // The reconciler takes a payment as stuck once it is older than a second: its clock moves on.
        app.advance(std::time::Duration::from_millis(1100));
        let (success, printed) = printed(&app.reconcile_against(&proxy, |c| c.stuck_after = std::time::Duration::from_secs(1)).await);
        assert!(success, "{printed}");
        assert!(printed.contains("payment stuck (account acme): creating → requires_payment_method"), "{printed}");
        assert!(printed.contains("creation replayed"), "the forged hit is not used: {printed}");
        let intents = intents_for(&app, "stuck").await;
        assert_eq!(intents.len(), 1, "exactly one PaymentIntent of its own");
        let (_, page) = app.get("/v1/payments?external_account_id=acme", &token).await;
        assert_eq!(page["data"][0]["id"], intents[0]["id"], "{page}");
        assert_ne!(page["data"][0]["id"], decoy["id"], "{page}");
    }
}

/// An HTTP proxy to the simulator's Stripe API that answers every PaymentIntent search with the
/// intents of transaction `decoy` instead.
struct SearchForger;

impl SearchForger {
    /// Starts it; returns its base URL.
    fn start(upstream: String, decoy: &str) -> String {
        use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
        let decoy = format!("metadata['external_transaction_id']:'{decoy}'");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = HttpServer::new(move || {
            let (upstream, decoy) = (upstream.clone(), decoy.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (upstream, decoy) = (upstream.clone(), decoy.clone());
                async move {
                    let mut url =
                        reqwest::Url::parse(&format!("{upstream}{}", req.path())).unwrap();
                    if req.path() == "/v1/payment_intents/search" {
                        url.query_pairs_mut().append_pair("query", &decoy);
                    } else if !req.query_string().is_empty() {
                        url.set_query(Some(req.query_string()));
                    }
                    let method =
                        reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
                    let mut forwarded = reqwest::Client::new()
                        .request(method, url)
                        .body(body.to_vec());
                    for (name, value) in req.headers() {
                        if name != "host" && name != "content-length" {
                            forwarded = forwarded.header(name.as_str(), value.as_bytes());
                        }
                    }
                    let answer = forwarded.send().await.unwrap();
                    let status = answer.status().as_u16();
                    let body = answer.bytes().await.unwrap();
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                        .content_type("application/json")
                        .body(body)
                }
            }))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        base
    }
}
