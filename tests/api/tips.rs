//! Tips and authorisations that grow or last, through our API: per-location tipping
//! (`PUT/GET/DELETE /v1/terminal/locations/{id}/tipping`), a tip chosen on the reader (recorded as
//! Stripe authorised it: amount with tip, tip apart), `skip_tipping` and `tip_eligible_amount` on
//! `process`; a tip on receipt by overcapture (allowed on US cards, 409 otherwise); increments of
//! an open tab up to Stripe's attempt limit, a declined increment, extended authorisations'
//! `capture_before`; validation before any Stripe call; other accounts' ids are 404s.

use crate::both_backends;
use crate::support::app::{MerchantEndpoint, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";
const JCB: &str = "3566002020360505";
const AMEX: &str = "378282246310005";
/// Succeeds at the reader; increments of its authorisation decline.
const DECLINES_INCREMENTS: &str = "4000000000000341";

/// A merchant `acme` (USD) with a location and a reader there, through our API:
/// (token, location, reader).
async fn till(app: &TestApp) -> (String, String, String) {
    let token = app.merchant("acme", "usd").await;
    let (status, location) = app
        .post(
            "/v1/terminal/locations",
            &token,
            json!({"external_account_id": "acme", "display_name": "Bar",
                   "address": {"line1": "1 Main St", "country": "US"}}),
        )
        .await;
    assert_eq!(status, 200, "{location}");
    let location = location["id"].as_str().unwrap().to_string();
    let (status, reader) = app
        .post(
            "/v1/terminal/readers",
            &token,
            json!({"external_account_id": "acme", "registration_code": "simulated-wpe", "location": location}),
        )
        .await;
    assert_eq!(status, 200, "{reader}");
    (token, location, reader["id"].as_str().unwrap().to_string())
}

async fn put_tipping(app: &TestApp, token: &str, location: &str, body: Value) -> (u16, Value) {
    app.send(
        Method::PUT,
        &format!("/v1/terminal/locations/{location}/tipping"),
        Some(token),
        Some(body),
    )
    .await
}

async fn intent(app: &TestApp, token: &str, body: Value) -> String {
    let (status, payment) = app.post("/v1/payment/intent", token, body).await;
    assert_eq!(status, 200, "{payment}");
    payment["id"].as_str().unwrap().to_string()
}

async fn sale(app: &TestApp, token: &str, tx: &str, amount: &str) -> String {
    intent(
        app,
        token,
        json!({"external_account_id": "acme", "amount": amount, "external_transaction_id": tx}),
    )
    .await
}

async fn process(app: &TestApp, token: &str, reader: &str, body: Value) -> (u16, Value) {
    app.post(
        &format!("/v1/terminal/readers/{reader}/process"),
        token,
        body,
    )
    .await
}

/// The customer presents `card` at the reader, choosing `tip` (minor units) on a tipping screen.
async fn present(app: &TestApp, reader: &str, card: &str, tip: Option<&str>) -> (u16, Value) {
    let mut form = vec![("type", "card_present"), ("card_present[number]", card)];
    if let Some(tip) = tip {
        form.push(("amount_tip", tip));
    }
    app.sim_post(
        &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
        &form,
    )
    .await
}

async fn screen(app: &TestApp, reader: &str) -> Value {
    app.sim_get(&format!("/_sim/terminal/readers/{reader}/screen"))
        .await
}

async fn payment(app: &TestApp, token: &str, id: &str) -> Value {
    let (status, p) = app
        .get(&format!("/v1/payment/{id}?external_account_id=acme"), token)
        .await;
    assert_eq!(status, 200, "{p}");
    p
}

/// A sale of `amount` on `card`, authorised at the reader without tipping: its id.
async fn authorised(app: &TestApp, token: &str, reader: &str, body: Value, card: &str) -> String {
    let id = intent(app, token, body).await;
    let (status, r) = process(
        app,
        token,
        reader,
        json!({"external_account_id": "acme", "payment_id": id, "skip_tipping": true}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let (status, tapped) = present(app, reader, card, None).await;
    assert_eq!(status, 200, "{tapped}");
    id
}

fn amounts(p: &Value) -> (&str, &str, &str) {
    (
        p["amount"].as_str().unwrap(),
        p["amount_tip"].as_str().unwrap(),
        p["status"].as_str().unwrap(),
    )
}

both_backends! {
    async fn a_tip_on_the_reader_is_recorded_as_stripe_authorised_it(app) {
        let (token, location, reader) = till(&app).await;
        let (status, tipping) = put_tipping(&app, &token, &location, json!({
            "external_account_id": "acme", "currency": "usd",
            "percentages": [15, 20, 25], "fixed_amounts": ["1.00", "2.00"], "smart_tip_threshold": "10.00",
        })).await;
        assert_eq!(status, 200, "{tipping}");
        assert_eq!(tipping["location"], location.as_str());
        assert_eq!(tipping["tipping"]["usd"], json!({"percentages": [15, 20, 25], "fixed_amounts": ["1.00", "2.00"], "smart_tip_threshold": "10.00"}));
        let (status, read) = app.get(&format!("/v1/terminal/locations/{location}/tipping?external_account_id=acme"), &token).await;
        assert_eq!((status, &read), (200, &tipping));

        let id = sale(&app, &token, "tipped", "12.99").await;
        let (status, r) = process(&app, &token, &reader, json!({"external_account_id": "acme", "payment_id": id})).await;
        assert_eq!(status, 200, "{r}");
        // At or above the threshold: percentages of 12.99, half up.
        let shown = screen(&app, &reader).await;
        assert_eq!(shown["screen"], "tipping", "{shown}");
        let offered: Vec<i64> = shown["tip_options"].as_array().unwrap().iter().map(|o| o["amount"].as_i64().unwrap()).collect();
        assert_eq!(offered, vec![195, 260, 325], "{shown}");
        let (status, tapped) = present(&app, &reader, VISA, Some("195")).await;
        assert_eq!(status, 200, "{tapped}");
        // Stripe's webhook alone records it (the list does not ask Stripe).
        app.settle_stripe_webhooks().await;
        let listed = app.stored_payment(&token, "acme", "tipped").await.unwrap();
        assert_eq!((listed.status.as_str(), listed.amount.as_str(), listed.amount_capturable.as_str()), ("requires_capture", "14.94", "14.94"));

        let p = payment(&app, &token, &id).await;
        assert_eq!(amounts(&p), ("14.94", "1.95", "requires_capture"), "{p}");
        assert_eq!(p["amount_capturable"], "14.94");
        assert_eq!((p["overcapture_supported"].as_bool(), p["incremental_authorization_supported"].as_bool()), (Some(true), Some(false)), "{p}");
        assert!(p["capture_before"].is_string(), "{p}");
        // The whole authorisation is captured, tip included.
        let (status, captured) = app.post("/v1/payment/capture", &token, json!({"payment_id": id, "external_account_id": "acme"})).await;
        assert_eq!(status, 200, "{captured}");
        assert_eq!((captured["amount_captured"].as_str(), captured["amount_tip"].as_str()), (Some("14.94"), Some("1.95")), "{captured}");
        let listed = app.stored_payment(&token, "acme", "tipped").await.unwrap();
        assert_eq!(listed.amount, "14.94");
        // End-of-day totals show the tip apart, within the sales.
        let today = chrono::Utc::now().date_naive();
        let window = format!("since={}&until={}", today.pred_opt().unwrap(), today.succ_opt().unwrap().succ_opt().unwrap());
        let (status, totals) = app.get(&format!("/v1/reports/totals?external_account_id=acme&{window}"), &token).await;
        assert_eq!(status, 200, "{totals}");
        let usd = &totals["groups"][0];
        assert_eq!((usd["sales_amount"].as_str(), usd["tips_amount"].as_str()), (Some("14.94"), Some("1.95")), "{totals}");

        // Below the threshold the fixed amounts are offered; tip_eligible_amount moves the base.
        let small = sale(&app, &token, "coffee", "4.50").await;
        let (status, r) = process(&app, &token, &reader, json!({"external_account_id": "acme", "payment_id": small, "tip_eligible_amount": "4.00"})).await;
        assert_eq!(status, 200, "{r}");
        let shown = screen(&app, &reader).await;
        let offered: Vec<i64> = shown["tip_options"].as_array().unwrap().iter().map(|o| o["amount"].as_i64().unwrap()).collect();
        assert_eq!(offered, vec![100, 200], "{shown}");
        let (status, tapped) = present(&app, &reader, VISA, Some("0")).await;
        assert_eq!(status, 200, "{tapped}");
        let p = payment(&app, &token, &small).await;
        assert_eq!(amounts(&p), ("4.50", "0.00", "requires_capture"), "{p}");

        let big = sale(&app, &token, "dinner", "80.00").await;
        let (status, r) = process(&app, &token, &reader, json!({"external_account_id": "acme", "payment_id": big, "tip_eligible_amount": "60.00"})).await;
        assert_eq!(status, 200, "{r}");
        let shown = screen(&app, &reader).await;
        let offered: Vec<i64> = shown["tip_options"].as_array().unwrap().iter().map(|o| o["amount"].as_i64().unwrap()).collect();
        assert_eq!(offered, vec![900, 1200, 1500], "15/20/25% of 60.00: {shown}");
        let (status, _) = app.post(&format!("/v1/terminal/readers/{reader}/cancel"), &token, json!({"external_account_id": "acme"})).await;
        assert_eq!(status, 200);

        // skip_tipping: no tipping screen, and no tip can be chosen.
        let skipped = sale(&app, &token, "skipped", "12.99").await;
        let (status, r) = process(&app, &token, &reader, json!({"external_account_id": "acme", "payment_id": skipped, "skip_tipping": true})).await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(screen(&app, &reader).await["screen"], "collect_payment_method");
        let (status, refused) = present(&app, &reader, VISA, Some("100")).await;
        assert_eq!(status, 400, "{refused}");
        let (status, tapped) = present(&app, &reader, VISA, None).await;
        assert_eq!(status, 200, "{tapped}");
        assert_eq!(amounts(&payment(&app, &token, &skipped).await), ("12.99", "0.00", "requires_capture"));

        // Without the configuration the reader offers no tip.
        let (status, removed) = app.send(Method::DELETE, &format!("/v1/terminal/locations/{location}/tipping?external_account_id=acme"), Some(&token), None).await;
        assert_eq!(status, 200, "{removed}");
        assert_eq!((removed["configuration_id"].clone(), removed["tipping"].clone()), (Value::Null, json!({})));
        let plain = sale(&app, &token, "plain", "12.99").await;
        let (status, r) = process(&app, &token, &reader, json!({"external_account_id": "acme", "payment_id": plain})).await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(screen(&app, &reader).await["screen"], "collect_payment_method");
        let (status, _) = present(&app, &reader, VISA, Some("100")).await;
        assert_eq!(status, 400);
    }

    async fn a_deleted_location_takes_its_tipping_configuration_along(app) {
        let (token, location, reader) = till(&app).await;
        let (status, tipping) = put_tipping(&app, &token, &location, json!({
            "external_account_id": "acme", "currency": "usd", "percentages": [10, 15, 20],
        })).await;
        assert_eq!(status, 200, "{tipping}");
        let configuration = tipping["configuration_id"].as_str().unwrap().to_string();
        let configurations = || async {
            let listed = app.sim_get("/v1/terminal/configurations?limit=100").await;
            listed["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
        };
        assert!(configurations().await.contains(&configuration));
        let (status, _) = app.send(Method::DELETE, &format!("/v1/terminal/readers/{reader}?external_account_id=acme"), Some(&token), None).await;
        assert_eq!(status, 200);
        let (status, deleted) = app.send(Method::DELETE, &format!("/v1/terminal/locations/{location}?external_account_id=acme"), Some(&token), None).await;
        assert_eq!(status, 200, "{deleted}");
        assert!(!configurations().await.contains(&configuration), "the location's configuration went with it");
    }

    async fn tipping_and_tip_requests_are_checked_before_stripe(app) {
        let (token, location, reader) = till(&app).await;
        let id = sale(&app, &token, "checked", "12.99").await;
        let calls = app.stripe_calls().await.len();
        let base = json!({"external_account_id": "acme", "currency": "usd", "percentages": [15, 20]});
        let with = |key: &str, value: Value| {
            let mut body = base.clone();
            body[key] = value;
            body
        };
        for (body, param) in [
            (with("percentages", json!([10, 15, 20, 25])), "percentages"),
            (with("percentages", json!([15, 101])), "percentages[1]"),
            (with("fixed_amounts", json!(["1.00", "2.00", "3.00", "4.00"])), "fixed_amounts"),
            (with("fixed_amounts", json!(["1.005"])), "fixed_amounts[0]"),
            (with("fixed_amounts", json!(["0"])), "fixed_amounts[0]"),
            (with("smart_tip_threshold", json!("10.00")), "smart_tip_threshold"),
            (with("currency", json!("usdx")), "currency"),
            (json!({"external_account_id": "acme", "currency": "usd"}), "percentages"),
        ] {
            let (status, error) = put_tipping(&app, &token, &location, body.clone()).await;
            assert_eq!((status, error["error"]["param"].as_str()), (400, Some(param)), "{body}: {error}");
        }
        for (body, param) in [
            (json!({"external_account_id": "acme", "payment_id": id, "tip_eligible_amount": "13.00"}), "tip_eligible_amount"),
            (json!({"external_account_id": "acme", "payment_id": id, "tip_eligible_amount": "-1"}), "tip_eligible_amount"),
            (json!({"external_account_id": "acme", "payment_id": id, "tip_eligible_amount": "5.00", "skip_tipping": true}), "tip_eligible_amount"),
        ] {
            let (status, error) = process(&app, &token, &reader, body.clone()).await;
            assert_eq!((status, error["error"]["param"].as_str()), (400, Some(param)), "{body}: {error}");
        }
        for (body, param) in [
            (json!({"external_account_id": "acme", "amount": "5.00", "external_transaction_id": "x1", "capture_method": "automatic", "request_incremental_authorization_support": true}), "request_incremental_authorization_support"),
            (json!({"external_account_id": "acme", "amount": "5.00", "external_transaction_id": "x2", "capture_method": "automatic", "request_extended_authorization": true}), "request_extended_authorization"),
            (json!({"external_account_id": "acme", "amount": "5.00", "external_transaction_id": "x3", "request_extended_authorization": "yes"}), "request_extended_authorization"),
        ] {
            let (status, error) = app.post("/v1/payment/intent", &token, body.clone()).await;
            assert_eq!(status, 400, "{body}: {error}");
            assert!(error["error"]["message"].as_str().unwrap().contains(param) || error["error"]["param"] == param, "{body}: {error}");
        }
        let (status, error) = app.post("/v1/payment/increment", &token, json!({"payment_id": id, "external_account_id": "acme", "amount": "1.001"})).await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("amount")), "{error}");
        assert_eq!(app.stripe_calls().await.len(), calls, "no Stripe call for bad input");

        // Another account's location, reader and payment are not found.
        let other = app.merchant("other", "usd").await;
        let (status, _) = put_tipping(&app, &other, &location, json!({"external_account_id": "other", "currency": "usd", "percentages": [10]})).await;
        assert_eq!(status, 404);
        let (status, _) = app.get(&format!("/v1/terminal/locations/{location}/tipping?external_account_id=other"), &other).await;
        assert_eq!(status, 404);
        let (status, _) = app.send(Method::DELETE, &format!("/v1/terminal/locations/{location}/tipping?external_account_id=other"), Some(&other), None).await;
        assert_eq!(status, 404);
        let (status, _) = app.post("/v1/payment/increment", &other, json!({"payment_id": id, "external_account_id": "other", "amount": "20.00"})).await;
        assert_eq!(status, 404);
        let (status, _) = process(&app, &other, &reader, json!({"external_account_id": "other", "payment_id": id, "skip_tipping": true})).await;
        assert_eq!(status, 404);
    }

    async fn a_tip_on_receipt_overcaptures_where_the_card_allows_it(app) {
        let (token, _, reader) = till(&app).await;
        let id = authorised(&app, &token, &reader, json!({"external_account_id": "acme", "amount": "40.00", "external_transaction_id": "receipt-tip"}), VISA).await;
        // Beyond Stripe's limit (50% or 50 USD above, whichever is greater: 90.00 here): 409.
        let (status, error) = app.post("/v1/payment/capture", &token, json!({"payment_id": id, "external_account_id": "acme", "amount": "90.01"})).await;
        assert_eq!((status, error["error"]["code"].as_str(), error["error"]["param"].as_str()), (409, Some("overcapture_limit_exceeded"), Some("amount")), "{error}");
        let (status, captured) = app.post("/v1/payment/capture", &token, json!({"payment_id": id, "external_account_id": "acme", "amount": "46.00"})).await;
        assert_eq!(status, 200, "{captured}");
        assert_eq!(amounts(&captured), ("46.00", "6.00", "succeeded"), "{captured}");
        assert_eq!(captured["amount_captured"], "46.00");
        let p = payment(&app, &token, &id).await;
        assert_eq!(amounts(&p), ("46.00", "6.00", "succeeded"));
        // A repeat of the capture answers the same.
        let (status, again) = app.post("/v1/payment/capture", &token, json!({"payment_id": id, "external_account_id": "acme", "amount": "46.00"})).await;
        assert_eq!((status, again["amount_tip"].as_str()), (200, Some("6.00")), "{again}");

        // A Japanese card cannot be captured above its authorisation: 409, nothing captured.
        let jcb = authorised(&app, &token, &reader, json!({"external_account_id": "acme", "amount": "40.00", "external_transaction_id": "jcb"}), JCB).await;
        let (status, error) = app.post("/v1/payment/capture", &token, json!({"payment_id": jcb, "external_account_id": "acme", "amount": "45.00"})).await;
        assert_eq!((status, error["error"]["code"].as_str(), error["error"]["param"].as_str()), (409, Some("overcapture_unavailable"), Some("amount")), "{error}");
        let p = payment(&app, &token, &jcb).await;
        assert_eq!(amounts(&p), ("40.00", "0.00", "requires_capture"));
        assert_eq!(p["overcapture_supported"], false);
        let (status, captured) = app.post("/v1/payment/capture", &token, json!({"payment_id": jcb, "external_account_id": "acme", "amount": "40.00"})).await;
        assert_eq!((status, captured["status"].as_str()), (200, Some("succeeded")), "{captured}");
    }

    async fn an_open_tab_grows_up_to_the_attempt_limit(app) {
        let (token, _, reader) = till(&app).await;
        let hook = MerchantEndpoint::start(0);
        let (status, account) = app.put_account("acme", json!({"webhook_url": hook.url})).await;
        assert_eq!(status, 200, "{account}");
        let tab = json!({"external_account_id": "acme", "amount": "20.00", "external_transaction_id": "tab", "request_incremental_authorization_support": true});
        let id = authorised(&app, &token, &reader, tab, VISA).await;
        let p = payment(&app, &token, &id).await;
        assert_eq!(p["incremental_authorization_supported"], true, "{p}");
        let increment = |amount: String, key: Option<&'static str>| {
            let app = &app;
            let token = token.clone();
            let id = id.clone();
            async move {
                let mut request = app.client.post(app.url("/v1/payment/increment")).bearer_auth(&token)
                    .json(&json!({"payment_id": id, "external_account_id": "acme", "amount": amount}));
                if let Some(key) = key {
                    request = request.header("Idempotency-Key", key);
                }
                let answer = app.exchange(request).await;
                (answer.status, answer.json())
            }
        };
        let (status, raised) = increment("25.00".into(), Some("round-2")).await;
        assert_eq!(status, 200, "{raised}");
        assert_eq!((raised["amount"].as_str(), raised["amount_capturable"].as_str(), raised["amount_tip"].as_str()), (Some("25.00"), Some("25.00"), Some("0.00")), "{raised}");
        // The same key again replays the answer; the same total again changes nothing.
        let (status, replayed) = increment("25.00".into(), Some("round-2")).await;
        assert_eq!((status, replayed["amount"].as_str()), (200, Some("25.00")));
        // The merchant hears of the new total (once, whoever recorded it first).
        app.settle().await;
        let events: Vec<Value> = hook.received.lock().unwrap().iter()
            .map(|d| serde_json::from_str::<Value>(&d.body).unwrap())
            .filter(|e| e["type"] == "payment.amount_updated")
            .collect();
        assert_eq!(events.len(), 1, "{events:?}");
        let object = &events[0]["data"]["object"];
        assert_eq!((object["amount"].as_str(), object["amount_tip"].as_str()), (Some("25.00"), Some("0.00")), "{object}");
        assert!(object["capture_before"].is_string(), "{object}");
        let (status, error) = increment("24.00".into(), None).await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("amount")), "{error}");
        // Stripe allows 10 attempts per authorisation: 9 more, then 409.
        for n in 1..=9 {
            let (status, raised) = increment(format!("{}.00", 25 + n), None).await;
            assert_eq!(status, 200, "attempt {n}: {raised}");
        }
        let (status, error) = increment("40.00".into(), None).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("increment_limit_reached")), "{error}");
        let p = payment(&app, &token, &id).await;
        assert_eq!(amounts(&p), ("34.00", "0.00", "requires_capture"));
        let increments = p["history"].as_array().unwrap().iter().filter(|h| h["action"] == "increment").count();
        assert_eq!(increments, 10, "{p}");
        let (status, captured) = app.post("/v1/payment/capture", &token, json!({"payment_id": id, "external_account_id": "acme"})).await;
        assert_eq!((status, captured["amount_captured"].as_str()), (200, Some("34.00")), "{captured}");
        let (status, error) = increment("50.00".into(), None).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("payment_not_incrementable")), "{error}");
    }

    async fn declined_and_unsupported_increments(app) {
        let (token, _, reader) = till(&app).await;
        let id = authorised(&app, &token, &reader, json!({"external_account_id": "acme", "amount": "20.00", "external_transaction_id": "declines", "request_incremental_authorization_support": true}), DECLINES_INCREMENTS).await;
        let (status, error) = app.post("/v1/payment/increment", &token, json!({"payment_id": id, "external_account_id": "acme", "amount": "30.00"})).await;
        assert_eq!(status, 402, "{error}");
        assert_eq!((error["error"]["code"].as_str(), error["error"]["decline_code"].as_str()), (Some("card_declined"), Some("generic_decline")), "{error}");
        let p = payment(&app, &token, &id).await;
        assert_eq!(amounts(&p), ("20.00", "0.00", "requires_capture"), "{p}");
        assert!(p["history"].as_array().unwrap().iter().any(|h| h["action"] == "increment_declined" && h["amount"] == "30.00"), "{p}");

        // Not requested, or a card without increments (Amex): 409 before any Stripe call.
        let plain = authorised(&app, &token, &reader, json!({"external_account_id": "acme", "amount": "20.00", "external_transaction_id": "plain"}), VISA).await;
        let amex = authorised(&app, &token, &reader, json!({"external_account_id": "acme", "amount": "20.00", "external_transaction_id": "amex", "request_incremental_authorization_support": true}), AMEX).await;
        for id in [plain, amex] {
            payment(&app, &token, &id).await;
            let calls = app.stripe_calls().await.len();
            let (status, error) = app.post("/v1/payment/increment", &token, json!({"payment_id": id, "external_account_id": "acme", "amount": "30.00"})).await;
            assert_eq!((status, error["error"]["code"].as_str()), (409, Some("incremental_authorization_unavailable")), "{error}");
            assert_eq!(app.stripe_calls().await.len(), calls);
        }
    }

    async fn an_extended_authorisation_lasts_thirty_days(app) {
        let (token, _, reader) = till(&app).await;
        let hotel = authorised(&app, &token, &reader, json!({"external_account_id": "acme", "amount": "200.00", "external_transaction_id": "hotel", "request_extended_authorization": true}), VISA).await;
        let shop = authorised(&app, &token, &reader, json!({"external_account_id": "acme", "amount": "20.00", "external_transaction_id": "shop"}), VISA).await;
        let window = |p: &Value| {
            let at = |k: &str| chrono::DateTime::parse_from_rfc3339(p[k].as_str().unwrap()).unwrap();
            (at("capture_before") - at("created_at")).num_hours()
        };
        let hotel = payment(&app, &token, &hotel).await;
        let shop = payment(&app, &token, &shop).await;
        assert!((29 * 24..=30 * 24).contains(&window(&hotel)), "{hotel}");
        assert!((47..=48).contains(&window(&shop)), "{shop}");
    }
}
