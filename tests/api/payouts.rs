//! Payouts (issue 20): Stripe's automatic payouts of a merchant's connected account, run with
//! the simulator's payout test helper, recorded from the signed `payout.*` events and reconciled
//! against our payments and refunds (fees, a partial refund, a sale made at Stripe directly);
//! failed payouts; duplicated and out-of-order events; Stripe unreachable while the payout's
//! transactions are read; other merchants' payouts; list filters, the cursor and bad input.

use crate::both_backends;
use crate::support::app::{eventually, MerchantEndpoint, TestApp, STRIPE_WEBHOOK_SECRET};
use crate::webhooks::deliver;
use serde_json::{json, Value};
use stripe_client::webhook;

const VISA: &str = "4242424242424242";

/// A request to the simulator's Stripe API as connected account `acct` of the platform, or (an
/// `sk_test_…` key) as the merchant's own Stripe account.
fn as_connected(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    acct: &str,
) -> reqwest::RequestBuilder {
    let request = app.client.request(method, app.sim_url(path));
    if acct.starts_with("sk_test_") {
        request.bearer_auth(acct)
    } else {
        request
            .bearer_auth(pos_backend::app::SIMULATOR_KEY)
            .header("Stripe-Account", acct)
    }
}

async fn stripe_post(app: &TestApp, acct: &str, path: &str, form: &[(&str, &str)]) -> Value {
    let response = as_connected(app, reqwest::Method::POST, path, acct)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn stripe_get(app: &TestApp, acct: &str, path: &str) -> Value {
    as_connected(app, reqwest::Method::GET, path, acct)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The simulator's payout test helper: moves the payout clock and runs `acct`'s schedule.
async fn run_payouts(app: &TestApp, body: Value) -> Value {
    let response = app
        .client
        .post(app.sim_url("/_sim/payouts"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{answer}");
    answer
}

/// A merchant whose Stripe calls act on connected account `acct`; returns its token.
async fn connected_merchant(app: &TestApp, external: &str, acct: &str) -> String {
    let token = app.merchant(external, "usd").await;
    let (status, body) = app
        .put_account(external, json!({"stripe_account_id": acct}))
        .await;
    assert_eq!(status, 200, "{body}");
    token
}

/// A sale of `amount` through our API, tapped on a reader of `acct` and captured; returns the
/// payment id (`pi_…`).
async fn sale(
    app: &TestApp,
    token: &str,
    external: &str,
    acct: &str,
    tx: &str,
    amount: &str,
) -> String {
    let pi = app.create_intent(token, external, tx, amount).await.id;
    let reader = stripe_post(
        app,
        acct,
        "/v1/terminal/readers",
        &[("registration_code", "simulated-wpe"), ("label", "Till")],
    )
    .await;
    let reader = reader["id"].as_str().unwrap();
    stripe_post(
        app,
        acct,
        &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
        &[
            ("payment_intent", pi.as_str()),
            ("process_config[allow_redisplay]", "limited"),
        ],
    )
    .await;
    stripe_post(
        app,
        acct,
        &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
        &[("card_present[number]", VISA), ("type", "card_present")],
    )
    .await;
    eventually(10, "authorised", || async {
        app.stored_payment(token, external, tx)
            .await
            .unwrap()
            .status
            == "requires_capture"
    })
    .await;
    let (status, body) = app
        .post(
            "/v1/payment/capture",
            token,
            json!({"payment_id": pi, "external_account_id": external}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    pi
}

/// A sale made at Stripe directly (not through us), captured at once: `amount` minor units.
async fn direct_sale(app: &TestApp, acct: &str, amount: &str) -> String {
    let pi = stripe_post(
        app,
        acct,
        "/v1/payment_intents",
        &[
            ("amount", amount),
            ("currency", "usd"),
            ("allowed_payment_method_types[]", "card_present"),
            ("capture_method", "automatic"),
        ],
    )
    .await;
    let pi = pi["id"].as_str().unwrap().to_string();
    let reader = stripe_post(
        app,
        acct,
        "/v1/terminal/readers",
        &[("registration_code", "simulated-wpe"), ("label", "Kiosk")],
    )
    .await;
    let reader = reader["id"].as_str().unwrap();
    stripe_post(
        app,
        acct,
        &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
        &[("payment_intent", pi.as_str())],
    )
    .await;
    stripe_post(
        app,
        acct,
        &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
        &[("card_present[number]", VISA), ("type", "card_present")],
    )
    .await;
    pi
}

/// The payout as our API shows it, once recorded with `status` (waiting up to 10 s).
async fn payout_when(app: &TestApp, token: &str, external: &str, po: &str, status: &str) -> Value {
    let path = format!("/v1/payout/{po}?external_account_id={external}");
    eventually(20, &format!("payout {po} recorded as {status}"), || async {
        let (code, p) = app.get(&path, token).await;
        code == 200 && p["status"] == status && (status != "paid" || p["reconciled"] == true)
    })
    .await;
    let (code, payout) = app.get(&path, token).await;
    assert_eq!(code, 200, "{payout}");
    payout
}

fn received(hook: &MerchantEndpoint, event_type: &str) -> Vec<Value> {
    hook.received
        .lock()
        .unwrap()
        .iter()
        .map(|d| serde_json::from_str::<Value>(&d.body).unwrap())
        .filter(|e| e["type"] == event_type)
        .collect()
}

/// A Stripe event of connected account `acct`, signed with the platform's endpoint secret.
fn connect_event(id: &str, event_type: &str, acct: &str, object: Value) -> (String, String) {
    let body = json!({"id": id, "object": "event", "type": event_type, "account": acct,
        "created": chrono::Utc::now().timestamp(), "api_version": "2026-11-18.endive", "livemode": false,
        "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null}, "data": {"object": object}})
    .to_string();
    let signature = webhook::sign(
        STRIPE_WEBHOOK_SECRET,
        chrono::Utc::now().timestamp(),
        body.as_bytes(),
    );
    (body, signature)
}

/// The account's stored payouts (the API list).
async fn listed(app: &TestApp, token: &str, query: &str) -> Value {
    let (status, page) = app.get(&format!("/v1/payouts?{query}"), token).await;
    assert_eq!(status, 200, "{page}");
    page
}

both_backends! {
    async fn a_paid_payout_is_matched_to_payments_and_refunds_with_fees(app) {
        let hook = MerchantEndpoint::start(0);
        let acct = "acct_PayoutsPaid1";
        let token = connected_merchant(&app, "acme", acct).await;
        app.put_account("acme", json!({"webhook_url": hook.url})).await;
        let a = sale(&app, &token, "acme", acct, "payouts-a", "10.00").await;
        let b = sale(&app, &token, "acme", acct, "payouts-b", "25.00").await;
        let (status, refund) = app
            .post("/v1/payment/refund", &token, json!({"payment_id": b, "external_account_id": "acme", "amount": "5.00"}))
            .await;
        assert_eq!(status, 200, "{refund}");
        let direct = direct_sale(&app, acct, "300").await;

        let ran = run_payouts(&app, json!({"stripe_account": acct})).await;
        let po = ran["payouts"][0]["id"].as_str().unwrap().to_string();
        assert_eq!(ran["payouts"].as_array().unwrap().len(), 1, "{ran}");
        let payout = payout_when(&app, &token, "acme", &po, "paid").await;
        // Fees (the simulator's card-present rule, 2.7% + 0.05, half up): 10.00 → 0.32,
        // 25.00 → 0.68 + 0.05 = 0.73, 3.00 → 0.08 + 0.05 = 0.13; the refund returns no fee.
        // Gross 10.00 + 25.00 − 5.00 + 3.00 = 33.00; fees 1.18; net 31.82 = the payout.
        assert_eq!(payout["amount"], "31.82", "{payout}");
        assert_eq!(payout["currency"], "usd");
        assert_eq!(payout["totals"], json!({"gross": "33.00", "fees": "1.18", "net": "31.82", "count": 4}));
        assert_eq!(payout["failure_code"], Value::Null);
        let items = payout["items"].as_array().unwrap();
        assert_eq!(items.len(), 3, "{payout}");
        let item = |kind: &str, pi: &str| items.iter().find(|i| i["type"] == kind && i["payment_id"] == pi).cloned()
            .unwrap_or_else(|| panic!("no {kind} of {pi} in {payout}"));
        let first = item("charge", &a);
        assert_eq!((first["gross"].as_str(), first["fee"].as_str(), first["net"].as_str()), (Some("10.00"), Some("0.32"), Some("9.68")));
        assert_eq!(first["external_transaction_id"], "payouts-a");
        assert_eq!(first["refund_id"], Value::Null);
        let second = item("charge", &b);
        assert_eq!((second["gross"].as_str(), second["fee"].as_str(), second["net"].as_str()), (Some("25.00"), Some("0.73"), Some("24.27")));
        let refunded = item("refund", &b);
        assert_eq!((refunded["gross"].as_str(), refunded["fee"].as_str(), refunded["net"].as_str()), (Some("-5.00"), Some("0.00"), Some("-5.00")));
        assert!(refunded["refund_id"].as_str().unwrap().starts_with("re_"), "{refunded}");
        assert_eq!(refunded["external_transaction_id"], "payouts-b");
        let unmatched = payout["unmatched"].as_array().unwrap();
        assert_eq!(unmatched.len(), 1, "{payout}");
        assert_eq!(unmatched[0]["type"], "charge");
        assert_eq!(unmatched[0]["payment_id"], Value::Null);
        assert_eq!((unmatched[0]["gross"].as_str(), unmatched[0]["fee"].as_str()), (Some("3.00"), Some("0.13")));
        // The unmatched charge is the one made at Stripe directly.
        let charge = stripe_get(&app, acct, &format!("/v1/payment_intents/{direct}")).await;
        assert_eq!(unmatched[0]["source_id"], charge["latest_charge"]);

        // Listed with its totals; the merchant told once.
        let page = listed(&app, &token, "external_account_id=acme").await;
        assert_eq!(page["data"][0]["id"], po.as_str());
        assert_eq!(page["data"][0]["totals"]["net"], "31.82");
        assert!(page["data"][0].get("items").is_none());
        app.settle().await;
        let paid = received(&hook, "payout.paid");
        assert_eq!(paid.len(), 1);
        assert_eq!(paid[0]["data"]["object"]["id"], po.as_str());
        assert_eq!(paid[0]["data"]["object"]["amount"], "31.82");
        assert_eq!(paid[0]["data"]["object"]["totals"]["fees"], "1.18");
        assert_eq!(received(&hook, "payout.failed").len(), 0);

        // Nothing left to pay out: the next run makes no payout.
        let again = run_payouts(&app, json!({"stripe_account": acct, "advance_days": 1})).await;
        assert_eq!(again["payouts"], json!([]));
    }

    async fn a_failed_payout_then_its_money_paid_out_again_with_list_filters(app) {
        let hook = MerchantEndpoint::start(0);
        let acct = "acct_PayoutsFail1";
        let token = connected_merchant(&app, "acme", acct).await;
        app.put_account("acme", json!({"webhook_url": hook.url})).await;
        sale(&app, &token, "acme", acct, "payouts-fail", "20.00").await;
        let failed = run_payouts(&app, json!({"stripe_account": acct, "failure_code": "account_closed"})).await;
        let po1 = failed["payouts"][0]["id"].as_str().unwrap().to_string();
        let payout = payout_when(&app, &token, "acme", &po1, "failed").await;
        assert_eq!(payout["amount"], "19.41", "20.00 − 0.59 (0.54 + 0.05)");
        assert_eq!(payout["failure_code"], "account_closed");
        assert_eq!(payout["failure_message"], "The bank account has been closed.");
        assert_eq!(payout["reconciled"], false);
        assert_eq!(payout["items"], json!([]));

        // The returned money is paid out by the next payout (a `payout_failure` transaction).
        let paid = run_payouts(&app, json!({"stripe_account": acct, "advance_days": 0})).await;
        let po2 = paid["payouts"][0]["id"].as_str().unwrap().to_string();
        let second = payout_when(&app, &token, "acme", &po2, "paid").await;
        assert_eq!(second["amount"], "19.41");
        assert_eq!(second["unmatched"][0]["type"], "payout_failure");
        assert_eq!(second["unmatched"][0]["source_id"], po1.as_str());
        assert_eq!(second["totals"], json!({"gross": "19.41", "fees": "0.00", "net": "19.41", "count": 1}));

        // Filters and the cursor.
        let all = listed(&app, &token, "external_account_id=acme").await;
        let ids: Vec<&str> = all["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [po2.as_str(), po1.as_str()], "newest first");
        let only_failed = listed(&app, &token, "external_account_id=acme&status=failed").await;
        assert_eq!(only_failed["data"].as_array().unwrap().len(), 1);
        assert_eq!(only_failed["data"][0]["id"], po1.as_str());
        let only_paid = listed(&app, &token, "external_account_id=acme&status=paid").await;
        assert_eq!(only_paid["data"][0]["id"], po2.as_str());
        let first = listed(&app, &token, "external_account_id=acme&limit=1").await;
        assert_eq!((first["has_more"].as_bool(), first["next_starting_after"].as_str()), (Some(true), Some(po2.as_str())));
        let rest = listed(&app, &token, &format!("external_account_id=acme&limit=1&starting_after={po2}")).await;
        assert_eq!(rest["data"][0]["id"], po1.as_str());
        assert_eq!(rest["has_more"], false);
        assert_eq!(rest["next_starting_after"], Value::Null);

        app.settle().await;
        assert_eq!(received(&hook, "payout.failed").len(), 1);
        assert_eq!(received(&hook, "payout.failed")[0]["data"]["object"]["failure_code"], "account_closed");
        assert_eq!(received(&hook, "payout.paid").len(), 1);
    }

    async fn duplicated_and_reordered_payout_events_change_nothing_backwards(app) {
        let hook = MerchantEndpoint::start(0);
        let acct = "acct_PayoutsOrder1";
        let token = connected_merchant(&app, "acme", acct).await;
        app.put_account("acme", json!({"webhook_url": hook.url})).await;
        sale(&app, &token, "acme", acct, "payouts-order", "10.00").await;
        let ran = run_payouts(&app, json!({"stripe_account": acct})).await;
        let paid = ran["payouts"][0].clone();
        let po = paid["id"].as_str().unwrap().to_string();
        let before = payout_when(&app, &token, "acme", &po, "paid").await;

        // The same paid payout again under new event ids, and its creation after it.
        let mut pending = paid.clone();
        pending["status"] = json!("pending");
        for (id, kind, object) in [("evt_payouts_dup_paid", "payout.paid", paid.clone()), ("evt_payouts_late_created", "payout.created", pending.clone()),
            ("evt_payouts_dup_paid", "payout.paid", paid.clone())] {
            let (body, sig) = connect_event(id, kind, acct, object);
            let (status, answer) = deliver(&app, &body, &sig).await;
            assert_eq!(status, 200, "{answer}");
        }
        let after = payout_when(&app, &token, "acme", &po, "paid").await;
        assert_eq!(after["items"], before["items"], "items stored once");
        assert_eq!(after["totals"], before["totals"]);

        // A failed payout never becomes paid.
        sale(&app, &token, "acme", acct, "payouts-order-2", "10.00").await;
        let failed = run_payouts(&app, json!({"stripe_account": acct, "failure_code": "no_account"})).await;
        let failed = failed["payouts"][0].clone();
        let po_failed = failed["id"].as_str().unwrap().to_string();
        payout_when(&app, &token, "acme", &po_failed, "failed").await;
        let mut forged = failed.clone();
        forged["status"] = json!("paid");
        forged["failure_code"] = Value::Null;
        let (body, sig) = connect_event("evt_payouts_paid_after_failed", "payout.paid", acct, forged);
        let (status, answer) = deliver(&app, &body, &sig).await;
        assert_eq!(status, 200, "{answer}");
        let still = payout_when(&app, &token, "acme", &po_failed, "failed").await;
        assert_eq!(still["failure_code"], "no_account");
        assert_eq!(still["reconciled"], false);

        app.settle().await;
        assert_eq!(received(&hook, "payout.paid").len(), 1, "announced once");
        assert_eq!(received(&hook, "payout.failed").len(), 1);
    }

    async fn a_payout_read_while_stripe_is_unreachable_is_recorded_later(app) {
        let acct = "acct_PayoutsDown1";
        let token = connected_merchant(&app, "acme", acct).await;
        sale(&app, &token, "acme", acct, "payouts-down", "10.00").await;
        app.add_fault(json!({"method": "GET", "path": "/v1/balance_transactions", "error_rate": 1.0, "error_status": 503})).await;
        let ran = run_payouts(&app, json!({"stripe_account": acct})).await;
        let po = ran["payouts"][0]["id"].as_str().unwrap().to_string();
        // payout.created is recorded; payout.paid cannot be while Stripe does not answer.
        payout_when(&app, &token, "acme", &po, "pending").await;
        eventually(30, "Stripe gave up delivering payout.paid", || async {
            let deliveries = app.sim_get("/_sim/webhook_deliveries").await;
            deliveries["data"].as_array().unwrap().iter()
                .any(|d| d["type"] == "payout.paid" && d["delivery"]["status"] == "failed")
        })
        .await;
        let (_, stuck) = app.get(&format!("/v1/payout/{po}?external_account_id=acme"), &token).await;
        assert_eq!((stuck["status"].as_str(), stuck["reconciled"].as_bool()), (Some("pending"), Some(false)), "{stuck}");
        let tries = app.stripe_calls().await.iter().filter(|(m, p)| m == "GET" && p == "/v1/balance_transactions").count();
        assert!(tries >= 2, "read again on each delivery ({tries})");

        // Stripe is back: the reconciler replays the event nobody stored.
        let response = app.client.delete(app.sim_url("/_sim/faults")).send().await.unwrap();
        assert!(response.status().is_success());
        app.reconcile_with(|_| {}).await;
        let payout = payout_when(&app, &token, "acme", &po, "paid").await;
        assert_eq!(payout["amount"], "9.68");
        assert_eq!(payout["totals"]["net"], "9.68");
        assert_eq!(payout["items"].as_array().unwrap().len(), 1);
    }

    async fn an_own_key_merchants_payout_is_recorded_by_the_reconciler(app) {
        // The merchant's own Stripe account: in simulator mode its events are signed with the
        // platform's secret and name no account, so the reconciler's pass over that account
        // records the payout, with the merchant's scope.
        let key = "sk_test_PayoutsOwnKey1";
        let token = app.merchant("bistro", "usd").await;
        let (status, body) = app.put_account("bistro", json!({"stripe_secret_key": key})).await;
        assert_eq!(status, 200, "{body}");
        let pi = sale(&app, &token, "bistro", key, "payouts-own-key", "10.00").await;
        let ran = run_payouts(&app, json!({"api_key": key})).await;
        let po = ran["payouts"][0]["id"].as_str().unwrap().to_string();
        app.settle_stripe_webhooks().await;
        let (status, _) = app.get(&format!("/v1/payout/{po}?external_account_id=bistro"), &token).await;
        assert_eq!(status, 404, "not recorded from the platform-signed event");
        app.reconcile_with(|_| {}).await;
        let payout = payout_when(&app, &token, "bistro", &po, "paid").await;
        assert_eq!(payout["amount"], "9.68");
        assert_eq!(payout["items"][0]["payment_id"], pi.as_str());
    }

    async fn another_accounts_payout_is_not_found_and_bad_input_names_the_field(app) {
        let acct = "acct_PayoutsOwner1";
        let token = connected_merchant(&app, "acme", acct).await;
        let other = connected_merchant(&app, "other", "acct_PayoutsOther1").await;
        sale(&app, &token, "acme", acct, "payouts-owner", "10.00").await;
        let ran = run_payouts(&app, json!({"stripe_account": acct})).await;
        let po = ran["payouts"][0]["id"].as_str().unwrap().to_string();
        payout_when(&app, &token, "acme", &po, "paid").await;

        let (status, body) = app.get(&format!("/v1/payout/{po}?external_account_id=other"), &other).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(listed(&app, &other, "external_account_id=other").await["data"], json!([]));
        let (status, body) = app.get(&format!("/v1/payout/{po}?external_account_id=acme"), &other).await;
        assert!(status == 403 || status == 404, "{status} {body}");
        let (status, body) = app.get("/v1/payout/po_NoSuchPayout?external_account_id=acme", &token).await;
        assert_eq!(status, 404, "{body}");

        for (path, field) in [
            ("/v1/payouts?external_account_id=acme&limit=0", "limit"),
            ("/v1/payouts?external_account_id=acme&limit=abc", "limit"),
            ("/v1/payouts?external_account_id=acme&status=sent", "status"),
            ("/v1/payouts?external_account_id=acme&starting_after=txn_1", "starting_after"),
            ("/v1/payouts?external_account_id=acme&starting_after=po_NotOurs", "starting_after"),
            ("/v1/payouts?external_account_id=acme&colour=blue", "colour"),
            ("/v1/payouts", "external_account_id"),
            ("/v1/payout/ch_1?external_account_id=acme", "payout_id"),
        ] {
            let (status, body) = app.get(path, &token).await;
            assert_eq!(status, 400, "{path}: {body}");
            assert_eq!(body["error"]["param"], field, "{path}: {body}");
        }
    }
}
