//! The basket on the reader: `POST /v1/terminal/readers/{id}/display` shows a cart (amounts in
//! major units, sent to Stripe's `set_reader_display` in minor units) and
//! `POST /v1/terminal/readers/{id}/cancel` clears it. Bad input is a 400 naming the field without a
//! Stripe call; a reader processing a payment is 409 `reader_busy`; another account's reader is a
//! 404.

use crate::both_backends;
use crate::support::app::TestApp;
use serde_json::{json, Value};

/// A merchant `acme` with a reader registered through our API: (token, reader id).
async fn till(app: &TestApp) -> (String, String) {
    let token = app.merchant("acme", "usd").await;
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

/// Two coffees at 4.50, a cake at 3.25 (one as a JSON number), tax 1.23: total 13.48.
fn basket() -> Value {
    json!({
        "external_account_id": "acme",
        "currency": "usd",
        "line_items": [
            {"description": "Flat white", "amount": "4.50", "quantity": 2},
            {"description": "Carrot cake", "amount": 3.25, "quantity": 1},
        ],
        "tax": "1.23",
        "total": "13.48",
    })
}

async fn display(app: &TestApp, token: &str, reader: &str, body: Value) -> (u16, Value) {
    app.post(
        &format!("/v1/terminal/readers/{reader}/display"),
        token,
        body,
    )
    .await
}

async fn screen(app: &TestApp, reader: &str) -> Value {
    app.sim_get(&format!("/_sim/terminal/readers/{reader}/screen"))
        .await
}

both_backends! {
    async fn the_cart_shows_on_the_reader_in_minor_units_and_cancel_clears_it(app) {
        let (token, reader) = till(&app).await;
        assert_eq!(screen(&app, &reader).await, json!({"screen": "idle"}));
        let (status, shown) = display(&app, &token, &reader, basket()).await;
        assert_eq!(status, 200, "{shown}");
        assert_eq!(shown["id"], reader.as_str());
        assert_eq!(shown["action"]["type"], "set_reader_display", "{shown}");
        assert_eq!(shown["action"]["status"], "succeeded", "{shown}");
        assert_eq!(
            screen(&app, &reader).await,
            json!({"screen": "cart", "cart": {
                "currency": "usd",
                "line_items": [
                    {"description": "Flat white", "amount": 450, "quantity": 2},
                    {"description": "Carrot cake", "amount": 325, "quantity": 1},
                ],
                "tax": 123,
                "total": 1348,
            }})
        );

        // A new basket replaces the old one; no tax, a zero-decimal currency.
        let (status, shown) = display(&app, &token, &reader, json!({
            "external_account_id": "acme", "currency": "JPY",
            "line_items": [{"description": "Onigiri", "amount": 180, "quantity": 3}],
            "total": "540",
        })).await;
        assert_eq!(status, 200, "{shown}");
        let cart = &screen(&app, &reader).await["cart"];
        assert_eq!((cart["currency"].as_str(), cart["total"].as_i64()), (Some("jpy"), Some(540)), "{cart}");
        assert_eq!(cart["line_items"][0]["amount"], 180);
        assert_eq!(cart["tax"], Value::Null);

        let (status, cleared) = app.post(&format!("/v1/terminal/readers/{reader}/cancel"), &token,
            json!({"external_account_id": "acme"})).await;
        assert_eq!(status, 200, "{cleared}");
        assert_eq!(cleared["action"], Value::Null, "{cleared}");
        assert_eq!(screen(&app, &reader).await, json!({"screen": "idle"}));
        // Nothing left to clear.
        let (status, error) = app.post(&format!("/v1/terminal/readers/{reader}/cancel"), &token,
            json!({"external_account_id": "acme"})).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("reader_action_not_found")), "{error}");
    }

    async fn bad_carts_are_400s_naming_the_field_without_a_stripe_call(app) {
        let (token, reader) = till(&app).await;
        let calls = app.stripe_calls().await.len();
        let with = |path: &[&str], value: Value| {
            let mut body = basket();
            let mut at = &mut body;
            for key in &path[..path.len() - 1] {
                at = match key.parse::<usize>() {
                    Ok(i) => &mut at[i],
                    Err(_) => &mut at[*key],
                };
            }
            at[path[path.len() - 1]] = value;
            body
        };
        for (body, param, why) in [
            (with(&["line_items"], json!([])), "line_items", "no lines"),
            (with(&["line_items", "0", "amount"], json!("4.505")), "line_items[0].amount", "more decimals than USD has"),
            (with(&["line_items", "1", "amount"], json!("-3.25")), "line_items[1].amount", "negative"),
            (with(&["line_items", "0", "amount"], json!("0")), "line_items[0].amount", "zero"),
            (with(&["line_items", "0", "amount"], json!("4,50")), "line_items[0].amount", "not a decimal"),
            (with(&["line_items", "0", "quantity"], json!(0)), "line_items[0].quantity", "no units"),
            (with(&["line_items", "0", "description"], json!(" ")), "line_items[0].description", "blank"),
            (with(&["tax"], json!("-1")), "tax", "negative tax"),
            (with(&["total"], json!("13.47")), "total", "a cent short"),
            (with(&["total"], json!(13.49)), "total", "a cent over"),
            (with(&["tax"], json!("0")), "total", "the tax left out of the total"),
            (with(&["currency"], json!("xyz")), "currency", "unknown currency"),
        ] {
            let (status, error) = display(&app, &token, &reader, body).await;
            assert_eq!((status, error["error"]["param"].as_str()), (400, Some(param)), "{why}: {error}");
        }
        assert_eq!(app.stripe_calls().await.len(), calls, "no Stripe call");
        assert_eq!(screen(&app, &reader).await, json!({"screen": "idle"}));
        // A zero tax is fine when the total is the lines alone.
        let mut body = with(&["tax"], json!("0.00"));
        body["total"] = json!("12.25");
        let (status, shown) = display(&app, &token, &reader, body).await;
        assert_eq!(status, 200, "{shown}");
        assert_eq!(screen(&app, &reader).await["cart"]["tax"], 0);
    }

    async fn a_reader_processing_a_payment_is_busy(app) {
        let (token, reader) = till(&app).await;
        let (status, intent) = app.post("/v1/payment/intent", &token, json!({
            "external_account_id": "acme", "amount": "13.48", "payment_method_types": "card_present",
            "capture_method": "manual", "external_transaction_id": "t-busy"})).await;
        assert_eq!(status, 200, "{intent}");
        let (status, processing) = app.post(&format!("/v1/terminal/readers/{reader}/process"), &token,
            json!({"external_account_id": "acme", "payment_id": intent["id"]})).await;
        assert_eq!(status, 200, "{processing}");
        let (status, error) = display(&app, &token, &reader, basket()).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("reader_busy")), "{error}");
        assert_eq!(screen(&app, &reader).await["screen"], "collect_payment_method");
    }

    async fn another_accounts_reader_is_404_and_the_terminal_scope_is_required(app) {
        let (_, reader) = till(&app).await;
        let other = app.merchant("other", "usd").await;
        let mut body = basket();
        body["external_account_id"] = json!("other");
        let (status, error) = display(&app, &other, &reader, body).await;
        assert_eq!(status, 404, "{error}");
        let (status, error) = display(&app, &other, &reader, basket()).await;
        assert_eq!(status, 403, "acme's account with other's token: {error}");
        let payments_only = app.token(&["acme"], "payments:read payments:write");
        let (status, error) = display(&app, &payments_only, &reader, basket()).await;
        assert_eq!(status, 403, "{error}");
        assert_eq!(screen(&app, &reader).await, json!({"screen": "idle"}));
    }
}
