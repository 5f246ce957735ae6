//! A reader's actions as they happen (issue 19, parts 3 and 4): Stripe's
//! `terminal.reader.action_*` events recorded on our reader (forward only, whatever their order
//! or repetition), the merchant's `reader.action_succeeded` / `reader.action_failed` webhooks, the
//! long poll `GET /v1/terminal/readers/{id}/events`, and the server-driven collect → inspect →
//! confirm of a payment (or collect → cancel).

use crate::both_backends;
use crate::support::app::{eventually, MerchantEndpoint, TestApp, STRIPE_WEBHOOK_SECRET};
use crate::webhooks::deliver;
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";
/// Declined for insufficient funds.
const NO_FUNDS: &str = "4000000000009995";
/// A Visa credit card in Apple Pay.
const APPLE_PAY: &str = "4111111111111111";

/// A merchant `acme` (with a webhook endpoint) and a reader registered through our API:
/// (token, reader id).
async fn till(app: &TestApp, hook: Option<&MerchantEndpoint>) -> (String, String) {
    let token = app.merchant("acme", "usd").await;
    if let Some(hook) = hook {
        app.put_account("acme", json!({"webhook_url": hook.url}))
            .await;
    }
    let (status, reader) = app
        .post(
            "/v1/terminal/readers",
            &token,
            json!({"external_account_id": "acme", "registration_code": "simulated-wpe"}),
        )
        .await;
    assert_eq!(status, 200, "{reader}");
    (token, reader["id"].as_str().unwrap().to_string())
}

async fn events(app: &TestApp, token: &str, reader: &str, query: &str) -> (u16, Value) {
    app.get(
        &format!("/v1/terminal/readers/{reader}/events?external_account_id=acme{query}"),
        token,
    )
    .await
}

/// Waits (long poll, up to 30 s) for the reader's action to change past `after`.
async fn next(app: &TestApp, token: &str, reader: &str, after: i64) -> Value {
    let (status, body) = events(app, token, reader, &format!("&after={after}&timeout=30")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changed"], true, "{body}");
    body
}

/// Long-polls until the action reaches `status` (its in-between states pass by).
async fn until_status(app: &TestApp, token: &str, reader: &str, status: &str) -> Value {
    let mut after = 0;
    loop {
        let body = next(app, token, reader, after).await;
        if body["action"]["status"] == status {
            return body;
        }
        after = body["version"].as_i64().unwrap();
    }
}

async fn reader_post(
    app: &TestApp,
    token: &str,
    reader: &str,
    what: &str,
    body: Value,
) -> (u16, Value) {
    app.post(
        &format!("/v1/terminal/readers/{reader}/{what}"),
        token,
        body,
    )
    .await
}

async fn present(app: &TestApp, reader: &str, card: &str) -> (u16, Value) {
    app.sim_post(
        &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
        &[("card_present[number]", card), ("type", "card_present")],
    )
    .await
}

/// The merchant webhooks of `event_type` received so far, their objects.
fn received(hook: &MerchantEndpoint, event_type: &str) -> Vec<Value> {
    hook.received
        .lock()
        .unwrap()
        .iter()
        .map(|d| serde_json::from_str::<Value>(&d.body).unwrap())
        .filter(|e| e["type"] == event_type)
        .map(|e| e["data"]["object"].clone())
        .collect()
}

/// A reader as Stripe sends it in a `terminal.reader.action_*` event.
fn reader_object(reader: &str, action: Value) -> Value {
    json!({"id": reader, "object": "terminal.reader", "label": "Till", "device_type": "simulated_wisepos_e",
        "status": "online", "location": null, "serial_number": "SIM-1", "livemode": false,
        "metadata": {"external_account_id": "acme"}, "action": action})
}

fn process_action(pi: &str, status: &str, failure: Option<(&str, &str)>) -> Value {
    json!({"type": "process_payment_intent", "status": status,
        "failure_code": failure.map(|f| f.0), "failure_message": failure.map(|f| f.1),
        "process_payment_intent": {"payment_intent": pi}})
}

both_backends! {
    async fn a_decline_and_a_success_are_recorded_with_stripes_code_and_announced(app) {
        let hook = MerchantEndpoint::start(0);
        let (token, reader) = till(&app, Some(&hook)).await;
        let pi = app.create_intent(&token, "acme", "re-decline", "12.00").await.id;
        let (status, started) = reader_post(&app, &token, &reader, "process",
            json!({"external_account_id": "acme", "payment_id": pi})).await;
        assert_eq!(status, 200, "{started}");
        let body = next(&app, &token, &reader, 0).await;
        assert_eq!(body["action"]["status"], "in_progress", "{body}");
        assert_eq!(body["action"]["payment_id"], pi.as_str(), "{body}");
        let version = body["version"].as_i64().unwrap();

        // The card declines: Stripe's action_failed event, with its code and message.
        present(&app, &reader, NO_FUNDS).await;
        let failed = next(&app, &token, &reader, version).await;
        assert_eq!(failed["action"]["status"], "failed", "{failed}");
        assert_eq!(failed["action"]["type"], "process_payment_intent");
        assert_eq!(failed["action"]["failure_code"], "card_declined", "{failed}");
        assert_eq!(failed["action"]["failure_message"], "Your card has insufficient funds.");

        // Again with another card: a new attempt, then its success.
        let (status, again) = reader_post(&app, &token, &reader, "process",
            json!({"external_account_id": "acme", "payment_id": pi})).await;
        assert_eq!(status, 200, "{again}");
        let retry = next(&app, &token, &reader, failed["version"].as_i64().unwrap()).await;
        assert_eq!(retry["action"]["status"], "in_progress", "{retry}");
        present(&app, &reader, VISA).await;
        let done = next(&app, &token, &reader, retry["version"].as_i64().unwrap()).await;
        assert_eq!(done["action"]["status"], "succeeded", "{done}");
        assert_eq!(done["action"]["failure_code"], Value::Null);

        app.settle().await;
        let failures = received(&hook, "reader.action_failed");
        assert_eq!(failures.len(), 1, "{failures:?}");
        let f = &failures[0];
        assert_eq!((f["reader_id"].as_str(), f["type"].as_str(), f["payment_id"].as_str()),
            (Some(reader.as_str()), Some("process_payment_intent"), Some(pi.as_str())), "{f}");
        assert_eq!((f["failure_code"].as_str(), f["failure_message"].as_str()),
            (Some("card_declined"), Some("Your card has insufficient funds.")), "{f}");
        assert_eq!(f["external_account_id"], "acme");
        let successes = received(&hook, "reader.action_succeeded");
        assert_eq!(successes.len(), 1, "{successes:?}");
        assert_eq!(successes[0]["payment_id"], pi.as_str());
        assert_eq!(successes[0]["status"], "succeeded");
        // The payment itself follows Stripe's PaymentIntent events.
        let (_, payment) = app.get(&format!("/v1/payment/{pi}?external_account_id=acme"), &token).await;
        assert_eq!(payment["status"], "requires_capture", "{payment}");
    }

    async fn late_repeated_and_out_of_order_events_move_nothing_backwards(app) {
        let hook = MerchantEndpoint::start(0);
        let (token, reader) = till(&app, Some(&hook)).await;
        let now = chrono::Utc::now().timestamp();
        let send = |id: &'static str, kind: &'static str, action: Value, age: i64| {
            let app = &app;
            let object = reader_object(&reader, action);
            async move {
                // Stripe's event, `created` (Stripe's clock) `age` seconds ago.
                let body = json!({"id": id, "object": "event", "type": kind, "created": now - age,
                    "api_version": "2026-11-18.endive", "livemode": false, "pending_webhooks": 1,
                    "request": {"id": null, "idempotency_key": null}, "data": {"object": object}})
                .to_string();
                let sig = stripe_client::webhook::sign(STRIPE_WEBHOOK_SECRET, chrono::Utc::now().timestamp(), body.as_bytes());
                let (status, answer) = deliver(app, &body, &sig).await;
                assert_eq!(status, 200, "{answer}");
            }
        };
        // The outcome arrives before anything else we know of: recorded.
        send("evt_re_ok", "terminal.reader.action_succeeded", process_action("pi_re_1", "succeeded", None), 5).await;
        let first = next(&app, &token, &reader, 0).await;
        assert_eq!(first["action"]["status"], "succeeded", "{first}");
        let v = first["version"].as_i64().unwrap();
        // The same event again, an older failure of the same action and an `in_progress` update
        // after the end: nothing changes.
        send("evt_re_ok", "terminal.reader.action_succeeded", process_action("pi_re_1", "succeeded", None), 5).await;
        send("evt_re_old", "terminal.reader.action_failed",
            process_action("pi_re_1", "failed", Some(("card_declined", "Your card was declined."))), 60).await;
        send("evt_re_upd", "terminal.reader.action_updated", process_action("pi_re_1", "in_progress", None), 0).await;
        let (_, same) = events(&app, &token, &reader, &format!("&after={v}&timeout=0")).await;
        assert_eq!((same["changed"].as_bool(), same["version"].as_i64()), (Some(false), Some(v)), "{same}");
        assert_eq!(same["action"]["status"], "succeeded");
        // An older action's late event does not replace the newer one either.
        send("evt_re_older", "terminal.reader.action_failed",
            process_action("pi_re_0", "failed", Some(("card_declined", "Your card was declined."))), 120).await;
        let (_, same) = events(&app, &token, &reader, &format!("&after={v}&timeout=0")).await;
        assert_eq!((same["version"].as_i64(), same["action"]["payment_id"].as_str()), (Some(v), Some("pi_re_1")), "{same}");
        // A newer action's end does.
        send("evt_re_next", "terminal.reader.action_failed",
            process_action("pi_re_2", "failed", Some(("card_declined", "Your card was declined."))), 0).await;
        let newer = next(&app, &token, &reader, v).await;
        assert_eq!((newer["action"]["payment_id"].as_str(), newer["action"]["status"].as_str()),
            (Some("pi_re_2"), Some("failed")), "{newer}");

        app.deliver_all().await;
        // Announced once each: the success (not again for its repeat), and the failures that were
        // news (the stale ones were not).
        assert_eq!(received(&hook, "reader.action_succeeded").len(), 1);
        let failures = received(&hook, "reader.action_failed");
        assert_eq!(failures.iter().map(|f| f["payment_id"].as_str().unwrap()).collect::<Vec<_>>(), ["pi_re_2"]);
    }

    async fn an_outcome_recorded_before_our_answer_is_not_moved_back_by_it(app) {
        let (token, reader) = till(&app, None).await;
        let pi = app.create_intent(&token, "acme", "re-early", "6.00").await.id;
        // Stripe starts the collection at once but its answer is held back 1.5 s: the customer's
        // card, and Stripe's event about it, arrive first.
        app.add_fault(json!({"method": "POST", "path": "/v1/terminal/readers/*/collect_payment_method",
            "hang_ms": 1500, "times": 1})).await;
        let asking = reader_post(&app, &token, &reader, "collect",
            json!({"external_account_id": "acme", "payment_id": pi, "skip_tipping": true}));
        let customer = async {
            eventually(10, "the reader collects", || async {
                app.sim_get(&format!("/v1/terminal/readers/{reader}")).await["action"]["status"] == "in_progress"
            }).await;
            present(&app, &reader, VISA).await;
            let done = next(&app, &token, &reader, 0).await;
            assert_eq!(done["action"]["status"], "succeeded", "{done}");
            done
        };
        let ((status, answer), done) = futures_util::join!(asking, customer);
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["action"]["status"], "in_progress", "Stripe's (late) answer: {answer}");
        // The late answer changed nothing.
        let v = done["version"].as_i64().unwrap();
        let (_, now) = events(&app, &token, &reader, "&timeout=0").await;
        assert_eq!((now["version"].as_i64(), now["action"]["status"].as_str()), (Some(v), Some("succeeded")), "{now}");
        assert_eq!(now["action"]["card"]["last4"], "4242");
    }

    async fn the_long_poll_answers_on_a_change_and_on_timeout(app) {
        let (token, reader) = till(&app, None).await;
        // Without a cursor: the state now.
        let (status, now) = events(&app, &token, &reader, "").await;
        assert_eq!(status, 200, "{now}");
        assert_eq!((now["version"].as_i64(), now["action"].clone()), (Some(0), Value::Null), "{now}");
        // Nothing happens: the wait ends at its timeout, unchanged.
        let (status, quiet) = events(&app, &token, &reader, "&after=0&timeout=1").await;
        assert_eq!(status, 200, "{quiet}");
        assert_eq!((quiet["changed"].as_bool(), quiet["version"].as_i64()), (Some(false), Some(0)), "{quiet}");
        // A waiter on another instance of the deployment sees a change recorded by this one.
        let other = app.another_instance(|_| {}).await;
        let waiting = events(&other, &token, &reader, "&after=0&timeout=30");
        let change = async {
            let (status, shown) = reader_post(&app, &token, &reader, "display", json!({
                "external_account_id": "acme", "currency": "usd",
                "line_items": [{"description": "Tea", "amount": "2.50", "quantity": 1}], "total": "2.50"})).await;
            assert_eq!(status, 200, "{shown}");
        };
        let ((status, woke), ()) = futures_util::join!(waiting, change);
        assert_eq!(status, 200, "{woke}");
        assert_eq!((woke["changed"].as_bool(), woke["version"].as_i64()), (Some(true), Some(1)), "{woke}");
        assert_eq!(woke["action"]["type"], "set_reader_display");
        assert_eq!(woke["action"]["status"], "succeeded");
        // Cleared by cancel: recorded as cancelled.
        let (status, _) = reader_post(&app, &token, &reader, "cancel", json!({"external_account_id": "acme"})).await;
        assert_eq!(status, 200);
        let cleared = next(&app, &token, &reader, 1).await;
        assert_eq!(cleared["action"]["status"], "canceled", "{cleared}");
    }

    async fn collect_inspect_then_confirm(app) {
        let hook = MerchantEndpoint::start(0);
        let (token, reader) = till(&app, Some(&hook)).await;
        let pi = app.create_intent(&token, "acme", "re-collect", "20.00").await.id;
        let (status, collecting) = reader_post(&app, &token, &reader, "collect",
            json!({"external_account_id": "acme", "payment_id": pi})).await;
        assert_eq!(status, 200, "{collecting}");
        assert_eq!(collecting["action"]["type"], "collect_payment_method", "{collecting}");
        assert_eq!(collecting["action"]["status"], "in_progress");
        assert_eq!(collecting["action"]["payment_id"], pi.as_str());
        // Confirming before a card is read is refused.
        let (status, early) = reader_post(&app, &token, &reader, "confirm",
            json!({"external_account_id": "acme", "payment_id": pi})).await;
        assert_eq!(status, 409, "{early}");

        present(&app, &reader, APPLE_PAY).await;
        let collected = until_status(&app, &token, &reader, "succeeded").await;
        let card = &collected["action"]["card"];
        assert_eq!((card["brand"].as_str(), card["last4"].as_str(), card["funding"].as_str(), card["wallet"].as_str()),
            (Some("visa"), Some("1111"), Some("credit"), Some("apple_pay")), "{collected}");
        // The till inspects it on the reader too, and the payment is not authorised yet.
        let (_, shown) = app.get(&format!("/v1/terminal/readers/{reader}?external_account_id=acme"), &token).await;
        assert_eq!(shown["action"]["card"]["last4"], "1111", "{shown}");
        let (_, payment) = app.get(&format!("/v1/payment/{pi}?external_account_id=acme"), &token).await;
        assert_eq!(payment["status"], "requires_confirmation", "{payment}");

        let (status, confirmed) = reader_post(&app, &token, &reader, "confirm",
            json!({"external_account_id": "acme", "payment_id": pi})).await;
        assert_eq!(status, 200, "{confirmed}");
        assert_eq!(confirmed["action"]["type"], "confirm_payment_intent", "{confirmed}");
        assert_eq!(confirmed["action"]["status"], "succeeded");
        let (_, payment) = app.get(&format!("/v1/payment/{pi}?external_account_id=acme"), &token).await;
        assert_eq!(payment["status"], "requires_capture", "{payment}");

        app.settle().await;
        let successes = received(&hook, "reader.action_succeeded");
        let mut kinds: Vec<&str> = successes.iter().map(|s| s["type"].as_str().unwrap()).collect();
        kinds.sort_unstable();
        assert_eq!(kinds, ["collect_payment_method", "confirm_payment_intent"], "{successes:?}");
        let collect = successes.iter().find(|s| s["type"] == "collect_payment_method").unwrap();
        assert_eq!(collect["card"]["last4"], "1111", "{collect}");
        assert!(successes.iter().all(|s| s["payment_id"] == pi.as_str()));
    }

    async fn collect_then_cancel(app) {
        let (token, reader) = till(&app, None).await;
        let pi = app.create_intent(&token, "acme", "re-cancel", "8.00").await.id;
        let (status, collecting) = reader_post(&app, &token, &reader, "collect",
            json!({"external_account_id": "acme", "payment_id": pi, "skip_tipping": true})).await;
        assert_eq!(status, 200, "{collecting}");
        let (status, canceled) = reader_post(&app, &token, &reader, "cancel", json!({"external_account_id": "acme"})).await;
        assert_eq!(status, 200, "{canceled}");
        assert_eq!(canceled["action"], Value::Null);
        let state = until_status(&app, &token, &reader, "canceled").await;
        assert_eq!((state["action"]["type"].as_str(), state["action"]["payment_id"].as_str()),
            (Some("collect_payment_method"), Some(pi.as_str())), "{state}");
        // No card was collected: nothing to confirm, and the card presented now goes nowhere.
        let (status, error) = reader_post(&app, &token, &reader, "confirm",
            json!({"external_account_id": "acme", "payment_id": pi})).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("payment_not_confirmable")), "{error}");
        let (status, _) = present(&app, &reader, VISA).await;
        assert_eq!(status, 400);
        let (_, payment) = app.get(&format!("/v1/payment/{pi}?external_account_id=acme"), &token).await;
        assert_eq!(payment["status"], "requires_payment_method", "{payment}");
    }

    async fn another_accounts_reader_is_404_and_bad_input_is_400_naming_the_field(app) {
        let (token, reader) = till(&app, None).await;
        let other = app.merchant("other", "usd").await;
        let (status, error) = app.get(&format!("/v1/terminal/readers/{reader}/events?external_account_id=other&timeout=0"), &other).await;
        assert_eq!(status, 404, "{error}");
        let (status, error) = app.post(&format!("/v1/terminal/readers/{reader}/collect"), &other,
            json!({"external_account_id": "other", "payment_id": "pi_123"})).await;
        assert_eq!(status, 404, "{error}");
        let calls = app.stripe_calls().await.len();
        for (query, param) in [("&timeout=31", "timeout"), ("&timeout=-1", "timeout"), ("&after=x", "after"), ("&after=-2", "after")] {
            let (status, error) = events(&app, &token, &reader, query).await;
            assert_eq!((status, error["error"]["param"].as_str()), (400, Some(param)), "{query}: {error}");
        }
        let (status, error) = events(&app, &token, "rdr_nope", "").await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("id")), "{error}");
        for (what, body, param) in [
            ("collect", json!({"external_account_id": "acme", "payment_id": "nope"}), "payment_id"),
            ("collect", json!({"external_account_id": "acme", "payment_id": "pi_1", "allow_redisplay": "sometimes"}), "allow_redisplay"),
            ("confirm", json!({"external_account_id": "acme", "payment_id": "nope"}), "payment_id"),
        ] {
            let (status, error) = reader_post(&app, &token, &reader, what, body).await;
            assert_eq!((status, error["error"]["param"].as_str()), (400, Some(param)), "{what}: {error}");
        }
        assert_eq!(app.stripe_calls().await.len(), calls, "no Stripe call for bad input");
    }
}
