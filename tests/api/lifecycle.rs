//! The rest of the payment lifecycle and the Terminal endpoints (issue 6): cancel, refunds,
//! charging a saved card, listing, cards, connection tokens, locations and readers.

use crate::both_backends;
use crate::support::app::TestApp;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const VISA: &str = "4242424242424242";
const MASTERCARD: &str = "5555555555554444";
/// Succeeds at the reader; the card saved from it declines off-session.
const DECLINES_LATER: &str = "4000000000000341";

async fn intent(
    app: &TestApp,
    token: &str,
    account: &str,
    tx: &str,
    amount: &str,
    customer: Option<&str>,
) -> Value {
    let mut body =
        json!({"external_account_id": account, "amount": amount, "external_transaction_id": tx});
    if let Some(c) = customer {
        body["external_customer_id"] = json!(c);
    }
    let (status, intent) = app.post("/v1/payment/intent", token, body).await;
    assert_eq!(status, 200, "{intent}");
    intent
}

/// A captured card-present payment of `amount`; returns its id.
async fn captured(
    app: &TestApp,
    token: &str,
    reader: &str,
    tx: &str,
    amount: &str,
    customer: Option<&str>,
    card: &str,
) -> String {
    let id = intent(app, token, "acme", tx, amount, customer).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, tapped) = app.tap_card(reader, &id, card).await;
    assert_eq!(status, 200, "{tapped}");
    let (status, body) = app
        .post(
            "/v1/payment/capture",
            token,
            json!({"payment_id": id, "external_account_id": "acme"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    id
}

/// A card saved on `customer` from a card-present payment; returns the card.
async fn saved_card(app: &TestApp, token: &str, reader: &str, customer: &str, card: &str) -> Value {
    let id = captured(
        app,
        token,
        reader,
        &format!("save-{customer}-{card}"),
        "5.00",
        Some(customer),
        card,
    )
    .await;
    let (status, saved) = app
        .post("/v1/customer/card", token, json!({"payment_id": id, "external_customer_id": customer, "external_account_id": "acme"}))
        .await;
    assert_eq!(status, 200, "{saved}");
    saved
}

fn charge_body(customer: &str, card_id: &str, tx: &str, amount: &str) -> Value {
    json!({"external_account_id": "acme", "external_customer_id": customer, "card_id": card_id,
           "amount": amount, "external_transaction_id": tx})
}

both_backends! {
    async fn concurrent_identical_intents_make_one_payment(app) {
        // Eight tills' retries of one sale at once: the losers of the insert race (ON CONFLICT)
        // carry on with the winner's row. One payment, one history entry of its creation.
        let token = app.merchant("acme", "usd").await;
        let body = json!({"external_account_id": "acme", "amount": "7.00", "external_transaction_id": "twin",
            "external_customer_id": "zoe"});
        let answers = futures_util::future::join_all((0..8).map(|_| app.post("/v1/payment/intent", &token, body.clone()))).await;
        let ids: BTreeSet<String> = answers.iter().map(|(status, answer)| {
            assert_eq!(*status, 200, "{answer}");
            answer["id"].as_str().unwrap().to_string()
        }).collect();
        assert_eq!(ids.len(), 1, "{answers:?}");
        let id = ids.into_iter().next().unwrap();
        let (_, list) = app.get("/v1/payments?external_account_id=acme", &token).await;
        assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
        let (_, record) = app.get(&format!("/v1/payment/{id}?external_account_id=acme"), &token).await;
        let creations = record["history"].as_array().unwrap().iter().filter(|h| h["action"] == "create").count();
        assert_eq!(creations, 1, "{record}");
        assert_eq!(record["status"], "requires_payment_method", "{record}");
    }

    async fn cancel_before_and_after_capture(app) {
        let token = app.merchant("acme", "usd").await;
        let reader = app.register_reader().await;
        let open = intent(&app, &token, "acme", "to-void", "8.00", None).await["id"].as_str().unwrap().to_string();
        let body = json!({"payment_id": open, "external_account_id": "acme"});
        let (status, canceled) = app.post("/v1/payment/cancel", &token, body.clone()).await;
        assert_eq!(status, 200, "{canceled}");
        assert_eq!(canceled["status"], "canceled");
        let (status, again) = app.post("/v1/payment/cancel", &token, body).await;
        assert_eq!((status, again["status"].as_str()), (200, Some("canceled")), "repeat: same result");
        let pi = app.sim_get(&format!("/v1/payment_intents/{open}")).await;
        assert_eq!(pi["status"], "canceled");

        let authorised = intent(&app, &token, "acme", "authorised-void", "9.00", None).await["id"].as_str().unwrap().to_string();
        app.tap_card(&reader, &authorised, VISA).await;
        let (status, voided) = app.post("/v1/payment/cancel", &token, json!({"payment_id": authorised, "external_account_id": "acme"})).await;
        assert_eq!((status, voided["status"].as_str()), (200, Some("canceled")), "{voided}");

        let paid = captured(&app, &token, &reader, "paid-no-void", "10.00", None, VISA).await;
        let (status, error) = app.post("/v1/payment/cancel", &token, json!({"payment_id": paid, "external_account_id": "acme"})).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("payment_already_captured")), "{error}");
        assert!(error["error"]["message"].as_str().unwrap().contains("refund"));

        let other = app.merchant("other", "usd").await;
        let (status, _) = app.post("/v1/payment/cancel", &other, json!({"payment_id": paid, "external_account_id": "other"})).await;
        assert_eq!(status, 404);
    }

    async fn refunds_partial_then_too_many(app) {
        let token = app.merchant("acme", "usd").await;
        let reader = app.register_reader().await;
        let id = captured(&app, &token, &reader, "refund-me", "12.99", None, VISA).await;
        let refund = |amount: &str| json!({"payment_id": id, "external_account_id": "acme", "amount": amount, "reason": "requested_by_customer"});
        let (status, first) = app.post("/v1/payment/refund", &token, refund("5.00")).await;
        assert_eq!(status, 200, "{first}");
        assert_eq!(first["amount_refunded"], "5.00");
        let (status, second) = app.post("/v1/payment/refund", &token, refund("7.00")).await;
        assert_eq!((status, second["amount_refunded"].as_str()), (200, Some("12.00")), "{second}");
        let (status, error) = app.post("/v1/payment/refund", &token, refund("1.00")).await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("amount")), "{error}");
        let (status, rest) = app.post("/v1/payment/refund", &token, json!({"payment_id": id, "external_account_id": "acme"})).await;
        assert_eq!((status, rest["amount_refunded"].as_str()), (200, Some("12.99")), "{rest}");
        let (status, error) = app.post("/v1/payment/refund", &token, json!({"payment_id": id, "external_account_id": "acme"})).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("payment_fully_refunded")), "{error}");
        let charge = app.sim_get(&format!("/v1/charges/{}", app.sim_get(&format!("/v1/payment_intents/{id}")).await["latest_charge"].as_str().unwrap())).await;
        assert_eq!(charge["amount_refunded"], 1299);

        let (status, error) = app.post("/v1/payment/refund", &token, json!({"payment_id": id, "external_account_id": "acme", "reason": "because"})).await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("reason")));
        let open = intent(&app, &token, "acme", "not-captured", "3.00", None).await["id"].as_str().unwrap().to_string();
        let (status, error) = app.post("/v1/payment/refund", &token, json!({"payment_id": open, "external_account_id": "acme"})).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("payment_not_refundable")));
        let other = app.merchant("other", "usd").await;
        let (status, _) = app.post("/v1/payment/refund", &other, json!({"payment_id": id, "external_account_id": "other"})).await;
        assert_eq!(status, 404);

        // A repeat with the same Idempotency-Key refunds once.
        let second_payment = captured(&app, &token, &reader, "refund-twice", "20.00", None, VISA).await;
        let mut answers = Vec::new();
        for _ in 0..2 {
            let response = app.exchange(app.client.post(app.url("/v1/payment/refund")).bearer_auth(&token)
                .header("Idempotency-Key", "refund-once-42")
                .json(&json!({"payment_id": second_payment, "external_account_id": "acme", "amount": "4.00"})))
                .await;
            assert_eq!(response.status, 200);
            answers.push(response.json()["amount_refunded"].clone());
        }
        assert_eq!(answers, vec![json!("4.00"), json!("4.00")]);

        // The history says who did what.
        let (_, record) = app.get(&format!("/v1/payment/{id}?external_account_id=acme"), &token).await;
        let refunds: Vec<&str> = record["history"].as_array().unwrap().iter()
            .filter(|h| h["action"] == "refund").map(|h| h["amount"].as_str().unwrap()).collect();
        assert_eq!(refunds, vec!["5.00", "7.00", "0.99"]);
        assert_eq!(record["amount_refunded"], "12.99");
    }

    async fn concurrent_refunds_never_exceed_the_capture(app) {
        let token = app.merchant("acme", "usd").await;
        let reader = app.register_reader().await;
        let id = captured(&app, &token, &reader, "refund-race", "10.00", None, VISA).await;
        // Held at Stripe, so every request passes our check before any refund exists.
        app.add_fault(json!({"path": "/v1/refunds", "latency_ms": 300, "times": 4})).await;
        let amounts = ["6.00", "7.00", "5.50", "8.00"];
        let answers = futures_util::future::join_all(amounts.iter().map(|amount| {
            app.post("/v1/payment/refund", &token, json!({"payment_id": id, "external_account_id": "acme", "amount": amount}))
        }))
        .await;
        let refunded: Vec<&str> = answers.iter().filter(|(s, _)| *s == 200).map(|(_, b)| b["amount_refunded"].as_str().unwrap()).collect();
        assert_eq!(refunded.len(), 1, "any two exceed 10.00: {answers:?}");
        for (status, body) in answers.iter().filter(|(s, _)| *s != 200) {
            assert_eq!((*status, body["error"]["param"].as_str()), (400, Some("amount")), "{body}");
        }
        let (_, record) = app.get(&format!("/v1/payment/{id}?external_account_id=acme"), &token).await;
        assert_eq!(record["amount_refunded"], refunded[0]);
        let charge = app.sim_get(&format!("/v1/charges/{}", app.sim_get(&format!("/v1/payment_intents/{id}")).await["latest_charge"].as_str().unwrap())).await;
        let minor: i64 = refunded[0].replace('.', "").parse().unwrap();
        assert_eq!(charge["amount_refunded"], minor);

        // Two full refunds at once: one refunds the rest, the other finds nothing left.
        app.add_fault(json!({"path": "/v1/refunds", "latency_ms": 300, "times": 2})).await;
        let rest = json!({"payment_id": id, "external_account_id": "acme"});
        let (a, b) = futures_util::join!(
            app.exchange(app.client.post(app.url("/v1/payment/refund")).bearer_auth(&token).header("Idempotency-Key", "rest-a").json(&rest)),
            app.exchange(app.client.post(app.url("/v1/payment/refund")).bearer_auth(&token).header("Idempotency-Key", "rest-b").json(&rest)),
        );
        let mut statuses = Vec::new();
        for response in [a, b] {
            let status = response.status;
            let body = response.json();
            if status != 200 {
                assert_eq!(body["error"]["code"], "payment_fully_refunded", "{body}");
            }
            statuses.push(status);
        }
        statuses.sort();
        assert_eq!(statuses, vec![200, 409]);
        let (_, record) = app.get(&format!("/v1/payment/{id}?external_account_id=acme"), &token).await;
        assert_eq!(record["amount_refunded"], "10.00");
    }

    async fn charge_a_saved_card(app) {
        let token = app.merchant("acme", "usd").await;
        let reader = app.register_reader().await;
        let card = saved_card(&app, &token, &reader, "erin", VISA).await;
        let card_id = card["id"].as_str().unwrap();

        let (status, paid) = app.post("/v1/payment/charge", &token, charge_body("erin", card_id, "later-1", "25.50")).await;
        assert_eq!(status, 200, "{paid}");
        assert_eq!(paid["status"], "succeeded");
        assert_eq!(paid["amount"], "25.50");
        assert_eq!(paid["capture_method"], "automatic");
        let pi = app.sim_get(&format!("/v1/payment_intents/{}", paid["id"].as_str().unwrap())).await;
        assert_eq!(pi["payment_method"], card["payment_method_id"]);
        assert_eq!(pi["amount_received"], 2550);
        // Repeat: the same payment, no second charge.
        let (status, again) = app.post("/v1/payment/charge", &token, charge_body("erin", card_id, "later-1", "25.50")).await;
        assert_eq!((status, &again["id"]), (200, &paid["id"]));
        // The same external_transaction_id for another charge: 409, and no second PaymentIntent.
        let calls = app.stripe_calls().await.len();
        let (status, conflict) = app.post("/v1/payment/charge", &token, charge_body("erin", card_id, "later-1", "25.51")).await;
        assert_eq!((status, conflict["error"]["code"].as_str()), (409, Some("idempotency_conflict")), "{conflict}");
        assert_eq!(app.stripe_calls().await.len(), calls);
        // By payment_method_id too.
        let (status, by_pm) = app.post("/v1/payment/charge", &token, json!({"external_account_id": "acme", "external_customer_id": "erin",
            "payment_method_id": card["payment_method_id"], "amount": "1.00", "external_transaction_id": "later-2"})).await;
        assert_eq!((status, by_pm["status"].as_str()), (200, Some("succeeded")), "{by_pm}");

        // A card that declines off-session: 402 with the decline code, recorded as failed.
        let risky = saved_card(&app, &token, &reader, "erin", DECLINES_LATER).await;
        let (status, declined) = app.post("/v1/payment/charge", &token, charge_body("erin", risky["id"].as_str().unwrap(), "later-3", "9.99")).await;
        assert_eq!(status, 402, "{declined}");
        assert_eq!(declined["error"]["type"], "card_error");
        assert!(declined["error"]["decline_code"].is_string(), "{declined}");
        let failed_id = declined["error"]["payment_id"].as_str().expect("the 402 names the payment").to_string();
        assert!(failed_id.starts_with("pi_"), "{declined}");
        // Reading it back (which refreshes from Stripe, where the intent awaits another card)
        // leaves it failed.
        let (status, record) = app.get(&format!("/v1/payment/{failed_id}?external_account_id=acme"), &token).await;
        assert_eq!((status, record["status"].as_str()), (200, Some("failed")), "{record}");
        assert_eq!(record["external_transaction_id"], "later-3");
        let pi = app.sim_get(&format!("/v1/payment_intents/{failed_id}")).await;
        assert_eq!(pi["status"], "requires_payment_method", "Stripe's view differs from ours");
        for _ in 0..2 {
            let (status, again) = app.post("/v1/payment/charge", &token, charge_body("erin", risky["id"].as_str().unwrap(), "later-3", "9.99")).await;
            assert_eq!((status, &again["error"]["decline_code"]), (402, &declined["error"]["decline_code"]), "a repeat gives the same answer: {again}");
            assert_eq!(again["error"]["payment_id"], failed_id.as_str());
            assert!(again.get("client_secret").is_none(), "{again}");
            let (_, record) = app.get(&format!("/v1/payment/{failed_id}?external_account_id=acme"), &token).await;
            assert_eq!(record["status"], "failed");
        }
        let (_, failed) = app.get("/v1/payments?external_account_id=acme&status=failed", &token).await;
        assert_eq!(failed["data"].as_array().unwrap().len(), 1, "{failed}");
        assert_eq!(failed["data"][0]["external_transaction_id"], "later-3");

        // Another customer's card, an unknown card, another account: 404.
        saved_card(&app, &token, &reader, "frank", MASTERCARD).await;
        let (status, _) = app.post("/v1/payment/charge", &token, charge_body("frank", card_id, "steal", "1.00")).await;
        assert_eq!(status, 404);
        let (status, _) = app.post("/v1/payment/charge", &token, charge_body("erin", "no-such-card", "ghost", "1.00")).await;
        assert_eq!(status, 404);
        let other = app.merchant("other", "usd").await;
        let mut foreign = charge_body("erin", card_id, "foreign", "1.00");
        foreign["external_account_id"] = json!("other");
        let (status, _) = app.post("/v1/payment/charge", &other, foreign).await;
        assert_eq!(status, 404);

        // Deleted: detached at Stripe, and cannot be charged any more.
        let (status, deleted) = app
            .send(Method::DELETE, &format!("/v1/customer/card/{card_id}?external_account_id=acme"), Some(&token), None)
            .await;
        assert_eq!((status, deleted["deleted"].as_bool()), (200, Some(true)), "{deleted}");
        let pm = app.sim_get(&format!("/v1/payment_methods/{}", card["payment_method_id"].as_str().unwrap())).await;
        assert_eq!(pm["customer"], Value::Null, "detached at Stripe");
        let (status, _) = app.post("/v1/payment/charge", &token, charge_body("erin", card_id, "after-delete", "1.00")).await;
        assert_eq!(status, 404);
        let (_, cards) = app.get("/v1/customer/cards?external_account_id=acme&external_customer_id=erin", &token).await;
        let ids: Vec<&str> = cards["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert!(!ids.contains(&card_id) && ids.len() == 1, "{cards}");
        let (status, _) = app
            .send(Method::DELETE, &format!("/v1/customer/card/{card_id}?external_account_id=other"), Some(&other), None)
            .await;
        assert_eq!(status, 404);
        let (_, none) = app.get("/v1/customer/cards?external_account_id=other&external_customer_id=erin", &other).await;
        assert_eq!(none["data"], json!([]));
    }

    async fn list_filters_and_pagination(app) {
        let token = app.merchant("acme", "usd").await;
        // 120 payments: amounts 1.00..=120.00; every third has a customer; some in EUR.
        for batch in 0..6 {
            let requests = (0..20).map(|i| {
                let n = batch * 20 + i + 1;
                let mut body = json!({"external_account_id": "acme", "amount": format!("{n}.00"), "external_transaction_id": format!("list-{n:03}")});
                if n % 3 == 0 {
                    body["external_customer_id"] = json!("grace");
                }
                if n % 10 == 0 {
                    body["currency"] = json!("eur");
                }
                app.post("/v1/payment/intent", &token, body)
            });
            for (status, body) in futures_util::future::join_all(requests).await {
                assert_eq!(status, 200, "{body}");
            }
        }
        // Page through 7 at a time while new payments keep arriving: no gaps, no repeats.
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut extra = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/payments?external_account_id=acme&limit=7&starting_after={c}"),
                None => "/v1/payments?external_account_id=acme&limit=7".to_string(),
            };
            let (status, page) = app.get(&path, &token).await;
            assert_eq!(status, 200, "{page}");
            for p in page["data"].as_array().unwrap() {
                seen.push(p["external_transaction_id"].as_str().unwrap().to_string());
            }
            if cursor.is_none() || extra < 5 {
                extra += 1;
                intent(&app, &token, "acme", &format!("arrived-{extra}"), "1.00", None).await;
            }
            if !page["has_more"].as_bool().unwrap() {
                break;
            }
            cursor = page["next_starting_after"].as_str().map(str::to_string);
        }
        let expected: Vec<String> = (1..=120).rev().map(|n| format!("list-{n:03}")).collect();
        let listed: Vec<String> = seen.iter().filter(|t| t.starts_with("list-")).cloned().collect();
        assert_eq!(listed.len(), 120);
        assert_eq!(listed.iter().collect::<BTreeSet<_>>().len(), 120, "no repeats");
        // Created concurrently in batches, so order within a batch is by creation; newest first overall.
        assert_eq!(listed.iter().collect::<BTreeSet<_>>(), expected.iter().collect::<BTreeSet<_>>());
        assert_eq!(seen.iter().filter(|t| t.starts_with("arrived-")).count(), 0, "later pages never shift to show newer payments");
        let (_, fresh) = app.get("/v1/payments?external_account_id=acme&limit=1", &token).await;
        assert_eq!(fresh["data"][0]["external_transaction_id"], format!("arrived-{extra}"), "a fresh first page shows them");

        let count = |path: String| {
            let app = &app;
            let token = token.clone();
            async move {
                let (status, page) = app.get(&path, &token).await;
                assert_eq!(status, 200, "{page}");
                page["data"].as_array().unwrap().len()
            }
        };
        assert_eq!(count("/v1/payments?external_account_id=acme&external_customer_id=grace&limit=100".into()).await, 40);
        assert_eq!(count("/v1/payments?external_account_id=acme&currency=eur&limit=100".into()).await, 12);
        // Amount bounds apply in the account's currency (USD) when none is named: 101..=109.
        assert_eq!(count("/v1/payments?external_account_id=acme&min_amount=100&max_amount=110.00&limit=100".into()).await, 9);
        assert_eq!(count("/v1/payments?external_account_id=acme&currency=eur&min_amount=100&limit=100".into()).await, 3);
        assert_eq!(count("/v1/payments?external_account_id=acme&status=requires_payment_method&limit=100".into()).await, 100);
        let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        assert_eq!(count(format!("/v1/payments?external_account_id=acme&since={future}")).await, 0);
        assert_eq!(count(format!("/v1/payments?external_account_id=acme&until={future}&limit=5")).await, 5);
        for (query, param) in [("limit=0", "limit"), ("limit=101", "limit"), ("since=yesterday", "since"), ("min_amount=abc", "min_amount"),
                               ("status=paid", "status"), ("currency=zzz", "currency"), ("starting_after=pi_nope", "starting_after"), ("colour=red", "colour")] {
            let (status, error) = app.get(&format!("/v1/payments?external_account_id=acme&{query}"), &token).await;
            assert_eq!((status, error["error"]["param"].as_str()), (400, Some(param)), "{query}: {error}");
        }
        let other = app.merchant("other", "usd").await;
        let (status, page) = app.get("/v1/payments?external_account_id=other", &other).await;
        assert_eq!((status, page["data"].as_array().unwrap().len()), (200, 0));
        let (status, _) = app.get("/v1/payments?external_account_id=acme", &other).await;
        assert_eq!(status, 403);
    }

    async fn a_deleted_card_is_announced_and_cannot_be_saved_again(app) {
        let token = app.merchant("acme", "usd").await;
        let hook = crate::support::app::MerchantEndpoint::start(0);
        let (status, account) = app.put_account("acme", json!({"webhook_url": hook.url})).await;
        assert_eq!(status, 200, "{account}");
        // Without Stripe's payment_method.detached, only the DELETE itself can announce it.
        app.add_fault(json!({"path": "payment_method.*", "drop_webhooks": true})).await;
        let reader = app.register_reader().await;
        let paid = captured(&app, &token, &reader, "keep-card", "5.00", Some("erin"), VISA).await;
        let save = json!({"payment_id": paid, "external_customer_id": "erin", "external_account_id": "acme"});
        let (status, card) = app.post("/v1/customer/card", &token, save.clone()).await;
        assert_eq!(status, 200, "{card}");
        let card_id = card["id"].as_str().unwrap();
        let delete = format!("/v1/customer/card/{card_id}?external_account_id=acme");
        for _ in 0..2 {
            let (status, deleted) = app.send(Method::DELETE, &delete, Some(&token), None).await;
            assert_eq!((status, deleted["deleted"].as_bool()), (200, Some(true)), "{deleted}");
        }
        let (status, deliveries) = app.get("/v1/webhooks/deliveries?external_account_id=acme", &token).await;
        assert_eq!(status, 200, "{deliveries}");
        let announced: Vec<&Value> = deliveries["data"].as_array().unwrap().iter()
            .filter(|d| d["event_type"] == "card.deleted").collect();
        assert_eq!(announced.len(), 1, "once: {deliveries}");
        let object = &announced[0]["payload"]["data"]["object"];
        assert_eq!((&object["id"], &object["deleted"]), (&card["id"], &json!(true)), "{object}");

        // Saving it again from the same payment: its PaymentMethod was detached at Stripe.
        let calls = app.stripe_calls().await.len();
        let (status, error) = app.post("/v1/customer/card", &token, save).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("card_deleted")), "{error}");
        assert_eq!(app.stripe_calls().await.len(), calls, "answered without Stripe");
        let (_, cards) = app.get("/v1/customer/cards?external_account_id=acme&external_customer_id=erin", &token).await;
        assert_eq!(cards["data"], json!([]));

        // The same physical card in a new payment is a new PaymentMethod: saved again.
        let again = saved_card(&app, &token, &reader, "erin", VISA).await;
        assert_ne!(again["id"], card["id"]);
        assert_ne!(again["payment_method_id"], card["payment_method_id"]);
        let (_, cards) = app.get("/v1/customer/cards?external_account_id=acme&external_customer_id=erin", &token).await;
        assert_eq!(cards["data"].as_array().unwrap().len(), 1, "{cards}");
    }

    async fn a_refresh_is_attributed_to_stripe(app) {
        let token = app.merchant("acme", "usd").await;
        let reader = app.register_reader().await;
        // Without Stripe's webhooks, only the read-back learns that the card was presented.
        app.add_fault(json!({"path": "payment_intent.*", "drop_webhooks": true})).await;
        let id = intent(&app, &token, "acme", "tapped", "4.00", None).await["id"].as_str().unwrap().to_string();
        let (status, tapped) = app.tap_card(&reader, &id, VISA).await;
        assert_eq!(status, 200, "{tapped}");
        let (_, record) = app.get(&format!("/v1/payment/{id}?external_account_id=acme"), &token).await;
        assert_eq!(record["status"], "requires_capture", "{record}");
        let history: Vec<(&str, &str, &str)> = record["history"].as_array().unwrap().iter()
            .map(|h| (h["action"].as_str().unwrap(), h["status"].as_str().unwrap(), h["actor"].as_str().unwrap())).collect();
        assert_eq!(history, vec![
            ("create", "creating", "test-suite"),
            ("sync", "requires_payment_method", "test-suite"),
            ("sync", "requires_capture", "stripe"),
        ], "{record}");
    }

    async fn terminal_tokens_locations_readers(app) {
        let token = app.merchant("acme", "usd").await;
        let body = json!({"external_account_id": "acme"});
        let (s1, first) = app.post("/v1/terminal/connection_token", &token, body.clone()).await;
        let (s2, second) = app.post("/v1/terminal/connection_token", &token, body).await;
        assert_eq!((s1, s2), (200, 200));
        assert!(first["secret"].as_str().unwrap().starts_with("pst_"));
        assert_ne!(first["secret"], second["secret"], "a fresh token every call");

        let (status, location) = app.post("/v1/terminal/locations", &token, json!({"external_account_id": "acme", "display_name": "Main St",
            "address": {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "state": "IL", "country": "us"}})).await;
        assert_eq!(status, 200, "{location}");
        let location_id = location["id"].as_str().unwrap();
        let (_, locations) = app.get("/v1/terminal/locations?external_account_id=acme", &token).await;
        assert_eq!(locations["data"][0]["id"], location_id);
        let (status, scoped) = app.post("/v1/terminal/connection_token", &token, json!({"external_account_id": "acme", "location": location_id})).await;
        assert_eq!((status, scoped["location"].as_str()), (200, Some(location_id)));

        let (status, reader) = app.post("/v1/terminal/readers", &token, json!({"external_account_id": "acme",
            "registration_code": "simulated-wpe", "label": "Front till", "location": location_id})).await;
        assert_eq!(status, 200, "{reader}");
        let reader_id = reader["id"].as_str().unwrap().to_string();
        assert_eq!(reader["label"], "Front till");
        let (_, readers) = app.get("/v1/terminal/readers?external_account_id=acme", &token).await;
        assert_eq!(readers["data"].as_array().unwrap().len(), 1);
        assert_eq!(readers["data"][0]["id"], reader_id.as_str());

        // Server-driven: hand the intent to the reader, tap a card, see the action succeed.
        let pi = intent(&app, &token, "acme", "smart", "15.00", None).await["id"].as_str().unwrap().to_string();
        let (status, processing) = app.post(&format!("/v1/terminal/readers/{reader_id}/process"), &token,
            json!({"external_account_id": "acme", "payment_id": pi, "allow_redisplay": "always"})).await;
        assert_eq!(status, 200, "{processing}");
        assert_eq!(processing["action"]["status"], "in_progress");
        assert_eq!(processing["action"]["payment_id"], pi.as_str());
        let (status, _) = app.sim_post(&format!("/v1/test_helpers/terminal/readers/{reader_id}/present_payment_method"),
            &[("card_present[number]", VISA)]).await;
        assert_eq!(status, 200);
        let (_, done) = app.get(&format!("/v1/terminal/readers/{reader_id}?external_account_id=acme"), &token).await;
        assert_eq!(done["action"]["status"], "succeeded", "{done}");
        let (_, record) = app.get(&format!("/v1/payment/{pi}?external_account_id=acme"), &token).await;
        assert_eq!(record["status"], "requires_capture");

        // Cancel the reader's action before a card is presented.
        let pi2 = intent(&app, &token, "acme", "smart-2", "16.00", None).await["id"].as_str().unwrap().to_string();
        app.post(&format!("/v1/terminal/readers/{reader_id}/process"), &token, json!({"external_account_id": "acme", "payment_id": pi2})).await;
        let (status, canceled) = app.post(&format!("/v1/terminal/readers/{reader_id}/cancel"), &token, json!({"external_account_id": "acme"})).await;
        assert_eq!(status, 200, "{canceled}");
        assert_eq!(canceled["action"], Value::Null, "{canceled}");

        // State conflicts are 409s: nothing to cancel; a payment past collecting (from our record,
        // before any Stripe call); a reader busy with another payment; a payment Stripe says was
        // collected meanwhile.
        let (status, error) = app.post(&format!("/v1/terminal/readers/{reader_id}/cancel"), &token, json!({"external_account_id": "acme"})).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("reader_action_not_found")), "{error}");
        let calls = app.stripe_calls().await.len();
        let process = |payment: &str| json!({"external_account_id": "acme", "payment_id": payment});
        let (status, error) = app.post(&format!("/v1/terminal/readers/{reader_id}/process"), &token, process(&pi)).await;
        assert_eq!((status, error["error"]["code"].as_str(), error["error"]["payment_status"].as_str()),
            (409, Some("payment_not_processable"), Some("requires_capture")), "{error}");
        assert_eq!(app.stripe_calls().await.len(), calls, "decided from our record");
        let pi3 = intent(&app, &token, "acme", "smart-3", "17.00", None).await["id"].as_str().unwrap().to_string();
        let pi4 = intent(&app, &token, "acme", "smart-4", "18.00", None).await["id"].as_str().unwrap().to_string();
        let (status, body) = app.post(&format!("/v1/terminal/readers/{reader_id}/process"), &token, process(&pi3)).await;
        assert_eq!(status, 200, "{body}");
        let (status, error) = app.post(&format!("/v1/terminal/readers/{reader_id}/process"), &token, process(&pi4)).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("reader_busy")), "{error}");
        // pi3 is collected at another reader, unknown to our record (its webhooks are lost).
        app.add_fault(json!({"path": "payment_intent.*", "drop_webhooks": true})).await;
        app.post(&format!("/v1/terminal/readers/{reader_id}/cancel"), &token, json!({"external_account_id": "acme"})).await;
        let elsewhere = app.register_reader().await;
        let (status, tapped) = app.tap_card(&elsewhere, &pi3, VISA).await;
        assert_eq!(status, 200, "{tapped}");
        let (status, error) = app.post(&format!("/v1/terminal/readers/{reader_id}/process"), &token, process(&pi3)).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("payment_not_processable")), "{error}");

        // Another account sees none of it.
        let other = app.merchant("other", "usd").await;
        let (status, _) = app.get(&format!("/v1/terminal/readers/{reader_id}?external_account_id=other"), &other).await;
        assert_eq!(status, 404);
        let (status, _) = app.post(&format!("/v1/terminal/readers/{reader_id}/process"), &other, json!({"external_account_id": "other", "payment_id": pi2})).await;
        assert_eq!(status, 404);
        let (status, _) = app.post(&format!("/v1/terminal/readers/{reader_id}/cancel"), &other, json!({"external_account_id": "other"})).await;
        assert_eq!(status, 404);
        let (_, theirs) = app.get("/v1/terminal/readers?external_account_id=other", &other).await;
        assert_eq!(theirs["data"], json!([]));
        let (status, _) = app.post("/v1/terminal/connection_token", &other, json!({"external_account_id": "other", "location": location_id})).await;
        assert_eq!(status, 404);
        let (status, _) = app.post("/v1/terminal/connection_token", &other, json!({"external_account_id": "acme"})).await;
        assert_eq!(status, 403);
        let (status, error) = app.post("/v1/terminal/readers", &token, json!({"external_account_id": "acme", "registration_code": ""})).await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("registration_code")));
    }
}
