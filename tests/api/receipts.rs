//! Receipts (issue 18): `GET /v1/payment/{id}/receipt` as JSON, 42-column text and HTML, for
//! several test cards, Interac, a tip taken on the reader and a partial refund; and its refusals.

use crate::both_backends;
use crate::support::app::{Exchange, TestApp};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";
/// Apple Pay on a phone: contactless, no cardholder name.
const WALLET: &str = "4111111111111111";
/// Chip and offline PIN; the chip gives the name CUSTOMER/VALUED.
const PIN_CARD: &str = "4001007020000002";
/// Chip and signature.
const SIGNATURE_CARD: &str = "5555555555554444";
const INTERAC: &str = "4506445006931933";

async fn intent(app: &TestApp, token: &str, body: Value) -> String {
    let (status, intent) = app.post("/v1/payment/intent", token, body).await;
    assert_eq!(status, 200, "{intent}");
    intent["id"].as_str().unwrap().to_string()
}

/// A USD payment of `amount` authorised with `card` at `reader`.
async fn authorised(
    app: &TestApp,
    token: &str,
    reader: &str,
    tx: &str,
    amount: &str,
    card: &str,
) -> String {
    let id = intent(
        app,
        token,
        json!({"external_account_id": "acme", "amount": amount, "external_transaction_id": tx}),
    )
    .await;
    let (status, tapped) = app.tap_card(reader, &id, card).await;
    assert_eq!(status, 200, "{tapped}");
    id
}

async fn capture(app: &TestApp, token: &str, id: &str) {
    let (status, body) = app
        .post(
            "/v1/payment/capture",
            token,
            json!({"payment_id": id, "external_account_id": "acme"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn receipt(app: &TestApp, token: &str, id: &str) -> Value {
    let (status, body) = app
        .get(
            &format!("/v1/payment/{id}/receipt?external_account_id=acme"),
            token,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The receipt in `format`, as served.
async fn formatted(app: &TestApp, token: &str, id: &str, format: &str) -> Exchange {
    let url = app.url(&format!(
        "/v1/payment/{id}/receipt?external_account_id=acme&format={format}"
    ));
    let answer = app.exchange(app.client.get(url).bearer_auth(token)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer
}

/// The EMV entry for Stripe's `field`: (label, value, required).
fn emv<'a>(receipt: &'a Value, field: &str) -> Option<(&'a str, &'a str, bool)> {
    receipt["emv"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == field)
        .map(|e| {
            (
                e["label"].as_str().unwrap(),
                e["value"].as_str().unwrap(),
                e["required"].as_bool().unwrap(),
            )
        })
}

/// A reader at a location whose Terminal configuration offers tips in USD.
async fn tipping_reader(app: &TestApp) -> String {
    let (status, configuration) = app
        .sim_post(
            "/v1/terminal/configurations",
            &[
                ("tipping[usd][percentages][]", "15"),
                ("tipping[usd][percentages][]", "20"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{configuration}");
    let (status, location) = app
        .sim_post(
            "/v1/terminal/locations",
            &[
                ("display_name", "Bar"),
                ("address[line1]", "1 Main St"),
                ("address[country]", "US"),
                (
                    "configuration_overrides",
                    configuration["id"].as_str().unwrap(),
                ),
            ],
        )
        .await;
    assert_eq!(status, 200, "{location}");
    let (status, reader) = app
        .sim_post(
            "/v1/terminal/readers",
            &[
                ("registration_code", "simulated-wpe"),
                ("location", location["id"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(status, 200, "{reader}");
    reader["id"].as_str().unwrap().to_string()
}

both_backends! {
    async fn chip_and_contactless_receipts_carry_the_card_and_emv_data(app) {
        let token = app.merchant("acme", "usd").await;
        let (status, account) = app.put_account("acme", json!({"display_name": "Acme Coffee"})).await;
        assert_eq!(status, 200, "{account}");
        let reader = app.register_reader().await;

        let visa = authorised(&app, &token, &reader, "visa-sale", "12.99", VISA).await;
        capture(&app, &token, &visa).await;
        let r = receipt(&app, &token, &visa).await;
        assert_eq!(r["payment_id"], visa.as_str());
        assert_eq!(r["merchant"], json!({"name": "Acme Coffee", "address": null}));
        assert_eq!((r["status"].as_str(), r["currency"].as_str()), (Some("succeeded"), Some("usd")));
        assert_eq!((r["amount"].as_str(), r["subtotal"].as_str(), r["amount_captured"].as_str()), (Some("12.99"), Some("12.99"), Some("12.99")));
        assert!(r["tip"].is_null(), "no tip taken: {r}");
        assert_eq!((r["amount_refunded"].as_str(), r["refunds"].as_array().map(Vec::len)), (Some("0.00"), Some(0)));
        assert_eq!(r["card"], json!({"payment_method_type": "card_present", "brand": "visa", "last4": "4242", "funding": "credit", "read_method": "contact_emv", "cardholder_name": null}));
        // Stripe's required EMV fields, under the names Stripe's receipt page prints.
        assert_eq!(emv(&r, "application_preferred_name"), Some(("Application name", "VISA CREDIT", true)));
        assert_eq!(emv(&r, "dedicated_file_name"), Some(("AID", "A0000000031010", true)));
        assert_eq!(emv(&r, "account_type"), Some(("Account Type", "credit", true)));
        let (label, arc, required) = emv(&r, "authorization_response_code").unwrap();
        assert_eq!((label, arc, required), ("ARC", "3030", false));
        for field in ["application_cryptogram", "terminal_verification_results", "transaction_status_information", "authorization_code"] {
            assert!(emv(&r, field).is_some(), "{field} missing: {r}");
        }
        // Stripe's receipt page for the charge is passed on (the simulator's own in simulator mode).
        let pi = app.sim_get(&format!("/v1/payment_intents/{visa}?expand[]=latest_charge")).await;
        assert_eq!(r["receipt_url"], pi["latest_charge"]["receipt_url"]);
        assert!(r["receipt_url"].as_str().unwrap().contains("/_sim/receipts/ch_"), "{r}");

        // A phone tapped: contactless, and no name from the chip.
        let tap = authorised(&app, &token, &reader, "wallet-sale", "3.50", WALLET).await;
        let r = receipt(&app, &token, &tap).await;
        assert_eq!((r["status"].as_str(), r["amount_captured"].as_str()), (Some("requires_capture"), Some("0.00")));
        assert_eq!(r["card"]["read_method"], "contactless_emv");
        assert!(r["card"]["cardholder_name"].is_null());
        assert_eq!(emv(&r, "transaction_status_information").map(|e| e.1), Some("0000"));
    }

    async fn a_pin_card_shows_its_verification_and_name(app) {
        let token = app.merchant("acme", "usd").await;
        let reader = app.register_reader().await;
        let id = authorised(&app, &token, &reader, "pin-sale", "40.00", PIN_CARD).await;
        capture(&app, &token, &id).await;
        let r = receipt(&app, &token, &id).await;
        assert_eq!(r["card"]["cardholder_name"], "CUSTOMER/VALUED");
        assert_eq!(emv(&r, "cardholder_verification_method"), Some(("CVM", "offline_pin", false)));
        assert_eq!(emv(&r, "transaction_status_information").map(|e| e.1), Some("E800"));
        assert!(r["merchant"]["name"].is_null(), "no display name set: {r}");
        let text = formatted(&app, &token, &id, "text").await.text;
        assert!(text.contains("Verified by PIN"), "{text}");
        assert!(text.contains("CUSTOMER/VALUED"), "{text}");
        assert!(!text.contains("Cardholder signature"), "{text}");

        let signed = authorised(&app, &token, &reader, "signed-sale", "41.00", SIGNATURE_CARD).await;
        let text = formatted(&app, &token, &signed, "text").await.text;
        assert!(text.contains("Cardholder signature") && text.contains("X_____"), "{text}");
        assert!(!text.contains("Verified by PIN"), "{text}");
    }

    async fn interac_in_cad(app) {
        let token = app.merchant("acme", "cad").await;
        let reader = app.register_reader().await;
        let id = intent(&app, &token, json!({"external_account_id": "acme", "amount": "25.10", "currency": "cad",
            "payment_method_types": ["card_present", "interac_present"], "external_transaction_id": "interac-sale"})).await;
        let (status, _) = app.sim_post(&format!("/v1/terminal/readers/{reader}/process_payment_intent"), &[("payment_intent", id.as_str())]).await;
        assert_eq!(status, 200);
        let (status, tapped) = app
            .sim_post(&format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
                &[("type", "interac_present"), ("interac_present[number]", INTERAC)])
            .await;
        assert_eq!(status, 200, "{tapped}");
        let r = receipt(&app, &token, &id).await;
        assert_eq!((r["currency"].as_str(), r["amount"].as_str()), (Some("cad"), Some("25.10")));
        assert_eq!(r["card"]["payment_method_type"], "interac_present");
        assert_eq!((r["card"]["brand"].as_str(), r["card"]["last4"].as_str()), (Some("interac"), Some("1933")));
        assert_eq!(emv(&r, "account_type").map(|e| e.1), Some("checking"));
        assert_eq!(emv(&r, "application_preferred_name").map(|e| e.1), Some("Interac"));
        assert_eq!(emv(&r, "cardholder_verification_method").map(|e| e.1), Some("online_pin"));
        let text = formatted(&app, &token, &id, "text").await.text;
        assert!(text.lines().any(|l| l.starts_with("Total") && l.ends_with("CAD 25.10")), "{text}");
        // What an Interac receipt must print: the account type, the AID and application name, and
        // the PIN verification.
        for (label, value) in [("Account Type", "checking"), ("Application name", "Interac"), ("Card", "INTERAC **** 1933")] {
            assert!(text.lines().any(|l| l.starts_with(label) && l.ends_with(value)), "{label}: {text}");
        }
        assert!(text.lines().any(|l| l.starts_with("AID ")), "{text}");
        assert!(text.contains("Verified by PIN"), "{text}");
    }

    async fn a_tip_from_the_reader_and_a_partial_refund(app) {
        let token = app.merchant("acme", "usd").await;
        let reader = tipping_reader(&app).await;
        let id = intent(&app, &token, json!({"external_account_id": "acme", "amount": "12.99", "external_transaction_id": "tipped"})).await;
        let (status, _) = app.sim_post(&format!("/v1/terminal/readers/{reader}/process_payment_intent"), &[("payment_intent", id.as_str())]).await;
        assert_eq!(status, 200);
        // The customer picks 15% (1.95) on the tipping screen.
        let (status, tapped) = app
            .sim_post(&format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
                &[("type", "card_present"), ("card_present[number]", VISA), ("amount_tip", "195")])
            .await;
        assert_eq!(status, 200, "{tapped}");
        let r = receipt(&app, &token, &id).await;
        assert_eq!((r["amount"].as_str(), r["subtotal"].as_str(), r["tip"].as_str()), (Some("14.94"), Some("12.99"), Some("1.95")), "{r}");
        let text = formatted(&app, &token, &id, "text").await.text;
        let line = |label: &str| text.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no {label} line: {text}")).to_string();
        assert_eq!(line("Subtotal"), format!("Subtotal{}12.99", " ".repeat(42 - 8 - 5)));
        assert_eq!(line("Tip"), format!("Tip{}1.95", " ".repeat(42 - 3 - 4)));
        assert_eq!(line("Total"), format!("Total{}USD 14.94", " ".repeat(42 - 5 - 9)));

        // A sale without a tip, captured and partly refunded.
        let sale = intent(&app, &token, json!({"external_account_id": "acme", "amount": "20.00", "external_transaction_id": "refunded"})).await;
        let (status, tapped) = app.tap_card(&reader, &sale, VISA).await;
        assert_eq!(status, 200, "{tapped}");
        capture(&app, &token, &sale).await;
        let (status, refunded) = app.post("/v1/payment/refund", &token, json!({"payment_id": sale, "external_account_id": "acme", "amount": "5.25"})).await;
        assert_eq!(status, 200, "{refunded}");
        let r = receipt(&app, &token, &sale).await;
        assert_eq!((r["amount_captured"].as_str(), r["amount_refunded"].as_str()), (Some("20.00"), Some("5.25")));
        let refunds = r["refunds"].as_array().unwrap();
        assert_eq!(refunds.len(), 1, "{r}");
        assert_eq!((refunds[0]["amount"].as_str(), refunds[0]["status"].as_str()), (Some("5.25"), Some("succeeded")));
        assert!(refunds[0]["id"].as_str().unwrap().starts_with("re_"));
        let text = formatted(&app, &token, &sale, "text").await.text;
        assert!(text.lines().any(|l| l.starts_with("Refund ") && l.ends_with(" -5.25")), "{text}");
        assert!(text.lines().any(|l| l.starts_with("Refunded") && l.ends_with(" 5.25")), "{text}");
    }

    async fn text_and_html_escape_merchant_text_and_fit_the_paper(app) {
        let token = app.merchant("acme", "usd").await;
        let name = "Acme <&> Café \"Le Coin\" with a name much too long for one line";
        let (status, _) = app.put_account("acme", json!({"display_name": name})).await;
        assert_eq!(status, 200);
        let reader = app.register_reader().await;
        let id = intent(&app, &token, json!({"external_account_id": "acme", "amount": "7.00", "external_transaction_id": "tx-<b>&",
            "description": "<script>alert('x')</script>"})).await;
        let (status, _) = app.tap_card(&reader, &id, VISA).await;
        assert_eq!(status, 200);

        let text = formatted(&app, &token, &id, "text").await;
        assert_eq!(text.header("content-type"), "text/plain; charset=utf-8");
        let lines: Vec<&str> = text.text.lines().collect();
        assert!(lines.iter().all(|l| l.chars().count() <= 42), "wider than 42:\n{}", text.text);
        assert!(lines.iter().any(|l| l.chars().count() == 42), "{}", text.text);
        // The name, centred over as many lines as it needs; plain text keeps it as written.
        assert!(lines[0].trim_start().starts_with("Acme <&> Café"), "{}", text.text);
        assert!(text.text.contains("<script>alert('x')</script>"), "{}", text.text);
        assert!(text.text.contains("VISA **** 4242"), "{}", text.text);
        assert!(lines.iter().any(|l| l.starts_with("Type") && l.ends_with("Authorisation")), "{}", text.text);

        let html = formatted(&app, &token, &id, "html").await;
        assert_eq!(html.header("content-type"), "text/html; charset=utf-8");
        assert!(html.header("content-security-policy").contains("default-src 'none'"));
        let page = &html.text;
        assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
        assert!(page.contains("<h1>Acme &lt;&amp;&gt; Café &quot;Le Coin&quot; with a name much too long for one line</h1>"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), "{page}");
        assert!(page.contains("tx-&lt;b&gt;&amp;"), "{page}");
        assert!(!page.contains("<script") && !page.contains("<&>") && !page.contains("<b>"), "{page}");
        assert!(page.contains("<th scope=\"row\">AID</th><td>A0000000031010</td>"), "{page}");
        assert!(page.contains("<th scope=\"row\">Total</th><td>USD 7.00</td>"), "{page}");
        assert!(page.contains("/_sim/receipts/ch_"), "the receipt_url link: {page}");

        // JSON is the default, and `format=json` says so.
        let json_answer = formatted(&app, &token, &id, "json").await;
        assert_eq!(json_answer.json()["merchant"]["name"], name);
    }

    async fn refusals(app) {
        let token = app.merchant("acme", "usd").await;
        let reader = app.register_reader().await;
        let open = intent(&app, &token, json!({"external_account_id": "acme", "amount": "9.00", "external_transaction_id": "not-yet"})).await;
        let (status, error) = app.get(&format!("/v1/payment/{open}/receipt?external_account_id=acme"), &token).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("receipt_unavailable")), "{error}");
        assert_eq!(error["error"]["payment_status"], "requires_payment_method");
        assert!(error["error"]["message"].as_str().unwrap().contains("authorised"), "{error}");

        // A declined card leaves no receipt either.
        app.tap_card(&reader, &open, "4000000000000002").await;
        let pi = app.sim_get(&format!("/v1/payment_intents/{open}?expand[]=latest_charge")).await;
        assert_eq!(pi["latest_charge"]["status"], "failed", "{pi}");
        let (status, error) = app.get(&format!("/v1/payment/{open}/receipt?external_account_id=acme"), &token).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("receipt_unavailable")), "{error}");

        let paid = authorised(&app, &token, &reader, "paid", "9.50", VISA).await;
        let (status, error) = app.get(&format!("/v1/payment/{paid}/receipt?external_account_id=acme&format=pdf"), &token).await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("format")), "{error}");
        assert!(error["error"]["message"].as_str().unwrap().contains("'format'"), "{error}");
        let (status, error) = app.get(&format!("/v1/payment/{paid}/receipt?external_account_id=acme&colour=red"), &token).await;
        assert_eq!(status, 400, "{error}");
        let (status, error) = app.get("/v1/payment/ch_123/receipt?external_account_id=acme", &token).await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("payment_id")), "{error}");

        // Another account's payment does not exist for it, and its token cannot ask for acme's.
        let other = app.merchant("other", "usd").await;
        let (status, error) = app.get(&format!("/v1/payment/{paid}/receipt?external_account_id=other"), &other).await;
        assert_eq!((status, error["error"]["code"].as_str()), (404, Some("resource_missing")), "{error}");
        let (status, _) = app.get(&format!("/v1/payment/{paid}/receipt?external_account_id=acme"), &other).await;
        assert_eq!(status, 403);
        // payments:read is the scope.
        let terminal_only = app.token(&["acme"], "terminal");
        let (status, _) = app.get(&format!("/v1/payment/{paid}/receipt?external_account_id=acme"), &terminal_only).await;
        assert_eq!(status, 403);
    }
}
