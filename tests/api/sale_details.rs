//! What a receipt says about the sale (issue 18): line items and tax given with the intent
//! (checked exactly against its amount, shown on the payment and printed on the receipt),
//! `receipt_email` on the intent and by `POST /v1/payment/{id}`, the merchant's address from the
//! account, escaping and the 42-column width of merchant-supplied text, and the cart a reader
//! shows echoed in our reader answer.

use crate::both_backends;
use crate::support::app::TestApp;
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";

/// A 120-character description: wider than a receipt line.
fn long_description() -> String {
    "Seasonal tasting menu with paired wines for two, served at the chef's table, bread and olive oil, sparkling water included"
        .to_string()
}

/// Two lattes at 4.50, a long tasting menu at 80.00, a "<script>" & cake at 3.25, tax 7.05:
/// 99.30.
fn sale(tx: &str) -> Value {
    json!({
        "external_account_id": "acme",
        "amount": "99.30",
        "external_transaction_id": tx,
        "line_items": [
            {"description": "Latte", "amount": "4.50", "quantity": 2},
            {"description": long_description(), "amount": 80, "quantity": 1},
            {"description": "<script>alert(1)</script> & cake", "amount": "3.25", "quantity": 1},
        ],
        "tax": "7.05",
        "receipt_email": "jane.doe+till@example.com",
    })
}

async fn receipt_as(app: &TestApp, token: &str, id: &str, format: &str) -> String {
    let url = app.url(&format!(
        "/v1/payment/{id}/receipt?external_account_id=acme&format={format}"
    ));
    let answer = app.exchange(app.client.get(url).bearer_auth(token)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.text
}

both_backends! {
    async fn line_items_tax_and_address_are_shown_and_printed(app) {
        let token = app.merchant("acme", "usd").await;
        let (status, account) = app.put_account("acme", json!({
            "display_name": "Smith & Sons <Deli>",
            "address": {"line1": "1 Main St & Co", "city": "Springfield", "state": "IL", "postal_code": "62701", "country": "us"},
        })).await;
        assert_eq!(status, 200, "{account}");
        assert_eq!(account["address"], json!({"line1": "1 Main St & Co", "line2": null, "city": "Springfield", "state": "IL", "postal_code": "62701", "country": "US"}));

        let (status, created) = app.post("/v1/payment/intent", &token, sale("deli-1")).await;
        assert_eq!(status, 200, "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        assert_eq!((created["tax"].as_str(), created["receipt_email"].as_str()), (Some("7.05"), Some("jane.doe+till@example.com")));
        // Stripe's intent carries the receipt e-mail.
        let pi = app.sim_get(&format!("/v1/payment_intents/{id}")).await;
        assert_eq!(pi["receipt_email"], "jane.doe+till@example.com", "{pi}");

        // The same request again is the same payment; other lines under the same id are a conflict.
        let (status, again) = app.post("/v1/payment/intent", &token, sale("deli-1")).await;
        assert_eq!((status, again["id"].as_str()), (200, Some(id.as_str())), "{again}");
        let mut other = sale("deli-1");
        other["line_items"][0]["quantity"] = json!(1);
        other["line_items"][1]["amount"] = json!("84.50");
        let (status, error) = app.post("/v1/payment/intent", &token, other).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("idempotency_conflict")), "{error}");

        let (status, shown) = app.get(&format!("/v1/payment/{id}?external_account_id=acme"), &token).await;
        assert_eq!(status, 200, "{shown}");
        assert_eq!(shown["line_items"], json!([
            {"description": "Latte", "unit_amount": "4.50", "quantity": 2, "amount": "9.00"},
            {"description": long_description(), "unit_amount": "80.00", "quantity": 1, "amount": "80.00"},
            {"description": "<script>alert(1)</script> & cake", "unit_amount": "3.25", "quantity": 1, "amount": "3.25"},
        ]));
        assert_eq!(shown["tax"], "7.05");
        // The list does not carry the lines.
        let (_, list) = app.get("/v1/payments?external_account_id=acme", &token).await;
        assert!(list["data"][0].get("line_items").is_none(), "{list}");

        let reader = app.register_reader().await;
        let (status, tapped) = app.tap_card(&reader, &id, VISA).await;
        assert_eq!(status, 200, "{tapped}");
        let (status, r) = app.get(&format!("/v1/payment/{id}/receipt?external_account_id=acme"), &token).await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["merchant"]["address"]["country"], "US");
        assert_eq!(r["line_items"], shown["line_items"]);
        assert_eq!((r["tax"].as_str(), r["amount"].as_str()), (Some("7.05"), Some("99.30")));

        let text = receipt_as(&app, &token, &id, "text").await;
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.iter().all(|l| l.chars().count() <= 42), "wider than 42:\n{text}");
        assert_eq!(lines[0].trim(), "Smith & Sons <Deli>", "{text}");
        assert_eq!(lines[1].trim(), "1 Main St & Co", "{text}");
        assert_eq!(lines[2].trim(), "Springfield, IL 62701", "{text}");
        assert_eq!(lines[3].trim(), "US", "{text}");
        assert_eq!(*lines.iter().find(|l| l.starts_with("2 x Latte")).unwrap(), format!("2 x Latte{}9.00", " ".repeat(42 - 9 - 4)));
        assert!(lines.iter().any(|l| l.starts_with("Tax") && l.ends_with(" 7.05")), "{text}");
        assert!(lines.iter().any(|l| l.starts_with("Total") && l.ends_with("USD 99.30")), "{text}");
        // The long description is wrapped over lines, its words all kept, its amount right-aligned.
        let start = lines.iter().position(|l| l.starts_with("Seasonal")).unwrap();
        let end = lines.iter().position(|l| l.trim() == "80.00").unwrap();
        assert!(end > start + 1, "{text}");
        assert_eq!(lines[start..end].join(" ").split_whitespace().collect::<Vec<_>>(), long_description().split_whitespace().collect::<Vec<_>>());
        assert_eq!(lines[end], format!("{}80.00", " ".repeat(37)));
        assert!(text.contains("<script>alert(1)</script> & cake"), "plain text keeps it as written:\n{text}");

        let page = receipt_as(&app, &token, &id, "html").await;
        assert!(page.contains("<h1>Smith &amp; Sons &lt;Deli&gt;</h1>"), "{page}");
        assert!(page.contains("<p class=\"address\">1 Main St &amp; Co<br>Springfield, IL 62701<br>US</p>"), "{page}");
        assert!(page.contains("<th scope=\"row\">2 x Latte</th><td>9.00</td>"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; cake"), "{page}");
        assert!(page.contains("<th scope=\"row\">Tax</th><td>7.05</td>"), "{page}");
        assert!(!page.contains("<script") && !page.contains("<Deli>") && !page.contains("& cake"), "{page}");

        // An address with a second line and no state; null clears it and receipts print none.
        let (status, account) = app.put_account("acme", json!({"address": {"line1": "Hauptstrasse 5", "line2": "Hinterhaus", "city": "Berlin", "postal_code": "10115", "country": "DE"}})).await;
        assert_eq!(status, 200, "{account}");
        let text = receipt_as(&app, &token, &id, "text").await;
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        assert_eq!(lines[1..5], ["Hauptstrasse 5", "Hinterhaus", "10115 Berlin", "DE"], "{text}");
        let (status, account) = app.put_account("acme", json!({"address": null})).await;
        assert_eq!((status, account["address"].is_null()), (200, true), "{account}");
        let (_, r) = app.get(&format!("/v1/payment/{id}/receipt?external_account_id=acme"), &token).await;
        assert!(r["merchant"]["address"].is_null(), "{r}");

        // Without line items: none shown, no tax.
        let (status, plain) = app.post("/v1/payment/intent", &token, json!({"external_account_id": "acme", "amount": "5.00", "external_transaction_id": "plain"})).await;
        assert_eq!(status, 200, "{plain}");
        assert!(plain["tax"].is_null() && plain["receipt_email"].is_null(), "{plain}");
        let (_, shown) = app.get(&format!("/v1/payment/{}?external_account_id=acme", plain["id"].as_str().unwrap()), &token).await;
        assert_eq!(shown["line_items"], json!([]));
    }

    async fn bad_lines_tax_e_mails_and_addresses_are_400s_without_stripe(app) {
        let token = app.merchant("acme", "usd").await;
        app.clear_stripe_calls().await;
        let refused = |body: Value, param: &'static str| {
            let (app, token) = (&app, &token);
            async move {
                let (status, error) = app.post("/v1/payment/intent", token, body).await;
                assert_eq!((status, error["error"]["param"].as_str()), (400, Some(param)), "{error}");
                error["error"]["message"].as_str().unwrap().to_string()
            }
        };
        let base = || json!({"external_account_id": "acme", "amount": "10.80", "external_transaction_id": "bad",
            "line_items": [{"description": "Latte", "amount": "4.50", "quantity": 2}], "tax": "1.80"});
        // One cent off: the message says what the lines make.
        let mut b = base();
        b["amount"] = json!("10.81");
        let message = refused(b, "line_items").await;
        assert!(message.contains("10.80") && message.contains("10.81"), "{message}");
        let mut b = base();
        b.as_object_mut().unwrap().remove("line_items");
        refused(b, "tax").await;
        let mut b = base();
        b["tax"] = json!("-1");
        refused(b, "tax").await;
        let mut b = base();
        b["line_items"][0]["quantity"] = json!(0);
        refused(b, "line_items[0].quantity").await;
        let mut b = base();
        b["line_items"][0]["amount"] = json!("4.505");
        refused(b, "line_items[0].amount").await;
        let mut b = base();
        b["line_items"][0]["description"] = json!("x".repeat(501));
        refused(b, "line_items[0].description").await;
        let mut b = base();
        b["line_items"][0]["description"] = json!("tab\there");
        refused(b, "line_items[0].description").await;
        let mut b = base();
        b["line_items"] = json!(vec![json!({"description": "x", "amount": "0.10", "quantity": 1}); 101]);
        refused(b, "line_items").await;
        let mut b = base();
        b["line_items"][0]["colour"] = json!("red");
        let (status, _) = app.post("/v1/payment/intent", &token, b).await;
        assert_eq!(status, 400);
        // Yen have no decimals: checked once the account's currency is known.
        let (status, error) = app.post("/v1/payment/intent", &token, json!({"external_account_id": "acme", "amount": "1000", "currency": "jpy", "external_transaction_id": "yen",
            "line_items": [{"description": "Onigiri", "amount": "333.5", "quantity": 2}], "tax": "333"})).await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("line_items[0].amount")), "{error}");
        for email in ["jane", "jane@", "@example.com", "jane@example", "jane doe@example.com", "jane@@example.com", "jane@exa_mple.com", "jane..doe@example.com", "jane@example.123"] {
            let mut b = base();
            b["receipt_email"] = json!(email);
            refused(b, "receipt_email").await;
        }
        assert!(app.stripe_calls().await.is_empty(), "no Stripe call for bad input");

        for (address, param) in [
            (json!({"line1": "1 Main St", "city": "Springfield", "postal_code": "62701", "country": "XX"}), "address.country"),
            (json!({"line1": "1 Main St", "city": "Springfield", "postal_code": "62701", "country": "USA"}), "address.country"),
            (json!({"line1": " ", "city": "Springfield", "postal_code": "62701", "country": "US"}), "address.line1"),
            (json!({"line1": "1 Main St", "city": "Spring\nfield", "postal_code": "62701", "country": "US"}), "address.city"),
            (json!({"line1": "1 Main St", "city": "Springfield", "postal_code": "6".repeat(21), "country": "US"}), "address.postal_code"),
        ] {
            let (status, error) = app.put_account("acme", json!({"address": address})).await;
            assert_eq!((status, error["error"]["param"].as_str()), (400, Some(param)), "{error}");
        }
        let (status, _) = app.put_account("acme", json!({"address": {"line1": "1 Main St", "postal_code": "62701", "country": "US"}})).await;
        assert_eq!(status, 400, "city is required");
    }

    async fn receipt_email_and_details_change_later(app) {
        let token = app.merchant("acme", "usd").await;
        let (status, created) = app.post("/v1/payment/intent", &token, json!({"external_account_id": "acme", "amount": "12.00",
            "external_transaction_id": "later", "description": "Table 4", "metadata": {"table": "4", "server": "ana"}})).await;
        assert_eq!(status, 200, "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        let reader = app.register_reader().await;
        let (status, _) = app.tap_card(&reader, &id, VISA).await;
        assert_eq!(status, 200);
        let update = |body: Value| {
            let (app, token, id) = (&app, &token, &id);
            async move { app.post(&format!("/v1/payment/{id}"), token, body).await }
        };

        // After the authorisation, with an Idempotency-Key: the answer is replayed for a retry.
        let body = json!({"external_account_id": "acme", "receipt_email": "guest@example.org", "metadata": {"server": "", "tip_line": "yes"}});
        let send = || app.client.post(app.url(&format!("/v1/payment/{id}"))).bearer_auth(&token).header("Idempotency-Key", "upd-1").json(&body);
        let first = app.exchange(send()).await;
        assert_eq!(first.status, 200, "{}", first.text);
        let p = first.json();
        assert_eq!(p["receipt_email"], "guest@example.org", "{p}");
        assert_eq!(p["metadata"], json!({"table": "4", "tip_line": "yes"}), "merged, the emptied key removed");
        assert_eq!(p["description"], "Table 4");
        let updates_at_stripe = |calls: Vec<(String, String)>| calls.iter().filter(|(m, p)| m == "POST" && p == &format!("/v1/payment_intents/{id}")).count();
        let before = updates_at_stripe(app.stripe_calls().await);
        let replay = app.exchange(send()).await;
        assert_eq!((replay.status, replay.json()), (200, p.clone()));
        assert_eq!(updates_at_stripe(app.stripe_calls().await), before, "a replay does not call Stripe again");
        let pi = app.sim_get(&format!("/v1/payment_intents/{id}")).await;
        assert_eq!(pi["receipt_email"], "guest@example.org", "{pi}");
        assert_eq!((pi["metadata"]["tip_line"].as_str(), pi["metadata"].get("server")), (Some("yes"), None), "{pi}");

        // After the capture too; null clears the e-mail and the description.
        let (status, _) = app.post("/v1/payment/capture", &token, json!({"payment_id": id, "external_account_id": "acme"})).await;
        assert_eq!(status, 200);
        let (status, p) = update(json!({"external_account_id": "acme", "receipt_email": null, "description": null})).await;
        assert_eq!(status, 200, "{p}");
        assert!(p["receipt_email"].is_null() && p["description"].is_null(), "{p}");
        assert_eq!(p["status"], "succeeded");
        let pi = app.sim_get(&format!("/v1/payment_intents/{id}")).await;
        assert!(pi["receipt_email"].is_null() && pi["description"].is_null(), "{pi}");
        let (status, p) = update(json!({"external_account_id": "acme", "receipt_email": "guest@example.org"})).await;
        assert_eq!(status, 200, "{p}");
        let (_, shown) = app.get(&format!("/v1/payment/{id}?external_account_id=acme"), &token).await;
        assert_eq!(shown["receipt_email"], "guest@example.org");
        let actions: Vec<&str> = shown["history"].as_array().unwrap().iter().map(|h| h["action"].as_str().unwrap()).collect();
        assert_eq!(actions.iter().filter(|a| **a == "update").count(), 3, "{actions:?}");
        assert_eq!(shown["amount_captured"], "12.00", "nothing else moved");

        // Refusals: nothing to change, a bad address, reserved metadata, another account's payment.
        for (body, param) in [
            (json!({"external_account_id": "acme"}), "receipt_email"),
            (json!({"external_account_id": "acme", "receipt_email": "nobody"}), "receipt_email"),
            (json!({"external_account_id": "acme", "description": ""}), "description"),
            (json!({"external_account_id": "acme", "metadata": {"external_transaction_id": "x"}}), "metadata"),
        ] {
            let (status, error) = update(body).await;
            assert_eq!((status, error["error"]["param"].as_str()), (400, Some(param)), "{error}");
        }
        let many: serde_json::Map<String, Value> = (0..19).map(|i| (format!("k{i}"), json!("v"))).collect();
        let (status, error) = update(json!({"external_account_id": "acme", "metadata": many})).await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("metadata")), "20 keys at most after the merge: {error}");
        let other = app.merchant("other", "usd").await;
        let (status, error) = app.post(&format!("/v1/payment/{id}"), &other, json!({"external_account_id": "other", "receipt_email": "x@example.com"})).await;
        assert_eq!((status, error["error"]["code"].as_str()), (404, Some("resource_missing")), "{error}");
        let (status, _) = app.post(&format!("/v1/payment/{id}"), &other, json!({"external_account_id": "acme", "receipt_email": "x@example.com"})).await;
        assert_eq!(status, 403);
        let (status, error) = app.post("/v1/payment/pi_nope", &token, json!({"external_account_id": "acme", "receipt_email": "x@example.com"})).await;
        assert_eq!(status, 404, "{error}");
        let (status, error) = app.post("/v1/payment/ch_1", &token, json!({"external_account_id": "acme", "receipt_email": "x@example.com"})).await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("payment_id")), "{error}");
    }

    async fn the_reader_answer_shows_the_cart_on_screen(app) {
        let token = app.merchant("acme", "usd").await;
        let (status, reader) = app.post("/v1/terminal/readers", &token, json!({"external_account_id": "acme", "registration_code": "simulated-wpe"})).await;
        assert_eq!(status, 200, "{reader}");
        assert!(reader["cart"].is_null(), "{reader}");
        let id = reader["id"].as_str().unwrap().to_string();
        let (status, shown) = app.post(&format!("/v1/terminal/readers/{id}/display"), &token, json!({
            "external_account_id": "acme", "currency": "usd",
            "line_items": [{"description": "Flat white", "amount": "4.50", "quantity": 2}, {"description": "Cake", "amount": "3.25", "quantity": 1}],
            "tax": "1.23", "total": "13.48",
        })).await;
        assert_eq!(status, 200, "{shown}");
        let cart = json!({"currency": "usd", "line_items": [
            {"description": "Flat white", "amount": "4.50", "quantity": 2},
            {"description": "Cake", "amount": "3.25", "quantity": 1},
        ], "tax": "1.23", "total": "13.48"});
        assert_eq!(shown["cart"], cart);
        let (status, read) = app.get(&format!("/v1/terminal/readers/{id}?external_account_id=acme"), &token).await;
        assert_eq!((status, &read["cart"]), (200, &cart), "{read}");
        let (status, cleared) = app.post(&format!("/v1/terminal/readers/{id}/cancel"), &token, json!({"external_account_id": "acme"})).await;
        assert_eq!(status, 200, "{cleared}");
        assert!(cleared["cart"].is_null(), "{cleared}");
        let (_, read) = app.get(&format!("/v1/terminal/readers/{id}?external_account_id=acme"), &token).await;
        assert!(read["cart"].is_null(), "{read}");
        // A payment replaces the cart on the screen.
        let (status, _) = app.post(&format!("/v1/terminal/readers/{id}/display"), &token, json!({
            "external_account_id": "acme", "currency": "jpy", "line_items": [{"description": "Onigiri", "amount": 180, "quantity": 3}], "total": 540,
        })).await;
        assert_eq!(status, 200);
        let (_, read) = app.get(&format!("/v1/terminal/readers/{id}?external_account_id=acme"), &token).await;
        assert_eq!(read["cart"]["total"], "540");
        assert!(read["cart"]["tax"].is_null());
        let (_, created) = app.post("/v1/payment/intent", &token, json!({"external_account_id": "acme", "amount": "5.40", "external_transaction_id": "after-cart"})).await;
        let (status, processing) = app.post(&format!("/v1/terminal/readers/{id}/process"), &token, json!({"external_account_id": "acme", "payment_id": created["id"]})).await;
        assert_eq!(status, 200, "{processing}");
        assert!(processing["cart"].is_null(), "{processing}");
    }
}
